//! Read access to clients and interests.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::AppState;
use leadgate_domain::appeal::{ContactCard, ContactKind};
use leadgate_domain::client::Client;
use leadgate_domain::role::Role;
use leadgate_http::error::{ApiError, Problem};
use leadgate_http::extract::{ApiCaller, PathId};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/clients", get(find_clients))
        .route("/api/v1/clients/{id}", get(get_client))
}

/// A client with its contact persons and every contact point. A manager
/// reads the clients of their own interests, a head the department's; any
/// other id is a 404.
#[utoipa::path(get, path = "/api/v1/clients/{id}", tag = "clients",
    params(("id" = i64, Path)),
    responses((status = 200, body = Client), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn get_client(
    State(state): State<AppState>,
    caller: ApiCaller,
    PathId(id): PathId,
) -> Result<Json<Client>, ApiError> {
    caller.require(&[Role::Operator, Role::Manager, Role::Head])?;
    let visibility = caller.visibility(&state.store, &state.core).await?;
    if !visibility.client(&state.store, id).await? {
        return Err(ApiError::NotFound("client"));
    }
    state
        .store
        .client(id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound("client"))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ClientLookup {
    /// Any spelling of a phone number.
    pub phone: Option<String>,
    pub email: Option<String>,
}

/// Clients that have this phone or email (normalised before the lookup),
/// among those the caller may read.
#[utoipa::path(get, path = "/api/v1/clients", tag = "clients",
    params(ClientLookup),
    responses((status = 200, body = Vec<Client>), (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn find_clients(
    State(state): State<AppState>,
    caller: ApiCaller,
    query: Result<Query<ClientLookup>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<Client>>, ApiError> {
    caller.require(&[Role::Operator, Role::Manager, Role::Head])?;
    let Query(q) = query.map_err(|e| ApiError::bad("(query)", e.body_text()))?;
    let card = ContactCard {
        phones: q.phone.iter().cloned().collect(),
        emails: q.email.iter().cloned().collect(),
        ..ContactCard::default()
    };
    // Without a phone and an email nothing matches (both are optional
    // filters, so this is an answer, not an error).
    if card.phones.is_empty() && card.emails.is_empty() {
        return Ok(Json(Vec::new()));
    }
    let normalized = card.normalize(state.core.region());
    if let Some(bad) = normalized.rejected.first() {
        let field = if bad.field.contains("phone") {
            "phone"
        } else {
            "email"
        };
        return Err(ApiError::unprocessable(field, bad.reason.clone()));
    }
    let keys: Vec<_> = normalized
        .keys
        .into_iter()
        .filter(|k| matches!(k.kind, ContactKind::Phone | ContactKind::Email))
        .collect();
    let found = state.store.clients_with_points(&keys).await?;
    let visibility = caller.visibility(&state.store, &state.core).await?;
    Ok(Json(visibility.clients(&state.store, found).await?))
}
