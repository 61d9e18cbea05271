use std::collections::{BTreeMap, HashMap};

use sqlx::{AnyConnection, Row};

use super::matching::{domain_rows, person_rows, KeyRow};
use super::{from_ms, now_ms, Result, StorageError, Store};
use super::{param_list, placeholders};
use leadgate_domain::appeal::{ContactKey, ContactKind};
use leadgate_domain::client::{Client, ClientKind, ContactPerson, ContactPoint};

/// A stored contact point equal to a looked-up key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointHit {
    pub client_id: i64,
}

/// A key carried by more clients than this is a shared mailbox or switchboard;
/// the matcher only needs to know that it is crowded, not every owner.
pub const MAX_HITS_PER_KEY: i64 = 50;

/// One client as read from an import file.
#[derive(Debug, Clone)]
pub struct ImportedClient {
    pub external_id: String,
    pub kind: ClientKind,
    pub name: String,
    pub responsible: Option<String>,
    pub persons: Vec<ImportedPerson>,
}

#[derive(Debug, Clone)]
pub struct ImportedPerson {
    pub name: String,
    pub keys: Vec<ContactKey>,
}

impl Store {
    /// Every stored contact point equal to one of `keys`, on clients that were
    /// not merged away.
    pub async fn find_hits(
        &self,
        conn: &mut AnyConnection,
        keys: &[ContactKey],
    ) -> Result<Vec<PointHit>> {
        let mut hits = Vec::new();
        for key in keys {
            let rows = sqlx::query(
                "SELECT cp.client_id, cp.person_id FROM contact_points cp \
                 JOIN clients c ON c.id = cp.client_id \
                 WHERE cp.kind = $1 AND cp.value = $2 AND c.merged_into IS NULL \
                 LIMIT $3",
            )
            .bind(key.kind.as_str())
            .bind(&key.value)
            .bind(MAX_HITS_PER_KEY + 1)
            .fetch_all(&mut *conn)
            .await?;
            for row in rows {
                hits.push(PointHit {
                    client_id: row.try_get("client_id")?,
                });
            }
        }
        Ok(hits)
    }

    /// The contact person of `client_id` with this name, created with the
    /// reserved id `new_id` if missing, in one round trip. Its name keys
    /// ([`person_rows`]) are the caller's to write.
    pub async fn upsert_person(
        &self,
        conn: &mut AnyConnection,
        new_id: i64,
        client_id: i64,
        name: &str,
    ) -> Result<i64> {
        // DO UPDATE (to the same value) so that an existing row is returned too.
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO contact_persons (id, client_id, name, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (client_id, name) DO UPDATE SET name = excluded.name RETURNING id",
        )
        .bind(new_id)
        .bind(client_id)
        .bind(name)
        .bind(now_ms())
        .fetch_one(&mut *conn)
        .await?;
        Ok(id)
    }

    /// The contact person of `client_id` with this name, created if missing,
    /// with its name keys.
    pub async fn ensure_person(
        &self,
        conn: &mut AnyConnection,
        client_id: i64,
        name: &str,
    ) -> Result<i64> {
        let inserted = sqlx::query(
            "INSERT INTO contact_persons (client_id, name, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (client_id, name) DO NOTHING",
        )
        .bind(client_id)
        .bind(name)
        .bind(now_ms())
        .execute(&mut *conn)
        .await?
        .rows_affected();
        let (id,): (i64,) =
            sqlx::query_as("SELECT id FROM contact_persons WHERE client_id = $1 AND name = $2")
                .bind(client_id)
                .bind(name)
                .fetch_one(&mut *conn)
                .await?;
        if inserted > 0 {
            self.insert_match_keys(conn, &person_rows(client_id, id, name))
                .await?;
        }
        Ok(id)
    }

