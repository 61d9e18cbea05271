//! Configurable webhook mapping for PBXes without a dedicated parser.
//!
//! The config says how the request is authenticated ([`Secret`]), where each
//! value sits in the payload ([`FieldMap`], dotted JSON paths or form field
//! names) and how the PBX's vocabulary maps onto ours (`event_map`,
//! `direction_map`, `status_map`). Matching of map keys is case-insensitive
//! because some config loaders lowercase keys (`newCall` → `newcall`).
//!
//! [`zammad_example`] is a worked example for PBXes that speak Zammad's
//! "generic CTI" protocol (`event` = newCall/answer/hangup, `callId`, `from`,
//! `to`, `direction`, `user`, `answeringNumber`, `cause`):
//!
//! ```toml
//! [pbx.generic.zammad]
//! provider = "zammad"
//! account  = "main"
//! format   = "json"                 # or "form" (urlencoded; user[] repeats)
//!
//! [pbx.generic.zammad.secret]
//! kind  = "token"
//! path  = true                      # sub_path must be the token: POST …/pbx/zammad/<token>
//! token = "<long random token>"     # or token_file = "/etc/leadgate/zammad.token"
//!
//! [pbx.generic.zammad.fields]
//! call_id   = "callId"
//! event     = "event"
//! caller    = "from"
//! called    = "to"
//! direction = "direction"
//! status    = "cause"
//! employee  = ["answeringNumber", "user", "user[]"]   # first present wins
//!
//! [pbx.generic.zammad.event_map]
//! newCall = "ringing"
//! answer  = "answered"
//! hangup  = "ended"
//!
//! [pbx.generic.zammad.direction_map]
//! in  = "inbound"
//! out = "outbound"
//!
//! [pbx.generic.zammad.status_map]
//! normalClearing = "answered"     # hung up after the call was established
//! busy           = "busy"
//! cancel         = "cancelled"    # caller hung up before pickup
//! noAnswer       = "no_answer"
//! congestion     = "failed"
//! notFound       = "failed"
//! forwarded      = "none"         # neither answered nor missed here
//! ```

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use chrono::{DateTime, NaiveDateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use sha2::Sha256;

use super::util::{
    ct_eq, de_tz, default_tz, form_to_json, get_str, get_u64, json_path, local_to_utc,
    parse_json_body, secs_u32, unix_secs,
};
use super::{default_account, PbxError, ProviderReply, WebhookRequest};
use super::{CallEvent, Direction, EventKind, Outcome};

/// Payload encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// `POST` with a JSON object body.
    Json,
    /// `application/x-www-form-urlencoded` body (or query string on `GET`).
    Form,
}

/// Encoding of an HMAC signature header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureEncoding {
    #[default]
    Hex,
    Base64,
}

/// How requests are authenticated. There is deliberately no "none".
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Secret {
    /// A shared token, compared in constant time. Set exactly one place to
    /// look: `header`, `field` (payload field / dotted path), `query`
    /// (query parameter) or `path = true` (the whole `sub_path`).
    Token {
        /// The token (`token_file = "/path"` also works via the config layer).
        token: String,
        #[serde(default)]
        header: Option<String>,
        #[serde(default)]
        field: Option<String>,
        #[serde(default)]
        query: Option<String>,
        #[serde(default)]
        path: bool,
        /// Stripped from the presented value first, e.g. `"Bearer "`.
        #[serde(default)]
        prefix: Option<String>,
    },
    /// `HMAC-SHA256(key, raw body)` in `header`, hex or base64, optionally
    /// after a `prefix` such as `"sha256="`.
    HmacSha256 {
        /// HMAC key (`secret_file = "/path"` also works via the config layer).
        secret: String,
        header: String,
        #[serde(default)]
        encoding: SignatureEncoding,
        #[serde(default)]
        prefix: Option<String>,
    },
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Token {
                header,
                field,
                query,
                path,
                prefix,
                ..
            } => f
                .debug_struct("Token")
                .field("token", &"<redacted>")
                .field("header", header)
                .field("field", field)
                .field("query", query)
                .field("path", path)
                .field("prefix", prefix)
                .finish(),
            Secret::HmacSha256 {
                header,
                encoding,
                prefix,
                ..
            } => f
                .debug_struct("HmacSha256")
                .field("secret", &"<redacted>")
                .field("header", header)
                .field("encoding", encoding)
                .field("prefix", prefix)
                .finish(),
        }
    }
}

