//! The compare service's logic: records in, stats out. Runs on Envoy's main thread (a singleton service).
//!
//! A request's journey here: [`Comparator::on_item`] decodes the record a capture filter enqueued, finds
//! its side (primary or which shadow) from the cluster name and its rule from the path, and stores it in
//! the [`PairTable`]. As soon as the primary and a shadow are both final, [`Comparator::advance`] decides
//! what the pair is: an error on either side (counted, not scored) or a scoring job. Jobs wait in a bounded
//! backlog and are scored by [`Comparator::run_jobs`] in slices, so one burst of long texts never holds
//! the main thread for long. A scored pair that is due a sample waits, bounded, for a slice of its own
//! ([`Comparator::next_sample`]). [`Comparator::on_tick`] expires pairs whose other side never came.
//!
//! Nothing here touches the host except through [`Metrics`], so all of it is tested natively.

use crate::config::{CompareConfig, Rule};
use crate::decode::decode_body;
use crate::pairing::{Offer, PairTable, Side, Slot};
use crate::capture::FLUSH_EVERY_MS;
use crate::record::{decode, split, Outcome, Record};
use crate::sample::{self, RateLimiter, SampleInput};
use crate::score::{is_divergent, ScoreError};
use crate::stats::{self, MetricKind, Metrics};
use crate::verdict::{self, Counts, Readiness};
use std::collections::VecDeque;
use std::rc::Rc;

/// Held bodies across all pending pairs are capped here, whatever `max_pending` says.
pub const MAX_PENDING_BYTES: usize = 256 << 20;

/// Samples waiting to be built; past it, a due sample is counted `samples.rate_limited`. Ticks build what is
/// due every 20 ms, so this is reached when more than 16 fall due in between: a burst under a
/// `max_per_second` above 16 (the rate limiter allows a second's worth at once), or more than ~800 a second.
/// It bounds the bodies held for samples.
pub const MAX_DUE_SAMPLES: usize = 16;

/// How long a primary waits for a shadow's `Started` marker before that shadow counts as `unmirrored`:
/// many capture flush intervals, so a marker in a batch flushed a little after the primary's still counts.
pub const UNMIRRORED_GRACE_MS: u64 = 25 * FLUSH_EVERY_MS;

/// Stat ids for one (rule, shadow) pair of names.
#[derive(Debug, Clone)]
struct PairStats {
    pairs: u32,
    divergent: u32,
    status_mismatch: u32,
    shadow_missing: u32,
    primary_missing: u32,
    shadow_errors: u32,
    primary_errors: u32,
    dropped: u32,
    unmirrored: u32,
    /// One id per `ScoreError::REASONS` entry, same order.
    compare_errors: Vec<u32>,
    distance_bp: u32,
    primary_latency_ms: u32,
    shadow_latency_ms: u32,
    divergence_ppm: u32,
    divergence_upper_ppm: u32,
    promotion_ready: u32,
    /// Only when a baseline shadow is configured and this one is a candidate.
    excess_divergence_upper_ppm: Option<u32>,
}

impl PairStats {
    fn define(m: &mut dyn Metrics, rule: &str, shadow: &str, excess: bool) -> Result<PairStats, String> {
        let mut counter = |metric: &str| m.define(MetricKind::Counter, &stats::rule_stat(rule, shadow, metric));
        let pairs = counter(stats::PAIRS)?;
        let divergent = counter(stats::DIVERGENT)?;
        let status_mismatch = counter(stats::STATUS_MISMATCH)?;
        let shadow_missing = counter(stats::SHADOW_MISSING)?;
        let primary_missing = counter(stats::PRIMARY_MISSING)?;
        let shadow_errors = counter(stats::SHADOW_ERRORS)?;
        let primary_errors = counter(stats::PRIMARY_ERRORS)?;
        let dropped = counter(stats::DROPPED)?;
        let unmirrored = counter(stats::UNMIRRORED)?;
        let mut compare_errors = Vec::with_capacity(ScoreError::REASONS.len());
        for reason in ScoreError::REASONS {
            compare_errors.push(m.define(MetricKind::Counter, &stats::reason_stat(rule, shadow, reason))?);
        }
        let mut gauge = |metric: &str| m.define(MetricKind::Gauge, &stats::rule_stat(rule, shadow, metric));
        let divergence_ppm = gauge(stats::DIVERGENCE_PPM)?;
        let divergence_upper_ppm = gauge(stats::DIVERGENCE_UPPER_PPM)?;
        let promotion_ready = gauge(stats::PROMOTION_READY)?;
        let excess_divergence_upper_ppm = if excess { Some(gauge(stats::EXCESS_DIVERGENCE_UPPER_PPM)?) } else { None };
        let mut histogram = |metric: &str| m.define(MetricKind::Histogram, &stats::rule_stat(rule, shadow, metric));
        Ok(PairStats {
            divergence_ppm,
            divergence_upper_ppm,
            promotion_ready,
            excess_divergence_upper_ppm,
            pairs,
            divergent,
            status_mismatch,
            shadow_missing,
            primary_missing,
            shadow_errors,
            primary_errors,
            dropped,
            unmirrored,
            compare_errors,
            distance_bp: histogram(stats::DISTANCE_BP)?,
            primary_latency_ms: histogram(stats::PRIMARY_LATENCY_MS)?,
            shadow_latency_ms: histogram(stats::SHADOW_LATENCY_MS)?,
        })
    }

    fn compare_error(&self, err: &ScoreError) -> Option<u32> {
        let i = ScoreError::REASONS.iter().position(|r| *r == err.reason())?;
        self.compare_errors.get(i).copied()
    }
}

/// Ids of the stats that are not per rule and shadow.
#[derive(Debug, Clone)]
struct GlobalStats {
    pending: u32,
    backlog: u32,
    records: u32,
    bad_records: u32,
    unknown_cluster: u32,
    unmatched: u32,
    late: u32,
    duplicate: u32,
    samples_rate_limited: u32,
}

/// A pair whose two sides answered, waiting to be scored.
#[derive(Debug)]
struct Job {
    rule: usize,
    shadow: usize,
    primary: Rc<Record>,
    shadow_record: Record,
}

