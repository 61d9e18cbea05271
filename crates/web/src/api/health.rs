use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "alive")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// The database answers and every migration is applied.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "ready"), (status = 503, description = "not ready, with details")))]
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let database = state.store.readiness().await;
    let (ok, detail) = match &database {
        Ok(true) => (true, json!("ok")),
        Ok(false) => (false, json!("migrations not applied")),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (false, json!("unreachable"))
        }
    };
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let details = state.metrics.details();
    (
        code,
        Json(json!({"ready": ok, "database": detail, "details": details})),
    )
}

/// Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus metrics", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
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
}
