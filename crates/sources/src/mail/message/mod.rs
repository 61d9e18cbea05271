//! The pure part of the mail channel: one raw RFC 5322 message in, what
//! the lead pipeline needs out — who to answer, what they wrote, what kind
//! of mail it is and why. No I/O, no storage; safe on hostile input (work
//! is capped, nothing panics on malformed MIME).
//!
//! Entry point: [`parse_message`].

mod body;
mod classify;
mod decode;
mod form_mail;
mod html;
mod rules;
mod text;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::panic::{catch_unwind, AssertUnwindSafe};

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone, Utc};
use mail_parser::{Address, HeaderName, Message, MessageParser, MimeHeaders, PartType};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use body::{BodySource, MailBody};
pub use classify::{KindReason, MailKind};
pub use form_mail::FormSubmission;
pub use rules::{FormField, FormSenderRule, MailRules, MailRulesError, DEFAULT_MAX_MESSAGE_BYTES};

use classify::ClassifyInput;
use text::{cap_owned, collapse_ws, normalize_newlines, truncate_at_char};

/// Addresses kept per To/Cc list; `recipients_count` still counts all.
pub const MAX_LISTED_RECIPIENTS: usize = 100;
/// Attachments listed; `attachments_count` still counts all.
pub const MAX_LISTED_ATTACHMENTS: usize = 100;
/// Oversize messages are parsed from a prefix of at least this many bytes
/// (or `max_message_bytes`, whichever is larger), so headers and the
/// start of the text are always available.
pub const MIN_PARSE_WINDOW_BYTES: usize = 256 * 1024;
const MAX_SUBJECT_BYTES: usize = 1000;
const MAX_ID_BYTES: usize = 998;
const MAX_REFERENCES: usize = 100;
const MAX_NAME_BYTES: usize = 200;
const MAX_FILENAME_BYTES: usize = 255;

/// One inbound message, understood.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundMail {
    /// Message-ID without angle brackets, or a synthetic one.
    pub message_id: String,
    /// The message had no Message-ID; `message_id` is the hex SHA-256 of
    /// the raw bytes (stable across re-fetches of the same message).
    pub message_id_synthetic: bool,
    pub in_reply_to: Option<String>,
    /// References chain (root first); capped to the root plus the newest.
    pub references: Vec<String>,
    /// Date header; `None` when missing or not a real date.
    pub date: Option<DateTime<Utc>>,
    /// Decoded subject, whitespace collapsed; empty when missing.
    pub subject: String,
    /// The person to answer.
    pub contact: MailContact,
    /// The From header as sent (for form robots and own-address checks the
    /// contact differs from it).
    pub from: Option<MailAddress>,
    pub reply_to: Option<MailAddress>,
    pub to: Vec<MailAddress>,
    pub cc: Vec<MailAddress>,
    /// All To + Cc addresses, including those beyond the listed cap.
    pub recipients_count: usize,
    pub body: MailBody,
    pub attachments: Vec<AttachmentMeta>,
    /// All attachments, including those beyond the listed cap.
    pub attachments_count: usize,
    pub kind: MailKind,
    /// Size of the raw message in bytes.
    pub size: usize,
    /// `size` exceeds `MailRules::max_message_bytes`: only a prefix was
    /// parsed, so the body and attachment list may be incomplete.
    pub oversize: bool,
}

/// A mailbox from an address header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailAddress {
    /// Display name, RFC 2047-decoded, quotes stripped; `None` when absent
    /// or just a copy of the address.
    pub name: Option<String>,
    pub email: String,
}

/// The person to answer and what we learned about them from this message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailContact {
    pub name: Option<String>,
    pub email: Option<String>,
    /// Raw phone candidates in order of appearance: from the new text
    /// (only full-number shapes), then the signature; for a form
    /// notification, the form's phone fields. Normalise with the Phone
    /// parser; these are candidates, not validated numbers.
    pub phones_text: Vec<String>,
    /// The name line of the signature ("Иван Петров"), raw.
    pub signature_name: Option<String>,
    /// Where `name`/`email` came from.
    pub source: ContactSource,
}

