//! The compare service's glue: a singleton `envoy.bootstrap.wasm` service on Envoy's main thread.
//!
//! It registers the queue the captures write to, drains it whenever Envoy says it is ready (cheap: decode
//! and pair), and scores in slices of at most `slice_ms`, each followed by at least as long without
//! scoring. Envoy runs many queued callbacks back to back; without the gap, one slice per callback kept the
//! main thread busy for seconds under load and the admin endpoint stalled. A tick expires pairs, then
//! builds and sends the samples due, or, when none are, scores what the last slice left. Samples are built
//! only on a tick, which dequeues and scores nothing, so that building one never lengthens the stretch of
//! dequeuing, decoding and scoring that a batch of records brings. The tick runs every [`TICK_MS`] while pairs
//! wait to be scored or samples to be sent, and every [`IDLE_TICK_MS`] otherwise.

use super::host;
use crate::compare::Comparator;
use crate::config::CompareConfig;
use crate::health::{self, Publisher};
use crate::stats::{self, MetricKind, Metrics};

/// How often the service wakes while pairs wait to be scored or samples to be sent: leftover scoring and
/// samples.
pub const TICK_MS: u64 = 20;
/// How often it wakes when nothing waits: expiry and the heartbeat (published at most every
/// [`health::PUBLISH_EVERY_MS`]). Each tick wakes the main thread: one-off, an idle Envoy's main thread spent
/// 6.5-9.0 ms of CPU a second at 20 ms and 1.5 at 100 ms, and a tick that did nothing cost as much as one
/// that did its work. At 100 ms while busy, a backlog left when captures shed (no record then wakes the
/// service) would drain five times slower, so the period follows the work; see `on_queue_ready`.
pub const IDLE_TICK_MS: u64 = 100;

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
    /// The tick, every [`TICK_MS`] or [`IDLE_TICK_MS`].
    tick: host::TickPeriod,
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
            tick: host::TickPeriod::stopped(),
        };
        if !service.tick.set(TICK_MS, "compare service's") {
            return Err("could not start the compare service's tick".to_string());
        }
        service.publish_heartbeat();
        Ok(service)
    }

    /// Replaces whatever is in the heartbeat queue (old beats captures put back) with a fresh one.
    fn publish_heartbeat(&mut self) {
        let now_ms = host::now_us() / 1_000;
        let cfg = self.comparator.config();
        let Some(beat) = self.publisher.due(now_ms, self.comparator.backlog(), cfg.max_backlog) else { return };
        // Bounded: the queue holds our last beat's copies plus at most one put back per polling capture.
        for _ in 0..1_024 {
            if !matches!(host::dequeue(self.heartbeat_queue), Ok(Some(_))) {
                break;
            }
        }
        let item = beat.encode();
        for _ in 0..health::COPIES {
            if let Err(status) = host::enqueue(self.heartbeat_queue, &item) {
                log::warn!("shadow_compare: could not publish the heartbeat (status {status})");
                break;
            }
        }
    }

    /// Records arrived, or (the heartbeat queue) this service published a heartbeat or a capture put one
    /// back. Envoy posts these callbacks, so they never run inside a tick, where changing the period is unsafe
    /// (Envoy replaces the timer whose callback is running): after start-up the period changes only here.
    pub fn on_queue_ready(&mut self, queue: u32) {
        if queue == self.heartbeat_queue {
            if self.comparator.backlog() == 0 && self.comparator.samples_due() == 0 {
                self.tick.set(IDLE_TICK_MS, "compare service's");
            }
            return;
        }
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
        self.tick.set(TICK_MS, "compare service's");
        self.run_slice();
    }

    pub fn on_tick(&mut self) {
        self.comparator.on_tick(host::now_us() / 1_000, &mut host::HostMetrics);
        if self.comparator.samples_due() > 0 {
            self.run_sample_slice();
        } else {
            self.run_slice();
        }
        self.publish_heartbeat();
    }

    /// Scores waiting pairs for at most `slice_ms`, unless the gap after the last slice is not over.
    fn run_slice(&mut self) {
        let start = host::now_us();
        if self.comparator.backlog() == 0 || start < self.next_slice_us {
            return;
        }
        let deadline = start.saturating_add(self.slice_us());
        self.comparator.run_jobs(start / 1_000, &mut host::HostMetrics, &mut || host::now_us() >= deadline);
        self.gap_after(start);
    }

    /// Builds and sends due samples for at most `slice_ms` (one, unless a burst is waiting). It does not wait
    /// for the gap: ticks are 20 ms apart and could keep landing in gaps under load, while the rate limit
    /// and [`crate::compare::MAX_DUE_SAMPLES`] already bound the work. The gap after it still holds off
    /// scoring.
    fn run_sample_slice(&mut self) {
        let start = host::now_us();
        let deadline = start.saturating_add(self.slice_us());
        while self.comparator.samples_due() > 0 {
            self.send_next_sample();
            if host::now_us() >= deadline {
                break;
            }
        }
        self.gap_after(start);
    }

    fn slice_us(&self) -> u64 {
        self.comparator.config().slice_ms * 1_000
    }

    /// A gap as long as the slice took: scoring and samples get at most about half of the main thread. It
    /// never shortens a gap already set (a sample slice runs inside one).
    fn gap_after(&mut self, start: u64) {
        let end = host::now_us();
        let gap_end = end.saturating_add(end.saturating_sub(start).min(self.slice_us()));
        self.next_slice_us = self.next_slice_us.max(gap_end);
    }

    /// Builds the oldest due sample and sends it, unless the sink already has too many calls in flight. Either
    /// way the sample is no longer due.
    fn send_next_sample(&mut self) {
        let mut m = host::HostMetrics;
        let samples = self.comparator.config().samples.as_ref();
        let max_in_flight = samples.map_or(0, |c| (c.max_per_second as usize).saturating_mul(2));
        if self.in_flight >= max_in_flight {
            self.comparator.skip_sample(&mut m);
            return;
        }
        let Some(body) = self.comparator.next_sample() else { return };
        let Some(cfg) = self.comparator.config().samples.as_ref() else { return };
        let headers = [
            (":method", "POST"),
            (":path", cfg.path.as_str()),
            (":authority", cfg.authority.as_str()),
            ("content-type", "application/json"),
        ];
        let timeout = std::time::Duration::from_millis(cfg.timeout_ms);
        match proxy_wasm::hostcalls::dispatch_http_call(&cfg.cluster, headers.to_vec(), Some(&body), vec![], timeout) {
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
