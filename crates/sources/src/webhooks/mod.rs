//! Outbound webhooks in the Standard Webhooks format.
//!
//! The outbox is the event journal itself plus one row per endpoint
//! (`webhook_endpoints`): its position in the journal, the delivery being
//! retried and the lease of the instance sending. Events are journaled in
//! the transaction of the change they record, so a delivery exists exactly
//! when the change does; a crash loses nothing, and at worst repeats the
//! deliveries sent since the position was last saved (at-least-once, with
//! the same `webhook-id`).
//!
//! One sender per endpoint sends in journal order and waits for each answer
//! before the next, so a receiver never sees `interest.stage_changed` before
//! `interest.created`. A failing delivery holds the endpoint (retried with
//! exponential backoff and jitter) until it succeeds or its retry window
//! runs out; then it is recorded as failed and the endpoint moves on. A 410
//! answer disables the endpoint until `leadgate webhooks replay`.

pub mod settings;
pub mod sign;

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use tokio::task::JoinHandle;

use crate::{Source, SourceContext};
use leadgate_core::health::Heartbeat;
use leadgate_domain::event::{any_matches, Event, EventPattern};
use leadgate_store::{now_ms, EndpointState, FailedAttempt, StorageError, Store};
use settings::WebhookSettings;
use sign::{signature_header, SigningKey};

/// A lease outlives a stalled sender by this much.
const LEASE_MS: i64 = 30_000;
/// How often the position is saved while a run of deliveries goes well.
const SAVE_EVERY: Duration = Duration::from_millis(250);
/// After an advance was refused: a replay revokes the lease and the sender
/// should go on from the replayed position soon; if another instance holds
/// it, the next lease attempt says so and the sender waits longer.
const LEASE_LOST_PAUSE: Duration = Duration::from_secs(1);
const MAX_BACKOFF_MS: u64 = 3_600_000;

pub struct WebhooksSource;

impl Source for WebhooksSource {
    fn name(&self) -> &str {
        "webhooks"
    }

    /// One sender per endpoint, and the journal's retention.
    fn spawn(self: Arc<Self>, ctx: SourceContext) -> Option<JoinHandle<()>> {
        let mut jobs: Vec<(String, Duration, Option<WebhookSettings>)> = ctx
            .settings
            .webhooks
            .iter()
            .map(|h| {
                // One delivery may take the receiver's whole timeout.
                let step = Duration::from_secs(h.timeout_secs + 10);
                (format!("webhook:{}", h.name), step, Some(h.clone()))
            })
            .collect();
        jobs.push(("events retention".into(), Duration::ZERO, None));
        crate::spawn_each(ctx, jobs, |ctx, job, beat| async move {
            match job {
                Some(hook) => match Sender::new(hook) {
                    Ok(sender) => sender.run(ctx, beat).await,
                    Err(e) => tracing::error!(error = %e, "webhook sender cannot start"),
                },
                None => prune(ctx, beat).await,
            }
        })
    }
}

/// How one delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 2xx.
    Delivered(u16),
    /// 410: the receiver wants no more.
    Gone,
    /// Any other status, or no answer (`None`).
    Failed(Option<u16>, String),
}

/// Sends to one endpoint; also what `leadgate webhooks test` uses.
pub struct Sender {
    pub hook: WebhookSettings,
    patterns: Vec<EventPattern>,
    keys: Vec<SigningKey>,
    client: reqwest::Client,
    holder: String,
}

