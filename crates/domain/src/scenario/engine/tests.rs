use chrono::TimeZone;

use super::super::config::{AutoTransition, EventKind, ScenarioRule};
use super::super::model::{InteractionKind, OrderEvent, PaymentEvent, ShipmentEvent};
use super::*;

const MANAGER: &str = "petrov";
const HEAD: &str = "sidorova";

/// Moscow wall time in March 2027 (1 March is a Monday).
fn msk(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    chrono_tz::Europe::Moscow
        .with_ymd_and_hms(2027, 3, day, hour, minute, 0)
        .single()
        .expect("valid Moscow time")
        .with_timezone(&Utc)
}

fn now() -> DateTime<Utc> {
    msk(1, 10, 0)
}

fn engine() -> Engine {
    Engine::new(ScenarioSet::standard(), WorkCalendar::default())
        .expect("standard scenario is valid")
}

fn order(id: &str, amount: Kopecks, paid: Kopecks, shipped: Kopecks) -> OrderTotals {
    OrderTotals {
        id: id.into(),
        amount,
        paid,
        shipped,
    }
}

/// An open interest with one open task, so the next-step rule is satisfied
/// unless a test says otherwise.
fn interest(stage: &str) -> InterestSnapshot {
    InterestSnapshot {
        scenario_id: "standard".into(),
        stage: stage.into(),
        status: InterestStatus::Open,
        open_tasks: 1,
        planned_interactions: 0,
        orders: Vec::new(),
        is_client: false,
        responsible: MANAGER.into(),
        head: Some(HEAD.into()),
    }
}

/// A client whose single order is paid and shipped in full.
fn complete_deal(stage: &str) -> InterestSnapshot {
    InterestSnapshot {
        is_client: true,
        orders: vec![order("З-1", 100_000, 100_000, 100_000)],
        ..interest(stage)
    }
}

fn transition(to: &str) -> Command {
    Command::Transition {
        to: to.into(),
        result: "Клиент подтвердил интерес".into(),
        next: None,
        by: MANAGER.into(),
    }
}

fn close_lost(reason: &str) -> Command {
    Command::CloseLost {
        to: None,
        reason: reason.into(),
        comment: "Ушли к конкуренту из-за сроков".into(),
        by: MANAGER.into(),
    }
}

fn payment(order_id: &str, amount: Kopecks) -> Command {
    Command::Event(Event::Payment(PaymentEvent {
        order_id: order_id.into(),
        amount,
        at: msk(1, 9, 30),
    }))
}

fn shipment(order_id: &str, amount: Kopecks) -> Command {
    Command::Event(Event::Shipment(ShipmentEvent {
        order_id: order_id.into(),
        amount,
        at: msk(1, 9, 45),
    }))
}

fn order_event(order_id: &str, amount: Kopecks) -> Command {
    Command::Event(Event::Order(OrderEvent {
        order_id: order_id.into(),
        amount,
        at: msk(1, 9, 15),
    }))
}

fn appeal(text: &str) -> AppealFacts {
    AppealFacts {
        channel: "email".into(),
        source: None,
        form: None,
        text: text.into(),
    }
}

fn titles(outcome: &Outcome) -> Vec<&str> {
    outcome
        .tasks_to_create
        .iter()
        .map(|task| task.title.as_str())
        .collect()
}

fn feed_kinds(outcome: &Outcome) -> Vec<FeedKind> {
    outcome.feed.iter().map(|entry| entry.kind).collect()
}

fn decide(snapshot: &InterestSnapshot, command: &Command) -> Result<Outcome, TransitionError> {
    engine().decide(snapshot, command, now())
}

// --- creation ------------------------------------------------------------

#[test]
fn new_interest_starts_in_request_with_a_call_task() {
    let draft = InterestSnapshot::draft(MANAGER, Some(HEAD.into()));
    let out = decide(
        &draft,
        &Command::Create {
            appeal: appeal("Нужен расчёт на 20 станков"),
            next: None,
        },
    )
    .expect("created");
    assert_eq!(out.scenario_id, "standard");
    assert_eq!(out.new_stage, "request");
    assert_eq!(out.new_status, InterestStatus::Open);
    assert_eq!(
        out.tasks_to_create,
        vec![TaskSpec {
            title: "Телефонный звонок клиенту".into(),
            assignee: MANAGER.into(),
            due: msk(1, 12, 0),
            reminder_at: None,
            purpose: TaskPurpose::StageEntry {
                stage: "request".into()
            },
        }]
    );
    assert_eq!(feed_kinds(&out), vec![FeedKind::Created]);
    assert!(out.feed[0].text.contains("Нужен расчёт на 20 станков"));
}

#[test]
fn call_task_set_on_friday_evening_is_due_on_monday_morning() {
    let draft = InterestSnapshot::draft(MANAGER, None);
    let create = Command::Create {
        appeal: appeal("Срочно"),
        next: None,
    };
    let out = engine()
        .decide(&draft, &create, msk(5, 17, 0))
        .expect("created");
    assert_eq!(out.tasks_to_create[0].due, msk(8, 10, 0));
}

