//! The capture filter's logic: what to copy from one upstream exchange, and the record it becomes.
//!
//! Runs on a worker thread for every request through the production and shadow clusters, so it only
//! copies: request metadata at request headers, the response status and encoding, and response body
//! chunks up to `max_body_bytes` (a longer body is marked truncated, the rest is not copied). It never
//! parses or scores. The glue in `wasm::capture` feeds it host callbacks; records go into the worker's
//! [`Batch`], which the glue enqueues.

use crate::config::{CaptureConfig, Role};
use crate::health::Admission;
use crate::record::{Batch, Outcome, Record};

/// A capture hands its batch to the compare service at least this often (from its root context's tick).
pub const FLUSH_EVERY_MS: u64 = 10;
/// ... or as soon as the batch holds this many records,
pub const MAX_BATCH_RECORDS: usize = 64;
/// ... or this many bytes (so a worker never holds more than this per capture plugin).
pub const MAX_BATCH_BYTES: usize = 1 << 20;

/// Whether a batch should be enqueued now rather than at the next tick.
pub fn batch_full(batch: &Batch) -> bool {
    batch.len() >= MAX_BATCH_RECORDS || batch.bytes() >= MAX_BATCH_BYTES
}

/// What the filter should do with a request, decided at request headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestDecision {
    /// Capture it (on the shadow side, [`Capture::start`] already added the `Started` marker to the batch).
    Capture,
    /// No `x-request-id`: it cannot be paired, so nothing is copied.
    NoRequestId,
    /// A shadow request whose method is not allowed: answer it locally, never send it on.
    Block,
    /// The compare service has been silent past `compare_heartbeat_timeout_ms`: nothing is copied,
    /// so nothing piles up in a queue no one drains.
    CompareDown,
}

/// What the request headers said, as the glue read them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Request<'a> {
    /// `x-request-id`, if present.
    pub id: Option<&'a str>,
    pub method: &'a str,
    pub path: &'a str,
    /// The upstream cluster (`xds.cluster_name`).
    pub cluster: &'a str,
}

/// One exchange being captured.
#[derive(Debug)]
pub struct Capture {
    record: Record,
    max_body_bytes: usize,
    started_us: u64,
    response_seen: bool,
    finished: bool,
    /// The compare service's backlog was half full at the start: copy no body, send a `Shed` record.
    shed: bool,
}

impl Capture {
    /// Starts a capture at request headers. `now_us` is wall-clock microseconds since the epoch;
    /// `admission` is what the compare service's heartbeat allows (see [`crate::health`]). On the shadow
    /// side the `Started` marker goes into `batch` at once, ahead of any record of this request.
    ///
    /// ```
    /// use shadow_compare::capture::{Capture, Request, RequestDecision};
    /// use shadow_compare::config::CaptureConfig;
    /// use shadow_compare::health::Admission;
    /// use shadow_compare::record::Batch;
    /// let cfg = CaptureConfig::parse(br#"{"role": "shadow"}"#).unwrap();
    /// let mut batch = Batch::default();
    /// let req = Request { id: Some("id-1"), method: "DELETE", path: "/embed", cluster: "shadow_model" };
    /// let (_, d) = Capture::start(&cfg, &req, 0, Admission::Capture, &mut batch);
    /// assert_eq!(d, RequestDecision::Block);
    /// assert!(batch.is_empty());
    /// ```
    pub fn start(
        cfg: &CaptureConfig,
        req: &Request<'_>,
        now_us: u64,
        admission: Admission,
        batch: &mut Batch,
    ) -> (Option<Capture>, RequestDecision) {
        let Request { id: request_id, method, path, cluster } = *req;
        // Blocking protects the outside world: it holds whatever the compare service's state.
        if cfg.role == Role::Shadow && !cfg.allowed_methods.iter().any(|m| m.eq_ignore_ascii_case(method)) {
            return (None, RequestDecision::Block);
        }
        let Some(request_id) = request_id.filter(|id| !id.is_empty()) else {
            return (None, RequestDecision::NoRequestId);
        };
        if admission == Admission::CompareDown {
            return (None, RequestDecision::CompareDown);
        }
        let record = Record {
            request_id: request_id.to_string(),
            cluster: cluster.to_string(),
            method: method.to_string(),
            path: path.to_string(),
            start_ms: now_us / 1_000,
            ..Record::default()
        };
        if cfg.role == Role::Shadow {
            batch.push_as(&record, Outcome::Started);
        }
        let capture = Capture {
            record,
            max_body_bytes: cfg.max_body_bytes,
            started_us: now_us,
            response_seen: false,
            finished: false,
            shed: admission == Admission::Shed,
        };
        (Some(capture), RequestDecision::Capture)
    }

