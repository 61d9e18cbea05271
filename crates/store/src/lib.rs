//! Storage: one interface over SQLite (embedded default) and PostgreSQL
//! (several instances sharing one database).
//!
//! Queries are written once, with `$n` placeholders that both engines accept,
//! and run through sqlx's `Any` driver. Times are stored as epoch milliseconds
//! and JSON as text so that decoding is identical on both backends.

mod appeals;
mod audit;
pub(crate) mod bulk;
mod calls;
mod ceiling;
mod clients;
mod dead_letters;
mod events;
mod interests;
mod locks;
mod mail;
mod matching;
mod merges;
mod messengers;
mod prefetch;
mod reports;
mod review;
mod rollup_sql;
mod sales;
mod scope;
mod sessions;
mod settings;
mod stage;
mod users;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

pub use calls::{CallInteraction, StoredCall};
use chrono::{DateTime, TimeZone, Utc};
pub use mail::{MailCursor, MailItem, OutboxMail, OutgoingMail};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyConnection, AnyPool, ConnectOptions, Executor};
use tokio::sync::{Mutex, OwnedMutexGuard};

pub use settings::{DatabaseSettings, SqliteSync};

pub use appeals::{insert_appeal_as, AcceptedAppeal, AppealCounts, ClaimedAppeal};
pub use audit::{AuditEntry, NewAuditEntry};
pub use bulk::{
    FeedRow, FinishedRow, IdTable, NewClientRow, NewInterestRow, NewPersonRow, PointRow, TaskRow,
};
pub use clients::{ImportCounts, ImportKeys, ImportedClient, ImportedPerson};
pub use dead_letters::{DeadLetter, ReplayDue, ReplayRefusal};
pub use events::{EndpointState, FailedAttempt, WebhookFailure};
pub use interests::{announce_task, created_task_events, outcome_rows, ClientState, OutcomeRows};
pub use interests::{InterestDetails, NewFeedEntry, NewTask};
pub use matching::{company_rows, domain_rows, inn_rows, person_rows, KeyRow};
pub use merges::{MergeRecord, MovedRecords};
pub use messengers::{random_id_for, NewOutbound, OutboxRow, OutboxView};
pub use prefetch::{match_appeal, match_appeal_with, Prefetched};
pub use reports::{ActivityRows, Agg, CallLogEntry, ReportFilter};
pub use review::ReviewRow;
pub use sales::{
    BoardCard, BoardFilter, BoardSearch, ColumnTotals, InterestCall, OutgoingNote, TodayTask,
};
pub use sessions::SessionUser;
pub use stage::{
    InterestCard, InterestFacts, InterestFilter, LinkedAppeal, OverdueTask, StoredEvent,
};
pub use users::{NewUserRow, User, UserInsert};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("cannot prepare the database location {path}: {message}")]
    Location { path: String, message: String },
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error("{0} not found")]
    NotFound(&'static str),
}

impl StorageError {
    /// No connection could be had in time: the database is overloaded or gone.
    pub fn is_pool_timeout(&self) -> bool {
        matches!(self, StorageError::Database(sqlx::Error::PoolTimedOut))
    }

    /// A uniqueness violation: the caller usually maps it to a client error.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StorageError::Database(sqlx::Error::Database(e)) => e.is_unique_violation(),
            _ => false,
        }
    }
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    /// SQLite: one connection whose commits skip fsync (`begin_processing`).
    processing_pool: Option<AnyPool>,
    backend: Backend,
    /// SQLite has one writer at a time, and a transaction that read before it
    /// wrote fails outright if another writer got in between. Serialising our
    /// own writers here turns that into plain waiting.
    write_gate: Option<Arc<Mutex<()>>>,
    /// Bumped after every write commit of this process and, on PostgreSQL,
    /// after commits of other instances (LISTEN), so that change-feed long
    /// polls and webhook senders wake at once.
    journal: Arc<Journal>,
}

struct Journal {
    changed: tokio::sync::watch::Sender<u64>,
    /// Bumped by this process's own commits only; on PostgreSQL a task
    /// passes them on to other instances as a NOTIFY of its own.
    committed: tokio::sync::watch::Sender<u64>,
    url: String,
    listening: tokio::sync::OnceCell<()>,
    /// PostgreSQL: how far the journal is settled (see `event_horizon`).
    horizon: tokio::sync::Mutex<events::Horizon>,
    /// Whether the horizon waits for transactions in flight.
    settling: std::sync::atomic::AtomicBool,
}