#[test]
fn create_picks_scenario_by_rules_or_explicit_id() {
    let mut set = ScenarioSet::standard();
    let mut tender = ScenarioConfig::standard();
    tender.id = "tender".into();
    tender.name = "Тендер".into();
    tender.default = false;
    set.scenarios.push(tender);
    set.scenario_rules.push(ScenarioRule {
        channel: None,
        source: None,
        form: None,
        keyword: Some("тендер".into()),
        scenario: "tender".into(),
    });
    let engine = Engine::new(set, WorkCalendar::default()).expect("valid");
    let create = |text: &str| Command::Create {
        appeal: appeal(text),
        next: None,
    };
    let draft = InterestSnapshot::draft(MANAGER, None);
    let by_rule = engine
        .decide(&draft, &create("Приглашение на Тендер"), now())
        .expect("ok");
    assert_eq!(by_rule.scenario_id, "tender");
    let by_default = engine.decide(&draft, &create("Вопрос"), now()).expect("ok");
    assert_eq!(by_default.scenario_id, "standard");
    let forced = InterestSnapshot {
        scenario_id: "tender".into(),
        ..draft.clone()
    };
    assert_eq!(
        engine
            .decide(&forced, &create("Вопрос"), now())
            .expect("ok")
            .scenario_id,
        "tender"
    );
    let unknown = InterestSnapshot {
        scenario_id: "ghost".into(),
        ..draft
    };
    assert_eq!(
        engine.decide(&unknown, &create("Вопрос"), now()),
        Err(TransitionError::UnknownScenario("ghost".into()))
    );
}

#[test]
fn create_adds_the_chosen_next_step() {
    let draft = InterestSnapshot::draft(MANAGER, None);
    let out = decide(
        &draft,
        &Command::Create {
            appeal: appeal("Перезвоните"),
            next: Some(NextStep::Interaction {
                kind: InteractionKind::Call,
                at: msk(1, 15, 0),
                subject: "Уточнить потребность".into(),
            }),
        },
    )
    .expect("created");
    assert_eq!(out.interactions_to_plan.len(), 1);
    assert_eq!(out.interactions_to_plan[0].responsible, MANAGER);
}

#[test]
fn create_and_other_commands_check_the_snapshot_shape() {
    let create = Command::Create {
        appeal: appeal("x"),
        next: None,
    };
    assert_eq!(
        decide(&interest("offer"), &create),
        Err(TransitionError::AlreadyCreated("offer".into()))
    );
    let draft = InterestSnapshot::draft(MANAGER, None);
    assert_eq!(
        decide(&draft, &transition("offer")),
        Err(TransitionError::NotCreated)
    );
}

#[test]
fn snapshot_with_unknown_scenario_or_stage_is_refused() {
    let stale = InterestSnapshot {
        scenario_id: "old".into(),
        ..interest("request")
    };
    assert_eq!(
        decide(&stale, &transition("offer")),
        Err(TransitionError::UnknownScenario("old".into()))
    );
    assert_eq!(
        decide(&interest("kp"), &transition("offer")),
        Err(TransitionError::UnknownStage {
            scenario: "standard".into(),
            stage: "kp".into()
        })
    );
}

// --- transition table ----------------------------------------------------

#[test]
fn manual_transition_table_of_the_standard_scenario() {
    let stages = ["request", "offer", "payment", "shipment", "won", "lost"];
    let allowed = [
        ("request", "offer"),
        ("offer", "request"),
        ("offer", "payment"),
        ("payment", "offer"),
        ("payment", "shipment"),
        ("shipment", "payment"),
        ("shipment", "won"),
    ];
    let lost_allowed = ["request", "offer", "payment", "shipment"];
    for from in ["request", "offer", "payment", "shipment"] {
        for to in stages {
            let result = decide(&complete_deal(from), &transition(to));
            if from == to {
                assert_eq!(result, Err(TransitionError::SameStage(to.into())));
            } else if to == "lost" && lost_allowed.contains(&from) {
                assert_eq!(
                    result,
                    Err(TransitionError::UseCloseLost(to.into())),
                    "{from} -> {to}"
                );
            } else if allowed.contains(&(from, to)) {
                let out = result.unwrap_or_else(|e| panic!("{from} -> {to}: {e}"));
                assert_eq!(out.new_stage, to);
            } else {
                assert_eq!(
                    result,
                    Err(TransitionError::NotAllowed {
                        from: from.into(),
                        to: to.into()
                    }),
                    "{from} -> {to}"
                );
            }
        }
    }
}

#[test]
fn transitions_from_finished_or_pending_interests_are_refused() {
    for status in [InterestStatus::Won, InterestStatus::Lost] {
        let done = InterestSnapshot {
            status,
            ..complete_deal("won")
        };
        assert_eq!(
            decide(&done, &transition("payment")),
            Err(TransitionError::Finished(status))
        );
        assert_eq!(
            decide(&done, &close_lost("Высокая цена")),
            Err(TransitionError::Finished(status))
        );
    }
    let pending = InterestSnapshot {
        status: InterestStatus::LossPending,
        ..interest("lost")
    };
    assert_eq!(
        decide(&pending, &transition("offer")),
        Err(TransitionError::LossPending)
    );
    assert_eq!(
        decide(&pending, &close_lost("Высокая цена")),
        Err(TransitionError::LossPending)
    );
}

