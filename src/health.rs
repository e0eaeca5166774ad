//! The compare service's heartbeat: how captures learn that it is alive and whether it is keeping up.
//!
//! Captures and the compare service run in different VMs (`vm_id`s), and Envoy namespaces shared data by
//! `vm_id`: a capture cannot read anything the compare service writes there. Shared queues, though, are
//! reachable from any VM by (vm_id, name), and any holder of a queue's token may dequeue from it. So the
//! compare service registers a second queue next to the record queue and, every [`PUBLISH_EVERY_MS`],
//! empties it and enqueues [`COPIES`] copies of one [`Heartbeat`]: the time, its scoring backlog and its
//! bound. A capture polls it at most every [`POLL_EVERY_MS`]: it takes an item, puts it straight back for
//! the other captures (other workers, other clusters), and remembers the newest heartbeat it has seen.
//!
//! Why it matters: if the compare service's VM dies (a bug, an out-of-memory), nothing reloads a
//! singleton and Envoy's host queue, which has no bound of its own, would keep every record captures
//! enqueue. The last heartbeat stays in its queue, ever older: once it is older than the capture's
//! `compare_heartbeat_timeout_ms`, captures stop capturing (`capture.compare_down`), so at most that
//! long a stretch of records is ever stranded. And when the backlog is half full, captures skip copying
//! bodies (`capture.shed`) and the pair is counted `dropped` without the cost of carrying its bodies to
//! the main thread. Half, not full: news of the backlog reaches a capture up to a publish and a poll
//! period late (200 ms), and the pairs captured meanwhile need room. Shedding only at the bound left
//! them no room: at saturation, half of all dropped pairs had their bodies copied on a worker, queued,
//! decoded and then thrown away. The other half of the backlog still holds work for the scorer while
//! captures shed, so scoring does not idle.

/// How often the compare service publishes a heartbeat.
pub const PUBLISH_EVERY_MS: u64 = 100;
/// How often a capture (per worker and plugin) looks at the heartbeat queue, at most. Each look puts the
/// item back, which wakes the main thread once (~14 us there): 10 per second per worker and plugin. Longer
/// would leave captures shedding on a stale "backlog half full" for longer after the backlog drains.
pub const POLL_EVERY_MS: u64 = 100;
/// Copies of each heartbeat in the queue. A capture holds its copy for a moment, between taking it and putting
/// it back; with a single copy, a capture on another worker polling in that moment found the queue empty and
/// went on with what it knew before, for a whole polling period. A burst of requests makes those moments
/// coincide: end-to-end tests that send 20 or 50 requests at once failed in about one run in four or five,
/// with some of a burst's requests not shed or not captured. An empty queue also makes the next request poll again
/// (see [`HeartbeatView::observe`]).
pub const COPIES: usize = 4;
/// Heartbeat codec version; distinct from the record codec's, so neither queue mistakes the other's items.
const VERSION: u8 = 0x48;
const LEN: usize = 1 + 8 + 4 + 4;

/// The heartbeat queue's name: the record queue's, with a suffix, so one setting names both.
///
/// ```
/// assert_eq!(shadow_compare::health::queue_name("shadow_compare.records"), "shadow_compare.records.heartbeat");
/// ```
pub fn queue_name(record_queue: &str) -> String {
    format!("{record_queue}.heartbeat")
}

/// What the compare service publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Heartbeat {
    /// Wall-clock milliseconds since the epoch when it was published.
    pub at_ms: u64,
    /// Pairs waiting to be scored.
    pub backlog: u32,
    /// The compare service's `max_backlog`: at this backlog it drops new pairs itself.
    pub max_backlog: u32,
}

