//! Deciding who an appeal is from. This is the pipeline's one replaceable
//! matching step: it sees the appeal's normalised keys and what the client base
//! holds for them, and returns a decision with its evidence. No I/O.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::appeal::{ContactKey, ContactKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    ExistingClient,
    NewClient,
    Review,
}

impl DecisionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionKind::ExistingClient => "existing_client",
            DecisionKind::NewClient => "new_client",
            DecisionKind::Review => "review",
        }
    }
}

/// A stored contact point that carries one of the appeal's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyHit {
    pub kind: ContactKind,
    pub value: String,
    pub client_id: i64,
    pub person_id: Option<i64>,
}

/// Why a candidate was considered: one field that agreed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Evidence {
    pub client_id: i64,
    pub field: ContactKind,
    /// `exact` for equal normalised keys.
    pub how: String,
    pub weight: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Decision {
    pub kind: DecisionKind,
    pub client_id: Option<i64>,
    /// The contact person whose point matched, when one did.
    pub person_id: Option<i64>,
    pub matched_on: Vec<ContactKind>,
    pub score: Option<f64>,
    pub candidates: Vec<i64>,
    pub evidence: Vec<Evidence>,
    pub reason: String,
}

/// Exact-key matching: one client behind every hit links, several clients go to
/// an operator, none makes a new client.
pub fn decide(keys: &[ContactKey], hits: &[KeyHit]) -> Decision {
    let mut by_client: BTreeMap<i64, Vec<&KeyHit>> = BTreeMap::new();
    for hit in hits {
        if keys
            .iter()
            .any(|k| k.kind == hit.kind && k.value == hit.value)
        {
            by_client.entry(hit.client_id).or_default().push(hit);
        }
    }
    let evidence: Vec<Evidence> = by_client
        .iter()
        .flat_map(|(client, hits)| {
            hits.iter().map(move |h| Evidence {
                client_id: *client,
                field: h.kind,
                how: "exact".into(),
                weight: 1.0,
            })
        })
        .collect();
    let mut matched_on: Vec<ContactKind> = evidence.iter().map(|e| e.field).collect();
    matched_on.sort();
    matched_on.dedup();
    let candidates: Vec<i64> = by_client.keys().copied().collect();
    match candidates.as_slice() {
        [] => Decision {
            kind: DecisionKind::NewClient,
            client_id: None,
            person_id: None,
            matched_on,
            score: None,
            candidates,
            evidence,
            reason: "no stored contact point matches".into(),
        },
        [only] => {
            let person_id = by_client
                .get(only)
                .and_then(|hits| hits.iter().find_map(|h| h.person_id));
            Decision {
                kind: DecisionKind::ExistingClient,
                client_id: Some(*only),
                person_id,
                matched_on,
                score: Some(1.0),
                candidates,
                evidence,
                reason: "every matching contact point belongs to one client".into(),
            }
        }
        _ => Decision {
            kind: DecisionKind::Review,
            client_id: None,
            person_id: None,
            matched_on,
            score: None,
            candidates,
            evidence,
            reason: "contact points belong to different clients".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kind: ContactKind, value: &str) -> ContactKey {
        ContactKey {
            kind,
            value: value.into(),
            raw: value.into(),
        }
    }

    fn hit(kind: ContactKind, value: &str, client_id: i64) -> KeyHit {
        KeyHit {
            kind,
            value: value.into(),
            client_id,
            person_id: Some(client_id * 10),
        }
    }

    #[test]
    fn no_hit_makes_a_new_client() {
        let d = decide(&[key(ContactKind::Phone, "+79123456789")], &[]);
        assert_eq!(d.kind, DecisionKind::NewClient);
        assert!(d.candidates.is_empty());
    }

    #[test]
    fn hits_on_one_client_link_to_it_and_name_the_keys() {
        let keys = [
            key(ContactKind::Phone, "+79123456789"),
            key(ContactKind::Email, "a@b.ru"),
        ];
        let hits = [
            hit(ContactKind::Phone, "+79123456789", 7),
            hit(ContactKind::Email, "a@b.ru", 7),
        ];
        let d = decide(&keys, &hits);
        assert_eq!(d.kind, DecisionKind::ExistingClient);
        assert_eq!(d.client_id, Some(7));
        assert_eq!(d.person_id, Some(70));
        assert_eq!(d.matched_on, vec![ContactKind::Phone, ContactKind::Email]);
    }

    #[test]
    fn keys_of_different_clients_go_to_review() {
        let keys = [
            key(ContactKind::Phone, "+79123456789"),
            key(ContactKind::Email, "a@b.ru"),
        ];
        let hits = [
            hit(ContactKind::Phone, "+79123456789", 7),
            hit(ContactKind::Email, "a@b.ru", 8),
        ];
        let d = decide(&keys, &hits);
        assert_eq!(d.kind, DecisionKind::Review);
        assert_eq!(d.candidates, vec![7, 8]);
        assert_eq!(d.client_id, None);
    }
}
