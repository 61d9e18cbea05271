//! Company names reduced to a matching key: `ООО «Ромашка»`,
//! `Ромашка, ООО` and `Общество с ограниченной ответственностью "Ромашка"`
//! are one company.

use super::name::{translit_key, PersonName};
use super::text::{lower, truncate_chars};

/// Longer input is not a company name; the cap bounds the work.
const MAX_COMPANY_CHARS: usize = 200;

/// Legal forms written out, as token sequences; matched before the
/// abbreviations so that «акционерное общество» inside «закрытое
/// акционерное общество» does not leave «закрытое» behind.
const LEGAL_FORM_PHRASES: &[&[&str]] = &[
    &["общество", "с", "ограниченной", "ответственностью"],
    &["непубличное", "акционерное", "общество"],
    &["публичное", "акционерное", "общество"],
    &["открытое", "акционерное", "общество"],
    &["закрытое", "акционерное", "общество"],
    &["акционерное", "общество"],
    &["индивидуальный", "предприниматель"],
    &["группа", "компаний"],
    &["торговый", "дом"],
    &["limited", "liability", "company"],
    &["private", "limited"],
];

/// Abbreviated legal forms, lowercase. Latin `ooo`, `zao` are Russian
/// forms transliterated in an English-language signature.
const LEGAL_FORMS: &[&str] = &[
    "ано",
    "ао",
    "гк",
    "гуп",
    "зао",
    "муп",
    "нао",
    "нко",
    "оао",
    "ооо",
    "пао",
    "тд",
    "фгуп",
    "ag",
    "ao",
    "co",
    "corp",
    "corporation",
    "gmbh",
    "inc",
    "incorporated",
    "limited",
    "llc",
    "llp",
    "ltd",
    "oao",
    "ooo",
    "pao",
    "plc",
    "zao",
];

/// Marks of a sole trader, whose "company" is the person.
const SOLE_TRADER: &[&str] = &["ип", "ипбоюл", "пбоюл"];

/// Matching key of a company name: lowercase, ё→е, without legal forms,
/// quotes and punctuation, words joined by single spaces. A sole trader
/// (`ИП Иванов Иван Иванович`, `ИП Иванов И.И.`) is keyed by the person:
/// `ип:<surname key>|<initials>`, so that both spellings agree.
///
/// `None` when nothing but legal forms and punctuation is left.
pub fn company_key(raw: &str) -> Option<String> {
    let raw = truncate_chars(raw, MAX_COMPANY_CHARS);
    let mut cleaned = String::with_capacity(raw.len());
    for c in raw.chars() {
        if c.is_alphanumeric() {
            cleaned.push(match lower(c) {
                'ё' => 'е',
                l => l,
            });
        } else if c == '.' {
            // «И.И.» must stay apart from the surname for the person name
            // parser, and «Ко.» is a word boundary anyway.
            cleaned.push_str(". ");
        } else {
            cleaned.push(' ');
        }
    }
    let tokens: Vec<&str> = cleaned
        .split_whitespace()
        .map(|t| t.trim_end_matches('.'))
        .filter(|t| !t.is_empty())
        .collect();

    let mut keep = vec![true; tokens.len()];
    let mut sole_trader = false;
    let mut i = 0;
    while i < tokens.len() {
        if let Some(phrase) = LEGAL_FORM_PHRASES
            .iter()
            .find(|p| tokens[i..].starts_with(p))
        {
            sole_trader |= phrase[0] == "индивидуальный";
            keep[i..i + phrase.len()].fill(false);
            i += phrase.len();
            continue;
        }
        if SOLE_TRADER.contains(&tokens[i]) {
            sole_trader = true;
            keep[i] = false;
        } else if LEGAL_FORMS.contains(&tokens[i]) {
            keep[i] = false;
        }
        i += 1;
    }
    let rest: Vec<&str> = tokens
        .iter()
        .zip(&keep)
        .filter_map(|(t, k)| k.then_some(*t))
        .collect();
    if rest.is_empty() {
        return None;
    }
    if sole_trader {
        if let Some(key) = sole_trader_key(&rest) {
            return Some(key);
        }
    }
    Some(rest.join(" "))
}

