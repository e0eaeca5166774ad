//! Cosine similarity of embeddings: `dot(a, b) / (|a| · |b|)` in f64.
//!
//! **Score contract.** [`cosine`] is the plain cosine in [-1, 1]. [`score_bodies`], which feeds divergence
//! and the distance histogram, reports a similarity in [0, 1] and clamps negative cosines to 0: a shadow
//! embedding pointing away from production (or orthogonal to it) is as dissimilar as the score can say, and
//! the threshold (0.85 by default) then reads directly as a cosine. Mapping to `(1 + cos) / 2` was rejected
//! because it would report orthogonal embeddings as 0.5 similar and shift every threshold.
//!
//! **Numerics.** Each vector is scaled by a power of two near its largest magnitude before summing, so
//! elements from 1e-300 to 1e300 neither overflow nor underflow the sums, and the scaling itself is exact.
//! The result is clamped to [-1, 1] against rounding.
//!
//! **Definitions where the formula is 0/0.** Exactly equal vectors score 1.0, including two zero vectors and
//! two empty ones (equal responses are not divergent). A zero vector against a non-zero one scores 0.0.
//!
//! **Selecting the embedding.** The pointer must select an array of JSON numbers (integers or floats, read
//! correctly rounded like Python's `float()`); anything else is `TypeMismatch`, as is a number beyond the
//! f64 range (`1e400`), whose infinity has no cosine. Different lengths are `DimensionMismatch`. Errors
//! of the primary body are reported before those of the shadow.
//!
//! Speed matters here (the pair rate of a busy embedding service), so the array is read in place by the
//! scanner in [`crate::json`] instead of through a parsed document tree.

use crate::json::{self, Scanner};
use crate::score::ScoreError;

/// Similarity in [0, 1] of the embeddings `pointer` selects in two JSON bodies.
///
/// ```
/// use shadow_compare::cosine::score_bodies;
/// let a = br#"{"embedding": [1, 0, 0]}"#;
/// let b = br#"{"embedding": [1.0, 1.0, 0.0]}"#;
/// assert!((score_bodies(a, b, "/embedding").unwrap() - 0.5f64.sqrt()).abs() < 1e-15);
/// // Opposite directions: cosine -1, reported as similarity 0.
/// assert_eq!(score_bodies(b"[1, 2]", b"[-1, -2]", "").unwrap(), 0.0);
/// assert_eq!(score_bodies(b"[1, 2]", b"[1, 2, 3]", "").unwrap_err().reason(), "dimension_mismatch");
/// ```
pub fn score_bodies(primary: &[u8], shadow: &[u8], pointer: &str) -> Result<f64, ScoreError> {
    let a = read_embedding(primary, pointer)?;
    let b = read_embedding(shadow, pointer)?;
    let cos = cosine(&a, &b)?;
    Ok(if cos > 0.0 { cos } else { 0.0 })
}

/// Cosine of two vectors, in [-1, 1].
///
/// Errors: `DimensionMismatch` for different lengths; `TypeMismatch` (with an empty pointer, since no
/// document is involved) when an element is NaN or infinite.
///
/// ```
/// use shadow_compare::cosine::cosine;
/// assert_eq!(cosine(&[1.0, 2.0], &[1.0, 2.0]).unwrap(), 1.0);
/// assert_eq!(cosine(&[1.0, 0.0], &[-3.0, 0.0]).unwrap(), -1.0);
/// assert_eq!(cosine(&[0.0, 0.0], &[0.0, 0.0]).unwrap(), 1.0);
/// assert_eq!(cosine(&[0.0, 0.0], &[0.0, 1.0]).unwrap(), 0.0);
/// // No overflow at the edges of the f64 range.
/// assert_eq!(cosine(&[1e300, 1e300], &[1e-300, 1e-300]).unwrap(), 1.0);
/// ```
pub fn cosine(a: &[f64], b: &[f64]) -> Result<f64, ScoreError> {
    if a.len() != b.len() {
        return Err(ScoreError::DimensionMismatch {
            primary: a.len(),
            shadow: b.len(),
        });
    }
    let pass = Pass::over(a, b);
    if !pass.all_finite() {
        return Err(ScoreError::TypeMismatch {
            pointer: String::new(),
            expected: "finite numbers",
        });
    }
    if a == b {
        return Ok(1.0);
    }
    let (max_a, max_b) = (pass.max_a, pass.max_b);
    if max_a == 0.0 || max_b == 0.0 {
        return Ok(0.0);
    }
    let (dot, norm_a, norm_b) = if [max_a, max_b].iter().all(|m| (SAFE_LOW..=SAFE_HIGH).contains(m)) {
        // The usual case: the plain sums can neither overflow nor lose anything that matters to underflow.
        (pass.dot, pass.norm_a, pass.norm_b)
    } else if max_a < TINY {
        // A vector of subnormals is first lifted by an exact power of two, so that the one normalising
        // factor below is always a normal number. Lifting never changes the cosine.
        return cosine(&lift(a), b);
    } else if max_b < TINY {
        return cosine(a, &lift(b));
    } else {
        // Both norms are at least 1 after scaling (the largest element became 1 or more).
        scaled_sums(a, b, normalising_factor(max_a), normalising_factor(max_b))
    };
    Ok((dot / (norm_a.sqrt() * norm_b.sqrt())).clamp(-1.0, 1.0))
}

