//! The mail channel against real servers: Dovecot (IMAP) started per test on
//! a free loopback port, an aiosmtpd sink for outgoing mail, and the daemon
//! (in process, or as a `leadgate run` child for the crash test).

#[path = "../helpers/mod.rs"]
mod helpers;

// The shared Chromium harness; not every helper in it is used here.
#[allow(dead_code)]
#[path = "../web/browser.rs"]
mod browser;

mod card_reply;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use async_imap::Client;
use futures_util::TryStreamExt;
use helpers::{eventually, free_port, fresh_db, listening, spawn_app_with, TestApp};
use leadgate::settings::{AfterAction, MailTls, MailboxSettings, Secret, Settings, SmtpSettings};
use leadgate::sources::mail::message::FormSenderRule;
use serde_json::Value;
use sqlx::Row;
use tokio::net::TcpStream;

const USER: &str = "lead";
const PASSWORD: &str = "secret";

fn id_of(flag: &str, name: &str) -> u32 {
    let out = Command::new("id").arg(flag).arg(name).output().expect("id");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("numeric id")
}

/// A real Dovecot with its own config, users and Maildir in a temp dir.
pub struct Dovecot {
    pub port: u16,
    /// The implicit-TLS (993-style) port, when started with TLS; the plain
    /// port then offers STARTTLS.
    pub tls_port: Option<u16>,
    pub dir: tempfile::TempDir,
    child: Child,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA of the test's own (`<name>-ca.pem`) and, when `server`, a
/// certificate for 127.0.0.1 signed by it (`server.pem`, `server.key`).
fn make_ca(dir: &Path, name: &str, server: bool) {
    let (ca_key, ca_pem) = (format!("{name}-ca.key"), format!("{name}-ca.pem"));
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            &ca_key,
            "-out",
            &ca_pem,
            "-subj",
            &format!("/CN=leadgate test CA {name}"),
        ],
    );
    if !server {
        return;
    }
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost
basicConstraints=CA:FALSE
         keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
",
    )
    .expect("ext");
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            &ca_pem,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            "server.pem",
            "-extfile",
            "server.ext",
        ],
    );
}

impl Dovecot {
    pub async fn start() -> Dovecot {
        Dovecot::start_with(false).await
    }

    /// With a self-signed CA in the temp dir (`good-ca.pem` signed the
    /// server's certificate, `other-ca.pem` did not): IMAPS on `tls_port`,
    /// STARTTLS on `port`.
    pub async fn start_tls() -> Dovecot {
        Dovecot::start_with(true).await
    }

    pub fn ca_file(&self, which: &str) -> PathBuf {
        self.dir.path().join(format!("{which}-ca.pem"))
    }

