//! Usage attribution (issue 9): which grant decided an allow. The server
//! counts every decision it makes and credits each allow to one grant, so
//! that a usage report can say which grants are used and which nobody has
//! exercised. This is asked only after [`Snapshot::check`] allowed, never on
//! the plain check path: it walks the user's assignments like
//! [`Snapshot::explain`] does, without the near misses.

use serde::Serialize;

use crate::decide::Request;
use crate::explain::Assigned;
use crate::snapshot::Snapshot;

/// The grant credited with an allow.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct GrantUse {
    /// The role whose grant matched; `None` for an account owner (rule 2).
    pub role: Option<String>,
    /// The grant's access as [`RoleGrant::access`](crate::RoleGrant::access)
    /// spells it (`all`, `own`, `rule:premium`, …); for a module-level
    /// question on a limited grant, the limits joined with ` | `. `all` for
    /// an account owner.
    pub access: String,
    /// How the role is held: `None` directly (or as account owner),
    /// `Some(team)` through that team.
    pub team: Option<String>,
}

impl Snapshot {
    /// The canonical name of a permission (`customers_update` for
    /// `customers_edit`); `None` when unknown.
    pub fn canonical_permission(&self, name: &str) -> Option<&str> {
        let id = self.perm_ids.get(name).copied()?;
        self.perm(id).map(|info| info.name.as_str())
    }

    /// The grant that decided an allow of `request`: the first role in force
    /// (in assignment order) whose grant of the request's own permission
    /// matches the record (or, without a record, any grant of it). `None`
    /// when the request is not allowed by any grant of the user (an unknown
    /// user or permission, or a deny). Rule 6's underlying `view` is not
    /// credited: the usage is of the permission asked.
    pub fn deciding_grant(&self, request: &Request<'_>) -> Option<GrantUse> {
        let user = self.user(request.user)?;
        let perm = self.perm_ids.get(request.permission).copied()?;
        let (req_perm, on, record) = self.requirements(perm, request).into_iter().next()?;
        let active = self.active_roles(user, request.now);
        let step = self.first_match(user, req_perm, on, record, &active)?;
        let team = match step.assigned {
            Some(Assigned::ViaTeam { team }) => Some(team),
            Some(Assigned::Directly) | None => None,
        };
        let access = match step.role {
            // A limited module-level step spells all its limits; keep that text.
            Some(_) => step.access,
            None => "all".to_owned(),
        };
        Some(GrantUse { role: step.role, access, team })
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use serde_json::json;

    use crate::{load_workspace_file, GrantUse, Record, Request, Snapshot};

    const YAML: &str = "workspace: w\n\
        users: { ann: {}, bob: { teams: [desk] }, own: { account_owner: true }, eve: {} }\n\
        teams: { desk: {} }\n\
        roles:\n  viewer:\n    grants:\n      teams_view: all\n  \
        limited:\n    grants:\n      customers_view: [own, team]\n  \
        wide:\n    grants:\n      customers_view: all\n\
        assignments:\n  users: { ann: [limited, wide], bob: [viewer] }\n  teams: { desk: [wide] }\n";

    fn use_of(role: Option<&str>, access: &str, team: Option<&str>) -> Option<GrantUse> {
        Some(GrantUse { role: role.map(Into::into), access: access.into(), team: team.map(Into::into) })
    }

    #[test]
    fn the_first_matching_grant_is_credited() {
        let (model, _) = load_workspace_file(YAML).unwrap();
        let s = Snapshot::compile(&model).unwrap();
        let now = Utc::now();
        let mine: Record = json!({ "id": "c1", "assignee": "ann" }).as_object().unwrap().clone();
        let other: Record = json!({ "id": "c2", "assignee": "zed" }).as_object().unwrap().clone();
        let ask = |user, rec: Option<&Record>| {
            let mut r = Request::new(user, "customers_view", now);
            r.record = rec;
            s.deciding_grant(&r)
        };
        // ann: `limited` comes first and matches her own record; another's falls through to `wide`.
        assert_eq!(ask("ann", Some(&mine)), use_of(Some("limited"), "own", None));
        assert_eq!(ask("ann", Some(&other)), use_of(Some("wide"), "all", None));
        // Module level: `wide` gives all, which beats a limited grant met first.
        assert_eq!(ask("ann", None), use_of(Some("wide"), "all", None));
        // bob holds `wide` through his team (he has teams_view directly).
        assert_eq!(ask("bob", Some(&other)), use_of(Some("wide"), "all", Some("desk")));
        assert_eq!(ask("own", None), use_of(None, "all", None));
        // Denies and unknown names are credited to nobody.
        assert_eq!(ask("eve", None), None);
        assert_eq!(ask("nobody", None), None);
        assert_eq!(s.deciding_grant(&Request::new("ann", "customers_fly", now)), None);
        assert_eq!(s.canonical_permission("customers_edit"), Some("customers_update"));
        assert_eq!(s.canonical_permission("customers_fly"), None);
    }
}
