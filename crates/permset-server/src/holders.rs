//! Who holds each role, counted (`GET /roles?view=summary`'s `holders`): how
//! many users hold it directly and which teams hold it with how many members.
//! The console's list of 1,000 roles draws its "held by" lines from these
//! counts instead of downloading every assignment and user. Assignments and
//! membership are what `GET /assignments` and `GET /users` show, so the route
//! adds these counts only for a caller who may read those (`users_view`).

use std::collections::{BTreeMap, HashMap};

use permset_core::Model;
use serde_json::{json, Value};

/// Role key → `{users, teams: [[team, members]]}` for every role someone holds (expired
/// assignments included, as in `GET /assignments`).
pub(crate) fn counts(model: &Model) -> HashMap<&str, Value> {
    let mut members: HashMap<&str, usize> = HashMap::new();
    for user in model.users.values() {
        for team in &user.teams {
            *members.entry(team.as_str()).or_default() += 1;
        }
    }
    let mut users: HashMap<&str, usize> = HashMap::new();
    for list in model.assignments.users.values() {
        for a in list {
            *users.entry(a.role.as_str()).or_default() += 1;
        }
    }
    let mut teams: HashMap<&str, BTreeMap<&str, usize>> = HashMap::new();
    for (team, list) in &model.assignments.teams {
        for a in list {
            let size = members.get(team.as_str()).copied().unwrap_or(0);
            teams.entry(a.role.as_str()).or_default().insert(team, size);
        }
    }
    let roles = users.keys().chain(teams.keys()).copied().collect::<Vec<_>>();
    roles
        .into_iter()
        .map(|role| {
            let held = json!({
                "users": users.get(role).copied().unwrap_or(0),
                "teams": teams.get(role).map(|t| t.iter().collect::<Vec<_>>()).unwrap_or_default(),
            });
            (role, held)
        })
        .collect()
}
