use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{appeal, eventually, scalar_with, spawn_app_with, TOKEN};
use crate::receiver::{python_verifies, signed_with_all, Receiver};
use crate::{
    configure, contact, in_days, post, types, webhook, whole_feed, IVANOVA, OLD_SECRET, SECRET,
    SMIRNOVA,
};

fn count(types: &[String], name: &str) -> usize {
    types.iter().filter(|t| *t == name).count()
}

#[tokio::test]
async fn every_action_journals_its_events_once_and_the_receiver_gets_them_signed_in_order() {
    let receiver = Receiver::start().await;
    let url = receiver.url();
    let app = spawn_app_with(|s| {
        configure(s);
        s.webhooks = vec![webhook("crm", &url, &["*"])];
    })
    .await;

    // A new client: accepted, decided, client, interest and its first task.
    let first = app
        .post_and_process(&appeal(
            "crm",
            "e-1",
            contact("Ольга Кузнецова", "+7 912 500-00-01"),
        ))
        .await;
    let interest = first["interest_id"].as_i64().expect("interest");
    // The same person again: the appeal joins her interest.
    let again = app
        .post_and_process(&appeal("site", "e-2", contact("Ольга", "8 912 500 00 01")))
        .await;
    assert_eq!(again["status"], "linked", "{again}");

    // The stage moves on, with a next call planned.
    let call = json!({"type": "interaction", "kind": "call", "at": in_days(1), "subject": "КП"});
    let moved = post(
        &app,
        IVANOVA,
        &format!("/api/v1/interests/{interest}/transition"),
        json!({"to": "offer", "result": "Запросил КП", "next": call}),
    )
    .await;
    assert_eq!(moved.0, 200, "{}", moved.1);
    // A task by hand, completed; another one that the sweep finds overdue.
    let (status, task) = post(
        &app,
        IVANOVA,
        &format!("/api/v1/interests/{interest}/tasks"),
        json!({"title": "Подготовить образцы", "due": in_days(3)}),
    )
    .await;
    assert_eq!(status, 201, "{task}");
    let task_id = task["id"]
        .as_i64()
        .or(task["task_id"].as_i64())
        .expect("task id");
    let (status, done) = post(
        &app,
        IVANOVA,
        &format!("/api/v1/tasks/{task_id}/complete"),
        json!({"result": "Готово"}),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    let mut tx = app.store.begin_write().await.expect("tx");
    let overdue = app
        .store
        .mark_overdue(tx.conn(), chrono::Utc::now() + chrono::Duration::days(400))
        .await
        .expect("sweep");
    tx.commit().await.expect("commit");
    assert!(!overdue.is_empty());

    // Lost, returned to work by the head, lost again and approved.
    let transition = format!("/api/v1/interests/{interest}/transition");
    let lost = json!({"to": "lost", "result": "Молчит", "reason": "Клиент не выходит на связь"});
    let (status, pending) = post(&app, IVANOVA, &transition, lost.clone()).await;
    assert_eq!(status, 200, "{pending}");
    let (status, back) = post(
        &app,
        SMIRNOVA,
        &format!("/api/v1/interests/{interest}/loss/return"),
        json!({"to": "offer", "comment": "Рано",
               "next": {"type": "task", "title": "Позвонить директору", "due": in_days(2)}}),
    )
    .await;
    assert_eq!(status, 200, "{back}");
    let (status, pending) = post(&app, IVANOVA, &transition, lost).await;
    assert_eq!(status, 200, "{pending}");
    let (status, approved) = post(
        &app,
        SMIRNOVA,
        &format!("/api/v1/interests/{interest}/loss/approve"),
        json!({"comment": "Согласна"}),
    )
    .await;
    assert_eq!(status, 200, "{approved}");

    // An appeal whose keys point at two clients goes to review and is decided.
    let a = app
        .post_and_process(&appeal(
            "crm",
            "r-a",
            contact("Анна Кузнецова", "+7 912 300-00-01"),
        ))
        .await;
    let b = app
        .post_and_process(&appeal(
            "crm",
            "r-b",
            json!({"name": "ООО Ромашка", "emails": ["shared@example.ru"]}),
        ))
        .await;
    let c = app
        .post_and_process(&appeal(
            "site",
            "r-c",
            json!({"name": "Анна К.", "phones": ["+7 912 300-00-01"], "emails": ["shared@example.ru"]}),
        ))
        .await;
    assert_eq!(c["status"], "review", "{c}");
    let review_id = scalar_with(
        &app.store,
        "SELECT id FROM review_items WHERE appeal_id = $1",
        c["id"].as_i64().expect("id"),
    )
    .await;
    let (status, out) = post(
        &app,
        TOKEN,
        &format!("/api/v1/review/{review_id}/decision"),
        json!({"action": "link", "client_id": a["client_id"]}),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    // A merge, and its undo.
    let (status, merged) = post(
        &app,
        TOKEN,
        "/api/v1/clients/merge",
        json!({"into": a["client_id"], "from": b["client_id"]}),
    )
    .await;
    assert_eq!(status, 200, "{merged}");
    let merge_id = merged["merge_id"].as_i64().expect("merge id");
    let (status, undone) = post(
        &app,
        TOKEN,
        &format!("/api/v1/merges/{merge_id}/undo"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{undone}");

    let feed = whole_feed(&app).await;
    // docs/integration.md's examples come from here.
    if let Ok(path) = std::env::var("LEADGATE_DUMP_EVENTS") {
        std::fs::write(path, serde_json::to_string_pretty(&feed).unwrap()).unwrap();
    }
    let kinds = types(&feed);
    for kind in [
        "appeal.accepted",
        "appeal.decided",
        "appeal.review_decided",
        "client.created",
        "client.merged",
        "client.unmerged",
        "interest.created",
        "interest.linked_appeal",
        "interest.stage_changed",
        "interest.lost",
        "interest.loss_approved",
        "interest.returned",
        "task.created",
        "task.completed",
        "task.overdue",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "no {kind} in {kinds:?}");
    }
    // Once per cause.
    assert_eq!(count(&kinds, "appeal.accepted"), 5, "{kinds:?}");
    assert_eq!(count(&kinds, "client.created"), 3, "{kinds:?}");
    assert_eq!(count(&kinds, "appeal.review_decided"), 1);
    assert_eq!(count(&kinds, "client.merged"), 1);
    assert_eq!(count(&kinds, "client.unmerged"), 1);
    assert_eq!(count(&kinds, "interest.returned"), 1);
    assert_eq!(count(&kinds, "interest.loss_approved"), 1);
    assert_eq!(count(&kinds, "interest.lost"), 1);
    assert_eq!(count(&kinds, "task.overdue"), overdue.len());
    let task_events: Vec<&Value> = feed
        .iter()
        .filter(|e| e["type"] == "task.completed" && e["data"]["task"]["id"] == task_id)
        .collect();
    assert_eq!(task_events.len(), 1, "the manual task completes once");
    // Ids strictly increase; the first event of an interest comes first.
    let ids: Vec<i64> = feed.iter().map(|e| e["id"].as_i64().expect("id")).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let created_at = kinds
        .iter()
        .position(|k| k == "interest.created")
        .expect("created");
    let moved_at = kinds
        .iter()
        .position(|k| k == "interest.stage_changed")
        .expect("moved");
    assert!(created_at < moved_at);
    // Payloads are the read API's views.
    let decided = feed
        .iter()
        .find(|e| e["type"] == "appeal.decided" && e["data"]["appeal"]["id"] == first["id"])
        .expect("decided");
    assert_eq!(decided["data"]["appeal"]["status"], "created");
    assert_eq!(decided["data"]["appeal"]["interest_id"], interest);
    assert!(decided["data"]["decision"]["kind"].is_string(), "{decided}");
    let created = feed
        .iter()
        .find(|e| e["type"] == "interest.created")
        .expect("interest.created");
    assert_eq!(created["data"]["interest"]["id"], interest);
    assert_eq!(created["data"]["interest"]["responsible"], "ivanova");
    let client = feed
        .iter()
        .find(|e| e["type"] == "client.created")
        .expect("client.created");
    assert_eq!(client["data"]["client"]["id"], first["client_id"]);
    assert_eq!(
        client["data"]["client"]["contact_persons"][0]["contact_points"][0]["value"],
        "+79125000001"
    );

    // The receiver gets the same events, in the same order, each signed
    // with both secrets (a rotation), the body being the event.
    let delivered = eventually("every event delivered", async || {
        let got = receiver.accepted();
        (got.len() >= feed.len()).then_some(got)
    })
    .await;
    assert_eq!(delivered.len(), feed.len());
    for (d, e) in delivered.iter().zip(&feed) {
        assert_eq!(d.json(), *e);
        assert_eq!(d.id, format!("evt_{}", e["id"]));
        assert!(
            signed_with_all(d, &[SECRET, OLD_SECRET]),
            "bad signature on {}",
            d.id
        );
        assert!(!signed_with_all(
            d,
            &["whsec_d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA=="]
        ));
    }
    if let Some(ok) = python_verifies(&delivered[0], SECRET) {
        assert!(ok, "Python's hmac disagrees with the signature");
    }

    // The state shows in the API, the metrics and the CLI's store calls.
    let (status, hooks) =
        crate::call(&app, reqwest::Method::GET, TOKEN, "/api/v1/webhooks", None).await;
    assert_eq!(status, 200, "{hooks}");
    assert_eq!(hooks[0]["name"], "crm");
    // The position is saved a moment after the deliveries.
    let delivered_line = format!(
        "leadgate_webhook_delivered_total{{endpoint=\"crm\"}} {}",
        feed.len()
    );
    eventually("the metrics to show every delivery", async || {
        let metrics = app.metrics().await;
        (metrics.contains(&delivered_line)
            && metrics.contains("leadgate_webhook_lag_events{endpoint=\"crm\"} 0"))
        .then_some(())
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_receiver_that_is_down_then_back_gets_everything_in_order_once_per_id() {
    let port = crate::helpers::free_port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let app = spawn_app_with(|s| {
        configure(s);
        s.webhooks = vec![webhook("erp", &url, &["interest.*", "appeal.accepted"])];
    })
    .await;
    // Nobody listens yet: every attempt fails to connect.
    for i in 0..6 {
        app.post_and_process(&appeal(
            "crm",
            &format!("d-{i}"),
            contact("Пётр", &format!("+7 912 600-00-{i:02}")),
        ))
        .await;
    }
    eventually("a failed attempt recorded", async || {
        let s = app.store.webhook_endpoint("erp").await.ok().flatten()?;
        (s.attempts >= 1 && s.last_error.is_some()).then_some(())
    })
    .await;
    // Back, but failing with 503 for a while; then well.
    let receiver = Receiver::start_on(port).await;
    receiver.answer(503);
    eventually("a 503 seen", async || {
        (!receiver.all().is_empty()).then_some(())
    })
    .await;
    receiver.answer(200);
    for i in 6..9 {
        app.post_and_process(&appeal(
            "crm",
            &format!("d-{i}"),
            contact("Пётр", &format!("+7 912 600-00-{i:02}")),
        ))
        .await;
    }
    let wanted: Vec<Value> = whole_feed(&app)
        .await
        .into_iter()
        .filter(|e| {
            let t = e["type"].as_str().unwrap_or("");
            t.starts_with("interest.") || t == "appeal.accepted"
        })
        .collect();
    let delivered = eventually("all wanted events delivered", async || {
        let got = receiver.accepted();
        (got.len() >= wanted.len()).then_some(got)
    })
    .await;
    let ids: Vec<String> = delivered.iter().map(|d| d.id.clone()).collect();
    let expected: Vec<String> = wanted.iter().map(|e| format!("evt_{}", e["id"])).collect();
    assert_eq!(ids, expected, "in journal order, each once");
    // The failed attempts carried the same webhook-id as the success.
    let first_failed = receiver
        .all()
        .into_iter()
        .find(|d| d.answered == 503)
        .expect("503");
    assert!(expected.contains(&first_failed.id));
    for d in &delivered {
        assert!(signed_with_all(d, &[SECRET]));
    }
    let last = wanted.last().unwrap()["id"].as_i64().unwrap();
    let state = eventually("the position saved", async || {
        let s = app.store.webhook_endpoint("erp").await.ok().flatten()?;
        (s.position >= last).then_some(s)
    })
    .await;
    assert_eq!(state.retry_event, None);
    assert_eq!(state.attempts, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_410_disables_the_endpoint_until_a_replay() {
    let receiver = Receiver::start().await;
    receiver.answer(410);
    let url = receiver.url();
    let app = spawn_app_with(|s| {
        configure(s);
        s.webhooks = vec![webhook("gone", &url, &["appeal.accepted"])];
    })
    .await;
    app.post_and_process(&appeal("crm", "g-1", contact("Вера", "+7 912 700-00-01")))
        .await;
    let state = eventually("the endpoint disabled", async || {
        let s = app.store.webhook_endpoint("gone").await.ok().flatten()?;
        s.disabled_at_ms.is_some().then_some(s)
    })
    .await;
    assert!(state.disabled_reason.unwrap().contains("410"));
    app.post_and_process(&appeal("crm", "g-2", contact("Вера", "+7 912 700-00-02")))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.all().len(),
        1,
        "nothing more is sent to a disabled endpoint"
    );
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("leadgate_webhook_disabled{endpoint=\"gone\"} 1"),
        "{metrics}"
    );

    // The receiver is fixed; the administrator replays from the first event.
    receiver.answer(200);
    let (status, body) = post(
        &app,
        TOKEN,
        "/api/v1/webhooks/gone/replay",
        json!({"from": 1}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let got = eventually("both appeals delivered", async || {
        let got = receiver.accepted();
        (got.len() >= 2).then_some(got)
    })
    .await;
    assert_eq!(got.len(), 2);
    let (status, _) = post(
        &app,
        TOKEN,
        "/api/v1/webhooks/nope/replay",
        json!({"from": 1}),
    )
    .await;
    assert_eq!(status, 404);
    app.stop().await;
}

#[tokio::test]
async fn a_delivery_failing_past_its_window_is_marked_failed_and_can_be_replayed() {
    let receiver = Receiver::start().await;
    receiver.answer(500);
    let url = receiver.url();
    let app = spawn_app_with(|s| {
        configure(s);
        let mut hook = webhook("short", &url, &["appeal.accepted"]);
        hook.retry_hours = 1;
        s.webhooks = vec![hook];
    })
    .await;
    app.post_and_process(&appeal("crm", "f-1", contact("Вера", "+7 912 710-00-01")))
        .await;
    eventually("a failed attempt", async || {
        let s = app.store.webhook_endpoint("short").await.ok().flatten()?;
        (s.attempts >= 1).then_some(())
    })
    .await;
    // The retry window has passed (the first attempt is made older, again
    // until the sender has seen it).
    let failures = eventually("the delivery marked failed", async || {
        sqlx::query(
            "UPDATE webhook_endpoints SET first_attempt_at = 0, next_attempt_at = 0 \
             WHERE retry_event IS NOT NULL",
        )
        .execute(app.store.pool())
        .await
        .ok()?;
        let f = app.store.webhook_failures("short", 10).await.ok()?;
        (!f.is_empty()).then_some(f)
    })
    .await;
    assert_eq!(failures[0].last_status, Some(500));
    let state = app.store.webhook_endpoint("short").await.unwrap().unwrap();
    assert_eq!(state.failed, 1);
    // The next event is not held up by the failed one.
    receiver.answer(200);
    app.post_and_process(&appeal("crm", "f-2", contact("Вера", "+7 912 710-00-02")))
        .await;
    eventually("the next event delivered", async || {
        (receiver.accepted().len() == 1).then_some(())
    })
    .await;
    app.store
        .replay_webhook("short", failures[0].event_id)
        .await
        .unwrap();
    let got = eventually("the failed one replayed", async || {
        let got = receiver.accepted();
        (got.len() >= 3).then_some(got)
    })
    .await;
    assert_eq!(got[1].id, format!("evt_{}", failures[0].event_id));
    app.stop().await;
}

#[tokio::test]
async fn a_slow_receiver_does_not_slow_intake() {
    let receiver = Receiver::start().await;
    receiver.delay(Duration::from_secs(3));
    let url = receiver.url();
    let app = spawn_app_with(|s| {
        configure(s);
        s.webhooks = vec![webhook("slow", &url, &["*"])];
    })
    .await;
    // Twenty appeals are accepted and processed while the receiver is still
    // on its first delivery or two.
    for i in 0..20 {
        app.post_and_process(&appeal(
            "crm",
            &format!("s-{i}"),
            contact("Нина", &format!("+7 912 800-00-{i:02}")),
        ))
        .await;
    }
    let journaled = whole_feed(&app).await.len();
    assert!(journaled >= 60, "{journaled}");
    assert!(
        receiver.all().len() < journaled / 2,
        "intake went on while deliveries waited"
    );
    app.stop().await;
}
