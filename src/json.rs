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

use crate::pointer;
use crate::score::ScoreError;
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

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn skip_ws(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t' | b'\n' | b'\r', rest @ ..] = s {
        s = rest;
    }
    s
}

/// Exact f64 powers of ten: 10^22 is the largest one an f64 holds exactly.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
    1e19, 1e20, 1e21, 1e22,
];

/// For k in 1..=22: ceil(2^(127 + b) / 5^k), b being the bit length of 5^k ([`FIVE_BITS`]), i.e. 5^-k
/// scaled into [2^127, 2^128) and rounded up. Entry 0 is unused. The tests recompute it by long division.
const RECIPROCALS_OF_FIVE: [u128; 23] = [
    0,
    0xcccccccccccccccccccccccccccccccd,
    0xa3d70a3d70a3d70a3d70a3d70a3d70a4,
    0x83126e978d4fdf3b645a1cac083126ea,
    0xd1b71758e219652bd3c36113404ea4a9,
    0xa7c5ac471b4784230fcf80dc33721d54,
    0x8637bd05af6c69b5a63f9a49c2c1b110,
    0xd6bf94d5e57a42bc3d32907604691b4d,
    0xabcc77118461cefcfdc20d2b36ba7c3e,
    0x89705f4136b4a59731680a88f8953031,
    0xdbe6fecebdedd5beb573440e5a884d1c,
    0xafebff0bcb24aafef78f69a51539d749,
    0x8cbccc096f5088cbf93f87b7442e45d4,
    0xe12e13424bb40e132865a5f206b06fba,
    0xb424dc35095cd80f538484c19ef38c95,
    0x901d7cf73ab0acd90f9d37014bf60a11,
    0xe69594bec44de15b4c2ebe687989a9b4,
    0xb877aa3236a4b44909befeb9fad487c3,
    0x9392ee8e921d5d073aff322e62439fd0,
    0xec1e4a7db69561a52b31e9e3d06c32e6,
    0xbce5086492111aea88f4bb1ca6bcf585,
    0x971da05074da7beed3f6fc16ebca5e04,
    0xf1c90080baf72cb15324c68b12dd6339,
];

/// The bit length of 5^k for k in 0..=22 (checked in the tests).
const FIVE_BITS: [u32; 23] = [1, 3, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28, 31, 33, 35, 38, 40, 42, 45, 47, 49, 52];