/// Which header (or form) the contact was taken from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactSource {
    ReplyTo,
    From,
    /// The fields of a website form notification.
    Form,
    /// No usable address at all.
    #[default]
    None,
}

/// An attachment as listed for the operator; content is not kept here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentMeta {
    /// File name (RFC 2231/2047 decoded) when the sender gave one.
    pub name: Option<String>,
    /// Lowercase `type/subtype`.
    pub content_type: String,
    /// Decoded size in bytes.
    pub size: usize,
    /// Inline part (signature logo, pasted screenshot) rather than a file
    /// the person attached.
    pub inline: bool,
}

/// Why a message could not be understood at all. Anything short of these
/// still yields an [`InboundMail`], possibly with empty fields.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailParseError {
    #[error("message is empty")]
    Empty,
    #[error("no RFC 5322 header section found")]
    NoHeaders,
    /// A bug in the MIME parser or here; the message should be kept for
    /// inspection, not retried in a loop.
    #[error("mail parser failed unexpectedly: {0}")]
    Internal(String),
}

/// Parses one raw message (as fetched over IMAP/received over SMTP).
pub fn parse_message(raw: &[u8], rules: &MailRules) -> Result<InboundMail, MailParseError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(MailParseError::Empty);
    }
    // The polling loop must survive whatever a sender throws at it, even a
    // bug in the MIME parser: a panic becomes an error for this message.
    catch_unwind(AssertUnwindSafe(|| parse_unchecked(raw, rules))).unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_owned());
        Err(MailParseError::Internal(what))
    })
}

fn parser() -> MessageParser {
    MessageParser::new()
        .with_mime_headers()
        .with_date_headers()
        .with_address_headers()
        .with_message_ids()
        .header_text(HeaderName::Subject)
}

fn parse_unchecked(raw: &[u8], rules: &MailRules) -> Result<InboundMail, MailParseError> {
    let size = raw.len();
    let oversize = size > rules.max_message_bytes;
    let window = if oversize {
        let limit = rules
            .max_message_bytes
            .max(MIN_PARSE_WINDOW_BYTES)
            .min(size);
        // Cut at a line end so the last header or text line is whole.
        let cut = raw[..limit]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(limit, |i| i + 1);
        &raw[..cut]
    } else {
        raw
    };
    let parser = parser();
    let first = parser
        .parse(window)
        .filter(has_header_section)
        .ok_or(MailParseError::NoHeaders)?;
    let repaired = decode::repair_8bit_headers(window, &first);
    let reparsed = repaired
        .as_deref()
        .and_then(|bytes| parser.parse(bytes))
        .filter(has_header_section);
    let message = reparsed.as_ref().unwrap_or(&first);
    Ok(build(message, raw, rules, size, oversize))
}

/// mail-parser turns any first line into a "header"; plain text handed to
/// us by mistake ("hello world") has no field name that RFC 5322 allows
/// (printable ASCII without spaces or colons), a real message has several.
fn has_header_section(message: &Message<'_>) -> bool {
    message.parts.first().is_some_and(|root| {
        root.headers.iter().any(|h| {
            let name = h.name.as_str();
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| (b'!'..=b'~').contains(&b) && b != b':')
        })
    })
}

