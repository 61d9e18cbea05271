//! Mango Office VPBX realtime API ("API Виртуальной АТС", уведомления).
//!
//! The VPBX POSTs `application/x-www-form-urlencoded` with three fields:
//! `vpbx_api_key`, `sign`, `json`, to `<our url>/events/call`,
//! `/events/summary`, `/events/recording` (and `/ping` from the "check
//! connection" button). `sign = lowercase hex(SHA-256(vpbx_api_key + json +
//! vpbx_api_salt))` over the `json` field exactly as sent.
//!
//! Ids: `entry_id` groups every leg of one call ("вход"), `call_id` is one
//! leg, `seq` orders that leg's events.

use std::fmt;

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::util::{ct_eq, form_to_json, get_str, get_u64, req_str, secs_u32, unix_secs};
use super::{default_account, PbxError, ProviderReply, WebhookRequest};
use super::{CallEvent, Direction, EventKind, Outcome};

pub const PROVIDER: &str = "mango";

/// `[pbx.mango]` section.
///
/// ```toml
/// [pbx.mango]
/// account  = "main"                 # label copied into every event
/// api_key  = "<vpbx_api_key>"       # "Уникальный код вашей АТС"
/// api_salt = "<vpbx_api_salt>"      # "Ключ для создания подписи"
/// api_url  = "https://app.mango-office.ru/vpbx/"   # where recordings are asked for
/// ```
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MangoConfig {
    #[serde(default = "default_account")]
    pub account: String,
    pub api_key: String,
    pub api_salt: String,
    /// The VPBX API's base (`queries/recording/post` is asked there).
    #[serde(default = "default_mango_api")]
    pub api_url: String,
}

pub fn default_mango_api() -> String {
    "https://app.mango-office.ru/vpbx/".to_owned()
}

// Hand-written so secrets never reach logs through `{:?}`.
impl fmt::Debug for MangoConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MangoConfig")
            .field("account", &self.account)
            .field("api_key", &"<redacted>")
            .field("api_salt", &"<redacted>")
            .field("api_url", &self.api_url)
            .finish()
    }
}

/// `lowercase hex(SHA-256(api_key + json + api_salt))` — the VPBX signature.
pub fn sign(api_key: &str, json: &str, api_salt: &str) -> String {
    let mut h = Sha256::new();
    h.update(api_key.as_bytes());
    h.update(json.as_bytes());
    h.update(api_salt.as_bytes());
    hex::encode(h.finalize())
}

/// Handles one realtime notification.
pub fn handle(config: &MangoConfig, req: &WebhookRequest<'_>) -> Result<ProviderReply, PbxError> {
    let path = req.path();
    let known_event = matches!(path, "events/call" | "events/summary" | "events/recording");
    if !(known_event || path == "ping" || path.starts_with("events/")) {
        return Err(PbxError::NotFound {
            path: path.to_string(),
        });
    }
    if !req.is_post() {
        return Err(PbxError::MethodNotAllowed {
            method: req.method.to_string(),
        });
    }

    let form = form_to_json(req.body);
    let api_key = get_str(&form, "vpbx_api_key");
    let provided_sign = get_str(&form, "sign");

    if path == "ping" && api_key.is_none() && provided_sign.is_none() {
        // The "check connection" ping carries nothing we would store, so an
        // unsigned one is simply acknowledged.
        return Ok(ProviderReply::ok(Vec::new()));
    }

    // The api key travels in every request; only the salt is secret, so an
    // empty salt would make signatures forgeable: fail closed.
    if config.api_key.is_empty() || config.api_salt.is_empty() {
        return Err(PbxError::Unauthorized {
            reason: "api_key/api_salt not configured",
        });
    }
    // Authenticate before looking at the payload: unauthenticated junk gets
    // 401, never a parse error that would reveal what we expect.
    let api_key = api_key.ok_or(PbxError::Unauthorized {
        reason: "missing vpbx_api_key",
    })?;
    let provided_sign = provided_sign.ok_or(PbxError::Unauthorized {
        reason: "missing sign",
    })?;
    if !ct_eq(api_key.as_bytes(), config.api_key.as_bytes()) {
        return Err(PbxError::Unauthorized {
            reason: "vpbx_api_key does not match",
        });
    }
    // The signed string is the raw `json` field, *not* re-serialised JSON:
    // key order and spacing matter. Taken untrimmed for that reason.
    let json_raw = match form.get("json") {
        Some(Value::String(s)) => s.as_str(),
        _ => "",
    };
    let expected = sign(&config.api_key, json_raw, &config.api_salt);
    if !ct_eq(
        provided_sign.to_ascii_lowercase().as_bytes(),
        expected.as_bytes(),
    ) {
        return Err(PbxError::Unauthorized {
            reason: "sign does not match",
        });
    }

    if path == "ping" {
        return Ok(ProviderReply::ok(Vec::new()));
    }
    if json_raw.trim().is_empty() {
        return Err(PbxError::missing("json"));
    }
    let payload: Value = serde_json::from_str(json_raw)
        .map_err(|e| PbxError::bad("json", format!("invalid JSON: {e}")))?;
    if !payload.is_object() {
        return Err(PbxError::bad("json", "not a JSON object"));
    }

    let events = match path {
        "events/call" => call_event(config, payload)?.into_iter().collect(),
        "events/summary" => vec![summary_event(config, payload)?],
        "events/recording" => recording_event(config, payload)?.into_iter().collect(),
        other => {
            // events/sms, events/dtmf, … : signed, but not ours to interpret.
            return Err(PbxError::Unsupported {
                provider: PROVIDER.to_string(),
                event: other.to_string(),
                verified: true,
                raw: payload,
            });
        }
    };
    Ok(ProviderReply::ok(events))
}

