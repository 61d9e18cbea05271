//! Configuration: one TOML file plus `LEADGATE__SECTION__KEY` environment overrides.
//!
//! Loading never stops at the first problem: every section is deserialised on its
//! own, unknown keys are collected with their paths, and the semantic checks run
//! over whatever did parse, so `leadgate check-config` can list everything at once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Deserialize;

pub use leadgate_core::health::HealthSettings;
use leadgate_core::settings::CallSettings;
pub use leadgate_core::settings::{CoreSettings, PipelineSettings, RoutingSettings, TaskSettings};
pub use leadgate_domain::config::{ConfigProblem, Secret};
use leadgate_domain::contact::Region;
pub use leadgate_domain::dedup::MatchingSettings;
pub use leadgate_domain::org::{DepartmentSettings, ManagerSettings};
pub use leadgate_domain::role::Role;
use leadgate_domain::scenario::{ScenarioSet, WorkCalendar};
pub use leadgate_http::settings::{ApiSettings, ApiToken, LimitSettings, ServerSettings};
pub use leadgate_sources::SourcesSettings;
pub use leadgate_store::{DatabaseSettings, SqliteSync};
pub use leadgate_web::settings::{OperationsSettings, WebSettings};

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

pub use leadgate_sources::forms::settings::{FormFieldMap, FormSettings};
pub use leadgate_sources::mail::settings::{
    AfterAction, MailSettings, MailTls, MailboxSettings, SmtpSettings,
};
pub use leadgate_sources::messengers::settings::BurstSettings;
pub use leadgate_sources::pbx::settings::{PbxAccount, PbxCommon, PbxSettings};
pub use leadgate_sources::telegram::settings::{
    TelegramBotSettings, TelegramMode, TelegramSettings,
};
pub use leadgate_sources::vk::settings::{VkCommunitySettings, VkMode, VkSettings};
pub use leadgate_sources::webhooks::settings::{EventSettings, WebhookSettings};

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
    pub webhooks: Vec<WebhookSettings>,
    pub events: EventSettings,
    /// `[limits]`: rate limits, length caps, login throttling.
    pub limits: LimitSettings,
    /// `[operations]`: the token for `/metrics` and `/readyz` details.
    pub operations: OperationsSettings,
    /// `[health]`: when a silent part of the daemon counts as down.
    pub health: HealthSettings,
}

impl Settings {
    pub fn region(&self) -> Region {
        Region::parse(&self.matching.default_region).unwrap_or_default()
    }

    pub fn manager(&self, login: &str) -> Option<&ManagerSettings> {
        self.managers.iter().find(|m| m.login == login)
    }

    /// The sections the services read.
    pub fn core(&self) -> CoreSettings {
        CoreSettings {
            matching: self.matching.clone(),
            routing: self.routing.clone(),
            pipeline: self.pipeline.clone(),
            tasks: self.tasks.clone(),
            managers: self.managers.clone(),
            departments: self.departments.clone(),
            scenarios: self.scenarios.clone(),
            calendar: self.calendar.clone(),
            calls: CallSettings {
                callback_due_minutes: self.pbx.callback_due_minutes,
                on_duty: self.pbx.on_duty.clone(),
            },
        }
    }

    /// The channels' sections.
    pub fn sources(&self) -> SourcesSettings {
        SourcesSettings {
            forms: self.forms.clone(),
            telegram: self.telegram.clone(),
            vk: self.vk.clone(),
            mail: self.mail.clone(),
            pbx: self.pbx.clone(),
            webhooks: self.webhooks.clone(),
            events: self.events.clone(),
            limits: self.limits.clone(),
        }
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
    let mut demo_values = Vec::new();
    find_demo_values(&table, "", &mut demo_values);

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
    let webhooks = section::<Vec<WebhookSettings>>(&mut table, "webhooks", &mut problems);
    let events = section::<EventSettings>(&mut table, "events", &mut problems);
    let limits = section::<LimitSettings>(&mut table, "limits", &mut problems);
    let operations = section::<OperationsSettings>(&mut table, "operations", &mut problems);
    let health = section::<HealthSettings>(&mut table, "health", &mut problems);
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
        webhooks,
        events,
        limits,
        operations,
        health,
    };
    check(&settings, &mut problems);
    problems.extend(leadgate_sources::webhooks::settings::check(
        &settings.webhooks,
        &settings.events,
    ));
    problems.extend(settings.limits.check());
    problems.extend(settings.pbx.check(&settings.managers));
    if !settings.server.demo {
        for key in demo_values {
            problems.push(ConfigProblem {
                key,
                message: "is a demo value from the shipped configuration, known to anyone who \
                          read it; put a secret of your own (`leadgate init` writes random ones), \
                          or set `[server] demo = true` for a demo"
                    .into(),
            });
        }
    }
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
                    key: p.key,
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

/// Keys whose value may instead be read from a file given as `<key>_file`.
const SECRET_KEYS: &[&str] = &[
    "token",
    "secret",
    "previous_secret",
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

/// Secrets the shipped configuration comes with: anyone who read the
/// repository knows them.
pub fn is_demo_secret(value: &str) -> bool {
    let v = value.trim();
    v == "demo-token-change-me" || v.starts_with("change-me")
}

/// Key paths of secrets holding a demo value.
fn find_demo_values(
    table: &config::Map<String, config::Value>,
    prefix: &str,
    out: &mut Vec<String>,
) {
    for (key, value) in table {
        let path = join_path(prefix, key);
        find_demo_in(value, &path, SECRET_KEYS.contains(&key.as_str()), out);
    }
}

fn find_demo_in(value: &config::Value, path: &str, secret: bool, out: &mut Vec<String>) {
    match &value.kind {
        config::ValueKind::Table(t) => find_demo_values(t, path, out),
        config::ValueKind::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                find_demo_in(item, &format!("{path}[{i}]"), secret, out);
            }
        }
        config::ValueKind::String(s) if secret && is_demo_secret(s) => out.push(path.to_string()),
        _ => {}
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
    for (key, problem) in m.junk.problems() {
        push(key, problem);
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
    if s.pipeline.workers == 0 || s.pipeline.workers > 16 {
        push("pipeline.workers".into(), "must be between 1 and 16".into());
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
        problems.extend(form.check(name));
    }
    problems.extend(s.telegram.check());
    problems.extend(s.vk.check());
}
