//! Decides what kind of mail this is (a lead, or something that must not
//! become an appeal and must never get an automatic answer), and records
//! which header decided it so an operator can see why.

use serde::{Deserialize, Serialize};

pub use leadgate_domain::decision::KindReason;

use super::form_mail::FormSubmission;
use super::rules::{split_address, MailRules};
use super::text::{cap_owned, collapse_ws, lower};

const MAX_REASON_VALUE_BYTES: usize = 200;

/// What the message is, for the pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MailKind {
    /// A person wrote to us: create or update an appeal.
    Lead,
    /// A website form robot's notification; the lead is the person in
    /// `submission`, already made the message's contact.
    FormNotification {
        reason: KindReason,
        /// Index into [`MailRules::form_senders`] of the rule that matched.
        rule: usize,
        submission: FormSubmission,
    },
    /// Out-of-office, vacation, read receipts and other machine answers.
    AutoReply { reason: KindReason },
    /// Delivery failure report (DSN) or a bounce from a mail server.
    Bounce { reason: KindReason },
    /// Newsletters and list traffic.
    MailingList { reason: KindReason },
    /// Sent from one of our own addresses or domains.
    OwnAddress { reason: KindReason },
}

impl MailKind {
    /// Stable snake_case name, as in the serialized `kind` tag.
    pub fn as_str(&self) -> &'static str {
        match self {
            MailKind::Lead => "lead",
            MailKind::FormNotification { .. } => "form_notification",
            MailKind::AutoReply { .. } => "auto_reply",
            MailKind::Bounce { .. } => "bounce",
            MailKind::MailingList { .. } => "mailing_list",
            MailKind::OwnAddress { .. } => "own_address",
        }
    }

    /// Whether the message should become an appeal (a person, directly or
    /// through a website form).
    pub fn is_lead(&self) -> bool {
        matches!(self, MailKind::Lead | MailKind::FormNotification { .. })
    }

    /// Whether we may answer it automatically. Never answer machines:
    /// that is how mail loops start.
    pub fn may_auto_answer(&self) -> bool {
        matches!(self, MailKind::Lead | MailKind::FormNotification { .. })
    }

    /// Why the message got this kind; `None` for a plain lead.
    pub fn reason(&self) -> Option<&KindReason> {
        match self {
            MailKind::Lead => None,
            MailKind::FormNotification { reason, .. }
            | MailKind::AutoReply { reason }
            | MailKind::Bounce { reason }
            | MailKind::MailingList { reason }
            | MailKind::OwnAddress { reason } => Some(reason),
        }
    }
}

/// Capped so that a hostile header cannot bloat the stored reason.
fn kind_reason(header: &str, value: &str) -> KindReason {
    KindReason {
        header: header.to_owned(),
        value: cap_owned(&collapse_ws(value), MAX_REASON_VALUE_BYTES),
    }
}

/// What classification looks at, gathered from the parsed message.
pub(crate) struct ClassifyInput<'a> {
    /// The From address (never Reply-To: auto-replies and bounces are
    /// recognised by who sent them).
    pub from_email: Option<&'a str>,
    pub subject: &'a str,
    /// Top-level headers as (name, unfolded value), in message order.
    pub headers: &'a [(String, String)],
    /// Root content type, lowercase `type/subtype`.
    pub content_type: Option<&'a str>,
    /// The root content type's `report-type` parameter, lowercase.
    pub report_type: Option<&'a str>,
}

impl ClassifyInput<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Index of the first form rule matching the From address and subject.
pub(crate) fn match_form_rule(rules: &MailRules, input: &ClassifyInput<'_>) -> Option<usize> {
    let from = input.from_email?;
    rules
        .form_senders
        .iter()
        .position(|rule| rule.matches(from, input.subject))
}

/// Everything except form notifications, which need the body and are
/// decided first by the caller.
pub(crate) fn classify(rules: &MailRules, input: &ClassifyInput<'_>) -> MailKind {
    if let Some(reason) = bounce_reason(input) {
        return MailKind::Bounce { reason };
    }
    if let Some(from) = input.from_email {
        if let Some(matched) = rules.own_match(from) {
            return MailKind::OwnAddress {
                reason: kind_reason("From", &format!("{from} ({matched})")),
            };
        }
    }
    if let Some(reason) = auto_reply_reason(input) {
        return MailKind::AutoReply { reason };
    }
    for name in ["List-Id", "List-Unsubscribe", "List-Post"] {
        if let Some(value) = input.header(name).filter(|v| !v.trim().is_empty()) {
            return MailKind::MailingList {
                reason: kind_reason(name, value),
            };
        }
    }
    // Precedence bulk/junk/list without List-* headers: a robot mailing
    // (auto-notifications, cheap newsletter scripts). Checked after the
    // List-* headers so that real lists are reported as lists.
    if let Some(value) = input.header("Precedence") {
        let v = lower(value.trim());
        if matches!(v.as_str(), "bulk" | "junk" | "list") {
            return MailKind::AutoReply {
                reason: kind_reason("Precedence", value),
            };
        }
    }
    MailKind::Lead
}

fn bounce_reason(input: &ClassifyInput<'_>) -> Option<KindReason> {
    if input.content_type == Some("multipart/report")
        && input.report_type == Some("delivery-status")
    {
        return Some(kind_reason(
            "Content-Type",
            "multipart/report; report-type=delivery-status",
        ));
    }
    if let Some(value) = input.header("X-Failed-Recipients") {
        return Some(kind_reason("X-Failed-Recipients", value));
    }
    let from = input.from_email?;
    let (local, _) = split_address(from)?;
    let local = lower(local);
    matches!(
        local.as_str(),
        "mailer-daemon" | "postmaster" | "mailer_daemon"
    )
    .then(|| kind_reason("From", from))
}

