use serde_json::{json, Value};

use crate::fakes::FakeVk;
use crate::helpers::{eventually, scalar, spawn_app_with, TestApp, TOKEN};
use crate::{appeal_id, use_fakes, vk_community, VK_SECRET, VK_TOKEN};
use leadgate::settings::VkMode;

fn message_new(event_id: &str, from_id: i64, text: &str) -> Value {
    json!({
        "type": "message_new",
        "event_id": event_id,
        "v": "5.199",
        "group_id": 1,
        "secret": VK_SECRET,
        "object": {
            "message": {
                "date": 1_700_000_000, "from_id": from_id, "id": 0, "out": 0, "version": 10001,
                "attachments": [], "conversation_message_id": 7, "fwd_messages": [], "important": false,
                "is_hidden": false, "peer_id": from_id, "random_id": 0, "text": text
            },
            "client_info": {"button_actions": ["text"], "keyboard": true, "inline_keyboard": true, "carousel": true, "lang_id": 0}
        }
    })
}

async fn post_callback(app: &TestApp, body: String, retry: Option<u32>) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/hooks/vk/main"))
        .header("content-type", "application/json")
        .body(body);
    if let Some(n) = retry {
        req = req.header("X-Retry-Counter", n.to_string());
    }
    req.send().await.expect("request")
}

async fn start() -> (TestApp, FakeVk) {
    let fake = FakeVk::start(VK_TOKEN).await;
    fake.inner
        .lock()
        .unwrap()
        .names
        .insert(1001, ("Иван".into(), "Петров".into()));
    let api = fake.api_url();
    let app = spawn_app_with(|s| use_fakes(s, "http://127.0.0.1:9", &api)).await;
    (app, fake)
}

#[tokio::test]
async fn confirmation_handshake_returns_the_configured_string() {
    let (app, _fake) = start().await;
    let resp = post_callback(
        &app,
        json!({"type": "confirmation", "group_id": 1}).to_string(),
        None,
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "placeholder-confirmation");
    let resp = post_callback(
        &app,
        json!({"type": "confirmation", "group_id": 2}).to_string(),
        None,
    )
    .await;
    assert_eq!(resp.status(), 403);
}

#[tokio::test]
async fn message_new_becomes_an_appeal_named_by_users_get() {
    let (app, fake) = start().await;
    let resp = post_callback(
        &app,
        message_new("ev-1", 1001, "Добрый день, нужен счёт").to_string(),
        None,
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "ok");
    let id = appeal_id(&app, "vk:main", "ev-1")
        .await
        .expect("stored before ok");
    let a = app.processed_appeal(id).await;
    assert_eq!(a["channel"], "vk");
    assert_eq!(a["contact"]["name"], "Иван Петров");
    assert_eq!(a["contact"]["vk"]["id"], 1001);
    assert_eq!(a["text"], "Добрый день, нужен счёт");
    assert_eq!(a["status"], "created");

    // Redeliveries (X-Retry-Counter) create nothing; the name comes from the cache.
    for n in 1..=2 {
        let resp = post_callback(
            &app,
            message_new("ev-1", 1001, "Добрый день, нужен счёт").to_string(),
            Some(n),
        )
        .await;
        assert_eq!(resp.text().await.unwrap(), "ok");
    }
    let resp = post_callback(
        &app,
        message_new("ev-2", 1001, "Ещё вопрос").to_string(),
        None,
    )
    .await;
    assert_eq!(resp.text().await.unwrap(), "ok");
    assert_eq!(
        scalar(
            &app.store,
            "SELECT COUNT(*) FROM appeals WHERE source = 'vk:main'"
        )
        .await,
        2
    );
    assert_eq!(fake.inner.lock().unwrap().users_get_calls, 1);
}

#[tokio::test]
async fn wrong_secret_is_403_and_nothing_is_stored() {
    let (app, _fake) = start().await;
    let mut event = message_new("ev-3", 1001, "hi");
    event["secret"] = json!("wrong");
    assert_eq!(
        post_callback(&app, event.to_string(), None).await.status(),
        403
    );
    event.as_object_mut().unwrap().remove("secret");
    assert_eq!(
        post_callback(&app, event.to_string(), None).await.status(),
        403
    );
    let unknown =
        json!({"type": "group_join", "group_id": 1, "event_id": "x", "object": {"user_id": 1}});
    assert_eq!(
        post_callback(&app, unknown.to_string(), None)
            .await
            .status(),
        403
    );
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM appeals").await, 0);
    assert_eq!(
        scalar(&app.store, "SELECT COUNT(*) FROM messenger_events").await,
        0
    );
}

