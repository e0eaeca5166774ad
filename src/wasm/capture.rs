//! The capture filter's glue: an UPSTREAM HTTP filter on the production cluster and each shadow cluster.
//!
//! It feeds host callbacks to [`crate::capture::Capture`], which adds records to this worker's batch; the
//! batch goes onto the compare service's queue every `FLUSH_EVERY_MS` (root context tick, which runs only while
//! the batch holds records) or when full.
//! Every callback returns `Continue`: the filter never pauses or changes a response. Request headers are
//! read only in `on_http_request_headers` (they are unreadable later), and each header map is read whole, in
//! one host call ([`crate::headers`]).

use super::host;
use crate::capture::{batch_full, Capture, Request, RequestDecision, FLUSH_EVERY_MS};
use crate::config::{CaptureConfig, Role};
use crate::headers::Headers;
use crate::health::{self, Admission, HeartbeatView, Poll};
use crate::record::Batch;
use crate::stats::{self, MetricKind, Metrics};
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;
use std::cell::Cell;
use std::rc::Rc;

/// Per-plugin state shared by every request on this worker.
pub struct CaptureShared {
    pub cfg: CaptureConfig,
    /// Resolved lazily: the compare service may register its queue after workers start.
    queue: Cell<Option<u32>>,
    /// Records not yet enqueued (taken out and put back around each use: no borrow can fail).
    batch: Cell<Batch>,
    heartbeat_queue_name: String,
    heartbeat_queue: Cell<Option<u32>>,
    /// This root context's tick, which flushes the batch while it holds records; see [`CaptureShared::on_tick`].
    tick: host::TickPeriod,
    /// What this worker's plugin last learned of the compare service.
    view: Cell<HeartbeatView>,
    enqueue_failed: u32,
    blocked: u32,
    no_request_id: u32,
    compare_down: u32,
    shed: u32,
}

impl CaptureShared {
    pub fn new(cfg: CaptureConfig) -> Result<CaptureShared, String> {
        let mut m = host::HostMetrics;
        Ok(CaptureShared {
            heartbeat_queue_name: health::queue_name(&cfg.queue),
            heartbeat_queue: Cell::new(None),
            tick: host::TickPeriod::stopped(),
            view: Cell::new(HeartbeatView::new(cfg.compare_heartbeat_timeout_ms)),
            cfg,
            queue: Cell::new(None),
            batch: Cell::new(Batch::default()),
            enqueue_failed: m.define(MetricKind::Counter, stats::CAPTURE_ENQUEUE_FAILED)?,
            blocked: m.define(MetricKind::Counter, stats::CAPTURE_BLOCKED)?,
            no_request_id: m.define(MetricKind::Counter, stats::CAPTURE_NO_REQUEST_ID)?,
            compare_down: m.define(MetricKind::Counter, stats::CAPTURE_COMPARE_DOWN)?,
            shed: m.define(MetricKind::Counter, stats::CAPTURE_SHED)?,
        })
    }

    /// What the compare service's heartbeat allows for a request starting now (polled at most every
    /// `health::POLL_EVERY_MS`, so most requests only compare two numbers).
    fn admission(&self, now_ms: u64) -> Admission {
        let mut view = self.view.get();
        if view.poll_due(now_ms) {
            view.observe(&self.poll_heartbeat(), now_ms);
            self.view.set(view);
        }
        view.admission(now_ms)
    }

    /// Reads the heartbeat and puts it back for the other captures (workers, clusters).
    fn poll_heartbeat(&self) -> Poll {
        let queue = match self.heartbeat_queue.get() {
            Some(q) => q,
            None => match host::resolve_queue(&self.cfg.compare_vm_id, &self.heartbeat_queue_name) {
                Ok(Some(q)) => {
                    self.heartbeat_queue.set(Some(q));
                    q
                }
                _ => return Poll::NoQueue,
            },
        };
        match host::dequeue(queue) {
            Ok(Some(item)) => {
                if let Err(status) = host::enqueue(queue, &item) {
                    log::warn!("shadow_compare: could not put the heartbeat back (status {status})");
                }
                Poll::Item(item)
            }
            Ok(None) => Poll::Empty,
            Err(_) => {
                self.heartbeat_queue.set(None);
                Poll::NoQueue
            }
        }
    }

