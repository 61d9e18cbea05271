//! The reports' facts and their aggregates. Facts are written when they
//! happen (the first manager action on an appeal in working minutes, calls
//! and their callbacks); the reports are GROUP BY statements over indexed
//! time columns that hand back grouped rows, never one row per appeal.
//!
//! Every query returns [`Agg`] rows: the group's keys as text (`""` for
//! NULL) and its figures as integers, in the order the method documents.

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{to_ms, Result, Store};
use leadgate_domain::report::bucket_sql;
use leadgate_domain::scenario::WorkCalendar;

/// What a report is restricted to. `responsibles = Some(list)` keeps the
/// figures of those managers only (role scope, department and manager
/// filters already intersected); an empty list matches nothing.
#[derive(Debug, Clone, Default)]
pub struct ReportFilter {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub responsibles: Option<Vec<String>>,
    pub channel: Option<String>,
    pub source: Option<String>,
    pub utm_source: Option<String>,
    pub utm_campaign: Option<String>,
    /// The time zone's offset in ms: local days are `(at + offset) / 86400000`.
    pub offset_ms: i64,
}

/// One grouped row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agg {
    pub k: Vec<String>,
    pub n: Vec<i64>,
}

/// A call as the reports count it.
#[derive(Debug, Clone)]
pub struct CallLogEntry<'a> {
    pub appeal_id: i64,
    pub interest_id: i64,
    pub at: DateTime<Utc>,
    pub inbound: bool,
    pub answered: bool,
    pub talk_secs: i64,
    pub manager: Option<&'a str>,
    pub source: &'a str,
}

const DAY_MS: i64 = 86_400_000;

/// Columns of a fact table the filter applies to; `None` = not applicable.
struct Dims {
    at: &'static str,
    responsible: Option<&'static str>,
    channel: Option<&'static str>,
    source: Option<&'static str>,
    utm_source: Option<&'static str>,
    utm_campaign: Option<&'static str>,
}

enum Bind {
    I(i64),
    S(String),
}

/// SQL text with its parameters, numbered as they are pushed.
struct Query {
    sql: String,
    binds: Vec<Bind>,
}

impl Query {
    fn new(sql: &str) -> Query {
        Query {
            sql: sql.to_owned(),
            binds: Vec::new(),
        }
    }

    fn int(&mut self, v: i64) -> String {
        self.binds.push(Bind::I(v));
        format!("${}", self.binds.len())
    }

    fn text(&mut self, v: &str) -> String {
        self.binds.push(Bind::S(v.to_owned()));
        format!("${}", self.binds.len())
    }

    fn push(&mut self, sql: &str) {
        self.sql.push_str(sql);
    }

    /// ` AND` conditions for the period on `dims.at` and every filter that
    /// applies to the table.
    fn filter(&mut self, f: &ReportFilter, dims: &Dims) {
        let from = self.int(to_ms(f.from));
        let to = self.int(to_ms(f.to));
        self.sql.push_str(&format!(
            " AND {at} >= {from} AND {at} < {to}",
            at = dims.at
        ));
        self.dims(f, dims);
    }

    fn dims(&mut self, f: &ReportFilter, dims: &Dims) {
        if let (Some(list), Some(col)) = (&f.responsibles, dims.responsible) {
            if list.is_empty() {
                self.sql.push_str(" AND 1 = 0");
            } else {
                let params: Vec<String> = list.iter().map(|l| self.text(l)).collect();
                self.sql
                    .push_str(&format!(" AND {col} IN ({})", params.join(", ")));
            }
        }
        for (value, col) in [
            (&f.channel, dims.channel),
            (&f.source, dims.source),
            (&f.utm_source, dims.utm_source),
            (&f.utm_campaign, dims.utm_campaign),
        ] {
            if let (Some(value), Some(col)) = (value, col) {
                let p = self.text(value);
                self.sql.push_str(&format!(" AND {col} = {p}"));
            }
        }
    }

