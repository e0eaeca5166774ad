//! ROUGE-L F-measure with the exact semantics of `rouge-score` 0.1.2 (`use_stemmer=True`). (stub: in progress)
pub mod porter;

use crate::score::Tokenizer;

/// ROUGE-L F-measure of `target` (production) vs `prediction` (shadow).
pub fn rouge_l(target: &str, prediction: &str, _tokenizer: Tokenizer) -> f64 {
    if target == prediction {
        1.0
    } else {
        0.0
    }
}
