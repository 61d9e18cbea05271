//! Splits a plain-text body into what the person just wrote, the quoted
//! conversation below it and their signature, and pulls phone candidates
//! and a name line out of the signature.
//!
//! Everything is line based and linear in the input. Markers are matched
//! strictly (whole line, known phrasing) because a false "quote start" in
//! the middle of a lead's text would hide the request from the manager;
//! nothing is thrown away though, it just lands in `quoted`.

use serde::{Deserialize, Serialize};

use super::text::{lower, phone_candidates, trim_block, truncate_at_char, PhoneScan};

/// Only this much text is split; the rest is cut (`truncated`).
pub(crate) const MAX_BODY_TEXT_BYTES: usize = 256 * 1024;
/// Only this much of the new text is searched for a signature marker:
/// signatures are at the end of short messages, and scanning megabytes of
/// a pasted log for "С уважением" buys nothing.
const SIGNATURE_SEARCH_BYTES: usize = 64 * 1024;
/// Only this much of the signature is searched for phones and a name.
const SIGNATURE_SCAN_BYTES: usize = 4 * 1024;
/// Only this much of the new text is searched for phones.
const NEW_TEXT_PHONE_SCAN_BYTES: usize = 16 * 1024;
const MAX_PHONE_CANDIDATES: usize = 10;
/// A valediction followed by more than this many lines is not a signature
/// start ("Спасибо!\nЕщё вопрос: …").
const MAX_SIGNATURE_LINES_AFTER_VALEDICTION: usize = 12;

/// The body text of a message, split for the pipeline.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailBody {
    /// What the person wrote in this message, without quote and signature.
    pub new_text: String,
    /// The quoted earlier conversation or forwarded message, as text.
    pub quoted: Option<String>,
    /// The signature block, starting at its marker line
    /// ("С уважением,", "Sent from my iPhone"; the "-- " line itself is
    /// dropped).
    pub signature: Option<String>,
    /// Where the text came from.
    pub source: BodySource,
    /// The text was longer than the parser looks at and was cut.
    pub truncated: bool,
}

/// Which MIME part the body text was taken from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodySource {
    /// A text/plain part.
    Plain,
    /// Converted from text/html (the message had no usable text part).
    Html,
    /// The message has no text at all (attachment-only, empty).
    #[default]
    None,
}

/// Result of signature analysis used to fill the contact.
#[derive(Debug, Default)]
pub(crate) struct SignatureInfo {
    pub phones: Vec<String>,
    pub name: Option<String>,
}

pub(crate) struct Split {
    pub new_text: String,
    pub quoted: Option<String>,
    pub signature: Option<String>,
    pub info: SignatureInfo,
}

/// How the quoted part starts, which decides how the rest is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QuoteStyle {
    /// "> " lines: inline answers between them are still new text.
    Angle,
    /// A header block (Outlook, forward, "-----Original Message-----"):
    /// everything below is the old message.
    Block,
}

pub(crate) fn split(text: &str) -> Split {
    let lines: Vec<&str> = text.lines().collect();
    let (mut new_lines, quoted_lines) = split_quote(&lines);
    let quoted = Some(trim_block(&quoted_lines)).filter(|q| !q.is_empty());

    // Signature search looks only at the first SIGNATURE_SEARCH_BYTES.
    let mut budget = SIGNATURE_SEARCH_BYTES;
    let searchable = new_lines
        .iter()
        .take_while(|l| {
            let fits = budget > 0;
            budget = budget.saturating_sub(l.len() + 1);
            fits
        })
        .count();
    let mut signature = None;
    let mut info = SignatureInfo::default();
    if let Some(start) = find_signature(&new_lines[..searchable]) {
        let sig_lines: Vec<&str> = new_lines.split_off(start.line);
        let sig_body = &sig_lines[usize::from(start.drop_marker)..];
        let sig_text = trim_block(sig_body);
        info = analyse_signature(&sig_text, start.name_in_marker);
        signature = Some(sig_text).filter(|s| !s.is_empty());
    }
    let new_text = trim_block(&new_lines);

    // People write "перезвоните на 8 916 …" without any signature. Text
    // phones go first: that is the order in the message, and a number
    // the person typed for this request beats the one in the footer.
    let mut phones = Vec::new();
    for line in truncate_at_char(&new_text, NEW_TEXT_PHONE_SCAN_BYTES).lines() {
        if phones.len() >= MAX_PHONE_CANDIDATES {
            break;
        }
        phone_candidates(line, PhoneScan::Strict, &mut phones);
    }
    for phone in std::mem::take(&mut info.phones) {
        if !phones.contains(&phone) {
            phones.push(phone);
        }
    }
    phones.truncate(MAX_PHONE_CANDIDATES);
    info.phones = phones;

    Split {
        new_text,
        quoted,
        signature,
        info,
    }
}