impl Journal {
    fn bump(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// A write transaction; on SQLite it also holds the write gate.
pub struct WriteTx {
    pub tx: sqlx::Transaction<'static, sqlx::Any>,
    _gate: Option<OwnedMutexGuard<()>>,
    journal: Arc<Journal>,
}

impl WriteTx {
    pub fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        self.journal.bump();
        self.journal
            .committed
            .send_modify(|n| *n = n.wrapping_add(1));
        Ok(())
    }

    pub async fn rollback(self) -> Result<()> {
        self.tx.rollback().await?;
        Ok(())
    }
}

impl Store {
    pub async fn connect(settings: &DatabaseSettings) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let url = settings.url.trim();
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        };
        let url = match backend {
            Backend::Sqlite => sqlite_url(url)?,
            Backend::Postgres => url.to_string(),
        };
        let options = AnyConnectOptions::from_str(&url)?
            .log_statements(tracing::log::LevelFilter::Trace)
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1));
        let pool = open_pool(
            options.clone(),
            backend,
            settings,
            settings.max_connections,
            settings.sqlite_synchronous,
        )
        .await?;
        // See `begin_processing`. An in-memory database is one per
        // connection set, so it keeps a single pool.
        let processing_pool = if backend == Backend::Sqlite
            && settings.sqlite_synchronous == SqliteSync::Full
            && !url.contains(":memory:")
        {
            Some(open_pool(options, backend, settings, 1, SqliteSync::Normal).await?)
        } else {
            None
        };
        let journal = Arc::new(Journal {
            changed: tokio::sync::watch::Sender::new(0),
            committed: tokio::sync::watch::Sender::new(0),
            url,
            listening: tokio::sync::OnceCell::new(),
            horizon: tokio::sync::Mutex::new(events::Horizon::default()),
            settling: std::sync::atomic::AtomicBool::new(false),
        });
        if backend == Backend::Postgres {
            tokio::spawn(announce_commits(Arc::downgrade(&journal)));
        }
        Ok(Store {
            pool,
            processing_pool,
            backend,
            write_gate: (backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(()))),
            journal,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    fn migrator(&self) -> &'static Migrator {
        match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        }
    }

    pub async fn migrate(&self) -> Result<()> {
        let _gate = self.lock_writes().await;
        self.migrator().run(&self.pool).await?;
        drop(_gate);
        self.backfill_match_keys().await
    }

    /// Reclaims dead row versions and refreshes the planner's statistics
    /// (PostgreSQL `VACUUM (ANALYZE)`, SQLite `ANALYZE`). For benchmarks that
    /// compare rounds on one database: without it, whichever round autovacuum
    /// happens to run in pays for the rounds before.
    pub async fn vacuum_analyze(&self) -> Result<()> {
        let sql = match self.backend {
            Backend::Postgres => "VACUUM (ANALYZE)",
            Backend::Sqlite => "ANALYZE",
        };
        sqlx::raw_sql(sql).execute(&self.pool).await?;
        Ok(())
    }

    /// For `/readyz`: the database answers and every shipped migration is applied.
    pub async fn readiness(&self) -> Result<bool> {
        let applied: Vec<(i64,)> =
            sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success = $1")
                .bind(true)
                .fetch_all(&self.pool)
                .await?;
        Ok(self
            .migrator()
            .iter()
            .all(|m| applied.iter().any(|(v,)| *v == m.version)))
    }

    async fn lock_writes(&self) -> Option<OwnedMutexGuard<()>> {
        match &self.write_gate {
            Some(gate) => Some(gate.clone().lock_owned().await),
            None => None,
        }
    }

    pub async fn begin_write(&self) -> Result<WriteTx> {
        let gate = self.lock_writes().await;
        let tx = self.pool.begin().await?;
        Ok(WriteTx {
            tx,
            _gate: gate,
            journal: self.journal.clone(),
        })
    }

    /// A write transaction for the pipeline. On SQLite with
    /// `sqlite_synchronous = "full"` its commit does not wait for fsync: the
    /// appeals it processes were made durable when they were accepted, a
    /// power cut can at worst undo the last moments of processing (those
    /// appeals are pending again and are processed again), and the next
    /// commit of any other writer (intake, the outboxes before they send)
    /// syncs the shared log and everything in it.
    ///
    /// On PostgreSQL the transaction plans without bitmap scans: the batch's
    /// key lookup asks whether a key is crowded (carried by more than a cap
    /// of clients) and must stop after `cap + 1` index entries, but the
    /// planner, expecting a dozen, reads all of a common name's tens of
    /// thousands into a bitmap first (measured: 1.5 s against 8 ms for 250
    /// keys on a 200,000-client base).
    pub async fn begin_processing(&self) -> Result<WriteTx> {
        let gate = self.lock_writes().await;
        let mut tx = self
            .processing_pool
            .as_ref()
            .unwrap_or(&self.pool)
            .begin()
            .await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SET LOCAL enable_bitmapscan = off")
                .execute(&mut *tx)
                .await?;
        }
        Ok(WriteTx {
            tx,
            _gate: gate,
            journal: self.journal.clone(),
        })
    }

    /// Changes whenever events may have been journaled. On PostgreSQL the
    /// first call starts listening for other instances' commits.
    pub async fn journal_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        if self.backend == Backend::Postgres {
            let journal = self.journal.clone();
            self.journal
                .listening
                .get_or_init(|| async move {
                    tokio::spawn(listen_for_events(journal));
                })
                .await;
        }
        self.journal.changed.subscribe()
    }

    /// Row locks where the engine has them; SQLite's single writer (under the
    /// write gate) already serialises.
    pub fn for_update(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }

    /// `FOR UPDATE SKIP LOCKED` where the engine has row locks; SQLite has a
    /// single writer, so a plain select under the write gate is equivalent.
    fn skip_locked(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }

    pub async fn close(&self) {
        if let Some(p) = &self.processing_pool {
            p.close().await;
        }
        self.pool.close().await;
    }
}

