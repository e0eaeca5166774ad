//! Exact match of two JSON values by meaning, not by text: 1.0 when equal, else 0.0.
//!
//! Classification services answer with the same meaning in different text (key order, number spelling,
//! escapes), and none of that is a divergence. Equality is:
//! - **Objects**: the same set of keys with equal values; key order is ignored and a duplicated key means
//!   its last value (as `serde_json` and Python's `json` read it).
//! - **Arrays**: equal elements in the same order.
//! - **Numbers**: equal exact decimal values, so `1`, `1.0`, `1e0`, `10e-1` and `0.1e1` are all equal,
//!   integers beyond 2^53 are compared digit by digit, and `0.1` differs from `0.10000000000000001` even though
//!   both read as the same f64. `-0` equals `0` (and `-0.0`, `0e5`): a signed zero is the same quantity, and
//!   Python's `json.loads` answers `-0 == 0` with True too. A number whose exponent does not fit in 128 bits
//!   (`1e999...` with dozens of digits) is compared by its literal text.
//! - **Strings**: equal after unescaping (`"\u00e9"` equals `"é"`, surrogate pairs decode to one code point),
//!   code point by code point, without Unicode normalisation (precomposed `é` differs from `e` + U+0301).
//!   A lone surrogate escape equals only the same lone surrogate.
//! - `true`, `false` and `null` equal only themselves; there is no cross-type equality (`1` ≠ `true` ≠ `"1"`).
//!
//! Only the selected value is built into a tree; the rest of each body is validated and skipped.

use crate::json::{self, Scanner};
use crate::score::ScoreError;
use std::borrow::Cow;

/// 1.0 when the values `pointer` selects in the two bodies are equal JSON (see the module docs), else 0.0.
///
/// ```
/// use shadow_compare::exact::score_bodies;
/// let a = br#"{"label": "cat", "scores": [0.9, 1e-1], "id": 12345678901234567890}"#;
/// let b = br#"{"id": 12345678901234567890, "scores": [9e-1, 0.10], "label": "c\u0061t"}"#;
/// assert_eq!(score_bodies(a, b, "").unwrap(), 1.0);
/// assert_eq!(score_bodies(a, br#"{"label": "dog"}"#, "/label").unwrap(), 0.0);
/// assert_eq!(score_bodies(b"[1, 2, 3]", b"[1.0, 2, 3e0]", "").unwrap(), 1.0);
/// assert_eq!(score_bodies(a, b"{}", "/label").unwrap_err().reason(), "missing_field");
/// ```
pub fn score_bodies(primary: &[u8], shadow: &[u8], pointer: &str) -> Result<f64, ScoreError> {
    let a = json::select(primary, pointer, read_value)?;
    let b = json::select(shadow, pointer, read_value)?;
    Ok(if a == b { 1.0 } else { 0.0 })
}

/// A JSON value in canonical form, so that derived equality is equality by meaning.
#[derive(Debug, PartialEq)]
enum Value<'a> {
    Null,
    Bool(bool),
    Number(Number<'a>),
    /// Code points as WTF-8 (UTF-8 unless there are lone surrogates).
    String(Cow<'a, [u8]>),
    Array(Vec<Value<'a>>),
    /// Sorted by key, one member per key.
    Object(Vec<(Cow<'a, [u8]>, Value<'a>)>),
}

/// A number as sign, significant digits and exponent: `±0.DIGITS × 10^exponent`.
#[derive(Debug, PartialEq)]
enum Number<'a> {
    /// Every spelling of zero, signed or not.
    Zero,
    Decimal {
        negative: bool,
        /// ASCII digits without leading or trailing zeros; never empty.
        digits: Vec<u8>,
        exponent: i128,
    },
    /// An exponent beyond 128 bits: kept as written.
    Literal(&'a [u8]),
}

fn read_value<'a>(sc: &mut Scanner<'a>, depth: usize) -> Result<Value<'a>, ScoreError> {
    match sc.peek() {
        Some(b'{') => {
            sc.enter(depth)?;
            let mut members = Vec::new();
            let mut first = true;
            while let Some(key) = sc.object_next(&mut first)? {
                members.push((key.to_code_points(), read_value(sc, depth + 1)?));
            }
            // Stable sort keeps duplicates in document order, so the last of each run is the one that wins.
            members.sort_by(|x, y| x.0.cmp(&y.0));
            let mut canonical: Vec<(Cow<'a, [u8]>, Value<'a>)> = Vec::with_capacity(members.len());
            for member in members {
                match canonical.last_mut() {
                    Some(last) if last.0 == member.0 => *last = member,
                    _ => canonical.push(member),
                }
            }
            Ok(Value::Object(canonical))
        }
        Some(b'[') => {
            sc.enter(depth)?;
            let mut items = Vec::new();
            let mut first = true;
            while sc.array_next(&mut first)? {
                items.push(read_value(sc, depth + 1)?);
            }
            Ok(Value::Array(items))
        }
        Some(b'"') => Ok(Value::String(sc.scan_string()?.to_code_points())),
        Some(b'-' | b'0'..=b'9') => Ok(Value::Number(canonical_number(sc.scan_number()?))),
        Some(b't' | b'f' | b'n') => Ok(match sc.read_literal()? {
            Some(b) => Value::Bool(b),
            None => Value::Null,
        }),
        None => Err(sc.error("unexpected end of input")),
        Some(_) => Err(sc.error("expected a value")),
    }
}

