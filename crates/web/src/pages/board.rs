//! `/ui/board` ("Мои продажи"): one column per stage, a card per interest
//! coloured green / yellow / red; a manager sees their own interests, a head
//! the department's. Moving a card opens the transition form (result of the
//! current interaction and the next step). `/ui/interests/{id}` shows the feed,
//! tasks, orders and linked appeals. Everything works without JavaScript.

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
use crate::api::stage::{interest_list, interest_view, InterestQuery, InterestView};
use crate::AppState;
use leadgate_core::stage::{Actor, AllowedTransition, NextStepRequest, StageCommand, StageError};
use leadgate_domain::interest::InterestStatus;
use leadgate_domain::role::Role;
use leadgate_domain::scenario::{Colour, InteractionKind, StageKind};

/// Who works the board (admins may too).
pub const ROLES: &[Role] = &[Role::Manager, Role::Head];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui/board", get(board_page))
        .route("/ui/interests/{id}", get(interest_page))
        .route("/ui/interests/{id}/move", get(move_page))
        .route("/ui/interests/{id}/transition", post(transition))
        .route("/ui/interests/{id}/loss/{decision}", post(decide_loss))
}

impl From<StageError> for PageError {
    fn from(error: StageError) -> Self {
        match error {
            StageError::NotFound(what) => PageError::NotFound(what),
            StageError::Forbidden => PageError::Forbidden,
            StageError::Refused { field, detail } => PageError::BadRequest(match field {
                Some(field) => format!("{}: {detail}", field_label(field)),
                None => detail,
            }),
            StageError::Storage(storage) => storage.into(),
        }
    }
}

fn field_label(field: &str) -> &str {
    match field {
        "to" => "Этап",
        "result" => "Результат",
        "next" | "next.at" | "next.due" => "Следующий шаг",
        "next.title" => "Задача",
        "next.assignee" => "Исполнитель",
        "reason" => "Причина",
        "comment" => "Комментарий",
        "status" => "Состояние",
        other => other,
    }
}

async fn actor(state: &AppState, user: &WebUser) -> Result<Actor, PageError> {
    user.require(ROLES)?;
    Ok(state
        .stage
        .actor(&user.login, user.role, user.department.as_deref())
        .await?)
}

fn path_id(path: Result<Path<i64>, PathRejection>) -> Result<i64, PageError> {
    path.map(|Path(id)| id)
        .map_err(|_| PageError::NotFound("interest"))
}

fn colour_str(colour: Colour) -> &'static str {
    match colour {
        Colour::Green => "green",
        Colour::Yellow => "yellow",
        Colour::Red => "red",
    }
}

fn colour_label(colour: Colour) -> &'static str {
    match colour {
        Colour::Green => "всё запланировано",
        Colour::Yellow => "есть дела на сегодня",
        Colour::Red => "есть просроченное",
    }
}

fn status_label(status: InterestStatus) -> &'static str {
    match status {
        InterestStatus::Open => "в работе",
        InterestStatus::LossPending => "ждёт согласования отказа",
        InterestStatus::Won => "завершён успешно",
        InterestStatus::Lost => "завершён неудачно",
    }
}

/// The "move" form of a card: a select of the allowed stages; it opens the
/// transition form (a GET, it changes nothing).
fn move_form(id: i64, allowed: &[AllowedTransition]) -> String {
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
         <button type=\"submit\" id=\"move-{id}\">Перевести</button></form>"
    )
}

#[derive(Debug, Deserialize)]
struct BoardQuery {
    responsible: Option<String>,
}

