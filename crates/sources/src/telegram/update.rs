//! One Telegram update → an appeal, a raw event, or nothing. Shared by the
//! webhook and long polling.

use chrono::{TimeZone, Utc};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::BotRuntime;
use crate::messengers::{render_greeting, HandleError, Handled};
use crate::SourceContext;
use leadgate_domain::appeal::{
    AttachmentMeta, Channel, ContactCard, Intent, NewAppeal, TelegramContact,
};
use leadgate_store::NewOutbound;

#[derive(Debug, Deserialize)]
struct Message {
    message_id: i64,
    #[serde(default)]
    date: i64,
    chat: Chat,
    #[serde(default)]
    from: Option<User>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    caption: Option<String>,
    #[serde(default)]
    contact: Option<SharedContact>,
    #[serde(default)]
    photo: Option<Vec<PhotoSize>>,
    #[serde(default)]
    document: Option<FileMeta>,
    #[serde(default)]
    voice: Option<FileMeta>,
    #[serde(default)]
    audio: Option<FileMeta>,
    #[serde(default)]
    video: Option<FileMeta>,
}

#[derive(Debug, Deserialize)]
struct Chat {
    id: i64,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Deserialize)]
struct User {
    id: i64,
    #[serde(default)]
    is_bot: bool,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    username: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SharedContact {
    phone_number: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    user_id: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct PhotoSize {
    file_id: String,
    #[serde(default)]
    file_unique_id: String,
    #[serde(default)]
    file_size: Option<u64>,
    #[serde(default)]
    width: u32,
    #[serde(default)]
    height: u32,
}

#[derive(Debug, Deserialize)]
struct FileMeta {
    file_id: String,
    #[serde(default)]
    file_unique_id: String,
    #[serde(default)]
    file_name: Option<String>,
    #[serde(default)]
    mime_type: Option<String>,
    #[serde(default)]
    file_size: Option<u64>,
}

fn full_name(first: &str, last: Option<&str>) -> Option<String> {
    let name = [first.trim(), last.unwrap_or("").trim()]
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    (!name.is_empty()).then_some(name)
}

/// Takes one update. `raw` is the update as received (stored with it).
pub async fn handle_update(
    state: &SourceContext,
    bot: &BotRuntime,
    update: &Value,
    raw: &str,
) -> Result<Handled, HandleError> {
    let Some(object) = update.as_object() else {
        return Err(HandleError::BadInput {
            field: "(body)".into(),
            detail: "an update must be a JSON object".into(),
        });
    };
    let update_id = object
        .get("update_id")
        .and_then(Value::as_i64)
        .ok_or_else(|| HandleError::BadInput {
            field: "update_id".into(),
            detail: "missing or not an integer".into(),
        })?;
    let key = update_id.to_string();
    let kind = object
        .keys()
        .find(|k| k.as_str() != "update_id")
        .map(String::as_str)
        .unwrap_or("empty");
    if kind != "message" {
        return keep_event(state, bot, &key, kind, raw, None, "unknown_update").await;
    }
    let message: Message = match serde_json::from_value(object["message"].clone()) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(source = %bot.source, key = "message", update_id, error = %e, "update not understood; kept raw");
            return keep_event(
                state,
                bot,
                &key,
                "message_unparsed",
                raw,
                None,
                "unparsed_update",
            )
            .await;
        }
    };
    if message.chat.kind != "private" && !bot.settings.allow_groups {
        state.metrics.rejected(&bot.source, "group_chat");
        tracing::debug!(source = %bot.source, update_id, "group message ignored");
        return Ok(Handled::Ignored);
    }
    let Some(from) = message.from.as_ref().filter(|f| !f.is_bot) else {
        state.metrics.rejected(&bot.source, "no_person");
        return Ok(Handled::Ignored);
    };
    let chat_id = message.chat.id;

    if !bot.limiter.admit(from.id)
        && state
            .store
            .appeal_id_by_key(&bot.source, &key)
            .await?
            .is_none()
    {
        let last = state
            .store
            .last_appeal_of_peer(&bot.source, chat_id)
            .await?;
        tracing::info!(source = %bot.source, update_id, "message burst folded into the last appeal");
        return keep_event(state, bot, &key, "folded", raw, last, "burst_folded").await;
    }

    let appeal = to_appeal(bot, update_id, &message, from, raw);
    let greeting_name = appeal.contact.name.clone();
    let accepted = state.intake.submit(appeal).await?;
    state
        .store
        .record_peer(accepted.id, &bot.source, chat_id)
        .await?;
    if accepted.created {
        if let Some(template) = &bot.settings.greeting {
            let text = render_greeting(
                template,
                Some(from.first_name.as_str()),
                greeting_name.as_deref(),
            );
            if !text.trim().is_empty() {
                state
                    .store
                    .enqueue_outbound(&NewOutbound {
                        interest_id: None,
                        appeal_id: Some(accepted.id),
                        source: &bot.source,
                        peer_id: chat_id,
                        kind: "greeting",
                        body: &text,
                        author: None,
                        dedup_key: Some(format!("greeting:{}:{chat_id}", bot.source)),
                    })
                    .await?;
            }
        }
    }
    Ok(Handled::Appeal {
        id: accepted.id,
        created: accepted.created,
    })
}

