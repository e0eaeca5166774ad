//! What a report says, computed once from an admin snapshot (and the sample store), then rendered as
//! text, JSON or HTML. Every number a renderer shows comes from here.

use super::correlation::Correlation;
use super::quantiles;
use crate::admin::{Group, Histogram, Snapshot};
use crate::sample_store::{StoredSample, Store, Tally};
use shadow_compare::stats;
use shadow_compare::verdict::{self, Band, Counts, Gate, Rate, Readiness};
use std::collections::BTreeMap;

/// The gauges the compare service publishes per rule and shadow, echoed in the report when present.
pub const GAUGES: [&str; 4] = [
    stats::DIVERGENCE_PPM,
    stats::DIVERGENCE_UPPER_PPM,
    stats::EXCESS_DIVERGENCE_UPPER_PPM,
    stats::PROMOTION_READY,
];

/// Distances are (1 − similarity) × 10,000: nothing lies above this.
pub const MAX_DISTANCE_BP: f64 = 10_000.0;

/// The counters of one (rule, shadow).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcomes {
    pub pairs: u64,
    pub divergent: u64,
    pub status_mismatch: u64,
    pub shadow_missing: u64,
    pub primary_missing: u64,
    pub shadow_errors: u64,
    pub primary_errors: u64,
    pub compare_errors: u64,
    pub dropped: u64,
    pub unmirrored: u64,
}

impl Outcomes {
    pub fn of(g: &Group) -> Outcomes {
        Outcomes {
            pairs: g.counter(stats::PAIRS),
            divergent: g.counter(stats::DIVERGENT),
            status_mismatch: g.counter(stats::STATUS_MISMATCH),
            shadow_missing: g.counter(stats::SHADOW_MISSING),
            primary_missing: g.counter(stats::PRIMARY_MISSING),
            shadow_errors: g.counter(stats::SHADOW_ERRORS),
            primary_errors: g.counter(stats::PRIMARY_ERRORS),
            compare_errors: g.compare_errors(),
            dropped: g.counter(stats::DROPPED),
            unmirrored: g.counter(stats::UNMIRRORED),
        }
    }

    /// Mirrored requests that reached an outcome: each lands in exactly one of these counters.
    /// (`unmirrored` is left out: those requests never went to this shadow.)
    pub fn requests(&self) -> u64 {
        [
            self.pairs,
            self.compare_errors,
            self.shadow_missing,
            self.shadow_errors,
            self.primary_missing,
            self.primary_errors,
            self.dropped,
        ]
        .iter()
        .fold(0u64, |a, &b| a.saturating_add(b))
    }

    /// What counts against the shadow, as the compare service's `promotion_ready` gauge counts it: no
    /// answer, an error answer, or an answer that could not be scored.
    pub fn failures(&self) -> u64 {
        self.shadow_missing.saturating_add(self.shadow_errors).saturating_add(self.compare_errors)
    }

    pub fn counts(&self) -> Counts {
        Counts { pairs: self.pairs, divergent: self.divergent, failures: self.failures() }
    }

    /// `n` as a share of [`Outcomes::requests`].
    pub fn share(&self, n: u64) -> Option<f64> {
        let total = self.requests();
        (total > 0).then(|| n as f64 / total as f64)
    }
}

/// p50 and p99 of both sides, ms.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Latency {
    pub primary_p50: Option<f64>,
    pub primary_p99: Option<f64>,
    pub shadow_p50: Option<f64>,
    pub shadow_p99: Option<f64>,
    /// From Envoy's own quantiles (fine bins); otherwise interpolated within the coarse buckets.
    pub from_envoy: bool,
}

