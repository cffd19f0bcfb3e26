//! What Valkey provides to the library: its allocator, its assertion hook,
//! its PRNG and its monotonic clock. Declared once here so the rest of the
//! crate never names a Valkey symbol directly.
//!
//! Every one of these symbols is defined by objects that valkey-server,
//! valkey-cli and valkey-benchmark all link (`zmalloc.o`, `serverassert.o` or
//! `debug.o`, `mt19937-64.o`, `monotonic.o`), so the dict needs no server-only
//! symbol. Unit tests provide stand-ins (`test_host` below).

use core::ffi::{c_char, c_int, c_long, c_void};

extern "C" {
    pub fn valkey_malloc(size: usize) -> *mut c_void;
    pub fn valkey_calloc(size: usize) -> *mut c_void;
    pub fn ztrycalloc(size: usize) -> *mut c_void;
    pub fn valkey_free(ptr: *mut c_void);
    pub fn zmalloc_usable(size: usize, usable: *mut usize) -> *mut c_void;
    pub fn zfree_with_size(ptr: *mut c_void, size: usize);
    pub fn _serverAssert(estr: *const c_char, file: *const c_char, line: c_int);
    pub fn genrand64_int64() -> u64;
    pub static getMonotonicUs: Option<unsafe extern "C" fn() -> u64>;
    pub fn random() -> c_long;
    pub fn rand() -> c_int;
}

#[cfg(not(test))]
extern "C" {
    // csrc/alloc_class.c: 0 from both without jemalloc.
    fn valkey_rs_jemalloc_size_class(size: usize) -> usize;
    fn valkey_rs_jemalloc_thread_allocated() -> u64;
}

/// The usable size every jemalloc block of `size` requested bytes has (its
/// size class); 0 when the binary has no jemalloc.
pub fn jemalloc_size_class(size: usize) -> usize {
    #[cfg(not(test))]
    // SAFETY: no argument to check; defined in every binary that links the
    // library (csrc/alloc_class.c), and NULL-safe without jemalloc.
    return unsafe { valkey_rs_jemalloc_size_class(size) };
    #[cfg(test)]
    test_host::jemalloc_size_class(size)
}

/// Bytes the calling thread has allocated from jemalloc so far; 0 when the
/// binary has no jemalloc.
pub fn jemalloc_thread_allocated() -> u64 {
    #[cfg(not(test))]
    // SAFETY: as jemalloc_size_class: no argument, NULL-safe without jemalloc.
    return unsafe { valkey_rs_jemalloc_thread_allocated() };
    #[cfg(test)]
    test_host::jemalloc_thread_allocated()
}

/// Reports a failed invariant the way Valkey's `assert()` does: through
/// `_serverAssert`, which prints the crash report (server) or raises SIGSEGV
/// (cli/benchmark). It must not return; if a host's hook ever does, abort.
#[cold]
#[inline(never)]
pub fn server_assert(
    estr: &'static core::ffi::CStr,
    file: &'static core::ffi::CStr,
    line: u32,
) -> ! {
    // SAFETY: both strings are NUL-terminated statics; _serverAssert only reads them.
    unsafe { _serverAssert(estr.as_ptr(), file.as_ptr(), line as c_int) };
    // Unit tests' stand-in records the assertion and returns; unwinding lets
    // a test observe it. Real hosts never return.
    #[cfg(test)]
    panic!("_serverAssert: {}", estr.to_string_lossy());
    #[cfg(not(test))]
    std::process::abort()
}

/// `assert!` that fails through Valkey's `_serverAssert`, like dict.c's `assert`.
#[macro_export]
macro_rules! vk_assert {
    ($cond:expr) => {
        if !($cond) {
            $crate::ffi::host::server_assert(
                // The stringified condition and file are literals, so they
                // live forever; `const` makes them plain addresses in the
                // failure path instead of a runtime NUL check at each site.
                const {
                    match core::ffi::CStr::from_bytes_with_nul(
                        concat!(stringify!($cond), "\0").as_bytes(),
                    ) {
                        Ok(s) => s,
                        Err(_) => c"assertion",
                    }
                },
                const {
                    match core::ffi::CStr::from_bytes_with_nul(concat!(file!(), "\0").as_bytes()) {
                        Ok(s) => s,
                        Err(_) => c"valkey-rs-core",
                    }
                },
                line!(),
            )
        }
    };
}