impl Sender {
    pub fn new(hook: WebhookSettings) -> Result<Sender, String> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(hook.timeout_secs.max(1)))
            .tcp_nodelay(true)
            .user_agent(concat!("leadgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        let holder = format!(
            "{}:{}:{:08x}",
            hostname(),
            std::process::id(),
            rand::thread_rng().gen::<u32>()
        );
        Ok(Sender {
            patterns: hook.patterns(),
            keys: hook.keys(),
            hook,
            client,
            holder,
        })
    }

    pub fn wants(&self, event: &Event) -> bool {
        any_matches(&self.patterns, event.kind)
    }

    /// One POST of `event`, signed.
    pub async fn deliver(&self, event: &Event) -> Answer {
        let body = match serde_json::to_vec(event) {
            Ok(b) => b,
            Err(e) => return Answer::Failed(None, e.to_string()),
        };
        let id = event.webhook_id();
        let timestamp = chrono::Utc::now().timestamp();
        let signature = signature_header(&self.keys, &id, timestamp, &body);
        let sent = self
            .client
            .post(&self.hook.url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                // Drain the body so the connection can be reused.
                let text = response.text().await.unwrap_or_default();
                match status {
                    200..=299 => Answer::Delivered(status),
                    410 => Answer::Gone,
                    _ => {
                        let text: String = text.trim().chars().take(200).collect();
                        let error = if text.is_empty() {
                            format!("HTTP {status}")
                        } else {
                            format!("HTTP {status}: {text}")
                        };
                        Answer::Failed(Some(status), error)
                    }
                }
            }
            Err(e) => Answer::Failed(None, without_url(&e)),
        }
    }

    async fn run(self, ctx: SourceContext, beat: Heartbeat) {
        let name = self.hook.name.clone();
        if let Err(e) = ctx.store.ensure_webhook_endpoint(&name).await {
            tracing::error!(webhook = %name, error = %e, "cannot register the webhook endpoint");
            return;
        }
        let mut changes = ctx.store.journal_changes().await;
        let mut backoff = Duration::from_millis(500);
        loop {
            if ctx.shutdown.is_cancelled() {
                break;
            }
            beat.beat();
            changes.mark_unchanged();
            let wait = match self.step(&ctx.store, &beat).await {
                Ok(wait) => {
                    backoff = Duration::from_millis(500);
                    wait
                }
                Err(e) => {
                    tracing::warn!(webhook = %name, error = %e, "webhook sender step failed");
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    Some(backoff)
                }
            };
            let Some(wait) = wait else { continue };
            let stopped = beat
                .keep_alive(async {
                    tokio::select! {
                        _ = ctx.shutdown.cancelled() => true,
                        _ = changes.changed() => false,
                        _ = tokio::time::sleep(wait) => false,
                    }
                })
                .await;
            if stopped {
                break;
            }
        }
        let _ = ctx.store.release_webhook(&name, &self.holder).await;
        tracing::info!(webhook = %name, "webhook sender stopped");
    }

    /// Sends what there is to send; `Some(wait)` when it is time to sleep
    /// (until new events, or at most `wait`), `None` to go on at once.
    async fn step(
        &self,
        store: &Store,
        beat: &Heartbeat,
    ) -> Result<Option<Duration>, StorageError> {
        let name = &self.hook.name;
        let Some(state) = store.lease_webhook(name, &self.holder, LEASE_MS).await? else {
            // Another instance sends; take over if its lease runs out.
            return Ok(Some(Duration::from_millis(LEASE_MS as u64 / 3)));
        };
        if state.disabled_at_ms.is_some() {
            return Ok(Some(Duration::from_secs(5)));
        }
        let now = now_ms();
        if let (Some(_), Some(next)) = (state.retry_event, state.next_attempt_at_ms) {
            if next > now {
                let until = Duration::from_millis((next - now) as u64);
                return Ok(Some(until.min(Duration::from_millis(LEASE_MS as u64 / 3))));
            }
        }
        let events = store.events_after(state.position, &[], 500).await?;
        if events.is_empty() {
            // Events waiting for a transaction in flight: an aborted one
            // wakes nobody, so look again soon.
            if store.journal_settling() {
                return Ok(Some(Duration::from_millis(50)));
            }
            return Ok(Some(Duration::from_millis(LEASE_MS as u64 / 3)));
        }
        let mut position = state.position;
        let mut delivered = 0;
        let mut saved = Instant::now();
        for event in &events {
            if !self.wants(event) {
                position = event.id;
                continue;
            }
            beat.beat();
            match self.deliver(event).await {
                Answer::Delivered(_) => {
                    position = event.id;
                    delivered += 1;
                }
                Answer::Gone => {
                    store
                        .webhook_advanced(name, &self.holder, position, delivered, LEASE_MS)
                        .await?;
                    store
                        .disable_webhook(name, "the receiver answered 410 Gone")
                        .await?;
                    tracing::warn!(webhook = %name, event_id = event.id, "receiver answered 410: webhook disabled");
                    return Ok(Some(Duration::from_secs(5)));
                }
                Answer::Failed(status, error) => {
                    if !store
                        .webhook_advanced(name, &self.holder, position, delivered, LEASE_MS)
                        .await?
                    {
                        return Ok(Some(LEASE_LOST_PAUSE));
                    }
                    self.failed(store, &state, event, status, &error).await?;
                    return Ok(None);
                }
            }
            if saved.elapsed() >= SAVE_EVERY {
                if !store
                    .webhook_advanced(name, &self.holder, position, delivered, LEASE_MS)
                    .await?
                {
                    // Another instance took over (it goes on from the saved
                    // position), or a replay revoked the lease.
                    return Ok(Some(LEASE_LOST_PAUSE));
                }
                delivered = 0;
                saved = Instant::now();
            }
        }
        store
            .webhook_advanced(name, &self.holder, position, delivered, LEASE_MS)
            .await?;
        Ok(None)
    }

    async fn failed(
        &self,
        store: &Store,
        state: &EndpointState,
        event: &Event,
        status: Option<u16>,
        error: &str,
    ) -> Result<(), StorageError> {
        let now = now_ms();
        let (attempts, first) = match state.retry_event {
            Some(id) if id == event.id => {
                (state.attempts + 1, state.first_attempt_at_ms.unwrap_or(now))
            }
            _ => (1, now),
        };
        let window = i64::from(self.hook.retry_hours) * 3_600_000;
        let attempt = FailedAttempt {
            event_id: event.id,
            attempts,
            first_attempt_at_ms: first,
            next_attempt_at_ms: now + backoff_ms(self.hook.backoff_initial_ms, attempts),
            status: status.map(i64::from),
            error,
        };
        if now - first >= window {
            store
                .webhook_gave_up(&self.hook.name, &self.holder, &attempt)
                .await?;
            tracing::error!(webhook = %self.hook.name, event_id = event.id, attempts, error, "webhook delivery failed for good");
        } else {
            store
                .webhook_attempt_failed(&self.hook.name, &self.holder, &attempt)
                .await?;
            tracing::warn!(webhook = %self.hook.name, event_id = event.id, attempts, error, "webhook delivery failed; will retry");
        }
        Ok(())
    }
}

