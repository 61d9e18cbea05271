//! Messenger updates that were given up on: the poller moved its cursor
//! past them, so they live here for a person to look at (and replay).

use serde::Serialize;
use sqlx::Row;
use utoipa::ToSchema;

use super::{now_ms, Result, Store};

/// The payload is kept up to this many bytes: a dead letter must not be
/// the way a hostile update grows the database.
const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeadLetter {
    pub id: i64,
    /// `telegram:<bot>`, `vk:<community>`.
    pub source: String,
    /// The provider's key of the update (Telegram's update_id, VK's event_id).
    pub key: String,
    pub reason: String,
    pub attempts: i64,
    /// Unix milliseconds.
    pub created_at: i64,
    /// An admin asked for a replay and the poller has not tried it yet.
    pub replay_requested_at: Option<i64>,
    /// The replay stored it: the update is an appeal now.
    pub replayed_at: Option<i64>,
}

/// A dead letter the poller is asked to handle again.
#[derive(Debug, Clone)]
pub struct ReplayDue {
    pub id: i64,
    pub payload: String,
}

/// Why a replay cannot be asked for.
#[derive(Debug, PartialEq, Eq)]
pub enum ReplayRefusal {
    Unknown,
    AlreadyReplayed,
}

const COLUMNS: &str =
    "id, source, event_key, reason, attempts, created_at, replay_requested_at, replayed_at";

fn dead_letter(r: &sqlx::any::AnyRow) -> Result<DeadLetter> {
    Ok(DeadLetter {
        id: r.try_get("id")?,
        source: r.try_get("source")?,
        key: r.try_get("event_key")?,
        reason: r.try_get("reason")?,
        attempts: r.try_get("attempts")?,
        created_at: r.try_get("created_at")?,
        replay_requested_at: r.try_get("replay_requested_at")?,
        replayed_at: r.try_get("replayed_at")?,
    })
}

fn clip(text: &str, max: usize) -> String {
    let text = text.replace('\0', "");
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

impl Store {
    /// Records a given-up update; a second one under the same key keeps the
    /// first. True if it was new.
    pub async fn add_dead_letter(
        &self,
        source: &str,
        key: &str,
        reason: &str,
        payload: &str,
        attempts: u32,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let row: Option<(i64,)> = sqlx::query_as(
            "INSERT INTO dead_letters (source, event_key, reason, payload, attempts, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (source, event_key) DO NOTHING RETURNING id",
        )
        .bind(source)
        .bind(clip(key, 200))
        .bind(clip(reason, 2000))
        .bind(clip(payload, MAX_PAYLOAD_BYTES))
        .bind(i64::from(attempts))
        .bind(now_ms())
        .fetch_optional(tx.conn())
        .await?;
        tx.commit().await?;
        Ok(row.is_some())
    }

    /// The newest dead letters first.
    pub async fn dead_letters(&self, limit: u32) -> Result<Vec<DeadLetter>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM dead_letters ORDER BY id DESC LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(dead_letter).collect()
    }

    /// Asks the poller of the letter's source to handle it again.
    pub async fn request_dead_letter_replay(
        &self,
        id: i64,
    ) -> Result<std::result::Result<DeadLetter, ReplayRefusal>> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(&format!(
            "UPDATE dead_letters SET replay_requested_at = $1 \
             WHERE id = $2 AND replayed_at IS NULL RETURNING {COLUMNS}"
        ))
        .bind(now_ms())
        .bind(id)
        .fetch_optional(tx.conn())
        .await?;
        let answer = match row {
            Some(r) => Ok(dead_letter(&r)?),
            None => {
                let known: Option<(i64,)> =
                    sqlx::query_as("SELECT id FROM dead_letters WHERE id = $1")
                        .bind(id)
                        .fetch_optional(tx.conn())
                        .await?;
                Err(match known {
                    Some(_) => ReplayRefusal::AlreadyReplayed,
                    None => ReplayRefusal::Unknown,
                })
            }
        };
        tx.commit().await?;
        Ok(answer)
    }

    /// The letters of `source` whose replay was asked for, oldest first.
    pub async fn dead_letters_to_replay(&self, source: &str, limit: u32) -> Result<Vec<ReplayDue>> {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT id, payload FROM dead_letters \
             WHERE source = $1 AND replay_requested_at IS NOT NULL AND replayed_at IS NULL \
             ORDER BY id LIMIT $2",
        )
        .bind(source)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, payload)| ReplayDue { id, payload })
            .collect())
    }

    /// Records a replay's outcome: stored, or failed again with `error`
    /// (the letter stays, with the new reason, for another request).
    pub async fn dead_letter_replayed(&self, id: i64, error: Option<&str>) -> Result<()> {
        let mut tx = self.begin_write().await?;
        match error {
            None => {
                sqlx::query(
                    "UPDATE dead_letters SET replayed_at = $1, replay_requested_at = NULL WHERE id = $2",
                )
                .bind(now_ms())
                .bind(id)
                .execute(tx.conn())
                .await?;
            }
            Some(error) => {
                sqlx::query(
                    "UPDATE dead_letters SET replay_requested_at = NULL, reason = $1, \
                     attempts = attempts + 1 WHERE id = $2",
                )
                .bind(clip(&format!("replay failed: {error}"), 2000))
                .bind(id)
                .execute(tx.conn())
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// The stored payload of one dead letter.
    pub async fn dead_letter_payload(&self, id: i64) -> Result<Option<String>> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT payload FROM dead_letters WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|r| r.0))
    }
}