    async fn start_with(tls: bool) -> Dovecot {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        let (uid, gid) = (id_of("-u", "dovecot"), id_of("-g", "dovecot"));
        for sub in ["mail", "home"] {
            std::fs::create_dir_all(d.join(sub)).expect("mkdir");
            std::os::unix::fs::chown(d.join(sub), Some(uid), Some(gid)).expect("chown");
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::write(
            d.join("passwd"),
            format!(
                "{USER}:{{PLAIN}}{PASSWORD}:{uid}:{gid}::{}::\n",
                d.join("home").display()
            ),
        )
        .expect("passwd");
        let port = free_port();
        let tls_port = tls.then(free_port);
        let ssl = if tls {
            make_ca(d, "good", true);
            make_ca(d, "other", false);
            format!(
                "ssl = yes\nssl_cert = <{d}/server.pem\nssl_key = <{d}/server.key\n",
                d = d.display()
            )
        } else {
            "ssl = no\n".to_string()
        };
        let conf = format!(
            r#"{ssl}base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
instance_name = lg-{port}
protocols = imap
listen = 127.0.0.1
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = dovecot
default_internal_group = dovecot
default_login_user = dovenull
first_valid_uid = 1
mail_location = maildir:{d}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {d}/passwd
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
  }}
}}
"#,
            d = d.display(),
            imaps = tls_port.unwrap_or(0),
        );
        std::fs::write(d.join("dovecot.conf"), conf).expect("conf");
        let child = Command::new("/usr/sbin/dovecot")
            .arg("-c")
            .arg(d.join("dovecot.conf"))
            .arg("-F")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dovecot (scripts/test-deps installs dovecot-imapd)");
        let dovecot = Dovecot {
            port,
            tls_port,
            dir,
            child,
        };
        listening("dovecot", port).await;
        if let Some(p) = tls_port {
            listening("dovecot imaps", p).await;
        }
        dovecot
    }

    pub async fn session(&self) -> async_imap::Session<TcpStream> {
        let tcp = TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connect");
        let mut client = Client::new(tcp);
        client.read_response().await.expect("greeting");
        client
            .login(USER, PASSWORD)
            .await
            .map_err(|(e, _)| e)
            .expect("login")
    }

    pub async fn append(&self, folder: &str, messages: &[Vec<u8>]) {
        let mut s = self.session().await;
        for m in messages {
            s.append(folder, None, None, m).await.expect("append");
        }
        let _ = s.logout().await;
    }

    pub async fn create(&self, folder: &str) {
        let mut s = self.session().await;
        s.create(folder).await.expect("create");
        let _ = s.logout().await;
    }

    pub async fn delete(&self, folder: &str) {
        let mut s = self.session().await;
        s.delete(folder).await.expect("delete");
        let _ = s.logout().await;
    }

    /// Flags of every message in `folder`, by UID.
    pub async fn flags(&self, folder: &str) -> Vec<String> {
        let mut s = self.session().await;
        s.select(folder).await.expect("select");
        let fetched: Vec<_> = s
            .uid_fetch("1:*", "FLAGS")
            .await
            .expect("fetch")
            .try_collect()
            .await
            .expect("fetch flags");
        let out = fetched
            .iter()
            .map(|f| format!("{:?}", f.flags().collect::<Vec<_>>()))
            .collect();
        let _ = s.logout().await;
        out
    }

    pub fn mailbox(&self, name: &str) -> MailboxSettings {
        MailboxSettings {
            name: name.into(),
            host: "127.0.0.1".into(),
            port: Some(self.port),
            tls: MailTls::Plain,
            allow_plain: true,
            ca_file: None,
            login: USER.into(),
            password: Secret::new(PASSWORD),
            folders: vec!["INBOX".into()],
            after: AfterAction::Seen,
            owner: None,
            idle: true,
            poll_interval_secs: 60,
            acknowledge: true,
        }
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log =
                std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default();
            eprintln!("dovecot log:\n{log}");
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// aiosmtpd writing every message into a Maildir.
pub struct SmtpSink {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Child,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let child = Command::new("/usr/bin/python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(dir.path().join("maildir"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd (scripts/test-deps installs python3-aiosmtpd)");
        let sink = SmtpSink { port, dir, child };
        listening("aiosmtpd", port).await;
        sink
    }

    pub fn settings(&self) -> SmtpSettings {
        SmtpSettings {
            host: "127.0.0.1".into(),
            port: Some(self.port),
            tls: MailTls::Plain,
            allow_plain: true,
            login: None,
            password: None,
            from: "crm@example.ru".into(),
            from_name: Some("Отдел продаж".into()),
            max_per_second: 100,
        }
    }

    /// Every message received so far, as text.
    pub fn messages(&self) -> Vec<String> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.dir.path().join("maildir").join(sub)) else {
                continue;
            };
            for e in entries.flatten() {
                if let Ok(bytes) = std::fs::read(e.path()) {
                    out.push(String::from_utf8_lossy(&bytes).into_owned());
                }
            }
        }
        out
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mail(from: &str, subject: &str, message_id: &str, extra: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: sales@example.ru\r\nSubject: {subject}\r\n\
         Message-ID: <{message_id}>\r\nDate: Mon, 3 Mar 2025 10:00:00 +0300\r\n\
         MIME-Version: 1.0\r\n{extra}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

#[derive(Debug, Clone)]
struct Row_ {
    id: i64,
    status: String,
    external_id: String,
    contact: Value,
    subject: Option<String>,
    body: Option<String>,
    attributes: Value,
    intent: Value,
    interest_id: Option<i64>,
    decision: Option<Value>,
    raw: Value,
}

async fn appeals(store: &leadgate::storage::Store) -> Vec<Row_> {
    let rows = sqlx::query(
        "SELECT id, status, external_id, contact, subject, body, attributes, intent, interest_id, \
         decision, raw_payload FROM appeals WHERE channel = 'mail' ORDER BY id",
    )
    .fetch_all(store.pool())
    .await
    .expect("appeals");
    rows.iter()
        .map(|r| {
            let json = |c: &str| -> Value {
                serde_json::from_str(&r.get::<String, _>(c)).expect("json column")
            };
            Row_ {
                id: r.get("id"),
                status: r.get("status"),
                external_id: r.get("external_id"),
                contact: json("contact"),
                subject: r.get("subject"),
                body: r.get("body"),
                attributes: json("attributes"),
                intent: json("intent"),
                interest_id: r.get("interest_id"),
                decision: r
                    .get::<Option<String>, _>("decision")
                    .map(|d| serde_json::from_str(&d).expect("decision")),
                raw: json("raw_payload"),
            }
        })
        .collect()
}

async fn wait_appeals(app: &TestApp, n: usize) -> Vec<Row_> {
    eventually(&format!("{n} mail appeals"), async || {
        let all = appeals(&app.store).await;
        (all.len() >= n && all.iter().all(|a| a.status != "pending")).then_some(all)
    })
    .await
}

async fn app_with(
    dovecot: &Dovecot,
    smtp: Option<&SmtpSink>,
    f: impl FnOnce(&mut Settings),
) -> TestApp {
    // RUST_LOG=leadgate=info shows what the fetcher did when a test fails.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let mailbox = dovecot.mailbox("sales");
    let smtp = smtp.map(SmtpSink::settings);
    spawn_app_with(move |s| {
        s.mail.mailboxes = vec![mailbox];
        s.mail.smtp = smtp;
        f(s);
    })
    .await
}

fn cp1251_mail() -> Vec<u8> {
    b"From: =?windows-1251?B?yOLg7SDP5fLw7uI=?= <ivan@client.ru>\r\nTo: sales@example.ru\r\n\
Subject: =?windows-1251?B?x+D/4urg?=\r\nMessage-ID: <cp1251@client.ru>\r\n\
Date: Mon, 3 Mar 2025 10:00:00 +0300\r\nMIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=windows-1251\r\nContent-Transfer-Encoding: base64\r\n\r\n\
x+Tw4OLx8uLz6fLlISDN8+bt4CD25e3gIO3gIDEwIPHy4O3q7uIuCgrRIPPi4Obl7ejl7CwKyOLg7SDP5fLw7uIKKzcgOTE2IDEyMy00NS02Nwo=\r\n"
        .to_vec()
}

#[tokio::test]
async fn new_mail_becomes_an_appeal_and_is_acknowledged_once() {
    let dovecot = Dovecot::start().await;
    let sink = SmtpSink::start().await;
    let app = app_with(&dovecot, Some(&sink), |_| {}).await;
    dovecot.append("INBOX", &[cp1251_mail()]).await;
    let all = wait_appeals(&app, 1).await;
    let a = &all[0];
    assert_eq!(a.status, "created", "{a:?}");
    assert_eq!(a.subject.as_deref(), Some("Заявка"));
    assert!(
        a.body.as_deref().unwrap_or("").contains("Нужна цена"),
        "{a:?}"
    );
    assert_eq!(a.contact["emails"][0], "ivan@client.ru");
    assert_eq!(a.contact["name"], "Иван Петров");
    assert!(
        a.contact["phones"][0]
            .as_str()
            .unwrap_or("")
            .contains("916"),
        "{a:?}"
    );
    assert_eq!(a.external_id, "INBOX:cp1251@client.ru");
    assert_eq!(a.raw["uid"], 1);
    assert!(
        a.raw["raw"].as_str().unwrap_or("").contains("Message-ID"),
        "raw stored"
    );

    // The acknowledgement and the manager's notification reach the SMTP server.
    let ack = eventually("the acknowledgement", async || {
        sink.messages()
            .into_iter()
            .find(|m| m.contains("ivan@client.ru") && m.contains("Auto-Submitted"))
    })
    .await;
    let decoded = decode_body(&ack);
    assert!(
        decoded.contains(&format!("Ваше обращение № {} принято", a.id)),
        "{decoded}"
    );
    assert!(decoded.contains("свяжется с вами"), "{decoded}");
    assert!(ack.contains("In-Reply-To: <cp1251@client.ru>"), "{ack}");
    eventually("the manager's notification", async || {
        sink.messages().into_iter().find(|m| {
            m.contains("To:")
                && (m.contains("ivanova@example.ru") || m.contains("petrov@example.ru"))
        })
    })
    .await;

    // A second letter from the same person: linked, and no second acknowledgement.
    dovecot
        .append(
            "INBOX",
            &[mail(
                "Иван Петров <ivan@client.ru>",
                "Ещё вопрос",
                "second@client.ru",
                "",
                "А доставка?",
            )],
        )
        .await;
    let all = wait_appeals(&app, 2).await;
    assert_eq!(all[1].status, "linked");
    eventually("outbox drained", async || {
        let rows: Vec<(String,)> = sqlx::query_as("SELECT status FROM mail_outbox")
            .fetch_all(app.store.pool())
            .await
            .ok()?;
        (rows.len() >= 3 && rows.iter().all(|(s,)| s == "sent")).then_some(())
    })
    .await;
    let acks = sink
        .messages()
        .into_iter()
        .filter(|m| m.contains("ivan@client.ru") && m.contains("Auto-Submitted"))
        .count();
    assert_eq!(acks, 1, "one acknowledgement per recipient");
    let flags = dovecot.flags("INBOX").await;
    assert!(
        flags.iter().all(|f| f.contains("Seen")),
        "after = seen: {flags:?}"
    );
    app.stop().await;
}

fn decode_body(message: &str) -> String {
    let parsed = mail_parser::MessageParser::default().parse(message.as_bytes());
    parsed
        .and_then(|m| m.body_text(0).map(|b| b.into_owned()))
        .unwrap_or_default()
}

#[tokio::test]
async fn encodings_forms_and_machine_mail() {
    let dovecot = Dovecot::start().await;
    let sink = SmtpSink::start().await;
    let app = app_with(&dovecot, Some(&sink), |s| {
        s.mail.form_senders = vec![FormSenderRule {
            from: "robot@tilda.ws".into(),
            subject_contains: None,
            field_map: Default::default(),
        }];
    })
    .await;
    let koi8 = b"From: olga@client2.ru\r\nSubject: catalog\r\nMessage-ID: <koi8@client2.ru>\r\n\
MIME-Version: 1.0\r\nContent-Type: text/plain; charset=koi8-r\r\nContent-Transfer-Encoding: base64\r\n\r\n\
5M/C0tnKIMTFztgsINDSydvMydTFIMvB1MHMz8cuCg==\r\n"
        .to_vec();
    let html = b"From: Anna <anna@client3.ru>\r\nSubject: html\r\nMessage-ID: <html@client3.ru>\r\n\
MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
<html><body><p>\xd0\x9d\xd1\x83\xd0\xb6\xd0\xb5\xd0\xbd \xd1\x81\xd1\x87\xd1\x91\xd1\x82</p></body></html>\r\n"
        .to_vec();
    let form = mail(
        "robot@tilda.ws",
        "Новая заявка с сайта",
        "form@tilda.ws",
        "",
        "Имя: Сергей Кузнецов\nТелефон: +7 903 555-44-33\nEmail: sergey@client4.ru\nКомментарий: Перезвоните",
    );
    let auto = mail(
        "boss@client5.ru",
        "Автоответ: в отпуске",
        "auto@client5.ru",
        "Auto-Submitted: auto-replied\r\n",
        "Я в отпуске до понедельника.",
    );
    let bounce =
        b"From: MAILER-DAEMON@mx.client6.ru\r\nSubject: Undelivered Mail Returned to Sender\r\n\
Message-ID: <bounce@mx.client6.ru>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n\
--b\r\nContent-Type: message/delivery-status\r\n\r\nStatus: 5.1.1\r\n--b--\r\n"
            .to_vec();
    dovecot
        .append("INBOX", &[koi8, html, form, auto, bounce])
        .await;
    let all = wait_appeals(&app, 5).await;
    let by = |id: &str| {
        all.iter()
            .find(|a| a.external_id.ends_with(id))
            .unwrap_or_else(|| panic!("{id} in {all:?}"))
            .clone()
    };
    assert!(by("koi8@client2.ru")
        .body
        .unwrap_or_default()
        .contains("пришлите каталог"));
    assert!(by("html@client3.ru")
        .body
        .unwrap_or_default()
        .contains("Нужен счёт"));
    let f = by("form@tilda.ws");
    assert_eq!(f.contact["name"], "Сергей Кузнецов");
    assert_eq!(f.contact["emails"][0], "sergey@client4.ru");
    assert_eq!(f.attributes["mail_kind"], "form_notification");
    for (id, kind) in [
        ("auto@client5.ru", "auto_reply"),
        ("bounce@mx.client6.ru", "bounce"),
    ] {
        let a = by(id);
        assert_eq!(a.status, "rejected", "{a:?}");
        assert_eq!(a.interest_id, None);
        let decision = a.decision.expect("decision");
        assert_eq!(decision["mail_kind"], kind);
        assert!(decision["reason"].is_object(), "{decision}");
    }
    // Leads were acknowledged; machines never are.
    eventually("acknowledgements", async || {
        let m = sink.messages();
        (m.iter().any(|m| m.contains("sergey@client4.ru"))).then_some(())
    })
    .await;
    eventually("outbox drained", async || {
        let rows: Vec<(String,)> = sqlx::query_as("SELECT status FROM mail_outbox")
            .fetch_all(app.store.pool())
            .await
            .ok()?;
        rows.iter().all(|(s,)| s == "sent").then_some(())
    })
    .await;
    let recipients: Vec<(String,)> = sqlx::query_as("SELECT recipient FROM mail_outbox")
        .fetch_all(app.store.pool())
        .await
        .expect("outbox");
    assert!(recipients
        .iter()
        .all(|(r,)| !r.contains("client5.ru") && !r.contains("client6.ru")));
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("leadgate_mail_messages_total{mailbox=\"sales\",kind=\"bounce\"} 1"),
        "{metrics}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_reply_threads_into_the_interest() {
    let dovecot = Dovecot::start().await;
    let sink = SmtpSink::start().await;
    let app = app_with(&dovecot, Some(&sink), |_| {}).await;
    dovecot
        .append(
            "INBOX",
            &[mail(
                "Pavel <pavel@client7.ru>",
                "Нужны станки",
                "first@client7.ru",
                "",
                "Сколько стоит?",
            )],
        )
        .await;
    let first = wait_appeals(&app, 1).await.remove(0);
    let interest = first.interest_id.expect("interest");
    // A colleague answers from another address, quoting the thread.
    dovecot
        .append(
            "INBOX",
            &[mail(
                "Maria <maria@other-client.ru>",
                "Re: Нужны станки",
                "reply@other-client.ru",
                "In-Reply-To: <first@client7.ru>\r\nReferences: <first@client7.ru>\r\n",
                "Отвечаю за Павла: нужно 5 штук.",
            )],
        )
        .await;
    let all = wait_appeals(&app, 2).await;
    assert_eq!(all[1].intent["kind"], "reply");
    assert_eq!(all[1].intent["interest_id"], interest);
    assert_eq!(all[1].interest_id, Some(interest));
    assert_eq!(all[1].status, "linked");
    // A reply to our acknowledgement threads back too.
    let ack_id: String = eventually("the acknowledgement", async || {
        sqlx::query_as::<_, (String,)>(
            "SELECT message_id FROM mail_outbox WHERE kind = 'acknowledgement' AND status = 'sent'",
        )
        .fetch_optional(app.store.pool())
        .await
        .ok()
        .flatten()
        .map(|(m,)| m)
    })
    .await;
    dovecot
        .append(
            "INBOX",
            &[mail(
                "Unknown <new@third.ru>",
                "Re: Ваше обращение",
                "reply2@third.ru",
                &format!("In-Reply-To: <{ack_id}>\r\n"),
                "Спасибо, ждём.",
            )],
        )
        .await;
    let all = wait_appeals(&app, 3).await;
    assert_eq!(all[2].interest_id, Some(interest), "{:?}", all[2]);
    app.stop().await;
}

#[tokio::test]
async fn uidvalidity_reset_takes_nothing_twice() {
    let dovecot = Dovecot::start().await;
    dovecot.create("Leads").await;
    let msgs: Vec<Vec<u8>> = (0..3)
        .map(|i| {
            mail(
                &format!("p{i}@client.ru"),
                "hello",
                &format!("uv{i}@client.ru"),
                "",
                "Нужна цена",
            )
        })
        .collect();
    dovecot.append("Leads", &msgs).await;
    let mut mailbox = dovecot.mailbox("sales");
    mailbox.folders = vec!["Leads".into()];
    mailbox.idle = false;
    mailbox.poll_interval_secs = 1;
    mailbox.after = AfterAction::Leave;
    let app = spawn_app_with(move |s| s.mail.mailboxes = vec![mailbox]).await;
    wait_appeals(&app, 3).await;
    let before: (i64, i64) = sqlx::query_as(
        "SELECT uid_validity, last_uid FROM mail_cursors WHERE mailbox = 'sales' AND folder = 'Leads'",
    )
    .fetch_one(app.store.pool())
    .await
    .expect("cursor");
    assert_eq!(before.1, 3);
    dovecot.delete("Leads").await;
    dovecot.create("Leads").await;
    let mut again = msgs.clone();
    again.push(mail("p9@client.ru", "hello", "uv9@client.ru", "", "Ещё"));
    dovecot.append("Leads", &again).await;
    let all = wait_appeals(&app, 4).await;
    let after: (i64, i64) = eventually("the new cursor", async || {
        let c: (i64, i64) = sqlx::query_as(
            "SELECT uid_validity, last_uid FROM mail_cursors WHERE mailbox = 'sales' AND folder = 'Leads'",
        )
        .fetch_one(app.store.pool())
        .await
        .ok()?;
        (c.1 == 4).then_some(c)
    })
    .await;
    assert_ne!(before.0, after.0, "a new UIDVALIDITY");
    assert_eq!(appeals(&app.store).await.len(), 4, "{all:?}");
    app.stop().await;
}

#[tokio::test]
async fn bad_input_is_kept_and_the_next_messages_flow() {
    let dovecot = Dovecot::start().await;
    let mut broken_box = dovecot.mailbox("broken");
    broken_box.password = Secret::new("wrong");
    let app = app_with(&dovecot, None, move |s| s.mail.mailboxes.push(broken_box)).await;
    let many: String = (0..1000)
        .map(|i| format!("r{i}@many.ru"))
        .collect::<Vec<_>>()
        .join(", ");
    let broken_mime = b"From: x@broken.ru\r\nSubject: broken\r\nMessage-ID: <broken@broken.ru>\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"nope\r\n\r\n--nope\r\n\
Content-Transfer-Encoding: base64\r\n\r\n!!!not base64\xff\xfe\r\n"
        .to_vec();
    let no_from = "Subject: nobody\r\nMessage-ID: <nofrom@x.ru>\r\n\r\nКто я?\r\n"
        .as_bytes()
        .to_vec();
    let bad_date = mail("d@date.ru", "date", "date@date.ru", "", "text")
        .into_iter()
        .collect::<Vec<u8>>();
    let bad_date = String::from_utf8(bad_date)
        .expect("utf8")
        .replace("Mon, 3 Mar 2025 10:00:00 +0300", "32 Foo 99999 99:99")
        .into_bytes();
    let eight_bit =
        b"From: \xc8\xe2\xe0\xed <ivan8@eight.ru>\r\nSubject: \xc7\xe0\xff\xe2\xea\xe0\r\n\
Message-ID: <8bit@eight.ru>\r\n\r\nbody\r\n"
            .to_vec();
    let recipients = format!(
        "From: m@many.ru\r\nTo: {many}\r\nSubject: many\r\nMessage-ID: <many@many.ru>\r\n\r\nhi\r\n"
    )
    .into_bytes();
    let good = mail("good@good.ru", "Хороший", "good@good.ru", "", "Нужна цена");
    dovecot
        .append(
            "INBOX",
            &[broken_mime, recipients, no_from, bad_date, eight_bit, good],
        )
        .await;
    let all = wait_appeals(&app, 6).await;
    assert_eq!(all.len(), 6, "every message kept: {all:?}");
    let good = all
        .iter()
        .find(|a| a.external_id == "INBOX:good@good.ru")
        .expect("good");
    assert_eq!(good.status, "created");
    let many = all
        .iter()
        .find(|a| a.external_id == "INBOX:many@many.ru")
        .expect("many");
    assert_eq!(many.attributes["recipients_count"], 1000);
    let eight = all
        .iter()
        .find(|a| a.external_id == "INBOX:8bit@eight.ru")
        .expect("8bit");
    assert_eq!(eight.subject.as_deref(), Some("Заявка"));
    // The mailbox that refuses login is reported, the other keeps working.
    let (_, ready) = app.get_json("/readyz").await;
    let state = eventually("the broken mailbox's state", async || {
        let (_, ready) = app.get_json("/readyz").await;
        let s = ready["details"]["mail:broken"]["state"]
            .as_str()?
            .to_string();
        (s == "login_refused").then_some(s)
    })
    .await;
    assert_eq!(state, "login_refused", "{ready}");
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("leadgate_mail_mailbox_up{mailbox=\"broken\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("leadgate_mail_mailbox_up{mailbox=\"sales\"} 1"),
        "{metrics}"
    );
    app.stop().await;
}

fn daemon_config(dir: &Path, db_url: &str, dovecot: &Dovecot, port: u16) -> PathBuf {
    let shipped = helpers::shipped_config()
        .replace(
            "url = \"sqlite://data/leadgate.db\"",
            &format!("url = \"{db_url}\""),
        )
        .replace(
            "listen = \"127.0.0.1:8080\"",
            &format!("listen = \"127.0.0.1:{port}\""),
        )
        .replace(
            "sqlite_synchronous = \"full\"",
            "sqlite_synchronous = \"normal\"",
        );
    let config = format!(
        "{shipped}\n[[mail.mailboxes]]\nname = \"sales\"\nhost = \"127.0.0.1\"\nport = {}\n\
         tls = \"plain\"\nallow_plain = true\nlogin = \"{USER}\"\npassword = \"{PASSWORD}\"\n\
         after = \"seen\"\n",
        dovecot.port
    );
    let path = dir.join("leadgate.toml");
    std::fs::write(&path, config).expect("config");
    path
}

fn spawn_daemon(config: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_leadgate"))
        .arg("--config")
        .arg(config)
        .arg("run")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("leadgate run")
}

#[tokio::test]
async fn killed_mid_fetch_and_restarted_takes_every_message_once() {
    let dovecot = Dovecot::start().await;
    const N: usize = 400;
    let msgs: Vec<Vec<u8>> = (0..N)
        .map(|i| {
            mail(
                &format!("k{i}@kill{i}.ru"),
                "kill",
                &format!("kill{i}@x.ru"),
                "",
                "Нужна цена",
            )
        })
        .collect();
    dovecot.append("INBOX", &msgs).await;
    let db = fresh_db().await;
    let dir = tempfile::tempdir().expect("dir");
    let config = daemon_config(dir.path(), &db.url, &dovecot, free_port());
    let mut child = spawn_daemon(&config);
    let store = {
        let settings = leadgate::settings::DatabaseSettings {
            url: db.url.clone(),
            ..Default::default()
        };
        eventually("the database", async || {
            let store = leadgate::storage::Store::connect(&settings).await.ok()?;
            store.readiness().await.ok()?.then_some(store)
        })
        .await
    };
    let count = async || -> usize {
        sqlx::query_as::<_, (i64,)>("SELECT COUNT(*) FROM appeals WHERE channel = 'mail'")
            .fetch_one(store.pool())
            .await
            .map(|(n,)| n as usize)
            .unwrap_or(0)
    };
    let taken = eventually("the first messages", async || {
        let n = count().await;
        (n > 0).then_some(n)
    })
    .await;
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let mut child = spawn_daemon(&config);
    eventually("every message", async || (count().await >= N).then_some(())).await;
    // Let a full pass run again: still nothing twice.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = child.kill();
    let _ = child.wait();
    let (total, distinct): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(DISTINCT external_id) FROM appeals WHERE channel = 'mail'",
    )
    .fetch_one(store.pool())
    .await
    .expect("counts");
    assert_eq!(
        (total, distinct),
        (N as i64, N as i64),
        "taken before the kill: {taken}"
    );
    store.close().await;
}

