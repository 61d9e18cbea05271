//! A client base file to time `leadgate import clients` on: 1C-style
//! columns, companies with several contact persons, and the dirt of a real
//! export (a bad e-mail in 2 % of rows, an unknown manager in 1 %). Time the
//! import itself as a whole process:
//!
//! ```sh
//! leadgate-bench clients-file --rows 1000000 --out base.csv
//! /usr/bin/time -v leadgate import clients base.csv
//! ```

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 1_000_000)]
    rows: u64,
    /// `.csv` (windows-1251, `;`, as 1C saves it) or `.xlsx`.
    #[arg(long)]
    out: PathBuf,
}

const HEADER: [&str; 6] = [
    "Наименование",
    "ИНН",
    "Контактное лицо",
    "Телефон",
    "Эл. почта",
    "Ответственный",
];
const MANAGERS: [&str; 3] = ["Анна Иванова", "Пётр Петров", "Елена Смирнова"];
const SURNAMES: [&str; 8] = [
    "Иванов",
    "Петров",
    "Сидоров",
    "Смирнов",
    "Кузнецов",
    "Попов",
    "Васильев",
    "Соколов",
];
const NAMES: [&str; 8] = [
    "Александр",
    "Сергей",
    "Дмитрий",
    "Андрей",
    "Алексей",
    "Максим",
    "Иван",
    "Михаил",
];

/// A checksum-valid organisation ИНН for company `n`.
fn inn(n: u64) -> String {
    let base = format!("77{:07}", n % 10_000_000);
    let w = [2u32, 4, 10, 3, 5, 9, 4, 6, 8];
    let sum: u32 = base
        .bytes()
        .zip(w)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    format!("{base}{}", sum % 11 % 10)
}

/// Row `i`: every three rows are the contact persons of one company.
fn row(i: u64) -> [String; 6] {
    let company = i / 3;
    let person = format!(
        "{} {}",
        SURNAMES[(i % 8) as usize],
        NAMES[((i / 8) % 8) as usize]
    );
    let email = if i % 50 == 7 {
        format!("client{i}@mail,ru")
    } else {
        format!("client{i}@example.ru")
    };
    let manager = if i % 100 == 3 {
        "Сотрудник Уволенный".to_string()
    } else {
        MANAGERS[(company % 3) as usize].to_string()
    };
    [
        format!("ООО «Компания {company}»"),
        inn(company),
        person,
        format!(
            "+7 9{:02} {:03}-{:02}-{:02}",
            i % 100,
            (i / 100) % 1000,
            (i / 100_000) % 100,
            i % 97
        ),
        email,
        manager,
    ]
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let xlsx = args.out.extension().is_some_and(|e| e == "xlsx");
    if xlsx {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet_with_constant_memory()?;
        for (c, h) in HEADER.iter().enumerate() {
            sheet.write_string(0, c as u16, *h)?;
        }
        for i in 0..args.rows {
            for (c, cell) in row(i).iter().enumerate() {
                sheet.write_string(i as u32 + 1, c as u16, cell)?;
            }
        }
        book.save(&args.out).context("writing the workbook")?;
    } else {
        let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&args.out)?);
        let mut line = String::new();
        let mut put = |cells: &[&str], out: &mut dyn Write| -> anyhow::Result<()> {
            line.clear();
            line.push_str(&cells.join(";"));
            line.push_str("\r\n");
            let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode(&line);
            out.write_all(&bytes)?;
            Ok(())
        };
        put(&HEADER, &mut out)?;
        for i in 0..args.rows {
            let r = row(i);
            let cells: Vec<&str> = r.iter().map(String::as_str).collect();
            put(&cells, &mut out)?;
        }
        out.flush()?;
    }
    println!("{} rows written to {}", args.rows, args.out.display());
    Ok(())
}
