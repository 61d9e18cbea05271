//! One fetched message → what intake stores: an appeal for a lead (or a
//! reply in a known thread), a kept-but-rejected appeal for everything else.

use base64::Engine;
use chrono::Utc;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::message::{parse_message, InboundMail, MailKind, MailRules};
use super::settings::MailboxSettings;
use leadgate_domain::appeal::{
    AppealStatus, AttachmentMeta, Channel, ContactCard, Intent, NewAppeal,
};
use leadgate_domain::decision::{NotALead, RejectionReason};
use leadgate_store::{MailItem, StorageError, Store};

pub struct Fetched<'a> {
    pub folder: &'a str,
    pub uid: u32,
    pub uid_validity: u32,
    /// The message as fetched (a prefix of it when oversize).
    pub raw: &'a [u8],
    /// The size the server reported.
    pub size: usize,
}

/// The raw message as stored: text when it is clean UTF-8, base64 otherwise
/// (8-bit headers, NUL bytes), so nothing is lost to a lossy conversion.
fn raw_payload(mailbox: &MailboxSettings, f: &Fetched<'_>, rules: &MailRules) -> String {
    let cut = f.raw.len().min(rules.max_message_bytes);
    let raw = &f.raw[..cut];
    let mut envelope = json!({
        "mailbox": mailbox.name,
        "folder": f.folder,
        "uid": f.uid,
        "uid_validity": f.uid_validity,
        "size": f.size,
        "truncated": cut < f.size,
    });
    match std::str::from_utf8(raw) {
        Ok(text) if !text.contains('\0') => envelope["raw"] = json!(text),
        _ => envelope["raw_base64"] = json!(base64::engine::general_purpose::STANDARD.encode(raw)),
    }
    envelope.to_string()
}

pub async fn to_item(
    store: &Store,
    mailbox: &MailboxSettings,
    rules: &MailRules,
    f: Fetched<'_>,
) -> Result<MailItem, StorageError> {
    let mut attributes = Map::new();
    attributes.insert("mailbox".into(), json!(mailbox.name));
    attributes.insert("folder".into(), json!(f.folder));
    attributes.insert("uid".into(), json!(f.uid));
    attributes.insert("uid_validity".into(), json!(f.uid_validity));
    attributes.insert("size".into(), json!(f.size));
    if f.size > rules.max_message_bytes {
        // Only the header was fetched (see `imap::take_chunk`).
        attributes.insert("body_omitted".into(), json!(true));
    }
    if let Some(owner) = &mailbox.owner {
        attributes.insert("mail_owner".into(), json!(owner));
    }
    let payload = raw_payload(mailbox, &f, rules);
    let mut mail = match parse_message(f.raw, rules) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(mailbox = %mailbox.name, folder = f.folder, uid = f.uid, error = %e,
                "mail could not be parsed; kept as a rejected appeal");
            attributes.insert("mail_kind".into(), json!("unparsed"));
            attributes.insert("mail_auto_answer".into(), json!(false));
            let digest = hex::encode(Sha256::digest(f.raw));
            return Ok(MailItem {
                appeal: NewAppeal {
                    channel: Channel::Mail,
                    source: mailbox.source(),
                    external_id: format!("{}:{digest}", f.folder),
                    received_at: Utc::now(),
                    contact: ContactCard::default(),
                    subject: None,
                    text: None,
                    attachments: Vec::new(),
                    attributes,
                    raw_payload: payload,
                    intent: Intent::Lead,
                },
                status: AppealStatus::Rejected,
                decision: Some(
                    NotALead::new("unparsed", Some(RejectionReason::Text(e.to_string()))).into(),
                ),
                message_id: None,
            });
        }
    };
    // The server's size wins: for an oversize message we parsed a prefix.
    if f.size > mail.size {
        mail.size = f.size;
        mail.oversize = f.size > rules.max_message_bytes;
    }
    let thread_ids: Vec<String> = mail
        .references
        .iter()
        .chain(mail.in_reply_to.iter())
        .cloned()
        .collect();
    let thread = if mail.kind.is_lead() {
        store.mail_thread_interest(&thread_ids).await?
    } else {
        None
    };
    Ok(build(mailbox, f, mail, attributes, payload, thread))
}

