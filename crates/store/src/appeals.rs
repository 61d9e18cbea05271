use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{from_ms, now_ms, to_ms, Result, StorageError, Store};
use leadgate_domain::appeal::{Appeal, AppealStatus, Channel, NewAppeal};
use leadgate_domain::decision::AppealDecision;
use leadgate_domain::event::NewEvent;

/// The answer intake gives a channel: the appeal's id, and whether this call
/// stored it or it was already there (a redelivery).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcceptedAppeal {
    pub id: i64,
    pub status: AppealStatus,
    pub created: bool,
}

/// A pending appeal taken by a worker inside its processing transaction.
#[derive(Debug, Clone)]
pub struct ClaimedAppeal {
    pub appeal: Appeal,
    pub accepted_at_ms: i64,
    pub attempts: i64,
    /// (interest, client) when the appeal already left its mark on an
    /// interest: re-processing it must then change nothing.
    pub prior_effect: Option<(i64, i64)>,
}

#[derive(Debug, Clone, Default)]
pub struct AppealCounts {
    pub pending: i64,
}

pub(crate) const APPEAL_COLUMNS: &str =
    "id, channel, source, external_id, received_at, contact, subject, body, \
     attachments, attributes, intent, status, client_id, interest_id, decision, accepted_at, attempts";

pub(crate) fn appeal_from_row(row: &AnyRow) -> Result<Appeal> {
    let channel: String = row.try_get("channel")?;
    let status: String = row.try_get("status")?;
    let contact: String = row.try_get("contact")?;
    let attachments: String = row.try_get("attachments")?;
    let attributes: String = row.try_get("attributes")?;
    let decision: Option<String> = row.try_get("decision")?;
    let intent: String = row.try_get("intent")?;
    let corrupt = |what: &str| StorageError::Corrupt(format!("appeal column {what}"));
    Ok(Appeal {
        id: row.try_get("id")?,
        channel: Channel::parse(&channel).ok_or_else(|| corrupt("channel"))?,
        source: row.try_get("source")?,
        external_id: row.try_get("external_id")?,
        received_at: from_ms(row.try_get("received_at")?),
        contact: serde_json::from_str(&contact).map_err(|_| corrupt("contact"))?,
        subject: row.try_get("subject")?,
        text: row.try_get("body")?,
        attachments: serde_json::from_str(&attachments).map_err(|_| corrupt("attachments"))?,
        attributes: serde_json::from_str(&attributes).map_err(|_| corrupt("attributes"))?,
        status: AppealStatus::parse(&status).ok_or_else(|| corrupt("status"))?,
        client_id: row.try_get("client_id")?,
        interest_id: row.try_get("interest_id")?,
        decision: decision
            .map(|d| decode_decision(&d))
            .transpose()
            .map_err(|_| corrupt("decision"))?,
        intent: serde_json::from_str(&intent).map_err(|_| corrupt("intent"))?,
    })
}

/// `appeals.decision` as stored; the one place that writes it.
pub(crate) fn encode_decision(decision: &AppealDecision) -> String {
    decision.to_json()
}

/// `appeals.decision` as stored; the one place that reads it.
fn decode_decision(stored: &str) -> serde_json::Result<AppealDecision> {
    serde_json::from_str(stored)
}

/// Stores one appeal unless (source, external_id) is already there.
pub async fn insert_appeal(conn: &mut AnyConnection, appeal: &NewAppeal) -> Result<AcceptedAppeal> {
    insert_appeal_as(conn, appeal, AppealStatus::Pending, None).await
}

/// Like [`insert_appeal`], with the status it is stored in: a channel that
/// already knows an appeal is not a lead (an auto-reply, a bounce) stores it
/// as `rejected` with the reason in `decision`, so it is kept and counted but
/// the pipeline never takes it.
pub async fn insert_appeal_as(
    conn: &mut AnyConnection,
    appeal: &NewAppeal,
    status: AppealStatus,
    decision: Option<&AppealDecision>,
) -> Result<AcceptedAppeal> {
    let processed_at = (status != AppealStatus::Pending).then(now_ms);
    let inserted: Option<AnyRow> = bind_appeal(sqlx::query(
        "INSERT INTO appeals (channel, source, external_id, received_at, accepted_at, contact, \
         subject, body, attachments, attributes, raw_payload, intent, lead, utm_source, utm_campaign, \
         status, decision, processed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
         ON CONFLICT (source, external_id) DO NOTHING RETURNING id",
        ),
        appeal,
        now_ms(),
    )
    .bind(status.as_str())
    .bind(decision.map(encode_decision))
    .bind(processed_at)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(row) = inserted {
        let id = row.try_get("id")?;
        let event = NewEvent::accepted(id, appeal, status, decision);
        super::events::append(conn, std::slice::from_ref(&event)).await?;
        return Ok(AcceptedAppeal {
            id,
            status,
            created: true,
        });
    }
    let (id, status): (i64, String) =
        sqlx::query_as("SELECT id, status FROM appeals WHERE source = $1 AND external_id = $2")
            .bind(&appeal.source)
            .bind(&appeal.external_id)
            .fetch_one(&mut *conn)
            .await?;
    Ok(AcceptedAppeal {
        id,
        status: AppealStatus::parse(&status)
            .ok_or_else(|| StorageError::Corrupt("appeal status".into()))?,
        created: false,
    })
}

