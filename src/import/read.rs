//! Reading a client file into rows of text: CSV (`,` `;` or tab, found
//! from the header line; UTF-8 with or without BOM, UTF-16 with BOM,
//! windows-1251 found or named) or `.xlsx` (the first sheet).

use std::borrow::Cow;
use std::io::Cursor;

use calamine::{DataRef, Reader, Xlsx};
use encoding_rs::Encoding;

/// One data row as the file has it; `line` is the file's own line number
/// (the header is line 1), the spreadsheet's row number for `.xlsx`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRow {
    pub line: u64,
    pub cells: Vec<String>,
}

/// A row the reader could not split into cells (a broken quote).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadableRow {
    pub line: u64,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv { delimiter: u8 },
    Xlsx,
}

impl Format {
    pub fn describe(self, encoding: &'static Encoding) -> String {
        match self {
            Format::Xlsx => "xlsx".into(),
            Format::Csv { delimiter } => format!(
                "CSV, {}, separated by {}",
                encoding.name(),
                match delimiter {
                    b'\t' => "tab".to_string(),
                    d => format!("`{}`", d as char),
                }
            ),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("unknown encoding `{0}` (try utf-8 or windows-1251)")]
    UnknownEncoding(String),
    #[error("the file is empty")]
    Empty,
    #[error("cannot read the spreadsheet: {0}")]
    Xlsx(String),
}

/// The header and the rows of a file, given to `row` one at a time so a
/// large file is never held as rows.
pub struct Table {
    pub header: Vec<String>,
    pub format: Format,
    pub encoding: &'static Encoding,
}

/// Zip files start so; an `.xlsx` is one.
fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04")
}

/// The file's text: a BOM wins, then a named encoding, then UTF-8 if the
/// bytes are valid UTF-8, else windows-1251 (what 1C and Excel write on a
/// Russian Windows).
pub fn decode<'a>(
    bytes: &'a [u8],
    named: Option<&str>,
) -> Result<(Cow<'a, str>, &'static Encoding), ReadError> {
    if let Some((enc, bom)) = Encoding::for_bom(bytes) {
        let (text, _) = enc.decode_without_bom_handling(&bytes[bom..]);
        return Ok((text, enc));
    }
    let enc = match named {
        Some(label) => Encoding::for_label(label.trim().as_bytes())
            .ok_or_else(|| ReadError::UnknownEncoding(label.to_string()))?,
        None if std::str::from_utf8(bytes).is_ok() => encoding_rs::UTF_8,
        None => encoding_rs::WINDOWS_1251,
    };
    let (text, _) = enc.decode_without_bom_handling(bytes);
    Ok((text, enc))
}

/// The separator the header line uses most, outside quotes.
pub fn detect_delimiter(text: &str) -> u8 {
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            '\n' | '\r' if !quoted => break,
            ',' if !quoted => counts[0] += 1,
            ';' if !quoted => counts[1] += 1,
            '\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let candidates = [b',', b';', b'\t'];
    let best = (0..3).max_by_key(|&i| (counts[i], 3 - i)).unwrap_or(0);
    if counts[best] == 0 {
        b','
    } else {
        candidates[best]
    }
}

/// Reads `bytes`, calls `on_header` once and then `on_row` for every data
/// row (or `on_bad` for one that cannot be split), in file order.
pub fn read(
    bytes: &[u8],
    encoding: Option<&str>,
    on_header: &mut dyn FnMut(&Table),
    on_row: &mut dyn FnMut(SourceRow, u64),
    on_bad: &mut dyn FnMut(UnreadableRow),
) -> Result<Table, ReadError> {
    if bytes.is_empty() {
        return Err(ReadError::Empty);
    }
    if is_zip(bytes) {
        return read_xlsx(bytes, on_header, on_row);
    }
    let (text, enc) = decode(bytes, encoding)?;
    let delimiter = detect_delimiter(&text);
    let mut csv = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(false)
        .from_reader(text.as_bytes());
    let mut record = csv::StringRecord::new();
    let mut header: Option<Table> = None;
    loop {
        let line = csv.position().line();
        match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                if header.is_some() {
                    on_bad(UnreadableRow {
                        line,
                        reason: e.to_string(),
                    });
                    continue;
                }
                return Err(ReadError::Xlsx(e.to_string()));
            }
        }
        let cells: Vec<String> = record.iter().map(str::to_string).collect();
        match &header {
            None => {
                let table = Table {
                    header: cells,
                    format: Format::Csv { delimiter },
                    encoding: enc,
                };
                on_header(&table);
                header = Some(table);
            }
            Some(_) => on_row(SourceRow { line, cells }, csv.position().byte()),
        }
    }
    header.ok_or(ReadError::Empty)
}

