//! Messenger identities: Telegram and VK users, from ids, handles and links.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::text::strip_prefix_ci;

/// Handles and links are short; anything longer is not worth scanning.
const MAX_INPUT_BYTES: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessengerIdError {
    #[error("messenger id is empty")]
    Empty,
    #[error("messenger id is too long")]
    TooLong,
    #[error("numeric id must be a positive integer")]
    NotAPositiveNumber,
    #[error("username must be {min} to {max} characters long, got {len}")]
    BadLength { min: usize, max: usize, len: usize },
    #[error("username contains {0:?}; only a-z, 0-9 and '_' are allowed")]
    InvalidChar(char),
    #[error("username must start with a letter")]
    MustStartWithLetter,
    #[error("username must not end with '_'")]
    TrailingUnderscore,
    #[error("link points to {0}, not to a user")]
    NotAUser(&'static str),
}

/// Strip the scheme, `www.`/`m.` and one of `hosts` from a link, returning
/// the path; `None` if the text is not a link to one of `hosts`.
fn link_path<'a>(s: &'a str, hosts: &[&str]) -> Option<&'a str> {
    let mut rest = s;
    for scheme in ["https://", "http://"] {
        if let Some(r) = strip_prefix_ci(rest, scheme) {
            rest = r;
            break;
        }
    }
    for sub in ["www.", "m."] {
        if let Some(r) = strip_prefix_ci(rest, sub) {
            rest = r;
            break;
        }
    }
    hosts.iter().find_map(|host| {
        let r = strip_prefix_ci(rest, host)?;
        r.strip_prefix('/')
            .or(if r.is_empty() { Some(r) } else { None })
    })
}

/// First path segment without query, fragment or trailing slash.
fn first_segment(path: &str) -> &str {
    path.split(['/', '?', '#']).next().unwrap_or(path)
}

fn prepare(raw: &str) -> Result<&str, MessengerIdError> {
    if raw.len() > MAX_INPUT_BYTES {
        return Err(MessengerIdError::TooLong);
    }
    let s = raw.trim();
    if s.is_empty() {
        return Err(MessengerIdError::Empty);
    }
    Ok(s)
}

fn parse_positive(s: &str) -> Result<i64, MessengerIdError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(MessengerIdError::NotAPositiveNumber);
    }
    match s.parse::<i64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(MessengerIdError::NotAPositiveNumber),
    }
}

/// Lowercase ASCII handle of `[a-z0-9_]`, checked for length and shape.
fn handle(s: &str, min: usize, max: usize, extra: &[char]) -> Result<String, MessengerIdError> {
    let len = s.chars().count();
    if len < min || len > max {
        return Err(MessengerIdError::BadLength { min, max, len });
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || extra.contains(c)))
    {
        return Err(MessengerIdError::InvalidChar(c));
    }
    Ok(s.to_ascii_lowercase())
}

/// Telegram's numeric user id (what the Bot API reports as `from.id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct TelegramUserId(i64);

impl TelegramUserId {
    pub fn new(id: i64) -> Result<Self, MessengerIdError> {
        if id > 0 {
            Ok(TelegramUserId(id))
        } else {
            Err(MessengerIdError::NotAPositiveNumber)
        }
    }

