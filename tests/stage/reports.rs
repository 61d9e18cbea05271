//! The reports on small fixtures whose figures are worked out by hand here:
//! the lost path, stage moves, tasks and interactions go through the API;
//! facts whose moment a test cannot wait for (Friday evening, Monday
//! morning) are written through the store's own write path with explicit
//! times, as the services write them.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use leadgate_domain::scenario::WorkCalendar;
use leadgate_store::CallLogEntry;
use serde_json::{json, Value};

use crate::helpers::{appeal, TestApp};
use crate::{app, get, in_days, post, ADMIN, IVANOVA, OPERATOR, PETROV, SMIRNOVA};

fn msk(date: NaiveDate, h: u32, m: u32) -> DateTime<Utc> {
    chrono_tz::Europe::Moscow
        .from_local_datetime(&date.and_hms_opt(h, m, 0).expect("time"))
        .single()
        .expect("Moscow time")
        .with_timezone(&Utc)
}

/// A Friday at least two weeks ago (Moscow), and the Monday after it.
fn past_weekend() -> (NaiveDate, NaiveDate) {
    let mut day = (Utc::now() - Duration::days(14))
        .with_timezone(&chrono_tz::Europe::Moscow)
        .date_naive();
    while day.weekday() != Weekday::Fri {
        day = day.pred_opt().expect("date");
    }
    (day, day + Duration::days(3))
}

async fn report(app: &TestApp, token: &str, name: &str, query: &str) -> Value {
    let (status, body) = get(app, token, &format!("/api/v1/reports/{name}?{query}")).await;
    assert_eq!(status, 200, "{name}: {body}");
    body
}

fn fig(report: &Value, key: &str) -> Value {
    report["summary"]
        .as_array()
        .expect("summary")
        .iter()
        .find(|f| f["key"] == key)
        .unwrap_or_else(|| panic!("figure {key} in {report}"))["value"]
        .clone()
}

