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
