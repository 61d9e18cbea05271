//! Scenario configuration: scenarios are data (TOML `[[scenarios]]` and
//! `[[scenario_rules]]`), checked once at start-up by
//! [`ScenarioSet::validate`], which lists every problem with its key path so
//! that an administrator fixes the whole file in one go.
//!
//! Due, assignee and reminder strings stay strings here (and are parsed by
//! [`Due::parse`], [`Assignee::parse`], [`Reminder::parse`]) so that a typo is
//! reported by `validate` with its key path instead of failing the whole
//! config load with a bare serde message.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::calendar::WorkCalendar;
pub use crate::config::ConfigProblem;

/// All configured scenarios and the rules that pick one for a new interest.
///
/// In `leadgate.toml` these are the top-level arrays `[[scenarios]]` and
/// `[[scenario_rules]]`; a host config struct can hold the two fields and
/// build this struct from them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSet {
    #[serde(default)]
    pub scenarios: Vec<ScenarioConfig>,
    /// Checked top to bottom; the first match wins, otherwise the scenario
    /// marked `default = true` is used.
    #[serde(default)]
    pub scenario_rules: Vec<ScenarioRule>,
}

/// One sales scenario (бизнес-процесс продажи).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioConfig {
    pub id: String,
    pub name: String,
    /// Exactly one scenario must be the default: it takes every interest no
    /// rule matched.
    #[serde(default)]
    pub default: bool,
    /// Stage a new interest is created in (must be `working`).
    pub first_stage: String,
    /// Allowed reasons for closing as lost; a free-text comment is added to
    /// any of them.
    pub loss_reasons: Vec<String>,
    /// Refuse a loss without a free-text comment: the approver decides on
    /// the story, not on a category.
    #[serde(default)]
    pub loss_comment_required: bool,
    /// Task for the head of the responsible's department to approve a loss.
    /// Without it a loss is final at once (no approval step).
    #[serde(default)]
    pub loss_approval_task: Option<TaskTemplate>,
    /// Task for the responsible when a repeat appeal arrives for an open
    /// interest.
    pub repeat_appeal_task: TaskTemplate,
    /// Tasks created on order / payment / shipment events whatever the stage
    /// (e.g. "Контроль доставки" after each shipment).
    #[serde(default)]
    pub event_tasks: Vec<EventTaskTemplate>,
    /// In funnel order: "forward" for exit requirements means "to a stage
    /// listed later".
    pub stages: Vec<StageConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageConfig {
    pub id: String,
    pub name: String,
    pub kind: StageKind,
    /// Stages a manager may move the interest to by hand.
    #[serde(default)]
    pub transitions: Vec<String>,
    /// Tasks created whenever an interest enters the stage.
    #[serde(default)]
    pub on_enter: Vec<TaskTemplate>,
    /// Checked when a manager moves the interest forward (to a later
    /// non-lost stage). Going back and closing as lost stay possible.
    #[serde(default)]
    pub exit_requirements: Vec<Requirement>,
    /// Moves made by the engine itself on order/payment/shipment events.
    /// The first matching entry wins.
    #[serde(default)]
    pub auto: Vec<AutoTransition>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageKind {
    /// The interest is being worked on.
    Working,
    /// Завершено успешно.
    Won,
    /// Завершено неудачно.
    Lost,
}

impl StageKind {
    pub fn is_final(self) -> bool {
        !matches!(self, StageKind::Working)
    }
}

/// A fact about the interest's orders or client that a stage can require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Requirement {
    /// At least one order with a non-zero amount (КП/счёт выставлен).
    HasOrder,
    /// Every order is paid in full (and there is at least one).
    FullyPaid,
    /// Every order is shipped in full (and there is at least one).
    FullyShipped,
    /// The lead has become a client (контрагент).
    IsClient,
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Requirement::HasOrder => "the interest has no order",
            Requirement::FullyPaid => "orders are not paid in full",
            Requirement::FullyShipped => "orders are not shipped in full",
            Requirement::IsClient => "the lead has not become a client",
        })
    }
}