async fn keep_event(
    state: &SourceContext,
    bot: &BotRuntime,
    key: &str,
    kind: &str,
    raw: &str,
    appeal_id: Option<i64>,
    reason: &str,
) -> Result<Handled, HandleError> {
    let new = state
        .store
        .store_messenger_event(&bot.source, key, kind, raw, appeal_id)
        .await?;
    if new {
        state.metrics.rejected(&bot.source, reason);
        tracing::info!(source = %bot.source, update_id = key, kind, "update kept raw; no appeal");
    }
    Ok(Handled::Event)
}

fn to_appeal(bot: &BotRuntime, update_id: i64, m: &Message, from: &User, raw: &str) -> NewAppeal {
    let mut attributes = Map::new();
    let mut text = m.text.clone().or_else(|| m.caption.clone());
    let mut contact = ContactCard {
        name: full_name(&from.first_name, from.last_name.as_deref()),
        telegram: Some(TelegramContact {
            id: Some(from.id),
            username: from.username.clone().filter(|u| !u.trim().is_empty()),
        }),
        ..ContactCard::default()
    };
    if let Some(t) = m.text.as_deref() {
        // Deep links: t.me/<bot>?start=<payload> arrives as "/start <payload>".
        if let Some(rest) = t.strip_prefix("/start") {
            let payload = rest.trim();
            if rest.is_empty() || rest.starts_with(' ') {
                attributes.insert("start".into(), json!(true));
                if !payload.is_empty() {
                    attributes.insert("start_payload".into(), json!(payload));
                    attributes.insert("campaign".into(), json!(payload));
                }
            }
        }
    }
    if let Some(shared) = &m.contact {
        let shared_name = full_name(&shared.first_name, shared.last_name.as_deref());
        // A contact card is the sender's own number only when Telegram says
        // it belongs to the sender; anyone can forward someone else's card.
        if shared.user_id == Some(from.id) {
            contact.phones.push(shared.phone_number.clone());
            attributes.insert("own_contact_shared".into(), json!(true));
        } else {
            let line = format!(
                "Контакт: {} {}",
                shared_name.as_deref().unwrap_or(""),
                shared.phone_number
            )
            .replace("  ", " ");
            text = Some(match text {
                Some(t) if !t.is_empty() => format!("{t}\n{line}"),
                _ => line,
            });
            attributes.insert(
                "shared_contact".into(),
                json!({"phone": shared.phone_number, "name": shared_name, "user_id": shared.user_id}),
            );
        }
    }
    let mut attachments = Vec::new();
    let mut files = Vec::new();
    if let Some(sizes) = &m.photo {
        if let Some(best) = sizes.iter().max_by_key(|p| (p.width, p.height)) {
            attachments.push(AttachmentMeta {
                name: format!("photo_{}.jpg", best.file_unique_id),
                content_type: "image/jpeg".into(),
                size: best.file_size.unwrap_or(0),
            });
            files.push(json!({"kind": "photo", "file_id": best.file_id, "width": best.width, "height": best.height}));
        }
    }
    for (kind, meta, default_type) in [
        ("document", &m.document, "application/octet-stream"),
        ("voice", &m.voice, "audio/ogg"),
        ("audio", &m.audio, "audio/mpeg"),
        ("video", &m.video, "video/mp4"),
    ] {
        if let Some(f) = meta {
            attachments.push(AttachmentMeta {
                name: f
                    .file_name
                    .clone()
                    .unwrap_or_else(|| format!("{kind}_{}", f.file_unique_id)),
                content_type: f.mime_type.clone().unwrap_or_else(|| default_type.into()),
                size: f.file_size.unwrap_or(0),
            });
            files.push(json!({"kind": kind, "file_id": f.file_id}));
        }
    }
    attributes.insert(
        "telegram".into(),
        json!({
            "bot": bot.name,
            "chat_id": m.chat.id,
            "chat_type": m.chat.kind,
            "message_id": m.message_id,
            "files": files,
        }),
    );
    NewAppeal {
        channel: Channel::Telegram,
        source: bot.source.clone(),
        external_id: update_id.to_string(),
        received_at: Utc
            .timestamp_opt(m.date, 0)
            .single()
            .filter(|_| m.date > 0)
            .unwrap_or_else(Utc::now),
        contact,
        subject: None,
        text,
        attachments,
        attributes,
        raw_payload: raw.to_string(),
        intent: Intent::Message,
    }
}
