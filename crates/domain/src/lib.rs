//! The domain of leadgate with no I/O: appeals, contacts and their
//! normalisers, clients, interests and the sales scenario, the pure half of
//! matching (keys, score, decide), routing rules and the folding of PBX call
//! events. Everything above builds on these types; nothing here knows about a
//! database, a network or a runtime.

pub mod appeal;
pub mod call;
pub mod client;
pub mod config;
pub mod contact;
pub mod decision;
pub mod dedup;
pub mod event;
pub mod interest;
pub mod org;
pub mod report;
pub mod role;
pub mod routing;
pub mod scenario;
