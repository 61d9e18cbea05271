//! The review queue, users, sessions and pages, on the backend named by
//! LEADGATE_TEST_DB; the browser tests drive a real headless Chromium.

#[path = "../helpers/mod.rs"]
mod helpers;

pub mod browser;
pub mod support;

mod hardening;
mod pages;
mod reports_browser;
mod review_api;
mod review_browser;
mod users;
