use super::super::from_toml;
use super::*;

fn parse(text: &str) -> ScenarioSet {
    from_toml(text).expect("test TOML parses")
}

fn paths(problems: &[ConfigProblem]) -> Vec<String> {
    problems.iter().map(ToString::to_string).collect()
}

fn has(problems: &[ConfigProblem], key: &str, fragment: &str) -> bool {
    problems
        .iter()
        .any(|p| p.key == key && p.message.contains(fragment))
}

/// A small valid scenario the tests break one piece at a time.
const MINI: &str = r#"
[[scenarios]]
id = "mini"
name = "Мини"
default = true
first_stage = "a"
loss_reasons = ["Дорого"]
repeat_appeal_task = { title = "Повтор", due = "2h" }

[[scenarios.stages]]
id = "a"
name = "A"
kind = "working"
transitions = ["won", "lost"]
on_enter = [{ title = "Позвонить", due = "1d" }]

[[scenarios.stages]]
id = "won"
name = "Won"
kind = "won"

[[scenarios.stages]]
id = "lost"
name = "Lost"
kind = "lost"
"#;

#[test]
fn mini_scenario_is_valid() {
    assert_eq!(parse(MINI).validate(), Vec::new());
}

#[test]
fn due_strings_parse_days_hours_and_today() {
    assert_eq!(Due::parse("0d"), Ok(Due::WorkingDays(0)));
    assert_eq!(Due::parse("3d"), Ok(Due::WorkingDays(3)));
    assert_eq!(Due::parse(" 2h "), Ok(Due::WorkingHours(2)));
    for bad in [
        "",
        "d",
        "3",
        "3w",
        "-1d",
        "3 d",
        "1.5h",
        "3dd",
        "99999999999d",
        "400d",
        "3000h",
    ] {
        assert!(Due::parse(bad).is_err(), "{bad:?} should be refused");
    }
}

#[test]
fn assignee_forms() {
    assert_eq!(Assignee::parse("responsible"), Ok(Assignee::Responsible));
    assert_eq!(Assignee::parse("head"), Ok(Assignee::Head));
    assert_eq!(
        Assignee::parse("user:ivanov"),
        Ok(Assignee::User("ivanov".into()))
    );
    for bad in ["", "boss", "user:", "user: ", "user:a b", "Head"] {
        assert!(Assignee::parse(bad).is_err(), "{bad:?} should be refused");
    }
}

#[test]
fn reminder_forms() {
    assert_eq!(
        Reminder::parse("30m").map(|r| r.before),
        Ok(Duration::minutes(30))
    );
    assert_eq!(
        Reminder::parse("1h").map(|r| r.before),
        Ok(Duration::hours(1))
    );
    assert_eq!(
        Reminder::parse("2d").map(|r| r.before),
        Ok(Duration::days(2))
    );
    for bad in ["", "1w", "m", "40d", "4294967295h"] {
        assert!(Reminder::parse(bad).is_err(), "{bad:?} should be refused");
    }
}

#[test]
fn reminder_is_never_in_the_past() {
    let due = DateTime::parse_from_rfc3339("2027-03-01T15:00:00Z")
        .expect("date")
        .with_timezone(&Utc);
    let reminder = Reminder::parse("1h").expect("reminder");
    assert_eq!(
        reminder.at(due, due - Duration::hours(3)),
        due - Duration::hours(1)
    );
    assert_eq!(
        reminder.at(due, due - Duration::minutes(10)),
        due - Duration::minutes(10)
    );
}

