//! `leadgate webhooks list | test NAME | replay NAME --from ID`.

use anyhow::{bail, Context};

use crate::settings::{Settings, WebhookSettings};
use leadgate_domain::event::{Event, EventType};
use leadgate_sources::webhooks::{Answer, Sender};
use leadgate_store::{from_ms, Store};

fn hook<'a>(settings: &'a Settings, name: &str) -> anyhow::Result<&'a WebhookSettings> {
    settings
        .webhooks
        .iter()
        .find(|h| h.name == name)
        .with_context(|| format!("no [[webhooks]] named `{name}` in the configuration"))
}

fn time(ms: Option<i64>) -> String {
    ms.map(|ms| from_ms(ms).format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| "-".into())
}

pub async fn list(settings: &Settings, store: &Store) -> anyhow::Result<()> {
    if settings.webhooks.is_empty() {
        println!("no [[webhooks]] configured");
        return Ok(());
    }
    let last = store.last_event_id().await?;
    for hook in &settings.webhooks {
        let state = store.webhook_endpoint(&hook.name).await?;
        println!(
            "{}  {}  events: {}",
            hook.name,
            hook.url,
            hook.events.join(", ")
        );
        let Some(s) = state else {
            println!("  not started yet (the daemon registers it on start)");
            continue;
        };
        let status = if let Some(reason) = &s.disabled_reason {
            format!("DISABLED since {}: {reason}", time(s.disabled_at_ms))
        } else if let Some(event) = s.retry_event {
            format!(
                "retrying event {event}: attempt {} failed ({}), next at {}",
                s.attempts,
                s.last_error.as_deref().unwrap_or("?"),
                time(s.next_attempt_at_ms)
            )
        } else {
            "ok".into()
        };
        println!(
            "  {status}; position {} of {last} (lag {} events); delivered {}, failed {}; last success {}",
            s.position,
            (last - s.position).max(0),
            s.delivered,
            s.failed,
            time(s.last_success_at_ms)
        );
        for f in store.webhook_failures(&hook.name, 10).await? {
            println!(
                "  failed: event {} after {} attempts at {} (status {}, {}){}",
                f.event_id,
                f.attempts,
                time(Some(f.failed_at_ms)),
                f.last_status.map_or("-".into(), |s| s.to_string()),
                f.last_error.as_deref().unwrap_or(""),
                if f.replayed_at_ms.is_some() {
                    ", replayed"
                } else {
                    ""
                }
            );
        }
    }
    Ok(())
}

/// Sends one signed delivery now (the latest event the endpoint wants, or a
/// sample) and reports the answer; the endpoint's position is not touched.
pub async fn test(settings: &Settings, store: &Store, name: &str) -> anyhow::Result<()> {
    let hook = hook(settings, name)?.clone();
    let sender = Sender::new(hook).map_err(|e| anyhow::anyhow!(e))?;
    let last = store.last_event_id().await?;
    let recent = store
        .events_after((last - 1000).max(0), &[], 1000)
        .await?
        .into_iter()
        .rev()
        .find(|e| sender.wants(e));
    let event = match recent {
        Some(event) => event,
        None => Event {
            id: 0,
            kind: EventType::AppealAccepted,
            timestamp: from_ms(leadgate_store::now_ms()),
            data: serde_json::value::RawValue::from_string(r#"{"test":true}"#.into())?,
        },
    };
    match sender.deliver(&event).await {
        Answer::Delivered(status) => {
            println!(
                "{name}: event {} ({}) delivered, HTTP {status}",
                event.id, event.kind
            );
            Ok(())
        }
        Answer::Gone => {
            bail!("{name}: the receiver answered 410 Gone (it would disable the endpoint)")
        }
        Answer::Failed(_, error) => bail!("{name}: delivery failed: {error}"),
    }
}

pub async fn replay(
    settings: &Settings,
    store: &Store,
    name: &str,
    from: i64,
) -> anyhow::Result<()> {
    hook(settings, name)?;
    if from < 1 {
        bail!("--from must be an event id, 1 or more");
    }
    store.ensure_webhook_endpoint(name).await?;
    store.replay_webhook(name, from).await?;
    println!(
        "{name}: events from {from} on will be delivered again (the running daemon picks it up)"
    );
    Ok(())
}
