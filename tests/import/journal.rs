//! Each new client journals `client.created` with the client exactly as
//! the read API gives it afterwards: the import builds that view from what
//! it wrote instead of reading it back, so the two must not drift apart.

use leadgate_domain::event::{EventType, NewEvent};
use serde_json::{json, Value};

use crate::helpers::spawn_app;
use crate::import;
use leadgate::import::ImportOptions;

/// Persons sharing a phone (the client's own then), a person on two rows,
/// an address that does not parse given twice, a company with an ИНН, a
/// person without a name, contact points in an order the storage sorts.
const FIRST: &str = "client_id,client_name,client_kind,person_name,phones,emails,telegram,vk,responsible,inn\n\
j-1,ООО Ромашка,company,Анна Петрова,+7 495 100-00-01;+7 495 100-00-09,anna@romashka.ru;bad@@x.ru,,,ivanova,7707083893\n\
j-1,ООО Ромашка,company,Борис Иванов,+7 495 100-00-01,boris@romashka.ru,@boris_iv,,,\n\
j-1,ООО Ромашка,company,Анна Петрова,+7 495 100-00-02,bad@@x.ru;zeta@romashka.ru,,,,\n\
j-2,Сидоров Пётр,person,,+7 912 200-00-02,,,,nobody,\n\
j-3,Ли,person,Ли,звонить вечером,li@mail.ru,,,,\n";

async fn created_payloads(app: &crate::helpers::TestApp) -> Vec<Value> {
    app.store
        .events_after(0, &[EventType::ClientCreated], 1000)
        .await
        .expect("events")
        .iter()
        .map(|e| serde_json::from_str(e.data.get()).expect("payload"))
        .collect()
}

async fn as_read(app: &crate::helpers::TestApp, payload: &Value) -> Value {
    let id = payload["client"]["id"].as_i64().expect("client id");
    let client = app.store.client(id).await.expect("read").expect("client");
    NewEvent::about(EventType::ClientCreated, "client", &client, json!({})).data
}

#[tokio::test]
async fn a_created_client_is_journaled_as_the_read_api_gives_it() {
    let app = spawn_app().await;
    import(&app, FIRST.as_bytes(), &ImportOptions::default()).await;
    let first = created_payloads(&app).await;
    assert_eq!(first.len(), 3, "{first:?}");
    for payload in &first {
        assert_eq!(payload, &as_read(&app, payload).await);
    }
    let romashka = &first[0]["client"];
    assert_eq!(
        romashka["contact_points"][0]["value"], "+74951000001",
        "a phone two persons share is the client's: {romashka}"
    );
    assert!(
        romashka["contact_persons"][0]["dropped_points"]
            .as_array()
            .is_some_and(|d| d.len() == 1),
        "{romashka}"
    );

    // Again, with a person more on a known client and a new client in the
    // same batch: only the new one journals, still as it reads.
    let again = format!(
        "{FIRST}j-2,Сидоров Пётр,person,Мария Сидорова,+7 912 200-00-03,,,,,\n\
j-4,ООО Лютик,company,Вера,+7 495 300-00-01;+7 495 300-00-01,vera@lutik.ru,,,ivanova,\n"
    );
    import(&app, again.as_bytes(), &ImportOptions::default()).await;
    let all = created_payloads(&app).await;
    assert_eq!(all.len(), 4, "{all:?}");
    assert_eq!(all[..3], first[..]);
    assert_eq!(all[3]["client"]["external_id"], "j-4");
    assert_eq!(all[3], as_read(&app, &all[3]).await);
}
