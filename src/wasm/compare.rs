//! The compare service's glue: a singleton `envoy.bootstrap.wasm` service on Envoy's main thread.
//!
//! It registers the queue the captures write to, drains it whenever Envoy says it is ready, and scores in
//! slices of at most `slice_ms` so the main thread (admin, xDS) never waits long. A tick expires pairs and
//! scores what the last slice left.

use super::host;
use crate::compare::Comparator;
use crate::config::CompareConfig;

/// How often the service wakes without new records: expiry resolution and leftover scoring.
pub const TICK_MS: u64 = 20;

pub struct CompareService {
    comparator: Comparator,
    queue: u32,
}

impl CompareService {
    /// Parses the config, defines every stat and registers the queue: any failure stops Envoy at startup.
    pub fn configure(json: &[u8]) -> Result<CompareService, String> {
        let cfg = CompareConfig::parse(json).map_err(|e| e.to_string())?;
        let queue_name = cfg.queue.clone();
        let comparator = Comparator::new(cfg, &mut host::HostMetrics)?;
        let queue = host::register_queue(&queue_name)
            .map_err(|s| format!("queue: could not register '{queue_name}' (status {s})"))?;
        Ok(CompareService { comparator, queue })
    }

    pub fn on_queue_ready(&mut self, queue: u32) {
        if queue != self.queue {
            return;
        }
        let mut m = host::HostMetrics;
        loop {
            match host::dequeue(self.queue) {
                Ok(Some(item)) => self.comparator.on_item(&item, host::now_us() / 1_000, &mut m),
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
    }

    fn run_slice(&mut self) {
        if self.comparator.backlog() == 0 {
            return;
        }
        let deadline = host::now_us().saturating_add(self.comparator.config().slice_ms * 1_000);
        self.comparator.run_jobs(&mut host::HostMetrics, &mut || host::now_us() >= deadline);
    }
}
