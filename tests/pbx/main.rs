//! Telephony webhooks end to end: provider payloads (shapes as the
//! providers document them) posted to the running daemon, on the backend
//! named by LEADGATE_TEST_DB.

#[path = "../helpers/mod.rs"]
mod helpers;

use leadgate::settings::Settings;
use leadgate::sources::pbx::{generic, mango, zadarma};
use serde_json::{json, Value};

use helpers::{eventually, feed_kinds, scalar, scalar_with, spawn_app_with, TestApp};

const MANGO_KEY: &str = "test-mango-vpbx-api-key-0001";
const MANGO_SALT: &str = "test-mango-vpbx-api-salt-0001";
const ZADARMA_SECRET: &str = "test-zadarma-secret-0001";
const MEGAFON_TOKEN: &str = "test-megafon-crm-token-0001";
const ZAMMAD_TOKEN: &str = "test-zammad-cti-token-0001";

fn configure(s: &mut Settings) {
    let pbx = &mut s.pbx;
    let m = &mut pbx.mango.get_mut("main").expect("shipped mango").config;
    m.api_key = MANGO_KEY.into();
    m.api_salt = MANGO_SALT.into();
    pbx.zadarma
        .get_mut("main")
        .expect("shipped zadarma")
        .config
        .api_secret = ZADARMA_SECRET.into();
    pbx.megafon
        .get_mut("main")
        .expect("shipped megafon")
        .config
        .crm_token = MEGAFON_TOKEN.into();
    let z = &mut pbx
        .generic
        .get_mut("zammad")
        .expect("shipped zammad")
        .config;
    if let generic::Secret::Token { token, .. } = &mut z.secret {
        *token = ZAMMAD_TOKEN.into();
    }
    // This PBX also reports recordings, as a separate event with a link.
    z.fields.recording_url = vec!["recordingUrl".into()];
    z.fields.duration = vec!["duration".into()];
    z.event_map.insert(
        "recording".into(),
        leadgate::sources::pbx::EventKind::Recording,
    );
}

async fn app() -> TestApp {
    spawn_app_with(configure).await
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

async fn post_form(
    app: &TestApp,
    path: &str,
    body: String,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut req = app
        .client
        .post(app.url(path))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

async fn post_json(app: &TestApp, path: &str, body: &Value) -> (u16, String) {
    let resp = app
        .client
        .post(app.url(path))
        .json(body)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

// ---- Mango Office: form fields vpbx_api_key, sign, json -------------------

async fn mango(app: &TestApp, event: &str, json: &str, salt: &str) -> (u16, String) {
    let sign = mango::sign(MANGO_KEY, json, salt);
    post_form(
        app,
        &format!("/hooks/pbx/mango/main/{event}"),
        form(&[("vpbx_api_key", MANGO_KEY), ("sign", &sign), ("json", json)]),
        &[],
    )
    .await
}

// ---- Zadarma: form + Signature header --------------------------------------

fn zadarma_signed_data(pairs: &[(&str, &str)]) -> String {
    let f = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| *key == k)
            .map(|(_, v)| v.to_string())
            .unwrap_or_default()
    };
    match f("event").as_str() {
        "NOTIFY_ANSWER" => format!("{}{}{}", f("caller_id"), f("destination"), f("call_start")),
        "NOTIFY_OUT_START" | "NOTIFY_OUT_END" => {
            format!("{}{}{}", f("internal"), f("destination"), f("call_start"))
        }
        "NOTIFY_RECORD" => format!("{}{}", f("pbx_call_id"), f("call_id_with_rec")),
        _ => format!("{}{}{}", f("caller_id"), f("called_did"), f("call_start")),
    }
}

async fn zadarma_with(app: &TestApp, pairs: &[(&str, &str)], secret: &str) -> (u16, String) {
    let signature = zadarma::sign(secret, &zadarma_signed_data(pairs));
    post_form(
        app,
        "/hooks/pbx/zadarma/main",
        form(pairs),
        &[("Signature", &signature)],
    )
    .await
}

async fn zadarma(app: &TestApp, pairs: &[(&str, &str)]) -> (u16, String) {
    zadarma_with(app, pairs, ZADARMA_SECRET).await
}

// ---- MegaFon ВАТС: form with crm_token and cmd -----------------------------

async fn megafon(app: &TestApp, pairs: &[(&str, &str)]) -> (u16, String) {
    let mut all = vec![("crm_token", MEGAFON_TOKEN)];
    all.extend_from_slice(pairs);
    post_form(app, "/hooks/pbx/megafon/main", form(&all), &[]).await
}

// ---- helpers over the database and the API ---------------------------------

/// The appeal a call became, once it has one.
async fn call_appeal(app: &TestApp, call_id: &str) -> i64 {
    eventually(&format!("call {call_id} to have an appeal"), async || {
        let row: Option<(Option<i64>,)> =
            sqlx::query_as("SELECT appeal_id FROM calls WHERE call_id = $1")
                .bind(call_id)
                .fetch_optional(app.store.pool())
                .await
                .expect("calls");
        row.and_then(|(id,)| id)
    })
    .await
}

/// A known client: an API appeal with this phone, processed.
async fn known_client(app: &TestApp, phone: &str, name: &str) -> (i64, i64) {
    let resp = app
        .post_appeal(&helpers::appeal(
            "crm",
            &format!("known-{phone}"),
            json!({"name": name, "phones": [phone]}),
        ))
        .await;
    assert_eq!(resp.status().as_u16(), 202);
    let id = resp.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let done = app.processed_appeal(id).await;
    (
        done["client_id"].as_i64().unwrap(),
        done["interest_id"].as_i64().unwrap(),
    )
}

fn tasks_titled<'a>(interest: &'a Value, title: &str) -> Vec<&'a Value> {
    interest["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["title"] == title)
        .collect()
}

