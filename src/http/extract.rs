//! Request extractors whose refusals are problem documents naming the field.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::AppState;
use crate::settings::Role;

/// A JSON body; type errors and unknown fields are reported with their path.
pub struct ValidJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ValidJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|ct| {
                let media = ct
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                media == "application/json" || media.ends_with("+json")
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::UnsupportedMediaType(
                "expected application/json".into(),
            ));
        }
        let bytes = body_bytes(req, state).await?;
        parse_json(&bytes).map(ValidJson)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let field = if path == "." || path.is_empty() {
            None
        } else {
            Some(path)
        };
        let detail = match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                format!("malformed JSON: {inner}")
            }
            _ => inner.to_string(),
        };
        if inner.is_data() {
            ApiError::Unprocessable { field, detail }
        } else {
            ApiError::BadRequest { field, detail }
        }
    })
}

/// The whole body, refused with 413 past the configured limit.
pub async fn body_bytes(req: Request, state: &AppState) -> Result<Bytes, ApiError> {
    let limit = state.settings.server.body_limit_bytes;
    axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge { limit })
}

/// An API caller authenticated by `Authorization: Bearer <token>`.
#[derive(Debug, Clone)]
pub struct ApiCaller {
    pub name: String,
    pub role: Role,
}

impl ApiCaller {
    pub fn require(&self, allowed: &[Role]) -> Result<(), ApiError> {
        if self.role == Role::Admin || allowed.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or(ApiError::Unauthorized)?;
        // Compare against every token, without stopping early, so the time taken
        // says nothing about which token came close.
        let mut found = None;
        for token in &state.settings.api.tokens {
            let equal: bool = token
                .token
                .expose()
                .as_bytes()
                .ct_eq(presented.as_bytes())
                .into();
            if equal && found.is_none() {
                found = Some(ApiCaller {
                    name: token.name.clone(),
                    role: token.role,
                });
            }
        }
        found.ok_or(ApiError::Unauthorized)
    }
}

/// A numeric id from the path; anything else is a 400 problem naming `id`.
pub struct PathId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|e| ApiError::bad("id", e.body_text()))?;
        raw.parse::<i64>()
            .map(PathId)
            .map_err(|_| ApiError::bad("id", format!("`{raw}` is not a numeric id")))
    }
}
