//! One row of a client file: what it holds, what of it is usable, and what
//! is dropped (with why). A bad value costs that value, not the row.

use leadgate_domain::appeal::{ContactCard, ContactKey, TelegramContact, VkContact};
use leadgate_domain::client::{ClientKind, DroppedPoint};
use leadgate_domain::contact::{Inn, Region};

use super::columns::{Columns, Field};
use super::report::{Action, Issue, Reason};

/// A cell longer than this is somebody's notes pasted into the wrong
/// column; it is dropped, not imported.
pub const MAX_CELL_CHARS: usize = 1000;
/// How much of a dropped value is kept on the person and in the report.
pub const MAX_KEPT_CHARS: usize = 200;

/// A row's text by field (lists of the columns that add up).
#[derive(Debug, Default)]
pub struct RowText {
    pub client_id: String,
    pub record_id: String,
    pub client_name: String,
    pub client_kind: String,
    pub person_name: String,
    pub last_name: String,
    pub first_name: String,
    pub middle_name: String,
    /// (column, cell) for each point column.
    pub phones: Vec<(usize, String)>,
    pub emails: Vec<(usize, String)>,
    pub telegram: Vec<(usize, String)>,
    pub vk: Vec<(usize, String)>,
    pub responsible: String,
    pub inn: (usize, String),
    /// Column of each single-valued field, for the report.
    pub column_of: Vec<(Field, usize)>,
}

/// What a usable row gives the import.
#[derive(Debug, Clone)]
pub struct ParsedRow {
    /// As in the file, or made from the ИНН, the name or a contact point
    /// when the file has no id.
    pub external_id: String,
    pub kind: ClientKind,
    pub client_name: String,
    pub person_name: String,
    pub keys: Vec<ContactKey>,
    pub dropped: Vec<DroppedPoint>,
    pub inn: Option<String>,
    /// The responsible as written (resolved against the managers later).
    pub responsible: Option<String>,
}

pub fn kept(raw: &str) -> String {
    let raw = raw.trim();
    if raw.chars().count() <= MAX_KEPT_CHARS {
        return raw.to_string();
    }
    let mut s: String = raw.chars().take(MAX_KEPT_CHARS).collect();
    s.push('…');
    s
}

impl RowText {
    pub fn from_cells(columns: &Columns, cells: &[String]) -> RowText {
        let mut t = RowText::default();
        for (i, field) in columns.fields.iter().enumerate() {
            let Some(field) = field else { continue };
            let cell = cells.get(i).map(|c| c.trim()).unwrap_or("");
            let set = |slot: &mut String| {
                if slot.is_empty() {
                    *slot = cell.to_string();
                }
            };
            match field {
                Field::ClientId => set(&mut t.client_id),
                Field::RecordId => set(&mut t.record_id),
                Field::ClientName => set(&mut t.client_name),
                Field::ClientKind => set(&mut t.client_kind),
                Field::PersonName => set(&mut t.person_name),
                Field::LastName => set(&mut t.last_name),
                Field::FirstName => set(&mut t.first_name),
                Field::MiddleName => set(&mut t.middle_name),
                Field::Responsible => set(&mut t.responsible),
                Field::Inn => t.inn = (i, cell.to_string()),
                Field::Phones => t.phones.push((i, cell.to_string())),
                Field::Emails => t.emails.push((i, cell.to_string())),
                Field::Telegram => t.telegram.push((i, cell.to_string())),
                Field::Vk => t.vk.push((i, cell.to_string())),
                Field::Ignore => {}
            }
            t.column_of.push((*field, i));
        }
        t
    }

    fn column(&self, field: Field) -> usize {
        self.column_of
            .iter()
            .find(|(f, _)| *f == field)
            .map_or(0, |(_, i)| *i)
    }
}

fn is_empty(cells: &[String]) -> bool {
    cells.iter().all(|c| c.trim().is_empty())
}