/// What scoring one pair gave: what the stats recorded, and whether a sample of it waits to be built.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub rule: usize,
    pub shadow: usize,
    pub request_id: String,
    pub result: Result<f64, ScoreError>,
    pub divergent: bool,
    /// The pair passed the sample rate limit; [`Comparator::next_sample`] builds its sample.
    pub sample_due: bool,
}

/// A scored pair whose sample waits to be built.
#[derive(Debug)]
struct DueSample {
    job: Job,
    result: Result<f64, ScoreError>,
    divergent: bool,
    now_ms: u64,
}

/// The compare service. See the module docs.
pub struct Comparator {
    cfg: CompareConfig,
    table: PairTable<Rc<Record>>,
    jobs: VecDeque<Job>,
    /// Requests whose primary arrived before some shadow's `Started` marker: (when to decide, key).
    unmirrored_checks: VecDeque<(u64, String)>,
    /// Index: `rule * shadows + shadow`.
    pair_stats: Vec<PairStats>,
    /// What each (rule, shadow) did since start, for the verdict gauges. Same index.
    counts: Vec<Counts>,
    /// The verdict gauges need refreshing.
    counts_changed: bool,
    global: GlobalStats,
    limiter: Option<RateLimiter>,
    due_samples: VecDeque<DueSample>,
}

impl Comparator {
    /// Builds the service and defines every stat it will ever update (Envoy wants them defined up front).
    pub fn new(cfg: CompareConfig, m: &mut dyn Metrics) -> Result<Comparator, String> {
        let mut pair_stats = Vec::with_capacity(cfg.rules.len() * cfg.shadow_clusters.len());
        let has_baseline = cfg.shadow_clusters.iter().any(|s| s.baseline);
        for rule in &cfg.rules {
            for shadow in &cfg.shadow_clusters {
                pair_stats.push(PairStats::define(m, &rule.name, &shadow.name, has_baseline && !shadow.baseline)?);
            }
        }
        let global = GlobalStats {
            pending: m.define(MetricKind::Gauge, stats::PENDING)?,
            backlog: m.define(MetricKind::Gauge, stats::BACKLOG)?,
            records: m.define(MetricKind::Counter, stats::RECORDS)?,
            bad_records: m.define(MetricKind::Counter, stats::BAD_RECORDS)?,
            unknown_cluster: m.define(MetricKind::Counter, stats::UNKNOWN_CLUSTER)?,
            unmatched: m.define(MetricKind::Counter, stats::UNMATCHED)?,
            late: m.define(MetricKind::Counter, stats::LATE)?,
            duplicate: m.define(MetricKind::Counter, stats::DUPLICATE)?,
            samples_rate_limited: m.define(MetricKind::Counter, stats::SAMPLES_RATE_LIMITED)?,
        };
        let table = PairTable::new(cfg.shadow_clusters.len(), cfg.max_pending, MAX_PENDING_BYTES, cfg.pair_timeout_ms);
        let counts = vec![Counts::default(); pair_stats.len()];
        let limiter = cfg.samples.as_ref().map(|s| RateLimiter::new(s.max_per_second));
        Ok(Comparator {
            cfg,
            table,
            jobs: VecDeque::new(),
            unmirrored_checks: VecDeque::new(),
            pair_stats,
            counts,
            counts_changed: true,
            global,
            limiter,
            due_samples: VecDeque::new(),
        })
    }

    pub fn config(&self) -> &CompareConfig {
        &self.cfg
    }

    /// Requests waiting in the pairing table.
    pub fn pending(&self) -> usize {
        self.table.len()
    }

    /// Pairs waiting to be scored.
    pub fn backlog(&self) -> usize {
        self.jobs.len()
    }

    fn stats_for(&self, rule: usize, shadow: usize) -> Option<&PairStats> {
        self.pair_stats.get(rule * self.cfg.shadow_clusters.len() + shadow)
    }

    fn count(&self, m: &mut dyn Metrics, rule: usize, shadow: usize, pick: fn(&PairStats) -> u32) {
        if let Some(s) = self.stats_for(rule, shadow) {
            m.add(pick(s), 1);
        }
    }

    /// Adds to what the verdict gauges are computed from.
    fn tally(&mut self, rule: usize, shadow: usize, pair: Option<bool>) {
        let i = rule * self.cfg.shadow_clusters.len() + shadow;
        if let Some(c) = self.counts.get_mut(i) {
            match pair {
                Some(divergent) => {
                    c.pairs += 1;
                    c.divergent += u64::from(divergent);
                }
                None => c.failures += 1,
            }
            self.counts_changed = true;
        }
    }

    /// Takes one queue item from a capture filter: a batch of records (or, from an older capture, one).
    pub fn on_item(&mut self, item: &[u8], now_ms: u64, m: &mut dyn Metrics) {
        for part in split(item) {
            m.add(self.global.records, 1);
            match part.and_then(decode) {
                Ok(record) => self.on_record(record, now_ms, m),
                Err(e) => {
                    log::warn!("shadow_compare: dropping a queue item that does not decode: {e}");
                    m.add(self.global.bad_records, 1);
                }
            }
        }
        m.record(self.global.pending, self.table.len() as u64);
    }

    fn on_record(&mut self, record: Record, now_ms: u64, m: &mut dyn Metrics) {
        let side = if record.cluster == self.cfg.primary_cluster {
            Side::Primary
        } else if let Some(i) = self.cfg.shadow_clusters.iter().position(|s| s.cluster == record.cluster) {
            Side::Shadow(i)
        } else {
            m.add(self.global.unknown_cluster, 1);
            return;
        };
        let Some((rule, _)) = self.cfg.rule_for(&record.path) else {
            if side == Side::Primary {
                m.add(self.global.unmatched, 1);
            }
            return;
        };
        let key = record.request_id.clone();
        let (value, size) = if record.outcome == Outcome::Started {
            (None, 0)
        } else {
            let size = record.body.len() + record.request_body.len();
            (Some(Rc::new(record)), size)
        };
        match self.table.offer(&key, rule, side, value, size, now_ms) {
            Offer::Stored => {
                let waiting = self.advance(&key, m, false);
                if waiting && side == Side::Primary {
                    self.check_unmirrored_later(key, now_ms, m);
                }
            }
            Offer::Late(_) => m.add(self.global.late, 1),
            Offer::Duplicate(_) => m.add(self.global.duplicate, 1),
            Offer::Shed(_) => match side {
                Side::Shadow(i) => self.count(m, rule, i, |s| s.dropped),
                Side::Primary => {
                    for i in 0..self.cfg.shadow_clusters.len() {
                        self.count(m, rule, i, |s| s.dropped);
                    }
                }
            },
        }
    }

