//! `leadgate import clients FILE.csv`: bulk load of an existing client base.
//!
//! Header: `client_id,client_name,client_kind,person_name,phones,emails,telegram,vk,responsible`.
//! Lists inside a cell are separated by `;`. Rows that share a client_id are
//! contact persons of one client. Idempotent on client_id.

use std::collections::HashMap;
use std::io::Read;

use crate::settings::Settings;
use leadgate_domain::appeal::{ContactCard, ContactKey, TelegramContact, VkContact};
use leadgate_domain::client::ClientKind;
use leadgate_domain::contact::Region;
use leadgate_store::{ImportedClient, ImportedPerson, StorageError, Store};

const HEADER: [&str; 9] = [
    "client_id",
    "client_name",
    "client_kind",
    "person_name",
    "phones",
    "emails",
    "telegram",
    "vk",
    "responsible",
];

/// Clients written per transaction.
const BATCH: usize = 2000;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read the file: {0}")]
    Io(#[from] std::io::Error),
    #[error("the header must be `{}`, found `{found}`", HEADER.join(","))]
    Header { found: String },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    pub line: u64,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct ImportReport {
    pub rows: u64,
    pub clients: u64,
    pub bad_rows: Vec<BadRow>,
}

fn split_list(cell: &str) -> impl Iterator<Item = &str> {
    cell.split(';').map(str::trim).filter(|s| !s.is_empty())
}

/// Parses one row's contact points; any unparseable point makes the row bad,
/// because a silently dropped phone is a missed duplicate later.
fn row_keys(record: &csv::StringRecord, region: Region) -> Result<Vec<ContactKey>, String> {
    let get = |i: usize| record.get(i).unwrap_or("");
    let telegram = split_list(get(6)).next().map(|t| {
        if let Ok(id) = t.parse::<i64>() {
            TelegramContact {
                id: Some(id),
                username: None,
            }
        } else {
            TelegramContact {
                id: None,
                username: Some(t.to_string()),
            }
        }
    });
    let vk = split_list(get(7)).next().map(|v| {
        let digits = v.trim_start_matches("id");
        if let Ok(id) = digits.parse::<i64>() {
            VkContact {
                id: Some(id),
                screen_name: None,
            }
        } else {
            VkContact {
                id: None,
                screen_name: Some(v.to_string()),
            }
        }
    });
    let card = ContactCard {
        name: None,
        phones: split_list(get(4)).map(str::to_string).collect(),
        emails: split_list(get(5)).map(str::to_string).collect(),
        telegram,
        vk,
        company: None,
    };
    let normalized = card.normalize(region);
    if let Some(bad) = normalized.rejected.first() {
        let column = bad.field.trim_start_matches("contact.");
        return Err(format!("{column}: `{}`: {}", bad.raw, bad.reason));
    }
    Ok(normalized.keys)
}

pub async fn import_clients(
    store: &Store,
    settings: &Settings,
    reader: impl Read,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<ImportReport, ImportError> {
    let region = settings.region();
    let mut csv = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::Headers)
        .from_reader(reader);
    let found = csv
        .headers()
        .map_err(|e| ImportError::Header {
            found: e.to_string(),
        })?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_string())
        .collect::<Vec<_>>();
    if found != HEADER {
        return Err(ImportError::Header {
            found: found.join(","),
        });
    }
    let mut report = ImportReport::default();
    let mut clients: Vec<ImportedClient> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut record = csv::StringRecord::new();
    loop {
        let line = csv.position().line();
        match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                report.bad_rows.push(BadRow {
                    line,
                    reason: e.to_string(),
                });
                continue;
            }
        }
        report.rows += 1;
        if let Some(p) = progress {
            if report.rows % 10_000 == 0 {
                p.set_position(csv.position().byte());
            }
        }
        match parse_row(&record, settings, region) {
            Ok((client, person)) => match index.get(&client.external_id) {
                Some(&i) => clients[i].persons.push(person),
                None => {
                    index.insert(client.external_id.clone(), clients.len());
                    let mut client = client;
                    client.persons.push(person);
                    clients.push(client);
                }
            },
            Err(reason) => report.bad_rows.push(BadRow { line, reason }),
        }
    }
    drop(index);
    for chunk in clients.chunks(BATCH) {
        store.import_batch(chunk).await?;
        report.clients += chunk.len() as u64;
    }
    if let Some(p) = progress {
        p.finish_and_clear();
    }
    Ok(report)
}

fn parse_row(
    record: &csv::StringRecord,
    settings: &Settings,
    region: Region,
) -> Result<(ImportedClient, ImportedPerson), String> {
    let get = |i: usize| record.get(i).unwrap_or("").trim();
    if record.len() != HEADER.len() {
        return Err(format!(
            "expected {} columns, found {}",
            HEADER.len(),
            record.len()
        ));
    }
    let external_id = get(0);
    if external_id.is_empty() {
        return Err("client_id: empty".into());
    }
    let name = get(1);
    if name.is_empty() {
        return Err("client_name: empty".into());
    }
    let kind = ClientKind::parse(get(2))
        .ok_or_else(|| format!("client_kind: `{}` is not person or company", get(2)))?;
    let responsible = match get(8) {
        "" => None,
        login if settings.manager(login).is_some() => Some(login.to_string()),
        login => {
            return Err(format!(
                "responsible: `{login}` is not a manager in the configuration"
            ))
        }
    };
    let keys = row_keys(record, region)?;
    let person_name = match get(3) {
        "" => name.to_string(),
        n => n.to_string(),
    };
    Ok((
        ImportedClient {
            external_id: external_id.to_string(),
            kind,
            name: name.to_string(),
            responsible,
            persons: Vec::new(),
        },
        ImportedPerson {
            name: person_name,
            keys,
        },
    ))
}
