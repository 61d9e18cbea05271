//! The `[mail]` configuration section: mailboxes read over IMAP, the rules
//! that tell leads from machines, and outgoing mail (SMTP, templates).

use std::collections::HashSet;

use serde::Deserialize;

use super::message::{FormSenderRule, MailRules, DEFAULT_MAX_MESSAGE_BYTES};
use leadgate_domain::config::Secret;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct MailSettings {
    pub mailboxes: Vec<MailboxSettings>,
    /// Our own addresses: mail from them is never a lead and never answered.
    pub own_addresses: Vec<String>,
    pub own_domains: Vec<String>,
    /// Website form robots whose notifications carry the lead in the body.
    pub form_senders: Vec<FormSenderRule>,
    /// Larger messages still become appeals, made from their header alone
    /// (the body is not fetched); the appeal notes the real size.
    pub max_message_bytes: usize,
    /// What one fetch-and-commit batch of a mailbox may bring into memory
    /// at most, by the sizes the server reports (a single message larger
    /// than this is a batch of its own).
    pub fetch_batch_bytes: usize,
    /// Outgoing mail; without it nothing is sent (and nothing is queued).
    pub smtp: Option<SmtpSettings>,
    pub acknowledgement: AcknowledgementSettings,
    pub manager_notification: ManagerNotificationSettings,
    pub task_reminder: TaskReminderSettings,
}

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            mailboxes: Vec::new(),
            own_addresses: Vec::new(),
            own_domains: Vec::new(),
            form_senders: Vec::new(),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            fetch_batch_bytes: 8 * 1024 * 1024,
            smtp: None,
            acknowledgement: AcknowledgementSettings::default(),
            manager_notification: ManagerNotificationSettings::default(),
            task_reminder: TaskReminderSettings::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum MailTls {
    /// TLS from the first byte (IMAP 993, SMTP 465).
    #[default]
    Implicit,
    /// Plain connection upgraded with STARTTLS (IMAP 143, SMTP 587).
    Starttls,
    /// No encryption: only with `allow_plain = true` (loopback tests, a local relay).
    Plain,
}

/// What is done to a message on the server once its appeal is stored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum AfterAction {
    Leave,
    Seen,
    Keyword(String),
    Move(String),
}

impl TryFrom<String> for AfterAction {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        let v = value.trim();
        if v == "leave" {
            return Ok(AfterAction::Leave);
        }
        if v == "seen" {
            return Ok(AfterAction::Seen);
        }
        if let Some(kw) = v.strip_prefix("keyword:") {
            // An IMAP atom: no spaces, parentheses, quotes or wildcards.
            let ok = !kw.is_empty()
                && kw
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && !b"(){%*\"\\]".contains(&b) && b != b'\\');
            return if ok {
                Ok(AfterAction::Keyword(kw.to_string()))
            } else {
                Err(format!("`{kw}` is not a valid IMAP keyword"))
            };
        }
        if let Some(folder) = v.strip_prefix("move:") {
            return if folder.trim().is_empty() || folder.contains(['"', '\r', '\n']) {
                Err("move: needs a folder name".into())
            } else {
                Ok(AfterAction::Move(folder.trim().to_string()))
            };
        }
        Err(format!(
            "`{v}`: expected \"leave\", \"seen\", \"keyword:<kw>\" or \"move:<folder>\""
        ))
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct MailboxSettings {
    /// Short name: the appeal's source is `mail:<name>`.
    pub name: String,
    pub host: String,
    /// Defaults to 993 for implicit TLS, 143 otherwise.
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: MailTls,
    #[serde(default)]
    pub allow_plain: bool,
    /// A PEM file with the certificates to trust for this server instead
    /// of the public web roots (a company CA, a self-signed server).
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    pub login: String,
    pub password: Secret,
    #[serde(default = "default_folders")]
    pub folders: Vec<String>,
    #[serde(default = "default_after")]
    pub after: AfterAction,
    /// Login of the manager whose personal box this is: new interests from it
    /// are theirs. A shared box (no owner) goes through the usual routing.
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default = "default_true")]
    pub idle: bool,
    #[serde(default = "default_poll")]
    pub poll_interval_secs: u64,
    /// Send the acknowledgement to leads from this mailbox.
    #[serde(default = "default_true")]
    pub acknowledge: bool,
}

impl MailboxSettings {
    pub fn source(&self) -> String {
        format!("mail:{}", self.name)
    }
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            MailTls::Implicit => 993,
            _ => 143,
        })
    }
}

fn default_folders() -> Vec<String> {
    vec!["INBOX".into()]
}
fn default_after() -> AfterAction {
    AfterAction::Leave
}
fn default_true() -> bool {
    true
}
fn default_poll() -> u64 {
    60
}

#[derive(Debug, Clone, Deserialize)]
pub struct SmtpSettings {
    pub host: String,
    /// Defaults to 465 for implicit TLS, 587 for STARTTLS, 25 for plain.
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: MailTls,
    #[serde(default)]
    pub allow_plain: bool,
    #[serde(default)]
    pub login: Option<String>,
    #[serde(default)]
    pub password: Option<Secret>,
    /// The sender address of everything leadgate mails.
    pub from: String,
    #[serde(default)]
    pub from_name: Option<String>,
    /// Messages sent per second at most (all recipients together).
    #[serde(default = "default_rate")]
    pub max_per_second: u32,
}

impl SmtpSettings {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            MailTls::Implicit => 465,
            MailTls::Starttls => 587,
            MailTls::Plain => 25,
        })
    }
}

fn default_rate() -> u32 {
    5
}

