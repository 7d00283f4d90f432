//! A user's attributes (`user.<name>` in conditions): a small map from
//! names to JSON values, stored compactly because a workspace may have a
//! million users and most of them hold one or two attributes.
//!
//! Why not a `BTreeMap<String, Value>`: a B-tree allocates a whole 11-slot
//! leaf for its first entry, about 1 KB per user with one attribute (a
//! `Value` is 72 bytes when serde_json's `preserve_order` is on, as it is
//! whenever cedar-policy is linked). Here the entries are one sorted slice
//! behind an `Arc`: nothing for a user without attributes, one allocation
//! of exactly the entries otherwise, and users with equal attributes can
//! share one allocation: sets built one after another on a thread share
//! when equal (a small cache of recent sets, see `recent`), and
//! `Snapshot::compile_owned` makes every user's set the snapshot's copy.
//! Lookups are a binary search over a handful of entries. Changing a map
//! copies it (copy on write), which is cheap at these sizes; build large
//! ones with `collect` rather than by repeated `insert`.
//!
//! In files and JSON it is the same map as before: `attributes: {region: eu}`,
//! keys in sorted order, a later duplicate key replacing an earlier one.

use std::fmt;
use std::sync::Arc;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// One attribute: its name and value.
type Entry = (Box<str>, Value);

/// A user's attributes: names → JSON values, sorted by name, names unique.
#[derive(Clone, Default)]
pub struct Attributes {
    // INVARIANT: sorted by name, names unique, `None` rather than an empty slice.
    entries: Option<Arc<[Entry]>>,
}

impl Attributes {
    /// No attributes (allocates nothing).
    pub const fn new() -> Self {
        Attributes { entries: None }
    }

    fn slice(&self) -> &[Entry] {
        self.entries.as_deref().unwrap_or_default()
    }

    fn from_sorted(entries: Vec<Entry>) -> Self {
        Attributes { entries: if entries.is_empty() { None } else { Some(recent::shared(entries)) } }
    }

    /// A hash of the contents: equal sets hash equal.
    pub(crate) fn content_hash(&self) -> u64 {
        hash_entries(self.slice())
    }

    /// The value of the attribute `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        let entries = self.slice();
        let at = entries.binary_search_by(|(k, _)| (**k).cmp(name)).ok()?;
        entries.get(at).map(|(_, v)| v)
    }

    /// Whether the attribute `name` is set.
    pub fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// How many attributes there are.
    pub fn len(&self) -> usize {
        self.slice().len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_none()
    }

    /// The attributes in name order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &Value)> + DoubleEndedIterator {
        self.slice().iter().map(|(k, v)| (&**k, v))
    }

    /// The names in order.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &str> + DoubleEndedIterator {
        self.slice().iter().map(|(k, _)| &**k)
    }

    /// Sets `name` to `value`, returning the value it replaces (copies the entries: see the module docs).
    pub fn insert(&mut self, name: String, value: Value) -> Option<Value> {
        let mut entries = self.slice().to_vec();
        let old = match entries.binary_search_by(|(k, _)| (**k).cmp(name.as_str())) {
            Ok(at) => entries.get_mut(at).map(|(_, v)| std::mem::replace(v, value)),
            Err(at) => {
                entries.insert(at, (name.into_boxed_str(), value));
                None
            }
        };
        *self = Attributes::from_sorted(entries);
        old
    }

    /// Removes `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<Value> {
        let mut entries = self.slice().to_vec();
        let at = entries.binary_search_by(|(k, _)| (**k).cmp(name)).ok()?;
        let (_, old) = entries.remove(at);
        *self = Attributes::from_sorted(entries);
        Some(old)
    }

    /// The heap bytes these attributes hold, counted once however many users share them.
    pub(crate) fn heap_bytes(&self) -> usize {
        let Some(entries) = &self.entries else { return 0 };
        // The Arc's two counters, the entries, each name, and each value's own heap (roughly).
        2 * size_of::<usize>()
            + std::mem::size_of_val::<[Entry]>(entries)
            + entries.iter().map(|(k, v)| k.len() + value_heap(v)).sum::<usize>()
    }

    /// The address of the allocation, which sets sharing it have in common
    /// (`None` for an empty set, which has none).
    pub(crate) fn allocation(&self) -> Option<usize> {
        self.entries.as_ref().map(|a| Arc::as_ptr(a).cast::<()>() as usize)
    }

    /// Whether `self` and `other` share one allocation (then they are equal).
    #[cfg(test)]
    pub(crate) fn shares_with(&self, other: &Attributes) -> bool {
        self.allocation() == other.allocation()
    }
}

