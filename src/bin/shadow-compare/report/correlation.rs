//! Does similarity depend on input length? Pearson (linear) and Spearman (monotonic, rank-based)
//! correlation coefficients, over the stored samples.
//!
//! A shadow that only fails on long prompts shows as a negative correlation between similarity and
//! request length; Spearman catches it even when the relation is not a straight line.

/// Below this many samples a coefficient says more about chance than about the model.
pub const MIN_SAMPLES: usize = 10;

/// Pearson's r of `xs` and `ys` (same length). `None` for fewer than two points or when either side is
/// constant (the coefficient is undefined, not zero).
pub fn pearson(xs: &[f64], ys: &[f64]) -> Option<f64> {
    let n = xs.len().min(ys.len());
    if n < 2 {
        return None;
    }
    let mean = |v: &[f64]| v.iter().take(n).sum::<f64>() / n as f64;
    let (mx, my) = (mean(xs), mean(ys));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in xs.iter().zip(ys).take(n) {
        let (dx, dy) = (x - mx, y - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx <= 0.0 || syy <= 0.0 {
        return None;
    }
    Some((sxy / (sxx.sqrt() * syy.sqrt())).clamp(-1.0, 1.0))
}

/// Spearman's ρ: Pearson's r of the ranks, ties sharing their average rank.
pub fn spearman(xs: &[f64], ys: &[f64]) -> Option<f64> {
    let n = xs.len().min(ys.len());
    pearson(&ranks(xs.get(..n)?), &ranks(ys.get(..n)?))
}

/// 1-based ranks; equal values get the mean of the ranks they span.
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<(usize, f64)> = v.iter().copied().enumerate().collect();
    order.sort_by(|a, b| a.1.total_cmp(&b.1));
    let mut out = vec![0.0; v.len()];
    let mut before = 0usize;
    for ties in order.chunk_by(|a, b| a.1 == b.1) {
        // Ranks before+1 ..= before+len: their mean.
        let rank = before as f64 + (ties.len() as f64 + 1.0) / 2.0;
        for &(k, _) in ties {
            if let Some(slot) = out.get_mut(k) {
                *slot = rank;
            }
        }
        before += ties.len();
    }
    out
}

/// Both coefficients for one pair of variables, or why there are none.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Correlation {
    /// Fewer than [`MIN_SAMPLES`] samples.
    NotEnoughSamples { n: usize },
    /// Every sample has the same value on one side (for example no request bodies were captured).
    Constant { n: usize },
    Computed { n: usize, pearson: f64, spearman: f64 },
}

impl Correlation {
    pub fn of(xs: &[f64], ys: &[f64]) -> Correlation {
        let n = xs.len().min(ys.len());
        if n < MIN_SAMPLES {
            return Correlation::NotEnoughSamples { n };
        }
        match (pearson(xs, ys), spearman(xs, ys)) {
            (Some(pearson), Some(spearman)) => Correlation::Computed { n, pearson, spearman },
            _ => Correlation::Constant { n },
        }
    }

    pub fn n(&self) -> usize {
        match *self {
            Correlation::NotEnoughSamples { n } | Correlation::Constant { n } | Correlation::Computed { n, .. } => n,
        }
    }

    /// One line for people: `Pearson r = -0.412, Spearman ρ = -0.530 (n = 120)`.
    pub fn describe(&self) -> String {
        match *self {
            Correlation::NotEnoughSamples { n } => format!("not enough samples (n = {n}, need {MIN_SAMPLES})"),
            Correlation::Constant { n } => format!("undefined: the length is the same in every sample (n = {n})"),
            Correlation::Computed { n, pearson, spearman } => {
                format!("Pearson r = {pearson:.3}, Spearman ρ = {spearman:.3} (n = {n})")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-12)
    }

    #[test]
    fn pearson_exact_values() {
        assert!(close(pearson(&[1.0, 2.0, 3.0, 4.0, 5.0], &[2.0, 4.0, 6.0, 8.0, 10.0]), 1.0));
        assert!(close(pearson(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), -1.0));
        // Σdxdy = 14.5, Σdx² = Σdy² = 17.5.
        assert!(close(pearson(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2.0, 1.0, 4.0, 3.0, 6.0, 5.0]), 29.0 / 35.0));
        assert_eq!(pearson(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
        assert_eq!(pearson(&[1.0], &[1.0]), None);
    }

    #[test]
    fn spearman_uses_average_ranks_for_ties() {
        // Ranks x: 1, 2.5, 2.5, 4; y: 1, 3, 2, 4 → 4.5 / √(4.5 · 5) = 3/√10.
        assert!(close(spearman(&[1.0, 2.0, 2.0, 3.0], &[1.0, 3.0, 2.0, 4.0]), 3.0 / 10f64.sqrt()));
        assert_eq!(ranks(&[10.0, 20.0, 10.0, 5.0]), vec![2.5, 4.0, 2.5, 1.0]);
    }

    #[test]
    fn spearman_sees_a_monotonic_relation_pearson_understates() {
        let x = [1.0, 2.0, 3.0, 4.0, 100.0];
        let y = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert!(close(spearman(&x, &y), 1.0));
        // Σdxdy = 200, Σdx² = 7610, Σdy² = 10: r ≈ 0.725.
        assert!(close(pearson(&x, &y), 200.0 / (7610.0f64 * 10.0).sqrt()));
    }

    #[test]
    fn small_or_constant_samples_are_named_as_such() {
        let x: Vec<f64> = (0..9).map(f64::from).collect();
        assert_eq!(Correlation::of(&x, &x), Correlation::NotEnoughSamples { n: 9 });
        assert_eq!(Correlation::of(&x, &x).describe(), "not enough samples (n = 9, need 10)");
        let ten: Vec<f64> = (0..10).map(f64::from).collect();
        assert_eq!(Correlation::of(&[0.0; 10], &ten), Correlation::Constant { n: 10 });
        let c = Correlation::of(&ten, &ten.iter().map(|v| -v).collect::<Vec<_>>());
        assert_eq!(c.describe(), "Pearson r = -1.000, Spearman ρ = -1.000 (n = 10)");
    }
}
