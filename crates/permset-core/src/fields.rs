//! Rule 7 of DESIGN.md §2, field permissions: each role's level on every
//! field of every object, computed once at compile time into a dense table,
//! and the questions asked of it — a user's level on a field, and the first
//! field a write touches below `edit`, which `check` and the store's writes
//! both ask, so that `check` answers what the write will do.
//!
//! The table is the one definition of a role's field level: an explicit
//! field permission wins; a protected field gets nothing else; otherwise the
//! role gives `edit` where it holds the object's `update` (or, for a record
//! being created, `create`) with any access, `read` where it holds `view`.

use chrono::{DateTime, Utc};

use crate::decide::{Actor, Request};
use crate::model::FieldLevel;
use crate::snapshot::{CompiledAccess, CompiledRole, ObjectInfo, PermInfo, RoleIdx, Snapshot};
use crate::Record;

/// One role's levels, `[object index][field index]` → `[level when
/// updating, level when creating]`. A row has one more entry than the
/// object has fields: the record `id`.
pub(crate) type FieldTable = Box<[Box<[[FieldLevel; 2]]>]>;

/// The fields a write touches, `id` excepted: for an update, those whose
/// value differs between `before` and `after` or that are present in one
/// only; for a create, every field of the new record. A `null` value is
/// the same as no value (the store removes a field patched to `null`, and
/// never stores one).
pub(crate) fn touched<'r>(after: &'r Record, before: Option<&'r Record>) -> impl Iterator<Item = &'r str> {
    // The two states of a record nearly always list the same fields in the
    // same order (always, when records are sorted maps), so each field's
    // other value is first looked for at the same position — a key compare —
    // and only then by a hashed lookup.
    fn other<'r>(
        record: &'r Record,
        beside: &mut serde_json::map::Iter<'r>,
        field: &str,
    ) -> Option<&'r serde_json::Value> {
        let value = match beside.next() {
            Some((key, value)) if key == field => Some(value),
            _ => record.get(field),
        };
        value.filter(|v| !v.is_null())
    }
    let mut before_iter = before.map(|b| b.iter());
    let changed = after.iter().filter(move |(field, value)| match (before, before_iter.as_mut()) {
        (Some(b), Some(beside)) => {
            let old = other(b, beside, field);
            !value.is_null() && old != Some(*value)
        }
        _ => !value.is_null(),
    });
    let mut after_iter = after.iter();
    let removed = before
        .into_iter()
        .flat_map(|b| b.iter())
        .filter(move |(field, value)| other(after, &mut after_iter, field).is_none() && !value.is_null());
    changed.chain(removed).map(|(field, _)| field.as_str()).filter(|field| *field != "id")
}

impl Snapshot {
    /// Builds a role's field table over `objects` (in index order).
    pub(crate) fn field_table(&self, role: &CompiledRole, objects: &[(&str, &ObjectInfo)]) -> FieldTable {
        let row = |name: &str, info: &ObjectInfo| -> Box<[[FieldLevel; 2]]> {
            let implied = self.implied_field_levels(role, name);
            let fields = info.def.fields.iter().map(|(f, def)| (f.as_str(), def.protected));
            fields
                .chain([("id", false)])
                .map(|(field, protected)| match role.role.fields.get(&format!("{name}.{field}")) {
                    Some(&level) => [level, level],
                    None if protected => [FieldLevel::None; 2],
                    None => implied,
                })
                .collect()
        };
        objects.iter().map(|(name, info)| row(name, info)).collect()
    }

    /// The levels a role gives an unprotected field of `object` it names no
    /// permission for, `[when updating, when creating]`: `edit` where it may
    /// update the object (or create, for a new record), `read` where it may view it.
    pub(crate) fn implied_field_levels(&self, role: &CompiledRole, object: &str) -> [FieldLevel; 2] {
        let holds = |action: &str| {
            self.perm_ids
                .get(&format!("{object}_{action}"))
                .and_then(|&id| role.table.get(id as usize))
                .is_some_and(|a| !matches!(a, CompiledAccess::None))
        };
        let (update, create, view) = (holds("update"), holds("create"), holds("view"));
        let implied = |creating: bool| {
            if update || (creating && create) {
                FieldLevel::Edit
            } else if view {
                FieldLevel::Read
            } else {
                FieldLevel::None
            }
        };
        [implied(false), implied(true)]
    }

    /// The highest level `roles` give on a field; `None` for a field the object does not have.
    pub(crate) fn roles_field_level(
        &self,
        roles: &[RoleIdx],
        object: &ObjectInfo,
        field: &str,
        creating: bool,
    ) -> FieldLevel {
        let Some(&i) = object.field_index.get(field) else { return FieldLevel::None };
        roles
            .iter()
            .filter_map(|&r| self.role_at(r)?.field_levels.get(object.index as usize)?.get(i as usize))
            .map(|levels| if creating { levels[1] } else { levels[0] })
            .max()
            .unwrap_or(FieldLevel::None)
    }

