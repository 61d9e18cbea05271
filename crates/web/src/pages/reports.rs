//! `/ui/reports`: the head of sales' reports. Each page has the period
//! picker and the filters (a plain GET form), the summary figures, a chart
//! drawn as inline SVG, the tables under it and a CSV download of them. A
//! head sees the department, an admin everything, a manager their own.

use std::fmt::Write;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::Duration;

use super::chart;
use super::error::PageError;
use super::html::{url_encode, Esc};
use super::layout;
use super::session::WebUser;
use crate::api::reports::{build_report, csv_response, report_actor, ReportParams};
use crate::AppState;
use leadgate_core::reports::{Report, ReportName};
use leadgate_core::stage::Scope;
use leadgate_domain::role::Role;
use leadgate_http::error::ApiError;

/// Everybody who sees at least one report.
pub const ROLES: &[Role] = &[Role::Manager, Role::Head, Role::Operator];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui/reports", get(index))
        .route("/ui/reports/{name}", get(report_page))
}

fn page_error(e: ApiError) -> PageError {
    match e {
        ApiError::Forbidden => PageError::Forbidden,
        ApiError::NotFound(what) => PageError::NotFound(what),
        ApiError::BadRequest { field, detail } | ApiError::Unprocessable { field, detail } => {
            PageError::BadRequest(match field {
                Some(f) => format!("{f}: {detail}"),
                None => detail,
            })
        }
        other => PageError::BadRequest(other.to_string()),
    }
}

fn description(name: ReportName) -> &'static str {
    match name {
        ReportName::Funnel => "Сколько интересов дошло до каждого этапа, конверсия, выигрыши и проигрыши — и как было в прошлом периоде.",
        ReportName::Sources => "Обращения и новые интересы по каналам, источникам и UTM-меткам по дням; какая доля стала продажей.",
        ReportName::SpeedToLead => "Время от обращения до первого действия менеджера в рабочих минутах: медиана, 90-й процентиль, доля за 15 минут и за час.",
        ReportName::MissedCalls => "Пропущенные звонки по дням, доля перезвонов и время до перезвона по менеджерам.",
        ReportName::Activity => "Звонки, время разговоров, встречи, письма, сообщения, выполненные и просроченные задачи по менеджерам.",
        ReportName::Losses => "Неудачно завершённые интересы по причинам и этапам, согласования и возвраты руководителем.",
        ReportName::Review => "Размер и возраст очереди проверки, решения по видам и время от обращения до решения.",
    }
}

fn visible(user: &WebUser) -> impl Iterator<Item = ReportName> + '_ {
    ReportName::ALL.into_iter().filter(|n| user.may(n.roles()))
}

async fn index(user: WebUser) -> Result<Response, PageError> {
    user.require(ROLES)?;
    let mut body = String::from("<h1>Отчёты</h1><ul class=\"report-index\">");
    for name in visible(&user) {
        let _ = write!(
            body,
            "<li><a href=\"/ui/reports/{}\">{}</a><p>{}</p></li>",
            name.slug(),
            Esc(name.title()),
            Esc(description(name))
        );
    }
    body.push_str("</ul>");
    Ok(layout::page("Отчёты", Some(&user), &body).into_response())
}

async fn report_page(
    State(state): State<AppState>,
    user: WebUser,
    Path(name): Path<String>,
    query: Result<Query<ReportParams>, QueryRejection>,
) -> Result<Response, PageError> {
    user.require(ROLES)?;
    let name = ReportName::parse(&name).ok_or(PageError::NotFound("report"))?;
    user.require(name.roles())?;
    let Query(params) = query.map_err(|e| PageError::BadRequest(e.body_text()))?;
    let actor = report_actor(&state, &user.login, user.role, user.department.as_deref())
        .await
        .map_err(page_error)?;
    let report = build_report(&state, &actor, name, &params)
        .await
        .map_err(page_error)?;
    if params.format.as_deref() == Some("csv") {
        return csv_response(&report).map_err(page_error);
    }
    let mut body = String::new();
    body.push_str("<nav class=\"report-tabs\">");
    for other in visible(&user) {
        let current = if other == name {
            " class=\"current\""
        } else {
            ""
        };
        let _ = write!(
            body,
            "<a href=\"/ui/reports/{}?{}\"{current}>{}</a>",
            other.slug(),
            filter_query(&params),
            Esc(other.title())
        );
    }
    body.push_str("</nav>");
    let _ = write!(body, "<h1>{}</h1>", Esc(name.title()));
    body.push_str(&filter_form(
        &state,
        &user,
        &actor.scope,
        name,
        &params,
        &report,
    ));
    body.push_str(&summary(&report));
    let _ = write!(
        body,
        "<section class=\"chart-box\"><h2>{}</h2>{}</section>",
        Esc(&report.chart.title),
        chart::svg(&report.chart)
    );
    for table in &report.tables {
        let _ = write!(body, "<h2>{}</h2>", Esc(&table.title));
        body.push_str(&table_html(table));
    }
    let _ = write!(
        body,
        "<p class=\"download\"><a id=\"csv\" href=\"/ui/reports/{}?{}&amp;format=csv\">Скачать CSV</a></p>",
        name.slug(),
        filter_query(&params)
    );
    Ok(layout::page(name.title(), Some(&user), &body).into_response())
}

