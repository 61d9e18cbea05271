//! Mail intake speed: a real Dovecot folder of N messages (written straight
//! into its Maildir), read by the IMAP fetcher into appeals (pipeline off).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args as ClapArgs;
use leadgate::settings::{AfterAction, MailTls, MailboxSettings, Secret};
use leadgate::startup::Application;
use tokio_util::sync::CancellationToken;

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Messages in the folder.
    #[arg(long, default_value_t = 10_000)]
    pub messages: usize,
    /// Database URL; a SQLite file in a temp dir by default.
    #[arg(long)]
    pub database: Option<String>,
}

fn id_of(flag: &str, name: &str) -> anyhow::Result<u32> {
    let out = Command::new("id").arg(flag).arg(name).output()?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
}

fn write_maildir(root: &Path, n: usize) -> anyhow::Result<()> {
    let new = root.join("new");
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(root.join(sub))?;
    }
    for i in 0..n {
        let body = format!(
            "From: Клиент {i} <client{i}@bench{}.ru>\r\nTo: sales@example.ru\r\n\
             Subject: Заявка {i}\r\nMessage-ID: <bench{i}@bench.ru>\r\n\
             Date: Mon, 3 Mar 2025 10:00:00 +0300\r\nMIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\n\
             Здравствуйте! Нужна цена на станок модели {i}.\r\n\r\n\
             С уважением,\r\nКлиент {i}\r\n+7 916 {:03}-{:02}-{:02}\r\n",
            i % 97,
            i % 1000,
            i % 100,
            (i / 100) % 100
        );
        std::fs::write(
            new.join(format!("{}.M{i}P1.bench", 1_700_000_000 + i)),
            body,
        )?;
    }
    Ok(())
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("leadgate-bench-mail-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let d = dir.as_path();
    let (uid, gid) = (id_of("-u", "dovecot")?, id_of("-g", "dovecot")?);
    write_maildir(&d.join("mail/bench"), args.messages)?;
    std::fs::create_dir_all(d.join("home"))?;
    Command::new("chown")
        .arg("-R")
        .arg(format!("{uid}:{gid}"))
        .arg(d.join("mail"))
        .arg(d.join("home"))
        .status()?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755))?;
    std::fs::write(
        d.join("passwd"),
        format!(
            "bench:{{PLAIN}}bench:{uid}:{gid}::{}::\n",
            d.join("home").display()
        ),
    )?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    std::fs::write(
        d.join("dovecot.conf"),
        format!(
            "base_dir = {d}/run\nstate_dir = {d}/state\nlog_path = {d}/dovecot.log\n\
             instance_name = lg-bench-{port}\nprotocols = imap\nlisten = 127.0.0.1\nssl = no\n\
             disable_plaintext_auth = no\ndefault_internal_user = dovecot\n\
             default_internal_group = dovecot\ndefault_login_user = dovenull\nfirst_valid_uid = 1\n\
             mail_location = maildir:{d}/mail/%u\n\
             passdb {{\n driver = passwd-file\n args = scheme=PLAIN username_format=%u {d}/passwd\n}}\n\
             userdb {{\n driver = passwd-file\n args = username_format=%u {d}/passwd\n}}\n\
             service imap-login {{\n inet_listener imap {{\n address = 127.0.0.1\n port = {port}\n }}\n \
             inet_listener imaps {{\n port = 0\n }}\n}}\n",
            d = d.display()
        ),
    )?;
    let mut dovecot = Command::new("/usr/sbin/dovecot")
        .arg("-c")
        .arg(d.join("dovecot.conf"))
        .arg("-F")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("dovecot (scripts/test-deps installs dovecot-imapd)")?;
    let result = measure(&args, d, port).await;
    let _ = dovecot.kill();
    let _ = dovecot.wait();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn measure(args: &Args, d: &Path, port: u16) -> anyhow::Result<()> {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut settings = leadgate::settings::load_from_str(
        include_str!("../../../config/leadgate.toml"),
        Vec::<(String, String)>::new(),
    )?;
    settings.server.listen = "127.0.0.1:0".into();
    settings.logging.level = "warn".into();
    settings.database.url = args
        .database
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", d.join("bench.db").display()));
    settings.mail.mailboxes = vec![MailboxSettings {
        name: "bench".into(),
        host: "127.0.0.1".into(),
        port: Some(port),
        tls: MailTls::Plain,
        allow_plain: true,
        ca_file: None,
        login: "bench".into(),
        password: Secret::new("bench"),
        folders: vec!["INBOX".into()],
        after: AfterAction::Leave,
        owner: None,
        idle: true,
        poll_interval_secs: 60,
        acknowledge: false,
    }];
    let app = Application::build(settings).await?.without_pipeline();
    let store = app.store().clone();
    let stop = CancellationToken::new();
    let started = Instant::now();
    let server = tokio::spawn(app.run_until_stopped(stop.clone()));
    let target = args.messages as i64;
    loop {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM appeals WHERE channel = 'mail'")
            .fetch_one(store.pool())
            .await?;
        if n >= target {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    stop.cancel();
    let _ = server.await;
    println!(
        "mail intake: {} messages from a Dovecot folder in {:.2} s = {:.0} messages/s (database {}, pipeline off, includes the first SELECT indexing the Maildir)",
        args.messages,
        elapsed.as_secs_f64(),
        args.messages as f64 / elapsed.as_secs_f64(),
        if args.database.is_some() { "given" } else { "SQLite, synchronous=full" }
    );
    Ok(())
}
