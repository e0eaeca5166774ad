//! Two bodies split at the first NUL: cosine scoring never panics and stays in [0, 1].
#![no_main]
use libfuzzer_sys::fuzz_target;
use shadow_compare::cosine;

fuzz_target!(|data: &[u8]| {
    let (a, b) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, data),
    };
    if let Ok(s) = cosine::score_bodies(a, b, "") {
        assert!((0.0..=1.0).contains(&s), "{s}");
    }
    if let Ok(s) = cosine::score_bodies(a, b, "/embedding") {
        assert!((0.0..=1.0).contains(&s), "{s}");
    }
});