/// A rough count of the heap a JSON value owns (strings and arrays; objects roughly).
fn value_heap(value: &Value) -> usize {
    match value {
        Value::String(s) => s.capacity(),
        Value::Array(items) => {
            items.capacity() * size_of::<Value>() + items.iter().map(value_heap).sum::<usize>()
        }
        Value::Object(map) => {
            map.iter().map(|(k, v)| k.capacity() + size_of::<Value>() * 2 + value_heap(v)).sum()
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
    }
}

fn hash_entries(entries: &[Entry]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = rustc_hash::FxHasher::default();
    for (k, v) in entries {
        k.hash(&mut h);
        hash_value(v, &mut h);
    }
    h.finish()
}

fn hash_value(value: &Value, h: &mut impl std::hash::Hasher) {
    use std::hash::Hash;
    match value {
        Value::Null => 0u8.hash(h),
        Value::Bool(b) => (1u8, b).hash(h),
        Value::Number(n) => (2u8, n.as_f64().map(f64::to_bits), n.as_i64()).hash(h),
        Value::String(s) => (3u8, s).hash(h),
        Value::Array(items) => {
            (4u8, items.len()).hash(h);
            items.iter().for_each(|v| hash_value(v, h));
        }
        Value::Object(map) => {
            (5u8, map.len()).hash(h);
            for (k, v) in map {
                k.hash(h);
                hash_value(v, h);
            }
        }
    }
}

/// The sets most recently built on this thread, so that users built one
/// after another with equal attributes (a file or a store page of users in
/// a few regions) share one allocation from the start instead of each
/// allocating one, which the compile would then free and leave as a hole
/// in the heap. A small direct-mapped cache: a miss only costs a copy, and
/// the few sets it keeps alive are small (larger ones are not cached).
mod recent {
    use std::cell::RefCell;
    use std::sync::Arc;

    use super::{hash_entries, value_heap, Entry};

    const SLOTS: usize = 64;
    /// Sets with more entries, or more heap in their values, are not cached.
    const MAX_ENTRIES: usize = 8;
    const MAX_VALUE_HEAP: usize = 256;

    thread_local! {
        static RECENT: RefCell<Vec<Option<Arc<[Entry]>>>> = RefCell::new(vec![None; SLOTS]);
    }

    /// `entries` behind an `Arc`: a recently built equal set's, or a new one.
    pub(super) fn shared(entries: Vec<Entry>) -> Arc<[Entry]> {
        let small = entries.len() <= MAX_ENTRIES
            && entries.iter().map(|(_, v)| value_heap(v)).sum::<usize>() <= MAX_VALUE_HEAP;
        if !small {
            return entries.into();
        }
        let slot = (hash_entries(&entries) % SLOTS as u64) as usize;
        RECENT.with_borrow_mut(|cache| {
            let Some(cached) = cache.get_mut(slot) else { return entries.into() };
            if let Some(hit) = cached.as_ref().filter(|c| ***c == *entries) {
                return Arc::clone(hit);
            }
            let fresh: Arc<[Entry]> = entries.into();
            *cached = Some(Arc::clone(&fresh));
            fresh
        })
    }
}

impl PartialEq for Attributes {
    fn eq(&self, other: &Self) -> bool {
        self.allocation() == other.allocation() || self.slice() == other.slice()
    }
}

impl Eq for Attributes {}

impl fmt::Debug for Attributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: Into<String>> FromIterator<(K, Value)> for Attributes {
    /// Later entries replace earlier ones with the same name, as in a map.
    fn from_iter<I: IntoIterator<Item = (K, Value)>>(iter: I) -> Self {
        let mut entries: Vec<Entry> = iter.into_iter().map(|(k, v)| (k.into().into_boxed_str(), v)).collect();
        // Reversed, then a stable sort: the first of each run of equal names
        // is the one given last, which `dedup_by` keeps.
        entries.reverse();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries.dedup_by(|later, kept| later.0 == kept.0);
        Attributes::from_sorted(entries)
    }
}

impl<K: Into<String>, const N: usize> From<[(K, Value); N]> for Attributes {
    fn from(entries: [(K, Value); N]) -> Self {
        entries.into_iter().collect()
    }
}

impl From<std::collections::BTreeMap<String, Value>> for Attributes {
    fn from(map: std::collections::BTreeMap<String, Value>) -> Self {
        map.into_iter().collect()
    }
}

impl<'a> IntoIterator for &'a Attributes {
    type Item = (&'a str, &'a Value);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, Entry>, fn(&'a Entry) -> (&'a str, &'a Value)>;

    fn into_iter(self) -> Self::IntoIter {
        fn pair(entry: &Entry) -> (&str, &Value) {
            (&entry.0, &entry.1)
        }
        self.slice().iter().map(pair as fn(&'a Entry) -> (&'a str, &'a Value))
    }
}

impl Serialize for Attributes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (k, v) in self {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Attributes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor;
        impl<'de> Visitor<'de> for MapVisitor {
            type Value = Attributes;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of attribute names to values")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Attributes, A::Error> {
                let mut entries: Vec<(String, Value)> =
                    Vec::with_capacity(access.size_hint().unwrap_or(0).min(64));
                while let Some(entry) = access.next_entry::<String, Value>()? {
                    entries.push(entry);
                }
                Ok(entries.into_iter().collect())
            }
        }
        deserializer.deserialize_map(MapVisitor)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::Attributes;

    #[test]
    fn a_map_in_json_sorted_and_last_duplicate_wins() {
        let attrs: Attributes = serde_json::from_str(r#"{"z": 1, "a": "x", "z": 2}"#).unwrap();
        assert_eq!(attrs.len(), 2);
        assert_eq!(attrs.get("z"), Some(&json!(2)));
        assert_eq!(serde_json::to_string(&attrs).unwrap(), r#"{"a":"x","z":2}"#);
        assert_eq!(format!("{attrs:?}"), r#"{"a": String("x"), "z": Number(2)}"#);
    }

    #[test]
    fn insert_and_remove_keep_the_order_and_empty_allocates_nothing() {
        let mut attrs = Attributes::new();
        assert!(attrs.is_empty());
        assert_eq!(attrs.insert("b".into(), json!(1)), None);
        assert_eq!(attrs.insert("a".into(), json!(2)), None);
        assert_eq!(attrs.insert("b".into(), json!(3)), Some(json!(1)));
        assert_eq!(attrs.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(attrs.remove("a"), Some(json!(2)));
        assert_eq!(attrs.remove("a"), None);
        assert_eq!(attrs.remove("b"), Some(json!(3)));
        assert!(attrs.is_empty());
        assert_eq!(attrs, Attributes::default());
        assert_eq!(attrs.heap_bytes(), 0);
    }

    #[test]
    fn equal_whatever_the_order_built_in_and_built_one_after_another_share() {
        let a: Attributes = [("x", json!(1)), ("y", json!("t"))].into();
        let b: Attributes = [("y", json!("t")), ("x", json!(1))].into();
        assert_eq!(a, b);
        assert!(a.shares_with(&b), "the recent-sets cache gives b a's allocation");
        let c: Attributes = [("x", json!(2))].into();
        assert_ne!(a, c);
        assert!(!a.shares_with(&c));
        let big: Attributes = [("x", json!("a".repeat(1_000)))].into();
        let again: Attributes = [("x", json!("a".repeat(1_000)))].into();
        assert_eq!(big, again);
        assert!(!big.shares_with(&again), "large sets are not cached");
    }
}
