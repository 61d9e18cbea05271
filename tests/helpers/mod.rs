//! The one test harness, shared by every suite through
//! `#[path = "../helpers/mod.rs"] mod helpers;` (this folder has no `main.rs`,
//! so Cargo does not build it as a test target of its own).
//!
//! `spawn_app()` starts a real daemon on port 0 against a fresh database of the
//! backend named by `LEADGATE_TEST_DB` (sqlite by default, or postgres on
//! 127.0.0.1:5432). Besides it: `scalar`/`scalar_with` for one number out of
//! the database, `eventually` for anything a test waits for, `free_port`, and
//! a few readers of the API's answers.

// Each suite uses its own part of the harness.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use leadgate::settings::{self, Settings};
use leadgate::startup::Application;
use leadgate::storage::Store;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

pub const TOKEN: &str = "demo-token-change-me";

pub fn shipped_config() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/leadgate.toml");
    std::fs::read_to_string(path).expect("shipped config")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestDb {
    Sqlite,
    Postgres,
}

pub fn test_db() -> TestDb {
    match std::env::var("LEADGATE_TEST_DB").as_deref() {
        Ok("postgres") | Ok("pg") => TestDb::Postgres,
        _ => TestDb::Sqlite,
    }
}

fn pg_base() -> String {
    std::env::var("LEADGATE_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A database nobody else uses: a file in a temp dir, or a new PostgreSQL
/// database named `lg_test_*` (scripts/test drops them after the run).
pub struct FreshDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

pub async fn fresh_db() -> FreshDb {
    match test_db() {
        TestDb::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}", dir.path().join("leadgate.db").display());
            FreshDb {
                url,
                _dir: Some(dir),
            }
        }
        TestDb::Postgres => {
            // The run's id is a live process (scripts/test, or this test
            // binary), so a cleanup drops only databases of dead runs and
            // never those of a run still going beside it.
            let run = std::env::var("LEADGATE_TEST_RUN")
                .unwrap_or_else(|_| std::process::id().to_string());
            let name = format!(
                "lg_test_r{}_{}_{}",
                run,
                COUNTER.fetch_add(1, Ordering::SeqCst),
                chrono::Utc::now().timestamp_micros() % 1_000_000
            );
            sqlx::any::install_default_drivers();
            use sqlx::Connection;
            let mut conn = sqlx::AnyConnection::connect(&format!("{}/postgres", pg_base()))
                .await
                .expect("PostgreSQL on 127.0.0.1:5432 (see README)");
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await
                .expect("create test database");
            FreshDb {
                url: format!("{}/{name}", pg_base()),
                _dir: None,
            }
        }
    }
}

/// The shipped configuration, on port 0 and a fresh database.
pub fn test_settings(db: &FreshDb) -> Settings {
    let mut s = settings::load_from_str(&shipped_config(), Vec::<(String, String)>::new())
        .expect("shipped config is valid");
    s.server.listen = "127.0.0.1:0".into();
    s.database.url = db.url.clone();
    s.database.sqlite_synchronous = settings::SqliteSync::Normal;
    s.pipeline.poll_interval_ms = 50;
    s
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub store: Store,
    pub settings: Settings,
    pub db: FreshDb,
    shutdown: CancellationToken,
    handle: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let db = fresh_db().await;
    let mut settings = test_settings(&db);
    configure(&mut settings);
    spawn_on(db, settings, true).await
}

/// Like `spawn_app`, without the background worker: the test calls the
/// pipeline itself.
pub async fn spawn_app_without_pipeline() -> TestApp {
    let db = fresh_db().await;
    let settings = test_settings(&db);
    spawn_on(db, settings, false).await
}

/// A daemon on a database the test prepared itself.
pub async fn spawn_on_db(
    db: FreshDb,
    mut settings: Settings,
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    configure(&mut settings);
    spawn_on(db, settings, true).await
}

async fn spawn_on(db: FreshDb, settings: Settings, pipeline: bool) -> TestApp {
    let mut app = Application::build(settings.clone())
        .await
        .expect("build app");
    if !pipeline {
        app = app.without_pipeline();
    }
    let address = format!("http://{}", app.addr());
    let store = app.store().clone();
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    TestApp {
        address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        store,
        settings,
        db,
        shutdown,
        handle: Some(handle),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn post_appeal(&self, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/api/v1/appeals"))
            .bearer_auth(TOKEN)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let resp = self
            .client
            .get(self.url(path))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        let body = resp.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// The Prometheus text at `/metrics`.
    pub async fn metrics(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text")
    }

    /// Waits until the pipeline has processed the appeal and returns it.
    pub async fn processed_appeal(&self, id: i64) -> Value {
        eventually(&format!("appeal {id} to be processed"), async || {
            let (_, body) = self.get_json(&format!("/api/v1/appeals/{id}")).await;
            (body["status"] != "pending" && !body.is_null()).then_some(body)
        })
        .await
    }

    /// Posts an appeal, which must be accepted, and waits until it is processed.
    pub async fn post_and_process(&self, body: &Value) -> Value {
        let resp = self.post_appeal(body).await;
        assert!(resp.status().is_success(), "{}", resp.status());
        let id = resp.json::<Value>().await.expect("json")["id"]
            .as_i64()
            .expect("appeal id");
        self.processed_appeal(id).await
    }

    /// An interest as the API shows it (tasks and feed included).
    pub async fn interest(&self, id: i64) -> Value {
        let (status, body) = self.get_json(&format!("/api/v1/interests/{id}")).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(h) = self.handle.take() {
            h.await.expect("join").expect("clean stop");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub fn appeal(source: &str, external_id: &str, contact: Value) -> Value {
    serde_json::json!({"source": source, "external_id": external_id, "contact": contact, "text": "Хочу узнать цену"})
}

/// The kinds of an interest's feed entries, in the API's order.
pub fn feed_kinds(interest: &Value) -> Vec<String> {
    interest["feed"]
        .as_array()
        .expect("feed")
        .iter()
        .map(|e| e["kind"].as_str().expect("kind").to_owned())
        .collect()
}

/// The problems a configuration is refused for (none if it loads).
pub fn config_problems(toml: &str, env: Vec<(String, String)>) -> Vec<String> {
    match settings::load_from_str(toml, env) {
        Ok(_) => Vec::new(),
        Err(settings::ConfigError::Invalid(p)) => p.iter().map(|p| p.to_string()).collect(),
        Err(e) => vec![e.to_string()],
    }
}

/// The one number a query answers (`SELECT COUNT(*) ...`).
pub async fn scalar(store: &Store, sql: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql)
        .fetch_one(store.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    n
}

/// Like [`scalar`], for a query with one parameter (`$1`).
pub async fn scalar_with<'q, T>(store: &Store, sql: &'q str, value: T) -> i64
where
    T: 'q + Send + sqlx::Encode<'q, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    let (n,): (i64,) = sqlx::query_as(sql)
        .bind(value)
        .fetch_one(store.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    n
}

/// How long `eventually` waits before the test fails; generous, since the
/// machine may be busy. Nothing is asserted about durations.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Polls `check` until it yields a value; panics naming `what` after
/// [`PATIENCE`].
pub async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Waits until something listens on the loopback `port`.
pub async fn listening(what: &str, port: u16) {
    eventually(&format!("{what} to listen on port {port}"), async || {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
            .map(drop)
    })
    .await
}
