//! Client (Клиент): a person or a company, with its contact persons and their
//! contact points.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::appeal::ContactKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ClientKind {
    Person,
    Company,
}

impl ClientKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Person => "person",
            ClientKind::Company => "company",
        }
    }
    pub fn parse(s: &str) -> Option<ClientKind> {
        match s {
            "person" => Some(ClientKind::Person),
            "company" => Some(ClientKind::Company),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ContactPoint {
    pub kind: ContactKind,
    /// The normalised value that matching uses.
    pub value: String,
    /// As it was typed.
    pub raw: String,
}

/// A contact point that did not parse (an e-mail with a comma in its
/// domain, a phone field holding a note): kept as typed and flagged on its
/// person, never matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DroppedPoint {
    /// The kind it was given as: `phone`, `email`, `telegram`, `vk`.
    pub field: String,
    pub raw: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ContactPerson {
    pub id: i64,
    pub name: String,
    pub contact_points: Vec<ContactPoint>,
    /// Points an import could not use, with why.
    pub dropped_points: Vec<DroppedPoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Client {
    pub id: i64,
    /// The id in the system the client was imported from.
    pub external_id: Option<String>,
    pub kind: ClientKind,
    pub name: String,
    pub responsible: Option<String>,
    /// The responsible an import named that is no manager (the client is
    /// unassigned until someone sorts it out).
    pub imported_responsible: Option<String>,
    /// A checksum-valid ИНН, digits only: from the import, from the appeal
    /// that created the client, or taken over from a client merged into
    /// this one (and given back when the merge is undone). A company key in
    /// matching: an appeal naming it links here.
    #[schema(example = "7707083893")]
    pub inn: Option<String>,
    pub contact_persons: Vec<ContactPerson>,
    /// Contact points not tied to one person (a company's switchboard).
    pub contact_points: Vec<ContactPoint>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}
