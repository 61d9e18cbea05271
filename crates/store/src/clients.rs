use std::collections::{BTreeMap, HashMap, HashSet};

use sqlx::{AnyConnection, Row};

use super::matching::{domain_rows, person_rows, KeyRow};
use super::{from_ms, now_ms, Result, StorageError, Store};
use super::{param_list, placeholders};
use leadgate_domain::appeal::{ContactKey, ContactKind};
use leadgate_domain::client::{Client, ClientKind, ContactPerson, ContactPoint, DroppedPoint};
use leadgate_domain::event::{journal_enabled, EventType, NewEvent};
use serde_json::json;

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
    /// A responsible the file named that is no manager.
    pub imported_responsible: Option<String>,
    /// A checksum-valid ИНН.
    pub inn: Option<String>,
    pub persons: Vec<ImportedPerson>,
}

#[derive(Debug, Clone)]
pub struct ImportedPerson {
    pub name: String,
    pub keys: Vec<ContactKey>,
    /// Points that did not parse, kept as typed.
    pub dropped: Vec<DroppedPoint>,
}

/// What one import batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportCounts {
    pub created: u64,
    pub updated: u64,
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
        Ok(self.clients_by_ids(&[id]).await?.into_iter().next())
    }

    /// Up to `limit` clients (not merged away) with ids above `after`, in id
    /// order, each with its persons and points: the export reads the base
    /// page by page, four statements a page.
    pub async fn clients_page(&self, after: i64, limit: i64) -> Result<Vec<Client>> {
        let ids: Vec<(i64,)> = sqlx::query_as(
            "SELECT id FROM clients WHERE id > $1 AND merged_into IS NULL ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let ids: Vec<i64> = ids.into_iter().map(|(id,)| id).collect();
        self.clients_by_ids(&ids).await
    }

    /// These clients in the order given (missing ids left out).
    pub async fn clients_by_ids(&self, ids: &[i64]) -> Result<Vec<Client>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            out.extend(self.clients_chunk(chunk).await?);
        }
        Ok(out)
    }

    async fn clients_chunk(&self, ids: &[i64]) -> Result<Vec<Client>> {
        let mut conn = self.pool.acquire().await?;
        self.clients_chunk_on(&mut conn, ids).await
    }

    /// [`Store::clients_by_ids`] on a given connection (inside a transaction
    /// it sees the transaction's own rows), at most 500 ids.
    async fn clients_chunk_on(&self, conn: &mut AnyConnection, ids: &[i64]) -> Result<Vec<Client>> {
        let list = param_list(self.backend, 1, ids.len());
        fn bind_all<'q>(
            sql: &'q str,
            ids: &[i64],
        ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
            let mut q = sqlx::query(sql);
            for id in ids {
                q = q.bind(*id);
            }
            q
        }
        let clients = bind_all(&format!(
            "SELECT id, external_id, kind, name, responsible_login, imported_responsible, inn, created_at \
             FROM clients WHERE id IN ({list})"
        ), ids)
        .fetch_all(&mut *conn)
        .await?;
        let persons = bind_all(&format!(
            "SELECT id, client_id, name FROM contact_persons WHERE client_id IN ({list}) ORDER BY id"
        ), ids)
        .fetch_all(&mut *conn)
        .await?;
        let points = bind_all(
            &format!(
                "SELECT client_id, person_id, kind, value, raw FROM contact_points \
             WHERE client_id IN ({list}) ORDER BY id"
            ),
            ids,
        )
        .fetch_all(&mut *conn)
        .await?;
        let dropped = bind_all(&format!(
            "SELECT d.person_id, d.field, d.raw, d.reason FROM dropped_points d \
             JOIN contact_persons p ON p.id = d.person_id WHERE p.client_id IN ({list}) ORDER BY d.id"
        ), ids)
        .fetch_all(&mut *conn)
        .await?;
        let mut dropped_by_person: HashMap<i64, Vec<DroppedPoint>> = HashMap::new();
        for d in &dropped {
            dropped_by_person
                .entry(d.try_get("person_id")?)
                .or_default()
                .push(DroppedPoint {
                    field: d.try_get("field")?,
                    raw: d.try_get("raw")?,
                    reason: d.try_get("reason")?,
                });
        }
        let mut points_by: HashMap<i64, BTreeMap<Option<i64>, Vec<ContactPoint>>> = HashMap::new();
        for p in &points {
            let kind: String = p.try_get("kind")?;
            points_by
                .entry(p.try_get("client_id")?)
                .or_default()
                .entry(p.try_get("person_id")?)
                .or_default()
                .push(ContactPoint {
                    kind: ContactKind::parse(&kind)
                        .ok_or_else(|| StorageError::Corrupt("contact point kind".into()))?,
                    value: p.try_get("value")?,
                    raw: p.try_get("raw")?,
                });
        }
        let mut persons_by: HashMap<i64, Vec<ContactPerson>> = HashMap::new();
        for p in &persons {
            let client_id: i64 = p.try_get("client_id")?;
            let pid: i64 = p.try_get("id")?;
            let contact_points = points_by
                .get_mut(&client_id)
                .and_then(|m| m.remove(&Some(pid)))
                .unwrap_or_default();
            persons_by
                .entry(client_id)
                .or_default()
                .push(ContactPerson {
                    id: pid,
                    name: p.try_get("name")?,
                    contact_points,
                    dropped_points: dropped_by_person.remove(&pid).unwrap_or_default(),
                });
        }
        let mut by_id: HashMap<i64, Client> = HashMap::with_capacity(clients.len());
        for row in &clients {
            let id: i64 = row.try_get("id")?;
            let kind: String = row.try_get("kind")?;
            by_id.insert(
                id,
                Client {
                    id,
                    external_id: row.try_get("external_id")?,
                    kind: ClientKind::parse(&kind)
                        .ok_or_else(|| StorageError::Corrupt("client kind".into()))?,
                    name: row.try_get("name")?,
                    responsible: row.try_get("responsible_login")?,
                    imported_responsible: row.try_get("imported_responsible")?,
                    inn: row.try_get("inn")?,
                    contact_persons: persons_by.remove(&id).unwrap_or_default(),
                    contact_points: points_by
                        .remove(&id)
                        .map(|m| m.into_values().flatten().collect())
                        .unwrap_or_default(),
                    created_at: from_ms(row.try_get("created_at")?),
                },
            );
        }
        Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
    }

    /// Which of these external ids are already clients (for an import's
    /// dry run and its count of updates).
    pub async fn existing_external_ids(&self, ids: &[&str]) -> Result<HashSet<String>> {
        let mut out = HashSet::new();
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT external_id FROM clients WHERE external_id IN ({})",
                param_list(self.backend, 1, chunk.len())
            );
            let mut q = sqlx::query_as::<_, (String,)>(&sql);
            for id in chunk {
                q = q.bind(*id);
            }
            out.extend(q.fetch_all(&self.pool).await?.into_iter().map(|(id,)| id));
        }
        Ok(out)
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
    pub async fn import_batch(&self, clients: &[ImportedClient]) -> Result<ImportCounts> {
        const ROWS: usize = 500;
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let mut ids: HashMap<String, i64> = HashMap::with_capacity(clients.len());
        let mut counts = ImportCounts::default();
        let mut new_clients: Vec<String> = Vec::new();
        for chunk in clients.chunks(ROWS) {
            let sql = format!(
                "SELECT external_id FROM clients WHERE external_id IN ({})",
                param_list(self.backend, 1, chunk.len())
            );
            let mut q = sqlx::query_as::<_, (String,)>(&sql);
            for c in chunk {
                q = q.bind(&c.external_id);
            }
            let rows = q.fetch_all(tx.conn()).await?;
            let existing: HashSet<String> = rows.into_iter().map(|(id,)| id).collect();
            counts.updated += existing.len() as u64;
            counts.created += (chunk.len() as u64).saturating_sub(existing.len() as u64);
            new_clients.extend(
                chunk
                    .iter()
                    .filter(|c| !existing.contains(&c.external_id))
                    .map(|c| c.external_id.clone()),
            );
            // A known responsible replaces the one waiting to be sorted out;
            // an ИНН the file leaves empty keeps the stored one.
            let sql = format!(
                "INSERT INTO clients (external_id, kind, name, responsible_login, imported_responsible, inn, created_at, updated_at) \
                 VALUES {} ON CONFLICT (external_id) DO UPDATE SET kind = excluded.kind, name = excluded.name, \
                 responsible_login = COALESCE(excluded.responsible_login, clients.responsible_login), \
                 imported_responsible = CASE WHEN excluded.responsible_login IS NULL \
                   THEN COALESCE(excluded.imported_responsible, clients.imported_responsible) ELSE NULL END, \
                 inn = COALESCE(excluded.inn, clients.inn), \
                 updated_at = excluded.updated_at RETURNING id, external_id",
                placeholders(self.backend, chunk.len(), 8)
            );
            let mut q = sqlx::query(&sql);
            for c in chunk {
                q = q
                    .bind(&c.external_id)
                    .bind(c.kind.as_str())
                    .bind(&c.name)
                    .bind(c.responsible.as_deref())
                    .bind(c.imported_responsible.as_deref())
                    .bind(c.inn.as_deref())
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
        let inns = clients
            .iter()
            .filter_map(|c| c.inn.as_deref().map(|inn| Ok((client_id(c)?, inn))))
            .collect::<Result<Vec<_>>>()?;
        self.reset_inn_keys(tx.conn(), &inns).await?;
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
        let mut dropped: Vec<(i64, &DroppedPoint)> = Vec::new();
        for c in clients {
            let id = client_id(c)?;
            for p in &c.persons {
                if let Some(pid) = person_ids.get(&(id, p.name.clone())) {
                    dropped.extend(p.dropped.iter().map(|d| (*pid, d)));
                }
            }
        }
        for chunk in dropped.chunks(ROWS) {
            let sql = format!(
                "INSERT INTO dropped_points (person_id, field, raw, reason, created_at) VALUES {} \
                 ON CONFLICT (person_id, field, raw) DO NOTHING",
                placeholders(self.backend, chunk.len(), 5)
            );
            let mut q = sqlx::query(&sql);
            for (pid, d) in chunk {
                q = q
                    .bind(*pid)
                    .bind(&d.field)
                    .bind(&d.raw)
                    .bind(&d.reason)
                    .bind(now);
            }
            q.execute(tx.conn()).await?;
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
        // `client.created` for each new client, as the read API shows it
        // with everything this batch gave it, in the import's transaction.
        let mut created: Vec<i64> = new_clients
            .iter()
            .filter_map(|external| ids.get(external).copied())
            .collect();
        created.sort_unstable();
        created.dedup();
        if journal_enabled() {
            for chunk in created.chunks(ROWS) {
                let events: Vec<NewEvent> = self
                    .clients_chunk_on(tx.conn(), chunk)
                    .await?
                    .iter()
                    .map(|c| NewEvent::about(EventType::ClientCreated, "client", c, json!({})))
                    .collect();
                self.append_events(tx.conn(), &events).await?;
            }
        }
        tx.commit().await?;
        Ok(counts)
    }
}