    /// A shadow of `key` has shown no sign yet although its primary has arrived. Its `Started` marker may
    /// still be on the way: markers and records travel in per-worker, per-cluster batches, so a shadow's
    /// marker can reach the queue after its primary's record. Decide after [`UNMIRRORED_GRACE_MS`]; with
    /// too many waiting already, decide now (bounded memory; a late marker then counts as `late`).
    fn check_unmirrored_later(&mut self, key: String, now_ms: u64, m: &mut dyn Metrics) {
        if self.unmirrored_checks.len() >= self.cfg.max_pending {
            self.advance(&key, m, true);
        } else {
            self.unmirrored_checks.push_back((now_ms.saturating_add(UNMIRRORED_GRACE_MS), key));
        }
    }

    /// Hands out every pair of `key` that became decidable, and closes the entry when nothing is left.
    /// With `settle_unmirrored`, a shadow with no sign at all is counted `unmirrored` and closed; without,
    /// it is left open. Returns whether such a shadow is left open.
    fn advance(&mut self, key: &str, m: &mut dyn Metrics, settle_unmirrored: bool) -> bool {
        let Some(entry) = self.table.entry_mut(key) else { return false };
        let Slot::Arrived(primary) = &entry.primary else { return false };
        let primary = Rc::clone(primary);
        let rule = entry.rule;
        let mut ready = Vec::new();
        let mut unmirrored = Vec::new();
        let mut released = 0;
        let mut waiting = false;
        for (i, slot) in entry.shadows.iter_mut().enumerate() {
            match slot {
                Slot::Empty if settle_unmirrored => {
                    *slot = Slot::Closed;
                    unmirrored.push(i);
                }
                Slot::Empty => waiting = true,
                Slot::Arrived(_) => {
                    if let Slot::Arrived(s) = std::mem::replace(slot, Slot::Closed) {
                        released += s.body.len() + s.request_body.len();
                        ready.push((i, s));
                    }
                }
                Slot::Started | Slot::Closed => {}
            }
        }
        if entry.shadows.iter().all(|s| matches!(s, Slot::Closed)) {
            entry.primary = Slot::Closed;
            released += primary.body.len() + primary.request_body.len();
        }
        self.table.settle(key, released);
        for i in unmirrored {
            self.count(m, rule, i, |s| s.unmirrored);
        }
        for (i, s) in ready {
            let shadow_record = Rc::try_unwrap(s).unwrap_or_else(|rc| (*rc).clone());
            self.pair(rule, i, Rc::clone(&primary), shadow_record, m);
        }
        waiting
    }

    /// Decides what a pair is: an error on one side (counted, not scored) or a job for the scorer.
    fn pair(&mut self, rule: usize, shadow: usize, primary: Rc<Record>, s: Record, m: &mut dyn Metrics) {
        let failed = |r: &Record| matches!(r.outcome, Outcome::NoResponse | Outcome::Reset) || r.status >= 500;
        if failed(&primary) {
            return self.count(m, rule, shadow, |s| s.primary_errors);
        }
        if s.outcome == Outcome::NoResponse {
            self.tally(rule, shadow, None);
            return self.count(m, rule, shadow, |s| s.shadow_missing);
        }
        if failed(&s) {
            self.tally(rule, shadow, None);
            return self.count(m, rule, shadow, |s| s.shadow_errors);
        }
        if let Some(st) = self.stats_for(rule, shadow) {
            m.record(st.primary_latency_ms, primary.latency_us / 1_000);
            m.record(st.shadow_latency_ms, s.latency_us / 1_000);
        }
        if primary.status != s.status {
            self.tally(rule, shadow, Some(true));
            if let Some(st) = self.stats_for(rule, shadow) {
                m.add(st.status_mismatch, 1);
                m.add(st.pairs, 1);
                m.add(st.divergent, 1);
                m.record(st.distance_bp, 10_000);
            }
            return;
        }
        // A side captured without its body (the backlog was half full when it started) is shed like a pair
        // that finds the backlog full now: errors, latency and status were counted above all the same.
        if primary.outcome == Outcome::Shed || s.outcome == Outcome::Shed || self.jobs.len() >= self.cfg.max_backlog {
            return self.count(m, rule, shadow, |s| s.dropped);
        }
        self.jobs.push_back(Job { rule, shadow, primary, shadow_record: s });
        m.record(self.global.backlog, self.jobs.len() as u64);
    }

    /// Scores waiting pairs until none is left or `stop()` says the slice is over (checked after each
    /// pair, so at least one is scored per call). Returns what was scored.
    pub fn run_jobs(&mut self, now_ms: u64, m: &mut dyn Metrics, stop: &mut dyn FnMut() -> bool) -> Vec<Scored> {
        let mut out = Vec::new();
        while let Some(job) = self.jobs.pop_front() {
            let mut scored = self.score_job(&job);
            // A pair that could not be scored counts against the shadow, like an error would.
            let pair = scored.result.is_ok().then_some(scored.divergent);
            self.tally(job.rule, job.shadow, pair);
            scored.sample_due = self.sample_wanted(&scored, now_ms, m);
            if let Some(st) = self.stats_for(job.rule, job.shadow) {
                match &scored.result {
                    Ok(similarity) => {
                        m.add(st.pairs, 1);
                        if scored.divergent {
                            m.add(st.divergent, 1);
                        }
                        m.record(st.distance_bp, distance_bp(*similarity));
                    }
                    Err(e) => {
                        if let Some(id) = st.compare_error(e) {
                            m.add(id, 1);
                        }
                    }
                }
            }
            if scored.sample_due {
                let (result, divergent) = (scored.result.clone(), scored.divergent);
                self.due_samples.push_back(DueSample { job, result, divergent, now_ms });
            }
            out.push(scored);
            if stop() {
                break;
            }
        }
        m.record(self.global.backlog, self.jobs.len() as u64);
        out
    }

