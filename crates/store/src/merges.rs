//! Merging two clients that turned out to be one, and undoing it.
//!
//! A merge moves `from`'s contact persons, contact points, interests and
//! appeals to `into` and marks `from.merged_into`. It records every row it
//! moved (and where each pointed before), so undo puts exactly those rows back.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};

use super::appeals::Json;
use super::{from_ms, now_ms, Result, StorageError, Store};

/// What a merge moved: row ids, with the contact person each row pointed to
/// before, where the merge re-pointed it to `into`'s person of the same name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MovedRecords {
    pub persons: Vec<i64>,
    pub points: Vec<(i64, Option<i64>)>,
    pub interests: Vec<(i64, Option<i64>)>,
    pub appeals: Vec<i64>,
    /// Points `into` already had; they stay with `from`, hidden by the merge.
    pub points_left: Vec<i64>,
    /// `from`'s ИНН, when `into` had none and took it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inn: Option<String>,
}

#[derive(Debug, Clone)]
pub struct MergeRecord {
    pub id: i64,
    pub into_id: i64,
    pub from_id: i64,
    pub moved: MovedRecords,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub created_by: String,
    pub undone_at: Option<chrono::DateTime<chrono::Utc>>,
}

fn ids(rows: &[sqlx::any::AnyRow]) -> Result<Vec<(i64, Option<i64>)>> {
    rows.iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("person_id")?)))
        .collect()
}

