//! `/ui/board` ("Мои продажи"): one column per stage with its count and sum,
//! at most 50 cards a page, a card per interest coloured green / yellow / red;
//! a manager sees their own interests, a head the department's. Filters by
//! responsible, colour and channel, and a search by name, phone, e-mail or
//! company; won and lost columns show the last 30 days. Moving a card (its
//! select, or dragging it with JavaScript on) opens the transition form
//! (result of the current step and the next step). Everything works without
//! JavaScript.

use std::fmt::Write;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde::Deserialize;

use super::error::PageError;
use super::form::CsrfForm;
use super::html::{esc_or_dash, local_time, Esc};
use super::layout;
use super::session::WebUser;
use crate::api::stage::{interest_view, InterestView};
use crate::AppState;
use leadgate_core::stage::{
    Actor, AllowedTransition, NextStepRequest, Scope, StageCommand, StageError,
};
use leadgate_domain::interest::InterestStatus;
use leadgate_domain::role::Role;
use leadgate_domain::scenario::{format_rub, Colour, InteractionKind, StageKind};
use leadgate_store::{BoardFilter, BoardSearch};

/// Who works the board (admins may too).
pub const ROLES: &[Role] = &[Role::Manager, Role::Head];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui/board", get(board_page))
        .route("/ui/interests/{id}/move", get(move_page))
        .route("/ui/interests/{id}/transition", post(transition))
        .route("/ui/interests/{id}/loss/{decision}", post(decide_loss))
}

impl From<StageError> for PageError {
    fn from(error: StageError) -> Self {
        match error {
            StageError::NotFound(what) => PageError::NotFound(what),
            StageError::Forbidden => PageError::Forbidden,
            StageError::Refused { field, detail } | StageError::Conflict { field, detail } => {
                PageError::BadRequest(refusal_text(field, &detail))
            }
            StageError::Storage(storage) => storage.into(),
        }
    }
}

/// The engine's refusal in the words of the page.
pub(super) fn refusal_text(field: Option<&str>, detail: &str) -> String {
    let said = if detail.starts_with("nothing would be planned") {
        "ничего не запланировано: запланируйте взаимодействие или задачу либо выберите «Ничего не планировать»".to_owned()
    } else if detail.starts_with("this was the last thing planned") {
        "это было последнее запланированное дело: запланируйте следующий шаг или выберите «Ничего не планировать»".to_owned()
    } else if detail.starts_with("the result of the current interaction is required") {
        "напишите результат текущего взаимодействия".to_owned()
    } else if detail.starts_with("the next step is in the past") {
        "следующий шаг назначен на прошедшее время".to_owned()
    } else if detail.starts_with("the next step task has no title") {
        "у задачи нет названия".to_owned()
    } else if let Some(rest) = detail.strip_prefix("cannot move to ") {
        let why = rest.split_once(": ").map(|(_, why)| why).unwrap_or(rest);
        format!(
            "переход невозможен: {}",
            why.replace("the interest has no order", "у интереса нет заказа")
                .replace(
                    "orders are not paid in full",
                    "заказы оплачены не полностью"
                )
                .replace(
                    "orders are not shipped in full",
                    "заказы отгружены не полностью"
                )
                .replace(
                    "the lead has not become a client",
                    "лид ещё не стал клиентом"
                )
        )
    } else if detail.starts_with("closing as lost is waiting for approval") {
        "закрытие как неудачного ждёт согласования руководителя".to_owned()
    } else {
        detail.to_owned()
    };
    match field {
        Some(field) => format!("{}: {said}", field_label(field)),
        None => said,
    }
}

pub(super) fn field_label(field: &str) -> &str {
    match field {
        "to" => "Этап",
        "result" => "Результат",
        "next" | "next.at" | "next.due" => "Следующий шаг",
        "next.title" => "Задача",
        "next.assignee" => "Исполнитель",
        "reason" => "Причина",
        "comment" => "Комментарий",
        "status" => "Состояние",
        "responsible" => "Ответственный",
        "title" => "Задача",
        "due" => "Срок",
        "assignee" => "Исполнитель",
        "planned_at" | "done_at" => "Когда",
        other => other,
    }
}

