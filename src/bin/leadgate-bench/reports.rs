//! Report speed: a database with 1,000,000 clients, 1,000,000 interests over
//! 12 months and 5,000,000 feed entries (and the facts the reports read:
//! appeals, stage entries, losses, calls, tasks, interactions, review items),
//! generated in bulk SQL; then every report over 30 days and over 12 months,
//! timed as the API builds it (the store's aggregates plus the shaping).

use std::time::Instant;

use anyhow::Context;
use chrono::{Duration, Utc};
use clap::Args as ClapArgs;

use leadgate::settings;
use leadgate::stage::{Actor, Scope};
use leadgate::storage::{DatabaseSettings, Store};
use leadgate_core::reports::{ReportName, ReportQuery, Reports};
use leadgate_domain::report::{offset_ms, Period};
use leadgate_domain::role::Role;

#[derive(ClapArgs)]
pub struct Args {
    /// `sqlite://PATH` (default: a file under target/) or `postgres://user@host:port`
    /// (a database `leadgate_bench_reports` is created there, replacing an old one).
    #[arg(long)]
    db: Option<String>,
    #[arg(long, default_value_t = 1_000_000)]
    clients: i64,
    #[arg(long, default_value_t = 1_000_000)]
    interests: i64,
    #[arg(long, default_value_t = 5_000_000)]
    feed: i64,
    /// Timed runs per report and period; the median is printed.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Time the reports on the database a previous run generated, without
    /// generating it again.
    #[arg(long)]
    reuse: bool,
}

const DAY_MS: i64 = 86_400_000;