impl Store {
    /// Moves everything of `from` to `into`; the caller checked both are live
    /// and different, and holds the write transaction.
    pub async fn merge_clients(
        &self,
        conn: &mut AnyConnection,
        into: i64,
        from: i64,
        actor: &str,
    ) -> Result<(i64, MovedRecords)> {
        let now = now_ms();
        let mut moved = MovedRecords::default();
        // A person whose name `into` already has becomes that person; the
        // others move over as they are.
        let mut person_map: HashMap<i64, i64> = HashMap::new();
        let persons =
            sqlx::query("SELECT id, name FROM contact_persons WHERE client_id = $1 ORDER BY id")
                .bind(from)
                .fetch_all(&mut *conn)
                .await?;
        for p in &persons {
            let id: i64 = p.try_get("id")?;
            let name: String = p.try_get("name")?;
            let twin: Option<(i64,)> =
                sqlx::query_as("SELECT id FROM contact_persons WHERE client_id = $1 AND name = $2")
                    .bind(into)
                    .bind(&name)
                    .fetch_optional(&mut *conn)
                    .await?;
            match twin {
                Some((twin,)) => {
                    person_map.insert(id, twin);
                }
                None => {
                    sqlx::query("UPDATE contact_persons SET client_id = $1 WHERE id = $2")
                        .bind(into)
                        .bind(id)
                        .execute(&mut *conn)
                        .await?;
                    moved.persons.push(id);
                }
            }
        }
        let map = |p: Option<i64>| p.map(|p| person_map.get(&p).copied().unwrap_or(p));

        let points = sqlx::query(
            "SELECT id, person_id, kind, value FROM contact_points WHERE client_id = $1 ORDER BY id",
        )
        .bind(from)
        .fetch_all(&mut *conn)
        .await?;
        for p in &points {
            let id: i64 = p.try_get("id")?;
            let person: Option<i64> = p.try_get("person_id")?;
            let kind: String = p.try_get("kind")?;
            let value: String = p.try_get("value")?;
            let taken: Option<(i64,)> = sqlx::query_as(
                "SELECT id FROM contact_points WHERE client_id = $1 AND kind = $2 AND value = $3",
            )
            .bind(into)
            .bind(&kind)
            .bind(&value)
            .fetch_optional(&mut *conn)
            .await?;
            if taken.is_some() {
                moved.points_left.push(id);
                continue;
            }
            sqlx::query("UPDATE contact_points SET client_id = $1, person_id = $2 WHERE id = $3")
                .bind(into)
                .bind(map(person))
                .bind(id)
                .execute(&mut *conn)
                .await?;
            moved.points.push((id, person));
        }

        let interests =
            sqlx::query("SELECT id, person_id FROM interests WHERE client_id = $1 ORDER BY id")
                .bind(from)
                .fetch_all(&mut *conn)
                .await?;
        for (id, person) in ids(&interests)? {
            sqlx::query("UPDATE interests SET client_id = $1, person_id = $2 WHERE id = $3")
                .bind(into)
                .bind(map(person))
                .bind(id)
                .execute(&mut *conn)
                .await?;
            moved.interests.push((id, person));
        }

        let appeals: Vec<(i64,)> =
            sqlx::query_as("SELECT id FROM appeals WHERE client_id = $1 ORDER BY id")
                .bind(from)
                .fetch_all(&mut *conn)
                .await?;
        moved.appeals = appeals.into_iter().map(|(id,)| id).collect();
        sqlx::query("UPDATE appeals SET client_id = $1 WHERE client_id = $2")
            .bind(into)
            .bind(from)
            .execute(&mut *conn)
            .await?;

        // `into` takes the ИНН it lacks; when both have one, `into` keeps
        // its own and `from`'s still finds `into` as a matching key.
        let mut inns: [Option<String>; 2] = [None, None];
        for (slot, id) in inns.iter_mut().zip([into, from]) {
            let (inn,): (Option<String>,) = sqlx::query_as("SELECT inn FROM clients WHERE id = $1")
                .bind(id)
                .fetch_one(&mut *conn)
                .await?;
            *slot = inn;
        }
        if let [None, Some(inn)] = inns {
            sqlx::query("UPDATE clients SET inn = $1 WHERE id = $2")
                .bind(&inn)
                .bind(into)
                .execute(&mut *conn)
                .await?;
            moved.inn = Some(inn);
        }
        sqlx::query("UPDATE clients SET merged_into = $1, updated_at = $2 WHERE id = $3")
            .bind(into)
            .bind(now)
            .bind(from)
            .execute(&mut *conn)
            .await?;
        sqlx::query("UPDATE clients SET updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(into)
            .execute(&mut *conn)
            .await?;
        // The moved persons' names and domains now find `into`.
        self.rewrite_match_keys(conn, into).await?;
        self.rewrite_match_keys(conn, from).await?;
        let (merge_id,): (i64,) = sqlx::query_as(
            "INSERT INTO client_merges (into_id, from_id, moved, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(into)
        .bind(from)
        .bind(moved.to_json())
        .bind(now)
        .bind(actor)
        .fetch_one(&mut *conn)
        .await?;
        Ok((merge_id, moved))
    }

    pub async fn merge_for_update(
        &self,
        conn: &mut AnyConnection,
        id: i64,
    ) -> Result<Option<MergeRecord>> {
        let row = sqlx::query(&format!(
            "SELECT id, into_id, from_id, moved, created_at, created_by, undone_at \
             FROM client_merges WHERE id = $1{}",
            self.for_update()
        ))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let moved: String = row.try_get("moved")?;
        Ok(Some(MergeRecord {
            id: row.try_get("id")?,
            into_id: row.try_get("into_id")?,
            from_id: row.try_get("from_id")?,
            moved: serde_json::from_str(&moved)
                .map_err(|_| StorageError::Corrupt("client_merges.moved".into()))?,
            created_at: from_ms(row.try_get("created_at")?),
            created_by: row.try_get("created_by")?,
            undone_at: row.try_get::<Option<i64>, _>("undone_at")?.map(from_ms),
        }))
    }

    /// Puts back what `merge` moved. What reached `into` since stays there;
    /// where it points at a person that goes back, it gets `into`'s own
    /// person of that name instead.
    pub async fn undo_merge(
        &self,
        conn: &mut AnyConnection,
        merge: &MergeRecord,
        actor: &str,
    ) -> Result<()> {
        let (into, from) = (merge.into_id, merge.from_id);
        let now = now_ms();
        let moved = &merge.moved;
        for (id, person) in &moved.interests {
            sqlx::query("UPDATE interests SET client_id = $1, person_id = $2 WHERE id = $3")
                .bind(from)
                .bind(*person)
                .bind(*id)
                .execute(&mut *conn)
                .await?;
            // Appeals that joined a moved interest after the merge follow it.
            sqlx::query("UPDATE appeals SET client_id = $1 WHERE interest_id = $2")
                .bind(from)
                .bind(*id)
                .execute(&mut *conn)
                .await?;
        }
        for id in &moved.appeals {
            sqlx::query("UPDATE appeals SET client_id = $1 WHERE id = $2 AND client_id = $3")
                .bind(from)
                .bind(*id)
                .bind(into)
                .execute(&mut *conn)
                .await?;
        }
        for (id, person) in &moved.points {
            sqlx::query("UPDATE contact_points SET client_id = $1, person_id = $2 WHERE id = $3")
                .bind(from)
                .bind(*person)
                .bind(*id)
                .execute(&mut *conn)
                .await?;
        }
        for id in &moved.persons {
            sqlx::query("UPDATE contact_persons SET client_id = $1 WHERE id = $2")
                .bind(from)
                .bind(*id)
                .execute(&mut *conn)
                .await?;
            let still_used: Vec<(String,)> = sqlx::query_as(
                "SELECT 'point' FROM contact_points WHERE client_id = $1 AND person_id = $2 \
                 UNION ALL SELECT 'interest' FROM interests WHERE client_id = $1 AND person_id = $2",
            )
            .bind(into)
            .bind(*id)
            .fetch_all(&mut *conn)
            .await?;
            if still_used.is_empty() {
                continue;
            }
            let (name,): (String,) =
                sqlx::query_as("SELECT name FROM contact_persons WHERE id = $1")
                    .bind(*id)
                    .fetch_one(&mut *conn)
                    .await?;
            let own = self.ensure_person(conn, into, &name).await?;
            for table in ["contact_points", "interests"] {
                sqlx::query(&format!(
                    "UPDATE {table} SET person_id = $1 WHERE client_id = $2 AND person_id = $3"
                ))
                .bind(own)
                .bind(into)
                .bind(*id)
                .execute(&mut *conn)
                .await?;
            }
        }
        sqlx::query("UPDATE clients SET merged_into = NULL, updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(from)
            .execute(&mut *conn)
            .await?;
        if let Some(inn) = &moved.inn {
            // Unless someone has set another since.
            sqlx::query("UPDATE clients SET inn = NULL WHERE id = $1 AND inn = $2")
                .bind(into)
                .bind(inn)
                .execute(&mut *conn)
                .await?;
        }
        self.rewrite_match_keys(conn, into).await?;
        self.rewrite_match_keys(conn, from).await?;
        sqlx::query("UPDATE client_merges SET undone_at = $1, undone_by = $2 WHERE id = $3")
            .bind(now)
            .bind(actor)
            .bind(merge.id)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}

impl Store {
    /// A client as the transaction on `conn` sees it, for audit records.
    pub async fn client_snapshot(
        &self,
        conn: &mut AnyConnection,
        id: i64,
    ) -> Result<serde_json::Value> {
        let row = sqlx::query("SELECT name, inn, merged_into FROM clients WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
        let Some(row) = row else {
            return Ok(serde_json::Value::Null);
        };
        let persons: Vec<(i64, String)> =
            sqlx::query_as("SELECT id, name FROM contact_persons WHERE client_id = $1 ORDER BY id")
                .bind(id)
                .fetch_all(&mut *conn)
                .await?;
        let interests: Vec<(i64,)> =
            sqlx::query_as("SELECT id FROM interests WHERE client_id = $1 ORDER BY id")
                .bind(id)
                .fetch_all(&mut *conn)
                .await?;
        let appeals: Vec<(i64,)> =
            sqlx::query_as("SELECT id FROM appeals WHERE client_id = $1 ORDER BY id")
                .bind(id)
                .fetch_all(&mut *conn)
                .await?;
        Ok(serde_json::json!({
            "id": id,
            "name": row.try_get::<String, _>("name")?,
            "inn": row.try_get::<Option<String>, _>("inn")?,
            "merged_into": row.try_get::<Option<i64>, _>("merged_into")?,
            "contact_persons": persons.into_iter().map(|(id, name)| serde_json::json!({"id": id, "name": name})).collect::<Vec<_>>(),
            "contact_points": self.client_point_keys(conn, id).await?,
            "interests": interests.into_iter().map(|(i,)| i).collect::<Vec<_>>(),
            "appeals": appeals.into_iter().map(|(i,)| i).collect::<Vec<_>>(),
        }))
    }
}
