//! Minimal HTML handling for mail bodies: HTML → plain text and two-cell
//! table rows → key/value pairs (Bitrix/Tilda notifications).
//!
//! A full HTML parser is not needed here: mail HTML is rendered by the
//! operator's UI from the stored original, we only need readable text for
//! quote/signature splitting and form fields. The tokenizer is linear,
//! never fails, and treats anything it does not understand as text.

use super::text::collapse_ws;

/// Input beyond this many bytes is ignored: marketing HTML with inline
/// base64 images can be megabytes, and the text we need is at the top.
pub(crate) const MAX_HTML_BYTES: usize = 1024 * 1024;

#[derive(Debug, PartialEq, Eq)]
enum Token<'a> {
    Text(&'a str),
    Open(String),
    Close(String),
}

/// Elements whose content is never visible text.
const RAW_TEXT_ELEMENTS: &[&str] = &["script", "style", "title", "xml", "template"];

/// Elements that start a new line in the rendered text.
const BLOCK_ELEMENTS: &[&str] = &[
    "p", "div", "li", "tr", "table", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "hr",
    "section", "article", "header", "footer", "dt", "dd", "dl", "address", "center", "form",
    "fieldset", "tbody", "thead", "tfoot", "caption", "nav", "aside", "main",
];

/// Case-insensitive ASCII search; `needle` must be lowercase.
fn find_ci(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    (from..=haystack.len() - needle.len()).find(|&i| {
        haystack[i..i + needle.len()]
            .iter()
            .zip(needle)
            .all(|(a, b)| a.to_ascii_lowercase() == *b)
    })
}

/// Splits HTML into text runs and tags. Comments, doctype and processing
/// instructions are dropped; the content of raw-text elements is skipped.
fn tokenize(html: &str) -> Vec<Token<'_>> {
    let bytes = html.as_bytes();
    let mut tokens = Vec::new();
    let mut pos = 0;
    let mut text_start = 0;
    while pos < bytes.len() {
        if bytes[pos] != b'<' {
            pos += 1;
            continue;
        }
        let next = bytes.get(pos + 1).copied().unwrap_or(b' ');
        let is_tag = next.is_ascii_alphabetic() || next == b'/' || next == b'!' || next == b'?';
        if !is_tag {
            // A literal '<' ("цена < 1000"): keep it as text.
            pos += 1;
            continue;
        }
        if text_start < pos {
            tokens.push(Token::Text(&html[text_start..pos]));
        }
        if bytes[pos..].starts_with(b"<!--") {
            // Outlook hides whole <xml> islands in conditional comments.
            pos = find_ci(bytes, b"-->", pos + 4).map_or(bytes.len(), |e| e + 3);
            text_start = pos;
            continue;
        }
        let end = tag_end(bytes, pos + 1);
        let inner = &html[pos + 1..end.min(bytes.len())];
        pos = (end + 1).min(bytes.len());
        text_start = pos;
        if next == b'!' || next == b'?' {
            continue;
        }
        let (closing, rest) = match inner.strip_prefix('/') {
            Some(rest) => (true, rest),
            None => (false, inner),
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == ':' || *c == '-')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if name.is_empty() {
            continue;
        }
        if closing {
            tokens.push(Token::Close(name));
            continue;
        }
        let self_closing = inner.ends_with('/');
        if !self_closing && RAW_TEXT_ELEMENTS.contains(&name.as_str()) {
            let close = format!("</{name}");
            match find_ci(bytes, close.as_bytes(), pos) {
                Some(at) => {
                    pos = tag_end(bytes, at + 1).saturating_add(1).min(bytes.len());
                }
                // Unclosed <style>: everything after it is CSS, drop it.
                None => pos = bytes.len(),
            }
            text_start = pos;
            continue;
        }
        tokens.push(Token::Open(name));
    }
    if text_start < bytes.len() {
        tokens.push(Token::Text(&html[text_start..]));
    }
    tokens
}

/// Index of the `>` closing the tag that starts before `from`, honouring
/// quoted attribute values; `bytes.len()` when the tag never closes.
fn tag_end(bytes: &[u8], from: usize) -> usize {
    let mut quote: Option<u8> = None;
    let mut i = from;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b'>' => return i,
            None => {}
        }
        i += 1;
    }
    bytes.len()
}

