//! `/hooks/pbx/{provider}/{name}[/{*rest}]`: the cloud PBXes' webhooks.
//!
//! The provider's `handle` verifies and parses; this module stores what it
//! returns before answering, and answers the way the provider expects.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::task::JoinHandle;

use super::{megafon, PbxError, Provider, ProviderReply, WebhookRequest};
use crate::{Source, SourceContext};
use leadgate_domain::appeal::{ContactKey, ContactKind};
use leadgate_domain::contact::Phone;
use leadgate_http::error::{ApiError, Problem};
use leadgate_http::extract::body_bytes;

pub struct PbxSource;

impl Source for PbxSource {
    fn name(&self) -> &str {
        "pbx"
    }

    fn routes(&self) -> Option<axum::Router<SourceContext>> {
        Some(
            axum::Router::new()
                .route("/hooks/pbx/{provider}/{name}", get(hook).post(hook))
                .route(
                    "/hooks/pbx/{provider}/{name}/{*rest}",
                    get(hook_rest).post(hook_rest),
                ),
        )
    }

    /// Settles calls whose PBX never says the whole call is over.
    fn spawn(self: Arc<Self>, ctx: SourceContext) -> Option<JoinHandle<()>> {
        if ctx.settings.pbx.is_empty() {
            return None;
        }
        let period = Duration::from_secs((ctx.settings.pbx.settle_secs / 4).clamp(1, 30));
        let health = ctx.health.clone();
        let stop = ctx.shutdown.clone();
        Some(health.supervise("call settler".into(), period, stop, move |beat| {
            let ctx = ctx.clone();
            async move {
                loop {
                    if beat.sleep_or_stop(&ctx.shutdown, period).await {
                        break;
                    }
                    match super::receive::settle_quiet_calls(&ctx).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(calls = n, "settled calls that had no call-level end"),
                        Err(e) => tracing::warn!(error = %e, "settling quiet calls failed; will retry"),
                    }
                }
            }
        }))
    }
}

async fn hook(
    State(state): State<SourceContext>,
    Path((provider, name)): Path<(String, String)>,
    request: Request,
) -> Response {
    dispatch(state, provider, name, String::new(), request).await
}

async fn hook_rest(
    State(state): State<SourceContext>,
    Path((provider, name, rest)): Path<(String, String, String)>,
    request: Request,
) -> Response {
    dispatch(state, provider, name, rest, request).await
}

/// The provider dialect of the configured account a URL names.
fn find_account<'a>(
    state: &'a SourceContext,
    provider: &str,
    name: &str,
) -> Option<&'a dyn Provider> {
    let pbx = &state.settings.pbx;
    match provider {
        "mango" => pbx.mango.get(name).map(|a| &a.config as &dyn Provider),
        "zadarma" => pbx.zadarma.get(name).map(|a| &a.config as &dyn Provider),
        "megafon" => pbx.megafon.get(name).map(|a| &a.config as &dyn Provider),
        "generic" => pbx.generic.get(name).map(|a| &a.config as &dyn Provider),
        _ => None,
    }
}

