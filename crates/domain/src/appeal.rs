//! Appeal (Обращение): one inbound contact from any channel, as it arrived.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::contact::{
    extract_emails, extract_phones, Email, Phone, Region, TelegramUserId, TelegramUsername, VkId,
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
    /// The company's ИНН (10 digits) or a sole trader's (12), when the
    /// channel knows it; a strong company key in matching. Spaces and
    /// dashes between the groups are ignored; the check digits must hold,
    /// or `POST /api/v1/appeals` answers 422 naming `contact.inn` (a site
    /// form's wrong one is dropped instead, with the reason in the
    /// decision's `rejected_contact_points`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "7707083893")]
    pub inn: Option<String>,
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
    /// Bytes; at most `i64::MAX`, as both databases store it.
    #[schema(maximum = 9_223_372_036_854_775_807_u64)]
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

impl NewAppeal {
    /// Removes NUL characters from every text the appeal carries. PostgreSQL
    /// refuses `\0` in text, so one such post would fail its whole group
    /// commit; SQLite would keep it and every reader would trip on it later.
    /// Both backends store the same cleaned text. True when anything changed.
    pub fn strip_nul(&mut self) -> bool {
        let mut changed = false;
        let mut fix = |s: &mut String| {
            if s.contains('\0') {
                s.retain(|c| c != '\0');
                changed = true;
            }
        };
        fix(&mut self.source);
        fix(&mut self.external_id);
        fix(&mut self.raw_payload);
        let c = &mut self.contact;
        for s in [
            &mut c.name,
            &mut c.company,
            &mut self.subject,
            &mut self.text,
        ]
        .into_iter()
        .flatten()
        {
            fix(s);
        }
        c.phones
            .iter_mut()
            .chain(c.emails.iter_mut())
            .for_each(&mut fix);
        if let Some(s) = c.telegram.as_mut().and_then(|t| t.username.as_mut()) {
            fix(s);
        }
        if let Some(s) = c.vk.as_mut().and_then(|v| v.screen_name.as_mut()) {
            fix(s);
        }
        for a in &mut self.attachments {
            fix(&mut a.name);
            fix(&mut a.content_type);
        }
        strip_nul_map(&mut self.attributes, &mut fix);
        changed
    }
}

fn strip_nul_map(
    map: &mut serde_json::Map<String, serde_json::Value>,
    fix: &mut impl FnMut(&mut String),
) {
    if map.keys().any(|k| k.contains('\0')) {
        *map = std::mem::take(map)
            .into_iter()
            .map(|(mut k, v)| {
                fix(&mut k);
                (k, v)
            })
            .collect();
    }
    for v in map.values_mut() {
        strip_nul_value(v, fix);
    }
}

fn strip_nul_value(value: &mut serde_json::Value, fix: &mut impl FnMut(&mut String)) {
    match value {
        serde_json::Value::String(s) => fix(s),
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| strip_nul_value(v, fix)),
        serde_json::Value::Object(map) => strip_nul_map(map, fix),
        _ => {}
    }
}

impl NewAppeal {
    /// Whether the appeal waits for a manager (speed to lead counts it):
    /// everything but our own outbound calls.
    pub fn counts_as_lead(&self) -> bool {
        !matches!(
            self.intent,
            Intent::Call {
                direction: CallDirection::Outbound,
                ..
            }
        )
    }

    /// A marketing mark (`utm_source`, `utm_campaign`) from the attributes,
    /// trimmed and at most 200 characters; `None` when absent or empty.
    pub fn utm(&self, key: &str) -> Option<String> {
        utm_mark(&self.attributes, key)
    }
}

fn utm_mark(attributes: &serde_json::Map<String, serde_json::Value>, key: &str) -> Option<String> {
    let text = match attributes.get(key)? {
        serde_json::Value::String(s) => s.trim().to_owned(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!text.is_empty()).then(|| text.chars().take(200).collect())
}

impl Appeal {
    /// See [`NewAppeal::utm`].
    pub fn utm(&self, key: &str) -> Option<String> {
        utm_mark(&self.attributes, key)
    }
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
                // Two numbers in one field ("8 912 ..., 8 495 ..."), a note
                // with a time ("до 20:00"), a stray "+7 " before the number.
                Err(e) => {
                    let found = extract_phones(raw, region);
                    if found.is_empty() {
                        out.reject(format!("contact.phones[{i}]"), raw, e.to_string());
                    }
                    for phone in found {
                        out.push(ContactKind::Phone, phone.e164().to_string(), phone.raw());
                    }
                }
            }
        }
        for (i, raw) in self.emails.iter().take(MAX_POINTS_PER_KIND).enumerate() {
            if raw.trim().is_empty() {
                continue;
            }
            match Email::parse(raw) {
                Ok(email) => out.push(ContactKind::Email, email.canonical(), raw),
                // Several addresses, or one inside a sentence.
                Err(e) => {
                    let found = extract_emails(raw);
                    if found.is_empty() && !out.messenger_link(raw) {
                        out.reject(format!("contact.emails[{i}]"), raw, e.to_string());
                    }
                    for email in found {
                        out.push(ContactKind::Email, email.canonical(), email.as_str());
                    }
                }
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
                    Ok(s) => out.push_vk_address(&s, raw),
                    Err(e) => out.reject("contact.vk.screen_name".into(), raw, e.to_string()),
                }
            }
        }
        if let Some(raw) = self.inn.as_deref().filter(|i| !i.trim().is_empty()) {
            if let Err(e) = crate::contact::Inn::parse(raw) {
                out.reject("contact.inn".into(), raw, e.to_string());
            }
        }
        out
    }
}

