//! `[web]`: the pages' sessions.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct WebSettings {
    /// A login lasts this long; then the browser is sent to the login page.
    pub session_hours: u32,
    /// Send the session cookie only over HTTPS (as `__Host-lg_session`).
    /// On by default; only a plain-http set-up on localhost turns it off.
    pub secure_cookies: bool,
    /// A session nobody used for this long ends, whatever `session_hours` says.
    pub session_idle_minutes: u32,
}

impl Default for WebSettings {
    fn default() -> Self {
        Self {
            session_hours: 12,
            secure_cookies: true,
            session_idle_minutes: 120,
        }
    }
}
