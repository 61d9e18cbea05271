//! Which column holds what: the import format's own names, the names 1C,
//! amoCRM and Bitrix24 export under (Russian and English), and `--map`.

use std::fmt;

/// What a column is imported as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    ClientId,
    /// A CRM's "ID" column: the exported record's (a contact's) id. It
    /// keys the client only when the row names no company; a company's
    /// contacts join one client, keyed by the company.
    RecordId,
    ClientName,
    ClientKind,
    PersonName,
    LastName,
    FirstName,
    MiddleName,
    Phones,
    Emails,
    Telegram,
    Vk,
    Responsible,
    Inn,
    /// Read but not imported (`--map column=-`).
    Ignore,
}

impl Field {
    pub const ALL: [Field; 14] = [
        Field::ClientId,
        Field::RecordId,
        Field::ClientName,
        Field::ClientKind,
        Field::PersonName,
        Field::LastName,
        Field::FirstName,
        Field::MiddleName,
        Field::Phones,
        Field::Emails,
        Field::Telegram,
        Field::Vk,
        Field::Responsible,
        Field::Inn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Field::ClientId => "client_id",
            Field::RecordId => "record_id",
            Field::ClientName => "client_name",
            Field::ClientKind => "client_kind",
            Field::PersonName => "person_name",
            Field::LastName => "last_name",
            Field::FirstName => "first_name",
            Field::MiddleName => "middle_name",
            Field::Phones => "phones",
            Field::Emails => "emails",
            Field::Telegram => "telegram",
            Field::Vk => "vk",
            Field::Responsible => "responsible",
            Field::Inn => "inn",
            Field::Ignore => "-",
        }
    }

    pub fn parse(s: &str) -> Option<Field> {
        let s = s.trim();
        if s == "-" || s.eq_ignore_ascii_case("ignore") {
            return Some(Field::Ignore);
        }
        Field::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// Several columns of these add up (work, mobile and home phone).
    fn accumulates(self) -> bool {
        matches!(
            self,
            Field::Phones | Field::Emails | Field::Telegram | Field::Vk | Field::Ignore
        )
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Header names compared in lower case, `ё` as `е`, spaces collapsed,
/// without a trailing `:` or `*` (a required-field mark).
pub fn normalize_header(h: &str) -> String {
    let h = h.trim_start_matches('\u{feff}').trim();
    let h = h.trim_end_matches([':', '*']).trim();
    h.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
        .replace('ё', "е")
}

/// Exact names, after [`normalize_header`].
const NAMES: &[(&str, Field)] = &[
    ("client_id", Field::ClientId),
    ("id", Field::RecordId),
    ("код", Field::ClientId),
    ("внешний код", Field::ClientId),
    ("идентификатор", Field::ClientId),
    ("external_id", Field::ClientId),
    ("id компании", Field::ClientId),
    ("id контрагента", Field::ClientId),
    ("company id", Field::ClientId),
    ("client_name", Field::ClientName),
    ("наименование", Field::ClientName),
    ("полное наименование", Field::ClientName),
    ("контрагент", Field::ClientName),
    ("компания", Field::ClientName),
    ("название компании", Field::ClientName),
    ("организация", Field::ClientName),
    ("клиент", Field::ClientName),
    ("company", Field::ClientName),
    ("company name", Field::ClientName),
    ("organization", Field::ClientName),
    ("client", Field::ClientName),
    ("client_kind", Field::ClientKind),
    ("вид контрагента", Field::ClientKind),
    ("тип контрагента", Field::ClientKind),
    ("тип клиента", Field::ClientKind),
    ("юр./физ. лицо", Field::ClientKind),
    ("юр. / физ. лицо", Field::ClientKind),
    ("client type", Field::ClientKind),
    ("person_name", Field::PersonName),
    ("контактное лицо", Field::PersonName),
    ("фио", Field::PersonName),
    ("ф.и.о.", Field::PersonName),
    ("полное имя", Field::PersonName),
    ("контакт", Field::PersonName),
    ("name", Field::PersonName),
    ("full name", Field::PersonName),
    ("contact", Field::PersonName),
    ("contact name", Field::PersonName),
    ("contact person", Field::PersonName),
    ("фамилия", Field::LastName),
    ("last name", Field::LastName),
    ("surname", Field::LastName),
    ("имя", Field::FirstName),
    ("first name", Field::FirstName),
    ("отчество", Field::MiddleName),
    ("middle name", Field::MiddleName),
    ("second name", Field::MiddleName),
    ("phones", Field::Phones),
    ("emails", Field::Emails),
    ("e-mail", Field::Emails),
    ("email", Field::Emails),
    ("эл. почта", Field::Emails),
    ("эл.почта", Field::Emails),
    ("электронная почта", Field::Emails),
    ("почта", Field::Emails),
    ("telegram", Field::Telegram),
    ("телеграм", Field::Telegram),
    ("vk", Field::Vk),
    ("вк", Field::Vk),
    ("вконтакте", Field::Vk),
    ("responsible", Field::Responsible),
    ("ответственный", Field::Responsible),
    ("ответственный менеджер", Field::Responsible),
    ("менеджер", Field::Responsible),
    ("основной менеджер", Field::Responsible),
    ("responsible user", Field::Responsible),
    ("responsible person", Field::Responsible),
    ("manager", Field::Responsible),
    ("assigned to", Field::Responsible),
    ("inn", Field::Inn),
    ("инн", Field::Inn),
    ("tax id", Field::Inn),
    ("инн контрагента", Field::Inn),
    ("инн компании", Field::Inn),
];

/// A column none of [`NAMES`] names but whose name says what it holds:
/// «Мобильный телефон», «Рабочий e-mail», "Work phone", "Личный email".
fn by_word(h: &str) -> Option<Field> {
    if h.contains("телефон") || h.contains("phone") || h.contains("мобильный") {
        Some(Field::Phones)
    } else if h.contains("email") || h.contains("e-mail") || h.contains("почта") {
        Some(Field::Emails)
    } else if h.contains("telegram") || h.contains("телеграм") {
        Some(Field::Telegram)
    } else if h.contains("вконтакте") || h.contains("vkontakte") {
        Some(Field::Vk)
    } else {
        None
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ColumnsError {
    #[error("--map `{0}`: expected COLUMN=FIELD")]
    MapSyntax(String),
    #[error("--map `{column}`: `{field}` is not one of {}, or - to ignore", Field::ALL.map(Field::as_str).join(", "))]
    MapField { column: String, field: String },
    #[error("--map `{0}`: the file has no such column")]
    MapColumn(String),
    #[error("columns {first} and {second} are both {field}; map one elsewhere with --map")]
    Twice {
        field: Field,
        first: String,
        second: String,
    },
    #[error("no column holds a name or a contact point (found: {found}); name them with --map COLUMN=FIELD, fields: {}", Field::ALL.map(Field::as_str).join(", "))]
    Nothing { found: String },
}

/// `COLUMN=FIELD` from the command line.
pub fn parse_map(arg: &str) -> Result<(String, Field), ColumnsError> {
    let (column, field) = arg
        .rsplit_once('=')
        .ok_or_else(|| ColumnsError::MapSyntax(arg.to_string()))?;
    let f = Field::parse(field).ok_or_else(|| ColumnsError::MapField {
        column: column.to_string(),
        field: field.to_string(),
    })?;
    Ok((column.to_string(), f))
}

/// The field of each column of the file, `None` for a column not imported.
#[derive(Debug, Clone)]
pub struct Columns {
    pub fields: Vec<Option<Field>>,
    pub names: Vec<String>,
}

impl Columns {
    pub fn new(header: &[String], map: &[(String, Field)]) -> Result<Columns, ColumnsError> {
        let normalized: Vec<String> = header.iter().map(|h| normalize_header(h)).collect();
        let mut fields: Vec<Option<Field>> = normalized
            .iter()
            .map(|h| {
                NAMES
                    .iter()
                    .find(|(n, _)| n == h)
                    .map(|(_, f)| *f)
                    .or_else(|| by_word(h))
            })
            .collect();
        for (column, field) in map {
            let want = normalize_header(column);
            let i = normalized
                .iter()
                .position(|h| *h == want)
                .ok_or_else(|| ColumnsError::MapColumn(column.clone()))?;
            fields[i] = Some(*field);
        }
        for f in Field::ALL.into_iter().filter(|f| !f.accumulates()) {
            let mut at = fields
                .iter()
                .enumerate()
                .filter(|(_, x)| **x == Some(f))
                .map(|(i, _)| i);
            if let (Some(a), Some(b)) = (at.next(), at.next()) {
                return Err(ColumnsError::Twice {
                    field: f,
                    first: header[a].clone(),
                    second: header[b].clone(),
                });
            }
        }
        let useful = fields.iter().flatten().any(|f| {
            !matches!(
                f,
                Field::ClientId
                    | Field::RecordId
                    | Field::ClientKind
                    | Field::Responsible
                    | Field::Ignore
            )
        });
        if !useful {
            return Err(ColumnsError::Nothing {
                found: header.join(", "),
            });
        }
        Ok(Columns {
            fields,
            names: header
                .iter()
                .map(|h| h.trim_start_matches('\u{feff}').trim().to_string())
                .collect(),
        })
    }

    /// Columns the import does not read, as the file names them.
    pub fn unused(&self) -> Vec<&str> {
        self.fields
            .iter()
            .zip(&self.names)
            .filter(|(f, _)| f.is_none())
            .map(|(_, n)| n.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(h: &[&str]) -> Vec<Option<Field>> {
        let header: Vec<String> = h.iter().map(|s| s.to_string()).collect();
        Columns::new(&header, &[]).unwrap().fields
    }

    #[test]
    fn export_names_of_1c_amocrm_and_bitrix24() {
        assert_eq!(
            cols(&[
                "Наименование",
                "ИНН",
                "Контактное лицо",
                "Телефон",
                "Эл. почта",
                "Ответственный"
            ]),
            [
                Field::ClientName,
                Field::Inn,
                Field::PersonName,
                Field::Phones,
                Field::Emails,
                Field::Responsible
            ]
            .map(Some)
        );
        assert_eq!(
            cols(&[
                "ID",
                "Name",
                "Company",
                "Work phone",
                "Mobile phone",
                "Work email",
                "Responsible user",
                "Tags"
            ]),
            vec![
                Some(Field::RecordId),
                Some(Field::PersonName),
                Some(Field::ClientName),
                Some(Field::Phones),
                Some(Field::Phones),
                Some(Field::Emails),
                Some(Field::Responsible),
                None
            ]
        );
        assert_eq!(
            cols(&[
                "Фамилия",
                "Имя",
                "Отчество",
                "Мобильный телефон",
                "Рабочий e-mail"
            ]),
            [
                Field::LastName,
                Field::FirstName,
                Field::MiddleName,
                Field::Phones,
                Field::Emails
            ]
            .map(Some)
        );
        assert_eq!(
            cols(&["\u{feff}Контрагент:", "E-mail*"])[0],
            Some(Field::ClientName)
        );
    }

    #[test]
    fn map_overrides_and_checks() {
        let header: Vec<String> = ["Клиент", "Сотовый", "Заметка"].map(String::from).to_vec();
        let map = vec![
            parse_map("Сотовый=phones").unwrap(),
            parse_map("Клиент=person_name").unwrap(),
        ];
        let c = Columns::new(&header, &map).unwrap();
        assert_eq!(
            c.fields,
            vec![Some(Field::PersonName), Some(Field::Phones), None]
        );
        assert_eq!(c.unused(), vec!["Заметка"]);
        assert!(parse_map("x=y").is_err());
        assert!(parse_map("nothing").is_err());
        assert!(Columns::new(&header, &[parse_map("Нет=phones").unwrap()]).is_err());
        let none: Vec<String> = ["foo", "bar"].map(String::from).to_vec();
        assert!(matches!(
            Columns::new(&none, &[]),
            Err(ColumnsError::Nothing { .. })
        ));
        let twice: Vec<String> = ["ИНН", "inn", "Телефон"].map(String::from).to_vec();
        assert!(matches!(
            Columns::new(&twice, &[]),
            Err(ColumnsError::Twice { .. })
        ));
    }
}