/// `;` and new lines separate values everywhere; a comma only where every
/// part looks like an address, so `ivan@mail,ru` stays one (bad) address.
fn split_emails(cell: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in cell
        .split([';', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let pieces: Vec<&str> = part
            .split([',', ' '])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if pieces.len() > 1 && pieces.iter().all(|p| p.contains('@')) {
            out.extend(pieces.into_iter().map(str::to_string));
        } else {
            out.push(part.to_string());
        }
    }
    out
}

fn split_list(cell: &str, extra: &[char]) -> Vec<String> {
    cell.split(|c: char| c == ';' || c == '\n' || extra.contains(&c))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Classifies a row. `Err` is a refusal (with its issue); `Ok` carries
/// the issues of what was dropped from a row that still imports.
pub fn parse_row(
    columns: &Columns,
    line: u64,
    cells: &[String],
    region: Region,
    issues: &mut Vec<Issue>,
) -> Option<ParsedRow> {
    if is_empty(cells) {
        issues.push(Issue::row(line, Reason::EmptyRow, Action::Refused, ""));
        return None;
    }
    let first_issue = issues.len();
    let mut text = RowText::from_cells(columns, cells);
    let column_name = |i: usize| columns.names.get(i).cloned().unwrap_or_default();
    let mut dropped: Vec<DroppedPoint> = Vec::new();

    // Overlong cells first, so nothing below reads them.
    let too_long = |s: &str| s.chars().count() > MAX_CELL_CHARS;
    for field in [
        Field::ClientId,
        Field::ClientName,
        Field::PersonName,
        Field::LastName,
        Field::FirstName,
        Field::MiddleName,
        Field::Responsible,
        Field::ClientKind,
    ] {
        let slot = match field {
            Field::ClientId => &mut text.client_id,
            Field::ClientName => &mut text.client_name,
            Field::PersonName => &mut text.person_name,
            Field::LastName => &mut text.last_name,
            Field::FirstName => &mut text.first_name,
            Field::MiddleName => &mut text.middle_name,
            Field::Responsible => &mut text.responsible,
            _ => &mut text.client_kind,
        };
        if too_long(slot) {
            let value = std::mem::take(slot);
            let column = text
                .column_of
                .iter()
                .find(|(f, _)| *f == field)
                .map_or(0, |(_, i)| *i);
            issues.push(Issue {
                line,
                column: column_name(column),
                value: kept(&value),
                reason: Reason::TooLong,
                action: Action::Ignored,
                detail: format!("{} characters", value.chars().count()),
            });
        }
    }
    let mut drop_point = |field: &str, column: usize, raw: &str, reason: Reason, detail: String| {
        issues.push(Issue {
            line,
            column: column_name(column),
            value: kept(raw),
            reason,
            action: Action::Dropped,
            detail: detail.clone(),
        });
        let raw = kept(raw);
        if !dropped.iter().any(|d| d.field == field && d.raw == raw) {
            dropped.push(DroppedPoint {
                field: field.to_string(),
                raw,
                reason: if detail.is_empty() {
                    reason.code().to_string()
                } else {
                    detail
                },
            });
        }
    };

    let mut keys: Vec<ContactKey> = Vec::new();
    let mut push_keys = |new: Vec<ContactKey>| {
        for k in new {
            if !keys.iter().any(|o| o.kind == k.kind && o.value == k.value) {
                keys.push(k);
            }
        }
    };
    for (column, cell) in &text.phones {
        if too_long(cell) {
            drop_point("phone", *column, cell, Reason::TooLong, String::new());
            continue;
        }
        for raw in split_list(cell, &[]) {
            let card = ContactCard {
                phones: vec![raw.clone()],
                ..ContactCard::default()
            };
            let n = card.normalize(region);
            for bad in &n.rejected {
                drop_point(
                    "phone",
                    *column,
                    &bad.raw,
                    Reason::InvalidPhone,
                    bad.reason.clone(),
                );
            }
            push_keys(n.keys);
        }
    }
    for (column, cell) in &text.emails {
        if too_long(cell) {
            drop_point("email", *column, cell, Reason::TooLong, String::new());
            continue;
        }
        for raw in split_emails(cell) {
            let card = ContactCard {
                emails: vec![raw.clone()],
                ..ContactCard::default()
            };
            let n = card.normalize(region);
            for bad in &n.rejected {
                drop_point(
                    "email",
                    *column,
                    &bad.raw,
                    Reason::InvalidEmail,
                    bad.reason.clone(),
                );
            }
            push_keys(n.keys);
        }
    }
    for (column, cell) in &text.telegram {
        if too_long(cell) {
            drop_point("telegram", *column, cell, Reason::TooLong, String::new());
            continue;
        }
        for raw in split_list(cell, &[',', ' ']) {
            let telegram = match raw.parse::<i64>() {
                Ok(id) => TelegramContact {
                    id: Some(id),
                    username: None,
                },
                Err(_) => TelegramContact {
                    id: None,
                    username: Some(raw.clone()),
                },
            };
            let card = ContactCard {
                telegram: Some(telegram),
                ..ContactCard::default()
            };
            let n = card.normalize(region);
            for bad in &n.rejected {
                drop_point(
                    "telegram",
                    *column,
                    &raw,
                    Reason::InvalidTelegram,
                    bad.reason.clone(),
                );
            }
            push_keys(n.keys);
        }
    }
    for (column, cell) in &text.vk {
        if too_long(cell) {
            drop_point("vk", *column, cell, Reason::TooLong, String::new());
            continue;
        }
        for raw in split_list(cell, &[',', ' ']) {
            let bare = raw
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .trim_start_matches("m.")
                .trim_start_matches("vk.com/")
                .trim_start_matches("vk.ru/");
            let vk = match bare.trim_start_matches("id").parse::<i64>() {
                Ok(id) => VkContact {
                    id: Some(id),
                    screen_name: None,
                },
                Err(_) => VkContact {
                    id: None,
                    screen_name: Some(bare.to_string()),
                },
            };
            let card = ContactCard {
                vk: Some(vk),
                ..ContactCard::default()
            };
            let n = card.normalize(region);
            for bad in &n.rejected {
                drop_point("vk", *column, &raw, Reason::InvalidVk, bad.reason.clone());
            }
            push_keys(n.keys);
        }
    }
    let (inn_column, inn_raw) = text.inn.clone();
    let inn = match inn_raw.trim() {
        "" => None,
        raw if too_long(raw) => {
            drop_point("inn", inn_column, raw, Reason::TooLong, String::new());
            None
        }
        raw => match Inn::parse(raw) {
            Ok(inn) => Some(inn.as_str().to_string()),
            Err(e) => {
                drop_point("inn", inn_column, raw, Reason::InvalidInn, e.to_string());
                None
            }
        },
    };

    let composed = [&text.last_name, &text.first_name, &text.middle_name]
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let person_name = match (text.person_name.trim(), composed.as_str()) {
        ("", c) => c.to_string(),
        (p, _) => p.to_string(),
    };
    let client_name = text.client_name.trim().to_string();

    let kind = match text.client_kind.trim() {
        "" => None,
        k => match parse_kind(k) {
            Some(kind) => Some(kind),
            None => {
                issues.push(Issue {
                    line,
                    column: column_name(text.column(Field::ClientKind)),
                    value: kept(k),
                    reason: Reason::InvalidKind,
                    action: Action::Ignored,
                    detail: "expected person or company (физ. лицо, юр. лицо, ИП)".into(),
                });
                None
            }
        },
    };
    let kind = kind.unwrap_or(
        if inn.as_deref().is_some_and(|i| i.len() == 10)
            || (!client_name.is_empty() && !person_name.is_empty() && client_name != person_name)
        {
            ClientKind::Company
        } else {
            ClientKind::Person
        },
    );

    let name = if !client_name.is_empty() {
        client_name.clone()
    } else if !person_name.is_empty() {
        person_name.clone()
    } else if let Some(k) = keys.first() {
        k.raw.clone()
    } else if let Some(inn) = &inn {
        format!("ИНН {inn}")
    } else {
        let detail = if dropped.is_empty() {
            "no name and no contact point".to_string()
        } else {
            let bad: Vec<String> = dropped
                .iter()
                .map(|d| format!("{} `{}`", d.field, d.raw))
                .collect();
            format!("no name, and no usable contact point ({})", bad.join(", "))
        };
        // What was dropped is part of the refusal, not a separate import.
        let own: Vec<Issue> = issues
            .drain(first_issue..)
            .filter(|i| i.action != Action::Dropped)
            .collect();
        issues.extend(own);
        issues.push(Issue::row(
            line,
            Reason::NothingUsable,
            Action::Refused,
            &detail,
        ));
        return None;
    };
    let person_name = if person_name.is_empty() {
        name.clone()
    } else {
        person_name
    };
    let external_id = match (text.client_id.trim(), text.record_id.trim()) {
        ("", record) if !record.is_empty() && client_name.is_empty() => record.to_string(),
        ("", _) => derived_id(kind, &name, inn.as_deref(), &keys),
        (id, _) => id.to_string(),
    };
    let responsible = Some(text.responsible.trim().to_string()).filter(|r| !r.is_empty());
    Some(ParsedRow {
        external_id,
        kind,
        client_name: name,
        person_name,
        keys,
        dropped,
        inn,
        responsible,
    })
}

/// An id for a file without one, stable across re-imports of the same base.
fn derived_id(kind: ClientKind, name: &str, inn: Option<&str>, keys: &[ContactKey]) -> String {
    if let Some(inn) = inn {
        return format!("inn:{inn}");
    }
    match (kind, keys.first()) {
        (ClientKind::Person, Some(k)) => format!("{}:{}", k.kind.as_str(), k.value),
        _ => format!("name:{}", name.to_lowercase()),
    }
}

/// The client kind as the import format, 1C and the CRMs write it.
pub fn parse_kind(s: &str) -> Option<ClientKind> {
    let s = s.trim().to_lowercase().replace('ё', "е");
    let s = s.trim_end_matches('.');
    if let Some(kind) = ClientKind::parse(s) {
        return Some(kind);
    }
    match s {
        "физ. лицо"
        | "физлицо"
        | "физ.лицо"
        | "физическое лицо"
        | "фл"
        | "частное лицо"
        | "individual"
        | "private"
        | "contact" => Some(ClientKind::Person),
        "юр. лицо"
        | "юрлицо"
        | "юр.лицо"
        | "юридическое лицо"
        | "юл"
        | "ип"
        | "индивидуальный предприниматель"
        | "организация"
        | "organization"
        | "organisation"
        | "business" => Some(ClientKind::Company),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_split_on_commas_only_between_addresses() {
        assert_eq!(split_emails("a@x.ru, b@y.ru"), vec!["a@x.ru", "b@y.ru"]);
        assert_eq!(split_emails("ivan@mail,ru"), vec!["ivan@mail,ru"]);
        assert_eq!(
            split_emails("a@x.ru;b@y.ru\nc@z.ru"),
            vec!["a@x.ru", "b@y.ru", "c@z.ru"]
        );
    }

    #[test]
    fn kinds() {
        assert_eq!(parse_kind("Юр. лицо"), Some(ClientKind::Company));
        assert_eq!(parse_kind("Физическое лицо"), Some(ClientKind::Person));
        assert_eq!(parse_kind("ИП"), Some(ClientKind::Company));
        assert_eq!(parse_kind("alien"), None);
    }
}
