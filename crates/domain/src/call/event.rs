//! Provider-neutral call event: one webhook notification, normalised.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What happened, as far as call assembly is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A call (or one leg of it) appeared / rings. Also used for a caller
    /// sitting in the PBX's own IVR or queue: alive, but no human answered.
    Ringing,
    /// An employee started an outgoing call (the PBX is dialling the client).
    Outgoing,
    /// A human (employee, or the client on an outgoing call) answered.
    Answered,
    /// A party was put on hold. Informational only.
    Hold,
    /// The call (or one leg when `leg_id` is set) ended; `outcome` may say how.
    Ended,
    /// The provider explicitly reports this call/leg as not answered
    /// (e.g. MegaFon `CANCELLED`). Another leg may still have answered.
    Missed,
    /// Final per-call summary (Mango `events/summary`, MegaFon `history`).
    /// Authoritative: after it the call is final.
    Summary,
    /// A recording became available (`recording_url` or `recording_id`).
    Recording,
}

impl EventKind {
    /// Parses the names used in generic mappings (`"ringing"`, `"answered"` …).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "ringing" => EventKind::Ringing,
            "outgoing" => EventKind::Outgoing,
            "answered" => EventKind::Answered,
            "hold" => EventKind::Hold,
            "ended" => EventKind::Ended,
            "missed" => EventKind::Missed,
            "summary" => EventKind::Summary,
            "recording" => EventKind::Recording,
            _ => return None,
        })
    }
}

/// Direction from our side: `Inbound` = a client called us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Inbound,
    Outbound,
    Internal,
    /// The event does not say (e.g. Zadarma `NOTIFY_RECORD`); call assembly
    /// takes the direction from the call's other events.
    Unknown,
}

impl Direction {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "inbound" | "in" | "incoming" => Direction::Inbound,
            "outbound" | "out" | "outgoing" => Direction::Outbound,
            "internal" => Direction::Internal,
            "unknown" => Direction::Unknown,
            _ => return None,
        })
    }
}

/// How a call (or attempt) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Answered,
    Busy,
    NoAnswer,
    Cancelled,
    Failed,
}

impl Outcome {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "answered" => Outcome::Answered,
            "busy" => Outcome::Busy,
            "no_answer" | "noanswer" | "no answer" => Outcome::NoAnswer,
            "cancelled" | "canceled" | "cancel" => Outcome::Cancelled,
            "failed" => Outcome::Failed,
            _ => return None,
        })
    }
}

/// One normalised webhook notification.
///
/// `event_key` is the idempotency key, unique per (`provider`, `account`):
/// the same notification delivered twice yields the same key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallEvent {
    /// `"mango"`, `"zadarma"`, `"megafon"` or the generic config's `provider`.
    pub provider: String,
    /// Account label from the provider config (multi-account setups).
    pub account: String,
    /// Id that groups all legs/events of one call: Mango `entry_id`, Zadarma
    /// `pbx_call_id`, MegaFon `callid`.
    pub call_id: String,
    /// One leg of the call when the provider distinguishes legs (Mango
    /// `call_id`, MegaFon `user`, Zadarma `internal` on per-extension events).
    pub leg_id: Option<String>,
    /// Provider ordering within a leg (Mango `seq`).
    pub seq: Option<u64>,
    pub event_key: String,
    /// The provider's own name for the event (`"NOTIFY_END"`, `"Appeared"`,
    /// `"event/INCOMING"` …), for logs and debugging.
    pub provider_event: String,
    pub kind: EventKind,
    pub direction: Direction,
    /// Calling party exactly as the provider gave it.
    pub caller: Option<String>,
    /// Called party exactly as the provider gave it.
    pub called: Option<String>,
    /// Employee on our side (extension, login or name as given).
    pub employee: Option<String>,
    /// When this event happened, if the provider says.
    pub at: Option<DateTime<Utc>>,
    /// When the whole call started, if the provider says (Zadarma repeats
    /// `call_start` on every event; summaries carry it too).
    pub call_started_at: Option<DateTime<Utc>>,
    /// Whole call length in seconds (ringing included where the provider
    /// includes it).
    pub duration_secs: Option<u32>,
    /// Conversation length in seconds, when known separately.
    pub talk_secs: Option<u32>,
    pub outcome: Option<Outcome>,
    /// Directly downloadable recording, when the provider gives a URL.
    pub recording_url: Option<String>,
    /// Recording id that has to be exchanged for a file through the
    /// provider's API (Mango `recording_id`, Zadarma `call_id_with_rec`).
    pub recording_id: Option<String>,
    /// The notification as received (form fields as a JSON object).
    pub raw: serde_json::Value,
}