/// Largest magnitudes within which the plain sums are safe: 2^-400 and 2^400. Squares stay below 2^800
/// (no overflow for any length), and products that underflow are below 2^-1022, a relative 2^-222 of the
/// largest product: nothing a cosine can show.
const SAFE_LOW: f64 = 3.8725919148493183e-121;
const SAFE_HIGH: f64 = 2.5822498780869086e120;

/// Everything the first look at a pair needs, from one pass over both vectors.
#[derive(Debug, Clone, Copy, Default)]
struct Pass {
    max_a: f64,
    max_b: f64,
    /// Sum of `x * 0.0` over every element: 0 for finite elements and NaN as soon as one is NaN or infinite.
    probe: f64,
    dot: f64,
    norm_a: f64,
    norm_b: f64,
}

impl Pass {
    /// Four independent lanes, so that the sums pipeline and vectorise, then combined.
    fn over(a: &[f64], b: &[f64]) -> Pass {
        let mut lanes = [Pass::default(); 4];
        let (mut rest_a, mut rest_b) = (a, b);
        while let (Some(chunk_a), Some(chunk_b)) = (rest_a.first_chunk::<4>(), rest_b.first_chunk::<4>()) {
            for (lane, (&x, &y)) in lanes.iter_mut().zip(chunk_a.iter().zip(chunk_b)) {
                lane.add(x, y);
            }
            rest_a = rest_a.get(4..).unwrap_or_default();
            rest_b = rest_b.get(4..).unwrap_or_default();
        }
        let mut total = lanes.iter().fold(Pass::default(), |total, lane| total.merge(lane));
        for (&x, &y) in rest_a.iter().zip(rest_b) {
            total.add(x, y);
        }
        total
    }

    fn add(&mut self, x: f64, y: f64) {
        let (mx, my) = (x.abs(), y.abs());
        self.max_a = if mx > self.max_a { mx } else { self.max_a };
        self.max_b = if my > self.max_b { my } else { self.max_b };
        self.probe += x * 0.0 + y * 0.0;
        self.dot += x * y;
        self.norm_a += x * x;
        self.norm_b += y * y;
    }

    fn merge(self, other: &Pass) -> Pass {
        Pass {
            max_a: self.max_a.max(other.max_a),
            max_b: self.max_b.max(other.max_b),
            probe: self.probe + other.probe,
            dot: self.dot + other.dot,
            norm_a: self.norm_a + other.norm_a,
            norm_b: self.norm_b + other.norm_b,
        }
    }

    fn all_finite(&self) -> bool {
        self.probe == 0.0
    }
}

/// Below this largest magnitude, a vector is lifted before normalising: 2^-1000.
const TINY: f64 = 9.332636185032189e-302;

/// The exact lift for tiny vectors: 2^600.
const LIFT: f64 = 4.149515568880993e180;

fn lift(v: &[f64]) -> Vec<f64> {
    v.iter().map(|x| x * LIFT).collect()
}

/// The power of two that maps `max` (normal, at least [`TINY`]) into [1, 2), or [2, 4) for the very largest
/// maxima, whose inverse power 2^-1023 would be subnormal. Multiplying by it is exact unless a result
/// underflows, which only elements negligible next to the maximum can.
fn normalising_factor(max: f64) -> f64 {
    // The biased exponent field is 11 bits, so the cast is lossless.
    let exponent = ((max.to_bits() >> 52) & 0x7ff) as i32 - 1023;
    pow2((-exponent).max(-1022))
}

/// 2^k for k in [-1022, 1023], built from its bits.
fn pow2(k: i32) -> f64 {
    let biased = (k + 1023).clamp(1, 2046);
    f64::from_bits(u64::from(biased.unsigned_abs()) << 52)
}

