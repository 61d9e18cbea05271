//! The built-in "Типовая продажа" scenario, both as a TOML fragment to ship
//! in `config/leadgate.toml` and as Rust values for [`ScenarioSet::standard`].
//! A unit test keeps the two identical.

use super::config::{
    AutoTransition, AutoTrigger, EventKind, EventTaskTemplate, Requirement, ScenarioConfig,
    ScenarioSet, StageConfig, StageKind, TaskTemplate,
};

/// The standard scenario as a `[[scenarios]]` TOML fragment (with comments),
/// ready to paste into `leadgate.toml`.
pub const STANDARD_SCENARIO_TOML: &str = r#"
# Типовая продажа (1C:CRM): Запрос → КП/Счёт → Оплата → Отгрузка/Контроль →
# Завершено успешно | Завершено неудачно. Обращения (incoming appeals) come
# before an interest exists and are not a stage.
[[scenarios]]
id = "standard"
name = "Типовая продажа"
# Takes every new interest that no [[scenario_rules]] entry matched.
default = true
first_stage = "request"
# Closing as lost needs one of these reasons (plus an optional free-text comment).
loss_reasons = [
    "Высокая цена",
    "Выбрали конкурента",
    "Нет потребности",
    "Нет бюджета",
    "Не устроили сроки",
    "Клиент не выходит на связь",
    "Ошибочное обращение",
    "Другое",
]
loss_comment_required = true
# due: "<n>d" = end of the n-th working day ("0d" = end of today),
#      "<n>h" = n working hours; assignee: "responsible" | "head" | "user:<login>";
# reminder: "<n>m" | "<n>h" | "<n>d" before the due time.
# The head of the manager's department approves every loss. Remove this line
# to make losses final at once.
loss_approval_task = { title = "Согласовать закрытие интереса как неудачного", due = "1d", assignee = "head" }
repeat_appeal_task = { title = "Обработать повторное обращение", due = "2h", assignee = "responsible" }

# Created on every shipment event, whatever the stage.
[[scenarios.event_tasks]]
on = "shipment"
title = "Контроль доставки"
due = "3d"

[[scenarios.stages]]
id = "request"
name = "Запрос"
kind = "working"
transitions = ["offer", "lost"]
# Clarify the need.
on_enter = [{ title = "Телефонный звонок клиенту", due = "2h" }]
# The client paid an invoice before the manager moved the interest on.
auto = [{ on = "payment_complete", to = "shipment" }]

[[scenarios.stages]]
id = "offer"
name = "КП/Счёт"
kind = "working"
transitions = ["request", "payment", "lost"]
# Moving on to Оплата needs an order (invoice).
exit_requirements = ["has_order"]
# First matching entry wins: a full payment skips Оплата.
auto = [
    { on = "payment_complete", to = "shipment" },
    { on = "payment", to = "payment" },
]

[[scenarios.stages]]
id = "payment"
name = "Оплата"
kind = "working"
transitions = ["offer", "shipment", "lost"]
on_enter = [{ title = "Что с оплатой?", due = "3d" }]
auto = [{ on = "payment_complete", to = "shipment" }]

[[scenarios.stages]]
id = "shipment"
name = "Отгрузка/Контроль"
kind = "working"
transitions = ["payment", "won", "lost"]
on_enter = [{ title = "Оформить реализацию товаров", due = "0d", reminder = "1h" }]
# Moves to won only if the lead is a client and orders are paid in full too.
auto = [{ on = "shipment_complete", to = "won" }]

[[scenarios.stages]]
id = "won"
name = "Завершено успешно"
kind = "won"

[[scenarios.stages]]
id = "lost"
name = "Завершено неудачно"
kind = "lost"
"#;

fn task(title: &str, due: &str, assignee: &str, reminder: Option<&str>) -> TaskTemplate {
    TaskTemplate {
        title: title.to_owned(),
        due: due.to_owned(),
        assignee: assignee.to_owned(),
        reminder: reminder.map(str::to_owned),
    }
}

fn auto(on: AutoTrigger, to: &str) -> AutoTransition {
    AutoTransition {
        on,
        to: to.to_owned(),
    }
}

fn stage(id: &str, name: &str, kind: StageKind, transitions: &[&str]) -> StageConfig {
    StageConfig {
        id: id.to_owned(),
        name: name.to_owned(),
        kind,
        transitions: transitions.iter().map(|t| (*t).to_owned()).collect(),
        on_enter: Vec::new(),
        exit_requirements: Vec::new(),
        auto: Vec::new(),
    }
}

