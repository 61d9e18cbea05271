//! Zadarma PBX notifications ("Уведомления о звонках в АТС" / PBX call info).
//!
//! * URL check: `GET <url>?zd_echo=X` must be answered with exactly `X`
//!   (plain text); it carries no signature.
//! * Events: `POST` form with `event` = `NOTIFY_START`, `NOTIFY_INTERNAL`,
//!   `NOTIFY_ANSWER`, `NOTIFY_END`, `NOTIFY_OUT_START`, `NOTIFY_OUT_END`,
//!   `NOTIFY_RECORD` (+ `NOTIFY_IVR`, accepted but not interpreted).
//! * Header `Signature: base64(lowercase hex(HMAC-SHA1(api_secret, S)))` where
//!   S depends on the event (see [`signature_string`]). Note the base64 is of
//!   the *hex text*, as PHP's `base64_encode(hash_hmac('sha1', …))` does.
//! * `call_start` is local wall-clock time `YYYY-MM-DD HH:MM:SS` without an
//!   offset; Zadarma uses the account's timezone (Moscow for Russian
//!   accounts), so it is converted with the configured `timezone`.

use std::fmt;

use base64::Engine as _;
use chrono::NaiveDateTime;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::Value;
use sha1::Sha1;

use super::util::{
    ct_eq, de_tz, default_tz, end_of, form_to_json, get_str, get_u64, local_to_utc, req_str,
    secs_u32,
};
use super::{default_account, PbxError, ProviderReply, WebhookRequest};
use super::{CallEvent, Direction, EventKind, Outcome};

pub const PROVIDER: &str = "zadarma";

/// Longest `zd_echo` we reflect. Zadarma sends a short token; the cap keeps
/// the endpoint from being used as a free reflector of large payloads.
const MAX_ECHO_LEN: usize = 256;

/// `[pbx.zadarma]` section.
///
/// ```toml
/// [pbx.zadarma]
/// account    = "main"
/// api_secret = "<API secret from my.zadarma.com → Settings → API>"
/// timezone   = "Europe/Moscow"   # timezone of the Zadarma account (default)
/// api_key    = "<API key>"        # to fetch recordings' links (optional)
/// api_url    = "https://api.zadarma.com"
/// ```
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZadarmaConfig {
    #[serde(default = "default_account")]
    pub account: String,
    pub api_secret: String,
    /// Timezone in which Zadarma reports `call_start`.
    #[serde(default = "default_tz", deserialize_with = "de_tz")]
    pub timezone: chrono_tz::Tz,
    /// The user key of the REST API; without it recordings are not fetched.
    #[serde(default)]
    pub api_key: Option<String>,
    #[serde(default = "default_zadarma_api")]
    pub api_url: String,
}

pub fn default_zadarma_api() -> String {
    "https://api.zadarma.com".to_owned()
}

impl fmt::Debug for ZadarmaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZadarmaConfig")
            .field("account", &self.account)
            .field("api_secret", &"<redacted>")
            .field("timezone", &self.timezone)
            .field("api_url", &self.api_url)
            .finish()
    }
}

/// The string Zadarma signs for `event`, or `None` when the scheme for that
/// event is not documented (then the request cannot be authenticated).
pub fn signature_string(event: &str, form: &Value) -> Option<String> {
    // Exactly as posted (untrimmed): Zadarma signs the raw field values, and
    // a missing field counts as empty, as in their PHP example.
    let f = |k: &str| match form.get(k) {
        Some(Value::String(v)) => v.clone(),
        _ => String::new(),
    };
    let parts: [String; 3] = match event {
        "NOTIFY_START" | "NOTIFY_INTERNAL" | "NOTIFY_END" | "NOTIFY_IVR" => {
            [f("caller_id"), f("called_did"), f("call_start")]
        }
        "NOTIFY_ANSWER" => [f("caller_id"), f("destination"), f("call_start")],
        "NOTIFY_OUT_START" | "NOTIFY_OUT_END" => [f("internal"), f("destination"), f("call_start")],
        "NOTIFY_RECORD" => [f("pbx_call_id"), f("call_id_with_rec"), String::new()],
        _ => return None,
    };
    Some(parts.concat())
}

