use serde_json::{json, Value};

use crate::helpers::{appeal, scalar_with, TOKEN};
use crate::support::*;

#[tokio::test]
async fn the_queue_lists_open_items_oldest_first_with_candidates_and_evidence() {
    let app = spawn_web_app().await;
    let first = review_fixture_n(&app, 1, "Первый").await;
    let second = review_fixture_n(&app, 2, "Второй").await;
    let (status, queue) = api(&app, "GET", "/api/v1/review", OPERATOR_TOKEN, None).await;
    assert_eq!(status, 200, "{queue}");
    assert_eq!(queue["count"], 2);
    let items = queue["items"].as_array().unwrap();
    assert_eq!(items[0]["id"], first.review_id, "oldest first");
    assert_eq!(items[1]["id"], second.review_id);
    let item = &items[0];
    assert_eq!(item["appeal"]["id"], first.appeal_id);
    assert_eq!(item["appeal"]["contact"]["name"], "Первый");
    let candidates = item["candidates"].as_array().unwrap();
    let ids: Vec<i64> = candidates
        .iter()
        .map(|c| c["client"]["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![first.client_a, first.client_b]);
    assert_eq!(candidates[0]["fields"], json!(["phone"]));
    assert_eq!(candidates[0]["matched"][0]["value"], "+79123000001");
    assert_eq!(candidates[0]["evidence"][0]["client_id"], first.client_a);
    assert_eq!(candidates[1]["fields"], json!(["email"]));
    assert_eq!(candidates[1]["evidence"][0]["field"], "email");

    let (_, limited) = api(&app, "GET", "/api/v1/review?limit=1", OPERATOR_TOKEN, None).await;
    assert_eq!(limited["count"], 2);
    assert_eq!(limited["items"].as_array().unwrap().len(), 1);
    let (status, bad) = api(&app, "GET", "/api/v1/review?limit=0", OPERATOR_TOKEN, None).await;
    assert_eq!((status, bad["field"].as_str()), (422, Some("limit")));
}

#[tokio::test]
async fn linking_teaches_the_client_the_appeal_s_points_and_routes_the_appeal() {
    let app = spawn_web_app().await;
    let f = review_fixture(&app).await;
    let (status, out) = api(
        &app,
        "POST",
        &format!("/api/v1/review/{}/decision", f.review_id),
        OPERATOR_TOKEN,
        Some(json!({"action": "link", "client_id": f.client_a})),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["client_id"], f.client_a);
    // Client A has an open interest from its own appeal: the appeal joins it.
    assert_eq!(out["interest_id"], f.interest_a);
    assert_eq!(out["status"], "linked");
    let (_, appeal_view) = api(
        &app,
        "GET",
        &format!("/api/v1/appeals/{}", f.appeal_id),
        TOKEN,
        None,
    )
    .await;
    assert_eq!(appeal_view["status"], "linked");
    assert_eq!(appeal_view["client_id"], f.client_a);
    assert_eq!(appeal_view["interest_id"], f.interest_a);
    let (_, interest) = api(
        &app,
        "GET",
        &format!("/api/v1/interests/{}", f.interest_a),
        TOKEN,
        None,
    )
    .await;
    assert!(
        interest["feed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["appeal_id"] == f.appeal_id),
        "{interest}"
    );
    let (_, client) = api(
        &app,
        "GET",
        &format!("/api/v1/clients/{}", f.client_a),
        TOKEN,
        None,
    )
    .await;
    let values: Vec<String> = client["contact_persons"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["contact_points"].as_array().unwrap().clone())
        .chain(client["contact_points"].as_array().unwrap().clone())
        .map(|p| p["value"].as_str().unwrap().to_string())
        .collect();
    for v in ["+79123000001", "+79124000001", "shared1@example.ru"] {
        assert!(values.contains(&v.to_string()), "{v} in {values:?}");
    }
    let (_, queue) = api(&app, "GET", "/api/v1/review", OPERATOR_TOKEN, None).await;
    assert_eq!(queue["count"], 0);

    // The next appeal from the new phone is recognised without an operator.
    let next = app
        .post_and_process(&appeal(
            "site",
            "next",
            json!({"phones": ["8 (912) 400-00-01"]}),
        ))
        .await;
    assert_eq!(next["client_id"], f.client_a, "{next}");
    assert_eq!(next["decision"]["kind"], "existing_client");

    // A second decision on the same item is a conflict, not a second routing.
    let (status, problem) = api(
        &app,
        "POST",
        &format!("/api/v1/review/{}/decision", f.review_id),
        OPERATOR_TOKEN,
        Some(json!({"action": "spam"})),
    )
    .await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(
        scalar_with(
            &app.store,
            "SELECT COUNT(*) FROM feed_entries WHERE appeal_id = $1 AND kind = 'appeal'",
            f.appeal_id
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_new_client_decision_creates_the_client_and_an_interest() {
    let app = spawn_web_app().await;
    let f = review_fixture(&app).await;
    let (status, out) = api(
        &app,
        "POST",
        &format!("/api/v1/review/{}/decision", f.review_id),
        OPERATOR_TOKEN,
        Some(json!({"action": "new_client"})),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["status"], "created");
    let new_client = out["client_id"].as_i64().unwrap();
    assert!(new_client != f.client_a && new_client != f.client_b);
    let (_, client) = api(
        &app,
        "GET",
        &format!("/api/v1/clients/{new_client}"),
        TOKEN,
        None,
    )
    .await;
    assert_eq!(client["name"], "Анна К.");
    let (_, interest) = api(
        &app,
        "GET",
        &format!("/api/v1/interests/{}", out["interest_id"]),
        TOKEN,
        None,
    )
    .await;
    assert_eq!(interest["client_id"], new_client);
}

#[tokio::test]
async fn spam_closes_the_appeal_without_a_client() {
    let app = spawn_web_app().await;
    let f = review_fixture(&app).await;
    let (status, out) = api(
        &app,
        "POST",
        &format!("/api/v1/review/{}/decision", f.review_id),
        OPERATOR_TOKEN,
        Some(json!({"action": "spam"})),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["status"], "spam");
    assert_eq!(out["client_id"], Value::Null);
    let (_, a) = api(
        &app,
        "GET",
        &format!("/api/v1/appeals/{}", f.appeal_id),
        TOKEN,
        None,
    )
    .await;
    assert_eq!(a["status"], "spam");
    assert_eq!(a["interest_id"], Value::Null);
}

#[tokio::test]
async fn bad_decisions_are_refused_with_the_field_named() {
    let app = spawn_web_app().await;
    let f = review_fixture(&app).await;
    let path = format!("/api/v1/review/{}/decision", f.review_id);
    let cases = [
        (
            json!({"action": "link", "client_id": 999_999}),
            422,
            Some("client_id"),
        ),
        (json!({"action": "link"}), 422, None),
        (json!({"action": "merge"}), 422, None),
        (json!({"action": "spam", "extra": 1}), 422, None),
        (
            json!({"action": "link", "client_id": f.client_a, "person_id": 999_999}),
            422,
            Some("person_id"),
        ),
    ];
    for (body, status, field) in cases {
        let (got, problem) = api(&app, "POST", &path, OPERATOR_TOKEN, Some(body.clone())).await;
        assert_eq!(got, status, "{body} → {problem}");
        if let Some(field) = field {
            assert_eq!(problem["field"], field, "{body} → {problem}");
        }
    }
    let (status, _) = api(
        &app,
        "POST",
        "/api/v1/review/999999/decision",
        OPERATOR_TOKEN,
        Some(json!({"action": "spam"})),
    )
    .await;
    assert_eq!(status, 404);
    let (status, problem) = api(
        &app,
        "POST",
        "/api/v1/review/abc/decision",
        OPERATOR_TOKEN,
        Some(json!({"action": "spam"})),
    )
    .await;
    assert_eq!((status, problem["field"].as_str()), (400, Some("id")));
    let resp = app
        .client
        .post(app.url(&path))
        .bearer_auth(OPERATOR_TOKEN)
        .body("action=spam")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 415);
    // Nothing above decided the item.
    let (_, queue) = api(&app, "GET", "/api/v1/review", OPERATOR_TOKEN, None).await;
    assert_eq!(queue["count"], 1);
}

/// Everything the API says about a client, and where its interests and
/// appeals point.
async fn client_state(app: &crate::helpers::TestApp, id: i64) -> Value {
    let (_, client) = api(app, "GET", &format!("/api/v1/clients/{id}"), TOKEN, None).await;
    let interests: Vec<(i64, Option<i64>)> =
        sqlx::query_as("SELECT id, person_id FROM interests WHERE client_id = $1 ORDER BY id")
            .bind(id)
            .fetch_all(app.store.pool())
            .await
            .unwrap();
    let appeals: Vec<(i64,)> =
        sqlx::query_as("SELECT id FROM appeals WHERE client_id = $1 ORDER BY id")
            .bind(id)
            .fetch_all(app.store.pool())
            .await
            .unwrap();
    let (merged,): (Option<i64>,) = sqlx::query_as("SELECT merged_into FROM clients WHERE id = $1")
        .bind(id)
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    json!({"client": client, "interests": interests, "appeals": appeals, "merged_into": merged})
}

#[tokio::test]
async fn merge_moves_everything_and_undo_restores_exactly() {
    let app = spawn_web_app().await;
    let f = review_fixture(&app).await;
    // A person of the same name on both sides, to exercise the re-pointing.
    app.post_and_process(&appeal(
        "crm",
        "a-more",
        json!({"name": "Общий Контакт", "phones": ["+7 912 300-00-01", "+7 912 555-00-01"]}),
    ))
    .await;
    app.post_and_process(&appeal(
        "crm",
        "b-more",
        json!({"name": "Общий Контакт", "emails": ["shared1@example.ru", "second@example.ru"]}),
    ))
    .await;
    let a_before = client_state(&app, f.client_a).await;
    let b_before = client_state(&app, f.client_b).await;

    let (status, merged) = api(
        &app,
        "POST",
        "/api/v1/clients/merge",
        OPERATOR_TOKEN,
        Some(json!({"into": f.client_a, "from": f.client_b})),
    )
    .await;
    assert_eq!(status, 200, "{merged}");
    let merge_id = merged["merge_id"].as_i64().unwrap();
    assert!(merged["moved_interests"].as_i64().unwrap() >= 1);
    let a_merged = client_state(&app, f.client_a).await;
    let b_merged = client_state(&app, f.client_b).await;
    assert_eq!(b_merged["merged_into"], f.client_a);
    assert_eq!(b_merged["interests"], json!([]));
    assert_eq!(b_merged["appeals"], json!([]));
    let a_points = a_merged["client"].to_string();
    assert!(a_points.contains("second@example.ru"), "{a_points}");
    // The merged-away client is no longer a candidate: the item now names A once.
    let (_, queue) = api(&app, "GET", "/api/v1/review", OPERATOR_TOKEN, None).await;
    let candidates = queue["items"][0]["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 1, "{queue}");
    assert_eq!(candidates[0]["client"]["id"], f.client_a);
    // The email now leads to A alone.
    let next = app
        .post_and_process(&appeal(
            "site",
            "after-merge",
            json!({"emails": ["second@example.ru"]}),
        ))
        .await;
    assert_eq!(next["client_id"], f.client_a, "{next}");

    // Merging again or into itself is refused.
    let (status, _) = api(
        &app,
        "POST",
        "/api/v1/clients/merge",
        OPERATOR_TOKEN,
        Some(json!({"into": f.client_a, "from": f.client_b})),
    )
    .await;
    assert_eq!(status, 409);
    let (status, p) = api(
        &app,
        "POST",
        "/api/v1/clients/merge",
        OPERATOR_TOKEN,
        Some(json!({"into": f.client_a, "from": f.client_a})),
    )
    .await;
    assert_eq!((status, p["field"].as_str()), (422, Some("from")));
    let (status, p) = api(
        &app,
        "POST",
        "/api/v1/clients/merge",
        OPERATOR_TOKEN,
        Some(json!({"into": f.client_a, "from": 999_999})),
    )
    .await;
    assert_eq!(status, 404, "an unknown client is not found: {p}");

    let (status, undone) = api(
        &app,
        "POST",
        &format!("/api/v1/merges/{merge_id}/undo"),
        OPERATOR_TOKEN,
        None,
    )
    .await;
    assert_eq!(status, 200, "{undone}");
    // The appeal that arrived after the merge joined one of the interests and
    // follows that interest; everything else is back where it was.
    let after_merge_appeal = next["id"].as_i64().unwrap();
    let owner = scalar_with(
        &app.store,
        "SELECT i.client_id FROM appeals a JOIN interests i ON i.id = a.interest_id WHERE a.id = $1",
        after_merge_appeal,
    )
    .await;
    let appeal_client = scalar_with(
        &app.store,
        "SELECT client_id FROM appeals WHERE id = $1",
        after_merge_appeal,
    )
    .await;
    assert_eq!(appeal_client, owner);
    let without_it = |mut state: Value| {
        state["appeals"]
            .as_array_mut()
            .unwrap()
            .retain(|a| a[0] != after_merge_appeal);
        state
    };
    let a_after = without_it(client_state(&app, f.client_a).await);
    let b_after = without_it(client_state(&app, f.client_b).await);
    assert_eq!(b_after, b_before);
    assert_eq!(a_after["interests"], a_before["interests"]);
    assert_eq!(a_after["appeals"], a_before["appeals"]);
    assert_eq!(
        a_after["client"]["contact_persons"],
        a_before["client"]["contact_persons"]
    );

    let (status, _) = api(
        &app,
        "POST",
        &format!("/api/v1/merges/{merge_id}/undo"),
        OPERATOR_TOKEN,
        None,
    )
    .await;
    assert_eq!(status, 409, "undo twice");
    let (status, _) = api(
        &app,
        "POST",
        "/api/v1/merges/999999/undo",
        OPERATOR_TOKEN,
        None,
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn decisions_and_merges_are_audited_with_before_and_after() {
    let app = spawn_web_app().await;
    let f = review_fixture(&app).await;
    api(
        &app,
        "POST",
        &format!("/api/v1/review/{}/decision", f.review_id),
        OPERATOR_TOKEN,
        Some(json!({"action": "link", "client_id": f.client_a})),
    )
    .await;
    let (_, merged) = api(
        &app,
        "POST",
        "/api/v1/clients/merge",
        OPERATOR_TOKEN,
        Some(json!({"into": f.client_a, "from": f.client_b})),
    )
    .await;
    let merge_id = merged["merge_id"].as_i64().unwrap();
    api(
        &app,
        "POST",
        &format!("/api/v1/merges/{merge_id}/undo"),
        OPERATOR_TOKEN,
        None,
    )
    .await;

    let (status, audit) = api(
        &app,
        "GET",
        &format!("/api/v1/audit?entity=client&id={}", f.client_a),
        OPERATOR_TOKEN,
        None,
    )
    .await;
    assert_eq!(status, 200, "{audit}");
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec!["client.merge_undo", "client.merge", "review.decide"]
    );
    let decision = &audit["items"][2];
    assert_eq!(decision["actor"], "token:operator");
    assert_eq!(decision["entity"], "review_item");
    assert_eq!(decision["entity_id"], f.review_id);
    assert_eq!(decision["before"]["appeal"]["status"], "review");
    assert_eq!(decision["after"]["appeal"]["client_id"], f.client_a);
    assert!(!decision["before"]["client"]["contact_points"]
        .to_string()
        .contains("shared1@example.ru"));
    assert!(decision["after"]["client"]["contact_points"]
        .to_string()
        .contains("shared1@example.ru"));
    let merge = &audit["items"][1];
    assert_eq!(merge["before"]["from"]["merged_into"], Value::Null);
    assert_eq!(merge["after"]["from"]["merged_into"], f.client_a);

    let (_, by_appeal) = api(
        &app,
        "GET",
        &format!("/api/v1/audit?entity=appeal&id={}", f.appeal_id),
        OPERATOR_TOKEN,
        None,
    )
    .await;
    assert_eq!(by_appeal["items"].as_array().unwrap().len(), 1);
    let (_, all) = api(&app, "GET", "/api/v1/audit", HEAD_TOKEN, None).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 3);
    let (status, p) = api(
        &app,
        "GET",
        "/api/v1/audit?entity=users",
        OPERATOR_TOKEN,
        None,
    )
    .await;
    assert_eq!((status, p["field"].as_str()), (422, Some("entity")));
    // An id alone: the history of the records of every kind with that id.
    let (status, by_id) = api(
        &app,
        "GET",
        &format!("/api/v1/audit?id={}", f.appeal_id),
        OPERATOR_TOKEN,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let ids = |list: &Value| -> Vec<i64> {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_i64().unwrap())
            .collect()
    };
    assert!(ids(&by_id).contains(&ids(&by_appeal)[0]));
}

#[tokio::test]
async fn every_endpoint_checks_the_caller_s_role() {
    let app = spawn_web_app().await;
    let f = review_fixture(&app).await;
    let decision = format!("/api/v1/review/{}/decision", f.review_id);
    let merge = json!({"into": f.client_a, "from": f.client_b});
    let endpoints: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", "/api/v1/review".into(), None),
        ("POST", decision.clone(), Some(json!({"action": "spam"}))),
        ("POST", "/api/v1/clients/merge".into(), Some(merge.clone())),
        ("POST", "/api/v1/merges/1/undo".into(), None),
        ("GET", "/api/v1/audit".into(), None),
    ];
    for (method, path, body) in &endpoints {
        let (status, _) = api(&app, method, path, "wrong-token-0123456789", body.clone()).await;
        assert_eq!(status, 401, "{method} {path} with a wrong token");
        let resp = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status().as_u16(),
            401,
            "{method} {path} without a token"
        );
        let (status, _) = api(&app, method, path, MANAGER_TOKEN, body.clone()).await;
        assert_eq!(status, 403, "{method} {path} as a manager");
    }
    // Heads read the audit but do not work the queue.
    for (method, path, body) in &endpoints[..4] {
        let (status, _) = api(&app, method, path, HEAD_TOKEN, body.clone()).await;
        assert_eq!(status, 403, "{method} {path} as a head");
    }
    let (status, _) = api(&app, "GET", "/api/v1/audit", HEAD_TOKEN, None).await;
    assert_eq!(status, 200);
    let (_, queue) = api(&app, "GET", "/api/v1/review", OPERATOR_TOKEN, None).await;
    assert_eq!(queue["count"], 1, "no refused call changed anything");
}

#[tokio::test]
async fn a_personal_token_acts_as_its_user_and_is_audited_under_the_login() {
    let app = spawn_web_app().await;
    create_user(&app, "op.smirnov", leadgate::settings::Role::Operator).await;
    create_user(&app, "mgr.lee", leadgate::settings::Role::Manager).await;
    let login = leadgate::users::Login::parse("op.smirnov").unwrap();
    let token = leadgate::users::issue_token(&app.store, &login, "test")
        .await
        .unwrap();
    let mgr = leadgate::users::issue_token(
        &app.store,
        &leadgate::users::Login::parse("mgr.lee").unwrap(),
        "test",
    )
    .await
    .unwrap();
    let f = review_fixture(&app).await;
    let (status, _) = api(&app, "GET", "/api/v1/review", &mgr, None).await;
    assert_eq!(status, 403);
    let (status, out) = api(
        &app,
        "POST",
        &format!("/api/v1/review/{}/decision", f.review_id),
        &token,
        Some(json!({"action": "new_client"})),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    let (_, audit) = api(
        &app,
        "GET",
        "/api/v1/audit?entity=review_item",
        OPERATOR_TOKEN,
        None,
    )
    .await;
    assert_eq!(audit["items"][0]["actor"], "op.smirnov");
    // The token is stored as a digest only, and stops working with the account.
    assert_eq!(
        scalar_with(
            &app.store,
            "SELECT COUNT(*) FROM user_tokens WHERE token_hash = $1",
            &token
        )
        .await,
        0
    );
    leadgate::users::set_active(&app.store, &login, false)
        .await
        .unwrap();
    let (status, _) = api(&app, "GET", "/api/v1/review", &token, None).await;
    assert_eq!(status, 401);
}
