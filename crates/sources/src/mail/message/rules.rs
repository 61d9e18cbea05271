//! Operator-configured rules for the mail channel: which addresses are our
//! own, which senders are website form robots, and the size limit.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Default for [`MailRules::max_message_bytes`]: 25 MiB, the common
/// provider limit (Yandex, mail.ru, Gmail accept roughly this much).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 25 * 1024 * 1024;

/// Rules that steer how one inbound message is understood.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailRules {
    /// Our own mailboxes (exact, case-insensitive). Mail from them is a
    /// copy, a loop or a colleague, never a new lead.
    pub own_addresses: Vec<String>,
    /// Our own domains; subdomains match too (`shop.example.ru` is covered
    /// by `example.ru`).
    pub own_domains: Vec<String>,
    /// Website form robots whose notifications carry a lead in the body.
    pub form_senders: Vec<FormSenderRule>,
    /// Messages above this size are flagged `oversize`; only the first
    /// part of them is parsed.
    pub max_message_bytes: usize,
}

impl Default for MailRules {
    fn default() -> Self {
        Self {
            own_addresses: Vec::new(),
            own_domains: Vec::new(),
            form_senders: Vec::new(),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        }
    }
}

/// One website form robot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormSenderRule {
    /// Exact address (`robot@tilda.ws`) or a whole domain (`*@tilda.ws`).
    pub from: String,
    /// When set, the subject must also contain this (case-insensitive):
    /// the same robot address often sends both leads and service mail.
    #[serde(default)]
    pub subject_contains: Option<String>,
    /// Site-specific field labels, e.g. `"Как к вам обращаться" = "name"`.
    /// Keys match case-insensitively, ignoring a trailing `:` or `*`.
    /// These win over the built-in labels.
    #[serde(default)]
    pub field_map: BTreeMap<String, FormField>,
}

/// What a form field means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FormField {
    Name,
    Phone,
    Email,
    Company,
    Comment,
    /// Keep only in `fields` (robot's technical lines, page URLs).
    Ignore,
}

/// A configuration mistake found by [`MailRules::validate`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailRulesError {
    #[error("own_addresses[{index}] = {value:?} is not an e-mail address")]
    OwnAddress { index: usize, value: String },
    #[error("own_domains[{index}] = {value:?} is not a domain")]
    OwnDomain { index: usize, value: String },
    #[error("form_senders[{index}].from = {value:?} must be an address or `*@domain`")]
    FormSender { index: usize, value: String },
}

impl MailRules {
    /// Checks the patterns once at config load, so that a typo does not
    /// silently turn a form robot's mail into leads from the robot.
    pub fn validate(&self) -> Result<(), MailRulesError> {
        for (index, value) in self.own_addresses.iter().enumerate() {
            if split_address(value).is_none() {
                return Err(MailRulesError::OwnAddress {
                    index,
                    value: value.clone(),
                });
            }
        }
        for (index, value) in self.own_domains.iter().enumerate() {
            if !is_domain(normalize_domain(value)) {
                return Err(MailRulesError::OwnDomain {
                    index,
                    value: value.clone(),
                });
            }
        }
        for (index, rule) in self.form_senders.iter().enumerate() {
            let ok = match rule.from.trim().strip_prefix("*@") {
                Some(domain) => is_domain(domain),
                None => split_address(&rule.from).is_some(),
            };
            if !ok {
                return Err(MailRulesError::FormSender {
                    index,
                    value: rule.from.clone(),
                });
            }
        }
        Ok(())
    }

    /// The own address or domain entry that `email` matches, for the
    /// operator-facing reason.
    pub(crate) fn own_match(&self, email: &str) -> Option<String> {
        let email = email.trim().to_ascii_lowercase();
        if let Some(own) = self
            .own_addresses
            .iter()
            .find(|own| own.trim().eq_ignore_ascii_case(&email))
        {
            return Some(format!("own_addresses: {}", own.trim()));
        }
        let (_, domain) = split_address(&email)?;
        self.own_domains
            .iter()
            .find(|own| domain_matches(domain, normalize_domain(own)))
            .map(|own| format!("own_domains: {}", own.trim()))
    }
}

impl FormSenderRule {
    /// Whether a message from `email` with `subject` is this robot's lead.
    pub(crate) fn matches(&self, email: &str, subject: &str) -> bool {
        let from_ok = match self.from.trim().strip_prefix("*@") {
            Some(domain) => {
                split_address(email).is_some_and(|(_, d)| d.eq_ignore_ascii_case(domain.trim()))
            }
            None => email.trim().eq_ignore_ascii_case(self.from.trim()),
        };
        from_ok
            && self.subject_contains.as_deref().is_none_or(|needle| {
                super::text::lower(subject).contains(&super::text::lower(needle.trim()))
            })
    }

