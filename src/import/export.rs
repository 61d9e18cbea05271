//! `leadgate export clients FILE.csv`: the client base in the import
//! format, one row per contact person, so that importing the file into an
//! empty database gives the same clients, persons and points.

use std::io::Write;

use leadgate_domain::appeal::ContactKind;
use leadgate_domain::client::{Client, ContactPerson, ContactPoint};
use leadgate_store::{StorageError, Store};

/// The import format's own header (docs/import.md).
pub const HEADER: [&str; 10] = [
    "client_id",
    "client_name",
    "client_kind",
    "person_name",
    "phones",
    "emails",
    "telegram",
    "vk",
    "responsible",
    "inn",
];

const PAGE: i64 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot write: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot write: {0}")]
    Csv(#[from] csv::Error),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What was written.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ExportCounts {
    pub clients: u64,
    pub rows: u64,
}

fn column_of(kind: ContactKind) -> usize {
    match kind {
        ContactKind::Phone => 0,
        ContactKind::Email => 1,
        ContactKind::TelegramId | ContactKind::TelegramUsername => 2,
        ContactKind::VkId | ContactKind::VkScreenName => 3,
    }
}

fn point_text(p: &ContactPoint) -> String {
    match p.kind {
        // The import reads a bare number as an id; a screen name of digits
        // only would not come back as one, so ids keep their `id` prefix.
        ContactKind::VkId => format!("id{}", p.value),
        ContactKind::TelegramId => p.value.clone(),
        _ if p.raw.trim().is_empty() => p.value.clone(),
        _ => p.raw.clone(),
    }
}

fn person_row(
    client: &Client,
    person: Option<&ContactPerson>,
    extra: &[ContactPoint],
) -> Vec<String> {
    let mut lists: [Vec<String>; 4] = Default::default();
    let points = person.map(|p| p.contact_points.as_slice()).unwrap_or(&[]);
    for p in points.iter().chain(extra) {
        let text = point_text(p);
        let list = &mut lists[column_of(p.kind)];
        if !list.contains(&text) {
            list.push(text);
        }
    }
    let mut inn = client.inn.clone().unwrap_or_default();
    for d in person.map(|p| p.dropped_points.as_slice()).unwrap_or(&[]) {
        let i = match d.field.as_str() {
            "phone" => 0,
            "email" => 1,
            "telegram" => 2,
            "vk" => 3,
            "inn" if inn.is_empty() => {
                inn = d.raw.clone();
                continue;
            }
            _ => continue,
        };
        lists[i].push(d.raw.clone());
    }
    let responsible = client
        .responsible
        .clone()
        .or_else(|| client.imported_responsible.clone())
        .unwrap_or_default();
    let [phones, emails, telegram, vk] = lists;
    vec![
        client
            .external_id
            .clone()
            .unwrap_or_else(|| format!("leadgate:{}", client.id)),
        client.name.clone(),
        client.kind.as_str().to_string(),
        person.map(|p| p.name.clone()).unwrap_or_default(),
        phones.join(";"),
        emails.join(";"),
        telegram.join(";"),
        vk.join(";"),
        responsible,
        inn,
    ]
}

pub async fn export_clients(store: &Store, out: impl Write) -> Result<ExportCounts, ExportError> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(HEADER)?;
    let mut counts = ExportCounts::default();
    let mut after = 0;
    loop {
        let page = store.clients_page(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for client in &page {
            counts.clients += 1;
            // Points of no one person (a switchboard) ride with the first.
            let mut extra = client.contact_points.as_slice();
            if client.contact_persons.is_empty() {
                w.write_record(person_row(client, None, extra))?;
                counts.rows += 1;
                continue;
            }
            for person in &client.contact_persons {
                w.write_record(person_row(client, Some(person), extra))?;
                extra = &[];
                counts.rows += 1;
            }
        }
    }
    w.flush()?;
    Ok(counts)
}