/// Where each value sits in the payload. Every entry is a list of dotted
/// paths (a single string is accepted too); the first one present wins.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldMap {
    #[serde(deserialize_with = "de_paths")]
    pub call_id: Vec<String>,
    #[serde(deserialize_with = "de_paths")]
    pub event: Vec<String>,
    /// Unique id of this notification, if the PBX has one; otherwise the
    /// idempotency key is `call_id|event|leg_id`.
    #[serde(default, deserialize_with = "de_paths")]
    pub event_id: Vec<String>,
    #[serde(default, deserialize_with = "de_paths")]
    pub leg_id: Vec<String>,
    #[serde(default, deserialize_with = "de_paths")]
    pub caller: Vec<String>,
    #[serde(default, deserialize_with = "de_paths")]
    pub called: Vec<String>,
    #[serde(default, deserialize_with = "de_paths")]
    pub direction: Vec<String>,
    #[serde(default, deserialize_with = "de_paths")]
    pub status: Vec<String>,
    #[serde(default, deserialize_with = "de_paths")]
    pub duration: Vec<String>,
    #[serde(default, deserialize_with = "de_paths")]
    pub talk: Vec<String>,
    #[serde(default, deserialize_with = "de_paths")]
    pub recording_url: Vec<String>,
    #[serde(default, deserialize_with = "de_paths")]
    pub employee: Vec<String>,
    /// Event time; see [`GenericConfig::at_format`].
    #[serde(default, deserialize_with = "de_paths")]
    pub at: Vec<String>,
}

/// Target of a `status_map` entry: an outcome, or `"none"` for statuses that
/// say nothing about answering (e.g. "forwarded").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MappedOutcome {
    Answered,
    Busy,
    NoAnswer,
    Cancelled,
    Failed,
    None,
}

impl MappedOutcome {
    fn outcome(self) -> Option<Outcome> {
        match self {
            MappedOutcome::Answered => Some(Outcome::Answered),
            MappedOutcome::Busy => Some(Outcome::Busy),
            MappedOutcome::NoAnswer => Some(Outcome::NoAnswer),
            MappedOutcome::Cancelled => Some(Outcome::Cancelled),
            MappedOutcome::Failed => Some(Outcome::Failed),
            MappedOutcome::None => None,
        }
    }
}

/// `[pbx.generic.<name>]` section; see the module docs for a full example.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenericConfig {
    /// Name stored as `CallEvent::provider`.
    #[serde(default = "default_provider")]
    pub provider: String,
    #[serde(default = "default_account")]
    pub account: String,
    pub format: Format,
    pub secret: Secret,
    pub fields: FieldMap,
    /// PBX event name → `ringing` | `outgoing` | `answered` | `hold` |
    /// `ended` | `missed` | `summary` | `recording`. Unlisted events are
    /// reported as `Unsupported`.
    pub event_map: BTreeMap<String, EventKind>,
    /// PBX direction value → `inbound` | `outbound` | `internal`. Values not
    /// listed fall back to the usual spellings (`in`, `out`, `inbound`, …).
    #[serde(default)]
    pub direction_map: BTreeMap<String, Direction>,
    /// When the payload has no (recognisable) direction.
    #[serde(default = "default_direction")]
    pub default_direction: Direction,
    /// PBX status/cause value → outcome name or `none`.
    #[serde(default)]
    pub status_map: BTreeMap<String, MappedOutcome>,
    /// `unix`, `unix_ms`, `rfc3339`, or a chrono pattern such as
    /// `"%Y-%m-%d %H:%M:%S"` read in `timezone`.
    #[serde(default)]
    pub at_format: Option<String>,
    #[serde(default = "default_tz", deserialize_with = "de_tz")]
    pub timezone: chrono_tz::Tz,
}

fn default_provider() -> String {
    "generic".to_string()
}

fn default_direction() -> Direction {
    Direction::Inbound
}

