//! What processing recorded about an appeal (`appeals.decision`): the
//! matcher's verdict with its evidence, how routing or an operator carried it
//! out, or why a channel kept the appeal without it being a lead.
//!
//! The serde shape of these types IS the stored shape: every key keeps the
//! name, the presence and the null-ness it had when the record was a JSON
//! object patched by key, so rows stored before the types existed load and
//! are written back unchanged. Keys this version does not know are carried
//! along in `extra` rather than dropped when a record is rewritten (an
//! operator's review rewrites the matcher's record).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::appeal::RejectedPoint;
use crate::dedup::{CandidateScore, Decision, DecisionKind, Evidence, IgnoredPoint};

/// `appeals.decision`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
// The `kind` string tells the two apart; `NotALead` is tried first because
// only a record whose kind is `not_a_lead` fits it.
#[serde(untagged)]
// Nearly every stored decision is a `Decided`: boxing it would add an
// allocation to the common case to save bytes on the rare mail rejection.
#[allow(clippy::large_enum_variant)]
pub enum AppealDecision {
    NotALead(NotALead),
    Decided(DecisionRecord),
}

impl From<DecisionRecord> for AppealDecision {
    fn from(record: DecisionRecord) -> Self {
        AppealDecision::Decided(record)
    }
}

impl From<NotALead> for AppealDecision {
    fn from(record: NotALead) -> Self {
        AppealDecision::NotALead(record)
    }
}

/// Who the appeal is from, as the matcher (or a shortcut before it, or an
/// operator) decided, and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    pub kind: DecisionKind,
    /// The matcher's field names with positive evidence, or `thread` for a
    /// reply in a known thread; strings because `thread` is no matcher field.
    #[serde(default)]
    pub matched_on: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The outer `None` is "the matcher did not run" (the key is absent); the
    /// matcher itself may have had nobody to score (`null`).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "key_or_null")]
    pub score: Option<Option<f64>>,
    // The matcher's parts are absent together when it did not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidates: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scores: Option<Vec<CandidateScore>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Vec<Evidence>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_contact_points: Option<Vec<RejectedPoint>>,
    /// Contact points the matcher did not use as keys, and why (junk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignored_contact_points: Option<Vec<IgnoredPoint>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_person: Option<String>,
    /// Written once the appeal was routed to a client, and for a rejected
    /// outbound call the client the number belongs to (`null`: nobody's);
    /// absent while nobody routed it (a review, a shortcut).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "key_or_null")]
    pub client_id: Option<Option<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewNote>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl DecisionRecord {
    /// A decision taken without the matcher, with the one reason for it.
    pub fn without_matcher(kind: DecisionKind, matched_on: &[&str], reason: &str) -> Self {
        DecisionRecord {
            kind,
            matched_on: matched_on.iter().map(|m| m.to_string()).collect(),
            reason: Some(reason.to_string()),
            score: None,
            candidates: None,
            scores: None,
            evidence: None,
            rejected_contact_points: None,
            ignored_contact_points: None,
            new_person: None,
            client_id: None,
            review: None,
            extra: serde_json::Map::new(),
        }
    }

    /// The matcher's decision with the contact points normalisation refused.
    pub fn matched(decision: &Decision, rejected: &[RejectedPoint]) -> Self {
        DecisionRecord {
            kind: decision.kind,
            matched_on: decision
                .matched_on
                .iter()
                .map(|f| f.as_str().to_string())
                .collect(),
            reason: Some(decision.reason.clone()),
            score: Some(decision.score),
            candidates: Some(decision.candidates.clone()),
            scores: Some(decision.scores.clone()),
            evidence: Some(decision.evidence.clone()),
            rejected_contact_points: Some(rejected.to_vec()),
            ignored_contact_points: (!decision.ignored.is_empty())
                .then(|| decision.ignored.clone()),
            new_person: decision.new_person.clone(),
            client_id: None,
            review: None,
            extra: serde_json::Map::new(),
        }
    }
}

/// An operator's review of the appeal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewNote {
    pub item_id: i64,
    /// `link`, `new_client` or `spam`.
    pub action: String,
    pub by: String,
    pub at: DateTime<Utc>,
}

/// A channel knew on arrival that the appeal is no lead (an auto-reply, a
/// bounce, mail that could not be parsed) and kept it as `rejected`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotALead {
    kind: NotALeadKind,
    /// The mail classifier's kind (`auto_reply`, `bounce`, `unparsed`, ...).
    pub mail_kind: String,
    pub reason: Option<RejectionReason>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl NotALead {
    pub fn new(mail_kind: &str, reason: Option<RejectionReason>) -> Self {
        NotALead {
            kind: NotALeadKind::NotALead,
            mail_kind: mail_kind.to_string(),
            reason,
            extra: serde_json::Map::new(),
        }
    }
}