async fn dispatch(
    state: SourceContext,
    provider: String,
    name: String,
    rest: String,
    request: Request,
) -> Response {
    let Some(account) = find_account(&state, &provider, &name) else {
        // Debug, not warn: anyone can post random names, and each must cost
        // neither a log line at the default level nor a metric series.
        state.metrics.unknown_endpoint("unknown_account");
        tracing::debug!(
            provider = %leadgate_http::truncated(&provider),
            name = %leadgate_http::truncated(&name),
            "webhook for a PBX account that is not configured"
        );
        return ApiError::NotFound("PBX account").into_response();
    };
    let endpoint = format!("pbx:{provider}:{name}");
    let method = request.method().clone();
    let uri = request.uri().clone();
    let headers = request.headers().clone();
    let body = match body_bytes(request, &state).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    match respond(
        &state, &endpoint, account, &method, &uri, &headers, &rest, &body,
    )
    .await
    {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

#[allow(clippy::too_many_arguments)]
async fn respond(
    state: &SourceContext,
    endpoint: &str,
    account: &dyn Provider,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    rest: &str,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let header_list: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let req = WebhookRequest {
        method: method.as_str(),
        sub_path: rest,
        query: uri.query().unwrap_or(""),
        headers: &header_list,
        content_type: headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        body,
    };
    let (provider, account_label) = (account.provider(), account.account());
    let handled = account.handle(&req);
    let reply = match handled {
        Ok(reply) => reply,
        Err(e) => return refusal(state, endpoint, e).await,
    };
    match reply {
        ProviderReply::ContactLookup { phone, callid: _ } => {
            let (content_type, body) =
                contact_lookup(state, provider, account_label, &phone).await?;
            Ok(([(header::CONTENT_TYPE, content_type)], body).into_response())
        }
        ProviderReply::Respond {
            status,
            content_type,
            body,
            events,
        } => {
            // Stored before we answer: the PBX deletes what we acknowledge.
            let receipt = super::receive::receive(state, &events).await?;
            tracing::debug!(
                endpoint,
                stored = receipt.stored,
                duplicates = receipt.duplicates,
                appeals = receipt.appeals.len(),
                "PBX webhook stored"
            );
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            Ok((status, [(header::CONTENT_TYPE, content_type)], body).into_response())
        }
    }
}

/// A provider refusal as an HTTP answer. Unknown (but well-formed) events are
/// kept and acknowledged; everything else stores nothing.
async fn refusal(state: &SourceContext, endpoint: &str, e: PbxError) -> Result<Response, ApiError> {
    match e {
        PbxError::Unauthorized { reason } => {
            state.metrics.rejected(endpoint, "bad_signature");
            tracing::warn!(endpoint, reason, "PBX webhook refused: not authenticated");
            Err(ApiError::Unauthorized)
        }
        PbxError::BadRequest { field, reason } => {
            state.metrics.rejected(endpoint, "bad_request");
            tracing::warn!(endpoint, field = %field, "PBX webhook refused: {reason}");
            Err(ApiError::bad(field, reason))
        }
        PbxError::Unsupported {
            provider,
            event,
            verified,
            raw,
        } if verified => {
            state
                .store
                .insert_unsupported_pbx_event(&provider, endpoint, &event, verified, &raw)
                .await?;
            state.metrics.pbx_event(&provider, "unsupported");
            tracing::info!(endpoint, event = %event, verified, "PBX event kept but not interpreted");
            Ok((
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "",
            )
                .into_response())
        }
        PbxError::Unsupported {
            provider, event, ..
        } => {
            // Nobody vouches for an unsigned event (Zadarma's SMS): keeping it
            // would let anyone write rows, so it is only counted.
            state.metrics.pbx_event(&provider, "unverified");
            tracing::debug!(endpoint, event = %leadgate_http::truncated(&event), "unverifiable PBX event counted, not kept");
            Ok((
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "",
            )
                .into_response())
        }
        PbxError::NotFound { path } => {
            state.metrics.rejected(endpoint, "unknown_path");
            tracing::warn!(endpoint, path = %path, "PBX webhook to an unknown path");
            Err(ApiError::NotFound("PBX endpoint"))
        }
        PbxError::MethodNotAllowed { method } => {
            state.metrics.rejected(endpoint, "method");
            let problem = Problem {
                kind: "https://leadgate.dev/problems/method-not-allowed".into(),
                title: "Method Not Allowed".into(),
                status: 405,
                detail: format!("method {method} is not accepted here"),
                field: None,
            };
            Ok((
                StatusCode::METHOD_NOT_ALLOWED,
                [(header::CONTENT_TYPE, "application/problem+json")],
                serde_json::to_vec(&problem).unwrap_or_default(),
            )
                .into_response())
        }
    }
}

/// MegaFon asks who is calling: the one client with this number, and the PBX
/// user of its responsible manager. Several clients sharing the number get
/// `{}`: routing a call on a guess is worse than the PBX's own queue.
async fn contact_lookup(
    state: &SourceContext,
    provider: &str,
    account_label: &str,
    phone: &str,
) -> Result<(&'static str, String), ApiError> {
    let parsed = Phone::parse(phone, state.core.region())
        .ok()
        .filter(|_| !super::is_hidden_number(phone));
    let Some(parsed) = parsed else {
        return Ok(megafon::contact_response(None, None));
    };
    let key = ContactKey {
        kind: ContactKind::Phone,
        value: parsed.e164().to_string(),
        raw: phone.to_string(),
    };
    let clients = state.store.clients_with_points(&[key]).await?;
    let [client] = clients.as_slice() else {
        return Ok(megafon::contact_response(None, None));
    };
    let pbx_user = client.responsible.as_deref().and_then(|login| {
        state
            .settings
            .pbx
            .pbx_user_of(&state.core.managers, provider, account_label, login)
    });
    Ok(megafon::contact_response(
        Some(&client.name),
        pbx_user.as_deref(),
    ))
}
