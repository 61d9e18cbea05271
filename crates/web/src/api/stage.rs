//! The stage API: ERP events, the interests board, transitions, the lost
//! path, interactions and tasks. Money is integer kopecks throughout.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use leadgate_core::stage::{
    Actor, AllowedTransition, ErpEvent, EventReceipt, NextStepRequest, Scope, StageCommand,
};
use leadgate_domain::interest::{Task, TaskStatus};
use leadgate_domain::role::Role;
use leadgate_domain::scenario::{Colour, EventKind, InteractionKind, OrderTotals};
use leadgate_http::error::{ApiError, Problem};
use leadgate_http::extract::{ApiCaller, PathId, ValidJson};
use leadgate_store::{InterestCard, InterestDetails, InterestFilter, LinkedAppeal};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/events/{kind}", post(post_event))
        .route("/api/v1/interests", get(list_interests))
        .route("/api/v1/interests/{id}", get(get_interest))
        .route("/api/v1/interests/{id}/transition", post(transition))
        .route("/api/v1/interests/{id}/close-lost", post(close_lost))
        .route("/api/v1/interests/{id}/loss/{decision}", post(decide_loss))
        .route("/api/v1/interests/{id}/interactions", post(add_interaction))
        .route("/api/v1/interests/{id}/tasks", post(add_task))
        .route("/api/v1/tasks", get(list_tasks))
        .route("/api/v1/tasks/{id}/complete", post(complete_task))
}

/// The acting user: a personal token's user, or a configured token whose
/// name is the login.
async fn actor(state: &AppState, caller: &ApiCaller) -> Result<Actor, ApiError> {
    let login = caller.login.as_deref().unwrap_or(&caller.name);
    Ok(state
        .stage
        .actor(login, caller.role, caller.department.as_deref())
        .await?)
}

// --- ERP events ------------------------------------------------------------

/// An order, payment or shipment from the ERP. `amount` is an integer number
/// of kopecks (12 500,50 ₽ = 1250050); fractions are refused.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventBody {
    /// The ERP's idempotency id: a repeated id changes nothing.
    pub event_id: String,
    pub order_id: String,
    /// The interest a new order belongs to (required for the first order
    /// event of an order; payments and shipments find it through the order).
    #[serde(default)]
    pub interest_id: Option<i64>,
    /// Kopecks: the order's sum (0 cancels it), or the paid / shipped sum.
    pub amount: i64,
    /// When it happened in the ERP; defaults to now.
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
}

/// Applies an ERP event once: 201 the first time, 200 with `duplicate: true`
/// on a redelivery of the same `event_id`.
#[utoipa::path(post, path = "/api/v1/events/{kind}", tag = "stage",
    params(("kind" = String, Path, description = "order | payment | shipment")),
    request_body = EventBody,
    responses((status = 201, body = EventReceipt), (status = 200, body = EventReceipt, description = "redelivery"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "the current state refuses it (a finished interest, a task already done, a move the stage does not allow)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn post_event(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(kind): Path<String>,
    ValidJson(body): ValidJson<EventBody>,
) -> Result<(StatusCode, Json<EventReceipt>), ApiError> {
    // The ERP integration acts with an admin token.
    caller.require(&[])?;
    let kind = match kind.as_str() {
        "order" => EventKind::Order,
        "payment" => EventKind::Payment,
        "shipment" => EventKind::Shipment,
        _ => return Err(ApiError::NotFound("event kind")),
    };
    let receipt = state
        .stage
        .event(ErpEvent {
            event_id: body.event_id,
            kind,
            order_id: body.order_id,
            interest_id: body.interest_id,
            amount: body.amount,
            at: body.at,
        })
        .await?;
    let status = if receipt.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(receipt)))
}

