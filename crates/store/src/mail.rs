//! Mail channel storage: per-folder read cursors committed together with the
//! appeals they cover, Message-IDs for threading, and the outbox.

use sqlx::{AnyConnection, Row};

use super::{now_ms, Result, Store};
use leadgate_domain::appeal::{AppealStatus, NewAppeal};
use leadgate_domain::decision::AppealDecision;

/// Where one folder of one mailbox was read up to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailCursor {
    pub uid_validity: u32,
    pub last_uid: u32,
}

/// One fetched message, ready to store.
#[derive(Debug, Clone)]
pub struct MailItem {
    pub appeal: NewAppeal,
    /// `Pending` for a lead, `Rejected` for mail that is kept but is no lead.
    pub status: AppealStatus,
    pub decision: Option<AppealDecision>,
    /// The message's own Message-ID, so that replies to it find the thread.
    pub message_id: Option<String>,
}

/// Mail to send, as the pipeline or a reminder enqueues it.
#[derive(Debug, Clone)]
pub struct OutgoingMail {
    pub kind: &'static str,
    /// Enqueueing the same key twice does nothing (re-processing is safe).
    pub dedup_key: String,
    pub recipient: String,
    pub recipient_name: Option<String>,
    pub subject: String,
    pub body: String,
    pub message_id: String,
    pub in_reply_to: Option<String>,
    pub appeal_id: Option<i64>,
    pub interest_id: Option<i64>,
}

/// An outbox row taken by the sender.
#[derive(Debug, Clone)]
pub struct OutboxMail {
    pub id: i64,
    pub kind: String,
    pub recipient: String,
    pub recipient_name: Option<String>,
    pub subject: String,
    pub body: String,
    pub message_id: String,
    pub in_reply_to: Option<String>,
    pub attempts: i64,
}

