//! `/ui/webhooks`: the administrator's view of outbound webhooks — where each
//! endpoint stands in the journal, the delivery being retried, failed
//! deliveries — with a replay form.

use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use super::error::PageError;
use super::form::CsrfForm;
use super::html::{local_time, Esc};
use super::layout::page;
use super::session::WebUser;
use crate::api::changes::webhook_views;
use crate::AppState;
use leadgate_domain::role::Role;
use leadgate_store::from_ms;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui/webhooks", get(show))
        .route("/ui/webhooks/replay", post(replay))
}

#[derive(Debug, Deserialize)]
struct Flash {
    replayed: Option<String>,
    from: Option<i64>,
}

async fn show(
    State(state): State<AppState>,
    user: WebUser,
    Query(flash): Query<Flash>,
) -> Result<Html<String>, PageError> {
    user.require(&[Role::Admin])?;
    let tz = state.core.calendar.tz();
    let when = |ms: Option<i64>| ms.map_or("—".to_string(), |ms| local_time(from_ms(ms), tz));
    let views = webhook_views(&state)
        .await
        .map_err(|e| PageError::Internal(e.to_string()))?;
    let last = state.store.last_event_id().await?;
    let mut body = String::from("<h1>Исходящие вебхуки</h1>");
    if let (Some(name), Some(from)) = (&flash.replayed, flash.from) {
        body.push_str(&format!(
            "<p class=\"flash\">Вебхук «{}»: события начиная с №{from} будут отправлены заново.</p>",
            Esc(name)
        ));
    }
    body.push_str(&format!(
        "<p>Последнее событие в журнале: №{last}. Изменения также доступны через <code>GET /api/v1/changes</code>.</p>"
    ));
    if views.is_empty() {
        body.push_str(
            "<p>Вебхуки не настроены (раздел <code>[[webhooks]]</code> конфигурации).</p>",
        );
    }
    for v in &views {
        let (status, class) = match &v.state {
            None => ("ещё не запускался".to_string(), "muted"),
            Some(s) if s.disabled_at_ms.is_some() => (
                format!(
                    "отключён {}: {}",
                    when(s.disabled_at_ms),
                    s.disabled_reason.as_deref().unwrap_or("")
                ),
                "bad",
            ),
            Some(s) if s.retry_event.is_some() => (
                format!(
                    "доставка события №{} не удаётся (попыток: {}), следующая попытка {}",
                    s.retry_event.unwrap_or(0),
                    s.attempts,
                    when(s.next_attempt_at_ms)
                ),
                "warn",
            ),
            Some(_) => ("работает".to_string(), "ok"),
        };
        body.push_str(&format!(
            "<section class=\"webhook\" id=\"webhook-{}\"><h2>{}</h2><p><code>{}</code> · события: {}</p>\
             <p class=\"status {class}\">Состояние: {}</p>",
            Esc(&v.name),
            Esc(&v.name),
            Esc(&v.url),
            Esc(&v.events.join(", ")),
            Esc(&status)
        ));
        if let Some(s) = &v.state {
            // How long the oldest event not yet handled has waited.
            let waiting = if v.lag_events > 0 {
                match state.store.event_time_after(s.position).await? {
                    Some(at) => format!(
                        ", старейшее ждёт {}",
                        waited((leadgate_store::now_ms() - at).max(0) / 1000)
                    ),
                    None => String::new(),
                }
            } else {
                String::new()
            };
            body.push_str(&format!(
                "<table class=\"delivery\">\
                 <tr><th>Позиция в журнале</th><td>№{} из №{last}</td></tr>\
                 <tr><th>Отставание</th><td class=\"lag\">{} {}{waiting}</td></tr>\
                 <tr><th>Доставлено</th><td>{}</td></tr>\
                 <tr><th>Не доставлено (после всех попыток)</th><td>{}</td></tr>\
                 <tr><th>Попыток текущей доставки</th><td class=\"attempts\">{}</td></tr>\
                 <tr><th>Последняя попытка</th><td>{}</td></tr>\
                 <tr><th>Последний код ответа при ошибке</th><td class=\"last-status\">{}</td></tr>\
                 <tr><th>Последняя ошибка</th><td>{}</td></tr>\
                 <tr><th>Последняя успешная доставка</th><td>{}</td></tr></table>",
                s.position,
                v.lag_events,
                events_word(v.lag_events),
                s.delivered,
                s.failed,
                s.attempts,
                when(s.last_attempt_at_ms),
                s.last_status.map_or("—".into(), |c| c.to_string()),
                Esc(s.last_error.as_deref().unwrap_or("—")),
                when(s.last_success_at_ms),
            ));
        }
        if !v.failures.is_empty() {
            body.push_str("<h3>Недоставленные события</h3><table class=\"failures\"><tr><th>Событие</th><th>Попыток</th><th>Код</th><th>Ошибка</th><th>Когда</th><th></th></tr>");
            for f in &v.failures {
                body.push_str(&format!(
                    "<tr><td>№{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    f.event_id,
                    f.attempts,
                    f.last_status.map_or("—".into(), |c| c.to_string()),
                    Esc(f.last_error.as_deref().unwrap_or("—")),
                    when(Some(f.failed_at_ms)),
                    if f.replayed_at_ms.is_some() {
                        "отправлено заново"
                    } else {
                        ""
                    },
                ));
            }
            body.push_str("</table>");
        }
        let suggested = v
            .failures
            .iter()
            .filter(|f| f.replayed_at_ms.is_none())
            .map(|f| f.event_id)
            .min()
            .or(v.state.as_ref().map(|s| s.position + 1))
            .unwrap_or(1);
        body.push_str(&format!(
            "<form method=\"post\" action=\"/ui/webhooks/replay\" class=\"replay\">{}\
             <input type=\"hidden\" name=\"name\" value=\"{}\">\
             <label>Отправить заново начиная с события № <input type=\"number\" name=\"from\" min=\"1\" value=\"{suggested}\" required></label> \
             <button type=\"submit\">Отправить заново</button></form></section>",
            user.csrf_field(),
            Esc(&v.name)
        ));
    }
    Ok(page("Исходящие вебхуки", Some(&user), &body))
}

