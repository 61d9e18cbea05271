//! Website form notifications (Tilda, Bitrix, WordPress/Contact Form 7,
//! self-written PHP mailers): the robot mails "Имя: …", "Телефон: …" lines
//! or a two-column HTML table, and the person in those fields is the lead.

use serde::{Deserialize, Serialize};

use super::html::table_pairs;
use super::rules::{FormField, FormSenderRule};
use super::text::{cap_owned, collapse_ws, lower, truncate_at_char};

/// At most this many fields are kept; a form never has hundreds, a hostile
/// or broken mail might.
const MAX_FIELDS: usize = 100;
const MAX_KEY_BYTES: usize = 200;
const MAX_VALUE_BYTES: usize = 4 * 1024;
const MAX_CONTACT_VALUES: usize = 10;
/// Only the top of the text is scanned; notifications are short and the
/// rest is the robot's footer.
const MAX_SCAN_LINES: usize = 500;

/// The fields of one website form submission.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormSubmission {
    pub name: Option<String>,
    /// Raw phone strings as entered; normalise with the Phone parser.
    pub phones: Vec<String>,
    pub emails: Vec<String>,
    pub company: Option<String>,
    pub comment: Option<String>,
    /// Every field in the order the robot sent it, recognised or not,
    /// including `utm_*` (also those pulled out of a page URL).
    pub fields: Vec<(String, String)>,
}

impl FormSubmission {
    /// `utm_*` fields (marketing attribution).
    pub fn utm(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields
            .iter()
            .filter(|(k, _)| lower(k).starts_with("utm_"))
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// True when nothing that identifies a person was found.
    pub fn has_no_contact(&self) -> bool {
        self.name.is_none() && self.phones.is_empty() && self.emails.is_empty()
    }
}

/// Lowercased label without decoration: `"Ваш телефон*:"` → `"ваш телефон"`.
pub(crate) fn normalize_key(key: &str) -> String {
    let key = key
        .trim()
        .trim_start_matches(['-', '•', '*', '·'])
        .trim_end_matches([':', '*', ' ', '\u{a0}']);
    collapse_ws(&lower(key)).replace('ё', "е")
}

/// Built-in labels. Checked after the rule's own `field_map`.
fn builtin_field(key: &str) -> Option<FormField> {
    if key.starts_with("utm_") {
        return Some(FormField::Ignore);
    }
    let has = |words: &[&str]| words.iter().any(|w| key.contains(w));
    if has(&["телефон", "phone", "мобильн", "whatsapp", "номер для связи"])
        || key == "тел"
        || key == "тел."
        || key == "tel"
        || key == "mobile"
    {
        return Some(FormField::Phone);
    }
    if has(&["e-mail", "email", "почта", "почты"]) || key == "mail" {
        return Some(FormField::Email);
    }
    if has(&[
        "компани",
        "company",
        "организаци",
        "organization",
        "organisation",
    ]) {
        return Some(FormField::Company);
    }
    if has(&[
        "коммент",
        "сообщени",
        "comment",
        "message",
        "вопрос",
        "question",
        "пожелани",
        "текст",
        "описание",
    ]) || key == "text"
    {
        return Some(FormField::Comment);
    }
    const NAME_KEYS: &[&str] = &[
        "имя",
        "ваше имя",
        "фио",
        "ваше фио",
        "имя и фамилия",
        "фамилия и имя",
        "фамилия имя",
        "имя фамилия",
        "контактное лицо",
        "как к вам обращаться",
        "имя клиента",
        "name",
        "your name",
        "full name",
        "first name",
        "contact name",
        "contact person",
        "client name",
        "customer name",
        // Same spellings as the web-form channel (sources/forms/fields.rs).
        "fio",
        "your-name",
        "first_name",
        "contact_name",
    ];
    if NAME_KEYS.contains(&key) {
        return Some(FormField::Name);
    }
    None
}

fn field_kind(key: &str, rule: &FormSenderRule) -> Option<FormField> {
    let norm = normalize_key(key);
    rule.field_override(&norm).or_else(|| builtin_field(&norm))
}

/// `"Телефон: +7 …"` → (`"Телефон"`, `"+7 …"`). `utm_source=x` lines too.
/// Rejects URLs, times ("в 12:00") and prose that merely contains a colon.
fn split_key_value(line: &str) -> Option<(&str, &str)> {
    let line = line.trim();
    let line = line.trim_start_matches(['-', '•', '*', '·', ' ']);
    if line.starts_with("utm_") {
        if let Some((k, v)) = line.split_once('=') {
            if !k.contains(':') {
                return Some((k.trim(), v.trim()));
            }
        }
    }
    let (key, value) = line.split_once(':')?;
    let key = key.trim().trim_end_matches('*').trim();
    let value = value.trim();
    let words = key.split_whitespace().count();
    let ok = !key.is_empty()
        && key.len() <= MAX_KEY_BYTES
        && key.chars().count() <= 48
        && (1..=6).contains(&words)
        && key.chars().any(char::is_alphabetic)
        && !value.starts_with("//")
        // "в 12:30" is a time, not a "12" field.
        && !(key.ends_with(|k: char| k.is_ascii_digit())
            && value.starts_with(|c: char| c.is_ascii_digit()));
    ok.then_some((key, value))
}

/// Pairs from "Key: value" lines. A recognised key with an empty value
/// takes the next line as its value (some PHP mailers put it below), and
/// comment fields absorb the following lines up to a blank line.
fn line_pairs(text: &str, rule: &FormSenderRule) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut pending_key: Option<String> = None;
    let mut comment_open = false;
    for line in text.lines().take(MAX_SCAN_LINES) {
        let t = line.trim();
        if t.is_empty() {
            comment_open = false;
            continue;
        }
        if pairs.len() >= MAX_FIELDS {
            break;
        }
        if let Some((key, value)) = split_key_value(t) {
            let kind = field_kind(key, rule);
            if value.is_empty() {
                pending_key = kind
                    .filter(|k| *k != FormField::Ignore)
                    .map(|_| key.to_owned());
                comment_open = false;
                continue;
            }
            if kind.is_some() || pending_key.is_none() {
                pairs.push((
                    cap_owned(key, MAX_KEY_BYTES),
                    cap_owned(value, MAX_VALUE_BYTES),
                ));
                comment_open = kind == Some(FormField::Comment);
                pending_key = None;
                continue;
            }
        }
        if let Some(key) = pending_key.take() {
            comment_open = field_kind(&key, rule) == Some(FormField::Comment);
            pairs.push((key, cap_owned(t, MAX_VALUE_BYTES)));
        } else if comment_open {
            if let Some((_, value)) = pairs.last_mut() {
                if value.len() + t.len() < MAX_VALUE_BYTES {
                    value.push('\n');
                    value.push_str(t);
                }
            }
        }
    }
    pairs
}

