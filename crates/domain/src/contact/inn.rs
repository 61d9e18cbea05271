//! ИНН, the Russian taxpayer number: 10 digits for an organisation, 12 for
//! an individual or a sole trader (ИП). The last digit(s) are a checksum,
//! so a typo is caught before it becomes a company key.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InnError {
    #[error("an ИНН has 10 digits (organisation) or 12 (individual), found {0}")]
    Length(usize),
    #[error("an ИНН has digits only")]
    NotDigits,
    #[error("the ИНН's check digit is wrong")]
    Checksum,
}

/// A checksum-valid ИНН, digits only.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Inn(String);

const W10: [u32; 9] = [2, 4, 10, 3, 5, 9, 4, 6, 8];
const W11: [u32; 10] = [7, 2, 4, 10, 3, 5, 9, 4, 6, 8];
const W12: [u32; 11] = [3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8];

fn check_digit(digits: &[u32], weights: &[u32]) -> u32 {
    digits.iter().zip(weights).map(|(d, w)| d * w).sum::<u32>() % 11 % 10
}

impl Inn {
    /// Spaces and dashes people put between groups are ignored; anything
    /// else that is not a digit makes it no ИНН.
    pub fn parse(raw: &str) -> Result<Inn, InnError> {
        let compact: String = raw
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '\u{a0}'))
            .collect();
        if !compact.chars().all(|c| c.is_ascii_digit()) {
            return Err(InnError::NotDigits);
        }
        let d: Vec<u32> = compact.bytes().map(|b| u32::from(b - b'0')).collect();
        let ok = match d.len() {
            10 => check_digit(&d[..9], &W10) == d[9],
            12 => check_digit(&d[..10], &W11) == d[10] && check_digit(&d[..11], &W12) == d[11],
            n => return Err(InnError::Length(n)),
        };
        if ok {
            Ok(Inn(compact))
        } else {
            Err(InnError::Checksum)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// An organisation's (10 digits) rather than a person's or a sole trader's.
    pub fn is_organisation(&self) -> bool {
        self.0.len() == 10
    }
}

impl fmt::Display for Inn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_numbers_of_both_lengths() {
        assert_eq!(Inn::parse("7707083893").unwrap().as_str(), "7707083893");
        assert!(Inn::parse("7707083893").unwrap().is_organisation());
        assert_eq!(Inn::parse(" 7707 083 893 ").unwrap().as_str(), "7707083893");
        assert_eq!(Inn::parse("500100732259").unwrap().as_str(), "500100732259");
        assert!(!Inn::parse("500100732259").unwrap().is_organisation());
    }

    #[test]
    fn typos_lengths_and_letters_are_refused() {
        assert_eq!(Inn::parse("7707083894"), Err(InnError::Checksum));
        assert_eq!(Inn::parse("500100732258"), Err(InnError::Checksum));
        assert_eq!(Inn::parse("77070838"), Err(InnError::Length(8)));
        assert_eq!(Inn::parse("770708389X"), Err(InnError::NotDigits));
        assert_eq!(Inn::parse(""), Err(InnError::Length(0)));
    }
}
