//! Stat names: the contract users build dashboards and alerts on. Change nothing here lightly.
//!
//! Per rule and shadow cluster: `shadow_compare.rule.<rule>.shadow.<shadow>.<metric>`; compare errors add
//! a `reason.<reason>.` segment before the metric. The `stats_tags` in `envoy/envoy.yaml` turn the
//! segments into Prometheus labels: `shadow_compare_pairs{rule="embed",shadow="shadow_model"}`. Names are
//! fixed at configure time from the config's rule and cluster names, whose alphabet is closed, so label
//! values are bounded. The README's stats table documents every name here.

/// Prefix of every stat (Envoy shows it as `wasmcustom.shadow_compare.…` in `/stats`).
pub const PREFIX: &str = "shadow_compare";

/// Counter: pairs scored.
pub const PAIRS: &str = "pairs";
/// Counter: scored pairs whose similarity is below the rule's threshold (status mismatches included).
pub const DIVERGENT: &str = "divergent";
/// Counter: both answered, but with different HTTP statuses (counted in `pairs` and `divergent` too).
pub const STATUS_MISMATCH: &str = "status_mismatch";
/// Counter: the shadow was sent the request but gave no response (connect failure, timeout, or none
/// within `pair_timeout_ms`).
pub const SHADOW_MISSING: &str = "shadow_missing";
/// Counter: a shadow response arrived but no primary response within `pair_timeout_ms`.
pub const PRIMARY_MISSING: &str = "primary_missing";
/// Counter: the shadow answered 5xx or reset mid-response: not scored.
pub const SHADOW_ERRORS: &str = "shadow_errors";
/// Counter: the primary answered 5xx or failed: not scored (users saw that error; it is not the shadow's).
pub const PRIMARY_ERRORS: &str = "primary_errors";
/// Counter: the pair could not be scored; one stat per reason (see `score::ScoreError::REASONS`).
pub const COMPARE_ERRORS: &str = "compare_errors";
/// Counter: shed because the pairing table or the scoring backlog was full, or because the captures copied no
/// body (`CAPTURE_SHED`).
pub const DROPPED: &str = "dropped";
/// Counter: a primary whose request this shadow never received (mirror sampling, `runtime_fraction`).
pub const UNMIRRORED: &str = "unmirrored";
/// Histogram: (1 − similarity) × 10,000, rounded: 0 = identical, 10,000 = nothing in common.
pub const DISTANCE_BP: &str = "distance_bp";
/// Histogram: upstream latency of the primary in a pair, ms.
pub const PRIMARY_LATENCY_MS: &str = "primary_latency_ms";
/// Histogram: upstream latency of the shadow in a pair, ms.
pub const SHADOW_LATENCY_MS: &str = "shadow_latency_ms";

/// Gauge: divergent / pairs since start, in parts per million.
pub const DIVERGENCE_PPM: &str = "divergence_ppm";
/// Gauge: the upper bound of the 95% Wilson interval of the divergence rate, ppm. Gate on this.
pub const DIVERGENCE_UPPER_PPM: &str = "divergence_upper_ppm";
/// Gauge: with a baseline shadow configured, the upper bound of (candidate − baseline) divergence, ppm
/// (0 when the candidate diverges no more than production does from itself).
pub const EXCESS_DIVERGENCE_UPPER_PPM: &str = "excess_divergence_upper_ppm";
/// Gauge: 1 when the shadow meets the config's `promotion` gate (enough pairs, divergence and failure
/// rate upper bounds under their limits), else 0.
pub const PROMOTION_READY: &str = "promotion_ready";

/// Gauge: requests waiting in the pairing table.
pub const PENDING: &str = "shadow_compare.pending";
/// Gauge: scoring jobs waiting for the compare service's next slice.
pub const BACKLOG: &str = "shadow_compare.backlog";
/// Counter: records received from captures.
pub const RECORDS: &str = "shadow_compare.records";
/// Counter: queue items that did not decode (a version mismatch during an upgrade, or a bug).
pub const BAD_RECORDS: &str = "shadow_compare.bad_records";
/// Counter: records from a cluster that is neither `primary_cluster` nor a shadow cluster.
pub const UNKNOWN_CLUSTER: &str = "shadow_compare.unknown_cluster";
/// Counter: primary records whose path matches no rule (not compared).
pub const UNMATCHED: &str = "shadow_compare.unmatched";
/// Counter: records for a request already closed (e.g. a shadow slower than `pair_timeout_ms`).
pub const LATE: &str = "shadow_compare.late";
/// Counter: a second record for the same side of one request (a client reusing `x-request-id`).
pub const DUPLICATE: &str = "shadow_compare.duplicate";
/// Counter: divergence samples handed to the sink cluster.
pub const SAMPLES_SENT: &str = "shadow_compare.samples.sent";
/// Counter: samples not sent because of the per-second limit or too many in flight.
pub const SAMPLES_RATE_LIMITED: &str = "shadow_compare.samples.rate_limited";
/// Counter: samples the sink did not accept (dispatch error, timeout, or a non-2xx answer).
pub const SAMPLES_FAILED: &str = "shadow_compare.samples.failed";
/// Counter: microseconds the compare service spent in its scoring and sample slices on the main thread. Its
/// rate is the share of the main thread they take (1,000,000 a second is all of it), which
/// `main_thread_percent` bounds while pairs wait; decoding and pairing records come on top.
pub const SCORING_US: &str = "shadow_compare.scoring_us";
/// Counter (capture): records that could not be enqueued (compare service missing or queue error).
pub const CAPTURE_ENQUEUE_FAILED: &str = "shadow_compare.capture.enqueue_failed";
/// Counter (capture): shadow requests answered locally because their method is not allowed.
pub const CAPTURE_BLOCKED: &str = "shadow_compare.capture.blocked";
/// Counter (capture): requests without `x-request-id` (cannot be paired; not captured).
pub const CAPTURE_NO_REQUEST_ID: &str = "shadow_compare.capture.no_request_id";

