//! Stand-ins for the Valkey symbols the library calls (see the crate's
//! `src/ffi/host.rs`): allocator on libc malloc with a live-allocation
//! counter, `_serverAssert` that aborts (an assertion is a finding: the
//! harnesses only make valid calls), a resettable PRNG, a monotonic clock.
//! `random()`/`rand()` come from libc itself, except under Miri (which has no
//! shim for them): there they are defined here.

use core::ffi::{c_char, c_int, c_void, CStr};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

extern "C" {
    fn malloc(size: usize) -> *mut c_void;
    fn calloc(n: usize, size: usize) -> *mut c_void;
    fn free(ptr: *mut c_void);
}

/// Allocations made through the stand-ins and not yet freed.
pub static LIVE: AtomicI64 = AtomicI64::new(0);

pub fn live_allocations() -> i64 {
    LIVE.load(Ordering::SeqCst)
}

/// ztrycalloc fails above this, as jemalloc would on a test machine.
const TRY_LIMIT: usize = 1 << 36;

#[no_mangle]
pub extern "C" fn valkey_malloc(size: usize) -> *mut c_void {
    // SAFETY: plain libc allocation.
    let p = unsafe { malloc(size.max(1)) };
    if p.is_null() {
        oom(size);
    }
    LIVE.fetch_add(1, Ordering::SeqCst);
    p
}

#[no_mangle]
pub extern "C" fn valkey_calloc(size: usize) -> *mut c_void {
    // SAFETY: plain libc allocation.
    let p = unsafe { calloc(1, size.max(1)) };
    if p.is_null() {
        oom(size);
    }
    LIVE.fetch_add(1, Ordering::SeqCst);
    p
}

#[no_mangle]
pub extern "C" fn ztrycalloc(size: usize) -> *mut c_void {
    if size > TRY_LIMIT {
        return core::ptr::null_mut();
    }
    // SAFETY: plain libc allocation.
    let p = unsafe { calloc(1, size.max(1)) };
    if !p.is_null() {
        LIVE.fetch_add(1, Ordering::SeqCst);
    }
    p
}

#[no_mangle]
/// # Safety
/// `ptr` is NULL or came from this module's allocation functions.
#[allow(clippy::missing_safety_doc)]
pub unsafe extern "C" fn valkey_free(ptr: *mut c_void) {
    if ptr.is_null() {
        return;
    }
    LIVE.fetch_sub(1, Ordering::SeqCst);
    // zfree may free a zmalloc_usable block: forget its size, so that a
    // later block at this address is not taken for it.
    usable_sizes().remove(&(ptr as usize));
    // SAFETY: every non-NULL pointer freed here came from the functions above.
    unsafe { free(ptr) }
}

/// Usable sizes handed out by `zmalloc_usable`, by address: `zfree_with_size`
/// must get the same size back (jemalloc's `sdallocx` relies on it).
fn usable_sizes() -> std::sync::MutexGuard<'static, std::collections::BTreeMap<usize, usize>> {
    static SIZES: std::sync::Mutex<std::collections::BTreeMap<usize, usize>> =
        std::sync::Mutex::new(std::collections::BTreeMap::new());
    SIZES.lock().unwrap_or_else(|e| e.into_inner())
}

#[no_mangle]
/// # Safety
/// `usable` is NULL or points to a writable `usize`.
#[allow(clippy::missing_safety_doc)]
pub unsafe extern "C" fn zmalloc_usable(size: usize, usable: *mut usize) -> *mut c_void {
    // Rounded up past the request, like an allocator's size class, so that a
    // caller passing the requested size to zfree_with_size is caught.
    let u = size.next_multiple_of(16) + 16;
    // SAFETY: plain libc allocation.
    let p = unsafe { malloc(u) };
    if p.is_null() {
        oom(size);
    }
    LIVE.fetch_add(1, Ordering::SeqCst);
    usable_sizes().insert(p as usize, u);
    if !usable.is_null() {
        // SAFETY: the caller passes a writable usize (contract above).
        unsafe { usable.write(u) };
    }
    p
}

#[no_mangle]
/// # Safety
/// `ptr` is NULL or came from `zmalloc_usable`, which gave `size`.
#[allow(clippy::missing_safety_doc)]
pub unsafe extern "C" fn zfree_with_size(ptr: *mut c_void, size: usize) {
    if ptr.is_null() {
        return;
    }
    let known = usable_sizes().remove(&(ptr as usize));
    if known != Some(size) {
        eprintln!("fuzz host: zfree_with_size({ptr:?}, {size}) but zmalloc_usable gave {known:?}");
        std::process::abort();
    }
    LIVE.fetch_sub(1, Ordering::SeqCst);
    // SAFETY: the pointer came from zmalloc_usable (checked just now).
    unsafe { free(ptr) }
}

fn oom(size: usize) -> ! {
    eprintln!("fuzz host: out of memory allocating {size} bytes (zmalloc would abort)");
    std::process::abort()
}

#[no_mangle]
/// # Safety
/// Both strings are NUL-terminated.
pub unsafe extern "C" fn _serverAssert(estr: *const c_char, file: *const c_char, line: c_int) {
    // SAFETY: the library passes NUL-terminated strings.
    let (e, f) = unsafe { (CStr::from_ptr(estr), CStr::from_ptr(file)) };
    eprintln!(
        "=== ASSERTION FAILED === {}:{} '{}'",
        f.to_string_lossy(),
        line,
        e.to_string_lossy()
    );
    std::process::abort()
}

static RNG: AtomicU64 = AtomicU64::new(0);

/// Makes `genrand64_int64` deterministic per input.
pub fn seed_rng(seed: u64) {
    RNG.store(seed, Ordering::SeqCst);
}

#[no_mangle]
pub extern "C" fn genrand64_int64() -> u64 {
    let mut s = RNG.load(Ordering::Relaxed);
    let v = crate::splitmix(&mut s);
    RNG.store(s, Ordering::Relaxed);
    v
}

extern "C" fn monotonic() -> u64 {
    use std::time::Instant;
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_micros() as u64
}

#[no_mangle]
pub static getMonotonicUs: Option<unsafe extern "C" fn() -> u64> = Some(monotonic);

/// Miri implements malloc/calloc/free but not libc's `random`/`rand`, which
/// the dict's sampling calls; a symbol exported by a crate takes precedence.
#[cfg(miri)]
#[no_mangle]
pub extern "C" fn random() -> core::ffi::c_long {
    (genrand64_int64() >> 33) as core::ffi::c_long
}

#[cfg(miri)]
#[no_mangle]
pub extern "C" fn rand() -> c_int {
    (genrand64_int64() >> 33) as c_int
}