    /// Response headers arrived.
    pub fn on_response_headers(&mut self, status: u16, content_encoding: Option<&str>) {
        self.response_seen = true;
        self.record.status = status;
        self.record.content_encoding = content_encoding.map(|e| e.trim().to_ascii_lowercase()).unwrap_or_default();
    }

    /// How many bytes of a `chunk_len`-byte chunk to copy: the glue asks the host for no more than this.
    pub fn wanted(&self, chunk_len: usize) -> usize {
        if self.shed {
            return 0;
        }
        chunk_len.min(self.max_body_bytes.saturating_sub(self.record.body.len()))
    }

    /// A response body chunk of `chunk_len` bytes, of which `copied` were copied (see [`Capture::wanted`]).
    pub fn on_body_chunk(&mut self, chunk_len: usize, copied: &[u8]) {
        self.record.body.extend_from_slice(copied);
        if chunk_len > copied.len() && !self.shed {
            self.record.outcome = Outcome::Truncated;
        }
    }

    /// How many request body bytes to copy for samples (0 unless configured).
    pub fn wanted_request(&self, cfg: &CaptureConfig, chunk_len: usize) -> usize {
        if self.shed {
            return 0;
        }
        chunk_len.min(cfg.max_request_body_bytes.saturating_sub(self.record.request_body.len()))
    }

    /// A request body chunk's copied bytes.
    pub fn on_request_chunk(&mut self, copied: &[u8]) {
        self.record.request_body.extend_from_slice(copied);
    }

