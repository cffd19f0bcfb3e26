//! The `extern "C"` face of lazyfree: every symbol Valkey 9.1.2's `lazyfree.o`
//! exports (22), with server.h's signatures, plus the few `vkrs_lazyfree_*`
//! functions the patched `bio.c` calls to run, count, drain and kill the
//! worker that replaces bio's `BIO_LAZY_FREE` thread.
//!
//! # Pointer contract (all functions)
//! As in lazyfree.c: every pointer is a live Valkey object of the named type,
//! owned by the caller, called from the main thread (the job functions
//! `lazyfree*`/`lazyFree*` run on the worker). An object handed to an `*Async`
//! function belongs to lazyfree from then on: it is either freed before the
//! call returns or owned by a queued job; the caller never touches it again.
//!
//! # How Valkey is reached
//! Through the one-line C accessors of `csrc/valkey_shims.c` declared in
//! [`server`], never by naming a server symbol from Rust: the library is also
//! linked into valkey-cli and valkey-benchmark, which have no server symbols;
//! the accessors reference them weakly. Without a Valkey tree at build time
//! (`VALKEY_SRC_DIR` unset) `csrc/host_stubs.c` defines the accessors as
//! aborting stubs so the library and its tests still link.
#![allow(non_snake_case, non_camel_case_types)]

use core::ffi::{c_char, c_int, c_uint, c_ulong, c_void, CStr};
use core::marker::{PhantomData, PhantomPinned};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{LazyLock, Once};

use crate::dict::dict;
use crate::ffi::host;
use crate::lazyfree::worker::{Job, JobQueue};
use crate::lazyfree::{free_effort, should_free_async, EffortSource, COUNTERS, LAZYFREE_THRESHOLD};

// Valkey's types, opaque here: only ever handled through pointers. They carry
// Valkey's struct tags, so the generated header's incomplete declarations
// agree with Valkey's own headers.
/// Valkey's `robj` (`typedef struct serverObject robj`).
pub struct serverObject {
    _data: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}
/// Valkey's `serverDb`.
pub struct serverDb {
    _data: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}
/// Valkey's `kvstore` (`typedef struct _kvstore kvstore`).
pub struct _kvstore {
    _data: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}
/// Valkey's radix tree.
pub struct rax {
    _data: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}
/// Valkey's `list` (adlist.h).
pub struct list {
    _data: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}
/// Valkey's `functionsLibCtx`.
pub struct functionsLibCtx {
    _data: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}

/// Signature of a lazyfree job function, as bio.h's `lazy_free_fn`.
pub type lazy_free_fn = unsafe extern "C" fn(args: *mut *mut c_void);

