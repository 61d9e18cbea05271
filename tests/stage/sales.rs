//! A manager's day on «Мои продажи» in a real headless Chromium: Today and a
//! task completed there, the interest card with the client's phone, planning
//! a call, dragging a card to the next stage and filling the form, the
//! refusal when nothing is planned, answering a Telegram appeal (it reaches
//! the Telegram fake once), the board searched by a phone spelled
//! `8 (9xx) …`, a column of 120 cards paged by 50, and 404 for a manager of
//! another department. The screenshots go to docs/img/.

use std::path::PathBuf;

use chrono::{Duration, Utc};
use leadgate::settings::{DepartmentSettings, ManagerSettings, Role, Settings, TelegramMode};
use leadgate::users::{set_password, Login, Password};
use serde_json::json;

use crate::browser::Browser;
use crate::fakes::FakeTelegram;
use crate::helpers::{appeal, eventually, scalar, scalar_with, spawn_app_with, TestApp};
use crate::{configure, post, IVANOVA};

const PASSWORD: &str = "correct horse battery";
const TG_TOKEN: &str = "123456:test-token";
const TG_SECRET: &str = "sales-telegram-secret";

async fn password_for(app: &TestApp, login: &str) {
    set_password(
        &app.store,
        &Login::parse(login).expect("login"),
        &Password::parse(PASSWORD).expect("password"),
    )
    .await
    .expect("password set");
}

/// A second department with its own manager, and a Telegram bot on the fake.
fn configure_day(s: &mut Settings, telegram_url: &str) {
    configure(s);
    s.departments.push(DepartmentSettings {
        id: "b2b".into(),
        name: "Оптовый отдел".into(),
        head: None,
    });
    s.managers.push(ManagerSettings {
        login: "sidorov".into(),
        name: "Сидор Сидоров".into(),
        email: None,
        department: Some("b2b".into()),
        role: Role::Manager,
        pbx_user: None,
    });
    s.telegram.bots.insert(
        "sales".into(),
        leadgate::settings::TelegramBotSettings {
            token: leadgate::settings::Secret::new(TG_TOKEN),
            mode: TelegramMode::Webhook,
            secret_token: Some(leadgate::settings::Secret::new(TG_SECRET)),
            greeting: None,
            allow_groups: false,
            api_url: telegram_url.to_owned(),
            poll_timeout_secs: 1,
            burst: leadgate::settings::BurstSettings::default(),
        },
    );
}

/// The whole page, not only what fits the window, as a reader of the docs
/// would want to see it.
async fn screenshot(browser: &Browser, name: &str) {
    browser
        .client
        .execute("window.scrollTo(0, 0);", vec![])
        .await
        .expect("scroll");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/img");
    browser.screenshot(&dir.join(format!("{name}.png"))).await;
}

async fn set_value(browser: &Browser, id: &str, value: &str) {
    browser
        .client
        .execute(
            "document.getElementById(arguments[0]).value = arguments[1];",
            vec![json!(id), json!(value)],
        )
        .await
        .expect("value set");
}

/// A `datetime-local` value `days` from now at `hour` in the office's zone.
fn local_at(days: i64, hour: u32) -> String {
    (Utc::now() + Duration::days(days))
        .with_timezone(&chrono_tz::Europe::Moscow)
        .format(&format!("%Y-%m-%dT{hour:02}:00"))
        .to_string()
}

/// Drags the card onto the column the way a person's mouse would: HTML5
/// drag events, which WebDriver's pointer actions do not produce.
async fn drag(browser: &Browser, interest: i64, stage: &str) {
    browser
        .client
        .execute(
            "const card = document.getElementById('interest-' + arguments[0]);\
             const column = document.getElementById('column-' + arguments[1]);\
             const dt = new DataTransfer();\
             card.dispatchEvent(new DragEvent('dragstart', {bubbles: true, dataTransfer: dt}));\
             column.dispatchEvent(new DragEvent('dragover', {bubbles: true, cancelable: true, dataTransfer: dt}));\
             column.dispatchEvent(new DragEvent('drop', {bubbles: true, cancelable: true, dataTransfer: dt}));",
            vec![json!(interest), json!(stage)],
        )
        .await
        .expect("drag");
}

async fn text_of(browser: &Browser, css: &str) -> String {
    browser.wait_for(css).await.text().await.unwrap_or_default()
}

