//! Logging in and out, and the start page.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
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
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    let next = safe_next(form.next.as_deref()).to_string();
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if !tokens_match(&form.csrf, expected) {
        return Ok(login_form(
            &state,
            &next,
            Some("Форма входа устарела. Попробуйте ещё раз."),
            StatusCode::FORBIDDEN,
        ));
    }
    let Some(user) =
        leadgate_core::users::authenticate(&state.store, &form.login, &form.password).await?
    else {
        tracing::warn!(login = %form.login.trim(), "login refused");
        return Ok(login_form(
            &state,
            &next,
            Some("Неверный логин или пароль."),
            StatusCode::UNAUTHORIZED,
        ));
    };
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
