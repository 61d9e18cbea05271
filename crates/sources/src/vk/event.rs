//! One VK community event (Callback API or Bots Long Poll, same format) → an
//! appeal, a feed message, or a raw event.

use chrono::{TimeZone, Utc};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::CommunityRuntime;
use crate::messengers::{render_greeting, HandleError, Handled};
use crate::SourceContext;
use leadgate_domain::appeal::{AttachmentMeta, Channel, ContactCard, Intent, NewAppeal, VkContact};
use leadgate_store::NewOutbound;

/// Peer ids above this are group chats (VK's convention).
const CHAT_PEER_BASE: i64 = 2_000_000_000;

#[derive(Debug, Deserialize)]
struct VkMessage {
    #[serde(default)]
    id: i64,
    #[serde(default)]
    date: i64,
    peer_id: i64,
    from_id: i64,
    #[serde(default)]
    text: String,
    #[serde(default)]
    random_id: Option<i64>,
    #[serde(default)]
    conversation_message_id: Option<i64>,
    #[serde(default)]
    attachments: Vec<Value>,
    #[serde(default, rename = "ref")]
    referral: Option<String>,
    #[serde(default)]
    ref_source: Option<String>,
}

/// The idempotency key: `event_id` (API 5.103+); without it, a digest of the
/// event, so that a redelivery still matches.
fn event_key(object: &Map<String, Value>) -> String {
    match object.get("event_id").and_then(Value::as_str) {
        Some(id) if !id.trim().is_empty() => id.trim().to_string(),
        _ => {
            use sha2::{Digest, Sha256};
            let digest = Sha256::digest(Value::Object(object.clone()).to_string().as_bytes());
            format!("h:{}", hex::encode(&digest[..16]))
        }
    }
}

pub async fn handle_event(
    state: &SourceContext,
    community: &CommunityRuntime,
    event: &Value,
    raw: &str,
) -> Result<Handled, HandleError> {
    let Some(object) = event.as_object() else {
        return Err(HandleError::BadInput {
            field: "(body)".into(),
            detail: "an event must be a JSON object".into(),
        });
    };
    let kind = object
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| HandleError::BadInput {
            field: "type".into(),
            detail: "missing or not a string".into(),
        })?;
    let key = event_key(object);
    let payload = object.get("object").cloned().unwrap_or(Value::Null);
    match kind {
        "message_new" => {
            // API 5.103+: {"message": {...}, "client_info": {...}}; older: the message itself.
            let message = payload.get("message").cloned().unwrap_or(payload);
            match serde_json::from_value::<VkMessage>(message) {
                Ok(m) => message_new(state, community, &key, m, raw).await,
                Err(e) => {
                    tracing::warn!(source = %community.source, key = "object.message", error = %e, "message_new not understood; kept raw");
                    keep_event(state, community, &key, "message_new_unparsed", raw, None).await
                }
            }
        }
        "message_reply" => match serde_json::from_value::<VkMessage>(payload) {
            Ok(m) => message_reply(state, community, &key, m, raw).await,
            Err(e) => {
                tracing::warn!(source = %community.source, key = "object", error = %e, "message_reply not understood; kept raw");
                keep_event(state, community, &key, "message_reply_unparsed", raw, None).await
            }
        },
        other => keep_event(state, community, &key, other, raw, None).await,
    }
}

async fn keep_event(
    state: &SourceContext,
    community: &CommunityRuntime,
    key: &str,
    kind: &str,
    raw: &str,
    appeal_id: Option<i64>,
) -> Result<Handled, HandleError> {
    let new = state
        .store
        .store_messenger_event(&community.source, key, kind, raw, appeal_id)
        .await?;
    if new {
        state.metrics.rejected(&community.source, "event_kept_raw");
        tracing::info!(source = %community.source, event_id = key, kind, "event kept raw; no appeal");
    }
    Ok(Handled::Event)
}

