use serde_json::{json, Value};

use crate::helpers::{appeal, spawn_app};

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = spawn_app().await;
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    assert_eq!(ready.json::<Value>().await.unwrap()["database"], "ok");

    let r = app
        .post_appeal(&appeal(
            "crm",
            "m-1",
            json!({"name": "A", "phones": ["+79120000077"]}),
        ))
        .await;
    let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    app.processed_appeal(id).await;
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert!(metrics.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = metrics.text().await.unwrap();
    for needle in [
        "leadgate_appeals_accepted_total{channel=\"api\",kind=\"new\"} 1",
        "leadgate_appeals_processed_total{channel=\"api\"} 1",
        "leadgate_decisions_total{kind=\"new_client\"} 1",
        "leadgate_pending_appeals 0",
        "leadgate_processing_latency_seconds_count 1",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
    // No personal data in metrics.
    assert!(!text.contains("79120000077"));
    app.stop().await;
}

#[tokio::test]
async fn openapi_documents_every_endpoint() {
    let app = spawn_app().await;
    let doc: Value = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/appeals",
        "/api/v1/appeals/{id}",
        "/api/v1/clients",
        "/api/v1/clients/{id}",
        "/api/v1/interests/{id}",
        "/hooks/forms/{form}",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from OpenAPI"
        );
    }
    assert!(doc["components"]["schemas"].get("AppealRequest").is_some());
}

/// Type=notify: READY=1 arrives only once the port answers, the watchdog is
/// pinged, and SIGTERM ends the process with status 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_speaks_the_systemd_notify_protocol() {
    use std::os::unix::net::UnixDatagram;
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let db = crate::helpers::fresh_db().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // systemd names the watched process in WATCHDOG_PID; `exec` keeps the
    // shell's pid for the daemon.
    let mut child = std::process::Command::new("sh")
        .args(["-c", "WATCHDOG_PID=$$ exec \"$0\" --config \"$1\" run"])
        .arg(env!("CARGO_BIN_EXE_leadgate"))
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/config/leadgate.toml"))
        .env("LEADGATE__DATABASE__URL", &db.url)
        .env("LEADGATE__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("LEADGATE__LOGGING__LEVEL", "warn")
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "400000")
        .spawn()
        .unwrap();
    let mut messages = Vec::new();
    let mut buf = [0u8; 512];
    while !messages.iter().any(|m: &String| m.contains("READY=1")) {
        let n = socket.recv(&mut buf).expect("READY=1 within 30 s");
        messages.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    // Ready means ready: the port answers and migrations ran.
    let ready = reqwest::get(format!("http://127.0.0.1:{port}/readyz"))
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    let n = socket.recv(&mut buf).expect("a watchdog ping");
    assert!(String::from_utf8_lossy(&buf[..n]).contains("WATCHDOG=1"));
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn the_systemd_unit_is_valid() {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/systemd/leadgate.service"
    ))
    .unwrap();
    for key in [
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "User=leadgate",
        "StateDirectory=leadgate",
        "ConfigurationDirectory=leadgate",
        "ExecStartPre=/usr/local/bin/leadgate check-config",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "NoNewPrivileges=yes",
        "RestrictAddressFamilies=",
        "MemoryMax=",
        "TasksMax=",
        "LimitCORE=0",
        "StartLimitIntervalSec=",
        "LoadCredential=",
        "/run/credentials/leadgate.service/",
    ] {
        assert!(unit.contains(key), "{key} missing from the unit");
    }
    let Ok(analyze) = which("systemd-analyze") else {
        return;
    };
    // Verify with the freshly built binary in place of /usr/local/bin/leadgate.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("leadgate.service");
    std::fs::write(
        &copy,
        unit.replace("/usr/local/bin/leadgate", env!("CARGO_BIN_EXE_leadgate")),
    )
    .unwrap();
    let out = std::process::Command::new(analyze)
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    let problems: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("leadgate.service"))
        // The test machine may have no leadgate user or postgresql unit.
        .filter(|l| {
            !l.contains("User")
                && !l.contains("postgresql.service")
                && !l.contains("network-online")
        })
        .collect();
    assert!(problems.is_empty(), "{text}");
}

