//! The real binary, killed with SIGKILL while it delivers, and started again.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{appeal, eventually, free_port, fresh_db, listening, shipped_config, TOKEN};
use crate::receiver::{signed_with_all, Receiver};
use crate::{contact, SECRET};

fn daemon(config: &std::path::Path, db: &str, port: u16) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_leadgate"))
        .arg("--config")
        .arg(config)
        .arg("run")
        .env("LEADGATE__DATABASE__URL", db)
        .env("LEADGATE__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("LEADGATE__LOGGING__LEVEL", "warn")
        .env("LEADGATE__PIPELINE__POLL_INTERVAL_MS", "50")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start leadgate")
}

#[tokio::test]
async fn no_event_is_lost_when_the_daemon_is_killed_during_delivery() {
    let db = fresh_db().await;
    let receiver = Receiver::start().await;
    receiver.delay(Duration::from_millis(40));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("leadgate.toml");
    std::fs::write(
        &config,
        format!(
            "{}\n[[webhooks]]\nname = \"crm\"\nurl = \"{}\"\nevents = [\"*\"]\nsecret = \"{SECRET}\"\nbackoff_initial_ms = 100\n",
            shipped_config(),
            receiver.url()
        ),
    )
    .unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut child = daemon(&config, &db.url, port);
    listening("leadgate", port).await;
    for i in 0..25 {
        let r = client
            .post(format!("{base}/api/v1/appeals"))
            .bearer_auth(TOKEN)
            .json(&appeal(
                "crm",
                &format!("k-{i}"),
                contact("Фёдор", &format!("+7 913 100-00-{i:02}")),
            ))
            .send()
            .await
            .expect("post");
        assert!(r.status().is_success());
    }
    eventually("some deliveries", async || {
        (receiver.all().len() >= 5).then_some(())
    })
    .await;
    child.start_kill().expect("SIGKILL");
    child.wait().await.expect("killed");
    let before = receiver.all().len();

    let mut child = daemon(&config, &db.url, port);
    listening("leadgate again", port).await;
    let feed = eventually(
        "every appeal processed and every event delivered",
        async || {
            let page: Value = client
                .get(format!("{base}/api/v1/changes?limit=1000"))
                .bearer_auth(TOKEN)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let events = page["events"].as_array()?.clone();
            let decided = events
                .iter()
                .filter(|e| e["type"] == "appeal.decided")
                .count();
            let delivered: HashSet<String> =
                receiver.accepted().into_iter().map(|d| d.id).collect();
            let all = events
                .iter()
                .all(|e| delivered.contains(&format!("evt_{}", e["id"])));
            (decided == 25 && all).then_some(events)
        },
    )
    .await;
    assert!(feed.len() >= 25 * 5);
    assert!(
        receiver.all().len() > before,
        "deliveries went on after the restart"
    );
    // First deliveries come in journal order; a repeat (at least once) keeps its id.
    let mut first_seen = Vec::new();
    let mut ids = HashSet::new();
    for d in receiver.accepted() {
        assert!(signed_with_all(&d, &[SECRET]));
        if ids.insert(d.id.clone()) {
            first_seen.push(d.id.trim_start_matches("evt_").parse::<i64>().unwrap());
        }
    }
    assert!(first_seen.windows(2).all(|w| w[0] < w[1]), "{first_seen:?}");
    child.start_kill().ok();
    let _ = child.wait().await;
}
