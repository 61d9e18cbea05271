//! Export, then import into an empty database: the same clients, persons
//! and points.

use leadgate::import::export::export_clients;
use leadgate::import::ImportOptions;
use leadgate_domain::client::Client;

use crate::helpers::spawn_app;
use crate::{clients, import};

/// A client without its database ids and times, everything sorted.
fn comparable(c: &Client) -> String {
    let mut persons: Vec<String> = c
        .contact_persons
        .iter()
        .map(|p| {
            let mut points: Vec<String> = p
                .contact_points
                .iter()
                .map(|x| format!("{}={} ({})", x.kind.as_str(), x.value, x.raw))
                .collect();
            points.sort();
            let mut dropped: Vec<String> = p
                .dropped_points
                .iter()
                .map(|d| format!("{}:{}:{}", d.field, d.raw, d.reason))
                .collect();
            dropped.sort();
            format!("{} {points:?} {dropped:?}", p.name)
        })
        .collect();
    persons.sort();
    format!(
        "{:?} {} {:?} {:?} {:?} {:?} {persons:?}",
        c.external_id, c.name, c.kind, c.responsible, c.imported_responsible, c.inn
    )
}

#[tokio::test]
async fn export_then_import_into_an_empty_database_gives_the_same_base() {
    let source = spawn_app().await;
    let base = "client_id,client_name,client_kind,person_name,phones,emails,telegram,vk,responsible,inn\n\
c-1,ООО Ромашка,company,Иван Петров,+7 (495) 123-45-67;8 912 345 67 89,ivan@romashka.ru,@ivan_p;123456,id101,petrov,7707083893\n\
c-1,ООО Ромашка,company,Ольга Сидорова,,\"olga@romashka,ru\",,durov,petrov,\n\
c-2,Анна Смирнова,person,,89031234567,anna@mail.ru,,,kozlov,\n\
c-3,\"Кавычки \"\"и\"\", запятые\",person,,8 (916) 000-11-22,,,,,12345\n";
    let r = import(&source, base.as_bytes(), &ImportOptions::default()).await;
    assert_eq!(r.clients, 3);
    let mut file = Vec::new();
    let counts = export_clients(&source.store, &mut file).await.unwrap();
    assert_eq!((counts.clients, counts.rows), (3, 4));

    let target = spawn_app().await;
    let again = import(&target, &file, &ImportOptions::default()).await;
    assert_eq!(again.clients, 3, "{}", String::from_utf8_lossy(&file));
    let want: Vec<String> = clients(&source).await.iter().map(comparable).collect();
    let got: Vec<String> = clients(&target).await.iter().map(comparable).collect();
    assert_eq!(got, want, "{}", String::from_utf8_lossy(&file));
    // The export of the copy is the same file.
    let mut second = Vec::new();
    export_clients(&target.store, &mut second).await.unwrap();
    assert_eq!(
        String::from_utf8(second).unwrap(),
        String::from_utf8(file).unwrap()
    );
}
