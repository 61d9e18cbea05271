//! Storage for the messenger channels: poll cursors, poller leases, raw events
//! that did not become appeals, conversation peers and the outbound outbox.

use leadgate_domain::event::{EventType, NewEvent};
use serde::Serialize;
use sqlx::Row;
use utoipa::ToSchema;

use super::interests::NewFeedEntry;
use super::{now_ms, Result, Store};

/// An outbound message as the worker sees it.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub id: i64,
    pub interest_id: Option<i64>,
    pub appeal_id: Option<i64>,
    pub source: String,
    pub peer_id: i64,
    pub kind: String,
    pub body: String,
    pub author: Option<String>,
    pub random_id: i64,
    pub attempts: i64,
}

/// What a reply request gets back.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OutboxView {
    pub id: i64,
    pub status: String,
    pub source: String,
    pub created: bool,
}

/// A new outbound message.
#[derive(Debug, Clone)]
pub struct NewOutbound<'a> {
    pub interest_id: Option<i64>,
    pub appeal_id: Option<i64>,
    pub source: &'a str,
    pub peer_id: i64,
    pub kind: &'a str,
    pub body: &'a str,
    pub author: Option<&'a str>,
    /// Makes the request itself idempotent (a greeting per conversation, an
    /// API caller's Idempotency-Key).
    pub dedup_key: Option<String>,
}

/// A stable, positive 31-bit number per outbox row: VK's `random_id` must be
/// the same on every retry of one message and differ between messages.
pub fn random_id_for(source: &str, row_id: i64, created_at: i64) -> i64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{source}\0{row_id}\0{created_at}").as_bytes());
    let mut bytes = [0u8; 4];
    bytes.copy_from_slice(&digest[..4]);
    i64::from(u32::from_be_bytes(bytes) & 0x7fff_ffff).max(1)
}

