//! The floor under any wasm capture: the least a proxy-wasm HTTP filter can do and still see a response body.
//!
//! A capture must copy the response body as it passes, and a filter only sees body chunks in
//! `proxy_on_response_body`, so every capture has at least that callback. This module exports it, as a no-op,
//! and nothing else Envoy calls per stream: no context creation, no headers, no `proxy_on_done`. `make bench`
//! loads it in the capture filters' places on both upstream clusters (its config "w"), to show, side by side
//! with plain mirroring and with shadow-compare, what a capture written as a proxy-wasm filter costs the
//! primary path on that machine before it does any work.
//!
//! It is written without the proxy-wasm SDK, which exports every callback, so that Envoy would enter the VM
//! for each: the floor has only the one callback a capture cannot do without. Never deploy it: it does nothing.
#![no_std]

/// The ABI version marker Envoy looks for; never called.
#[no_mangle]
pub extern "C" fn proxy_abi_version_0_2_1() {}

/// Envoy requires an allocator export. It is never called here: nothing exported takes data from Envoy
/// (no `proxy_on_configure`, no `proxy_on_vm_start`). Returns null if it ever is.
#[no_mangle]
pub extern "C" fn proxy_on_memory_allocate(_size: usize) -> *mut u8 {
    core::ptr::null_mut()
}

/// Each chunk of the response body: continue, without reading it. 0 is the ABI's `Continue`.
#[no_mangle]
pub extern "C" fn proxy_on_response_body(_context_id: u32, _body_size: usize, _end_of_stream: u32) -> u32 {
    0
}

/// Nothing here can panic; were it to, the VM traps.
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}
