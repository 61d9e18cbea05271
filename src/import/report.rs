//! What an import did with each row: the issues, the `--report` CSV, and
//! the summary counted per reason.

use std::collections::BTreeMap;
use std::io::Write;

/// Why a value or a row was not imported as it stands. The codes are the
/// report's `reason` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    EmptyRow,
    NothingUsable,
    UnreadableRow,
    InvalidPhone,
    InvalidEmail,
    InvalidTelegram,
    InvalidVk,
    InvalidInn,
    TooLong,
    InvalidKind,
    UnknownManager,
    ManagerCreated,
    ConflictingName,
}

impl Reason {
    pub fn code(self) -> &'static str {
        match self {
            Reason::EmptyRow => "empty_row",
            Reason::NothingUsable => "nothing_usable",
            Reason::UnreadableRow => "unreadable_row",
            Reason::InvalidPhone => "invalid_phone",
            Reason::InvalidEmail => "invalid_email",
            Reason::InvalidTelegram => "invalid_telegram",
            Reason::InvalidVk => "invalid_vk",
            Reason::InvalidInn => "invalid_inn",
            Reason::TooLong => "too_long",
            Reason::InvalidKind => "invalid_client_kind",
            Reason::UnknownManager => "unknown_manager",
            Reason::ManagerCreated => "manager_created",
            Reason::ConflictingName => "conflicting_client_name",
        }
    }
}

/// What became of the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// The whole row was not imported.
    Refused,
    /// A contact point (or ИНН) left out, kept as typed on the person.
    Dropped,
    /// A value left out; the row imported without it.
    Ignored,
    /// The client imported without a responsible (round robin).
    Unassigned,
    /// A manager was added to the database for it.
    Created,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Refused => "refused",
            Action::Dropped => "dropped",
            Action::Ignored => "ignored",
            Action::Unassigned => "unassigned",
            Action::Created => "created",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// The file's line (header = 1) or the spreadsheet's row.
    pub line: u64,
    /// The column as the file names it; empty for the whole row.
    pub column: String,
    pub value: String,
    pub reason: Reason,
    pub action: Action,
    pub detail: String,
}

impl Issue {
    pub fn row(line: u64, reason: Reason, action: Action, detail: &str) -> Issue {
        Issue {
            line,
            column: String::new(),
            value: String::new(),
            reason,
            action,
            detail: detail.to_string(),
        }
    }
}

/// Writes the issues as CSV: `line,column,value,reason,action,detail`.
pub fn write_report(out: impl Write, issues: &[Issue]) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(["line", "column", "value", "reason", "action", "detail"])?;
    for i in issues {
        w.write_record([
            i.line.to_string().as_str(),
            &i.column,
            &i.value,
            i.reason.code(),
            i.action.as_str(),
            &i.detail,
        ])?;
    }
    w.flush()
}

/// Counts per reason of the issues with this action.
pub fn count(issues: &[Issue], action: Action) -> BTreeMap<&'static str, u64> {
    let mut out = BTreeMap::new();
    for i in issues.iter().filter(|i| i.action == action) {
        *out.entry(i.reason.code()).or_insert(0) += 1;
    }
    out
}

pub fn describe(counts: &BTreeMap<&'static str, u64>) -> String {
    counts
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}