async fn wait_path(browser: &Browser, prefix: &str) -> String {
    eventually(&format!("the browser to reach {prefix}"), async || {
        let path = browser.path().await;
        path.starts_with(prefix).then_some(path)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_managers_day_on_the_board_the_card_and_today() {
    let telegram = FakeTelegram::start(TG_TOKEN).await;
    let tg_url = telegram.url.clone();
    let app = spawn_app_with(|s| configure_day(s, &tg_url)).await;
    for login in ["ivanova", "sidorov"] {
        password_for(&app, login).await;
    }

    // A site lead with everything a form sends, and a Telegram message.
    let site = app
        .post_and_process(&json!({
            "source": "site", "external_id": "day-1",
            "contact": {"name": "Ольга Кузнецова", "phones": ["+7 912 555-01-02"],
                        "emails": ["olga@romashka.ru"], "company": "ООО Ромашка"},
            "subject": "Запрос цены на доставку",
            "text": "Нужна доставка 20 паллет в Казань.\nКогда сможете?",
            "attributes": {"utm_source": "yandex", "utm_campaign": "kazan", "Объём": "20 паллет"}
        }))
        .await;
    let a = site["interest_id"].as_i64().expect("site interest");
    let client_a = site["client_id"].as_i64().expect("site client");
    let hook = app
        .client
        .post(app.url("/hooks/telegram/sales"))
        .header("X-Telegram-Bot-Api-Secret-Token", TG_SECRET)
        .json(&json!({"update_id": 501, "message": {
            "message_id": 77, "date": 1_700_000_000,
            "chat": {"id": 4242, "type": "private", "first_name": "Игорь"},
            "from": {"id": 4242, "is_bot": false, "first_name": "Игорь", "last_name": "Белов", "username": "igor_belov"},
            "text": "Здравствуйте, есть ли скидки на опт?"}}))
        .send()
        .await
        .expect("telegram hook");
    assert_eq!(hook.status().as_u16(), 200);
    let b = eventually("the Telegram appeal's interest", async || {
        let (_, list) = crate::get(&app, IVANOVA, "/api/v1/interests").await;
        list.as_array()?
            .iter()
            .find(|i| {
                i["client_name"]
                    .as_str()
                    .is_some_and(|n| n.contains("Игорь"))
            })
            .and_then(|i| i["id"].as_i64())
    })
    .await;

    // Time passes: the call task of the site lead is an hour late, and a
    // meeting is already agreed, so completing the task is not the last step.
    sqlx::query("UPDATE tasks SET due_at = $1 WHERE interest_id = $2")
        .bind((Utc::now() - Duration::hours(1)).timestamp_millis())
        .bind(a)
        .execute(app.store.pool())
        .await
        .expect("late task");
    let planned = post(
        &app,
        IVANOVA,
        &format!("/api/v1/interests/{a}/interactions"),
        json!({"kind": "meeting", "planned_at": crate::in_days(2), "subject": "Встреча на складе"}),
    )
    .await;
    assert_eq!(planned.0, 201, "{}", planned.1);

    let browser = Browser::start().await;
    browser.login(&app.address, "ivanova", PASSWORD).await;

    // Today: the late task, oldest first, completed right there.
    let badge = text_of(&browser, "#overdue-badge").await;
    assert!(badge.contains('1'), "{badge}");
    browser.click("header nav a[href=\"/ui/today\"]").await;
    let task_id = scalar_with(
        &app.store,
        "SELECT MIN(id) FROM tasks WHERE interest_id = $1",
        a,
    )
    .await;
    let row = text_of(&browser, &format!("#today-task-{task_id}")).await;
    assert!(row.contains("Телефонный звонок клиенту"), "{row}");
    assert!(row.contains("просрочена"), "{row}");
    screenshot(&browser, "today").await;
    browser
        .fill(&format!("#today-result-{task_id}"), "Дозвонилась, ждёт КП")
        .await;
    browser.click(&format!("#today-complete-{task_id}")).await;
    browser.wait_for("p.flash").await;
    assert!(!browser
        .source()
        .await
        .contains(&format!("id=\"today-task-{task_id}\"")));
    assert_eq!(
        scalar_with(
            &app.store,
            "SELECT COUNT(*) FROM tasks WHERE status = 'done' AND result = 'Дозвонилась, ждёт КП' AND interest_id = $1",
            a
        )
        .await,
        1
    );

    // The card: whom to call, the appeal in full.
    browser.goto(&app.url(&format!("/ui/interests/{a}"))).await;
    let phone = browser.wait_for("#client a.tel").await;
    assert_eq!(
        phone.attr("href").await.unwrap().as_deref(),
        Some("tel:+79125550102")
    );
    assert_eq!(phone.text().await.unwrap(), "+7 912 555-01-02");
    let mail = browser.wait_for("#client a.mailto").await;
    assert_eq!(
        mail.attr("href").await.unwrap().as_deref(),
        Some("mailto:olga@romashka.ru")
    );
    assert_eq!(text_of(&browser, "#company").await, "ООО Ромашка");
    let appeal_text = text_of(&browser, "#appeals article.appeal").await;
    for expected in [
        "Запрос цены на доставку",
        "Нужна доставка 20 паллет в Казань.",
        "utm_source",
        "yandex",
        "Объём",
    ] {
        assert!(
            appeal_text.contains(expected),
            "{expected} in {appeal_text}"
        );
    }
    assert!(browser.source().await.contains("aria-current=\"step\""));

    // Plan a call.
    browser
        .wait_for("#plan-next-interaction")
        .await
        .click()
        .await
        .unwrap();
    set_value(&browser, "plan-next-at", &local_at(1, 11)).await;
    browser.fill("#plan-next-subject", "Обсудить КП").await;
    browser.click("#plan-submit").await;
    browser.wait_for("p.flash").await;
    let planned = text_of(&browser, "#planned").await;
    assert!(
        planned.contains("Звонок на") && planned.contains("Обсудить КП"),
        "{planned}"
    );
    screenshot(&browser, "interest").await;

    // Drag the Telegram card to the next stage: with nothing planned the
    // engine refuses, and says why.
    browser.goto(&app.url("/ui/board")).await;
    browser
        .wait_for(&format!("#column-request #interest-{b}"))
        .await;
    screenshot(&browser, "board").await;
    drag(&browser, b, "offer").await;
    wait_path(&browser, &format!("/ui/interests/{b}/move?to=offer")).await;
    browser.wait_for("#closing-tasks").await;
    browser.fill("#result", "Прислал реквизиты").await;
    browser.click("#transition-submit").await;
    let refusal = text_of(&browser, "#form-error").await;
    assert!(refusal.contains("ничего не запланировано"), "{refusal}");
    // The typed result survives the refusal.
    assert_eq!(
        browser
            .wait_for("#result")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("Прислал реквизиты")
    );
    set_value(&browser, "next-at", &local_at(1, 15)).await;
    browser.fill("#next-subject", "Позвонить по КП").await;
    browser.click("#transition-submit").await;
    browser.wait_for("p.flash").await;
    assert_eq!(text_of(&browser, "#stage-name").await, "КП/Счёт");
    // The stage's call task was done by the move, with the result typed.
    assert_eq!(
        scalar_with(
            &app.store,
            "SELECT COUNT(*) FROM tasks WHERE status = 'done' AND result = 'Прислал реквизиты' AND interest_id = $1",
            b
        )
        .await,
        1
    );
    let b_open = scalar_with(
        &app.store,
        "SELECT COUNT(*) FROM tasks WHERE status IN ('open', 'overdue') AND interest_id = $1",
        b,
    )
    .await;
    assert_eq!(b_open, 0, "no task left behind to turn the card red");

    // Answer the Telegram message from the card: it reaches Telegram once.
    browser.wait_for("#reply-channel").await;
    browser
        .fill("#reply-text", "Игорь, да: от 10 паллет скидка 5%.")
        .await;
    browser.click("#reply-submit").await;
    browser.wait_for("p.flash").await;
    eventually("the answer to reach Telegram", async || {
        (!telegram.sent().is_empty()).then_some(())
    })
    .await;
    eventually("the answer in the feed", async || {
        browser.goto(&app.url(&format!("/ui/interests/{b}"))).await;
        browser
            .source()
            .await
            .contains("data-kind=\"message_out\"")
            .then_some(())
    })
    .await;
    assert_eq!(
        telegram.sent(),
        vec![(4242, "Игорь, да: от 10 паллет скидка 5%.".to_owned())]
    );
    let delivered = text_of(&browser, "#outgoing").await;
    assert!(delivered.contains("доставлено"), "{delivered}");

    // The board finds the site lead by its phone as people type it.
    browser.goto(&app.url("/ui/board")).await;
    browser.fill("#q", "8 (912) 555-01-02").await;
    browser.click("#filter-submit").await;
    browser.wait_for(&format!("#interest-{a}")).await;
    let found = browser.source().await;
    assert!(!found.contains(&format!("id=\"interest-{b}\"")));
    browser.fill("#q", "кузнецова").await;
    browser.click("#filter-submit").await;
    browser.wait_for(&format!("#interest-{a}")).await;

    // A manager of another department: neither the interest nor the client.
    browser.click("header .logout button").await;
    browser.wait_for("form.login").await;
    browser.login(&app.address, "sidorov", PASSWORD).await;
    for path in [
        format!("/ui/interests/{a}"),
        format!("/ui/clients/{client_a}"),
    ] {
        browser.goto(&app.url(&path)).await;
        let page = browser.source().await;
        assert!(page.contains("Не найдено"), "{path}: {page}");
        assert!(!page.contains("Кузнецова"), "{path}");
    }
    browser.close().await;

    // And over plain HTTP it is a 404.
    let mut cookie_jar = None::<String>;
    let login = app
        .client
        .get(app.url("/ui/login"))
        .send()
        .await
        .expect("login page");
    let set_cookie: Vec<String> = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    let body = login.text().await.expect("login body");
    let csrf = hidden(&body, "csrf");
    let pre = set_cookie
        .iter()
        .filter_map(|c| c.split(';').next())
        .collect::<Vec<_>>()
        .join("; ");
    let logged = app
        .client
        .post(app.url("/ui/login"))
        .header("cookie", pre)
        .form(&[
            ("login", "sidorov"),
            ("password", PASSWORD),
            ("csrf", csrf.as_str()),
            ("next", "/ui/board"),
        ])
        .send()
        .await
        .expect("login");
    for v in logged.headers().get_all("set-cookie") {
        let v = v.to_str().unwrap_or("");
        if v.starts_with("lg_session=") {
            cookie_jar = v.split(';').next().map(str::to_owned);
        }
    }
    let cookie = cookie_jar.expect("session cookie");
    for path in [
        format!("/ui/interests/{a}"),
        format!("/ui/clients/{client_a}"),
    ] {
        let resp = app
            .client
            .get(app.url(&path))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("page");
        assert_eq!(resp.status().as_u16(), 404, "{path}");
    }
    app.stop().await;
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect("hidden field") + marker.len();
    let end = html[start..].find('"').expect("end of value");
    html[start..start + end].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_column_of_120_cards_pages_by_50() {
    let app = spawn_app_with(configure).await;
    password_for(&app, "ivanova").await;
    let posts = (0..120).map(|n| {
        let app = &app;
        async move {
            let body = appeal(
                "crm",
                &format!("many-{n}"),
                json!({"phones": [format!("+7 913 000-{:02}-{:02}", n / 100, n % 100)]}),
            );
            let resp = app.post_appeal(&body).await;
            assert!(resp.status().is_success());
        }
    });
    futures_util::future::join_all(posts).await;
    eventually("120 interests", async || {
        (scalar(&app.store, "SELECT COUNT(*) FROM interests").await == 120).then_some(())
    })
    .await;

    let browser = Browser::start().await;
    browser.login(&app.address, "ivanova", PASSWORD).await;
    browser.goto(&app.url("/ui/board")).await;
    let count = text_of(&browser, "#column-request h2 .count").await;
    assert_eq!(count, "120");
    let cards = |html: &str| html.matches("class=\"card ").count();
    assert_eq!(cards(&browser.source().await), 50);
    browser.click("#more-request").await;
    wait_path(&browser, "/ui/board?column=request&offset=50").await;
    assert_eq!(cards(&browser.source().await), 50);
    assert!(text_of(&browser, "#column-request .page-note")
        .await
        .contains("51–100 из 120"));
    browser.click("#more-request").await;
    wait_path(&browser, "/ui/board?column=request&offset=100").await;
    assert_eq!(cards(&browser.source().await), 20);
    assert!(browser.source().await.contains("id=\"prev-request\""));
    assert!(!browser.source().await.contains("id=\"more-request\""));
    browser.close().await;
    app.stop().await;
}