/// The accessors of `csrc/valkey_shims.c` (see the module docs).
/// cbindgen:ignore
pub(crate) mod server {
    use super::*;
    // dict / dictEntry cross only as opaque pointers; their Rust layout is
    // irrelevant to the accessors, which use Valkey's dict API.
    #[allow(improper_ctypes)]
    extern "C" {
        pub fn vkrs_obj_type(o: *const serverObject) -> c_int;
        pub fn vkrs_obj_encoding(o: *const serverObject) -> c_int;
        pub fn vkrs_obj_refcount(o: *const serverObject) -> c_uint;
        pub fn vkrs_obj_val(o: *const serverObject) -> *mut c_void;
        pub fn vkrs_decr_ref_count(o: *mut serverObject);

        pub fn vkrs_quicklist_len(ql: *const c_void) -> usize;
        pub fn vkrs_hashtable_size(ht: *const c_void) -> usize;
        pub fn vkrs_zset_length(zs: *const c_void) -> usize;
        pub fn vkrs_stream_rax_nodes(s: *const c_void) -> usize;
        pub fn vkrs_stream_cgroups(s: *const c_void) -> usize;
        pub fn vkrs_stream_first_group_pel(s: *const c_void) -> usize;
        pub fn vkrs_module_free_effort(
            key: *mut serverObject,
            obj: *mut serverObject,
            dbid: c_int,
        ) -> usize;

        pub fn vkrs_cluster_enabled() -> c_int;
        pub fn vkrs_db_keys_slot(db: *mut serverDb) -> *mut *mut _kvstore;
        pub fn vkrs_db_expires_slot(db: *mut serverDb) -> *mut *mut _kvstore;
        pub fn vkrs_db_volatile_items_slot(db: *mut serverDb) -> *mut *mut _kvstore;
        pub fn vkrs_kvstore_create_keys(bits: c_int, flags: c_int) -> *mut _kvstore;
        pub fn vkrs_kvstore_create_expires(bits: c_int, flags: c_int) -> *mut _kvstore;
        pub fn vkrs_kvstore_size(kvs: *mut _kvstore) -> usize;
        pub fn vkrs_kvstore_release(kvs: *mut _kvstore);

        pub fn vkrs_rax_numele(r: *const rax) -> u64;
        pub fn vkrs_rax_numnodes(r: *const rax) -> u64;
        pub fn vkrs_free_tracking_rax(r: *mut rax);
        pub fn vkrs_free_errors_rax(r: *mut rax);
        pub fn vkrs_rax_free(r: *mut rax);
        pub fn vkrs_list_length(l: *const list) -> c_ulong;
        pub fn vkrs_list_release(l: *mut list);
        pub fn vkrs_dict_size(d: *const dict) -> c_ulong;
        pub fn vkrs_dict_release(d: *mut dict);
        pub fn vkrs_free_eval_scripts(
            scripts: *mut dict,
            lru: *mut list,
            engine_callbacks: *mut list,
        );
        pub fn vkrs_functions_len(ctx: *mut functionsLibCtx) -> usize;
        pub fn vkrs_functions_free(ctx: *mut functionsLibCtx, engine_callbacks: *mut list);

        pub fn vkrs_thread_create(
            tid: *mut libc_pthread_t,
            entry: extern "C" fn(*mut c_void) -> *mut c_void,
            arg: *mut c_void,
        ) -> c_int;
        pub fn vkrs_bio_thread_init(title: *const c_char);
        pub fn vkrs_log_warning(msg: *const c_char);
    }

    /// `pthread_t`: an integer or a pointer, pointer-sized on every platform
    /// Valkey builds on with this library.
    pub type libc_pthread_t = usize;
    extern "C" {
        pub fn pthread_self() -> libc_pthread_t;
        pub fn pthread_equal(a: libc_pthread_t, b: libc_pthread_t) -> c_int;
        pub fn pthread_cancel(t: libc_pthread_t) -> c_int;
        pub fn pthread_join(t: libc_pthread_t, ret: *mut *mut c_void) -> c_int;
        pub fn strerror(errnum: c_int) -> *const c_char;
    }
}

// ---------------------------------------------------------------- the worker

/// A queued call of a lazyfree job function with its arguments, as bio.c's
/// `bio_job.free_args`. The arguments are owned by the job.
struct FreeJob {
    func: lazy_free_fn,
    args: [*mut c_void; 3],
}

// SAFETY: a FreeJob owns the objects its arguments point to (the submitter
// gave them up), so moving it to the worker thread moves sole ownership.
unsafe impl Send for FreeJob {}

impl Job for FreeJob {
    fn run(mut self) {
        // SAFETY: `func` is one of this module's job functions and `args`
        // holds the arguments it expects (see `submit`).
        unsafe { (self.func)(self.args.as_mut_ptr()) }
    }
}

static QUEUE: LazyLock<JobQueue<FreeJob>> = LazyLock::new(JobQueue::new);
static WORKER_STARTED: AtomicBool = AtomicBool::new(false);
static WORKER_JOINABLE: AtomicBool = AtomicBool::new(false);
static WORKER_TID: AtomicUsize = AtomicUsize::new(0);

/// `bioCreateLazyFreeJob(func, n, args...)`.
// FLUSHALL ASYNC runs this, `emptyDbAsync`, the replica tracker's free and
// their accessors in `csrc/valkey_shims.c` once in a while, so their code is
// cold when it matters. One section name keeps them together (the pre-link's
// `ld -r` makes one section of them, which GNU ld places with `.text.hot.*`
// ahead of the rest of `.text`): two pages of code instead of four far apart,
// each a possible iTLB miss on the main thread (bench/README.md, "The flush
// path's code on fewer pages").
#[link_section = ".text.hot.vkrs_flush"]
fn submit(func: lazy_free_fn, args: &[*mut c_void]) {
    let mut a = [core::ptr::null_mut(); 3];
    a[..args.len()].copy_from_slice(args);
    QUEUE.submit(FreeJob { func, args: a });
}