#[test]
fn entering_payment_creates_what_about_payment_task_in_three_working_days() {
    let snapshot = InterestSnapshot {
        orders: vec![order("З-1", 100_000, 0, 0)],
        ..interest("offer")
    };
    let out = decide(&snapshot, &transition("payment")).expect("moved");
    assert_eq!(titles(&out), vec!["Что с оплатой?"]);
    // Monday 10:00 + 3 working days = Thursday end of day.
    assert_eq!(out.tasks_to_create[0].due, msk(4, 18, 0));
    assert_eq!(
        feed_kinds(&out),
        vec![FeedKind::InteractionResult, FeedKind::StageChanged]
    );
    assert!(out.feed[1].text.contains("«КП/Счёт» → «Оплата»"));
}

#[test]
fn moving_forward_checks_exit_requirements_but_going_back_does_not() {
    let no_order = interest("offer");
    assert_eq!(
        decide(&no_order, &transition("payment")),
        Err(TransitionError::RequirementsNotMet {
            to: "payment".into(),
            unmet: vec![Requirement::HasOrder]
        })
    );
    // A cancelled order (amount 0) is not an order.
    let cancelled = InterestSnapshot {
        orders: vec![order("З-1", 0, 0, 0)],
        ..interest("offer")
    };
    assert!(decide(&cancelled, &transition("payment")).is_err());
    assert_eq!(
        decide(&no_order, &transition("request"))
            .expect("back")
            .new_stage,
        "request"
    );
}

// --- next step rule ------------------------------------------------------

#[test]
fn transition_that_leaves_nothing_planned_is_refused() {
    // The only planned interaction gets its result now; КП/Счёт creates no task.
    let bare = InterestSnapshot {
        open_tasks: 0,
        planned_interactions: 1,
        ..interest("request")
    };
    assert_eq!(
        decide(&bare, &transition("offer")),
        Err(TransitionError::NothingPlanned)
    );
}

#[test]
fn nothing_chosen_explicitly_is_allowed_and_recorded() {
    let bare = InterestSnapshot {
        open_tasks: 0,
        ..interest("request")
    };
    let out = decide(
        &bare,
        &Command::Transition {
            to: "offer".into(),
            result: "Отправил КП".into(),
            next: Some(NextStep::Nothing {
                chosen_by: MANAGER.into(),
            }),
            by: MANAGER.into(),
        },
    )
    .expect("explicit nothing");
    assert_eq!(feed_kinds(&out).last(), Some(&FeedKind::NextStepSkipped));
    assert_eq!(out.interaction_result, None);
}

#[test]
fn planned_interaction_or_task_satisfies_the_next_step_rule() {
    let bare = InterestSnapshot {
        open_tasks: 0,
        planned_interactions: 1,
        ..interest("request")
    };
    let with_call = Command::Transition {
        to: "offer".into(),
        result: "Выяснил потребность: 20 шт.".into(),
        next: Some(NextStep::Interaction {
            kind: InteractionKind::Meeting,
            at: msk(3, 11, 0),
            subject: "Презентация КП".into(),
        }),
        by: MANAGER.into(),
    };
    let out = decide(&bare, &with_call).expect("planned");
    assert_eq!(
        out.interaction_result.as_deref(),
        Some("Выяснил потребность: 20 шт.")
    );
    assert_eq!(out.interactions_to_plan[0].kind, InteractionKind::Meeting);

    let with_task = Command::Transition {
        to: "offer".into(),
        result: "Выяснил потребность".into(),
        next: Some(NextStep::Task {
            title: "Согласовать скидку".into(),
            assignee: Assignee::Head,
            due: msk(2, 12, 0),
        }),
        by: MANAGER.into(),
    };
    let out = decide(&bare, &with_task).expect("planned");
    assert_eq!(out.tasks_to_create[0].assignee, HEAD);
    assert_eq!(out.tasks_to_create[0].purpose, TaskPurpose::NextStep);
    // An already open task is enough too.
    assert!(decide(&interest("request"), &transition("offer")).is_ok());
}

#[test]
fn bad_transition_input_is_refused() {
    let snapshot = interest("request");
    let with = |result: &str, next: Option<NextStep>, by: &str| Command::Transition {
        to: "offer".into(),
        result: result.into(),
        next,
        by: by.into(),
    };
    assert_eq!(
        decide(&snapshot, &with("  ", None, MANAGER)),
        Err(TransitionError::EmptyResult)
    );
    assert_eq!(
        decide(&snapshot, &with("ok", None, "")),
        Err(TransitionError::MissingActor)
    );
    let past = msk(1, 9, 0);
    let call = NextStep::Interaction {
        kind: InteractionKind::Call,
        at: past,
        subject: String::new(),
    };
    assert_eq!(
        decide(&snapshot, &with("ok", Some(call), MANAGER)),
        Err(TransitionError::NextStepInPast(past))
    );
    let untitled = NextStep::Task {
        title: " ".into(),
        assignee: Assignee::Responsible,
        due: msk(2, 9, 0),
    };
    assert_eq!(
        decide(&snapshot, &with("ok", Some(untitled), MANAGER)),
        Err(TransitionError::EmptyNextStepTitle)
    );
    let nobody = NextStep::Nothing {
        chosen_by: "".into(),
    };
    assert_eq!(
        decide(&snapshot, &with("ok", Some(nobody), MANAGER)),
        Err(TransitionError::MissingActor)
    );
    let for_head = NextStep::Task {
        title: "Согласовать".into(),
        assignee: Assignee::Head,
        due: msk(2, 9, 0),
    };
    let headless = InterestSnapshot {
        head: None,
        ..snapshot
    };
    assert_eq!(
        decide(&headless, &with("ok", Some(for_head), MANAGER)),
        Err(TransitionError::NoHead {
            task: "Согласовать".into()
        })
    );
}

