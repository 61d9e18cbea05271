//! The stage service: what the API and the board do to an interest. Every
//! command loads the interest (locked), builds the engine's snapshot from
//! storage, asks [`leadgate_domain::scenario::Engine::decide`] and writes the outcome,
//! all in one transaction.

mod sweeper;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use crate::outbox::Outbox;
use crate::settings::CoreSettings as Settings;
use leadgate_domain::event::interest_events;
use leadgate_domain::interest::{Interest, InterestStatus, Task};
use leadgate_domain::role::Role;
use leadgate_domain::routing::Router;
use leadgate_domain::scenario::{
    health, Assignee, Colour, Command, Event, EventKind, InteractionKind, NextStep, OrderEvent,
    OrderTotals, Outcome, PaymentEvent, ShipmentEvent, StageKind, TransitionError,
};
use leadgate_store::{InterestFacts, NewFeedEntry, NewTask, StorageError, Store, StoredEvent};

pub use crate::scope::Scope;
pub use sweeper::spawn_sweeper;

/// Who acts, and which responsibles' interests they may see and change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub login: String,
    pub role: Role,
    pub scope: Scope,
}

#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("this role or user may not do that")]
    Forbidden,
    /// The command was refused; `field` names the request field at fault.
    #[error("{detail}")]
    Refused {
        field: Option<&'static str>,
        detail: String,
    },
    /// The command is well-formed but the record's current state refuses
    /// it (a finished interest, a task already done, a move the stage does
    /// not allow); asking again after the state changes may succeed.
    #[error("{detail}")]
    Conflict {
        field: Option<&'static str>,
        detail: String,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl StageError {
    pub fn refused(field: &'static str, detail: impl Into<String>) -> StageError {
        StageError::Refused {
            field: Some(field),
            detail: detail.into(),
        }
    }

    pub fn conflict(field: &'static str, detail: impl Into<String>) -> StageError {
        StageError::Conflict {
            field: Some(field),
            detail: detail.into(),
        }
    }
}

impl From<TransitionError> for StageError {
    fn from(error: TransitionError) -> Self {
        use TransitionError as E;
        let state = matches!(
            &error,
            E::NothingPlanned
                | E::NotAllowed { .. }
                | E::SameStage(_)
                | E::RequirementsNotMet { .. }
                | E::Finished(_)
                | E::LossPending
                | E::NotLossPending
                | E::NoHead { .. }
        );
        let field = match &error {
            E::NothingPlanned | E::NextStepInPast(_) => Some("next"),
            E::EmptyNextStepTitle => Some("next.title"),
            E::EmptyResult => Some("result"),
            E::LossReasonRequired | E::UnknownLossReason { .. } => Some("reason"),
            E::LossCommentRequired => Some("comment"),
            E::NotAllowed { .. }
            | E::SameStage(_)
            | E::UnknownStage { .. }
            | E::UseCloseLost(_)
            | E::NotALostStage(_)
            | E::NotAWorkingStage(_)
            | E::RequirementsNotMet { .. } => Some("to"),
            E::Finished(_) | E::LossPending | E::NotLossPending => Some("status"),
            E::NoHead { .. } => Some("responsible"),
            E::UnknownOrder(_) | E::EmptyOrderId => Some("order_id"),
            E::NonPositiveAmount(_) | E::NegativeOrderAmount(_) | E::AmountOverflow => {
                Some("amount")
            }
            E::NotTheApprover { .. } => return StageError::Forbidden,
            E::MissingActor => Some("by"),
            E::UnknownScenario(_) | E::Config(_) | E::NotCreated | E::AlreadyCreated(_) => {
                return StageError::Storage(StorageError::Corrupt(format!(
                    "the stage engine refused a stored interest: {error}"
                )))
            }
        };
        let detail = error.to_string();
        if state {
            StageError::Conflict { field, detail }
        } else {
            StageError::Refused { field, detail }
        }
    }
}

/// The next step as the API takes it; the assignee of a task is
/// `responsible` (default), `head` or `user:<login>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextStepRequest {
    Interaction {
        kind: InteractionKind,
        at: DateTime<Utc>,
        subject: String,
    },
    Task {
        title: String,
        due: DateTime<Utc>,
        assignee: Option<String>,
    },
    Nothing,
}

