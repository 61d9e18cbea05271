//! Many rows per statement. The pipeline gathers the writes of a whole batch
//! that nothing in the batch reads back (contact points, feed entries, tasks,
//! finished appeals) and writes them here at the end, so that a batch costs a
//! few round trips per table instead of a few per appeal.

use std::collections::HashMap;

use sqlx::{AnyConnection, Row};

use serde_json::json;

use super::appeals::Json;
use super::{json_param, json_rows, Backend, Col::Int, Col::Text, Result, Store};
use leadgate_domain::appeal::{AppealStatus, ContactKey, ContactKind};
use leadgate_domain::client::ClientKind;
use leadgate_domain::decision::AppealDecision;

/// Rows per statement: one JSON parameter each ([`json_rows`]); the cap
/// only bounds the size of one parameter.
const MAX_JSON_ROWS: usize = 5_000;

/// A contact point for a client (and the contact person it belongs to).
#[derive(Debug, Clone)]
pub struct PointRow {
    pub client_id: i64,
    pub person_id: Option<i64>,
    pub key: ContactKey,
}

/// A feed entry, with the time it happened (not the time it is written).
#[derive(Debug, Clone)]
pub struct FeedRow {
    pub interest_id: i64,
    pub at_ms: i64,
    pub kind: String,
    pub actor: Option<String>,
    pub summary: String,
    pub data: serde_json::Value,
    pub appeal_id: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct TaskRow {
    pub interest_id: i64,
    pub title: String,
    pub assignee: Option<String>,
    pub due_at_ms: Option<i64>,
    pub reminder_at_ms: Option<i64>,
    pub purpose: Option<String>,
    pub cause_key: String,
    pub created_at_ms: i64,
}

/// An appeal's processing result.
#[derive(Debug, Clone)]
pub struct FinishedRow {
    pub appeal_id: i64,
    pub status: AppealStatus,
    pub client_id: Option<i64>,
    pub interest_id: Option<i64>,
    pub decision: AppealDecision,
    pub processed_at_ms: i64,
}

/// One row per (client, kind, value), the client's own when two persons of
/// the client carry it; one statement may not touch a row twice.
fn shared_points_to_client(rows: &[PointRow]) -> Vec<PointRow> {
    let mut out: Vec<PointRow> = Vec::with_capacity(rows.len());
    let mut at: std::collections::HashMap<(i64, ContactKind, &str), usize> =
        std::collections::HashMap::with_capacity(rows.len());
    for r in rows {
        match at.get(&(r.client_id, r.key.kind, r.key.value.as_str())) {
            Some(&i) => {
                if out[i].person_id != r.person_id {
                    out[i].person_id = None;
                }
            }
            None => {
                at.insert((r.client_id, r.key.kind, r.key.value.as_str()), out.len());
                out.push(r.clone());
            }
        }
    }
    out
}

impl Store {
    /// Adds the points their clients do not have yet; returns how many rows
    /// were written. A point another person of the client already has
    /// becomes the client's own (`person_id` NULL): an office line or a
    /// shared mailbox, not one person's.
    pub async fn insert_contact_points(
        &self,
        conn: &mut AnyConnection,
        rows: &[PointRow],
        now_ms: i64,
    ) -> Result<u64> {
        let rows = shared_points_to_client(rows);
        let mut added = 0;
        for chunk in rows.chunks(MAX_JSON_ROWS) {
            let sql = format!(
                "INSERT INTO contact_points (client_id, person_id, kind, value, raw, created_at) {} \
                 ON CONFLICT (client_id, kind, value) DO UPDATE SET person_id = NULL \
                 WHERE contact_points.person_id IS NOT NULL \
                 AND (excluded.person_id IS NULL OR excluded.person_id <> contact_points.person_id)",
                json_rows(self.backend, &[Int, Int, Text, Text, Text, Int])
            );
            let data = json_param(chunk.iter().map(|r| {
                json!([
                    r.client_id,
                    r.person_id,
                    r.key.kind.as_str(),
                    r.key.value,
                    r.key.raw,
                    now_ms
                ])
            }));
            added += sqlx::query(&sql)
                .bind(data)
                .execute(&mut *conn)
                .await?
                .rows_affected();
        }
        Ok(added)
    }

