//! The operator's whole path in a real browser: log in, open the queue,
//! decide by a click and by a key, see the queue empty.

use leadgate::settings::Role;

use crate::browser::Browser;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_decides_the_queue_by_click_and_by_key_in_chromium() {
    let app = spawn_web_app().await;
    create_user(&app, "operator1", Role::Operator).await;
    let first = review_fixture_n(&app, 1, "Первый <клиент>").await;
    let second = review_fixture_n(&app, 2, "Второй").await;

    let browser = Browser::start().await;
    // The queue needs a login first, and comes back after it.
    browser.goto(&app.url("/ui/review")).await;
    browser.wait_for("form.login").await;
    assert!(browser.path().await.starts_with("/ui/login?next="));
    browser.fill("#login", "operator1").await;
    browser.fill("#password", PASSWORD).await;
    browser.click("form.login button[type=submit]").await;
    let count = browser.wait_for("#open-count").await;
    assert_eq!(count.text().await.unwrap(), "2");
    assert_eq!(browser.path().await, "/ui/review");

    // The oldest item is shown first; the escaped name reads as typed.
    let item = browser.wait_for("#review-item").await;
    assert_eq!(
        item.attr("data-item").await.unwrap().as_deref(),
        Some(first.review_id.to_string().as_str())
    );
    let name = browser.wait_for(".appeal-name").await.text().await.unwrap();
    assert_eq!(name, "Первый <клиент>");

    browser
        .click(&format!("#decide-link-{}", first.client_a))
        .await;
    // After deciding, the next item is shown.
    browser
        .wait_for(&format!("#review-item[data-item=\"{}\"]", second.review_id))
        .await;
    assert_eq!(
        browser.wait_for("#open-count").await.text().await.unwrap(),
        "1"
    );
    assert!(browser.source().await.contains(&format!(
        "Решение по элементу №{} сохранено",
        first.review_id
    )));
    let (_, appeal) = api(
        &app,
        "GET",
        &format!("/api/v1/appeals/{}", first.appeal_id),
        OPERATOR_TOKEN,
        None,
    )
    .await;
    assert_eq!(appeal["client_id"], first.client_a);
    assert_eq!(
        appeal["interest_id"], first.interest_a,
        "the appeal reached its interest"
    );
    let (_, interest) = api(
        &app,
        "GET",
        &format!("/api/v1/interests/{}", first.interest_a),
        OPERATOR_TOKEN,
        None,
    )
    .await;
    assert!(interest["feed"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["appeal_id"] == first.appeal_id));

    // One key: N makes a new client.
    browser.press('n').await;
    browser.wait_for("#queue-empty").await;
    assert_eq!(
        browser.wait_for("#open-count").await.text().await.unwrap(),
        "0"
    );
    let (_, appeal) = api(
        &app,
        "GET",
        &format!("/api/v1/appeals/{}", second.appeal_id),
        OPERATOR_TOKEN,
        None,
    )
    .await;
    assert_eq!(appeal["status"], "created", "{appeal}");
    let new_client = appeal["client_id"].as_i64().unwrap();
    assert!(new_client != second.client_a && new_client != second.client_b);
    let (_, queue) = api(&app, "GET", "/api/v1/review", OPERATOR_TOKEN, None).await;
    assert_eq!(queue["count"], 0);
    browser.close().await;
}
