//! Rate limits for what anyone on the internet may post: token buckets keyed
//! by client address or by endpoint, in a table of bounded size.
//!
//! The table never holds more than its capacity. When it is full, idle
//! buckets (refilled to the brim, so forgetting them changes nothing) are
//! dropped; if none is idle, every new key shares one overflow bucket. A
//! flood of fresh addresses or names is therefore limited together instead of
//! growing memory, and a key already tracked keeps its own bucket.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::settings::LimitSettings;
use leadgate_core::metrics::Metrics;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// `per_minute` events a minute per key, with bursts of up to `burst`.
pub struct RateLimiter<K> {
    per_sec: f64,
    burst: f64,
    capacity: usize,
    table: Mutex<Table<K>>,
}

struct Table<K> {
    buckets: HashMap<K, Bucket>,
    overflow: Option<Bucket>,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// A limit of 0 a minute means no limit.
    pub fn new(per_minute: u32, burst: u32, capacity: usize) -> Self {
        RateLimiter {
            per_sec: f64::from(per_minute) / 60.0,
            burst: f64::from(burst.max(1)),
            capacity: capacity.max(1),
            table: Mutex::new(Table {
                buckets: HashMap::new(),
                overflow: None,
            }),
        }
    }

    pub fn unlimited(&self) -> bool {
        self.per_sec <= 0.0
    }

    /// Takes one token for `key`; `Err(wait)` when there is none, with the
    /// time until the next one.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: &K, now: Instant) -> Result<(), Duration> {
        if self.unlimited() {
            return Ok(());
        }
        let Ok(mut table) = self.table.lock() else {
            return Ok(());
        };
        let (per_sec, burst) = (self.per_sec, self.burst);
        if !table.buckets.contains_key(key) && table.buckets.len() >= self.capacity {
            table
                .buckets
                .retain(|_, b| refill(*b, now, per_sec, burst).tokens < burst);
        }
        let fresh = Bucket {
            tokens: burst,
            updated: now,
        };
        let bucket = if table.buckets.contains_key(key) || table.buckets.len() < self.capacity {
            table.buckets.entry(key.clone()).or_insert(fresh)
        } else {
            table.overflow.get_or_insert(fresh)
        };
        *bucket = refill(*bucket, now, per_sec, burst);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / per_sec;
            Err(Duration::from_secs_f64(wait.clamp(0.001, 86_400.0)))
        }
    }

    /// How many keys have a bucket of their own (for tests and metrics).
    pub fn tracked(&self) -> usize {
        self.table.lock().map(|t| t.buckets.len()).unwrap_or(0)
    }
}

fn refill(b: Bucket, now: Instant, per_sec: f64, burst: f64) -> Bucket {
    let elapsed = now.saturating_duration_since(b.updated).as_secs_f64();
    Bucket {
        tokens: (b.tokens + elapsed * per_sec).min(burst),
        updated: now,
    }
}

/// Whole seconds for `Retry-After`, never 0.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

/// The client's address: the peer of the connection, or, behind a reverse
/// proxy (`limits.client_ip_header`), the last address the proxy appended.
pub fn client_ip(
    headers: &HeaderMap,
    connect: Option<&ConnectInfo<SocketAddr>>,
    header: Option<&str>,
) -> Option<IpAddr> {
    if let Some(name) = header.filter(|h| !h.is_empty()) {
        let from_header = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|v| v.trim().parse::<IpAddr>().ok())
            .next_back();
        if from_header.is_some() {
            return from_header;
        }
    }
    connect.map(|c| c.0.ip())
}

/// The limits in front of `/hooks/*`: per client address and per endpoint.
pub struct HookLimits {
    per_ip: RateLimiter<IpAddr>,
    per_endpoint: RateLimiter<String>,
    /// `forms/site`, `telegram/sales`, `pbx/mango/office`: the configured
    /// endpoints, each with a bucket of its own.
    known: HashSet<String>,
    ip_header: Option<String>,
    metrics: Arc<Metrics>,
}

