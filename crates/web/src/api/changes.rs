//! The change feed (`GET /api/v1/changes`) and the webhook endpoints' state
//! and replay.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use leadgate_domain::event::{Event, EventType};
use leadgate_domain::role::Role;
use leadgate_http::error::{ApiError, Problem};
use leadgate_http::extract::{ApiCaller, ValidJson};
use leadgate_store::{EndpointState, WebhookFailure};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/changes", get(get_changes))
        .route("/api/v1/webhooks", get(list_webhooks))
        .route("/api/v1/webhooks/{name}/replay", post(replay_webhook))
}

const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;
const MAX_WAIT_SECS: u64 = 60;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ChangesQuery {
    /// The last id the consumer has seen (0 or absent: from the beginning).
    #[param(minimum = 0)]
    pub after: Option<i64>,
    /// Comma-separated event types, e.g. `interest.created,interest.won`.
    #[param(value_type = Option<Vec<EventType>>, style = Form, explode = false)]
    pub types: Option<String>,
    /// At most this many events (1–1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// Seconds to wait for an event when there is none yet (0–60).
    #[param(minimum = 0, maximum = 60)]
    pub wait: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Changes {
    pub events: Vec<Event>,
    /// The cursor to ask with next (`after=`): the last event's id, or
    /// `after` again when nothing came.
    pub next: i64,
}

/// The events after a given id, in order. The consumer keeps its own cursor
/// (`next`), so it can replay from any id still kept. With `wait` the
/// request is held until an event arrives or the time is up.
#[utoipa::path(get, path = "/api/v1/changes", tag = "events", params(ChangesQuery),
    responses((status = 200, body = Changes),
        (status = 410, description = "the cursor is older than the retention", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn get_changes(
    State(state): State<AppState>,
    caller: ApiCaller,
    query: Result<Query<ChangesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Changes>, ApiError> {
    caller.require(&[Role::Admin, Role::Head])?;
    let Query(q) = query.map_err(|e| ApiError::bad("(query)", e.body_text()))?;
    let after = q.after.unwrap_or(0);
    if after < 0 {
        return Err(ApiError::unprocessable("after", "must be 0 or more"));
    }
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::unprocessable("limit", "must be 1 to 1000"));
    }
    let wait = q.wait.unwrap_or(0);
    if wait > MAX_WAIT_SECS {
        return Err(ApiError::unprocessable("wait", "must be 0 to 60 seconds"));
    }
    let mut types = Vec::new();
    for name in q.types.iter().flat_map(|t| t.split(',')) {
        let name = name.trim();
        if name.is_empty() {
            continue;
        }
        match EventType::parse(name) {
            Some(t) => types.push(t),
            None => {
                return Err(ApiError::unprocessable(
                    "types",
                    format!("unknown event type `{name}`"),
                ))
            }
        }
    }
    let pruned = state.store.events_pruned_through().await?;
    if after < pruned {
        return Err(ApiError::gone(
            "after",
            format!(
                "events up to id {pruned} were deleted by retention; resynchronise from the read API, then go on with after={pruned}"
            ),
        ));
    }
    // Subscribed before the first read, so a commit between the read and
    // the wait still wakes us.
    let mut changes = state.store.journal_changes().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    loop {
        changes.mark_unchanged();
        let events = state.store.events_after(after, &types, limit).await?;
        if !events.is_empty() || tokio::time::Instant::now() >= deadline {
            let next = events.last().map_or(after, |e| e.id);
            return Ok(Json(Changes { events, next }));
        }
        // Events waiting for a transaction in flight: an aborted one wakes
        // nobody, so look again soon.
        let settling = state.store.journal_settling();
        tokio::select! {
            _ = changes.changed() => {}
            _ = tokio::time::sleep(Duration::from_millis(50)), if settling => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
    #[schema(value_type = Object)]
    pub state: Option<EndpointState>,
    /// Events journaled after the endpoint's position.
    pub lag_events: i64,
    #[schema(value_type = Vec<Object>)]
    pub failures: Vec<WebhookFailure>,
}

/// Every configured webhook endpoint with its delivery state and recent failures.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "events",
    responses((status = 200, body = Vec<WebhookView>)), security(("bearer" = [])))]
pub async fn list_webhooks(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<Json<Vec<WebhookView>>, ApiError> {
    caller.require(&[Role::Admin])?;
    Ok(Json(webhook_views(&state).await?))
}

pub async fn webhook_views(state: &AppState) -> Result<Vec<WebhookView>, ApiError> {
    let last = state.store.last_event_id().await?;
    let mut out = Vec::new();
    for hook in state.webhooks.iter() {
        let endpoint = state.store.webhook_endpoint(&hook.name).await?;
        let failures = state.store.webhook_failures(&hook.name, 20).await?;
        out.push(WebhookView {
            name: hook.name.clone(),
            url: hook.url.clone(),
            events: hook.events.clone(),
            lag_events: endpoint.as_ref().map_or(0, |e| (last - e.position).max(0)),
            state: endpoint,
            failures,
        });
    }
    Ok(out)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayBody {
    /// The first event id to send again.
    pub from: i64,
}

/// Sends every wanted event from `from` on again (and enables an endpoint
/// disabled by a 410).
#[utoipa::path(post, path = "/api/v1/webhooks/{name}/replay", tag = "events",
    params(("name" = String, Path)), request_body = ReplayBody,
    responses((status = 200, body = Object), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn replay_webhook(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(name): Path<String>,
    ValidJson(body): ValidJson<ReplayBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(&[Role::Admin])?;
    if !state.webhooks.iter().any(|h| h.name == name) {
        return Err(ApiError::NotFound("webhook"));
    }
    if body.from < 1 {
        return Err(ApiError::unprocessable(
            "from",
            "must be an event id, 1 or more",
        ));
    }
    state.store.ensure_webhook_endpoint(&name).await?;
    state.store.replay_webhook(&name, body.from).await?;
    tracing::info!(webhook = %name, from = body.from, actor = %caller.name, "webhook replay requested");
    Ok(Json(
        serde_json::json!({"webhook": name, "from": body.from}),
    ))
}

/// The endpoints' delivery state in Prometheus text: read from the database,
/// so every instance reports the same and a restart loses nothing.
pub async fn webhook_metrics(state: &AppState) -> String {
    use std::fmt::Write;
    if state.webhooks.is_empty() {
        return String::new();
    }
    let Ok(last) = state.store.last_event_id().await else {
        return String::new();
    };
    let now = leadgate_store::now_ms();
    let mut out = String::new();
    let mut rows = Vec::new();
    for hook in state.webhooks.iter() {
        if let Ok(Some(e)) = state.store.webhook_endpoint(&hook.name).await {
            let oldest = state
                .store
                .event_time_after(e.position)
                .await
                .ok()
                .flatten();
            rows.push((e, oldest));
        }
    }
    let metric = |out: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    metric(
        &mut out,
        "leadgate_webhook_delivered_total",
        "counter",
        "Deliveries answered 2xx.",
    );
    for (e, _) in &rows {
        let _ = writeln!(
            out,
            "leadgate_webhook_delivered_total{{endpoint=\"{}\"}} {}",
            e.name, e.delivered
        );
    }
    metric(
        &mut out,
        "leadgate_webhook_failed_total",
        "counter",
        "Deliveries given up after the retry window.",
    );
    for (e, _) in &rows {
        let _ = writeln!(
            out,
            "leadgate_webhook_failed_total{{endpoint=\"{}\"}} {}",
            e.name, e.failed
        );
    }
    metric(
        &mut out,
        "leadgate_webhook_attempts",
        "gauge",
        "Failed attempts of the delivery being retried (0: none).",
    );
    for (e, _) in &rows {
        let _ = writeln!(
            out,
            "leadgate_webhook_attempts{{endpoint=\"{}\"}} {}",
            e.name, e.attempts
        );
    }
    metric(
        &mut out,
        "leadgate_webhook_last_status",
        "gauge",
        "HTTP status of the last failed attempt (0: none or no answer).",
    );
    for (e, _) in &rows {
        let _ = writeln!(
            out,
            "leadgate_webhook_last_status{{endpoint=\"{}\"}} {}",
            e.name,
            e.last_status.unwrap_or(0)
        );
    }
    metric(
        &mut out,
        "leadgate_webhook_lag_events",
        "gauge",
        "Events journaled after the endpoint's position.",
    );
    for (e, _) in &rows {
        let _ = writeln!(
            out,
            "leadgate_webhook_lag_events{{endpoint=\"{}\"}} {}",
            e.name,
            (last - e.position).max(0)
        );
    }
    metric(
        &mut out,
        "leadgate_webhook_lag_seconds",
        "gauge",
        "Age of the oldest event not yet handled.",
    );
    for (e, oldest) in &rows {
        let lag = oldest.map_or(0.0, |at| (now - at).max(0) as f64 / 1000.0);
        let _ = writeln!(
            out,
            "leadgate_webhook_lag_seconds{{endpoint=\"{}\"}} {lag}",
            e.name
        );
    }
    metric(
        &mut out,
        "leadgate_webhook_disabled",
        "gauge",
        "1 when a 410 answer disabled the endpoint.",
    );
    for (e, _) in &rows {
        let _ = writeln!(
            out,
            "leadgate_webhook_disabled{{endpoint=\"{}\"}} {}",
            e.name,
            u8::from(e.disabled_at_ms.is_some())
        );
    }
    out
}
