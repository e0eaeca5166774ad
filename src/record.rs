//! The queue record: what a capture filter on a worker thread hands to the compare service.
//!
//! One record per upstream response (primary or shadow), plus a tiny `Started` record when a shadow request
//! leaves Envoy, so the compare service can tell "the shadow never answered" from "this request was not
//! mirrored" (e.g. under `runtime_fraction`). The codec is a small length-prefixed binary format: bodies
//! are raw bytes (no JSON escaping on the worker thread), and decoding a hostile or truncated buffer is an
//! error, never a panic.

/// How the upstream exchange ended, as the capture filter saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Outcome {
    /// A shadow request left Envoy; its response record follows.
    Started,
    /// The response ended normally (any status); `body` holds up to `max_body_bytes` of it.
    #[default]
    Complete,
    /// The response ended normally but the body was longer than `max_body_bytes`: `body` is a prefix.
    Truncated,
    /// Response headers arrived but the stream ended before the body did (reset mid-body).
    Reset,
    /// No response at all: connect failure, upstream timeout, or reset before headers.
    NoResponse,
    /// The response ended normally, but its body was not copied: the compare service's backlog was half
    /// full when the request started (see `health`), so the pair is counted `dropped` rather than scored.
    Shed,
}

impl Outcome {
    fn to_byte(self) -> u8 {
        match self {
            Outcome::Started => 0,
            Outcome::Complete => 1,
            Outcome::Truncated => 2,
            Outcome::Reset => 3,
            Outcome::NoResponse => 4,
            Outcome::Shed => 5,
        }
    }

    fn from_byte(b: u8) -> Option<Outcome> {
        Some(match b {
            0 => Outcome::Started,
            1 => Outcome::Complete,
            2 => Outcome::Truncated,
            3 => Outcome::Reset,
            4 => Outcome::NoResponse,
            5 => Outcome::Shed,
            _ => return None,
        })
    }
}

/// One captured upstream exchange.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// The `x-request-id`: the pairing key, identical on the primary and its mirror.
    pub request_id: String,
    /// The upstream cluster (`xds.cluster_name`): tells primary from each shadow.
    pub cluster: String,
    pub method: String,
    pub path: String,
    /// HTTP status of the response; 0 when there was none.
    pub status: u16,
    pub outcome: Outcome,
    /// Request headers sent → response complete, in microseconds.
    pub latency_us: u64,
    /// Wall-clock time the request left Envoy, in milliseconds since the epoch.
    pub start_ms: u64,
    /// The response `content-encoding`, lowercased; empty when identity.
    pub content_encoding: String,
    /// The response body (a prefix when truncated).
    pub body: Vec<u8>,
    /// The request body, when samples need it (bounded by the capture config); usually empty.
    pub request_body: Vec<u8>,
}

