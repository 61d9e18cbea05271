//! Writes the pipeline holds back until the end of a batch.
//!
//! Most of what an appeal causes is never read again within its batch:
//! contact points and keys (unless a later appeal carries the same key),
//! feed entries, tasks of a new interest, the appeal's own result. Writing
//! them together, many rows per statement, is what lets one worker keep up
//! with thousands of appeals a second: a statement's round trip costs far
//! more than its rows. Everything is still written inside the batch's
//! transaction, before it commits.
//!
//! New clients, their first contact person and new interests wait too: their
//! ids are reserved from the tables' sequences up front, so that the feed,
//! tasks and points of the batch can refer to them.
//!
//! Later appeals of the batch still see what is held back: the matcher
//! counts held-back keys as stored ([`PendingKeys`]) and knows the clients
//! created ([`Prefetched::created`]), and the pipeline flushes before it
//! reads anything else of a client written to earlier in the batch
//! ([`Deferred::touches`]).

use std::collections::{HashMap, HashSet};

use sqlx::AnyConnection;

use chrono::Utc;
use serde_json::json;

use leadgate_domain::appeal::{Appeal, ContactKey, Intent};
use leadgate_domain::client::{Client, ClientKind, ContactPerson, ContactPoint};
use leadgate_domain::dedup::{BlockingKey, KeyHit, PendingKeys, StoredPerson};
use leadgate_domain::event::{EventType, NewEvent};
use leadgate_domain::interest::{Interest, InterestStatus};
use leadgate_store::Prefetched;
use leadgate_store::{
    announce_task, created_task_events, domain_rows, from_ms, now_ms, ClientState, FeedRow,
    FinishedRow, IdTable, KeyRow, NewClientRow, NewInterestRow, NewPersonRow, OutcomeRows,
    PointRow, StorageError, Store, TaskRow,
};

const ROUND_ROBIN: &str = "round_robin";

#[derive(Default)]
pub(crate) struct Deferred {
    clients_new: Vec<NewClientRow>,
    persons_new: Vec<NewPersonRow>,
    interests_new: Vec<NewInterestRow>,
    points: Vec<PointRow>,
    keys: Vec<KeyRow>,
    tasks: Vec<TaskRow>,
    feed: Vec<PendingFeed>,
    finished: Vec<FinishedRow>,
    round_robin: Option<Counter>,
    /// Every point and key the batch has written, kept across flushes: the
    /// batch's key lookups were made before any of it was written
    /// ([`Prefetched`]).
    pending: PendingRows,
    prefetched: Prefetched,
    /// Clients with writes held back now.
    clients: HashSet<i64>,
    /// Reserved ids not used yet, smallest last.
    ids: HashMap<IdTable, Vec<i64>>,
    /// How many ids a reservation takes: the appeals left in the batch,
    /// each of which may create one row per table.
    ids_wanted: usize,
    /// The state of clients the batch is likely to route to, read with the
    /// prefetch; dropped as soon as the batch writes to the client.
    states: HashMap<i64, ClientState>,
    /// Events of what is held back, journaled with it.
    events: Vec<NewEvent>,
    /// `client.created` of clients created since the last flush, by client,
    /// to which their contact points are added as they come.
    created_clients: HashMap<i64, Client>,
}

