//! Where a change comes from, beyond its free-text reason: a change made
//! because an access review flagged it carries [`Origin::Review`], and the
//! audit entry records it (docs/WHATIF.md, "Access reviews").
//!
//! The marker gives nothing: the change is authorised exactly as it would
//! be without it. It only narrows what may be sent: a change marked as a
//! review may only take assignments away ([`only_revokes`]), so an auditor
//! reading `origin: review` knows nobody gained anything by it.

use std::fmt;

use crate::change::ModelChange;
use crate::model::Model;
use crate::suggest::nearest;

/// The origin of a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A revocation proposed by an access review.
    Review,
}

/// Every origin's name, for messages.
const NAMES: [&str; 1] = ["review"];

impl Origin {
    /// The name stored and shown (`review`).
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Review => "review",
        }
    }

    /// Reads an origin's name; an unknown one is an error naming the valid ones.
    pub fn parse(text: &str) -> Result<Origin, UnknownOrigin> {
        match text {
            "review" => Ok(Origin::Review),
            _ => {
                let hint = match nearest(text, NAMES) {
                    Some(name) => format!("did you mean `{name}`?"),
                    None => format!("the only origin is `{}`", NAMES.join("`, `")),
                };
                Err(UnknownOrigin { name: text.to_owned(), hint })
            }
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An origin name that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown origin `{name}`; {hint}")]
pub struct UnknownOrigin {
    name: String,
    hint: String,
}

/// Whether `change` on `model` only takes assignments away: an `unassign`,
/// or a whole new model that is `model` with some assignments removed and
/// nothing else changed (what `permset review --propose` writes).
pub fn only_revokes(model: &Model, change: &ModelChange) -> bool {
    match change {
        ModelChange::Unassign { .. } => true,
        ModelChange::Replace { model: new } => {
            let kept =
                |old: &std::collections::BTreeMap<String, Vec<crate::model::Assignment>>,
                 new: &std::collections::BTreeMap<String, Vec<crate::model::Assignment>>| {
                    new.iter().all(|(holder, list)| {
                        let before = old.get(holder).map_or(&[][..], Vec::as_slice);
                        list.iter().all(|a| before.contains(a))
                    })
                };
            let mut same_but_assignments = model.clone();
            same_but_assignments.assignments = new.assignments.clone();
            same_but_assignments == **new
                && kept(&model.assignments.users, &new.assignments.users)
                && kept(&model.assignments.teams, &new.assignments.teams)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load_workspace_file;

    fn model(text: &str) -> Model {
        load_workspace_file(text).unwrap_or_else(|e| panic!("{e:?}")).0
    }

    const BASE: &str = "workspace: w\nusers:\n  a: { kind: agent }\n  b: { kind: agent }\n\
                        assignments:\n  users:\n    a: [light_agent, contributor]\n    b: [light_agent]\n";

    #[test]
    fn a_review_may_take_assignments_away_and_nothing_else() {
        let old = model(BASE);
        let replace = |text: &str| ModelChange::Replace { model: Box::new(model(text)) };
        let fewer = "workspace: w\nusers:\n  a: { kind: agent }\n  b: { kind: agent }\n\
                     assignments:\n  users:\n    a: [contributor]\n";
        assert!(only_revokes(&old, &replace(fewer)));
        assert!(only_revokes(&old, &replace(BASE)));
        let more = "workspace: w\nusers:\n  a: { kind: agent }\n  b: { kind: agent }\n\
                    assignments:\n  users:\n    a: [light_agent, contributor]\n    b: [light_agent, administrator]\n";
        assert!(!only_revokes(&old, &replace(more)));
        // Swapping one role for another is not a revocation, nor is anything beside assignments.
        let swapped = "workspace: w\nusers:\n  a: { kind: agent }\n  b: { kind: agent }\n\
                       assignments:\n  users:\n    a: [light_agent, contributor]\n    b: [administrator]\n";
        assert!(!only_revokes(&old, &replace(swapped)));
        let other = "workspace: w\nusers:\n  a: { kind: agent, account_owner: true }\n  b: { kind: agent }\n\
                     assignments:\n  users:\n    a: [contributor]\n";
        assert!(!only_revokes(&old, &replace(other)));
        let unassign = ModelChange::Unassign { holder: crate::Holder::User("a".into()), role: "x".into() };
        assert!(only_revokes(&old, &unassign));
        let assign = ModelChange::Assign {
            holder: crate::Holder::User("a".into()),
            role: "x".into(),
            expires_at: None,
        };
        assert!(!only_revokes(&old, &assign));
    }

    #[test]
    fn unknown_origins_name_the_valid_one() {
        assert_eq!(Origin::parse("review"), Ok(Origin::Review));
        let error = Origin::parse("reveiw").unwrap_err().to_string();
        assert_eq!(error, "unknown origin `reveiw`; did you mean `review`?");
        let error = Origin::parse("robot").unwrap_err().to_string();
        assert_eq!(error, "unknown origin `robot`; the only origin is `review`");
    }
}
