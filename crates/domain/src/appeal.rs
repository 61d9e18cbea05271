//! Appeal (Обращение): one inbound contact from any channel, as it arrived.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::contact::{
    extract_phones, Email, Phone, PhoneError, Region, TelegramUserId, TelegramUsername, VkId,
    VkScreenName,
};
use crate::decision::AppealDecision;

/// Where an appeal came from. The `source` string narrows it down (which form,
/// which mailbox, which bot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Api,
    Form,
    Mail,
    Telegram,
    Vk,
    Phone,
}

impl Channel {
    pub const ALL: [Channel; 6] = [
        Channel::Api,
        Channel::Form,
        Channel::Mail,
        Channel::Telegram,
        Channel::Vk,
        Channel::Phone,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Api => "api",
            Channel::Form => "form",
            Channel::Mail => "mail",
            Channel::Telegram => "telegram",
            Channel::Vk => "vk",
            Channel::Phone => "phone",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AppealStatus {
    /// Stored, waiting for the pipeline.
    Pending,
    /// Joined an existing open interest.
    Linked,
    /// A new interest was created (for a new or a known client).
    Created,
    /// Waiting for an operator's decision.
    Review,
    Spam,
    Rejected,
    /// Processing failed repeatedly; parked for a human, never dropped.
    Failed,
}

impl AppealStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AppealStatus::Pending => "pending",
            AppealStatus::Linked => "linked",
            AppealStatus::Created => "created",
            AppealStatus::Review => "review",
            AppealStatus::Spam => "spam",
            AppealStatus::Rejected => "rejected",
            AppealStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<AppealStatus> {
        [
            AppealStatus::Pending,
            AppealStatus::Linked,
            AppealStatus::Created,
            AppealStatus::Review,
            AppealStatus::Spam,
            AppealStatus::Rejected,
            AppealStatus::Failed,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TelegramContact {
    #[serde(default)]
    pub id: Option<i64>,
    #[serde(default)]
    pub username: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VkContact {
    #[serde(default)]
    pub id: Option<i64>,
    #[serde(default)]
    pub screen_name: Option<String>,
}

/// The contact points exactly as the channel gave them. Normalisation happens in
/// the pipeline, so a value we cannot parse today is still here tomorrow.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactCard {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub phones: Vec<String>,
    #[serde(default)]
    pub emails: Vec<String>,
    #[serde(default)]
    pub telegram: Option<TelegramContact>,
    #[serde(default)]
    pub vk: Option<VkContact>,
    #[serde(default)]
    pub company: Option<String>,
}

fn present(s: &Option<String>) -> bool {
    s.as_deref().is_some_and(|v| !v.trim().is_empty())
}

impl ContactCard {
    /// No name and no contact point: nobody to call back.
    pub fn is_empty(&self) -> bool {
        let tg = self
            .telegram
            .as_ref()
            .is_some_and(|t| t.id.is_some() || present(&t.username));
        let vk = self
            .vk
            .as_ref()
            .is_some_and(|v| v.id.is_some() || present(&v.screen_name));
        !present(&self.name)
            && !present(&self.company)
            && self.phones.iter().all(|p| p.trim().is_empty())
            && self.emails.iter().all(|e| e.trim().is_empty())
            && !tg
            && !vk
    }

    pub fn display_name(&self) -> Option<&str> {
        self.name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AttachmentMeta {
    pub name: String,
    pub content_type: String,
    pub size: u64,
}

/// What the channel knows about the contact beyond "someone got in touch";
/// it decides what the pipeline's routing step does with a matched appeal.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Intent {
    /// A new inbound contact: linked to the client's open interest, or a new one.
    #[default]
    Lead,
    /// A message in an ongoing conversation (messenger, chat): while the
    /// client's open interest was active within the conversation window it
    /// becomes a feed entry of that interest (no new task); otherwise a lead.
    Message,
    /// A reply to something we know (a mail thread): straight into that
    /// interest's feed, whoever the sender turns out to be.
    Reply { interest_id: i64 },
    /// A telephone call (cloud PBX). Inbound calls are appeals like any other,
    /// except that a known client's call becomes an interaction in its open
    /// interest rather than a repeat appeal, and a missed one asks for a
    /// callback. Outbound calls never create a client.
    Call {
        direction: CallDirection,
        outcome: CallOutcome,
        #[serde(default)]
        duration_secs: Option<u32>,
        #[serde(default)]
        talk_secs: Option<u32>,
        /// The leadgate login of the employee who answered or placed the call,
        /// when the PBX user is mapped to one.
        #[serde(default)]
        employee: Option<String>,
        #[serde(default)]
        recording_url: Option<String>,
        /// The PBX's id of the call (also the appeal's external id).
        call_id: String,
    },
}

/// Direction of a call from our side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallDirection {
    /// The client called us.
    Inbound,
    /// We called the client.
    Outbound,
}

/// Whether anybody talked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    Missed,
    Answered,
}

/// What a channel hands to intake.
#[derive(Debug, Clone)]
pub struct NewAppeal {
    pub channel: Channel,
    pub source: String,
    pub external_id: String,
    pub received_at: DateTime<Utc>,
    pub contact: ContactCard,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub attachments: Vec<AttachmentMeta>,
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// The provider's payload as received, so nothing is lost if parsing was wrong.
    pub raw_payload: String,
    pub intent: Intent,
}

/// Attributes that leadgate's own channels set and later steps act on: who
/// owns a personal mailbox (routing), whether a mail may be answered, the
/// thread ids, the mailbox position, the PBX call. Input from outside (the
/// API, forms) must not carry them, or a caller could route an appeal to any
/// manager or make leadgate mail anybody.
pub const INTERNAL_ATTRIBUTES: &[&str] = &[
    "mail_owner",
    "mail_auto_answer",
    "mail_kind",
    "message_id",
    "in_reply_to",
    "mailbox",
    "folder",
    "uid",
    "uid_validity",
    "form_fields",
    "pbx_provider",
    "pbx_account",
    "call_id",
];

/// Removes [`INTERNAL_ATTRIBUTES`] from outside input; returns the keys it
/// removed, for the log.
pub fn strip_internal_attributes(
    attributes: &mut serde_json::Map<String, serde_json::Value>,
) -> Vec<String> {
    let mut removed = Vec::new();
    attributes.retain(|key, _| {
        let internal = INTERNAL_ATTRIBUTES
            .iter()
            .any(|reserved| key.trim().eq_ignore_ascii_case(reserved));
        if internal {
            removed.push(key.clone());
        }
        !internal
    });
    removed
}

/// The source an API caller names is stored under this prefix, so that the
/// API's idempotency keys `(source, external_id)` live in their own namespace
/// and a caller cannot claim a key a form, mailbox, bot or PBX will use.
pub const API_SOURCE_PREFIX: &str = "api:";

/// A stored appeal.
#[derive(Debug, Clone)]
pub struct Appeal {
    pub id: i64,
    pub channel: Channel,
    pub source: String,
    pub external_id: String,
    pub received_at: DateTime<Utc>,
    pub contact: ContactCard,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub attachments: Vec<AttachmentMeta>,
    pub attributes: serde_json::Map<String, serde_json::Value>,
    pub status: AppealStatus,
    pub client_id: Option<i64>,
    pub interest_id: Option<i64>,
    pub decision: Option<AppealDecision>,
    pub intent: Intent,
}

/// The kinds of contact point a client can be found by.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ContactKind {
    Phone,
    Email,
    TelegramId,
    TelegramUsername,
    VkId,
    VkScreenName,
}

impl ContactKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ContactKind::Phone => "phone",
            ContactKind::Email => "email",
            ContactKind::TelegramId => "telegram_id",
            ContactKind::TelegramUsername => "telegram_username",
            ContactKind::VkId => "vk_id",
            ContactKind::VkScreenName => "vk_screen_name",
        }
    }

    pub fn parse(s: &str) -> Option<ContactKind> {
        [
            ContactKind::Phone,
            ContactKind::Email,
            ContactKind::TelegramId,
            ContactKind::TelegramUsername,
            ContactKind::VkId,
            ContactKind::VkScreenName,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A normalised contact point: what the database indexes and matching compares.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContactKey {
    pub kind: ContactKind,
    pub value: String,
    /// The text as the person typed it, for the client card.
    pub raw: String,
}

/// A contact point that could not be normalised; kept and shown, never matched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RejectedPoint {
    pub field: String,
    pub raw: String,
    pub reason: String,
}

/// The contact card after normalisation.
#[derive(Debug, Clone, Default)]
pub struct NormalizedContact {
    pub keys: Vec<ContactKey>,
    pub rejected: Vec<RejectedPoint>,
}

/// Appeals carry at most this many points of one kind into matching; the rest are
/// kept in the stored card but do not make the work per appeal unbounded.
const MAX_POINTS_PER_KIND: usize = 20;

impl ContactCard {
    pub fn normalize(&self, region: Region) -> NormalizedContact {
        let mut out = NormalizedContact::default();
        for (i, raw) in self.phones.iter().take(MAX_POINTS_PER_KIND).enumerate() {
            if raw.trim().is_empty() {
                continue;
            }
            match Phone::parse(raw, region) {
                Ok(phone) => out.push(ContactKind::Phone, phone.e164().to_string(), raw),
                // People put two numbers in one field ("8 912 ..., 8 495 ...").
                Err(PhoneError::ExtraDigits) if !extract_phones(raw, region).is_empty() => {
                    for phone in extract_phones(raw, region) {
                        out.push(ContactKind::Phone, phone.e164().to_string(), phone.raw());
                    }
                }
                Err(e) => out.reject(format!("contact.phones[{i}]"), raw, e.to_string()),
            }
        }
        for (i, raw) in self.emails.iter().take(MAX_POINTS_PER_KIND).enumerate() {
            if raw.trim().is_empty() {
                continue;
            }
            match Email::parse(raw) {
                Ok(email) => out.push(ContactKind::Email, email.canonical(), raw),
                Err(e) => out.reject(format!("contact.emails[{i}]"), raw, e.to_string()),
            }
        }
        if let Some(tg) = &self.telegram {
            if let Some(id) = tg.id {
                match TelegramUserId::parse_str(&id.to_string()) {
                    Ok(id) => out.push(ContactKind::TelegramId, id.to_string(), &id.to_string()),
                    Err(e) => {
                        out.reject("contact.telegram.id".into(), &id.to_string(), e.to_string())
                    }
                }
            }
            if let Some(raw) = tg.username.as_deref().filter(|u| !u.trim().is_empty()) {
                match TelegramUsername::parse(raw) {
                    Ok(u) => out.push(ContactKind::TelegramUsername, u.as_str().to_string(), raw),
                    Err(e) => out.reject("contact.telegram.username".into(), raw, e.to_string()),
                }
            }
        }
        if let Some(vk) = &self.vk {
            if let Some(id) = vk.id {
                match VkId::parse(&id.to_string()) {
                    Ok(id) => out.push(
                        ContactKind::VkId,
                        id.get().to_string(),
                        &id.get().to_string(),
                    ),
                    Err(e) => out.reject("contact.vk.id".into(), &id.to_string(), e.to_string()),
                }
            }
            if let Some(raw) = vk.screen_name.as_deref().filter(|s| !s.trim().is_empty()) {
                match VkScreenName::parse(raw) {
                    Ok(s) => out.push(ContactKind::VkScreenName, s.as_str().to_string(), raw),
                    Err(e) => out.reject("contact.vk.screen_name".into(), raw, e.to_string()),
                }
            }
        }
        out
    }
}

impl NormalizedContact {
    fn push(&mut self, kind: ContactKind, value: String, raw: &str) {
        if !self.keys.iter().any(|k| k.kind == kind && k.value == value) {
            self.keys.push(ContactKey {
                kind,
                value,
                raw: raw.trim().to_string(),
            });
        }
    }

    fn reject(&mut self, field: String, raw: &str, reason: String) {
        self.rejected.push(RejectedPoint {
            field,
            raw: raw.to_string(),
            reason,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_numbers_in_one_field_become_several_keys() {
        let card = ContactCard {
            phones: vec!["8 912 345-67-89, 8 (495) 123-45-67".into(), "нет".into()],
            ..ContactCard::default()
        };
        let n = card.normalize(Region::Ru);
        let values: Vec<&str> = n.keys.iter().map(|k| k.value.as_str()).collect();
        assert_eq!(values, ["+79123456789", "+74951234567"]);
        assert_eq!(n.rejected.len(), 1);
        assert_eq!(n.rejected[0].field, "contact.phones[1]");
    }

    #[test]
    fn internal_attributes_are_stripped_whatever_their_case() {
        let mut attributes = serde_json::Map::new();
        for key in ["mail_owner", "Mail_Auto_Answer", "message_id", "utm_source"] {
            attributes.insert(key.into(), serde_json::json!("x"));
        }
        let mut removed = strip_internal_attributes(&mut attributes);
        removed.sort();
        assert_eq!(removed, ["Mail_Auto_Answer", "mail_owner", "message_id"]);
        assert_eq!(attributes.keys().collect::<Vec<_>>(), ["utm_source"]);
    }

    #[test]
    fn an_empty_card_is_empty_and_a_company_alone_is_not() {
        assert!(ContactCard::default().is_empty());
        let card = ContactCard {
            company: Some("ООО Ромашка".into()),
            ..ContactCard::default()
        };
        assert!(!card.is_empty());
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DecisionView {
    pub kind: crate::dedup::DecisionKind,
    pub matched_on: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AppealView {
    pub id: i64,
    pub status: AppealStatus,
    pub channel: Channel,
    pub source: String,
    pub external_id: String,
    pub received_at: DateTime<Utc>,
    pub client_id: Option<i64>,
    pub interest_id: Option<i64>,
    pub decision: Option<DecisionView>,
    pub contact: ContactCard,
    pub subject: Option<String>,
    pub text: Option<String>,
    #[schema(value_type = Object)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

impl From<Appeal> for AppealView {
    fn from(appeal: Appeal) -> Self {
        // A mail rejection has no matcher's verdict to show.
        let decision = match appeal.decision {
            Some(AppealDecision::Decided(d)) => Some(DecisionView {
                kind: d.kind,
                matched_on: d.matched_on,
                score: d.score.flatten(),
            }),
            Some(AppealDecision::NotALead(_)) | None => None,
        };
        AppealView {
            id: appeal.id,
            status: appeal.status,
            channel: appeal.channel,
            source: appeal.source,
            external_id: appeal.external_id,
            received_at: appeal.received_at,
            client_id: appeal.client_id,
            interest_id: appeal.interest_id,
            decision,
            contact: appeal.contact,
            subject: appeal.subject,
            text: appeal.text,
            attributes: appeal.attributes,
        }
    }
}