impl Latency {
    /// Envoy's quantiles for the pair's histograms when it gave them, else the buckets' interpolation.
    pub fn of(rule: &str, shadow: &str, g: &Group, envoy: Option<&quantiles::ByName>) -> Latency {
        let lookup = |metric: &str| {
            envoy
                .and_then(|q| q.get(&stats::rule_stat(rule, shadow, metric)))
                .filter(|q| q.p50.is_some() || q.p99.is_some())
                .copied()
        };
        if let (Some(p), Some(s)) = (lookup(stats::PRIMARY_LATENCY_MS), lookup(stats::SHADOW_LATENCY_MS)) {
            return Latency { primary_p50: p.p50, primary_p99: p.p99, shadow_p50: s.p50, shadow_p99: s.p99, from_envoy: true };
        }
        let p = g.histogram(stats::PRIMARY_LATENCY_MS);
        let s = g.histogram(stats::SHADOW_LATENCY_MS);
        Latency {
            primary_p50: p.quantile(0.5),
            primary_p99: p.quantile(0.99),
            shadow_p50: s.quantile(0.5),
            shadow_p99: s.quantile(0.99),
            from_envoy: false,
        }
    }
}

/// One bar of the distance distribution: samples with `lower < distance ≤ upper` (basis points).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub lower: f64,
    pub upper: f64,
    pub count: u64,
}

/// Per-bucket counts from cumulative ones, up to the bucket that holds 10,000 bp (and any later bucket
/// with samples, in case the histogram's binning put 10,000 just above its bound).
pub fn distance_buckets(h: &Histogram) -> Vec<Bucket> {
    let mut out = Vec::new();
    let (mut lower, mut seen) = (0.0, 0u64);
    for &(upper, cumulative) in &h.buckets {
        let count = cumulative.saturating_sub(seen);
        if lower >= MAX_DISTANCE_BP && count == 0 {
            break;
        }
        out.push(Bucket { lower, upper, count });
        lower = upper;
        seen = seen.max(cumulative);
    }
    out
}

/// Why a shadow is treated as the noise floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaselineSource {
    /// Named by `--baseline`.
    Flag,
    /// The only shadow of its rule without an `excess_divergence_upper_ppm` gauge, which the compare
    /// service publishes for candidates when a baseline is configured.
    Gauges,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Ready,
    NotReady(String),
    NotEnoughData { pairs: u64, min_pairs: u64 },
    /// The noise floor: not gated itself.
    Baseline,
    /// Nothing was mirrored for this rule: not part of the decision.
    NoTraffic,
}

impl Verdict {
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Ready => "ready",
            Verdict::NotReady(_) => "not ready",
            Verdict::NotEnoughData { .. } => "not enough data",
            Verdict::Baseline => "baseline (noise floor)",
            Verdict::NoTraffic => "no traffic",
        }
    }

    /// Machine-readable form, for JSON.
    pub fn code(&self) -> &'static str {
        match self {
            Verdict::Ready => "ready",
            Verdict::NotReady(_) => "not_ready",
            Verdict::NotEnoughData { .. } => "not_enough_data",
            Verdict::Baseline => "baseline",
            Verdict::NoTraffic => "no_traffic",
        }
    }

    pub fn detail(&self) -> Option<String> {
        match self {
            Verdict::NotReady(why) => Some(why.clone()),
            Verdict::NotEnoughData { pairs, min_pairs } => Some(format!("{pairs} pairs of the {min_pairs} needed")),
            _ => None,
        }
    }
}