impl ScenarioConfig {
    /// The built-in "Типовая продажа" scenario (same as
    /// [`STANDARD_SCENARIO_TOML`]).
    pub fn standard() -> ScenarioConfig {
        let request = StageConfig {
            on_enter: vec![task("Телефонный звонок клиенту", "2h", "responsible", None)],
            auto: vec![auto(AutoTrigger::PaymentComplete, "shipment")],
            ..stage("request", "Запрос", StageKind::Working, &["offer", "lost"])
        };
        let offer = StageConfig {
            exit_requirements: vec![Requirement::HasOrder],
            auto: vec![
                auto(AutoTrigger::PaymentComplete, "shipment"),
                auto(AutoTrigger::Payment, "payment"),
            ],
            ..stage(
                "offer",
                "КП/Счёт",
                StageKind::Working,
                &["request", "payment", "lost"],
            )
        };
        let payment = StageConfig {
            on_enter: vec![task("Что с оплатой?", "3d", "responsible", None)],
            auto: vec![auto(AutoTrigger::PaymentComplete, "shipment")],
            ..stage(
                "payment",
                "Оплата",
                StageKind::Working,
                &["offer", "shipment", "lost"],
            )
        };
        let shipment = StageConfig {
            on_enter: vec![task(
                "Оформить реализацию товаров",
                "0d",
                "responsible",
                Some("1h"),
            )],
            auto: vec![auto(AutoTrigger::ShipmentComplete, "won")],
            ..stage(
                "shipment",
                "Отгрузка/Контроль",
                StageKind::Working,
                &["payment", "won", "lost"],
            )
        };
        ScenarioConfig {
            id: "standard".to_owned(),
            name: "Типовая продажа".to_owned(),
            default: true,
            first_stage: "request".to_owned(),
            loss_reasons: [
                "Высокая цена",
                "Выбрали конкурента",
                "Нет потребности",
                "Нет бюджета",
                "Не устроили сроки",
                "Клиент не выходит на связь",
                "Ошибочное обращение",
                "Другое",
            ]
            .into_iter()
            .map(str::to_owned)
            .collect(),
            loss_comment_required: true,
            loss_approval_task: Some(task(
                "Согласовать закрытие интереса как неудачного",
                "1d",
                "head",
                None,
            )),
            repeat_appeal_task: task("Обработать повторное обращение", "2h", "responsible", None),
            event_tasks: vec![EventTaskTemplate {
                on: EventKind::Shipment,
                title: "Контроль доставки".to_owned(),
                due: "3d".to_owned(),
                assignee: "responsible".to_owned(),
                reminder: None,
            }],
            stages: vec![
                request,
                offer,
                payment,
                shipment,
                stage("won", "Завершено успешно", StageKind::Won, &[]),
                stage("lost", "Завершено неудачно", StageKind::Lost, &[]),
            ],
        }
    }
}

impl ScenarioSet {
    /// Only the standard scenario, as default, with no selection rules.
    pub fn standard() -> ScenarioSet {
        ScenarioSet {
            scenarios: vec![ScenarioConfig::standard()],
            scenario_rules: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::from_toml;
    use super::*;

    #[test]
    fn toml_fragment_matches_rust_definition() {
        let parsed: ScenarioSet = from_toml(STANDARD_SCENARIO_TOML).expect("standard TOML parses");
        assert_eq!(parsed, ScenarioSet::standard());
    }

    #[test]
    fn standard_scenario_is_valid() {
        assert_eq!(ScenarioSet::standard().validate(), Vec::new());
    }

    #[test]
    fn standard_fragment_can_be_followed_by_rules_in_the_same_file() {
        let text = format!(
            "{STANDARD_SCENARIO_TOML}\n[[scenario_rules]]\nchannel = \"telegram\"\nscenario = \"standard\"\n"
        );
        let parsed: ScenarioSet = from_toml(&text).expect("fragment plus rules parses");
        assert_eq!(parsed.scenario_rules.len(), 1);
        assert!(parsed.validate().is_empty());
    }

    /// A host config struct holding `[calendar]` and the scenario arrays
    /// next to each other, as the daemon's own config does.
    #[test]
    fn loads_next_to_a_calendar_in_a_host_config() {
        #[derive(serde::Deserialize)]
        struct Host {
            calendar: super::super::WorkCalendar,
            scenarios: Vec<ScenarioConfig>,
            #[serde(default)]
            scenario_rules: Vec<super::super::ScenarioRule>,
        }
        let text = format!(
            "[calendar]\ntimezone = \"Europe/Moscow\"\nholidays = [\"2027-01-01\"]\n{STANDARD_SCENARIO_TOML}"
        );
        let host: Host = from_toml(&text).expect("host config loads");
        let set = ScenarioSet {
            scenarios: host.scenarios,
            scenario_rules: host.scenario_rules,
        };
        assert_eq!(set, ScenarioSet::standard());
        assert_eq!(host.calendar.tz(), chrono_tz::Europe::Moscow);
    }
}
