//! Splitting text into lowercase tokens, before stemming.
//!
//! Both tokenizers write the tokens of one text into a [`Tokens`] buffer that is reused, so tokenizing does
//! not allocate per token. Both stop once they hold more than `limit` tokens: the caller then refuses the text
//! (`max_tokens`), and the rest of a huge text is never looked at.

use std::ops::Range;

/// The tokens of one text: their bytes and where each one is in them.
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    bytes: Vec<u8>,
    spans: Vec<Range<usize>>,
}

impl Tokens {
    /// Each token, in text order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.spans.iter().filter_map(|span| self.bytes.get(span.clone()))
    }

    pub(crate) fn len(&self) -> usize {
        self.spans.len()
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.spans.clear();
    }

    /// Ends the token being written at the end of `bytes`, if there is one.
    fn close(&mut self, start: &mut usize) {
        if self.bytes.len() > *start {
            self.spans.push(*start..self.bytes.len());
        }
        *start = self.bytes.len();
    }
}

/// `rouge-score`'s tokenizer before stemming: Python's `text.lower()`, then every maximal run of `[a-z0-9]`.
///
/// Only ASCII letters and digits, and the two characters whose lowercase form contains one, can be in a
/// token: U+0130 'İ' lowers to "i" + U+0307 (so it ends its token right after the 'i') and the Kelvin sign
/// U+212A lowers to "k". Every other non-ASCII character is a separator, whatever its lowercase form; a unit
/// test checks this against the whole of Unicode. This avoids lowercasing the text into a new string.
pub(crate) fn rouge(text: &str, limit: usize, out: &mut Tokens) {
    out.clear();
    // Tokens never take more bytes than the text: every character maps to at most one byte.
    out.bytes.reserve(text.len());
    let mut start = 0;
    let mut rest = text.as_bytes().iter();
    while let Some(&b) = rest.next() {
        match TOKEN_BYTE.get(usize::from(b)).copied().unwrap_or(0) {
            0 => {}
            lower => {
                out.bytes.push(lower);
                continue;
            }
        }
        // U+0130 LATIN CAPITAL LETTER I WITH DOT ABOVE: "i", then U+0307, a separator.
        if b == 0xC4 && rest.as_slice().starts_with(&[0xB0]) {
            rest.next();
            out.bytes.push(b'i');
        }
        // U+212A KELVIN SIGN: "k", inside a token.
        if b == 0xE2 && rest.as_slice().starts_with(&[0x84, 0xAA]) {
            rest.nth(1);
            out.bytes.push(b'k');
            continue;
        }
        // Anything else is a separator: ASCII punctuation or space, or part of another non-ASCII character.
        out.close(&mut start);
        if out.len() > limit {
            return;
        }
    }
    out.close(&mut start);
}

/// For each byte: its lowercase form if it is an ASCII letter or digit, else 0 (a separator). A table
/// because the classification runs on every byte of every text.
// Evaluated at compile time: an index out of range would fail the build, it cannot panic at run time.
#[allow(clippy::indexing_slicing)]
const TOKEN_BYTE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        if byte.is_ascii_alphanumeric() {
            table[b] = byte.to_ascii_lowercase();
        }
        b += 1;
    }
    table
};

/// Extension tokenizer for text that is not English: Unicode word boundaries (UAX #29) on the lowercased
/// text, keeping the words that contain a letter or digit, with every CJK ideograph, kana and hangul
/// character a token of its own.
pub(crate) fn unicode(text: &str, limit: usize, out: &mut Tokens) {
    use unicode_segmentation::UnicodeSegmentation;

    out.clear();
    let lowered = text.to_lowercase();
    // `unicode_word_indices` already drops segments without a letter or digit.
    for (at, word) in lowered.unicode_word_indices() {
        let mut run: Option<usize> = None;
        for (offset, c) in word.char_indices() {
            if is_cjk(c) {
                if let Some(run_start) = run.take() {
                    push_run(&lowered, at + run_start..at + offset, out);
                }
                out.spans.push(at + offset..at + offset + c.len_utf8());
            } else if run.is_none() {
                run = Some(offset);
            }
        }
        if let Some(run_start) = run {
            push_run(&lowered, at + run_start..at + word.len(), out);
        }
        if out.len() > limit {
            break;
        }
    }
    out.bytes.clear();
    out.bytes.extend_from_slice(lowered.as_bytes());
}

/// Keeps a stretch of a word between CJK characters if it still has a letter or digit.
fn push_run(lowered: &str, span: Range<usize>, out: &mut Tokens) {
    if lowered.get(span.clone()).is_some_and(|run| run.chars().any(char::is_alphanumeric)) {
        out.spans.push(span);
    }
}

