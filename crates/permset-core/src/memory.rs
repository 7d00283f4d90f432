//! The snapshot's own estimate of its heap memory, for the `memory`
//! benchmark (DESIGN.md §7: 1M users with assignments in ≤ 1 GiB).
//!
//! It counts the parts that grow with the workspace — the model the
//! snapshot keeps (users, assignments, teams), the compiled users (rows,
//! team and assignment arenas, distinct attribute maps), their hot rows,
//! the user and permission indexes, the role sets — from lengths and capacities, and
//! estimates what the collections cost beyond their entries (B-tree node
//! slack, hash-table control bytes). Roles, permissions and the schema are
//! counted roughly; they do not grow with users. Allocator overhead is not
//! counted: the benchmark reports the process's RSS beside this figure.

use std::collections::BTreeMap;
use std::mem::size_of;

use crate::model::{Assignment, User};
use crate::role_set::{RoleSet, UserHot};
use crate::snapshot::{CompiledUser, Snapshot, UserAssignment};

/// A B-tree of `len` entries: leaf nodes of 11 slots (plus a header), the
/// first one allocated whole however few entries it holds, later ones about
/// half full when filled in key order; internal nodes add about a sixth.
fn btree_entries<K, V>(len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    let node = 11 * (size_of::<K>() + size_of::<V>()) + 16;
    let leaves = (len * 2).div_ceil(11).max(1);
    leaves * node + leaves / 6 * (node + 12 * size_of::<usize>())
}

fn strings<'a>(items: impl IntoIterator<Item = &'a String>) -> usize {
    items.into_iter().map(String::capacity).sum()
}

fn user_heap(user: &User) -> usize {
    user.teams.capacity() * size_of::<String>()
        + strings(&user.teams)
        + btree_entries::<String, serde_json::Value>(user.attributes.len())
        + strings(user.attributes.keys())
}

impl Snapshot {
    /// An estimate of the heap memory this snapshot holds, in bytes (see
    /// the module docs for what is counted). Cheap enough to call after each
    /// compile: one pass over users and assignments.
    pub fn approx_heap_bytes(&self) -> usize {
        let model = &self.model;
        let model_users: usize = btree_entries::<String, User>(model.users.len())
            + model.users.iter().map(|(k, u)| k.capacity() + user_heap(u)).sum::<usize>();
        let model_assignments: usize = [&model.assignments.users, &model.assignments.teams]
            .iter()
            .map(|map| {
                btree_entries::<String, Vec<Assignment>>(map.len())
                    + map
                        .iter()
                        .map(|(k, list)| {
                            k.capacity()
                                + list.capacity() * size_of::<Assignment>()
                                + strings(list.iter().map(|a| &a.role))
                        })
                        .sum::<usize>()
            })
            .sum();
        let model_teams = btree_entries::<String, crate::model::Team>(model.teams.len())
            + model
                .teams
                .iter()
                .map(|(k, t)| k.capacity() + t.name.as_ref().map_or(0, String::capacity))
                .sum::<usize>();
        // Compiled users: fixed-size rows, and the arenas their variable parts live in.
        let compiled_users: usize = self.users.capacity() * size_of::<CompiledUser>()
            + self.user_teams.capacity() * size_of::<String>()
            + strings(&self.user_teams)
            + self.user_assignments.capacity() * size_of::<UserAssignment>()
            + self.attribute_sets.capacity() * size_of::<BTreeMap<String, serde_json::Value>>()
            + self
                .attribute_sets
                .iter()
                .map(|a| btree_entries::<String, serde_json::Value>(a.len()) + strings(a.keys()))
                .sum::<usize>();
        let hot = self.hot.capacity() * size_of::<UserHot>();
        let user_index = self.user_ids.heap_bytes() + self.perm_ids.heap_bytes();
        // Each role set: its role list and two bitsets over the permissions.
        let words = self.perms.len().div_ceil(64);
        let role_sets: usize = [&self.role_sets, &self.single_sets]
            .iter()
            .map(|sets| {
                sets.capacity() * size_of::<RoleSet>()
                    + sets.iter().map(|s| s.roles.len() * size_of::<u32>() + 2 * words * 8).sum::<usize>()
            })
            .sum();
        let roles: usize = self
            .roles
            .iter()
            .map(|r| r.key.capacity() + btree_entries::<String, crate::model::Grant>(r.role.grants.len()) * 2)
            .sum::<usize>()
            + btree_entries::<String, crate::model::Role>(model.roles.len());
        let teams = self.team_keys.capacity() * size_of::<String>() + strings(&self.team_keys);
        let rest = self.perms.capacity() * 128 + self.objects.len() * 1024 + self.warnings.capacity() * 128;
        model_users
            + model_assignments
            + model_teams
            + compiled_users
            + hot
            + user_index
            + role_sets
            + roles
            + teams
            + rest
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{Assignment, Model, User};
    use crate::snapshot::Snapshot;

    fn model(users: usize) -> Model {
        let mut model = Model { workspace: "acme".into(), ..Model::default() };
        for i in 0..users {
            let key = format!("user-{i:06}");
            model.assignments.users.insert(key.clone(), vec![Assignment::new("support_agent")]);
            model.users.insert(key, User::default());
        }
        model
    }

    #[test]
    fn approx_heap_bytes_grows_with_users_and_counts_each_one() {
        let small = Snapshot::compile(&model(10)).unwrap().approx_heap_bytes();
        let large = Snapshot::compile(&model(10_010)).unwrap().approx_heap_bytes();
        // Each user is at least its key twice (model and index arena), an index slot, rows and an assignment.
        let per_user = (large - small) / 10_000;
        assert!(per_user > 100, "{per_user} bytes per user");
        assert!(per_user < 10_000, "{per_user} bytes per user");
    }
}
