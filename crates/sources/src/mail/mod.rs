//! The mail channel. `message` turns one raw message into what the pipeline
//! needs; `imap` reads mailboxes into appeals (one task per mailbox), and
//! `outbox` sends what the pipeline queued (acknowledgements, notifications
//! to managers, task reminders).

mod conn;
mod convert;
pub mod imap;
pub mod message;
pub mod outbox;
pub mod settings;

use std::sync::Arc;

use tokio::task::JoinHandle;

use super::{Source, SourceContext};

pub use outbox::{enqueue_task_reminder, MailOutbox};

/// Every configured mailbox plus the outbox sender.
pub struct MailSource;

impl Source for MailSource {
    fn name(&self) -> &str {
        "mail"
    }

    fn spawn(self: Arc<Self>, ctx: SourceContext) -> Option<JoinHandle<()>> {
        let settings = ctx.settings.clone();
        let mail = &settings.mail;
        if mail.mailboxes.is_empty() && mail.smtp.is_none() {
            return None;
        }
        let rules = Arc::new(mail.rules());
        let mut tasks = Vec::new();
        for mailbox in &mail.mailboxes {
            tasks.push(tokio::spawn(imap::run_mailbox(
                mailbox.clone(),
                ctx.clone(),
                rules.clone(),
            )));
        }
        if mail.smtp.is_some() {
            tasks.push(tokio::spawn(outbox::run_sender(
                ctx.store.clone(),
                settings.clone(),
                ctx.metrics.clone(),
                ctx.shutdown.clone(),
            )));
        }
        Some(tokio::spawn(async move {
            for task in tasks {
                let _ = task.await;
            }
        }))
    }
}
