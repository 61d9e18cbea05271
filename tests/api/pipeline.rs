use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use leadgate::metrics::Metrics;
use leadgate::pipeline::Pipeline;
use leadgate::startup::Services;
use leadgate::storage::Store;
use serde_json::{json, Value};
use tokio::sync::Notify;

use crate::helpers::{
    appeal, eventually, free_port, fresh_db, scalar, spawn_app_without_pipeline, test_db, TestDb,
    TOKEN,
};

pub(crate) fn pipeline(store: Store, settings: Arc<leadgate::settings::Settings>) -> Pipeline {
    Services::new(&settings).expect("valid scenarios").pipeline(
        store,
        Arc::new(Metrics::new()),
        Arc::new(Notify::new()),
    )
}

/// Every appeal has exactly one "appeal" entry in some interest's feed.
async fn assert_each_processed_once(store: &Store, expected: i64) {
    assert_eq!(
        scalar(
            store,
            "SELECT COUNT(*) FROM appeals WHERE status = 'pending'"
        )
        .await,
        0
    );
    assert_eq!(
        scalar(
            store,
            "SELECT COUNT(*) FROM feed_entries WHERE kind = 'appeal'"
        )
        .await,
        expected,
        "one feed entry per appeal"
    );
    assert_eq!(
        scalar(
            store,
            "SELECT COUNT(*) FROM (SELECT appeal_id FROM feed_entries WHERE kind = 'appeal' \
             GROUP BY appeal_id HAVING COUNT(*) > 1) dup"
        )
        .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_pipelines_process_one_stream_exactly_once_without_duplicate_clients() {
    let app = spawn_app_without_pipeline().await;
    // 40 people, each writing 5 times from different sources: 200 appeals.
    let mut bodies = Vec::new();
    for round in 0..5 {
        for person in 0..40 {
            let body = appeal(
                &format!("src-{round}"),
                &format!("{person}"),
                json!({"name": format!("Клиент {person}"), "phones": [format!("+7 912 500 {:02} {:02}", person / 100, person % 100)]}),
            );
            bodies.push(body);
        }
    }
    let posts = bodies.iter().map(|b| app.post_appeal(b));
    for resp in futures_util::future::join_all(posts).await {
        assert_eq!(resp.status().as_u16(), 202);
    }
    // A second "instance": on PostgreSQL its own connection pool; SQLite is a
    // single-instance backend, so both workers share the store there.
    let second_store = match test_db() {
        TestDb::Postgres => {
            let mut db = app.settings.database.clone();
            db.url = app.db.url.clone();
            Store::connect(&db).await.unwrap()
        }
        TestDb::Sqlite => app.store.clone(),
    };
    let settings = Arc::new({
        let mut s = app.settings.clone();
        s.pipeline.batch_size = 7;
        s
    });
    let a = pipeline(app.store.clone(), settings.clone());
    let b = pipeline(second_store, settings);
    let drain = |p: Pipeline| {
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                match p.process_batch().await {
                    Ok(done) if done.is_empty() => break,
                    Ok(done) => mine.extend(done.into_iter().map(|d| d.appeal_id)),
                    // A lost race on SQLite's single writer is retried.
                    Err(e) => {
                        eprintln!("batch failed, retrying: {e}");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
            mine
        })
    };
    let (ra, rb) = tokio::join!(drain(a), drain(b));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    let mut all: Vec<i64> = ra.iter().chain(rb.iter()).copied().collect();
    all.sort_unstable();
    let unique: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(all.len(), 200, "every appeal processed");
    assert_eq!(unique.len(), 200, "none processed twice");
    assert_each_processed_once(&app.store, 200).await;
    assert_eq!(
        scalar(&app.store, "SELECT COUNT(*) FROM clients").await,
        40,
        "no duplicate client"
    );
    assert_eq!(
        scalar(&app.store, "SELECT COUNT(*) FROM interests").await,
        40
    );
    assert_eq!(
        scalar(
            &app.store,
            "SELECT COUNT(*) FROM appeals WHERE status = 'linked'"
        )
        .await,
        160
    );
}

#[tokio::test]
async fn replaying_a_processed_appeal_changes_nothing() {
    let app = spawn_app_without_pipeline().await;
    let r = app
        .post_appeal(&appeal("crm", "once", json!({"phones": ["+79120001234"]})))
        .await;
    let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let p = pipeline(app.store.clone(), Arc::new(app.settings.clone()));
    assert_eq!(p.process_batch().await.unwrap().len(), 1);
    // Force the appeal back to pending, as if the commit's answer had been lost.
    sqlx::query("UPDATE appeals SET status = 'pending' WHERE id = $1")
        .bind(id)
        .execute(app.store.pool())
        .await
        .unwrap();
    p.process_batch().await.unwrap();
    assert_eq!(
        scalar(&app.store, "SELECT COUNT(*) FROM tasks").await,
        1,
        "first task not duplicated"
    );
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM clients").await, 1);
}

/// A daemon started by a test. Dropping it kills the process, so that a
/// failed assertion does not leave it running (holding the test's pipes and
/// database open) after the test binary exits.
struct Daemon(Child);

impl std::ops::Deref for Daemon {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Daemon {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn start_daemon(db_url: &str, port: u16) -> Daemon {
    start_daemon_with(db_url, port, &[])
}

fn start_daemon_with(db_url: &str, port: u16, env: &[(&str, &str)]) -> Daemon {
    let child = Command::new(env!("CARGO_BIN_EXE_leadgate"))
        .envs(env.iter().copied())
        .args([
            "--config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config/leadgate.toml"),
            "run",
        ])
        .env("LEADGATE__DATABASE__URL", db_url)
        .env("LEADGATE__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("LEADGATE__LOGGING__LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the daemon starts");
    Daemon(child)
}

async fn wait_ready(client: &reqwest::Client, port: u16) {
    eventually("the daemon to be ready", async || {
        let r = client
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            .ok()?;
        r.status().is_success().then_some(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_in_the_middle_of_a_stream_loses_no_acknowledged_appeal() {
    let db = fresh_db().await;
    let port = free_port();
    let client = reqwest::Client::new();
    let mut daemon = start_daemon(&db.url, port);
    wait_ready(&client, port).await;

    let acked = Arc::new(std::sync::Mutex::new(Vec::<i64>::new()));
    let mut senders = Vec::new();
    for worker in 0..8 {
        let client = client.clone();
        let acked = acked.clone();
        senders.push(tokio::spawn(async move {
            for i in 0..10_000 {
                let body = appeal(
                    "stream",
                    &format!("{worker}-{i}"),
                    json!({"name": "Поток", "phones": [format!("+7913{worker}{:06}", i % 300)]}),
                );
                let resp = client
                    .post(format!("http://127.0.0.1:{port}/api/v1/appeals"))
                    .bearer_auth(TOKEN)
                    .json(&body)
                    .send()
                    .await;
                match resp {
                    Ok(r) if r.status().is_success() => {
                        if let Ok(v) = r.json::<Value>().await {
                            if let Some(id) = v["id"].as_i64() {
                                acked.lock().unwrap().push(id);
                            }
                        }
                    }
                    _ => break,
                }
            }
        }));
    }
    // Let the stream run, then pull the plug (a busy machine acknowledges
    // slowly: wait for the appeals, not for a fixed time).
    for _ in 0..3000 {
        if acked.lock().unwrap().len() >= 400 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    for s in senders {
        let _ = s.await;
    }
    let acked: Vec<i64> = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 100,
        "stream was running ({} acked)",
        acked.len()
    );

    let mut daemon = start_daemon(&db.url, port);
    wait_ready(&client, port).await;
    let mut settings = crate::helpers::test_settings(&db);
    settings.database.url = db.url.clone();
    let store = Store::connect(&settings.database).await.unwrap();
    eventually("the restarted daemon to process the backlog", async || {
        let pending = scalar(
            &store,
            "SELECT COUNT(*) FROM appeals WHERE status = 'pending'",
        )
        .await;
        (pending == 0).then_some(())
    })
    .await;
    for id in &acked {
        let a = store
            .appeal(*id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("acked appeal {id} lost"));
        assert_ne!(a.status.as_str(), "pending");
        assert!(a.interest_id.is_some());
    }
    let stored = scalar(&store, "SELECT COUNT(*) FROM appeals").await;
    assert!(stored >= acked.len() as i64);
    assert_each_processed_once(&store, stored).await;

    // SIGTERM: stops cleanly with exit code 0.
    let status = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = daemon.wait().unwrap();
    assert_eq!(exit.code(), Some(0), "graceful stop");
    store.close().await;
}

/// external id, status, client, interest, the interest's contact person
type AppealOutcome = (String, String, Option<i64>, Option<i64>, Option<String>);

/// What processing made of a stream, with ids replaced by the order in
/// which they first appear, so that two databases can be compared.
async fn outcome_of(store: &Store) -> Vec<String> {
    let rows: Vec<AppealOutcome> = sqlx::query_as(
        "SELECT a.external_id, a.status, a.client_id, a.interest_id, \
         (SELECT p.name FROM interests i JOIN contact_persons p ON p.id = i.person_id \
          WHERE i.id = a.interest_id) \
         FROM appeals a ORDER BY a.id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let mut clients = Vec::new();
    let mut interests = Vec::new();
    let rank = |seen: &mut Vec<i64>, id: Option<i64>| match id {
        None => "-".to_string(),
        Some(id) => {
            if !seen.contains(&id) {
                seen.push(id);
            }
            seen.iter().position(|s| *s == id).unwrap_or(0).to_string()
        }
    };
    let mut out = Vec::new();
    for (ext, status, client, interest, person) in rows {
        let c = rank(&mut clients, client);
        let i = rank(&mut interests, interest);
        out.push(format!(
            "{ext}: {status} client {c} interest {i} person {person:?}"
        ));
    }
    out.push(format!(
        "persons: {:?}",
        sqlx::query_as::<_, (String,)>("SELECT name FROM contact_persons ORDER BY name")
            .fetch_all(store.pool())
            .await
            .unwrap()
    ));
    out.push(format!(
        "tasks {}, feed {}, points {}",
        scalar(store, "SELECT COUNT(*) FROM tasks").await,
        scalar(store, "SELECT COUNT(*) FROM feed_entries").await,
        scalar(store, "SELECT COUNT(*) FROM contact_points").await
    ));
    out
}

/// A batch holds back its writes and creates clients and interests with
/// reserved ids; later appeals of the same batch must still see everything
/// the earlier ones did, exactly as if each appeal were processed alone.
#[tokio::test]
async fn a_batch_decides_exactly_as_one_appeal_at_a_time() {
    let stream = [
        json!({"name": "Иван Петров", "company": "ООО Ромашка", "emails": ["ivan@romashka-trade.ru"]}),
        // The same person again, now with a phone: the client just created.
        json!({"name": "Иван Петров", "emails": ["ivan@romashka-trade.ru"], "phones": ["+79161112233"]}),
        // By the phone alone, learnt one appeal ago.
        json!({"phones": ["+7 916 111-22-33"]}),
        // A colleague from the company's domain: a new person of that client.
        json!({"name": "Мария Соколова", "emails": ["maria@romashka-trade.ru"]}),
        // She again, by her address and a new phone.
        json!({"name": "Мария Соколова", "emails": ["maria@romashka-trade.ru"], "phones": ["+79035556677"]}),
        // Someone new, twice.
        json!({"name": "Олег Смирнов", "phones": ["+79267778899"]}),
        json!({"name": "Смирнов Олег", "phones": ["89267778899"]}),
        // A namesake with other contacts.
        json!({"name": "Олег Смирнов", "phones": ["+79261230000"]}),
    ];
    let mut outcomes = Vec::new();
    for batch_size in [1, 64] {
        let app = spawn_app_without_pipeline().await;
        let settings = Arc::new({
            let mut s = app.settings.clone();
            s.pipeline.batch_size = batch_size;
            s
        });
        let p = pipeline(app.store.clone(), settings);
        // The second round finds every client with an open interest that
        // the batch read at its start.
        for round in ["", "again-"] {
            for (i, contact) in stream.iter().enumerate() {
                let r = app
                    .post_appeal(&appeal("crm", &format!("{round}a{i}"), contact.clone()))
                    .await;
                assert_eq!(r.status().as_u16(), 202);
            }
            while !p.process_batch().await.unwrap().is_empty() {}
        }
        if matches!(test_db(), TestDb::Sqlite) {
            // Ids reserved for rows a batch did not create are given back.
            for table in ["clients", "contact_persons", "interests"] {
                let sql = format!("SELECT MAX(id) - COUNT(*) FROM {table}");
                assert_eq!(scalar(&app.store, &sql).await, 0, "{table} ids are dense");
            }
        }
        outcomes.push(outcome_of(&app.store).await);
    }
    assert_eq!(outcomes[0], outcomes[1]);
    let text = outcomes[0].join("\n");
    for expected in [
        "a1: linked client 0",
        "a2: linked client 0",
        "a3: linked client 0",
        "a4: linked client 0",
        "a6: linked client 1",
        "a7: created client 2",
        "again-a0: linked client 0 interest 0",
        "again-a7: linked client 2 interest 2",
    ] {
        assert!(text.contains(expected), "{expected} in\n{text}");
    }
    assert!(text.contains("Мария Соколова"), "{text}");
}

/// Two daemon processes on one PostgreSQL database, each with two workers,
/// take one stream posted to both of them in turn: 60 people writing 5
/// times each, so the same new person reaches both instances at once. Every
/// acknowledged appeal is processed exactly once, and each person is one
/// client. (SQLite is a one-instance backend: there one daemon takes the
/// whole stream, and the same checks hold.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_daemons_on_one_database_process_one_stream_exactly_once() {
    let db = fresh_db().await;
    let client = reqwest::Client::new();
    let instances = match test_db() {
        TestDb::Postgres => 2,
        TestDb::Sqlite => 1,
    };
    let env = [
        ("LEADGATE__PIPELINE__WORKERS", "2"),
        ("LEADGATE__PIPELINE__BATCH_SIZE", "8"),
        ("LEADGATE__PIPELINE__POLL_INTERVAL_MS", "50"),
        // The whole stream (300 posts) is sent at once; the server's
        // in-flight cap (503 beyond it) is not what this test is about.
        ("LEADGATE__SERVER__MAX_IN_FLIGHT", "1024"),
    ];
    let mut daemons = Vec::new();
    let mut ports = Vec::new();
    for _ in 0..instances {
        // One after the other, so that the first applies the migrations.
        let port = free_port();
        daemons.push(start_daemon_with(&db.url, port, &env));
        wait_ready(&client, port).await;
        ports.push(port);
    }
    let mut posts = Vec::new();
    for round in 0..5 {
        for person in 0..60 {
            let port = ports[(round * 60 + person) % ports.len()];
            let body = appeal(
                &format!("src-{round}"),
                &format!("{person}"),
                json!({"name": format!("Клиент {person}"),
                       "phones": [format!("+7 912 600 {:02} {:02}", person / 100, person % 100)]}),
            );
            let client = client.clone();
            posts.push(async move {
                client
                    .post(format!("http://127.0.0.1:{port}/api/v1/appeals"))
                    .bearer_auth(TOKEN)
                    .json(&body)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            });
        }
    }
    for status in futures_util::future::join_all(posts).await {
        assert_eq!(status.unwrap(), 202, "every post acknowledged");
    }
    let mut settings = crate::helpers::test_settings(&db);
    settings.database.url = db.url.clone();
    let store = Store::connect(&settings.database).await.unwrap();
    eventually("both daemons to process the stream", async || {
        let pending = scalar(
            &store,
            "SELECT COUNT(*) FROM appeals WHERE status = 'pending'",
        )
        .await;
        (pending == 0).then_some(())
    })
    .await;
    assert_eq!(scalar(&store, "SELECT COUNT(*) FROM appeals").await, 300);
    assert_each_processed_once(&store, 300).await;
    assert_eq!(
        scalar(&store, "SELECT COUNT(*) FROM clients").await,
        60,
        "no duplicate client"
    );
    assert_eq!(scalar(&store, "SELECT COUNT(*) FROM interests").await, 60);
    assert_eq!(
        scalar(
            &store,
            "SELECT COUNT(*) FROM appeals WHERE status = 'linked'"
        )
        .await,
        240
    );
    assert_eq!(
        scalar(
            &store,
            "SELECT COUNT(*) FROM appeals WHERE status = 'failed'"
        )
        .await,
        0
    );
    for mut daemon in daemons {
        let _ = Command::new("kill")
            .args(["-TERM", &daemon.id().to_string()])
            .status();
        assert_eq!(daemon.wait().unwrap().code(), Some(0), "graceful stop");
    }
    store.close().await;
}
