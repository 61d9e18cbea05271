//! The command line: `leadgate [--config PATH] <command>`.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::settings::{self, ConfigError, Role, Settings};
use crate::startup::Application;
use crate::users::{self, Login, NewUser, Password};
use leadgate_store::Store;

#[derive(Debug, Parser)]
#[command(
    name = "leadgate",
    version,
    about = "Omnichannel lead intake for sales departments"
)]
pub struct Cli {
    /// Configuration file; else $LEADGATE_CONFIG, ./config/leadgate.toml, /etc/leadgate/leadgate.toml.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon.
    Run,
    /// Apply database migrations and exit.
    Migrate,
    /// Check the configuration and list every problem.
    CheckConfig,
    /// Import data.
    Import {
        #[command(subcommand)]
        what: ImportCommand,
    },
    /// Write a configuration for a real server: random API token and webhook
    /// secret (files with mode 0600 beside it), the managers, the database;
    /// then set the first admin's password.
    Init {
        /// Where leadgate.toml and its secret files go.
        #[arg(long, default_value = "/etc/leadgate")]
        dir: PathBuf,
        /// A manager as login:Name:email (repeat for each).
        #[arg(long = "manager", value_name = "LOGIN:NAME:EMAIL", value_parser = crate::init::parse_manager)]
        managers: Vec<crate::init::ManagerArg>,
        /// Database URL (default: SQLite under /var/lib/leadgate, or in DIR).
        #[arg(long, value_name = "URL")]
        database: Option<String>,
        /// The first admin's login.
        #[arg(long, default_value = "admin")]
        admin: String,
        /// Read the admin's password from this file (else asked on a terminal,
        /// else made up and written to DIR/admin.password).
        #[arg(long, value_name = "FILE")]
        admin_password_file: Option<PathBuf>,
        /// Replace an existing DIR/leadgate.toml and its secrets.
        #[arg(long)]
        force: bool,
    },
    /// Export data.
    Export {
        #[command(subcommand)]
        what: ExportCommand,
    },
    /// Manage people who log in to the pages and personal API tokens.
    User {
        #[command(subcommand)]
        what: UserCommand,
    },
    /// Telegram bots.
    Telegram {
        #[command(subcommand)]
        what: TelegramCommand,
    },
    /// Outbound webhooks: their delivery state, a test delivery, a replay.
    Webhooks {
        #[command(subcommand)]
        what: WebhooksCommand,
    },
    /// Print the version.
    Version,
}

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Every endpoint with its position, lag, retries and failed deliveries.
    List,
    /// Send one signed delivery now and show the answer.
    Test { name: String },
    /// Deliver everything from event id `--from` on again (and re-enable after a 410).
    Replay {
        name: String,
        #[arg(long)]
        from: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user with a password (asked for on a terminal, without echo).
    Add {
        login: String,
        /// operator | manager | head | admin
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Display name (default: the login).
        #[arg(long)]
        name: Option<String>,
        /// Department id from [[departments]].
        #[arg(long)]
        department: Option<String>,
        /// Read the password from this file (first line) instead of asking.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Set a new password (also for managers from the configuration); ends the user's sessions.
    Passwd {
        login: String,
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// List users with their roles.
    List,
    /// Stop a user from logging in; ends their sessions and tokens.
    Disable { login: String },
    /// Allow a disabled user again.
    Enable { login: String },
    /// Issue a personal API token (printed once) acting with the user's role.
    Token {
        login: String,
        /// A label to tell tokens apart.
        #[arg(long, default_value = "cli")]
        name: String,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("`{s}` is not one of operator, manager, head, admin"))
}

/// The password from `--password-file`, else asked twice on a terminal without
/// echo, else the first line of standard input (for scripts).
fn read_password(file: Option<&std::path::Path>) -> anyhow::Result<Password> {
    let raw = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            text.lines().next().unwrap_or("").to_string()
        }
        None if std::io::stdin().is_terminal() => {
            let first = rpassword::prompt_password("Password: ").context("reading the password")?;
            let again =
                rpassword::prompt_password("Repeat password: ").context("reading the password")?;
            if first != again {
                anyhow::bail!("the passwords differ");
            }
            first
        }
        None => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("reading the password from standard input")?;
            line.trim_end_matches(['\n', '\r']).to_string()
        }
    };
    Ok(Password::parse(&raw)?)
}

