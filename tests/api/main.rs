#[path = "../helpers/mod.rs"]
mod helpers;

mod appeals;
mod bad_input;
mod clients;
mod config;
mod forms;
mod operations;
mod pipeline;
mod security;
