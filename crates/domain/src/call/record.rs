//! Call assembly: one [`CallRecord`] per (provider, account, call id),
//! folded from its [`CallEvent`]s.
//!
//! Webhooks arrive late, twice, and out of order, so folding is
//! order-independent: every derived value is a min/max/any over the events
//! seen, or a pick by a fixed preference (event kind, then time, then event
//! key) — never "last one wins". Applying the same events in any order gives
//! the same record; re-applying an event changes nothing.
//!
//! State: `Ringing` → `Answered` → `Ended`, or `Ringing` → `Missed`.
//! "Answered" is sticky: any evidence of an answer (an `Answered` event, an
//! `answered` outcome, talk time > 0) makes the call answered, even when the
//! end arrived first. So a call can go `Missed` → `Ended` when the answer
//! evidence comes in late.
//!
//! "Ended" means a call-level end (an end event without `leg_id`, or a
//! summary) — or, for providers that only report legs (MegaFon live events,
//! Mango without `events/summary`), that every leg seen so far has ended.
//! The latter can be premature when a new leg's first event is still in
//! flight, so [`CallRecord::is_final`] only trusts call-level ends; the
//! pipeline should wait for `is_final()` (or a quiet period) before acting
//! on a missed call.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::event::{CallEvent, Direction, EventKind, Outcome};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    /// Started, nobody answered yet.
    Ringing,
    /// Answered and not over yet.
    Answered,
    /// Answered, then over.
    Ended,
    /// Over without an answer (either direction; see [`CallRecord::is_missed`]).
    Missed,
}

/// A value chosen among events by a fixed preference, so the choice does
/// not depend on arrival order: lower `rank` wins, then the earlier event
/// time (events without a time last), then the smaller event key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Pick {
    rank: u8,
    at: Option<i64>,
    key: String,
    value: String,
}

impl Pick {
    fn order(&self) -> (u8, bool, i64, &str) {
        (
            self.rank,
            self.at.is_none(),
            self.at.unwrap_or(0),
            &self.key,
        )
    }

    fn offer(slot: &mut Option<Pick>, rank: u8, ev: &CallEvent, value: Option<&String>) {
        let Some(value) = value.filter(|v| !v.trim().is_empty()) else {
            return;
        };
        let candidate = Pick {
            rank,
            at: ev.at.map(|t| t.timestamp()),
            key: ev.event_key.clone(),
            value: value.clone(),
        };
        if slot
            .as_ref()
            .is_none_or(|cur| candidate.order() < cur.order())
        {
            *slot = Some(candidate);
        }
    }
}

// Preference ranks. Parties: the summary is the PBX's own final word, the
// first event of a call describes it best. Employee: whoever answered.
fn party_rank(kind: EventKind) -> u8 {
    match kind {
        EventKind::Summary => 0,
        EventKind::Ringing | EventKind::Outgoing => 1,
        EventKind::Answered => 2,
        EventKind::Ended | EventKind::Missed => 3,
        EventKind::Hold | EventKind::Recording => 4,
    }
}

fn employee_rank(kind: EventKind) -> u8 {
    match kind {
        EventKind::Answered => 0,
        EventKind::Summary => 1,
        EventKind::Ended => 2,
        EventKind::Outgoing => 3,
        EventKind::Missed => 4,
        EventKind::Ringing => 5,
        EventKind::Hold => 6,
        EventKind::Recording => 7,
    }
}

fn recording_rank(kind: EventKind) -> u8 {
    match kind {
        EventKind::Recording => 0,
        EventKind::Summary => 1,
        EventKind::Ended => 2,
        _ => 3,
    }
}

fn min_time(slot: &mut Option<DateTime<Utc>>, t: Option<DateTime<Utc>>) {
    if let Some(t) = t {
        if slot.is_none_or(|cur| t < cur) {
            *slot = Some(t);
        }
    }
}

fn max_time(slot: &mut Option<DateTime<Utc>>, t: Option<DateTime<Utc>>) {
    if let Some(t) = t {
        if slot.is_none_or(|cur| t > cur) {
            *slot = Some(t);
        }
    }
}

fn max_secs(slot: &mut Option<u32>, v: Option<u32>) {
    if let Some(v) = v {
        if slot.is_none_or(|cur| v > cur) {
            *slot = Some(v);
        }
    }
}