    pub async fn insert_feed_entries(
        &self,
        conn: &mut AnyConnection,
        rows: &[FeedRow],
    ) -> Result<()> {
        for chunk in rows.chunks(MAX_JSON_ROWS) {
            let sql = format!(
                "INSERT INTO feed_entries (interest_id, at, kind, actor, summary, data, appeal_id) {}",
                json_rows(self.backend, &[Int, Int, Text, Text, Text, Text, Int])
            );
            let data = json_param(chunk.iter().map(|r| {
                json!([
                    r.interest_id,
                    r.at_ms,
                    r.kind,
                    r.actor,
                    r.summary,
                    r.data.to_json(),
                    r.appeal_id
                ])
            }));
            sqlx::query(&sql).bind(data).execute(&mut *conn).await?;
        }
        Ok(())
    }

    /// Inserts the tasks whose cause made none yet; returns the new tasks'
    /// ids by cause key.
    pub async fn insert_tasks(
        &self,
        conn: &mut AnyConnection,
        rows: &[TaskRow],
    ) -> Result<HashMap<String, i64>> {
        let mut ids = HashMap::with_capacity(rows.len());
        for chunk in rows.chunks(MAX_JSON_ROWS) {
            let sql = format!(
                "INSERT INTO tasks (interest_id, title, assignee_login, due_at, reminder_at, purpose, \
                 cause_key, created_at, status) {} \
                 ON CONFLICT (cause_key) DO NOTHING RETURNING id, cause_key",
                json_rows(self.backend, &[Int, Text, Text, Int, Int, Text, Text, Int, Text])
            );
            let data = json_param(chunk.iter().map(|r| {
                json!([
                    r.interest_id,
                    r.title,
                    r.assignee,
                    r.due_at_ms,
                    r.reminder_at_ms,
                    r.purpose,
                    r.cause_key,
                    r.created_at_ms,
                    "open"
                ])
            }));
            for row in sqlx::query(&sql).bind(data).fetch_all(&mut *conn).await? {
                ids.insert(row.try_get("cause_key")?, row.try_get("id")?);
            }
        }
        Ok(ids)
    }

    /// Records the result of each appeal: status, client, interest, decision.
    ///
    /// A helper adding rows that must commit with these results (an event
    /// journal, say) adds its insert next to this call in
    /// `Deferred::flush`, inside the same transaction.
    pub async fn finish_appeals(
        &self,
        conn: &mut AnyConnection,
        rows: &[FinishedRow],
    ) -> Result<()> {
        for chunk in rows.chunks(MAX_JSON_ROWS) {
            // A CTE names the columns the same way on both engines.
            let sql = format!(
                "WITH done (id, status, client_id, interest_id, decision, processed_at) AS ({}) \
                 UPDATE appeals SET status = done.status, client_id = done.client_id, \
                 interest_id = done.interest_id, decision = done.decision, \
                 processed_at = done.processed_at, last_error = NULL, \
                 responsible_login = (SELECT i.responsible_login FROM interests i WHERE i.id = done.interest_id) \
                 FROM done WHERE appeals.id = done.id",
                json_rows(self.backend, &[Int, Text, Int, Int, Text, Int])
            );
            let data = json_param(chunk.iter().map(|r| {
                json!([
                    r.appeal_id,
                    r.status.as_str(),
                    r.client_id,
                    r.interest_id,
                    super::appeals::encode_decision(&r.decision),
                    r.processed_at_ms
                ])
            }));
            sqlx::query(&sql).bind(data).execute(&mut *conn).await?;
        }
        Ok(())
    }

