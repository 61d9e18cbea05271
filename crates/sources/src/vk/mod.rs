//! VK communities: messages to the community become appeals, by the Callback
//! API (`POST /hooks/vk/{community}`) or the Bots Long Poll API.

pub mod api;
mod event;
pub mod settings;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Extension;
use serde_json::Value;
use subtle::ConstantTimeEq;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::messengers::{
    replay_dead_letters, with_lease, Backoff, BurstLimiter, HandleError, StoreFailures,
};
use super::{Source, SourceContext};
use crate::SourcesSettings as Settings;
use api::{LongPollAnswer, LongPollSession, VkApi};
use leadgate_core::health::Heartbeat;
use leadgate_http::error::ApiError;
use settings::{VkCommunitySettings, VkMode};

pub use event::handle_event;

pub struct CommunityRuntime {
    pub name: String,
    /// `vk:<name>`: the appeals' source.
    pub source: String,
    pub settings: VkCommunitySettings,
    pub limiter: BurstLimiter,
    pub api: Arc<VkApi>,
}

type Communities = Arc<BTreeMap<String, Arc<CommunityRuntime>>>;

pub struct VkSource {
    communities: Communities,
}

impl VkSource {
    pub fn new(settings: &Settings) -> Self {
        let mut communities = BTreeMap::new();
        for (name, cfg) in &settings.vk.communities {
            match VkApi::new(cfg) {
                Ok(api) => {
                    communities.insert(
                        name.clone(),
                        Arc::new(CommunityRuntime {
                            name: name.clone(),
                            source: format!("vk:{name}"),
                            settings: cfg.clone(),
                            limiter: BurstLimiter::new(&cfg.burst),
                            api: Arc::new(api),
                        }),
                    );
                }
                Err(e) => tracing::error!(community = %name, error = %e, "VK community disabled"),
            }
        }
        Self {
            communities: Arc::new(communities),
        }
    }
}

impl Source for VkSource {
    fn name(&self) -> &str {
        "vk"
    }

    fn routes(&self) -> Option<axum::Router<SourceContext>> {
        Some(
            axum::Router::new()
                .route("/hooks/vk/{community}", post(post_event))
                .layer(Extension(self.communities.clone())),
        )
    }

    fn spawn(self: Arc<Self>, ctx: SourceContext) -> Option<JoinHandle<()>> {
        let pollers: Vec<Arc<CommunityRuntime>> = self
            .communities
            .values()
            .filter(|c| c.settings.mode == VkMode::Longpoll)
            .cloned()
            .collect();
        let parts = pollers
            .into_iter()
            .map(|c| {
                let step = Duration::from_secs(c.settings.poll_wait_secs + 30);
                (c.source.clone(), step, c)
            })
            .collect();
        super::spawn_each(ctx, parts, poll_community)
    }
}

fn plain(code: StatusCode, text: String) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

/// Callback API: answers the confirmation request with the configured string;
/// every other event is checked against the secret, stored, then answered `ok`
/// (anything else makes VK deliver it again, with X-Retry-Counter).
async fn post_event(
    State(state): State<SourceContext>,
    Extension(communities): Extension<Communities>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Some(community) = communities
        .get(&name)
        .filter(|c| c.settings.mode == VkMode::Callback)
    else {
        state.metrics.unknown_endpoint("unknown_community");
        return Err(ApiError::NotFound("community"));
    };
    if body.len() > state.body_limit {
        return Err(ApiError::PayloadTooLarge {
            limit: state.body_limit,
        });
    }
    let event: Value = leadgate_http::extract::parse_json(&body).inspect_err(|_| {
        state.metrics.rejected(&community.source, "bad_json");
    })?;
    let group_ok =
        event.get("group_id").and_then(Value::as_i64) == Some(community.settings.group_id);
    if event.get("type").and_then(Value::as_str) == Some("confirmation") {
        if !group_ok {
            state.metrics.rejected(&community.source, "wrong_group");
            return Err(ApiError::Forbidden);
        }
        let answer = community
            .settings
            .confirmation
            .as_ref()
            .map(|c| c.expose().to_string())
            .unwrap_or_default();
        tracing::info!(source = %community.source, "Callback API confirmation answered");
        return Ok(plain(StatusCode::OK, answer));
    }
    let presented = event
        .get("secret")
        .and_then(Value::as_str)
        .unwrap_or("")
        .as_bytes();
    let expected = community
        .settings
        .secret
        .as_ref()
        .map(|s| s.expose().as_bytes())
        .unwrap_or(b"");
    if expected.is_empty() || !bool::from(expected.ct_eq(presented)) {
        state.metrics.rejected(&community.source, "bad_secret");
        tracing::warn!(source = %community.source, "callback with a wrong or missing secret");
        return Err(ApiError::Forbidden);
    }
    if !group_ok {
        state.metrics.rejected(&community.source, "wrong_group");
        return Err(ApiError::bad("group_id", "not this community's group_id"));
    }
    if let Some(retry) = headers.get("x-retry-counter").and_then(|v| v.to_str().ok()) {
        tracing::debug!(source = %community.source, retry, "callback redelivery");
    }
    let raw = String::from_utf8_lossy(&body);
    match handle_event(&state, community, &event, &raw).await {
        Ok(_) => Ok(plain(StatusCode::OK, "ok".into())),
        Err(e @ HandleError::BadInput { .. }) => {
            state.metrics.rejected(&community.source, "bad_event");
            tracing::warn!(source = %community.source, error = %e, "callback event refused");
            Err(e.into())
        }
        Err(e) => Err(e.into()),
    }
}

