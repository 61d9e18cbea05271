//! `/ui/review`: the operators' queue. One item at a time, the appeal beside
//! each candidate client with the agreeing fields marked; one click or one key
//! decides, and the next item follows.

use std::fmt::Write;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use super::error::PageError;
use super::form::CsrfForm;
use super::html::{esc_or_dash, local_time, Esc};
use super::layout;
use super::session::WebUser;
use crate::AppState;
use leadgate_core::review::{self, Candidate, ReviewAction, ReviewItem};
use leadgate_domain::appeal::ContactKind;
use leadgate_domain::role::Role;

/// Who works the queue (admins may too).
pub const ROLES: &[Role] = &[Role::Operator];

/// Items listed beside the current one.
const LISTED: i64 = 50;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui/review", get(queue_page))
        .route("/ui/review/{id}/decision", post(decide))
}

#[derive(Debug, Deserialize)]
struct QueueQuery {
    /// Show this item instead of the oldest.
    item: Option<i64>,
    /// The item just decided, for the confirmation line.
    decided: Option<i64>,
}

fn kind_label(kind: ContactKind) -> &'static str {
    match kind {
        ContactKind::Phone => "Телефон",
        ContactKind::Email => "Email",
        ContactKind::TelegramId => "Telegram ID",
        ContactKind::TelegramUsername => "Telegram",
        ContactKind::VkId => "VK ID",
        ContactKind::VkScreenName => "VK",
    }
}

fn field_label(field: &str) -> String {
    match ContactKind::parse(field) {
        Some(kind) => kind_label(kind).to_lowercase(),
        None => match field {
            "name" => "имя".into(),
            "company" => "компания".into(),
            other => other.to_string(),
        },
    }
}

/// `text` escaped, inside `<mark>` when it agreed with a candidate.
fn marked(text: &str, hit: bool) -> String {
    if hit {
        format!("<mark>{}</mark>", Esc(text))
    } else {
        Esc(text).to_string()
    }
}

async fn queue_page(
    State(state): State<AppState>,
    user: WebUser,
    query: Result<Query<QueueQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    user.require(ROLES)?;
    let Query(q) = query.map_err(|e| PageError::BadRequest(e.body_text()))?;
    let region = state.core.region();
    let queue = review::queue(&state.store, region, LISTED).await?;
    let tz = state.core.calendar.tz();
    let current: Option<ReviewItem> = match q.item {
        Some(id) => {
            let item = review::item(&state.store, region, id).await?;
            Some(item)
        }
        None => queue.items.first().cloned(),
    };
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>Очередь проверки <span class=\"count\" id=\"open-count\">{}</span></h1>",
        queue.count
    );
    if let Some(done) = q.decided {
        let _ = write!(
            body,
            "<p class=\"flash\" role=\"status\">Решение по элементу №{done} сохранено.</p>"
        );
    }
    if queue.count == 0 && current.is_none() {
        body.push_str("<p id=\"queue-empty\">Очередь пуста: все обращения разобраны.</p>");
        return Ok(layout::page("Очередь проверки", Some(&user), &body).into_response());
    }
    body.push_str("<div class=\"review\"><aside><ol class=\"queue\">");
    for it in &queue.items {
        let is_current = current.as_ref().is_some_and(|c| c.id == it.id);
        let who = it
            .appeal
            .contact
            .display_name()
            .or(it.appeal.contact.company.as_deref())
            .unwrap_or("Без имени");
        let _ = write!(
            body,
            "<li{}><a href=\"/ui/review?item={}\">№{} {}</a><br><small>{}</small></li>",
            if is_current { " class=\"current\"" } else { "" },
            it.id,
            it.id,
            Esc(who),
            local_time(it.created_at, tz)
        );
    }
    if queue.count > queue.items.len() as i64 {
        let _ = write!(
            body,
            "<li><small>и ещё {}</small></li>",
            queue.count - queue.items.len() as i64
        );
    }
    body.push_str("</ol></aside>");
    match &current {
        Some(item) => render_item(&mut body, item, &user, tz),
        None => body.push_str("<section><p>Элемент не найден.</p></section>"),
    }
    body.push_str("</div><script src=\"/ui/static/review.js\"></script>");
    Ok(layout::page("Очередь проверки", Some(&user), &body).into_response())
}