/// `bioCreateLazyFreeJob(free_fn, arg_count, ...)` once `csrc/valkey_shims.c` has read
/// the variadic arguments into `args` (Rust cannot define a variadic function): queues
/// `free_fn(args)` on the lazyfree worker, which then owns what the arguments point to.
/// lazyfree.c's jobs take at most 3 arguments, so this takes at most 3; more is a
/// `_serverAssert`.
///
/// # Safety
/// `args` points to `arg_count` pointers; `free_fn` accepts them.
#[no_mangle]
pub unsafe extern "C" fn vkrs_lazyfree_submit(
    // Spelled out, not `lazy_free_fn`: the generated header would otherwise define a
    // pointer typedef of that name, which clashes with bio.h's function typedef.
    // An Option, so a NULL from C is checked here instead of being an invalid Rust value.
    free_fn: Option<unsafe extern "C" fn(args: *mut *mut c_void)>,
    arg_count: c_int,
    args: *const *mut c_void,
) {
    crate::vk_assert!((0..=3).contains(&arg_count));
    let Some(free_fn) = free_fn else {
        host::server_assert(c"free_fn != NULL", c"src/ffi/lazyfree.rs", line!());
    };
    let n = arg_count as usize;
    // SAFETY: the caller passes n (0..=3, checked above) readable pointers at args.
    let args = if n == 0 {
        &[][..]
    } else {
        unsafe { core::slice::from_raw_parts(args, n) }
    };
    submit(free_fn, args);
}

/// Title of bio's lazyfree thread (what `top -H` and crash reports show).
const WORKER_TITLE: &CStr = c"bio_lazy_free";

extern "C" fn worker_main(_arg: *mut c_void) -> *mut c_void {
    // SAFETY: the accessor only sets this thread's title, affinity,
    // cancellability and signal mask, as bio.c does for its threads, and
    // its scheduling policy (SCHED_BATCH, see csrc/valkey_shims.c).
    unsafe { server::vkrs_bio_thread_init(WORKER_TITLE.as_ptr()) };
    QUEUE.run_worker();
    core::ptr::null_mut()
}

/// A panic anywhere in the library (the worker included) ends in Valkey's
/// crash report through `_serverAssert`, never in a silent thread death.
fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let msg = match info.payload().downcast_ref::<&str>() {
                Some(s) => (*s).to_owned(),
                None => match info.payload().downcast_ref::<String>() {
                    Some(s) => s.clone(),
                    None => "Box<dyn Any>".to_owned(),
                },
            };
            let (file, line) = info
                .location()
                .map(|l| (l.file(), l.line()))
                .unwrap_or(("valkey-rs-core", 0));
            let estr = std::ffi::CString::new(format!("Rust panic: {msg}").replace('\0', " "))
                .unwrap_or_default();
            let file = std::ffi::CString::new(file.replace('\0', " ")).unwrap_or_default();
            // SAFETY: both are NUL-terminated and outlive the call;
            // _serverAssert prints the crash report and terminates the process.
            unsafe { host::_serverAssert(estr.as_ptr(), file.as_ptr(), line as c_int) };
            std::process::abort();
        }));
    });
}

/// Starts the lazyfree worker thread (patched `bioInit()`); jobs submitted
/// before this ran wait in the queue. Exits like bio.c if the thread cannot
/// be created. Idempotent.
#[no_mangle]
pub extern "C" fn vkrs_lazyfree_worker_start() {
    if WORKER_STARTED.swap(true, Ordering::AcqRel) {
        return;
    }
    install_panic_hook();
    let mut tid: server::libc_pthread_t = 0;
    // SAFETY: tid is a valid out-pointer; worker_main matches the entry ABI.
    let err = unsafe { server::vkrs_thread_create(&mut tid, worker_main, core::ptr::null_mut()) };
    if err != 0 {
        // SAFETY: strerror returns a static NUL-terminated message.
        let why = unsafe { CStr::from_ptr(server::strerror(err)) }.to_string_lossy();
        let msg = std::ffi::CString::new(format!(
            "Fatal: Can't initialize Background Jobs. Error message: {why}"
        ))
        .unwrap_or_default();
        // SAFETY: NUL-terminated message.
        unsafe { server::vkrs_log_warning(msg.as_ptr()) };
        std::process::exit(1);
    }
    WORKER_TID.store(tid, Ordering::Release);
    WORKER_JOINABLE.store(true, Ordering::Release);
    // Two one-time costs of the first job sent from the main thread are
    // paid here, at startup, instead of inside the first FLUSHALL ASYNC or
    // UNLINK: std's handle for the main thread, which the channel's wakers
    // use to identify the sender, and the channel's first block of slots,
    // allocated by its first send (a job that does nothing).
    let _ = std::thread::current();
    submit(nothing, &[]);
}