impl HookLimits {
    pub fn new(settings: &LimitSettings, known: HashSet<String>, metrics: Arc<Metrics>) -> Self {
        HookLimits {
            per_ip: RateLimiter::new(
                settings.hooks_per_ip_per_minute,
                settings.hooks_per_ip_burst,
                settings.tracked_clients,
            ),
            per_endpoint: RateLimiter::new(
                settings.hooks_per_endpoint_per_minute,
                settings.hooks_per_endpoint_burst,
                known.len() + 1,
            ),
            known,
            ip_header: Some(settings.client_ip_header.clone()).filter(|h| !h.is_empty()),
            metrics,
        }
    }

    /// The bucket a path's posts count against: a configured endpoint, or the
    /// one shared by every name that is not configured.
    fn endpoint(&self, path: &str) -> String {
        let rest = path.strip_prefix("/hooks/").unwrap_or(path);
        let depth = if rest.starts_with("pbx/") { 3 } else { 2 };
        let key = rest
            .splitn(depth + 1, '/')
            .take(depth)
            .collect::<Vec<_>>()
            .join("/");
        if self.known.contains(&key) {
            key
        } else {
            "(unknown)".into()
        }
    }
}

/// Middleware: over a limit the answer is 429 with `Retry-After`, before the
/// handler runs, so nothing is read or stored.
pub async fn limit_hooks(
    State(limits): State<Arc<HookLimits>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if !path.starts_with("/hooks/") {
        return next.run(request).await;
    }
    let endpoint = limits.endpoint(path);
    let ip = client_ip(
        request.headers(),
        request.extensions().get::<ConnectInfo<SocketAddr>>(),
        limits.ip_header.as_deref(),
    );
    let refused = ip
        .map(|ip| limits.per_ip.check(&ip))
        .unwrap_or(Ok(()))
        .map_err(|wait| (wait, "per_ip"))
        .and_then(|()| {
            limits
                .per_endpoint
                .check(&endpoint)
                .map_err(|wait| (wait, "per_endpoint"))
        });
    match refused {
        Ok(()) => next.run(request).await,
        Err((wait, which)) => {
            limits.metrics.rejected("rate_limit", which);
            tracing::debug!(endpoint = %endpoint, limit = which, "webhook post over the rate limit");
            ApiError::TooManyRequests {
                retry_after_secs: retry_after_secs(wait),
            }
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_burst_then_waits() {
        let limiter = RateLimiter::new(60, 3, 10);
        let now = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check_at(&"a", now).is_ok());
        }
        let wait = limiter.check_at(&"a", now).unwrap_err();
        assert_eq!(retry_after_secs(wait), 1);
        assert!(limiter.check_at(&"b", now).is_ok(), "other keys are apart");
        assert!(limiter.check_at(&"a", now + Duration::from_secs(1)).is_ok());
    }

    #[test]
    fn the_table_never_outgrows_its_capacity() {
        let limiter = RateLimiter::new(60, 1, 100);
        let now = Instant::now();
        let mut refused = 0;
        for i in 0..10_000 {
            if limiter.check_at(&i, now).is_err() {
                refused += 1;
            }
        }
        assert_eq!(limiter.tracked(), 100);
        assert_eq!(refused, 10_000 - 100 - 1, "new keys share one bucket");
        // Once the tracked keys are idle again, new ones get their own.
        let later = now + Duration::from_secs(5);
        assert!(limiter.check_at(&20_000, later).is_ok());
        assert!(limiter.tracked() <= 100);
    }

    #[test]
    fn zero_means_no_limit() {
        let limiter = RateLimiter::new(0, 1, 1);
        for i in 0..100 {
            assert!(limiter.check(&i).is_ok());
        }
    }

    #[test]
    fn the_proxy_header_wins_when_configured() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "10.0.0.1, 192.0.2.7".parse().unwrap());
        let peer = ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 5000)));
        assert_eq!(
            client_ip(&headers, Some(&peer), Some("x-forwarded-for")),
            Some("192.0.2.7".parse().unwrap())
        );
        assert_eq!(
            client_ip(&headers, Some(&peer), None),
            Some("127.0.0.1".parse().unwrap())
        );
    }
}
