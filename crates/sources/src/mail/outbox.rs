//! Outgoing mail: templates, enqueueing inside the pipeline's transaction,
//! and the sender task that delivers the durable outbox over SMTP.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rand::Rng;
use sqlx::AnyConnection;
use tokio_util::sync::CancellationToken;

use super::settings::{MailSettings, MailTls, SmtpSettings};
use leadgate_core::health::Heartbeat;
use leadgate_core::metrics::Metrics;
use leadgate_core::outbox::{Outbox, ProcessedAppeal, Queued, TaskReminder};
use leadgate_core::settings::CoreSettings;
use leadgate_domain::appeal::{Appeal, AppealStatus, Intent};
use leadgate_store::{now_ms, OutboxMail, OutgoingMail, StorageError, Store};

/// The mail channel as the pipeline's and the sweeper's outbox: the
/// acknowledgement, the manager's notification and task reminders.
pub struct MailOutbox {
    pub mail: MailSettings,
    pub core: Arc<CoreSettings>,
    /// Sources of the forms whose addresses may be acknowledged
    /// ([`crate::forms::settings::FormSettings::may_acknowledge`]).
    pub acknowledged_forms: std::collections::HashSet<String>,
}

impl MailOutbox {
    fn manager(&self, login: &str) -> Option<&leadgate_domain::org::ManagerSettings> {
        self.core.manager(login)
    }
}

impl Outbox for MailOutbox {
    fn is_enabled(&self) -> bool {
        self.mail.smtp.is_some()
    }

    fn after_processing<'a>(
        &'a self,
        store: &'a Store,
        conn: &'a mut AnyConnection,
        processed: ProcessedAppeal<'a>,
    ) -> Queued<'a, ()> {
        Box::pin(enqueue_after_processing(
            store,
            conn,
            self,
            processed.appeal,
            processed.status,
            processed.client_id,
            processed.interest_id,
        ))
    }

    fn task_overdue<'a>(
        &'a self,
        store: &'a Store,
        conn: &'a mut AnyConnection,
        task: &'a TaskReminder,
    ) -> Queued<'a, bool> {
        Box::pin(enqueue_task_reminder(store, conn, self, task))
    }
}

pub const KIND_ACK: &str = "acknowledgement";
pub const KIND_MANAGER: &str = "manager_notification";
pub const KIND_REMINDER: &str = "task_reminder";

/// Attempts before an outbox message is parked as `failed`.
const MAX_ATTEMPTS: i64 = 10;
/// One message's SMTP conversation is abandoned after this long.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(40);
/// A taken message is anyone's to retry after this long: a little more than
/// one send, because the sender takes one message at a time. A sender that
/// died (crash, kill -9) holds back only the message it was sending, and
/// only until this runs out, so acknowledgements go out again within a
/// minute of a restart instead of a whole batch waiting out a long lease.
pub const LEASE_MS: i64 = SEND_TIMEOUT.as_millis() as i64 + 10_000;

/// Takes the next due message for this sender, leased for [`LEASE_MS`]:
/// one at a time, so that nothing waits behind a send in progress.
pub async fn claim_next(store: &Store) -> Result<Option<OutboxMail>, StorageError> {
    Ok(store.take_due_mail(1, LEASE_MS).await?.into_iter().next())
}

