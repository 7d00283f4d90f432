//! A read-only index from names (user keys, permission names) to `u32`
//! values, built once per compile for the two name lookups every
//! [`crate::Snapshot::check`] by name makes.
//!
//! Why not a `HashMap<String, u32>`: with one, a lookup hashes the name,
//! probes, then follows the bucket's `String` pointer to another allocation
//! and compares with `memcmp` — about 100 instructions and two cache
//! misses per name on a workspace of 10,000 users, most of a role-level
//! check. Here each slot (32 bytes, never straddling a cache line) holds
//! the name itself when it is at most 24 bytes long (every user key and
//! nearly every permission name), packed into three words so that equality
//! is three integer compares and a length compare; longer names keep their
//! first 16 bytes inline and the rest in one shared arena. Every key is
//! stored once, in that arena, in insertion order, which is also where
//! [`NameIndex::key`] reads a user's key back (the compiled users do not
//! copy it).
//!
//! The hash is seeded per index from the standard library's random keys, so
//! user keys chosen to collide (a tenant administrator names the users) do
//! not give long probe sequences predictably. Open addressing with linear
//! probing at a load factor of at most two thirds.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// Names up to this many bytes are compared inline.
const INLINE: usize = 24;
/// The value of an empty slot.
const EMPTY: u32 = u32::MAX;

/// One bucket: the name packed into `words` (see [`words`]); for a name
/// longer than [`INLINE`], `words[2]` is instead the name's offset in the arena.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(32))]
struct Slot {
    words: [u64; 3],
    len: u32,
    value: u32,
}

/// A vacant slot's length is one no stored name has, so a lookup's
/// first-word-and-length test never matches it (not even for "").
const VACANT: Slot = Slot { words: [0; 3], len: u32::MAX, value: EMPTY };

/// Names → values, immutable once built.
#[derive(Debug)]
pub(crate) struct NameIndex {
    slots: Box<[Slot]>,
    mask: usize,
    seed: [u64; 2],
    /// Every key, concatenated in insertion order.
    arena: String,
    /// Where each entry's key starts in `arena`, and one past the last.
    starts: Box<[usize]>,
}

impl Default for NameIndex {
    fn default() -> Self {
        NameIndex::build(std::iter::empty())
    }
}

/// The low 64 bits of `x * y` folded with the high 64: a cheap, good mixer
/// (the one foldhash and wyhash are built on).
#[inline(always)]
fn fold(x: u64, y: u64) -> u64 {
    let product = u128::from(x) * u128::from(y);
    (product as u64) ^ ((product >> 64) as u64)
}

/// The first eight bytes (`bytes.len() >= 8` where it is called; 0 otherwise).
#[inline(always)]
fn head8(bytes: &[u8]) -> u64 {
    bytes.first_chunk::<8>().map_or(0, |b| u64::from_le_bytes(*b))
}

/// The last eight bytes (as [`head8`]).
#[inline(always)]
fn tail8(bytes: &[u8]) -> u64 {
    bytes.last_chunk::<8>().map_or(0, |b| u64::from_le_bytes(*b))
}

/// The first and last four bytes, overlapping for 4 to 7 bytes.
#[inline(always)]
fn ends4(bytes: &[u8]) -> u64 {
    let head = bytes.first_chunk::<4>().map_or(0, |b| u32::from_le_bytes(*b));
    let tail = bytes.last_chunk::<4>().map_or(0, |b| u32::from_le_bytes(*b));
    u64::from(head) | u64::from(tail) << 32
}

