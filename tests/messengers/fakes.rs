//! Local stand-ins for the Telegram Bot API and the VK API, on loopback ports,
//! behaving as their public documentation describes.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde_json::{json, Value};
use tokio::sync::Notify;

async fn bind() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind fake");
    let addr = listener.local_addr().expect("addr");
    (listener, format!("http://{addr}"))
}

fn serve(listener: tokio::net::TcpListener, app: Router) {
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("fake serves");
    });
}

// ---------------------------------------------------------------- Telegram

#[derive(Default)]
pub struct TgInner {
    /// Updates not yet confirmed by an offset.
    pub queue: Vec<Value>,
    pub sent: Vec<(i64, String)>,
    pub send_failures_left: u32,
    pub conflicts_left: u32,
    pub conflicts_answered: u32,
    pub webhook: Option<(String, Option<String>)>,
    pub offsets_seen: Vec<i64>,
    pub in_flight: u32,
    pub concurrent_seen: u32,
    next_message_id: i64,
}

#[derive(Clone)]
pub struct FakeTelegram {
    pub url: String,
    pub token: String,
    pub inner: Arc<Mutex<TgInner>>,
    arrived: Arc<Notify>,
}

impl FakeTelegram {
    pub async fn start(token: &str) -> FakeTelegram {
        let inner = Arc::new(Mutex::new(TgInner::default()));
        let arrived = Arc::new(Notify::new());
        let (listener, url) = bind().await;
        let fake = FakeTelegram {
            url,
            token: token.to_string(),
            inner,
            arrived,
        };
        let app = Router::new()
            .route("/{bot}/{method}", post(tg_method))
            .with_state(fake.clone());
        serve(listener, app);
        fake
    }

    pub fn push_update(&self, update: Value) {
        self.inner.lock().unwrap().queue.push(update);
        self.arrived.notify_waiters();
    }

    pub fn sent(&self) -> Vec<(i64, String)> {
        self.inner.lock().unwrap().sent.clone()
    }
}

fn tg_error(status: StatusCode, description: &str, parameters: Option<Value>) -> Response {
    let mut body = json!({"ok": false, "error_code": status.as_u16(), "description": description});
    if let Some(p) = parameters {
        body["parameters"] = p;
    }
    (status, Json(body)).into_response()
}

async fn tg_method(
    State(fake): State<FakeTelegram>,
    Path((bot, method)): Path<(String, String)>,
    request: axum::extract::Request,
) -> Response {
    if bot != format!("bot{}", fake.token) {
        return tg_error(StatusCode::UNAUTHORIZED, "Unauthorized", None);
    }
    let params = tg_params(request).await;
    // Bot API method names are case-insensitive.
    match method.to_ascii_lowercase().as_str() {
        "getupdates" => tg_get_updates(fake, params).await,
        "sendmessage" => {
            let mut inner = fake.inner.lock().unwrap();
            if inner.send_failures_left > 0 {
                inner.send_failures_left -= 1;
                return tg_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too Many Requests: retry after 1",
                    Some(json!({"retry_after": 1})),
                );
            }
            let Some(chat_id) = params["chat_id"].as_i64() else {
                return tg_error(StatusCode::BAD_REQUEST, "Bad Request: chat not found", None);
            };
            let text = params["text"].as_str().unwrap_or("").to_string();
            if text.is_empty() {
                return tg_error(
                    StatusCode::BAD_REQUEST,
                    "Bad Request: message text is empty",
                    None,
                );
            }
            inner.next_message_id += 1;
            let id = inner.next_message_id;
            inner.sent.push((chat_id, text.clone()));
            Json(json!({"ok": true, "result": {
                "message_id": id,
                "from": {"id": 1, "is_bot": true, "first_name": "Sales", "username": "sales_bot"},
                "chat": {"id": chat_id, "type": "private"},
                "date": 1_700_000_000,
                "text": text,
            }}))
            .into_response()
        }
        "setwebhook" => {
            let url = params["url"].as_str().unwrap_or("").to_string();
            let secret = params["secret_token"].as_str().map(str::to_string);
            fake.inner.lock().unwrap().webhook = Some((url, secret));
            Json(json!({"ok": true, "result": true, "description": "Webhook was set"}))
                .into_response()
        }
        _ => tg_error(StatusCode::NOT_FOUND, "Not Found", None),
    }
}

