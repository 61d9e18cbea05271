//! The operators' review queue: appeals the matcher could not attribute to one
//! client wait here until an operator links them to a client, makes a new
//! client, or marks them as spam; and merging clients that turned out to be one.
//!
//! Both the API and the page call these functions; every change is audited in
//! the same transaction that makes it.

use chrono::{DateTime, Utc};
use leadgate_domain::event::{EventType, NewEvent};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::pipeline::{Pipeline, Resolution};
use leadgate_domain::appeal::{AppealStatus, AppealView, ContactKey, ContactKind};
use leadgate_domain::client::Client;
use leadgate_domain::contact::Region;
use leadgate_domain::decision::{AppealDecision, DecisionRecord, ReviewNote};
use leadgate_domain::dedup::{DecisionKind, Evidence};
use leadgate_store::{MovedRecords, NewAuditEntry, ReviewRow, StorageError, Store};

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("{detail}")]
    Invalid { field: &'static str, detail: String },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What an operator decided about a review item.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum ReviewAction {
    /// The appeal is from this client (and, if given, this contact person).
    Link {
        client_id: i64,
        #[serde(default)]
        person_id: Option<i64>,
    },
    /// Nobody we know: a new client is made from the appeal's contact card.
    // Braces so that `deny_unknown_fields` also refuses stray keys here.
    NewClient {},
    /// Not a customer: the appeal is closed without a client or an interest.
    Spam {},
}

impl ReviewAction {
    pub fn name(&self) -> &'static str {
        match self {
            ReviewAction::Link { .. } => "link",
            ReviewAction::NewClient {} => "new_client",
            ReviewAction::Spam {} => "spam",
        }
    }
}

/// A contact point of the appeal after normalisation.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct KeyView {
    pub kind: ContactKind,
    pub value: String,
    pub raw: String,
}

