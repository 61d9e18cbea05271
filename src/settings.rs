//! Configuration: one TOML file plus `LEADGATE__SECTION__KEY` environment overrides.
//!
//! Loading never stops at the first problem: every section is deserialised on its
//! own, unknown keys are collected with their paths, and the semantic checks run
//! over whatever did parse, so `leadgate check-config` can list everything at once.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::contact::Region;
use crate::scenario::{ScenarioSet, WorkCalendar};
use crate::sources::pbx::generic::{GenericConfig, Secret as GenericSecret};
use crate::sources::pbx::mango::MangoConfig;
use crate::sources::pbx::megafon::MegafonConfig;
use crate::sources::pbx::zadarma::ZadarmaConfig;

/// A secret that must never reach a log line or a `Debug` dump.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ServerSettings {
    /// `host:port`; port 0 lets the OS choose (tests).
    pub listen: String,
    pub body_limit_bytes: usize,
    /// How long SIGTERM waits for in-flight requests and the appeal being processed.
    pub shutdown_grace_secs: u64,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            body_limit_bytes: 1024 * 1024,
            shutdown_grace_secs: 20,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSync {
    /// fsync on every commit: an acknowledged appeal survives a power cut.
    #[default]
    Full,
    /// Survives a crash of leadgate, not of the machine; faster on slow disks.
    Normal,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct DatabaseSettings {
    /// `sqlite://path/to/file.db` (created if missing) or `postgres://user@host/db`.
    pub url: String,
    pub max_connections: u32,
    pub sqlite_synchronous: SqliteSync,
    pub busy_timeout_ms: u64,
    /// SQLite only: page cache per connection, in MiB. SQLite's default (2 MiB)
    /// holds a small fraction of the indexes of a large client base, and every
    /// miss is a system call.
    pub sqlite_cache_mb: u32,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: "sqlite://data/leadgate.db".into(),
            max_connections: 8,
            sqlite_synchronous: SqliteSync::Full,
            busy_timeout_ms: 5000,
            sqlite_cache_mb: 32,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable on a terminal, JSON otherwise (journald, files).
    #[default]
    Auto,
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct LoggingSettings {
    pub format: LogFormat,
    /// An `EnvFilter` directive, e.g. `info` or `leadgate=debug,sqlx=warn`.
    pub level: String,
}

impl Default for LoggingSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Auto,
            level: "info".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Operator,
    Manager,
    Head,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Manager => "manager",
            Role::Head => "head",
            Role::Admin => "admin",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "operator" => Some(Role::Operator),
            "manager" => Some(Role::Manager),
            "head" => Some(Role::Head),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde()]
pub struct ApiToken {
    pub name: String,
    pub token: Secret,
    #[serde(default = "default_token_role")]
    pub role: Role,
}

fn default_token_role() -> Role {
    Role::Admin
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct ApiSettings {
    pub tokens: Vec<ApiToken>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde()]
pub struct ManagerSettings {
    pub login: String,
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default = "default_manager_role")]
    pub role: Role,
    /// The manager's user or extension on the PBX, for call routing.
    #[serde(default)]
    pub pbx_user: Option<String>,
}

fn default_manager_role() -> Role {
    Role::Manager
}