pub(super) async fn actor(state: &AppState, user: &WebUser) -> Result<Actor, PageError> {
    user.require(ROLES)?;
    Ok(state
        .stage
        .actor(&user.login, user.role, user.department.as_deref())
        .await?)
}

pub(super) fn path_id(path: Result<Path<i64>, PathRejection>) -> Result<i64, PageError> {
    path.map(|Path(id)| id)
        .map_err(|_| PageError::NotFound("interest"))
}

pub(super) fn colour_str(colour: Colour) -> &'static str {
    match colour {
        Colour::Green => "green",
        Colour::Yellow => "yellow",
        Colour::Red => "red",
    }
}

pub(super) fn colour_label(colour: Colour) -> &'static str {
    match colour {
        Colour::Green => "всё запланировано",
        Colour::Yellow => "есть дела на сегодня",
        Colour::Red => "есть просроченное",
    }
}

pub(super) fn status_label(status: InterestStatus) -> &'static str {
    match status {
        InterestStatus::Open => "в работе",
        InterestStatus::LossPending => "ждёт согласования отказа",
        InterestStatus::Won => "завершён успешно",
        InterestStatus::Lost => "завершён неудачно",
    }
}

/// The "move" form of a card: a select of the allowed stages; it opens the
/// transition form (a GET, it changes nothing).
pub(super) fn move_form(id: i64, allowed: &[AllowedTransition]) -> String {
    if allowed.is_empty() {
        return String::new();
    }
    let options: String = allowed
        .iter()
        .map(|t| format!("<option value=\"{}\">{}</option>", Esc(&t.id), Esc(&t.name)))
        .collect();
    format!(
        "<form class=\"move\" method=\"get\" action=\"/ui/interests/{id}/move\">\
         <label for=\"move-to-{id}\">Перевести на этап</label>\
         <select id=\"move-to-{id}\" name=\"to\">{options}</select>\
         <button type=\"submit\" id=\"move-{id}\" title=\"Перевести\" aria-label=\"Перевести\">→</button></form>"
    )
}

/// Cards per column and page.
const PAGE: i64 = 50;
/// Closed interests stay on the board this long (unless searched for).
const CLOSED_DAYS: i64 = 30;

#[derive(Debug, Deserialize, Default)]
struct BoardQuery {
    #[serde(default)]
    responsible: Option<String>,
    #[serde(default)]
    colour: Option<String>,
    /// `channel:<channel>` or `source:<source>`.
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    q: Option<String>,
    /// The column paged through, and from which card.
    #[serde(default)]
    column: Option<String>,
    #[serde(default)]
    offset: Option<i64>,
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl BoardQuery {
    /// The query string of the filters (without paging), for links.
    fn filters(&self) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (key, value) in [
            ("responsible", &self.responsible),
            ("colour", &self.colour),
            ("from", &self.from),
            ("q", &self.q),
        ] {
            if let Some(v) = non_empty(value) {
                out.append_pair(key, v);
            }
        }
        out.finish()
    }
}

pub(super) fn channel_label(channel: &str) -> &str {
    match channel {
        "api" => "API",
        "form" => "Сайт",
        "mail" => "Почта",
        "telegram" => "Telegram",
        "vk" => "ВКонтакте",
        "phone" => "Телефон",
        other => other,
    }
}

/// Search text → what the store looks for: the text in the spellings names
/// are stored in, and the phone behind any spelling of it.
fn board_search(raw: &str, region: leadgate_domain::contact::Region) -> BoardSearch {
    let text = raw.trim();
    let escaped: String = text.chars().filter(|c| *c != '%' && *c != '_').collect();
    let lower = escaped.to_lowercase();
    let capitalised: String = lower
        .split(' ')
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    let mut patterns: Vec<String> = [escaped.clone(), lower, capitalised, escaped.to_uppercase()]
        .into_iter()
        .filter(|p| !p.is_empty())
        .map(|p| format!("%{p}%"))
        .collect();
    patterns.dedup();
    let phone_like = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || " +-()".contains(c));
    let phone = phone_like
        .then(|| leadgate_domain::contact::Phone::parse(text, region).ok())
        .flatten()
        .map(|p| p.e164().to_owned());
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    BoardSearch {
        patterns,
        digits: (phone_like && phone.is_none() && digits.len() >= 4).then(|| format!("%{digits}%")),
        phone,
    }
}

