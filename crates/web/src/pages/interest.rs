//! The interest card `/ui/interests/{id}`: whom to call (the client, its
//! people and every contact point as `tel:`/`mailto:` links and messenger
//! handles), the stage strip, the full text of every appeal, the feed with
//! calls (direction, employee, talk time, the recording fetched from the PBX
//! when the card opens), tasks to complete with a result, planning the next
//! interaction or a task, answering the client where they wrote, the loss
//! and the head's decision, and (for heads) handing the interest over.
//! Somebody who may not see the interest gets 404.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::board::{
    actor, channel_label, colour_label, colour_str, field_label, move_form, next_step_fields,
    path_id, refusal_text, status_label, NextStepForm,
};
use super::error::PageError;
use super::form::CsrfForm;
use super::html::{local_time, Esc};
use super::layout;
use super::session::WebUser;
use crate::api::stage::{interest_view, InterestView};
use crate::AppState;
use leadgate_core::stage::{Actor, StageError};
use leadgate_domain::appeal::{Appeal, ContactKind};
use leadgate_domain::call::Direction;
use leadgate_domain::client::{Client, ContactPoint};
use leadgate_domain::interest::{InterestStatus, TaskStatus};
use leadgate_domain::role::Role;
use leadgate_domain::scenario::{format_rub, StageKind};
use leadgate_sources::mail::outbox::render;
use leadgate_sources::pbx::recordings::RecordingLinks;
use leadgate_store::{InterestCall, OutgoingNote};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui/interests/{id}", get(interest_page))
        .route("/ui/interests/{id}/plan", post(plan))
        .route("/ui/interests/{id}/responsible", post(reassign))
        .route("/ui/interests/{id}/reply", post(reply))
        .route("/ui/tasks/{id}/complete", post(complete_task))
}

/// An interest the actor may not see is, for them, one that does not exist.
pub(super) fn hidden_as_missing(error: StageError) -> PageError {
    match error {
        StageError::Forbidden => PageError::NotFound("interest"),
        other => other.into(),
    }
}

pub(super) async fn visible_view(
    state: &AppState,
    actor: &Actor,
    id: i64,
) -> Result<InterestView, PageError> {
    let details = state
        .stage
        .visible_interest(actor, id)
        .await
        .map_err(hidden_as_missing)?;
    interest_view(state, details)
        .await
        .map_err(|e| PageError::Internal(e.to_string()))
}

#[derive(Debug, Deserialize, Default)]
struct CardQuery {
    #[serde(default)]
    moved: Option<String>,
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    saved: Option<String>,
    #[serde(default)]
    sent: Option<String>,
    /// A reply template to fill the answer form with.
    #[serde(default)]
    template: Option<usize>,
    #[serde(default)]
    channel: Option<String>,
}

/// What the card's forms may say back after a refusal.
#[derive(Default)]
struct Problems {
    plan: Option<String>,
    reply: Option<String>,
    reply_text: Option<String>,
    task: Option<(i64, String)>,
}

async fn interest_page(
    State(state): State<AppState>,
    user: WebUser,
    path: Result<Path<i64>, PathRejection>,
    query: Result<Query<CardQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let id = path_id(path)?;
    let actor = actor(&state, &user).await?;
    let q = query.map(|Query(q)| q).unwrap_or_default();
    card(
        &state,
        &user,
        &actor,
        id,
        &q,
        Problems::default(),
        StatusCode::OK,
    )
    .await
}

async fn card(
    state: &AppState,
    user: &WebUser,
    actor: &Actor,
    id: i64,
    q: &CardQuery,
    problems: Problems,
    status: StatusCode,
) -> Result<Response, PageError> {
    let view = visible_view(state, actor, id).await?;
    let client = state
        .store
        .client(view.details.interest.client_id)
        .await?
        .ok_or(PageError::NotFound("client"))?;
    let appeals = state.store.appeals_of_interest(id).await?;
    let calls = state.store.interest_calls(id).await?;
    let outgoing = state.store.interest_outgoing(id).await?;
    let peer = state.store.peer_of_interest(id).await?;
    let people = state
        .stage
        .assignable(actor, user.department.as_deref())
        .await?;
    let names: HashMap<String, String> = state
        .store
        .list_users()
        .await?
        .into_iter()
        .map(|u| {
            let name = if u.display_name.trim().is_empty() {
                u.login.clone()
            } else {
                u.display_name
            };
            (u.login, name)
        })
        .collect();
    let recordings = recording_links(&state.sales.recordings, &calls).await;
    let flash = if q.moved.is_some() {
        Some("Изменения сохранены.")
    } else if q.done.is_some() {
        Some("Задача выполнена.")
    } else if q.saved.is_some() {
        Some("Запланировано.")
    } else if q.sent.is_some() {
        Some("Сообщение поставлено в очередь на отправку.")
    } else {
        None
    };
    let page = Card {
        state,
        user,
        view: &view,
        client: &client,
        appeals: &appeals,
        calls: &calls,
        recordings: &recordings,
        outgoing: &outgoing,
        peer: peer.as_ref(),
        people: &people,
        names: &names,
        query: q,
        problems: &problems,
    };
    let body = page.render(flash);
    Ok((
        status,
        layout::page(
            &format!("{} — интерес №{id}", view.client_name),
            Some(user),
            &body,
        ),
    )
        .into_response())
}

/// The recording of each call, asked from the PBX API concurrently when the
/// call has only a provider id; a failure shows on the card, not as an error.
async fn recording_links(
    links: &RecordingLinks,
    calls: &[InterestCall],
) -> HashMap<i64, Result<String, String>> {
    let asks = calls
        .iter()
        .filter(|c| c.record.recording_url().is_some() || RecordingLinks::needs_fetch(&c.record))
        .map(|c| async move {
            let link = links.link(&c.record).await;
            (c.id, link)
        });
    futures_util::future::join_all(asks)
        .await
        .into_iter()
        .filter_map(|(id, link)| match link {
            Ok(Some(url)) => Some((id, Ok(url))),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(call = id, error = %e, "recording link not available");
                Some((id, Err(e.to_string())))
            }
        })
        .collect()
}