async fn poll_community(ctx: SourceContext, community: Arc<CommunityRuntime>, beat: Heartbeat) {
    let ttl = Duration::from_secs(community.settings.poll_wait_secs + 30);
    let store = ctx.store.clone();
    let lease = format!("poll:{}", community.source);
    let shutdown = ctx.shutdown.clone();
    with_lease(store, lease, ttl, shutdown, &beat, |lost| {
        let ctx = ctx.clone();
        let community = community.clone();
        let beat = beat.clone();
        async move { long_poll(ctx, community, lost, beat).await }
    })
    .await;
    tracing::info!(source = %community.source, "VK long poll stopped");
}

/// Bots Long Poll: failed 1 → go on from the new ts; 2 → new key; 3 → new key
/// and ts; network errors → backoff. The ts is saved after the events before
/// it are stored, so a restart replays rather than skips.
async fn long_poll(
    ctx: SourceContext,
    community: Arc<CommunityRuntime>,
    stop: CancellationToken,
    beat: Heartbeat,
) {
    let cursor = format!("vk:{}:ts", community.name);
    let mut backoff = Backoff::new();
    let mut failures = StoreFailures::default();
    let mut session: Option<LongPollSession> = None;
    let mut ts: Option<String> = match ctx.store.messenger_cursor(&cursor).await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(source = %community.source, error = %e, "reading the saved ts failed");
            None
        }
    };
    loop {
        beat.beat();
        replay_dead_letters(&ctx, &community.source, |update, raw| {
            let (ctx, community) = (&ctx, &community);
            async move { handle_event(ctx, community, &update, &raw).await }
        })
        .await;
        let current = match &session {
            Some(s) => s.clone(),
            None => {
                let fresh = tokio::select! {
                    _ = stop.cancelled() => return,
                    r = community.api.long_poll_session() => r,
                };
                match fresh {
                    Ok(s) => {
                        if ts.is_none() {
                            ts = Some(s.ts.clone());
                        }
                        session = Some(s.clone());
                        s
                    }
                    Err(e) => {
                        tracing::warn!(source = %community.source, error = %e, "groups.getLongPollServer failed");
                        if beat.sleep_or_stop(&stop, backoff.next_delay()).await {
                            return;
                        }
                        continue;
                    }
                }
            }
        };
        let at = ts.clone().unwrap_or_else(|| current.ts.clone());
        let answer = tokio::select! {
            _ = stop.cancelled() => return,
            r = community.api.a_check(&current, &at, community.settings.poll_wait_secs) => r,
        };
        match answer {
            Ok(LongPollAnswer::Updates { ts: next, updates }) => {
                backoff.reset();
                let mut stored_all = true;
                for (i, update) in updates.iter().enumerate() {
                    let raw = update.to_string();
                    // VK keys events by event_id; an event without one is
                    // named by its place in this answer.
                    let key = update
                        .get("event_id")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .unwrap_or_else(|| format!("ts:{at}:{i}"));
                    let handled = handle_event(&ctx, &community, update, &raw).await;
                    if let Err(e) = failures
                        .settle(&ctx, &community.source, &key, &raw, handled)
                        .await
                    {
                        tracing::error!(source = %community.source, key, error = %e, "storing events failed; will ask again");
                        stored_all = false;
                        break;
                    }
                }
                if !stored_all {
                    if beat.sleep_or_stop(&stop, backoff.next_delay()).await {
                        return;
                    }
                    continue;
                }
                save_ts(&ctx, &cursor, &next).await;
                ts = Some(next);
            }
            Ok(LongPollAnswer::Outdated { ts: next }) => {
                tracing::warn!(source = %community.source, "long poll history outdated (failed 1); going on from the new ts");
                save_ts(&ctx, &cursor, &next).await;
                ts = Some(next);
            }
            Ok(LongPollAnswer::KeyExpired) => {
                tracing::info!(source = %community.source, "long poll key expired (failed 2); asking for a new key");
                session = None;
            }
            Ok(LongPollAnswer::Lost) => {
                tracing::warn!(source = %community.source, "long poll information lost (failed 3); new key and ts");
                session = None;
                ts = None;
            }
            Err(e) => {
                tracing::warn!(source = %community.source, error = %e, "a_check failed");
                if beat.sleep_or_stop(&stop, backoff.next_delay()).await {
                    return;
                }
            }
        }
    }
}

async fn save_ts(ctx: &SourceContext, cursor: &str, ts: &str) {
    if let Err(e) = ctx.store.set_messenger_cursor(cursor, ts).await {
        tracing::warn!(cursor, error = %e, "saving the long poll ts failed; events may be seen again");
    }
}