/// The Bot API takes parameters as JSON, urlencoded or multipart/form-data.
async fn tg_params(request: axum::extract::Request) -> Value {
    use axum::extract::FromRequest;
    let content_type = request
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if content_type.starts_with("multipart/form-data") {
        let mut map = serde_json::Map::new();
        if let Ok(mut multipart) = axum::extract::Multipart::from_request(request, &()).await {
            while let Ok(Some(field)) = multipart.next_field().await {
                let name = field.name().unwrap_or("").to_string();
                let text = field.text().await.unwrap_or_default();
                map.insert(name, Value::String(text));
            }
        }
        return Value::Object(map);
    }
    let body = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let map = form_urlencoded::parse(&body)
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect();
        return Value::Object(map);
    }
    serde_json::from_slice(&body).unwrap_or(json!({}))
}

async fn tg_get_updates(fake: FakeTelegram, params: Value) -> Response {
    let offset = params["offset"].as_i64().unwrap_or(0);
    let timeout = params["timeout"].as_u64().unwrap_or(0).min(2);
    {
        let mut inner = fake.inner.lock().unwrap();
        if inner.webhook.is_some() {
            return tg_error(
                StatusCode::CONFLICT,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
                None,
            );
        }
        if inner.conflicts_left > 0 || inner.in_flight > 0 {
            if inner.conflicts_left > 0 {
                inner.conflicts_left -= 1;
            } else {
                inner.concurrent_seen += 1;
            }
            inner.conflicts_answered += 1;
            return tg_error(
                StatusCode::CONFLICT,
                "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                None,
            );
        }
        inner.in_flight += 1;
        inner.offsets_seen.push(offset);
        // An offset confirms every update before it: they are forgotten.
        inner
            .queue
            .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
    }
    // Decrements in_flight even when the caller hangs up mid-wait.
    struct InFlight(Arc<Mutex<TgInner>>);
    impl Drop for InFlight {
        fn drop(&mut self) {
            if let Ok(mut inner) = self.0.lock() {
                inner.in_flight = inner.in_flight.saturating_sub(1);
            }
        }
    }
    let _guard = InFlight(fake.inner.clone());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    loop {
        let notified = fake.arrived.notified();
        let ready: Vec<Value> = {
            let inner = fake.inner.lock().unwrap();
            inner.queue.iter().take(100).cloned().collect()
        };
        if !ready.is_empty() || tokio::time::Instant::now() >= deadline {
            return Json(json!({"ok": true, "result": ready})).into_response();
        }
        let _ = tokio::time::timeout_at(deadline, notified).await;
    }
}

// ---------------------------------------------------------------- VK

#[derive(Default)]
pub struct VkInner {
    pub names: HashMap<i64, (String, String)>,
    pub delivered: Vec<(i64, String, i64)>,
    random_ids: HashMap<i64, i64>,
    /// messages.send: deliver, then answer error 10 (the answer is lost).
    pub fail_after_delivery: u32,
    pub sessions: u32,
    pub ts: i64,
    /// Answers of a_check, in order; when empty, an empty update list.
    pub script: VecDeque<Value>,
    /// Every a_check as (key, ts).
    pub checks: Vec<(String, String)>,
    pub users_get_calls: u32,
    /// messages.send: refuse for good, as VK does for a person who has not
    /// allowed the community to write (error 901); nothing is delivered.
    pub refuse_sends: bool,
    next_message_id: i64,
}

#[derive(Clone)]
pub struct FakeVk {
    pub url: String,
    pub token: String,
    pub inner: Arc<Mutex<VkInner>>,
}

