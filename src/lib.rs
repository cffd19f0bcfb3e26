//! valkey-rs-core: a Rust drop-in for three pieces of the Valkey 9.1 server,
//! exporting the identical C ABI:
//!
//! * [`dict`] — the chained, incrementally rehashed hash table of `src/dict.c`;
//! * `lazyfree` — `src/lazyfree.c` and the bio lazy-free worker;
//! * `expire` — writable-replica expire tracking from `src/expire.c`.
//!
//! The `extern "C"` surface lives in [`ffi`]; everything Valkey provides to us
//! (allocator, assertion, PRNG, clock) is declared once in `ffi::host`.
#![allow(clippy::missing_safety_doc)]

pub mod dict;
pub mod expire;
pub mod ffi;
pub mod lazyfree;