    /// Whether a scored pair gets a sample: samples are on, the pair is due one, there is room to hold it,
    /// and the limiter allows it. A pair refused for room or rate is counted `samples.rate_limited`.
    fn sample_wanted(&mut self, scored: &Scored, now_ms: u64, m: &mut dyn Metrics) -> bool {
        let Some(cfg) = self.cfg.samples.as_ref() else { return false };
        let wanted = scored.divergent || scored.result.is_err() || sample::sample_agreeing(&scored.request_id, cfg.agree_fraction);
        if !wanted {
            return false;
        }
        let room = self.due_samples.len() < MAX_DUE_SAMPLES;
        let allowed = room && self.limiter.as_mut().is_some_and(|l| l.try_take(now_ms));
        if !allowed {
            m.add(self.global.samples_rate_limited, 1);
        }
        allowed
    }

    /// Samples waiting to be built.
    pub fn samples_due(&self) -> usize {
        self.due_samples.len()
    }

    /// Builds the oldest due sample: the JSON body for the sink (bodies decoded, redacted and truncated).
    ///
    /// The glue calls it in a slice of its own, never in one that scores. Building reads both bodies again
    /// (a redaction check, escaping) and costs about as much as scoring a pair or two; what lengthens the
    /// latency tail is how long the main thread is busy at a stretch, and a sample built right after a
    /// scoring slice made that stretch longer (docs/performance.md).
    pub fn next_sample(&mut self) -> Option<Vec<u8>> {
        let due = self.due_samples.pop_front()?;
        let cfg = self.cfg.samples.as_ref()?;
        let rule = self.cfg.rules.get(due.job.rule)?;
        let shadow = self.cfg.shadow_clusters.get(due.job.shadow)?;
        let input = SampleInput {
            rule: &rule.name,
            shadow: &shadow.name,
            kind: rule.scorer.kind,
            result: &due.result,
            divergent: due.divergent,
            primary: &due.job.primary,
            shadow_record: &due.job.shadow_record,
            now_ms: due.now_ms,
        };
        Some(sample::build(&input, cfg))
    }

    /// Drops the oldest due sample unbuilt, counted `samples.rate_limited`: the sink has too many calls in
    /// flight.
    pub fn skip_sample(&mut self, m: &mut dyn Metrics) {
        if self.due_samples.pop_front().is_some() {
            m.add(self.global.samples_rate_limited, 1);
        }
    }

    fn score_job(&self, job: &Job) -> Scored {
        let result = self.cfg.rules.get(job.rule).map_or(Ok(0.0), |rule| score_pair(rule, &job.primary, &job.shadow_record));
        let divergent = match (&result, self.cfg.rules.get(job.rule)) {
            (Ok(sim), Some(rule)) => is_divergent(*sim, rule.threshold),
            _ => false,
        };
        Scored {
            rule: job.rule,
            shadow: job.shadow,
            request_id: job.primary.request_id.clone(),
            result,
            divergent,
            sample_due: false,
        }
    }

    /// Expires pairs whose other side never came, and refreshes the gauges.
    pub fn on_tick(&mut self, now_ms: u64, m: &mut dyn Metrics) {
        while self.unmirrored_checks.front().is_some_and(|(due, _)| *due <= now_ms) {
            if let Some((_, key)) = self.unmirrored_checks.pop_front() {
                self.advance(&key, m, true);
            }
        }
        for (_, entry) in self.table.expire(now_ms) {
            let primary_seen = matches!(entry.primary, Slot::Arrived(_));
            for (i, slot) in entry.shadows.iter().enumerate() {
                match (primary_seen, slot) {
                    (true, Slot::Started) => {
                        // The most common failure of a slow candidate: it counts against promotion too.
                        self.tally(entry.rule, i, None);
                        self.count(m, entry.rule, i, |s| s.shadow_missing);
                    }
                    (true, Slot::Empty) => self.count(m, entry.rule, i, |s| s.unmirrored),
                    (false, Slot::Started | Slot::Arrived(_)) => self.count(m, entry.rule, i, |s| s.primary_missing),
                    _ => {}
                }
            }
        }
        m.record(self.global.pending, self.table.len() as u64);
        m.record(self.global.backlog, self.jobs.len() as u64);
        if self.counts_changed {
            self.counts_changed = false;
            self.record_verdicts(m);
        }
    }

    /// Refreshes the verdict gauges of every (rule, shadow) from the counts.
    fn record_verdicts(&self, m: &mut dyn Metrics) {
        let shadows = self.cfg.shadow_clusters.len();
        let baseline = self.cfg.shadow_clusters.iter().position(|s| s.baseline);
        for (i, (st, c)) in self.pair_stats.iter().zip(&self.counts).enumerate() {
            let rule = i / shadows.max(1);
            let base = baseline.and_then(|b| self.counts.get(rule * shadows + b)).copied();
            let own = verdict::wilson(c.divergent, c.pairs);
            m.record(st.divergence_ppm, own.map_or(0, |r| verdict::ppm(r.rate)));
            // No pairs means no evidence: the bound is 100%, so a gate on this gauge alone never passes.
            m.record(st.divergence_upper_ppm, own.map_or(1_000_000, |r| verdict::ppm(r.upper)));
            if let Some(id) = st.excess_divergence_upper_ppm {
                let excess = verdict::deciding_divergence(*c, base).map_or(1_000_000, |r| verdict::ppm(r.upper));
                m.record(id, excess);
            }
            let is_baseline = baseline == Some(i % shadows.max(1));
            let ready = verdict::readiness(*c, if is_baseline { None } else { base }, self.cfg.promotion);
            m.record(st.promotion_ready, u64::from(ready == Readiness::Ready));
        }
    }
}

/// Scores one pair of records under a rule: decode the content encoding, then the rule's scorer.
pub fn score_pair(rule: &Rule, primary: &Record, shadow: &Record) -> Result<f64, ScoreError> {
    if primary.outcome == Outcome::Truncated || shadow.outcome == Outcome::Truncated {
        return Err(ScoreError::BodyTooLarge);
    }
    let limit = crate::config::MAX_MAX_BODY_BYTES;
    let a = decode_body(&primary.body, &primary.content_encoding, limit)?;
    let b = decode_body(&shadow.body, &shadow.content_encoding, limit)?;
    // Two empty bodies (204 No Content, a HEAD) are the same answer: agreement, not invalid JSON.
    if a.is_empty() && b.is_empty() {
        return Ok(1.0);
    }
    rule.scorer.score(&a, &b)
}

