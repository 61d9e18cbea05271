//! `/ui/today` — the page a manager opens at 9:00: their tasks that are
//! overdue or due today, across interests, oldest first, each completable
//! right there; and `/ui/clients/{id}` — a client with its people, contact
//! points, every interest and every appeal.

use std::fmt::Write;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{TimeZone, Utc};
use serde::Deserialize;

use super::board::{actor, channel_label, status_label};
use super::error::PageError;
use super::html::{esc_or_dash, local_time, Esc};
use super::layout;
use super::session::WebUser;
use crate::AppState;
use leadgate_domain::appeal::ContactKind;
use leadgate_domain::client::ContactPoint;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui/today", get(today_page))
        .route("/ui/clients/{id}", get(client_page))
}

#[derive(Debug, Deserialize, Default)]
struct TodayQuery {
    #[serde(default)]
    done: Option<String>,
}

async fn today_page(
    State(state): State<AppState>,
    user: WebUser,
    query: Result<Query<TodayQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    actor(&state, &user).await?;
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let tz = state.core.calendar.tz();
    let now = Utc::now();
    let tomorrow = state
        .core
        .calendar
        .local_date(now)
        .succ_opt()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|d| tz.from_local_datetime(&d).earliest())
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or(now);
    let tasks = state.store.today_tasks(&user.login, tomorrow).await?;
    let overdue = tasks
        .iter()
        .filter(|t| t.task.due_at.is_some_and(|d| d < now))
        .count();
    let mut body = format!(
        "<h1>Сегодня <small>{}</small></h1>",
        state.core.calendar.local_date(now).format("%d.%m.%Y")
    );
    if q.done.is_some() {
        body.push_str("<p class=\"flash\" role=\"status\">Задача выполнена.</p>");
    }
    let _ = write!(
        body,
        "<p class=\"today-summary\">Задач на сегодня: <strong id=\"today-count\">{}</strong>, из них просрочено: \
         <strong id=\"today-overdue\" class=\"{}\">{overdue}</strong>.</p>",
        tasks.len(),
        if overdue > 0 { "late" } else { "" }
    );
    if tasks.is_empty() {
        body.push_str("<p class=\"muted\" id=\"today-empty\">На сегодня дел нет. Загляните в <a href=\"/ui/board\">«Мои продажи»</a>.</p>");
    } else {
        body.push_str("<table class=\"today\" id=\"today\"><thead><tr><th>Срок</th><th>Задача</th><th>Клиент</th><th>Этап</th><th>Результат</th></tr></thead><tbody>");
        for item in &tasks {
            let task = &item.task;
            let late = task.due_at.is_some_and(|d| d < now);
            let _ = write!(
                body,
                "<tr class=\"{late}\" id=\"today-task-{tid}\"><td class=\"due\">{due}{late_word}</td>\
                 <td>{title}</td><td><a href=\"/ui/interests/{iid}\">{client}</a> <small>№{iid}</small></td><td>{stage}</td>\
                 <td><form class=\"complete\" method=\"post\" action=\"/ui/tasks/{tid}/complete\">{csrf}\
                 <input type=\"hidden\" name=\"back\" value=\"today\">\
                 <label class=\"sr\" for=\"today-result-{tid}\">Результат</label>\
                 <input id=\"today-result-{tid}\" name=\"result\" placeholder=\"Результат\" autocomplete=\"off\">\
                 <button type=\"submit\" class=\"primary\" id=\"today-complete-{tid}\">Выполнено</button></form></td></tr>",
                late = if late { "late" } else { "" },
                late_word = if late { " <small>просрочена</small>" } else { "" },
                tid = task.id,
                iid = task.interest_id,
                due = task.due_at.map(|d| local_time(d, tz)).unwrap_or_default(),
                title = Esc(&task.title),
                client = Esc(&item.client_name),
                stage = Esc(&state.stage.router().stage_name(&item.scenario, &item.stage)),
                csrf = user.csrf_field(),
            );
        }
        body.push_str("</tbody></table>");
    }
    Ok(layout::page("Сегодня", Some(&user), &body).into_response())
}

fn point_text(point: &ContactPoint) -> String {
    let raw = if point.raw.trim().is_empty() {
        &point.value
    } else {
        &point.raw
    };
    match point.kind {
        ContactKind::Phone => format!("<a href=\"tel:{}\">{}</a>", Esc(&point.value), Esc(raw)),
        ContactKind::Email => format!("<a href=\"mailto:{}\">{}</a>", Esc(&point.value), Esc(raw)),
        ContactKind::TelegramUsername => format!(
            "<a href=\"https://t.me/{}\">Telegram @{}</a>",
            Esc(&point.value),
            Esc(&point.value)
        ),
        ContactKind::TelegramId => format!("Telegram id {}", Esc(&point.value)),
        ContactKind::VkId => format!(
            "<a href=\"https://vk.com/id{}\">ВКонтакте id{}</a>",
            Esc(&point.value),
            Esc(&point.value)
        ),
        ContactKind::VkScreenName => format!(
            "<a href=\"https://vk.com/{}\">ВКонтакте {}</a>",
            Esc(&point.value),
            Esc(&point.value)
        ),
    }
}