/// Deletes events past `[events] retention_days`, at start and hourly.
async fn prune(ctx: SourceContext, beat: Heartbeat) {
    let keep_ms = i64::from(ctx.settings.events.retention_days.max(1)) * 86_400_000;
    loop {
        match ctx.store.prune_events(now_ms() - keep_ms).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "events past retention deleted"),
            Err(e) => tracing::warn!(error = %e, "cannot delete events past retention"),
        }
        if beat
            .sleep_or_stop(&ctx.shutdown, Duration::from_secs(3600))
            .await
        {
            break;
        }
    }
}

/// The delay before attempt `attempts + 1`: the initial delay doubled per
/// attempt, capped at an hour, with jitter (a random half to all of it) so
/// that endpoints failing together do not retry together.
pub fn backoff_ms(initial_ms: u64, attempts: i64) -> i64 {
    let exp = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(30);
    let full = initial_ms
        .max(1)
        .saturating_mul(1u64 << exp)
        .min(MAX_BACKOFF_MS);
    let jittered = rand::thread_rng().gen_range(full / 2..=full);
    i64::try_from(jittered).unwrap_or(i64::MAX)
}

/// reqwest's errors name the URL, which may carry a token.
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    match std::error::Error::source(e) {
        Some(source) => format!("{kind}: {source}"),
        None => kind.to_string(),
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_stops_at_an_hour() {
        for attempts in 1..40 {
            let full = (1000u64 << (attempts - 1).min(30)).min(MAX_BACKOFF_MS) as i64;
            let d = backoff_ms(1000, attempts);
            assert!(d >= full / 2 && d <= full, "attempt {attempts}: {d}");
        }
    }
}