/// One call, assembled from its events. Serializable so the pipeline can
/// store it and keep folding later events into it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    provider: String,
    account: String,
    call_id: String,
    /// Event keys already applied (idempotency).
    applied: BTreeSet<String>,
    /// Leg id → has ended.
    legs: BTreeMap<String, bool>,
    answered: bool,
    call_level_end: bool,
    leg_end_seen: bool,
    summary_seen: bool,
    summary_direction: Option<Direction>,
    seen_inbound: bool,
    seen_outbound: bool,
    seen_internal: bool,
    caller: Option<Pick>,
    called: Option<Pick>,
    employee: Option<Pick>,
    recording_url: Option<Pick>,
    recording_id: Option<Pick>,
    outcomes: BTreeSet<Outcome>,
    duration_secs: Option<u32>,
    talk_secs: Option<u32>,
    started_at: Option<DateTime<Utc>>,
    answered_at: Option<DateTime<Utc>>,
    ended_at: Option<DateTime<Utc>>,
}

impl CallRecord {
    pub fn new(
        provider: impl Into<String>,
        account: impl Into<String>,
        call_id: impl Into<String>,
    ) -> Self {
        CallRecord {
            provider: provider.into(),
            account: account.into(),
            call_id: call_id.into(),
            applied: BTreeSet::new(),
            legs: BTreeMap::new(),
            answered: false,
            call_level_end: false,
            leg_end_seen: false,
            summary_seen: false,
            summary_direction: None,
            seen_inbound: false,
            seen_outbound: false,
            seen_internal: false,
            caller: None,
            called: None,
            employee: None,
            recording_url: None,
            recording_id: None,
            outcomes: BTreeSet::new(),
            duration_secs: None,
            talk_secs: None,
            started_at: None,
            answered_at: None,
            ended_at: None,
        }
    }

    /// A record for the call `ev` belongs to, with `ev` applied.
    pub fn from_event(ev: &CallEvent) -> Self {
        let mut rec = CallRecord::new(ev.provider.clone(), ev.account.clone(), ev.call_id.clone());
        rec.apply(ev);
        rec
    }

    /// True when `ev` belongs to this call.
    pub fn accepts(&self, ev: &CallEvent) -> bool {
        ev.provider == self.provider && ev.account == self.account && ev.call_id == self.call_id
    }

    /// Folds one event in. Returns whether the record changed: `false` for
    /// an event already applied (same `event_key`), for an event of another
    /// call, and for an event that adds nothing new.
    pub fn apply(&mut self, ev: &CallEvent) -> bool {
        if !self.accepts(ev) || self.applied.contains(&ev.event_key) {
            return false;
        }
        // Compare everything but the key set: "changed" means the record
        // now says something different (or will fold later events
        // differently), not merely that it saw one more key.
        let applied = std::mem::take(&mut self.applied);
        let before = self.clone();
        self.fold(ev);
        let changed = *self != before;
        self.applied = applied;
        self.applied.insert(ev.event_key.clone());
        changed
    }

