//! RFC 6901 JSON pointers: checking them at configure time, and selecting the text a `rouge_l` rule compares.
//!
//! `""` is the whole document; otherwise each `/`-separated token names an object member (`~1` stands for
//! `/` and `~0` for `~`) or an array index. An index is decimal without leading zeros (`0`, `17`, never
//! `01`); `-` (RFC 6901's "past the end") never exists, since scoring only reads. A token that steps into a
//! number, string, boolean or null finds nothing (`MissingField`), like an absent member.

use crate::json;
use crate::score::ScoreError;
use std::borrow::Cow;

/// Checks that a pointer is well formed: `""`, or `/` followed by tokens whose `~` is always `~0` or `~1`.
///
/// Called at configure time, so the message names what is wrong for the operator.
///
/// ```
/// use shadow_compare::pointer::validate;
/// assert!(validate("").is_ok());
/// assert!(validate("/choices/0/message/content").is_ok());
/// assert!(validate("/a~1b/m~0n").is_ok());
/// assert_eq!(validate("embedding").unwrap_err(), "must be empty or start with '/'");
/// assert!(validate("/a~2").unwrap_err().contains("'~'"));
/// ```
pub fn validate(pointer: &str) -> Result<(), String> {
    if pointer.is_empty() {
        return Ok(());
    }
    if !pointer.starts_with('/') {
        return Err("must be empty or start with '/'".to_string());
    }
    let mut bytes = pointer.bytes().enumerate();
    while let Some((at, b)) = bytes.next() {
        if b == b'~' && !matches!(bytes.next(), Some((_, b'0' | b'1'))) {
            return Err(format!(
                "'~' at byte {at} must be followed by '0' or '1' (write '~0' for '~' and '~1' for '/')"
            ));
        }
    }
    Ok(())
}

/// The text a `rouge_l` rule compares.
///
/// - Pointer `""` and a body that is a JSON string (`"..."`, surrounding whitespace allowed): its unescaped
///   content. A service that answers with a bare JSON string is compared by its text, not its quoting.
/// - Pointer `""` and any other body: the whole body as text, invalid UTF-8 replaced by U+FFFD, since plain
///   text responses are common and must still be scored.
/// - Any other pointer: the body must be JSON (`InvalidJson`), the value must exist (`MissingField`) and be a
///   string (`TypeMismatch`).
///
/// Unescaping borrows when it can, so the usual escape-free text is not copied.
///
/// ```
/// use shadow_compare::pointer::select_text;
/// let body = br#"{"choices":[{"message":{"content":"caf\u00e9 au lait"}}]}"#;
/// assert_eq!(select_text(body, "/choices/0/message/content").unwrap(), "café au lait");
/// assert_eq!(select_text(b"plain text", "").unwrap(), "plain text");
/// assert_eq!(select_text(br#" "a\nb" "#, "").unwrap(), "a\nb");
/// assert_eq!(select_text(br#"{"n":1}"#, "/n").unwrap_err().reason(), "type_mismatch");
/// ```
pub fn select_text<'a>(body: &'a [u8], pointer: &str) -> Result<Cow<'a, str>, ScoreError> {
    if pointer.is_empty() {
        return Ok(whole_body_string(body).unwrap_or_else(|| String::from_utf8_lossy(body)));
    }
    json::select(body, pointer, |sc, _depth| {
        if sc.peek() == Some(b'"') {
            Ok(sc.scan_string()?.to_text())
        } else {
            Err(ScoreError::TypeMismatch {
                pointer: pointer.to_string(),
                expected: "a string",
            })
        }
    })
}

/// The unescaped content when the whole body is exactly one JSON string.
fn whole_body_string(body: &[u8]) -> Option<Cow<'_, str>> {
    let mut sc = json::Scanner::new(body);
    sc.skip_ws();
    if sc.peek() != Some(b'"') {
        return None;
    }
    let text = sc.scan_string().ok()?.to_text();
    sc.expect_end().ok()?;
    Some(text)
}

