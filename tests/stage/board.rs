//! The managers' board in a real headless Chromium: log in as a manager, see
//! the card, move it through a transition, see the feed entry; another
//! manager does not see it, the head does.

use chrono::{Duration, Utc};
use leadgate::users::{set_password, Login, Password};
use serde_json::json;

use crate::app;
use crate::browser::Browser;

const PASSWORD: &str = "correct horse battery";

async fn password_for(app: &crate::helpers::TestApp, login: &str) {
    set_password(
        &app.store,
        &Login::parse(login).expect("login"),
        &Password::parse(PASSWORD).expect("password"),
    )
    .await
    .expect("password set");
}

async fn logout(browser: &Browser) {
    browser.click("header .logout button").await;
    browser.wait_for("form.login").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_moves_a_card_through_a_transition_in_chromium() {
    let app = app().await;
    for login in ["ivanova", "petrov", "smirnova"] {
        password_for(&app, login).await;
    }
    let response = app
        .post_appeal(&crate::helpers::appeal(
            "crm",
            "board-1",
            json!({"name": "<b>Ольга</b> & Co", "phones": ["+7 912 500 00 01"]}),
        ))
        .await;
    let accepted: serde_json::Value = response.json().await.expect("json");
    let processed = app
        .processed_appeal(accepted["id"].as_i64().expect("id"))
        .await;
    let id = processed["interest_id"].as_i64().expect("interest");

    let browser = Browser::start().await;
    browser.login(&app.address, "ivanova", PASSWORD).await;
    browser.click("header nav a[href=\"/ui/board\"]").await;
    let card = browser
        .wait_for(&format!("#column-request #interest-{id}"))
        .await;
    let colour = card.attr("data-colour").await.unwrap().unwrap_or_default();
    assert!(["green", "yellow", "red"].contains(&colour.as_str()));
    // The client's name reads as typed: escaped, not markup.
    let name = browser
        .wait_for(&format!("#interest-{id} a.client"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(name, "<b>Ольга</b> & Co");

    // Move the card: choose the stage, then fill the transition form.
    browser
        .wait_for(&format!("#move-to-{id}"))
        .await
        .select_by_value("offer")
        .await
        .unwrap();
    browser.click(&format!("#move-{id}")).await;
    browser.wait_for("form.transition").await;
    browser
        .fill("#result", "Клиент запросил КП на 20 шт.")
        .await;
    // No date for the planned call: refused, the form comes back with why.
    browser.click("#transition-submit").await;
    let problem = browser.wait_for("#form-error").await.text().await.unwrap();
    assert!(problem.contains("Следующий шаг"), "{problem}");
    browser
        .fill("#result", "Клиент запросил КП на 20 шт.")
        .await;
    // datetime-local input is locale-dependent to type into; set its value.
    let tomorrow = (Utc::now() + Duration::days(1))
        .with_timezone(&chrono_tz::Europe::Moscow)
        .format("%Y-%m-%dT10:00")
        .to_string();
    browser
        .client
        .execute(
            "document.getElementById('next-at').value = arguments[0];",
            vec![json!(tomorrow)],
        )
        .await
        .unwrap();
    browser.fill("#next-subject", "Обсудить КП").await;
    browser.click("#transition-submit").await;

    browser.wait_for("p.flash").await;
    assert_eq!(browser.path().await, format!("/ui/interests/{id}?moved=1"));
    assert_eq!(
        browser.wait_for("#stage-name").await.text().await.unwrap(),
        "КП/Счёт"
    );
    let changed = browser
        .wait_for("#feed li[data-kind=\"stage_changed\"]")
        .await
        .text()
        .await
        .unwrap();
    assert!(changed.contains("«Запрос» → «КП/Счёт»"), "{changed}");
    let result = browser
        .wait_for("#feed li[data-kind=\"interaction_result\"]")
        .await
        .text()
        .await
        .unwrap();
    assert!(result.contains("Клиент запросил КП на 20 шт."), "{result}");
    assert!(browser.source().await.contains("Обращения"));
    let stored = app.interest(id).await;
    assert_eq!(stored["stage"], "offer");
    assert_eq!(stored["interactions"][0]["subject"], "Обсудить КП");

    browser.goto(&app.url("/ui/board")).await;
    browser
        .wait_for(&format!("#column-offer #interest-{id}"))
        .await;

    // Another manager sees neither the card nor the interest.
    logout(&browser).await;
    browser.login(&app.address, "petrov", PASSWORD).await;
    browser.goto(&app.url("/ui/board")).await;
    browser.wait_for("#column-offer").await;
    assert!(!browser
        .source()
        .await
        .contains(&format!("id=\"interest-{id}\"")));
    browser.goto(&app.url(&format!("/ui/interests/{id}"))).await;
    assert!(browser.source().await.contains("Не найдено"));

    // The head sees the department's cards.
    browser.goto(&app.url("/ui/board")).await;
    logout(&browser).await;
    browser.login(&app.address, "smirnova", PASSWORD).await;
    browser.goto(&app.url("/ui/board")).await;
    browser
        .wait_for(&format!("#column-offer #interest-{id}"))
        .await;
    browser.close().await;
    app.stop().await;
}
