//! Phone numbers as people type them in Russia and its neighbours, reduced to
//! E.164 so that `8 (912) 345-67-89` and `+7 912 345 67 89` match.

use std::fmt;

use serde::{Serialize, Serializer};

use super::text::{lower, starts_with_ci, truncate_bytes};
use super::Region;

/// Longest E.164 number: "+" and 15 digits.
const MAX_E164_DIGITS: usize = 15;
/// A national number with a dialling prefix ("810", "00") can be a few
/// digits longer than E.164 before the prefix is removed.
const MAX_DIALLED_DIGITS: usize = MAX_E164_DIGITS + 3;
const MAX_EXTENSION_DIGITS: usize = 6;
/// `raw()` keeps what the client typed for display; a phone field stuffed
/// with a letter does not deserve to be kept whole.
const MAX_RAW_BYTES: usize = 128;
/// Free text beyond this is not scanned for numbers: signatures are short,
/// and hostile input must not cost more than a bounded amount of work.
const MAX_SCAN_BYTES: usize = 16 * 1024;
/// More phones than this in one field is spam or a price list.
pub const MAX_EXTRACTED_PHONES: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("no digits in phone number")]
    NoDigits,
    #[error("phone number too short ({digits} digits); a city number needs its area code")]
    TooShort { digits: usize },
    #[error("phone number too long ({digits} digits)")]
    TooLong { digits: usize },
    #[error("phone number consists of one repeated digit, looks like a placeholder")]
    RepeatedDigit,
    #[error("phone number has an impossible area or operator code")]
    InvalidNationalNumber,
    #[error("country code cannot start with 0")]
    InvalidCountryCode,
    #[error("digits {digits} do not form a phone number of the region")]
    UnrecognisedFormat { digits: usize },
    #[error("extension must be 1 to {MAX_EXTENSION_DIGITS} digits")]
    InvalidExtension,
    #[error("more digits follow the phone number; use extract_phones for free text")]
    ExtraDigits,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum PhoneKind {
    Mobile,
    Landline,
    TollFree,
    Unknown,
}

/// A phone number in E.164 form, with an optional extension.
///
/// Equality and hashing ignore `raw()`: two spellings of one number are the
/// same phone.
#[derive(Debug, Clone)]
pub struct Phone {
    e164: String,
    extension: Option<String>,
    raw: String,
}

impl Phone {
    /// Parse a phone field: one number, optionally with a label before it
    /// ("тел.:") and an extension after it ("доб. 123", "ext. 12", "#12").
    pub fn parse(raw: &str, region: Region) -> Result<Phone, PhoneError> {
        let text = truncate_bytes(raw, MAX_SCAN_BYTES);
        let mut runs = Runs::new(text);
        let run = runs.next().ok_or(PhoneError::NoDigits)?;
        let mut digits = Digits::new();
        for g in &run.groups {
            if !digits.push_str(&text[g.clone()]) {
                return Err(PhoneError::TooLong {
                    digits: run.digit_count(text),
                });
            }
        }
        let e164 = normalise(digits.as_bytes(), run.plus, region)?;
        let (extension, consumed) = match parse_extension(&text[run.end..]) {
            Extension::None => (None, run.end),
            Extension::Some(ext, len) => (Some(ext.to_owned()), run.end + len),
            Extension::Invalid => return Err(PhoneError::InvalidExtension),
        };
        if text[consumed..].bytes().any(|b| b.is_ascii_digit()) {
            return Err(PhoneError::ExtraDigits);
        }
        Ok(Phone {
            e164,
            extension,
            raw: truncate_bytes(raw.trim(), MAX_RAW_BYTES).to_owned(),
        })
    }

    /// `+79123456789`: the matching key.
    pub fn e164(&self) -> &str {
        &self.e164
    }

    pub fn extension(&self) -> Option<&str> {
        self.extension.as_deref()
    }

    /// The text the number was parsed from (trimmed, capped at 128 bytes).
    pub fn raw(&self) -> &str {
        &self.raw
    }

    pub fn kind(&self) -> PhoneKind {
        kind_of(&self.e164)
    }

