//! Properties of `rouge_l` on generated texts: a score in [0, 1], symmetry, and 1.0 for identical inputs.
//! (The bit-parallel LCS is checked against the plain table in `src/rouge/lcs.rs`.)

use proptest::prelude::*;
use shadow_compare::rouge::rouge_l;
use shadow_compare::score::Tokenizer;

/// Words from a small vocabulary (so texts share many tokens), with inflections, case, punctuation and a
/// few characters that need care: 'İ', the Kelvin sign, accents, CJK and emoji.
fn text() -> impl Strategy<Value = String> {
    let word = prop::sample::select(vec![
        "run", "running", "runs", "ran", "The", "the", "cat", "cats", "CAT", "jumps", "jumped", "over", "a",
        "generalization", "general", "happy", "happiness", "İstanbul", "\u{212A}elvin", "café", "東京",
        "タワー", "한국어", "😀", "don't", "state-of-the-art", "1990s", "42", "...", "-", "",
    ]);
    let sep = prop::sample::select(vec![" ", " ", " ", ", ", ".\n", "\t", "\u{a0}", ""]);
    prop::collection::vec((word, sep), 0..150)
        .prop_map(|parts| parts.into_iter().flat_map(|(w, s)| [w, s]).collect())
}

fn tokenizer() -> impl Strategy<Value = Tokenizer> {
    prop::sample::select(vec![Tokenizer::Rouge, Tokenizer::Unicode])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn score_is_in_unit_interval(a in text(), b in text(), tok in tokenizer()) {
        let f = rouge_l(&a, &b, tok);
        prop_assert!((0.0..=1.0).contains(&f), "{f}");
    }

    #[test]
    fn score_is_symmetric(a in text(), b in text(), tok in tokenizer()) {
        // Swapping the texts swaps precision and recall; 2PR/(P+R) is the same float either way.
        prop_assert_eq!(rouge_l(&a, &b, tok).to_bits(), rouge_l(&b, &a, tok).to_bits());
    }

    #[test]
    fn identical_inputs_score_one(a in text(), tok in tokenizer()) {
        prop_assert_eq!(rouge_l(&a, &a, tok), 1.0);
    }

    #[test]
    fn same_tokens_score_one(a in text()) {
        // Only case and separators differ: the token lists are equal, so F is exactly 1 unless there are none.
        let b = a.to_uppercase().replace(' ', "  ");
        let f = rouge_l(&a, &b, Tokenizer::Rouge);
        prop_assert!(f == 1.0 || f == 0.0, "{f}");
    }
}
