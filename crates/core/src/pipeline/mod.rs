//! The one pipeline every appeal goes through: store → match → link or create → notify.
//!
//! A worker takes pending appeals in batches inside one write transaction.
//! The batch's matching reads are made together at its start and most of its
//! writes are held back to its end ([`deferred`]); if anything fails, the
//! batch is redone one appeal at a time under savepoints, so a failing appeal
//! is recorded and retried later without undoing the others. Everything an
//! appeal causes (client, contact points, interest, tasks, feed, its status
//! and decision) is committed together, so a crash at any point leaves it
//! either untouched and pending, or fully processed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::json;
use sqlx::{Acquire, AnyConnection};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::health::Heartbeat;
use crate::metrics::Metrics;
use crate::outbox::{Outbox, ProcessedAppeal};
use crate::settings::CoreSettings as Settings;
use leadgate_domain::appeal::{
    Appeal, AppealStatus, ContactCard, ContactKey, Intent, NormalizedContact,
};
use leadgate_domain::client::ClientKind;
use leadgate_domain::decision::DecisionRecord;
use leadgate_domain::dedup::keys::card_inn;
use leadgate_domain::dedup::{DecisionKind, Probe};
use leadgate_domain::event::interest_events;
use leadgate_domain::routing::Router;
use leadgate_store::{
    company_rows, inn_rows, now_ms, outcome_rows, person_rows, to_ms, Backend, ClaimedAppeal,
    ClientState, FeedRow, FinishedRow, NewInterestRow, StorageError, Store,
};

mod calls;
mod deferred;

use deferred::Deferred;

#[derive(Clone)]
pub struct Pipeline {
    store: Store,
    settings: Arc<Settings>,
    metrics: Arc<Metrics>,
    router: Arc<Router>,
    outbox: Arc<dyn Outbox>,
    wake: Arc<Notify>,
    /// Held by a worker from its claim until it holds its batch's key locks
    /// (`pipeline.workers` > 1): a later batch then always waits for an
    /// earlier one that shares a key, so one person's appeals are still
    /// processed in order within an instance.
    claim_gate: Arc<tokio::sync::Mutex<()>>,
}

/// Who an appeal is from, once that is decided, by the matcher or by an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// A known client; the person, if known, whose contact point matched.
    Existing {
        client_id: i64,
        person_id: Option<i64>,
    },
    NewClient,
}

impl Resolution {
    pub fn kind(self) -> DecisionKind {
        match self {
            Resolution::Existing { .. } => DecisionKind::ExistingClient,
            Resolution::NewClient => DecisionKind::NewClient,
        }
    }
}

/// What processing one appeal did.
#[derive(Debug, Clone)]
pub struct Processed {
    pub appeal_id: i64,
    pub status: AppealStatus,
    pub decision: DecisionKind,
    pub client_id: Option<i64>,
    pub interest_id: Option<i64>,
}

