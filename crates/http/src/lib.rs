//! The HTTP edge that the API, the pages and the sources' webhooks share:
//! the one error type (a problem document that names the field, internals
//! logged and never shown), body limits, JSON bodies and the API caller.

pub mod error;
pub mod extract;
pub mod limit;
pub mod settings;

use leadgate_store::Store;

pub use error::{ApiError, Problem};
pub use extract::{body_bytes, parse_json, ApiCaller, PathId, ValidJson};

/// What the shared extractors need of a router's state.
pub trait HttpState: Clone + Send + Sync + 'static {
    /// Bodies larger than this are refused with 413.
    fn body_limit(&self) -> usize;
    /// The tokens of `[api] tokens`.
    fn api_tokens(&self) -> &[settings::ApiToken];
    /// Where personal tokens are looked up.
    fn store(&self) -> &Store;
}

/// At most the first 32 characters of request text that goes into a log
/// line, with control characters escaped: enough to recognise, too little to
/// flood the journal with.
pub fn truncated(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(32)
        .flat_map(char::escape_default)
        .collect();
    if text.chars().nth(32).is_some() {
        out.push('…');
    }
    out
}