fn cell_text(value: &DataRef<'_>) -> String {
    match value {
        DataRef::Empty | DataRef::Error(_) => String::new(),
        DataRef::String(s) | DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
        DataRef::SharedString(s) => (*s).to_string(),
        DataRef::Int(i) => i.to_string(),
        // Phones and ИНН typed into a number cell come back as floats.
        DataRef::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        DataRef::Float(f) => f.to_string(),
        DataRef::Bool(b) => b.to_string(),
        DataRef::DateTime(d) => d.as_f64().to_string(),
    }
}

fn read_xlsx(
    bytes: &[u8],
    on_header: &mut dyn FnMut(&Table),
    on_row: &mut dyn FnMut(SourceRow, u64),
) -> Result<Table, ReadError> {
    let mut book: Xlsx<_> =
        Xlsx::new(Cursor::new(bytes)).map_err(|e| ReadError::Xlsx(e.to_string()))?;
    let sheet = book
        .sheet_names()
        .into_iter()
        .next()
        .ok_or_else(|| ReadError::Xlsx("the workbook has no sheet".into()))?;
    let mut cells = book
        .worksheet_cells_reader(&sheet)
        .map_err(|e| ReadError::Xlsx(e.to_string()))?;
    let mut header: Option<Table> = None;
    let mut row: Vec<String> = Vec::new();
    let mut row_no: Option<u32> = None;
    let mut emitted = 0u64;
    let mut flush = |row_no: u32, row: &mut Vec<String>, header: &mut Option<Table>| {
        let cells = std::mem::take(row);
        match header {
            None => {
                let table = Table {
                    header: cells,
                    format: Format::Xlsx,
                    encoding: encoding_rs::UTF_8,
                };
                on_header(&table);
                *header = Some(table);
            }
            Some(_) => {
                emitted += 1;
                on_row(
                    SourceRow {
                        line: u64::from(row_no) + 1,
                        cells,
                    },
                    emitted,
                )
            }
        }
    };
    while let Some(cell) = cells
        .next_cell()
        .map_err(|e| ReadError::Xlsx(e.to_string()))?
    {
        let (r, c) = cell.get_position();
        if row_no != Some(r) {
            if let Some(prev) = row_no {
                flush(prev, &mut row, &mut header);
            }
            row_no = Some(r);
        }
        let c = c as usize;
        if c >= 4096 {
            continue;
        }
        if row.len() <= c {
            row.resize(c + 1, String::new());
        }
        row[c] = cell_text(cell.get_value());
    }
    if let Some(prev) = row_no {
        flush(prev, &mut row, &mut header);
    }
    header.ok_or(ReadError::Empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiter_from_the_header_line() {
        assert_eq!(detect_delimiter("a,b,c\n1;2;3;4;5"), b',');
        assert_eq!(detect_delimiter("Наименование;ИНН;Телефон\n"), b';');
        assert_eq!(detect_delimiter("ID\tName\tPhone\n"), b'\t');
        assert_eq!(detect_delimiter("\"a;b\",c\n"), b',');
        assert_eq!(detect_delimiter("single\n"), b',');
    }

    #[test]
    fn encodings() {
        let (t, e) = decode("\u{feff}Имя".as_bytes(), None).unwrap();
        assert_eq!((t.as_ref(), e), ("Имя", encoding_rs::UTF_8));
        let (cp, _, _) = encoding_rs::WINDOWS_1251.encode("Телефон;ИНН");
        let (t, e) = decode(&cp, None).unwrap();
        assert_eq!((t.as_ref(), e), ("Телефон;ИНН", encoding_rs::WINDOWS_1251));
        let (t, _) = decode(&cp, Some("windows-1251")).unwrap();
        assert_eq!(t, "Телефон;ИНН");
        assert!(decode(b"x", Some("klingon")).is_err());
    }
}
