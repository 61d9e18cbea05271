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
        let health = ctx.health.clone();
        for mailbox in &mail.mailboxes {
            let (mailbox, ctx, rules) = (mailbox.clone(), ctx.clone(), rules.clone());
            let stop = ctx.shutdown.clone();
            // One IMAP command may take its whole timeout.
            tasks.push(health.supervise(
                mailbox.source(),
                imap::COMMAND_TIMEOUT,
                stop,
                move |beat| imap::run_mailbox(mailbox.clone(), ctx.clone(), rules.clone(), beat),
            ));
        }
        if mail.smtp.is_some() {
            let (store, metrics, stop) =
                (ctx.store.clone(), ctx.metrics.clone(), ctx.shutdown.clone());
            let settings = settings.clone();
            tasks.push(health.supervise(
                "mail outbox".into(),
                outbox::SEND_TIMEOUT,
                stop.clone(),
                move |beat| {
                    outbox::run_sender(
                        store.clone(),
                        settings.clone(),
                        metrics.clone(),
                        stop.clone(),
                        beat,
                    )
                },
            ));
        }
        Some(tokio::spawn(async move {
            for task in tasks {
                let _ = task.await;
            }
        }))
    }
}
