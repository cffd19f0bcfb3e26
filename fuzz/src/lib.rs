//! Fuzz harnesses for valkey-rs-core, shared by the `cargo fuzz` targets
//! (`fuzz_targets/`) and by `cargo test` (`tests/replay.rs`, which replays the
//! committed corpus plus a fixed set of generated inputs without libFuzzer).
//!
//! * [`dict_model`]: the dict, through its exported C API, against a
//!   `BTreeMap` model with structural and allocation checks after every step;
//! * [`lazyfree_model`]: the lazyfree job queue and counters against a FIFO model.
//!
//! The library calls Valkey's allocator, assertion hook, PRNG and clock
//! (`src/ffi/host.rs`); its own stand-ins are `cfg(test)` only, so [`host`]
//! defines them here, on libc malloc, with a live-allocation counter the dict
//! harness checks.

pub mod dict_model;
pub mod host;
pub mod lazyfree_model;

/// Reads an input as a stream of small decisions. Past the end it yields
/// zeros and [`Bytes::done`] turns true, so every input is a valid program.
pub struct Bytes<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Bytes<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Bytes { data, pos: 0 }
    }
    pub fn done(&self) -> bool {
        self.pos >= self.data.len()
    }
    pub fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }
    pub fn u16(&mut self) -> u16 {
        u16::from(self.u8()) | (u16::from(self.u8()) << 8)
    }
    pub fn u64(&mut self) -> u64 {
        (0..8).fold(0u64, |acc, i| acc | (u64::from(self.u8()) << (8 * i)))
    }
    /// A value in `0..n` (n > 0).
    pub fn below(&mut self, n: u32) -> u32 {
        if n <= 256 {
            u32::from(self.u8()) % n
        } else {
            u32::from(self.u16()) % n
        }
    }
}

/// splitmix64, for generated inputs in tests.
pub fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
