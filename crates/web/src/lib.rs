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
    /// Who may read `/metrics` and `/readyz` details.
    pub operations: Arc<settings::OperationsSettings>,
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
    /// Which parts of the daemon are alive, for `/readyz`.
    pub health: leadgate_core::health::Health,
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
                // The path only: query strings may carry phones and emails;
                // and path segments that carry a secret are blanked.
                tracing::info_span!("http", method = %req.method(), path = %redacted_path(req.uri().path()))
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
        health::dead_letters,
        health::replay_dead_letter,
        health::metrics,
        changes::get_changes,
        changes::list_webhooks,
        changes::replay_webhook,
        reports::get_report,
    ),
    components(schemas(error::Problem, leadgate_domain::event::EventType)),
    modifiers(&BearerAuth, &ProblemResponses)
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

/// Every refusal an endpoint can give, documented as a problem document: the
/// extractors and the error type answer the same codes everywhere (a bad id or
/// query 400, no token 401, a role 403, an unknown or out-of-scope id 404, a
/// large body 413, a wrong content type 415, a bad field 422, an overloaded
/// database 503), so they are added to each operation that does not name them.
struct ProblemResponses;

impl utoipa::Modify for ProblemResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let problem = |reason: &str| {
            ResponseBuilder::new()
                .description(reason)
                .content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build()
        };
        let mut closed = Vec::new();
        for (path, item) in openapi.paths.paths.iter_mut() {
            let api = path.starts_with("/api/v1/");
            let hook = path.starts_with("/hooks/");
            if !api && !hook {
                continue;
            }
            for (operation, takes_body) in [(&mut item.get, false), (&mut item.post, true)] {
                let Some(operation) = operation else { continue };
                let mut codes: Vec<(&str, &str)> = vec![
                    ("400", "Malformed request: a path id, query or body that does not parse; `field` names it"),
                    ("404", "No such record, or one outside the caller's scope"),
                    ("422", "A field is invalid; `field` names it"),
                    ("503", "Temporarily unavailable (database busy)"),
                ];
                if api {
                    codes.push(("401", "Missing or wrong token"));
                    codes.push(("403", "The caller's role may not do this"));
                }
                if hook {
                    codes.push(("401", "Wrong or missing signature, secret or token"));
                    codes.push(("405", "Method not allowed for this provider"));
                    codes.push(("429", "Too many requests from this address"));
                }
                if takes_body || hook {
                    codes.push(("413", "The body is larger than server.body_limit_bytes"));
                    codes.push(("415", "Unsupported content type"));
                }
                for (code, reason) in codes {
                    operation
                        .responses
                        .responses
                        .entry(code.to_owned())
                        .or_insert_with(|| problem(reason).into());
                }
                if let Some(body) = &operation.request_body {
                    for content in body.content.values() {
                        if let Some(utoipa::openapi::RefOr::Ref(r)) = &content.schema {
                            if let Some(name) = r.ref_location.rsplit('/').next() {
                                closed.push(name.to_owned());
                            }
                        }
                    }
                }
            }
        }
        // Request bodies refuse unknown fields (`deny_unknown_fields`): say so.
        if let Some(components) = openapi.components.as_mut() {
            for name in closed {
                if let Some(schema) = components.schemas.get_mut(&name) {
                    close(schema);
                }
            }
        }
    }
}

fn close(schema: &mut utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>) {
    use utoipa::openapi::schema::{AdditionalProperties, Schema};
    use utoipa::openapi::RefOr;
    match schema {
        RefOr::T(Schema::Object(object)) => {
            object.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
        }
        RefOr::T(Schema::OneOf(one_of)) => one_of.items.iter_mut().for_each(close),
        _ => {}
    }
}

async fn openapi_json() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}

/// The request path as logged. A generic PBX may carry its shared token in
/// the path (`/hooks/pbx/generic/<account>/<token>`): the tail after a
/// generic account is never logged. (Mango's tails, `events/call`, name the
/// event and stay.)
pub fn redacted_path(path: &str) -> std::borrow::Cow<'_, str> {
    let Some(rest) = path.strip_prefix("/hooks/pbx/") else {
        return std::borrow::Cow::Borrowed(path);
    };
    let mut parts = rest.splitn(3, '/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(provider @ "generic"), Some(account), Some(tail)) if !tail.is_empty() => {
            std::borrow::Cow::Owned(format!("/hooks/pbx/{provider}/{account}/<redacted>"))
        }
        _ => std::borrow::Cow::Borrowed(path),
    }
}

#[cfg(test)]
mod tests {
    use super::redacted_path;

    #[test]
    fn a_token_in_a_pbx_path_is_not_logged() {
        assert_eq!(
            redacted_path("/hooks/pbx/generic/zammad/s3cr3t-token"),
            "/hooks/pbx/generic/zammad/<redacted>"
        );
        assert_eq!(
            redacted_path("/hooks/pbx/generic/zammad/a/b"),
            "/hooks/pbx/generic/zammad/<redacted>"
        );
        for kept in [
            "/hooks/pbx/mango/main/events/call",
            "/hooks/pbx/zadarma/main",
            "/hooks/pbx/zadarma/main/",
            "/hooks/forms/site",
            "/api/v1/clients/5",
        ] {
            assert_eq!(redacted_path(kept), kept);
        }
    }
}