    fn day(&mut self, col: &str, f: &ReportFilter) -> String {
        let off = self.int(f.offset_ms);
        format!("(({col} + {off}) / {DAY_MS})")
    }

    async fn rows(self, store: &Store, keys: usize) -> Result<Vec<Agg>> {
        let mut q = sqlx::query(&self.sql);
        for b in &self.binds {
            q = match b {
                Bind::I(v) => q.bind(*v),
                Bind::S(v) => q.bind(v.as_str()),
            };
        }
        q.fetch_all(store.pool())
            .await?
            .iter()
            .map(|row| agg(row, keys))
            .collect()
    }
}

fn agg(row: &AnyRow, keys: usize) -> Result<Agg> {
    let mut k = Vec::with_capacity(keys);
    for i in 0..keys {
        // Keys are text or integers (days, buckets) depending on the query.
        let text: Option<String> = match row.try_get::<Option<String>, _>(i) {
            Ok(v) => v,
            Err(_) => row.try_get::<Option<i64>, _>(i)?.map(|v| v.to_string()),
        };
        k.push(text.unwrap_or_default());
    }
    let mut n = Vec::with_capacity(row.len().saturating_sub(keys));
    for i in keys..row.len() {
        n.push(row.try_get::<Option<i64>, _>(i)?.unwrap_or(0));
    }
    Ok(Agg { k, n })
}

const STAGE_DIMS: Dims = Dims {
    at: "entered_at",
    responsible: Some("responsible_login"),
    channel: Some("channel"),
    source: Some("source"),
    utm_source: Some("utm_source"),
    utm_campaign: Some("utm_campaign"),
};

const INTEREST_DIMS: Dims = Dims {
    at: "closed_at",
    responsible: Some("responsible_login"),
    channel: Some("channel"),
    source: Some("source"),
    utm_source: Some("utm_source"),
    utm_campaign: Some("utm_campaign"),
};

const APPEAL_DIMS: Dims = Dims {
    at: "received_at",
    responsible: Some("responsible_login"),
    channel: Some("channel"),
    source: Some("source"),
    utm_source: Some("utm_source"),
    utm_campaign: Some("utm_campaign"),
};

const LOSS_DIMS: Dims = Dims {
    at: "decided_at",
    responsible: Some("responsible_login"),
    channel: Some("channel"),
    source: Some("source"),
    utm_source: Some("utm_source"),
    utm_campaign: Some("utm_campaign"),
};

fn call_dims(responsible: &'static str) -> Dims {
    Dims {
        at: "at",
        responsible: Some(responsible),
        channel: None,
        source: Some("channel_source"),
        utm_source: None,
        utm_campaign: None,
    }
}

fn person_dims(at: &'static str, who: &'static str) -> Dims {
    Dims {
        at,
        responsible: Some(who),
        channel: None,
        source: None,
        utm_source: None,
        utm_campaign: None,
    }
}

/// Appeals a report counts: inbound leads that were routed or wait to be.
const LEAD_APPEALS: &str = "lead = 1 AND status NOT IN ('spam', 'rejected', 'failed')";

impl Store {
    // --- facts, written when they happen ----------------------------------

