//! The stage engine end to end, on the backend named by LEADGATE_TEST_DB:
//! appeal → interest → КП/Счёт → Оплата → payment → Отгрузка → shipment →
//! Завершено успешно; the lost path; refusals; idempotent ERP events;
//! colours and the overdue sweeper; who sees what.

#[path = "../helpers/mod.rs"]
mod helpers;

// The shared Chromium harness; not every helper in it is used here.
#[allow(dead_code)]
#[path = "../web/browser.rs"]
mod browser;

// The local Telegram fake of the messenger suite.
#[allow(dead_code)]
#[path = "../messengers/fakes.rs"]
mod fakes;

mod board;
mod card;
mod flow;
mod lost;
mod overdue;
mod reports;
mod roles;
mod sales;
mod scoping;

use chrono::{DateTime, Duration, Utc};
use leadgate::settings::{ApiToken, Role, Secret, Settings};
use serde_json::{json, Value};

use helpers::{appeal, spawn_app_with, TestApp, TOKEN};

pub const IVANOVA: &str = "ivanova-token-0123456789";
pub const PETROV: &str = "petrov-token-0123456789";
pub const SMIRNOVA: &str = "smirnova-token-0123456789";
pub const OPERATOR: &str = "operator-token-0123456789";
pub const ADMIN: &str = TOKEN;

/// Personal tokens named by login, and every new client to ivanova.
pub fn configure(settings: &mut Settings) {
    for (name, token, role) in [
        ("ivanova", IVANOVA, Role::Manager),
        ("petrov", PETROV, Role::Manager),
        ("smirnova", SMIRNOVA, Role::Head),
        ("operator", OPERATOR, Role::Operator),
    ] {
        settings.api.tokens.push(ApiToken {
            name: name.into(),
            token: Secret::new(token),
            role,
        });
    }
    settings.routing.round_robin = vec!["ivanova".into()];
}

pub async fn app() -> TestApp {
    spawn_app_with(configure).await
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

pub async fn get(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    call(app, reqwest::Method::GET, token, path, None).await
}

/// A new client's appeal, processed: returns its interest id.
pub async fn new_interest(app: &TestApp, key: &str, phone: &str) -> i64 {
    let response = app
        .post_appeal(&appeal(
            "crm",
            key,
            json!({"name": "Ольга Кузнецова", "phones": [phone]}),
        ))
        .await;
    assert_eq!(response.status().as_u16(), 202);
    let accepted: Value = response.json().await.expect("json");
    let processed = app
        .processed_appeal(accepted["id"].as_i64().expect("appeal id"))
        .await;
    assert_eq!(processed["status"], "created");
    processed["interest_id"].as_i64().expect("interest id")
}

pub fn open_tasks(interest: &Value) -> Vec<String> {
    interest["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .filter(|t| t["status"] == "open" || t["status"] == "overdue")
        .map(|t| t["title"].as_str().expect("title").to_owned())
        .collect()
}

pub fn in_days(days: i64) -> String {
    rfc3339(Utc::now() + Duration::days(days))
}

pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339()
}

/// Asserts a 422 problem naming `field`: the request itself is wrong.
#[track_caller]
pub fn assert_refused(answer: &(u16, Value), field: &str) {
    assert_problem(answer, 422, field);
}

/// Asserts a 409 problem naming `field`: the record's state refuses it.
#[track_caller]
pub fn assert_conflict(answer: &(u16, Value), field: &str) {
    assert_problem(answer, 409, field);
}

#[track_caller]
fn assert_problem(answer: &(u16, Value), status: u16, field: &str) {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["field"], field, "{}", answer.1);
    assert!(
        !answer.1["detail"].as_str().unwrap_or("").is_empty(),
        "a detail explains the refusal: {}",
        answer.1
    );
}
