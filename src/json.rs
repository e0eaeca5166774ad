//! A small JSON scanner that walks an RFC 6901 pointer through a raw body without building a tree.
//!
//! Scoring runs on every mirrored pair, and an embedding body is tens of kilobytes of numbers, so parsing
//! the whole document into a `serde_json::Value` costs more than the comparison itself. This scanner instead
//! validates the document in one pass, skipping (but checking) every value off the pointer's path, and hands
//! the scanner to a caller-supplied reader when it reaches the selected value: cosine reads the number array
//! in place, exact builds a small tree of just that value, rouge takes the string.
//!
//! The whole body is always validated, also after the selected value: a truncated or garbage body is
//! `InvalidJson` even when the selected field came before the damage, so a cut response is never scored.
//!
//! Rules shared by every kind:
//! - Strict RFC 8259 grammar: no comments, no trailing commas, no byte order mark, no leading zeros,
//!   no unescaped control characters in strings, UTF-8 only (checked inside strings; outside them only ASCII
//!   is valid anyway).
//! - At most [`MAX_DEPTH`] nested arrays/objects, so hostile input cannot exhaust the stack.
//! - A duplicated object key: the last one wins (as in `serde_json` and Python's `json`).
//! - A lone UTF-16 surrogate escape (`"\ud800"`) is valid grammar; text readers turn it into U+FFFD and exact
//!   compares it as itself.

mod number;

use crate::pointer;
use crate::score::ScoreError;
use number::{is_eight_digits, read_number};
use std::borrow::Cow;

/// The deepest nesting of arrays and objects accepted. Real model responses nest a handful of levels.
pub const MAX_DEPTH: usize = 128;

/// Returns the raw JSON text of the value at `pointer`, after validating the whole body.
///
/// This lets a caller hand one value of a larger document to a scorer as a body of its own, without
/// re-serialising it (the command line's `{"primary": ..., "shadow": ...}` input form does this).
///
/// ```
/// use shadow_compare::json::select_raw;
/// let doc = br#"{"primary": [1, 2.5, 3], "shadow": {"label": "cat"}}"#;
/// assert_eq!(select_raw(doc, "/primary").unwrap(), b"[1, 2.5, 3]");
/// assert_eq!(select_raw(doc, "/shadow").unwrap(), br#"{"label": "cat"}"#);
/// assert_eq!(select_raw(doc, "/missing").unwrap_err().reason(), "missing_field");
/// assert_eq!(select_raw(b"[1,", "").unwrap_err().reason(), "invalid_json");
/// ```
pub fn select_raw<'a>(body: &'a [u8], pointer: &str) -> Result<&'a [u8], ScoreError> {
    select(body, pointer, |sc, depth| {
        let start = sc.pos;
        sc.skip_value(depth)?;
        sc.bytes
            .get(start..sc.pos)
            .ok_or_else(|| sc.error("value out of bounds"))
    })
}

/// Validates `body` and runs `read` on the value at `pointer`.
///
/// `read` gets a scanner positioned at the selected value and its nesting depth. If it fails with anything
/// other than `InvalidJson` (say, a `TypeMismatch`), the value is skipped from its start, so that a damaged
/// body still reports `InvalidJson`, which takes precedence over every other error.
pub(crate) fn select<'a, T, F>(body: &'a [u8], pointer: &str, mut read: F) -> Result<T, ScoreError>
where
    F: FnMut(&mut Scanner<'a>, usize) -> Result<T, ScoreError>,
{
    let path = if pointer.is_empty() {
        None
    } else {
        // `validate` rejects malformed pointers at configure time; at run time nothing can be found at one.
        match pointer.strip_prefix('/') {
            Some(rest) if pointer::validate(pointer).is_ok() => Some(rest),
            _ => return Err(missing(pointer)),
        }
    };
    let mut sc = Scanner::new(body);
    let mut found = None;
    sc.skip_ws();
    sc.walk(path, 0, &mut read, &mut found)?;
    sc.expect_end()?;
    found.unwrap_or_else(|| Err(missing(pointer)))
}

fn missing(pointer: &str) -> ScoreError {
    ScoreError::MissingField {
        pointer: pointer.to_string(),
    }
}

/// A cursor over a JSON body. Copy, so a reader can be tried on a copy and the original rewound.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
}