/// The startup job of `vkrs_lazyfree_worker_start`.
unsafe extern "C" fn nothing(_args: *mut *mut c_void) {}

/// `bioPendingJobsOfType(BIO_LAZY_FREE)`: lazyfree jobs submitted and not
/// finished. Eviction waits on it, `bioDrainWorker` polls it.
#[no_mangle]
pub extern "C" fn vkrs_lazyfree_worker_pending_jobs() -> c_ulong {
    QUEUE.pending_jobs() as c_ulong
}

// There is deliberately no shutdown stop. Like bio's lazyfree thread, the
// worker is left running when the server exits: joining it from
// finishShutdown deadlocked when a queued job (lazyFreeFunctionsCtx) waited
// for the module GIL the main thread holds there, and upstream abandons the
// pending frees at exit too.

/// `bioKillThreads()` for the lazyfree worker: cancels and joins it, like
/// bio.c does for its threads, so the crash report's memory test runs with
/// nobody freeing memory behind it. Does nothing on the worker itself.
#[no_mangle]
pub extern "C" fn vkrs_lazyfree_worker_kill() {
    let tid = WORKER_TID.load(Ordering::Acquire);
    if !WORKER_JOINABLE.load(Ordering::Acquire) {
        return;
    }
    // SAFETY: tid is our worker thread (asynchronously cancellable, see
    // vkrs_bio_thread_init); we never cancel the calling thread.
    unsafe {
        if server::pthread_equal(tid, server::pthread_self()) != 0 {
            return;
        }
        if !WORKER_JOINABLE.swap(false, Ordering::AcqRel) || server::pthread_cancel(tid) != 0 {
            return;
        }
        let err = server::pthread_join(tid, core::ptr::null_mut());
        let msg = if err != 0 {
            let why = CStr::from_ptr(server::strerror(err)).to_string_lossy();
            format!("Bio worker thread #2 (lazyfree) can not be joined: {why}")
        } else {
            "Bio worker thread #2 (lazyfree) terminated".to_owned()
        };
        let msg = std::ffi::CString::new(msg).unwrap_or_default();
        server::vkrs_log_warning(msg.as_ptr());
    }
}

/// Test hook (not called by Valkey): queues a job that panics on the worker,
/// to check that a worker panic ends in Valkey's crash report. Used from a
/// debugger: `gdb -p PID -batch -ex 'call (void)vkrs_lazyfree_debug_panic()'`.
///
/// The job waits half a second first: the crash report signals every thread
/// to collect stacks, and a main thread still inside the debugger's inferior
/// call then "returns" into gdb's dummy frame on its stack after gdb detached
/// (a SIGSEGV at a stack address, seen 1 run in ~13 without the wait).
#[no_mangle]
pub extern "C" fn vkrs_lazyfree_debug_panic() {
    unsafe extern "C" fn panic_job(_args: *mut *mut c_void) {
        std::thread::sleep(std::time::Duration::from_millis(500));
        panic!("vkrs_lazyfree_debug_panic: deliberate panic on the lazyfree worker");
    }
    submit(panic_job, &[]);
}

// ---------------------------------------------------------------- job functions

/// Releases one object from the worker (`decrRefCount`).
#[no_mangle]
pub unsafe extern "C" fn lazyfreeFreeObject(args: *mut *mut c_void) {
    server::vkrs_decr_ref_count(*args as *mut serverObject);
    COUNTERS.completed(1);
}

/// Releases the three kvstores a logically emptied database used.
#[no_mangle]
pub unsafe extern "C" fn lazyfreeFreeDatabase(args: *mut *mut c_void) {
    let (keys, expires, volatile) = (
        *args as *mut _kvstore,
        *args.add(1) as *mut _kvstore,
        *args.add(2) as *mut _kvstore,
    );
    let numkeys = server::vkrs_kvstore_size(keys);
    server::vkrs_kvstore_release(keys);
    server::vkrs_kvstore_release(expires);
    server::vkrs_kvstore_release(volatile);
    COUNTERS.completed(numkeys);
}