async fn board_page(
    State(state): State<AppState>,
    user: WebUser,
    query: Result<Query<BoardQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let actor = actor(&state, &user).await?;
    let Query(q) = query.map_err(|e| PageError::BadRequest(e.body_text()))?;
    let list = interest_list(
        &state,
        &actor,
        &InterestQuery {
            responsible: q.responsible.clone().filter(|r| !r.trim().is_empty()),
            stage: None,
            colour: None,
            status: Some("active".into()),
        },
    )
    .await
    .map_err(|e| match e.status() {
        StatusCode::FORBIDDEN => PageError::Forbidden,
        _ => PageError::BadRequest(e.to_string()),
    })?;
    let tz = state.core.calendar.tz();
    let mut body = String::from("<h1>Мои продажи</h1>");
    if user.role != Role::Manager {
        let _ = write!(
            body,
            "<form class=\"filter\" method=\"get\" action=\"/ui/board\">\
             <label for=\"responsible\">Ответственный</label>\
             <input id=\"responsible\" name=\"responsible\" value=\"{}\" placeholder=\"все\">\
             <button type=\"submit\">Показать</button></form>",
            Esc(q.responsible.as_deref().unwrap_or(""))
        );
    }
    // Columns: the stages of every scenario on the board, the default first.
    let scenarios = state.stage.router().scenarios();
    let mut columns: Vec<(String, String, String)> = Vec::new();
    let mut scenario_ids: Vec<&str> = scenarios
        .default_scenario()
        .map(|s| vec![s.id.as_str()])
        .unwrap_or_default();
    for item in &list {
        if !scenario_ids.contains(&item.card.interest.scenario.as_str()) {
            scenario_ids.push(&item.card.interest.scenario);
        }
    }
    for id in &scenario_ids {
        if let Some(scenario) = scenarios.scenario(id) {
            for stage in &scenario.stages {
                columns.push((scenario.id.clone(), stage.id.clone(), stage.name.clone()));
            }
        }
    }
    body.push_str("<div class=\"board\">");
    for (scenario, stage, name) in &columns {
        let cards: Vec<_> = list
            .iter()
            .filter(|i| &i.card.interest.scenario == scenario && &i.card.interest.stage == stage)
            .collect();
        let _ = write!(
            body,
            "<section class=\"stage-column\" id=\"column-{}\"><h2>{} <span class=\"count\">{}</span></h2>",
            Esc(stage),
            Esc(name),
            cards.len()
        );
        for item in cards {
            let interest = &item.card.interest;
            let colour = colour_str(item.colour);
            let _ = write!(
                body,
                "<article class=\"card colour-{colour}\" id=\"interest-{id}\" data-colour=\"{colour}\" \
                 title=\"{label}\"><a class=\"client\" href=\"/ui/interests/{id}\">{client}</a>\
                 <small>№{id} · {responsible}</small>",
                id = interest.id,
                label = colour_label(item.colour),
                client = Esc(&item.card.client_name),
                responsible = esc_or_dash(interest.responsible.as_deref()),
            );
            if let Some(due) = item.next_due {
                let _ = write!(body, "<small>Ближайшее: {}</small>", local_time(due, tz));
            }
            if interest.status == InterestStatus::LossPending {
                body.push_str("<small class=\"pending\">ждёт согласования отказа</small>");
            }
            body.push_str(&move_form(
                interest.id,
                &state.stage.allowed_transitions(interest),
            ));
            body.push_str("</article>");
        }
        body.push_str("</section>");
    }
    body.push_str("</div>");
    Ok(layout::page("Мои продажи", Some(&user), &body).into_response())
}

#[derive(Debug, Deserialize)]
struct InterestPageQuery {
    moved: Option<String>,
}

async fn interest_page(
    State(state): State<AppState>,
    user: WebUser,
    path: Result<Path<i64>, PathRejection>,
    query: Result<Query<InterestPageQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let id = path_id(path)?;
    let actor = actor(&state, &user).await?;
    let flash = query.ok().and_then(|Query(q)| q.moved).is_some();
    let details = state.stage.visible_interest(&actor, id).await?;
    let view = interest_view(&state, details)
        .await
        .map_err(|e| PageError::Internal(e.to_string()))?;
    Ok(layout::page(
        &format!("Интерес №{id}"),
        Some(&user),
        &render_interest(&state, &user, &view, flash),
    )
    .into_response())
}

