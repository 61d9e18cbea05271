//! A dirty base: every usable row imports, the report says what was left
//! out and where.

use serde_json::json;

use leadgate::import::{write_report, ImportOptions};

use crate::helpers::{appeal, spawn_app};
use crate::{by_external, clients, import, phones};

fn dirty_csv() -> String {
    let long = "очень длинная заметка ".repeat(455);
    assert!(long.chars().count() > 10_000);
    format!(
        "client_id,client_name,client_kind,person_name,phones,emails,telegram,vk,responsible\n\
d-1,Иван Кузьмин,person,,+7 912 000-00-01,kuzmin@mail.ru,,,kozlov\n\
d-2,Ольга Лебедева,person,,+7 912 000-00-02;8 (912) 000-00-03,\"olga@mail,ru\",,,petrov\n\
d-3,Павел Волков,person,,звонить после обеда,volkov@yandex.ru,,,\n\
,,,,,,,,\n\
d-1,Кузьмин И.,person,Мария Кузьмина,+7 912 000-00-04,,,,kozlov\n\
d-4,Сергей Зайцев,person,{long},+7 912 000-00-05,,,,\n\
d-5,,person,,12,,,,\n\
d-6,\"Многострочное\nимя\",person,,+7 912 000-00-06,,,,\n\
d-7,Тест Тестов,person,,+7 912 000-00-07,bad@@x.ru,,,\n"
    )
}

