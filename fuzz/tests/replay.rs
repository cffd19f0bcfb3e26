//! The fuzz harnesses as ordinary tests (no libFuzzer, stable toolchain):
//! every committed corpus file, then a fixed set of generated inputs.
//! `cargo test --release` in fuzz/ (what `make test-fuzz-smoke` runs).
//! Knobs: FUZZ_REPLAY_CASES, FUZZ_REPLAY_MAXLEN, FUZZ_REPLAY_CORPUS=0.

use std::path::Path;
use std::sync::Mutex;

/// The dict harness uses process-global state (resize policy, counters).
static SERIAL: Mutex<()> = Mutex::new(());

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read(p).expect("corpus file"))
        .collect()
}

fn generated(seed: u64, count: usize, max_len: usize) -> Vec<Vec<u8>> {
    let mut s = seed;
    (0..count)
        .map(|_| {
            let len = (vkrs_fuzz::splitmix(&mut s) as usize) % max_len + 1;
            (0..len)
                .map(|_| vkrs_fuzz::splitmix(&mut s) as u8)
                .collect()
        })
        .collect()
}

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Generated inputs per test (FUZZ_REPLAY_CASES, default 300; 4 under Miri).
fn cases() -> usize {
    env_num("FUZZ_REPLAY_CASES", if cfg!(miri) { 4 } else { 300 })
}

/// Longest generated input (FUZZ_REPLAY_MAXLEN; default 4096 for the dict).
fn max_len(default: usize) -> usize {
    env_num("FUZZ_REPLAY_MAXLEN", if cfg!(miri) { 400 } else { default }).max(1)
}

/// FUZZ_REPLAY_CORPUS=0 skips the committed corpus. Under Miri (no file
/// system access in isolation, and long inputs take minutes each) it is off
/// and the sizes are small; MIRIFLAGS=-Zmiri-env-forward=FUZZ_REPLAY_CASES
/// etc. pass the knobs through.
fn with_corpus() -> bool {
    env_num("FUZZ_REPLAY_CORPUS", if cfg!(miri) { 0 } else { 1 }) != 0
}

#[test]
fn dict_model_corpus_and_generated() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let inputs = if with_corpus() {
        corpus("dict_model")
    } else {
        Vec::new()
    };
    for input in &inputs {
        vkrs_fuzz::dict_model::run(input);
    }
    for input in generated(0xD1C7, cases(), max_len(4096)) {
        vkrs_fuzz::dict_model::run(&input);
    }
    eprintln!(
        "dict_model: {} corpus files + {} generated inputs",
        inputs.len(),
        cases()
    );
}

#[test]
fn lazyfree_queue_corpus_and_generated() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let inputs = if with_corpus() {
        corpus("lazyfree_queue")
    } else {
        Vec::new()
    };
    for input in &inputs {
        vkrs_fuzz::lazyfree_model::run(input);
    }
    for input in generated(0x1A2F, cases() / 3, max_len(1024)) {
        vkrs_fuzz::lazyfree_model::run(&input);
    }
    eprintln!(
        "lazyfree_queue: {} corpus files + {} generated inputs",
        inputs.len(),
        cases() / 3
    );
}