async fn board_page(
    State(state): State<AppState>,
    user: WebUser,
    query: Result<Query<BoardQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let actor = actor(&state, &user).await?;
    let Query(q) = query.map_err(|e| PageError::BadRequest(e.body_text()))?;
    let tz = state.core.calendar.tz();
    let now = Utc::now();
    let people = state
        .stage
        .assignable(&actor, user.department.as_deref())
        .await?;
    let responsibles: Option<Vec<String>> = match (non_empty(&q.responsible), &actor.scope) {
        (Some(login), scope) if scope.covers(Some(login)) => Some(vec![login.to_owned()]),
        (Some(_), _) => return Err(PageError::Forbidden),
        (None, Scope::All) => None,
        (None, Scope::Responsibles(logins)) => Some(logins.clone()),
    };
    let colour = match non_empty(&q.colour) {
        None => None,
        Some("green") => Some(Colour::Green),
        Some("yellow") => Some(Colour::Yellow),
        Some("red") => Some(Colour::Red),
        Some(other) => {
            return Err(PageError::BadRequest(format!(
                "цвет: неизвестный «{other}»"
            )))
        }
    };
    let (channel, source) = match non_empty(&q.from).and_then(|f| f.split_once(':')) {
        Some(("channel", c)) => (Some(c.to_owned()), None),
        Some(("source", s)) => (None, Some(s.to_owned())),
        _ => (None, None),
    };
    let search = non_empty(&q.q).map(|text| board_search(text, state.core.region()));
    let tomorrow = state
        .core
        .calendar
        .local_date(now)
        .succ_opt()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|d| tz.from_local_datetime(&d).earliest())
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or(now);
    let filter = BoardFilter {
        responsibles,
        // A search finds closed interests of any age.
        closed_since: if search.is_some() {
            DateTime::<Utc>::UNIX_EPOCH
        } else {
            now - chrono::Duration::days(CLOSED_DAYS)
        },
        channel,
        source,
        colour,
        search,
        now,
        tomorrow,
    };
    let totals = state.store.board_totals(&filter).await?;
    let sources = state.store.interest_sources().await?;

    let mut body = String::from("<h1>Мои продажи</h1>");
    body.push_str(&board_filters(&q, &people, &sources, user.role));
    // Columns: the stages of every scenario on the board, the default first.
    let scenarios = state.stage.router().scenarios();
    let mut scenario_ids: Vec<String> = scenarios
        .default_scenario()
        .map(|s| vec![s.id.clone()])
        .unwrap_or_default();
    for t in &totals {
        if !scenario_ids.contains(&t.scenario) {
            scenario_ids.push(t.scenario.clone());
        }
    }
    let filters = q.filters();
    body.push_str("<div class=\"board\" id=\"board\">");
    for scenario_id in &scenario_ids {
        let Some(scenario) = scenarios.scenario(scenario_id) else {
            continue;
        };
        for stage in &scenario.stages {
            let closed = stage.kind != StageKind::Working;
            let total = totals
                .iter()
                .find(|t| &t.scenario == scenario_id && t.stage == stage.id);
            let (count, amount) = total.map(|t| (t.count, t.amount)).unwrap_or((0, 0));
            let offset = if q.column.as_deref() == Some(stage.id.as_str()) {
                q.offset.unwrap_or(0).clamp(0, count.max(0))
            } else {
                0
            };
            let cards = if count > 0 {
                state
                    .store
                    .board_cards(&filter, scenario_id, &stage.id, closed, PAGE, offset)
                    .await?
            } else {
                Vec::new()
            };
            let _ = write!(
                body,
                "<section class=\"stage-column\" id=\"column-{id}\" data-stage=\"{id}\">\
                 <h2>{name} <span class=\"count\">{count}</span></h2>\
                 <p class=\"column-sum\">{sum}{closed_note}</p><div class=\"cards\">",
                id = Esc(&stage.id),
                name = Esc(&stage.name),
                sum = Esc(&format_rub(amount)),
                closed_note = if closed && non_empty(&q.q).is_none() {
                    " · за 30 дней"
                } else {
                    ""
                },
            );
            for card in &cards {
                body.push_str(&board_card(&state, card, tz, now));
            }
            body.push_str("</div>");
            let base = if filters.is_empty() {
                String::new()
            } else {
                format!("{filters}&")
            };
            if offset > 0 {
                let _ = write!(
                    body,
                    "<a class=\"page-prev\" id=\"prev-{id}\" href=\"/ui/board?{base}column={id}&amp;offset={o}\">← назад</a> ",
                    id = Esc(&stage.id),
                    base = Esc(&base),
                    o = (offset - PAGE).max(0)
                );
            }
            if offset + PAGE < count {
                let _ = write!(
                    body,
                    "<a class=\"page-more\" id=\"more-{id}\" href=\"/ui/board?{base}column={id}&amp;offset={o}\">ещё {n}</a>",
                    id = Esc(&stage.id),
                    base = Esc(&base),
                    o = offset + PAGE,
                    n = (count - offset - PAGE).min(PAGE)
                );
            }
            if count > 0 {
                let _ = write!(
                    body,
                    "<p class=\"page-note\">{}–{} из {count}</p>",
                    if cards.is_empty() { offset } else { offset + 1 },
                    offset + i64::try_from(cards.len()).unwrap_or(0)
                );
            }
            body.push_str("</section>");
        }
    }
    body.push_str("</div><script src=\"/ui/static/sales.js\"></script>");
    Ok(layout::page("Мои продажи", Some(&user), &body).into_response())
}