// --- won closure ---------------------------------------------------------

#[test]
fn manual_won_requires_client_full_payment_and_full_shipment() {
    let half = InterestSnapshot {
        orders: vec![
            order("З-1", 100_000, 50_000, 0),
            order("З-2", 20_000, 20_000, 20_000),
        ],
        ..interest("shipment")
    };
    assert_eq!(
        decide(&half, &transition("won")),
        Err(TransitionError::RequirementsNotMet {
            to: "won".into(),
            unmet: vec![
                Requirement::FullyPaid,
                Requirement::FullyShipped,
                Requirement::IsClient
            ]
        })
    );
    let no_orders = InterestSnapshot {
        is_client: true,
        ..interest("shipment")
    };
    assert_eq!(
        decide(&no_orders, &transition("won")),
        Err(TransitionError::RequirementsNotMet {
            to: "won".into(),
            unmet: vec![
                Requirement::HasOrder,
                Requirement::FullyPaid,
                Requirement::FullyShipped
            ]
        })
    );
    let message = decide(&half, &transition("won"))
        .expect_err("blocked")
        .to_string();
    assert!(
        message.contains("not paid in full") && message.contains("not become a client"),
        "{message}"
    );
}

#[test]
fn manual_won_sets_potential_amount_to_revenue_and_closes_tasks() {
    let deal = InterestSnapshot {
        orders: vec![
            order("З-1", 100_000, 100_000, 100_000),
            order("З-2", 25_050, 25_050, 25_050),
            order("отменён", 0, 0, 0),
        ],
        ..complete_deal("shipment")
    };
    let out = decide(&deal, &transition("won")).expect("won");
    assert_eq!(out.new_stage, "won");
    assert_eq!(out.new_status, InterestStatus::Won);
    assert_eq!(out.potential_amount, Some(125_050));
    assert_eq!(out.tasks_to_close, vec![TaskClosure::AllOpen]);
    assert!(out.tasks_to_create.is_empty());
    assert!(out.feed.last().expect("feed").text.contains("1 250,50 ₽"));
}

// --- loss ----------------------------------------------------------------

#[test]
fn loss_needs_a_reason_from_the_configured_list() {
    let snapshot = interest("offer");
    assert_eq!(
        decide(&snapshot, &close_lost("  ")),
        Err(TransitionError::LossReasonRequired)
    );
    match decide(&snapshot, &close_lost("Не понравился менеджер")) {
        Err(TransitionError::UnknownLossReason { reason, allowed }) => {
            assert_eq!(reason, "Не понравился менеджер");
            assert!(allowed.contains(&"Высокая цена".to_owned()));
        }
        other => panic!("expected UnknownLossReason, got {other:?}"),
    }
    // Case and spaces do not matter; the configured spelling is recorded.
    let out = decide(&snapshot, &close_lost(" высокая ЦЕНА ")).expect("accepted");
    assert!(
        out.feed[0].text.contains("Причина: Высокая цена"),
        "{}",
        out.feed[0].text
    );
}

#[test]
fn loss_waits_for_head_approval() {
    let out = decide(&interest("payment"), &close_lost("Выбрали конкурента")).expect("requested");
    assert_eq!(out.new_stage, "lost");
    assert_eq!(out.new_status, InterestStatus::LossPending);
    assert_eq!(
        out.tasks_to_create,
        vec![TaskSpec {
            title: "Согласовать закрытие интереса как неудачного".into(),
            assignee: HEAD.into(),
            due: msk(2, 18, 0),
            reminder_at: None,
            purpose: TaskPurpose::LossApproval,
        }]
    );
    // The manager's tasks stay open until the head decides.
    assert!(out.tasks_to_close.is_empty());
    assert_eq!(feed_kinds(&out), vec![FeedKind::LossRequested]);
    let text = &out.feed[0].text;
    assert!(
        text.contains("Выбрали конкурента") && text.contains("Ушли к конкуренту"),
        "{text}"
    );
}

#[test]
fn loss_by_the_head_or_without_approval_step_is_final_at_once() {
    let own = InterestSnapshot {
        responsible: HEAD.into(),
        ..interest("request")
    };
    let out = decide(&own, &close_lost("Нет бюджета")).expect("closed");
    assert_eq!(out.new_status, InterestStatus::Lost);
    assert_eq!(out.tasks_to_close, vec![TaskClosure::AllOpen]);
    assert!(out.tasks_to_create.is_empty());

    let mut set = ScenarioSet::standard();
    set.scenarios[0].loss_approval_task = None;
    let engine = Engine::new(set, WorkCalendar::default()).expect("valid");
    let out = engine
        .decide(&interest("request"), &close_lost("Нет бюджета"), now())
        .expect("closed");
    assert_eq!(out.new_status, InterestStatus::Lost);
}

#[test]
fn loss_without_a_head_to_approve_is_refused() {
    let headless = InterestSnapshot {
        head: None,
        ..interest("request")
    };
    assert!(matches!(
        decide(&headless, &close_lost("Нет бюджета")),
        Err(TransitionError::NoHead { .. })
    ));
}