impl Heartbeat {
    /// The queue item.
    ///
    /// ```
    /// use shadow_compare::health::Heartbeat;
    /// let h = Heartbeat { at_ms: 1_700_000_000_000, backlog: 3, max_backlog: 1_000 };
    /// assert_eq!(Heartbeat::decode(&h.encode()), Some(h));
    /// assert_eq!(Heartbeat::decode(b"not a heartbeat"), None);
    /// ```
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(LEN);
        out.push(VERSION);
        out.extend_from_slice(&self.at_ms.to_le_bytes());
        out.extend_from_slice(&self.backlog.to_le_bytes());
        out.extend_from_slice(&self.max_backlog.to_le_bytes());
        out
    }

    /// Reads a queue item; anything else (another version, a damaged item) is `None`.
    pub fn decode(item: &[u8]) -> Option<Heartbeat> {
        let (&version, rest) = item.split_first()?;
        if version != VERSION || rest.len() != LEN - 1 {
            return None;
        }
        let (at, rest) = rest.split_at_checked(8)?;
        let (backlog, max_backlog) = rest.split_at_checked(4)?;
        Some(Heartbeat {
            at_ms: u64::from_le_bytes(at.try_into().ok()?),
            backlog: u32::from_le_bytes(backlog.try_into().ok()?),
            max_backlog: u32::from_le_bytes(max_backlog.try_into().ok()?),
        })
    }

    /// Captures should stop copying bodies: the backlog is at least half its bound (see the module docs).
    ///
    /// ```
    /// use shadow_compare::health::Heartbeat;
    /// let beat = |backlog| Heartbeat { at_ms: 0, backlog, max_backlog: 9 };
    /// assert!(!beat(4).shedding());
    /// assert!(beat(5).shedding());
    /// ```
    pub fn shedding(&self) -> bool {
        self.backlog >= self.max_backlog.div_ceil(2)
    }
}

/// What a capture does with a request, given what it knows of the compare service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Capture it whole.
    Capture,
    /// Capture status and latency, not bodies: the pair will be counted `dropped`, not scored.
    Shed,
    /// Do not capture: the compare service has been silent longer than the timeout.
    CompareDown,
}

/// What a poll of the heartbeat queue gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll {
    /// An item (put back for the other captures by the caller).
    Item(Vec<u8>),
    /// The queue exists but was empty: another capture holds the item for a moment, or the compare
    /// service is between emptying and refilling it. No news.
    Empty,
    /// No heartbeat queue: the compare service never started, or predates heartbeats.
    NoQueue,
}

/// A capture's knowledge of the compare service (one per worker and plugin).
#[derive(Debug, Clone, Copy)]
pub struct HeartbeatView {
    timeout_ms: u64,
    newest: Option<Heartbeat>,
    last_poll_ms: Option<u64>,
    /// When a heartbeat was last read (any heartbeat, however old its own time).
    last_read_ms: Option<u64>,
    /// No heartbeat read yet, or the last poll found no queue or a foreign item: too little evidence
    /// to call the compare service down.
    uncertain: bool,
}

impl HeartbeatView {
    pub fn new(timeout_ms: u64) -> HeartbeatView {
        HeartbeatView { timeout_ms, newest: None, last_poll_ms: None, last_read_ms: None, uncertain: true }
    }

    /// Whether the caller should poll the queue now.
    pub fn poll_due(&self, now_ms: u64) -> bool {
        self.last_poll_ms.is_none_or(|t| now_ms.saturating_sub(t) >= POLL_EVERY_MS)
    }

    /// Takes what a poll gave. Heartbeats may come back out of order (captures put items back while
    /// the compare service refills the queue), so only a newer one replaces what is known. An empty queue
    /// does not count as a poll: the next request looks again.
    pub fn observe(&mut self, poll: &Poll, now_ms: u64) {
        if *poll != Poll::Empty {
            self.last_poll_ms = Some(now_ms);
        }
        match poll {
            Poll::Item(item) => match Heartbeat::decode(item) {
                Some(h) => {
                    self.uncertain = false;
                    self.last_read_ms = Some(now_ms);
                    if self.newest.is_none_or(|n| h.at_ms >= n.at_ms) {
                        self.newest = Some(h);
                    }
                }
                None => self.uncertain = true,
            },
            // Empty is no news: what was known stays known (a dead service's last beat stays in the queue,
            // so an empty queue only means another capture holds the item for a moment).
            Poll::Empty => {}
            Poll::NoQueue => self.uncertain = true,
        }
    }

