//! From verified call events to stored calls and appeals.
//!
//! Each event is stored (idempotent on its key) and folded into its call's
//! record in one transaction. When the call is over, it becomes an appeal in
//! that same transaction, so an acknowledged webhook never leaves a finished
//! call without its appeal, nor an appeal twice.

use chrono::Utc;
use serde_json::{json, Map};

use super::settings::PbxSettings;
use super::{is_hidden_number, CallEvent, CallRecord, CallState, Direction};
use crate::SourceContext;
use leadgate_core::intake::Accepting;
use leadgate_core::settings::CoreSettings;
use leadgate_domain::appeal::{
    CallDirection, CallOutcome, Channel, ContactCard, Intent, NewAppeal,
};
use leadgate_domain::contact::Phone;
use leadgate_store::{AcceptedAppeal, StorageError, StoredCall};

/// What one webhook's events did.
#[derive(Debug, Default)]
pub struct Receipt {
    pub stored: usize,
    pub duplicates: usize,
    pub appeals: Vec<AcceptedAppeal>,
    pub hidden: usize,
    pub recordings: usize,
}

/// What becomes of a call, judged from its record.
#[derive(Debug)]
pub(crate) enum Fate {
    /// Not over yet (or over only by its legs, not yet settled).
    Wait,
    /// Internal or of unknown direction: kept, not an appeal.
    Ignore,
    /// The client's number cannot identify anybody: kept and counted, never matched.
    Hidden,
    Appeal(Box<NewAppeal>),
}

/// True when `raw` is a number the pipeline can match on.
fn usable_number(raw: &str, core: &CoreSettings) -> bool {
    !is_hidden_number(raw) && Phone::parse(raw, core.region()).is_ok()
}

/// `settled`: the call has been quiet long enough that an end seen only on
/// its legs can be trusted (see [`CallRecord::is_final`]).
pub(crate) fn fate(
    pbx: &PbxSettings,
    core: &CoreSettings,
    rec: &CallRecord,
    settled: bool,
) -> Fate {
    let over =
        rec.is_final() || (settled && matches!(rec.state(), CallState::Missed | CallState::Ended));
    if !over {
        return Fate::Wait;
    }
    let direction = match rec.direction() {
        Direction::Inbound => CallDirection::Inbound,
        Direction::Outbound => CallDirection::Outbound,
        Direction::Internal | Direction::Unknown => return Fate::Ignore,
    };
    let Some(number) = rec.client_number().filter(|n| usable_number(n, core)) else {
        return Fate::Hidden;
    };
    let outcome = if rec.is_answered() {
        CallOutcome::Answered
    } else {
        CallOutcome::Missed
    };
    let pbx_user = rec.employee();
    let employee =
        pbx_user.and_then(|u| pbx.employee_login(&core.managers, rec.provider(), rec.account(), u));
    let subject = match (direction, outcome) {
        (CallDirection::Inbound, CallOutcome::Missed) => "Пропущенный звонок",
        (CallDirection::Inbound, CallOutcome::Answered) => "Входящий звонок",
        (CallDirection::Outbound, CallOutcome::Answered) => "Исходящий звонок",
        (CallDirection::Outbound, CallOutcome::Missed) => "Исходящий звонок без ответа",
    };
    let mut text = match direction {
        CallDirection::Inbound => format!("{subject} с номера {number}"),
        CallDirection::Outbound => format!("{subject} на номер {number}"),
    };
    if let (CallDirection::Inbound, Some(line)) = (direction, rec.called_number()) {
        text.push_str(&format!(" на линию {line}"));
    }
    if let Some(talk) = rec.talk_duration().filter(|t| *t > 0) {
        text.push_str(&format!(", разговор {talk} с"));
    }
    if let Some(who) = employee.as_deref().or(pbx_user) {
        text.push_str(&format!(", сотрудник {who}"));
    }
    let mut attributes = Map::new();
    attributes.insert("pbx_provider".into(), json!(rec.provider()));
    attributes.insert("pbx_account".into(), json!(rec.account()));
    attributes.insert("call_id".into(), json!(rec.call_id()));
    for (key, value) in [
        ("pbx_employee", pbx_user),
        ("called", rec.called_number()),
        ("caller", rec.caller_number()),
        ("recording_id", rec.recording_id()),
    ] {
        if let Some(v) = value {
            attributes.insert(key.into(), json!(v));
        }
    }
    for (key, value) in [
        ("started_at", rec.started_at()),
        ("answered_at", rec.answered_at()),
        ("ended_at", rec.ended_at()),
    ] {
        if let Some(t) = value {
            attributes.insert(key.into(), json!(t));
        }
    }
    Fate::Appeal(Box::new(NewAppeal {
        channel: Channel::Phone,
        source: format!("pbx:{}:{}", rec.provider(), rec.account()),
        external_id: rec.call_id().to_string(),
        received_at: rec.started_at().unwrap_or_else(Utc::now),
        contact: ContactCard {
            phones: vec![number.to_string()],
            ..ContactCard::default()
        },
        subject: Some(subject.to_string()),
        text: Some(text),
        attachments: Vec::new(),
        attributes,
        raw_payload: serde_json::to_string(rec).unwrap_or_else(|_| "null".into()),
        intent: Intent::Call {
            direction,
            outcome,
            duration_secs: rec.duration(),
            talk_secs: rec.talk_duration(),
            employee,
            recording_url: rec.recording_url().map(str::to_string),
            call_id: rec.call_id().to_string(),
        },
    }))
}

