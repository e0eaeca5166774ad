//! Reads one JSON number as the nearest f64 (ties to even), like Python's `float()`.
//!
//! An embedding body is almost nothing but numbers such as `-0.025076584191694895` (what `json.dumps` writes
//! for a double: 16 or 17 significant digits), so their reading sets the pair rate. [`read_decimal`] takes that
//! shape eight digits at a time and rounds with integer multiplications; everything else (exponents, long
//! integers, more than 19 significant digits, the rare value it cannot round by itself) goes to fast-float,
//! whose grammar is then narrowed to JSON's.

/// The JSON number at the start of `s` as the nearest f64, and the bytes after it; None when `s` does not
/// start with a JSON number. The number may be followed by anything (`1.5.3`, `01` end at a byte that the
/// caller rejects). Literals beyond the f64 range give an infinity, which callers decide about.
#[inline]
pub(super) fn read_number(s: &[u8]) -> Option<(f64, &[u8])> {
    if let Some(read) = read_decimal(s) {
        return Some(read);
    }
    let (value, len) = fast_float2::parse_partial::<f64, _>(s).ok()?;
    let (number, rest) = s.split_at_checked(len)?;
    is_json_number(number).then_some((value, rest))
}

/// Exact f64 powers of ten: 10^22 is the largest one an f64 holds exactly.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
    1e19, 1e20, 1e21, 1e22,
];

/// Powers of ten that fit a u64.
const POW10_INT: [u64; 20] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
    10_000_000_000,
    100_000_000_000,
    1_000_000_000_000,
    10_000_000_000_000,
    100_000_000_000_000,
    1_000_000_000_000_000,
    10_000_000_000_000_000,
    100_000_000_000_000_000,
    1_000_000_000_000_000_000,
    10_000_000_000_000_000_000,
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

/// Eight ASCII zeros.
const ZEROS: u64 = 0x3030_3030_3030_3030;

