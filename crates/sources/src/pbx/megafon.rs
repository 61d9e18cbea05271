//! MegaFon ВАТС (megapbx.ru) and Gravitel «Облачная АТС» CRM API: requests
//! from the PBX to the CRM. Both run the same ITooLabs platform and API.
//!
//! One URL receives everything; `cmd` says what it is:
//! * `event`   — live call state per employee: `type` = `INCOMING`,
//!   `ACCEPTED`, `COMPLETED`, `CANCELLED`, `OUTGOING` (and `TRANSFERRED`);
//! * `history` — one record after the call: `type` in/out, `start`
//!   (`YYYYmmddTHHMMSSZ`, UTC), `duration`, `status`, `link` (recording);
//! * `contact` — the PBX asks who is calling; we answer
//!   `{"contact_name": …, "responsible": …}`.
//!
//! Authentication: the `crm_token` field must equal the token set in the
//! PBX cabinet for this CRM integration. Bodies are form-encoded; a JSON
//! body and (for `history`, which the API allows as GET) query parameters
//! are accepted too.

use std::fmt;

use chrono::{NaiveDateTime, TimeZone, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::util::{
    ct_eq, end_of, form_to_json, get_str, get_u64, parse_json_body, req_str, secs_u32,
};
use super::{default_account, PbxError, ProviderReply, WebhookRequest};
use super::{CallEvent, Direction, EventKind, Outcome};

pub const PROVIDER: &str = "megafon";

/// `[pbx.megafon]` section.
///
/// ```toml
/// [pbx.megafon]
/// account   = "main"
/// crm_token = "<«Ключ (token) для авторизации» from the VATS cabinet, CRM integration>"
/// ```
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MegafonConfig {
    #[serde(default = "default_account")]
    pub account: String,
    pub crm_token: String,
}

impl fmt::Debug for MegafonConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MegafonConfig")
            .field("account", &self.account)
            .field("crm_token", &"<redacted>")
            .finish()
    }
}

/// Body for the answer to `cmd=contact`: `(content type, body)`.
///
/// Unknown caller → `{}`, which the PBX treats as "not found" rather than
/// as an error. `responsible` is the PBX login (`user`) of the employee the
/// call should be routed to.
pub fn contact_response(
    client_name: Option<&str>,
    responsible_pbx_user: Option<&str>,
) -> (&'static str, String) {
    let mut obj = Map::new();
    if let Some(name) = client_name.map(str::trim).filter(|s| !s.is_empty()) {
        obj.insert("contact_name".into(), Value::String(name.to_string()));
    }
    if let Some(user) = responsible_pbx_user
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        obj.insert("responsible".into(), Value::String(user.to_string()));
    }
    (
        "application/json; charset=utf-8",
        Value::Object(obj).to_string(),
    )
}

pub fn handle(config: &MegafonConfig, req: &WebhookRequest<'_>) -> Result<ProviderReply, PbxError> {
    let params = if req.is_post() {
        if req.is_json() {
            let v = parse_json_body(req.body)?;
            if !v.is_object() {
                return Err(PbxError::bad("body", "not a JSON object"));
            }
            v
        } else {
            form_to_json(req.body)
        }
    } else if req.is_get() {
        form_to_json(req.query.as_bytes())
    } else {
        return Err(PbxError::MethodNotAllowed {
            method: req.method.to_string(),
        });
    };

    if config.crm_token.is_empty() {
        return Err(PbxError::Unauthorized {
            reason: "crm_token not configured",
        });
    }
    let token = get_str(&params, "crm_token").ok_or(PbxError::Unauthorized {
        reason: "missing crm_token",
    })?;
    if !ct_eq(token.as_bytes(), config.crm_token.as_bytes()) {
        return Err(PbxError::Unauthorized {
            reason: "crm_token does not match",
        });
    }
    // The token has done its job; keep it out of stored raw payloads.
    let params = redact_token(params);

    let cmd = req_str(&params, "cmd", "cmd")?;
    match cmd.as_str() {
        "contact" => Ok(ProviderReply::ContactLookup {
            phone: req_str(&params, "phone", "phone")?,
            callid: req_str(&params, "callid", "callid")?,
        }),
        "event" => {
            let ev = live_event(config, params)?;
            Ok(ProviderReply::ok_json("{}", vec![ev]))
        }
        "history" => {
            let ev = history_event(config, params)?;
            Ok(ProviderReply::ok_json("{}", vec![ev]))
        }
        _ => Err(PbxError::Unsupported {
            provider: PROVIDER.to_string(),
            event: format!("cmd={cmd}"),
            verified: true,
            raw: params,
        }),
    }
}

