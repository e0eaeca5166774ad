//! Promotion maths: divergence with its uncertainty, the decision bands, and readiness.
//!
//! A divergence rate from 40 pairs and one from 40,000 are different evidence, so every decision here
//! uses the upper bound of a 95% Wilson score interval, not the point estimate. With a `baseline` shadow
//! (a second copy of production, to measure how non-deterministic the model itself is), what counts is the
//! candidate's divergence in excess of the baseline's, bounded with Newcombe's hybrid score interval for a
//! difference of proportions. Shared by the compare service (gauges) and `shadow-compare report`.

/// z for a two-sided 95% interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// A proportion with its 95% interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub rate: f64,
    pub lower: f64,
    pub upper: f64,
}

/// The Wilson score interval of `hits` out of `n` (95%). `None` when `n` is 0.
///
/// ```
/// use shadow_compare::verdict::wilson;
/// let r = wilson(1, 100).unwrap();
/// assert!((r.rate - 0.01).abs() < 1e-12);
/// assert!((r.lower - 0.001_767).abs() < 1e-6 && (r.upper - 0.054_486).abs() < 1e-6);
/// assert!(wilson(0, 0).is_none());
/// ```
pub fn wilson(hits: u64, n: u64) -> Option<Rate> {
    if n == 0 {
        return None;
    }
    let hits = hits.min(n) as f64;
    let n = n as f64;
    let p = hits / n;
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = Z95 * ((p * (1.0 - p) / n) + z2 / (4.0 * n * n)).sqrt() / denom;
    Some(Rate { rate: p, lower: (centre - half).max(0.0), upper: (centre + half).min(1.0) })
}

/// The candidate's rate minus the baseline's, with Newcombe's hybrid score interval (method 10).
///
/// ```
/// use shadow_compare::verdict::{excess, wilson};
/// let d = excess(wilson(50, 1000).unwrap(), wilson(20, 1000).unwrap());
/// assert!((d.rate - 0.03).abs() < 1e-12);
/// assert!(d.lower > 0.0 && d.upper < 0.05);
/// ```
pub fn excess(candidate: Rate, baseline: Rate) -> Rate {
    let d = candidate.rate - baseline.rate;
    let lower = d - ((candidate.rate - candidate.lower).powi(2) + (baseline.upper - baseline.rate).powi(2)).sqrt();
    let upper = d + ((candidate.upper - candidate.rate).powi(2) + (baseline.rate - baseline.lower).powi(2)).sqrt();
    Rate { rate: d, lower: lower.max(-1.0), upper: upper.min(1.0) }
}

/// The decision bands for a divergence rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Band {
    /// Below 1%: safe to roll out.
    Safe,
    /// 1% to 5%: investigate the divergent samples.
    Investigate,
    /// 5% to 10%: identify the edge cases before going further.
    EdgeCases,
    /// Above 10%: do not roll out.
    DoNotRollOut,
}

impl Band {
    /// The band of a rate (apply it to the upper bound to be conservative).
    ///
    /// ```
    /// use shadow_compare::verdict::Band;
    /// assert_eq!(Band::of(0.004), Band::Safe);
    /// assert_eq!(Band::of(0.01), Band::Investigate);
    /// assert_eq!(Band::of(0.07), Band::EdgeCases);
    /// assert_eq!(Band::of(0.2), Band::DoNotRollOut);
    /// ```
    pub fn of(rate: f64) -> Band {
        if rate < 0.01 {
            Band::Safe
        } else if rate < 0.05 {
            Band::Investigate
        } else if rate <= 0.10 {
            Band::EdgeCases
        } else {
            Band::DoNotRollOut
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Band::Safe => "safe to roll out",
            Band::Investigate => "investigate",
            Band::EdgeCases => "identify edge cases",
            Band::DoNotRollOut => "do not roll out",
        }
    }
}

/// Whether a shadow may be promoted, and if not, why.
#[derive(Debug, Clone, PartialEq)]
pub enum Readiness {
    Ready,
    NotReady(String),
    NotEnoughData { pairs: u64, min_pairs: u64 },
}

/// The thresholds a promotion must meet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gate {
    pub min_pairs: u64,
    /// Highest acceptable upper bound of the divergence (or excess divergence with a baseline).
    pub max_divergence: f64,
    /// Highest acceptable upper bound of the shadow's failure rate (errors and missing answers).
    pub max_error_rate: f64,
}

/// What a shadow did, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub pairs: u64,
    pub divergent: u64,
    /// Shadow errors plus shadow missing: requests the shadow failed to answer usably.
    pub failures: u64,
}

/// The divergence that decides: the candidate's own, or its excess over the baseline when there is one.
pub fn deciding_divergence(candidate: Counts, baseline: Option<Counts>) -> Option<Rate> {
    let own = wilson(candidate.divergent, candidate.pairs)?;
    match baseline.and_then(|b| wilson(b.divergent, b.pairs)) {
        Some(base) => Some(excess(own, base)),
        None => Some(own),
    }
}

