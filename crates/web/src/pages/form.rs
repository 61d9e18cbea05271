//! Form posts from our pages: the session's user and the decoded form, after
//! the CSRF token in the hidden field `csrf` matched the session's.

use axum::extract::{FromRequest, FromRequestParts, Request};
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use super::error::PageError;
use super::session::WebUser;
use crate::AppState;

pub struct CsrfForm<T> {
    pub user: WebUser,
    pub form: T,
}

/// The value of `name` in an urlencoded body.
pub fn form_value(body: &[u8], name: &str) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Constant-time comparison of a presented token with the expected one.
pub fn tokens_match(presented: &str, expected: &str) -> bool {
    !expected.is_empty() && bool::from(presented.as_bytes().ct_eq(expected.as_bytes()))
}

impl<T: DeserializeOwned> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, PageError> {
        let (mut parts, body) = req.into_parts();
        let user = WebUser::from_request_parts(&mut parts, state).await?;
        let limit = state.body_limit;
        let bytes = axum::body::to_bytes(body, limit)
            .await
            .map_err(|_| PageError::BadRequest("форма слишком большая".into()))?;
        let presented = form_value(&bytes, "csrf").unwrap_or_default();
        if !tokens_match(&presented, &user.csrf) {
            tracing::warn!(login = %user.login, path = %parts.uri.path(), "form refused: CSRF token missing or wrong");
            return Err(PageError::BadCsrf);
        }
        let form = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| PageError::BadRequest(format!("форма: {e}")))?;
        Ok(CsrfForm { user, form })
    }
}