fn redact_token(mut params: Value) -> Value {
    if let Some(obj) = params.as_object_mut() {
        obj.remove("crm_token");
    }
    params
}

fn base_event(
    config: &MegafonConfig,
    callid: &str,
    key: String,
    provider_event: String,
    kind: EventKind,
) -> CallEvent {
    CallEvent {
        provider: PROVIDER.to_string(),
        account: config.account.clone(),
        call_id: callid.to_string(),
        leg_id: None,
        seq: None,
        event_key: key,
        provider_event,
        kind,
        direction: Direction::Unknown,
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
    }
}

/// Our side is the employee (`telnum`, else `ext`, else `user`); the other
/// side is `phone`. For inbound calls the called number is `diversion`,
/// the company line the client dialled.
fn parties(direction: Direction, p: &Value) -> (Option<String>, Option<String>) {
    let phone = get_str(p, "phone");
    let ours = get_str(p, "telnum")
        .or_else(|| get_str(p, "ext"))
        .or_else(|| get_str(p, "user"));
    match direction {
        Direction::Outbound => (ours, phone),
        _ => (phone, get_str(p, "diversion").or(ours)),
    }
}

fn employee(p: &Value) -> Option<String> {
    get_str(p, "user").or_else(|| get_str(p, "ext"))
}

fn direction_field(p: &Value) -> Option<Direction> {
    match get_str(p, "direction")?.to_ascii_lowercase().as_str() {
        "in" => Some(Direction::Inbound),
        "out" => Some(Direction::Outbound),
        _ => None,
    }
}

/// `cmd=event`: one state change of one employee's leg. There is no
/// timestamp in these requests; the receiver's clock is the only one.
fn live_event(config: &MegafonConfig, p: Value) -> Result<CallEvent, PbxError> {
    let callid = req_str(&p, "callid", "callid")?;
    let ty = req_str(&p, "type", "type")?;
    let (kind, outcome) = match ty.as_str() {
        "INCOMING" => (EventKind::Ringing, None),
        "OUTGOING" => (EventKind::Outgoing, None),
        "ACCEPTED" => (EventKind::Answered, None),
        // Only someone who picked up can transfer the call.
        "TRANSFERRED" => (EventKind::Answered, None),
        "COMPLETED" => (EventKind::Ended, None),
        // This employee's leg stopped ringing unanswered: the client gave up,
        // or (group call) a colleague answered. Call assembly lets any
        // answer on the call win over this.
        "CANCELLED" => (EventKind::Missed, Some(Outcome::Cancelled)),
        _ => {
            return Err(PbxError::Unsupported {
                provider: PROVIDER.to_string(),
                event: format!("event/{ty}"),
                verified: true,
                raw: p,
            })
        }
    };
    let direction = direction_field(&p).unwrap_or(if ty == "OUTGOING" {
        Direction::Outbound
    } else {
        Direction::Inbound
    });
    let user = employee(&p);
    // Group calls send one INCOMING/CANCELLED per employee, so the employee
    // is part of the key.
    let key = format!("{callid}|{ty}|{}", user.as_deref().unwrap_or(""));
    let mut ev = base_event(config, &callid, key, format!("event/{ty}"), kind);
    ev.direction = direction;
    (ev.caller, ev.called) = parties(direction, &p);
    ev.leg_id = user.clone();
    ev.employee = user;
    ev.outcome = outcome;
    ev.raw = p;
    Ok(ev)
}

/// `history` status → outcome. `missed` is the inbound "nobody picked up".
pub fn status_outcome(status: &str) -> Option<Outcome> {
    Some(match status.trim().to_ascii_lowercase().as_str() {
        "success" => Outcome::Answered,
        "missed" | "noanswer" => Outcome::NoAnswer,
        "busy" => Outcome::Busy,
        "cancel" | "cancelled" => Outcome::Cancelled,
        "notavailable" | "notallowed" => Outcome::Failed,
        _ => return None,
    })
}

