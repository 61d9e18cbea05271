//! Many rows per statement. The pipeline gathers the writes of a whole batch
//! that nothing in the batch reads back (contact points, feed entries, tasks,
//! finished appeals) and writes them here at the end, so that a batch costs a
//! few round trips per table instead of a few per appeal.

use std::collections::HashMap;

use sqlx::{AnyConnection, Row};

use super::appeals::Json;
use super::{param, placeholders, Backend, Result, Store};
use leadgate_domain::appeal::{AppealStatus, ContactKey};
use leadgate_domain::client::ClientKind;
use leadgate_domain::decision::AppealDecision;

/// Parameters per statement stay well below SQLite's limit (32,766) and
/// PostgreSQL's (65,535); rows per statement are capped for plan size.
const MAX_PARAMS: usize = 30_000;
const MAX_ROWS: usize = 500;

fn chunk_rows(columns: usize) -> usize {
    (MAX_PARAMS / columns).clamp(1, MAX_ROWS)
}

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

impl Store {
    /// Adds the points their clients do not have yet; returns how many were new.
    pub async fn insert_contact_points(
        &self,
        conn: &mut AnyConnection,
        rows: &[PointRow],
        now_ms: i64,
    ) -> Result<u64> {
        let mut added = 0;
        for chunk in rows.chunks(chunk_rows(6)) {
            let sql = format!(
                "INSERT INTO contact_points (client_id, person_id, kind, value, raw, created_at) VALUES {} \
                 ON CONFLICT (client_id, kind, value) DO NOTHING",
                placeholders(self.backend, chunk.len(), 6)
            );
            let mut q = sqlx::query(&sql);
            for r in chunk {
                q = q
                    .bind(r.client_id)
                    .bind(r.person_id)
                    .bind(r.key.kind.as_str())
                    .bind(&r.key.value)
                    .bind(&r.key.raw)
                    .bind(now_ms);
            }
            added += q.execute(&mut *conn).await?.rows_affected();
        }
        Ok(added)
    }

