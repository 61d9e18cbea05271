//! The `[server]` and `[api]` sections: where the daemon listens, how large a
//! body may be, and the configured API tokens with their roles.

use leadgate_domain::config::Secret;
use leadgate_domain::role::Role;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ServerSettings {
    /// `host:port`; port 0 lets the OS choose (tests).
    pub listen: String,
    pub body_limit_bytes: usize,
    /// How long SIGTERM waits for in-flight requests and the appeal being processed.
    pub shutdown_grace_secs: u64,
    /// Allows the shipped configuration's demo token and `change-me-…`
    /// secrets (check-config refuses them otherwise); `run` warns loudly.
    pub demo: bool,
    /// A client must send the whole request head within this (slow-loris).
    pub header_read_timeout_secs: u64,
    /// A request (body included) must be answered within this, else 408.
    pub request_timeout_secs: u64,
    /// Open connections at once; further ones wait in the kernel's backlog.
    pub max_connections: usize,
    /// Requests handled at once; beyond this the answer is 503.
    pub max_in_flight: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            body_limit_bytes: 1024 * 1024,
            shutdown_grace_secs: 20,
            demo: false,
            header_read_timeout_secs: 10,
            request_timeout_secs: 60,
            max_connections: 1024,
            max_in_flight: 256,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde()]
pub struct ApiToken {
    pub name: String,
    pub token: Secret,
    /// Required: a token without a role is a configuration error, never
    /// an admin by default.
    pub role: Role,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct ApiSettings {
    pub tokens: Vec<ApiToken>,
}

/// `[limits]`: what one client may cost the daemon. Every number here is a
/// default chosen for a department's site and PBX; a 0 rate means no limit.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct LimitSettings {
    /// Posts to `/hooks/*` from one client address, per minute, and the burst.
    pub hooks_per_ip_per_minute: u32,
    pub hooks_per_ip_burst: u32,
    /// Posts to one webhook or form (all clients together), per minute, and
    /// the burst. Unconfigured names share one bucket.
    pub hooks_per_endpoint_per_minute: u32,
    pub hooks_per_endpoint_burst: u32,
    /// Client addresses (and logins) tracked at once; beyond this, new ones
    /// share one bucket, so a flood of addresses cannot grow memory.
    pub tracked_clients: usize,
    /// Behind a reverse proxy, the header it puts the client address in
    /// (`X-Forwarded-For`, `X-Real-IP`); the last address in it is used.
    /// Empty: the connection's peer address.
    pub client_ip_header: String,
    /// Longest accepted name on a form, in characters (422 beyond).
    pub form_name_max_chars: usize,
    /// Longest accepted message, subject, company, phone or e-mail field of a
    /// form, in characters (422 beyond).
    pub form_text_max_chars: usize,
    /// Failed logins for one login before the login page answers 429.
    pub login_failures_per_login: u32,
    /// Failed logins from one address before it answers 429.
    pub login_failures_per_ip: u32,
    /// The wait after the limit doubles with each further failure up to this.
    pub login_backoff_max_secs: u64,
    /// Password hashes (argon2, ~19 MiB each) computed at once.
    pub password_hash_concurrency: usize,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            hooks_per_ip_per_minute: 600,
            hooks_per_ip_burst: 120,
            hooks_per_endpoint_per_minute: 3000,
            hooks_per_endpoint_burst: 600,
            tracked_clients: 10_000,
            client_ip_header: String::new(),
            form_name_max_chars: 200,
            form_text_max_chars: 10_000,
            login_failures_per_login: 5,
            login_failures_per_ip: 20,
            login_backoff_max_secs: 900,
            password_hash_concurrency: 2,
        }
    }
}

impl LimitSettings {
    /// `[limits]`'s part of `check-config`.
    pub fn check(&self) -> Vec<leadgate_domain::config::ConfigProblem> {
        let mut problems = Vec::new();
        let mut zero = |key: &str, value: usize| {
            if value == 0 {
                problems.push(leadgate_domain::config::ConfigProblem {
                    key: format!("limits.{key}"),
                    message: "must be at least 1".into(),
                });
            }
        };
        zero("tracked_clients", self.tracked_clients);
        zero("form_name_max_chars", self.form_name_max_chars);
        zero("form_text_max_chars", self.form_text_max_chars);
        zero("password_hash_concurrency", self.password_hash_concurrency);
        zero(
            "login_failures_per_login",
            self.login_failures_per_login as usize,
        );
        zero("login_failures_per_ip", self.login_failures_per_ip as usize);
        problems
    }
}
