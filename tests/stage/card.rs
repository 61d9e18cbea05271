//! The interest card and the header beyond the manager's day of `sales.rs`:
//! a VK answer from the card reaches the VK fake once and a refusal by VK
//! shows on the card (real Chromium); a passed agreed date turns the card
//! red with no late task; the header counts late tasks on every page.

use chrono::{Duration, Utc};
use leadgate::settings::{BurstSettings, Secret, Settings, VkCommunitySettings, VkMode};
use leadgate::users::{set_password, Login, Password};
use serde_json::json;

use crate::browser::Browser;
use crate::fakes::FakeVk;
use crate::helpers::{eventually, scalar_with, spawn_app_with, TestApp};
use crate::{configure, get, in_days, new_interest, post, IVANOVA};

const PASSWORD: &str = "correct horse battery";
const VK_TOKEN: &str = "vk-card-token";
const VK_SECRET: &str = "vk-card-callback-secret";

async fn password_for(app: &TestApp, login: &str) {
    set_password(
        &app.store,
        &Login::parse(login).expect("login"),
        &Password::parse(PASSWORD).expect("password"),
    )
    .await
    .expect("password set");
}

fn with_vk(s: &mut Settings, api_url: &str) {
    configure(s);
    s.vk.communities.insert(
        "main".into(),
        VkCommunitySettings {
            group_id: 1,
            access_token: Secret::new(VK_TOKEN),
            api_version: "5.199".into(),
            mode: VkMode::Callback,
            confirmation: Some(Secret::new("card-confirmation")),
            secret: Some(Secret::new(VK_SECRET)),
            greeting: None,
            allow_groups: false,
            api_url: api_url.to_owned(),
            poll_wait_secs: 1,
            name_cache_secs: 3600,
            burst: BurstSettings::default(),
        },
    );
}

/// A `message_new` Callback API event, as VK sends it.
fn message_new(event_id: &str, from_id: i64, text: &str) -> serde_json::Value {
    json!({
        "type": "message_new", "event_id": event_id, "v": "5.199", "group_id": 1, "secret": VK_SECRET,
        "object": {
            "message": {
                "date": 1_700_000_000, "from_id": from_id, "id": 0, "out": 0, "version": 10001,
                "attachments": [], "conversation_message_id": 3, "fwd_messages": [], "important": false,
                "is_hidden": false, "peer_id": from_id, "random_id": 0, "text": text
            },
            "client_info": {"button_actions": ["text"], "keyboard": true, "inline_keyboard": true, "carousel": true, "lang_id": 0}
        }
    })
}

/// The session cookie of `login`, through the login form over plain HTTP.
pub async fn page_cookie(app: &TestApp, login: &str) -> String {
    let form = app
        .client
        .get(app.url("/ui/login"))
        .send()
        .await
        .expect("login page");
    let pre: Vec<String> = form
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect();
    let body = form.text().await.expect("login body");
    let marker = "name=\"csrf\" value=\"";
    let start = body.find(marker).expect("csrf field") + marker.len();
    let csrf = &body[start..start + body[start..].find('"').expect("end of csrf")];
    let logged = app
        .client
        .post(app.url("/ui/login"))
        .header("cookie", pre.join("; "))
        .form(&[
            ("login", login),
            ("password", PASSWORD),
            ("csrf", csrf),
            ("next", "/ui/board"),
        ])
        .send()
        .await
        .expect("login");
    logged
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("lg_session="))
        .and_then(|v| v.split(';').next())
        .expect("session cookie")
        .to_owned()
}