/// Reads a plain decimal, `-?(0|[1-9][0-9]*)\.[0-9]+` with at most 19 significant and 22 fraction digits,
/// as the nearest f64 (ties to even); None for any other number, which then takes the general path.
///
/// Nearly every embedding value has this shape, and this reads it faster than fast-float's general code
/// (one scan, no second pass for leading zeros, and a multiplication where fast-float would divide), which
/// is what keeps a 1,536-dimension pair within its time budget. The digits give an integer w < 10^19 and
/// the value is w / 10^k exactly, rounded once:
/// - w ≤ 2^53: w and 10^k are exact f64s, so one IEEE division rounds correctly (Clinger's fast path);
/// - otherwise [`nearest_quotient`], or None when it cannot decide (then fast-float does).
///
/// The tests compare this bit for bit with fast-float on random and edge-case decimals.
#[inline]
fn read_plain_decimal(s: &[u8]) -> Option<(f64, usize)> {
    let (negative, unsigned) = match s {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    let mut w: u64;
    let mut rest: &[u8];
    let mut significant: usize;
    match unsigned {
        [b'0', b'0'..=b'9', ..] => return None,
        [b'0', tail @ ..] => {
            w = 0;
            rest = tail;
            significant = 0;
        }
        [first @ b'1'..=b'9', tail @ ..] => {
            w = digit_value(*first);
            rest = tail;
            while let [d @ b'0'..=b'9', tail @ ..] = rest {
                w = w.wrapping_mul(10).wrapping_add(digit_value(*d));
                rest = tail;
            }
            significant = unsigned.len() - rest.len();
        }
        _ => return None,
    }
    let [b'.', fraction @ ..] = rest else {
        return None;
    };
    rest = fraction;
    if w == 0 {
        // Zeros right after "0." are not significant.
        while let [b'0', tail @ ..] = rest {
            rest = tail;
        }
    }
    let significant_start = rest.len();
    // Up to two blocks of eight digits at once (Python writes 16 or 17 significant digits), then one by one.
    for _ in 0..2 {
        match rest.first_chunk::<8>().map(|chunk| u64::from_le_bytes(*chunk)) {
            Some(block) if is_eight_digits(block) => {
                w = w.wrapping_mul(100_000_000).wrapping_add(eight_digits_value(block));
                rest = rest.get(8..).unwrap_or_default();
            }
            _ => break,
        }
    }
    while let [d @ b'0'..=b'9', tail @ ..] = rest {
        w = w.wrapping_mul(10).wrapping_add(digit_value(*d));
        rest = tail;
    }
    let fraction_digits = fraction.len() - rest.len();
    significant += significant_start - rest.len();
    // At most 19 significant digits: w < 10^19 never wrapped.
    if fraction_digits == 0 || fraction_digits > 22 || significant > 19 || matches!(rest, [b'e' | b'E', ..]) {
        return None;
    }
    let magnitude = if w == 0 {
        0.0
    } else if w <= 1 << 53 {
        // The cast is exact below 2^53.
        w as f64 / POW10.get(fraction_digits)?
    } else {
        nearest_quotient(w, fraction_digits)?
    };
    Some((if negative { -magnitude } else { magnitude }, s.len() - rest.len()))
}

/// The f64 nearest to w / 10^k, for 2^53 < w < 2^64 and k in 1..=22; None when it cannot tell.
///
/// w / 10^k = w · 5^-k · 2^-k. With w shifted to 64 significant bits and 5^-k as a 128-bit reciprocal rounded
/// up ([`RECIPROCALS_OF_FIVE`]), the 192-bit product P exceeds the exact product by less than 2^64, so the
/// exact one's bits from 64 up are P's or P's less one unit at bit 64. When P has a set bit between bit 66
/// and the rounding bit, that unit cannot reach the 54 bits kept (53 and the rounding bit), and the bits
/// below are non-zero either way: the value is not a tie, and the rounding bit alone decides. Otherwise (in
/// practice only when w / 10^k is exactly a double or a midpoint) it returns None.
#[inline]
fn nearest_quotient(w: u64, k: usize) -> Option<f64> {
    let reciprocal = *RECIPROCALS_OF_FIVE.get(k).filter(|_| k >= 1)?;
    let five_bits = *FIVE_BITS.get(k)?;
    let shift = w.leading_zeros();
    let normal = u128::from(w << shift);
    // P >> 64, from the two 64 x 64 bit halves; it is below 2^128, so the sum cannot overflow.
    let low = normal * u128::from(reciprocal as u64);
    let top = normal * (reciprocal >> 64) + (low >> 64);
    // top has its leading bit at 126 or 127; keep 54 bits.
    let dropped = 73 + (top >> 127) as u32;
    let kept = (top >> dropped) as u64;
    if top & ((1u128 << dropped) - 1) & !3 == 0 {
        return None;
    }
    let mut mantissa = (kept >> 1) + (kept & 1);
    // value = mantissa · 2^exponent: P · 2^-(127 + b + shift + k), P ≈ kept · 2^(dropped + 64).
    let mut exponent = i64::from(dropped) + 65 - 127 - i64::from(five_bits) - i64::from(shift) - k as i64;
    if mantissa == 1 << 53 {
        mantissa = 1 << 52;
        exponent += 1;
    }
    let biased = u64::try_from(exponent + 52 + 1023).ok().filter(|&b| (1..0x7ff).contains(&b))?;
    Some(f64::from_bits((biased << 52) | (mantissa & ((1 << 52) - 1))))
}

fn digit_value(d: u8) -> u64 {
    u64::from(d.wrapping_sub(b'0'))
}

/// Whether all eight bytes (read little-endian) are ASCII digits.
fn is_eight_digits(block: u64) -> bool {
    let above = block.wrapping_add(0x4646_4646_4646_4646);
    let below = block.wrapping_sub(0x3030_3030_3030_3030);
    (above | below) & 0x8080_8080_8080_8080 == 0
}

/// The value of eight ASCII digits read little-endian (first digit most significant), in three
/// multiplications: pairs, then quads, then the whole.
fn eight_digits_value(block: u64) -> u64 {
    const MASK: u64 = 0x0000_00FF_0000_00FF;
    const MUL1: u64 = 0x000F_4240_0000_0064; // 100 + (1_000_000 << 32)
    const MUL2: u64 = 0x0000_2710_0000_0001; // 1 + (10_000 << 32)
    let digits = block.wrapping_sub(0x3030_3030_3030_3030);
    let pairs = digits.wrapping_mul(10).wrapping_add(digits >> 8);
    let quads = (pairs & MASK).wrapping_mul(MUL1).wrapping_add(((pairs >> 16) & MASK).wrapping_mul(MUL2));
    (quads >> 32) & 0xFFFF_FFFF
}

/// Whether `num`, a number fast-float accepted, is also a JSON number. fast-float's grammar is
/// `[+-]?digits*(.digits*)?([eE][+-]?digits+)?` with at least one digit, or `inf`/`nan`; JSON adds: no `+`,
/// a digit first, no leading zero, and a digit after the point.
fn is_json_number(num: &[u8]) -> bool {
    let unsigned = match num {
        [b'-', rest @ ..] => rest,
        _ => num,
    };
    match unsigned {
        // Most embedding values: decided from three bytes.
        [b'0', b'.', d, ..] => d.is_ascii_digit(),
        [b'0', b'0'..=b'9', ..] => false,
        [b'0'..=b'9', ..] => match unsigned.iter().position(|&b| b == b'.') {
            Some(dot) => unsigned.get(dot + 1).is_some_and(u8::is_ascii_digit),
            None => true,
        },
        _ => false,
    }
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
    /// range gives an infinity, which callers decide about. Plain decimals take [`read_plain_decimal`]; any
    /// other number is read by fast-float, which reads the longest number it can, and the few places where its
    /// grammar is looser than JSON's (`+1`, `.5`, `1.`, `01`, `-inf`, `nan`) are checked on what it consumed.
    /// Either way each number is passed over once.
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
                let (value, tail) = match read_plain_decimal(rest) {
                    Some((value, len)) => (value, rest.get(len..).unwrap_or_default()),
                    None => {
                        let Ok((value, len)) = fast_float2::parse_partial::<f64, _>(rest) else {
                            return Ok(None);
                        };
                        match rest.split_at_checked(len) {
                            Some((number, tail)) if is_json_number(number) => (value, tail),
                            _ => return Ok(None),
                        }
                    }
                };
                out.push(value);
                rest = match tail {
                    // Python's separator, then a number: no whitespace loop.
                    [b',', b' ', next @ ..] if !next.first().is_some_and(|&b| is_ws(b)) => next,
                    _ => match skip_ws(tail) {
                        [b',', tail @ ..] => skip_ws(tail),
                        [b']', tail @ ..] => {
                            rest = tail;
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
    fn reciprocals_of_five() {
        for k in 1..23usize {
            let five = 5u128.pow(k as u32);
            let bits = 128 - five.leading_zeros();
            assert_eq!(FIVE_BITS[k], bits, "{k}");
            // ceil(2^(127 + bits) / 5^k) by binary long division; 5^k < 2^53, so the remainder fits.
            let top = 127 + bits;
            let (mut quotient, mut remainder) = (0u128, 0u128);
            for bit in (0..=top).rev() {
                remainder = remainder * 2 + u128::from(bit == top);
                quotient = quotient.wrapping_mul(2);
                if remainder >= five {
                    remainder -= five;
                    quotient |= 1;
                }
            }
            let ceil = quotient + u128::from(remainder != 0);
            assert_eq!(RECIPROCALS_OF_FIVE[k], ceil, "{k}");
            assert!(ceil >> 127 == 1, "{k}");
        }
        assert_eq!(FIVE_BITS[0], 1);
    }

    #[test]
    fn eight_digit_blocks() {
        let block = |text: &[u8; 8]| u64::from_le_bytes(*text);
        assert!(is_eight_digits(block(b"01234567")));
        assert!(!is_eight_digits(block(b"0123456,")));
        assert!(!is_eight_digits(block(b"/1234567")));
        assert!(!is_eight_digits(block(b"1234567:")));
        assert!(!is_eight_digits(block(b"1234\xb0567")));
        assert_eq!(eight_digits_value(block(b"01234567")), 1_234_567);
        assert_eq!(eight_digits_value(block(b"99999999")), 99_999_999);
        assert_eq!(eight_digits_value(block(b"00000000")), 0);
    }

    /// fast-float's reading of the number at the start of `text`, as (bits, length).
    fn reference(text: &[u8]) -> (u64, usize) {
        let (value, len) = fast_float2::parse_partial::<f64, _>(text).unwrap();
        (value.to_bits(), len)
    }

    fn check_plain(text: &str) {
        for tail in ["", ", 0.5", "]", " ", "e5", "E-3"] {
            let padded = format!("{text}{tail}");
            if let Some((value, len)) = read_plain_decimal(padded.as_bytes()) {
                assert_eq!((value.to_bits(), len), reference(padded.as_bytes()), "{padded}");
                assert_eq!(len, text.len(), "{padded}");
            }
        }
    }

    #[test]
    fn plain_decimals_match_fast_float_on_edge_cases() {
        for text in [
            "0.5", "-0.5", "0.0", "-0.0", "0.000", "1.0", "0.1", "0.30000000000000004", "-0.025076584191694895",
            "-0.0017959652293435483", "0.0000000000000000000001", "1234567.1234567", "9007199254740993.0",
            "9007199254740992.5", "900719925474099.35", "4503599627370497.5", "0.9999999999999999999",
            "0.1234567890123456789", "12345678.90123456789", "1.7976931348623157", "2.2250738585072014",
            "0.0000000000000000000000", "9999999999999999999.0", "0.4999999999999999722444243843710864",
            // Just below a power of two: rounding up carries into the next binade.
            "0.49999999999999999", "0.99999999999999999", "-0.12499999999999999", "7.9999999999999999",
        ] {
            check_plain(text);
        }
        assert_eq!(read_plain_decimal(b"0.49999999999999999"), Some((0.5, 19)));
        assert_eq!(read_plain_decimal(b"0.99999999999999999"), Some((1.0, 19)));
        // Exactly representable (and midpoint) values that the reciprocal product leaves to fast-float.
        assert_eq!(nearest_quotient(90_071_992_547_409_930, 1), None);
        assert_eq!(nearest_quotient(45_035_996_273_704_960, 1), None);
        assert_eq!(read_plain_decimal(b"9007199254740993.0"), None);
        assert_eq!(read_one("9007199254740993.0"), Some(9007199254740992.0));
        assert_eq!(read_one("9007199254740995.0"), Some(9007199254740996.0));
    }

    #[test]
    fn plain_decimals_decline_other_shapes() {
        for text in [
            "1", "-7", "1e5", "1.5e3", "1.5E-3", ".5", "1.", "01.5", "-01.5", "-", "+1.5", "- 1.5", "-.5", "nan",
            "0.12345678901234567890123", "12345678901.123456789", "0.00000000000000000000001",
        ] {
            assert_eq!(read_plain_decimal(text.as_bytes()), None, "{text}");
        }
        // Leading zeros after "0." do not count as significant digits.
        assert!(read_plain_decimal(b"0.0000001234567890123456789").is_none());
        assert!(read_plain_decimal(b"0.0001234567890123456789").is_some());
    }

    #[test]
    fn plain_decimals_match_fast_float_on_random_input() {
        // xorshift: deterministic and dependency-free.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for i in 0..200_000u64 {
            let text = match i % 5 {
                // Python's repr of random doubles of every magnitude the fast path takes.
                0 => format!("{:?}", f64::from_bits(next() >> 2 | 0x3C00_0000_0000_0000) % 1e7),
                1 => format!("-0.{:019}", next() % 10_000_000_000_000_000_000),
                2 => {
                    let width = (next() % 12 + 1) as usize;
                    format!("{}.{:0width$}", next() % 10_000_000, next() % 1_000_000_000_000)
                }
                3 => format!("0.{:0w$}", next() % 10u64.pow((next() % 19 + 1) as u32), w = (next() % 22 + 1) as usize),
                _ => {
                    let x = (next() % (1 << 53)) as f64 / (1u64 << (next() % 64)) as f64;
                    format!("{x:?}")
                }
            };
            check_plain(&text);
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
