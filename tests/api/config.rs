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