/// Reads a plain decimal, `-?(0|[1-9][0-9]{0,6})\.[0-9]{1,22}` with at most 19 significant digits, as the
/// nearest f64; None for any other number, when fewer than 32 bytes follow the sign, or when it cannot decide
/// the rounding, and then fast-float reads it.
///
/// One bounds check covers the whole number: the integer part and the point are in the first eight bytes,
/// the fraction in the next three blocks of eight, each read as a u64 whose digits are found and combined
/// without a loop or a branch per digit (leading zeros after `0.` are digits worth nothing). The digits give
/// an integer w < 10^19, and the value is w / 10^k exactly, rounded once by [`nearest_quotient`]
/// (multiplications only); when that cannot decide (w / 10^k is a double or a midpoint), w ≤ 2^53 is exact
/// as an f64 and one IEEE division rounds correctly (Clinger's fast path).
///
/// The tests compare it bit for bit with fast-float and with the standard library.
#[inline]
fn read_decimal(s: &[u8]) -> Option<(f64, &[u8])> {
    let (negative, unsigned) = match s {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    let window: &[u8; 32] = unsigned.first_chunk()?;
    let head = u64::from_le_bytes(*window.first_chunk::<8>()?);
    // "0." in nearly every embedding value; otherwise a digit, no leading zero, at most seven digits, the point.
    let (int_value, int_digits) = if head & 0xFFFF == u64::from_le_bytes(*b"0.\0\0\0\0\0\0") {
        (0, 1)
    } else {
        let n = leading_digits(head);
        if n == 0 || n == 8 || head as u8 == b'0' || (head >> (8 * n)) as u8 != b'.' {
            return None;
        }
        (prefix_value(head, n), n)
    };
    let fraction: &[u8; 24] = window.get(int_digits + 1..)?.first_chunk()?;
    let block = |i: usize| fraction.get(8 * i..)?.first_chunk::<8>().map(|b| u64::from_le_bytes(*b));
    let (b0, b1, b2) = (block(0)?, block(1)?, block(2)?);
    let (w, k) = if non_digits(b0) | non_digits(b1) == 0 {
        // Sixteen digits or more: most of what json.dumps writes. At most 22 (and 24 would need a fourth block).
        let n2 = leading_digits(b2).min(7);
        let w = block_value(b0).wrapping_mul(100_000_000).wrapping_add(block_value(b1));
        (w.wrapping_mul(*POW10_INT.get(n2)?).wrapping_add(prefix_value(b2, n2)), 16 + n2)
    } else {
        let n0 = leading_digits(b0);
        if n0 < 8 {
            (prefix_value(b0, n0), n0)
        } else {
            let n1 = leading_digits(b1);
            (block_value(b0).wrapping_mul(*POW10_INT.get(n1)?).wrapping_add(prefix_value(b1, n1)), 8 + n1)
        }
    };
    if k == 0 || k > 22 || matches!(fraction.get(k), Some(b'e' | b'E')) {
        return None;
    }
    // w < 10^19 unless it wrapped, which takes more than 19 significant digits. Zeros after "0." are not
    // significant (counting at most the first eight of them only declines more).
    let significant = if int_value == 0 { k } else { int_digits + k };
    if significant > 19 && (int_value != 0 || significant - ((b0 ^ ZEROS).trailing_zeros() / 8) as usize > 19) {
        return None;
    }
    let w = if int_value == 0 {
        w
    } else {
        int_value * POW10_INT.get(k)? + w
    };
    let magnitude = if w == 0 {
        0.0
    } else if let Some(value) = nearest_quotient(w, k) {
        value
    } else if w <= 1 << 53 {
        // The cast is exact up to 2^53.
        w as f64 / POW10.get(k)?
    } else {
        return None;
    };
    let rest = unsigned.get(int_digits + 1 + k..)?;
    // The sign as a bit, not a branch: the signs of embedding values are random, so a branch would be
    // mispredicted every other number.
    Some((f64::from_bits(magnitude.to_bits() | u64::from(negative) << 63), rest))
}

/// The top bit of each byte of `block` (read little-endian: first byte lowest) that is not an ASCII digit.
/// Exact up to the first such byte (carries and borrows only move towards later bytes), which is all that
/// the callers look at.
fn non_digits(block: u64) -> u64 {
    (block.wrapping_add(0x4646_4646_4646_4646) | block.wrapping_sub(ZEROS)) & 0x8080_8080_8080_8080
}

/// How many of the eight bytes, from the first, are digits before any other byte.
fn leading_digits(block: u64) -> usize {
    (non_digits(block).trailing_zeros() / 8) as usize
}

/// Whether all eight bytes are ASCII digits.
pub(super) fn is_eight_digits(block: u64) -> bool {
    non_digits(block) == 0
}

/// The value of eight ASCII digits, the first most significant.
fn block_value(block: u64) -> u64 {
    combine_digits(block)
}

/// The value of the first `n` (0..=7) bytes of `block`, which are digits.
fn prefix_value(block: u64, n: usize) -> u64 {
    // Moving the n digits to the top bytes leaves zero bytes before them: leading zeros. Two shifts, so
    // that n = 0 shifts everything out.
    combine_digits((block << 8) << (8 * (7 - n.min(7))))
}

/// The value of eight bytes that are ASCII digits or zero (first byte most significant), in three steps of
/// one multiplication each: pairs, then quads, then the whole.
fn combine_digits(block: u64) -> u64 {
    let pairs = (block & 0x0F0F_0F0F_0F0F_0F0F).wrapping_mul(10 << 8 | 1) >> 8;
    let quads = (pairs & 0x00FF_00FF_00FF_00FF).wrapping_mul(100 << 16 | 1) >> 16;
    (quads & 0x0000_FFFF_0000_FFFF).wrapping_mul(10_000 << 32 | 1) >> 32
}

/// The f64 nearest to w / 10^k, for 1 ≤ w < 2^64 and k in 1..=22; None when it cannot tell.
///
/// w / 10^k = w · 5^-k · 2^-k. With w shifted to 64 significant bits and 5^-k as a 128-bit reciprocal rounded
/// up ([`RECIPROCALS_OF_FIVE`]), the 192-bit product P exceeds the exact product by less than 2^64, so the
/// exact one's bits from 64 up are P's or P's less one unit at bit 64. When P has a set bit between bit 66
/// and the rounding bit, that unit cannot reach the 54 bits kept (53 and the rounding bit), and the bits
/// below are non-zero either way: the value is not a tie, and the rounding bit alone decides. Otherwise (in
/// practice only when w / 10^k is exactly a double or a midpoint) it returns None. The result lies between
/// 10^-22 and 2^64, far from subnormals and overflow.
#[inline(always)]
fn nearest_quotient(w: u64, k: usize) -> Option<f64> {
    quotient_with::<WIDE_PRODUCT_IS_CHEAP>(w, k)
}

/// [`nearest_quotient`], computing the low half's product always (`ALWAYS_BOTH`) or only where it can
/// matter. The tests run both on every target.
#[inline(always)]
fn quotient_with<const ALWAYS_BOTH: bool>(w: u64, k: usize) -> Option<f64> {
    let reciprocal = *RECIPROCALS_OF_FIVE.get(k).filter(|_| k >= 1)?;
    let five_bits = *FIVE_BITS.get(k)?;
    let shift = w.leading_zeros();
    let normal = w << shift;
    // P >> 64 = high · 2^64 + top_low, from the two 64 x 64 bit halves; it is below 2^128, so the sum
    // cannot overflow. The low half's product adds less than 2^64: at most a carry of one into `high`.
    let (high, top_low) = mul_wide(normal, (reciprocal >> 64) as u64);
    // On wasm32, where a wide product is four multiplications, the other product is left out where its carry
    // cannot matter, and `top_low` is then not read; on 64-bit targets it costs less than the branch.
    let (high, top_low) = if ALWAYS_BOTH || carry_can_matter(high) {
        let (low_high, _) = mul_wide(normal, reciprocal as u64);
        let (top_low, carry) = top_low.overflowing_add(low_high);
        (high + u64::from(carry), top_low)
    } else {
        (high, top_low)
    };
    // high has its leading bit at 62 or 63; keep 54 bits.
    let dropped = 9 + (high >> 63) as u32;
    let kept = high >> dropped;
    if high & ((1 << dropped) - 1) == 0 && top_low & !3 == 0 {
        return None;
    }
    // Rounded to 53 bits, in [2^52, 2^53]: 2^53 carries into the exponent field below.
    let mantissa = (kept + 1) >> 1;
    // value = mantissa · 2^exponent: P · 2^-(127 + b + shift + k), P ≈ kept · 2^(dropped + 128).
    let exponent = i64::from(dropped) + 129 - 127 - i64::from(five_bits) - i64::from(shift) - k as i64;
    let biased = exponent + 52 + 1023;
    if !(1..0x7fe).contains(&biased) {
        return None;
    }
    Some(f64::from_bits((((biased - 1) as u64) << 52) + mantissa))
}

/// Whether a carry of one into `high` (the top 64 bits of P >> 64) can change the bits kept or the test for a
/// tie: only when the bits below the rounding bit are all zeros or all ones (1 number in ~250).
fn carry_can_matter(high: u64) -> bool {
    let bits_below = (1u64 << (9 + (high >> 63))) - 1;
    let below = high & bits_below;
    below == 0 || below == bits_below
}

/// Whether [`mul_wide`] is one instruction.
const WIDE_PRODUCT_IS_CHEAP: bool = cfg!(target_pointer_width = "64");

/// The full product a · b as (high, low) 64-bit halves.
///
/// On 64-bit targets this is one multiplication instruction. wasm32 has no 128-bit product: a `u128`
/// multiplication there calls a generic 128 x 128 bit routine (`__multi3`) through memory, which took a fifth
/// of the time of reading an embedding body in V8. [`mul_wide_halves`] does it inline.
#[inline(always)]
fn mul_wide(a: u64, b: u64) -> (u64, u64) {
    #[cfg(target_pointer_width = "64")]
    {
        let p = u128::from(a) * u128::from(b);
        ((p >> 64) as u64, p as u64)
    }
    #[cfg(not(target_pointer_width = "64"))]
    {
        mul_wide_halves(a, b)
    }
}

/// [`mul_wide`] from four 32 x 32 bit products (Hacker's Delight, 8-2).
///
/// LLVM recognises this pattern and turns it back into a 128-bit multiplication, which on wasm32 is the
/// `__multi3` call it is meant to avoid; passing the mask through `black_box` hides the pattern. The result
/// does not depend on it.
#[cfg(any(test, not(target_pointer_width = "64")))]
#[inline(always)]
fn mul_wide_halves(a: u64, b: u64) -> (u64, u64) {
    let low_mask: u64 = std::hint::black_box(0xFFFF_FFFF);
    let (a_hi, a_lo) = (a >> 32, a & low_mask);
    let (b_hi, b_lo) = (b >> 32, b & low_mask);
    let lo_lo = a_lo * b_lo;
    // Neither sum overflows: a product of two 32-bit numbers plus a 32-bit number is below 2^64.
    let t = a_hi * b_lo + (lo_lo >> 32);
    let middle = (t & low_mask) + a_lo * b_hi;
    let high = a_hi * b_hi + (t >> 32) + (middle >> 32);
    (high, (middle << 32) | (lo_lo & low_mask))
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
        [b'0', b'.', d, ..] => d.is_ascii_digit(),
        [b'0', b'0'..=b'9', ..] => false,
        [b'0'..=b'9', ..] => match unsigned.iter().position(|&b| b == b'.') {
            Some(dot) => unsigned.get(dot + 1).is_some_and(u8::is_ascii_digit),
            None => true,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_products_from_halves() {
        let edges = [0, 1, 2, 0xFFFF_FFFF, 0x1_0000_0000, u64::MAX / 3, u64::MAX - 1, u64::MAX];
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut values: Vec<u64> = edges.to_vec();
        for _ in 0..2_000 {
            // xorshift64*: a fixed sequence of operands spread over every bit width.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            values.push(state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> (state % 64));
        }
        for (i, &a) in values.iter().enumerate() {
            for &b in values.iter().skip(i % 7).step_by(37).chain(&edges) {
                let p = u128::from(a) * u128::from(b);
                let expected = ((p >> 64) as u64, p as u64);
                assert_eq!(mul_wide_halves(a, b), expected, "{a} * {b}");
                assert_eq!(mul_wide(a, b), expected, "{a} * {b}");
            }
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
        for (n, scale) in POW10_INT.iter().enumerate() {
            assert_eq!(*scale, 10u64.pow(n as u32));
            assert_eq!(POW10.get(n), Some(&(*scale as f64)));
        }
    }

    #[test]
    fn eight_digit_blocks() {
        let block = |text: &[u8; 8]| u64::from_le_bytes(*text);
        assert!(is_eight_digits(block(b"01234567")));
        assert!(!is_eight_digits(block(b"0123456,")));
        assert!(!is_eight_digits(block(b"/1234567")));
        assert!(!is_eight_digits(block(b"1234567:")));
        assert!(!is_eight_digits(block(b"1234\xb0567")));
        assert_eq!(block_value(block(b"01234567")), 1_234_567);
        assert_eq!(block_value(block(b"99999999")), 99_999_999);
        assert_eq!(block_value(block(b"00000000")), 0);
        for (text, n, value) in [
            (b"0,000000", 1, 0),
            (b"1]}     ", 1, 1),
            (b"1234567,", 7, 1_234_567),
            (b"987]\x00\x00\x00\x00", 3, 987),
            (b"5e-05, 0", 1, 5),
            (b"09/99999", 2, 9),
            (b"12:45678", 2, 12),
            (b",1234567", 0, 0),
            (b"4\xff\xff\xff\xff\xff\xff\xff", 1, 4),
        ] {
            let b = block(text);
            assert_eq!(leading_digits(b), n, "{text:?}");
            assert_eq!(prefix_value(b, n), value, "{text:?}");
        }
        assert_eq!(leading_digits(block(b"12345678")), 8);
    }

    /// What follows the numbers in the tests: end of input, separators, something that extends the number
    /// (`e5`, `.5`, more digits), each alone and followed by enough text for the decimal reader's window.
    const TAILS: [&str; 10] = ["", ", 0.5", "]", "]}", " ", ",", "e5", "E-3", ".5", "000000000000000000000000"];
    const PADDING: &str = ", -0.025076584191694895, 0.0123]}";

    /// Reads `text` followed by each tail: read_number must give what fast-float gives (the same bits and
    /// length, or None), and the standard library must agree on the value. Returns how many of the readings
    /// the decimal reader made, so that the callers can check that it was exercised.
    fn check(text: &str) -> usize {
        let mut decimal = 0;
        for tail in TAILS {
            for padding in ["", PADDING] {
                let input = format!("{text}{tail}{padding}");
                let got = with_len(input.as_bytes(), read_number).map(|(v, len)| (v.to_bits(), len));
                let fast_float = fast_float2::parse_partial::<f64, _>(input.as_bytes())
                    .ok()
                    .filter(|&(_, len)| is_json_number(&input.as_bytes()[..len]))
                    .map(|(v, len)| (v.to_bits(), len));
                assert_eq!(got, fast_float, "{input}");
                if let Some((bits, len)) = got {
                    assert_eq!(input[..len].parse::<f64>().map(f64::to_bits), Ok(bits), "{input}");
                }
                if let Some((value, len)) = with_len(input.as_bytes(), read_decimal) {
                    assert_eq!(Some((value.to_bits(), len)), fast_float, "{input}");
                    decimal += 1;
                }
            }
        }
        decimal
    }

    #[test]
    fn edge_cases_match_the_references() {
        for text in [
            "0.5", "-0.5", "0.0", "-0.0", "0.000", "1.0", "0.1", "0.30000000000000004", "-0.025076584191694895",
            "-0.0017959652293435483", "0.0000000000000000000001", "1234567.1234567", "9007199254740993.0",
            "9007199254740992.5", "900719925474099.35", "4503599627370497.5", "0.9999999999999999999",
            "0.1234567890123456789", "12345678.90123456789", "1.7976931348623157", "2.2250738585072014",
            "0.0000000000000000000000", "9999999999999999999.0", "0.4999999999999999722444243843710864",
            // Just below a power of two: rounding up carries into the next binade.
            "0.49999999999999999", "0.99999999999999999", "-0.12499999999999999", "7.9999999999999999",
            // Exactly doubles and midpoints, which the division settles.
            "0.25", "0.125", "0.0000152587890625", "1.00000000000000011102230246251565404236316680908203125",
            "0.000000001", "0.00000001", "0.0000000123", "9999999.9999999999999", "1000000.0", "1234567.0",
            // Other shapes, read by fast-float.
            "0", "-0", "7", "-12", "10", "12345678", "123456789012345678901234567890", "1e-05", "-1e-05", "1E+5",
            "1.5e3", "-2.5E-3", "1.7976931348623157e308", "1.7976931348623159e308", "1e309", "-1e400",
            "2.2250738585072011e-308", "2.2250738585072014e-308", "4.9406564584124654e-324", "5e-324",
            "2.4703282292062327e-324", "2.4703282292062328e-324", "1e-400", "-0e0", "0.1e1",
            "0.12345678901234567890123", "12345678901.123456789", "0.00000000000000000000001",
            "123456789012345678901234567890.5", "0.1000000000000000055511151231257827021181583404541015625",
            // Not JSON numbers.
            "+1", ".5", "-.5", "1.", "01", "-01", "00", "-", "--1", "inf", "-inf", "nan", "NaN", "Infinity",
            "1e", "e5", "0x1", "- 1", "",
        ] {
            check(text);
        }
        assert_eq!(decimal("0.49999999999999999"), Some((0.5, 19)));
        assert_eq!(decimal("0.99999999999999999"), Some((1.0, 19)));
        assert!(decimal("-0.0").is_some_and(|(v, len)| v == 0.0 && v.is_sign_negative() && len == 4));
        assert_eq!(decimal("-0.025076584191694895"), Some((-0.025076584191694895, 21)));
        assert_eq!(decimal("1234567.5"), Some((1234567.5, 9)));
        assert_eq!(decimal("0.000000001"), Some((1e-9, 11)));
        // The window: 32 bytes after the sign, or fast-float reads the number.
        assert_eq!(with_len(b"0.5, 0.25, 0.125, 0.0625, 0.0312", read_decimal), Some((0.5, 3)));
        assert_eq!(with_len(b"0.5, 0.25, 0.125, 0.0625, 0.031", read_decimal), None);
        assert_eq!(with_len(b"-0.5, 0.25, 0.125, 0.0625, 0.0312", read_decimal), Some((-0.5, 4)));
        assert_eq!(with_len(b"-0.5, 0.25, 0.125, 0.0625, 0.031", read_decimal), None);
        assert_eq!(with_len(b"0.5, 0.25", read_number), Some((0.5, 3)));
        // Exactly representable (and midpoint) values that the reciprocal product leaves to the division, or
        // above 2^53 to fast-float.
        assert_eq!(nearest_quotient(90_071_992_547_409_930, 1), None);
        assert_eq!(nearest_quotient(45_035_996_273_704_960, 1), None);
        assert_eq!(nearest_quotient(5, 1), None);
        assert_eq!(decimal("0.5"), Some((0.5, 3)));
        assert_eq!(decimal("9007199254740993.0"), None);
        assert_eq!(with_len(b"9007199254740993.0", read_number), Some((9007199254740992.0, 18)));
        assert_eq!(with_len(b"9007199254740995.0", read_number), Some((9007199254740996.0, 18)));
    }

    #[test]
    fn decimal_reader_declines_other_shapes() {
        for text in [
            "1", "-7", "1e5", "1.5e3", "1.5E-3", ".5", "1.", "01.5", "-01.5", "-", "+1.5", "- 1.5", "-.5", "nan",
            "0.12345678901234567890123", "12345678901.123456789", "0.00000000000000000000001", "12345678.5",
            "1.", "0.,", "0.e5", "00.5", "0.5e3", "-0.5E-3", "12345678901234567.5", "1234567.1234567890123",
        ] {
            assert_eq!(decimal(text), None, "{text}");
        }
        // Leading zeros after "0." do not count as significant digits, but at most 22 fraction digits do.
        assert!(decimal("0.0000001234567890123456789").is_none());
        assert!(decimal("0.0001234567890123456789").is_some());
        assert!(decimal("0.000000000001234567890").is_some());
    }

    /// read_decimal on `text` with enough after it for its window.
    fn decimal(text: &str) -> Option<(f64, usize)> {
        with_len(format!("{text}{PADDING}").as_bytes(), read_decimal)
    }

    type Reader = fn(&[u8]) -> Option<(f64, &[u8])>;

    /// A reader's value and the length of the number it read.
    fn with_len(input: &[u8], read: Reader) -> Option<(f64, usize)> {
        read(input).map(|(value, rest)| (value, input.len() - rest.len()))
    }

    /// Numbers of every shape the bodies may hold, from a seeded generator.
    fn random_number(i: u64, next: &mut impl FnMut() -> u64) -> String {
        let sign = if next().is_multiple_of(2) { "-" } else { "" };
        match i % 10 {
            // What json.dumps writes for embedding values: the shortest round-trip form, 16 or 17 digits.
            0 | 1 => format!("{sign}{:?}", f64::from_bits((1022 - next() % 12) << 52 | next() >> 12)),
            2 => format!("{:?}", f64::from_bits(next() >> 2 | 0x3C00_0000_0000_0000) % 1e7),
            3 => format!("{sign}0.{:019}", next() % 10_000_000_000_000_000_000),
            4 => {
                let width = (next() % 12 + 1) as usize;
                format!("{sign}{}.{:0width$}", next() % 10_000_000, next() % 1_000_000_000_000)
            }
            5 => format!("0.{:0w$}", next() % 10u64.pow((next() % 19 + 1) as u32), w = (next() % 22 + 1) as usize),
            6 => {
                let x = (next() % (1 << 53)) as f64 / (1u64 << (next() % 64)) as f64;
                format!("{sign}{x:?}")
            }
            // Any double, in Rust's exponent form: subnormals, the overflow edge, integers.
            7 => {
                let x = f64::from_bits(next() & !(0x7FF << 52) | (next() % 0x7FF) << 52);
                format!("{x:e}")
            }
            // Mantissas longer than 19 digits, with and without exponents.
            8 => {
                let digits: String = (0..(next() % 30 + 1)).map(|_| char::from(b'0' + (next() % 10) as u8)).collect();
                let digits = digits.trim_start_matches('0');
                let digits = if digits.is_empty() { "0" } else { digits };
                match next() % 4 {
                    0 => format!("{sign}{digits}"),
                    1 => format!("{sign}0.{digits}"),
                    2 => format!("{sign}{digits}e-{}", next() % 340),
                    _ => format!("{sign}{}.{}e{}", &digits[..1], &digits[1..].trim_end_matches('0'), next() % 330),
                }
            }
            // Python's short forms: 1e-05, 5e-324, 1.5e+300, integers.
            _ => match next() % 3 {
                0 => format!("{sign}{}e-{:02}", next() % 9 + 1, next() % 330),
                1 => format!("{sign}{}.{}e+{}", next() % 9 + 1, next() % 1000, next() % 310),
                _ => format!("{sign}{}", next() >> (next() % 64)),
            },
        }
    }

    #[test]
    fn quotients_where_the_low_product_matters() {
        // Direct checks of nearest_quotient against the standard library, counting the numbers for which it
        // needs the low half's product (a carry could change the bits kept or the tie test).
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let (mut both_halves, mut decided) = (0, 0);
        for i in 0..300_000u64 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let w = (state >> (i % 48)).max(1);
            let k = 1 + (i % 22) as usize;
            both_halves += usize::from(carry_can_matter(first_half(w, k)));
            let expected: f64 = format!("{w}e-{k}").parse().unwrap();
            let value = quotient_with::<false>(w, k);
            assert_eq!(value, quotient_with::<true>(w, k), "{w}e-{k}");
            if let Some(value) = value {
                assert_eq!(value.to_bits(), expected.to_bits(), "{w}e-{k}");
                decided += 1;
            }
        }
        assert!(both_halves > 500, "{both_halves}");
        assert!(decided > 290_000, "{decided}");
        // Decimals whose double the carry changes (the end-to-end tests send them through Envoy): each takes
        // the second product, and both variants read it right.
        for text in [
            "0.7158521094824844",
            "0.3624015121539855",
            "0.47277076208510041",
            "0.51522289104915725",
            "0.632220989603802630",
            "0.276737494287904090",
        ] {
            let digits = text.trim_start_matches("0.");
            let (w, k) = (digits.parse::<u64>().unwrap(), digits.len());
            assert!(carry_can_matter(first_half(w, k)), "{text}");
            let expected: f64 = text.parse().unwrap();
            assert_eq!(quotient_with::<false>(w, k), Some(expected), "{text}");
            assert_eq!(quotient_with::<true>(w, k), Some(expected), "{text}");
        }
    }

    /// The top 64 bits of w · 5^-k's first 64 x 64 bit product, as `quotient_with` computes them.
    fn first_half(w: u64, k: usize) -> u64 {
        mul_wide(w << w.leading_zeros(), (RECIPROCALS_OF_FIVE[k] >> 64) as u64).0
    }

    #[test]
    fn random_numbers_match_the_references() {
        // xorshift: deterministic and dependency-free.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut decimal = 0;
        for i in 0..200_000u64 {
            let text = random_number(i, &mut next);
            decimal += usize::from(check(&text) > 0);
        }
        // Most of them have the decimal reader's shape.
        assert!(decimal > 100_000, "{decimal}");
    }
}
