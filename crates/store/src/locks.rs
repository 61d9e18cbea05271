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
        for id in ids {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(id)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }
}
