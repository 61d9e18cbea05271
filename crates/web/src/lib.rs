//! The HTTP server: the JSON API, the pages, health and metrics, with the
//! routes of the sources that are posted to mounted beside them.

pub mod api;
pub mod pages;
pub mod settings;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;

use leadgate_core::intake::Intake;
use leadgate_core::metrics::Metrics;
use leadgate_core::pipeline::Pipeline;
use leadgate_core::settings::CoreSettings;
use leadgate_core::stage::Stage;
use leadgate_http::error;
use leadgate_http::settings::ApiToken;
use leadgate_http::HttpState;
use leadgate_sources::{Source, SourceContext};
use leadgate_store::Store;

use crate::api::{changes, health, records, reports, review, stage};
use crate::settings::WebSettings;

/// What every handler of the API and the pages can reach.
#[derive(Clone)]
pub struct AppState {
    pub core: Arc<CoreSettings>,
    pub web: Arc<WebSettings>,
    pub body_limit: usize,
    pub api_tokens: Arc<Vec<ApiToken>>,
    pub store: Store,
    pub intake: Intake,
    pub metrics: Arc<Metrics>,
    /// Interests' stages, tasks and interactions (API, board, sweeper).
    pub stage: Arc<Stage>,
    /// For actions that continue an appeal's processing (review decisions).
    pub pipeline: Pipeline,
    /// `[[webhooks]]`, for their state (API, admin page, metrics).
    pub webhooks: Arc<Vec<leadgate_sources::webhooks::settings::WebhookSettings>>,
    /// What the managers' pages reach beyond the store: the channels that
    /// answer clients and the PBX APIs that give recordings.
    pub sales: SalesServices,
    /// `[limits]`, and the login throttle built from it.
    pub limits: Arc<leadgate_http::settings::LimitSettings>,
    pub login_throttle: Arc<crate::pages::throttle::LoginThrottle>,
}

/// The channels' settings (to answer a client where they wrote) and the
/// recording links of the PBXes, for the interest card.
#[derive(Clone)]
pub struct SalesServices {
    pub sources: Arc<leadgate_sources::SourcesSettings>,
    pub recordings: Arc<leadgate_sources::pbx::recordings::RecordingLinks>,
}

impl SalesServices {
    pub fn new(sources: Arc<leadgate_sources::SourcesSettings>) -> SalesServices {
        SalesServices {
            recordings: Arc::new(leadgate_sources::pbx::recordings::RecordingLinks::new(
                &sources.pbx,
            )),
            sources,
        }
    }
}

impl HttpState for AppState {
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

/// The daemon's whole HTTP surface; each source's routes get the source's
/// own context, not this state.
pub fn router(state: AppState, sources: &[Arc<dyn Source>], ctx: &SourceContext) -> Router {
    let body_limit = state.body_limit;
    let mut app = Router::new()
        .merge(health::routes())
        .merge(records::routes())
        .merge(stage::routes())
        .merge(review::routes())
        .merge(changes::routes())
        .merge(reports::routes())
        .merge(crate::pages::routes())
        .route("/api/openapi.json", axum::routing::get(openapi_json))
        .with_state(state);
    let hook_limits = Arc::new(leadgate_http::limit::HookLimits::new(
        &ctx.settings.limits,
        ctx.settings.hook_endpoints(),
        ctx.metrics.clone(),
    ));
    for source in sources {
        if let Some(routes) = source.routes() {
            // Only the sources' routes: `/hooks/*` are the unauthenticated ones.
            app = app.merge(routes.with_state(ctx.clone()).layer(
                axum::middleware::from_fn_with_state(
                    hook_limits.clone(),
                    leadgate_http::limit::limit_hooks,
                ),
            ));
        }
    }
    // Bodies are read through `extract::body_bytes`, which enforces the
    // configured limit itself and answers 413 as a problem document.
    app.layer(DefaultBodyLimit::max(body_limit))
        .layer(TraceLayer::new_for_http().make_span_with(
            |req: &axum::http::Request<axum::body::Body>| {
                // The path only: query strings may carry phones and emails.
                tracing::info_span!("http", method = %req.method(), path = %req.uri().path())
            },
        ))
        .fallback(|| async { error::ApiError::NotFound("route") })
}

#[derive(OpenApi)]
#[openapi(
    info(title = "leadgate", description = "Omnichannel lead intake: appeals, clients, interests."),
    paths(
        leadgate_sources::api::post_appeal,
        leadgate_sources::api::get_appeal,
        leadgate_sources::forms::post_form,
        leadgate_sources::messengers::outbox::post_message,
        records::get_client,
        records::find_clients,
        stage::get_interest,
        stage::list_interests,
        stage::post_event,
        stage::transition,
        stage::close_lost,
        stage::decide_loss,
        stage::add_interaction,
        stage::add_task,
        stage::list_tasks,
        stage::complete_task,
        review::get_review_queue,
        review::post_review_decision,
        review::post_merge,
        review::post_merge_undo,
        review::get_audit,
        health::healthz,
        health::readyz,
        health::metrics,
        changes::get_changes,
        changes::list_webhooks,
        changes::replay_webhook,
        reports::get_report,
    ),
    components(schemas(error::Problem, leadgate_domain::event::EventType)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

async fn openapi_json() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}
