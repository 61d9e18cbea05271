//! How a page refuses: a person without a session is sent to the login page,
//! everything else is an HTML page in Russian with the right status.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::html::{url_encode, Esc};
use super::layout;
use leadgate_core::review::ReviewError;
use leadgate_store::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// No (live) session: redirect to the login page, then back to `next`.
    #[error("not logged in")]
    NotLoggedIn { next: String },
    #[error("this role may not open the page")]
    Forbidden,
    /// A form without this session's CSRF token: not sent by our page.
    #[error("the form's CSRF token is missing or wrong")]
    BadCsrf,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    #[error("internal error")]
    Internal(String),
}

impl PageError {
    fn status(&self) -> StatusCode {
        match self {
            PageError::NotLoggedIn { .. } => StatusCode::SEE_OTHER,
            PageError::Forbidden | PageError::BadCsrf => StatusCode::FORBIDDEN,
            PageError::NotFound(_) => StatusCode::NOT_FOUND,
            PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PageError::Conflict(_) => StatusCode::CONFLICT,
            PageError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn message(&self) -> (&'static str, String) {
        match self {
            PageError::NotLoggedIn { .. } => ("Нужно войти", String::new()),
            PageError::Forbidden => (
                "Недостаточно прав",
                "Эта страница недоступна для вашей роли.".into(),
            ),
            PageError::BadCsrf => (
                "Форма устарела",
                "Форма отправлена не с этой страницы или сессия сменилась. Обновите страницу и повторите.".into(),
            ),
            PageError::NotFound(_) => ("Не найдено", "Такой страницы или записи нет.".into()),
            PageError::BadRequest(detail) => ("Неверный запрос", detail.clone()),
            PageError::Conflict(detail) => ("Уже изменено", detail.clone()),
            PageError::Internal(_) => (
                "Ошибка сервера",
                "Что-то пошло не так; подробности в журнале сервера.".into(),
            ),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        if let PageError::NotLoggedIn { next } = &self {
            let location = format!("/ui/login?next={}", url_encode(next));
            return (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response();
        }
        if let PageError::Internal(detail) = &self {
            tracing::error!(error = %detail, "page failed");
        }
        let (title, detail) = self.message();
        let body = format!(
            "<h1>{}</h1><p>{}</p><p><a href=\"/ui\">На главную</a></p>",
            Esc(title),
            Esc(&detail)
        );
        (self.status(), layout::page(title, None, &body)).into_response()
    }
}

impl From<StorageError> for PageError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound(what) => PageError::NotFound(what),
            other => PageError::Internal(other.to_string()),
        }
    }
}

impl From<ReviewError> for PageError {
    fn from(e: ReviewError) -> Self {
        match e {
            ReviewError::NotFound(what) => PageError::NotFound(what),
            ReviewError::Conflict(detail) => PageError::Conflict(detail),
            ReviewError::Invalid { field, detail } => {
                PageError::BadRequest(format!("{field}: {detail}"))
            }
            ReviewError::Storage(e) => e.into(),
        }
    }
}
