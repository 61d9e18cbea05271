//! Telegram bots: private messages become appeals, by webhook
//! (`POST /hooks/telegram/{bot}`) or long polling (getUpdates).

pub mod api;
pub mod settings;
mod update;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Extension;
use subtle::ConstantTimeEq;
use teloxide::{ApiError as TgApiError, Bot, RequestError};
use tokio::task::JoinHandle;

use super::messengers::{
    replay_dead_letters, with_lease, Backoff, BurstLimiter, HandleError, StoreFailures,
};
use super::{Source, SourceContext};
use crate::SourcesSettings as Settings;
use leadgate_core::health::Heartbeat;
use leadgate_http::error::ApiError;
use settings::{TelegramBotSettings, TelegramMode};

pub use update::handle_update;

/// One configured bot, with what its handlers share.
pub struct BotRuntime {
    pub name: String,
    /// `telegram:<name>`: the appeals' source.
    pub source: String,
    pub settings: TelegramBotSettings,
    pub limiter: BurstLimiter,
}

type Bots = Arc<BTreeMap<String, Arc<BotRuntime>>>;

pub struct TelegramSource {
    bots: Bots,
}

impl TelegramSource {
    pub fn new(settings: &Settings) -> Self {
        let bots = settings
            .telegram
            .bots
            .iter()
            .map(|(name, cfg)| {
                (
                    name.clone(),
                    Arc::new(BotRuntime {
                        name: name.clone(),
                        source: format!("telegram:{name}"),
                        settings: cfg.clone(),
                        limiter: BurstLimiter::new(&cfg.burst),
                    }),
                )
            })
            .collect();
        Self {
            bots: Arc::new(bots),
        }
    }
}

impl Source for TelegramSource {
    fn name(&self) -> &str {
        "telegram"
    }

    fn routes(&self) -> Option<axum::Router<SourceContext>> {
        Some(
            axum::Router::new()
                .route("/hooks/telegram/{bot}", post(post_update))
                .layer(Extension(self.bots.clone())),
        )
    }

    fn spawn(self: Arc<Self>, ctx: SourceContext) -> Option<JoinHandle<()>> {
        let pollers: Vec<Arc<BotRuntime>> = self
            .bots
            .values()
            .filter(|b| b.settings.mode == TelegramMode::Polling)
            .cloned()
            .collect();
        let parts = pollers
            .into_iter()
            .map(|b| {
                // A long poll may take its whole timeout and the HTTP margin.
                let step = Duration::from_secs(b.settings.poll_timeout_secs + 30);
                (b.source.clone(), step, b)
            })
            .collect();
        super::spawn_each(ctx, parts, poll_bot)
    }
}

/// Telegram posts one update per request. The secret token is checked before
/// anything is read into the database; the update is stored before the 200.
async fn post_update(
    State(state): State<SourceContext>,
    Extension(bots): Extension<Bots>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Some(bot) = bots
        .get(&name)
        .filter(|b| b.settings.mode == TelegramMode::Webhook)
    else {
        state.metrics.unknown_endpoint("unknown_bot");
        return Err(ApiError::NotFound("bot"));
    };
    let presented = headers
        .get("x-telegram-bot-api-secret-token")
        .map(|v| v.as_bytes())
        .unwrap_or(b"");
    let expected = bot
        .settings
        .secret_token
        .as_ref()
        .map(|s| s.expose().as_bytes())
        .unwrap_or(b"");
    if expected.is_empty() || !bool::from(expected.ct_eq(presented)) {
        state.metrics.rejected(&bot.source, "bad_secret");
        tracing::warn!(source = %bot.source, "webhook post with a wrong or missing secret token");
        return Err(ApiError::Unauthorized);
    }
    if body.len() > state.body_limit {
        return Err(ApiError::PayloadTooLarge {
            limit: state.body_limit,
        });
    }
    let value: serde_json::Value = leadgate_http::extract::parse_json(&body).inspect_err(|_| {
        state.metrics.rejected(&bot.source, "bad_json");
    })?;
    let raw = String::from_utf8_lossy(&body);
    match handle_update(&state, bot, &value, &raw).await {
        Ok(_) => Ok(StatusCode::OK.into_response()),
        Err(e @ HandleError::BadInput { .. }) => {
            state.metrics.rejected(&bot.source, "bad_update");
            tracing::warn!(source = %bot.source, error = %e, "webhook update refused");
            Err(e.into())
        }
        Err(e) => Err(e.into()),
    }
}

