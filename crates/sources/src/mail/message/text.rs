//! Small text helpers shared by the mail parsing steps: safe truncation,
//! newline/whitespace normalisation, the Cyrillic 8-bit charset guess and
//! phone-number candidate search.

use std::borrow::Cow;

/// Cuts `s` to at most `max_bytes` bytes without splitting a UTF-8 character.
pub(crate) fn truncate_at_char(s: &str, max_bytes: usize) -> &str {
    if s.len() <= max_bytes {
        return s;
    }
    let mut end = max_bytes;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Same as [`truncate_at_char`] but owned, for values stored in the result.
pub(crate) fn cap_owned(s: &str, max_bytes: usize) -> String {
    truncate_at_char(s, max_bytes).to_owned()
}

/// Brings line endings to `\n` and drops control characters other than tab
/// and newline: bodies arrive with CRLF, bare CR (old Mac clients, some
/// form robots) or stray NULs, and every later step is line based.
pub(crate) fn normalize_newlines(s: &str) -> Cow<'_, str> {
    let clean = !s
        .chars()
        .any(|c| c == '\r' || (c.is_control() && c != '\n' && c != '\t'));
    if clean {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push('\n');
            }
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Collapses every run of whitespace (including NBSP and folded header
/// line breaks) into one space and trims the ends.
pub(crate) fn collapse_ws(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split(|c: char| c.is_whitespace()) {
        if word.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Removes blank lines at both ends and trailing spaces on every line.
pub(crate) fn trim_block(lines: &[&str]) -> String {
    let start = lines
        .iter()
        .position(|l| !l.trim().is_empty())
        .unwrap_or(lines.len());
    let end = lines
        .iter()
        .rposition(|l| !l.trim().is_empty())
        .map_or(start, |i| i + 1);
    let mut out = String::new();
    for (n, line) in lines.get(start..end).unwrap_or_default().iter().enumerate() {
        if n > 0 {
            out.push('\n');
        }
        out.push_str(line.trim_end());
    }
    out
}

/// Single-byte Cyrillic charsets seen in unlabelled Russian mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cyrillic8Bit {
    Windows1251,
    Koi8R,
}

impl Cyrillic8Bit {
    fn label(self) -> &'static [u8] {
        match self {
            Cyrillic8Bit::Windows1251 => b"windows-1251",
            Cyrillic8Bit::Koi8R => b"koi8-r",
        }
    }

    pub(crate) fn decode(self, bytes: &[u8]) -> String {
        match mail_parser::decoders::charsets::map::charset_decoder(self.label()) {
            Some(decoder) => decoder(bytes),
            None => String::from_utf8_lossy(bytes).into_owned(),
        }
    }
}

/// Guesses between windows-1251 and KOI8-R. Russian prose is mostly
/// lowercase; lowercase letters sit in 0xE0..=0xFF in windows-1251 but in
/// 0xC0..=0xDF in KOI8-R, so whichever range dominates tells the charset.
/// Ties go to windows-1251: it is what Outlook, The Bat! and 1C/Bitrix
/// emit, and by far the most common unlabelled 8-bit Russian charset.
pub(crate) fn guess_cyrillic(bytes: &[u8]) -> Cyrillic8Bit {
    let (mut c0_df, mut e0_ff) = (0usize, 0usize);
    for &b in bytes {
        match b {
            0xC0..=0xDF => c0_df += 1,
            0xE0..=0xFF => e0_ff += 1,
            _ => {}
        }
    }
    if c0_df > e0_ff {
        Cyrillic8Bit::Koi8R
    } else {
        Cyrillic8Bit::Windows1251
    }
}

/// Decodes bytes whose charset was not declared (or was declared wrongly as
/// UTF-8/ASCII): valid UTF-8 stays as is, anything else is taken as 8-bit
/// Cyrillic.
pub(crate) fn decode_unlabelled(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => guess_cyrillic(bytes).decode(bytes),
    }
}

/// Lowercases (Unicode-aware) for keyword matching.
pub(crate) fn lower(s: &str) -> String {
    s.to_lowercase()
}

/// Words right before a digit run that mean it is a requisite or a document
/// number, not a phone: INN/KPP/OGRN/BIK and bank accounts are 9–20 digits
/// and sit in exactly the signature blocks we scan.
const NOT_PHONE_CONTEXT: &[&str] = &[
    "инн",
    "кпп",
    "огрн",
    "огрнип",
    "бик",
    "окпо",
    "оквэд",
    "р/с",
    "к/с",
    "р/сч",
    "к/сч",
    "сч.",
    "счет",
    "счёт",
    "л/с",
    "снилс",
    "паспорт",
    "заказ",
    "договор",
    "order",
    "invoice",
    "№",
    "#",
    "id",
    "inn",
];

/// Words that make a bare digit run on the same line a phone.
const PHONE_KEYWORDS: &[&str] = &[
    "тел",
    "моб",
    "phone",
    "tel",
    "mob",
    "сот",
    "whatsapp",
    "viber",
    "telegram",
    "звонит",
    "номер",
    "факс",
    "fax",
    "cell",
];

fn is_phone_char(c: char) -> bool {
    c.is_ascii_digit()
        || matches!(
            c,
            '+' | '(' | ')' | '-' | ' ' | '.' | '\u{a0}' | '\u{2010}'..='\u{2015}' | '\u{2212}'
        )
}

/// How strict the candidate filter is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PhoneScan {
    /// Signature blocks and form fields: short city numbers (7 digits) are
    /// accepted when the line says it is a phone.
    Loose,
    /// Free text the person wrote: only things shaped like full numbers.
    Strict,
}

