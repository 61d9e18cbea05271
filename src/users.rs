//! People who use leadgate: managers declared in the configuration (mirrored
//! into the database so every instance sees the same people) and accounts made
//! with `leadgate user add`. Passwords are stored as argon2 hashes; per-user
//! API tokens as SHA-256 digests.

use std::fmt;
use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::settings::{Role, Settings};
use crate::storage::{now_ms, StorageError, Store};

pub async fn sync_from_config(store: &Store, settings: &Settings) -> Result<(), StorageError> {
    let mut tx = store.begin_write().await?;
    for d in &settings.departments {
        sqlx::query(
            "INSERT INTO departments (id, name, head_login) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, head_login = excluded.head_login",
        )
        .bind(&d.id)
        .bind(&d.name)
        .bind(d.head.as_deref())
        .execute(tx.conn())
        .await?;
    }
    for m in &settings.managers {
        sqlx::query(
            "INSERT INTO users (login, display_name, role, department_id, email, pbx_user, from_config, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 1, $7) \
             ON CONFLICT (login) DO UPDATE SET display_name = excluded.display_name, role = excluded.role, \
             department_id = excluded.department_id, email = excluded.email, pbx_user = excluded.pbx_user, \
             from_config = 1",
        )
        .bind(&m.login)
        .bind(&m.name)
        .bind(m.role.as_str())
        .bind(m.department.as_deref())
        .bind(m.email.as_deref())
        .bind(m.pbx_user.as_deref())
        .bind(now_ms())
        .execute(tx.conn())
        .await?;
    }
    tx.commit().await
}

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("login: {0}")]
    InvalidLogin(&'static str),
    #[error("password: {0}")]
    WeakPassword(&'static str),
    #[error("user `{0}` already exists")]
    Exists(String),
    #[error("no user `{0}`")]
    NotFound(String),
    #[error("no department `{0}`")]
    UnknownDepartment(String),
    #[error("cannot hash the password: {0}")]
    Hash(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A login: 1–64 characters of latin letters, digits, `.`, `_`, `-`, `@`, so it
/// can appear in URLs, logs and audit records without quoting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login(String);

impl Login {
    pub fn parse(raw: &str) -> Result<Login, UserError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(UserError::InvalidLogin("must not be empty"));
        }
        if s.len() > 64 {
            return Err(UserError::InvalidLogin("must be at most 64 characters"));
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
        {
            return Err(UserError::InvalidLogin(
                "only latin letters, digits and . _ - @ are allowed",
            ));
        }
        Ok(Login(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password that passed the minimum rules; never printed.
pub struct Password(String);

impl Password {
    pub const MIN_LEN: usize = 8;

    pub fn parse(raw: &str) -> Result<Password, UserError> {
        if raw.chars().count() < Self::MIN_LEN {
            return Err(UserError::WeakPassword("must be at least 8 characters"));
        }
        if raw.len() > 1024 {
            return Err(UserError::WeakPassword("must be at most 1024 bytes"));
        }
        Ok(Password(raw.to_string()))
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub login: String,
    pub display_name: String,
    pub role: Role,
    pub department: Option<String>,
    pub active: bool,
    pub from_config: bool,
    pub has_password: bool,
}

#[derive(Debug)]
pub struct NewUser {
    pub login: Login,
    pub display_name: Option<String>,
    pub role: Role,
    pub department: Option<String>,
    pub password: Password,
}

pub fn hash_password(password: &Password) -> Result<String, UserError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.0.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| UserError::Hash(e.to_string()))
}

fn verify_password(stored: &str, presented: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(hash) => Argon2::default()
            .verify_password(presented.as_bytes(), &hash)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash that matches nothing, checked when the login is unknown so that the
/// answer takes as long as for a known login with a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(b"decoy password nobody has", &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

const USER_COLUMNS: &str =
    "id, login, display_name, role, department_id, active, from_config, password_hash";

fn user_from_row(row: &AnyRow) -> Result<User, StorageError> {
    let role: String = row.try_get("role")?;
    let hash: Option<String> = row.try_get("password_hash")?;
    Ok(User {
        id: row.try_get("id")?,
        login: row.try_get("login")?,
        display_name: row.try_get("display_name")?,
        role: Role::parse(&role)
            .ok_or_else(|| StorageError::Corrupt(format!("user role `{role}`")))?,
        department: row.try_get("department_id")?,
        active: row.try_get::<i64, _>("active")? != 0,
        from_config: row.try_get::<i64, _>("from_config")? != 0,
        has_password: hash.is_some(),
    })
}

pub async fn add_user(store: &Store, new: NewUser) -> Result<User, UserError> {
    let hash = hash_password(&new.password)?;
    let mut tx = store.begin_write().await?;
    if let Some(dept) = &new.department {
        let found: Option<(String,)> = sqlx::query_as("SELECT id FROM departments WHERE id = $1")
            .bind(dept)
            .fetch_optional(tx.conn())
            .await
            .map_err(StorageError::from)?;
        if found.is_none() {
            return Err(UserError::UnknownDepartment(dept.clone()));
        }
    }
    let name = new
        .display_name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or(new.login.as_str());
    let inserted: Result<(i64,), sqlx::Error> = sqlx::query_as(
        "INSERT INTO users (login, display_name, role, department_id, password_hash, from_config, active, created_at) \
         VALUES ($1, $2, $3, $4, $5, 0, 1, $6) RETURNING id",
    )
    .bind(new.login.as_str())
    .bind(name)
    .bind(new.role.as_str())
    .bind(new.department.as_deref())
    .bind(&hash)
    .bind(now_ms())
    .fetch_one(tx.conn())
    .await;
    let id = match inserted.map_err(StorageError::from) {
        Ok((id,)) => id,
        Err(e) if e.is_unique_violation() => {
            return Err(UserError::Exists(new.login.as_str().to_string()))
        }
        Err(e) => return Err(e.into()),
    };
    tx.commit().await?;
    user_by_id(store, id)
        .await?
        .ok_or(UserError::NotFound(new.login.0))
}

/// Sets (or replaces) the password of any user, including managers from the
/// configuration, who have none until an administrator gives them one.
pub async fn set_password(
    store: &Store,
    login: &Login,
    password: &Password,
) -> Result<(), UserError> {
    let hash = hash_password(password)?;
    let mut tx = store.begin_write().await?;
    let changed = sqlx::query("UPDATE users SET password_hash = $1 WHERE login = $2")
        .bind(&hash)
        .bind(login.as_str())
        .execute(tx.conn())
        .await
        .map_err(StorageError::from)?
        .rows_affected();
    if changed == 0 {
        return Err(UserError::NotFound(login.as_str().to_string()));
    }
    // A new password ends every session opened with the old one.
    sqlx::query("DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE login = $1)")
        .bind(login.as_str())
        .execute(tx.conn())
        .await
        .map_err(StorageError::from)?;
    tx.commit().await?;
    Ok(())
}

/// Turns an account off: its sessions end and its tokens stop working.
pub async fn set_active(store: &Store, login: &Login, active: bool) -> Result<(), UserError> {
    let mut tx = store.begin_write().await?;
    let changed = sqlx::query("UPDATE users SET active = $1 WHERE login = $2")
        .bind(i64::from(active))
        .bind(login.as_str())
        .execute(tx.conn())
        .await
        .map_err(StorageError::from)?
        .rows_affected();
    if changed == 0 {
        return Err(UserError::NotFound(login.as_str().to_string()));
    }
    if !active {
        sqlx::query(
            "DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE login = $1)",
        )
        .bind(login.as_str())
        .execute(tx.conn())
        .await
        .map_err(StorageError::from)?;
    }
    tx.commit().await?;
    Ok(())
}

pub async fn user_by_id(store: &Store, id: i64) -> Result<Option<User>, StorageError> {
    let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(store.pool())
        .await?;
    row.as_ref().map(user_from_row).transpose()
}

pub async fn user_by_login(store: &Store, login: &str) -> Result<Option<User>, StorageError> {
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE login = $1"
    ))
    .bind(login)
    .fetch_optional(store.pool())
    .await?;
    row.as_ref().map(user_from_row).transpose()
}

pub async fn list_users(store: &Store) -> Result<Vec<User>, StorageError> {
    let rows = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY login"))
        .fetch_all(store.pool())
        .await?;
    rows.iter().map(user_from_row).collect()
}

/// The active user with this login and password. Unknown logins, wrong
/// passwords and disabled accounts all give `None`, after the same work.
pub async fn authenticate(
    store: &Store,
    login: &str,
    password: &str,
) -> Result<Option<User>, StorageError> {
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE login = $1"
    ))
    .bind(login.trim())
    .fetch_optional(store.pool())
    .await?;
    let (user, hash) = match &row {
        Some(row) => (
            Some(user_from_row(row)?),
            row.try_get::<Option<String>, _>("password_hash")?,
        ),
        None => (None, None),
    };
    let stored = hash.unwrap_or_else(|| decoy_hash().to_string());
    let presented = password.to_string();
    // argon2 takes tens of milliseconds of CPU: keep it off the async workers.
    let ok = tokio::task::spawn_blocking(move || verify_password(&stored, &presented))
        .await
        .unwrap_or(false);
    Ok(user.filter(|u| ok && u.active && u.has_password))
}

/// 32 random bytes, URL-safe: session cookies, CSRF and API tokens.
pub fn random_token() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// How secrets we hand out are stored: a lookup needs no secret comparison
/// in the database, and a leaked table gives nothing usable.
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Issues a personal API token for `login`; only its digest is kept, so the
/// returned value is shown once.
pub async fn issue_token(store: &Store, login: &Login, name: &str) -> Result<String, UserError> {
    let user = user_by_login(store, login.as_str())
        .await?
        .ok_or_else(|| UserError::NotFound(login.as_str().to_string()))?;
    let token = format!("lgu_{}", random_token());
    let mut tx = store.begin_write().await?;
    sqlx::query(
        "INSERT INTO user_tokens (user_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(user.id)
    .bind(name)
    .bind(token_digest(&token))
    .bind(now_ms())
    .execute(tx.conn())
    .await
    .map_err(StorageError::from)?;
    tx.commit().await?;
    Ok(token)
}

/// The active user a personal API token belongs to.
pub async fn user_for_token(store: &Store, token: &str) -> Result<Option<User>, StorageError> {
    let row = sqlx::query(
        "SELECT u.id, u.login, u.display_name, u.role, u.department_id, u.active, u.from_config, \
         u.password_hash FROM users u JOIN user_tokens t ON t.user_id = u.id \
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.active = 1",
    )
    .bind(token_digest(token))
    .fetch_optional(store.pool())
    .await?;
    row.as_ref().map(user_from_row).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_are_plain_words() {
        assert!(Login::parse("op.ivanova-2@x").is_ok());
        assert!(Login::parse("").is_err());
        assert!(Login::parse("иванова").is_err());
        assert!(Login::parse("a b").is_err());
        assert!(Login::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn short_passwords_are_refused_and_never_printed() {
        assert!(Password::parse("1234567").is_err());
        let p = Password::parse("correct horse").unwrap();
        assert_eq!(format!("{p:?}"), "Password(***)");
    }

    #[test]
    fn a_hash_verifies_only_its_password() {
        let p = Password::parse("correct horse").unwrap();
        let h = hash_password(&p).unwrap();
        assert!(h.starts_with("$argon2"));
        assert!(verify_password(&h, "correct horse"));
        assert!(!verify_password(&h, "correct horsE"));
        assert!(!verify_password("garbage", "correct horse"));
    }
}
