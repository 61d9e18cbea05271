//! Outbound events end to end, on the backend named by LEADGATE_TEST_DB: the
//! journal, the change feed and Standard Webhooks delivered to a receiver
//! started here, which checks every signature with its own HMAC code (and
//! Python's `hmac` for one delivery).

#[path = "../helpers/mod.rs"]
mod helpers;

// Shared with tests/web and tests/messengers; not all of them is used here.
#[allow(dead_code)]
#[path = "../web/browser.rs"]
mod browser;
#[allow(dead_code)]
#[path = "../messengers/fakes.rs"]
mod fakes;

mod causes;
mod daemon;
mod feed;
mod page;
mod receiver;
mod webhooks;

use leadgate::settings::{ApiToken, Role, Secret, Settings, WebhookSettings};
use serde_json::{json, Value};

use helpers::{TestApp, TOKEN};

pub const IVANOVA: &str = "ivanova-token-0123456789";
pub const SMIRNOVA: &str = "smirnova-token-0123456789";
/// A Standard Webhooks secret (the key is the base64 after `whsec_`).
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const OLD_SECRET: &str = "whsec_c2Vjb25kLXNlY3JldC1mb3Itcm90YXRpb24=";

/// Personal tokens for a manager and her head; every new client to ivanova.
pub fn configure(settings: &mut Settings) {
    for (name, token, role) in [
        ("ivanova", IVANOVA, Role::Manager),
        ("smirnova", SMIRNOVA, Role::Head),
    ] {
        settings.api.tokens.push(ApiToken {
            name: name.into(),
            token: Secret::new(token),
            role,
        });
    }
    settings.routing.round_robin = vec!["ivanova".into()];
}

pub fn webhook(name: &str, url: &str, events: &[&str]) -> WebhookSettings {
    WebhookSettings {
        name: name.into(),
        url: url.into(),
        events: events.iter().map(|s| s.to_string()).collect(),
        secret: Some(Secret::new(SECRET)),
        previous_secret: Some(Secret::new(OLD_SECRET)),
        retry_hours: 72,
        backoff_initial_ms: 100,
        timeout_secs: 10,
    }
}

pub async fn call(
    app: &TestApp,
    method: reqwest::Method,
    token: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

pub async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    call(app, reqwest::Method::POST, token, path, Some(body)).await
}

/// Every event in the feed, read page by page from the start.
pub async fn whole_feed(app: &TestApp) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let (status, page) = call(
            app,
            reqwest::Method::GET,
            TOKEN,
            &format!("/api/v1/changes?after={after}&limit=100"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{page}");
        let events = page["events"].as_array().expect("events").clone();
        if events.is_empty() {
            return out;
        }
        after = page["next"].as_i64().expect("next");
        out.extend(events);
    }
}

pub fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().expect("type").to_string())
        .collect()
}

pub fn in_days(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339()
}

pub fn contact(name: &str, phone: &str) -> Value {
    json!({"name": name, "phones": [phone]})
}
