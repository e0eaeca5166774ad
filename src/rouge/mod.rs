//! ROUGE-L F-measure with the semantics of `rouge-score` 0.1.2:
//! `RougeScorer(['rougeL'], use_stemmer=True).score(target, prediction)['rougeL'].fmeasure`.
//!
//! With [`Tokenizer::Rouge`] (the default) the score is the package's, to the last bit:
//!
//! 1. Python's `text.lower()`, then every run of characters outside `[a-z0-9]` separates tokens. So accented
//!    letters, CJK and emoji are separators; 'İ' (U+0130) gives an "i" and the Kelvin sign gives a "k".
//! 2. Tokens longer than 3 characters are stemmed with NLTK's `PorterStemmer` ([`porter::stem`]).
//! 3. `lcs` = the length of the longest common subsequence of the two token lists;
//!    `precision = lcs / len(prediction)`, `recall = lcs / len(target)`,
//!    `F = 2 * precision * recall / (precision + recall)`, evaluated in that order so the floats agree;
//!    F is 0 when either list is empty or when `precision + recall` is 0.
//!
//! One deliberate difference: byte-identical inputs score 1.0. The package gives 0.0 to two empty texts, or
//! two equal texts without an ASCII letter or digit (an emoji reply, a CJK answer); a shadow that answers
//! exactly like production must not count as divergent.
//!
//! [`Tokenizer::Unicode`] is an extension for models that do not write English, not `rouge-score`
//! semantics: the lowercased text is split at Unicode word boundaries (UAX #29), words without a letter or
//! digit are dropped, each CJK ideograph, kana or hangul character is a token of its own, and only words of
//! plain ASCII letters and digits longer than 3 characters are Porter-stemmed. The LCS and F-measure are
//! the same.
//!
//! The LCS is bit-parallel (see `lcs`), so a pair of 2,000-token texts costs about 2,000 · 2,000 / 64 word
//! operations and memory linear in the texts. Stemming is the other cost: each thread keeps a bounded cache
//! from raw token to stem, so a word is stemmed once, not once per occurrence or per pair.

mod lcs;
pub mod porter;
mod tokenize;

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use crate::score::{ScoreError, Tokenizer};
use tokenize::Tokens;

/// ROUGE-L F-measure of `target` (the production text) vs `prediction` (the shadow text), in [0, 1].
///
/// ```
/// use shadow_compare::rouge::rouge_l;
/// use shadow_compare::score::Tokenizer;
///
/// let f = rouge_l(
///     "The quick brown fox jumps over the lazy dog",
///     "The quick brown dog jumps on the log.",
///     Tokenizer::Rouge,
/// );
/// assert_eq!(f, 0.5882352941176471); // rouge-score 0.1.2 gives exactly this
/// assert_eq!(rouge_l("", "", Tokenizer::Rouge), 1.0); // identical inputs (rouge-score: 0.0)
/// ```
pub fn rouge_l(target: &str, prediction: &str, tokenizer: Tokenizer) -> f64 {
    // No text has more than usize::MAX tokens, so this is never the error.
    rouge_l_bounded(target, prediction, tokenizer, usize::MAX).unwrap_or(0.0)
}

/// [`rouge_l`], unless a text has more than `max_tokens` tokens (as the tokenizer splits it, before stems are
/// dropped): then `TooManyTokens`, naming the target as "primary" and the prediction as "shadow", the primary
/// first. Tokenizing stops one token past the bound, so the rest of a huge text is never split or stemmed (it
/// is still read once: selected from its JSON body and, by the unicode tokenizer, lowercased). Equal texts
/// score 1.0 whatever their length: comparing them is one pass.
///
/// ```
/// use shadow_compare::rouge::rouge_l_bounded;
/// use shadow_compare::score::Tokenizer;
///
/// assert_eq!(rouge_l_bounded("a b c", "a b d", Tokenizer::Rouge, 3).unwrap(), 2.0 / 3.0);
/// let err = rouge_l_bounded("a b c", "a b c d", Tokenizer::Rouge, 3).unwrap_err();
/// assert_eq!(err.to_string(), "too_many_tokens: the shadow text has more than 3 tokens (max_tokens)");
/// ```
pub fn rouge_l_bounded(
    target: &str,
    prediction: &str,
    tokenizer: Tokenizer,
    max_tokens: usize,
) -> Result<f64, ScoreError> {
    if target == prediction {
        return Ok(1.0);
    }
    SCRATCH
        .try_with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut scratch) => scratch.score(target, prediction, tokenizer, max_tokens),
            // Not reachable (scoring does not call back into itself), but a fresh scratch is always correct.
            Err(_) => Scratch::default().score(target, prediction, tokenizer, max_tokens),
        })
        .unwrap_or_else(|_| Scratch::default().score(target, prediction, tokenizer, max_tokens))
}

