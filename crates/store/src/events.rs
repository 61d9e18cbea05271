//! The outbound event journal and the webhook endpoints' delivery state.
//!
//! Events are written in the transaction of the change they record
//! ([`Store::append_events`]). Their `id` is the change feed's position and
//! is exposed in increasing order on both engines: on SQLite because there
//! is one writer at a time, on PostgreSQL because readers see only ids up to
//! a settled horizon ([`Store::event_horizon`]).

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{from_ms, now_ms, placeholders, to_ms, Backend, Result, StorageError, Store};
use leadgate_domain::event::{journal_enabled, Event, EventType, NewEvent};

/// The counter (in `counters`) holding the largest id retention deleted.
const PRUNED_THROUGH: &str = "events_pruned_through";

/// Where a webhook endpoint stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EndpointState {
    pub name: String,
    /// Every event up to this id is handled (delivered, failed or not wanted).
    pub position: i64,
    pub lease_holder: Option<String>,
    pub lease_until_ms: Option<i64>,
    /// The event being retried, if a delivery failed and waits.
    pub retry_event: Option<i64>,
    pub attempts: i64,
    pub first_attempt_at_ms: Option<i64>,
    pub next_attempt_at_ms: Option<i64>,
    pub last_attempt_at_ms: Option<i64>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub last_success_at_ms: Option<i64>,
    pub delivered: i64,
    pub failed: i64,
    pub disabled_at_ms: Option<i64>,
    pub disabled_reason: Option<String>,
}

/// A delivery given up after the retry window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookFailure {
    pub id: i64,
    pub endpoint: String,
    pub event_id: i64,
    pub attempts: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub failed_at_ms: i64,
    pub replayed_at_ms: Option<i64>,
}

/// The result of one failed attempt, as the endpoint's row keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedAttempt<'a> {
    pub event_id: i64,
    pub attempts: i64,
    pub first_attempt_at_ms: i64,
    pub next_attempt_at_ms: i64,
    pub status: Option<i64>,
    pub error: &'a str,
}

const ENDPOINT_COLUMNS: &str = "name, position, lease_holder, lease_until, retry_event, attempts, \
     first_attempt_at, next_attempt_at, last_attempt_at, last_status, last_error, last_success_at, \
     delivered, failed, disabled_at, disabled_reason";

fn endpoint_from_row(r: &AnyRow) -> Result<EndpointState> {
    Ok(EndpointState {
        name: r.try_get("name")?,
        position: r.try_get("position")?,
        lease_holder: r.try_get("lease_holder")?,
        lease_until_ms: r.try_get("lease_until")?,
        retry_event: r.try_get("retry_event")?,
        attempts: int(r, "attempts")?,
        first_attempt_at_ms: r.try_get("first_attempt_at")?,
        next_attempt_at_ms: r.try_get("next_attempt_at")?,
        last_attempt_at_ms: r.try_get("last_attempt_at")?,
        last_status: opt_int(r, "last_status")?,
        last_error: r.try_get("last_error")?,
        last_success_at_ms: r.try_get("last_success_at")?,
        delivered: r.try_get("delivered")?,
        failed: r.try_get("failed")?,
        disabled_at_ms: r.try_get("disabled_at")?,
        disabled_reason: r.try_get("disabled_reason")?,
    })
}

/// INTEGER columns come back as i32 on PostgreSQL and i64 on SQLite.
fn int(r: &AnyRow, col: &str) -> Result<i64> {
    Ok(opt_int(r, col)?.unwrap_or(0))
}

fn opt_int(r: &AnyRow, col: &str) -> Result<Option<i64>> {
    match r.try_get::<Option<i64>, _>(col) {
        Ok(v) => Ok(v),
        Err(_) => Ok(r.try_get::<Option<i32>, _>(col)?.map(i64::from)),
    }
}

fn event_from_row(r: &AnyRow) -> Result<Event> {
    let kind: String = r.try_get("type")?;
    let data: String = r.try_get("data")?;
    Ok(Event {
        id: r.try_get("id")?,
        kind: EventType::parse(&kind)
            .ok_or_else(|| StorageError::Corrupt(format!("event type {kind}")))?,
        timestamp: from_ms(r.try_get("at")?),
        data: serde_json::value::RawValue::from_string(data)
            .map_err(|_| StorageError::Corrupt("event data".into()))?,
    })
}

/// How far the PostgreSQL journal is settled: every id up to `settled` is
/// committed (and visible) or will never be.
#[derive(Debug, Default)]
pub(crate) struct Horizon {
    settled: i64,
    /// An observation waiting to settle: the last id handed out then, and
    /// the journaling transactions in flight then.
    pending: Option<(i64, Vec<String>)>,
}

