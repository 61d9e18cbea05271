use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use utoipa::ToSchema;

use super::appeals::Json;
use super::{from_ms, now_ms, to_ms, Result, StorageError, Store};
use crate::interest::{FeedEntry, Interaction, Interest, InterestStatus, Task, TaskStatus};

#[derive(Debug, Clone)]
pub struct NewTask<'a> {
    pub interest_id: i64,
    pub title: &'a str,
    pub assignee: Option<&'a str>,
    pub due_at: Option<DateTime<Utc>>,
    /// What caused the task (e.g. `appeal:42:first`); a second attempt with the
    /// same cause is ignored, which makes re-processing safe.
    pub cause_key: String,
}

#[derive(Debug, Clone)]
pub struct NewFeedEntry<'a> {
    pub interest_id: i64,
    pub kind: &'a str,
    pub actor: Option<&'a str>,
    pub summary: String,
    pub data: serde_json::Value,
    pub appeal_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InterestDetails {
    #[serde(flatten)]
    pub interest: Interest,
    pub tasks: Vec<Task>,
    pub interactions: Vec<Interaction>,
    pub feed: Vec<FeedEntry>,
}

const INTEREST_COLUMNS: &str = "id, client_id, person_id, scenario, stage, status, responsible_login, \
     potential_amount, channel, source, created_at, updated_at";

fn interest_from_row(row: &AnyRow) -> Result<Interest> {
    let status: String = row.try_get("status")?;
    Ok(Interest {
        id: row.try_get("id")?,
        client_id: row.try_get("client_id")?,
        person_id: row.try_get("person_id")?,
        scenario: row.try_get("scenario")?,
        stage: row.try_get("stage")?,
        status: InterestStatus::parse(&status)
            .ok_or_else(|| StorageError::Corrupt("interest status".into()))?,
        responsible: row.try_get("responsible_login")?,
        potential_amount: row.try_get("potential_amount")?,
        channel: row.try_get("channel")?,
        source: row.try_get("source")?,
        created_at: from_ms(row.try_get("created_at")?),
        updated_at: from_ms(row.try_get("updated_at")?),
    })
}

fn opt_time(row: &AnyRow, col: &str) -> Result<Option<DateTime<Utc>>> {
    Ok(row.try_get::<Option<i64>, _>(col)?.map(from_ms))
}

impl Store {
    /// The client's most recently touched interest that is still in progress.
    pub(crate) async fn open_interest_of(
        &self,
        conn: &mut AnyConnection,
        client_id: i64,
    ) -> Result<Option<Interest>> {
        let row = sqlx::query(&format!(
            "SELECT {INTEREST_COLUMNS} FROM interests WHERE client_id = $1 \
             AND status IN ('open', 'loss_pending') ORDER BY updated_at DESC, id DESC LIMIT 1"
        ))
        .bind(client_id)
        .fetch_optional(&mut *conn)
        .await?;
        row.as_ref().map(interest_from_row).transpose()
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn create_interest(
        &self,
        conn: &mut AnyConnection,
        client_id: i64,
        person_id: Option<i64>,
        scenario: &str,
        stage: &str,
        responsible: Option<&str>,
        channel: &str,
        source: &str,
    ) -> Result<i64> {
        let now = now_ms();
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO interests (client_id, person_id, scenario, stage, status, responsible_login, \
             channel, source, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'open', $5, $6, $7, $8, $8) RETURNING id",
        )
        .bind(client_id)
        .bind(person_id)
        .bind(scenario)
        .bind(stage)
        .bind(responsible)
        .bind(channel)
        .bind(source)
        .bind(now)
        .fetch_one(&mut *conn)
        .await?;
        Ok(id)
    }

