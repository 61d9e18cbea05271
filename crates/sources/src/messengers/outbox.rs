//! Replies to a person in the messenger an interest came from.
//!
//! The request only writes an outbox row (durable); a worker sends it and
//! marks it sent together with the feed entry. A `sent` row is never sent
//! again. VK retries are safe (its `random_id` is derived from the row);
//! Telegram has no such key, so a Telegram attempt whose outcome is unclear
//! (timeout after the request left, an instance dying mid-send) is parked as
//! `unconfirmed` instead of being sent twice.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Extension, Json};
use serde::Deserialize;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use utoipa::ToSchema;

use crate::SourcesSettings as Settings;
use crate::{telegram, vk, Source, SourceContext};
use leadgate_core::health::Heartbeat;
use leadgate_domain::role::Role;
use leadgate_http::error::{ApiError, Problem};
use leadgate_http::extract::{ApiCaller, ValidJson};
use leadgate_store::{now_ms, NewOutbound, OutboxRow, OutboxView};

/// Telegram's and VK's limit for one text message, in characters.
pub const MAX_TEXT_CHARS: usize = 4096;
/// After this many attempts a message is parked as `failed`.
const MAX_ATTEMPTS: i64 = 10;

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Certainly not delivered; try again (after `after`, if the provider said).
    #[error("{error}")]
    Retry {
        error: String,
        after: Option<Duration>,
    },
    /// The provider refused for good (blocked by the person, no such chat).
    #[error("{0}")]
    Permanent(String),
    /// It may or may not have been delivered.
    #[error("{0}")]
    Ambiguous(String),
}

enum Sender {
    Telegram(teloxide::Bot),
    Vk(Arc<vk::api::VkApi>),
}

impl Sender {
    fn channel(&self) -> &'static str {
        match self {
            Sender::Telegram(_) => "telegram",
            Sender::Vk(_) => "vk",
        }
    }
}

fn senders(settings: &Settings) -> HashMap<String, Sender> {
    let mut out = HashMap::new();
    for (name, bot) in &settings.telegram.bots {
        match telegram::api::make_bot(bot) {
            Ok(b) => {
                out.insert(format!("telegram:{name}"), Sender::Telegram(b));
            }
            Err(e) => tracing::error!(bot = %name, error = %e, "cannot send through this bot"),
        }
    }
    for (name, community) in &settings.vk.communities {
        match vk::api::VkApi::new(community) {
            Ok(api) => {
                out.insert(format!("vk:{name}"), Sender::Vk(Arc::new(api)));
            }
            Err(e) => {
                tracing::error!(community = %name, error = %e, "cannot send through this community")
            }
        }
    }
    out
}

/// The reply endpoint and the outbox worker.
pub struct MessengersSource {
    wake: Arc<Notify>,
}

impl MessengersSource {
    pub fn new() -> Self {
        Self {
            wake: Arc::new(Notify::new()),
        }
    }
}

impl Default for MessengersSource {
    fn default() -> Self {
        Self::new()
    }
}

impl Source for MessengersSource {
    fn name(&self) -> &str {
        "messengers"
    }

    fn routes(&self) -> Option<axum::Router<SourceContext>> {
        Some(
            axum::Router::new()
                .route("/api/v1/interests/{id}/messages", post(post_message))
                .layer(Extension(self.wake.clone())),
        )
    }

