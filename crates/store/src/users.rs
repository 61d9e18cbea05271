//! People who log in: the configured managers and departments mirrored into
//! the database, accounts, their password hashes and personal API tokens
//! (stored as digests only).

use leadgate_domain::org::{DepartmentSettings, ManagerSettings};
use leadgate_domain::role::Role;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{now_ms, Result, StorageError, Store};

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

/// An account to create; the password is already hashed.
pub struct NewUserRow<'a> {
    pub login: &'a str,
    pub display_name: &'a str,
    pub role: Role,
    pub department: Option<&'a str>,
    pub password_hash: &'a str,
}

/// What became of an account to create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserInsert {
    Created(i64),
    LoginTaken,
    UnknownDepartment,
}

const USER_COLUMNS: &str =
    "id, login, display_name, role, department_id, active, from_config, password_hash";

fn user_from_row(row: &AnyRow) -> Result<User> {
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

impl Store {
    /// Mirrors the configured departments and managers, so every instance
    /// sees the same people; accounts made by hand are left alone.
    pub async fn sync_people(
        &self,
        departments: &[DepartmentSettings],
        managers: &[ManagerSettings],
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        for d in departments {
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
        for m in managers {
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

    pub async fn insert_user(&self, new: &NewUserRow<'_>) -> Result<UserInsert> {
        let mut tx = self.begin_write().await?;
        if let Some(dept) = new.department {
            let found: Option<(String,)> =
                sqlx::query_as("SELECT id FROM departments WHERE id = $1")
                    .bind(dept)
                    .fetch_optional(tx.conn())
                    .await?;
            if found.is_none() {
                return Ok(UserInsert::UnknownDepartment);
            }
        }
        let inserted: std::result::Result<(i64,), sqlx::Error> = sqlx::query_as(
            "INSERT INTO users (login, display_name, role, department_id, password_hash, from_config, active, created_at) \
             VALUES ($1, $2, $3, $4, $5, 0, 1, $6) RETURNING id",
        )
        .bind(new.login)
        .bind(new.display_name)
        .bind(new.role.as_str())
        .bind(new.department)
        .bind(new.password_hash)
        .bind(now_ms())
        .fetch_one(tx.conn())
        .await;
        let id = match inserted.map_err(StorageError::from) {
            Ok((id,)) => id,
            Err(e) if e.is_unique_violation() => return Ok(UserInsert::LoginTaken),
            Err(e) => return Err(e),
        };
        tx.commit().await?;
        Ok(UserInsert::Created(id))
    }

    /// Replaces the password hash and ends every session opened with the old
    /// password; `false` when there is no such login.
    pub async fn set_password_hash(&self, login: &str, hash: &str) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query("UPDATE users SET password_hash = $1 WHERE login = $2")
            .bind(hash)
            .bind(login)
            .execute(tx.conn())
            .await?
            .rows_affected();
        if changed == 0 {
            return Ok(false);
        }
        end_sessions_of(&mut tx, login).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Turns an account on or off; off ends its sessions. `false` when there
    /// is no such login.
    pub async fn set_user_active(&self, login: &str, active: bool) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query("UPDATE users SET active = $1 WHERE login = $2")
            .bind(i64::from(active))
            .bind(login)
            .execute(tx.conn())
            .await?
            .rows_affected();
        if changed == 0 {
            return Ok(false);
        }
        if !active {
            end_sessions_of(&mut tx, login).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    pub async fn user_by_id(&self, id: i64) -> Result<Option<User>> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    pub async fn user_by_login(&self, login: &str) -> Result<Option<User>> {
        Ok(self.user_and_hash(login).await?.map(|(user, _)| user))
    }

    /// The user with this login and the stored password hash, for a login.
    pub async fn user_and_hash(&self, login: &str) -> Result<Option<(User, Option<String>)>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE login = $1"
        ))
        .bind(login)
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(row) => Ok(Some((
                user_from_row(&row)?,
                row.try_get::<Option<String>, _>("password_hash")?,
            ))),
            None => Ok(None),
        }
    }

    pub async fn list_users(&self) -> Result<Vec<User>> {
        let rows = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY login"))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(user_from_row).collect()
    }

    /// The logins of the departments `head` heads, and of `own` department.
    pub async fn department_logins(&self, head: &str, own: Option<&str>) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT login FROM users WHERE department_id IS NOT NULL AND \
             (department_id IN (SELECT id FROM departments WHERE head_login = $1) \
              OR department_id = $2) ORDER BY login",
        )
        .bind(head)
        .bind(own)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|(l,)| l).collect())
    }

    pub async fn insert_user_token(&self, user_id: i64, name: &str, digest: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO user_tokens (user_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(user_id)
        .bind(name)
        .bind(digest)
        .bind(now_ms())
        .execute(tx.conn())
        .await?;
        tx.commit().await
    }

    /// The active user whose live personal token has this digest.
    pub async fn user_for_token_digest(&self, digest: &str) -> Result<Option<User>> {
        let row = sqlx::query(
            "SELECT u.id, u.login, u.display_name, u.role, u.department_id, u.active, u.from_config, \
             u.password_hash FROM users u JOIN user_tokens t ON t.user_id = u.id \
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.active = 1",
        )
        .bind(digest)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }
}

async fn end_sessions_of(tx: &mut super::WriteTx, login: &str) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE login = $1)")
        .bind(login)
        .execute(tx.conn())
        .await?;
    Ok(())
}

impl Store {
    /// Adds managers an import named that nobody configured (`import
    /// clients --create-managers`): no password, so they cannot log in
    /// until an admin sets one; existing logins are left alone. Returns the
    /// logins actually added.
    pub async fn add_imported_managers(&self, logins: &[String]) -> Result<Vec<String>> {
        let mut tx = self.begin_write().await?;
        let mut added = Vec::new();
        for login in logins {
            let done = sqlx::query(
                "INSERT INTO users (login, display_name, role, from_config, active, created_at) \
                 VALUES ($1, $2, 'manager', 0, 1, $3) ON CONFLICT (login) DO NOTHING",
            )
            .bind(login)
            .bind(login)
            .bind(now_ms())
            .execute(tx.conn())
            .await?
            .rows_affected();
            if done > 0 {
                added.push(login.clone());
            }
        }
        tx.commit().await?;
        Ok(added)
    }

    /// Active logins in the database (configured or added by hand).
    pub async fn active_logins(&self) -> Result<Vec<String>> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT login FROM users WHERE active = 1 ORDER BY login")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|(l,)| l).collect())
    }
}
