//! The one pipeline every appeal goes through: store → match → link or create → notify.
//!
//! A worker takes pending appeals in batches inside one write transaction, and
//! processes each under its own savepoint, so a failing appeal is recorded and
//! retried later without undoing the others. Everything an appeal causes
//! (client, contact points, interest, tasks, feed, its status and decision) is
//! committed together, so a crash at any point leaves it either untouched and
//! pending, or fully processed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::json;
use sqlx::{Acquire, AnyConnection};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::appeal::{Appeal, AppealStatus, ContactKey, Intent, NormalizedContact};
use crate::client::ClientKind;
use crate::dedup::{self, DecisionKind, Probe};
use crate::metrics::Metrics;
use crate::routing::Router;
use crate::settings::Settings;
use crate::storage::{Backend, ClaimedAppeal, NewFeedEntry, StorageError, Store};

mod calls;

#[derive(Clone)]
pub struct Pipeline {
    store: Store,
    settings: Arc<Settings>,
    metrics: Arc<Metrics>,
    router: Arc<Router>,
    wake: Arc<Notify>,
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
        wake: Arc<Notify>,
    ) -> Self {
        Pipeline {
            store,
            settings,
            metrics,
            router,
            wake,
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
            lock_keys(conn, keys.iter()).await?;
        }
        Ok(())
    }

    /// Works until `shutdown`; the batch in hand is always finished first.
    pub async fn run(self, shutdown: CancellationToken) {
        let idle = Duration::from_millis(self.settings.pipeline.poll_interval_ms.max(10));
        let mut backoff = Duration::from_millis(100);
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            match self.process_batch().await {
                Ok(done) if !done.is_empty() => {
                    backoff = Duration::from_millis(100);
                    continue;
                }
                Ok(_) => {
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
    pub async fn process_batch(&self) -> Result<Vec<Processed>, StorageError> {
        let mut tx = self.store.begin_write().await?;
        let claimed = self
            .store
            .claim_pending(tx.conn(), self.settings.pipeline.batch_size)
            .await?;
        if claimed.is_empty() {
            tx.commit().await?;
            return Ok(Vec::new());
        }
        let region = self.settings.region();
        let normalized: Vec<NormalizedContact> = claimed
            .iter()
            .map(|c| c.appeal.contact.normalize(region))
            .collect();
        if self.store.backend() == Backend::Postgres {
            lock_keys(tx.conn(), normalized.iter().flat_map(|n| n.keys.iter())).await?;
        }
        let mut done = Vec::with_capacity(claimed.len());
        let started = Instant::now();
        for (claim, contact) in claimed.iter().zip(&normalized) {
            let mut sp = tx.conn().begin().await?;
            let result = match self.process_one(&mut sp, claim, contact).await {
                Ok(processed) => self
                    .notify(&mut sp, claim, &processed)
                    .await
                    .map(|()| processed),
                Err(e) => Err(e),
            };
            match result {
                Ok(processed) => {
                    sp.commit().await?;
                    done.push(processed);
                }
                Err(e) => {
                    sp.rollback().await?;
                    let give_up =
                        claim.attempts + 1 >= i64::from(self.settings.pipeline.max_attempts);
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

    /// The notify step: mail to the person and to the responsible manager
    /// is queued in the same transaction, so it exists iff processing does.
    async fn notify(
        &self,
        conn: &mut AnyConnection,
        claim: &ClaimedAppeal,
        processed: &Processed,
    ) -> Result<(), StorageError> {
        crate::sources::mail::outbox::enqueue_after_processing(
            &self.store,
            conn,
            &self.settings,
            &claim.appeal,
            processed.status,
            processed.client_id,
            processed.interest_id,
        )
        .await
    }

    async fn process_one(
        &self,
        conn: &mut AnyConnection,
        claim: &ClaimedAppeal,
        contact: &NormalizedContact,
    ) -> Result<Processed, StorageError> {
        let appeal = &claim.appeal;
        if let Some((interest_id, client_id)) = self.store.prior_effect(conn, appeal.id).await? {
            // Processed before, but its status was not recorded (restored
            // backup, manual reset): keep what it did, do nothing again.
            let record = json!({"kind": DecisionKind::ExistingClient, "reason": "already processed", "matched_on": []});
            self.store
                .finish_appeal(
                    conn,
                    appeal.id,
                    AppealStatus::Linked,
                    Some(client_id),
                    Some(interest_id),
                    &record,
                )
                .await?;
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
                return self.reply_in_thread(conn, appeal, &interest).await;
            }
        }
        let probe = Probe::new(&appeal.contact, contact);
        let decision =
            dedup::match_appeal(&self.store, conn, &probe, &self.settings.matching).await?;
        let mut record = json!({
            "kind": decision.kind,
            "matched_on": decision.matched_on,
            "score": decision.score,
            "candidates": decision.candidates,
            "scores": decision.scores,
            "evidence": decision.evidence,
            "reason": decision.reason,
            "rejected_contact_points": contact.rejected,
        });
        if let Some(name) = &decision.new_person {
            record["new_person"] = json!(name);
        }
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
                self.store
                    .finish_appeal(conn, appeal.id, AppealStatus::Review, None, None, &record)
                    .await?;
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
                    (None, Some(name)) => {
                        Some(self.store.ensure_person(conn, client_id, name).await?)
                    }
                    (person, _) => person,
                };
                Resolution::Existing {
                    client_id,
                    person_id,
                }
            }
            DecisionKind::NewClient => Resolution::NewClient,
        };
        self.route_decided(conn, appeal, &contact.keys, resolution, record)
            .await
    }

    /// The second half of processing, once it is known who the appeal is from:
    /// the client learns the appeal's contact points (or is created with
    /// them), the appeal joins the client's open interest or makes a new one,
    /// and the appeal is finished with `record` as its decision. Runs inside
    /// the caller's transaction; the operators' review queue calls it too.
    pub async fn route_decided(
        &self,
        conn: &mut AnyConnection,
        appeal: &Appeal,
        keys: &[ContactKey],
        resolution: Resolution,
        mut record: serde_json::Value,
    ) -> Result<Processed, StorageError> {
        let (client_id, person_id) = match resolution {
            Resolution::Existing {
                client_id,
                person_id,
            } => {
                self.attach_to_existing(conn, client_id, person_id, &appeal.contact, keys)
                    .await?
            }
            Resolution::NewClient => self.create_client(conn, &appeal.contact, keys).await?,
        };
        let (status, interest_id) = self
            .link_or_create_interest(conn, appeal, client_id, person_id)
            .await?;
        record["client_id"] = json!(client_id);
        self.store
            .finish_appeal(
                conn,
                appeal.id,
                status,
                Some(client_id),
                Some(interest_id),
                &record,
            )
            .await?;
        Ok(Processed {
            appeal_id: appeal.id,
            status,
            decision: resolution.kind(),
            client_id: Some(client_id),
            interest_id: Some(interest_id),
        })
    }

    /// The matched client learns the appeal's other contact points, so the
    /// next appeal from them matches on any of its keys.
    async fn attach_to_existing(
        &self,
        conn: &mut AnyConnection,
        client_id: i64,
        person_id: Option<i64>,
        card: &crate::appeal::ContactCard,
        keys: &[ContactKey],
    ) -> Result<(i64, Option<i64>), StorageError> {
        let person_id = match person_id {
            Some(p) => Some(p),
            None => match card.display_name() {
                Some(name) => Some(self.store.ensure_person(conn, client_id, name).await?),
                None => self.store.first_person(conn, client_id).await?,
            },
        };
        self.store
            .add_contact_points(conn, client_id, person_id, keys)
            .await?;
        Ok((client_id, person_id))
    }

    async fn create_client(
        &self,
        conn: &mut AnyConnection,
        card: &crate::appeal::ContactCard,
        keys: &[ContactKey],
    ) -> Result<(i64, Option<i64>), StorageError> {
        let person_name = card
            .display_name()
            .map(str::to_string)
            .or_else(|| keys.first().map(|k| k.raw.clone()))
            .unwrap_or_else(|| "Без имени".to_string());
        let company = card
            .company
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty());
        let (kind, client_name) = match company {
            Some(c) => (ClientKind::Company, c.to_string()),
            None => (ClientKind::Person, person_name.clone()),
        };
        let client_id = self
            .store
            .create_client(conn, kind, &client_name, None)
            .await?;
        let person_id = self
            .store
            .ensure_person(conn, client_id, &person_name)
            .await?;
        self.store
            .add_contact_points(conn, client_id, Some(person_id), keys)
            .await?;
        Ok((client_id, Some(person_id)))
    }

    async fn link_or_create_interest(
        &self,
        conn: &mut AnyConnection,
        appeal: &Appeal,
        client_id: i64,
        person_id: Option<i64>,
    ) -> Result<(AppealStatus, i64), StorageError> {
        if matches!(appeal.intent, Intent::Call { .. }) {
            return calls::route(self, conn, appeal, client_id, person_id).await;
        }
        let summary = appeal_summary(appeal);
        let cause = format!("appeal:{}", appeal.id);
        let now = Utc::now();
        if let Some(open) = self.store.open_interest_of(conn, client_id).await? {
            let window = chrono::Duration::hours(i64::from(
                self.settings.pipeline.conversation_window_hours,
            ));
            if appeal.intent == Intent::Message && now - open.updated_at <= window {
                self.add_appeal_entry(
                    conn,
                    open.id,
                    appeal,
                    "message",
                    format!("Сообщение ({}): {summary}", appeal.channel),
                )
                .await?;
                self.store.touch_interest(conn, open.id).await?;
                return Ok((AppealStatus::Linked, open.id));
            }
            self.add_appeal_entry(
                conn,
                open.id,
                appeal,
                "appeal",
                format!("Повторное обращение ({}): {summary}", appeal.channel),
            )
            .await?;
            let facts = self.store.interest_facts(conn, &open).await?;
            let outcome = self
                .router
                .repeat(&open, &facts, appeal, now)
                .map_err(|e| {
                    StorageError::Corrupt(format!("stage engine refused a repeat appeal: {e}"))
                })?;
            self.store
                .apply_outcome(conn, open.id, &outcome, &cause, Some(appeal.id))
                .await?;
            return Ok((AppealStatus::Linked, open.id));
        }
        let interest_id = self
            .create_interest_for(conn, appeal, client_id, person_id)
            .await?;
        Ok((AppealStatus::Created, interest_id))
    }

    /// A new interest for the client, created through the stage engine, with
    /// the appeal as its first feed entry.
    async fn create_interest_for(
        &self,
        conn: &mut AnyConnection,
        appeal: &Appeal,
        client_id: i64,
        person_id: Option<i64>,
    ) -> Result<i64, StorageError> {
        let summary = appeal_summary(appeal);
        let cause = format!("appeal:{}", appeal.id);
        let now = Utc::now();
        // A personal mailbox's owner takes the new interests that come to it.
        let owner = appeal
            .attributes
            .get("mail_owner")
            .and_then(|v| v.as_str())
            .filter(|login| self.settings.manager(login).is_some());
        let responsible = match self.store.client_responsible(conn, client_id).await? {
            Some(login) => Some(owner.map_or(login, str::to_string)),
            None if owner.is_some() => {
                let login = owner.unwrap_or_default();
                self.store
                    .set_client_responsible(conn, client_id, login)
                    .await?;
                Some(login.to_string())
            }
            None => {
                let next = self.next_in_round_robin(conn).await?;
                if let Some(login) = &next {
                    self.store
                        .set_client_responsible(conn, client_id, login)
                        .await?;
                }
                next
            }
        };
        let outcome = self
            .router
            .create(appeal, responsible.as_deref(), now)
            .map_err(|e| {
                StorageError::Corrupt(format!("stage engine refused a new interest: {e}"))
            })?;
        let interest_id = self
            .store
            .create_interest(
                conn,
                client_id,
                person_id,
                &outcome.scenario_id,
                &outcome.new_stage,
                responsible.as_deref(),
                appeal.channel.as_str(),
                &appeal.source,
            )
            .await?;
        self.add_appeal_entry(
            conn,
            interest_id,
            appeal,
            "appeal",
            format!("Обращение ({}): {summary}", appeal.channel),
        )
        .await?;
        self.store
            .apply_outcome(conn, interest_id, &outcome, &cause, Some(appeal.id))
            .await?;
        Ok(interest_id)
    }

    /// A reply in a thread we know joins that interest's feed as a message.
    async fn reply_in_thread(
        &self,
        conn: &mut AnyConnection,
        appeal: &crate::appeal::Appeal,
        interest: &crate::interest::Interest,
    ) -> Result<Processed, StorageError> {
        let summary = format!("Ответ ({}): {}", appeal.channel, appeal_summary(appeal));
        self.add_appeal_entry(conn, interest.id, appeal, "message", summary)
            .await?;
        self.store.touch_interest(conn, interest.id).await?;
        let record = json!({
            "kind": DecisionKind::ExistingClient,
            "matched_on": ["thread"],
            "reason": "a reply in a known thread",
        });
        self.store
            .finish_appeal(
                conn,
                appeal.id,
                AppealStatus::Linked,
                Some(interest.client_id),
                Some(interest.id),
                &record,
            )
            .await?;
        Ok(Processed {
            appeal_id: appeal.id,
            status: AppealStatus::Linked,
            decision: DecisionKind::ExistingClient,
            client_id: Some(interest.client_id),
            interest_id: Some(interest.id),
        })
    }

    async fn add_appeal_entry(
        &self,
        conn: &mut AnyConnection,
        interest_id: i64,
        appeal: &crate::appeal::Appeal,
        kind: &str,
        summary: String,
    ) -> Result<(), StorageError> {
        self.store
            .add_feed_entry(
                conn,
                &NewFeedEntry {
                    interest_id,
                    kind,
                    actor: None,
                    summary,
                    data: json!({"appeal_id": appeal.id, "channel": appeal.channel, "source": appeal.source}),
                    appeal_id: Some(appeal.id),
                },
            )
            .await?;
        Ok(())
    }

    async fn next_in_round_robin(
        &self,
        conn: &mut AnyConnection,
    ) -> Result<Option<String>, StorageError> {
        let list = &self.settings.routing.round_robin;
        if list.is_empty() {
            return Ok(None);
        }
        let n = self.store.next_counter(conn, "round_robin").await?;
        let idx = usize::try_from((n - 1).rem_euclid(list.len() as i64)).unwrap_or(0);
        Ok(list.get(idx).cloned())
    }
}

fn appeal_summary(appeal: &crate::appeal::Appeal) -> String {
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

/// Serialises appeals that share a contact key across instances for the rest
/// of the transaction, so two instances never both create a client for the
/// same new person. Locks are taken in one order to rule out deadlocks.
async fn lock_keys<'a>(
    conn: &mut AnyConnection,
    keys: impl Iterator<Item = &'a ContactKey>,
) -> Result<(), StorageError> {
    use sha2::{Digest, Sha256};
    let mut ids: Vec<i64> = keys
        .map(|k| {
            let digest = Sha256::digest(format!("{}:{}", k.kind.as_str(), k.value).as_bytes());
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&digest[..8]);
            i64::from_be_bytes(bytes)
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    for id in ids {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
