//! The pairing table: holds each request's primary and shadow records until they can be scored.
//!
//! Keyed by `x-request-id`, bounded three ways: at most `max_pending` entries, at most `max_bytes` of held
//! bodies, and every entry expires `timeout_ms` after it was opened. Keys that were closed (completed,
//! expired or shed) are remembered in a bounded FIFO, so a straggler for a closed request is recognised as
//! late instead of opening a new entry that would be miscounted when it expires.
//!
//! The table is generic over what a side holds (`T`), so it can be tested with plain values; it knows
//! nothing about scoring or stats.

use ahash::RandomState;
use std::collections::{HashMap, HashSet, VecDeque};

/// Which side of the mirror a record comes from: the primary, or the shadow cluster with this index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Primary,
    Shadow(usize),
}

/// The state of one side of an entry.
#[derive(Debug, Clone, PartialEq)]
pub enum Slot<T> {
    /// Nothing seen yet.
    Empty,
    /// The shadow request left Envoy; its response is still outstanding.
    Started,
    /// The side's final record.
    Arrived(T),
    /// Already handed out (scored, or decided without scoring).
    Closed,
}

/// One request's sides.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry<T> {
    /// Which rule the request matched (an index into the config's rules).
    pub rule: usize,
    pub primary: Slot<T>,
    pub shadows: Vec<Slot<T>>,
    generation: u64,
    bytes: usize,
}

impl<T> Entry<T> {
    fn is_done(&self) -> bool {
        matches!(self.primary, Slot::Closed) && self.shadows.iter().all(|s| matches!(s, Slot::Closed))
    }
}

/// What [`PairTable::offer`] did with a record.
#[derive(Debug, PartialEq)]
pub enum Offer<T> {
    /// Stored; the entry now looks like this (callers decide what became ready, see [`PairTable::take_ready`]).
    Stored,
    /// The key was closed recently: a straggler (e.g. a shadow slower than the pair timeout). Not stored.
    Late(T),
    /// The table is full (entries or bytes): the record was shed and the key closed, so the other side is
    /// recognised as shed too and counted once.
    Shed(T),
    /// The same side arrived twice for one key (a client reusing `x-request-id`). Not stored.
    Duplicate(T),
}

/// The bounded table. See the module docs.
#[derive(Debug)]
pub struct PairTable<T> {
    entries: HashMap<String, Entry<T>, RandomState>,
    /// Expiry order: entries open in time order and share one timeout, so the front expires first.
    expiry: VecDeque<(u64, u64, String)>,
    closed: HashSet<String, RandomState>,
    closed_order: VecDeque<String>,
    shadows: usize,
    max_pending: usize,
    max_bytes: usize,
    timeout_ms: u64,
    bytes: usize,
    next_generation: u64,
}

/// How many closed keys are remembered, per pending entry allowed.
const CLOSED_MEMORY_FACTOR: usize = 2;

fn fixed_state() -> RandomState {
    // No OS randomness inside a wasm VM: fixed seeds. Request ids are chosen by Envoy, not attackers, and
    // the table is bounded, so hash flooding cannot grow it.
    RandomState::with_seeds(0x5eed_0001, 0x5eed_0002, 0x5eed_0003, 0x5eed_0004)
}

impl<T> PairTable<T> {
    pub fn new(shadows: usize, max_pending: usize, max_bytes: usize, timeout_ms: u64) -> PairTable<T> {
        PairTable {
            entries: HashMap::with_hasher(fixed_state()),
            expiry: VecDeque::new(),
            closed: HashSet::with_hasher(fixed_state()),
            closed_order: VecDeque::new(),
            shadows,
            max_pending,
            max_bytes,
            timeout_ms,
            bytes: 0,
            next_generation: 0,
        }
    }

