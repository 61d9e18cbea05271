//! Who may see what. Managers see the clients and appeals linked to their own
//! interests, heads those of their department, operators what the review
//! queue needs, admins everything. Every read of a client or an appeal and
//! every write to an interest asks here; an id outside the caller's scope is
//! answered as if it did not exist.

use leadgate_domain::client::Client;
use leadgate_domain::role::Role;
use leadgate_store::{StorageError, Store};

use crate::settings::CoreSettings;

/// Which responsibles' interests someone works with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Administrators.
    All,
    /// A manager: their own login; a head: everybody in their department.
    Responsibles(Vec<String>),
}

impl Scope {
    pub fn covers(&self, responsible: Option<&str>) -> bool {
        match self {
            Scope::All => true,
            Scope::Responsibles(logins) => {
                responsible.is_some_and(|login| logins.iter().any(|l| l == login))
            }
        }
    }

    /// The board scope of `login` in `role`: `None` for operators, who have
    /// no board. A head's department is `department` (the user's own) or the
    /// one `[[managers]]` names, plus every department they head.
    pub async fn of(
        store: &Store,
        settings: &CoreSettings,
        login: &str,
        role: Role,
        department: Option<&str>,
    ) -> Result<Option<Scope>, StorageError> {
        Ok(Some(match role {
            Role::Admin => Scope::All,
            Role::Manager => Scope::Responsibles(vec![login.to_owned()]),
            Role::Head => {
                let own = department
                    .map(str::to_owned)
                    .or_else(|| settings.manager(login).and_then(|m| m.department.clone()));
                let mut logins = store.department_logins(login, own.as_deref()).await?;
                if !logins.iter().any(|l| l == login) {
                    logins.push(login.to_owned());
                }
                Scope::Responsibles(logins)
            }
            Role::Operator => return Ok(None),
        }))
    }
}

/// What someone may read of clients and appeals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    /// Administrators.
    All,
    /// Managers and heads: clients whose responsible is one of these logins
    /// or who have an interest of one of them; appeals that joined such an
    /// interest.
    Responsibles(Vec<String>),
    /// Operators: every client (a review decision may link an appeal to any
    /// client, and merges take any two), and the appeals the queue deals
    /// with: those with a review item and those that reached no interest.
    /// Appeals that became a manager's work are not theirs to read.
    ReviewQueue,
}

impl Visibility {
    pub async fn of(
        store: &Store,
        settings: &CoreSettings,
        login: &str,
        role: Role,
        department: Option<&str>,
    ) -> Result<Visibility, StorageError> {
        Ok(
            match Scope::of(store, settings, login, role, department).await? {
                None => Visibility::ReviewQueue,
                Some(Scope::All) => Visibility::All,
                Some(Scope::Responsibles(logins)) => Visibility::Responsibles(logins),
            },
        )
    }

    /// The responsible logins the audit log is narrowed to (`None`: all).
    pub fn audit_scope(&self) -> Option<&[String]> {
        match self {
            Visibility::Responsibles(logins) => Some(logins),
            Visibility::All | Visibility::ReviewQueue => None,
        }
    }

    pub async fn client(&self, store: &Store, client_id: i64) -> Result<bool, StorageError> {
        match self {
            Visibility::All | Visibility::ReviewQueue => Ok(true),
            Visibility::Responsibles(logins) => Ok(!store
                .clients_in_scope(&[client_id], logins)
                .await?
                .is_empty()),
        }
    }

    /// `clients` without those outside the scope, in the same order.
    pub async fn clients(
        &self,
        store: &Store,
        clients: Vec<Client>,
    ) -> Result<Vec<Client>, StorageError> {
        let Visibility::Responsibles(logins) = self else {
            return Ok(clients);
        };
        let ids: Vec<i64> = clients.iter().map(|c| c.id).collect();
        let seen = store.clients_in_scope(&ids, logins).await?;
        Ok(clients
            .into_iter()
            .filter(|c| seen.contains(&c.id))
            .collect())
    }

    pub async fn appeal(&self, store: &Store, appeal_id: i64) -> Result<bool, StorageError> {
        match self {
            Visibility::All => Ok(true),
            Visibility::ReviewQueue => store.appeal_in_review_reach(appeal_id).await,
            Visibility::Responsibles(logins) => store.appeal_in_scope(appeal_id, logins).await,
        }
    }

    /// Whether an interest with this responsible is in the scope (operators
    /// read interests to link appeals, and change none).
    pub fn interest(&self, responsible: Option<&str>) -> bool {
        match self {
            Visibility::All | Visibility::ReviewQueue => true,
            Visibility::Responsibles(logins) => {
                responsible.is_some_and(|r| logins.iter().any(|l| l == r))
            }
        }
    }
}
