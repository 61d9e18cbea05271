//! Telephony channel, pure part: cloud-PBX webhook parsing and verification,
//! and assembly of one [`CallRecord`] per call from its events.
//!
//! Nothing here does I/O except [`webhook`] (the HTTP endpoints) and
//! [`receive`] (storing events, calls and their appeals). The HTTP layer turns an incoming request into a
//! [`WebhookRequest`], calls the provider's `handle(config, &request)`, answers
//! with what the returned [`ProviderReply`] says and stores the
//! [`CallEvent`]s; the pipeline folds stored events into [`CallRecord`]s.
//!
//! Providers:
//! * [`mango`]   — Mango Office VPBX realtime API (`events/call`, `events/summary`,
//!   `events/recording`, `ping`);
//! * [`zadarma`] — Zadarma PBX notifications (`NOTIFY_*`, `zd_echo`);
//! * [`megafon`] — MegaFon ВАТС / Gravitel CRM API (`cmd=event|history|contact`);
//! * [`generic`] — configurable mapping for any other PBX (worked example: Zammad
//!   generic CTI).

pub mod generic;
pub mod mango;
pub mod megafon;
pub mod receive;
pub mod recordings;
pub mod settings;
pub mod webhook;
pub mod zadarma;

mod util;

pub use leadgate_domain::call::{
    is_hidden_number, CallEvent, CallRecord, CallState, Direction, EventKind, Outcome,
};

/// One cloud PBX's webhook dialect, configured for one account: how its
/// requests are verified and turned into provider-neutral call events. The
/// webhook endpoint and the call assembly know nothing else of a provider.
pub trait Provider: Send + Sync {
    /// `CallEvent::provider` of this account's events.
    fn provider(&self) -> &str;
    /// `CallEvent::account` of this account's events.
    fn account(&self) -> &str;
    fn handle(&self, req: &WebhookRequest<'_>) -> Result<ProviderReply, PbxError>;
}

impl Provider for mango::MangoConfig {
    fn provider(&self) -> &str {
        mango::PROVIDER
    }
    fn account(&self) -> &str {
        &self.account
    }
    fn handle(&self, req: &WebhookRequest<'_>) -> Result<ProviderReply, PbxError> {
        mango::handle(self, req)
    }
}

impl Provider for zadarma::ZadarmaConfig {
    fn provider(&self) -> &str {
        zadarma::PROVIDER
    }
    fn account(&self) -> &str {
        &self.account
    }
    fn handle(&self, req: &WebhookRequest<'_>) -> Result<ProviderReply, PbxError> {
        zadarma::handle(self, req)
    }
}

impl Provider for megafon::MegafonConfig {
    fn provider(&self) -> &str {
        megafon::PROVIDER
    }
    fn account(&self) -> &str {
        &self.account
    }
    fn handle(&self, req: &WebhookRequest<'_>) -> Result<ProviderReply, PbxError> {
        megafon::handle(self, req)
    }
}

impl Provider for generic::GenericConfig {
    fn provider(&self) -> &str {
        &self.provider
    }
    fn account(&self) -> &str {
        &self.account
    }
    fn handle(&self, req: &WebhookRequest<'_>) -> Result<ProviderReply, PbxError> {
        generic::handle(self, req)
    }
}

/// A webhook request as the HTTP layer received it, provider-neutral.
///
/// Borrowed so that the HTTP layer does not have to copy the body; all
/// strings are as received (the query is still percent-encoded).
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    /// `"GET"` or `"POST"` (compared case-insensitively).
    pub method: &'a str,
    /// Path below the provider's mount point, e.g. `"events/call"` or `""`.
    /// Leading and trailing slashes are ignored.
    pub sub_path: &'a str,
    /// Raw query string without the leading `?`.
    pub query: &'a str,
    /// All request headers; names are matched case-insensitively.
    pub headers: &'a [(String, String)],
    /// Value of the `Content-Type` header, if any (parameters allowed).
    pub content_type: Option<&'a str>,
    /// Raw request body.
    pub body: &'a [u8],
}

