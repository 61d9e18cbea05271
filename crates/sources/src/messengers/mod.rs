//! What the messenger channels (Telegram, VK) share: replies to a person from
//! an interest (an outbox sent by a worker), the poller lease, the per-person
//! burst limit and the errors of handling one provider event.

pub mod outbox;
pub mod settings;

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use leadgate_core::health::Heartbeat;
use leadgate_core::intake::IntakeError;
use leadgate_http::error::ApiError;
use leadgate_store::{StorageError, Store};
use settings::BurstSettings;

pub use outbox::{post_message, MessengersSource, SendError};

/// Names this process among instances sharing one database (lease holder).
pub fn instance_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        use rand::Rng;
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "leadgate".into());
        format!(
            "{host}:{}:{:08x}",
            std::process::id(),
            rand::thread_rng().gen::<u32>()
        )
    })
}

/// Why one provider event could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// The event is malformed beyond storing it (no id to key it on).
    #[error("{field}: {detail}")]
    BadInput { field: String, detail: String },
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Intake(#[from] IntakeError),
}

impl From<HandleError> for ApiError {
    fn from(e: HandleError) -> Self {
        match e {
            HandleError::BadInput { field, detail } => ApiError::bad(field, detail),
            // The provider retries on anything but 2xx: a storage hiccup must
            // not be acknowledged.
            HandleError::Storage(e) => ApiError::Unavailable(e.to_string()),
            HandleError::Intake(e) => ApiError::Unavailable(e.to_string()),
        }
    }
}

/// What became of one provider event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// Stored as an appeal (`created` false for a redelivery).
    Appeal { id: i64, created: bool },
    /// Kept raw as an event that is no appeal (unknown type, folded burst, echo).
    Event,
    /// Deliberately not kept (group chat, a bot's message).
    Ignored,
}

/// Counts messages per person in a sliding window: past the limit, messages
/// are folded into the person's last appeal instead of each making one.
pub struct BurstLimiter {
    max: usize,
    window: Duration,
    seen: Mutex<HashMap<i64, Vec<Instant>>>,
}

impl BurstLimiter {
    pub fn new(settings: &BurstSettings) -> Self {
        Self {
            max: usize::try_from(settings.max_messages).unwrap_or(usize::MAX),
            window: Duration::from_secs(settings.window_secs),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a message from `person` may become an appeal now.
    pub fn admit(&self, person: i64) -> bool {
        let now = Instant::now();
        let Ok(mut seen) = self.seen.lock() else {
            return true;
        };
        if seen.len() > 100_000 {
            // Forget idle people so memory stays bounded.
            seen.retain(|_, times| times.last().is_some_and(|t| now - *t < self.window));
        }
        let times = seen.entry(person).or_default();
        times.retain(|t| now - *t < self.window);
        if times.len() >= self.max {
            return false;
        }
        times.push(now);
        true
    }
}

/// Holds the poller lease `name` while `work` runs and renews it; returns
/// when shutdown fires. `work` is started only while the lease is held and is
/// cancelled (via its token) when the lease is lost.
///
/// `beat` is the poller's heartbeat: while another instance holds the lease,
/// waiting for it is healthy and beats; `work` beats for itself.
pub async fn with_lease<F, Fut>(
    store: Store,
    name: String,
    ttl: Duration,
    shutdown: CancellationToken,
    beat: &Heartbeat,
    mut work: F,
) where
    F: FnMut(CancellationToken) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let holder = instance_id();
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 4);
    let renew_every = ttl / 3;
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        match store.acquire_lease(&name, holder, ttl_ms).await {
            Ok(true) => {
                tracing::info!(lease = %name, "polling lease held");
                let lost = shutdown.child_token();
                let keeper = {
                    let store = store.clone();
                    let name = name.clone();
                    let lost = lost.clone();
                    tokio::spawn(async move {
                        loop {
                            tokio::select! {
                                _ = lost.cancelled() => break,
                                _ = tokio::time::sleep(renew_every) => {}
                            }
                            match store.acquire_lease(&name, holder, ttl_ms).await {
                                Ok(true) => {}
                                Ok(false) => {
                                    tracing::warn!(lease = %name, "polling lease lost to another instance");
                                    lost.cancel();
                                    break;
                                }
                                // A database hiccup: keep polling until the lease would expire.
                                Err(e) => {
                                    tracing::warn!(lease = %name, error = %e, "renewing the polling lease failed")
                                }
                            }
                        }
                    })
                };
                work(lost.clone()).await;
                lost.cancel();
                let _ = keeper.await;
                if shutdown.is_cancelled() {
                    if let Err(e) = store.release_lease(&name, holder).await {
                        tracing::warn!(lease = %name, error = %e, "releasing the polling lease failed");
                    }
                    break;
                }
            }
            Ok(false) => {
                beat.beat();
                tracing::debug!(lease = %name, "another instance polls; waiting");
            }
            Err(e) => tracing::warn!(lease = %name, error = %e, "taking the polling lease failed"),
        }
        if beat.sleep_or_stop(&shutdown, renew_every).await {
            break;
        }
    }
}

