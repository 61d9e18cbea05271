//! Which long-running parts of the daemon are alive. Each part (a pipeline
//! worker, the intake writer, an outbox sender, a poller, a sweeper) holds a
//! [`Heartbeat`] and beats whenever it has done a round of its work or is
//! waiting healthily for more. A part whose last beat is older than its
//! allowed interval is down: the systemd watchdog stops being pinged and
//! `/readyz` names it. [`Health::supervise`] restarts a part that panicked.
//!
//! The registry is made once at startup and handed to whoever needs it;
//! there is no global, so tests can run several daemons in one process.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// `[health]`: how quickly a silent part counts as down.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct HealthSettings {
    /// A part that has not beaten for this long is down. Parts whose work
    /// has a longer natural step (an IMAP command, a long poll) get that
    /// step added.
    pub stall_after_ms: u64,
    /// The first restart of a panicked part waits this long, doubling up to
    /// `restart_backoff_max_ms`.
    pub restart_backoff_ms: u64,
    pub restart_backoff_max_ms: u64,
}

impl Default for HealthSettings {
    fn default() -> Self {
        Self {
            stall_after_ms: 120_000,
            restart_backoff_ms: 1_000,
            restart_backoff_max_ms: 60_000,
        }
    }
}

impl HealthSettings {
    pub fn stall_after(&self) -> Duration {
        Duration::from_millis(self.stall_after_ms.max(1))
    }
}

struct Part {
    allowed: Duration,
    last: Instant,
    /// Unique per registration, so that a handle left over from a
    /// panicked run cannot keep its successor's entry alive or retire it.
    generation: u64,
}

type Parts = Arc<Mutex<BTreeMap<String, Part>>>;

/// The registry of parts; cheap to clone.
#[derive(Clone)]
pub struct Health {
    parts: Parts,
    generations: Arc<std::sync::atomic::AtomicU64>,
    metrics: Arc<Metrics>,
    settings: HealthSettings,
}

/// One part's handle: [`Heartbeat::beat`] says "still working".
#[derive(Clone)]
pub struct Heartbeat {
    name: Arc<str>,
    generation: u64,
    parts: Parts,
    allowed: Duration,
}

impl Heartbeat {
    pub fn beat(&self) {
        if let Ok(mut parts) = self.parts.lock() {
            if let Some(p) = parts.get_mut(&*self.name) {
                if p.generation == self.generation {
                    p.last = Instant::now();
                }
            }
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// How long this part may stay silent.
    pub fn allowed(&self) -> Duration {
        self.allowed
    }

    /// Runs `work`, a wait that is healthy however long it takes (an IDLE,
    /// a backoff pause, waiting for another instance's lease), beating at a
    /// quarter of the allowed interval meanwhile.
    pub async fn keep_alive<F: Future>(&self, work: F) -> F::Output {
        let period = (self.allowed / 4).max(Duration::from_millis(10));
        tokio::pin!(work);
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                out = &mut work => {
                    self.beat();
                    return out;
                }
                _ = tick.tick() => self.beat(),
            }
        }
    }

    /// Sleeps for `d` (beating); true if `stop` fired meanwhile.
    pub async fn sleep_or_stop(&self, stop: &CancellationToken, d: Duration) -> bool {
        self.keep_alive(async {
            tokio::select! {
                _ = stop.cancelled() => true,
                _ = tokio::time::sleep(d) => false,
            }
        })
        .await
    }
}

impl Health {
    pub fn new(settings: HealthSettings, metrics: Arc<Metrics>) -> Self {
        Self {
            parts: Arc::default(),
            generations: Arc::default(),
            metrics,
            settings,
        }
    }

    pub fn settings(&self) -> &HealthSettings {
        &self.settings
    }

    /// Registers (or re-registers, after a restart) the part `name`, which
    /// may stay silent for `stall_after_ms` plus `extra`. It counts as alive
    /// from now.
    pub fn register(&self, name: &str, extra: Duration) -> Heartbeat {
        let allowed = self.settings.stall_after() + extra;
        let generation = self
            .generations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Ok(mut parts) = self.parts.lock() {
            parts.insert(
                name.to_string(),
                Part {
                    allowed,
                    last: Instant::now(),
                    generation,
                },
            );
        }
        self.metrics
            .set_gauge(format!("leadgate_part_up{{part=\"{}\"}}", label(name)), 1.0);
        Heartbeat {
            name: name.into(),
            generation,
            parts: self.parts.clone(),
            allowed,
        }
    }

    /// A part that ended on purpose (shutdown, nothing to do) is no longer
    /// watched.
    pub fn retire(&self, beat: &Heartbeat) {
        if let Ok(mut parts) = self.parts.lock() {
            if parts
                .get(beat.name())
                .is_some_and(|p| p.generation == beat.generation)
            {
                parts.remove(beat.name());
            }
        }
    }

