//! Blocking keys in the database: lookup for the matcher, and the writes that
//! keep `match_keys` in step with clients, persons and contact points.

use std::collections::BTreeSet;

use sqlx::{AnyConnection, Row};

use super::{param, param_list, Backend, Result, StorageError, Store};
use leadgate_domain::appeal::ContactKey;
use leadgate_domain::client::ClientKind;
use leadgate_domain::dedup::keys::{company_name_key, person_name_keys, point_domains};
use leadgate_domain::dedup::{BlockingKey, KeyHit, KeyHits, MatchField, StoredPerson};

/// Persons compared per shortlisted client; a company with more contact
/// persons is compared on its first ones.
const MAX_PERSONS: i64 = 100;

/// Clients whose keys the start-up backfill writes per transaction.
const BACKFILL_CHUNK: i64 = 2000;

/// One derived key row: (kind, value, client, person or 0).
pub type KeyRow = (&'static str, String, i64, i64);

impl Store {
    /// Every client carrying each key, at most `cap` (or a mark that the key
    /// is crowded), in one round trip per thousand keys: a batch of appeals
    /// looks its keys up together. Clients merged into another are still
    /// here (the lookup stays an index range scan, no join); the shortlist
    /// drops them.
    pub async fn lookup_keys(
        &self,
        conn: &mut AnyConnection,
        keys: &[BlockingKey],
        cap: usize,
    ) -> Result<Vec<KeyHits>> {
        const KEYS_PER_STATEMENT: usize = 1000;
        let mut out: Vec<KeyHits> = keys
            .iter()
            .map(|k| KeyHits {
                key: k.clone(),
                hits: Vec::new(),
                crowded: false,
            })
            .collect();
        for (chunk_no, chunk) in keys.chunks(KEYS_PER_STATEMENT).enumerate() {
            let base = chunk_no * KEYS_PER_STATEMENT;
            let rows = self.lookup_chunk(conn, chunk, cap).await?;
            for row in rows {
                let k: i64 = row.try_get("k")?;
                let slot = usize::try_from(k)
                    .ok()
                    .and_then(|k| out.get_mut(base + k))
                    .ok_or_else(|| StorageError::Corrupt("key lookup index".into()))?;
                // A crowded key comes back as one row without a client.
                let Some(client_id) = row.try_get::<Option<i64>, _>("client_id")? else {
                    slot.crowded = true;
                    slot.hits.clear();
                    continue;
                };
                let person: Option<i64> = row.try_get("person_id")?;
                slot.hits.push(KeyHit {
                    client_id,
                    person_id: person.filter(|p| *p != 0),
                });
            }
        }
        Ok(out)
    }

    async fn lookup_chunk(
        &self,
        conn: &mut AnyConnection,
        keys: &[BlockingKey],
        cap: usize,
    ) -> Result<Vec<sqlx::any::AnyRow>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        // Contact points and derived keys live in two tables; each gets its
        // own list of (index, kind, value).
        let in_points = |k: &BlockingKey| k.field.contact_kind().is_some();
        let mut sql = String::with_capacity(keys.len() * 24 + 1200);
        let mut ctes = Vec::new();
        let mut selects = Vec::new();
        let mut n = 0;
        let mut order: Vec<&BlockingKey> = Vec::with_capacity(keys.len());
        for (list, table, points) in [("qp", "contact_points", true), ("qm", "match_keys", false)] {
            let rows: Vec<String> = keys
                .iter()
                .enumerate()
                .filter(|(_, k)| in_points(k) == points)
                .map(|(i, k)| {
                    order.push(k);
                    n += 2;
                    format!(
                        "(CAST({i} AS BIGINT), {}, {})",
                        param(self.backend, n - 1),
                        param(self.backend, n)
                    )
                })
                .collect();
            if rows.is_empty() {
                continue;
            }
            ctes.push(format!(
                "{list}(k, kind, value) AS (VALUES {})",
                rows.join(",")
            ));
            // A crowded key sends back one row that says so, not its crowd:
            // rows cost far more on the way to us than inside the engine,
            // and the test reads at most `cap + 1` index entries. The table
            // and the cap are text we choose, never input.
            let crowded = format!(
                "EXISTS (SELECT 1 FROM {table} o WHERE o.kind = q.kind AND o.value = q.value \
                 LIMIT 1 OFFSET {cap})"
            );
            // PostgreSQL, seeing hundreds of keys, would rather hash-join a
            // scan of the whole table; LATERAL keeps it to one index range
            // per key. SQLite has no LATERAL and loops over the keys anyway.
            let carriers = match self.backend {
                Backend::Sqlite => {
                    format!("{list} q JOIN {table} t ON t.kind = q.kind AND t.value = q.value")
                }
                Backend::Postgres => format!(
                    "{list} q CROSS JOIN LATERAL (SELECT o.client_id, o.person_id FROM {table} o \
                     WHERE o.kind = q.kind AND o.value = q.value LIMIT {cap}) t"
                ),
            };
            selects.push(format!(
                "SELECT q.k AS k, t.client_id AS client_id, t.person_id AS person_id \
                 FROM {carriers} WHERE NOT {crowded} \
                 UNION ALL SELECT q.k, NULL, NULL FROM {list} q WHERE {crowded}"
            ));
        }
        sql.push_str("WITH ");
        sql.push_str(&ctes.join(", "));
        sql.push(' ');
        sql.push_str(&selects.join(" UNION ALL "));
        let mut q = sqlx::query(&sql);
        for key in order {
            q = q.bind(key.field.as_str()).bind(&key.value);
        }
        Ok(q.fetch_all(&mut *conn).await?)
    }

    /// Which of the shortlisted clients are live (not merged into another),
    /// and their contact persons, for comparing names.
    pub async fn shortlisted(
        &self,
        conn: &mut AnyConnection,
        clients: &[i64],
    ) -> Result<(Vec<i64>, Vec<StoredPerson>)> {
        if clients.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let list = param_list(self.backend, 1, clients.len());
        // The first persons of each client by an index-ordered LIMIT per
        // client: a window function over the join cost several times more.
        // PostgreSQL has LATERAL for it (a correlated IN there scans every
        // person); SQLite has no LATERAL and runs the correlated IN per row.
        let sql = match self.backend {
            Backend::Sqlite => format!(
                "SELECT c.id AS client_id, c.kind AS kind, c.name AS client_name, c.inn AS inn, \
                 p.id AS person_id, p.name AS name FROM clients c \
                 LEFT JOIN contact_persons p ON p.client_id = c.id AND p.id IN \
                 (SELECT f.id FROM contact_persons f WHERE f.client_id = c.id ORDER BY f.id LIMIT ?) \
                 WHERE c.id IN ({list}) AND c.merged_into IS NULL ORDER BY c.id, p.id"
            ),
            Backend::Postgres => format!(
                "SELECT c.id AS client_id, c.kind AS kind, c.name AS client_name, c.inn AS inn, \
                 p.id AS person_id, p.name AS name FROM clients c \
                 LEFT JOIN LATERAL (SELECT f.id, f.name FROM contact_persons f WHERE f.client_id = c.id \
                 ORDER BY f.id LIMIT ${}) p ON TRUE \
                 WHERE c.id IN ({list}) AND c.merged_into IS NULL ORDER BY c.id, p.id",
                clients.len() + 1
            ),
        };
        let mut q = sqlx::query(&sql);
        // SQLite binds anonymous parameters in the order they appear.
        if self.backend == Backend::Sqlite {
            q = q.bind(MAX_PERSONS);
        }
        for id in clients {
            q = q.bind(*id);
        }
        if self.backend == Backend::Postgres {
            q = q.bind(MAX_PERSONS);
        }
        let rows = q.fetch_all(&mut *conn).await?;
        let mut live: Vec<i64> = Vec::with_capacity(clients.len());
        let mut persons = Vec::with_capacity(rows.len());
        for r in &rows {
            let client_id: i64 = r.try_get("client_id")?;
            if live.last() != Some(&client_id) {
                live.push(client_id);
            }
            let person_id: Option<i64> = r.try_get("person_id")?;
            let name: Option<String> = r.try_get("name")?;
            let kind: String = r.try_get("kind")?;
            let company = if ClientKind::parse(&kind) == Some(ClientKind::Company) {
                Some(r.try_get::<String, _>("client_name")?)
            } else {
                None
            };
            if let (Some(person_id), Some(name)) = (person_id, name) {
                persons.push(StoredPerson {
                    client_id,
                    person_id,
                    name,
                    company,
                    inn: r.try_get("inn")?,
                });
            }
        }
        // Keep the shortlist's order (best first).
        let live = clients
            .iter()
            .copied()
            .filter(|id| live.contains(id))
            .collect();
        Ok((live, persons))
    }

    /// Writes derived key rows, many per statement; existing rows stay.
    pub async fn insert_match_keys(&self, conn: &mut AnyConnection, rows: &[KeyRow]) -> Result<()> {
        // One JSON parameter per statement (see `json_rows`).
        const ROWS: usize = 5_000;
        for chunk in rows.chunks(ROWS) {
            let sql = format!(
                "INSERT INTO match_keys (kind, value, client_id, person_id) {} \
                 ON CONFLICT DO NOTHING",
                crate::json_rows(
                    self.backend,
                    &[
                        crate::Col::Text,
                        crate::Col::Text,
                        crate::Col::Int,
                        crate::Col::Int
                    ]
                )
            );
            let data = crate::json_tuples(chunk);
            sqlx::query(&sql).bind(data).execute(&mut *conn).await?;
        }
        Ok(())
    }

    /// Replaces the keys of one kind of these clients with `rows`.
    pub(crate) async fn replace_keys(
        &self,
        conn: &mut AnyConnection,
        field: MatchField,
        clients: &[i64],
        rows: &[KeyRow],
    ) -> Result<()> {
        // The kind is one of ours, never input.
        let sql = format!(
            "DELETE FROM match_keys WHERE kind = '{}' AND client_id IN ({})",
            field.as_str(),
            crate::json_rows(self.backend, &[crate::Col::Int])
        );
        for chunk in clients.chunks(5_000) {
            sqlx::query(&sql)
                .bind(crate::json_tuples(chunk.iter().map(|id| (id,))))
                .execute(&mut *conn)
                .await?;
        }
        self.insert_match_keys(conn, rows).await
    }

    /// Replaces the company keys of these clients (a renamed company must
    /// not keep matching on its old name).
    pub async fn reset_company_keys(
        &self,
        conn: &mut AnyConnection,
        clients: &[(i64, ClientKind, &str)],
    ) -> Result<()> {
        for chunk in clients.chunks(500) {
            let list = param_list(self.backend, 1, chunk.len());
            let sql =
                format!("DELETE FROM match_keys WHERE kind = 'company' AND client_id IN ({list})");
            let mut q = sqlx::query(&sql);
            for (id, _, _) in chunk {
                q = q.bind(*id);
            }
            q.execute(&mut *conn).await?;
        }
        let rows: Vec<KeyRow> = clients
            .iter()
            .flat_map(|(id, kind, name)| company_rows(*id, *kind, name))
            .collect();
        self.insert_match_keys(conn, &rows).await
    }

    /// Replaces the ИНН key of these clients.
    pub async fn reset_inn_keys(
        &self,
        conn: &mut AnyConnection,
        clients: &[(i64, &str)],
    ) -> Result<()> {
        for chunk in clients.chunks(500) {
            let list = param_list(self.backend, 1, chunk.len());
            let sql =
                format!("DELETE FROM match_keys WHERE kind = 'inn' AND client_id IN ({list})");
            let mut q = sqlx::query(&sql);
            for (id, _) in chunk {
                q = q.bind(*id);
            }
            q.execute(&mut *conn).await?;
        }
        let rows: Vec<KeyRow> = clients
            .iter()
            .map(|(id, inn)| (MatchField::Inn.as_str(), inn.to_string(), *id, 0))
            .collect();
        self.insert_match_keys(conn, &rows).await
    }

    /// Recomputes every derived key of one client from what it holds now;
    /// for changes that move persons and points between clients (merge, undo).
    pub async fn rewrite_match_keys(&self, conn: &mut AnyConnection, client_id: i64) -> Result<()> {
        sqlx::query("DELETE FROM match_keys WHERE client_id = $1")
            .bind(client_id)
            .execute(&mut *conn)
            .await?;
        let client: Option<(String, String, Option<String>, Option<i64>)> =
            sqlx::query_as("SELECT kind, name, inn, merged_into FROM clients WHERE id = $1")
                .bind(client_id)
                .fetch_optional(&mut *conn)
                .await?;
        let Some((kind, name, inn, merged_into)) = client else {
            return Ok(());
        };
        let persons: Vec<(i64, String)> =
            sqlx::query_as("SELECT id, name FROM contact_persons WHERE client_id = $1")
                .bind(client_id)
                .fetch_all(&mut *conn)
                .await?;
        let emails: Vec<(String, String)> = sqlx::query_as(
            "SELECT value, raw FROM contact_points WHERE client_id = $1 AND kind = 'email'",
        )
        .bind(client_id)
        .fetch_all(&mut *conn)
        .await?;
        let mut rows: Vec<KeyRow> = Vec::new();
        if let Some(kind) = ClientKind::parse(&kind) {
            rows.extend(company_rows(client_id, kind, &name));
        }
        for (pid, name) in &persons {
            rows.extend(person_rows(client_id, *pid, name));
        }
        let keys: Vec<ContactKey> = emails
            .into_iter()
            .map(|(value, raw)| ContactKey {
                kind: leadgate_domain::appeal::ContactKind::Email,
                value,
                raw,
            })
            .collect();
        rows.extend(domain_rows(client_id, &keys));
        // A merged client is no candidate, so its ИНН is a key of the client
        // it was merged into (one carrier, not two); undo gives it back.
        if merged_into.is_none() {
            let merged: Vec<(String,)> = sqlx::query_as(
                "SELECT inn FROM clients WHERE merged_into = $1 AND inn IS NOT NULL",
            )
            .bind(client_id)
            .fetch_all(&mut *conn)
            .await?;
            let inns: BTreeSet<String> = inn
                .into_iter()
                .chain(merged.into_iter().map(|(i,)| i))
                .collect();
            rows.extend(
                inns.into_iter()
                    .map(|inn| (MatchField::Inn.as_str(), inn, client_id, 0)),
            );
        }
        self.insert_match_keys(conn, &rows).await
    }

    /// Writes the derived keys of clients created before the matching keys
    /// existed; resumable, and a no-op once done.
    pub async fn backfill_match_keys(&self) -> Result<()> {
        loop {
            let mut tx = self.begin_write().await?;
            let marks: Vec<(String, i64)> = sqlx::query_as(
                "SELECT name, value FROM counters \
                 WHERE name IN ('match_keys_backfill', 'match_keys_backfill_until')",
            )
            .fetch_all(tx.conn())
            .await?;
            let mark = |n: &str| marks.iter().find(|(k, _)| k == n).map(|(_, v)| *v);
            let (Some(done), Some(until)) = (
                mark("match_keys_backfill"),
                mark("match_keys_backfill_until"),
            ) else {
                return tx.commit().await;
            };
            if done >= until {
                return tx.commit().await;
            }
            let upto = (done + BACKFILL_CHUNK).min(until);
            let clients: Vec<(i64, String, String)> = sqlx::query_as(
                "SELECT id, kind, name FROM clients WHERE id > $1 AND id <= $2 ORDER BY id",
            )
            .bind(done)
            .bind(upto)
            .fetch_all(tx.conn())
            .await?;
            let persons: Vec<(i64, i64, String)> = sqlx::query_as(
                "SELECT id, client_id, name FROM contact_persons WHERE client_id > $1 AND client_id <= $2",
            )
            .bind(done)
            .bind(upto)
            .fetch_all(tx.conn())
            .await?;
            let emails: Vec<(i64, String, String)> = sqlx::query_as(
                "SELECT client_id, value, raw FROM contact_points \
                 WHERE kind = 'email' AND client_id > $1 AND client_id <= $2",
            )
            .bind(done)
            .bind(upto)
            .fetch_all(tx.conn())
            .await?;
            let mut rows: Vec<KeyRow> = Vec::new();
            for (id, kind, name) in &clients {
                if let Some(kind) = ClientKind::parse(kind) {
                    rows.extend(company_rows(*id, kind, name));
                }
            }
            for (pid, cid, name) in &persons {
                rows.extend(person_rows(*cid, *pid, name));
            }
            for (cid, value, raw) in emails {
                let key = ContactKey {
                    kind: leadgate_domain::appeal::ContactKind::Email,
                    value,
                    raw,
                };
                rows.extend(domain_rows(cid, std::slice::from_ref(&key)));
            }
            self.insert_match_keys(tx.conn(), &rows).await?;
            sqlx::query("UPDATE counters SET value = $1 WHERE name = 'match_keys_backfill'")
                .bind(upto)
                .execute(tx.conn())
                .await?;
            tx.commit().await?;
            tracing::info!(upto, until, "matching keys written for existing clients");
        }
    }
}