    /// Parse the decimal digits of an id, e.g. from a form field or a
    /// webhook that sends ids as strings.
    pub fn parse_str(raw: &str) -> Result<Self, MessengerIdError> {
        parse_positive(prepare(raw)?).map(TelegramUserId)
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for TelegramUserId {
    type Error = MessengerIdError;
    fn try_from(id: i64) -> Result<Self, Self::Error> {
        TelegramUserId::new(id)
    }
}

impl From<TelegramUserId> for i64 {
    fn from(id: TelegramUserId) -> i64 {
        id.0
    }
}

impl fmt::Display for TelegramUserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A Telegram @username, lowercase and without the `@`: Telegram usernames
/// are case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TelegramUsername(String);

const TELEGRAM_HOSTS: &[&str] = &["t.me", "telegram.me", "telegram.dog"];

impl TelegramUsername {
    /// Accepts `@Durov`, `durov`, `https://t.me/durov`, `t.me/durov?start=1`,
    /// `tg://resolve?domain=durov`.
    pub fn parse(raw: &str) -> Result<Self, MessengerIdError> {
        let s = prepare(raw)?;
        let name = if let Some(path) = link_path(s, TELEGRAM_HOSTS) {
            let seg = first_segment(path);
            if seg == "joinchat" || seg.starts_with('+') {
                return Err(MessengerIdError::NotAUser("an invite link"));
            }
            seg
        } else if let Some(query) = strip_prefix_ci(s, "tg://resolve?") {
            query
                .split('&')
                .find_map(|kv| kv.strip_prefix("domain="))
                .unwrap_or("")
        } else {
            s
        };
        let name = name.strip_prefix('@').unwrap_or(name);
        let name = handle(name, 5, 32, &[])?;
        if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return Err(MessengerIdError::MustStartWithLetter);
        }
        if name.ends_with('_') {
            return Err(MessengerIdError::TrailingUnderscore);
        }
        Ok(TelegramUsername(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TelegramUsername {
    type Error = MessengerIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        TelegramUsername::parse(&s)
    }
}

impl From<TelegramUsername> for String {
    fn from(u: TelegramUsername) -> String {
        u.0
    }
}

impl fmt::Display for TelegramUsername {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "@{}", self.0)
    }
}

const VK_HOSTS: &[&str] = &["vk.com", "vk.ru", "vkontakte.ru"];

/// A VK user's numeric id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct VkId(i64);

impl VkId {
    pub fn new(id: i64) -> Result<Self, MessengerIdError> {
        if id > 0 {
            Ok(VkId(id))
        } else {
            Err(MessengerIdError::NotAPositiveNumber)
        }
    }

    /// Accepts `123`, `id123`, `https://vk.com/id123`, `vk.ru/id123`.
    pub fn parse(raw: &str) -> Result<Self, MessengerIdError> {
        let s = prepare(raw)?;
        let s = match link_path(s, VK_HOSTS) {
            Some(path) => first_segment(path),
            None => s,
        };
        if let Some(kind) = community_prefix(s) {
            return Err(MessengerIdError::NotAUser(kind));
        }
        let digits = strip_prefix_ci(s, "id").unwrap_or(s);
        parse_positive(digits).map(VkId)
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// VK communities (`club1`, `public1`, `event1`) share the link format with
/// users but are not people.
fn community_prefix(s: &str) -> Option<&'static str> {
    for (prefix, what) in [
        ("club", "a VK community"),
        ("public", "a VK community"),
        ("event", "a VK event"),
    ] {
        if let Some(rest) = strip_prefix_ci(s, prefix) {
            if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) {
                return Some(what);
            }
        }
    }
    None
}

impl TryFrom<i64> for VkId {
    type Error = MessengerIdError;
    fn try_from(id: i64) -> Result<Self, Self::Error> {
        VkId::new(id)
    }
}

impl From<VkId> for i64 {
    fn from(id: VkId) -> i64 {
        id.0
    }
}

impl fmt::Display for VkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "id{}", self.0)
    }
}

/// A VK short address (`vk.com/durov` → `durov`), lowercase.
///
/// `id123` is a valid screen name too (it is the default address); use
/// [`VkScreenName::as_vk_id`] to see whether it names a numeric id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct VkScreenName(String);

