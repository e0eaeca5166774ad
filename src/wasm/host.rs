//! The host calls this filter makes, each returning `Result` for every status.
//!
//! proxy-wasm 0.2.5's `hostcalls` panic on any status they do not expect (e.g. `BadArgument` when a header
//! map is not readable in the current callback, or a header value that is not UTF-8), and a panic kills the
//! VM for every plugin on that thread. So the calls on our paths go straight to the ABI here: every status
//! is an `Err`, host-allocated memory is taken back exactly once, and nothing here can panic.
//!
//! One exception, on purpose: HTTP calls go through the SDK (`proxy_wasm::hostcalls::dispatch_http_call`),
//! because the SDK must register the call's token to route its answer; a call it did not register makes
//! its dispatcher panic when the answer arrives.
#![allow(clashing_extern_declarations)]

use crate::stats::{MetricKind, Metrics};
use std::cell::Cell;
use std::ptr::null_mut;

/// `proxy_wasm` ABI status codes we tell apart.
pub const OK: u32 = 0;
pub const NOT_FOUND: u32 = 1;
pub const EMPTY: u32 = 7;

/// Header and buffer kinds (ABI values).
pub const REQUEST_HEADERS: u32 = 0;
pub const RESPONSE_HEADERS: u32 = 2;
pub const REQUEST_BODY: u32 = 0;
pub const RESPONSE_BODY: u32 = 1;
pub const HTTP_CALL_RESPONSE_HEADERS: u32 = 6;

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_get_header_map_value(map: u32, key: *const u8, key_len: usize, out: *mut *mut u8, out_len: *mut usize) -> u32;
    fn proxy_get_header_map_pairs(map: u32, out: *mut *mut u8, out_len: *mut usize) -> u32;
    fn proxy_remove_header_map_value(map: u32, key: *const u8, key_len: usize) -> u32;
    fn proxy_get_buffer_bytes(buffer: u32, start: usize, max: usize, out: *mut *mut u8, out_len: *mut usize) -> u32;
    fn proxy_get_property(path: *const u8, path_len: usize, out: *mut *mut u8, out_len: *mut usize) -> u32;
    fn proxy_get_current_time_nanoseconds(out: *mut u64) -> u32;
    fn proxy_set_tick_period_milliseconds(period: u32) -> u32;
    fn proxy_resolve_shared_queue(vm: *const u8, vm_len: usize, name: *const u8, name_len: usize, out: *mut u32) -> u32;
    fn proxy_register_shared_queue(name: *const u8, name_len: usize, out: *mut u32) -> u32;
    fn proxy_enqueue_shared_queue(queue: u32, data: *const u8, len: usize) -> u32;
    fn proxy_dequeue_shared_queue(queue: u32, out: *mut *mut u8, out_len: *mut usize) -> u32;
    fn proxy_define_metric(kind: u32, name: *const u8, name_len: usize, out: *mut u32) -> u32;
    fn proxy_increment_metric(id: u32, offset: i64) -> u32;
    fn proxy_record_metric(id: u32, value: u64) -> u32;
    #[allow(clippy::too_many_arguments)]
    fn proxy_send_local_response(
        status: u32,
        details: *const u8,
        details_len: usize,
        body: *const u8,
        body_len: usize,
        headers: *const u8,
        headers_len: usize,
        grpc_status: i32,
    ) -> u32;
}

/// Takes ownership of a host-allocated buffer (allocated through the SDK's exported allocator).
fn take(ptr: *mut u8, len: usize) -> Vec<u8> {
    if ptr.is_null() {
        return Vec::new();
    }
    // SAFETY: the host allocated `len` bytes at `ptr` with `proxy_on_memory_allocate` (the SDK's global
    // allocator) and hands the buffer to us; nobody else frees it.
    unsafe { Vec::from_raw_parts(ptr, len, len) }
}

/// A header's value as bytes; `Ok(None)` when absent. Never lossy-decodes: callers decide.
pub fn header(map: u32, name: &str) -> Result<Option<Vec<u8>>, u32> {
    let (mut ptr, mut len) = (null_mut(), 0);
    // SAFETY: pointers to live locals and to `name`'s bytes for the duration of the call.
    let status = unsafe { proxy_get_header_map_value(map, name.as_ptr(), name.len(), &mut ptr, &mut len) };
    match status {
        OK => Ok(Some(take(ptr, len))),
        NOT_FOUND => Ok(None),
        s => Err(s),
    }
}

