//! The reports' facts and their aggregates. Facts are written when they
//! happen (the first manager action on an appeal in working minutes, calls
//! and their callbacks, stage entries, losses), and triggers keep rollups of
//! them per local day (migration `0020_report_rollups`) in the transaction
//! of every change. A report reads the rollups for the whole local days of
//! its period (and the blocks of 32 days where it groups by minutes) and the
//! raw rows, over their time index, only for the partial days at its edges:
//! a year is a few thousand rollup rows, never a million facts.
//!
//! Every query returns [`Agg`] rows: the group's keys as text (`""` for
//! NULL) and its figures as integers, in the order the method documents.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::rollup_sql::{ROLLUP_BACKFILL, ROLLUP_TABLES};
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

/// The activity report's groups (see [`Store::report_activity`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivityRows {
    pub by_manager: Vec<Agg>,
    pub by_day: Vec<Agg>,
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

/// Days per block of the `*_blocks` rollups (as in migration 0020).
const BLOCK_DAYS: i64 = 32;

/// Columns of a fact table (or its rollup) the filter applies to;
/// `None` = not applicable.
#[derive(Clone, Copy)]
struct Dims {
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

    /// ` AND lo <= col < hi` (no upper bound for `i64::MAX`).
    fn range(&mut self, col: &str, lo: i64, hi: i64) {
        let lo = self.int(lo);
        self.sql.push_str(&format!(" AND {col} >= {lo}"));
        if hi != i64::MAX {
            let hi = self.int(hi);
            self.sql.push_str(&format!(" AND {col} < {hi}"));
        }
    }

    /// ` AND` conditions for every filter that applies to the table.
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

/// Interests, appeals, stage entries, losses and their rollups carry the
/// same dimensions under the same names.
const ORIGIN_DIMS: Dims = Dims {
    responsible: Some("responsible_login"),
    channel: Some("channel"),
    source: Some("source"),
    utm_source: Some("utm_source"),
    utm_campaign: Some("utm_campaign"),
};

/// Calls (and their rollups): the manager and the PBX account.
const CALL_DIMS: Dims = Dims {
    responsible: Some("manager_login"),
    channel: None,
    source: Some("channel_source"),
    utm_source: None,
    utm_campaign: None,
};

fn person_dims(who: &'static str) -> Dims {
    Dims {
        responsible: Some(who),
        channel: None,
        source: None,
        utm_source: None,
        utm_campaign: None,
    }
}

/// Appeals a report counts: inbound leads that were routed or wait to be.
const LEAD_APPEALS: &str = "lead = 1 AND status NOT IN ('spam', 'rejected', 'failed')";

// --- how a period is read --------------------------------------------------

/// A period cut for the rollups: the raw rows of the partial local days at
/// its edges (ms ranges), the whole days in between, and of those the whole
/// blocks of [`BLOCK_DAYS`] days (for rollups that have blocks).
#[derive(Debug, Default, PartialEq, Eq)]
struct Cut {
    raw: Vec<(i64, i64)>,
    days: Vec<(i64, i64)>,
    blocks: Vec<(i64, i64)>,
}

/// Cuts `[from, to)` (`to` = `i64::MAX`: from then on) at the local
/// midnights of `zone` (the rollups' offset); without a zone, all raw.
fn cut(from: i64, to: i64, zone: Option<i64>, blocks: bool) -> Cut {
    let raw_only = Cut {
        raw: vec![(from, to)],
        ..Cut::default()
    };
    let Some(zone) = zone else {
        return raw_only;
    };
    let first = (from.saturating_add(zone) + DAY_MS - 1).div_euclid(DAY_MS);
    let last = if to == i64::MAX {
        i64::MAX
    } else {
        to.saturating_add(zone).div_euclid(DAY_MS)
    };
    if first >= last || from >= to {
        return raw_only;
    }
    let start = first * DAY_MS - zone;
    let end = if last == i64::MAX {
        i64::MAX
    } else {
        last * DAY_MS - zone
    };
    let mut out = Cut::default();
    if from < start {
        out.raw.push((from, start));
    }
    if end < to {
        out.raw.push((end, to));
    }
    let b1 = (first + BLOCK_DAYS - 1).div_euclid(BLOCK_DAYS);
    let b2 = if last == i64::MAX {
        i64::MAX
    } else {
        last.div_euclid(BLOCK_DAYS)
    };
    if blocks && b1 < b2 {
        out.blocks.push((b1, b2));
        if first < b1 * BLOCK_DAYS {
            out.days.push((first, b1 * BLOCK_DAYS));
        }
        if b2 != i64::MAX && b2 * BLOCK_DAYS < last {
            out.days.push((b2 * BLOCK_DAYS, last));
        }
    } else {
        out.days.push((first, last));
    }
    out
}

/// Sums rows with equal keys; drops groups whose figures are all zero (a
/// raw query never returns one; rollups keep rows a change brought to zero).
fn merge(parts: Vec<Agg>) -> Vec<Agg> {
    let mut out: BTreeMap<Vec<String>, Vec<i64>> = BTreeMap::new();
    for row in parts {
        let have = out.entry(row.k).or_insert_with(|| vec![0; row.n.len()]);
        for (h, v) in have.iter_mut().zip(row.n) {
            *h += v;
        }
    }
    out.into_iter()
        .filter(|(_, n)| n.iter().any(|v| *v != 0))
        .map(|(k, n)| Agg { k, n })
        .collect()
}

/// Rollup levels: the table suffix and its key column.
#[derive(Clone, Copy)]
enum Level {
    Days,
    Blocks,
}

impl Level {
    fn col(self) -> &'static str {
        match self {
            Level::Days => "day",
            Level::Blocks => "block",
        }
    }

