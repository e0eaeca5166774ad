//! RFC 6901 JSON pointer selection over raw bodies. (stub: in progress)
use crate::score::ScoreError;
use std::borrow::Cow;

/// Checks that a pointer is well formed (`""` or starting with '/', escapes `~0` `~1` only).
pub fn validate(pointer: &str) -> Result<(), String> {
    if pointer.is_empty() || pointer.starts_with('/') {
        Ok(())
    } else {
        Err("must be empty or start with '/'".to_string())
    }
}

/// The text a `rouge_l` rule compares.
pub fn select_text<'a>(body: &'a [u8], _pointer: &str) -> Result<Cow<'a, str>, ScoreError> {
    Ok(String::from_utf8_lossy(body))
}
