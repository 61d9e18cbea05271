//! The HTTP server: the API, the sources' endpoints, health and metrics.

pub mod error;
pub mod extract;
mod health;
mod records;
mod review;
pub(crate) mod stage;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;

use crate::intake::Intake;
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::settings::Settings;
use crate::sources::Source;
use crate::stage::Stage;
use crate::storage::Store;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub intake: Intake,
    pub metrics: Arc<Metrics>,
    /// Interests' stages, tasks and interactions (API, board, sweeper).
    pub stage: Arc<Stage>,
    /// For actions that continue an appeal's processing (review decisions).
    pub pipeline: Pipeline,
}

pub fn router(state: AppState, sources: &[Arc<dyn Source>]) -> Router {
    let mut app = Router::new()
        .merge(health::routes())
        .merge(records::routes())
        .merge(stage::routes())
        .merge(review::routes())
        .merge(crate::web::routes())
        .route("/api/openapi.json", axum::routing::get(openapi_json));
    for source in sources {
        if let Some(routes) = source.routes() {
            app = app.merge(routes);
        }
    }
    // Bodies are read through `extract::body_bytes`, which enforces the
    // configured limit itself and answers 413 as a problem document.
    app.layer(DefaultBodyLimit::max(
        state.settings.server.body_limit_bytes,
    ))
    .layer(TraceLayer::new_for_http().make_span_with(
        |req: &axum::http::Request<axum::body::Body>| {
            // The path only: query strings may carry phones and emails.
            tracing::info_span!("http", method = %req.method(), path = %req.uri().path())
        },
    ))
    .fallback(|| async { error::ApiError::NotFound("route") })
    .with_state(state)
}

#[derive(OpenApi)]
#[openapi(
    info(title = "leadgate", description = "Omnichannel lead intake: appeals, clients, interests."),
    paths(
        crate::sources::api::post_appeal,
        crate::sources::api::get_appeal,
        crate::sources::forms::post_form,
        crate::sources::messengers::outbox::post_message,
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
    ),
    components(schemas(error::Problem)),
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
