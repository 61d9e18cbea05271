//! Deciding who an appeal is from. This is the pipeline's one replaceable
//! matching step: [`match_appeal`] looks the appeal's blocking keys up in the
//! database (inside the processing transaction), scores the candidates it
//! finds and returns a [`Decision`] with its evidence.
//!
//! * [`keys`]: which values are looked up, on both sides (appeal, client).
//! * [`score`]: Fellegi–Sunter scoring of one candidate, field by field, with
//!   weights that fall as the number of clients sharing a value grows.
//! * [`decide`]: the thresholds and the rules that hold whatever the score.
//!
//! See docs/matching.md for the configuration and the measured quality.

mod decide;
pub mod junk;
pub mod keys;
pub mod score;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use decide::{decide, shortlist, SHORTLIST};
pub use junk::{IgnoredPoint, JunkPatterns, JunkReason};
pub use keys::{BlockingKey, MatchField, Probe};
pub use score::{MatchHow, MatchWeights};

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct MatchingSettings {
    /// Region for phone numbers written without a country code.
    pub default_region: String,
    /// A candidate scoring at least this (bits of evidence) is linked
    /// automatically, when the rules allow (docs/matching.md).
    pub auto_link_threshold: f64,
    /// Below auto-link and at least this: an operator decides.
    pub review_threshold: f64,
    /// A contact point carried by more clients than this never links on its
    /// own (an office switchboard, an agency's info@ mailbox).
    pub max_shared_clients: usize,
    /// Clients fetched per key; a key carried by more proposes nobody, which
    /// keeps lookup fast whatever the base holds.
    pub max_candidates_per_key: usize,
    pub weights: MatchWeights,
    /// Values that are never a matching key (`[matching.junk]`).
    pub junk: JunkPatterns,
}

impl Default for MatchingSettings {
    fn default() -> Self {
        Self {
            default_region: "RU".into(),
            auto_link_threshold: 12.0,
            review_threshold: 8.0,
            max_shared_clients: 3,
            max_candidates_per_key: 50,
            weights: MatchWeights::default(),
            junk: JunkPatterns::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    ExistingClient,
    NewClient,
    Review,
}

impl DecisionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionKind::ExistingClient => "existing_client",
            DecisionKind::NewClient => "new_client",
            DecisionKind::Review => "review",
        }
    }
}

/// A stored client or contact person carrying one looked-up key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyHit {
    pub client_id: i64,
    pub person_id: Option<i64>,
}

/// What the database holds for one blocking key.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyHits {
    pub key: BlockingKey,
    /// At most `max_candidates_per_key` clients' worth of rows.
    pub hits: Vec<KeyHit>,
    /// More clients carry the key than were fetched: a switchboard, an
    /// agency's info@ mailbox, a common name. Such a key proposes nobody.
    pub crowded: bool,
}

impl KeyHits {
    /// Distinct clients carrying the key (the fetch cap plus one when crowded).
    pub fn shared_by(&self) -> usize {
        let mut ids: Vec<i64> = self.hits.iter().map(|h| h.client_id).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len() + usize::from(self.crowded)
    }
}

/// A contact person of a shortlisted client, for comparing names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPerson {
    pub client_id: i64,
    pub person_id: i64,
    pub name: String,
    /// The client's name when the client is a company (its office line and
    /// its colleagues are told by it).
    pub company: Option<String>,
    /// The client's ИНН: an appeal naming another one is not plainly its.
    pub inn: Option<String>,
}

/// One field that agreed (or clearly disagreed) between the appeal and a
/// candidate client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Evidence {
    pub client_id: i64,
    /// The contact person the field belongs to, when it is a person's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_id: Option<i64>,
    pub field: MatchField,
    pub how: MatchHow,
    /// Log-likelihood weight (bits); negative for a disagreement.
    pub weight: f64,
    /// How many clients carry the value (0 where not applicable).
    #[serde(default)]
    pub shared_by: u32,
}

/// A scored candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CandidateScore {
    pub client_id: i64,
    pub score: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Decision {
    pub kind: DecisionKind,
    pub client_id: Option<i64>,
    /// The existing contact person the appeal is from, when one is known.
    pub person_id: Option<i64>,
    /// For an existing client without a matching person: the name of the
    /// contact person to create (a colleague writing from the company's
    /// corporate domain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_person: Option<String>,
    /// Fields with positive evidence for the chosen client (for a review:
    /// for any candidate).
    pub matched_on: Vec<MatchField>,
    /// Total score of the chosen (or best) candidate.
    pub score: Option<f64>,
    /// Candidate clients (for a review: the ones an operator chooses
    /// among), by id as before; `scores` ranks them.
    pub candidates: Vec<i64>,
    /// Every scored candidate, best first.
    #[serde(default)]
    pub scores: Vec<CandidateScore>,
    pub evidence: Vec<Evidence>,
    /// The appeal's contact points that were not looked up, and why
    /// (junk: `test@mail.ru`, `8-800-…`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<IgnoredPoint>,
    pub reason: String,
}

/// Key rows written in the caller's transaction but not yet sent to the
/// database (the pipeline holds some writes back until the end of a batch);
/// the lookup counts them as if they were stored.
pub trait PendingKeys {
    fn pending_hits(&self, key: &BlockingKey) -> Vec<KeyHit>;
}

/// Nothing held back.
pub struct NothingPending;

impl PendingKeys for NothingPending {
    fn pending_hits(&self, _key: &BlockingKey) -> Vec<KeyHit> {
        Vec::new()
    }
}

/// Adds held-back rows to what the database returned for a key, crowding
/// it out as the lookup would have.
pub fn add_pending(slot: &mut KeyHits, more: Vec<KeyHit>, cap: usize) {
    if slot.crowded {
        return;
    }
    for hit in more {
        if !slot.hits.contains(&hit) {
            slot.hits.push(hit);
        }
    }
    if slot.hits.len() > cap {
        slot.hits.clear();
        slot.crowded = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(client_id: i64) -> KeyHit {
        KeyHit {
            client_id,
            person_id: None,
        }
    }

    fn slot(hits: Vec<KeyHit>, crowded: bool) -> KeyHits {
        KeyHits {
            key: BlockingKey {
                field: MatchField::Phone,
                value: "+79120000000".into(),
            },
            hits,
            crowded,
        }
    }

    #[test]
    fn pending_rows_join_the_stored_ones_once() {
        let mut s = slot(vec![hit(1)], false);
        add_pending(&mut s, vec![hit(1), hit(2)], 50);
        assert_eq!(s.hits, vec![hit(1), hit(2)]);
        assert!(!s.crowded);
    }

    #[test]
    fn pending_rows_can_crowd_a_key_out() {
        let mut s = slot(vec![hit(1), hit(2)], false);
        add_pending(&mut s, vec![hit(3)], 2);
        assert!(s.crowded);
        assert!(s.hits.is_empty());
        let mut crowded = slot(Vec::new(), true);
        add_pending(&mut crowded, vec![hit(4)], 2);
        assert!(crowded.hits.is_empty());
    }
}