    /// Entries currently open.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Body bytes currently held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Stores `value` (of `size` bytes) as `side` of request `key`, matched to `rule`. A `Started` marker
    /// is `value: None`.
    pub fn offer(
        &mut self,
        key: &str,
        rule: usize,
        side: Side,
        value: Option<T>,
        size: usize,
        now_ms: u64,
    ) -> Offer<Option<T>> {
        if self.closed.contains(key) {
            return Offer::Late(value);
        }
        if !self.entries.contains_key(key) {
            if self.entries.len() >= self.max_pending || self.bytes.saturating_add(size) > self.max_bytes {
                self.remember_closed(key);
                return Offer::Shed(value);
            }
            let generation = self.next_generation;
            self.next_generation += 1;
            let entry = Entry {
                rule,
                primary: Slot::Empty,
                shadows: (0..self.shadows).map(|_| Slot::Empty).collect(),
                generation,
                bytes: 0,
            };
            self.entries.insert(key.to_string(), entry);
            self.expiry.push_back((now_ms.saturating_add(self.timeout_ms), generation, key.to_string()));
        } else if self.bytes.saturating_add(size) > self.max_bytes {
            // The entry exists but this body does not fit: close the whole entry, the caller counts it.
            self.remember_closed(key);
            if let Some(e) = self.entries.remove(key) {
                self.bytes = self.bytes.saturating_sub(e.bytes);
            }
            return Offer::Shed(value);
        }
        let Some(entry) = self.entries.get_mut(key) else {
            return Offer::Shed(value);
        };
        let slot = match side {
            Side::Primary => &mut entry.primary,
            Side::Shadow(i) => match entry.shadows.get_mut(i) {
                Some(s) => s,
                None => return Offer::Duplicate(value),
            },
        };
        match (value, &*slot) {
            (None, Slot::Empty) => *slot = Slot::Started,
            (None, _) => return Offer::Duplicate(None),
            (Some(v), Slot::Empty | Slot::Started) => {
                *slot = Slot::Arrived(v);
                entry.bytes = entry.bytes.saturating_add(size);
                self.bytes = self.bytes.saturating_add(size);
            }
            (Some(v), _) => return Offer::Duplicate(Some(v)),
        }
        Offer::Stored
    }

    /// Gives mutable access to an open entry, e.g. to take the sides that became ready.
    pub fn entry_mut(&mut self, key: &str) -> Option<&mut Entry<T>> {
        self.entries.get_mut(key)
    }

    /// Closes the entry if every side has been handed out; returns whether it did. `released` is the
    /// number of body bytes the caller took out of the entry (they no longer count against the bound).
    pub fn settle(&mut self, key: &str, released: usize) -> bool {
        let done = match self.entries.get_mut(key) {
            Some(e) => {
                let r = released.min(e.bytes);
                e.bytes -= r;
                self.bytes = self.bytes.saturating_sub(r);
                e.is_done()
            }
            None => false,
        };
        if done {
            if let Some(e) = self.entries.remove(key) {
                self.bytes = self.bytes.saturating_sub(e.bytes);
            }
            self.remember_closed(key);
        }
        done
    }

    /// Removes and returns every entry whose timeout has passed, with its key.
    pub fn expire(&mut self, now_ms: u64) -> Vec<(String, Entry<T>)> {
        let mut out = Vec::new();
        while let Some((deadline, generation, _)) = self.expiry.front() {
            if *deadline > now_ms {
                break;
            }
            let generation = *generation;
            let Some((_, _, key)) = self.expiry.pop_front() else { break };
            // The key may have completed (and even reopened) since: only expire the generation queued here.
            if self.entries.get(&key).is_some_and(|e| e.generation == generation) {
                if let Some(e) = self.entries.remove(&key) {
                    self.bytes = self.bytes.saturating_sub(e.bytes);
                    self.remember_closed(&key);
                    out.push((key, e));
                }
            }
        }
        out
    }

