//! The workspace model as an administrator writes it: schema additions, users,
//! teams, custom roles, access rules and assignments.
//!
//! This is plain data (serde-friendly, so the store can persist it as JSON and
//! the server can accept it). It holds only what was declared: the built-in
//! modules, standard objects and system roles are merged in by
//! [`crate::Snapshot::compile`] from the catalogue, never stored here.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::attributes::Attributes;

/// One tenant's whole access model, as declared.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Model {
    /// The workspace key (`acme`).
    pub workspace: String,
    /// Workspace-wide switches.
    pub settings: Settings,
    /// Modules, objects and user attributes added to (or extending) the built-ins.
    pub schema: Schema,
    /// Named access rules per object: object → rule name → condition text.
    pub access_rules: BTreeMap<String, BTreeMap<String, String>>,
    /// Teams by key.
    pub teams: BTreeMap<String, Team>,
    /// Users by key.
    pub users: BTreeMap<String, User>,
    /// Custom roles by key. System roles come from the catalogue and are never stored.
    pub roles: BTreeMap<String, Role>,
    /// Role assignments to users and teams.
    pub assignments: Assignments,
}

/// Workspace settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Roles assigned to a team count for a member only if the member holds
    /// `teams_view` through a directly assigned role (Kustomer's rule).
    pub team_roles_require_teams_view: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { team_roles_require_teams_view: true }
    }
}

/// Declared schema: what a workspace adds to the built-in catalogue.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Schema {
    /// Product-area modules (no records), by name.
    pub modules: BTreeMap<String, ModuleDef>,
    /// Objects (modules with records), by plural name.
    pub objects: BTreeMap<String, ObjectDef>,
    /// Declared types of user attributes that conditions may read as `user.<name>`.
    /// Attributes not declared here are typed from the values users hold.
    pub user_attributes: BTreeMap<String, FieldType>,
}

/// A product-area module and its actions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModuleDef {
    /// Actions beside the standard ones.
    pub actions: Vec<String>,
    /// Whether end_user roles may hold permissions of this module.
    pub end_users: bool,
}

/// An object: a module whose actions apply to records with typed fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ObjectDef {
    /// Actions beside view/create/update/delete/export.
    pub actions: Vec<String>,
    /// Fields by name.
    pub fields: BTreeMap<String, FieldDef>,
    /// The `user` field that `own` access matches.
    pub owner_field: Option<String>,
    /// The `team` field that `team` access matches.
    pub team_field: Option<String>,
    /// Who may list and search the object's records.
    pub list_visibility: Option<ListVisibility>,
}

/// A typed field of an object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    /// The field's type.
    #[serde(rename = "type")]
    pub ty: FieldType,
    /// Only explicit field permissions give access to a protected field.
    #[serde(default)]
    pub protected: bool,
    /// The store keeps an index on this field for list filtering.
    #[serde(default)]
    pub indexed: bool,
}

impl FieldDef {
    /// An unprotected, unindexed field of the given type.
    pub fn of(ty: FieldType) -> Self {
        FieldDef { ty, protected: false, indexed: false }
    }
}

/// The type of a field or of a user attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// Text.
    String,
    /// A JSON number.
    Number,
    /// `true` or `false`.
    Bool,
    /// One of the listed strings.
    Enum(Vec<String>),
    /// An RFC 3339 timestamp held as a string.
    Datetime,
    /// A user key.
    User,
    /// A team key.
    Team,
    /// The id of a record of the named object.
    Lookup(String),
    /// A list of scalar values of one type.
    List(Box<FieldType>),
}

/// Who may list and search an object's records (rule 9).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListVisibility {
    /// Everyone with view access.
    #[default]
    Everyone,
    /// Account owners and Administrator only.
    Admins,
}

/// A team (group) of agents.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Team {
    /// A display name.
    pub name: Option<String>,
}

/// A principal of the workspace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct User {
    /// Staff or portal customer.
    pub kind: UserKind,
    /// Team keys.
    pub teams: Vec<String>,
    /// Attributes conditions read as `user.<name>`.
    pub attributes: Attributes,
    /// Account owners are allowed everything in the workspace.
    pub account_owner: bool,
}

/// Kind of a user.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserKind {
    /// Staff.
    #[default]
    Agent,
    /// A customer using a portal.
    EndUser,
}

impl UserKind {
    /// The name used in files and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            UserKind::Agent => "agent",
            UserKind::EndUser => "end_user",
        }
    }
}

/// A custom role (permission set). System roles share this shape.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Role {
    /// Agent roles for staff, end_user roles for portal customers.
    pub kind: UserKind,
    /// Free text.
    pub description: Option<String>,
    /// The role this one was cloned from, if any (informational).
    pub cloned_from: Option<String>,
    /// Permission name → grant.
    pub grants: BTreeMap<String, Grant>,
    /// `object.field` → level.
    pub fields: BTreeMap<String, FieldLevel>,
}

/// A permission granted with some access, and why.
///
/// Serialized in the full form `{"access": ACCESS, "reason": TEXT}`.
/// Deserialization also accepts the workspace file's short forms: `"all"`, `"none"`, `"own"`, `"team"`,
/// `{"rule": NAME}`, `{"where": CONDITION}`, or a list of limits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Grant {
    /// How much of the module's records the grant covers.
    pub access: Access,
    /// Why this grant is needed (expected for powerful grants).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Grant {
    /// A grant without a reason.
    pub fn new(access: Access) -> Self {
        Grant { access, reason: None }
    }
}

impl<'de> Deserialize<'de> for Grant {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        grant_from_json(&value).map_err(serde::de::Error::custom)
    }
}

