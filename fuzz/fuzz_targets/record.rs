//! Any queue item: splitting and decoding never panic, whatever decodes re-encodes to the same bytes, and
//! the records of a batch re-batch to the same item.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shadow_compare::record::{decode, encode, split, Batch};

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = decode(data) {
        assert_eq!(encode(&r), data);
    }
    let parts: Vec<_> = split(data).collect();
    if data.first() == Some(&2) && parts.iter().all(|p| p.as_ref().is_ok_and(|b| decode(b).is_ok())) && !parts.is_empty() {
        let mut batch = Batch::default();
        for p in parts.into_iter().flatten() {
            if let Ok(r) = decode(p) {
                batch.push(&r);
            }
        }
        assert_eq!(batch.item(), Some(data));
    }
});