/// Who carries each key the batch has written, by (kind, value) as the
/// matcher looks them up.
#[derive(Default)]
pub(crate) struct PendingRows(HashMap<(&'static str, String), Vec<KeyHit>>);

enum PendingFeed {
    Entry(FeedRow),
    /// Announces the task with this cause key, if the task is created.
    Task {
        cause_key: String,
        entry: FeedRow,
    },
}

#[derive(Clone, Copy)]
struct Counter {
    value: i64,
    stored: i64,
}

impl Deferred {
    /// Whether something held back belongs to this client.
    pub fn touches(&self, client_id: i64) -> bool {
        self.clients.contains(&client_id)
    }

    pub fn client(&mut self, client_id: i64) {
        self.clients.insert(client_id);
        self.states.remove(&client_id);
    }

    /// The client's state as read at the start of the batch, if the batch
    /// has not written to the client since.
    pub fn take_state(&mut self, client_id: i64) -> Option<ClientState> {
        self.states.remove(&client_id)
    }

    /// The batch's matching reads, made at its start.
    pub async fn prefetch(
        &mut self,
        store: &Store,
        conn: &mut AnyConnection,
        probes: &[&leadgate_domain::dedup::Probe],
        settings: &leadgate_domain::dedup::MatchingSettings,
    ) -> Result<(), StorageError> {
        self.prefetched = Prefetched::fetch(store, conn, probes, settings).await?;
        self.states = store
            .client_interest_states(conn, self.prefetched.favourites())
            .await?;
        Ok(())
    }

    /// What the matcher needs: keys written so far and the reads made.
    pub fn matching(&mut self) -> (&PendingRows, &mut Prefetched) {
        (&self.pending, &mut self.prefetched)
    }

    async fn next_id(
        &mut self,
        store: &Store,
        conn: &mut AnyConnection,
        table: IdTable,
    ) -> Result<i64, StorageError> {
        let pool = self.ids.entry(table).or_default();
        if pool.is_empty() {
            let mut fresh = store
                .reserve_ids(conn, table, self.ids_wanted.max(1))
                .await?;
            fresh.reverse();
            *pool = fresh;
        }
        pool.pop()
            .ok_or(StorageError::Corrupt("no id reserved".into()))
    }

    /// The contact person of an existing client with this name, created if
    /// missing (with a reserved id, so that ids stay dense).
    pub async fn upsert_person(
        &mut self,
        store: &Store,
        conn: &mut AnyConnection,
        client_id: i64,
        name: &str,
    ) -> Result<i64, StorageError> {
        let new_id = self.next_id(store, conn, IdTable::ContactPersons).await?;
        let id = store.upsert_person(conn, new_id, client_id, name).await?;
        if id != new_id {
            // The person existed; the id is still free.
            self.ids
                .entry(IdTable::ContactPersons)
                .or_default()
                .push(new_id);
        }
        self.prefetched.forget(client_id);
        Ok(id)
    }

    /// How many appeals are left in the batch, counting the next one.
    pub fn appeals_left(&mut self, n: usize) {
        self.ids_wanted = n;
    }

    /// The end of a batch (or of one appeal processed alone): writes
    /// everything held back and hands back the reserved ids nobody used,
    /// where the engine allows it, so that ids stay dense.
    pub async fn finish(
        &mut self,
        store: &Store,
        conn: &mut AnyConnection,
    ) -> Result<(), StorageError> {
        self.flush(store, conn).await?;
        for (table, pool) in std::mem::take(&mut self.ids) {
            // Largest first, smallest last: a contiguous tail of the block.
            if let (Some(top), Some(first_unused)) = (pool.first(), pool.last()) {
                store.release_ids(conn, table, *first_unused, *top).await?;
            }
        }
        Ok(())
    }

    /// A new client with its first contact person; the keys and points are
    /// the caller's to add.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_client(
        &mut self,
        store: &Store,
        conn: &mut AnyConnection,
        kind: ClientKind,
        name: &str,
        person_name: &str,
        inn: Option<&str>,
        responsible: Option<&str>,
    ) -> Result<(i64, i64), StorageError> {
        let client_id = self.next_id(store, conn, IdTable::Clients).await?;
        let person_id = self.next_id(store, conn, IdTable::ContactPersons).await?;
        let at_ms = now_ms();
        self.clients_new.push(NewClientRow {
            id: client_id,
            kind,
            name: name.to_string(),
            responsible: responsible.map(str::to_string),
            inn: inn.map(str::to_string),
            at_ms,
        });
        self.persons_new.push(NewPersonRow {
            id: person_id,
            client_id,
            name: person_name.to_string(),
            at_ms,
        });
        self.prefetched.created(StoredPerson {
            client_id,
            person_id,
            name: person_name.to_string(),
            company: (kind == ClientKind::Company).then(|| name.to_string()),
            inn: inn.map(str::to_string),
        });
        self.created_clients.insert(
            client_id,
            Client {
                id: client_id,
                external_id: None,
                kind,
                name: name.to_string(),
                responsible: responsible.map(str::to_string),
                contact_persons: vec![ContactPerson {
                    id: person_id,
                    name: person_name.to_string(),
                    contact_points: Vec::new(),
                    dropped_points: Vec::new(),
                }],
                contact_points: Vec::new(),
                imported_responsible: None,
                inn: inn.map(str::to_string),
                created_at: from_ms(at_ms),
            },
        );
        self.client(client_id);
        Ok((client_id, person_id))
    }

    /// A new open interest; `row.id` is replaced by the one reserved.
    pub async fn create_interest(
        &mut self,
        store: &Store,
        conn: &mut AnyConnection,
        mut row: NewInterestRow,
    ) -> Result<i64, StorageError> {
        row.id = self.next_id(store, conn, IdTable::Interests).await?;
        let id = row.id;
        self.client(row.client_id);
        let at = from_ms(row.at_ms);
        let interest = Interest {
            id,
            client_id: row.client_id,
            person_id: row.person_id,
            scenario: row.scenario.clone(),
            stage: row.stage.clone(),
            status: InterestStatus::Open,
            responsible: row.responsible.clone(),
            potential_amount: None,
            channel: row.channel.clone(),
            source: row.source.clone(),
            created_at: at,
            updated_at: at,
        };
        self.event(NewEvent::about(
            EventType::InterestCreated,
            "interest",
            &interest,
            json!({}),
        ));
        self.interests_new.push(row);
        Ok(id)
    }

    pub fn contact_points(&mut self, client_id: i64, person_id: Option<i64>, keys: &[ContactKey]) {
        if let Some(client) = self.created_clients.get_mut(&client_id) {
            let points = keys.iter().map(|k| ContactPoint {
                kind: k.kind,
                value: k.value.clone(),
                raw: k.raw.clone(),
            });
            match client
                .contact_persons
                .iter_mut()
                .find(|p| Some(p.id) == person_id)
            {
                Some(person) => person.contact_points.extend(points),
                None => client.contact_points.extend(points),
            }
        }
        for key in keys {
            self.note((key.kind.as_str(), key.value.clone()), client_id, person_id);
            self.points.push(PointRow {
                client_id,
                person_id,
                key: key.clone(),
            });
        }
        self.match_keys(domain_rows(client_id, keys));
        self.client(client_id);
    }

    pub fn match_keys(&mut self, rows: Vec<KeyRow>) {
        for (kind, value, client_id, person_id) in &rows {
            let person = Some(*person_id).filter(|p| *p != 0);
            self.note((kind, value.clone()), *client_id, person);
        }
        self.keys.extend(rows);
    }

    fn note(&mut self, key: (&'static str, String), client_id: i64, person_id: Option<i64>) {
        let hit = KeyHit {
            client_id,
            person_id,
        };
        let hits = self.pending.0.entry(key).or_default();
        if !hits.contains(&hit) {
            hits.push(hit);
        }
        self.client(client_id);
    }

    pub fn feed(&mut self, entry: FeedRow) {
        self.feed.push(PendingFeed::Entry(entry));
    }

    pub fn outcome(&mut self, rows: OutcomeRows) {
        self.feed
            .extend(rows.feed.into_iter().map(PendingFeed::Entry));
        for (task, entry) in rows.tasks {
            self.feed.push(PendingFeed::Task {
                cause_key: task.cause_key.clone(),
                entry,
            });
            self.tasks.push(task);
        }
    }

    /// The appeal's result, and its `appeal.decided` event.
    pub fn finished(&mut self, appeal: &Appeal, row: FinishedRow) {
        let mut decided = appeal.clone();
        decided.status = row.status;
        decided.client_id = row.client_id;
        decided.interest_id = row.interest_id;
        decided.decision = Some(row.decision.clone());
        self.event(NewEvent::appeal(
            EventType::AppealDecided,
            decided,
            json!({}),
        ));
        self.finished.push(row);
    }

    /// Journaled with the next flush, after what is held back so far.
    pub fn event(&mut self, event: NewEvent) {
        self.flush_created_clients();
        self.events.push(event);
    }

    fn flush_created_clients(&mut self) {
        let mut created: Vec<Client> = self.created_clients.drain().map(|(_, c)| c).collect();
        created.sort_by_key(|c| c.id);
        for client in created {
            self.events.push(NewEvent::about(
                EventType::ClientCreated,
                "client",
                &client,
                json!({}),
            ));
        }
    }

    /// The appeal joined an existing interest (`how`: `appeal`, `message`,
    /// `reply`, `call`); a message or a reply is also `message.received`.
    pub fn linked(&mut self, appeal: &Appeal, interest: &Interest, how: &str) {
        let mut now = interest.clone();
        now.updated_at = Utc::now();
        self.event(NewEvent::about(
            EventType::InterestLinkedAppeal,
            "interest",
            &now,
            json!({"appeal_id": appeal.id, "how": how}),
        ));
        if how == "message" || how == "reply" || matches!(appeal.intent, Intent::Reply { .. }) {
            let mut received = appeal.clone();
            received.interest_id = Some(interest.id);
            received.client_id = Some(interest.client_id);
            self.event(NewEvent::appeal(
                EventType::MessageReceived,
                received,
                json!({"interest_id": interest.id}),
            ));
        }
    }

    /// The next value of the round-robin counter. The first use in a batch
    /// advances the stored counter (on PostgreSQL that also locks its row
    /// until commit, so instances take turns); later ones count in memory
    /// and the flush stores the last.
    pub async fn next_round_robin(
        &mut self,
        store: &Store,
        conn: &mut AnyConnection,
    ) -> Result<i64, StorageError> {
        match &mut self.round_robin {
            Some(counter) => {
                counter.value += 1;
                Ok(counter.value)
            }
            None => {
                let value = store.next_counter(conn, ROUND_ROBIN).await?;
                self.round_robin = Some(Counter {
                    value,
                    stored: value,
                });
                Ok(value)
            }
        }
    }

    /// Writes everything held back, in the order it happened.
    pub async fn flush(
        &mut self,
        store: &Store,
        conn: &mut AnyConnection,
    ) -> Result<(), StorageError> {
        // Referenced rows first.
        if !self.clients_new.is_empty() {
            store.insert_new_clients(conn, &self.clients_new).await?;
        }
        if !self.persons_new.is_empty() {
            store.insert_new_persons(conn, &self.persons_new).await?;
        }
        if !self.interests_new.is_empty() {
            store
                .insert_new_interests(conn, &self.interests_new)
                .await?;
        }
        if !self.points.is_empty() {
            store
                .insert_contact_points(conn, &self.points, now_ms())
                .await?;
        }
        if !self.keys.is_empty() {
            self.keys.sort();
            self.keys.dedup();
            store.insert_match_keys(conn, &self.keys).await?;
        }
        let task_ids = if self.tasks.is_empty() {
            Default::default()
        } else {
            store.insert_tasks(conn, &self.tasks).await?
        };
        self.flush_created_clients();
        self.events
            .extend(created_task_events(&self.tasks, &task_ids));
        let feed: Vec<FeedRow> = std::mem::take(&mut self.feed)
            .into_iter()
            .filter_map(|f| match f {
                PendingFeed::Entry(entry) => Some(entry),
                PendingFeed::Task { cause_key, entry } => {
                    announce_task(entry, task_ids.get(&cause_key).copied())
                }
            })
            .collect();
        if !feed.is_empty() {
            store.insert_feed_entries(conn, &feed).await?;
        }
        if !self.finished.is_empty() {
            store.finish_appeals(conn, &self.finished).await?;
        }
        if !self.events.is_empty() {
            store.append_events(conn, &self.events).await?;
        }
        if let Some(counter) = &mut self.round_robin {
            if counter.value != counter.stored {
                store.set_counter(conn, ROUND_ROBIN, counter.value).await?;
                counter.stored = counter.value;
            }
        }
        *self = Deferred {
            round_robin: self.round_robin,
            pending: std::mem::take(&mut self.pending),
            prefetched: std::mem::take(&mut self.prefetched),
            ids: std::mem::take(&mut self.ids),
            states: std::mem::take(&mut self.states),
            ..Deferred::default()
        };
        Ok(())
    }

    /// Forgets everything held back (its transaction was rolled back).
    pub fn discard(&mut self) {
        *self = Deferred::default();
    }
}

impl PendingKeys for PendingRows {
    fn pending_hits(&self, key: &BlockingKey) -> Vec<KeyHit> {
        self.0
            .get(&(key.field.as_str(), key.value.clone()))
            .cloned()
            .unwrap_or_default()
    }
}