    /// Rule 7 inside `check`: the first field an `update` (with `before`) or
    /// a `create` touches that `roles` do not give at `edit`. `None` for any
    /// other action, for an update without `before` (nothing changes), and
    /// for a write that touches only writable fields.
    pub(crate) fn first_unwritable_in<'r>(
        &self,
        roles: &[RoleIdx],
        info: &PermInfo,
        record: &'r Record,
        before: Option<&'r Record>,
    ) -> Option<&'r str> {
        let creating = info.is_create;
        if !(creating || info.is_update && before.is_some()) {
            return None;
        }
        let object = self.objects.get(info.object? as usize)?;
        let before = if creating { None } else { before };
        touched(record, before)
            .find(|f| self.roles_field_level(roles, object, f, creating) < FieldLevel::Edit)
    }

    /// Rule 7: the actor's access to one field of an object.
    pub fn field_level<'a>(
        &self,
        actor: impl Into<Actor<'a>>,
        object: &str,
        field: &str,
        now: DateTime<Utc>,
    ) -> FieldLevel {
        self.field_level_for(actor.into(), object, field, now, false)
    }

    fn field_level_for(
        &self,
        actor: Actor<'_>,
        object: &str,
        field: &str,
        now: DateTime<Utc>,
        creating: bool,
    ) -> FieldLevel {
        let Some(user) = self.user(actor.user) else { return FieldLevel::None };
        let Some(info) = self.object(object).filter(|o| o.field_index.contains_key(field)) else {
            return FieldLevel::None;
        };
        let level = if user.account_owner {
            FieldLevel::Edit
        } else {
            self.with_roles(user, now, |roles| self.roles_field_level(roles, info, field, creating))
        };
        match actor.scope {
            None => level,
            Some(scope) => match self.role_ids.get(scope) {
                Some(&role) => level.min(self.roles_field_level(&[role], info, field, creating)),
                None => FieldLevel::None,
            },
        }
    }

    /// Rule 7 for every field of an object (plus `id`, readable whenever the object is).
    pub fn field_levels<'a>(
        &self,
        actor: impl Into<Actor<'a>>,
        object: &str,
        now: DateTime<Utc>,
    ) -> Vec<(String, FieldLevel)> {
        let actor = actor.into();
        let Some(def) = self.object(object) else { return Vec::new() };
        let mut out: Vec<(String, FieldLevel)> =
            def.def.fields.keys().map(|f| (f.clone(), self.field_level(actor, object, f, now))).collect();
        let view = format!("{object}_view");
        let id_level = if self.check_scoped(&Request::new(actor.user, &view, now), actor.scope).is_allowed() {
            FieldLevel::Read
        } else {
            FieldLevel::None
        };
        out.push(("id".to_owned(), id_level));
        out
    }

    /// Rule 7 for an update: the first touched field the actor may not edit, if any.
    pub fn first_unwritable_field<'a, 'f>(
        &self,
        actor: impl Into<Actor<'a>>,
        object: &str,
        fields: impl IntoIterator<Item = &'f str>,
        now: DateTime<Utc>,
    ) -> Option<&'f str> {
        self.first_field_below_edit(actor.into(), object, fields, now, false)
    }

    /// Rule 7 for a create: the first given field the actor may not fill, if
    /// any. Like [`Snapshot::first_unwritable_field`], except that a role
    /// allowed to create the object may fill its unprotected fields without
    /// an explicit field permission.
    pub fn first_uncreatable_field<'a, 'f>(
        &self,
        actor: impl Into<Actor<'a>>,
        object: &str,
        fields: impl IntoIterator<Item = &'f str>,
        now: DateTime<Utc>,
    ) -> Option<&'f str> {
        self.first_field_below_edit(actor.into(), object, fields, now, true)
    }

    fn first_field_below_edit<'f>(
        &self,
        actor: Actor<'_>,
        object: &str,
        fields: impl IntoIterator<Item = &'f str>,
        now: DateTime<Utc>,
        creating: bool,
    ) -> Option<&'f str> {
        fields
            .into_iter()
            .find(|f| *f != "id" && self.field_level_for(actor, object, f, now, creating) < FieldLevel::Edit)
    }
}

#[cfg(test)]
mod tests {
    use super::touched;
    use crate::Record;

    fn record(value: serde_json::Value) -> Record {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn touched_pairs_fields_by_name_when_positions_shift() {
        // `b` only before, `d` only after, `e` null after: every position after `a` is shifted.
        let before = record(serde_json::json!({"a": 1, "b": 5, "c": 3, "e": 1, "id": "x"}));
        let after = record(serde_json::json!({"a": 1, "c": 2, "d": 4, "e": null, "id": "y"}));
        let mut got: Vec<&str> = touched(&after, Some(&before)).collect();
        got.sort_unstable();
        assert_eq!(got, ["b", "c", "d", "e"]);
        let same: Vec<&str> = touched(&before, Some(&before)).collect();
        assert!(same.is_empty(), "{same:?}");
        let created: Vec<&str> = touched(&after, None).collect();
        assert_eq!(created, ["a", "c", "d"]);
    }
}