/// `{name}` placeholders replaced by values; unknown ones are left as they
/// are, so a typo shows in the sent text instead of silently vanishing.
/// The configured mail templates and the card's reply templates both go
/// through here.
pub fn render<K>(template: &str, vars: &BTreeMap<K, String>) -> String
where
    K: std::borrow::Borrow<str> + Ord,
{
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('}') {
            Some(end) if vars.contains_key(&after[..end]) => {
                out.push_str(&vars[&after[..end]]);
                rest = &after[end + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn new_message_id(kind: &str, key: i64, smtp: &SmtpSettings) -> String {
    let domain = smtp
        .from
        .rsplit_once('@')
        .map(|(_, d)| d.trim())
        .unwrap_or("leadgate.invalid");
    let nonce: u64 = rand::thread_rng().gen();
    format!("lg.{kind}.{key}.{nonce:016x}@{domain}")
}

fn manager_vars(settings: &MailOutbox, login: Option<&str>, vars: &mut BTreeMap<&str, String>) {
    let manager = login.and_then(|l| settings.manager(l));
    let name = manager.map(|m| m.name.clone()).unwrap_or_default();
    let email = manager.and_then(|m| m.email.clone()).unwrap_or_default();
    vars.insert(
        "manager_signature",
        match (&name, &email) {
            (n, e) if !n.is_empty() && !e.is_empty() => format!("{n}\n{e}"),
            (n, _) if !n.is_empty() => n.clone(),
            _ => String::new(),
        },
    );
    vars.insert("manager_name", name);
    vars.insert("manager_email", email);
    vars.insert("manager_login", login.unwrap_or_default().to_string());
}

fn attr_str<'a>(appeal: &'a Appeal, key: &str) -> Option<&'a str> {
    appeal.attributes.get(key).and_then(|v| v.as_str())
}

/// The pipeline's notify step: queues the acknowledgement to the person and
/// the notification to the responsible manager, in the caller's transaction
/// (so they exist exactly when the processing is committed).
pub async fn enqueue_after_processing(
    store: &Store,
    conn: &mut AnyConnection,
    settings: &MailOutbox,
    appeal: &Appeal,
    status: AppealStatus,
    client_id: Option<i64>,
    interest_id: Option<i64>,
) -> Result<(), StorageError> {
    let Some(smtp) = &settings.mail.smtp else {
        return Ok(());
    };
    let (Some(interest_id), Some(client_id)) = (interest_id, client_id) else {
        return Ok(());
    };
    if !matches!(status, AppealStatus::Created | AppealStatus::Linked) {
        return Ok(());
    }
    let Some(interest) = store.interest_row(conn, interest_id).await? else {
        return Ok(());
    };
    let client_name = store
        .client_name(conn, client_id)
        .await?
        .unwrap_or_default();
    let mut vars: BTreeMap<&str, String> = BTreeMap::new();
    vars.insert("appeal_id", appeal.id.to_string());
    vars.insert("appeal_subject", appeal.subject.clone().unwrap_or_default());
    vars.insert("appeal_text", appeal.text.clone().unwrap_or_default());
    vars.insert("channel", appeal.channel.to_string());
    vars.insert("source", appeal.source.clone());
    vars.insert("client_name", client_name);
    let contact_name = appeal
        .contact
        .display_name()
        .unwrap_or_default()
        .to_string();
    // The greeting goes to whatever address was typed in; the name is put in
    // only when it is a name, never a link or an advert someone made us mail.
    let greeting_name = if leadgate_domain::contact::looks_like_a_name(&contact_name) {
        contact_name.trim().to_string()
    } else {
        String::new()
    };
    vars.insert(
        "contact_name_comma",
        if greeting_name.is_empty() {
            String::new()
        } else {
            format!(", {greeting_name}")
        },
    );
    vars.insert("contact_name", contact_name);
    vars.insert("interest_id", interest_id.to_string());
    vars.insert("stage", interest.stage.clone());
    manager_vars(settings, interest.responsible.as_deref(), &mut vars);
    let reply = matches!(appeal.intent, Intent::Reply { .. });
    vars.insert(
        "event",
        if reply {
            "Ответ клиента в переписке".into()
        } else if status == AppealStatus::Created {
            "Новый интерес".into()
        } else {
            "Повторное обращение по интересу".into()
        },
    );
    let thread_parent = attr_str(appeal, "message_id").map(str::to_string);

    let ack = &settings.mail.acknowledgement;
    if ack.enabled && !reply && acknowledgement_allowed(settings, appeal) {
        if let Some(recipient) = appeal
            .contact
            .emails
            .iter()
            .find_map(|e| leadgate_domain::contact::Email::parse(e).ok())
            .map(|e| e.canonical())
        {
            let own = settings.mail.rules().own_match(&recipient).is_some();
            let since = now_ms() - i64::from(ack.min_interval_hours) * 3_600_000;
            let mut ack_vars = vars.clone();
            ack_vars.insert("contact_name", greeting_name.clone());
            if !own
                && !store
                    .mailed_recently(conn, &recipient, KIND_ACK, since)
                    .await?
                && under_hourly_cap(store, conn, ack.max_per_hour).await?
            {
                store
                    .enqueue_mail(
                        conn,
                        &OutgoingMail {
                            kind: KIND_ACK,
                            dedup_key: format!("ack:appeal:{}", appeal.id),
                            recipient,
                            recipient_name: appeal.contact.display_name().map(str::to_string),
                            subject: render(&ack.subject, &ack_vars),
                            body: render(&ack.body, &ack_vars),
                            message_id: new_message_id("ack", appeal.id, smtp),
                            in_reply_to: thread_parent.clone(),
                            appeal_id: Some(appeal.id),
                            interest_id: Some(interest_id),
                        },
                    )
                    .await?;
            }
        }
    }

    let notify = &settings.mail.manager_notification;
    let manager = interest
        .responsible
        .as_deref()
        .and_then(|l| settings.manager(l));
    if let Some(email) = notify
        .enabled
        .then_some(manager)
        .flatten()
        .and_then(|m| m.email.clone())
    {
        store
            .enqueue_mail(
                conn,
                &OutgoingMail {
                    kind: KIND_MANAGER,
                    dedup_key: format!("notify:appeal:{}", appeal.id),
                    recipient: email,
                    recipient_name: manager.map(|m| m.name.clone()),
                    subject: render(&notify.subject, &vars),
                    body: render(&notify.body, &vars),
                    message_id: new_message_id("notify", appeal.id, smtp),
                    in_reply_to: None,
                    appeal_id: Some(appeal.id),
                    interest_id: Some(interest_id),
                },
            )
            .await?;
    }
    Ok(())
}

/// The global cap: a flood of form posts with other people's addresses
/// must not turn us into a mail cannon, whatever the per-recipient rule says.
async fn under_hourly_cap(
    store: &Store,
    conn: &mut AnyConnection,
    max_per_hour: u32,
) -> Result<bool, StorageError> {
    let sent = store
        .mail_count_since(conn, KIND_ACK, now_ms() - 3_600_000)
        .await?;
    if sent >= i64::from(max_per_hour) {
        tracing::warn!(
            max_per_hour,
            "acknowledgement skipped: mail.acknowledgement.max_per_hour reached"
        );
        return Ok(false);
    }
    Ok(true)
}

/// Never answer machines (auto-replies, bounces, lists, our own mail): the
/// mail fetcher marks what may be answered; forms only when the address came
/// through a form that may be acknowledged; other channels may always be.
fn acknowledgement_allowed(settings: &MailOutbox, appeal: &Appeal) -> bool {
    let ack = &settings.mail.acknowledgement;
    if ack.skip_sources.iter().any(|s| s == &appeal.source) {
        return false;
    }
    if appeal.channel == leadgate_domain::appeal::Channel::Form
        && !settings.acknowledged_forms.contains(&appeal.source)
    {
        return false;
    }
    if let Some(mailbox) = settings.mail.mailbox_by_source(&appeal.source) {
        if !mailbox.acknowledge {
            return false;
        }
    }
    match appeal.attributes.get("mail_auto_answer") {
        Some(v) => v.as_bool() == Some(true),
        None => appeal.channel != leadgate_domain::appeal::Channel::Mail,
    }
}

/// Queues a reminder mail to the task's assignee, inside the caller's
/// transaction; once per (task, due time). False when nothing was queued
/// (no SMTP, no e-mail for the assignee, already queued).
pub async fn enqueue_task_reminder(
    store: &Store,
    conn: &mut AnyConnection,
    settings: &MailOutbox,
    task: &TaskReminder,
) -> Result<bool, StorageError> {
    let Some(smtp) = &settings.mail.smtp else {
        return Ok(false);
    };
    let template = &settings.mail.task_reminder;
    let manager = task
        .assignee_login
        .as_deref()
        .and_then(|l| settings.manager(l));
    let Some(email) = manager.and_then(|m| m.email.clone()) else {
        return Ok(false);
    };
    if !template.enabled {
        return Ok(false);
    }
    let mut vars: BTreeMap<&str, String> = BTreeMap::new();
    vars.insert("task_title", task.title.clone());
    vars.insert(
        "task_due",
        task.due_at
            .map(|d| {
                d.with_timezone(&settings.core.calendar.tz())
                    .format("%d.%m.%Y %H:%M")
                    .to_string()
            })
            .unwrap_or_else(|| "не задан".into()),
    );
    vars.insert("interest_id", task.interest_id.to_string());
    vars.insert("client_name", task.client_name.clone().unwrap_or_default());
    manager_vars(settings, task.assignee_login.as_deref(), &mut vars);
    store
        .enqueue_mail(
            conn,
            &OutgoingMail {
                kind: KIND_REMINDER,
                dedup_key: format!(
                    "reminder:task:{}:{}",
                    task.task_id,
                    task.due_at.map(|d| d.timestamp()).unwrap_or(0)
                ),
                recipient: email,
                recipient_name: manager.map(|m| m.name.clone()),
                subject: render(&template.subject, &vars),
                body: render(&template.body, &vars),
                message_id: new_message_id("reminder", task.task_id, smtp),
                in_reply_to: None,
                appeal_id: None,
                interest_id: Some(task.interest_id),
            },
        )
        .await
}

pub const KIND_REPLY: &str = "reply";

/// A letter a manager writes to the client from the interest card.
pub struct ManagerLetter<'a> {
    pub interest_id: i64,
    /// The letter it answers, if the client wrote one: the reply is
    /// threaded under it (`In-Reply-To`, `References`) and names the
    /// recipient as the letter did.
    pub parent: Option<&'a Appeal>,
    pub recipient: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    pub author: &'a str,
}

/// Queues the manager's letter and records it in the interest's feed, in one
/// transaction; `Ok(false)` when no SMTP server is configured. The sender
/// task delivers it like every other outgoing mail.
pub async fn enqueue_manager_letter(
    store: &Store,
    mail: &MailSettings,
    letter: &ManagerLetter<'_>,
) -> Result<bool, StorageError> {
    let Some(smtp) = &mail.smtp else {
        return Ok(false);
    };
    let in_reply_to = letter
        .parent
        .and_then(|a| attr_str(a, "message_id"))
        .map(|m| m.trim().trim_matches(['<', '>']).to_owned())
        .filter(|m| !m.is_empty());
    let appeal_id = letter.parent.map(|a| a.id);
    let recipient_name = letter
        .parent
        .and_then(|a| a.contact.display_name())
        .map(str::to_owned);
    let nonce: u64 = rand::thread_rng().gen();
    let message_id = new_message_id("reply", letter.interest_id, smtp);
    let mut tx = store.begin_write().await?;
    store
        .enqueue_mail(
            tx.conn(),
            &OutgoingMail {
                kind: KIND_REPLY,
                dedup_key: format!("reply:interest:{}:{nonce:016x}", letter.interest_id),
                recipient: letter.recipient.to_owned(),
                recipient_name,
                subject: letter.subject.to_owned(),
                body: letter.body.to_owned(),
                message_id: message_id.clone(),
                in_reply_to: in_reply_to.clone(),
                appeal_id,
                interest_id: Some(letter.interest_id),
            },
        )
        .await?;
    store
        .add_feed_entry(
            tx.conn(),
            &leadgate_store::NewFeedEntry {
                interest_id: letter.interest_id,
                kind: "mail_out",
                actor: Some(letter.author),
                summary: format!("Письмо клиенту ({}): {}", letter.recipient, letter.subject),
                data: serde_json::json!({
                    "recipient": letter.recipient,
                    "subject": letter.subject,
                    "text": letter.body,
                    "message_id": message_id,
                    "in_reply_to": in_reply_to,
                }),
                appeal_id,
            },
        )
        .await?;
    tx.commit().await?;
    Ok(true)
}

/// Marks our mail as automatic (RFC 3834) so that well-behaved
/// autoresponders on the other side do not answer it.
#[derive(Clone)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted)
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-replied".into())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("cannot build the message: {0}")]
    Build(String),
    #[error("SMTP: {0}")]
    Smtp(String),
    #[error("SMTP refused it permanently: {0}")]
    Permanent(String),
    #[error("SMTP timed out")]
    Timeout,
}