fn board_filters(
    q: &BoardQuery,
    people: &[(String, String)],
    sources: &[(String, String)],
    role: Role,
) -> String {
    let selected = |current: Option<&str>, value: &str| {
        if current == Some(value) {
            " selected"
        } else {
            ""
        }
    };
    let mut out = String::from(
        "<form class=\"filter\" method=\"get\" action=\"/ui/board\" role=\"search\">\
         <label for=\"q\">Поиск</label>\
         <input id=\"q\" name=\"q\" type=\"search\" placeholder=\"имя, телефон, e-mail, компания\"",
    );
    let _ = write!(out, " value=\"{}\">", Esc(non_empty(&q.q).unwrap_or("")));
    if role != Role::Manager || people.len() > 1 {
        out.push_str("<label for=\"responsible\">Ответственный</label><select id=\"responsible\" name=\"responsible\"><option value=\"\">все</option>");
        for (login, name) in people {
            let _ = write!(
                out,
                "<option value=\"{}\"{}>{}</option>",
                Esc(login),
                selected(non_empty(&q.responsible), login),
                Esc(name)
            );
        }
        out.push_str("</select>");
    }
    out.push_str("<label for=\"colour\">Цвет</label><select id=\"colour\" name=\"colour\"><option value=\"\">любой</option>");
    for (value, label) in [
        ("red", "просрочено"),
        ("yellow", "на сегодня"),
        ("green", "запланировано"),
    ] {
        let _ = write!(
            out,
            "<option value=\"{value}\"{}>{label}</option>",
            selected(non_empty(&q.colour), value)
        );
    }
    out.push_str("</select><label for=\"from\">Канал</label><select id=\"from\" name=\"from\"><option value=\"\">все</option>");
    let mut channels: Vec<&str> = sources.iter().map(|(c, _)| c.as_str()).collect();
    channels.dedup();
    for channel in channels {
        let value = format!("channel:{channel}");
        let _ = write!(
            out,
            "<option value=\"{}\"{}>{}</option>",
            Esc(&value),
            selected(non_empty(&q.from), &value),
            Esc(channel_label(channel))
        );
        for (_, source) in sources.iter().filter(|(c, s)| c == channel && s != channel) {
            let value = format!("source:{source}");
            let _ = write!(
                out,
                "<option value=\"{}\"{}>  {}: {}</option>",
                Esc(&value),
                selected(non_empty(&q.from), &value),
                Esc(channel_label(channel)),
                Esc(source)
            );
        }
    }
    out.push_str(
        "</select><button type=\"submit\" id=\"filter-submit\">Показать</button>\
         <a href=\"/ui/board\">сбросить</a></form>",
    );
    out
}