#[test]
fn mail_config_problems_name_their_keys() {
    let config = format!(
        "{}\n[[mail.mailboxes]]\nname = \"bad name\"\nhost = \"\"\nlogin = \"x\"\npassword = \"p\"\n\
         tls = \"plain\"\nafter = \"archive\"\n",
        helpers::shipped_config()
    );
    let err = leadgate::settings::load_from_str(&config, Vec::<(String, String)>::new())
        .expect_err("invalid");
    let text = err.to_string();
    assert!(text.contains("mail.mailboxes[0].after"), "{text}");
    let config = format!(
        "{}\n[[mail.mailboxes]]\nname = \"bad name\"\nhost = \"\"\nlogin = \"x\"\npassword = \"p\"\n\
         tls = \"plain\"\nowner = \"nobody\"\nshoe = 1\n",
        helpers::shipped_config()
    );
    let text = leadgate::settings::load_from_str(&config, Vec::<(String, String)>::new())
        .expect_err("invalid")
        .to_string();
    for key in [
        "mail.mailboxes[0].name",
        "mail.mailboxes[0].host",
        "mail.mailboxes[0].tls",
        "mail.mailboxes[0].owner",
        "mail.mailboxes[0].shoe",
    ] {
        assert!(text.contains(key), "{key} in {text}");
    }
}

