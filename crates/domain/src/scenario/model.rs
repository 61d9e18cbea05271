//! Inputs and outputs of the engine: what the storage layer knows about an
//! interest ([`InterestSnapshot`]), what somebody asks for ([`Command`]) and
//! what must change ([`Outcome`]), all plain data with serde so the HTTP and
//! storage layers can pass them through unchanged.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::config::{AppealFacts, Assignee, EventKind, Requirement};
use super::money::Kopecks;
pub use crate::interest::InterestStatus;

/// Money totals of one order (заказ клиента / счёт) of the interest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderTotals {
    pub id: String,
    /// Order sum; 0 means cancelled and is ignored by "paid in full" checks.
    pub amount: Kopecks,
    pub paid: Kopecks,
    /// Shipped (realised) sum — the order's revenue.
    pub shipped: Kopecks,
}

/// Facts derived from the orders, used by requirements and auto triggers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderFacts {
    pub has_order: bool,
    pub fully_paid: bool,
    pub fully_shipped: bool,
    pub amount: Kopecks,
    pub paid: Kopecks,
    pub shipped: Kopecks,
}

impl OrderFacts {
    /// Sums saturate: totals only feed messages and comparisons, and a
    /// saturated sum can never make an unpaid deal look paid because the
    /// per-order checks decide `fully_*`.
    pub fn of(orders: &[OrderTotals]) -> OrderFacts {
        let live: Vec<&OrderTotals> = orders.iter().filter(|order| order.amount > 0).collect();
        let has_order = !live.is_empty();
        OrderFacts {
            has_order,
            fully_paid: has_order && live.iter().all(|order| order.paid >= order.amount),
            fully_shipped: has_order && live.iter().all(|order| order.shipped >= order.amount),
            amount: live
                .iter()
                .fold(0, |sum: Kopecks, order| sum.saturating_add(order.amount)),
            paid: live
                .iter()
                .fold(0, |sum: Kopecks, order| sum.saturating_add(order.paid)),
            shipped: live
                .iter()
                .fold(0, |sum: Kopecks, order| sum.saturating_add(order.shipped)),
        }
    }
}

/// What storage knows about an interest at the moment of the command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterestSnapshot {
    /// Empty in a draft: [`Command::Create`] picks the scenario by rules.
    pub scenario_id: String,
    /// Empty in a draft.
    pub stage: String,
    pub status: InterestStatus,
    pub open_tasks: u32,
    pub planned_interactions: u32,
    pub orders: Vec<OrderTotals>,
    pub is_client: bool,
    /// Login of the responsible manager.
    pub responsible: String,
    /// Login of the head of the responsible's department, if any.
    pub head: Option<String>,
}