    /// Field meaning from this rule's overrides.
    pub(crate) fn field_override(&self, key_normalized: &str) -> Option<FormField> {
        self.field_map
            .iter()
            .find(|(k, _)| super::form_mail::normalize_key(k) == key_normalized)
            .map(|(_, v)| *v)
    }
}

/// `local@domain` → (`local`, `domain`); `None` for anything else.
pub(crate) fn split_address(email: &str) -> Option<(&str, &str)> {
    let email = email.trim();
    let (local, domain) = email.rsplit_once('@')?;
    (!local.is_empty() && is_domain(domain)).then_some((local, domain))
}

fn normalize_domain(d: &str) -> &str {
    let d = d.trim();
    let d = d.strip_prefix("*@").unwrap_or(d);
    let d = d.strip_prefix('@').unwrap_or(d);
    d.strip_prefix("*.").unwrap_or(d)
}

fn is_domain(d: &str) -> bool {
    !d.is_empty()
        && d.contains('.')
        && !d.starts_with('.')
        && !d.ends_with('.')
        && d.chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '.')
}

/// Exact domain or a subdomain of it.
fn domain_matches(domain: &str, own: &str) -> bool {
    if own.is_empty() {
        return false;
    }
    let domain = domain.to_ascii_lowercase();
    let own = own.to_ascii_lowercase();
    domain == own || domain.ends_with(&format!(".{own}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_deserialize_with_defaults_and_reject_unknown_fields() {
        let rules: MailRules = serde_json::from_str(
            r#"{"own_domains":["example.ru"],
                "form_senders":[{"from":"*@tilda.ws","field_map":{"Как к вам обращаться":"name"}}]}"#,
        )
        .expect("valid rules");
        assert_eq!(rules.max_message_bytes, DEFAULT_MAX_MESSAGE_BYTES);
        assert_eq!(
            rules.form_senders[0].field_map.get("Как к вам обращаться"),
            Some(&FormField::Name)
        );
        assert!(rules.validate().is_ok());
        assert!(serde_json::from_str::<MailRules>(r#"{"own_adresses":[]}"#).is_err());
        assert!(
            serde_json::from_str::<MailRules>(r#"{"form_senders":[{"from":"a@b.ru","x":1}]}"#)
                .is_err()
        );
        assert_eq!(
            serde_json::from_str::<MailRules>("{}").expect("empty rules"),
            MailRules::default()
        );
    }

    #[test]
    fn validate_catches_typos() {
        let rules = MailRules {
            form_senders: vec![FormSenderRule {
                from: "tilda.ws".into(),
                subject_contains: None,
                field_map: BTreeMap::new(),
            }],
            ..MailRules::default()
        };
        assert!(matches!(
            rules.validate(),
            Err(MailRulesError::FormSender { index: 0, .. })
        ));
        let rules = MailRules {
            own_addresses: vec!["sales".into()],
            ..MailRules::default()
        };
        assert!(rules.validate().is_err());
    }

    #[test]
    fn own_match_covers_addresses_domains_and_subdomains() {
        let rules = MailRules {
            own_addresses: vec!["Sales@Partner.ru".into()],
            own_domains: vec!["example.ru".into()],
            ..MailRules::default()
        };
        assert!(rules.own_match("sales@partner.ru").is_some());
        assert!(rules.own_match("ivan@example.ru").is_some());
        assert!(rules.own_match("robot@shop.example.ru").is_some());
        assert!(rules.own_match("ivan@notexample.ru").is_none());
        assert!(rules.own_match("broken").is_none());
    }

    #[test]
    fn form_rule_matching() {
        let rule = FormSenderRule {
            from: "*@tilda.ws".into(),
            subject_contains: Some("заявка".into()),
            field_map: BTreeMap::new(),
        };
        assert!(rule.matches("robot@tilda.ws", "Новая Заявка с сайта"));
        assert!(!rule.matches("robot@tilda.ws", "Счёт за хостинг"));
        assert!(!rule.matches("robot@evil-tilda.ws", "Заявка"));
        let exact = FormSenderRule {
            from: "noreply@site.ru".into(),
            subject_contains: None,
            field_map: BTreeMap::new(),
        };
        assert!(exact.matches("NoReply@Site.ru", ""));
        assert!(!exact.matches("info@site.ru", ""));
    }
}