struct Card<'a> {
    state: &'a AppState,
    user: &'a WebUser,
    view: &'a InterestView,
    client: &'a Client,
    appeals: &'a [Appeal],
    calls: &'a [InterestCall],
    recordings: &'a HashMap<i64, Result<String, String>>,
    outgoing: &'a [OutgoingNote],
    peer: Option<&'a (String, i64)>,
    people: &'a [(String, String)],
    names: &'a HashMap<String, String>,
    query: &'a CardQuery,
    problems: &'a Problems,
}

fn duration(secs: u32) -> String {
    format!("{}:{:02}", secs / 60, secs % 60)
}

fn point_link(point: &ContactPoint) -> String {
    let raw = if point.raw.trim().is_empty() {
        &point.value
    } else {
        &point.raw
    };
    match point.kind {
        ContactKind::Phone => format!(
            "<a class=\"tel\" href=\"tel:{}\">{}</a>",
            Esc(point.value.split(';').next().unwrap_or(&point.value)),
            Esc(raw)
        ),
        ContactKind::Email => format!(
            "<a class=\"mailto\" href=\"mailto:{}\">{}</a>",
            Esc(&point.value),
            Esc(raw)
        ),
        ContactKind::TelegramUsername => format!(
            "<a class=\"telegram\" href=\"https://t.me/{}\">Telegram @{}</a>",
            Esc(&point.value),
            Esc(&point.value)
        ),
        ContactKind::TelegramId => format!(
            "<span class=\"telegram\">Telegram id {}</span>",
            Esc(&point.value)
        ),
        ContactKind::VkId => format!(
            "<a class=\"vk\" href=\"https://vk.com/id{}\">ВКонтакте id{}</a>",
            Esc(&point.value),
            Esc(&point.value)
        ),
        ContactKind::VkScreenName => format!(
            "<a class=\"vk\" href=\"https://vk.com/{}\">ВКонтакте {}</a>",
            Esc(&point.value),
            Esc(&point.value)
        ),
    }
}

fn points_list(points: &[ContactPoint]) -> String {
    if points.is_empty() {
        return "<span class=\"muted\">нет контактов</span>".into();
    }
    let items: String = points
        .iter()
        .map(|p| format!("<li>{}</li>", point_link(p)))
        .collect();
    format!("<ul class=\"points\">{items}</ul>")
}

