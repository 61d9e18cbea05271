//! Interest (Интерес): a potential deal with a client, moving through a scenario,
//! with its tasks, interactions and an immutable feed of everything that happened.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Lifecycle status of an interest (Интерес), orthogonal to its stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InterestStatus {
    Open,
    /// Closed as lost by the manager, waiting for the head's approval.
    LossPending,
    Won,
    Lost,
}

impl InterestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InterestStatus::Open => "open",
            InterestStatus::LossPending => "loss_pending",
            InterestStatus::Won => "won",
            InterestStatus::Lost => "lost",
        }
    }
    pub fn parse(s: &str) -> Option<InterestStatus> {
        match s {
            "open" => Some(InterestStatus::Open),
            "loss_pending" => Some(InterestStatus::LossPending),
            "won" => Some(InterestStatus::Won),
            "lost" => Some(InterestStatus::Lost),
            _ => None,
        }
    }
    pub fn is_finished(self) -> bool {
        matches!(self, InterestStatus::Won | InterestStatus::Lost)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Interest {
    pub id: i64,
    pub client_id: i64,
    pub person_id: Option<i64>,
    pub scenario: String,
    pub stage: String,
    pub status: InterestStatus,
    pub responsible: Option<String>,
    /// Kopecks.
    pub potential_amount: Option<i64>,
    pub channel: String,
    pub source: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    Open,
    Overdue,
    Done,
    Cancelled,
}

impl TaskStatus {
    /// Still to be done (open, or open and late).
    pub fn is_open(self) -> bool {
        matches!(self, TaskStatus::Open | TaskStatus::Overdue)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Open => "open",
            TaskStatus::Overdue => "overdue",
            TaskStatus::Done => "done",
            TaskStatus::Cancelled => "cancelled",
        }
    }
    pub fn parse(s: &str) -> Option<TaskStatus> {
        match s {
            "open" => Some(TaskStatus::Open),
            "overdue" => Some(TaskStatus::Overdue),
            "done" => Some(TaskStatus::Done),
            "cancelled" => Some(TaskStatus::Cancelled),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Task {
    pub id: i64,
    pub interest_id: i64,
    pub title: String,
    pub assignee: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
    pub status: TaskStatus,
    /// Why the stage engine created it (`stage_entry:payment`, `next_step`,
    /// `loss_approval`, ...); `manual` for tasks added by hand.
    pub purpose: Option<String>,
    pub created_at: DateTime<Utc>,
    pub done_at: Option<DateTime<Utc>>,
    pub done_by: Option<String>,
    /// What came of it, as whoever completed it wrote.
    pub result: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Interaction {
    pub id: i64,
    pub interest_id: i64,
    pub kind: String,
    pub direction: Option<String>,
    pub planned_at: Option<DateTime<Utc>>,
    pub done_at: Option<DateTime<Utc>>,
    /// What a planned interaction is about.
    pub subject: Option<String>,
    /// What came of it (set when it is done).
    pub result: Option<String>,
    pub author: Option<String>,
    /// A call's recording, when the PBX gave a link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording_url: Option<String>,
}

/// One immutable line in an interest's history.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FeedEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// `appeal`, `message`, `call`, `stage_changed`, `task_created`, `task_done`, ...
    pub kind: String,
    pub actor: Option<String>,
    pub summary: String,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    pub appeal_id: Option<i64>,
}

/// What storage knows about an interest beyond its row, for the engine's
/// snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterestFacts {
    pub open_tasks: u32,
    pub planned_interactions: u32,
    pub orders: Vec<crate::scenario::OrderTotals>,
    /// The client is a counterparty of the ERP: it came with an ERP id
    /// (import) or has an order with a non-zero sum on any of its interests.
    pub is_client: bool,
}