    /// `rollup_reaction` → `rollup_reaction_days` / `rollup_reaction_blocks`.
    fn table(self, base: &str) -> String {
        format!("{base}_{}s", self.col())
    }
}

impl Store {
    /// The rollups' day offset while they are kept (`live`); `None` while a
    /// bulk load has paused them, and reports read raw rows only.
    async fn rollup_zone(&self) -> Result<Option<i64>> {
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT offset_ms, live FROM report_zone WHERE id = 1")
                .fetch_optional(self.pool())
                .await?;
        Ok(row.and_then(|(offset, live)| (live == 1).then_some(offset)))
    }

    /// Reads `[from, to)`: `raw(lo, hi)` over the partial days at the edges,
    /// `rollup(level, lo, hi)` over whole days (and blocks when `blocks`),
    /// summed by key. A report keyed by local day uses the rollups only when
    /// its days are theirs (the zone's offset at the period's start equals
    /// the rollups' offset; else it reads raw rows, exact but slower).
    #[allow(clippy::too_many_arguments)]
    async fn read(
        &self,
        f: &ReportFilter,
        from: i64,
        to: i64,
        keys: usize,
        by_day: bool,
        blocks: bool,
        raw: &(dyn Fn(i64, i64) -> Vec<Query> + Sync),
        rollup: &(dyn Fn(Level, i64, i64) -> Query + Sync),
    ) -> Result<Vec<Agg>> {
        let zone = self
            .rollup_zone()
            .await?
            .filter(|z| !by_day || *z == f.offset_ms);
        let cut = cut(from, to, zone, blocks);
        let mut rows = Vec::new();
        for (lo, hi) in cut.raw {
            for q in raw(lo, hi) {
                rows.extend(q.rows(self, keys).await?);
            }
        }
        for (lo, hi) in cut.days {
            rows.extend(rollup(Level::Days, lo, hi).rows(self, keys).await?);
        }
        for (lo, hi) in cut.blocks {
            rows.extend(rollup(Level::Blocks, lo, hi).rows(self, keys).await?);
        }
        Ok(merge(rows))
    }

    /// Sets the rollups' day offset (the configured zone's, at start) and
    /// rebuilds them from the facts when it changed or they were paused.
    /// Returns whether it rebuilt.
    pub async fn sync_report_rollups(&self, offset_ms: i64) -> Result<bool> {
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT offset_ms, live FROM report_zone WHERE id = 1")
                .fetch_optional(self.pool())
                .await?;
        if row == Some((offset_ms, 1)) {
            return Ok(false);
        }
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE report_zone SET offset_ms = $1, live = 1 WHERE id = 1")
            .bind(offset_ms)
            .execute(tx.conn())
            .await?;
        for table in ROLLUP_TABLES {
            sqlx::query(&format!("DELETE FROM {table}"))
                .execute(tx.conn())
                .await?;
        }
        for statement in ROLLUP_BACKFILL {
            sqlx::query(statement).execute(tx.conn()).await?;
        }
        tx.commit().await?;
        // Fresh statistics, so the planner reads the small rollups by day.
        for table in ROLLUP_TABLES {
            sqlx::query(&format!("ANALYZE {table}"))
                .execute(self.pool())
                .await?;
        }
        Ok(true)
    }