/// Dot product and squared norms of the scaled vectors, in four lanes so the sums pipeline and vectorise.
fn scaled_sums(a: &[f64], b: &[f64], scale_a: f64, scale_b: f64) -> (f64, f64, f64) {
    let mut dot = [0.0f64; 4];
    let mut norm_a = [0.0f64; 4];
    let mut norm_b = [0.0f64; 4];
    let (mut rest_a, mut rest_b) = (a, b);
    while let (Some(chunk_a), Some(chunk_b)) = (rest_a.first_chunk::<4>(), rest_b.first_chunk::<4>()) {
        let lanes = dot.iter_mut().zip(norm_a.iter_mut()).zip(norm_b.iter_mut());
        for (((d, na), nb), (&x, &y)) in lanes.zip(chunk_a.iter().zip(chunk_b)) {
            let (x, y) = (x * scale_a, y * scale_b);
            *d += x * y;
            *na += x * x;
            *nb += y * y;
        }
        rest_a = rest_a.get(4..).unwrap_or_default();
        rest_b = rest_b.get(4..).unwrap_or_default();
    }
    let mut sums = (dot.iter().sum::<f64>(), norm_a.iter().sum::<f64>(), norm_b.iter().sum::<f64>());
    for (&x, &y) in rest_a.iter().zip(rest_b) {
        let (x, y) = (x * scale_a, y * scale_b);
        sums.0 += x * y;
        sums.1 += x * x;
        sums.2 += y * y;
    }
    sums
}

/// Reads the number array at `pointer`.
fn read_embedding(body: &[u8], pointer: &str) -> Result<Vec<f64>, ScoreError> {
    json::select(body, pointer, |sc, depth| read_numbers(sc, depth, pointer))
}

