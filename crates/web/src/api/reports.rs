//! `GET /api/v1/reports/{name}`: every report's figures as JSON, or its
//! tables as CSV (`?format=csv`), scoped like the pages: an admin sees
//! everything, a head their department, a manager their own figures.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::AppState;
use leadgate_core::reports::{Report, ReportError, ReportName, ReportQuery, Reports};
use leadgate_core::stage::{Actor, Scope};
use leadgate_domain::report::{Period, PeriodError};
use leadgate_domain::role::Role;
use leadgate_http::error::{ApiError, Problem};
use leadgate_http::extract::ApiCaller;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/reports/{name}", get(get_report))
}

/// The period and filters every report takes.
#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    /// `today`, `7d`, `30d`, `quarter` or `custom` (then `from`/`to`);
    /// without anything: the last 30 days.
    pub period: Option<String>,
    /// `YYYY-MM-DD` (start of that day in the configured time zone) or RFC 3339.
    pub from: Option<String>,
    /// `YYYY-MM-DD` (that day included) or RFC 3339 (excluded).
    pub to: Option<String>,
    /// Department id from `[[departments]]`.
    pub department: Option<String>,
    /// Manager login.
    pub manager: Option<String>,
    /// `form`, `api`, `mail`, `telegram`, `vk`, `call`.
    pub channel: Option<String>,
    /// The source (a form's source, a mailbox, a bot, a PBX account).
    pub source: Option<String>,
    pub utm_source: Option<String>,
    pub utm_campaign: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

fn clean(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| v.chars().take(200).collect())
}

impl ReportParams {
    pub fn query(&self) -> ReportQuery {
        ReportQuery {
            department: clean(&self.department),
            manager: clean(&self.manager),
            channel: clean(&self.channel),
            source: clean(&self.source),
            utm_source: clean(&self.utm_source),
            utm_campaign: clean(&self.utm_campaign),
        }
    }
}

pub fn period_field(error: &PeriodError) -> &'static str {
    match error {
        PeriodError::BadTime { field, .. } => field,
        PeriodError::Empty | PeriodError::TooLong => "to",
        PeriodError::BadPreset(_) => "period",
    }
}

/// Who asks and what they may see; operators see the review report only
/// (which has no per-manager figures).
pub async fn report_actor(
    state: &AppState,
    login: &str,
    role: Role,
    department: Option<&str>,
) -> Result<Actor, ApiError> {
    if role == Role::Operator {
        return Ok(Actor {
            login: login.to_owned(),
            role,
            scope: Scope::All,
        });
    }
    Ok(state.stage.actor(login, role, department).await?)
}

/// Builds a report for the API and the pages.
pub async fn build_report(
    state: &AppState,
    actor: &Actor,
    name: ReportName,
    params: &ReportParams,
) -> Result<Report, ApiError> {
    let now = Utc::now();
    let period = Period::resolve(
        params.period.as_deref(),
        params.from.as_deref(),
        params.to.as_deref(),
        now,
        state.core.calendar.tz(),
    )
    .map_err(|e| ApiError::bad(period_field(&e), e.to_string()))?;
    Reports::new(state.store.clone(), state.core.clone())
        .build(name, actor, period, &params.query(), now)
        .await
        .map_err(|e| match e {
            ReportError::Forbidden => ApiError::Forbidden,
            ReportError::Storage(s) => s.into(),
        })
}

/// The report's tables as CSV (UTF-8 with a BOM, so spreadsheet programs
/// read Cyrillic right): each table under a line with its title, tables
/// separated by an empty line.
pub fn report_csv(report: &Report) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::from("\u{feff}".as_bytes());
    {
        let mut w = csv::WriterBuilder::new()
            .flexible(true)
            .from_writer(&mut out);
        let fail = |e: csv::Error| ApiError::Internal(format!("writing CSV: {e}"));
        for (i, table) in report.tables.iter().enumerate() {
            if i > 0 {
                w.write_record([""]).map_err(fail)?;
            }
            if report.tables.len() > 1 {
                w.write_record([table.title.as_str()]).map_err(fail)?;
            }
            w.write_record(table.columns.iter().map(|c| c.label.as_str()))
                .map_err(fail)?;
            for row in &table.rows {
                w.write_record(table.columns.iter().map(|c| match row.get(&c.key) {
                    Some(serde_json::Value::String(s)) => s.clone(),
                    Some(serde_json::Value::Null) | None => String::new(),
                    Some(other) => other.to_string(),
                }))
                .map_err(fail)?;
            }
        }
        w.flush()
            .map_err(|e| ApiError::Internal(format!("writing CSV: {e}")))?;
    }
    Ok(out)
}

pub fn csv_response(report: &Report) -> Result<Response, ApiError> {
    let body = report_csv(report)?;
    let filename = format!(
        "attachment; filename=\"{}-{}.csv\"",
        report.name,
        report.from.format("%Y%m%d")
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, filename),
        ],
        body,
    )
        .into_response())
}

/// A report: summary figures (with the previous period's for the funnel),
/// the chart's data and the tables. `docs/reports.md` defines each figure.
#[utoipa::path(get, path = "/api/v1/reports/{name}", tag = "reports",
    params(("name" = String, Path, description = "funnel | sources | speed-to-lead | missed-calls | activity | losses | review"), ReportParams),
    responses((status = 200, body = Report, description = "JSON, or text/csv with format=csv"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn get_report(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(name): Path<String>,
    query: Result<Query<ReportParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let name = ReportName::parse(&name).ok_or(ApiError::NotFound("report"))?;
    let Query(params) = query.map_err(|e| ApiError::bad("(query)", e.body_text()))?;
    let login = caller.login.as_deref().unwrap_or(&caller.name);
    let actor = report_actor(&state, login, caller.role, caller.department.as_deref()).await?;
    let report = build_report(&state, &actor, name, &params).await?;
    match params.format.as_deref().map(str::trim) {
        None | Some("") | Some("json") => Ok(Json(report).into_response()),
        Some("csv") => csv_response(&report),
        Some(other) => Err(ApiError::bad(
            "format",
            format!("expected json or csv, got {other:?}"),
        )),
    }
}
