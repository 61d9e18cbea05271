//! Blocking keys: the indexed values an appeal and a client are looked up by.
//!
//! Contact points (phone, e-mail, messenger ids) are their own keys and live
//! in `contact_points`; the keys derived from them and from names (person
//! name keys, company key, corporate e-mail domain) live in `match_keys`.
//! Both sides (storage writing a client's keys, the matcher building an
//! appeal's probe) derive them with the functions here, so they cannot drift.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::junk::{IgnoredPoint, JunkPatterns};
use crate::appeal::{ContactCard, ContactKey, ContactKind, NormalizedContact};
use crate::contact::{company_key, name_keys, Email, Inn, PersonName};

/// Every field matching compares; the contact kinds keep their names so a
/// stored decision reads the same as before (`"phone"`, `"email"`, ...).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum MatchField {
    Phone,
    Email,
    TelegramId,
    TelegramUsername,
    VkId,
    VkScreenName,
    /// The corporate domain of an e-mail address (not free mail).
    Domain,
    /// The company name, without legal form and punctuation.
    Company,
    /// The contact person's name.
    Name,
    /// The company's ИНН: like a corporate domain, but it names one
    /// taxpayer, so it weighs more.
    Inn,
}

impl MatchField {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchField::Domain => "domain",
            MatchField::Company => "company",
            MatchField::Name => "name",
            MatchField::Inn => "inn",
            other => other.contact_kind().map_or("", ContactKind::as_str),
        }
    }

    pub fn contact_kind(self) -> Option<ContactKind> {
        Some(match self {
            MatchField::Phone => ContactKind::Phone,
            MatchField::Email => ContactKind::Email,
            MatchField::TelegramId => ContactKind::TelegramId,
            MatchField::TelegramUsername => ContactKind::TelegramUsername,
            MatchField::VkId => ContactKind::VkId,
            MatchField::VkScreenName => ContactKind::VkScreenName,
            MatchField::Domain | MatchField::Company | MatchField::Name | MatchField::Inn => {
                return None
            }
        })
    }

    pub fn parse(s: &str) -> Option<MatchField> {
        match s {
            "domain" => Some(MatchField::Domain),
            "company" => Some(MatchField::Company),
            "name" => Some(MatchField::Name),
            "inn" => Some(MatchField::Inn),
            other => ContactKind::parse(other).map(MatchField::from),
        }
    }

    /// Whether one agreeing value identifies a person on its own (a phone,
    /// a mailbox, a messenger account), as opposed to pointing at a company
    /// or a namesake.
    pub fn identifies(self) -> bool {
        self.contact_kind().is_some()
    }
}

impl From<ContactKind> for MatchField {
    fn from(kind: ContactKind) -> MatchField {
        match kind {
            ContactKind::Phone => MatchField::Phone,
            ContactKind::Email => MatchField::Email,
            ContactKind::TelegramId => MatchField::TelegramId,
            ContactKind::TelegramUsername => MatchField::TelegramUsername,
            ContactKind::VkId => MatchField::VkId,
            ContactKind::VkScreenName => MatchField::VkScreenName,
        }
    }
}

/// One value to look up: a contact point or a derived key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockingKey {
    pub field: MatchField,
    pub value: String,
}

/// An appeal's blocking keys never exceed this; the card is already capped
/// per kind, this bounds the one lookup query.
pub const MAX_PROBE_KEYS: usize = 48;

/// Name keys stored for a contact person called `name`.
pub fn person_name_keys(name: &str) -> Vec<String> {
    name_keys(&PersonName::parse(name))
}

/// The company key of a company client called `name`.
pub fn company_name_key(name: &str) -> Option<String> {
    company_key(name)
}

/// The corporate domain of a stored or typed e-mail address; `None` for
/// free mail and for what is not an address.
pub fn email_domain(address: &str) -> Option<String> {
    Email::parse(address)
        .ok()?
        .corporate_domain()
        .map(str::to_string)
}

/// Derived keys of contact points: the corporate domains of e-mails.
pub fn point_domains(keys: &[ContactKey]) -> Vec<String> {
    let mut out: Vec<String> = keys
        .iter()
        .filter(|k| k.kind == ContactKind::Email)
        .filter_map(|k| email_domain(&k.raw).or_else(|| email_domain(&k.value)))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The card's ИНН when its checksum holds; a wrong one is no key (the
/// normalisation reports it).
pub fn card_inn(card: &ContactCard) -> Option<String> {
    let raw = card.inn.as_deref()?;
    Inn::parse(raw).ok().map(|i| i.as_str().to_string())
}

/// What the matcher knows about an appeal's sender.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    /// Normalised contact points, junk left out.
    pub contact_keys: Vec<ContactKey>,
    /// Contact points that are junk (`[matching.junk]`): never looked up.
    pub ignored: Vec<IgnoredPoint>,
    /// The name as written, trimmed; `None` when the card has none.
    pub display_name: Option<String>,
    pub name: PersonName,
    pub name_keys: Vec<String>,
    pub company_key: Option<String>,
    /// The company as written on the appeal.
    pub company: Option<String>,
    pub domains: Vec<String>,
    /// A checksum-valid ИНН from the card.
    pub inn: Option<String>,
}