    fn fold(&mut self, ev: &CallEvent) {
        let is_end = matches!(ev.kind, EventKind::Ended | EventKind::Missed);

        if let Some(leg) = &ev.leg_id {
            if matches!(
                ev.kind,
                EventKind::Ringing
                    | EventKind::Outgoing
                    | EventKind::Answered
                    | EventKind::Ended
                    | EventKind::Missed
            ) {
                let closed = self.legs.entry(leg.clone()).or_insert(false);
                if is_end {
                    *closed = true;
                }
            }
        }

        match ev.kind {
            EventKind::Ringing | EventKind::Outgoing => min_time(&mut self.started_at, ev.at),
            EventKind::Answered => {
                self.answered = true;
                min_time(&mut self.answered_at, ev.at);
            }
            EventKind::Ended | EventKind::Missed => {
                if ev.leg_id.is_some() {
                    self.leg_end_seen = true;
                } else {
                    self.call_level_end = true;
                }
                max_time(&mut self.ended_at, ev.at);
            }
            EventKind::Summary => {
                self.summary_seen = true;
                self.call_level_end = true;
                if ev.direction != Direction::Unknown {
                    self.summary_direction = Some(ev.direction);
                }
                max_time(&mut self.ended_at, ev.at);
                // A summary's talk time ends at its end time.
                if let (Some(end), Some(talk)) = (ev.at, ev.talk_secs.filter(|t| *t > 0)) {
                    min_time(
                        &mut self.answered_at,
                        end.checked_sub_signed(Duration::seconds(i64::from(talk))),
                    );
                }
            }
            EventKind::Hold | EventKind::Recording => {}
        }

        min_time(&mut self.started_at, ev.call_started_at);
        if (is_end || ev.kind == EventKind::Summary) && ev.at.is_none() {
            if let (Some(start), Some(d)) = (ev.call_started_at, ev.duration_secs) {
                max_time(
                    &mut self.ended_at,
                    start.checked_add_signed(Duration::seconds(i64::from(d))),
                );
            }
        }

        if let Some(o) = ev.outcome {
            self.outcomes.insert(o);
            if o == Outcome::Answered {
                self.answered = true;
            }
        }
        if ev.talk_secs.is_some_and(|t| t > 0) {
            self.answered = true;
        }
        max_secs(&mut self.talk_secs, ev.talk_secs);
        max_secs(&mut self.duration_secs, ev.duration_secs);

        match ev.direction {
            Direction::Inbound => self.seen_inbound = true,
            Direction::Outbound => self.seen_outbound = true,
            Direction::Internal => self.seen_internal = true,
            Direction::Unknown => {}
        }

        Pick::offer(
            &mut self.caller,
            party_rank(ev.kind),
            ev,
            ev.caller.as_ref(),
        );
        Pick::offer(
            &mut self.called,
            party_rank(ev.kind),
            ev,
            ev.called.as_ref(),
        );
        Pick::offer(
            &mut self.employee,
            employee_rank(ev.kind),
            ev,
            ev.employee.as_ref(),
        );
        Pick::offer(
            &mut self.recording_url,
            recording_rank(ev.kind),
            ev,
            ev.recording_url.as_ref(),
        );
        Pick::offer(
            &mut self.recording_id,
            recording_rank(ev.kind),
            ev,
            ev.recording_id.as_ref(),
        );
    }