fn build(
    message: &Message<'_>,
    raw: &[u8],
    rules: &MailRules,
    size: usize,
    oversize: bool,
) -> InboundMail {
    let (message_id, message_id_synthetic) = match message
        .message_id()
        .map(str::trim)
        .filter(|id| !id.is_empty())
    {
        Some(id) => (cap_owned(id, MAX_ID_BYTES), false),
        None => (hex::encode(Sha256::digest(raw)), true),
    };
    let in_reply_to = ids(message.in_reply_to()).into_iter().next();
    let references = cap_references(ids(message.references()));
    let date = message.date().and_then(to_utc);
    let subject = message
        .subject()
        .map(|s| cap_owned(&collapse_ws(s), MAX_SUBJECT_BYTES))
        .unwrap_or_default();

    let from = first_address(message.from());
    let reply_to = first_address(message.reply_to());
    let (to, to_total) = address_list(message.to());
    let (cc, cc_total) = address_list(message.cc());

    let text = body_text(message);
    let split = body::split(&text.text);
    let body = MailBody {
        new_text: split.new_text,
        quoted: split.quoted,
        signature: split.signature,
        source: text.source,
        truncated: text.truncated || oversize,
    };

    let (attachments, attachments_count) = attachments(message);

    let headers = classify_headers(message);
    let root_type = message.parts[0].content_type();
    let content_type = root_type.map(|ct| {
        let sub = ct.subtype().unwrap_or("");
        format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase()
    });
    let report_type = root_type
        .and_then(|ct| ct.attribute("report-type"))
        .map(|r| r.trim().to_ascii_lowercase());
    let input = ClassifyInput {
        from_email: from.as_ref().map(|a| a.email.as_str()),
        subject: &subject,
        headers: &headers,
        content_type: content_type.as_deref(),
        report_type: report_type.as_deref(),
    };

    let mut contact = default_contact(from.as_ref(), reply_to.as_ref());
    contact.phones_text = split.info.phones;
    contact.signature_name = split.info.name;

    let kind = match classify::match_form_rule(rules, &input) {
        Some(index) => {
            let rule = &rules.form_senders[index];
            let submission = form_mail::parse_form(&text.text, text.html.as_deref(), rule);
            contact = form_contact(&submission, reply_to.as_ref(), rule);
            let from_email = input.from_email.unwrap_or_default();
            MailKind::FormNotification {
                reason: KindReason {
                    header: "From".to_owned(),
                    value: format!("{from_email} (form_senders[{index}]: {})", rule.from.trim()),
                },
                rule: index,
                submission,
            }
        }
        None => classify::classify(rules, &input),
    };

    InboundMail {
        message_id,
        message_id_synthetic,
        in_reply_to,
        references,
        date,
        subject,
        contact,
        from,
        reply_to,
        to,
        cc,
        recipients_count: to_total + cc_total,
        body,
        attachments,
        attachments_count,
        kind,
        size,
        oversize,
    }
}

/// Message ids from an id header (parsed as a list or a single id).
fn ids(value: &mail_parser::HeaderValue<'_>) -> Vec<String> {
    let list: Vec<&str> = match value {
        mail_parser::HeaderValue::Text(id) => vec![id.as_ref()],
        mail_parser::HeaderValue::TextList(ids) => ids.iter().map(|id| id.as_ref()).collect(),
        _ => Vec::new(),
    };
    list.into_iter()
        .map(|id| id.trim().trim_start_matches('<').trim_end_matches('>'))
        .filter(|id| !id.is_empty())
        .take(10_000)
        .map(|id| cap_owned(id, MAX_ID_BYTES))
        .collect()
}

/// The root tells the thread, the newest ids find the parent; the middle
/// of a thousand-long chain is noise.
fn cap_references(mut refs: Vec<String>) -> Vec<String> {
    if refs.len() > MAX_REFERENCES {
        let tail = refs.split_off(refs.len() - (MAX_REFERENCES - 1));
        refs.truncate(1);
        refs.extend(tail);
    }
    refs
}

fn to_utc(dt: &mail_parser::DateTime) -> Option<DateTime<Utc>> {
    // mail-parser fills zeros for garbage; year 0 is a valid chrono year.
    if dt.year < 1970 {
        return None;
    }
    let naive = NaiveDate::from_ymd_opt(i32::from(dt.year), dt.month.into(), dt.day.into())?
        .and_hms_opt(dt.hour.into(), dt.minute.into(), dt.second.into())?;
    let secs = i32::from(dt.tz_hour) * 3600 + i32::from(dt.tz_minute) * 60;
    let offset = FixedOffset::east_opt(if dt.tz_before_gmt { -secs } else { secs })?;
    offset
        .from_local_datetime(&naive)
        .single()
        .map(|d| d.with_timezone(&Utc))
}

