//! Managers and departments declared in the configuration, mirrored into the
//! database so that every instance and every query sees the same people.

use crate::settings::Settings;
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
