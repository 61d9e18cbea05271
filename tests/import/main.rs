//! `leadgate import clients` and `export clients` on real formats and dirty
//! rows, on SQLite and PostgreSQL.

#[path = "../helpers/mod.rs"]
mod helpers;

mod dirty;
mod journal;
mod roundtrip;
mod samples;

use leadgate::import::{import_clients, ImportOptions, ImportReport};
use leadgate_domain::client::Client;

use helpers::TestApp;

pub async fn import(app: &TestApp, bytes: &[u8], options: &ImportOptions) -> ImportReport {
    import_clients(&app.store, &app.settings, bytes, options, None)
        .await
        .expect("import")
}

pub async fn clients(app: &TestApp) -> Vec<Client> {
    app.store.clients_page(0, 10_000).await.expect("clients")
}

pub fn by_external<'a>(clients: &'a [Client], id: &str) -> &'a Client {
    clients
        .iter()
        .find(|c| c.external_id.as_deref() == Some(id))
        .unwrap_or_else(|| panic!("no client {id} in {clients:#?}"))
}

pub fn by_name<'a>(clients: &'a [Client], name: &str) -> &'a Client {
    clients
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no client {name} in {clients:#?}"))
}

/// Every phone (E.164) of a client, sorted.
pub fn phones(c: &Client) -> Vec<String> {
    let mut out: Vec<String> = c
        .contact_persons
        .iter()
        .flat_map(|p| &p.contact_points)
        .chain(&c.contact_points)
        .filter(|p| p.kind.as_str() == "phone")
        .map(|p| p.value.clone())
        .collect();
    out.sort();
    out
}
