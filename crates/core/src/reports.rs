//! Reports for the head of sales: who may see which figures, and the shape
//! every report takes (summary figures, a chart, tables). The figures come
//! from the store's grouped queries; this module only combines groups
//! (percentiles from bucket counts, shares, previous period).
//! `docs/reports.md` defines every figure.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::settings::CoreSettings;
use crate::stage::{Actor, Scope, StageError};
use leadgate_domain::report::{
    day_date, minutes_label, offset_ms, percent, Distribution, Period, HISTOGRAM,
};
use leadgate_domain::role::Role;
use leadgate_domain::scenario::{format_rub, StageKind};
use leadgate_store::{Agg, ReportFilter, StorageError, Store};

/// The seven reports, by their names in URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportName {
    Funnel,
    Sources,
    SpeedToLead,
    MissedCalls,
    Activity,
    Losses,
    Review,
}

impl ReportName {
    pub const ALL: [ReportName; 7] = [
        ReportName::Funnel,
        ReportName::Sources,
        ReportName::SpeedToLead,
        ReportName::MissedCalls,
        ReportName::Activity,
        ReportName::Losses,
        ReportName::Review,
    ];

    pub fn parse(raw: &str) -> Option<ReportName> {
        ReportName::ALL.into_iter().find(|n| n.slug() == raw)
    }

    pub fn slug(self) -> &'static str {
        match self {
            ReportName::Funnel => "funnel",
            ReportName::Sources => "sources",
            ReportName::SpeedToLead => "speed-to-lead",
            ReportName::MissedCalls => "missed-calls",
            ReportName::Activity => "activity",
            ReportName::Losses => "losses",
            ReportName::Review => "review",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            ReportName::Funnel => "Воронка продаж",
            ReportName::Sources => "Источники обращений",
            ReportName::SpeedToLead => "Скорость реакции",
            ReportName::MissedCalls => "Пропущенные звонки",
            ReportName::Activity => "Активность менеджеров",
            ReportName::Losses => "Причины отказов",
            ReportName::Review => "Очередь проверки",
        }
    }

    /// Roles that may open the report (admins always may).
    pub fn roles(self) -> &'static [Role] {
        match self {
            ReportName::Review => &[Role::Operator, Role::Head],
            _ => &[Role::Manager, Role::Head],
        }
    }
}

/// What the caller asked for, as given (logins, ids, marks).
#[derive(Debug, Clone, Default)]
pub struct ReportQuery {
    pub department: Option<String>,
    pub manager: Option<String>,
    pub channel: Option<String>,
    pub source: Option<String>,
    pub utm_source: Option<String>,
    pub utm_campaign: Option<String>,
}

/// One summary figure, with the previous period's where the report compares.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Figure {
    pub key: String,
    pub label: String,
    pub value: Option<f64>,
    /// The value as the page shows it ("12 мин", "34,5 %", "1 200 ₽").
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<f64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Column {
    pub key: String,
    pub label: String,
}

/// A table: `rows` are objects keyed by the columns' keys; numbers are
/// numbers (minutes, counts, kopecks, percent), missing figures null.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Table {
    pub key: String,
    pub title: String,
    pub columns: Vec<Column>,
    #[schema(value_type = Vec<Object>)]
    pub rows: Vec<Map<String, Value>>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
}

/// What the chart shows: `bars` (one bar per category, horizontal),
/// `stacked` (a column per category, series stacked), `histogram`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Chart {
    pub kind: String,
    pub title: String,
    pub categories: Vec<String>,
    pub series: Vec<Series>,
}

/// A whole report as the page, the JSON and the CSV show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Report {
    pub name: String,
    pub title: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub summary: Vec<Figure>,
    pub chart: Chart,
    pub tables: Vec<Table>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("this role may not see this report")]
    Forbidden,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<StageError> for ReportError {
    fn from(e: StageError) -> Self {
        match e {
            StageError::Storage(s) => ReportError::Storage(s),
            _ => ReportError::Forbidden,
        }
    }
}

pub struct Reports {
    store: Store,
    settings: Arc<CoreSettings>,
}

fn figure(key: &str, label: &str, value: Option<f64>, text: String) -> Figure {
    Figure {
        key: key.to_owned(),
        label: label.to_owned(),
        value,
        text,
        previous: None,
    }
}

fn count_fig(key: &str, label: &str, n: i64) -> Figure {
    figure(key, label, Some(n as f64), n.to_string())
}