/// Canonical form of a number already checked against the JSON grammar.
fn canonical_number(text: &[u8]) -> Number<'_> {
    let (negative, unsigned) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    let (mantissa, exponent_text) = match unsigned.iter().position(|&b| b == b'e' || b == b'E') {
        Some(at) => {
            let (m, e) = unsigned.split_at_checked(at).unwrap_or((unsigned, &[]));
            (m, e.get(1..).unwrap_or_default())
        }
        None => (unsigned, &[][..]),
    };
    let (integer, fraction) = match mantissa.iter().position(|&b| b == b'.') {
        Some(at) => {
            let (i, f) = mantissa.split_at_checked(at).unwrap_or((mantissa, &[]));
            (i, f.get(1..).unwrap_or_default())
        }
        None => (mantissa, &[][..]),
    };
    let all_digits = || integer.iter().chain(fraction).copied();
    let leading_zeros = all_digits().take_while(|&d| d == b'0').count();
    let total = integer.len() + fraction.len();
    if leading_zeros == total {
        return Number::Zero;
    }
    let trailing_zeros = all_digits().rev().take_while(|&d| d == b'0').count();
    let digits: Vec<u8> = all_digits()
        .skip(leading_zeros)
        .take(total - leading_zeros - trailing_zeros)
        .collect();
    // 0.DIGITS × 10^(point position after dropping leading zeros + written exponent).
    let point = i128::try_from(integer.len()).ok().zip(i128::try_from(leading_zeros).ok());
    let exponent = point
        .and_then(|(int_len, lz)| int_len.checked_sub(lz))
        .zip(parse_exponent(exponent_text))
        .and_then(|(shift, written)| shift.checked_add(written));
    match exponent {
        Some(exponent) => Number::Decimal {
            negative,
            digits,
            exponent,
        },
        None => Number::Literal(text),
    }
}

