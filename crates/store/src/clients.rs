use std::collections::{BTreeMap, HashMap, HashSet};

use sqlx::{AnyConnection, Row};

use super::matching::{person_rows, KeyRow};
use super::{from_ms, now_ms, Result, StorageError, Store};
use super::{json_rows, json_tuples, param_list, Col};
use leadgate_domain::appeal::{ContactKey, ContactKind};
use leadgate_domain::client::{Client, ClientKind, ContactPerson, ContactPoint, DroppedPoint};
use leadgate_domain::dedup::keys::{company_name_key, person_name_keys, point_domains};
use leadgate_domain::dedup::MatchField;
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
        let keys = ImportKeys::derive(clients);
        self.import_prepared(clients, keys).await
    }

    /// [`Store::import_batch`] with the keys already derived (see
    /// [`ImportKeys::derive`]), so that deriving the next batch's keys can
    /// run on another core while this one is written.
    pub async fn import_prepared(
        &self,
        clients: &[ImportedClient],
        keys: ImportKeys,
    ) -> Result<ImportCounts> {
        // Events bind three parameters a row; the rest pass one JSON
        // parameter a statement (see `json_rows`).
        const ROWS: usize = 500;
        const JSON_ROWS: usize = 5_000;
        if keys.persons.len() != clients.iter().map(|c| c.persons.len()).sum::<usize>()
            || keys.companies.len() != clients.len()
        {
            return Err(StorageError::Corrupt("import keys of another batch".into()));
        }
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let mut ids: HashMap<String, i64> = HashMap::with_capacity(clients.len());
        let mut counts = ImportCounts::default();
        let mut existing: HashSet<String> = HashSet::new();
        let exists_sql = format!(
            "SELECT external_id FROM clients WHERE external_id IN ({})",
            json_rows(self.backend, &[Col::Text])
        );
        // A known responsible replaces the one waiting to be sorted out;
        // an ИНН the file leaves empty keeps the stored one.
        let insert_sql = format!(
            "INSERT INTO clients (external_id, kind, name, responsible_login, imported_responsible, inn, created_at, updated_at) \
             {} ON CONFLICT (external_id) DO UPDATE SET kind = excluded.kind, name = excluded.name, \
             responsible_login = COALESCE(excluded.responsible_login, clients.responsible_login), \
             imported_responsible = CASE WHEN excluded.responsible_login IS NULL \
               THEN COALESCE(excluded.imported_responsible, clients.imported_responsible) ELSE NULL END, \
             inn = COALESCE(excluded.inn, clients.inn), \
             updated_at = excluded.updated_at RETURNING id, external_id",
            json_rows(
                self.backend,
                &[Col::Text, Col::Text, Col::Text, Col::Text, Col::Text, Col::Text, Col::Int, Col::Int]
            )
        );
        for chunk in clients.chunks(JSON_ROWS) {
            let rows: Vec<(String,)> = sqlx::query_as(&exists_sql)
                .bind(json_tuples(chunk.iter().map(|c| (&c.external_id,))))
                .fetch_all(tx.conn())
                .await?;
            existing.extend(rows.into_iter().map(|(id,)| id));
            let data = json_tuples(chunk.iter().map(|c| {
                (
                    &c.external_id,
                    c.kind.as_str(),
                    &c.name,
                    c.responsible.as_deref(),
                    c.imported_responsible.as_deref(),
                    c.inn.as_deref(),
                    now,
                    now,
                )
            }));
            for row in sqlx::query(&insert_sql)
                .bind(data)
                .fetch_all(tx.conn())
                .await?
            {
                ids.insert(row.try_get("external_id")?, row.try_get("id")?);
            }
        }
        counts.updated = existing.len() as u64;
        counts.created = (clients.len() as u64).saturating_sub(counts.updated);
        let client_ids = clients
            .iter()
            .map(|c| {
                ids.get(&c.external_id)
                    .copied()
                    .ok_or_else(|| StorageError::Corrupt("imported client without id".into()))
            })
            .collect::<Result<Vec<i64>>>()?;
        drop(ids);
        let company_keys: Vec<KeyRow> = keys
            .companies
            .iter()
            .zip(&client_ids)
            .filter_map(|(k, id)| {
                k.as_ref()
                    .map(|k| (MatchField::Company.as_str(), k.clone(), *id, 0))
            })
            .collect();
        self.replace_keys(tx.conn(), MatchField::Company, &client_ids, &company_keys)
            .await?;
        let mut with_inn: Vec<i64> = Vec::new();
        let mut inn_keys: Vec<KeyRow> = Vec::new();
        for (c, id) in clients.iter().zip(&client_ids) {
            if let Some(inn) = &c.inn {
                with_inn.push(*id);
                inn_keys.push((MatchField::Inn.as_str(), inn.clone(), *id, 0));
            }
        }
        self.replace_keys(tx.conn(), MatchField::Inn, &with_inn, &inn_keys)
            .await?;
        // Sorted and without repeats, so that a person's id is found by
        // binary search (no key built per lookup).
        let mut persons: Vec<(i64, &str)> = Vec::with_capacity(keys.persons.len());
        for (c, id) in clients.iter().zip(&client_ids) {
            for p in &c.persons {
                persons.push((*id, p.name.as_str()));
            }
        }
        persons.sort_unstable();
        persons.dedup();
        let mut person_ids: Vec<Option<i64>> = vec![None; persons.len()];
        let mut found = |client_id: i64, name: &str, id: i64| {
            if let Ok(i) = persons.binary_search(&(client_id, name)) {
                person_ids[i] = Some(id);
            }
        };
        let insert_persons = format!(
            "INSERT INTO contact_persons (client_id, name, created_at) {} \
             ON CONFLICT (client_id, name) DO NOTHING RETURNING id, client_id, name",
            json_rows(self.backend, &[Col::Int, Col::Text, Col::Int])
        );
        for chunk in persons.chunks(JSON_ROWS) {
            let data = json_tuples(chunk.iter().map(|(id, name)| (id, name, now)));
            for row in sqlx::query(&insert_persons)
                .bind(data)
                .fetch_all(tx.conn())
                .await?
            {
                let name: String = row.try_get("name")?;
                found(row.try_get("client_id")?, &name, row.try_get("id")?);
            }
        }
        // The persons an updated client already had return nothing above.
        let mut updated: Vec<i64> = clients
            .iter()
            .zip(&client_ids)
            .filter(|(c, _)| existing.contains(&c.external_id))
            .map(|(_, id)| *id)
            .collect();
        updated.sort_unstable();
        updated.dedup();
        let select_persons = format!(
            "SELECT id, client_id, name FROM contact_persons WHERE client_id IN ({})",
            json_rows(self.backend, &[Col::Int])
        );
        for chunk in updated.chunks(JSON_ROWS) {
            let data = json_tuples(chunk.iter().map(|id| (id,)));
            for row in sqlx::query(&select_persons)
                .bind(data)
                .fetch_all(tx.conn())
                .await?
            {
                let name: String = row.try_get("name")?;
                found(row.try_get("client_id")?, &name, row.try_get("id")?);
            }
        }
        let person_id = |client_id: i64, name: &str| {
            persons
                .binary_search(&(client_id, name))
                .ok()
                .and_then(|i| person_ids[i])
        };
        let mut dropped: Vec<(i64, &DroppedPoint)> = Vec::new();
        let mut points: Vec<(i64, Option<i64>, &ContactKey)> = Vec::new();
        let mut match_keys: Vec<KeyRow> = Vec::new();
        let mut derived = keys.persons.into_iter();
        for (c, id) in clients.iter().zip(&client_ids) {
            let id = *id;
            for p in &c.persons {
                let (names, domains) = derived.next().unwrap_or_default();
                let pid = person_id(id, &p.name);
                if let Some(pid) = pid {
                    dropped.extend(p.dropped.iter().map(|d| (pid, d)));
                    match_keys.extend(
                        names
                            .into_iter()
                            .map(|k| (MatchField::Name.as_str(), k, id, pid)),
                    );
                }
                match_keys.extend(
                    domains
                        .into_iter()
                        .map(|d| (MatchField::Domain.as_str(), d, id, 0)),
                );
                for k in &p.keys {
                    points.push((id, pid, k));
                }
            }
        }
        let insert_dropped = format!(
            "INSERT INTO dropped_points (person_id, field, raw, reason, created_at) {} \
             ON CONFLICT (person_id, field, raw) DO NOTHING",
            json_rows(
                self.backend,
                &[Col::Int, Col::Text, Col::Text, Col::Text, Col::Int]
            )
        );
        for chunk in dropped.chunks(JSON_ROWS) {
            let data = json_tuples(
                chunk
                    .iter()
                    .map(|(pid, d)| (pid, &d.field, &d.raw, &d.reason, now)),
            );
            sqlx::query(&insert_dropped)
                .bind(data)
                .execute(tx.conn())
                .await?;
        }
        match_keys.sort_unstable();
        match_keys.dedup();
        self.insert_match_keys(tx.conn(), &match_keys).await?;
        drop(match_keys);
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
        let insert_points =
            format!(
            "INSERT INTO contact_points (client_id, person_id, kind, value, raw, created_at) {} \
             ON CONFLICT (client_id, kind, value) DO UPDATE SET person_id = NULL \
             WHERE contact_points.person_id IS NOT NULL \
             AND (excluded.person_id IS NULL OR excluded.person_id <> contact_points.person_id)",
            json_rows(
                self.backend,
                &[Col::Int, Col::Int, Col::Text, Col::Text, Col::Text, Col::Int]
            )
        );
        for chunk in points.chunks(JSON_ROWS) {
            let data = json_tuples(
                chunk
                    .iter()
                    .map(|(id, pid, k)| (id, pid, k.kind.as_str(), &k.value, &k.raw, now)),
            );
            sqlx::query(&insert_points)
                .bind(data)
                .execute(tx.conn())
                .await?;
        }
        // `client.created` for each new client, as the read API shows it
        // with everything this batch gave it, in the import's transaction.
        // A new client holds exactly what this batch wrote, so its view is
        // built from that rather than read back (which cost as much as the
        // writes).
        if journal_enabled() {
            let mut created: Vec<(i64, &ImportedClient)> = clients
                .iter()
                .zip(&client_ids)
                .filter(|(c, _)| !existing.contains(&c.external_id))
                .map(|(c, id)| (*id, c))
                .collect();
            created.sort_unstable_by_key(|(id, _)| *id);
            created.dedup_by_key(|(id, _)| *id);
            // `points` is in the order it was inserted, so in id order.
            let mut points_of: HashMap<i64, Vec<(Option<i64>, &ContactKey)>> =
                HashMap::with_capacity(created.len());
            for (id, pid, k) in &points {
                points_of.entry(*id).or_default().push((*pid, k));
            }
            let mut events = Vec::with_capacity(ROWS.min(created.len()));
            for (id, c) in created {
                let client = created_view(id, c, now, &person_id, points_of.remove(&id));
                events.push(NewEvent::about(
                    EventType::ClientCreated,
                    "client",
                    &client,
                    json!({}),
                ));
                if events.len() == ROWS {
                    self.append_events(tx.conn(), &events).await?;
                    events.clear();
                }
            }
            self.append_events(tx.conn(), &events).await?;
        }
        tx.commit().await?;
        Ok(counts)
    }
}