impl FakeVk {
    pub async fn start(token: &str) -> FakeVk {
        let inner = Arc::new(Mutex::new(VkInner {
            ts: 100,
            ..VkInner::default()
        }));
        let (listener, url) = bind().await;
        let fake = FakeVk {
            url,
            token: token.to_string(),
            inner,
        };
        let app = Router::new()
            .route("/method/{method}", post(vk_method))
            .route("/lp", get(vk_a_check))
            .with_state(fake.clone());
        serve(listener, app);
        fake
    }

    pub fn api_url(&self) -> String {
        format!("{}/method", self.url)
    }

    pub fn delivered(&self) -> Vec<(i64, String, i64)> {
        self.inner.lock().unwrap().delivered.clone()
    }
}

fn vk_error(code: i64, msg: &str) -> Response {
    Json(json!({"error": {"error_code": code, "error_msg": msg, "request_params": []}}))
        .into_response()
}

async fn vk_method(
    State(fake): State<FakeVk>,
    Path(method): Path<String>,
    Form(params): Form<HashMap<String, String>>,
) -> Response {
    if params.get("access_token") != Some(&fake.token) {
        return vk_error(5, "User authorization failed: invalid access_token (4).");
    }
    if !params.contains_key("v") {
        return vk_error(8, "Invalid request: v (version) is required");
    }
    let mut inner = fake.inner.lock().unwrap();
    match method.as_str() {
        "groups.getLongPollServer" => {
            inner.sessions += 1;
            let key = format!("key{}", inner.sessions);
            Json(json!({"response": {"key": key, "server": format!("{}/lp", fake.url), "ts": inner.ts.to_string()}}))
                .into_response()
        }
        "users.get" => {
            inner.users_get_calls += 1;
            let ids: Vec<i64> = params
                .get("user_ids")
                .map(|s| s.split(',').filter_map(|p| p.trim().parse().ok()).collect())
                .unwrap_or_default();
            let users: Vec<Value> = ids
                .iter()
                .filter_map(|id| {
                    inner.names.get(id).map(|(f, l)| {
                        json!({"id": id, "first_name": f, "last_name": l, "can_access_closed": true, "is_closed": false})
                    })
                })
                .collect();
            Json(json!({"response": users})).into_response()
        }
        "messages.send" => {
            let Some(random_id) = params.get("random_id").and_then(|r| r.parse::<i64>().ok())
            else {
                return vk_error(
                    100,
                    "One of the parameters specified was missing or invalid: random_id is required",
                );
            };
            let Some(peer_id) = params.get("peer_id").and_then(|r| r.parse::<i64>().ok()) else {
                return vk_error(
                    100,
                    "One of the parameters specified was missing or invalid: peer_id",
                );
            };
            if inner.refuse_sends {
                return vk_error(901, "Can't send messages for users without permission");
            }
            // random_id: the same id again sends nothing and returns the first message.
            if let Some(id) = inner.random_ids.get(&random_id) {
                return Json(json!({"response": id})).into_response();
            }
            inner.next_message_id += 1;
            let id = inner.next_message_id;
            inner.random_ids.insert(random_id, id);
            let text = params.get("message").cloned().unwrap_or_default();
            inner.delivered.push((peer_id, text, random_id));
            if inner.fail_after_delivery > 0 {
                inner.fail_after_delivery -= 1;
                return vk_error(10, "Internal server error");
            }
            Json(json!({"response": id})).into_response()
        }
        _ => vk_error(3, "Unknown method passed"),
    }
}

async fn vk_a_check(
    State(fake): State<FakeVk>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let key = q.get("key").cloned().unwrap_or_default();
    let ts = q.get("ts").cloned().unwrap_or_default();
    let answer = {
        let mut inner = fake.inner.lock().unwrap();
        inner.checks.push((key.clone(), ts.clone()));
        let current_key = format!("key{}", inner.sessions);
        if key != current_key {
            Some(json!({"failed": 2}))
        } else {
            inner.script.pop_front()
        }
    };
    match answer {
        Some(a) => Json(a).into_response(),
        None => {
            tokio::time::sleep(Duration::from_millis(200)).await;
            Json(json!({"ts": ts, "updates": []})).into_response()
        }
    }
}