/// A whole header map in the ABI's layout, for [`crate::headers::Headers::decode`]: one host call however many
/// headers the caller needs. Empty when the host has no map to give.
pub fn header_map(map: u32) -> Result<Vec<u8>, u32> {
    let (mut ptr, mut len) = (null_mut(), 0);
    // SAFETY: pointers to live locals.
    match unsafe { proxy_get_header_map_pairs(map, &mut ptr, &mut len) } {
        OK => Ok(take(ptr, len)),
        NOT_FOUND => Ok(Vec::new()),
        s => Err(s),
    }
}

/// A header's value as text; non-UTF-8 values are treated as absent.
pub fn header_str(map: u32, name: &str) -> Result<Option<String>, u32> {
    Ok(header(map, name)?.and_then(|v| String::from_utf8(v).ok()))
}

pub fn remove_header(map: u32, name: &str) -> Result<(), u32> {
    // SAFETY: `name` outlives the call.
    match unsafe { proxy_remove_header_map_value(map, name.as_ptr(), name.len()) } {
        OK | NOT_FOUND => Ok(()),
        s => Err(s),
    }
}

/// Up to `max` bytes of a buffer from `start`.
pub fn buffer(kind: u32, start: usize, max: usize) -> Result<Vec<u8>, u32> {
    let (mut ptr, mut len) = (null_mut(), 0);
    // SAFETY: pointers to live locals.
    match unsafe { proxy_get_buffer_bytes(kind, start, max, &mut ptr, &mut len) } {
        OK => Ok(take(ptr, len)),
        NOT_FOUND | EMPTY => Ok(Vec::new()),
        s => Err(s),
    }
}

/// A property by path, e.g. `["xds", "cluster_name"]`. Never call it with `source.*` or `destination.*`
/// in upstream context: Envoy 1.40 crashes on those for mirrored requests.
pub fn property(path: &[&str]) -> Result<Option<Vec<u8>>, u32> {
    let serialized = path.join("\0");
    let (mut ptr, mut len) = (null_mut(), 0);
    // SAFETY: `serialized` outlives the call; pointers to live locals.
    match unsafe { proxy_get_property(serialized.as_ptr(), serialized.len(), &mut ptr, &mut len) } {
        OK => Ok(if ptr.is_null() { None } else { Some(take(ptr, len)) }),
        NOT_FOUND => Ok(None),
        s => Err(s),
    }
}

/// Sets this root context's tick period (0 stops the tick). Call it outside `on_tick` unless the period is 0:
/// Envoy replaces the root context's timer whenever the period is above zero, including the timer whose
/// callback is running.
fn set_tick_period_ms(ms: u64) -> Result<(), u32> {
    let ms = u32::try_from(ms).unwrap_or(u32::MAX);
    // SAFETY: plain integer argument.
    match unsafe { proxy_set_tick_period_milliseconds(ms) } {
        OK => Ok(()),
        status => Err(status),
    }
}

/// A root context's tick period as last set. Setting the period it already has costs no host call (and does
/// not restart the timer); a failure is logged once, until a setting succeeds again, and the old period stays.
pub struct TickPeriod {
    ms: Cell<u64>,
    failing: Cell<bool>,
}

impl TickPeriod {
    /// No tick yet (Envoy starts a root context without one).
    pub fn stopped() -> TickPeriod {
        TickPeriod { ms: Cell::new(0), failing: Cell::new(false) }
    }

    /// Sets the period (0 stops the tick); false if the host refused. `whose` names the tick in the log.
    pub fn set(&self, ms: u64, whose: &str) -> bool {
        if self.ms.get() == ms {
            return true;
        }
        match set_tick_period_ms(ms) {
            Ok(()) => {
                self.ms.set(ms);
                self.failing.set(false);
                true
            }
            Err(status) => {
                if !self.failing.replace(true) {
                    log::warn!("shadow_compare: could not set the {whose} tick to {ms} ms (status {status})");
                }
                false
            }
        }
    }
}