/// What a new client holds once its batch is written, as
/// [`Store::clients_by_ids`] reads it: persons and points in the order of
/// their ids (the order they were inserted in), the points two persons
/// share on the client itself, a person's repeated dropped point once.
fn created_view(
    id: i64,
    c: &ImportedClient,
    now: i64,
    person_id: &impl Fn(i64, &str) -> Option<i64>,
    points: Option<Vec<(Option<i64>, &ContactKey)>>,
) -> Client {
    let mut persons: Vec<ContactPerson> = Vec::with_capacity(c.persons.len());
    for p in &c.persons {
        let Some(pid) = person_id(id, &p.name) else {
            continue;
        };
        let at = match persons.iter().position(|x| x.id == pid) {
            Some(at) => at,
            None => {
                persons.push(ContactPerson {
                    id: pid,
                    name: p.name.clone(),
                    contact_points: Vec::new(),
                    dropped_points: Vec::new(),
                });
                persons.len() - 1
            }
        };
        let person = &mut persons[at];
        for d in &p.dropped {
            if !person
                .dropped_points
                .iter()
                .any(|x| x.field == d.field && x.raw == d.raw)
            {
                person.dropped_points.push(d.clone());
            }
        }
    }
    persons.sort_by_key(|p| p.id);
    let mut own = Vec::new();
    for (pid, k) in points.unwrap_or_default() {
        let point = ContactPoint {
            kind: k.kind,
            value: k.value.clone(),
            raw: k.raw.clone(),
        };
        match pid.and_then(|pid| persons.iter_mut().find(|p| p.id == pid)) {
            Some(p) => p.contact_points.push(point),
            None => own.push(point),
        }
    }
    Client {
        id,
        external_id: Some(c.external_id.clone()),
        kind: c.kind,
        name: c.name.clone(),
        responsible: c.responsible.clone(),
        imported_responsible: c.imported_responsible.clone(),
        inn: c.inn.clone(),
        contact_persons: persons,
        contact_points: own,
        created_at: from_ms(now),
    }
}

/// The keys an import batch derives from its clients alone, before any id
/// is known: the company key of each client, and of each person (in the
/// order of the clients and their persons) its name keys and the
/// corporate domains of its e-mails. Pure CPU, and a good part of the
/// import's.
#[derive(Debug, Default)]
pub struct ImportKeys {
    companies: Vec<Option<String>>,
    persons: Vec<(Vec<String>, Vec<String>)>,
}

impl ImportKeys {
    pub fn derive(clients: &[ImportedClient]) -> ImportKeys {
        let mut persons = Vec::with_capacity(clients.len());
        let companies = clients
            .iter()
            .map(|c| {
                for p in &c.persons {
                    persons.push((person_name_keys(&p.name), point_domains(&p.keys)));
                }
                match c.kind {
                    ClientKind::Company => company_name_key(&c.name),
                    _ => None,
                }
            })
            .collect();
        ImportKeys { companies, persons }
    }
}
