//! Resolving the names of a decision request before deciding it.
//!
//! [`Snapshot::check`] stays total: an unknown permission or user is a deny,
//! because a decision never fails. A caller answering a person (the CLI,
//! the HTTP API) resolves the names first, so that a typo is reported as
//! the input error it is — with the nearest valid name — rather than as a
//! quiet deny that looks like a missing grant.

use std::fmt;

use crate::ids::{PermId, UserId};
use crate::snapshot::Snapshot;
use crate::suggest::nearest;

/// What kind of name did not resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// A permission (`customers_view`; aliases such as `customers_edit` resolve).
    Permission,
    /// A user key of the workspace.
    User,
}

/// A name the workspace does not know, with the nearest one it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    /// Permission or user.
    pub kind: NameKind,
    /// The name as given.
    pub name: String,
    /// The nearest valid name, when one is close enough to be a likely typo.
    pub suggestion: Option<String>,
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            NameKind::Permission => "permission",
            NameKind::User => "user",
        };
        write!(f, "unknown {kind} `{}`", self.name)?;
        if let Some(suggestion) = &self.suggestion {
            write!(f, "; did you mean `{suggestion}`?")?;
        }
        Ok(())
    }
}

impl std::error::Error for UnknownName {}

impl Snapshot {
    /// The handle of `name` when it is a permission of this workspace (an
    /// alias counts), so that the caller decides on it without looking the
    /// name up again.
    pub fn resolve_permission(&self, name: &str) -> Result<PermId, UnknownName> {
        if let Some(id) = self.perm_id(name) {
            return Ok(id);
        }
        // Suggest canonical names only: an alias is never the better spelling.
        let suggestion = nearest(name, self.permission_names()).map(str::to_owned);
        Err(UnknownName { kind: NameKind::Permission, name: name.to_owned(), suggestion })
    }

    /// The handle of `name` when it is a user of this workspace.
    pub fn resolve_user(&self, name: &str) -> Result<UserId, UnknownName> {
        if let Some(id) = self.user_id(name) {
            return Ok(id);
        }
        let suggestion = nearest(name, self.user_ids.keys()).map(str::to_owned);
        Err(UnknownName { kind: NameKind::User, name: name.to_owned(), suggestion })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load_workspace_file;

    fn snapshot() -> Snapshot {
        let (model, _) = load_workspace_file("workspace: acme\nusers: { rita: {}, tom: {} }\n").unwrap();
        Snapshot::compile(&model).unwrap()
    }

    #[test]
    fn known_names_and_aliases_resolve() {
        let s = snapshot();
        assert_eq!(s.resolve_permission("customers_view").ok(), s.perm_id("customers_view"));
        assert_eq!(s.resolve_permission("customers_edit").ok(), s.perm_id("customers_update"));
        assert_eq!(s.resolve_user("rita").ok(), s.user_id("rita"));
    }

    #[test]
    fn unknown_names_carry_the_nearest_one() {
        let s = snapshot();
        let error = s.resolve_permission("customer_view").unwrap_err();
        assert_eq!(error.to_string(), "unknown permission `customer_view`; did you mean `customers_view`?");
        let error = s.resolve_user("ritta").unwrap_err();
        assert_eq!(error.to_string(), "unknown user `ritta`; did you mean `rita`?");
        assert_eq!(s.resolve_user("zzzzzz").unwrap_err().suggestion, None);
    }
}
