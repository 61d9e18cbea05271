use serde_json::{json, Value};

use crate::fakes::FakeTelegram;
use crate::helpers::{self, eventually, scalar, spawn_app_with, TestApp, TOKEN};
use crate::{appeal_id, restart_on, tg_bot, use_fakes, TG_SECRET, TG_TOKEN};
use leadgate::settings::TelegramMode;

fn text_update(update_id: i64, user_id: i64, text: &str) -> Value {
    json!({
        "update_id": update_id,
        "message": {
            "message_id": update_id * 10,
            "date": 1_700_000_000,
            "chat": {"id": user_id, "type": "private", "first_name": "Иван"},
            "from": {"id": user_id, "is_bot": false, "first_name": "Иван", "last_name": "Петров",
                     "username": "ivan_petrov", "language_code": "ru"},
            "text": text
        }
    })
}

async fn post_hook(app: &TestApp, secret: Option<&str>, body: String) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/hooks/telegram/sales"))
        .header("content-type", "application/json")
        .body(body);
    if let Some(s) = secret {
        req = req.header("X-Telegram-Bot-Api-Secret-Token", s);
    }
    req.send().await.expect("request")
}

async fn start() -> (TestApp, FakeTelegram) {
    let fake = FakeTelegram::start(TG_TOKEN).await;
    let url = fake.url.clone();
    let app = spawn_app_with(|s| use_fakes(s, &url, "http://127.0.0.1:9/method")).await;
    (app, fake)
}

