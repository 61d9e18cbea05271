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
pub mod keys;
pub mod score;

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use utoipa::ToSchema;

use crate::settings::MatchingSettings;
use crate::storage::{StorageError, Store};

pub use decide::{decide, shortlist, SHORTLIST};
pub use keys::{BlockingKey, MatchField, Probe};
pub use score::{MatchHow, MatchWeights};

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

/// What the matching of a batch of appeals reads, fetched for the whole
/// batch in two statements instead of two per appeal. Its keys are the
/// database as it was when the batch began ([`PendingKeys`] supplies what
/// the batch has written since); its clients are kept current by the writer
/// ([`Prefetched::created`], [`Prefetched::forget`]).
#[derive(Debug, Default)]
pub struct Prefetched {
    keys: HashMap<BlockingKey, KeyHits>,
    /// Shortlisted clients and their contact persons; `None` for a client
    /// merged into another.
    clients: HashMap<i64, Option<Vec<StoredPerson>>>,
    /// Each probe's best live candidate, the client it most likely is.
    favourites: Vec<i64>,
}

impl Prefetched {
    /// Looks up every key of these probes, and the candidates each would
    /// shortlist.
    pub async fn fetch(
        store: &Store,
        conn: &mut AnyConnection,
        probes: &[&Probe],
        settings: &MatchingSettings,
    ) -> Result<Prefetched, StorageError> {
        let mut out = Prefetched::default();
        let keys: Vec<BlockingKey> = probes
            .iter()
            .flat_map(|p| p.blocking_keys())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        out.add_keys(store, conn, keys, settings).await?;
        let mut wanted = BTreeSet::new();
        let mut shortlists = Vec::with_capacity(probes.len());
        for probe in probes {
            let hits: Vec<KeyHits> = probe
                .blocking_keys()
                .iter()
                .filter_map(|k| out.keys.get(k).cloned())
                .collect();
            let short = shortlist(&hits, settings);
            wanted.extend(short.iter().copied());
            shortlists.push(short);
        }
        let wanted: Vec<i64> = wanted.into_iter().collect();
        out.add_clients(store, conn, &wanted).await?;
        let mut favourites: BTreeSet<i64> = BTreeSet::new();
        for short in shortlists {
            if let Some(best) = short
                .into_iter()
                .find(|id| matches!(out.clients.get(id), Some(Some(_))))
            {
                favourites.insert(best);
            }
        }
        out.favourites = favourites.into_iter().collect();
        Ok(out)
    }

    /// Each probe's best live candidate at the time of the fetch.
    pub fn favourites(&self) -> &[i64] {
        &self.favourites
    }

    /// A client the caller created (its rows may not be written yet).
    pub fn created(&mut self, person: StoredPerson) {
        self.clients.insert(person.client_id, Some(vec![person]));
    }

    /// The caller changed this client's persons: read them again when needed.
    pub fn forget(&mut self, client_id: i64) {
        self.clients.remove(&client_id);
    }

    async fn add_keys(
        &mut self,
        store: &Store,
        conn: &mut AnyConnection,
        keys: Vec<BlockingKey>,
        settings: &MatchingSettings,
    ) -> Result<(), StorageError> {
        if keys.is_empty() {
            return Ok(());
        }
        for hits in store
            .lookup_keys(conn, &keys, settings.max_candidates_per_key)
            .await?
        {
            self.keys.insert(hits.key.clone(), hits);
        }
        Ok(())
    }

    async fn add_clients(
        &mut self,
        store: &Store,
        conn: &mut AnyConnection,
        ids: &[i64],
    ) -> Result<(), StorageError> {
        if ids.is_empty() {
            return Ok(());
        }
        let (live, persons) = store.shortlisted(conn, ids).await?;
        for id in ids {
            let found = live.contains(id).then(Vec::new);
            self.clients.insert(*id, found);
        }
        for person in persons {
            if let Some(Some(list)) = self.clients.get_mut(&person.client_id) {
                list.push(person);
            }
        }
        Ok(())
    }
}

/// Looks the appeal's keys up, scores the shortlisted candidates and decides.
/// Reads only; the caller writes whatever the decision implies.
pub async fn match_appeal(
    store: &Store,
    conn: &mut AnyConnection,
    probe: &Probe,
    settings: &MatchingSettings,
) -> Result<Decision, StorageError> {
    match_appeal_with(
        store,
        conn,
        probe,
        settings,
        &NothingPending,
        &mut Prefetched::default(),
    )
    .await
}

/// [`match_appeal`], counting key rows the caller has not written yet and
/// reading what `prefetched` does not hold.
pub async fn match_appeal_with(
    store: &Store,
    conn: &mut AnyConnection,
    probe: &Probe,
    settings: &MatchingSettings,
    pending: &(dyn PendingKeys + Sync),
    prefetched: &mut Prefetched,
) -> Result<Decision, StorageError> {
    let keys = probe.blocking_keys();
    let missing: Vec<BlockingKey> = keys
        .iter()
        .filter(|k| !prefetched.keys.contains_key(k))
        .cloned()
        .collect();
    prefetched.add_keys(store, conn, missing, settings).await?;
    let mut hits: Vec<KeyHits> = keys
        .iter()
        .filter_map(|k| prefetched.keys.get(k).cloned())
        .collect();
    for slot in &mut hits {
        add_pending(
            slot,
            pending.pending_hits(&slot.key),
            settings.max_candidates_per_key,
        );
    }
    let short = shortlist(&hits, settings);
    let stale: Vec<i64> = short
        .iter()
        .copied()
        .filter(|id| !prefetched.clients.contains_key(id))
        .collect();
    prefetched.add_clients(store, conn, &stale).await?;
    let live: Vec<i64> = short
        .iter()
        .copied()
        .filter(|id| matches!(prefetched.clients.get(id), Some(Some(_))))
        .collect();
    // In the order the database returns them: by client, then person.
    let mut persons: Vec<StoredPerson> = live
        .iter()
        .filter_map(|id| prefetched.clients.get(id).cloned().flatten())
        .flatten()
        .collect();
    persons.sort_by_key(|p| (p.client_id, p.person_id));
    Ok(decide(probe, &hits, &live, &persons, settings))
}

/// Adds held-back rows to what the database returned for a key, crowding
/// it out as the lookup would have.
fn add_pending(slot: &mut KeyHits, more: Vec<KeyHit>, cap: usize) {
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
