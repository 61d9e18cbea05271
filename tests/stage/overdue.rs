use chrono::{Duration, Timelike, Utc};
use leadgate::scenario::WorkCalendar;
use leadgate::stage::Stage;
use leadgate::startup::Services;
use leadgate::storage::Store;
use serde_json::Value;

use crate::helpers::{eventually, feed_kinds, scalar, spawn_app_with, test_db, TestApp, TestDb};
use crate::{configure, get, new_interest, IVANOVA};

/// A fixed-offset zone in which it is about noon now, so that "later today"
/// and "tomorrow" never straddle midnight whenever the test runs.
fn noon_calendar() -> WorkCalendar {
    let offset = 12 - i64::from(Utc::now().hour());
    // Etc/GMT-N is UTC+N (POSIX sign).
    let zone = if offset >= 0 {
        format!("Etc/GMT-{offset}")
    } else {
        format!("Etc/GMT+{}", -offset)
    };
    toml::from_str(&format!("timezone = \"{zone}\"")).expect("calendar")
}

async fn set_due(app: &TestApp, interest_id: i64, due: chrono::DateTime<Utc>) {
    sqlx::query("UPDATE tasks SET due_at = $1 WHERE interest_id = $2")
        .bind(due.timestamp_millis())
        .bind(interest_id)
        .execute(app.store.pool())
        .await
        .expect("update");
}

fn stage_for(app: &TestApp, store: Store) -> Stage {
    Services::new(&app.settings)
        .expect("scenarios")
        .stage(store)
}

fn ids(list: &Value) -> Vec<i64> {
    list.as_array()
        .expect("list")
        .iter()
        .map(|i| i["id"].as_i64().expect("id"))
        .collect()
}

#[tokio::test]
async fn colours_follow_due_dates_and_overdue_tasks_are_reported_once() {
    let app = spawn_app_with(|s| {
        configure(s);
        s.calendar = noon_calendar();
        // The background sweeper stays out of the way: this test sweeps itself.
        s.tasks.overdue_sweep_interval_ms = 3_600_000;
    })
    .await;
    let green = new_interest(&app, "c-1", "+7 912 400 00 01").await;
    let yellow = new_interest(&app, "c-2", "+7 912 400 00 02").await;
    let red = new_interest(&app, "c-3", "+7 912 400 00 03").await;
    let now = Utc::now();
    set_due(&app, green, now + Duration::days(3)).await;
    set_due(&app, yellow, now + Duration::minutes(30)).await;
    set_due(&app, red, now - Duration::hours(1)).await;

    for (id, colour) in [(green, "green"), (yellow, "yellow"), (red, "red")] {
        assert_eq!(app.interest(id).await["colour"], colour, "interest {id}");
        let (status, list) =
            get(&app, IVANOVA, &format!("/api/v1/interests?colour={colour}")).await;
        assert_eq!(status, 200);
        assert_eq!(ids(&list), vec![id], "{colour}");
    }

    let stage = stage_for(&app, app.store.clone());
    let first = stage.sweep_overdue(Utc::now()).await.expect("sweep");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].interest_id, red);
    assert!(stage
        .sweep_overdue(Utc::now())
        .await
        .expect("sweep")
        .is_empty());
    let view = app.interest(red).await;
    assert_eq!(view["tasks"][0]["status"], "overdue");
    assert_eq!(view["colour"], "red");
    let overdue = feed_kinds(&view)
        .iter()
        .filter(|k| *k == "task_overdue")
        .count();
    assert_eq!(overdue, 1);
    let (_, overdue_tasks) = get(&app, IVANOVA, "/api/v1/tasks?status=overdue").await;
    assert_eq!(overdue_tasks.as_array().unwrap().len(), 1);

    // Two instances sweeping at once report each task once (on PostgreSQL
    // with their own connection pools).
    set_due(&app, yellow, Utc::now() - Duration::minutes(1)).await;
    let other_store = match test_db() {
        TestDb::Postgres => Store::connect(&app.settings.database).await.expect("pool"),
        TestDb::Sqlite => app.store.clone(),
    };
    let a = stage_for(&app, app.store.clone());
    let b = stage_for(&app, other_store);
    let at = Utc::now();
    let (ra, rb) = tokio::join!(a.sweep_overdue(at), b.sweep_overdue(at));
    assert_eq!(ra.expect("a").len() + rb.expect("b").len(), 1);
    assert_eq!(
        scalar(
            &app.store,
            "SELECT COUNT(*) FROM feed_entries WHERE kind = 'task_overdue'"
        )
        .await,
        2
    );
    app.stop().await;
}

#[tokio::test]
async fn the_background_sweeper_marks_late_tasks_overdue() {
    let app = spawn_app_with(|s| {
        configure(s);
        s.tasks.overdue_sweep_interval_ms = 50;
    })
    .await;
    let id = new_interest(&app, "bg-1", "+7 912 400 00 09").await;
    set_due(&app, id, Utc::now() - Duration::minutes(5)).await;
    let view = eventually("the sweeper to mark the task overdue", async || {
        let view = app.interest(id).await;
        // The page reads tasks and feed in separate queries: wait for both.
        (view["tasks"][0]["status"] == "overdue"
            && feed_kinds(&view).contains(&"task_overdue".to_owned()))
        .then_some(view)
    })
    .await;
    let entry = view["feed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "task_overdue")
        .expect("overdue entry");
    assert!(entry["summary"].as_str().unwrap().contains("просрочена"));
    assert_eq!(entry["data"]["responsible"], "ivanova");
    app.stop().await;
}