    /// Stops the triggers that keep the rollups, for a bulk load that calls
    /// [`Store::sync_report_rollups`] afterwards; reports read raw rows
    /// meanwhile.
    pub async fn pause_report_rollups(&self) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE report_zone SET live = 0 WHERE id = 1")
            .execute(tx.conn())
            .await?;
        tx.commit().await
    }

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
    /// k = [scenario, stage], n = [interests, sum of amounts of the entries].
    /// Entries are summed from the rollup; an interest that entered a stage
    /// twice in the period is counted once by a correction over the few
    /// entries marked `repeated`.
    pub async fn report_stage_reached(&self, f: &ReportFilter) -> Result<Vec<Agg>> {
        let raw = |lo, hi| {
            let mut q = Query::new(
                "SELECT scenario, stage, COUNT(*), CAST(COALESCE(SUM(amount), 0) AS BIGINT) \
                 FROM stage_entries WHERE 1 = 1",
            );
            q.range("entered_at", lo, hi);
            q.dims(f, &ORIGIN_DIMS);
            q.push(" GROUP BY scenario, stage");
            vec![q]
        };
        let rollup = |level: Level, lo, hi| {
            let mut q = Query::new(&format!(
                "SELECT scenario, stage, CAST(SUM(entered) AS BIGINT), CAST(SUM(amount) AS BIGINT) \
                 FROM {} WHERE 1 = 1",
                level.table("rollup_stage")
            ));
            q.range(level.col(), lo, hi);
            q.dims(f, &ORIGIN_DIMS);
            q.push(" GROUP BY scenario, stage");
            q
        };
        let (from, to) = (to_ms(f.from), to_ms(f.to));
        let mut rows = self
            .read(f, from, to, 2, false, false, &raw, &rollup)
            .await?;
        let mut q = Query::new(
            "SELECT scenario, stage, COUNT(*) - COUNT(DISTINCT interest_id), CAST(0 AS BIGINT) \
             FROM stage_entries WHERE repeated = 1",
        );
        q.range("entered_at", from, to);
        q.dims(f, &ORIGIN_DIMS);
        q.push(" GROUP BY scenario, stage");
        for mut extra in q.rows(self, 2).await? {
            extra.n[0] = -extra.n[0];
            rows.push(extra);
        }
        Ok(merge(rows))
    }

    /// Interests sitting in one of `stages` at the period's end:
    /// k = [scenario, stage], n = [interests]: the entries not left now,
    /// less those entered since the end, plus those left since the end.
    pub async fn report_stage_now(&self, f: &ReportFilter, stages: &[String]) -> Result<Vec<Agg>> {
        if stages.is_empty() {
            return Ok(Vec::new());
        }
        let stage_in = |q: &mut Query| {
            let list: Vec<String> = stages.iter().map(|s| q.text(s)).collect();
            q.push(&format!(" AND stage IN ({})", list.join(", ")));
        };
        if self.rollup_zone().await?.is_none() {
            return self.report_stage_now_raw(f, &stage_in).await;
        }
        let mut q = Query::new(
            "SELECT scenario, stage, CAST(SUM(n) AS BIGINT), CAST(0 AS BIGINT) \
             FROM rollup_stage_current WHERE 1 = 1",
        );
        stage_in(&mut q);
        q.dims(f, &ORIGIN_DIMS);
        q.push(" GROUP BY scenario, stage");
        let mut rows = q.rows(self, 2).await?;
        // Since the end: n = [entered, left].
        let raw = |lo, hi| {
            ["entered_at", "left_at"]
                .iter()
                .enumerate()
                .map(|(i, col)| {
                    let counted = ["COUNT(*), CAST(0 AS BIGINT)", "CAST(0 AS BIGINT), COUNT(*)"][i];
                    let mut q = Query::new(&format!(
                        "SELECT scenario, stage, {counted} FROM stage_entries WHERE 1 = 1"
                    ));
                    q.range(col, lo, hi);
                    stage_in(&mut q);
                    q.dims(f, &ORIGIN_DIMS);
                    q.push(" GROUP BY scenario, stage");
                    q
                })
                .collect()
        };
        let rollup = |level: Level, lo, hi| {
            let mut q = Query::new(&format!(
                "SELECT scenario, stage, CAST(SUM(entered) AS BIGINT), CAST(SUM(left_n) AS BIGINT) \
                 FROM {} WHERE 1 = 1",
                level.table("rollup_stage")
            ));
            q.range(level.col(), lo, hi);
            stage_in(&mut q);
            q.dims(f, &ORIGIN_DIMS);
            q.push(" GROUP BY scenario, stage");
            q
        };
        let after = self
            .read(f, to_ms(f.to), i64::MAX, 2, false, false, &raw, &rollup)
            .await?;
        for row in after {
            rows.push(Agg {
                k: row.k,
                n: vec![row.n[1] - row.n[0], 0],
            });
        }
        Ok(merge(rows)
            .into_iter()
            .map(|mut r| {
                r.n.truncate(1);
                r
            })
            .collect())
    }

    /// [`Store::report_stage_now`] from the entries themselves, while the
    /// rollups are paused.
    async fn report_stage_now_raw(
        &self,
        f: &ReportFilter,
        stage_in: &(dyn Fn(&mut Query) + Sync),
    ) -> Result<Vec<Agg>> {
        let mut rows = Vec::new();
        for current in [true, false] {
            let mut q = Query::new("SELECT scenario, stage, COUNT(*) FROM stage_entries WHERE ");
            let to = q.int(to_ms(f.to));
            if current {
                q.push(&format!("left_at IS NULL AND entered_at < {to}"));
            } else {
                q.push(&format!("left_at >= {to} AND entered_at < {to}"));
            }
            stage_in(&mut q);
            q.dims(f, &ORIGIN_DIMS);
            q.push(" GROUP BY scenario, stage");
            rows.extend(q.rows(self, 2).await?);
        }
        Ok(merge(rows))
    }

    /// Interests closed in the period: k = [status], n = [count, revenue].
    pub async fn report_closed(&self, f: &ReportFilter) -> Result<Vec<Agg>> {
        let raw = |lo, hi| {
            let mut q = Query::new(
                "SELECT status, COUNT(*), CAST(COALESCE(SUM(potential_amount), 0) AS BIGINT) \
                 FROM interests WHERE status IN ('won', 'lost')",
            );
            q.range("closed_at", lo, hi);
            q.dims(f, &ORIGIN_DIMS);
            q.push(" GROUP BY status");
            vec![q]
        };
        let rollup = |level: Level, lo, hi| {
            let mut q = Query::new(&format!(
                "SELECT status, CAST(SUM(n) AS BIGINT), CAST(SUM(amount) AS BIGINT) FROM {} \
                 WHERE 1 = 1",
                level.table("rollup_closed")
            ));
            q.range(level.col(), lo, hi);
            q.dims(f, &ORIGIN_DIMS);
            q.push(" GROUP BY status");
            q
        };
        self.read(
            f,
            to_ms(f.from),
            to_ms(f.to),
            1,
            false,
            false,
            &raw,
            &rollup,
        )
        .await
    }

    // --- lead sources -------------------------------------------------------

    /// Appeals per local day and channel: k = [day, channel], n = [appeals].
    pub async fn report_appeals_by_day(&self, f: &ReportFilter) -> Result<Vec<Agg>> {
        let raw = |lo, hi| {
            let mut q = Query::new("");
            let day = q.day("received_at", f);
            q.push(&format!(
                "SELECT {day} AS d, channel, COUNT(*) FROM appeals WHERE {LEAD_APPEALS}"
            ));
            q.range("received_at", lo, hi);
            q.dims(f, &ORIGIN_DIMS);
            q.push(" GROUP BY d, channel");
            vec![q]
        };
        let rollup = |level: Level, lo, hi| {
            let mut q = Query::new(&format!(
                "SELECT day, channel, CAST(SUM(n) AS BIGINT) FROM {} WHERE 1 = 1",
                level.table("rollup_appeal")
            ));
            q.range(level.col(), lo, hi);
            q.dims(f, &ORIGIN_DIMS);
            q.push(" GROUP BY day, channel");
            q
        };
        self.read(f, to_ms(f.from), to_ms(f.to), 2, true, false, &raw, &rollup)
            .await
    }

    /// Appeals by origin: k = [channel, source, utm_source, utm_campaign],
    /// n = [appeals].
    pub async fn report_appeals_by_origin(&self, f: &ReportFilter) -> Result<Vec<Agg>> {
        let raw = |lo, hi| {
            let mut q = Query::new(&format!(
                "SELECT channel, source, utm_source, utm_campaign, COUNT(*) FROM appeals \
                 WHERE {LEAD_APPEALS}"
            ));
            q.range("received_at", lo, hi);
            q.dims(f, &ORIGIN_DIMS);
            q.push(" GROUP BY channel, source, utm_source, utm_campaign");
            vec![q]
        };
        let rollup = |level: Level, lo, hi| {
            let mut q = Query::new(&format!(
                "SELECT channel, source, utm_source, utm_campaign, CAST(SUM(n) AS BIGINT) \
                 FROM {} WHERE 1 = 1",
                level.table("rollup_appeal")
            ));
            q.range(level.col(), lo, hi);
            q.dims(f, &ORIGIN_DIMS);
            q.push(" GROUP BY channel, source, utm_source, utm_campaign");
            q
        };
        self.read(
            f,
            to_ms(f.from),
            to_ms(f.to),
            4,
            false,
            false,
            &raw,
            &rollup,
        )
        .await
    }

    /// Interests created in the period by origin:
    /// k = [channel, source, utm_source, utm_campaign],
    /// n = [new interests, of them won, their revenue].
    pub async fn report_interests_by_origin(&self, f: &ReportFilter) -> Result<Vec<Agg>> {
        let raw = |lo, hi| {
            let mut q = Query::new(
                "SELECT channel, source, utm_source, utm_campaign, COUNT(*), \
                 CAST(COALESCE(SUM(CASE WHEN status = 'won' THEN 1 ELSE 0 END), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(CASE WHEN status = 'won' THEN potential_amount ELSE 0 END), 0) AS BIGINT) \
                 FROM interests WHERE 1 = 1",
            );
            q.range("created_at", lo, hi);
            q.dims(f, &ORIGIN_DIMS);
            q.push(" GROUP BY channel, source, utm_source, utm_campaign");
            vec![q]
        };
        let rollup = |level: Level, lo, hi| {
            let mut q = Query::new(&format!(
                "SELECT channel, source, utm_source, utm_campaign, CAST(SUM(created) AS BIGINT), \
                 CAST(SUM(won) AS BIGINT), CAST(SUM(won_amount) AS BIGINT) FROM {} WHERE 1 = 1",
                level.table("rollup_interest")
            ));
            q.range(level.col(), lo, hi);
            q.dims(f, &ORIGIN_DIMS);
            q.push(" GROUP BY channel, source, utm_source, utm_campaign");
            q
        };
        self.read(
            f,
            to_ms(f.from),
            to_ms(f.to),
            4,
            false,
            false,
            &raw,
            &rollup,
        )
        .await
    }

    // --- speed to lead ------------------------------------------------------

    /// Appeals of the period by reaction time: k = [channel, responsible,
    /// bucket] (bucket `-1` = no manager action yet), n = [appeals].
    pub async fn report_first_action(&self, f: &ReportFilter) -> Result<Vec<Agg>> {
        let raw = |lo, hi| {
            let bucket = bucket_sql("first_action_minutes");
            let mut q = Query::new(&format!(
                "SELECT channel, responsible_login, CASE WHEN first_action_minutes IS NULL THEN -1 \
                 ELSE {bucket} END AS b, COUNT(*) FROM appeals WHERE {LEAD_APPEALS} \
                 AND status IN ('linked', 'created')"
            ));
            q.range("received_at", lo, hi);
            q.dims(f, &ORIGIN_DIMS);
            q.push(" GROUP BY channel, responsible_login, b");
            vec![q]
        };
        let rollup = |level: Level, lo, hi| {
            let mut q = Query::new(&format!(
                "SELECT channel, responsible_login, bucket, CAST(SUM(n) AS BIGINT) FROM {} \
                 WHERE 1 = 1",
                level.table("rollup_reaction")
            ));
            q.range(level.col(), lo, hi);
            q.dims(f, &ORIGIN_DIMS);
            q.push(" GROUP BY channel, responsible_login, bucket");
            q
        };
        self.read(f, to_ms(f.from), to_ms(f.to), 3, false, true, &raw, &rollup)
            .await
    }

    // --- missed calls -------------------------------------------------------

    /// Missed inbound calls per day: k = [day], n = [missed, called back,
    /// called back within 15 working minutes].
    pub async fn report_missed_by_day(&self, f: &ReportFilter) -> Result<Vec<Agg>> {
        let raw = |lo, hi| {
            let mut q = Query::new("");
            let day = q.day("at", f);
            q.push(&format!(
                "SELECT {day} AS d, COUNT(*), \
                 CAST(COALESCE(SUM(CASE WHEN callback_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(CASE WHEN callback_minutes <= 15 THEN 1 ELSE 0 END), 0) AS BIGINT) \
                 FROM call_log WHERE direction = 'inbound' AND answered = 0"
            ));
            q.range("at", lo, hi);
            q.dims(f, &CALL_DIMS);
            q.push(" GROUP BY d");
            vec![q]
        };
        let rollup = |level: Level, lo, hi| {
            let mut q = Query::new(&format!(
                "SELECT day, CAST(SUM(n) AS BIGINT), CAST(SUM(called_back) AS BIGINT), \
                 CAST(SUM(within_15) AS BIGINT) FROM {} WHERE 1 = 1",
                level.table("rollup_missed")
            ));
            q.range(level.col(), lo, hi);
            q.dims(f, &CALL_DIMS);
            q.push(" GROUP BY day");
            q
        };
        self.read(f, to_ms(f.from), to_ms(f.to), 1, true, false, &raw, &rollup)
            .await
    }

    /// Missed inbound calls by manager and callback time: k = [manager,
    /// bucket] (`-1` = not called back), n = [calls].
    pub async fn report_missed_by_manager(&self, f: &ReportFilter) -> Result<Vec<Agg>> {
        let raw = |lo, hi| {
            let bucket = bucket_sql("callback_minutes");
            let mut q = Query::new(&format!(
                "SELECT manager_login, CASE WHEN callback_minutes IS NULL THEN -1 ELSE {bucket} END AS b, \
                 COUNT(*) FROM call_log WHERE direction = 'inbound' AND answered = 0"
            ));
            q.range("at", lo, hi);
            q.dims(f, &CALL_DIMS);
            q.push(" GROUP BY manager_login, b");
            vec![q]
        };
        let rollup = |level: Level, lo, hi| {
            let mut q = Query::new(&format!(
                "SELECT manager_login, bucket, CAST(SUM(n) AS BIGINT) FROM {} WHERE 1 = 1",
                level.table("rollup_callback")
            ));
            q.range(level.col(), lo, hi);
            q.dims(f, &CALL_DIMS);
            q.push(" GROUP BY manager_login, bucket");
            q
        };
        self.read(f, to_ms(f.from), to_ms(f.to), 2, false, true, &raw, &rollup)
            .await
    }

    // --- activity -----------------------------------------------------------

    /// A manager's activity: per manager (k = [manager, metric], n = [count,
    /// seconds]) and per day (k = [day, metric], n = [count, seconds]) over
    /// the period. Metrics: `call_in` (answered), `call_out` (placed, with
    /// talk seconds), `meeting`, `email`, `message` (logged interactions),
    /// `sent` (messenger messages written), `task_done`, `task_overdue`
    /// (tasks due that day and not done by their due time, counted once due
    /// has passed). Grouped both ways in the database: a year is a few
    /// thousand rows, not one per manager and day.
    pub async fn report_activity(
        &self,
        f: &ReportFilter,
        now: DateTime<Utc>,
    ) -> Result<ActivityRows> {
        let raw = |lo, hi| {
            let mut out = Vec::new();
            let mut q = Query::new("");
            let day = q.day("at", f);
            q.push(&format!(
                "SELECT manager_login, {day} AS d, CASE WHEN direction = 'inbound' THEN 'call_in' ELSE 'call_out' END AS m, \
                 COUNT(*), CAST(COALESCE(SUM(talk_secs), 0) AS BIGINT) FROM call_log \
                 WHERE (direction = 'outbound' OR answered = 1)"
            ));
            q.range("at", lo, hi);
            q.dims(f, &CALL_DIMS);
            q.push(" AND manager_login IS NOT NULL GROUP BY manager_login, d, m");
            out.push(q);

            // Calls are counted from the call log, not from their interactions.
            let mut q = Query::new("");
            let day = q.day("done_at", f);
            q.push(&format!(
                "SELECT author, {day} AS d, kind, COUNT(*), CAST(0 AS BIGINT) FROM interactions \
                 WHERE kind IN ('meeting', 'email', 'message') AND author IS NOT NULL"
            ));
            q.range("done_at", lo, hi);
            q.dims(f, &person_dims("author"));
            q.push(" GROUP BY author, d, kind");
            out.push(q);

            let mut q = Query::new("");
            let day = q.day("created_at", f);
            q.push(&format!(
                "SELECT author, {day} AS d, CAST('sent' AS TEXT), COUNT(*), CAST(0 AS BIGINT) FROM messenger_outbox \
                 WHERE author IS NOT NULL AND kind = 'reply'"
            ));
            q.range("created_at", lo, hi);
            q.dims(f, &person_dims("author"));
            q.push(" GROUP BY author, d");
            out.push(q);

            let mut q = Query::new("");
            let day = q.day("done_at", f);
            q.push(&format!(
                "SELECT done_by, {day} AS d, CAST('task_done' AS TEXT), COUNT(*), CAST(0 AS BIGINT) FROM tasks \
                 WHERE status = 'done' AND done_by IS NOT NULL AND done_by <> 'leadgate'"
            ));
            q.range("done_at", lo, hi);
            q.dims(f, &person_dims("done_by"));
            q.push(" GROUP BY done_by, d");
            out.push(q);
            out
        };
        // Calls are filtered by their PBX account; the rest has none.
        let rollup_where = |q: &mut Query, lo, hi| {
            q.range("day", lo, hi);
            q.dims(f, &person_dims("manager_login"));
            if let Some(source) = &f.source {
                let p = q.text(source);
                q.push(&format!(
                    " AND (metric NOT IN ('call_in', 'call_out') OR channel_source = {p})"
                ));
            }
        };
        let (from, to) = (to_ms(f.from), to_ms(f.to));
        let until = to.min(to_ms(now));
        let mut out = self
            .activity_rows(f, from, to, &raw, &rollup_where, "metric <> 'task_overdue'")
            .await?;
        // Overdue counts only what fell due before now: the period up to now.
        let overdue_raw = |lo, hi| {
            let mut q = Query::new("");
            let day = q.day("due_at", f);
            q.push(&format!(
                "SELECT assignee_login, {day} AS d, CAST('task_overdue' AS TEXT), COUNT(*), CAST(0 AS BIGINT) FROM tasks \
                 WHERE assignee_login IS NOT NULL AND (done_at IS NULL OR done_at > due_at)"
            ));
            q.range("due_at", lo, hi);
            q.dims(f, &person_dims("assignee_login"));
            q.push(" GROUP BY assignee_login, d");
            vec![q]
        };
        let overdue_where = |q: &mut Query, lo, hi| {
            q.range("day", lo, hi);
            q.dims(f, &person_dims("manager_login"));
        };
        if from < until {
            let overdue = self
                .activity_rows(
                    f,
                    from,
                    until,
                    &overdue_raw,
                    &overdue_where,
                    "metric = 'task_overdue'",
                )
                .await?;
            out.by_manager.extend(overdue.by_manager);
            out.by_day.extend(overdue.by_day);
        }
        Ok(out)
    }

    /// Activity over `[from, to)`: the rollup grouped per manager and per
    /// day where `metric_cond`, the raw rows of the partial days folded into
    /// both groupings.
    async fn activity_rows(
        &self,
        f: &ReportFilter,
        from: i64,
        to: i64,
        raw: &(dyn Fn(i64, i64) -> Vec<Query> + Sync),
        rollup_where: &(dyn Fn(&mut Query, i64, i64) + Sync),
        metric_cond: &str,
    ) -> Result<ActivityRows> {
        let zone = self.rollup_zone().await?.filter(|z| *z == f.offset_ms);
        let cut = cut(from, to, zone, false);
        let (mut by_manager, mut by_day) = (Vec::new(), Vec::new());
        for (lo, hi) in cut.raw {
            for q in raw(lo, hi) {
                for r in q.rows(self, 3).await? {
                    by_manager.push(Agg {
                        k: vec![r.k[0].clone(), r.k[2].clone()],
                        n: r.n.clone(),
                    });
                    by_day.push(Agg {
                        k: vec![r.k[1].clone(), r.k[2].clone()],
                        n: r.n,
                    });
                }
            }
        }
        for (lo, hi) in cut.days {
            for (keys, out) in [("manager_login", &mut by_manager), ("day", &mut by_day)] {
                let mut q = Query::new(&format!(
                    "SELECT {keys}, metric, CAST(SUM(n) AS BIGINT), CAST(SUM(secs) AS BIGINT) \
                     FROM rollup_activity_days WHERE {metric_cond}"
                ));
                rollup_where(&mut q, lo, hi);
                q.push(&format!(" GROUP BY {keys}, metric"));
                out.extend(q.rows(self, 2).await?);
            }
        }
        Ok(ActivityRows {
            by_manager: merge(by_manager),
            by_day: merge(by_day),
        })
    }

    // --- losses -------------------------------------------------------------

    /// Decisions on losses in the period: k = [reason, from_stage, state]
    /// (`lost`, `approved`, `returned`), n = [interests, amounts].
    pub async fn report_losses(&self, f: &ReportFilter) -> Result<Vec<Agg>> {
        let raw = |lo, hi| {
            let mut q = Query::new(
                "SELECT reason, from_stage, state, COUNT(*), CAST(COALESCE(SUM(amount), 0) AS BIGINT) \
                 FROM losses WHERE state <> 'pending'",
            );
            q.range("decided_at", lo, hi);
            q.dims(f, &ORIGIN_DIMS);
            q.push(" GROUP BY reason, from_stage, state");
            vec![q]
        };
        let rollup = |level: Level, lo, hi| {
            let mut q = Query::new(&format!(
                "SELECT reason, from_stage, state, CAST(SUM(n) AS BIGINT), CAST(SUM(amount) AS BIGINT) \
                 FROM {} WHERE 1 = 1",
                level.table("rollup_loss")
            ));
            q.range(level.col(), lo, hi);
            q.dims(f, &ORIGIN_DIMS);
            q.push(" GROUP BY reason, from_stage, state");
            q
        };
        self.read(
            f,
            to_ms(f.from),
            to_ms(f.to),
            3,
            false,
            false,
            &raw,
            &rollup,
        )
        .await
    }

    /// Losses waiting for the head now: k = [reason], n = [interests].
    pub async fn report_losses_pending(&self, f: &ReportFilter) -> Result<Vec<Agg>> {
        let mut q = Query::new("SELECT reason, COUNT(*) FROM losses WHERE state = 'pending'");
        q.dims(f, &ORIGIN_DIMS);
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
            "SELECT {bucket} AS b, COUNT(*) FROM review_items r WHERE r.decided_at IS NULL"
        ));
        q.dims(f, &REVIEW_DIMS);
        q.push(" GROUP BY b");
        q.rows(self, 1).await
    }

    /// Items that entered the queue in the period: n = [items].
    pub async fn report_review_created(&self, f: &ReportFilter) -> Result<Vec<Agg>> {
        let mut q = Query::new("SELECT COUNT(*) FROM review_items r WHERE 1 = 1");
        q.range("r.created_at", to_ms(f.from), to_ms(f.to));
        q.dims(f, &REVIEW_DIMS);
        q.rows(self, 0).await
    }

    /// Decisions in the period: k = [action, bucket of wall-clock minutes
    /// from the appeal's arrival to the decision], n = [items].
    pub async fn report_review_decided(&self, f: &ReportFilter) -> Result<Vec<Agg>> {
        let bucket = bucket_sql("((r.decided_at - r.received_at) / 60000)");
        let mut q = Query::new(&format!(
            "SELECT r.decided_action, {bucket} AS b, COUNT(*) FROM review_items r \
             WHERE r.decided_at IS NOT NULL"
        ));
        q.range("r.decided_at", to_ms(f.from), to_ms(f.to));
        q.dims(f, &REVIEW_DIMS);
        q.push(" GROUP BY r.decided_action, b");
        q.rows(self, 2).await
    }
}