async fn message_new(
    state: &SourceContext,
    community: &CommunityRuntime,
    key: &str,
    m: VkMessage,
    raw: &str,
) -> Result<Handled, HandleError> {
    if m.from_id <= 0 {
        state.metrics.rejected(&community.source, "not_a_person");
        return Ok(Handled::Ignored);
    }
    if m.peer_id > CHAT_PEER_BASE && !community.settings.allow_groups {
        state.metrics.rejected(&community.source, "group_chat");
        return Ok(Handled::Ignored);
    }
    if let Some(id) = state.store.appeal_id_by_key(&community.source, key).await? {
        // A redelivery (X-Retry-Counter, or a long poll replayed after a crash).
        state
            .store
            .record_peer(id, &community.source, m.peer_id)
            .await?;
        return Ok(Handled::Appeal { id, created: false });
    }
    if !community.limiter.admit(m.from_id) {
        let last = state
            .store
            .last_appeal_of_peer(&community.source, m.peer_id)
            .await?;
        tracing::info!(source = %community.source, event_id = key, "message burst folded into the last appeal");
        return keep_event(state, community, key, "folded", raw, last).await;
    }
    let name = community.api.user_name(m.from_id).await;
    let mut attributes = Map::new();
    if let Some(r) = m.referral.as_deref().filter(|r| !r.is_empty()) {
        attributes.insert("ref".into(), json!(r));
        attributes.insert("campaign".into(), json!(r));
    }
    if let Some(r) = m.ref_source.as_deref().filter(|r| !r.is_empty()) {
        attributes.insert("ref_source".into(), json!(r));
    }
    attributes.insert(
        "vk".into(),
        json!({
            "community": community.name,
            "group_id": community.settings.group_id,
            "peer_id": m.peer_id,
            "message_id": m.id,
            "conversation_message_id": m.conversation_message_id,
        }),
    );
    let appeal = NewAppeal {
        channel: Channel::Vk,
        source: community.source.clone(),
        external_id: key.to_string(),
        received_at: Utc
            .timestamp_opt(m.date, 0)
            .single()
            .filter(|_| m.date > 0)
            .unwrap_or_else(Utc::now),
        contact: ContactCard {
            name: name.clone(),
            vk: Some(VkContact {
                id: Some(m.from_id),
                screen_name: None,
            }),
            ..ContactCard::default()
        },
        subject: None,
        text: Some(m.text.clone()).filter(|t| !t.is_empty()),
        attachments: attachments(&m.attachments),
        attributes,
        raw_payload: raw.to_string(),
        intent: Intent::Message,
    };
    let accepted = state.intake.submit(appeal).await?;
    state
        .store
        .record_peer(accepted.id, &community.source, m.peer_id)
        .await?;
    if accepted.created {
        if let Some(template) = &community.settings.greeting {
            let first = name.as_deref().and_then(|n| n.split(' ').next());
            let text = render_greeting(template, first, name.as_deref());
            if !text.trim().is_empty() {
                state
                    .store
                    .enqueue_outbound(&NewOutbound {
                        interest_id: None,
                        appeal_id: Some(accepted.id),
                        source: &community.source,
                        peer_id: m.peer_id,
                        kind: "greeting",
                        body: &text,
                        author: None,
                        dedup_key: Some(format!("greeting:{}:{}", community.source, m.peer_id)),
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

/// Our own message in a conversation (a manager wrote in VK, or we sent it):
/// it belongs to that conversation's interest's feed, and creates nothing.
async fn message_reply(
    state: &SourceContext,
    community: &CommunityRuntime,
    key: &str,
    m: VkMessage,
    raw: &str,
) -> Result<Handled, HandleError> {
    if let Some(random_id) = m.random_id.filter(|r| *r != 0) {
        if state
            .store
            .outbox_has_random_id(&community.source, random_id)
            .await?
        {
            // Sent by leadgate: already in the feed from the outbox.
            return keep_event(state, community, key, "message_reply_own", raw, None).await;
        }
    }
    let Some(interest_id) = state
        .store
        .interest_of_peer(&community.source, m.peer_id)
        .await?
    else {
        return keep_event(state, community, key, "message_reply_unmatched", raw, None).await;
    };
    let mut attributes = Map::new();
    attributes.insert(
        "vk".into(),
        json!({"community": community.name, "peer_id": m.peer_id, "message_id": m.id, "direction": "outgoing"}),
    );
    let appeal = NewAppeal {
        channel: Channel::Vk,
        source: community.source.clone(),
        external_id: key.to_string(),
        received_at: Utc
            .timestamp_opt(m.date, 0)
            .single()
            .filter(|_| m.date > 0)
            .unwrap_or_else(Utc::now),
        // The person talked to, so that an interest closed meanwhile still
        // finds its client rather than a nameless new one.
        contact: ContactCard {
            vk: Some(VkContact {
                id: Some(m.peer_id).filter(|p| *p > 0 && *p < CHAT_PEER_BASE),
                screen_name: None,
            }),
            ..ContactCard::default()
        },
        subject: None,
        text: Some(m.text.clone()).filter(|t| !t.is_empty()),
        attachments: attachments(&m.attachments),
        attributes,
        raw_payload: raw.to_string(),
        intent: Intent::Reply { interest_id },
    };
    let accepted = state.intake.submit(appeal).await?;
    Ok(Handled::Appeal {
        id: accepted.id,
        created: accepted.created,
    })
}

/// Metadata of VK attachments (photo, doc, audio_message, video, ...).
fn attachments(list: &[Value]) -> Vec<AttachmentMeta> {
    list.iter()
        .filter_map(|a| {
            let kind = a.get("type")?.as_str()?;
            let inner = a.get(kind).cloned().unwrap_or(Value::Null);
            let (name, content_type) = match kind {
                "photo" => (
                    format!(
                        "photo_{}.jpg",
                        inner.get("id").map(Value::to_string).unwrap_or_default()
                    ),
                    "image/jpeg".to_string(),
                ),
                "doc" => (
                    inner
                        .get("title")
                        .and_then(Value::as_str)
                        .unwrap_or("document")
                        .to_string(),
                    match inner.get("ext").and_then(Value::as_str) {
                        Some("pdf") => "application/pdf".to_string(),
                        Some("jpg") | Some("jpeg") => "image/jpeg".to_string(),
                        Some("png") => "image/png".to_string(),
                        _ => "application/octet-stream".to_string(),
                    },
                ),
                "audio_message" => ("voice.ogg".to_string(), "audio/ogg".to_string()),
                "video" => ("video.mp4".to_string(), "video/mp4".to_string()),
                other => (other.to_string(), "application/octet-stream".to_string()),
            };
            Some(AttachmentMeta {
                name,
                content_type,
                size: inner.get("size").and_then(Value::as_u64).unwrap_or(0),
            })
        })
        .collect()
}