async fn user_command(settings: &Settings, what: &UserCommand) -> anyhow::Result<()> {
    let store = Store::connect(&settings.database)
        .await
        .context("opening the database")?;
    store.migrate().await.context("applying migrations")?;
    crate::users::sync_from_config(&store, &settings.departments, &settings.managers)
        .await
        .context("syncing managers from the configuration")?;
    let result = match what {
        UserCommand::Add {
            login,
            role,
            name,
            department,
            password_file,
        } => {
            let login = Login::parse(login)?;
            let password = read_password(password_file.as_deref())?;
            let user = users::add_user(
                &store,
                NewUser {
                    login,
                    display_name: name.clone(),
                    role: *role,
                    department: department.clone(),
                    password,
                },
            )
            .await?;
            println!("user {} ({}) created", user.login, user.role.as_str());
            Ok(())
        }
        UserCommand::Passwd {
            login,
            password_file,
        } => {
            let login = Login::parse(login)?;
            let password = read_password(password_file.as_deref())?;
            users::set_password(&store, &login, &password).await?;
            println!("password of {} changed", login.as_str());
            Ok(())
        }
        UserCommand::List => {
            for u in store.list_users().await? {
                println!(
                    "{:<24} {:<9} {:<12} {}{}{}  {}",
                    u.login,
                    u.role.as_str(),
                    u.department.as_deref().unwrap_or("-"),
                    if u.active { "active" } else { "disabled" },
                    if u.has_password { "" } else { ", no password" },
                    if u.from_config { ", from config" } else { "" },
                    u.display_name
                );
            }
            Ok(())
        }
        UserCommand::Disable { login } | UserCommand::Enable { login } => {
            let active = matches!(what, UserCommand::Enable { .. });
            let login = Login::parse(login)?;
            users::set_active(&store, &login, active).await?;
            println!(
                "{} {}",
                login.as_str(),
                if active { "enabled" } else { "disabled" }
            );
            Ok(())
        }
        UserCommand::Token { login, name } => {
            let login = Login::parse(login)?;
            let token = users::issue_token(&store, &login, name).await?;
            println!("{token}");
            Ok(())
        }
    };
    store.close().await;
    result
}

#[derive(Debug, Subcommand)]
pub enum TelegramCommand {
    /// Register URL (https://.../hooks/telegram/BOT) as the bot's webhook, with its secret_token.
    SetWebhook { bot: String, url: String },
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import clients from CSV or .xlsx (docs/import.md): every usable row
    /// imports; bad values are dropped alone and reported.
    Clients {
        file: PathBuf,
        /// Read and check everything, report what an import would do, write nothing.
        #[arg(long)]
        check: bool,
        /// Write every refused row, dropped point and unassigned client here (CSV).
        #[arg(long, value_name = "FILE.csv")]
        report: Option<PathBuf>,
        /// Add responsibles that are not configured managers to the database as managers.
        #[arg(long)]
        create_managers: bool,
        /// The file's encoding when it is neither UTF-8 nor windows-1251 (found by itself).
        #[arg(long, value_name = "NAME")]
        encoding: Option<String>,
        /// COLUMN=FIELD for a column the import does not recognise (FIELD `-` ignores it).
        #[arg(long, value_name = "COLUMN=FIELD", value_parser = parse_map_arg)]
        map: Vec<(String, crate::import::Field)>,
    },
}

fn parse_map_arg(s: &str) -> Result<(String, crate::import::Field), String> {
    crate::import::parse_map(s).map_err(|e| e.to_string())
}

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Write every client in the import format (one row per contact person).
    Clients { file: PathBuf },
}