fn to_mail_address(addr: &mail_parser::Addr<'_>) -> Option<MailAddress> {
    let email = addr.address.as_deref()?.trim();
    let email = email.trim_matches(['<', '>', '"', '\'', ' ']);
    if email.is_empty() {
        return None;
    }
    let email = cap_owned(email, 254);
    let name = addr.name.as_deref().and_then(|n| clean_name(n, &email));
    Some(MailAddress { name, email })
}

/// Strips quotes and whitespace; drops names that only repeat the address.
fn clean_name(name: &str, email: &str) -> Option<String> {
    let name = collapse_ws(name);
    let name = name.trim_matches(|c: char| c == '"' || c == '\'' || c.is_whitespace());
    let name = collapse_ws(name);
    if name.is_empty()
        || name.eq_ignore_ascii_case(email)
        || name.trim_matches(['<', '>']).eq_ignore_ascii_case(email)
    {
        return None;
    }
    Some(cap_owned(&name, MAX_NAME_BYTES))
}

fn first_address(addr: Option<&Address<'_>>) -> Option<MailAddress> {
    addr?.iter().find_map(to_mail_address)
}

fn address_list(addr: Option<&Address<'_>>) -> (Vec<MailAddress>, usize) {
    let Some(addr) = addr else {
        return (Vec::new(), 0);
    };
    let mut listed = Vec::new();
    let mut total = 0;
    for a in addr.iter() {
        if a.address.as_deref().is_some_and(|e| !e.trim().is_empty()) {
            total += 1;
            if listed.len() < MAX_LISTED_RECIPIENTS {
                listed.extend(to_mail_address(a));
            }
        }
    }
    (listed, total)
}

fn default_contact(from: Option<&MailAddress>, reply_to: Option<&MailAddress>) -> MailContact {
    // Reply-To is where the person wants the answer (a personal address
    // behind a shared box, a client replying through a CRM); Sender is the
    // mail system that posted it and is never the person.
    let (addr, source) = match (reply_to, from) {
        (Some(r), _) => (Some(r), ContactSource::ReplyTo),
        (None, Some(f)) => (Some(f), ContactSource::From),
        (None, None) => (None, ContactSource::None),
    };
    // "Иван <ivan@x.ru>" in From with a bare Reply-To: keep From's name
    // when both point to the same mailbox.
    let name = addr
        .and_then(|a| a.name.clone())
        .or_else(|| match (reply_to, from) {
            (Some(r), Some(f)) if r.email.eq_ignore_ascii_case(&f.email) => f.name.clone(),
            _ => None,
        });
    MailContact {
        name,
        email: addr.map(|a| a.email.clone()),
        source,
        ..MailContact::default()
    }
}

fn form_contact(
    form: &FormSubmission,
    reply_to: Option<&MailAddress>,
    rule: &FormSenderRule,
) -> MailContact {
    // Tilda and some CMSs put the visitor's address in Reply-To; use it
    // when the form had no e-mail field, unless it is the robot itself.
    let reply_to = reply_to.filter(|r| !rule.matches(&r.email, ""));
    MailContact {
        name: form
            .name
            .clone()
            .or_else(|| reply_to.and_then(|r| r.name.clone())),
        email: form
            .emails
            .first()
            .cloned()
            .or_else(|| reply_to.map(|r| r.email.clone())),
        phones_text: form.phones.clone(),
        signature_name: None,
        source: ContactSource::Form,
    }
}

struct BodyText {
    /// Normalised text (LF line ends), capped.
    text: String,
    /// The first HTML body, for form tables.
    html: Option<String>,
    source: BodySource,
    truncated: bool,
}

