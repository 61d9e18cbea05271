//! Every read and write is scoped by role: a manager sees the clients and
//! appeals of their own interests, a head their department's, an operator
//! what the review queue needs; anything else answers 404 as if it did not
//! exist. Tasks go only to people in the caller's scope; the audit log is
//! narrowed the same way.

use leadgate::settings::{ApiToken, DepartmentSettings, ManagerSettings, Role, Secret, Settings};
use serde_json::{json, Value};

use crate::helpers::{appeal, spawn_app_with, TestApp};
use crate::{configure, get, in_days, post, ADMIN, IVANOVA, OPERATOR, PETROV, SMIRNOVA};

const ORLOVA: &str = "orlova-token-0123456789";
const KOZLOV: &str = "kozlov-token-0123456789";

/// The shipped sales department (ivanova, petrov, head smirnova) plus a
/// wholesale department (orlova, head kozlov); new clients go to ivanova and
/// orlova in turn.
fn two_departments(settings: &mut Settings) {
    configure(settings);
    settings.departments.push(DepartmentSettings {
        id: "wholesale".into(),
        name: "Опт".into(),
        head: Some("kozlov".into()),
    });
    for (login, name, role) in [
        ("orlova", "Ольга Орлова", Role::Manager),
        ("kozlov", "Карл Козлов", Role::Head),
    ] {
        let mut manager: ManagerSettings = serde_json::from_value(
            json!({"login": login, "name": name, "department": "wholesale"}),
        )
        .expect("manager");
        manager.role = role;
        settings.managers.push(manager);
    }
    for (name, token, role) in [
        ("orlova", ORLOVA, Role::Manager),
        ("kozlov", KOZLOV, Role::Head),
    ] {
        settings.api.tokens.push(ApiToken {
            name: name.into(),
            token: Secret::new(token),
            role,
        });
    }
    settings.routing.round_robin = vec!["ivanova".into(), "orlova".into()];
}

struct Lead {
    appeal: i64,
    client: i64,
    interest: i64,
    responsible: String,
}

async fn lead(app: &TestApp, key: &str, name: &str, phone: &str) -> Lead {
    let processed = app
        .post_and_process(&appeal(
            "crm",
            key,
            json!({"name": name, "phones": [phone]}),
        ))
        .await;
    assert_eq!(processed["status"], "created", "{processed}");
    let interest = processed["interest_id"].as_i64().expect("interest");
    let responsible = app.interest(interest).await["responsible"]
        .as_str()
        .expect("responsible")
        .to_owned();
    Lead {
        appeal: processed["id"].as_i64().expect("id"),
        client: processed["client_id"].as_i64().expect("client"),
        interest,
        responsible,
    }
}

/// One lead of ivanova's (sales) and one of orlova's (wholesale).
async fn fixture(app: &TestApp) -> (Lead, Lead) {
    let a = lead(app, "scope-a", "Анна Белова", "+7 912 400 00 01").await;
    let b = lead(app, "scope-b", "Борис Чернов", "+7 912 400 00 02").await;
    let (sales, wholesale) = if a.responsible == "ivanova" {
        (a, b)
    } else {
        (b, a)
    };
    assert_eq!(sales.responsible, "ivanova");
    assert_eq!(wholesale.responsible, "orlova");
    (sales, wholesale)
}

fn ids(list: &Value) -> Vec<i64> {
    list.as_array()
        .expect("list")
        .iter()
        .map(|c| c["id"].as_i64().expect("id"))
        .collect()
}