/// What triggers an automatic transition. `order`, `payment` and `shipment`
/// fire on an event of that type; `payment_complete` and `shipment_complete`
/// fire when, after any event, all orders are paid / shipped in full. The
/// conditions are re-checked in each stage reached, so a payment that
/// completes an already shipped deal goes Оплата → Отгрузка → Завершено.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AutoTrigger {
    Order,
    Payment,
    PaymentComplete,
    Shipment,
    ShipmentComplete,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoTransition {
    pub on: AutoTrigger,
    pub to: String,
}

/// A task to create, as configured.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskTemplate {
    pub title: String,
    /// `"<n>d"` working days (end of day), `"<n>h"` working hours,
    /// `"0d"` end of today.
    pub due: String,
    /// `"responsible"`, `"head"` or `"user:<login>"`.
    #[serde(default = "default_assignee")]
    pub assignee: String,
    /// Reminder before the due moment: `"<n>m"`, `"<n>h"` or `"<n>d"`
    /// (clock time, not working time).
    #[serde(default)]
    pub reminder: Option<String>,
}

fn default_assignee() -> String {
    "responsible".to_owned()
}

/// Event-triggered task (`[[scenarios.event_tasks]]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventTaskTemplate {
    pub on: EventKind,
    pub title: String,
    pub due: String,
    #[serde(default = "default_assignee")]
    pub assignee: String,
    #[serde(default)]
    pub reminder: Option<String>,
}

impl EventTaskTemplate {
    pub fn template(&self) -> TaskTemplate {
        TaskTemplate {
            title: self.title.clone(),
            due: self.due.clone(),
            assignee: self.assignee.clone(),
            reminder: self.reminder.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Order,
    Payment,
    Shipment,
}

/// Picks a scenario for a new interest. Every condition given must match;
/// `channel`, `source` and `form` compare case-insensitively, `keyword` is a
/// case-insensitive substring of the appeal text.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioRule {
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub form: Option<String>,
    #[serde(default)]
    pub keyword: Option<String>,
    pub scenario: String,
}

/// What is known about an appeal when an interest is created from it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppealFacts {
    /// e.g. `"email"`, `"telegram"`, `"phone"`, `"site_form"`.
    pub channel: String,
    /// Advertising source / UTM source, mailbox, phone line.
    pub source: Option<String>,
    /// Site form identifier.
    pub form: Option<String>,
    /// Subject and body, used for keyword rules and the feed.
    pub text: String,
}

impl ScenarioRule {
    fn has_conditions(&self) -> bool {
        self.channel.is_some()
            || self.source.is_some()
            || self.form.is_some()
            || self.keyword.is_some()
    }

    pub fn matches(&self, appeal: &AppealFacts) -> bool {
        fn same(wanted: &Option<String>, actual: Option<&str>) -> bool {
            match wanted {
                None => true,
                // to_lowercase, not ASCII folding: form names may be Cyrillic.
                Some(wanted) => actual.is_some_and(|actual| {
                    actual.trim().to_lowercase() == wanted.trim().to_lowercase()
                }),
            }
        }
        let keyword_ok = match &self.keyword {
            None => true,
            Some(keyword) => appeal
                .text
                .to_lowercase()
                .contains(&keyword.trim().to_lowercase()),
        };
        same(&self.channel, Some(appeal.channel.as_str()))
            && same(&self.source, appeal.source.as_deref())
            && same(&self.form, appeal.form.as_deref())
            && keyword_ok
    }
}

/// Parsed due specification of a task template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// End of the n-th working day after today; 0 = end of today.
    WorkingDays(u32),
    /// n hours of working time from now.
    WorkingHours(u32),
}

/// Limits keep a typo like "300d" from silently planning a task a year
/// ahead, and keep calendar arithmetic short.
const MAX_DUE_DAYS: u32 = 366;
const MAX_DUE_HOURS: u32 = 2000;
const MAX_REMINDER_MINUTES: u32 = 60 * 24 * 31;

