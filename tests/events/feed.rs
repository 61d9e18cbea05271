use std::collections::HashSet;

use serde_json::{json, Value};

use crate::helpers::{appeal, spawn_app_with, TestApp, TOKEN};
use crate::{call, configure, contact, types, whole_feed};

async fn get(app: &TestApp, path: &str) -> (u16, Value) {
    call(app, reqwest::Method::GET, TOKEN, path, None).await
}

async fn all_processed(app: &TestApp) -> bool {
    crate::helpers::scalar(
        &app.store,
        "SELECT COUNT(*) FROM appeals WHERE status = 'pending'",
    )
    .await
        == 0
}

#[tokio::test]
async fn a_consumer_restarting_from_its_saved_cursor_sees_every_event_once() {
    let app = spawn_app_with(configure).await;
    let dir = tempfile::tempdir().unwrap();
    let cursor_file = dir.path().join("cursor");
    let url = app.address.clone();
    // Appeals keep coming while the consumer reads.
    let producer = {
        let client = app.client.clone();
        let url = url.clone();
        tokio::spawn(async move {
            for i in 0..15 {
                let body = appeal(
                    "crm",
                    &format!("c-{i}"),
                    contact("Игорь", &format!("+7 912 900-00-{i:02}")),
                );
                let r = client
                    .post(format!("{url}/api/v1/appeals"))
                    .bearer_auth(TOKEN)
                    .json(&body)
                    .send()
                    .await
                    .expect("post");
                assert!(r.status().is_success());
            }
        })
    };
    let mut seen: Vec<i64> = Vec::new();
    let mut idle = 0;
    let mut restarts = 0;
    while idle < 1 {
        // A consumer process: reads its cursor, takes a few pages, saves the
        // cursor after each, and "crashes".
        let client = reqwest::Client::new();
        let mut after: i64 = std::fs::read_to_string(&cursor_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        for _ in 0..2 {
            let page: Value = client
                .get(format!("{url}/api/v1/changes?after={after}&limit=4&wait=2"))
                .bearer_auth(TOKEN)
                .send()
                .await
                .expect("get")
                .json()
                .await
                .expect("json");
            let events = page["events"].as_array().expect("events");
            if events.is_empty() && producer.is_finished() && all_processed(&app).await {
                idle += 1;
            }
            seen.extend(events.iter().map(|e| e["id"].as_i64().expect("id")));
            after = page["next"].as_i64().expect("next");
            std::fs::write(&cursor_file, after.to_string()).unwrap();
        }
        restarts += 1;
    }
    producer.await.unwrap();
    assert!(restarts > 2);
    let all: Vec<i64> = whole_feed(&app)
        .await
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    let unique: HashSet<i64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no event twice: {seen:?}");
    assert_eq!(seen, all, "every event, in order");
    assert!(all.len() >= 15 * 3);
    app.stop().await;
}

#[tokio::test]
async fn a_long_poll_returns_when_an_event_arrives() {
    let app = spawn_app_with(configure).await;
    let (_, empty) = get(&app, "/api/v1/changes").await;
    assert_eq!(empty, json!({"events": [], "next": 0}));
    let waiting = {
        let client = app.client.clone();
        let url = app.url("/api/v1/changes?after=0&wait=60&types=appeal.accepted");
        tokio::spawn(async move {
            client
                .get(url)
                .bearer_auth(TOKEN)
                .send()
                .await
                .expect("get")
                .json::<Value>()
                .await
                .expect("json")
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "the request waits for an event");
    app.post_appeal(&appeal("crm", "lp-1", contact("Лев", "+7 912 910-00-01")))
        .await;
    let page = waiting.await.unwrap();
    assert_eq!(
        types(page["events"].as_array().unwrap()),
        ["appeal.accepted"]
    );
    assert_eq!(page["next"], page["events"][0]["id"]);
    app.stop().await;
}

#[tokio::test]
async fn types_limit_and_bad_queries() {
    let app = spawn_app_with(configure).await;
    for i in 0..3 {
        app.post_and_process(&appeal(
            "crm",
            &format!("t-{i}"),
            contact("Яна", &format!("+7 912 920-00-{i:02}")),
        ))
        .await;
    }
    let (status, page) = get(
        &app,
        "/api/v1/changes?types=interest.created,client.created&limit=2",
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert!(events
        .iter()
        .all(|e| e["type"] == "interest.created" || e["type"] == "client.created"));
    let (_, rest) = get(
        &app,
        &format!(
            "/api/v1/changes?types=interest.created,client.created&after={}",
            page["next"]
        ),
    )
    .await;
    assert_eq!(rest["events"].as_array().unwrap().len(), 4);

    for (query, field) in [
        ("types=deal.created", "types"),
        ("limit=0", "limit"),
        ("limit=5000", "limit"),
        ("wait=600", "wait"),
        ("after=-1", "after"),
    ] {
        let (status, problem) = get(&app, &format!("/api/v1/changes?{query}")).await;
        assert_eq!(
            (status, problem["field"].as_str()),
            (422, Some(field)),
            "{query}: {problem}"
        );
    }
    let (status, _) = get(&app, "/api/v1/changes?after=abc").await;
    assert_eq!(status, 400);
    let unauthorized = app
        .client
        .get(app.url("/api/v1/changes"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status().as_u16(), 401);
    let (_, openapi) = get(&app, "/api/openapi.json").await;
    assert!(openapi["paths"]["/api/v1/changes"]["get"].is_object());
    app.stop().await;
}

#[tokio::test]
async fn a_cursor_older_than_retention_gets_410() {
    let app = spawn_app_with(configure).await;
    app.post_and_process(&appeal("crm", "old-1", contact("Ося", "+7 912 930-00-01")))
        .await;
    let before = whole_feed(&app).await;
    let last = before.last().unwrap()["id"].as_i64().unwrap();
    let deleted = app
        .store
        .prune_events(leadgate::storage::now_ms() + 1000)
        .await
        .unwrap();
    assert_eq!(deleted as usize, before.len());
    let (status, problem) = get(&app, "/api/v1/changes?after=0").await;
    assert_eq!(status, 410, "{problem}");
    assert_eq!(problem["field"], "after");
    let (status, page) = get(&app, &format!("/api/v1/changes?after={last}")).await;
    assert_eq!(status, 200, "{page}");
    // New events go on after the old ids.
    app.post_and_process(&appeal("crm", "old-2", contact("Ося", "+7 912 930-00-02")))
        .await;
    let (_, page) = get(&app, &format!("/api/v1/changes?after={last}")).await;
    assert!(page["events"][0]["id"].as_i64().unwrap() > last);
    app.stop().await;
}

/// PostgreSQL hands ids out at insert, and transactions commit in any order:
/// an event committed after a smaller id was taken must wait for that id's
/// transaction, or a consumer reading past it would skip the smaller one.
/// (SQLite has one writer at a time: nothing to wait for there.)
#[tokio::test]
async fn an_event_waits_for_a_smaller_id_still_in_flight() {
    use leadgate::storage::Backend;
    use leadgate_domain::event::{EventType, NewEvent};
    let app = spawn_app_with(configure).await;
    if app.store.backend() != Backend::Postgres {
        app.stop().await;
        return;
    }
    let store = &app.store;
    let after = store.last_event_id().await.unwrap();
    let event = |n: i64| NewEvent::new(EventType::TaskCreated, json!({ "n": n }));
    let mut slow = store.begin_write().await.unwrap();
    store.append_events(slow.conn(), &[event(1)]).await.unwrap();
    let mut fast = store.begin_write().await.unwrap();
    store
        .append_events(fast.conn(), &[event(2), event(3)])
        .await
        .unwrap();
    fast.commit().await.unwrap();
    assert!(store
        .events_after(after, &[], 100)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.last_event_id().await.unwrap(), after);
    let (status, page) = get(&app, &format!("/api/v1/changes?after={after}")).await;
    assert_eq!(
        (status, page["events"].as_array().map(Vec::len)),
        (200, Some(0))
    );
    // A long poll wakes when the slow transaction commits.
    let poll = {
        let client = app.client.clone();
        let url = app.url(&format!("/api/v1/changes?after={after}&wait=20"));
        tokio::spawn(async move {
            let r = client.get(url).bearer_auth(TOKEN).send().await.unwrap();
            r.json::<Value>().await.unwrap()
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    slow.commit().await.unwrap();
    let page = poll.await.unwrap();
    let numbers: Vec<i64> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["data"]["n"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [1, 2, 3], "{page}");
    // An aborted transaction's id leaves a gap, and holds nothing up.
    let last = page["next"].as_i64().unwrap();
    let mut aborted = store.begin_write().await.unwrap();
    store
        .append_events(aborted.conn(), &[event(4)])
        .await
        .unwrap();
    let mut done = store.begin_write().await.unwrap();
    store.append_events(done.conn(), &[event(5)]).await.unwrap();
    done.commit().await.unwrap();
    assert!(store.events_after(last, &[], 100).await.unwrap().is_empty());
    // A rollback wakes nobody; the waiting long poll looks again by itself.
    let poll = {
        let client = app.client.clone();
        let url = app.url(&format!("/api/v1/changes?after={last}&wait=20"));
        tokio::spawn(async move {
            let r = client.get(url).bearer_auth(TOKEN).send().await.unwrap();
            r.json::<Value>().await.unwrap()
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    aborted.rollback().await.unwrap();
    let page = poll.await.unwrap();
    assert_eq!(page["events"][0]["data"]["n"], 5, "{page}");
    assert_eq!(page["events"].as_array().map(Vec::len), Some(1), "{page}");
    app.stop().await;
}