impl NextStepRequest {
    fn into_engine(self, actor: &Actor) -> Result<NextStep, StageError> {
        Ok(match self {
            NextStepRequest::Interaction { kind, at, subject } => {
                NextStep::Interaction { kind, at, subject }
            }
            NextStepRequest::Task {
                title,
                due,
                assignee,
            } => NextStep::Task {
                title,
                due,
                assignee: match assignee.as_deref() {
                    None | Some("") => Assignee::Responsible,
                    Some(raw) => {
                        let assignee = Assignee::parse(raw)
                            .map_err(|message| StageError::refused("next.assignee", message))?;
                        if let Assignee::User(login) = &assignee {
                            check_assignable(actor, login, "next.assignee")?;
                        }
                        assignee
                    }
                },
            },
            NextStepRequest::Nothing => NextStep::Nothing {
                chosen_by: actor.login.clone(),
            },
        })
    }
}

/// A task goes by name only to someone in the actor's own scope: a manager
/// assigns to themselves (or to the interest's `responsible` / `head`), a
/// head within the department. Otherwise anybody could push work, and with
/// it reminder mails, onto any login.
fn check_assignable(actor: &Actor, login: &str, field: &'static str) -> Result<(), StageError> {
    if actor.scope.covers(Some(login)) {
        Ok(())
    } else {
        Err(StageError::refused(
            field,
            format!("`{login}` is not among the people you may assign tasks to"),
        ))
    }
}

/// A manual command on an interest, as the API and the board send it.
#[derive(Debug, Clone)]
pub enum StageCommand {
    /// To a working or won stage; to a lost stage it becomes a close-lost
    /// request with `reason` and `comment`.
    Transition {
        to: String,
        result: String,
        next: Option<NextStepRequest>,
        reason: Option<String>,
        comment: Option<String>,
    },
    CloseLost {
        to: Option<String>,
        reason: String,
        comment: String,
    },
    ApproveLoss {
        comment: String,
    },
    ReturnFromLoss {
        to: String,
        comment: String,
        next: Option<NextStepRequest>,
    },
}

/// An order, payment or shipment from the ERP. Amounts are integer kopecks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErpEvent {
    pub event_id: String,
    pub kind: EventKind,
    pub order_id: String,
    /// Required for an order the first time; payments and shipments find
    /// the interest through their order.
    pub interest_id: Option<i64>,
    pub amount: i64,
    pub at: Option<DateTime<Utc>>,
}

/// What an ERP event did (or did the first time, for a redelivery).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EventReceipt {
    pub event_id: String,
    /// `true` when the id was seen before: nothing was changed now.
    pub duplicate: bool,
    pub interest_id: i64,
    #[schema(value_type = Object)]
    pub result: serde_json::Value,
}

/// A stage the interest may be moved to by hand now.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct AllowedTransition {
    pub id: String,
    pub name: String,
    /// `working`, `won` or `lost` (lost goes through close-lost).
    pub kind: String,
}

fn kind_str(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Order => "order",
        EventKind::Payment => "payment",
        EventKind::Shipment => "shipment",
    }
}

fn interaction_word(kind: InteractionKind) -> &'static str {
    match kind {
        InteractionKind::Call => "Звонок",
        InteractionKind::Meeting => "Встреча",
        InteractionKind::Email => "Письмо",
        InteractionKind::Message => "Сообщение",
    }
}

pub fn interaction_kind_str(kind: InteractionKind) -> &'static str {
    match kind {
        InteractionKind::Call => "call",
        InteractionKind::Meeting => "meeting",
        InteractionKind::Email => "email",
        InteractionKind::Message => "message",
    }
}

/// The purpose of the tasks a stage sets when it is entered.
fn leaving_purpose(stage: &str) -> String {
    leadgate_domain::scenario::TaskPurpose::StageEntry {
        stage: stage.to_owned(),
    }
    .key()
}

/// A unique cause for a manual command: its tasks never collide with another
/// command's (replays of manual commands are not a thing; events have ids).
fn manual_cause(interest_id: i64) -> String {
    format!(
        "api:{interest_id}:{}:{:016x}",
        Utc::now().timestamp_millis(),
        rand::random::<u64>()
    )
}

pub struct Stage {
    store: Store,
    settings: Arc<Settings>,
    router: Arc<Router>,
    outbox: Arc<dyn Outbox>,
}

impl Stage {
    pub fn new(
        store: Store,
        settings: Arc<Settings>,
        router: Arc<Router>,
        outbox: Arc<dyn Outbox>,
    ) -> Stage {
        Stage {
            store,
            settings,
            router,
            outbox,
        }
    }

