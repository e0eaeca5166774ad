//! A whole header map, as the proxy-wasm ABI hands it over (`proxy_get_header_map_pairs`).
//!
//! Why whole: a host call that returns a string costs about a microsecond (docs/performance.md), and a capture
//! needs several headers of each map. One call for the map, decoded here, replaces one call per header; knowing
//! which headers are there also spares the shadow's capture a removal call for each secret header the request
//! does not carry.
//!
//! The layout, little-endian: a u32 count of pairs; per pair a u32 name length and a u32 value length; then per
//! pair the name, a NUL, the value, a NUL.

/// A decoded header map: names and values borrowed from the host's buffer, in the host's order.
#[derive(Debug, Default, PartialEq)]
pub struct Headers<'a> {
    pairs: Vec<(&'a [u8], &'a [u8])>,
}

fn u32_at(buf: &[u8], at: usize) -> Option<usize> {
    let bytes: [u8; 4] = buf.get(at..at.checked_add(4)?)?.try_into().ok()?;
    usize::try_from(u32::from_le_bytes(bytes)).ok()
}

impl<'a> Headers<'a> {
    /// Decodes the ABI's layout. An empty buffer is an empty map (the host hands over nothing for one); `None`
    /// when the buffer is malformed: truncated, a length past its end, or a missing NUL.
    ///
    /// ```
    /// use shadow_compare::headers::Headers;
    /// let mut buf = 2u32.to_le_bytes().to_vec();
    /// for len in [7u32, 4, 12, 2] {
    ///     buf.extend(len.to_le_bytes());
    /// }
    /// buf.extend(b":method\0POST\0x-request-id\0r1\0");
    /// let h = Headers::decode(&buf).unwrap();
    /// assert_eq!((h.text(":method"), h.text("X-Request-Id"), h.text("cookie")), (Some("POST"), Some("r1"), None));
    /// ```
    pub fn decode(buf: &'a [u8]) -> Option<Headers<'a>> {
        if buf.is_empty() {
            return Some(Headers::default());
        }
        let count = u32_at(buf, 0)?;
        // The lengths table must fit before anything is allocated for it: a bad count cannot ask for memory.
        let mut at = count.checked_mul(8)?.checked_add(4)?;
        if at > buf.len() {
            return None;
        }
        let mut pairs = Vec::with_capacity(count);
        for i in 0..count {
            let lengths = 4 + i * 8;
            let (name_len, value_len) = (u32_at(buf, lengths)?, u32_at(buf, lengths + 4)?);
            let name = buf.get(at..at.checked_add(name_len)?)?;
            at += name_len;
            if buf.get(at) != Some(&0) {
                return None;
            }
            at += 1;
            let value = buf.get(at..at.checked_add(value_len)?)?;
            at += value_len;
            if buf.get(at) != Some(&0) {
                return None;
            }
            at += 1;
            pairs.push((name, value));
        }
        Some(Headers { pairs })
    }

    /// The first value of `name`, which matches whatever its case: what `proxy_get_header_map_value` gives
    /// for the same name (Envoy looks names up lower-cased and answers with the first of repeated headers).
    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        self.pairs.iter().find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes())).map(|&(_, v)| v)
    }

    /// [`Headers::get`] as text; a value that is not UTF-8 counts as absent.
    pub fn text(&self, name: &str) -> Option<&'a str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The host's layout for `pairs`, as Envoy writes it.
    fn encode(pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut buf = (pairs.len() as u32).to_le_bytes().to_vec();
        for (n, v) in pairs {
            buf.extend((n.len() as u32).to_le_bytes());
            buf.extend((v.len() as u32).to_le_bytes());
        }
        for (n, v) in pairs {
            buf.extend(*n);
            buf.push(0);
            buf.extend(*v);
            buf.push(0);
        }
        buf
    }

    #[test]
    fn decodes_what_the_host_writes() {
        let buf = encode(&[(b":status", b"200"), (b"content-encoding", b"gzip"), (b"x-empty", b"")]);
        let h = Headers::decode(&buf).unwrap();
        assert_eq!(h.pairs.len(), 3);
        assert_eq!(h.text(":status"), Some("200"));
        assert_eq!(h.get("Content-Encoding"), Some(&b"gzip"[..]));
        assert_eq!(h.get("x-empty"), Some(&b""[..]));
        assert_eq!(h.get("content-type"), None);
    }

    #[test]
    fn an_empty_buffer_or_map_has_no_headers() {
        assert!(Headers::decode(&[]).unwrap().pairs.is_empty());
        assert!(Headers::decode(&encode(&[])).unwrap().pairs.is_empty());
    }

    #[test]
    fn repeated_headers_answer_with_the_first() {
        let buf = encode(&[(b"x-request-id", b"first"), (b"x-request-id", b"second")]);
        assert_eq!(Headers::decode(&buf).unwrap().text("x-request-id"), Some("first"));
    }

    #[test]
    fn a_value_that_is_not_utf8_is_there_as_bytes_and_absent_as_text() {
        let buf = encode(&[(b"x-request-id", b"\xff\xfe")]);
        let h = Headers::decode(&buf).unwrap();
        assert_eq!((h.get("x-request-id"), h.text("x-request-id")), (Some(&b"\xff\xfe"[..]), None));
    }

    #[test]
    fn every_truncation_and_a_bad_count_or_separator_is_refused() {
        let buf = encode(&[(b":method", b"POST"), (b":path", b"/embed")]);
        for cut in 1..buf.len() {
            assert_eq!(Headers::decode(&buf[..cut]), None, "cut at {cut}");
        }
        let mut huge = buf.clone();
        huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(Headers::decode(&huge), None);
        let mut no_nul = buf.clone();
        let last = no_nul.len() - 1;
        no_nul[last] = b'x';
        assert_eq!(Headers::decode(&no_nul), None);
        let mut long_name = buf;
        long_name[4..8].copy_from_slice(&1_000u32.to_le_bytes());
        assert_eq!(Headers::decode(&long_name), None);
    }
}
