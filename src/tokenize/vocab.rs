//! The word -> id table of the fast path. Scoring a 4 KB article spent about 45% of its time in
//! vocabulary lookups when the table was a `HashMap<String, u32>`: each probe followed the key's
//! heap pointer and called `memcmp`. Here a word of up to 16 bytes is stored inline in its entry
//! as two integers and compared as two integers; longer words live in one arena. The table itself
//! is hashbrown's [`HashTable`]. Same ids as a plain map (a unit test checks every vocabulary
//! word and words that are not in it).

use std::hash::BuildHasher;

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

const INLINE: usize = 16;

#[derive(Clone, Copy)]
struct Entry {
    /// The first 8 bytes, zero-padded.
    head: u64,
    /// Bytes 8 to 16, zero-padded, for words of at most 16 bytes; the arena offset otherwise.
    tail: u64,
    len: u32,
    id: u32,
}

/// An immutable map from a word's UTF-8 bytes to its id.
#[derive(Clone, Default)]
pub(crate) struct Vocab {
    table: HashTable<Entry>,
    arena: Vec<u8>,
    hasher: FxBuildHasher,
}

/// Up to 8 bytes as a little-endian integer, zero-padded. Built from (overlapping) whole loads
/// rather than by copying into a buffer: the copy's variable-length `memcpy` followed by an
/// 8-byte load stalled on store forwarding.
#[inline]
fn pack(b: &[u8]) -> u64 {
    let n = b.len();
    let load4 = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as u64;
    match n {
        0 => 0,
        1..=3 => {
            b[0] as u64 | (b[n / 2] as u64) << (8 * (n / 2)) | (b[n - 1] as u64) << (8 * (n - 1))
        }
        4..=7 => load4(0) | load4(n - 4) << (8 * (n - 4)),
        _ => u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
    }
}

fn split(word: &[u8]) -> (u64, u64) {
    let n = word.len().min(INLINE);
    let (head, tail) = word[..n].split_at(n.min(8));
    (pack(head), pack(tail))
}

impl Vocab {
    /// Builds the table; a word listed twice keeps its last id, as collecting into a map would.
    pub(crate) fn new(words: impl IntoIterator<Item = (String, u32)>) -> Self {
        let mut v = Vocab::default();
        for (word, id) in words {
            let w = word.as_bytes();
            let h = v.hash(w);
            if let Some(e) = v.find_mut(h, w) {
                e.id = id;
                continue;
            }
            let (head, mut tail) = split(w);
            if w.len() > INLINE {
                tail = v.arena.len() as u64;
                v.arena.extend_from_slice(w);
            }
            let entry = Entry {
                head,
                tail,
                len: w.len() as u32,
                id,
            };
            let (hasher, arena) = (v.hasher, &v.arena);
            v.table
                .insert_unique(h, entry, |e| hash_entry(hasher, e, arena));
        }
        v
    }

    fn find_mut(&mut self, h: u64, w: &[u8]) -> Option<&mut Entry> {
        let (head, tail) = split(w);
        let arena = &self.arena;
        self.table.find_mut(h, |e| matches(e, arena, w, head, tail))
    }

    /// The id of `word`, if it is in the vocabulary.
    #[inline]
    pub(crate) fn get(&self, word: &[u8]) -> Option<u32> {
        let h = self.hash(word);
        let (head, tail) = split(word);
        self.table
            .find(h, |e| matches(e, &self.arena, word, head, tail))
            .map(|e| e.id)
    }

    #[inline]
    fn hash(&self, w: &[u8]) -> u64 {
        self.hasher.hash_one(w)
    }

    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }
}

#[inline]
fn matches(e: &Entry, arena: &[u8], w: &[u8], head: u64, tail: u64) -> bool {
    e.len as usize == w.len()
        && e.head == head
        && if w.len() <= INLINE {
            e.tail == tail
        } else {
            arena.get(e.tail as usize..e.tail as usize + w.len()) == Some(w)
        }
}

/// The hash of a stored entry, equal to [`Vocab::hash`] of its word (used when the table grows).
fn hash_entry(hasher: FxBuildHasher, e: &Entry, arena: &[u8]) -> u64 {
    let n = e.len as usize;
    if n <= INLINE {
        let mut b = [0u8; INLINE];
        b[..8].copy_from_slice(&e.head.to_le_bytes());
        b[8..].copy_from_slice(&e.tail.to_le_bytes());
        hasher.hash_one(&b[..n])
    } else {
        let off = e.tail as usize;
        hasher.hash_one(&arena[off..off + n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn pack_equals_a_zero_padded_copy() {
        let bytes: Vec<u8> = (1..=8).map(|i| i * 31).collect();
        for n in 0..=8 {
            let mut b = [0u8; 8];
            b[..n].copy_from_slice(&bytes[..n]);
            assert_eq!(pack(&bytes[..n]), u64::from_le_bytes(b), "{n} bytes");
        }
    }

    #[test]
    fn same_ids_as_a_map_for_every_length() {
        let mut words: Vec<(String, u32)> = Vec::new();
        for n in 0..40usize {
            words.push(("é".repeat(n / 2) + &"a".repeat(n % 2), n as u32));
            words.push(("b".repeat(n), 100 + n as u32));
            words.push((format!("{}\0", "c".repeat(n)), 200 + n as u32));
        }
        words.push(("bbb".to_string(), 999)); // a duplicate keeps the last id
        let map: HashMap<String, u32> = words.iter().cloned().collect();
        let v = Vocab::new(words);
        assert_eq!(v.len(), map.len());
        for (w, id) in &map {
            assert_eq!(v.get(w.as_bytes()), Some(*id), "{w:?}");
        }
        for n in 0..40usize {
            for w in [
                "d".repeat(n),
                format!("{}\0\0", "c".repeat(n)),
                "a".repeat(n + 1),
            ] {
                assert_eq!(v.get(w.as_bytes()), map.get(&w).copied(), "{w:?}");
            }
        }
    }
}
