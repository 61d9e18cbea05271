//! The sales department as the configuration declares it: managers (with
//! their role, department and PBX extension) and departments with their heads.

use serde::Deserialize;

use crate::role::Role;

#[derive(Debug, Clone, Deserialize)]
#[serde()]
pub struct ManagerSettings {
    pub login: String,
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default = "default_manager_role")]
    pub role: Role,
    /// The manager's user or extension on the PBX, for call routing.
    #[serde(default)]
    pub pbx_user: Option<String>,
}

fn default_manager_role() -> Role {
    Role::Manager
}

#[derive(Debug, Clone, Deserialize)]
#[serde()]
pub struct DepartmentSettings {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub head: Option<String>,
}