    pub(crate) async fn touch_interest(&self, conn: &mut AnyConnection, id: i64) -> Result<()> {
        sqlx::query("UPDATE interests SET updated_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(id)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// Returns the new task's id, or `None` when its cause already made one.
    pub(crate) async fn add_task(
        &self,
        conn: &mut AnyConnection,
        task: &NewTask<'_>,
    ) -> Result<Option<i64>> {
        let row: Option<(i64,)> = sqlx::query_as(
            "INSERT INTO tasks (interest_id, title, assignee_login, due_at, status, cause_key, created_at) \
             VALUES ($1, $2, $3, $4, 'open', $5, $6) ON CONFLICT (cause_key) DO NOTHING RETURNING id",
        )
        .bind(task.interest_id)
        .bind(task.title)
        .bind(task.assignee)
        .bind(task.due_at.map(to_ms))
        .bind(&task.cause_key)
        .bind(now_ms())
        .fetch_optional(&mut *conn)
        .await?;
        Ok(row.map(|(id,)| id))
    }

    pub(crate) async fn add_feed_entry(
        &self,
        conn: &mut AnyConnection,
        entry: &NewFeedEntry<'_>,
    ) -> Result<i64> {
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO feed_entries (interest_id, at, kind, actor, summary, data, appeal_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(entry.interest_id)
        .bind(now_ms())
        .bind(entry.kind)
        .bind(entry.actor)
        .bind(&entry.summary)
        .bind(entry.data.to_json())
        .bind(entry.appeal_id)
        .fetch_one(&mut *conn)
        .await?;
        Ok(id)
    }

    /// Advances a shared counter and returns its new value; used for the
    /// round robin so that several instances take turns together.
    pub(crate) async fn next_counter(&self, conn: &mut AnyConnection, name: &str) -> Result<i64> {
        let (value,): (i64,) = sqlx::query_as(
            "INSERT INTO counters (name, value) VALUES ($1, 1) \
             ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 RETURNING value",
        )
        .bind(name)
        .fetch_one(&mut *conn)
        .await?;
        Ok(value)
    }

    pub async fn interest(&self, id: i64) -> Result<Option<InterestDetails>> {
        let row = sqlx::query(&format!("SELECT {INTEREST_COLUMNS} FROM interests WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let interest = interest_from_row(&row)?;
        let tasks = sqlx::query(
            "SELECT id, interest_id, title, assignee_login, due_at, status, created_at \
             FROM tasks WHERE interest_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            let status: String = r.try_get("status")?;
            Ok(Task {
                id: r.try_get("id")?,
                interest_id: r.try_get("interest_id")?,
                title: r.try_get("title")?,
                assignee: r.try_get("assignee_login")?,
                due_at: opt_time(r, "due_at")?,
                status: TaskStatus::parse(&status)
                    .ok_or_else(|| StorageError::Corrupt("task status".into()))?,
                created_at: from_ms(r.try_get("created_at")?),
            })
        })
        .collect::<Result<Vec<_>>>()?;
        let interactions = sqlx::query(
            "SELECT id, interest_id, kind, direction, planned_at, done_at, result, author \
             FROM interactions WHERE interest_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(Interaction {
                id: r.try_get("id")?,
                interest_id: r.try_get("interest_id")?,
                kind: r.try_get("kind")?,
                direction: r.try_get("direction")?,
                planned_at: opt_time(r, "planned_at")?,
                done_at: opt_time(r, "done_at")?,
                result: r.try_get("result")?,
                author: r.try_get("author")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
        let feed = sqlx::query(
            "SELECT id, at, kind, actor, summary, data, appeal_id FROM feed_entries \
             WHERE interest_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            let data: String = r.try_get("data")?;
            Ok(FeedEntry {
                id: r.try_get("id")?,
                at: from_ms(r.try_get("at")?),
                kind: r.try_get("kind")?,
                actor: r.try_get("actor")?,
                summary: r.try_get("summary")?,
                data: serde_json::from_str(&data)
                    .map_err(|_| StorageError::Corrupt("feed entry data".into()))?,
                appeal_id: r.try_get("appeal_id")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
        Ok(Some(InterestDetails {
            interest,
            tasks,
            interactions,
            feed,
        }))
    }
}
