//! Server-rendered pages under `/ui`: no build step and no JavaScript needed
//! (a small script adds keyboard shortcuts).
//!
//! Shared pieces for every page:
//! - [`session::WebUser`]: extractor for the logged-in user; redirects to the
//!   login page without a session. `user.require(&[Role::...])` refuses other
//!   roles with a 403 page.
//! - [`form::CsrfForm`]: extractor for form posts; checks the hidden `csrf`
//!   field (`user.csrf_field()` writes it) against the session.
//! - [`layout::page`] and [`layout::NAV`]: the frame and the navigation.
//! - [`html::Esc`]: escaping for everything that is not a literal.
//! - [`error::PageError`]: how pages refuse.

mod board;
mod chart;
pub mod error;
pub mod form;
pub mod html;
mod interest;
pub mod layout;
mod login;
mod reports;
mod review;
pub mod session;
pub mod throttle;
mod today;
mod webhooks;

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(login::routes())
        .merge(review::routes())
        .merge(board::routes())
        .merge(webhooks::routes())
        .merge(interest::routes())
        .merge(today::routes())
        .merge(reports::routes())
        .route("/ui/static/{name}", get(static_file))
        .layer(middleware::from_fn(page_headers))
}

/// Pages may only load what we serve, cannot be framed, and are not cached:
/// they carry personal data and a CSRF token.
async fn page_headers(req: axum::extract::Request, next: Next) -> Response {
    let is_static = req.uri().path().starts_with("/ui/static/");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; media-src https: http:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !is_static {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

const STATIC_FILES: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("static/app.css"),
    ),
    (
        "review.js",
        "text/javascript; charset=utf-8",
        include_str!("static/review.js"),
    ),
    (
        "sales.js",
        "text/javascript; charset=utf-8",
        include_str!("static/sales.js"),
    ),
];

async fn static_file(Path(name): Path<String>) -> Response {
    match STATIC_FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            *body,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
