//! leadgate: every inbound contact becomes an appeal, is matched to a client and
//! lands in a sales interest.
//!
//! This crate is the binary's half: the command line, the configuration file
//! assembled from every layer's sections, startup and the client import. The
//! layers live in `crates/` and are re-exported here under their old names so
//! that integration tests and the benchmark reach them through one path.

pub mod cli;
pub mod import;
pub mod init;
pub mod server;
pub mod service;
pub mod settings;
pub mod startup;
pub mod telemetry;
pub mod webhooks;

pub use leadgate_core::{intake, metrics, pipeline, review, stage, users};
pub use leadgate_domain::{appeal, call, client, contact, dedup, interest, routing, scenario};
pub use leadgate_sources as sources;
pub use leadgate_store as storage;
pub use leadgate_web as web;
