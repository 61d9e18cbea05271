//! Storage for the managers' pages («Мои продажи»): the board's columns with
//! their totals, one page of cards at a time; a manager's tasks for today; the
//! calls and outgoing messages of an interest; a client's interests and
//! appeals; reassigning the responsible.
//!
//! The board's colour is decided in SQL from the earliest due moment of the
//! interest's open tasks and planned interactions, the same rule as
//! [`leadgate_domain::scenario::health`]: before now is red, before the start
//! of tomorrow (local) is yellow, anything later (or nothing) green. So a
//! colour filter can be paged without loading every card.

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::appeals::{appeal_from_row, APPEAL_COLUMNS};
use super::interests::{interest_from_row, task_from_row, INTEREST_COLUMNS, TASK_COLUMNS};
use super::{from_ms, now_ms, NewFeedEntry, Result, StorageError, Store};
use leadgate_domain::appeal::Appeal;
use leadgate_domain::call::CallRecord;
use leadgate_domain::interest::{Interest, Task};
use leadgate_domain::scenario::Colour;

/// A value bound to a `$n` placeholder of a built statement.
#[derive(Debug, Clone)]
enum Bind {
    Text(String),
    Int(i64),
}

#[derive(Default)]
struct Binds(Vec<Bind>);

impl Binds {
    fn text(&mut self, value: impl Into<String>) -> String {
        self.0.push(Bind::Text(value.into()));
        format!("${}", self.0.len())
    }
    fn int(&mut self, value: i64) -> String {
        self.0.push(Bind::Int(value));
        format!("${}", self.0.len())
    }
    fn apply<'q>(
        &'q self,
        mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        for bind in &self.0 {
            query = match bind {
                Bind::Text(v) => query.bind(v.as_str()),
                Bind::Int(v) => query.bind(*v),
            };
        }
        query
    }
}

/// What the board searches for: a name, company, e-mail or phone.
#[derive(Debug, Clone, Default)]
pub struct BoardSearch {
    /// `LIKE` patterns of the text in the spellings names are stored in
    /// (as typed, lower case, capitalised), since SQLite folds only ASCII.
    pub patterns: Vec<String>,
    /// The E.164 form when the text is a whole phone number.
    pub phone: Option<String>,
    /// `%digits%` when the text looks like part of a phone number.
    pub digits: Option<String>,
}

/// Which interests the board shows.
#[derive(Debug, Clone)]
pub struct BoardFilter {
    /// `None`: everybody's (admins).
    pub responsibles: Option<Vec<String>>,
    /// Won and lost interests closed at or after this moment are shown
    /// besides the active ones.
    pub closed_since: DateTime<Utc>,
    pub channel: Option<String>,
    pub source: Option<String>,
    pub colour: Option<Colour>,
    pub search: Option<BoardSearch>,
    pub now: DateTime<Utc>,
    /// The start of the next local day: what is due before it is "today".
    pub tomorrow: DateTime<Utc>,
}

/// A column's size and money, over every card the filter lets through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnTotals {
    pub scenario: String,
    pub stage: String,
    pub count: i64,
    /// Kopecks.
    pub amount: i64,
}

/// One card of the board.
#[derive(Debug, Clone)]
pub struct BoardCard {
    pub interest: Interest,
    pub client_name: String,
    /// The earliest due moment of an open task or planned interaction.
    pub next_due: Option<DateTime<Utc>>,
    /// The nearest open task.
    pub task_title: Option<String>,
    pub task_due: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
}

/// A task on the Today page, with what the manager needs to act on it.
#[derive(Debug, Clone)]
pub struct TodayTask {
    pub task: Task,
    pub client_id: i64,
    pub client_name: String,
    pub stage: String,
    pub scenario: String,
}

/// A call of an interest, as the PBX reported it.
#[derive(Debug, Clone)]
pub struct InterestCall {
    pub id: i64,
    pub interaction_id: Option<i64>,
    pub record: CallRecord,
}

/// A message to the client of an interest and what became of it.
#[derive(Debug, Clone)]
pub struct OutgoingNote {
    /// `mail`, or the messenger source (`telegram:main`).
    pub channel: String,
    pub kind: String,
    pub recipient: String,
    pub subject: Option<String>,
    pub body: String,
    /// pending | sending | sent | failed | unconfirmed
    pub status: String,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub author: Option<String>,
}

const BIG: &str = "9223372036854775807";