impl From<&ContactKey> for KeyView {
    fn from(k: &ContactKey) -> Self {
        KeyView {
            kind: k.kind,
            value: k.value.clone(),
            raw: k.raw.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Candidate {
    pub client: Client,
    /// The matcher's evidence about this candidate, as it recorded it.
    #[schema(value_type = Vec<Object>)]
    pub evidence: Vec<Evidence>,
    /// The appeal's contact points that this client has too.
    pub matched: Vec<KeyView>,
    /// The matcher's field names for this candidate (`phone`, `email`, `name`, ...).
    pub fields: Vec<String>,
    /// The client the matcher named, when it has since been merged into this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub named_as: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReviewItem {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub appeal: AppealView,
    pub keys: Vec<KeyView>,
    /// Why the matcher could not decide.
    pub reason: Option<String>,
    pub candidates: Vec<Candidate>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReviewQueue {
    /// Open items in all (the list may be shorter).
    pub count: i64,
    pub items: Vec<ReviewItem>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReviewOutcome {
    pub review_id: i64,
    pub appeal_id: i64,
    pub action: String,
    pub status: AppealStatus,
    pub client_id: Option<i64>,
    pub interest_id: Option<i64>,
    pub audit_id: i64,
}

/// Open items, oldest first.
pub async fn queue(store: &Store, region: Region, limit: i64) -> Result<ReviewQueue, ReviewError> {
    let count = store.open_review_count().await?;
    let rows = store.open_review_items(limit).await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        items.push(item_view(store, region, row).await?);
    }
    Ok(ReviewQueue { count, items })
}

pub async fn item(store: &Store, region: Region, id: i64) -> Result<ReviewItem, ReviewError> {
    let row = store
        .review_item(id)
        .await?
        .ok_or(ReviewError::NotFound("review item"))?;
    item_view(store, region, row).await
}

async fn item_view(
    store: &Store,
    region: Region,
    row: ReviewRow,
) -> Result<ReviewItem, ReviewError> {
    let appeal = store
        .appeal(row.appeal_id)
        .await?
        .ok_or_else(|| StorageError::Corrupt(format!("review item {} without appeal", row.id)))?;
    let keys = appeal.contact.normalize(region).keys;
    let (evidence, reason) = match &appeal.decision {
        Some(AppealDecision::Decided(d)) => {
            (d.evidence.clone().unwrap_or_default(), d.reason.clone())
        }
        Some(AppealDecision::NotALead(_)) | None => (Vec::new(), None),
    };
    let mut candidates: Vec<Candidate> = Vec::new();
    for named in &row.candidates {
        let Some(live) = store.live_client_id(*named).await? else {
            continue;
        };
        let about: Vec<Evidence> = evidence
            .iter()
            .filter(|e| e.client_id == *named)
            .cloned()
            .collect();
        if let Some(existing) = candidates.iter_mut().find(|c| c.client.id == live) {
            existing.evidence.extend(about);
            continue;
        }
        let Some(client) = store.client(live).await? else {
            continue;
        };
        let points: Vec<(ContactKind, &str)> = client
            .contact_points
            .iter()
            .chain(
                client
                    .contact_persons
                    .iter()
                    .flat_map(|p| &p.contact_points),
            )
            .map(|p| (p.kind, p.value.as_str()))
            .collect();
        let matched = keys
            .iter()
            .filter(|k| points.contains(&(k.kind, k.value.as_str())))
            .map(KeyView::from)
            .collect();
        candidates.push(Candidate {
            client,
            evidence: about,
            matched,
            fields: Vec::new(),
            named_as: (live != *named).then_some(*named),
        });
    }
    for c in &mut candidates {
        // Fields that agree; the matcher also records disagreements (a
        // conflicting name) as evidence with a negative weight.
        let mut fields: Vec<String> = c
            .evidence
            .iter()
            .filter(|e| e.weight > 0.0)
            .map(|e| e.field.as_str().to_string())
            .chain(c.matched.iter().map(|k| k.kind.as_str().to_string()))
            .collect();
        fields.sort();
        fields.dedup();
        c.fields = fields;
    }
    Ok(ReviewItem {
        id: row.id,
        created_at: row.created_at,
        appeal: AppealView::from(appeal),
        keys: keys.iter().map(KeyView::from).collect(),
        reason,
        candidates,
    })
}

/// Carries out an operator's decision: the appeal's contact points go to the
/// chosen (or a new) client, so the next appeal from them finds it, and the
/// appeal continues through the pipeline's routing. Spam is closed as it is.
pub async fn decide(
    pipeline: &Pipeline,
    item_id: i64,
    action: &ReviewAction,
    actor: &str,
) -> Result<ReviewOutcome, ReviewError> {
    let store = pipeline.store();
    let mut tx = store.begin_write().await?;
    let item = store
        .review_item_for_decision(tx.conn(), item_id)
        .await?
        .ok_or(ReviewError::NotFound("review item"))?;
    if item.decided_at.is_some() {
        return Err(ReviewError::Conflict(format!(
            "review item {item_id} is already decided"
        )));
    }
    let appeal = store
        .appeal_in(tx.conn(), item.appeal_id)
        .await?
        .ok_or_else(|| StorageError::Corrupt(format!("review item {item_id} without appeal")))?;
    if appeal.status != AppealStatus::Review {
        return Err(ReviewError::Conflict(format!(
            "appeal {} is {}, not waiting for review",
            appeal.id,
            appeal.status.as_str()
        )));
    }
    let keys = appeal.contact.normalize(pipeline.settings().region()).keys;
    pipeline.lock_contact_keys(tx.conn(), &keys).await?;
    let mut record = match appeal.decision.clone() {
        Some(AppealDecision::Decided(d)) => d,
        // The pipeline records its decision when it sends an appeal to
        // review, so this is an appeal somebody reset by hand.
        None => DecisionRecord {
            reason: None,
            ..DecisionRecord::without_matcher(DecisionKind::Review, &[], "")
        },
        Some(AppealDecision::NotALead(_)) => {
            return Err(StorageError::Corrupt(format!(
                "appeal {} is waiting for review but was rejected as not a lead",
                appeal.id
            ))
            .into())
        }
    };
    record.review = Some(ReviewNote {
        item_id,
        action: action.name().to_string(),
        by: actor.to_string(),
        at: Utc::now(),
    });
    let before_appeal =
        json!({"status": appeal.status.as_str(), "client_id": null, "interest_id": null});
    let (before, after, status, client_id, interest_id) = match action {
        ReviewAction::Link {
            client_id,
            person_id,
        } => {
            match store.client_merged_into(tx.conn(), *client_id).await? {
                None => {
                    return Err(ReviewError::Invalid {
                        field: "client_id",
                        detail: format!("no client {client_id}"),
                    })
                }
                Some(Some(into)) => {
                    return Err(ReviewError::Invalid {
                        field: "client_id",
                        detail: format!("client {client_id} was merged into client {into}"),
                    })
                }
                Some(None) => {}
            }
            if let Some(person) = person_id {
                if !store
                    .person_belongs_to(tx.conn(), *person, *client_id)
                    .await?
                {
                    return Err(ReviewError::Invalid {
                        field: "person_id",
                        detail: format!("{person} is not a contact person of client {client_id}"),
                    });
                }
            }
            let before = json!({
                "appeal": before_appeal,
                "client": store.client_snapshot(tx.conn(), *client_id).await?,
            });
            record.kind = DecisionKind::ExistingClient;
            let done = pipeline
                .route_decided(
                    tx.conn(),
                    &appeal,
                    &keys,
                    Resolution::Existing {
                        client_id: *client_id,
                        person_id: *person_id,
                    },
                    record,
                )
                .await?;
            let after = json!({
                "appeal": {"status": done.status.as_str(), "client_id": done.client_id, "interest_id": done.interest_id},
                "client": store.client_snapshot(tx.conn(), *client_id).await?,
            });
            (before, after, done.status, done.client_id, done.interest_id)
        }
        ReviewAction::NewClient {} => {
            record.kind = DecisionKind::NewClient;
            let done = pipeline
                .route_decided(tx.conn(), &appeal, &keys, Resolution::NewClient, record)
                .await?;
            let client = match done.client_id {
                Some(id) => store.client_snapshot(tx.conn(), id).await?,
                None => serde_json::Value::Null,
            };
            let after = json!({
                "appeal": {"status": done.status.as_str(), "client_id": done.client_id, "interest_id": done.interest_id},
                "client": client,
            });
            (
                json!({"appeal": before_appeal}),
                after,
                done.status,
                done.client_id,
                done.interest_id,
            )
        }
        ReviewAction::Spam {} => {
            store
                .finish_appeal(
                    tx.conn(),
                    appeal.id,
                    AppealStatus::Spam,
                    None,
                    None,
                    record.into(),
                )
                .await?;
            let after = json!({"appeal": {"status": AppealStatus::Spam.as_str(), "client_id": null, "interest_id": null}});
            (
                json!({"appeal": before_appeal}),
                after,
                AppealStatus::Spam,
                None,
                None,
            )
        }
    };
    let decision = json!({
        "action": action.name(),
        "client_id": client_id,
        "interest_id": interest_id,
        "person_id": match action { ReviewAction::Link { person_id, .. } => *person_id, _ => None },
    });
    store
        .close_review_item(tx.conn(), item_id, actor, &decision)
        .await?;
    let mut subjects = vec![("appeal", appeal.id)];
    if let Some(c) = client_id {
        subjects.push(("client", c));
    }
    if let Some(i) = interest_id {
        subjects.push(("interest", i));
    }
    let audit_id = store
        .record_audit(
            tx.conn(),
            &NewAuditEntry {
                actor,
                action: "review.decide",
                entity: "review_item",
                entity_id: item_id,
                before,
                after,
                subjects,
            },
        )
        .await?;
    if let Some(now) = store.appeal_in(tx.conn(), appeal.id).await? {
        let event = NewEvent::appeal(
            EventType::AppealReviewDecided,
            now,
            json!({"review": {"item_id": item_id, "action": action.name(), "by": actor}}),
        );
        store.append_events(tx.conn(), &[event]).await?;
    }
    tx.commit().await?;
    tracing::info!(
        review_id = item_id,
        appeal_id = appeal.id,
        action = action.name(),
        actor,
        client_id,
        interest_id,
        "review item decided"
    );
    Ok(ReviewOutcome {
        review_id: item_id,
        appeal_id: appeal.id,
        action: action.name().to_string(),
        status,
        client_id,
        interest_id,
        audit_id,
    })
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MergeOutcome {
    pub merge_id: i64,
    pub into: i64,
    pub from: i64,
    pub moved_persons: usize,
    pub moved_contact_points: usize,
    pub moved_interests: usize,
    pub moved_appeals: usize,
    pub audit_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub undone: Option<bool>,
}

impl MergeOutcome {
    fn new(merge_id: i64, into: i64, from: i64, moved: &MovedRecords, audit_id: i64) -> Self {
        MergeOutcome {
            merge_id,
            into,
            from,
            moved_persons: moved.persons.len(),
            moved_contact_points: moved.points.len(),
            moved_interests: moved.interests.len(),
            moved_appeals: moved.appeals.len(),
            audit_id,
            undone: None,
        }
    }
}

/// Merges client `from` into client `into`.
pub async fn merge(
    store: &Store,
    into: i64,
    from: i64,
    actor: &str,
) -> Result<MergeOutcome, ReviewError> {
    let mut tx = store.begin_write().await?;
    for id in [into, from] {
        match store.client_merged_into(tx.conn(), id).await? {
            None => return Err(ReviewError::NotFound("client")),
            Some(Some(other)) => {
                return Err(ReviewError::Conflict(format!(
                    "client {id} is already merged into client {other}"
                )))
            }
            Some(None) => {}
        }
    }
    if into == from {
        return Err(ReviewError::Invalid {
            field: "from",
            detail: "a client cannot be merged into itself".into(),
        });
    }
    let before = json!({
        "into": store.client_snapshot(tx.conn(), into).await?,
        "from": store.client_snapshot(tx.conn(), from).await?,
    });
    let (merge_id, moved) = store.merge_clients(tx.conn(), into, from, actor).await?;
    let after = json!({
        "into": store.client_snapshot(tx.conn(), into).await?,
        "from": store.client_snapshot(tx.conn(), from).await?,
        "moved": moved,
    });
    let audit_id = store
        .record_audit(
            tx.conn(),
            &NewAuditEntry {
                actor,
                action: "client.merge",
                entity: "merge",
                entity_id: merge_id,
                before,
                after,
                subjects: vec![("client", into), ("client", from)],
            },
        )
        .await?;
    let event = NewEvent::new(
        EventType::ClientMerged,
        json!({
            "merge_id": merge_id,
            "by": actor,
            "client_id": into,
            "merged_client_id": from,
            "client": store.client_snapshot(tx.conn(), into).await?,
            "merged": store.client_snapshot(tx.conn(), from).await?,
        }),
    );
    store.append_events(tx.conn(), &[event]).await?;
    tx.commit().await?;
    tracing::info!(merge_id, into, from, actor, "clients merged");
    Ok(MergeOutcome::new(merge_id, into, from, &moved, audit_id))
}

/// Puts back exactly what merge `merge_id` moved.
pub async fn undo_merge(
    store: &Store,
    merge_id: i64,
    actor: &str,
) -> Result<MergeOutcome, ReviewError> {
    let mut tx = store.begin_write().await?;
    let merge = store
        .merge_for_update(tx.conn(), merge_id)
        .await?
        .ok_or(ReviewError::NotFound("merge"))?;
    if merge.undone_at.is_some() {
        return Err(ReviewError::Conflict(format!(
            "merge {merge_id} is already undone"
        )));
    }
    if let Some(Some(later)) = store.client_merged_into(tx.conn(), merge.into_id).await? {
        return Err(ReviewError::Conflict(format!(
            "client {} was merged into client {later} since; undo that merge first",
            merge.into_id
        )));
    }
    let before = json!({
        "into": store.client_snapshot(tx.conn(), merge.into_id).await?,
        "from": store.client_snapshot(tx.conn(), merge.from_id).await?,
    });
    store.undo_merge(tx.conn(), &merge, actor).await?;
    let after = json!({
        "into": store.client_snapshot(tx.conn(), merge.into_id).await?,
        "from": store.client_snapshot(tx.conn(), merge.from_id).await?,
    });
    let audit_id = store
        .record_audit(
            tx.conn(),
            &NewAuditEntry {
                actor,
                action: "client.merge_undo",
                entity: "merge",
                entity_id: merge_id,
                before,
                after,
                subjects: vec![("client", merge.into_id), ("client", merge.from_id)],
            },
        )
        .await?;
    let event = NewEvent::new(
        EventType::ClientUnmerged,
        json!({
            "merge_id": merge_id,
            "by": actor,
            "client_id": merge.into_id,
            "restored_client_id": merge.from_id,
            "client": store.client_snapshot(tx.conn(), merge.into_id).await?,
            "restored": store.client_snapshot(tx.conn(), merge.from_id).await?,
        }),
    );
    store.append_events(tx.conn(), &[event]).await?;
    tx.commit().await?;
    tracing::info!(merge_id, actor, "merge undone");
    let mut out = MergeOutcome::new(
        merge_id,
        merge.into_id,
        merge.from_id,
        &merge.moved,
        audit_id,
    );
    out.undone = Some(true);
    Ok(out)
}