/// The current period and filters as a query string (escaped for HTML).
fn filter_query(p: &ReportParams) -> String {
    let pairs = [
        ("period", &p.period),
        ("from", &p.from),
        ("to", &p.to),
        ("department", &p.department),
        ("manager", &p.manager),
        ("channel", &p.channel),
        ("source", &p.source),
        ("utm_source", &p.utm_source),
        ("utm_campaign", &p.utm_campaign),
    ];
    pairs
        .iter()
        .filter_map(|(k, v)| {
            v.as_deref()
                .filter(|v| !v.trim().is_empty())
                .map(|v| format!("{k}={}", url_encode(v)))
        })
        .collect::<Vec<_>>()
        .join("&amp;")
}

fn options(current: Option<&str>, all: &[(String, String)], any: &str) -> String {
    let mut out = format!("<option value=\"\">{}</option>", Esc(any));
    for (value, label) in all {
        let selected = if current == Some(value.as_str()) {
            " selected"
        } else {
            ""
        };
        let _ = write!(
            out,
            "<option value=\"{}\"{selected}>{}</option>",
            Esc(value),
            Esc(label)
        );
    }
    out
}

fn filter_form(
    state: &AppState,
    user: &WebUser,
    scope: &Scope,
    name: ReportName,
    p: &ReportParams,
    report: &Report,
) -> String {
    let tz = state.core.calendar.tz();
    let presets: Vec<(String, String)> = [
        ("today", "Сегодня"),
        ("7d", "7 дней"),
        ("30d", "30 дней"),
        ("quarter", "Квартал"),
        ("custom", "Свой период"),
    ]
    .iter()
    .map(|(v, l)| ((*v).to_owned(), (*l).to_owned()))
    .collect();
    let preset = p.period.as_deref().filter(|v| !v.is_empty()).unwrap_or(
        if p.from.is_some() || p.to.is_some() {
            "custom"
        } else {
            "30d"
        },
    );
    let from = report
        .from
        .with_timezone(&tz)
        .format("%Y-%m-%d")
        .to_string();
    let to = (report.to - Duration::milliseconds(1))
        .with_timezone(&tz)
        .format("%Y-%m-%d")
        .to_string();
    let mut out = format!(
        "<form class=\"report-filters\" method=\"get\" action=\"/ui/reports/{}\">\
         <label>Период <select name=\"period\" id=\"period\">{}</select></label>\
         <label>с <input type=\"date\" name=\"from\" value=\"{}\"></label>\
         <label>по <input type=\"date\" name=\"to\" value=\"{}\"></label>",
        name.slug(),
        options(Some(preset), &presets, "—").replacen("<option value=\"\">—</option>", "", 1),
        Esc(&from),
        Esc(&to)
    );
    let has_people = user.role != Role::Manager && name != ReportName::Review;
    if has_people {
        let departments: Vec<(String, String)> = state
            .core
            .departments
            .iter()
            .filter(|d| {
                user.role == Role::Admin
                    || matches!(scope, Scope::All)
                    || d.head.as_deref() == Some(user.login.as_str())
                    || user.department.as_deref() == Some(d.id.as_str())
            })
            .map(|d| (d.id.clone(), d.name.clone()))
            .collect();
        let managers: Vec<(String, String)> = state
            .core
            .managers
            .iter()
            .filter(|m| match scope {
                Scope::All => true,
                Scope::Responsibles(list) => list.contains(&m.login),
            })
            .map(|m| (m.login.clone(), m.name.clone()))
            .collect();
        let _ = write!(
            out,
            "<label>Отдел <select name=\"department\">{}</select></label>\
             <label>Менеджер <select name=\"manager\">{}</select></label>",
            options(p.department.as_deref(), &departments, "все"),
            options(p.manager.as_deref(), &managers, "все")
        );
    }
    let channels: Vec<(String, String)> = [
        ("form", "сайт (формы)"),
        ("api", "API"),
        ("mail", "почта"),
        ("telegram", "Telegram"),
        ("vk", "ВКонтакте"),
        ("phone", "телефон"),
    ]
    .iter()
    .map(|(v, l)| ((*v).to_owned(), (*l).to_owned()))
    .collect();
    let _ = write!(
        out,
        "<label>Канал <select name=\"channel\">{}</select></label>\
         <label>Источник <input name=\"source\" value=\"{}\" size=\"10\"></label>\
         <label>utm_source <input name=\"utm_source\" value=\"{}\" size=\"10\"></label>\
         <label>utm_campaign <input name=\"utm_campaign\" value=\"{}\" size=\"10\"></label>\
         <button type=\"submit\" class=\"primary\" id=\"apply\">Показать</button></form>",
        options(p.channel.as_deref(), &channels, "все"),
        Esc(p.source.as_deref().unwrap_or("")),
        Esc(p.utm_source.as_deref().unwrap_or("")),
        Esc(p.utm_campaign.as_deref().unwrap_or(""))
    );
    let _ = write!(
        out,
        "<p class=\"period\">с {} по {} ({})</p>",
        report.from.with_timezone(&tz).format("%d.%m.%Y %H:%M"),
        (report.to - Duration::minutes(1))
            .with_timezone(&tz)
            .format("%d.%m.%Y %H:%M"),
        Esc(&tz.to_string())
    );
    out
}