/// The review queue has no responsible manager: only the appeal's origin
/// (copied onto the item) filters apply.
const REVIEW_DIMS: Dims = Dims {
    responsible: None,
    channel: Some("r.channel"),
    source: Some("r.source"),
    utm_source: Some("r.utm_source"),
    utm_campaign: Some("r.utm_campaign"),
};

#[cfg(test)]
mod tests {
    use super::*;

    const MSK: i64 = 3 * 3_600_000;

    #[test]
    fn a_period_of_local_days_is_read_from_the_rollups_only() {
        // 2027-03-01 00:00 MSK is day 20878 of the rollups.
        let day = 20_878;
        let from = day * DAY_MS - MSK;
        let c = cut(from, from + 30 * DAY_MS, Some(MSK), false);
        assert_eq!(c.raw, vec![]);
        assert_eq!(c.days, vec![(day, day + 30)]);
    }

    #[test]
    fn partial_days_at_the_edges_are_raw_and_whole_blocks_come_from_blocks() {
        let day = 20_878; // 20878 = 652 * 32 + 14
        let from = day * DAY_MS - MSK + 3_600_000;
        let to = (day + 100) * DAY_MS - MSK + 60_000;
        let c = cut(from, to, Some(MSK), true);
        assert_eq!(
            c.raw,
            vec![
                (from, (day + 1) * DAY_MS - MSK),
                ((day + 100) * DAY_MS - MSK, to)
            ]
        );
        assert_eq!(c.blocks, vec![(653, 655)]);
        assert_eq!(c.days, vec![(day + 1, 653 * 32), (655 * 32, day + 100)]);
    }