fn board_card(
    state: &AppState,
    card: &leadgate_store::BoardCard,
    tz: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> String {
    let interest = &card.interest;
    let colour = if interest.status.is_finished() {
        None
    } else {
        Some(
            state
                .stage
                .colour(&card.next_due.into_iter().collect::<Vec<_>>(), now),
        )
    };
    let allowed = state.stage.allowed_transitions(interest);
    let allowed_ids: Vec<&str> = allowed.iter().map(|t| t.id.as_str()).collect();
    let mut out = format!(
        "<article class=\"card colour-{c}\" id=\"interest-{id}\" data-id=\"{id}\" data-colour=\"{c}\" \
         data-allowed=\"{allowed}\"{draggable} title=\"{label}\">\
         <a class=\"client\" href=\"/ui/interests/{id}\">{client}</a>\
         <small class=\"meta\">№{id} · {responsible}{amount}</small>",
        c = colour.map(colour_str).unwrap_or("closed"),
        id = interest.id,
        allowed = Esc(&allowed_ids.join(" ")),
        draggable = if allowed.is_empty() { "" } else { " draggable=\"true\"" },
        label = colour.map(colour_label).unwrap_or("завершён"),
        client = Esc(&card.client_name),
        // The person's name, as the card and Today show it; the login when
        // the configuration has none.
        responsible = esc_or_dash(interest.responsible.as_deref().map(|login| {
            state
                .core
                .manager(login)
                .map(|m| m.name.as_str())
                .filter(|n| !n.trim().is_empty())
                .unwrap_or(login)
        })),
        amount = interest
            .potential_amount
            .filter(|a| *a > 0)
            .map(|a| format!(" · {}", Esc(&format_rub(a))))
            .unwrap_or_default(),
    );
    if let Some(title) = &card.task_title {
        let _ = write!(
            out,
            "<small class=\"next-task\">{}{}</small>",
            Esc(title),
            card.task_due
                .map(|d| format!(" · до {}", local_time(d, tz)))
                .unwrap_or_default()
        );
    } else if let Some(due) = card.next_due {
        let _ = write!(
            out,
            "<small class=\"next-task\">Ближайшее: {}</small>",
            local_time(due, tz)
        );
    }
    if let Some(closed) = card.closed_at.filter(|_| interest.status.is_finished()) {
        let _ = write!(out, "<small>Закрыт {}</small>", local_time(closed, tz));
    }
    if interest.status == InterestStatus::LossPending {
        out.push_str("<small class=\"pending\">ждёт согласования отказа</small>");
    }
    out.push_str(&move_form(interest.id, &allowed));
    out.push_str("</article>");
    out
}

/// Fields of the next step, shared by the transition, return, completion
/// and planning forms; `prefix` keeps ids unique when a page has several.
/// `default` is the radio checked first (`None`: none, so an empty choice
/// reaches the engine and its rule "always a next step" answers).
pub(super) fn next_step_fields(
    prefix: &str,
    default: Option<&str>,
    assignees: &[(String, String)],
) -> String {
    let checked = |v: &str| if default == Some(v) { " checked" } else { "" };
    let mut assignee = String::new();
    if !assignees.is_empty() {
        let _ = write!(
            assignee,
            "<label for=\"{prefix}next-assignee\">Исполнитель</label><select name=\"next_assignee\" id=\"{prefix}next-assignee\">"
        );
        for (login, name) in assignees {
            let _ = write!(
                assignee,
                "<option value=\"{}\">{}</option>",
                Esc(login),
                Esc(name)
            );
        }
        assignee.push_str("</select>");
    }
    format!(
        "<fieldset class=\"next\"><legend>Следующий шаг</legend>\
         <div class=\"choice\"><label><input type=\"radio\" name=\"next_type\" value=\"interaction\" id=\"{prefix}next-interaction\"{ci}> Взаимодействие</label>\
         <select name=\"next_kind\" id=\"{prefix}next-kind\" aria-label=\"Вид\"><option value=\"call\">Звонок</option>\
         <option value=\"meeting\">Встреча</option><option value=\"email\">Письмо</option>\
         <option value=\"message\">Сообщение</option></select>\
         <label for=\"{prefix}next-at\">Когда</label><input type=\"datetime-local\" name=\"next_at\" id=\"{prefix}next-at\">\
         <label for=\"{prefix}next-subject\">Тема</label><input name=\"next_subject\" id=\"{prefix}next-subject\"></div>\
         <div class=\"choice\"><label><input type=\"radio\" name=\"next_type\" value=\"task\" id=\"{prefix}next-task\"{ct}> Задача</label>\
         <label for=\"{prefix}next-title\">Что сделать</label><input name=\"next_title\" id=\"{prefix}next-title\">\
         <label for=\"{prefix}next-due\">Срок</label><input type=\"datetime-local\" name=\"next_due\" id=\"{prefix}next-due\">{assignee}</div>\
         <div class=\"choice\"><label><input type=\"radio\" name=\"next_type\" value=\"nothing\" id=\"{prefix}next-nothing\"{cn}> Ничего не планировать</label></div>\
         </fieldset>",
        ci = checked("interaction"),
        ct = checked("task"),
        cn = checked("nothing"),
    )
}

#[derive(Debug, Deserialize)]
struct MoveQuery {
    to: String,
}

async fn move_page(
    State(state): State<AppState>,
    user: WebUser,
    path: Result<Path<i64>, PathRejection>,
    query: Result<Query<MoveQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let id = path_id(path)?;
    let actor = actor(&state, &user).await?;
    let Query(q) = query.map_err(|_| PageError::BadRequest("не выбран этап".into()))?;
    let details = state.stage.visible_interest(&actor, id).await?;
    let view = interest_view(&state, details)
        .await
        .map_err(|e| PageError::Internal(e.to_string()))?;
    let assignees = state
        .stage
        .assignable(&actor, user.department.as_deref())
        .await?;
    Ok(transition_form(
        &state,
        &user,
        &view,
        &q.to,
        None,
        None,
        &assignees,
        StatusCode::OK,
    ))
}

#[allow(clippy::too_many_arguments)]
fn transition_form(
    state: &AppState,
    user: &WebUser,
    view: &InterestView,
    to: &str,
    problem: Option<&str>,
    typed: Option<&TransitionForm>,
    assignees: &[(String, String)],
    status: StatusCode,
) -> Response {
    let id = view.details.interest.id;
    let client_name = view.client_name.as_str();
    let Some(target) = view.allowed_transitions.iter().find(|t| t.id == to) else {
        let body = format!(
            "<h1>Перевод невозможен</h1><p class=\"error\" role=\"alert\">Этап «{}» недоступен из «{}».</p>\
             <p><a href=\"/ui/interests/{id}\">К интересу</a></p>",
            Esc(to),
            Esc(&view.stage_name)
        );
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            layout::page("Перевод", Some(user), &body),
        )
            .into_response();
    };
    let problem = problem
        .map(|p| {
            format!(
                "<p class=\"error\" role=\"alert\" id=\"form-error\">{}</p>",
                Esc(p)
            )
        })
        .unwrap_or_default();
    let typed_result = Esc(typed.map(|t| t.result.as_str()).unwrap_or("")).to_string();
    let fields = if target.kind == "lost" {
        let reasons: String = state
            .stage
            .loss_reasons(&view.details.interest)
            .iter()
            .map(|r| format!("<option value=\"{}\">{}</option>", Esc(r), Esc(r)))
            .collect();
        format!(
            "<label for=\"reason\">Причина отказа</label><select id=\"reason\" name=\"reason\">{reasons}</select>\
             <label for=\"result\">Комментарий</label><textarea id=\"result\" name=\"result\" rows=\"3\">{typed_result}</textarea>"
        )
    } else {
        // The stage's own tasks are done by the move, with this result.
        let purpose = format!("stage_entry:{}", view.details.interest.stage);
        let closing: Vec<String> = view
            .details
            .tasks
            .iter()
            .filter(|t| t.purpose.as_deref() == Some(purpose.as_str()) && t.status.is_open())
            .map(|t| format!("«{}»", Esc(&t.title)))
            .collect();
        let closing = if closing.is_empty() {
            String::new()
        } else {
            format!(
                "<p class=\"hint\" id=\"closing-tasks\">Перевод закроет задачи этапа: {} — с этим результатом.</p>",
                closing.join(", ")
            )
        };
        let next = if target.kind == "won" {
            "<p class=\"hint\">Интерес завершится успешно: следующий шаг не нужен.</p>".to_owned()
        } else {
            next_step_fields("", Some("interaction"), assignees)
        };
        format!(
            "<label for=\"result\">Результат текущего взаимодействия</label>\
             <textarea id=\"result\" name=\"result\" rows=\"3\" required>{typed_result}</textarea>{closing}{next}"
        )
    };
    let body = format!(
        "<h1>Интерес №{id}: «{}» → «{}»</h1><p>Клиент: <strong>{}</strong></p>{problem}\
         <form class=\"transition\" method=\"post\" action=\"/ui/interests/{id}/transition\">{}\
         <input type=\"hidden\" name=\"to\" value=\"{}\">{fields}\
         <button class=\"primary\" type=\"submit\" id=\"transition-submit\">Перевести</button></form>\
         <p><a href=\"/ui/interests/{id}\">Отмена</a></p>",
        Esc(&view.stage_name),
        Esc(&target.name),
        Esc(client_name),
        user.csrf_field(),
        Esc(&target.id),
    );
    (status, layout::page("Перевод", Some(user), &body)).into_response()
}

