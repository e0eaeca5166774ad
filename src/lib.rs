//! shadow-compare: pair the production and shadow responses of mirrored requests and score them.
//!
//! Everything outside `wasm` is pure Rust with no `proxy_wasm` import: it is tested natively and shared by
//! the `.wasm` filter and the native `shadow-compare` command-line tool.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod capture;
pub mod compare;
pub mod config;
pub mod cosine;
pub mod decode;
pub mod exact;
pub mod headers;
pub mod health;
pub mod json;
pub mod pairing;
pub mod pointer;
pub mod record;
pub mod rouge;
pub mod sample;
pub mod score;
pub mod stats;
pub mod verdict;

#[cfg(target_arch = "wasm32")]
mod wasm;