/// What the sample store holds for one (rule, shadow).
#[derive(Debug, Clone, PartialEq)]
pub struct SampleReport {
    pub tally: Tally,
    pub top: Vec<StoredSample>,
    pub vs_request_len: Correlation,
    pub vs_primary_len: Correlation,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ShadowReport {
    pub shadow: String,
    pub is_baseline: bool,
    pub outcomes: Outcomes,
    /// compare_errors by reason.
    pub reasons: BTreeMap<String, u64>,
    /// The shadow's own divergence, 95% Wilson interval.
    pub divergence: Option<Rate>,
    /// Candidates with a baseline that has pairs: own minus baseline, Newcombe interval.
    pub excess: Option<Rate>,
    /// The band of the upper bound of what decides: the excess with a baseline, else the divergence.
    pub band: Option<Band>,
    /// failures / (pairs + failures), 95% Wilson interval: what the gate's error limit applies to.
    pub failure_rate: Option<Rate>,
    pub latency: Latency,
    pub distance: Vec<Bucket>,
    pub verdict: Verdict,
    /// The compare service's verdict gauges, as read.
    pub gauges: BTreeMap<String, u64>,
    pub samples: Option<SampleReport>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RuleReport {
    pub rule: String,
    pub baseline: Option<(String, BaselineSource)>,
    pub shadows: Vec<ShadowReport>,
}

impl RuleReport {
    pub fn has_traffic(&self) -> bool {
        self.shadows.iter().any(|s| s.outcomes.requests() > 0)
    }
}

/// The decision over every rule, and the exit code that carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ready,
    NotReady,
    NotEnoughData,
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Ready => 0,
            Outcome::NotReady => 1,
            Outcome::NotEnoughData => 2,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Outcome::Ready => "READY",
            Outcome::NotReady => "NOT READY",
            Outcome::NotEnoughData => "NOT ENOUGH DATA",
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Outcome::Ready => "ready",
            Outcome::NotReady => "not_ready",
            Outcome::NotEnoughData => "not_enough_data",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub admin: String,
    pub gate: Gate,
    pub rules: Vec<RuleReport>,
    /// Things the reader should know that are not a number: ambiguous baselines, an unused `--baseline`.
    pub notes: Vec<String>,
}

impl Report {
    /// Ready only when every candidate of every rule with traffic is ready; any candidate not ready
    /// makes it not ready; otherwise (something short of data, or no traffic at all) not enough data.
    pub fn outcome(&self) -> Outcome {
        let verdicts: Vec<&Verdict> = self
            .rules
            .iter()
            .filter(|r| r.has_traffic())
            .flat_map(|r| r.shadows.iter().filter(|s| !s.is_baseline).map(|s| &s.verdict))
            .collect();
        if verdicts.iter().any(|v| matches!(v, Verdict::NotReady(_))) {
            Outcome::NotReady
        } else if verdicts.is_empty() || verdicts.iter().any(|v| !matches!(v, Verdict::Ready)) {
            Outcome::NotEnoughData
        } else {
            Outcome::Ready
        }
    }
}

/// What the report is asked for, besides the data.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub gate: Gate,
    pub baseline: Option<String>,
    /// Divergent samples shown per (rule, shadow).
    pub top_samples: u32,
}

/// Picks each rule's baseline: `--baseline` when it names one of the rule's shadows, else the one shadow
/// the compare service publishes no excess gauge for (when the others have one).
fn choose_baseline(
    rule: &str,
    shadows: &[(&String, &Group)],
    flag: Option<&str>,
    notes: &mut Vec<String>,
) -> Option<(String, BaselineSource)> {
    if let Some(name) = flag {
        return shadows.iter().find(|(s, _)| s.as_str() == name).map(|(s, _)| (s.to_string(), BaselineSource::Flag));
    }
    let has_excess = |g: &Group| g.counters.contains_key(stats::EXCESS_DIVERGENCE_UPPER_PPM);
    if !shadows.iter().any(|(_, g)| has_excess(g)) {
        return None;
    }
    let without: Vec<&String> = shadows.iter().filter(|(_, g)| !has_excess(g)).map(|(s, _)| *s).collect();
    match without.as_slice() {
        [one] => Some((one.to_string(), BaselineSource::Gauges)),
        [] => None,
        many => {
            let names: Vec<&str> = many.iter().map(|s| s.as_str()).collect();
            notes.push(format!(
                "rule {rule}: {} could each be the baseline; pass --baseline to say which (reported without one)",
                names.join(", ")
            ));
            None
        }
    }
}

/// What the report is computed from: one admin snapshot, Envoy's latency quantiles when it gave them,
/// and the sample store when there is one.
pub struct Sources<'a> {
    pub admin: &'a str,
    pub snapshot: &'a Snapshot,
    pub quantiles: Option<&'a quantiles::ByName>,
    pub store: Option<&'a Store>,
}

