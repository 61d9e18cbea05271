//! The overdue sweeper: a background job that marks open tasks past their due
//! time overdue and tells the responsible (a log line, a `task_overdue` feed
//! entry and, with `[mail.smtp]` set, a reminder e-mail), once per task. Colours need no sweep: they are computed on
//! every read from the due times, so a task turns an interest red the moment
//! it is late even between sweeps.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Stage;
use crate::health::{Health, Heartbeat};
use crate::outbox::TaskReminder;
use leadgate_store::{NewFeedEntry, OverdueTask, StorageError};

impl Stage {
    /// One sweep at `now`. The status change and the feed entries commit
    /// together, and the change is one `UPDATE ... WHERE status = 'open'
    /// RETURNING`, so with several instances each task is reported by one.
    pub async fn sweep_overdue(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<OverdueTask>, StorageError> {
        let mut tx = self.store.begin_write().await?;
        let overdue = self.store.mark_overdue(tx.conn(), now).await?;
        let tz = self.settings.calendar.tz();
        let mut responsibles = Vec::with_capacity(overdue.len());
        for task in &overdue {
            let responsible = self
                .store
                .interest_row(tx.conn(), task.interest_id)
                .await?
                .and_then(|interest| interest.responsible);
            self.store
                .add_feed_entry(
                    tx.conn(),
                    &NewFeedEntry {
                        interest_id: task.interest_id,
                        kind: "task_overdue",
                        actor: None,
                        summary: format!(
                            "Задача «{}» просрочена (срок {}, исполнитель {})",
                            task.title,
                            task.due_at.with_timezone(&tz).format("%d.%m.%Y %H:%M"),
                            task.assignee.as_deref().unwrap_or("не назначен")
                        ),
                        data: json!({
                            "task_id": task.id,
                            "assignee": task.assignee,
                            "responsible": responsible,
                            "due_at": task.due_at,
                        }),
                        appeal_id: None,
                    },
                )
                .await?;
            // The e-mail goes out through the durable outbox, committed with
            // the sweep: once per task and due time, never on a rolled-back sweep.
            self.outbox
                .task_overdue(
                    &self.store,
                    tx.conn(),
                    &TaskReminder {
                        task_id: task.id,
                        title: task.title.clone(),
                        due_at: Some(task.due_at),
                        assignee_login: task.assignee.clone().or_else(|| responsible.clone()),
                        interest_id: task.interest_id,
                        client_name: None,
                    },
                )
                .await?;
            responsibles.push(responsible);
        }
        tx.commit().await?;
        // Logged after the commit: a rolled-back sweep reports nothing, and
        // the next one reports the same tasks once.
        for (task, responsible) in overdue.iter().zip(&responsibles) {
            tracing::warn!(
                task_id = task.id,
                interest_id = task.interest_id,
                assignee = task.assignee.as_deref().unwrap_or(""),
                responsible = responsible.as_deref().unwrap_or(""),
                due_at = %task.due_at,
                "task overdue"
            );
        }
        Ok(overdue)
    }
}

/// Starts the sweeper; it stops when `shutdown` fires.
///
/// The sweeper is the supervised part `overdue sweeper`; it beats after
/// every sweep that worked and while waiting for the next, so its allowed
/// silence is the interval on top of `[health] stall_after_ms`.
pub fn spawn_sweeper(
    stage: Arc<Stage>,
    interval: Duration,
    shutdown: CancellationToken,
    health: &Health,
) -> JoinHandle<()> {
    health.supervise(
        "overdue sweeper".into(),
        interval,
        shutdown.clone(),
        move |beat| sweep_loop(stage.clone(), interval, shutdown.clone(), beat),
    )
}

async fn sweep_loop(
    stage: Arc<Stage>,
    interval: Duration,
    shutdown: CancellationToken,
    beat: Heartbeat,
) {
    // The first sweep one interval after start: a restarting fleet does
    // not sweep all at once.
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => break,
        }
        match stage.sweep_overdue(Utc::now()).await {
            Ok(_) => beat.beat(),
            Err(error) => {
                tracing::error!(error = %error, "overdue sweep failed; retrying next interval")
            }
        }
    }
    tracing::info!("overdue sweeper stopped");
}