/// A string's raw content between its quotes, escapes still in place; already checked to be valid UTF-8 and
/// valid escape syntax.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawStr<'a> {
    raw: &'a str,
    escaped: bool,
}

/// What to do with a `\uD800`-style escape that is not half of a surrogate pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LoneSurrogate {
    /// Replace with U+FFFD, for text that must be a Rust `str`.
    Replace,
    /// Keep as its own code point in generalised UTF-8 (WTF-8), so that different lone surrogates stay
    /// different and equal ones stay equal.
    Keep,
}

impl<'a> RawStr<'a> {
    /// The string's text; lone surrogates become U+FFFD. Borrowed when there is nothing to unescape.
    pub(crate) fn to_text(self) -> Cow<'a, str> {
        if !self.escaped {
            return Cow::Borrowed(self.raw);
        }
        let bytes = unescape(self.raw, LoneSurrogate::Replace);
        // With `Replace` the bytes are always UTF-8; the lossy fallback only keeps this free of panics.
        Cow::Owned(
            String::from_utf8(bytes)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        )
    }

    /// The string's code points as WTF-8 bytes: identical to UTF-8 unless the text has lone surrogates.
    pub(crate) fn to_code_points(self) -> Cow<'a, [u8]> {
        if self.escaped {
            Cow::Owned(unescape(self.raw, LoneSurrogate::Keep))
        } else {
            Cow::Borrowed(self.raw.as_bytes())
        }
    }

    /// Whether the unescaped string equals `text`, without allocating in the common unescaped case.
    pub(crate) fn equals(self, text: &str) -> bool {
        if self.escaped {
            *self.to_code_points() == *text.as_bytes()
        } else {
            self.raw == text
        }
    }
}

/// Decodes the escapes of a string already checked by [`Scanner::scan_string`].
fn unescape(raw: &str, lone: LoneSurrogate) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw.as_bytes();
    while let Some(at) = rest.iter().position(|&b| b == b'\\') {
        let Some((plain, escape)) = rest.split_at_checked(at) else {
            break;
        };
        out.extend_from_slice(plain);
        let (kind, after) = match escape.get(1..) {
            Some([kind, after @ ..]) => (*kind, after),
            _ => {
                rest = &[];
                break;
            }
        };
        rest = after;
        let simple = match kind {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            _ => {
                // `u`: the syntax check guarantees four hex digits.
                let Some(unit) = hex4(rest) else { break };
                rest = rest.get(4..).unwrap_or_default();
                let code = if (0xD800..0xDC00).contains(&unit) {
                    match rest {
                        [b'\\', b'u', tail @ ..] => match hex4(tail) {
                            Some(low @ 0xDC00..=0xDFFF) => {
                                rest = tail.get(4..).unwrap_or_default();
                                0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                            }
                            _ => unit,
                        },
                        _ => unit,
                    }
                } else {
                    unit
                };
                push_code_point(&mut out, code, lone);
                continue;
            }
        };
        out.push(simple);
    }
    out.extend_from_slice(rest);
    out
}

fn hex4(bytes: &[u8]) -> Option<u32> {
    let digits = bytes.get(..4)?;
    digits
        .iter()
        .try_fold(0u32, |acc, &b| Some(acc * 16 + (b as char).to_digit(16)?))
}