/// Counter (capture): requests not captured because the compare service's heartbeat is older than
/// `compare_heartbeat_timeout_ms` (its VM died, or the main thread is stuck): nothing piles up unread.
pub const CAPTURE_COMPARE_DOWN: &str = "shadow_compare.capture.compare_down";
/// Counter (capture): responses captured without their body because the compare service's backlog was
/// half full; the compare service counts those pairs `dropped`.
pub const CAPTURE_SHED: &str = "shadow_compare.capture.shed";

/// The full name of a per-rule, per-shadow stat.
///
/// ```
/// assert_eq!(shadow_compare::stats::rule_stat("embed", "v2", "pairs"), "shadow_compare.rule.embed.shadow.v2.pairs");
/// ```
pub fn rule_stat(rule: &str, shadow: &str, metric: &str) -> String {
    format!("{PREFIX}.rule.{rule}.shadow.{shadow}.{metric}")
}

/// The full name of a compare-error stat for one reason.
///
/// ```
/// assert_eq!(
///     shadow_compare::stats::reason_stat("embed", "v2", "invalid_json"),
///     "shadow_compare.rule.embed.shadow.v2.reason.invalid_json.compare_errors"
/// );
/// ```
pub fn reason_stat(rule: &str, shadow: &str, reason: &str) -> String {
    format!("{PREFIX}.rule.{rule}.shadow.{shadow}.reason.{reason}.{COMPARE_ERRORS}")
}

/// What kind of metric a name is, as Envoy defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
    Histogram,
}

/// The host's metrics, behind a trait so the compare logic runs natively in tests with a fake.
pub trait Metrics {
    /// Defines (or finds) a metric; the id is used for every later update.
    fn define(&mut self, kind: MetricKind, name: &str) -> Result<u32, String>;
    /// Adds to a counter.
    fn add(&mut self, id: u32, n: u64);
    /// Records a histogram sample, or sets a gauge.
    fn record(&mut self, id: u32, value: u64);
}

/// A metrics fake for native tests: counters and gauges by name, histogram samples kept in order.
#[derive(Debug, Default)]
pub struct MemoryMetrics {
    names: Vec<(String, MetricKind)>,
    values: Vec<u64>,
    samples: Vec<Vec<u64>>,
}

impl MemoryMetrics {
    /// The current value of a counter or gauge (0 when undefined).
    pub fn value(&self, name: &str) -> u64 {
        self.id(name).and_then(|i| self.values.get(i).copied()).unwrap_or(0)
    }

    /// The samples recorded into a histogram.
    pub fn samples(&self, name: &str) -> Vec<u64> {
        self.id(name).and_then(|i| self.samples.get(i).cloned()).unwrap_or_default()
    }

    /// Every defined name, in definition order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(|(n, _)| n.as_str())
    }

    fn id(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|(n, _)| n == name)
    }
}

impl Metrics for MemoryMetrics {
    fn define(&mut self, kind: MetricKind, name: &str) -> Result<u32, String> {
        let i = match self.id(name) {
            Some(i) => i,
            None => {
                self.names.push((name.to_string(), kind));
                self.values.push(0);
                self.samples.push(Vec::new());
                self.names.len() - 1
            }
        };
        u32::try_from(i).map_err(|e| e.to_string())
    }

    fn add(&mut self, id: u32, n: u64) {
        if let Some(v) = self.values.get_mut(id as usize) {
            *v += n;
        }
    }

    fn record(&mut self, id: u32, value: u64) {
        let i = id as usize;
        match self.names.get(i).map(|(_, k)| *k) {
            Some(MetricKind::Gauge) => {
                if let Some(v) = self.values.get_mut(i) {
                    *v = value;
                }
            }
            Some(_) => {
                if let Some(s) = self.samples.get_mut(i) {
                    s.push(value);
                }
            }
            None => {}
        }
    }
}
