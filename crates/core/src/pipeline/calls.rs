//! Routing of telephone calls (`Intent::Call`), after matching.
//!
//! * An inbound call from a client with an open interest is an event in that
//!   interest, not a repeat appeal: answered → an interaction «Входящий
//!   звонок»; missed → an urgent callback task.
//! * An inbound call from anybody else opens an interest as any appeal does,
//!   plus the same interaction or callback task.
//! * An outbound call only ever lands in a known client's open interest (it
//!   completes a planned call); it never creates a client or an interest.
//! * Any answered call with the client closes the interest's open callback
//!   tasks, and the feed says why.

use chrono::Utc;
use serde_json::json;
use sqlx::AnyConnection;

use super::{Deferred, Pipeline, Processed};
use leadgate_domain::appeal::{Appeal, AppealStatus, CallDirection, CallOutcome, Intent};
use leadgate_domain::decision::DecisionRecord;
use leadgate_domain::dedup::{Decision, DecisionKind};
use leadgate_domain::event::{EventType, NewEvent};
use leadgate_store::{to_ms, CallInteraction, CallLogEntry, NewFeedEntry, NewTask, StorageError};

pub(super) const CALLBACK_PURPOSE: &str = "callback";
const CALLBACK_TITLE: &str = "Перезвонить клиенту";

/// What the call intent says, with the recording refreshed from the stored
/// call (a recording may arrive after the appeal was stored).
struct CallFacts<'a> {
    direction: CallDirection,
    outcome: CallOutcome,
    duration_secs: Option<u32>,
    talk_secs: Option<u32>,
    employee: Option<&'a str>,
    recording_url: Option<String>,
    call_id: &'a str,
}

fn facts(appeal: &Appeal) -> Result<CallFacts<'_>, StorageError> {
    match &appeal.intent {
        Intent::Call {
            direction,
            outcome,
            duration_secs,
            talk_secs,
            employee,
            recording_url,
            call_id,
        } => Ok(CallFacts {
            direction: *direction,
            outcome: *outcome,
            duration_secs: *duration_secs,
            talk_secs: *talk_secs,
            employee: employee.as_deref(),
            recording_url: recording_url.clone(),
            call_id,
        }),
        _ => Err(StorageError::Corrupt(format!(
            "appeal {} routed as a call without a call intent",
            appeal.id
        ))),
    }
}

/// Outbound calls must not create anybody: unless the number belongs to
/// exactly one known client with an open interest, the appeal is finished
/// here as `rejected` (kept, with the reason). `None` lets the pipeline go on.
pub(super) async fn before_client(
    p: &Pipeline,
    conn: &mut AnyConnection,
    appeal: &Appeal,
    decision: &Decision,
    record: &DecisionRecord,
) -> Result<Option<Processed>, StorageError> {
    let call = facts(appeal)?;
    if call.direction != CallDirection::Outbound {
        return Ok(None);
    }
    let reason = match (decision.kind, decision.client_id) {
        (DecisionKind::ExistingClient, Some(client_id)) => {
            if p.store.open_interest_of(conn, client_id).await?.is_some() {
                return Ok(None);
            }
            "outgoing call; the client has no open interest"
        }
        (DecisionKind::Review, _) => "outgoing call; the number is ambiguous",
        _ => "outgoing call to a number that is not a client's",
    };
    let mut record = record.clone();
    record.reason = Some(reason.to_string());
    record.client_id = Some(decision.client_id);
    let mut decided = appeal.clone();
    decided.status = AppealStatus::Rejected;
    decided.client_id = decision.client_id;
    decided.decision = Some(record.clone().into());
    p.store
        .append_events(
            conn,
            &[NewEvent::appeal(
                EventType::AppealDecided,
                decided,
                json!({}),
            )],
        )
        .await?;
    p.store
        .finish_appeal(
            conn,
            appeal.id,
            AppealStatus::Rejected,
            decision.client_id,
            None,
            record.into(),
        )
        .await?;
    Ok(Some(Processed {
        appeal_id: appeal.id,
        status: AppealStatus::Rejected,
        decision: decision.kind,
        client_id: decision.client_id,
        interest_id: None,
    }))
}

