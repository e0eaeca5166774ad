//! A pointer and a body, split at the first NUL: selection never panics, and a pointer that validates
//! behaves the same through every selector.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shadow_compare::{json, pointer};

fuzz_target!(|data: &[u8]| {
    let (ptr, body) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&data[..0], data),
    };
    let Ok(ptr) = std::str::from_utf8(ptr) else { return };
    if pointer::validate(ptr).is_ok() {
        let _ = pointer::select_text(body, ptr);
        let _ = json::select_raw(body, ptr);
    }
});
