//! The matcher's reads: the keys and shortlisted clients of a batch of
//! appeals, fetched together, then the pure decision of `leadgate_domain::dedup`.

use std::collections::{BTreeSet, HashMap};

use leadgate_domain::dedup::{
    add_pending, decide, shortlist, BlockingKey, Decision, KeyHits, MatchingSettings,
    NothingPending, PendingKeys, Probe, StoredPerson,
};
use sqlx::AnyConnection;

use crate::{StorageError, Store};

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
