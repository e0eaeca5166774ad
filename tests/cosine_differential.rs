//! Cosine against numpy: every row of tests/fixtures/cosine_pairs.jsonl (made by
//! tests/gen/gen_cosine_fixture.py) is scored from its raw JSON bodies and compared with the reference.
//!
//! The tolerance is 1e-9 relative to max(|expected|, condition), where condition = sum|a_i b_i| / (|a| |b|):
//! a floating dot product is accurate relative to that sum, not to its (possibly cancelled) result, so
//! near-orthogonal pairs are judged fairly. Rows whose reference is a definition (zero vectors) have a
//! condition of 0 and must match exactly.

use serde_json::Value;
use shadow_compare::cosine::{cosine, score_bodies};
use std::collections::BTreeMap;

const TOLERANCE: f64 = 1e-9;

struct Row {
    dim: u64,
    case: String,
    pointer: String,
    primary: String,
    shadow: String,
    expected: f64,
    condition: f64,
    source: String,
}

fn rows() -> Vec<Row> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cosine_pairs.jsonl");
    let text = std::fs::read_to_string(path).expect("fixture present (run tests/gen/gen_cosine_fixture.py)");
    text.lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            let s = |k: &str| v[k].as_str().unwrap().to_string();
            Row {
                dim: v["dim"].as_u64().unwrap(),
                case: s("case"),
                pointer: s("pointer"),
                primary: s("primary"),
                shadow: s("shadow"),
                // From the bits, so the reference does not depend on any float parser.
                expected: f64::from_bits(v["expected_bits"].as_u64().unwrap()),
                condition: v["condition"].as_f64().unwrap(),
                source: s("source"),
            }
        })
        .collect()
}

/// The embedding as serde_json reads it, for checking `cosine` on slices as well as on bodies.
fn vector(body: &str, pointer: &str) -> Vec<f64> {
    let doc: Value = serde_json::from_str(body).unwrap();
    doc.pointer(pointer).unwrap().as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn within(got: f64, want: f64, row: &Row) -> bool {
    (got - want).abs() <= TOLERANCE * want.abs().max(row.condition)
}

#[test]
fn every_fixture_row_agrees_with_the_reference() {
    let rows = rows();
    let mut per_dim: BTreeMap<u64, usize> = BTreeMap::new();
    let mut per_source: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for row in &rows {
        *per_dim.entry(row.dim).or_default() += 1;
        *per_source.entry(row.source.clone()).or_default() += 1;
        let label = format!("dim {} {} ({})", row.dim, row.case, row.source);

        // The [0, 1] score: negative cosines are reported as 0.
        let want_score = if row.expected > 0.0 { row.expected } else { 0.0 };
        match score_bodies(row.primary.as_bytes(), row.shadow.as_bytes(), &row.pointer) {
            Ok(got) if within(got, want_score, row) && (0.0..=1.0).contains(&got) => {}
            other => failures.push(format!("{label}: score_bodies {other:?}, want {want_score:e}")),
        }

        // The signed cosine on the same vectors.
        let (a, b) = (vector(&row.primary, &row.pointer), vector(&row.shadow, &row.pointer));
        assert_eq!(a.len() as u64, row.dim, "{label}");
        match cosine(&a, &b) {
            Ok(got) if within(got, row.expected, row) => {}
            other => failures.push(format!("{label}: cosine {other:?}, want {:e}", row.expected)),
        }
    }
    assert!(failures.is_empty(), "{} of {} rows disagree:\n{}", failures.len(), rows.len(), failures.join("\n"));
    // Guard against a truncated or regenerated-empty fixture.
    assert_eq!(per_dim.keys().copied().collect::<Vec<_>>(), vec![3, 384, 768, 1536]);
    assert!(per_dim.values().all(|&n| n >= 20), "{per_dim:?}");
    for source in ["numpy", "exact", "definition"] {
        assert!(per_source.get(source).copied().unwrap_or(0) > 0, "no {source} rows: {per_source:?}");
    }
}

#[test]
fn shapes_and_pointers_in_the_fixture_are_covered() {
    let rows = rows();
    for pointer in ["/embedding", "/data/0/embedding", ""] {
        assert!(rows.iter().any(|r| r.pointer == pointer), "no rows with pointer {pointer:?}");
    }
    // A pointer that misses, on real bodies, is a typed error and not a score.
    let row = rows.iter().find(|r| r.pointer == "/data/0/embedding").unwrap();
    let err = score_bodies(row.primary.as_bytes(), row.shadow.as_bytes(), "/data/1/embedding").unwrap_err();
    assert_eq!(err.reason(), "missing_field");
    // Cutting a body anywhere inside the array makes it invalid, never a shorter vector.
    let cut = &row.primary[..row.primary.len() / 2];
    let err = score_bodies(cut.as_bytes(), row.shadow.as_bytes(), &row.pointer).unwrap_err();
    assert_eq!(err.reason(), "invalid_json");
}

#[test]
fn different_dimensions_are_a_mismatch() {
    let rows = rows();
    let small = rows.iter().find(|r| r.dim == 384 && r.pointer == "/embedding").unwrap();
    let large = rows.iter().find(|r| r.dim == 768 && r.pointer == "/embedding").unwrap();
    let err = score_bodies(small.primary.as_bytes(), large.shadow.as_bytes(), "/embedding").unwrap_err();
    assert_eq!(err.reason(), "dimension_mismatch");
    assert_eq!(err.to_string(), "dimension_mismatch: primary has 384 dimensions, shadow 768");
}