/// Placeholders `$from..$from+n` for an `IN (...)` list.
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    pub async fn mail_cursor(&self, mailbox: &str, folder: &str) -> Result<Option<MailCursor>> {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT uid_validity, last_uid FROM mail_cursors WHERE mailbox = $1 AND folder = $2",
        )
        .bind(mailbox)
        .bind(folder)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(v, u)| MailCursor {
            uid_validity: u32::try_from(v).unwrap_or(0),
            last_uid: u32::try_from(u).unwrap_or(0),
        }))
    }

    /// Remembers a letter's Message-ID, so replies thread into its interest;
    /// in the transaction that accepts the letter.
    pub async fn record_mail_thread(
        &self,
        conn: &mut AnyConnection,
        message_id: &str,
        appeal_id: i64,
    ) -> Result<()> {
        sqlx::query("INSERT INTO mail_threads (message_id, appeal_id) VALUES ($1, $2)")
            .bind(message_id)
            .bind(appeal_id)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Moves a folder's read cursor, in the transaction that accepts what
    /// was read.
    pub async fn save_mail_cursor(
        &self,
        conn: &mut AnyConnection,
        mailbox: &str,
        folder: &str,
        cursor: MailCursor,
    ) -> Result<()> {
        save_cursor(conn, mailbox, folder, cursor).await
    }

    /// Records a UIDVALIDITY change (or a first look at an empty folder).
    pub async fn set_mail_cursor(
        &self,
        mailbox: &str,
        folder: &str,
        cursor: MailCursor,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        save_cursor(tx.conn(), mailbox, folder, cursor).await?;
        tx.commit().await
    }

    /// The interest a reply belongs to: one of `ids` is the Message-ID of an
    /// inbound appeal already linked to an interest, or of mail we sent.
    /// The newest match wins (the direct parent comes last in References).
    pub async fn mail_thread_interest(&self, ids: &[String]) -> Result<Option<i64>> {
        if ids.is_empty() {
            return Ok(None);
        }
        let ids = &ids[ids.len().saturating_sub(100)..];
        let n = ids.len();
        let sql = format!(
            "SELECT a.interest_id, a.id FROM mail_threads t JOIN appeals a ON a.id = t.appeal_id \
             WHERE t.message_id IN ({}) AND a.interest_id IS NOT NULL \
             UNION ALL SELECT interest_id, id FROM mail_outbox \
             WHERE message_id IN ({}) AND interest_id IS NOT NULL",
            placeholders(1, n),
            placeholders(n + 1, n)
        );
        let mut q = sqlx::query(&sql);
        for id in ids.iter().chain(ids.iter()) {
            q = q.bind(id);
        }
        let rows = q.fetch_all(&self.pool).await?;
        let mut best: Option<i64> = None;
        for row in rows {
            let interest: i64 = row.try_get(0)?;
            best = Some(best.map_or(interest, |b| b.max(interest)));
        }
        Ok(best)
    }

    /// Queues mail inside the caller's transaction; false if the same
    /// `dedup_key` was queued before.
    pub async fn enqueue_mail(
        &self,
        conn: &mut AnyConnection,
        mail: &OutgoingMail,
    ) -> Result<bool> {
        let now = now_ms();
        let done = sqlx::query(
            "INSERT INTO mail_outbox (kind, dedup_key, recipient, recipient_name, subject, body, \
             message_id, in_reply_to, appeal_id, interest_id, status, next_attempt_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'queued', $11, $12) \
             ON CONFLICT (dedup_key) DO NOTHING",
        )
        .bind(mail.kind)
        .bind(&mail.dedup_key)
        .bind(&mail.recipient)
        .bind(mail.recipient_name.as_deref())
        .bind(&mail.subject)
        .bind(&mail.body)
        .bind(&mail.message_id)
        .bind(mail.in_reply_to.as_deref())
        .bind(mail.appeal_id)
        .bind(mail.interest_id)
        .bind(now)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Whether mail of `kind` went (or is going) to `recipient` since `since_ms`.
    pub async fn mailed_recently(
        &self,
        conn: &mut AnyConnection,
        recipient: &str,
        kind: &str,
        since_ms: i64,
    ) -> Result<bool> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT id FROM mail_outbox WHERE recipient = $1 AND kind = $2 AND created_at >= $3 \
             LIMIT 1",
        )
        .bind(recipient)
        .bind(kind)
        .bind(since_ms)
        .fetch_optional(&mut *conn)
        .await?;
        Ok(row.is_some())
    }

    /// How many mails of `kind` were queued since `since_ms` (all recipients).
    pub async fn mail_count_since(
        &self,
        conn: &mut AnyConnection,
        kind: &str,
        since_ms: i64,
    ) -> Result<i64> {
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM mail_outbox WHERE kind = $1 AND created_at >= $2")
                .bind(kind)
                .bind(since_ms)
                .fetch_one(&mut *conn)
                .await?;
        Ok(n)
    }

    /// Takes up to `limit` due messages for sending. A taken row is leased
    /// for `lease_ms`: if this instance dies mid-send, another takes it later.
    pub async fn take_due_mail(&self, limit: u32, lease_ms: i64) -> Result<Vec<OutboxMail>> {
        let now = now_ms();
        let rows = sqlx::query(
            "SELECT id, kind, recipient, recipient_name, subject, body, message_id, in_reply_to, \
             attempts FROM mail_outbox WHERE status IN ('queued', 'sending') \
             AND next_attempt_at <= $1 ORDER BY id LIMIT $2",
        )
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for row in rows {
            let mail = OutboxMail {
                id: row.try_get("id")?,
                kind: row.try_get("kind")?,
                recipient: row.try_get("recipient")?,
                recipient_name: row.try_get("recipient_name")?,
                subject: row.try_get("subject")?,
                body: row.try_get("body")?,
                message_id: row.try_get("message_id")?,
                in_reply_to: row.try_get("in_reply_to")?,
                attempts: row.try_get("attempts")?,
            };
            // Optimistic claim: only the instance whose update matched the
            // attempt count it read owns this attempt.
            let mut tx = self.begin_write().await?;
            let claimed = sqlx::query(
                "UPDATE mail_outbox SET status = 'sending', attempts = attempts + 1, \
                 next_attempt_at = $1 WHERE id = $2 AND attempts = $3 \
                 AND status IN ('queued', 'sending')",
            )
            .bind(now + lease_ms)
            .bind(mail.id)
            .bind(mail.attempts)
            .execute(tx.conn())
            .await?;
            tx.commit().await?;
            if claimed.rows_affected() == 1 {
                out.push(mail);
            }
        }
        Ok(out)
    }

    pub async fn mail_sent(&self, id: i64) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE mail_outbox SET status = 'sent', sent_at = $1, last_error = NULL WHERE id = $2",
        )
        .bind(now_ms())
        .bind(id)
        .execute(tx.conn())
        .await?;
        tx.commit().await
    }

    /// A failed attempt: retried at `retry_at_ms`, or parked as `failed`.
    pub async fn mail_failed(&self, id: i64, error: &str, retry_at_ms: Option<i64>) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE mail_outbox SET status = $1, last_error = $2, next_attempt_at = $3 \
             WHERE id = $4",
        )
        .bind(if retry_at_ms.is_some() {
            "queued"
        } else {
            "failed"
        })
        .bind(error)
        .bind(retry_at_ms.unwrap_or_else(now_ms))
        .bind(id)
        .execute(tx.conn())
        .await?;
        tx.commit().await
    }

    /// Outbox rows by status, for metrics and tests.
    pub async fn outbox_counts(&self) -> Result<Vec<(String, String, i64)>> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT kind, status, COUNT(*) FROM mail_outbox GROUP BY kind, status ORDER BY kind",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }
}

async fn save_cursor(
    conn: &mut AnyConnection,
    mailbox: &str,
    folder: &str,
    cursor: MailCursor,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO mail_cursors (mailbox, folder, uid_validity, last_uid, updated_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (mailbox, folder) DO UPDATE SET \
         uid_validity = excluded.uid_validity, last_uid = excluded.last_uid, \
         updated_at = excluded.updated_at",
    )
    .bind(mailbox)
    .bind(folder)
    .bind(i64::from(cursor.uid_validity))
    .bind(i64::from(cursor.last_uid))
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl Store {
    /// The client's display name, inside the caller's transaction.
    pub async fn client_name(
        &self,
        conn: &mut AnyConnection,
        client_id: i64,
    ) -> Result<Option<String>> {
        let row: Option<(String,)> = sqlx::query_as("SELECT name FROM clients WHERE id = $1")
            .bind(client_id)
            .fetch_optional(&mut *conn)
            .await?;
        Ok(row.map(|(n,)| n))
    }
}
