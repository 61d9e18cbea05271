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
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            body_limit_bytes: 1024 * 1024,
            shutdown_grace_secs: 20,
            demo: false,
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