#[test]
fn reports_every_problem_with_its_key() {
    let text = r#"
[[scenarios]]
id = "s"
name = ""
first_stage = "nowhere"
loss_reasons = ["Дорого", "дорого", " "]
repeat_appeal_task = { title = "", due = "soon", assignee = "boss", reminder = "1w" }
loss_approval_task = { title = "Согласовать", due = "1d", assignee = "user:" }
event_tasks = [{ on = "shipment", title = "Контроль", due = "3x" }]

[[scenarios.stages]]
id = "a"
name = "A"
kind = "working"
transitions = ["b", "oplata", "a", "b"]
on_enter = [{ title = "Позвонить", due = "2 h" }]
auto = [{ on = "payment", to = "ghost" }, { on = "payment", to = "b" }]

[[scenarios.stages]]
id = "b"
name = "B"
kind = "working"

[[scenarios.stages]]
id = "a"
name = "A again"
kind = "working"
"#;
    let problems = parse(text).validate();
    let expected = [
        ("scenarios[0].name", "name is empty"),
        ("scenarios[0].first_stage", "unknown stage \"nowhere\""),
        ("scenarios[0].stages[2].id", "duplicate stage id \"a\""),
        ("scenarios[0].stages", "no stage of kind \"won\""),
        ("scenarios[0].stages", "no stage of kind \"lost\""),
        (
            "scenarios[0].stages[0].transitions[1]",
            "unknown stage \"oplata\"",
        ),
        (
            "scenarios[0].stages[0].transitions[2]",
            "cannot transition to itself",
        ),
        ("scenarios[0].stages[0].transitions[3]", "listed twice"),
        ("scenarios[0].stages[0].on_enter[0].due", "bad due"),
        (
            "scenarios[0].stages[0].auto[0].to",
            "unknown stage \"ghost\"",
        ),
        ("scenarios[0].stages[0].auto[1].to", "no on_enter task"),
        ("scenarios[0].stages[0].auto[1].on", "already used"),
        (
            "scenarios[0].stages[0].transitions",
            "never be closed as lost",
        ),
        (
            "scenarios[0].stages[1].transitions",
            "never be closed as lost",
        ),
        (
            "scenarios[0].stages[2].transitions",
            "never be closed as lost",
        ),
        ("scenarios[0].loss_reasons[1]", "listed twice"),
        ("scenarios[0].loss_reasons[2]", "empty"),
        (
            "scenarios[0].loss_approval_task.assignee",
            "unknown assignee",
        ),
        ("scenarios[0].repeat_appeal_task.title", "title is empty"),
        ("scenarios[0].repeat_appeal_task.due", "bad due"),
        (
            "scenarios[0].repeat_appeal_task.assignee",
            "unknown assignee \"boss\"",
        ),
        ("scenarios[0].repeat_appeal_task.reminder", "bad reminder"),
        ("scenarios[0].event_tasks[0].due", "bad due"),
        ("scenarios", "no scenario is marked default"),
    ];
    for (key, fragment) in expected {
        assert!(
            has(&problems, key, fragment),
            "missing {key}: {fragment}\n got: {:#?}",
            paths(&problems)
        );
    }
    assert_eq!(problems.len(), expected.len(), "{:#?}", paths(&problems));
}

#[test]
fn problem_display_joins_path_and_message() {
    let mut set = parse(MINI);
    set.scenarios[0].stages[0].transitions[0] = "oplata".into();
    let problems = set.validate();
    assert!(
        paths(&problems).contains(
            &"scenarios[0].stages[0].transitions[0]: unknown stage \"oplata\"".to_owned()
        ),
        "{problems:#?}"
    );
}

#[test]
fn unreachable_stage_is_reported() {
    let mut set = parse(MINI);
    set.scenarios[0].stages.insert(
        1,
        StageConfig {
            id: "orphan".into(),
            name: "Сирота".into(),
            kind: StageKind::Working,
            transitions: vec!["lost".into()],
            on_enter: Vec::new(),
            exit_requirements: Vec::new(),
            auto: Vec::new(),
        },
    );
    let problems = set.validate();
    assert!(
        has(&problems, "scenarios[0].stages[1]", "unreachable"),
        "{problems:#?}"
    );
    assert_eq!(problems.len(), 1, "{problems:#?}");
}

#[test]
fn stage_reached_only_by_auto_transition_is_reachable() {
    let mut set = parse(MINI);
    let stages = &mut set.scenarios[0].stages;
    stages[0].auto.push(AutoTransition {
        on: AutoTrigger::PaymentComplete,
        to: "ship".into(),
    });
    stages.insert(
        1,
        StageConfig {
            id: "ship".into(),
            name: "Отгрузка".into(),
            kind: StageKind::Working,
            transitions: vec!["lost".into()],
            on_enter: vec![TaskTemplate {
                title: "Отгрузить".into(),
                due: "0d".into(),
                assignee: "user:sklad".into(),
                reminder: Some("30m".into()),
            }],
            exit_requirements: Vec::new(),
            auto: Vec::new(),
        },
    );
    assert_eq!(set.validate(), Vec::new());
}

#[test]
fn finished_stages_cannot_move_or_plan() {
    let mut set = parse(MINI);
    let won = &mut set.scenarios[0].stages[1];
    won.transitions = vec!["a".into()];
    won.on_enter = vec![TaskTemplate {
        title: "Спасибо".into(),
        due: "1d".into(),
        assignee: "responsible".into(),
        reminder: None,
    }];
    won.exit_requirements = vec![Requirement::IsClient];
    won.auto = vec![AutoTransition {
        on: AutoTrigger::Order,
        to: "a".into(),
    }];
    let problems = set.validate();
    for field in ["transitions", "on_enter", "exit_requirements", "auto"] {
        assert!(
            has(
                &problems,
                &format!("scenarios[0].stages[1].{field}"),
                "finished"
            ),
            "{problems:#?}"
        );
    }
}

#[test]
fn first_stage_must_be_working_and_auto_cannot_lose() {
    let mut set = parse(MINI);
    set.scenarios[0].first_stage = "won".into();
    set.scenarios[0].stages[0].auto.push(AutoTransition {
        on: AutoTrigger::Order,
        to: "lost".into(),
    });
    let problems = set.validate();
    assert!(
        has(
            &problems,
            "scenarios[0].first_stage",
            "must be a working stage"
        ),
        "{problems:#?}"
    );
    assert!(
        has(
            &problems,
            "scenarios[0].stages[0].auto[0].to",
            "cannot close"
        ),
        "{problems:#?}"
    );
}