    /// Country calling code without `+`, for the codes we know the length of.
    pub fn country_code(&self) -> Option<&str> {
        let d = self.e164.get(1..)?;
        country_code_len(d.as_bytes()).and_then(|n| d.get(..n))
    }
}

impl PartialEq for Phone {
    fn eq(&self, other: &Self) -> bool {
        self.e164 == other.e164 && self.extension == other.extension
    }
}

impl Eq for Phone {}

impl std::hash::Hash for Phone {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.e164.hash(state);
        self.extension.hash(state);
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.e164)?;
        if let Some(ext) = &self.extension {
            write!(f, " ext. {ext}")?;
        }
        Ok(())
    }
}

impl Serialize for Phone {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.e164)
    }
}

/// Find the phone numbers in free text: a field holding several numbers, an
/// e-mail signature, a chat message.
///
/// Returns at most [`MAX_EXTRACTED_PHONES`] numbers, first occurrence first,
/// without duplicates (by E.164). Digits introduced by «ИНН», «ОГРН», «№»,
/// «заказ» and the like, and amounts followed by a currency, are skipped.
pub fn extract_phones(text: &str, region: Region) -> Vec<Phone> {
    let text = truncate_bytes(text, MAX_SCAN_BYTES);
    let mut found: Vec<Phone> = Vec::new();
    for run in Runs::new(text) {
        let mut i = 0;
        while i < run.groups.len() {
            if found.len() >= MAX_EXTRACTED_PHONES {
                return found;
            }
            let plus = i == 0 && run.plus;
            match longest_phone_from(text, &run.groups[i..], plus, region) {
                Some((e164, used)) => {
                    let start = if plus { run.start } else { run.groups[i].start };
                    let last = i + used;
                    let end = run.groups[last - 1].end;
                    let context_ok =
                        (i > 0 || !is_document_number(&text[..start])) && !is_amount(&text[end..]);
                    if context_ok {
                        let extension = if last == run.groups.len() {
                            match parse_extension(&text[end..]) {
                                Extension::Some(ext, len) => Some((ext.to_owned(), len)),
                                _ => None,
                            }
                        } else {
                            None
                        };
                        let raw_end = end + extension.as_ref().map_or(0, |(_, len)| *len);
                        if !found.iter().any(|p| p.e164 == e164) {
                            found.push(Phone {
                                e164,
                                extension: extension.map(|(ext, _)| ext),
                                raw: truncate_bytes(text[start..raw_end].trim(), MAX_RAW_BYTES)
                                    .to_owned(),
                            });
                        }
                    }
                    i = last;
                }
                None => i += 1,
            }
        }
    }
    found
}

/// The longest prefix of `groups` (whole groups only) that is a valid phone;
/// a number split in the middle of a group is not one somebody typed.
fn longest_phone_from(
    text: &str,
    groups: &[std::ops::Range<usize>],
    plus: bool,
    region: Region,
) -> Option<(String, usize)> {
    let mut digits = Digits::new();
    let mut best = None;
    for (n, g) in groups.iter().enumerate() {
        if !digits.push_str(&text[g.clone()]) {
            break;
        }
        if digits.len() >= 7 {
            if let Ok(e164) = normalise(digits.as_bytes(), plus, region) {
                best = Some((e164, n + 1));
            }
        }
    }
    best
}

/// Words after which a long number is a requisite or an order, not a phone.
const DOCUMENT_WORDS: &[&str] = &[
    "арт",
    "артикул",
    "бик",
    "договор",
    "договора",
    "заказ",
    "заказа",
    "инн",
    "кпп",
    "кс",
    "накладная",
    "накладной",
    "огрн",
    "огрнип",
    "окато",
    "окпо",
    "оktmo",
    "октмо",
    "паспорт",
    "рс",
    "снилс",
    "сч",
    "счет",
    "счета",
    "счёт",
    "invoice",
    "order",
    "inn",
    "sku",
    "id",
];

