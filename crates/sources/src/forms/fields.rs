//! Mapping a form's field names onto a contact card.

use super::settings::FormFieldMap;
use leadgate_domain::appeal::ContactCard;

/// Field names understood without configuration (compared case-insensitively).
const NAME: &[&str] = &[
    "name",
    "имя",
    "fio",
    "фио",
    "your-name",
    "first_name",
    "contact_name",
];
const PHONE: &[&str] = &[
    "phone",
    "телефон",
    "tel",
    "phone_number",
    "your-phone",
    "mobile",
];
const EMAIL: &[&str] = &["email", "e-mail", "почта", "mail", "your-email"];
const MESSAGE: &[&str] = &[
    "comments",
    "comment",
    "message",
    "сообщение",
    "комментарий",
    "text",
    "your-message",
    "question",
    "вопрос",
];
const COMPANY: &[&str] = &["company", "компания", "организация", "organization"];
const SUBJECT: &[&str] = &["subject", "тема", "formname", "form_name"];
const INN: &[&str] = &[
    "inn",
    "инн",
    "company_inn",
    "inn_company",
    "client_inn",
    "tax_id",
    "инн компании",
    "инн организации",
];

/// Fields Tilda and similar builders add that are not the person's words.
const SERVICE: &[&str] = &["tranid", "formid", "test", "cookies", "referer"];

#[derive(Debug, Default, Clone, PartialEq)]
pub struct FormFields {
    pub contact: ContactCard,
    pub subject: Option<String>,
    pub message: Option<String>,
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

fn matches(key: &str, configured: &[String], defaults: &[&str]) -> bool {
    let key = key.trim().to_lowercase();
    if configured.is_empty() {
        defaults.iter().any(|d| *d == key)
    } else {
        configured.iter().any(|c| c.to_lowercase() == key)
    }
}

fn join(acc: &mut Option<String>, value: &str) {
    let value = value.trim();
    if value.is_empty() {
        return;
    }
    match acc {
        Some(existing) => {
            existing.push('\n');
            existing.push_str(value);
        }
        None => *acc = Some(value.to_string()),
    }
}

/// Splits the submitted fields into the contact card, the message and the
/// rest (UTM tags and unknown fields, kept as attributes).
pub fn map_fields(fields: &[(String, String)], map: &FormFieldMap, skip: &[&str]) -> FormFields {
    let mut out = FormFields::default();
    let mut extra = serde_json::Map::new();
    for (key, value) in fields {
        if skip.iter().any(|s| !s.is_empty() && s == key) {
            continue;
        }
        let trimmed = value.trim();
        if matches(key, &map.name, NAME) {
            join(&mut out.contact.name, trimmed);
        } else if matches(key, &map.phone, PHONE) {
            if !trimmed.is_empty() {
                out.contact.phones.push(trimmed.to_string());
            }
        } else if matches(key, &map.email, EMAIL) {
            if !trimmed.is_empty() {
                out.contact.emails.push(trimmed.to_string());
            }
        } else if matches(key, &map.message, MESSAGE) {
            join(&mut out.message, trimmed);
        } else if matches(key, &map.company, COMPANY) {
            join(&mut out.contact.company, trimmed);
        } else if matches(key, &map.subject, SUBJECT) {
            join(&mut out.subject, trimmed);
        } else if matches(key, &map.inn, INN) && out.contact.inn.is_none() {
            // As typed: a wrong one is dropped by the pipeline with its
            // reason in the decision, and the lead is kept.
            if !trimmed.is_empty() {
                out.contact.inn = Some(trimmed.to_string());
            }
        } else if key.to_lowercase().starts_with("utm_") {
            out.attributes.insert(
                key.to_lowercase(),
                serde_json::Value::String(trimmed.to_string()),
            );
        } else if !SERVICE.contains(&key.to_lowercase().as_str()) && !trimmed.is_empty() {
            extra.insert(key.clone(), serde_json::Value::String(trimmed.to_string()));
        }
    }
    if !extra.is_empty() {
        out.attributes
            .insert("fields".into(), serde_json::Value::Object(extra));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn default_names_cover_russian_and_english_fields() {
        let out = map_fields(
            &f(&[
                ("Имя", "Анна"),
                ("Телефон", "8 (912) 345-67-89"),
                ("Email", "anna@example.ru"),
                ("Comments", "Нужен счёт"),
                ("utm_source", "yandex"),
                ("tranid", "123:456"),
                ("city", "Казань"),
            ]),
            &FormFieldMap::default(),
            &[],
        );
        assert_eq!(out.contact.name.as_deref(), Some("Анна"));
        assert_eq!(out.contact.phones, vec!["8 (912) 345-67-89"]);
        assert_eq!(out.contact.emails, vec!["anna@example.ru"]);
        assert_eq!(out.message.as_deref(), Some("Нужен счёт"));
        assert_eq!(out.attributes["utm_source"], "yandex");
        assert_eq!(out.attributes["fields"]["city"], "Казань");
        assert!(out.attributes["fields"].get("tranid").is_none());
    }

    #[test]
    fn inn_fields_fill_the_cards_inn() {
        for key in ["inn", "ИНН", "company_inn", "Инн компании"] {
            let out = map_fields(
                &f(&[("Имя", "Анна"), (key, " 7707 083 893 ")]),
                &FormFieldMap::default(),
                &[],
            );
            assert_eq!(out.contact.inn.as_deref(), Some("7707 083 893"), "{key}");
            assert!(out.attributes.get("fields").is_none(), "{key}");
        }
        // A second one is kept as a field, not glued to the first.
        let out = map_fields(
            &f(&[("inn", "7707083893"), ("company_inn", "7736207543")]),
            &FormFieldMap::default(),
            &[],
        );
        assert_eq!(out.contact.inn.as_deref(), Some("7707083893"));
        assert_eq!(out.attributes["fields"]["company_inn"], "7736207543");
        let map = FormFieldMap {
            inn: vec!["org_tax_number".into()],
            ..FormFieldMap::default()
        };
        let out = map_fields(&f(&[("org_tax_number", "7707083893")]), &map, &[]);
        assert_eq!(out.contact.inn.as_deref(), Some("7707083893"));
    }

    #[test]
    fn configured_names_replace_the_defaults() {
        let map = FormFieldMap {
            phone: vec!["client_tel".into()],
            ..FormFieldMap::default()
        };
        let out = map_fields(
            &f(&[("client_tel", "+7 912 345 67 89"), ("phone", "x")]),
            &map,
            &[],
        );
        assert_eq!(out.contact.phones, vec!["+7 912 345 67 89"]);
    }
}