fn read_numbers(sc: &mut Scanner<'_>, depth: usize, pointer: &str) -> Result<Vec<f64>, ScoreError> {
    let mismatch = |expected| ScoreError::TypeMismatch {
        pointer: pointer.to_string(),
        expected,
    };
    // Not an array of numbers, or damaged: `json::select` re-scans the value to tell which.
    let numbers = sc.read_f64_array(depth)?.ok_or_else(|| mismatch("an array of numbers"))?;
    // No early exit, so that the check vectorises: it runs over every number of every body.
    if numbers.iter().fold(true, |finite, x| finite & (x.abs() < f64::INFINITY)) {
        Ok(numbers)
    } else {
        Err(mismatch("an array of numbers within the f64 range"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-15
    }

    #[test]
    fn known_values() {
        assert!(close(cosine(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]).unwrap(), 32.0 / (14f64.sqrt() * 77f64.sqrt())));
        assert_eq!(cosine(&[1.0, 0.0], &[0.0, 5.0]).unwrap(), 0.0);
        assert_eq!(cosine(&[3.0, 4.0], &[6.0, 8.0]).unwrap(), 1.0);
        assert_eq!(cosine(&[3.0, 4.0], &[-6.0, -8.0]).unwrap(), -1.0);
        assert!(close(cosine(&[1.0, 1.0], &[1.0, 0.0]).unwrap(), std::f64::consts::FRAC_1_SQRT_2));
    }

    #[test]
    fn definitions_for_zero_and_empty() {
        assert_eq!(cosine(&[], &[]).unwrap(), 1.0);
        assert_eq!(cosine(&[0.0; 4], &[0.0; 4]).unwrap(), 1.0);
        assert_eq!(cosine(&[0.0, -0.0], &[-0.0, 0.0]).unwrap(), 1.0);
        assert_eq!(cosine(&[0.0, 0.0], &[1e-320, 0.0]).unwrap(), 0.0);
        assert_eq!(cosine(&[7.0, 0.0], &[0.0, 0.0]).unwrap(), 0.0);
    }

    #[test]
    fn extreme_magnitudes() {
        assert_eq!(cosine(&[1e300, 1e300], &[1e300, 1e300]).unwrap(), 1.0);
        assert!(close(cosine(&[1e300, 0.0], &[1e300, 1e300]).unwrap(), std::f64::consts::FRAC_1_SQRT_2));
        assert!(close(cosine(&[1e-300, 0.0], &[1e-300, 1e-300]).unwrap(), std::f64::consts::FRAC_1_SQRT_2));
        assert!(close(cosine(&[5e-324, 0.0], &[5e-324, 5e-324]).unwrap(), std::f64::consts::FRAC_1_SQRT_2));
        assert!(close(cosine(&[f64::MAX, f64::MAX], &[f64::MAX, 0.0]).unwrap(), std::f64::consts::FRAC_1_SQRT_2));
        assert!(close(cosine(&[1e300, 2e300], &[-1e-300, -2e-300]).unwrap(), -1.0));
        // Far smaller elements still count when they are all there is.
        assert!(close(cosine(&[1e-310, 3e-310], &[2e-310, 6e-310]).unwrap(), 1.0));
    }

    #[test]
    fn scaling_is_exact() {
        assert_eq!(TINY, 2f64.powi(-1000));
        assert_eq!(LIFT, 2f64.powi(600));
        assert_eq!(pow2(0), 1.0);
        assert_eq!(pow2(-1022), f64::MIN_POSITIVE);
        assert_eq!(pow2(1023), 2f64.powi(1023));
        for max in [TINY, 1e-300, 0.3, 1.0, 7.0, 1e300] {
            let scaled = max * normalising_factor(max);
            assert!((1.0..2.0).contains(&scaled), "{max} -> {scaled}");
        }
        let scaled = f64::MAX * normalising_factor(f64::MAX);
        assert!((2.0..4.0).contains(&scaled));
        assert_eq!(lift(&[5e-324, -1e-310]), vec![5e-324 * LIFT, -1e-310 * LIFT]);
    }

    #[test]
    fn safe_range_constants() {
        assert_eq!(SAFE_LOW, 2f64.powi(-400));
        assert_eq!(SAFE_HIGH, 2f64.powi(400));
        // Either side of the safe range gives the same cosine, by plain or by scaled sums.
        for scale in [SAFE_LOW, SAFE_LOW / 2.0, SAFE_HIGH, SAFE_HIGH * 2.0] {
            let a = [3.0 * scale, 4.0 * scale];
            assert!(close(cosine(&a, &[4.0, 3.0]).unwrap(), 24.0 / 25.0), "{scale}");
        }
    }

    #[test]
    fn one_pass_sums() {
        let pass = Pass::over(&[1.0, -2.0, 3.0, 0.5, -7.0], &[2.0, 1.0, -1.0, 4.0, 0.25]);
        assert_eq!(pass.max_a, 7.0);
        assert_eq!(pass.max_b, 4.0);
        assert_eq!(pass.dot, 2.0 - 2.0 - 3.0 + 2.0 - 1.75);
        assert_eq!(pass.norm_a, 1.0 + 4.0 + 9.0 + 0.25 + 49.0);
        assert_eq!(pass.norm_b, 4.0 + 1.0 + 1.0 + 16.0 + 0.0625);
        assert!(pass.all_finite());
        assert!(!Pass::over(&[1.0, f64::NAN], &[1.0, 1.0]).all_finite());
        assert!(!Pass::over(&[1.0, 2.0, 3.0, 4.0, 5.0], &[1.0, 1.0, 1.0, 1.0, f64::INFINITY]).all_finite());
        assert!(!Pass::over(&[f64::NEG_INFINITY], &[1.0]).all_finite());
    }

    #[test]
    fn lanes_and_remainder() {
        // Lengths around the four-lane chunking give the same result as a plain loop.
        for n in 0..12 {
            let a: Vec<f64> = (0..n).map(|i| (i as f64 * 0.7).sin()).collect();
            let b: Vec<f64> = (0..n).map(|i| (i as f64 * 1.3).cos()).collect();
            let (d, na, nb) = scaled_sums(&a, &b, 1.0, 1.0);
            let dot: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((d - dot).abs() < 1e-12, "{n}");
            assert!((na - a.iter().map(|x| x * x).sum::<f64>()).abs() < 1e-12);
            assert!((nb - b.iter().map(|x| x * x).sum::<f64>()).abs() < 1e-12);
        }
    }

    #[test]
    fn cosine_errors() {
        assert_eq!(
            cosine(&[1.0], &[1.0, 2.0]),
            Err(ScoreError::DimensionMismatch { primary: 1, shadow: 2 })
        );
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(cosine(&[1.0, bad], &[1.0, 1.0]).unwrap_err().reason(), "type_mismatch");
            assert_eq!(cosine(&[1.0, 1.0], &[bad, 1.0]).unwrap_err().reason(), "type_mismatch");
        }
    }

    #[test]
    fn score_bodies_shapes() {
        let openai = br#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5,-0.25,1e-3]}],
            "model":"m","usage":{"prompt_tokens":3,"total_tokens":3}}"#;
        assert_eq!(score_bodies(openai, openai, "/data/0/embedding").unwrap(), 1.0);
        let plain = br#"{"embedding": [0.5, -0.25, 0.001]}"#;
        assert_eq!(score_bodies(openai, plain, "/data/0/embedding").unwrap_err().reason(), "missing_field");
        let pointer_ok = score_bodies(br#"{"e":[1,2,3]}"#, b"[1,2,3]", "/e");
        assert_eq!(pointer_ok.unwrap_err().reason(), "missing_field");
        assert_eq!(score_bodies(b"[1,2,3]", b" [ 1.0 , 2e0 , 30e-1 ] ", "").unwrap(), 1.0);
        assert!(close(score_bodies(b"[1,0]", b"[1,1]", "").unwrap(), std::f64::consts::FRAC_1_SQRT_2));
        assert_eq!(score_bodies(b"[]", b"[]", "").unwrap(), 1.0);
        assert_eq!(score_bodies(b"[0,0]", b"[0,0.0]", "").unwrap(), 1.0);
        assert_eq!(score_bodies(b"[0,0]", b"[0,1]", "").unwrap(), 0.0);
        assert_eq!(score_bodies(b"[1,0]", b"[-1,0]", "").unwrap(), 0.0);
        assert_eq!(score_bodies(b"[1,1]", b"[-1,0.5]", "").unwrap(), 0.0);
        assert_eq!(score_bodies(b"[1e300,1e300]", b"[1e-300,1e-300]", "").unwrap(), 1.0);
        // Duplicate keys: the last one wins.
        let e = br#"{"e":[1,2]}"#;
        assert_eq!(score_bodies(br#"{"e":"x","e":[1,2]}"#, e, "/e").unwrap(), 1.0);
        assert_eq!(score_bodies(br#"{"e":[1,2],"e":"x"}"#, e, "/e").unwrap_err().reason(), "type_mismatch");
    }

    #[test]
    fn score_bodies_errors() {
        let p = "/embedding";
        let good = br#"{"embedding":[1,2]}"#;
        let mismatch = |expected| ScoreError::TypeMismatch { pointer: p.to_string(), expected };
        assert_eq!(score_bodies(br#"{"embedding":"1,2"}"#, good, p), Err(mismatch("an array of numbers")));
        assert_eq!(score_bodies(br#"{"embedding":[1,"2"]}"#, good, p), Err(mismatch("an array of numbers")));
        assert_eq!(score_bodies(br#"{"embedding":[1,[2]]}"#, good, p), Err(mismatch("an array of numbers")));
        assert_eq!(score_bodies(br#"{"embedding":[1,null]}"#, good, p), Err(mismatch("an array of numbers")));
        assert_eq!(score_bodies(br#"{"embedding":{"0":1}}"#, good, p), Err(mismatch("an array of numbers")));
        assert_eq!(
            score_bodies(br#"{"embedding":[1,1e400]}"#, good, p),
            Err(mismatch("an array of numbers within the f64 range"))
        );
        assert_eq!(
            score_bodies(good, br#"{"embedding":[1,2,3]}"#, p),
            Err(ScoreError::DimensionMismatch { primary: 2, shadow: 3 })
        );
        assert_eq!(
            score_bodies(good, br#"{"vector":[1,2]}"#, p),
            Err(ScoreError::MissingField { pointer: p.to_string() })
        );
        for bad in [
            &br#"{"embedding":[1,2"#[..],
            br#"{"embedding":[1,2,]}"#,
            br#"{"embedding":[1,-]}"#,
            br#"{"embedding":[1,02]}"#,
            br#"{"embedding":[1,.5]}"#,
            br#"{"embedding":[1,NaN]}"#,
            br#"{"embedding":[1,tru]}"#,
            br#"{"embedding":[1,2]"#,
            br#"{"embedding":[1,2]}}"#,
            b"{\"embedding\":[1,2],\"x\":\"\xff\"}",
            b"",
        ] {
            let err = score_bodies(bad, good, p).unwrap_err();
            assert_eq!(err.reason(), "invalid_json", "{}", String::from_utf8_lossy(bad));
            // Primary errors come first; a bad shadow is reported when the primary is fine.
            assert_eq!(score_bodies(good, bad, p).unwrap_err().reason(), "invalid_json");
        }
        // InvalidJson beats TypeMismatch: a string element followed by damage.
        assert_eq!(score_bodies(br#"{"embedding":["a",}"#, good, p).unwrap_err().reason(), "invalid_json");
    }
}