/// The overdue sweeper tells the task's manager by e-mail, through the outbox,
/// once per task.
#[tokio::test]
async fn an_overdue_task_sends_one_reminder_to_its_manager() {
    let dovecot = Dovecot::start().await;
    let sink = SmtpSink::start().await;
    let app = app_with(&dovecot, Some(&sink), |_| {}).await;
    let resp = app
        .post_appeal(&serde_json::json!({
            "source": "crm", "external_id": "overdue-1",
            "contact": {"name": "Олег", "phones": ["+79125550011"]}
        }))
        .await;
    let id = resp.json::<serde_json::Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    app.processed_appeal(id).await;
    let stage = leadgate::startup::Services::new(&app.settings)
        .unwrap()
        .stage(app.store.clone());
    let later = chrono::Utc::now() + chrono::Duration::days(10);
    assert_eq!(stage.sweep_overdue(later).await.unwrap().len(), 1);
    assert!(
        stage.sweep_overdue(later).await.unwrap().is_empty(),
        "reported once"
    );
    let subject_of = |m: &str| {
        mail_parser::MessageParser::default()
            .parse(m.as_bytes())
            .and_then(|p| p.subject().map(str::to_string))
            .unwrap_or_default()
    };
    let reminder = eventually("the reminder at the SMTP sink", async || {
        sink.messages()
            .into_iter()
            .find(|m| subject_of(m).starts_with("Напоминание: "))
    })
    .await;
    assert!(
        reminder.contains("ivanova@example.ru"),
        "to the responsible manager"
    );
    assert_eq!(
        subject_of(&reminder),
        "Напоминание: Телефонный звонок клиенту"
    );
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let reminders = sink
        .messages()
        .iter()
        .filter(|m| subject_of(m).starts_with("Напоминание: "))
        .count();
    assert_eq!(reminders, 1, "one reminder per task");
}