/// Releases a client-side-caching key tracking table.
#[no_mangle]
pub unsafe extern "C" fn lazyFreeTrackingTable(args: *mut *mut c_void) {
    let rt = *args as *mut rax;
    let len = server::vkrs_rax_numele(rt) as usize;
    server::vkrs_free_tracking_rax(rt);
    COUNTERS.completed(len);
}

/// Releases the error stats rax.
#[no_mangle]
pub unsafe extern "C" fn lazyFreeErrors(args: *mut *mut c_void) {
    let errors = *args as *mut rax;
    let len = server::vkrs_rax_numele(errors) as usize;
    server::vkrs_free_errors_rax(errors);
    COUNTERS.completed(len);
}

/// Releases the eval scripts dict, LRU list and engine callbacks.
#[no_mangle]
pub unsafe extern "C" fn lazyFreeEvalScripts(args: *mut *mut c_void) {
    let scripts = *args as *mut dict;
    let len = server::vkrs_dict_size(scripts) as usize;
    server::vkrs_free_eval_scripts(
        scripts,
        *args.add(1) as *mut list,
        *args.add(2) as *mut list,
    );
    COUNTERS.completed(len);
}

/// Releases a functions library context.
#[no_mangle]
pub unsafe extern "C" fn lazyFreeFunctionsCtx(args: *mut *mut c_void) {
    let ctx = *args as *mut functionsLibCtx;
    let len = server::vkrs_functions_len(ctx);
    server::vkrs_functions_free(ctx, *args.add(1) as *mut list);
    COUNTERS.completed(len);
}

/// Releases replication backlog blocks and their rax index.
#[no_mangle]
pub unsafe extern "C" fn lazyFreeReplicationBacklogRefMem(args: *mut *mut c_void) {
    let (blocks, index) = (*args as *mut list, *args.add(1) as *mut rax);
    let len = (server::vkrs_list_length(blocks) as usize)
        .wrapping_add(server::vkrs_rax_numele(index) as usize);
    server::vkrs_list_release(blocks);
    server::vkrs_rax_free(index);
    COUNTERS.completed(len);
}

/// Releases a writable replica's expire-tracking dict.
#[no_mangle]
pub unsafe extern "C" fn lazyFreeReplicaKeysWithExpire(args: *mut *mut c_void) {
    let d = *args as *mut dict;
    let len = server::vkrs_dict_size(d) as usize;
    server::vkrs_dict_release(d);
    COUNTERS.completed(len);
}

/// Releases the pending replication data blocks.
#[no_mangle]
pub unsafe extern "C" fn lazyfreePendingReplDataBuf(args: *mut *mut c_void) {
    let blocks = *args as *mut list;
    let len = server::vkrs_list_length(blocks) as usize;
    server::vkrs_list_release(blocks);
    COUNTERS.completed(len);
}

// ---------------------------------------------------------------- counters

/// INFO `lazyfree_pending_objects`.
#[no_mangle]
pub extern "C" fn lazyfreeGetPendingObjectsCount() -> usize {
    COUNTERS.pending()
}

/// INFO `lazyfreed_objects`.
#[no_mangle]
pub extern "C" fn lazyfreeGetFreedObjectsCount() -> usize {
    COUNTERS.freed()
}

/// CONFIG RESETSTAT: zeroes `lazyfreed_objects`.
#[no_mangle]
pub extern "C" fn lazyfreeResetStats() {
    COUNTERS.reset_stats()
}

// ---------------------------------------------------------------- entry points

/// A `robj` seen through [`EffortSource`].
struct ObjView {
    key: *mut serverObject,
    obj: *mut serverObject,
    dbid: c_int,
}