/// "Ваше обращение № … принято": sent to the person who wrote.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AcknowledgementSettings {
    pub enabled: bool,
    /// Appeal sources that never get one (`site`, `mail:support`, ...).
    pub skip_sources: Vec<String>,
    /// One acknowledgement per recipient within this many hours at most.
    pub min_interval_hours: u32,
    /// At most this many acknowledgements (to anyone) in any hour, across
    /// instances; beyond it they are skipped and counted, not queued.
    pub max_per_hour: u32,
    pub subject: String,
    pub body: String,
}

impl Default for AcknowledgementSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            skip_sources: Vec::new(),
            min_interval_hours: 24,
            max_per_hour: 100,
            subject: "Ваше обращение № {appeal_id} принято".into(),
            body: "Здравствуйте{contact_name_comma}!\n\n\
                   Ваше обращение № {appeal_id} принято. Менеджер {manager_name} свяжется с вами \
                   в ближайшее время.\n\n{manager_signature}"
                .into(),
        }
    }
}

/// Sent to the responsible manager about a new or a linked interest.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ManagerNotificationSettings {
    pub enabled: bool,
    pub subject: String,
    pub body: String,
}

impl Default for ManagerNotificationSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            subject: "{event}: {client_name} (интерес № {interest_id})".into(),
            body: "{event}.\n\nКлиент: {client_name}\nКонтакт: {contact_name}\n\
                   Канал: {channel} ({source})\nОбращение № {appeal_id}: {appeal_subject}\n\n\
                   {appeal_text}\n"
                .into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct TaskReminderSettings {
    pub enabled: bool,
    pub subject: String,
    pub body: String,
}

impl Default for TaskReminderSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            subject: "Напоминание: {task_title}".into(),
            body: "Задача «{task_title}» по интересу № {interest_id} ({client_name}) \
                   — срок {task_due}.\n"
                .into(),
        }
    }
}

impl MailSettings {
    pub fn rules(&self) -> MailRules {
        MailRules {
            own_addresses: self.own_addresses.clone(),
            own_domains: self.own_domains.clone(),
            form_senders: self.form_senders.clone(),
            max_message_bytes: self.max_message_bytes,
        }
    }

    pub fn mailbox_by_source(&self, source: &str) -> Option<&MailboxSettings> {
        self.mailboxes.iter().find(|m| m.source() == source)
    }

    /// Problems as (key path, message).
    pub fn check(&self, manager_logins: &HashSet<&str>) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut push = |k: String, m: &str| out.push((k, m.to_string()));
        if let Err(e) = self.rules().validate() {
            let key = match &e {
                super::message::MailRulesError::OwnAddress { index, .. } => {
                    format!("mail.own_addresses[{index}]")
                }
                super::message::MailRulesError::OwnDomain { index, .. } => {
                    format!("mail.own_domains[{index}]")
                }
                super::message::MailRulesError::FormSender { index, .. } => {
                    format!("mail.form_senders[{index}].from")
                }
            };
            push(key, &e.to_string());
        }
        if self.max_message_bytes < 1024 {
            push("mail.max_message_bytes".into(), "must be at least 1024");
        }
        if self.fetch_batch_bytes < 64 * 1024 {
            push("mail.fetch_batch_bytes".into(), "must be at least 65536");
        }
        let mut names = HashSet::new();
        for (i, m) in self.mailboxes.iter().enumerate() {
            let key = |k: &str| format!("mail.mailboxes[{i}].{k}");
            if m.name.is_empty()
                || !m
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                push(key("name"), "must be letters, digits, `-` or `_`");
            }
            if !names.insert(m.name.as_str()) {
                push(key("name"), "duplicate mailbox name");
            }
            if m.host.trim().is_empty() {
                push(key("host"), "must not be empty");
            }
            if m.login.trim().is_empty() {
                push(key("login"), "must not be empty");
            }
            if m.tls == MailTls::Plain && !m.allow_plain {
                push(
                    key("tls"),
                    "\"plain\" sends the password unencrypted; set allow_plain = true to allow it",
                );
            }
            if let Some(ca) = &m.ca_file {
                if m.tls == MailTls::Plain {
                    push(key("ca_file"), "is for tls = \"implicit\" or \"starttls\"");
                } else if !ca.is_file() {
                    push(key("ca_file"), "is not a readable file");
                }
            }
            if m.folders.is_empty() {
                push(key("folders"), "must list at least one folder");
            }
            for (j, f) in m.folders.iter().enumerate() {
                if f.trim().is_empty() || f.contains(['"', '\r', '\n']) {
                    push(
                        format!("mail.mailboxes[{i}].folders[{j}]"),
                        "invalid folder",
                    );
                }
            }
            if let Some(owner) = &m.owner {
                if !manager_logins.contains(owner.as_str()) {
                    push(key("owner"), "is not in [[managers]]");
                }
            }
            if m.poll_interval_secs == 0 {
                push(key("poll_interval_secs"), "must be at least 1");
            }
        }
        if let Some(smtp) = &self.smtp {
            if smtp.host.trim().is_empty() {
                push("mail.smtp.host".into(), "must not be empty");
            }
            if smtp.tls == MailTls::Plain && !smtp.allow_plain {
                push(
                    "mail.smtp.tls".into(),
                    "\"plain\" is unencrypted; set allow_plain = true to allow it",
                );
            }
            if leadgate_domain::contact::Email::parse(&smtp.from).is_err() {
                push("mail.smtp.from".into(), "is not an e-mail address");
            }
            if smtp.login.is_some() != smtp.password.is_some() {
                push(
                    "mail.smtp.password".into(),
                    "give both login and password, or neither",
                );
            }
            if smtp.max_per_second == 0 {
                push("mail.smtp.max_per_second".into(), "must be at least 1");
            }
        }
        out
    }
}