#[derive(Debug, Clone, Deserialize)]
#[serde()]
pub struct DepartmentSettings {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub head: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct MatchingSettings {
    /// Region for phone numbers written without a country code.
    pub default_region: String,
    /// A candidate scoring at least this (bits of evidence) is linked
    /// automatically, when the rules allow (docs/matching.md).
    pub auto_link_threshold: f64,
    /// Below auto-link and at least this: an operator decides.
    pub review_threshold: f64,
    /// A contact point carried by more clients than this never links on its
    /// own (an office switchboard, an agency's info@ mailbox).
    pub max_shared_clients: usize,
    /// Clients fetched per key; a key carried by more proposes nobody, which
    /// keeps lookup fast whatever the base holds.
    pub max_candidates_per_key: usize,
    pub weights: crate::dedup::MatchWeights,
}

impl Default for MatchingSettings {
    fn default() -> Self {
        Self {
            default_region: "RU".into(),
            auto_link_threshold: 12.0,
            review_threshold: 8.0,
            max_shared_clients: 3,
            max_candidates_per_key: 50,
            weights: crate::dedup::MatchWeights::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct RoutingSettings {
    /// Logins that take new clients in turn when the client has no responsible manager.
    pub round_robin: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct PipelineSettings {
    /// Appeals taken per processing transaction.
    pub batch_size: u32,
    /// How often an idle worker looks for pending appeals it was not woken for
    /// (appeals written by another instance sharing the database).
    pub poll_interval_ms: u64,
    /// After this many failed attempts an appeal is parked as `failed` for a human.
    pub max_attempts: u32,
    /// A messenger message from a client whose open interest was active within
    /// this many hours joins its feed as a message instead of a repeat appeal.
    pub conversation_window_hours: u32,
}

impl Default for PipelineSettings {
    fn default() -> Self {
        Self {
            batch_size: 64,
            poll_interval_ms: 500,
            max_attempts: 5,
            conversation_window_hours: 72,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct TaskSettings {
    /// How often the overdue sweeper marks late tasks overdue and notifies
    /// the responsible (every instance sweeps; each task is reported once).
    pub overdue_sweep_interval_ms: u64,
}

impl Default for TaskSettings {
    fn default() -> Self {
        Self {
            overdue_sweep_interval_ms: 60_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct WebSettings {
    /// A login lasts this long; then the browser is sent to the login page.
    pub session_hours: u32,
    /// Send the session cookie only over HTTPS. Turn on behind a TLS proxy.
    pub secure_cookies: bool,
}

impl Default for WebSettings {
    fn default() -> Self {
        Self {
            session_hours: 12,
            secure_cookies: false,
        }
    }
}

/// Maps a site form's field names onto the appeal's contact card.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct FormFieldMap {
    pub name: Vec<String>,
    pub phone: Vec<String>,
    pub email: Vec<String>,
    pub message: Vec<String>,
    pub company: Vec<String>,
    pub subject: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde()]
pub struct FormSettings {
    /// The appeal's `source`; defaults to `form:<name>`.
    #[serde(default)]
    pub source: Option<String>,
    /// Where a plain browser post is sent after the appeal is stored.
    #[serde(default)]
    pub thank_you_url: Option<String>,
    /// A field that people never see and bots fill in.
    #[serde(default)]
    pub honeypot: Option<String>,
    /// Optional shared secret, given in `secret_header` or in the field `secret_field`.
    #[serde(default)]
    pub secret: Option<Secret>,
    #[serde(default = "default_secret_header")]
    pub secret_header: String,
    #[serde(default = "default_secret_field")]
    pub secret_field: String,
    /// Width of the time bucket that makes a form without `tranid` idempotent.
    #[serde(default = "default_dedup_window")]
    pub dedup_window_secs: u64,
    #[serde(default)]
    pub fields: FormFieldMap,
}

fn default_secret_header() -> String {
    "X-Leadgate-Form-Secret".into()
}
fn default_secret_field() -> String {
    "form_secret".into()
}
fn default_dedup_window() -> u64 {
    600
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum TelegramMode {
    /// leadgate calls getUpdates (no public URL needed).
    #[default]
    Polling,
    /// Telegram posts to `/hooks/telegram/<bot>`; register it with
    /// `leadgate telegram set-webhook`.
    Webhook,
}

/// Limits that fold a burst of messages from one person into the appeals
/// already made, instead of one appeal per message.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct BurstSettings {
    /// Messages from one person that become appeals within `window_secs`;
    /// the rest are kept raw as folded events of that person's last appeal.
    pub max_messages: u32,
    pub window_secs: u64,
}

impl Default for BurstSettings {
    fn default() -> Self {
        Self {
            max_messages: 20,
            window_secs: 60,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde()]
pub struct TelegramBotSettings {
    /// The token from @BotFather (or `token_file`).
    pub token: Secret,
    #[serde(default)]
    pub mode: TelegramMode,
    /// Webhook mode: the `secret_token` given to setWebhook, checked on every post.
    #[serde(default)]
    pub secret_token: Option<Secret>,
    /// Sent once to a person's first message; `{first_name}` and `{name}` are replaced.
    #[serde(default)]
    pub greeting: Option<String>,
    /// Messages in groups and supergroups become appeals too (default: ignored).
    #[serde(default)]
    pub allow_groups: bool,
    /// The Bot API server (a local Bot API server, or a test double).
    #[serde(default = "default_telegram_api_url")]
    pub api_url: String,
    /// Long-polling timeout of getUpdates.
    #[serde(default = "default_poll_wait")]
    pub poll_timeout_secs: u64,
    #[serde(default)]
    pub burst: BurstSettings,
}

fn default_telegram_api_url() -> String {
    "https://api.telegram.org".into()
}
fn default_poll_wait() -> u64 {
    25
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct TelegramSettings {
    pub bots: BTreeMap<String, TelegramBotSettings>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum VkMode {
    /// VK posts events to `/hooks/vk/<community>`.
    #[default]
    Callback,
    /// leadgate reads the Bots Long Poll API.
    Longpoll,
}

#[derive(Debug, Clone, Deserialize)]
#[serde()]
pub struct VkCommunitySettings {
    pub group_id: i64,
    /// Community access token with the messages right (or `access_token_file`).
    pub access_token: Secret,
    #[serde(default = "default_vk_version")]
    pub api_version: String,
    #[serde(default)]
    pub mode: VkMode,
    /// Callback mode: the string VK expects back from the confirmation request.
    #[serde(default)]
    pub confirmation: Option<Secret>,
    /// Callback mode: the secret key set in the community's Callback API settings.
    #[serde(default)]
    pub secret: Option<Secret>,
    #[serde(default)]
    pub greeting: Option<String>,
    /// Messages in group chats (peer_id > 2000000000) become appeals too.
    #[serde(default)]
    pub allow_groups: bool,
    #[serde(default = "default_vk_api_url")]
    pub api_url: String,
    /// `wait` of a_check.
    #[serde(default = "default_poll_wait")]
    pub poll_wait_secs: u64,
    /// How long a resolved sender name is reused before users.get is asked again.
    #[serde(default = "default_name_ttl")]
    pub name_cache_secs: u64,
    #[serde(default)]
    pub burst: BurstSettings,
}

fn default_vk_version() -> String {
    "5.199".into()
}
fn default_vk_api_url() -> String {
    "https://api.vk.com/method".into()
}
fn default_name_ttl() -> u64 {
    86_400
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct VkSettings {
    pub communities: BTreeMap<String, VkCommunitySettings>,
}

/// One PBX account: the provider's own settings plus the PBX users of this
/// account mapped to leadgate logins (extension numbers repeat across PBXes).
#[derive(Debug, Clone)]
pub struct PbxAccount<C> {
    pub config: C,
    pub employees: BTreeMap<String, String>,
}

impl<C> PbxAccount<C> {
    pub fn new(config: C) -> Self {
        PbxAccount {
            config,
            employees: BTreeMap::new(),
        }
    }
}

/// `[pbx]`: cloud-PBX accounts served at `/hooks/pbx/<provider>/<name>`.
#[derive(Debug, Clone)]
pub struct PbxSettings {
    pub mango: BTreeMap<String, PbxAccount<MangoConfig>>,
    pub zadarma: BTreeMap<String, PbxAccount<ZadarmaConfig>>,
    pub megafon: BTreeMap<String, PbxAccount<MegafonConfig>>,
    pub generic: BTreeMap<String, PbxAccount<GenericConfig>>,
    /// PBX user / extension → leadgate login, for every account (an
    /// account's own `employees` wins; managers' `pbx_user` is the fallback).
    pub employees: BTreeMap<String, String>,
    /// A missed call asks for a callback within this many minutes.
    pub callback_due_minutes: u32,
    /// Who calls back when the client has no responsible manager: these
    /// logins take such callbacks in turn.
    pub on_duty: Vec<String>,
    /// A call whose PBX never says "the whole call is over" (MegaFon without
    /// `history`, Mango without `events/summary`) is decided once every leg
    /// has ended and nothing was heard of it for this many seconds.
    pub settle_secs: u64,
}

impl Default for PbxSettings {
    fn default() -> Self {
        PbxSettings {
            mango: BTreeMap::new(),
            zadarma: BTreeMap::new(),
            megafon: BTreeMap::new(),
            generic: BTreeMap::new(),
            employees: BTreeMap::new(),
            callback_due_minutes: 15,
            on_duty: Vec::new(),
            settle_secs: 120,
        }
    }
}

/// One account, provider-neutral, for checks and employee lookups.
struct AccountRef<'a> {
    /// The provider segment of the URL (`generic` for generic mappings).
    segment: &'static str,
    /// The account's name in the config and the URL.
    name: &'a str,
    /// `CallEvent::provider` of its events.
    provider: &'a str,
    /// `CallEvent::account` of its events.
    account: &'a str,
    employees: &'a BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(default)]
struct PbxCommon {
    employees: BTreeMap<String, String>,
    callback_due_minutes: u32,
    on_duty: Vec<String>,
    settle_secs: u64,
}

impl Default for PbxCommon {
    fn default() -> Self {
        let d = PbxSettings::default();
        PbxCommon {
            employees: d.employees,
            callback_due_minutes: d.callback_due_minutes,
            on_duty: d.on_duty,
            settle_secs: d.settle_secs,
        }
    }
}

impl PbxSettings {
    pub fn is_empty(&self) -> bool {
        self.mango.is_empty()
            && self.zadarma.is_empty()
            && self.megafon.is_empty()
            && self.generic.is_empty()
    }

    /// Every configured account, whatever its provider.
    fn accounts<'a>(&'a self) -> Vec<AccountRef<'a>> {
        let mut out = Vec::new();
        let refs = |segment: &'static str,
                    name: &'a String,
                    provider: &'a str,
                    account: &'a String,
                    employees: &'a BTreeMap<String, String>| AccountRef {
            segment,
            name: name.as_str(),
            provider,
            account: account.as_str(),
            employees,
        };
        for (name, a) in &self.mango {
            out.push(refs(
                "mango",
                name,
                "mango",
                &a.config.account,
                &a.employees,
            ));
        }
        for (name, a) in &self.zadarma {
            out.push(refs(
                "zadarma",
                name,
                "zadarma",
                &a.config.account,
                &a.employees,
            ));
        }
        for (name, a) in &self.megafon {
            out.push(refs(
                "megafon",
                name,
                "megafon",
                &a.config.account,
                &a.employees,
            ));
        }
        for (name, a) in &self.generic {
            out.push(refs(
                "generic",
                name,
                &a.config.provider,
                &a.config.account,
                &a.employees,
            ));
        }
        out
    }

    /// The leadgate login of a PBX user / extension seen on a call of
    /// (`provider`, `account`) as the events name them.
    pub fn employee_login(
        &self,
        managers: &[ManagerSettings],
        provider: &str,
        account: &str,
        pbx_user: &str,
    ) -> Option<String> {
        let pbx_user = pbx_user.trim();
        if pbx_user.is_empty() {
            return None;
        }
        self.accounts()
            .into_iter()
            .filter(|a| a.provider == provider && a.account == account)
            .find_map(|a| a.employees.get(pbx_user).cloned())
            .or_else(|| self.employees.get(pbx_user).cloned())
            .or_else(|| {
                managers
                    .iter()
                    .find(|m| m.pbx_user.as_deref().map(str::trim) == Some(pbx_user))
                    .map(|m| m.login.clone())
            })
    }

    /// The reverse: what the PBX of this account calls `login` (for MegaFon's
    /// `responsible`).
    pub fn pbx_user_of(
        &self,
        managers: &[ManagerSettings],
        provider: &str,
        account: &str,
        login: &str,
    ) -> Option<String> {
        let find = |map: &BTreeMap<String, String>| {
            map.iter()
                .find(|(_, l)| l.as_str() == login)
                .map(|(u, _)| u.clone())
        };
        self.accounts()
            .into_iter()
            .filter(|a| a.provider == provider && a.account == account)
            .find_map(|a| find(a.employees))
            .or_else(|| {
                managers
                    .iter()
                    .find(|m| m.login == login)
                    .and_then(|m| m.pbx_user.clone())
            })
            .or_else(|| find(&self.employees))
    }
}

pub use crate::sources::mail::settings::{
    AfterAction, MailSettings, MailTls, MailboxSettings, SmtpSettings,
};

/// The whole configuration, after every check passed.
#[derive(Debug, Clone)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub logging: LoggingSettings,
    pub api: ApiSettings,
    pub matching: MatchingSettings,
    pub routing: RoutingSettings,
    pub pipeline: PipelineSettings,
    pub web: WebSettings,
    pub managers: Vec<ManagerSettings>,
    pub departments: Vec<DepartmentSettings>,
    pub forms: BTreeMap<String, FormSettings>,
    pub tasks: TaskSettings,
    pub telegram: TelegramSettings,
    /// Mailboxes read over IMAP, the rules for inbound mail, outgoing mail.
    pub mail: MailSettings,
    pub vk: VkSettings,
    pub scenarios: ScenarioSet,
    /// Working days, hours and time zone for due dates and health colours.
    pub calendar: WorkCalendar,
    pub pbx: PbxSettings,
}

impl Settings {
    pub fn region(&self) -> Region {
        Region::parse(&self.matching.default_region).unwrap_or_default()
    }

    pub fn manager(&self, login: &str) -> Option<&ManagerSettings> {
        self.managers.iter().find(|m| m.login == login)
    }
}

/// One thing wrong with the configuration, named by its key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no configuration file: tried {0}")]
    NotFound(String),
    #[error("cannot read {path}: {message}")]
    Unreadable { path: PathBuf, message: String },
    #[error("{} problem(s) in the configuration:\n{}", .0.len(), list(.0))]
    Invalid(Vec<ConfigProblem>),
}

fn list(problems: &[ConfigProblem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Where the configuration comes from: `--config`, else `LEADGATE_CONFIG`, else
/// `./config/leadgate.toml`, else `/etc/leadgate/leadgate.toml`.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, ConfigError> {
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    if let Some(path) = std::env::var_os("LEADGATE_CONFIG") {
        return Ok(PathBuf::from(path));
    }
    let candidates = [
        PathBuf::from("config/leadgate.toml"),
        PathBuf::from("/etc/leadgate/leadgate.toml"),
    ];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| {
            ConfigError::NotFound(
                candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        })
}

/// Loads the file at `path` with environment overrides and checks all of it.
pub fn load(path: &Path) -> Result<Settings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Unreadable {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    load_from_str(&text, std::env::vars())
}

/// The testable core of [`load`]: TOML text plus an explicit environment.
pub fn load_from_str(
    toml_text: &str,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Settings, ConfigError> {
    let env: std::collections::HashMap<String, String> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with("LEADGATE__"))
        .collect();
    let built = config::Config::builder()
        .add_source(config::File::from_str(toml_text, config::FileFormat::Toml))
        .add_source(
            config::Environment::with_prefix("LEADGATE")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .list_separator(",")
                .with_list_parse_key("api.tokens")
                .with_list_parse_key("routing.round_robin")
                .source(Some(env)),
        )
        .build()
        .map_err(|e| {
            ConfigError::Invalid(vec![ConfigProblem {
                key: "(file)".into(),
                message: e.to_string(),
            }])
        })?;
    let mut problems = Vec::new();
    let mut table = match built.cache.into_table() {
        Ok(t) => t,
        Err(e) => {
            return Err(ConfigError::Invalid(vec![ConfigProblem {
                key: "(root)".into(),
                message: e.to_string(),
            }]))
        }
    };
    resolve_secret_files(&mut table, "", &mut problems);

    let server = section::<ServerSettings>(&mut table, "server", &mut problems);
    let database = section::<DatabaseSettings>(&mut table, "database", &mut problems);
    let logging = section::<LoggingSettings>(&mut table, "logging", &mut problems);
    let api = section::<ApiSettings>(&mut table, "api", &mut problems);
    let matching = section::<MatchingSettings>(&mut table, "matching", &mut problems);
    let routing = section::<RoutingSettings>(&mut table, "routing", &mut problems);
    let pipeline = section::<PipelineSettings>(&mut table, "pipeline", &mut problems);
    let mail = section::<MailSettings>(&mut table, "mail", &mut problems);
    let web = section::<WebSettings>(&mut table, "web", &mut problems);
    let managers = section::<Vec<ManagerSettings>>(&mut table, "managers", &mut problems);
    let departments = section::<Vec<DepartmentSettings>>(&mut table, "departments", &mut problems);
    let forms = section::<BTreeMap<String, FormSettings>>(&mut table, "forms", &mut problems);
    let tasks = section::<TaskSettings>(&mut table, "tasks", &mut problems);
    let telegram = section::<TelegramSettings>(&mut table, "telegram", &mut problems);
    let vk = section::<VkSettings>(&mut table, "vk", &mut problems);
    let scenarios = scenario_section(&mut table, &mut problems);
    let calendar = section::<WorkCalendar>(&mut table, "calendar", &mut problems);
    let pbx = pbx_section(&mut table, &mut problems);
    for key in table.keys() {
        problems.push(ConfigProblem {
            key: key.clone(),
            message: "unknown section".into(),
        });
    }

    let settings = Settings {
        server,
        database,
        mail,
        logging,
        api,
        matching,
        routing,
        pipeline,
        web,
        managers,
        departments,
        forms,
        tasks,
        telegram,
        vk,
        scenarios,
        calendar,
        pbx,
    };
    check(&settings, &mut problems);
    check_pbx(&settings, &mut problems);
    if problems.is_empty() {
        Ok(settings)
    } else {
        Err(ConfigError::Invalid(problems))
    }
}

/// Deserialises one section, recording type errors and unknown keys with their
/// paths; a broken section falls back to its defaults so later checks still run.
fn section<T: DeserializeOwned + Default>(
    table: &mut config::Map<String, config::Value>,
    name: &str,
    problems: &mut Vec<ConfigProblem>,
) -> T {
    let Some(value) = table.remove(name) else {
        return T::default();
    };
    deserialize_value(value, name, problems).unwrap_or_default()
}

fn deserialize_value<T: DeserializeOwned>(
    value: config::Value,
    prefix: &str,
    problems: &mut Vec<ConfigProblem>,
) -> Option<T> {
    let mut unknown = Vec::new();
    let result: Result<T, _> = serde_path_to_error::deserialize(serde_ignored::Deserializer::new(
        value,
        &mut |path: serde_ignored::Path<'_>| unknown.push(path.to_string()),
    ));
    for path in unknown {
        problems.push(ConfigProblem {
            key: join_path(prefix, &bracket_indices(&path)),
            message: "unknown key".into(),
        });
    }
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            let path = e.path().to_string();
            let message = e.into_inner().to_string();
            // serde reports deny_unknown_fields as an error; keep its wording but
            // point at the right place.
            problems.push(ConfigProblem {
                key: join_path(prefix, if path == "." { "" } else { &path }),
                message,
            });
            None
        }
    }
}

/// `managers.0.shoe_size` → `managers[0].shoe_size`, the way TOML users write it.
fn bracket_indices(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 4);
    for segment in path.split('.') {
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            out.push('[');
            out.push_str(segment);
            out.push(']');
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(segment);
        }
    }
    out
}

fn join_path(prefix: &str, path: &str) -> String {
    match (prefix.is_empty(), path.is_empty() || path == "?") {
        (_, true) => prefix.to_string(),
        (true, false) => path.to_string(),
        (false, false) if path.starts_with('[') => format!("{prefix}{path}"),
        (false, false) => format!("{prefix}.{path}"),
    }
}

fn scenario_section(
    table: &mut config::Map<String, config::Value>,
    problems: &mut Vec<ConfigProblem>,
) -> ScenarioSet {
    #[derive(Deserialize)]
    struct Wrapper {
        #[serde(flatten)]
        set: ScenarioSet,
    }
    let mut sub = config::Map::new();
    for key in ["scenarios", "scenario_rules"] {
        if let Some(v) = table.remove(key) {
            sub.insert(key.to_string(), v);
        }
    }
    if sub.is_empty() {
        return ScenarioSet::standard();
    }
    let value = config::Value::new(None, config::ValueKind::Table(sub));
    let set = match deserialize_value::<Wrapper>(value, "", problems) {
        Some(w) => {
            for p in w.set.validate() {
                problems.push(ConfigProblem {
                    key: p.key_path,
                    message: p.message,
                });
            }
            w.set
        }
        None => ScenarioSet::standard(),
    };
    set.standard_if_empty()
}

/// `[pbx]`: the shared keys, and one table per account under each provider.
/// An account's `employees` is taken out before the provider's own (strict)
/// settings are read, and its `account` label defaults to its name.
fn pbx_section(
    table: &mut config::Map<String, config::Value>,
    problems: &mut Vec<ConfigProblem>,
) -> PbxSettings {
    let Some(value) = table.remove("pbx") else {
        return PbxSettings::default();
    };
    let mut pbx = match value.into_table() {
        Ok(t) => t,
        Err(e) => {
            problems.push(ConfigProblem {
                key: "pbx".into(),
                message: e.to_string(),
            });
            return PbxSettings::default();
        }
    };
    let mango = pbx_accounts(&mut pbx, "mango", problems);
    let zadarma = pbx_accounts(&mut pbx, "zadarma", problems);
    let megafon = pbx_accounts(&mut pbx, "megafon", problems);
    let generic = pbx_accounts(&mut pbx, "generic", problems);
    let common = deserialize_value::<PbxCommon>(
        config::Value::new(None, config::ValueKind::Table(pbx)),
        "pbx",
        problems,
    )
    .unwrap_or_default();
    PbxSettings {
        mango,
        zadarma,
        megafon,
        generic,
        employees: common.employees,
        callback_due_minutes: common.callback_due_minutes,
        on_duty: common.on_duty,
        settle_secs: common.settle_secs,
    }
}

fn pbx_accounts<C: DeserializeOwned>(
    pbx: &mut config::Map<String, config::Value>,
    provider: &str,
    problems: &mut Vec<ConfigProblem>,
) -> BTreeMap<String, PbxAccount<C>> {
    let mut out = BTreeMap::new();
    let Some(value) = pbx.remove(provider) else {
        return out;
    };
    let accounts = match value.into_table() {
        Ok(t) => t,
        Err(e) => {
            problems.push(ConfigProblem {
                key: format!("pbx.{provider}"),
                message: format!("{e}; expected [pbx.{provider}.<name>] tables"),
            });
            return out;
        }
    };
    for (name, value) in accounts {
        let prefix = format!("pbx.{provider}.{name}");
        let mut account = match value.into_table() {
            Ok(t) => t,
            Err(e) => {
                problems.push(ConfigProblem {
                    key: prefix,
                    message: format!("{e}; expected a table [pbx.{provider}.<name>]"),
                });
                continue;
            }
        };
        let employees = account
            .remove("employees")
            .and_then(|e| {
                deserialize_value::<BTreeMap<String, String>>(
                    e,
                    &format!("{prefix}.employees"),
                    problems,
                )
            })
            .unwrap_or_default();
        if !account.contains_key("account") {
            account.insert("account".into(), config::Value::from(name.clone()));
        }
        let value = config::Value::new(None, config::ValueKind::Table(account));
        if let Some(config) = deserialize_value::<C>(value, &prefix, problems) {
            out.insert(name, PbxAccount { config, employees });
        }
    }
    out
}

fn check_pbx(s: &Settings, problems: &mut Vec<ConfigProblem>) {
    let logins: std::collections::HashSet<&str> =
        s.managers.iter().map(|m| m.login.as_str()).collect();
    let mut push = |key: String, message: String| problems.push(ConfigProblem { key, message });
    let pbx = &s.pbx;
    if pbx.callback_due_minutes == 0 {
        push(
            "pbx.callback_due_minutes".into(),
            "must be at least 1".into(),
        );
    }
    for (i, login) in pbx.on_duty.iter().enumerate() {
        if !logins.contains(login.as_str()) {
            push(
                format!("pbx.on_duty[{i}]"),
                format!("`{login}` is not in [[managers]]"),
            );
        }
    }
    for (user, login) in &pbx.employees {
        if !logins.contains(login.as_str()) {
            push(
                format!("pbx.employees.{user}"),
                format!("`{login}` is not in [[managers]]"),
            );
        }
    }
    let mut labels = std::collections::HashSet::new();
    for AccountRef {
        segment,
        name,
        provider,
        account,
        employees,
    } in pbx.accounts()
    {
        let prefix = format!("pbx.{segment}.{name}");
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            push(
                prefix.clone(),
                "the name is part of the URL: use letters, digits, - and _".into(),
            );
        }
        if account.trim().is_empty() {
            push(format!("{prefix}.account"), "must not be empty".into());
        }
        if !labels.insert((provider, account)) {
            push(
                format!("{prefix}.account"),
                format!("another {provider} account is also labelled `{account}`; calls would mix"),
            );
        }
        for (user, login) in employees {
            if !logins.contains(login.as_str()) {
                push(
                    format!("{prefix}.employees.{user}"),
                    format!("`{login}` is not in [[managers]]"),
                );
            }
        }
    }
    let empty = |v: &str| v.trim().is_empty();
    for (name, a) in &pbx.mango {
        for (key, v) in [
            ("api_key", &a.config.api_key),
            ("api_salt", &a.config.api_salt),
        ] {
            if empty(v) {
                push(
                    format!("pbx.mango.{name}.{key}"),
                    "must not be empty".into(),
                );
            }
        }
    }
    for (name, a) in &pbx.zadarma {
        if empty(&a.config.api_secret) {
            push(
                format!("pbx.zadarma.{name}.api_secret"),
                "must not be empty".into(),
            );
        }
    }
    for (name, a) in &pbx.megafon {
        if empty(&a.config.crm_token) {
            push(
                format!("pbx.megafon.{name}.crm_token"),
                "must not be empty".into(),
            );
        }
    }
    for (name, a) in &pbx.generic {
        let prefix = format!("pbx.generic.{name}");
        let c = &a.config;
        if ["mango", "zadarma", "megafon"].contains(&c.provider.as_str()) {
            push(
                format!("{prefix}.provider"),
                format!(
                    "`{}` has its own section [pbx.{}.<name>]",
                    c.provider, c.provider
                ),
            );
        }
        match &c.secret {
            GenericSecret::Token {
                token,
                header,
                field,
                query,
                path,
                ..
            } => {
                if token.chars().count() < 16 {
                    push(
                        format!("{prefix}.secret.token"),
                        "must be at least 16 characters".into(),
                    );
                }
                let places = usize::from(header.is_some())
                    + usize::from(field.is_some())
                    + usize::from(query.is_some())
                    + usize::from(*path);
                if places != 1 {
                    push(
                        format!("{prefix}.secret"),
                        "say exactly one place for the token: header, field, query or path = true"
                            .into(),
                    );
                }
            }
            GenericSecret::HmacSha256 { secret, header, .. } => {
                if secret.chars().count() < 16 {
                    push(
                        format!("{prefix}.secret.secret"),
                        "must be at least 16 characters".into(),
                    );
                }
                if empty(header) {
                    push(
                        format!("{prefix}.secret.header"),
                        "must not be empty".into(),
                    );
                }
            }
        }
        if c.fields.call_id.is_empty() {
            push(
                format!("{prefix}.fields.call_id"),
                "must name at least one field".into(),
            );
        }
        if c.fields.event.is_empty() {
            push(
                format!("{prefix}.fields.event"),
                "must name at least one field".into(),
            );
        }
        if c.event_map.is_empty() {
            push(
                format!("{prefix}.event_map"),
                "must map at least one event".into(),
            );
        }
    }
}

/// Keys whose value may instead be read from a file given as `<key>_file`.
const SECRET_KEYS: &[&str] = &[
    "token",
    "secret",
    "password",
    "api_key",
    "api_secret",
    "api_salt",
    "access_token",
    "crm_token",
    "confirmation",
    "secret_token",
];

fn resolve_secret_files(
    table: &mut config::Map<String, config::Value>,
    prefix: &str,
    problems: &mut Vec<ConfigProblem>,
) {
    let file_keys: Vec<String> = table
        .keys()
        .filter(|k| k.ends_with("_file"))
        .cloned()
        .collect();
    for file_key in file_keys {
        let key = file_key.trim_end_matches("_file").to_string();
        let path_key = join_path(prefix, &file_key);
        if !SECRET_KEYS.contains(&key.as_str()) {
            continue;
        }
        let Some(value) = table.remove(&file_key) else {
            continue;
        };
        if table.contains_key(&key) {
            problems.push(ConfigProblem {
                key: path_key,
                message: format!("give either `{key}` or `{file_key}`, not both"),
            });
            continue;
        }
        let path = match value.into_string() {
            Ok(p) => p,
            Err(e) => {
                problems.push(ConfigProblem {
                    key: path_key,
                    message: e.to_string(),
                });
                continue;
            }
        };
        match std::fs::read_to_string(&path) {
            Ok(content) => {
                let secret = content.trim_end_matches(['\n', '\r']).to_string();
                table.insert(key, config::Value::from(secret));
            }
            Err(e) => problems.push(ConfigProblem {
                key: path_key,
                message: format!("cannot read secret file {path}: {e}"),
            }),
        }
    }
    for (key, value) in table.iter_mut() {
        let child = join_path(prefix, key);
        resolve_nested(value, &child, problems);
    }
}

fn resolve_nested(value: &mut config::Value, prefix: &str, problems: &mut Vec<ConfigProblem>) {
    match &mut value.kind {
        config::ValueKind::Table(t) => resolve_secret_files(t, prefix, problems),
        config::ValueKind::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                resolve_nested(item, &format!("{prefix}[{i}]"), problems);
            }
        }
        _ => {}
    }
}

fn check(s: &Settings, problems: &mut Vec<ConfigProblem>) {
    let mut push = |key: String, message: String| problems.push(ConfigProblem { key, message });
    if s.server.listen.parse::<std::net::SocketAddr>().is_err() {
        push(
            "server.listen".into(),
            format!(
                "`{}` is not an address like 127.0.0.1:8080",
                s.server.listen
            ),
        );
    }
    if s.server.body_limit_bytes < 1024 {
        push(
            "server.body_limit_bytes".into(),
            "must be at least 1024".into(),
        );
    }
    let url = &s.database.url;
    if !(url.starts_with("sqlite:")
        || url.starts_with("postgres://")
        || url.starts_with("postgresql://"))
    {
        push(
            "database.url".into(),
            "must start with sqlite: or postgres://".into(),
        );
    }
    if s.database.max_connections == 0 {
        push(
            "database.max_connections".into(),
            "must be at least 1".into(),
        );
    }
    if Region::parse(&s.matching.default_region).is_err() {
        push(
            "matching.default_region".into(),
            format!("unknown region `{}`", s.matching.default_region),
        );
    }
    let m = &s.matching;
    for (key, v) in [
        ("auto_link_threshold", m.auto_link_threshold),
        ("review_threshold", m.review_threshold),
    ] {
        if !v.is_finite() || v <= 0.0 {
            push(
                format!("matching.{key}"),
                "must be a positive number".into(),
            );
        }
    }
    if m.review_threshold > m.auto_link_threshold {
        push(
            "matching.review_threshold".into(),
            "must not exceed matching.auto_link_threshold".into(),
        );
    }
    if m.max_shared_clients == 0 {
        push(
            "matching.max_shared_clients".into(),
            "must be at least 1".into(),
        );
    }
    if m.max_candidates_per_key < m.max_shared_clients || m.max_candidates_per_key > 1000 {
        push(
            "matching.max_candidates_per_key".into(),
            "must be between matching.max_shared_clients and 1000".into(),
        );
    }
    for (key, v) in m.weights.named() {
        if !v.is_finite() || v.abs() > 100.0 {
            push(
                format!("matching.weights.{key}"),
                "must be a number between -100 and 100".into(),
            );
        }
    }
    if m.weights.name_conflict > 0.0 {
        push(
            "matching.weights.name_conflict".into(),
            "must not be positive".into(),
        );
    }
    if s.tasks.overdue_sweep_interval_ms < 10 {
        push(
            "tasks.overdue_sweep_interval_ms".into(),
            "must be at least 10".into(),
        );
    }
    if s.pipeline.batch_size == 0 {
        push("pipeline.batch_size".into(), "must be at least 1".into());
    }
    if s.web.session_hours == 0 || s.web.session_hours > 24 * 90 {
        push(
            "web.session_hours".into(),
            "must be between 1 and 2160 (90 days)".into(),
        );
    }
    if tracing_subscriber::EnvFilter::try_new(&s.logging.level).is_err() {
        push(
            "logging.level".into(),
            format!("`{}` is not a valid filter", s.logging.level),
        );
    }
    let mut token_names = std::collections::HashSet::new();
    for (i, t) in s.api.tokens.iter().enumerate() {
        if t.token.expose().len() < 16 {
            push(
                format!("api.tokens[{i}].token"),
                "must be at least 16 characters".into(),
            );
        }
        if !token_names.insert(&t.name) {
            push(
                format!("api.tokens[{i}].name"),
                format!("duplicate `{}`", t.name),
            );
        }
    }
    let mut logins = std::collections::HashSet::new();
    for (i, m) in s.managers.iter().enumerate() {
        if !logins.insert(m.login.as_str()) {
            push(
                format!("managers[{i}].login"),
                format!("duplicate `{}`", m.login),
            );
        }
        if let Some(d) = &m.department {
            if !s.departments.iter().any(|dep| &dep.id == d) {
                push(
                    format!("managers[{i}].department"),
                    format!("unknown department `{d}`"),
                );
            }
        }
    }
    for (i, d) in s.departments.iter().enumerate() {
        if let Some(head) = &d.head {
            if !logins.contains(head.as_str()) {
                push(
                    format!("departments[{i}].head"),
                    format!("`{head}` is not in [[managers]]"),
                );
            }
        }
    }
    for (i, login) in s.routing.round_robin.iter().enumerate() {
        if !logins.contains(login.as_str()) {
            push(
                format!("routing.round_robin[{i}]"),
                format!("`{login}` is not in [[managers]]"),
            );
        }
    }
    for problem in s.mail.check(&logins) {
        push(problem.0, problem.1);
    }
    for (name, form) in &s.forms {
        if let Some(url) = &form.thank_you_url {
            if !(url.starts_with("http://") || url.starts_with("https://") || url.starts_with('/'))
            {
                push(
                    format!("forms.{name}.thank_you_url"),
                    "must be an http(s) URL or a path".into(),
                );
            }
        }
        if form.dedup_window_secs == 0 {
            push(
                format!("forms.{name}.dedup_window_secs"),
                "must be at least 1".into(),
            );
        }
    }
    check_messengers(s, problems);
}

/// A bot or community name becomes part of a URL path and of the appeal's source.
fn valid_channel_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn check_messengers(s: &Settings, problems: &mut Vec<ConfigProblem>) {
    let mut push = |key: String, message: String| problems.push(ConfigProblem { key, message });
    for (name, bot) in &s.telegram.bots {
        let key = format!("telegram.bots.{name}");
        if !valid_channel_name(name) {
            push(
                key.clone(),
                "name must be 1-64 of a-z, 0-9, '_' or '-'".into(),
            );
        }
        if bot.token.expose().trim().is_empty() {
            push(format!("{key}.token"), "must not be empty".into());
        }
        if bot.mode == TelegramMode::Webhook {
            match &bot.secret_token {
                None => push(
                    format!("{key}.secret_token"),
                    "webhook mode needs a secret_token (1-256 of A-Z, a-z, 0-9, '_', '-')".into(),
                ),
                Some(t) => {
                    let t = t.expose();
                    if t.is_empty()
                        || t.len() > 256
                        || !t
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                    {
                        push(
                            format!("{key}.secret_token"),
                            "must be 1-256 of A-Z, a-z, 0-9, '_' or '-' (Telegram's rule)".into(),
                        );
                    }
                }
            }
        }
        if reqwest::Url::parse(&bot.api_url).is_err() {
            push(format!("{key}.api_url"), "must be a URL".into());
        }
        if bot.poll_timeout_secs > 50 {
            push(
                format!("{key}.poll_timeout_secs"),
                "must be at most 50".into(),
            );
        }
        if bot.burst.max_messages == 0 || bot.burst.window_secs == 0 {
            push(
                format!("{key}.burst"),
                "max_messages and window_secs must be at least 1".into(),
            );
        }
    }
    for (name, community) in &s.vk.communities {
        let key = format!("vk.communities.{name}");
        if !valid_channel_name(name) {
            push(
                key.clone(),
                "name must be 1-64 of a-z, 0-9, '_' or '-'".into(),
            );
        }
        if community.group_id <= 0 {
            push(
                format!("{key}.group_id"),
                "must be the community's positive id".into(),
            );
        }
        if community.access_token.expose().trim().is_empty() {
            push(format!("{key}.access_token"), "must not be empty".into());
        }
        if community.mode == VkMode::Callback {
            if community
                .confirmation
                .as_ref()
                .is_none_or(|c| c.expose().is_empty())
            {
                push(
                    format!("{key}.confirmation"),
                    "callback mode needs the confirmation string from the community settings"
                        .into(),
                );
            }
            if community
                .secret
                .as_ref()
                .is_none_or(|c| c.expose().is_empty())
            {
                push(
                    format!("{key}.secret"),
                    "callback mode needs the secret key set in the community settings".into(),
                );
            }
        }
        if reqwest::Url::parse(&community.api_url).is_err() {
            push(format!("{key}.api_url"), "must be a URL".into());
        }
        if community.poll_wait_secs == 0 || community.poll_wait_secs > 90 {
            push(format!("{key}.poll_wait_secs"), "must be 1 to 90".into());
        }
        if community.burst.max_messages == 0 || community.burst.window_secs == 0 {
            push(
                format!("{key}.burst"),
                "max_messages and window_secs must be at least 1".into(),
            );
        }
    }
}
