//! Prometheus metrics, kept in process and rendered as text on `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use leadgate_domain::appeal::Channel;
use leadgate_domain::dedup::DecisionKind;

/// Upper bounds in seconds of the processing-latency histogram buckets.
const LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Default)]
pub struct Metrics {
    accepted: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    processed: Mutex<BTreeMap<&'static str, u64>>,
    decisions: Mutex<BTreeMap<&'static str, u64>>,
    rejected_requests: Mutex<BTreeMap<String, u64>>,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    /// Telephony: (provider, what) → count (stored, duplicate, unsupported,
    /// hidden_number, recording_attached).
    pbx_events: Mutex<BTreeMap<(String, &'static str), u64>>,
    /// Extra gauges set by sources (e.g. mailbox connection state).
    gauges: Mutex<BTreeMap<String, f64>>,
    /// Per-component state for `/readyz` details (e.g. each mailbox).
    details: Mutex<BTreeMap<String, serde_json::Value>>,
    /// The backlog as last counted, and when: see [`Metrics::backlog`].
    backlog: tokio::sync::Mutex<Option<(Instant, i64)>>,
}

/// How old the backlog figure on `/metrics` may be. Counting the pending
/// appeals reads the whole backlog (its partial index); at most once per
/// interval per instance, however often and however many scrapers ask.
pub const BACKLOG_REFRESH: Duration = Duration::from_secs(1);

fn bump<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K) {
    if let Ok(mut m) = map.lock() {
        *m.entry(key).or_insert(0) += 1;
    }
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// An appeal accepted by intake; `new` is false for a redelivery.
    pub fn accepted(&self, channel: Channel, new: bool) {
        bump(
            &self.accepted,
            (channel.as_str(), if new { "new" } else { "duplicate" }),
        );
    }

    pub fn processed(&self, channel: Channel, decision: DecisionKind) {
        bump(&self.processed, channel.as_str());
        bump(&self.decisions, decision.as_str());
    }

    /// A request refused before it became an appeal (bad input, bad secret).
    /// `source` must be a configured name, never request text: every label
    /// value is a permanent series.
    pub fn rejected(&self, source: &str, reason: &str) {
        bump(&self.rejected_requests, format!("{source}\u{0}{reason}"));
    }

    /// A post to a form, bot, community or PBX account that is not
    /// configured. All of them count under the one label `source="unknown"`,
    /// whatever name the URL carried, so random names cannot add series.
    pub fn unknown_endpoint(&self, reason: &'static str) {
        bump(&self.rejected_requests, format!("unknown\u{0}{reason}"));
    }

    /// A telephony webhook event and what became of it.
    pub fn pbx_event(&self, provider: &str, what: &'static str) {
        bump(&self.pbx_events, (provider.to_string(), what));
    }

    pub fn observe_latency(&self, seconds: f64) {
        for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    pub fn set_gauge(&self, name_and_labels: String, value: f64) {
        if let Ok(mut g) = self.gauges.lock() {
            g.insert(name_and_labels, value);
        }
    }

    /// Adds to a counter kept among the gauges (sources that count events).
    pub fn add_to_gauge(&self, name_and_labels: String, delta: f64) {
        if let Ok(mut g) = self.gauges.lock() {
            *g.entry(name_and_labels).or_insert(0.0) += delta;
        }
    }

    /// State shown under `details` on `/readyz`; informational, it does not
    /// make the instance unready (a broken mailbox must not take the API down).
    pub fn set_detail(&self, key: &str, value: serde_json::Value) {
        if let Ok(mut d) = self.details.lock() {
            d.insert(key.to_string(), value);
        }
    }

    pub fn details(&self) -> serde_json::Map<String, serde_json::Value> {
        self.details
            .lock()
            .map(|d| d.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    /// The number of pending appeals (all instances), counted by `count` at
    /// most once per [`BACKLOG_REFRESH`]; scrapes in between get the last
    /// figure, and concurrent scrapes share one count. A failed count gives
    /// -1 and is retried on the next scrape.
    pub async fn backlog<E, F, Fut>(&self, count: F) -> i64
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<i64, E>>,
    {
        let mut last = self.backlog.lock().await;
        if let Some((at, value)) = *last {
            if at.elapsed() < BACKLOG_REFRESH {
                return value;
            }
        }
        match count().await {
            Ok(value) => {
                *last = Some((Instant::now(), value));
                value
            }
            Err(_) => {
                *last = None;
                -1
            }
        }
    }

    /// Renders the Prometheus text exposition format; `pending` is read from
    /// the database by the caller so that it covers every instance.
    pub fn render(&self, pending: i64, open_review: i64) -> String {
        let mut out = String::with_capacity(2048);
        out.push_str("# HELP leadgate_appeals_accepted_total Appeals accepted by intake.\n");
        out.push_str("# TYPE leadgate_appeals_accepted_total counter\n");
        if let Ok(m) = self.accepted.lock() {
            for ((channel, kind), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "leadgate_appeals_accepted_total{{channel=\"{channel}\",kind=\"{kind}\"}} {n}"
                );
            }
        }
        out.push_str(
            "# HELP leadgate_appeals_processed_total Appeals processed by the pipeline.\n",
        );
        out.push_str("# TYPE leadgate_appeals_processed_total counter\n");
        if let Ok(m) = self.processed.lock() {
            for (channel, n) in m.iter() {
                let _ = writeln!(
                    out,
                    "leadgate_appeals_processed_total{{channel=\"{channel}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP leadgate_decisions_total Matching decisions by kind.\n");
        out.push_str("# TYPE leadgate_decisions_total counter\n");
        if let Ok(m) = self.decisions.lock() {
            for (kind, n) in m.iter() {
                let _ = writeln!(out, "leadgate_decisions_total{{kind=\"{kind}\"}} {n}");
            }
        }
        out.push_str(
            "# HELP leadgate_requests_rejected_total Inbound requests refused before intake.\n",
        );
        out.push_str("# TYPE leadgate_requests_rejected_total counter\n");
        if let Ok(m) = self.rejected_requests.lock() {
            for (key, n) in m.iter() {
                let (source, reason) = key.split_once('\u{0}').unwrap_or((key.as_str(), ""));
                let _ = writeln!(
                    out,
                    "leadgate_requests_rejected_total{{source=\"{}\",reason=\"{}\"}} {n}",
                    escape(source),
                    escape(reason)
                );
            }
        }
        out.push_str(
            "# HELP leadgate_pbx_events_total Telephony webhook events by provider and fate.\n",
        );
        out.push_str("# TYPE leadgate_pbx_events_total counter\n");
        if let Ok(m) = self.pbx_events.lock() {
            for ((provider, what), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "leadgate_pbx_events_total{{provider=\"{}\",kind=\"{what}\"}} {n}",
                    escape(provider)
                );
            }
        }
        out.push_str(
            "# HELP leadgate_pending_appeals Appeals waiting for the pipeline (all instances).\n",
        );
        out.push_str("# TYPE leadgate_pending_appeals gauge\n");
        let _ = writeln!(out, "leadgate_pending_appeals {pending}");
        out.push_str("# HELP leadgate_review_queue_open Appeals waiting for an operator.\n");
        out.push_str("# TYPE leadgate_review_queue_open gauge\n");
        let _ = writeln!(out, "leadgate_review_queue_open {open_review}");
        out.push_str("# HELP leadgate_processing_latency_seconds Time from acceptance to the end of processing.\n");
        out.push_str("# TYPE leadgate_processing_latency_seconds histogram\n");
        for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "leadgate_processing_latency_seconds_bucket{{le=\"{bound}\"}} {}",
                self.latency_buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "leadgate_processing_latency_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "leadgate_processing_latency_seconds_sum {}",
            self.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "leadgate_processing_latency_seconds_count {count}");
        if let Ok(g) = self.gauges.lock() {
            for (name, v) in g.iter() {
                let _ = writeln!(out, "{name} {v}");
            }
        }
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