type Transport = AsyncSmtpTransport<Tokio1Executor>;

fn transport(smtp: &SmtpSettings) -> Result<Transport, SendError> {
    let builder = match smtp.tls {
        MailTls::Implicit => Transport::relay(&smtp.host),
        MailTls::Starttls => Transport::starttls_relay(&smtp.host),
        MailTls::Plain => Ok(Transport::builder_dangerous(&smtp.host)),
    }
    .map_err(|e| SendError::Build(e.to_string()))?
    .port(smtp.port())
    .timeout(Some(SEND_TIMEOUT));
    let builder = match (&smtp.login, &smtp.password) {
        (Some(l), Some(p)) => builder.credentials(Credentials::new(l.clone(), p.expose().into())),
        _ => builder,
    };
    Ok(builder.build())
}

fn build_message(smtp: &SmtpSettings, mail: &OutboxMail) -> Result<Message, SendError> {
    let bad = |e: &dyn std::fmt::Display| SendError::Build(e.to_string());
    let from = Mailbox::new(
        smtp.from_name.clone(),
        smtp.from.parse().map_err(|e| bad(&e))?,
    );
    let to = Mailbox::new(
        mail.recipient_name.clone(),
        mail.recipient.parse().map_err(|e| bad(&e))?,
    );
    let mut builder = Message::builder()
        .from(from)
        .to(to)
        .subject(mail.subject.clone())
        .message_id(Some(format!("<{}>", mail.message_id)))
        .header(ContentType::TEXT_PLAIN);
    // A manager's own letter is not an automatic one.
    if mail.kind != KIND_REPLY {
        builder = builder.header(AutoSubmitted);
    }
    if let Some(parent) = &mail.in_reply_to {
        builder = builder
            .in_reply_to(format!("<{parent}>"))
            .references(format!("<{parent}>"));
    }
    builder.body(mail.body.clone()).map_err(|e| bad(&e))
}