/// The mailbox settings for the TLS Dovecot: implicit TLS on its IMAPS port
/// or STARTTLS on the plain one, trusting `ca` (a PEM file).
fn tls_mailbox(dovecot: &Dovecot, tls: MailTls, ca: PathBuf) -> MailboxSettings {
    let mut m = dovecot.mailbox("sales");
    m.tls = tls;
    m.allow_plain = false;
    m.ca_file = Some(ca);
    if tls == MailTls::Implicit {
        m.port = dovecot.tls_port;
    }
    m
}

async fn app_with_mailbox(mailbox: MailboxSettings) -> TestApp {
    spawn_app_with(move |s| {
        s.mail.mailboxes = vec![mailbox];
        s.mail.smtp = None;
    })
    .await
}

/// Mail over implicit TLS and over STARTTLS, with the test's own CA given
/// as `ca_file`.
#[tokio::test]
async fn mail_is_read_over_implicit_tls_and_starttls_with_a_ca_file() {
    let dovecot = Dovecot::start_tls().await;
    for (n, tls) in [MailTls::Implicit, MailTls::Starttls]
        .into_iter()
        .enumerate()
    {
        let id = format!("tls{n}@client.ru");
        dovecot
            .append(
                "INBOX",
                &[mail(
                    "Ольга <olga@client.ru>",
                    "Заявка",
                    &id,
                    "",
                    "Нужна цена",
                )],
            )
            .await;
        let app = app_with_mailbox(tls_mailbox(&dovecot, tls, dovecot.ca_file("good"))).await;
        let all = wait_appeals(&app, n + 1).await;
        assert!(
            all.iter().any(|a| a.external_id == format!("INBOX:{id}")),
            "{tls:?}: {all:?}"
        );
        let (_, ready) = app.get_json("/readyz").await;
        let state = ready["details"]["mail:sales"]["state"]
            .as_str()
            .unwrap_or("");
        assert!(
            ["idle", "polling", "fetching"].contains(&state),
            "{tls:?}: {ready}"
        );
        app.stop().await;
    }
}

