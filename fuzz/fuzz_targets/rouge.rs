//! Two texts split at the first NUL: ROUGE-L never panics, stays in [0, 1], is symmetric, and scores
//! identical texts 1.0, with both tokenizers.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shadow_compare::rouge::rouge_l;
use shadow_compare::score::Tokenizer;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (a, b) = text.split_once('\0').unwrap_or((&text, ""));
    for t in [Tokenizer::Rouge, Tokenizer::Unicode] {
        let ab = rouge_l(a, b, t);
        assert!((0.0..=1.0).contains(&ab), "{ab}");
        assert_eq!(ab, rouge_l(b, a, t));
        assert_eq!(rouge_l(a, a, t), 1.0);
    }
});
