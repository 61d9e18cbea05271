//! Password guessing: failed logins are counted per login and per client
//! address; past `limits.login_failures_per_login` (or `_per_ip`) the login
//! page answers 429 for a wait that doubles with each further failure, up to
//! `limits.login_backoff_max_secs`. At most `limits.password_hash_concurrency`
//! argon2 hashes run at once, so a flood costs neither memory nor all cores.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use leadgate_http::settings::LimitSettings;

/// Failures older than this are forgotten.
const MEMORY: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    blocked_until: Option<Instant>,
}

/// Failure counts for one kind of key, in a table of bounded size: when it
/// is full and nothing is old enough to forget, new keys share one entry
/// (which then blocks sooner, never later).
struct Counter<K> {
    threshold: u32,
    capacity: usize,
    table: Mutex<(HashMap<K, Failures>, Option<Failures>)>,
}

impl<K: Hash + Eq + Clone> Counter<K> {
    fn new(threshold: u32, capacity: usize) -> Self {
        Counter {
            threshold: threshold.max(1),
            capacity: capacity.max(1),
            table: Mutex::new((HashMap::new(), None)),
        }
    }

    fn with<T>(&self, key: &K, now: Instant, f: impl FnOnce(&mut Failures) -> T) -> T {
        let mut fresh = Failures {
            count: 0,
            last: now,
            blocked_until: None,
        };
        let Ok(mut guard) = self.table.lock() else {
            return f(&mut fresh);
        };
        let (table, overflow) = &mut *guard;
        if !table.contains_key(key) && table.len() >= self.capacity {
            table.retain(|_, e| !forgotten(e, now));
        }
        let entry = if table.contains_key(key) || table.len() < self.capacity {
            table.entry(key.clone()).or_insert(fresh)
        } else {
            overflow.get_or_insert(fresh)
        };
        if forgotten(entry, now) {
            *entry = fresh;
        }
        f(entry)
    }

    fn blocked(&self, key: &K, now: Instant) -> Option<Duration> {
        self.with(key, now, |e| {
            e.blocked_until
                .and_then(|until| until.checked_duration_since(now))
                .filter(|d| !d.is_zero())
        })
    }

    fn failed(&self, key: &K, now: Instant, max_backoff: Duration) {
        let threshold = self.threshold;
        self.with(key, now, |e| {
            e.count = e.count.saturating_add(1);
            e.last = now;
            if e.count >= threshold {
                let doublings = (e.count - threshold).min(20);
                let wait = Duration::from_secs(1u64 << doublings).min(max_backoff);
                e.blocked_until = Some(now + wait);
            }
        });
    }

    fn forget(&self, key: &K) {
        if let Ok(mut guard) = self.table.lock() {
            guard.0.remove(key);
        }
    }
}

fn forgotten(e: &Failures, now: Instant) -> bool {
    now.saturating_duration_since(e.last) > MEMORY
        && e.blocked_until.is_none_or(|until| until <= now)
}

pub struct LoginThrottle {
    per_login: Counter<String>,
    per_ip: Counter<IpAddr>,
    max_backoff: Duration,
    /// Held while a password is hashed.
    pub hashing: Semaphore,
}

impl LoginThrottle {
    pub fn new(limits: &LimitSettings) -> Self {
        LoginThrottle {
            per_login: Counter::new(limits.login_failures_per_login, limits.tracked_clients),
            per_ip: Counter::new(limits.login_failures_per_ip, limits.tracked_clients),
            max_backoff: Duration::from_secs(limits.login_backoff_max_secs.max(1)),
            hashing: Semaphore::new(limits.password_hash_concurrency.max(1)),
        }
    }

    /// Logins differ in case and spacing only in the attacker's list.
    fn key(login: &str) -> String {
        login.trim().to_lowercase().chars().take(64).collect()
    }

    /// How long the caller must wait before trying, if it must.
    pub fn wait(&self, login: &str, ip: Option<IpAddr>) -> Option<Duration> {
        let now = Instant::now();
        let by_login = self.per_login.blocked(&Self::key(login), now);
        let by_ip = ip.and_then(|ip| self.per_ip.blocked(&ip, now));
        by_login.max(by_ip)
    }

    pub fn failed(&self, login: &str, ip: Option<IpAddr>) {
        let now = Instant::now();
        self.per_login
            .failed(&Self::key(login), now, self.max_backoff);
        if let Some(ip) = ip {
            self.per_ip.failed(&ip, now, self.max_backoff);
        }
    }

    pub fn succeeded(&self, login: &str) {
        self.per_login.forget(&Self::key(login));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_starts_at_the_threshold_and_doubles() {
        let c: Counter<&str> = Counter::new(3, 10);
        let now = Instant::now();
        let max = Duration::from_secs(900);
        c.failed(&"a", now, max);
        c.failed(&"a", now, max);
        assert_eq!(c.blocked(&"a", now), None);
        c.failed(&"a", now, max);
        assert_eq!(c.blocked(&"a", now), Some(Duration::from_secs(1)));
        c.failed(&"a", now, max);
        assert_eq!(c.blocked(&"a", now), Some(Duration::from_secs(2)));
        for _ in 0..30 {
            c.failed(&"a", now, max);
        }
        assert_eq!(c.blocked(&"a", now), Some(max));
        assert_eq!(c.blocked(&"b", now), None);
    }

    #[test]
    fn the_table_stays_bounded_and_overflow_is_shared() {
        let c: Counter<u32> = Counter::new(2, 5);
        let now = Instant::now();
        let max = Duration::from_secs(60);
        for i in 0..1000 {
            c.failed(&i, now, max);
        }
        assert_eq!(c.table.lock().unwrap().0.len(), 5);
        assert!(
            c.blocked(&5000, now).is_some(),
            "new keys share the overflow"
        );
        assert!(c.blocked(&0, now).is_none(), "a tracked key keeps its own");
    }
}
