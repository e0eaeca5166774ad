//! The Porter stemmer agrees with NLTK's `PorterStemmer()` (as used by rouge-score) on every word of a
//! generated vocabulary. Regenerate the fixture with `tests/gen/gen_porter_fixture.py`.

use shadow_compare::rouge::porter::{stem, stem_into};

const VOCABULARY: &str = include_str!("fixtures/porter_vocab.tsv");

/// `(word, NLTK's stem)` for every line of the fixture.
fn vocabulary() -> Vec<(&'static str, &'static str)> {
    VOCABULARY
        .lines()
        .enumerate()
        .map(|(n, line)| {
            line.split_once('\t')
                .unwrap_or_else(|| panic!("porter_vocab.tsv line {}: no tab in {line:?}", n + 1))
        })
        .collect()
}

#[test]
fn every_stem_matches_nltk() {
    let vocabulary = vocabulary();
    assert!(
        vocabulary.len() >= 20_000,
        "fixture too small: {} words",
        vocabulary.len()
    );

    let mismatches: Vec<(&str, &str, String)> = vocabulary
        .iter()
        .filter_map(|&(word, expected)| {
            let got = stem(word);
            (got != expected).then_some((word, expected, got))
        })
        .collect();

    if !mismatches.is_empty() {
        eprintln!("{:<24} {:<20} ours", "word", "nltk");
        for (word, expected, got) in mismatches.iter().take(40) {
            eprintln!("{word:<24} {expected:<20} {got}");
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} words stem differently from NLTK (first ones above)",
        mismatches.len(),
        vocabulary.len()
    );
}

#[test]
fn stem_into_matches_stem_with_a_reused_buffer() {
    let mut out = String::new();
    for (word, expected) in vocabulary() {
        stem_into(word, &mut out);
        assert_eq!(out, expected, "stem_into({word:?})");
    }
}
