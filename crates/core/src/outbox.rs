//! The channels that write to people (mail, messengers), as the pipeline and
//! the overdue sweeper see them. A message is queued inside the caller's
//! transaction, so it exists if and only if the change that caused it commits;
//! the channel delivers it later from its own outbox.

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use leadgate_domain::appeal::{Appeal, AppealStatus};
use leadgate_store::{StorageError, Store};
use sqlx::AnyConnection;

pub type Queued<'a, T> = Pin<Box<dyn Future<Output = Result<T, StorageError>> + Send + 'a>>;

/// What processing made of an appeal, for the acknowledgement and the
/// manager's notification.
#[derive(Debug, Clone, Copy)]
pub struct ProcessedAppeal<'a> {
    pub appeal: &'a Appeal,
    pub status: AppealStatus,
    pub client_id: Option<i64>,
    pub interest_id: Option<i64>,
}

/// An overdue task whose assignee is reminded.
#[derive(Debug, Clone)]
pub struct TaskReminder {
    pub task_id: i64,
    pub title: String,
    pub due_at: Option<DateTime<Utc>>,
    pub assignee_login: Option<String>,
    pub interest_id: i64,
    pub client_name: Option<String>,
}

pub trait Outbox: Send + Sync {
    /// False when nothing would ever be queued, so callers skip the work
    /// around it.
    fn is_enabled(&self) -> bool;

    fn after_processing<'a>(
        &'a self,
        store: &'a Store,
        conn: &'a mut AnyConnection,
        processed: ProcessedAppeal<'a>,
    ) -> Queued<'a, ()>;

    /// True when a reminder was queued.
    fn task_overdue<'a>(
        &'a self,
        store: &'a Store,
        conn: &'a mut AnyConnection,
        task: &'a TaskReminder,
    ) -> Queued<'a, bool>;
}

/// No channel writes to people (no `[mail.smtp]`).
pub struct NoOutbox;

impl Outbox for NoOutbox {
    fn is_enabled(&self) -> bool {
        false
    }

    fn after_processing<'a>(
        &'a self,
        _store: &'a Store,
        _conn: &'a mut AnyConnection,
        _processed: ProcessedAppeal<'a>,
    ) -> Queued<'a, ()> {
        Box::pin(async { Ok(()) })
    }

    fn task_overdue<'a>(
        &'a self,
        _store: &'a Store,
        _conn: &'a mut AnyConnection,
        _task: &'a TaskReminder,
    ) -> Queued<'a, bool> {
        Box::pin(async { Ok(false) })
    }
}