fn pct_fig(key: &str, label: &str, p: Option<f64>) -> Figure {
    figure(key, label, p, pct_text(p))
}

fn minutes_fig(key: &str, label: &str, m: Option<i64>) -> Figure {
    figure(
        key,
        label,
        m.map(|m| m as f64),
        m.map(minutes_label).unwrap_or_else(|| "—".into()),
    )
}

pub fn pct_text(p: Option<f64>) -> String {
    p.map(|p| format!("{} %", format!("{p:.1}").replace('.', ",")))
        .unwrap_or_else(|| "—".into())
}

fn cols(spec: &[(&str, &str)]) -> Vec<Column> {
    spec.iter()
        .map(|(k, l)| Column {
            key: (*k).to_owned(),
            label: (*l).to_owned(),
        })
        .collect()
}

fn row(values: Vec<(&str, Value)>) -> Map<String, Value> {
    values.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn opt(v: Option<i64>) -> Value {
    v.map(Value::from).unwrap_or(Value::Null)
}

fn optf(v: Option<f64>) -> Value {
    v.map(Value::from).unwrap_or(Value::Null)
}

fn or_dash(s: &str) -> String {
    if s.is_empty() {
        "—".to_owned()
    } else {
        s.to_owned()
    }
}

impl Reports {
    pub fn new(store: Store, settings: Arc<CoreSettings>) -> Reports {
        Reports { store, settings }
    }

    pub fn settings(&self) -> &CoreSettings {
        &self.settings
    }

    /// A manager's display name, else the login.
    pub fn person(&self, login: &str) -> String {
        if login.is_empty() {
            return "без ответственного".to_owned();
        }
        self.settings
            .manager(login)
            .map(|m| m.name.clone())
            .unwrap_or_else(|| login.to_owned())
    }

    /// The filter the store applies: role scope ∩ department ∩ manager.
    async fn filter(
        &self,
        actor: &Actor,
        period: &Period,
        query: &ReportQuery,
    ) -> Result<ReportFilter, ReportError> {
        let mut responsibles: Option<Vec<String>> = match &actor.scope {
            Scope::All => None,
            Scope::Responsibles(list) => Some(list.clone()),
        };
        let mut narrow = |list: Vec<String>| {
            responsibles = Some(match responsibles.take() {
                None => list,
                Some(have) => have.into_iter().filter(|l| list.contains(l)).collect(),
            });
        };
        if let Some(department) = &query.department {
            narrow(self.store.logins_of_department(department).await?);
        }
        if let Some(manager) = &query.manager {
            narrow(vec![manager.clone()]);
        }
        Ok(ReportFilter {
            from: period.from(),
            to: period.to(),
            responsibles,
            channel: query.channel.clone(),
            source: query.source.clone(),
            utm_source: query.utm_source.clone(),
            utm_campaign: query.utm_campaign.clone(),
            offset_ms: offset_ms(self.settings.calendar.tz(), period.from()),
        })
    }

    /// Builds report `name` for `actor` (its scope from
    /// [`crate::stage::Stage::actor`], or [`Scope::All`] for operators on the
    /// review report).
    pub async fn build(
        &self,
        name: ReportName,
        actor: &Actor,
        period: Period,
        query: &ReportQuery,
        now: DateTime<Utc>,
    ) -> Result<Report, ReportError> {
        if actor.role != Role::Admin && !name.roles().contains(&actor.role) {
            return Err(ReportError::Forbidden);
        }
        let f = self.filter(actor, &period, query).await?;
        let (summary, chart, tables) = match name {
            ReportName::Funnel => self.funnel(&f, &period).await?,
            ReportName::Sources => self.sources(&f).await?,
            ReportName::SpeedToLead => self.speed(&f).await?,
            ReportName::MissedCalls => self.missed(&f).await?,
            ReportName::Activity => self.activity(&f, now).await?,
            ReportName::Losses => self.losses(&f).await?,
            ReportName::Review => self.review(&f, now).await?,
        };
        Ok(Report {
            name: name.slug().to_owned(),
            title: name.title().to_owned(),
            from: period.from(),
            to: period.to(),
            summary,
            chart,
            tables,
        })
    }

    fn days(&self, f: &ReportFilter) -> Vec<i64> {
        let first = (f.from.timestamp_millis() + f.offset_ms).div_euclid(86_400_000);
        let last = (f.to.timestamp_millis() - 1 + f.offset_ms).div_euclid(86_400_000);
        (first..=last).collect()
    }

    fn day_label(day: i64) -> String {
        day_date(day).format("%d.%m").to_string()
    }

    // --- 1. funnel --------------------------------------------------------

    async fn funnel(
        &self,
        f: &ReportFilter,
        period: &Period,
    ) -> Result<(Vec<Figure>, Chart, Vec<Table>), ReportError> {
        let previous = period.previous();
        let pf = ReportFilter {
            from: previous.from(),
            to: previous.to(),
            ..f.clone()
        };
        let working: Vec<String> = self
            .settings
            .scenarios
            .scenarios
            .iter()
            .flat_map(|s| s.stages.iter())
            .filter(|s| s.kind == StageKind::Working)
            .map(|s| s.id.clone())
            .collect();
        let reached = self.store.report_stage_reached(f).await?;
        let reached_before = self.store.report_stage_reached(&pf).await?;
        let now = self.store.report_stage_now(f, &working).await?;
        let closed = self.store.report_closed(f).await?;
        let closed_before = self.store.report_closed(&pf).await?;
        let find = |rows: &[Agg], scenario: &str, stage: &str, i: usize| {
            rows.iter()
                .find(|r| r.k[0] == scenario && r.k[1] == stage)
                .map(|r| r.n[i])
                .unwrap_or(0)
        };
        let mut rows = Vec::new();
        let mut categories = Vec::new();
        let mut values = Vec::new();
        let many = self.settings.scenarios.scenarios.len() > 1;
        for scenario in &self.settings.scenarios.scenarios {
            let mut before: Option<i64> = None;
            for stage in &scenario.stages {
                let n = find(&reached, &scenario.id, &stage.id, 0);
                let amount = find(&reached, &scenario.id, &stage.id, 1);
                let prev = find(&reached_before, &scenario.id, &stage.id, 0);
                let in_now = (stage.kind == StageKind::Working)
                    .then(|| find(&now, &scenario.id, &stage.id, 0));
                // Conversion runs along the working stages and into won;
                // lost stages are an exit, not a step.
                let conversion = match (stage.kind, before) {
                    (StageKind::Lost, _) | (_, None) => None,
                    (_, Some(b)) => percent(n, b),
                };
                if stage.kind != StageKind::Lost {
                    before = Some(n);
                }
                let label = if many {
                    format!("{}: {}", scenario.name, stage.name)
                } else {
                    stage.name.clone()
                };
                categories.push(label.clone());
                values.push(n as f64);
                rows.push(row(vec![
                    ("scenario", json!(scenario.id)),
                    ("stage", json!(stage.id)),
                    ("stage_name", json!(label)),
                    ("reached", json!(n)),
                    ("reached_previous", json!(prev)),
                    ("conversion_percent", optf(conversion)),
                    ("now", opt(in_now)),
                    ("amount", json!(amount)),
                ]));
            }
        }
        let get = |rows: &[Agg], status: &str, i: usize| {
            rows.iter()
                .find(|r| r.k[0] == status)
                .map(|r| r.n[i])
                .unwrap_or(0)
        };
        let won = get(&closed, "won", 0);
        let lost = get(&closed, "lost", 0);
        let revenue = get(&closed, "won", 1);
        let mut summary = vec![
            count_fig("won", "Успешно завершено", won),
            count_fig("lost", "Неудачно завершено", lost),
            figure(
                "revenue",
                "Выручка (успешные)",
                Some(revenue as f64),
                format_rub(revenue),
            ),
            pct_fig("win_rate", "Доля успешных", percent(won, won + lost)),
        ];
        let prev = [
            get(&closed_before, "won", 0),
            get(&closed_before, "lost", 0),
            get(&closed_before, "won", 1),
        ];
        summary[0].previous = Some(prev[0] as f64);
        summary[1].previous = Some(prev[1] as f64);
        summary[2].previous = Some(prev[2] as f64);
        summary[3].previous = percent(prev[0], prev[0] + prev[1]);
        let table = Table {
            key: "stages".into(),
            title: "По этапам".into(),
            columns: cols(&[
                ("stage_name", "Этап"),
                ("reached", "Вошли за период"),
                ("reached_previous", "Прошлый период"),
                ("conversion_percent", "Конверсия из предыдущего, %"),
                ("now", "На этапе в конце периода"),
                ("amount", "Сумма, коп."),
            ]),
            rows,
        };
        let chart = Chart {
            kind: "bars".into(),
            title: "Вошли в этап за период".into(),
            categories,
            series: vec![Series {
                name: "Интересы".into(),
                values,
            }],
        };
        Ok((summary, chart, vec![table]))
    }

    // --- 2. sources -------------------------------------------------------

    async fn sources(
        &self,
        f: &ReportFilter,
    ) -> Result<(Vec<Figure>, Chart, Vec<Table>), ReportError> {
        let by_day = self.store.report_appeals_by_day(f).await?;
        let appeals = self.store.report_appeals_by_origin(f).await?;
        let interests = self.store.report_interests_by_origin(f).await?;
        let mut origins: BTreeMap<Vec<String>, [i64; 4]> = BTreeMap::new();
        for r in &appeals {
            origins.entry(r.k.clone()).or_default()[0] += r.n[0];
        }
        for r in &interests {
            let e = origins.entry(r.k.clone()).or_default();
            e[1] += r.n[0];
            e[2] += r.n[1];
            e[3] += r.n[2];
        }
        let mut list: Vec<(Vec<String>, [i64; 4])> = origins.into_iter().collect();
        list.sort_by(|a, b| b.1[0].cmp(&a.1[0]).then(a.0.cmp(&b.0)));
        let (mut total_a, mut total_i, mut total_w) = (0, 0, 0);
        let rows = list
            .iter()
            .map(|(k, n)| {
                total_a += n[0];
                total_i += n[1];
                total_w += n[2];
                row(vec![
                    ("channel", json!(k[0])),
                    ("source", json!(k[1])),
                    ("utm_source", json!(or_dash(&k[2]))),
                    ("utm_campaign", json!(or_dash(&k[3]))),
                    ("appeals", json!(n[0])),
                    ("new_interests", json!(n[1])),
                    ("won", json!(n[2])),
                    ("won_percent", optf(percent(n[2], n[1]))),
                    ("revenue", json!(n[3])),
                ])
            })
            .collect();
        let days = self.days(f);
        let mut channels: Vec<String> = by_day.iter().map(|r| r.k[1].clone()).collect();
        channels.sort();
        channels.dedup();
        let mut cells: std::collections::HashMap<(i64, &str), f64> = Default::default();
        for r in &by_day {
            let day: i64 = r.k[0].parse().unwrap_or(0);
            *cells.entry((day, r.k[1].as_str())).or_default() += r.n[0] as f64;
        }
        let series = channels
            .iter()
            .map(|c| Series {
                name: c.clone(),
                values: days
                    .iter()
                    .map(|d| cells.get(&(*d, c.as_str())).copied().unwrap_or(0.0))
                    .collect(),
            })
            .collect();
        let summary = vec![
            count_fig("appeals", "Обращений", total_a),
            count_fig("new_interests", "Новых интересов", total_i),
            count_fig("won", "Из них успешно", total_w),
            pct_fig("won_percent", "Доля успешных", percent(total_w, total_i)),
        ];
        let chart = Chart {
            kind: "stacked".into(),
            title: "Обращения по дням и каналам".into(),
            categories: days.iter().map(|d| Self::day_label(*d)).collect(),
            series,
        };
        let table = Table {
            key: "origins".into(),
            title: "По каналам, источникам и меткам".into(),
            columns: cols(&[
                ("channel", "Канал"),
                ("source", "Источник / форма"),
                ("utm_source", "utm_source"),
                ("utm_campaign", "utm_campaign"),
                ("appeals", "Обращений"),
                ("new_interests", "Новых интересов"),
                ("won", "Успешно"),
                ("won_percent", "Доля успешных, %"),
                ("revenue", "Выручка, коп."),
            ]),
            rows,
        };
        Ok((summary, chart, vec![table]))
    }

    // --- 3. speed to lead -------------------------------------------------

    async fn speed(
        &self,
        f: &ReportFilter,
    ) -> Result<(Vec<Figure>, Chart, Vec<Table>), ReportError> {
        let rows = self.store.report_first_action(f).await?;
        let mut all = Distribution::default();
        let mut waiting = 0;
        let mut by_manager: BTreeMap<String, (Distribution, i64)> = BTreeMap::new();
        let mut by_channel: BTreeMap<String, (Distribution, i64)> = BTreeMap::new();
        for r in &rows {
            let b: i64 = r.k[2].parse().unwrap_or(-1);
            let m = by_manager.entry(r.k[1].clone()).or_default();
            let c = by_channel.entry(r.k[0].clone()).or_default();
            if b < 0 {
                waiting += r.n[0];
                m.1 += r.n[0];
                c.1 += r.n[0];
            } else {
                all.add(b, r.n[0]);
                m.0.add(b, r.n[0]);
                c.0.add(b, r.n[0]);
            }
        }
        let line = |key: &str, label: String, d: &Distribution, w: i64| {
            let total = d.total() + w;
            row(vec![
                (key, json!(label)),
                ("appeals", json!(total)),
                ("handled", json!(d.total())),
                ("not_handled", json!(w)),
                ("median_minutes", opt(d.median())),
                ("p90_minutes", opt(d.p90())),
                ("within_15_percent", optf(percent(d.within(15), total))),
                ("within_60_percent", optf(percent(d.within(60), total))),
            ])
        };
        let spec = |first: (&'static str, &'static str)| {
            cols(&[
                first,
                ("appeals", "Обращений"),
                ("handled", "Обработано"),
                ("not_handled", "Ждут действия"),
                ("median_minutes", "Медиана, раб. мин"),
                ("p90_minutes", "90-й процентиль, раб. мин"),
                ("within_15_percent", "За 15 мин, %"),
                ("within_60_percent", "За 1 час, %"),
            ])
        };
        let managers = Table {
            key: "managers".into(),
            title: "По менеджерам".into(),
            columns: spec(("manager", "Менеджер")),
            rows: by_manager
                .iter()
                .map(|(k, (d, w))| line("manager", self.person(k), d, *w))
                .collect(),
        };
        let channels = Table {
            key: "channels".into(),
            title: "По каналам".into(),
            columns: spec(("channel", "Канал")),
            rows: by_channel
                .iter()
                .map(|(k, (d, w))| line("channel", k.clone(), d, *w))
                .collect(),
        };
        let total = all.total() + waiting;
        let summary = vec![
            count_fig("appeals", "Обращений", total),
            minutes_fig("median_minutes", "Медиана", all.median()),
            minutes_fig("p90_minutes", "90-й процентиль", all.p90()),
            pct_fig(
                "within_15_percent",
                "За 15 минут",
                percent(all.within(15), total),
            ),
            pct_fig(
                "within_60_percent",
                "За 1 час",
                percent(all.within(60), total),
            ),
            count_fig("not_handled", "Ждут действия", waiting),
        ];
        let mut categories: Vec<String> = HISTOGRAM.iter().map(|(l, _, _)| (*l).into()).collect();
        categories.push("ещё нет".into());
        let mut values: Vec<f64> = all.histogram().into_iter().map(|v| v as f64).collect();
        values.push(waiting as f64);
        let chart = Chart {
            kind: "histogram".into(),
            title: "Время до первого действия (рабочие минуты)".into(),
            categories,
            series: vec![Series {
                name: "Обращения".into(),
                values,
            }],
        };
        Ok((summary, chart, vec![managers, channels]))
    }

    // --- 4. missed calls --------------------------------------------------

    async fn missed(
        &self,
        f: &ReportFilter,
    ) -> Result<(Vec<Figure>, Chart, Vec<Table>), ReportError> {
        let by_day = self.store.report_missed_by_day(f).await?;
        let by_manager = self.store.report_missed_by_manager(f).await?;
        let days = self.days(f);
        let per_day: std::collections::HashMap<i64, &Agg> = by_day
            .iter()
            .map(|r| (r.k[0].parse().unwrap_or(0), r))
            .collect();
        let day_value = |d: i64, i: usize| per_day.get(&d).map(|r| r.n[i] as f64).unwrap_or(0.0);
        let chart = Chart {
            kind: "stacked".into(),
            title: "Пропущенные звонки по дням".into(),
            categories: days.iter().map(|d| Self::day_label(*d)).collect(),
            series: vec![
                Series {
                    name: "перезвонили".into(),
                    values: days.iter().map(|d| day_value(*d, 1)).collect(),
                },
                Series {
                    name: "не перезвонили".into(),
                    values: days
                        .iter()
                        .map(|d| day_value(*d, 0) - day_value(*d, 1))
                        .collect(),
                },
            ],
        };
        let mut all = Distribution::default();
        let mut not_called = 0;
        let mut managers: BTreeMap<String, (Distribution, i64)> = BTreeMap::new();
        for r in &by_manager {
            let b: i64 = r.k[1].parse().unwrap_or(-1);
            let m = managers.entry(r.k[0].clone()).or_default();
            if b < 0 {
                m.1 += r.n[0];
                not_called += r.n[0];
            } else {
                m.0.add(b, r.n[0]);
                all.add(b, r.n[0]);
            }
        }
        let total = all.total() + not_called;
        let line = |who: String, d: &Distribution, w: i64| {
            let total = d.total() + w;
            row(vec![
                ("manager", json!(who)),
                ("missed", json!(total)),
                ("called_back", json!(d.total())),
                ("called_back_percent", optf(percent(d.total(), total))),
                ("median_minutes", opt(d.median())),
                ("p90_minutes", opt(d.p90())),
                ("within_15_percent", optf(percent(d.within(15), total))),
            ])
        };
        let table = Table {
            key: "managers".into(),
            title: "По менеджерам".into(),
            columns: cols(&[
                ("manager", "Менеджер"),
                ("missed", "Пропущено"),
                ("called_back", "Перезвонили"),
                ("called_back_percent", "Доля перезвонов, %"),
                ("median_minutes", "Медиана до перезвона, раб. мин"),
                ("p90_minutes", "90-й процентиль, раб. мин"),
                ("within_15_percent", "За 15 мин, %"),
            ]),
            rows: managers
                .iter()
                .map(|(k, (d, w))| line(self.person(k), d, *w))
                .collect(),
        };
        let summary = vec![
            count_fig("missed", "Пропущено", total),
            pct_fig(
                "called_back_percent",
                "Перезвонили",
                percent(all.total(), total),
            ),
            minutes_fig("median_minutes", "Медиана до перезвона", all.median()),
            minutes_fig("p90_minutes", "90-й процентиль", all.p90()),
            pct_fig(
                "within_15_percent",
                "За 15 минут",
                percent(all.within(15), total),
            ),
        ];
        Ok((summary, chart, vec![table]))
    }

    // --- 5. activity ------------------------------------------------------

    async fn activity(
        &self,
        f: &ReportFilter,
        now: DateTime<Utc>,
    ) -> Result<(Vec<Figure>, Chart, Vec<Table>), ReportError> {
        const METRICS: [(&str, &str); 8] = [
            ("call_in", "Входящие звонки"),
            ("call_out", "Исходящие звонки"),
            ("meeting", "Встречи"),
            ("email", "Письма"),
            ("message", "Сообщения (записанные)"),
            ("sent", "Сообщения отправлено"),
            ("task_done", "Задач выполнено"),
            ("task_overdue", "Задач просрочено"),
        ];
        let rows = self.store.report_activity(f, now).await?;
        let mut managers: BTreeMap<String, ([i64; 8], i64)> = BTreeMap::new();
        let mut totals = [0i64; 8];
        let mut talk = 0;
        let days = self.days(f);
        let metric = |key: &str| METRICS.iter().position(|(k, _)| *k == key);
        for r in &rows.by_manager {
            let Some(i) = metric(&r.k[1]) else {
                continue;
            };
            let m = managers.entry(r.k[0].clone()).or_default();
            m.0[i] += r.n[0];
            m.1 += r.n[1];
            totals[i] += r.n[0];
            talk += r.n[1];
        }
        let mut per_day: BTreeMap<(i64, usize), i64> = BTreeMap::new();
        for r in &rows.by_day {
            let Some(i) = metric(&r.k[1]) else {
                continue;
            };
            let day: i64 = r.k[0].parse().unwrap_or(0);
            *per_day.entry((day, i)).or_default() += r.n[0];
        }
        let mut columns = vec![("manager", "Менеджер")];
        columns.extend(METRICS.iter().take(2).copied());
        columns.push(("talk_minutes", "Разговоры, мин"));
        columns.extend(METRICS.iter().skip(2).copied());
        let table = Table {
            key: "managers".into(),
            title: "По менеджерам за период".into(),
            columns: cols(&columns),
            rows: managers
                .iter()
                .map(|(login, (n, secs))| {
                    let mut r = row(vec![("manager", json!(self.person(login)))]);
                    for (i, (k, _)) in METRICS.iter().enumerate() {
                        r.insert((*k).to_owned(), json!(n[i]));
                    }
                    r.insert("talk_minutes".into(), json!(secs / 60));
                    r
                })
                .collect(),
        };
        let charted = [0usize, 1, 2, 3, 5, 6];
        let chart = Chart {
            kind: "stacked".into(),
            title: "Действия по дням".into(),
            categories: days.iter().map(|d| Self::day_label(*d)).collect(),
            series: charted
                .iter()
                .map(|i| Series {
                    name: METRICS[*i].1.to_owned(),
                    values: days
                        .iter()
                        .map(|d| per_day.get(&(*d, *i)).copied().unwrap_or(0) as f64)
                        .collect(),
                })
                .collect(),
        };
        let summary = vec![
            count_fig("call_in", "Входящих звонков", totals[0]),
            count_fig("call_out", "Исходящих звонков", totals[1]),
            figure(
                "talk_minutes",
                "Время разговоров",
                Some((talk / 60) as f64),
                minutes_label(talk / 60),
            ),
            count_fig("meeting", "Встреч", totals[2]),
            count_fig("task_done", "Задач выполнено", totals[6]),
            count_fig("task_overdue", "Задач просрочено", totals[7]),
        ];
        Ok((summary, chart, vec![table]))
    }

    // --- 6. losses --------------------------------------------------------

    async fn losses(
        &self,
        f: &ReportFilter,
    ) -> Result<(Vec<Figure>, Chart, Vec<Table>), ReportError> {
        let rows = self.store.report_losses(f).await?;
        let pending = self.store.report_losses_pending(f).await?;
        let lost = |r: &&Agg| r.k[2] == "lost" || r.k[2] == "approved";
        let mut reasons: BTreeMap<String, [i64; 4]> = BTreeMap::new();
        let mut stages: BTreeMap<String, i64> = BTreeMap::new();
        let (mut approved, mut returned, mut direct, mut amount) = (0, 0, 0, 0);
        for r in &rows {
            let e = reasons.entry(r.k[0].clone()).or_default();
            match r.k[2].as_str() {
                "approved" => {
                    approved += r.n[0];
                    e[1] += r.n[0];
                }
                "returned" => {
                    returned += r.n[0];
                    e[2] += r.n[0];
                }
                _ => direct += r.n[0],
            }
            if lost(&r) {
                e[0] += r.n[0];
                e[3] += r.n[1];
                amount += r.n[1];
                *stages.entry(r.k[1].clone()).or_default() += r.n[0];
            }
        }
        for p in &pending {
            reasons.entry(p.k[0].clone()).or_default();
        }
        let total = approved + direct;
        let mut by_reason: Vec<(String, [i64; 4])> = reasons.into_iter().collect();
        by_reason.sort_by(|a, b| b.1[0].cmp(&a.1[0]).then(a.0.cmp(&b.0)));
        let pending_of = |reason: &str| {
            pending
                .iter()
                .find(|p| p.k[0] == reason)
                .map(|p| p.n[0])
                .unwrap_or(0)
        };
        let reason_table = Table {
            key: "reasons".into(),
            title: "По причинам".into(),
            columns: cols(&[
                ("reason", "Причина"),
                ("lost", "Потеряно"),
                ("share_percent", "Доля, %"),
                ("approved", "Согласовано руководителем"),
                ("returned", "Возвращено в работу"),
                ("pending", "Ждут согласования"),
                ("amount", "Сумма, коп."),
            ]),
            rows: by_reason
                .iter()
                .map(|(reason, n)| {
                    row(vec![
                        ("reason", json!(reason)),
                        ("lost", json!(n[0])),
                        ("share_percent", optf(percent(n[0], total))),
                        ("approved", json!(n[1])),
                        ("returned", json!(n[2])),
                        ("pending", json!(pending_of(reason))),
                        ("amount", json!(n[3])),
                    ])
                })
                .collect(),
        };
        let stage_name = |id: &str| {
            self.settings
                .scenarios
                .scenarios
                .iter()
                .find_map(|s| s.stage(id).map(|st| st.name.clone()))
                .unwrap_or_else(|| id.to_owned())
        };
        let stage_table = Table {
            key: "stages".into(),
            title: "На каком этапе потеряны".into(),
            columns: cols(&[
                ("stage", "Этап"),
                ("lost", "Потеряно"),
                ("share_percent", "Доля, %"),
            ]),
            rows: stages
                .iter()
                .map(|(stage, n)| {
                    row(vec![
                        ("stage", json!(stage_name(stage))),
                        ("lost", json!(n)),
                        ("share_percent", optf(percent(*n, total))),
                    ])
                })
                .collect(),
        };
        let summary = vec![
            count_fig("lost", "Потеряно интересов", total),
            figure(
                "amount",
                "На сумму",
                Some(amount as f64),
                format_rub(amount),
            ),
            count_fig("approved", "Согласовано руководителем", approved),
            count_fig("returned", "Возвращено в работу", returned),
            count_fig(
                "pending",
                "Ждут согласования",
                pending.iter().map(|p| p.n[0]).sum(),
            ),
        ];
        let chart = Chart {
            kind: "bars".into(),
            title: "Потеряно по причинам".into(),
            categories: by_reason.iter().map(|(r, _)| r.clone()).collect(),
            series: vec![Series {
                name: "Интересы".into(),
                values: by_reason.iter().map(|(_, n)| n[0] as f64).collect(),
            }],
        };
        Ok((summary, chart, vec![reason_table, stage_table]))
    }

    // --- 7. review queue --------------------------------------------------

    async fn review(
        &self,
        f: &ReportFilter,
        now: DateTime<Utc>,
    ) -> Result<(Vec<Figure>, Chart, Vec<Table>), ReportError> {
        let open = self.store.report_review_open(f, now).await?;
        let created = self.store.report_review_created(f).await?;
        let decided = self.store.report_review_decided(f).await?;
        let mut age = Distribution::default();
        for r in &open {
            age.add(r.k[0].parse().unwrap_or(0), r.n[0]);
        }
        let mut kinds: BTreeMap<String, Distribution> = BTreeMap::new();
        let mut all = Distribution::default();
        for r in &decided {
            let b = r.k[1].parse().unwrap_or(0);
            kinds.entry(r.k[0].clone()).or_default().add(b, r.n[0]);
            all.add(b, r.n[0]);
        }
        let entered = created.first().map(|r| r.n[0]).unwrap_or(0);
        let oldest = open.iter().filter_map(|r| r.k[0].parse::<i64>().ok()).max();
        let summary = vec![
            count_fig("open", "В очереди сейчас", age.total()),
            minutes_fig("oldest_minutes", "Ждёт дольше всех (не меньше)", oldest),
            minutes_fig(
                "median_age_minutes",
                "Медиана ожидания в очереди",
                age.median(),
            ),
            count_fig("entered", "Попало в очередь за период", entered),
            count_fig("decided", "Решено за период", all.total()),
            minutes_fig(
                "median_decision_minutes",
                "Медиана от обращения до решения",
                all.median(),
            ),
            minutes_fig("p90_decision_minutes", "90-й процентиль", all.p90()),
        ];
        let label = |kind: &str| match kind {
            "link" => "привязано к клиенту".to_owned(),
            "new_client" => "новый клиент".to_owned(),
            "spam" => "спам".to_owned(),
            "" => "—".to_owned(),
            other => other.to_owned(),
        };
        let table = Table {
            key: "decisions".into(),
            title: "Решения за период".into(),
            columns: cols(&[
                ("decision", "Решение"),
                ("count", "Количество"),
                ("median_minutes", "Медиана от обращения, мин"),
                ("p90_minutes", "90-й процентиль, мин"),
            ]),
            rows: kinds
                .iter()
                .map(|(k, d)| {
                    row(vec![
                        ("decision", json!(label(k))),
                        ("count", json!(d.total())),
                        ("median_minutes", opt(d.median())),
                        ("p90_minutes", opt(d.p90())),
                    ])
                })
                .collect(),
        };
        let chart = Chart {
            kind: "histogram".into(),
            title: "Сколько ждут в очереди сейчас".into(),
            // The same bins, read as wall-clock hours (the queue waits
            // around the clock).
            categories: [
                "0–5 мин",
                "6–15 мин",
                "16–30 мин",
                "31–60 мин",
                "1–2 ч",
                "2–4 ч",
                "4–9 ч",
                "9–18 ч",
                "> 18 ч",
            ]
            .iter()
            .map(|l| (*l).to_owned())
            .collect(),
            series: vec![Series {
                name: "Обращения".into(),
                values: age.histogram().into_iter().map(|v| v as f64).collect(),
            }],
        };
        Ok((summary, chart, vec![table]))
    }
}