/// Finds substrings of `line` that look like phone numbers and returns them
/// raw (trimmed). Normalisation is the caller's Phone parser's job; this
/// only has to avoid obvious non-phones (dates, INN, order numbers).
pub(crate) fn phone_candidates(line: &str, mode: PhoneScan, out: &mut Vec<String>) {
    let line_lower = lower(line);
    let has_keyword = PHONE_KEYWORDS.iter().any(|k| line_lower.contains(k));
    let mut chars = line.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if !(c.is_ascii_digit() || c == '+' || c == '(') {
            continue;
        }
        // A digit glued to letters ("ab123", "x2") is part of a word/code.
        if start > 0
            && line[..start]
                .chars()
                .next_back()
                .is_some_and(char::is_alphanumeric)
        {
            while chars.peek().is_some_and(|(_, c)| c.is_alphanumeric()) {
                chars.next();
            }
            continue;
        }
        let mut end = start + c.len_utf8();
        while let Some(&(i, c)) = chars.peek() {
            // A second '+' starts the next number ("+7 916 … +7 495 …").
            if !is_phone_char(c) || (c == '+' && i > start) {
                break;
            }
            end = i + c.len_utf8();
            chars.next();
        }
        // Glued to letters on the right ("123abc") → not a phone; a space
        // before the next word ("…-67 доб. 115") is fine.
        let ends_in_space = line[start..end].ends_with(|c: char| c.is_whitespace());
        if !ends_in_space && line[end..].chars().next().is_some_and(char::is_alphabetic) {
            continue;
        }
        let run = line[start..end]
            .trim_end_matches(|c: char| !(c.is_ascii_digit() || c == ')'))
            .trim();
        if accept_phone(run, &line_lower, start, mode, has_keyword) {
            let run = run.to_owned();
            if !out.contains(&run) {
                out.push(run);
            }
        }
    }
}

