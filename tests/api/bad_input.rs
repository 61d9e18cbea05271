//! Bad input gets a clear 4xx naming the field, or is stored safely; nothing crashes.

use serde_json::{json, Value};

use crate::helpers::{appeal, spawn_app, TOKEN};

async fn problem(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn malformed_json_is_a_400() {
    let app = spawn_app().await;
    let resp = app
        .client
        .post(app.url("/api/v1/appeals"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body("{\"source\": \"crm\", ")
        .send()
        .await
        .unwrap();
    let (status, body) = problem(resp).await;
    assert_eq!(status, 400);
    assert!(body["detail"].as_str().unwrap().contains("malformed JSON"));
}

#[tokio::test]
async fn wrong_types_and_unknown_fields_name_the_field() {
    let app = spawn_app().await;
    let (status, body) = problem(
        app.post_appeal(
            &json!({"source": "crm", "external_id": "1", "contact": {"phones": "not a list"}}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["field"], "contact.phones");

    let (status, body) = problem(
        app.post_appeal(&json!({"source": "crm", "external_id": "1", "contact": {"name": "A"}, "colour": "red"}))
            .await,
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        body["detail"].as_str().unwrap().contains("colour"),
        "{body}"
    );

    let (status, body) = problem(
        app.post_appeal(&json!({"source": "crm", "contact": {"name": "A"}}))
            .await,
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        body["detail"].as_str().unwrap().contains("external_id"),
        "{body}"
    );
}

#[tokio::test]
async fn an_empty_contact_is_a_422() {
    let app = spawn_app().await;
    let (status, body) = problem(
        app.post_appeal(&appeal("crm", "e", json!({"phones": [" "]})))
            .await,
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["field"], "contact");
    let (status, body) = problem(
        app.post_appeal(&appeal("crm", " ", json!({"name": "A"})))
            .await,
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["field"], "external_id");
}

#[tokio::test]
async fn an_invalid_phone_is_kept_flagged_and_never_matched() {
    let app = spawn_app().await;
    let r = app
        .post_appeal(&appeal(
            "crm",
            "p",
            json!({"name": "Пётр", "phones": ["0000000000", "позвоните вечером"]}),
        ))
        .await;
    assert_eq!(r.status().as_u16(), 202);
    let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let processed = app.processed_appeal(id).await;
    assert_eq!(processed["status"], "created");
    assert_eq!(
        processed["contact"]["phones"][0], "0000000000",
        "raw text kept"
    );
    let stored = app.store.appeal(id).await.unwrap().unwrap();
    let decision = serde_json::to_value(stored.decision.unwrap()).unwrap();
    let rejected = decision["rejected_contact_points"].clone();
    assert_eq!(rejected.as_array().unwrap().len(), 2, "{rejected}");
    assert_eq!(rejected[0]["field"], "contact.phones[0]");
}

#[tokio::test]
async fn a_ten_megabyte_body_is_a_413() {
    let app = spawn_app().await;
    let big = "я".repeat(5 * 1024 * 1024);
    let resp = app
        .post_appeal(&appeal("crm", "big", json!({"name": big})))
        .await;
    let (status, _) = problem(resp).await;
    assert_eq!(status, 413);
    let resp = app
        .client
        .post(app.url("/hooks/forms/site"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("name={}", "a".repeat(10 * 1024 * 1024)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 413);
    // The daemon is still fine.
    let ok = app
        .post_appeal(&appeal("crm", "after", json!({"name": "A"})))
        .await;
    assert_eq!(ok.status().as_u16(), 202);
}

#[tokio::test]
async fn sql_and_html_are_stored_verbatim() {
    let app = spawn_app().await;
    let evil = "'); DROP TABLE appeals; -- <script>alert(1)</script>";
    let r = app
        .post_appeal(&json!({
            "source": evil, "external_id": evil,
            "contact": {"name": evil, "emails": [evil], "company": evil},
            "subject": evil, "text": evil, "attributes": {"x": evil}
        }))
        .await;
    assert_eq!(r.status().as_u16(), 202);
    let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let processed = app.processed_appeal(id).await;
    assert_eq!(processed["contact"]["name"], evil);
    assert_eq!(processed["text"], evil);
    assert_eq!(processed["source"], format!("api:{evil}"));
    let (_, client) = app
        .get_json(&format!("/api/v1/clients/{}", processed["client_id"]))
        .await;
    assert_eq!(client["name"], evil);
}

#[tokio::test]
async fn a_wrong_content_type_is_a_415() {
    let app = spawn_app().await;
    let resp = app
        .client
        .post(app.url("/api/v1/appeals"))
        .bearer_auth(TOKEN)
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    let (status, _) = problem(resp).await;
    assert_eq!(status, 415);
}

#[tokio::test]
async fn unknown_ids_are_404_problems() {
    let app = spawn_app().await;
    for path in [
        "/api/v1/appeals/999",
        "/api/v1/clients/999",
        "/api/v1/interests/999",
        "/no/such/route",
    ] {
        let resp = app
            .client
            .get(app.url(path))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        let (status, _) = problem(resp).await;
        assert_eq!(status, 404, "{path}");
    }
    let resp = app
        .client
        .get(app.url("/api/v1/appeals/abc"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
}
