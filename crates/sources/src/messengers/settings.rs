//! What the Telegram and VK sections share.

use serde::Deserialize;

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

/// A bot or community name: it is part of a URL and of metric labels.
pub fn valid_channel_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}
