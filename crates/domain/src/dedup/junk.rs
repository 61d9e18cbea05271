//! Junk contact points: values people and form robots type that belong to
//! nobody in particular (`test@mail.ru`, `noreply@tilda.ws`, `8-800-…`,
//! `+7 999 123-45-67`). Such a value is never a matching key, on one client
//! or on many: two strangers who both typed `a@a.ru` are not one person.
//! The appeal keeps the value (it is shown and stored); the decision records
//! that it was ignored and why.
//!
//! The patterns are data (`[matching.junk]`), shipped with a list drawn from
//! Russian inbound traffic. A pattern is a glob: `*` is any run of
//! characters, `?` one character, `#` one or more digits.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::keys::MatchField;
use crate::appeal::{ContactKey, ContactKind};
use crate::contact::is_free_mail_domain;

/// The shipped and configurable patterns (`[matching.junk]`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct JunkPatterns {
    /// Local parts of robots and form builders (`noreply`, `mailer-daemon`):
    /// neither the mailbox nor its domain says who wrote.
    pub robot_local_parts: Vec<String>,
    /// Local parts typed by somebody who would not give an address
    /// (`test`, `a`, `qwerty`, `нет`).
    pub placeholder_local_parts: Vec<String>,
    /// Shared role mailboxes (`info`, `sales`, `zakaz`). At a free-mail
    /// domain they are nobody's; at a corporate domain they are the
    /// company's mailbox and stay a key.
    pub role_local_parts: Vec<String>,
    /// Domains nobody real has a mailbox at: reserved and test domains,
    /// form builders' senders, public disposable inboxes. A pattern also
    /// covers its subdomains.
    pub placeholder_domains: Vec<String>,
    /// Phone numbers in E.164 (`+7800*`: toll-free; `*1234567`: a
    /// placeholder typed into a form).
    pub phones: Vec<String>,
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

impl Default for JunkPatterns {
    fn default() -> Self {
        JunkPatterns {
            robot_local_parts: strings(&[
                "noreply*",
                "no-reply*",
                "no_reply*",
                "no.reply*",
                "donotreply*",
                "do-not-reply*",
                "do_not_reply*",
                "mailer-daemon",
                "mailerdaemon",
                "postmaster",
                "bounce*",
                "notification",
                "notifications",
                "notify",
                "robot",
                "robot#",
                "daemon",
                "autoreply",
                "auto-reply",
                "forms",
                "formsender",
                "webform",
                "tilda",
                "wordpress",
                "bitrix",
            ]),
            placeholder_local_parts: strings(&[
                "?",
                "aa",
                "aaa",
                "asd",
                "asdf",
                "asdasd",
                "qwe",
                "qwerty",
                "qwerty#",
                "test",
                "test#",
                "tests",
                "tester",
                "testtest",
                "тест",
                "example",
                "sample",
                "demo",
                "fake",
                "spam",
                "none",
                "nomail",
                "no-mail",
                "noemail",
                "no-email",
                "net",
                "нет",
                "xxx",
                "#",
                "user",
                "user#",
                "email",
                "e-mail",
                "почта",
            ]),
            role_local_parts: strings(&[
                "info",
                "office",
                "sales",
                "sale",
                "admin",
                "support",
                "help",
                "hello",
                "contact",
                "contacts",
                "mail",
                "manager",
                "zakaz",
                "order",
                "orders",
                "shop",
                "buh",
                "buhgalter",
                "secretary",
                "reception",
                "priemnaya",
                "hr",
                "job",
                "marketing",
                "pr",
                "press",
                "snab",
                "opt",
                "optom",
            ]),
            placeholder_domains: strings(&[
                "example.com",
                "example.org",
                "example.net",
                "example",
                "test",
                "invalid",
                "localhost",
                "local",
                "test.ru",
                "test.com",
                "testmail.ru",
                "domain.ru",
                "domain.com",
                "site.ru",
                "sait.ru",
                "mysite.ru",
                "email.ru",
                "mail.test",
                "?.ru",
                "?.com",
                "?.net",
                "tilda.ws",
                "tilda.cc",
                "mailinator.com",
                "yopmail.com",
                "guerrillamail.com",
                "sharklasers.com",
                "temp-mail.org",
                "tempmail.ru",
                "10minutemail.com",
                "dropmail.me",
                "mailforspam.com",
            ]),
            phones: strings(&[
                // Toll-free (8-800, 8-804) and paid (8-803, 8-809) ranges:
                // somebody's hotline, never a person.
                "+7800*", "+7803*", "+7804*", "+7809*", "+375800*", "+380800*",
                // What people type into a form's mask when they would rather
                // not give a number: a run or one digit for the subscriber.
                "*1234567", "*7654321", "*0000000", "*1111111", "*2222222", "*3333333", "*4444444",
                "*5555555", "*6666666", "*7777777", "*8888888", "*9999999",
            ]),
        }
    }
}