#[tokio::test]
async fn clients_and_appeals_outside_the_scope_are_404() {
    let app = spawn_app_with(two_departments).await;
    let (sales, wholesale) = fixture(&app).await;
    let client = |id: i64| format!("/api/v1/clients/{id}");
    let appeal = |id: i64| format!("/api/v1/appeals/{id}");

    // Who reads which client and which appeal: (token, sales lead, wholesale lead).
    for (token, who, sees_sales, sees_wholesale) in [
        (IVANOVA, "ivanova", true, false),
        (PETROV, "petrov (no interests of his own)", false, false),
        (SMIRNOVA, "smirnova, head of sales", true, false),
        (ORLOVA, "orlova", false, true),
        (KOZLOV, "kozlov, head of wholesale", false, true),
        (ADMIN, "an admin", true, true),
    ] {
        for (lead, sees) in [(&sales, sees_sales), (&wholesale, sees_wholesale)] {
            let expected = if sees { 200 } else { 404 };
            let (status, body) = get(&app, token, &client(lead.client)).await;
            assert_eq!(
                status, expected,
                "{who} reads client {}: {body}",
                lead.client
            );
            if !sees {
                assert_eq!(body["status"], 404, "a problem document: {body}");
                assert!(body.get("name").is_none(), "nothing leaks: {body}");
            }
            let (status, _) = get(&app, token, &appeal(lead.appeal)).await;
            assert_eq!(status, expected, "{who} reads appeal {}", lead.appeal);
        }
    }
    // An id that does not exist looks the same as one out of scope.
    let (status, _) = get(&app, IVANOVA, &client(999_999)).await;
    assert_eq!(status, 404);

    // Operators read any client (a review decision may link to any), but not
    // the appeals that became a manager's work.
    let (status, _) = get(&app, OPERATOR, &client(wholesale.client)).await;
    assert_eq!(status, 200);
    let (status, _) = get(&app, OPERATOR, &appeal(sales.appeal)).await;
    assert_eq!(status, 404);

    // The lookup by phone or email lists only clients in the scope.
    let lookup = "/api/v1/clients?phone=%2B79124000002";
    let (status, found) = get(&app, IVANOVA, lookup).await;
    assert_eq!(status, 200);
    assert!(
        ids(&found).is_empty(),
        "ivanova does not find orlova's client: {found}"
    );
    let (_, found) = get(&app, SMIRNOVA, lookup).await;
    assert!(
        ids(&found).is_empty(),
        "nor does the head of another department"
    );
    for token in [ORLOVA, KOZLOV, ADMIN, OPERATOR] {
        let (_, found) = get(&app, token, lookup).await;
        assert_eq!(ids(&found), [wholesale.client]);
    }

    // The interest itself, on the API and on the page, is as absent.
    let (status, _) = get(
        &app,
        IVANOVA,
        &format!("/api/v1/interests/{}", wholesale.interest),
    )
    .await;
    assert_eq!(status, 404);
    let (status, body) = post(
        &app,
        IVANOVA,
        &format!("/api/v1/interests/{}/transition", wholesale.interest),
        json!({"to": "offer", "result": "x", "next": {"type": "nothing"}}),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    app.stop().await;
}

#[tokio::test]
async fn messages_go_only_to_interests_in_the_scope() {
    let app = spawn_app_with(two_departments).await;
    let (_, wholesale) = fixture(&app).await;
    let path = format!("/api/v1/interests/{}/messages", wholesale.interest);
    for token in [IVANOVA, PETROV, SMIRNOVA] {
        let (status, body) = post(&app, token, &path, json!({"text": "Добрый день"})).await;
        assert_eq!(status, 404, "{body}");
    }
    // In scope, the refusal is about the interest itself (it came by API,
    // there is no messenger conversation to reply in): its state, 409.
    let (status, body) = post(&app, ORLOVA, &path, json!({"text": "Добрый день"})).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (409, Some("id")),
        "{body}"
    );
    // Operators triage; they do not write to clients.
    let (status, _) = post(&app, OPERATOR, &path, json!({"text": "Добрый день"})).await;
    assert_eq!(status, 403);
    let (status, _) = post(
        &app,
        ADMIN,
        "/api/v1/interests/999999/messages",
        json!({"text": "x"}),
    )
    .await;
    assert_eq!(status, 404);
    app.stop().await;
}