/// Binds an appeal's columns, from `channel` to `utm_campaign` in the order
/// the inserts name them.
fn bind_appeal<'q>(q: AnyQuery<'q>, appeal: &'q NewAppeal, accepted_at: i64) -> AnyQuery<'q> {
    q.bind(appeal.channel.as_str())
        .bind(&appeal.source)
        .bind(&appeal.external_id)
        .bind(to_ms(appeal.received_at))
        .bind(accepted_at)
        .bind(appeal.contact.to_json())
        .bind(appeal.subject.as_deref())
        .bind(appeal.text.as_deref())
        .bind(appeal.attachments.to_json())
        .bind(appeal.attributes.to_json())
        .bind(&appeal.raw_payload)
        .bind(appeal.intent.to_json())
        .bind(i64::from(appeal.counts_as_lead()))
        .bind(appeal.utm("utm_source"))
        .bind(appeal.utm("utm_campaign"))
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Stores many pending appeals in one statement; each comes back as
/// [`insert_appeal`] would return it (a key already stored, or repeated in
/// `batch`, is the stored appeal, not a new one).
async fn insert_pending_appeals(
    conn: &mut AnyConnection,
    backend: super::Backend,
    batch: &[NewAppeal],
) -> Result<Vec<AcceptedAppeal>> {
    let accepted_at = now_ms();
    let sql = format!(
        "INSERT INTO appeals (channel, source, external_id, received_at, accepted_at, contact, \
         subject, body, attachments, attributes, raw_payload, intent, lead, utm_source, utm_campaign, \
         status) VALUES {} \
         ON CONFLICT (source, external_id) DO NOTHING RETURNING id, source, external_id",
        super::placeholders(backend, batch.len(), 16)
    );
    let mut q = sqlx::query(&sql);
    for appeal in batch {
        q = bind_appeal(q, appeal, accepted_at).bind(AppealStatus::Pending.as_str());
    }
    let mut created: std::collections::HashMap<(String, String), i64> = Default::default();
    for row in q.fetch_all(&mut *conn).await? {
        created.insert(
            (row.try_get("source")?, row.try_get("external_id")?),
            row.try_get("id")?,
        );
    }
    let mut out = Vec::with_capacity(batch.len());
    for appeal in batch {
        let key = (appeal.source.clone(), appeal.external_id.clone());
        // The first of repeated keys is the one created; the rest find it.
        match created.remove(&key) {
            Some(id) => out.push(AcceptedAppeal {
                id,
                status: AppealStatus::Pending,
                created: true,
            }),
            None => out.push(insert_appeal(conn, appeal).await?),
        }
    }
    Ok(out)
}

/// Serialising our own domain values cannot fail; this keeps the one place that
/// would otherwise need an `expect`.
mod erased {
    pub trait Json {
        fn to_json(&self) -> String;
    }
    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> String {
            serde_json::to_string(self).unwrap_or_else(|_| "null".into())
        }
    }
}
pub(crate) use erased::Json;

impl Store {
    /// Stores a batch of appeals in one transaction (group commit): one fsync
    /// acknowledges many concurrent posts.
    pub async fn insert_appeals(&self, batch: &[NewAppeal]) -> Result<Vec<AcceptedAppeal>> {
        let mut tx = self.begin_write().await?;
        let mut out = Vec::with_capacity(batch.len());
        // 15 parameters a row; well under either engine's limit per statement.
        for chunk in batch.chunks(1000) {
            out.extend(insert_pending_appeals(tx.conn(), self.backend, chunk).await?);
        }
        let events: Vec<NewEvent> = out
            .iter()
            .zip(batch)
            .filter(|(accepted, _)| accepted.created)
            .map(|(a, appeal)| NewEvent::accepted(a.id, appeal, a.status, None))
            .collect();
        self.append_events(tx.conn(), &events).await?;
        tx.commit().await?;
        Ok(out)
    }

