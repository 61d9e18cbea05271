use sqlx::{AnyConnection, Row};

use super::appeals::Json;
use super::{from_ms, now_ms, Result, StorageError, Store};
use leadgate_domain::appeal::ContactKind;

/// An item of the operators' queue as stored.
#[derive(Debug, Clone)]
pub struct ReviewRow {
    pub id: i64,
    pub appeal_id: i64,
    /// Client ids as the matcher named them; some may have been merged since.
    pub candidates: Vec<i64>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub decided_at: Option<chrono::DateTime<chrono::Utc>>,
}

fn review_from_row(row: &sqlx::any::AnyRow) -> Result<ReviewRow> {
    let candidates: String = row.try_get("candidates")?;
    Ok(ReviewRow {
        id: row.try_get("id")?,
        appeal_id: row.try_get("appeal_id")?,
        candidates: serde_json::from_str(&candidates)
            .map_err(|_| StorageError::Corrupt("review item candidates".into()))?,
        created_at: from_ms(row.try_get("created_at")?),
        decided_at: row.try_get::<Option<i64>, _>("decided_at")?.map(from_ms),
    })
}

const REVIEW_COLUMNS: &str = "id, appeal_id, candidates, created_at, decided_at";

impl Store {
    /// Puts an appeal in the operators' queue; a replayed appeal keeps its one item.
    pub async fn open_review_item(
        &self,
        conn: &mut AnyConnection,
        appeal_id: i64,
        candidates: &[i64],
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO review_items (appeal_id, candidates, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (appeal_id) DO NOTHING",
        )
        .bind(appeal_id)
        .bind(candidates.to_json())
        .bind(now_ms())
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    pub async fn open_review_count(&self) -> Result<i64> {
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM review_items WHERE decided_at IS NULL")
                .fetch_one(&self.pool)
                .await?;
        Ok(n)
    }

    /// Undecided items, oldest first.
    pub async fn open_review_items(&self, limit: i64) -> Result<Vec<ReviewRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {REVIEW_COLUMNS} FROM review_items WHERE decided_at IS NULL \
             ORDER BY created_at, id LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(review_from_row).collect()
    }

    pub async fn review_item(&self, id: i64) -> Result<Option<ReviewRow>> {
        let row = sqlx::query(&format!(
            "SELECT {REVIEW_COLUMNS} FROM review_items WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(review_from_row).transpose()
    }

    /// The item, locked until the transaction ends, so that two operators
    /// deciding the same item at once are serialised and the second one sees
    /// it decided.
    pub async fn review_item_for_decision(
        &self,
        conn: &mut AnyConnection,
        id: i64,
    ) -> Result<Option<ReviewRow>> {
        let row = sqlx::query(&format!(
            "SELECT {REVIEW_COLUMNS} FROM review_items WHERE id = $1{}",
            self.for_update()
        ))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        row.as_ref().map(review_from_row).transpose()
    }

    pub async fn close_review_item(
        &self,
        conn: &mut AnyConnection,
        id: i64,
        decided_by: &str,
        decision: &serde_json::Value,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE review_items SET decided_at = $1, decided_by = $2, decision = $3, \
             decided_action = $4 WHERE id = $5",
        )
        .bind(now_ms())
        .bind(decided_by)
        .bind(decision.to_json())
        .bind(decision.get("action").and_then(|a| a.as_str()))
        .bind(id)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// `None` if there is no such client, else where it was merged, if it was.
    pub async fn client_merged_into(
        &self,
        conn: &mut AnyConnection,
        id: i64,
    ) -> Result<Option<Option<i64>>> {
        let row: Option<(Option<i64>,)> =
            sqlx::query_as("SELECT merged_into FROM clients WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
        Ok(row.map(|(m,)| m))
    }

    /// The client that `id` ended up in after any merges (itself if none).
    pub async fn live_client_id(&self, id: i64) -> Result<Option<i64>> {
        let mut conn = self.pool.acquire().await?;
        let mut current = id;
        // A chain longer than this would mean a cycle, which merges never make.
        for _ in 0..32 {
            match self.client_merged_into(&mut conn, current).await? {
                None => return Ok(None),
                Some(None) => return Ok(Some(current)),
                Some(Some(next)) => current = next,
            }
        }
        Err(StorageError::Corrupt(format!(
            "client {id}: merge chain too long"
        )))
    }

    pub async fn person_belongs_to(
        &self,
        conn: &mut AnyConnection,
        person_id: i64,
        client_id: i64,
    ) -> Result<bool> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT id FROM contact_persons WHERE id = $1 AND client_id = $2")
                .bind(person_id)
                .bind(client_id)
                .fetch_optional(&mut *conn)
                .await?;
        Ok(row.is_some())
    }

    /// The client's contact points as `kind:value`, for audit records.
    pub async fn client_point_keys(
        &self,
        conn: &mut AnyConnection,
        client_id: i64,
    ) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT kind, value FROM contact_points WHERE client_id = $1 ORDER BY kind, value",
        )
        .bind(client_id)
        .fetch_all(&mut *conn)
        .await?;
        rows.iter()
            .map(|r| {
                let kind: String = r.try_get("kind")?;
                let value: String = r.try_get("value")?;
                Ok(format!(
                    "{}:{value}",
                    ContactKind::parse(&kind).map(|k| k.as_str()).unwrap_or("?")
                ))
            })
            .collect()
    }
}
