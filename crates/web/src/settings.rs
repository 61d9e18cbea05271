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
    /// Answers a manager picks from on the interest card; `{client_name}`,
    /// `{contact_name}`, `{manager_name}`, `{interest_id}`, `{stage}` and
    /// any attribute of the appeal (`{utm_source}`) are filled in.
    pub reply_templates: Vec<ReplyTemplate>,
    /// A session nobody used for this long ends, whatever `session_hours` says.
    pub session_idle_minutes: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyTemplate {
    pub name: String,
    /// For letters; `Re: <the appeal's subject>` when empty.
    #[serde(default)]
    pub subject: String,
    pub body: String,
}

impl Default for WebSettings {
    fn default() -> Self {
        Self {
            session_hours: 12,
            secure_cookies: true,
            reply_templates: Vec::new(),
            session_idle_minutes: 120,
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
