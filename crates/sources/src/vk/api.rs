//! The VK API methods leadgate calls (users.get, messages.send,
//! groups.getLongPollServer) and the Bots Long Poll `a_check`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::settings::VkCommunitySettings;
use crate::messengers::SendError;
use leadgate_domain::config::Secret;

#[derive(Debug, thiserror::Error)]
pub enum VkError {
    /// The `{"error": {"error_code": …}}` envelope.
    #[error("VK error {code}: {message}")]
    Api { code: i64, message: String },
    #[error("network: {0}")]
    Network(#[from] reqwest::Error),
    #[error("unexpected answer: {0}")]
    Decode(String),
}

impl VkError {
    /// Errors after which the request certainly did nothing and a retry may help.
    fn is_transient(&self) -> bool {
        match self {
            // 1 unknown, 6 too many requests per second, 9 flood control, 10 internal error.
            VkError::Api { code, .. } => matches!(code, 1 | 6 | 9 | 10),
            VkError::Network(e) => e.is_connect(),
            VkError::Decode(_) => false,
        }
    }
}

/// A Long Poll session from groups.getLongPollServer.
#[derive(Debug, Clone)]
pub struct LongPollSession {
    pub server: String,
    pub key: String,
    pub ts: String,
}

/// What one a_check returned.
#[derive(Debug)]
pub enum LongPollAnswer {
    Updates {
        ts: String,
        updates: Vec<Value>,
    },
    /// 1: history out of date or partly lost; go on from the new `ts`.
    Outdated {
        ts: String,
    },
    /// 2: the key expired.
    KeyExpired,
    /// 3: information lost; new key and ts.
    Lost,
}

pub struct VkApi {
    client: reqwest::Client,
    poll_client: reqwest::Client,
    base: String,
    token: Secret,
    version: String,
    group_id: i64,
    name_ttl: Duration,
    names: Mutex<HashMap<i64, (Instant, Option<String>)>>,
}

fn ts_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl VkApi {
    pub fn new(settings: &VkCommunitySettings) -> Result<Self, VkError> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(20))
            .build()?;
        let poll_client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(settings.poll_wait_secs + 20))
            .build()?;
        Ok(Self {
            client,
            poll_client,
            base: settings.api_url.trim_end_matches('/').to_string(),
            token: settings.access_token.clone(),
            version: settings.api_version.clone(),
            group_id: settings.group_id,
            name_ttl: Duration::from_secs(settings.name_cache_secs),
            names: Mutex::new(HashMap::new()),
        })
    }

    /// Calls `method`; the `response` part of the answer.
    pub async fn call(&self, method: &str, params: &[(&str, String)]) -> Result<Value, VkError> {
        let mut form: Vec<(&str, String)> = params.to_vec();
        form.push(("access_token", self.token.expose().to_string()));
        form.push(("v", self.version.clone()));
        let answer: Value = self
            .client
            .post(format!("{}/{method}", self.base))
            .form(&form)
            .send()
            .await?
            .json()
            .await
            .map_err(|e| VkError::Decode(e.to_string()))?;
        if let Some(error) = answer.get("error") {
            return Err(VkError::Api {
                code: error.get("error_code").and_then(Value::as_i64).unwrap_or(0),
                message: error
                    .get("error_msg")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            });
        }
        answer
            .get("response")
            .cloned()
            .ok_or_else(|| VkError::Decode(format!("{method}: no `response`")))
    }

    /// "Имя Фамилия" of a VK user, cached; `None` when VK does not say.
    /// A failed lookup is not cached for long, and never blocks the appeal.
    pub async fn user_name(&self, user_id: i64) -> Option<String> {
        if let Ok(names) = self.names.lock() {
            if let Some((at, name)) = names.get(&user_id) {
                if at.elapsed() < self.name_ttl {
                    return name.clone();
                }
            }
        }
        let answer = tokio::time::timeout(
            Duration::from_secs(3),
            self.call("users.get", &[("user_ids", user_id.to_string())]),
        )
        .await;
        let name = match answer {
            Ok(Ok(Value::Array(users))) => users.first().and_then(|u| {
                let first = u.get("first_name").and_then(Value::as_str).unwrap_or("");
                let last = u.get("last_name").and_then(Value::as_str).unwrap_or("");
                let full = format!("{first} {last}").trim().to_string();
                (!full.is_empty()).then_some(full)
            }),
            Ok(Ok(_)) => None,
            Ok(Err(e)) => {
                tracing::warn!(group_id = self.group_id, error = %e, "users.get failed; appeal without a name");
                return None;
            }
            Err(_) => {
                tracing::warn!(
                    group_id = self.group_id,
                    "users.get timed out; appeal without a name"
                );
                return None;
            }
        };
        if let Ok(mut names) = self.names.lock() {
            if names.len() > 50_000 {
                names.clear();
            }
            names.insert(user_id, (Instant::now(), name.clone()));
        }
        name
    }

    /// messages.send with a `random_id` that is the same on every retry of one
    /// outbox row, so VK delivers it once.
    pub async fn send_text(
        &self,
        peer_id: i64,
        text: &str,
        random_id: i64,
    ) -> Result<String, SendError> {
        let result = self
            .call(
                "messages.send",
                &[
                    ("peer_id", peer_id.to_string()),
                    ("message", text.to_string()),
                    ("random_id", random_id.to_string()),
                ],
            )
            .await;
        match result {
            Ok(v) => Ok(match &v {
                Value::Number(n) => n.to_string(),
                other => other.to_string(),
            }),
            Err(e) if e.is_transient() => Err(SendError::Retry {
                error: e.to_string(),
                after: None,
            }),
            Err(e @ VkError::Api { .. }) => Err(SendError::Permanent(e.to_string())),
            Err(e) => Err(SendError::Ambiguous(e.to_string())),
        }
    }

    pub async fn long_poll_session(&self) -> Result<LongPollSession, VkError> {
        let v = self
            .call(
                "groups.getLongPollServer",
                &[("group_id", self.group_id.to_string())],
            )
            .await?;
        let field = |k: &str| {
            v.get(k)
                .and_then(ts_string)
                .ok_or_else(|| VkError::Decode(format!("groups.getLongPollServer: no `{k}`")))
        };
        Ok(LongPollSession {
            server: field("server")?,
            key: field("key")?,
            ts: field("ts")?,
        })
    }

    pub async fn a_check(
        &self,
        session: &LongPollSession,
        ts: &str,
        wait: u64,
    ) -> Result<LongPollAnswer, VkError> {
        let v: Value = self
            .poll_client
            .get(&session.server)
            .query(&[
                ("act", "a_check"),
                ("key", session.key.as_str()),
                ("ts", ts),
                ("wait", &wait.to_string()),
            ])
            .send()
            .await?
            .json()
            .await
            .map_err(|e| VkError::Decode(e.to_string()))?;
        let new_ts = v.get("ts").and_then(ts_string);
        match v.get("failed").and_then(Value::as_i64) {
            None => Ok(LongPollAnswer::Updates {
                ts: new_ts.ok_or_else(|| VkError::Decode("a_check: no `ts`".into()))?,
                updates: match v.get("updates") {
                    Some(Value::Array(u)) => u.clone(),
                    _ => Vec::new(),
                },
            }),
            Some(1) => Ok(LongPollAnswer::Outdated {
                ts: new_ts
                    .ok_or_else(|| VkError::Decode("a_check failed 1 without `ts`".into()))?,
            }),
            Some(2) => Ok(LongPollAnswer::KeyExpired),
            Some(3) => Ok(LongPollAnswer::Lost),
            Some(other) => Err(VkError::Decode(format!("a_check: failed {other}"))),
        }
    }
}