fn summary(report: &Report) -> String {
    let mut out = String::from("<div class=\"figures\">");
    for f in &report.summary {
        let previous = match (f.previous, f.value) {
            (Some(prev), Some(now)) => {
                let delta = now - prev;
                let (cls, sign) = if delta > 0.0 {
                    ("up", "+")
                } else if delta < 0.0 {
                    ("down", "")
                } else {
                    ("same", "±")
                };
                format!(
                    "<small class=\"{cls}\">прошлый период: {} ({sign}{})</small>",
                    number(prev),
                    number(delta)
                )
            }
            _ => String::new(),
        };
        let _ = write!(
            out,
            "<div class=\"figure\" id=\"fig-{}\"><span>{}</span><strong>{}</strong>{previous}</div>",
            Esc(&f.key),
            Esc(&f.label),
            Esc(&f.text)
        );
    }
    out.push_str("</div>");
    out
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{}", v as i64)
    } else {
        format!("{v:.1}").replace('.', ",")
    }
}

fn table_html(table: &leadgate_core::reports::Table) -> String {
    if table.rows.is_empty() {
        return "<p class=\"empty\">Нет строк за период.</p>".into();
    }
    let mut out = format!(
        "<table class=\"report\" id=\"table-{}\"><thead><tr>",
        Esc(&table.key)
    );
    for c in &table.columns {
        // The page shows roubles; JSON and CSV keep kopecks.
        let _ = write!(out, "<th>{}</th>", Esc(&c.label.replace(", коп.", "")));
    }
    out.push_str("</tr></thead><tbody>");
    for row in &table.rows {
        out.push_str("<tr>");
        for c in &table.columns {
            let cell = match row.get(&c.key) {
                Some(serde_json::Value::String(s)) => {
                    format!("<td>{}</td>", Esc(s))
                }
                Some(serde_json::Value::Number(n)) => {
                    let text = if c.key == "amount" || c.key == "revenue" {
                        leadgate_domain::scenario::format_rub(n.as_i64().unwrap_or(0))
                    } else {
                        number(n.as_f64().unwrap_or(0.0))
                    };
                    format!("<td class=\"num\">{}</td>", Esc(&text))
                }
                _ => "<td class=\"num\">—</td>".to_owned(),
            };
            out.push_str(&cell);
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}
