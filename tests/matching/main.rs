//! The matching engine inside the real pipeline, on the backend named by
//! LEADGATE_TEST_DB (sqlite by default, or postgres).

#[path = "../helpers/mod.rs"]
mod helpers;

use serde_json::{json, Value};

use helpers::{appeal, config_problems, scalar, spawn_app, TestApp};
use leadgate::appeal::{ContactKey, ContactKind};
use leadgate::client::ClientKind;
use leadgate::storage::{ImportedClient, ImportedPerson};

mod inn;

/// Posts an appeal and waits until the pipeline has processed it.
async fn processed(app: &TestApp, ext: &str, contact: Value) -> Value {
    app.post_and_process(&appeal("crm", ext, contact)).await
}

/// The decision as stored with the appeal, evidence included.
async fn stored_decision(app: &TestApp, appeal: &Value) -> Value {
    app.store
        .appeal(appeal["id"].as_i64().unwrap())
        .await
        .unwrap()
        .unwrap()
        .decision
        .map(|d| serde_json::to_value(d).unwrap())
        .unwrap()
}

fn evidence_of<'a>(decision: &'a Value, field: &str) -> &'a Value {
    decision["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["field"] == field)
        .unwrap_or_else(|| panic!("no {field} evidence in {decision}"))
}

#[tokio::test]
async fn a_diminutive_with_the_same_phone_links_and_the_evidence_is_stored() {
    let app = spawn_app().await;
    let first = processed(
        &app,
        "d-1",
        json!({"name": "Александр Петров", "phones": ["+7 912 345-67-89"]}),
    )
    .await;
    let second = processed(
        &app,
        "d-2",
        json!({"name": "Саша Петров", "phones": ["8 (912) 345 67 89"]}),
    )
    .await;
    assert_eq!(second["decision"]["kind"], "existing_client");
    assert_eq!(second["client_id"], first["client_id"]);
    assert_eq!(second["decision"]["matched_on"], json!(["phone", "name"]));
    let score = second["decision"]["score"].as_f64().unwrap();
    assert!(score >= app.settings.matching.auto_link_threshold);

    let decision = stored_decision(&app, &second).await;
    let phone = evidence_of(&decision, "phone");
    assert_eq!(phone["how"], "canonical");
    assert_eq!(phone["shared_by"], 1);
    assert!(phone["weight"].as_f64().unwrap() > 0.0);
    let name = evidence_of(&decision, "name");
    assert_eq!(name["how"], "diminutive");
    assert_eq!(decision["scores"][0]["client_id"], first["client_id"]);
    assert!(decision["reason"]
        .as_str()
        .unwrap()
        .contains("contact point"));

    // No second contact person: Саша is Александр.
    let (_, client) = app
        .get_json(&format!("/api/v1/clients/{}", first["client_id"]))
        .await;
    assert_eq!(client["contact_persons"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_namesake_with_another_phone_is_a_new_client() {
    let app = spawn_app().await;
    let first = processed(
        &app,
        "n-1",
        json!({"name": "Иванов Иван Иванович", "phones": ["+79120000001"]}),
    )
    .await;
    let second = processed(
        &app,
        "n-2",
        json!({"name": "Иванов Иван Иванович", "phones": ["+79130000002"]}),
    )
    .await;
    assert_eq!(second["decision"]["kind"], "new_client");
    assert_ne!(second["client_id"], first["client_id"]);
    // The namesake was looked at, and the name is on record as evidence.
    let decision = stored_decision(&app, &second).await;
    assert_eq!(evidence_of(&decision, "name")["how"], "exact");
}

#[tokio::test]
async fn a_known_phone_signed_with_another_persons_name_goes_to_review() {
    let app = spawn_app().await;
    let first = processed(
        &app,
        "c-1",
        json!({"name": "Иван Петров", "phones": ["+79120000001"]}),
    )
    .await;
    let second = processed(
        &app,
        "c-2",
        json!({"name": "Мария Сидорова", "phones": ["+79120000001"]}),
    )
    .await;
    assert_eq!(second["status"], "review");
    assert_eq!(second["decision"]["kind"], "review");
    assert!(second["client_id"].is_null());
    let decision = stored_decision(&app, &second).await;
    assert_eq!(decision["candidates"], json!([first["client_id"]]));
    assert_eq!(evidence_of(&decision, "name")["how"], "conflict");
    assert_eq!(app.store.open_review_count().await.unwrap(), 1);
}

#[tokio::test]
async fn a_colleague_from_a_corporate_domain_joins_the_company_as_a_new_person() {
    let app = spawn_app().await;
    let first = processed(
        &app,
        "k-1",
        json!({"name": "Иван Петров", "company": "ООО «Ромашка»",
               "emails": ["ivan.petrov@romashka.ru"], "phones": ["+79120000001"]}),
    )
    .await;
    let second = processed(
        &app,
        "k-2",
        json!({"name": "Ольга Сидорова", "emails": ["Olga@Romashka.ru"], "phones": ["+79160000002"]}),
    )
    .await;
    assert_eq!(second["decision"]["kind"], "existing_client");
    assert_eq!(second["client_id"], first["client_id"]);
    assert_eq!(second["decision"]["matched_on"], json!(["domain"]));
    let decision = stored_decision(&app, &second).await;
    assert_eq!(decision["new_person"], "Ольга Сидорова");

    let (_, client) = app
        .get_json(&format!("/api/v1/clients/{}", first["client_id"]))
        .await;
    assert_eq!(client["kind"], "company");
    let persons: Vec<&str> = client["contact_persons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(persons, vec!["Иван Петров", "Ольга Сидорова"]);
    // Her points are hers, not Иван's.
    assert_eq!(
        client["contact_persons"][1]["contact_points"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Next time she is found by her own phone, as herself.
    let third = processed(
        &app,
        "k-3",
        json!({"name": "Оля Сидорова", "phones": ["+7 916 000-00-02"]}),
    )
    .await;
    assert_eq!(third["client_id"], first["client_id"]);
    assert_eq!(third["decision"]["matched_on"], json!(["phone", "name"]));
}

fn imported(
    ext: &str,
    kind: ClientKind,
    name: &str,
    person: &str,
    keys: Vec<ContactKey>,
) -> ImportedClient {
    ImportedClient {
        external_id: ext.into(),
        kind,
        name: name.into(),
        responsible: None,
        imported_responsible: None,
        inn: None,
        persons: vec![ImportedPerson {
            name: person.into(),
            keys,
            dropped: Vec::new(),
        }],
    }
}

fn email(value: &str) -> ContactKey {
    ContactKey {
        kind: ContactKind::Email,
        value: value.into(),
        raw: value.into(),
    }
}

#[tokio::test]
async fn imported_clients_get_their_name_company_and_domain_keys() {
    let app = spawn_app().await;
    app.store
        .import_batch(&[imported(
            "imp-1",
            ClientKind::Company,
            "АО Вектор",
            "Смирнов Олег",
            vec![email("oleg@vektor.ru")],
        )])
        .await
        .unwrap();
    let colleague = processed(
        &app,
        "i-1",
        json!({"name": "Анна Кузнецова", "emails": ["anna@vektor.ru"]}),
    )
    .await;
    assert_eq!(colleague["decision"]["kind"], "existing_client");
    let (_, client) = app
        .get_json(&format!("/api/v1/clients/{}", colleague["client_id"]))
        .await;
    assert_eq!(client["external_id"], "imp-1");
    // The name keys are there: a namesake of Олег with a free-mail address is
    // compared (and, a name alone never linking, becomes a new client).
    let namesake = processed(
        &app,
        "i-2",
        json!({"name": "Олег Смирнов", "emails": ["oleg.smirnov@mail.ru"]}),
    )
    .await;
    assert_eq!(namesake["decision"]["kind"], "new_client");
    let decision = stored_decision(&app, &namesake).await;
    assert_eq!(evidence_of(&decision, "name")["how"], "exact");
}

#[tokio::test]
async fn an_email_shared_by_500_clients_links_nobody() {
    let app = spawn_app().await;
    let clients: Vec<ImportedClient> = (0..500)
        .map(|i| {
            imported(
                &format!("agency-{i}"),
                ClientKind::Person,
                &format!("Клиент {i}"),
                &format!("Клиент {i}"),
                vec![email("info@agency-mail.ru")],
            )
        })
        .collect();
    app.store.import_batch(&clients).await.unwrap();
    let p = processed(
        &app,
        "s-1",
        json!({"name": "Пётр Николаев", "emails": ["INFO@agency-mail.ru"]}),
    )
    .await;
    assert_eq!(p["decision"]["kind"], "new_client");
    let decision = stored_decision(&app, &p).await;
    assert!(decision["candidates"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn keys_of_clients_that_predate_matching_are_backfilled_at_start() {
    let app = spawn_app().await;
    let first = processed(
        &app,
        "b-1",
        json!({"name": "Иван Петров", "emails": ["ivan@vostok.ru"]}),
    )
    .await;
    // As if the client had been written before migration 0002.
    let pool = app.store.pool();
    sqlx::query("DELETE FROM match_keys")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("UPDATE counters SET value = 0 WHERE name = 'match_keys_backfill'")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("UPDATE counters SET value = $1 WHERE name = 'match_keys_backfill_until'")
        .bind(first["client_id"].as_i64().unwrap())
        .execute(pool)
        .await
        .unwrap();
    app.store.migrate().await.unwrap();
    let n = scalar(&app.store, "SELECT COUNT(*) FROM match_keys").await;
    assert!(n >= 2, "name keys and the domain: {n}");
    let colleague = processed(
        &app,
        "b-2",
        json!({"name": "Ольга", "emails": ["olga@vostok.ru"]}),
    )
    .await;
    assert_eq!(colleague["client_id"], first["client_id"]);
}

#[test]
fn bad_matching_settings_are_named_by_key() {
    let bad = config_problems(
        "[matching]\nauto_link_threshold = 5.0\nreview_threshold = 9.0\nmax_shared_clients = 0\n\
         [matching.weights]\nname_conflict = 3.0\nphone = 1e9\nsurname = 1.0\n",
        vec![],
    );
    for key in [
        "matching.review_threshold",
        "matching.max_shared_clients",
        "matching.weights.name_conflict",
        "matching.weights.phone",
        "matching.weights.surname",
    ] {
        assert!(bad.iter().any(|p| p.starts_with(key)), "{key}: {bad:?}");
    }
    let bad = config_problems("[matching]\nauto_link_threshold = \"high\"\n", vec![]);
    assert!(
        bad.iter()
            .any(|p| p.starts_with("matching.auto_link_threshold")),
        "{bad:?}"
    );
    assert!(config_problems("[matching]\nauto_link_threshold = 20.0\n", vec![]).is_empty());
}

#[tokio::test]
async fn a_client_merged_into_another_is_no_candidate() {
    let app = spawn_app().await;
    let first = processed(
        &app,
        "m-1",
        json!({"name": "Иван Петров", "phones": ["+79120000001"]}),
    )
    .await;
    let other = processed(
        &app,
        "m-2",
        json!({"name": "Пётр Иванов", "phones": ["+79120000002"]}),
    )
    .await;
    sqlx::query("UPDATE clients SET merged_into = $1 WHERE id = $2")
        .bind(other["client_id"].as_i64().unwrap())
        .bind(first["client_id"].as_i64().unwrap())
        .execute(app.store.pool())
        .await
        .unwrap();
    let again = processed(
        &app,
        "m-3",
        json!({"name": "Иван Петров", "phones": ["+79120000001"]}),
    )
    .await;
    assert_eq!(again["decision"]["kind"], "new_client");
    assert_ne!(again["client_id"], first["client_id"]);
}

#[tokio::test]
async fn a_merge_moves_the_matching_keys_and_undo_moves_them_back() {
    let app = spawn_app().await;
    let a = processed(
        &app,
        "g-1",
        json!({"name": "Иван Петров", "company": "ООО Север", "emails": ["ivan@sever.ru"]}),
    )
    .await;
    let b = processed(
        &app,
        "g-2",
        json!({"name": "Олег Смирнов", "company": "ООО Юг", "emails": ["oleg@yug.ru"]}),
    )
    .await;
    let (into, from) = (
        a["client_id"].as_i64().unwrap(),
        b["client_id"].as_i64().unwrap(),
    );
    let merged: Value = app
        .client
        .post(app.url("/api/v1/clients/merge"))
        .bearer_auth(helpers::TOKEN)
        .json(&json!({"into": into, "from": from}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let merge_id = merged["merge_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("{merged}"));
    // A colleague from b's old domain now finds the merged client.
    let c = processed(
        &app,
        "g-3",
        json!({"name": "Анна", "emails": ["anna@yug.ru"]}),
    )
    .await;
    assert_eq!(c["client_id"], into, "{c}");
    let resp = app
        .client
        .post(app.url(&format!("/api/v1/merges/{merge_id}/undo")))
        .bearer_auth(helpers::TOKEN)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    let d = processed(
        &app,
        "g-4",
        json!({"name": "Пётр", "emails": ["petr@yug.ru"]}),
    )
    .await;
    // b has its domain back; Анна's address, learned after the merge, stays
    // with the merged-into client, so the domain is now on both: an operator
    // decides.
    assert_eq!(d["decision"]["kind"], "review", "{d}");
    let decision = stored_decision(&app, &d).await;
    assert_eq!(decision["candidates"], json!([into, from]));
}

#[tokio::test]
async fn junk_contact_points_link_nobody_and_the_decision_says_why() {
    let app = spawn_app().await;
    let first = processed(
        &app,
        "j-1",
        json!({"name": "Иван Петров", "phones": ["8-800-555-35-35"], "emails": ["test@mail.ru"]}),
    )
    .await;
    let second = processed(
        &app,
        "j-2",
        json!({"name": "Мария Сидорова", "phones": ["8 (800) 555-35-35"], "emails": ["TEST@mail.ru"]}),
    )
    .await;
    assert_eq!(second["decision"]["kind"], "new_client");
    assert_ne!(second["client_id"], first["client_id"]);
    let decision = stored_decision(&app, &second).await;
    let ignored = decision["ignored_contact_points"].as_array().unwrap();
    assert_eq!(
        ignored
            .iter()
            .map(|i| (i["field"].as_str().unwrap(), i["reason"].as_str().unwrap()))
            .collect::<Vec<_>>(),
        vec![("phone", "junk_phone"), ("email", "placeholder_address")]
    );
    assert_eq!(ignored[0]["pattern"], "+7800*");
    // Still kept on the client, as typed.
    let (_, client) = app
        .get_json(&format!("/api/v1/clients/{}", second["client_id"]))
        .await;
    assert!(client.to_string().contains("+78005553535"), "{client}");
}

#[tokio::test]
async fn messy_spellings_find_the_known_person() {
    let app = spawn_app().await;
    let first = processed(
        &app,
        "m-1",
        json!({"name": "Мостовой Андрей", "phones": ["+7 912 345-67-89"],
               "emails": ["mostovoy@mail.ru"], "vk": {"id": 741007307}}),
    )
    .await;
    for (ext, contact) in [
        (
            "m-2",
            json!({"name": "Андрей", "emails": ["e-mail: mоstovoy @ mail.ru."]}),
        ),
        (
            "m-3",
            json!({"name": "Андрей Мостовой", "emails": ["andrey@romashka.ru, Андрей <MOSTOVOY@mail.ru>"]}),
        ),
        (
            "m-4",
            json!({"name": "Андрей", "vk": {"screen_name": "https://vk.com/id741007307"}}),
        ),
        (
            "m-5",
            json!({"name": "Андрей Мостовой", "phones": ["+7 8912 345 67 89 до 20:00"]}),
        ),
    ] {
        let a = processed(&app, ext, contact).await;
        assert_eq!(a["decision"]["kind"], "existing_client", "{ext}: {a}");
        assert_eq!(a["client_id"], first["client_id"], "{ext}");
    }
}

#[tokio::test]
async fn a_new_person_on_a_companys_office_line_becomes_its_contact_person() {
    let app = spawn_app().await;
    let office = ContactKey {
        kind: ContactKind::Phone,
        value: "+74954775139".into(),
        raw: "8 495 477 51 39".into(),
    };
    let mut company = imported(
        "co-1",
        ClientKind::Company,
        "ООО «Новаальянс»",
        "Иван Петров",
        vec![office.clone()],
    );
    company.persons.push(ImportedPerson {
        name: "Мария Сидорова".into(),
        keys: vec![office],
        dropped: Vec::new(),
    });
    app.store.import_batch(&[company]).await.unwrap();

    let colleague = processed(
        &app,
        "o-1",
        json!({"name": "Ольга Кузнецова", "phones": ["8 495 477 51 39 до 20:00"], "company": "Novaalians"}),
    )
    .await;
    assert_eq!(
        colleague["decision"]["kind"], "existing_client",
        "{colleague}"
    );
    let decision = stored_decision(&app, &colleague).await;
    assert_eq!(decision["new_person"], "Ольга Кузнецова");
    let (_, client) = app
        .get_json(&format!("/api/v1/clients/{}", colleague["client_id"]))
        .await;
    let persons: Vec<&str> = client["contact_persons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        persons,
        vec!["Иван Петров", "Мария Сидорова", "Ольга Кузнецова"]
    );
    // The line is on two of its persons, so it is the company's: the
    // company need not be named.
    let another = processed(
        &app,
        "o-1b",
        json!({"name": "Пётр Смирнов", "phones": ["+7 (495) 477-51-39"]}),
    )
    .await;
    assert_eq!(another["client_id"], colleague["client_id"], "{another}");
    assert_eq!(
        stored_decision(&app, &another).await["new_person"],
        "Пётр Смирнов"
    );

    // Two relatives' home line is no office: another name goes to review.
    let home = |ext: &str, person: &str| {
        imported(
            ext,
            ClientKind::Person,
            person,
            person,
            vec![ContactKey {
                kind: ContactKind::Phone,
                value: "+78432110012".into(),
                raw: "8 843 211-00-12".into(),
            }],
        )
    };
    app.store
        .import_batch(&[home("h-1", "Петров Сергей"), home("h-2", "Петрова Нина")])
        .await
        .unwrap();
    let relative = processed(
        &app,
        "o-2",
        json!({"name": "Ольга Петрова", "phones": ["8 843 211-00-12"]}),
    )
    .await;
    assert_eq!(relative["decision"]["kind"], "review", "{relative}");
}