    /// What to do with a request now.
    ///
    /// The compare service is called down only on evidence: a heartbeat was read within the timeout, the
    /// queue was there at the last poll, and the newest heartbeat known is older than the timeout. Without a
    /// heartbeat queue captures go on as before (a missing record queue is counted on its own, as
    /// `capture.enqueue_failed`). What a capture read longer ago than the timeout is no evidence either way:
    /// a capture on a worker that saw no request for a minute, whose first poll finds the queue empty
    /// (another capture holds the item), captures rather than calling a live service down on a beat it read
    /// a minute ago.
    ///
    /// ```
    /// use shadow_compare::health::{Admission, Heartbeat, HeartbeatView, Poll};
    /// let mut view = HeartbeatView::new(2_000);
    /// let beat = Heartbeat { at_ms: 10_000, backlog: 0, max_backlog: 100 };
    /// view.observe(&Poll::Item(beat.encode()), 10_050);
    /// assert_eq!(view.admission(10_050), Admission::Capture);
    /// view.observe(&Poll::Item(beat.encode()), 12_500);
    /// assert_eq!(view.admission(12_500), Admission::CompareDown);
    /// ```
    pub fn admission(&self, now_ms: u64) -> Admission {
        match self.newest {
            _ if self.last_read_ms.is_none_or(|t| now_ms.saturating_sub(t) > self.timeout_ms) => Admission::Capture,
            Some(h) if !self.uncertain && now_ms.saturating_sub(h.at_ms) > self.timeout_ms => Admission::CompareDown,
            Some(h) if h.shedding() => Admission::Shed,
            _ => Admission::Capture,
        }
    }
}

/// The compare service's side: when the next heartbeat is due.
#[derive(Debug, Clone, Default)]
pub struct Publisher {
    last_ms: Option<u64>,
}