/// Whether the text right before a number names a document number.
fn is_document_number(before: &str) -> bool {
    // Look at the last word only, skipping the punctuation between it and
    // the number ("ИНН: ", "р/с ", "№ ").
    let mut word_rev: Vec<char> = Vec::with_capacity(12);
    let mut seen_letter = false;
    for c in before.chars().rev().take(40) {
        if c == '№' || c == '#' {
            return true;
        }
        if c.is_alphabetic() {
            seen_letter = true;
            word_rev.push(lower(c));
            if word_rev.len() > 12 {
                return false;
            }
        } else if c == '/' && seen_letter {
            // "р/с", "к/с": drop the slash, keep collecting
            continue;
        } else if seen_letter {
            break;
        } else if c.is_ascii_digit() || c == '\n' {
            return false;
        }
    }
    if word_rev.is_empty() {
        return false;
    }
    let word: String = word_rev.iter().rev().collect();
    DOCUMENT_WORDS.contains(&word.as_str())
}

/// Whether the text right after a number makes it an amount of money.
fn is_amount(after: &str) -> bool {
    let rest = after.trim_start_matches([' ', '\u{a0}', '\u{202f}']);
    const CURRENCY: &[&str] = &[
        "руб",
        "р.",
        "р ",
        "₽",
        "rub",
        "usd",
        "eur",
        "$",
        "€",
        "тыс",
        "млн",
        "коп",
        "тг",
        "тенге",
        "грн",
        "byn",
    ];
    CURRENCY.iter().any(|c| starts_with_ci(rest, c))
}

/// Normalise the digits of one number to E.164.
fn normalise(d: &[u8], plus: bool, region: Region) -> Result<String, PhoneError> {
    let n = d.len();
    if n == 0 {
        return Err(PhoneError::NoDigits);
    }
    if n > MAX_DIALLED_DIGITS {
        return Err(PhoneError::TooLong { digits: n });
    }
    if n < 7 {
        return Err(PhoneError::TooShort { digits: n });
    }
    if all_same(d) {
        return Err(PhoneError::RepeatedDigit);
    }
    if plus {
        return international(d, region);
    }
    // Dialling prefixes for calls abroad: "8 10" from Russia, "00" elsewhere.
    if n > 10 && d.starts_with(b"810") {
        return international(&d[3..], region);
    }
    if n > 9 && d.starts_with(b"00") {
        return international(&d[2..], region);
    }
    match region {
        Region::By => {
            if n == 11 && d.starts_with(b"80") {
                return build("375", &d[2..]);
            }
            if n == 9 && matches!(d[0], b'1'..=b'4') {
                return build("375", d);
            }
        }
        Region::Ua => {
            if n == 10 && d[0] == b'0' {
                return build("380", &d[1..]);
            }
            if n == 11 && d.starts_with(b"80") {
                return build("380", &d[2..]);
            }
            if n == 9 && d[0] != b'0' {
                return build("380", d);
            }
        }
        Region::Ru | Region::Kz => {}
    }
    match n {
        11 if d[0] == b'8' => russian(&d[1..]),
        11 if d[0] == b'7' => russian(&d[1..]),
        10 if !d.starts_with(b"375") && !d.starts_with(b"380") => russian(d),
        12 if d.starts_with(b"375") || d.starts_with(b"380") => international(d, region),
        _ if n < 10 => Err(PhoneError::TooShort { digits: n }),
        _ if n > 12 => Err(PhoneError::TooLong { digits: n }),
        _ => Err(PhoneError::UnrecognisedFormat { digits: n }),
    }
}

/// A ten-digit national number of the +7 zone (Russia and Kazakhstan).
fn russian(national: &[u8]) -> Result<String, PhoneError> {
    if all_same(national) {
        return Err(PhoneError::RepeatedDigit);
    }
    // Russian area and operator codes start with 3, 4, 8 or 9, Kazakh ones
    // with 6 or 7; 0, 1, 2 and 5 are not used in the zone.
    if national.len() != 10 || !matches!(national[0], b'3' | b'4' | b'6'..=b'9') {
        return Err(PhoneError::InvalidNationalNumber);
    }
    build("7", national)
}