impl Pipeline {
    pub fn new(
        store: Store,
        settings: Arc<Settings>,
        router: Arc<Router>,
        metrics: Arc<Metrics>,
        outbox: Arc<dyn Outbox>,
        wake: Arc<Notify>,
    ) -> Self {
        Pipeline {
            store,
            settings,
            metrics,
            router,
            outbox,
            wake,
            claim_gate: Arc::default(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Serialises work on these contact keys with every other instance until
    /// the transaction on `conn` ends (PostgreSQL; SQLite has one writer).
    pub async fn lock_contact_keys(
        &self,
        conn: &mut AnyConnection,
        keys: &[ContactKey],
    ) -> Result<(), StorageError> {
        if self.store.backend() == Backend::Postgres {
            Store::lock_keys(conn, keys.iter()).await?;
        }
        Ok(())
    }

    /// Works until `shutdown`; the batch in hand is always finished first.
    ///
    /// `beat` is given a beat after every batch that worked (and while idle),
    /// never after a failed one: a worker whose database keeps failing it is
    /// down however busy it looks.
    pub async fn run(self, shutdown: CancellationToken, beat: Heartbeat) {
        let idle = Duration::from_millis(self.settings.pipeline.poll_interval_ms.max(10));
        let mut backoff = Duration::from_millis(100);
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            match self.process_batch().await {
                Ok(done) if !done.is_empty() => {
                    beat.beat();
                    backoff = Duration::from_millis(100);
                    continue;
                }
                Ok(_) => {
                    beat.beat();
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep(idle) => {}
                        _ = shutdown.cancelled() => break,
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "processing batch failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shutdown.cancelled() => break,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
        tracing::info!("pipeline worker stopped");
    }

    /// Takes one batch of pending appeals and processes it in one transaction.
    /// The batch is first tried as a whole, with its writes gathered
    /// ([`Deferred`]); if anything in it fails, the transaction is rolled back
    /// and the batch is processed again one appeal at a time, each under its
    /// own savepoint, so that a failing appeal is recorded and the rest go on.
    pub async fn process_batch(&self) -> Result<Vec<Processed>, StorageError> {
        match self.process_claimed(Mode::Together).await {
            Ok(done) => Ok(done),
            Err(e) => {
                tracing::warn!(error = %e, "a batch failed as a whole; processing it one appeal at a time");
                self.process_claimed(Mode::OneByOne).await
            }
        }
    }

    async fn process_claimed(&self, mode: Mode) -> Result<Vec<Processed>, StorageError> {
        let mut tx = self.store.begin_processing().await?;
        let gate = self.claim_gate.lock().await;
        let claimed = self
            .store
            .claim_pending(tx.conn(), self.settings.pipeline.batch_size)
            .await?;
        if claimed.is_empty() {
            drop(gate);
            tx.commit().await?;
            return Ok(Vec::new());
        }
        let region = self.settings.region();
        let normalized: Vec<NormalizedContact> = claimed
            .iter()
            .map(|c| c.appeal.contact.normalize(region))
            .collect();
        if self.store.backend() == Backend::Postgres {
            Store::lock_keys(tx.conn(), normalized.iter().flat_map(|n| n.keys.iter())).await?;
        }
        drop(gate);
        let started = Instant::now();
        let mut later = Deferred::default();
        let done = match mode {
            Mode::Together => {
                match self
                    .process_together(tx.conn(), &mut later, &claimed, &normalized)
                    .await
                {
                    Ok(done) => done,
                    Err(e) => {
                        // Explicitly, so that the write lock is gone before
                        // the one-by-one pass begins.
                        tx.rollback().await?;
                        return Err(e);
                    }
                }
            }
            Mode::OneByOne => {
                let mut done = Vec::with_capacity(claimed.len());
                for (claim, contact) in claimed.iter().zip(&normalized) {
                    let mut sp = tx.conn().begin().await?;
                    match self
                        .process_alone(&mut sp, &mut later, claim, contact)
                        .await
                    {
                        Ok(processed) => {
                            sp.commit().await?;
                            done.push(processed);
                        }
                        Err(e) => {
                            sp.rollback().await?;
                            later.discard();
                            let give_up = claim.attempts + 1
                                >= i64::from(self.settings.pipeline.max_attempts);
                            tracing::error!(
                                appeal_id = claim.appeal.id,
                                source = %claim.appeal.source,
                                external_id = %claim.appeal.external_id,
                                attempt = claim.attempts + 1,
                                give_up,
                                error = %e,
                                "processing an appeal failed"
                            );
                            self.store
                                .record_failure(tx.conn(), claim.appeal.id, &e.to_string(), give_up)
                                .await?;
                        }
                    }
                }
                done
            }
        };
        tx.commit().await?;
        let now = Utc::now().timestamp_millis();
        for p in &done {
            if let Some(claim) = claimed.iter().find(|c| c.appeal.id == p.appeal_id) {
                self.metrics.processed(claim.appeal.channel, p.decision);
                let latency = (now - claim.accepted_at_ms).max(0) as f64 / 1000.0;
                self.metrics.observe_latency(latency);
            }
        }
        tracing::debug!(
            count = done.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "batch processed"
        );
        for p in &done {
            tracing::info!(
                appeal_id = p.appeal_id,
                status = p.status.as_str(),
                decision = p.decision.as_str(),
                client_id = p.client_id,
                interest_id = p.interest_id,
                "appeal processed"
            );
        }
        Ok(done)
    }

    /// The whole batch with its writes gathered; any error fails the batch.
    async fn process_together(
        &self,
        conn: &mut AnyConnection,
        later: &mut Deferred,
        claimed: &[ClaimedAppeal],
        normalized: &[NormalizedContact],
    ) -> Result<Vec<Processed>, StorageError> {
        let probes: Vec<Probe> = claimed
            .iter()
            .zip(normalized)
            .map(|(claim, contact)| {
                Probe::new(&claim.appeal.contact, contact, &self.settings.matching.junk)
            })
            .collect();
        // Appeals processed before match nothing; the rest are looked up
        // together.
        let matched: Vec<&Probe> = claimed
            .iter()
            .zip(&probes)
            .filter(|(claim, _)| claim.prior_effect.is_none())
            .map(|(_, probe)| probe)
            .collect();
        later
            .prefetch(&self.store, conn, &matched, &self.settings.matching)
            .await?;
        let mut done = Vec::with_capacity(claimed.len());
        for (i, ((claim, contact), probe)) in
            claimed.iter().zip(normalized).zip(&probes).enumerate()
        {
            later.appeals_left(claimed.len() - i);
            let processed = self.process_one(conn, later, claim, contact, probe).await?;
            self.notify(conn, later, claim, &processed).await?;
            done.push(processed);
        }
        later.finish(&self.store, conn).await?;
        Ok(done)
    }

    /// One appeal with everything it causes written before it returns.
    async fn process_alone(
        &self,
        conn: &mut AnyConnection,
        later: &mut Deferred,
        claim: &ClaimedAppeal,
        contact: &NormalizedContact,
    ) -> Result<Processed, StorageError> {
        let probe = Probe::new(&claim.appeal.contact, contact, &self.settings.matching.junk);
        let processed = self
            .process_one(conn, later, claim, contact, &probe)
            .await?;
        self.notify(conn, later, claim, &processed).await?;
        later.finish(&self.store, conn).await?;
        Ok(processed)
    }

    /// The notify step: mail to the person and to the responsible manager
    /// is queued in the same transaction, so it exists iff processing does.
    async fn notify(
        &self,
        conn: &mut AnyConnection,
        later: &mut Deferred,
        claim: &ClaimedAppeal,
        processed: &Processed,
    ) -> Result<(), StorageError> {
        if !self.outbox.is_enabled() {
            return Ok(());
        }
        later.flush(&self.store, conn).await?;
        self.outbox
            .after_processing(
                &self.store,
                conn,
                ProcessedAppeal {
                    appeal: &claim.appeal,
                    status: processed.status,
                    client_id: processed.client_id,
                    interest_id: processed.interest_id,
                },
            )
            .await
    }

    async fn process_one(
        &self,
        conn: &mut AnyConnection,
        later: &mut Deferred,
        claim: &ClaimedAppeal,
        contact: &NormalizedContact,
        probe: &Probe,
    ) -> Result<Processed, StorageError> {
        let appeal = &claim.appeal;
        if matches!(appeal.intent, Intent::Call { .. }) {
            // Call routing reads and closes tasks as it goes.
            later.flush(&self.store, conn).await?;
        }
        if let Some((interest_id, client_id)) = claim.prior_effect {
            // Processed before, but its status was not recorded (restored
            // backup, manual reset): keep what it did, do nothing again.
            let record = DecisionRecord::without_matcher(
                DecisionKind::ExistingClient,
                &[],
                "already processed",
            );
            later.finished(
                appeal,
                finished(
                    appeal.id,
                    AppealStatus::Linked,
                    Some(client_id),
                    Some(interest_id),
                    record,
                ),
            );
            return Ok(Processed {
                appeal_id: appeal.id,
                status: AppealStatus::Linked,
                decision: DecisionKind::ExistingClient,
                client_id: Some(client_id),
                interest_id: Some(interest_id),
            });
        }
        if let Intent::Reply { interest_id } = appeal.intent {
            if let Some(interest) = self.store.interest_row(conn, interest_id).await? {
                return self.reply_in_thread(conn, later, appeal, &interest).await;
            }
        }
        let (pending, prefetched) = later.matching();
        let decision = leadgate_store::match_appeal_with(
            &self.store,
            conn,
            probe,
            &self.settings.matching,
            pending,
            prefetched,
        )
        .await?;
        let record = DecisionRecord::matched(&decision, &contact.rejected);
        if matches!(appeal.intent, Intent::Call { .. }) {
            if let Some(done) = calls::before_client(self, conn, appeal, &decision, &record).await?
            {
                return Ok(done);
            }
        }
        let resolution = match decision.kind {
            DecisionKind::Review => {
                self.store
                    .open_review_item(conn, appeal.id, &decision.candidates)
                    .await?;
                later.finished(
                    appeal,
                    finished(appeal.id, AppealStatus::Review, None, None, record),
                );
                return Ok(Processed {
                    appeal_id: appeal.id,
                    status: AppealStatus::Review,
                    decision: decision.kind,
                    client_id: None,
                    interest_id: None,
                });
            }
            DecisionKind::ExistingClient => {
                let client_id = decision.client_id.ok_or(StorageError::Corrupt(
                    "existing-client decision without a client".into(),
                ))?;
                // A colleague at a known company: their own contact person.
                let person_id = match (decision.person_id, &decision.new_person) {
                    (None, Some(name)) => Some(self.person(conn, later, client_id, name).await?),
                    (person, _) => person,
                };
                Resolution::Existing {
                    client_id,
                    person_id,
                }
            }
            DecisionKind::NewClient => Resolution::NewClient,
        };
        self.route(conn, later, appeal, &contact.keys, resolution, record)
            .await
    }

    /// The second half of processing, once it is known who the appeal is from:
    /// the client learns the appeal's contact points (or is created with
    /// them), the appeal joins the client's open interest or makes a new one,
    /// and the appeal is finished with `record` as its decision. Runs inside
    /// the caller's transaction and has written everything when it returns;
    /// the operators' review queue calls it.
    pub async fn route_decided(
        &self,
        conn: &mut AnyConnection,
        appeal: &Appeal,
        keys: &[ContactKey],
        resolution: Resolution,
        record: DecisionRecord,
    ) -> Result<Processed, StorageError> {
        let mut later = Deferred::default();
        let processed = self
            .route(conn, &mut later, appeal, keys, resolution, record)
            .await?;
        later.finish(&self.store, conn).await?;
        Ok(processed)
    }

    async fn route(
        &self,
        conn: &mut AnyConnection,
        later: &mut Deferred,
        appeal: &Appeal,
        keys: &[ContactKey],
        resolution: Resolution,
        mut record: DecisionRecord,
    ) -> Result<Processed, StorageError> {
        let (client_id, person_id, state) = match resolution {
            Resolution::Existing {
                client_id,
                person_id,
            } => {
                // Earlier appeals of the batch may have written to this
                // client; what follows reads its interests and tasks.
                if later.touches(client_id) {
                    later.flush(&self.store, conn).await?;
                }
                let state = later.take_state(client_id);
                let (client_id, person_id) = self
                    .attach_to_existing(conn, later, client_id, person_id, &appeal.contact, keys)
                    .await?;
                (client_id, person_id, state)
            }
            Resolution::NewClient => {
                let responsible = self.responsible_for_new(conn, later, appeal).await?;
                let (client_id, person_id) = self
                    .create_client(conn, later, &appeal.contact, keys, responsible.as_deref())
                    .await?;
                (client_id, person_id, Some((responsible, None)))
            }
        };
        later.client(client_id);
        let (status, interest_id) = self
            .link_or_create_interest(conn, later, appeal, client_id, person_id, state)
            .await?;
        record.client_id = Some(Some(client_id));
        later.finished(
            appeal,
            finished(
                appeal.id,
                status,
                Some(client_id),
                Some(interest_id),
                record,
            ),
        );
        Ok(Processed {
            appeal_id: appeal.id,
            status,
            decision: resolution.kind(),
            client_id: Some(client_id),
            interest_id: Some(interest_id),
        })
    }

    /// The contact person of the client with this name, created if missing.
    async fn person(
        &self,
        conn: &mut AnyConnection,
        later: &mut Deferred,
        client_id: i64,
        name: &str,
    ) -> Result<i64, StorageError> {
        // The client itself may still be held back.
        if later.touches(client_id) {
            later.flush(&self.store, conn).await?;
        }
        let person_id = later
            .upsert_person(&self.store, conn, client_id, name)
            .await?;
        later.match_keys(person_rows(client_id, person_id, name));
        Ok(person_id)
    }

    /// The matched client learns the appeal's other contact points, so the
    /// next appeal from them matches on any of its keys.
    async fn attach_to_existing(
        &self,
        conn: &mut AnyConnection,
        later: &mut Deferred,
        client_id: i64,
        person_id: Option<i64>,
        card: &leadgate_domain::appeal::ContactCard,
        keys: &[ContactKey],
    ) -> Result<(i64, Option<i64>), StorageError> {
        let person_id = match person_id {
            Some(p) => Some(p),
            None => match card.display_name() {
                Some(name) => Some(self.person(conn, later, client_id, name).await?),
                None => self.store.first_person(conn, client_id).await?,
            },
        };
        later.contact_points(client_id, person_id, keys);
        Ok((client_id, person_id))
    }

    /// Who takes a new client: the owner of the personal mailbox the appeal
    /// came to, else the next manager in the round robin.
    async fn responsible_for_new(
        &self,
        conn: &mut AnyConnection,
        later: &mut Deferred,
        appeal: &Appeal,
    ) -> Result<Option<String>, StorageError> {
        if let Some(owner) = mail_owner(&self.settings, appeal) {
            return Ok(Some(owner.to_string()));
        }
        let list = &self.settings.routing.round_robin;
        if list.is_empty() {
            return Ok(None);
        }
        let n = later.next_round_robin(&self.store, conn).await?;
        let idx = usize::try_from((n - 1).rem_euclid(list.len() as i64)).unwrap_or(0);
        Ok(list.get(idx).cloned())
    }

    async fn create_client(
        &self,
        conn: &mut AnyConnection,
        later: &mut Deferred,
        card: &leadgate_domain::appeal::ContactCard,
        keys: &[ContactKey],
        responsible: Option<&str>,
    ) -> Result<(i64, Option<i64>), StorageError> {
        let NewClient {
            kind,
            name: client_name,
            person_name,
            inn,
        } = NewClient::from_card(card, keys);
        let (client_id, person_id) = later
            .create_client(
                &self.store,
                conn,
                kind,
                &client_name,
                &person_name,
                inn.as_deref(),
                responsible,
            )
            .await?;
        later.match_keys(company_rows(client_id, kind, &client_name));
        later.match_keys(person_rows(client_id, person_id, &person_name));
        later.match_keys(inn_rows(client_id, inn.as_deref()));
        later.contact_points(client_id, Some(person_id), keys);
        Ok((client_id, Some(person_id)))
    }

    /// `state` is the client's responsible and open interest when the
    /// caller knows them (a client it created, or one read with the batch).
    async fn link_or_create_interest(
        &self,
        conn: &mut AnyConnection,
        later: &mut Deferred,
        appeal: &Appeal,
        client_id: i64,
        person_id: Option<i64>,
        state: Option<ClientState>,
    ) -> Result<(AppealStatus, i64), StorageError> {
        if matches!(appeal.intent, Intent::Call { .. }) {
            return calls::route(self, conn, later, appeal, client_id, person_id).await;
        }
        let (responsible, open) = match state {
            Some(state) => state,
            None => self.store.client_interest_state(conn, client_id).await?,
        };
        let Some(open) = open else {
            let interest_id = self
                .create_interest_for(conn, later, appeal, client_id, person_id, Some(responsible))
                .await?;
            return Ok((AppealStatus::Created, interest_id));
        };
        let summary = appeal_summary(appeal);
        let window =
            chrono::Duration::hours(i64::from(self.settings.pipeline.conversation_window_hours));
        let now = Utc::now();
        if appeal.intent == Intent::Message && now - open.updated_at <= window {
            later.feed(appeal_entry(
                open.id,
                appeal,
                "message",
                format!("Сообщение ({}): {summary}", appeal.channel),
            ));
            self.store.touch_interest(conn, open.id).await?;
            later.linked(appeal, &open, "message");
            return Ok((AppealStatus::Linked, open.id));
        }
        later.feed(appeal_entry(
            open.id,
            appeal,
            "appeal",
            format!("Повторное обращение ({}): {summary}", appeal.channel),
        ));
        // The stage engine's outcome is written as it comes, after the entry.
        later.flush(&self.store, conn).await?;
        let facts = self.store.interest_facts(conn, &open).await?;
        let outcome = self
            .router
            .repeat(&open, &facts, appeal, now)
            .map_err(|e| {
                StorageError::Corrupt(format!("stage engine refused a repeat appeal: {e}"))
            })?;
        self.store
            .apply_outcome(
                conn,
                open.id,
                &outcome,
                &format!("appeal:{}", appeal.id),
                Some(appeal.id),
            )
            .await?;
        later.linked(appeal, &open, "appeal");
        for event in interest_events(&open, &outcome, now) {
            later.event(event);
        }
        Ok((AppealStatus::Linked, open.id))
    }

    /// A new interest for the client, created through the stage engine, with
    /// the appeal as its first feed entry. `known_responsible` is the
    /// client's responsible when the caller knows it (a client it created).
    pub(super) async fn create_interest_for(
        &self,
        conn: &mut AnyConnection,
        later: &mut Deferred,
        appeal: &Appeal,
        client_id: i64,
        person_id: Option<i64>,
        known_responsible: Option<Option<String>>,
    ) -> Result<i64, StorageError> {
        let summary = appeal_summary(appeal);
        let cause = format!("appeal:{}", appeal.id);
        let now = Utc::now();
        let owner = mail_owner(&self.settings, appeal);
        let client_responsible = match known_responsible {
            Some(known) => known,
            None => self.store.client_responsible(conn, client_id).await?,
        };
        let responsible = match client_responsible {
            // A personal mailbox's owner takes the new interests that come to it.
            Some(login) => Some(owner.map_or(login, str::to_string)),
            None => {
                let login = match owner {
                    Some(owner) => Some(owner.to_string()),
                    None => self.responsible_for_new(conn, later, appeal).await?,
                };
                if let Some(login) = &login {
                    self.store
                        .set_client_responsible(conn, client_id, login)
                        .await?;
                }
                login
            }
        };
        let outcome = self
            .router
            .create(appeal, responsible.as_deref(), now)
            .map_err(|e| {
                StorageError::Corrupt(format!("stage engine refused a new interest: {e}"))
            })?;
        let interest_id = later
            .create_interest(
                &self.store,
                conn,
                NewInterestRow {
                    id: 0,
                    client_id,
                    person_id,
                    scenario: outcome.scenario_id.clone(),
                    stage: outcome.new_stage.clone(),
                    responsible: responsible.clone(),
                    channel: appeal.channel.as_str().to_string(),
                    source: appeal.source.clone(),
                    utm_source: appeal.utm("utm_source"),
                    utm_campaign: appeal.utm("utm_campaign"),
                    at_ms: to_ms(now),
                },
            )
            .await?;
        later.feed(appeal_entry(
            interest_id,
            appeal,
            "appeal",
            format!("Обращение ({}): {summary}", appeal.channel),
        ));
        if outcome.only_adds() {
            later.outcome(outcome_rows(
                interest_id,
                &outcome,
                &cause,
                Some(appeal.id),
                to_ms(now),
            ));
        } else {
            later.flush(&self.store, conn).await?;
            self.store
                .apply_outcome(conn, interest_id, &outcome, &cause, Some(appeal.id))
                .await?;
        }
        Ok(interest_id)
    }

    /// A reply in a thread we know joins that interest's feed as a message.
    async fn reply_in_thread(
        &self,
        conn: &mut AnyConnection,
        later: &mut Deferred,
        appeal: &leadgate_domain::appeal::Appeal,
        interest: &leadgate_domain::interest::Interest,
    ) -> Result<Processed, StorageError> {
        let summary = format!("Ответ ({}): {}", appeal.channel, appeal_summary(appeal));
        later.feed(appeal_entry(interest.id, appeal, "message", summary));
        self.store.touch_interest(conn, interest.id).await?;
        later.linked(appeal, interest, "reply");
        let record = DecisionRecord::without_matcher(
            DecisionKind::ExistingClient,
            &["thread"],
            "a reply in a known thread",
        );
        later.finished(
            appeal,
            finished(
                appeal.id,
                AppealStatus::Linked,
                Some(interest.client_id),
                Some(interest.id),
                record,
            ),
        );
        Ok(Processed {
            appeal_id: appeal.id,
            status: AppealStatus::Linked,
            decision: DecisionKind::ExistingClient,
            client_id: Some(interest.client_id),
            interest_id: Some(interest.id),
        })
    }
}

/// What a client created from an appeal is: named after the company when
/// the appeal names one, else after the person; a checksum-valid ИНН is its
/// company key, and an organisation's ИНН (10 digits) makes it a company
/// even unnamed («ИНН 7707083893», until someone writes its name).
#[derive(Debug, Clone, PartialEq, Eq)]
struct NewClient {
    kind: ClientKind,
    name: String,
    person_name: String,
    inn: Option<String>,
}

impl NewClient {
    fn from_card(card: &ContactCard, keys: &[ContactKey]) -> NewClient {
        let person_name = card
            .display_name()
            .map(str::to_string)
            .or_else(|| keys.first().map(|k| k.raw.clone()))
            .unwrap_or_else(|| "Без имени".to_string());
        let inn = card_inn(card);
        let company = card
            .company
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty());
        let (kind, name) = match (company, inn.as_deref()) {
            (Some(c), _) => (ClientKind::Company, c.to_string()),
            (None, Some(inn)) if inn.len() == 10 => (ClientKind::Company, format!("ИНН {inn}")),
            (None, _) => (ClientKind::Person, person_name.clone()),
        };
        NewClient {
            kind,
            name,
            person_name,
            inn,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    /// The batch as a whole, writes gathered.
    Together,
    /// Each appeal under its own savepoint, written before the next.
    OneByOne,
}

/// The manager whose personal mailbox the appeal came to, if a configured one.
fn mail_owner<'a>(settings: &Settings, appeal: &'a Appeal) -> Option<&'a str> {
    appeal
        .attributes
        .get("mail_owner")
        .and_then(|v| v.as_str())
        .filter(|login| settings.manager(login).is_some())
}

fn finished(
    appeal_id: i64,
    status: AppealStatus,
    client_id: Option<i64>,
    interest_id: Option<i64>,
    decision: DecisionRecord,
) -> FinishedRow {
    FinishedRow {
        appeal_id,
        status,
        client_id,
        interest_id,
        decision: decision.into(),
        processed_at_ms: now_ms(),
    }
}

/// The feed entry an appeal makes in its interest.
fn appeal_entry(interest_id: i64, appeal: &Appeal, kind: &str, summary: String) -> FeedRow {
    FeedRow {
        interest_id,
        at_ms: now_ms(),
        kind: kind.to_string(),
        actor: None,
        summary,
        data: json!({"appeal_id": appeal.id, "channel": appeal.channel, "source": appeal.source}),
        appeal_id: Some(appeal.id),
    }
}

fn appeal_summary(appeal: &leadgate_domain::appeal::Appeal) -> String {
    let text = appeal
        .subject
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .or(appeal.text.as_deref())
        .unwrap_or("");
    let mut s: String = text.chars().take(140).collect();
    if text.chars().count() > 140 {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(name: Option<&str>, company: Option<&str>, inn: Option<&str>) -> ContactCard {
        ContactCard {
            name: name.map(str::to_string),
            company: company.map(str::to_string),
            inn: inn.map(str::to_string),
            ..ContactCard::default()
        }
    }

    #[test]
    fn a_new_client_takes_the_appeals_inn_as_its_company_key() {
        let c = NewClient::from_card(
            &card(Some("Мария"), Some("ООО Альфа"), Some("7707 083 893")),
            &[],
        );
        assert_eq!(c.kind, ClientKind::Company);
        assert_eq!(c.name, "ООО Альфа");
        assert_eq!(c.inn.as_deref(), Some("7707083893"));
        // An organisation's ИНН without its name is still a company.
        let c = NewClient::from_card(&card(Some("Мария"), None, Some("7707083893")), &[]);
        assert_eq!(
            (c.kind, c.name.as_str()),
            (ClientKind::Company, "ИНН 7707083893")
        );
        assert_eq!(c.person_name, "Мария");
        // A sole trader's (12 digits) is the person's own.
        let c = NewClient::from_card(&card(Some("Мария"), None, Some("500100732259")), &[]);
        assert_eq!((c.kind, c.name.as_str()), (ClientKind::Person, "Мария"));
        assert_eq!(c.inn.as_deref(), Some("500100732259"));
        // A wrong check digit is no ИНН.
        let c = NewClient::from_card(&card(Some("Мария"), None, Some("7707083894")), &[]);
        assert_eq!((c.kind, c.inn), (ClientKind::Person, None));
    }
}