// --- interests -------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InterestQuery {
    /// Login of the responsible manager (defaults to everyone the caller sees).
    pub responsible: Option<String>,
    /// Stage id, e.g. `payment`.
    pub stage: Option<String>,
    /// green | yellow | red
    #[param(pattern = "^(green|yellow|red)$")]
    pub colour: Option<String>,
    /// open | loss_pending | won | lost | active (open and loss_pending).
    #[param(pattern = "^(open|loss_pending|won|lost|active)$")]
    pub status: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InterestListItem {
    #[serde(flatten)]
    pub card: InterestCard,
    pub stage_name: String,
    #[schema(value_type = String)]
    pub colour: Colour,
    /// The earliest due moment of an open task or planned interaction.
    pub next_due: Option<DateTime<Utc>>,
}

fn parse_colour(raw: &str) -> Result<Colour, ApiError> {
    match raw {
        "green" => Ok(Colour::Green),
        "yellow" => Ok(Colour::Yellow),
        "red" => Ok(Colour::Red),
        other => Err(ApiError::unprocessable(
            "colour",
            format!("unknown colour {other:?}: green, yellow or red"),
        )),
    }
}

fn parse_statuses(raw: &str) -> Result<Vec<String>, ApiError> {
    match raw {
        "active" => Ok(vec!["open".into(), "loss_pending".into()]),
        "open" | "loss_pending" | "won" | "lost" => Ok(vec![raw.to_owned()]),
        other => Err(ApiError::unprocessable(
            "status",
            format!("unknown status {other:?}: open, loss_pending, won, lost or active"),
        )),
    }
}

/// Narrows the caller's scope to one responsible, refusing one outside it.
fn responsibles(actor: &Actor, asked: Option<&str>) -> Result<Option<Vec<String>>, ApiError> {
    match (asked.map(str::trim).filter(|a| !a.is_empty()), &actor.scope) {
        (Some(login), scope) if scope.covers(Some(login)) => Ok(Some(vec![login.to_owned()])),
        (Some(_), _) => Err(ApiError::Forbidden),
        (None, Scope::All) => Ok(None),
        (None, Scope::Responsibles(logins)) => Ok(Some(logins.clone())),
    }
}

/// The board's list. Who sees what: a manager their own interests, a head
/// their department's, an admin all.
pub async fn interest_list(
    state: &AppState,
    actor: &Actor,
    query: &InterestQuery,
) -> Result<Vec<InterestListItem>, ApiError> {
    let colour = query.colour.as_deref().map(parse_colour).transpose()?;
    let filter = InterestFilter {
        responsibles: responsibles(actor, query.responsible.as_deref())?,
        stage: query.stage.clone().filter(|s| !s.is_empty()),
        statuses: query.status.as_deref().map(parse_statuses).transpose()?,
    };
    let now = Utc::now();
    let cards = state.store.interest_cards(&filter).await?;
    Ok(cards
        .into_iter()
        .map(|card| {
            let colour = state.stage.colour(&card.due, now);
            let stage_name = state
                .stage
                .router()
                .stage_name(&card.interest.scenario, &card.interest.stage);
            InterestListItem {
                next_due: card.due.first().copied(),
                stage_name,
                colour,
                card,
            }
        })
        .filter(|item| colour.is_none_or(|wanted| item.colour == wanted))
        .collect())
}

