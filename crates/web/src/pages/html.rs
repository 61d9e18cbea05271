//! Escaping for server-rendered pages. Every value that did not come from a
//! string literal in our code goes through [`Esc`]: names, subjects and texts
//! of appeals are written by strangers and may well contain markup.

use std::fmt;

/// Displays a string escaped for HTML text and double- or single-quoted
/// attribute values.
pub struct Esc<'a>(pub &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut last = 0;
        for (i, c) in self.0.char_indices() {
            let rep = match c {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&quot;",
                '\'' => "&#39;",
                _ => continue,
            };
            f.write_str(&self.0[last..i])?;
            f.write_str(rep)?;
            last = i + c.len_utf8();
        }
        f.write_str(&self.0[last..])
    }
}

/// `Esc` for an optional value, showing a dash when there is none.
pub fn esc_or_dash(value: Option<&str>) -> String {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        Some(v) => Esc(v).to_string(),
        None => "—".to_string(),
    }
}

/// Percent-encodes a value for a query string.
pub fn url_encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// A time in the configured time zone, the way people in the office read it.
pub fn local_time(at: chrono::DateTime<chrono::Utc>, tz: chrono_tz::Tz) -> String {
    at.with_timezone(&tz).format("%d.%m.%Y %H:%M").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_quotes_are_escaped() {
        assert_eq!(
            Esc(r#"<script>alert("x")</script> & 'y'"#).to_string(),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(Esc("Иван Петров").to_string(), "Иван Петров");
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(
            url_encode("/ui/review?item=1&x"),
            "%2Fui%2Freview%3Fitem%3D1%26x"
        );
    }
}