    /// Lets `add` put records into the batch, and enqueues the batch at once if that filled it. A batch left
    /// holding records always has the tick running, to flush it.
    fn with_batch<R>(&self, add: impl FnOnce(&mut Batch) -> R) -> R {
        let mut batch = self.batch.take();
        let out = add(&mut batch);
        let (full, empty) = (batch_full(&batch), batch.is_empty());
        self.batch.set(batch);
        if full {
            self.flush();
        } else if !empty {
            // Until this succeeds (a failure is logged once), a batch is enqueued only when it fills.
            self.tick.set(FLUSH_EVERY_MS, "capture's");
        }
        out
    }

    /// The root context's tick: enqueues the batch, or, when a whole period brought no record, stops the tick.
    ///
    /// A tick wakes the thread and enters V8, which costs about the same whatever the module does in it, and
    /// Envoy also creates each plugin's root context on the main thread, where no request ever passes.
    /// Ticking every `FLUSH_EVERY_MS` for good cost an idle Envoy 12-16 ms of CPU a second per worker and 5.5
    /// ms on the main thread, for two capture plugins (one-off; docs/performance.md). So the tick runs only
    /// while records wait: the first record of a quiet spell starts it (in `with_batch`), and
    /// a tick that finds the batch empty stops it. Under steady load every tick finds records and it never
    /// stops. The period is set to zero here, inside the tick, and above zero only from a request's callback:
    /// Envoy replaces a root context's timer whenever the period is set above zero, which inside the tick
    /// would destroy the timer whose callback is running.
    pub fn on_tick(&self) {
        let batch = self.batch.take();
        let empty = batch.is_empty();
        self.batch.set(batch);
        if !empty {
            self.flush();
            return;
        }
        // If the host refuses, it keeps ticking and the next tick tries again.
        self.tick.set(0, "capture's");
    }

    /// Enqueues whatever the batch holds (called from the root context's tick, and when the batch fills).
    pub fn flush(&self) {
        let mut batch = self.batch.take();
        if let Some(item) = batch.item() {
            if !self.enqueue(item) {
                host::HostMetrics.add(self.enqueue_failed, batch.len() as u64);
            }
            batch.clear();
        }
        self.batch.set(batch);
    }

    /// Hands one item to the compare service's queue; false if it could not.
    fn enqueue(&self, item: &[u8]) -> bool {
        let queue = match self.queue.get() {
            Some(q) => Some(q),
            None => match host::resolve_queue(&self.cfg.compare_vm_id, &self.cfg.queue) {
                Ok(Some(q)) => {
                    self.queue.set(Some(q));
                    Some(q)
                }
                _ => None,
            },
        };
        let ok = queue.is_some_and(|q| host::enqueue(q, item).is_ok());
        if !ok {
            // A stale id (the compare VM restarted) resolves again next time.
            self.queue.set(None);
        }
        ok
    }
}

/// One upstream request through a captured cluster.
pub struct CaptureFilter {
    shared: Rc<CaptureShared>,
    capture: Option<Capture>,
}

impl CaptureFilter {
    pub fn new(shared: Rc<CaptureShared>) -> CaptureFilter {
        CaptureFilter { shared, capture: None }
    }

    fn finish(&mut self, complete: bool) {
        if let Some(c) = self.capture.as_mut() {
            self.shared.with_batch(|batch| c.finish(complete, host::now_us(), batch));
        }
    }
}

impl Context for CaptureFilter {
    fn on_done(&mut self) -> bool {
        // Reached without an end of stream: the upstream failed (connect error, timeout, reset).
        self.finish(false);
        true
    }
}