    pub async fn appeal(&self, id: i64) -> Result<Option<Appeal>> {
        let row = sqlx::query(&format!(
            "SELECT {APPEAL_COLUMNS} FROM appeals WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(appeal_from_row).transpose()
    }

    /// The appeal as the transaction on `conn` sees it.
    pub async fn appeal_in(&self, conn: &mut AnyConnection, id: i64) -> Result<Option<Appeal>> {
        let row = sqlx::query(&format!(
            "SELECT {APPEAL_COLUMNS} FROM appeals WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        row.as_ref().map(appeal_from_row).transpose()
    }

    pub async fn raw_payload(&self, id: i64) -> Result<Option<String>> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT raw_payload FROM appeals WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(r,)| r))
    }

    /// Takes up to `limit` pending appeals, oldest first, inside `conn`'s
    /// transaction. On PostgreSQL the rows stay locked until that transaction
    /// ends, and other instances skip them.
    pub async fn claim_pending(
        &self,
        conn: &mut AnyConnection,
        limit: u32,
    ) -> Result<Vec<ClaimedAppeal>> {
        // One statement, set-based: the batch is taken through the partial
        // index `appeals_claim` (the literal `status = 'pending'` is what
        // lets both planners use it), and the prior effect of all its
        // appeals (the first feed entry each made, if any) is read with one
        // join over `feed_entries_appeal`, not two sub-selects per row. The
        // limit is a literal, not a parameter: PostgreSQL's generic plan for
        // a prepared `LIMIT $1` assumes a tenth of the table and then scans
        // all of `appeals` or `feed_entries` to hash-join them (measured:
        // 600 ms against 0.4 ms at 100,000 pending).
        let rows = sqlx::query(&format!(
            "WITH claimed AS (SELECT {APPEAL_COLUMNS} FROM appeals WHERE status = 'pending' \
             ORDER BY id LIMIT {limit}{lock}), \
             prior AS (SELECT f.appeal_id, MIN(f.id) AS feed_id FROM feed_entries f \
             WHERE f.appeal_id IN (SELECT id FROM claimed) \
             AND f.kind IN ('appeal', 'message', 'call') GROUP BY f.appeal_id) \
             SELECT c.*, f.interest_id AS prior_interest, i.client_id AS prior_client \
             FROM claimed c \
             LEFT JOIN prior p ON p.appeal_id = c.id \
             LEFT JOIN feed_entries f ON f.id = p.feed_id \
             LEFT JOIN interests i ON i.id = f.interest_id \
             ORDER BY c.id",
            limit = limit.max(1),
            lock = self.skip_locked()
        ))
        .fetch_all(&mut *conn)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ClaimedAppeal {
                    appeal: appeal_from_row(row)?,
                    accepted_at_ms: row.try_get("accepted_at")?,
                    attempts: row.try_get("attempts")?,
                    prior_effect: match (
                        row.try_get::<Option<i64>, _>("prior_interest")?,
                        row.try_get::<Option<i64>, _>("prior_client")?,
                    ) {
                        (Some(interest), Some(client)) => Some((interest, client)),
                        _ => None,
                    },
                })
            })
            .collect()
    }

    pub async fn finish_appeal(
        &self,
        conn: &mut AnyConnection,
        id: i64,
        status: AppealStatus,
        client_id: Option<i64>,
        interest_id: Option<i64>,
        decision: AppealDecision,
    ) -> Result<()> {
        self.finish_appeals(
            conn,
            &[super::FinishedRow {
                appeal_id: id,
                status,
                client_id,
                interest_id,
                decision,
                processed_at_ms: now_ms(),
            }],
        )
        .await
    }

    /// Records a failed attempt; after `max_attempts` the appeal is parked as
    /// `failed` so that one poisonous appeal cannot stall the queue.
    pub async fn record_failure(
        &self,
        conn: &mut AnyConnection,
        id: i64,
        error: &str,
        give_up: bool,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE appeals SET attempts = attempts + 1, last_error = $1, \
             status = CASE WHEN $2 = 1 THEN 'failed' ELSE status END WHERE id = $3",
        )
        .bind(error)
        .bind(i64::from(give_up))
        .bind(id)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    pub async fn appeal_counts(&self) -> Result<AppealCounts> {
        let (pending,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM appeals WHERE status = 'pending'")
                .fetch_one(&self.pool)
                .await?;
        Ok(AppealCounts { pending })
    }

    /// Whether any appeal is pending: one entry of the claim's partial index.
    pub async fn any_pending(&self) -> Result<bool> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT id FROM appeals WHERE status = 'pending' ORDER BY id LIMIT 1")
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.is_some())
    }

    /// (accepted_at, processed_at) in epoch ms of every processed appeal of
    /// a source, for measuring processing latency from outside.
    pub async fn processing_times(&self, source: &str) -> Result<Vec<(i64, i64)>> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT accepted_at, processed_at FROM appeals \
             WHERE source = $1 AND processed_at IS NOT NULL",
        )
        .bind(source)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// Appeals of an interest, newest first, for its page.
    pub async fn appeals_of_interest(&self, interest_id: i64) -> Result<Vec<Appeal>> {
        let rows = sqlx::query(&format!(
            "SELECT {APPEAL_COLUMNS} FROM appeals WHERE interest_id = $1 ORDER BY id DESC LIMIT 200"
        ))
        .bind(interest_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(appeal_from_row).collect()
    }
}
