use leadgate::settings::load_from_str;

use crate::helpers::{config_problems, shipped_config};

#[test]
fn the_shipped_config_is_valid() {
    assert!(config_problems(&shipped_config(), vec![]).is_empty());
}

#[test]
fn every_problem_is_reported_at_once_with_its_key_path() {
    let toml = r#"
[server]
listen = "nowhere"
colour = "blue"
[database]
url = "mysql://x"
max_connections = "many"
[routing]
round_robin = ["ghost"]
[[managers]]
login = "a"
name = "A"
department = "missing"
shoe_size = 42
[[scenarios]]
id = "s"
name = "S"
default = true
first_stage = "nope"
loss_reasons = []
repeat_appeal_task = { title = "x", due = "2h" }
stages = []
[surprise]
x = 1
"#;
    let p = config_problems(toml, vec![]);
    let joined = p.join("\n");
    for expected in [
        "server.colour: unknown key",
        "server.listen:",
        "database.max_connections:",
        "managers[0].shoe_size: unknown key",
        "surprise: unknown section",
        "routing.round_robin[0]:",
        "scenarios[0]",
    ] {
        assert!(
            joined.contains(expected),
            "expected `{expected}` in:\n{joined}"
        );
    }
    assert!(p.len() >= 7, "{joined}");
}

#[test]
fn environment_overrides_and_secret_files() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "from-a-file-0123456789\n").unwrap();
    let toml = format!(
        "[api]\ntokens = [{{ name = \"ci\", token_file = \"{}\", role = \"operator\" }}]\n",
        token.display()
    );
    let s = load_from_str(
        &toml,
        vec![
            (
                "LEADGATE__DATABASE__URL".into(),
                "postgres://postgres@127.0.0.1/x".into(),
            ),
            ("LEADGATE__SERVER__BODY_LIMIT_BYTES".into(), "2048".into()),
            ("OTHER".into(), "ignored".into()),
        ],
    )
    .unwrap();
    assert_eq!(s.database.url, "postgres://postgres@127.0.0.1/x");
    assert_eq!(s.server.body_limit_bytes, 2048);
    assert_eq!(s.api.tokens[0].token.expose(), "from-a-file-0123456789");
    assert_eq!(format!("{:?}", s.api.tokens[0].token), "Secret(***)");

    let p = config_problems(
        "[api]\ntokens = [{ name = \"x\", token_file = \"/no/such/file\" }]\n",
        vec![],
    );
    assert!(
        p.iter()
            .any(|m| m.contains("api.tokens[0].token_file") && m.contains("cannot read")),
        "{p:?}"
    );
}

#[test]
fn check_config_command_lists_problems_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[server]\nlisten = \"x\"\nnope = 1\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_leadgate"))
        .args(["--config"])
        .arg(&path)
        .arg("check-config")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("server.listen") && err.contains("server.nope"),
        "{err}"
    );
    let ok = std::process::Command::new(env!("CARGO_BIN_EXE_leadgate"))
        .args([
            "--config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config/leadgate.toml"),
            "check-config",
        ])
        .output()
        .unwrap();
    assert!(ok.status.success());
}

#[test]
fn check_config_refuses_the_demo_values_without_demo_mode() {
    let shipped = shipped_config();
    assert!(shipped.contains("\ndemo = true\n"));
    let real = shipped.replace("\ndemo = true\n", "\n");
    let p = config_problems(&real, vec![]);
    let joined = p.join("\n");
    for key in [
        "api.tokens[0].token",
        "telegram.bots.sales.secret_token",
        "vk.communities.main.secret",
        "pbx.mango.main.api_key",
        "pbx.generic.zammad.secret.token",
    ] {
        assert!(
            p.iter()
                .any(|m| m.starts_with(key) && m.contains("demo value")),
            "expected {key} in:\n{joined}"
        );
    }
    // The environment does not sneak it back in either.
    let p = config_problems(
        &real,
        vec![("LEADGATE__SERVER__DEMO".into(), "false".into())],
    );
    assert!(p.iter().any(|m| m.contains("demo value")));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leadgate.toml");
    std::fs::write(&path, &real).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_leadgate"))
        .arg("--config")
        .arg(&path)
        .arg("check-config")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("api.tokens[0].token") && err.contains("demo = true"),
        "{err}"
    );
}

#[test]
fn an_api_token_without_a_role_is_an_error() {
    let p = config_problems(
        "[api]\ntokens = [{ name = \"x\", token = \"a-real-token-0123456789\" }]\n",
        vec![],
    );
    assert!(
        p.iter()
            .any(|m| m.contains("api.tokens[0]") && m.contains("role")),
        "{p:?}"
    );
}

#[tokio::test]
async fn init_writes_a_config_that_check_config_accepts_with_no_demo_value() {
    use std::os::unix::fs::PermissionsExt;
    let db = crate::helpers::fresh_db().await;
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("etc");
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "a-long-admin-password\n").unwrap();
    let init = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_leadgate"))
            .arg("init")
            .arg("--dir")
            .arg(&conf)
            .args([
                "--manager",
                "orlov:Игорь Орлов:orlov@firm.ru",
                "--manager",
                "egorova:Светлана Егорова",
                "--database",
                &db.url,
                "--admin-password-file",
            ])
            .arg(&pw)
            .args(extra)
            .env("LEADGATE__LOGGING__LEVEL", "warn")
            .output()
            .unwrap()
    };
    let out = init(&[]);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(conf.join("leadgate.toml")).unwrap();
    assert!(
        !text.contains("change-me") && !text.contains("demo"),
        "{text}"
    );
    for secret in ["api-admin.token", "form-site.secret"] {
        let meta = std::fs::metadata(conf.join(secret)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{secret}");
    }
    let token = std::fs::read_to_string(conf.join("api-admin.token")).unwrap();
    assert!(token.trim().len() >= 40 && !leadgate::settings::is_demo_secret(&token));

    let check = std::process::Command::new(env!("CARGO_BIN_EXE_leadgate"))
        .arg("--config")
        .arg(conf.join("leadgate.toml"))
        .arg("check-config")
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let s = leadgate::settings::load(&conf.join("leadgate.toml")).unwrap();
    assert!(!s.server.demo);
    assert_eq!(s.api.tokens[0].token.expose(), token.trim());
    assert_eq!(s.routing.round_robin, ["orlov", "egorova"]);
    assert_eq!(s.managers[0].email.as_deref(), Some("orlov@firm.ru"));

    // The first admin can log in with the password given.
    let store = leadgate_store::Store::connect(&s.database).await.unwrap();
    let admin = store.user_by_login("admin").await.unwrap().unwrap();
    assert_eq!(admin.role.as_str(), "admin");
    assert!(admin.has_password);
    store.close().await;

    // A second run leaves the configuration alone unless told.
    let again = init(&[]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    assert_eq!(
        std::fs::read_to_string(conf.join("leadgate.toml")).unwrap(),
        text
    );
    assert!(init(&["--force"]).status.success());
}