// SAFETY (all methods): `obj` is a live robj (module contract); each value
// accessor is only called by `free_effort` for the matching type/encoding.
impl EffortSource for ObjView {
    fn obj_type(&self) -> i32 {
        // SAFETY: see the impl.
        unsafe { server::vkrs_obj_type(self.obj) }
    }
    fn encoding(&self) -> i32 {
        // SAFETY: see the impl.
        unsafe { server::vkrs_obj_encoding(self.obj) }
    }
    fn quicklist_len(&self) -> usize {
        // SAFETY: see the impl.
        unsafe { server::vkrs_quicklist_len(server::vkrs_obj_val(self.obj)) }
    }
    fn hashtable_size(&self) -> usize {
        // SAFETY: see the impl.
        unsafe { server::vkrs_hashtable_size(server::vkrs_obj_val(self.obj)) }
    }
    fn zset_len(&self) -> usize {
        // SAFETY: see the impl.
        unsafe { server::vkrs_zset_length(server::vkrs_obj_val(self.obj)) }
    }
    fn stream_rax_nodes(&self) -> usize {
        // SAFETY: see the impl.
        unsafe { server::vkrs_stream_rax_nodes(server::vkrs_obj_val(self.obj)) }
    }
    fn stream_groups(&self) -> usize {
        // SAFETY: see the impl.
        unsafe { server::vkrs_stream_cgroups(server::vkrs_obj_val(self.obj)) }
    }
    fn stream_first_group_pel(&self) -> usize {
        // SAFETY: see the impl.
        unsafe { server::vkrs_stream_first_group_pel(server::vkrs_obj_val(self.obj)) }
    }
    fn module_free_effort(&self) -> usize {
        // SAFETY: see the impl.
        unsafe { server::vkrs_module_free_effort(self.key, self.obj, self.dbid) }
    }
}

/// The work freeing `obj` takes: quicklist nodes, hashtable or skiplist
/// size, stream nodes plus groups × first group's PEL, the module's
/// `free_effort` (0 → `SIZE_MAX`), or 1.
#[no_mangle]
pub unsafe extern "C" fn lazyfreeGetFreeEffort(
    key: *mut serverObject,
    obj: *mut serverObject,
    dbid: c_int,
) -> usize {
    free_effort(&ObjView { key, obj, dbid })
}

/// Releases `obj` (the caller's reference): on the worker when its effort is
/// above 64 and nobody else holds it, right here otherwise.
#[no_mangle]
pub unsafe extern "C" fn freeObjAsync(key: *mut serverObject, obj: *mut serverObject, dbid: c_int) {
    let effort = lazyfreeGetFreeEffort(key, obj, dbid);
    if should_free_async(effort, server::vkrs_obj_refcount(obj)) {
        COUNTERS.scheduled(1);
        submit(lazyfreeFreeObject, &[obj.cast()]);
    } else {
        server::vkrs_decr_ref_count(obj);
    }
}

/// Empties `db` at once by swapping in fresh kvstores (with the cluster-mode
/// slot bits and flags) and freeing the old ones on the worker.
#[no_mangle]
#[link_section = ".text.hot.vkrs_flush"] // see `submit`
pub unsafe extern "C" fn emptyDbAsync(db: *mut serverDb) {
    const KVSTORE_ALLOCATE_HASHTABLES_ON_DEMAND: c_int = 1 << 0;
    const KVSTORE_FREE_EMPTY_HASHTABLES: c_int = 1 << 1;
    const CLUSTER_SLOT_MASK_BITS: c_int = 14;
    let (bits, flags) = if server::vkrs_cluster_enabled() != 0 {
        (
            CLUSTER_SLOT_MASK_BITS,
            KVSTORE_ALLOCATE_HASHTABLES_ON_DEMAND | KVSTORE_FREE_EMPTY_HASHTABLES,
        )
    } else {
        (0, KVSTORE_ALLOCATE_HASHTABLES_ON_DEMAND)
    };
    let (keys, expires, volatile) = (
        server::vkrs_db_keys_slot(db),
        server::vkrs_db_expires_slot(db),
        server::vkrs_db_volatile_items_slot(db),
    );
    let old = [(*keys).cast(), (*expires).cast(), (*volatile).cast()];
    *keys = server::vkrs_kvstore_create_keys(bits, flags);
    *expires = server::vkrs_kvstore_create_expires(bits, flags);
    *volatile = server::vkrs_kvstore_create_expires(bits, flags);
    COUNTERS.scheduled(server::vkrs_kvstore_size(old[0] as *mut _kvstore));
    submit(lazyfreeFreeDatabase, &old);
}

