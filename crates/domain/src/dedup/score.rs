//! Field weights, Fellegi–Sunter style: each field's agreement level carries
//! `log2(m/u)` bits, where `m` is how often the field agrees for the same
//! person and `u` how often it agrees by chance. A value shared by `f`
//! clients agrees by chance `f` times as often, so its weight drops by
//! `log2(f)`: an office switchboard or an agency's info@ mailbox counts for
//! less than a mobile number, a common surname for less than a rare one.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::keys::MatchField;
use crate::contact::{translit_key, NameAgreement, NameComparison, PartAgreement, PersonName};

/// Bits of evidence per field and agreement level (`[matching.weights]`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct MatchWeights {
    /// Same phone number (E.164), carried by one client.
    pub phone: f64,
    /// Same mailbox (canonical address), carried by one client.
    pub email: f64,
    /// Same Telegram or VK account.
    pub messenger: f64,
    /// Same corporate e-mail domain (a colleague), when no address agrees.
    pub domain: f64,
    /// Same company name.
    pub company: f64,
    /// Same ИНН: one taxpayer, so stronger than a domain or a name.
    pub inn: f64,
    /// Names written the same (up to case, ё and word order).
    pub name_exact: f64,
    /// Names that are spellings of one another: diminutive, transliteration,
    /// one typo, initials, a missing patronymic.
    pub name_compatible: f64,
    /// Only the surname agrees, the given name is missing on one side.
    pub name_surname_only: f64,
    /// Only the given name agrees (a surname missing or changed).
    pub name_given_only: f64,
    /// Clearly different people (negative).
    pub name_conflict: f64,
}

impl Default for MatchWeights {
    fn default() -> Self {
        MatchWeights {
            phone: 13.0,
            email: 13.0,
            messenger: 15.0,
            domain: 7.0,
            company: 5.0,
            inn: 10.0,
            name_exact: 5.0,
            name_compatible: 4.0,
            name_surname_only: 1.5,
            name_given_only: 0.5,
            name_conflict: -10.0,
        }
    }
}

impl MatchWeights {
    /// Every weight with its key name, for configuration checks.
    pub fn named(&self) -> [(&'static str, f64); 11] {
        [
            ("phone", self.phone),
            ("email", self.email),
            ("messenger", self.messenger),
            ("domain", self.domain),
            ("company", self.company),
            ("inn", self.inn),
            ("name_exact", self.name_exact),
            ("name_compatible", self.name_compatible),
            ("name_surname_only", self.name_surname_only),
            ("name_given_only", self.name_given_only),
            ("name_conflict", self.name_conflict),
        ]
    }

    fn base(&self, field: MatchField) -> f64 {
        match field {
            MatchField::Phone => self.phone,
            MatchField::Email => self.email,
            MatchField::TelegramId
            | MatchField::TelegramUsername
            | MatchField::VkId
            | MatchField::VkScreenName => self.messenger,
            MatchField::Domain => self.domain,
            MatchField::Company => self.company,
            MatchField::Inn => self.inn,
            MatchField::Name => 0.0,
        }
    }

    /// Weight of an exactly agreeing key carried by `shared_by` clients.
    pub fn key_weight(&self, field: MatchField, shared_by: usize) -> f64 {
        self.base(field) - (shared_by.max(1) as f64).log2()
    }

    fn name_weight(&self, agreement: NameAgreement) -> f64 {
        match agreement {
            NameAgreement::Exact => self.name_exact,
            NameAgreement::Compatible => self.name_compatible,
            NameAgreement::SurnameOnly => self.name_surname_only,
            NameAgreement::GivenOnly => self.name_given_only,
            NameAgreement::Conflict => self.name_conflict,
            NameAgreement::Unknown => 0.0,
        }
    }
}

/// How a field agreed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MatchHow {
    /// Written the same.
    Exact,
    /// The same after normalisation: phone format, e-mail dots, +tag,
    /// case, provider aliases.
    Canonical,
    /// The same name in another script or spelling (Sergey/Сергей),
    /// or the other gender's form of the surname.
    Translit,
    /// A short form of the given name (Саша/Александр).
    Diminutive,
    /// One typo in the surname or given name.
    Typo,
    /// Initials consistent with the full name.
    Initials,
    /// Only part of the name could be compared (surname or given name).
    Partial,
    /// Clearly different people.
    Conflict,
}