impl Publisher {
    /// The heartbeat to publish now, if one is due.
    pub fn due(&mut self, now_ms: u64, backlog: usize, max_backlog: usize) -> Option<Heartbeat> {
        if self.last_ms.is_some_and(|t| now_ms.saturating_sub(t) < PUBLISH_EVERY_MS) {
            return None;
        }
        self.last_ms = Some(now_ms);
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Some(Heartbeat { at_ms: now_ms, backlog: clamp(backlog), max_backlog: clamp(max_backlog) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beat(at_ms: u64, backlog: u32) -> Poll {
        Poll::Item(Heartbeat { at_ms, backlog, max_backlog: 10 }.encode())
    }

    #[test]
    fn codec_rejects_anything_else() {
        let item = Heartbeat { at_ms: u64::MAX, backlog: 7, max_backlog: 9 }.encode();
        assert_eq!(item.len(), 17);
        assert_eq!(Heartbeat::decode(&item).map(|h| (h.at_ms, h.backlog, h.max_backlog)), Some((u64::MAX, 7, 9)));
        assert_eq!(Heartbeat::decode(&item[..16]), None);
        let mut longer = item.clone();
        longer.push(0);
        assert_eq!(Heartbeat::decode(&longer), None);
        assert_eq!(Heartbeat::decode(&[]), None);
        // A record (codec version 1) is never a heartbeat.
        let mut record = item;
        record[0] = 1;
        assert_eq!(Heartbeat::decode(&record), None);
    }

    #[test]
    fn silence_beyond_the_timeout_is_down_only_on_evidence() {
        let mut v = HeartbeatView::new(1_000);
        assert_eq!(v.admission(0), Admission::Capture, "nothing known yet");
        v.observe(&Poll::Empty, 0);
        assert_eq!(v.admission(60_000), Admission::Capture, "still nothing known");
        v.observe(&beat(5_000, 0), 5_000);
        assert_eq!(v.admission(6_000), Admission::Capture, "exactly the timeout is still alive");
        // Nothing newer: the last beat read is too old.
        v.observe(&beat(5_000, 0), 9_000);
        assert_eq!(v.admission(9_000), Admission::CompareDown);
        // A poll that finds the queue empty (another capture holds the item) is no news.
        v.observe(&Poll::Empty, 9_300);
        assert_eq!(v.admission(9_300), Admission::CompareDown);
        // It comes back (a restarted service publishes again).
        v.observe(&beat(9_400, 0), 9_500);
        assert_eq!(v.admission(9_500), Admission::Capture);
        v.observe(&Poll::NoQueue, 20_000);
        assert_eq!(v.admission(20_000), Admission::Capture, "no queue: go on, enqueue_failed counts it");
    }

    #[test]
    fn what_was_read_long_ago_is_no_evidence() {
        let mut v = HeartbeatView::new(1_000);
        v.observe(&Poll::Item(Heartbeat { at_ms: 5_000, backlog: 10, max_backlog: 10 }.encode()), 5_000);
        assert_eq!(v.admission(5_000), Admission::Shed);
        assert_eq!(v.admission(6_000), Admission::Shed, "read within the timeout");
        // A minute without requests; the first poll finds the queue empty: neither down nor shedding.
        v.observe(&Poll::Empty, 65_000);
        assert_eq!(v.admission(65_000), Admission::Capture);
        // The next poll reads the dead service's last beat: down.
        v.observe(&beat(5_000, 0), 65_001);
        assert_eq!(v.admission(65_001), Admission::CompareDown);
    }

    #[test]
    fn out_of_order_beats_never_move_time_back() {
        let mut v = HeartbeatView::new(1_000);
        v.observe(&beat(5_000, 10), 5_000);
        assert_eq!(v.admission(5_000), Admission::Shed, "backlog at its bound");
        v.observe(&beat(5_100, 0), 5_100);
        assert_eq!(v.admission(5_100), Admission::Capture);
        v.observe(&beat(5_000, 10), 5_200);
        assert_eq!(v.admission(5_200), Admission::Capture, "an older item put back late changes nothing");
        assert_eq!(v.admission(6_050), Admission::Capture);
        v.observe(&beat(5_000, 10), 6_200);
        assert_eq!(v.admission(6_200), Admission::CompareDown);
    }

    #[test]
    fn captures_shed_from_half_the_bound() {
        let admission = |backlog, max_backlog| {
            let mut v = HeartbeatView::new(1_000);
            v.observe(&Poll::Item(Heartbeat { at_ms: 5_000, backlog, max_backlog }.encode()), 5_000);
            v.admission(5_000)
        };
        assert_eq!(admission(4, 10), Admission::Capture);
        assert_eq!(admission(5, 10), Admission::Shed);
        assert_eq!(admission(0, 1), Admission::Capture);
        assert_eq!(admission(1, 1), Admission::Shed);
        assert_eq!(admission(u32::MAX, u32::MAX), Admission::Shed);
    }

    #[test]
    fn polls_and_beats_are_paced() {
        let mut v = HeartbeatView::new(1_000);
        assert!(v.poll_due(0));
        v.observe(&Poll::Empty, 1_000);
        assert!(v.poll_due(1_000), "an empty queue (another capture holds the item) is looked at again");
        v.observe(&beat(1_000, 0), 1_000);
        assert!(!v.poll_due(1_000 + POLL_EVERY_MS - 1));
        assert!(v.poll_due(1_000 + POLL_EVERY_MS));
        v.observe(&Poll::NoQueue, 2_000);
        assert!(!v.poll_due(2_000 + POLL_EVERY_MS - 1), "no queue counts as a poll");
        let mut p = Publisher::default();
        assert_eq!(p.due(500, 3, 10), Some(Heartbeat { at_ms: 500, backlog: 3, max_backlog: 10 }));
        assert_eq!(p.due(500 + PUBLISH_EVERY_MS - 1, 3, 10), None);
        assert_eq!(p.due(500 + PUBLISH_EVERY_MS, usize::MAX, 10).map(|h| h.backlog), Some(u32::MAX));
    }
}
