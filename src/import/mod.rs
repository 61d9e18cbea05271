//! `leadgate import clients FILE`: bulk load of an existing client base
//! from CSV or `.xlsx` (docs/import.md).
//!
//! Every usable row imports. A value that cannot be used costs that value
//! alone: a bad contact point is dropped and kept as typed on the person,
//! an unknown responsible leaves the client unassigned. Only a row with
//! nothing usable (no name, no contact point) is refused. Rows that share
//! a client id are contact persons of one client; re-importing updates
//! (idempotent on the client id; contact points are only added).

pub mod columns;
pub mod export;
pub mod read;
pub mod report;
pub mod row;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::ops::Range;
use std::sync::Arc;

use crate::settings::Settings;
use crate::users::Login;
use leadgate_store::{ImportKeys, ImportedClient, ImportedPerson, StorageError, Store};

pub use columns::{parse_map, Field};
pub use report::{write_report, Action, Issue, Reason};

use columns::{Columns, ColumnsError};
use read::{ReadError, SourceRow, UnreadableRow};

/// Clients written per transaction.
const BATCH: usize = 2000;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read the file: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Columns(#[from] ColumnsError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("deriving the match keys failed: {0}")]
    Derive(#[from] tokio::task::JoinError),
}

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Read and check everything, write nothing.
    pub check: bool,
    /// Add responsibles the configuration does not know as managers.
    pub create_managers: bool,
    /// The file's encoding when it is neither UTF-8 nor windows-1251.
    pub encoding: Option<String>,
    /// `COLUMN=FIELD` beyond the known header names.
    pub map: Vec<(String, Field)>,
}

#[derive(Debug, Default)]
pub struct ImportReport {
    /// Data rows read (the header not counted).
    pub rows: u64,
    /// Clients imported (new and updated).
    pub clients: u64,
    pub created: u64,
    pub updated: u64,
    pub persons: u64,
    pub points: u64,
    /// What the file was read as.
    pub format: String,
    /// Columns nothing reads.
    pub unused_columns: Vec<String>,
    /// Responsibles that are no manager, with how many rows name them.
    pub unknown_managers: BTreeMap<String, u64>,
    /// Managers added by `--create-managers`.
    pub created_managers: Vec<String>,
    pub issues: Vec<Issue>,
}

impl ImportReport {
    pub fn refused(&self) -> BTreeMap<&'static str, u64> {
        report::count(&self.issues, Action::Refused)
    }
    pub fn dropped(&self) -> BTreeMap<&'static str, u64> {
        report::count(&self.issues, Action::Dropped)
    }
    pub fn ignored(&self) -> BTreeMap<&'static str, u64> {
        report::count(&self.issues, Action::Ignored)
    }
    pub fn refused_rows(&self) -> u64 {
        self.refused().values().sum()
    }
}

/// Who a responsible cell names: a manager's login, name or e-mail, in
/// any case.
struct Managers {
    by_key: HashMap<String, String>,
}

fn manager_key(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
        .replace('ё', "е")
}

impl Managers {
    fn new(settings: &Settings, stored: &[String]) -> Managers {
        let mut by_key = HashMap::new();
        for login in stored {
            by_key.insert(manager_key(login), login.clone());
        }
        for m in &settings.managers {
            by_key.insert(manager_key(&m.login), m.login.clone());
            by_key.insert(manager_key(&m.name), m.login.clone());
            if let Some(email) = &m.email {
                by_key.insert(manager_key(email), m.login.clone());
            }
        }
        Managers { by_key }
    }

    fn resolve(&self, written: &str) -> Option<&str> {
        self.by_key.get(&manager_key(written)).map(String::as_str)
    }
}

/// A client as it builds up from its rows.
struct Pending {
    client: ImportedClient,
    first_line: u64,
}