/// `cmd=history`: the PBX's own record of the finished call.
fn history_event(config: &MegafonConfig, p: Value) -> Result<CallEvent, PbxError> {
    let callid = req_str(&p, "callid", "callid")?;
    let direction = match get_str(&p, "type")
        .map(|t| t.to_ascii_lowercase())
        .as_deref()
    {
        Some("in") | Some("missed") => Direction::Inbound,
        Some("out") => Direction::Outbound,
        Some(_) => return Err(PbxError::bad("type", "expected in or out")),
        None => direction_field(&p).ok_or_else(|| PbxError::missing("type"))?,
    };
    let start = match get_str(&p, "start") {
        Some(s) => Some(parse_start(&s)?),
        None => None,
    };
    let user = employee(&p);
    let key = format!("{callid}|history|{}", user.as_deref().unwrap_or(""));
    let mut ev = base_event(
        config,
        &callid,
        key,
        "history".to_string(),
        EventKind::Summary,
    );
    ev.direction = direction;
    (ev.caller, ev.called) = parties(direction, &p);
    ev.employee = user;
    ev.call_started_at = start;
    ev.duration_secs = get_u64(&p, "duration", "duration")?.map(secs_u32);
    if let (Some(s), Some(d)) = (start, ev.duration_secs) {
        ev.at = Some(end_of(s, d, "duration")?);
    }
    ev.outcome = get_str(&p, "status").as_deref().and_then(status_outcome);
    if ev.outcome.is_some_and(|o| o != Outcome::Answered) {
        ev.talk_secs = Some(0);
    }
    ev.recording_url = get_str(&p, "link");
    ev.raw = p;
    Ok(ev)
}