/// Returns (new lines, quoted lines).
fn split_quote<'a>(lines: &[&'a str]) -> (Vec<&'a str>, Vec<&'a str>) {
    let Some(start) = find_quote_start(lines) else {
        return (lines.to_vec(), Vec::new());
    };
    let mut new_lines: Vec<&str> = lines[..start.line].to_vec();
    let mut quoted: Vec<&str> = Vec::new();
    match start.style {
        QuoteStyle::Block => quoted.extend_from_slice(&lines[start.line..]),
        QuoteStyle::Angle => {
            let header_end = (start.line + start.header_lines).min(lines.len());
            quoted.extend_from_slice(&lines[start.line..header_end]);
            let mut i = header_end;
            while i < lines.len() {
                let t = lines[i].trim();
                if t.starts_with('>') {
                    quoted.push(lines[i]);
                } else if let Some(block) = block_marker_at(lines, i) {
                    // The quoted thread continues as an unprefixed block
                    // ("> …" answer on top of a forwarded original).
                    quoted.extend_from_slice(&lines[block..]);
                    break;
                } else if let Some(len) = attribution_len(lines, i) {
                    let end = (i + len).min(lines.len());
                    quoted.extend_from_slice(&lines[i..end]);
                    i = end;
                    continue;
                } else {
                    // Inline answer between quoted lines, or a signature
                    // after a bottom-posted quote: both are new text.
                    new_lines.push(lines[i]);
                }
                i += 1;
            }
        }
    }
    (new_lines, quoted)
}

struct QuoteStart {
    line: usize,
    style: QuoteStyle,
    /// Lines at `line` that belong to the quote header (a wrapped
    /// attribution takes two).
    header_lines: usize,
}

fn find_quote_start(lines: &[&str]) -> Option<QuoteStart> {
    for i in 0..lines.len() {
        let t = lines[i].trim();
        if t.starts_with('>') {
            return Some(QuoteStart {
                line: i,
                style: QuoteStyle::Angle,
                header_lines: 1,
            });
        }
        if let Some(line) = block_marker_at(lines, i) {
            return Some(QuoteStart {
                line,
                style: QuoteStyle::Block,
                header_lines: 0,
            });
        }
        if let Some(len) = attribution_len(lines, i) {
            // "On … wrote:" followed by "> " lines is a normal reply; an
            // attribution followed by unprefixed text (mail.ru web, some
            // mobile clients) quotes everything below.
            let after = (i + len).min(lines.len());
            let next = lines[after..].iter().find(|l| !l.trim().is_empty());
            let style = if next.is_some_and(|l| l.trim().starts_with('>')) {
                QuoteStyle::Angle
            } else {
                QuoteStyle::Block
            };
            return Some(QuoteStart {
                line: i,
                style,
                header_lines: len,
            });
        }
    }
    None
}