    pub async fn insert_feed_entries(
        &self,
        conn: &mut AnyConnection,
        rows: &[FeedRow],
    ) -> Result<()> {
        for chunk in rows.chunks(chunk_rows(7)) {
            let sql = format!(
                "INSERT INTO feed_entries (interest_id, at, kind, actor, summary, data, appeal_id) VALUES {}",
                placeholders(self.backend, chunk.len(), 7)
            );
            let mut q = sqlx::query(&sql);
            for r in chunk {
                q = q
                    .bind(r.interest_id)
                    .bind(r.at_ms)
                    .bind(r.kind.as_str())
                    .bind(r.actor.as_deref())
                    .bind(&r.summary)
                    .bind(r.data.to_json())
                    .bind(r.appeal_id);
            }
            q.execute(&mut *conn).await?;
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
        for chunk in rows.chunks(chunk_rows(9)) {
            let sql = format!(
                "INSERT INTO tasks (interest_id, title, assignee_login, due_at, reminder_at, purpose, \
                 cause_key, created_at, status) VALUES {} \
                 ON CONFLICT (cause_key) DO NOTHING RETURNING id, cause_key",
                placeholders(self.backend, chunk.len(), 9)
            );
            let mut q = sqlx::query(&sql);
            for r in chunk {
                q = q
                    .bind(r.interest_id)
                    .bind(&r.title)
                    .bind(r.assignee.as_deref())
                    .bind(r.due_at_ms)
                    .bind(r.reminder_at_ms)
                    .bind(r.purpose.as_deref())
                    .bind(&r.cause_key)
                    .bind(r.created_at_ms)
                    .bind("open");
            }
            for row in q.fetch_all(&mut *conn).await? {
                ids.insert(row.try_get("cause_key")?, row.try_get("id")?);
            }
        }
        Ok(ids)
    }

    /// Records the result of each appeal: status, client, interest, decision.
    pub async fn finish_appeals(
        &self,
        conn: &mut AnyConnection,
        rows: &[FinishedRow],
    ) -> Result<()> {
        for chunk in rows.chunks(chunk_rows(6)) {
            // A CTE names the VALUES columns the same way on both engines.
            let values = (0..chunk.len())
                .map(|i| {
                    let p = |k: usize| param(self.backend, 6 * i + k);
                    format!(
                        "(CAST({} AS BIGINT), {}, CAST({} AS BIGINT), CAST({} AS BIGINT), {}, CAST({} AS BIGINT))",
                        p(1), p(2), p(3), p(4), p(5), p(6)
                    )
                })
                .collect::<Vec<_>>()
                .join(",");
            let sql = format!(
                "WITH done (id, status, client_id, interest_id, decision, processed_at) AS (VALUES {values}) \
                 UPDATE appeals SET status = done.status, client_id = done.client_id, \
                 interest_id = done.interest_id, decision = done.decision, \
                 processed_at = done.processed_at, last_error = NULL, \
                 responsible_login = (SELECT i.responsible_login FROM interests i WHERE i.id = done.interest_id) \
                 FROM done WHERE appeals.id = done.id"
            );
            let mut q = sqlx::query(&sql);
            for r in chunk {
                q = q
                    .bind(r.appeal_id)
                    .bind(r.status.as_str())
                    .bind(r.client_id)
                    .bind(r.interest_id)
                    .bind(super::appeals::encode_decision(&r.decision))
                    .bind(r.processed_at_ms);
            }
            q.execute(&mut *conn).await?;
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
        for chunk in rows.chunks(chunk_rows(6)) {
            let sql = format!(
                "INSERT INTO clients (id, kind, name, responsible_login, created_at, updated_at) VALUES {}",
                placeholders(self.backend, chunk.len(), 6)
            );
            let mut q = sqlx::query(&sql);
            for r in chunk {
                q = q
                    .bind(r.id)
                    .bind(r.kind.as_str())
                    .bind(&r.name)
                    .bind(r.responsible.as_deref())
                    .bind(r.at_ms)
                    .bind(r.at_ms);
            }
            q.execute(&mut *conn).await?;
        }
        Ok(())
    }

    /// Contact persons of clients created in a batch.
    pub async fn insert_new_persons(
        &self,
        conn: &mut AnyConnection,
        rows: &[NewPersonRow],
    ) -> Result<()> {
        for chunk in rows.chunks(chunk_rows(4)) {
            let sql = format!(
                "INSERT INTO contact_persons (id, client_id, name, created_at) VALUES {}",
                placeholders(self.backend, chunk.len(), 4)
            );
            let mut q = sqlx::query(&sql);
            for r in chunk {
                q = q.bind(r.id).bind(r.client_id).bind(&r.name).bind(r.at_ms);
            }
            q.execute(&mut *conn).await?;
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
        for chunk in rows.chunks(chunk_rows(13)) {
            let sql = format!(
                "INSERT INTO interests (id, client_id, person_id, scenario, stage, status, \
                 responsible_login, channel, source, utm_source, utm_campaign, created_at, updated_at) VALUES {}",
                placeholders(self.backend, chunk.len(), 13)
            );
            let mut q = sqlx::query(&sql);
            for r in chunk {
                q = q
                    .bind(r.id)
                    .bind(r.client_id)
                    .bind(r.person_id)
                    .bind(&r.scenario)
                    .bind(&r.stage)
                    .bind("open")
                    .bind(r.responsible.as_deref())
                    .bind(&r.channel)
                    .bind(&r.source)
                    .bind(r.utm_source.as_deref())
                    .bind(r.utm_campaign.as_deref())
                    .bind(r.at_ms)
                    .bind(r.at_ms);
            }
            q.execute(&mut *conn).await?;
        }
        for chunk in rows.chunks(chunk_rows(9)) {
            let sql = format!(
                "INSERT INTO stage_entries (interest_id, scenario, stage, entered_at, \
                 responsible_login, channel, source, utm_source, utm_campaign) VALUES {}",
                placeholders(self.backend, chunk.len(), 9)
            );
            let mut q = sqlx::query(&sql);
            for r in chunk {
                q = q
                    .bind(r.id)
                    .bind(&r.scenario)
                    .bind(&r.stage)
                    .bind(r.at_ms)
                    .bind(r.responsible.as_deref())
                    .bind(&r.channel)
                    .bind(&r.source)
                    .bind(r.utm_source.as_deref())
                    .bind(r.utm_campaign.as_deref());
            }
            q.execute(&mut *conn).await?;
        }
        Ok(())
    }
}