/// (line, reason, action) of every report line.
fn report_rows(report: &[u8]) -> Vec<(u64, String, String, String)> {
    let mut r = csv::Reader::from_reader(report);
    assert_eq!(
        r.headers().unwrap().iter().collect::<Vec<_>>(),
        ["line", "column", "value", "reason", "action", "detail"]
    );
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            (
                rec[0].parse().unwrap(),
                rec[1].to_string(),
                rec[3].to_string(),
                rec[4].to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn every_usable_row_imports_and_the_report_says_what_was_left_out() {
    let app = spawn_app().await;
    let r = import(&app, dirty_csv().as_bytes(), &ImportOptions::default()).await;
    assert_eq!(r.rows, 9);
    assert_eq!((r.clients, r.created, r.updated), (6, 6, 0), "{r:#?}");
    assert_eq!(r.refused_rows(), 2);
    assert_eq!(r.unknown_managers.get("kozlov"), Some(&2));
    let mut out = Vec::new();
    write_report(&mut out, &r.issues).unwrap();
    let mut rows = report_rows(&out);
    rows.sort();
    let want = |l: u64, c: &str, reason: &str, action: &str| {
        (l, c.to_string(), reason.to_string(), action.to_string())
    };
    let mut expected = vec![
        want(2, "responsible", "unknown_manager", "unassigned"),
        want(3, "emails", "invalid_email", "dropped"),
        want(4, "phones", "invalid_phone", "dropped"),
        want(5, "", "empty_row", "refused"),
        want(6, "client_name", "conflicting_client_name", "ignored"),
        want(6, "responsible", "unknown_manager", "unassigned"),
        want(7, "person_name", "too_long", "ignored"),
        want(8, "", "nothing_usable", "refused"),
        // The quoted cell spans lines 9 and 10: the next row is line 11.
        want(11, "emails", "invalid_email", "dropped"),
    ];
    expected.sort();
    assert_eq!(rows, expected, "{}", String::from_utf8_lossy(&out));
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("olga@mail,ru"), "{text}");
    assert!(text.contains("phone `12`"), "{text}");
    assert!(r.dropped().get("invalid_email") == Some(&2));

    let all = clients(&app).await;
    // The unknown manager: imported, unassigned, the login kept.
    let d1 = by_external(&all, "d-1");
    assert_eq!(d1.responsible, None);
    assert_eq!(d1.imported_responsible.as_deref(), Some("kozlov"));
    assert_eq!(d1.name, "Иван Кузьмин");
    assert_eq!(d1.contact_persons.len(), 2);
    // One bad e-mail among good phones: the phones import, the e-mail is
    // kept as typed and shown by the API.
    let d2 = by_external(&all, "d-2");
    assert_eq!(phones(d2), ["+79120000002", "+79120000003"]);
    assert_eq!(d2.responsible.as_deref(), Some("petrov"));
    let (status, card) = app.get_json(&format!("/api/v1/clients/{}", d2.id)).await;
    assert_eq!(status, 200);
    let dropped = &card["contact_persons"][0]["dropped_points"];
    assert_eq!(dropped.as_array().unwrap().len(), 1, "{card}");
    assert_eq!(dropped[0]["field"], "email");
    assert_eq!(dropped[0]["raw"], "olga@mail,ru");
    assert!(!dropped[0]["reason"].as_str().unwrap().is_empty());
    // A phone field with text: the e-mail imports.
    let d3 = by_external(&all, "d-3");
    assert!(phones(d3).is_empty());
    assert_eq!(
        d3.contact_persons[0].dropped_points[0].raw,
        "звонить после обеда"
    );
    // The long cell is left out; the row imports under the client's name.
    let d4 = by_external(&all, "d-4");
    assert_eq!(d4.contact_persons[0].name, "Сергей Зайцев");
    assert_eq!(phones(d4), ["+79120000005"]);
    assert_eq!(by_external(&all, "d-6").name, "Многострочное\nимя");
    assert!(all.iter().all(|c| c.external_id.as_deref() != Some("d-5")));

    // The unassigned client takes the round robin when it gets in touch.
    let posted = app
        .post_appeal(&appeal(
            "site",
            "dirty-1",
            json!({"name": "Иван Кузьмин", "phones": ["+79120000001"]}),
        ))
        .await
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let p = app.processed_appeal(posted["id"].as_i64().unwrap()).await;
    assert_eq!(p["client_id"], d1.id);
    let (_, interest) = app
        .get_json(&format!("/api/v1/interests/{}", p["interest_id"]))
        .await;
    assert!(interest["responsible"].is_string(), "{interest}");

    // Re-importing is idempotent: nothing doubles, dropped points included.
    let again = import(&app, dirty_csv().as_bytes(), &ImportOptions::default()).await;
    assert_eq!((again.created, again.updated), (0, 6));
    let d2_again = app.store.client(d2.id).await.unwrap().unwrap();
    assert_eq!(d2_again.contact_persons[0].dropped_points.len(), 1);
}

#[tokio::test]
async fn create_managers_adds_the_missing_logins() {
    let app = spawn_app().await;
    let options = ImportOptions {
        create_managers: true,
        ..ImportOptions::default()
    };
    let r = import(&app, dirty_csv().as_bytes(), &options).await;
    assert_eq!(r.created_managers, ["kozlov"]);
    assert!(r.unknown_managers.is_empty());
    let all = clients(&app).await;
    assert_eq!(
        by_external(&all, "d-1").responsible.as_deref(),
        Some("kozlov")
    );
    let user = app.store.user_by_login("kozlov").await.unwrap().unwrap();
    assert_eq!(user.role.as_str(), "manager");
}

#[tokio::test]
async fn check_reads_everything_and_writes_nothing() {
    let app = spawn_app().await;
    let options = ImportOptions {
        check: true,
        create_managers: true,
        ..ImportOptions::default()
    };
    let r = import(&app, dirty_csv().as_bytes(), &options).await;
    assert_eq!((r.clients, r.created, r.updated), (6, 6, 0));
    assert_eq!(r.refused_rows(), 2);
    assert_eq!(r.created_managers, ["kozlov"]);
    assert!(clients(&app).await.is_empty());
    assert!(app.store.user_by_login("kozlov").await.unwrap().is_none());
    // Against a base that has them, the same file would update.
    import(&app, dirty_csv().as_bytes(), &ImportOptions::default()).await;
    let r = import(&app, dirty_csv().as_bytes(), &options).await;
    assert_eq!((r.created, r.updated), (0, 6));
}

#[tokio::test]
async fn an_invalid_inn_is_dropped_and_a_valid_one_links_appeals() {
    let app = spawn_app().await;
    let csv = "Наименование;ИНН;Телефон\nООО Альфа;7707083893;+7 495 111-11-11\nООО Бета;7707083894;+7 495 222-22-22\n";
    let r = import(&app, csv.as_bytes(), &ImportOptions::default()).await;
    assert_eq!(r.clients, 2);
    assert_eq!(r.dropped().get("invalid_inn"), Some(&1));
    let all = clients(&app).await;
    let alpha = crate::by_name(&all, "ООО Альфа");
    assert_eq!(alpha.external_id.as_deref(), Some("inn:7707083893"));
    let beta = crate::by_name(&all, "ООО Бета");
    assert_eq!(beta.inn, None);
    assert_eq!(beta.contact_persons[0].dropped_points[0].field, "inn");
    // A colleague writing with the company's ИНН and a new phone is that
    // client's new contact person.
    let posted = app
        .post_appeal(&appeal(
            "site",
            "inn-1",
            json!({"name": "Виктор Новиков", "phones": ["+79035550000"], "inn": "7707 083 893"}),
        ))
        .await
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let p = app.processed_appeal(posted["id"].as_i64().unwrap()).await;
    assert_eq!(p["decision"]["kind"], "existing_client", "{p}");
    assert_eq!(p["client_id"], alpha.id);
    assert!(p["decision"]["matched_on"]
        .as_array()
        .unwrap()
        .contains(&json!("inn")));
}