fn load(cli: &Cli) -> anyhow::Result<Settings> {
    let path = settings::locate(cli.config.as_deref())?;
    settings::load(&path).with_context(|| format!("configuration {}", path.display()))
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Version => {
            println!("leadgate {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::CheckConfig => {
            let path = settings::locate(cli.config.as_deref())?;
            match settings::load(&path) {
                Ok(s) => {
                    println!(
                        "{}: ok ({} managers, {} forms, {} scenarios, database {})",
                        path.display(),
                        s.managers.len(),
                        s.forms.len(),
                        s.scenarios.scenarios.len(),
                        if s.database.url.starts_with("sqlite") {
                            "SQLite"
                        } else {
                            "PostgreSQL"
                        }
                    );
                    Ok(())
                }
                Err(ConfigError::Invalid(problems)) => {
                    eprintln!("{}: {} problem(s)", path.display(), problems.len());
                    for p in &problems {
                        eprintln!("  {p}");
                    }
                    std::process::exit(2);
                }
                Err(other) => Err(other.into()),
            }
        }
        Command::User { what } => {
            let settings = load(&cli)?;
            crate::telemetry::init(&settings.logging);
            user_command(&settings, what).await
        }
        Command::Migrate => {
            let settings = load(&cli)?;
            crate::telemetry::init(&settings.logging);
            let store = Store::connect(&settings.database)
                .await
                .context("opening the database")?;
            store.migrate().await.context("applying migrations")?;
            println!("migrations applied");
            Ok(())
        }
        Command::Import {
            what:
                ImportCommand::Clients {
                    file,
                    check,
                    report,
                    create_managers,
                    encoding,
                    map,
                },
        } => {
            let settings = load(&cli)?;
            crate::telemetry::init(&settings.logging);
            let store = Store::connect(&settings.database)
                .await
                .context("opening the database")?;
            if !check {
                store.migrate().await.context("applying migrations")?;
            }
            let options = crate::import::ImportOptions {
                check: *check,
                create_managers: *create_managers,
                encoding: encoding.clone(),
                map: map.clone(),
            };
            let result = import_command(&store, &settings, file, report.as_deref(), &options).await;
            store.close().await;
            result
        }
        Command::Init {
            dir,
            managers,
            database,
            admin,
            admin_password_file,
            force,
        } => {
            crate::init::init(&crate::init::InitOptions {
                dir: dir.clone(),
                managers: managers.clone(),
                database: database.clone(),
                admin: admin.clone(),
                admin_password_file: admin_password_file.clone(),
                force: *force,
            })
            .await
        }
        Command::Export {
            what: ExportCommand::Clients { file },
        } => {
            let settings = load(&cli)?;
            crate::telemetry::init(&settings.logging);
            let store = Store::connect(&settings.database)
                .await
                .context("opening the database")?;
            store.migrate().await.context("applying migrations")?;
            let out = std::fs::File::create(file)
                .with_context(|| format!("creating {}", file.display()))?;
            let counts =
                crate::import::export::export_clients(&store, std::io::BufWriter::new(out))
                    .await
                    .with_context(|| format!("exporting to {}", file.display()))?;
            println!(
                "exported {} clients ({} rows) to {}",
                counts.clients,
                counts.rows,
                file.display()
            );
            store.close().await;
            Ok(())
        }
        Command::Telegram {
            what: TelegramCommand::SetWebhook { bot, url },
        } => {
            let settings = load(&cli)?;
            let cfg = settings
                .telegram
                .bots
                .get(bot)
                .with_context(|| format!("no [telegram.bots.{bot}] in the configuration"))?;
            if !url.starts_with("https://") {
                eprintln!("warning: Telegram only posts to https:// URLs");
            }
            crate::sources::telegram::api::set_webhook(cfg, url)
                .await
                .map_err(|e| anyhow::anyhow!("setWebhook failed: {e}"))?;
            println!("webhook of bot {bot} set to {url}");
            Ok(())
        }
        Command::Webhooks { what } => {
            let settings = load(&cli)?;
            crate::telemetry::init(&settings.logging);
            let store = Store::connect(&settings.database)
                .await
                .context("opening the database")?;
            store.migrate().await.context("applying migrations")?;
            let result = match what {
                WebhooksCommand::List => crate::webhooks::list(&settings, &store).await,
                WebhooksCommand::Test { name } => {
                    crate::webhooks::test(&settings, &store, name).await
                }
                WebhooksCommand::Replay { name, from } => {
                    crate::webhooks::replay(&settings, &store, name, *from).await
                }
            };
            store.close().await;
            result
        }
        Command::Run => {
            let settings = load(&cli)?;
            crate::telemetry::init(&settings.logging);
            if settings.server.demo {
                tracing::warn!(
                    "DEMO MODE ([server] demo = true): the shipped demo token and change-me secrets \
                     are accepted and known to anyone who read the repository; do not expose this \
                     server. `leadgate init` writes a configuration with random secrets"
                );
                eprintln!(
                    "WARNING: leadgate runs in DEMO MODE: its API token and webhook secrets are public. \
                     Do not expose it; run `leadgate init` for a real configuration."
                );
            }
            let app = Application::build(settings)
                .await
                .context("starting leadgate")?;
            let shutdown = crate::service::shutdown_on_signals();
            crate::service::notify_ready();
            crate::service::spawn_watchdog(shutdown.clone(), app.health());
            app.run_until_stopped(shutdown).await.context("serving")?;
            tracing::info!("leadgate stopped");
            Ok(())
        }
    }
}