#[derive(Debug, Deserialize)]
pub(super) struct TransitionForm {
    to: String,
    #[serde(default)]
    result: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(flatten)]
    next: NextStepForm,
}

#[derive(Debug, Deserialize, Default)]
pub(super) struct NextStepForm {
    #[serde(default)]
    next_assignee: Option<String>,
    #[serde(default)]
    next_type: Option<String>,
    #[serde(default)]
    next_kind: Option<String>,
    #[serde(default)]
    next_at: Option<String>,
    #[serde(default)]
    next_subject: Option<String>,
    #[serde(default)]
    next_title: Option<String>,
    #[serde(default)]
    next_due: Option<String>,
}

/// A `datetime-local` value, read in the office's time zone.
pub(super) fn local_input(
    raw: Option<&str>,
    tz: chrono_tz::Tz,
    what: &str,
) -> Result<DateTime<Utc>, String> {
    let raw = raw
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| format!("укажите {what}"))?;
    let naive = NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| format!("{what}: неверная дата и время «{raw}»"))?;
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|local| local.with_timezone(&Utc))
        .ok_or_else(|| format!("{what}: такого времени нет в часовом поясе офиса"))
}

impl NextStepForm {
    /// The next step as typed; an interaction left without date and subject
    /// is no next step at all, so the engine's rule decides.
    /// The chosen assignee, which must be one of `allowed`.
    pub(super) fn check_assignee(&self, allowed: &[(String, String)]) -> Result<(), String> {
        match non_empty(&self.next_assignee) {
            Some(login)
                if self.next_type.as_deref() == Some("task")
                    && !allowed.iter().any(|(l, _)| l == login) =>
            {
                Err(format!(
                    "{login} — не из тех, кому вы можете ставить задачи"
                ))
            }
            _ => Ok(()),
        }
    }