fn international(d: &[u8], region: Region) -> Result<String, PhoneError> {
    let n = d.len();
    if n == 0 {
        return Err(PhoneError::NoDigits);
    }
    if d[0] == b'0' {
        return Err(PhoneError::InvalidCountryCode);
    }
    if d[0] == b'7' {
        // "+7 8 912 ..." - the trunk prefix typed after the country code;
        // "+7 7 912 ..." - the country code typed twice.
        if n == 12 && matches!(d[1], b'8' | b'7') {
            return russian(&d[2..]);
        }
        return match n {
            11 => russian(&d[1..]),
            _ if n < 11 => Err(PhoneError::TooShort { digits: n }),
            _ => Err(PhoneError::TooLong { digits: n }),
        };
    }
    // "+8 912 ..." - a trunk prefix mistaken for a country code; no country
    // code starts with 89.
    if n == 11 && d.starts_with(b"89") && matches!(region, Region::Ru | Region::Kz) {
        return russian(&d[1..]);
    }
    if d.starts_with(b"375") || d.starts_with(b"380") {
        return match n {
            12 => check_national(&d[..3], &d[3..]),
            _ if n < 12 => Err(PhoneError::TooShort { digits: n }),
            _ => Err(PhoneError::TooLong { digits: n }),
        };
    }
    if n < 8 {
        return Err(PhoneError::TooShort { digits: n });
    }
    if n > MAX_E164_DIGITS {
        return Err(PhoneError::TooLong { digits: n });
    }
    // Country codes are 1-3 digits; without a table we only guard against a
    // national part of one repeated digit.
    if all_same(&d[3..]) {
        return Err(PhoneError::RepeatedDigit);
    }
    Ok(to_e164(d))
}

fn check_national(cc: &[u8], national: &[u8]) -> Result<String, PhoneError> {
    if national.first() == Some(&b'0') {
        return Err(PhoneError::InvalidNationalNumber);
    }
    if all_same(national) {
        return Err(PhoneError::RepeatedDigit);
    }
    let mut s = String::with_capacity(1 + cc.len() + national.len());
    s.push('+');
    s.extend(cc.iter().map(|&b| char::from(b)));
    s.extend(national.iter().map(|&b| char::from(b)));
    Ok(s)
}

fn build(cc: &str, national: &[u8]) -> Result<String, PhoneError> {
    check_national(cc.as_bytes(), national)
}

fn to_e164(d: &[u8]) -> String {
    let mut s = String::with_capacity(1 + d.len());
    s.push('+');
    s.extend(d.iter().map(|&b| char::from(b)));
    s
}

fn all_same(d: &[u8]) -> bool {
    match d.split_first() {
        Some((first, rest)) => rest.iter().all(|b| b == first),
        None => false,
    }
}

fn country_code_len(d: &[u8]) -> Option<usize> {
    if d.starts_with(b"7") {
        Some(1)
    } else if d.starts_with(b"375") || d.starts_with(b"380") {
        Some(3)
    } else {
        None
    }
}

fn kind_of(e164: &str) -> PhoneKind {
    let d = e164.as_bytes().get(1..).unwrap_or_default();
    let starts = |p: &[u8]| d.starts_with(p);
    if starts(b"7") {
        let n = &d[1..];
        return match n {
            [b'9', ..] => PhoneKind::Mobile,
            [b'8', b'0', b'0', ..] => PhoneKind::TollFree,
            // 801-809 are service and premium ranges, not anybody's line.
            [b'8', b'0', ..] => PhoneKind::Unknown,
            [b'3' | b'4' | b'8', ..] => PhoneKind::Landline,
            // Kazakhstan: 70x and 747, 77x are mobile operators, 71x-73x cities.
            [b'7', b'0', ..] | [b'7', b'4', b'7', ..] | [b'7', b'7', ..] => PhoneKind::Mobile,
            [b'7', b'1'..=b'3', ..] => PhoneKind::Landline,
            _ => PhoneKind::Unknown,
        };
    }
    if starts(b"375") {
        return match &d[3..] {
            [b'2', b'5', ..] | [b'2', b'9', ..] | [b'3', b'3', ..] | [b'4', b'4', ..] => {
                PhoneKind::Mobile
            }
            [b'8', b'0', b'0' | b'1', ..] => PhoneKind::TollFree,
            [b'1' | b'2', ..] => PhoneKind::Landline,
            _ => PhoneKind::Unknown,
        };
    }
    if starts(b"380") {
        return match &d[3..] {
            [b'3', b'9', ..]
            | [b'5', b'0', ..]
            | [b'6', b'3' | b'6' | b'7' | b'8', ..]
            | [b'7', b'3', ..]
            | [b'8', b'9', ..]
            | [b'9', b'1'..=b'9', ..] => PhoneKind::Mobile,
            [b'8', b'0', b'0', ..] => PhoneKind::TollFree,
            [b'3'..=b'6', ..] => PhoneKind::Landline,
            _ => PhoneKind::Unknown,
        };
    }
    PhoneKind::Unknown
}