/// A name of `n` bytes as three words. For `n <= INLINE` the words and `n`
/// together determine every byte (the reads overlap, never leave gaps), so
/// equal words and lengths mean equal names; longer names give their first
/// 24 bytes. Each read is one whole-chunk load with one length check (the
/// branches above it already decided the length), not a ranged slice.
#[inline(always)]
fn words(bytes: &[u8]) -> [u64; 3] {
    let n = bytes.len();
    if n >= 8 {
        if n <= 16 {
            [head8(bytes), tail8(bytes), 0]
        } else {
            let middle = head8(bytes.get(8..).unwrap_or_default());
            let last = if n <= INLINE { tail8(bytes) } else { head8(bytes.get(16..).unwrap_or_default()) };
            [head8(bytes), middle, last]
        }
    } else if n >= 4 {
        [ends4(bytes), 0, 0]
    } else if n > 0 {
        let byte = |at: usize| bytes.get(at).copied().map_or(0, u64::from);
        [byte(0) | byte(n / 2) << 8 | byte(n - 1) << 16, 0, 0]
    } else {
        [0; 3]
    }
}

impl NameIndex {
    /// An index of `entries`, in order. A key given twice keeps its first value.
    pub(crate) fn build<'a>(entries: impl IntoIterator<Item = (&'a str, u32)>) -> NameIndex {
        let entries = entries.into_iter();
        let mut keys: Vec<(&str, u32)> = Vec::with_capacity(entries.size_hint().0);
        keys.extend(entries);
        let n = keys.len();
        let capacity = (n + n / 2 + 1).next_power_of_two().max(2);
        let state = RandomState::new();
        let mut hasher = state.build_hasher();
        hasher.write_usize(n);
        let s0 = hasher.finish() | 1;
        hasher.write_u64(s0);
        let s1 = hasher.finish() | 1;
        let mut index = NameIndex {
            slots: vec![VACANT; capacity].into_boxed_slice(),
            mask: capacity - 1,
            seed: [s0, s1],
            arena: String::with_capacity(keys.iter().map(|(k, _)| k.len()).sum()),
            starts: Box::default(),
        };
        let mut starts = Vec::with_capacity(n + 1);
        for (key, value) in keys {
            if value == EMPTY || key.len() >= u32::MAX as usize || index.get(key).is_some() {
                continue;
            }
            let at = index.arena.len();
            index.arena.push_str(key);
            starts.push(at);
            let bytes = key.as_bytes();
            let mut slot = Slot { words: words(bytes), len: key.len() as u32, value };
            let mut i = index.hash(slot.words, bytes) as usize;
            if bytes.len() > INLINE {
                slot.words[2] = at as u64;
            }
            // INVARIANT: the load factor stays below 1, so a vacant slot exists.
            while let Some(bucket) = index.slots.get_mut(i & index.mask) {
                if bucket.value == EMPTY {
                    *bucket = slot;
                    break;
                }
                i = i.wrapping_add(1);
            }
        }
        starts.push(index.arena.len());
        index.starts = starts.into_boxed_slice();
        index
    }

    /// The bucket hash of a name given as its [`words`]. One multiply for
    /// names of up to 16 bytes (user keys and most permission names), a
    /// second for up to 24, then one per further 8 bytes. The length is
    /// mixed in so that names whose words agree (a short name and its
    /// doubled form) rarely share a bucket; equality never relies on it.
    #[inline(always)]
    fn hash(&self, words: [u64; 3], bytes: &[u8]) -> u64 {
        let [s0, s1] = self.seed;
        let mut h = fold(words[0] ^ s0, words[1] ^ s1 ^ bytes.len() as u64);
        if bytes.len() > 16 {
            h = fold(h ^ words[2], s0);
        }
        // Names longer than the inline part: the rest of the bytes too, so
        // that names sharing their first 24 bytes do not share a bucket.
        if let Some(rest) = bytes.get(INLINE..) {
            for chunk in rest.chunks(8) {
                let mut word = [0u8; 8];
                word.iter_mut().zip(chunk).for_each(|(w, b)| *w = *b);
                h = fold(h ^ u64::from_le_bytes(word), s1);
            }
        }
        h
    }

    /// The value of `key`, if it is in the index. Inlined into the callers
    /// (two per check by name): the call's register saves were a sixth of
    /// its cost.
    #[inline(always)]
    pub(crate) fn get(&self, key: &str) -> Option<&u32> {
        let bytes = key.as_bytes();
        let words = words(bytes);
        let mut i = self.hash(words, bytes) as usize;
        // INVARIANT: the load factor stays below 1, so the walk meets a
        // vacant slot; the bound only keeps a broken invariant from looping.
        let mut left = self.slots.len();
        while left > 0 {
            left -= 1;
            let slot = self.slots.get(i & self.mask)?;
            if slot.words[0] == words[0] && slot.len as usize == bytes.len() && self.same(slot, words, bytes)
            {
                return Some(&slot.value);
            }
            if slot.value == EMPTY {
                return None;
            }
            i = i.wrapping_add(1);
        }
        None
    }

    /// Whether the slot holds the name, once its first word and length
    /// are known to agree.
    #[inline(always)]
    fn same(&self, slot: &Slot, words: [u64; 3], bytes: &[u8]) -> bool {
        if bytes.len() <= INLINE {
            return slot.words[1] == words[1] && slot.words[2] == words[2];
        }
        let at = slot.words[2] as usize;
        slot.words[0] == words[0]
            && slot.words[1] == words[1]
            && self.arena.as_bytes().get(at + 16..at + bytes.len()) == bytes.get(16..)
    }

    /// Whether `key` is in the index.
    pub(crate) fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The key of the `entry`-th distinct key inserted ("" past the end).
    pub(crate) fn key(&self, entry: u32) -> &str {
        let entry = entry as usize;
        match (self.starts.get(entry), self.starts.get(entry + 1)) {
            (Some(&from), Some(&to)) => self.arena.get(from..to).unwrap_or_default(),
            _ => "",
        }
    }

    /// Every key, in insertion order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.starts.len().saturating_sub(1) as u32).map(|entry| self.key(entry))
    }

    /// The heap bytes this index holds.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.len() * std::mem::size_of::<Slot>()
            + self.arena.capacity()
            + self.starts.len() * std::mem::size_of::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_key_of_every_length_and_nothing_else() {
        // Lengths 0..=60 cover every branch of `words` and the long-name tail.
        let keys: Vec<String> =
            (0..=60).map(|n| "abcdefghij".repeat(7).get(..n).unwrap().to_owned()).collect();
        let index = NameIndex::build(keys.iter().enumerate().map(|(i, k)| (k.as_str(), i as u32)));
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(index.get(key), Some(&(i as u32)), "{key:?}");
            assert_eq!(index.key(i as u32), key);
            // One byte changed anywhere, or one more byte: not found.
            for at in 0..key.len() {
                let mut other = key.clone().into_bytes();
                other[at] = b'Z';
                assert_eq!(index.get(std::str::from_utf8(&other).unwrap()), None, "{key:?} at {at}");
            }
            assert_eq!(index.get(&format!("{key}!")), None);
        }
        assert_eq!(index.keys().count(), keys.len());
    }

    #[test]
    fn first_value_of_a_repeated_key_wins_and_empty_index_finds_nothing() {
        let index = NameIndex::build([("a", 1), ("b", 2), ("a", 3)]);
        assert_eq!(index.get("a"), Some(&1));
        assert_eq!(index.keys().collect::<Vec<_>>(), ["a", "b"]);
        let empty = NameIndex::default();
        assert_eq!(empty.get(""), None);
        assert_eq!(empty.get("a"), None);
        assert_eq!(empty.key(0), "");
    }

    #[test]
    fn many_similar_keys() {
        let keys: Vec<String> = (0..20_000).map(|i| format!("u{i:05}")).collect();
        let index = NameIndex::build(keys.iter().enumerate().map(|(i, k)| (k.as_str(), i as u32)));
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(index.get(key), Some(&(i as u32)));
        }
        assert_eq!(index.get("u20000"), None);
        assert_eq!(index.get("u0000"), None);
    }
}
