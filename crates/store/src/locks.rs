//! Locks that serialise work across instances sharing one PostgreSQL database.

use leadgate_domain::appeal::ContactKey;
use sha2::{Digest, Sha256};
use sqlx::AnyConnection;

use super::{Result, Store};

impl Store {
    /// Serialises appeals that share a contact key across instances for the rest
    /// of the transaction, so two instances never both create a client for the
    /// same new person. Locks are taken in one order to rule out deadlocks.
    pub async fn lock_keys<'a>(
        conn: &mut AnyConnection,
        keys: impl Iterator<Item = &'a ContactKey>,
    ) -> Result<()> {
        let mut ids: Vec<i64> = keys
            .map(|k| {
                let digest = Sha256::digest(format!("{}:{}", k.kind.as_str(), k.value).as_bytes());
                let mut bytes = [0u8; 8];
                bytes.copy_from_slice(&digest[..8]);
                i64::from_be_bytes(bytes)
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(());
        }
        // One round trip for the whole batch (it was one per key), in the
        // order given: the ordinality sort runs before the locks are taken.
        let list = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into());
        sqlx::query(
            "SELECT COUNT(*) FROM (SELECT pg_advisory_xact_lock(k.key) FROM \
             (SELECT t.value::bigint AS key FROM json_array_elements_text($1::json) \
              WITH ORDINALITY AS t(value, n) ORDER BY t.n OFFSET 0) k) taken",
        )
        .bind(list)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}