    /// The first manager action on the interest's appeals that have none yet
    /// and arrived by `at`: its moment, who, and the working minutes since
    /// each appeal arrived.
    pub async fn mark_first_action(
        &self,
        conn: &mut AnyConnection,
        interest_id: i64,
        at: DateTime<Utc>,
        by: &str,
        calendar: &WorkCalendar,
    ) -> Result<()> {
        let waiting: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT id, received_at FROM appeals WHERE interest_id = $1 \
             AND first_action_at IS NULL AND lead = 1 AND received_at <= $2",
        )
        .bind(interest_id)
        .bind(to_ms(at))
        .fetch_all(&mut *conn)
        .await?;
        for (id, received_at) in waiting {
            let minutes = calendar.working_minutes(super::from_ms(received_at), at);
            sqlx::query(
                "UPDATE appeals SET first_action_at = $1, first_action_by = $2, \
                 first_action_minutes = $3 WHERE id = $4 AND first_action_at IS NULL",
            )
            .bind(to_ms(at))
            .bind(by)
            .bind(minutes)
            .bind(id)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    /// [`Store::mark_first_action`] in a transaction of its own.
    pub async fn mark_first_action_now(
        &self,
        interest_id: i64,
        by: &str,
        calendar: &WorkCalendar,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        self.mark_first_action(tx.conn(), interest_id, Utc::now(), by, calendar)
            .await?;
        tx.commit().await
    }

    /// Records a routed call once; an outbound call is the callback of the
    /// interest's missed inbound calls before it that had none.
    pub async fn log_call(
        &self,
        conn: &mut AnyConnection,
        call: &CallLogEntry<'_>,
        calendar: &WorkCalendar,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO call_log (appeal_id, interest_id, at, direction, answered, talk_secs, \
             manager_login, channel_source) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (appeal_id) DO NOTHING",
        )
        .bind(call.appeal_id)
        .bind(call.interest_id)
        .bind(to_ms(call.at))
        .bind(if call.inbound { "inbound" } else { "outbound" })
        .bind(i64::from(call.answered))
        .bind(call.talk_secs)
        .bind(call.manager)
        .bind(call.source)
        .execute(&mut *conn)
        .await?;
        if call.inbound {
            return Ok(());
        }
        let missed: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT appeal_id, at FROM call_log WHERE interest_id = $1 AND answered = 0 \
             AND callback_at IS NULL AND direction = 'inbound' AND at <= $2",
        )
        .bind(call.interest_id)
        .bind(to_ms(call.at))
        .fetch_all(&mut *conn)
        .await?;
        for (appeal_id, at) in missed {
            let minutes = calendar.working_minutes(super::from_ms(at), call.at);
            sqlx::query(
                "UPDATE call_log SET callback_at = $1, callback_by = $2, callback_minutes = $3 \
                 WHERE appeal_id = $4",
            )
            .bind(to_ms(call.at))
            .bind(call.manager)
            .bind(minutes)
            .bind(appeal_id)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    /// Logins of the users of a department.
    pub async fn logins_of_department(&self, department: &str) -> Result<Vec<String>> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT login FROM users WHERE department_id = $1 ORDER BY login")
                .bind(department)
                .fetch_all(self.pool())
                .await?;
        Ok(rows.into_iter().map(|(l,)| l).collect())
    }

    // --- funnel -------------------------------------------------------------

    /// Interests that entered each stage in the period:
    /// k = [scenario, stage], n = [interests, sum of amounts].
    pub async fn report_stage_reached(&self, f: &ReportFilter) -> Result<Vec<Agg>> {
        let mut q = Query::new(
            "SELECT scenario, stage, COUNT(DISTINCT interest_id), \
             CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM stage_entries WHERE 1 = 1",
        );
        q.filter(f, &STAGE_DIMS);
        q.push(" GROUP BY scenario, stage");
        q.rows(self, 2).await
    }

    /// Interests sitting in one of `stages` at the period's end:
    /// k = [scenario, stage], n = [interests]. Two index ranges: entries
    /// still current, and entries left only after the end.
    pub async fn report_stage_now(&self, f: &ReportFilter, stages: &[String]) -> Result<Vec<Agg>> {
        if stages.is_empty() {
            return Ok(Vec::new());
        }
        let mut out: Vec<Agg> = Vec::new();
        for current in [true, false] {
            let mut q = Query::new("SELECT scenario, stage, COUNT(*) FROM stage_entries WHERE ");
            let to = q.int(to_ms(f.to));
            if current {
                q.push(&format!("left_at IS NULL AND entered_at < {to}"));
            } else {
                q.push(&format!("left_at >= {to} AND entered_at < {to}"));
            }
            let list: Vec<String> = stages.iter().map(|s| q.text(s)).collect();
            q.push(&format!(" AND stage IN ({})", list.join(", ")));
            q.dims(f, &STAGE_DIMS);
            q.push(" GROUP BY scenario, stage");
            for row in q.rows(self, 2).await? {
                match out.iter_mut().find(|r| r.k == row.k) {
                    Some(have) => have.n[0] += row.n[0],
                    None => out.push(row),
                }
            }
        }
        Ok(out)
    }

