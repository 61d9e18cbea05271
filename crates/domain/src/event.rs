//! Outbound events: what the journal records for integrators (the change
//! feed and the webhooks). Each event has a type, the time it happened and
//! a payload with the current view of the entity it is about, in the shape
//! the read API gives it.

use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::appeal::{Appeal, AppealStatus, AppealView, NewAppeal};
use crate::decision::AppealDecision;
use crate::interest::{Interest, InterestStatus, Task};
use crate::scenario::Outcome;

macro_rules! event_types {
    ($($variant:ident => $name:literal),+ $(,)?) => {
        /// Every kind of event the journal records.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum EventType {
            $(#[serde(rename = $name)] $variant,)+
        }

        impl EventType {
            pub const ALL: &'static [EventType] = &[$(EventType::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(EventType::$variant => $name,)+
                }
            }

            pub fn parse(s: &str) -> Option<EventType> {
                match s {
                    $($name => Some(EventType::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

// Written by hand: the derive does not see the `serde(rename)` that the
// macro passes in, and documented the Rust names instead of the wire names.
impl utoipa::PartialSchema for EventType {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(EventType::ALL.iter().map(|t| t.as_str())))
            .description(Some("Every kind of event the journal records."))
            .into()
    }
}

impl utoipa::ToSchema for EventType {}

event_types! {
    AppealAccepted => "appeal.accepted",
    AppealDecided => "appeal.decided",
    AppealReviewDecided => "appeal.review_decided",
    ClientCreated => "client.created",
    ClientMerged => "client.merged",
    ClientUnmerged => "client.unmerged",
    InterestCreated => "interest.created",
    InterestLinkedAppeal => "interest.linked_appeal",
    InterestStageChanged => "interest.stage_changed",
    InterestWon => "interest.won",
    InterestLost => "interest.lost",
    InterestLossApproved => "interest.loss_approved",
    InterestReturned => "interest.returned",
    TaskCreated => "task.created",
    TaskCompleted => "task.completed",
    TaskOverdue => "task.overdue",
    CallFinished => "call.finished",
    MessageSent => "message.sent",
    MessageReceived => "message.received",
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Off only in `leadgate-bench events`, which measures what journaling
/// costs by running the same load with it on and off.
static JOURNAL_OFF: AtomicBool = AtomicBool::new(false);

/// A benchmark knob, never a setting: from here on this process builds no
/// event payloads and journals nothing (`LEADGATE_BENCH_NO_JOURNAL=1` makes
/// the daemon call it at start). The change feed and webhooks then miss
/// every change, so nothing but a benchmark may turn it on.
pub fn switch_journal_off_for_benchmarks() {
    JOURNAL_OFF.store(true, Ordering::Relaxed);
}

pub fn journal_enabled() -> bool {
    !JOURNAL_OFF.load(Ordering::Relaxed)
}

/// An event about to be journaled, in the transaction of the change it records.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub kind: EventType,
    pub at: DateTime<Utc>,
    pub data: serde_json::Value,
}

impl NewEvent {
    pub fn new(kind: EventType, data: serde_json::Value) -> NewEvent {
        NewEvent {
            kind,
            at: Utc::now(),
            data,
        }
    }

    /// `{"<key>": view}` plus the extra fields given.
    pub fn about<T: Serialize>(
        kind: EventType,
        key: &str,
        view: &T,
        extra: serde_json::Value,
    ) -> NewEvent {
        if !journal_enabled() {
            return NewEvent::new(kind, serde_json::Value::Null);
        }
        let mut data = serde_json::Map::new();
        data.insert(
            key.to_string(),
            serde_json::to_value(view).unwrap_or(serde_json::Value::Null),
        );
        if let serde_json::Value::Object(extra) = extra {
            data.extend(extra);
        }
        NewEvent::new(kind, serde_json::Value::Object(data))
    }

    pub fn task(kind: EventType, task: &Task) -> NewEvent {
        NewEvent::about(kind, "task", task, serde_json::json!({}))
    }

    /// `appeal.accepted` for an appeal intake has just stored.
    pub fn accepted(
        id: i64,
        appeal: &NewAppeal,
        status: AppealStatus,
        decision: Option<&AppealDecision>,
    ) -> NewEvent {
        let stored = Appeal {
            id,
            channel: appeal.channel,
            source: appeal.source.clone(),
            external_id: appeal.external_id.clone(),
            received_at: appeal.received_at,
            contact: appeal.contact.clone(),
            subject: appeal.subject.clone(),
            text: appeal.text.clone(),
            attachments: Vec::new(),
            attributes: appeal.attributes.clone(),
            status,
            client_id: None,
            interest_id: None,
            decision: decision.cloned(),
            intent: appeal.intent.clone(),
        };
        NewEvent::appeal(EventType::AppealAccepted, stored, serde_json::json!({}))
    }

    /// An event about an appeal as it now is; the full decision (the
    /// matcher's evidence included) rides along as `decision`.
    pub fn appeal(kind: EventType, appeal: Appeal, extra: serde_json::Value) -> NewEvent {
        if !journal_enabled() {
            return NewEvent::new(kind, serde_json::Value::Null);
        }
        let decision = appeal
            .decision
            .as_ref()
            .and_then(|d| serde_json::to_value(d).ok());
        let view = AppealView::from(appeal);
        let mut event = NewEvent::about(kind, "appeal", &view, extra);
        if let (Some(decision), serde_json::Value::Object(data)) = (decision, &mut event.data) {
            data.entry("decision").or_insert(decision);
        }
        event
    }
}

/// A journaled event, as the change feed and the webhooks deliver it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Event {
    /// The feed position: events are delivered in increasing `id` and a
    /// larger id is never committed before a smaller one becomes visible.
    pub id: i64,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub timestamp: DateTime<Utc>,
    /// The payload as journaled: passed on as stored, never parsed and
    /// written again, which is most of what serving the feed and the
    /// webhooks would otherwise cost.
    #[schema(value_type = Object)]
    pub data: Box<serde_json::value::RawValue>,
}

impl Event {
    /// The Standard Webhooks message id: the same on every retry of it.
    pub fn webhook_id(&self) -> String {
        format!("evt_{}", self.id)
    }
}

/// A glob over event types: `*`, `interest.*`, `task.created`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPattern(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` matches no event type (known: appeal.*, client.*, interest.*, task.*, call.finished, message.*)")]
pub struct UnknownEventPattern(pub String);

impl EventPattern {
    pub fn parse(raw: &str) -> Result<EventPattern, UnknownEventPattern> {
        let pattern = EventPattern(raw.trim().to_string());
        if EventType::ALL.iter().any(|t| pattern.matches(*t)) {
            Ok(pattern)
        } else {
            Err(UnknownEventPattern(raw.to_string()))
        }
    }

    pub fn matches(&self, kind: EventType) -> bool {
        glob(&self.0, kind.as_str())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether any of `patterns` matches (an empty list matches nothing).
pub fn any_matches(patterns: &[EventPattern], kind: EventType) -> bool {
    patterns.iter().any(|p| p.matches(kind))
}

/// `*` stands for any run of characters, everything else for itself.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            let Some(mut tail) = text.strip_prefix(head) else {
                return false;
            };
            if rest.is_empty() {
                return true;
            }
            loop {
                if glob(rest, tail) {
                    return true;
                }
                let mut chars = tail.chars();
                if chars.next().is_none() {
                    return false;
                }
                tail = chars.as_str();
            }
        }
    }
}

