//! leadgate's services. One way in ([`intake::Intake`]), one pipeline that
//! stores, matches, links or creates and notifies ([`pipeline::Pipeline`]),
//! the stage engine's service around interests ([`stage::Stage`]), the
//! operators' review ([`review`]) and the people who log in ([`users`]).
//! Channels plug in below as an [`outbox::Outbox`]; nothing here speaks HTTP.

pub mod health;
pub mod intake;
pub mod metrics;
pub mod outbox;
pub mod pipeline;
pub mod reports;
pub mod review;
pub mod scope;
pub mod settings;
pub mod stage;
pub mod users;