fn render_item(body: &mut String, item: &ReviewItem, user: &WebUser, tz: chrono_tz::Tz) {
    let appeal = &item.appeal;
    let decided = appeal.status != leadgate_domain::appeal::AppealStatus::Review;
    let hit_fields: Vec<&str> = item
        .candidates
        .iter()
        .flat_map(|c| c.fields.iter().map(String::as_str))
        .collect();
    let _ = write!(
        body,
        "<section class=\"item\" id=\"review-item\" data-item=\"{}\"><div class=\"columns\">\
         <article class=\"appeal\"><h2>Обращение №{}</h2><dl>",
        item.id, appeal.id
    );
    let _ = write!(
        body,
        "<dt>Получено</dt><dd>{}</dd><dt>Канал</dt><dd>{} · {}</dd>",
        local_time(appeal.received_at, tz),
        Esc(appeal.channel.as_str()),
        Esc(&appeal.source)
    );
    let name = appeal.contact.display_name();
    let _ = write!(
        body,
        "<dt>Имя</dt><dd class=\"appeal-name\">{}</dd>",
        match name {
            Some(n) => marked(n, hit_fields.contains(&"name")),
            None => "—".into(),
        }
    );
    if let Some(company) = appeal
        .contact
        .company
        .as_deref()
        .filter(|c| !c.trim().is_empty())
    {
        let _ = write!(
            body,
            "<dt>Компания</dt><dd>{}</dd>",
            marked(company, hit_fields.contains(&"company"))
        );
    }
    for key in &item.keys {
        let hit = item.candidates.iter().any(|c| {
            c.matched
                .iter()
                .any(|m| m.kind == key.kind && m.value == key.value)
        });
        let _ = write!(
            body,
            "<dt>{}</dt><dd>{}</dd>",
            kind_label(key.kind),
            marked(&key.raw, hit)
        );
    }
    let _ = write!(
        body,
        "<dt>Тема</dt><dd>{}</dd></dl><div class=\"text\">{}</div>",
        esc_or_dash(appeal.subject.as_deref()),
        esc_or_dash(appeal.text.as_deref())
    );
    if let Some(reason) = &item.reason {
        let _ = write!(body, "<p class=\"why\">{}</p>", Esc(reason));
    }
    body.push_str("</article>");
    for (i, candidate) in item.candidates.iter().enumerate() {
        render_candidate(body, item, i + 1, candidate, user, decided);
    }
    body.push_str("</div>");
    if decided {
        let _ = write!(
            body,
            "<p class=\"flash\">Уже решено: обращение {}.</p>",
            Esc(appeal.status.as_str())
        );
    } else {
        let _ = write!(
            body,
            "<div class=\"actions\">\
             <form method=\"post\" action=\"/ui/review/{id}/decision\">{csrf}\
             <input type=\"hidden\" name=\"action\" value=\"new_client\">\
             <button type=\"submit\" data-key=\"n\" id=\"decide-new\">Новый клиент <kbd>N</kbd></button></form>\
             <form method=\"post\" action=\"/ui/review/{id}/decision\">{csrf}\
             <input type=\"hidden\" name=\"action\" value=\"spam\">\
             <button type=\"submit\" class=\"danger\" data-key=\"s\" id=\"decide-spam\">Спам <kbd>S</kbd></button></form>\
             </div>",
            id = item.id,
            csrf = user.csrf_field()
        );
    }
    body.push_str("</section>");
}