/// Stores the events of one webhook and whatever they make of their calls.
pub async fn receive(state: &SourceContext, events: &[CallEvent]) -> Result<Receipt, StorageError> {
    let mut receipt = Receipt::default();
    if events.is_empty() {
        return Ok(receipt);
    }
    let store = &state.store;
    let mut tx = state.intake.begin().await?;
    for ev in events {
        if !store.insert_call_event(tx.conn(), ev).await? {
            receipt.duplicates += 1;
            continue;
        }
        receipt.stored += 1;
        let mut call = store.lock_call(tx.conn(), ev).await?;
        let recording_before = call.record.recording_url().map(str::to_string);
        call.record.apply(ev);
        decide(state, &mut tx, &mut call, false, &mut receipt).await?;
        if let Some(url) = call.record.recording_url() {
            if recording_before.as_deref() != Some(url)
                && store.attach_call_recording(tx.conn(), &call, url).await?
            {
                receipt.recordings += 1;
            }
        }
    }
    tx.commit().await?;
    account(state, events.first().map(|e| e.provider.as_str()), &receipt);
    Ok(receipt)
}

/// Saves the call and, when it is over and has no appeal yet, stores its appeal.
async fn decide(
    state: &SourceContext,
    tx: &mut Accepting,
    call: &mut StoredCall,
    settled: bool,
    receipt: &mut Receipt,
) -> Result<(), StorageError> {
    let fate = if call.appeal_id.is_some() {
        Fate::Wait
    } else {
        fate(&state.settings.pbx, &state.core, &call.record, settled)
    };
    if matches!(fate, Fate::Hidden) && !call.hidden {
        call.hidden = true;
        receipt.hidden += 1;
    }
    state.store.save_call(tx.conn(), call).await?;
    if let Fate::Appeal(appeal) = fate {
        let accepted = tx.submit(&appeal).await?;
        state
            .store
            .link_call_appeal(tx.conn(), call.id, accepted.id)
            .await?;
        call.appeal_id = Some(accepted.id);
        receipt.appeals.push(accepted);
    }
    Ok(())
}

fn account(state: &SourceContext, provider: Option<&str>, receipt: &Receipt) {
    let provider = provider.unwrap_or("pbx");
    let m = &state.metrics;
    for _ in 0..receipt.stored {
        m.pbx_event(provider, "stored");
    }
    for _ in 0..receipt.duplicates {
        m.pbx_event(provider, "duplicate");
    }
    for _ in 0..receipt.hidden {
        m.pbx_event(provider, "hidden_number");
    }
    for _ in 0..receipt.recordings {
        m.pbx_event(provider, "recording_attached");
    }
}

/// Decides calls whose PBX never sent a call-level end, once every leg has
/// ended and they were quiet for `pbx.settle_secs`. Returns how many became
/// appeals or were set aside as hidden.
pub async fn settle_quiet_calls(state: &SourceContext) -> Result<usize, StorageError> {
    let quiet_ms =
        i64::try_from(state.settings.pbx.settle_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let since = Utc::now().timestamp_millis().saturating_sub(quiet_ms);
    let keys = state.store.unsettled_call_keys(since, 100).await?;
    let mut decided = 0;
    for (provider, account_label, call_id) in keys {
        let mut receipt = Receipt::default();
        let mut tx = state.intake.begin().await?;
        let Some(mut call) = state
            .store
            .lock_call_by_key(tx.conn(), &provider, &account_label, &call_id)
            .await?
        else {
            continue;
        };
        decide(state, &mut tx, &mut call, true, &mut receipt).await?;
        tx.commit().await?;
        decided += receipt.appeals.len() + receipt.hidden;
        account(state, Some(&provider), &receipt);
    }
    Ok(decided)
}
