//! E-mail addresses: cleaned for display and folded to a matching key.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::text::{is_cyrillic, strip_prefix_ci};

/// RFC 5321 limits; anything longer is not an address somebody can receive
/// mail at.
const MAX_ADDRESS_BYTES: usize = 254;
const MAX_LOCAL_BYTES: usize = 64;
const MAX_LABEL_BYTES: usize = 63;
/// Input is only looked at up to this size; past it we reject without
/// scanning a hostile megabyte.
const MAX_INPUT_BYTES: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("e-mail address is empty")]
    Empty,
    #[error("e-mail address is too long")]
    TooLong,
    #[error("e-mail address contains whitespace")]
    ContainsWhitespace,
    #[error("e-mail address has no @")]
    MissingAt,
    #[error("e-mail address has more than one @")]
    MultipleAt,
    #[error("e-mail address has nothing before @")]
    EmptyLocalPart,
    #[error("e-mail local part contains {0:?}, which is not allowed")]
    InvalidLocalPart(char),
    #[error("e-mail local part has a dot at its start, end or twice in a row")]
    MisplacedDot,
    #[error("invalid e-mail domain: {0}")]
    InvalidDomain(&'static str),
}

/// A syntactically valid e-mail address, trimmed and lowercased.
///
/// Cyrillic domains (`почта.рф`) are kept in Cyrillic; punycode (`xn--`)
/// domains are kept as given and are not decoded.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email {
    address: String,
    /// Byte offset of the `@` in `address`.
    at: usize,
    /// Matching key, computed once at parse time because the homoglyph fold
    /// needs the original letter case (Cyrillic «Н» looks like «H», «н»
    /// does not).
    key: String,
}

impl Email {
    pub fn parse(raw: &str) -> Result<Email, EmailError> {
        if raw.len() > MAX_INPUT_BYTES {
            return Err(EmailError::TooLong);
        }
        let joined = close_gaps_around_at(unwrap_address(raw));
        let s = strip_label(unwrap_address(&joined));
        if s.is_empty() {
            return Err(EmailError::Empty);
        }
        if s.len() > MAX_ADDRESS_BYTES {
            return Err(EmailError::TooLong);
        }
        if s.chars().any(char::is_whitespace) {
            return Err(EmailError::ContainsWhitespace);
        }
        let mut parts = s.split('@');
        let (local, domain) = match (parts.next(), parts.next(), parts.next()) {
            (_, None, _) => return Err(EmailError::MissingAt),
            (Some(local), Some(domain), None) => (local, domain),
            _ => return Err(EmailError::MultipleAt),
        };
        check_local(local)?;
        let domain = domain.strip_suffix('.').unwrap_or(domain);
        check_domain(domain)?;

        let mut address = String::with_capacity(s.len());
        address.extend(local.chars().flat_map(char::to_lowercase));
        let at = address.len();
        address.push('@');
        address.extend(domain.chars().flat_map(char::to_lowercase));
        let key = matching_key(local, domain);
        Ok(Email { address, at, key })
    }

    /// The cleaned address: `Ivan.Petrov@Mail.RU ` → `ivan.petrov@mail.ru`.
    pub fn as_str(&self) -> &str {
        &self.address
    }

    pub fn local_part(&self) -> &str {
        &self.address[..self.at]
    }

    pub fn domain(&self) -> &str {
        &self.address[self.at + 1..]
    }

    /// The key two addresses of one mailbox share:
    ///
    /// * Cyrillic letters that look like Latin ones are folded to Latin where
    ///   the text is otherwise Latin (a layout slip), so `ivаn@mаil.ru` with
    ///   Cyrillic «а» matches `ivan@mail.ru`; genuinely Cyrillic addresses
    ///   (`иван@почта.рф`) stay as they are.
    /// * A `+tag` is removed on every domain. Gmail, Yandex, Mail.ru,
    ///   Outlook, iCloud, Proton and Fastmail deliver `user+tag` to `user`,
    ///   and so do Google Workspace and Microsoft 365, which host most
    ///   corporate mail; a '+' that is part of a real mailbox name is rare
    ///   enough that a missed merge would cost more than a false one, which
    ///   the phone and name checks still catch.
    /// * Gmail ignores dots in the local part; googlemail.com is gmail.com.
    /// * Yandex's domains are one mailbox, and Yandex treats `.` and `-` in
    ///   the login as the same character; `.` is folded to `-`.
    ///
    /// Mail.ru's sister domains (bk.ru, list.ru, inbox.ru) are separate
    /// mailboxes and are not merged.
    pub fn canonical(&self) -> String {
        self.key.clone()
    }

