//! Logging in and out, and the start page.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Extension, Form, Router};
use serde::Deserialize;

use super::error::PageError;
use super::form::{tokens_match, CsrfForm};
use super::html::Esc;
use super::layout::{self, nav_for, role_name};
use super::session::{self, cookie, set_cookie, WebUser};
use crate::AppState;
use leadgate_core::users::random_token;

/// Before there is a session, the login form is protected by a token that is
/// both in a cookie and in the form (double submit): another site can make a
/// browser post the form, but cannot read or set the cookie.
const LOGIN_COOKIE: &str = "lg_login";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui", get(home))
        .route("/ui/", get(home))
        .route("/ui/login", get(login_page).post(login))
        .route("/ui/logout", axum::routing::post(logout))
}

/// Only our own pages are followed after login, never another site.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if (n == "/ui" || n.starts_with("/ui/") || n.starts_with("/ui?"))
                && !n.contains("//")
                && !n.contains('\\') =>
        {
            n
        }
        _ => "/ui",
    }
}

#[derive(Debug, Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

fn login_form(state: &AppState, next: &str, problem: Option<&str>, status: StatusCode) -> Response {
    let token = random_token();
    let problem = problem
        .map(|p| format!("<p class=\"error\" role=\"alert\">{}</p>", Esc(p)))
        .unwrap_or_default();
    let body = format!(
        "<form class=\"login\" method=\"post\" action=\"/ui/login\">\
         <h1>Вход</h1>{problem}\
         <input type=\"hidden\" name=\"csrf\" value=\"{token}\">\
         <input type=\"hidden\" name=\"next\" value=\"{}\">\
         <label for=\"login\">Логин</label>\
         <input id=\"login\" name=\"login\" autocomplete=\"username\" required autofocus>\
         <label for=\"password\">Пароль</label>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
         <button class=\"primary\" type=\"submit\">Войти</button></form>",
        Esc(next)
    );
    let cookie = set_cookie(
        &state.web,
        LOGIN_COOKIE,
        &token,
        "/ui/login",
        "Strict",
        3600,
    );
    (
        status,
        [(header::SET_COOKIE, cookie)],
        layout::page("Вход", None, &body),
    )
        .into_response()
}

async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Result<Response, PageError> {
    let next = safe_next(q.next.as_deref()).to_string();
    if session::current_user(&state, &headers).await?.is_some() {
        return Ok(Redirect::to(&next).into_response());
    }
    Ok(login_form(&state, &next, None, StatusCode::OK))
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    csrf: String,
}

async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    let ip = leadgate_http::limit::client_ip(
        &headers,
        peer.as_ref().map(|Extension(c)| c),
        Some(state.limits.client_ip_header.as_str()),
    );
    let next = safe_next(form.next.as_deref()).to_string();
    let expected =
        cookie(&headers, &session::cookie_name(&state.web, LOGIN_COOKIE)).unwrap_or_default();
    if !tokens_match(&form.csrf, expected) {
        return Ok(login_form(
            &state,
            &next,
            Some("Форма входа устарела. Попробуйте ещё раз."),
            StatusCode::FORBIDDEN,
        ));
    }
    let throttle = &state.login_throttle;
    if let Some(wait) = throttle.wait(&form.login, ip) {
        state.metrics.rejected("login", "throttled");
        tracing::warn!(login = %leadgate_http::truncated(form.login.trim()), "login refused: too many failures");
        let secs = leadgate_http::limit::retry_after_secs(wait);
        let mut resp = login_form(
            &state,
            &next,
            Some(&format!(
                "Слишком много неудачных попыток входа. Попробуйте снова через {secs} с."
            )),
            StatusCode::TOO_MANY_REQUESTS,
        );
        if let Ok(v) = secs.to_string().parse() {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Ok(resp);
    }
    let authenticated = {
        // Each hash holds ~19 MiB and a core for tens of milliseconds.
        let _permit = throttle
            .hashing
            .acquire()
            .await
            .map_err(|e| PageError::Internal(e.to_string()))?;
        leadgate_core::users::authenticate(&state.store, &form.login, &form.password).await?
    };
    let Some(user) = authenticated else {
        throttle.failed(&form.login, ip);
        state.metrics.rejected("login", "bad_credentials");
        tracing::warn!(login = %leadgate_http::truncated(form.login.trim()), "login refused");
        return Ok(login_form(
            &state,
            &next,
            Some("Неверный логин или пароль."),
            StatusCode::UNAUTHORIZED,
        ));
    };
    throttle.succeeded(&form.login);
    let session_cookie = session::start_session(&state.store, &state.web, user.id).await?;
    let clear_login = set_cookie(&state.web, LOGIN_COOKIE, "", "/ui/login", "Strict", 0);
    tracing::info!(login = %user.login, "logged in");
    let mut resp = Redirect::to(&next).into_response();
    for c in [session_cookie, clear_login] {
        if let Ok(v) = c.parse() {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    Ok(resp)
}

#[derive(Debug, Deserialize)]
struct NoFields {}

async fn logout(
    State(state): State<AppState>,
    CsrfForm { user, .. }: CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let clear = session::end_session(&state.store, &state.web, &user).await?;
    tracing::info!(login = %user.login, "logged out");
    Ok(([(header::SET_COOKIE, clear)], Redirect::to("/ui/login")).into_response())
}

async fn home(user: WebUser) -> Response {
    let links: String = nav_for(&user)
        .map(|l| format!("<li><a href=\"{}\">{}</a></li>", l.path, Esc(l.title)))
        .collect();
    let links = if links.is_empty() {
        "<p>Для вашей роли пока нет страниц.</p>".to_string()
    } else {
        format!("<ul>{links}</ul>")
    };
    let body = format!(
        "<h1>Здравствуйте, {}</h1><p>Вы вошли как {}.</p>{links}",
        Esc(&user.name),
        role_name(user.role)
    );
    layout::page("Главная", Some(&user), &body).into_response()
}
