//! `[forms.NAME]`: a site form posted to `/hooks/forms/NAME`.

use leadgate_domain::config::{ConfigProblem, Secret};
use serde::Deserialize;

/// Maps a site form's field names onto the appeal's contact card.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct FormFieldMap {
    pub name: Vec<String>,
    pub phone: Vec<String>,
    pub email: Vec<String>,
    pub message: Vec<String>,
    pub company: Vec<String>,
    pub subject: Vec<String>,
    /// The company's ИНН (checked by its checksum in the pipeline).
    pub inn: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde()]
pub struct FormSettings {
    /// The appeal's `source`; defaults to `form:<name>`.
    #[serde(default)]
    pub source: Option<String>,
    /// Where a plain browser post is sent after the appeal is stored.
    #[serde(default)]
    pub thank_you_url: Option<String>,
    /// A field that people never see and bots fill in.
    #[serde(default)]
    pub honeypot: Option<String>,
    /// Optional shared secret, given in `secret_header` or in the field `secret_field`.
    #[serde(default)]
    pub secret: Option<Secret>,
    #[serde(default = "default_secret_header")]
    pub secret_header: String,
    #[serde(default = "default_secret_field")]
    pub secret_field: String,
    /// Width of the time bucket that makes a form without `tranid` idempotent.
    #[serde(default = "default_dedup_window")]
    pub dedup_window_secs: u64,
    #[serde(default)]
    pub fields: FormFieldMap,
    /// Send the acknowledgement mail to the address typed into this form.
    /// A form with a `secret` may; one without it only with this set, since
    /// anyone can post any address to it (a mail relay otherwise).
    #[serde(default)]
    pub acknowledge: bool,
}

impl FormSettings {
    /// Whether the address in a post may get the acknowledgement mail.
    pub fn may_acknowledge(&self) -> bool {
        self.acknowledge || self.secret.is_some()
    }

    /// The appeals' `source` for the form called `name`.
    pub fn source_for(&self, name: &str) -> String {
        self.source
            .clone()
            .unwrap_or_else(|| format!("form:{name}"))
    }
}

fn default_secret_header() -> String {
    "X-Leadgate-Form-Secret".into()
}
fn default_secret_field() -> String {
    "form_secret".into()
}
fn default_dedup_window() -> u64 {
    600
}

impl FormSettings {
    /// This form's part of `check-config`.
    pub fn check(&self, name: &str) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let mut push = |key: String, message: String| problems.push(ConfigProblem { key, message });
        if let Some(url) = &self.thank_you_url {
            if !(url.starts_with("http://") || url.starts_with("https://") || url.starts_with('/'))
            {
                push(
                    format!("forms.{name}.thank_you_url"),
                    "must be an http(s) URL or a path".into(),
                );
            }
        }
        if self.dedup_window_secs == 0 {
            push(
                format!("forms.{name}.dedup_window_secs"),
                "must be at least 1".into(),
            );
        }
        problems
    }
}