fn split_number(raw: &str) -> Option<(u32, &str)> {
    let raw = raw.trim();
    let digits_end = raw.find(|c: char| !c.is_ascii_digit())?;
    if digits_end == 0 {
        return None;
    }
    let number = raw[..digits_end].parse().ok()?;
    Some((number, &raw[digits_end..]))
}

impl Due {
    pub fn parse(raw: &str) -> Result<Due, String> {
        let bad = || {
            format!("bad due {raw:?}: expected \"<n>d\" (working days, \"0d\" = today) or \"<n>h\" (working hours)")
        };
        let (n, unit) = split_number(raw).ok_or_else(bad)?;
        match unit {
            "d" if n <= MAX_DUE_DAYS => Ok(Due::WorkingDays(n)),
            "h" if n <= MAX_DUE_HOURS => Ok(Due::WorkingHours(n)),
            "d" => Err(format!(
                "due {raw:?} is more than {MAX_DUE_DAYS} working days ahead"
            )),
            "h" => Err(format!(
                "due {raw:?} is more than {MAX_DUE_HOURS} working hours ahead"
            )),
            _ => Err(bad()),
        }
    }

    pub fn resolve(self, now: DateTime<Utc>, calendar: &WorkCalendar) -> DateTime<Utc> {
        match self {
            Due::WorkingDays(n) => calendar.add_working_days(now, n),
            Due::WorkingHours(n) => calendar.add_working_hours(now, n),
        }
    }
}

/// How long before the due moment to remind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reminder {
    pub before: Duration,
}

impl Reminder {
    pub fn parse(raw: &str) -> Result<Reminder, String> {
        let bad = || {
            format!(
                "bad reminder {raw:?}: expected \"<n>m\", \"<n>h\" or \"<n>d\" before the due time"
            )
        };
        let (n, unit) = split_number(raw).ok_or_else(bad)?;
        let minutes = match unit {
            "m" => Some(n),
            "h" => n.checked_mul(60),
            "d" => n.checked_mul(60 * 24),
            _ => return Err(bad()),
        };
        match minutes {
            Some(minutes) if minutes <= MAX_REMINDER_MINUTES => Ok(Reminder {
                before: Duration::minutes(i64::from(minutes)),
            }),
            _ => Err(format!(
                "reminder {raw:?} is more than 31 days before the due time"
            )),
        }
    }

    /// Never in the past: a reminder for a task due in 10 minutes with a
    /// one-hour lead fires right away.
    pub fn at(self, due: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
        (due - self.before).max(now)
    }
}

/// Who a task goes to, before resolution to a login.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Assignee {
    /// The interest's responsible manager.
    Responsible,
    /// Head of the responsible's department.
    Head,
    /// A fixed user (e.g. the logistics clerk).
    User(String),
}

impl Assignee {
    pub fn parse(raw: &str) -> Result<Assignee, String> {
        match raw.trim() {
            "responsible" => Ok(Assignee::Responsible),
            "head" => Ok(Assignee::Head),
            other => match other.strip_prefix("user:") {
                Some(login) if !login.trim().is_empty() && !login.trim().contains(char::is_whitespace) => {
                    Ok(Assignee::User(login.trim().to_owned()))
                }
                _ => Err(format!(
                    "unknown assignee {raw:?}: expected \"responsible\", \"head\" or \"user:<login>\""
                )),
            },
        }
    }
}

impl fmt::Display for Assignee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Assignee::Responsible => f.write_str("responsible"),
            Assignee::Head => f.write_str("head"),
            Assignee::User(login) => write!(f, "user:{login}"),
        }
    }
}

impl ScenarioConfig {
    pub fn stage(&self, id: &str) -> Option<&StageConfig> {
        self.stages.iter().find(|stage| stage.id == id)
    }

    pub fn stage_index(&self, id: &str) -> Option<usize> {
        self.stages.iter().position(|stage| stage.id == id)
    }
}