/// Decodes one reference token (`~1` → `/`, `~0` → `~`), borrowing when it has no escapes.
pub(crate) fn unescape_token(token: &str) -> Cow<'_, str> {
    if !token.contains('~') {
        return Cow::Borrowed(token);
    }
    // One left-to-right pass, so `~01` is `~1` and not `/` (RFC 6901 section 4).
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                // Unreachable after `validate`; kept literal rather than guessed.
                Some(other) => {
                    out.push('~');
                    out.push(other);
                }
                None => out.push('~'),
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The array index a token names: `0` or a decimal without leading zeros that fits in usize.
pub(crate) fn array_index(token: &str) -> Option<usize> {
    let bytes = token.as_bytes();
    let well_formed = match bytes {
        [b'0'] => true,
        [b'1'..=b'9', rest @ ..] => rest.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    if well_formed {
        token.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_accepts_rfc_examples() {
        for p in ["", "/", "/foo", "/foo/0", "/a~1b", "/c%d", "/e^f", "/g|h", "/i\\j", "/k\"l", "/ ", "/m~0n", "//"] {
            assert_eq!(validate(p), Ok(()), "{p}");
        }
    }

    #[test]
    fn validate_rejects_malformed() {
        assert_eq!(validate("foo"), Err("must be empty or start with '/'".to_string()));
        assert_eq!(validate(" /foo"), Err("must be empty or start with '/'".to_string()));
        assert_eq!(
            validate("/a~"),
            Err("'~' at byte 2 must be followed by '0' or '1' (write '~0' for '~' and '~1' for '/')".to_string())
        );
        assert!(validate("/a~2").is_err());
        assert!(validate("/~~0").is_err());
        assert!(validate("/é~x").is_err());
    }

    #[test]
    fn tokens_unescape_left_to_right() {
        assert_eq!(unescape_token("a~1b"), "a/b");
        assert_eq!(unescape_token("m~0n"), "m~n");
        assert_eq!(unescape_token("~01"), "~1");
        assert_eq!(unescape_token("~10"), "/0");
        assert!(matches!(unescape_token("plain"), Cow::Borrowed("plain")));
    }

    #[test]
    fn array_indices() {
        assert_eq!(array_index("0"), Some(0));
        assert_eq!(array_index("17"), Some(17));
        for bad in ["", "-", "01", "00", "+1", "1a", " 1", "-1", "99999999999999999999999"] {
            assert_eq!(array_index(bad), None, "{bad}");
        }
    }

    #[test]
    fn select_text_by_pointer() {
        let body = br#"{"choices":[{"message":{"content":"Hello \"world\"\n\ud83d\ude00"}}],"id":7}"#;
        assert_eq!(
            select_text(body, "/choices/0/message/content").unwrap(),
            "Hello \"world\"\n😀"
        );
        let plain = br#"{"text":"no escapes"}"#;
        assert!(matches!(select_text(plain, "/text").unwrap(), Cow::Borrowed("no escapes")));
    }

    #[test]
    fn select_text_errors() {
        let body = br#"{"choices":[{"message":{"content":["a"]}}],"n":null}"#;
        assert_eq!(
            select_text(body, "/choices/0/message/content"),
            Err(ScoreError::TypeMismatch {
                pointer: "/choices/0/message/content".to_string(),
                expected: "a string"
            })
        );
        assert_eq!(select_text(body, "/n").unwrap_err().reason(), "type_mismatch");
        assert_eq!(
            select_text(body, "/choices/1/message/content"),
            Err(ScoreError::MissingField { pointer: "/choices/1/message/content".to_string() })
        );
        assert_eq!(select_text(b"not json", "/text").unwrap_err().reason(), "invalid_json");
        assert_eq!(select_text(br#"{"text":"a"#, "/text").unwrap_err().reason(), "invalid_json");
        assert_eq!(select_text(b"{\"text\":\"\xff\"}", "/text").unwrap_err().reason(), "invalid_json");
        // A string field followed by damage is still invalid.
        assert_eq!(select_text(br#"{"text":"a",}"#, "/text").unwrap_err().reason(), "invalid_json");
    }

    #[test]
    fn select_text_whole_body() {
        assert_eq!(select_text(b"just text", "").unwrap(), "just text");
        assert_eq!(select_text(br#"{"a":"b"}"#, "").unwrap(), r#"{"a":"b"}"#);
        assert_eq!(select_text(b"caf\xff", "").unwrap(), "caf\u{FFFD}");
        assert_eq!(select_text(br#""caf\u00e9""#, "").unwrap(), "café");
        assert_eq!(select_text(b"\n \"x\" \t", "").unwrap(), "x");
        // Not exactly one JSON string: taken as text.
        assert_eq!(select_text(br#""a" "b""#, "").unwrap(), r#""a" "b""#);
        assert_eq!(select_text(br#""unterminated"#, "").unwrap(), r#""unterminated"#);
        assert_eq!(select_text(b"", "").unwrap(), "");
    }
}