    /// Interests closed in the period: k = [status], n = [count, revenue].
    pub async fn report_closed(&self, f: &ReportFilter) -> Result<Vec<Agg>> {
        let mut q = Query::new(
            "SELECT status, COUNT(*), CAST(COALESCE(SUM(potential_amount), 0) AS BIGINT) \
             FROM interests WHERE status IN ('won', 'lost')",
        );
        q.filter(f, &INTEREST_DIMS);
        q.push(" GROUP BY status");
        q.rows(self, 1).await
    }

    // --- lead sources -------------------------------------------------------

    /// Appeals per local day and channel: k = [day, channel], n = [appeals].
    pub async fn report_appeals_by_day(&self, f: &ReportFilter) -> Result<Vec<Agg>> {
        let mut q = Query::new("");
        let day = q.day("received_at", f);
        q.push(&format!(
            "SELECT {day} AS d, channel, COUNT(*) FROM appeals WHERE {LEAD_APPEALS}"
        ));
        q.filter(f, &APPEAL_DIMS);
        q.push(" GROUP BY d, channel");
        q.rows(self, 2).await
    }

    /// Appeals by origin: k = [channel, source, utm_source, utm_campaign],
    /// n = [appeals].
    pub async fn report_appeals_by_origin(&self, f: &ReportFilter) -> Result<Vec<Agg>> {
        let mut q = Query::new(&format!(
            "SELECT channel, source, utm_source, utm_campaign, COUNT(*) FROM appeals WHERE {LEAD_APPEALS}"
        ));
        q.filter(f, &APPEAL_DIMS);
        q.push(" GROUP BY channel, source, utm_source, utm_campaign");
        q.rows(self, 4).await
    }

    /// Interests created in the period by origin:
    /// k = [channel, source, utm_source, utm_campaign],
    /// n = [new interests, of them won, their revenue].
    pub async fn report_interests_by_origin(&self, f: &ReportFilter) -> Result<Vec<Agg>> {
        let mut q = Query::new(
            "SELECT channel, source, utm_source, utm_campaign, COUNT(*), \
             CAST(COALESCE(SUM(CASE WHEN status = 'won' THEN 1 ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN status = 'won' THEN potential_amount ELSE 0 END), 0) AS BIGINT) \
             FROM interests WHERE 1 = 1",
        );
        q.filter(
            f,
            &Dims {
                at: "created_at",
                ..INTEREST_DIMS
            },
        );
        q.push(" GROUP BY channel, source, utm_source, utm_campaign");
        q.rows(self, 4).await
    }

    // --- speed to lead ------------------------------------------------------

    /// Appeals of the period by reaction time: k = [channel, responsible,
    /// bucket] (bucket `-1` = no manager action yet), n = [appeals].
    pub async fn report_first_action(&self, f: &ReportFilter) -> Result<Vec<Agg>> {
        let bucket = bucket_sql("first_action_minutes");
        let mut q = Query::new(&format!(
            "SELECT channel, responsible_login, CASE WHEN first_action_minutes IS NULL THEN -1 \
             ELSE {bucket} END AS b, COUNT(*) FROM appeals WHERE {LEAD_APPEALS} \
             AND status IN ('linked', 'created')"
        ));
        q.filter(f, &APPEAL_DIMS);
        q.push(" GROUP BY channel, responsible_login, b");
        q.rows(self, 3).await
    }

    // --- missed calls -------------------------------------------------------