/// `base64(lowercase hex(HMAC-SHA1(secret, data)))`.
pub fn sign(secret: &str, data: &str) -> String {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here;
    // falling back to an empty string simply makes verification fail.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(data.as_bytes());
    let hex = hex::encode(mac.finalize().into_bytes());
    base64::engine::general_purpose::STANDARD.encode(hex)
}

pub fn handle(config: &ZadarmaConfig, req: &WebhookRequest<'_>) -> Result<ProviderReply, PbxError> {
    // The echo check is a GET when the URL is saved in the cabinet; accept it
    // on any method since it reveals nothing and must not fail.
    if let Some(echo) = req.query_param("zd_echo") {
        if echo.len() > MAX_ECHO_LEN {
            return Err(PbxError::bad("zd_echo", "too long"));
        }
        return Ok(ProviderReply::Respond {
            status: 200,
            content_type: "text/plain; charset=utf-8",
            body: echo,
            events: Vec::new(),
        });
    }
    if !req.is_post() {
        return Err(PbxError::MethodNotAllowed {
            method: req.method.to_string(),
        });
    }

    let form = form_to_json(req.body);
    let event = get_str(&form, "event").ok_or_else(|| PbxError::missing("event"))?;

    let Some(signed_data) = signature_string(&event, &form) else {
        // SMS, SPEECH_RECOGNITION, future events: we cannot check their
        // signature, so they are passed on flagged as unverified.
        return Err(PbxError::Unsupported {
            provider: PROVIDER.to_string(),
            event,
            verified: false,
            raw: form,
        });
    };
    if config.api_secret.is_empty() {
        // HMAC with an empty key is forgeable by anyone: fail closed.
        return Err(PbxError::Unauthorized {
            reason: "api_secret not configured",
        });
    }
    let provided = req
        .header("Signature")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or(PbxError::Unauthorized {
            reason: "missing Signature header",
        })?;
    let expected = sign(&config.api_secret, &signed_data);
    if !ct_eq(provided.as_bytes(), expected.as_bytes()) {
        return Err(PbxError::Unauthorized {
            reason: "Signature does not match",
        });
    }

    let ev = match parse_event(config, &event, form)? {
        Ok(ev) => ev,
        Err(form) => {
            return Err(PbxError::Unsupported {
                provider: PROVIDER.to_string(),
                event,
                verified: true,
                raw: form,
            })
        }
    };
    Ok(ProviderReply::ok(vec![ev]))
}

/// `disposition` of `NOTIFY_END` / `NOTIFY_OUT_END` → outcome. Everything
/// that is about the account or the route (money, limits, bad number) is a
/// failure to connect rather than a choice of the other party.
pub fn disposition_outcome(disposition: &str) -> Option<Outcome> {
    Some(match disposition.trim().to_ascii_lowercase().as_str() {
        "answered" => Outcome::Answered,
        "busy" => Outcome::Busy,
        "cancel" => Outcome::Cancelled,
        "no answer" => Outcome::NoAnswer,
        "failed" | "no money" | "unallocated number" | "no limit" | "no day limit"
        | "line limit" | "no money, no limit" | "no money no limit" => Outcome::Failed,
        _ => return None,
    })
}

fn call_start(
    config: &ZadarmaConfig,
    form: &Value,
) -> Result<chrono::DateTime<chrono::Utc>, PbxError> {
    let raw = req_str(form, "call_start", "call_start")?;
    let naive = NaiveDateTime::parse_from_str(&raw, "%Y-%m-%d %H:%M:%S")
        .map_err(|_| PbxError::bad("call_start", "expected YYYY-MM-DD HH:MM:SS"))?;
    local_to_utc(naive, &config.timezone, "call_start")
}

