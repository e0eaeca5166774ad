//! Response `content-encoding` decoding before scoring, bounded against decompression bombs.
//!
//! Models behind a gateway often answer gzip. The capture filter copies bytes as they travel (it never
//! asks Envoy to decompress), so the compare service decodes here: `gzip`, `deflate` (zlib-wrapped, as
//! RFC 9110 says, or raw, as some servers send) and `identity`. Corrupt compressed data is
//! `unsupported_encoding` too: the bytes cannot be decoded into something to score. Output is capped at `max_bytes`: a body
//! that inflates past it is `body_too_large`, never an unbounded allocation.

use crate::score::ScoreError;
use miniz_oxide::inflate::{decompress_to_vec_with_limit, decompress_to_vec_zlib_with_limit, TINFLStatus};
use std::borrow::Cow;

/// Decodes `body` according to `content_encoding` (lowercased; empty means identity).
///
/// ```
/// use shadow_compare::decode::decode_body;
/// assert_eq!(decode_body(b"{}", "", 100).unwrap().as_ref(), b"{}");
/// assert_eq!(decode_body(b"{}", "br", 100).unwrap_err().reason(), "unsupported_encoding");
/// ```
pub fn decode_body<'a>(body: &'a [u8], content_encoding: &str, max_bytes: usize) -> Result<Cow<'a, [u8]>, ScoreError> {
    match content_encoding.trim() {
        "" | "identity" => Ok(Cow::Borrowed(body)),
        "gzip" | "x-gzip" => gunzip(body, max_bytes).map(Cow::Owned),
        "deflate" => match decompress_to_vec_zlib_with_limit(body, max_bytes) {
            Ok(v) => Ok(Cow::Owned(v)),
            Err(e) if e.status == TINFLStatus::HasMoreOutput => Err(ScoreError::BodyTooLarge),
            Err(_) => inflate_raw(body, max_bytes, "deflate").map(Cow::Owned),
        },
        other => Err(ScoreError::UnsupportedEncoding { encoding: other.to_string() }),
    }
}

fn inflate_raw(data: &[u8], max_bytes: usize, encoding: &str) -> Result<Vec<u8>, ScoreError> {
    decompress_to_vec_with_limit(data, max_bytes).map_err(|e| match e.status {
        TINFLStatus::HasMoreOutput => ScoreError::BodyTooLarge,
        _ => ScoreError::UnsupportedEncoding { encoding: format!("{encoding} (corrupt data)") },
    })
}

/// RFC 1952: a 10-byte header, optional extra/name/comment/crc fields, raw deflate, 8-byte trailer.
fn gunzip(data: &[u8], max_bytes: usize) -> Result<Vec<u8>, ScoreError> {
    let bad = || ScoreError::UnsupportedEncoding { encoding: "gzip (malformed header)".to_string() };
    let (header, mut rest) = data.split_at_checked(10).ok_or_else(bad)?;
    if header.first() != Some(&0x1f) || header.get(1) != Some(&0x8b) || header.get(2) != Some(&8) {
        return Err(bad());
    }
    let flags = header.get(3).copied().unwrap_or(0);
    if flags & 0x04 != 0 {
        let (len, tail) = rest.split_at_checked(2).ok_or_else(bad)?;
        let n = usize::from(u16::from_le_bytes([len.first().copied().unwrap_or(0), len.get(1).copied().unwrap_or(0)]));
        rest = tail.get(n..).ok_or_else(bad)?;
    }
    for flag in [0x08u8, 0x10] {
        if flags & flag != 0 {
            let end = rest.iter().position(|&b| b == 0).ok_or_else(bad)?;
            rest = rest.get(end + 1..).ok_or_else(bad)?;
        }
    }
    if flags & 0x02 != 0 {
        rest = rest.get(2..).ok_or_else(bad)?;
    }
    inflate_raw(rest, max_bytes, "gzip")
}

#[cfg(test)]
mod tests {
    use super::*;
    use miniz_oxide::deflate::{compress_to_vec, compress_to_vec_zlib};

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
        out.extend(compress_to_vec(data, 6));
        out.extend([0u8; 8]); // crc and size: not checked, the JSON parse catches corruption
        out
    }

    #[test]
    fn decodes_gzip_deflate_and_raw_deflate() {
        let body = br#"{"embedding":[1,2,3]}"#;
        assert_eq!(decode_body(&gzip(body), "gzip", 1_000).unwrap().as_ref(), body);
        assert_eq!(decode_body(&compress_to_vec_zlib(body, 6), "deflate", 1_000).unwrap().as_ref(), body);
        assert_eq!(decode_body(&compress_to_vec(body, 6), "deflate", 1_000).unwrap().as_ref(), body);
        assert_eq!(decode_body(body, "identity", 1_000).unwrap().as_ref(), body);
    }

    #[test]
    fn gzip_with_a_file_name_field() {
        let mut g = vec![0x1f, 0x8b, 8, 0x08, 0, 0, 0, 0, 0, 255];
        g.extend(b"out.json\0");
        g.extend(compress_to_vec(b"[1]", 6));
        assert_eq!(decode_body(&g, "gzip", 100).unwrap().as_ref(), b"[1]");
    }

    #[test]
    fn bombs_are_body_too_large_and_garbage_is_invalid() {
        let bomb = gzip(&vec![b' '; 10_000_000]);
        assert!(bomb.len() < 20_000);
        assert_eq!(decode_body(&bomb, "gzip", 1 << 20).unwrap_err(), ScoreError::BodyTooLarge);
        assert_eq!(decode_body(b"not gzip at all", "gzip", 100).unwrap_err().reason(), "unsupported_encoding");
        assert_eq!(decode_body(b"\x1f\x8b", "gzip", 100).unwrap_err().reason(), "unsupported_encoding");
        assert_eq!(decode_body(b"zzzz", "deflate", 100).unwrap_err().reason(), "unsupported_encoding");
        assert_eq!(
            decode_body(b"x", "br", 100).unwrap_err(),
            ScoreError::UnsupportedEncoding { encoding: "br".to_string() }
        );
    }
}