impl<'a> WebhookRequest<'a> {
    /// First header with this name (case-insensitive, as HTTP requires).
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `sub_path` without surrounding slashes, so `"/events/call/"` and
    /// `"events/call"` route the same.
    pub fn path(&self) -> &'a str {
        self.sub_path.trim_matches('/')
    }

    pub fn is_get(&self) -> bool {
        self.method.eq_ignore_ascii_case("GET")
    }

    pub fn is_post(&self) -> bool {
        self.method.eq_ignore_ascii_case("POST")
    }

    /// True when the declared media type is JSON (`application/json` or a
    /// `+json` suffix type). Parameters such as `charset` are ignored.
    pub fn is_json(&self) -> bool {
        self.content_type.is_some_and(|ct| {
            let media = ct.split(';').next().unwrap_or("").trim();
            media.eq_ignore_ascii_case("application/json")
                || media.to_ascii_lowercase().ends_with("+json")
        })
    }

    /// Decoded value of a query parameter (first occurrence).
    pub fn query_param(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// What the HTTP layer should answer, plus the events to store.
#[derive(Debug, Clone, PartialEq)]
pub enum ProviderReply {
    /// Answer with this status, content type and body; store `events`
    /// (may be empty, e.g. for pings and echo checks).
    Respond {
        status: u16,
        content_type: &'static str,
        body: String,
        events: Vec<CallEvent>,
    },
    /// MegaFon `cmd=contact`: the PBX asks who is calling. Look the client up
    /// by `phone`, then answer 200 with [`megafon::contact_response`].
    ContactLookup { phone: String, callid: String },
}

impl ProviderReply {
    /// Plain `200 OK` with an empty body — what every provider here accepts
    /// as "delivered".
    pub fn ok(events: Vec<CallEvent>) -> Self {
        ProviderReply::Respond {
            status: 200,
            content_type: "text/plain; charset=utf-8",
            body: String::new(),
            events,
        }
    }

    /// `200 OK` with a JSON body.
    pub fn ok_json(body: impl Into<String>, events: Vec<CallEvent>) -> Self {
        ProviderReply::Respond {
            status: 200,
            content_type: "application/json; charset=utf-8",
            body: body.into(),
            events,
        }
    }

    /// Events to store (none for a contact lookup).
    pub fn events(&self) -> &[CallEvent] {
        match self {
            ProviderReply::Respond { events, .. } => events,
            ProviderReply::ContactLookup { .. } => &[],
        }
    }

    pub fn into_events(self) -> Vec<CallEvent> {
        match self {
            ProviderReply::Respond { events, .. } => events,
            ProviderReply::ContactLookup { .. } => Vec::new(),
        }
    }
}

/// Why a webhook was not turned into events.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PbxError {
    /// Missing or wrong signature/token/API key. Answer 401 and do not echo
    /// the reason to the client (it is for the log only).
    #[error("unauthorized: {reason}")]
    Unauthorized { reason: &'static str },

    /// Authenticated but malformed; answer 400 naming `field`.
    #[error("bad request: field `{field}`: {reason}")]
    BadRequest { field: String, reason: String },

    /// A well-formed notification we do not interpret (unknown event type).
    /// Answer 200 so the PBX does not retry or disable the hook; keep `raw`
    /// and count it. `verified` is false when the provider's signature scheme
    /// for this event is unknown, so `raw` is unauthenticated.
    #[error("unsupported {provider} event `{event}`")]
    Unsupported {
        provider: String,
        event: String,
        verified: bool,
        raw: serde_json::Value,
    },

    /// Unknown sub-path for this provider; answer 404.
    #[error("no such endpoint: `{path}`")]
    NotFound { path: String },

    /// Wrong HTTP method for this endpoint; answer 405.
    #[error("method {method} not allowed")]
    MethodNotAllowed { method: String },
}

impl PbxError {
    /// HTTP status the caller should answer with.
    pub fn http_status(&self) -> u16 {
        match self {
            PbxError::Unauthorized { .. } => 401,
            PbxError::BadRequest { .. } => 400,
            PbxError::Unsupported { .. } => 200,
            PbxError::NotFound { .. } => 404,
            PbxError::MethodNotAllowed { .. } => 405,
        }
    }

    pub(crate) fn bad(field: impl Into<String>, reason: impl Into<String>) -> Self {
        PbxError::BadRequest {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn missing(field: impl Into<String>) -> Self {
        Self::bad(field, "missing or empty")
    }
}

/// Default `account` label for single-tenant configs.
pub(crate) fn default_account() -> String {
    "default".to_string()
}