fn render_interest(state: &AppState, user: &WebUser, view: &InterestView, flash: bool) -> String {
    let tz = state.core.calendar.tz();
    let interest = &view.details.interest;
    let id = interest.id;
    let colour = colour_str(view.colour);
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>Интерес №{id}</h1>{}\
         <p class=\"summary colour-{colour}\" id=\"interest-summary\" data-colour=\"{colour}\">\
         Этап: <strong id=\"stage-name\">{}</strong> · {} · {} · ответственный {}</p>",
        if flash {
            "<p class=\"flash\" role=\"status\">Изменения сохранены.</p>"
        } else {
            ""
        },
        Esc(&view.stage_name),
        status_label(interest.status),
        colour_label(view.colour),
        esc_or_dash(interest.responsible.as_deref()),
    );
    body.push_str(&move_form(id, &view.allowed_transitions));
    if interest.status == InterestStatus::LossPending {
        let head = interest
            .responsible
            .as_deref()
            .and_then(|r| state.stage.router().head_of(r));
        if head.as_deref() == Some(user.login.as_str()) {
            body.push_str(&loss_decision_forms(state, user, view));
        }
    }
    if let Some(amount) = interest.potential_amount {
        let _ = write!(
            body,
            "<p>Сумма: {}</p>",
            Esc(&leadgate_domain::scenario::format_rub(amount))
        );
    }
    body.push_str("<h2>Задачи</h2><ul class=\"tasks\" id=\"tasks\">");
    for task in &view.details.tasks {
        let _ = write!(
            body,
            "<li class=\"task-{}\">{} — {} · срок {} · {}</li>",
            task.status.as_str(),
            Esc(&task.title),
            esc_or_dash(task.assignee.as_deref()),
            task.due_at
                .map(|d| local_time(d, tz))
                .unwrap_or_else(|| "—".into()),
            match task.status {
                leadgate_domain::interest::TaskStatus::Open => "открыта",
                leadgate_domain::interest::TaskStatus::Overdue => "просрочена",
                leadgate_domain::interest::TaskStatus::Done => "выполнена",
                leadgate_domain::interest::TaskStatus::Cancelled => "отменена",
            }
        );
    }
    body.push_str("</ul>");
    if !view.orders.is_empty() {
        body.push_str("<h2>Заказы</h2><ul class=\"orders\">");
        for order in &view.orders {
            let _ = write!(
                body,
                "<li>{}: сумма {}, оплачено {}, отгружено {}</li>",
                Esc(&order.id),
                Esc(&leadgate_domain::scenario::format_rub(order.amount)),
                Esc(&leadgate_domain::scenario::format_rub(order.paid)),
                Esc(&leadgate_domain::scenario::format_rub(order.shipped)),
            );
        }
        body.push_str("</ul>");
    }
    body.push_str("<h2>Обращения</h2><ul class=\"appeals\" id=\"appeals\">");
    for appeal in &view.appeals {
        let _ = write!(
            body,
            "<li>№{} · {} · {} · {}</li>",
            appeal.id,
            Esc(&appeal.channel),
            local_time(appeal.received_at, tz),
            esc_or_dash(appeal.subject.as_deref().or(appeal.text.as_deref())),
        );
    }
    body.push_str("</ul><h2>Лента</h2><ol class=\"feed\" id=\"feed\">");
    for entry in view.details.feed.iter().rev() {
        let _ = write!(
            body,
            "<li class=\"feed-{}\" data-kind=\"{}\"><time>{}</time> {} <small>{}</small></li>",
            Esc(&entry.kind),
            Esc(&entry.kind),
            local_time(entry.at, tz),
            Esc(&entry.summary),
            esc_or_dash(entry.actor.as_deref()),
        );
    }
    body.push_str("</ol><p><a href=\"/ui/board\">← Мои продажи</a></p>");
    body
}