/// Separator lines that introduce an original or forwarded message.
fn is_separator_line(t: &str) -> bool {
    let l = lower(t);
    let core = l.trim_matches(|c: char| c == '-' || c == '_' || c == '=' || c.is_whitespace());
    const DASHED: &[&str] = &[
        "original message",
        "исходное сообщение",
        "оригинальное сообщение",
        "пересылаемое сообщение",
        "перенаправленное сообщение",
        "переадресованное сообщение",
        "forwarded message",
        "forwarded message follows",
        "message d'origine",
    ];
    const PLAIN: &[&str] = &[
        "begin forwarded message:",
        "начало переадресованного сообщения:",
        "начало пересылаемого сообщения:",
    ];
    (l.starts_with('-') && DASHED.contains(&core)) || PLAIN.contains(&core)
}

fn header_key(t: &str) -> Option<&'static str> {
    // Outlook plain text sometimes keeps bold markers: "*From:* …".
    let t = t.trim().trim_start_matches('*');
    let l = lower(t.get(..t.len().min(40)).unwrap_or(t));
    const KEYS: &[(&str, &str)] = &[
        ("from:", "from"),
        ("от:", "from"),
        ("от кого:", "from"),
        ("sent:", "date"),
        ("отправлено:", "date"),
        ("date:", "date"),
        ("дата:", "date"),
        ("to:", "to"),
        ("кому:", "to"),
        ("cc:", "to"),
        ("копия:", "to"),
        ("subject:", "subject"),
        ("тема:", "subject"),
    ];
    KEYS.iter().find_map(|(prefix, key)| {
        let rest = l.strip_prefix(prefix)?;
        let rest = rest.trim_start_matches('*');
        (rest.is_empty() || rest.starts_with(' ') || rest.starts_with('\t')).then_some(*key)
    })
}

/// An Outlook-style "From: … / Sent: … / To: … / Subject: …" block starting
/// at line `i`: a From line followed within a few lines by at least two
/// other header keys, one of them a date.
fn is_header_block(lines: &[&str], i: usize) -> bool {
    if header_key(lines[i]) != Some("from") {
        return false;
    }
    let mut seen_date = false;
    let mut seen_other = false;
    for line in lines.iter().skip(i + 1).take(6) {
        match header_key(line) {
            Some("date") => seen_date = true,
            Some("to") | Some("subject") => seen_other = true,
            _ => {}
        }
    }
    seen_date && seen_other
}

/// Start line of a block-style quote marker at `i` (a separator line, or
/// an Outlook header block possibly preceded by a rule of underscores).
fn block_marker_at(lines: &[&str], i: usize) -> Option<usize> {
    let t = lines[i].trim();
    if is_separator_line(t) {
        return Some(i);
    }
    let is_rule = t.len() >= 10 && t.chars().all(|c| c == '_' || c == '-' || c == '—');
    if is_rule {
        let next = (i + 1..lines.len().min(i + 3)).find(|&j| !lines[j].trim().is_empty());
        if next.is_some_and(|j| is_header_block(lines, j)) {
            return Some(i);
        }
        return None;
    }
    is_header_block(lines, i).then_some(i)
}

/// Reply attribution lines. `Some(n)` when the attribution occupies `n`
/// lines starting at `i` (Gmail wraps long ones onto a second line).
fn attribution_len(lines: &[&str], i: usize) -> Option<usize> {
    let first = lines[i].trim();
    if first.is_empty() || first.len() > 400 {
        return None;
    }
    if is_attribution(first) {
        return Some(1);
    }
    // Only a line that could open an attribution ("On 6/3/24 …",
    // "чт, 6 июн. 2024 г. …") is joined with the next one.
    if first.ends_with(':') || !first.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    let second = lines.get(i + 1)?.trim();
    if second.is_empty() || second.len() > 200 {
        return None;
    }
    let joined = format!("{first} {second}");
    is_attribution(&joined).then_some(2)
}