fn which(name: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or(())
}

/// Holds the database so that no one else can write: an exclusive SQLite
/// lock from another connection, or PostgreSQL's ACCESS EXCLUSIVE lock on
/// the appeals (the pipeline's first statement waits on it). SQLite's WAL
/// lets the pipeline's read through, so there it is given work it cannot
/// write: the last appeal is made pending again an instant before the lock
/// (the test must have posted one).
struct BlockedDatabase {
    conn: sqlx::AnyConnection,
}

impl BlockedDatabase {
    async fn hold(url: &str) -> BlockedDatabase {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
        if url.starts_with("sqlite") {
            sqlx::raw_sql(
                "BEGIN EXCLUSIVE; UPDATE appeals SET status = 'pending' \
                 WHERE id = (SELECT MAX(id) FROM appeals); COMMIT; BEGIN EXCLUSIVE",
            )
            .execute(&mut conn)
            .await
            .unwrap();
        } else {
            sqlx::raw_sql("BEGIN; LOCK TABLE appeals IN ACCESS EXCLUSIVE MODE")
                .execute(&mut conn)
                .await
                .unwrap();
        }
        BlockedDatabase { conn }
    }

    async fn release(mut self) {
        sqlx::raw_sql("ROLLBACK")
            .execute(&mut self.conn)
            .await
            .unwrap();
    }
}