/// CJK ideographs, kana and hangul: scripts written without spaces between words, where a character is the
/// useful unit of comparison.
fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{1100}'..='\u{11FF}'     // Hangul Jamo
        | '\u{3005}' | '\u{3007}'   // ideographic iteration mark, ideographic zero
        | '\u{3040}'..='\u{30FF}'   // Hiragana, Katakana
        | '\u{3130}'..='\u{318F}'   // Hangul Compatibility Jamo
        | '\u{31F0}'..='\u{31FF}'   // Katakana Phonetic Extensions
        | '\u{3400}'..='\u{4DBF}'   // CJK Unified Ideographs Extension A
        | '\u{4E00}'..='\u{9FFF}'   // CJK Unified Ideographs
        | '\u{A960}'..='\u{A97F}'   // Hangul Jamo Extended-A
        | '\u{AC00}'..='\u{D7FF}'   // Hangul Syllables, Hangul Jamo Extended-B
        | '\u{F900}'..='\u{FAFF}'   // CJK Compatibility Ideographs
        | '\u{FF66}'..='\u{FF9F}'   // Halfwidth Katakana
        | '\u{1B000}'..='\u{1B16F}' // Kana Supplement, Kana Extended-A, Small Kana Extension
        | '\u{20000}'..='\u{323AF}' // CJK Unified Ideographs Extensions B to H, Compatibility Supplement
    )
}

/// Whether Porter stemming applies: `rouge-score` stems tokens longer than 3 characters, and the Unicode
/// tokenizer only those that are plain ASCII letters and digits.
pub(crate) fn is_stemmable(token: &[u8]) -> bool {
    token.len() > 3 && is_ascii_word(token)
}

/// Whether every byte is one of `[a-z0-9]`: `rouge-score`'s test for a valid token.
pub(crate) fn is_ascii_word(token: &[u8]) -> bool {
    token.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rouge_tokens(text: &str) -> Vec<String> {
        let mut out = Tokens::default();
        rouge(text, usize::MAX, &mut out);
        out.iter().map(|t| String::from_utf8_lossy(t).into_owned()).collect()
    }

    fn unicode_tokens(text: &str) -> Vec<String> {
        let mut out = Tokens::default();
        unicode(text, usize::MAX, &mut out);
        out.iter().map(|t| String::from_utf8_lossy(t).into_owned()).collect()
    }

    #[test]
    fn rouge_matches_python_examples() {
        // Expected values from rouge_score.tokenize.tokenize(text, None).
        assert_eq!(
            rouge_tokens("İstanbul café naïve 東京 don't 1990s state-of-the-art KELVIN"),
            ["i", "stanbul", "caf", "na", "ve", "don", "t", "1990s", "state", "of", "the", "art", "kelvin"]
        );
        assert_eq!(rouge_tokens("5\u{212A} \u{212A}elvin"), ["5k", "kelvin"]);
        assert_eq!(rouge_tokens("xİy"), ["xi", "y"]);
        assert_eq!(rouge_tokens(""), Vec::<String>::new());
        assert_eq!(rouge_tokens(" \t\n\u{a0} "), Vec::<String>::new());
        assert_eq!(rouge_tokens("...Hello,World!!"), ["hello", "world"]);
    }

    #[test]
    fn tokenizers_stop_past_the_limit() {
        let text = "one two three four five";
        for split in [rouge, unicode] {
            let mut out = Tokens::default();
            split(text, 5, &mut out);
            assert_eq!(out.len(), 5);
            split(text, 2, &mut out);
            // One over the limit, then it stops.
            assert_eq!(out.iter().collect::<Vec<_>>(), [&b"one"[..], b"two", b"three"]);
            split(text, 0, &mut out);
            assert_eq!(out.len(), 1);
        }
    }

    #[test]
    fn only_two_non_ascii_characters_lower_to_ascii_alphanumerics() {
        // The byte-level tokenizer relies on this; it would catch a Unicode update that adds another.
        let found: Vec<char> = (0x80..=0x10FFFFu32)
            .filter_map(char::from_u32)
            .filter(|c| c.to_lowercase().any(|l| l.is_ascii_alphanumeric()))
            .collect();
        assert_eq!(found, ['\u{130}', '\u{212A}']);
        assert_eq!('\u{130}'.to_lowercase().collect::<String>(), "i\u{307}");
        assert_eq!('\u{212A}'.to_lowercase().collect::<String>(), "k");
    }

    #[test]
    fn unicode_words_and_cjk_characters() {
        assert_eq!(unicode_tokens("Café NAÏVE, don't!"), ["café", "naïve", "don't"]);
        assert_eq!(unicode_tokens("東京タワーへ行く"), ["東", "京", "タ", "ワ", "ー", "へ", "行", "く"]);
        assert_eq!(unicode_tokens("한국어 text 123"), ["한", "국", "어", "text", "123"]);
        assert_eq!(unicode_tokens("😀 -- ..."), Vec::<String>::new());
        assert_eq!(unicode_tokens("Straße ПРИВЕТ мир"), ["straße", "привет", "мир"]);
    }

    #[test]
    fn stemmable_tokens() {
        assert!(is_stemmable(b"running"));
        assert!(is_stemmable(b"1990s"));
        assert!(!is_stemmable(b"ran"));
        assert!(!is_stemmable("café".as_bytes()));
        assert!(!is_stemmable(b"don't"));
    }
}