fn loss_decision_forms(state: &AppState, user: &WebUser, view: &InterestView) -> String {
    let id = view.details.interest.id;
    let working: String = state
        .stage
        .router()
        .scenarios()
        .scenario(&view.details.interest.scenario)
        .map(|s| {
            s.stages
                .iter()
                .filter(|st| st.kind == StageKind::Working)
                .map(|st| {
                    format!(
                        "<option value=\"{}\">{}</option>",
                        Esc(&st.id),
                        Esc(&st.name)
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    format!(
        "<section class=\"loss\"><h2>Согласование отказа</h2>\
         <form method=\"post\" action=\"/ui/interests/{id}/loss/approve\">{csrf}\
         <label for=\"approve-comment\">Комментарий</label><input id=\"approve-comment\" name=\"comment\">\
         <button class=\"danger\" type=\"submit\" id=\"approve-loss\">Согласовать отказ</button></form>\
         <form method=\"post\" action=\"/ui/interests/{id}/loss/return\">{csrf}\
         <label for=\"return-to\">Вернуть на этап</label><select id=\"return-to\" name=\"to\">{working}</select>\
         <label for=\"return-comment\">Комментарий</label><input id=\"return-comment\" name=\"comment\">\
         {next}<button class=\"primary\" type=\"submit\" id=\"return-loss\">Вернуть в работу</button></form></section>",
        csrf = user.csrf_field(),
        next = next_step_fields(),
    )
}

/// Fields of the next step, shared by the transition and return forms.
fn next_step_fields() -> String {
    "<fieldset class=\"next\"><legend>Следующий шаг</legend>\
     <label><input type=\"radio\" name=\"next_type\" value=\"interaction\" id=\"next-interaction\" checked> Взаимодействие</label>\
     <select name=\"next_kind\" id=\"next-kind\"><option value=\"call\">Звонок</option>\
     <option value=\"meeting\">Встреча</option><option value=\"email\">Письмо</option>\
     <option value=\"message\">Сообщение</option></select>\
     <label for=\"next-at\">Когда</label><input type=\"datetime-local\" name=\"next_at\" id=\"next-at\">\
     <label for=\"next-subject\">Тема</label><input name=\"next_subject\" id=\"next-subject\">\
     <label><input type=\"radio\" name=\"next_type\" value=\"task\" id=\"next-task\"> Задача</label>\
     <label for=\"next-title\">Задача</label><input name=\"next_title\" id=\"next-title\">\
     <label for=\"next-due\">Срок</label><input type=\"datetime-local\" name=\"next_due\" id=\"next-due\">\
     <label><input type=\"radio\" name=\"next_type\" value=\"nothing\" id=\"next-nothing\"> Ничего не планировать</label>\
     </fieldset>"
        .to_owned()
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
    Ok(transition_form(
        &state,
        &user,
        &view,
        &q.to,
        None,
        StatusCode::OK,
    ))
}

fn transition_form(
    state: &AppState,
    user: &WebUser,
    view: &InterestView,
    to: &str,
    problem: Option<&str>,
    status: StatusCode,
) -> Response {
    let id = view.details.interest.id;
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
    let fields = if target.kind == "lost" {
        let reasons: String = state
            .stage
            .loss_reasons(&view.details.interest)
            .iter()
            .map(|r| format!("<option value=\"{}\">{}</option>", Esc(r), Esc(r)))
            .collect();
        format!(
            "<label for=\"reason\">Причина отказа</label><select id=\"reason\" name=\"reason\">{reasons}</select>\
             <label for=\"result\">Комментарий</label><textarea id=\"result\" name=\"result\" rows=\"3\"></textarea>"
        )
    } else {
        format!(
            "<label for=\"result\">Результат текущего взаимодействия</label>\
             <textarea id=\"result\" name=\"result\" rows=\"3\" required></textarea>{}",
            next_step_fields()
        )
    };
    let body = format!(
        "<h1>Интерес №{id}: «{}» → «{}»</h1>{problem}\
         <form class=\"transition\" method=\"post\" action=\"/ui/interests/{id}/transition\">{}\
         <input type=\"hidden\" name=\"to\" value=\"{}\">{fields}\
         <button class=\"primary\" type=\"submit\" id=\"transition-submit\">Перевести</button></form>\
         <p><a href=\"/ui/interests/{id}\">Отмена</a></p>",
        Esc(&view.stage_name),
        Esc(&target.name),
        user.csrf_field(),
        Esc(&target.id),
    );
    (status, layout::page("Перевод", Some(user), &body)).into_response()
}

#[derive(Debug, Deserialize)]
struct TransitionForm {
    to: String,
    #[serde(default)]
    result: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(flatten)]
    next: NextStepForm,
}

#[derive(Debug, Deserialize, Default)]
struct NextStepForm {
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
fn local_input(raw: Option<&str>, tz: chrono_tz::Tz, what: &str) -> Result<DateTime<Utc>, String> {
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
    fn request(&self, tz: chrono_tz::Tz) -> Result<Option<NextStepRequest>, String> {
        match self.next_type.as_deref().unwrap_or("") {
            "" => Ok(None),
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
                assignee: None,
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
    let attempt = match form.next.request(tz) {
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
                Err(StageError::Refused { field, detail }) => Err(match field {
                    Some(field) => format!("{}: {detail}", field_label(field)),
                    None => detail,
                }),
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