/// `INSERT ... SELECT` over the integers 1..=n where `cond`, as each
/// engine writes it.
fn series(postgres: bool, n: i64, insert: &str, select: &str, cond: &str) -> String {
    if postgres {
        format!("{insert} SELECT {select} FROM generate_series(CAST(1 AS BIGINT), {n}) AS s(i) WHERE {cond}")
    } else {
        format!(
            "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) \
             {insert} SELECT {select} FROM s WHERE {cond}"
        )
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let (url, postgres) = match args.db.as_deref() {
        Some(base) if base.starts_with("postgres") => {
            sqlx::any::install_default_drivers();
            use sqlx::Connection;
            let base = base.trim_end_matches('/');
            let mut conn = sqlx::AnyConnection::connect(&format!("{base}/postgres"))
                .await
                .context("connect to PostgreSQL")?;
            if !args.reuse {
                sqlx::query("DROP DATABASE IF EXISTS leadgate_bench_reports")
                    .execute(&mut conn)
                    .await?;
                sqlx::query("CREATE DATABASE leadgate_bench_reports")
                    .execute(&mut conn)
                    .await?;
            }
            (format!("{base}/leadgate_bench_reports"), true)
        }
        Some(other) => (other.to_owned(), false),
        None => {
            let path = std::path::Path::new("target/bench-reports.db");
            if !args.reuse {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            (format!("sqlite://{}", path.display()), false)
        }
    };
    let mut settings = settings::load_from_str(
        include_str!("../../../config/leadgate.toml"),
        Vec::<(String, String)>::new(),
    )
    .context("shipped configuration")?;
    settings.database.url = url.clone();
    settings.database.sqlite_synchronous = settings::SqliteSync::Normal;
    let db: DatabaseSettings = settings.database.clone();
    let store = Store::connect(&db).await.context("open the database")?;
    store.migrate().await?;
    let core = std::sync::Arc::new(settings.core());
    let tz = settings.core().calendar.tz();
    if args.reuse {
        store.sync_report_rollups(offset_ms(tz, Utc::now())).await?;
        return time_reports(&store, core, &args).await;
    }
    // The rollups are rebuilt once after the bulk load (as the migration
    // backfills them) rather than by a trigger per generated row.
    store.pause_report_rollups().await?;

    println!(
        "generating {} clients, {} interests, {} feed entries on {} ...",
        args.clients,
        args.interests,
        args.feed,
        if postgres { "PostgreSQL" } else { "SQLite" }
    );
    let started = Instant::now();
    generate(&store, postgres, &args).await?;
    println!("generated in {:.1} s", started.elapsed().as_secs_f64());
    let t = Instant::now();
    store
        .sync_report_rollups(offset_ms(tz, Utc::now()))
        .await
        .context("rebuild the report rollups")?;
    println!("  report rollups: {:.1} s", t.elapsed().as_secs_f64());
    time_reports(&store, core, &args).await
}

async fn time_reports(
    store: &Store,
    core: std::sync::Arc<leadgate_core::settings::CoreSettings>,
    args: &Args,
) -> anyhow::Result<()> {
    let tz = core.calendar.tz();
    let reports = Reports::new(store.clone(), core);
    let admin = Actor {
        login: "admin".into(),
        role: Role::Admin,
        scope: Scope::All,
    };
    let now = Utc::now();
    let one_manager = ReportQuery {
        manager: Some("manager3".into()),
        ..ReportQuery::default()
    };
    let everyone = ReportQuery::default();
    let periods = [
        (
            "30 days",
            Period::resolve(Some("30d"), None, None, now, tz)?,
            &everyone,
        ),
        (
            "12 months",
            Period::new(now - Duration::days(365), now + Duration::days(1))?,
            &everyone,
        ),
        (
            "12 months, one manager",
            Period::new(now - Duration::days(365), now + Duration::days(1))?,
            &one_manager,
        ),
    ];
    println!("\n| report | period | median ms | min ms | max ms |\n|---|---|---:|---:|---:|");
    for name in ReportName::ALL {
        for (label, period, query) in &periods {
            let mut times = Vec::with_capacity(args.runs);
            for _ in 0..args.runs.max(1) {
                let t = Instant::now();
                let report = reports
                    .build(name, &admin, *period, query, now)
                    .await
                    .map_err(|e| anyhow::anyhow!("{}: {e}", name.slug()))?;
                std::hint::black_box(report);
                times.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            times.sort_by(|a, b| a.total_cmp(b));
            println!(
                "| {} | {label} | {:.1} | {:.1} | {:.1} |",
                name.slug(),
                times[times.len() / 2],
                times[0],
                times[times.len() - 1]
            );
        }
    }
    Ok(())
}

async fn generate(store: &Store, pg: bool, args: &Args) -> anyhow::Result<()> {
    let now = Utc::now().timestamp_millis();
    let year = 365 * DAY_MS;
    let n_i = args.interests;
    // An interest's creation: spread over 12 months by a multiplicative hash.
    let created = format!("({now} - ((i * 2654435761) % {year}))");
    let channel = "CASE i % 5 WHEN 0 THEN 'form' WHEN 1 THEN 'mail' WHEN 2 THEN 'phone' WHEN 3 THEN 'telegram' ELSE 'api' END";
    let source = "CASE i % 5 WHEN 0 THEN 'site' WHEN 1 THEN 'mail:sales' WHEN 2 THEN 'mango:office' WHEN 3 THEN 'telegram:shop' ELSE 'crm' END";
    let utm_source =
        "CASE i % 4 WHEN 0 THEN 'yandex' WHEN 1 THEN 'google' WHEN 2 THEN 'vk' ELSE NULL END";
    let utm_campaign =
        "CASE i % 8 WHEN 0 THEN 'spring' WHEN 1 THEN 'brand' WHEN 2 THEN 'retarget' ELSE NULL END";
    let manager = if pg {
        "'manager' || (i % 10)::text"
    } else {
        "'manager' || (i % 10)"
    };
    // Stage by i % 10: 0-2 request, 3-4 offer, 5 payment, 6 shipment, 7 won, 8-9 lost.
    let stage = "CASE WHEN i % 10 < 3 THEN 'request' WHEN i % 10 < 5 THEN 'offer' WHEN i % 10 = 5 THEN 'payment' \
                 WHEN i % 10 = 6 THEN 'shipment' WHEN i % 10 = 7 THEN 'won' ELSE 'lost' END";
    let status = "CASE WHEN i % 10 = 7 THEN 'won' WHEN i % 10 >= 8 THEN 'lost' ELSE 'open' END";
    let mut steps: Vec<(String, String)> = vec![
        (
            "users".into(),
            series(
                pg,
                10,
                "INSERT INTO users (login, display_name, role, department_id, created_at)",
                &format!("{manager}, 'Менеджер ' || i, 'manager', NULL, {now}"),
                "1 = 1",
            ),
        ),
        (
            "clients".into(),
            series(
                pg,
                args.clients,
                "INSERT INTO clients (id, kind, name, created_at, updated_at)",
                &format!("i, 'person', 'Клиент ' || i, {now}, {now}"),
                "1 = 1",
            ),
        ),
        (
            "interests".into(),
            series(
                pg,
                n_i,
                "INSERT INTO interests (id, client_id, scenario, stage, status, responsible_login, \
                 potential_amount, channel, source, utm_source, utm_campaign, created_at, updated_at, closed_at)",
                &format!(
                    "i, 1 + (i - 1) % {clients}, 'standard', {stage}, {status}, {manager}, \
                     (i % 97) * 100000, {channel}, {source}, {utm_source}, {utm_campaign}, {created}, {created}, \
                     CASE WHEN i % 10 >= 7 THEN {created} + (i % 20) * {DAY_MS} ELSE NULL END",
                    clients = args.clients
                ),
                "1 = 1",
            ),
        ),
        (
            "appeals".into(),
            series(
                pg,
                n_i,
                "INSERT INTO appeals (id, channel, source, external_id, received_at, accepted_at, contact, \
                 attachments, attributes, raw_payload, intent, status, client_id, interest_id, lead, \
                 utm_source, utm_campaign, responsible_login, first_action_at, first_action_by, first_action_minutes)",
                &format!(
                    "i, {channel}, {source}, 'bench-' || i, {created}, {created}, '{{}}', '[]', '{{}}', '', \
                     '\"lead\"', 'created', 1 + (i - 1) % {clients}, i, 1, {utm_source}, {utm_campaign}, {manager}, \
                     CASE WHEN i % 10 = 9 THEN NULL ELSE {created} + ((i * 31) % 900) * 60000 END, \
                     CASE WHEN i % 10 = 9 THEN NULL ELSE {manager} END, \
                     CASE WHEN i % 10 = 9 THEN NULL ELSE (i * 31) % 900 END",
                    clients = args.clients
                ),
                "1 = 1",
            ),
        ),
    ];
    // Stage entries: every interest entered `request`; those further on
    // entered the next stages a day apart; a lost one went to `lost` from
    // the stage it had reached.
    let path = [
        ("request", 0, "i % 10 >= 0"),
        ("offer", 1, "i % 10 BETWEEN 3 AND 7 OR i % 10 = 9"),
        ("payment", 2, "i % 10 BETWEEN 5 AND 7"),
        ("shipment", 3, "i % 10 BETWEEN 6 AND 7"),
        ("won", 4, "i % 10 = 7"),
        ("lost", 5, "i % 10 >= 8"),
    ];
    for (n, (stage_id, offset, cond)) in path.iter().enumerate() {
        let next_cond = path
            .iter()
            .skip(n + 1)
            .map(|(_, _, c)| format!("({c})"))
            .collect::<Vec<_>>();
        let left = if *stage_id == "won" || *stage_id == "lost" {
            "NULL".to_owned()
        } else {
            format!(
                "CASE WHEN {} THEN {created} + {} * {DAY_MS} ELSE NULL END",
                if next_cond.is_empty() {
                    "1 = 0".to_owned()
                } else {
                    next_cond.join(" OR ")
                },
                offset + 1
            )
        };
        steps.push((
            format!("stage_entries {stage_id}"),
            series(
                pg,
                n_i,
                "INSERT INTO stage_entries (interest_id, scenario, stage, entered_at, left_at, \
                 responsible_login, channel, source, utm_source, utm_campaign, amount)",
                &format!(
                    "i, 'standard', '{stage_id}', {created} + {offset} * {DAY_MS}, {left}, {manager}, \
                     {channel}, {source}, {utm_source}, {utm_campaign}, (i % 97) * 100000"
                ),
                cond,
            ),
        ));
    }
    let reason = "CASE i % 4 WHEN 0 THEN 'Высокая цена' WHEN 1 THEN 'Выбрали конкурента' WHEN 2 THEN 'Нет бюджета' ELSE 'Другое' END";
    let bulk = [
        (
            "losses",
            n_i,
            "i % 10 >= 8",
            "INSERT INTO losses (interest_id, scenario, from_stage, reason, comment, requested_at, \
             requested_by, responsible_login, channel, source, utm_source, utm_campaign, amount, state, \
             decided_at, decided_by)"
                .to_owned(),
            format!(
                "i, 'standard', CASE WHEN i % 10 = 8 THEN 'request' ELSE 'offer' END, {reason}, '', \
                 {created} + {DAY_MS}, {manager}, {manager}, {channel}, {source}, {utm_source}, {utm_campaign}, \
                 (i % 97) * 100000, CASE WHEN i % 3 = 0 THEN 'lost' ELSE 'approved' END, \
                 {created} + (i % 20) * {DAY_MS}, 'head'"
            ),
        ),
        (
            "call_log",
            n_i,
            "i % 2 = 0",
            "INSERT INTO call_log (appeal_id, interest_id, at, direction, answered, talk_secs, \
             manager_login, channel_source, callback_at, callback_by, callback_minutes)"
                .to_owned(),
            format!(
                "i, i, {created}, CASE WHEN i % 6 = 0 THEN 'outbound' ELSE 'inbound' END, \
                 CASE WHEN i % 4 = 0 THEN 0 ELSE 1 END, (i % 600), {manager}, 'mango:office', \
                 CASE WHEN i % 4 = 0 AND i % 3 <> 0 THEN {created} + ((i * 13) % 300) * 60000 ELSE NULL END, \
                 CASE WHEN i % 4 = 0 AND i % 3 <> 0 THEN {manager} ELSE NULL END, \
                 CASE WHEN i % 4 = 0 AND i % 3 <> 0 THEN (i * 13) % 300 ELSE NULL END"
            ),
        ),
        (
            "tasks",
            n_i,
            "1 = 1",
            "INSERT INTO tasks (interest_id, title, assignee_login, due_at, status, purpose, created_at, \
             done_at, done_by)"
                .to_owned(),
            format!(
                "i, 'Телефонный звонок клиенту', {manager}, {created} + 7200000, \
                 CASE WHEN i % 7 = 0 THEN 'overdue' ELSE 'done' END, 'stage_entry:request', {created}, \
                 CASE WHEN i % 7 = 0 THEN NULL ELSE {created} + (i % 5) * 3600000 END, \
                 CASE WHEN i % 7 = 0 THEN NULL ELSE {manager} END"
            ),
        ),
        (
            "interactions",
            n_i,
            "i % 2 = 1",
            "INSERT INTO interactions (interest_id, kind, done_at, result, author, created_at)".to_owned(),
            format!(
                "i, CASE i % 3 WHEN 0 THEN 'meeting' WHEN 1 THEN 'email' ELSE 'message' END, \
                 {created} + 3600000, 'готово', {manager}, {created}"
            ),
        ),
        (
            "feed_entries",
            args.feed,
            "1 = 1",
            "INSERT INTO feed_entries (interest_id, at, kind, actor, summary, data)".to_owned(),
            format!(
                "1 + (i - 1) % {n_i}, {now} - ((i * 2654435761) % {year}), 'interaction', {manager}, \
                 'Звонок: обсудили условия', '{{}}'"
            ),
        ),
        (
            "review_items",
            (n_i / 100).max(1),
            "1 = 1",
            "INSERT INTO review_items (appeal_id, candidates, created_at, decided_at, decided_by, decided_action)"
                .to_owned(),
            format!(
                "i * 100, '[]', {now} - ((i * 2654435761) % {year}), \
                 CASE WHEN i % 10 = 0 THEN NULL ELSE {now} - ((i * 2654435761) % {year}) + (i % 600) * 60000 END, \
                 'operator', CASE WHEN i % 10 = 0 THEN NULL WHEN i % 3 = 0 THEN 'spam' ELSE 'link' END"
            ),
        ),
    ];
    for (name, n, cond, insert, select) in bulk {
        steps.push((name.to_owned(), series(pg, n, &insert, &select, cond)));
    }
    for (name, sql) in steps {
        let t = Instant::now();
        let mut tx = store.begin_write().await?;
        sqlx::query(&sql)
            .execute(tx.conn())
            .await
            .with_context(|| format!("generating {name}"))?;
        tx.commit().await?;
        println!("  {name}: {:.1} s", t.elapsed().as_secs_f64());
    }
    if pg {
        for table in [
            "interests",
            "appeals",
            "stage_entries",
            "losses",
            "call_log",
            "tasks",
            "interactions",
            "feed_entries",
            "review_items",
        ] {
            sqlx::query(&format!("ANALYZE {table}"))
                .execute(store.pool())
                .await?;
        }
        // The ids were given explicitly: move the sequences past them.
        for table in ["clients", "interests", "appeals"] {
            sqlx::query(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"
            ))
            .execute(store.pool())
            .await?;
        }
    } else {
        sqlx::query("ANALYZE").execute(store.pool()).await?;
    }
    Ok(())
}