#[test]
fn loss_target_must_be_an_allowed_lost_stage() {
    let to = |stage: &str| Command::CloseLost {
        to: Some(stage.into()),
        reason: "Другое".into(),
        comment: "Закрылась фирма".into(),
        by: MANAGER.into(),
    };
    assert_eq!(
        decide(&interest("offer"), &to("won")),
        Err(TransitionError::NotALostStage("won".into()))
    );
    assert_eq!(
        decide(&interest("offer"), &to("lost"))
            .expect("ok")
            .new_stage,
        "lost"
    );
}

fn pending() -> InterestSnapshot {
    InterestSnapshot {
        status: InterestStatus::LossPending,
        open_tasks: 2, // the manager's task and the approval task
        ..interest("lost")
    }
}

#[test]
fn head_approves_the_loss() {
    let approve = Command::ApproveLoss {
        by: HEAD.into(),
        comment: "Согласна".into(),
    };
    let out = decide(&pending(), &approve).expect("approved");
    assert_eq!(out.new_stage, "lost");
    assert_eq!(out.new_status, InterestStatus::Lost);
    assert_eq!(out.tasks_to_close, vec![TaskClosure::AllOpen]);
    assert_eq!(feed_kinds(&out), vec![FeedKind::LossApproved]);
    assert_eq!(out.feed[0].author.as_deref(), Some(HEAD));
}

#[test]
fn only_the_approver_decides_and_only_on_pending_losses() {
    let by_manager = Command::ApproveLoss {
        by: MANAGER.into(),
        comment: String::new(),
    };
    assert_eq!(
        decide(&pending(), &by_manager),
        Err(TransitionError::NotTheApprover {
            by: MANAGER.into(),
            approver: HEAD.into()
        })
    );
    let by_head = Command::ApproveLoss {
        by: HEAD.into(),
        comment: String::new(),
    };
    assert_eq!(
        decide(&interest("offer"), &by_head),
        Err(TransitionError::NotLossPending)
    );
    let lost = InterestSnapshot {
        status: InterestStatus::Lost,
        ..pending()
    };
    assert_eq!(
        decide(&lost, &by_head),
        Err(TransitionError::Finished(InterestStatus::Lost))
    );
}

#[test]
fn head_returns_the_interest_to_an_earlier_stage() {
    let back = Command::ReturnFromLoss {
        to: "payment".into(),
        by: HEAD.into(),
        comment: "Клиент ещё думает, дожать".into(),
        next: None,
    };
    let out = decide(&pending(), &back).expect("returned");
    assert_eq!(out.new_stage, "payment");
    assert_eq!(out.new_status, InterestStatus::Open);
    assert_eq!(
        out.tasks_to_close,
        vec![TaskClosure::Purpose {
            purpose: TaskPurpose::LossApproval
        }]
    );
    assert_eq!(titles(&out), vec!["Что с оплатой?"]);
    assert_eq!(
        feed_kinds(&out),
        vec![FeedKind::LossReturned, FeedKind::StageChanged]
    );
    assert!(out.feed[0].text.contains("дожать"));
}

#[test]
fn return_from_loss_checks_target_and_next_step() {
    let back = |to: &str, next: Option<NextStep>| Command::ReturnFromLoss {
        to: to.into(),
        by: HEAD.into(),
        comment: String::new(),
        next,
    };
    assert_eq!(
        decide(&pending(), &back("won", None)),
        Err(TransitionError::NotAWorkingStage("won".into()))
    );
    // Only the approval task was open and КП/Счёт plans nothing.
    let only_approval = InterestSnapshot {
        open_tasks: 1,
        ..pending()
    };
    assert_eq!(
        decide(&only_approval, &back("offer", None)),
        Err(TransitionError::NothingPlanned)
    );
    let task = NextStep::Task {
        title: "Перезвонить клиенту".into(),
        assignee: Assignee::Responsible,
        due: msk(2, 12, 0),
    };
    let out = decide(&only_approval, &back("offer", Some(task))).expect("returned");
    assert_eq!(out.tasks_to_create[0].assignee, MANAGER);
    assert!(matches!(
        decide(
            &pending(),
            &Command::ReturnFromLoss {
                to: "offer".into(),
                by: MANAGER.into(),
                comment: String::new(),
                next: None
            }
        ),
        Err(TransitionError::NotTheApprover { .. })
    ));
}

// --- events: payment -----------------------------------------------------

#[test]
fn partial_payment_keeps_the_stage_and_records_the_money() {
    let snapshot = InterestSnapshot {
        orders: vec![order("З-1", 100_000, 0, 0)],
        ..interest("payment")
    };
    let out = decide(&snapshot, &payment("З-1", 40_000)).expect("recorded");
    assert_eq!(out.new_stage, "payment");
    assert_eq!(out.order_update, Some(order("З-1", 100_000, 40_000, 0)));
    assert!(out.tasks_to_create.is_empty() && out.tasks_to_close.is_empty());
    assert_eq!(feed_kinds(&out), vec![FeedKind::Payment]);
    assert_eq!(out.feed[0].at, msk(1, 9, 30));
    assert!(
        out.feed[0].text.contains("оплачено 400,00 ₽ из 1 000,00 ₽"),
        "{}",
        out.feed[0].text
    );
}