/// Storing one update may fail this many times (with the poller's backoff
/// in between) before it is given up on and dead-lettered.
pub const MAX_STORE_ATTEMPTS: u32 = 5;

/// A poller's memory of updates whose storing failed, so that one poisoned
/// update cannot hold its channel back forever: it is retried a few times,
/// then written to the dead letters with its reason and passed over.
#[derive(Default)]
pub struct StoreFailures {
    attempts: HashMap<String, u32>,
}

impl StoreFailures {
    /// Settles one update's handling. `Ok` means move on (it was stored, or
    /// it is dead-lettered for good); `Err` means stop the batch here and
    /// ask for it again after a pause.
    pub async fn settle<T>(
        &mut self,
        ctx: &crate::SourceContext,
        source: &str,
        key: &str,
        raw: &str,
        result: Result<T, HandleError>,
    ) -> Result<(), HandleError> {
        match result {
            Ok(_) => {
                self.attempts.remove(key);
                Ok(())
            }
            // The intake refuses it as it is: trying again changes nothing.
            Err(HandleError::BadInput { field, detail }) => {
                dead_letter(
                    ctx,
                    source,
                    key,
                    raw,
                    &format!("refused: {field}: {detail}"),
                    1,
                )
                .await
            }
            Err(e) => {
                // Only a failure while the store answers counts against the
                // update: an outage fails every update alike, and the
                // provider keeps them until the store is back.
                if !matches!(ctx.store.readiness().await, Ok(true)) {
                    tracing::warn!(source, key, error = %e, "the store does not answer; the update waits for it");
                    return Err(e);
                }
                let n = self.attempts.get(key).copied().unwrap_or(0) + 1;
                if n < MAX_STORE_ATTEMPTS {
                    self.attempts.insert(key.to_string(), n);
                    return Err(e);
                }
                let reason = format!("storing failed {n} times: {e}");
                dead_letter(ctx, source, key, raw, &reason, n).await?;
                self.attempts.remove(key);
                Ok(())
            }
        }
    }
}

/// Handles again the dead letters of `source` whose replay an admin asked
/// for (`POST /api/v1/dead-letters/{id}/replay`), with the poller's own
/// handler: the update becomes an appeal as if it had just arrived, and is
/// idempotent by its key if it had been stored after all.
pub async fn replay_dead_letters<F, Fut, T>(ctx: &crate::SourceContext, source: &str, mut handle: F)
where
    F: FnMut(serde_json::Value, String) -> Fut,
    Fut: std::future::Future<Output = Result<T, HandleError>>,
{
    let due = match ctx.store.dead_letters_to_replay(source, 20).await {
        Ok(due) => due,
        Err(e) => {
            tracing::warn!(source, error = %e, "reading the dead letters to replay failed");
            return;
        }
    };
    for letter in due {
        let outcome = match serde_json::from_str::<serde_json::Value>(&letter.payload) {
            Ok(update) => handle(update, letter.payload.clone())
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
            // Payloads past the kept size were clipped.
            Err(e) => Err(format!("the kept payload is not whole JSON: {e}")),
        };
        match &outcome {
            Ok(()) => tracing::info!(source, dead_letter = letter.id, "dead letter replayed"),
            Err(error) => {
                tracing::warn!(
                    source,
                    dead_letter = letter.id,
                    error,
                    "dead letter replay failed"
                )
            }
        }
        if let Err(e) = ctx
            .store
            .dead_letter_replayed(letter.id, outcome.err().as_deref())
            .await
        {
            tracing::warn!(source, dead_letter = letter.id, error = %e, "recording the replay failed");
        }
    }
}

async fn dead_letter(
    ctx: &crate::SourceContext,
    source: &str,
    key: &str,
    raw: &str,
    reason: &str,
    attempts: u32,
) -> Result<(), HandleError> {
    let new = ctx
        .store
        .add_dead_letter(source, key, reason, raw, attempts)
        .await?;
    if new {
        ctx.metrics.add_to_gauge(
            format!("leadgate_dead_letters_total{{source=\"{source}\"}}"),
            1.0,
        );
        tracing::error!(
            source,
            key,
            reason,
            "update dead-lettered: it is not retried, the channel goes on"
        );
    }
    Ok(())
}

/// Exponential backoff for pollers after network errors.
pub struct Backoff {
    current: Duration,
}

impl Backoff {
    pub fn new() -> Self {
        Self {
            current: Duration::from_millis(200),
        }
    }
    pub fn reset(&mut self) {
        self.current = Duration::from_millis(200);
    }
    pub fn next_delay(&mut self) -> Duration {
        let d = self.current;
        self.current = (self.current * 2).min(Duration::from_secs(60));
        d
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

/// Fills the greeting template: `{first_name}` and `{name}`.
pub fn render_greeting(template: &str, first_name: Option<&str>, name: Option<&str>) -> String {
    template
        .replace("{first_name}", first_name.unwrap_or(""))
        .replace("{name}", name.unwrap_or(""))
}