fn auto_reply_reason(input: &ClassifyInput<'_>) -> Option<KindReason> {
    // RFC 3834: anything but "no" means a machine sent it.
    if let Some(value) = input.header("Auto-Submitted") {
        let token = lower(value.split(';').next().unwrap_or_default().trim());
        if !token.is_empty() && token != "no" {
            return Some(kind_reason("Auto-Submitted", value));
        }
    }
    // Read receipts (MDN) are machine answers, not delivery failures.
    if input.content_type == Some("multipart/report")
        && input.report_type == Some("disposition-notification")
    {
        return Some(kind_reason(
            "Content-Type",
            "multipart/report; report-type=disposition-notification",
        ));
    }
    // X-Auto-Response-Suppress is deliberately absent: Outlook puts it on
    // ordinary mail to ask *others* not to auto-answer.
    for name in ["X-Autoreply", "X-Autorespond", "X-Autoresponder"] {
        if let Some(value) = input.header(name) {
            let v = lower(value.trim());
            if v != "no" && v != "false" && v != "0" {
                return Some(kind_reason(name, value));
            }
        }
    }
    if let Some(value) = input.header("Precedence") {
        if lower(value.trim()) == "auto_reply" {
            return Some(kind_reason("Precedence", value));
        }
    }
    if is_auto_reply_subject(input.subject) {
        return Some(kind_reason("Subject", input.subject));
    }
    None
}

/// Subject prefixes of out-of-office answers (Outlook/Exchange in both
/// languages, Yandex, mail.ru, Gmail vacation responder). Prefix-only:
/// "Хочу купить автоответчик" is a lead.
fn is_auto_reply_subject(subject: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "автоответ",
        "автоматический ответ",
        "автоматическое уведомление",
        "автоматическое сообщение",
        "нет на месте",
        "вне офиса",
        "отсутствую",
        "в отпуске",
        "automatic reply",
        "auto reply",
        "auto-reply",
        "autoreply",
        "auto response",
        "autoresponse",
        "auto-response",
        "out of office",
        "out of the office",
        "ooo:",
        "vacation reply",
        "away from the office",
    ];
    let s = lower(subject.trim());
    PREFIXES.iter().any(|p| {
        s.strip_prefix(p)
            .is_some_and(|rest| !rest.starts_with(|c: char| c.is_alphanumeric()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(
        from: Option<&'a str>,
        subject: &'a str,
        headers: &'a [(String, String)],
    ) -> ClassifyInput<'a> {
        ClassifyInput {
            from_email: from,
            subject,
            headers,
            content_type: Some("text/plain"),
            report_type: None,
        }
    }

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn auto_submitted_no_is_a_lead_other_values_are_not() {
        let rules = MailRules::default();
        let headers = h(&[("Auto-Submitted", "no")]);
        assert_eq!(
            classify(&rules, &input(Some("a@b.ru"), "Вопрос", &headers)),
            MailKind::Lead
        );
        let headers = h(&[("auto-submitted", "auto-replied; owner-email=\"x@y.ru\"")]);
        let kind = classify(&rules, &input(Some("a@b.ru"), "Вопрос", &headers));
        assert_eq!(kind.as_str(), "auto_reply");
        assert_eq!(
            kind.reason().map(|r| r.header.as_str()),
            Some("Auto-Submitted")
        );
    }

    #[test]
    fn auto_response_suppress_alone_is_a_lead() {
        let headers = h(&[("X-Auto-Response-Suppress", "All")]);
        let kind = classify(
            &MailRules::default(),
            &input(Some("ivan@corp.ru"), "Запрос КП", &headers),
        );
        assert_eq!(kind, MailKind::Lead);
    }

    #[test]
    fn subject_prefixes() {
        for s in [
            "Автоответ: Re: Заказ",
            "Автоматический ответ: КП",
            "Out of Office: offer",
            "Automatic reply: Ваша заявка",
            "AUTO-REPLY",
        ] {
            assert!(is_auto_reply_subject(s), "{s}");
        }
        for s in [
            "Хочу автоответчик",
            "Re: Автоответ не работает",
            "Autoreplying tool",
        ] {
            assert!(!is_auto_reply_subject(s), "{s}");
        }
    }

    #[test]
    fn precedence_list_vs_list_id() {
        let rules = MailRules::default();
        let headers = h(&[("Precedence", "list"), ("List-Id", "<news.example.ru>")]);
        let kind = classify(&rules, &input(Some("news@example.ru"), "Новости", &headers));
        assert_eq!(
            kind.reason().map(ToString::to_string).as_deref(),
            Some("List-Id: <news.example.ru>")
        );
        let headers = h(&[("Precedence", "bulk")]);
        assert_eq!(
            classify(&rules, &input(Some("x@y.ru"), "x", &headers)).as_str(),
            "auto_reply"
        );
    }

    #[test]
    fn bounces_by_sender_header_and_report() {
        let rules = MailRules::default();
        let kind = classify(&rules, &input(Some("MAILER-DAEMON@mx.yandex.ru"), "x", &[]));
        assert_eq!(kind.as_str(), "bounce");
        let headers = h(&[("X-Failed-Recipients", "nobody@example.ru")]);
        assert_eq!(
            classify(&rules, &input(Some("mail@srv.ru"), "x", &headers)).as_str(),
            "bounce"
        );
        let mut i = input(Some("a@b.ru"), "Прочитано: КП", &[]);
        i.content_type = Some("multipart/report");
        i.report_type = Some("disposition-notification");
        assert_eq!(classify(&rules, &i).as_str(), "auto_reply");
    }
}
