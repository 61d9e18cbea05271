//! People who use leadgate: managers declared in the configuration (mirrored
//! into the database so every instance sees the same people) and accounts made
//! with `leadgate user add`. Passwords are stored as argon2 hashes; per-user
//! API tokens as SHA-256 digests.

use std::fmt;
use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use leadgate_domain::org::{DepartmentSettings, ManagerSettings};
use leadgate_domain::role::Role;
pub use leadgate_store::User;
use leadgate_store::{NewUserRow, StorageError, Store, UserInsert};
use rand::RngCore;
use sha2::{Digest, Sha256};

pub async fn sync_from_config(
    store: &Store,
    departments: &[DepartmentSettings],
    managers: &[ManagerSettings],
) -> Result<(), StorageError> {
    store.sync_people(departments, managers).await
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

pub async fn add_user(store: &Store, new: NewUser) -> Result<User, UserError> {
    let hash = hash_password(&new.password)?;
    let name = new
        .display_name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or(new.login.as_str());
    let row = NewUserRow {
        login: new.login.as_str(),
        display_name: name,
        role: new.role,
        department: new.department.as_deref(),
        password_hash: &hash,
    };
    let id = match store.insert_user(&row).await? {
        UserInsert::Created(id) => id,
        UserInsert::LoginTaken => return Err(UserError::Exists(new.login.as_str().to_string())),
        UserInsert::UnknownDepartment => {
            return Err(UserError::UnknownDepartment(
                new.department.unwrap_or_default(),
            ))
        }
    };
    store
        .user_by_id(id)
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
    if !store.set_password_hash(login.as_str(), &hash).await? {
        return Err(UserError::NotFound(login.as_str().to_string()));
    }
    Ok(())
}

/// Turns an account off: its sessions end and its tokens stop working.
pub async fn set_active(store: &Store, login: &Login, active: bool) -> Result<(), UserError> {
    if !store.set_user_active(login.as_str(), active).await? {
        return Err(UserError::NotFound(login.as_str().to_string()));
    }
    Ok(())
}

/// The active user with this login and password. Unknown logins, wrong
/// passwords and disabled accounts all give `None`, after the same work.
pub async fn authenticate(
    store: &Store,
    login: &str,
    password: &str,
) -> Result<Option<User>, StorageError> {
    let (user, hash) = match store.user_and_hash(login.trim()).await? {
        Some((user, hash)) => (Some(user), hash),
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
    let user = store
        .user_by_login(login.as_str())
        .await?
        .ok_or_else(|| UserError::NotFound(login.as_str().to_string()))?;
    let token = format!("lgu_{}", random_token());
    store
        .insert_user_token(user.id, name, &token_digest(&token))
        .await?;
    Ok(token)
}

/// The active user a personal API token belongs to.
pub async fn user_for_token(store: &Store, token: &str) -> Result<Option<User>, StorageError> {
    store.user_for_token_digest(&token_digest(token)).await
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