async fn readyz(app: &crate::helpers::TestApp, token: Option<&str>) -> (u16, Value) {
    let mut req = app.client.get(app.url("/readyz"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

/// A pipeline worker that cannot get a batch through stops beating; after
/// `[health] stall_after_ms` `/readyz` is 503 and names it to the operator,
/// not to anyone else; once the database is free it beats again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_that_stops_beating_is_named_on_readyz() {
    let app = crate::helpers::spawn_app_with(|s| s.health.stall_after_ms = 1_000).await;
    crate::helpers::eventually("ready", async || {
        (readyz(&app, Some(crate::helpers::TOKEN)).await.0 == 200).then_some(())
    })
    .await;
    app.post_and_process(&appeal("crm", "beat-1", json!({"name": "A"})))
        .await;
    let blocked = BlockedDatabase::hold(&app.db.url).await;
    let body = crate::helpers::eventually("the pipeline to be down", async || {
        let (status, body) = readyz(&app, Some(crate::helpers::TOKEN)).await;
        (status == 503
            && body["down"]
                .as_array()
                .is_some_and(|d| d.iter().any(|p| p == "pipeline worker 0")))
        .then_some(body)
    })
    .await;
    assert_eq!(body["ready"], false);
    let (status, anonymous) = readyz(&app, None).await;
    assert_eq!(status, 503);
    assert!(anonymous.get("down").is_none(), "{anonymous}");
    assert!(!anonymous.to_string().contains("pipeline"), "{anonymous}");
    blocked.release().await;
    crate::helpers::eventually("ready again", async || {
        (readyz(&app, Some(crate::helpers::TOKEN)).await.0 == 200).then_some(())
    })
    .await;
    let text = app.metrics().await;
    assert!(
        text.contains("leadgate_part_up{part=\"pipeline worker 0\"} 1"),
        "{text}"
    );
    app.stop().await;
}

/// A supervised part that panics is started again and counted.
#[tokio::test]
async fn a_panicked_part_is_restarted_and_counted_on_metrics() {
    let db = crate::helpers::fresh_db().await;
    let mut settings = crate::helpers::test_settings(&db);
    settings.health.restart_backoff_ms = 10;
    let app = leadgate::startup::Application::build(settings)
        .await
        .unwrap();
    let health = app.health();
    let address = format!("http://{}", app.addr());
    let stop = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(app.run_until_stopped(stop.clone()));
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let seen = runs.clone();
    let part_stop = tokio_util::sync::CancellationToken::new();
    let part = health.supervise(
        "flaky part".into(),
        std::time::Duration::ZERO,
        part_stop.clone(),
        move |beat| {
            let seen = seen.clone();
            let stop = part_stop.clone();
            async move {
                if seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    panic!("a bug in a long-running task");
                }
                // The second run lives on and beats until stopped.
                while !beat
                    .sleep_or_stop(&stop, std::time::Duration::from_millis(20))
                    .await
                {}
            }
        },
    );
    let client = reqwest::Client::new();
    crate::helpers::eventually("the restart on /metrics", async || {
        let text = client
            .get(format!("{address}/metrics"))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.contains("leadgate_part_restarts_total{part=\"flaky part\"} 1")
            .then_some(())
    })
    .await;
    crate::helpers::eventually("the second run", async || {
        (runs.load(std::sync::atomic::Ordering::SeqCst) == 2).then_some(())
    })
    .await;
    let ready = client
        .get(format!("{address}/readyz"))
        .bearer_auth(crate::helpers::TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    assert!(health.down().is_empty());
    stop.cancel();
    server.await.unwrap().unwrap();
    drop(part);
}

/// The watchdog is pinged while every part beats, falls silent while one
/// is down, and resumes when it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watchdog_stops_while_a_part_is_down() {
    use std::os::unix::net::UnixDatagram;
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(None).unwrap();
    let db = crate::helpers::fresh_db().await;
    let port = crate::helpers::free_port();
    let mut child = std::process::Command::new("sh")
        .args(["-c", "WATCHDOG_PID=$$ exec \"$0\" --config \"$1\" run"])
        .arg(env!("CARGO_BIN_EXE_leadgate"))
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/config/leadgate.toml"))
        .env("LEADGATE__DATABASE__URL", &db.url)
        .env("LEADGATE__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("LEADGATE__LOGGING__LEVEL", "warn")
        .env("LEADGATE__HEALTH__STALL_AFTER_MS", "1000")
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "200000")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Killed if the test fails before it stops the daemon.
    struct Reap(u32);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &self.0.to_string()])
                .status();
        }
    }
    let _reap = Reap(child.id());
    // systemd reads the socket at once; so does this thread, lest a full
    // queue block the daemon's sends.
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok(n) = socket.recv(&mut buf) {
            if tx
                .send(String::from_utf8_lossy(&buf[..n]).into_owned())
                .is_err()
            {
                break;
            }
        }
    });
    let wait_for = |what: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(m) if m.contains(what) => break,
                Ok(_) => {}
                Err(_) => panic!("no {what} within 30 s"),
            }
        }
    };
    wait_for("READY=1");
    wait_for("WATCHDOG=1");

    let client = reqwest::Client::new();
    let posted = client
        .post(format!("http://127.0.0.1:{port}/api/v1/appeals"))
        .bearer_auth(crate::helpers::TOKEN)
        .json(&appeal("crm", "dog-1", json!({"name": "A"})))
        .send()
        .await
        .unwrap();
    assert!(posted.status().is_success(), "{}", posted.status());
    let blocked = BlockedDatabase::hold(&db.url).await;
    crate::helpers::eventually("a part to be down", async || {
        let r = client
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .bearer_auth(crate::helpers::TOKEN)
            .timeout(std::time::Duration::from_secs(5))
            .send()
            .await
            .ok()?;
        let body: Value = r.json().await.ok()?;
        body["down"]
            .as_array()
            .is_some_and(|d| !d.is_empty())
            .then_some(())
    })
    .await;
    // What was sent before the part was seen down is drained; after it,
    // ten ping periods pass without a ping.
    while rx.try_recv().is_ok() {}
    let quiet_until = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let mut pings = 0;
    loop {
        let left = quiet_until.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(m) if m.contains("WATCHDOG=1") => pings += 1,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    assert_eq!(pings, 0, "the watchdog was pinged while a part was down");

    blocked.release().await;
    wait_for("WATCHDOG=1");
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
}
