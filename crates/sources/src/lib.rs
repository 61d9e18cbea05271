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
pub mod webhooks;

use std::collections::BTreeMap;
use std::sync::Arc;

use leadgate_core::health::{Health, Heartbeat};
use leadgate_core::intake::Intake;
use leadgate_core::metrics::Metrics;
use leadgate_core::settings::CoreSettings;
use leadgate_http::settings::ApiToken;
use leadgate_http::HttpState;
use leadgate_store::Store;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The channels' sections of the configuration, each owned by its folder.
#[derive(Debug, Clone, Default)]
pub struct SourcesSettings {
    pub forms: BTreeMap<String, forms::settings::FormSettings>,
    pub telegram: telegram::settings::TelegramSettings,
    pub vk: vk::settings::VkSettings,
    pub mail: mail::settings::MailSettings,
    pub pbx: pbx::settings::PbxSettings,
    pub webhooks: Vec<webhooks::settings::WebhookSettings>,
    pub events: webhooks::settings::EventSettings,
    /// Rate limits and the forms' length caps.
    pub limits: leadgate_http::settings::LimitSettings,
}

impl SourcesSettings {
    /// Every configured `/hooks/*` endpoint as `forms/NAME`, `telegram/NAME`,
    /// `vk/NAME` or `pbx/PROVIDER/NAME`: the keys of the per-endpoint limits.
    pub fn hook_endpoints(&self) -> std::collections::HashSet<String> {
        let pbx = &self.pbx;
        let named = |prefix: &str, names: Vec<&String>| {
            names
                .into_iter()
                .map(|n| format!("{prefix}/{n}"))
                .collect::<Vec<_>>()
        };
        [
            named("forms", self.forms.keys().collect()),
            named("telegram", self.telegram.bots.keys().collect()),
            named("vk", self.vk.communities.keys().collect()),
            named("pbx/mango", pbx.mango.keys().collect()),
            named("pbx/zadarma", pbx.zadarma.keys().collect()),
            named("pbx/megafon", pbx.megafon.keys().collect()),
            named("pbx/generic", pbx.generic.keys().collect()),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// What a source is given, and all it is given: the one way into intake, the
/// store for its cursors, leases and call records, metrics, the sections it
/// reads, and (in [`SourceContext::shutdown`]) the signal to stop.
#[derive(Clone)]
pub struct SourceContext {
    pub intake: Intake,
    pub store: Store,
    pub metrics: Arc<Metrics>,
    pub settings: Arc<SourcesSettings>,
    /// The services' sections (managers, calendar, region).
    pub core: Arc<CoreSettings>,
    /// Bodies past this are refused with 413.
    pub body_limit: usize,
    /// For the API endpoints a source serves (`[api] tokens`).
    pub api_tokens: Arc<Vec<ApiToken>>,
    pub shutdown: CancellationToken,
    /// The heartbeat registry: every long-running task of a source runs
    /// under [`Health::supervise`] and beats.
    pub health: Health,
}

impl HttpState for SourceContext {
    fn body_limit(&self) -> usize {
        self.body_limit
    }
    fn api_tokens(&self) -> &[ApiToken] {
        &self.api_tokens
    }
    fn store(&self) -> &Store {
        &self.store
    }
}

pub trait Source: Send + Sync {
    fn name(&self) -> &str;

    /// Routes for sources that are posted to (forms, webhooks), mounted on the
    /// daemon's HTTP server.
    fn routes(&self) -> Option<axum::Router<SourceContext>> {
        None
    }

    /// Long-running work for sources that fetch (IMAP, long polling); it must
    /// return soon after `ctx.shutdown` fires.
    fn spawn(self: Arc<Self>, _ctx: SourceContext) -> Option<JoinHandle<()>> {
        None
    }
}

/// Runs one long-lived task per item (a polled bot, a community), each a
/// supervised part named by the item's first field, allowed the second's
/// silence on top of `[health] stall_after_ms`; a panicking one is started
/// again. One handle for all, so that shutdown waits for every one; `None`
/// when there is nothing to run.
pub fn spawn_each<T, F, Fut>(
    ctx: SourceContext,
    items: Vec<(String, std::time::Duration, T)>,
    run: F,
) -> Option<JoinHandle<()>>
where
    T: Clone + Send + Sync + 'static,
    F: Fn(SourceContext, T, Heartbeat) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    if items.is_empty() {
        return None;
    }
    let run = Arc::new(run);
    let tasks: Vec<_> = items
        .into_iter()
        .map(|(name, extra, item)| {
            let (ctx, run) = (ctx.clone(), run.clone());
            let stop = ctx.shutdown.clone();
            ctx.health
                .clone()
                .supervise(name, extra, stop, move |beat| {
                    run(ctx.clone(), item.clone(), beat)
                })
        })
        .collect();
    Some(tokio::spawn(async move {
        for task in tasks {
            let _ = task.await;
        }
    }))
}

/// Every source the configuration asks for.
pub fn build(settings: &SourcesSettings) -> Vec<Arc<dyn Source>> {
    vec![
        Arc::new(api::ApiSource),
        Arc::new(forms::FormsSource),
        Arc::new(telegram::TelegramSource::new(settings)),
        Arc::new(vk::VkSource::new(settings)),
        Arc::new(messengers::MessengersSource::new()),
        Arc::new(pbx::webhook::PbxSource),
        Arc::new(mail::MailSource),
        Arc::new(webhooks::WebhooksSource),
    ]
}