/// Decodes character references. Unknown named entities are left as they
/// are (a visible "&foo;" is better than silently eating text).
pub(crate) fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let semi = rest
            .char_indices()
            .take(12)
            .find(|(_, c)| *c == ';')
            .map(|(i, _)| i);
        let decoded = semi.and_then(|semi| entity(&rest[1..semi]).map(|c| (c, semi)));
        match decoded {
            Some((c, semi)) => {
                if let Some(c) = c {
                    out.push(c);
                }
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// `Some(None)` means "known entity that renders as nothing" (soft hyphen).
fn entity(name: &str) -> Option<Option<char>> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse::<u32>().ok()?,
        };
        return Some(Some(char::from_u32(code).unwrap_or('\u{fffd}')));
    }
    let c = match name {
        "amp" | "AMP" => '&',
        "lt" | "LT" => '<',
        "gt" | "GT" => '>',
        "quot" | "QUOT" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        "laquo" => '«',
        "raquo" => '»',
        "mdash" => '—',
        "ndash" => '–',
        "hellip" => '…',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "euro" => '€',
        "rsquo" => '’',
        "lsquo" => '‘',
        "rdquo" => '”',
        "ldquo" => '“',
        "bdquo" => '„',
        "bull" => '•',
        "middot" => '·',
        "times" => '×',
        "deg" => '°',
        "numero" => '№',
        "rub" => '₽',
        "shy" | "zwnj" | "zwj" | "lrm" | "rlm" => return Some(None),
        _ => return None,
    };
    Some(Some(c))
}

/// Text builder that collapses HTML whitespace, keeps explicit line breaks
/// and prefixes lines inside `<blockquote>` with "> " so the quote splitter
/// sees HTML quotes (Gmail, Yandex, mail.ru) exactly like plain-text ones.
struct TextOut {
    out: String,
    quote_depth: usize,
    at_line_start: bool,
    pending_space: bool,
    max_bytes: usize,
}

impl TextOut {
    fn newline(&mut self) {
        // At most one blank line in a row: nested <div><p> produce many.
        if !self.out.ends_with("\n\n") && !self.out.is_empty() {
            self.out.push('\n');
        }
        self.at_line_start = true;
        self.pending_space = false;
    }

    fn soft_break(&mut self) {
        if !self.at_line_start {
            self.newline();
        }
    }

    fn text(&mut self, text: &str, preformatted: bool) {
        if self.out.len() >= self.max_bytes {
            return;
        }
        if preformatted {
            for (i, line) in text.split('\n').enumerate() {
                if i > 0 {
                    self.newline();
                }
                if !line.is_empty() {
                    self.word(line);
                }
            }
            return;
        }
        if text.starts_with(|c: char| c.is_whitespace()) {
            self.pending_space = true;
        }
        let collapsed = collapse_ws(text);
        if collapsed.is_empty() && text.contains('\u{a0}') && self.at_line_start {
            // `<div>&nbsp;</div>` is how web mailers draw an empty line.
            self.word("");
            return;
        }
        if !collapsed.is_empty() {
            self.word(&collapsed);
            self.pending_space = text.ends_with(|c: char| c.is_whitespace());
        }
    }

    fn word(&mut self, w: &str) {
        if self.at_line_start {
            for _ in 0..self.quote_depth.min(8) {
                self.out.push_str("> ");
            }
            self.at_line_start = false;
        } else if self.pending_space {
            self.out.push(' ');
        }
        self.pending_space = false;
        self.out.push_str(w);
    }
}

/// Converts an HTML body to plain text for splitting and display in logs.
pub(crate) fn html_to_text(html: &str, max_bytes: usize) -> String {
    let html = super::text::truncate_at_char(html, MAX_HTML_BYTES);
    let mut out = TextOut {
        out: String::new(),
        quote_depth: 0,
        at_line_start: true,
        pending_space: false,
        max_bytes,
    };
    let mut pre_depth = 0usize;
    for token in tokenize(html) {
        match token {
            Token::Text(t) => {
                let decoded = decode_entities(t);
                out.text(&decoded, pre_depth > 0);
            }
            Token::Open(name) => match name.as_str() {
                "br" => out.newline(),
                "blockquote" => {
                    out.soft_break();
                    out.quote_depth += 1;
                }
                "pre" => {
                    out.soft_break();
                    pre_depth += 1;
                }
                "td" | "th" => out.pending_space = true,
                "img" => {}
                n if BLOCK_ELEMENTS.contains(&n) => out.soft_break(),
                _ => {}
            },
            Token::Close(name) => match name.as_str() {
                "blockquote" => {
                    out.soft_break();
                    out.quote_depth = out.quote_depth.saturating_sub(1);
                }
                "pre" => {
                    out.soft_break();
                    pre_depth = pre_depth.saturating_sub(1);
                }
                "p" => {
                    out.soft_break();
                    out.newline();
                }
                n if BLOCK_ELEMENTS.contains(&n) => out.soft_break(),
                _ => {}
            },
        }
    }
    let text = super::text::truncate_at_char(&out.out, max_bytes);
    // Drop trailing spaces and blank lines at the ends; the splitter works
    // on lines and a trailing "> " would look like an empty quote.
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    super::text::trim_block(&lines)
}

