//! The grants a compiled role holds, spelled as [`Step`](crate::Step) spells
//! them, so that a caller can tell which grants a set of explanations used
//! (grant coverage in `permset test`) without reading the snapshot's tables.

use serde::Serialize;

use crate::snapshot::{CompiledAccess, Snapshot};

/// One grant of a role: a permission and one way it is granted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct RoleGrant {
    /// The permission's canonical name (`customers_update`, never the `edit` alias).
    pub permission: String,
    /// `all`, or one limit of a limited grant as written (`own`, `team`,
    /// `rule:premium`, `where:…`): the same text as [`Step::access`](crate::Step::access)
    /// when that limit matched a record.
    pub access: String,
}

impl Snapshot {
    /// The grants of a role (system or custom) as compiled: `clone:` and
    /// aliases resolved, `none` left out, one entry per limit of a limited
    /// grant, in permission order. Empty for an unknown role.
    pub fn role_grants(&self, role: &str) -> Vec<RoleGrant> {
        let Some(compiled) = self.role_ids.get(role).and_then(|&idx| self.role_at(idx)) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (perm, access) in self.perms.iter().zip(compiled.table.iter()) {
            match access {
                CompiledAccess::None => {}
                CompiledAccess::All => {
                    out.push(RoleGrant { permission: perm.name.clone(), access: "all".into() })
                }
                CompiledAccess::Limited(limits) => {
                    for (_, written) in limits.iter() {
                        let grant = RoleGrant { permission: perm.name.clone(), access: written.to_string() };
                        if !out.contains(&grant) {
                            out.push(grant);
                        }
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use crate::{load_workspace_file, RoleGrant, Snapshot};

    #[test]
    fn grants_of_a_role_one_per_limit_aliases_resolved() {
        let (model, _) = load_workspace_file(
            "workspace: w\nroles:\n  r:\n    grants:\n      customers_view: all\n      \
             customers_edit: [own, team]\n      companies_view: none\n",
        )
        .unwrap();
        let snapshot = Snapshot::compile(&model).unwrap();
        let grant = |p: &str, a: &str| RoleGrant { permission: p.into(), access: a.into() };
        assert_eq!(
            snapshot.role_grants("r"),
            vec![
                grant("customers_view", "all"),
                grant("customers_update", "own"),
                grant("customers_update", "team")
            ]
        );
        assert!(snapshot.role_grants("nope").is_empty());
        assert!(!snapshot.role_grants("administrator").is_empty());
    }
}
