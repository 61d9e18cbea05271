use axum::extract::rejection::PathRejection;
use axum::extract::Path;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use subtle::ConstantTimeEq;

use crate::AppState;
use leadgate_domain::role::Role;
use leadgate_http::error::{ApiError, Problem};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/v1/dead-letters", get(dead_letters))
        .route("/api/v1/dead-letters/{id}/replay", post(replay_dead_letter))
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "alive", content_type = "text/plain", body = String)))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// Whether the request carries the operations token (or, for `/readyz`, a
/// configured admin API token). Compared in constant time.
fn presents(headers: &HeaderMap, secret: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .is_some_and(|presented| bool::from(presented.as_bytes().ct_eq(secret.as_bytes())))
}

fn operator_of_the_daemon(state: &AppState, headers: &HeaderMap) -> bool {
    if let Some(token) = &state.operations.token {
        if presents(headers, token.expose()) {
            return true;
        }
    }
    state
        .api_tokens
        .iter()
        .filter(|t| t.role == Role::Admin)
        .any(|t| presents(headers, t.token.expose()))
}

/// A part's state without its error text and times, for anonymous callers:
/// a mailbox's `login_refused` says what is down, the server's reply does not.
fn states_only(
    details: serde_json::Map<String, serde_json::Value>,
) -> serde_json::Map<String, serde_json::Value> {
    details
        .into_iter()
        .map(|(part, detail)| {
            let state = detail.get("state").cloned().unwrap_or(json!("unknown"));
            (part, json!({ "state": state }))
        })
        .collect()
}

/// The database answers, every migration is applied and every part of the
/// daemon beats. `details` has each part's state; its error text, and
/// `down` (the parts that stopped beating), only for the operations token
/// or an admin API token.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "ready", body = Object), (status = 503, description = "not ready, with details", body = Object)))]
pub async fn readyz(State(state): State<AppState>, headers: HeaderMap) -> impl IntoResponse {
    let database = state.store.readiness().await;
    let (ok, detail) = match &database {
        Ok(true) => (true, json!("ok")),
        Ok(false) => (false, json!("migrations not applied")),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (false, json!("unreachable"))
        }
    };
    // A part that stopped beating makes the daemon unready; which parts,
    // only the operator learns (the names are the daemon's insides).
    let down = state.health.down();
    let ok = ok && down.is_empty();
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let operator = operator_of_the_daemon(&state, &headers);
    let details = state.metrics.details();
    let details = if operator {
        details
    } else {
        states_only(details)
    };
    let mut body = json!({"ready": ok, "database": detail, "details": details});
    if operator {
        body["down"] = json!(down);
    }
    (code, Json(body))
}

/// Prometheus text format. With `[operations] token` set, only for
/// `Authorization: Bearer <token>`.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses(
    (status = 200, description = "Prometheus metrics", content_type = "text/plain", body = String),
    (status = 401, description = "`[operations] token` is set and was not presented", body = Problem, content_type = "application/problem+json")))]
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.operations.token {
        if !presents(&headers, token.expose()) {
            return ApiError::Unauthorized.into_response();
        }
    }
    let pending = state
        .metrics
        .backlog(|| async { state.store.appeal_counts().await.map(|c| c.pending) })
        .await;
    let review = state.store.open_review_count().await.unwrap_or(-1);
    let mut text = state.metrics.render(pending, review);
    text.push_str(&super::changes::webhook_metrics(&state).await);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct DeadLetters {
    /// The newest first, at most 200.
    pub items: Vec<leadgate_store::DeadLetter>,
}

/// Messenger updates given up on: the poller moved past them after the
/// intake refused them or storing them failed again and again.
#[utoipa::path(get, path = "/api/v1/dead-letters", tag = "operations",
    responses((status = 200, body = DeadLetters)), security(("bearer" = [])))]
pub async fn dead_letters(
    State(state): State<AppState>,
    caller: leadgate_http::extract::ApiCaller,
) -> Result<Json<DeadLetters>, ApiError> {
    caller.require(&[Role::Admin])?;
    Ok(Json(DeadLetters {
        items: state.store.dead_letters(200).await?,
    }))
}

/// Asks the letter's poller to handle it again, once its cause is mended
/// (a trigger dropped, a bug fixed and deployed). The poller takes it on its
/// next round; `replayed_at` is set when it became an appeal, or the reason
/// says why the replay failed.
#[utoipa::path(post, path = "/api/v1/dead-letters/{id}/replay", tag = "operations",
    params(("id" = i64, Path)),
    responses((status = 202, body = leadgate_store::DeadLetter),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "already replayed", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn replay_dead_letter(
    State(state): State<AppState>,
    caller: leadgate_http::extract::ApiCaller,
    path: Result<Path<i64>, PathRejection>,
) -> Result<(StatusCode, Json<leadgate_store::DeadLetter>), ApiError> {
    caller.require(&[Role::Admin])?;
    let Path(id) =
        path.map_err(|_| ApiError::bad("id", "the id in the path must be an integer"))?;
    match state.store.request_dead_letter_replay(id).await? {
        Ok(letter) => {
            tracing::info!(dead_letter = id, source = %letter.source, actor = %caller.name, "dead letter replay requested");
            Ok((StatusCode::ACCEPTED, Json(letter)))
        }
        Err(leadgate_store::ReplayRefusal::Unknown) => Err(ApiError::NotFound("dead letter")),
        Err(leadgate_store::ReplayRefusal::AlreadyReplayed) => Err(ApiError::Conflict {
            field: None,
            detail: "this dead letter was replayed already".into(),
        }),
    }
}