    pub(super) fn request(&self, tz: chrono_tz::Tz) -> Result<Option<NextStepRequest>, String> {
        let blank = |v: &Option<String>| v.as_deref().is_none_or(|v| v.trim().is_empty());
        match self.next_type.as_deref().unwrap_or("") {
            "" => Ok(None),
            "interaction" if blank(&self.next_at) && blank(&self.next_subject) => Ok(None),
            "nothing" => Ok(Some(NextStepRequest::Nothing)),
            "interaction" => {
                let kind = match self.next_kind.as_deref().unwrap_or("call") {
                    "call" => InteractionKind::Call,
                    "meeting" => InteractionKind::Meeting,
                    "email" => InteractionKind::Email,
                    "message" => InteractionKind::Message,
                    other => return Err(format!("неизвестный вид взаимодействия «{other}»")),
                };
                Ok(Some(NextStepRequest::Interaction {
                    kind,
                    at: local_input(
                        self.next_at.as_deref(),
                        tz,
                        "когда состоится взаимодействие",
                    )?,
                    subject: self.next_subject.clone().unwrap_or_default(),
                }))
            }
            "task" => Ok(Some(NextStepRequest::Task {
                title: self.next_title.clone().unwrap_or_default(),
                due: local_input(self.next_due.as_deref(), tz, "срок задачи")?,
                assignee: non_empty(&self.next_assignee).map(|login| format!("user:{login}")),
            })),
            other => Err(format!("неизвестный следующий шаг «{other}»")),
        }
    }
}