fn table_row(report: &Value, table: &str, column: &str, value: &str) -> Value {
    report["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .find(|t| t["key"] == table)
        .unwrap_or_else(|| panic!("table {table}"))["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r[column] == value)
        .unwrap_or_else(|| panic!("row {column}={value} in {table}: {report}"))
        .clone()
}

/// A new client's appeal with marketing marks; returns (appeal, interest).
async fn lead(app: &TestApp, key: &str, phone: &str, utm: Option<(&str, &str)>) -> (i64, i64) {
    let mut body = appeal(
        "crm",
        key,
        json!({"name": "Ольга Кузнецова", "phones": [phone]}),
    );
    if let Some((source, campaign)) = utm {
        body["attributes"] = json!({"utm_source": source, "utm_campaign": campaign});
    }
    let response = app.post_appeal(&body).await;
    assert_eq!(response.status().as_u16(), 202);
    let accepted: Value = response.json().await.expect("json");
    let id = accepted["id"].as_i64().expect("appeal id");
    let processed = app.processed_appeal(id).await;
    assert_eq!(processed["status"], "created");
    (id, processed["interest_id"].as_i64().expect("interest id"))
}

async fn set_received(app: &TestApp, appeal: i64, at: DateTime<Utc>) {
    sqlx::query("UPDATE appeals SET received_at = $1 WHERE id = $2")
        .bind(at.timestamp_millis())
        .bind(appeal)
        .execute(app.store.pool())
        .await
        .expect("move the appeal in time");
}

#[tokio::test]
async fn speed_to_lead_counts_working_minutes_per_manager_and_channel() {
    let app = app().await;
    let calendar = WorkCalendar::default();
    let (fri, mon) = past_weekend();
    let (a1, i1) = lead(&app, "speed-1", "+7 912 300 00 01", None).await;
    let (a2, i2) = lead(&app, "speed-2", "+7 912 300 00 02", None).await;
    let (a3, _) = lead(&app, "speed-3", "+7 912 300 00 03", None).await;
    set_received(&app, a1, msk(fri, 17, 55)).await;
    set_received(&app, a2, msk(mon, 10, 0)).await;
    set_received(&app, a3, msk(mon, 11, 0)).await;
    let mut conn = app.store.pool().acquire().await.expect("connection");
    // 17:55 Friday → 9:10 Monday: 5 minutes on Friday, 10 on Monday.
    app.store
        .mark_first_action(&mut conn, i1, msk(mon, 9, 10), "ivanova", &calendar)
        .await
        .expect("first action");
    app.store
        .mark_first_action(&mut conn, i2, msk(mon, 10, 40), "ivanova", &calendar)
        .await
        .expect("first action");
    // A second action changes nothing: the first one counts.
    app.store
        .mark_first_action(&mut conn, i1, msk(mon, 12, 0), "ivanova", &calendar)
        .await
        .expect("second action");
    drop(conn);
    let minutes: Vec<(i64,)> = sqlx::query_as(
        "SELECT first_action_minutes FROM appeals WHERE id = $1 OR id = $2 ORDER BY id",
    )
    .bind(a1)
    .bind(a2)
    .fetch_all(app.store.pool())
    .await
    .expect("minutes");
    assert_eq!(minutes, vec![(15,), (40,)]);

    let query = format!("from={fri}&to={mon}");
    let r = report(&app, SMIRNOVA, "speed-to-lead", &query).await;
    // Three appeals: 15 and 40 working minutes, one still waiting.
    assert_eq!(fig(&r, "appeals"), 3.0);
    assert_eq!(fig(&r, "not_handled"), 1.0);
    assert_eq!(fig(&r, "median_minutes"), 15.0, "nearest rank of [15, 40]");
    assert_eq!(fig(&r, "p90_minutes"), 40.0);
    assert_eq!(fig(&r, "within_15_percent"), 33.3);
    assert_eq!(fig(&r, "within_60_percent"), 66.7);
    let anna = table_row(&r, "managers", "manager", "Анна Иванова");
    assert_eq!(anna["handled"], 2);
    assert_eq!(anna["not_handled"], 1);
    assert_eq!(anna["median_minutes"], 15);
    let api = table_row(&r, "channels", "channel", "api");
    assert_eq!(api["appeals"], 3);
    assert_eq!(api["p90_minutes"], 40);
    // Histogram: 6–15 min, 31–60 min, not yet.
    let values = r["chart"]["series"][0]["values"].clone();
    assert_eq!(
        values,
        json!([0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0])
    );

    // The period excludes Monday: only the Friday appeal.
    let r = report(
        &app,
        SMIRNOVA,
        "speed-to-lead",
        &format!("from={fri}&to={fri}"),
    )
    .await;
    assert_eq!(fig(&r, "appeals"), 1.0);
    // A manager sees their own figures only: petrov has none.
    let r = report(&app, PETROV, "speed-to-lead", &query).await;
    assert_eq!(fig(&r, "appeals"), 0.0);
    assert_eq!(fig(&r, "median_minutes"), Value::Null);
    let r = report(
        &app,
        ADMIN,
        "speed-to-lead",
        &format!("{query}&manager=ivanova"),
    )
    .await;
    assert_eq!(fig(&r, "appeals"), 3.0);
    let r = report(
        &app,
        ADMIN,
        "speed-to-lead",
        &format!("{query}&channel=mail"),
    )
    .await;
    assert_eq!(fig(&r, "appeals"), 0.0);
    app.stop().await;
}

#[tokio::test]
async fn missed_calls_and_activity_per_manager() {
    let app = app().await;
    let calendar = WorkCalendar::default();
    let (fri, mon) = past_weekend();
    let mut appeals = Vec::new();
    for n in 0..4 {
        appeals.push(
            lead(
                &app,
                &format!("call-{n}"),
                &format!("+7 912 400 00 0{n}"),
                None,
            )
            .await,
        );
    }
    let (x, y) = (appeals[0].1, appeals[1].1);
    let calls = [
        // Missed on Friday evening, called back on Monday at 9:10: 15 minutes.
        (appeals[0].0, x, msk(fri, 17, 55), true, false, 0),
        (appeals[1].0, x, msk(mon, 9, 10), false, true, 65),
        // Missed on Monday and never called back.
        (appeals[2].0, y, msk(mon, 10, 0), true, false, 0),
        // Answered on Monday: 125 seconds.
        (appeals[3].0, y, msk(mon, 11, 0), true, true, 125),
    ];
    let mut conn = app.store.pool().acquire().await.expect("connection");
    for (appeal_id, interest_id, at, inbound, answered, talk) in calls {
        app.store
            .log_call(
                &mut conn,
                &CallLogEntry {
                    appeal_id,
                    interest_id,
                    at,
                    inbound,
                    answered,
                    talk_secs: talk,
                    manager: Some("ivanova"),
                    source: "mango:office",
                },
                &calendar,
            )
            .await
            .expect("call");
    }
    drop(conn);
    let query = format!("from={fri}&to={mon}");
    let r = report(&app, SMIRNOVA, "missed-calls", &query).await;
    assert_eq!(fig(&r, "missed"), 2.0);
    assert_eq!(fig(&r, "called_back_percent"), 50.0);
    assert_eq!(fig(&r, "median_minutes"), 15.0);
    assert_eq!(fig(&r, "within_15_percent"), 50.0);
    let anna = table_row(&r, "managers", "manager", "Анна Иванова");
    assert_eq!(anna["missed"], 2);
    assert_eq!(anna["called_back"], 1);
    // Per day: Friday 1 called back, Monday 1 not.
    let series = r["chart"]["series"].as_array().expect("series");
    let back: f64 = series[0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .sum();
    let not: f64 = series[1]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .sum();
    assert_eq!((back, not), (1.0, 1.0));
    assert_eq!(series[0]["values"][0], 1.0, "the Friday call is Friday's");

    let r = report(&app, SMIRNOVA, "activity", &query).await;
    assert_eq!(fig(&r, "call_in"), 1.0, "answered inbound calls only");
    assert_eq!(fig(&r, "call_out"), 1.0);
    assert_eq!(fig(&r, "talk_minutes"), 3.0, "65 + 125 seconds");

    // Today's work through the API: a meeting logged and a task done.
    let (status, body) = post(
        &app,
        IVANOVA,
        &format!("/api/v1/interests/{y}/interactions"),
        json!({"kind": "meeting", "done_at": (Utc::now() - Duration::minutes(30)).to_rfc3339(),
               "result": "Обсудили условия"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let interest = app.interest(x).await;
    let task = interest["tasks"][0]["id"].as_i64().expect("task");
    let (status, body) = post(
        &app,
        IVANOVA,
        &format!("/api/v1/tasks/{task}/complete"),
        json!({"result": "Дозвонились", "next": {"type": "task", "title": "Отправить КП", "due": in_days(1)}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let r = report(&app, SMIRNOVA, "activity", "period=7d").await;
    assert_eq!(fig(&r, "meeting"), 1.0);
    assert_eq!(fig(&r, "task_done"), 1.0);
    let anna = table_row(&r, "managers", "manager", "Анна Иванова");
    assert_eq!(anna["meeting"], 1);
    assert_eq!(anna["task_done"], 1);
    let r = report(&app, PETROV, "activity", "period=7d").await;
    assert_eq!(fig(&r, "task_done"), 0.0);
    app.stop().await;
}

#[tokio::test]
async fn funnel_sources_and_losses_with_approvals_and_returns() {
    let app = app().await;
    let (_, i1) = lead(&app, "f-1", "+7 912 500 00 01", Some(("yandex", "spring"))).await;
    let (_, i2) = lead(&app, "f-2", "+7 912 500 00 02", Some(("yandex", "spring"))).await;
    let (_, i3) = lead(&app, "f-3", "+7 912 500 00 03", None).await;
    let call =
        json!({"type": "interaction", "kind": "call", "at": in_days(1), "subject": "Обсудить КП"});
    let (status, body) = post(
        &app,
        IVANOVA,
        &format!("/api/v1/interests/{i1}/transition"),
        json!({"to": "offer", "result": "Запросил КП", "next": call}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    for (id, reason) in [(i2, "Высокая цена"), (i3, "Нет бюджета")] {
        let (status, body) = post(
            &app,
            IVANOVA,
            &format!("/api/v1/interests/{id}/close-lost"),
            json!({"reason": reason, "comment": "Клиент ушёл думать"}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let r = report(&app, SMIRNOVA, "losses", "period=7d").await;
    assert_eq!(fig(&r, "pending"), 2.0);
    assert_eq!(
        fig(&r, "lost"),
        0.0,
        "nothing is lost before the head decides"
    );
    let (status, body) = post(
        &app,
        SMIRNOVA,
        &format!("/api/v1/interests/{i2}/loss/approve"),
        json!({"comment": "Согласна"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post(
        &app,
        SMIRNOVA,
        &format!("/api/v1/interests/{i3}/loss/return"),
        json!({"to": "offer", "comment": "Рано", "next": {"type": "task", "title": "Позвонить", "due": in_days(2)}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // Stage entries: i1 request→offer, i2 request→lost, i3 request→lost→offer.
    let r = report(&app, SMIRNOVA, "funnel", "period=7d").await;
    let request = table_row(&r, "stages", "stage", "request");
    let offer = table_row(&r, "stages", "stage", "offer");
    let lost = table_row(&r, "stages", "stage", "lost");
    let payment = table_row(&r, "stages", "stage", "payment");
    assert_eq!(request["reached"], 3);
    assert_eq!(request["now"], 0);
    assert_eq!(request["reached_previous"], 0);
    assert_eq!(offer["reached"], 2);
    assert_eq!(offer["now"], 2);
    assert_eq!(offer["conversion_percent"], 66.7);
    assert_eq!(payment["reached"], 0);
    assert_eq!(payment["conversion_percent"], 0.0);
    assert_eq!(lost["reached"], 2);
    assert_eq!(lost["now"], Value::Null, "final stages have no 'now'");
    assert_eq!(fig(&r, "lost"), 1.0);
    assert_eq!(fig(&r, "won"), 0.0);
    let r = report(&app, SMIRNOVA, "funnel", "period=7d&utm_campaign=spring").await;
    assert_eq!(table_row(&r, "stages", "stage", "request")["reached"], 2);
    let r = report(&app, PETROV, "funnel", "period=7d").await;
    assert_eq!(table_row(&r, "stages", "stage", "request")["reached"], 0);

    let r = report(&app, SMIRNOVA, "losses", "period=7d").await;
    assert_eq!(fig(&r, "lost"), 1.0);
    assert_eq!(fig(&r, "approved"), 1.0);
    assert_eq!(fig(&r, "returned"), 1.0);
    assert_eq!(fig(&r, "pending"), 0.0);
    let price = table_row(&r, "reasons", "reason", "Высокая цена");
    assert_eq!(price["lost"], 1);
    assert_eq!(price["share_percent"], 100.0);
    let budget = table_row(&r, "reasons", "reason", "Нет бюджета");
    assert_eq!(budget["lost"], 0);
    assert_eq!(budget["returned"], 1);
    assert_eq!(table_row(&r, "stages", "stage", "Запрос")["lost"], 1);
    let stored: (String, String, String) =
        sqlx::query_as("SELECT reason, comment, from_stage FROM losses WHERE interest_id = $1")
            .bind(i2)
            .fetch_one(app.store.pool())
            .await
            .expect("loss row");
    assert_eq!(
        stored,
        (
            "Высокая цена".into(),
            "Клиент ушёл думать".into(),
            "request".into()
        )
    );

    let r = report(&app, SMIRNOVA, "sources", "period=7d").await;
    assert_eq!(fig(&r, "appeals"), 3.0);
    assert_eq!(fig(&r, "new_interests"), 3.0);
    assert_eq!(fig(&r, "won"), 0.0);
    let spring = table_row(&r, "origins", "utm_campaign", "spring");
    assert_eq!(spring["appeals"], 2);
    assert_eq!(spring["utm_source"], "yandex");
    assert_eq!(spring["channel"], "api");
    let days = r["chart"]["categories"].as_array().expect("days").len();
    assert_eq!(days, 7);
    let total: f64 = r["chart"]["series"][0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .sum();
    assert_eq!(total, 3.0);

    // CSV: the same table.
    let response = app
        .client
        .get(app.url("/api/v1/reports/funnel?period=7d&format=csv"))
        .bearer_auth(SMIRNOVA)
        .send()
        .await
        .expect("csv");
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = response.text().await.expect("text");
    let lines: Vec<&str> = text.trim_start_matches('\u{feff}').lines().collect();
    assert!(lines[0].starts_with("Этап,Вошли за период"), "{text}");
    assert!(
        lines.iter().any(|l| l.starts_with("КП/Счёт,2,0,66.7,2,")),
        "{text}"
    );

    // Who may see what, and bad input.
    let (status, _) = get(&app, OPERATOR, "/api/v1/reports/funnel").await;
    assert_eq!(status, 403);
    let (status, _) = get(&app, OPERATOR, "/api/v1/reports/review").await;
    assert_eq!(status, 200);
    let (status, body) = get(&app, SMIRNOVA, "/api/v1/reports/funnel?from=вчера").await;
    assert_eq!((status, body["field"].clone()), (400, json!("from")));
    let (status, _) = get(&app, SMIRNOVA, "/api/v1/reports/nothing").await;
    assert_eq!(status, 404);
    app.stop().await;
}

#[tokio::test]
async fn review_queue_size_age_and_decisions() {
    let app = app().await;
    let (a1, _) = lead(&app, "rq-1", "+7 912 600 00 01", None).await;
    let (a2, _) = lead(&app, "rq-2", "+7 912 600 00 02", None).await;
    let now = Utc::now();
    let ms = |d: Duration| (now - d).timestamp_millis();
    set_received(&app, a2, now - Duration::minutes(100)).await;
    // Waiting 30 minutes; decided as spam 90 minutes after the appeal came.
    for (appeal_id, created, decided, action) in [
        (a1, ms(Duration::minutes(30)), None, None),
        (
            a2,
            ms(Duration::minutes(95)),
            Some(ms(Duration::minutes(10))),
            Some("spam"),
        ),
    ] {
        sqlx::query(
            "INSERT INTO review_items (appeal_id, candidates, created_at, decided_at, decided_by, decided_action) \
             VALUES ($1, '[]', $2, $3, 'operator', $4)",
        )
        .bind(appeal_id)
        .bind(created)
        .bind(decided)
        .bind(action)
        .execute(app.store.pool())
        .await
        .expect("review item");
    }
    let r = report(&app, OPERATOR, "review", "period=7d").await;
    assert_eq!(fig(&r, "open"), 1.0);
    assert_eq!(fig(&r, "oldest_minutes"), 30.0);
    assert_eq!(fig(&r, "entered"), 2.0);
    assert_eq!(fig(&r, "decided"), 1.0);
    assert_eq!(fig(&r, "median_decision_minutes"), 90.0);
    assert_eq!(table_row(&r, "decisions", "decision", "спам")["count"], 1);
    let (status, _) = get(&app, PETROV, "/api/v1/reports/review").await;
    assert_eq!(status, 403, "the queue has no manager's own figures");
    app.stop().await;
}