thread_local! {
    /// One per thread (one per VM in the filter): the stem cache and buffers survive from pair to pair.
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// `rouge_score.scoring.fmeasure` of `_score_lcs`'s precision and recall, operation for operation.
fn fmeasure(lcs: usize, target_len: usize, prediction_len: usize) -> f64 {
    let precision = lcs as f64 / prediction_len as f64;
    let recall = lcs as f64 / target_len as f64;
    if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    }
}

/// Everything scoring needs besides the two texts, reused so that a warm call allocates almost nothing.
#[derive(Default)]
struct Scratch {
    vocab: Vocab,
    target: Tokens,
    prediction: Tokens,
    target_ids: Vec<u32>,
    prediction_ids: Vec<u32>,
    lcs: lcs::Scratch,
}

impl Scratch {
    fn score(
        &mut self,
        target: &str,
        prediction: &str,
        tokenizer: Tokenizer,
        max_tokens: usize,
    ) -> Result<f64, ScoreError> {
        let split = match tokenizer {
            Tokenizer::Rouge => tokenize::rouge,
            Tokenizer::Unicode => tokenize::unicode,
        };
        let texts = [(target, &mut self.target, "primary"), (prediction, &mut self.prediction, "shadow")];
        for (text, tokens, side) in texts {
            split(text, max_tokens, tokens);
            if tokens.len() > max_tokens {
                return Err(ScoreError::TooManyTokens { side, max: max_tokens });
            }
        }

        // The shorter text gets its ids first, so they are 0..k: the LCS sizes its mask table by the
        // largest id of the shorter sequence.
        self.vocab.begin_pair();
        if self.target.len() <= self.prediction.len() {
            self.vocab.ids(&self.target, &mut self.target_ids);
            self.vocab.ids(&self.prediction, &mut self.prediction_ids);
        } else {
            self.vocab.ids(&self.prediction, &mut self.prediction_ids);
            self.vocab.ids(&self.target, &mut self.target_ids);
        }

        if self.target_ids.is_empty() || self.prediction_ids.is_empty() {
            return Ok(0.0);
        }
        let lcs = lcs::lcs_len(&self.target_ids, &self.prediction_ids, &mut self.lcs);
        Ok(fmeasure(lcs, self.target_ids.len(), self.prediction_ids.len()))
    }
}

/// Distinct raw tokens remembered before the cache starts over. Bounds memory (roughly 100 bytes per
/// token) while keeping the few thousand words a model actually uses stemmed once.
const VOCAB_CAPACITY: usize = 1 << 14;

/// Bytes of cached tokens and stems after which the cache starts over, however few they are. A token is as
/// long as its run of letters and digits, so a hex digest or a data URI in a text is one token of thousands of
/// bytes: by count alone, 16,384 such tokens could hold gigabytes (one-off, the CLI scoring 3,000 pairs that each
/// hold a new 20,000-character hex token peaked at 355 MB before this bound and 121 MB with it). Words are far
/// below it: 16,384 words of ~5 bytes and their stems make ~160 KB.
const VOCAB_BYTES: usize = 1 << 20;

/// The id of a raw token whose stem `rouge-score` drops (not `^[a-z0-9]+$` after stemming).
const DROPPED: u32 = u32::MAX;