/// Builds the event; `Ok(Err(form))` hands an uninterpreted (but verified)
/// event back for `Unsupported`.
fn parse_event(
    config: &ZadarmaConfig,
    event: &str,
    form: Value,
) -> Result<Result<CallEvent, Value>, PbxError> {
    let pbx_call_id = req_str(&form, "pbx_call_id", "pbx_call_id")?;
    let s = |k: &str| get_str(&form, k);

    let mut ev = CallEvent {
        provider: PROVIDER.to_string(),
        account: config.account.clone(),
        call_id: pbx_call_id.clone(),
        leg_id: None,
        seq: None,
        event_key: format!("{pbx_call_id}|{event}"),
        provider_event: event.to_string(),
        kind: EventKind::Ringing,
        direction: Direction::Inbound,
        caller: None,
        called: None,
        employee: None,
        at: None,
        call_started_at: None,
        duration_secs: None,
        talk_secs: None,
        outcome: None,
        recording_url: None,
        recording_id: None,
        raw: Value::Null,
    };

    match event {
        "NOTIFY_START" => {
            let start = call_start(config, &form)?;
            ev.caller = Some(req_str(&form, "caller_id", "caller_id")?);
            ev.called = s("called_did");
            ev.at = Some(start);
            ev.call_started_at = Some(start);
        }
        "NOTIFY_INTERNAL" => {
            // One per extension the call is offered to, hence the extension
            // in the key: (pbx_call_id, event) alone would drop all but one.
            let internal = req_str(&form, "internal", "internal")?;
            ev.event_key = format!("{pbx_call_id}|{event}|{internal}");
            ev.call_started_at = Some(call_start(config, &form)?);
            ev.caller = Some(req_str(&form, "caller_id", "caller_id")?);
            ev.called = s("called_did");
            ev.leg_id = Some(internal.clone());
            ev.employee = Some(internal);
        }
        "NOTIFY_ANSWER" => {
            let who = s("internal").or_else(|| s("destination"));
            let who = who.ok_or_else(|| PbxError::missing("destination"))?;
            // A transferred call is answered again by someone else.
            ev.event_key = format!("{pbx_call_id}|{event}|{who}");
            ev.kind = EventKind::Answered;
            ev.call_started_at = Some(call_start(config, &form)?);
            ev.caller = Some(req_str(&form, "caller_id", "caller_id")?);
            ev.called = s("destination");
            ev.leg_id = s("internal");
            ev.employee = Some(who);
        }
        "NOTIFY_END" => {
            ev.kind = EventKind::Ended;
            ev.call_started_at = Some(call_start(config, &form)?);
            ev.caller = Some(req_str(&form, "caller_id", "caller_id")?);
            ev.called = s("called_did");
            ev.employee = s("internal");
            fill_end(&mut ev, &form)?;
        }
        "NOTIFY_OUT_START" => {
            let start = call_start(config, &form)?;
            ev.kind = EventKind::Outgoing;
            ev.direction = Direction::Outbound;
            ev.caller = s("caller_id").or_else(|| s("internal"));
            ev.called = Some(req_str(&form, "destination", "destination")?);
            ev.employee = s("internal");
            ev.at = Some(start);
            ev.call_started_at = Some(start);
        }
        "NOTIFY_OUT_END" => {
            ev.kind = EventKind::Ended;
            ev.direction = Direction::Outbound;
            ev.call_started_at = Some(call_start(config, &form)?);
            ev.caller = s("caller_id").or_else(|| s("internal"));
            ev.called = Some(req_str(&form, "destination", "destination")?);
            ev.employee = s("internal");
            fill_end(&mut ev, &form)?;
        }
        "NOTIFY_RECORD" => {
            let rec = req_str(&form, "call_id_with_rec", "call_id_with_rec")?;
            ev.event_key = format!("{pbx_call_id}|{event}|{rec}");
            ev.kind = EventKind::Recording;
            // The record notification does not say which way the call went.
            ev.direction = Direction::Unknown;
            ev.recording_id = Some(rec);
        }
        _ => return Ok(Err(form)),
    }
    ev.raw = form;
    Ok(Ok(ev))
}