/// A feed line or a call, for the one timeline of the card.
enum Line<'a> {
    Entry(&'a leadgate_domain::interest::FeedEntry),
    Call(&'a InterestCall),
}

impl Card<'_> {
    fn name_of(&self, login: Option<&str>) -> String {
        match login.map(str::trim).filter(|l| !l.is_empty()) {
            Some(login) => Esc(self.names.get(login).map_or(login, String::as_str)).to_string(),
            None => "—".into(),
        }
    }

    fn tz(&self) -> chrono_tz::Tz {
        self.state.core.calendar.tz()
    }

    fn render(&self, flash: Option<&str>) -> String {
        let interest = &self.view.details.interest;
        let id = interest.id;
        let colour = colour_str(self.view.colour);
        let mut body = String::new();
        if let Some(flash) = flash {
            let _ = write!(
                body,
                "<p class=\"flash\" role=\"status\">{}</p>",
                Esc(flash)
            );
        }
        let _ = write!(
            body,
            "<div class=\"card-head\"><h1><a class=\"client-link\" href=\"/ui/clients/{cid}\" id=\"client-name\">{client}</a> \
             <small>интерес №{id}</small></h1>\
             <p class=\"summary colour-{colour}\" id=\"interest-summary\" data-colour=\"{colour}\">\
             Этап: <strong id=\"stage-name\">{stage}</strong> · {status} · {label} · ответственный \
             <strong id=\"responsible\">{responsible}</strong>{amount}</p></div>",
            cid = self.client.id,
            client = Esc(&self.view.client_name),
            stage = Esc(&self.view.stage_name),
            status = status_label(interest.status),
            label = if interest.status.is_finished() {
                "завершён"
            } else {
                colour_label(self.view.colour)
            },
            responsible = self.name_of(interest.responsible.as_deref()),
            amount = interest
                .potential_amount
                .filter(|a| *a > 0)
                .map(|a| format!(" · сумма {}", Esc(&format_rub(a))))
                .unwrap_or_default(),
        );
        body.push_str(&self.stage_strip());
        body.push_str("<div class=\"interest-grid\"><div class=\"main-col\">");
        body.push_str(&self.tasks());
        body.push_str(&self.plan_form());
        body.push_str(&self.reply_form());
        body.push_str(&self.loss());
        body.push_str(&self.feed());
        body.push_str(&self.appeals_section());
        body.push_str("</div><aside class=\"side-col\">");
        body.push_str(&self.client_block());
        body.push_str(&self.reassign_form());
        body.push_str(&self.orders());
        body.push_str(&self.outgoing_list());
        body.push_str("</aside></div><p><a href=\"/ui/board\">← Мои продажи</a></p>");
        body.push_str("<script src=\"/ui/static/sales.js\"></script>");
        body
    }

    /// The scenario's stages in order, the current one marked; a stage that
    /// may be reached now links to the same move form as the board.
    fn stage_strip(&self) -> String {
        let interest = &self.view.details.interest;
        let Some(scenario) = self
            .state
            .stage
            .router()
            .scenarios()
            .scenario(&interest.scenario)
        else {
            return String::new();
        };
        let current = scenario.stage_index(&interest.stage);
        let mut out = String::from("<nav aria-label=\"Этапы\"><ol class=\"stages\" id=\"stages\">");
        for (i, stage) in scenario.stages.iter().enumerate() {
            let state = if stage.id == interest.stage {
                "current"
            } else if current.is_some_and(|c| i < c) && stage.kind == StageKind::Working {
                "passed"
            } else {
                "ahead"
            };
            let aria = if state == "current" {
                " aria-current=\"step\""
            } else {
                ""
            };
            let allowed = self
                .view
                .allowed_transitions
                .iter()
                .any(|t| t.id == stage.id);
            let label = if allowed {
                format!(
                    "<a href=\"/ui/interests/{}/move?to={}\" id=\"stage-{}\">{}</a>",
                    interest.id,
                    Esc(&stage.id),
                    Esc(&stage.id),
                    Esc(&stage.name)
                )
            } else {
                format!(
                    "<span id=\"stage-{}\">{}</span>",
                    Esc(&stage.id),
                    Esc(&stage.name)
                )
            };
            let _ = write!(
                out,
                "<li class=\"stage-{state} kind-{kind}\"{aria}>{label}</li>",
                kind = match stage.kind {
                    StageKind::Working => "working",
                    StageKind::Won => "won",
                    StageKind::Lost => "lost",
                }
            );
        }
        out.push_str("</ol></nav>");
        out.push_str(&move_form(interest.id, &self.view.allowed_transitions));
        out
    }

    fn client_block(&self) -> String {
        let mut out = String::from("<section class=\"client-card\" id=\"client\"><h2>Клиент</h2>");
        let companies: Vec<&str> = {
            let mut c: Vec<&str> = self
                .appeals
                .iter()
                .filter_map(|a| a.contact.company.as_deref())
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect();
            c.sort_unstable();
            c.dedup();
            c
        };
        let _ = write!(
            out,
            "<dl><dt>Клиент</dt><dd><a href=\"/ui/clients/{}\">{}</a> ({})</dd>",
            self.client.id,
            Esc(&self.client.name),
            match self.client.kind {
                leadgate_domain::client::ClientKind::Company => "организация",
                _ => "частное лицо",
            }
        );
        if !companies.is_empty() {
            let _ = write!(
                out,
                "<dt>Компания</dt><dd id=\"company\">{}</dd>",
                Esc(&companies.join(", "))
            );
        }
        let _ = write!(
            out,
            "<dt>Ответственный за клиента</dt><dd>{}</dd></dl>",
            self.name_of(self.client.responsible.as_deref())
        );
        for person in &self.client.contact_persons {
            let _ = write!(
                out,
                "<div class=\"person\"><h3>{}</h3>{}</div>",
                Esc(&person.name),
                points_list(&person.contact_points)
            );
        }
        if !self.client.contact_points.is_empty() {
            let _ = write!(
                out,
                "<div class=\"person\"><h3>Общие контакты</h3>{}</div>",
                points_list(&self.client.contact_points)
            );
        }
        out.push_str("</section>");
        out
    }

    fn tasks(&self) -> String {
        let tz = self.tz();
        let mut open = String::new();
        let mut done = String::new();
        let now = Utc::now();
        for task in &self.view.details.tasks {
            let due = task
                .due_at
                .map(|d| local_time(d, tz))
                .unwrap_or_else(|| "без срока".into());
            if task.status.is_open() {
                let late = task.due_at.is_some_and(|d| d < now);
                let problem = match &self.problems.task {
                    Some((tid, p)) if *tid == task.id => format!(
                        "<p class=\"error\" role=\"alert\" id=\"task-error-{}\">{}</p>",
                        task.id,
                        Esc(p)
                    ),
                    _ => String::new(),
                };
                let next = if problem.is_empty() {
                    String::new()
                } else {
                    next_step_fields(&format!("t{}-", task.id), None, self.people)
                };
                let _ = write!(
                    open,
                    "<li class=\"task task-{st}{late}\" id=\"task-{tid}\"><div class=\"task-title\"><strong>{title}</strong> \
                     <small>{who} · срок {due}{late_word}</small></div>{problem}\
                     <form class=\"complete\" method=\"post\" action=\"/ui/tasks/{tid}/complete\">{csrf}\
                     <input type=\"hidden\" name=\"back\" value=\"interest\">\
                     <label for=\"result-{tid}\" class=\"sr\">Результат</label>\
                     <input id=\"result-{tid}\" name=\"result\" placeholder=\"Результат\" autocomplete=\"off\">{next}\
                     <button type=\"submit\" class=\"primary\" id=\"complete-{tid}\">Выполнено</button></form></li>",
                    st = task.status.as_str(),
                    late = if late { " late" } else { "" },
                    late_word = if late { " · просрочена" } else { "" },
                    tid = task.id,
                    title = Esc(&task.title),
                    who = self.name_of(task.assignee.as_deref()),
                    csrf = self.user.csrf_field(),
                );
            } else {
                let result = task
                    .result
                    .as_deref()
                    .map(|r| format!(": {}", Esc(r)))
                    .unwrap_or_default();
                let _ = write!(
                    done,
                    "<li class=\"task task-{}\" id=\"task-{}\">{} <small>{} · {}{}</small></li>",
                    task.status.as_str(),
                    task.id,
                    Esc(&task.title),
                    match task.status {
                        TaskStatus::Cancelled => "отменена",
                        _ => "выполнена",
                    },
                    task.done_at.map(|d| local_time(d, tz)).unwrap_or_default(),
                    result
                );
            }
        }
        let mut out = String::from("<section id=\"tasks-section\"><h2>Задачи</h2>");
        if open.is_empty() {
            out.push_str("<p class=\"muted\" id=\"no-tasks\">Открытых задач нет.</p>");
        } else {
            let _ = write!(out, "<ul class=\"tasks\" id=\"tasks\">{open}</ul>");
        }
        let planned: Vec<_> = self
            .view
            .details
            .interactions
            .iter()
            .filter(|i| i.done_at.is_none() && i.planned_at.is_some())
            .collect();
        if !planned.is_empty() {
            out.push_str(
                "<h3>Запланированные взаимодействия</h3><ul class=\"planned\" id=\"planned\">",
            );
            for i in planned {
                let at = i.planned_at.map(|d| local_time(d, tz)).unwrap_or_default();
                let _ = write!(
                    out,
                    "<li class=\"{late}\">{kind} на {at}{subject} <small>{who}</small></li>",
                    late = if i.planned_at.is_some_and(|d| d < now) {
                        "late"
                    } else {
                        ""
                    },
                    kind = interaction_word(&i.kind),
                    subject = i
                        .subject
                        .as_deref()
                        .map(|s| format!(" — {}", Esc(s)))
                        .unwrap_or_default(),
                    who = self.name_of(i.author.as_deref()),
                );
            }
            out.push_str("</ul>");
        }
        if !done.is_empty() {
            let _ = write!(
                out,
                "<details class=\"done-tasks\"><summary>Выполненные задачи</summary><ul class=\"tasks\">{done}</ul></details>"
            );
        }
        out.push_str("</section>");
        out
    }

    fn plan_form(&self) -> String {
        let interest = &self.view.details.interest;
        if interest.status.is_finished() {
            return String::new();
        }
        let problem = self
            .problems
            .plan
            .as_deref()
            .map(|p| {
                format!(
                    "<p class=\"error\" role=\"alert\" id=\"plan-error\">{}</p>",
                    Esc(p)
                )
            })
            .unwrap_or_default();
        format!(
            "<section class=\"plan\" id=\"plan\"><h2>Запланировать</h2>{problem}\
             <form method=\"post\" action=\"/ui/interests/{id}/plan\" class=\"plan-form\">{csrf}\
             {fields}\
             <div class=\"choice\"><label><input type=\"radio\" name=\"next_type\" value=\"done\" id=\"plan-next-done\"> \
             Записать состоявшееся взаимодействие</label>\
             <label for=\"plan-done-result\">Результат</label><input name=\"done_result\" id=\"plan-done-result\"></div>\
             <button type=\"submit\" class=\"primary\" id=\"plan-submit\">Сохранить</button></form></section>",
            id = interest.id,
            csrf = self.user.csrf_field(),
            fields = next_step_fields("plan-", Some("interaction"), self.people)
                .replace(
                    "<div class=\"choice\"><label><input type=\"radio\" name=\"next_type\" value=\"nothing\" id=\"plan-next-nothing\"> Ничего не планировать</label></div>",
                    ""
                )
                .replace("<fieldset class=\"next\"><legend>Следующий шаг</legend>", "<fieldset class=\"next\"><legend>Что дальше</legend>")
                .replace("</fieldset>", ""),
        ) + "</fieldset>"
    }

    /// Where the client can be answered: the messenger conversation the
    /// interest came from, and e-mail when the client has an address and
    /// mail goes out.
    fn reply_channels(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some((source, _)) = self.peer {
            let label = match source.split_once(':') {
                Some(("telegram", name)) => format!("Telegram ({name})"),
                Some(("vk", name)) => format!("ВКонтакте ({name})"),
                _ => source.clone(),
            };
            out.push((source.clone(), label));
        }
        if self.state.sales.sources.mail.smtp.is_some() {
            if let Some(email) = client_emails(self.client).first() {
                out.push((format!("mail:{email}"), format!("Письмо на {email}")));
            }
        }
        out
    }

    fn reply_form(&self) -> String {
        let interest = &self.view.details.interest;
        let channels = self.reply_channels();
        if channels.is_empty() {
            // Say which of the two is missing: an address on the card with
            // no way to write to it puzzles a manager otherwise.
            let why = if client_emails(self.client).is_empty() {
                "Клиент не писал в Telegram или ВКонтакте, и e-mail у него нет."
            } else {
                "Клиент не писал в Telegram или ВКонтакте, а почта для отправки писем не настроена (<code>[mail.smtp]</code>)."
            };
            return format!(
                "<section class=\"reply\" id=\"reply\"><h2>Ответить клиенту</h2><p class=\"muted\">{why}</p></section>"
            );
        }
        let templates = &self.state.web.reply_templates;
        let chosen_channel = self
            .query
            .channel
            .as_deref()
            .filter(|c| channels.iter().any(|(v, _)| v == c))
            .unwrap_or(&channels[0].0)
            .to_owned();
        let template = self.query.template.and_then(|i| templates.get(i));
        let vars = self.template_vars();
        let text = self
            .problems
            .reply_text
            .clone()
            .or_else(|| template.map(|t| render(&t.body, &vars)))
            .unwrap_or_default();
        let subject = template
            .map(|t| t.subject.as_str())
            .filter(|s| !s.is_empty())
            .map(|s| render(s, &vars))
            .unwrap_or_else(|| self.default_subject());
        let channel_options: String = channels
            .iter()
            .map(|(value, label)| {
                format!(
                    "<option value=\"{}\"{}>{}</option>",
                    Esc(value),
                    if *value == chosen_channel {
                        " selected"
                    } else {
                        ""
                    },
                    Esc(label)
                )
            })
            .collect();
        let template_options: String = templates
            .iter()
            .enumerate()
            .map(|(i, t)| {
                format!(
                    "<option value=\"{i}\"{}>{}</option>",
                    if self.query.template == Some(i) {
                        " selected"
                    } else {
                        ""
                    },
                    Esc(&t.name)
                )
            })
            .collect();
        let picker = if templates.is_empty() {
            String::new()
        } else {
            format!(
                "<form method=\"get\" action=\"/ui/interests/{id}#reply\" class=\"template-pick\">\
                 <input type=\"hidden\" name=\"channel\" value=\"{ch}\">\
                 <label for=\"template\">Шаблон</label><select id=\"template\" name=\"template\">{template_options}</select>\
                 <button type=\"submit\" id=\"template-apply\">Подставить</button></form>",
                id = interest.id,
                ch = Esc(&chosen_channel),
            )
        };
        let problem = self
            .problems
            .reply
            .as_deref()
            .map(|p| {
                format!(
                    "<p class=\"error\" role=\"alert\" id=\"reply-error\">{}</p>",
                    Esc(p)
                )
            })
            .unwrap_or_default();
        format!(
            "<section class=\"reply\" id=\"reply\"><h2>Ответить клиенту</h2>{problem}{picker}\
             <form method=\"post\" action=\"/ui/interests/{id}/reply\" class=\"reply-form\">{csrf}\
             <label for=\"reply-channel\">Куда</label><select id=\"reply-channel\" name=\"channel\">{channel_options}</select>\
             <label for=\"reply-subject\">Тема письма</label><input id=\"reply-subject\" name=\"subject\" value=\"{subject}\">\
             <label for=\"reply-text\">Текст</label><textarea id=\"reply-text\" name=\"text\" rows=\"4\" required>{text}</textarea>\
             <button type=\"submit\" class=\"primary\" id=\"reply-submit\">Отправить</button></form></section>",
            id = interest.id,
            csrf = self.user.csrf_field(),
            subject = Esc(&subject),
            text = Esc(&text),
        )
    }

    fn default_subject(&self) -> String {
        self.appeals
            .iter()
            .find_map(|a| a.subject.as_deref())
            .map(|s| {
                if s.to_lowercase().starts_with("re:") {
                    s.to_owned()
                } else {
                    format!("Re: {s}")
                }
            })
            .unwrap_or_else(|| format!("Ваш запрос №{}", self.view.details.interest.id))
    }

    fn template_vars(&self) -> BTreeMap<String, String> {
        let interest = &self.view.details.interest;
        let mut vars: BTreeMap<String, String> = BTreeMap::new();
        // The appeal's attributes first, so the named fields below win.
        if let Some(appeal) = self.appeals.first() {
            for (key, value) in &appeal.attributes {
                let text = match value {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                vars.insert(key.clone(), text);
            }
        }
        let contact = self
            .appeals
            .iter()
            .find_map(|a| a.contact.display_name())
            .map(str::to_owned)
            .or_else(|| self.client.contact_persons.first().map(|p| p.name.clone()))
            .unwrap_or_else(|| self.client.name.clone());
        vars.insert("client_name".into(), self.client.name.clone());
        vars.insert("contact_name".into(), contact);
        let manager = interest
            .responsible
            .as_deref()
            .and_then(|l| self.state.core.manager(l).map(|m| m.name.clone()))
            .or_else(|| {
                interest
                    .responsible
                    .as_deref()
                    .map(|l| self.name_of(Some(l)))
            })
            .unwrap_or_default();
        vars.insert("manager_name".into(), manager);
        vars.insert("interest_id".into(), interest.id.to_string());
        vars.insert("stage".into(), self.view.stage_name.clone());
        vars
    }

    fn reassign_form(&self) -> String {
        let interest = &self.view.details.interest;
        if !matches!(self.user.role, Role::Head | Role::Admin) || interest.status.is_finished() {
            return String::new();
        }
        let options: String = self
            .people
            .iter()
            .map(|(login, name)| {
                format!(
                    "<option value=\"{}\"{}>{}</option>",
                    Esc(login),
                    if interest.responsible.as_deref() == Some(login) {
                        " selected"
                    } else {
                        ""
                    },
                    Esc(name)
                )
            })
            .collect();
        format!(
            "<section class=\"reassign\"><h2>Ответственный</h2>\
             <form method=\"post\" action=\"/ui/interests/{}/responsible\">{}\
             <label for=\"new-responsible\" class=\"sr\">Новый ответственный</label>\
             <select id=\"new-responsible\" name=\"responsible\">{options}</select>\
             <button type=\"submit\" id=\"reassign-submit\">Передать</button></form></section>",
            interest.id,
            self.user.csrf_field()
        )
    }

    fn loss(&self) -> String {
        let interest = &self.view.details.interest;
        let entries: Vec<_> = self
            .view
            .details
            .feed
            .iter()
            .filter(|e| {
                matches!(
                    e.kind.as_str(),
                    "loss_requested" | "loss_approved" | "loss_returned" | "lost"
                )
            })
            .collect();
        let mut out = String::new();
        if !entries.is_empty() {
            out.push_str("<section class=\"loss-info\" id=\"loss\"><h2>Отказ</h2><ul>");
            for e in entries.iter().rev() {
                let what = match e.kind.as_str() {
                    "loss_requested" => "Запрошено закрытие как неудачного",
                    "loss_approved" => "Решение руководителя: отказ согласован",
                    "loss_returned" => "Решение руководителя: вернуть в работу",
                    _ => "Закрыт как неудачный",
                };
                let _ = write!(
                    out,
                    "<li data-kind=\"{}\"><strong>{what}</strong> — {} <small>{} · {}</small></li>",
                    Esc(&e.kind),
                    Esc(&e.summary),
                    self.name_of(e.actor.as_deref()),
                    local_time(e.at, self.tz())
                );
            }
            out.push_str("</ul></section>");
        }
        if interest.status == InterestStatus::LossPending {
            let head = interest
                .responsible
                .as_deref()
                .and_then(|r| self.state.stage.router().head_of(r));
            if head.as_deref() == Some(self.user.login.as_str()) {
                out.push_str(&loss_decision_forms(
                    self.state,
                    self.user,
                    self.view,
                    self.people,
                ));
            }
        }
        out
    }

    fn feed(&self) -> String {
        let tz = self.tz();
        let mut lines: Vec<(DateTime<Utc>, i64, Line<'_>)> = self
            .view
            .details
            .feed
            .iter()
            .map(|e| (e.at, e.id, Line::Entry(e)))
            .collect();
        for call in self.calls {
            let at = call
                .record
                .started_at()
                .or(call.record.ended_at())
                .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
            lines.push((at, i64::MIN + call.id, Line::Call(call)));
        }
        // Newest first.
        lines.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
        let mut out = String::from(
            "<section id=\"feed-section\"><h2>Лента</h2><ol class=\"feed\" id=\"feed\">",
        );
        for (at, _, line) in &lines {
            match line {
                Line::Entry(entry) => {
                    let _ = write!(
                        out,
                        "<li class=\"feed-{k}\" data-kind=\"{k}\"><time>{t}</time> {s} <small>{a}</small>{text}</li>",
                        k = Esc(&entry.kind),
                        t = local_time(entry.at, tz),
                        s = Esc(&entry.summary),
                        a = self.name_of(entry.actor.as_deref()),
                        text = match (entry.kind.as_str(), entry.data.get("text").and_then(|t| t.as_str())) {
                            ("mail_out", Some(text)) => format!("<div class=\"text\">{}</div>", Esc(text)),
                            _ => String::new(),
                        }
                    );
                }
                Line::Call(call) => out.push_str(&self.call_line(call, *at)),
            }
        }
        out.push_str("</ol></section>");
        out
    }

    fn call_line(&self, call: &InterestCall, at: DateTime<Utc>) -> String {
        let record = &call.record;
        let direction = match record.direction() {
            Direction::Inbound => "Входящий звонок",
            Direction::Outbound => "Исходящий звонок",
            Direction::Internal => "Внутренний звонок",
            Direction::Unknown => "Звонок",
        };
        let interaction = call
            .interaction_id
            .and_then(|iid| self.view.details.interactions.iter().find(|i| i.id == iid));
        let employee = interaction
            .and_then(|i| i.author.as_deref())
            .map(|login| self.name_of(Some(login)))
            .or_else(|| record.employee().map(|e| format!("доб. {}", Esc(e))))
            .unwrap_or_else(|| "—".into());
        let talk = if record.is_missed() {
            "<strong class=\"missed\">пропущен</strong>".to_owned()
        } else {
            match (record.talk_duration().filter(|s| *s > 0), record.duration()) {
                (Some(talk), _) => format!("разговор {}", duration(talk)),
                (None, Some(total)) if total > 0 => format!("длительность {}", duration(total)),
                _ => "без разговора".into(),
            }
        };
        let number = record
            .client_number()
            .map(|n| format!(" · <a class=\"tel\" href=\"tel:{n}\">{n}</a>", n = Esc(n)))
            .unwrap_or_default();
        let recording = match self.recordings.get(&call.id) {
            Some(Ok(url)) => format!(
                "<div class=\"recording\"><audio controls preload=\"none\" src=\"{u}\"></audio> \
                 <a class=\"recording-link\" href=\"{u}\" target=\"_blank\" rel=\"noopener noreferrer\">Запись разговора</a></div>",
                u = Esc(url)
            ),
            Some(Err(why)) => format!(
                "<div class=\"recording error-inline\">Запись есть, но получить её не удалось: {}</div>",
                Esc(why)
            ),
            None => String::new(),
        };
        format!(
            "<li class=\"feed-call\" data-kind=\"call\" id=\"call-{id}\"><time>{t}</time> <strong>{direction}</strong>{number} · {employee} · {talk}{recording}</li>",
            id = call.id,
            t = local_time(at, self.tz()),
        )
    }

    fn appeals_section(&self) -> String {
        let tz = self.tz();
        let mut out = String::from("<section id=\"appeals-section\"><h2>Обращения</h2><div class=\"appeals\" id=\"appeals\">");
        for appeal in self.appeals {
            let _ = write!(
                out,
                "<article class=\"appeal\" id=\"appeal-{id}\"><header>№{id} · {channel} · {source} · {at}{who}</header>",
                id = appeal.id,
                channel = Esc(channel_label(appeal.channel.as_str())),
                source = Esc(&appeal.source),
                at = local_time(appeal.received_at, tz),
                who = appeal
                    .contact
                    .display_name()
                    .map(|n| format!(" · {}", Esc(n)))
                    .unwrap_or_default(),
            );
            if let Some(subject) = appeal.subject.as_deref().filter(|s| !s.trim().is_empty()) {
                let _ = write!(out, "<h3 class=\"subject\">{}</h3>", Esc(subject));
            }
            if let Some(text) = appeal.text.as_deref().filter(|s| !s.trim().is_empty()) {
                let _ = write!(out, "<div class=\"text appeal-text\">{}</div>", Esc(text));
            }
            let mut fields = String::new();
            if let Some(company) = appeal.contact.company.as_deref() {
                let _ = write!(fields, "<dt>Компания</dt><dd>{}</dd>", Esc(company));
            }
            for phone in &appeal.contact.phones {
                let _ = write!(fields, "<dt>Телефон</dt><dd>{}</dd>", Esc(phone));
            }
            for email in &appeal.contact.emails {
                let _ = write!(fields, "<dt>E-mail</dt><dd>{}</dd>", Esc(email));
            }
            let mut attrs: Vec<_> = appeal.attributes.iter().collect();
            // UTM tags together, first.
            attrs.sort_by_key(|(k, _)| (!k.starts_with("utm_"), k.to_owned()));
            for (key, value) in attrs {
                if key.starts_with("mail_") || key == "message_id" || key == "references" {
                    continue;
                }
                let value = match value {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let _ = write!(
                    fields,
                    "<dt class=\"{}\">{}</dt><dd>{}</dd>",
                    if key.starts_with("utm_") {
                        "utm"
                    } else {
                        "field"
                    },
                    Esc(key),
                    Esc(&value)
                );
            }
            if !fields.is_empty() {
                let _ = write!(out, "<dl class=\"appeal-fields\">{fields}</dl>");
            }
            if !appeal.attachments.is_empty() {
                out.push_str("<p class=\"attachments\">Вложения: ");
                let names: Vec<String> = appeal
                    .attachments
                    .iter()
                    .map(|a| format!("<span class=\"attachment\">{}</span>", Esc(&a.name)))
                    .collect();
                out.push_str(&names.join(", "));
                out.push_str("</p>");
            }
            out.push_str("</article>");
        }
        if self.appeals.is_empty() {
            out.push_str("<p class=\"muted\">Обращений нет.</p>");
        }
        out.push_str("</div></section>");
        out
    }

    fn orders(&self) -> String {
        if self.view.orders.is_empty() {
            return String::new();
        }
        let mut out = String::from("<section><h2>Заказы</h2><ul class=\"orders\">");
        for order in &self.view.orders {
            let _ = write!(
                out,
                "<li>{}: сумма {}, оплачено {}, отгружено {}</li>",
                Esc(&order.id),
                Esc(&format_rub(order.amount)),
                Esc(&format_rub(order.paid)),
                Esc(&format_rub(order.shipped)),
            );
        }
        out.push_str("</ul></section>");
        out
    }

    fn outgoing_list(&self) -> String {
        if self.outgoing.is_empty() {
            return String::new();
        }
        let mut out = String::from(
            "<section class=\"outgoing\" id=\"outgoing\"><h2>Отправленные клиенту</h2><ul>",
        );
        for note in self.outgoing {
            let status = match note.status.as_str() {
                "sent" => "доставлено".to_owned(),
                "queued" | "pending" | "sending" => "в очереди".to_owned(),
                "unconfirmed" => "не подтверждено".to_owned(),
                "failed" => "не доставлено".to_owned(),
                other => other.to_owned(),
            };
            let failed = matches!(note.status.as_str(), "failed" | "unconfirmed");
            let _ = write!(
                out,
                "<li class=\"out-{st}\" data-status=\"{st}\"><small>{at} · {ch}</small> {what} — <strong class=\"{cls}\">{status}</strong>{err}</li>",
                st = Esc(&note.status),
                at = local_time(note.created_at, self.tz()),
                ch = Esc(note.channel.split(':').next().map(channel_label).unwrap_or("")),
                what = Esc(&note.subject.clone().unwrap_or_else(|| note.body.chars().take(80).collect())),
                cls = if failed { "failed" } else { "" },
                err = note
                    .last_error
                    .as_deref()
                    .filter(|_| failed || note.status != "sent")
                    .map(|e| format!("<div class=\"error-inline\">{}</div>", Esc(e)))
                    .unwrap_or_default(),
            );
        }
        out.push_str("</ul></section>");
        out
    }
}

fn interaction_word(kind: &str) -> &'static str {
    match kind {
        "call" => "Звонок",
        "meeting" => "Встреча",
        "email" => "Письмо",
        "message" => "Сообщение",
        _ => "Взаимодействие",
    }
}

fn client_emails(client: &Client) -> Vec<String> {
    client
        .contact_persons
        .iter()
        .flat_map(|p| p.contact_points.iter())
        .chain(client.contact_points.iter())
        .filter(|p| p.kind == ContactKind::Email)
        .map(|p| p.value.clone())
        .collect()
}

pub(super) fn loss_decision_forms(
    state: &AppState,
    user: &WebUser,
    view: &InterestView,
    people: &[(String, String)],
) -> String {
    let id = view.details.interest.id;
    let working: String = state
        .stage
        .router()
        .scenarios()
        .scenario(&view.details.interest.scenario)
        .map(|s| {
            s.stages
                .iter()
                .filter(|st| st.kind == StageKind::Working)
                .map(|st| {
                    format!(
                        "<option value=\"{}\">{}</option>",
                        Esc(&st.id),
                        Esc(&st.name)
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    format!(
        "<section class=\"loss\"><h2>Согласование отказа</h2>\
         <form method=\"post\" action=\"/ui/interests/{id}/loss/approve\">{csrf}\
         <label for=\"approve-comment\">Комментарий</label><input id=\"approve-comment\" name=\"comment\">\
         <button class=\"danger\" type=\"submit\" id=\"approve-loss\">Согласовать отказ</button></form>\
         <form method=\"post\" action=\"/ui/interests/{id}/loss/return\">{csrf}\
         <label for=\"return-to\">Вернуть на этап</label><select id=\"return-to\" name=\"to\">{working}</select>\
         <label for=\"return-comment\">Комментарий</label><input id=\"return-comment\" name=\"comment\">\
         {next}<button class=\"primary\" type=\"submit\" id=\"return-loss\">Вернуть в работу</button></form></section>",
        csrf = user.csrf_field(),
        next = next_step_fields("return-", Some("interaction"), people),
    )
}

// --- actions ---------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct PlanForm {
    #[serde(flatten)]
    next: NextStepForm,
    #[serde(default)]
    done_result: Option<String>,
}

async fn plan(
    State(state): State<AppState>,
    path: Result<Path<i64>, PathRejection>,
    CsrfForm { user, form }: CsrfForm<PlanForm>,
) -> Result<Response, PageError> {
    let id = path_id(path)?;
    let actor = actor(&state, &user).await?;
    let tz = state.core.calendar.tz();
    let people = state
        .stage
        .assignable(&actor, user.department.as_deref())
        .await?;
    let outcome: Result<(), String> = async {
        form.next.check_assignee(&people)?;
        if form.next.next_type() == Some("done") {
            let kind = form.next.kind()?;
            let result = form.done_result.as_deref().unwrap_or("");
            return state
                .stage
                .interaction(&actor, id, kind, None, Some(Utc::now()), None, Some(result))
                .await
                .map(drop)
                .map_err(|e| stage_problem(e, "result"));
        }
        match form.next.request(tz)? {
            None | Some(leadgate_core::stage::NextStepRequest::Nothing) => {
                Err("выберите, что запланировать, и укажите дату".to_owned())
            }
            Some(leadgate_core::stage::NextStepRequest::Interaction { kind, at, subject }) => state
                .stage
                .interaction(&actor, id, kind, Some(at), None, Some(&subject), None)
                .await
                .map(drop)
                .map_err(|e| stage_problem(e, "planned_at")),
            Some(leadgate_core::stage::NextStepRequest::Task {
                title,
                due,
                assignee,
            }) => state
                .stage
                .add_task(&actor, id, &title, due, assignee.as_deref())
                .await
                .map(drop)
                .map_err(|e| stage_problem(e, "title")),
        }
    }
    .await;
    match outcome {
        Ok(()) => Ok(Redirect::to(&format!("/ui/interests/{id}?saved=1#plan")).into_response()),
        Err(problem) => {
            // A hidden interest stays hidden even through a refused form.
            visible_view(&state, &actor, id).await?;
            card(
                &state,
                &user,
                &actor,
                id,
                &CardQuery::default(),
                Problems {
                    plan: Some(problem),
                    ..Problems::default()
                },
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

fn stage_problem(error: StageError, _default_field: &str) -> String {
    match error {
        StageError::Refused { field, detail } | StageError::Conflict { field, detail } => {
            refusal_text(field, &detail)
        }
        StageError::NotFound(_) | StageError::Forbidden => "интерес не найден".into(),
        StageError::Storage(e) => {
            tracing::error!(error = %e, "page action failed");
            "ошибка сервера; подробности в журнале".into()
        }
    }
}

#[derive(Debug, Deserialize)]
struct ReassignForm {
    responsible: String,
}

async fn reassign(
    State(state): State<AppState>,
    path: Result<Path<i64>, PathRejection>,
    CsrfForm { user, form }: CsrfForm<ReassignForm>,
) -> Result<Response, PageError> {
    let id = path_id(path)?;
    let actor = actor(&state, &user).await?;
    visible_view(&state, &actor, id).await?;
    state.stage.reassign(&actor, id, &form.responsible).await?;
    Ok(Redirect::to(&format!("/ui/interests/{id}?moved=1")).into_response())
}

#[derive(Debug, Deserialize)]
struct ReplyForm {
    channel: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    text: String,
}

async fn reply(
    State(state): State<AppState>,
    path: Result<Path<i64>, PathRejection>,
    CsrfForm { user, form }: CsrfForm<ReplyForm>,
) -> Result<Response, PageError> {
    let id = path_id(path)?;
    let actor = actor(&state, &user).await?;
    let view = visible_view(&state, &actor, id).await?;
    if view.details.interest.status.is_finished() {
        // Writing to a client of a closed deal is still writing to a client.
        tracing::info!(interest_id = id, "reply on a closed interest");
    }
    let text = form.text.trim();
    let problem = if text.is_empty() {
        Some("напишите текст сообщения".to_owned())
    } else if text.chars().count() > leadgate_sources::messengers::outbox::MAX_TEXT_CHARS
        && !form.channel.starts_with("mail:")
    {
        Some(format!(
            "сообщение длиннее {} знаков",
            leadgate_sources::messengers::outbox::MAX_TEXT_CHARS
        ))
    } else {
        None
    };
    let problem = match problem {
        Some(p) => Some(p),
        None => send_reply(&state, &user, &view, &form, text).await?,
    };
    match problem {
        None => {
            // Writing to the client is a manager's first action, as through the API.
            state
                .store
                .mark_first_action_now(id, &user.login, &state.core.calendar)
                .await?;
            Ok(Redirect::to(&format!("/ui/interests/{id}?sent=1#feed-section")).into_response())
        }
        Some(problem) => {
            card(
                &state,
                &user,
                &actor,
                id,
                &CardQuery {
                    channel: Some(form.channel.clone()),
                    ..CardQuery::default()
                },
                Problems {
                    reply: Some(problem),
                    reply_text: Some(form.text.clone()),
                    ..Problems::default()
                },
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

/// Queues the answer; `Ok(Some(why))` when it cannot go where asked.
async fn send_reply(
    state: &AppState,
    user: &WebUser,
    view: &InterestView,
    form: &ReplyForm,
    text: &str,
) -> Result<Option<String>, PageError> {
    let id = view.details.interest.id;
    if let Some(email) = form.channel.strip_prefix("mail:") {
        let client = state
            .store
            .client(view.details.interest.client_id)
            .await?
            .ok_or(PageError::NotFound("client"))?;
        if !client_emails(&client).iter().any(|e| e == email) {
            return Ok(Some("у клиента нет такого адреса".into()));
        }
        let parent = state.store.interest_mail_parent(id).await?;
        let subject = Some(form.subject.trim())
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .unwrap_or_else(|| format!("Ваш запрос №{id}"));
        let queued = leadgate_sources::mail::outbox::enqueue_manager_letter(
            &state.store,
            &state.sales.sources.mail,
            &leadgate_sources::mail::outbox::ManagerLetter {
                interest_id: id,
                parent: parent.as_ref(),
                recipient: email,
                subject: &subject,
                body: text,
                author: &user.login,
            },
        )
        .await?;
        return Ok((!queued).then(|| "почта не настроена: письмо отправить нельзя".to_owned()));
    }
    let Some((source, peer_id)) = state.store.peer_of_interest(id).await? else {
        return Ok(Some(
            "у интереса нет переписки в Telegram или ВКонтакте".into(),
        ));
    };
    if source != form.channel {
        return Ok(Some("переписка клиента идёт в другом канале".into()));
    }
    let configured = match source.split_once(':') {
        Some(("telegram", name)) => state.sales.sources.telegram.bots.contains_key(name),
        Some(("vk", name)) => state.sales.sources.vk.communities.contains_key(name),
        _ => false,
    };
    if !configured {
        return Ok(Some(format!("канал {source} больше не настроен")));
    }
    state
        .store
        .enqueue_outbound(&leadgate_store::NewOutbound {
            interest_id: Some(id),
            appeal_id: None,
            source: &source,
            peer_id,
            kind: "reply",
            body: text,
            author: Some(&user.login),
            dedup_key: None,
        })
        .await?;
    Ok(None)
}

#[derive(Debug, Deserialize)]
struct CompleteForm {
    #[serde(default)]
    result: String,
    /// `today` or `interest`: where to go back to.
    #[serde(default)]
    back: Option<String>,
    #[serde(flatten)]
    next: NextStepForm,
}

async fn complete_task(
    State(state): State<AppState>,
    path: Result<Path<i64>, PathRejection>,
    CsrfForm { user, form }: CsrfForm<CompleteForm>,
) -> Result<Response, PageError> {
    let task_id = path
        .map(|Path(id)| id)
        .map_err(|_| PageError::NotFound("task"))?;
    let actor = actor(&state, &user).await?;
    let task = state
        .store
        .task(task_id)
        .await?
        .ok_or(PageError::NotFound("task"))?;
    let tz = state.core.calendar.tz();
    let people = state
        .stage
        .assignable(&actor, user.department.as_deref())
        .await?;
    let attempt = match form
        .next
        .check_assignee(&people)
        .and_then(|()| form.next.request(tz))
    {
        Err(problem) => Err(format!("{}: {problem}", field_label("next"))),
        Ok(next) => match state
            .stage
            .complete_task(&actor, task_id, Some(&form.result), next)
            .await
        {
            Ok(_) => Ok(()),
            Err(StageError::Refused { field, detail } | StageError::Conflict { field, detail }) => {
                Err(refusal_text(field, &detail))
            }
            Err(other) => return Err(hidden_as_missing(other)),
        },
    };
    let to_today = form.back.as_deref() == Some("today");
    match attempt {
        Ok(()) if to_today => Ok(Redirect::to("/ui/today?done=1").into_response()),
        Ok(()) => Ok(Redirect::to(&format!(
            "/ui/interests/{}?done=1#tasks-section",
            task.interest_id
        ))
        .into_response()),
        Err(problem) => {
            card(
                &state,
                &user,
                &actor,
                task.interest_id,
                &CardQuery::default(),
                Problems {
                    task: Some((task_id, problem)),
                    ..Problems::default()
                },
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}
