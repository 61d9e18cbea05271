#[path = "../helpers/mod.rs"]
mod helpers;

mod abuse;
mod acknowledgements;
mod appeals;
mod bad_input;
mod clients;
mod config;
mod forms;
mod inn;
mod operations;
mod package;
mod pipeline;
mod security;