async fn send_one(
    transport: &Transport,
    smtp: &SmtpSettings,
    mail: &OutboxMail,
) -> Result<(), SendError> {
    let message = build_message(smtp, mail)?;
    match tokio::time::timeout(SEND_TIMEOUT, transport.send(message)).await {
        Err(_) => Err(SendError::Timeout),
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
        Ok(Err(e)) => Err(SendError::Smtp(e.to_string())),
    }
}

/// Delivers the outbox until `shutdown`. Each message is marked sent right
/// after the server accepted it; retries back off exponentially with jitter.
pub async fn run_sender(
    store: Store,
    settings: Arc<crate::SourcesSettings>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    beat: Heartbeat,
) {
    let Some(smtp) = settings.mail.smtp.clone() else {
        return;
    };
    let transport = match transport(&smtp) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "mail.smtp: cannot set up the SMTP transport; nothing will be sent");
            return;
        }
    };
    let pause = Duration::from_millis(1000 / u64::from(smtp.max_per_second.max(1)));
    let mut sent_total = 0u64;
    let mut failed_total = 0u64;
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        beat.beat();
        let due = match claim_next(&store).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "outbox: cannot read due mail");
                None
            }
        };
        let idle = due.is_none();
        if let Some(mail) = due {
            let result = send_one(&transport, &smtp, &mail).await;
            let attempts = mail.attempts + 1;
            let recorded = match &result {
                Ok(()) => {
                    sent_total += 1;
                    tracing::info!(outbox_id = mail.id, kind = %mail.kind, message_id = %mail.message_id, "mail sent");
                    store.mail_sent(mail.id).await
                }
                Err(e) => {
                    let give_up = matches!(e, SendError::Build(_) | SendError::Permanent(_))
                        || attempts >= MAX_ATTEMPTS;
                    let retry_at = (!give_up).then(|| now_ms() + backoff_ms(attempts));
                    if give_up {
                        failed_total += 1;
                    }
                    tracing::warn!(outbox_id = mail.id, kind = %mail.kind, attempts, give_up, error = %e, "mail not sent");
                    store.mail_failed(mail.id, &e.to_string(), retry_at).await
                }
            };
            if let Err(e) = recorded {
                // The lease makes it due again later: a rare second copy is
                // better than a lost acknowledgement.
                tracing::error!(outbox_id = mail.id, error = %e, "outbox: cannot record the result");
            }
            metrics.set_gauge("leadgate_mail_outbox_sent_total".into(), sent_total as f64);
            metrics.set_gauge(
                "leadgate_mail_outbox_failed_total".into(),
                failed_total as f64,
            );
            if beat.sleep_or_stop(&shutdown, pause).await {
                return;
            }
        }
        if idle
            && beat
                .sleep_or_stop(&shutdown, Duration::from_millis(500))
                .await
        {
            break;
        }
    }
}

/// 10 s, 20 s, 40 s, … up to an hour, plus up to 20 % jitter.
pub(crate) fn backoff_ms(attempt: i64) -> i64 {
    let base = 10_000i64.saturating_mul(1i64 << attempt.clamp(0, 20).saturating_sub(1));
    let base = base.min(3_600_000);
    base + rand::thread_rng().gen_range(0..=base / 5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_fills_known_and_keeps_unknown_placeholders() {
        let mut vars = BTreeMap::new();
        vars.insert("appeal_id", "42".to_string());
        assert_eq!(render("№ {appeal_id} {nope} {", &vars), "№ 42 {nope} {");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff_ms(1) >= 10_000 && backoff_ms(1) <= 12_000);
        assert!(backoff_ms(3) >= 40_000);
        assert!(backoff_ms(30) <= 3_600_000 * 6 / 5);
    }
}