impl NormalizedContact {
    /// A VK address: `id741007307` (in any spelling: a link, `@id…`) is the
    /// user's numeric id, a VK id key like the one the Callback API gives;
    /// anything else is a short address.
    fn push_vk_address(&mut self, address: &VkScreenName, raw: &str) {
        match address.as_vk_id() {
            Some(id) => self.push(ContactKind::VkId, id.get().to_string(), raw),
            None => self.push(ContactKind::VkScreenName, address.as_str().to_string(), raw),
        }
    }

    /// A VK or Telegram link typed into another field (`vk.com/id…`,
    /// `t.me/name`); whether it was one.
    fn messenger_link(&mut self, raw: &str) -> bool {
        let t = raw.trim();
        let lower = t.to_lowercase();
        let host = lower
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_start_matches("www.")
            .trim_start_matches("m.");
        if ["vk.com/", "vk.ru/", "vkontakte.ru/"]
            .iter()
            .any(|h| host.starts_with(h))
        {
            if let Ok(address) = VkScreenName::parse(t) {
                self.push_vk_address(&address, raw);
                return true;
            }
        }
        if ["t.me/", "telegram.me/"]
            .iter()
            .any(|h| host.starts_with(h))
        {
            if let Ok(u) = TelegramUsername::parse(t) {
                self.push(ContactKind::TelegramUsername, u.as_str().to_string(), raw);
                return true;
            }
        }
        false
    }

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

    fn values(card: &ContactCard) -> Vec<(ContactKind, String)> {
        card.normalize(Region::Ru)
            .keys
            .into_iter()
            .map(|k| (k.kind, k.value))
            .collect()
    }

    #[test]
    fn phones_with_text_around_them() {
        for (raw, expected) in [
            ("8 495 477 51 39 до 20:00", &["+74954775139"][..]),
            ("моб. +7 843 211-00-12", &["+78432110012"]),
            ("+7 912 345-67-89 (звонить после 18:00)", &["+79123456789"]),
            ("+8 912 345 67 89", &["+79123456789"]),
            ("+7 8920 111 22 33", &["+79201112233"]),
            ("+7 7 920 111 22 33", &["+79201112233"]),
            ("+7 +7 920 111 22 33", &["+79201112233"]),
            (
                "8 912 345 67 89, 8 495 477 51 39",
                &["+79123456789", "+74954775139"],
            ),
            (
                "89123456789; 89201112233",
                &["+79123456789", "+79201112233"],
            ),
            (
                "8 912 345 67 89 или 8 920 111 22 33",
                &["+79123456789", "+79201112233"],
            ),
            (
                "Телефон: 8(912)345-67-89 Иван, рабочий 8 843 211 00 12 доб. 5",
                &["+79123456789", "+78432110012"],
            ),
        ] {
            let card = ContactCard {
                phones: vec![raw.into()],
                ..ContactCard::default()
            };
            let got: Vec<String> = values(&card).into_iter().map(|(_, v)| v).collect();
            assert_eq!(got, expected, "{raw}");
        }
    }

    #[test]
    fn emails_as_typed_and_several_per_field() {
        let card = ContactCard {
            emails: vec![
                "Иван <Ivan@Mail.ru>".into(),
                "e-mail: i.petrov @ romashka.ru, mоstovoy@gmail.com".into(),
                "почта: ivan@mail.ru.".into(),
                "не помню".into(),
            ],
            ..ContactCard::default()
        };
        let n = card.normalize(Region::Ru);
        let got: Vec<&str> = n.keys.iter().map(|k| k.value.as_str()).collect();
        assert_eq!(
            got,
            ["ivan@mail.ru", "i.petrov@romashka.ru", "mostovoy@gmail.com"]
        );
        assert_eq!(n.rejected.len(), 1);
        assert_eq!(n.rejected[0].field, "contact.emails[3]");
    }

    #[test]
    fn vk_and_telegram_written_as_addresses() {
        for raw in [
            "id741007307",
            "vk.com/id741007307",
            "https://vk.com/id741007307",
            "@id741007307",
            "https://m.vk.com/id741007307?w=wall",
        ] {
            let card = ContactCard {
                vk: Some(VkContact {
                    id: None,
                    screen_name: Some(raw.into()),
                }),
                ..ContactCard::default()
            };
            assert_eq!(
                values(&card),
                [(ContactKind::VkId, "741007307".to_string())],
                "{raw}"
            );
        }
        let by_id = ContactCard {
            vk: Some(VkContact {
                id: Some(741007307),
                screen_name: Some("vk.com/id741007307".into()),
            }),
            ..ContactCard::default()
        };
        assert_eq!(
            values(&by_id),
            [(ContactKind::VkId, "741007307".to_string())]
        );
        let named = ContactCard {
            vk: Some(VkContact {
                id: None,
                screen_name: Some("https://vk.com/ivan.petrov".into()),
            }),
            ..ContactCard::default()
        };
        assert_eq!(
            values(&named),
            [(ContactKind::VkScreenName, "ivan.petrov".to_string())]
        );
        // Links typed into the e-mail field of a form.
        let card = ContactCard {
            emails: vec![
                "vk.com/id741007307".into(),
                "https://t.me/Ivan_Petrov".into(),
            ],
            telegram: Some(TelegramContact {
                id: None,
                username: Some("t.me/ivan_petrov".into()),
            }),
            ..ContactCard::default()
        };
        assert_eq!(
            values(&card),
            [
                (ContactKind::VkId, "741007307".to_string()),
                (ContactKind::TelegramUsername, "ivan_petrov".to_string()),
            ]
        );
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