fn build(
    mailbox: &MailboxSettings,
    f: Fetched<'_>,
    mail: InboundMail,
    mut attributes: Map<String, Value>,
    raw_payload: String,
    thread: Option<i64>,
) -> MailItem {
    attributes.insert("mail_kind".into(), json!(mail.kind.as_str()));
    attributes.insert("message_id".into(), json!(mail.message_id));
    if let Some(r) = &mail.in_reply_to {
        attributes.insert("in_reply_to".into(), json!(r));
    }
    if mail.oversize {
        attributes.insert("oversize".into(), json!(true));
    }
    if mail.body.truncated {
        attributes.insert("text_truncated".into(), json!(true));
    }
    attributes.insert("body_source".into(), json!(mail.body.source));
    attributes.insert("recipients_count".into(), json!(mail.recipients_count));
    attributes.insert("contact_source".into(), json!(mail.contact.source));
    if let Some(reason) = mail.kind.reason() {
        attributes.insert("kind_reason".into(), json!(reason));
    }
    attributes.insert(
        "mail_auto_answer".into(),
        json!(mail.kind.may_auto_answer()),
    );
    if mail.attachments_count > mail.attachments.len() {
        attributes.insert("attachments_count".into(), json!(mail.attachments_count));
    }

    let mut contact = ContactCard {
        name: mail
            .contact
            .name
            .clone()
            .or_else(|| mail.contact.signature_name.clone()),
        phones: mail.contact.phones_text.clone(),
        emails: mail.contact.email.iter().cloned().collect(),
        ..ContactCard::default()
    };
    let mut text = mail.body.new_text.clone();
    if let MailKind::FormNotification { submission, .. } = &mail.kind {
        contact.company = submission.company.clone();
        contact.emails = submission.emails.clone();
        if contact.emails.is_empty() {
            contact.emails.extend(mail.contact.email.iter().cloned());
        }
        if let Some(comment) = &submission.comment {
            text = comment.clone();
        }
        let fields: Map<String, Value> = submission
            .fields
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        attributes.insert("form_fields".into(), Value::Object(fields));
        for (k, v) in submission.utm() {
            attributes.insert(k.to_string(), json!(v));
        }
    }
    let attachments = mail
        .attachments
        .iter()
        .filter(|a| !a.inline)
        .map(|a| AttachmentMeta {
            name: a.name.clone().unwrap_or_else(|| "(без имени)".into()),
            content_type: a.content_type.clone(),
            size: a.size as u64,
        })
        .collect();
    let now = Utc::now();
    let received_at = mail.date.filter(|d| *d <= now).unwrap_or(now);
    let (status, decision) = if mail.kind.is_lead() {
        (AppealStatus::Pending, None)
    } else {
        (
            AppealStatus::Rejected,
            Some(
                NotALead::new(
                    mail.kind.as_str(),
                    mail.kind.reason().cloned().map(RejectionReason::Header),
                )
                .into(),
            ),
        )
    };
    MailItem {
        appeal: NewAppeal {
            channel: Channel::Mail,
            source: mailbox.source(),
            external_id: format!("{}:{}", f.folder, mail.message_id),
            received_at,
            contact,
            subject: Some(mail.subject.clone()).filter(|s| !s.trim().is_empty()),
            text: Some(text).filter(|t| !t.trim().is_empty()),
            attachments,
            attributes,
            raw_payload,
            intent: match thread {
                Some(interest_id) => Intent::Reply { interest_id },
                None => Intent::Lead,
            },
        },
        status,
        decision,
        message_id: Some(mail.message_id),
    }
}
