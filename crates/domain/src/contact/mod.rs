//! Contact normalisation: phones, e-mails, messenger ids, person and company
//! names reduced to the keys client matching compares.
//!
//! Everything here is pure (no I/O) and bounded on hostile input.

use std::fmt;

use serde::{Deserialize, Serialize};

mod company;
mod email;
mod inn;
mod messenger;
mod name;
mod phone;
mod text;

pub use company::company_key;
pub use email::{
    extract_emails, is_free_mail_domain, Email, EmailError, FREE_MAIL_DOMAINS, MAX_EXTRACTED_EMAILS,
};
pub use inn::{Inn, InnError};
pub use messenger::{MessengerIdError, TelegramUserId, TelegramUsername, VkId, VkScreenName};
pub use name::{
    canonical_given_names, compare as compare_names, given_name_gender, jaro_winkler,
    looks_like_a_name, name_keys, patronymic_key, surname_key, surname_similarity, translit_key,
    Gender, Initials, NameAgreement, NameComparison, PartAgreement, PersonName, SURNAME_MATCH,
};
pub use phone::{extract_phones, Phone, PhoneError, PhoneKind, MAX_EXTRACTED_PHONES};

/// Country whose numbering plan is assumed for numbers typed without a
/// country code.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Region {
    #[default]
    Ru,
    Kz,
    By,
    Ua,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown region {0:?}; expected RU, KZ, BY or UA")]
pub struct UnknownRegion(pub String);

impl Region {
    /// ISO 3166 alpha-2 code, case-insensitive (`"ru"`, `"KZ"`).
    pub fn parse(s: &str) -> Result<Region, UnknownRegion> {
        let t = s.trim();
        for (code, region) in [
            ("ru", Region::Ru),
            ("kz", Region::Kz),
            ("by", Region::By),
            ("ua", Region::Ua),
        ] {
            if t.eq_ignore_ascii_case(code) {
                return Ok(region);
            }
        }
        Err(UnknownRegion(text::truncate_chars(t, 16).to_owned()))
    }

    pub fn code(self) -> &'static str {
        match self {
            Region::Ru => "RU",
            Region::Kz => "KZ",
            Region::By => "BY",
            Region::Ua => "UA",
        }
    }

    /// Country calling code without `+`.
    pub fn calling_code(self) -> &'static str {
        match self {
            Region::Ru | Region::Kz => "7",
            Region::By => "375",
            Region::Ua => "380",
        }
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl std::str::FromStr for Region {
    type Err = UnknownRegion;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Region::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_parsing() {
        assert_eq!(Region::parse("RU"), Ok(Region::Ru));
        assert_eq!(Region::parse("kz"), Ok(Region::Kz));
        assert_eq!(Region::parse(" By "), Ok(Region::By));
        assert_eq!("ua".parse::<Region>(), Ok(Region::Ua));
        assert!(Region::parse("DE").is_err());
        assert_eq!(Region::default(), Region::Ru);
        assert_eq!(Region::Kz.to_string(), "KZ");
    }
}