/// Why a value was not used as a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JunkReason {
    /// A robot's or form builder's address.
    RobotAddress,
    /// A placeholder typed instead of an address.
    PlaceholderAddress,
    /// A role mailbox (`info@`) at a free-mail domain.
    RoleAddress,
    /// A domain nobody real has a mailbox at.
    PlaceholderDomain,
    /// A toll-free, paid or placeholder number.
    JunkPhone,
}

/// A contact point the matcher did not look up: what, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IgnoredPoint {
    pub field: MatchField,
    /// The normalised value.
    pub value: String,
    pub reason: JunkReason,
    /// The pattern of `[matching.junk]` that matched.
    pub pattern: String,
}

impl JunkPatterns {
    /// Whether a normalised contact point is junk, and by which pattern.
    pub fn check(&self, key: &ContactKey) -> Option<(JunkReason, &str)> {
        match key.kind {
            ContactKind::Email => self.check_email(&key.value),
            ContactKind::Phone => {
                first_match(&self.phones, &key.value).map(|p| (JunkReason::JunkPhone, p))
            }
            _ => None,
        }
    }

    /// `address` is a canonical (lowercase) address.
    pub fn check_email(&self, address: &str) -> Option<(JunkReason, &str)> {
        let (local, domain) = address.rsplit_once('@')?;
        if let Some(p) = first_match(&self.robot_local_parts, local) {
            return Some((JunkReason::RobotAddress, p));
        }
        if let Some(p) = first_match(&self.placeholder_local_parts, local) {
            return Some((JunkReason::PlaceholderAddress, p));
        }
        if let Some(p) = self
            .placeholder_domains
            .iter()
            .find(|p| domain_matches(p, domain))
        {
            return Some((JunkReason::PlaceholderDomain, p.as_str()));
        }
        if is_free_mail_domain(domain) {
            if let Some(p) = first_match(&self.role_local_parts, local) {
                return Some((JunkReason::RoleAddress, p));
            }
        }
        None
    }

    /// Every pattern with its key path, for `check-config`.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (name, list) in [
            ("robot_local_parts", &self.robot_local_parts),
            ("placeholder_local_parts", &self.placeholder_local_parts),
            ("role_local_parts", &self.role_local_parts),
            ("placeholder_domains", &self.placeholder_domains),
            ("phones", &self.phones),
        ] {
            for (i, p) in list.iter().enumerate() {
                if p.trim().is_empty() || p.chars().all(|c| c == '*') {
                    out.push((
                        format!("matching.junk.{name}[{i}]"),
                        "a pattern must not be empty or match everything".to_string(),
                    ));
                } else if p.chars().count() > 64 {
                    out.push((
                        format!("matching.junk.{name}[{i}]"),
                        "a pattern is at most 64 characters".to_string(),
                    ));
                }
            }
        }
        out
    }
}

fn first_match<'a>(patterns: &'a [String], value: &str) -> Option<&'a str> {
    patterns.iter().find(|p| glob(p, value)).map(String::as_str)
}

/// The domain or one of its parent domains matches.
fn domain_matches(pattern: &str, domain: &str) -> bool {
    let mut d = domain;
    loop {
        if glob(pattern, d) {
            return true;
        }
        match d.split_once('.') {
            Some((_, parent)) if !parent.is_empty() => d = parent,
            _ => return false,
        }
    }
}

/// Case-insensitive glob: `*` any run, `?` one character, `#` one or more
/// ASCII digits. Iterative with one backtrack point per `*`, so hostile
/// patterns and values cost at most `pattern × value` steps.
pub fn glob(pattern: &str, value: &str) -> bool {
    let p: Vec<char> = pattern.chars().flat_map(char::to_lowercase).collect();
    let v: Vec<char> = value.chars().flat_map(char::to_lowercase).collect();
    glob_at(&p, &v)
}