    /// The parts that are down, by name.
    pub fn down(&self) -> Vec<String> {
        let now = Instant::now();
        let down: Vec<String> = match self.parts.lock() {
            Ok(parts) => parts
                .iter()
                .filter(|(_, p)| now.saturating_duration_since(p.last) > p.allowed)
                .map(|(n, _)| n.clone())
                .collect(),
            Err(_) => vec!["health registry".into()],
        };
        if let Ok(parts) = self.parts.lock() {
            for name in parts.keys() {
                let up = !down.contains(name);
                self.metrics.set_gauge(
                    format!("leadgate_part_up{{part=\"{}\"}}", label(name)),
                    if up { 1.0 } else { 0.0 },
                );
            }
        }
        down
    }

    /// Runs the part `name` in its own task and starts it again, after a
    /// growing pause, whenever it panics; each restart is counted on
    /// `/metrics` (`leadgate_part_restarts_total`). A part that returns is
    /// finished and retired. `run` is given the part's heartbeat.
    pub fn supervise<F, Fut>(
        &self,
        name: String,
        extra: Duration,
        stop: CancellationToken,
        mut run: F,
    ) -> JoinHandle<()>
    where
        F: FnMut(Heartbeat) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let health = self.clone();
        tokio::spawn(async move {
            let first = Duration::from_millis(health.settings.restart_backoff_ms.max(1));
            let max = Duration::from_millis(health.settings.restart_backoff_max_ms).max(first);
            let mut pause = first;
            loop {
                let beat = health.register(&name, extra);
                let started = Instant::now();
                let outcome = tokio::spawn(run(beat.clone())).await;
                match outcome {
                    Ok(()) => {
                        health.retire(&beat);
                        break;
                    }
                    Err(e) if e.is_panic() => {
                        health.metrics.add_to_gauge(
                            format!("leadgate_part_restarts_total{{part=\"{}\"}}", label(&name)),
                            1.0,
                        );
                        // A part that ran well for a while before failing
                        // starts the backoff afresh.
                        if started.elapsed() > max {
                            pause = first;
                        }
                        tracing::error!(part = %name, restart_in_ms = pause.as_millis() as u64,
                            "part panicked; restarting it");
                        let stopped = beat.sleep_or_stop(&stop, pause).await;
                        pause = (pause * 2).min(max);
                        if stopped {
                            health.retire(&beat);
                            break;
                        }
                    }
                    Err(_) => {
                        health.retire(&beat);
                        break;
                    }
                }
            }
        })
    }
}

/// Part names come from the configuration (mailbox and bot names), never
/// from requests; quotes and backslashes are still kept out of the label.
fn label(name: &str) -> String {
    name.replace(['"', '\\', '\n'], "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(stall_ms: u64) -> Health {
        Health::new(
            HealthSettings {
                stall_after_ms: stall_ms,
                restart_backoff_ms: 1,
                restart_backoff_max_ms: 2,
            },
            Arc::new(Metrics::new()),
        )
    }

    #[tokio::test]
    async fn a_silent_part_is_down_and_a_retired_one_is_not_watched() {
        // An allowed silence of 1 ms is surely over after 20 ms; one of a
        // minute is surely not.
        let strict = health(1);
        let lenient = health(60_000);
        let quiet = strict.register("quiet", Duration::ZERO);
        let busy = lenient.register("busy", Duration::ZERO);
        tokio::time::sleep(Duration::from_millis(20)).await;
        busy.beat();
        assert_eq!(strict.down(), vec!["quiet".to_string()]);
        assert!(lenient.down().is_empty());
        strict.retire(&quiet);
        assert!(strict.down().is_empty());
        // A handle of an earlier run cannot retire its successor.
        let again = strict.register("quiet", Duration::ZERO);
        strict.retire(&quiet);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(strict.down(), vec!["quiet".to_string()]);
        strict.retire(&again);
    }

    #[tokio::test]
    async fn a_panicked_part_is_restarted_and_counted() {
        let h = health(60_000);
        let runs = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let seen = runs.clone();
        let task = h.supervise(
            "flaky".into(),
            Duration::ZERO,
            CancellationToken::new(),
            move |_beat| {
                let seen = seen.clone();
                async move {
                    if seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2 {
                        panic!("boom");
                    }
                }
            },
        );
        task.await.unwrap();
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 3);
        let text = h.metrics.render(0, 0);
        assert!(
            text.contains("leadgate_part_restarts_total{part=\"flaky\"} 2"),
            "{text}"
        );
        assert!(h.down().is_empty());
    }
}
