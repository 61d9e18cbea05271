//! leadgate: every inbound contact becomes an appeal, is matched to a client and
//! lands in a sales interest.

pub mod appeal;
pub mod cli;
pub mod client;
pub mod contact;
pub mod dedup;
pub mod http;
pub mod import;
pub mod intake;
pub mod interest;
pub mod metrics;
pub mod pipeline;
pub mod review;
pub mod routing;
pub mod scenario;
pub mod service;
pub mod settings;
pub mod sources;
pub mod stage;
pub mod startup;
pub mod storage;
pub mod telemetry;
pub mod users;
pub mod web;