impl ScenarioSet {
    pub fn scenario(&self, id: &str) -> Option<&ScenarioConfig> {
        self.scenarios.iter().find(|scenario| scenario.id == id)
    }

    pub fn default_scenario(&self) -> Option<&ScenarioConfig> {
        self.scenarios.iter().find(|scenario| scenario.default)
    }

    /// First matching rule's scenario, else the default. `None` only for a
    /// set that fails [`validate`](Self::validate).
    pub fn select(&self, appeal: &AppealFacts) -> Option<&ScenarioConfig> {
        self.scenario_rules
            .iter()
            .find(|rule| rule.matches(appeal))
            .and_then(|rule| self.scenario(&rule.scenario))
            .or_else(|| self.default_scenario())
    }

    /// Falls back to the built-in standard scenario when the config file
    /// declares none, so a fresh install works out of the box.
    pub fn standard_if_empty(self) -> ScenarioSet {
        if self.scenarios.is_empty() {
            ScenarioSet {
                scenarios: ScenarioSet::standard().scenarios,
                scenario_rules: self.scenario_rules,
            }
        } else {
            self
        }
    }

    /// Every problem in the set, each with its key path. Empty means the
    /// engine can run on it without ever hitting a configuration error.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Problems::default();
        if self.scenarios.is_empty() {
            problems.push("scenarios", "no scenarios configured");
        }
        let mut seen_ids: BTreeMap<&str, usize> = BTreeMap::new();
        let mut defaults = Vec::new();
        for (index, scenario) in self.scenarios.iter().enumerate() {
            let path = format!("scenarios[{index}]");
            // Ids are compared exactly everywhere (engine included), so a
            // stray space is a problem to report, not to paper over.
            let id = scenario.id.as_str();
            if let Some(message) = id_problem(id, "scenario") {
                problems.push(format!("{path}.id"), message);
            } else if let Some(first) = seen_ids.insert(id, index) {
                // Keep the first occurrence as the reference point.
                seen_ids.insert(id, first);
                problems.push(
                    format!("{path}.id"),
                    format!("duplicate scenario id {id:?} (already used by scenarios[{first}])"),
                );
            }
            if scenario.default {
                defaults.push(index);
            }
            validate_scenario(scenario, &path, &mut problems);
        }
        if !self.scenarios.is_empty() && defaults.is_empty() {
            problems.push("scenarios", "no scenario is marked default = true");
        }
        for extra in defaults.iter().skip(1) {
            problems.push(
                format!("scenarios[{extra}].default"),
                format!(
                    "more than one default scenario (scenarios[{}] is already the default)",
                    defaults[0]
                ),
            );
        }
        for (index, rule) in self.scenario_rules.iter().enumerate() {
            let path = format!("scenario_rules[{index}]");
            if !seen_ids.contains_key(rule.scenario.as_str()) {
                problems.push(
                    format!("{path}.scenario"),
                    format!("unknown scenario {:?}", rule.scenario),
                );
            }
            if !rule.has_conditions() {
                problems.push(
                    path.clone(),
                    "rule has no channel, source, form or keyword: it would match every appeal (mark the scenario default = true instead)",
                );
            }
            for (field, value) in [
                ("channel", &rule.channel),
                ("source", &rule.source),
                ("form", &rule.form),
                ("keyword", &rule.keyword),
            ] {
                if value
                    .as_deref()
                    .is_some_and(|value| value.trim().is_empty())
                {
                    problems.push(
                        format!("{path}.{field}"),
                        "empty value would match everything or nothing; remove it",
                    );
                }
            }
        }
        problems.0
    }
}

#[derive(Default)]
struct Problems(Vec<ConfigProblem>);

impl Problems {
    fn push(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigProblem {
            key: key.into(),
            message: message.into(),
        });
    }
}