    /// Who acts and what they see: a manager their own interests, a head
    /// everybody's in the departments they head or belong to (users of the
    /// database, which mirrors `[[managers]]`), an admin all; operators have
    /// no board. `department` is the user's own, when known.
    pub async fn actor(
        &self,
        login: &str,
        role: Role,
        department: Option<&str>,
    ) -> Result<Actor, StageError> {
        let scope = Scope::of(&self.store, &self.settings, login, role, department)
            .await?
            .ok_or(StageError::Forbidden)?;
        Ok(Actor {
            login: login.to_owned(),
            role,
            scope,
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn router(&self) -> &Router {
        &self.router
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The interest's health colour now, in the configured calendar's zone.
    pub fn colour(&self, due: &[DateTime<Utc>], now: DateTime<Utc>) -> Colour {
        health(now, due, &[], &self.settings.calendar)
    }

    /// Stages the interest may be moved to by hand now (none unless open).
    pub fn allowed_transitions(&self, interest: &Interest) -> Vec<AllowedTransition> {
        if interest.status != InterestStatus::Open {
            return Vec::new();
        }
        let Some(scenario) = self.router.scenarios().scenario(&interest.scenario) else {
            return Vec::new();
        };
        let Some(stage) = scenario.stage(&interest.stage) else {
            return Vec::new();
        };
        stage
            .transitions
            .iter()
            .filter_map(|id| scenario.stage(id))
            .map(|target| AllowedTransition {
                id: target.id.clone(),
                name: target.name.clone(),
                kind: match target.kind {
                    StageKind::Working => "working",
                    StageKind::Won => "won",
                    StageKind::Lost => "lost",
                }
                .to_owned(),
            })
            .collect()
    }

    pub fn loss_reasons(&self, interest: &Interest) -> Vec<String> {
        self.router
            .scenarios()
            .scenario(&interest.scenario)
            .map(|s| s.loss_reasons.clone())
            .unwrap_or_default()
    }

    /// The interest, if it exists and `actor` may see it.
    pub async fn visible_interest(
        &self,
        actor: &Actor,
        id: i64,
    ) -> Result<leadgate_store::InterestDetails, StageError> {
        let details = self
            .store
            .interest(id)
            .await?
            .ok_or(StageError::NotFound("interest"))?;
        self.check_visible(actor, &details.interest)?;
        Ok(details)
    }

    /// A head also decides on losses assigned to them, whoever is responsible.
    fn check_visible(&self, actor: &Actor, interest: &Interest) -> Result<(), StageError> {
        if actor.scope.covers(interest.responsible.as_deref()) {
            return Ok(());
        }
        let head = interest
            .responsible
            .as_deref()
            .and_then(|r| self.router.head_of(r));
        if head.as_deref() == Some(actor.login.as_str()) {
            return Ok(());
        }
        // Out of scope reads as absent: an id's existence is not disclosed.
        Err(StageError::NotFound("interest"))
    }

    /// Decides `command` on the interest and writes the outcome, in one
    /// transaction with the interest row locked.
    pub async fn command(
        &self,
        actor: &Actor,
        interest_id: i64,
        command: StageCommand,
    ) -> Result<Outcome, StageError> {
        let mut tx = self.store.begin_write().await?;
        let interest = self
            .store
            .lock_interest(tx.conn(), interest_id)
            .await?
            .ok_or(StageError::NotFound("interest"))?;
        self.check_visible(actor, &interest)?;
        let command = self.engine_command(actor, &interest, command)?;
        let mut facts = self.store.interest_facts(tx.conn(), &interest).await?;
        // A manual move leaves its stage's work behind: the tasks the stage
        // set are done with the result the manager typed (1C:CRM closes the
        // stage's task the same way), so they neither count as "something
        // planned" nor turn the card red later.
        let leaving = match &command {
            Command::Transition { to, result, .. } if to != &interest.stage => {
                let purpose = leaving_purpose(&interest.stage);
                let open = self
                    .store
                    .open_tasks_of_purpose(tx.conn(), interest_id, &purpose)
                    .await?;
                facts.open_tasks = facts.open_tasks.saturating_sub(open);
                (open > 0).then(|| (purpose, result.trim().to_owned()))
            }
            _ => None,
        };
        let snapshot = self.router.snapshot(&interest, &facts);
        let outcome = self
            .router
            .engine()
            .decide(&snapshot, &command, Utc::now())?;
        if let Some((purpose, result)) = leaving {
            let closed = self
                .store
                .complete_tasks_of_purpose(tx.conn(), interest_id, &purpose, &actor.login, &result)
                .await?;
            for (task_id, title) in closed {
                self.store
                    .add_feed_entry(
                        tx.conn(),
                        &NewFeedEntry {
                            interest_id,
                            kind: "task_done",
                            actor: Some(&actor.login),
                            summary: format!("Задача «{title}» выполнена при переводе: {result}"),
                            data: json!({"task_id": task_id, "result": result}),
                            appeal_id: None,
                        },
                    )
                    .await?;
            }
        }
        self.store
            .apply_outcome(
                tx.conn(),
                interest_id,
                &outcome,
                &manual_cause(interest_id),
                None,
            )
            .await?;
        self.store
            .append_events(tx.conn(), &interest_events(&interest, &outcome, Utc::now()))
            .await?;
        self.store
            .mark_first_action(
                tx.conn(),
                interest_id,
                Utc::now(),
                &actor.login,
                &self.settings.calendar,
            )
            .await?;
        tx.commit().await?;
        tracing::info!(
            interest_id,
            actor = %actor.login,
            stage = %outcome.new_stage,
            status = ?outcome.new_status,
            "interest command applied"
        );
        Ok(outcome)
    }

    fn engine_command(
        &self,
        actor: &Actor,
        interest: &Interest,
        command: StageCommand,
    ) -> Result<Command, StageError> {
        let by = actor.login.clone();
        Ok(match command {
            StageCommand::Transition {
                to,
                result,
                next,
                reason,
                comment,
            } => {
                let lost = self
                    .router
                    .scenarios()
                    .scenario(&interest.scenario)
                    .and_then(|s| s.stage(&to))
                    .is_some_and(|s| s.kind == StageKind::Lost);
                if lost {
                    let reason = reason.unwrap_or_default();
                    if reason.trim().is_empty() {
                        return Err(StageError::refused(
                            "reason",
                            "closing as lost needs a reason (one of the scenario's loss_reasons)",
                        ));
                    }
                    Command::CloseLost {
                        to: Some(to),
                        reason,
                        comment: comment.unwrap_or(result),
                        by,
                    }
                } else {
                    Command::Transition {
                        to,
                        result,
                        next: next.map(|n| n.into_engine(actor)).transpose()?,
                        by,
                    }
                }
            }
            StageCommand::CloseLost {
                to,
                reason,
                comment,
            } => Command::CloseLost {
                to,
                reason,
                comment,
                by,
            },
            StageCommand::ApproveLoss { comment } => Command::ApproveLoss { by, comment },
            StageCommand::ReturnFromLoss { to, comment, next } => Command::ReturnFromLoss {
                to,
                by,
                comment,
                next: next.map(|n| n.into_engine(actor)).transpose()?,
            },
        })
    }

    /// Applies an ERP event exactly once per `event_id`: the event record, the
    /// order totals and the engine's outcome are one transaction, so a
    /// redelivery finds the record and changes nothing.
    pub async fn event(&self, event: ErpEvent) -> Result<EventReceipt, StageError> {
        if event.event_id.trim().is_empty() {
            return Err(StageError::refused(
                "event_id",
                "event_id must not be empty",
            ));
        }
        if event.order_id.trim().is_empty() {
            return Err(StageError::refused(
                "order_id",
                "order_id must not be empty",
            ));
        }
        let mut tx = self.store.begin_write().await?;
        if let Some(stored) = self.store.stored_event(tx.conn(), &event.event_id).await? {
            tx.commit().await?;
            return self.redelivery(&event, stored);
        }
        let known = self
            .store
            .order_interest(tx.conn(), &event.order_id)
            .await?;
        let interest_id = match (event.kind, known, event.interest_id) {
            (_, Some(owner), Some(given)) if owner != given => {
                return Err(StageError::conflict(
                    "interest_id",
                    format!(
                        "order {} belongs to interest {owner}, not {given}",
                        event.order_id
                    ),
                ))
            }
            (_, Some(owner), _) => owner,
            (EventKind::Order, None, Some(given)) => given,
            (EventKind::Order, None, None) => {
                return Err(StageError::refused(
                    "interest_id",
                    "a new order needs the interest_id it belongs to",
                ))
            }
            (_, None, _) => {
                return Err(StageError::conflict(
                    "order_id",
                    format!(
                        "unknown order {:?}: send the order event first",
                        event.order_id
                    ),
                ))
            }
        };
        let interest = self
            .store
            .lock_interest(tx.conn(), interest_id)
            .await?
            .ok_or_else(|| {
                StageError::refused("interest_id", format!("no interest {interest_id}"))
            })?;
        let at = event.at.unwrap_or_else(Utc::now);
        let engine_event = match event.kind {
            EventKind::Order => Event::Order(OrderEvent {
                order_id: event.order_id.clone(),
                amount: event.amount,
                at,
            }),
            EventKind::Payment => Event::Payment(PaymentEvent {
                order_id: event.order_id.clone(),
                amount: event.amount,
                at,
            }),
            EventKind::Shipment => Event::Shipment(ShipmentEvent {
                order_id: event.order_id.clone(),
                amount: event.amount,
                at,
            }),
        };
        let facts = self.store.interest_facts(tx.conn(), &interest).await?;
        let snapshot = self.router.snapshot(&interest, &facts);
        let outcome =
            self.router
                .engine()
                .decide(&snapshot, &Command::Event(engine_event), Utc::now())?;
        let result = json!({
            "stage_before": interest.stage,
            "stage": outcome.new_stage,
            "status": outcome.new_status,
            "order": outcome.order_update,
            "potential_amount": outcome.potential_amount,
        });
        let recorded = self
            .store
            .record_event(
                tx.conn(),
                &StoredEvent {
                    event_id: event.event_id.clone(),
                    kind: kind_str(event.kind).to_owned(),
                    order_id: event.order_id.clone(),
                    interest_id,
                    amount: event.amount,
                    result: result.clone(),
                },
            )
            .await?;
        if !recorded {
            // Another instance took the same event id between our look-up and
            // the insert (PostgreSQL waits for its commit): answer as a
            // redelivery and write nothing.
            drop(tx);
            let mut conn = self
                .store
                .pool()
                .acquire()
                .await
                .map_err(StorageError::from)?;
            let stored = self
                .store
                .stored_event(&mut conn, &event.event_id)
                .await?
                .ok_or(StageError::NotFound("event"))?;
            return self.redelivery(&event, stored);
        }
        self.store
            .apply_outcome(
                tx.conn(),
                interest_id,
                &outcome,
                &format!("event:{}", event.event_id),
                None,
            )
            .await?;
        self.store
            .append_events(tx.conn(), &interest_events(&interest, &outcome, Utc::now()))
            .await?;
        tx.commit().await?;
        tracing::info!(
            event_id = %event.event_id,
            kind = kind_str(event.kind),
            interest_id,
            stage = %outcome.new_stage,
            "ERP event applied"
        );
        Ok(EventReceipt {
            event_id: event.event_id,
            duplicate: false,
            interest_id,
            result,
        })
    }

    fn redelivery(
        &self,
        event: &ErpEvent,
        stored: StoredEvent,
    ) -> Result<EventReceipt, StageError> {
        let same = stored.kind == kind_str(event.kind)
            && stored.order_id == event.order_id
            && stored.amount == event.amount
            && event.interest_id.is_none_or(|id| id == stored.interest_id);
        if !same {
            return Err(StageError::conflict(
                "event_id",
                format!(
                    "event_id {:?} was already used for a different event ({} of {} kopecks on order {:?})",
                    stored.event_id, stored.kind, stored.amount, stored.order_id
                ),
            ));
        }
        Ok(EventReceipt {
            event_id: stored.event_id,
            duplicate: true,
            interest_id: stored.interest_id,
            result: stored.result,
        })
    }

    /// Adds a task by hand (purpose `manual`).
    pub async fn add_task(
        &self,
        actor: &Actor,
        interest_id: i64,
        title: &str,
        due: DateTime<Utc>,
        assignee: Option<&str>,
    ) -> Result<i64, StageError> {
        let title = title.trim();
        if title.is_empty() {
            return Err(StageError::refused("title", "title must not be empty"));
        }
        let mut tx = self.store.begin_write().await?;
        let interest = self
            .store
            .lock_interest(tx.conn(), interest_id)
            .await?
            .ok_or(StageError::NotFound("interest"))?;
        // Existence and scope first: an id the caller may not see answers
        // 404 whatever the body says.
        self.check_visible(actor, &interest)?;
        if due < Utc::now() {
            return Err(StageError::refused("due", "due is in the past"));
        }
        if interest.status.is_finished() {
            return Err(StageError::conflict(
                "status",
                "the interest is finished and takes no new tasks",
            ));
        }
        let assignee = self.resolve_assignee(actor, &interest, assignee, "assignee")?;
        let task_id = self
            .store
            .add_task(
                tx.conn(),
                &NewTask {
                    interest_id,
                    title,
                    assignee: Some(&assignee),
                    due_at: Some(due),
                    reminder_at: None,
                    purpose: Some("manual".to_owned()),
                    cause_key: manual_cause(interest_id),
                },
            )
            .await?
            .ok_or_else(|| StorageError::Corrupt("manual task cause collided".into()))?;
        self.store
            .add_feed_entry(
                tx.conn(),
                &NewFeedEntry {
                    interest_id,
                    kind: "task_created",
                    actor: Some(&actor.login),
                    summary: format!("Задача «{title}» ({assignee})"),
                    data: json!({"task_id": task_id, "assignee": assignee, "due_at": due}),
                    appeal_id: None,
                },
            )
            .await?;
        tx.commit().await?;
        Ok(task_id)
    }

    fn resolve_assignee(
        &self,
        actor: &Actor,
        interest: &Interest,
        raw: Option<&str>,
        field: &'static str,
    ) -> Result<String, StageError> {
        let assignee = match raw.map(str::trim) {
            None | Some("") => Assignee::Responsible,
            Some(raw) => {
                Assignee::parse(raw).map_err(|message| StageError::refused(field, message))?
            }
        };
        let responsible = interest.responsible.clone().unwrap_or_default();
        let login = match assignee {
            Assignee::Responsible => responsible,
            Assignee::Head => self.router.head_of(&responsible).unwrap_or_default(),
            Assignee::User(login) => {
                check_assignable(actor, &login, field)?;
                login
            }
        };
        if login.is_empty() {
            return Err(StageError::conflict(
                field,
                "nobody to assign: the interest has no responsible or the department no head",
            ));
        }
        Ok(login)
    }

    /// Completes a task. Completing the last thing planned on an open
    /// interest needs a next step (or an explicit `nothing`), like a move.
    pub async fn complete_task(
        &self,
        actor: &Actor,
        task_id: i64,
        result: Option<&str>,
        next: Option<NextStepRequest>,
    ) -> Result<Task, StageError> {
        let task = self
            .store
            .task(task_id)
            .await?
            .ok_or(StageError::NotFound("task"))?;
        let mut tx = self.store.begin_write().await?;
        let interest = self
            .store
            .lock_interest(tx.conn(), task.interest_id)
            .await?
            .ok_or(StageError::NotFound("interest"))?;
        if task.assignee.as_deref() != Some(actor.login.as_str()) {
            self.check_visible(actor, &interest)
                .map_err(|_| StageError::NotFound("task"))?;
        }
        if !self
            .store
            .complete_task(tx.conn(), task_id, &actor.login)
            .await?
        {
            return Err(StageError::conflict("status", "the task is not open"));
        }
        let result = result.map(str::trim).filter(|r| !r.is_empty());
        if let Some(result) = result {
            self.store
                .set_task_result(tx.conn(), task_id, result)
                .await?;
        }
        let summary = match result {
            Some(result) => format!("Задача «{}» выполнена: {result}", task.title),
            None => format!("Задача «{}» выполнена", task.title),
        };
        self.store
            .add_feed_entry(
                tx.conn(),
                &NewFeedEntry {
                    interest_id: interest.id,
                    kind: "task_done",
                    actor: Some(&actor.login),
                    summary,
                    data: json!({"task_id": task_id, "result": result}),
                    appeal_id: None,
                },
            )
            .await?;
        let mut planned_now = false;
        match next {
            Some(NextStepRequest::Interaction { kind, at, subject }) => {
                if at < Utc::now() {
                    return Err(StageError::refused(
                        "next.at",
                        "the next step is in the past",
                    ));
                }
                self.plan_interaction(&mut tx, &interest, kind, at, &subject, &actor.login)
                    .await?;
                planned_now = true;
            }
            Some(NextStepRequest::Task {
                title,
                due,
                assignee,
            }) => {
                if title.trim().is_empty() {
                    return Err(StageError::refused(
                        "next.title",
                        "the next step task has no title",
                    ));
                }
                if due < Utc::now() {
                    return Err(StageError::refused(
                        "next.due",
                        "the next step is in the past",
                    ));
                }
                let assignee =
                    self.resolve_assignee(actor, &interest, assignee.as_deref(), "next.assignee")?;
                self.store
                    .add_task(
                        tx.conn(),
                        &NewTask {
                            interest_id: interest.id,
                            title: title.trim(),
                            assignee: Some(&assignee),
                            due_at: Some(due),
                            reminder_at: None,
                            purpose: Some("next_step".to_owned()),
                            cause_key: manual_cause(interest.id),
                        },
                    )
                    .await?;
                planned_now = true;
            }
            Some(NextStepRequest::Nothing) => {
                self.store
                    .add_feed_entry(
                        tx.conn(),
                        &NewFeedEntry {
                            interest_id: interest.id,
                            kind: "next_step_skipped",
                            actor: Some(&actor.login),
                            summary: format!(
                                "Следующий шаг не запланирован (решение: {})",
                                actor.login
                            ),
                            data: json!({"task_id": task_id}),
                            appeal_id: None,
                        },
                    )
                    .await?;
                planned_now = true;
            }
            None => {}
        }
        self.store
            .mark_first_action(
                tx.conn(),
                interest.id,
                Utc::now(),
                &actor.login,
                &self.settings.calendar,
            )
            .await?;
        if interest.status == InterestStatus::Open && !planned_now {
            let facts: InterestFacts = self.store.interest_facts(tx.conn(), &interest).await?;
            if facts.open_tasks == 0 && facts.planned_interactions == 0 {
                return Err(StageError::conflict(
                    "next",
                    "this was the last thing planned on the interest: plan an interaction or a task, or choose nothing explicitly",
                ));
            }
        }
        tx.commit().await?;
        self.store
            .task(task_id)
            .await?
            .ok_or(StageError::NotFound("task"))
    }

    async fn plan_interaction(
        &self,
        tx: &mut leadgate_store::WriteTx,
        interest: &Interest,
        kind: InteractionKind,
        at: DateTime<Utc>,
        subject: &str,
        author: &str,
    ) -> Result<i64, StageError> {
        let subject = Some(subject.trim()).filter(|s| !s.is_empty());
        let id = self
            .store
            .add_interaction(
                tx.conn(),
                interest.id,
                interaction_kind_str(kind),
                Some(at),
                None,
                subject,
                None,
                author,
            )
            .await?;
        let local = at.with_timezone(&self.settings.calendar.tz());
        self.store
            .add_feed_entry(
                tx.conn(),
                &NewFeedEntry {
                    interest_id: interest.id,
                    kind: "interaction_planned",
                    actor: Some(author),
                    summary: format!(
                        "Запланировано: {} на {}{}",
                        interaction_word(kind).to_lowercase(),
                        local.format("%d.%m.%Y %H:%M"),
                        subject.map(|s| format!(" — {s}")).unwrap_or_default()
                    ),
                    data: json!({"interaction_id": id, "kind": interaction_kind_str(kind), "planned_at": at}),
                    appeal_id: None,
                },
            )
            .await?;
        Ok(id)
    }

    /// Plans (`planned_at`) or records (`done_at` + `result`) an interaction.
    #[allow(clippy::too_many_arguments)]
    pub async fn interaction(
        &self,
        actor: &Actor,
        interest_id: i64,
        kind: InteractionKind,
        planned_at: Option<DateTime<Utc>>,
        done_at: Option<DateTime<Utc>>,
        subject: Option<&str>,
        result: Option<&str>,
    ) -> Result<i64, StageError> {
        let mut tx = self.store.begin_write().await?;
        let interest = self
            .store
            .lock_interest(tx.conn(), interest_id)
            .await?
            .ok_or(StageError::NotFound("interest"))?;
        self.check_visible(actor, &interest)?;
        let now = Utc::now();
        match (planned_at, done_at) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(StageError::refused(
                    "planned_at",
                    "give planned_at to plan an interaction or done_at (with result) to record one",
                ))
            }
            (Some(at), None) if at < now => {
                return Err(StageError::refused(
                    "planned_at",
                    "planned_at is in the past",
                ))
            }
            (None, Some(at)) if at > now => {
                return Err(StageError::refused(
                    "done_at",
                    "done_at is in the future: plan it with planned_at instead",
                ))
            }
            _ => {}
        }
        let result = result.map(str::trim).filter(|r| !r.is_empty());
        if done_at.is_some() && result.is_none() {
            return Err(StageError::refused(
                "result",
                "a recorded interaction needs its result",
            ));
        }
        let id = match (planned_at, done_at) {
            (Some(at), _) => {
                if interest.status.is_finished() {
                    return Err(StageError::conflict(
                        "status",
                        "the interest is finished: nothing can be planned on it",
                    ));
                }
                self.plan_interaction(
                    &mut tx,
                    &interest,
                    kind,
                    at,
                    subject.unwrap_or_default(),
                    &actor.login,
                )
                .await?
            }
            (None, Some(at)) => {
                let subject = subject.map(str::trim).filter(|s| !s.is_empty());
                let id = self
                    .store
                    .add_interaction(
                        tx.conn(),
                        interest_id,
                        interaction_kind_str(kind),
                        None,
                        Some(at),
                        subject,
                        result,
                        &actor.login,
                    )
                    .await?;
                self.store
                    .add_feed_entry(
                        tx.conn(),
                        &NewFeedEntry {
                            interest_id,
                            kind: "interaction",
                            actor: Some(&actor.login),
                            summary: format!(
                                "{}: {}",
                                interaction_word(kind),
                                result.unwrap_or_default()
                            ),
                            data: json!({"interaction_id": id, "kind": interaction_kind_str(kind), "done_at": at}),
                            appeal_id: None,
                        },
                    )
                    .await?;
                self.store
                    .mark_first_action(
                        tx.conn(),
                        interest_id,
                        at,
                        &actor.login,
                        &self.settings.calendar,
                    )
                    .await?;
                id
            }
            (None, None) => return Err(StageError::refused("planned_at", "nothing given")),
        };
        tx.commit().await?;
        Ok(id)
    }

    pub async fn orders(&self, interest_id: i64) -> Result<Vec<OrderTotals>, StageError> {
        Ok(self.store.interest_orders(interest_id).await?)
    }

    /// People `actor` may hand work to (a task) or whose interests they see:
    /// an admin everybody who works deals; a head their departments; a
    /// manager themselves, their department's colleagues and its head (a
    /// manager asks a colleague or the head for help). Active users only,
    /// as (login, display name), the actor first.
    pub async fn assignable(
        &self,
        actor: &Actor,
        department: Option<&str>,
    ) -> Result<Vec<(String, String)>, StageError> {
        let users = self.store.list_users().await?;
        let mut logins: Vec<String> = match (&actor.scope, actor.role) {
            (Scope::All, _) => users
                .iter()
                .filter(|u| matches!(u.role, Role::Manager | Role::Head | Role::Admin))
                .map(|u| u.login.clone())
                .collect(),
            (Scope::Responsibles(logins), Role::Manager) => {
                let own = department.map(str::to_owned).or_else(|| {
                    self.settings
                        .manager(&actor.login)
                        .and_then(|m| m.department.clone())
                });
                let mut out = logins.clone();
                if own.is_some() {
                    out.extend(self.store.department_logins("", own.as_deref()).await?);
                }
                out.extend(self.router.head_of(&actor.login));
                out
            }
            (Scope::Responsibles(logins), _) => logins.clone(),
        };
        logins.sort();
        logins.dedup();
        let mut out: Vec<(String, String)> = users
            .into_iter()
            .filter(|u| u.active && logins.contains(&u.login))
            .map(|u| {
                let name = if u.display_name.trim().is_empty() {
                    u.login.clone()
                } else {
                    u.display_name
                };
                (u.login, name)
            })
            .collect();
        out.sort_by_key(|(login, _)| login != &actor.login);
        Ok(out)
    }

    /// Hands the interest to another responsible (heads and admins), with
    /// its open tasks and planned interactions that were the old one's.
    pub async fn reassign(
        &self,
        actor: &Actor,
        interest_id: i64,
        to: &str,
    ) -> Result<(), StageError> {
        if !matches!(actor.role, Role::Head | Role::Admin) {
            return Err(StageError::Forbidden);
        }
        let to = to.trim();
        if to.is_empty() {
            return Err(StageError::refused(
                "responsible",
                "choose who takes the interest",
            ));
        }
        if !actor.scope.covers(Some(to)) {
            return Err(StageError::refused(
                "responsible",
                format!("{to} is not among the people you manage"),
            ));
        }
        let user = self
            .store
            .user_by_login(to)
            .await?
            .filter(|u| u.active)
            .ok_or_else(|| StageError::refused("responsible", format!("no active user {to}")))?;
        let mut tx = self.store.begin_write().await?;
        let interest = self
            .store
            .lock_interest(tx.conn(), interest_id)
            .await?
            .ok_or(StageError::NotFound("interest"))?;
        self.check_visible(actor, &interest)?;
        if interest.responsible.as_deref() == Some(to) {
            return Err(StageError::conflict(
                "responsible",
                format!("{to} is responsible already"),
            ));
        }
        let summary = format!(
            "Ответственный: {} → {}",
            interest.responsible.as_deref().unwrap_or("—"),
            user.login
        );
        self.store
            .reassign_interest(tx.conn(), interest_id, to, &actor.login, summary)
            .await?;
        tx.commit().await?;
        tracing::info!(interest_id, actor = %actor.login, to, "responsible changed");
        Ok(())
    }
}