#[test]
fn scenario_ids_defaults_and_rules_are_checked() {
    let mut set = parse(MINI);
    let mut second = set.scenarios[0].clone();
    second.loss_reasons.clear();
    set.scenarios.push(second);
    set.scenario_rules = vec![
        ScenarioRule {
            channel: Some("telegram".into()),
            source: None,
            form: None,
            keyword: None,
            scenario: "nope".into(),
        },
        ScenarioRule {
            channel: None,
            source: Some(" ".into()),
            form: None,
            keyword: None,
            scenario: "mini".into(),
        },
        ScenarioRule {
            channel: None,
            source: None,
            form: None,
            keyword: None,
            scenario: "mini".into(),
        },
    ];
    let problems = set.validate();
    let expected = [
        ("scenarios[1].id", "duplicate scenario id \"mini\""),
        ("scenarios[1].default", "more than one default"),
        ("scenarios[1].loss_reasons", "at least one loss reason"),
        ("scenario_rules[0].scenario", "unknown scenario \"nope\""),
        ("scenario_rules[1].source", "empty value"),
        ("scenario_rules[2]", "no channel, source, form or keyword"),
    ];
    for (key, fragment) in expected {
        assert!(
            has(&problems, key, fragment),
            "missing {key}: {problems:#?}"
        );
    }
    assert_eq!(problems.len(), expected.len(), "{problems:#?}");
}

#[test]
fn empty_set_reports_no_scenarios() {
    let problems = ScenarioSet {
        scenarios: Vec::new(),
        scenario_rules: Vec::new(),
    }
    .validate();
    assert_eq!(
        paths(&problems),
        vec!["scenarios: no scenarios configured".to_owned()]
    );
}

#[test]
fn unknown_keys_are_refused_by_serde() {
    let text = MINI.replace(
        "first_stage = \"a\"",
        "first_stage = \"a\"\nfirst_step = \"a\"",
    );
    let err = from_toml::<ScenarioSet>(&text).expect_err("unknown key");
    assert!(err.to_string().contains("first_step"), "{err}");
    let err = from_toml::<ScenarioSet>(&MINI.replace("kind = \"won\"", "kind = \"success\""))
        .expect_err("unknown kind");
    assert!(err.to_string().contains("success"), "{err}");
}

fn appeal(channel: &str, source: Option<&str>, form: Option<&str>, text: &str) -> AppealFacts {
    AppealFacts {
        channel: channel.into(),
        source: source.map(Into::into),
        form: form.map(Into::into),
        text: text.into(),
    }
}

#[test]
fn selection_takes_first_matching_rule_then_default() {
    let mut set = parse(MINI);
    for id in ["opt", "tender"] {
        let mut scenario = set.scenarios[0].clone();
        scenario.id = id.into();
        scenario.default = false;
        set.scenarios.push(scenario);
    }
    set.scenario_rules = vec![
        ScenarioRule {
            channel: Some("Site_Form".into()),
            source: None,
            form: Some("Опт".into()),
            keyword: None,
            scenario: "opt".into(),
        },
        ScenarioRule {
            channel: None,
            source: None,
            form: None,
            keyword: Some("ТЕНДЕР".into()),
            scenario: "tender".into(),
        },
    ];
    assert!(set.validate().is_empty(), "{:?}", set.validate());
    let pick = |a: &AppealFacts| set.select(a).map(|s| s.id.clone());
    assert_eq!(
        pick(&appeal("site_form", None, Some("опт"), "тендер")),
        Some("opt".into())
    );
    assert_eq!(
        pick(&appeal("email", None, None, "Приглашаем на тендер")),
        Some("tender".into())
    );
    // Form condition needs a form; channel alone is not enough.
    assert_eq!(
        pick(&appeal("site_form", None, None, "Нужен счёт")),
        Some("mini".into())
    );
    assert_eq!(
        pick(&appeal("phone", Some("yandex"), None, "")),
        Some("mini".into())
    );
}

#[test]
fn standard_if_empty_keeps_rules_and_configured_scenarios() {
    let configured = parse(MINI);
    assert_eq!(configured.clone().standard_if_empty(), configured);
    let empty = ScenarioSet {
        scenarios: Vec::new(),
        scenario_rules: Vec::new(),
    };
    assert_eq!(empty.standard_if_empty(), ScenarioSet::standard());
}

#[test]
fn ids_with_whitespace_are_reported_and_compared_exactly() {
    let mut set = parse(MINI);
    set.scenarios[0].stages[0].id = "a ".into();
    let problems = set.validate();
    assert!(
        has(
            &problems,
            "scenarios[0].stages[0].id",
            "contains whitespace"
        ),
        "{problems:#?}"
    );
    // "a" no longer exists, so the first stage is unknown too.
    assert!(
        has(&problems, "scenarios[0].first_stage", "unknown stage \"a\""),
        "{problems:#?}"
    );
}
