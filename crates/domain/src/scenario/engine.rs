//! The stage engine: a pure function from (interest snapshot, command, now)
//! to an [`Outcome`] or a [`TransitionError`]. No clock, no I/O, no hash
//! iteration — the same inputs always give the same outcome, so the caller
//! can retry an event safely once it has deduplicated it by event id.

use chrono::{DateTime, Utc};

use super::calendar::WorkCalendar;
use super::config::{
    AppealFacts, Assignee, AutoTrigger, ConfigProblem, Due, Reminder, Requirement, ScenarioConfig,
    ScenarioSet, StageConfig, StageKind, TaskTemplate,
};
use super::model::{
    Command, Event, FeedEntrySpec, FeedKind, InteractionSpec, InterestSnapshot, InterestStatus,
    LossChange, NextStep, OrderFacts, OrderTotals, Outcome, TaskClosure, TaskPurpose, TaskSpec,
    WON_REQUIREMENTS,
};
use super::money::{format_rub, Kopecks};

/// Why a command was refused. Messages are for the API/UI caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("unknown scenario {0:?}")]
    UnknownScenario(String),
    #[error("scenario {scenario:?} has no stage {stage:?}")]
    UnknownStage { scenario: String, stage: String },
    #[error("the interest already exists (stage {0:?}); create applies to a draft snapshot")]
    AlreadyCreated(String),
    #[error("the interest has not been created yet (empty stage)")]
    NotCreated,
    #[error("the interest is finished ({0:?}) and cannot change any more")]
    Finished(InterestStatus),
    #[error("closing as lost is waiting for approval; the head must approve it or return the interest first")]
    LossPending,
    #[error("the interest is not waiting for loss approval")]
    NotLossPending,
    #[error("the interest is already in stage {0:?}")]
    SameStage(String),
    #[error("transition from {from:?} to {to:?} is not allowed by the scenario")]
    NotAllowed { from: String, to: String },
    #[error("stage {0:?} is a lost stage: close as lost with a reason instead")]
    UseCloseLost(String),
    #[error("stage {0:?} is not a lost stage")]
    NotALostStage(String),
    #[error("stage {0:?} is not a working stage")]
    NotAWorkingStage(String),
    #[error("cannot move to {to:?}: {}", join_requirements(.unmet))]
    RequirementsNotMet { to: String, unmet: Vec<Requirement> },
    #[error("nothing would be planned for the interest: plan an interaction or a task, or choose Nothing explicitly")]
    NothingPlanned,
    #[error("the result of the current interaction is required")]
    EmptyResult,
    #[error("a loss reason is required")]
    LossReasonRequired,
    #[error("a comment explaining the loss is required")]
    LossCommentRequired,
    #[error("unknown loss reason {reason:?}; allowed: {}", .allowed.join(", "))]
    UnknownLossReason {
        reason: String,
        allowed: Vec<String>,
    },
    #[error("{by:?} cannot decide on this loss; the approver is {approver:?}")]
    NotTheApprover { by: String, approver: String },
    #[error("task {task:?} goes to the head of department, but the responsible has none")]
    NoHead { task: String },
    #[error("the next step is in the past ({0})")]
    NextStepInPast(DateTime<Utc>),
    #[error("the next step task has no title")]
    EmptyNextStepTitle,
    #[error("who acts must be given (login)")]
    MissingActor,
    #[error("the interest has no order {0:?}")]
    UnknownOrder(String),
    #[error("an order id is required")]
    EmptyOrderId,
    #[error("amount must be positive, got {0} kopecks")]
    NonPositiveAmount(Kopecks),
    #[error("order amount cannot be negative, got {0} kopecks")]
    NegativeOrderAmount(Kopecks),
    #[error("amount overflow")]
    AmountOverflow,
    #[error("scenario configuration error: {0}")]
    Config(String),
}