fn body_text(message: &Message<'_>) -> BodyText {
    let cap = body::MAX_BODY_TEXT_BYTES;
    let mut plain = String::new();
    let mut truncated = false;
    let mut from_html = false;
    for &id in &message.text_body {
        let Some(part) = message.parts.get(id as usize) else {
            continue;
        };
        let piece: Cow<'_, str> = match &part.body {
            PartType::Text(_) => decode::part_text(message, part),
            PartType::Html(_) => {
                from_html = true;
                Cow::Owned(html::html_to_text(&decode::part_text(message, part), cap))
            }
            _ => continue,
        };
        if !plain.is_empty() {
            plain.push('\n');
        }
        let room = cap.saturating_sub(plain.len());
        if piece.len() > room {
            truncated = true;
        }
        plain.push_str(truncate_at_char(&piece, room));
        if truncated {
            break;
        }
    }
    let html = message
        .html_body
        .iter()
        .filter_map(|&id| message.parts.get(id as usize))
        .find(|p| matches!(p.body, PartType::Html(_)))
        .map(|p| truncate_at_char(&decode::part_text(message, p), html::MAX_HTML_BYTES).to_owned());
    // Some mailers (Bitrix, 1C) send an empty or whitespace text/plain
    // next to the real HTML; fall back to the HTML then.
    if plain.trim().is_empty() {
        if let Some(h) = &html {
            plain = html::html_to_text(h, cap);
            from_html = true;
        }
    }
    let source = if plain.trim().is_empty() {
        BodySource::None
    } else if from_html {
        BodySource::Html
    } else {
        BodySource::Plain
    };
    BodyText {
        text: normalize_newlines(&plain).into_owned(),
        html,
        source,
        truncated,
    }
}

fn attachments(message: &Message<'_>) -> (Vec<AttachmentMeta>, usize) {
    let mut listed = Vec::new();
    for &id in &message.attachments {
        let Some(part) = message.parts.get(id as usize) else {
            continue;
        };
        if listed.len() >= MAX_LISTED_ATTACHMENTS {
            continue;
        }
        let content_type = part
            .content_type()
            .map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{}", ct.ctype(), sub),
                None => ct.ctype().to_owned(),
            })
            .unwrap_or_else(|| {
                match part.body {
                    PartType::Text(_) => "text/plain",
                    PartType::Html(_) => "text/html",
                    PartType::Message(_) => "message/rfc822",
                    _ => "application/octet-stream",
                }
                .to_owned()
            })
            .to_ascii_lowercase();
        let name = part
            .attachment_name()
            .map(collapse_ws)
            .filter(|n| !n.is_empty())
            .or_else(|| match &part.body {
                // A forwarded letter attached as .eml: name it by subject.
                PartType::Message(m) if !m.parts.is_empty() => {
                    m.subject().map(|s| format!("{}.eml", collapse_ws(s)))
                }
                _ => None,
            })
            .map(|n| cap_owned(&n, MAX_FILENAME_BYTES));
        let inline = part.content_disposition().map_or_else(
            || part.content_id().is_some(),
            |cd| cd.ctype().eq_ignore_ascii_case("inline"),
        );
        listed.push(AttachmentMeta {
            name,
            content_type,
            size: part.len(),
            inline,
        });
    }
    (listed, message.attachments.len())
}

/// The top-level headers classification looks at, unfolded.
fn classify_headers(message: &Message<'_>) -> Vec<(String, String)> {
    const RELEVANT: &[&str] = &[
        "auto-submitted",
        "precedence",
        "x-autoreply",
        "x-autorespond",
        "x-autoresponder",
        "x-failed-recipients",
        "list-id",
        "list-unsubscribe",
        "list-post",
    ];
    message.parts[0]
        .headers
        .iter()
        .filter(|h| {
            RELEVANT
                .iter()
                .any(|r| h.name.as_str().eq_ignore_ascii_case(r))
        })
        .take(50)
        .map(|h| {
            let raw = message
                .raw_message
                .get(h.offset_start as usize..h.offset_end as usize)
                .unwrap_or_default();
            let value = String::from_utf8_lossy(raw);
            (
                h.name.as_str().to_owned(),
                cap_owned(&collapse_ws(&value), 1000),
            )
        })
        .collect()
}