/// Builds the report.
pub fn build(src: &Sources<'_>, settings: &Settings) -> Result<Report, String> {
    let (admin, snap) = (src.admin, src.snapshot);
    let mut by_rule: BTreeMap<&String, Vec<(&String, &Group)>> = BTreeMap::new();
    for ((rule, shadow), group) in &snap.groups {
        by_rule.entry(rule).or_default().push((shadow, group));
    }
    let mut notes = Vec::new();
    let mut rules = Vec::new();
    let mut baseline_used = false;
    for (rule, shadows) in by_rule {
        let baseline = choose_baseline(rule, &shadows, settings.baseline.as_deref(), &mut notes);
        baseline_used |= baseline.is_some();
        let base_name = baseline.as_ref().map(|(n, _)| n.as_str());
        let base_counts = shadows.iter().find(|(s, _)| Some(s.as_str()) == base_name).map(|(_, g)| Outcomes::of(g).counts());
        let traffic = shadows.iter().any(|(_, g)| Outcomes::of(g).requests() > 0);
        let mut reports = Vec::new();
        for (shadow, group) in &shadows {
            let is_baseline = Some(shadow.as_str()) == base_name;
            reports.push(shadow_report(rule, shadow, group, is_baseline, base_counts, traffic, src, settings)?);
        }
        rules.push(RuleReport { rule: rule.to_string(), baseline, shadows: reports });
    }
    if let (Some(name), false) = (&settings.baseline, baseline_used) {
        notes.push(format!("--baseline {name}: no rule has a shadow of that name"));
    }
    Ok(Report { admin: admin.to_string(), gate: settings.gate, rules, notes })
}