/// Appends a code point as (generalised) UTF-8; surrogates get the three-byte form WTF-8 gives them.
fn push_code_point(out: &mut Vec<u8>, code: u32, lone: LoneSurrogate) {
    if (0xD800..0xE000).contains(&code) && lone == LoneSurrogate::Replace {
        out.extend_from_slice("\u{FFFD}".as_bytes());
        return;
    }
    // Each `as u8` keeps the low bits on purpose: that is the UTF-8 bit layout.
    match code {
        0..=0x7F => out.push(code as u8),
        0x80..=0x7FF => out.extend_from_slice(&[0xC0 | (code >> 6) as u8, 0x80 | (code & 0x3F) as u8]),
        0x800..=0xFFFF => out.extend_from_slice(&[
            0xE0 | (code >> 12) as u8,
            0x80 | ((code >> 6) & 0x3F) as u8,
            0x80 | (code & 0x3F) as u8,
        ]),
        _ => out.extend_from_slice(&[
            0xF0 | (code >> 18) as u8,
            0x80 | ((code >> 12) & 0x3F) as u8,
            0x80 | ((code >> 6) & 0x3F) as u8,
            0x80 | (code & 0x3F) as u8,
        ]),
    }
}

/// Length of the JSON number at the start of `s` (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`), or None.
/// A leading zero followed by a digit is None here rather than an error at the next byte, as in read_f64_array.
fn number_len(s: &[u8]) -> Option<usize> {
    let sign = usize::from(s.first() == Some(&b'-'));
    let unsigned = s.get(sign..)?;
    let mut len = sign
        + match unsigned {
            [b'0', b'0'..=b'9', ..] => return None,
            [b'0', ..] => 1,
            [b'1'..=b'9', ..] => count_digits(unsigned),
            _ => return None,
        };
    if s.get(len) == Some(&b'.') {
        let fraction = count_digits(s.get(len + 1..)?);
        if fraction == 0 {
            return None;
        }
        len += 1 + fraction;
    }
    if let Some(b'e' | b'E') = s.get(len) {
        len += 1;
        if let Some(b'+' | b'-') = s.get(len) {
            len += 1;
        }
        let exponent = count_digits(s.get(len..)?);
        if exponent == 0 {
            return None;
        }
        len += exponent;
    }
    Some(len)
}

fn count_digits(s: &[u8]) -> usize {
    let mut rest = s;
    while let Some(block) = rest.first_chunk::<8>() {
        if !is_eight_digits(u64::from_le_bytes(*block)) {
            break;
        }
        rest = rest.get(8..).unwrap_or_default();
    }
    s.len() - rest.len() + rest.iter().take_while(|b| b.is_ascii_digit()).count()
}

fn skip_ws(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t' | b'\n' | b'\r', rest @ ..] = s {
        s = rest;
    }
    s
}

