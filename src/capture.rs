//! The capture filter's logic: what to copy from one upstream exchange, and the record it becomes.
//!
//! Runs on a worker thread for every request through the production and shadow clusters, so it only
//! copies: request metadata at request headers, the response status and encoding, and response body
//! chunks up to `max_body_bytes` (a longer body is marked truncated, the rest is not copied). It never
//! parses or scores. The glue in `wasm::capture` feeds it host callbacks and enqueues what it returns.

use crate::config::{CaptureConfig, Role};
use crate::health::Admission;
use crate::record::{encode, Outcome, Record};

/// What the filter should do with a request, decided at request headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestDecision {
    /// Capture it. On the shadow side, `started` is a marker record to enqueue now.
    Capture { started: Option<Vec<u8>> },
    /// No `x-request-id`: it cannot be paired, so nothing is copied.
    NoRequestId,
    /// A shadow request whose method is not allowed: answer it locally, never send it on.
    Block,
    /// The compare service has been silent past `compare_heartbeat_timeout_ms`: nothing is copied,
    /// so nothing piles up in a queue no one drains.
    CompareDown,
}

/// One exchange being captured.
#[derive(Debug)]
pub struct Capture {
    record: Record,
    max_body_bytes: usize,
    started_us: u64,
    response_seen: bool,
    finished: bool,
    /// The compare service's backlog was full at the start: copy no body, send a `Shed` record.
    shed: bool,
}

impl Capture {
    /// Starts a capture at request headers. `now_us` is wall-clock microseconds since the epoch;
    /// `admission` is what the compare service's heartbeat allows (see [`crate::health`]).
    ///
    /// ```
    /// use shadow_compare::capture::{Capture, RequestDecision};
    /// use shadow_compare::config::CaptureConfig;
    /// use shadow_compare::health::Admission;
    /// let cfg = CaptureConfig::parse(br#"{"role": "shadow"}"#).unwrap();
    /// let (_, d) = Capture::start(&cfg, Some("id-1"), "DELETE", "/embed", "shadow_model", 0, Admission::Capture);
    /// assert_eq!(d, RequestDecision::Block);
    /// ```
    pub fn start(
        cfg: &CaptureConfig,
        request_id: Option<&str>,
        method: &str,
        path: &str,
        cluster: &str,
        now_us: u64,
        admission: Admission,
    ) -> (Option<Capture>, RequestDecision) {
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
        let mut record = Record {
            request_id: request_id.to_string(),
            cluster: cluster.to_string(),
            method: method.to_string(),
            path: path.to_string(),
            start_ms: now_us / 1_000,
            ..Record::default()
        };
        // The marker is this record with another outcome: encode it in place rather than clone it.
        let started = (cfg.role == Role::Shadow).then(|| {
            record.outcome = Outcome::Started;
            let marker = encode(&record);
            record.outcome = Outcome::Complete;
            marker
        });
        let capture = Capture {
            record,
            max_body_bytes: cfg.max_body_bytes,
            started_us: now_us,
            response_seen: false,
            finished: false,
            shed: admission == Admission::Shed,
        };
        (Some(capture), RequestDecision::Capture { started })
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

    /// The response ended (`complete`) or the stream closed early (`!complete`, from `on_done`). Returns
    /// the record to enqueue the first time only.
    ///
    /// ```
    /// use shadow_compare::capture::Capture;
    /// use shadow_compare::config::CaptureConfig;
    /// use shadow_compare::health::Admission;
    /// use shadow_compare::record::{decode, Outcome};
    /// let cfg = CaptureConfig::parse(br#"{"role": "primary", "max_body_bytes": 4}"#).unwrap();
    /// let (c, _) = Capture::start(&cfg, Some("id-1"), "POST", "/embed", "prod", 1_000_000, Admission::Capture);
    /// let mut c = c.unwrap();
    /// c.on_response_headers(200, None);
    /// let want = c.wanted(6);
    /// c.on_body_chunk(6, &b"abcdef"[..want]);
    /// let r = decode(&c.finish(true, 1_250_000).unwrap()).unwrap();
    /// assert_eq!((r.body.as_slice(), r.outcome, r.latency_us), (&b"abcd"[..], Outcome::Truncated, 250_000));
    /// assert!(c.finish(false, 2_000_000).is_none());
    /// ```
    pub fn finish(&mut self, complete: bool, now_us: u64) -> Option<Vec<u8>> {
        if self.finished {
            return None;
        }
        self.finished = true;
        self.record.latency_us = now_us.saturating_sub(self.started_us);
        if !complete {
            self.record.outcome = if self.response_seen { Outcome::Reset } else { Outcome::NoResponse };
        } else if self.shed {
            self.record.outcome = Outcome::Shed;
        }
        Some(encode(&self.record))
    }

}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::decode;