/// What an outcome of the stage engine did to an interest, as events:
/// the stage move, the win, the loss (and its approval) and the return to
/// work. `before` is the interest as it was; the view sent is as it is now.
pub fn interest_events(before: &Interest, outcome: &Outcome, at: DateTime<Utc>) -> Vec<NewEvent> {
    let mut after = before.clone();
    after.scenario = outcome.scenario_id.clone();
    after.stage = outcome.new_stage.clone();
    after.status = outcome.new_status;
    if let Some(amount) = outcome.potential_amount {
        after.potential_amount = Some(amount);
    }
    after.updated_at = at;
    let mut out = Vec::new();
    let mut push = |kind: EventType, extra: serde_json::Value| {
        let mut event = NewEvent::about(kind, "interest", &after, extra);
        event.at = at;
        out.push(event);
    };
    if after.stage != before.stage {
        push(
            EventType::InterestStageChanged,
            serde_json::json!({"from_stage": before.stage, "to_stage": after.stage}),
        );
    }
    if after.status != before.status {
        let from = serde_json::json!({"from_status": before.status});
        match after.status {
            InterestStatus::Won => push(EventType::InterestWon, from),
            InterestStatus::Lost => {
                if before.status == InterestStatus::LossPending {
                    push(EventType::InterestLossApproved, from.clone());
                }
                push(EventType::InterestLost, from);
            }
            InterestStatus::Open => push(EventType::InterestReturned, from),
            InterestStatus::LossPending => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips_through_its_name() {
        assert_eq!(EventType::ALL.len(), 19);
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(*t));
            assert_eq!(
                serde_json::to_value(t).unwrap(),
                serde_json::json!(t.as_str())
            );
        }
    }

    #[test]
    fn globs_match_families_and_exact_names() {
        let p = |s| EventPattern::parse(s).unwrap();
        assert!(p("*").matches(EventType::CallFinished));
        assert!(p("interest.*").matches(EventType::InterestWon));
        assert!(!p("interest.*").matches(EventType::TaskCreated));
        assert!(p("task.created").matches(EventType::TaskCreated));
        assert!(!p("task.created").matches(EventType::TaskCompleted));
        assert!(p("*.created").matches(EventType::ClientCreated));
        assert!(EventPattern::parse("deal.*").is_err());
        assert!(EventPattern::parse("interest.").is_err());
    }
}