#[test]
fn payment_completing_all_orders_moves_to_shipment_with_task_due_today() {
    let snapshot = InterestSnapshot {
        orders: vec![
            order("З-1", 100_000, 40_000, 0),
            order("З-2", 50_000, 50_000, 0),
        ],
        ..interest("payment")
    };
    let out = decide(&snapshot, &payment("З-1", 60_000)).expect("moved");
    assert_eq!(out.new_stage, "shipment");
    assert_eq!(out.new_status, InterestStatus::Open);
    assert_eq!(
        out.tasks_to_create,
        vec![TaskSpec {
            title: "Оформить реализацию товаров".into(),
            assignee: MANAGER.into(),
            due: msk(1, 18, 0),
            reminder_at: Some(msk(1, 17, 0)),
            purpose: TaskPurpose::StageEntry {
                stage: "shipment".into()
            },
        }]
    );
    // "Что с оплатой?" is answered.
    assert_eq!(
        out.tasks_to_close,
        vec![TaskClosure::Purpose {
            purpose: TaskPurpose::StageEntry {
                stage: "payment".into()
            }
        }]
    );
    assert_eq!(
        feed_kinds(&out),
        vec![FeedKind::Payment, FeedKind::StageChanged]
    );
    assert_eq!(out.feed[1].author, None);
}

#[test]
fn payment_while_another_order_is_unpaid_does_not_move() {
    let snapshot = InterestSnapshot {
        orders: vec![order("З-1", 100_000, 0, 0), order("З-2", 50_000, 0, 0)],
        ..interest("payment")
    };
    let out = decide(&snapshot, &payment("З-1", 100_000)).expect("recorded");
    assert_eq!(out.new_stage, "payment");
}

#[test]
fn payments_in_offer_stage_move_to_payment_or_straight_to_shipment() {
    let snapshot = InterestSnapshot {
        orders: vec![order("З-1", 100_000, 0, 0)],
        ..interest("offer")
    };
    let partial = decide(&snapshot, &payment("З-1", 30_000)).expect("moved");
    assert_eq!(partial.new_stage, "payment");
    assert_eq!(titles(&partial), vec!["Что с оплатой?"]);
    let full = decide(&snapshot, &payment("З-1", 100_000)).expect("moved");
    assert_eq!(full.new_stage, "shipment");
    assert_eq!(titles(&full), vec!["Оформить реализацию товаров"]);
}

#[test]
fn overpayment_is_flagged() {
    let snapshot = InterestSnapshot {
        orders: vec![order("З-1", 100_000, 90_000, 0)],
        ..interest("payment")
    };
    let out = decide(&snapshot, &payment("З-1", 20_000)).expect("recorded");
    assert_eq!(out.new_stage, "shipment");
    assert!(feed_kinds(&out).contains(&FeedKind::Warning));
    assert!(out.feed.iter().any(|e| e.text.contains("Переплата")));
}

// --- events: shipment ----------------------------------------------------

#[test]
fn shipment_creates_delivery_control_and_partial_shipment_stays() {
    let snapshot = InterestSnapshot {
        is_client: true,
        orders: vec![order("З-1", 100_000, 100_000, 0)],
        ..interest("shipment")
    };
    let out = decide(&snapshot, &shipment("З-1", 30_000)).expect("recorded");
    assert_eq!(out.new_stage, "shipment");
    assert_eq!(titles(&out), vec!["Контроль доставки"]);
    assert_eq!(out.tasks_to_create[0].due, msk(4, 18, 0));
    assert_eq!(
        out.tasks_to_create[0].purpose,
        TaskPurpose::Event {
            on: EventKind::Shipment
        }
    );
    assert_eq!(
        out.order_update,
        Some(order("З-1", 100_000, 100_000, 30_000))
    );
}

#[test]
fn full_shipment_of_a_paid_client_deal_closes_it_as_won() {
    let snapshot = InterestSnapshot {
        is_client: true,
        orders: vec![
            order("З-1", 100_000, 100_000, 30_000),
            order("З-2", 7_000, 7_000, 7_000),
        ],
        ..interest("shipment")
    };
    let out = decide(&snapshot, &shipment("З-1", 70_000)).expect("won");
    assert_eq!(out.new_stage, "won");
    assert_eq!(out.new_status, InterestStatus::Won);
    assert_eq!(out.potential_amount, Some(107_000));
    assert_eq!(out.tasks_to_close, vec![TaskClosure::AllOpen]);
    // Goods may still be on the way: delivery control outlives the deal.
    assert_eq!(titles(&out), vec!["Контроль доставки"]);
    assert_eq!(
        feed_kinds(&out),
        vec![FeedKind::Shipment, FeedKind::StageChanged, FeedKind::Won]
    );
}

#[test]
fn full_shipment_without_full_payment_or_client_stays_with_a_warning() {
    let unpaid = InterestSnapshot {
        is_client: true,
        orders: vec![order("З-1", 100_000, 50_000, 0)],
        ..interest("shipment")
    };
    let out = decide(&unpaid, &shipment("З-1", 100_000)).expect("recorded");
    assert_eq!(out.new_stage, "shipment");
    assert_eq!(out.new_status, InterestStatus::Open);
    let warning = out
        .feed
        .iter()
        .find(|e| e.kind == FeedKind::Warning)
        .expect("warning");
    assert!(
        warning.text.contains("оплачено 500,00 ₽ из 1 000,00 ₽"),
        "{}",
        warning.text
    );

    let lead = InterestSnapshot {
        is_client: false,
        orders: vec![order("З-1", 100_000, 100_000, 0)],
        ..interest("shipment")
    };
    let out = decide(&lead, &shipment("З-1", 100_000)).expect("recorded");
    assert_eq!(out.new_stage, "shipment");
    assert!(out.feed.iter().any(|e| e.text.contains("не стал клиентом")));
}