    fn cfg(json: &str) -> CaptureConfig {
        CaptureConfig::parse(json.as_bytes()).unwrap()
    }

    #[test]
    fn primary_captures_without_marker() {
        let (c, d) = Capture::start(&cfg(r#"{"role": "primary"}"#), Some("r1"), "POST", "/embed", "prod", 5_000, Admission::Capture);
        assert_eq!(d, RequestDecision::Capture { started: None });
        let mut c = c.unwrap();
        c.on_response_headers(200, Some(" GZIP "));
        c.on_body_chunk(3, b"abc");
        c.on_body_chunk(2, b"de");
        let r = decode(&c.finish(true, 9_000).unwrap()).unwrap();
        assert_eq!(r.request_id, "r1");
        assert_eq!(r.cluster, "prod");
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
        let (_, d) = Capture::start(&c, Some("r1"), "post", "/embed", "v2", 0, Admission::Capture);
        let RequestDecision::Capture { started: Some(marker) } = d else { panic!("{d:?}") };
        let m = decode(&marker).unwrap();
        assert_eq!((m.outcome, m.request_id.as_str(), m.cluster.as_str()), (Outcome::Started, "r1", "v2"));
        assert_eq!(Capture::start(&c, Some("r1"), "PUT", "/embed", "v2", 0, Admission::Capture).1, RequestDecision::Block);
        assert_eq!(Capture::start(&c, None, "GET", "/embed", "v2", 0, Admission::Capture).1, RequestDecision::NoRequestId);
        assert_eq!(Capture::start(&c, Some(""), "GET", "/embed", "v2", 0, Admission::Capture).1, RequestDecision::NoRequestId);
    }

    #[test]
    fn early_close_is_no_response_or_reset() {
        let c = cfg(r#"{"role": "shadow"}"#);
        let mut a = Capture::start(&c, Some("a"), "GET", "/", "v2", 0, Admission::Capture).0.unwrap();
        assert_eq!(decode(&a.finish(false, 10).unwrap()).unwrap().outcome, Outcome::NoResponse);
        let mut b = Capture::start(&c, Some("b"), "GET", "/", "v2", 0, Admission::Capture).0.unwrap();
        b.on_response_headers(200, None);
        b.on_body_chunk(1, b"{");
        assert_eq!(decode(&b.finish(false, 10).unwrap()).unwrap().outcome, Outcome::Reset);
        assert!(b.finish(true, 20).is_none(), "a record is enqueued once");
    }

    #[test]
    fn compare_down_copies_nothing_but_still_blocks() {
        let c = cfg(r#"{"role": "shadow"}"#);
        let (cap, d) = Capture::start(&c, Some("a"), "POST", "/", "v2", 0, Admission::CompareDown);
        assert!(cap.is_none());
        assert_eq!(d, RequestDecision::CompareDown);
        assert_eq!(Capture::start(&c, Some("a"), "PUT", "/", "v2", 0, Admission::CompareDown).1, RequestDecision::Block);
    }

    #[test]
    fn shed_keeps_status_and_latency_but_no_body() {
        let c = cfg(r#"{"role": "primary", "max_request_body_bytes": 100}"#);
        let mut cap = Capture::start(&c, Some("a"), "POST", "/", "p", 1_000, Admission::Shed).0.unwrap();
        assert_eq!(cap.wanted_request(&c, 10), 0);
        assert_eq!(cap.wanted(10), 0);
        cap.on_response_headers(200, None);
        cap.on_body_chunk(10, b"");
        let r = decode(&cap.finish(true, 3_000).unwrap()).unwrap();
        assert_eq!((r.outcome, r.status, r.latency_us, r.body.len()), (Outcome::Shed, 200, 2_000, 0));
        // A failure is still a failure: errors are counted whether or not the pair would be scored.
        let mut cap = Capture::start(&c, Some("b"), "POST", "/", "p", 0, Admission::Shed).0.unwrap();
        assert_eq!(decode(&cap.finish(false, 1).unwrap()).unwrap().outcome, Outcome::NoResponse);
    }

    #[test]
    fn body_copy_stops_at_the_bound() {
        let c = cfg(r#"{"role": "primary", "max_body_bytes": 5}"#);
        let mut cap = Capture::start(&c, Some("a"), "GET", "/", "p", 0, Admission::Capture).0.unwrap();
        assert_eq!(cap.wanted(3), 3);
        cap.on_body_chunk(3, b"abc");
        assert_eq!(cap.wanted(3), 2);
        cap.on_body_chunk(3, b"de");
        assert_eq!(cap.wanted(1_000_000), 0);
        cap.on_body_chunk(1_000_000, b"");
        let r = decode(&cap.finish(true, 0).unwrap()).unwrap();
        assert_eq!((r.body.as_slice(), r.outcome), (&b"abcde"[..], Outcome::Truncated));
    }
}