impl Store {
    pub async fn messenger_cursor(&self, name: &str) -> Result<Option<String>> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT value FROM messenger_cursors WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(v,)| v))
    }

    pub async fn set_messenger_cursor(&self, name: &str, value: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO messenger_cursors (name, value, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(name)
        .bind(value)
        .bind(now_ms())
        .execute(tx.conn())
        .await?;
        tx.commit().await
    }

    /// Takes or renews the lease `name` for `holder` until now + `ttl_ms`.
    /// Returns whether `holder` has it.
    pub async fn acquire_lease(&self, name: &str, holder: &str, ttl_ms: i64) -> Result<bool> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let row: Option<(String,)> = sqlx::query_as(
            "INSERT INTO messenger_leases (name, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE messenger_leases.holder = excluded.holder OR messenger_leases.expires_at < $4 \
             RETURNING holder",
        )
        .bind(name)
        .bind(holder)
        .bind(now + ttl_ms)
        .bind(now)
        .fetch_optional(tx.conn())
        .await?;
        tx.commit().await?;
        Ok(row.is_some_and(|(h,)| h == holder))
    }

    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM messenger_leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(tx.conn())
            .await?;
        tx.commit().await
    }

    /// Keeps a provider event that did not become an appeal; a redelivery
    /// (same key) changes nothing. Returns whether it was new.
    pub async fn store_messenger_event(
        &self,
        source: &str,
        event_key: &str,
        kind: &str,
        payload: &str,
        appeal_id: Option<i64>,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let row: Option<(i64,)> = sqlx::query_as(
            "INSERT INTO messenger_events (source, event_key, kind, payload, appeal_id, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (source, event_key) DO NOTHING RETURNING id",
        )
        .bind(source)
        .bind(event_key)
        .bind(kind)
        .bind(payload)
        .bind(appeal_id)
        .bind(now_ms())
        .fetch_optional(tx.conn())
        .await?;
        tx.commit().await?;
        Ok(row.is_some())
    }

    pub async fn messenger_event_exists(&self, source: &str, event_key: &str) -> Result<bool> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT id FROM messenger_events WHERE source = $1 AND event_key = $2")
                .bind(source)
                .bind(event_key)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.is_some())
    }

    pub async fn appeal_id_by_key(&self, source: &str, external_id: &str) -> Result<Option<i64>> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT id FROM appeals WHERE source = $1 AND external_id = $2")
                .bind(source)
                .bind(external_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(id,)| id))
    }

    /// Remembers which conversation an appeal came from.
    pub async fn record_peer(&self, appeal_id: i64, source: &str, peer_id: i64) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO messenger_peers (appeal_id, source, peer_id) VALUES ($1, $2, $3) \
             ON CONFLICT (appeal_id) DO NOTHING",
        )
        .bind(appeal_id)
        .bind(source)
        .bind(peer_id)
        .execute(tx.conn())
        .await?;
        tx.commit().await
    }

    /// The latest appeal of a conversation, for folding bursts into it.
    pub async fn last_appeal_of_peer(&self, source: &str, peer_id: i64) -> Result<Option<i64>> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT appeal_id FROM messenger_peers WHERE source = $1 AND peer_id = $2 \
             ORDER BY appeal_id DESC LIMIT 1",
        )
        .bind(source)
        .bind(peer_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(id,)| id))
    }

    /// The interest a conversation last led to.
    pub async fn interest_of_peer(&self, source: &str, peer_id: i64) -> Result<Option<i64>> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT a.interest_id FROM messenger_peers p JOIN appeals a ON a.id = p.appeal_id \
             WHERE p.source = $1 AND p.peer_id = $2 AND a.interest_id IS NOT NULL \
             ORDER BY p.appeal_id DESC LIMIT 1",
        )
        .bind(source)
        .bind(peer_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(id,)| id))
    }

    /// The messenger conversation an interest came from (its latest one).
    pub async fn peer_of_interest(&self, interest_id: i64) -> Result<Option<(String, i64)>> {
        let row: Option<(String, i64)> = sqlx::query_as(
            "SELECT p.source, p.peer_id FROM messenger_peers p JOIN appeals a ON a.id = p.appeal_id \
             WHERE a.interest_id = $1 ORDER BY p.appeal_id DESC LIMIT 1",
        )
        .bind(interest_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row)
    }

    pub async fn interest_exists(&self, interest_id: i64) -> Result<bool> {
        let row: Option<(i64,)> = sqlx::query_as("SELECT id FROM interests WHERE id = $1")
            .bind(interest_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    /// Whether `random_id` is one of our outbound messages (VK echoes them as
    /// `message_reply`).
    pub async fn outbox_has_random_id(&self, source: &str, random_id: i64) -> Result<bool> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT id FROM messenger_outbox WHERE source = $1 AND random_id = $2 LIMIT 1",
        )
        .bind(source)
        .bind(random_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Queues an outbound message; with a `dedup_key` already used, returns
    /// the row made the first time.
    pub async fn enqueue_outbound(&self, msg: &NewOutbound<'_>) -> Result<OutboxView> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let inserted: Option<(i64,)> = sqlx::query_as(
            "INSERT INTO messenger_outbox (interest_id, appeal_id, source, peer_id, kind, body, author, \
             dedup_key, status, next_attempt_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $9) \
             ON CONFLICT (dedup_key) DO NOTHING RETURNING id",
        )
        .bind(msg.interest_id)
        .bind(msg.appeal_id)
        .bind(msg.source)
        .bind(msg.peer_id)
        .bind(msg.kind)
        .bind(msg.body)
        .bind(msg.author)
        .bind(msg.dedup_key.as_deref())
        .bind(now)
        .fetch_optional(tx.conn())
        .await?;
        let view = match inserted {
            Some((id,)) => {
                sqlx::query("UPDATE messenger_outbox SET random_id = $1 WHERE id = $2")
                    .bind(random_id_for(msg.source, id, now))
                    .bind(id)
                    .execute(tx.conn())
                    .await?;
                OutboxView {
                    id,
                    status: "pending".into(),
                    source: msg.source.to_string(),
                    created: true,
                }
            }
            None => {
                let (id, status, source): (i64, String, String) = sqlx::query_as(
                    "SELECT id, status, source FROM messenger_outbox WHERE dedup_key = $1",
                )
                .bind(msg.dedup_key.as_deref())
                .fetch_one(tx.conn())
                .await?;
                OutboxView {
                    id,
                    status,
                    source,
                    created: false,
                }
            }
        };
        tx.commit().await?;
        Ok(view)
    }

    /// Attempts that were under way when their instance died: `(id, source)`.
    pub async fn stale_sending(&self) -> Result<Vec<(i64, String)>> {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT id, source FROM messenger_outbox WHERE status = 'sending' AND claimed_until < $1 \
             ORDER BY id LIMIT 100",
        )
        .bind(now_ms())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// Moves a stale attempt on: back to `pending` (safe to resend) or to
    /// `unconfirmed` (it may have been delivered; a human decides).
    pub async fn settle_stale(&self, id: i64, resend: bool) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE messenger_outbox SET status = $1, claimed_until = NULL, \
             last_error = COALESCE(last_error, 'the instance sending it stopped') \
             WHERE id = $2 AND status = 'sending' AND claimed_until < $3",
        )
        .bind(if resend { "pending" } else { "unconfirmed" })
        .bind(id)
        .bind(now_ms())
        .execute(tx.conn())
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(done == 1)
    }

    /// Takes due rows for this worker; a row is taken by one worker only.
    pub async fn claim_outbound(&self, limit: i64, claim_ms: i64) -> Result<Vec<OutboxRow>> {
        let now = now_ms();
        let ids: Vec<(i64,)> = sqlx::query_as(
            "SELECT id FROM messenger_outbox WHERE status = 'pending' AND next_attempt_at <= $1 \
             ORDER BY id LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(ids.len());
        for (id,) in ids {
            let mut tx = self.begin_write().await?;
            let row = sqlx::query(
                "UPDATE messenger_outbox SET status = 'sending', claimed_until = $1, attempts = attempts + 1 \
                 WHERE id = $2 AND status = 'pending' AND next_attempt_at <= $3 \
                 RETURNING id, interest_id, appeal_id, source, peer_id, kind, body, author, random_id, attempts",
            )
            .bind(now + claim_ms)
            .bind(id)
            .bind(now)
            .fetch_optional(tx.conn())
            .await?;
            tx.commit().await?;
            if let Some(r) = row {
                out.push(OutboxRow {
                    id: r.try_get("id")?,
                    interest_id: r.try_get("interest_id")?,
                    appeal_id: r.try_get("appeal_id")?,
                    source: r.try_get("source")?,
                    peer_id: r.try_get("peer_id")?,
                    kind: r.try_get("kind")?,
                    body: r.try_get("body")?,
                    author: r.try_get("author")?,
                    random_id: r.try_get("random_id")?,
                    attempts: r.try_get("attempts")?,
                });
            }
        }
        Ok(out)
    }

    /// Marks the row sent (once) and records the message in its interest's feed.
    pub async fn outbound_sent(
        &self,
        row: &OutboxRow,
        channel: &str,
        provider_message_id: &str,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE messenger_outbox SET status = 'sent', provider_message_id = $1, sent_at = $2, \
             claimed_until = NULL, last_error = NULL WHERE id = $3 AND status = 'sending'",
        )
        .bind(provider_message_id)
        .bind(now_ms())
        .bind(row.id)
        .execute(tx.conn())
        .await?
        .rows_affected();
        if updated == 1 {
            let summary = format!("Сообщение клиенту ({channel}): {}", short(&row.body));
            let data = serde_json::json!({
                "outbox_id": row.id,
                "channel": channel,
                "source": row.source,
                "kind": row.kind,
                "provider_message_id": provider_message_id,
                "text": row.body,
            });
            self.outbound_feed(tx.conn(), row, "message_out", summary, data)
                .await?;
            let event = NewEvent::new(
                EventType::MessageSent,
                serde_json::json!({"message": {
                    "id": row.id,
                    "interest_id": row.interest_id,
                    "appeal_id": row.appeal_id,
                    "channel": channel,
                    "source": row.source,
                    "kind": row.kind,
                    "author": row.author,
                    "text": row.body,
                    "provider_message_id": provider_message_id,
                }}),
            );
            self.append_events(tx.conn(), &[event]).await?;
        }
        tx.commit().await
    }

    /// A temporary failure: try again at `retry_at_ms`, or give up.
    pub async fn outbound_retry(
        &self,
        row: &OutboxRow,
        error: &str,
        retry_at_ms: i64,
        give_up: bool,
    ) -> Result<()> {
        if give_up {
            return self.outbound_failed(row, error, "failed").await;
        }
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE messenger_outbox SET status = 'pending', next_attempt_at = $1, last_error = $2, \
             claimed_until = NULL WHERE id = $3 AND status = 'sending'",
        )
        .bind(retry_at_ms)
        .bind(error)
        .bind(row.id)
        .execute(tx.conn())
        .await?;
        tx.commit().await
    }

    /// A final outcome other than sent (`failed`, `unconfirmed`), shown in the feed.
    pub async fn outbound_failed(&self, row: &OutboxRow, error: &str, status: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE messenger_outbox SET status = $1, last_error = $2, claimed_until = NULL \
             WHERE id = $3 AND status = 'sending'",
        )
        .bind(status)
        .bind(error)
        .bind(row.id)
        .execute(tx.conn())
        .await?
        .rows_affected();
        if updated == 1 {
            let summary = match status {
                "unconfirmed" => format!(
                    "Не подтверждена доставка сообщения клиенту: {}",
                    short(&row.body)
                ),
                _ => format!("Сообщение клиенту не отправлено: {}", short(&row.body)),
            };
            let data = serde_json::json!({"outbox_id": row.id, "source": row.source, "status": status, "error": error});
            self.outbound_feed(tx.conn(), row, "message_out_failed", summary, data)
                .await?;
        }
        tx.commit().await
    }

    async fn outbound_feed(
        &self,
        conn: &mut sqlx::AnyConnection,
        row: &OutboxRow,
        kind: &str,
        summary: String,
        data: serde_json::Value,
    ) -> Result<()> {
        let interest_id = match row.interest_id {
            Some(id) => Some(id),
            None => match row.appeal_id {
                Some(appeal_id) => {
                    let r: Option<(Option<i64>,)> =
                        sqlx::query_as("SELECT interest_id FROM appeals WHERE id = $1")
                            .bind(appeal_id)
                            .fetch_optional(&mut *conn)
                            .await?;
                    r.and_then(|(i,)| i)
                }
                None => None,
            },
        };
        let Some(interest_id) = interest_id else {
            tracing::info!(
                outbox_id = row.id,
                "outbound message has no interest yet; not in a feed"
            );
            return Ok(());
        };
        self.add_feed_entry(
            conn,
            &NewFeedEntry {
                interest_id,
                kind,
                actor: row.author.as_deref(),
                summary,
                data,
                appeal_id: None,
            },
        )
        .await?;
        Ok(())
    }
}

fn short(text: &str) -> String {
    let mut s: String = text.chars().take(140).collect();
    if text.chars().count() > 140 {
        s.push('…');
    }
    s
}
