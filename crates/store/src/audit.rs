//! The audit trail: who changed what, when, with the record before and after.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{AnyConnection, Row};
use utoipa::ToSchema;

use super::appeals::Json;
use super::{from_ms, now_ms, Result, StorageError, Store};

/// One action to record. `subjects` names every record it touched besides
/// `(entity, entity_id)`, so each of them finds the action in its history.
#[derive(Debug, Clone)]
pub struct NewAuditEntry<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub entity: &'a str,
    pub entity_id: i64,
    pub before: serde_json::Value,
    pub after: serde_json::Value,
    pub subjects: Vec<(&'a str, i64)>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub entity: String,
    pub entity_id: i64,
    #[schema(value_type = Object)]
    pub before: serde_json::Value,
    #[schema(value_type = Object)]
    pub after: serde_json::Value,
}

impl Store {
    /// Written in the caller's transaction: the change and its record commit together.
    pub async fn record_audit(
        &self,
        conn: &mut AnyConnection,
        entry: &NewAuditEntry<'_>,
    ) -> Result<i64> {
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO audit_log (at, actor, action, entity, entity_id, before_json, after_json) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(now_ms())
        .bind(entry.actor)
        .bind(entry.action)
        .bind(entry.entity)
        .bind(entry.entity_id)
        .bind(entry.before.to_json())
        .bind(entry.after.to_json())
        .fetch_one(&mut *conn)
        .await?;
        let mut subjects = entry.subjects.clone();
        subjects.push((entry.entity, entry.entity_id));
        subjects.sort_unstable();
        subjects.dedup();
        for (entity, entity_id) in subjects {
            sqlx::query(
                "INSERT INTO audit_subjects (audit_id, entity, entity_id) VALUES ($1, $2, $3)",
            )
            .bind(id)
            .bind(entity)
            .bind(entity_id)
            .execute(&mut *conn)
            .await?;
        }
        Ok(id)
    }

    /// Newest first; filtered by a record (`entity` and optionally its id),
    /// and, with `scope`, to entries that touched a record in the scope of
    /// those responsible logins.
    pub async fn audit_entries(
        &self,
        entity: Option<&str>,
        entity_id: Option<i64>,
        scope: Option<&[String]>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>> {
        const COLUMNS: &str =
            "a.id, a.at, a.actor, a.action, a.entity, a.entity_id, a.before_json, a.after_json";
        if scope.is_some_and(|logins| logins.is_empty()) {
            return Ok(Vec::new());
        }
        let mut conditions = Vec::new();
        let mut next = 1;
        match (entity, entity_id) {
            (Some(_), Some(_)) => {
                conditions.push(
                    "a.id IN (SELECT audit_id FROM audit_subjects WHERE entity = $1 AND entity_id = $2)"
                        .to_owned(),
                );
                next = 3;
            }
            (Some(_), None) => {
                conditions.push(
                    "a.id IN (SELECT audit_id FROM audit_subjects WHERE entity = $1)".to_owned(),
                );
                next = 2;
            }
            (None, Some(_)) => {
                // Every kind is named so that the (entity, entity_id) index serves it.
                conditions.push(
                    "a.id IN (SELECT audit_id FROM audit_subjects WHERE entity IN \
                     ('review_item', 'appeal', 'client', 'interest', 'merge') AND entity_id = $1)"
                        .to_owned(),
                );
                next = 2;
            }
            (None, None) => {}
        }
        if let Some(logins) = scope {
            conditions.push(Store::audit_in_scope(next, logins.len()));
            next += logins.len();
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let sql =
            format!("SELECT {COLUMNS} FROM audit_log a {filter} ORDER BY a.id DESC LIMIT ${next}");
        let mut query = sqlx::query(&sql);
        if let Some(entity) = entity {
            query = query.bind(entity);
        }
        if let Some(id) = entity_id {
            query = query.bind(id);
        }
        for login in scope.unwrap_or_default() {
            query = query.bind(login);
        }
        let rows = query.bind(limit).fetch_all(&self.pool).await?;
        let json = |row: &sqlx::any::AnyRow, col: &str| -> Result<serde_json::Value> {
            let text: Option<String> = row.try_get(col)?;
            text.map(|t| serde_json::from_str(&t))
                .transpose()
                .map(Option::unwrap_or_default)
                .map_err(|_| StorageError::Corrupt(format!("audit column {col}")))
        };
        rows.iter()
            .map(|row| {
                Ok(AuditEntry {
                    id: row.try_get("id")?,
                    at: from_ms(row.try_get("at")?),
                    actor: row.try_get("actor")?,
                    action: row.try_get("action")?,
                    entity: row.try_get("entity")?,
                    entity_id: row.try_get("entity_id")?,
                    before: json(row, "before_json")?,
                    after: json(row, "after_json")?,
                })
            })
            .collect()
    }
}