#[tokio::test]
async fn text_message_becomes_an_appeal_with_the_contact() {
    let (app, _fake) = start().await;
    let resp = post_hook(
        &app,
        Some(TG_SECRET),
        text_update(1001, 555, "Сколько стоит доставка?").to_string(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let id = appeal_id(&app, "telegram:sales", "1001")
        .await
        .expect("stored before the answer");
    let appeal = app.processed_appeal(id).await;
    assert_eq!(appeal["channel"], "telegram");
    assert_eq!(appeal["contact"]["name"], "Иван Петров");
    assert_eq!(appeal["contact"]["telegram"]["id"], 555);
    assert_eq!(appeal["contact"]["telegram"]["username"], "ivan_petrov");
    assert_eq!(appeal["text"], "Сколько стоит доставка?");
    assert_eq!(appeal["status"], "created");
    assert_eq!(appeal["attributes"]["telegram"]["chat_id"], 555);

    // The next message in the conversation joins the interest's feed.
    let resp = post_hook(
        &app,
        Some(TG_SECRET),
        text_update(1002, 555, "И ещё вопрос").to_string(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let second = appeal_id(&app, "telegram:sales", "1002").await.unwrap();
    let second = app.processed_appeal(second).await;
    assert_eq!(second["status"], "linked");
    assert_eq!(second["interest_id"], appeal["interest_id"]);
}

#[tokio::test]
async fn redelivered_update_creates_nothing_new() {
    let (app, _fake) = start().await;
    let body = text_update(2001, 556, "Здравствуйте").to_string();
    for _ in 0..3 {
        assert_eq!(
            post_hook(&app, Some(TG_SECRET), body.clone())
                .await
                .status(),
            200
        );
    }
    assert_eq!(
        scalar(
            &app.store,
            "SELECT COUNT(*) FROM appeals WHERE source = 'telegram:sales'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn wrong_or_missing_secret_is_401_and_nothing_is_stored() {
    let (app, _fake) = start().await;
    let body = text_update(3001, 557, "hi").to_string();
    for secret in [Some("wrong-secret"), None, Some("")] {
        let resp = post_hook(&app, secret, body.clone()).await;
        assert_eq!(resp.status(), 401);
        assert_eq!(resp.headers()["content-type"], "application/problem+json");
    }
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM appeals").await, 0);
    assert_eq!(
        scalar(&app.store, "SELECT COUNT(*) FROM messenger_events").await,
        0
    );
}

#[tokio::test]
async fn shared_contact_adds_a_phone_only_when_it_is_the_senders_own() {
    let (app, _fake) = start().await;
    let mut own = text_update(4001, 600, "");
    own["message"].as_object_mut().unwrap().remove("text");
    own["message"]["contact"] =
        json!({"phone_number": "+79161234567", "first_name": "Иван", "user_id": 600});
    assert_eq!(
        post_hook(&app, Some(TG_SECRET), own.to_string())
            .await
            .status(),
        200
    );
    let id = appeal_id(&app, "telegram:sales", "4001").await.unwrap();
    let a = app.processed_appeal(id).await;
    assert_eq!(a["contact"]["phones"], json!(["+79161234567"]));

    let mut other = text_update(4002, 601, "");
    other["message"].as_object_mut().unwrap().remove("text");
    other["message"]["contact"] = json!({"phone_number": "+79169998877", "first_name": "Пётр", "last_name": "Сидоров", "user_id": 777});
    assert_eq!(
        post_hook(&app, Some(TG_SECRET), other.to_string())
            .await
            .status(),
        200
    );
    let id = appeal_id(&app, "telegram:sales", "4002").await.unwrap();
    let a = app.processed_appeal(id).await;
    assert_eq!(a["contact"]["phones"], json!([]));
    assert!(a["text"].as_str().unwrap().contains("+79169998877"));
    assert!(a["text"].as_str().unwrap().contains("Пётр Сидоров"));

    // A card without user_id (not a Telegram user) is someone else's too.
    let mut anonymous = text_update(4003, 602, "");
    anonymous["message"]["contact"] = json!({"phone_number": "+79160000000", "first_name": "X"});
    assert_eq!(
        post_hook(&app, Some(TG_SECRET), anonymous.to_string())
            .await
            .status(),
        200
    );
    let id = appeal_id(&app, "telegram:sales", "4003").await.unwrap();
    assert_eq!(
        app.processed_appeal(id).await["contact"]["phones"],
        json!([])
    );
}

#[tokio::test]
async fn start_payload_and_attachments_are_kept() {
    let (app, _fake) = start().await;
    let update = text_update(5001, 610, "/start utm_spring-sale");
    assert_eq!(
        post_hook(&app, Some(TG_SECRET), update.to_string())
            .await
            .status(),
        200
    );
    let id = appeal_id(&app, "telegram:sales", "5001").await.unwrap();
    let a = app.processed_appeal(id).await;
    assert_eq!(a["attributes"]["start_payload"], "utm_spring-sale");

    let mut photo = text_update(5002, 611, "");
    let m = photo["message"].as_object_mut().unwrap();
    m.remove("text");
    m.insert("caption".into(), json!("Вот такой нужен"));
    m.insert("photo".into(), json!([
        {"file_id": "small", "file_unique_id": "s1", "width": 90, "height": 60, "file_size": 1200},
        {"file_id": "big", "file_unique_id": "b1", "width": 1280, "height": 853, "file_size": 98765}
    ]));
    m.insert("document".into(), json!({"file_id": "doc1", "file_unique_id": "d1", "file_name": "ТЗ.pdf", "mime_type": "application/pdf", "file_size": 5555}));
    assert_eq!(
        post_hook(&app, Some(TG_SECRET), photo.to_string())
            .await
            .status(),
        200
    );
    let id = appeal_id(&app, "telegram:sales", "5002").await.unwrap();
    let stored = app.store.appeal(id).await.unwrap().unwrap();
    assert_eq!(stored.text.as_deref(), Some("Вот такой нужен"));
    assert_eq!(stored.attachments.len(), 2);
    assert_eq!(stored.attachments[0].size, 98765);
    assert_eq!(stored.attachments[1].name, "ТЗ.pdf");
}

#[tokio::test]
async fn bad_input_is_refused_or_kept_raw_never_500() {
    let (app, _fake) = start().await;
    // Invalid JSON: 400 problem+json.
    let resp = post_hook(&app, Some(TG_SECRET), "{\"update_id\": 1, ".into()).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    // No update_id: nothing to key it on.
    let resp = post_hook(&app, Some(TG_SECRET), json!({"message": {}}).to_string()).await;
    assert_eq!(resp.status(), 400);
    let problem: Value = resp.json().await.unwrap();
    assert_eq!(problem["field"], "update_id");
    // Unknown update type: kept raw, counted, 200.
    let unknown = json!({"update_id": 6001, "business_connection_v9": {"id": "x"}});
    assert_eq!(
        post_hook(&app, Some(TG_SECRET), unknown.to_string())
            .await
            .status(),
        200
    );
    assert_eq!(
        post_hook(&app, Some(TG_SECRET), unknown.to_string())
            .await
            .status(),
        200
    );
    // A message missing its chat: kept raw.
    let broken = json!({"update_id": 6002, "message": {"message_id": 1, "text": "hi"}});
    assert_eq!(
        post_hook(&app, Some(TG_SECRET), broken.to_string())
            .await
            .status(),
        200
    );
    assert_eq!(
        scalar(&app.store, "SELECT COUNT(*) FROM messenger_events").await,
        2
    );
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM appeals").await, 0);
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("reason=\"unknown_update\"} 1"),
        "{metrics}"
    );
    // Group chats are ignored unless allowed.
    let mut group = text_update(6003, 620, "всем привет");
    group["message"]["chat"] = json!({"id": -100123, "type": "supergroup", "title": "Chat"});
    assert_eq!(
        post_hook(&app, Some(TG_SECRET), group.to_string())
            .await
            .status(),
        200
    );
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM appeals").await, 0);
    // 4,096 characters with emoji and right-to-left text arrive intact.
    let long: String = "שלום 👋🏽 مرحبا ".chars().cycle().take(4096).collect();
    let update = text_update(6004, 621, &long);
    assert_eq!(
        post_hook(&app, Some(TG_SECRET), update.to_string())
            .await
            .status(),
        200
    );
    let id = appeal_id(&app, "telegram:sales", "6004").await.unwrap();
    let a = app.processed_appeal(id).await;
    assert_eq!(a["text"].as_str().unwrap(), long);
    // Unknown bot: 404.
    let resp = app
        .client
        .post(app.url("/hooks/telegram/nope"))
        .header("X-Telegram-Bot-Api-Secret-Token", TG_SECRET)
        .body(text_update(1, 1, "x").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn stored_before_the_ack_survives_a_crash_before_processing() {
    let first = helpers::spawn_app_without_pipeline().await;
    let resp = post_hook(
        &first,
        Some(TG_SECRET),
        text_update(7001, 700, "Перезвоните").to_string(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    // Acknowledged means committed: the row is there, still pending.
    let id = appeal_id(&first, "telegram:sales", "7001")
        .await
        .expect("stored before the 200");
    assert_eq!(
        first
            .store
            .appeal(id)
            .await
            .unwrap()
            .unwrap()
            .status
            .as_str(),
        "pending"
    );
    let settings = first.settings.clone();
    // The instance dies without processing; another one picks the appeal up.
    let (address, stop) = restart_on(settings).await;
    let client = reqwest::Client::new();
    let processed = eventually("processing after restart", || {
        let client = client.clone();
        let address = address.clone();
        async move {
            let body: Value = client
                .get(format!("{address}/api/v1/appeals/{id}"))
                .bearer_auth(TOKEN)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            (body["status"] != "pending").then_some(body)
        }
    })
    .await;
    assert_eq!(processed["status"], "created");
    stop.cancel();
    first.stop().await;
}

#[tokio::test]
async fn long_polling_takes_jumping_ids_and_survives_conflicts() {
    let fake = FakeTelegram::start(TG_TOKEN).await;
    fake.inner.lock().unwrap().conflicts_left = 1;
    for id in [10, 11, 500] {
        fake.push_update(text_update(id, 800 + id, &format!("сообщение {id}")));
    }
    let url = fake.url.clone();
    let app = spawn_app_with(|s| {
        s.telegram
            .bots
            .insert("poller".into(), tg_bot(&url, TelegramMode::Polling));
    })
    .await;
    eventually("three appeals", || async {
        (scalar(
            &app.store,
            "SELECT COUNT(*) FROM appeals WHERE source = 'telegram:poller'",
        )
        .await
            == 3)
            .then_some(())
    })
    .await;
    // The offset moves past the highest id and is kept in the database.
    eventually("offset saved", || async {
        let v = app
            .store
            .messenger_cursor("telegram:poller:offset")
            .await
            .unwrap();
        (v.as_deref() == Some("501")).then_some(())
    })
    .await;
    eventually("fake saw offset 501", || async {
        fake.inner
            .lock()
            .unwrap()
            .offsets_seen
            .contains(&501)
            .then_some(())
    })
    .await;
    assert!(fake.inner.lock().unwrap().conflicts_answered >= 1);
    assert!(fake.inner.lock().unwrap().queue.is_empty());
    let settings = app.settings.clone();
    // Keep the database (a SQLite file in the app's temp dir) beyond this instance.
    let mut app = app;
    let _db = std::mem::replace(&mut app.db, helpers::fresh_db().await);
    app.stop().await;

    // A crash after storing but before the offset was saved: the same updates
    // come again and create nothing new.
    app_reset_cursor(&settings).await;
    for id in [10, 11, 500] {
        fake.push_update(text_update(id, 800 + id, &format!("сообщение {id}")));
    }
    let (_address, stop) = restart_on(settings.clone()).await;
    eventually("replayed updates confirmed", || async {
        fake.inner.lock().unwrap().queue.is_empty().then_some(())
    })
    .await;
    let store = leadgate::storage::Store::connect(&settings.database)
        .await
        .unwrap();
    assert_eq!(
        scalar(
            &store,
            "SELECT COUNT(*) FROM appeals WHERE source = 'telegram:poller'"
        )
        .await,
        3
    );
    stop.cancel();
}

async fn app_reset_cursor(settings: &leadgate::settings::Settings) {
    let store = leadgate::storage::Store::connect(&settings.database)
        .await
        .unwrap();
    store
        .set_messenger_cursor("telegram:poller:offset", "0")
        .await
        .unwrap();
    store.close().await;
}

#[tokio::test]
async fn reply_reaches_telegram_once_even_when_the_first_attempt_fails() {
    let (app, fake) = start().await;
    fake.inner.lock().unwrap().send_failures_left = 1;
    assert_eq!(
        post_hook(
            &app,
            Some(TG_SECRET),
            text_update(8001, 900, "Есть в наличии?").to_string()
        )
        .await
        .status(),
        200
    );
    let id = appeal_id(&app, "telegram:sales", "8001").await.unwrap();
    let interest = app.processed_appeal(id).await["interest_id"]
        .as_i64()
        .unwrap();

    let resp = app
        .client
        .post(app.url(&format!("/api/v1/interests/{interest}/messages")))
        .bearer_auth(TOKEN)
        .header("Idempotency-Key", "reply-1")
        .json(&json!({"text": "Да, есть. Оформить?"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let view: Value = resp.json().await.unwrap();
    // The same request again queues nothing new.
    let again = app
        .client
        .post(app.url(&format!("/api/v1/interests/{interest}/messages")))
        .bearer_auth(TOKEN)
        .header("Idempotency-Key", "reply-1")
        .json(&json!({"text": "Да, есть. Оформить?"}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<Value>().await.unwrap()["id"], view["id"]);

    eventually("sent", || async {
        let n = scalar(&app.store, "SELECT COUNT(*) FROM messenger_outbox WHERE status = 'sent' AND provider_message_id IS NOT NULL").await;
        (n == 1).then_some(())
    })
    .await;
    assert_eq!(fake.sent(), vec![(900, "Да, есть. Оформить?".to_string())]);
    let (_, details) = app.get_json(&format!("/api/v1/interests/{interest}")).await;
    let outbound: Vec<&Value> = details["feed"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "message_out")
        .collect();
    assert_eq!(outbound.len(), 1);
    assert_eq!(outbound[0]["actor"], "demo");
    assert!(
        scalar(
            &app.store,
            "SELECT COUNT(*) FROM messenger_outbox WHERE attempts = 2"
        )
        .await
            == 1
    );
    // A sent row is never sent again, whatever the worker does next.
    app.stop().await;
    assert_eq!(fake.sent().len(), 1);
}

#[tokio::test]
async fn reply_validation() {
    let (app, _fake) = start().await;
    let post = |path: String, body: Value| {
        app.client
            .post(app.url(&path))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
    };
    assert_eq!(
        post(
            "/api/v1/interests/999/messages".into(),
            json!({"text": "x"})
        )
        .await
        .unwrap()
        .status(),
        404
    );
    assert_eq!(
        post(
            "/api/v1/interests/abc/messages".into(),
            json!({"text": "x"})
        )
        .await
        .unwrap()
        .status(),
        400
    );
    // An interest from a form has no conversation to reply in.
    let resp = app
        .post_appeal(&helpers::appeal(
            "site",
            "r1",
            json!({"phones": ["+79160001122"]}),
        ))
        .await;
    let id = resp.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let interest = app.processed_appeal(id).await["interest_id"]
        .as_i64()
        .unwrap();
    let resp = post(
        format!("/api/v1/interests/{interest}/messages"),
        json!({"text": "x"}),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 409);
    let resp = post(
        format!("/api/v1/interests/{interest}/messages"),
        json!({"text": "  "}),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 422);
    assert_eq!(resp.json::<Value>().await.unwrap()["field"], "text");
    let long: String = "я".repeat(4097);
    let resp = post(
        format!("/api/v1/interests/{interest}/messages"),
        json!({"text": long}),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 422);
    let resp = post(
        format!("/api/v1/interests/{interest}/messages"),
        json!({"txt": "x"}),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 422);
}

#[tokio::test]
async fn greeting_is_sent_once_per_conversation() {
    let fake = FakeTelegram::start(TG_TOKEN).await;
    let url = fake.url.clone();
    let app = spawn_app_with(|s| {
        use_fakes(s, &url, "http://127.0.0.1:9/method");
        s.telegram.bots.get_mut("sales").unwrap().greeting =
            Some("Здравствуйте, {first_name}!".into());
    })
    .await;
    for (i, text) in ["Привет", "Ещё"].iter().enumerate() {
        let u = text_update(9001 + i as i64, 950, text);
        assert_eq!(
            post_hook(&app, Some(TG_SECRET), u.to_string())
                .await
                .status(),
            200
        );
    }
    eventually("greeting sent", || async {
        (!fake.sent().is_empty()).then_some(())
    })
    .await;
    let id = appeal_id(&app, "telegram:sales", "9002").await.unwrap();
    app.processed_appeal(id).await;
    assert_eq!(fake.sent(), vec![(950, "Здравствуйте, Иван!".to_string())]);
}

#[tokio::test]
async fn a_burst_from_one_person_is_folded() {
    let fake = FakeTelegram::start(TG_TOKEN).await;
    let url = fake.url.clone();
    let app = spawn_app_with(|s| {
        use_fakes(s, &url, "http://127.0.0.1:9/method");
        let bot = s.telegram.bots.get_mut("sales").unwrap();
        bot.burst.max_messages = 3;
        bot.burst.window_secs = 3600;
    })
    .await;
    for i in 0..10 {
        let u = text_update(10_000 + i, 960, &format!("спам {i}"));
        assert_eq!(
            post_hook(&app, Some(TG_SECRET), u.to_string())
                .await
                .status(),
            200
        );
    }
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM appeals").await, 3);
    assert_eq!(
        scalar(
            &app.store,
            "SELECT COUNT(*) FROM messenger_events WHERE kind = 'folded' AND appeal_id IS NOT NULL"
        )
        .await,
        7
    );
}

#[tokio::test]
async fn set_webhook_sends_the_secret_token() {
    let fake = FakeTelegram::start(TG_TOKEN).await;
    let bot = tg_bot(&fake.url, TelegramMode::Webhook);
    leadgate::sources::telegram::api::set_webhook(
        &bot,
        "https://crm.example.ru/hooks/telegram/sales",
    )
    .await
    .unwrap();
    let hook = fake.inner.lock().unwrap().webhook.clone();
    assert_eq!(
        hook,
        Some((
            "https://crm.example.ru/hooks/telegram/sales".into(),
            Some(TG_SECRET.into())
        ))
    );
}

/// Makes storing the appeal of one Telegram update fail every time, as a
/// database that refuses one row would.
async fn poison_update(store: &leadgate::storage::Store, update_id: i64) {
    let sql = if store.backend() == leadgate::storage::Backend::Sqlite {
        format!(
            "CREATE TRIGGER poison BEFORE INSERT ON appeals \
             WHEN NEW.source = 'telegram:poller' AND NEW.external_id = '{update_id}' \
             BEGIN SELECT RAISE(ABORT, 'this row is poisoned'); END"
        )
    } else {
        format!(
            "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN \
             IF NEW.source = 'telegram:poller' AND NEW.external_id = '{update_id}' THEN \
             RAISE EXCEPTION 'this row is poisoned'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql; \
             CREATE TRIGGER poison BEFORE INSERT ON appeals FOR EACH ROW EXECUTE FUNCTION poison()"
        )
    };
    sqlx::raw_sql(&sql)
        .execute(store.pool())
        .await
        .expect("poison trigger");
}

/// A daemon polling the fake Telegram, with update `update_id` poisoned.
async fn polling_bot_with_poisoned_update(update_id: i64) -> (FakeTelegram, TestApp) {
    let fake = FakeTelegram::start(TG_TOKEN).await;
    let url = fake.url.clone();
    let app = spawn_app_with(|s| {
        s.telegram
            .bots
            .insert("poller".into(), tg_bot(&url, TelegramMode::Polling));
    })
    .await;
    poison_update(&app.store, update_id).await;
    (fake, app)
}

/// An update whose storing fails for good is retried a few times, then
/// dead-lettered with its reason; the offset moves past it and the update
/// after it becomes an appeal.
#[tokio::test]
async fn a_poisoned_update_is_dead_lettered_and_the_next_one_flows() {
    let (fake, app) = polling_bot_with_poisoned_update(21).await;
    for id in [20, 21, 22] {
        fake.push_update(text_update(id, 900 + id, &format!("сообщение {id}")));
    }
    eventually("the update after the poisoned one", || async {
        appeal_id(&app, "telegram:poller", "22").await.map(drop)
    })
    .await;
    assert!(appeal_id(&app, "telegram:poller", "20").await.is_some());
    assert!(appeal_id(&app, "telegram:poller", "21").await.is_none());
    let letters = app.store.dead_letters(10).await.unwrap();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0].source, "telegram:poller");
    assert_eq!(letters[0].key, "21");
    assert!(
        letters[0].reason.contains("storing failed"),
        "{}",
        letters[0].reason
    );
    assert!(
        letters[0].reason.contains("poisoned"),
        "{}",
        letters[0].reason
    );
    let payload = app
        .store
        .dead_letter_payload(letters[0].id)
        .await
        .unwrap()
        .unwrap();
    assert!(payload.contains("сообщение 21"));
    eventually("offset past the poisoned update", || async {
        let v = app
            .store
            .messenger_cursor("telegram:poller:offset")
            .await
            .unwrap();
        (v.as_deref() == Some("23")).then_some(())
    })
    .await;
    let text = app.metrics().await;
    assert!(
        text.contains("leadgate_dead_letters_total{source=\"telegram:poller\"} 1"),
        "{text}"
    );
    // The admin API lists it.
    let (status, body) = app.get_json("/api/v1/dead-letters").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"][0]["key"], "21");

    // The cause mended, an admin asks for a replay: the poller handles the
    // kept update again and it becomes an appeal; a second request is refused.
    let mend = if app.store.backend() == leadgate::storage::Backend::Sqlite {
        "DROP TRIGGER poison"
    } else {
        "DROP TRIGGER poison ON appeals"
    };
    sqlx::raw_sql(mend).execute(app.store.pool()).await.unwrap();
    let replay = |id: String| {
        app.client
            .post(app.url(&format!("/api/v1/dead-letters/{id}/replay")))
            .bearer_auth(TOKEN)
            .send()
    };
    let asked = replay(letters[0].id.to_string()).await.unwrap();
    assert_eq!(asked.status(), 202);
    eventually("the replayed update an appeal", || async {
        appeal_id(&app, "telegram:poller", "21").await.map(drop)
    })
    .await;
    let letter = eventually("the dead letter marked replayed", || async {
        let letters = app.store.dead_letters(10).await.ok()?;
        letters.into_iter().find(|l| l.replayed_at.is_some())
    })
    .await;
    assert_eq!(letter.replay_requested_at, None);
    assert_eq!(replay(letter.id.to_string()).await.unwrap().status(), 409);
    assert_eq!(replay("999999".into()).await.unwrap().status(), 404);
    assert_eq!(replay("x".into()).await.unwrap().status(), 400);
    app.stop().await;
}

/// While the store does not answer (here: its migration table is gone, so
/// the readiness probe fails), failing updates are not counted against
/// themselves: an outage must not dead-letter real leads. Once it answers,
/// a still failing update is dead-lettered as before.
#[tokio::test]
async fn an_unanswering_store_does_not_dead_letter_updates() {
    let (fake, app) = polling_bot_with_poisoned_update(31).await;
    let hide = "ALTER TABLE _sqlx_migrations RENAME TO _sqlx_migrations_hidden";
    sqlx::raw_sql(hide).execute(app.store.pool()).await.unwrap();
    fake.push_update(text_update(31, 931, "сообщение 31"));
    // Many more rounds than the attempts allowed pass while it is hidden.
    eventually("several failed rounds", || async {
        (fake.inner.lock().unwrap().offsets_seen.len()
            > 2 * leadgate::sources::messengers::MAX_STORE_ATTEMPTS as usize)
            .then_some(())
    })
    .await;
    assert!(app.store.dead_letters(10).await.unwrap().is_empty());
    let show = "ALTER TABLE _sqlx_migrations_hidden RENAME TO _sqlx_migrations";
    sqlx::raw_sql(show).execute(app.store.pool()).await.unwrap();
    let letters = eventually("dead-lettered once the store answers", || async {
        let letters = app.store.dead_letters(10).await.ok()?;
        (!letters.is_empty()).then_some(letters)
    })
    .await;
    assert_eq!(letters[0].key, "31");
    app.stop().await;
}
