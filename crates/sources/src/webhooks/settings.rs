//! `[[webhooks]]` (one table per receiving endpoint) and `[events]` (the
//! journal's retention).

use serde::Deserialize;

use super::sign::SigningKey;
use leadgate_domain::config::{ConfigProblem, Secret};
use leadgate_domain::event::EventPattern;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// How the CLI, the admin page and the metrics name the endpoint.
    pub name: String,
    pub url: String,
    /// Globs over event types: `"*"`, `"interest.*"`, `"task.created"`.
    #[serde(default = "all_events")]
    pub events: Vec<String>,
    /// `whsec_` followed by the base64 of the key (Standard Webhooks), or
    /// `secret_file`.
    pub secret: Option<Secret>,
    /// During a rotation, the old secret: deliveries carry both signatures.
    pub previous_secret: Option<Secret>,
    /// How long a failing delivery is retried before it is marked failed.
    #[serde(default = "default_retry_hours")]
    pub retry_hours: u32,
    /// The first retry's delay; each further one doubles (with jitter), up
    /// to an hour.
    #[serde(default = "default_backoff_ms")]
    pub backoff_initial_ms: u64,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn all_events() -> Vec<String> {
    vec!["*".into()]
}
fn default_retry_hours() -> u32 {
    72
}
fn default_backoff_ms() -> u64 {
    5_000
}
fn default_timeout() -> u64 {
    15
}

impl WebhookSettings {
    pub fn patterns(&self) -> Vec<EventPattern> {
        self.events
            .iter()
            .filter_map(|p| EventPattern::parse(p).ok())
            .collect()
    }

    /// The signing keys, the current one first.
    pub fn keys(&self) -> Vec<SigningKey> {
        [&self.secret, &self.previous_secret]
            .into_iter()
            .flatten()
            .filter_map(|s| SigningKey::parse(s.expose()).ok())
            .collect()
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EventSettings {
    /// Events older than this are deleted; a feed cursor from before then
    /// gets 410.
    pub retention_days: u32,
}

impl Default for EventSettings {
    fn default() -> Self {
        EventSettings { retention_days: 90 }
    }
}

/// Every problem of `[[webhooks]]` and `[events]`, by key path.
pub fn check(webhooks: &[WebhookSettings], events: &EventSettings) -> Vec<ConfigProblem> {
    let mut problems = Vec::new();
    if events.retention_days == 0 {
        problems.push(ConfigProblem::new(
            "events.retention_days",
            "must be at least 1",
        ));
    }
    for (i, hook) in webhooks.iter().enumerate() {
        let key = |k: &str| format!("webhooks[{i}].{k}");
        let name_ok = !hook.name.is_empty()
            && hook
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !name_ok {
            problems.push(ConfigProblem::new(
                key("name"),
                "must be letters, digits, - or _ (it names the endpoint in the CLI)",
            ));
        }
        if webhooks[..i].iter().any(|h| h.name == hook.name) {
            problems.push(ConfigProblem::new(
                key("name"),
                format!("`{}` is used by another webhook", hook.name),
            ));
        }
        match reqwest::Url::parse(&hook.url) {
            Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
            _ => problems.push(ConfigProblem::new(
                key("url"),
                format!("`{}` is not an http(s) URL", hook.url),
            )),
        }
        if hook.events.is_empty() {
            problems.push(ConfigProblem::new(
                key("events"),
                "list at least one event type or glob, e.g. \"*\"",
            ));
        }
        for (j, pattern) in hook.events.iter().enumerate() {
            if let Err(e) = EventPattern::parse(pattern) {
                problems.push(ConfigProblem::new(
                    format!("{}[{j}]", key("events")),
                    e.to_string(),
                ));
            }
        }
        match &hook.secret {
            None => problems.push(ConfigProblem::new(
                key("secret"),
                "give `secret` (whsec_...) or `secret_file`",
            )),
            Some(s) => {
                if let Err(e) = SigningKey::parse(s.expose()) {
                    problems.push(ConfigProblem::new(key("secret"), e));
                }
            }
        }
        if let Some(s) = &hook.previous_secret {
            if let Err(e) = SigningKey::parse(s.expose()) {
                problems.push(ConfigProblem::new(key("previous_secret"), e));
            }
        }
        if hook.retry_hours == 0 {
            problems.push(ConfigProblem::new(key("retry_hours"), "must be at least 1"));
        }
        if hook.timeout_secs == 0 {
            problems.push(ConfigProblem::new(
                key("timeout_secs"),
                "must be at least 1",
            ));
        }
    }
    problems
}
