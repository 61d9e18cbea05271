//! `/ui/webhooks` in a real Chromium: an administrator sees each endpoint's
//! delivery state, and the page is saved as docs/img/webhooks.png for
//! docs/integration.md.

use std::path::PathBuf;

use leadgate::users::{self, Login, NewUser, Password};
use leadgate_domain::role::Role;

use crate::browser::Browser;
use crate::helpers::{appeal, eventually, spawn_app_with};
use crate::receiver::Receiver;
use crate::{configure, contact, webhook};

const PASSWORD: &str = "correct horse battery";

#[tokio::test]
async fn the_admin_page_shows_each_endpoints_attempts_status_lag_and_failures() {
    let crm = Receiver::start().await;
    let erp = Receiver::start().await;
    erp.answer(503);
    let (crm_url, erp_url) = (crm.url(), erp.url());
    let app = spawn_app_with(|s| {
        configure(s);
        let mut failing = webhook("erp", &erp_url, &["interest.*", "appeal.accepted"]);
        failing.retry_hours = 1;
        s.webhooks = vec![webhook("crm", &crm_url, &["*"]), failing];
    })
    .await;
    users::add_user(
        &app.store,
        NewUser {
            login: Login::parse("admin1").unwrap(),
            display_name: Some("Администратор".into()),
            role: Role::Admin,
            department: None,
            password: Password::parse(PASSWORD).unwrap(),
        },
    )
    .await
    .unwrap();

    app.post_and_process(&appeal(
        "crm",
        "p-1",
        contact("Ольга Кузнецова", "+7 912 510-00-01"),
    ))
    .await;
    // erp's first delivery fails until its window is over: a failure row.
    eventually("erp's first delivery given up", async || {
        sqlx::query(
            "UPDATE webhook_endpoints SET first_attempt_at = 0, next_attempt_at = 0 \
             WHERE name = 'erp' AND retry_event IS NOT NULL",
        )
        .execute(app.store.pool())
        .await
        .ok()?;
        let failed = app.store.webhook_failures("erp", 10).await.ok()?;
        (!failed.is_empty()).then_some(())
    })
    .await;
    // The next ones wait for their retries while the lag grows.
    for i in 2..5 {
        app.post_and_process(&appeal(
            "site",
            &format!("p-{i}"),
            contact("Игорь Соколов", &format!("+7 912 510-00-0{i}")),
        ))
        .await;
    }
    let last = app.store.last_event_id().await.unwrap();
    eventually("crm up to date, erp retrying", async || {
        let crm = app.store.webhook_endpoint("crm").await.ok()??;
        let erp = app.store.webhook_endpoint("erp").await.ok()??;
        (crm.position == last && erp.retry_event.is_some() && erp.attempts >= 2).then_some(())
    })
    .await;

    let browser = Browser::start().await;
    browser.login(&app.url(""), "admin1", PASSWORD).await;
    browser.goto(&app.url("/ui/webhooks")).await;
    browser.wait_for("section.webhook").await;
    let html = browser.source().await;
    for text in [
        "Исходящие вебхуки",
        "crm",
        "erp",
        "работает",
        "Отставание",
        "Недоставленные события",
        "503",
        "Отправить заново",
    ] {
        assert!(html.contains(text), "no «{text}» on the page");
    }
    let erp_state = browser
        .wait_for("#webhook-erp .status")
        .await
        .text()
        .await
        .unwrap();
    assert!(erp_state.contains("попыт"), "{erp_state}");
    let erp_lag = browser
        .wait_for("#webhook-erp .lag")
        .await
        .text()
        .await
        .unwrap();
    assert!(!erp_lag.starts_with('0'), "erp lags behind: {erp_lag}");
    let crm_lag = browser
        .wait_for("#webhook-crm .lag")
        .await
        .text()
        .await
        .unwrap();
    assert!(crm_lag.starts_with('0'), "crm is up to date: {crm_lag}");
    if std::env::var("LEADGATE_TEST_DB").as_deref() != Ok("postgres") {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/img/webhooks.png");
        browser.screenshot(&path).await;
    }
    browser.close().await;
    app.stop().await;
}
