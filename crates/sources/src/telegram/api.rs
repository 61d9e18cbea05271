//! The Bot API calls leadgate makes, through teloxide's transport (URL
//! building, the `{"ok": …}` envelope, flood-control and conflict errors).
//!
//! getUpdates and sendMessage use payloads of our own whose results stay raw
//! JSON: every update is stored exactly as it arrived, and a sent message's
//! reply is read for its id only, so a field teloxide cannot parse can never
//! make us send a message twice.

use std::time::Duration;

use serde::Serialize;
use teloxide::payloads::SetWebhookSetters;
use teloxide::requests::{JsonRequest, Payload, Requester};
use teloxide::{ApiError, Bot, RequestError};

use super::settings::TelegramBotSettings;
use crate::messengers::SendError;

#[derive(Debug, thiserror::Error)]
pub enum TelegramSetupError {
    #[error("api_url `{0}` is not a URL")]
    BadUrl(String),
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// A bot client whose request timeout outlasts the long-poll wait.
pub fn make_bot(settings: &TelegramBotSettings) -> Result<Bot, TelegramSetupError> {
    let url = reqwest::Url::parse(&settings.api_url)
        .map_err(|_| TelegramSetupError::BadUrl(settings.api_url.clone()))?;
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(settings.poll_timeout_secs + 20))
        .tcp_nodelay(true)
        .build()
        .map_err(|e| TelegramSetupError::Client(e.to_string()))?;
    Ok(Bot::with_client(settings.token.expose(), client).set_api_url(url))
}

#[derive(Debug, Clone, Serialize)]
pub struct GetUpdatesRaw {
    pub offset: i64,
    pub timeout: u32,
    pub limit: u8,
}

impl Payload for GetUpdatesRaw {
    type Output = Vec<serde_json::Value>;
    const NAME: &'static str = "getUpdates";
    fn timeout_hint(&self) -> Option<Duration> {
        Some(Duration::from_secs(u64::from(self.timeout)))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SendMessageRaw {
    pub chat_id: i64,
    pub text: String,
}

impl Payload for SendMessageRaw {
    type Output = serde_json::Value;
    const NAME: &'static str = "sendMessage";
}

pub async fn get_updates(
    bot: &Bot,
    offset: i64,
    timeout: u32,
) -> Result<Vec<serde_json::Value>, RequestError> {
    JsonRequest::new(
        bot.clone(),
        GetUpdatesRaw {
            offset,
            timeout,
            limit: 100,
        },
    )
    .await
}

/// Sends one text; the message id Telegram gave it.
pub async fn send_text(bot: &Bot, chat_id: i64, text: &str) -> Result<String, SendError> {
    let result = JsonRequest::new(
        bot.clone(),
        SendMessageRaw {
            chat_id,
            text: text.to_string(),
        },
    )
    .await;
    match result {
        Ok(message) => Ok(message
            .get("message_id")
            .map(|id| id.to_string())
            .unwrap_or_else(|| "unknown".into())),
        Err(e) => Err(classify(e)),
    }
}

/// Telegram has no idempotency key: only failures that certainly sent
/// nothing are retried; an unclear outcome is reported, never resent.
fn classify(e: RequestError) -> SendError {
    match e {
        RequestError::RetryAfter(s) => SendError::Retry {
            error: "flood control (429)".into(),
            after: Some(s.duration()),
        },
        RequestError::Network(net) if net.is_connect() => SendError::Retry {
            error: format!("cannot connect: {net}"),
            after: None,
        },
        RequestError::Network(net) => SendError::Ambiguous(format!("network: {net}")),
        RequestError::InvalidJson { source, .. } => {
            SendError::Ambiguous(format!("unreadable answer: {source}"))
        }
        RequestError::Api(ApiError::Unknown(text))
            if [
                "Internal Server Error",
                "Bad Gateway",
                "Too Many Requests",
                "Gateway",
            ]
            .iter()
            .any(|t| text.contains(t)) =>
        {
            SendError::Retry {
                error: text,
                after: None,
            }
        }
        RequestError::Io(io) => SendError::Retry {
            error: io.to_string(),
            after: None,
        },
        other => SendError::Permanent(other.to_string()),
    }
}

/// `leadgate telegram set-webhook`: registers `url` with the bot's secret token.
pub async fn set_webhook(
    settings: &TelegramBotSettings,
    url: &str,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let bot = make_bot(settings)?;
    let url = reqwest::Url::parse(url)?;
    let mut request = bot.set_webhook(url);
    if let Some(secret) = &settings.secret_token {
        request = request.secret_token(secret.expose());
    }
    request.await?;
    Ok(())
}