    /// [`Email::canonical`] without allocating.
    pub fn canonical_str(&self) -> &str {
        &self.key
    }

    /// Whether the domain is a public mail service, where the domain says
    /// nothing about the sender's company.
    pub fn is_free_mail(&self) -> bool {
        is_free_mail_domain(self.domain())
    }

    /// The company domain for corporate addresses; `None` for free mail.
    pub fn corporate_domain(&self) -> Option<&str> {
        if self.is_free_mail() {
            None
        } else {
            Some(self.domain())
        }
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.address)
    }
}

impl TryFrom<String> for Email {
    type Error = EmailError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Email::parse(&s)
    }
}

impl From<Email> for String {
    fn from(e: Email) -> String {
        e.address
    }
}

impl std::str::FromStr for Email {
    type Err = EmailError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Email::parse(s)
    }
}

/// Whether `domain` (lowercase) is a public mail service.
pub fn is_free_mail_domain(domain: &str) -> bool {
    FREE_MAIL_DOMAINS.binary_search(&domain).is_ok()
}

/// Public mail services common among Russian-speaking clients, sorted for
/// binary search (a test keeps it sorted).
pub const FREE_MAIL_DOMAINS: &[&str] = &[
    "126.com",
    "163.com",
    "aim.com",
    "aol.com",
    "autorambler.ru",
    "bigmir.net",
    "bk.ru",
    "e1.ru",
    "email.ua",
    "fastmail.com",
    "front.ru",
    "gmail.com",
    "gmx.com",
    "gmx.de",
    "gmx.net",
    "googlemail.com",
    "hotbox.ru",
    "hotmail.co.uk",
    "hotmail.com",
    "hotmail.de",
    "hotmail.fr",
    "i.ua",
    "icloud.com",
    "inbox.kz",
    "inbox.lv",
    "inbox.ru",
    "internet.ru",
    "km.ru",
    "land.ru",
    "lenta.ru",
    "list.ru",
    "live.com",
    "live.ru",
    "mac.com",
    "mail.com",
    "mail.kz",
    "mail.ru",
    "mail.ua",
    "mailinator.com",
    "me.com",
    "meta.ua",
    "msn.com",
    "myrambler.ru",
    "narod.ru",
    "newmail.ru",
    "ngs.ru",
    "outlook.com",
    "outlook.de",
    "pm.me",
    "pochta.ru",
    "proton.me",
    "protonmail.ch",
    "protonmail.com",
    "qip.ru",
    "qq.com",
    "rambler.ru",
    "rambler.ua",
    "ro.ru",
    "rocketmail.com",
    "sibmail.com",
    "t-online.de",
    "tut.by",
    "tuta.io",
    "tutanota.com",
    "ukr.net",
    "web.de",
    "ya.ru",
    "yahoo.co.uk",
    "yahoo.com",
    "yahoo.de",
    "yahoo.fr",
    "yandex.by",
    "yandex.com",
    "yandex.com.tr",
    "yandex.kz",
    "yandex.ru",
    "yandex.ua",
    "ymail.com",
    "yopmail.com",
    "zoho.com",
];

const YANDEX_DOMAINS: &[&str] = &[
    "narod.ru",
    "ya.ru",
    "yandex.by",
    "yandex.com",
    "yandex.kz",
    "yandex.ru",
    "yandex.ua",
];

/// Peel what mail clients and forms wrap around an address:
/// `"Иван" <ivan@mail.ru>`, `mailto:ivan@mail.ru?subject=...`, a trailing
/// comma, full stop or bracket from a pasted list or a sentence.
fn unwrap_address(raw: &str) -> &str {
    let mut s = raw.trim();
    if let Some(open) = s.rfind('<') {
        if let Some(close) = s[open..].find('>') {
            s = &s[open + 1..open + close];
        }
    }
    s = s.trim_matches(['<', '>']).trim();
    if let Some(rest) = strip_prefix_ci(s, "mailto:") {
        s = rest.split('?').next().unwrap_or(rest).trim();
    }
    s.trim_end_matches(TRAILING_PUNCTUATION).trim()
}

/// What a sentence or a list leaves after an address; never the end of a
/// real domain.
const TRAILING_PUNCTUATION: &[char] = &[
    ',', ';', '.', ':', '!', '?', ')', ']', '»', '"', '\'', ' ', '\u{a0}',
];