fn join_requirements(unmet: &[Requirement]) -> String {
    unmet
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Validated scenarios plus the working calendar.
#[derive(Debug, Clone)]
pub struct Engine {
    scenarios: ScenarioSet,
    calendar: WorkCalendar,
}

impl Engine {
    /// Refuses a set with any [`ConfigProblem`]: once built, the engine can
    /// only fail on the command, never on the configuration.
    pub fn new(
        scenarios: ScenarioSet,
        calendar: WorkCalendar,
    ) -> Result<Engine, Vec<ConfigProblem>> {
        let problems = scenarios.validate();
        if problems.is_empty() {
            Ok(Engine {
                scenarios,
                calendar,
            })
        } else {
            Err(problems)
        }
    }

    pub fn scenarios(&self) -> &ScenarioSet {
        &self.scenarios
    }

    pub fn calendar(&self) -> &WorkCalendar {
        &self.calendar
    }

    /// Decides what `command` does to `interest` at `now`.
    pub fn decide(
        &self,
        interest: &InterestSnapshot,
        command: &Command,
        now: DateTime<Utc>,
    ) -> Result<Outcome, TransitionError> {
        if let Command::Create { appeal, next } = command {
            return self.create(interest, appeal, next.as_ref(), now);
        }
        if interest.stage.is_empty() {
            return Err(TransitionError::NotCreated);
        }
        let scenario = self
            .scenarios
            .scenario(&interest.scenario_id)
            .ok_or_else(|| TransitionError::UnknownScenario(interest.scenario_id.clone()))?;
        let stage = stage_of(scenario, &interest.stage)?;
        let ctx = Ctx {
            engine: self,
            scenario,
            interest,
            now,
        };
        match command {
            Command::Create { .. } => Err(TransitionError::AlreadyCreated(interest.stage.clone())),
            Command::Transition {
                to,
                result,
                next,
                by,
            } => ctx.transition(stage, to, result, next.as_ref(), by),
            Command::CloseLost {
                to,
                reason,
                comment,
                by,
            } => ctx.close_lost(stage, to.as_deref(), reason, comment, by),
            Command::ApproveLoss { by, comment } => ctx.approve_loss(by, comment),
            Command::ReturnFromLoss {
                to,
                by,
                comment,
                next,
            } => ctx.return_from_loss(to, by, comment, next.as_ref()),
            Command::Event(event) => ctx.event(stage, event),
            Command::RepeatAppeal { appeal } => ctx.repeat_appeal(appeal),
        }
    }

    fn create(
        &self,
        draft: &InterestSnapshot,
        appeal: &AppealFacts,
        next: Option<&NextStep>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, TransitionError> {
        if !draft.stage.is_empty() {
            return Err(TransitionError::AlreadyCreated(draft.stage.clone()));
        }
        let scenario = if draft.scenario_id.is_empty() {
            self.scenarios
                .select(appeal)
                .ok_or_else(|| TransitionError::UnknownScenario("<default>".to_owned()))?
        } else {
            self.scenarios
                .scenario(&draft.scenario_id)
                .ok_or_else(|| TransitionError::UnknownScenario(draft.scenario_id.clone()))?
        };
        let first = stage_of(scenario, &scenario.first_stage)?;
        let ctx = Ctx {
            engine: self,
            scenario,
            interest: draft,
            now,
        };
        ctx.check_next_step(next)?;
        let mut out = ctx.outcome();
        out.new_status = InterestStatus::Open;
        ctx.feed(
            &mut out,
            None,
            FeedKind::Created,
            format!(
                "Интерес создан по обращению (канал: {}, сценарий «{}»): {}",
                appeal.channel,
                scenario.name,
                excerpt(&appeal.text)
            ),
        );
        ctx.enter_stage(&mut out, first, None)?;
        ctx.plan_next_step(&mut out, next)?;
        if let Some(entry) = ctx.require_something_planned(&out, next, 0, 0)? {
            out.feed.push(entry);
        }
        Ok(out)
    }
}

fn stage_of<'a>(
    scenario: &'a ScenarioConfig,
    id: &str,
) -> Result<&'a StageConfig, TransitionError> {
    scenario
        .stage(id)
        .ok_or_else(|| TransitionError::UnknownStage {
            scenario: scenario.id.clone(),
            stage: id.to_owned(),
        })
}

/// Long appeal texts would flood the feed; the full text lives with the appeal.
fn excerpt(text: &str) -> String {
    const LIMIT: usize = 200;
    let text = text.trim();
    match text.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

fn unmet(requirements: &[Requirement], facts: &OrderFacts, is_client: bool) -> Vec<Requirement> {
    requirements
        .iter()
        .copied()
        .filter(|requirement| match requirement {
            Requirement::HasOrder => !facts.has_order,
            Requirement::FullyPaid => !facts.fully_paid,
            Requirement::FullyShipped => !facts.fully_shipped,
            Requirement::IsClient => !is_client,
        })
        .collect()
}

fn require_actor(by: &str) -> Result<(), TransitionError> {
    if by.trim().is_empty() {
        Err(TransitionError::MissingActor)
    } else {
        Ok(())
    }
}

/// Revenue of the interest: what was actually shipped (реализовано).
fn revenue(orders: &[OrderTotals]) -> Kopecks {
    orders
        .iter()
        .filter(|order| order.amount > 0)
        .fold(0, |sum: Kopecks, order| sum.saturating_add(order.shipped))
}

/// One command's working context.
struct Ctx<'a> {
    engine: &'a Engine,
    scenario: &'a ScenarioConfig,
    interest: &'a InterestSnapshot,
    now: DateTime<Utc>,
}