/// Fixed-capacity digit buffer: normalising never needs more than
/// [`MAX_DIALLED_DIGITS`] digits, so hostile input cannot make it grow.
struct Digits {
    buf: [u8; MAX_DIALLED_DIGITS],
    len: usize,
}

impl Digits {
    fn new() -> Self {
        Digits {
            buf: [0; MAX_DIALLED_DIGITS],
            len: 0,
        }
    }

    /// Append the ASCII digits of `s`; false once the buffer is full.
    fn push_str(&mut self, s: &str) -> bool {
        for b in s.bytes().filter(u8::is_ascii_digit) {
            if self.len == self.buf.len() {
                return false;
            }
            self.buf[self.len] = b;
            self.len += 1;
        }
        true
    }

    fn len(&self) -> usize {
        self.len
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// A stretch of digit groups joined by the separators people put inside
/// phone numbers.
struct Run {
    plus: bool,
    /// Byte offset of the `+` or the first digit.
    start: usize,
    /// Byte offset just after the last digit.
    end: usize,
    /// Byte ranges of the digit groups.
    groups: Vec<std::ops::Range<usize>>,
}

impl Run {
    fn digit_count(&self, text: &str) -> usize {
        self.groups.iter().map(|g| text[g.clone()].len()).sum()
    }
}

fn is_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '\u{a0}'
            | '\u{202f}'
            | '\u{2009}'
            | '-'
            | '\u{2010}'
            | '\u{2011}'
            | '\u{2012}'
            | '\u{2013}'
            | '\u{2014}'
            | '.'
            | '('
            | ')'
    )
}

/// Separators in a row inside one number, e.g. `") - "`; more than that and
/// the digits on either side belong to different things.
const MAX_SEPARATOR_RUN: usize = 4;
/// A run with more groups than this is a table of figures, not phones.
const MAX_GROUPS_PER_RUN: usize = 64;

struct Runs<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Runs<'a> {
    fn new(text: &'a str) -> Self {
        Runs { text, pos: 0 }
    }
}

impl Iterator for Runs<'_> {
    type Item = Run;

    fn next(&mut self) -> Option<Run> {
        let text = self.text;
        let bytes = text.as_bytes();
        let first = self.pos + bytes.get(self.pos..)?.iter().position(u8::is_ascii_digit)?;
        // A '+' right before the digits, or before an opening bracket or a
        // space ("+ 7", "+(7)"), marks an international number.
        let mut start = first;
        let mut plus = false;
        let before = text[..first].trim_end_matches([' ', '(']);
        if before.ends_with('+') && first - before.len() <= 2 {
            plus = true;
            start = before.len() - 1;
        }
        let mut groups = Vec::new();
        let mut i = first;
        loop {
            let g_start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            groups.push(g_start..i);
            let group_end = i;
            let mut j = i;
            for (seps, (off, c)) in text[i..].char_indices().enumerate() {
                if c.is_ascii_digit() {
                    j = i + off;
                    break;
                }
                if !is_separator(c) || seps == MAX_SEPARATOR_RUN {
                    j = group_end;
                    break;
                }
                j = i + off + c.len_utf8();
            }
            let continues = j < bytes.len() && bytes[j].is_ascii_digit() && j != group_end;
            if !continues || groups.len() >= MAX_GROUPS_PER_RUN {
                self.pos = group_end;
                return Some(Run {
                    plus,
                    start,
                    end: group_end,
                    groups,
                });
            }
            i = j;
        }
    }
}

