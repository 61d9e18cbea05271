use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use utoipa::ToSchema;

use super::appeals::Json;
use super::{from_ms, now_ms, param_list, to_ms, FeedRow, Result, StorageError, Store, TaskRow};
use leadgate_domain::event::{EventType, NewEvent};
use leadgate_domain::interest::{
    FeedEntry, Interaction, Interest, InterestStatus, Task, TaskStatus,
};
use leadgate_domain::scenario::{LossChange, Outcome, TaskClosure};

#[derive(Debug, Clone)]
pub struct NewTask<'a> {
    pub interest_id: i64,
    pub title: &'a str,
    pub assignee: Option<&'a str>,
    pub due_at: Option<DateTime<Utc>>,
    pub reminder_at: Option<DateTime<Utc>>,
    pub purpose: Option<String>,
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

/// A client's responsible manager and its open interest, if any.
pub type ClientState = (Option<String>, Option<Interest>);

pub(super) const INTEREST_COLUMNS: &str =
    "id, client_id, person_id, scenario, stage, status, responsible_login, \
     potential_amount, channel, source, created_at, updated_at";

pub(super) fn interest_from_row(row: &AnyRow) -> Result<Interest> {
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

pub(super) const TASK_COLUMNS: &str =
    "id, interest_id, title, assignee_login, due_at, status, purpose, created_at, done_at, done_by, result";

pub(super) fn task_from_row(r: &AnyRow) -> Result<Task> {
    let status: String = r.try_get("status")?;
    Ok(Task {
        id: r.try_get("id")?,
        interest_id: r.try_get("interest_id")?,
        title: r.try_get("title")?,
        assignee: r.try_get("assignee_login")?,
        due_at: opt_time(r, "due_at")?,
        status: TaskStatus::parse(&status)
            .ok_or_else(|| StorageError::Corrupt("task status".into()))?,
        purpose: r.try_get("purpose")?,
        created_at: from_ms(r.try_get("created_at")?),
        done_at: opt_time(r, "done_at")?,
        done_by: r.try_get("done_by")?,
        result: r.try_get("result")?,
    })
}

pub(super) fn opt_time(row: &AnyRow, col: &str) -> Result<Option<DateTime<Utc>>> {
    Ok(row.try_get::<Option<i64>, _>(col)?.map(from_ms))
}

impl Store {
    /// The client's most recently touched interest that is still in progress.
    pub async fn open_interest_of(
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

    /// The client's responsible manager and its most recently touched
    /// interest still in progress, in one round trip.
    pub async fn client_interest_state(
        &self,
        conn: &mut AnyConnection,
        client_id: i64,
    ) -> Result<ClientState> {
        self.client_interest_states(conn, &[client_id])
            .await?
            .remove(&client_id)
            .ok_or(StorageError::NotFound("client"))
    }

    /// [`Store::client_interest_state`] of many clients in one round trip;
    /// a client that does not exist is missing from the answer.
    pub async fn client_interest_states(
        &self,
        conn: &mut AnyConnection,
        clients: &[i64],
    ) -> Result<HashMap<i64, ClientState>> {
        let mut out = HashMap::with_capacity(clients.len());
        if clients.is_empty() {
            return Ok(out);
        }
        let columns = INTEREST_COLUMNS
            .split(',')
            .map(|c| format!("i.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let list = param_list(self.backend, 1, clients.len());
        let sql = format!(
            "SELECT c.id AS client_key, c.responsible_login AS client_responsible, {columns} FROM clients c \
             LEFT JOIN interests i ON i.id = (SELECT o.id FROM interests o WHERE o.client_id = c.id \
             AND o.status IN ('open', 'loss_pending') ORDER BY o.updated_at DESC, o.id DESC LIMIT 1) \
             WHERE c.id IN ({list})"
        );
        let mut q = sqlx::query(&sql);
        for id in clients {
            q = q.bind(*id);
        }
        for row in q.fetch_all(&mut *conn).await? {
            let client_id: i64 = row.try_get("client_key")?;
            let responsible: Option<String> = row.try_get("client_responsible")?;
            let open = match row.try_get::<Option<i64>, _>("id")? {
                Some(_) => Some(interest_from_row(&row)?),
                None => None,
            };
            out.insert(client_id, (responsible, open));
        }
        Ok(out)
    }

    pub async fn interest_row(
        &self,
        conn: &mut AnyConnection,
        id: i64,
    ) -> Result<Option<Interest>> {
        let row = sqlx::query(&format!(
            "SELECT {INTEREST_COLUMNS} FROM interests WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        row.as_ref().map(interest_from_row).transpose()
    }

    /// Marks the interest as active now (conversation windows count from here).
    pub async fn touch_interest(&self, conn: &mut AnyConnection, id: i64) -> Result<()> {
        sqlx::query("UPDATE interests SET updated_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(id)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// Returns the new task's id, or `None` when its cause already made one.
    pub async fn add_task(
        &self,
        conn: &mut AnyConnection,
        task: &NewTask<'_>,
    ) -> Result<Option<i64>> {
        let row: Option<(i64,)> = sqlx::query_as(
            "INSERT INTO tasks (interest_id, title, assignee_login, due_at, reminder_at, purpose, status, \
             cause_key, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, $8) \
             ON CONFLICT (cause_key) DO NOTHING RETURNING id",
        )
        .bind(task.interest_id)
        .bind(task.title)
        .bind(task.assignee)
        .bind(task.due_at.map(to_ms))
        .bind(task.reminder_at.map(to_ms))
        .bind(task.purpose.as_deref())
        .bind(&task.cause_key)
        .bind(now_ms())
        .fetch_optional(&mut *conn)
        .await?;
        if let Some((id,)) = row {
            let created = Task {
                id,
                interest_id: task.interest_id,
                title: task.title.to_string(),
                assignee: task.assignee.map(str::to_string),
                due_at: task.due_at,
                status: TaskStatus::Open,
                purpose: task.purpose.clone(),
                created_at: Utc::now(),
                done_at: None,
                done_by: None,
                result: None,
            };
            let event = NewEvent::task(EventType::TaskCreated, &created);
            super::events::append(conn, std::slice::from_ref(&event)).await?;
        }
        Ok(row.map(|(id,)| id))
    }

    pub async fn add_feed_entry(
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

    pub async fn open_task_count(&self, conn: &mut AnyConnection, interest_id: i64) -> Result<u32> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM tasks WHERE interest_id = $1 AND status IN ('open', 'overdue')",
        )
        .bind(interest_id)
        .fetch_one(&mut *conn)
        .await?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Writes what the stage engine decided: stage and status, closed and new
    /// tasks, planned interactions and feed entries. `cause` names what caused
    /// it (e.g. `appeal:42`), so that applying the same outcome twice creates
    /// no second task.
    pub async fn apply_outcome(
        &self,
        conn: &mut AnyConnection,
        interest_id: i64,
        outcome: &Outcome,
        cause: &str,
        appeal_id: Option<i64>,
    ) -> Result<()> {
        let now = now_ms();
        let status = outcome.new_status;
        let mut events = Vec::new();
        let stage_before: Option<(String,)> =
            sqlx::query_as("SELECT stage FROM interests WHERE id = $1")
                .bind(interest_id)
                .fetch_optional(&mut *conn)
                .await?;
        sqlx::query(
            "UPDATE interests SET scenario = $1, stage = $2, status = $3, \
             potential_amount = COALESCE($4, potential_amount), updated_at = $5, \
             closed_at = CASE WHEN $6 = 1 THEN COALESCE(closed_at, $5) ELSE NULL END WHERE id = $7",
        )
        .bind(&outcome.scenario_id)
        .bind(&outcome.new_stage)
        .bind(status.as_str())
        .bind(outcome.potential_amount)
        .bind(now)
        .bind(i64::from(status.is_finished()))
        .bind(interest_id)
        .execute(&mut *conn)
        .await?;
        if stage_before.is_some_and(|(stage,)| stage != outcome.new_stage) {
            self.enter_stage(conn, interest_id, now).await?;
        }
        if let Some(loss) = &outcome.loss {
            self.record_loss(conn, interest_id, loss, now).await?;
        }
        for closure in &outcome.tasks_to_close {
            let purpose = match closure {
                TaskClosure::AllOpen => None,
                TaskClosure::Purpose { purpose } => Some(purpose.key()),
            };
            let closed = sqlx::query(&format!(
                "UPDATE tasks SET status = 'done', done_at = $1, done_by = 'leadgate' \
                 WHERE interest_id = $2 AND status IN ('open', 'overdue') AND ($3 IS NULL OR purpose = $3) \
                 RETURNING {TASK_COLUMNS}"
            ))
            .bind(now)
            .bind(interest_id)
            .bind(purpose)
            .fetch_all(&mut *conn)
            .await?;
            for row in &closed {
                events.push(NewEvent::task(
                    EventType::TaskCompleted,
                    &task_from_row(row)?,
                ));
            }
        }
        let rows = outcome_rows(interest_id, outcome, cause, appeal_id, now);
        self.insert_feed_entries(conn, &rows.feed).await?;
        let tasks: Vec<TaskRow> = rows.tasks.iter().map(|(t, _)| t.clone()).collect();
        let ids = self.insert_tasks(conn, &tasks).await?;
        events.extend(created_task_events(&tasks, &ids));
        self.append_events(conn, &events).await?;
        let announced: Vec<FeedRow> = rows
            .tasks
            .into_iter()
            .filter_map(|(task, entry)| announce_task(entry, ids.get(&task.cause_key).copied()))
            .collect();
        self.insert_feed_entries(conn, &announced).await?;
        if let Some(result) = &outcome.interaction_result {
            // The engine reported the result of "the current" interaction:
            // the earliest one still planned (planned before this outcome).
            sqlx::query(
                "UPDATE interactions SET done_at = $1, result = $2 WHERE id = \
                 (SELECT id FROM interactions WHERE interest_id = $3 AND done_at IS NULL \
                  AND planned_at IS NOT NULL ORDER BY planned_at, id LIMIT 1)",
            )
            .bind(now)
            .bind(result)
            .bind(interest_id)
            .execute(&mut *conn)
            .await?;
        }
        if let Some(order) = &outcome.order_update {
            self.upsert_order(conn, interest_id, order).await?;
        }
        for planned in &outcome.interactions_to_plan {
            sqlx::query(
                "INSERT INTO interactions (interest_id, kind, planned_at, subject, author, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(interest_id)
            .bind(serde_json::to_value(planned.kind).ok().and_then(|v| v.as_str().map(str::to_string)))
            .bind(to_ms(planned.at))
            .bind(Some(planned.subject.as_str()).filter(|s| !s.is_empty()))
            .bind(Some(planned.responsible.as_str()).filter(|s| !s.is_empty()))
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    /// Closes the interest's current stage entry and opens one for the stage
    /// it is in now, with its dimensions as they are.
    async fn enter_stage(
        &self,
        conn: &mut AnyConnection,
        interest_id: i64,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE stage_entries SET left_at = $1 WHERE interest_id = $2 AND left_at IS NULL",
        )
        .bind(now)
        .bind(interest_id)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "INSERT INTO stage_entries (interest_id, scenario, stage, entered_at, responsible_login, \
             channel, source, utm_source, utm_campaign, amount) \
             SELECT id, scenario, stage, $1, responsible_login, channel, source, utm_source, \
             utm_campaign, potential_amount FROM interests WHERE id = $2",
        )
        .bind(now)
        .bind(interest_id)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// A step of the lost path as a row of `losses` (the loss report).
    async fn record_loss(
        &self,
        conn: &mut AnyConnection,
        interest_id: i64,
        loss: &LossChange,
        now: i64,
    ) -> Result<()> {
        match loss {
            LossChange::Requested {
                reason,
                comment,
                from_stage,
                by,
                pending,
            } => {
                let (state, decided_at, decided_by) = if *pending {
                    ("pending", None, None)
                } else {
                    ("lost", Some(now), Some(by.as_str()))
                };
                sqlx::query(
                    "INSERT INTO losses (interest_id, scenario, from_stage, reason, comment, \
                     requested_at, requested_by, responsible_login, channel, source, utm_source, \
                     utm_campaign, amount, state, decided_at, decided_by) \
                     SELECT id, scenario, $1, $2, $3, $4, $5, responsible_login, channel, source, \
                     utm_source, utm_campaign, potential_amount, $6, $7, $8 FROM interests WHERE id = $9",
                )
                .bind(from_stage)
                .bind(reason)
                .bind(comment)
                .bind(now)
                .bind(by)
                .bind(state)
                .bind(decided_at)
                .bind(decided_by)
                .bind(interest_id)
                .execute(&mut *conn)
                .await?;
            }
            LossChange::Approved { by, comment } | LossChange::Returned { by, comment } => {
                let state = match loss {
                    LossChange::Approved { .. } => "approved",
                    _ => "returned",
                };
                sqlx::query(
                    "UPDATE losses SET state = $1, decided_at = $2, decided_by = $3, \
                     decision_comment = $4 WHERE interest_id = $5 AND state = 'pending'",
                )
                .bind(state)
                .bind(now)
                .bind(by)
                .bind(comment)
                .bind(interest_id)
                .execute(&mut *conn)
                .await?;
            }
        }
        Ok(())
    }

    /// Advances a shared counter and returns its new value; used for the
    /// round robin so that several instances take turns together.
    pub async fn next_counter(&self, conn: &mut AnyConnection, name: &str) -> Result<i64> {
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
        let row = sqlx::query(&format!(
            "SELECT {INTEREST_COLUMNS} FROM interests WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let interest = interest_from_row(&row)?;
        let tasks = sqlx::query(&format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE interest_id = $1 ORDER BY id"
        ))
        .bind(id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(task_from_row)
        .collect::<Result<Vec<_>>>()?;
        let interactions = sqlx::query(
            "SELECT id, interest_id, kind, direction, planned_at, done_at, subject, result, author, recording_url \
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
                subject: r.try_get("subject")?,
                result: r.try_get("result")?,
                author: r.try_get("author")?,
                recording_url: r.try_get("recording_url")?,
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

/// The rows an outcome adds: feed entries, and new tasks each with the feed
/// entry that announces it (written only if the task is new).
pub struct OutcomeRows {
    pub feed: Vec<FeedRow>,
    pub tasks: Vec<(TaskRow, FeedRow)>,
}

pub fn outcome_rows(
    interest_id: i64,
    outcome: &Outcome,
    cause: &str,
    appeal_id: Option<i64>,
    now: i64,
) -> OutcomeRows {
    let status = outcome.new_status;
    let feed = outcome
        .feed
        .iter()
        .map(|entry| FeedRow {
            interest_id,
            at_ms: now,
            kind: serde_json::to_value(entry.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| "event".into()),
            actor: entry.author.clone(),
            summary: entry.text.clone(),
            data: serde_json::json!({"stage": outcome.new_stage, "status": status.as_str()}),
            appeal_id,
        })
        .collect();
    let tasks = outcome
        .tasks_to_create
        .iter()
        .enumerate()
        .map(|(i, task)| {
            let purpose = task.purpose.key();
            let assignee = Some(task.assignee.clone()).filter(|a| !a.is_empty());
            let entry = FeedRow {
                interest_id,
                at_ms: now,
                kind: "task_created".into(),
                actor: None,
                summary: format!("Задача «{}»", task.title),
                data: serde_json::json!({"task_id": null, "assignee": assignee, "due_at": task.due}),
                appeal_id,
            };
            let row = TaskRow {
                interest_id,
                title: task.title.clone(),
                assignee,
                due_at_ms: Some(to_ms(task.due)),
                reminder_at_ms: task.reminder_at.map(to_ms),
                cause_key: format!("{cause}:{purpose}:{i}"),
                purpose: Some(purpose),
                created_at_ms: now,
            };
            (row, entry)
        })
        .collect();
    OutcomeRows { feed, tasks }
}

/// `task.created` for each task of `rows` that `ids` (by cause key) says was
/// created.
pub fn created_task_events(rows: &[TaskRow], ids: &HashMap<String, i64>) -> Vec<NewEvent> {
    rows.iter()
        .filter_map(|r| {
            let id = *ids.get(&r.cause_key)?;
            let task = Task {
                id,
                interest_id: r.interest_id,
                title: r.title.clone(),
                assignee: r.assignee.clone(),
                due_at: r.due_at_ms.map(from_ms),
                status: TaskStatus::Open,
                purpose: r.purpose.clone(),
                created_at: from_ms(r.created_at_ms),
                done_at: None,
                done_by: None,
                result: None,
            };
            Some(NewEvent::task(EventType::TaskCreated, &task))
        })
        .collect()
}

/// The feed entry announcing a task, once the task's id is known; `None`
/// when the task was not created (its cause had made it before).
pub fn announce_task(mut entry: FeedRow, task_id: Option<i64>) -> Option<FeedRow> {
    let id = task_id?;
    entry.data["task_id"] = serde_json::json!(id);
    Some(entry)
}