fn is_attribution(t: &str) -> bool {
    if !t.ends_with(':') || t.len() > 500 {
        return false;
    }
    let l = lower(t);
    const WROTE: &[&str] = &[
        " wrote:",
        "пишет:",
        "написал:",
        "написала:",
        "написал(а):",
        "schrieb:",
        "a écrit :",
    ];
    // "Вот что он пишет:" is prose; real attributions carry a date or
    // an address.
    if WROTE.iter().any(|w| l.ends_with(w)) {
        return t.contains('@') || t.chars().any(|c| c.is_ascii_digit());
    }
    // Yandex "06.06.2024, 12:00, "Иван" <ivan@ya.ru>:", Gmail RU
    // "чт, 6 июн. 2024 г. в 12:00, Иван <ivan@x.ru>:", mail.ru
    // "Четверг, 6 июня 2024, 12:00 +03:00 от Иван <ivan@mail.ru>:".
    // A lead writing "пишите на ivan@x.ru после 18:00:" has no year and no
    // angle-bracketed address, so it is not taken for a quote header.
    let angle_email = t
        .rfind('<')
        .is_some_and(|lt| t[lt..].contains('@') && t[lt..].contains('>'));
    angle_email && has_time(t) && has_year(t)
}

fn has_time(t: &str) -> bool {
    let b = t.as_bytes();
    (1..b.len().saturating_sub(2)).any(|i| {
        b[i] == b':'
            && b[i - 1].is_ascii_digit()
            && b[i + 1].is_ascii_digit()
            && b[i + 2].is_ascii_digit()
    })
}

fn has_year(t: &str) -> bool {
    t.split(|c: char| !c.is_ascii_digit())
        .any(|g| g.len() == 4 && (g.starts_with("19") || g.starts_with("20")))
}

struct SignatureStart {
    line: usize,
    /// The "-- " delimiter line is not part of the signature text.
    drop_marker: bool,
    /// "С уважением, Иван Петров" carries the name on the marker line.
    name_in_marker: Option<String>,
}

const VALEDICTIONS: &[&str] = &[
    "с уважением",
    "с наилучшими пожеланиями",
    "с наилучшими",
    "всего доброго",
    "всего наилучшего",
    "хорошего дня",
    "заранее спасибо",
    "заранее благодарю",
    "спасибо",
    "благодарю",
    "с благодарностью",
    "до связи",
    "best regards",
    "kind regards",
    "warm regards",
    "regards",
    "best wishes",
    "best",
    "sincerely",
    "yours sincerely",
    "cheers",
    "thanks",
    "thank you",
    "thanks in advance",
];

/// Words that may follow a valediction without making it prose.
const VALEDICTION_FILLERS: &[&str] = &[
    "большое",
    "огромное",
    "вам",
    "вас",
    "вам большое",
    "большое вам",
    "заранее",
    "you",
    "you very much",
    "so much",
    "in advance",
    "all",
];

const MOBILE_FOOTERS: &[&str] = &[
    "отправлено с iphone",
    "отправлено с моего iphone",
    "отправлено с ipad",
    "отправлено с моего ipad",
    "отправлено из мобильной почты mail.ru",
    "отправлено из мобильной почты mail",
    "отправлено из мобильной яндекс.почты",
    "отправлено из мобильной яндекс почты",
    "отправлено из приложения яндекс почта",
    "отправлено из приложения яндекс.почта",
    "отправлено из яндекс почты для мобильных",
    "отправлено из яндекс.почты для мобильных",
    "отправлено с устройства android",
    "отправлено с мобильного устройства",
    "sent from my iphone",
    "sent from my ipad",
    "sent from my android",
    "sent from my samsung",
    "sent from mail.ru app",
    "sent from yandex mail",
    "sent from outlook",
    "sent from mail for windows",
    "get outlook for ios",
    "get outlook for android",
    "получить outlook для ios",
    "получить outlook для android",
];

fn is_mobile_footer(t: &str) -> bool {
    let l = lower(t);
    let l = l.trim_end_matches(['.', '!']);
    MOBILE_FOOTERS.iter().any(|f| l.starts_with(f))
}