/// Frees a key tracking table, on the worker if it has more than 64 nodes.
#[no_mangle]
pub unsafe extern "C" fn freeTrackingRadixTreeAsync(tracking: *mut rax) {
    // The rax has keys and no values, so its node count is the effort.
    if server::vkrs_rax_numnodes(tracking) as usize > LAZYFREE_THRESHOLD {
        COUNTERS.scheduled(server::vkrs_rax_numele(tracking) as usize);
        submit(lazyFreeTrackingTable, &[tracking.cast()]);
    } else {
        server::vkrs_free_tracking_rax(tracking);
    }
}

/// Frees the error stats rax, on the worker if it has more than 64 nodes.
#[no_mangle]
pub unsafe extern "C" fn freeErrorsRadixTreeAsync(errors: *mut rax) {
    if server::vkrs_rax_numnodes(errors) as usize > LAZYFREE_THRESHOLD {
        COUNTERS.scheduled(server::vkrs_rax_numele(errors) as usize);
        submit(lazyFreeErrors, &[errors.cast()]);
    } else {
        server::vkrs_free_errors_rax(errors);
    }
}

/// Frees the eval scripts, on the worker if there are more than 64.
#[no_mangle]
pub unsafe extern "C" fn freeEvalScriptsAsync(
    scripts: *mut dict,
    scripts_lru_list: *mut list,
    engine_callbacks: *mut list,
) {
    let n = server::vkrs_dict_size(scripts) as usize;
    if n > LAZYFREE_THRESHOLD {
        COUNTERS.scheduled(n);
        submit(
            lazyFreeEvalScripts,
            &[
                scripts.cast(),
                scripts_lru_list.cast(),
                engine_callbacks.cast(),
            ],
        );
    } else {
        server::vkrs_free_eval_scripts(scripts, scripts_lru_list, engine_callbacks);
    }
}

/// Frees a functions context, on the worker if it has more than 64 functions.
#[no_mangle]
pub unsafe extern "C" fn freeFunctionsAsync(
    functions_lib_ctx: *mut functionsLibCtx,
    engine_callbacks: *mut list,
) {
    let n = server::vkrs_functions_len(functions_lib_ctx);
    if n > LAZYFREE_THRESHOLD {
        COUNTERS.scheduled(n);
        submit(
            lazyFreeFunctionsCtx,
            &[functions_lib_ctx.cast(), engine_callbacks.cast()],
        );
    } else {
        server::vkrs_functions_free(functions_lib_ctx, engine_callbacks);
    }
}

/// Frees replication backlog blocks and index, on the worker if either has
/// more than 64 elements.
#[no_mangle]
pub unsafe extern "C" fn freeReplicationBacklogRefMemAsync(blocks: *mut list, index: *mut rax) {
    let (nblocks, nindex) = (
        server::vkrs_list_length(blocks) as usize,
        server::vkrs_rax_numele(index) as usize,
    );
    if nblocks > LAZYFREE_THRESHOLD || nindex > LAZYFREE_THRESHOLD {
        COUNTERS.scheduled(nblocks.wrapping_add(nindex));
        submit(
            lazyFreeReplicationBacklogRefMem,
            &[blocks.cast(), index.cast()],
        );
    } else {
        server::vkrs_list_release(blocks);
        server::vkrs_rax_free(index);
    }
}

/// Frees a writable replica's expire-tracking dict, on the worker if it
/// tracks more than 64 keys.
#[no_mangle]
#[link_section = ".text.hot.vkrs_flush"] // see `submit`
pub unsafe extern "C" fn freeReplicaKeysWithExpireAsync(replica_keys_with_expire: *mut dict) {
    let n = server::vkrs_dict_size(replica_keys_with_expire) as usize;
    if n > LAZYFREE_THRESHOLD {
        COUNTERS.scheduled(n);
        submit(
            lazyFreeReplicaKeysWithExpire,
            &[replica_keys_with_expire.cast()],
        );
    } else {
        server::vkrs_dict_release(replica_keys_with_expire);
    }
}

/// Frees pending replication data blocks, on the worker if more than 64.
#[no_mangle]
pub unsafe extern "C" fn freePendingReplDataBufAsync(pending_repl_data_blocks: *mut list) {
    let n = server::vkrs_list_length(pending_repl_data_blocks) as usize;
    if n > LAZYFREE_THRESHOLD {
        COUNTERS.scheduled(n);
        submit(
            lazyfreePendingReplDataBuf,
            &[pending_repl_data_blocks.cast()],
        );
    } else {
        server::vkrs_list_release(pending_repl_data_blocks);
    }
}