#[utoipa::path(get, path = "/api/v1/interests", tag = "stage", params(InterestQuery),
    responses((status = 200, body = Vec<InterestListItem>), (status = 403, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn list_interests(
    State(state): State<AppState>,
    caller: ApiCaller,
    query: Result<Query<InterestQuery>, QueryRejection>,
) -> Result<Json<Vec<InterestListItem>>, ApiError> {
    let actor = actor(&state, &caller).await?;
    let Query(query) = query.map_err(|e| ApiError::bad("(query)", e.body_text()))?;
    Ok(Json(interest_list(&state, &actor, &query).await?))
}

/// An interest with everything the interest page shows.
#[derive(Debug, Serialize, ToSchema)]
pub struct InterestView {
    #[serde(flatten)]
    pub details: InterestDetails,
    pub stage_name: String,
    #[schema(value_type = String)]
    pub colour: Colour,
    #[schema(value_type = Vec<Object>)]
    pub orders: Vec<OrderTotals>,
    pub allowed_transitions: Vec<AllowedTransition>,
    pub loss_reasons: Vec<String>,
    pub appeals: Vec<LinkedAppeal>,
    pub client_name: String,
}

pub async fn interest_view(
    state: &AppState,
    details: InterestDetails,
) -> Result<InterestView, ApiError> {
    let id = details.interest.id;
    let due = state.store.interest_due(id).await?;
    let stage = &state.stage;
    Ok(InterestView {
        stage_name: stage
            .router()
            .stage_name(&details.interest.scenario, &details.interest.stage),
        colour: stage.colour(&due, Utc::now()),
        orders: stage.orders(id).await?,
        allowed_transitions: stage.allowed_transitions(&details.interest),
        loss_reasons: stage.loss_reasons(&details.interest),
        appeals: state.store.interest_appeals(id).await?,
        client_name: state
            .store
            .client_display_name(details.interest.client_id)
            .await?
            .unwrap_or_default(),
        details,
    })
}

/// An interest with its tasks, interactions, feed, orders, colour and the
/// stages it may be moved to now.
#[utoipa::path(get, path = "/api/v1/interests/{id}", tag = "interests",
    params(("id" = i64, Path)),
    responses((status = 200, body = InterestView), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn get_interest(
    State(state): State<AppState>,
    caller: ApiCaller,
    PathId(id): PathId,
) -> Result<Json<InterestView>, ApiError> {
    let details = if caller.role == Role::Operator {
        // Operators read any interest (to link appeals), and change none.
        state
            .store
            .interest(id)
            .await?
            .ok_or(ApiError::NotFound("interest"))?
    } else {
        let actor = actor(&state, &caller).await?;
        state.stage.visible_interest(&actor, id).await?
    };
    Ok(Json(interest_view(&state, details).await?))
}

async fn view_of(state: &AppState, actor: &Actor, id: i64) -> Result<Json<InterestView>, ApiError> {
    let details = state.stage.visible_interest(actor, id).await?;
    Ok(Json(interest_view(state, details).await?))
}

/// The next step: `{"type": "interaction", "kind": "call", "at": ..., "subject": ...}`,
/// `{"type": "task", "title": ..., "due": ..., "assignee": "responsible" | "head" | "user:<login>"}`
/// or `{"type": "nothing"}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NextStepBody {
    Interaction {
        kind: InteractionKind,
        at: DateTime<Utc>,
        #[serde(default)]
        subject: String,
    },
    Task {
        title: String,
        due: DateTime<Utc>,
        #[serde(default)]
        assignee: Option<String>,
    },
    Nothing,
}

impl From<NextStepBody> for NextStepRequest {
    fn from(body: NextStepBody) -> Self {
        match body {
            NextStepBody::Interaction { kind, at, subject } => {
                NextStepRequest::Interaction { kind, at, subject }
            }
            NextStepBody::Task {
                title,
                due,
                assignee,
            } => NextStepRequest::Task {
                title,
                due,
                assignee,
            },
            NextStepBody::Nothing => NextStepRequest::Nothing,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionBody {
    /// Target stage id.
    pub to: String,
    /// Result of the current interaction ("клиент запросил КП на 20 шт.").
    #[serde(default)]
    pub result: String,
    #[serde(default)]
    pub next: Option<NextStepBody>,
    /// Only for a lost stage: one of the scenario's loss reasons.
    #[serde(default)]
    pub reason: Option<String>,
    /// Only for a lost stage; defaults to `result`.
    #[serde(default)]
    pub comment: Option<String>,
}

/// Moves the interest by hand (to a lost stage: asks to close it as lost).
#[utoipa::path(post, path = "/api/v1/interests/{id}/transition", tag = "stage",
    params(("id" = i64, Path)), request_body = TransitionBody,
    responses((status = 200, body = InterestView), (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "the current state refuses it (a finished interest, a task already done, a move the stage does not allow)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn transition(
    State(state): State<AppState>,
    caller: ApiCaller,
    PathId(id): PathId,
    ValidJson(body): ValidJson<TransitionBody>,
) -> Result<Json<InterestView>, ApiError> {
    let actor = actor(&state, &caller).await?;
    state
        .stage
        .command(
            &actor,
            id,
            StageCommand::Transition {
                to: body.to,
                result: body.result,
                next: body.next.map(Into::into),
                reason: body.reason,
                comment: body.comment,
            },
        )
        .await?;
    view_of(&state, &actor, id).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseLostBody {
    pub reason: String,
    #[serde(default)]
    pub comment: String,
    /// Which lost stage, when the scenario has several.
    #[serde(default)]
    pub to: Option<String>,
}

/// Asks to close the interest as lost; the head gets an approval task.
#[utoipa::path(post, path = "/api/v1/interests/{id}/close-lost", tag = "stage",
    params(("id" = i64, Path)), request_body = CloseLostBody,
    responses((status = 200, body = InterestView), (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "the current state refuses it (a finished interest, a task already done, a move the stage does not allow)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn close_lost(
    State(state): State<AppState>,
    caller: ApiCaller,
    PathId(id): PathId,
    ValidJson(body): ValidJson<CloseLostBody>,
) -> Result<Json<InterestView>, ApiError> {
    let actor = actor(&state, &caller).await?;
    state
        .stage
        .command(
            &actor,
            id,
            StageCommand::CloseLost {
                to: body.to,
                reason: body.reason,
                comment: body.comment,
            },
        )
        .await?;
    view_of(&state, &actor, id).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LossDecisionBody {
    #[serde(default)]
    pub comment: String,
    /// For `return`: the working stage to return to.
    #[serde(default)]
    pub to: Option<String>,
    /// For `return`: the next step.
    #[serde(default)]
    pub next: Option<NextStepBody>,
}

/// The head approves a loss (`approve`) or sends the interest back to work
/// (`return`, with `to` and a next step).
#[utoipa::path(post, path = "/api/v1/interests/{id}/loss/{decision}", tag = "stage",
    params(("id" = i64, Path), ("decision" = String, Path, description = "approve | return")),
    request_body = LossDecisionBody,
    responses((status = 200, body = InterestView), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "the current state refuses it (a finished interest, a task already done, a move the stage does not allow)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn decide_loss(
    State(state): State<AppState>,
    caller: ApiCaller,
    path: Result<Path<(i64, String)>, PathRejection>,
    ValidJson(body): ValidJson<LossDecisionBody>,
) -> Result<Json<InterestView>, ApiError> {
    let Path((id, decision)) =
        path.map_err(|_| ApiError::bad("id", "the id in the path must be an integer"))?;
    let actor = actor(&state, &caller).await?;
    let command = match decision.as_str() {
        "approve" => StageCommand::ApproveLoss {
            comment: body.comment,
        },
        "return" => StageCommand::ReturnFromLoss {
            to: body.to.filter(|to| !to.trim().is_empty()).ok_or_else(|| {
                ApiError::unprocessable("to", "return needs the stage to return to")
            })?,
            comment: body.comment,
            next: body.next.map(Into::into),
        },
        _ => return Err(ApiError::NotFound("loss decision")),
    };
    state.stage.command(&actor, id, command).await?;
    view_of(&state, &actor, id).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InteractionBody {
    /// call | meeting | email | message
    pub kind: InteractionKind,
    /// Plan it for this moment...
    #[serde(default)]
    pub planned_at: Option<DateTime<Utc>>,
    /// ...or record one that happened (with `result`).
    #[serde(default)]
    pub done_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub result: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Created {
    pub id: i64,
}

/// Plans or records an interaction with the client.
#[utoipa::path(post, path = "/api/v1/interests/{id}/interactions", tag = "stage",
    params(("id" = i64, Path)), request_body = InteractionBody,
    responses((status = 201, body = Created), (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "the current state refuses it (a finished interest, a task already done, a move the stage does not allow)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn add_interaction(
    State(state): State<AppState>,
    caller: ApiCaller,
    PathId(id): PathId,
    ValidJson(body): ValidJson<InteractionBody>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let actor = actor(&state, &caller).await?;
    let created = state
        .stage
        .interaction(
            &actor,
            id,
            body.kind,
            body.planned_at,
            body.done_at,
            body.subject.as_deref(),
            body.result.as_deref(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(Created { id: created })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskBody {
    #[schema(min_length = 1, pattern = "\\S")]
    pub title: String,
    pub due: DateTime<Utc>,
    /// responsible (default) | head | user:<login>
    #[serde(default)]
    pub assignee: Option<String>,
}

/// Adds a task to the interest by hand.
#[utoipa::path(post, path = "/api/v1/interests/{id}/tasks", tag = "stage",
    params(("id" = i64, Path)), request_body = TaskBody,
    responses((status = 201, body = Created), (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "the current state refuses it (a finished interest, a task already done, a move the stage does not allow)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn add_task(
    State(state): State<AppState>,
    caller: ApiCaller,
    PathId(id): PathId,
    ValidJson(body): ValidJson<TaskBody>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let actor = actor(&state, &caller).await?;
    let created = state
        .stage
        .add_task(&actor, id, &body.title, body.due, body.assignee.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(Created { id: created })))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TaskQuery {
    /// Login; defaults to everyone the caller sees (a manager: themselves).
    pub assignee: Option<String>,
    /// open | overdue | done | cancelled
    #[param(pattern = "^(open|overdue|done|cancelled)?$")]
    pub status: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/tasks", tag = "stage", params(TaskQuery),
    responses((status = 200, body = Vec<Task>), (status = 403, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn list_tasks(
    State(state): State<AppState>,
    caller: ApiCaller,
    query: Result<Query<TaskQuery>, QueryRejection>,
) -> Result<Json<Vec<Task>>, ApiError> {
    let actor = actor(&state, &caller).await?;
    let Query(query) = query.map_err(|e| ApiError::bad("(query)", e.body_text()))?;
    let status = query
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|raw| {
            TaskStatus::parse(raw).ok_or_else(|| {
                ApiError::unprocessable(
                    "status",
                    format!("unknown status {raw:?}: open, overdue, done or cancelled"),
                )
            })
        })
        .transpose()?;
    let assignees = responsibles(&actor, query.assignee.as_deref())?;
    Ok(Json(state.store.tasks(assignees.as_deref(), status).await?))
}

#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CompleteBody {
    #[serde(default)]
    pub result: Option<String>,
    /// Needed when this task was the last thing planned on an open interest.
    #[serde(default)]
    pub next: Option<NextStepBody>,
}

/// Marks a task done (its assignee, or whoever sees the interest).
#[utoipa::path(post, path = "/api/v1/tasks/{id}/complete", tag = "stage",
    params(("id" = i64, Path)), request_body = CompleteBody,
    responses((status = 200, body = Task), (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "the current state refuses it (a finished interest, a task already done, a move the stage does not allow)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn complete_task(
    State(state): State<AppState>,
    caller: ApiCaller,
    PathId(id): PathId,
    ValidJson(body): ValidJson<CompleteBody>,
) -> Result<Json<Task>, ApiError> {
    let actor = actor(&state, &caller).await?;
    let task = state
        .stage
        .complete_task(
            &actor,
            id,
            body.result.as_deref(),
            body.next.map(Into::into),
        )
        .await?;
    Ok(Json(task))
}
