#![no_main]
//! The Rust dict driven through its exported C API against a BTreeMap model.
//! See src/dict_model.rs for the operations and checks.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    vkrs_fuzz::dict_model::run(data);
});