#[test]
fn payment_completing_an_already_shipped_deal_goes_all_the_way_to_won() {
    let snapshot = InterestSnapshot {
        is_client: true,
        orders: vec![order("З-1", 100_000, 20_000, 100_000)],
        ..interest("payment")
    };
    let out = decide(&snapshot, &payment("З-1", 80_000)).expect("won");
    assert_eq!(out.new_stage, "won");
    assert_eq!(out.new_status, InterestStatus::Won);
    // "Оформить реализацию" of the stage passed through is not created.
    assert!(out.tasks_to_create.is_empty(), "{:?}", titles(&out));
    assert_eq!(out.tasks_to_close, vec![TaskClosure::AllOpen]);
    assert_eq!(
        feed_kinds(&out),
        vec![
            FeedKind::Payment,
            FeedKind::StageChanged,
            FeedKind::StageChanged,
            FeedKind::Won
        ]
    );
}

// --- events: orders and bad input ----------------------------------------

#[test]
fn order_events_create_change_and_cancel_orders() {
    let snapshot = InterestSnapshot {
        orders: vec![order("З-1", 100_000, 60_000, 0)],
        ..interest("offer")
    };
    let created = decide(&snapshot, &order_event("З-2", 5_000)).expect("created");
    assert_eq!(created.order_update, Some(order("З-2", 5_000, 0, 0)));
    assert_eq!(created.new_stage, "offer");
    let cancelled = decide(&snapshot, &order_event("З-1", 0)).expect("cancelled");
    assert!(cancelled.feed[0].text.contains("отменён"));
    // Reducing the order to what is already paid completes the payment.
    let reduced = decide(&snapshot, &order_event("З-1", 60_000)).expect("changed");
    assert_eq!(reduced.order_update, Some(order("З-1", 60_000, 60_000, 0)));
    assert_eq!(reduced.new_stage, "shipment");
}

#[test]
fn bad_event_input_is_refused() {
    let snapshot = InterestSnapshot {
        orders: vec![order("З-1", 100_000, i64::MAX - 1, 0)],
        ..interest("payment")
    };
    assert_eq!(
        decide(&snapshot, &payment("З-9", 100)),
        Err(TransitionError::UnknownOrder("З-9".into()))
    );
    assert_eq!(
        decide(&snapshot, &payment("З-1", 0)),
        Err(TransitionError::NonPositiveAmount(0))
    );
    assert_eq!(
        decide(&snapshot, &shipment("З-1", -5)),
        Err(TransitionError::NonPositiveAmount(-5))
    );
    assert_eq!(
        decide(&snapshot, &order_event("З-1", -1)),
        Err(TransitionError::NegativeOrderAmount(-1))
    );
    assert_eq!(
        decide(&snapshot, &order_event(" ", 1)),
        Err(TransitionError::EmptyOrderId)
    );
    assert_eq!(
        decide(&snapshot, &payment("З-1", 10)),
        Err(TransitionError::AmountOverflow)
    );
}

#[test]
fn money_on_finished_or_pending_interests_is_recorded_without_moving() {
    for (status, stage) in [
        (InterestStatus::Lost, "lost"),
        (InterestStatus::Won, "won"),
        (InterestStatus::LossPending, "lost"),
    ] {
        let snapshot = InterestSnapshot {
            status,
            orders: vec![order("З-1", 100_000, 0, 0)],
            ..interest(stage)
        };
        let out = decide(&snapshot, &payment("З-1", 100_000)).expect("recorded");
        assert_eq!(out.new_stage, stage);
        assert_eq!(out.new_status, status);
        assert!(out.tasks_to_create.is_empty());
        assert_eq!(out.order_update, Some(order("З-1", 100_000, 100_000, 0)));
        assert_eq!(feed_kinds(&out), vec![FeedKind::Payment, FeedKind::Warning]);
    }
}

#[test]
fn auto_transition_cycles_in_config_cannot_loop() {
    let mut set = ScenarioSet::standard();
    let stages = &mut set.scenarios[0].stages;
    // payment --payment--> shipment --payment--> payment --payment--> ...
    stages[2].auto = vec![AutoTransition {
        on: AutoTrigger::Payment,
        to: "shipment".into(),
    }];
    stages[3].auto = vec![AutoTransition {
        on: AutoTrigger::Payment,
        to: "payment".into(),
    }];
    let engine = Engine::new(set, WorkCalendar::default()).expect("valid");
    let snapshot = InterestSnapshot {
        orders: vec![order("З-1", 100_000, 0, 0)],
        ..interest("payment")
    };
    let out = engine
        .decide(&snapshot, &payment("З-1", 1_000), now())
        .expect("stops");
    assert_eq!(out.new_stage, "shipment");
}

// --- repeat appeal -------------------------------------------------------

#[test]
fn repeat_appeal_creates_a_task_for_the_responsible() {
    let out = decide(
        &interest("payment"),
        &Command::RepeatAppeal {
            appeal: appeal("Когда будет счёт?"),
        },
    )
    .expect("task");
    assert_eq!(titles(&out), vec!["Обработать повторное обращение"]);
    assert_eq!(out.tasks_to_create[0].assignee, MANAGER);
    assert_eq!(out.tasks_to_create[0].due, msk(1, 12, 0));
    assert_eq!(out.tasks_to_create[0].purpose, TaskPurpose::RepeatAppeal);
    assert_eq!(out.new_stage, "payment");
    assert!(out.feed[0].text.contains("Когда будет счёт?"));
}