/// The journaling transactions in flight: those holding the shared lock
/// `next_event_id()` takes (migrations/postgres/0019_event_horizon.sql).
const IN_FLIGHT: &str = "SELECT virtualtransaction FROM pg_locks \
     WHERE locktype = 'advisory' AND classid = 724306 AND objid = 19 AND objsubid = 2 \
     AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";

/// Journals a few events with numbered parameters (where no store is at hand).
pub(crate) async fn append(conn: &mut AnyConnection, events: &[NewEvent]) -> Result<()> {
    if !journal_enabled() {
        return Ok(());
    }
    for e in events {
        sqlx::query("INSERT INTO events (type, at, data) VALUES ($1, $2, $3)")
            .bind(e.kind.as_str())
            .bind(to_ms(e.at))
            .bind(e.data.to_string())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

impl Store {
    /// Journals `events` in the caller's transaction, many rows per statement.
    pub async fn append_events(&self, conn: &mut AnyConnection, events: &[NewEvent]) -> Result<()> {
        if !journal_enabled() {
            return Ok(());
        }
        if events.len() == 1 {
            return append(conn, events).await;
        }
        for chunk in events.chunks(500) {
            let sql = format!(
                "INSERT INTO events (type, at, data) VALUES {}",
                placeholders(self.backend, chunk.len(), 3)
            );
            let mut q = sqlx::query(&sql);
            for e in chunk {
                q = q
                    .bind(e.kind.as_str())
                    .bind(to_ms(e.at))
                    .bind(e.data.to_string());
            }
            q.execute(&mut *conn).await?;
        }
        Ok(())
    }

    /// The largest id readers may go up to: on PostgreSQL ids are taken at
    /// insert and commit in any order, so an id is exposed only once every
    /// transaction that might hold a smaller one has ended.
    ///
    /// An observation reads the last id handed out, L, and then the
    /// journaling transactions in flight. A transaction takes its lock
    /// before its first id, so one holding an id ≤ L had the lock before L
    /// was read; it is therefore listed, or it had already ended, and its
    /// rows are visible (locks are released after the commit is visible).
    /// Once every listed transaction has ended, nothing at or below L can
    /// appear any more: L is settled. Each call settles the observation in
    /// hand if it can and starts the next. SQLite has one writer: no limit.
    pub async fn event_horizon(&self) -> Result<i64> {
        use std::sync::atomic::Ordering;
        if self.backend == Backend::Sqlite {
            return Ok(i64::MAX);
        }
        let mut horizon = self.journal.horizon.lock().await;
        for _ in 0..2 {
            if let Some((last, in_flight)) = &horizon.pending {
                let (still,): (i64,) = sqlx::query_as(&format!(
                    "SELECT COUNT(*) FROM ({IN_FLIGHT}) AS f WHERE virtualtransaction = ANY(string_to_array($1, ','))"
                ))
                .bind(in_flight.join(","))
                .fetch_one(&self.pool)
                .await?;
                if still > 0 {
                    break;
                }
                horizon.settled = horizon.settled.max(*last);
                horizon.pending = None;
            }
            // Two statements, in this order: the in-flight list must be
            // read after L (each statement has a snapshot of its own).
            let (last,): (i64,) = sqlx::query_as(
                "SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM event_ids",
            )
            .fetch_one(&self.pool)
            .await?;
            if last <= horizon.settled {
                break;
            }
            let in_flight: Vec<(String,)> = sqlx::query_as(IN_FLIGHT).fetch_all(&self.pool).await?;
            horizon.pending = Some((last, in_flight.into_iter().map(|(v,)| v).collect()));
        }
        self.journal
            .settling
            .store(horizon.pending.is_some(), Ordering::Relaxed);
        Ok(horizon.settled)
    }

    /// Whether ids already handed out wait for transactions in flight: a
    /// waiter then looks again soon, as an aborted transaction wakes nobody.
    pub fn journal_settling(&self) -> bool {
        self.journal
            .settling
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Up to `limit` events after `after`, in order, of the given types
    /// (all when `types` is empty).
    pub async fn events_after(
        &self,
        after: i64,
        types: &[EventType],
        limit: i64,
    ) -> Result<Vec<Event>> {
        let horizon = self.event_horizon().await?;
        if horizon <= after {
            return Ok(Vec::new());
        }
        let mut sql =
            String::from("SELECT id, type, at, data FROM events WHERE id > $1 AND id <= $3");
        if !types.is_empty() {
            let list: Vec<String> = (0..types.len()).map(|i| format!("${}", i + 4)).collect();
            sql.push_str(&format!(" AND type IN ({})", list.join(",")));
        }
        sql.push_str(" ORDER BY id LIMIT $2");
        let mut q = sqlx::query(&sql).bind(after).bind(limit).bind(horizon);
        for t in types {
            q = q.bind(t.as_str());
        }
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(event_from_row)
            .collect()
    }

    /// The id of the latest exposed event (0 when there is none).
    pub async fn last_event_id(&self) -> Result<i64> {
        let horizon = self.event_horizon().await?;
        let (id,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM events WHERE id <= $1")
            .bind(horizon)
            .fetch_one(&self.pool)
            .await?;
        Ok(id.unwrap_or(0))
    }

    /// The largest id retention has deleted (0 when none): a cursor below it
    /// may have missed events.
    pub async fn events_pruned_through(&self) -> Result<i64> {
        let row: Option<(i64,)> = sqlx::query_as("SELECT value FROM counters WHERE name = $1")
            .bind(PRUNED_THROUGH)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map_or(0, |(v,)| v))
    }

    /// Deletes events that happened before `before_ms`; returns how many.
    pub async fn prune_events(&self, before_ms: i64) -> Result<u64> {
        // Below the horizon only: an id in flight must not fall under the cut.
        let horizon = self.event_horizon().await?;
        let mut tx = self.begin_write().await?;
        let (cut,): (Option<i64>,) =
            sqlx::query_as("SELECT MAX(id) FROM events WHERE at < $1 AND id <= $2")
                .bind(before_ms)
                .bind(horizon)
                .fetch_one(tx.conn())
                .await?;
        let Some(cut) = cut else {
            tx.commit().await?;
            return Ok(0);
        };
        let deleted = sqlx::query("DELETE FROM events WHERE id <= $1")
            .bind(cut)
            .execute(tx.conn())
            .await?
            .rows_affected();
        sqlx::query(
            "INSERT INTO counters (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value \
             WHERE counters.value < excluded.value",
        )
        .bind(PRUNED_THROUGH)
        .bind(cut)
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        Ok(deleted)
    }

    /// Registers a configured endpoint (once); a new one starts after the
    /// events already journaled.
    pub async fn ensure_webhook_endpoint(&self, name: &str) -> Result<()> {
        let start = self.last_event_id().await?;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO webhook_endpoints (name, position, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(start)
        .bind(now_ms())
        .execute(tx.conn())
        .await?;
        tx.commit().await
    }

    pub async fn webhook_endpoints(&self) -> Result<Vec<EndpointState>> {
        sqlx::query(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints ORDER BY name"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(endpoint_from_row)
        .collect()
    }

    pub async fn webhook_endpoint(&self, name: &str) -> Result<Option<EndpointState>> {
        sqlx::query(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(endpoint_from_row)
        .transpose()
    }

    /// Takes or renews the endpoint's lease for `holder`; `None` when another
    /// instance holds it. Only the holder sends, so no delivery goes out
    /// from two instances at once.
    pub async fn lease_webhook(
        &self,
        name: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> Result<Option<EndpointState>> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(&format!(
            "UPDATE webhook_endpoints SET lease_holder = $1, lease_until = $2 \
             WHERE name = $3 AND (lease_holder IS NULL OR lease_holder = $1 OR lease_until < $4) \
             RETURNING {ENDPOINT_COLUMNS}"
        ))
        .bind(holder)
        .bind(now + ttl_ms)
        .bind(name)
        .bind(now)
        .fetch_optional(tx.conn())
        .await?;
        tx.commit().await?;
        row.as_ref().map(endpoint_from_row).transpose()
    }

    pub async fn release_webhook(&self, name: &str, holder: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE webhook_endpoints SET lease_holder = NULL, lease_until = NULL \
             WHERE name = $1 AND lease_holder = $2",
        )
        .bind(name)
        .bind(holder)
        .execute(tx.conn())
        .await?;
        tx.commit().await
    }

    /// Moves the endpoint on to `position` after `delivered` successes and
    /// renews the lease; `false` when `holder` lost the lease meanwhile.
    pub async fn webhook_advanced(
        &self,
        name: &str,
        holder: &str,
        position: i64,
        delivered: i64,
        ttl_ms: i64,
    ) -> Result<bool> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE webhook_endpoints SET position = $1, delivered = delivered + $2, \
             last_success_at = CASE WHEN $2 > 0 THEN $3 ELSE last_success_at END, \
             last_attempt_at = CASE WHEN $2 > 0 THEN $3 ELSE last_attempt_at END, \
             last_status = CASE WHEN $2 > 0 THEN NULL ELSE last_status END, \
             last_error = CASE WHEN $2 > 0 THEN NULL ELSE last_error END, \
             retry_event = NULL, attempts = 0, first_attempt_at = NULL, next_attempt_at = NULL, \
             lease_until = $4 \
             WHERE name = $5 AND lease_holder = $6 AND position <= $1",
        )
        .bind(position)
        .bind(delivered)
        .bind(now)
        .bind(now + ttl_ms)
        .bind(name)
        .bind(holder)
        .execute(tx.conn())
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(done == 1)
    }

    /// Records a failed attempt; the event is retried at `next_attempt_at`.
    pub async fn webhook_attempt_failed(
        &self,
        name: &str,
        holder: &str,
        attempt: &FailedAttempt<'_>,
    ) -> Result<bool> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE webhook_endpoints SET position = $1, retry_event = $2, attempts = $3, \
             first_attempt_at = $4, next_attempt_at = $5, last_attempt_at = $6, last_status = $7, \
             last_error = $8 WHERE name = $9 AND lease_holder = $10",
        )
        .bind(attempt.event_id - 1)
        .bind(attempt.event_id)
        .bind(attempt.attempts)
        .bind(attempt.first_attempt_at_ms)
        .bind(attempt.next_attempt_at_ms)
        .bind(now)
        .bind(attempt.status)
        .bind(attempt.error)
        .bind(name)
        .bind(holder)
        .execute(tx.conn())
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(done == 1)
    }

    /// Gives up on the event after its retry window: a failure row, visible
    /// and replayable, and the endpoint moves on past it.
    pub async fn webhook_gave_up(
        &self,
        name: &str,
        holder: &str,
        attempt: &FailedAttempt<'_>,
    ) -> Result<bool> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE webhook_endpoints SET position = $1, retry_event = NULL, attempts = 0, \
             first_attempt_at = NULL, next_attempt_at = NULL, last_attempt_at = $2, \
             last_status = $3, last_error = $4, failed = failed + 1 \
             WHERE name = $5 AND lease_holder = $6",
        )
        .bind(attempt.event_id)
        .bind(now)
        .bind(attempt.status)
        .bind(attempt.error)
        .bind(name)
        .bind(holder)
        .execute(tx.conn())
        .await?
        .rows_affected();
        if done == 1 {
            sqlx::query(
                "INSERT INTO webhook_failures (endpoint, event_id, attempts, last_status, last_error, failed_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(name)
            .bind(attempt.event_id)
            .bind(attempt.attempts)
            .bind(attempt.status)
            .bind(attempt.error)
            .bind(now)
            .execute(tx.conn())
            .await?;
        }
        tx.commit().await?;
        Ok(done == 1)
    }

    /// The receiver answered 410 Gone: no more deliveries until a replay.
    pub async fn disable_webhook(&self, name: &str, reason: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE webhook_endpoints SET disabled_at = $1, disabled_reason = $2, \
             last_attempt_at = $1, last_status = 410 WHERE name = $3",
        )
        .bind(now_ms())
        .bind(reason)
        .bind(name)
        .execute(tx.conn())
        .await?;
        tx.commit().await
    }

    /// Sends everything again from event `from` on (and enables a disabled
    /// endpoint); failures at or after `from` count as replayed.
    ///
    /// The lease is revoked with it: a sender in the middle of a round would
    /// otherwise save the position it reached over the replayed one (its
    /// advance only refuses to move backwards), and the replay would be
    /// lost. Its next advance is refused, and it leases again from here.
    pub async fn replay_webhook(&self, name: &str, from: i64) -> Result<bool> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE webhook_endpoints SET position = $1, retry_event = NULL, attempts = 0, \
             first_attempt_at = NULL, next_attempt_at = NULL, disabled_at = NULL, \
             disabled_reason = NULL, lease_holder = NULL, lease_until = NULL WHERE name = $2",
        )
        .bind((from - 1).max(0))
        .bind(name)
        .execute(tx.conn())
        .await?
        .rows_affected();
        sqlx::query(
            "UPDATE webhook_failures SET replayed_at = $1 \
             WHERE endpoint = $2 AND event_id >= $3 AND replayed_at IS NULL",
        )
        .bind(now)
        .bind(name)
        .bind(from)
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        Ok(done == 1)
    }

    pub async fn webhook_failures(&self, name: &str, limit: i64) -> Result<Vec<WebhookFailure>> {
        let rows = sqlx::query(
            "SELECT id, endpoint, event_id, attempts, last_status, last_error, failed_at, replayed_at \
             FROM webhook_failures WHERE endpoint = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(name)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(WebhookFailure {
                    id: r.try_get("id")?,
                    endpoint: r.try_get("endpoint")?,
                    event_id: r.try_get("event_id")?,
                    attempts: int(r, "attempts")?,
                    last_status: opt_int(r, "last_status")?,
                    last_error: r.try_get("last_error")?,
                    failed_at_ms: r.try_get("failed_at")?,
                    replayed_at_ms: r.try_get("replayed_at")?,
                })
            })
            .collect()
    }

    /// The time of the oldest event after `position` (for the lag).
    pub async fn event_time_after(&self, position: i64) -> Result<Option<i64>> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT at FROM events WHERE id > $1 ORDER BY id LIMIT 1")
                .bind(position)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(at,)| at))
    }
}
