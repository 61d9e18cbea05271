//! Telephony: call events, the call records folded from them, and what the
//! pipeline made of a call (its interest and interaction).

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::appeals::Json;
use super::{now_ms, NewFeedEntry, Result, StorageError, Store};
use leadgate_domain::call::{CallEvent, CallRecord, CallState, Direction};
use leadgate_domain::event::{EventType, NewEvent};

/// One call as stored.
#[derive(Debug, Clone)]
pub struct StoredCall {
    pub id: i64,
    pub record: CallRecord,
    pub hidden: bool,
    pub appeal_id: Option<i64>,
    pub interest_id: Option<i64>,
    pub interaction_id: Option<i64>,
}

/// A call as an interaction (see [`Store::record_call_interaction`]).
#[derive(Debug, Clone)]
pub struct CallInteraction<'a> {
    pub interest_id: i64,
    /// `in` or `out`.
    pub direction: &'a str,
    pub done_at_ms: i64,
    pub result: String,
    pub author: Option<&'a str>,
    pub recording_url: Option<&'a str>,
    pub complete_planned: bool,
}

const CALL_COLUMNS: &str = "id, record, hidden, appeal_id, interest_id, interaction_id";

fn call_from_row(row: &AnyRow) -> Result<StoredCall> {
    let record: String = row.try_get("record")?;
    Ok(StoredCall {
        id: row.try_get("id")?,
        record: serde_json::from_str(&record)
            .map_err(|e| StorageError::Corrupt(format!("call record: {e}")))?,
        hidden: row.try_get::<i64, _>("hidden")? != 0,
        appeal_id: row.try_get("appeal_id")?,
        interest_id: row.try_get("interest_id")?,
        interaction_id: row.try_get("interaction_id")?,
    })
}

pub fn state_str(state: CallState) -> &'static str {
    match state {
        CallState::Ringing => "ringing",
        CallState::Answered => "answered",
        CallState::Ended => "ended",
        CallState::Missed => "missed",
    }
}

pub fn direction_str(direction: Direction) -> &'static str {
    match direction {
        Direction::Inbound => "inbound",
        Direction::Outbound => "outbound",
        Direction::Internal => "internal",
        Direction::Unknown => "unknown",
    }
}