#[tokio::test]
async fn bad_input_and_unknown_types() {
    let (app, _fake) = start().await;
    let resp = post_callback(&app, "not json".into(), None).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let resp = post_callback(
        &app,
        json!({"group_id": 1, "secret": VK_SECRET}).to_string(),
        None,
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap()["field"], "type");
    // Unknown types are kept raw and answered ok.
    let unknown = json!({"type": "wall_post_new", "event_id": "ev-w", "group_id": 1, "secret": VK_SECRET, "object": {"id": 5}});
    let resp = post_callback(&app, unknown.to_string(), None).await;
    assert_eq!(resp.text().await.unwrap(), "ok");
    // message_new without from_id: kept raw, ok.
    let mut broken = message_new("ev-b", 1001, "x");
    broken["object"]["message"]
        .as_object_mut()
        .unwrap()
        .remove("from_id");
    assert_eq!(
        post_callback(&app, broken.to_string(), None)
            .await
            .text()
            .await
            .unwrap(),
        "ok"
    );
    assert_eq!(
        scalar(&app.store, "SELECT COUNT(*) FROM messenger_events").await,
        2
    );
    // 4,096 characters with emoji and RTL text, and a user VK does not know.
    let long: String = "مرحبا 🇷🇺 שלום ".chars().cycle().take(4096).collect();
    assert_eq!(
        post_callback(&app, message_new("ev-long", 2002, &long).to_string(), None)
            .await
            .text()
            .await
            .unwrap(),
        "ok"
    );
    let id = appeal_id(&app, "vk:main", "ev-long").await.unwrap();
    let a = app.processed_appeal(id).await;
    assert_eq!(a["text"].as_str().unwrap(), long);
    assert!(a["contact"]["name"].is_null());
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM appeals").await, 1);
}

#[tokio::test]
async fn message_reply_joins_the_feed_and_creates_nothing() {
    let (app, _fake) = start().await;
    post_callback(
        &app,
        message_new("ev-10", 1001, "Нужна консультация").to_string(),
        None,
    )
    .await;
    let id = appeal_id(&app, "vk:main", "ev-10").await.unwrap();
    let interest = app.processed_appeal(id).await["interest_id"]
        .as_i64()
        .unwrap();
    let interests_before = scalar(&app.store, "SELECT COUNT(*) FROM interests").await;
    let reply = json!({
        "type": "message_reply", "event_id": "ev-11", "group_id": 1, "secret": VK_SECRET, "v": "5.199",
        "object": {"date": 1_700_000_100, "from_id": -1, "id": 55, "out": 1, "peer_id": 1001,
                   "text": "Здравствуйте! Сейчас подскажу.", "conversation_message_id": 8, "random_id": 0,
                   "attachments": [], "admin_author_id": 42}
    });
    assert_eq!(
        post_callback(&app, reply.to_string(), None)
            .await
            .text()
            .await
            .unwrap(),
        "ok"
    );
    let rid = appeal_id(&app, "vk:main", "ev-11").await.unwrap();
    let r = app.processed_appeal(rid).await;
    assert_eq!(r["interest_id"], interest);
    assert_eq!(
        scalar(&app.store, "SELECT COUNT(*) FROM interests").await,
        interests_before
    );
    let (_, details) = app.get_json(&format!("/api/v1/interests/{interest}")).await;
    assert!(details["feed"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["appeal_id"] == rid && e["kind"] == "message"));
    // A reply in a conversation we never saw is kept raw only.
    let mut stray = reply.clone();
    stray["event_id"] = json!("ev-12");
    stray["object"]["peer_id"] = json!(424242);
    assert_eq!(
        post_callback(&app, stray.to_string(), None)
            .await
            .text()
            .await
            .unwrap(),
        "ok"
    );
    assert!(appeal_id(&app, "vk:main", "ev-12").await.is_none());
}