/// The monotonic clock Valkey's `elapsedStart`/`elapsedUs` read.
#[inline]
pub fn monotonic_us() -> u64 {
    // SAFETY: getMonotonicUs is initialised by monotonicInit() at process start
    // (server, cli and benchmark all call it); an unset pointer is a host bug we
    // report instead of calling through null.
    unsafe {
        match getMonotonicUs {
            Some(f) => f(),
            None => server_assert(c"getMonotonicUs != NULL", c"src/ffi/host.rs", line!()),
        }
    }
}

/// Stand-ins for Valkey's symbols so the crate's own unit tests link and run
/// without a Valkey tree. They are compiled into test binaries only.
#[cfg(test)]
pub(crate) mod test_host {
    use core::ffi::{c_char, c_int, c_void, CStr};
    use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

    extern "C" {
        fn malloc(size: usize) -> *mut c_void;
        fn calloc(n: usize, size: usize) -> *mut c_void;
        fn free(ptr: *mut c_void);
    }

    #[no_mangle]
    extern "C" fn valkey_malloc(size: usize) -> *mut c_void {
        if JEMALLOC.load(Ordering::Relaxed) {
            // As jemalloc: the block has its size class, which
            // zfree_with_size may be given back.
            return sized_block(size).0;
        }
        // SAFETY: plain libc allocation.
        let p = unsafe { malloc(size) };
        assert!(!p.is_null());
        p
    }

    /// Whether the allocator acts as jemalloc does: every block of a request
    /// size has the same usable size (zmalloc_usable's), which
    /// `jemalloc_size_class` then reports, and `valkey_malloc` hands out such
    /// blocks. Off: libc malloc, whose size class the library cannot know.
    pub static JEMALLOC: AtomicBool = AtomicBool::new(false);
    /// `zmalloc_usable` calls so far, so a test can tell which way entries are allocated.
    pub static ZMALLOC_USABLE_CALLS: AtomicUsize = AtomicUsize::new(0);

    /// Bytes the size class `jemalloc_size_class` reports is off by, so a
    /// test can give the first block another size than the class.
    pub static CLASS_OFF: AtomicUsize = AtomicUsize::new(0);
    /// jemalloc is linked (`JEMALLOC`) but zmalloc allocates elsewhere: its
    /// blocks do not count in `jemalloc_thread_allocated`.
    pub static ZMALLOC_ELSEWHERE: AtomicBool = AtomicBool::new(false);
    /// What jemalloc's "thread.allocated" would count (all threads alike here).
    static ALLOCATED: AtomicU64 = AtomicU64::new(0);

    pub fn jemalloc_thread_allocated() -> u64 {
        if JEMALLOC.load(Ordering::Relaxed) {
            ALLOCATED.load(Ordering::Relaxed)
        } else {
            0
        }
    }

    pub fn jemalloc_size_class(size: usize) -> usize {
        if JEMALLOC.load(Ordering::Relaxed) {
            usable_for(size) + CLASS_OFF.load(Ordering::Relaxed)
        } else {
            0
        }
    }

    /// What a block of `size` bytes gets: more than was asked for, as an
    /// allocator's size class is.
    fn usable_for(size: usize) -> usize {
        // Passing the requested size back to zfree_with_size is then caught.
        size.next_multiple_of(16) + 16 + EXTRA_USABLE.load(Ordering::Relaxed)
    }
    #[no_mangle]
    extern "C" fn valkey_calloc(size: usize) -> *mut c_void {
        // SAFETY: plain libc allocation.
        let p = unsafe { calloc(1, size) };
        assert!(!p.is_null());
        p
    }
    #[no_mangle]
    extern "C" fn ztrycalloc(size: usize) -> *mut c_void {
        // Sizes past what any test machine has fail here, as jemalloc would.
        if size > (1usize << 40) {
            return core::ptr::null_mut();
        }
        // SAFETY: plain libc allocation.
        unsafe { calloc(1, size) }
    }
    #[no_mangle]
    extern "C" fn valkey_free(ptr: *mut c_void) {
        // zfree may free what zmalloc_usable gave: forget the size, so a
        // later block at this address is not taken for that one.
        usable_sizes().remove(&(ptr as usize));
        // SAFETY: every pointer the library frees came from the functions above.
        unsafe { free(ptr) }
    }