// ============================================================================

#[tokio::test]
async fn mango_signed_events_are_stored_and_a_bad_sign_stores_nothing() {
    let app = app().await;
    let appeared = r#"{"entry_id":"MzUyODMzNzkxMjo0MDE=","call_id":"MToxMjI3NTM6NDAxOjYyODMxMTI1OTox","timestamp":1516454940,"seq":1,"call_state":"Appeared","location":"ivr","from":{"number":"74991102914"},"to":{"number":"74995013402","line_number":"74995013402"}}"#;

    let (status, _) = mango(&app, "events/call", appeared, "wrong-salt").await;
    assert_eq!(status, 401);
    assert_eq!(
        scalar(&app.store, "SELECT COUNT(*) FROM call_events").await,
        0
    );
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM calls").await, 0);

    let (status, _) = mango(&app, "events/call", appeared, MANGO_SALT).await;
    assert_eq!(status, 200);
    let (status, _) = mango(&app, "events/call", appeared, MANGO_SALT).await;
    assert_eq!(status, 200, "a redelivery is acknowledged");
    assert_eq!(
        scalar(&app.store, "SELECT COUNT(*) FROM call_events").await,
        1
    );

    // The summary ends the call: answered by extension 360, a new number.
    let summary = r#"{"entry_id":"MzUyODMzNzkxMjo0MDE=","call_direction":1,"from":{"number":"74991102914"},"to":{"extension":"360","number":"sip:manager@vpbx400000000.mangosip.ru"},"line_number":"74995013402","create_time":1516454940,"forward_time":1516454946,"talk_time":1516454952,"end_time":1516455012,"entry_result":1,"disconnect_reason":1110}"#;
    let (status, _) = mango(&app, "events/summary", summary, MANGO_SALT).await;
    assert_eq!(status, 200);
    let appeal_id = call_appeal(&app, "MzUyODMzNzkxMjo0MDE=").await;
    let appeal = app.processed_appeal(appeal_id).await;
    assert_eq!(
        appeal["status"], "created",
        "an unknown number opens an interest"
    );
    assert_eq!(appeal["channel"], "phone");
    let interest = app.interest(appeal["interest_id"].as_i64().unwrap()).await;
    let calls: Vec<&Value> = interest["interactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "call")
        .collect();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["direction"], "in");
    assert!(tasks_titled(&interest, "Перезвонить клиенту").is_empty());

    // The ping of the "check connection" button, and an unknown sub-path.
    let (status, _) = mango(&app, "ping", "", MANGO_SALT).await;
    assert_eq!(status, 200);
    let (status, _) = mango(&app, "events/nonsense/deep", "{}", MANGO_SALT).await;
    assert_eq!(status, 200, "a signed event we do not know is kept");
    assert_eq!(
        scalar(&app.store, "SELECT COUNT(*) FROM pbx_unsupported_events").await,
        1
    );
}

#[tokio::test]
async fn mango_bad_json_is_a_400_naming_the_field() {
    let app = app().await;
    let (status, body) = mango(&app, "events/call", "{not json", MANGO_SALT).await;
    assert_eq!(status, 400);
    let problem: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["field"], "json");
    let (status, body) = mango(
        &app,
        "events/call",
        r#"{"call_id":"x","seq":1,"call_state":"Appeared"}"#,
        MANGO_SALT,
    )
    .await;
    assert_eq!(status, 400);
    let problem: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["field"], "json.entry_id");
    assert_eq!(
        scalar(&app.store, "SELECT COUNT(*) FROM call_events").await,
        0
    );
}