async fn import_command(
    store: &Store,
    settings: &Settings,
    file: &std::path::Path,
    report_file: Option<&std::path::Path>,
    options: &crate::import::ImportOptions,
) -> anyhow::Result<()> {
    use crate::import::report::describe;
    let handle =
        std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let progress = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let started = std::time::Instant::now();
    let report = crate::import::import_clients(
        store,
        settings,
        std::io::BufReader::with_capacity(1 << 20, handle),
        options,
        progress.as_ref(),
    )
    .await
    .with_context(|| format!("importing {}", file.display()))?;
    if let Some(path) = report_file {
        let out = std::fs::File::create(path)
            .with_context(|| format!("creating the report {}", path.display()))?;
        crate::import::write_report(std::io::BufWriter::new(out), &report.issues)
            .with_context(|| format!("writing the report {}", path.display()))?;
    }
    let verb = if options.check {
        "check only, nothing written: would import"
    } else {
        "imported"
    };
    println!(
        "{verb} {} clients ({} new, {} updated; {} persons, {} contact points) from {} rows of {} in {:.1}s",
        report.clients,
        report.created,
        report.updated,
        report.persons,
        report.points,
        report.rows,
        report.format,
        started.elapsed().as_secs_f64(),
    );
    let refused = report.refused();
    println!(
        "skipped {} rows{}",
        report.refused_rows(),
        if refused.is_empty() {
            String::new()
        } else {
            format!(": {}", describe(&refused))
        }
    );
    let dropped = report.dropped();
    println!(
        "dropped {} contact points (kept as typed on the person){}",
        dropped.values().sum::<u64>(),
        if dropped.is_empty() {
            String::new()
        } else {
            format!(": {}", describe(&dropped))
        }
    );
    let ignored = report.ignored();
    if !ignored.is_empty() {
        println!(
            "ignored {} values: {}",
            ignored.values().sum::<u64>(),
            describe(&ignored)
        );
    }
    if !report.unknown_managers.is_empty() {
        let list: Vec<String> = report
            .unknown_managers
            .iter()
            .map(|(login, rows)| format!("{login} ({rows} rows)"))
            .collect();
        println!(
            "unassigned (responsible is no manager, the clients take the round robin): {}; \
             declare them in [[managers]] or re-run with --create-managers",
            list.join(", ")
        );
    }
    if !report.created_managers.is_empty() {
        println!(
            "{} managers: {}",
            if options.check { "would add" } else { "added" },
            report.created_managers.join(", ")
        );
    }
    if !report.unused_columns.is_empty() {
        println!(
            "columns not imported: {} (use --map COLUMN=FIELD)",
            report.unused_columns.join(", ")
        );
    }
    for issue in report.issues.iter().take(20) {
        eprintln!(
            "line {}: {} {}{}{}",
            issue.line,
            issue.action.as_str(),
            issue.reason.code(),
            if issue.column.is_empty() {
                String::new()
            } else {
                format!(" [{}]", issue.column)
            },
            if issue.value.is_empty() {
                String::new()
            } else {
                format!(" `{}`", issue.value)
            },
        );
    }
    if report.issues.len() > 20 {
        eprintln!(
            "... and {} more{}",
            report.issues.len() - 20,
            if report_file.is_some() {
                " in the report"
            } else {
                " (--report FILE.csv lists all)"
            }
        );
    }
    Ok(())
}
