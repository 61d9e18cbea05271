use serde_json::json;

use crate::helpers::{appeal, spawn_app, TOKEN};

#[tokio::test]
async fn an_appeal_is_stored_then_creates_client_interest_and_first_task() {
    let app = spawn_app().await;
    let resp = app
        .post_appeal(&appeal(
            "crm",
            "a-1",
            json!({"name": "Иван Петров", "phones": ["8 (912) 345-67-89"]}),
        ))
        .await;
    assert_eq!(resp.status().as_u16(), 202);
    let accepted: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(accepted["status"], "pending");
    let id = accepted["id"].as_i64().unwrap();

    let processed = app.processed_appeal(id).await;
    assert_eq!(processed["status"], "created");
    assert_eq!(processed["decision"]["kind"], "new_client");
    let client_id = processed["client_id"].as_i64().unwrap();
    let interest_id = processed["interest_id"].as_i64().unwrap();

    let (status, client) = app.get_json(&format!("/api/v1/clients/{client_id}")).await;
    assert_eq!(status, 200);
    assert_eq!(client["name"], "Иван Петров");
    assert_eq!(
        client["contact_persons"][0]["contact_points"][0]["value"],
        "+79123456789"
    );
    assert_eq!(
        client["responsible"], "ivanova",
        "first manager of the round robin"
    );

    let (_, interest) = app
        .get_json(&format!("/api/v1/interests/{interest_id}"))
        .await;
    assert_eq!(interest["stage"], "request");
    assert_eq!(interest["status"], "open");
    assert_eq!(interest["responsible"], "ivanova");
    assert_eq!(interest["tasks"].as_array().unwrap().len(), 1);
    assert_eq!(interest["tasks"][0]["assignee"], "ivanova");
    let kinds: Vec<&str> = interest["feed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds[0], "appeal");
    assert!(kinds.contains(&"task_created"));
}

#[tokio::test]
async fn the_same_source_and_external_id_returns_the_same_appeal() {
    let app = spawn_app().await;
    let body = appeal("crm", "dup-1", json!({"phones": ["+7 912 000 11 22"]}));
    let first = app.post_appeal(&body).await;
    assert_eq!(first.status().as_u16(), 202);
    let first: serde_json::Value = first.json().await.unwrap();
    let second = app.post_appeal(&body).await;
    assert_eq!(second.status().as_u16(), 200);
    let second: serde_json::Value = second.json().await.unwrap();
    assert_eq!(first["id"], second["id"]);
    // A different source with the same external id is another appeal.
    let other = app
        .post_appeal(&appeal(
            "site",
            "dup-1",
            json!({"phones": ["+7 912 000 11 22"]}),
        ))
        .await;
    assert_eq!(other.status().as_u16(), 202);
}

#[tokio::test]
async fn a_known_client_with_an_open_interest_gets_the_appeal_linked() {
    let app = spawn_app().await;
    let first = app
        .post_appeal(&appeal(
            "crm",
            "k-1",
            json!({"name": "Ольга", "phones": ["+7 912 345-67-89"]}),
        ))
        .await
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let first = app.processed_appeal(first["id"].as_i64().unwrap()).await;
    // Same person, another spelling of the number, plus a new email.
    let second = app
        .post_appeal(&appeal(
            "site",
            "k-2",
            json!({"phones": ["89123456789"], "emails": ["Olga@Example.ru"]}),
        ))
        .await
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let second = app.processed_appeal(second["id"].as_i64().unwrap()).await;
    assert_eq!(second["status"], "linked");
    assert_eq!(second["decision"]["kind"], "existing_client");
    assert_eq!(second["decision"]["matched_on"], json!(["phone"]));
    assert_eq!(second["client_id"], first["client_id"]);
    assert_eq!(second["interest_id"], first["interest_id"]);

    let (_, interest) = app
        .get_json(&format!("/api/v1/interests/{}", first["interest_id"]))
        .await;
    let titles: Vec<&str> = interest["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap())
        .collect();
    assert!(
        titles.contains(&"Обработать повторное обращение"),
        "{titles:?}"
    );
    // The client learned the new email: the next appeal matches on it alone.
    let third = app
        .post_appeal(&appeal(
            "mail",
            "k-3",
            json!({"emails": ["olga@example.ru"]}),
        ))
        .await
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let third = app.processed_appeal(third["id"].as_i64().unwrap()).await;
    assert_eq!(third["client_id"], first["client_id"]);
    assert_eq!(third["decision"]["matched_on"], json!(["email"]));
}

#[tokio::test]
async fn keys_that_point_to_different_clients_go_to_review() {
    let app = spawn_app().await;
    for (ext, contact) in [
        ("r-1", json!({"name": "Анна", "phones": ["+79110000001"]})),
        (
            "r-2",
            json!({"name": "Борис", "emails": ["boris@example.ru"]}),
        ),
    ] {
        let r = app
            .post_appeal(&appeal("crm", ext, contact))
            .await
            .json::<serde_json::Value>()
            .await
            .unwrap();
        app.processed_appeal(r["id"].as_i64().unwrap()).await;
    }
    let mixed = app
        .post_appeal(&appeal(
            "crm",
            "r-3",
            json!({"phones": ["+79110000001"], "emails": ["boris@example.ru"]}),
        ))
        .await
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let mixed = app.processed_appeal(mixed["id"].as_i64().unwrap()).await;
    assert_eq!(mixed["status"], "review");
    assert_eq!(mixed["decision"]["kind"], "review");
    assert!(mixed["client_id"].is_null());
    assert_eq!(app.store.open_review_count().await.unwrap(), 1);
}

#[tokio::test]
async fn messenger_ids_match_exactly() {
    let app = spawn_app().await;
    let a = app
        .post_appeal(&appeal(
            "bot",
            "t-1",
            json!({"name": "Kate", "telegram": {"id": 5550001, "username": "@Kate_Ivanova"}}),
        ))
        .await
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let a = app.processed_appeal(a["id"].as_i64().unwrap()).await;
    let b = app
        .post_appeal(&appeal(
            "bot",
            "t-2",
            json!({"telegram": {"username": "kate_ivanova"}}),
        ))
        .await
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let b = app.processed_appeal(b["id"].as_i64().unwrap()).await;
    assert_eq!(b["client_id"], a["client_id"]);
    assert_eq!(b["decision"]["matched_on"], json!(["telegram_username"]));
    let c = app
        .post_appeal(&appeal("vk", "v-1", json!({"vk": {"id": 777}})))
        .await
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let c = app.processed_appeal(c["id"].as_i64().unwrap()).await;
    assert_ne!(c["client_id"], a["client_id"]);
}

#[tokio::test]
async fn round_robin_spreads_new_clients_over_managers() {
    let app = spawn_app().await;
    let mut responsibles = Vec::new();
    for i in 0..4 {
        let r = app
            .post_appeal(&appeal(
                "crm",
                &format!("rr-{i}"),
                json!({"phones": [format!("+7912111000{i}")]}),
            ))
            .await
            .json::<serde_json::Value>()
            .await
            .unwrap();
        let p = app.processed_appeal(r["id"].as_i64().unwrap()).await;
        let (_, interest) = app
            .get_json(&format!("/api/v1/interests/{}", p["interest_id"]))
            .await;
        responsibles.push(interest["responsible"].as_str().unwrap().to_string());
    }
    assert_eq!(responsibles, ["ivanova", "petrov", "ivanova", "petrov"]);
}

#[tokio::test]
async fn api_requires_a_valid_token() {
    let app = spawn_app().await;
    let body = appeal("crm", "x", json!({"name": "A"}));
    let none = app
        .client
        .post(app.url("/api/v1/appeals"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(none.status().as_u16(), 401);
    assert_eq!(none.headers()["content-type"], "application/problem+json");
    let wrong = app
        .client
        .post(app.url("/api/v1/appeals"))
        .bearer_auth(format!("{TOKEN}x"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let get = app
        .client
        .get(app.url("/api/v1/clients/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status().as_u16(), 401);
}