/// A name comparison: verdict, how, weight.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NameScore {
    pub agreement: NameAgreement,
    pub how: MatchHow,
    pub weight: f64,
}

/// Compares the appeal's name with a stored person's name.
pub fn name_score(appeal: &PersonName, stored: &PersonName, w: &MatchWeights) -> NameScore {
    let cmp = NameComparison::of(appeal, stored);
    let agreement = cmp.agreement();
    let how = match agreement {
        NameAgreement::Exact => MatchHow::Exact,
        NameAgreement::Conflict => MatchHow::Conflict,
        NameAgreement::SurnameOnly | NameAgreement::GivenOnly | NameAgreement::Unknown => {
            MatchHow::Partial
        }
        NameAgreement::Compatible => compatible_how(appeal, stored, &cmp),
    };
    NameScore {
        agreement,
        how,
        weight: w.name_weight(agreement),
    }
}

/// Names the variation that made two names compatible; a typo is named
/// before a diminutive before a transliteration (the least obvious first).
fn compatible_how(a: &PersonName, b: &PersonName, cmp: &NameComparison) -> MatchHow {
    let surname_typo =
        cmp.surname == PartAgreement::Compatible && a.surname_key() != b.surname_key();
    if surname_typo {
        return MatchHow::Typo;
    }
    if cmp.given == PartAgreement::Compatible {
        match (a.given(), b.given()) {
            (Some(x), Some(y)) => {
                if translit_key(x) == translit_key(y) {
                    return MatchHow::Translit;
                }
                let (cx, cy) = (
                    crate::contact::canonical_given_names(x),
                    crate::contact::canonical_given_names(y),
                );
                if cx.iter().any(|n| cy.contains(n)) {
                    return MatchHow::Diminutive;
                }
                return MatchHow::Typo;
            }
            _ => return MatchHow::Initials,
        }
    }
    if cmp.surname == PartAgreement::Compatible {
        return MatchHow::Translit;
    }
    MatchHow::Partial
}

#[cfg(test)]
mod tests {
    use super::*;

    fn how(a: &str, b: &str) -> (NameAgreement, MatchHow) {
        let s = name_score(
            &PersonName::parse(a),
            &PersonName::parse(b),
            &MatchWeights::default(),
        );
        (s.agreement, s.how)
    }

    #[test]
    fn names_say_how_they_agree() {
        use NameAgreement::{Compatible, Conflict, Exact};
        assert_eq!(how("Иван Петров", "Петров Иван"), (Exact, MatchHow::Exact));
        assert_eq!(
            how("Саша Петров", "Александр Петров"),
            (Compatible, MatchHow::Diminutive)
        );
        assert_eq!(
            how("Sergey Ivanov", "Сергей Иванов"),
            (Compatible, MatchHow::Translit)
        );
        assert_eq!(
            how("Иван Иваонв", "Иван Иванов"),
            (Compatible, MatchHow::Typo)
        );
        assert_eq!(
            how("Петров И.", "Петров Иван"),
            (Compatible, MatchHow::Initials)
        );
        assert_eq!(
            how("Пётр Сидоров", "Иван Петров"),
            (Conflict, MatchHow::Conflict)
        );
        assert_eq!(how("Иван", "Иван Петров").1, MatchHow::Partial);
    }

    #[test]
    fn shared_values_weigh_less() {
        let w = MatchWeights::default();
        assert_eq!(w.key_weight(MatchField::Phone, 1), 13.0);
        assert_eq!(w.key_weight(MatchField::Phone, 0), 13.0);
        assert!((w.key_weight(MatchField::Phone, 4) - 11.0).abs() < 1e-9);
        assert!(w.key_weight(MatchField::Email, 51) < 8.0);
    }
}
