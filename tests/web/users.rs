//! `leadgate user ...` against the test database.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::helpers::{fresh_db, spawn_app_with};

fn leadgate(db_url: &str, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_leadgate"))
        .args([
            "--config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config/leadgate.toml"),
        ])
        .args(args)
        .env("LEADGATE__DATABASE__URL", db_url)
        .env("LEADGATE__LOGGING__LEVEL", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn users_are_added_listed_given_passwords_and_tokens_from_the_command_line() {
    let db = fresh_db().await;
    let url = db.url.clone();
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "s3cret-enough\n").unwrap();
    let pw = pw.to_str().unwrap();

    let out = leadgate(
        &url,
        &[
            "user",
            "add",
            "op.petrova",
            "--role",
            "operator",
            "--name",
            "Ольга Петрова",
            "--password-file",
            pw,
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = leadgate(
        &url,
        &[
            "user",
            "add",
            "op.petrova",
            "--role",
            "operator",
            "--password-file",
            pw,
        ],
        None,
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let bad_role = leadgate(
        &url,
        &["user", "add", "x", "--role", "boss", "--password-file", pw],
        None,
    );
    assert!(!bad_role.status.success());
    let short = leadgate(
        &url,
        &["user", "add", "short", "--role", "operator"],
        Some("1234\n"),
    );
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 8"));
    let bad_dept = leadgate(
        &url,
        &[
            "user",
            "add",
            "h1",
            "--role",
            "head",
            "--department",
            "nowhere",
            "--password-file",
            pw,
        ],
        None,
    );
    assert!(String::from_utf8_lossy(&bad_dept.stderr).contains("no department"));
    // Without a terminal the password comes from standard input.
    let piped = leadgate(
        &url,
        &[
            "user",
            "add",
            "head1",
            "--role",
            "head",
            "--department",
            "sales",
        ],
        Some("another-secret\n"),
    );
    assert!(
        piped.status.success(),
        "{}",
        String::from_utf8_lossy(&piped.stderr)
    );
    // Managers from the configuration get a password the same way.
    let passwd = leadgate(
        &url,
        &["user", "passwd", "ivanova", "--password-file", pw],
        None,
    );
    assert!(
        passwd.status.success(),
        "{}",
        String::from_utf8_lossy(&passwd.stderr)
    );

    let list = leadgate(&url, &["user", "list"], None);
    let list = String::from_utf8_lossy(&list.stdout).to_string();
    assert!(
        list.contains("op.petrova") && list.contains("operator") && list.contains("Ольга Петрова"),
        "{list}"
    );
    assert!(list.contains("head1") && list.contains("sales"), "{list}");

    let token = leadgate(&url, &["user", "token", "op.petrova"], None);
    assert!(token.status.success());
    let token = String::from_utf8_lossy(&token.stdout).trim().to_string();
    assert!(token.starts_with("lgu_"), "{token}");

    let app = spawn_app_with(|s| s.database.url = url.clone()).await;
    let store = &app.store;
    assert!(
        leadgate::users::authenticate(store, "op.petrova", "s3cret-enough")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        leadgate::users::authenticate(store, "op.petrova", "wrong-password")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        leadgate::users::authenticate(store, "ivanova", "s3cret-enough")
            .await
            .unwrap()
            .is_some()
    );
    let head = leadgate::users::authenticate(store, "head1", "another-secret")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(head.department.as_deref(), Some("sales"));
    let resp = app
        .client
        .get(app.url("/api/v1/review"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);

    let off = leadgate(&url, &["user", "disable", "op.petrova"], None);
    assert!(off.status.success());
    assert!(
        leadgate::users::authenticate(store, "op.petrova", "s3cret-enough")
            .await
            .unwrap()
            .is_none()
    );
    drop(db);
}