/// Labels people and forms write before an address (`e-mail: `,
/// `Почта:`). An address has no ':' in it, so anything up to the last ':'
/// before the '@' is a label, and so is a known label word without one.
fn strip_label(s: &str) -> &str {
    let at = s.find('@').unwrap_or(s.len());
    let s = match s[..at].rfind(':') {
        Some(colon) => &s[colon + 1..],
        None => s,
    };
    let mut s = s.trim_start();
    for label in [
        "e-mail",
        "email",
        "e-mail",
        "mail",
        "почта",
        "эл.почта",
        "эл. почта",
    ] {
        if let Some(rest) = strip_prefix_ci(s, label) {
            if rest.starts_with(char::is_whitespace) {
                s = rest.trim_start();
                break;
            }
        }
    }
    s.trim_start_matches(['(', '[', '«', '"', '\'', '-']).trim()
}

/// `ivan @ mail.ru` → `ivan@mail.ru`: people put spaces around the '@'
/// (and forms on phones insert one after it).
fn close_gaps_around_at(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains('@') || !s.chars().any(char::is_whitespace) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '@' {
            while out.ends_with(char::is_whitespace) {
                out.pop();
            }
            out.push('@');
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Most addresses taken from one field; more is a list pasted by mistake.
pub const MAX_EXTRACTED_EMAILS: usize = 10;

/// Every address in a field or a line of text, as people type them:
/// several separated by `,`, `;`, spaces or «или»; with spaces around the
/// '@'; with a label (`e-mail:`, `почта:`, `MAILTO:`), brackets, a display
/// name or trailing punctuation. First occurrence first, without
/// duplicates (by matching key), at most [`MAX_EXTRACTED_EMAILS`].
pub fn extract_emails(text: &str) -> Vec<Email> {
    let text = super::text::truncate_bytes(text, MAX_INPUT_BYTES * 4);
    let joined = close_gaps_around_at(text);
    let mut found: Vec<Email> = Vec::new();
    for token in joined.split(|c: char| {
        c.is_whitespace()
            || matches!(
                c,
                ',' | ';' | '<' | '>' | '(' | ')' | '[' | ']' | '"' | '«' | '»'
            )
    }) {
        if found.len() >= MAX_EXTRACTED_EMAILS {
            break;
        }
        if !token.contains('@') {
            continue;
        }
        if let Ok(email) = Email::parse(token) {
            if !found.iter().any(|e| e.key == email.key) {
                found.push(email);
            }
        }
    }
    found
}

fn check_local(local: &str) -> Result<(), EmailError> {
    if local.is_empty() {
        return Err(EmailError::EmptyLocalPart);
    }
    if local.len() > MAX_LOCAL_BYTES {
        return Err(EmailError::TooLong);
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(EmailError::MisplacedDot);
    }
    // Quoted local parts are legal but never seen from real clients; the
    // characters below are the RFC 5322 "atext" plus letters of any script
    // (RFC 6531).
    match local
        .chars()
        .find(|&c| !(c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c)))
    {
        Some(c) => Err(EmailError::InvalidLocalPart(c)),
        None => Ok(()),
    }
}

fn check_domain(domain: &str) -> Result<(), EmailError> {
    if domain.is_empty() {
        return Err(EmailError::InvalidDomain("empty"));
    }
    if !domain.contains('.') {
        return Err(EmailError::InvalidDomain("no dot"));
    }
    for label in domain.split('.') {
        if label.is_empty() {
            return Err(EmailError::InvalidDomain("empty label"));
        }
        if label.len() > MAX_LABEL_BYTES {
            return Err(EmailError::InvalidDomain("label longer than 63 bytes"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(EmailError::InvalidDomain("label starts or ends with '-'"));
        }
        if !label.chars().all(|c| c.is_alphanumeric() || c == '-') {
            return Err(EmailError::InvalidDomain(
                "character not allowed in a domain",
            ));
        }
    }
    let tld = domain.rsplit('.').next().unwrap_or(domain);
    if tld.chars().count() < 2 || tld.chars().all(|c| c.is_ascii_digit()) {
        return Err(EmailError::InvalidDomain("top-level domain"));
    }
    Ok(())
}

/// Latin letter a Cyrillic (or Latin-lookalike Cyrillic extension) letter
/// is indistinguishable from in its own case. Lowercase «в», «н», «т» look
/// nothing like b, h, t and are left alone.
fn latin_homoglyph(c: char) -> Option<char> {
    Some(match c {
        'А' | 'а' => 'a',
        'В' => 'b',
        'Е' | 'е' => 'e',
        // Lowercase «к» and «м» are the small capitals of k and m; inside
        // a Latin login they are a slip, not a Cyrillic name.
        'К' | 'к' => 'k',
        'М' | 'м' => 'm',
        'Н' | 'һ' => 'h',
        'О' | 'о' => 'o',
        'Р' | 'р' => 'p',
        'С' | 'с' => 'c',
        'Т' => 't',
        'У' | 'у' => 'y',
        'Х' | 'х' => 'x',
        'І' | 'і' => 'i',
        'Ј' | 'ј' => 'j',
        'Ѕ' | 'ѕ' => 's',
        'ԁ' => 'd',
        'ԛ' => 'q',
        'ԝ' => 'w',
        _ => return None,
    })
}

fn has_latin_letter(s: &str) -> bool {
    s.chars().any(|c| c.is_ascii_alphabetic())
}

/// Append `s` lowercased, folding homoglyphs to Latin when `fold` is set.
fn push_folded(out: &mut String, s: &str, fold: bool) {
    for c in s.chars() {
        match latin_homoglyph(c) {
            Some(l) if fold && is_cyrillic(c) => out.push(l),
            _ => out.extend(c.to_lowercase()),
        }
    }
}

fn matching_key(local: &str, domain: &str) -> String {
    let mut folded_domain = String::with_capacity(domain.len());
    for (i, label) in domain.split('.').enumerate() {
        if i > 0 {
            folded_domain.push('.');
        }
        push_folded(&mut folded_domain, label, has_latin_letter(label));
    }
    let domain: &str = match folded_domain.as_str() {
        "googlemail.com" => "gmail.com",
        d if YANDEX_DOMAINS.contains(&d) => "yandex.ru",
        d => d,
    };

    let mut folded_local = String::with_capacity(local.len());
    push_folded(
        &mut folded_local,
        local,
        has_latin_letter(local) || domain.is_ascii(),
    );
    let mut base = folded_local.as_str();
    if let Some(plus) = base.find('+') {
        if plus > 0 {
            base = &base[..plus];
        }
    }

    let mut key = String::with_capacity(base.len() + 1 + domain.len());
    match domain {
        "gmail.com" => key.extend(base.chars().filter(|&c| c != '.')),
        "yandex.ru" => key.extend(base.chars().map(|c| if c == '.' { '-' } else { c })),
        _ => key.push_str(base),
    }
    key.push('@');
    key.push_str(domain);
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(raw: &str) -> String {
        Email::parse(raw).unwrap().canonical()
    }

    #[test]
    fn cleans_what_people_paste() {
        for raw in [
            "ivan.petrov@mail.ru",
            "  Ivan.Petrov@Mail.RU ",
            "mailto:ivan.petrov@mail.ru",
            "MAILTO:Ivan.Petrov@mail.ru?subject=Заявка",
            "<ivan.petrov@mail.ru>",
            "Иван Петров <ivan.petrov@mail.ru>",
            "\"Petrov, Ivan\" <IVAN.PETROV@MAIL.RU>",
            "ivan.petrov@mail.ru.",
            "ivan.petrov@mail.ru,",
        ] {
            let e = Email::parse(raw).unwrap();
            assert_eq!(e.as_str(), "ivan.petrov@mail.ru", "{raw}");
            assert_eq!(e.domain(), "mail.ru");
            assert_eq!(e.local_part(), "ivan.petrov");
        }
    }

    #[test]
    fn addresses_as_people_type_them() {
        for raw in [
            "ivan @mail.ru",
            "ivan@ mail.ru",
            "ivan @ mail.ru",
            "ivan\u{a0}@\u{a0}mail.ru",
            "ivan@mail.ru,",
            "ivan@mail.ru .",
            "ivan@mail.ru;",
            "(ivan@mail.ru)",
            "<Ivan@Mail.ru>",
            "Иван <ivan@mail.ru>",
            "e-mail: ivan@mail.ru",
            "E-mail:ivan@mail.ru",
            "Email ivan@mail.ru",
            "MAILTO:ivan@mail.ru",
            "почта: ivan@mail.ru",
            "Эл. почта: ivan @ mail.ru.",
            "«ivan@mail.ru»",
        ] {
            let e = Email::parse(raw).unwrap_or_else(|err| panic!("{raw:?}: {err}"));
            assert_eq!(e.as_str(), "ivan@mail.ru", "{raw:?}");
        }
        // A Gmail +tag behind the same spaces.
        assert_eq!(key("Ivan.Petrov+shop @ gmail.com"), "ivanpetrov@gmail.com");
        // Still one address per parse: words around it are not an address.
        assert_eq!(
            Email::parse("ivan petrov@mail.ru"),
            Err(EmailError::ContainsWhitespace)
        );
    }

    #[test]
    fn several_addresses_in_one_field() {
        let keys = |s: &str| -> Vec<String> {
            extract_emails(s)
                .into_iter()
                .map(|e| e.canonical())
                .collect()
        };
        assert_eq!(
            keys("ivan@mail.ru, i.petrov@romashka.ru"),
            ["ivan@mail.ru", "i.petrov@romashka.ru"]
        );
        assert_eq!(
            keys("ivan@mail.ru; ivan@mail.ru или petrov @ yandex.ru."),
            ["ivan@mail.ru", "petrov@yandex.ru"]
        );
        assert_eq!(
            keys("Пишите на почту ivan@mail.ru (рабочая) или в личку"),
            ["ivan@mail.ru"]
        );
        assert_eq!(
            keys("\"Петров\" <petrov@romashka.ru>, Сидорова <sidorova@romashka.ru>"),
            ["petrov@romashka.ru", "sidorova@romashka.ru"]
        );
        assert!(keys("нет почты").is_empty());
        assert!(keys("@ivan_petrov").is_empty());
        let many: String = (0..50).map(|i| format!("u{i}@mail.ru ")).collect();
        assert_eq!(extract_emails(&many).len(), MAX_EXTRACTED_EMAILS);
        let _ = extract_emails(&"@ ".repeat(100_000));
    }

    #[test]
    fn cyrillic_lookalikes_in_the_local_part() {
        // «о» and «а» in a Latin login, «М» and «м» too.
        assert_eq!(key("mоstovoy@mail.ru"), "mostovoy@mail.ru");
        assert_eq!(key("MОSTOVOY@MAIL.RU"), "mostovoy@mail.ru");
        assert_eq!(key("мostovoy@mail.ru"), "mostovoy@mail.ru");
        assert_eq!(key("кuznetsova@yandex.ru"), "kuznetsova@yandex.ru");
        // With spaces around the '@' as well.
        assert_eq!(key("mоstovoy @ mail.ru"), "mostovoy@mail.ru");
    }

    #[test]
    fn cyrillic_domains_stay_cyrillic() {
        let e = Email::parse("Иван@Почта.РФ").unwrap();
        assert_eq!(e.as_str(), "иван@почта.рф");
        assert_eq!(e.canonical(), "иван@почта.рф");
        assert_eq!(e.corporate_domain(), Some("почта.рф"));
        assert_eq!(key("info@компания.рф"), "info@компания.рф");
    }

    #[test]
    fn rejects_malformed_addresses() {
        let err = |s: &str| Email::parse(s).unwrap_err();
        assert_eq!(err(""), EmailError::Empty);
        assert_eq!(err("   "), EmailError::Empty);
        assert_eq!(err("mailto:"), EmailError::Empty);
        assert_eq!(err("ivan.mail.ru"), EmailError::MissingAt);
        assert_eq!(err("ivan@@mail.ru"), EmailError::MultipleAt);
        assert_eq!(err("ivan@petrov@mail.ru"), EmailError::MultipleAt);
        assert_eq!(err("@mail.ru"), EmailError::EmptyLocalPart);
        assert_eq!(err("ivan petrov@mail.ru"), EmailError::ContainsWhitespace);
        assert_eq!(err("ivan@mail"), EmailError::InvalidDomain("no dot"));
        assert_eq!(err("ivan@"), EmailError::InvalidDomain("empty"));
        assert_eq!(
            err("ivan@mail..ru"),
            EmailError::InvalidDomain("empty label")
        );
        assert!(matches!(err("ivan@-mail.ru"), EmailError::InvalidDomain(_)));
        assert!(matches!(
            err("ivan@mail_ru.com"),
            EmailError::InvalidDomain(_)
        ));
        assert!(matches!(err("ivan@1.2.3.4"), EmailError::InvalidDomain(_)));
        assert_eq!(err(".ivan@mail.ru"), EmailError::MisplacedDot);
        assert_eq!(err("iv..an@mail.ru"), EmailError::MisplacedDot);
        assert_eq!(err("iv(an)@mail.ru"), EmailError::InvalidLocalPart('('));
        assert_eq!(
            err(&format!("{}@mail.ru", "a".repeat(65))),
            EmailError::TooLong
        );
        assert_eq!(err(&"a".repeat(10_000)), EmailError::TooLong);
        let _ = Email::parse("😀@😀.😀");
        let _ = Email::parse("<>");
        let _ = Email::parse(">x@y.ru<");
    }

    #[test]
    fn gmail_dots_tags_and_googlemail() {
        assert_eq!(key("Ivan.Petrov+crm@gmail.com"), "ivanpetrov@gmail.com");
        assert_eq!(key("i.v.a.n.petrov@googlemail.com"), "ivanpetrov@gmail.com");
    }

    #[test]
    fn yandex_aliases_and_login_separators() {
        let expected = "ivan-petrov@yandex.ru";
        for raw in [
            "ivan.petrov@yandex.ru",
            "ivan-petrov@ya.ru",
            "Ivan.Petrov@yandex.com",
            "ivan-petrov+shop@yandex.by",
            "ivan.petrov@yandex.kz",
            "ivan.petrov@yandex.ua",
            "ivan.petrov@narod.ru",
        ] {
            assert_eq!(key(raw), expected, "{raw}");
        }
    }

    #[test]
    fn plus_tags_removed_everywhere_but_sister_domains_kept() {
        assert_eq!(key("ivan+sales@mail.ru"), "ivan@mail.ru");
        assert_eq!(key("ivan+1@romashka.ru"), "ivan@romashka.ru");
        assert_eq!(key("ivan@bk.ru"), "ivan@bk.ru");
        // A leading '+' is the whole name, not a tag.
        assert_eq!(key("+ivan@romashka.ru"), "+ivan@romashka.ru");
        // Dots matter outside Gmail and Yandex.
        assert_eq!(key("ivan.petrov@mail.ru"), "ivan.petrov@mail.ru");
    }

    #[test]
    fn cyrillic_lookalikes_fold_to_latin() {
        // Cyrillic «а», «о», «е», «с», «р» typed in a Latin address.
        assert_eq!(key("ivаn@mаil.ru"), "ivan@mail.ru");
        assert_eq!(key("petrоv@yandex.ru"), "petrov@yandex.ru");
        assert_eq!(key("sеrgеy@gmail.com"), "sergey@gmail.com");
        assert_eq!(key("ОРТОМ@romashka.ru"), "optom@romashka.ru");
        assert_eq!(key("info@rоmаshkа.ru"), "info@romashka.ru");
        // Cyrillic «Н» looks like «H», lowercase «н» does not.
        assert_eq!(key("НОРЕ@mail.ru"), "hope@mail.ru");
        assert_eq!(key("нope@mail.ru"), "нope@mail.ru");
        // A real Cyrillic address is left alone.
        assert_eq!(key("сова@почта.рф"), "сова@почта.рф");
    }

    #[test]
    fn free_mail_list_is_sorted_and_large() {
        assert!(FREE_MAIL_DOMAINS.len() >= 60);
        assert!(FREE_MAIL_DOMAINS.windows(2).all(|w| w[0] < w[1]));
        assert!(YANDEX_DOMAINS.windows(2).all(|w| w[0] < w[1]));
        for d in YANDEX_DOMAINS {
            assert!(is_free_mail_domain(d), "{d}");
        }
    }

    #[test]
    fn free_and_corporate() {
        for raw in [
            "a@gmail.com",
            "a@bk.ru",
            "a@inbox.ru",
            "a@list.ru",
            "a@internet.ru",
            "a@rambler.ru",
            "a@icloud.com",
            "a@outlook.com",
            "a@hotmail.com",
            "a@live.com",
            "a@yahoo.com",
            "a@proton.me",
            "a@ukr.net",
            "a@tut.by",
            "a@ya.ru",
        ] {
            let e = Email::parse(raw).unwrap();
            assert!(e.is_free_mail(), "{raw}");
            assert_eq!(e.corporate_domain(), None);
        }
        let e = Email::parse("sales@romashka.ru").unwrap();
        assert!(!e.is_free_mail());
        assert_eq!(e.corporate_domain(), Some("romashka.ru"));
    }

    #[test]
    fn serde_round_trip() {
        let e = Email::parse("Ivan@Mail.ru").unwrap();
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(json, "\"ivan@mail.ru\"");
        let back: Email = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
        assert!(serde_json::from_str::<Email>("\"not an email\"").is_err());
    }
}
