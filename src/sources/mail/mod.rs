//! The mail channel. `message` turns one raw message into what the pipeline
//! needs; IMAP intake and the SMTP outbox build on it.

pub mod message;
