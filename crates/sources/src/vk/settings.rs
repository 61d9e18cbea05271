//! `[vk.communities.NAME]`: the company's VK communities.

use std::collections::BTreeMap;

use leadgate_domain::config::{ConfigProblem, Secret};
use serde::Deserialize;

use crate::messengers::settings::{valid_channel_name, BurstSettings};

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

fn default_poll_wait() -> u64 {
    25
}

impl VkSettings {
    /// This section's part of `check-config`.
    pub fn check(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let mut push = |key: String, message: String| problems.push(ConfigProblem { key, message });
        for (name, community) in &self.communities {
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
        problems
    }
}