/// The routing step for a matched call.
pub(super) async fn route(
    p: &Pipeline,
    conn: &mut AnyConnection,
    later: &mut Deferred,
    appeal: &Appeal,
    client_id: i64,
    person_id: Option<i64>,
) -> Result<(AppealStatus, i64), StorageError> {
    // What follows reads and closes the interest's tasks: nothing held back.
    later.flush(&p.store, conn).await?;
    let mut call = facts(appeal)?;
    let stored = p.store.call_of_appeal(conn, appeal.id).await?;
    if let Some(url) = stored
        .as_ref()
        .and_then(|c| c.record.recording_url())
        .filter(|u| !u.trim().is_empty())
    {
        call.recording_url = Some(url.to_string());
    }
    let ended_at = stored
        .as_ref()
        .and_then(|c| c.record.ended_at())
        .unwrap_or_else(Utc::now);

    let (status, interest) = match p.store.open_interest_of(conn, client_id).await? {
        Some(open) => {
            p.store.touch_interest(conn, open.id).await?;
            later.linked(appeal, &open, "call");
            (AppealStatus::Linked, open)
        }
        None => {
            let id = p
                .create_interest_for(conn, later, appeal, client_id, person_id, None)
                .await?;
            later.flush(&p.store, conn).await?;
            let interest = p
                .store
                .interest_row(conn, id)
                .await?
                .ok_or(StorageError::NotFound("interest"))?;
            (AppealStatus::Created, interest)
        }
    };

    let answered = call.outcome == CallOutcome::Answered;
    let inbound = call.direction == CallDirection::Inbound;
    let summary = call_summary(&call);
    let interaction_id = if answered || !inbound {
        let result = summary.clone();
        Some(
            p.store
                .record_call_interaction(
                    conn,
                    &CallInteraction {
                        interest_id: interest.id,
                        direction: if inbound { "in" } else { "out" },
                        done_at_ms: to_ms(ended_at),
                        result,
                        author: call.employee,
                        recording_url: call.recording_url.as_deref(),
                        complete_planned: !inbound && answered,
                    },
                )
                .await?,
        )
    } else {
        None
    };
    p.store
        .add_feed_entry(
            conn,
            &NewFeedEntry {
                interest_id: interest.id,
                kind: "call",
                actor: call.employee,
                summary,
                data: json!({
                    "call_id": call.call_id,
                    "direction": call.direction,
                    "outcome": call.outcome,
                    "duration_secs": call.duration_secs,
                    "talk_secs": call.talk_secs,
                    "employee": call.employee,
                    "recording_url": call.recording_url,
                    "interaction_id": interaction_id,
                    "source": appeal.source,
                }),
                appeal_id: Some(appeal.id),
            },
        )
        .await?;

    if answered {
        let closed = p
            .store
            .close_tasks_of_purpose(conn, interest.id, CALLBACK_PURPOSE)
            .await?;
        for (task_id, title) in closed {
            let why = if inbound {
                "клиент перезвонил, разговор состоялся"
            } else {
                "клиенту перезвонили, разговор состоялся"
            };
            p.store
                .add_feed_entry(
                    conn,
                    &NewFeedEntry {
                        interest_id: interest.id,
                        kind: "task_done",
                        actor: None,
                        summary: format!("Задача «{title}» закрыта автоматически: {why}"),
                        data: json!({"task_id": task_id, "call_id": call.call_id, "closed_by": "leadgate"}),
                        appeal_id: Some(appeal.id),
                    },
                )
                .await?;
        }
    } else if inbound {
        let assignee = match interest.responsible.clone() {
            Some(login) => Some(login),
            None => on_duty(p, conn).await?,
        };
        let now = Utc::now();
        let due = now
            + chrono::Duration::minutes(i64::from(p.settings.calls.callback_due_minutes.max(1)));
        let created = p
            .store
            .add_task(
                conn,
                &NewTask {
                    interest_id: interest.id,
                    title: CALLBACK_TITLE,
                    assignee: assignee.as_deref(),
                    due_at: Some(due),
                    // Urgent: remind at once rather than before the due time.
                    reminder_at: Some(now),
                    purpose: Some(CALLBACK_PURPOSE.to_string()),
                    cause_key: format!("appeal:{}:{CALLBACK_PURPOSE}", appeal.id),
                },
            )
            .await?;
        if let Some(task_id) = created {
            p.store
                .add_feed_entry(
                    conn,
                    &NewFeedEntry {
                        interest_id: interest.id,
                        kind: "task_created",
                        actor: None,
                        summary: format!("Задача «{CALLBACK_TITLE}» (срочно)"),
                        data: json!({"task_id": task_id, "assignee": assignee, "due_at": due, "urgent": true, "call_id": call.call_id}),
                        appeal_id: Some(appeal.id),
                    },
                )
                .await?;
        }
    }
    if let Some(stored) = &stored {
        p.store
            .set_call_route(conn, stored.id, interest.id, interaction_id)
            .await?;
    }
    later.event(NewEvent::new(
        EventType::CallFinished,
        json!({"call": {
            "call_id": call.call_id,
            "direction": call.direction,
            "outcome": call.outcome,
            "duration_secs": call.duration_secs,
            "talk_secs": call.talk_secs,
            "employee": call.employee,
            "recording_url": call.recording_url,
            "ended_at": ended_at,
            "source": appeal.source,
            "appeal_id": appeal.id,
            "client_id": client_id,
            "interest_id": interest.id,
            "interaction_id": interaction_id,
        }}),
    ));
    // For the reports: the call, a callback of earlier missed calls, and
    // talking to the client (answered, or calling out) as the first action
    // on the interest's waiting appeals.
    let manager = call.employee.or(interest.responsible.as_deref());
    let calendar = &p.settings.calendar;
    p.store
        .log_call(
            conn,
            &CallLogEntry {
                appeal_id: appeal.id,
                interest_id: interest.id,
                at: appeal.received_at,
                inbound,
                answered,
                talk_secs: i64::from(call.talk_secs.unwrap_or(0)),
                manager,
                source: &appeal.source,
            },
            calendar,
        )
        .await?;
    if answered || !inbound {
        if let Some(by) = manager {
            let at = if inbound {
                appeal.received_at
            } else {
                ended_at
            };
            p.store
                .mark_first_action(conn, interest.id, at, by, calendar)
                .await?;
        }
    }
    Ok((status, interest.id))
}