/// Token ids, equal exactly when the stems are equal: stable ids across pairs (the stem cache), and per
/// pair a dense renumbering from 0 for the LCS.
#[derive(Default)]
struct Vocab {
    /// Raw token to the stable id of its stem: each distinct raw token is stemmed once.
    by_token: HashMap<Box<[u8]>, u32, BuildHasherDefault<TokenHasher>>,
    by_stem: HashMap<Box<[u8]>, u32, BuildHasherDefault<TokenHasher>>,
    /// Indexed by stable id: the pair it was last seen in and its dense id in that pair.
    dense: Vec<(u32, u32)>,
    pair: u32,
    next_dense: u32,
    /// Reused output buffer of the stemmer.
    stem_buf: String,
    /// Bytes of the keys of `by_token` and `by_stem`.
    key_bytes: usize,
}

/// The hash of the token caches: FxHash (one multiplication per eight bytes of a token), its best-mixed bits
/// rotated down to where the table indexes.
///
/// With ahash, looking tokens up took 44% of a 500-token pair's scoring time in V8: without a 64 x 64 bit
/// product on wasm32 it falls back to byte swaps, which wasm has no instruction for. With this hash the
/// scoring bench built for wasm32 scores 500-token pairs about 40% faster in V8, and as fast as before
/// natively. Like ahash here it has fixed keys (wasm has no OS random source), and with any known hash someone
/// who controls both texts could pick tokens that share a bucket; the cache is bounded by [`VOCAB_CAPACITY`]
/// and [`VOCAB_BYTES`], which bound that cost too. Which hash it is changes no score.
struct TokenHasher(u64);

impl Default for TokenHasher {
    fn default() -> Self {
        TokenHasher(0x243f_6a88_85a3_08d3)
    }
}

impl std::hash::Hasher for TokenHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while let Some((word, tail)) = rest.split_first_chunk::<8>() {
            self.add(u64::from_le_bytes(*word));
            rest = tail;
        }
        if !rest.is_empty() {
            self.add(short_word(rest));
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    /// The product's high bits are its best mixed; the table indexes with the low bits of the hash (of its
    /// low 32 on wasm32), so the high bits are rotated down.
    fn finish(&self) -> u64 {
        self.0.rotate_left(26)
    }
}

/// Up to seven bytes as one u64, from two overlapping loads rather than a copy of variable length. Not
/// injective by itself, but it is for a given length, and [u8]'s Hash writes the length first.
fn short_word(bytes: &[u8]) -> u64 {
    let four = |b: Option<&[u8; 4]>| b.map_or(0, |b| u64::from(u32::from_le_bytes(*b)));
    if bytes.len() >= 4 {
        four(bytes.first_chunk()) | four(bytes.last_chunk()) << 32
    } else {
        let byte = |b: Option<&u8>| b.map_or(0, |&b| u64::from(b));
        byte(bytes.first()) | byte(bytes.get(bytes.len() / 2)) << 8 | byte(bytes.last()) << 16
    }
}

impl TokenHasher {
    /// FxHash's step.
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0xf135_7aea_2e62_a9c5);
    }
}

impl Vocab {
    /// Starts the dense numbering of a new pair, and the cache over once it is full. Only between pairs:
    /// the stable ids of a pair must not change under it.
    fn begin_pair(&mut self) {
        if self.by_token.len() >= VOCAB_CAPACITY || self.key_bytes >= VOCAB_BYTES {
            self.by_token.clear();
            self.by_stem.clear();
            self.dense.clear();
            self.key_bytes = 0;
            // One pair with a huge vocabulary must not keep its memory for good.
            self.by_token.shrink_to(VOCAB_CAPACITY);
            self.by_stem.shrink_to(VOCAB_CAPACITY);
            self.dense.shrink_to(VOCAB_CAPACITY);
        }
        self.pair = self.pair.wrapping_add(1);
        if self.pair == 0 {
            // Stamps from 2^32 pairs ago could collide with the new ones.
            self.dense.iter_mut().for_each(|entry| *entry = (0, 0));
            self.pair = 1;
        }
        self.next_dense = 0;
    }

    /// The dense ids of the tokens that survive stemming, in order, into `ids`.
    fn ids(&mut self, tokens: &Tokens, ids: &mut Vec<u32>) {
        ids.clear();
        for token in tokens.iter() {
            let stable = match self.by_token.get(token) {
                Some(&id) => id,
                None => {
                    let id = self.stem_id(token);
                    self.by_token.insert(token.into(), id);
                    self.key_bytes += token.len();
                    id
                }
            };
            if let Some(entry) = self.dense.get_mut(stable as usize) {
                if entry.0 != self.pair {
                    *entry = (self.pair, self.next_dense);
                    self.next_dense += 1;
                }
                ids.push(entry.1);
            }
        }
    }