impl Probe {
    /// The appeal's keys; contact points matching `junk` are set aside as
    /// ignored, and so are the domains of robots' and placeholder addresses.
    pub fn new(card: &ContactCard, contact: &NormalizedContact, junk: &JunkPatterns) -> Probe {
        let mut contact_keys = Vec::with_capacity(contact.keys.len());
        let mut ignored = Vec::new();
        for key in &contact.keys {
            match junk.check(key) {
                Some((reason, pattern)) => ignored.push(IgnoredPoint {
                    field: key.kind.into(),
                    value: key.value.clone(),
                    reason,
                    pattern: pattern.to_string(),
                }),
                None => contact_keys.push(key.clone()),
            }
        }
        let display_name = card.display_name().map(str::to_string);
        let name = display_name
            .as_deref()
            .map(PersonName::parse)
            .unwrap_or_default();
        let has_given = name.initials().given.is_some();
        // The bare surname key would block every namesake's family; with a
        // given name or initial the narrower keys find the same person.
        let name_keys = name_keys(&name)
            .into_iter()
            .filter(|k| !(has_given && k.starts_with("sn:")))
            .collect();
        Probe {
            domains: point_domains(&contact_keys),
            contact_keys,
            ignored,
            display_name,
            company: card
                .company
                .as_deref()
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_string),
            name,
            name_keys,
            company_key: card.company.as_deref().and_then(company_key),
            inn: card_inn(card),
        }
    }

    /// Every key to look up, contact points first, at most [`MAX_PROBE_KEYS`].
    pub fn blocking_keys(&self) -> Vec<BlockingKey> {
        let contact = self.contact_keys.iter().map(|k| BlockingKey {
            field: k.kind.into(),
            value: k.value.clone(),
        });
        let domains = self.domains.iter().map(|d| BlockingKey {
            field: MatchField::Domain,
            value: d.clone(),
        });
        let company = self.company_key.iter().map(|c| BlockingKey {
            field: MatchField::Company,
            value: c.clone(),
        });
        let inn = self.inn.iter().map(|i| BlockingKey {
            field: MatchField::Inn,
            value: i.clone(),
        });
        let names = self.name_keys.iter().map(|n| BlockingKey {
            field: MatchField::Name,
            value: n.clone(),
        });
        let mut keys: Vec<BlockingKey> = Vec::new();
        for k in contact
            .chain(inn)
            .chain(domains)
            .chain(company)
            .chain(names)
        {
            if keys.len() >= MAX_PROBE_KEYS {
                break;
            }
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contact::Region;

    #[test]
    fn probe_keys_of_a_card() {
        let card = ContactCard {
            name: Some("Саша Петров".into()),
            phones: vec!["8 912 345-67-89".into()],
            emails: vec!["Sasha.Petrov@Romashka.ru".into(), "s@gmail.com".into()],
            company: Some("ООО «Ромашка»".into()),
            ..ContactCard::default()
        };
        let probe = Probe::new(&card, &card.normalize(Region::Ru), &JunkPatterns::default());
        let keys = probe.blocking_keys();
        let fields: Vec<MatchField> = keys.iter().map(|k| k.field).collect();
        assert_eq!(fields[0], MatchField::Phone);
        assert!(keys
            .iter()
            .any(|k| k.field == MatchField::Domain && k.value == "romashka.ru"));
        assert!(!keys.iter().any(|k| k.value == "gmail.com"));
        assert!(keys
            .iter()
            .any(|k| k.field == MatchField::Company && k.value == "ромашка"));
        assert!(keys
            .iter()
            .any(|k| k.field == MatchField::Name && k.value.starts_with("gn+sn:александр|")));
        assert!(!keys.iter().any(|k| k.value.starts_with("sn:")));
    }

    #[test]
    fn field_names_round_trip() {
        for f in [
            MatchField::Phone,
            MatchField::Email,
            MatchField::TelegramId,
            MatchField::TelegramUsername,
            MatchField::VkId,
            MatchField::VkScreenName,
            MatchField::Domain,
            MatchField::Company,
            MatchField::Name,
            MatchField::Inn,
        ] {
            assert_eq!(MatchField::parse(f.as_str()), Some(f));
        }
    }
}