fn accept_phone(run: &str, line_lower: &str, start: usize, mode: PhoneScan, kw: bool) -> bool {
    let digits = run.chars().filter(char::is_ascii_digit).count();
    if !(7..=15).contains(&digits) {
        return false;
    }
    if looks_like_date_or_time(run) {
        return false;
    }
    // `start` is a byte offset into the original line; lowercasing Cyrillic
    // keeps byte lengths equal, but guard the slice anyway.
    let before = line_lower.get(..start).unwrap_or("");
    let before = before.trim_end_matches([' ', ':', '\u{a0}']);
    let tail: String = before
        .chars()
        .rev()
        .take(12)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    if NOT_PHONE_CONTEXT.iter().any(|w| tail.ends_with(w)) {
        return false;
    }
    let starts_intl = run.starts_with('+');
    let compact: String = run.chars().filter(char::is_ascii_digit).collect();
    let ru_trunk = digits == 11 && (compact.starts_with('7') || compact.starts_with('8'));
    let formatted = run.contains(['(', '-', ' ', '\u{a0}']);
    match mode {
        PhoneScan::Loose => digits >= 10 || kw,
        PhoneScan::Strict => {
            (digits >= 10 && (starts_intl || ru_trunk || kw || (formatted && digits <= 12)))
                || (kw && digits >= 7)
        }
    }
}

/// `06.06.2024`, `2024-06-06`, `12:00` and similar are not phones.
fn looks_like_date_or_time(run: &str) -> bool {
    let groups: Vec<&str> = run
        .split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .collect();
    let dotted = run.contains('.') && !run.contains(['(', '+', ' ']);
    if dotted && (2..=3).contains(&groups.len()) {
        return true;
    }
    // ISO date: 4-2-2 with dashes only.
    groups.len() == 3
        && groups[0].len() == 4
        && groups[1].len() == 2
        && groups[2].len() == 2
        && run.chars().all(|c| c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_never_splits_a_char() {
        assert_eq!(truncate_at_char("Привет", 3), "П");
        assert_eq!(truncate_at_char("abc", 10), "abc");
        assert_eq!(truncate_at_char("", 0), "");
    }

    #[test]
    fn newlines_are_normalised() {
        assert_eq!(normalize_newlines("a\r\nb\rc\0d"), "a\nb\ncd");
        assert!(matches!(
            normalize_newlines("plain\ntext"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn cp1251_and_koi8_are_told_apart() {
        let cp1251 = b"\xcf\xf0\xe8\xe2\xe5\xf2, \xec\xe8\xf0"; // "Привет, мир"
        let koi8 = b"\xf0\xd2\xc9\xd7\xc5\xd4, \xcd\xc9\xd2";
        assert_eq!(decode_unlabelled(cp1251), "Привет, мир");
        assert_eq!(decode_unlabelled(koi8), "Привет, мир");
        assert_eq!(decode_unlabelled("уже utf-8".as_bytes()), "уже utf-8");
    }

    fn phones(line: &str, mode: PhoneScan) -> Vec<String> {
        let mut v = Vec::new();
        phone_candidates(line, mode, &mut v);
        v
    }

    #[test]
    fn phone_candidates_found_and_false_positives_skipped() {
        assert_eq!(
            phones("Тел.: +7 (916) 123-45-67, доб. 12", PhoneScan::Loose),
            vec!["+7 (916) 123-45-67"]
        );
        assert_eq!(
            phones(
                "моб. 8-916-123-45-67 / раб. 8 (495) 765 43 21.",
                PhoneScan::Loose
            ),
            vec!["8-916-123-45-67", "8 (495) 765 43 21"]
        );
        assert_eq!(
            phones("+79161234567 +74951234567", PhoneScan::Strict),
            vec!["+79161234567", "+74951234567"]
        );
        assert!(phones("ИНН 7707083893 КПП 770701001", PhoneScan::Loose).is_empty());
        assert!(phones("Встреча 06.06.2024 в 12:00", PhoneScan::Loose).is_empty());
        assert!(phones("Заказ № 12345678901", PhoneScan::Strict).is_empty());
        assert!(phones("Артикул AB1234567890", PhoneScan::Strict).is_empty());
        assert!(phones("Нужно 1500000 штук", PhoneScan::Strict).is_empty());
        assert_eq!(
            phones("тел 123-45-67", PhoneScan::Strict),
            vec!["123-45-67"]
        );
        assert_eq!(
            phones("звоните 89161234567", PhoneScan::Strict),
            vec!["89161234567"]
        );
    }
}