impl Ctx<'_> {
    fn outcome(&self) -> Outcome {
        Outcome {
            scenario_id: self.scenario.id.clone(),
            new_stage: self.interest.stage.clone(),
            new_status: self.interest.status,
            tasks_to_close: Vec::new(),
            tasks_to_create: Vec::new(),
            interactions_to_plan: Vec::new(),
            interaction_result: None,
            order_update: None,
            feed: Vec::new(),
            potential_amount: None,
            loss: None,
        }
    }

    fn feed(&self, out: &mut Outcome, author: Option<&str>, kind: FeedKind, text: String) {
        self.feed_at(out, self.now, author, kind, text);
    }

    fn feed_at(
        &self,
        out: &mut Outcome,
        at: DateTime<Utc>,
        author: Option<&str>,
        kind: FeedKind,
        text: String,
    ) {
        out.feed.push(FeedEntrySpec {
            at,
            author: author.map(str::to_owned),
            kind,
            text,
        });
    }

    fn stage_name<'s>(&'s self, id: &'s str) -> &'s str {
        self.scenario
            .stage(id)
            .map_or(id, |stage| stage.name.as_str())
    }

    fn resolve(&self, assignee: &Assignee, task: &str) -> Result<String, TransitionError> {
        match assignee {
            Assignee::Responsible => Ok(self.interest.responsible.clone()),
            Assignee::Head => self
                .interest
                .head
                .clone()
                .filter(|head| !head.trim().is_empty())
                .ok_or_else(|| TransitionError::NoHead {
                    task: task.to_owned(),
                }),
            Assignee::User(login) => Ok(login.clone()),
        }
    }

    fn task(
        &self,
        template: &TaskTemplate,
        purpose: TaskPurpose,
    ) -> Result<TaskSpec, TransitionError> {
        let due = Due::parse(&template.due).map_err(TransitionError::Config)?;
        let assignee = Assignee::parse(&template.assignee).map_err(TransitionError::Config)?;
        let reminder = template
            .reminder
            .as_deref()
            .map(Reminder::parse)
            .transpose()
            .map_err(TransitionError::Config)?;
        let due = due.resolve(self.now, &self.engine.calendar);
        Ok(TaskSpec {
            title: template.title.clone(),
            assignee: self.resolve(&assignee, &template.title)?,
            due,
            reminder_at: reminder.map(|reminder| reminder.at(due, self.now)),
            purpose,
        })
    }

    /// Moves `out` into `stage`, creating its on_enter tasks.
    fn enter_stage(
        &self,
        out: &mut Outcome,
        stage: &StageConfig,
        author: Option<&str>,
    ) -> Result<(), TransitionError> {
        let from = out.new_stage.clone();
        out.new_stage = stage.id.clone();
        if !from.is_empty() {
            self.feed(
                out,
                author,
                FeedKind::StageChanged,
                format!("Этап: «{}» → «{}»", self.stage_name(&from), stage.name),
            );
        }
        for template in &stage.on_enter {
            let task = self.task(
                template,
                TaskPurpose::StageEntry {
                    stage: stage.id.clone(),
                },
            )?;
            out.tasks_to_create.push(task);
        }
        Ok(())
    }

    fn check_next_step(&self, next: Option<&NextStep>) -> Result<(), TransitionError> {
        match next {
            None => Ok(()),
            Some(NextStep::Interaction { at, .. }) if *at < self.now => {
                Err(TransitionError::NextStepInPast(*at))
            }
            Some(NextStep::Interaction { .. }) => Ok(()),
            Some(NextStep::Task { title, .. }) if title.trim().is_empty() => {
                Err(TransitionError::EmptyNextStepTitle)
            }
            Some(NextStep::Task { due, .. }) if *due < self.now => {
                Err(TransitionError::NextStepInPast(*due))
            }
            Some(NextStep::Task { .. }) => Ok(()),
            Some(NextStep::Nothing { chosen_by }) => require_actor(chosen_by),
        }
    }

    fn plan_next_step(
        &self,
        out: &mut Outcome,
        next: Option<&NextStep>,
    ) -> Result<(), TransitionError> {
        match next {
            Some(NextStep::Interaction { kind, at, subject }) => {
                out.interactions_to_plan.push(InteractionSpec {
                    kind: *kind,
                    at: *at,
                    subject: subject.clone(),
                    responsible: self.interest.responsible.clone(),
                })
            }
            Some(NextStep::Task {
                title,
                assignee,
                due,
            }) => {
                let assignee = self.resolve(assignee, title)?;
                out.tasks_to_create.push(TaskSpec {
                    title: title.clone(),
                    assignee,
                    due: *due,
                    reminder_at: None,
                    purpose: TaskPurpose::NextStep,
                });
            }
            Some(NextStep::Nothing { .. }) | None => {}
        }
        Ok(())
    }

    /// Rule "always a next step": after the command an unfinished interest
    /// must have an open task or a planned interaction, unless somebody
    /// explicitly chose Nothing (which goes to the feed).
    fn require_something_planned(
        &self,
        out: &Outcome,
        next: Option<&NextStep>,
        remaining_tasks: u32,
        remaining_interactions: u32,
    ) -> Result<Option<FeedEntrySpec>, TransitionError> {
        let planned = u64::from(remaining_tasks)
            + u64::from(remaining_interactions)
            + out.tasks_to_create.len() as u64
            + out.interactions_to_plan.len() as u64;
        if planned > 0 {
            return Ok(None);
        }
        match next {
            Some(NextStep::Nothing { chosen_by }) => Ok(Some(FeedEntrySpec {
                at: self.now,
                author: Some(chosen_by.clone()),
                kind: FeedKind::NextStepSkipped,
                text: format!("Следующий шаг не запланирован (решение: {chosen_by})"),
            })),
            _ => Err(TransitionError::NothingPlanned),
        }
    }

    fn require_open(&self) -> Result<(), TransitionError> {
        match self.interest.status {
            InterestStatus::Open => Ok(()),
            InterestStatus::LossPending => Err(TransitionError::LossPending),
            finished => Err(TransitionError::Finished(finished)),
        }
    }

    fn require_loss_pending(&self) -> Result<(), TransitionError> {
        match self.interest.status {
            InterestStatus::LossPending => Ok(()),
            InterestStatus::Open => Err(TransitionError::NotLossPending),
            finished => Err(TransitionError::Finished(finished)),
        }
    }

    /// Who decides on a loss: the assignee of the configured approval task
    /// (normally the head). `None` when losses need no approval.
    fn loss_approver(&self) -> Result<Option<String>, TransitionError> {
        let Some(template) = &self.scenario.loss_approval_task else {
            return Ok(None);
        };
        let assignee = Assignee::parse(&template.assignee).map_err(TransitionError::Config)?;
        self.resolve(&assignee, &template.title).map(Some)
    }

    fn require_approver(&self, by: &str) -> Result<(), TransitionError> {
        require_actor(by)?;
        // Without a configured approval step (config changed while the loss
        // was pending) the head decides. The responsible never approves
        // their own loss: with no head the interest waits until the org
        // structure names one.
        let approver = match self.loss_approver()? {
            Some(approver) => approver,
            None => self
                .interest
                .head
                .clone()
                .filter(|head| !head.trim().is_empty())
                .ok_or_else(|| TransitionError::NoHead {
                    task: "approve the loss".to_owned(),
                })?,
        };
        if by.trim() == approver {
            Ok(())
        } else {
            Err(TransitionError::NotTheApprover {
                by: by.to_owned(),
                approver,
            })
        }
    }

    /// Records the result of the current planned interaction; returns how
    /// many planned interactions remain.
    fn record_result(&self, out: &mut Outcome, result: &str, by: &str) -> u32 {
        self.feed(
            out,
            Some(by),
            FeedKind::InteractionResult,
            format!("Результат: {}", result.trim()),
        );
        if self.interest.planned_interactions > 0 {
            out.interaction_result = Some(result.trim().to_owned());
            self.interest.planned_interactions - 1
        } else {
            0
        }
    }

    fn finish_won(&self, out: &mut Outcome, orders: &[OrderTotals], author: Option<&str>) {
        out.new_status = InterestStatus::Won;
        out.tasks_to_close = vec![TaskClosure::AllOpen];
        // Stage tasks planned in this same outcome are moot now; event tasks
        // (delivery control after the last shipment) still matter.
        out.tasks_to_create
            .retain(|task| !matches!(task.purpose, TaskPurpose::StageEntry { .. }));
        let amount = revenue(orders);
        out.potential_amount = Some(amount);
        self.feed(
            out,
            author,
            FeedKind::Won,
            format!(
                "Интерес завершён успешно. Выручка по заказам: {}",
                format_rub(amount)
            ),
        );
    }

    fn transition(
        &self,
        stage: &StageConfig,
        to: &str,
        result: &str,
        next: Option<&NextStep>,
        by: &str,
    ) -> Result<Outcome, TransitionError> {
        self.require_open()?;
        require_actor(by)?;
        if result.trim().is_empty() {
            return Err(TransitionError::EmptyResult);
        }
        let target = stage_of(self.scenario, to)?;
        if target.id == stage.id {
            return Err(TransitionError::SameStage(to.to_owned()));
        }
        if !stage.transitions.iter().any(|allowed| allowed == to) {
            return Err(TransitionError::NotAllowed {
                from: stage.id.clone(),
                to: to.to_owned(),
            });
        }
        if target.kind == StageKind::Lost {
            return Err(TransitionError::UseCloseLost(to.to_owned()));
        }
        let facts = OrderFacts::of(&self.interest.orders);
        let forward = self.scenario.stage_index(to) > self.scenario.stage_index(&stage.id);
        // Going back never needs anything: a manager must be able to undo.
        let mut required: Vec<Requirement> = if forward {
            stage.exit_requirements.clone()
        } else {
            Vec::new()
        };
        if target.kind == StageKind::Won {
            required.extend(WON_REQUIREMENTS);
        }
        required.sort();
        required.dedup();
        let unmet = unmet(&required, &facts, self.interest.is_client);
        if !unmet.is_empty() {
            return Err(TransitionError::RequirementsNotMet {
                to: to.to_owned(),
                unmet,
            });
        }
        self.check_next_step(next)?;

        let mut out = self.outcome();
        let remaining_interactions = self.record_result(&mut out, result, by);
        self.enter_stage(&mut out, target, Some(by))?;
        if target.kind == StageKind::Won {
            self.finish_won(&mut out, &self.interest.orders, Some(by));
            self.plan_next_step(&mut out, next)?;
            return Ok(out);
        }
        self.plan_next_step(&mut out, next)?;
        if let Some(entry) = self.require_something_planned(
            &out,
            next,
            self.interest.open_tasks,
            remaining_interactions,
        )? {
            out.feed.push(entry);
        }
        Ok(out)
    }

    fn close_lost(
        &self,
        stage: &StageConfig,
        to: Option<&str>,
        reason: &str,
        comment: &str,
        by: &str,
    ) -> Result<Outcome, TransitionError> {
        self.require_open()?;
        require_actor(by)?;
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(TransitionError::LossReasonRequired);
        }
        // Compare case-insensitively but store the configured spelling, so
        // loss reports group by exactly the configured reasons.
        let reason = self
            .scenario
            .loss_reasons
            .iter()
            .find(|allowed| allowed.trim().to_lowercase() == reason.to_lowercase())
            .ok_or_else(|| TransitionError::UnknownLossReason {
                reason: reason.to_owned(),
                allowed: self.scenario.loss_reasons.clone(),
            })?;
        let comment = comment.trim();
        if comment.is_empty() && self.scenario.loss_comment_required {
            return Err(TransitionError::LossCommentRequired);
        }
        let target = match to {
            Some(to) => {
                let target = stage_of(self.scenario, to)?;
                if target.kind != StageKind::Lost {
                    return Err(TransitionError::NotALostStage(to.to_owned()));
                }
                if !stage.transitions.iter().any(|allowed| allowed == to) {
                    return Err(TransitionError::NotAllowed {
                        from: stage.id.clone(),
                        to: to.to_owned(),
                    });
                }
                target
            }
            None => stage
                .transitions
                .iter()
                .filter_map(|id| self.scenario.stage(id))
                .find(|candidate| candidate.kind == StageKind::Lost)
                .ok_or_else(|| TransitionError::NotAllowed {
                    from: stage.id.clone(),
                    to: "<lost>".to_owned(),
                })?,
        };

        let mut out = self.outcome();
        out.new_stage = target.id.clone();
        let details = if comment.is_empty() {
            format!("Причина: {reason}")
        } else {
            format!("Причина: {reason}. Комментарий: {comment}")
        };
        let approver = self.loss_approver()?;
        let mut loss = LossChange::Requested {
            reason: reason.clone(),
            comment: comment.to_owned(),
            from_stage: stage.id.clone(),
            by: by.to_owned(),
            pending: false,
        };
        match (&self.scenario.loss_approval_task, approver) {
            // The approver closing their own interest needs nobody's consent.
            (Some(template), Some(approver)) if approver != self.interest.responsible => {
                if let LossChange::Requested { pending, .. } = &mut loss {
                    *pending = true;
                }
                out.new_status = InterestStatus::LossPending;
                out.tasks_to_create
                    .push(self.task(template, TaskPurpose::LossApproval)?);
                self.feed(
                    &mut out,
                    Some(by),
                    FeedKind::LossRequested,
                    format!(
                        "Запрошено закрытие как «{}» (этап «{}»), ждёт согласования: {approver}. {details}",
                        target.name, stage.name
                    ),
                );
            }
            _ => {
                out.new_status = InterestStatus::Lost;
                out.tasks_to_close = vec![TaskClosure::AllOpen];
                self.feed(
                    &mut out,
                    Some(by),
                    FeedKind::Lost,
                    format!(
                        "Интерес закрыт как «{}» (этап «{}»). {details}",
                        target.name, stage.name
                    ),
                );
            }
        }
        out.loss = Some(loss);
        Ok(out)
    }

    fn approve_loss(&self, by: &str, comment: &str) -> Result<Outcome, TransitionError> {
        self.require_loss_pending()?;
        self.require_approver(by)?;
        let mut out = self.outcome();
        out.new_status = InterestStatus::Lost;
        out.tasks_to_close = vec![TaskClosure::AllOpen];
        let comment = comment.trim();
        let text = if comment.is_empty() {
            "Закрытие интереса как неудачного согласовано".to_owned()
        } else {
            format!("Закрытие интереса как неудачного согласовано. Комментарий: {comment}")
        };
        self.feed(&mut out, Some(by), FeedKind::LossApproved, text);
        out.loss = Some(LossChange::Approved {
            by: by.to_owned(),
            comment: comment.to_owned(),
        });
        Ok(out)
    }

    fn return_from_loss(
        &self,
        to: &str,
        by: &str,
        comment: &str,
        next: Option<&NextStep>,
    ) -> Result<Outcome, TransitionError> {
        self.require_loss_pending()?;
        self.require_approver(by)?;
        let target = stage_of(self.scenario, to)?;
        if target.kind != StageKind::Working {
            return Err(TransitionError::NotAWorkingStage(to.to_owned()));
        }
        self.check_next_step(next)?;
        let mut out = self.outcome();
        out.new_status = InterestStatus::Open;
        out.tasks_to_close = vec![TaskClosure::Purpose {
            purpose: TaskPurpose::LossApproval,
        }];
        let comment = comment.trim();
        let text = if comment.is_empty() {
            format!(
                "Закрытие как неудачного не согласовано, интерес возвращён на этап «{}»",
                target.name
            )
        } else {
            format!(
                "Закрытие как неудачного не согласовано, интерес возвращён на этап «{}». Комментарий: {comment}",
                target.name
            )
        };
        self.feed(&mut out, Some(by), FeedKind::LossReturned, text);
        out.loss = Some(LossChange::Returned {
            by: by.to_owned(),
            comment: comment.to_owned(),
        });
        self.enter_stage(&mut out, target, Some(by))?;
        self.plan_next_step(&mut out, next)?;
        // The approval task is being closed; the manager's own tasks stay.
        let remaining_tasks = self.interest.open_tasks.saturating_sub(1);
        if let Some(entry) = self.require_something_planned(
            &out,
            next,
            remaining_tasks,
            self.interest.planned_interactions,
        )? {
            out.feed.push(entry);
        }
        Ok(out)
    }

    fn repeat_appeal(&self, appeal: &AppealFacts) -> Result<Outcome, TransitionError> {
        if self.interest.status.is_finished() {
            return Err(TransitionError::Finished(self.interest.status));
        }
        let mut out = self.outcome();
        out.tasks_to_create
            .push(self.task(&self.scenario.repeat_appeal_task, TaskPurpose::RepeatAppeal)?);
        self.feed(
            &mut out,
            None,
            FeedKind::RepeatAppeal,
            format!(
                "Повторное обращение (канал: {}): {}",
                appeal.channel,
                excerpt(&appeal.text)
            ),
        );
        if self.interest.status == InterestStatus::LossPending {
            self.feed(
                &mut out,
                None,
                FeedKind::Warning,
                "Клиент обратился повторно, пока закрытие интереса ждёт согласования".to_owned(),
            );
        }
        Ok(out)
    }

    fn event(&self, stage: &StageConfig, event: &Event) -> Result<Outcome, TransitionError> {
        let mut orders = self.interest.orders.clone();
        let mut out = self.outcome();
        let at = match event {
            Event::Order(order) => order.at,
            Event::Payment(payment) => payment.at,
            Event::Shipment(shipment) => shipment.at,
        };
        let (index, text) = apply_event(&mut orders, event)?;
        let updated = orders[index].clone();
        self.feed_at(&mut out, at, None, feed_kind(event), text);
        if updated.amount > 0 && updated.paid > updated.amount {
            self.feed_at(
                &mut out,
                at,
                None,
                FeedKind::Warning,
                format!(
                    "Переплата по заказу {}: оплачено {} при сумме {}",
                    updated.id,
                    format_rub(updated.paid),
                    format_rub(updated.amount)
                ),
            );
        }
        if updated.amount > 0 && updated.shipped > updated.amount {
            self.feed_at(
                &mut out,
                at,
                None,
                FeedKind::Warning,
                format!(
                    "Отгружено по заказу {} больше суммы заказа: {} при сумме {}",
                    updated.id,
                    format_rub(updated.shipped),
                    format_rub(updated.amount)
                ),
            );
        }
        out.order_update = Some(updated);

        match self.interest.status {
            InterestStatus::Open => {}
            // Money still has to be recorded, but a closed or frozen
            // interest does not move; the head should see it though.
            status => {
                self.feed_at(
                    &mut out,
                    at,
                    None,
                    FeedKind::Warning,
                    match status {
                        InterestStatus::LossPending => {
                            "Движение по заказу, пока закрытие интереса ждёт согласования"
                                .to_owned()
                        }
                        _ => "Движение по заказу закрытого интереса".to_owned(),
                    },
                );
                return Ok(out);
            }
        }

        for event_task in self
            .scenario
            .event_tasks
            .iter()
            .filter(|t| t.on == event.kind())
        {
            out.tasks_to_create.push(self.task(
                &event_task.template(),
                TaskPurpose::Event { on: event_task.on },
            )?);
        }
        self.auto_transitions(&mut out, stage, event, &orders)?;
        Ok(out)
    }

    /// Follows automatic transitions from `stage`, re-checking triggers in
    /// each stage reached; a stage is never entered twice in one event,
    /// which rules out loops in any configuration.
    fn auto_transitions(
        &self,
        out: &mut Outcome,
        stage: &StageConfig,
        event: &Event,
        orders: &[OrderTotals],
    ) -> Result<(), TransitionError> {
        let facts = OrderFacts::of(orders);
        let fires = |trigger: AutoTrigger| match trigger {
            AutoTrigger::Order => matches!(event, Event::Order(_)),
            AutoTrigger::Payment => matches!(event, Event::Payment(_)),
            AutoTrigger::Shipment => matches!(event, Event::Shipment(_)),
            AutoTrigger::PaymentComplete => facts.fully_paid,
            AutoTrigger::ShipmentComplete => facts.fully_shipped,
        };
        let mut visited = vec![stage.id.clone()];
        let mut current = stage;
        loop {
            let mut chosen = None;
            for auto in current.auto.iter().filter(|auto| fires(auto.on)) {
                let Some(target) = self.scenario.stage(&auto.to) else {
                    continue;
                };
                if visited.contains(&target.id) || target.kind == StageKind::Lost {
                    continue;
                }
                if target.kind == StageKind::Won {
                    let blockers = unmet(&WON_REQUIREMENTS, &facts, self.interest.is_client);
                    if !blockers.is_empty() {
                        self.feed(
                            out,
                            None,
                            FeedKind::Warning,
                            format!(
                                "Автоматический переход на этап «{}» не выполнен: {}",
                                target.name,
                                describe_blockers(&blockers, &facts)
                            ),
                        );
                        continue;
                    }
                }
                chosen = Some(target);
                break;
            }
            let Some(target) = chosen else {
                return Ok(());
            };
            // Tasks of the stage being left are moot: "Что с оплатой?" once
            // the money is in. Drop those planned in this very outcome too.
            let left = TaskPurpose::StageEntry {
                stage: current.id.clone(),
            };
            out.tasks_to_create.retain(|task| task.purpose != left);
            if current.id == self.interest.stage {
                out.tasks_to_close
                    .push(TaskClosure::Purpose { purpose: left });
            }
            self.enter_stage(out, target, None)?;
            if target.kind == StageKind::Won {
                self.finish_won(out, orders, None);
                return Ok(());
            }
            visited.push(target.id.clone());
            current = target;
        }
    }
}

