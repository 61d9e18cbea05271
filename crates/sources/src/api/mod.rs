//! The JSON API: other systems post appeals directly.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::schema::{
    AllOfBuilder, AnyOfBuilder, ArrayBuilder, ObjectBuilder, Ref, Schema, Type,
};
use utoipa::ToSchema;

use super::Source;
use crate::SourceContext;
use leadgate_domain::appeal::{
    strip_internal_attributes, AppealStatus, AttachmentMeta, Channel, ContactCard, Intent,
    NewAppeal, API_SOURCE_PREFIX,
};
pub use leadgate_domain::appeal::{AppealView, DecisionView};
use leadgate_domain::contact::Inn;
use leadgate_domain::role::Role;
use leadgate_http::error::{ApiError, Problem};
use leadgate_http::extract::{ApiCaller, PathId, ValidJson};

pub struct ApiSource;

impl Source for ApiSource {
    fn name(&self) -> &str {
        "api"
    }

    fn routes(&self) -> Option<axum::Router<SourceContext>> {
        Some(
            axum::Router::new()
                .route("/api/v1/appeals", post(post_appeal))
                .route("/api/v1/appeals/{id}", get(get_appeal)),
        )
    }
}

const MAX_KEY_LEN: usize = 256;

/// The card, plus the rule `post_appeal` enforces: a name, a company or a
/// contact point (`ContactCard::is_empty`). Spelled out in the document so
/// that a client generated from it cannot send a card we refuse.
fn reachable_contact() -> Schema {
    let text = || {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("\\S"))
    };
    let filled = |field: &str| ObjectBuilder::new().property(field, text()).required(field);
    // utoipa has no builder for the `contains` keyword (JSON Schema 2020-12,
    // which OpenAPI 3.1 uses); its extensions are written out as they are.
    let listed = |field: &str| {
        let mut contains = Extensions::default();
        contains.insert(
            "contains".to_owned(),
            serde_json::json!({"type": "string", "pattern": "\\S"}),
        );
        let list = ArrayBuilder::new()
            .items(ObjectBuilder::new().schema_type(Type::String))
            .extensions(Some(contains));
        ObjectBuilder::new().property(field, list).required(field)
    };
    let messenger = |key: &str, handle: &str| {
        let known = AnyOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .property("id", ObjectBuilder::new().schema_type(Type::Integer))
                    .required("id"),
            )
            .item(filled(handle));
        ObjectBuilder::new().property(key, known).required(key)
    };
    AllOfBuilder::new()
        .item(Ref::from_schema_name("ContactCard"))
        .item(
            AnyOfBuilder::new()
                .item(filled("name"))
                .item(filled("company"))
                .item(listed("phones"))
                .item(listed("emails"))
                .item(messenger("telegram", "username"))
                .item(messenger("vk", "screen_name")),
        )
        .into()
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppealRequest {
    /// Which system sent it; with `external_id`, the idempotency key. Stored
    /// as `api:<source>`: the API's keys never collide with a channel's.
    #[schema(min_length = 1, max_length = 256, pattern = "\\S")]
    pub source: String,
    #[schema(min_length = 1, max_length = 256, pattern = "\\S")]
    pub external_id: String,
    #[serde(default)]
    pub received_at: Option<DateTime<Utc>>,
    #[schema(schema_with = reachable_contact)]
    pub contact: ContactCard,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub attachments: Vec<AttachmentMeta>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AcceptedResponse {
    pub id: i64,
    pub status: AppealStatus,
}

pub(crate) fn check_key(field: &str, value: &str) -> Result<(), ApiError> {
    if value.trim().is_empty() {
        return Err(ApiError::unprocessable(field, "must not be empty"));
    }
    if value.chars().count() > MAX_KEY_LEN {
        return Err(ApiError::unprocessable(
            field,
            format!("must be at most {MAX_KEY_LEN} characters"),
        ));
    }
    Ok(())
}

/// Accept an appeal. It is committed before this answers; processing follows.
#[utoipa::path(
    post, path = "/api/v1/appeals", tag = "appeals",
    request_body = AppealRequest,
    responses(
        (status = 202, description = "Stored; processing follows", body = AcceptedResponse),
        (status = 200, description = "Already stored under this (source, external_id)", body = AcceptedResponse),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid; `field` names it", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn post_appeal(
    State(state): State<SourceContext>,
    caller: ApiCaller,
    ValidJson(req): ValidJson<AppealRequest>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require(&[Role::Operator, Role::Manager, Role::Head])?;
    check_key("source", &req.source)?;
    check_key("external_id", &req.external_id)?;
    if req.contact.is_empty() {
        return Err(ApiError::unprocessable(
            "contact",
            "needs a name or at least one contact point",
        ));
    }
    if let Some(i) = req
        .attachments
        .iter()
        .position(|a| i64::try_from(a.size).is_err())
    {
        return Err(ApiError::unprocessable(
            format!("attachments[{i}].size"),
            "must be at most 9223372036854775807",
        ));
    }
    // A system that sends an ИНН can be told it is wrong, unlike a person
    // filling in a form.
    if let Some(raw) = req.contact.inn.as_deref().filter(|i| !i.trim().is_empty()) {
        Inn::parse(raw).map_err(|e| ApiError::unprocessable("contact.inn", e.to_string()))?;
    }
    let raw = serde_json::json!({
        "source": req.source, "external_id": req.external_id, "received_at": req.received_at,
        "contact": req.contact, "subject": req.subject, "text": req.text,
        "attachments": req.attachments, "attributes": req.attributes,
    });
    // The raw payload keeps what was sent; the appeal does not.
    let mut attributes = req.attributes;
    let stripped = strip_internal_attributes(&mut attributes);
    if !stripped.is_empty() {
        tracing::info!(caller = %caller.name, keys = ?stripped, "internal attributes stripped from an API appeal");
    }

    let appeal = NewAppeal {
        channel: Channel::Api,
        source: format!("{API_SOURCE_PREFIX}{}", req.source.trim()),
        external_id: req.external_id.trim().to_string(),
        received_at: req.received_at.unwrap_or_else(Utc::now),
        contact: req.contact,
        subject: req.subject,
        text: req.text,
        attachments: req.attachments,
        attributes,
        raw_payload: raw.to_string(),
        intent: Intent::Lead,
    };
    let accepted = state.intake.submit(appeal).await?;
    let code = if accepted.created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((
        code,
        Json(AcceptedResponse {
            id: accepted.id,
            status: accepted.status,
        }),
    ))
}

/// An appeal with what the pipeline decided. Managers and heads read the
/// appeals of interests in their scope, operators those the review queue
/// deals with; any other id is a 404.
#[utoipa::path(
    get, path = "/api/v1/appeals/{id}", tag = "appeals",
    params(("id" = i64, Path, description = "Appeal id")),
    responses(
        (status = 200, body = AppealView),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_appeal(
    State(state): State<SourceContext>,
    caller: ApiCaller,
    PathId(id): PathId,
) -> Result<Json<AppealView>, ApiError> {
    caller.require(&[Role::Operator, Role::Manager, Role::Head])?;
    let visibility = caller.visibility(&state.store, &state.core).await?;
    if !visibility.appeal(&state.store, id).await? {
        return Err(ApiError::NotFound("appeal"));
    }
    let appeal = state
        .store
        .appeal(id)
        .await?
        .ok_or(ApiError::NotFound("appeal"))?;
    Ok(Json(AppealView::from(appeal)))
}