    /// The response ended (`complete`) or the stream closed early (`!complete`, from `on_done`). Adds the
    /// record to `batch` the first time only; returns whether it did.
    ///
    /// ```
    /// use shadow_compare::capture::{Capture, Request};
    /// use shadow_compare::config::CaptureConfig;
    /// use shadow_compare::health::Admission;
    /// use shadow_compare::record::{decode, split, Batch, Outcome};
    /// let cfg = CaptureConfig::parse(br#"{"role": "primary", "max_body_bytes": 4}"#).unwrap();
    /// let mut batch = Batch::default();
    /// let req = Request { id: Some("id-1"), method: "POST", path: "/embed", cluster: "prod" };
    /// let (c, _) = Capture::start(&cfg, &req, 1_000_000, Admission::Capture, &mut batch);
    /// let mut c = c.unwrap();
    /// c.on_response_headers(200, None);
    /// let want = c.wanted(6);
    /// c.on_body_chunk(6, &b"abcdef"[..want]);
    /// assert!(c.finish(true, 1_250_000, &mut batch));
    /// assert!(!c.finish(false, 2_000_000, &mut batch));
    /// let r = decode(split(batch.item().unwrap()).next().unwrap().unwrap()).unwrap();
    /// assert_eq!((r.body.as_slice(), r.outcome, r.latency_us), (&b"abcd"[..], Outcome::Truncated, 250_000));
    /// ```
    pub fn finish(&mut self, complete: bool, now_us: u64, batch: &mut Batch) -> bool {
        if self.finished {
            return false;
        }
        self.finished = true;
        self.record.latency_us = now_us.saturating_sub(self.started_us);
        if !complete {
            self.record.outcome = if self.response_seen { Outcome::Reset } else { Outcome::NoResponse };
        } else if self.shed {
            self.record.outcome = Outcome::Shed;
        }
        batch.push(&self.record);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{decode, split};

    fn cfg(json: &str) -> CaptureConfig {
        CaptureConfig::parse(json.as_bytes()).unwrap()
    }

    fn start(c: &CaptureConfig, id: Option<&str>, method: &str, now_us: u64, a: Admission) -> (Option<Capture>, RequestDecision, Vec<Record>) {
        let mut batch = Batch::default();
        let req = Request { id, method, path: "/embed", cluster: "v2" };
        let (cap, d) = Capture::start(c, &req, now_us, a, &mut batch);
        (cap, d, drain(&mut batch))
    }

    fn drain(batch: &mut Batch) -> Vec<Record> {
        let records = batch.item().map(|item| split(item).map(|p| decode(p.unwrap()).unwrap()).collect());
        batch.clear();
        records.unwrap_or_default()
    }

    fn finish(cap: &mut Capture, complete: bool, now_us: u64) -> Option<Record> {
        let mut batch = Batch::default();
        cap.finish(complete, now_us, &mut batch).then(|| drain(&mut batch).pop()).flatten()
    }

    #[test]
    fn primary_captures_without_marker() {
        let (c, d, sent) = start(&cfg(r#"{"role": "primary"}"#), Some("r1"), "POST", 5_000, Admission::Capture);
        assert_eq!((d, sent.len()), (RequestDecision::Capture, 0));
        let mut c = c.unwrap();
        c.on_response_headers(200, Some(" GZIP "));
        c.on_body_chunk(3, b"abc");
        c.on_body_chunk(2, b"de");
        let r = finish(&mut c, true, 9_000).unwrap();
        assert_eq!(r.request_id, "r1");
        assert_eq!(r.cluster, "v2");
        assert_eq!(r.path, "/embed");
        assert_eq!(r.status, 200);
        assert_eq!(r.content_encoding, "gzip");
        assert_eq!(r.body, b"abcde");
        assert_eq!(r.outcome, Outcome::Complete);
        assert_eq!(r.latency_us, 4_000);
        assert_eq!(r.start_ms, 5);
    }

    #[test]
    fn shadow_sends_a_started_marker_and_blocks_methods() {
        let c = cfg(r#"{"role": "shadow"}"#);
        let (_, d, sent) = start(&c, Some("r1"), "post", 0, Admission::Capture);
        assert_eq!(d, RequestDecision::Capture);
        let m = &sent[..];
        assert_eq!(m.len(), 1);
        assert_eq!((m[0].outcome, m[0].request_id.as_str(), m[0].cluster.as_str()), (Outcome::Started, "r1", "v2"));
        assert_eq!(start(&c, Some("r1"), "PUT", 0, Admission::Capture).1, RequestDecision::Block);
        assert_eq!(start(&c, None, "GET", 0, Admission::Capture).1, RequestDecision::NoRequestId);
        assert_eq!(start(&c, Some(""), "GET", 0, Admission::Capture).1, RequestDecision::NoRequestId);
        assert!(start(&c, Some("r1"), "PUT", 0, Admission::Capture).2.is_empty(), "no marker for a blocked request");
    }

    #[test]
    fn early_close_is_no_response_or_reset() {
        let c = cfg(r#"{"role": "shadow"}"#);
        let mut a = start(&c, Some("a"), "GET", 0, Admission::Capture).0.unwrap();
        assert_eq!(finish(&mut a, false, 10).unwrap().outcome, Outcome::NoResponse);
        let mut b = start(&c, Some("b"), "GET", 0, Admission::Capture).0.unwrap();
        b.on_response_headers(200, None);
        b.on_body_chunk(1, b"{");
        assert_eq!(finish(&mut b, false, 10).unwrap().outcome, Outcome::Reset);
        assert!(finish(&mut b, true, 20).is_none(), "a record is enqueued once");
    }

    #[test]
    fn compare_down_copies_nothing_but_still_blocks() {
        let c = cfg(r#"{"role": "shadow"}"#);
        let (cap, d, sent) = start(&c, Some("a"), "POST", 0, Admission::CompareDown);
        assert!(cap.is_none() && sent.is_empty());
        assert_eq!(d, RequestDecision::CompareDown);
        assert_eq!(start(&c, Some("a"), "PUT", 0, Admission::CompareDown).1, RequestDecision::Block);
    }

    #[test]
    fn shed_keeps_status_and_latency_but_no_body() {
        let c = cfg(r#"{"role": "primary", "max_request_body_bytes": 100}"#);
        let mut cap = start(&c, Some("a"), "POST", 1_000, Admission::Shed).0.unwrap();
        assert_eq!(cap.wanted_request(&c, 10), 0);
        assert_eq!(cap.wanted(10), 0);
        cap.on_response_headers(200, None);
        cap.on_body_chunk(10, b"");
        let r = finish(&mut cap, true, 3_000).unwrap();
        assert_eq!((r.outcome, r.status, r.latency_us, r.body.len()), (Outcome::Shed, 200, 2_000, 0));
        // A failure is still a failure: errors are counted whether or not the pair would be scored.
        let mut cap = start(&c, Some("b"), "POST", 0, Admission::Shed).0.unwrap();
        assert_eq!(finish(&mut cap, false, 1).unwrap().outcome, Outcome::NoResponse);
    }

    #[test]
    fn body_copy_stops_at_the_bound() {
        let c = cfg(r#"{"role": "primary", "max_body_bytes": 5}"#);
        let mut cap = start(&c, Some("a"), "GET", 0, Admission::Capture).0.unwrap();
        assert_eq!(cap.wanted(3), 3);
        cap.on_body_chunk(3, b"abc");
        assert_eq!(cap.wanted(3), 2);
        cap.on_body_chunk(3, b"de");
        assert_eq!(cap.wanted(1_000_000), 0);
        cap.on_body_chunk(1_000_000, b"");
        let r = finish(&mut cap, true, 0).unwrap();
        assert_eq!((r.body.as_slice(), r.outcome), (&b"abcde"[..], Outcome::Truncated));
    }
}