    /// Stems `token` when `rouge-score` would and returns the stable id of the stem, a new one if need be.
    fn stem_id(&mut self, token: &[u8]) -> u32 {
        let stem: &[u8] = if tokenize::is_stemmable(token) {
            let Ok(word) = std::str::from_utf8(token) else {
                return DROPPED;
            };
            porter::stem_into(word, &mut self.stem_buf);
            if self.stem_buf.is_empty() || !tokenize::is_ascii_word(self.stem_buf.as_bytes()) {
                return DROPPED;
            }
            self.stem_buf.as_bytes()
        } else {
            token
        };
        if let Some(&id) = self.by_stem.get(stem) {
            return id;
        }
        let Ok(id) = u32::try_from(self.dense.len()) else {
            return DROPPED; // 2^32 distinct stems: VOCAB_CAPACITY makes this impossible.
        };
        self.key_bytes += stem.len();
        self.by_stem.insert(stem.into(), id);
        self.dense.push((0, 0));
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_docstring_example() {
        let f = rouge_l(
            "The quick brown fox jumps over the lazy dog",
            "The quick brown dog jumps on the log.",
            Tokenizer::Rouge,
        );
        // rouge-score: precision 0.625, recall 0.5555555555555556.
        assert_eq!(f, 0.5882352941176471);
    }

    #[test]
    fn empty_and_tokenless_inputs() {
        assert_eq!(rouge_l("", "", Tokenizer::Rouge), 1.0);
        assert_eq!(rouge_l("😀", "😀", Tokenizer::Rouge), 1.0);
        assert_eq!(rouge_l("东京", "东京", Tokenizer::Rouge), 1.0);
        // Not byte-identical: the package's 0.
        assert_eq!(rouge_l("😀", "😀 ", Tokenizer::Rouge), 0.0);
        assert_eq!(rouge_l("", "hello", Tokenizer::Rouge), 0.0);
        assert_eq!(rouge_l("hello", "", Tokenizer::Rouge), 0.0);
        assert_eq!(rouge_l("hello", "world", Tokenizer::Rouge), 0.0);
    }

    #[test]
    fn case_punctuation_and_special_lowercase() {
        assert_eq!(rouge_l("Hello, World!", "hello world", Tokenizer::Rouge), 1.0);
        // 'İ' lowers to "i" + U+0307, the Kelvin sign to "k" (rouge-score: 1.0 for both).
        assert_eq!(rouge_l("i\u{307}stanbul", "İstanbul", Tokenizer::Rouge), 1.0);
        assert_eq!(rouge_l("5\u{212A}", "5k", Tokenizer::Rouge), 1.0);
    }

    #[test]
    fn stemming_matches_inflections() {
        // rouge-score (use_stemmer=True): precision 0.75, recall 0.6, F 0.6666666666666665.
        assert_eq!(
            rouge_l("İstanbul KELVIN 5\u{212A} running", "istanbul kelvin 5k run", Tokenizer::Rouge),
            0.6666666666666665
        );
        // "generalizations" and "generally" both stem to "gener"; "dying" is an NLTK irregular form of "die".
        assert_eq!(rouge_l("generalizations dying", "generally die", Tokenizer::Rouge), 1.0);
        // Tokens of 3 characters or fewer are not stemmed: "ran" stays "ran".
        assert_eq!(rouge_l("ran", "running", Tokenizer::Rouge), 0.0);
    }

    #[test]
    fn token_hash_spreads_words() {
        use std::hash::BuildHasher;
        let build = BuildHasherDefault::<TokenHasher>::default();
        // Every lowercase word of 1 to 3 letters, and longer ones built from them: 18,778 distinct tokens.
        let letters = b"abcdefghijklmnopqrstuvwxyz";
        let mut words: Vec<Vec<u8>> = Vec::new();
        for &a in letters {
            words.push(vec![a]);
            for &b in letters {
                words.push(vec![a, b]);
                for &c in letters {
                    words.push(vec![a, b, c]);
                }
            }
        }
        let long: Vec<Vec<u8>> = words.iter().take(500).map(|w| [w.as_slice(), b"ization", w].concat()).collect();
        words.extend(long);
        let hashes: Vec<u64> = words.iter().map(|w| build.hash_one(w.as_slice())).collect();
        let mut distinct = hashes.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), words.len());
        // The table indexes with the low bits (of the low 32 on wasm32): 2^15 buckets, ~0.57 words each.
        let mut load = vec![0u32; 1 << 15];
        for h in &hashes {
            load[(*h as u32 as usize) & ((1 << 15) - 1)] += 1;
        }
        let max = load.iter().max().copied().unwrap_or(0);
        assert!(max <= 7, "{max} words in one bucket");
    }

    #[test]
    fn fmeasure_float_order() {
        // rouge-score gives 0.6666666666666665 here, not 0.6666666666666666: 2 * 0.75 * 0.6 / 1.35.
        assert_eq!(fmeasure(3, 5, 4), 0.6666666666666665);
        assert_eq!(fmeasure(0, 5, 4), 0.0);
    }

    #[test]
    fn unicode_tokenizer_scores_cjk() {
        assert_eq!(rouge_l("東京タワー", "東京", Tokenizer::Unicode), 2.0 * 1.0 * 0.4 / 1.4);
        assert_eq!(rouge_l("東京タワー", "東京", Tokenizer::Rouge), 0.0);
        assert_eq!(rouge_l("Café crème", "café", Tokenizer::Unicode), 2.0 * 1.0 * 0.5 / 1.5);
    }

    #[test]
    fn the_token_cache_is_bounded_in_bytes_as_well_as_in_count() {
        let mut scratch = Scratch::default();
        // Each pair brings two new 20,000-byte tokens (and their stems): 16 MB over the loop.
        for i in 0..200 {
            let (a, b) = (format!("shared {}{i}", "a".repeat(20_000)), format!("shared {}{i}", "b".repeat(20_000)));
            assert_eq!(scratch.score(&a, &b, Tokenizer::Rouge, usize::MAX), Ok(0.5));
            let bytes = scratch.vocab.key_bytes;
            assert!(bytes < VOCAB_BYTES + 100_000, "{bytes} bytes after pair {i}");
        }
        // Short words: the count bound.
        for i in 0..40 {
            let words: Vec<String> = (0..1_000).map(|j| format!("w{i}x{j}")).collect();
            assert_eq!(scratch.score(&words.join(" "), "w", Tokenizer::Rouge, usize::MAX), Ok(0.0));
            assert!(scratch.vocab.by_token.len() < VOCAB_CAPACITY + 1_001);
        }
    }

    #[test]
    fn max_tokens_bounds_each_text() {
        let (target, prediction) = ("The cats sat on the mats today", "A cat sat on a mat");
        let full = rouge_l(target, prediction, Tokenizer::Rouge);
        for tokenizer in [Tokenizer::Rouge, Tokenizer::Unicode] {
            let bounded = |a: &str, b: &str, max: usize| rouge_l_bounded(a, b, tokenizer, max);
            // At the bound, exactly the unbounded score.
            assert_eq!(bounded(target, prediction, 7), Ok(rouge_l(target, prediction, tokenizer)));
            assert_eq!(bounded(target, prediction, 6), Err(ScoreError::TooManyTokens { side: "primary", max: 6 }));
            assert_eq!(bounded(prediction, target, 6), Err(ScoreError::TooManyTokens { side: "shadow", max: 6 }));
            // Both over: the primary is named.
            assert_eq!(bounded(target, "x y z", 2), Err(ScoreError::TooManyTokens { side: "primary", max: 2 }));
            // Equal texts are not tokenized, whatever their length.
            assert_eq!(bounded(target, target, 1), Ok(1.0));
            // Punctuation-only text has no token, so it is never over.
            assert_eq!(bounded("!!!", "...", 1), Ok(0.0));
        }
        assert_eq!(rouge_l_bounded(target, prediction, Tokenizer::Rouge, 7), Ok(full));
        assert_eq!(full, 2.0 * (4.0 / 6.0) * (4.0 / 7.0) / (4.0 / 6.0 + 4.0 / 7.0));
    }
}