const ACCESS_FORMS: &str =
    "expected `all`, `none`, `own`, `team`, `{\"rule\": NAME}`, `{\"where\": CONDITION}` or a list of limits";

/// A grant in any form the workspace file accepts (`file/roles.rs`), in
/// JSON: an access alone (`"all"`, `"none"`, `"own"`, `"team"`,
/// `{"rule": NAME}`, `{"where": CONDITION}`, a list of limits) or the full
/// form `{"access": ACCESS, "reason": TEXT}`, whose access may also be the
/// serialized `{"limited": [...]}`.
fn grant_from_json(value: &serde_json::Value) -> Result<Grant, String> {
    let serde_json::Value::Object(map) = value else { return Ok(Grant::new(access_from_json(value)?)) };
    if !map.contains_key("access") && !map.contains_key("reason") {
        return Ok(Grant::new(access_from_json(value)?));
    }
    for key in map.keys() {
        match key.as_str() {
            "access" | "reason" => {}
            "rule" | "where" => {
                return Err(format!("`{key}` goes inside `access` in the long form of a grant"))
            }
            other => return Err(format!("unknown key `{other}` in a grant; expected `access` and `reason`")),
        }
    }
    let reason = match map.get("reason") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(text)) => Some(text.clone()),
        Some(_) => return Err("a grant's `reason` must be text".to_owned()),
    };
    let access = map.get("access").ok_or("a grant has a `reason` but no `access`")?;
    Ok(Grant { access: access_from_json(access)?, reason })
}

fn access_from_json(value: &serde_json::Value) -> Result<Access, String> {
    use serde_json::Value;
    match value {
        Value::String(s) if s == "all" => Ok(Access::All),
        Value::String(s) if s == "none" => Ok(Access::None),
        Value::Array(items) => limits_from_json(items),
        Value::Object(map) if map.len() == 1 && map.contains_key("limited") => match map.get("limited") {
            Some(Value::Array(items)) => limits_from_json(items),
            _ => Err("`limited` must be a list of limits".to_owned()),
        },
        other => Ok(Access::Limited(vec![limit_from_json(other)?])),
    }
}

fn limits_from_json(items: &[serde_json::Value]) -> Result<Access, String> {
    let limits = items
        .iter()
        .map(|item| match item.as_str() {
            Some(s @ ("all" | "none")) => {
                Err(format!("`{s}` cannot be part of an access list; write it alone"))
            }
            _ => limit_from_json(item),
        })
        .collect::<Result<Vec<Limit>, String>>()?;
    Ok(Access::Limited(limits))
}

fn limit_from_json(value: &serde_json::Value) -> Result<Limit, String> {
    use serde_json::Value;
    match value {
        Value::String(s) if s == "own" => Ok(Limit::Own),
        Value::String(s) if s == "team" => Ok(Limit::Team),
        Value::Object(map) if map.len() == 1 => match map.iter().next() {
            Some((key, Value::String(text))) if key == "rule" => Ok(Limit::Rule(text.clone())),
            Some((key, Value::String(text))) if key == "where" => Ok(Limit::Where(text.clone())),
            Some((key, _)) if key == "rule" || key == "where" => Err(format!("`{key}` must be text")),
            _ => Err(format!("invalid access {value}; {ACCESS_FORMS}")),
        },
        Value::String(s) => {
            let hint = crate::suggest::did_you_mean(s, ["all", "none", "own", "team"]);
            Err(format!("invalid access `{s}`; {ACCESS_FORMS}{hint}"))
        }
        other => Err(format!("invalid access {other}; {ACCESS_FORMS}")),
    }
}

/// Access of a grant: none, every record, or the union of limited scopes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Nothing (an explicit no; it never removes what another role gives).
    None,
    /// Global / Full: every record.
    All,
    /// Only the records matched by at least one of these.
    Limited(Vec<Limit>),
}

/// One limited scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    /// Restricted: records whose owner field is the user.
    Own,
    /// Group: records whose team field is one of the user's teams, and the user's own.
    Team,
    /// A named access rule of the object.
    Rule(String),
    /// An inline condition.
    Where(String),
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Limit::Own => f.write_str("own"),
            Limit::Team => f.write_str("team"),
            Limit::Rule(name) => write!(f, "rule:{name}"),
            Limit::Where(cond) => write!(f, "where:{cond}"),
        }
    }
}

impl std::fmt::Display for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Access::None => f.write_str("none"),
            Access::All => f.write_str("all"),
            Access::Limited(limits) => {
                for (i, limit) in limits.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" | ")?;
                    }
                    write!(f, "{limit}")?;
                }
                Ok(())
            }
        }
    }
}

/// A user's access to a field (rule 7), ordered `None < Read < Edit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldLevel {
    /// Not returned, not writable.
    None,
    /// Returned, not writable.
    Read,
    /// Returned and writable.
    Edit,
}

impl FieldLevel {
    /// The name used in files and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldLevel::None => "none",
            FieldLevel::Read => "read",
            FieldLevel::Edit => "edit",
        }
    }
}

/// Role assignments.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Assignments {
    /// User key → roles.
    pub users: BTreeMap<String, Vec<Assignment>>,
    /// Team key → roles (each member receives them, see rule 3).
    pub teams: BTreeMap<String, Vec<Assignment>>,
}

/// One role given to a user or team, possibly until a time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assignment {
    /// Role key (custom or system, snake_case).
    pub role: String,
    /// After this instant the assignment counts for nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

impl Assignment {
    /// A permanent assignment.
    pub fn new(role: impl Into<String>) -> Self {
        Assignment { role: role.into(), expires_at: None }
    }

    /// Whether the assignment is in force at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }
}
