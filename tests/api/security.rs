//! Hardening of the surface (issue: who may see what): idempotency keys in
//! their own namespace, internal attributes stripped from outside input, the
//! operations endpoints behind a token, and logs without secrets or contact
//! data.

use std::io::Read;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::helpers::{appeal, eventually, free_port, fresh_db, spawn_app, spawn_app_with, TOKEN};
use leadgate::settings::Secret;

#[tokio::test]
async fn an_api_caller_cannot_pre_claim_a_forms_idempotency_key() {
    let app = spawn_app().await;
    // The attacker knows the form's source and the next Tilda tranid.
    let claim = app
        .post_appeal(&appeal("site", "4451:9001", json!({"name": "Захватчик"})))
        .await;
    assert_eq!(claim.status().as_u16(), 202);
    let claimed: Value = claim.json().await.unwrap();
    let (_, stored) = app
        .get_json(&format!("/api/v1/appeals/{}", claimed["id"]))
        .await;
    assert_eq!(stored["source"], "api:site", "API sources live under api:");

    // The real submission is a new appeal, not a repeat of the claim.
    let form = app
        .client
        .post(app.url("/hooks/forms/site"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("Name=Anna&Phone=%2B79123456789&tranid=4451:9001")
        .send()
        .await
        .unwrap();
    assert_eq!(
        form.status().as_u16(),
        202,
        "stored, not taken for a repeat"
    );
    let (source,): (String,) = sqlx::query_as(
        "SELECT source FROM appeals WHERE external_id = '4451:9001' AND channel = 'form'",
    )
    .fetch_one(app.store.pool())
    .await
    .unwrap();
    assert_eq!(source, "site");
    // The API's own repeat is still recognised.
    let again = app
        .post_appeal(&appeal("site", "4451:9001", json!({"name": "Захватчик"})))
        .await;
    assert_eq!(again.status().as_u16(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], claimed["id"]);
    app.stop().await;
}

#[tokio::test]
async fn internal_attributes_are_stripped_from_api_input() {
    let app = spawn_app().await;
    let mut body = appeal(
        "crm",
        "attrs-1",
        json!({"name": "Ирина", "emails": ["irina@example.ru"]}),
    );
    body["attributes"] = json!({
        "mail_owner": "petrov", "mail_auto_answer": true, "message_id": "forged@x",
        "in_reply_to": "forged@y", "utm_source": "yandex"
    });
    let processed = app.post_and_process(&body).await;
    let attributes = processed["attributes"].as_object().expect("attributes");
    assert_eq!(
        attributes.keys().collect::<Vec<_>>(),
        ["utm_source"],
        "{processed}"
    );
    // The raw payload keeps what was sent, for the record.
    let raw = app
        .store
        .raw_payload(processed["id"].as_i64().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(raw.contains("mail_owner"));
    // The forged owner did not route it: the round robin did.
    let interest = app
        .interest(processed["interest_id"].as_i64().unwrap())
        .await;
    assert_ne!(interest["responsible"], "petrov", "{interest}");

    // Form fields of the same names stay the form's own fields.
    let form = app
        .client
        .post(app.url("/hooks/forms/site"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("Name=Oleg&Phone=%2B79123450001&mail_owner=petrov&mail_auto_answer=true")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status().as_u16(), 202);
    let id = crate::helpers::scalar(&app.store, "SELECT MAX(id) FROM appeals").await;
    let stored = app.store.appeal(id).await.unwrap().unwrap();
    assert!(stored.attributes.get("mail_owner").is_none());
    assert!(stored.attributes.get("mail_auto_answer").is_none());
    assert_eq!(stored.attributes["fields"]["mail_owner"], "petrov");
    app.stop().await;
}

#[tokio::test]
async fn metrics_and_readiness_details_need_the_operations_token() {
    const OPS: &str = "ops-token-0123456789abcdef";
    let app = spawn_app_with(|s| s.operations.token = Some(Secret::new(OPS))).await;
    let anonymous = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    assert_eq!(
        anonymous.headers()["content-type"],
        "application/problem+json"
    );
    let wrong = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("ops-token-wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let ok = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(OPS)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    assert!(ok
        .text()
        .await
        .unwrap()
        .contains("leadgate_pending_appeals"));
    // /readyz stays open for load balancers and systemd.
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    app.stop().await;
}

#[tokio::test]
async fn anonymous_readiness_names_states_without_error_text() {
    // A mailbox whose server refuses the connection: its detail has an error.
    let port = free_port();
    let app = spawn_app_with(|s| {
        s.mail.mailboxes = vec![serde_json::from_value(json!({
            "name": "dead", "host": "127.0.0.1", "port": port, "tls": "plain", "allow_plain": true,
            "login": "x", "password": "y"
        }))
        .expect("mailbox")];
    })
    .await;
    let full = eventually("the mailbox's error to be known", async || {
        let (_, ready) = app.get_json("/readyz").await;
        ready["details"]["mail:dead"]["error"]
            .is_string()
            .then_some(ready)
    })
    .await;
    assert!(full["details"]["mail:dead"]["state"].is_string(), "{full}");
    let anonymous: Value = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        anonymous["details"]["mail:dead"],
        json!({"state": full["details"]["mail:dead"]["state"]}),
        "{anonymous}"
    );
    app.stop().await;
}

/// The daemon as a process, its JSON log on stderr at info (and the HTTP
/// spans at debug): a token in a PBX path, phones, e-mails and names never
/// appear in it.
#[tokio::test]
async fn logs_carry_no_path_token_and_no_contact_data() {
    let db = fresh_db().await;
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_leadgate"))
        .args([
            "--config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config/leadgate.toml"),
            "run",
        ])
        .env("LEADGATE__DATABASE__URL", &db.url)
        .env("LEADGATE__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("LEADGATE__LOGGING__LEVEL", "info,tower_http=debug")
        .env("LEADGATE__LOGGING__FORMAT", "json")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    eventually("the daemon to be ready", async || {
        let r = client.get(format!("{base}/readyz")).send().await.ok()?;
        r.status().is_success().then_some(())
    })
    .await;

    const TOKEN_IN_PATH: &str = "change-me-zammad-cti-token";
    for token in [TOKEN_IN_PATH, "a-wrong-token-in-the-path"] {
        let r = client
            .post(format!("{base}/hooks/pbx/generic/zammad/{token}"))
            .json(
                &json!({"event": "newCall", "callId": format!("log-{token}"),
                "from": "+79265550199", "to": "74951234567", "direction": "in"}),
            )
            .send()
            .await
            .unwrap();
        assert!(r.status().as_u16() < 500, "{}", r.status());
    }
    let posted: Value = client
        .post(format!("{base}/api/v1/appeals"))
        .bearer_auth(TOKEN)
        .json(&json!({"source": "crm", "external_id": "log-1",
            "contact": {"name": "Евлампия Криптонова", "phones": ["+7 912 555 01 98"],
                        "emails": ["evlampiya.kriptonova@example.ru"]},
            "text": "Хочу узнать цену"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = posted["id"].as_i64().expect("id");
    eventually("the appeal to be processed", async || {
        let r: Value = client
            .get(format!("{base}/api/v1/appeals/{id}"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (r["status"] != "pending").then_some(())
    })
    .await;
    let form = client
        .post(format!("{base}/hooks/forms/site"))
        .form(&[
            ("Name", "Феофан Сокровенный"),
            ("Phone", "+79125550197"),
            ("Email", "feofan@example.ru"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status().as_u16(), 202);

    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let mut log = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut log)
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0), "{log}");
    assert!(
        log.contains("/hooks/pbx/generic/zammad/<redacted>"),
        "the request span names the route: {log}"
    );
    for secret in [
        TOKEN_IN_PATH,
        "a-wrong-token-in-the-path",
        "79265550199",
        "9125550198",
        "9125550197",
        "Евлампия",
        "Криптонова",
        "evlampiya",
        "Феофан",
        "feofan",
    ] {
        assert!(!log.contains(secret), "`{secret}` is in the log:\n{log}");
    }
}
