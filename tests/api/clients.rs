use std::io::Write;

use serde_json::json;

use crate::helpers::{appeal, spawn_app};
use leadgate::import::{import_clients, ImportOptions};

const CSV: &str = "client_id,client_name,client_kind,person_name,phones,emails,telegram,vk,responsible
c-1,ООО Ромашка,company,Иван Петров,+7 (495) 123-45-67;8 912 345 67 89,ivan@romashka.ru,@ivan_p,id101,petrov
c-1,ООО Ромашка,company,Ольга Сидорова,,olga@romashka.ru,,,petrov
c-2,Анна Смирнова,person,,89031234567,anna@mail.ru,,,
c-3,Bad Phone,person,,12,,,,
c-4,,person,,,,,,
c-5,Кто-то,alien,,,,,,
c-6,Неизвестный менеджер,person,,,x@y.ru,,,nobody
";

#[tokio::test]
async fn import_reports_bad_rows_and_is_idempotent() {
    let app = spawn_app().await;
    let report = import_clients(
        &app.store,
        &app.settings,
        CSV.as_bytes(),
        &ImportOptions::default(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(report.rows, 7);
    // Only the row with no name and no contact point is refused; the bad
    // phone, the unknown kind and the unknown manager cost only themselves.
    assert_eq!(report.clients, 5);
    assert_eq!(report.refused_rows(), 1);
    let lines: Vec<(u64, &str)> = report
        .issues
        .iter()
        .map(|i| (i.line, i.reason.code()))
        .collect();
    assert_eq!(
        lines,
        vec![
            (5, "invalid_phone"),
            (6, "nothing_usable"),
            (7, "invalid_client_kind"),
            (8, "unknown_manager")
        ]
    );

    // Lookup by any spelling of the number finds the company with both persons.
    let (status, found) = app.get_json("/api/v1/clients?phone=%2B79123456789").await;
    assert_eq!(status, 200);
    assert_eq!(found.as_array().unwrap().len(), 1);
    let client = &found[0];
    assert_eq!(client["external_id"], "c-1");
    assert_eq!(client["kind"], "company");
    assert_eq!(client["responsible"], "petrov");
    assert_eq!(client["contact_persons"].as_array().unwrap().len(), 2);
    let points: Vec<&str> = client["contact_persons"][0]["contact_points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert!(
        points.contains(&"telegram_username") && points.contains(&"vk_id"),
        "{points:?}"
    );

    // Re-import: nothing doubles, names update.
    let changed = CSV.replace("ООО Ромашка,company,Иван", "ООО «Ромашка»,company,Иван");
    import_clients(
        &app.store,
        &app.settings,
        changed.as_bytes(),
        &ImportOptions::default(),
        None,
    )
    .await
    .unwrap();
    let (_, again) = app.get_json("/api/v1/clients?email=OLGA@romashka.ru").await;
    assert_eq!(again.as_array().unwrap().len(), 1);
    assert_eq!(again[0]["id"], client["id"]);
    assert_eq!(again[0]["contact_persons"].as_array().unwrap().len(), 2);
    let total: usize = again[0]["contact_persons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["contact_points"].as_array().unwrap().len())
        .sum();
    assert_eq!(total, 6);
}

#[tokio::test]
async fn an_appeal_from_an_imported_client_goes_to_its_responsible() {
    let app = spawn_app().await;
    import_clients(
        &app.store,
        &app.settings,
        CSV.as_bytes(),
        &ImportOptions::default(),
        None,
    )
    .await
    .unwrap();
    let r = app
        .post_appeal(&appeal(
            "site",
            "imp-1",
            json!({"name": "Иван", "phones": ["+7 912 345-67-89"]}),
        ))
        .await
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let p = app.processed_appeal(r["id"].as_i64().unwrap()).await;
    assert_eq!(p["decision"]["kind"], "existing_client");
    assert_eq!(p["status"], "created");
    let (_, interest) = app
        .get_json(&format!("/api/v1/interests/{}", p["interest_id"]))
        .await;
    assert_eq!(interest["responsible"], "petrov");
}

#[tokio::test]
async fn import_rejects_a_wrong_header_and_the_cli_imports_a_file() {
    let app = spawn_app().await;
    let err = import_clients(
        &app.store,
        &app.settings,
        "foo,bar\n1,x\n".as_bytes(),
        &ImportOptions::default(),
        None,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("--map"), "{err}");

    // The command line on a fresh database: migrations run first.
    let dir = tempfile::tempdir().unwrap();
    let csv_path = dir.path().join("clients.csv");
    std::fs::File::create(&csv_path)
        .unwrap()
        .write_all(CSV.as_bytes())
        .unwrap();
    let db = crate::helpers::fresh_db().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_leadgate"))
        .args([
            "--config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config/leadgate.toml"),
            "import",
            "clients",
        ])
        .arg(&csv_path)
        .arg("--report")
        .arg(dir.path().join("report.csv"))
        .env("LEADGATE__DATABASE__URL", &db.url)
        .env("LEADGATE__LOGGING__LEVEL", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("imported 5 clients (5 new, 0 updated;"),
        "{stdout}"
    );
    assert!(stdout.contains("from 7 rows"), "{stdout}");
    assert!(
        stdout.contains("skipped 1 rows: nothing_usable 1"),
        "{stdout}"
    );
    assert!(
        stdout.contains("dropped 1 contact points (kept as typed on the person): invalid_phone 1"),
        "{stdout}"
    );
    assert!(stdout.contains("nobody (1 rows)"), "{stdout}");
    assert!(
        stderr.contains("line 5: dropped invalid_phone [phones] `12`"),
        "{stderr}"
    );
    let report = std::fs::read_to_string(dir.path().join("report.csv")).unwrap();
    assert!(
        report.starts_with(
            "line,column,value,reason,action,detail\n5,phones,12,invalid_phone,dropped,"
        ),
        "{report}"
    );

    // --check on the same file writes nothing.
    let db2 = crate::helpers::fresh_db().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_leadgate"))
        .args([
            "--config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config/leadgate.toml"),
            "import",
            "clients",
            "--check",
        ])
        .arg(&csv_path)
        .env("LEADGATE__DATABASE__URL", &db2.url)
        .env("LEADGATE__LOGGING__LEVEL", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("nothing written: would import 5 clients"),
        "{stdout}"
    );
}