/// «событие», «события» or «событий» after a number.
fn events_word(n: i64) -> &'static str {
    let n = n.abs();
    match (n % 10, n % 100) {
        (1, r) if r != 11 => "событие",
        (2..=4, r) if !(12..=14).contains(&r) => "события",
        _ => "событий",
    }
}

fn waited(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s} с"),
        s if s < 3600 => format!("{} мин", s / 60),
        s if s < 86_400 => format!("{} ч {} мин", s / 3600, s % 3600 / 60),
        s => format!("{} дн {} ч", s / 86_400, s % 86_400 / 3600),
    }
}

#[derive(Debug, Deserialize)]
struct ReplayForm {
    name: String,
    from: i64,
}

async fn replay(
    State(state): State<AppState>,
    CsrfForm { user, form }: CsrfForm<ReplayForm>,
) -> Result<Response, PageError> {
    user.require(&[Role::Admin])?;
    if !state.webhooks.iter().any(|h| h.name == form.name) {
        return Err(PageError::NotFound("webhook"));
    }
    if form.from < 1 {
        return Err(PageError::BadRequest(
            "номер события должен быть не меньше 1".into(),
        ));
    }
    state.store.ensure_webhook_endpoint(&form.name).await?;
    state.store.replay_webhook(&form.name, form.from).await?;
    tracing::info!(webhook = %form.name, from = form.from, actor = %user.login, "webhook replay requested");
    let to = format!(
        "/ui/webhooks?replayed={}&from={}",
        super::html::url_encode(&form.name),
        form.from
    );
    Ok(Redirect::to(&to).into_response())
}
