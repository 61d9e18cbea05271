//! The bridge between the pipeline and the stage engine: which scenario and
//! stage an appeal's interest gets, who is responsible, and what tasks follow.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::appeal::Appeal;
use crate::interest::{Interest, InterestFacts};
use crate::scenario::{
    AppealFacts, Command, ConfigProblem, Engine, InterestSnapshot, Outcome, ScenarioSet,
    TransitionError, WorkCalendar,
};

pub struct Router {
    engine: Engine,
    /// login → head of the login's department.
    heads: HashMap<String, String>,
}

impl Router {
    /// `heads` maps a manager's login to the head of his department.
    pub fn new(
        scenarios: ScenarioSet,
        calendar: WorkCalendar,
        heads: HashMap<String, String>,
    ) -> Result<Router, Vec<ConfigProblem>> {
        let engine = Engine::new(scenarios, calendar)?;
        Ok(Router { engine, heads })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn scenarios(&self) -> &ScenarioSet {
        self.engine.scenarios()
    }

    pub fn head_of(&self, login: &str) -> Option<String> {
        self.heads.get(login).cloned()
    }

    /// The stage's display name, or its id if the scenario no longer has it.
    pub fn stage_name(&self, scenario: &str, stage: &str) -> String {
        self.scenarios()
            .scenario(scenario)
            .and_then(|s| s.stage(stage))
            .map(|s| s.name.clone())
            .unwrap_or_else(|| stage.to_string())
    }

    pub fn facts(appeal: &Appeal) -> AppealFacts {
        let form = appeal.source.strip_prefix("form:").map(str::to_string);
        let text = [appeal.subject.as_deref(), appeal.text.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("\n");
        // Rules name an API source as its caller does (`crm`), not as stored.
        let source = match appeal.channel {
            crate::appeal::Channel::Api => appeal
                .source
                .strip_prefix(crate::appeal::API_SOURCE_PREFIX)
                .unwrap_or(&appeal.source),
            _ => &appeal.source,
        };
        AppealFacts {
            channel: appeal.channel.as_str().to_string(),
            source: Some(source.to_string()),
            form,
            text,
        }
    }

    /// A new interest for the appeal, in the scenario its rules pick.
    pub fn create(
        &self,
        appeal: &Appeal,
        responsible: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, TransitionError> {
        let responsible = responsible.unwrap_or_default();
        let draft = InterestSnapshot::draft(responsible, self.head_of(responsible));
        self.engine.decide(
            &draft,
            &Command::Create {
                appeal: Self::facts(appeal),
                next: None,
            },
            now,
        )
    }

    /// What a repeat appeal to an open interest causes.
    pub fn repeat(
        &self,
        interest: &Interest,
        facts: &InterestFacts,
        appeal: &Appeal,
        now: DateTime<Utc>,
    ) -> Result<Outcome, TransitionError> {
        let snapshot = self.snapshot(interest, facts);
        self.engine.decide(
            &snapshot,
            &Command::RepeatAppeal {
                appeal: Self::facts(appeal),
            },
            now,
        )
    }

    /// What the engine sees of a stored interest; the head comes from the
    /// configured department of the responsible.
    pub fn snapshot(&self, interest: &Interest, facts: &InterestFacts) -> InterestSnapshot {
        let responsible = interest.responsible.clone().unwrap_or_default();
        InterestSnapshot {
            scenario_id: interest.scenario.clone(),
            stage: interest.stage.clone(),
            status: interest.status,
            open_tasks: facts.open_tasks,
            planned_interactions: facts.planned_interactions,
            orders: facts.orders.clone(),
            is_client: facts.is_client,
            head: self.head_of(&responsible),
            responsible,
        }
    }
}