    /// Missed inbound calls per day: k = [day], n = [missed, called back,
    /// called back within 15 working minutes].
    pub async fn report_missed_by_day(&self, f: &ReportFilter) -> Result<Vec<Agg>> {
        let mut q = Query::new("");
        let day = q.day("at", f);
        q.push(&format!(
            "SELECT {day} AS d, COUNT(*), \
             CAST(COALESCE(SUM(CASE WHEN callback_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN callback_minutes <= 15 THEN 1 ELSE 0 END), 0) AS BIGINT) \
             FROM call_log WHERE direction = 'inbound' AND answered = 0"
        ));
        q.filter(f, &call_dims("manager_login"));
        q.push(" GROUP BY d");
        q.rows(self, 1).await
    }

    /// Missed inbound calls by manager and callback time: k = [manager,
    /// bucket] (`-1` = not called back), n = [calls].
    pub async fn report_missed_by_manager(&self, f: &ReportFilter) -> Result<Vec<Agg>> {
        let bucket = bucket_sql("callback_minutes");
        let mut q = Query::new(&format!(
            "SELECT manager_login, CASE WHEN callback_minutes IS NULL THEN -1 ELSE {bucket} END AS b, \
             COUNT(*) FROM call_log WHERE direction = 'inbound' AND answered = 0"
        ));
        q.filter(f, &call_dims("manager_login"));
        q.push(" GROUP BY manager_login, b");
        q.rows(self, 2).await
    }

    // --- activity -----------------------------------------------------------

    /// A manager's activity per day: k = [manager, day, metric], n = [count,
    /// seconds]. Metrics: `call_in` (answered), `call_out` (placed, with
    /// talk seconds),
    /// `meeting`, `email`, `message` (logged interactions), `sent` (messenger
    /// messages written), `task_done`, `task_overdue` (tasks due that day
    /// and not done by their due time, counted once due has passed).
    pub async fn report_activity(&self, f: &ReportFilter, now: DateTime<Utc>) -> Result<Vec<Agg>> {
        let mut out = Vec::new();
        let mut q = Query::new("");
        let day = q.day("at", f);
        q.push(&format!(
            "SELECT manager_login, {day} AS d, CASE WHEN direction = 'inbound' THEN 'call_in' ELSE 'call_out' END AS m, \
             COUNT(*), CAST(COALESCE(SUM(talk_secs), 0) AS BIGINT) FROM call_log \
             WHERE (direction = 'outbound' OR answered = 1)"
        ));
        q.filter(f, &call_dims("manager_login"));
        q.push(" AND manager_login IS NOT NULL GROUP BY manager_login, d, m");
        out.extend(q.rows(self, 3).await?);

        // Calls are counted from the call log, not from their interactions.
        let mut q = Query::new("");
        let day = q.day("done_at", f);
        q.push(&format!(
            "SELECT author, {day} AS d, kind, COUNT(*), CAST(0 AS BIGINT) FROM interactions \
             WHERE kind IN ('meeting', 'email', 'message') AND author IS NOT NULL"
        ));
        q.filter(f, &person_dims("done_at", "author"));
        q.push(" GROUP BY author, d, kind");
        out.extend(q.rows(self, 3).await?);

        let mut q = Query::new("");
        let day = q.day("created_at", f);
        q.push(&format!(
            "SELECT author, {day} AS d, CAST('sent' AS TEXT), COUNT(*), CAST(0 AS BIGINT) FROM messenger_outbox \
             WHERE author IS NOT NULL AND kind = 'reply'"
        ));
        q.filter(f, &person_dims("created_at", "author"));
        q.push(" GROUP BY author, d");
        out.extend(q.rows(self, 3).await?);

        let mut q = Query::new("");
        let day = q.day("done_at", f);
        q.push(&format!(
            "SELECT done_by, {day} AS d, CAST('task_done' AS TEXT), COUNT(*), CAST(0 AS BIGINT) FROM tasks \
             WHERE status = 'done' AND done_by IS NOT NULL AND done_by <> 'leadgate'"
        ));
        q.filter(f, &person_dims("done_at", "done_by"));
        q.push(" GROUP BY done_by, d");
        out.extend(q.rows(self, 3).await?);

        let mut q = Query::new("");
        let day = q.day("due_at", f);
        let now = q.int(to_ms(now));
        q.push(&format!(
            "SELECT assignee_login, {day} AS d, CAST('task_overdue' AS TEXT), COUNT(*), CAST(0 AS BIGINT) FROM tasks \
             WHERE assignee_login IS NOT NULL AND due_at < {now} \
             AND (done_at IS NULL OR done_at > due_at)"
        ));
        q.filter(f, &person_dims("due_at", "assignee_login"));
        q.push(" GROUP BY assignee_login, d");
        out.extend(q.rows(self, 3).await?);
        Ok(out)
    }