fn points(list: &[ContactPoint]) -> String {
    if list.is_empty() {
        return "<span class=\"muted\">нет контактов</span>".into();
    }
    let items: String = list
        .iter()
        .map(|p| format!("<li>{}</li>", point_text(p)))
        .collect();
    format!("<ul class=\"points\">{items}</ul>")
}

async fn client_page(
    State(state): State<AppState>,
    user: WebUser,
    path: Result<Path<i64>, PathRejection>,
) -> Result<Response, PageError> {
    let id = path
        .map(|Path(id)| id)
        .map_err(|_| PageError::NotFound("client"))?;
    let actor = actor(&state, &user).await?;
    let client = state
        .store
        .client(id)
        .await?
        .ok_or(PageError::NotFound("client"))?;
    let interests = state.store.client_interests(id).await?;
    // Whoever may see one of the client's interests, or is the client's
    // manager, sees the client; anybody else is told it does not exist.
    let mut visible = actor.scope.covers(client.responsible.as_deref());
    for interest in &interests {
        if visible {
            break;
        }
        visible = state
            .stage
            .visible_interest(&actor, interest.id)
            .await
            .is_ok();
    }
    if !visible {
        return Err(PageError::NotFound("client"));
    }
    let appeals = state.store.client_appeals(id).await?;
    let tz = state.core.calendar.tz();
    let mut body = format!(
        "<h1 id=\"client-name\">{}</h1><p>{} · ответственный {}</p>",
        Esc(&client.name),
        match client.kind {
            leadgate_domain::client::ClientKind::Company => "организация",
            _ => "частное лицо",
        },
        esc_or_dash(client.responsible.as_deref())
    );
    body.push_str(
        "<div class=\"interest-grid\"><div class=\"main-col\"><section><h2>Интересы</h2>",
    );
    if interests.is_empty() {
        body.push_str("<p class=\"muted\">Интересов нет.</p>");
    } else {
        body.push_str("<table class=\"list\" id=\"client-interests\"><thead><tr><th>№</th><th>Этап</th><th>Состояние</th><th>Ответственный</th><th>Создан</th></tr></thead><tbody>");
        for i in &interests {
            let _ = write!(
                body,
                "<tr class=\"status-{}\"><td><a href=\"/ui/interests/{id}\">№{id}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                i.status.as_str(),
                Esc(&state.stage.router().stage_name(&i.scenario, &i.stage)),
                status_label(i.status),
                esc_or_dash(i.responsible.as_deref()),
                local_time(i.created_at, tz),
                id = i.id,
            );
        }
        body.push_str("</tbody></table>");
    }
    body.push_str("</section><section><h2>Обращения</h2>");
    if appeals.is_empty() {
        body.push_str("<p class=\"muted\">Обращений нет.</p>");
    } else {
        body.push_str("<ul class=\"client-appeals\" id=\"client-appeals\">");
        for a in &appeals {
            let what = a
                .subject
                .as_deref()
                .or(a.text.as_deref())
                .map(|t| t.chars().take(120).collect::<String>())
                .unwrap_or_default();
            let link = match a.interest_id {
                Some(iid) => format!(
                    "<a href=\"/ui/interests/{iid}#appeal-{}\">№{}</a>",
                    a.id, a.id
                ),
                None => format!("№{}", a.id),
            };
            let _ = write!(
                body,
                "<li>{link} · {} · {} · {}</li>",
                Esc(channel_label(a.channel.as_str())),
                local_time(a.received_at, tz),
                Esc(&what)
            );
        }
        body.push_str("</ul>");
    }
    body.push_str("</section></div><aside class=\"side-col\"><section class=\"client-card\"><h2>Контакты</h2>");
    for person in &client.contact_persons {
        let _ = write!(
            body,
            "<div class=\"person\"><h3>{}</h3>{}</div>",
            Esc(&person.name),
            points(&person.contact_points)
        );
    }
    if !client.contact_points.is_empty() {
        let _ = write!(
            body,
            "<div class=\"person\"><h3>Общие контакты</h3>{}</div>",
            points(&client.contact_points)
        );
    }
    body.push_str("</section></aside></div>");
    Ok(layout::page(&client.name, Some(&user), &body).into_response())
}
