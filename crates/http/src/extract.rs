//! Request extractors whose refusals are problem documents naming the field.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::HttpState;
use leadgate_domain::role::Role;

/// A JSON body; type errors and unknown fields are reported with their path.
pub struct ValidJson<T>(pub T);

impl<S: HttpState, T: DeserializeOwned> FromRequest<S> for ValidJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
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

/// Parses a JSON body. NUL characters (`\u0000`, the only way JSON can carry
/// one) are dropped first: PostgreSQL refuses them in text, and no person
/// typed one, so every API, form and messenger field is stored without.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let cleaned = without_nul_escapes(bytes);
    let bytes: &[u8] = cleaned.as_deref().unwrap_or(bytes);
    // JSON does not tell `5` from `5.0` (JSON Schema's `integer` accepts
    // both), and some senders write the latter: whole numbers are read as
    // integers. Anything that does not parse is reported by the typed pass.
    if let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(bytes) {
        if whole_floats_to_integers(&mut value) {
            if let Ok(bytes) = serde_json::to_vec(&value) {
                return typed(&bytes);
            }
        }
    }
    typed(bytes)
}

/// Rewrites floats without a fraction (and exactly representable) as
/// integers; true when it changed anything.
fn whole_floats_to_integers(value: &mut serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::Number(n) if n.is_f64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => {
                *value = Value::from(f as i64);
                true
            }
            _ => false,
        },
        Value::Array(items) => {
            let mut changed = false;
            for item in items {
                changed |= whole_floats_to_integers(item);
            }
            changed
        }
        Value::Object(map) => {
            let mut changed = false;
            for item in map.values_mut() {
                changed |= whole_floats_to_integers(item);
            }
            changed
        }
        _ => false,
    }
}

fn typed<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
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

/// `bytes` without its `\u0000` escapes, or None when it has none. Every
/// backslash in JSON starts an escape, so stepping over escapes two bytes at a
/// time never mistakes an escaped backslash followed by `u0000` for a NUL.
fn without_nul_escapes(bytes: &[u8]) -> Option<Vec<u8>> {
    const NUL: &[u8] = b"\\u0000";
    if !bytes.windows(NUL.len()).any(|w| w == NUL) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            if bytes[i..].starts_with(NUL) {
                i += NUL.len();
            } else {
                out.extend_from_slice(&bytes[i..(i + 2).min(bytes.len())]);
                i += 2;
            }
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod nul_tests {
    use super::*;

    #[test]
    fn nul_escapes_go_and_escaped_backslashes_stay() {
        let v: serde_json::Value = parse_json(br#"{"a":"x\u0000y","b":"\\u0000"}"#).unwrap();
        assert_eq!(v["a"], "xy");
        assert_eq!(v["b"], "\\u0000");
    }
}

/// The whole body, refused with 413 past the configured limit.
pub async fn body_bytes(req: Request, state: &impl HttpState) -> Result<Bytes, ApiError> {
    let limit = state.body_limit();
    axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge { limit })
}

/// An API caller authenticated by `Authorization: Bearer <token>`: a token from
/// `[api] tokens`, or a personal token of a user (`leadgate user token`).
#[derive(Debug, Clone)]
pub struct ApiCaller {
    pub name: String,
    pub role: Role,
    /// The user behind a personal token; `None` for configured tokens.
    pub login: Option<String>,
    pub department: Option<String>,
}

impl ApiCaller {
    /// Who did it, for audit records: the user's login, or `token:<name>`.
    pub fn actor(&self) -> String {
        match &self.login {
            Some(login) => login.clone(),
            None => format!("token:{}", self.name),
        }
    }

    /// The login the caller acts as: a personal token's user, or a
    /// configured token whose name is the login.
    pub fn acting_login(&self) -> &str {
        self.login.as_deref().unwrap_or(&self.name)
    }

    /// What the caller may read of clients and appeals.
    pub async fn visibility(
        &self,
        store: &leadgate_store::Store,
        settings: &leadgate_core::settings::CoreSettings,
    ) -> Result<leadgate_core::scope::Visibility, ApiError> {
        Ok(leadgate_core::scope::Visibility::of(
            store,
            settings,
            self.acting_login(),
            self.role,
            self.department.as_deref(),
        )
        .await?)
    }

    pub fn require(&self, allowed: &[Role]) -> Result<(), ApiError> {
        if self.role == Role::Admin || allowed.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

impl<S: HttpState> FromRequestParts<S> for ApiCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
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
        for token in state.api_tokens() {
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
                    login: None,
                    department: None,
                });
            }
        }
        if let Some(caller) = found {
            return Ok(caller);
        }
        // Personal tokens are looked up by their digest, so no comparison of
        // the secret itself happens in the database.
        let user = leadgate_core::users::user_for_token(state.store(), presented)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        Ok(ApiCaller {
            name: user.login.clone(),
            role: user.role,
            login: Some(user.login),
            department: user.department,
        })
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
