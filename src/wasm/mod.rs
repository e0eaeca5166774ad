//! proxy-wasm glue (in progress).