/// (1 − similarity) × 10,000, rounded and clamped: the `distance_bp` histogram value.
pub fn distance_bp(similarity: f64) -> u64 {
    let d = ((1.0 - similarity) * 10_000.0).round();
    if d.is_nan() {
        10_000
    } else {
        d.clamp(0.0, 10_000.0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::encode;
    use crate::stats::MemoryMetrics;

    const CONFIG: &str = r#"{"primary_cluster": "prod", "shadow_clusters": ["v2", "v3"], "max_backlog": 2,
        "pair_timeout_ms": 100,
        "rules": [{"name": "cls", "path_prefix": "/classify", "kind": "exact", "pointer": "/label"}]}"#;

    fn setup() -> (Comparator, MemoryMetrics) {
        let mut m = MemoryMetrics::default();
        let cfg = CompareConfig::parse(CONFIG.as_bytes()).unwrap();
        (Comparator::new(cfg, &mut m).unwrap(), m)
    }

    fn rec(id: &str, cluster: &str, status: u16, outcome: Outcome, body: &str) -> Vec<u8> {
        encode(&Record {
            request_id: id.into(),
            cluster: cluster.into(),
            method: "POST".into(),
            path: "/classify".into(),
            status,
            outcome,
            latency_us: 12_400,
            body: body.as_bytes().to_vec(),
            ..Record::default()
        })
    }

    fn stat(m: &MemoryMetrics, shadow: &str, metric: &str) -> u64 {
        m.value(&stats::rule_stat("cls", shadow, metric))
    }

    fn run_all(c: &mut Comparator, m: &mut MemoryMetrics) -> Vec<Scored> {
        c.run_jobs(0, m, &mut || false)
    }

    #[test]
    fn defines_every_stat_up_front() {
        let (_, m) = setup();
        let names: Vec<&str> = m.names().collect();
        assert!(names.contains(&"shadow_compare.rule.cls.shadow.v3.reason.dimension_mismatch.compare_errors"));
        assert!(names.contains(&"shadow_compare.rule.cls.shadow.v2.distance_bp"));
        assert!(names.contains(&"shadow_compare.pending"));
        // 9 counters + 7 reasons + 3 gauges + 3 histograms per (rule, shadow), and 9 globals.
        assert_eq!(names.len(), 2 * 22 + 9);
    }

    #[test]
    fn pairs_in_either_order_and_scores_each_shadow() {
        let (mut c, mut m) = setup();
        c.on_item(&rec("r1", "v2", 0, Outcome::Started, ""), 0, &mut m);
        c.on_item(&rec("r1", "v3", 0, Outcome::Started, ""), 0, &mut m);
        c.on_item(&rec("r1", "v3", 200, Outcome::Complete, r#"{"label": "dog"}"#), 1, &mut m);
        assert_eq!(c.pending(), 1);
        c.on_item(&rec("r1", "prod", 200, Outcome::Complete, r#"{"label": "cat"}"#), 2, &mut m);
        assert_eq!(c.backlog(), 1);
        c.on_item(&rec("r1", "v2", 200, Outcome::Complete, r#"{"label":"cat","p":1}"#), 3, &mut m);
        assert_eq!(c.pending(), 0);
        let scored = run_all(&mut c, &mut m);
        assert_eq!(scored.len(), 2);
        assert_eq!((scored[0].shadow, scored[0].result.clone(), scored[0].divergent), (1, Ok(0.0), true));
        assert_eq!((scored[1].shadow, scored[1].result.clone(), scored[1].divergent), (0, Ok(1.0), false));
        assert_eq!((stat(&m, "v2", "pairs"), stat(&m, "v2", "divergent")), (1, 0));
        assert_eq!((stat(&m, "v3", "pairs"), stat(&m, "v3", "divergent")), (1, 1));
        assert_eq!(m.samples(&stats::rule_stat("cls", "v2", "distance_bp")), vec![0]);
        assert_eq!(m.samples(&stats::rule_stat("cls", "v3", "distance_bp")), vec![10_000]);
        assert_eq!(m.samples(&stats::rule_stat("cls", "v3", "primary_latency_ms")), vec![12]);
        assert_eq!(m.value(stats::PENDING), 0);
        assert_eq!(m.value(stats::RECORDS), 5);
    }

    #[test]
    fn a_shadow_that_never_started_is_unmirrored_after_the_grace() {
        let mut m = MemoryMetrics::default();
        let cfg = CompareConfig::parse(CONFIG.replace(r#""pair_timeout_ms": 100"#, r#""pair_timeout_ms": 5000"#).as_bytes()).unwrap();
        let mut c = Comparator::new(cfg, &mut m).unwrap();
        c.on_item(&rec("r1", "v2", 0, Outcome::Started, ""), 0, &mut m);
        c.on_item(&rec("r1", "prod", 200, Outcome::Complete, r#"{"label": "cat"}"#), 1, &mut m);
        c.on_tick(UNMIRRORED_GRACE_MS, &mut m);
        assert_eq!(stat(&m, "v3", "unmirrored"), 0, "its marker may still be in another batch");
        c.on_tick(1 + UNMIRRORED_GRACE_MS, &mut m);
        assert_eq!(stat(&m, "v3", "unmirrored"), 1);
        assert_eq!(c.pending(), 1, "still waiting for v2");
        // Markers flushed after the primary's record, within the grace: paired as usual.
        c.on_item(&rec("r2", "prod", 200, Outcome::Complete, r#"{"label": "cat"}"#), 10, &mut m);
        for shadow in ["v2", "v3"] {
            c.on_item(&rec("r2", shadow, 0, Outcome::Started, ""), 30, &mut m);
            c.on_item(&rec("r2", shadow, 200, Outcome::Complete, r#"{"label": "cat"}"#), 40, &mut m);
        }
        c.on_tick(2 * UNMIRRORED_GRACE_MS, &mut m);
        assert_eq!((stat(&m, "v2", "unmirrored"), stat(&m, "v3", "unmirrored")), (0, 1));
        assert_eq!(c.backlog(), 2, "r2 against each shadow");
        c.on_tick(5_001, &mut m);
        assert_eq!(stat(&m, "v2", "shadow_missing"), 1);
        assert_eq!(c.pending(), 0);
        // A shadow slower than the pair timeout arrives late: recognised, not a new pending pair.
        c.on_item(&rec("r1", "v2", 200, Outcome::Complete, "{}"), 5_500, &mut m);
        assert_eq!(m.value(stats::LATE), 1);
        assert_eq!(c.pending(), 0);
    }

    #[test]
    fn records_arrive_in_batches() {
        let (mut c, mut m) = setup();
        let mut batch = crate::record::Batch::default();
        for (cluster, outcome, body) in [("v2", Outcome::Started, ""), ("prod", Outcome::Complete, r#"{"label": "x"}"#)] {
            batch.push(&decode(&rec("b1", cluster, 200, outcome, body)).unwrap());
        }
        let mut item = batch.item().unwrap().to_vec();
        c.on_item(&item, 0, &mut m);
        assert_eq!((m.value(stats::RECORDS), c.pending()), (2, 1));
        // A damaged batch: the whole records before the damage count, the damage is one bad record.
        item.truncate(item.len() - 1);
        c.on_item(&item, 0, &mut m);
        assert_eq!((m.value(stats::RECORDS), m.value(stats::BAD_RECORDS), m.value(stats::DUPLICATE)), (4, 1, 1));
    }

    #[test]
    fn errors_on_either_side_are_counted_not_scored() {
        let (mut c, mut m) = setup();
        let both = |c: &mut Comparator, m: &mut MemoryMetrics, id: &str, p: Vec<u8>, s: Vec<u8>| {
            c.on_item(&rec(id, "v2", 0, Outcome::Started, ""), 0, m);
            c.on_item(&rec(id, "v3", 0, Outcome::Started, ""), 0, m);
            c.on_item(&s, 0, m);
            c.on_item(&rec(id, "v3", 200, Outcome::Complete, r#"{"label": "x"}"#), 0, m);
            c.on_item(&p, 0, m);
        };
        both(&mut c, &mut m, "a", rec("a", "prod", 503, Outcome::Complete, ""), rec("a", "v2", 200, Outcome::Complete, "{}"));
        both(&mut c, &mut m, "b", rec("b", "prod", 200, Outcome::Complete, r#"{"label": "x"}"#), rec("b", "v2", 0, Outcome::NoResponse, ""));
        both(&mut c, &mut m, "c", rec("c", "prod", 200, Outcome::Complete, r#"{"label": "x"}"#), rec("c", "v2", 200, Outcome::Reset, "{"));
        both(&mut c, &mut m, "d", rec("d", "prod", 200, Outcome::Complete, r#"{"label": "x"}"#), rec("d", "v2", 404, Outcome::Complete, "{}"));
        assert_eq!(stat(&m, "v2", "primary_errors"), 1);
        assert_eq!(stat(&m, "v3", "primary_errors"), 1);
        assert_eq!(stat(&m, "v2", "shadow_missing"), 1);
        assert_eq!(stat(&m, "v2", "shadow_errors"), 1);
        assert_eq!(stat(&m, "v2", "status_mismatch"), 1);
        assert_eq!((stat(&m, "v2", "pairs"), stat(&m, "v2", "divergent")), (1, 1));
        assert_eq!(c.pending(), 0);
    }

    #[test]
    fn compare_errors_carry_their_reason() {
        let (mut c, mut m) = setup();
        let mut send = |id: &str, p: &str, s: &str, s_outcome: Outcome| {
            c.on_item(&rec(id, "v2", 0, Outcome::Started, ""), 0, &mut m);
            c.on_item(&rec(id, "prod", 200, Outcome::Complete, p), 0, &mut m);
            c.on_item(&rec(id, "v2", 200, s_outcome, s), 0, &mut m);
            c.run_jobs(0, &mut m, &mut || false);
        };
        send("a", r#"{"label": "x"}"#, "not json", Outcome::Complete);
        send("b", r#"{"label": "x"}"#, r#"{"other": 1}"#, Outcome::Complete);
        send("c", r#"{"label": "x"}"#, r#"{"label": "x""#, Outcome::Truncated);
        let reason = |r: &str| m.value(&stats::reason_stat("cls", "v2", r));
        assert_eq!(reason("invalid_json"), 1);
        assert_eq!(reason("missing_field"), 1);
        assert_eq!(reason("body_too_large"), 1);
        assert_eq!(stat(&m, "v2", "pairs"), 0);
    }

    #[test]
    fn backlog_and_table_are_bounded_and_shedding_is_counted() {
        let (mut c, mut m) = setup();
        for i in 0..5 {
            let id = format!("r{i}");
            c.on_item(&rec(&id, "v2", 0, Outcome::Started, ""), 0, &mut m);
            c.on_item(&rec(&id, "v3", 0, Outcome::Started, ""), 0, &mut m);
            c.on_item(&rec(&id, "prod", 200, Outcome::Complete, r#"{"label": "x"}"#), 0, &mut m);
            c.on_item(&rec(&id, "v2", 200, Outcome::Complete, r#"{"label": "x"}"#), 0, &mut m);
        }
        assert_eq!(c.backlog(), 2, "max_backlog");
        assert_eq!(stat(&m, "v2", "dropped"), 3);
        assert_eq!(m.value(stats::BACKLOG), 2);
        // Slices: stop after the first pair, the rest waits for the next slice.
        assert_eq!(c.run_jobs(0, &mut m, &mut || true).len(), 1);
        assert_eq!(c.backlog(), 1);

        let mut m = MemoryMetrics::default();
        let cfg = CompareConfig::parse(
            br#"{"primary_cluster": "prod", "shadow_clusters": ["v2"], "max_pending": 2,
                "rules": [{"name": "cls", "kind": "exact"}]}"#,
        )
        .unwrap();
        let mut c = Comparator::new(cfg, &mut m).unwrap();
        for id in ["a", "b", "c"] {
            c.on_item(&rec(id, "v2", 0, Outcome::Started, ""), 0, &mut m);
        }
        assert_eq!(c.pending(), 2);
        assert_eq!(stat(&m, "v2", "dropped"), 1);
        // The shed request's other side is recognised and not counted again.
        c.on_item(&rec("c", "prod", 200, Outcome::Complete, "1"), 0, &mut m);
        assert_eq!(stat(&m, "v2", "dropped"), 1);
        assert_eq!(m.value(stats::LATE), 1);
    }

    #[test]
    fn a_side_shed_at_capture_is_dropped_after_errors_and_latency_are_counted() {
        let (mut c, mut m) = setup();
        let mut both = |id: &str, primary: Vec<u8>, v2: Vec<u8>| {
            c.on_item(&rec(id, "v2", 0, Outcome::Started, ""), 0, &mut m);
            c.on_item(&rec(id, "v3", 0, Outcome::Started, ""), 0, &mut m);
            c.on_item(&primary, 0, &mut m);
            c.on_item(&v2, 0, &mut m);
            c.on_item(&rec(id, "v3", 200, Outcome::Complete, r#"{"label": "x"}"#), 0, &mut m);
        };
        both("a", rec("a", "prod", 200, Outcome::Shed, ""), rec("a", "v2", 200, Outcome::Complete, r#"{"label": "x"}"#));
        both("b", rec("b", "prod", 200, Outcome::Complete, r#"{"label": "x"}"#), rec("b", "v2", 200, Outcome::Shed, ""));
        both("c", rec("c", "prod", 200, Outcome::Complete, r#"{"label": "x"}"#), rec("c", "v2", 503, Outcome::Shed, ""));
        both("d", rec("d", "prod", 200, Outcome::Shed, ""), rec("d", "v2", 404, Outcome::Complete, ""));
        assert_eq!(stat(&m, "v2", "dropped"), 2, "a and b");
        assert_eq!(stat(&m, "v2", "shadow_errors"), 1, "c: a 5xx counts whether or not the body was copied");
        assert_eq!((stat(&m, "v2", "status_mismatch"), stat(&m, "v2", "pairs")), (1, 1), "d");
        assert_eq!(stat(&m, "v3", "dropped"), 2, "a and d: the primary was shed for every shadow");
        assert_eq!(c.backlog(), 2, "b and c for v3");
        assert_eq!(m.samples(&stats::rule_stat("cls", "v2", stats::SHADOW_LATENCY_MS)).len(), 3);
        assert_eq!(c.pending(), 0);
    }

    #[test]
    fn expiry_counts_primary_missing_and_bad_items_are_counted() {
        let (mut c, mut m) = setup();
        c.on_item(&rec("r", "v2", 200, Outcome::Complete, "{}"), 0, &mut m);
        c.on_item(&rec("r", "v3", 0, Outcome::Started, ""), 0, &mut m);
        c.on_tick(99, &mut m);
        assert_eq!(c.pending(), 1);
        c.on_tick(100, &mut m);
        assert_eq!(stat(&m, "v2", "primary_missing"), 1);
        assert_eq!(stat(&m, "v3", "primary_missing"), 1);
        assert_eq!(m.value(stats::PENDING), 0);
        c.on_item(b"\x07garbage", 0, &mut m);
        c.on_item(&rec("x", "elsewhere", 200, Outcome::Complete, ""), 0, &mut m);
        let mut other_path = decode(&rec("y", "prod", 200, Outcome::Complete, "")).unwrap();
        other_path.path = "/health".into();
        c.on_item(&encode(&other_path), 0, &mut m);
        assert_eq!(m.value(stats::BAD_RECORDS), 1);
        assert_eq!(m.value(stats::UNKNOWN_CLUSTER), 1);
        assert_eq!(m.value(stats::UNMATCHED), 1);
    }

    #[test]
    fn verdict_gauges_follow_the_counts_and_subtract_the_baseline() {
        let mut m = MemoryMetrics::default();
        let cfg = CompareConfig::parse(
            br#"{"primary_cluster": "prod", "shadow_clusters": [{"name": "base", "baseline": true}, "cand"],
                 "promotion": {"min_pairs": 100, "max_divergence": 0.05, "max_error_rate": 0.05},
                 "rules": [{"name": "cls", "kind": "exact", "pointer": "/label"}]}"#,
        )
        .unwrap();
        let mut c = Comparator::new(cfg, &mut m).unwrap();
        // 200 requests: the baseline diverges on 10 (5%), the candidate on 14 (7%).
        for i in 0..200 {
            let id = format!("r{i}");
            let answer = |diverge: bool| if diverge { r#"{"label": "dog"}"# } else { r#"{"label": "cat"}"# };
            c.on_item(&rec(&id, "base", 0, Outcome::Started, ""), 0, &mut m);
            c.on_item(&rec(&id, "cand", 0, Outcome::Started, ""), 0, &mut m);
            c.on_item(&rec(&id, "prod", 200, Outcome::Complete, r#"{"label": "cat"}"#), 0, &mut m);
            c.on_item(&rec(&id, "base", 200, Outcome::Complete, answer(i % 20 == 0)), 0, &mut m);
            c.on_item(&rec(&id, "cand", 200, Outcome::Complete, answer(i % 20 == 0 || i % 50 == 1)), 0, &mut m);
            c.run_jobs(0, &mut m, &mut || false);
        }
        c.on_tick(1, &mut m);
        let g = |shadow: &str, metric: &str| m.value(&stats::rule_stat("cls", shadow, metric));
        assert_eq!(g("base", "divergence_ppm"), 50_000);
        assert_eq!(g("cand", "divergence_ppm"), 70_000);
        let upper = verdict::wilson(14, 200).unwrap().upper;
        assert_eq!(g("cand", "divergence_upper_ppm"), verdict::ppm(upper));
        let excess = verdict::excess(verdict::wilson(14, 200).unwrap(), verdict::wilson(10, 200).unwrap());
        assert_eq!(g("cand", "excess_divergence_upper_ppm"), verdict::ppm(excess.upper));
        assert!(!m.names().any(|n| n.ends_with("shadow.base.excess_divergence_upper_ppm")));
        // Own divergence 7% is over the 5% gate, and so is the excess's upper bound here.
        assert_eq!(g("cand", "promotion_ready"), u64::from(excess.upper <= 0.05));
        assert_eq!(g("base", "promotion_ready"), 0, "baseline's own upper bound is above 5%");
    }

    #[test]
    fn samples_divergent_pairs_within_the_rate_limit() {
        let mut m = MemoryMetrics::default();
        let cfg = CompareConfig::parse(
            br#"{"primary_cluster": "prod", "shadow_clusters": ["v2"],
                 "samples": {"cluster": "sink", "max_per_second": 2, "redact": ["/secret"]},
                 "rules": [{"name": "cls", "kind": "exact", "pointer": "/label"}]}"#,
        )
        .unwrap();
        let mut c = Comparator::new(cfg, &mut m).unwrap();
        for i in 0..5 {
            let id = format!("r{i}");
            c.on_item(&rec(&id, "v2", 0, Outcome::Started, ""), 0, &mut m);
            c.on_item(&rec(&id, "prod", 200, Outcome::Complete, r#"{"label": "cat", "secret": "s3"}"#), 0, &mut m);
            let shadow = if i == 0 { r#"{"label": "cat"}"# } else { r#"{"label": "dog"}"# };
            c.on_item(&rec(&id, "v2", 200, Outcome::Complete, shadow), 0, &mut m);
        }
        let scored = c.run_jobs(10_000, &mut m, &mut || false);
        assert_eq!(scored.iter().map(|s| s.sample_due).collect::<Vec<_>>(), [false, true, true, false, false]);
        assert_eq!(c.samples_due(), 2, "scoring builds no sample");
        let samples: Vec<serde_json::Value> =
            std::iter::from_fn(|| c.next_sample()).map(|b| serde_json::from_slice(&b).unwrap()).collect();
        assert_eq!(samples.len(), 2, "agreeing r0 not sampled; 4 divergent, limit 2");
        assert_eq!(samples[0]["request_id"], "r1");
        assert_eq!(samples[0]["primary_body"], r#"{"label":"cat","secret":"[REDACTED]"}"#);
        assert_eq!(m.value(stats::SAMPLES_RATE_LIMITED), 2);
    }

    #[test]
    fn due_samples_are_bounded_and_built_oldest_first() {
        let mut m = MemoryMetrics::default();
        let cfg = CompareConfig::parse(
            br#"{"primary_cluster": "prod", "shadow_clusters": ["v2"],
                 "samples": {"cluster": "sink", "max_per_second": 100},
                 "rules": [{"name": "cls", "kind": "exact", "pointer": "/label"}]}"#,
        )
        .unwrap();
        let mut c = Comparator::new(cfg, &mut m).unwrap();
        for i in 0..MAX_DUE_SAMPLES + 4 {
            let id = format!("r{i}");
            c.on_item(&rec(&id, "v2", 0, Outcome::Started, ""), 0, &mut m);
            c.on_item(&rec(&id, "prod", 200, Outcome::Complete, r#"{"label": "cat"}"#), 0, &mut m);
            c.on_item(&rec(&id, "v2", 200, Outcome::Complete, r#"{"label": "dog"}"#), 0, &mut m);
        }
        let scored = c.run_jobs(10_000, &mut m, &mut || false);
        assert_eq!(scored.iter().filter(|s| s.sample_due).count(), MAX_DUE_SAMPLES);
        assert_eq!((c.samples_due(), m.value(stats::SAMPLES_RATE_LIMITED)), (MAX_DUE_SAMPLES, 4));
        c.skip_sample(&mut m);
        assert_eq!((c.samples_due(), m.value(stats::SAMPLES_RATE_LIMITED)), (MAX_DUE_SAMPLES - 1, 5));
        let next: serde_json::Value = serde_json::from_slice(&c.next_sample().unwrap()).unwrap();
        assert_eq!((next["request_id"].as_str(), next["timestamp_ms"].as_u64()), (Some("r1"), Some(10_000)));
        assert_eq!(c.samples_due(), MAX_DUE_SAMPLES - 2);
        // Room again: the next divergent pair gets a sample.
        c.on_item(&rec("late", "v2", 0, Outcome::Started, ""), 0, &mut m);
        c.on_item(&rec("late", "prod", 200, Outcome::Complete, r#"{"label": "cat"}"#), 0, &mut m);
        c.on_item(&rec("late", "v2", 200, Outcome::Complete, r#"{"label": "dog"}"#), 0, &mut m);
        assert!(c.run_jobs(10_000, &mut m, &mut || false)[0].sample_due);
    }

    #[test]
    fn records_are_matched_by_cluster_and_counted_under_the_label() {
        let mut m = MemoryMetrics::default();
        let cfg = CompareConfig::parse(
            br#"{"primary_cluster": "outbound|80||v1.svc", "shadow_clusters": [{"name": "v2", "cluster": "outbound|80||v2.svc"}],
                 "rules": [{"name": "cls", "kind": "exact", "pointer": "/label"}]}"#,
        )
        .unwrap();
        let mut c = Comparator::new(cfg, &mut m).unwrap();
        c.on_item(&rec("r", "outbound|80||v2.svc", 0, Outcome::Started, ""), 0, &mut m);
        c.on_item(&rec("r", "outbound|80||v1.svc", 200, Outcome::Complete, r#"{"label": "a"}"#), 0, &mut m);
        c.on_item(&rec("r", "outbound|80||v2.svc", 200, Outcome::Complete, r#"{"label": "a"}"#), 0, &mut m);
        run_all(&mut c, &mut m);
        assert_eq!(stat(&m, "v2", "pairs"), 1);
        assert_eq!(m.value(stats::UNKNOWN_CLUSTER), 0);
    }

    #[test]
    fn two_empty_bodies_agree() {
        let (mut c, mut m) = setup();
        c.on_item(&rec("e", "v2", 0, Outcome::Started, ""), 0, &mut m);
        c.on_item(&rec("e", "v3", 0, Outcome::Started, ""), 0, &mut m);
        c.on_item(&rec("e", "prod", 204, Outcome::Complete, ""), 0, &mut m);
        c.on_item(&rec("e", "v2", 204, Outcome::Complete, ""), 0, &mut m);
        c.on_item(&rec("e", "v3", 204, Outcome::Complete, "{}"), 0, &mut m);
        let scored = run_all(&mut c, &mut m);
        assert_eq!(scored[0].result, Ok(1.0));
        assert_eq!(scored[1].result.as_ref().map_err(ScoreError::reason), Err("invalid_json"));
    }

    #[test]
    fn distance_is_basis_points() {
        assert_eq!(distance_bp(1.0), 0);
        assert_eq!(distance_bp(0.9999), 1);
        assert_eq!(distance_bp(0.5), 5_000);
        assert_eq!(distance_bp(0.0), 10_000);
        assert_eq!(distance_bp(f64::NAN), 10_000);
    }
}
