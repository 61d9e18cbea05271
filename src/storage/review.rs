use sqlx::AnyConnection;

use super::appeals::Json;
use super::{now_ms, Result, Store};

impl Store {
    /// Puts an appeal in the operators' queue; a replayed appeal keeps its one item.
    pub(crate) async fn open_review_item(
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
}