    fn spawn(self: Arc<Self>, ctx: SourceContext) -> Option<JoinHandle<()>> {
        let senders = senders(&ctx.settings);
        if senders.is_empty() {
            return None;
        }
        let (senders, wake) = (Arc::new(senders), self.wake.clone());
        let stop = ctx.shutdown.clone();
        let health = ctx.health.clone();
        // A send may take the HTTP client's timeout per row of a batch.
        Some(health.supervise(
            "messenger outbox".into(),
            Duration::from_secs(60),
            stop,
            move |beat| run_worker(ctx.clone(), senders.clone(), wake.clone(), beat),
        ))
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageRequest {
    /// Up to 4096 characters.
    #[schema(min_length = 1, max_length = 4096, pattern = "\\S")]
    pub text: String,
}

/// Send a text to the person of this interest, in the messenger they wrote
/// from. Queued durably; sent once by a worker, then recorded in the feed.
/// An `Idempotency-Key` header makes a retried request queue nothing new.
#[utoipa::path(
    post, path = "/api/v1/interests/{id}/messages", tag = "interests",
    params(("id" = i64, Path)),
    request_body = MessageRequest,
    responses(
        (status = 202, description = "Queued", body = OutboxView),
        (status = 200, description = "Already queued under this Idempotency-Key", body = OutboxView),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Empty or too long text", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The interest has no messenger conversation, or its channel is no longer configured", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn post_message(
    State(state): State<SourceContext>,
    Extension(wake): Extension<Arc<Notify>>,
    caller: ApiCaller,
    path: Result<Path<i64>, PathRejection>,
    headers: HeaderMap,
    ValidJson(req): ValidJson<MessageRequest>,
) -> Result<(StatusCode, Json<OutboxView>), ApiError> {
    // Replies are the sales side's: operators triage, they do not write to clients.
    caller.require(&[Role::Manager, Role::Head])?;
    let Path(interest_id) = path.map_err(|e| ApiError::bad("id", e.body_text()))?;
    let visibility = caller.visibility(&state.store, &state.core).await?;
    let responsible = state
        .store
        .interest_responsible(interest_id)
        .await?
        .ok_or(ApiError::NotFound("interest"))?;
    if !visibility.interest(responsible.as_deref()) {
        return Err(ApiError::NotFound("interest"));
    }
    let text = req.text.trim();
    if text.is_empty() {
        return Err(ApiError::unprocessable("text", "must not be empty"));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(ApiError::unprocessable(
            "text",
            format!("must be at most {MAX_TEXT_CHARS} characters"),
        ));
    }
    let Some((source, peer_id)) = state.store.peer_of_interest(interest_id).await? else {
        // The request is fine; the interest's history refuses it.
        return Err(ApiError::Conflict {
            field: Some("id".into()),
            detail: "this interest has no Telegram or VK conversation to reply in".into(),
        });
    };
    if !source_configured(&state.settings, &source) {
        return Err(ApiError::Conflict {
            field: Some("id".into()),
            detail: format!("the conversation's channel `{source}` is no longer configured"),
        });
    }
    let dedup_key = match headers.get("idempotency-key") {
        Some(v) => {
            let key = v
                .to_str()
                .ok()
                .map(str::trim)
                .filter(|k| !k.is_empty() && k.len() <= 200)
                .ok_or_else(|| {
                    ApiError::bad("Idempotency-Key", "must be 1-200 visible ASCII characters")
                })?;
            Some(format!("api:{}:{key}", caller.name))
        }
        None => None,
    };
    let view = state
        .store
        .enqueue_outbound(&NewOutbound {
            interest_id: Some(interest_id),
            appeal_id: None,
            source: &source,
            peer_id,
            kind: "reply",
            body: text,
            author: Some(&caller.name),
            dedup_key,
        })
        .await?;
    wake.notify_one();
    if view.created {
        // Writing to the client is a manager's first action on the appeals
        // that wait (speed to lead).
        let login = caller.login.as_deref().unwrap_or(&caller.name);
        state
            .store
            .mark_first_action_now(interest_id, login, &state.core.calendar)
            .await?;
    }
    let code = if view.created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((code, Json(view)))
}

fn source_configured(settings: &Settings, source: &str) -> bool {
    match source.split_once(':') {
        Some(("telegram", name)) => settings.telegram.bots.contains_key(name),
        Some(("vk", name)) => settings.vk.communities.contains_key(name),
        _ => false,
    }
}

async fn run_worker(
    ctx: SourceContext,
    senders: Arc<HashMap<String, Sender>>,
    wake: Arc<Notify>,
    beat: Heartbeat,
) {
    let store = &ctx.store;
    loop {
        if ctx.shutdown.is_cancelled() {
            break;
        }
        beat.beat();
        match store.stale_sending().await {
            Ok(stale) => {
                for (id, source) in stale {
                    let resend = source.starts_with("vk:");
                    match store.settle_stale(id, resend).await {
                        Ok(true) if !resend => {
                            tracing::warn!(outbox_id = id, %source, "an attempt was cut off; delivery unconfirmed, not resent")
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(outbox_id = id, error = %e, "settling a stale attempt failed")
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "reading stale outbox rows failed"),
        }
        let rows = match store.claim_outbound(16, 120_000).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "reading the outbox failed");
                Vec::new()
            }
        };
        let busy = !rows.is_empty();
        for row in rows {
            deliver(&ctx, &senders, row).await;
            beat.beat();
        }
        if !busy {
            tokio::select! {
                _ = ctx.shutdown.cancelled() => break,
                _ = wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
        }
    }
    tracing::info!("messenger outbox worker stopped");
}

async fn deliver(ctx: &SourceContext, senders: &HashMap<String, Sender>, row: OutboxRow) {
    let store = &ctx.store;
    let Some(sender) = senders.get(&row.source) else {
        let _ = store
            .outbound_failed(&row, "the channel is not configured", "failed")
            .await;
        return;
    };
    let result = match sender {
        Sender::Telegram(bot) => telegram::api::send_text(bot, row.peer_id, &row.body).await,
        Sender::Vk(api) => api.send_text(row.peer_id, &row.body, row.random_id).await,
    };
    let outcome = match result {
        Ok(message_id) => {
            tracing::info!(outbox_id = row.id, source = %row.source, attempt = row.attempts, "message sent");
            store
                .outbound_sent(&row, sender.channel(), &message_id)
                .await
        }
        Err(SendError::Retry { error, after }) => {
            let delay = after.unwrap_or_else(|| {
                let exp = u32::try_from(row.attempts.clamp(1, 10) - 1).unwrap_or(0);
                Duration::from_secs(1u64 << exp).min(Duration::from_secs(600))
            });
            let give_up = row.attempts >= MAX_ATTEMPTS;
            tracing::warn!(outbox_id = row.id, source = %row.source, attempt = row.attempts, give_up, %error, "sending failed");
            let at = now_ms() + i64::try_from(delay.as_millis()).unwrap_or(600_000);
            store.outbound_retry(&row, &error, at, give_up).await
        }
        Err(SendError::Ambiguous(error)) if matches!(sender, Sender::Vk(_)) => {
            // random_id makes a repeated messages.send a no-op at VK.
            let give_up = row.attempts >= MAX_ATTEMPTS;
            tracing::warn!(outbox_id = row.id, source = %row.source, %error, "sending unclear; retrying with the same random_id");
            store
                .outbound_retry(&row, &error, now_ms() + 1000, give_up)
                .await
        }
        Err(SendError::Ambiguous(error)) => {
            tracing::warn!(outbox_id = row.id, source = %row.source, %error, "delivery unconfirmed; not resent");
            store.outbound_failed(&row, &error, "unconfirmed").await
        }
        Err(SendError::Permanent(error)) => {
            tracing::warn!(outbox_id = row.id, source = %row.source, %error, "message refused by the provider");
            store.outbound_failed(&row, &error, "failed").await
        }
    };
    if let Err(e) = outcome {
        tracing::error!(outbox_id = row.id, error = %e, "recording the send outcome failed");
    }
}
