use serde_json::json;

use crate::helpers::feed_kinds;
use crate::{
    app, assert_conflict, assert_refused, in_days, new_interest, open_tasks, post, IVANOVA, PETROV,
    SMIRNOVA,
};

#[tokio::test]
async fn loss_waits_for_the_head_who_approves_it() {
    let app = app().await;
    let id = new_interest(&app, "lost-1", "+7 912 200 00 01").await;
    let close = format!("/api/v1/interests/{id}/close-lost");
    assert_refused(
        &post(&app, IVANOVA, &close, json!({"reason": ""})).await,
        "reason",
    );
    assert_refused(
        &post(
            &app,
            IVANOVA,
            &close,
            json!({"reason": "Луна не в той фазе"}),
        )
        .await,
        "reason",
    );
    // Through the transition endpoint a lost stage needs a reason too.
    let transition = format!("/api/v1/interests/{id}/transition");
    assert_refused(
        &post(
            &app,
            IVANOVA,
            &transition,
            json!({"to": "lost", "result": "Отказ"}),
        )
        .await,
        "reason",
    );

    let (status, pending) = post(
        &app,
        IVANOVA,
        &close,
        json!({"reason": "Высокая цена", "comment": "Нашли дешевле на 15 %"}),
    )
    .await;
    assert_eq!(status, 200, "{pending}");
    assert_eq!(pending["status"], "loss_pending");
    assert_eq!(pending["stage"], "lost");
    let approval = pending["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["purpose"] == "loss_approval")
        .expect("approval task");
    assert_eq!(approval["assignee"], "smirnova");
    assert_eq!(approval["status"], "open");

    // While pending nothing moves; only the head decides.
    assert_conflict(
        &post(
            &app,
            IVANOVA,
            &transition,
            json!({"to": "offer", "result": "Передумал",
            "next": {"type": "nothing"}}),
        )
        .await,
        "status",
    );
    let approve = format!("/api/v1/interests/{id}/loss/approve");
    let (status, _) = post(&app, IVANOVA, &approve, json!({})).await;
    assert_eq!(
        status, 403,
        "the responsible does not approve their own loss"
    );
    let (status, _) = post(&app, PETROV, &approve, json!({})).await;
    assert_eq!(status, 404, "not petrov's to see");

    let (status, lost) = post(&app, SMIRNOVA, &approve, json!({"comment": "Согласна"})).await;
    assert_eq!(status, 200, "{lost}");
    assert_eq!(lost["status"], "lost");
    assert!(open_tasks(&lost).is_empty());
    let kinds = feed_kinds(&lost);
    assert!(kinds.contains(&"loss_requested".to_owned()));
    assert!(kinds.contains(&"loss_approved".to_owned()));
    let (status, _) = post(&app, SMIRNOVA, &approve, json!({})).await;
    assert_eq!(status, 409, "a finished interest takes no second decision");
    app.stop().await;
}

#[tokio::test]
async fn the_head_returns_a_loss_to_work_with_a_next_step() {
    let app = app().await;
    let id = new_interest(&app, "lost-2", "+7 912 200 00 02").await;
    // The lost stage via /transition, with reason and comment.
    let (status, pending) = post(
        &app,
        IVANOVA,
        &format!("/api/v1/interests/{id}/transition"),
        json!({"to": "lost", "result": "Клиент молчит", "reason": "Клиент не выходит на связь"}),
    )
    .await;
    assert_eq!(status, 200, "{pending}");
    assert_eq!(pending["status"], "loss_pending");

    let back = format!("/api/v1/interests/{id}/loss/return");
    assert_refused(
        &post(&app, SMIRNOVA, &back, json!({"comment": "Рано"})).await,
        "to",
    );
    assert_refused(
        &post(
            &app,
            SMIRNOVA,
            &back,
            json!({"to": "won", "comment": "Рано"}),
        )
        .await,
        "to",
    );
    let (status, open) = post(
        &app,
        SMIRNOVA,
        &back,
        json!({"to": "offer", "comment": "Рано сдаваться",
               "next": {"type": "task", "title": "Позвонить директору", "due": in_days(2)}}),
    )
    .await;
    assert_eq!(status, 200, "{open}");
    assert_eq!(open["status"], "open");
    assert_eq!(open["stage"], "offer");
    let tasks = open_tasks(&open);
    assert!(
        tasks.contains(&"Позвонить директору".to_owned()),
        "{tasks:?}"
    );
    assert!(
        !tasks.iter().any(|t| t.starts_with("Согласовать")),
        "{tasks:?}"
    );
    assert!(feed_kinds(&open).contains(&"loss_returned".to_owned()));
    let approve = post(
        &app,
        SMIRNOVA,
        &format!("/api/v1/interests/{id}/loss/approve"),
        json!({}),
    )
    .await;
    assert_conflict(&approve, "status");
    assert_eq!(app.interest(id).await["status"], "open");
    app.stop().await;
}