#[tokio::test]
async fn reply_reaches_vk_once_when_the_first_answer_is_lost() {
    let (app, fake) = start().await;
    fake.inner.lock().unwrap().fail_after_delivery = 1;
    post_callback(
        &app,
        message_new("ev-20", 1001, "Сколько стоит?").to_string(),
        None,
    )
    .await;
    let id = appeal_id(&app, "vk:main", "ev-20").await.unwrap();
    let interest = app.processed_appeal(id).await["interest_id"]
        .as_i64()
        .unwrap();
    let resp = app
        .client
        .post(app.url(&format!("/api/v1/interests/{interest}/messages")))
        .bearer_auth(TOKEN)
        .json(&json!({"text": "1500 ₽ 😊"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    eventually("sent", || async {
        (scalar(
            &app.store,
            "SELECT COUNT(*) FROM messenger_outbox WHERE status = 'sent'",
        )
        .await
            == 1)
            .then_some(())
    })
    .await;
    let delivered = fake.delivered();
    assert_eq!(delivered.len(), 1);
    assert_eq!(
        (delivered[0].0, delivered[0].1.as_str()),
        (1001, "1500 ₽ 😊")
    );
    assert_eq!(
        scalar(
            &app.store,
            "SELECT COUNT(*) FROM messenger_outbox WHERE attempts = 2"
        )
        .await,
        1
    );
    // VK echoes our own message as message_reply with its random_id: no second feed entry.
    let random_id = delivered[0].2;
    let echo = json!({
        "type": "message_reply", "event_id": "ev-21", "group_id": 1, "secret": VK_SECRET,
        "object": {"date": 1_700_000_200, "from_id": -1, "id": 1, "peer_id": 1001, "text": "1500 ₽ 😊", "random_id": random_id}
    });
    assert_eq!(
        post_callback(&app, echo.to_string(), None)
            .await
            .text()
            .await
            .unwrap(),
        "ok"
    );
    assert!(appeal_id(&app, "vk:main", "ev-21").await.is_none());
    let (_, details) = app.get_json(&format!("/api/v1/interests/{interest}")).await;
    let feed = details["feed"].as_array().unwrap();
    assert_eq!(
        feed.iter().filter(|e| e["kind"] == "message_out").count(),
        1
    );
}

#[tokio::test]
async fn long_poll_follows_failed_codes() {
    let fake = FakeVk::start(VK_TOKEN).await;
    {
        let mut inner = fake.inner.lock().unwrap();
        inner.names.insert(3003, ("Анна".into(), "Смирнова".into()));
        inner.script.push_back(json!({"failed": 1, "ts": "130"}));
        inner.script.push_back(json!({"failed": 2}));
        inner.script.push_back(json!({"failed": 3}));
        let mut update = message_new("lp-1", 3003, "Из long poll");
        update.as_object_mut().unwrap().remove("secret");
        inner
            .script
            .push_back(json!({"ts": "131", "updates": [update]}));
    }
    let api = fake.api_url();
    let app = spawn_app_with(|s| {
        s.vk.communities
            .insert("lp".into(), vk_community(&api, VkMode::Longpoll));
    })
    .await;
    let id = eventually("long poll appeal", || async {
        appeal_id(&app, "vk:lp", "lp-1").await
    })
    .await;
    let a = app.processed_appeal(id).await;
    assert_eq!(a["contact"]["name"], "Анна Смирнова");
    let checks = fake.inner.lock().unwrap().checks.clone();
    // 1st: key1 at the server's ts; failed 1 → the new ts 130 with the same key;
    // failed 2 → a new key, ts kept; failed 3 → a new key and the server's ts.
    assert_eq!(checks[0], ("key1".to_string(), "100".to_string()));
    assert_eq!(checks[1], ("key1".to_string(), "130".to_string()));
    assert_eq!(checks[2], ("key2".to_string(), "130".to_string()));
    assert_eq!(checks[3], ("key3".to_string(), "100".to_string()));
    eventually("ts saved", || async {
        let v = app.store.messenger_cursor("vk:lp:ts").await.unwrap();
        (v.as_deref() == Some("131")).then_some(())
    })
    .await;
}
