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