/// A certificate the configured CA did not sign is refused: nothing is
/// read, and `/readyz` says why (the text only to the operator).
#[tokio::test]
async fn a_wrong_certificate_is_refused_and_named_on_readyz() {
    let dovecot = Dovecot::start_tls().await;
    dovecot
        .append(
            "INBOX",
            &[mail(
                "a@client.ru",
                "Заявка",
                "wrong@client.ru",
                "",
                "Текст",
            )],
        )
        .await;
    for tls in [MailTls::Implicit, MailTls::Starttls] {
        let app = app_with_mailbox(tls_mailbox(&dovecot, tls, dovecot.ca_file("other"))).await;
        let ready = eventually("the mailbox's TLS state", async || {
            let (_, ready) = app.get_json("/readyz").await;
            (ready["details"]["mail:sales"]["state"] == "tls_refused").then_some(ready)
        })
        .await;
        let error = ready["details"]["mail:sales"]["error"]
            .as_str()
            .unwrap_or("");
        assert!(error.contains("certificate"), "{tls:?}: {ready}");
        let anonymous: Value = app
            .client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(anonymous["details"]["mail:sales"]["state"], "tls_refused");
        assert!(anonymous["details"]["mail:sales"].get("error").is_none());
        assert!(appeals(&app.store).await.is_empty());
        app.stop().await;
    }
}

