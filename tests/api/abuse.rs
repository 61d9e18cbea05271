//! Public endpoints cannot grow state without bound (issue 18): unknown
//! names share one metric series, posts are rate-limited per address and per
//! endpoint, form fields have length caps, NUL characters never reach the
//! database, and the HTTP server closes connections that never finish.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{eventually, scalar, spawn_app, spawn_app_with, TestApp};

async fn post_to(app: &TestApp, path: &str, body: &str) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

async fn appeals(app: &TestApp) -> i64 {
    scalar(&app.store, "SELECT COUNT(*) FROM appeals").await
}

#[tokio::test]
async fn unknown_names_count_under_one_label_that_carries_no_request_text() {
    let app = spawn_app_with(|s| s.limits.hooks_per_ip_burst = 1000).await;
    for i in 0..20 {
        let form = format!("/hooks/forms/random-form-{i}");
        assert_eq!(post_to(&app, &form, "name=x").await.status(), 404);
        let pbx = format!("/hooks/pbx/mango/random-account-{i}");
        assert_eq!(post_to(&app, &pbx, "").await.status(), 404);
        let bot = format!("/hooks/telegram/random-bot-{i}");
        assert_eq!(post_to(&app, &bot, "{}").await.status(), 404);
        let vk = format!("/hooks/vk/random-community-{i}");
        assert_eq!(post_to(&app, &vk, "{}").await.status(), 404);
    }
    let metrics = app.metrics().await;
    assert!(!metrics.contains("random-"), "{metrics}");
    for reason in [
        "unknown_form",
        "unknown_account",
        "unknown_bot",
        "unknown_community",
    ] {
        let line = format!(
            "leadgate_requests_rejected_total{{source=\"unknown\",reason=\"{reason}\"}} 20"
        );
        assert!(metrics.contains(&line), "no `{line}` in\n{metrics}");
    }
    assert_eq!(appeals(&app).await, 0);
}

#[tokio::test]
async fn over_the_per_address_limit_posts_get_429_with_retry_after_and_nothing_is_stored() {
    let app = spawn_app_with(|s| {
        s.limits.hooks_per_ip_per_minute = 1;
        s.limits.hooks_per_ip_burst = 3;
    })
    .await;
    for i in 0..3 {
        let resp = post_to(
            &app,
            "/hooks/forms/site",
            &format!("name=Anna&phone=8912345670{i}"),
        )
        .await;
        assert_eq!(resp.status(), 202);
    }
    let resp = post_to(&app, "/hooks/forms/site", "name=Anna&phone=89123456709").await;
    assert_eq!(resp.status(), 429);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    let problem: Value = resp.json().await.unwrap();
    assert_eq!(problem["status"], 429);
    // Another endpoint from the same address is limited as well.
    let resp = post_to(&app, "/hooks/pbx/mango/main/events/call", "").await;
    assert_eq!(resp.status(), 429);
    assert_eq!(appeals(&app).await, 3);
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("source=\"rate_limit\",reason=\"per_ip\"} 2"),
        "{metrics}"
    );
    // The API behind a token is not a webhook: not limited here.
    let resp = app
        .post_appeal(&crate::helpers::appeal(
            "crm",
            "1",
            serde_json::json!({"phones": ["89123456708"]}),
        ))
        .await;
    assert_eq!(resp.status(), 202);
}

#[tokio::test]
async fn one_endpoint_is_limited_across_addresses_behind_a_proxy() {
    let app = spawn_app_with(|s| {
        s.limits.client_ip_header = "x-forwarded-for".into();
        s.limits.hooks_per_ip_per_minute = 1;
        s.limits.hooks_per_ip_burst = 1;
        s.limits.hooks_per_endpoint_per_minute = 1;
        s.limits.hooks_per_endpoint_burst = 4;
    })
    .await;
    let post = |ip: String, i: u32| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/hooks/forms/site"))
                .header("x-forwarded-for", ip)
                .form(&[("name", "Anna"), ("phone", &format!("8912345671{i}"))])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // One post per address: the address limit (1) never bites, the form's does.
    let mut statuses = Vec::new();
    for i in 0..6 {
        statuses.push(post(format!("198.51.100.{i}"), i).await);
    }
    assert_eq!(statuses, [202, 202, 202, 202, 429, 429]);
    // The same address twice: its own limit.
    assert_eq!(post("203.0.113.9".into(), 9).await, 429);
    assert_eq!(appeals(&app).await, 4);
}

