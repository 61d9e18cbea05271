//! `[pbx]`: cloud-PBX accounts, their employees, and what a missed call asks for.

use std::collections::BTreeMap;

use leadgate_domain::config::ConfigProblem;
use leadgate_domain::org::ManagerSettings;
use serde::Deserialize;

use super::generic::{GenericConfig, Secret as GenericSecret};
use super::mango::MangoConfig;
use super::megafon::MegafonConfig;
use super::zadarma::ZadarmaConfig;

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
pub struct AccountRef<'a> {
    /// The provider segment of the URL (`generic` for generic mappings).
    pub segment: &'static str,
    /// The account's name in the config and the URL.
    pub name: &'a str,
    /// `CallEvent::provider` of its events.
    pub provider: &'a str,
    /// `CallEvent::account` of its events.
    pub account: &'a str,
    pub employees: &'a BTreeMap<String, String>,
}

/// The keys of `[pbx]` itself, beside the accounts.
#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct PbxCommon {
    pub employees: BTreeMap<String, String>,
    pub callback_due_minutes: u32,
    pub on_duty: Vec<String>,
    pub settle_secs: u64,
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
    pub fn accounts<'a>(&'a self) -> Vec<AccountRef<'a>> {
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

impl PbxSettings {
    /// This section's part of `check-config`.
    pub fn check(&self, managers: &[ManagerSettings]) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let problems = &mut problems;
        let logins: std::collections::HashSet<&str> =
            managers.iter().map(|m| m.login.as_str()).collect();
        let mut push = |key: String, message: String| problems.push(ConfigProblem { key, message });
        let pbx = self;
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
                    format!(
                        "another {provider} account is also labelled `{account}`; calls would mix"
                    ),
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
        std::mem::take(problems)
    }
}