/// Long polling, by the one instance holding the bot's lease.
async fn poll_bot(ctx: SourceContext, bot: Arc<BotRuntime>, beat: Heartbeat) {
    let client = match api::make_bot(&bot.settings) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(source = %bot.source, error = %e, "cannot start polling");
            return;
        }
    };
    let ttl = Duration::from_secs(bot.settings.poll_timeout_secs + 30);
    let store = ctx.store.clone();
    let lease = format!("poll:{}", bot.source);
    let shutdown = ctx.shutdown.clone();
    with_lease(store, lease, ttl, shutdown, &beat, |lost| {
        let ctx = ctx.clone();
        let bot = bot.clone();
        let client = client.clone();
        let beat = beat.clone();
        async move { poll_loop(ctx, bot, client, lost, beat).await }
    })
    .await;
    tracing::info!(source = %bot.source, "telegram polling stopped");
}

async fn poll_loop(
    ctx: SourceContext,
    bot: Arc<BotRuntime>,
    client: Bot,
    stop: tokio_util::sync::CancellationToken,
    beat: Heartbeat,
) {
    let cursor = format!("telegram:{}:offset", bot.name);
    let mut backoff = Backoff::new();
    let mut failures = StoreFailures::default();
    let timeout = u32::try_from(bot.settings.poll_timeout_secs).unwrap_or(25);
    loop {
        // Every round of the loop, failed or not, is the poller alive: an
        // unreachable Telegram is a channel problem, not a dead task.
        beat.beat();
        replay_dead_letters(&ctx, &bot.source, |update, raw| {
            let (ctx, bot) = (&ctx, &bot);
            async move { handle_update(ctx, bot, &update, &raw).await }
        })
        .await;
        let offset = match ctx.store.messenger_cursor(&cursor).await {
            Ok(v) => v.and_then(|v| v.parse::<i64>().ok()).unwrap_or(0),
            Err(e) => {
                tracing::warn!(source = %bot.source, error = %e, "reading the offset failed");
                if beat.sleep_or_stop(&stop, backoff.next_delay()).await {
                    return;
                }
                continue;
            }
        };
        let result = tokio::select! {
            _ = stop.cancelled() => return,
            r = api::get_updates(&client, offset, timeout) => r,
        };
        let delay = match result {
            Ok(updates) => {
                backoff.reset();
                match take_batch(&ctx, &bot, &updates, offset, &mut failures).await {
                    Ok(Some(next)) => {
                        if let Err(e) = ctx
                            .store
                            .set_messenger_cursor(&cursor, &next.to_string())
                            .await
                        {
                            tracing::warn!(source = %bot.source, error = %e, "saving the offset failed; updates will be seen again");
                        }
                        continue;
                    }
                    Ok(None) => continue,
                    Err(e) => {
                        tracing::error!(source = %bot.source, error = %e, "storing updates failed; will ask again");
                        backoff.next_delay()
                    }
                }
            }
            Err(RequestError::RetryAfter(s)) => s.duration(),
            Err(RequestError::Api(
                e @ (TgApiError::TerminatedByOtherGetUpdates | TgApiError::CantGetUpdates),
            )) => {
                tracing::warn!(source = %bot.source, error = %e, "getUpdates conflict (409): another poller or a webhook is active");
                backoff.next_delay()
            }
            Err(e) => {
                tracing::warn!(source = %bot.source, error = %e, "getUpdates failed");
                backoff.next_delay()
            }
        };
        if beat.sleep_or_stop(&stop, delay).await {
            return;
        }
    }
}

/// Stores a batch; returns the next offset. Update ids are taken as a set
/// (they may jump), and the offset moves past the highest one only after
/// every update of the batch is stored or dead-lettered. Updates before a
/// failing one that were stored are not lost: they are idempotent by id.
async fn take_batch(
    ctx: &SourceContext,
    bot: &BotRuntime,
    updates: &[serde_json::Value],
    offset: i64,
    failures: &mut StoreFailures,
) -> Result<Option<i64>, HandleError> {
    let mut highest: Option<i64> = None;
    for update in updates {
        let Some(id) = update.get("update_id").and_then(serde_json::Value::as_i64) else {
            tracing::warn!(source = %bot.source, key = "update_id", "update without update_id skipped");
            continue;
        };
        if id < offset {
            continue;
        }
        let raw = update.to_string();
        let handled = handle_update(ctx, bot, update, &raw).await;
        failures
            .settle(ctx, &bot.source, &id.to_string(), &raw, handled)
            .await?;
        highest = Some(highest.map_or(id, |h| h.max(id)));
    }
    Ok(highest.map(|h| h + 1))
}