/// Batches are cut by the sizes the server reports; a message over
/// `max_message_bytes` becomes an appeal from its header alone, with its
/// size noted and without its body.
#[tokio::test]
async fn batches_are_bounded_by_bytes_and_an_oversize_message_keeps_only_its_header() {
    let dovecot = Dovecot::start().await;
    let filler = "Нужна цена на поставку. ".repeat(900); // about 20 KB
    let mut msgs: Vec<Vec<u8>> = (0..5)
        .map(|i| {
            mail(
                &format!("b{i}@batch.ru"),
                "Заявка",
                &format!("batch{i}@batch.ru"),
                "",
                &filler,
            )
        })
        .collect();
    let huge_body = format!("BODY-MARKER {}", "x".repeat(200_000));
    msgs.push(mail(
        "Пётр <big@big.ru>",
        "Большое письмо",
        "big@big.ru",
        "",
        &huge_body,
    ));
    dovecot.append("INBOX", &msgs).await;
    let mailbox = dovecot.mailbox("sales");
    let app = spawn_app_with(move |s| {
        s.mail.mailboxes = vec![mailbox];
        s.mail.smtp = None;
        s.mail.max_message_bytes = 64 * 1024;
        s.mail.fetch_batch_bytes = 64 * 1024;
    })
    .await;
    let all = wait_appeals(&app, 6).await;
    assert_eq!(all.len(), 6, "each message once: {all:?}");
    let big = all
        .iter()
        .find(|a| a.external_id == "INBOX:big@big.ru")
        .expect("the oversize message");
    assert_eq!(big.subject.as_deref(), Some("Большое письмо"));
    assert_eq!(big.contact["emails"][0], "big@big.ru");
    assert_eq!(big.attributes["body_omitted"], true, "{big:?}");
    assert!(
        big.attributes["size"].as_u64().unwrap_or(0) > 200_000,
        "{big:?}"
    );
    assert!(!big.raw.to_string().contains("BODY-MARKER"), "body fetched");
    assert!(!big.body.as_deref().unwrap_or("").contains("BODY-MARKER"));
    assert_eq!(big.raw["truncated"], true);
    app.stop().await;
}