/// Accepts `"a"` or `["a", "b"]`.
fn de_paths<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// Mapping for Zammad-style generic CTI events (see module docs). The token
/// is a placeholder: set `secret` before use.
pub fn zammad_example() -> GenericConfig {
    let s = |v: &str| vec![v.to_string()];
    GenericConfig {
        provider: "zammad".into(),
        account: default_account(),
        format: Format::Json,
        secret: Secret::Token {
            token: "change-me".into(),
            header: None,
            field: None,
            query: None,
            path: true,
            prefix: None,
        },
        fields: FieldMap {
            call_id: s("callId"),
            event: s("event"),
            event_id: vec![],
            leg_id: vec![],
            caller: s("from"),
            called: s("to"),
            direction: s("direction"),
            status: s("cause"),
            duration: vec![],
            talk: vec![],
            recording_url: vec![],
            employee: vec!["answeringNumber".into(), "user".into(), "user[]".into()],
            at: vec![],
        },
        event_map: [
            ("newCall", EventKind::Ringing),
            ("answer", EventKind::Answered),
            ("hangup", EventKind::Ended),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
        direction_map: [("in", Direction::Inbound), ("out", Direction::Outbound)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        default_direction: Direction::Inbound,
        status_map: [
            ("normalClearing", MappedOutcome::Answered),
            ("busy", MappedOutcome::Busy),
            ("cancel", MappedOutcome::Cancelled),
            ("noAnswer", MappedOutcome::NoAnswer),
            ("congestion", MappedOutcome::Failed),
            ("notFound", MappedOutcome::Failed),
            ("forwarded", MappedOutcome::None),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
        at_format: None,
        timezone: default_tz(),
    }
}

/// Case-insensitive map lookup (see module docs for why).
fn lookup<'m, V>(map: &'m BTreeMap<String, V>, key: &str) -> Option<&'m V> {
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn first_str(payload: &Value, paths: &[String]) -> Option<String> {
    paths.iter().find_map(|p| get_str(payload, p))
}

/// First path present, with its label for error messages.
fn first_path<'p>(payload: &Value, paths: &'p [String]) -> Option<&'p str> {
    paths
        .iter()
        .find(|p| json_path(payload, p).is_some_and(|v| !v.is_null()))
        .map(String::as_str)
}

fn first_u64(payload: &Value, paths: &[String]) -> Result<Option<u64>, PbxError> {
    match first_path(payload, paths) {
        Some(p) => get_u64(payload, p, p),
        None => Ok(None),
    }
}

pub fn handle(config: &GenericConfig, req: &WebhookRequest<'_>) -> Result<ProviderReply, PbxError> {
    let payload = match (config.format, req.is_post(), req.is_get()) {
        (Format::Json, true, _) => Some(req.body),
        (Format::Form, true, _) => Some(req.body),
        (Format::Form, false, true) => Some(req.query.as_bytes()),
        _ => None,
    };
    let Some(payload_bytes) = payload else {
        return Err(PbxError::MethodNotAllowed {
            method: req.method.to_string(),
        });
    };

    // HMAC is over the raw body, so it is checked before parsing; the token
    // may live inside the payload, so it is checked right after parsing but
    // before anything else is read.
    if let Secret::HmacSha256 { .. } = config.secret {
        verify(config, req, None)?;
    }
    let payload = match config.format {
        Format::Json => {
            let v = parse_json_body(payload_bytes);
            // An unparsable body must not leak "bad JSON" before the token
            // check when the token lives in a header/query/path.
            match v {
                Ok(v) => v,
                Err(e) => {
                    verify(config, req, None)?;
                    return Err(e);
                }
            }
        }
        Format::Form => form_to_json(payload_bytes),
    };
    verify(config, req, Some(&payload))?;
    if !payload.is_object() {
        return Err(PbxError::bad("body", "not a JSON object"));
    }
    let mut payload = payload;
    // A token carried in the payload has done its job; keep it out of the
    // stored raw event.
    if let (
        Secret::Token {
            field: Some(fld), ..
        },
        Some(obj),
    ) = (&config.secret, payload.as_object_mut())
    {
        obj.remove(fld.as_str());
    }

    let f = &config.fields;
    let event_name =
        first_str(&payload, &f.event).ok_or_else(|| PbxError::missing(f.event.join("|")))?;
    let Some(&mapped_kind) = lookup(&config.event_map, &event_name) else {
        return Err(PbxError::Unsupported {
            provider: config.provider.clone(),
            event: event_name,
            verified: true,
            raw: payload,
        });
    };
    let call_id =
        first_str(&payload, &f.call_id).ok_or_else(|| PbxError::missing(f.call_id.join("|")))?;

    let direction = match first_str(&payload, &f.direction) {
        Some(d) => lookup(&config.direction_map, &d)
            .copied()
            .or_else(|| Direction::parse(&d))
            .unwrap_or(config.default_direction),
        None => config.default_direction,
    };
    // Keep kinds consistent with the dedicated providers: the start of an
    // outbound call is `Outgoing`, not `Ringing`.
    let kind = if mapped_kind == EventKind::Ringing && direction == Direction::Outbound {
        EventKind::Outgoing
    } else {
        mapped_kind
    };
    let outcome =
        first_str(&payload, &f.status).and_then(|s| match lookup(&config.status_map, &s) {
            Some(m) => m.outcome(),
            None => Outcome::parse(&s),
        });
    let leg_id = first_str(&payload, &f.leg_id);
    let event_key = match first_str(&payload, &f.event_id) {
        Some(id) => id,
        None => format!("{call_id}|{event_name}|{}", leg_id.as_deref().unwrap_or("")),
    };
    let at = match first_path(&payload, &f.at) {
        Some(p) => parse_at(config, &payload, p)?,
        None => None,
    };
    let talk_secs = first_u64(&payload, &f.talk)?.map(secs_u32);

    let ev = CallEvent {
        provider: config.provider.clone(),
        account: config.account.clone(),
        call_id,
        leg_id,
        seq: None,
        event_key,
        provider_event: event_name,
        kind,
        direction,
        caller: first_str(&payload, &f.caller),
        called: first_str(&payload, &f.called),
        employee: first_str(&payload, &f.employee),
        at,
        call_started_at: None,
        duration_secs: first_u64(&payload, &f.duration)?.map(secs_u32),
        talk_secs,
        outcome,
        recording_url: first_str(&payload, &f.recording_url),
        recording_id: None,
        raw: payload,
    };
    // Zammad-style PBXes expect a JSON object back; `{}` means "no action".
    Ok(ProviderReply::ok_json("{}", vec![ev]))
}

