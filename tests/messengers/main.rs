//! Messenger channels against local fakes of the Telegram Bot API and the VK API.
//! Runs on the backend named by LEADGATE_TEST_DB.

#[path = "../helpers/mod.rs"]
mod helpers;

mod fakes;
mod telegram;
mod vk;

use helpers::TestApp;
use leadgate::settings::{
    BurstSettings, Secret, Settings, TelegramBotSettings, TelegramMode, VkCommunitySettings, VkMode,
};

pub const TG_TOKEN: &str = "123456:test-token";
pub const TG_SECRET: &str = "change-me-telegram-webhook-secret";
pub const VK_TOKEN: &str = "vk-test-token";
pub const VK_SECRET: &str = "change-me-vk-callback-secret";

pub fn tg_bot(api_url: &str, mode: TelegramMode) -> TelegramBotSettings {
    TelegramBotSettings {
        token: Secret::new(TG_TOKEN),
        mode,
        secret_token: Some(Secret::new(TG_SECRET)),
        greeting: None,
        allow_groups: false,
        api_url: api_url.to_string(),
        poll_timeout_secs: 1,
        burst: BurstSettings::default(),
    }
}

pub fn vk_community(api_url: &str, mode: VkMode) -> VkCommunitySettings {
    VkCommunitySettings {
        group_id: 1,
        access_token: Secret::new(VK_TOKEN),
        api_version: "5.199".into(),
        mode,
        confirmation: Some(Secret::new("placeholder-confirmation")),
        secret: Some(Secret::new(VK_SECRET)),
        greeting: None,
        allow_groups: false,
        api_url: api_url.to_string(),
        poll_wait_secs: 1,
        name_cache_secs: 3600,
        burst: BurstSettings::default(),
    }
}

/// Points the shipped example bot and community at the fakes.
pub fn use_fakes(s: &mut Settings, tg_url: &str, vk_api_url: &str) {
    s.telegram
        .bots
        .insert("sales".into(), tg_bot(tg_url, TelegramMode::Webhook));
    s.vk.communities
        .insert("main".into(), vk_community(vk_api_url, VkMode::Callback));
}

pub async fn appeal_id(app: &TestApp, source: &str, external_id: &str) -> Option<i64> {
    app.store
        .appeal_id_by_key(source, external_id)
        .await
        .expect("lookup")
}

/// Starts another daemon on the same database (a restart after a crash).
pub async fn restart_on(settings: Settings) -> (String, tokio_util::sync::CancellationToken) {
    let app = leadgate::startup::Application::build(settings)
        .await
        .expect("build");
    let address = format!("http://{}", app.addr());
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(app.run_until_stopped(stop.clone()));
    (address, stop)
}