impl<'a> Scanner<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Scanner { bytes, pos: 0 }
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// An `InvalidJson` error that says where.
    pub(crate) fn error(&self, what: &str) -> ScoreError {
        let what = match self.peek() {
            None if what != "unexpected end of input" => format!("{what} (unexpected end of input)"),
            _ => what.to_string(),
        };
        ScoreError::InvalidJson {
            detail: format!("{what} at byte {}", self.pos),
        }
    }

    pub(crate) fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Checks that only whitespace is left.
    pub(crate) fn expect_end(&mut self) -> Result<(), ScoreError> {
        self.skip_ws();
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.error("unexpected data after the JSON value")),
        }
    }

    /// Consumes the `{` or `[` that opens a container `depth` levels deep.
    pub(crate) fn enter(&mut self, depth: usize) -> Result<(), ScoreError> {
        if depth >= MAX_DEPTH {
            return Err(self.error("nesting deeper than 128 levels"));
        }
        self.pos += 1;
        Ok(())
    }

    /// Moves to the next array element after [`Scanner::enter`]: true when one follows (the scanner is at
    /// it), false when the closing `]` has been consumed.
    pub(crate) fn array_next(&mut self, first: &mut bool) -> Result<bool, ScoreError> {
        self.skip_ws();
        let is_first = std::mem::replace(first, false);
        match self.peek() {
            Some(b']') => {
                // `[1,]` is caught by the element parser, which finds `]` where a value must be.
                self.pos += 1;
                Ok(false)
            }
            _ if is_first => Ok(true),
            Some(b',') => {
                self.pos += 1;
                self.skip_ws();
                Ok(true)
            }
            _ => Err(self.error("expected ',' or ']'")),
        }
    }

    /// Moves to the next object member after [`Scanner::enter`]: its key, with the scanner at its value, or
    /// None when the closing `}` has been consumed.
    pub(crate) fn object_next(&mut self, first: &mut bool) -> Result<Option<RawStr<'a>>, ScoreError> {
        self.skip_ws();
        let is_first = std::mem::replace(first, false);
        match self.peek() {
            // `{"a":1,}` is caught below, which finds `}` where a key must be.
            Some(b'}') => {
                self.pos += 1;
                return Ok(None);
            }
            _ if is_first => {}
            Some(b',') => {
                self.pos += 1;
                self.skip_ws();
            }
            _ => return Err(self.error("expected ',' or '}'")),
        }
        if self.peek() != Some(b'"') {
            return Err(self.error("expected a string key"));
        }
        let key = self.scan_string()?;
        self.skip_ws();
        if self.peek() != Some(b':') {
            return Err(self.error("expected ':'"));
        }
        self.pos += 1;
        self.skip_ws();
        Ok(Some(key))
    }

    /// Scans the string that starts at the scanner (which must be at its `"`), checking escapes and UTF-8.
    pub(crate) fn scan_string(&mut self) -> Result<RawStr<'a>, ScoreError> {
        self.pos += 1;
        let start = self.pos;
        let mut escaped = false;
        loop {
            match self.peek() {
                Some(b'"') => break,
                Some(b'\\') => {
                    escaped = true;
                    self.pos += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.pos += 1,
                        Some(b'u') => {
                            self.pos += 1;
                            let rest = self.bytes.get(self.pos..).unwrap_or_default();
                            if hex4(rest).is_none() {
                                return Err(self.error("invalid \\u escape"));
                            }
                            self.pos += 4;
                        }
                        _ => return Err(self.error("invalid escape")),
                    }
                }
                Some(0..=0x1F) => return Err(self.error("control character in string")),
                Some(_) => self.pos += 1,
                None => return Err(self.error("unterminated string")),
            }
        }
        let content = self.bytes.get(start..self.pos).unwrap_or_default();
        let raw = std::str::from_utf8(content).map_err(|e| ScoreError::InvalidJson {
            detail: format!("invalid UTF-8 in string at byte {}", start + e.valid_up_to()),
        })?;
        self.pos += 1;
        Ok(RawStr { raw, escaped })
    }

    /// Scans a number (the scanner is at its first byte) and returns its text, checked against the JSON
    /// grammar, which is stricter than Rust's or fast-float's (no `+1`, `.5`, `1.`, `inf`, `01`).
    pub(crate) fn scan_number(&mut self) -> Result<&'a [u8], ScoreError> {
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        let text = number_len(rest)
            .and_then(|len| rest.get(..len))
            .ok_or_else(|| self.error("invalid number"))?;
        self.pos += text.len();
        Ok(text)
    }

    /// Reads the value at the scanner as a valid JSON array of numbers; None when it is anything else,
    /// damaged or not (the scanner is then left mid-value, and the caller re-scans it with
    /// [`Scanner::skip_value`] to tell a type mismatch from invalid JSON and to say where).
    ///
    /// Each number is the nearest f64 (correctly rounded, like Python's `float()`); a literal beyond the f64
    /// range gives an infinity, which callers decide about. See [`number`] for how.
    ///
    /// Embedding bodies are almost entirely this array, so it is one tight loop over a local slice; the
    /// result is allocated once, sized from the text.
    pub(crate) fn read_f64_array(&mut self, depth: usize) -> Result<Option<Vec<f64>>, ScoreError> {
        if self.peek() != Some(b'[') {
            return Ok(None);
        }
        self.enter(depth)?;
        let mut rest = skip_ws(self.bytes.get(self.pos..).unwrap_or_default());
        // Python writes a random float and its separator in about 20 bytes; the bound keeps a huge body with a
        // short array from reserving much.
        let mut out = Vec::with_capacity((rest.len() / 16).min(1 << 16));
        if let [b']', tail @ ..] = rest {
            rest = tail;
        } else {
            loop {
                let Some((value, tail)) = read_number(rest) else {
                    // Whitespace before a number is skipped only here, off the path of `, ` (what Python writes).
                    let trimmed = skip_ws(rest);
                    if trimmed.len() == rest.len() {
                        return Ok(None);
                    }
                    rest = trimmed;
                    continue;
                };
                out.push(value);
                rest = match tail.split_first_chunk::<2>() {
                    Some((b", ", next)) => next,
                    _ => match skip_ws(tail) {
                        [b',', next @ ..] => next,
                        [b']', next @ ..] => {
                            rest = next;
                            break;
                        }
                        _ => return Ok(None),
                    },
                };
            }
        }
        self.pos = self.bytes.len() - rest.len();
        Ok(Some(out))
    }

    fn scan_literal(&mut self, word: &[u8]) -> Result<(), ScoreError> {
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        if rest.starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.error("invalid literal"))
        }
    }

    /// Reads `true`, `false` or `null` (the scanner is at its first byte).
    pub(crate) fn read_literal(&mut self) -> Result<Option<bool>, ScoreError> {
        match self.peek() {
            Some(b't') => self.scan_literal(b"true").map(|()| Some(true)),
            Some(b'f') => self.scan_literal(b"false").map(|()| Some(false)),
            _ => self.scan_literal(b"null").map(|()| None),
        }
    }

    /// Checks and steps over one value; `depth` is the number of containers around it.
    pub(crate) fn skip_value(&mut self, depth: usize) -> Result<(), ScoreError> {
        match self.peek() {
            Some(b'{') => {
                self.enter(depth)?;
                let mut first = true;
                while self.object_next(&mut first)?.is_some() {
                    self.skip_value(depth + 1)?;
                }
                Ok(())
            }
            Some(b'[') => {
                self.enter(depth)?;
                let mut first = true;
                while self.array_next(&mut first)? {
                    self.skip_value(depth + 1)?;
                }
                Ok(())
            }
            Some(b'"') => self.scan_string().map(|_| ()),
            Some(b'-' | b'0'..=b'9') => self.scan_number().map(|_| ()),
            Some(b't' | b'f' | b'n') => self.read_literal().map(|_| ()),
            None => Err(self.error("unexpected end of input")),
            Some(_) => Err(self.error("expected a value")),
        }
    }

    /// Walks the remaining pointer `path` (None: this value is the target) through the value at the
    /// scanner, validating everything it passes. Returns only `InvalidJson`; the target's outcome, if the
    /// path exists, goes to `found`.
    fn walk<T, F>(
        &mut self,
        path: Option<&str>,
        depth: usize,
        read: &mut F,
        found: &mut Option<Result<T, ScoreError>>,
    ) -> Result<(), ScoreError>
    where
        F: FnMut(&mut Scanner<'a>, usize) -> Result<T, ScoreError>,
    {
        let Some(path) = path else {
            let mut probe = *self;
            match read(&mut probe, depth) {
                Ok(value) => {
                    *self = probe;
                    *found = Some(Ok(value));
                }
                Err(e @ ScoreError::InvalidJson { .. }) => return Err(e),
                Err(e) => {
                    self.skip_value(depth)?;
                    *found = Some(Err(e));
                }
            }
            return Ok(());
        };
        let (token, rest) = match path.split_once('/') {
            Some((token, rest)) => (token, Some(rest)),
            None => (path, None),
        };
        match self.peek() {
            Some(b'{') => {
                self.enter(depth)?;
                let key = pointer::unescape_token(token);
                let mut first = true;
                while let Some(name) = self.object_next(&mut first)? {
                    if name.equals(&key) {
                        // A later duplicate replaces the earlier member entirely, found or not.
                        *found = None;
                        self.walk(rest, depth + 1, read, found)?;
                    } else {
                        self.skip_value(depth + 1)?;
                    }
                }
                Ok(())
            }
            Some(b'[') => {
                self.enter(depth)?;
                let index = pointer::array_index(token);
                let mut first = true;
                let mut i = 0usize;
                while self.array_next(&mut first)? {
                    if index == Some(i) {
                        self.walk(rest, depth + 1, read, found)?;
                    } else {
                        self.skip_value(depth + 1)?;
                    }
                    i += 1;
                }
                Ok(())
            }
            // A scalar has no members: the path ends here, and the field is missing.
            _ => self.skip_value(depth),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(body: &str, pointer: &str) -> Result<String, ScoreError> {
        select_raw(body.as_bytes(), pointer).map(|b| String::from_utf8(b.to_vec()).unwrap())
    }

    /// The number `text` as read_f64_array reads it, if it is exactly one JSON number.
    fn read_one(text: &str) -> Option<f64> {
        let body = format!("[{text}]");
        let mut sc = Scanner::new(body.as_bytes());
        match sc.read_f64_array(0) {
            Ok(Some(v)) if v.len() == 1 && sc.expect_end().is_ok() => v.first().copied(),
            _ => None,
        }
    }

    #[test]
    fn number_arrays() {
        let read = |text: &str| {
            let mut sc = Scanner::new(text.as_bytes());
            sc.read_f64_array(0).map(|v| (v, sc.pos))
        };
        assert_eq!(read("[]").unwrap(), (Some(vec![]), 2));
        assert_eq!(read("[ ]").unwrap(), (Some(vec![]), 3));
        assert_eq!(read("[1, -2.5,3e2 ,\n\t4]x").unwrap(), (Some(vec![1.0, -2.5, 300.0, 4.0]), 18));
        assert_eq!(read("[1,  2, \n3,\t4 , 5]").unwrap().0, Some(vec![1.0, 2.0, 3.0, 4.0, 5.0]));
        assert_eq!(read("[0.5, -0.25, 0.0, -0.0, 10.5, 0e1]").unwrap().0, Some(vec![0.5, -0.25, 0.0, -0.0, 10.5, 0.0]));
        assert_eq!(read(r#"[1, "2"]"#).unwrap().0, None);
        assert_eq!(read("[1, [2]]").unwrap().0, None);
        assert_eq!(read(r#"{"a":1}"#).unwrap().0, None);
        assert_eq!(read("3").unwrap().0, None);
        // Damage is only "not an array of numbers" to the reader; select re-scans to find and place it.
        let damaged = [
            "[1 2]", "[1", "[01]", "[1.]", "[1e]", "[1;2]", "[1,", "[", "[-]", "[1,]", "[+1]", "[.5]", "[nan]",
        ];
        for bad in damaged {
            assert_eq!(read(bad).unwrap().0, None, "{bad}");
            assert_eq!(select_raw(bad.as_bytes(), "").unwrap_err().reason(), "invalid_json", "{bad}");
        }
        let mut sc = Scanner::new(b"[1]");
        assert_eq!(sc.read_f64_array(MAX_DEPTH).unwrap_err().reason(), "invalid_json");
    }

    fn reason(body: &[u8]) -> &'static str {
        match select_raw(body, "") {
            Ok(_) => "ok",
            Err(e) => e.reason(),
        }
    }

    #[test]
    fn selects_nested_members_and_indices() {
        let body = r#"{"choices":[{"message":{"content":"hi"}},{"message":{"content":"yo"}}],"n":2}"#;
        assert_eq!(raw(body, "/choices/1/message/content").unwrap(), r#""yo""#);
        assert_eq!(raw(body, "/choices/0/message").unwrap(), r#"{"content":"hi"}"#);
        assert_eq!(raw(body, "/n").unwrap(), "2");
        assert_eq!(raw(body, "").unwrap(), body);
        assert_eq!(raw(" [1,2,3] \n", "").unwrap(), "[1,2,3]");
    }

    #[test]
    fn cli_input_form() {
        // `{"primary": <value>, "shadow": <value>}`: each value's own text is a body for any scorer.
        let doc = br#"{"primary": [1, 2, 3], "shadow": [1.0, 2e0, 3],
            "texts": {"primary": "caf\u00e9 au lait", "shadow": "the cat"},
            "labels": {"primary": {"label": "cat", "p": 0.9}, "shadow": {"p": 0.90, "label": "cat"}}}"#;
        let value = |p| select_raw(doc, p).unwrap();
        assert_eq!(value("/primary"), b"[1, 2, 3]");
        assert_eq!(crate::cosine::score_bodies(value("/primary"), value("/shadow"), "").unwrap(), 1.0);
        assert_eq!(crate::pointer::select_text(value("/texts/primary"), "").unwrap(), "café au lait");
        assert_eq!(crate::pointer::select_text(value("/texts/shadow"), "").unwrap(), "the cat");
        let (a, b) = (value("/labels/primary"), value("/labels/shadow"));
        assert_eq!(crate::exact::score_bodies(a, b, "").unwrap(), 1.0);
        assert_eq!(crate::exact::score_bodies(a, b, "/label").unwrap(), 1.0);
    }

    #[test]
    fn missing_paths() {
        let body = r#"{"a":[10,20],"b":{"c":null}}"#;
        for p in ["/x", "/a/2", "/a/-", "/a/01", "/a/x", "/b/c/d", "/a/0/z", "/a/99999999999999999999999"] {
            assert_eq!(
                raw(body, p),
                Err(ScoreError::MissingField { pointer: p.to_string() }),
                "{p}"
            );
        }
        assert_eq!(raw(body, "/b/c").unwrap(), "null");
        // Malformed pointers find nothing.
        assert_eq!(raw(body, "a").unwrap_err().reason(), "missing_field");
        assert_eq!(raw(body, "/a~2").unwrap_err().reason(), "missing_field");
    }

    #[test]
    fn escaped_tokens_and_keys() {
        let body = r#"{"a/b":1,"m~n":2,"":3,"\u00e9":4,"x\"y":5}"#;
        assert_eq!(raw(body, "/a~1b").unwrap(), "1");
        assert_eq!(raw(body, "/m~0n").unwrap(), "2");
        assert_eq!(raw(body, "/").unwrap(), "3");
        assert_eq!(raw(body, "/é").unwrap(), "4");
        assert_eq!(raw(body, "/x\"y").unwrap(), "5");
    }

    #[test]
    fn duplicate_keys_last_wins() {
        assert_eq!(raw(r#"{"a":1,"a":2}"#, "/a").unwrap(), "2");
        assert_eq!(raw(r#"{"a":{"b":1},"a":{}}"#, "/a/b").unwrap_err().reason(), "missing_field");
        assert_eq!(raw(r#"{"a":{},"a":{"b":1}}"#, "/a/b").unwrap(), "1");
    }

    #[test]
    fn whole_document_is_validated() {
        // The field comes before the damage; the body is still rejected.
        assert_eq!(raw(r#"{"a":1,"b":[1,2"#, "/a").unwrap_err().reason(), "invalid_json");
        assert_eq!(raw(r#"{"a":1} x"#, "/a").unwrap_err().reason(), "invalid_json");
        assert_eq!(raw(r#"{"a":1,"b":tru}"#, "/a").unwrap_err().reason(), "invalid_json");
    }

    #[test]
    fn grammar() {
        for ok in [
            "0", "-0", "1.5e+3", "-12.0E-04", "1e400", "\"\"", "\"\\u00e9\\ud83d\\ude00\\n\\/\"", "[]", "{}",
            " [ 1 , { \"a\" : [ true , false , null ] } ] ", "\"\\ud800\"", "\"é\"",
        ] {
            assert_eq!(reason(ok.as_bytes()), "ok", "{ok}");
        }
        for bad in [
            "", " ", "01", "-", "1.", ".5", "+1", "1e", "1e+", "0x10", "NaN", "Infinity", "[1,]", "[,1]",
            "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "[1 2]", "tru", "nul", "\"abc", "\"\\x\"", "\"\\u12\"",
            "\"a\tb\"", "[1]]", "{}{}", "\u{feff}{}", "// c\n1", "'a'", "[1,2", "{\"a\":",
        ] {
            assert_eq!(reason(bad.as_bytes()), "invalid_json", "{bad:?}");
        }
        assert_eq!(reason(b"\"\xff\""), "invalid_json");
        assert_eq!(reason(b"[\"\xc3\"]"), "invalid_json");
        assert_eq!(reason(b"\xff"), "invalid_json");
    }

    #[test]
    fn depth_is_bounded() {
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(reason(ok.as_bytes()), "ok");
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(reason(deep.as_bytes()), "invalid_json");
        let hostile = "[".repeat(1_000_000);
        assert_eq!(reason(hostile.as_bytes()), "invalid_json");
        let objects = "{\"a\":".repeat(1_000_000);
        assert_eq!(reason(objects.as_bytes()), "invalid_json");
    }

    #[test]
    fn error_detail_says_where() {
        let err = select_raw(b"[1, x]", "").unwrap_err();
        assert_eq!(
            err,
            ScoreError::InvalidJson { detail: "expected a value at byte 4".to_string() }
        );
    }

    #[test]
    fn unescaping() {
        let mut sc = Scanner::new(br#""a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00z""#);
        let s = sc.scan_string().unwrap();
        assert_eq!(s.to_text(), "a\"\\/\u{8}\u{c}\n\r\té😀z");
        let mut sc = Scanner::new(br#""\ud800x\udc00""#);
        let s = sc.scan_string().unwrap();
        assert_eq!(s.to_text(), "\u{FFFD}x\u{FFFD}");
        assert_eq!(&*s.to_code_points(), b"\xed\xa0\x80x\xed\xb0\x80");
        let mut sc = Scanner::new(br#""plain""#);
        assert!(matches!(sc.scan_string().unwrap().to_text(), Cow::Borrowed("plain")));
    }

    #[test]
    fn numbers_parse_correctly_rounded() {
        for (text, want) in [
            ("0.1", 0.1),
            ("-0.98765", -0.98765),
            ("1e-300", 1e-300),
            ("2.2250738585072014e-308", 2.2250738585072014e-308),
            ("5e-324", 5e-324),
            ("17", 17.0),
            ("0.30000000000000004", 0.30000000000000004),
        ] {
            assert_eq!(read_one(text), Some(want), "{text}");
        }
        assert_eq!(read_one("1e400"), Some(f64::INFINITY));
        assert_eq!(read_one("-1e400"), Some(f64::NEG_INFINITY));
    }

    #[test]
    fn fast_reader_and_grammar_agree() {
        // read_f64_array trusts fast-float's scan plus a few checks; it must accept exactly what number_len does.
        for text in [
            "0", "-0", "7", "-12", "0.5", "-0.0017959652293435483", "1e5", "1E+5", "1.5e-3", "10", "100.001",
            "+1", ".5", "-.5", "1.", "1.e5", "01", "-01", "00", "-", "--1", "-inf", "inf", "nan", "NaN",
            "Infinity", "-Infinity", "1e", "1e+", "e5", "0x1", "1.5.3", "1e5e3", "1,", "1]", "- 1",
        ] {
            let grammar = number_len(text.as_bytes()) == Some(text.len());
            assert_eq!(read_one(text).is_some(), grammar, "{text}");
        }
    }
}