    /// Sets a shared counter (after the batch took values from it in memory).
    pub async fn set_counter(
        &self,
        conn: &mut AnyConnection,
        name: &str,
        value: i64,
    ) -> Result<()> {
        sqlx::query("UPDATE counters SET value = $1 WHERE name = $2")
            .bind(value)
            .bind(name)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}

/// Tables whose rows the pipeline creates with ids it reserved beforehand,
/// so that the rows can wait for the end of the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdTable {
    Clients,
    ContactPersons,
    Interests,
}

impl IdTable {
    fn name(self) -> &'static str {
        match self {
            IdTable::Clients => "clients",
            IdTable::ContactPersons => "contact_persons",
            IdTable::Interests => "interests",
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewClientRow {
    pub id: i64,
    pub kind: ClientKind,
    pub name: String,
    pub responsible: Option<String>,
    /// A checksum-valid ИНН the appeal named.
    pub inn: Option<String>,
    pub at_ms: i64,
}

#[derive(Debug, Clone)]
pub struct NewPersonRow {
    pub id: i64,
    pub client_id: i64,
    pub name: String,
    pub at_ms: i64,
}

#[derive(Debug, Clone)]
pub struct NewInterestRow {
    pub id: i64,
    pub client_id: i64,
    pub person_id: Option<i64>,
    pub scenario: String,
    pub stage: String,
    pub responsible: Option<String>,
    pub channel: String,
    pub source: String,
    pub utm_source: Option<String>,
    pub utm_campaign: Option<String>,
    pub at_ms: i64,
}

impl Store {
    /// `n` fresh ids of `table`, taken from its sequence in the caller's
    /// transaction: nobody else gets them, and the rows may be inserted
    /// later with them. Ids not used are a gap, as after a rollback.
    pub async fn reserve_ids(
        &self,
        conn: &mut AnyConnection,
        table: IdTable,
        n: usize,
    ) -> Result<Vec<i64>> {
        let n = i64::try_from(n.max(1)).unwrap_or(1);
        let name = table.name();
        match self.backend {
            Backend::Sqlite => {
                // AUTOINCREMENT keeps the largest id ever given in
                // sqlite_sequence; moving it on reserves the ids in between.
                let bump = format!(
                    "UPDATE sqlite_sequence SET seq = MAX(seq, (SELECT COALESCE(MAX(id), 0) FROM {name})) + ? \
                     WHERE name = '{name}' RETURNING seq"
                );
                let mut top: Option<(i64,)> = sqlx::query_as(&bump)
                    .bind(n)
                    .fetch_optional(&mut *conn)
                    .await?;
                if top.is_none() {
                    // The table never had a row.
                    sqlx::query(&format!(
                        "INSERT INTO sqlite_sequence (name, seq) VALUES ('{name}', 0)"
                    ))
                    .execute(&mut *conn)
                    .await?;
                    top = sqlx::query_as(&bump)
                        .bind(n)
                        .fetch_optional(&mut *conn)
                        .await?;
                }
                let (top,) = top.ok_or(super::StorageError::Corrupt(format!(
                    "no sequence for {name}"
                )))?;
                Ok((top - n + 1..=top).collect())
            }
            Backend::Postgres => {
                let rows: Vec<(i64,)> = sqlx::query_as(&format!(
                    "SELECT nextval(pg_get_serial_sequence('{name}', 'id')) FROM generate_series(1, $1)"
                ))
                .bind(n)
                .fetch_all(&mut *conn)
                .await?;
                Ok(rows.into_iter().map(|(id,)| id).collect())
            }
        }
    }

    /// Clients created in a batch, with their reserved ids.
    /// Gives back the unused tail `first..=top` of a reservation, if nothing
    /// was taken after it. Only SQLite can: a PostgreSQL sequence is shared
    /// with other instances, and its gaps are normal there.
    pub async fn release_ids(
        &self,
        conn: &mut AnyConnection,
        table: IdTable,
        first: i64,
        top: i64,
    ) -> Result<()> {
        if self.backend != Backend::Sqlite {
            return Ok(());
        }
        sqlx::query(&format!(
            "UPDATE sqlite_sequence SET seq = ? WHERE name = '{}' AND seq = ?",
            table.name()
        ))
        .bind(first - 1)
        .bind(top)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    pub async fn insert_new_clients(
        &self,
        conn: &mut AnyConnection,
        rows: &[NewClientRow],
    ) -> Result<()> {
        for chunk in rows.chunks(MAX_JSON_ROWS) {
            let sql = format!(
                "INSERT INTO clients (id, kind, name, responsible_login, inn, created_at, updated_at) {}",
                json_rows(self.backend, &[Int, Text, Text, Text, Text, Int, Int])
            );
            let data = json_param(chunk.iter().map(|r| {
                json!([
                    r.id,
                    r.kind.as_str(),
                    r.name,
                    r.responsible,
                    r.inn,
                    r.at_ms,
                    r.at_ms
                ])
            }));
            sqlx::query(&sql).bind(data).execute(&mut *conn).await?;
        }
        Ok(())
    }

    /// Contact persons of clients created in a batch.
    pub async fn insert_new_persons(
        &self,
        conn: &mut AnyConnection,
        rows: &[NewPersonRow],
    ) -> Result<()> {
        for chunk in rows.chunks(MAX_JSON_ROWS) {
            let sql = format!(
                "INSERT INTO contact_persons (id, client_id, name, created_at) {}",
                json_rows(self.backend, &[Int, Int, Text, Int])
            );
            let data = json_param(
                chunk
                    .iter()
                    .map(|r| json!([r.id, r.client_id, r.name, r.at_ms])),
            );
            sqlx::query(&sql).bind(data).execute(&mut *conn).await?;
        }
        Ok(())
    }

    /// Interests created in a batch, open, in their first stage (with the
    /// stage entry the funnel counts).
    pub async fn insert_new_interests(
        &self,
        conn: &mut AnyConnection,
        rows: &[NewInterestRow],
    ) -> Result<()> {
        for chunk in rows.chunks(MAX_JSON_ROWS) {
            let sql = format!(
                "INSERT INTO interests (id, client_id, person_id, scenario, stage, status, \
                 responsible_login, channel, source, utm_source, utm_campaign, created_at, updated_at) {}",
                json_rows(
                    self.backend,
                    &[Int, Int, Int, Text, Text, Text, Text, Text, Text, Text, Text, Int, Int]
                )
            );
            let data = json_param(chunk.iter().map(|r| {
                json!([
                    r.id,
                    r.client_id,
                    r.person_id,
                    r.scenario,
                    r.stage,
                    "open",
                    r.responsible,
                    r.channel,
                    r.source,
                    r.utm_source,
                    r.utm_campaign,
                    r.at_ms,
                    r.at_ms
                ])
            }));
            sqlx::query(&sql).bind(data).execute(&mut *conn).await?;
        }
        for chunk in rows.chunks(MAX_JSON_ROWS) {
            let sql = format!(
                "INSERT INTO stage_entries (interest_id, scenario, stage, entered_at, \
                 responsible_login, channel, source, utm_source, utm_campaign) {}",
                json_rows(
                    self.backend,
                    &[Int, Text, Text, Int, Text, Text, Text, Text, Text]
                )
            );
            let data = json_param(chunk.iter().map(|r| {
                json!([
                    r.id,
                    r.scenario,
                    r.stage,
                    r.at_ms,
                    r.responsible,
                    r.channel,
                    r.source,
                    r.utm_source,
                    r.utm_campaign
                ])
            }));
            sqlx::query(&sql).bind(data).execute(&mut *conn).await?;
        }
        Ok(())
    }
}
