//! Storage for the stage engine around an interest: the facts a snapshot is
//! built from (open tasks, planned interactions, orders, client status), ERP
//! events with their idempotency record, manual tasks and interactions, the
//! board's list and the overdue sweep.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use utoipa::ToSchema;

use super::interests::{interest_from_row, task_from_row, INTEREST_COLUMNS, TASK_COLUMNS};
use super::{from_ms, now_ms, to_ms, Backend, Result, Store};
use leadgate_domain::event::{EventType, NewEvent};
pub use leadgate_domain::interest::InterestFacts;
use leadgate_domain::interest::{Interest, Task, TaskStatus};
use leadgate_domain::scenario::OrderTotals;

/// An ERP event as accepted; the same row answers a redelivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub event_id: String,
    pub kind: String,
    pub order_id: String,
    pub interest_id: i64,
    pub amount: i64,
    pub result: serde_json::Value,
}

/// A task that the sweep has just found overdue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverdueTask {
    pub id: i64,
    pub interest_id: i64,
    pub title: String,
    pub assignee: Option<String>,
    pub due_at: DateTime<Utc>,
}

/// Filter of the interests list (board). `responsibles = None` means any.
#[derive(Debug, Clone, Default)]
pub struct InterestFilter {
    pub responsibles: Option<Vec<String>>,
    pub stage: Option<String>,
    pub statuses: Option<Vec<String>>,
}

/// An interest as a board card, with what its colour is computed from.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InterestCard {
    #[serde(flatten)]
    pub interest: Interest,
    pub client_name: String,
    /// Due moments of open tasks and planned interactions, earliest first.
    #[serde(skip)]
    pub due: Vec<DateTime<Utc>>,
}

