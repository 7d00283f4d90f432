//! The snapshot's own estimate of its heap memory, for the `memory`
//! benchmark (DESIGN.md §7: 1M users with assignments in ≤ 1 GiB).
//!
//! It counts the parts that grow with the workspace — the model the
//! snapshot keeps (users, assignments, teams), the compiled users (rows,
//! team and assignment arenas, distinct attribute sets, which the model's
//! users share and which are counted once), their hot rows,
//! the user and permission indexes, the role sets — from lengths and capacities, and
//! estimates what the collections cost beyond their entries (B-tree node
//! slack, hash-table control bytes). Roles, permissions and the schema are
//! counted roughly; they do not grow with users. Allocator overhead is not
//! counted: the benchmark reports the process's RSS beside this figure.

use std::mem::size_of;

use rustc_hash::FxHashSet;

use crate::model::{Assignment, Attributes, User};
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

/// A user's teams; its attributes are counted apart, once per allocation (see `attributes`).
fn user_heap(user: &User) -> usize {
    user.teams.capacity() * size_of::<String>() + strings(&user.teams)
}

/// Attribute sets: each allocation once, however many users share it
/// (after a compile, every user's set is one of `Snapshot::attribute_sets`).
fn attributes<'a>(sets: impl IntoIterator<Item = &'a Attributes>) -> usize {
    let mut seen = FxHashSet::default();
    sets.into_iter()
        .filter(|a| a.allocation().is_some_and(|at| seen.insert(at)))
        .map(Attributes::heap_bytes)
        .sum()
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
            + self.user_teams.capacity() * size_of::<u32>()
            + self.user_assignments.capacity() * size_of::<UserAssignment>()
            + self.attribute_sets.capacity() * size_of::<Attributes>()
            + attributes(model.users.values().map(|u| &u.attributes).chain(&self.attribute_sets));
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
    use serde_json::json;

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
    fn users_with_equal_attributes_share_one_set_after_compiling_and_it_is_counted_once() {
        let mut one = model(1_000);
        for (i, user) in one.users.values_mut().enumerate() {
            user.attributes = [("region".to_owned(), json!(["emea", "amer"][i % 2]))].into();
        }
        let snapshot = Snapshot::compile_owned(one.clone(), chrono::DateTime::UNIX_EPOCH, 1).unwrap();
        let users: Vec<&User> = snapshot.model().users.values().collect();
        assert_eq!(snapshot.model(), &one, "sharing changes no value");
        assert!(users.iter().step_by(2).all(|u| u.attributes.shares_with(&users[0].attributes)));
        assert!(users.iter().skip(1).step_by(2).all(|u| u.attributes.shares_with(&users[1].attributes)));
        assert!(!users[0].attributes.shares_with(&users[1].attributes));
        assert_eq!(snapshot.attribute_sets.len(), 3, "the empty set and two regions");
        // Two small sets, not a thousand: well under 100 bytes a user beyond the plain model's cost.
        let plain = Snapshot::compile(&model(1_000)).unwrap().approx_heap_bytes();
        assert!(snapshot.approx_heap_bytes() < plain + 1_000, "{} vs {plain}", snapshot.approx_heap_bytes());
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