/// Why a queue item could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The buffer ended inside the named field.
    Truncated(&'static str),
    /// The first byte is not a known codec version.
    UnknownVersion(u8),
    /// The outcome byte is not a known outcome.
    UnknownOutcome(u8),
    /// A text field is not UTF-8.
    NotUtf8(&'static str),
    /// Bytes left over after the last field.
    TrailingBytes(usize),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Truncated(field) => write!(f, "record truncated in field '{field}'"),
            DecodeError::UnknownVersion(v) => write!(f, "unknown record version {v}"),
            DecodeError::UnknownOutcome(o) => write!(f, "unknown record outcome {o}"),
            DecodeError::NotUtf8(field) => write!(f, "record field '{field}' is not UTF-8"),
            DecodeError::TrailingBytes(n) => write!(f, "{n} bytes after the record's last field"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Codec version 1. A new layout gets a new number, so a mixed fleet during an upgrade fails loudly.
const VERSION: u8 = 1;

/// Encodes a record into a queue item.
///
/// ```
/// use shadow_compare::record::{decode, encode, Record};
/// let r = Record { request_id: "abc".into(), body: b"{}".to_vec(), ..Record::default() };
/// assert_eq!(decode(&encode(&r)).ok(), Some(r));
/// ```
pub fn encode(r: &Record) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded_len(r));
    encode_into(&mut out, r, r.outcome);
    out
}

fn encoded_len(r: &Record) -> usize {
    let text_len = r.request_id.len() + r.cluster.len() + r.method.len() + r.path.len() + r.content_encoding.len();
    1 + 1 + 2 + 8 + 8 + 7 * 4 + text_len + r.body.len() + r.request_body.len()
}

/// Appends `r` encoded, with `outcome` in place of its own (a shadow's `Started` marker is its record so far).
fn encode_into(out: &mut Vec<u8>, r: &Record, outcome: Outcome) {
    out.push(VERSION);
    out.push(outcome.to_byte());
    out.extend_from_slice(&r.status.to_le_bytes());
    out.extend_from_slice(&r.latency_us.to_le_bytes());
    out.extend_from_slice(&r.start_ms.to_le_bytes());
    for field in [&r.request_id, &r.cluster, &r.method, &r.path, &r.content_encoding] {
        put_bytes(out, field.as_bytes());
    }
    put_bytes(out, &r.body);
    put_bytes(out, &r.request_body);
}

/// Batch codec version: a queue item holding several records.
const BATCH_VERSION: u8 = 2;

/// Records a capture gathers before one enqueue.
///
/// Each enqueue makes Envoy post a callback to the main thread, which wakes it: measured at 12-30 us of
/// worker time plus ~14 us of main-thread time per item, whatever its size. So captures append records
/// here and hand the batch over every few milliseconds or when it is full (see `wasm::capture`). Layout:
/// the batch version byte, then for each record its length (u32) and its encoding.
///
/// ```
/// use shadow_compare::record::{split, decode, Batch, Outcome, Record};
/// let r = Record { request_id: "abc".into(), body: b"{}".to_vec(), ..Record::default() };
/// let mut batch = Batch::default();
/// batch.push_as(&r, Outcome::Started);
/// batch.push(&r);
/// let parts: Vec<_> = split(batch.item().unwrap()).map(|p| decode(p.unwrap()).unwrap().outcome).collect();
/// assert_eq!(parts, [Outcome::Started, Outcome::Complete]);
/// batch.clear();
/// assert!(batch.item().is_none());
/// ```
#[derive(Debug, Default)]
pub struct Batch {
    buf: Vec<u8>,
    records: usize,
}

impl Batch {
    /// Appends a record as it is.
    pub fn push(&mut self, r: &Record) {
        self.push_as(r, r.outcome);
    }

    /// Appends a record with another outcome (the shadow's `Started` marker).
    pub fn push_as(&mut self, r: &Record, outcome: Outcome) {
        if self.buf.is_empty() {
            self.buf.push(BATCH_VERSION);
        }
        let len = encoded_len(r);
        self.buf.reserve(4 + len);
        self.buf.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
        encode_into(&mut self.buf, r, outcome);
        self.records += 1;
    }

    /// Records in the batch.
    pub fn len(&self) -> usize {
        self.records
    }

    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Bytes in the batch.
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    /// The queue item; `None` when there is nothing to send.
    pub fn item(&self) -> Option<&[u8]> {
        (self.records > 0).then_some(self.buf.as_slice())
    }

    /// Empties the batch once its item is sent. The buffer keeps its allocation, so the next batch on
    /// this worker is written without growing a new one.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.records = 0;
    }
}

/// The records in a queue item: a batch's parts, or the item itself when it is a single record.
/// A damaged batch yields an error for the part that does not fit and stops.
pub fn split(item: &[u8]) -> Split<'_> {
    match item.split_first() {
        Some((&BATCH_VERSION, rest)) => Split { rest, single: None },
        _ => Split { rest: &[], single: Some(item) },
    }
}

/// Iterator returned by [`split`].
#[derive(Debug)]
pub struct Split<'a> {
    rest: &'a [u8],
    single: Option<&'a [u8]>,
}

impl<'a> Iterator for Split<'a> {
    type Item = Result<&'a [u8], DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(one) = self.single.take() {
            return Some(Ok(one));
        }
        if self.rest.is_empty() {
            return None;
        }
        let mut r = Reader { buf: self.rest };
        let part = r.bytes("batch");
        self.rest = if part.is_ok() { r.buf } else { &[] };
        Some(part)
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    // Bodies are bounded far below 4 GiB by config validation, so u32 lengths cannot wrap.
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(bytes.get(..len as usize).unwrap_or(bytes));
}