#[tokio::test]
async fn zadarma_answers_the_echo_check() {
    let app = app().await;
    let resp = app
        .client
        .get(app.url("/hooks/pbx/zadarma/main?zd_echo=d41d8cd98f00b204"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.text().await.unwrap(), "d41d8cd98f00b204");

    let resp = app
        .client
        .get(app.url("/hooks/pbx/zadarma/nosuch?zd_echo=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404, "unknown account");
}

const ZCALL: &str = "in_6fd1a8e0d2b3c4f5a6b7c8d9e0f1a2b3";
const CALL_START: &str = "2024-05-14 10:15:03";

fn zadarma_missed_call(caller: &str) -> Vec<Vec<(&'static str, String)>> {
    let base = |event: &'static str| {
        vec![
            ("event", event.to_string()),
            ("call_start", CALL_START.to_string()),
            ("pbx_call_id", ZCALL.to_string()),
            ("caller_id", caller.to_string()),
            ("called_did", "74951234567".to_string()),
        ]
    };
    let start = base("NOTIFY_START");
    let mut internal = base("NOTIFY_INTERNAL");
    internal.push(("internal", "101".into()));
    let mut end = base("NOTIFY_END");
    end.extend([
        ("duration", "20".to_string()),
        ("disposition", "no answer".to_string()),
        ("status_code", "19".to_string()),
        ("is_recorded", "0".to_string()),
        ("call_id_with_rec", String::new()),
    ]);
    vec![start, internal, end]
}

async fn send_zadarma(app: &TestApp, event: &[(&'static str, String)]) -> u16 {
    let pairs: Vec<(&str, &str)> = event.iter().map(|(k, v)| (*k, v.as_str())).collect();
    zadarma(app, &pairs).await.0
}

#[tokio::test]
async fn a_missed_call_makes_one_appeal_and_one_callback_task_whatever_the_delivery() {
    let app = app().await;
    let events = zadarma_missed_call("79161234578");
    // Every event twice, the end first.
    for i in [2, 1, 2, 0, 1, 0] {
        assert_eq!(send_zadarma(&app, &events[i]).await, 200);
    }
    assert_eq!(
        scalar(&app.store, "SELECT COUNT(*) FROM call_events").await,
        3
    );
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM calls").await, 1);
    assert_eq!(
        scalar(
            &app.store,
            "SELECT COUNT(*) FROM appeals WHERE channel = 'phone'"
        )
        .await,
        1
    );
    let appeal_id = call_appeal(&app, ZCALL).await;
    let appeal = app.processed_appeal(appeal_id).await;
    assert_eq!(appeal["status"], "created");
    assert_eq!(appeal["subject"], "Пропущенный звонок");
    let interest = app.interest(appeal["interest_id"].as_i64().unwrap()).await;
    let callbacks = tasks_titled(&interest, "Перезвонить клиенту");
    assert_eq!(callbacks.len(), 1, "{interest}");
    assert_eq!(callbacks[0]["status"], "open");
    assert_eq!(
        callbacks[0]["assignee"], "ivanova",
        "the responsible manager"
    );
    let due =
        chrono::DateTime::parse_from_rfc3339(callbacks[0]["due_at"].as_str().unwrap()).unwrap();
    let created =
        chrono::DateTime::parse_from_rfc3339(callbacks[0]["created_at"].as_str().unwrap()).unwrap();
    // `due` is taken when the call is processed, `created_at` when the row is
    // written a moment later.
    let lead = (due - created).num_milliseconds();
    assert!(
        (15 * 60_000 - 5_000..=15 * 60_000).contains(&lead),
        "{lead} ms"
    );
    assert_eq!(
        scalar(
            &app.store,
            "SELECT COUNT(*) FROM tasks WHERE purpose = 'callback'"
        )
        .await,
        1
    );
    // A signature made with another secret is refused and stores nothing.
    let pairs: Vec<(&str, &str)> = events[0].iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _) = zadarma_with(&app, &pairs, "not-the-secret").await;
    assert_eq!(status, 401);
    assert_eq!(
        scalar(&app.store, "SELECT COUNT(*) FROM call_events").await,
        3
    );
}

#[tokio::test]
async fn an_answered_call_from_a_known_client_is_an_interaction_not_a_repeat_appeal() {
    let app = app().await;
    let (client_id, interest_id) = known_client(&app, "+7 916 123-45-78", "Ольга Смирнова").await;
    let before = app.interest(interest_id).await;
    let tasks_before = before["tasks"].as_array().unwrap().len();

    // Zadarma: start, answered by 102 (Пётр Петров's pbx_user), end, answered.
    let base = |event: &'static str| {
        vec![
            ("event", event.to_string()),
            ("call_start", CALL_START.to_string()),
            ("pbx_call_id", "in_answered_1".to_string()),
            ("caller_id", "79161234578".to_string()),
            ("called_did", "74951234567".to_string()),
        ]
    };
    let start = base("NOTIFY_START");
    let mut answer = base("NOTIFY_ANSWER");
    answer.retain(|(k, _)| *k != "called_did");
    answer.extend([
        ("destination", "102".to_string()),
        ("internal", "102".to_string()),
    ]);
    let mut end = base("NOTIFY_END");
    end.extend([
        ("internal", "102".to_string()),
        ("duration", "95".to_string()),
        ("disposition", "answered".to_string()),
        ("status_code", "16".to_string()),
        ("is_recorded", "1".to_string()),
        ("call_id_with_rec", "1715670903.1234567".to_string()),
    ]);
    for e in [&start, &answer, &end] {
        assert_eq!(send_zadarma(&app, e).await, 200);
    }
    let appeal_id = call_appeal(&app, "in_answered_1").await;
    let appeal = app.processed_appeal(appeal_id).await;
    assert_eq!(appeal["status"], "linked");
    assert_eq!(appeal["client_id"].as_i64(), Some(client_id));
    assert_eq!(appeal["interest_id"].as_i64(), Some(interest_id));
    assert_eq!(
        scalar(&app.store, "SELECT COUNT(*) FROM clients").await,
        1,
        "nobody new"
    );
    assert_eq!(
        scalar(&app.store, "SELECT COUNT(*) FROM interests").await,
        1
    );

    let after = app.interest(interest_id).await;
    assert_eq!(
        after["tasks"].as_array().unwrap().len(),
        tasks_before,
        "no repeat-appeal task: {after}"
    );
    let call = after["interactions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "call" && i["direction"] == "in")
        .expect("an inbound call interaction");
    assert_eq!(call["author"], "petrov");
    let result = call["result"].as_str().unwrap();
    assert!(result.starts_with("Входящий звонок"), "{result}");
    assert!(result.contains("1 мин 35 с"), "{result}");
    let entry = after["feed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "call")
        .expect("a call in the feed");
    assert_eq!(entry["data"]["employee"], "petrov");
    assert_eq!(entry["data"]["duration_secs"], 95);
}

#[tokio::test]
async fn calling_back_closes_the_callback_task() {
    let app = app().await;
    let (_, interest_id) = known_client(&app, "+7 903 555-01-02", "Игорь Волков").await;

    // MegaFon: the live events, then the PBX's own history record (missed).
    for (ty, user) in [("INCOMING", "ivanova_pbx"), ("CANCELLED", "ivanova_pbx")] {
        let (status, _) = megafon(
            &app,
            &[
                ("cmd", "event"),
                ("type", ty),
                ("phone", "79035550102"),
                ("diversion", "74957770000"),
                ("user", user),
                ("callid", "mf-missed-1"),
            ],
        )
        .await;
        assert_eq!(status, 200);
    }
    let (status, body) = megafon(
        &app,
        &[
            ("cmd", "history"),
            ("type", "in"),
            ("user", "ivanova_pbx"),
            ("phone", "79035550102"),
            ("diversion", "74957770000"),
            ("start", "20240514T071643Z"),
            ("duration", "0"),
            ("status", "missed"),
            ("callid", "mf-missed-1"),
        ],
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "{}"));
    let appeal = app
        .processed_appeal(call_appeal(&app, "mf-missed-1").await)
        .await;
    assert_eq!(appeal["status"], "linked");
    let missed = app.interest(interest_id).await;
    let callbacks = tasks_titled(&missed, "Перезвонить клиенту");
    assert_eq!(callbacks.len(), 1);
    assert_eq!(callbacks[0]["status"], "open");
    assert!(
        tasks_titled(&missed, "Обработать повторное обращение").is_empty(),
        "a missed call asks for a callback, not a repeat-appeal task"
    );

    // The manager calls back and the client answers.
    let (status, _) = megafon(
        &app,
        &[
            ("cmd", "history"),
            ("type", "out"),
            ("user", "ivanova_pbx"),
            ("phone", "79035550102"),
            ("start", "20240514T072000Z"),
            ("duration", "64"),
            ("status", "Success"),
            ("link", "https://records.example/mf-out-1.mp3"),
            ("callid", "mf-out-1"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let appeal = app
        .processed_appeal(call_appeal(&app, "mf-out-1").await)
        .await;
    assert_eq!(appeal["status"], "linked");
    let after = app.interest(interest_id).await;
    let callbacks = tasks_titled(&after, "Перезвонить клиенту");
    assert_eq!(callbacks[0]["status"], "done", "{after}");
    let closed = after["feed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "task_done")
        .expect("the feed says the task was closed");
    assert!(closed["summary"]
        .as_str()
        .unwrap()
        .contains("закрыта автоматически"));
    let out = after["interactions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["direction"] == "out")
        .expect("the outgoing call");
    assert_eq!(out["recording_url"], "https://records.example/mf-out-1.mp3");
    // The stage engine's planned "Телефонный звонок клиенту" task is not an interaction;
    // the outgoing call is one interaction.
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM clients").await, 1);
}

#[tokio::test]
async fn an_outgoing_call_to_an_unknown_number_creates_nobody() {
    let app = app().await;
    let (status, _) = megafon(
        &app,
        &[
            ("cmd", "history"),
            ("type", "out"),
            ("user", "petrov_pbx"),
            ("phone", "79998887766"),
            ("start", "20240514T072000Z"),
            ("duration", "30"),
            ("status", "Success"),
            ("callid", "mf-out-unknown"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let appeal = app
        .processed_appeal(call_appeal(&app, "mf-out-unknown").await)
        .await;
    assert_eq!(appeal["status"], "rejected");
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM clients").await, 0);
    assert_eq!(
        scalar(&app.store, "SELECT COUNT(*) FROM interests").await,
        0
    );
}

#[tokio::test]
async fn megafon_contact_request_names_the_client_and_the_responsible_manager() {
    let app = app().await;
    known_client(&app, "+7 912 777-66-55", "Анна Кузнецова").await;
    let (status, body) = megafon(
        &app,
        &[
            ("cmd", "contact"),
            ("phone", "79127776655"),
            ("callid", "mf-c-1"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_str(&body).unwrap();
    // The client went to ivanova (round robin), whose pbx_user is 101.
    assert_eq!(
        answer,
        json!({"contact_name": "Анна Кузнецова", "responsible": "101"})
    );

    let (status, body) = megafon(
        &app,
        &[
            ("cmd", "contact"),
            ("phone", "79120000000"),
            ("callid", "mf-c-2"),
        ],
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "{}"), "unknown caller");

    let (status, _) = post_form(
        &app,
        "/hooks/pbx/megafon/main",
        form(&[
            ("crm_token", "wrong"),
            ("cmd", "contact"),
            ("phone", "79127776655"),
            ("callid", "x"),
        ]),
        &[],
    )
    .await;
    assert_eq!(status, 401);
    let (status, body) = megafon(&app, &[("phone", "79127776655")]).await;
    assert_eq!(status, 400);
    let problem: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["field"], "cmd");
}

fn zammad(event: &str, call_id: &str, extra: Value) -> Value {
    let mut body = json!({
        "event": event,
        "callId": call_id,
        "from": "+79265554433",
        "to": "74951234567",
        "direction": "in",
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    body
}

#[tokio::test]
async fn a_generic_zammad_style_pbx_is_mapped_and_a_later_recording_is_attached() {
    let app = app().await;
    let path = format!("/hooks/pbx/generic/zammad/{ZAMMAD_TOKEN}");
    let (status, _) = post_json(
        &app,
        "/hooks/pbx/generic/zammad/wrong-token",
        &zammad("newCall", "z-1", json!({})),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(
        scalar(&app.store, "SELECT COUNT(*) FROM call_events").await,
        0
    );

    for body in [
        zammad("newCall", "z-1", json!({"user": ["102"]})),
        zammad("answer", "z-1", json!({"answeringNumber": "102"})),
        zammad(
            "hangup",
            "z-1",
            json!({"cause": "normalClearing", "answeringNumber": "102", "duration": 42}),
        ),
    ] {
        let (status, reply) = post_json(&app, &path, &body).await;
        assert_eq!((status, reply.as_str()), (200, "{}"));
    }
    let appeal = app.processed_appeal(call_appeal(&app, "z-1").await).await;
    assert_eq!(appeal["status"], "created");
    assert_eq!(appeal["source"], "pbx:zammad:zammad");
    let interest_id = appeal["interest_id"].as_i64().unwrap();
    let call = app.interest(interest_id).await["interactions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "call")
        .cloned()
        .expect("the call interaction");
    assert_eq!(call["author"], "petrov");
    assert!(call.get("recording_url").is_none_or(Value::is_null));

    // The recording arrives after the call was routed.
    let (status, _) = post_json(
        &app,
        &path,
        &zammad(
            "recording",
            "z-1",
            json!({"recordingUrl": "https://pbx.example/rec/z-1.mp3"}),
        ),
    )
    .await;
    assert_eq!(status, 200);
    let after = app.interest(interest_id).await;
    let call = after["interactions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "call")
        .unwrap();
    assert_eq!(call["recording_url"], "https://pbx.example/rec/z-1.mp3");
    assert!(feed_kinds(&after).contains(&"call_recording".to_string()));

    // A missed one: hangup with noAnswer asks for a callback.
    for body in [
        zammad("newCall", "z-2", json!({"from": "+79265550000"})),
        zammad(
            "hangup",
            "z-2",
            json!({"from": "+79265550000", "cause": "noAnswer"}),
        ),
    ] {
        assert_eq!(post_json(&app, &path, &body).await.0, 200);
    }
    let appeal = app.processed_appeal(call_appeal(&app, "z-2").await).await;
    let missed = app.interest(appeal["interest_id"].as_i64().unwrap()).await;
    assert_eq!(tasks_titled(&missed, "Перезвонить клиенту").len(), 1);
}

#[tokio::test]
async fn hidden_numbers_are_kept_and_counted_but_never_matched() {
    let app = app().await;
    let events = zadarma_missed_call("anonymous");
    for e in &events {
        assert_eq!(send_zadarma(&app, e).await, 200);
    }
    assert_eq!(
        scalar(&app.store, "SELECT COUNT(*) FROM calls WHERE hidden = 1").await,
        1
    );
    assert_eq!(
        scalar(&app.store, "SELECT COUNT(*) FROM call_events").await,
        3
    );
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM appeals").await, 0);
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM clients").await, 0);
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"leadgate_pbx_events_total{provider="zadarma",kind="hidden_number"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_call_reported_only_by_its_legs_is_decided_once_quiet() {
    let app = spawn_app_with(|s| {
        configure(s);
        s.pbx.settle_secs = 0;
    })
    .await;
    // MegaFon without `history`: two employees rang, both legs cancelled.
    for (ty, user) in [
        ("INCOMING", "ivanova_pbx"),
        ("INCOMING", "petrov_pbx"),
        ("CANCELLED", "petrov_pbx"),
        ("CANCELLED", "ivanova_pbx"),
    ] {
        let (status, _) = megafon(
            &app,
            &[
                ("cmd", "event"),
                ("type", ty),
                ("phone", "79031112233"),
                ("diversion", "74957770000"),
                ("user", user),
                ("callid", "mf-legs-1"),
            ],
        )
        .await;
        assert_eq!(status, 200);
    }
    let appeal = app
        .processed_appeal(call_appeal(&app, "mf-legs-1").await)
        .await;
    assert_eq!(appeal["subject"], "Пропущенный звонок");
    let missed = app.interest(appeal["interest_id"].as_i64().unwrap()).await;
    assert_eq!(tasks_titled(&missed, "Перезвонить клиенту").len(), 1);
}

#[test]
fn pbx_config_problems_are_named_by_their_keys() {
    let toml = format!(
        "{}\n[pbx.zadarma.second]\napi_secret = \"s\"\ncolour = \"red\"\n\
         [pbx.zadarma.third]\napi_secret = \"\"\n[pbx.zadarma.third.employees]\n\"200\" = \"ghost\"\n",
        helpers::shipped_config()
    );
    let err = leadgate::settings::load_from_str(&toml, Vec::<(String, String)>::new())
        .expect_err("invalid");
    let text = err.to_string();
    assert!(text.contains("pbx.zadarma.second.colour"), "{text}");
    assert!(text.contains("pbx.zadarma.third.employees.200"), "{text}");
    assert!(text.contains("pbx.zadarma.third.api_secret"), "{text}");
}

#[tokio::test]
async fn zadarma_events_that_cannot_be_verified_are_counted_not_stored() {
    let app = app().await;
    // SMS has no documented signature: anyone could send it.
    for i in 0..5 {
        let text = format!("spam {i}");
        let (status, _) = post_form(
            &app,
            "/hooks/pbx/zadarma/main",
            form(&[
                ("event", "SMS"),
                ("caller_id", "79161234567"),
                ("text", &text),
            ]),
            &[],
        )
        .await;
        assert_eq!(status, 200);
    }
    assert_eq!(
        scalar(&app.store, "SELECT COUNT(*) FROM pbx_unsupported_events").await,
        0
    );
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM appeals").await, 0);
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("leadgate_pbx_events_total{provider=\"zadarma\",kind=\"unverified\"} 5"),
        "{metrics}"
    );
    // A wrong signature stores nothing either.
    let pairs = [
        ("event", "NOTIFY_START"),
        ("call_start", "2024-05-01 10:00:00"),
        ("pbx_call_id", "in_bad"),
        ("caller_id", "79161234567"),
        ("called_did", "74951234567"),
    ];
    let (status, _) = zadarma_with(&app, &pairs, "not-the-secret").await;
    assert_eq!(status, 401);
    assert_eq!(
        scalar(&app.store, "SELECT COUNT(*) FROM call_events").await,
        0
    );
}

// ---- recordings on the interest card ---------------------------------------

const ZADARMA_KEY: &str = "test-zadarma-user-key-0001";

/// Zadarma's REST API as its documentation describes `GET
/// /v1/pbx/record/request/`: `Authorization: key:signature` over the sorted
/// parameters, and `{"status": "success", "link": …}`; a bad signature is
/// `{"status": "error", "message": "Not authorized"}` with 401.
async fn fake_zadarma_api() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use axum::extract::{Query, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::Json;
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};
    let asked: Arc<Mutex<Vec<String>>> = Arc::default();
    async fn record(
        State(asked): State<Arc<Mutex<Vec<String>>>>,
        headers: HeaderMap,
        Query(params): Query<BTreeMap<String, String>>,
    ) -> (StatusCode, Json<Value>) {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &params {
            query.append_pair(k, v);
        }
        let query = query.finish();
        let expected = format!(
            "{ZADARMA_KEY}:{}",
            leadgate::sources::pbx::recordings::zadarma_signature(
                ZADARMA_SECRET,
                "/v1/pbx/record/request/",
                &query
            )
        );
        let given = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if given != expected {
            return (
                StatusCode::UNAUTHORIZED,
                Json(json!({"status": "error", "message": "Not authorized"})),
            );
        }
        let call_id = params.get("call_id").cloned().unwrap_or_default();
        asked.lock().unwrap().push(call_id.clone());
        (
            StatusCode::OK,
            Json(json!({
                "status": "success",
                "link": format!("https://api.zadarma.com/v1/pbx/record/download/{call_id}/rec.mp3"),
                "lifetime_till": "2030-01-01 00:00:00"
            })),
        )
    }
    let app = axum::Router::new()
        .route("/v1/pbx/record/request/", axum::routing::get(record))
        .with_state(asked.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (url, asked)
}

/// A logged-in page session's cookie, through the login form.
async fn page_session(app: &TestApp, login: &str) -> String {
    let password = "correct horse battery";
    leadgate::users::set_password(
        &app.store,
        &leadgate::users::Login::parse(login).unwrap(),
        &leadgate::users::Password::parse(password).unwrap(),
    )
    .await
    .unwrap();
    let form_page = app.client.get(app.url("/ui/login")).send().await.unwrap();
    let pre: Vec<String> = form_page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect();
    let body = form_page.text().await.unwrap();
    let marker = "name=\"csrf\" value=\"";
    let start = body.find(marker).unwrap() + marker.len();
    let csrf = &body[start..start + body[start..].find('"').unwrap()];
    let resp = app
        .client
        .post(app.url("/ui/login"))
        .header("cookie", pre.join("; "))
        .form(&[
            ("login", login),
            ("password", password),
            ("csrf", csrf),
            ("next", "/ui/board"),
        ])
        .send()
        .await
        .unwrap();
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("lg_session="))
        .and_then(|v| v.split(';').next())
        .expect("session cookie")
        .to_owned()
}

#[tokio::test]
async fn the_card_fetches_a_zadarma_recording_link_when_opened() {
    let (api_url, asked) = fake_zadarma_api().await;
    let app = spawn_app_with(|s| {
        configure(s);
        let z = &mut s.pbx.zadarma.get_mut("main").expect("zadarma").config;
        z.api_key = Some(ZADARMA_KEY.into());
        z.api_url = api_url.clone();
        s.routing.round_robin = vec!["ivanova".into()];
    })
    .await;
    // The caller must be a number the matcher may use: …123-45-67 is a
    // placeholder ([matching.junk]), so a call from it would open a new
    // client's interest instead of landing on this one.
    let (_, interest_id) = known_client(&app, "+7 916 123-45-78", "Ольга Смирнова").await;
    let base = |event: &'static str| {
        vec![
            ("event", event.to_string()),
            ("call_start", CALL_START.to_string()),
            ("pbx_call_id", "in_recorded_1".to_string()),
            ("caller_id", "79161234578".to_string()),
            ("called_did", "74951234567".to_string()),
        ]
    };
    let mut answer = base("NOTIFY_ANSWER");
    answer.retain(|(k, _)| *k != "called_did");
    answer.extend([
        ("destination", "101".to_string()),
        ("internal", "101".to_string()),
    ]);
    let mut end = base("NOTIFY_END");
    end.extend([
        ("internal", "101".to_string()),
        ("duration", "95".to_string()),
        ("disposition", "answered".to_string()),
        ("status_code", "16".to_string()),
        ("is_recorded", "1".to_string()),
        ("call_id_with_rec", "1715670903.1234567".to_string()),
    ]);
    for e in [&base("NOTIFY_START"), &answer, &end] {
        assert_eq!(send_zadarma(&app, e).await, 200);
    }
    call_appeal(&app, "in_recorded_1").await;
    call_on_interest(&app, interest_id).await;
    assert!(
        asked.lock().unwrap().is_empty(),
        "nothing asked before the card opens"
    );

    let cookie = page_session(&app, "ivanova").await;
    let page = app
        .client
        .get(app.url(&format!("/ui/interests/{interest_id}")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.unwrap();
    assert_eq!(
        *asked.lock().unwrap(),
        vec!["1715670903.1234567".to_string()]
    );
    let link = "https://api.zadarma.com/v1/pbx/record/download/1715670903.1234567/rec.mp3";
    assert!(
        html.contains(&format!("<audio controls preload=\"none\" src=\"{link}\">")),
        "{html}"
    );
    assert!(html.contains("Входящий звонок"), "{html}");
    assert!(html.contains(" 1:35"), "the talk time: {html}");
    assert!(html.contains("Анна Иванова"), "the employee: {html}");
    app.stop().await;
}

/// Waits until the call is linked to this very interest (not to a new one).
async fn call_on_interest(app: &TestApp, interest_id: i64) {
    eventually("the call on the known client's interest", async || {
        (scalar_with(
            &app.store,
            "SELECT COUNT(*) FROM calls WHERE interest_id = $1",
            interest_id,
        )
        .await
            == 1)
            .then_some(())
    })
    .await;
}

/// Mango Office's VPBX API as its documentation describes `POST
/// <api_url>/queries/recording/post/`: the form fields `vpbx_api_key`,
/// `sign` = hex SHA-256(api_key + json + api_salt) and `json` =
/// `{"recording_id": …, "action": "download" | "play"}`; the answer is `302
/// Found` whose `Location` is a temporary link to the file. A wrong key or
/// sign is refused with a JSON `result` code.
async fn fake_mango_api() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use axum::extract::State;
    use axum::http::{header, StatusCode};
    use axum::response::{IntoResponse, Response};
    use axum::{Form, Json};
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    let asked: Arc<Mutex<Vec<String>>> = Arc::default();
    async fn recording(
        State(asked): State<Arc<Mutex<Vec<String>>>>,
        Form(form): Form<HashMap<String, String>>,
    ) -> Response {
        let field = |k: &str| form.get(k).cloned().unwrap_or_default();
        let json = field("json");
        if field("vpbx_api_key") != MANGO_KEY
            || field("sign") != mango::sign(MANGO_KEY, &json, MANGO_SALT)
        {
            return (
                StatusCode::UNAUTHORIZED,
                Json(json!({"result": 3102, "message": "invalid sign"})),
            )
                .into_response();
        }
        let request: Value = serde_json::from_str(&json).unwrap_or(Value::Null);
        let id = request["recording_id"].as_str().unwrap_or("").to_owned();
        if id.is_empty() || !matches!(request["action"].as_str(), Some("play" | "download")) {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"result": 3103, "message": "bad parameters"})),
            )
                .into_response();
        }
        asked.lock().unwrap().push(id.clone());
        (
            StatusCode::FOUND,
            [(
                header::LOCATION,
                format!("https://storage.mango-office.ru/records/{id}.mp3?expires=1"),
            )],
        )
            .into_response()
    }
    let app = axum::Router::new()
        .route(
            "/vpbx/queries/recording/post",
            axum::routing::post(recording),
        )
        .route(
            "/vpbx/queries/recording/post/",
            axum::routing::post(recording),
        )
        .with_state(asked.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/vpbx/", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (url, asked)
}

#[tokio::test]
async fn the_card_fetches_a_mango_recording_link_when_opened() {
    let (api_url, asked) = fake_mango_api().await;
    let app = spawn_app_with(|s| {
        configure(s);
        s.pbx.mango.get_mut("main").expect("mango").config.api_url = api_url.clone();
        s.routing.round_robin = vec!["ivanova".into()];
    })
    .await;
    let (_, interest_id) = known_client(&app, "+7 499 110-29-14", "Павел Орлов").await;
    let entry = "MzUyODMzNzkyMDo0MDE=";
    // An answered inbound call: the summary ends it, the recording comes after.
    let summary = format!(
        r#"{{"entry_id":"{entry}","call_direction":1,"from":{{"number":"74991102914"}},"to":{{"extension":"101","number":"sip:ivanova@vpbx400000000.mangosip.ru"}},"line_number":"74995013402","create_time":1716000000,"forward_time":1716000006,"talk_time":1716000010,"end_time":1716000105,"entry_result":1,"disconnect_reason":1110}}"#
    );
    assert_eq!(
        mango(&app, "events/summary", &summary, MANGO_SALT).await.0,
        200
    );
    call_appeal(&app, entry).await;
    call_on_interest(&app, interest_id).await;
    let recording = format!(
        r#"{{"recording_id":"MToxMjI3NTM6MzUyODMzNzkyMDow","recording_state":"Completed","seq":2,"entry_id":"{entry}","call_id":"MToxMjI3NTM6NDAxOjYyODMxMTI2MA==","extension":"101","timestamp":1716000106,"recipient":"Cloud"}}"#
    );
    assert_eq!(
        mango(&app, "events/recording", &recording, MANGO_SALT)
            .await
            .0,
        200
    );
    assert!(
        asked.lock().unwrap().is_empty(),
        "nothing asked before the card opens"
    );

    let cookie = page_session(&app, "ivanova").await;
    let page = app
        .client
        .get(app.url(&format!("/ui/interests/{interest_id}")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.unwrap();
    assert_eq!(
        *asked.lock().unwrap(),
        vec!["MToxMjI3NTM6MzUyODMzNzkyMDow".to_string()]
    );
    let link = "https://storage.mango-office.ru/records/MToxMjI3NTM6MzUyODMzNzkyMDow.mp3?expires=1";
    assert!(
        html.contains(&format!("<audio controls preload=\"none\" src=\"{link}\">")),
        "{html}"
    );
    assert!(html.contains("Входящий звонок"), "{html}");
    assert!(html.contains("разговор 1:35"), "the talk time: {html}");
    assert!(html.contains("Анна Иванова"), "the employee: {html}");

    // Each opening asks again: the links expire, so none is stored.
    let again = app
        .client
        .get(app.url(&format!("/ui/interests/{interest_id}")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 200);
    assert_eq!(asked.lock().unwrap().len(), 2);
    app.stop().await;
}