/// `Some(name)` for "С уважением, Иван", `Some(None)` for "С уважением,".
fn valediction(t: &str) -> Option<Option<String>> {
    if t.chars().count() > 80 {
        return None;
    }
    let l = lower(t);
    let matched = VALEDICTIONS.iter().find(|v| l.starts_with(*v))?;
    let rest_lower = &l[matched.len()..];
    let rest = t.get(t.len() - rest_lower.len()..).unwrap_or("");
    let rest = rest.trim_start_matches([',', '.', '!', ' ', '\u{a0}', '—', '-']);
    let rest = rest.trim_end_matches([',', '.', '!', ' ']);
    if rest.is_empty() || VALEDICTION_FILLERS.contains(&lower(rest).as_str()) {
        return Some(None);
    }
    // "Спасибо, жду ответа" is prose; "С уважением, Иван Петров" is not.
    looks_like_person_name(rest).then(|| Some(rest.to_owned()))
}

fn find_signature(lines: &[&str]) -> Option<SignatureStart> {
    // Suffix counts so that checking "how much follows this valediction"
    // stays linear even for a text made of nothing but "Спасибо" lines.
    let mut non_empty_after = vec![0usize; lines.len() + 1];
    let mut long_after = vec![false; lines.len() + 1];
    for i in (0..lines.len()).rev() {
        let t = lines[i].trim();
        non_empty_after[i] = non_empty_after[i + 1] + usize::from(!t.is_empty());
        long_after[i] = long_after[i + 1] || t.chars().count() > 120;
    }
    let mut seen_text = false;
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        if line.trim_end() == "--" {
            return Some(SignatureStart {
                line: i,
                drop_marker: true,
                name_in_marker: None,
            });
        }
        if is_mobile_footer(t) {
            return Some(SignatureStart {
                line: i,
                drop_marker: false,
                name_in_marker: None,
            });
        }
        // A lone "Thanks!" or "Спасибо!" as the whole message is the
        // message, not a signature: a valediction needs text above it.
        let first_text_line = !seen_text;
        seen_text |= !t.is_empty();
        if first_text_line {
            continue;
        }
        if let Some(name) = valediction(t) {
            let after = non_empty_after[i + 1];
            if after <= MAX_SIGNATURE_LINES_AFTER_VALEDICTION && !long_after[i + 1] {
                return Some(SignatureStart {
                    line: i,
                    drop_marker: false,
                    name_in_marker: name,
                });
            }
        }
    }
    None
}

/// "Иван Петров", "Петров И.И.", "Anna-Maria Smith": 1–4 capitalised words
/// of letters, no digits, no addresses, not a job title or a phrase.
pub(crate) fn looks_like_person_name(s: &str) -> bool {
    let s = s.trim();
    let words: Vec<&str> = s.split_whitespace().collect();
    if words.is_empty() || words.len() > 4 || s.chars().count() > 60 {
        return false;
    }
    words.iter().all(|w| {
        let w = w.trim_end_matches(',');
        w.chars().next().is_some_and(char::is_uppercase)
            && w.chars().any(char::is_alphabetic)
            && w.chars()
                .all(|c| c.is_alphabetic() || c == '-' || c == '.' || c == '\'')
    }) && !is_mobile_footer(s)
        && valediction_word(s).is_none()
        && !words.iter().any(|w| {
            let w = lower(w.trim_end_matches([',', '.']));
            NOT_NAME_WORDS.contains(&w.as_str())
        })
}

/// Capitalised words that start company and job-title lines, not names.
const NOT_NAME_WORDS: &[&str] = &[
    "ооо",
    "оао",
    "зао",
    "пао",
    "ао",
    "ип",
    "нко",
    "гк",
    "llc",
    "ltd",
    "inc",
    "gmbh",
    "corp",
    "менеджер",
    "директор",
    "руководитель",
    "специалист",
    "отдел",
    "бухгалтер",
    "инженер",
    "главный",
    "ведущий",
    "генеральный",
    "коммерческий",
    "начальник",
    "заместитель",
    "manager",
    "director",
    "sales",
    "head",
    "ceo",
    "cto",
    "cfo",
    "founder",
    "москва",
    "россия",
    "г",
    "ул",
    "тел",
    "моб",
    "email",
    "e-mail",
    "сайт",
    "www",
    "вам",
    "вас",
];