enum Extension<'a> {
    None,
    Some(&'a str, usize),
    Invalid,
}

/// Markers of an extension number, lowercase.
const EXTENSION_MARKERS: &[&str] = &[
    "добавочный",
    "доб",
    "доп",
    "внутренний",
    "внутр",
    "вн",
    "extension",
    "ext",
    "x",
    "#",
];

/// Parse an extension right after a number: `" доб. 123"`, `" ext 12"`,
/// `"#12"`. Returns the digits and the bytes consumed.
fn parse_extension(after: &str) -> Extension<'_> {
    let trimmed = after.trim_start_matches([' ', '\u{a0}', ',', ';', '(']);
    let skipped = after.len() - trimmed.len();
    let Some(marker) = EXTENSION_MARKERS
        .iter()
        .find(|m| starts_with_ci(trimmed, m))
    else {
        return Extension::None;
    };
    let marker_bytes: usize = trimmed
        .chars()
        .take(marker.chars().count())
        .map(char::len_utf8)
        .sum();
    let rest = &trimmed[marker_bytes..];
    // A marker glued to a longer word ("вниманию") is not a marker.
    if marker.chars().all(char::is_alphabetic) {
        if let Some(c) = rest.chars().next() {
            if c.is_alphabetic() {
                return Extension::None;
            }
        }
    }
    let digits_at = rest
        .char_indices()
        .find(|&(_, c)| !matches!(c, ' ' | '\u{a0}' | '.' | ':' | '-' | '№'))
        .map_or(rest.len(), |(i, _)| i);
    let digits_part = &rest[digits_at..];
    let n = digits_part.bytes().take_while(u8::is_ascii_digit).count();
    if n == 0 {
        // "x" or "#" followed by something else is just text.
        return Extension::None;
    }
    if n > MAX_EXTENSION_DIGITS {
        return Extension::Invalid;
    }
    let consumed = skipped + marker_bytes + digits_at + n;
    let mut tail = after[consumed..].chars();
    if tail.next() == Some(')') {
        return Extension::Some(&digits_part[..n], consumed + 1);
    }
    Extension::Some(&digits_part[..n], consumed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e164(raw: &str) -> String {
        match Phone::parse(raw, Region::Ru) {
            Ok(p) => p.e164().to_owned(),
            Err(e) => panic!("{raw:?}: {e}"),
        }
    }

    #[test]
    fn russian_spellings_agree() {
        for raw in [
            "8 (912) 345-67-89",
            "+7 912 345 67 89",
            "79123456789",
            "89123456789",
            "912-345-67-89",
            "8-912-345-67-89",
            "тел.: +7(912)3456789",
            "+7 (912) 345-67-89",
            "+7-912-345-67-89",
            "8 912 3456789",
            "+8 912 345 67 89",
            "+7 8 912 345 67 89",
            "(912) 345 67 89",
            "+7\u{a0}912\u{a0}345\u{a0}67\u{a0}89",
            "8\u{2011}912\u{2011}345\u{2011}67\u{2011}89",
            "912.345.67.89",
            "Моб. 8 912 345-67-89 (Иван)",
        ] {
            assert_eq!(e164(raw), "+79123456789", "{raw}");
        }
    }

    #[test]
    fn extensions() {
        let p = Phone::parse("+7 (495) 123-45-67 доб. 123", Region::Ru).unwrap();
        assert_eq!(p.e164(), "+74951234567");
        assert_eq!(p.extension(), Some("123"));
        assert_eq!(p.kind(), PhoneKind::Landline);
        for (raw, ext) in [
            ("8 495 123 45 67 ext. 12", "12"),
            ("8 495 123 45 67 #12", "12"),
            ("8 495 123 45 67, вн. 12", "12"),
            ("8 495 123 45 67 (доб. 4455)", "4455"),
            ("8 495 123 45 67 добавочный 7", "7"),
            ("+1 555 123 4567 x89", "89"),
        ] {
            let p = Phone::parse(raw, Region::Ru).unwrap();
            assert_eq!(p.extension(), Some(ext), "{raw}");
        }
        assert_eq!(
            Phone::parse("8 495 123 45 67 доб. 12345678", Region::Ru),
            Err(PhoneError::InvalidExtension)
        );
    }

    #[test]
    fn international_numbers_kept_as_given() {
        assert_eq!(e164("+375 29 123-45-67"), "+375291234567");
        assert_eq!(e164("+380 67 123 45 67"), "+380671234567");
        assert_eq!(e164("+49 30 1234567"), "+49301234567");
        assert_eq!(e164("8 10 49 30 1234567"), "+49301234567");
        assert_eq!(e164("0049 30 1234567"), "+49301234567");
        assert_eq!(e164("375291234567"), "+375291234567");
    }

    #[test]
    fn neighbouring_regions() {
        let by = |s| Phone::parse(s, Region::By).map(|p| p.e164().to_owned());
        assert_eq!(by("8 029 123-45-67").unwrap(), "+375291234567");
        assert_eq!(by("29 123 45 67").unwrap(), "+375291234567");
        assert_eq!(by("8 912 345 67 89").unwrap(), "+79123456789");
        let ua = |s| Phone::parse(s, Region::Ua).map(|p| p.e164().to_owned());
        assert_eq!(ua("067 123 45 67").unwrap(), "+380671234567");
        assert_eq!(ua("044 123-45-67").unwrap(), "+380441234567");
        let kz = |s| Phone::parse(s, Region::Kz).map(|p| p.e164().to_owned());
        assert_eq!(kz("8 701 123 45 67").unwrap(), "+77011234567");
        assert_eq!(kz("701 123 45 67").unwrap(), "+77011234567");
    }

    #[test]
    fn kinds() {
        let kind = |s| Phone::parse(s, Region::Ru).unwrap().kind();
        assert_eq!(kind("8 912 345 67 89"), PhoneKind::Mobile);
        assert_eq!(kind("8 800 555 35 35"), PhoneKind::TollFree);
        assert_eq!(kind("8 (812) 123-45-67"), PhoneKind::Landline);
        assert_eq!(kind("8 701 123 45 67"), PhoneKind::Mobile);
        assert_eq!(kind("+7 727 123 45 67"), PhoneKind::Landline);
        assert_eq!(kind("+375 29 123 45 67"), PhoneKind::Mobile);
        assert_eq!(kind("+380 44 123 45 67"), PhoneKind::Landline);
        assert_eq!(kind("+49 30 1234567"), PhoneKind::Unknown);
    }

    #[test]
    fn junk_is_rejected_with_a_reason() {
        let err = |s| Phone::parse(s, Region::Ru).unwrap_err();
        assert_eq!(err(""), PhoneError::NoDigits);
        assert_eq!(err("нет телефона"), PhoneError::NoDigits);
        assert_eq!(
            err("+7 (___) ___-__-__"),
            PhoneError::TooShort { digits: 1 }
        );
        assert_eq!(err("0000000000"), PhoneError::RepeatedDigit);
        assert_eq!(err("1111111111"), PhoneError::RepeatedDigit);
        assert_eq!(err("+7 (000) 000-00-00"), PhoneError::RepeatedDigit);
        assert_eq!(err("8 999 999 99 99"), PhoneError::RepeatedDigit);
        assert_eq!(err("123-45-67"), PhoneError::TooShort { digits: 7 });
        assert_eq!(err("+7 912 345"), PhoneError::TooShort { digits: 7 });
        assert_eq!(err("8912345678901234"), PhoneError::TooLong { digits: 16 });
        assert!(matches!(
            err("1234567890123456789012345"),
            PhoneError::TooLong { .. }
        ));
        assert_eq!(err("2123456789"), PhoneError::InvalidNationalNumber);
        assert_eq!(err("+0 123 456 789"), PhoneError::InvalidCountryCode);
        assert_eq!(
            err("8 912 345 67 89 или 8 495 123 45 67"),
            PhoneError::ExtraDigits
        );
    }

    #[test]
    fn hostile_input_does_not_panic() {
        let long = "😀8".repeat(10_000);
        let _ = Phone::parse(&long, Region::Ru);
        let digits = "9".repeat(100_000);
        assert!(Phone::parse(&digits, Region::Ru).is_err());
        let spaced = "1 ".repeat(50_000);
        let _ = Phone::parse(&spaced, Region::Ru);
        assert!(extract_phones(&spaced, Region::Ru).len() <= MAX_EXTRACTED_PHONES);
        let p = Phone::parse(&format!("+7 912 345 67 89{}", "ж".repeat(5000)), Region::Ru).unwrap();
        assert!(p.raw().len() <= MAX_RAW_BYTES);
        for s in ["+", "+-", "доб. 1", "#", "8 (", "+7 912 345 67 89 доб"] {
            let _ = Phone::parse(s, Region::Ru);
            let _ = extract_phones(s, Region::Ru);
        }
    }

    #[test]
    fn serializes_as_e164() {
        let p = Phone::parse("8 912 345 67 89 доб. 5", Region::Ru).unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"+79123456789\"");
        assert_eq!(p.to_string(), "+79123456789 ext. 5");
        assert_eq!(p.raw(), "8 912 345 67 89 доб. 5");
        assert_eq!(p.country_code(), Some("7"));
    }

    fn extracted(text: &str) -> Vec<String> {
        extract_phones(text, Region::Ru)
            .iter()
            .map(|p| p.e164().to_owned())
            .collect()
    }

    #[test]
    fn extracts_several_numbers() {
        assert_eq!(
            extracted("8 912 345 67 89, 8(495)1234567"),
            ["+79123456789", "+74951234567"]
        );
        assert_eq!(
            extracted("8 912 345 67 89 8 495 123 45 67"),
            ["+79123456789", "+74951234567"]
        );
        assert_eq!(
            extracted("89123456789/89131234567; +7 912 345-67-89"),
            ["+79123456789", "+79131234567"]
        );
        assert_eq!(
            extracted("Звоните: 89123456789. Офис 8 495 1234567 доб. 12"),
            ["+79123456789", "+74951234567"]
        );
    }

    #[test]
    fn extracts_from_signature() {
        let signature = "С уважением,\nИван Петров\nменеджер ООО «Ромашка»\n\
            ИНН 7707083893 КПП 770701001\nОГРН 1027700132195\n\
            Тел.: +7 (495) 123-45-67, доб. 204\nМоб.: 8-912-345-67-89\n\
            ivan@romashka.ru";
        let phones = extract_phones(signature, Region::Ru);
        let e: Vec<_> = phones.iter().map(|p| p.e164()).collect();
        assert_eq!(e, ["+74951234567", "+79123456789"]);
        assert_eq!(phones[0].extension(), Some("204"));
    }

    #[test]
    fn does_not_mistake_other_numbers_for_phones() {
        assert!(extracted("ИНН 5001234567").is_empty());
        assert!(extracted("ИНН: 500123456789").is_empty());
        assert!(extracted("заказ № 9123456789 от 12.05.2023").is_empty());
        assert!(extracted("Заказ 9123456789").is_empty());
        assert!(extracted("Order #9123456789").is_empty());
        assert!(extracted("р/с 40702810900000012345").is_empty());
        assert!(extracted("Итого 9 123 456 789 руб.").is_empty());
        assert!(extracted("цена 4 950 000 000 ₽").is_empty());
        assert!(extracted("встреча 12.05.2023 в 14:30").is_empty());
        assert!(extracted("2023-05-12 2024-01-01").is_empty());
        assert_eq!(
            extracted("12.05.2023 позвоните 89123456789"),
            ["+79123456789"]
        );
    }

    #[test]
    fn extraction_is_capped_and_deduplicated() {
        let many: String = (0..50)
            .map(|i| format!("8 912 345 {:02} {:02}, ", i, 10 + i))
            .collect();
        assert_eq!(
            extract_phones(&many, Region::Ru).len(),
            MAX_EXTRACTED_PHONES
        );
        let same = "8 912 345 67 89, +79123456789, 912-345-67-89";
        assert_eq!(extracted(same), ["+79123456789"]);
    }
}
