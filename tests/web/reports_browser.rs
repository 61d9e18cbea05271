//! Every report page in a real Chromium, over a month of varied data;
//! each page is saved as a screenshot into docs/img/ for docs/reports.md.

use std::path::PathBuf;

use chrono::{Duration, Utc};
use leadgate::settings::{ApiToken, Role, Secret};
use leadgate_domain::scenario::WorkCalendar;
use leadgate_store::CallLogEntry;
use serde_json::{json, Value};

use crate::browser::Browser;
use crate::helpers::{appeal, TestApp};
use crate::support::*;

const DAY_MS: i64 = 86_400_000;
/// The configured head of the sales department, who decides on losses.
const SMIRNOVA_TOKEN: &str = "smirnova-token-0123456789";

async fn exec(app: &TestApp, sql: &str) {
    sqlx::query(sql)
        .execute(app.store.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// 24 leads over the last three weeks from four origins; stage moves,
/// losses with approvals and a return, first actions, calls, a queue.
async fn month_of_work(app: &TestApp) {
    let origins = [
        ("site", Some(("yandex", "spring"))),
        ("site", Some(("google", "brand"))),
        ("crm", None),
        ("landing", Some(("vk", "retarget"))),
    ];
    let mut leads: Vec<(i64, i64)> = Vec::new();
    for n in 0..24 {
        let (source, utm) = origins[n % origins.len()];
        let mut body = appeal(
            source,
            &format!("month-{n}"),
            json!({"name": format!("Клиент {n}"), "phones": [format!("+7 912 700 {:02} {:02}", n / 10, n)]}),
        );
        if let Some((s, c)) = utm {
            body["attributes"] = json!({"utm_source": s, "utm_campaign": c});
        }
        let response = app.post_appeal(&body).await;
        let accepted: Value = response.json().await.unwrap();
        let processed = app.processed_appeal(accepted["id"].as_i64().unwrap()).await;
        leads.push((
            accepted["id"].as_i64().unwrap(),
            processed["interest_id"].as_i64().unwrap(),
        ));
    }
    let call = |days: i64| json!({"type": "interaction", "kind": "call", "at": (Utc::now() + Duration::days(days)).to_rfc3339(), "subject": "Обсудить КП"});
    let post = |path: String, body: Value| async move {
        let (status, answer) = api(app, "POST", &path, SMIRNOVA_TOKEN, Some(body)).await;
        assert!(status < 300, "{path}: {answer}");
    };
    for (i, (_, interest)) in leads.iter().enumerate() {
        match i % 6 {
            0..=2 => {
                post(
                    format!("/api/v1/interests/{interest}/transition"),
                    json!({"to": "offer", "result": "Запросил КП", "next": call(2)}),
                )
                .await
            }
            3 => {
                let reasons = [
                    "Высокая цена",
                    "Выбрали конкурента",
                    "Нет бюджета",
                    "Высокая цена",
                ];
                post(
                    format!("/api/v1/interests/{interest}/close-lost"),
                    json!({"reason": reasons[i % 4], "comment": "Отказ по телефону"}),
                )
                .await
            }
            _ => {}
        }
    }
    // Spread everything over the last three weeks (the n-th lead n days ago,
    // modulo 21), as if it had happened then.
    for table in ["appeals"] {
        exec(
            app,
            &format!("UPDATE {table} SET received_at = received_at - (id % 21) * {DAY_MS}"),
        )
        .await;
    }
    exec(
        app,
        &format!("UPDATE interests SET created_at = created_at - (id % 21) * {DAY_MS}"),
    )
    .await;
    exec(app, &format!("UPDATE stage_entries SET entered_at = entered_at - (interest_id % 21) * {DAY_MS} + 3600000 * (id % 3)")).await;
    exec(app, &format!("UPDATE losses SET requested_at = requested_at - (interest_id % 21) * {DAY_MS}, decided_at = decided_at - (interest_id % 21) * {DAY_MS}")).await;
    // Reaction times: from 3 minutes to two working days; every fifth waits.
    let calendar = WorkCalendar::default();
    let mut conn = app.store.pool().acquire().await.unwrap();
    let reactions = [3, 9, 14, 25, 48, 70, 150, 400, 700, 1300];
    for (i, (appeal_id, interest)) in leads.iter().enumerate() {
        if i % 5 == 4 {
            continue;
        }
        let (received,): (i64,) = sqlx::query_as("SELECT received_at FROM appeals WHERE id = $1")
            .bind(appeal_id)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        let at = chrono::DateTime::from_timestamp_millis(received).unwrap()
            + Duration::minutes(reactions[i % reactions.len()]);
        sqlx::query("UPDATE appeals SET first_action_at = NULL WHERE id = $1")
            .bind(appeal_id)
            .execute(&mut *conn)
            .await
            .unwrap();
        app.store
            .mark_first_action(&mut conn, *interest, at, "ivanova", &calendar)
            .await
            .unwrap();
        // Calls: every lead called in; some missed and called back later.
        let missed = i % 3 == 0;
        app.store
            .log_call(
                &mut conn,
                &CallLogEntry {
                    appeal_id: *appeal_id,
                    interest_id: *interest,
                    at: chrono::DateTime::from_timestamp_millis(received).unwrap(),
                    inbound: true,
                    answered: !missed,
                    talk_secs: if missed { 0 } else { 60 + 30 * i as i64 },
                    manager: Some(if i % 2 == 0 { "ivanova" } else { "petrov" }),
                    source: "mango:office",
                },
                &calendar,
            )
            .await
            .unwrap();
    }
    drop(conn);
    // Outbound calls: callbacks of the missed ones (the interest's other appeal ids are free keys).
    let mut conn = app.store.pool().acquire().await.unwrap();
    for (i, (_, interest)) in leads.iter().enumerate() {
        if i % 3 != 0 || i % 5 == 4 || i % 2 == 1 {
            continue;
        }
        let (received,): (i64,) =
            sqlx::query_as("SELECT received_at FROM appeals WHERE interest_id = $1")
                .bind(interest)
                .fetch_one(&mut *conn)
                .await
                .unwrap();
        let (other,) : (i64,) = sqlx::query_as("SELECT id FROM appeals WHERE interest_id <> $1 AND id NOT IN (SELECT appeal_id FROM call_log) ORDER BY id LIMIT 1")
            .bind(interest)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        app.store
            .log_call(
                &mut conn,
                &CallLogEntry {
                    appeal_id: other,
                    interest_id: *interest,
                    at: chrono::DateTime::from_timestamp_millis(received).unwrap()
                        + Duration::minutes(12 + 20 * i as i64),
                    inbound: false,
                    answered: true,
                    talk_secs: 240,
                    manager: Some("ivanova"),
                    source: "mango:office",
                },
                &calendar,
            )
            .await
            .unwrap();
    }
    drop(conn);
    // The head decides the losses: approve most, return one.
    let pending: Vec<(i64,)> = sqlx::query_as(
        "SELECT interest_id FROM losses WHERE state = 'pending' ORDER BY interest_id",
    )
    .fetch_all(app.store.pool())
    .await
    .unwrap();
    for (n, (interest,)) in pending.iter().enumerate() {
        if n == 1 {
            post(
                format!("/api/v1/interests/{interest}/loss/return"),
                json!({"to": "offer", "comment": "Рано", "next": {"type": "task", "title": "Позвонить", "due": (Utc::now() + Duration::days(2)).to_rfc3339()}}),
            )
            .await;
        } else if n < 3 {
            post(
                format!("/api/v1/interests/{interest}/loss/approve"),
                json!({"comment": "Согласовано"}),
            )
            .await;
        }
    }
    // The review queue: three waiting (1 h, 5 h, 2 days), two decided.
    let now = Utc::now().timestamp_millis();
    for (n, (appeal_id, _)) in leads.iter().take(5).enumerate() {
        let created = now - [60, 300, 2880, 200, 90][n] * 60_000;
        let decided = (n >= 3).then(|| now - 30 * 60_000);
        let action = (n >= 3).then_some(if n == 3 { "link" } else { "new_client" });
        sqlx::query("INSERT INTO review_items (appeal_id, candidates, created_at, decided_at, decided_by, decided_action) VALUES ($1, '[]', $2, $3, 'operator', $4)")
            .bind(appeal_id)
            .bind(created)
            .bind(decided)
            .bind(action)
            .execute(app.store.pool())
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_report_page_renders_in_chromium_and_is_saved_as_a_picture() {
    let app = spawn_web_app_with(|s| {
        s.routing.round_robin = vec!["ivanova".into(), "petrov".into()];
        s.api.tokens.push(ApiToken {
            name: "smirnova".into(),
            token: Secret::new(SMIRNOVA_TOKEN),
            role: Role::Head,
        });
    })
    .await;
    create_user(&app, "boss", Role::Admin).await;
    month_of_work(&app).await;
    let browser = Browser::start().await;
    browser.login(&app.url(""), "boss", PASSWORD).await;
    browser.goto(&app.url("/ui/reports")).await;
    browser.wait_for(".report-index").await;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/img");
    for name in [
        "funnel",
        "sources",
        "speed-to-lead",
        "missed-calls",
        "activity",
        "losses",
        "review",
    ] {
        browser
            .goto(&app.url(&format!("/ui/reports/{name}?period=30d")))
            .await;
        browser.wait_for(".figures").await;
        let source = browser.source().await;
        assert!(
            source.contains("<svg class=\"chart\""),
            "{name}: a chart is drawn"
        );
        assert!(
            source.contains("table class=\"report\""),
            "{name}: a table under it"
        );
        assert!(source.contains("format=csv"), "{name}: a CSV link");
        browser
            .screenshot(&dir.join(format!("report-{name}.png")))
            .await;
    }
    // The period picker works without JavaScript: a plain GET form.
    browser.goto(&app.url("/ui/reports/funnel")).await;
    browser.click("#apply").await;
    browser.wait_for(".figures").await;
    assert!(browser
        .path()
        .await
        .starts_with("/ui/reports/funnel?period="));
    browser.close().await;
}
