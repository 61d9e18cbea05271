//! The JSON API beyond intake: clients, interests and their stages, the
//! review queue, health and metrics.

pub mod changes;
pub mod health;
pub mod records;
pub mod reports;
pub mod review;
pub mod stage;