#[allow(clippy::too_many_arguments)]
fn shadow_report(
    rule: &str,
    shadow: &str,
    group: &Group,
    is_baseline: bool,
    baseline: Option<Counts>,
    traffic: bool,
    src: &Sources<'_>,
    settings: &Settings,
) -> Result<ShadowReport, String> {
    let outcomes = Outcomes::of(group);
    let counts = outcomes.counts();
    let divergence = verdict::wilson(counts.divergent, counts.pairs);
    let base = if is_baseline { None } else { baseline };
    let base_rate = base.and_then(|b| verdict::wilson(b.divergent, b.pairs));
    let excess = divergence.zip(base_rate).map(|(own, b)| verdict::excess(own, b));
    let band = verdict::deciding_divergence(counts, base).map(|r| Band::of(r.upper));
    let failure_rate = verdict::wilson(counts.failures, counts.pairs.saturating_add(counts.failures));
    let verdict = if !traffic {
        Verdict::NoTraffic
    } else if is_baseline {
        Verdict::Baseline
    } else {
        match verdict::readiness(counts, base, settings.gate) {
            Readiness::Ready => Verdict::Ready,
            Readiness::NotReady(why) => Verdict::NotReady(why),
            Readiness::NotEnoughData { pairs, min_pairs } => Verdict::NotEnoughData { pairs, min_pairs },
        }
    };
    let gauges = GAUGES
        .iter()
        .filter_map(|g| group.counters.get(*g).map(|v| (g.to_string(), *v)))
        .collect();
    let samples = match src.store {
        None => None,
        Some(store) => {
            let series = store.length_series(rule, shadow)?;
            Some(SampleReport {
                tally: store.tally(rule, shadow)?,
                top: store.top_divergent(rule, shadow, settings.top_samples)?,
                vs_request_len: Correlation::of(&series.similarity, &series.request_len),
                vs_primary_len: Correlation::of(&series.similarity, &series.primary_len),
            })
        }
    };
    Ok(ShadowReport {
        shadow: shadow.to_string(),
        is_baseline,
        outcomes,
        reasons: group.reasons.clone(),
        divergence,
        excess,
        band,
        failure_rate,
        latency: Latency::of(rule, shadow, group, src.quantiles),
        distance: distance_buckets(&group.histogram(stats::DISTANCE_BP)),
        verdict,
        gauges,
        samples,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::sample_store::Sample;

    pub(crate) const STATS: &str = include_str!("../../../../tests/fixtures/report_stats.json");

    pub(crate) fn settings(gate: Gate) -> Settings {
        Settings { gate, baseline: None, top_samples: 5 }
    }

    pub(crate) const GATE: Gate = Gate { min_pairs: 1_000, max_divergence: 0.01, max_error_rate: 0.01 };

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    fn shadow<'a>(r: &'a Report, rule: &str, shadow: &str) -> &'a ShadowReport {
        let rule = r.rules.iter().find(|x| x.rule == rule).unwrap();
        rule.shadows.iter().find(|s| s.shadow == shadow).unwrap()
    }

    pub(crate) fn fixture_report(gate: Gate, store: Option<&Store>) -> Report {
        let snap = Snapshot::from_json(STATS).unwrap();
        build(&Sources { admin: "http://127.0.0.1:9901", snapshot: &snap, quantiles: None, store }, &settings(gate)).unwrap()
    }

    fn only_stats(snap: &Snapshot) -> Sources<'_> {
        Sources { admin: "a", snapshot: snap, quantiles: None, store: None }
    }

    #[test]
    fn candidate_against_its_baseline_with_exact_intervals() {
        let r = fixture_report(GATE, None);
        assert_eq!(r.rules.iter().map(|x| x.rule.as_str()).collect::<Vec<_>>(), ["classify", "embed", "generate"]);
        let embed = &r.rules[1];
        assert_eq!(embed.baseline, Some(("base".to_string(), BaselineSource::Gauges)));
        let v2 = shadow(&r, "embed", "v2");
        let d = v2.divergence.unwrap();
        assert!(close(d.rate, 0.015) && close(d.lower, 0.010_527_098_037_106_688) && close(d.upper, 0.021_332_437_825_708_653));
        let e = v2.excess.unwrap();
        assert!(close(e.rate, 0.005) && close(e.lower, -0.002_008_780_480_495_986_7) && close(e.upper, 0.012_243_665_551_823_567));
        // The band goes by the excess's upper bound (1.22%), not the candidate's own (2.13%).
        assert_eq!(v2.band, Some(Band::Investigate));
        let f = v2.failure_rate.unwrap();
        assert!(close(f.rate, 7.0 / 2007.0) && close(f.upper, 0.007_182_121_850_908_216));
        assert_eq!(v2.outcomes.requests(), 2_012);
        assert_eq!(v2.outcomes.failures(), 7);
        assert_eq!(v2.reasons["invalid_json"], 1);
        assert_eq!(v2.verdict, Verdict::NotReady("divergence upper bound 0.0122 exceeds 0.0100".to_string()));
        assert_eq!(v2.gauges["excess_divergence_upper_ppm"], 12_200);
        let l = v2.latency;
        assert!(!l.from_envoy);
        assert_eq!((l.primary_p50, l.shadow_p50), (Some(10.0), Some(22.0)));
        assert!(close(l.primary_p99.unwrap(), 25.0 + 25.0 * 80.0 / 90.0));
        assert!(close(l.shadow_p99.unwrap(), 50.0 + 50.0 * 80.0 / 90.0));

        let base = shadow(&r, "embed", "base");
        assert!(base.is_baseline && base.excess.is_none());
        assert_eq!((base.verdict.clone(), base.band), (Verdict::Baseline, Some(Band::Investigate)));
        assert_eq!(shadow(&r, "generate", "v2").verdict, Verdict::NotEnoughData { pairs: 500, min_pairs: 1_000 });
        assert_eq!(shadow(&r, "classify", "v2").verdict, Verdict::NoTraffic);
        assert!(r.notes.is_empty());
        assert_eq!(r.outcome(), Outcome::NotReady);
    }

    #[test]
    fn exit_code_follows_the_worst_candidate_of_rules_with_traffic() {
        assert_eq!(fixture_report(GATE, None).outcome().exit_code(), 1);
        let looser = Gate { max_divergence: 0.02, ..GATE };
        // embed/v2 passes; generate/v2 has 500 of 1000 pairs.
        assert_eq!(fixture_report(looser, None).outcome(), Outcome::NotEnoughData);
        // 2/500 → upper 1.45% ≤ 2%: every candidate ready; classify has no traffic and does not count.
        let r = fixture_report(Gate { min_pairs: 500, ..looser }, None);
        assert_eq!(shadow(&r, "generate", "v2").verdict, Verdict::Ready);
        assert_eq!(r.outcome(), Outcome::Ready);
        // Failures alone can block: 7 of 2007 has an upper bound of 0.72%.
        let strict_errors = Gate { min_pairs: 500, max_divergence: 0.02, max_error_rate: 0.005 };
        assert_eq!(
            shadow(&fixture_report(strict_errors, None), "embed", "v2").verdict,
            Verdict::NotReady("failure rate upper bound 0.0072 exceeds 0.0050".to_string())
        );
    }

    #[test]
    fn envoy_quantiles_are_preferred_to_bucket_interpolation() {
        let snap = Snapshot::from_json(STATS).unwrap();
        let mut q = quantiles::ByName::new();
        let name = |m: &str| stats::rule_stat("embed", "v2", m);
        q.insert(name(stats::PRIMARY_LATENCY_MS), quantiles::Quantiles { p50: Some(9.5), p99: Some(31.0) });
        q.insert(name(stats::SHADOW_LATENCY_MS), quantiles::Quantiles { p50: Some(21.0), p99: Some(66.5) });
        let src = Sources { admin: "a", snapshot: &snap, quantiles: Some(&q), store: None };
        let r = build(&src, &settings(GATE)).unwrap();
        let l = shadow(&r, "embed", "v2").latency;
        assert_eq!(l, Latency { primary_p50: Some(9.5), primary_p99: Some(31.0), shadow_p50: Some(21.0), shadow_p99: Some(66.5), from_envoy: true });
        // embed/base has no Envoy quantiles here: its buckets are interpolated.
        assert!(!shadow(&r, "embed", "base").latency.from_envoy);
    }

    #[test]
    fn baseline_flag_overrides_and_unknown_names_are_noted() {
        let snap = Snapshot::from_json(STATS).unwrap();
        let mut s = settings(GATE);
        s.baseline = Some("v2".to_string());
        let r = build(&only_stats(&snap), &s).unwrap();
        let embed = r.rules.iter().find(|x| x.rule == "embed").unwrap();
        assert_eq!(embed.baseline, Some(("v2".to_string(), BaselineSource::Flag)));
        // generate has only v2, which is now its baseline: nothing is gated there.
        assert_eq!(shadow(&r, "generate", "v2").verdict, Verdict::Baseline);
        let e = shadow(&r, "embed", "base").excess.unwrap();
        assert!(close(e.rate, -0.005));
        s.baseline = Some("nope".to_string());
        let r = build(&only_stats(&snap), &s).unwrap();
        assert_eq!(r.notes, ["--baseline nope: no rule has a shadow of that name"]);
        assert!(r.rules.iter().all(|x| x.baseline.is_none()));
    }

    #[test]
    fn two_shadows_without_an_excess_gauge_are_ambiguous() {
        let json = r#"{"stats": [
            {"name": "wasmcustom.shadow_compare.rule.r.shadow.a.pairs", "value": 1},
            {"name": "wasmcustom.shadow_compare.rule.r.shadow.b.pairs", "value": 1},
            {"name": "wasmcustom.shadow_compare.rule.r.shadow.c.pairs", "value": 1},
            {"name": "wasmcustom.shadow_compare.rule.r.shadow.c.excess_divergence_upper_ppm", "value": 0}]}"#;
        let r = build(&only_stats(&Snapshot::from_json(json).unwrap()), &settings(GATE)).unwrap();
        assert_eq!(r.rules[0].baseline, None);
        assert_eq!(r.notes, ["rule r: a, b could each be the baseline; pass --baseline to say which (reported without one)"]);
    }

    #[test]
    fn no_traffic_anywhere_is_not_enough_data() {
        let json = r#"{"stats": [{"name": "wasmcustom.shadow_compare.rule.r.shadow.a.pairs", "value": 0}]}"#;
        let r = build(&only_stats(&Snapshot::from_json(json).unwrap()), &settings(GATE)).unwrap();
        assert_eq!(r.outcome(), Outcome::NotEnoughData);
    }

    #[test]
    fn distance_buckets_are_per_bucket_and_stop_after_ten_thousand() {
        let r = fixture_report(GATE, None);
        let b = &shadow(&r, "embed", "v2").distance;
        assert_eq!(b.len(), 13);
        assert_eq!(b[0], Bucket { lower: 0.0, upper: 0.5, count: 1_900 });
        assert_eq!(b[2], Bucket { lower: 1.0, upper: 5.0, count: 10 });
        assert_eq!(b[12], Bucket { lower: 5_000.0, upper: 10_000.0, count: 5 });
        assert_eq!(b.iter().map(|x| x.count).sum::<u64>(), 2_000);
        let h = Histogram { buckets: vec![(5_000.0, 1), (10_000.0, 1), (30_000.0, 3), (60_000.0, 3)] };
        assert_eq!(distance_buckets(&h).last(), Some(&Bucket { lower: 10_000.0, upper: 30_000.0, count: 2 }));
    }

    pub(crate) fn sample(id: &str, similarity: Option<f64>, request_len: usize, primary: &str, shadow: &str) -> Sample {
        let v = serde_json::json!({
            "request_id": id, "rule": "embed", "shadow": "v2", "kind": "cosine", "similarity": similarity,
            "divergent": similarity.is_none_or(|s| s < 0.8), "error": similarity.map_or(Some("invalid_json"), |_| None),
            "primary_status": 200, "shadow_status": 200, "primary_latency_ms": 10.0, "shadow_latency_ms": 20.5,
            "timestamp_ms": 1_700_000_000_000u64, "method": "POST", "path": "/embed",
            "primary_body": primary, "shadow_body": shadow, "request_body": "x".repeat(request_len), "truncated": false
        });
        Sample::parse(v.to_string().as_bytes()).unwrap()
    }

    /// A store with twelve scored samples of embed/v2 whose similarity falls as the request grows, and
    /// one unscorable one.
    pub(crate) fn fixture_store(dir: &std::path::Path) -> Store {
        let path = dir.join("samples.db");
        let _ = std::fs::remove_file(&path);
        let rw = Store::open_rw(&path).unwrap();
        let sims = [0.9, 0.85, 0.88, 0.7, 0.75, 0.6, 0.65, 0.5, 0.4, 0.45, 0.3, 0.2];
        for (i, s) in sims.iter().enumerate() {
            let primary = format!(r#"{{"embedding": [1, 2, 3], "n": {i}}}"#);
            let shadow = if i == 11 { "<script>alert('x')</script>\u{1b}[31m".to_string() } else { format!(r#"{{"embedding": [3, 2, 1], "n": {i}}}"#) };
            rw.insert(&sample(&format!("r-{i}"), Some(*s), 10 * (i + 1), &primary, &shadow), 1).unwrap();
        }
        rw.insert(&sample("r-err", None, 5, "{}", "not json"), 1).unwrap();
        drop(rw);
        Store::open_ro(&path).unwrap()
    }

    pub(crate) fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("sc-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn samples_give_the_most_divergent_first_and_length_correlations() {
        let dir = temp_dir("model");
        let store = fixture_store(&dir);
        let r = fixture_report(GATE, Some(&store));
        let s = shadow(&r, "embed", "v2").samples.as_ref().unwrap();
        assert_eq!(s.tally, Tally { stored: 13, divergent: 10 });
        let ids: Vec<&str> = s.top.iter().map(|t| t.sample.request_id.as_str()).collect();
        assert_eq!(ids, ["r-11", "r-10", "r-8", "r-9", "r-7"]);
        match s.vs_request_len {
            Correlation::Computed { n, pearson, spearman } => {
                assert_eq!(n, 12);
                assert!((pearson - -0.973_552_575_540_609_4).abs() < 1e-12, "{pearson}");
                assert!((spearman - -139.0 / 143.0).abs() < 1e-12, "{spearman}");
            }
            other => panic!("{other:?}"),
        }
        // The primary bodies are 32 or 33 characters long: computed, though it means little here.
        assert_eq!(s.vs_primary_len.n(), 12);
        assert!(shadow(&r, "embed", "base").samples.as_ref().unwrap().top.is_empty());
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