/// The next on-duty login, in turn across instances; `None` when nobody is
/// on duty (the task is then unassigned and shows in the general queue).
async fn on_duty(p: &Pipeline, conn: &mut AnyConnection) -> Result<Option<String>, StorageError> {
    let list = &p.settings.calls.on_duty;
    if list.is_empty() {
        return Ok(None);
    }
    let n = p.store.next_counter(conn, "pbx_on_duty").await?;
    let idx = usize::try_from((n - 1).rem_euclid(list.len() as i64)).unwrap_or(0);
    Ok(list.get(idx).cloned())
}

fn call_summary(call: &CallFacts<'_>) -> String {
    let mut s = match (call.direction, call.outcome) {
        (CallDirection::Inbound, CallOutcome::Answered) => "Входящий звонок".to_string(),
        (CallDirection::Inbound, CallOutcome::Missed) => "Пропущенный звонок".to_string(),
        (CallDirection::Outbound, CallOutcome::Answered) => "Исходящий звонок".to_string(),
        (CallDirection::Outbound, CallOutcome::Missed) => {
            "Исходящий звонок: клиент не ответил".to_string()
        }
    };
    if let Some(talk) = call.talk_secs.filter(|t| *t > 0).or(call
        .duration_secs
        .filter(|_| call.outcome == CallOutcome::Answered))
    {
        s.push_str(&format!(", {}", minutes_seconds(talk)));
    }
    if let Some(employee) = call.employee {
        s.push_str(&format!(", сотрудник {employee}"));
    }
    if let Some(url) = &call.recording_url {
        s.push_str(&format!(", запись: {url}"));
    }
    s
}

fn minutes_seconds(secs: u32) -> String {
    match (secs / 60, secs % 60) {
        (0, s) => format!("{s} с"),
        (m, 0) => format!("{m} мин"),
        (m, s) => format!("{m} мин {s} с"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(minutes_seconds(5), "5 с");
        assert_eq!(minutes_seconds(120), "2 мин");
        assert_eq!(minutes_seconds(95), "1 мин 35 с");
    }
}