    #[test]
    fn less_than_a_day_or_no_zone_is_raw() {
        let day = 20_878;
        let from = day * DAY_MS - MSK + 1;
        assert_eq!(
            cut(from, from + DAY_MS, Some(MSK), true).raw,
            vec![(from, from + DAY_MS)]
        );
        assert_eq!(
            cut(from, from + 90 * DAY_MS, None, true).raw,
            vec![(from, from + 90 * DAY_MS)]
        );
    }

    #[test]
    fn from_then_on_reads_every_later_day() {
        let day = 20_878;
        let from = day * DAY_MS - MSK;
        let c = cut(from, i64::MAX, Some(MSK), false);
        assert_eq!(c.raw, vec![]);
        assert_eq!(c.days, vec![(day, i64::MAX)]);
    }

    #[test]
    fn merging_sums_equal_keys_and_drops_empty_groups() {
        let row = |k: &str, n: Vec<i64>| Agg {
            k: vec![k.to_owned()],
            n,
        };
        let merged = merge(vec![
            row("a", vec![2, 10]),
            row("b", vec![0, 0]),
            row("c", vec![0, 4]),
            row("a", vec![1, 5]),
        ]);
        assert_eq!(merged, vec![row("a", vec![3, 15]), row("c", vec![0, 4])]);
    }
}
