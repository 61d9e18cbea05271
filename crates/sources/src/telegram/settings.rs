//! `[telegram.bots.NAME]`: the company's Telegram bots.

use std::collections::BTreeMap;

use leadgate_domain::config::{ConfigProblem, Secret};
use serde::Deserialize;

use crate::messengers::settings::{valid_channel_name, BurstSettings};

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum TelegramMode {
    /// leadgate calls getUpdates (no public URL needed).
    #[default]
    Polling,
    /// Telegram posts to `/hooks/telegram/<bot>`; register it with
    /// `leadgate telegram set-webhook`.
    Webhook,
}

/// Limits that fold a burst of messages from one person into the appeals
/// already made, instead of one appeal per message.
#[derive(Debug, Clone, Deserialize)]
#[serde()]
pub struct TelegramBotSettings {
    /// The token from @BotFather (or `token_file`).
    pub token: Secret,
    #[serde(default)]
    pub mode: TelegramMode,
    /// Webhook mode: the `secret_token` given to setWebhook, checked on every post.
    #[serde(default)]
    pub secret_token: Option<Secret>,
    /// Sent once to a person's first message; `{first_name}` and `{name}` are replaced.
    #[serde(default)]
    pub greeting: Option<String>,
    /// Messages in groups and supergroups become appeals too (default: ignored).
    #[serde(default)]
    pub allow_groups: bool,
    /// The Bot API server (a local Bot API server, or a test double).
    #[serde(default = "default_telegram_api_url")]
    pub api_url: String,
    /// Long-polling timeout of getUpdates.
    #[serde(default = "default_poll_wait")]
    pub poll_timeout_secs: u64,
    #[serde(default)]
    pub burst: BurstSettings,
}

fn default_telegram_api_url() -> String {
    "https://api.telegram.org".into()
}
fn default_poll_wait() -> u64 {
    25
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct TelegramSettings {
    pub bots: BTreeMap<String, TelegramBotSettings>,
}

impl TelegramSettings {
    /// This section's part of `check-config`.
    pub fn check(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let mut push = |key: String, message: String| problems.push(ConfigProblem { key, message });
        for (name, bot) in &self.bots {
            let key = format!("telegram.bots.{name}");
            if !valid_channel_name(name) {
                push(
                    key.clone(),
                    "name must be 1-64 of a-z, 0-9, '_' or '-'".into(),
                );
            }
            if bot.token.expose().trim().is_empty() {
                push(format!("{key}.token"), "must not be empty".into());
            }
            if bot.mode == TelegramMode::Webhook {
                match &bot.secret_token {
                    None => push(
                        format!("{key}.secret_token"),
                        "webhook mode needs a secret_token (1-256 of A-Z, a-z, 0-9, '_', '-')"
                            .into(),
                    ),
                    Some(t) => {
                        let t = t.expose();
                        if t.is_empty()
                            || t.len() > 256
                            || !t
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                        {
                            push(
                                format!("{key}.secret_token"),
                                "must be 1-256 of A-Z, a-z, 0-9, '_' or '-' (Telegram's rule)"
                                    .into(),
                            );
                        }
                    }
                }
            }
            if reqwest::Url::parse(&bot.api_url).is_err() {
                push(format!("{key}.api_url"), "must be a URL".into());
            }
            if bot.poll_timeout_secs > 50 {
                push(
                    format!("{key}.poll_timeout_secs"),
                    "must be at most 50".into(),
                );
            }
            if bot.burst.max_messages == 0 || bot.burst.window_secs == 0 {
                push(
                    format!("{key}.burst"),
                    "max_messages and window_secs must be at least 1".into(),
                );
            }
        }
        problems
    }
}
