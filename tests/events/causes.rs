//! The event types the main journal test does not reach, each caused by the
//! action that causes it in production: an import creating clients, a PBX
//! reporting a call, a Telegram user writing and the manager replying, and
//! ERP events winning an interest. The receiver checks every signature with
//! its own HMAC and Python's `hmac`.

use serde_json::{json, Value};

use crate::fakes::FakeTelegram;
use crate::helpers::{appeal, eventually, spawn_app_with, TestApp, TOKEN};
use crate::receiver::{python_verifies, signed_with_all, Receiver};
use crate::{configure, contact, post, types, webhook, whole_feed, SECRET};
use leadgate::import::{import_clients, ImportOptions};
use leadgate::settings::{BurstSettings, Secret, Settings, TelegramBotSettings, TelegramMode};

const TG_TOKEN: &str = "123456:test-token";
const TG_SECRET: &str = "change-me-telegram-webhook-secret";
const ZAMMAD_TOKEN: &str = "test-zammad-cti-token-0001";

fn count(kinds: &[String], name: &str) -> usize {
    kinds.iter().filter(|k| *k == name).count()
}

/// The shipped Telegram bot pointed at the fake, the shipped generic PBX
/// given a token.
fn channels(s: &mut Settings, tg_url: &str) {
    s.telegram.bots.insert(
        "sales".into(),
        TelegramBotSettings {
            token: Secret::new(TG_TOKEN),
            mode: TelegramMode::Webhook,
            secret_token: Some(Secret::new(TG_SECRET)),
            greeting: None,
            allow_groups: false,
            api_url: tg_url.to_string(),
            poll_timeout_secs: 1,
            burst: BurstSettings::default(),
        },
    );
    let zammad = &mut s
        .pbx
        .generic
        .get_mut("zammad")
        .expect("shipped zammad")
        .config;
    if let leadgate::sources::pbx::generic::Secret::Token { token, .. } = &mut zammad.secret {
        *token = ZAMMAD_TOKEN.into();
    }
}

async fn telegram_message(app: &TestApp, update_id: i64, user_id: i64, text: &str) {
    let update = json!({
        "update_id": update_id,
        "message": {
            "message_id": update_id * 10,
            "date": 1_700_000_000,
            "chat": {"id": user_id, "type": "private", "first_name": "Иван"},
            "from": {"id": user_id, "is_bot": false, "first_name": "Иван", "last_name": "Петров"},
            "text": text
        }
    });
    let response = app
        .client
        .post(app.url("/hooks/telegram/sales"))
        .header("X-Telegram-Bot-Api-Secret-Token", TG_SECRET)
        .json(&update)
        .send()
        .await
        .expect("telegram update");
    assert_eq!(response.status(), 200);
}

