//! The ИНН in the live flow: the API refuses a wrong one, a form drops it and
//! keeps the lead, a new client takes a valid one as its company key, a
//! merge carries it over and the undo gives it back.

use serde_json::{json, Value};

use crate::helpers::{appeal, spawn_app, TestApp, TOKEN};

const ALPHA: &str = "7707083893";
const BETA: &str = "7736207543";

async fn client(app: &TestApp, id: &Value) -> Value {
    let (status, body) = app.get_json(&format!("/api/v1/clients/{id}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn stored_decision(app: &TestApp, id: i64) -> Value {
    let stored = app.store.appeal(id).await.unwrap().unwrap();
    serde_json::to_value(stored.decision.unwrap()).unwrap()
}

#[tokio::test]
async fn the_api_refuses_a_wrong_inn_naming_the_field() {
    let app = spawn_app().await;
    for bad in ["7707083894", "77070838", "77070838ab"] {
        let resp = app
            .post_appeal(&appeal(
                "crm",
                &format!("bad-{bad}"),
                json!({"name": "Мария", "phones": ["+79120000001"], "inn": bad}),
            ))
            .await;
        assert_eq!(resp.status().as_u16(), 422, "{bad}");
        assert_eq!(
            resp.headers()["content-type"],
            "application/problem+json",
            "{bad}"
        );
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["field"], "contact.inn", "{body}");
        assert!(body["detail"].as_str().unwrap().contains("ИНН"), "{body}");
    }
    assert_eq!(
        crate::helpers::scalar(&app.store, "SELECT COUNT(*) FROM appeals").await,
        0,
        "nothing stored"
    );
    // An empty one is no ИНН, not a wrong one.
    let resp = app
        .post_appeal(&appeal(
            "crm",
            "empty",
            json!({"name": "Мария", "phones": ["+79120000001"], "inn": " "}),
        ))
        .await;
    assert_eq!(resp.status().as_u16(), 202);
}

#[tokio::test]
async fn a_new_client_gets_the_appeals_inn_and_a_colleague_with_it_joins_it() {
    let app = spawn_app().await;
    let first = app
        .post_and_process(&appeal(
            "crm",
            "a-1",
            json!({"name": "Иван Петров", "company": "ООО Альфа",
                   "phones": ["+79120000001"], "inn": "7707-083-893"}),
        ))
        .await;
    assert_eq!(first["decision"]["kind"], "new_client");
    let alpha = client(&app, &first["client_id"]).await;
    assert_eq!(alpha["inn"], ALPHA, "{alpha}");
    assert_eq!(alpha["kind"], "company");
    // The stored appeal keeps the ИНН as it was sent.
    assert_eq!(first["contact"]["inn"], "7707-083-893");

    let colleague = app
        .post_and_process(&appeal(
            "crm",
            "a-2",
            json!({"name": "Мария Сидорова", "phones": ["+79160000002"], "inn": ALPHA}),
        ))
        .await;
    assert_eq!(
        colleague["decision"]["kind"], "existing_client",
        "{colleague}"
    );
    assert_eq!(colleague["client_id"], first["client_id"]);
    assert_eq!(colleague["decision"]["matched_on"], json!(["inn"]));
    let decision = stored_decision(&app, colleague["id"].as_i64().unwrap()).await;
    assert_eq!(decision["new_person"], "Мария Сидорова");
    let inn = decision["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["field"] == "inn")
        .unwrap_or_else(|| panic!("{decision}"));
    assert_eq!(inn["client_id"], first["client_id"]);
    assert_eq!(inn["shared_by"], 1);
    let alpha = client(&app, &first["client_id"]).await;
    let persons: Vec<&str> = alpha["contact_persons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(persons, ["Иван Петров", "Мария Сидорова"]);

    // An organisation's ИНН without the company's name still makes a
    // company, found by that ИНН next time.
    let unnamed = app
        .post_and_process(&appeal(
            "crm",
            "b-1",
            json!({"name": "Олег", "emails": ["oleg@mail.ru"], "inn": BETA}),
        ))
        .await;
    let beta = client(&app, &unnamed["client_id"]).await;
    assert_eq!(
        (&beta["kind"], &beta["name"], &beta["inn"]),
        (
            &json!("company"),
            &json!(format!("ИНН {BETA}")),
            &json!(BETA)
        )
    );
}

#[tokio::test]
async fn two_appeals_in_one_batch_with_one_inn_make_one_client() {
    let app = crate::helpers::spawn_app_without_pipeline().await;
    for (ext, name) in [("t-1", "Иван Петров"), ("t-2", "Мария Сидорова")] {
        let resp = app
            .post_appeal(&appeal(
                "crm",
                ext,
                json!({"name": name, "company": "ООО Альфа", "inn": ALPHA}),
            ))
            .await;
        assert_eq!(resp.status().as_u16(), 202);
    }
    let p = crate::pipeline::pipeline(app.store.clone(), std::sync::Arc::new(app.settings.clone()));
    let done = p.process_batch().await.unwrap();
    assert_eq!(done.len(), 2);
    assert_eq!(done[0].client_id, done[1].client_id, "{done:?}");
    assert_eq!(
        crate::helpers::scalar(&app.store, "SELECT COUNT(*) FROM clients").await,
        1
    );
}

async fn post_form(app: &TestApp, body: &str) -> i64 {
    let resp = app
        .client
        .post(app.url("/hooks/forms/site"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    crate::helpers::scalar(&app.store, "SELECT MAX(id) FROM appeals").await
}

#[tokio::test]
async fn a_forms_inn_field_is_used_and_a_wrong_one_dropped_with_the_lead_kept() {
    let app = spawn_app().await;
    // Tilda writes the field as it is named on the form: «ИНН».
    let id = post_form(
        &app,
        "Name=%D0%98%D0%B2%D0%B0%D0%BD&Phone=%2B79120000001&%D0%98%D0%9D%D0%9D=7707+083+893&tranid=1:1",
    )
    .await;
    let first = app.processed_appeal(id).await;
    assert_eq!(first["contact"]["inn"], "7707 083 893");
    let known = client(&app, &first["client_id"]).await;
    assert_eq!(known["inn"], ALPHA, "{known}");

    // A wrong check digit: the lead is stored and processed, the ИНН dropped
    // with its reason, and it matches nobody.
    let id = post_form(
        &app,
        "name=%D0%9C%D0%B0%D1%80%D0%B8%D1%8F&phone=%2B79160000002&company_inn=7707083894&tranid=1:2",
    )
    .await;
    let second = app.processed_appeal(id).await;
    assert_eq!(second["status"], "created", "{second}");
    assert_eq!(second["decision"]["kind"], "new_client");
    assert_eq!(second["contact"]["inn"], "7707083894", "raw text kept");
    let decision = stored_decision(&app, id).await;
    let rejected = decision["rejected_contact_points"].as_array().unwrap();
    assert_eq!(rejected.len(), 1, "{decision}");
    assert_eq!(rejected[0]["field"], "contact.inn");
    assert_eq!(rejected[0]["raw"], "7707083894");
    assert!(
        rejected[0]["reason"]
            .as_str()
            .unwrap()
            .contains("check digit"),
        "{decision}"
    );
    let created = client(&app, &second["client_id"]).await;
    assert!(created["inn"].is_null(), "{created}");
}

async fn merge(app: &TestApp, into: i64, from: i64) -> i64 {
    let merged: Value = app
        .client
        .post(app.url("/api/v1/clients/merge"))
        .bearer_auth(TOKEN)
        .json(&json!({"into": into, "from": from}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    merged["merge_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("{merged}"))
}

async fn undo(app: &TestApp, merge_id: i64) {
    let resp = app
        .client
        .post(app.url(&format!("/api/v1/merges/{merge_id}/undo")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
}

#[tokio::test]
async fn a_merge_carries_the_inn_over_and_the_undo_gives_it_back() {
    let app = spawn_app().await;
    let a = app
        .post_and_process(&appeal(
            "crm",
            "m-1",
            json!({"name": "Иван Петров", "company": "ООО Альфа", "phones": ["+79120000001"]}),
        ))
        .await;
    let b = app
        .post_and_process(&appeal(
            "crm",
            "m-2",
            json!({"name": "Олег Смирнов", "company": "Альфа", "phones": ["+79120000002"], "inn": ALPHA}),
        ))
        .await;
    let (into, from) = (
        a["client_id"].as_i64().unwrap(),
        b["client_id"].as_i64().unwrap(),
    );
    let merge_id = merge(&app, into, from).await;
    assert_eq!(client(&app, &json!(into)).await["inn"], ALPHA);
    // The ИНН now finds the merged client, and only it.
    let c = app
        .post_and_process(&appeal(
            "crm",
            "m-3",
            json!({"name": "Анна Кузнецова", "phones": ["+79160000003"], "inn": ALPHA}),
        ))
        .await;
    assert_eq!(c["decision"]["kind"], "existing_client", "{c}");
    assert_eq!(c["client_id"], into);

    undo(&app, merge_id).await;
    assert!(client(&app, &json!(into)).await["inn"].is_null());
    assert_eq!(client(&app, &json!(from)).await["inn"], ALPHA);
    let d = app
        .post_and_process(&appeal(
            "crm",
            "m-4",
            json!({"name": "Пётр Иванов", "phones": ["+79160000004"], "inn": ALPHA}),
        ))
        .await;
    assert_eq!(d["decision"]["kind"], "existing_client", "{d}");
    assert_eq!(d["client_id"], from);
}

#[tokio::test]
async fn a_merge_of_two_inns_keeps_the_targets_and_both_find_it() {
    let app = spawn_app().await;
    let a = app
        .post_and_process(&appeal(
            "crm",
            "n-1",
            json!({"name": "Иван Петров", "company": "ООО Альфа", "inn": ALPHA}),
        ))
        .await;
    let b = app
        .post_and_process(&appeal(
            "crm",
            "n-2",
            json!({"name": "Олег Смирнов", "company": "ООО Бета", "inn": BETA}),
        ))
        .await;
    let (into, from) = (
        a["client_id"].as_i64().unwrap(),
        b["client_id"].as_i64().unwrap(),
    );
    let merge_id = merge(&app, into, from).await;
    assert_eq!(client(&app, &json!(into)).await["inn"], ALPHA);
    let c = app
        .post_and_process(&appeal(
            "crm",
            "n-3",
            json!({"name": "Анна Кузнецова", "inn": BETA}),
        ))
        .await;
    assert_eq!(c["client_id"], into, "{c}");
    undo(&app, merge_id).await;
    assert_eq!(client(&app, &json!(into)).await["inn"], ALPHA);
    assert_eq!(client(&app, &json!(from)).await["inn"], BETA);
}

#[tokio::test]
async fn the_openapi_documents_the_inn() {
    let app = spawn_app().await;
    let doc: Value = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schemas = &doc["components"]["schemas"];
    for schema in ["Client", "ContactCard"] {
        let inn = &schemas[schema]["properties"]["inn"];
        assert!(
            inn["description"]
                .as_str()
                .is_some_and(|d| d.contains("ИНН")),
            "{schema}: {inn}"
        );
    }
    assert!(schemas["ContactCard"]["properties"]["inn"]["description"]
        .as_str()
        .unwrap()
        .contains("contact.inn"));
}