    /// Usable sizes handed out by `zmalloc_usable`, by address, so that
    /// `zfree_with_size` can check it gets the size back, as jemalloc's
    /// `sdallocx` requires (a wrong size there corrupts its size classes).
    fn usable_sizes() -> std::sync::MutexGuard<'static, std::collections::BTreeMap<usize, usize>> {
        static SIZES: std::sync::Mutex<std::collections::BTreeMap<usize, usize>> =
            std::sync::Mutex::new(std::collections::BTreeMap::new());
        SIZES.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes `zmalloc_usable` adds to every usable size from now on, so a
    /// test can make the allocator change its mind, as libc malloc may.
    pub static EXTRA_USABLE: AtomicUsize = AtomicUsize::new(0);
    /// `zfree_with_size` calls so far, so a test can tell the fast free ran.
    pub static FREES_WITH_SIZE: AtomicUsize = AtomicUsize::new(0);

    /// A block of `size`'s usable size, recorded for `zfree_with_size`.
    fn sized_block(size: usize) -> (*mut c_void, usize) {
        let u = usable_for(size);
        // SAFETY: plain libc allocation.
        let p = unsafe { malloc(u) };
        assert!(!p.is_null());
        usable_sizes().insert(p as usize, u);
        if !ZMALLOC_ELSEWHERE.load(Ordering::Relaxed) {
            ALLOCATED.fetch_add(u as u64, Ordering::Relaxed);
        }
        (p, u)
    }

    #[no_mangle]
    extern "C" fn zmalloc_usable(size: usize, usable: *mut usize) -> *mut c_void {
        ZMALLOC_USABLE_CALLS.fetch_add(1, Ordering::Relaxed);
        let (p, u) = sized_block(size);
        if !usable.is_null() {
            // SAFETY: the caller passes a writable usize or NULL, as zmalloc_usable's contract says.
            unsafe { usable.write(u) };
        }
        p
    }

    #[no_mangle]
    extern "C" fn zfree_with_size(ptr: *mut c_void, size: usize) {
        if ptr.is_null() {
            return;
        }
        let known = usable_sizes().remove(&(ptr as usize));
        if known != Some(size) {
            // Unwinding out of an extern "C" function aborts: report first.
            eprintln!("zfree_with_size({ptr:?}, {size}): zmalloc_usable gave {known:?}");
            std::process::abort();
        }
        FREES_WITH_SIZE.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the pointer came from zmalloc_usable above (checked just now).
        unsafe { free(ptr) }
    }
    #[no_mangle]
    extern "C" fn _serverAssert(estr: *const c_char, file: *const c_char, line: c_int) {
        // SAFETY: server_assert passes NUL-terminated statics.
        let (e, f) = unsafe { (CStr::from_ptr(estr), CStr::from_ptr(file)) };
        // server_assert unwinds after this returns, so a test can observe it.
        eprintln!(
            "_serverAssert: {}:{} '{}'",
            f.to_string_lossy(),
            line,
            e.to_string_lossy()
        );
    }
    static RNG: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    #[no_mangle]
    extern "C" fn genrand64_int64() -> u64 {
        // splitmix64: any decent generator will do for tests.
        let mut z = RNG.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    extern "C" fn monotonic() -> u64 {
        use std::time::Instant;
        static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        START.get_or_init(Instant::now).elapsed().as_micros() as u64
    }
    #[no_mangle]
    static getMonotonicUs: Option<unsafe extern "C" fn() -> u64> = Some(monotonic);

    // Miri has shims for malloc/calloc/free but not for libc's random/rand;
    // a symbol exported by a crate takes precedence over its shims.
    #[cfg(miri)]
    #[no_mangle]
    extern "C" fn random() -> core::ffi::c_long {
        (genrand64_int64() >> 33) as core::ffi::c_long
    }
    #[cfg(miri)]
    #[no_mangle]
    extern "C" fn rand() -> c_int {
        (genrand64_int64() >> 33) as c_int
    }
}
