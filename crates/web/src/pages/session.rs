//! Cookie sessions for pages. The cookie holds a random token; the database
//! holds its SHA-256 with the user and a per-session CSRF token, so every
//! instance sharing the database recognises the session and a copy of the
//! database cannot be used to log in.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};

use super::error::PageError;
use crate::settings::WebSettings;
use crate::AppState;
use leadgate_core::users::{random_token, token_digest};
use leadgate_domain::role::Role;
use leadgate_store::{now_ms, StorageError, Store};

pub const SESSION_COOKIE: &str = "lg_session";

/// A cookie's name as sent: with `__Host-` when secure, which makes the
/// browser refuse it unless it came over HTTPS for this host and path `/`, so
/// neither a sibling subdomain nor plain http can plant or overwrite it.
pub fn cookie_name(web: &WebSettings, name: &str) -> String {
    if web.secure_cookies {
        format!("__Host-{name}")
    } else {
        name.to_string()
    }
}

/// The logged-in person behind a page request.
#[derive(Debug, Clone)]
pub struct WebUser {
    pub id: i64,
    pub login: String,
    pub name: String,
    pub role: Role,
    pub department: Option<String>,
    /// Goes into every form as the hidden field `csrf`; see [`super::form::CsrfForm`].
    pub csrf: String,
    pub(crate) session_hash: String,
    /// The person's open tasks past their due time (shown in the header).
    pub overdue_tasks: i64,
}

impl WebUser {
    /// Admins may open everything; others only pages for their role.
    pub fn require(&self, allowed: &[Role]) -> Result<(), PageError> {
        if self.may(allowed) {
            Ok(())
        } else {
            Err(PageError::Forbidden)
        }
    }

    pub fn may(&self, allowed: &[Role]) -> bool {
        self.role == Role::Admin || allowed.contains(&self.role)
    }

    /// The hidden form field that proves a POST came from our page.
    pub fn csrf_field(&self) -> String {
        format!(
            "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
            super::html::Esc(&self.csrf)
        )
    }
}

/// The value of cookie `name` in the request, if present.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value; `max_age` 0 deletes the cookie.
pub fn set_cookie(
    web: &WebSettings,
    name: &str,
    value: &str,
    path: &str,
    same_site: &str,
    max_age: i64,
) -> String {
    let name = cookie_name(web, name);
    let path = if web.secure_cookies { "/" } else { path };
    format!(
        "{name}={value}; Path={path}; HttpOnly; SameSite={same_site}; Max-Age={max_age}{}",
        if web.secure_cookies { "; Secure" } else { "" }
    )
}

/// Opens a session for the user and returns the `Set-Cookie` value.
pub async fn start_session(
    store: &Store,
    web: &WebSettings,
    user_id: i64,
) -> Result<String, StorageError> {
    let token = random_token();
    let csrf = random_token();
    let ttl_ms = i64::from(web.session_hours) * 3_600_000;
    store
        .create_session(&token_digest(&token), user_id, &csrf, now_ms() + ttl_ms)
        .await?;
    Ok(set_cookie(
        web,
        SESSION_COOKIE,
        &token,
        "/ui",
        "Lax",
        ttl_ms / 1000,
    ))
}

/// Ends the session and returns the `Set-Cookie` value that clears the cookie.
pub async fn end_session(
    store: &Store,
    web: &WebSettings,
    user: &WebUser,
) -> Result<String, StorageError> {
    store.delete_session(&user.session_hash).await?;
    Ok(set_cookie(web, SESSION_COOKIE, "", "/ui", "Lax", 0))
}

/// The session's user, if the request carries a live session.
pub async fn current_user(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<WebUser>, StorageError> {
    let Some(token) = cookie(headers, &cookie_name(&state.web, SESSION_COOKIE)) else {
        return Ok(None);
    };
    let hash = token_digest(token);
    let idle_ms = i64::from(state.web.session_idle_minutes.max(1)) * 60_000;
    let Some(s) = state.store.session_user(&hash, idle_ms).await? else {
        return Ok(None);
    };
    let overdue_tasks = match s.role {
        Role::Operator => 0,
        _ => {
            state
                .store
                .overdue_task_count(&s.login, chrono::Utc::now())
                .await?
        }
    };
    Ok(Some(WebUser {
        id: s.user_id,
        login: s.login,
        name: s.display_name,
        role: s.role,
        department: s.department,
        csrf: s.csrf_token,
        session_hash: hash,
        overdue_tasks,
    }))
}

impl FromRequestParts<AppState> for WebUser {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        match current_user(state, &parts.headers).await? {
            Some(user) => Ok(user),
            None => {
                // Come back to the page after logging in; a form post cannot
                // be replayed, so that goes back to the start page.
                let next = if parts.method == Method::GET {
                    parts
                        .uri
                        .path_and_query()
                        .map(|p| p.as_str().to_string())
                        .unwrap_or_else(|| "/ui".into())
                } else {
                    "/ui".into()
                };
                Err(PageError::NotLoggedIn { next })
            }
        }
    }
}