/// The one value `kind` has in a [`NotALead`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum NotALeadKind {
    NotALead,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RejectionReason {
    /// The header that gave the message away.
    Header(KindReason),
    /// Why the message could not be read at all.
    Text(String),
}

/// The header (or pseudo-header such as `Subject`) that decided the kind of
/// a mail, with the value that matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindReason {
    pub header: String,
    pub value: String,
}

impl fmt::Display for KindReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.header, self.value)
    }
}

/// For a key that is absent, `null` or a value, which are three different
/// things in a stored record: `None` is the absent key (the field skips it),
/// `Some(None)` is `null`.
mod key_or_null {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, T: Serialize>(
        value: &Option<Option<T>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// Reads a record as stored and writes it back.
    fn round_trip(stored: Value) -> (AppealDecision, Value) {
        let typed: AppealDecision = serde_json::from_value(stored).expect("loads");
        let again = serde_json::to_value(&typed).expect("serialises");
        (typed, again)
    }

    #[test]
    fn every_stored_shape_is_written_back_as_it_was() {
        let evidence = json!({"client_id": 7, "field": "phone", "how": "exact", "weight": 9.5, "shared_by": 1});
        let shapes = [
            // The matcher's record, reviewed, routed.
            json!({
                "kind": "existing_client", "matched_on": ["phone", "name"], "score": 14.25,
                "candidates": [7], "scores": [{"client_id": 7, "score": 14.25}],
                "evidence": [evidence], "reason": "phone and name agree",
                "rejected_contact_points": [{"field": "contact.phones[1]", "raw": "x", "reason": "not a phone"}],
                "review": {"item_id": 3, "action": "link", "by": "token:op", "at": "2026-11-27T10:00:00.123456789Z"},
                "client_id": 7,
            }),
            // A new client nobody resembled: `score` is there and null.
            json!({
                "kind": "new_client", "matched_on": [], "score": null, "candidates": [], "scores": [],
                "evidence": [], "reason": "no candidates", "rejected_contact_points": [], "client_id": 9,
            }),
            // A colleague at a known company, waiting for review: no client yet.
            json!({
                "kind": "review", "matched_on": ["domain"], "score": 9.0, "candidates": [7, 8],
                "scores": [], "evidence": [], "reason": "r", "rejected_contact_points": [],
                "new_person": "Ольга Сидорова",
            }),
            // A rejected outbound call to nobody's number: `client_id` is null.
            json!({
                "kind": "new_client", "matched_on": [], "score": null, "candidates": [], "scores": [],
                "evidence": [], "reason": "outgoing call to a number that is not a client's",
                "rejected_contact_points": [], "client_id": null,
            }),
            json!({"kind": "existing_client", "matched_on": ["thread"], "reason": "a reply in a known thread"}),
            json!({"kind": "existing_client", "reason": "already processed", "matched_on": []}),
            json!({"kind": "not_a_lead", "mail_kind": "bounce", "reason": {"header": "From", "value": "MAILER-DAEMON"}}),
            json!({"kind": "not_a_lead", "mail_kind": "unparsed", "reason": "no headers"}),
            // A key from some other version survives a rewrite.
            json!({"kind": "review", "matched_on": [], "reason": "r", "legacy": {"a": 1}}),
        ];
        for stored in shapes {
            let (_, again) = round_trip(stored.clone());
            assert_eq!(again, stored);
        }
    }

    #[test]
    fn the_kind_tells_a_mail_rejection_from_a_decision() {
        let (typed, _) =
            round_trip(json!({"kind": "not_a_lead", "mail_kind": "auto_reply", "reason": null}));
        assert!(matches!(typed, AppealDecision::NotALead(ref n) if n.reason.is_none()));
        let (typed, _) = round_trip(json!({"kind": "review", "matched_on": []}));
        assert!(
            matches!(typed, AppealDecision::Decided(ref d) if d.kind == DecisionKind::Review && d.score.is_none())
        );
    }

    #[test]
    fn a_record_of_another_shape_does_not_load() {
        for bad in [
            json!({"kind": "maybe"}),
            json!({"matched_on": []}),
            json!({"kind": "review", "evidence": [{"client_id": "seven"}]}),
            json!([1, 2]),
        ] {
            assert!(
                serde_json::from_value::<AppealDecision>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }
}
