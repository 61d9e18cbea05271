//! Durable intake: the sink every source hands its appeals to.
//!
//! An appeal is acknowledged only after it is committed. Concurrent submissions
//! are gathered into one transaction (group commit), so that a synchronous,
//! fsync-per-commit database still takes thousands of appeals a second.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::health::{Health, Heartbeat};
use crate::metrics::Metrics;
use leadgate_domain::appeal::NewAppeal;
use leadgate_domain::appeal::{AppealStatus, Channel};
use leadgate_domain::decision::AppealDecision;
use leadgate_store::{AcceptedAppeal, StorageError, Store, WriteTx};
use sqlx::AnyConnection;

/// How many submissions one commit may carry.
const MAX_GROUP: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("the database did not take the appeal: {0}")]
    Storage(String),
    #[error("intake is shutting down")]
    Closed,
}

struct Submission {
    appeal: NewAppeal,
    reply: oneshot::Sender<Result<AcceptedAppeal, IntakeError>>,
}

#[derive(Clone)]
pub struct Intake {
    queue: mpsc::Sender<Submission>,
    store: Store,
    metrics: Arc<Metrics>,
    wake: Arc<Notify>,
}

impl Intake {
    /// Starts the writer. It stops once every `Intake` handle is dropped and the
    /// submissions already queued are committed.
    ///
    /// The writer runs under `health`'s supervision as the part
    /// `intake writer`: a panic in it loses the replies of the group in hand
    /// (their callers get a 503 and retry), not the queue.
    pub fn start(
        store: Store,
        metrics: Arc<Metrics>,
        wake: Arc<Notify>,
        health: &Health,
    ) -> (Intake, JoinHandle<()>) {
        let (queue, inbox) = mpsc::channel(4 * MAX_GROUP);
        let inbox = Arc::new(tokio::sync::Mutex::new(inbox));
        let writer = {
            let (store, metrics, wake) = (store.clone(), metrics.clone(), wake.clone());
            health.supervise(
                "intake writer".into(),
                Duration::ZERO,
                CancellationToken::new(),
                move |beat| {
                    write_loop(
                        store.clone(),
                        metrics.clone(),
                        wake.clone(),
                        inbox.clone(),
                        beat,
                    )
                },
            )
        };
        (
            Intake {
                queue,
                store,
                metrics,
                wake,
            },
            writer,
        )
    }

    /// The transactional way in, for a source that must commit something of
    /// its own with its appeals: the mail channel its folder's read cursor
    /// (so a message is taken exactly once across crashes), telephony the call
    /// record the appeal came from (so there is never a call without its
    /// appeal, nor an appeal twice). Same idempotency as [`Intake::submit`].
    pub async fn begin(&self) -> Result<Accepting, StorageError> {
        let tx = self.store.begin_write().await?;
        Ok(Accepting {
            tx,
            accepted: Vec::new(),
            metrics: self.metrics.clone(),
            wake: self.wake.clone(),
        })
    }

    /// Stores the appeal durably; returns its id, also for a redelivery.
    pub async fn submit(&self, mut appeal: NewAppeal) -> Result<AcceptedAppeal, IntakeError> {
        appeal.strip_nul();
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Submission { appeal, reply })
            .await
            .map_err(|_| IntakeError::Closed)?;
        answer.await.map_err(|_| IntakeError::Closed)?
    }
}

/// Appeals being accepted in one transaction with the source's own rows.
/// Nothing is counted or processed until [`Accepting::commit`]; dropped
/// without it, everything rolls back.
pub struct Accepting {
    tx: WriteTx,
    accepted: Vec<(Channel, AcceptedAppeal)>,
    metrics: Arc<Metrics>,
    wake: Arc<Notify>,
}

impl Accepting {
    /// The transaction, for the source's own rows (through the store).
    pub fn conn(&mut self) -> &mut AnyConnection {
        self.tx.conn()
    }

    /// Stores a pending appeal; processing follows the commit.
    pub async fn submit(&mut self, appeal: &NewAppeal) -> Result<AcceptedAppeal, StorageError> {
        self.submit_as(appeal, AppealStatus::Pending, None).await
    }

    /// Stores an appeal already decided by its source (mail it refused,
    /// for instance), kept and counted but never processed.
    pub async fn submit_as(
        &mut self,
        appeal: &NewAppeal,
        status: AppealStatus,
        decision: Option<&AppealDecision>,
    ) -> Result<AcceptedAppeal, StorageError> {
        let mut cleaned = appeal.clone();
        let appeal = if cleaned.strip_nul() {
            &cleaned
        } else {
            appeal
        };
        let accepted =
            leadgate_store::insert_appeal_as(self.tx.conn(), appeal, status, decision).await?;
        self.accepted.push((appeal.channel, accepted));
        Ok(accepted)
    }

    /// Commits the appeals with the source's rows, then counts them and
    /// wakes the pipeline for the new pending ones.
    pub async fn commit(self) -> Result<Vec<AcceptedAppeal>, StorageError> {
        self.tx.commit().await?;
        let mut any_new = false;
        for (channel, a) in &self.accepted {
            self.metrics.accepted(*channel, a.created);
            any_new |= a.created && a.status == AppealStatus::Pending;
        }
        if any_new {
            self.wake.notify_one();
        }
        Ok(self.accepted.into_iter().map(|(_, a)| a).collect())
    }
}

async fn write_loop(
    store: Store,
    metrics: Arc<Metrics>,
    wake: Arc<Notify>,
    inbox: Arc<tokio::sync::Mutex<mpsc::Receiver<Submission>>>,
    beat: Heartbeat,
) {
    let mut inbox = inbox.lock().await;
    let mut group: Vec<Submission> = Vec::with_capacity(MAX_GROUP);
    loop {
        // Waiting for submissions is healthy; a write that hangs is not.
        let taken = beat
            .keep_alive(inbox.recv_many(&mut group, MAX_GROUP))
            .await;
        if taken == 0 {
            break;
        }
        let appeals: Vec<NewAppeal> = group.iter().map(|s| s.appeal.clone()).collect();
        let results = match store.insert_appeals(&appeals).await {
            Ok(accepted) => accepted.into_iter().map(Ok).collect::<Vec<_>>(),
            // One bad row must not fail its neighbours: retry them one by one.
            Err(group_error) => {
                tracing::warn!(error = %group_error, size = appeals.len(), "group commit failed; storing one by one");
                let mut out = Vec::with_capacity(appeals.len());
                for appeal in &appeals {
                    out.push(
                        store
                            .insert_appeals(std::slice::from_ref(appeal))
                            .await
                            .map(|mut v| v.remove(0))
                            .map_err(|e| {
                                tracing::error!(
                                    source = %appeal.source,
                                    external_id = %appeal.external_id,
                                    error = %e,
                                    "appeal could not be stored"
                                );
                                IntakeError::Storage(e.to_string())
                            }),
                    );
                }
                out
            }
        };
        let mut any_new = false;
        for (submission, result) in group.drain(..).zip(results) {
            if let Ok(accepted) = &result {
                metrics.accepted(submission.appeal.channel, accepted.created);
                any_new |= accepted.created;
            }
            // The caller may have gone away (client disconnected); the appeal is
            // stored regardless, which is the point.
            let _ = submission.reply.send(result);
        }
        if any_new {
            wake.notify_one();
        }
        beat.beat();
    }
}