#[test]
fn repeat_appeal_during_loss_approval_warns_and_on_closed_interest_is_refused() {
    let repeat = Command::RepeatAppeal {
        appeal: appeal("Мы передумали"),
    };
    let out = decide(&pending(), &repeat).expect("task");
    assert_eq!(
        feed_kinds(&out),
        vec![FeedKind::RepeatAppeal, FeedKind::Warning]
    );
    let won = InterestSnapshot {
        status: InterestStatus::Won,
        ..complete_deal("won")
    };
    assert_eq!(
        decide(&won, &repeat),
        Err(TransitionError::Finished(InterestStatus::Won))
    );
}

#[test]
fn long_appeal_text_is_cut_in_the_feed() {
    let long = "а".repeat(500);
    let out = decide(
        &interest("offer"),
        &Command::RepeatAppeal {
            appeal: appeal(&long),
        },
    )
    .expect("ok");
    assert!(out.feed[0].text.chars().count() < 300);
    assert!(out.feed[0].text.ends_with('…'));
}

// --- engine-wide properties ----------------------------------------------

#[test]
fn engine_refuses_invalid_configuration() {
    let mut set = ScenarioSet::standard();
    set.scenarios[0].first_stage = "zapros".into();
    let problems = Engine::new(set, WorkCalendar::default()).expect_err("invalid");
    assert_eq!(problems[0].key, "scenarios[0].first_stage");
}

#[test]
fn same_input_gives_the_same_outcome() {
    let snapshot = InterestSnapshot {
        is_client: true,
        orders: vec![order("З-1", 100_000, 20_000, 100_000)],
        ..interest("payment")
    };
    let first = decide(&snapshot, &payment("З-1", 80_000));
    let second = decide(&snapshot, &payment("З-1", 80_000));
    assert_eq!(first, second);
}

#[test]
fn commands_and_outcomes_travel_as_json() {
    let json = r#"{
        "type": "transition",
        "to": "offer",
        "result": "Отправил КП",
        "by": "petrov",
        "next": { "type": "interaction", "kind": "call", "at": "2027-03-02T08:00:00Z" }
    }"#;
    let command: Command = serde_json::from_str(json).expect("command parses");
    let out = decide(&interest("request"), &command).expect("moved");
    assert_eq!(out.interactions_to_plan[0].kind, InteractionKind::Call);
    let encoded = serde_json::to_value(&out).expect("outcome serializes");
    assert_eq!(encoded["new_status"], "open");
    let event: Command = serde_json::from_str(
        r#"{"type":"event","event":"payment","order_id":"З-1","amount":100,"at":"2027-03-01T06:30:00Z"}"#,
    )
    .expect("event parses");
    assert_eq!(event, payment("З-1", 100));
    let round_trip: Command =
        serde_json::from_value(serde_json::to_value(&event).expect("serializes"))
            .expect("parses back");
    assert_eq!(round_trip, event);
}

#[test]
fn task_purpose_keys_are_stable() {
    assert_eq!(
        TaskPurpose::StageEntry {
            stage: "payment".into()
        }
        .key(),
        "stage_entry:payment"
    );
    assert_eq!(TaskPurpose::LossApproval.key(), "loss_approval");
    assert_eq!(
        TaskPurpose::Event {
            on: EventKind::Shipment
        }
        .key(),
        "event:shipment"
    );
}

#[test]
fn pending_loss_without_a_head_cannot_be_self_approved() {
    let headless = InterestSnapshot {
        head: None,
        ..pending()
    };
    let by_manager = Command::ApproveLoss {
        by: MANAGER.into(),
        comment: String::new(),
    };
    assert!(matches!(
        decide(&headless, &by_manager),
        Err(TransitionError::NoHead { .. })
    ));
    // Approval step removed from config while pending: the head still decides.
    let mut set = ScenarioSet::standard();
    set.scenarios[0].loss_approval_task = None;
    let engine = Engine::new(set, WorkCalendar::default()).expect("valid");
    assert!(matches!(
        engine.decide(&pending(), &by_manager, now()),
        Err(TransitionError::NotTheApprover { .. })
    ));
    let by_head = Command::ApproveLoss {
        by: HEAD.into(),
        comment: String::new(),
    };
    assert!(engine.decide(&pending(), &by_head, now()).is_ok());
}

#[test]
fn loss_comment_is_required_when_configured() {
    let silent = Command::CloseLost {
        to: None,
        reason: "Другое".into(),
        comment: "  ".into(),
        by: MANAGER.into(),
    };
    assert_eq!(
        decide(&interest("offer"), &silent),
        Err(TransitionError::LossCommentRequired)
    );
    let mut set = ScenarioSet::standard();
    set.scenarios[0].loss_comment_required = false;
    let engine = Engine::new(set, WorkCalendar::default()).expect("valid");
    let out = engine
        .decide(&interest("offer"), &silent, now())
        .expect("allowed");
    assert!(
        out.feed[0].text.ends_with("Причина: Другое"),
        "{}",
        out.feed[0].text
    );
}