fn sole_trader_key(words: &[&str]) -> Option<String> {
    // Initials were split off as one-letter tokens; give the parser its
    // dots back so it reads them as initials.
    let text: Vec<String> = words
        .iter()
        .map(|w| {
            if w.chars().count() == 1 {
                format!("{w}.")
            } else {
                (*w).to_owned()
            }
        })
        .collect();
    let person = PersonName::parse(&text.join(" "));
    let surname = person.surname_key()?;
    let initials = person.initials();
    let mut key = format!("ип:{surname}|");
    for c in [initials.given, initials.patronymic].into_iter().flatten() {
        if let Some(sym) = translit_key(c.encode_utf8(&mut [0; 4])).chars().next() {
            key.push(sym);
        }
    }
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(raw: &str) -> Option<String> {
        company_key(raw)
    }

    #[test]
    fn legal_forms_and_quotes_go() {
        for raw in [
            "ООО «Ромашка»",
            "ООО \"Ромашка\"",
            "ооо 'Ромашка'",
            "„Ромашка“ ООО",
            "Ромашка, ООО",
            "Общество с ограниченной ответственностью «Ромашка»",
            "ОБЩЕСТВО С ОГРАНИЧЕННОЙ ОТВЕТСТВЕННОСТЬЮ \"РОМАШКА\"",
            "  ООО   « Ромашка »  ",
        ] {
            assert_eq!(key(raw).as_deref(), Some("ромашка"), "{raw}");
        }
        assert_eq!(key("ПАО Сбербанк").as_deref(), Some("сбербанк"));
        assert_eq!(
            key("Публичное акционерное общество «Сбербанк»").as_deref(),
            Some("сбербанк")
        );
        assert_eq!(key("АО «Тинькофф Банк»").as_deref(), Some("тинькофф банк"));
        assert_eq!(key("ЗАО \"Альфа-Трейд\"").as_deref(), Some("альфа трейд"));
        assert_eq!(key("ГК «ПИК»").as_deref(), Some("пик"));
        assert_eq!(key("Группа компаний ПИК").as_deref(), Some("пик"));
        assert_eq!(key("ТД «Ёлка»").as_deref(), Some("елка"));
        assert_eq!(key("Торговый дом Ёлка").as_deref(), Some("елка"));
        assert_eq!(key("НАО «Восток»").as_deref(), Some("восток"));
        assert_eq!(key("Romashka LLC").as_deref(), Some("romashka"));
        assert_eq!(key("Romashka Ltd.").as_deref(), Some("romashka"));
        assert_eq!(key("Acme, Inc.").as_deref(), Some("acme"));
        assert_eq!(key("Siemens GmbH").as_deref(), Some("siemens"));
        assert_eq!(key("OOO Romashka").as_deref(), Some("romashka"));
        assert_eq!(
            key("ООО «Стройсервис-2000»").as_deref(),
            Some("стройсервис 2000")
        );
    }

    #[test]
    fn sole_traders_are_keyed_by_the_person() {
        let full = key("ИП Иванов Иван Иванович");
        assert_eq!(full.as_deref(), Some("ип:ivanov|ii"));
        assert_eq!(key("ИП Иванов И.И."), full);
        assert_eq!(
            key("Индивидуальный предприниматель Иванов Иван Иванович"),
            full
        );
        assert_eq!(
            key("ИП Иванова Мария Петровна").as_deref(),
            Some("ип:ivanov|mp")
        );
        // Without a surname there is no person to key by.
        assert_eq!(key("ИП «Ромашка»").as_deref(), Some("ромашка"));
    }

    #[test]
    fn nothing_left_is_none() {
        for raw in [
            "",
            "   ",
            "ООО",
            "ООО «»",
            "«»",
            "\"\"",
            "ИП",
            "LLC",
            "-- , .",
        ] {
            assert_eq!(key(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn hostile_input() {
        let long = "Ромашка ".repeat(10_000);
        let k = key(&long).unwrap();
        assert!(k.chars().count() <= MAX_COMPANY_CHARS);
        let _ = key("😀«ООО»😀");
        let _ = key(&"ИП ".repeat(1000));
        let _ = key("ИП 😀 .");
    }
}
