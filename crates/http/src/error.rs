//! The one HTTP error type. Every refusal is an RFC 7807 problem document that
//! names the offending field; internal errors are logged here and never leak.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use leadgate_core::intake::IntakeError;
use leadgate_core::review::ReviewError;
use leadgate_core::stage::StageError;
use leadgate_store::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{detail}")]
    BadRequest {
        field: Option<String>,
        detail: String,
    },
    #[error("{detail}")]
    Unprocessable {
        field: Option<String>,
        detail: String,
    },
    #[error("missing or invalid credentials")]
    Unauthorized,
    #[error("this role may not do that")]
    Forbidden,
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request is fine but the record's state refuses it (already
    /// decided, undone, a finished interest).
    #[error("{detail}")]
    Conflict {
        field: Option<String>,
        detail: String,
    },
    /// What was asked for existed once and is gone for good (a change-feed
    /// cursor past retention).
    #[error("{detail}")]
    Gone {
        field: Option<String>,
        detail: String,
    },
    #[error("the body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("unsupported content type `{0}`")]
    UnsupportedMediaType(String),
    #[error("temporarily unavailable")]
    Unavailable(String),
    /// Over a rate limit; the answer carries `Retry-After`.
    #[error("too many requests; retry after {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("internal error")]
    Internal(String),
}

/// RFC 7807 problem details, with the field that caused the problem.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    pub fn bad(field: impl Into<String>, detail: impl Into<String>) -> Self {
        ApiError::BadRequest {
            field: Some(field.into()),
            detail: detail.into(),
        }
    }

    pub fn unprocessable(field: impl Into<String>, detail: impl Into<String>) -> Self {
        ApiError::Unprocessable {
            field: Some(field.into()),
            detail: detail.into(),
        }
    }

    pub fn gone(field: impl Into<String>, detail: impl Into<String>) -> Self {
        ApiError::Gone {
            field: Some(field.into()),
            detail: detail.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Gone { .. } => StatusCode::GONE,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn slug(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. } => "bad-request",
            ApiError::Unprocessable { .. } => "unprocessable",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden => "forbidden",
            ApiError::NotFound(_) => "not-found",
            ApiError::Conflict { .. } => "conflict",
            ApiError::Gone { .. } => "gone",
            ApiError::PayloadTooLarge { .. } => "payload-too-large",
            ApiError::UnsupportedMediaType(_) => "unsupported-media-type",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::TooManyRequests { .. } => "too-many-requests",
            ApiError::Internal(_) => "internal",
        }
    }

    pub fn problem(&self) -> Problem {
        let status = self.status();
        let field = match self {
            ApiError::BadRequest { field, .. }
            | ApiError::Unprocessable { field, .. }
            | ApiError::Conflict { field, .. }
            | ApiError::Gone { field, .. } => field.clone(),
            _ => None,
        };
        Problem {
            kind: format!("https://leadgate.dev/problems/{}", self.slug()),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: self.to_string(),
            field,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Internal(internal) => tracing::error!(error = %internal, "request failed"),
            ApiError::Unavailable(internal) => {
                tracing::warn!(error = %internal, "request refused: unavailable")
            }
            _ => {}
        }
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        if let ApiError::TooManyRequests { retry_after_secs } = &self {
            return (
                self.status(),
                [
                    (header::CONTENT_TYPE, "application/problem+json".to_string()),
                    (header::RETRY_AFTER, retry_after_secs.to_string()),
                ],
                body,
            )
                .into_response();
        }
        (
            self.status(),
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response()
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound(what) => ApiError::NotFound(what),
            e if e.is_unique_violation() => ApiError::Unprocessable {
                field: None,
                detail: "conflicts with an existing record".into(),
            },
            e if e.is_pool_timeout() => ApiError::Unavailable("database pool timed out".into()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<IntakeError> for ApiError {
    fn from(e: IntakeError) -> Self {
        ApiError::Unavailable(e.to_string())
    }
}

impl From<ReviewError> for ApiError {
    fn from(e: ReviewError) -> Self {
        match e {
            ReviewError::NotFound(what) => ApiError::NotFound(what),
            ReviewError::Conflict(detail) => ApiError::Conflict {
                field: None,
                detail,
            },
            ReviewError::Invalid { field, detail } => ApiError::unprocessable(field, detail),
            ReviewError::Storage(e) => e.into(),
        }
    }
}

impl From<StageError> for ApiError {
    fn from(error: StageError) -> Self {
        match error {
            StageError::NotFound(what) => ApiError::NotFound(what),
            StageError::Forbidden => ApiError::Forbidden,
            StageError::Refused { field, detail } => ApiError::Unprocessable {
                field: field.map(str::to_owned),
                detail,
            },
            StageError::Conflict { field, detail } => ApiError::Conflict {
                field: field.map(str::to_owned),
                detail,
            },
            StageError::Storage(storage) => storage.into(),
        }
    }
}