impl Store {
    /// Stores one call event; `false` when its key was already stored (a
    /// redelivery), in which case nothing else must change.
    pub async fn insert_call_event(
        &self,
        conn: &mut AnyConnection,
        event: &CallEvent,
    ) -> Result<bool> {
        let kind = serde_json::to_value(event.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let row: Option<(i64,)> = sqlx::query_as(
            "INSERT INTO call_events (provider, account, call_id, event_key, kind, event, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (provider, account, event_key) DO NOTHING RETURNING id",
        )
        .bind(&event.provider)
        .bind(&event.account)
        .bind(&event.call_id)
        .bind(&event.event_key)
        .bind(kind)
        .bind(event.to_json())
        .bind(now_ms())
        .fetch_optional(&mut *conn)
        .await?;
        Ok(row.is_some())
    }

    /// The call `event` belongs to, created if new, locked for the rest of
    /// the transaction so that concurrent events of one call fold one after
    /// the other.
    pub async fn lock_call(
        &self,
        conn: &mut AnyConnection,
        event: &CallEvent,
    ) -> Result<StoredCall> {
        let now = now_ms();
        let empty = CallRecord::new(&event.provider, &event.account, &event.call_id);
        sqlx::query(
            "INSERT INTO calls (provider, account, call_id, record, state, direction, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
             ON CONFLICT (provider, account, call_id) DO NOTHING",
        )
        .bind(&event.provider)
        .bind(&event.account)
        .bind(&event.call_id)
        .bind(empty.to_json())
        .bind(state_str(empty.state()))
        .bind(direction_str(empty.direction()))
        .bind(now)
        .execute(&mut *conn)
        .await?;
        let row = sqlx::query(&format!(
            "SELECT {CALL_COLUMNS} FROM calls WHERE provider = $1 AND account = $2 AND call_id = $3{}",
            self.for_update()
        ))
        .bind(&event.provider)
        .bind(&event.account)
        .bind(&event.call_id)
        .fetch_one(&mut *conn)
        .await?;
        call_from_row(&row)
    }

    /// Writes the folded record back.
    pub async fn save_call(&self, conn: &mut AnyConnection, call: &StoredCall) -> Result<()> {
        let rec = &call.record;
        sqlx::query(
            "UPDATE calls SET record = $1, state = $2, direction = $3, client_number = $4, \
             hidden = $5, updated_at = $6 WHERE id = $7",
        )
        .bind(rec.to_json())
        .bind(state_str(rec.state()))
        .bind(direction_str(rec.direction()))
        .bind(rec.client_number())
        .bind(i64::from(call.hidden))
        .bind(now_ms())
        .bind(call.id)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Stores the appeal a call became, in the call's own transaction, so a
    /// crash can never keep one without the other. Same statement as intake
    /// (idempotent on source and external id).
    /// The call became this appeal (in the transaction that accepted it).
    pub async fn link_call_appeal(
        &self,
        conn: &mut AnyConnection,
        call_id: i64,
        appeal_id: i64,
    ) -> Result<()> {
        sqlx::query("UPDATE calls SET appeal_id = $1 WHERE id = $2")
            .bind(appeal_id)
            .bind(call_id)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// The call an appeal came from, locked for the pipeline's transaction.
    pub async fn call_of_appeal(
        &self,
        conn: &mut AnyConnection,
        appeal_id: i64,
    ) -> Result<Option<StoredCall>> {
        let row = sqlx::query(&format!(
            "SELECT {CALL_COLUMNS} FROM calls WHERE appeal_id = $1{}",
            self.for_update()
        ))
        .bind(appeal_id)
        .fetch_optional(&mut *conn)
        .await?;
        row.as_ref().map(call_from_row).transpose()
    }

    /// Where the pipeline put the call, so a recording arriving later finds it.
    pub async fn set_call_route(
        &self,
        conn: &mut AnyConnection,
        call_id: i64,
        interest_id: i64,
        interaction_id: Option<i64>,
    ) -> Result<()> {
        sqlx::query("UPDATE calls SET interest_id = $1, interaction_id = $2 WHERE id = $3")
            .bind(interest_id)
            .bind(interaction_id)
            .bind(call_id)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// A recording that arrived after the call was routed: its link goes onto
    /// the call's interaction and, since the feed is append-only, a feed
    /// entry says it arrived. Returns whether anything was attached.
    pub async fn attach_call_recording(
        &self,
        conn: &mut AnyConnection,
        call: &StoredCall,
        url: &str,
    ) -> Result<bool> {
        let Some(interest_id) = call.interest_id else {
            return Ok(false);
        };
        if let Some(interaction_id) = call.interaction_id {
            let updated = sqlx::query(
                "UPDATE interactions SET recording_url = $1 WHERE id = $2 \
                 AND (recording_url IS NULL OR recording_url <> $1)",
            )
            .bind(url)
            .bind(interaction_id)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if updated == 0 {
                return Ok(false);
            }
        }
        self.add_feed_entry(
            conn,
            &NewFeedEntry {
                interest_id,
                kind: "call_recording",
                actor: None,
                summary: format!("Запись разговора: {url}"),
                data: serde_json::json!({
                    "call_id": call.record.call_id(),
                    "provider": call.record.provider(),
                    "interaction_id": call.interaction_id,
                    "recording_url": url,
                }),
                appeal_id: call.appeal_id,
            },
        )
        .await?;
        Ok(true)
    }

    /// Calls that ended by their legs but never got a call-level end, quiet
    /// since `quiet_since_ms`: the settle sweep decides them.
    pub async fn unsettled_call_keys(
        &self,
        quiet_since_ms: i64,
        limit: i64,
    ) -> Result<Vec<(String, String, String)>> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT provider, account, call_id FROM calls WHERE appeal_id IS NULL AND hidden = 0 \
             AND state IN ('missed', 'ended') AND direction IN ('inbound', 'outbound') \
             AND updated_at < $1 ORDER BY updated_at LIMIT $2",
        )
        .bind(quiet_since_ms)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// The same call, locked, by its key (for the settle sweep).
    pub async fn lock_call_by_key(
        &self,
        conn: &mut AnyConnection,
        provider: &str,
        account: &str,
        call_id: &str,
    ) -> Result<Option<StoredCall>> {
        let row = sqlx::query(&format!(
            "SELECT {CALL_COLUMNS} FROM calls WHERE provider = $1 AND account = $2 AND call_id = $3{}",
            self.for_update()
        ))
        .bind(provider)
        .bind(account)
        .bind(call_id)
        .fetch_optional(&mut *conn)
        .await?;
        row.as_ref().map(call_from_row).transpose()
    }

    /// A notification we do not interpret, kept as received.
    pub async fn insert_unsupported_pbx_event(
        &self,
        provider: &str,
        endpoint: &str,
        event: &str,
        verified: bool,
        raw: &serde_json::Value,
    ) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO pbx_unsupported_events (provider, endpoint, event, verified, raw, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(provider)
        .bind(endpoint)
        .bind(event)
        .bind(i64::from(verified))
        .bind(raw.to_json())
        .bind(now_ms())
        .fetch_one(tx.conn())
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Closes the interest's open tasks of one purpose (e.g. `callback`);
    /// returns the closed tasks' ids and titles for the feed.
    pub async fn close_tasks_of_purpose(
        &self,
        conn: &mut AnyConnection,
        interest_id: i64,
        purpose: &str,
    ) -> Result<Vec<(i64, String)>> {
        let rows = sqlx::query(&format!(
            "UPDATE tasks SET status = 'done', done_at = $1, done_by = 'leadgate' \
             WHERE interest_id = $2 AND purpose = $3 AND status IN ('open', 'overdue') \
             RETURNING {}",
            super::interests::TASK_COLUMNS
        ))
        .bind(now_ms())
        .bind(interest_id)
        .bind(purpose)
        .fetch_all(&mut *conn)
        .await?;
        let mut closed = rows
            .iter()
            .map(super::interests::task_from_row)
            .collect::<Result<Vec<_>>>()?;
        closed.sort_by_key(|t| t.id);
        let events: Vec<NewEvent> = closed
            .iter()
            .map(|t| NewEvent::task(EventType::TaskCompleted, t))
            .collect();
        self.append_events(conn, &events).await?;
        let open: Vec<(i64, String)> = closed.into_iter().map(|t| (t.id, t.title)).collect();
        Ok(open)
    }

    /// A call that happened, as an interaction of the interest. An answered
    /// outgoing call completes the earliest planned call instead of adding
    /// a row, since it is the call the manager planned.
    pub async fn record_call_interaction(
        &self,
        conn: &mut AnyConnection,
        call: &CallInteraction<'_>,
    ) -> Result<i64> {
        if call.complete_planned {
            let planned: Option<(i64,)> = sqlx::query_as(
                "SELECT id FROM interactions WHERE interest_id = $1 AND kind = 'call' \
                 AND done_at IS NULL AND planned_at IS NOT NULL ORDER BY planned_at, id LIMIT 1",
            )
            .bind(call.interest_id)
            .fetch_optional(&mut *conn)
            .await?;
            if let Some((id,)) = planned {
                sqlx::query(
                    "UPDATE interactions SET direction = $1, done_at = $2, result = $3, \
                     author = COALESCE($4, author), recording_url = $5 WHERE id = $6",
                )
                .bind(call.direction)
                .bind(call.done_at_ms)
                .bind(&call.result)
                .bind(call.author)
                .bind(call.recording_url)
                .bind(id)
                .execute(&mut *conn)
                .await?;
                return Ok(id);
            }
        }
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO interactions (interest_id, kind, direction, done_at, result, author, \
             recording_url, created_at) VALUES ($1, 'call', $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(call.interest_id)
        .bind(call.direction)
        .bind(call.done_at_ms)
        .bind(&call.result)
        .bind(call.author)
        .bind(call.recording_url)
        .bind(now_ms())
        .fetch_one(&mut *conn)
        .await?;
        Ok(id)
    }
}
