use serde_json::json;

use crate::helpers::{feed_kinds, scalar};
use crate::{
    app, assert_conflict, assert_refused, get, in_days, new_interest, open_tasks, post, ADMIN,
    IVANOVA,
};

/// The main path, with the refusals met on the way.
#[tokio::test]
async fn appeal_to_won_through_offer_payment_and_shipment() {
    let app = app().await;
    let id = new_interest(&app, "flow-1", "+7 912 100 00 01").await;
    let start = app.interest(id).await;
    assert_eq!(start["stage"], "request");
    assert_eq!(start["stage_name"], "Запрос");
    assert_eq!(start["responsible"], "ivanova");
    assert_eq!(open_tasks(&start), vec!["Телефонный звонок клиенту"]);
    let allowed: Vec<&str> = start["allowed_transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(allowed, vec!["offer", "lost"]);

    // The manager's task list; completing the last thing planned needs a next step.
    let (status, tasks) = get(&app, IVANOVA, "/api/v1/tasks?status=open").await;
    assert_eq!(status, 200);
    assert_eq!(tasks.as_array().unwrap().len(), 1);
    let call_task = tasks[0]["id"].as_i64().unwrap();
    let path = format!("/api/v1/tasks/{call_task}/complete");
    let refused = post(&app, IVANOVA, &path, json!({"result": "Дозвонились"})).await;
    assert_conflict(&refused, "next");
    let (status, done) = post(
        &app,
        IVANOVA,
        &path,
        json!({"result": "Дозвонились", "next": {"type": "nothing"}}),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["status"], "done");
    assert_eq!(done["done_by"], "ivanova");

    // Refusals of a transition, each naming its field.
    let move_to = format!("/api/v1/interests/{id}/transition");
    let call =
        json!({"type": "interaction", "kind": "call", "at": in_days(1), "subject": "Обсудить КП"});
    assert_conflict(
        &post(
            &app,
            IVANOVA,
            &move_to,
            json!({"to": "offer", "result": "Запросил КП"}),
        )
        .await,
        "next",
    );
    assert_refused(
        &post(
            &app,
            IVANOVA,
            &move_to,
            json!({"to": "offer", "result": " ", "next": call}),
        )
        .await,
        "result",
    );
    assert_conflict(
        &post(
            &app,
            IVANOVA,
            &move_to,
            json!({"to": "won", "result": "Купил", "next": call}),
        )
        .await,
        "to",
    );
    assert_refused(
        &post(
            &app,
            IVANOVA,
            &move_to,
            json!({"to": "offer", "result": "Запросил КП",
            "next": {"type": "interaction", "kind": "call", "at": in_days(-1)}}),
        )
        .await,
        "next",
    );

    let (status, offer) = post(
        &app,
        IVANOVA,
        &move_to,
        json!({"to": "offer", "result": "Запросил КП на 20 шт.", "next": call}),
    )
    .await;
    assert_eq!(status, 200, "{offer}");
    assert_eq!(offer["stage"], "offer");
    let planned = offer["interactions"].as_array().unwrap();
    assert_eq!(planned.len(), 1);
    assert_eq!(planned[0]["subject"], "Обсудить КП");
    assert!(planned[0]["done_at"].is_null());

    // Оплата needs an order first.
    let to_payment = json!({"to": "payment", "result": "Счёт согласован"});
    let refused = post(&app, IVANOVA, &move_to, to_payment.clone()).await;
    assert_conflict(&refused, "to");
    assert!(refused.1["detail"].as_str().unwrap().contains("no order"));

    let order = json!({"event_id": "erp-o-1", "order_id": "ЗК-0001", "interest_id": id, "amount": 1_250_050});
    let (status, receipt) = post(&app, ADMIN, "/api/v1/events/order", order.clone()).await;
    assert_eq!(status, 201, "{receipt}");
    assert_eq!(receipt["duplicate"], false);
    assert_eq!(receipt["result"]["order"]["amount"], 1_250_050);

    let (status, payment_stage) = post(&app, IVANOVA, &move_to, to_payment).await;
    assert_eq!(status, 200, "{payment_stage}");
    assert_eq!(payment_stage["stage"], "payment");
    assert_eq!(open_tasks(&payment_stage), vec!["Что с оплатой?"]);
    // The planned call got the transition's result.
    let call_done = &payment_stage["interactions"][0];
    assert_eq!(call_done["result"], "Счёт согласован");
    assert!(!call_done["done_at"].is_null());
    let task = payment_stage["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["title"] == "Что с оплатой?")
        .unwrap();
    assert_eq!(task["assignee"], "ivanova");
    assert_eq!(task["purpose"], "stage_entry:payment");

    // A part payment records money and stays; the rest moves on by itself.
    let (status, _) = post(
        &app,
        ADMIN,
        "/api/v1/events/payment",
        json!({"event_id": "erp-p-1", "order_id": "ЗК-0001", "amount": 500_000}),
    )
    .await;
    assert_eq!(status, 201);
    let partly = app.interest(id).await;
    assert_eq!(partly["stage"], "payment");
    assert_eq!(partly["orders"][0]["paid"], 500_000);

    let (status, _) = post(
        &app,
        ADMIN,
        "/api/v1/events/payment",
        json!({"event_id": "erp-p-2", "order_id": "ЗК-0001", "amount": 750_050}),
    )
    .await;
    assert_eq!(status, 201);
    let paid = app.interest(id).await;
    assert_eq!(paid["stage"], "shipment");
    assert_eq!(paid["stage_name"], "Отгрузка/Контроль");
    assert_eq!(open_tasks(&paid), vec!["Оформить реализацию товаров"]);
    assert_eq!(paid["orders"][0]["paid"], 1_250_050);

    // Paid but not shipped: no manual won yet.
    let refused = post(
        &app,
        IVANOVA,
        &move_to,
        json!({"to": "won", "result": "Всё"}),
    )
    .await;
    assert_conflict(&refused, "to");
    assert!(refused.1["detail"].as_str().unwrap().contains("shipped"));

    let shipment = json!({"event_id": "erp-s-1", "order_id": "ЗК-0001", "amount": 1_250_050});
    let (status, _) = post(&app, ADMIN, "/api/v1/events/shipment", shipment.clone()).await;
    assert_eq!(status, 201);
    let won = app.interest(id).await;
    assert_eq!(won["stage"], "won");
    assert_eq!(won["status"], "won");
    assert_eq!(won["potential_amount"], 1_250_050, "potential = revenue");
    assert_eq!(open_tasks(&won), vec!["Контроль доставки"]);
    assert!(won["allowed_transitions"].as_array().unwrap().is_empty());
    assert!(feed_kinds(&won).contains(&"won".to_owned()));
    assert_eq!(won["colour"], "green");

    // Totals equal the sums of the stored events.
    assert_eq!(
        scalar(
            &app.store,
            "SELECT CAST(SUM(amount) AS BIGINT) FROM erp_events WHERE kind = 'payment'"
        )
        .await,
        won["orders"][0]["paid"].as_i64().unwrap()
    );

    // Redeliveries change nothing, a reused id with other content is refused.
    let feed_before = won["feed"].as_array().unwrap().len();
    let tasks_before = won["tasks"].as_array().unwrap().len();
    for (kind, body) in [("order", &order), ("shipment", &shipment)] {
        let (status, again) =
            post(&app, ADMIN, &format!("/api/v1/events/{kind}"), body.clone()).await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(again["duplicate"], true);
        assert_eq!(again["interest_id"], id);
    }
    let again = app.interest(id).await;
    assert_eq!(again["feed"].as_array().unwrap().len(), feed_before);
    assert_eq!(again["tasks"].as_array().unwrap().len(), tasks_before);
    assert_eq!(again["orders"][0]["shipped"], 1_250_050);
    let reused = post(
        &app,
        ADMIN,
        "/api/v1/events/payment",
        json!({"event_id": "erp-p-2", "order_id": "ЗК-0001", "amount": 1}),
    )
    .await;
    assert_conflict(&reused, "event_id");

    // A finished interest does not move.
    assert_conflict(
        &post(
            &app,
            IVANOVA,
            &move_to,
            json!({"to": "payment", "result": "Ещё"}),
        )
        .await,
        "status",
    );
    app.stop().await;
}

#[tokio::test]
async fn manual_won_without_full_payment_is_refused() {
    let app = app().await;
    let id = new_interest(&app, "flow-2", "+7 912 100 00 02").await;
    let move_to = format!("/api/v1/interests/{id}/transition");
    let (status, _) = post(
        &app,
        ADMIN,
        "/api/v1/events/order",
        json!({"event_id": "o-2", "order_id": "ЗК-2", "interest_id": id, "amount": 10_000}),
    )
    .await;
    assert_eq!(status, 201);
    for to in ["offer", "payment", "shipment"] {
        // The move closes the stage's call task; КП/Счёт sets none, so
        // the next step is planned.
        let body = if to == "offer" {
            json!({"to": to, "result": "Дальше",
                   "next": {"type": "interaction", "kind": "call", "at": in_days(1)}})
        } else {
            json!({"to": to, "result": "Дальше"})
        };
        let (status, body) = post(&app, IVANOVA, &move_to, body).await;
        assert_eq!(status, 200, "{to}: {body}");
    }
    let (status, _) = post(
        &app,
        ADMIN,
        "/api/v1/events/payment",
        json!({"event_id": "p-2", "order_id": "ЗК-2", "amount": 4_000}),
    )
    .await;
    assert_eq!(status, 201);
    let refused = post(
        &app,
        IVANOVA,
        &move_to,
        json!({"to": "won", "result": "Готово"}),
    )
    .await;
    assert_conflict(&refused, "to");
    let detail = refused.1["detail"].as_str().unwrap();
    assert!(detail.contains("not paid in full"), "{detail}");
    assert!(detail.contains("not shipped in full"), "{detail}");
    assert_eq!(app.interest(id).await["status"], "open");
    app.stop().await;
}

#[tokio::test]
async fn concurrent_redeliveries_of_one_event_apply_it_once() {
    let app = app().await;
    let id = new_interest(&app, "flow-3", "+7 912 100 00 03").await;
    let (status, _) = post(
        &app,
        ADMIN,
        "/api/v1/events/order",
        json!({"event_id": "o-3", "order_id": "ЗК-3", "interest_id": id, "amount": 30_000}),
    )
    .await;
    assert_eq!(status, 201);
    let body = json!({"event_id": "p-3", "order_id": "ЗК-3", "amount": 30_000});
    let posts = (0..6).map(|_| post(&app, ADMIN, "/api/v1/events/payment", body.clone()));
    let answers = futures_util::future::join_all(posts).await;
    let created = answers.iter().filter(|(s, _)| *s == 201).count();
    let repeated = answers.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!((created, repeated), (1, 5), "{answers:?}");
    let after = app.interest(id).await;
    assert_eq!(after["orders"][0]["paid"], 30_000);
    assert_eq!(after["stage"], "shipment", "full payment skips Оплата");
    let kinds = feed_kinds(&after);
    assert_eq!(kinds.iter().filter(|k| *k == "payment").count(), 1);
    assert_eq!(
        open_tasks(&after)
            .iter()
            .filter(|t| *t == "Оформить реализацию товаров")
            .count(),
        1
    );
    app.stop().await;
}

#[tokio::test]
async fn bad_events_are_refused_naming_the_field() {
    let app = app().await;
    let id = new_interest(&app, "flow-4", "+7 912 100 00 04").await;
    let cases = [
        (
            "order",
            json!({"event_id": "b-1", "order_id": "ЗК-4", "amount": 100}),
            "interest_id",
        ),
        (
            "order",
            json!({"event_id": "b-2", "order_id": "ЗК-4", "interest_id": id, "amount": 12.5}),
            "amount",
        ),
        (
            "order",
            json!({"event_id": "b-3", "order_id": "ЗК-4", "interest_id": id, "amount": -1}),
            "amount",
        ),
        (
            "order",
            json!({"event_id": "", "order_id": "ЗК-4", "interest_id": id, "amount": 1}),
            "event_id",
        ),
        (
            "order",
            json!({"event_id": "b-4", "order_id": "ЗК-4", "interest_id": 999_999, "amount": 1}),
            "interest_id",
        ),
        (
            "order",
            json!({"event_id": "b-6", "order_id": "ЗК-4", "interest_id": id, "amount": 1, "sum": 1}),
            "sum",
        ),
    ];
    for (kind, body, field) in cases {
        let answer = post(&app, ADMIN, &format!("/api/v1/events/{kind}"), body.clone()).await;
        assert_refused(&answer, field);
    }
    // Well-formed, but early: the order has not arrived yet.
    let answer = post(
        &app,
        ADMIN,
        "/api/v1/events/payment",
        json!({"event_id": "b-5", "order_id": "нет такого", "amount": 100}),
    )
    .await;
    assert_conflict(&answer, "order_id");
    let (status, _) = post(
        &app,
        ADMIN,
        "/api/v1/events/order",
        json!({"event_id": "b-7", "order_id": "ЗК-4", "interest_id": id, "amount": 100}),
    )
    .await;
    assert_eq!(status, 201);
    let answer = post(
        &app,
        ADMIN,
        "/api/v1/events/payment",
        json!({"event_id": "b-8", "order_id": "ЗК-4", "amount": 0}),
    )
    .await;
    assert_refused(&answer, "amount");
    let (status, _) = post(
        &app,
        ADMIN,
        "/api/v1/events/refund",
        json!({"event_id": "b-9", "order_id": "ЗК-4", "amount": 1}),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = post(
        &app,
        IVANOVA,
        "/api/v1/events/payment",
        json!({"event_id": "b-10", "order_id": "ЗК-4", "amount": 1}),
    )
    .await;
    assert_eq!(status, 403, "a manager cannot post ERP events");
    // Refused events were not recorded: the id stays free.
    assert_eq!(
        scalar(&app.store, "SELECT COUNT(*) FROM erp_events").await,
        1
    );
    app.stop().await;
}

#[tokio::test]
async fn interactions_and_tasks_by_hand() {
    let app = app().await;
    let id = new_interest(&app, "flow-5", "+7 912 100 00 05").await;
    let path = format!("/api/v1/interests/{id}/interactions");
    let (status, _) = post(
        &app,
        IVANOVA,
        &path,
        json!({"kind": "meeting", "planned_at": in_days(2), "subject": "Показ образцов"}),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = post(
        &app,
        IVANOVA,
        &path,
        json!({"kind": "call", "done_at": in_days(0), "result": "Уточнил объём"}),
    )
    .await;
    assert_eq!(status, 201);
    assert_refused(
        &post(&app, IVANOVA, &path, json!({"kind": "call"})).await,
        "planned_at",
    );
    assert_refused(
        &post(
            &app,
            IVANOVA,
            &path,
            json!({"kind": "call", "planned_at": in_days(-1)}),
        )
        .await,
        "planned_at",
    );
    assert_refused(
        &post(
            &app,
            IVANOVA,
            &path,
            json!({"kind": "email", "done_at": in_days(0)}),
        )
        .await,
        "result",
    );
    assert_refused(
        &post(
            &app,
            IVANOVA,
            &path,
            json!({"kind": "fax", "planned_at": in_days(1)}),
        )
        .await,
        "kind",
    );

    let tasks = format!("/api/v1/interests/{id}/tasks");
    // The head hands a task to another manager of the department (a
    // manager assigns only to themselves: tests/stage/scoping.rs).
    let (status, created) = post(
        &app,
        crate::SMIRNOVA,
        &tasks,
        json!({"title": "Подготовить образцы", "due": in_days(3), "assignee": "user:petrov"}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_refused(
        &post(
            &app,
            IVANOVA,
            &tasks,
            json!({"title": " ", "due": in_days(1)}),
        )
        .await,
        "title",
    );
    assert_refused(
        &post(
            &app,
            IVANOVA,
            &tasks,
            json!({"title": "x", "due": in_days(1), "assignee": "boss"}),
        )
        .await,
        "assignee",
    );

    let view = app.interest(id).await;
    let kinds = feed_kinds(&view);
    assert!(kinds.contains(&"interaction_planned".to_owned()));
    assert!(kinds.contains(&"interaction".to_owned()));
    let (_, petrov_tasks) = get(&app, ADMIN, "/api/v1/tasks?assignee=petrov").await;
    assert_eq!(petrov_tasks[0]["title"], "Подготовить образцы");
    assert_eq!(petrov_tasks[0]["purpose"], "manual");
    // Its assignee completes it even though the interest is not theirs.
    let task_id = created["id"].as_i64().unwrap();
    let (status, done) = post(
        &app,
        crate::PETROV,
        &format!("/api/v1/tasks/{task_id}/complete"),
        json!({"result": "Готово"}),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    let again = post(
        &app,
        crate::PETROV,
        &format!("/api/v1/tasks/{task_id}/complete"),
        json!({}),
    )
    .await;
    assert_conflict(&again, "status");
    app.stop().await;
}
