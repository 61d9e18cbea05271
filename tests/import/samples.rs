//! The samples of docs/import.md, imported as the page shows them.

use leadgate::import::ImportOptions;
use leadgate_domain::client::ClientKind;

use crate::helpers::spawn_app;
use crate::{by_external, by_name, clients, import, phones};

/// The sample called `name` on docs/import.md, as the bytes of its file.
fn sample(name: &str) -> Vec<u8> {
    let doc = include_str!("../../docs/import.md");
    let marker = doc
        .lines()
        .position(|l| {
            l.strip_prefix("<!-- sample: ")
                .is_some_and(|rest| rest.split_whitespace().next() == Some(name))
        })
        .unwrap_or_else(|| panic!("no sample {name} in docs/import.md"));
    let lines: Vec<&str> = doc.lines().collect();
    let flags = lines[marker];
    assert_eq!(lines[marker + 1], "```text");
    let body: Vec<&str> = lines[marker + 2..]
        .iter()
        .take_while(|l| **l != "```")
        .copied()
        .collect();
    let text = body.join("\n") + "\n";
    if flags.contains("encoding=windows-1251") {
        let (bytes, _, unmappable) = encoding_rs::WINDOWS_1251.encode(&text);
        assert!(!unmappable);
        bytes.into_owned()
    } else if flags.contains(" bom") {
        let mut b = "\u{feff}".as_bytes().to_vec();
        b.extend_from_slice(text.as_bytes());
        b
    } else {
        text.into_bytes()
    }
}

#[tokio::test]
async fn the_import_format_sample() {
    let app = spawn_app().await;
    let r = import(&app, &sample("native"), &ImportOptions::default()).await;
    assert_eq!((r.rows, r.clients, r.created), (3, 2, 2), "{r:?}");
    assert!(r.issues.is_empty(), "{:?}", r.issues);
    let all = clients(&app).await;
    let c = by_external(&all, "c-1");
    assert_eq!(c.kind, ClientKind::Company);
    assert_eq!(c.inn.as_deref(), Some("7707083893"));
    assert_eq!(c.responsible.as_deref(), Some("petrov"));
    assert_eq!(c.contact_persons.len(), 2);
    assert_eq!(phones(c), ["+74951234567", "+79123456789"]);
}

async fn check_1c(bytes: &[u8], format: &str) {
    let app = spawn_app().await;
    let r = import(&app, bytes, &ImportOptions::default()).await;
    assert!(r.format.starts_with(format), "{}", r.format);
    assert_eq!((r.rows, r.clients), (3, 3), "{r:?}");
    assert!(r.issues.is_empty(), "{:?}", r.issues);
    let all = clients(&app).await;
    let vektor = by_name(&all, "ООО «Вектор»");
    assert_eq!(vektor.kind, ClientKind::Company);
    assert_eq!(vektor.inn.as_deref(), Some("7701234560"));
    // «Пётр Петров» is the manager petrov's name.
    assert_eq!(vektor.responsible.as_deref(), Some("petrov"));
    assert_eq!(vektor.contact_persons[0].name, "Сергеев Олег Павлович");
    assert_eq!(phones(vektor), ["+74957654321"]);
    let ip = by_name(&all, "ИП Кузнецова Мария Ивановна");
    assert_eq!(ip.kind, ClientKind::Company);
    assert_eq!(ip.inn.as_deref(), Some("500100732259"));
    assert_eq!(ip.responsible.as_deref(), Some("ivanova"));
    let person = by_name(&all, "Сидоров Николай");
    assert_eq!(person.kind, ClientKind::Person);
    assert_eq!(person.responsible, None);
    assert_eq!(phones(person), ["+79265554433"]);
    // Re-importing the same file changes nothing.
    let again = import(&app, bytes, &ImportOptions::default()).await;
    assert_eq!((again.created, again.updated), (0, 3));
    assert_eq!(clients(&app).await.len(), 3);
}

#[tokio::test]
async fn the_1c_sample_in_windows_1251_with_semicolons() {
    check_1c(&sample("1c"), "CSV, windows-1251, separated by `;`").await;
}

#[tokio::test]
async fn the_1c_sample_as_xlsx() {
    let bytes = sample("1c");
    let (decoded, _, _) = encoding_rs::WINDOWS_1251.decode(&bytes);
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (r, line) in decoded.lines().enumerate() {
        for (c, cell) in line.split(';').enumerate() {
            let (r, c) = (r as u32, c as u16);
            // Excel turns a typed ИНН into a number.
            match cell.parse::<f64>() {
                Ok(n) if r > 0 => sheet.write_number(r, c, n).map(|_| ()),
                _ => sheet.write_string(r, c, cell).map(|_| ()),
            }
            .unwrap();
        }
    }
    let xlsx = book.save_to_buffer().unwrap();
    check_1c(&xlsx, "xlsx").await;
}

#[tokio::test]
async fn the_amocrm_sample_with_bom_and_english_headers() {
    let app = spawn_app().await;
    let r = import(&app, &sample("amocrm"), &ImportOptions::default()).await;
    assert_eq!(r.format, "CSV, UTF-8, separated by `,`");
    assert_eq!((r.rows, r.clients), (2, 2), "{r:?}");
    assert_eq!(r.unused_columns, ["Tags"]);
    assert!(r.issues.is_empty(), "{:?}", r.issues);
    let all = clients(&app).await;
    let sever = by_name(&all, "ООО Север");
    assert_eq!(sever.kind, ClientKind::Company);
    assert_eq!(sever.contact_persons[0].name, "Алексей Морозов");
    assert_eq!(phones(sever), ["+78123004050", "+79213004051"]);
    // The responsible by name and by e-mail.
    assert_eq!(sever.responsible.as_deref(), Some("ivanova"));
    let belova = by_external(&all, "1002");
    assert_eq!(belova.kind, ClientKind::Person);
    assert_eq!(belova.name, "Дарья Белова");
    assert_eq!(belova.responsible.as_deref(), Some("smirnova"));
}

#[tokio::test]
async fn the_bitrix24_sample_tab_separated_with_name_parts() {
    let app = spawn_app().await;
    let r = import(&app, &sample("bitrix24"), &ImportOptions::default()).await;
    assert_eq!(r.format, "CSV, UTF-8, separated by tab");
    assert!(r.issues.is_empty(), "{:?}", r.issues);
    // Two contacts of one company are two persons of one client.
    let all = clients(&app).await;
    assert_eq!(all.len(), 1, "{all:#?}");
    let techno = &all[0];
    assert_eq!(techno.name, "АО Техно");
    assert_eq!(techno.kind, ClientKind::Company);
    let mut names: Vec<&str> = techno
        .contact_persons
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    names.sort();
    assert_eq!(names, ["Егорова Светлана", "Орлов Игорь Семёнович"]);
    assert_eq!(techno.responsible.as_deref(), Some("petrov"));
}

#[tokio::test]
async fn an_unknown_column_is_mapped_with_map() {
    let app = spawn_app().await;
    let csv = "Клиент;Сотовый;Заметки\nИван Орлов;8 912 111 22 33;звонить утром\n";
    let options = ImportOptions {
        map: vec![
            leadgate::import::parse_map("Сотовый=phones").unwrap(),
            leadgate::import::parse_map("Заметки=-").unwrap(),
        ],
        ..ImportOptions::default()
    };
    let r = import(&app, csv.as_bytes(), &options).await;
    assert!(r.unused_columns.is_empty());
    let all = clients(&app).await;
    assert_eq!(phones(by_name(&all, "Иван Орлов")), ["+79121112233"]);
}
