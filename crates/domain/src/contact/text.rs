//! Small string helpers shared by the normalisers.
//!
//! Everything here works on `char`s rather than bytes so that hostile input
//! (emoji, mixed scripts, combining marks) can never make us slice inside a
//! UTF-8 sequence.

/// Longest prefix of `s` that has at most `max_chars` characters.
///
/// Used to bound the work done on hostile input before any real parsing.
pub(super) fn truncate_chars(s: &str, max_chars: usize) -> &str {
    match s.char_indices().nth(max_chars) {
        Some((idx, _)) => &s[..idx],
        None => s,
    }
}

/// Longest prefix of `s` that is at most `max_bytes` long and ends on a char
/// boundary.
pub(super) fn truncate_bytes(s: &str, max_bytes: usize) -> &str {
    if s.len() <= max_bytes {
        return s;
    }
    let mut end = max_bytes;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Simple (one-to-one) lowercase; the multi-char expansions of
/// `char::to_lowercase` only matter for letters we never compare on.
pub(super) fn lower(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    let mut it = c.to_lowercase();
    match (it.next(), it.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

/// Case-insensitive `starts_with` for a lowercase `needle`, without
/// allocating a lowercased copy of the haystack.
pub(super) fn starts_with_ci(haystack: &str, needle: &str) -> bool {
    let mut h = haystack.chars();
    for n in needle.chars() {
        match h.next() {
            Some(c) if lower(c) == n => {}
            _ => return false,
        }
    }
    true
}

/// Strip `prefix` case-insensitively, returning the rest.
pub(super) fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    if !starts_with_ci(s, prefix) {
        return None;
    }
    let n = prefix.chars().count();
    match s.char_indices().nth(n) {
        Some((idx, _)) => Some(&s[idx..]),
        None => Some(""),
    }
}

pub(super) fn is_cyrillic(c: char) -> bool {
    matches!(c, '\u{0400}'..='\u{04FF}' | '\u{0500}'..='\u{052F}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_chars("Привет", 3), "При");
        assert_eq!(truncate_chars("ab", 5), "ab");
        assert_eq!(truncate_bytes("Привет", 3), "П");
        assert_eq!(truncate_bytes("😀x", 2), "");
    }

    #[test]
    fn case_insensitive_prefix() {
        assert!(starts_with_ci("ДОБ. 12", "доб"));
        assert!(starts_with_ci("Ext 12", "ext"));
        assert!(!starts_with_ci("до", "доб"));
        assert_eq!(strip_prefix_ci("MAILTO:x@y.ru", "mailto:"), Some("x@y.ru"));
        assert_eq!(strip_prefix_ci("mail", "mailto:"), None);
    }
}
