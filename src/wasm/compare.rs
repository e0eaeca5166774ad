//! The compare service's glue: a singleton `envoy.bootstrap.wasm` service on Envoy's main thread.
//!
//! It registers the queue the captures write to, drains it whenever Envoy says it is ready (cheap: decode
//! and pair), and scores in slices of at most `slice_ms`, each followed by at least as long without
//! scoring. Envoy runs many queued callbacks back to back; without the gap, one slice per callback kept the
//! main thread busy for seconds under load and the admin endpoint stalled. A tick expires pairs and
//! scores what the last slice left.

use super::host;
use crate::compare::Comparator;
use crate::config::CompareConfig;
use crate::health::{self, Publisher};
use crate::stats::{self, MetricKind, Metrics};

/// How often the service wakes without new records: expiry resolution and leftover scoring.
pub const TICK_MS: u64 = 20;

pub struct CompareService {
    comparator: Comparator,
    queue: u32,
    /// Where captures read whether this service is alive and keeping up (see `health`).
    heartbeat_queue: u32,
    publisher: Publisher,
    /// Sample calls awaiting an answer: bounded, so a slow sink never piles up calls.
    in_flight: usize,
    samples_sent: u32,
    samples_failed: u32,
    /// No scoring slice starts before this time (µs): the main thread's share for everything else.
    next_slice_us: u64,
}

impl CompareService {
    /// Parses the config, defines every stat and registers the queue: any failure stops Envoy at startup.
    pub fn configure(json: &[u8]) -> Result<CompareService, String> {
        let cfg = CompareConfig::parse(json).map_err(|e| e.to_string())?;
        let queue_name = cfg.queue.clone();
        let comparator = Comparator::new(cfg, &mut host::HostMetrics)?;
        let queue = host::register_queue(&queue_name)
            .map_err(|s| format!("queue: could not register '{queue_name}' (status {s})"))?;
        let heartbeat_name = health::queue_name(&queue_name);
        let heartbeat_queue = host::register_queue(&heartbeat_name)
            .map_err(|s| format!("queue: could not register '{heartbeat_name}' (status {s})"))?;
        let mut m = host::HostMetrics;
        let samples_sent = m.define(MetricKind::Counter, stats::SAMPLES_SENT)?;
        let samples_failed = m.define(MetricKind::Counter, stats::SAMPLES_FAILED)?;
        let mut service = CompareService {
            comparator,
            queue,
            heartbeat_queue,
            publisher: Publisher::default(),
            in_flight: 0,
            samples_sent,
            samples_failed,
            next_slice_us: 0,
        };
        service.publish_heartbeat();
        Ok(service)
    }

    /// Replaces whatever is in the heartbeat queue (old beats captures put back) with a fresh one.
    fn publish_heartbeat(&mut self) {
        let now_ms = host::now_us() / 1_000;
        let cfg = self.comparator.config();
        let Some(beat) = self.publisher.due(now_ms, self.comparator.backlog(), cfg.max_backlog) else { return };
        // Bounded: the queue holds our last beat plus at most one put back per polling capture.
        for _ in 0..1_024 {
            if !matches!(host::dequeue(self.heartbeat_queue), Ok(Some(_))) {
                break;
            }
        }
        if let Err(status) = host::enqueue(self.heartbeat_queue, &beat.encode()) {
            log::warn!("shadow_compare: could not publish the heartbeat (status {status})");
        }
    }

    pub fn on_queue_ready(&mut self, queue: u32) {
        if queue != self.queue {
            return;
        }
        let mut m = host::HostMetrics;
        loop {
            match host::dequeue(self.queue) {
                Ok(Some(item)) => {
                    #[cfg(feature = "fault-injection")]
                    {
                        super::fault::compare_panic_if_asked(&item);
                        match super::fault::compare_stall_asked(&item) {
                            Some(true) => {
                                self.next_slice_us = host::now_us().saturating_add(super::fault::STALL_MS * 1_000)
                            }
                            Some(false) => self.next_slice_us = 0,
                            None => {}
                        }
                    }
                    self.comparator.on_item(&item, host::now_us() / 1_000, &mut m);
                }
                Ok(None) => break,
                Err(status) => {
                    log::warn!("shadow_compare: dequeue failed with status {status}");
                    break;
                }
            }
        }
        self.run_slice();
    }

    pub fn on_tick(&mut self) {
        self.comparator.on_tick(host::now_us() / 1_000, &mut host::HostMetrics);
        self.run_slice();
        self.publish_heartbeat();
    }

    fn run_slice(&mut self) {
        let start = host::now_us();
        if self.comparator.backlog() == 0 || start < self.next_slice_us {
            return;
        }
        let slice_us = self.comparator.config().slice_ms * 1_000;
        let deadline = start.saturating_add(slice_us);
        let scored = self.comparator.run_jobs(start / 1_000, &mut host::HostMetrics, &mut || host::now_us() >= deadline);
        let end = host::now_us();
        // A gap as long as the slice took: scoring gets at most half of the main thread.
        self.next_slice_us = end.saturating_add(end.saturating_sub(start).min(slice_us));
        for body in scored.into_iter().filter_map(|s| s.sample) {
            self.send_sample(&body);
        }
    }

    fn send_sample(&mut self, body: &[u8]) {
        let Some(cfg) = self.comparator.config().samples.as_ref() else { return };
        let mut m = host::HostMetrics;
        if self.in_flight >= (cfg.max_per_second as usize).saturating_mul(2) {
            self.comparator.sample_rate_limited(&mut m);
            return;
        }
        let headers = [
            (":method", "POST"),
            (":path", cfg.path.as_str()),
            (":authority", cfg.authority.as_str()),
            ("content-type", "application/json"),
        ];
        let timeout = std::time::Duration::from_millis(cfg.timeout_ms);
        match proxy_wasm::hostcalls::dispatch_http_call(&cfg.cluster, headers.to_vec(), Some(body), vec![], timeout) {
            Ok(_) => {
                self.in_flight += 1;
                m.add(self.samples_sent, 1);
            }
            Err(status) => {
                log::warn!("shadow_compare: could not send a sample to cluster '{}' ({status:?})", cfg.cluster);
                m.add(self.samples_failed, 1);
            }
        }
    }

    /// The sink answered (or the call failed: no headers, status 0).
    pub fn on_sample_response(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
        let status = host::header_str(host::HTTP_CALL_RESPONSE_HEADERS, ":status").ok().flatten().unwrap_or_default();
        if !status.starts_with('2') {
            host::HostMetrics.add(self.samples_failed, 1);
        }
    }
}
