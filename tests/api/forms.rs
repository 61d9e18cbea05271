use serde_json::Value;

use crate::helpers::{spawn_app, spawn_app_with};
use leadgate::settings::Secret;

async fn post_form(app: &crate::helpers::TestApp, body: &str) -> reqwest::Response {
    app.client
        .post(app.url("/hooks/forms/site"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

/// The form's answer names no internal id (anonymous posters must not count
/// or enumerate our appeals): the stored appeal is the newest one.
async fn stored_id(app: &crate::helpers::TestApp, resp: reqwest::Response) -> i64 {
    let body = resp.json::<Value>().await.unwrap();
    assert!(
        body.get("id").is_none(),
        "a form reply carries no id: {body}"
    );
    assert!(body["status"].is_string(), "{body}");
    crate::helpers::scalar(&app.store, "SELECT MAX(id) FROM appeals").await
}

#[tokio::test]
async fn a_tilda_style_form_becomes_an_appeal_with_utm() {
    let app = spawn_app().await;
    let resp = post_form(
        &app,
        "Name=%D0%90%D0%BD%D0%BD%D0%B0&Phone=%2B7+(912)+345-67-89&Email=anna%40example.ru&Comments=%D0%A1%D1%87%D1%91%D1%82&utm_source=yandex&tranid=4451:9001&formid=form1",
    )
    .await;
    assert_eq!(resp.status().as_u16(), 202);
    let id = stored_id(&app, resp).await;
    let appeal = app.processed_appeal(id).await;
    assert_eq!(appeal["channel"], "form");
    assert_eq!(appeal["source"], "site");
    assert_eq!(appeal["external_id"], "4451:9001");
    assert_eq!(appeal["contact"]["name"], "Анна");
    assert_eq!(appeal["contact"]["phones"][0], "+7 (912) 345-67-89");
    assert_eq!(appeal["text"], "Счёт");
    assert_eq!(appeal["attributes"]["utm_source"], "yandex");
    // Tilda redelivers with the same tranid: the same appeal.
    let again = post_form(&app, "Name=X&Phone=%2B79123456789&tranid=4451:9001").await;
    assert_eq!(again.status().as_u16(), 200);
    assert_eq!(stored_id(&app, again).await, id, "no second appeal");
}

#[tokio::test]
async fn the_tilda_connection_check_creates_nothing() {
    let app = spawn_app().await;
    let resp = post_form(&app, "test=test").await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.text().await.unwrap(), "ok");
    assert_eq!(app.store.appeal_counts().await.unwrap().pending, 0);
    assert!(app.store.appeal(1).await.unwrap().is_none());
}

#[tokio::test]
async fn without_tranid_a_double_submit_is_one_appeal() {
    let app = spawn_app().await;
    let a = post_form(&app, "name=Ivan&phone=89123456780").await;
    let b = post_form(&app, "name=Ivan&phone=89123456780").await;
    assert_eq!(a.status().as_u16(), 202);
    assert_eq!(b.status().as_u16(), 200);
    let c = post_form(&app, "name=Ivan&phone=89123456780&comment=second+question").await;
    assert_eq!(c.status().as_u16(), 202);
}

#[tokio::test]
async fn json_and_multipart_forms_are_understood() {
    let app = spawn_app().await;
    let resp = app
        .client
        .post(app.url("/hooks/forms/site"))
        .json(&serde_json::json!({"Имя": "Сергей", "Телефон": "8 912 345 67 11", "Сообщение": "Привет", "tranid": "j1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let id = stored_id(&app, resp).await;
    let appeal = app.processed_appeal(id).await;
    assert_eq!(appeal["contact"]["name"], "Сергей");
    assert_eq!(appeal["text"], "Привет");

    let form = reqwest::multipart::Form::new()
        .text("fio", "Мария")
        .text("tel", "+7 912 345-67-12")
        .part(
            "file",
            reqwest::multipart::Part::bytes(vec![1u8; 2048])
                .file_name("ТЗ.pdf")
                .mime_str("application/pdf")
                .unwrap(),
        );
    let resp = app
        .client
        .post(app.url("/hooks/forms/site"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let id = stored_id(&app, resp).await;
    let stored = app.store.appeal(id).await.unwrap().unwrap();
    assert_eq!(stored.contact.name.as_deref(), Some("Мария"));
    assert_eq!(stored.attachments.len(), 1);
    assert_eq!(stored.attachments[0].name, "ТЗ.pdf");
    assert_eq!(stored.attachments[0].size, 2048);
}

#[tokio::test]
async fn a_browser_is_redirected_to_the_thank_you_page() {
    let app = spawn_app().await;
    let resp = app
        .client
        .post(app.url("/hooks/forms/site"))
        .header("accept", "text/html,application/xhtml+xml")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("name=Ivan&phone=89123450000")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(resp.headers()["location"], "https://example.ru/thanks");
}

#[tokio::test]
async fn a_filled_honeypot_is_dropped_silently() {
    let app = spawn_app().await;
    let resp = post_form(&app, "name=Bot&phone=89120000000&website=http://spam").await;
    assert_eq!(resp.status().as_u16(), 200);
    assert!(app.store.appeal(1).await.unwrap().is_none());
    let metrics = app.metrics().await;
    assert!(metrics.contains("reason=\"honeypot\""), "{metrics}");
}

#[tokio::test]
async fn invalid_utf8_is_stored_with_replacement_characters() {
    let app = spawn_app().await;
    let resp = app
        .client
        .post(app.url("/hooks/forms/site"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(b"name=%FF%FEIvan&phone=89123456700".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let id = stored_id(&app, resp).await;
    let stored = app.store.appeal(id).await.unwrap().unwrap();
    assert!(stored.contact.name.unwrap().ends_with("Ivan"));
}

#[tokio::test]
async fn a_form_secret_is_checked_and_unknown_forms_are_404() {
    let app = spawn_app_with(|s| {
        s.forms.get_mut("site").unwrap().secret = Some(Secret::new("s3cret-value"));
    })
    .await;
    let resp = post_form(&app, "name=Ivan&phone=89123456701").await;
    assert_eq!(resp.status().as_u16(), 401);
    let resp = post_form(&app, "name=Ivan&phone=89123456701&form_secret=s3cret-value").await;
    assert_eq!(resp.status().as_u16(), 202);
    let resp = app
        .client
        .post(app.url("/hooks/forms/site"))
        .header("X-Leadgate-Form-Secret", "s3cret-value")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("name=Ivan&phone=89123456702")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let resp = app
        .client
        .post(app.url("/hooks/forms/nope"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("name=Ivan")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
}

#[tokio::test]
async fn a_form_without_contact_fields_is_a_422() {
    let app = spawn_app().await;
    let resp = post_form(&app, "city=Moscow").await;
    assert_eq!(resp.status().as_u16(), 422);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["field"], "contact");
}
