//! `leadgate init --dir DIR`: a configuration for a real server. Random API
//! token and webhook secret in files beside it (mode 0600), the managers and
//! the database given, no demo value; then the first admin's password.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::settings::{self, Role};
use crate::users::{self, Login, NewUser, Password, UserError};
use leadgate_store::Store;

/// `--manager login:Name:email` (the e-mail may be left out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagerArg {
    pub login: String,
    pub name: String,
    pub email: Option<String>,
}

pub fn parse_manager(s: &str) -> Result<ManagerArg, String> {
    let mut parts = s.splitn(3, ':');
    let login = parts.next().unwrap_or("").trim();
    let name = parts.next().unwrap_or("").trim();
    let email = parts
        .next()
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_string);
    Login::parse(login).map_err(|e| format!("`{s}`: {e}"))?;
    if name.is_empty() {
        return Err(format!("`{s}`: expected login:Name[:email]"));
    }
    if email.as_deref().is_some_and(|e| !e.contains('@')) {
        return Err(format!("`{s}`: the e-mail has no @"));
    }
    Ok(ManagerArg {
        login: login.to_string(),
        name: name.to_string(),
        email,
    })
}

#[derive(Debug, Clone)]
pub struct InitOptions {
    pub dir: PathBuf,
    pub managers: Vec<ManagerArg>,
    pub database: Option<String>,
    pub admin: String,
    pub admin_password_file: Option<PathBuf>,
    pub force: bool,
}

/// A TOML basic string (JSON's escapes are TOML's).
fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// Writes `content` readable by its owner only, whatever the umask.
fn write_secret(path: &Path, content: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    writeln!(f, "{content}")?;
    Ok(())
}

fn default_database(dir: &Path) -> String {
    if dir == Path::new("/etc/leadgate") {
        "sqlite:///var/lib/leadgate/leadgate.db".into()
    } else {
        format!("sqlite://{}", dir.join("leadgate.db").display())
    }
}

/// The configuration text; secrets are paths, never values.
pub fn config_text(
    dir: &Path,
    database: &str,
    managers: &[ManagerArg],
    token_file: &Path,
    form_secret_file: &Path,
) -> String {
    let mut t = String::new();
    t.push_str(
        "# leadgate configuration written by `leadgate init`. The secrets are in the files\n\
         # named below (mode 0600), not in this file. Every key is described in the\n\
         # annotated example (config/leadgate.toml in the source,\n\
         # /usr/share/doc/leadgate/leadgate.toml.example in the package);\n\
         # `leadgate check-config` lists every problem.\n\n",
    );
    t.push_str("[server]\nlisten = \"127.0.0.1:8080\"\n\n");
    t.push_str(&format!("[database]\nurl = {}\n\n", quoted(database)));
    t.push_str(&format!(
        "[api]\n# Bearer token for /api (the file's first line). Add one per caller, each with its role.\n\
         tokens = [\n    {{ name = \"admin\", token_file = {}, role = \"admin\" }},\n]\n\n",
        quoted(&token_file.display().to_string())
    ));
    let logins: Vec<String> = managers.iter().map(|m| quoted(&m.login)).collect();
    t.push_str(&format!(
        "[routing]\n# New clients without a responsible manager go to these in turn.\nround_robin = [{}]\n\n",
        logins.join(", ")
    ));
    if !managers.is_empty() {
        t.push_str("[[departments]]\nid = \"sales\"\nname = \"Отдел продаж\"\n\n");
    }
    for m in managers {
        t.push_str(&format!(
            "[[managers]]\nlogin = {}\nname = {}\n",
            quoted(&m.login),
            quoted(&m.name)
        ));
        if let Some(e) = &m.email {
            t.push_str(&format!("email = {}\n", quoted(e)));
        }
        t.push_str("department = \"sales\"\n\n");
    }
    t.push_str(&format!(
        "# The site's form: POST /hooks/forms/site with this secret in the header\n\
         # X-Leadgate-Form-Secret (or the field form_secret).\n\
         [forms.site]\nsource = \"site\"\nhoneypot = \"website\"\nsecret_file = {}\n",
        quoted(&form_secret_file.display().to_string())
    ));
    let _ = dir;
    t
}

/// The admin's password: from the file, asked on a terminal, or made up
/// and written beside the configuration (a package's postinst has no one
/// to ask).
fn admin_password(options: &InitOptions) -> anyhow::Result<(Password, Option<PathBuf>)> {
    if let Some(path) = &options.admin_password_file {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        return Ok((Password::parse(text.lines().next().unwrap_or(""))?, None));
    }
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("Password for {}: ", options.admin))
            .context("reading the password")?;
        let again =
            rpassword::prompt_password("Repeat password: ").context("reading the password")?;
        if first != again {
            bail!("the passwords differ");
        }
        return Ok((Password::parse(&first)?, None));
    }
    let made = users::random_token();
    let path = options.dir.join("admin.password");
    write_secret(&path, &made)?;
    Ok((Password::parse(&made)?, Some(path)))
}

pub async fn init(options: &InitOptions) -> anyhow::Result<()> {
    let dir = &options.dir;
    let admin = Login::parse(&options.admin)?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let config = dir.join("leadgate.toml");
    if config.exists() && !options.force {
        bail!(
            "{} exists; leaving it alone (--force replaces it and its secrets)",
            config.display()
        );
    }
    let token_file = dir.join("api-admin.token");
    let form_secret_file = dir.join("form-site.secret");
    let token = format!("lga_{}", users::random_token());
    write_secret(&token_file, &token)?;
    write_secret(&form_secret_file, &users::random_token())?;
    let database = options
        .database
        .clone()
        .unwrap_or_else(|| default_database(dir));
    let text = config_text(
        dir,
        &database,
        &options.managers,
        &token_file,
        &form_secret_file,
    );
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o640)
            .open(&config)
            .with_context(|| format!("writing {}", config.display()))?;
        f.set_permissions(std::fs::Permissions::from_mode(0o640))?;
        f.write_all(text.as_bytes())?;
    }
    // What was written must be what check-config accepts.
    let settings = settings::load(&config)
        .with_context(|| format!("the written configuration {}", config.display()))?;
    if let Some(parent) = database
        .strip_prefix("sqlite://")
        .map(|p| Path::new(p.split('?').next().unwrap_or(p)).to_path_buf())
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(&parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
    }
    let (password, made_up) = admin_password(options)?;
    let store = Store::connect(&settings.database)
        .await
        .context("opening the database")?;
    store.migrate().await.context("applying migrations")?;
    users::sync_from_config(&store, &settings.departments, &settings.managers)
        .await
        .context("syncing managers from the configuration")?;
    let added = users::add_user(
        &store,
        NewUser {
            login: admin.clone(),
            display_name: Some("Администратор".into()),
            role: Role::Admin,
            department: None,
            password,
        },
    )
    .await;
    match added {
        Ok(_) => {}
        Err(UserError::Exists(_)) => {
            // Run again on a database that has the admin: keep the account,
            // give it the new password.
            let (password, _) = admin_password(options)?;
            users::set_password(&store, &admin, &password).await?;
        }
        Err(e) => return Err(e.into()),
    }
    store.close().await;
    println!("configuration written to {}", config.display());
    println!("API token (role admin) in {}", token_file.display());
    println!("form secret in {}", form_secret_file.display());
    match made_up {
        Some(path) => println!(
            "admin `{}`: password in {} (change it with `leadgate user passwd {}`)",
            admin.as_str(),
            path.display(),
            admin.as_str()
        ),
        None => println!("admin `{}`: password set", admin.as_str()),
    }
    Ok(())
}
