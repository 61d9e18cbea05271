//! Channel connectors. Each is one folder that does nothing but turn provider
//! traffic into appeals and hand them to intake; everything after that is the
//! shared pipeline.

pub mod api;
pub mod forms;
pub mod mail;
pub mod messengers;
pub mod pbx;
pub mod telegram;
pub mod vk;

use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::http::AppState;

/// What a source is given: the sink (intake, inside `state`) and a shutdown signal.
#[derive(Clone)]
pub struct SourceContext {
    pub state: AppState,
    pub shutdown: CancellationToken,
}

pub trait Source: Send + Sync {
    fn name(&self) -> &str;

    /// Routes for sources that are posted to (forms, webhooks), mounted on the
    /// daemon's HTTP server.
    fn routes(&self) -> Option<axum::Router<AppState>> {
        None
    }

    /// Long-running work for sources that fetch (IMAP, long polling); it must
    /// return soon after `ctx.shutdown` fires.
    fn spawn(self: Arc<Self>, _ctx: SourceContext) -> Option<JoinHandle<()>> {
        None
    }
}

/// Runs one long-lived task per item (a polled bot, a community) under a
/// single handle, so that shutdown waits for all of them; `None` when there is
/// nothing to run.
pub fn spawn_each<T, F, Fut>(ctx: SourceContext, items: Vec<T>, run: F) -> Option<JoinHandle<()>>
where
    T: Send + 'static,
    F: Fn(SourceContext, T) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    if items.is_empty() {
        return None;
    }
    Some(tokio::spawn(async move {
        let tasks: Vec<_> = items
            .into_iter()
            .map(|item| tokio::spawn(run(ctx.clone(), item)))
            .collect();
        for task in tasks {
            let _ = task.await;
        }
    }))
}

/// Every source the configuration asks for.
pub fn build(settings: &crate::settings::Settings) -> Vec<Arc<dyn Source>> {
    vec![
        Arc::new(api::ApiSource),
        Arc::new(forms::FormsSource),
        Arc::new(telegram::TelegramSource::new(settings)),
        Arc::new(vk::VkSource::new(settings)),
        Arc::new(messengers::MessengersSource::new()),
        Arc::new(pbx::webhook::PbxSource),
        Arc::new(mail::MailSource),
    ]
}