/// Ids are used in TOML references and stored with interests: keep them
/// plain so that `"oplata "` never silently differs from `"oplata"`.
fn id_problem(id: &str, what: &str) -> Option<String> {
    if id.trim().is_empty() {
        Some(format!("{what} id is empty"))
    } else if id.chars().any(char::is_whitespace) {
        Some(format!("{what} id {id:?} contains whitespace"))
    } else {
        None
    }
}

fn validate_task(template: &TaskTemplate, path: &str, problems: &mut Problems) {
    if template.title.trim().is_empty() {
        problems.push(format!("{path}.title"), "task title is empty");
    }
    if let Err(message) = Due::parse(&template.due) {
        problems.push(format!("{path}.due"), message);
    }
    if let Err(message) = Assignee::parse(&template.assignee) {
        problems.push(format!("{path}.assignee"), message);
    }
    if let Some(Err(message)) = template.reminder.as_deref().map(Reminder::parse) {
        problems.push(format!("{path}.reminder"), message);
    }
}

fn validate_scenario(scenario: &ScenarioConfig, path: &str, problems: &mut Problems) {
    if scenario.name.trim().is_empty() {
        problems.push(format!("{path}.name"), "scenario name is empty");
    }
    // Stage ids: first occurrence wins for all later lookups.
    let mut stage_index: BTreeMap<&str, usize> = BTreeMap::new();
    for (index, stage) in scenario.stages.iter().enumerate() {
        let stage_path = format!("{path}.stages[{index}]");
        let id = stage.id.as_str();
        if let Some(message) = id_problem(id, "stage") {
            problems.push(format!("{stage_path}.id"), message);
        } else if let Some(first) = stage_index.get(id) {
            problems.push(
                format!("{stage_path}.id"),
                format!("duplicate stage id {id:?} (already used by {path}.stages[{first}])"),
            );
        } else {
            stage_index.insert(id, index);
        }
        if stage.name.trim().is_empty() {
            problems.push(format!("{stage_path}.name"), "stage name is empty");
        }
    }
    let kind_of = |id: &str| stage_index.get(id).map(|&i| scenario.stages[i].kind);

    if scenario.stages.is_empty() {
        problems.push(format!("{path}.stages"), "scenario has no stages");
    }
    if !scenario.stages.iter().any(|s| s.kind == StageKind::Won) {
        problems.push(format!("{path}.stages"), "no stage of kind \"won\"");
    }
    if !scenario.stages.iter().any(|s| s.kind == StageKind::Lost) {
        problems.push(format!("{path}.stages"), "no stage of kind \"lost\"");
    }
    match kind_of(&scenario.first_stage) {
        None => problems.push(
            format!("{path}.first_stage"),
            format!("unknown stage {:?}", scenario.first_stage),
        ),
        Some(kind) if kind.is_final() => problems.push(
            format!("{path}.first_stage"),
            format!(
                "first stage {:?} must be a working stage",
                scenario.first_stage
            ),
        ),
        Some(_) => {}
    }

    for (index, stage) in scenario.stages.iter().enumerate() {
        let stage_path = format!("{path}.stages[{index}]");
        let mut targets = BTreeSet::new();
        for (t, target) in stage.transitions.iter().enumerate() {
            let key = format!("{stage_path}.transitions[{t}]");
            if kind_of(target).is_none() {
                problems.push(key, format!("unknown stage {target:?}"));
            } else if *target == stage.id {
                problems.push(key, format!("stage {target:?} cannot transition to itself"));
            } else if !targets.insert(target.as_str()) {
                problems.push(key, format!("transition to {target:?} is listed twice"));
            }
        }
        for (t, template) in stage.on_enter.iter().enumerate() {
            validate_task(template, &format!("{stage_path}.on_enter[{t}]"), problems);
        }
        let mut triggers = BTreeSet::new();
        for (a, auto) in stage.auto.iter().enumerate() {
            let key = format!("{stage_path}.auto[{a}]");
            match stage_index.get(auto.to.as_str()).map(|&i| &scenario.stages[i]) {
                None => problems.push(format!("{key}.to"), format!("unknown stage {:?}", auto.to)),
                Some(target) if target.id == stage.id => {
                    problems.push(format!("{key}.to"), "automatic transition to the same stage")
                }
                Some(target) if target.kind == StageKind::Lost => problems.push(
                    format!("{key}.to"),
                    "automatic transition cannot close an interest as lost (a loss needs a reason and approval)",
                ),
                // The engine cannot ask anybody for a next step during an
                // automatic move, so the target itself must plan one.
                Some(target) if target.kind == StageKind::Working && target.on_enter.is_empty() => problems.push(
                    format!("{key}.to"),
                    format!(
                        "stage {:?} has no on_enter task: after an automatic move the interest would have no next step",
                        auto.to
                    ),
                ),
                Some(_) => {}
            }
            if !triggers.insert(auto.on) {
                problems.push(
                    format!("{key}.on"),
                    "trigger already used by an earlier auto entry of this stage (only the first would ever fire)",
                );
            }
        }
        if stage.kind.is_final() {
            for (field, used) in [
                ("transitions", !stage.transitions.is_empty()),
                ("on_enter", !stage.on_enter.is_empty()),
                ("exit_requirements", !stage.exit_requirements.is_empty()),
                ("auto", !stage.auto.is_empty()),
            ] {
                if used {
                    problems.push(
                        format!("{stage_path}.{field}"),
                        "a finished (won/lost) stage cannot have this: finished interests do not move",
                    );
                }
            }
        } else if !stage
            .transitions
            .iter()
            .any(|target| kind_of(target) == Some(StageKind::Lost))
        {
            problems.push(
                format!("{stage_path}.transitions"),
                "no transition to a lost stage: an interest here could never be closed as lost",
            );
        }
    }

    // Reachability over manual and automatic edges from the first stage.
    if let Some(&start) = stage_index.get(scenario.first_stage.as_str()) {
        let mut reached = vec![false; scenario.stages.len()];
        let mut queue = VecDeque::from([start]);
        reached[start] = true;
        while let Some(current) = queue.pop_front() {
            let stage = &scenario.stages[current];
            let edges = stage
                .transitions
                .iter()
                .chain(stage.auto.iter().map(|a| &a.to));
            for target in edges {
                if let Some(&next) = stage_index.get(target.as_str()) {
                    if !reached[next] {
                        reached[next] = true;
                        queue.push_back(next);
                    }
                }
            }
        }
        for (index, stage) in scenario.stages.iter().enumerate() {
            let is_first_of_its_id = stage_index.get(stage.id.as_str()) == Some(&index);
            if !reached[index] && is_first_of_its_id {
                problems.push(
                    format!("{path}.stages[{index}]"),
                    format!(
                        "stage {:?} is unreachable from first stage {:?}",
                        stage.id, scenario.first_stage
                    ),
                );
            }
        }
    }

    if scenario.loss_reasons.is_empty() {
        problems.push(
            format!("{path}.loss_reasons"),
            "at least one loss reason is required",
        );
    }
    let mut reasons = BTreeSet::new();
    for (index, reason) in scenario.loss_reasons.iter().enumerate() {
        let key = format!("{path}.loss_reasons[{index}]");
        if reason.trim().is_empty() {
            problems.push(key, "loss reason is empty");
        } else if !reasons.insert(reason.trim().to_lowercase()) {
            problems.push(key, format!("loss reason {reason:?} is listed twice"));
        }
    }
    if let Some(template) = &scenario.loss_approval_task {
        validate_task(template, &format!("{path}.loss_approval_task"), problems);
    }
    validate_task(
        &scenario.repeat_appeal_task,
        &format!("{path}.repeat_appeal_task"),
        problems,
    );
    for (index, event_task) in scenario.event_tasks.iter().enumerate() {
        validate_task(
            &event_task.template(),
            &format!("{path}.event_tasks[{index}]"),
            problems,
        );
    }
}

#[cfg(test)]
mod tests;
