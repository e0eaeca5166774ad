//! Every pair of `tests/fixtures/rouge_pairs.jsonl` must score what `rouge-score` 0.1.2 gave it.
//!
//! The fixture comes from `tests/gen/gen_rouge_fixture.py`. The one allowed difference is the documented
//! one: byte-identical inputs score 1.0 where the package gives 0.0. Set `ROUGE_FIXTURE` to check another
//! fixture file (e.g. one generated with `ROUGE_FIXTURE_NO_STEMMER=1`).

use std::path::PathBuf;

use shadow_compare::rouge::rouge_l;
use shadow_compare::score::Tokenizer;

#[derive(serde::Deserialize)]
struct Pair {
    kind: String,
    target: String,
    prediction: String,
    fmeasure: f64,
    /// The IEEE-754 bits of `fmeasure`, exact whatever the float parser does.
    fmeasure_bits: u64,
}

fn fixture_path() -> PathBuf {
    match std::env::var_os("ROUGE_FIXTURE") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rouge_pairs.jsonl"),
    }
}

fn shorten(text: &str) -> String {
    let head: String = text.chars().take(80).collect();
    if head.len() < text.len() {
        format!("{head:?}... ({} bytes)", text.len())
    } else {
        format!("{head:?}")
    }
}

#[test]
fn rouge_l_matches_rouge_score() {
    let path = fixture_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));

    let (mut pairs, mut exact, mut identical_overrides) = (0usize, 0usize, 0usize);
    let mut mismatches = Vec::new();
    for (line_no, line) in text.lines().enumerate() {
        let pair: Pair = serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", line_no + 1));
        let expected = f64::from_bits(pair.fmeasure_bits);
        assert!(
            (expected - pair.fmeasure).abs() <= f64::EPSILON,
            "line {}: fmeasure and fmeasure_bits disagree",
            line_no + 1
        );
        let got = rouge_l(&pair.target, &pair.prediction, Tokenizer::Rouge);
        pairs += 1;

        if pair.target == pair.prediction {
            // The deliberate difference: identical inputs are 1.0, whatever the package says.
            assert_eq!(got, 1.0, "line {}: identical inputs must score 1.0", line_no + 1);
            assert!(expected == 1.0 || expected == 0.0, "line {}: identical inputs gave {expected}", line_no + 1);
            if expected == 0.0 {
                identical_overrides += 1;
            } else {
                exact += 1;
            }
            continue;
        }
        if got.to_bits() == pair.fmeasure_bits {
            exact += 1;
        } else if (got - expected).abs() > 1e-9 {
            mismatches.push(format!(
                "line {} ({}): rust {got:?} vs python {expected:?}\n  target:     {}\n  prediction: {}",
                line_no + 1,
                pair.kind,
                shorten(&pair.target),
                shorten(&pair.prediction)
            ));
        }
    }

    println!(
        "{pairs} pairs: {exact} bit-exact, {} within 1e-9 but not bit-exact, {identical_overrides} identical \
         pairs scored 1.0 instead of the package's 0.0, {} mismatches",
        pairs - exact - identical_overrides - mismatches.len(),
        mismatches.len()
    );
    assert!(pairs >= 2000, "the fixture should hold at least 2,000 pairs, found {pairs}");
    assert!(
        mismatches.is_empty(),
        "{} of {pairs} pairs differ from rouge-score by more than 1e-9; the first ones:\n{}",
        mismatches.len(),
        mismatches.iter().take(10).cloned().collect::<Vec<_>>().join("\n")
    );
}