/// A sender that died with a message in hand holds back only that message,
/// and only for [`LEASE_MS`] (under a minute): the rest of the queue goes
/// out as soon as a sender runs again.
#[tokio::test]
async fn a_dead_sender_holds_back_one_message_for_under_a_minute() {
    use leadgate::sources::mail::outbox::{claim_next, LEASE_MS};
    let sink = SmtpSink::start().await;
    let db = fresh_db().await;
    let settings = helpers::test_settings(&db);
    let store = leadgate::storage::Store::connect(&settings.database)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let mut tx = store.begin_write().await.unwrap();
    for i in 0..4 {
        store
            .enqueue_mail(
                tx.conn(),
                &leadgate::storage::OutgoingMail {
                    kind: "acknowledgement",
                    dedup_key: format!("ack:test:{i}"),
                    recipient: format!("client{i}@client.ru"),
                    recipient_name: None,
                    subject: format!("Ваше обращение № {i} принято"),
                    body: "Спасибо".into(),
                    message_id: format!("ack{i}@example.ru"),
                    in_reply_to: None,
                    appeal_id: None,
                    interest_id: None,
                },
            )
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    // The sender that "crashes": it took its message and never reported.
    let before = leadgate::storage::now_ms();
    let taken = claim_next(&store).await.unwrap().expect("a due message");
    let (held_until,): (i64,) =
        sqlx::query_as("SELECT next_attempt_at FROM mail_outbox WHERE id = $1")
            .bind(taken.id)
            .fetch_one(store.pool())
            .await
            .unwrap();
    const { assert!(LEASE_MS <= 60_000) };
    assert!(
        held_until - before <= LEASE_MS + 1_000,
        "leased until {held_until}"
    );
    let still_queued = helpers::scalar(
        &store,
        "SELECT COUNT(*) FROM mail_outbox WHERE status = 'queued'",
    )
    .await;
    assert_eq!(still_queued, 3, "only one message is taken at a time");
    store.close().await;

    // The restarted daemon sends the other three at once.
    let smtp = sink.settings();
    let app = helpers::spawn_on_db(db, settings, move |s| s.mail.smtp = Some(smtp)).await;
    eventually("the three others sent", async || {
        let sent = helpers::scalar(
            &app.store,
            "SELECT COUNT(*) FROM mail_outbox WHERE status = 'sent'",
        )
        .await;
        (sent == 3).then_some(())
    })
    .await;
    assert_eq!(sink.messages().len(), 3);
    app.stop().await;
}
