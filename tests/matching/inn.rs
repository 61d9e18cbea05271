//! The ИНН as a company key in the live pipeline: stronger than a domain or a
//! company name, and a known person naming another company's ИНН goes to
//! review.

use serde_json::json;

use super::{evidence_of, processed, stored_decision};

const ALPHA: &str = "7707083893";
const BETA: &str = "7736207543";

#[tokio::test]
async fn a_known_person_with_another_companys_inn_goes_to_review() {
    let app = crate::helpers::spawn_app().await;
    let alpha = processed(
        &app,
        "c-1",
        json!({"name": "Иван Петров", "company": "ООО Альфа", "phones": ["+79120000001"], "inn": ALPHA}),
    )
    .await;
    let beta = processed(
        &app,
        "c-2",
        json!({"name": "Олег Смирнов", "company": "ООО Бета", "phones": ["+79120000002"], "inn": BETA}),
    )
    .await;
    // Иван's phone, with Бета's ИНН: he moved, or somebody mistyped.
    let moved = processed(
        &app,
        "c-3",
        json!({"name": "Иван Петров", "phones": ["+7 912 000-00-01"], "inn": BETA}),
    )
    .await;
    assert_eq!(moved["decision"]["kind"], "review", "{moved}");
    let decision = stored_decision(&app, &moved).await;
    assert_eq!(
        decision["candidates"],
        json!([alpha["client_id"], beta["client_id"]])
    );
    assert_eq!(
        decision["reason"],
        "a known contact point, with another ИНН than its client's"
    );
    let conflict = decision["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["field"] == "inn" && e["how"] == "conflict")
        .unwrap_or_else(|| panic!("{decision}"));
    assert_eq!(conflict["client_id"], alpha["client_id"]);
    assert!(conflict["weight"].as_f64().unwrap() < 0.0);
    // With his own company's ИНН he is himself, as before.
    let again = processed(
        &app,
        "c-4",
        json!({"name": "Иван Петров", "phones": ["+79120000001"], "inn": ALPHA}),
    )
    .await;
    assert_eq!(again["decision"]["kind"], "existing_client");
    assert_eq!(again["client_id"], alpha["client_id"]);
    assert_eq!(
        again["decision"]["matched_on"],
        json!(["phone", "name", "inn"])
    );
}

#[tokio::test]
async fn the_inn_wins_over_another_clients_domain_and_company_name() {
    let app = crate::helpers::spawn_app().await;
    let alpha = processed(
        &app,
        "w-1",
        json!({"name": "Иван Петров", "company": "ООО Альфа", "emails": ["ivan@alfa.ru"], "inn": ALPHA}),
    )
    .await;
    let beta = processed(
        &app,
        "w-2",
        json!({"name": "Олег Смирнов", "company": "ООО Бета", "emails": ["oleg@beta.ru"]}),
    )
    .await;
    // Бета's domain and name, Альфа's ИНН (a holding's shared mail).
    let colleague = processed(
        &app,
        "w-3",
        json!({"name": "Мария Сидорова", "company": "ООО Бета", "emails": ["maria@beta.ru"], "inn": ALPHA}),
    )
    .await;
    assert_eq!(
        colleague["decision"]["kind"], "existing_client",
        "{colleague}"
    );
    assert_eq!(colleague["client_id"], alpha["client_id"]);
    let decision = stored_decision(&app, &colleague).await;
    assert_eq!(decision["new_person"], "Мария Сидорова");
    assert_eq!(
        evidence_of(&decision, "inn")["client_id"],
        alpha["client_id"]
    );
    assert_ne!(colleague["client_id"], beta["client_id"]);

    // The domain of a client whose ИНН is another one is no colleague.
    let other = processed(
        &app,
        "w-4",
        json!({"name": "Анна Кузнецова", "emails": ["anna@alfa.ru"], "inn": "7702070139"}),
    )
    .await;
    assert_eq!(other["decision"]["kind"], "review", "{other}");
}