    // --- losses -------------------------------------------------------------

    /// Decisions on losses in the period: k = [reason, from_stage, state]
    /// (`lost`, `approved`, `returned`), n = [interests, amounts].
    pub async fn report_losses(&self, f: &ReportFilter) -> Result<Vec<Agg>> {
        let mut q = Query::new(
            "SELECT reason, from_stage, state, COUNT(*), CAST(COALESCE(SUM(amount), 0) AS BIGINT) \
             FROM losses WHERE state <> 'pending'",
        );
        q.filter(f, &LOSS_DIMS);
        q.push(" GROUP BY reason, from_stage, state");
        q.rows(self, 3).await
    }

    /// Losses waiting for the head now: k = [reason], n = [interests].
    pub async fn report_losses_pending(&self, f: &ReportFilter) -> Result<Vec<Agg>> {
        let mut q = Query::new("SELECT reason, COUNT(*) FROM losses WHERE state = 'pending'");
        q.dims(f, &LOSS_DIMS);
        q.push(" GROUP BY reason");
        q.rows(self, 1).await
    }

    // --- review queue -------------------------------------------------------

    /// The open queue now by age: k = [bucket of minutes waiting],
    /// n = [items].
    pub async fn report_review_open(
        &self,
        f: &ReportFilter,
        now: DateTime<Utc>,
    ) -> Result<Vec<Agg>> {
        let mut q = Query::new("");
        let now = q.int(to_ms(now));
        let age = format!("(({now} - r.created_at) / 60000)");
        let bucket = bucket_sql(&age);
        q.push(&format!(
            "SELECT {bucket} AS b, COUNT(*) FROM review_items r JOIN appeals a ON a.id = r.appeal_id \
             WHERE r.decided_at IS NULL"
        ));
        q.dims(f, &review_dims());
        q.push(" GROUP BY b");
        q.rows(self, 1).await
    }

    /// Items that entered the queue in the period: n = [items].
    pub async fn report_review_created(&self, f: &ReportFilter) -> Result<Vec<Agg>> {
        let mut q = Query::new(
            "SELECT COUNT(*) FROM review_items r JOIN appeals a ON a.id = r.appeal_id WHERE 1 = 1",
        );
        q.filter(
            f,
            &Dims {
                at: "r.created_at",
                ..review_dims()
            },
        );
        q.rows(self, 0).await
    }

    /// Decisions in the period: k = [action, bucket of wall-clock minutes
    /// from the appeal's arrival to the decision], n = [items].
    pub async fn report_review_decided(&self, f: &ReportFilter) -> Result<Vec<Agg>> {
        let bucket = bucket_sql("((r.decided_at - a.received_at) / 60000)");
        let mut q = Query::new(&format!(
            "SELECT r.decided_action, {bucket} AS b, COUNT(*) FROM review_items r \
             JOIN appeals a ON a.id = r.appeal_id WHERE r.decided_at IS NOT NULL"
        ));
        q.filter(
            f,
            &Dims {
                at: "r.decided_at",
                ..review_dims()
            },
        );
        q.push(" GROUP BY r.decided_action, b");
        q.rows(self, 2).await
    }
}

/// The review queue has no responsible manager: only the appeal's origin
/// filters apply.
fn review_dims() -> Dims {
    Dims {
        at: "r.created_at",
        responsible: None,
        channel: Some("a.channel"),
        source: Some("a.source"),
        utm_source: Some("a.utm_source"),
        utm_campaign: Some("a.utm_campaign"),
    }
}