    pub fn provider(&self) -> &str {
        &self.provider
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// Number of distinct events folded in.
    pub fn event_count(&self) -> usize {
        self.applied.len()
    }

    pub fn has_event(&self, event_key: &str) -> bool {
        self.applied.contains(event_key)
    }

    fn is_over(&self) -> bool {
        self.call_level_end || (self.leg_end_seen && self.legs.values().all(|closed| *closed))
    }

    pub fn state(&self) -> CallState {
        match (self.answered, self.is_over()) {
            (true, true) => CallState::Ended,
            (true, false) => CallState::Answered,
            (false, true) => CallState::Missed,
            (false, false) => CallState::Ringing,
        }
    }

    /// The PBX said the whole call is over (call-level end or summary), so
    /// the state will not flip back to ringing. It can still become answered
    /// if answer evidence arrives late.
    pub fn is_final(&self) -> bool {
        self.call_level_end
    }

    /// The provider's summary (Mango `events/summary`, MegaFon `history`) has
    /// been seen.
    pub fn has_summary(&self) -> bool {
        self.summary_seen
    }

    /// From our side. The summary's direction wins; otherwise an inbound leg
    /// makes the call inbound (transfers add internal legs to inbound calls).
    pub fn direction(&self) -> Direction {
        if let Some(d) = self.summary_direction {
            return d;
        }
        if self.seen_inbound {
            Direction::Inbound
        } else if self.seen_outbound {
            Direction::Outbound
        } else if self.seen_internal {
            Direction::Internal
        } else {
            Direction::Unknown
        }
    }

    pub fn is_answered(&self) -> bool {
        self.answered
    }

    /// An inbound call that is over and nobody answered.
    pub fn is_missed(&self) -> bool {
        self.state() == CallState::Missed && self.direction() == Direction::Inbound
    }

    pub fn is_answered_inbound(&self) -> bool {
        self.answered && self.direction() == Direction::Inbound
    }

    /// Calling party as the provider gave it (raw).
    pub fn caller_number(&self) -> Option<&str> {
        self.caller.as_ref().map(|p| p.value.as_str())
    }

    /// Called party as the provider gave it (raw); for inbound calls
    /// usually our line.
    pub fn called_number(&self) -> Option<&str> {
        self.called.as_ref().map(|p| p.value.as_str())
    }

    /// The client's number: the caller of an inbound call, the called party
    /// of an outbound one. Raw; check [`is_hidden_number`] before use.
    pub fn client_number(&self) -> Option<&str> {
        match self.direction() {
            Direction::Outbound => self.called_number(),
            Direction::Internal => None,
            _ => self.caller_number(),
        }
    }

    /// Employee who answered (or placed) the call, as the provider named
    /// them; for missed calls one of those it rang at.
    pub fn employee(&self) -> Option<&str> {
        self.employee.as_ref().map(|p| p.value.as_str())
    }

    pub fn recording_url(&self) -> Option<&str> {
        self.recording_url.as_ref().map(|p| p.value.as_str())
    }

    /// Provider recording id to fetch through its API (Mango, Zadarma).
    pub fn recording_id(&self) -> Option<&str> {
        self.recording_id.as_ref().map(|p| p.value.as_str())
    }

    /// Answered, or the most telling failure seen (busy > failed >
    /// cancelled > no answer); `None` when nothing said.
    pub fn outcome(&self) -> Option<Outcome> {
        if self.answered {
            return Some(Outcome::Answered);
        }
        [
            Outcome::Busy,
            Outcome::Failed,
            Outcome::Cancelled,
            Outcome::NoAnswer,
        ]
        .into_iter()
        .find(|o| self.outcomes.contains(o))
    }

    /// Whole call length in seconds: the longest reported, else end − start.
    pub fn duration(&self) -> Option<u32> {
        self.duration_secs
            .or_else(|| secs_between(self.started_at, self.ended_at))
    }

    /// Conversation length in seconds: the longest reported, else end −
    /// answer time. `Some(0)` for calls known not to have been answered.
    pub fn talk_duration(&self) -> Option<u32> {
        if !self.answered {
            return self
                .talk_secs
                .map(|_| 0)
                .or_else(|| self.is_over().then_some(0));
        }
        self.talk_secs
            .filter(|t| *t > 0)
            .or_else(|| secs_between(self.answered_at, self.ended_at))
    }

    pub fn started_at(&self) -> Option<DateTime<Utc>> {
        self.started_at
    }

    pub fn answered_at(&self) -> Option<DateTime<Utc>> {
        self.answered_at
    }

    pub fn ended_at(&self) -> Option<DateTime<Utc>> {
        self.ended_at
    }
}

fn secs_between(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Option<u32> {
    let secs = (to? - from?).num_seconds();
    u32::try_from(secs).ok()
}

/// Shortest digit string we treat as a real caller number. Russian local
/// numbers without an area code have 5–7 digits; anything shorter is an
/// extension, a service code or garbage.
const MIN_NUMBER_DIGITS: usize = 5;

/// Words PBXes put in place of a withheld number (compared lowercase).
const HIDDEN_WORDS: &[&str] = &[
    "anonymous",
    "unknown",
    "restricted",
    "private",
    "unavailable",
    "withheld",
    "hidden",
    "скрыт",
    "неизвест",
];

/// True when `raw` cannot identify a caller by phone: empty, a "withheld"
/// placeholder (`anonymous`, `unknown`, `Restricted`, …, also inside a SIP
/// URI), no digits at all, all zeros, or too short to be a phone number.
pub fn is_hidden_number(raw: &str) -> bool {
    let mut s = raw.trim();
    // `sip:anonymous@anonymous.invalid`, `tel:+7…;ext=1` → the user part.
    for scheme in ["sips:", "sip:", "tel:"] {
        // `get` rather than indexing: the input is arbitrary UTF-8 and the
        // cut may fall inside a character.
        if let Some(rest) = s
            .get(..scheme.len())
            .filter(|head| head.eq_ignore_ascii_case(scheme))
            .and_then(|_| s.get(scheme.len()..))
        {
            s = rest;
            break;
        }
    }
    let s = s.split(['@', ';']).next().unwrap_or("").trim();
    let lower = s.to_lowercase();
    if s.is_empty() || HIDDEN_WORDS.iter().any(|w| lower.contains(w)) {
        return true;
    }
    let digits = s.chars().filter(char::is_ascii_digit).count();
    digits < MIN_NUMBER_DIGITS || s.chars().filter(char::is_ascii_digit).all(|c| c == '0')
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::Value;

    fn t(secs: i64) -> Option<DateTime<Utc>> {
        Utc.timestamp_opt(1_715_670_903 + secs, 0).single()
    }

    fn ev(
        provider: &str,
        call: &str,
        key: &str,
        kind: EventKind,
        direction: Direction,
    ) -> CallEvent {
        CallEvent {
            provider: provider.into(),
            account: "main".into(),
            call_id: call.into(),
            leg_id: None,
            seq: None,
            event_key: key.into(),
            provider_event: key.into(),
            kind,
            direction,
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

    /// Provider times at the edges of representable time, with the longest
    /// durations, in every kind and order: folding must never panic (a
    /// panic would take the webhook's task down with it).
    #[test]
    fn hostile_times_fold_without_panicking() {
        let edges = [
            Some(DateTime::<Utc>::MAX_UTC),
            Some(DateTime::<Utc>::MIN_UTC),
            Utc.timestamp_opt(0, 0).single(),
            t(0),
            None,
        ];
        let kinds = [
            EventKind::Ringing,
            EventKind::Outgoing,
            EventKind::Answered,
            EventKind::Hold,
            EventKind::Ended,
            EventKind::Missed,
            EventKind::Summary,
            EventKind::Recording,
        ];
        let mut n = 0;
        for at in edges {
            for started in edges {
                for secs in [None, Some(0), Some(1), Some(u32::MAX)] {
                    let mut rec = CallRecord::new("zadarma", "main", ZCALL);
                    for kind in kinds {
                        n += 1;
                        let mut e =
                            ev("zadarma", ZCALL, &format!("k{n}"), kind, Direction::Inbound);
                        e.at = at;
                        e.call_started_at = started;
                        e.duration_secs = secs;
                        e.talk_secs = secs;
                        e.outcome = Some(Outcome::Answered);
                        rec.apply(&e);
                    }
                    let _ = (
                        rec.duration(),
                        rec.talk_duration(),
                        rec.state(),
                        rec.outcome(),
                    );
                    let _ = (rec.started_at(), rec.answered_at(), rec.ended_at());
                }
            }
        }
    }

    const ZCALL: &str = "in_6fd1a8e0d2b3c4f5a6b7c8d9e0f1a2b3";

    /// A Zadarma inbound call, as `zadarma::handle` produces it.
    fn zadarma_answered() -> Vec<CallEvent> {
        let base = |key: &str, kind| {
            let mut e = ev("zadarma", ZCALL, key, kind, Direction::Inbound);
            e.caller = Some("79161234567".into());
            e.call_started_at = t(0);
            e
        };
        let mut start = base("in|NOTIFY_START", EventKind::Ringing);
        start.called = Some("74951234567".into());
        start.at = t(0);
        let mut internal = base("in|NOTIFY_INTERNAL|101", EventKind::Ringing);
        internal.called = Some("74951234567".into());
        internal.leg_id = Some("101".into());
        internal.employee = Some("101".into());
        let mut internal2 = base("in|NOTIFY_INTERNAL|102", EventKind::Ringing);
        internal2.called = Some("74951234567".into());
        internal2.leg_id = Some("102".into());
        internal2.employee = Some("102".into());
        let mut answer = base("in|NOTIFY_ANSWER|102", EventKind::Answered);
        answer.called = Some("102".into());
        answer.leg_id = Some("102".into());
        answer.employee = Some("102".into());
        let mut end = base("in|NOTIFY_END", EventKind::Ended);
        end.called = Some("74951234567".into());
        end.employee = Some("102".into());
        end.duration_secs = Some(95);
        end.outcome = Some(Outcome::Answered);
        end.at = t(95);
        let mut record = ev(
            "zadarma",
            ZCALL,
            "in|NOTIFY_RECORD|1715670903.1234567",
            EventKind::Recording,
            Direction::Unknown,
        );
        record.recording_id = Some("1715670903.1234567".into());
        vec![start, internal, internal2, answer, end, record]
    }

    fn fold(events: &[CallEvent]) -> CallRecord {
        let mut rec = CallRecord::from_event(&events[0]);
        for e in &events[1..] {
            rec.apply(e);
        }
        rec
    }

    #[test]
    fn zadarma_call_in_order() {
        let events = zadarma_answered();
        let mut rec = CallRecord::new("zadarma", "main", ZCALL);
        assert!(rec.apply(&events[0]));
        assert_eq!(rec.state(), CallState::Ringing);
        rec.apply(&events[1]);
        rec.apply(&events[2]);
        assert!(rec.apply(&events[3]));
        assert_eq!(rec.state(), CallState::Answered);
        rec.apply(&events[4]);
        rec.apply(&events[5]);
        assert_eq!(rec.state(), CallState::Ended);
        assert!(rec.is_final());
        assert!(rec.is_answered_inbound());
        assert!(!rec.is_missed());
        assert_eq!(rec.caller_number(), Some("79161234567"));
        assert_eq!(rec.client_number(), Some("79161234567"));
        assert_eq!(rec.called_number(), Some("74951234567"));
        assert_eq!(rec.employee(), Some("102"));
        assert_eq!(rec.recording_id(), Some("1715670903.1234567"));
        assert_eq!(rec.duration(), Some(95));
        assert_eq!(rec.outcome(), Some(Outcome::Answered));
        assert_eq!(rec.started_at(), t(0));
        assert_eq!(rec.ended_at(), t(95));
        assert_eq!(rec.event_count(), 6);
    }

    /// Heap's algorithm; 6 events → 720 orders.
    fn permutations(items: &mut Vec<CallEvent>, k: usize, out: &mut dyn FnMut(&[CallEvent])) {
        if k <= 1 {
            out(items);
            return;
        }
        for i in 0..k {
            permutations(items, k - 1, out);
            let j = if k % 2 == 0 { i } else { 0 };
            items.swap(j, k - 1);
        }
    }

    #[test]
    fn any_order_gives_the_same_record() {
        let mut events = zadarma_answered();
        let reference = fold(&events);
        let n = events.len();
        let mut count = 0;
        permutations(&mut events, n, &mut |order| {
            let rec = fold(order);
            assert_eq!(rec, reference);
            count += 1;
        });
        assert_eq!(count, 720);
    }

    #[test]
    fn duplicates_change_nothing() {
        let events = zadarma_answered();
        let mut rec = fold(&events);
        let snapshot = rec.clone();
        for e in &events {
            assert!(
                !rec.apply(e),
                "duplicate {} changed the record",
                e.event_key
            );
        }
        assert_eq!(rec, snapshot);
    }

    #[test]
    fn other_calls_are_ignored() {
        let mut rec = fold(&zadarma_answered());
        let mut stranger = ev(
            "zadarma",
            "in_other",
            "in_other|NOTIFY_START",
            EventKind::Ringing,
            Direction::Inbound,
        );
        assert!(!rec.apply(&stranger));
        stranger.call_id = ZCALL.into();
        stranger.account = "second".into();
        assert!(!rec.apply(&stranger));
        assert_eq!(rec.event_count(), 6);
    }

    #[test]
    fn end_before_answer_still_ends_answered() {
        // The END of a call whose disposition we do not know yet (generic
        // hangup without cause) arrives before the answer.
        let mut start = ev(
            "acme",
            "c1",
            "c1|newCall|",
            EventKind::Ringing,
            Direction::Inbound,
        );
        start.caller = Some("79161234567".into());
        start.at = t(0);
        let mut hangup = ev(
            "acme",
            "c1",
            "c1|hangup|",
            EventKind::Ended,
            Direction::Inbound,
        );
        hangup.at = t(60);
        let mut answer = ev(
            "acme",
            "c1",
            "c1|answer|",
            EventKind::Answered,
            Direction::Inbound,
        );
        answer.at = t(10);
        answer.employee = Some("emma@chrispresso.com".into());

        let mut rec = CallRecord::from_event(&start);
        rec.apply(&hangup);
        assert_eq!(rec.state(), CallState::Missed);
        assert!(rec.is_missed());
        assert!(rec.apply(&answer));
        assert_eq!(rec.state(), CallState::Ended);
        assert!(!rec.is_missed());
        assert_eq!(rec.employee(), Some("emma@chrispresso.com"));
        assert_eq!(rec.talk_duration(), Some(50));
        assert_eq!(rec.duration(), Some(60));
    }

    #[test]
    fn summary_with_talk_time_makes_it_answered() {
        // Mango: only legs' Disconnected seen, then the summary says 60 s of talk.
        let mut appeared = ev(
            "mango",
            "MzUy",
            "MzUy|leg1|1",
            EventKind::Ringing,
            Direction::Inbound,
        );
        appeared.leg_id = Some("leg1".into());
        appeared.at = t(0);
        appeared.caller = Some("74991102914".into());
        let mut disconnected = ev(
            "mango",
            "MzUy",
            "MzUy|leg1|5",
            EventKind::Ended,
            Direction::Inbound,
        );
        disconnected.leg_id = Some("leg1".into());
        disconnected.at = t(72);
        let mut summary = ev(
            "mango",
            "MzUy",
            "MzUy|summary",
            EventKind::Summary,
            Direction::Inbound,
        );
        summary.at = t(72);
        summary.call_started_at = t(0);
        summary.duration_secs = Some(72);
        summary.talk_secs = Some(60);
        summary.employee = Some("360".into());
        summary.called = Some("74995013402".into());

        let mut rec = CallRecord::from_event(&appeared);
        rec.apply(&disconnected);
        assert_eq!(rec.state(), CallState::Missed);
        assert!(!rec.is_final(), "a leg end alone is not final");
        rec.apply(&summary);
        assert_eq!(rec.state(), CallState::Ended);
        assert!(rec.is_final() && rec.has_summary());
        assert_eq!(rec.talk_duration(), Some(60));
        assert_eq!(rec.answered_at(), t(12));
        assert_eq!(rec.employee(), Some("360"));
        assert_eq!(rec.called_number(), Some("74995013402"));
    }

    #[test]
    fn ivr_leg_end_does_not_end_a_call_with_an_open_leg() {
        let leg = |key: &str, leg: &str, kind| {
            let mut e = ev("mango", "E", key, kind, Direction::Inbound);
            e.leg_id = Some(leg.into());
            e
        };
        let mut rec = CallRecord::from_event(&leg("E|ivr|1", "ivr", EventKind::Ringing));
        rec.apply(&leg("E|op|1", "op", EventKind::Ringing));
        rec.apply(&leg("E|ivr|3", "ivr", EventKind::Ended));
        assert_eq!(rec.state(), CallState::Ringing);
        rec.apply(&leg("E|op|2", "op", EventKind::Answered));
        rec.apply(&leg("E|op|3", "op", EventKind::Ended));
        assert_eq!(rec.state(), CallState::Ended);
    }

    #[test]
    fn megafon_group_call() {
        let mk = |ty: &str, user: &str, kind| {
            let mut e = ev(
                "megafon",
                "cid",
                &format!("cid|{ty}|{user}"),
                kind,
                Direction::Inbound,
            );
            e.leg_id = Some(user.into());
            e.employee = Some(user.into());
            e.caller = Some("79161234567".into());
            e.called = Some("74951234567".into());
            if kind == EventKind::Missed {
                e.outcome = Some(Outcome::Cancelled);
            }
            e
        };
        let mut rec = CallRecord::from_event(&mk("INCOMING", "ivanov", EventKind::Ringing));
        rec.apply(&mk("INCOMING", "petrov", EventKind::Ringing));
        rec.apply(&mk("CANCELLED", "ivanov", EventKind::Missed));
        assert_eq!(rec.state(), CallState::Ringing, "petrov is still ringing");
        rec.apply(&mk("ACCEPTED", "petrov", EventKind::Answered));
        rec.apply(&mk("COMPLETED", "petrov", EventKind::Ended));
        assert_eq!(rec.state(), CallState::Ended);
        assert_eq!(rec.employee(), Some("petrov"));
        assert_eq!(rec.outcome(), Some(Outcome::Answered));
        assert!(!rec.is_final(), "history not seen yet");

        // Nobody picks up: both legs cancelled, then the history record.
        let mut rec = CallRecord::from_event(&mk("INCOMING", "ivanov", EventKind::Ringing));
        rec.apply(&mk("INCOMING", "petrov", EventKind::Ringing));
        rec.apply(&mk("CANCELLED", "ivanov", EventKind::Missed));
        rec.apply(&mk("CANCELLED", "petrov", EventKind::Missed));
        assert!(rec.is_missed());
        let mut history = ev(
            "megafon",
            "cid",
            "cid|history|ivanov",
            EventKind::Summary,
            Direction::Inbound,
        );
        history.outcome = Some(Outcome::NoAnswer);
        history.talk_secs = Some(0);
        history.employee = Some("ivanov".into());
        history.recording_url = None;
        rec.apply(&history);
        assert!(rec.is_missed() && rec.is_final());
        assert_eq!(rec.outcome(), Some(Outcome::Cancelled));
        assert_eq!(rec.employee(), Some("ivanov"));
        assert_eq!(rec.talk_duration(), Some(0));
    }

    #[test]
    fn unanswered_outbound_is_not_a_missed_call() {
        let mut out = ev(
            "zadarma",
            "out_1",
            "out_1|NOTIFY_OUT_START",
            EventKind::Outgoing,
            Direction::Outbound,
        );
        out.caller = Some("102".into());
        out.called = Some("79031234567".into());
        out.employee = Some("102".into());
        let mut end = ev(
            "zadarma",
            "out_1",
            "out_1|NOTIFY_OUT_END",
            EventKind::Ended,
            Direction::Outbound,
        );
        end.outcome = Some(Outcome::Busy);
        end.talk_secs = Some(0);
        let rec = fold(&[out, end]);
        assert_eq!(rec.state(), CallState::Missed);
        assert!(!rec.is_missed());
        assert_eq!(rec.direction(), Direction::Outbound);
        assert_eq!(rec.client_number(), Some("79031234567"));
        assert_eq!(rec.employee(), Some("102"));
        assert_eq!(rec.outcome(), Some(Outcome::Busy));
    }

    #[test]
    fn summary_direction_wins_and_unknown_is_ignored() {
        let rec_ev = ev(
            "zadarma",
            "x",
            "x|NOTIFY_RECORD|1",
            EventKind::Recording,
            Direction::Unknown,
        );
        let rec = CallRecord::from_event(&rec_ev);
        assert_eq!(rec.direction(), Direction::Unknown);
        let internal = ev(
            "mango",
            "E",
            "E|a|1",
            EventKind::Ringing,
            Direction::Internal,
        );
        let inbound = ev(
            "mango",
            "E",
            "E|b|1",
            EventKind::Ringing,
            Direction::Inbound,
        );
        let rec = fold(&[internal.clone(), inbound]);
        assert_eq!(rec.direction(), Direction::Inbound);
        let summary = ev(
            "mango",
            "E",
            "E|summary",
            EventKind::Summary,
            Direction::Outbound,
        );
        let rec = fold(&[internal, summary]);
        assert_eq!(rec.direction(), Direction::Outbound);
    }

    #[test]
    fn record_survives_storage_roundtrip() {
        let rec = fold(&zadarma_answered());
        let json = serde_json::to_string(&rec).expect("serialize");
        let mut back: CallRecord = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, rec);
        // Idempotency survives too.
        assert!(!back.apply(&zadarma_answered()[3]));
    }

    #[test]
    fn hidden_numbers() {
        for hidden in [
            "",
            "   ",
            "anonymous",
            "Anonymous",
            "unknown",
            "Restricted",
            "PRIVATE",
            "sip:anonymous@anonymous.invalid",
            "Номер скрыт",
            "0",
            "000000",
            "+0000000000",
            "101",
            "1234",
            "sip:ivanov@vpbx400000000.mangosip.ru",
            "-",
        ] {
            assert!(is_hidden_number(hidden), "{hidden:?} should be hidden");
        }
        for visible in [
            "79161234567",
            "+7 (916) 123-45-67",
            "84951234567",
            "sip:79161234567@sip.zadarma.com",
            "tel:+74951234567",
            "493023125741",
            "21234",
        ] {
            assert!(!is_hidden_number(visible), "{visible:?} should be visible");
        }
    }
}