fn valediction_word(s: &str) -> Option<&'static str> {
    let l = lower(s.trim().trim_end_matches([',', '.', '!']));
    VALEDICTIONS.iter().copied().find(|v| *v == l)
}

fn analyse_signature(sig: &str, name_in_marker: Option<String>) -> SignatureInfo {
    let sig = truncate_at_char(sig, SIGNATURE_SCAN_BYTES);
    let mut info = SignatureInfo {
        name: name_in_marker,
        ..SignatureInfo::default()
    };
    let mut checked_for_name = 0;
    for (n, line) in sig.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        // The name is on the first lines after the marker; deeper down it
        // is the company, the address and the legal footer.
        if info.name.is_none() && checked_for_name < 3 {
            let is_marker = n == 0 && (valediction(t).is_some() || is_mobile_footer(t));
            if !is_marker {
                checked_for_name += 1;
                if looks_like_person_name(t) {
                    info.name = Some(t.to_owned());
                }
            }
        }
        if info.phones.len() < MAX_PHONE_CANDIDATES {
            phone_candidates(t, PhoneScan::Loose, &mut info.phones);
        }
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_message_without_quote_or_signature() {
        let s = split("Здравствуйте!\n\nХочу заказать 10 коробок.\n");
        assert_eq!(s.new_text, "Здравствуйте!\n\nХочу заказать 10 коробок.");
        assert!(s.quoted.is_none());
        assert!(s.signature.is_none());
    }

    #[test]
    fn gmail_reply_with_wrapped_attribution() {
        let text = "Да, подходит. Звоните.\n\nOn Mon, Jun 3, 2024 at 10:15 AM Sales Team <\nsales@example.ru> wrote:\n\n> Добрый день!\n> Предлагаем...\n";
        let s = split(text);
        assert_eq!(s.new_text, "Да, подходит. Звоните.");
        assert!(s
            .quoted
            .as_deref()
            .is_some_and(|q| q.starts_with("On Mon") && q.ends_with("> Предлагаем...")));
    }

    #[test]
    fn russian_attributions() {
        for attribution in [
            "06.06.2024, 12:00, \"Отдел продаж\" <sales@example.ru>:",
            "чт, 6 июн. 2024 г. в 12:00, Отдел продаж <sales@example.ru>:",
            "Четверг, 6 июня 2024, 12:00 +03:00 от Отдел продаж <sales@example.ru>:",
            "06.06.2024 12:00, Отдел продаж пишет:",
        ] {
            let text = format!("Ответ клиента\n\n{attribution}\n> старое письмо\n");
            let s = split(&text);
            assert_eq!(s.new_text, "Ответ клиента", "{attribution}");
            assert!(s.quoted.is_some_and(|q| q.contains("старое письмо")));
        }
        // Not an attribution: no year, no angle-bracketed address.
        let s = split("Пишите на ivan@mail.ru после 18:00:\nжду");
        assert!(s.quoted.is_none());
    }

    #[test]
    fn outlook_header_block_russian_and_english() {
        let text = "Пришлите счёт, пожалуйста.\n\n________________________________\n\
            От: Отдел продаж <sales@example.ru>\nОтправлено: 6 июня 2024 г. 12:00\n\
            Кому: Иван <ivan@client.ru>\nТема: КП\n\nДобрый день...\n";
        let s = split(text);
        assert_eq!(s.new_text, "Пришлите счёт, пожалуйста.");
        assert!(s
            .quoted
            .is_some_and(|q| q.starts_with("______") && q.contains("Тема: КП")));

        let text = "Thanks!\nFrom: Sales <sales@example.ru>\nSent: Thursday, June 6, 2024 12:00 PM\nTo: Ivan\nSubject: Offer\n\nold text";
        let s = split(text);
        assert_eq!(s.new_text, "Thanks!");
        assert!(s.quoted.is_some());
    }

    #[test]
    fn forwarded_message_separators() {
        for sep in [
            "-------- Пересылаемое сообщение --------",
            "-----Original Message-----",
            "---------- Forwarded message ---------",
            "-------- Перенаправленное сообщение --------",
            "Начало переадресованного сообщения:",
        ] {
            let text = format!("Посмотрите заявку\n\n{sep}\nОт: кто-то\nтекст\n");
            let s = split(&text);
            assert_eq!(s.new_text, "Посмотрите заявку", "{sep}");
            assert!(s.quoted.is_some_and(|q| q.starts_with(sep)));
        }
    }

    #[test]
    fn inline_answers_stay_new_text() {
        let text = "On Mon, 3 Jun 2024 Shop <shop@example.ru> wrote:\n> Сколько штук?\n100 штук\n> Куда доставить?\nВ Казань\n";
        let s = split(text);
        assert_eq!(s.new_text, "100 штук\nВ Казань");
        assert_eq!(
            s.quoted.as_deref(),
            Some("On Mon, 3 Jun 2024 Shop <shop@example.ru> wrote:\n> Сколько штук?\n> Куда доставить?")
        );
    }

    #[test]
    fn signatures_with_name_and_phones() {
        let text = "Добрый день! Интересует поставка.\n\nС уважением,\nИван Петров\n\
            Менеджер по закупкам ООО «Ромашка»\nТел.: +7 (495) 123-45-67, моб. 8-916-765-43-21\n\
            ИНН 7707083893\n";
        let s = split(text);
        assert_eq!(s.new_text, "Добрый день! Интересует поставка.");
        assert!(s
            .signature
            .as_deref()
            .is_some_and(|sig| sig.starts_with("С уважением,")));
        assert_eq!(s.info.name.as_deref(), Some("Иван Петров"));
        assert_eq!(s.info.phones, vec!["+7 (495) 123-45-67", "8-916-765-43-21"]);

        let s = split("Нужна цена\n-- \nAnna Smith\nAcme Ltd.\n+1 415 555 0100\n");
        assert_eq!(s.new_text, "Нужна цена");
        assert_eq!(
            s.signature.as_deref(),
            Some("Anna Smith\nAcme Ltd.\n+1 415 555 0100")
        );
        assert_eq!(s.info.name.as_deref(), Some("Anna Smith"));
        assert_eq!(s.info.phones, vec!["+1 415 555 0100"]);

        let s = split("Перезвоните\n\nС уважением, Ольга Сидорова\n\nОтправлено с iPhone");
        assert_eq!(s.info.name.as_deref(), Some("Ольга Сидорова"));
        let s = split("Жду КП\n\nОтправлено из мобильной Почты Mail.ru");
        assert_eq!(s.new_text, "Жду КП");
        assert_eq!(
            s.signature.as_deref(),
            Some("Отправлено из мобильной Почты Mail.ru")
        );
        assert!(s.info.name.is_none());
    }

    #[test]
    fn thanks_followed_by_prose_is_not_a_signature() {
        let text =
            "Спасибо!\nЕщё вопрос: сколько стоит доставка в Казань для партии в 500 коробок, \
            если нужна разгрузка и подъём на этаж, а также хранение на складе две недели?\nИван";
        let s = split(text);
        assert!(s.signature.is_none());
        let s = split("Спасибо, жду ответа.\nИван");
        assert!(s.signature.is_none());
    }

    #[test]
    fn phones_in_new_text_without_signature() {
        let s = split("Перезвоните мне на 8 916 123-45-67 после обеда. Заказ №1234567890");
        assert_eq!(s.info.phones, vec!["8 916 123-45-67"]);
    }

    #[test]
    fn huge_input_is_bounded() {
        let mut text = "строка текста\n".repeat(50_000);
        text.push_str("С уважением,\nИван\n");
        let s = split(&text);
        // Marker is beyond the signature search window: no signature.
        assert!(s.signature.is_none());
        let many_quotes = "> q\nответ\n".repeat(20_000);
        let s = split(&many_quotes);
        assert!(s.quoted.is_some());
    }
}