/// The written exponent (`+12`, `-3`, `007`; empty means 0), or None beyond i128.
fn parse_exponent(text: &[u8]) -> Option<i128> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    let magnitude = digits.iter().try_fold(0i128, |acc, &d| {
        acc.checked_mul(10)?.checked_add(i128::from(d.wrapping_sub(b'0')))
    })?;
    Some(if negative { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eq(a: &str, b: &str) -> bool {
        let score = score_bodies(a.as_bytes(), b.as_bytes(), "").unwrap();
        assert_eq!(score, score_bodies(b.as_bytes(), a.as_bytes(), "").unwrap(), "symmetry: {a} vs {b}");
        score == 1.0
    }

    #[test]
    fn numbers_by_exact_decimal_value() {
        for same in ["1", "1.0", "1e0", "10e-1", "0.1e1", "1.000", "100e-2", "0.001E3", "1E+0"] {
            assert!(eq("1", same), "{same}");
        }
        for zero in ["0", "-0", "0.0", "-0.0", "0e5", "0E-7", "-0.000e+3"] {
            assert!(eq("0", zero), "{zero}");
        }
        assert!(eq("-12.5", "-125e-1"));
        assert!(!eq("-12.5", "12.5"));
        assert!(!eq("1", "1.0000000000000001"));
        assert!(!eq("0.1", "0.10000000000000001"));
        assert!(eq("1234500", "12345e2"));
        assert!(!eq("1234500", "12345e3"));
        // Beyond 2^53: equal as f64, different as integers.
        assert!(!eq("9007199254740993", "9007199254740992"));
        assert!(eq("9007199254740993", "9007199254740993.0"));
        assert!(eq("123456789012345678901234567890", "1.2345678901234567890123456789e29"));
        assert!(eq("1e400", "10e399"));
        assert!(!eq("1e400", "1e401"));
        assert!(eq("1e-400", "0.1e-399"));
    }

    #[test]
    fn number_canonical_form() {
        assert_eq!(
            canonical_number(b"-0.00120e3"),
            Number::Decimal { negative: true, digits: b"12".to_vec(), exponent: 1 }
        );
        assert_eq!(
            canonical_number(b"120"),
            Number::Decimal { negative: false, digits: b"12".to_vec(), exponent: 3 }
        );
        assert_eq!(canonical_number(b"-0e99"), Number::Zero);
        let huge = format!("1e{}", "9".repeat(50));
        assert_eq!(canonical_number(huge.as_bytes()), Number::Literal(huge.as_bytes()));
        assert!(eq(&huge, &huge));
        assert!(!eq(&huge, &format!("1e{}8", "9".repeat(49))));
    }

    #[test]
    fn strings_after_unescaping() {
        assert!(eq(r#""\u00e9""#, r#""é""#));
        assert!(eq(r#""\ud83d\ude00""#, r#""😀""#));
        assert!(eq(r#""\/\"\\\n""#, "\"/\\\"\\\\\\u000a\""));
        assert!(eq(r#""\u0041""#, r#""A""#));
        assert!(!eq(r#""é""#, "\"e\u{301}\""));
        assert!(!eq(r#""a""#, r#""A""#));
        assert!(!eq(r#""a""#, r#""a ""#));
        assert!(eq(r#""\ud800""#, r#""\uD800""#));
        assert!(!eq(r#""\ud800""#, r#""\ud801""#));
        assert!(!eq(r#""\ud800""#, r#""\ufffd""#));
    }

    #[test]
    fn objects_and_arrays() {
        assert!(eq(r#"{"a":1,"b":[true,null]}"#, r#"{ "b" : [ true , null ] , "a" : 1.0 }"#));
        assert!(!eq(r#"{"a":1,"b":2}"#, r#"{"a":1}"#));
        assert!(!eq(r#"{"a":1}"#, r#"{"b":1}"#));
        assert!(eq(r#"{"a":1,"a":2}"#, r#"{"a":2}"#));
        assert!(!eq(r#"{"a":1,"a":2}"#, r#"{"a":1}"#));
        assert!(eq(r#"{"\u0061":1}"#, r#"{"a":1}"#));
        assert!(!eq("[1,2]", "[2,1]"));
        assert!(!eq("[1,2]", "[1,2,2]"));
        assert!(eq("[]", " [ ] "));
        assert!(!eq("[]", "{}"));
        assert!(eq(r#"{"x":{"y":[{"z":1}]}}"#, r#"{"x":{"y":[{"z":1e0}]}}"#));
    }

    #[test]
    fn literals_and_types() {
        assert!(eq("true", "true"));
        assert!(eq("null", "null"));
        assert!(!eq("true", "false"));
        assert!(!eq("1", "true"));
        assert!(!eq("0", "false"));
        assert!(!eq("null", "0"));
        assert!(!eq(r#""1""#, "1"));
        assert!(!eq(r#""""#, "null"));
    }

    #[test]
    fn by_pointer_and_errors() {
        let a = br#"{"label":"cat","score":0.97,"model":"v1"}"#;
        let b = br#"{"model":"v2","label":"cat","score":0.42}"#;
        assert_eq!(score_bodies(a, b, "/label").unwrap(), 1.0);
        assert_eq!(score_bodies(a, b, "/score").unwrap(), 0.0);
        assert_eq!(score_bodies(a, b, "").unwrap(), 0.0);
        assert_eq!(
            score_bodies(a, b"{}", "/label"),
            Err(ScoreError::MissingField { pointer: "/label".to_string() })
        );
        assert_eq!(score_bodies(b"{}", a, "/label").unwrap_err().reason(), "missing_field");
        assert_eq!(score_bodies(a, br#"{"label":"cat""#, "/label").unwrap_err().reason(), "invalid_json");
        assert_eq!(score_bodies(b"cat", b"cat", "").unwrap_err().reason(), "invalid_json");
        assert_eq!(score_bodies(b"\"\xff\"", b"\"\xff\"", "").unwrap_err().reason(), "invalid_json");
        assert_eq!(score_bodies(b"[1,]", b"[1]", "").unwrap_err().reason(), "invalid_json");
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert_eq!(score_bodies(deep.as_bytes(), b"[]", "").unwrap_err().reason(), "invalid_json");
        let ok_deep = format!("{}{}", "[".repeat(128), "]".repeat(128));
        assert_eq!(score_bodies(ok_deep.as_bytes(), ok_deep.as_bytes(), "").unwrap(), 1.0);
    }
}
