//! Charset repair for mail that does not say (or lies about) its charset.
//!
//! mail-parser decodes declared charsets itself (windows-1251, KOI8-R and
//! the rest of the single-byte Cyrillic family are built in). What it
//! cannot know is what raw 8-bit bytes mean when nothing declares them:
//! it then falls back to lossy UTF-8 and Russian text becomes U+FFFD.
//! Two places matter in practice: 8-bit header values (old Outlook
//! Express, The Bat!, 1C and PHP mail() scripts write cp1251 names and
//! subjects raw) and text parts without a charset parameter.

use std::borrow::Cow;

use mail_parser::decoders::{base64::base64_decode, quoted_printable::quoted_printable_decode};
use mail_parser::{Encoding, Message, MessagePart, MimeHeaders};

use super::text::{decode_unlabelled, guess_cyrillic};

/// When some header section of the message holds bytes that are not
/// UTF-8, returns a copy of `raw` with those header lines transcoded from
/// the guessed Cyrillic charset to UTF-8, ready to be parsed again.
/// Bodies are copied untouched: their charset is handled per part.
pub(crate) fn repair_8bit_headers(raw: &[u8], message: &Message<'_>) -> Option<Vec<u8>> {
    let mut regions: Vec<(usize, usize)> = message
        .parts
        .iter()
        .map(|p| (p.offset_header as usize, p.offset_body as usize))
        .filter(|&(start, end)| start < end && end <= raw.len())
        .collect();
    regions.sort_unstable();
    // Header sections never overlap; drop anything odd a broken message
    // might produce rather than copy bytes twice.
    let mut last_end = 0;
    regions.retain(|&(start, end)| {
        let keep = start >= last_end;
        if keep {
            last_end = end;
        }
        keep
    });
    let bad_lines: Vec<&[u8]> = regions
        .iter()
        .flat_map(|&(s, e)| raw[s..e].split(|&b| b == b'\n'))
        .filter(|line| std::str::from_utf8(line).is_err())
        .collect();
    if bad_lines.is_empty() {
        return None;
    }
    // One guess for the whole message: a single short header ("Иван")
    // carries too few letters to tell windows-1251 from KOI8-R reliably.
    let sample: Vec<u8> = bad_lines.concat();
    let charset = guess_cyrillic(&sample);

    let mut out = Vec::with_capacity(raw.len() + sample.len());
    let mut pos = 0;
    for (start, end) in regions {
        out.extend_from_slice(&raw[pos..start]);
        for line in raw[start..end].split_inclusive(|&b| b == b'\n') {
            match std::str::from_utf8(line) {
                Ok(_) => out.extend_from_slice(line),
                Err(_) => out.extend_from_slice(charset.decode(line).as_bytes()),
            }
        }
        pos = end;
    }
    out.extend_from_slice(&raw[pos..]);
    Some(out)
}

/// The decoded text of a text part, re-decoded from the raw bytes when
/// mail-parser had to guess UTF-8 and failed (U+FFFD in the result while
/// the part declared no charset, or declared UTF-8/ASCII but is 8-bit
/// Cyrillic — a classic of PHP form mailers).
pub(crate) fn part_text<'a>(message: &'a Message<'a>, part: &'a MessagePart<'a>) -> Cow<'a, str> {
    let text: &str = match &part.body {
        mail_parser::PartType::Text(t) | mail_parser::PartType::Html(t) => t.as_ref(),
        _ => return Cow::Borrowed(""),
    };
    if !text.contains('\u{fffd}') {
        return Cow::Borrowed(text);
    }
    let declared = part
        .content_type()
        .and_then(|ct| ct.attribute("charset"))
        .map(|c| c.trim().to_ascii_lowercase());
    let guessable = match declared.as_deref() {
        None => true,
        Some(c) => matches!(c, "utf-8" | "utf8" | "us-ascii" | "ascii" | ""),
    };
    if !guessable {
        return Cow::Borrowed(text);
    }
    let raw = message
        .raw_message
        .get(part.offset_body as usize..part.offset_end as usize);
    let Some(raw) = raw else {
        return Cow::Borrowed(text);
    };
    let bytes: Option<Cow<'_, [u8]>> = match part.encoding {
        Encoding::None => Some(Cow::Borrowed(raw)),
        Encoding::QuotedPrintable => quoted_printable_decode(raw).map(Cow::Owned),
        Encoding::Base64 => base64_decode(raw).map(Cow::Owned),
    };
    match bytes {
        Some(bytes) => Cow::Owned(decode_unlabelled(&bytes)),
        None => Cow::Borrowed(text),
    }
}