/// Checks the configured secret. `payload` is `None` before parsing; a
/// token that lives in the payload then cannot be checked yet, which is
/// reported as unauthorized (the caller only passes `None` on error paths
/// or for HMAC).
fn verify(
    config: &GenericConfig,
    req: &WebhookRequest<'_>,
    payload: Option<&Value>,
) -> Result<(), PbxError> {
    match &config.secret {
        Secret::Token {
            token,
            header,
            field,
            query,
            path,
            prefix,
        } => {
            if token.is_empty() {
                return Err(PbxError::Unauthorized {
                    reason: "token not configured",
                });
            }
            let places = usize::from(header.is_some())
                + usize::from(field.is_some())
                + usize::from(query.is_some())
                + usize::from(*path);
            if places != 1 {
                // Fail closed on a config that does not say where to look.
                return Err(PbxError::Unauthorized {
                    reason: "token location misconfigured",
                });
            }
            let presented: Option<String> = if let Some(h) = header {
                req.header(h).map(str::to_string)
            } else if let Some(q) = query {
                req.query_param(q)
            } else if *path {
                Some(req.path().to_string())
            } else if let (Some(fld), Some(p)) = (field, payload) {
                get_str(p, fld)
            } else {
                None
            };
            let presented = presented.ok_or(PbxError::Unauthorized {
                reason: "missing token",
            })?;
            let presented = match prefix {
                Some(pre) => presented.strip_prefix(pre.as_str()).unwrap_or(""),
                None => presented.as_str(),
            };
            if presented.is_empty() || !ct_eq(presented.trim().as_bytes(), token.as_bytes()) {
                return Err(PbxError::Unauthorized {
                    reason: "token does not match",
                });
            }
            Ok(())
        }
        Secret::HmacSha256 {
            secret,
            header,
            encoding,
            prefix,
        } => {
            if secret.is_empty() {
                return Err(PbxError::Unauthorized {
                    reason: "hmac key not configured",
                });
            }
            let presented = req
                .header(header)
                .map(str::trim)
                .ok_or(PbxError::Unauthorized {
                    reason: "missing signature header",
                })?;
            let presented = match prefix {
                Some(pre) => presented.strip_prefix(pre.as_str()).unwrap_or(""),
                None => presented,
            };
            let decoded = match encoding {
                SignatureEncoding::Hex => hex::decode(presented).ok(),
                SignatureEncoding::Base64 => base64::engine::general_purpose::STANDARD
                    .decode(presented)
                    .ok(),
            }
            .ok_or(PbxError::Unauthorized {
                reason: "malformed signature",
            })?;
            let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
                return Err(PbxError::Unauthorized {
                    reason: "hmac key unusable",
                });
            };
            mac.update(req.body);
            // `verify_slice` compares in constant time.
            mac.verify_slice(&decoded)
                .map_err(|_| PbxError::Unauthorized {
                    reason: "signature does not match",
                })
        }
    }
}