impl HttpContext for CaptureFilter {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        let cfg = &self.shared.cfg;
        let raw = host::header_map(host::REQUEST_HEADERS);
        // `None` when the map could not be read or decoded: every header then reads as absent (as a failed
        // one-header read did), and secrets are removed without looking first.
        let headers = raw.as_deref().ok().and_then(Headers::decode);
        #[cfg(feature = "fault-injection")]
        if cfg.role == Role::Shadow {
            super::fault::capture_panic_if_asked(headers.as_ref().and_then(|h| h.text(super::fault::HEADER)));
        }
        if cfg.role == Role::Shadow {
            for name in &cfg.strip_headers {
                if headers.as_ref().is_some_and(|h| h.get(name).is_none()) {
                    continue; // not in the request: nothing to remove
                }
                if let Err(status) = host::remove_header(host::REQUEST_HEADERS, name) {
                    log::warn!("shadow_compare: could not strip header '{name}' (status {status})");
                }
            }
        }
        let text = |name: &str| headers.as_ref().and_then(|h| h.text(name));
        let request_id = text("x-request-id");
        let method = text(":method").unwrap_or_default();
        let path = text(":path").unwrap_or_default();
        let cluster = host::property(&["xds", "cluster_name"])
            .ok()
            .flatten()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let now_us = host::now_us();
        let admission = self.shared.admission(now_us / 1_000);
        let req = Request { id: request_id, method, path, cluster: &cluster };
        let (capture, decision) = self.shared.with_batch(|batch| Capture::start(cfg, &req, now_us, admission, batch));
        match decision {
            RequestDecision::Capture => {
                if admission == Admission::Shed {
                    host::HostMetrics.add(self.shared.shed, 1);
                }
                self.capture = capture;
                Action::Continue
            }
            RequestDecision::CompareDown => {
                host::HostMetrics.add(self.shared.compare_down, 1);
                Action::Continue
            }
            RequestDecision::NoRequestId => {
                host::HostMetrics.add(self.shared.no_request_id, 1);
                Action::Continue
            }
            RequestDecision::Block => {
                host::HostMetrics.add(self.shared.blocked, 1);
                let body = b"shadow_compare: method not allowed on the shadow\n";
                match host::send_local_response(403, body, &[("content-type", "text/plain")]) {
                    // The local reply ends the mirror here: it never reaches the shadow service.
                    Ok(()) => Action::Pause,
                    Err(status) => {
                        log::error!("shadow_compare: could not block a {method} to the shadow (status {status})");
                        Action::Continue
                    }
                }
            }
        }
    }

    fn on_http_request_body(&mut self, body_size: usize, _: bool) -> Action {
        if let Some(c) = self.capture.as_mut() {
            let want = c.wanted_request(&self.shared.cfg, body_size);
            if want > 0 {
                if let Ok(bytes) = host::buffer(host::REQUEST_BODY, 0, want) {
                    c.on_request_chunk(&bytes);
                }
            }
        }
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _: usize, end_of_stream: bool) -> Action {
        if let Some(c) = self.capture.as_mut() {
            let raw = host::header_map(host::RESPONSE_HEADERS);
            let headers = raw.as_deref().ok().and_then(Headers::decode).unwrap_or_default();
            let status = headers.text(":status").and_then(|s| s.parse().ok()).unwrap_or(0);
            c.on_response_headers(status, headers.text("content-encoding"));
        }
        if end_of_stream {
            self.finish(true);
        }
        Action::Continue
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if let Some(c) = self.capture.as_mut() {
            let want = c.wanted(body_size);
            let copied = if want > 0 { host::buffer(host::RESPONSE_BODY, 0, want).unwrap_or_default() } else { Vec::new() };
            c.on_body_chunk(body_size, &copied);
        }
        if end_of_stream {
            self.finish(true);
        }
        Action::Continue
    }

    fn on_http_response_trailers(&mut self, _: usize) -> Action {
        self.finish(true);
        Action::Continue
    }
}