fn describe_blockers(blockers: &[Requirement], facts: &OrderFacts) -> String {
    blockers
        .iter()
        .map(|blocker| match blocker {
            Requirement::IsClient => "лид ещё не стал клиентом".to_owned(),
            Requirement::HasOrder => "нет заказов".to_owned(),
            Requirement::FullyPaid => format!(
                "оплачено {} из {}",
                format_rub(facts.paid),
                format_rub(facts.amount)
            ),
            Requirement::FullyShipped => format!(
                "отгружено {} из {}",
                format_rub(facts.shipped),
                format_rub(facts.amount)
            ),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn feed_kind(event: &Event) -> FeedKind {
    match event {
        Event::Order(_) => FeedKind::Order,
        Event::Payment(_) => FeedKind::Payment,
        Event::Shipment(_) => FeedKind::Shipment,
    }
}

/// Applies one order event to the totals; returns the touched order's index
/// and the feed text.
fn apply_event(
    orders: &mut Vec<OrderTotals>,
    event: &Event,
) -> Result<(usize, String), TransitionError> {
    let order_id = match event {
        Event::Order(order) => &order.order_id,
        Event::Payment(payment) => &payment.order_id,
        Event::Shipment(shipment) => &shipment.order_id,
    };
    if order_id.trim().is_empty() {
        return Err(TransitionError::EmptyOrderId);
    }
    let position = orders.iter().position(|order| &order.id == order_id);
    match event {
        Event::Order(order) => {
            if order.amount < 0 {
                return Err(TransitionError::NegativeOrderAmount(order.amount));
            }
            let (index, text) = match position {
                Some(index) => {
                    let old = orders[index].amount;
                    orders[index].amount = order.amount;
                    let text = if order.amount == 0 {
                        format!("Заказ {order_id} отменён (была сумма {})", format_rub(old))
                    } else {
                        format!(
                            "Сумма заказа {order_id} изменена: {} → {}",
                            format_rub(old),
                            format_rub(order.amount)
                        )
                    };
                    (index, text)
                }
                None => {
                    orders.push(OrderTotals {
                        id: order_id.clone(),
                        amount: order.amount,
                        paid: 0,
                        shipped: 0,
                    });
                    (
                        orders.len() - 1,
                        format!("Заказ {order_id} на сумму {}", format_rub(order.amount)),
                    )
                }
            };
            Ok((index, text))
        }
        Event::Payment(payment) => {
            let index = position.ok_or_else(|| TransitionError::UnknownOrder(order_id.clone()))?;
            if payment.amount <= 0 {
                return Err(TransitionError::NonPositiveAmount(payment.amount));
            }
            let order = &mut orders[index];
            order.paid = order
                .paid
                .checked_add(payment.amount)
                .ok_or(TransitionError::AmountOverflow)?;
            Ok((
                index,
                format!(
                    "Оплата {} по заказу {order_id} (оплачено {} из {})",
                    format_rub(payment.amount),
                    format_rub(order.paid),
                    format_rub(order.amount)
                ),
            ))
        }
        Event::Shipment(shipment) => {
            let index = position.ok_or_else(|| TransitionError::UnknownOrder(order_id.clone()))?;
            if shipment.amount <= 0 {
                return Err(TransitionError::NonPositiveAmount(shipment.amount));
            }
            let order = &mut orders[index];
            order.shipped = order
                .shipped
                .checked_add(shipment.amount)
                .ok_or(TransitionError::AmountOverflow)?;
            Ok((
                index,
                format!(
                    "Отгрузка {} по заказу {order_id} (отгружено {} из {})",
                    format_rub(shipment.amount),
                    format_rub(order.shipped),
                    format_rub(order.amount)
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests;
