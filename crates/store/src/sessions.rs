//! Browser sessions, kept in the database so that every instance behind a
//! balancer knows every login.

use sqlx::Row;

use super::{now_ms, Result, StorageError, Store};
use leadgate_domain::role::Role;

/// The user a live session belongs to, with the session's CSRF token.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub user_id: i64,
    pub login: String,
    pub display_name: String,
    pub role: Role,
    pub department: Option<String>,
    pub csrf_token: String,
    pub expires_at: i64,
}

impl Store {
    /// Stores a session under the digest of its cookie value; expired
    /// sessions are cleared on the way.
    pub async fn create_session(
        &self,
        id_hash: &str,
        user_id: i64,
        csrf_token: &str,
        expires_at: i64,
    ) -> Result<()> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(tx.conn())
            .await?;
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id_hash)
        .bind(user_id)
        .bind(csrf_token)
        .bind(now)
        .bind(expires_at)
        .bind(now)
        .execute(tx.conn())
        .await?;
        tx.commit().await
    }

    /// The session's user, if the session exists, has neither expired nor
    /// been idle for `idle_ms`, and the account is still active. Use keeps
    /// it alive: its last-seen time is moved on (at most once a minute, so
    /// page views do not each cost a write).
    pub async fn session_user(&self, id_hash: &str, idle_ms: i64) -> Result<Option<SessionUser>> {
        let now = now_ms();
        let row = sqlx::query(
            "SELECT u.id, u.login, u.display_name, u.role, u.department_id, s.csrf_token, s.expires_at, \
             s.last_seen_at \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.id_hash = $1 AND s.expires_at > $2 AND s.last_seen_at > $3 AND u.active = 1",
        )
        .bind(id_hash)
        .bind(now)
        .bind(now.saturating_sub(idle_ms))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let last_seen: i64 = row.try_get("last_seen_at")?;
        if now.saturating_sub(last_seen) > 60_000 {
            let mut tx = self.begin_write().await?;
            sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
                .bind(now)
                .bind(id_hash)
                .execute(tx.conn())
                .await?;
            tx.commit().await?;
        }
        let role: String = row.try_get("role")?;
        Ok(Some(SessionUser {
            user_id: row.try_get("id")?,
            login: row.try_get("login")?,
            display_name: row.try_get("display_name")?,
            role: Role::parse(&role)
                .ok_or_else(|| StorageError::Corrupt(format!("user role `{role}`")))?,
            department: row.try_get("department_id")?,
            csrf_token: row.try_get("csrf_token")?,
            expires_at: row.try_get("expires_at")?,
        }))
    }

    pub async fn delete_session(&self, id_hash: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(tx.conn())
            .await?;
        tx.commit().await
    }
}