pub async fn import_clients(
    store: &Store,
    settings: &Settings,
    mut reader: impl Read,
    options: &ImportOptions,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<ImportReport, ImportError> {
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes)?;
    // A dry run may face a database nobody migrated yet: then it knows no
    // one beyond the configuration.
    let stored = match store.active_logins().await {
        Ok(l) => l,
        Err(_) if options.check => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let managers = Managers::new(settings, &stored);
    let (mut report, (clients, to_create)) = parse(&bytes, settings, &managers, options, progress)?;
    drop(bytes);
    let clients = Arc::new(clients);
    if let Some(p) = progress {
        p.set_position(0);
        p.set_length(clients.len() as u64);
    }
    if options.check {
        let ids: Vec<&str> = clients.iter().map(|c| c.external_id.as_str()).collect();
        let existing: HashSet<String> = store.existing_external_ids(&ids).await.unwrap_or_default();
        report.updated = ids.iter().filter(|id| existing.contains(**id)).count() as u64;
        report.created = ids.len() as u64 - report.updated;
        report.created_managers = to_create;
    } else {
        if !to_create.is_empty() {
            report.created_managers = store.add_imported_managers(&to_create).await?;
        }
        // The keys of batch k + 1 are derived on another core while batch
        // k is written: on its own, deriving them takes a good part of the
        // import's CPU, and the writer waits for the engine much of the
        // time.
        let batches: Vec<Range<usize>> = (0..clients.len())
            .step_by(BATCH)
            .map(|start| start..(start + BATCH).min(clients.len()))
            .collect();
        let derive = |range: Range<usize>| {
            let clients = Arc::clone(&clients);
            tokio::task::spawn_blocking(move || {
                ImportKeys::derive(clients.get(range).unwrap_or_default())
            })
        };
        let mut next = batches.first().cloned().map(derive);
        for (k, range) in batches.iter().enumerate() {
            let Some(derived) = next.take() else {
                break;
            };
            let keys = derived.await?;
            next = batches.get(k + 1).cloned().map(derive);
            let chunk = clients.get(range.clone()).unwrap_or_default();
            let counts = store.import_prepared(chunk, keys).await?;
            report.created += counts.created;
            report.updated += counts.updated;
            if let Some(p) = progress {
                p.inc(chunk.len() as u64);
            }
        }
    }
    report.clients = clients.len() as u64;
    report.persons = clients.iter().map(|c| c.persons.len() as u64).sum();
    report.points = clients
        .iter()
        .flat_map(|c| &c.persons)
        .map(|p| p.keys.len() as u64)
        .sum();
    if let Some(p) = progress {
        p.finish_and_clear();
    }
    Ok(report)
}

type Parsed = (ImportReport, (Vec<ImportedClient>, Vec<String>));

/// Reads the whole file into clients (no I/O but the bytes given).
fn parse(
    bytes: &[u8],
    settings: &Settings,
    managers: &Managers,
    options: &ImportOptions,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<Parsed, ImportError> {
    let region = settings.region();
    let mut report = ImportReport::default();
    let columns: std::cell::RefCell<Option<Result<Columns, ColumnsError>>> =
        std::cell::RefCell::new(None);
    let mut pending: Vec<Pending> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut to_create: Vec<String> = Vec::new();
    let mut issues: Vec<Issue> = Vec::new();
    let mut rows = 0u64;
    if let Some(p) = progress {
        p.set_length(bytes.len() as u64);
    }
    let mut on_header = |t: &read::Table| {
        *columns.borrow_mut() = Some(Columns::new(&t.header, &options.map));
    };
    let mut bad_rows: Vec<UnreadableRow> = Vec::new();
    let mut on_bad = |bad: UnreadableRow| bad_rows.push(bad);
    let mut header_seen: Option<Columns> = None;
    let mut on_row = |row: SourceRow, position: u64| {
        if header_seen.is_none() {
            let mut slot = columns.borrow_mut();
            match slot.take() {
                Some(Ok(c)) => header_seen = Some(c),
                other => {
                    *slot = other;
                    return;
                }
            }
        }
        let Some(cols) = header_seen.as_ref() else {
            return;
        };
        rows += 1;
        if let Some(p) = progress {
            if rows % 10_000 == 0 {
                p.set_position(position);
            }
        }
        let Some(parsed) = row::parse_row(cols, row.line, &row.cells, region, &mut issues) else {
            return;
        };
        let responsible_column = cols
            .fields
            .iter()
            .position(|f| *f == Some(Field::Responsible))
            .and_then(|i| cols.names.get(i).cloned())
            .unwrap_or_default();
        let (responsible, imported_responsible) = match parsed.responsible.as_deref() {
            None => (None, None),
            Some(written) => match managers.resolve(written) {
                Some(login) => (Some(login.to_string()), None),
                None => {
                    let creatable = options.create_managers
                        && Login::parse(written).is_ok()
                        && !written.contains(' ');
                    let action = if creatable {
                        if !to_create.iter().any(|l| l == written) {
                            to_create.push(written.to_string());
                        }
                        Action::Created
                    } else {
                        *report
                            .unknown_managers
                            .entry(written.to_string())
                            .or_insert(0) += 1;
                        Action::Unassigned
                    };
                    issues.push(Issue {
                        line: row.line,
                        column: responsible_column,
                        value: row::kept(written),
                        reason: if creatable {
                            Reason::ManagerCreated
                        } else {
                            Reason::UnknownManager
                        },
                        action,
                        detail: if creatable {
                            "added as a manager (--create-managers)".into()
                        } else if options.create_managers {
                            "not a login (latin letters, digits, . _ - @); left unassigned".into()
                        } else {
                            "not a manager in the configuration; the client takes the round robin"
                                .into()
                        },
                    });
                    if creatable {
                        (Some(written.to_string()), None)
                    } else {
                        (None, Some(written.to_string()))
                    }
                }
            },
        };
        let person = ImportedPerson {
            name: parsed.person_name,
            keys: parsed.keys,
            dropped: parsed.dropped,
        };
        match index.get(&parsed.external_id) {
            Some(&i) => {
                let p = &mut pending[i];
                if !parsed.client_name.is_empty()
                    && parsed.client_name != p.client.name
                    && cols.fields.contains(&Some(Field::ClientName))
                {
                    issues.push(Issue {
                        line: row.line,
                        column: cols
                            .fields
                            .iter()
                            .position(|f| *f == Some(Field::ClientName))
                            .and_then(|i| cols.names.get(i).cloned())
                            .unwrap_or_default(),
                        value: row::kept(&parsed.client_name),
                        reason: Reason::ConflictingName,
                        action: Action::Ignored,
                        detail: format!(
                            "client {} is `{}` on line {}; that name is kept and this row's person joins it",
                            parsed.external_id,
                            row::kept(&p.client.name),
                            p.first_line
                        ),
                    });
                }
                let c = &mut p.client;
                if c.responsible.is_none() && c.imported_responsible.is_none() {
                    c.responsible = responsible;
                    c.imported_responsible = imported_responsible;
                }
                if c.inn.is_none() {
                    c.inn = parsed.inn;
                }
                match c.persons.iter_mut().find(|x| x.name == person.name) {
                    Some(same) => {
                        for k in person.keys {
                            if !same.keys.contains(&k) {
                                same.keys.push(k);
                            }
                        }
                        same.dropped.extend(person.dropped);
                    }
                    None => c.persons.push(person),
                }
            }
            None => {
                index.insert(parsed.external_id.clone(), pending.len());
                pending.push(Pending {
                    client: ImportedClient {
                        external_id: parsed.external_id,
                        kind: parsed.kind,
                        name: parsed.client_name,
                        responsible,
                        imported_responsible,
                        inn: parsed.inn,
                        persons: vec![person],
                    },
                    first_line: row.line,
                });
            }
        }
    };
    let table = read::read(
        bytes,
        options.encoding.as_deref(),
        &mut on_header,
        &mut on_row,
        &mut on_bad,
    )?;
    // A header without rows never met `on_row`.
    let cols = match header_seen {
        Some(c) => c,
        None => match columns.into_inner() {
            Some(r) => r?,
            None => return Err(ReadError::Empty.into()),
        },
    };
    for bad in bad_rows {
        rows += 1;
        issues.push(Issue::row(
            bad.line,
            Reason::UnreadableRow,
            Action::Refused,
            &bad.reason,
        ));
    }
    issues.sort_by_key(|i| i.line);
    report.rows = rows;
    report.format = table.format.describe(table.encoding);
    report.unused_columns = cols.unused().into_iter().map(str::to_string).collect();
    report.issues = issues;
    let clients = pending.into_iter().map(|p| p.client).collect();
    Ok((report, (clients, to_create)))
}