/// Wall-clock microseconds since the epoch (0 if the host will not say).
pub fn now_us() -> u64 {
    let mut ns = 0u64;
    // SAFETY: pointer to a live local.
    match unsafe { proxy_get_current_time_nanoseconds(&mut ns) } {
        OK => ns / 1_000,
        _ => 0,
    }
}

pub fn resolve_queue(vm_id: &str, name: &str) -> Result<Option<u32>, u32> {
    let mut id = 0;
    // SAFETY: borrowed strings outlive the call; pointer to a live local.
    match unsafe { proxy_resolve_shared_queue(vm_id.as_ptr(), vm_id.len(), name.as_ptr(), name.len(), &mut id) } {
        OK => Ok(Some(id)),
        NOT_FOUND => Ok(None),
        s => Err(s),
    }
}

pub fn register_queue(name: &str) -> Result<u32, u32> {
    let mut id = 0;
    // SAFETY: borrowed string outlives the call; pointer to a live local.
    match unsafe { proxy_register_shared_queue(name.as_ptr(), name.len(), &mut id) } {
        OK => Ok(id),
        s => Err(s),
    }
}

pub fn enqueue(queue: u32, data: &[u8]) -> Result<(), u32> {
    // SAFETY: `data` outlives the call; the host copies it.
    match unsafe { proxy_enqueue_shared_queue(queue, data.as_ptr(), data.len()) } {
        OK => Ok(()),
        s => Err(s),
    }
}

/// The next queue item, `Ok(None)` when the queue is empty.
pub fn dequeue(queue: u32) -> Result<Option<Vec<u8>>, u32> {
    let (mut ptr, mut len) = (null_mut(), 0);
    // SAFETY: pointers to live locals.
    match unsafe { proxy_dequeue_shared_queue(queue, &mut ptr, &mut len) } {
        OK => Ok(Some(take(ptr, len))),
        EMPTY => Ok(None),
        s => Err(s),
    }
}

/// The ABI's header map encoding: count, (name length, value length) pairs, then NUL-terminated strings.
fn serialize_headers(headers: &[(&str, &str)]) -> Vec<u8> {
    let mut map = Vec::new();
    map.extend_from_slice(&(headers.len() as u32).to_le_bytes());
    for (k, v) in headers {
        map.extend_from_slice(&(k.len() as u32).to_le_bytes());
        map.extend_from_slice(&(v.len() as u32).to_le_bytes());
    }
    for (k, v) in headers {
        map.extend_from_slice(k.as_bytes());
        map.push(0);
        map.extend_from_slice(v.as_bytes());
        map.push(0);
    }
    map
}

/// Answers the request locally (the request never leaves Envoy).
pub fn send_local_response(status: u32, body: &[u8], headers: &[(&str, &str)]) -> Result<(), u32> {
    let map = serialize_headers(headers);
    let details = "shadow_compare_blocked";
    // SAFETY: all buffers outlive the call; the host copies them.
    match unsafe {
        proxy_send_local_response(
            status,
            details.as_ptr(),
            details.len(),
            body.as_ptr(),
            body.len(),
            map.as_ptr(),
            map.len(),
            -1,
        )
    } {
        OK => Ok(()),
        s => Err(s),
    }
}

/// Envoy's metrics behind the [`Metrics`] trait. Update failures are ignored: a stat must never break
/// traffic, and Envoy only fails them for ids we never defined.
pub struct HostMetrics;

impl Metrics for HostMetrics {
    fn define(&mut self, kind: MetricKind, name: &str) -> Result<u32, String> {
        let k = match kind {
            MetricKind::Counter => 0,
            MetricKind::Gauge => 1,
            MetricKind::Histogram => 2,
        };
        let mut id = 0;
        // SAFETY: `name` outlives the call; pointer to a live local.
        match unsafe { proxy_define_metric(k, name.as_ptr(), name.len(), &mut id) } {
            OK => Ok(id),
            s => Err(format!("defining metric '{name}' failed with status {s}")),
        }
    }

    fn add(&mut self, id: u32, n: u64) {
        // SAFETY: plain values.
        let _ = unsafe { proxy_increment_metric(id, i64::try_from(n).unwrap_or(i64::MAX)) };
    }

    fn record(&mut self, id: u32, value: u64) {
        // SAFETY: plain values.
        let _ = unsafe { proxy_record_metric(id, value) };
    }
}
