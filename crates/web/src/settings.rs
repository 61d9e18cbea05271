//! `[web]`: the pages' sessions.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct WebSettings {
    /// A login lasts this long; then the browser is sent to the login page.
    pub session_hours: u32,
    /// Send the session cookie only over HTTPS. Turn on behind a TLS proxy.
    pub secure_cookies: bool,
}

impl Default for WebSettings {
    fn default() -> Self {
        Self {
            session_hours: 12,
            secure_cookies: false,
        }
    }
}

/// `[operations]`: who may read `/metrics` and the details of `/readyz`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OperationsSettings {
    /// When set, `/metrics` answers only `Authorization: Bearer <token>`
    /// (Prometheus: `authorization: {credentials: ...}`), and only callers
    /// with it (or an admin API token) see `/readyz` details with their
    /// error text. Without it `/metrics` is open (bind `server.listen` to
    /// localhost or firewall it) and `/readyz` details still show states only.
    pub token: Option<leadgate_domain::config::Secret>,
}