fn opt_ms(row: &AnyRow, col: &str) -> Result<Option<DateTime<Utc>>> {
    Ok(row.try_get::<Option<i64>, _>(col)?.map(from_ms))
}

fn prefixed_interest_columns() -> String {
    INTEREST_COLUMNS
        .split(", ")
        .map(|col| format!("i.{}", col.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

impl BoardFilter {
    /// The derived table `b` of every interest the filter lets through, with
    /// the due moments its colour is read from; and the colour condition.
    fn base(&self, binds: &mut Binds) -> String {
        let mut conds = Vec::new();
        if let Some(responsibles) = &self.responsibles {
            if responsibles.is_empty() {
                conds.push("1 = 0".to_owned());
            } else {
                let list: Vec<String> = responsibles.iter().map(|r| binds.text(r)).collect();
                conds.push(format!("i.responsible_login IN ({})", list.join(", ")));
            }
        }
        let since = binds.int(super::to_ms(self.closed_since));
        conds.push(format!(
            "(i.status IN ('open', 'loss_pending') OR \
             (i.status IN ('won', 'lost') AND i.closed_at >= {since}))"
        ));
        if let Some(channel) = &self.channel {
            conds.push(format!("i.channel = {}", binds.text(channel)));
        }
        if let Some(source) = &self.source {
            conds.push(format!("i.source = {}", binds.text(source)));
        }
        if let Some(search) = &self.search {
            let mut any = Vec::new();
            for pattern in &search.patterns {
                let p = binds.text(pattern);
                any.push(format!("c.name LIKE {p}"));
                any.push(format!(
                    "EXISTS (SELECT 1 FROM contact_persons cp WHERE cp.client_id = i.client_id AND cp.name LIKE {p})"
                ));
                any.push(format!(
                    "EXISTS (SELECT 1 FROM contact_points sp WHERE sp.client_id = i.client_id \
                     AND (sp.value LIKE {p} OR sp.raw LIKE {p}))"
                ));
                // The company as the appeals named it.
                any.push(format!(
                    "EXISTS (SELECT 1 FROM appeals sa WHERE sa.interest_id = i.id AND sa.contact LIKE {p})"
                ));
            }
            if let Some(phone) = &search.phone {
                let p = binds.text(phone);
                any.push(format!(
                    "EXISTS (SELECT 1 FROM contact_points sp WHERE sp.client_id = i.client_id \
                     AND sp.kind = 'phone' AND sp.value = {p})"
                ));
            }
            if let Some(digits) = &search.digits {
                let p = binds.text(digits);
                any.push(format!(
                    "EXISTS (SELECT 1 FROM contact_points sp WHERE sp.client_id = i.client_id \
                     AND sp.kind = 'phone' AND sp.value LIKE {p})"
                ));
            }
            if any.is_empty() {
                conds.push("1 = 0".to_owned());
            } else {
                conds.push(format!("({})", any.join(" OR ")));
            }
        }
        format!(
            "SELECT {cols}, i.closed_at, c.name AS client_name, \
             (SELECT MIN(t.due_at) FROM tasks t WHERE t.interest_id = i.id \
              AND t.status IN ('open', 'overdue')) AS task_due, \
             (SELECT MIN(x.planned_at) FROM interactions x WHERE x.interest_id = i.id \
              AND x.done_at IS NULL AND x.planned_at IS NOT NULL) AS plan_due \
             FROM interests i JOIN clients c ON c.id = i.client_id WHERE {conds}",
            cols = prefixed_interest_columns(),
            conds = conds.join(" AND ")
        )
    }

    fn colour_condition(&self, binds: &mut Binds) -> String {
        let td = format!("COALESCE(b.task_due, {BIG})");
        let pd = format!("COALESCE(b.plan_due, {BIG})");
        match self.colour {
            None => "1 = 1".to_owned(),
            Some(Colour::Red) => {
                let now = binds.int(super::to_ms(self.now));
                format!("({td} < {now} OR {pd} < {now})")
            }
            Some(Colour::Yellow) => {
                let now = binds.int(super::to_ms(self.now));
                let tomorrow = binds.int(super::to_ms(self.tomorrow));
                format!(
                    "NOT ({td} < {now} OR {pd} < {now}) AND ({td} < {tomorrow} OR {pd} < {tomorrow})"
                )
            }
            Some(Colour::Green) => {
                let tomorrow = binds.int(super::to_ms(self.tomorrow));
                format!("{td} >= {tomorrow} AND {pd} >= {tomorrow}")
            }
        }
    }
}

impl Store {
    /// Count and sum of potential amounts per (scenario, stage).
    pub async fn board_totals(&self, filter: &BoardFilter) -> Result<Vec<ColumnTotals>> {
        let mut binds = Binds::default();
        let base = filter.base(&mut binds);
        let colour = filter.colour_condition(&mut binds);
        let sql = format!(
            "SELECT b.scenario, b.stage, COUNT(*) AS n, \
             CAST(COALESCE(SUM(b.potential_amount), 0) AS BIGINT) AS amount \
             FROM ({base}) b WHERE {colour} GROUP BY b.scenario, b.stage"
        );
        let rows = binds
            .apply(sqlx::query(&sql))
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ColumnTotals {
                    scenario: r.try_get("scenario")?,
                    stage: r.try_get("stage")?,
                    count: r.try_get("n")?,
                    amount: r.try_get("amount")?,
                })
            })
            .collect()
    }

    /// One page of a column's cards: the most urgent first; closed ones most
    /// recently closed first.
    pub async fn board_cards(
        &self,
        filter: &BoardFilter,
        scenario: &str,
        stage: &str,
        closed: bool,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<BoardCard>> {
        let mut binds = Binds::default();
        let base = filter.base(&mut binds);
        let colour = filter.colour_condition(&mut binds);
        let scenario = binds.text(scenario);
        let stage = binds.text(stage);
        let limit = binds.int(limit);
        let offset = binds.int(offset);
        let order = if closed {
            "b.closed_at DESC, b.id DESC".to_owned()
        } else {
            format!(
                "CASE WHEN COALESCE(b.task_due, {BIG}) < COALESCE(b.plan_due, {BIG}) \
                 THEN COALESCE(b.task_due, {BIG}) ELSE COALESCE(b.plan_due, {BIG}) END, b.id DESC"
            )
        };
        let sql = format!(
            "SELECT b.*, (SELECT t.title FROM tasks t WHERE t.interest_id = b.id \
              AND t.status IN ('open', 'overdue') ORDER BY t.due_at IS NULL, t.due_at, t.id LIMIT 1) AS task_title \
             FROM ({base}) b WHERE {colour} AND b.scenario = {scenario} AND b.stage = {stage} \
             ORDER BY {order} LIMIT {limit} OFFSET {offset}"
        );
        let rows = binds
            .apply(sqlx::query(&sql))
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                let task_due = opt_ms(r, "task_due")?;
                let plan_due = opt_ms(r, "plan_due")?;
                let next_due = match (task_due, plan_due) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                Ok(BoardCard {
                    interest: interest_from_row(r)?,
                    client_name: r.try_get("client_name")?,
                    next_due,
                    task_title: r.try_get("task_title")?,
                    task_due,
                    closed_at: opt_ms(r, "closed_at")?,
                })
            })
            .collect()
    }

    /// Open tasks of `assignee` due before `until` (overdue ones included),
    /// oldest due first.
    pub async fn today_tasks(
        &self,
        assignee: &str,
        until: DateTime<Utc>,
    ) -> Result<Vec<TodayTask>> {
        let cols = TASK_COLUMNS
            .split(", ")
            .map(|c| format!("t.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = sqlx::query(&format!(
            "SELECT {cols}, i.client_id AS client_key, c.name AS client_name, i.stage AS interest_stage, \
             i.scenario AS interest_scenario FROM tasks t JOIN interests i ON i.id = t.interest_id \
             JOIN clients c ON c.id = i.client_id WHERE t.assignee_login = $1 \
             AND t.status IN ('open', 'overdue') AND t.due_at IS NOT NULL AND t.due_at < $2 \
             ORDER BY t.due_at, t.id LIMIT 500"
        ))
        .bind(assignee)
        .bind(super::to_ms(until))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TodayTask {
                    task: task_from_row(r)?,
                    client_id: r.try_get("client_key")?,
                    client_name: r.try_get("client_name")?,
                    stage: r.try_get("interest_stage")?,
                    scenario: r.try_get("interest_scenario")?,
                })
            })
            .collect()
    }

    /// How many of `assignee`'s open tasks are past due now.
    pub async fn overdue_task_count(&self, assignee: &str, now: DateTime<Utc>) -> Result<i64> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM tasks WHERE assignee_login = $1 \
             AND status IN ('open', 'overdue') AND due_at IS NOT NULL AND due_at < $2",
        )
        .bind(assignee)
        .bind(super::to_ms(now))
        .fetch_one(self.pool())
        .await?;
        Ok(n)
    }

    /// What a completed task's assignee wrote as its result.
    pub async fn set_task_result(
        &self,
        conn: &mut AnyConnection,
        task_id: i64,
        result: &str,
    ) -> Result<()> {
        sqlx::query("UPDATE tasks SET result = $1 WHERE id = $2")
            .bind(result)
            .bind(task_id)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// Results of an interest's completed tasks, by task id.
    pub async fn task_results(&self, interest_id: i64) -> Result<Vec<(i64, String)>> {
        Ok(sqlx::query_as(
            "SELECT id, result FROM tasks WHERE interest_id = $1 AND result IS NOT NULL ORDER BY id",
        )
        .bind(interest_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Open tasks of one purpose on the interest, for counting before a move.
    pub async fn open_tasks_of_purpose(
        &self,
        conn: &mut AnyConnection,
        interest_id: i64,
        purpose: &str,
    ) -> Result<u32> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM tasks WHERE interest_id = $1 AND purpose = $2 \
             AND status IN ('open', 'overdue')",
        )
        .bind(interest_id)
        .bind(purpose)
        .fetch_one(&mut *conn)
        .await?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Completes the interest's open tasks of `purpose` as done by `by` with
    /// `result`; returns their ids and titles.
    pub async fn complete_tasks_of_purpose(
        &self,
        conn: &mut AnyConnection,
        interest_id: i64,
        purpose: &str,
        by: &str,
        result: &str,
    ) -> Result<Vec<(i64, String)>> {
        let open: Vec<(i64, String)> = sqlx::query_as(
            "SELECT id, title FROM tasks WHERE interest_id = $1 AND purpose = $2 \
             AND status IN ('open', 'overdue') ORDER BY id",
        )
        .bind(interest_id)
        .bind(purpose)
        .fetch_all(&mut *conn)
        .await?;
        for (id, _) in &open {
            sqlx::query(
                "UPDATE tasks SET status = 'done', done_at = $1, done_by = $2, result = $3 WHERE id = $4",
            )
            .bind(now_ms())
            .bind(by)
            .bind(result)
            .bind(id)
            .execute(&mut *conn)
            .await?;
        }
        Ok(open)
    }

    /// Hands the interest to `to`: the interest, its open tasks that were the
    /// old responsible's, and its planned interactions; a feed entry says who
    /// did it. Returns the old responsible.
    pub async fn reassign_interest(
        &self,
        conn: &mut AnyConnection,
        interest_id: i64,
        to: &str,
        by: &str,
        summary: String,
    ) -> Result<Option<String>> {
        let (old,): (Option<String>,) =
            sqlx::query_as("SELECT responsible_login FROM interests WHERE id = $1")
                .bind(interest_id)
                .fetch_optional(&mut *conn)
                .await?
                .ok_or(StorageError::NotFound("interest"))?;
        sqlx::query("UPDATE interests SET responsible_login = $1, updated_at = $2 WHERE id = $3")
            .bind(to)
            .bind(now_ms())
            .bind(interest_id)
            .execute(&mut *conn)
            .await?;
        if let Some(old) = &old {
            sqlx::query(
                "UPDATE tasks SET assignee_login = $1 WHERE interest_id = $2 \
                 AND assignee_login = $3 AND status IN ('open', 'overdue')",
            )
            .bind(to)
            .bind(interest_id)
            .bind(old)
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "UPDATE interactions SET author = $1 WHERE interest_id = $2 \
                 AND author = $3 AND done_at IS NULL",
            )
            .bind(to)
            .bind(interest_id)
            .bind(old)
            .execute(&mut *conn)
            .await?;
        }
        self.add_feed_entry(
            conn,
            &NewFeedEntry {
                interest_id,
                kind: "responsible_changed",
                actor: Some(by),
                summary,
                data: serde_json::json!({"from": old, "to": to}),
                appeal_id: None,
            },
        )
        .await?;
        Ok(old)
    }

    /// The calls the pipeline put on this interest, oldest first.
    pub async fn interest_calls(&self, interest_id: i64) -> Result<Vec<InterestCall>> {
        let rows = sqlx::query(
            "SELECT id, interaction_id, record FROM calls WHERE interest_id = $1 ORDER BY id",
        )
        .bind(interest_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let record: String = r.try_get("record")?;
                Ok(InterestCall {
                    id: r.try_get("id")?,
                    interaction_id: r.try_get("interaction_id")?,
                    record: serde_json::from_str(&record)
                        .map_err(|e| StorageError::Corrupt(format!("call record: {e}")))?,
                })
            })
            .collect()
    }

    /// Letters and messenger messages written to the interest's client,
    /// newest first (the managers' notifications are not among them).
    pub async fn interest_outgoing(&self, interest_id: i64) -> Result<Vec<OutgoingNote>> {
        let mut out = Vec::new();
        let mails = sqlx::query(
            "SELECT kind, recipient, subject, body, status, last_error, created_at FROM mail_outbox \
             WHERE interest_id = $1 AND kind IN ('acknowledgement', 'reply') ORDER BY id DESC LIMIT 100",
        )
        .bind(interest_id)
        .fetch_all(self.pool())
        .await?;
        for r in &mails {
            out.push(OutgoingNote {
                channel: "mail".into(),
                kind: r.try_get("kind")?,
                recipient: r.try_get("recipient")?,
                subject: r.try_get("subject")?,
                body: r.try_get("body")?,
                status: r.try_get("status")?,
                last_error: r.try_get("last_error")?,
                created_at: from_ms(r.try_get("created_at")?),
                author: None,
            });
        }
        let messages = sqlx::query(
            "SELECT source, kind, peer_id, body, status, last_error, created_at, author FROM messenger_outbox \
             WHERE interest_id = $1 ORDER BY id DESC LIMIT 100",
        )
        .bind(interest_id)
        .fetch_all(self.pool())
        .await?;
        for r in &messages {
            out.push(OutgoingNote {
                channel: r.try_get("source")?,
                kind: r.try_get("kind")?,
                recipient: r.try_get::<i64, _>("peer_id")?.to_string(),
                subject: None,
                body: r.try_get("body")?,
                status: r.try_get("status")?,
                last_error: r.try_get("last_error")?,
                created_at: from_ms(r.try_get("created_at")?),
                author: r.try_get("author")?,
            });
        }
        out.sort_by_key(|note| std::cmp::Reverse(note.created_at));
        Ok(out)
    }

    pub async fn client_display_name(&self, client_id: i64) -> Result<Option<String>> {
        let row: Option<(String,)> = sqlx::query_as("SELECT name FROM clients WHERE id = $1")
            .bind(client_id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|(name,)| name))
    }

    /// The channels and sources interests came from, for the board's filter.
    pub async fn interest_sources(&self) -> Result<Vec<(String, String)>> {
        Ok(sqlx::query_as(
            "SELECT DISTINCT channel, source FROM interests ORDER BY channel, source LIMIT 200",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// Every interest of the client, newest first.
    pub async fn client_interests(&self, client_id: i64) -> Result<Vec<Interest>> {
        let rows = sqlx::query(&format!(
            "SELECT {INTEREST_COLUMNS} FROM interests WHERE client_id = $1 ORDER BY id DESC LIMIT 500"
        ))
        .bind(client_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(interest_from_row).collect()
    }

    /// Every appeal of the client, newest first.
    pub async fn client_appeals(&self, client_id: i64) -> Result<Vec<Appeal>> {
        let rows = sqlx::query(&format!(
            "SELECT {APPEAL_COLUMNS} FROM appeals WHERE client_id = $1 ORDER BY id DESC LIMIT 500"
        ))
        .bind(client_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(appeal_from_row).collect()
    }

    /// The newest mail appeal of the interest with its Message-ID, to thread
    /// a reply under (`In-Reply-To`).
    pub async fn interest_mail_parent(&self, interest_id: i64) -> Result<Option<Appeal>> {
        let rows = sqlx::query(&format!(
            "SELECT {APPEAL_COLUMNS} FROM appeals WHERE interest_id = $1 AND channel = 'mail' \
             ORDER BY id DESC LIMIT 20"
        ))
        .bind(interest_id)
        .fetch_all(self.pool())
        .await?;
        for row in &rows {
            let appeal = appeal_from_row(row)?;
            if appeal.attributes.get("message_id").is_some() {
                return Ok(Some(appeal));
            }
        }
        Ok(None)
    }
}