#[tokio::test]
async fn form_fields_have_length_caps() {
    let app = spawn_app().await;
    let long_name = "а".repeat(201);
    let resp = app
        .client
        .post(app.url("/hooks/forms/site"))
        .form(&[("name", long_name.as_str()), ("phone", "89123456789")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    assert_eq!(resp.json::<Value>().await.unwrap()["field"], "name");
    let long_text = "x".repeat(10_001);
    let resp = app
        .client
        .post(app.url("/hooks/forms/site"))
        .form(&[
            ("name", "Анна"),
            ("phone", "89123456789"),
            ("comment", &long_text),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    assert_eq!(resp.json::<Value>().await.unwrap()["field"], "message");
    assert_eq!(appeals(&app).await, 0);
    // At the cap it is accepted.
    let name = "а".repeat(200);
    let resp = app
        .client
        .post(app.url("/hooks/forms/site"))
        .form(&[("name", name.as_str()), ("phone", "89123456789")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
}

#[tokio::test]
async fn nul_characters_are_stripped_from_forms_and_the_api() {
    let app = spawn_app().await;
    let resp = post_to(
        &app,
        "/hooks/forms/site",
        "name=%D0%90%D0%BD%00%D0%BD%D0%B0&phone=8912345%0067-89&comment=a%00b&utm_source=y%00a&tranid=n%00ul",
    )
    .await;
    assert_eq!(resp.status(), 202);
    // A form's reply names no internal id.
    let id = crate::helpers::scalar(&app.store, "SELECT MAX(id) FROM appeals").await;
    let appeal = app.processed_appeal(id).await;
    assert_eq!(appeal["contact"]["name"], "Анна");
    assert_eq!(appeal["contact"]["phones"][0], "891234567-89");
    assert_eq!(appeal["text"], "ab");
    assert_eq!(appeal["attributes"]["utm_source"], "ya");
    assert_eq!(appeal["external_id"], "nul");

    let body = r#"{"source":"crm","external_id":"z\u0000","contact":{"name":"Иван\u0000","phones":["89123456780"]},"text":"t\u0000ext","attributes":{"k\u0000":"v\u0000"}}"#;
    let resp = app
        .client
        .post(app.url("/api/v1/appeals"))
        .bearer_auth(crate::helpers::TOKEN)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let id = resp.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let appeal = app.processed_appeal(id).await;
    assert_eq!(appeal["contact"]["name"], "Иван");
    assert_eq!(appeal["text"], "text");
    assert_eq!(appeal["external_id"], "z");
    assert_eq!(appeal["attributes"]["k"], "v");
    assert_eq!(
        scalar(
            &app.store,
            "SELECT COUNT(*) FROM appeals WHERE status = 'failed'"
        )
        .await,
        0
    );
}

/// Reads until the server closes the connection; what it sent before.
async fn read_until_closed(stream: &mut tokio::net::TcpStream) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(crate::helpers::PATIENCE, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server kept the connection open");
    String::from_utf8_lossy(&seen).into_owned()
}

#[tokio::test]
async fn a_slow_loris_connection_is_closed_and_others_are_served_meanwhile() {
    let app = spawn_app_with(|s| {
        s.server.header_read_timeout_secs = 1;
        s.server.request_timeout_secs = 1;
    })
    .await;
    let addr = app.address.trim_start_matches("http://").to_string();
    // Headers that never end.
    let mut loris = Vec::new();
    for _ in 0..20 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"POST /hooks/forms/site HTTP/1.1\r\nHost: x\r\nX-A: ")
            .await
            .unwrap();
        loris.push(s);
    }
    // While they hang, a normal request is answered.
    let (status, _) = app.get_json("/healthz").await;
    assert_eq!(status, 200);
    for s in &mut loris {
        let _ = s.write_all(b"a").await;
        read_until_closed(s).await;
    }
    // A body that never comes: 408 and the connection is closed.
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(
        b"POST /hooks/forms/site HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nname=",
    )
    .await
    .unwrap();
    let answer = read_until_closed(&mut s).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(appeals(&app).await, 0);
    eventually("the server to still answer", async || {
        let (status, _) = app.get_json("/healthz").await;
        (status == 200).then_some(())
    })
    .await;
    let _ = Duration::ZERO;
}

#[tokio::test]
async fn past_max_in_flight_requests_get_503() {
    // With one slot taken by a request whose body never comes, the next one
    // is refused instead of queued.
    let app = spawn_app_with(|s| {
        s.server.max_in_flight = 1;
        s.server.request_timeout_secs = 600;
    })
    .await;
    let addr = app.address.trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(
        b"POST /hooks/forms/site HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nname=",
    )
    .await
    .unwrap();
    eventually(
        "a request over the in-flight limit to be refused",
        async || {
            let (status, _) = app.get_json("/healthz").await;
            (status == 503).then_some(())
        },
    )
    .await;
    drop(s);
    eventually("the slot to be free again", async || {
        let (status, _) = app.get_json("/healthz").await;
        (status == 200).then_some(())
    })
    .await;
}