    pub async fn first_person(
        &self,
        conn: &mut AnyConnection,
        client_id: i64,
    ) -> Result<Option<i64>> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT id FROM contact_persons WHERE client_id = $1 ORDER BY id LIMIT 1",
        )
        .bind(client_id)
        .fetch_optional(&mut *conn)
        .await?;
        Ok(row.map(|(id,)| id))
    }

    pub async fn client_responsible(
        &self,
        conn: &mut AnyConnection,
        client_id: i64,
    ) -> Result<Option<String>> {
        let (login,): (Option<String>,) =
            sqlx::query_as("SELECT responsible_login FROM clients WHERE id = $1")
                .bind(client_id)
                .fetch_one(&mut *conn)
                .await?;
        Ok(login)
    }

    pub async fn set_client_responsible(
        &self,
        conn: &mut AnyConnection,
        client_id: i64,
        login: &str,
    ) -> Result<()> {
        sqlx::query("UPDATE clients SET responsible_login = $1, updated_at = $2 WHERE id = $3")
            .bind(login)
            .bind(now_ms())
            .bind(client_id)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    pub async fn client(&self, id: i64) -> Result<Option<Client>> {
        let row = sqlx::query(
            "SELECT id, external_id, kind, name, responsible_login, created_at FROM clients WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let kind: String = row.try_get("kind")?;
        let persons =
            sqlx::query("SELECT id, name FROM contact_persons WHERE client_id = $1 ORDER BY id")
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
        let points = sqlx::query(
            "SELECT person_id, kind, value, raw FROM contact_points WHERE client_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        let mut by_person: BTreeMap<Option<i64>, Vec<ContactPoint>> = BTreeMap::new();
        for p in &points {
            let kind: String = p.try_get("kind")?;
            by_person
                .entry(p.try_get("person_id")?)
                .or_default()
                .push(ContactPoint {
                    kind: ContactKind::parse(&kind)
                        .ok_or_else(|| StorageError::Corrupt("contact point kind".into()))?,
                    value: p.try_get("value")?,
                    raw: p.try_get("raw")?,
                });
        }
        let mut contact_persons = Vec::with_capacity(persons.len());
        for p in &persons {
            let pid: i64 = p.try_get("id")?;
            contact_persons.push(ContactPerson {
                id: pid,
                name: p.try_get("name")?,
                contact_points: by_person.remove(&Some(pid)).unwrap_or_default(),
            });
        }
        Ok(Some(Client {
            id,
            external_id: row.try_get("external_id")?,
            kind: ClientKind::parse(&kind)
                .ok_or_else(|| StorageError::Corrupt("client kind".into()))?,
            name: row.try_get("name")?,
            responsible: row.try_get("responsible_login")?,
            contact_persons,
            contact_points: by_person.into_values().flatten().collect(),
            created_at: from_ms(row.try_get("created_at")?),
        }))
    }

    /// Clients carrying any of `keys`, for the lookup endpoint.
    pub async fn clients_with_points(&self, keys: &[ContactKey]) -> Result<Vec<Client>> {
        let mut conn = self.pool.acquire().await?;
        let hits = self.find_hits(&mut conn, keys).await?;
        drop(conn);
        let mut ids: Vec<i64> = hits.iter().map(|h| h.client_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(c) = self.client(id).await? {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// Inserts or updates imported clients (keyed on their external id) with
    /// their persons and points in one transaction, many rows per statement.
    /// Points are only added, never removed, so an import cannot erase what
    /// appeals taught us.
    pub async fn import_batch(&self, clients: &[ImportedClient]) -> Result<()> {
        const ROWS: usize = 500;
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let mut ids: HashMap<String, i64> = HashMap::with_capacity(clients.len());
        for chunk in clients.chunks(ROWS) {
            let sql = format!(
                "INSERT INTO clients (external_id, kind, name, responsible_login, created_at, updated_at) \
                 VALUES {} ON CONFLICT (external_id) DO UPDATE SET kind = excluded.kind, name = excluded.name, \
                 responsible_login = COALESCE(excluded.responsible_login, clients.responsible_login), \
                 updated_at = excluded.updated_at RETURNING id, external_id",
                placeholders(self.backend, chunk.len(), 6)
            );
            let mut q = sqlx::query(&sql);
            for c in chunk {
                q = q
                    .bind(&c.external_id)
                    .bind(c.kind.as_str())
                    .bind(&c.name)
                    .bind(c.responsible.as_deref())
                    .bind(now)
                    .bind(now);
            }
            for row in q.fetch_all(tx.conn()).await? {
                ids.insert(row.try_get("external_id")?, row.try_get("id")?);
            }
        }
        let client_id = |c: &ImportedClient| {
            ids.get(&c.external_id)
                .copied()
                .ok_or_else(|| StorageError::Corrupt("imported client without id".into()))
        };
        let companies = clients
            .iter()
            .map(|c| Ok((client_id(c)?, c.kind, c.name.as_str())))
            .collect::<Result<Vec<_>>>()?;
        self.reset_company_keys(tx.conn(), &companies).await?;
        let mut persons: Vec<(i64, &str)> = Vec::new();
        for c in clients {
            let id = client_id(c)?;
            for p in &c.persons {
                persons.push((id, p.name.as_str()));
            }
        }
        persons.sort_unstable();
        persons.dedup();
        for chunk in persons.chunks(ROWS) {
            let sql = format!(
                "INSERT INTO contact_persons (client_id, name, created_at) VALUES {} \
                 ON CONFLICT (client_id, name) DO NOTHING",
                placeholders(self.backend, chunk.len(), 3)
            );
            let mut q = sqlx::query(&sql);
            for (id, name) in chunk {
                q = q.bind(*id).bind(*name).bind(now);
            }
            q.execute(tx.conn()).await?;
        }
        let mut person_ids: HashMap<(i64, String), i64> = HashMap::with_capacity(persons.len());
        let mut client_ids: Vec<i64> = persons.iter().map(|(id, _)| *id).collect();
        client_ids.dedup();
        for chunk in client_ids.chunks(ROWS) {
            let sql = format!(
                "SELECT id, client_id, name FROM contact_persons WHERE client_id IN ({})",
                param_list(self.backend, 1, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(*id);
            }
            for row in q.fetch_all(tx.conn()).await? {
                person_ids.insert(
                    (row.try_get("client_id")?, row.try_get("name")?),
                    row.try_get("id")?,
                );
            }
        }
        let mut points: Vec<(i64, Option<i64>, &ContactKey)> = Vec::new();
        let mut keys: Vec<KeyRow> = Vec::new();
        for c in clients {
            let id = client_id(c)?;
            for p in &c.persons {
                let pid = person_ids.get(&(id, p.name.clone())).copied();
                if let Some(pid) = pid {
                    keys.extend(person_rows(id, pid, &p.name));
                }
                keys.extend(domain_rows(id, &p.keys));
                for k in &p.keys {
                    points.push((id, pid, k));
                }
            }
        }
        keys.sort();
        keys.dedup();
        self.insert_match_keys(tx.conn(), &keys).await?;
        points.sort_by(|a, b| (a.0, a.2.kind, &a.2.value).cmp(&(b.0, b.2.kind, &b.2.value)));
        // A point on two persons of one client is the client's own (an
        // office line), not the first person's.
        points.dedup_by(|later, kept| {
            let same =
                later.0 == kept.0 && later.2.kind == kept.2.kind && later.2.value == kept.2.value;
            if same && later.1 != kept.1 {
                kept.1 = None;
            }
            same
        });
        for chunk in points.chunks(ROWS) {
            let sql = format!(
                "INSERT INTO contact_points (client_id, person_id, kind, value, raw, created_at) VALUES {} \
                 ON CONFLICT (client_id, kind, value) DO UPDATE SET person_id = NULL \
                 WHERE contact_points.person_id IS NOT NULL \
                 AND (excluded.person_id IS NULL OR excluded.person_id <> contact_points.person_id)",
                placeholders(self.backend, chunk.len(), 6)
            );
            let mut q = sqlx::query(&sql);
            for (id, pid, k) in chunk {
                q = q
                    .bind(*id)
                    .bind(*pid)
                    .bind(k.kind.as_str())
                    .bind(&k.value)
                    .bind(&k.raw)
                    .bind(now);
            }
            q.execute(tx.conn()).await?;
        }
        tx.commit().await
    }
}
