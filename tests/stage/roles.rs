use serde_json::json;

use crate::{app, get, new_interest, post, ADMIN, IVANOVA, OPERATOR, PETROV, SMIRNOVA};

#[tokio::test]
async fn managers_see_their_own_heads_their_department_admins_all() {
    let app = app().await;
    let id = new_interest(&app, "roles-1", "+7 912 300 00 01").await;

    let (status, mine) = get(&app, IVANOVA, "/api/v1/interests").await;
    assert_eq!(status, 200);
    assert_eq!(mine.as_array().unwrap().len(), 1);
    assert_eq!(mine[0]["id"], id);
    assert_eq!(mine[0]["client_name"], "Ольга Кузнецова");
    assert_eq!(mine[0]["stage_name"], "Запрос");
    assert!(mine[0]["colour"].is_string());

    let (status, theirs) = get(&app, PETROV, "/api/v1/interests").await;
    assert_eq!(status, 200);
    assert!(theirs.as_array().unwrap().is_empty());
    let (status, _) = get(&app, PETROV, &format!("/api/v1/interests/{id}")).await;
    assert_eq!(status, 404, "out of scope reads as absent");
    let (status, _) = get(&app, PETROV, "/api/v1/interests?responsible=ivanova").await;
    assert_eq!(status, 403);
    let (status, _) = post(
        &app,
        PETROV,
        &format!("/api/v1/interests/{id}/transition"),
        json!({"to": "offer", "result": "x"}),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = get(&app, PETROV, "/api/v1/tasks?assignee=ivanova").await;
    assert_eq!(status, 403);

    for token in [SMIRNOVA, ADMIN] {
        let (status, all) = get(
            &app,
            token,
            "/api/v1/interests?responsible=ivanova&stage=request",
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(all.as_array().unwrap().len(), 1);
        let (status, tasks) = get(&app, token, "/api/v1/tasks?assignee=ivanova&status=open").await;
        assert_eq!(status, 200);
        assert_eq!(tasks.as_array().unwrap().len(), 1);
    }
    let (_, other_stage) = get(&app, SMIRNOVA, "/api/v1/interests?stage=payment").await;
    assert!(other_stage.as_array().unwrap().is_empty());

    // Operators handle appeals: they may read an interest, not work the board.
    let (status, _) = get(&app, OPERATOR, "/api/v1/interests").await;
    assert_eq!(status, 403);
    let (status, _) = get(&app, OPERATOR, &format!("/api/v1/interests/{id}")).await;
    assert_eq!(status, 200);
    let (status, _) = get(&app, OPERATOR, "/api/v1/tasks").await;
    assert_eq!(status, 403);

    // Bad filters name the field.
    let (status, body) = get(&app, ADMIN, "/api/v1/interests?colour=purple").await;
    assert_eq!((status, body["field"].as_str()), (422, Some("colour")));
    let (status, body) = get(&app, ADMIN, "/api/v1/interests?status=sleeping").await;
    assert_eq!((status, body["field"].as_str()), (422, Some("status")));
    let (status, body) = get(&app, ADMIN, "/api/v1/tasks?status=sleeping").await;
    assert_eq!((status, body["field"].as_str()), (422, Some("status")));
    let (status, body) = get(&app, ADMIN, "/api/v1/interests/abc").await;
    assert_eq!((status, body["field"].as_str()), (400, Some("id")));
    app.stop().await;
}
