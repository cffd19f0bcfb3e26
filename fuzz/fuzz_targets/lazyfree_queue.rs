#![no_main]
//! The lazyfree job queue and counters against a FIFO model.
//! See src/lazyfree_model.rs for the operations and checks.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    vkrs_fuzz::lazyfree_model::run(data);
});