/// Name keys of one contact person.
pub fn person_rows(client_id: i64, person_id: i64, name: &str) -> Vec<KeyRow> {
    person_name_keys(name)
        .into_iter()
        .map(|k| (MatchField::Name.as_str(), k, client_id, person_id))
        .collect()
}

/// The ИНН key of a client.
pub fn inn_rows(client_id: i64, inn: Option<&str>) -> Vec<KeyRow> {
    inn.into_iter()
        .map(|inn| (MatchField::Inn.as_str(), inn.to_string(), client_id, 0))
        .collect()
}

/// The company key of a company client.
pub fn company_rows(client_id: i64, kind: ClientKind, name: &str) -> Vec<KeyRow> {
    if kind != ClientKind::Company {
        return Vec::new();
    }
    company_name_key(name)
        .into_iter()
        .map(|k| (MatchField::Company.as_str(), k, client_id, 0))
        .collect()
}

/// Corporate domains of e-mail points. A domain is the client's (the
/// company's), not one person's: a company with many persons at one domain
/// is still one client carrying it.
pub fn domain_rows(client_id: i64, keys: &[ContactKey]) -> Vec<KeyRow> {
    let domains: BTreeSet<String> = point_domains(keys).into_iter().collect();
    domains
        .into_iter()
        .map(|d| (MatchField::Domain.as_str(), d, client_id, 0))
        .collect()
}