    fn remember_closed(&mut self, key: &str) {
        if self.closed.insert(key.to_string()) {
            self.closed_order.push_back(key.to_string());
        }
        let cap = self.max_pending.saturating_mul(CLOSED_MEMORY_FACTOR).max(16);
        while self.closed_order.len() > cap {
            if let Some(old) = self.closed_order.pop_front() {
                self.closed.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> PairTable<&'static str> {
        PairTable::new(2, 3, 1_000, 100)
    }

    #[test]
    fn stores_sides_and_markers() {
        let mut t = table();
        assert_eq!(t.offer("a", 0, Side::Shadow(1), None, 0, 0), Offer::Stored);
        assert_eq!(t.offer("a", 0, Side::Primary, Some("p"), 10, 1), Offer::Stored);
        assert_eq!(t.offer("a", 0, Side::Shadow(1), Some("s1"), 20, 2), Offer::Stored);
        let e = t.entry_mut("a").unwrap();
        assert_eq!(e.primary, Slot::Arrived("p"));
        assert_eq!(e.shadows, vec![Slot::Empty, Slot::Arrived("s1")]);
        assert_eq!(t.bytes(), 30);
        assert_eq!(t.offer("a", 0, Side::Primary, Some("p2"), 10, 3), Offer::Duplicate(Some("p2")));
        assert_eq!(t.offer("a", 0, Side::Shadow(1), None, 0, 3), Offer::Duplicate(None));
        assert_eq!(t.offer("a", 0, Side::Shadow(7), Some("x"), 0, 3), Offer::Duplicate(Some("x")));
    }

    #[test]
    fn settles_when_every_side_is_closed_and_then_calls_stragglers_late() {
        let mut t = table();
        t.offer("a", 0, Side::Primary, Some("p"), 10, 0);
        let e = t.entry_mut("a").unwrap();
        e.primary = Slot::Closed;
        e.shadows = vec![Slot::Closed, Slot::Empty];
        assert!(!t.settle("a", 10));
        assert_eq!(t.bytes(), 0);
        t.entry_mut("a").unwrap().shadows[1] = Slot::Closed;
        assert!(t.settle("a", 0));
        assert!(t.is_empty());
        assert_eq!(t.offer("a", 0, Side::Shadow(0), Some("late"), 5, 1), Offer::Late(Some("late")));
    }

    #[test]
    fn sheds_past_max_pending_and_max_bytes_and_remembers_the_key() {
        let mut t = table();
        for k in ["a", "b", "c"] {
            assert_eq!(t.offer(k, 0, Side::Primary, Some(k), 1, 0), Offer::Stored);
        }
        assert_eq!(t.offer("d", 0, Side::Primary, Some("d"), 1, 0), Offer::Shed(Some("d")));
        assert_eq!(t.offer("d", 0, Side::Shadow(0), Some("ds"), 1, 0), Offer::Late(Some("ds")));
        let mut t = table();
        assert_eq!(t.offer("a", 0, Side::Primary, Some("a"), 900, 0), Offer::Stored);
        assert_eq!(t.offer("b", 0, Side::Primary, Some("b"), 200, 0), Offer::Shed(Some("b")));
        assert_eq!(t.offer("a", 0, Side::Shadow(0), Some("as"), 200, 0), Offer::Shed(Some("as")));
        assert!(t.is_empty());
        assert_eq!(t.bytes(), 0);
    }

    #[test]
    fn expires_in_order_and_only_the_generation_it_queued() {
        let mut t = table();
        t.offer("a", 0, Side::Primary, Some("a"), 4, 0);
        t.offer("b", 1, Side::Shadow(0), None, 0, 50);
        assert!(t.expire(99).is_empty());
        let out = t.expire(100);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, "a");
        assert_eq!(out[0].1.primary, Slot::Arrived("a"));
        assert_eq!(t.bytes(), 0);
        let out = t.expire(1_000);
        assert_eq!(out[0].0, "b");
        assert_eq!(out[0].1.rule, 1);
        assert_eq!(out[0].1.shadows[0], Slot::Started);
        assert!(t.is_empty());
    }

    #[test]
    fn closed_memory_is_bounded() {
        let mut t: PairTable<u8> = PairTable::new(1, 10, 1_000, 1);
        for i in 0..1_000u32 {
            let k = i.to_string();
            t.offer(&k, 0, Side::Primary, Some(1), 0, u64::from(i));
            t.expire(u64::from(i) + 5);
        }
        assert!(t.closed.len() <= 20 && t.closed_order.len() == t.closed.len());
        assert!(t.is_empty());
    }
}