/// Tells other instances that this one committed, with a NOTIFY outside the
/// committing transactions: a NOTIFY inside one takes a database-wide lock
/// held through its commit, which would serialise every commit again (see
/// migrations/postgres/0019_event_horizon.sql). One notification covers all
/// commits of the last few milliseconds; it need not be durable.
async fn announce_commits(journal: std::sync::Weak<Journal>) {
    use sqlx::Connection;
    let (url, mut committed) = match journal.upgrade() {
        Some(j) => (j.url.clone(), j.committed.subscribe()),
        None => return,
    };
    drop(journal);
    let mut conn: Option<sqlx::PgConnection> = None;
    while committed.changed().await.is_ok() {
        tokio::time::sleep(Duration::from_millis(10)).await;
        committed.mark_unchanged();
        if conn.is_none() {
            match sqlx::PgConnection::connect(&url).await {
                Ok(mut c) => {
                    match sqlx::query("SET synchronous_commit = off")
                        .execute(&mut c)
                        .await
                    {
                        Ok(_) => conn = Some(c),
                        Err(e) => tracing::warn!(error = %e, "cannot announce commits"),
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot connect to announce commits"),
            }
        }
        if let Some(c) = conn.as_mut() {
            if let Err(e) = sqlx::query("SELECT pg_notify('leadgate_events', '')")
                .execute(&mut *c)
                .await
            {
                tracing::warn!(error = %e, "cannot announce a commit");
                conn = None;
            }
        }
    }
}

/// Relays PostgreSQL's `leadgate_events` notifications (see
/// `announce_commits`) to this process's waiters; reconnects when the
/// connection drops, and wakes everyone then, as something may have been
/// missed meanwhile.
async fn listen_for_events(journal: Arc<Journal>) {
    loop {
        match sqlx::postgres::PgListener::connect(&journal.url).await {
            Ok(mut listener) => {
                if let Err(e) = listener.listen("leadgate_events").await {
                    tracing::warn!(error = %e, "cannot listen for journal notifications");
                } else {
                    journal.bump();
                    loop {
                        match listener.recv().await {
                            Ok(_) => journal.bump(),
                            Err(e) => {
                                tracing::warn!(error = %e, "journal notifications interrupted");
                                break;
                            }
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot connect to listen for journal notifications")
            }
        }
        journal.bump();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn open_pool(
    options: AnyConnectOptions,
    backend: Backend,
    settings: &DatabaseSettings,
    max_connections: u32,
    sync: SqliteSync,
) -> Result<AnyPool> {
    let busy = settings.busy_timeout_ms;
    let cache_kib = u64::from(settings.sqlite_cache_mb) * 1024;
    let pool = AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    let sync = match sync {
                        SqliteSync::Full => "FULL",
                        SqliteSync::Normal => "NORMAL",
                    };
                    conn.execute(
                        format!(
                            "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = {busy}; \
                             PRAGMA foreign_keys = ON; PRAGMA synchronous = {sync}; \
                             PRAGMA cache_size = -{cache_kib}; PRAGMA temp_store = MEMORY;"
                        )
                        .as_str(),
                    )
                    .await?;
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await?;
    Ok(pool)
}

/// Makes sure the SQLite file's folder exists and asks sqlx to create the file.
fn sqlite_url(url: &str) -> Result<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    if path != ":memory:" {
        if let Some(parent) = Path::new(path)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|e| StorageError::Location {
                path: parent.display().to_string(),
                message: e.to_string(),
            })?;
        }
    }
    Ok(match query {
        Some(q) if q.contains("mode=") => format!("sqlite://{path}?{q}"),
        Some(q) => format!("sqlite://{path}?{q}&mode=rwc"),
        None => format!("sqlite://{path}?mode=rwc"),
    })
}

/// `rows` groups of `per_row` parameters, `($1,$2),($3,$4)…` on PostgreSQL
/// and `(?,?),(?,?)…` on SQLite: SQLite looks each named parameter up in a
/// list, so binding n named parameters costs O(n²), which dominated bulk
/// statements; anonymous ones bind in order at no cost. Either way the
/// values are bound in the order they appear.
pub fn placeholders(backend: Backend, rows: usize, per_row: usize) -> String {
    let mut out = String::with_capacity(rows * per_row * 5);
    for r in 0..rows {
        if r > 0 {
            out.push(',');
        }
        out.push('(');
        out.push_str(&param_list(backend, r * per_row + 1, per_row));
        out.push(')');
    }
    out
}

/// `n` parameters separated by commas, the first numbered `from` (PostgreSQL).
pub fn param_list(backend: Backend, from: usize, n: usize) -> String {
    (from..from + n)
        .map(|k| param(backend, k))
        .collect::<Vec<_>>()
        .join(",")
}

/// The type of a column in [`json_rows`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    Int,
    Text,
}

/// `SELECT c0, c1, … FROM <rows>`: many rows passed as ONE parameter, a JSON
/// array of arrays (see [`json_param`]), unpacked by the engine. The
/// statement's text is the same for any number of rows, so each engine
/// prepares it once per connection and reuses it (a `VALUES` list has a
/// new text for every row count: a parse and a plan each time, and on
/// PostgreSQL an extra round trip to prepare it). The rows come out in
/// their order in the array, and a `WHERE` is there for SQLite, whose
/// parser needs one before `ON CONFLICT` in `INSERT … SELECT`.
pub fn json_rows(backend: Backend, columns: &[Col]) -> String {
    let exprs = columns
        .iter()
        .enumerate()
        .map(|(k, col)| match (backend, col) {
            (Backend::Postgres, Col::Int) => format!("(r.value->>{k})::BIGINT"),
            (Backend::Postgres, Col::Text) => format!("(r.value->>{k})"),
            (Backend::Sqlite, Col::Int) => {
                format!("CAST(json_extract(r.value, '$[{k}]') AS INTEGER)")
            }
            (Backend::Sqlite, Col::Text) => format!("json_extract(r.value, '$[{k}]')"),
        })
        .collect::<Vec<_>>()
        .join(", ");
    match backend {
        Backend::Postgres => format!(
            "SELECT {exprs} FROM json_array_elements(CAST($1 AS JSON)) WITH ORDINALITY AS r(value, n) \
             WHERE TRUE ORDER BY r.n"
        ),
        Backend::Sqlite => {
            format!("SELECT {exprs} FROM json_each(?) AS r WHERE 1 = 1 ORDER BY r.key")
        }
    }
}

/// The parameter of [`json_rows`]: each row a JSON array in column order.
pub fn json_param(rows: impl IntoIterator<Item = serde_json::Value>) -> String {
    let rows: Vec<serde_json::Value> = rows.into_iter().collect();
    serde_json::to_string(&rows).unwrap_or_else(|_| "[]".into())
}

/// [`json_param`] for rows that serialise as JSON arrays (tuples), written
/// straight to text: a bulk write builds no `Value` tree per row, which
/// cost more allocations than the rows themselves.
pub fn json_tuples<T: serde::Serialize>(rows: impl IntoIterator<Item = T>) -> String {
    let mut out: Vec<u8> = Vec::with_capacity(4096);
    out.push(b'[');
    for (i, row) in rows.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if serde_json::to_writer(&mut out, &row).is_err() {
            return "[]".into();
        }
    }
    out.push(b']');
    String::from_utf8(out).unwrap_or_else(|_| "[]".into())
}

/// One parameter: `?` on SQLite (bound in order of appearance), `$k` on PostgreSQL.
pub fn param(backend: Backend, k: usize) -> String {
    match backend {
        Backend::Sqlite => "?".to_string(),
        Backend::Postgres => format!("${k}"),
    }
}

pub fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub fn from_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

pub fn now_ms() -> i64 {
    to_ms(Utc::now())
}