fn glob_at(p: &[char], v: &[char]) -> bool {
    let (mut pi, mut vi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while vi < v.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, vi));
                pi += 1;
                continue;
            }
            Some('#') if v[vi].is_ascii_digit() => {
                // One or more digits, greedily: a '#' is followed by a
                // non-digit or the end in every useful pattern.
                while vi < v.len() && v[vi].is_ascii_digit() {
                    vi += 1;
                }
                pi += 1;
                continue;
            }
            Some('?') => {
                pi += 1;
                vi += 1;
                continue;
            }
            Some(&c) if c != '#' && c == v[vi] => {
                pi += 1;
                vi += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((sp, sv)) => {
                pi = sp + 1;
                vi = sv + 1;
                star = Some((sp, sv + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::appeal::ContactCard;
    use crate::contact::Region;

    fn email_reason(raw: &str) -> Option<JunkReason> {
        let card = ContactCard {
            emails: vec![raw.into()],
            ..ContactCard::default()
        };
        let keys = card.normalize(Region::Ru).keys;
        let junk = JunkPatterns::default();
        junk.check(&keys[0]).map(|(r, _)| r)
    }

    fn phone_junk(raw: &str) -> Option<String> {
        let card = ContactCard {
            phones: vec![raw.into()],
            ..ContactCard::default()
        };
        let keys = card.normalize(Region::Ru).keys;
        let junk = JunkPatterns::default();
        junk.check(&keys[0]).map(|(_, p)| p.to_string())
    }

    #[test]
    fn globs() {
        assert!(glob("noreply*", "noreply"));
        assert!(glob("noreply*", "noreply-tilda"));
        assert!(!glob("noreply*", "xnoreply"));
        assert!(glob("*1234567", "+79991234567"));
        assert!(!glob("*1234567", "+79991234568"));
        assert!(glob("test#", "test123"));
        assert!(!glob("test#", "test"));
        assert!(!glob("test#", "testov"));
        assert!(glob("?", "a"));
        assert!(!glob("?", "ab"));
        assert!(glob("#", "123"));
        assert!(glob("NoReply*", "noreply"));
        assert!(glob("*.tilda.*", "mail.tilda.ws"));
        let long = "a".repeat(5000);
        assert!(!glob("*a*a*a*a*b", &long));
    }

    #[test]
    fn robots_and_placeholders_are_junk() {
        use JunkReason::*;
        for (raw, reason) in [
            ("noreply@tilda.ws", RobotAddress),
            ("no-reply@tilda.ws", RobotAddress),
            ("NoReply@romashka.ru", RobotAddress),
            ("mailer-daemon@mail.ru", RobotAddress),
            ("test@mail.ru", PlaceholderAddress),
            ("test123@gmail.com", PlaceholderAddress),
            ("a@a.ru", PlaceholderAddress),
            ("qwerty@yandex.ru", PlaceholderAddress),
            ("123@mail.ru", PlaceholderAddress),
            ("нет@почта.рф", PlaceholderAddress),
            ("ivan@example.com", PlaceholderDomain),
            ("ivan@test.ru", PlaceholderDomain),
            ("ivan@x.ru", PlaceholderDomain),
            ("lead@forms.tilda.ws", PlaceholderDomain),
            ("ivan@mailinator.com", PlaceholderDomain),
            ("info@mail.ru", RoleAddress),
            ("Sales@Gmail.com", RoleAddress),
        ] {
            assert_eq!(email_reason(raw), Some(reason), "{raw}");
        }
    }

    #[test]
    fn real_addresses_are_not_junk() {
        for raw in [
            "ivan.petrov@mail.ru",
            "testov@mail.ru",
            "anna@ya.ru",
            "net.ivan@mail.ru",
            "info@romashka.ru",
            "zakaz@stroymontazh.ru",
            "sergey@example.ru",
            "olga@tilda-studio.ru",
        ] {
            assert_eq!(email_reason(raw), None, "{raw}");
        }
    }

    #[test]
    fn toll_free_premium_and_placeholder_numbers_are_junk() {
        for (raw, pattern) in [
            ("8-800-555-35-35", "+7800*"),
            ("8 (800) 100-00-00", "+7800*"),
            ("+7 804 333 22 11", "+7804*"),
            ("8-809-505-11-22", "+7809*"),
            ("+7 (999) 123-45-67", "*1234567"),
            ("8 495 123-45-67", "*1234567"),
            ("+7 900 000-00-00", "*0000000"),
            ("8 912 777 77 77", "*7777777"),
            ("8 (916) 765-43-21", "*7654321"),
        ] {
            assert_eq!(phone_junk(raw).as_deref(), Some(pattern), "{raw}");
        }
        for raw in [
            "8 912 345 67 89",
            "+7 495 477 51 39",
            "8 (843) 211-00-12",
            "+7 916 100 20 30",
        ] {
            assert_eq!(phone_junk(raw), None, "{raw}");
        }
    }

    #[test]
    fn configuration_problems_name_the_key() {
        let mut j = JunkPatterns::default();
        assert!(j.problems().is_empty());
        j.phones.push("*".into());
        j.robot_local_parts.push(" ".into());
        let keys: Vec<String> = j.problems().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys.len(), 2);
        assert!(keys[0].starts_with("matching.junk.robot_local_parts["));
        assert!(keys[1].starts_with("matching.junk.phones["));
    }
}