/// Applies the gate.
///
/// ```
/// use shadow_compare::verdict::{readiness, Counts, Gate, Readiness};
/// let gate = Gate { min_pairs: 100, max_divergence: 0.05, max_error_rate: 0.05 };
/// let ok = Counts { pairs: 2_000, divergent: 10, failures: 3 };
/// assert_eq!(readiness(ok, None, gate), Readiness::Ready);
/// let few = Counts { pairs: 50, ..ok };
/// assert_eq!(readiness(few, None, gate), Readiness::NotEnoughData { pairs: 50, min_pairs: 100 });
/// ```
pub fn readiness(candidate: Counts, baseline: Option<Counts>, gate: Gate) -> Readiness {
    // Failures first: a shadow that fails most requests never gathers pairs, and must read "not ready",
    // not "not enough data", once it has been tried `min_pairs` times.
    let attempts = candidate.pairs.saturating_add(candidate.failures);
    if attempts >= gate.min_pairs {
        if let Some(err) = wilson(candidate.failures, attempts) {
            if err.upper > gate.max_error_rate {
                return Readiness::NotReady(format!(
                    "failure rate upper bound {:.4} exceeds {:.4}",
                    err.upper, gate.max_error_rate
                ));
            }
        }
    }
    if candidate.pairs < gate.min_pairs {
        return Readiness::NotEnoughData { pairs: candidate.pairs, min_pairs: gate.min_pairs };
    }
    let Some(div) = deciding_divergence(candidate, baseline) else {
        return Readiness::NotEnoughData { pairs: 0, min_pairs: gate.min_pairs };
    };
    if div.upper > gate.max_divergence {
        return Readiness::NotReady(format!(
            "divergence upper bound {:.4} exceeds {:.4}",
            div.upper, gate.max_divergence
        ));
    }
    Readiness::Ready
}

/// Parts per million, for gauges (Envoy gauges are integers).
pub fn ppm(rate: f64) -> u64 {
    if rate.is_nan() || rate <= 0.0 {
        0
    } else {
        (rate.min(1.0) * 1_000_000.0).round() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference values: the textbook Wilson interval (0/10 → 0.2775, 5/10 → 0.2366..0.7634) and 30/1000.
    #[test]
    fn wilson_matches_reference_values() {
        let cases = [
            (0u64, 10u64, 0.0, 0.277_532),
            (5, 10, 0.236_593, 0.763_407),
            (10, 10, 0.722_468, 1.0),
            (30, 1_000, 0.021_094, 0.042_503),
        ];
        for (k, n, lo, hi) in cases {
            let r = wilson(k, n).unwrap();
            assert!((r.lower - lo).abs() < 1e-6, "{k}/{n}: lower {}", r.lower);
            assert!((r.upper - hi).abs() < 1e-6, "{k}/{n}: upper {}", r.upper);
        }
    }

    #[test]
    fn more_data_narrows_the_interval() {
        let small = wilson(1, 100).unwrap();
        let large = wilson(100, 10_000).unwrap();
        assert!(large.upper < small.upper && large.lower > small.lower);
    }

    #[test]
    fn baseline_noise_is_subtracted() {
        let gate = Gate { min_pairs: 500, max_divergence: 0.02, max_error_rate: 1.0 };
        let candidate = Counts { pairs: 5_000, divergent: 400, failures: 0 };
        let noisy_baseline = Counts { pairs: 5_000, divergent: 390, failures: 0 };
        assert!(matches!(readiness(candidate, None, gate), Readiness::NotReady(_)));
        assert_eq!(readiness(candidate, Some(noisy_baseline), gate), Readiness::Ready);
    }

    #[test]
    fn failures_block_promotion() {
        let gate = Gate { min_pairs: 100, max_divergence: 0.5, max_error_rate: 0.01 };
        let c = Counts { pairs: 1_000, divergent: 0, failures: 100 };
        assert_eq!(
            readiness(c, None, gate),
            Readiness::NotReady("failure rate upper bound 0.1094 exceeds 0.0100".into())
        );
    }

    #[test]
    fn a_shadow_that_always_fails_is_not_ready_rather_than_short_of_data() {
        let gate = Gate { min_pairs: 100, max_divergence: 0.05, max_error_rate: 0.05 };
        let c = Counts { pairs: 3, divergent: 0, failures: 500 };
        assert!(matches!(readiness(c, None, gate), Readiness::NotReady(_)));
        let young = Counts { pairs: 3, divergent: 0, failures: 50 };
        assert_eq!(readiness(young, None, gate), Readiness::NotEnoughData { pairs: 3, min_pairs: 100 });
    }

    #[test]
    fn ppm_rounds_and_clamps() {
        assert_eq!(ppm(0.0123456), 12_346);
        assert_eq!(ppm(-0.2), 0);
        assert_eq!(ppm(f64::NAN), 0);
        assert_eq!(ppm(3.0), 1_000_000);
    }
}