async fn page(app: &TestApp, cookie: &str, path: &str) -> (u16, String) {
    let resp = app
        .client
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .expect("page");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

/// The `data-colour` of the element with this id in a page.
fn colour_of(html: &str, id: &str) -> String {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("#{id} in the page"));
    // The attribute sits in the same tag, before or after the id.
    let open = html[..at].rfind('<').expect("tag start");
    let close = at + html[at..].find('>').expect("tag end");
    let tag = &html[open..close];
    let marker = "data-colour=\"";
    let start = tag
        .find(marker)
        .unwrap_or_else(|| panic!("data-colour in {tag}"))
        + marker.len();
    tag[start..start + tag[start..].find('"').expect("end")].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vk_answer_from_the_card_reaches_vk_once_and_a_refusal_shows() {
    let vk = FakeVk::start(VK_TOKEN).await;
    vk.inner
        .lock()
        .unwrap()
        .names
        .insert(2001, ("Мария".into(), "Соколова".into()));
    let api = vk.api_url();
    let app = spawn_app_with(|s| with_vk(s, &api)).await;
    password_for(&app, "ivanova").await;
    let hook = app
        .client
        .post(app.url("/hooks/vk/main"))
        .json(&message_new("card-1", 2001, "Нужен счёт на 5 коробок"))
        .send()
        .await
        .expect("vk callback");
    assert_eq!(hook.status().as_u16(), 200);
    let interest = eventually("the VK appeal's interest", async || {
        let (_, list) = get(&app, IVANOVA, "/api/v1/interests").await;
        list.as_array()?
            .iter()
            .find(|i| {
                i["client_name"]
                    .as_str()
                    .is_some_and(|n| n.contains("Мария"))
            })
            .and_then(|i| i["id"].as_i64())
    })
    .await;

    let browser = Browser::start().await;
    browser.login(&app.address, "ivanova", PASSWORD).await;
    let card = app.url(&format!("/ui/interests/{interest}"));
    browser.goto(&card).await;
    let channel = browser
        .wait_for("#reply-channel")
        .await
        .prop("value")
        .await
        .expect("channel");
    assert_eq!(
        channel.as_deref(),
        Some("vk:main"),
        "where the client wrote"
    );
    browser
        .fill("#reply-text", "Мария, счёт выставим сегодня.")
        .await;
    browser.click("#reply-submit").await;
    browser.wait_for("p.flash").await;
    let delivered = eventually("the answer marked delivered", async || {
        browser.goto(&card).await;
        let html = browser.source().await;
        html.contains("data-status=\"sent\"").then_some(html)
    })
    .await;
    assert!(
        delivered.contains("data-kind=\"message_out\""),
        "{delivered}"
    );
    let sent = vk.delivered();
    assert_eq!(sent.len(), 1, "once: {sent:?}");
    assert_eq!(sent[0].0, 2001);
    assert_eq!(sent[0].1, "Мария, счёт выставим сегодня.");

    // VK refuses the next one for good: the card says so, with VK's reason.
    vk.inner.lock().unwrap().refuse_sends = true;
    browser.fill("#reply-text", "И ещё: доставка завтра.").await;
    browser.click("#reply-submit").await;
    browser.wait_for("p.flash").await;
    eventually("the refusal on the card", async || {
        browser.goto(&card).await;
        browser
            .source()
            .await
            .contains("data-status=\"failed\"")
            .then_some(())
    })
    .await;
    let failed = browser
        .wait_for("#outgoing li[data-status=\"failed\"]")
        .await
        .text()
        .await
        .unwrap();
    assert!(failed.contains("не доставлено"), "{failed}");
    assert!(failed.contains("И ещё: доставка завтра."), "{failed}");
    assert!(
        failed.contains("without permission"),
        "VK's reason: {failed}"
    );
    assert_eq!(vk.delivered().len(), 1, "nothing more reached VK");
    browser.close().await;
    app.stop().await;
}

#[tokio::test]
async fn a_passed_agreed_date_turns_the_card_red_and_the_header_counts_late_tasks_everywhere() {
    let app = spawn_app_with(configure).await;
    password_for(&app, "ivanova").await;
    let promised = new_interest(&app, "agreed-1", "+7 912 600-00-01").await;
    let late = new_interest(&app, "late-1", "+7 912 600-00-02").await;
    // The first interest's tasks are far off: only the agreed date matters.
    sqlx::query("UPDATE tasks SET due_at = $1 WHERE interest_id = $2")
        .bind((Utc::now() + Duration::days(5)).timestamp_millis())
        .bind(promised)
        .execute(app.store.pool())
        .await
        .expect("tasks moved");
    let agreed = post(
        &app,
        IVANOVA,
        &format!("/api/v1/interests/{promised}/interactions"),
        json!({"kind": "call", "planned_at": in_days(3), "subject": "Клиент обещал оплату"}),
    )
    .await;
    assert_eq!(agreed.0, 201, "{}", agreed.1);
    // The other one has a task an hour late.
    sqlx::query("UPDATE tasks SET due_at = $1 WHERE interest_id = $2")
        .bind((Utc::now() - Duration::hours(1)).timestamp_millis())
        .bind(late)
        .execute(app.store.pool())
        .await
        .expect("late task");

    let cookie = page_cookie(&app, "ivanova").await;
    let (_, board) = page(&app, &cookie, "/ui/board").await;
    assert_ne!(colour_of(&board, &format!("interest-{promised}")), "red");

    // The promised date passes with nothing done about it.
    sqlx::query(
        "UPDATE interactions SET planned_at = $1 WHERE interest_id = $2 AND done_at IS NULL",
    )
    .bind((Utc::now() - Duration::hours(2)).timestamp_millis())
    .bind(promised)
    .execute(app.store.pool())
    .await
    .expect("agreed date passed");
    let (late_tasks,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM tasks WHERE interest_id = $1 AND due_at < $2")
            .bind(promised)
            .bind(Utc::now().timestamp_millis())
            .fetch_one(app.store.pool())
            .await
            .expect("late tasks");
    assert_eq!(late_tasks, 0, "no late task on it");
    let (_, board) = page(&app, &cookie, "/ui/board").await;
    assert_eq!(colour_of(&board, &format!("interest-{promised}")), "red");
    let (status, card) = page(&app, &cookie, &format!("/ui/interests/{promised}")).await;
    assert_eq!(status, 200);
    assert_eq!(colour_of(&card, "interest-summary"), "red");
    let (_, red_only) = page(&app, &cookie, "/ui/board?colour=red").await;
    assert!(red_only.contains(&format!("id=\"interest-{promised}\"")));
    let (_, api) = get(&app, IVANOVA, &format!("/api/v1/interests/{promised}")).await;
    assert_eq!(api["colour"], "red", "{api}");

    // The late task (and nothing else) is late: every page's header says so.
    let overdue = scalar_with(
        &app.store,
        "SELECT COUNT(*) FROM tasks WHERE interest_id = $1 AND status IN ('open', 'overdue')",
        late,
    )
    .await;
    assert!(overdue >= 1);
    let badge = format!("Просрочено: {overdue}<");
    let client = scalar_with(
        &app.store,
        "SELECT client_id FROM interests WHERE id = $1",
        late,
    )
    .await;
    for path in [
        "/ui/board".to_owned(),
        "/ui/today".to_owned(),
        "/ui/reports".to_owned(),
        format!("/ui/interests/{late}"),
        format!("/ui/interests/{late}/move?to=offer"),
        format!("/ui/clients/{client}"),
    ] {
        let (status, html) = page(&app, &cookie, &path).await;
        assert_eq!(status, 200, "{path}");
        assert!(
            html.contains("id=\"overdue-badge\"") && html.contains(&badge),
            "{path}: {html}"
        );
    }
    app.stop().await;
}