/// Fields common to `NOTIFY_END` and `NOTIFY_OUT_END`.
fn fill_end(ev: &mut CallEvent, form: &Value) -> Result<(), PbxError> {
    ev.duration_secs = get_u64(form, "duration", "duration")?.map(secs_u32);
    ev.outcome = get_str(form, "disposition")
        .as_deref()
        .and_then(disposition_outcome);
    // Only an answered call has a conversation; otherwise Zadarma's duration
    // is ringing time and talk time is zero.
    if ev.outcome.is_some_and(|o| o != Outcome::Answered) {
        ev.talk_secs = Some(0);
    }
    if get_str(form, "is_recorded").as_deref() == Some("1") {
        ev.recording_id = get_str(form, "call_id_with_rec");
    }
    if let Some(start) = ev.call_started_at {
        ev.at = ev
            .duration_secs
            .map(|d| end_of(start, d, "duration"))
            .transpose()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    const SECRET: &str = "test-zadarma-api-secret";

    fn config() -> ZadarmaConfig {
        ZadarmaConfig {
            account: "main".into(),
            api_secret: SECRET.into(),
            timezone: chrono_tz::Europe::Moscow,
            api_key: None,
            api_url: default_zadarma_api(),
        }
    }

    fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            s.append_pair(k, v);
        }
        s.finish().into_bytes()
    }

    /// Signs like Zadarma and posts.
    fn post(pairs: &[(&str, &str)]) -> Result<ProviderReply, PbxError> {
        let body = form(pairs);
        let v = form_to_json(&body);
        let event = get_str(&v, "event").unwrap_or_default();
        let sig = sign(SECRET, &signature_string(&event, &v).unwrap_or_default());
        let headers = vec![("signature".to_string(), sig)];
        handle(&config(), &req("POST", "", &headers, &body))
    }

    fn req<'a>(
        method: &'a str,
        query: &'a str,
        headers: &'a [(String, String)],
        body: &'a [u8],
    ) -> WebhookRequest<'a> {
        WebhookRequest {
            method,
            sub_path: "",
            query,
            headers,
            content_type: Some("application/x-www-form-urlencoded"),
            body,
        }
    }

    // Field sets as in Zadarma's API docs and their `user-api-v1` webhook
    // classes.
    const START: &[(&str, &str)] = &[
        ("event", "NOTIFY_START"),
        ("call_start", "2024-05-14 10:15:03"),
        ("pbx_call_id", "in_6fd1a8e0d2b3c4f5a6b7c8d9e0f1a2b3"),
        ("caller_id", "79161234567"),
        ("called_did", "74951234567"),
    ];

    #[test]
    fn signature_matches_independent_vector() {
        // python3: base64.b64encode(hmac.new(secret, S, sha1).hexdigest().encode())
        assert_eq!(
            sign(SECRET, "79161234567749512345672024-05-14 10:15:03"),
            "OTJiZjc3ODBiM2JlNWU0OTRiNmY4NzU1ZTkzZDRhMTlkODJkM2JhOA=="
        );
    }

    #[test]
    fn echo_is_answered_verbatim() {
        let r = handle(&config(), &req("GET", "zd_echo=a1b2%2Bc3", &[], b"")).expect("echo");
        assert_eq!(
            r,
            ProviderReply::Respond {
                status: 200,
                content_type: "text/plain; charset=utf-8",
                body: "a1b2+c3".into(),
                events: vec![]
            }
        );
        let long = format!("zd_echo={}", "x".repeat(MAX_ECHO_LEN + 1));
        assert!(handle(&config(), &req("GET", &long, &[], b"")).is_err());
        assert!(matches!(
            handle(&config(), &req("GET", "", &[], b"")),
            Err(PbxError::MethodNotAllowed { .. })
        ));
    }

    #[test]
    fn start_is_inbound_ringing_in_moscow_time() {
        let ev = post(START).expect("ok").into_events().remove(0);
        assert_eq!(ev.kind, EventKind::Ringing);
        assert_eq!(ev.direction, Direction::Inbound);
        assert_eq!(ev.call_id, "in_6fd1a8e0d2b3c4f5a6b7c8d9e0f1a2b3");
        assert_eq!(
            ev.event_key,
            "in_6fd1a8e0d2b3c4f5a6b7c8d9e0f1a2b3|NOTIFY_START"
        );
        assert_eq!(ev.caller.as_deref(), Some("79161234567"));
        assert_eq!(ev.called.as_deref(), Some("74951234567"));
        // 10:15:03 MSK (+03:00) = 07:15:03 UTC.
        assert_eq!(ev.at, Utc.with_ymd_and_hms(2024, 5, 14, 7, 15, 3).single());
    }

    #[test]
    fn configured_timezone_is_used() {
        let c = ZadarmaConfig {
            timezone: chrono_tz::Asia::Yekaterinburg,
            ..config()
        };
        let body = form(START);
        let sig = sign(SECRET, "79161234567749512345672024-05-14 10:15:03");
        let headers = vec![("Signature".to_string(), sig)];
        let ev = handle(&c, &req("POST", "", &headers, &body))
            .expect("ok")
            .into_events()
            .remove(0);
        assert_eq!(ev.at, Utc.with_ymd_and_hms(2024, 5, 14, 5, 15, 3).single());
    }

    #[test]
    fn internal_and_answer_carry_the_extension() {
        let internal = post(&[
            ("event", "NOTIFY_INTERNAL"),
            ("call_start", "2024-05-14 10:15:03"),
            ("pbx_call_id", "in_6fd1a8e0d2b3c4f5a6b7c8d9e0f1a2b3"),
            ("caller_id", "79161234567"),
            ("called_did", "74951234567"),
            ("internal", "101"),
        ])
        .expect("ok")
        .into_events()
        .remove(0);
        assert_eq!(internal.kind, EventKind::Ringing);
        assert_eq!(internal.employee.as_deref(), Some("101"));
        assert_eq!(
            internal.event_key,
            "in_6fd1a8e0d2b3c4f5a6b7c8d9e0f1a2b3|NOTIFY_INTERNAL|101"
        );
        assert_eq!(internal.at, None);

        let answer = post(&[
            ("event", "NOTIFY_ANSWER"),
            ("caller_id", "79161234567"),
            ("destination", "101"),
            ("call_start", "2024-05-14 10:15:03"),
            ("pbx_call_id", "in_6fd1a8e0d2b3c4f5a6b7c8d9e0f1a2b3"),
            ("internal", "101"),
        ])
        .expect("ok")
        .into_events()
        .remove(0);
        assert_eq!(answer.kind, EventKind::Answered);
        assert_eq!(answer.employee.as_deref(), Some("101"));
    }

    /// Hostile timestamps and durations: every one is answered (or
    /// refused as a bad field), none panics.
    #[test]
    fn hostile_times_never_panic() {
        for call_start in [
            "262142-12-31 23:59:59",
            "+262142-12-31 23:59:59",
            "-262143-01-01 00:00:00",
            "9999-12-31 23:59:59",
            "0000-01-01 00:00:00",
            "2024-02-30 10:00:00",
            "2024-05-14 25:61:61",
            "",
        ] {
            for duration in [
                "0",
                "95",
                "4294967295",
                "18446744073709551615",
                "-1",
                "9e99",
            ] {
                let outcome = std::panic::catch_unwind(|| {
                    post(&[
                        ("event", "NOTIFY_END"),
                        ("call_start", call_start),
                        ("pbx_call_id", "in_fuzz"),
                        ("caller_id", "79161234567"),
                        ("called_did", "74951234567"),
                        ("duration", duration),
                        ("disposition", "answered"),
                    ])
                    .map(|reply| reply.into_events())
                });
                match outcome {
                    Err(_) => panic!("panicked on call_start={call_start:?} duration={duration:?}"),
                    Ok(Err(PbxError::BadRequest { .. })) | Ok(Ok(_)) => {}
                    Ok(Err(other)) => panic!("{call_start:?} {duration:?}: {other:?}"),
                }
            }
        }
        // The end of time plus a long call is refused naming the field.
        let refused = post(&[
            ("event", "NOTIFY_END"),
            ("call_start", "262142-12-31 23:59:59"),
            ("pbx_call_id", "in_fuzz"),
            ("caller_id", "79161234567"),
            ("called_did", "74951234567"),
            ("duration", "4294967295"),
        ]);
        if let Err(PbxError::BadRequest { field, .. }) = &refused {
            assert!(field == "duration" || field == "call_start", "{field}");
        } else {
            panic!("expected a refusal: {refused:?}");
        }
    }

    #[test]
    fn end_with_disposition_and_recording() {
        let ev = post(&[
            ("event", "NOTIFY_END"),
            ("call_start", "2024-05-14 10:15:03"),
            ("pbx_call_id", "in_6fd1a8e0d2b3c4f5a6b7c8d9e0f1a2b3"),
            ("caller_id", "79161234567"),
            ("called_did", "74951234567"),
            ("internal", "101"),
            ("duration", "95"),
            ("disposition", "answered"),
            ("status_code", "16"),
            ("is_recorded", "1"),
            ("call_id_with_rec", "1715670903.1234567"),
        ])
        .expect("ok")
        .into_events()
        .remove(0);
        assert_eq!(ev.kind, EventKind::Ended);
        assert_eq!(ev.outcome, Some(Outcome::Answered));
        assert_eq!(ev.duration_secs, Some(95));
        assert_eq!(ev.recording_id.as_deref(), Some("1715670903.1234567"));
        assert_eq!(ev.at, Utc.with_ymd_and_hms(2024, 5, 14, 7, 16, 38).single());
    }

    #[test]
    fn missed_end() {
        let ev = post(&[
            ("event", "NOTIFY_END"),
            ("call_start", "2024-05-14 10:20:00"),
            ("pbx_call_id", "in_0a0b0c0d"),
            ("caller_id", "79161234567"),
            ("called_did", "74951234567"),
            ("duration", "31"),
            ("disposition", "no answer"),
            ("status_code", "19"),
            ("is_recorded", "0"),
            ("call_id_with_rec", ""),
        ])
        .expect("ok")
        .into_events()
        .remove(0);
        assert_eq!(ev.outcome, Some(Outcome::NoAnswer));
        assert_eq!(ev.talk_secs, Some(0));
        assert_eq!(ev.recording_id, None);
    }

    #[test]
    fn outgoing_start_and_end() {
        let start = post(&[
            ("event", "NOTIFY_OUT_START"),
            ("call_start", "2024-05-14 11:00:00"),
            ("pbx_call_id", "out_9a8b7c6d"),
            ("internal", "102"),
            ("destination", "79031234567"),
        ])
        .expect("ok")
        .into_events()
        .remove(0);
        assert_eq!(start.kind, EventKind::Outgoing);
        assert_eq!(start.direction, Direction::Outbound);
        assert_eq!(start.employee.as_deref(), Some("102"));
        assert_eq!(start.called.as_deref(), Some("79031234567"));

        let end = post(&[
            ("event", "NOTIFY_OUT_END"),
            ("call_start", "2024-05-14 11:00:00"),
            ("pbx_call_id", "out_9a8b7c6d"),
            ("caller_id", "74951234567"),
            ("destination", "79031234567"),
            ("internal", "102"),
            ("duration", "0"),
            ("disposition", "busy"),
            ("status_code", "17"),
            ("is_recorded", "0"),
        ])
        .expect("ok")
        .into_events()
        .remove(0);
        assert_eq!(end.kind, EventKind::Ended);
        assert_eq!(end.outcome, Some(Outcome::Busy));
        assert_eq!(end.direction, Direction::Outbound);
    }

    #[test]
    fn record_notification() {
        let ev = post(&[
            ("event", "NOTIFY_RECORD"),
            ("call_id_with_rec", "1715670903.1234567"),
            ("pbx_call_id", "in_6fd1a8e0d2b3c4f5a6b7c8d9e0f1a2b3"),
        ])
        .expect("ok")
        .into_events()
        .remove(0);
        assert_eq!(ev.kind, EventKind::Recording);
        assert_eq!(ev.direction, Direction::Unknown);
        assert_eq!(ev.recording_id.as_deref(), Some("1715670903.1234567"));
    }

    #[test]
    fn bad_or_missing_signature() {
        let body = form(START);
        let none: Vec<(String, String)> = vec![];
        assert!(matches!(
            handle(&config(), &req("POST", "", &none, &body)),
            Err(PbxError::Unauthorized { .. })
        ));
        // Signed with another secret.
        let wrong = vec![(
            "Signature".to_string(),
            sign("other", "79161234567749512345672024-05-14 10:15:03"),
        )];
        assert!(matches!(
            handle(&config(), &req("POST", "", &wrong, &body)),
            Err(PbxError::Unauthorized { .. })
        ));
        // Field tampered after signing.
        let good = vec![(
            "Signature".to_string(),
            sign(SECRET, "79161234567749512345672024-05-14 10:15:03"),
        )];
        let tampered = form(&[
            ("event", "NOTIFY_START"),
            ("call_start", "2024-05-14 10:15:03"),
            ("pbx_call_id", "in_6fd1a8e0d2b3c4f5a6b7c8d9e0f1a2b3"),
            ("caller_id", "79990000000"),
            ("called_did", "74951234567"),
        ]);
        assert!(matches!(
            handle(&config(), &req("POST", "", &good, &tampered)),
            Err(PbxError::Unauthorized { .. })
        ));
    }

    #[test]
    fn empty_secret_never_authenticates() {
        let c = ZadarmaConfig {
            api_secret: String::new(),
            ..config()
        };
        let body = form(START);
        let headers = vec![(
            "Signature".to_string(),
            sign("", "79161234567749512345672024-05-14 10:15:03"),
        )];
        assert!(matches!(
            handle(&c, &req("POST", "", &headers, &body)),
            Err(PbxError::Unauthorized { .. })
        ));
    }

    #[test]
    fn signature_covers_raw_untrimmed_values() {
        // Zadarma signs what it posts; a stray space is part of the value.
        let pairs = [
            ("event", "NOTIFY_START"),
            ("call_start", "2024-05-14 10:15:03"),
            ("pbx_call_id", "in_6fd1a8e0d2b3c4f5a6b7c8d9e0f1a2b3"),
            ("caller_id", "79161234567 "),
            ("called_did", "74951234567"),
        ];
        let body = form(&pairs);
        let headers = vec![(
            "Signature".to_string(),
            sign(SECRET, "79161234567 749512345672024-05-14 10:15:03"),
        )];
        let ev = handle(&config(), &req("POST", "", &headers, &body))
            .expect("ok")
            .into_events()
            .remove(0);
        assert_eq!(ev.caller.as_deref(), Some("79161234567"));
    }

    #[test]
    fn bad_fields_are_named() {
        let err = post(&[
            ("event", "NOTIFY_START"),
            ("call_start", "14.05.2024 10:15"),
            ("pbx_call_id", "in_x"),
            ("caller_id", "79161234567"),
            ("called_did", "74951234567"),
        ])
        .unwrap_err();
        assert!(matches!(err, PbxError::BadRequest { ref field, .. } if field == "call_start"));
        let err = post(&[
            ("event", "NOTIFY_START"),
            ("call_start", "2024-05-14 10:15:03"),
        ])
        .unwrap_err();
        assert_eq!(err, PbxError::missing("pbx_call_id"));
        let empty: Vec<(String, String)> = vec![];
        let err = handle(&config(), &req("POST", "", &empty, b"")).unwrap_err();
        assert_eq!(err, PbxError::missing("event"));
    }

    #[test]
    fn unknown_events() {
        // NOTIFY_IVR is signed like NOTIFY_START: verified, not interpreted.
        let mut ivr: Vec<(&str, &str)> = START.to_vec();
        ivr[0] = ("event", "NOTIFY_IVR");
        let err = post(&ivr).unwrap_err();
        assert!(
            matches!(err, PbxError::Unsupported { verified: true, ref event, .. } if event == "NOTIFY_IVR")
        );
        // SMS has no documented signature string: passed on as unverified.
        let err = post(&[
            ("event", "SMS"),
            ("caller_id", "79161234567"),
            ("text", "hi"),
        ])
        .unwrap_err();
        assert!(matches!(
            err,
            PbxError::Unsupported {
                verified: false,
                ..
            }
        ));
    }

    #[test]
    fn dispositions() {
        assert_eq!(disposition_outcome("cancel"), Some(Outcome::Cancelled));
        assert_eq!(
            disposition_outcome("no money, no limit"),
            Some(Outcome::Failed)
        );
        assert_eq!(
            disposition_outcome("unallocated number"),
            Some(Outcome::Failed)
        );
        assert_eq!(disposition_outcome("something new"), None);
    }

    #[test]
    fn config_timezone_parsing() {
        let c: ZadarmaConfig = serde_json::from_str(r#"{"api_secret":"s"}"#).expect("defaults");
        assert_eq!(c.timezone, chrono_tz::Europe::Moscow);
        let c: ZadarmaConfig =
            serde_json::from_str(r#"{"api_secret":"s","timezone":"Asia/Novosibirsk"}"#)
                .expect("tz");
        assert_eq!(c.timezone, chrono_tz::Asia::Novosibirsk);
        assert!(serde_json::from_str::<ZadarmaConfig>(
            r#"{"api_secret":"s","timezone":"Mars/Olympus"}"#
        )
        .is_err());
        assert!(serde_json::from_str::<ZadarmaConfig>(r#"{"api_secret":"s","key":"k"}"#).is_err());
        assert!(!format!("{c:?}").contains("\"s\""));
    }
}
