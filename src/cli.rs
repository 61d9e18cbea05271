//! The command line: `leadgate [--config PATH] <command>`.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::settings::{self, ConfigError, Settings};
use crate::startup::Application;
use crate::storage::Store;

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
    /// Telegram bots.
    Telegram {
        #[command(subcommand)]
        what: TelegramCommand,
    },
    /// Print the version.
    Version,
}

#[derive(Debug, Subcommand)]
pub enum TelegramCommand {
    /// Register URL (https://.../hooks/telegram/BOT) as the bot's webhook, with its secret_token.
    SetWebhook { bot: String, url: String },
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import clients from a CSV file (see README for the columns).
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
            what: ImportCommand::Clients { file },
        } => {
            let settings = load(&cli)?;
            crate::telemetry::init(&settings.logging);
            let store = Store::connect(&settings.database)
                .await
                .context("opening the database")?;
            store.migrate().await.context("applying migrations")?;
            let handle =
                std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
            let size = handle.metadata().map(|m| m.len()).unwrap_or(0);
            let progress = std::io::stderr().is_terminal().then(|| {
                let bar = indicatif::ProgressBar::new(size);
                bar.set_style(
                    indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {eta}")
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                bar
            });
            let started = std::time::Instant::now();
            let report = crate::import::import_clients(
                &store,
                &settings,
                std::io::BufReader::with_capacity(1 << 20, handle),
                progress.as_ref(),
            )
            .await?;
            for bad in &report.bad_rows {
                eprintln!("line {}: {}", bad.line, bad.reason);
            }
            println!(
                "imported {} clients from {} rows in {:.1}s; {} bad rows skipped",
                report.clients,
                report.rows,
                started.elapsed().as_secs_f64(),
                report.bad_rows.len()
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
        Command::Run => {
            let settings = load(&cli)?;
            crate::telemetry::init(&settings.logging);
            let app = Application::build(settings)
                .await
                .context("starting leadgate")?;
            let shutdown = crate::service::shutdown_on_signals();
            crate::service::notify_ready();
            crate::service::spawn_watchdog(shutdown.clone());
            app.run_until_stopped(shutdown).await.context("serving")?;
            tracing::info!("leadgate stopped");
            Ok(())
        }
    }
}
