//! Two bodies split at the first NUL: exact match never panics, is symmetric and reflexive on valid JSON.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shadow_compare::exact;

fuzz_target!(|data: &[u8]| {
    let (a, b) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, data),
    };
    let ab = exact::score_bodies(a, b, "");
    let ba = exact::score_bodies(b, a, "");
    if let (Ok(x), Ok(y)) = (&ab, &ba) {
        assert_eq!(x, y);
    }
    if exact::score_bodies(a, a, "").is_ok() {
        assert_eq!(exact::score_bodies(a, a, ""), Ok(1.0));
    }
});
