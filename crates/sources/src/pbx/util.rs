//! Small helpers shared by the providers. Private to the module.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use super::PbxError;

/// Constant-time equality for secrets. Lengths are not secret (and `subtle`
/// returns false for different lengths without comparing).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// `application/x-www-form-urlencoded` body as a JSON object, so that every
/// provider keeps `raw` in one shape. A repeated field (`user[]=a&user[]=b`)
/// becomes an array; a single one stays a string.
pub(crate) fn form_to_json(body: &[u8]) -> Value {
    let mut map = Map::new();
    for (k, v) in form_urlencoded::parse(body) {
        let v = Value::String(v.into_owned());
        match map.get_mut(k.as_ref()) {
            None => {
                map.insert(k.into_owned(), v);
            }
            Some(Value::Array(items)) => items.push(v),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, v]);
            }
        }
    }
    Value::Object(map)
}

/// Parses a JSON body; the error names `body` as the offending field.
pub(crate) fn parse_json_body(body: &[u8]) -> Result<Value, PbxError> {
    serde_json::from_slice(body).map_err(|e| PbxError::bad("body", format!("invalid JSON: {e}")))
}

/// Follows a dotted path (`"from.number"`, `"items.0.id"`) into a JSON value.
/// A key that itself contains dots is tried whole first, so form fields such
/// as `"user[]"` or `"a.b"` also work.
pub(crate) fn json_path<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    if let Some(v) = value.as_object().and_then(|m| m.get(path)) {
        return Some(v);
    }
    let mut cur = value;
    for part in path.split('.') {
        cur = match cur {
            Value::Object(m) => m.get(part)?,
            Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Scalar as text: strings as-is (trimmed), numbers and booleans printed, an
/// array by its first element. Empty strings and null count as absent
/// because providers send `""` for "not applicable".
pub(crate) fn value_str(v: &Value) -> Option<String> {
    let s = match v {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Array(items) => return items.iter().find_map(value_str),
        Value::Null | Value::Object(_) => return None,
    };
    (!s.is_empty()).then_some(s)
}

/// Text at `path`, absent when missing or empty.
pub(crate) fn get_str(value: &Value, path: &str) -> Option<String> {
    json_path(value, path).and_then(value_str)
}

/// Text at `path`, or 400 naming `field_label`.
pub(crate) fn req_str(value: &Value, path: &str, field_label: &str) -> Result<String, PbxError> {
    get_str(value, path).ok_or_else(|| PbxError::missing(field_label))
}

/// Non-negative integer at `path`; accepts JSON numbers and numeric strings
/// (form fields are always strings). Fractions are truncated because some
/// PBXes send `"12.0"`. Absent → `Ok(None)`; garbage → 400.
pub(crate) fn get_u64(
    value: &Value,
    path: &str,
    field_label: &str,
) -> Result<Option<u64>, PbxError> {
    let Some(v) = json_path(value, path) else {
        return Ok(None);
    };
    let parsed = match v {
        Value::Null => return Ok(None),
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .map(|f| f as u64)
        }),
        Value::String(s) if s.trim().is_empty() => return Ok(None),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<u64>().ok().or_else(|| {
                s.parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite() && *f >= 0.0)
                    .map(|f| f as u64)
            })
        }
        _ => None,
    };
    parsed
        .map(Some)
        .ok_or_else(|| PbxError::bad(field_label, "not a non-negative integer"))
}

/// Seconds as `u32`, saturating: a bogus 100-year duration must not wrap.
pub(crate) fn secs_u32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// `start` plus `secs`, refused past the end of representable time: the
/// provider's numbers are outside input, and `DateTime + TimeDelta` panics on
/// overflow, which would take the request's task down.
pub(crate) fn end_of(
    start: DateTime<Utc>,
    secs: u32,
    field_label: &str,
) -> Result<DateTime<Utc>, PbxError> {
    start
        .checked_add_signed(chrono::Duration::seconds(i64::from(secs)))
        .ok_or_else(|| PbxError::bad(field_label, "start plus duration is out of range"))
}

/// Unix seconds → UTC; 0 means "not set" for Mango-style timestamps.
pub(crate) fn unix_secs(secs: u64, field_label: &str) -> Result<Option<DateTime<Utc>>, PbxError> {
    if secs == 0 {
        return Ok(None);
    }
    let secs =
        i64::try_from(secs).map_err(|_| PbxError::bad(field_label, "timestamp out of range"))?;
    Utc.timestamp_opt(secs, 0)
        .single()
        .map(Some)
        .ok_or_else(|| PbxError::bad(field_label, "timestamp out of range"))
}

/// Local wall-clock time in `tz` → UTC. Ambiguous times (DST fold) take the
/// earlier instant; non-existent ones (DST gap) are rejected.
pub(crate) fn local_to_utc<Tz: TimeZone>(
    naive: NaiveDateTime,
    tz: &Tz,
    field_label: &str,
) -> Result<DateTime<Utc>, PbxError> {
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| {
            PbxError::bad(
                field_label,
                "local time does not exist in the configured timezone",
            )
        })
}

/// Serde helper: IANA timezone name (`"Europe/Moscow"`) → `chrono_tz::Tz`.
/// Done by hand because the crate's chrono-tz is built without its `serde`
/// feature.
pub(crate) fn de_tz<'de, D: Deserializer<'de>>(d: D) -> Result<chrono_tz::Tz, D::Error> {
    let name = String::deserialize(d)?;
    name.parse::<chrono_tz::Tz>()
        .map_err(|_| serde::de::Error::custom(format!("unknown timezone `{name}`")))
}

pub(crate) fn default_tz() -> chrono_tz::Tz {
    chrono_tz::Europe::Moscow
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn form_repeated_fields_become_arrays() {
        let v = form_to_json(b"event=newCall&user%5B%5D=Alice&user%5B%5D=Bob&x=1+2");
        assert_eq!(
            v,
            json!({"event": "newCall", "user[]": ["Alice", "Bob"], "x": "1 2"})
        );
        assert_eq!(get_str(&v, "user[]").as_deref(), Some("Alice"));
    }

    #[test]
    fn json_path_walks_objects_and_arrays() {
        let v = json!({"from": {"number": "74951234567"}, "legs": [{"id": 7}], "a.b": "whole"});
        assert_eq!(get_str(&v, "from.number").as_deref(), Some("74951234567"));
        assert_eq!(get_str(&v, "legs.0.id").as_deref(), Some("7"));
        assert_eq!(get_str(&v, "a.b").as_deref(), Some("whole"));
        assert_eq!(get_str(&v, "from.missing"), None);
    }

    #[test]
    fn integers_from_numbers_and_strings() {
        let v = json!({"a": 5, "b": "17", "c": "", "d": "x", "e": "12.0", "f": -1});
        assert_eq!(get_u64(&v, "a", "a").ok(), Some(Some(5)));
        assert_eq!(get_u64(&v, "b", "b").ok(), Some(Some(17)));
        assert_eq!(get_u64(&v, "c", "c").ok(), Some(None));
        assert_eq!(get_u64(&v, "zz", "zz").ok(), Some(None));
        assert_eq!(get_u64(&v, "e", "e").ok(), Some(Some(12)));
        assert!(get_u64(&v, "d", "d").is_err());
        assert!(get_u64(&v, "f", "f").is_err());
    }

    #[test]
    fn constant_time_eq_semantics() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
    }
}