impl InterestSnapshot {
    /// The "interest" a [`Command::Create`] is applied to: who will own it,
    /// nothing else yet. Set `scenario_id` to force a scenario instead of
    /// the selection rules.
    pub fn draft(responsible: impl Into<String>, head: Option<String>) -> InterestSnapshot {
        InterestSnapshot {
            scenario_id: String::new(),
            stage: String::new(),
            status: InterestStatus::Open,
            open_tasks: 0,
            planned_interactions: 0,
            orders: Vec::new(),
            is_client: false,
            responsible: responsible.into(),
            head,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InteractionKind {
    Call,
    Meeting,
    Email,
    Message,
}

/// The step the manager commits to when moving an interest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NextStep {
    /// Plan a call, meeting, letter or message with the client.
    Interaction {
        kind: InteractionKind,
        at: DateTime<Utc>,
        #[serde(default)]
        subject: String,
    },
    Task {
        title: String,
        assignee: Assignee,
        due: DateTime<Utc>,
    },
    /// Deliberately nothing planned; recorded in the feed with who decided.
    Nothing { chosen_by: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderEvent {
    pub order_id: String,
    /// New order sum (created or changed); 0 cancels the order.
    pub amount: Kopecks,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentEvent {
    pub order_id: String,
    /// Amount of this payment (positive).
    pub amount: Kopecks,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentEvent {
    pub order_id: String,
    /// Amount of this shipment (реализация), positive.
    pub amount: Kopecks,
    pub at: DateTime<Utc>,
}

/// In JSON the event type is under `"event"` because a [`Command`] already
/// uses `"type"`: `{"type":"event","event":"payment","order_id":..}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Order(OrderEvent),
    Payment(PaymentEvent),
    Shipment(ShipmentEvent),
}

impl Event {
    pub fn kind(&self) -> EventKind {
        match self {
            Event::Order(_) => EventKind::Order,
            Event::Payment(_) => EventKind::Payment,
            Event::Shipment(_) => EventKind::Shipment,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// Create the interest from an appeal (apply to [`InterestSnapshot::draft`]).
    Create {
        appeal: AppealFacts,
        #[serde(default)]
        next: Option<NextStep>,
    },
    /// Manual move to a working or won stage. `result` is the outcome of the
    /// current planned interaction ("клиент запросил КП на 20 шт.").
    Transition {
        to: String,
        result: String,
        #[serde(default)]
        next: Option<NextStep>,
        by: String,
    },
    /// Ask to close as lost. `to` picks among several lost stages; `None`
    /// takes the first lost stage allowed from the current one.
    CloseLost {
        #[serde(default)]
        to: Option<String>,
        reason: String,
        #[serde(default)]
        comment: String,
        by: String,
    },
    ApproveLoss {
        by: String,
        #[serde(default)]
        comment: String,
    },
    /// The head refuses the loss and sends the interest back to work.
    ReturnFromLoss {
        to: String,
        by: String,
        #[serde(default)]
        comment: String,
        #[serde(default)]
        next: Option<NextStep>,
    },
    Event(Event),
    /// A new appeal from the same client was linked to this interest.
    RepeatAppeal {
        appeal: AppealFacts,
    },
}

/// Why a task was created; stored with the task so the engine can later
/// ask to close tasks of one purpose (see [`TaskClosure`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TaskPurpose {
    /// Created by a stage's `on_enter`.
    StageEntry {
        stage: String,
    },
    /// The manager's chosen next step.
    NextStep,
    LossApproval,
    RepeatAppeal,
    /// Created by `event_tasks`.
    Event {
        on: EventKind,
    },
}

impl TaskPurpose {
    /// Flat key for a storage column: `stage_entry:payment`, `next_step`,
    /// `loss_approval`, `repeat_appeal`, `event:shipment`.
    pub fn key(&self) -> String {
        match self {
            TaskPurpose::StageEntry { stage } => format!("stage_entry:{stage}"),
            TaskPurpose::NextStep => "next_step".to_owned(),
            TaskPurpose::LossApproval => "loss_approval".to_owned(),
            TaskPurpose::RepeatAppeal => "repeat_appeal".to_owned(),
            TaskPurpose::Event { on } => format!(
                "event:{}",
                match on {
                    EventKind::Order => "order",
                    EventKind::Payment => "payment",
                    EventKind::Shipment => "shipment",
                }
            ),
        }
    }
}

/// A task to create, with the assignee already resolved to a login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSpec {
    pub title: String,
    pub assignee: String,
    pub due: DateTime<Utc>,
    pub reminder_at: Option<DateTime<Utc>>,
    pub purpose: TaskPurpose,
}

/// Which of the interest's tasks to close. Closures apply only to tasks
/// that were open **before** this outcome: storage closes first, then
/// creates `tasks_to_create`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TaskClosure {
    AllOpen,
    Purpose { purpose: TaskPurpose },
}

/// An interaction (звонок, встреча, письмо, сообщение) to plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InteractionSpec {
    pub kind: InteractionKind,
    pub at: DateTime<Utc>,
    pub subject: String,
    pub responsible: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedKind {
    Created,
    StageChanged,
    InteractionResult,
    NextStepSkipped,
    LossRequested,
    LossApproved,
    LossReturned,
    Won,
    Lost,
    Order,
    Payment,
    Shipment,
    RepeatAppeal,
    /// Something the sales head should notice (overpayment, payment on a
    /// closed interest, automatic closure blocked).
    Warning,
}

/// A line of the interest's feed (лента), text in Russian for the users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedEntrySpec {
    pub at: DateTime<Utc>,
    /// Login of the person who did it; `None` for events and the engine.
    pub author: Option<String>,
    pub kind: FeedKind,
    pub text: String,
}

/// Everything the storage layer must apply, in one transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The scenario the interest follows (chosen by rules on create).
    pub scenario_id: String,
    pub new_stage: String,
    pub new_status: InterestStatus,
    /// Applied before `tasks_to_create`.
    pub tasks_to_close: Vec<TaskClosure>,
    pub tasks_to_create: Vec<TaskSpec>,
    pub interactions_to_plan: Vec<InteractionSpec>,
    /// Result text for the earliest planned interaction, which storage marks
    /// done; `None` when there was none planned.
    pub interaction_result: Option<String>,
    /// New totals of the order an event touched (upsert by id).
    pub order_update: Option<OrderTotals>,
    pub feed: Vec<FeedEntrySpec>,
    /// Set on won closure: the sum of revenue (shipped sums) of all orders.
    pub potential_amount: Option<Kopecks>,
    /// What happened to a loss: asked for, approved or sent back. Storage
    /// keeps it as a row with the structured reason, for the loss report.
    #[serde(default)]
    pub loss: Option<LossChange>,
}

/// A step of the lost path, in the words of the loss report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LossChange {
    /// Closed as lost (`pending = false`) or asked to be (`pending = true`,
    /// waiting for the head). `reason` is one of the scenario's
    /// `loss_reasons` exactly as configured; `from_stage` the working stage
    /// the interest was lost at.
    Requested {
        reason: String,
        comment: String,
        from_stage: String,
        by: String,
        pending: bool,
    },
    Approved {
        by: String,
        comment: String,
    },
    Returned {
        by: String,
        comment: String,
    },
}

impl Outcome {
    /// Whether applying the outcome only adds feed entries and tasks to an
    /// open interest already in `scenario_id`/`new_stage` (a new interest's
    /// first stage): nothing to close, plan, total or update.
    pub fn only_adds(&self) -> bool {
        self.new_status == InterestStatus::Open
            && self.tasks_to_close.is_empty()
            && self.interactions_to_plan.is_empty()
            && self.interaction_result.is_none()
            && self.order_update.is_none()
            && self.potential_amount.is_none()
            && self.loss.is_none()
    }
}

/// Requirements a manual "won" closure always checks, in report order.
pub const WON_REQUIREMENTS: [Requirement; 4] = [
    Requirement::IsClient,
    Requirement::HasOrder,
    Requirement::FullyPaid,
    Requirement::FullyShipped,
];
