//! Which clients, appeals and audit entries a caller may read. A scope is a
//! list of responsible logins (a manager: their own; a head: the department's);
//! a client is in it when its responsible is, or when one of its interests'
//! responsible is; an appeal when the interest it joined is.

use sqlx::Row;

use super::{Result, Store};

/// `$from, $from+1, ...` for `n` parameters; PostgreSQL and SQLite both bind
/// `$n` by first appearance, so a list may be repeated in one statement.
fn list(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|k| format!("${k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Ids of clients in the scope of `logins`, as a sub-select over the list `l`.
fn clients_in(l: &str) -> String {
    format!(
        "SELECT c.id FROM clients c WHERE c.responsible_login IN ({l}) \
         OR c.id IN (SELECT i.client_id FROM interests i WHERE i.responsible_login IN ({l}))"
    )
}

impl Store {
    /// Those of `ids` that are clients in the scope of `logins`.
    pub async fn clients_in_scope(&self, ids: &[i64], logins: &[String]) -> Result<Vec<i64>> {
        if ids.is_empty() || logins.is_empty() {
            return Ok(Vec::new());
        }
        // Ids are integers we hold, never request text: inlined, so the
        // statement binds only the logins.
        let id_list = ids
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let l = list(1, logins.len());
        let sql = format!(
            "SELECT id FROM clients WHERE id IN ({id_list}) AND id IN ({})",
            clients_in(&l)
        );
        let mut query = sqlx::query(&sql);
        for login in logins {
            query = query.bind(login);
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter()
            .map(|row| row.try_get::<i64, _>("id").map_err(Into::into))
            .collect()
    }

    /// The interest's responsible login: `None` when there is no such
    /// interest, `Some(None)` when it has nobody responsible.
    pub async fn interest_responsible(&self, interest_id: i64) -> Result<Option<Option<String>>> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT responsible_login FROM interests WHERE id = $1")
                .bind(interest_id)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(|(login,)| login))
    }

    /// Whether the appeal joined an interest of one of `logins`.
    pub async fn appeal_in_scope(&self, appeal_id: i64, logins: &[String]) -> Result<bool> {
        if logins.is_empty() {
            return Ok(false);
        }
        let sql = format!(
            "SELECT a.id FROM appeals a JOIN interests i ON i.id = a.interest_id \
             WHERE a.id = $1 AND i.responsible_login IN ({})",
            list(2, logins.len())
        );
        let mut query = sqlx::query(&sql).bind(appeal_id);
        for login in logins {
            query = query.bind(login);
        }
        Ok(query.fetch_optional(self.pool()).await?.is_some())
    }

    /// Whether the appeal is one the review queue deals with: it has a review
    /// item (open or decided), or it reached no interest (pending, failed,
    /// spam, rejected).
    pub async fn appeal_in_review_reach(&self, appeal_id: i64) -> Result<bool> {
        let row = sqlx::query(
            "SELECT a.id FROM appeals a WHERE a.id = $1 AND (a.interest_id IS NULL \
             OR EXISTS (SELECT 1 FROM review_items r WHERE r.appeal_id = a.id))",
        )
        .bind(appeal_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.is_some())
    }

    /// The condition on audit entry `a` that one of the records it touched is
    /// in the scope of the logins bound from `$from`.
    pub(crate) fn audit_in_scope(from: usize, n: usize) -> String {
        let l = list(from, n);
        format!(
            "EXISTS (SELECT 1 FROM audit_subjects s WHERE s.audit_id = a.id AND (\
             (s.entity = 'interest' AND s.entity_id IN \
               (SELECT i.id FROM interests i WHERE i.responsible_login IN ({l}))) \
             OR (s.entity = 'client' AND s.entity_id IN ({})) \
             OR (s.entity = 'appeal' AND s.entity_id IN \
               (SELECT ap.id FROM appeals ap JOIN interests i ON i.id = ap.interest_id \
                WHERE i.responsible_login IN ({l})))))",
            clients_in(&l)
        )
    }
}
