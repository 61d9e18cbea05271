//! Sales scenario / stage engine, modelled on 1C:CRM "Типовая продажа".
//!
//! Pure logic: no clock, no I/O, no database. The storage layer loads an
//! [`InterestSnapshot`], asks [`Engine::decide`] what a [`Command`] does at
//! `now`, and applies the returned [`Outcome`] in one transaction (close
//! tasks, create tasks, plan interactions, upsert the order totals, append
//! the feed, set stage/status/potential amount). Deduplicating events by id
//! is the caller's job; the engine is deterministic, so a retried command
//! gives the same outcome.
//!
//! Stages of the standard scenario: Запрос → КП/Счёт → Оплата →
//! Отгрузка/Контроль → Завершено успешно | Завершено неудачно. Обращения
//! (appeals) precede an interest and are not a stage: [`Command::Create`]
//! turns an appeal into an interest in the scenario's `first_stage`.
//!
//! Rules enforced by the engine whatever the configuration:
//! * always a next step — an unfinished interest keeps an open task or a
//!   planned interaction unless somebody explicitly chose
//!   [`NextStep::Nothing`] ([`TransitionError::NothingPlanned`]);
//! * manual moves follow the stage's `transitions`; going forward checks
//!   the stage's `exit_requirements`;
//! * won needs a client with orders paid and shipped in full, and sets the
//!   potential amount to the orders' revenue;
//! * lost needs a configured reason and, when the scenario has a
//!   `loss_approval_task`, the approval of the head (or return to work);
//! * finished interests do not move; money on them is still recorded.
//!
//! Configuration (TOML, loaded through serde):
//!
//! ```toml
//! [calendar]                      # WorkCalendar, all keys optional
//! timezone = "Europe/Moscow"
//! work_hours = "09:00-18:00"
//! weekends = ["sat", "sun"]
//! holidays = ["2027-01-01"]
//! working_weekends = []           # transferred working Saturdays
//!
//! [[scenarios]]                   # ScenarioConfig, see STANDARD_SCENARIO_TOML
//! id = "standard"
//! name = "Типовая продажа"
//! default = true
//! first_stage = "request"
//! loss_reasons = ["Высокая цена", "Другое"]
//! loss_comment_required = true
//! loss_approval_task = { title = "Согласовать отказ", due = "1d", assignee = "head" }
//! repeat_appeal_task = { title = "Обработать повторное обращение", due = "2h" }
//!
//! [[scenarios.event_tasks]]
//! on = "shipment"                 # order | payment | shipment
//! title = "Контроль доставки"
//! due = "3d"
//!
//! [[scenarios.stages]]
//! id = "payment"
//! name = "Оплата"
//! kind = "working"                # working | won | lost
//! transitions = ["offer", "shipment", "lost"]
//! on_enter = [{ title = "Что с оплатой?", due = "3d", assignee = "responsible", reminder = "1h" }]
//! exit_requirements = []          # has_order | fully_paid | fully_shipped | is_client
//! auto = [{ on = "payment_complete", to = "shipment" }]
//!
//! [[scenario_rules]]              # first match wins, else the default scenario
//! channel = "site_form"
//! form = "opt"
//! keyword = "тендер"
//! source = "yandex"
//! scenario = "standard"
//! ```
mod calendar;
mod config;
mod engine;
mod health;
mod model;
mod money;
mod standard;

pub use self::calendar::{CalendarConfig, CalendarError, WorkCalendar};
pub use self::config::{
    AppealFacts, Assignee, AutoTransition, AutoTrigger, ConfigProblem, Due, EventKind,
    EventTaskTemplate, Reminder, Requirement, ScenarioConfig, ScenarioRule, ScenarioSet,
    StageConfig, StageKind, TaskTemplate,
};
pub use self::engine::{Engine, TransitionError};
pub use self::health::{health, Colour};
pub use self::model::{
    Command, Event, FeedEntrySpec, FeedKind, InteractionKind, InteractionSpec, InterestSnapshot,
    InterestStatus, LossChange, NextStep, OrderEvent, OrderFacts, OrderTotals, Outcome,
    PaymentEvent, ShipmentEvent, TaskClosure, TaskPurpose, TaskSpec, WON_REQUIREMENTS,
};
pub use self::money::{format_rub, Kopecks};
pub use self::standard::STANDARD_SCENARIO_TOML;

/// Tests parse TOML through the `config` crate, exactly as the daemon loads
/// `leadgate.toml`, so serde attributes are checked against the real loader.
#[cfg(test)]
fn from_toml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    ::config::Config::builder()
        .add_source(::config::File::from_str(text, ::config::FileFormat::Toml))
        .build()
        .and_then(|loaded| loaded.try_deserialize())
        .map_err(|err| err.to_string())
}