async fn transition(
    State(state): State<AppState>,
    path: Result<Path<i64>, PathRejection>,
    CsrfForm { user, form }: CsrfForm<TransitionForm>,
) -> Result<Response, PageError> {
    let id = path_id(path)?;
    let actor = actor(&state, &user).await?;
    let tz = state.core.calendar.tz();
    let assignees = state
        .stage
        .assignable(&actor, user.department.as_deref())
        .await?;
    let attempt = match form
        .next
        .check_assignee(&assignees)
        .and_then(|()| form.next.request(tz))
    {
        Err(problem) => Err(format!("{}: {problem}", field_label("next"))),
        Ok(next) => {
            let lost = form.reason.is_some();
            let command = StageCommand::Transition {
                to: form.to.clone(),
                result: form.result.clone(),
                next: if lost { None } else { next },
                reason: form.reason.clone(),
                comment: None,
            };
            match state.stage.command(&actor, id, command).await {
                Ok(_) => Ok(()),
                Err(
                    StageError::Refused { field, detail } | StageError::Conflict { field, detail },
                ) => Err(refusal_text(field, &detail)),
                Err(other) => return Err(other.into()),
            }
        }
    };
    match attempt {
        Ok(()) => Ok(Redirect::to(&format!("/ui/interests/{id}?moved=1")).into_response()),
        Err(problem) => {
            let details = state.stage.visible_interest(&actor, id).await?;
            let view = interest_view(&state, details)
                .await
                .map_err(|e| PageError::Internal(e.to_string()))?;
            Ok(transition_form(
                &state,
                &user,
                &view,
                &form.to,
                Some(&problem),
                Some(&form),
                &assignees,
                StatusCode::UNPROCESSABLE_ENTITY,
            ))
        }
    }
}

#[derive(Debug, Deserialize)]
struct LossForm {
    #[serde(default)]
    comment: String,
    #[serde(default)]
    to: Option<String>,
    #[serde(flatten)]
    next: NextStepForm,
}

async fn decide_loss(
    State(state): State<AppState>,
    path: Result<Path<(i64, String)>, PathRejection>,
    CsrfForm { user, form }: CsrfForm<LossForm>,
) -> Result<Response, PageError> {
    let Path((id, decision)) = path.map_err(|_| PageError::NotFound("interest"))?;
    let actor = actor(&state, &user).await?;
    let command = match decision.as_str() {
        "approve" => StageCommand::ApproveLoss {
            comment: form.comment,
        },
        "return" => {
            let next = form
                .next
                .request(state.core.calendar.tz())
                .map_err(|problem| {
                    PageError::BadRequest(format!("{}: {problem}", field_label("next")))
                })?;
            StageCommand::ReturnFromLoss {
                to: form.to.unwrap_or_default(),
                comment: form.comment,
                next,
            }
        }
        _ => return Err(PageError::NotFound("decision")),
    };
    state.stage.command(&actor, id, command).await?;
    Ok(Redirect::to(&format!("/ui/interests/{id}?moved=1")).into_response())
}

impl NextStepForm {
    pub(super) fn next_type(&self) -> Option<&str> {
        self.next_type.as_deref()
    }

    pub(super) fn kind(&self) -> Result<InteractionKind, String> {
        match self.next_kind.as_deref().unwrap_or("call") {
            "call" => Ok(InteractionKind::Call),
            "meeting" => Ok(InteractionKind::Meeting),
            "email" => Ok(InteractionKind::Email),
            "message" => Ok(InteractionKind::Message),
            other => Err(format!("неизвестный вид взаимодействия «{other}»")),
        }
    }
}