impl VkScreenName {
    pub fn parse(raw: &str) -> Result<Self, MessengerIdError> {
        let s = prepare(raw)?;
        let s = match link_path(s, VK_HOSTS) {
            Some(path) => first_segment(path),
            None => s,
        };
        let s = s.strip_prefix('@').unwrap_or(s);
        if let Some(kind) = community_prefix(s) {
            return Err(MessengerIdError::NotAUser(kind));
        }
        // Old accounts have 3-4 character addresses; dots are allowed.
        let name = handle(s, 2, 32, &['.'])?;
        if !name.bytes().any(|b| b.is_ascii_alphabetic()) {
            return Err(MessengerIdError::MustStartWithLetter);
        }
        Ok(VkScreenName(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The numeric id for a default address `id123`.
    pub fn as_vk_id(&self) -> Option<VkId> {
        let digits = self.0.strip_prefix("id")?;
        parse_positive(digits).ok().map(VkId)
    }
}

impl TryFrom<String> for VkScreenName {
    type Error = MessengerIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        VkScreenName::parse(&s)
    }
}

impl From<VkScreenName> for String {
    fn from(n: VkScreenName) -> String {
        n.0
    }
}

impl fmt::Display for VkScreenName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telegram_user_ids() {
        assert_eq!(
            TelegramUserId::parse_str(" 123456789 ").unwrap().get(),
            123456789
        );
        assert_eq!(
            TelegramUserId::new(7_000_000_000).unwrap().get(),
            7_000_000_000
        );
        for bad in ["", "0", "-5", "12a", "+12", "99999999999999999999", "1.5"] {
            assert!(TelegramUserId::parse_str(bad).is_err(), "{bad}");
        }
        assert!(TelegramUserId::new(-100).is_err());
        assert_eq!(TelegramUserId::new(42).unwrap().to_string(), "42");
    }

    #[test]
    fn telegram_usernames() {
        for raw in [
            "durov_team",
            "@Durov_Team",
            "https://t.me/durov_team",
            "http://t.me/Durov_Team/",
            "t.me/durov_team?start=lead",
            "https://telegram.me/durov_team",
            "tg://resolve?domain=durov_team",
            "  @DUROV_TEAM  ",
        ] {
            let u = TelegramUsername::parse(raw).unwrap();
            assert_eq!(u.as_str(), "durov_team", "{raw}");
        }
        assert_eq!(
            TelegramUsername::parse("@durov").unwrap().to_string(),
            "@durov"
        );
    }

    #[test]
    fn telegram_username_rules() {
        use MessengerIdError::*;
        let err = |s: &str| TelegramUsername::parse(s).unwrap_err();
        assert_eq!(
            err("@abc"),
            BadLength {
                min: 5,
                max: 32,
                len: 3
            }
        );
        assert!(matches!(err(&"a".repeat(33)), BadLength { .. }));
        assert_eq!(err("ivan-petrov"), InvalidChar('-'));
        assert_eq!(err("иван_петров"), InvalidChar('и'));
        assert_eq!(err("1ivan"), MustStartWithLetter);
        assert_eq!(err("ivan_"), TrailingUnderscore);
        assert_eq!(
            err("https://t.me/joinchat/AAAA"),
            NotAUser("an invite link")
        );
        assert_eq!(err("https://t.me/+AbCdEf"), NotAUser("an invite link"));
        assert_eq!(err(""), Empty);
        assert_eq!(err(&"x".repeat(1000)), TooLong);
    }

    #[test]
    fn vk_ids() {
        for raw in [
            "123",
            "id123",
            "https://vk.com/id123",
            "vk.com/id123?w=wall",
            "https://m.vk.com/id123",
            "vk.ru/id123",
            "ID123",
        ] {
            assert_eq!(VkId::parse(raw).unwrap().get(), 123, "{raw}");
        }
        assert_eq!(
            VkId::parse("id0"),
            Err(MessengerIdError::NotAPositiveNumber)
        );
        assert_eq!(
            VkId::parse("durov"),
            Err(MessengerIdError::NotAPositiveNumber)
        );
        assert!(matches!(
            VkId::parse("https://vk.com/club123"),
            Err(MessengerIdError::NotAUser(_))
        ));
        assert_eq!(VkId::new(1).unwrap().to_string(), "id1");
    }

    #[test]
    fn vk_screen_names() {
        for raw in [
            "durov",
            "Durov",
            "https://vk.com/durov",
            "http://www.vk.com/durov/",
            "@durov",
            "vk.com/durov?z=photo1",
        ] {
            assert_eq!(VkScreenName::parse(raw).unwrap().as_str(), "durov", "{raw}");
        }
        let n = VkScreenName::parse("https://vk.com/id123").unwrap();
        assert_eq!(n.as_str(), "id123");
        assert_eq!(n.as_vk_id().map(VkId::get), Some(123));
        assert_eq!(VkScreenName::parse("ivan.petrov").unwrap().as_vk_id(), None);
        assert!(VkScreenName::parse("12345").is_err());
        assert!(VkScreenName::parse("иван").is_err());
        assert!(VkScreenName::parse("public42").is_err());
    }

    #[test]
    fn serde_validates() {
        let u: TelegramUsername = serde_json::from_str("\"@Durov\"").unwrap();
        assert_eq!(serde_json::to_string(&u).unwrap(), "\"durov\"");
        assert!(serde_json::from_str::<TelegramUserId>("-1").is_err());
        let id: VkId = serde_json::from_str("5").unwrap();
        assert_eq!(id.get(), 5);
    }
}