fn parse_at(
    config: &GenericConfig,
    payload: &Value,
    path: &str,
) -> Result<Option<DateTime<Utc>>, PbxError> {
    let format = config.at_format.as_deref().unwrap_or("rfc3339");
    match format {
        "unix" => match get_u64(payload, path, path)? {
            Some(s) => unix_secs(s, path),
            None => Ok(None),
        },
        "unix_ms" => match get_u64(payload, path, path)? {
            Some(ms) => unix_secs(ms / 1000, path),
            None => Ok(None),
        },
        _ => {
            let Some(s) = get_str(payload, path) else {
                return Ok(None);
            };
            if format == "rfc3339" {
                return DateTime::parse_from_rfc3339(&s)
                    .map(|t| Some(t.with_timezone(&Utc)))
                    .map_err(|_| PbxError::bad(path, "expected an RFC 3339 timestamp"));
            }
            // A pattern with an offset (%z) is absolute; without one it is
            // wall-clock time in the configured timezone.
            if let Ok(t) = DateTime::parse_from_str(&s, format) {
                return Ok(Some(t.with_timezone(&Utc)));
            }
            let naive = NaiveDateTime::parse_from_str(&s, format)
                .map_err(|_| PbxError::bad(path, format!("does not match `{format}`")))?;
            local_to_utc(naive, &config.timezone, path).map(Some)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    const TOKEN: &str = "4f6c0b1e9a2d47d5b8e3c1f0a7d9e2b6";

    fn zammad() -> GenericConfig {
        let mut c = zammad_example();
        if let Secret::Token { token, .. } = &mut c.secret {
            *token = TOKEN.into();
        }
        c
    }

    fn json_req<'a>(path: &'a str, body: &'a [u8]) -> WebhookRequest<'a> {
        WebhookRequest {
            method: "POST",
            sub_path: path,
            query: "",
            headers: &[],
            content_type: Some("application/json"),
            body,
        }
    }

    fn one(reply: ProviderReply) -> CallEvent {
        reply.into_events().remove(0)
    }

    // Payloads from Zammad's generic CTI API docs (newCall / answer / hangup).
    const NEW_CALL_IN: &str = r#"{"event":"newCall","from":"493023125741","to":"492214710334","direction":"in","callId":"307fa962-de8d-4ffc-817b-7f6993204159","user":["Christopher Miller","Emma Taylor"]}"#;
    const ANSWER_IN: &str = r#"{"event":"answer","from":"493023125741","to":"492214710334","direction":"in","callId":"307fa962-de8d-4ffc-817b-7f6993204159","user":"Emma Taylor","answeringNumber":"emma@chrispresso.com"}"#;
    const HANGUP_IN: &str = r#"{"event":"hangup","from":"493023125741","to":"492214710334","direction":"in","callId":"307fa962-de8d-4ffc-817b-7f6993204159","user":"Emma Taylor","answeringNumber":"emma@chrispresso.com","cause":"normalClearing"}"#;
    const HANGUP_OUT_CANCEL: &str = r#"{"event":"hangup","from":"493023125741","to":"492214710334","direction":"out","callId":"f4ebd2be-7b9a-4d58-94c2-eb06a3c2ce76","user":"Christopher Miller","cause":"cancel"}"#;

    #[test]
    fn zammad_new_call() {
        let ev = one(handle(&zammad(), &json_req(TOKEN, NEW_CALL_IN.as_bytes())).expect("ok"));
        assert_eq!(ev.provider, "zammad");
        assert_eq!(ev.kind, EventKind::Ringing);
        assert_eq!(ev.direction, Direction::Inbound);
        assert_eq!(ev.call_id, "307fa962-de8d-4ffc-817b-7f6993204159");
        assert_eq!(ev.caller.as_deref(), Some("493023125741"));
        assert_eq!(ev.called.as_deref(), Some("492214710334"));
        // `user` is an array for group calls: the first name is taken.
        assert_eq!(ev.employee.as_deref(), Some("Christopher Miller"));
        assert_eq!(
            ev.event_key,
            "307fa962-de8d-4ffc-817b-7f6993204159|newCall|"
        );
    }

    #[test]
    fn zammad_answer_and_hangup() {
        let ev = one(handle(&zammad(), &json_req(TOKEN, ANSWER_IN.as_bytes())).expect("ok"));
        assert_eq!(ev.kind, EventKind::Answered);
        assert_eq!(ev.employee.as_deref(), Some("emma@chrispresso.com"));
        let ev = one(handle(&zammad(), &json_req(TOKEN, HANGUP_IN.as_bytes())).expect("ok"));
        assert_eq!(
            (ev.kind, ev.outcome),
            (EventKind::Ended, Some(Outcome::Answered))
        );
        let ev =
            one(handle(&zammad(), &json_req(TOKEN, HANGUP_OUT_CANCEL.as_bytes())).expect("ok"));
        assert_eq!(
            (ev.direction, ev.outcome),
            (Direction::Outbound, Some(Outcome::Cancelled))
        );
        let fwd = HANGUP_IN.replace("normalClearing", "forwarded");
        let ev = one(handle(&zammad(), &json_req(TOKEN, fwd.as_bytes())).expect("ok"));
        assert_eq!(ev.outcome, None);
    }

    #[test]
    fn outbound_new_call_is_outgoing() {
        let body = r#"{"event":"newCall","from":"493023125741","to":"492214710334","direction":"out","callId":"f4ebd2be-7b9a-4d58-94c2-eb06a3c2ce76","user":"Christopher Miller"}"#;
        let ev = one(handle(&zammad(), &json_req(TOKEN, body.as_bytes())).expect("ok"));
        assert_eq!(ev.kind, EventKind::Outgoing);
    }

    #[test]
    fn zammad_form_variant_with_repeated_user() {
        let mut c = zammad();
        c.format = Format::Form;
        let body = b"event=newCall&from=493023125741&to=492214710334&direction=in&callId=25641e3f-3317-4c48-80b3-fc573c7ffe2b&user%5B%5D=Christopher+Miller&user%5B%5D=Emma+Taylor";
        let req = WebhookRequest {
            content_type: Some("application/x-www-form-urlencoded"),
            ..json_req(TOKEN, body)
        };
        let ev = one(handle(&c, &req).expect("ok"));
        assert_eq!(ev.employee.as_deref(), Some("Christopher Miller"));
        assert_eq!(
            ev.raw["user[]"],
            json!(["Christopher Miller", "Emma Taylor"])
        );
    }

    #[test]
    fn path_token_is_required() {
        let err = handle(&zammad(), &json_req("wrong", NEW_CALL_IN.as_bytes())).unwrap_err();
        assert!(matches!(err, PbxError::Unauthorized { .. }));
        // Bad JSON with a bad token is still just "unauthorized".
        let err = handle(&zammad(), &json_req("wrong", b"{oops")).unwrap_err();
        assert!(matches!(err, PbxError::Unauthorized { .. }));
        let err = handle(&zammad(), &json_req(TOKEN, b"{oops")).unwrap_err();
        assert!(matches!(err, PbxError::BadRequest { ref field, .. } if field == "body"));
        // The shipped placeholder must be replaced, but an empty one never
        // authenticates.
        let mut c = zammad();
        if let Secret::Token { token, .. } = &mut c.secret {
            token.clear();
        }
        assert!(matches!(
            handle(&c, &json_req("", NEW_CALL_IN.as_bytes())),
            Err(PbxError::Unauthorized { .. })
        ));
    }

    #[test]
    fn unknown_event_and_missing_fields() {
        let body = r#"{"event":"transfer","callId":"x"}"#;
        let err = handle(&zammad(), &json_req(TOKEN, body.as_bytes())).unwrap_err();
        assert!(
            matches!(err, PbxError::Unsupported { ref event, verified: true, .. } if event == "transfer")
        );
        let err = handle(&zammad(), &json_req(TOKEN, br#"{"event":"newCall"}"#)).unwrap_err();
        assert_eq!(err, PbxError::missing("callId"));
    }

    #[test]
    fn event_map_is_case_insensitive() {
        let mut c = zammad();
        c.event_map = [("newcall".to_string(), EventKind::Ringing)]
            .into_iter()
            .collect();
        assert!(handle(&c, &json_req(TOKEN, NEW_CALL_IN.as_bytes())).is_ok());
    }

    fn hmac_config(encoding: SignatureEncoding, prefix: Option<&str>) -> GenericConfig {
        GenericConfig {
            provider: "acme-pbx".into(),
            account: "main".into(),
            format: Format::Json,
            secret: Secret::HmacSha256 {
                secret: "test-hmac-key".into(),
                header: "X-Signature".into(),
                encoding,
                prefix: prefix.map(str::to_string),
            },
            fields: FieldMap {
                call_id: vec!["call.id".into()],
                event: vec!["type".into()],
                event_id: vec!["id".into()],
                leg_id: vec![],
                caller: vec!["call.from".into()],
                called: vec!["call.to".into()],
                direction: vec!["call.direction".into()],
                status: vec!["call.status".into()],
                duration: vec!["call.duration".into()],
                talk: vec!["call.billsec".into()],
                recording_url: vec!["call.record".into()],
                employee: vec!["call.agent.ext".into()],
                at: vec!["ts".into()],
            },
            event_map: [("call.finished".to_string(), EventKind::Ended)]
                .into_iter()
                .collect(),
            direction_map: BTreeMap::new(),
            default_direction: Direction::Inbound,
            status_map: BTreeMap::new(),
            at_format: Some("unix".into()),
            timezone: default_tz(),
        }
    }

    const ACME: &str = r#"{"id":"evt_01HXYZ","type":"call.finished","ts":1715670998,"call":{"id":"c-77","from":"+79161234567","to":"+74951234567","direction":"inbound","status":"answered","duration":95,"billsec":80,"record":"https://pbx.example/rec/c-77.mp3","agent":{"ext":"101"}}}"#;

    #[test]
    fn hmac_hex_and_nested_paths() {
        // python3: hmac.new(b"test-hmac-key", body, sha256).hexdigest()
        let sig = "5f488441b3aabb372b8f02e99922b91e198a9538d12fbdc7a3489ca87b5f4529";
        let headers = vec![("x-signature".to_string(), format!("sha256={sig}"))];
        let req = WebhookRequest {
            headers: &headers,
            ..json_req("", ACME.as_bytes())
        };
        let ev =
            one(handle(&hmac_config(SignatureEncoding::Hex, Some("sha256=")), &req).expect("ok"));
        assert_eq!(ev.provider, "acme-pbx");
        assert_eq!(ev.event_key, "evt_01HXYZ");
        assert_eq!(ev.kind, EventKind::Ended);
        assert_eq!(ev.outcome, Some(Outcome::Answered));
        assert_eq!((ev.duration_secs, ev.talk_secs), (Some(95), Some(80)));
        assert_eq!(ev.employee.as_deref(), Some("101"));
        assert_eq!(
            ev.recording_url.as_deref(),
            Some("https://pbx.example/rec/c-77.mp3")
        );
        assert_eq!(ev.at, Utc.timestamp_opt(1715670998, 0).single());

        let tampered = ACME.replace("\"billsec\":80", "\"billsec\":81");
        let req = WebhookRequest {
            headers: &headers,
            ..json_req("", tampered.as_bytes())
        };
        assert!(matches!(
            handle(&hmac_config(SignatureEncoding::Hex, Some("sha256=")), &req),
            Err(PbxError::Unauthorized { .. })
        ));
    }

    #[test]
    fn hmac_base64() {
        let sig = "X0iEQbOquzcrjwLpmSK5HhmKlTjRL73Ho0icqHtfRSk=";
        let headers = vec![("X-Signature".to_string(), sig.to_string())];
        let req = WebhookRequest {
            headers: &headers,
            ..json_req("", ACME.as_bytes())
        };
        assert!(handle(&hmac_config(SignatureEncoding::Base64, None), &req).is_ok());
        let none: Vec<(String, String)> = vec![];
        let req = WebhookRequest {
            headers: &none,
            ..json_req("", ACME.as_bytes())
        };
        assert!(matches!(
            handle(&hmac_config(SignatureEncoding::Base64, None), &req),
            Err(PbxError::Unauthorized { .. })
        ));
    }

    #[test]
    fn token_in_header_field_and_query() {
        let base = zammad();
        let with = |secret: Secret| GenericConfig {
            secret,
            ..base.clone()
        };
        let tok = |header: Option<&str>,
                   field: Option<&str>,
                   query: Option<&str>,
                   prefix: Option<&str>| Secret::Token {
            token: TOKEN.into(),
            header: header.map(str::to_string),
            field: field.map(str::to_string),
            query: query.map(str::to_string),
            path: false,
            prefix: prefix.map(str::to_string),
        };

        let headers = vec![("Authorization".to_string(), format!("Bearer {TOKEN}"))];
        let req = WebhookRequest {
            headers: &headers,
            ..json_req("", NEW_CALL_IN.as_bytes())
        };
        assert!(handle(
            &with(tok(Some("authorization"), None, None, Some("Bearer "))),
            &req
        )
        .is_ok());
        assert!(handle(&with(tok(Some("authorization"), None, None, None)), &req).is_err());

        let body = NEW_CALL_IN.replacen('{', &format!(r#"{{"token":"{TOKEN}","#), 1);
        let ev = one(handle(
            &with(tok(None, Some("token"), None, None)),
            &json_req("", body.as_bytes()),
        )
        .expect("ok"));
        assert!(ev.raw.get("token").is_none(), "token must not be stored");
        assert!(handle(
            &with(tok(None, Some("token"), None, None)),
            &json_req("", NEW_CALL_IN.as_bytes())
        )
        .is_err());

        let q = format!("token={TOKEN}");
        let req = WebhookRequest {
            query: &q,
            ..json_req("", NEW_CALL_IN.as_bytes())
        };
        assert!(handle(&with(tok(None, None, Some("token"), None)), &req).is_ok());

        // Two places configured: fail closed.
        assert!(handle(&with(tok(Some("x"), None, Some("token"), None)), &req).is_err());
    }

    #[test]
    fn local_time_pattern() {
        let mut c = hmac_config(SignatureEncoding::Hex, None);
        c.secret = Secret::Token {
            token: TOKEN.into(),
            header: None,
            field: None,
            query: None,
            path: true,
            prefix: None,
        };
        c.at_format = Some("%Y-%m-%d %H:%M:%S".into());
        let body = ACME.replace("\"ts\":1715670998", "\"ts\":\"2024-05-14 10:16:38\"");
        let ev = one(handle(&c, &json_req(TOKEN, body.as_bytes())).expect("ok"));
        assert_eq!(ev.at, Utc.with_ymd_and_hms(2024, 5, 14, 7, 16, 38).single());
    }

    #[test]
    fn config_from_json_matches_example() {
        // Same shape as the TOML in the module docs.
        let v = json!({
            "provider": "zammad",
            "format": "json",
            "secret": {"kind": "token", "path": true, "token": "change-me"},
            "fields": {
                "call_id": "callId", "event": "event", "caller": "from", "called": "to",
                "direction": "direction", "status": "cause",
                "employee": ["answeringNumber", "user", "user[]"]
            },
            "event_map": {"newCall": "ringing", "answer": "answered", "hangup": "ended"},
            "direction_map": {"in": "inbound", "out": "outbound"},
            "status_map": {
                "normalClearing": "answered", "busy": "busy", "cancel": "cancelled",
                "noAnswer": "no_answer", "congestion": "failed", "notFound": "failed",
                "forwarded": "none"
            }
        });
        let c: GenericConfig = serde_json::from_value(v).expect("valid config");
        assert_eq!(c, zammad_example());
        let bad = json!({"format": "json", "secret": {"kind": "token", "path": true, "token": "x", "extra": 1},
            "fields": {"call_id": "a", "event": "b"}, "event_map": {}});
        assert!(serde_json::from_value::<GenericConfig>(bad).is_err());
        let bad = json!({"format": "xml", "secret": {"kind": "token", "path": true, "token": "x"},
            "fields": {"call_id": "a", "event": "b"}, "event_map": {}});
        assert!(serde_json::from_value::<GenericConfig>(bad).is_err());
        assert!(!format!("{:?}", zammad()).contains(TOKEN));
    }
}