/// `from`/`to` objects of Mango payloads.
struct Party {
    extension: Option<String>,
    number: Option<String>,
}

impl Party {
    fn read(payload: &Value, key: &str) -> Self {
        Party {
            extension: get_str(payload, &format!("{key}.extension")),
            number: get_str(payload, &format!("{key}.number")),
        }
    }

    /// Number if given, else the extension: what the PBX showed as the party.
    fn display(&self) -> Option<String> {
        self.number.clone().or_else(|| self.extension.clone())
    }
}

/// Direction of one leg from who is on which side. An `extension` marks our
/// employee; a bare `number` is the outside world (or the IVR/queue, which
/// carries no extension either).
fn leg_direction(from: &Party, to: &Party) -> Direction {
    match (from.extension.is_some(), to.extension.is_some()) {
        (true, true) => Direction::Internal,
        (true, false) => Direction::Outbound,
        (false, _) => Direction::Inbound,
    }
}

fn employee_for(direction: Direction, from: &Party, to: &Party) -> Option<String> {
    match direction {
        Direction::Outbound => from.extension.clone(),
        _ => to.extension.clone(),
    }
}

fn base_event(
    config: &MangoConfig,
    call_id: String,
    event_key: String,
    provider_event: String,
    kind: EventKind,
) -> CallEvent {
    CallEvent {
        provider: PROVIDER.to_string(),
        account: config.account.clone(),
        call_id,
        leg_id: None,
        seq: None,
        event_key,
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

/// `events/call`: one state change of one leg.
fn call_event(config: &MangoConfig, payload: Value) -> Result<Option<CallEvent>, PbxError> {
    let entry_id = req_str(&payload, "entry_id", "json.entry_id")?;
    let leg = req_str(&payload, "call_id", "json.call_id")?;
    let seq = get_u64(&payload, "seq", "json.seq")?.ok_or_else(|| PbxError::missing("json.seq"))?;
    let state = req_str(&payload, "call_state", "json.call_state")?;
    let location = get_str(&payload, "location");
    let at = match get_u64(&payload, "timestamp", "json.timestamp")? {
        Some(t) => unix_secs(t, "json.timestamp")?,
        None => None,
    };
    let from = Party::read(&payload, "from");
    let to = Party::read(&payload, "to");
    let direction = leg_direction(&from, &to);

    let kind = match state.as_str() {
        "Appeared" if direction == Direction::Outbound => EventKind::Outgoing,
        "Appeared" => EventKind::Ringing,
        // "Connected" also fires when the VPBX's own IVR or queue picks the
        // call up; only a connection to a person (location "abonent") is an
        // answer. Anything but ivr/queue is treated as a person so that an
        // unexpected or missing location does not hide real answers.
        "Connected" => match location.as_deref() {
            Some("ivr") | Some("queue") => EventKind::Ringing,
            _ => EventKind::Answered,
        },
        "OnHold" => EventKind::Hold,
        "Disconnected" => EventKind::Ended,
        _ => {
            return Err(PbxError::Unsupported {
                provider: PROVIDER.to_string(),
                event: format!("events/call:{state}"),
                verified: true,
                raw: payload,
            })
        }
    };

    let mut ev = base_event(
        config,
        entry_id.clone(),
        format!("{entry_id}|{leg}|{seq}"),
        state,
        kind,
    );
    ev.leg_id = Some(leg);
    ev.seq = Some(seq);
    ev.direction = direction;
    ev.caller = from.display();
    ev.called = to.display();
    ev.employee = employee_for(direction, &from, &to);
    ev.at = at;
    ev.raw = payload;
    Ok(Some(ev))
}

/// `events/summary`: one per `entry_id` after the call is over.
///
/// Careful: `create_time`, `forward_time`, `talk_time`, `end_time` are all
/// unix *timestamps* (0 = did not happen), not durations; talk length is
/// `end_time - talk_time`.
fn summary_event(config: &MangoConfig, payload: Value) -> Result<CallEvent, PbxError> {
    let entry_id = req_str(&payload, "entry_id", "json.entry_id")?;
    let ts = |key: &str| -> Result<u64, PbxError> {
        Ok(get_u64(&payload, key, &format!("json.{key}"))?.unwrap_or(0))
    };
    let (create, talk, end) = (ts("create_time")?, ts("talk_time")?, ts("end_time")?);
    let entry_result = get_u64(&payload, "entry_result", "json.entry_result")?;
    let from = Party::read(&payload, "from");
    let to = Party::read(&payload, "to");
    let direction = match get_u64(&payload, "call_direction", "json.call_direction")? {
        Some(0) => Direction::Internal,
        Some(1) => Direction::Inbound,
        Some(2) => Direction::Outbound,
        _ => leg_direction(&from, &to),
    };

    let mut ev = base_event(
        config,
        entry_id.clone(),
        format!("{entry_id}|summary"),
        "summary".to_string(),
        EventKind::Summary,
    );
    ev.direction = direction;
    ev.caller = from.display();
    // For inbound calls the interesting "called" number is our line.
    ev.called = match direction {
        Direction::Inbound => get_str(&payload, "line_number").or_else(|| to.display()),
        _ => to.display(),
    };
    ev.employee = employee_for(direction, &from, &to);
    ev.call_started_at = unix_secs(create, "json.create_time")?;
    ev.at = unix_secs(end, "json.end_time")?;
    if create > 0 && end >= create {
        ev.duration_secs = Some(secs_u32(end - create));
    }
    ev.talk_secs = if talk > 0 && end >= talk {
        Some(secs_u32(end - talk))
    } else if talk == 0 && end > 0 {
        Some(0)
    } else {
        None
    };
    ev.outcome = match entry_result {
        Some(1) => Some(Outcome::Answered),
        Some(0) => Some(Outcome::NoAnswer),
        _ if talk > 0 => Some(Outcome::Answered),
        _ => None,
    };
    ev.raw = payload;
    Ok(ev)
}

/// `events/recording`: only `Completed` yields an event; `Started` carries
/// nothing storable yet.
fn recording_event(config: &MangoConfig, payload: Value) -> Result<Option<CallEvent>, PbxError> {
    let state = req_str(&payload, "recording_state", "json.recording_state")?;
    match state.as_str() {
        "Completed" => {}
        "Started" => return Ok(None),
        _ => {
            return Err(PbxError::Unsupported {
                provider: PROVIDER.to_string(),
                event: format!("events/recording:{state}"),
                verified: true,
                raw: payload,
            })
        }
    }
    let entry_id = req_str(&payload, "entry_id", "json.entry_id")?;
    let recording_id = req_str(&payload, "recording_id", "json.recording_id")?;
    let leg = get_str(&payload, "call_id");
    let mut ev = base_event(
        config,
        entry_id.clone(),
        format!("{entry_id}|recording|{recording_id}"),
        format!("recording:{state}"),
        EventKind::Recording,
    );
    ev.leg_id = leg;
    ev.seq = get_u64(&payload, "seq", "json.seq")?;
    ev.employee = get_str(&payload, "extension");
    ev.at = match get_u64(&payload, "timestamp", "json.timestamp")? {
        Some(t) => unix_secs(t, "json.timestamp")?,
        None => None,
    };
    // Mango gives no URL: the file is fetched with `queries/recording/post`
    // using this id.
    ev.recording_id = Some(recording_id);
    ev.raw = payload;
    Ok(Some(ev))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn config() -> MangoConfig {
        MangoConfig {
            account: "main".into(),
            api_key: "testvpbxapikey0000000000000000001".into(),
            api_salt: "testvpbxapisalt000000000000000001".into(),
            api_url: default_mango_api(),
        }
    }

    fn form_body(key: &str, sign: &str, json: &str) -> Vec<u8> {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("vpbx_api_key", key)
            .append_pair("sign", sign)
            .append_pair("json", json)
            .finish()
            .into_bytes()
    }

    fn post<'a>(path: &'a str, body: &'a [u8]) -> WebhookRequest<'a> {
        WebhookRequest {
            method: "POST",
            sub_path: path,
            query: "",
            headers: &[],
            content_type: Some("application/x-www-form-urlencoded"),
            body,
        }
    }

    fn signed(path: &str, json: &str) -> Result<ProviderReply, PbxError> {
        let c = config();
        let body = form_body(&c.api_key, &sign(&c.api_key, json, &c.api_salt), json);
        handle(&c, &post(path, &body))
    }

    // Shapes follow the VPBX realtime API docs (as mirrored by the
    // `mango-vpbx` client's tests): ids are base64-looking strings,
    // timestamps unix seconds.
    const APPEARED_IVR: &str = r#"{"entry_id":"MzUyODMzNzkxMjo0MDE=","call_id":"MToxMjI3NTM6NDAxOjYyODMxMTI1OTox","timestamp":1516454940,"seq":1,"call_state":"Appeared","location":"ivr","from":{"number":"74991102914"},"to":{"number":"74995013402","line_number":"74995013402"}}"#;
    const CONNECTED_ABONENT: &str = r#"{"entry_id":"MzUyODMzNzkxMjo0MDE=","call_id":"MToxMjI3NTM6NDAxOjYyODMxMTI1OTox","timestamp":1516454952,"seq":4,"call_state":"Connected","location":"abonent","from":{"number":"74991102914"},"to":{"extension":"360","number":"sip:manager@vpbx400000000.mangosip.ru","line_number":"74995013402"}}"#;
    const SUMMARY: &str = r#"{"entry_id":"MzUyODMzNzkxMjo0MDE=","call_direction":1,"from":{"number":"74991102914"},"to":{"extension":"360","number":"sip:manager@vpbx400000000.mangosip.ru"},"line_number":"74995013402","create_time":1516454940,"forward_time":1516454946,"talk_time":1516454952,"end_time":1516455012,"entry_result":1,"disconnect_reason":1110}"#;

    #[test]
    fn signature_matches_independent_vector() {
        // Computed with `printf '%s' "$KEY$JSON$SALT" | sha256sum`.
        let json = r#"{"entry_id":"MzUyODMzNzkxMjo0MDE=","seq":1}"#;
        let c = config();
        assert_eq!(
            sign(&c.api_key, json, &c.api_salt),
            "8ae43fd9537498799e232a2e4cab8665db045f4ae653a060b2407fe22e035cb1"
        );
    }

    #[test]
    fn appeared_in_ivr_is_ringing_inbound() {
        let reply = signed("events/call", APPEARED_IVR).expect("accepted");
        let ev = &reply.events()[0];
        assert_eq!(ev.call_id, "MzUyODMzNzkxMjo0MDE=");
        assert_eq!(
            ev.leg_id.as_deref(),
            Some("MToxMjI3NTM6NDAxOjYyODMxMTI1OTox")
        );
        assert_eq!(ev.seq, Some(1));
        assert_eq!(
            ev.event_key,
            "MzUyODMzNzkxMjo0MDE=|MToxMjI3NTM6NDAxOjYyODMxMTI1OTox|1"
        );
        assert_eq!(ev.kind, EventKind::Ringing);
        assert_eq!(ev.direction, Direction::Inbound);
        assert_eq!(ev.caller.as_deref(), Some("74991102914"));
        assert_eq!(ev.called.as_deref(), Some("74995013402"));
        assert_eq!(ev.employee, None);
        assert_eq!(ev.at, Utc.timestamp_opt(1516454940, 0).single());
        assert_eq!(ev.account, "main");
    }

    #[test]
    fn connected_to_employee_is_answered() {
        let reply = signed("/events/call/", CONNECTED_ABONENT).expect("accepted");
        let ev = &reply.events()[0];
        assert_eq!(ev.kind, EventKind::Answered);
        assert_eq!(ev.employee.as_deref(), Some("360"));
    }

    #[test]
    fn connected_in_ivr_is_not_an_answer() {
        let json = APPEARED_IVR
            .replace("Appeared", "Connected")
            .replace("\"seq\":1", "\"seq\":2");
        let reply = signed("events/call", &json).expect("accepted");
        assert_eq!(reply.events()[0].kind, EventKind::Ringing);
    }

    #[test]
    fn outbound_leg_from_extension() {
        let json = r#"{"entry_id":"NDE2NzM0NjQ0Mjo0MDE=","call_id":"MToxMDA1NzU5MzozNjE6NjIxNTE1OTE1","timestamp":1583020800,"seq":1,"call_state":"Appeared","location":"abonent","from":{"extension":"66613","number":"sip:ivanov@vpbx400000000.mangosip.ru"},"to":{"number":"79999999999"}}"#;
        let ev = signed("events/call", json)
            .expect("accepted")
            .into_events()
            .remove(0);
        assert_eq!(ev.kind, EventKind::Outgoing);
        assert_eq!(ev.direction, Direction::Outbound);
        assert_eq!(ev.employee.as_deref(), Some("66613"));
        assert_eq!(ev.called.as_deref(), Some("79999999999"));
    }

    #[test]
    fn disconnected_and_onhold() {
        let d = APPEARED_IVR
            .replace("Appeared", "Disconnected")
            .replace("\"seq\":1", "\"seq\":9");
        assert_eq!(
            signed("events/call", &d).expect("ok").events()[0].kind,
            EventKind::Ended
        );
        let h = CONNECTED_ABONENT
            .replace("Connected", "OnHold")
            .replace("\"seq\":4", "\"seq\":5");
        assert_eq!(
            signed("events/call", &h).expect("ok").events()[0].kind,
            EventKind::Hold
        );
    }

    #[test]
    fn summary_times_are_timestamps_not_durations() {
        let ev = signed("events/summary", SUMMARY)
            .expect("ok")
            .into_events()
            .remove(0);
        assert_eq!(ev.kind, EventKind::Summary);
        assert_eq!(ev.event_key, "MzUyODMzNzkxMjo0MDE=|summary");
        assert_eq!(ev.direction, Direction::Inbound);
        assert_eq!(ev.outcome, Some(Outcome::Answered));
        assert_eq!(ev.duration_secs, Some(72));
        assert_eq!(ev.talk_secs, Some(60));
        assert_eq!(ev.called.as_deref(), Some("74995013402"));
        assert_eq!(ev.employee.as_deref(), Some("360"));
        assert_eq!(
            ev.call_started_at,
            Utc.timestamp_opt(1516454940, 0).single()
        );
        assert_eq!(ev.at, Utc.timestamp_opt(1516455012, 0).single());
    }

    #[test]
    fn summary_not_answered() {
        let json = SUMMARY
            .replace("\"talk_time\":1516454952", "\"talk_time\":0")
            .replace("\"entry_result\":1", "\"entry_result\":0");
        let ev = signed("events/summary", &json)
            .expect("ok")
            .into_events()
            .remove(0);
        assert_eq!(ev.outcome, Some(Outcome::NoAnswer));
        assert_eq!(ev.talk_secs, Some(0));
    }

    #[test]
    fn recording_completed_and_started() {
        let completed = r#"{"recording_id":"MToxMjI3NTM6MzUyODMzNzg4OTow","recording_state":"Completed","seq":2,"entry_id":"MzUyODMzNzg4OTo0MDE=","call_id":"MToxMjI3NTM6NDAxOjYyODMxMTI1OA==","extension":"360","timestamp":1516454990,"recipient":"Cloud"}"#;
        let ev = signed("events/recording", completed)
            .expect("ok")
            .into_events()
            .remove(0);
        assert_eq!(ev.kind, EventKind::Recording);
        assert_eq!(
            ev.recording_id.as_deref(),
            Some("MToxMjI3NTM6MzUyODMzNzg4OTow")
        );
        assert_eq!(ev.recording_url, None);
        assert_eq!(ev.employee.as_deref(), Some("360"));
        let started = completed.replace("Completed", "Started");
        assert!(signed("events/recording", &started)
            .expect("ok")
            .events()
            .is_empty());
    }

    #[test]
    fn wrong_sign_key_or_missing_fields_are_unauthorized() {
        let c = config();
        let good = sign(&c.api_key, APPEARED_IVR, &c.api_salt);
        let bad_sign = form_body(&c.api_key, &good.replace('a', "b"), APPEARED_IVR);
        assert!(matches!(
            handle(&c, &post("events/call", &bad_sign)),
            Err(PbxError::Unauthorized { .. })
        ));
        let bad_key = form_body("someone-else", &good, APPEARED_IVR);
        assert!(matches!(
            handle(&c, &post("events/call", &bad_key)),
            Err(PbxError::Unauthorized { .. })
        ));
        // The JSON was altered after signing (one space added).
        let tampered = form_body(
            &c.api_key,
            &good,
            &APPEARED_IVR.replace(",\"seq\"", ", \"seq\""),
        );
        assert!(matches!(
            handle(&c, &post("events/call", &tampered)),
            Err(PbxError::Unauthorized { .. })
        ));
        let no_sign = b"vpbx_api_key=testvpbxapikey0000000000000000001&json=%7B%7D";
        assert!(matches!(
            handle(&c, &post("events/call", no_sign)),
            Err(PbxError::Unauthorized { .. })
        ));
        // Uppercase hex from a sloppy proxy is still the same signature.
        let upper = form_body(&c.api_key, &good.to_ascii_uppercase(), APPEARED_IVR);
        assert!(handle(&c, &post("events/call", &upper)).is_ok());
    }

    #[test]
    fn empty_salt_never_authenticates() {
        // Anyone who saw one request knows the api key; with an empty salt
        // they could sign anything.
        let c = MangoConfig {
            api_salt: String::new(),
            ..config()
        };
        let body = form_body(
            &c.api_key,
            &sign(&c.api_key, APPEARED_IVR, ""),
            APPEARED_IVR,
        );
        assert!(matches!(
            handle(&c, &post("events/call", &body)),
            Err(PbxError::Unauthorized { .. })
        ));
    }

    #[test]
    fn bad_payload_names_the_field() {
        let err = signed(
            "events/call",
            r#"{"call_id":"x","seq":1,"call_state":"Appeared"}"#,
        )
        .unwrap_err();
        assert_eq!(err, PbxError::missing("json.entry_id"));
        let err = signed("events/call", "not json").unwrap_err();
        assert!(matches!(err, PbxError::BadRequest { ref field, .. } if field == "json"));
    }

    #[test]
    fn unknown_state_and_endpoint() {
        let json = APPEARED_IVR.replace("Appeared", "Teleported");
        let err = signed("events/call", &json).unwrap_err();
        assert!(matches!(err, PbxError::Unsupported { verified: true, .. }));
        assert_eq!(err.http_status(), 200);
        let err = signed("events/dtmf", r#"{"entry_id":"x","dtmf":"1"}"#).unwrap_err();
        assert!(matches!(err, PbxError::Unsupported { ref event, .. } if event == "events/dtmf"));
        assert!(matches!(
            signed("commands/callback", "{}"),
            Err(PbxError::NotFound { .. })
        ));
    }

    #[test]
    fn ping_and_method() {
        assert!(signed("ping", "{}").expect("ok").events().is_empty());
        let c = config();
        assert!(handle(&c, &post("ping", b"")).is_ok());
        let get = WebhookRequest {
            method: "GET",
            ..post("events/call", b"")
        };
        assert!(matches!(
            handle(&c, &get),
            Err(PbxError::MethodNotAllowed { .. })
        ));
    }

    #[test]
    fn debug_does_not_leak_secrets() {
        let s = format!("{:?}", config());
        assert!(!s.contains("testvpbxapikey") && !s.contains("testvpbxapisalt"));
    }

    #[test]
    fn config_rejects_unknown_fields() {
        let ok: Result<MangoConfig, _> = serde_json::from_str(r#"{"api_key":"k","api_salt":"s"}"#);
        assert_eq!(ok.map(|c| c.account).ok().as_deref(), Some("default"));
        let bad: Result<MangoConfig, _> =
            serde_json::from_str(r#"{"api_key":"k","api_salt":"s","salt":"x"}"#);
        assert!(bad.is_err());
    }
}
