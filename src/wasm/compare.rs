//! The compare service's glue: a singleton `envoy.bootstrap.wasm` service on Envoy's main thread.
//!
//! It registers the queue the captures write to, drains it whenever Envoy says it is ready (cheap: decode
//! and pair), and scores in slices of at most `slice_ms`.
//!
//! - A queue callback that finds nothing left from before scores the pairs its records completed, right
//!   away, unless the last slice ended less than its own length ago. Envoy runs many queued callbacks back to
//!   back; without that gap, one slice per callback kept the main thread busy for seconds under load and the
//!   admin endpoint stalled.
//! - Once pairs are left over, only the tick scores them: one slice per tick, each followed by a pause
//!   ([`CompareConfig::pause_ms`]) that gives scoring `main_thread_percent` of the main thread. Envoy re-arms
//!   the tick when the tick returns, so the tick's period is the pause (up to [`IDLE_TICK_MS`], which keeps the
//!   heartbeat fresh; a longer pause skips ticks). Envoy runs whatever else is ready during the pause, so
//!   another event on the main thread waits at most one slice (an admin request is a few events, and each
//!   may wait for one). An earlier design scored every 20 ms tick after an equal gap: since
//!   the period counts from the tick's end, a 10 ms slice ran one time in 30 ms, and a backlog drained at a
//!   third of the main thread however idle it was.
//! - A tick also expires pairs, and builds and sends the samples due (instead of scoring, that tick). Samples
//!   are built only on a tick, which dequeues nothing, so that building one never lengthens the stretch of
//!   dequeuing, decoding and scoring that a batch of records brings.
//!
//! The tick runs every `pause_ms` (at most [`IDLE_TICK_MS`]) while pairs wait, every [`TICK_MS`] while samples
//! wait or records just came, and every [`IDLE_TICK_MS`] otherwise.

use super::host;
use crate::compare::Comparator;
use crate::config::CompareConfig;
use crate::health::{self, Publisher};
use crate::stats::{self, MetricKind, Metrics};

/// How often the service wakes while samples wait to be sent, or after records came and were scored.
pub const TICK_MS: u64 = 20;
/// How often it wakes when nothing waits: expiry and the heartbeat (published at most every
/// [`health::PUBLISH_EVERY_MS`]). Each tick wakes the main thread: one-off, an idle Envoy's main thread spent
/// 6.5-9.0 ms of CPU a second at 20 ms and 1.5 at 100 ms, and a tick that did nothing cost as much as one
/// that did its work. So the period follows the work; see `on_queue_ready`.
pub const IDLE_TICK_MS: u64 = 100;

/// How much earlier than its period a tick may come and still start a slice: Envoy's timers count whole
/// milliseconds.
const TIMER_SLACK_US: u64 = 1_000;

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
    /// `scoring_us`: the time slices take.
    scoring_us: u32,
    /// No queue callback starts a scoring slice before this time (µs): the gap after the last slice.
    next_slice_us: u64,
    /// When the tick's last slice ended (µs).
    last_tick_slice_end_us: u64,
    /// The tick: every [`CompareConfig::pause_ms`], [`TICK_MS`] or [`IDLE_TICK_MS`].
    tick: host::TickPeriod,
    /// No slice at all before this time (µs): the fault-injection build's stall.
    #[cfg(feature = "fault-injection")]
    stalled_until_us: u64,
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
        let scoring_us = m.define(MetricKind::Counter, stats::SCORING_US)?;
        let mut service = CompareService {
            comparator,
            queue,
            heartbeat_queue,
            publisher: Publisher::default(),
            in_flight: 0,
            samples_sent,
            samples_failed,
            scoring_us,
            next_slice_us: 0,
            last_tick_slice_end_us: 0,
            tick: host::TickPeriod::stopped(),
            #[cfg(feature = "fault-injection")]
            stalled_until_us: 0,
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
        // Pairs left from before are the tick's: this callback only adds to them.
        let behind = self.comparator.backlog() > 0;
        let mut m = host::HostMetrics;
        loop {
            match host::dequeue(self.queue) {
                Ok(Some(item)) => {
                    #[cfg(feature = "fault-injection")]
                    {
                        super::fault::compare_panic_if_asked(&item);
                        match super::fault::compare_stall_asked(&item) {
                            Some(true) => {
                                self.stalled_until_us = host::now_us().saturating_add(super::fault::STALL_MS * 1_000)
                            }
                            Some(false) => self.stalled_until_us = 0,
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
        if !behind && host::now_us() >= self.next_slice_us {
            self.run_slice();
        }
        let pause_ms = self.comparator.config().pause_ms();
        let period = if self.comparator.backlog() > 0 { pause_ms.min(IDLE_TICK_MS) } else { TICK_MS };
        self.tick.set(period, "compare service's");
    }

    pub fn on_tick(&mut self) {
        let now = host::now_us();
        self.comparator.on_tick(now / 1_000, &mut host::HostMetrics);
        let pause_end_us = self.last_tick_slice_end_us.saturating_add(self.comparator.config().pause_ms() * 1_000);
        if self.comparator.samples_due() > 0 {
            self.run_sample_slice();
        } else if now.saturating_add(TIMER_SLACK_US) >= pause_end_us && self.run_slice() {
            self.last_tick_slice_end_us = host::now_us();
        }
        self.publish_heartbeat();
    }

    /// Scores waiting pairs for at most `slice_ms`; false if there were none to score.
    fn run_slice(&mut self) -> bool {
        let start = host::now_us();
        if self.comparator.backlog() == 0 || self.stalled(start) {
            return false;
        }
        let deadline = start.saturating_add(self.slice_us());
        self.comparator.run_jobs(start / 1_000, &mut host::HostMetrics, &mut || host::now_us() >= deadline);
        self.slice_done(start);
        true
    }

    /// Builds and sends due samples for at most `slice_ms` (one, unless a burst is waiting), in place of
    /// that tick's scoring slice; the rate limit and [`crate::compare::MAX_DUE_SAMPLES`] bound the work. The gap
    /// after it holds off scoring from queue callbacks.
    fn run_sample_slice(&mut self) {
        let start = host::now_us();
        let deadline = start.saturating_add(self.slice_us());
        while self.comparator.samples_due() > 0 {
            self.send_next_sample();
            if host::now_us() >= deadline {
                break;
            }
        }
        self.slice_done(start);
    }

    #[cfg(feature = "fault-injection")]
    fn stalled(&self, now_us: u64) -> bool {
        now_us < self.stalled_until_us
    }

    #[cfg(not(feature = "fault-injection"))]
    fn stalled(&self, _now_us: u64) -> bool {
        false
    }

    fn slice_us(&self) -> u64 {
        self.comparator.config().slice_ms * 1_000
    }

    /// Counts the slice's time, and sets a gap as long before a queue callback may score. It never shortens a
    /// gap already set (a sample slice runs inside one).
    fn slice_done(&mut self, start: u64) {
        let end = host::now_us();
        host::HostMetrics.add(self.scoring_us, end.saturating_sub(start));
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