/// Decodes `%D0%98` and `+` in a query value; invalid escapes stay as is.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `utm_*` parameters hidden in a page/referrer URL field.
fn utm_from_urls(pairs: &[(String, String)]) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = Vec::new();
    for (_, value) in pairs {
        let Some((_, query)) = value.split_once('?') else {
            continue;
        };
        let query = query.split('#').next().unwrap_or_default();
        for param in query.split('&') {
            let Some((k, v)) = param.split_once('=') else {
                continue;
            };
            if !k.starts_with("utm_") || v.is_empty() {
                continue;
            }
            let exists = pairs.iter().chain(found.iter()).any(|(fk, _)| fk == k);
            if !exists && found.len() < 10 {
                found.push((
                    cap_owned(k, MAX_KEY_BYTES),
                    cap_owned(&percent_decode(v), 1024),
                ));
            }
        }
    }
    found
}

fn is_recognised(pairs: &[(String, String)], rule: &FormSenderRule) -> usize {
    pairs
        .iter()
        .filter(|(k, _)| field_kind(k, rule).is_some_and(|f| f != FormField::Ignore))
        .count()
}

/// Parses a form notification. `html` is the HTML body when the mail has
/// one: Bitrix and many PHP mailers put the fields in a table there while
/// the text alternative is empty or a flattened mess.
pub(crate) fn parse_form(text: &str, html: Option<&str>, rule: &FormSenderRule) -> FormSubmission {
    let from_lines = line_pairs(text, rule);
    let from_table = html.map(|h| table_pairs(h, MAX_FIELDS)).unwrap_or_default();
    // Prefer whichever source recognised more fields; ties go to lines,
    // which keep the robot's own order and multi-line comments.
    let mut pairs = if is_recognised(&from_table, rule) > is_recognised(&from_lines, rule) {
        from_table
            .into_iter()
            .map(|(k, v)| {
                let k = k.trim_end_matches([':', '*', ' ']).to_owned();
                (cap_owned(&k, MAX_KEY_BYTES), cap_owned(&v, MAX_VALUE_BYTES))
            })
            .collect()
    } else {
        from_lines
    };
    let extra = utm_from_urls(&pairs);
    pairs.extend(extra);

    let mut form = FormSubmission::default();
    for (key, value) in &pairs {
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        match field_kind(key, rule) {
            Some(FormField::Name) if form.name.is_none() => {
                form.name = Some(cap_owned(&collapse_ws(value), 200));
            }
            Some(FormField::Phone) => {
                for phone in value.split([',', ';', '\n']) {
                    let phone = phone.trim();
                    if phone.chars().any(|c| c.is_ascii_digit())
                        && form.phones.len() < MAX_CONTACT_VALUES
                        && !form.phones.iter().any(|p| p == phone)
                    {
                        form.phones.push(cap_owned(phone, 64));
                    }
                }
            }
            Some(FormField::Email) => {
                for email in value.split([',', ';', ' ', '\n']) {
                    let email = email.trim().trim_matches(['<', '>', '"', '\'']);
                    if email.contains('@')
                        && form.emails.len() < MAX_CONTACT_VALUES
                        && !form.emails.iter().any(|e| e.eq_ignore_ascii_case(email))
                    {
                        form.emails.push(cap_owned(email, 254));
                    }
                }
            }
            Some(FormField::Company) if form.company.is_none() => {
                form.company = Some(cap_owned(&collapse_ws(value), 300));
            }
            Some(FormField::Comment) => {
                let merged = match form.comment.take() {
                    Some(prev) => format!("{prev}\n{value}"),
                    None => value.to_owned(),
                };
                form.comment = Some(truncate_at_char(&merged, MAX_VALUE_BYTES).to_owned());
            }
            _ => {}
        }
    }
    form.fields = pairs;
    form
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn rule() -> FormSenderRule {
        FormSenderRule {
            from: "*@tilda.ws".into(),
            subject_contains: None,
            field_map: BTreeMap::new(),
        }
    }

    #[test]
    fn tilda_text_lines() {
        let text = "Request details:\n\nName: Иван Петров\nEmail: ivan@mail.ru\n\
            Phone: +7 (916) 123-45-67\nComments: Нужна консультация\nпо доставке в Казань\n\n\
            utm_source: yandex\nutm_medium=cpc\n\nAdditional information:\nTransaction ID: 123:456\n\
            Form Name: Cart\nhttps://example.ru/landing\n";
        let form = parse_form(text, None, &rule());
        assert_eq!(form.name.as_deref(), Some("Иван Петров"));
        assert_eq!(form.emails, vec!["ivan@mail.ru"]);
        assert_eq!(form.phones, vec!["+7 (916) 123-45-67"]);
        assert_eq!(
            form.comment.as_deref(),
            Some("Нужна консультация\nпо доставке в Казань")
        );
        let utm: Vec<_> = form.utm().collect();
        assert_eq!(utm, vec![("utm_source", "yandex"), ("utm_medium", "cpc")]);
        assert!(form
            .fields
            .iter()
            .any(|(k, v)| k == "Form Name" && v == "Cart"));
        assert!(!form.fields.iter().any(|(k, _)| k == "https"));
    }

    #[test]
    fn russian_labels_overrides_and_value_below_key() {
        let mut rule = rule();
        rule.field_map
            .insert("Как вас зовут?".into(), FormField::Name);
        rule.field_map.insert("Сайт".into(), FormField::Ignore);
        let text =
            "Как вас зовут?: Мария\nКонтактный телефон*:\n8 916 000-11-22, +7 495 123 45 67\n\
            Почта: maria@yandex.ru\nНазвание компании: ООО «Ромашка»\nСообщение: Прошу КП\n\
            Сайт: https://example.ru/?utm_source=google&utm_campaign=%D0%BB%D0%B5%D1%82%D0%BE\n";
        let form = parse_form(text, None, &rule);
        assert_eq!(form.name.as_deref(), Some("Мария"));
        assert_eq!(form.phones, vec!["8 916 000-11-22", "+7 495 123 45 67"]);
        assert_eq!(form.emails, vec!["maria@yandex.ru"]);
        assert_eq!(form.company.as_deref(), Some("ООО «Ромашка»"));
        assert_eq!(form.comment.as_deref(), Some("Прошу КП"));
        let utm: Vec<_> = form.utm().collect();
        assert_eq!(
            utm,
            vec![("utm_source", "google"), ("utm_campaign", "лето")]
        );
    }

    #[test]
    fn html_table_wins_when_it_recognises_more() {
        let html = "<table><tr><td>Имя</td><td>Олег</td></tr>\
            <tr><td>Телефон</td><td>+7 912 345-67-89</td></tr>\
            <tr><td>E-mail</td><td>oleg@example.com</td></tr></table>";
        let text = "Имя Олег Телефон +7 912 345-67-89 E-mail oleg@example.com";
        let form = parse_form(text, Some(html), &rule());
        assert_eq!(form.name.as_deref(), Some("Олег"));
        assert_eq!(form.phones, vec!["+7 912 345-67-89"]);
        assert_eq!(form.emails, vec!["oleg@example.com"]);
    }

    #[test]
    fn prose_and_times_are_not_fields() {
        assert!(split_key_value("Встреча в 12:30").is_none());
        assert!(split_key_value("https://example.ru/page").is_none());
        assert!(split_key_value(": пусто").is_none());
        assert_eq!(split_key_value("- Имя*: Анна"), Some(("Имя", "Анна")));
    }

    #[test]
    fn percent_decoding_is_safe() {
        assert_eq!(percent_decode("%D0%BB%"), "л%");
        assert_eq!(percent_decode("a+b%2"), "a b%2");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