/// `20131219T071643Z` — compact ISO 8601 basic format, UTC.
fn parse_start(s: &str) -> Result<chrono::DateTime<Utc>, PbxError> {
    NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M%SZ")
        .map(|n| Utc.from_utc_datetime(&n))
        .map_err(|_| PbxError::bad("start", "expected YYYYmmddTHHMMSSZ"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "test-crm-token-5f1c0e2a";

    fn config() -> MegafonConfig {
        MegafonConfig {
            account: "main".into(),
            crm_token: TOKEN.into(),
        }
    }

    fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            s.append_pair(k, v);
        }
        s.finish().into_bytes()
    }

    fn post(pairs: &[(&str, &str)]) -> Result<ProviderReply, PbxError> {
        let body = form(pairs);
        handle(
            &config(),
            &WebhookRequest {
                method: "POST",
                sub_path: "",
                query: "",
                headers: &[],
                content_type: Some("application/x-www-form-urlencoded"),
                body: &body,
            },
        )
    }

    const CALLID: &str = "a1f8b3c2-6d0e-4b7a-9c3d-2e5f7a9b1c4d";

    fn event(ty: &str, user: &str) -> Vec<(&'static str, String)> {
        vec![
            ("cmd", "event".into()),
            ("type", ty.into()),
            ("phone", "79161234567".into()),
            ("diversion", "74951234567".into()),
            ("user", user.into()),
            ("groupRealName", "Отдел продаж".into()),
            ("ext", "101".into()),
            ("telnum", "79261234567".into()),
            ("callid", CALLID.into()),
            ("crm_token", TOKEN.into()),
        ]
    }

    fn post_owned(pairs: &[(&'static str, String)]) -> Result<ProviderReply, PbxError> {
        let v: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        post(&v)
    }

    #[test]
    fn incoming_event() {
        let r = post_owned(&event("INCOMING", "ivanov")).expect("ok");
        let ProviderReply::Respond {
            status,
            body,
            ref events,
            ..
        } = r
        else {
            panic!("expected Respond")
        };
        assert_eq!((status, body.as_str()), (200, "{}"));
        let ev = &events[0];
        assert_eq!(ev.kind, EventKind::Ringing);
        assert_eq!(ev.direction, Direction::Inbound);
        assert_eq!(ev.call_id, CALLID);
        assert_eq!(ev.caller.as_deref(), Some("79161234567"));
        assert_eq!(ev.called.as_deref(), Some("74951234567"));
        assert_eq!(ev.employee.as_deref(), Some("ivanov"));
        assert_eq!(ev.leg_id.as_deref(), Some("ivanov"));
        assert_eq!(ev.event_key, format!("{CALLID}|INCOMING|ivanov"));
        assert!(
            ev.raw.get("crm_token").is_none(),
            "token must not be stored"
        );
        assert_eq!(
            ev.raw.get("groupRealName").and_then(Value::as_str),
            Some("Отдел продаж")
        );
    }

    #[test]
    fn event_types_map_to_kinds() {
        let kind = |ty: &str| {
            post_owned(&event(ty, "ivanov"))
                .expect("ok")
                .into_events()
                .remove(0)
        };
        assert_eq!(kind("ACCEPTED").kind, EventKind::Answered);
        assert_eq!(kind("COMPLETED").kind, EventKind::Ended);
        let c = kind("CANCELLED");
        assert_eq!(
            (c.kind, c.outcome),
            (EventKind::Missed, Some(Outcome::Cancelled))
        );
        let out = kind("OUTGOING");
        assert_eq!(
            (out.kind, out.direction),
            (EventKind::Outgoing, Direction::Outbound)
        );
        assert_eq!(out.caller.as_deref(), Some("79261234567"));
        assert_eq!(out.called.as_deref(), Some("79161234567"));
        let err = post_owned(&event("RINGBACK", "ivanov")).unwrap_err();
        assert!(
            matches!(err, PbxError::Unsupported { ref event, .. } if event == "event/RINGBACK")
        );
    }

    #[test]
    fn explicit_direction_field_wins() {
        let mut p = event("COMPLETED", "ivanov");
        p.push(("direction", "out".into()));
        let ev = post_owned(&p).expect("ok").into_events().remove(0);
        assert_eq!(ev.direction, Direction::Outbound);
    }

    fn history(status: &str) -> Vec<(&'static str, String)> {
        vec![
            ("cmd", "history".into()),
            ("type", "in".into()),
            ("user", "ivanov".into()),
            ("ext", "101".into()),
            ("groupRealName", "Отдел продаж".into()),
            ("telnum", "79261234567".into()),
            ("phone", "79161234567".into()),
            ("diversion", "74951234567".into()),
            ("start", "20240514T071503Z".into()),
            ("duration", "95".into()),
            ("callid", CALLID.into()),
            (
                "link",
                "https://vats000000.megapbx.ru/api/v1/records/a1f8b3c2.mp3".into(),
            ),
            ("status", status.into()),
            ("crm_token", TOKEN.into()),
        ]
    }

    #[test]
    fn history_success() {
        let ev = post_owned(&history("Success"))
            .expect("ok")
            .into_events()
            .remove(0);
        assert_eq!(ev.kind, EventKind::Summary);
        assert_eq!(ev.outcome, Some(Outcome::Answered));
        assert_eq!(ev.direction, Direction::Inbound);
        assert_eq!(ev.duration_secs, Some(95));
        assert_eq!(
            ev.call_started_at,
            Utc.with_ymd_and_hms(2024, 5, 14, 7, 15, 3).single()
        );
        assert_eq!(ev.at, Utc.with_ymd_and_hms(2024, 5, 14, 7, 16, 38).single());
        assert_eq!(
            ev.recording_url.as_deref(),
            Some("https://vats000000.megapbx.ru/api/v1/records/a1f8b3c2.mp3")
        );
        assert_eq!(ev.event_key, format!("{CALLID}|history|ivanov"));
    }

    #[test]
    fn history_statuses() {
        for (status, outcome) in [
            ("missed", Outcome::NoAnswer),
            ("Busy", Outcome::Busy),
            ("NotAvailable", Outcome::Failed),
            ("NotAllowed", Outcome::Failed),
        ] {
            let ev = post_owned(&history(status))
                .expect("ok")
                .into_events()
                .remove(0);
            assert_eq!(ev.outcome, Some(outcome), "{status}");
            assert_eq!(ev.talk_secs, Some(0));
        }
        let mut bad = history("Success");
        bad[8] = ("start", "2024-05-14 07:15:03".into());
        assert!(
            matches!(post_owned(&bad), Err(PbxError::BadRequest { ref field, .. }) if field == "start")
        );
    }

    /// Hostile start times and durations are answered or refused, never a panic.
    #[test]
    fn hostile_times_never_panic() {
        for start in [
            "20240514T071503Z",
            "2621421231T235959Z",
            "+2621421231T235959Z",
            "99991231T235959Z",
            "00000101T000000Z",
            "20240230T000000Z",
            "garbage",
        ] {
            for duration in ["0", "95", "4294967295", "18446744073709551615", "-5"] {
                let mut p = history("Success");
                p[8] = ("start", start.into());
                p[9] = ("duration", duration.into());
                let outcome = std::panic::catch_unwind(|| post_owned(&p).map(|r| r.into_events()));
                match outcome {
                    Err(_) => panic!("panicked on start={start:?} duration={duration:?}"),
                    Ok(Err(PbxError::BadRequest { .. })) | Ok(Ok(_)) => {}
                    Ok(Err(other)) => panic!("{start:?} {duration:?}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn history_as_get_and_json() {
        let q = String::from_utf8(form(&[
            ("cmd", "history"),
            ("type", "out"),
            ("user", "petrov"),
            ("phone", "79031234567"),
            ("start", "20240514T080000Z"),
            ("duration", "12"),
            ("callid", "b2"),
            ("status", "Busy"),
            ("crm_token", TOKEN),
        ]))
        .expect("utf8");
        let get = WebhookRequest {
            method: "GET",
            sub_path: "",
            query: &q,
            headers: &[],
            content_type: None,
            body: b"",
        };
        let ev = handle(&config(), &get).expect("ok").into_events().remove(0);
        assert_eq!(
            (ev.direction, ev.outcome),
            (Direction::Outbound, Some(Outcome::Busy))
        );
        assert_eq!(ev.called.as_deref(), Some("79031234567"));

        let json = format!(
            r#"{{"cmd":"event","type":"ACCEPTED","phone":"79161234567","user":"ivanov","callid":"c3","crm_token":"{TOKEN}"}}"#
        );
        let post = WebhookRequest {
            method: "POST",
            sub_path: "",
            query: "",
            headers: &[],
            content_type: Some("application/json; charset=utf-8"),
            body: json.as_bytes(),
        };
        let ev = handle(&config(), &post)
            .expect("ok")
            .into_events()
            .remove(0);
        assert_eq!(ev.kind, EventKind::Answered);
    }

    #[test]
    fn contact_asks_the_caller_to_look_up() {
        let r = post(&[
            ("cmd", "contact"),
            ("phone", "79161234567"),
            ("callid", CALLID),
            ("crm_token", TOKEN),
        ])
        .expect("ok");
        assert_eq!(
            r,
            ProviderReply::ContactLookup {
                phone: "79161234567".into(),
                callid: CALLID.into()
            }
        );
        assert!(r.events().is_empty());
        let err =
            post(&[("cmd", "contact"), ("callid", CALLID), ("crm_token", TOKEN)]).unwrap_err();
        assert_eq!(err, PbxError::missing("phone"));
    }

    #[test]
    fn contact_response_shape() {
        let (ct, body) = contact_response(Some("ООО «Ромашка», Иван"), Some("ivanov"));
        assert!(ct.starts_with("application/json"));
        let v: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(
            v,
            serde_json::json!({"contact_name": "ООО «Ромашка», Иван", "responsible": "ivanov"})
        );
        assert_eq!(contact_response(None, None).1, "{}");
        assert_eq!(
            contact_response(Some("  "), Some("ivanov")).1,
            r#"{"responsible":"ivanov"}"#
        );
    }

    #[test]
    fn token_checks() {
        let mut p = event("INCOMING", "ivanov");
        p.retain(|(k, _)| *k != "crm_token");
        assert!(matches!(post_owned(&p), Err(PbxError::Unauthorized { .. })));
        p.push(("crm_token", "test-crm-token-5f1c0e2b".into()));
        assert!(matches!(post_owned(&p), Err(PbxError::Unauthorized { .. })));
        // Authentication comes before validation.
        assert!(matches!(
            post(&[("cmd", "event")]),
            Err(PbxError::Unauthorized { .. })
        ));
        let unset = MegafonConfig {
            crm_token: String::new(),
            ..config()
        };
        let body = form(&[
            ("cmd", "contact"),
            ("phone", "79161234567"),
            ("callid", "x"),
            ("crm_token", ""),
        ]);
        let r = WebhookRequest {
            method: "POST",
            sub_path: "",
            query: "",
            headers: &[],
            content_type: None,
            body: &body,
        };
        assert!(matches!(
            handle(&unset, &r),
            Err(PbxError::Unauthorized { .. })
        ));
        let err = post(&[("cmd", "ping"), ("crm_token", TOKEN)]).unwrap_err();
        assert!(matches!(err, PbxError::Unsupported { ref event, .. } if event == "cmd=ping"));
    }
}