fn render_candidate(
    body: &mut String,
    item: &ReviewItem,
    n: usize,
    candidate: &Candidate,
    user: &WebUser,
    decided: bool,
) {
    let client = &candidate.client;
    let is_hit = |kind: ContactKind, value: &str| {
        candidate
            .matched
            .iter()
            .any(|m| m.kind == kind && m.value == value)
    };
    let name_hit = candidate.fields.iter().any(|f| f == "name");
    let _ = write!(
        body,
        "<article class=\"candidate\" data-client=\"{}\"><h2>{n}. {}</h2><dl><dt>Клиент</dt><dd>№{}{}</dd>",
        client.id,
        marked(&client.name, name_hit || (candidate.fields.iter().any(|f| f == "company"))),
        client.id,
        candidate
            .named_as
            .map(|named| format!(" (объединён из №{named})"))
            .unwrap_or_default()
    );
    if let Some(resp) = &client.responsible {
        let _ = write!(body, "<dt>Ответственный</dt><dd>{}</dd>", Esc(resp));
    }
    for person in &client.contact_persons {
        let _ = write!(
            body,
            "<dt>Контакт</dt><dd>{}</dd>",
            marked(&person.name, name_hit)
        );
        for p in &person.contact_points {
            let _ = write!(
                body,
                "<dt>{}</dt><dd>{}</dd>",
                kind_label(p.kind),
                marked(&p.raw, is_hit(p.kind, &p.value))
            );
        }
    }
    for p in &client.contact_points {
        let _ = write!(
            body,
            "<dt>{}</dt><dd>{}</dd>",
            kind_label(p.kind),
            marked(&p.raw, is_hit(p.kind, &p.value))
        );
    }
    body.push_str("</dl>");
    if !candidate.fields.is_empty() {
        let fields: Vec<String> = candidate.fields.iter().map(|f| field_label(f)).collect();
        let _ = write!(
            body,
            "<p class=\"why\">Совпадает: {}</p>",
            Esc(&fields.join(", "))
        );
    }
    if !decided {
        // Keys 1..9; later candidates are still a click away.
        let key = if n <= 9 {
            format!(" data-key=\"{n}\"")
        } else {
            String::new()
        };
        let hint = if n <= 9 {
            format!(" <kbd>{n}</kbd>")
        } else {
            String::new()
        };
        let _ = write!(
            body,
            "<form method=\"post\" action=\"/ui/review/{}/decision\">{}\
             <input type=\"hidden\" name=\"action\" value=\"link\">\
             <input type=\"hidden\" name=\"client_id\" value=\"{}\">\
             <button type=\"submit\" class=\"primary\"{key} id=\"decide-link-{}\">Это этот клиент{hint}</button></form>",
            item.id,
            user.csrf_field(),
            client.id,
            client.id
        );
    }
    body.push_str("</article>");
}

#[derive(Debug, Deserialize)]
struct DecisionForm {
    action: String,
    client_id: Option<i64>,
    person_id: Option<i64>,
}

async fn decide(
    State(state): State<AppState>,
    path: Result<Path<i64>, PathRejection>,
    CsrfForm { user, form }: CsrfForm<DecisionForm>,
) -> Result<Response, PageError> {
    user.require(ROLES)?;
    let Path(id) = path.map_err(|_| PageError::NotFound("review item"))?;
    let action = match (form.action.as_str(), form.client_id) {
        ("link", Some(client_id)) => ReviewAction::Link {
            client_id,
            person_id: form.person_id,
        },
        ("link", None) => return Err(PageError::BadRequest("не выбран клиент".into())),
        ("new_client", _) => ReviewAction::NewClient {},
        ("spam", _) => ReviewAction::Spam {},
        _ => return Err(PageError::BadRequest("неизвестное действие".into())),
    };
    review::decide(&state.pipeline, id, &action, &user.login).await?;
    // 303: the browser follows with a GET, and a reload does not post again.
    Ok(Redirect::to(&format!("/ui/review?decided={id}")).into_response())
}
