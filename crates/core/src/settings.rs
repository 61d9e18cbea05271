//! The sections the services read: matching, routing, processing, tasks,
//! the people of the department, the scenarios and the working calendar. The
//! binary assembles them from the configuration file with everything else.

use leadgate_domain::contact::Region;
use leadgate_domain::dedup::MatchingSettings;
use leadgate_domain::org::{DepartmentSettings, ManagerSettings};
use leadgate_domain::scenario::{ScenarioSet, WorkCalendar};
use serde::Deserialize;

/// What the services need of the configuration.
#[derive(Debug, Clone)]
pub struct CoreSettings {
    pub matching: MatchingSettings,
    pub routing: RoutingSettings,
    pub pipeline: PipelineSettings,
    pub tasks: TaskSettings,
    pub managers: Vec<ManagerSettings>,
    pub departments: Vec<DepartmentSettings>,
    pub scenarios: ScenarioSet,
    pub calendar: WorkCalendar,
    pub calls: CallSettings,
}

impl CoreSettings {
    pub fn region(&self) -> Region {
        Region::parse(&self.matching.default_region).unwrap_or_default()
    }

    pub fn manager(&self, login: &str) -> Option<&ManagerSettings> {
        self.managers.iter().find(|m| m.login == login)
    }

    /// login → head of the login's department, for the scenario engine.
    pub fn heads(&self) -> std::collections::HashMap<String, String> {
        self.managers
            .iter()
            .filter_map(|m| {
                let dept = self
                    .departments
                    .iter()
                    .find(|d| Some(&d.id) == m.department.as_ref())?;
                Some((m.login.clone(), dept.head.clone()?))
            })
            .collect()
    }
}

/// What the pipeline does with a finished call; the keys live in `[pbx]`.
#[derive(Debug, Clone)]
pub struct CallSettings {
    /// A missed call's callback task is due this many minutes later.
    pub callback_due_minutes: u32,
    /// Logins that take callbacks of calls nobody is responsible for, in turn.
    pub on_duty: Vec<String>,
}

impl Default for CallSettings {
    fn default() -> Self {
        Self {
            callback_due_minutes: 15,
            on_duty: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct RoutingSettings {
    /// Logins that take new clients in turn when the client has no responsible manager.
    pub round_robin: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct PipelineSettings {
    /// Appeals taken per processing transaction.
    pub batch_size: u32,
    /// How often an idle worker looks for pending appeals it was not woken for
    /// (appeals written by another instance sharing the database).
    pub poll_interval_ms: u64,
    /// After this many failed attempts an appeal is parked as `failed` for a human.
    pub max_attempts: u32,
    /// A messenger message from a client whose open interest was active within
    /// this many hours joins its feed as a message instead of a repeat appeal.
    pub conversation_window_hours: u32,
    /// Workers per instance, each with its own transaction (PostgreSQL; a
    /// SQLite database has one writer, so one worker). While one writes its
    /// batch and waits for the commit, another claims, locks and reads the
    /// next: the batches' round trips overlap instead of adding up.
    pub workers: u32,
}

impl Default for PipelineSettings {
    fn default() -> Self {
        Self {
            batch_size: 64,
            poll_interval_ms: 500,
            max_attempts: 5,
            conversation_window_hours: 72,
            workers: 2,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct TaskSettings {
    /// How often the overdue sweeper marks late tasks overdue and notifies
    /// the responsible (every instance sweeps; each task is reported once).
    pub overdue_sweep_interval_ms: u64,
}

impl Default for TaskSettings {
    fn default() -> Self {
        Self {
            overdue_sweep_interval_ms: 60_000,
        }
    }
}
