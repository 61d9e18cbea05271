//! Which scenario, stage, responsible and first tasks an appeal's interest gets.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::appeal::Appeal;
use crate::interest::Interest;
use crate::settings::Settings;

#[derive(Debug, Clone, PartialEq)]
pub struct PlannedTask {
    pub title: String,
    pub assignee: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InterestPlan {
    pub scenario: String,
    pub stage: String,
    pub stage_name: String,
    pub tasks: Vec<PlannedTask>,
}

pub struct Router {
    settings: Arc<Settings>,
}

impl Router {
    pub fn new(settings: Arc<Settings>) -> Self {
        Router { settings }
    }

    pub fn new_interest(&self, appeal: &Appeal, responsible: Option<&str>, now: DateTime<Utc>) -> InterestPlan {
        let _ = (&self.settings, appeal);
        InterestPlan {
            scenario: "standard".into(),
            stage: "request".into(),
            stage_name: "Запрос".into(),
            tasks: vec![PlannedTask {
                title: "Связаться с клиентом".into(),
                assignee: responsible.map(str::to_string),
                due_at: Some(now + Duration::hours(2)),
            }],
        }
    }

    pub fn repeat_appeal_task(&self, interest: &Interest, now: DateTime<Utc>) -> PlannedTask {
        PlannedTask {
            title: "Обработать повторное обращение".into(),
            assignee: interest.responsible.clone(),
            due_at: Some(now + Duration::hours(2)),
        }
    }
}