/// `$n, $n+1, ...` for `values`, appended to `binds`.
fn placeholders(values: &[String], binds: &mut Vec<String>) -> String {
    values
        .iter()
        .map(|value| {
            binds.push(value.clone());
            format!("${}", binds.len())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn order_from_row(row: &AnyRow) -> Result<OrderTotals> {
    Ok(OrderTotals {
        id: row.try_get("order_id")?,
        amount: row.try_get("amount")?,
        paid: row.try_get("paid")?,
        shipped: row.try_get("shipped")?,
    })
}

impl Store {
    /// The interest row, locked for the rest of the transaction on PostgreSQL
    /// so two commands on one interest are decided one after the other (SQLite
    /// has one writer already).
    pub async fn lock_interest(
        &self,
        conn: &mut AnyConnection,
        id: i64,
    ) -> Result<Option<Interest>> {
        let lock = match self.backend() {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        };
        let row = sqlx::query(&format!(
            "SELECT {INTEREST_COLUMNS} FROM interests WHERE id = $1{lock}"
        ))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        row.as_ref().map(interest_from_row).transpose()
    }

    pub async fn interest_facts(
        &self,
        conn: &mut AnyConnection,
        interest: &Interest,
    ) -> Result<InterestFacts> {
        let open_tasks = self.open_task_count(conn, interest.id).await?;
        let (planned,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM interactions WHERE interest_id = $1 \
             AND done_at IS NULL AND planned_at IS NOT NULL",
        )
        .bind(interest.id)
        .fetch_one(&mut *conn)
        .await?;
        let orders = self.orders_of(conn, interest.id).await?;
        let (is_client,): (i64,) = sqlx::query_as(
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM clients WHERE id = $1 AND external_id IS NOT NULL) \
             OR EXISTS (SELECT 1 FROM orders o JOIN interests i ON i.id = o.interest_id \
                        WHERE i.client_id = $1 AND o.amount > 0) THEN 1 ELSE 0 END",
        )
        .bind(interest.client_id)
        .fetch_one(&mut *conn)
        .await?;
        Ok(InterestFacts {
            open_tasks,
            planned_interactions: u32::try_from(planned).unwrap_or(u32::MAX),
            orders,
            is_client: is_client == 1,
        })
    }

    pub async fn orders_of(
        &self,
        conn: &mut AnyConnection,
        interest_id: i64,
    ) -> Result<Vec<OrderTotals>> {
        sqlx::query(
            "SELECT order_id, amount, paid, shipped FROM orders WHERE interest_id = $1 ORDER BY id",
        )
        .bind(interest_id)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(order_from_row)
        .collect()
    }

    pub async fn interest_orders(&self, interest_id: i64) -> Result<Vec<OrderTotals>> {
        let mut conn = self.pool().acquire().await?;
        self.orders_of(&mut conn, interest_id).await
    }

    pub async fn upsert_order(
        &self,
        conn: &mut AnyConnection,
        interest_id: i64,
        order: &OrderTotals,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO orders (order_id, interest_id, amount, paid, shipped, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (order_id) DO UPDATE SET \
             amount = excluded.amount, paid = excluded.paid, shipped = excluded.shipped, \
             updated_at = excluded.updated_at",
        )
        .bind(&order.id)
        .bind(interest_id)
        .bind(order.amount)
        .bind(order.paid)
        .bind(order.shipped)
        .bind(now_ms())
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// The interest an ERP order belongs to.
    pub async fn order_interest(
        &self,
        conn: &mut AnyConnection,
        order_id: &str,
    ) -> Result<Option<i64>> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT interest_id FROM orders WHERE order_id = $1")
                .bind(order_id)
                .fetch_optional(&mut *conn)
                .await?;
        Ok(row.map(|(id,)| id))
    }

    /// Records an ERP event unless its id is known; `false` means it was
    /// there already (a redelivery) and nothing was written.
    pub async fn record_event(
        &self,
        conn: &mut AnyConnection,
        event: &StoredEvent,
    ) -> Result<bool> {
        let row: Option<(String,)> = sqlx::query_as(
            "INSERT INTO erp_events (event_id, kind, order_id, interest_id, amount, received_at, result) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
        )
        .bind(&event.event_id)
        .bind(&event.kind)
        .bind(&event.order_id)
        .bind(event.interest_id)
        .bind(event.amount)
        .bind(now_ms())
        .bind(event.result.to_string())
        .fetch_optional(&mut *conn)
        .await?;
        Ok(row.is_some())
    }

    pub async fn stored_event(
        &self,
        conn: &mut AnyConnection,
        event_id: &str,
    ) -> Result<Option<StoredEvent>> {
        let row = sqlx::query(
            "SELECT event_id, kind, order_id, interest_id, amount, result FROM erp_events WHERE event_id = $1",
        )
        .bind(event_id)
        .fetch_optional(&mut *conn)
        .await?;
        row.map(|r| {
            let result: String = r.try_get("result")?;
            Ok(StoredEvent {
                event_id: r.try_get("event_id")?,
                kind: r.try_get("kind")?,
                order_id: r.try_get("order_id")?,
                interest_id: r.try_get("interest_id")?,
                amount: r.try_get("amount")?,
                result: serde_json::from_str(&result).unwrap_or(serde_json::Value::Null),
            })
        })
        .transpose()
    }

    /// Interests for the board, with the due moments their colour depends on.
    pub async fn interest_cards(&self, filter: &InterestFilter) -> Result<Vec<InterestCard>> {
        let mut sql = format!(
            "SELECT {}, c.name AS client_name FROM interests i JOIN clients c ON c.id = i.client_id WHERE 1 = 1",
            INTEREST_COLUMNS
                .split(", ")
                .map(|col| format!("i.{}", col.trim()))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut binds: Vec<String> = Vec::new();
        if let Some(responsibles) = &filter.responsibles {
            if responsibles.is_empty() {
                return Ok(Vec::new());
            }
            let list = placeholders(responsibles, &mut binds);
            sql.push_str(&format!(" AND i.responsible_login IN ({list})"));
        }
        if let Some(stage) = &filter.stage {
            let list = placeholders(std::slice::from_ref(stage), &mut binds);
            sql.push_str(&format!(" AND i.stage = {list}"));
        }
        if let Some(statuses) = &filter.statuses {
            if statuses.is_empty() {
                return Ok(Vec::new());
            }
            let list = placeholders(statuses, &mut binds);
            sql.push_str(&format!(" AND i.status IN ({list})"));
        }
        sql.push_str(" ORDER BY i.updated_at DESC, i.id DESC");
        let mut query = sqlx::query(&sql);
        for value in &binds {
            query = query.bind(value);
        }
        let rows = query.fetch_all(self.pool()).await?;
        let mut cards = Vec::with_capacity(rows.len());
        for row in &rows {
            cards.push(InterestCard {
                interest: interest_from_row(row)?,
                client_name: row.try_get("client_name")?,
                due: Vec::new(),
            });
        }
        if cards.is_empty() {
            return Ok(cards);
        }
        // Due moments of all listed interests in one query, not one per card.
        let ids: Vec<i64> = cards.iter().map(|card| card.interest.id).collect();
        let list = (1..=ids.len())
            .map(|n| format!("${n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let due_sql = format!(
            "SELECT interest_id, due_at FROM tasks WHERE interest_id IN ({list}) \
             AND status IN ('open', 'overdue') AND due_at IS NOT NULL \
             UNION ALL SELECT interest_id, planned_at FROM interactions WHERE interest_id IN ({list}) \
             AND done_at IS NULL AND planned_at IS NOT NULL"
        );
        let mut due_query = sqlx::query_as::<_, (i64, i64)>(&due_sql);
        for id in &ids {
            due_query = due_query.bind(*id);
        }
        let due_rows = due_query.fetch_all(self.pool()).await?;
        let mut by_interest: std::collections::HashMap<i64, Vec<DateTime<Utc>>> =
            std::collections::HashMap::new();
        for (interest_id, at) in due_rows {
            by_interest
                .entry(interest_id)
                .or_default()
                .push(from_ms(at));
        }
        for card in &mut cards {
            if let Some(mut due) = by_interest.remove(&card.interest.id) {
                due.sort();
                card.due = due;
            }
        }
        Ok(cards)
    }

    /// Due moments of one interest's open tasks and planned interactions.
    pub async fn interest_due(&self, interest_id: i64) -> Result<Vec<DateTime<Utc>>> {
        let rows: Vec<(i64,)> = sqlx::query_as(
            "SELECT due_at FROM tasks WHERE interest_id = $1 AND status IN ('open', 'overdue') \
             AND due_at IS NOT NULL UNION ALL SELECT planned_at FROM interactions \
             WHERE interest_id = $1 AND done_at IS NULL AND planned_at IS NOT NULL",
        )
        .bind(interest_id)
        .fetch_all(self.pool())
        .await?;
        let mut due: Vec<DateTime<Utc>> = rows.into_iter().map(|(at,)| from_ms(at)).collect();
        due.sort();
        Ok(due)
    }

    /// Tasks by assignee (any of `assignees`, `None` = anyone) and status.
    pub async fn tasks(
        &self,
        assignees: Option<&[String]>,
        status: Option<TaskStatus>,
    ) -> Result<Vec<Task>> {
        let mut sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE 1 = 1");
        let mut binds: Vec<String> = Vec::new();
        if let Some(assignees) = assignees {
            if assignees.is_empty() {
                return Ok(Vec::new());
            }
            let list: Vec<String> = assignees
                .iter()
                .map(|a| {
                    binds.push(a.clone());
                    format!("${}", binds.len())
                })
                .collect();
            sql.push_str(&format!(" AND assignee_login IN ({})", list.join(", ")));
        }
        if let Some(status) = status {
            binds.push(status.as_str().to_owned());
            sql.push_str(&format!(" AND status = ${}", binds.len()));
        }
        sql.push_str(" ORDER BY due_at IS NULL, due_at, id");
        let mut query = sqlx::query(&sql);
        for value in &binds {
            query = query.bind(value);
        }
        query
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(task_from_row)
            .collect()
    }

    pub async fn task(&self, id: i64) -> Result<Option<Task>> {
        let row = sqlx::query(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(task_from_row).transpose()
    }

    /// Marks an open or overdue task done; `false` if it was not open.
    pub async fn complete_task(&self, conn: &mut AnyConnection, id: i64, by: &str) -> Result<bool> {
        let done = sqlx::query(&format!(
            "UPDATE tasks SET status = 'done', done_at = $1, done_by = $2 \
             WHERE id = $3 AND status IN ('open', 'overdue') RETURNING {TASK_COLUMNS}"
        ))
        .bind(now_ms())
        .bind(by)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(row) = done else {
            return Ok(false);
        };
        let event = NewEvent::task(EventType::TaskCompleted, &task_from_row(&row)?);
        self.append_events(conn, &[event]).await?;
        Ok(true)
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn add_interaction(
        &self,
        conn: &mut AnyConnection,
        interest_id: i64,
        kind: &str,
        planned_at: Option<DateTime<Utc>>,
        done_at: Option<DateTime<Utc>>,
        subject: Option<&str>,
        result: Option<&str>,
        author: &str,
    ) -> Result<i64> {
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO interactions (interest_id, kind, planned_at, done_at, subject, result, author, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(interest_id)
        .bind(kind)
        .bind(planned_at.map(to_ms))
        .bind(done_at.map(to_ms))
        .bind(subject)
        .bind(result)
        .bind(author)
        .bind(now_ms())
        .fetch_one(&mut *conn)
        .await?;
        Ok(id)
    }

    /// Marks open tasks due before `now` overdue and returns exactly those it
    /// changed. One statement: with several instances on PostgreSQL each task
    /// changes (and is reported) by one of them only.
    pub async fn mark_overdue(
        &self,
        conn: &mut AnyConnection,
        now: DateTime<Utc>,
    ) -> Result<Vec<OverdueTask>> {
        let rows = sqlx::query(&format!(
            "UPDATE tasks SET status = 'overdue' WHERE status = 'open' AND due_at IS NOT NULL \
             AND due_at < $1 RETURNING {TASK_COLUMNS}"
        ))
        .bind(to_ms(now))
        .fetch_all(&mut *conn)
        .await?;
        let mut events = rows
            .iter()
            .map(|r| Ok(NewEvent::task(EventType::TaskOverdue, &task_from_row(r)?)))
            .collect::<Result<Vec<_>>>()?;
        events.sort_by_key(|e| e.data["task"]["id"].as_i64());
        self.append_events(conn, &events).await?;
        let mut overdue = rows
            .iter()
            .map(|r| {
                Ok(OverdueTask {
                    id: r.try_get("id")?,
                    interest_id: r.try_get("interest_id")?,
                    title: r.try_get("title")?,
                    assignee: r.try_get("assignee_login")?,
                    due_at: from_ms(r.try_get("due_at")?),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        overdue.sort_by_key(|task| task.id);
        Ok(overdue)
    }

    /// Appeals linked to an interest (id, channel, source, received, subject).
    pub async fn interest_appeals(&self, interest_id: i64) -> Result<Vec<LinkedAppeal>> {
        sqlx::query(
            "SELECT id, channel, source, received_at, subject, body FROM appeals \
             WHERE interest_id = $1 ORDER BY id",
        )
        .bind(interest_id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| {
            Ok(LinkedAppeal {
                id: r.try_get("id")?,
                channel: r.try_get("channel")?,
                source: r.try_get("source")?,
                received_at: from_ms(r.try_get("received_at")?),
                subject: r.try_get("subject")?,
                text: r.try_get("body")?,
            })
        })
        .collect()
    }
}

/// An appeal linked to an interest, as the interest page lists it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LinkedAppeal {
    pub id: i64,
    pub channel: String,
    pub source: String,
    pub received_at: DateTime<Utc>,
    pub subject: Option<String>,
    pub text: Option<String>,
}
