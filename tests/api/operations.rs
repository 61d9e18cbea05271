use serde_json::{json, Value};

use crate::helpers::{appeal, spawn_app};

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = spawn_app().await;
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    assert_eq!(ready.json::<Value>().await.unwrap()["database"], "ok");

    let r = app
        .post_appeal(&appeal(
            "crm",
            "m-1",
            json!({"name": "A", "phones": ["+79120000077"]}),
        ))
        .await;
    let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    app.processed_appeal(id).await;
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert!(metrics.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = metrics.text().await.unwrap();
    for needle in [
        "leadgate_appeals_accepted_total{channel=\"api\",kind=\"new\"} 1",
        "leadgate_appeals_processed_total{channel=\"api\"} 1",
        "leadgate_decisions_total{kind=\"new_client\"} 1",
        "leadgate_pending_appeals 0",
        "leadgate_processing_latency_seconds_count 1",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
    // No personal data in metrics.
    assert!(!text.contains("79120000077"));
    app.stop().await;
}

#[tokio::test]
async fn openapi_documents_every_endpoint() {
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
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/appeals",
        "/api/v1/appeals/{id}",
        "/api/v1/clients",
        "/api/v1/clients/{id}",
        "/api/v1/interests/{id}",
        "/hooks/forms/{form}",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from OpenAPI"
        );
    }
    assert!(doc["components"]["schemas"].get("AppealRequest").is_some());
}