#[tokio::test]
async fn tasks_are_assigned_only_to_people_in_the_callers_scope() {
    let app = spawn_app_with(two_departments).await;
    let (sales, _) = fixture(&app).await;
    let tasks = format!("/api/v1/interests/{}/tasks", sales.interest);
    let task =
        |assignee: &str| json!({"title": "Перезвонить", "due": in_days(2), "assignee": assignee});

    for assignee in ["user:orlova", "user:petrov", "user:kozlov", "user:nobody"] {
        let (status, body) = post(&app, IVANOVA, &tasks, task(assignee)).await;
        assert_eq!(
            (status, body["field"].as_str()),
            (422, Some("assignee")),
            "{assignee}: {body}"
        );
    }
    for assignee in ["user:ivanova", "responsible", "head"] {
        let (status, body) = post(&app, IVANOVA, &tasks, task(assignee)).await;
        assert_eq!(status, 201, "{assignee}: {body}");
    }
    // A head assigns within the department, not outside it.
    let (status, body) = post(&app, SMIRNOVA, &tasks, task("user:petrov")).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = post(&app, SMIRNOVA, &tasks, task("user:orlova")).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (422, Some("assignee")),
        "{body}"
    );
    // Admins assign to anybody.
    let (status, body) = post(&app, ADMIN, &tasks, task("user:orlova")).await;
    assert_eq!(status, 201, "{body}");

    // The next step of a transition is held to the same rule.
    let (status, body) = post(
        &app,
        IVANOVA,
        &format!("/api/v1/interests/{}/transition", sales.interest),
        json!({"to": "offer", "result": "Запросил КП",
               "next": {"type": "task", "title": "Отправить КП", "due": in_days(1), "assignee": "user:orlova"}}),
    )
    .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (422, Some("next.assignee")),
        "{body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_audit_log_is_narrowed_to_the_heads_department() {
    let app = spawn_app_with(two_departments).await;
    let (sales, wholesale) = fixture(&app).await;
    // A second wholesale client, merged into the first: an audited change
    // that touches only wholesale's records.
    let _ = lead(&app, "scope-c", "Вера Лебедева", "+7 912 400 00 03").await;
    let other = lead(&app, "scope-d", "Борис Чернов", "+7 912 400 00 04").await;
    assert_eq!(other.responsible, "orlova");
    let (status, merge) = post(
        &app,
        OPERATOR,
        "/api/v1/clients/merge",
        json!({"into": wholesale.client, "from": other.client}),
    )
    .await;
    assert_eq!(status, 200, "{merge}");
    let audit_id = merge["audit_id"].as_i64().expect("audit id");

    let entries = |body: &Value| -> Vec<i64> {
        body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|e| e["id"].as_i64().expect("id"))
            .collect()
    };
    for token in [KOZLOV, OPERATOR, ADMIN] {
        let (status, body) = get(&app, token, "/api/v1/audit").await;
        assert_eq!(status, 200);
        assert!(entries(&body).contains(&audit_id), "{body}");
        let (_, body) = get(
            &app,
            token,
            &format!("/api/v1/audit?entity=client&id={}", wholesale.client),
        )
        .await;
        assert!(entries(&body).contains(&audit_id), "{body}");
    }
    let (status, body) = get(&app, SMIRNOVA, "/api/v1/audit").await;
    assert_eq!(status, 200);
    assert!(
        !entries(&body).contains(&audit_id),
        "sales' head does not see wholesale's merge: {body}"
    );
    let (_, body) = get(&app, SMIRNOVA, "/api/v1/audit?entity=merge").await;
    assert!(entries(&body).is_empty(), "{body}");
    let (status, _) = get(
        &app,
        SMIRNOVA,
        &format!("/api/v1/audit?entity=client&id={}", wholesale.client),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = get(
        &app,
        SMIRNOVA,
        &format!("/api/v1/audit?entity=client&id={}", sales.client),
    )
    .await;
    assert_eq!(status, 200);
    app.stop().await;
}