async fn zammad(app: &TestApp, event: &str, extra: Value) {
    let mut body = json!({
        "event": event,
        "callId": "ev-call-1",
        "from": "+79265554433",
        "to": "74951234567",
        "direction": "in",
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let response = app
        .client
        .post(app.url(&format!("/hooks/pbx/generic/zammad/{ZAMMAD_TOKEN}")))
        .json(&body)
        .send()
        .await
        .expect("pbx event");
    assert_eq!(response.status(), 200);
}

async fn settled(app: &TestApp) {
    eventually("every appeal processed", async || {
        let pending = crate::helpers::scalar(
            &app.store,
            "SELECT COUNT(*) FROM appeals WHERE status = 'pending'",
        )
        .await;
        (pending == 0).then_some(())
    })
    .await;
}

/// The events journaled since `after`.
fn since(feed: &[Value], after: i64) -> Vec<Value> {
    feed.iter()
        .filter(|e| e["id"].as_i64().expect("id") > after)
        .cloned()
        .collect()
}

fn last_id(feed: &[Value]) -> i64 {
    feed.last().map_or(0, |e| e["id"].as_i64().expect("id"))
}

#[tokio::test]
async fn imports_calls_messages_and_wins_journal_their_events_once_and_deliver_them_signed() {
    let receiver = Receiver::start().await;
    let url = receiver.url();
    let fake = FakeTelegram::start(TG_TOKEN).await;
    let tg_url = fake.url.clone();
    let app = spawn_app_with(|s| {
        configure(s);
        channels(s, &tg_url);
        s.webhooks = vec![webhook("crm", &url, &["*"])];
    })
    .await;

    // An import: two new clients, then the same file again with one more.
    let csv =
        "client_id,client_name,client_kind,person_name,phones,emails,telegram,vk,responsible\n\
               1c-1,ООО Ромашка,company,Анна Петрова,+7 495 100-00-01,anna@romashka.ru,,,ivanova\n\
               1c-2,Сидоров Пётр,person,,+7 912 200-00-02,,,,ivanova\n";
    let first = import_clients(
        &app.store,
        &app.settings,
        csv.as_bytes(),
        &ImportOptions::default(),
        None,
    )
    .await
    .expect("import");
    assert_eq!(first.created, 2);
    let feed = whole_feed(&app).await;
    let created: Vec<&Value> = feed
        .iter()
        .filter(|e| e["type"] == "client.created")
        .collect();
    assert_eq!(created.len(), 2, "{feed:?}");
    assert_eq!(types(&feed), ["client.created", "client.created"]);
    let romashka = &created[0]["data"]["client"];
    assert_eq!(romashka["external_id"], "1c-1");
    assert_eq!(romashka["name"], "ООО Ромашка");
    assert_eq!(romashka["responsible"], "ivanova");
    let values: Vec<&str> = romashka["contact_persons"]
        .as_array()
        .expect("persons")
        .iter()
        .flat_map(|p| p["contact_points"].as_array().expect("points"))
        .filter_map(|p| p["value"].as_str())
        .collect();
    assert!(
        values.contains(&"+74951000001") && values.contains(&"anna@romashka.ru"),
        "the view has what the import gave: {romashka}"
    );
    assert_eq!(created[1]["data"]["client"]["external_id"], "1c-2");
    let again = format!("{csv}1c-3,Иванов Иван,person,,+7 912 200-00-03,,,,ivanova\n");
    let second = import_clients(
        &app.store,
        &app.settings,
        again.as_bytes(),
        &ImportOptions::default(),
        None,
    )
    .await
    .expect("import again");
    assert_eq!((second.created, second.updated), (1, 2));
    let after_import = whole_feed(&app).await;
    let new = since(&after_import, last_id(&feed));
    assert_eq!(types(&new), ["client.created"], "updates journal nothing");
    assert_eq!(new[0]["data"]["client"]["external_id"], "1c-3");
    let mark = last_id(&after_import);

    // A call from an unknown number, reported by the PBX as it goes.
    zammad(&app, "newCall", json!({"user": ["102"]})).await;
    zammad(&app, "answer", json!({"answeringNumber": "102"})).await;
    zammad(
        &app,
        "hangup",
        json!({"cause": "normalClearing", "answeringNumber": "102", "duration": 42}),
    )
    .await;
    settled(&app).await;
    let after_call = whole_feed(&app).await;
    let call_events = since(&after_call, mark);
    let kinds = types(&call_events);
    assert_eq!(count(&kinds, "call.finished"), 1, "{kinds:?}");
    assert_eq!(count(&kinds, "appeal.accepted"), 1, "{kinds:?}");
    let finished = call_events
        .iter()
        .find(|e| e["type"] == "call.finished")
        .expect("call.finished");
    let call = &finished["data"]["call"];
    assert_eq!(call["call_id"], "ev-call-1");
    assert_eq!(call["direction"], "inbound", "{call}");
    assert!(call["appeal_id"].is_i64(), "{call}");
    let mark = last_id(&after_call);

    // A Telegram user writes twice: the first opens an interest, the second
    // is a message in that conversation.
    telegram_message(&app, 5001, 777, "Здравствуйте, есть доставка?").await;
    settled(&app).await;
    telegram_message(&app, 5002, 777, "И сколько она стоит?").await;
    settled(&app).await;
    let after_messages = whole_feed(&app).await;
    let message_events = since(&after_messages, mark);
    let kinds = types(&message_events);
    assert_eq!(count(&kinds, "message.received"), 1, "{kinds:?}");
    assert_eq!(count(&kinds, "interest.created"), 1, "{kinds:?}");
    let received = message_events
        .iter()
        .find(|e| e["type"] == "message.received")
        .expect("message.received");
    assert_eq!(received["data"]["appeal"]["text"], "И сколько она стоит?");
    let chat_interest = received["data"]["interest_id"].as_i64().expect("interest");
    assert_eq!(received["data"]["appeal"]["interest_id"], chat_interest);

    // The manager replies from the interest's card; the outbox sends it.
    let response = app
        .client
        .post(app.url(&format!("/api/v1/interests/{chat_interest}/messages")))
        .bearer_auth(TOKEN)
        .header("Idempotency-Key", "events-reply-1")
        .json(&json!({"text": "Да, доставка 300 ₽."}))
        .send()
        .await
        .expect("reply");
    assert_eq!(response.status(), 202);
    let sent = eventually("the reply sent and journaled", async || {
        let feed = whole_feed(&app).await;
        let sent: Vec<Value> = feed
            .into_iter()
            .filter(|e| e["type"] == "message.sent")
            .collect();
        (!sent.is_empty()).then_some(sent)
    })
    .await;
    assert_eq!(fake.sent(), vec![(777, "Да, доставка 300 ₽.".to_string())]);
    assert_eq!(sent.len(), 1);
    let message = &sent[0]["data"]["message"];
    assert_eq!(message["interest_id"], chat_interest);
    assert_eq!(message["text"], "Да, доставка 300 ₽.");
    assert_eq!(message["channel"], "telegram");
    let mark = last_id(&whole_feed(&app).await);

    // ERP events: an order, paid in full, shipped in full: won.
    let lead = app
        .post_and_process(&appeal(
            "crm",
            "won-1",
            contact("Олег Новиков", "+7 912 400-00-01"),
        ))
        .await;
    let interest = lead["interest_id"].as_i64().expect("interest");
    for (kind, body) in [
        (
            "order",
            json!({"event_id": "erp-o-1", "order_id": "ЗК-1", "interest_id": interest, "amount": 100_000}),
        ),
        (
            "payment",
            json!({"event_id": "erp-p-1", "order_id": "ЗК-1", "amount": 100_000}),
        ),
        (
            "shipment",
            json!({"event_id": "erp-s-1", "order_id": "ЗК-1", "amount": 100_000}),
        ),
    ] {
        let (status, answer) = post(&app, TOKEN, &format!("/api/v1/events/{kind}"), body).await;
        assert_eq!(status, 201, "{kind}: {answer}");
    }
    let after_win = whole_feed(&app).await;
    let win_events = since(&after_win, mark);
    let kinds = types(&win_events);
    assert_eq!(count(&kinds, "interest.won"), 1, "{kinds:?}");
    let won = win_events
        .iter()
        .find(|e| e["type"] == "interest.won")
        .expect("interest.won");
    assert_eq!(won["data"]["interest"]["id"], interest);
    assert_eq!(won["data"]["interest"]["status"], "won");
    assert_eq!(won["data"]["from_status"], "open");
    let won_at = kinds.iter().position(|k| k == "interest.won").unwrap();
    let moved_at = kinds
        .iter()
        .rposition(|k| k == "interest.stage_changed")
        .expect("the move to the won stage");
    assert!(moved_at < won_at, "{kinds:?}");

    // Every one of these reached the receiver once, in order, signed.
    let feed = whole_feed(&app).await;
    // docs/integration.md's examples of these types come from here.
    if let Ok(path) = std::env::var("LEADGATE_DUMP_CAUSES") {
        std::fs::write(path, serde_json::to_string_pretty(&feed).unwrap()).unwrap();
    }
    let delivered = eventually("every event delivered", async || {
        let got = receiver.accepted();
        (got.len() >= feed.len()).then_some(got)
    })
    .await;
    assert_eq!(delivered.len(), feed.len());
    for (d, e) in delivered.iter().zip(&feed) {
        assert_eq!(d.json(), *e);
        assert!(signed_with_all(d, &[SECRET]), "bad signature on {}", d.id);
    }
    for kind in [
        "client.created",
        "call.finished",
        "message.received",
        "message.sent",
        "interest.won",
    ] {
        let d = delivered
            .iter()
            .find(|d| d.json()["type"] == kind)
            .unwrap_or_else(|| panic!("no {kind} delivered"));
        if let Some(ok) = python_verifies(d, SECRET) {
            assert!(ok, "Python's hmac disagrees with the signature of {kind}");
        }
    }
    app.stop().await;
}