/// Rows of HTML tables that have exactly two non-empty cells, as
/// (first cell, second cell) with whitespace collapsed. This is how Bitrix
/// and Tilda render "field | value" notifications. Nested tables (layout
/// tables around the data table) are handled by looking only at the
/// innermost row being built.
pub(crate) fn table_pairs(html: &str, max_pairs: usize) -> Vec<(String, String)> {
    let html = super::text::truncate_at_char(html, MAX_HTML_BYTES);
    let mut pairs = Vec::new();
    // Stack of rows under construction: each row is its list of cells.
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut in_cell = false;
    for token in tokenize(html) {
        match token {
            Token::Open(name) => match name.as_str() {
                "tr" => {
                    rows.push(Vec::new());
                    in_cell = false;
                }
                "td" | "th" => {
                    if let Some(row) = rows.last_mut() {
                        row.push(String::new());
                        in_cell = true;
                    }
                }
                "br" | "p" | "div" if in_cell => {
                    if let Some(cell) = rows.last_mut().and_then(|r| r.last_mut()) {
                        cell.push('\n');
                    }
                }
                _ => {}
            },
            Token::Close(name) => match name.as_str() {
                "td" | "th" => in_cell = false,
                "tr" => {
                    if let Some(row) = rows.pop() {
                        push_pair(&row, &mut pairs);
                    }
                    in_cell = !rows.is_empty();
                    if pairs.len() >= max_pairs {
                        break;
                    }
                }
                _ => {}
            },
            Token::Text(t) => {
                if let Some(cell) = rows.last_mut().and_then(|r| r.last_mut()) {
                    if in_cell && cell.len() < 8 * 1024 {
                        cell.push_str(&decode_entities(t));
                    }
                }
            }
        }
    }
    // Rows left unclosed at the end (sloppy HTML without </tr>).
    while let Some(row) = rows.pop() {
        if pairs.len() >= max_pairs {
            break;
        }
        push_pair(&row, &mut pairs);
    }
    pairs
}

fn push_pair(row: &[String], pairs: &mut Vec<(String, String)>) {
    let cells: Vec<String> = row
        .iter()
        .map(|c| {
            c.lines()
                .map(collapse_ws)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .filter(|c| !c.is_empty())
        .collect();
    if let [key, value] = cells.as_slice() {
        pairs.push((key.clone(), value.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_blocks_breaks_and_entities() {
        let html = "<html><head><title>x</title><style>p{color:red}</style></head>\
            <body><p>Добрый&nbsp;день!</p><div>Хотим заказать &laquo;Пакет&raquo; &amp; доставку.<br>\
            Спасибо</div><ul><li>один</li><li>два</li></ul><script>alert(1)</script>\
            <!--[if mso]><xml>junk</xml><![endif]-->цена &lt; 1000 &#8381; &#x20BD;</body></html>";
        let text = html_to_text(html, 10_000);
        assert_eq!(
            text,
            "Добрый день!\n\nХотим заказать «Пакет» & доставку.\nСпасибо\nодин\nдва\nцена < 1000 ₽ ₽"
        );
    }

    #[test]
    fn blockquote_becomes_angle_quote() {
        let html = "<div>Да, интересно.</div><div class=\"gmail_quote\">\
            <div>On Mon, 3 Jun 2024 at 10:00, Shop &lt;shop@example.ru&gt; wrote:<br></div>\
            <blockquote style=\"margin:0\">Предлагаем скидку<br>до пятницы</blockquote></div>";
        let text = html_to_text(html, 10_000);
        assert_eq!(
            text,
            "Да, интересно.\nOn Mon, 3 Jun 2024 at 10:00, Shop <shop@example.ru> wrote:\n> Предлагаем скидку\n> до пятницы"
        );
    }

    #[test]
    fn hostile_html_does_not_hang_or_panic() {
        for html in [
            "<",
            "<<<<",
            "<a href=\"never closed",
            "<style>body{}",
            "<!-- open comment",
            "&#99999999999; &#xZZ; &unknown; &",
            "<td>cell outside table</td></tr></tr>",
            "<p\n>",
        ] {
            let _ = html_to_text(html, 100);
            let _ = table_pairs(html, 10);
        }
        assert_eq!(html_to_text("a &unknown; b", 100), "a &unknown; b");
        let deep = "<blockquote>".repeat(10_000) + "x";
        assert!(html_to_text(&deep, 100).starts_with("> > "));
    }

    #[test]
    fn two_cell_rows_become_pairs() {
        let html = "<table width=100%><tr><td><table>\
            <tr><th colspan=2>Новая заявка</th></tr>\
            <tr><td>Имя:</td><td><b>Иван</b> Петров</td></tr>\
            <tr><td>Телефон</td><td>+7 (916) 123-45-67</td></tr>\
            <tr><td>Комментарий</td><td>Строка 1<br>Строка 2</td></tr>\
            <tr><td></td><td>пусто</td></tr>\
            </table></td></tr></table>";
        let pairs = table_pairs(html, 100);
        assert_eq!(
            pairs,
            vec![
                ("Имя:".to_owned(), "Иван Петров".to_owned()),
                ("Телефон".to_owned(), "+7 (916) 123-45-67".to_owned()),
                ("Комментарий".to_owned(), "Строка 1\nСтрока 2".to_owned()),
            ]
        );
    }
}
