//! The review queue, client merges and the audit trail over the API.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use leadgate_core::review::{self, MergeOutcome, ReviewAction, ReviewOutcome, ReviewQueue};
use leadgate_domain::role::Role;
use leadgate_http::error::{ApiError, Problem};
use leadgate_http::extract::{ApiCaller, PathId, ValidJson};
use leadgate_store::AuditEntry;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/review", get(get_review_queue))
        .route("/api/v1/review/{id}/decision", post(post_review_decision))
        .route("/api/v1/clients/merge", post(post_merge))
        .route("/api/v1/merges/{id}/undo", post(post_merge_undo))
        .route("/api/v1/audit", get(get_audit))
}

/// Who may work the queue and merge clients (admins may do anything).
const REVIEWERS: &[Role] = &[Role::Operator];

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct QueueQuery {
    /// At most this many items (default 50, at most 200).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// Open review items, oldest first, each with its appeal, candidates and evidence.
#[utoipa::path(get, path = "/api/v1/review", tag = "review",
    params(QueueQuery),
    responses((status = 200, body = ReviewQueue),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn get_review_queue(
    State(state): State<AppState>,
    caller: ApiCaller,
    query: Result<Query<QueueQuery>, QueryRejection>,
) -> Result<Json<ReviewQueue>, ApiError> {
    caller.require(REVIEWERS)?;
    let Query(q) = query.map_err(|e| ApiError::bad("(query)", e.body_text()))?;
    let limit = match q.limit {
        None => 50,
        Some(n) if (1..=200).contains(&n) => n,
        Some(_) => {
            return Err(ApiError::unprocessable(
                "limit",
                "must be between 1 and 200",
            ))
        }
    };
    Ok(Json(
        review::queue(&state.store, state.core.region(), limit).await?,
    ))
}

/// Decide a review item: link the appeal to a client, make a new client, or mark it spam.
#[utoipa::path(post, path = "/api/v1/review/{id}/decision", tag = "review",
    params(("id" = i64, Path)),
    request_body = ReviewAction,
    responses((status = 200, body = ReviewOutcome),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already decided", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn post_review_decision(
    State(state): State<AppState>,
    caller: ApiCaller,
    PathId(id): PathId,
    ValidJson(action): ValidJson<ReviewAction>,
) -> Result<Json<ReviewOutcome>, ApiError> {
    caller.require(REVIEWERS)?;
    Ok(Json(
        review::decide(&state.pipeline, id, &action, &caller.actor()).await?,
    ))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The client that stays.
    pub into: i64,
    /// The client that is merged away.
    pub from: i64,
}

/// Merge client `from` into client `into`; undo with `POST /api/v1/merges/{merge_id}/undo`.
#[utoipa::path(post, path = "/api/v1/clients/merge", tag = "clients",
    request_body = MergeRequest,
    responses((status = 200, body = MergeOutcome),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn post_merge(
    State(state): State<AppState>,
    caller: ApiCaller,
    ValidJson(req): ValidJson<MergeRequest>,
) -> Result<Json<MergeOutcome>, ApiError> {
    caller.require(REVIEWERS)?;
    Ok(Json(
        review::merge(&state.store, req.into, req.from, &caller.actor()).await?,
    ))
}

/// Undo a merge: everything it moved goes back to the merged-away client.
#[utoipa::path(post, path = "/api/v1/merges/{id}/undo", tag = "clients",
    params(("id" = i64, Path)),
    responses((status = 200, body = MergeOutcome),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn post_merge_undo(
    State(state): State<AppState>,
    caller: ApiCaller,
    PathId(id): PathId,
) -> Result<Json<MergeOutcome>, ApiError> {
    caller.require(REVIEWERS)?;
    Ok(Json(
        review::undo_merge(&state.store, id, &caller.actor()).await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// `review_item`, `appeal`, `client`, `interest` or `merge`.
    #[param(pattern = "^(review_item|appeal|client|interest|merge)$")]
    pub entity: Option<String>,
    /// With `entity`: that one record's history; alone, the history of the
    /// records of every kind with this id.
    pub id: Option<i64>,
    /// At most this many entries, newest first (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

const AUDIT_ENTITIES: &[&str] = &["review_item", "appeal", "client", "interest", "merge"];

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditList {
    pub items: Vec<AuditEntry>,
}

/// Audited changes, newest first: who, when, what, before and after. A head
/// sees the entries that touched a client, appeal or interest of the
/// department; operators and admins see all.
#[utoipa::path(get, path = "/api/v1/audit", tag = "review",
    params(AuditQuery),
    responses((status = 200, body = AuditList),
        (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn get_audit(
    State(state): State<AppState>,
    caller: ApiCaller,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<AuditList>, ApiError> {
    caller.require(&[Role::Operator, Role::Head])?;
    let Query(q) = query.map_err(|e| ApiError::bad("(query)", e.body_text()))?;
    if let Some(entity) = &q.entity {
        if !AUDIT_ENTITIES.contains(&entity.as_str()) {
            return Err(ApiError::unprocessable(
                "entity",
                format!("must be one of {}", AUDIT_ENTITIES.join(", ")),
            ));
        }
    }
    let limit = match q.limit {
        None => 100,
        Some(n) if (1..=1000).contains(&n) => n,
        Some(_) => {
            return Err(ApiError::unprocessable(
                "limit",
                "must be between 1 and 1000",
            ))
        }
    };
    let visibility = caller.visibility(&state.store, &state.core).await?;
    // A record outside the scope has no history to show: 404, as for the record itself.
    if let (Some(entity), Some(id)) = (q.entity.as_deref(), q.id) {
        let visible = match entity {
            "client" => visibility.client(&state.store, id).await?,
            "appeal" => visibility.appeal(&state.store, id).await?,
            "interest" => match state.store.interest_responsible(id).await? {
                Some(responsible) => visibility.interest(responsible.as_deref()),
                None => true,
            },
            _ => true,
        };
        if !visible {
            return Err(ApiError::NotFound("record"));
        }
    }
    let items = state
        .store
        .audit_entries(q.entity.as_deref(), q.id, visibility.audit_scope(), limit)
        .await?;
    Ok(Json(AuditList { items }))
}
