//! Calls as the cloud PBX reports them: provider-neutral events, and one
//! record per call folded from them in any order.

pub mod event;
pub mod record;

pub use event::{CallEvent, Direction, EventKind, Outcome};
pub use record::{is_hidden_number, CallRecord, CallState};