/// Decodes a queue item. Any malformed input is an error, never a panic.
pub fn decode(buf: &[u8]) -> Result<Record, DecodeError> {
    let mut r = Reader { buf };
    let version = r.u8("version")?;
    if version != VERSION {
        return Err(DecodeError::UnknownVersion(version));
    }
    let outcome_byte = r.u8("outcome")?;
    let outcome = Outcome::from_byte(outcome_byte).ok_or(DecodeError::UnknownOutcome(outcome_byte))?;
    let status = u16::from_le_bytes(r.array::<2>("status")?);
    let latency_us = u64::from_le_bytes(r.array::<8>("latency_us")?);
    let start_ms = u64::from_le_bytes(r.array::<8>("start_ms")?);
    let request_id = r.text("request_id")?;
    let cluster = r.text("cluster")?;
    let method = r.text("method")?;
    let path = r.text("path")?;
    let content_encoding = r.text("content_encoding")?;
    let body = r.bytes("body")?.to_vec();
    let request_body = r.bytes("request_body")?.to_vec();
    if !r.buf.is_empty() {
        return Err(DecodeError::TrailingBytes(r.buf.len()));
    }
    Ok(Record {
        request_id,
        cluster,
        method,
        path,
        status,
        outcome,
        latency_us,
        start_ms,
        content_encoding,
        body,
        request_body,
    })
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let (head, tail) = self.buf.split_at_checked(n).ok_or(DecodeError::Truncated(field))?;
        self.buf = tail;
        Ok(head)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(field)?[0])
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(N, field)?;
        <[u8; N]>::try_from(bytes).map_err(|_| DecodeError::Truncated(field))
    }

    fn bytes(&mut self, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = u32::from_le_bytes(self.array::<4>(field)?) as usize;
        self.take(len, field)
    }

    fn text(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let bytes = self.bytes(field)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::NotUtf8(field))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Record {
        Record {
            request_id: "5f1c-42".into(),
            cluster: "shadow_model".into(),
            method: "POST".into(),
            path: "/embed?x=1".into(),
            status: 503,
            outcome: Outcome::Truncated,
            latency_us: 12_345,
            start_ms: 1_700_000_000_123,
            content_encoding: "gzip".into(),
            body: vec![0, 159, 146, 150, 255],
            request_body: b"{\"input\":\"hi\"}".to_vec(),
        }
    }

    #[test]
    fn round_trips_every_field() {
        let r = sample();
        assert_eq!(decode(&encode(&r)), Ok(r));
        for o in [Outcome::Started, Outcome::Complete, Outcome::Truncated, Outcome::Reset, Outcome::NoResponse, Outcome::Shed] {
            let r = Record { outcome: o, ..sample() };
            assert_eq!(decode(&encode(&r)).map(|d| d.outcome), Ok(o));
        }
    }

    #[test]
    fn batches_split_into_their_records_and_damage_is_an_error() {
        let mut batch = Batch::default();
        assert!(batch.is_empty());
        let a = sample();
        let b = Record { request_id: "b".into(), outcome: Outcome::Shed, ..Record::default() };
        batch.push(&a);
        batch.push_as(&a, Outcome::Started);
        batch.push(&b);
        assert_eq!((batch.len(), batch.bytes()), (3, 1 + 3 * 4 + 2 * encode(&a).len() + encode(&b).len()));
        let item = batch.item().unwrap().to_vec();
        let got: Vec<Record> = split(&item).map(|p| decode(p.unwrap()).unwrap()).collect();
        assert_eq!(got, [a.clone(), Record { outcome: Outcome::Started, ..a.clone() }, b.clone()]);
        // A single record is still an item of its own.
        assert_eq!(split(&encode(&a)).map(|p| p.unwrap().to_vec()).collect::<Vec<_>>(), [encode(&a)]);
        // Cut anywhere: the whole parts come out, then (unless the cut is between parts) one error, then nothing.
        let (la, lb) = (4 + encode(&a).len(), 4 + encode(&b).len());
        let boundaries = [1, 1 + la, 1 + 2 * la, 1 + 2 * la + lb];
        for cut in 1..=item.len() {
            let parts: Vec<_> = split(&item[..cut]).collect();
            let whole = boundaries.iter().filter(|&&b| b <= cut).count() - 1;
            assert!(parts.iter().take(whole).all(|p| p.is_ok()), "cut at {cut}");
            let errors = usize::from(!boundaries.contains(&cut));
            assert_eq!((parts.len(), parts.iter().filter(|p| p.is_err()).count()), (whole + errors, errors), "cut at {cut}");
        }
        assert_eq!(split(&[BATCH_VERSION]).count(), 0);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = encode(&sample());
        for n in 0..bytes.len() {
            assert!(decode(&bytes[..n]).is_err(), "prefix of {n} bytes decoded");
        }
    }

    #[test]
    fn rejects_bad_version_outcome_utf8_and_trailing_bytes() {
        let mut bytes = encode(&sample());
        bytes[0] = 9;
        assert_eq!(decode(&bytes), Err(DecodeError::UnknownVersion(9)));
        let mut bytes = encode(&sample());
        bytes[1] = 77;
        assert_eq!(decode(&bytes), Err(DecodeError::UnknownOutcome(77)));
        let r = Record { request_id: "ab".into(), ..Record::default() };
        let mut bytes = encode(&r);
        // request_id starts after version, outcome, status, latency, start and its 4-byte length.
        bytes[1 + 1 + 2 + 8 + 8 + 4] = 0xff;
        assert_eq!(decode(&bytes), Err(DecodeError::NotUtf8("request_id")));
        let mut bytes = encode(&sample());
        bytes.push(0);
        assert_eq!(decode(&bytes), Err(DecodeError::TrailingBytes(1)));
    }
}
