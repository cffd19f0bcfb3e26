//! The chained, incrementally rehashed hash table of Valkey's `src/dict.c`.
//!
//! # Contract
//! The dict header is a C struct that C code reads and writes through
//! macros (`dictPauseRehashing` increments `pauserehash` directly), and every
//! callback (hash, compare, destructors, rehashing hooks, scan functions) may
//! re-enter the dict. So the table is handled through raw pointers, never
//! through `&mut dict`, and every field is re-read after a callback, exactly
//! where dict.c re-reads it. All functions here share one precondition,
//! stated once: `d` points to a live dict created by [`create`] whose
//! `type_` points to a valid `dictType`, and no other thread uses it
//! concurrently (dicts are single-threaded in Valkey; the lazyfree worker
//! only ever owns a dict the main thread has given up).
//!
//! # Invariants (same as dict.c)
//! * table `t` exists iff `ht_size_exp[t] != -1`, and then has
//!   `1 << ht_size_exp[t]` buckets;
//! * `rehashidx == -1` iff table 1 does not exist; while rehashing, buckets
//!   `0..rehashidx` of table 0 are empty;
//! * `ht_used[t]` is the number of entries chained from table `t`.
//!
//! Observable behaviour (resize policy, rehash steps, callbacks, scan
//! cursors, PRNG draws) follows dict.c call for call, so a differential run
//! against `dict.o` produces identical traces.

pub(crate) mod siphash;
pub mod types;

use core::ffi::{c_int, c_long, c_ulong, c_void};
use core::mem::size_of;
use core::ptr::{self, null_mut};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use crate::ffi::host;
use crate::vk_assert;
pub use types::*;

/// Global resize policy (`dict_can_resize` in dict.c). Valkey sets it from the
/// main thread around fork; relaxed ordering is what a plain C global gives.
static RESIZE_POLICY: AtomicU32 = AtomicU32::new(DICT_RESIZE_ENABLE);
/// `dict_force_resize_ratio`: fixed at 4 in Valkey 9.1.
pub(crate) const FORCE_RESIZE_RATIO: u64 = 4;

/// The 16-byte SipHash key. `dictGetHashFunctionSeed` hands C a pointer to it,
/// so it needs a fixed address and interior mutability.
pub(crate) struct HashSeed(UnsafeCell<[u8; 16]>);
// SAFETY: Valkey sets the seed once at startup before any thread hashes, as
// with dict.c's plain static array.
unsafe impl Sync for HashSeed {}
pub(crate) static HASH_SEED: HashSeed = HashSeed(UnsafeCell::new([0; 16]));

impl HashSeed {
    pub(crate) fn as_mut_ptr(&self) -> *mut u8 {
        self.0.get().cast()
    }
    fn get(&self) -> &[u8; 16] {
        // SAFETY: see the Sync impl: writes happen before concurrent reads.
        unsafe { &*self.0.get() }
    }
}

#[inline(always)]
fn ht_size(exp: i8) -> u64 {
    if exp == -1 {
        0
    } else {
        1u64 << exp
    }
}

#[inline(always)]
fn ht_mask(exp: i8) -> u64 {
    if exp == -1 {
        0
    } else {
        (1u64 << exp) - 1
    }
}

/// `ht_mask` of a table known to be allocated (`exp >= 0`), without the
/// select for the empty case.
#[inline(always)]
fn ht_mask_allocated(exp: i8) -> u64 {
    debug_assert!(exp >= 0);
    (1u64 << (exp as u32 & 63)) - 1
}

#[inline(always)]
fn policy() -> dictResizeEnable {
    RESIZE_POLICY.load(Ordering::Relaxed)
}

pub(crate) fn set_resize_enabled(enable: dictResizeEnable) {
    RESIZE_POLICY.store(enable, Ordering::Relaxed);
}

/// The smallest exponent whose table holds `size` buckets (dict.c's `dictNextExp`).
pub(crate) fn next_exp(size: u64) -> i8 {
    if size <= DICT_HT_INITIAL_SIZE {
        return DICT_HT_INITIAL_EXP;
    }
    if size >= c_long::MAX as u64 {
        return 63;
    }
    (64 - (size - 1).leading_zeros()) as i8
}

/// Thomas Wang's 64-bit integer hash, as Valkey's util.c `wangHash64`.
pub(crate) fn wang_hash64(mut hash: u64) -> u64 {
    hash = (!hash).wrapping_add(hash << 21);
    hash ^= hash >> 24;
    hash = hash.wrapping_add(hash << 3).wrapping_add(hash << 8);
    hash ^= hash >> 14;
    hash = hash.wrapping_add(hash << 2).wrapping_add(hash << 4);
    hash ^= hash >> 28;
    hash.wrapping_add(hash << 31)
}

/// `dictGenHashFunction`: SipHash-1-2 with the global seed.
///
/// # Safety
/// `key` is valid for reads of `len` bytes (anything when `len` is 0).
pub(crate) unsafe fn gen_hash(key: *const u8, len: usize) -> u64 {
    siphash::hash_raw(key, len, HASH_SEED.get(), false)
}

/// `dictGenCaseHashFunction`: the same with A-Z folded to a-z.
///
/// # Safety
/// As [`gen_hash`].
pub(crate) unsafe fn gen_case_hash(key: *const u8, len: usize) -> u64 {
    siphash::hash_raw(key, len, HASH_SEED.get(), true)
}

/// Wall-clock milliseconds, as dict.c's `timeInMilliseconds` (gettimeofday).
pub(crate) fn time_in_milliseconds() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    now.as_secs() as i64 * 1000 + i64::from(now.subsec_millis())
}

// ---------------------------------------------------------------------------
// Small accessors. All take the module-level precondition on `d`.

#[inline(always)]
unsafe fn dtype<'a>(d: *const dict) -> &'a dictType {
    &*(*d).type_
}

#[inline(always)]
pub(crate) unsafe fn is_rehashing(d: *const dict) -> bool {
    (*d).rehashidx != -1
}

#[inline(always)]
pub(crate) unsafe fn size(d: *const dict) -> u64 {
    (*d).ht_used[0] + (*d).ht_used[1]
}

#[inline(always)]
pub(crate) unsafe fn buckets(d: *const dict) -> u64 {
    ht_size((*d).ht_size_exp[0]) + ht_size((*d).ht_size_exp[1])
}

#[inline(always)]
pub(crate) unsafe fn hash_key(d: *const dict, key: *const c_void) -> u64 {
    match dtype(d).hashFunction {
        Some(f) => f(key),
        None => host::server_assert(c"d->type->hashFunction", c"src/dict/mod.rs", line!()),
    }
}

#[inline(always)]
unsafe fn keys_equal(d: *const dict, key: *const c_void, other: *const c_void) -> bool {
    if key == other {
        return true;
    }
    match dtype(d).keyCompare {
        Some(cmp) => cmp(key, other) != 0,
        None => false,
    }
}

#[inline(always)]
unsafe fn bucket_at(d: *mut dict, table: usize, idx: u64) -> *mut *mut dictEntry {
    (*d).ht_table[table].add(idx as usize)
}

unsafe fn free_key(d: *mut dict, de: *mut dictEntry) {
    if let Some(f) = dtype(d).keyDestructor {
        f((*de).key);
    }
}

unsafe fn free_val(d: *mut dict, de: *mut dictEntry) {
    if let Some(f) = dtype(d).valDestructor {
        f((*de).v.val);
    }
}

unsafe fn reset_table(d: *mut dict, t: usize) {
    (*d).ht_table[t] = null_mut();
    (*d).ht_size_exp[t] = -1;
    (*d).ht_used[t] = 0;
}

#[inline]
unsafe fn rehash_step(d: *mut dict) {
    if (*d).pauserehash == 0 {
        rehash(d, 1);
    }
}

#[inline(always)]
unsafe fn shrink_if_auto_resize_allowed(d: *mut dict) {
    if (*d).pauseAutoResize > 0 {
        return;
    }
    shrink_if_needed(d);
}

#[inline(always)]
unsafe fn expand_if_auto_resize_allowed(d: *mut dict) {
    if (*d).pauseAutoResize > 0 {
        return;
    }
    expand_if_needed(d);
}

// ---------------------------------------------------------------------------
// Creation, resizing, rehashing.

/// `dictCreate`: header plus zeroed caller metadata, no table yet.
pub(crate) unsafe fn create(type_: *mut dictType) -> *mut dict {
    let metasize = match (*type_).dictMetadataBytes {
        Some(f) => f(null_mut()),
        None => 0,
    };
    let d = host::valkey_malloc(size_of::<dict>() + metasize).cast::<dict>();
    if metasize > 0 {
        ptr::write_bytes(ptr::addr_of_mut!((*d).metadata).cast::<u8>(), 0, metasize);
    }
    reset_table(d, 0);
    reset_table(d, 1);
    (*d).type_ = type_;
    (*d).rehashidx = -1;
    (*d).pauserehash = 0;
    (*d).pauseAutoResize = 0;
    d
}

/// How a resize allocates its table: `zcalloc` (aborts on OOM) or `ztrycalloc`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Alloc {
    MustSucceed,
    MayFail,
}

/// Outcome of a resize attempt, keeping dict.c's distinction between "not
/// performed" and "allocation failed" (only the latter fails `dictTryExpand`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Resize {
    Done,
    Skipped,
    AllocFailed,
}

/// dict.c's `dictResizeWithOptionalCheck`: allocate table 1 and start a
/// rehash, or install the table directly when table 0 is absent or empty.
unsafe fn resize(d: *mut dict, size: u64, alloc: Alloc) -> Resize {
    vk_assert!(!is_rehashing(d));

    let new_exp = next_exp(size);
    let newsize = ht_size(new_exp);
    if newsize < size || newsize.wrapping_mul(size_of::<*mut dictEntry>() as u64) < newsize {
        return Resize::Skipped;
    }
    if new_exp == (*d).ht_size_exp[0] {
        return Resize::Skipped;
    }

    let bytes = (newsize as usize).wrapping_mul(size_of::<*mut dictEntry>());
    let new_table = match alloc {
        Alloc::MayFail => {
            let t = host::ztrycalloc(bytes);
            if t.is_null() {
                return Resize::AllocFailed;
            }
            t
        }
        Alloc::MustSucceed => host::valkey_calloc(bytes),
    }
    .cast::<*mut dictEntry>();

    // Table 1 is prepared even for the first allocation so that
    // rehashingStarted sees both tables, as in dict.c.
    (*d).ht_size_exp[1] = new_exp;
    (*d).ht_used[1] = 0;
    (*d).ht_table[1] = new_table;
    (*d).rehashidx = 0;
    if let Some(f) = dtype(d).rehashingStarted {
        f(d);
    }

    // Nothing to migrate: install the new table as table 0 right away.
    if (*d).ht_table[0].is_null() || (*d).ht_used[0] == 0 {
        if let Some(f) = dtype(d).rehashingCompleted {
            f(d);
        }
        if !(*d).ht_table[0].is_null() {
            host::valkey_free((*d).ht_table[0].cast());
        }
        (*d).ht_size_exp[0] = new_exp;
        (*d).ht_used[0] = 0;
        (*d).ht_table[0] = new_table;
        reset_table(d, 1);
        (*d).rehashidx = -1;
    }
    Resize::Done
}

unsafe fn expand_checked(d: *mut dict, size: u64, alloc: Alloc) -> Resize {
    if is_rehashing(d) || (*d).ht_used[0] > size || ht_size((*d).ht_size_exp[0]) >= size {
        return Resize::Skipped;
    }
    resize(d, size, alloc)
}

/// `dictExpand`: DICT_ERR when the expansion was not performed.
pub(crate) unsafe fn expand(d: *mut dict, size: u64) -> c_int {
    match expand_checked(d, size, Alloc::MustSucceed) {
        Resize::Done => DICT_OK,
        _ => DICT_ERR,
    }
}

/// `dictTryExpand`: DICT_ERR only when the allocation failed.
pub(crate) unsafe fn try_expand(d: *mut dict, size: u64) -> c_int {
    match expand_checked(d, size, Alloc::MayFail) {
        Resize::AllocFailed => DICT_ERR,
        _ => DICT_OK,
    }
}

/// `dictShrink`: DICT_ERR when the shrink was not performed.
pub(crate) unsafe fn shrink(d: *mut dict, size: u64) -> c_int {
    if is_rehashing(d) || (*d).ht_used[0] > size || ht_size((*d).ht_size_exp[0]) <= size {
        return DICT_ERR;
    }
    match resize(d, size, Alloc::MustSucceed) {
        Resize::Done => DICT_OK,
        _ => DICT_ERR,
    }
}

/// Moves every entry of table-0 bucket `idx` to table 1.
unsafe fn rehash_bucket_entries(d: *mut dict, idx: u64) {
    let mut de = *bucket_at(d, 0, idx);
    let growing = (*d).ht_size_exp[1] > (*d).ht_size_exp[0];
    let mask1 = ht_mask((*d).ht_size_exp[1]);
    while !de.is_null() {
        let next = (*de).next;
        // When shrinking, sizes are powers of two: masking the old index
        // gives the new one without rehashing the key.
        let h = if growing {
            hash_key(d, (*de).key) & mask1
        } else {
            idx & mask1
        };
        let dst = bucket_at(d, 1, h);
        (*de).next = *dst;
        *dst = de;
        (*d).ht_used[0] -= 1;
        (*d).ht_used[1] += 1;
        de = next;
    }
    *bucket_at(d, 0, idx) = null_mut();
}

/// When table 0 is drained, table 1 becomes table 0. Returns whether it did.
/// The check is inlined into every rehash step; the switch is not.
#[inline(always)]
unsafe fn check_rehashing_completed(d: *mut dict) -> bool {
    if (*d).ht_used[0] != 0 {
        return false;
    }
    complete_rehashing(d);
    true
}

#[cold]
#[inline(never)]
unsafe fn complete_rehashing(d: *mut dict) {
    if let Some(f) = dtype(d).rehashingCompleted {
        f(d);
    }
    host::valkey_free((*d).ht_table[0].cast());
    (*d).ht_table[0] = (*d).ht_table[1];
    (*d).ht_used[0] = (*d).ht_used[1];
    (*d).ht_size_exp[0] = (*d).ht_size_exp[1];
    reset_table(d, 1);
    (*d).rehashidx = -1;
}

/// Whether the global policy currently holds back the rehash in progress:
/// FORBID always; AVOID unless the size change is at least 4x up or 32x down.
unsafe fn rehash_held_back(d: *const dict) -> bool {
    let s0 = ht_size((*d).ht_size_exp[0]);
    let s1 = ht_size((*d).ht_size_exp[1]);
    match policy() {
        DICT_RESIZE_FORBID => true,
        DICT_RESIZE_AVOID => {
            (s1 > s0 && s1 < FORCE_RESIZE_RATIO * s0)
                || (s1 < s0 && s0 < HASHTABLE_MIN_FILL * FORCE_RESIZE_RATIO * s1)
        }
        _ => false,
    }
}

/// `dictRehash`: up to `n` bucket moves, visiting at most `n*10` empty
/// buckets. Returns 1 while entries remain to move.
pub(crate) unsafe fn rehash(d: *mut dict, mut n: c_int) -> c_int {
    let mut empty_visits = n.wrapping_mul(10);
    if policy() == DICT_RESIZE_FORBID || !is_rehashing(d) {
        return 0;
    }
    if rehash_held_back(d) {
        return 0;
    }

    loop {
        let left = n;
        n = n.wrapping_sub(1);
        if left == 0 || (*d).ht_used[0] == 0 {
            break;
        }
        // rehashidx cannot run off table 0: it still holds entries.
        vk_assert!(ht_size((*d).ht_size_exp[0]) > (*d).rehashidx as u64);
        while (*bucket_at(d, 0, (*d).rehashidx as u64)).is_null() {
            (*d).rehashidx += 1;
            empty_visits = empty_visits.wrapping_sub(1);
            if empty_visits == 0 {
                return 1;
            }
        }
        rehash_bucket_entries(d, (*d).rehashidx as u64);
        (*d).rehashidx += 1;
    }
    if (*d).ht_size_exp[0] >= LARGE_TABLE_EXP {
        prefetch_next_rehash(d);
    }
    c_int::from(!check_rehashing_completed(d))
}

/// Tables of 2^14 buckets and more (with their entries, about L2-sized) get
/// the look-aheads: iteration, clearing, `prefetch_next_rehash` and the
/// insert's bucket prefetch; smaller ones stay in cache, where a prefetch
/// would only cost. Under Miri the look-aheads start at 2^6 buckets, so that
/// the small tests reach them and their reads are bounds-checked.
const LARGE_TABLE_EXP: i8 = if cfg!(miri) { 6 } else { 14 };

/// Starts loading what the next rehash step will read. A step stalls on the
/// chain head it moves (a random heap address) and, when the table grows, on
/// that entry's key, which the hash function reads. Keyed operations run one
/// step each, so one step of lead is enough: this requests the head of the
/// bucket after rehashidx, and the key of rehashidx's own head, which the
/// step before requested when it moved the bucket just before.
/// Out of line, so that the steps over small tables stay as short as they
/// were.
#[inline(never)]
unsafe fn prefetch_next_rehash(d: *mut dict) {
    if (*d).ht_used[0] == 0 {
        return; // table 0 is drained: rehashidx may be past its end
    }
    // In bounds: table 0's remaining entries are all at or after rehashidx.
    let r = (*d).rehashidx as u64;
    if r + 1 < ht_size((*d).ht_size_exp[0]) {
        prefetch(*bucket_at(d, 0, r + 1));
    }
    let head = *bucket_at(d, 0, r);
    if !head.is_null() && (*d).ht_size_exp[1] > (*d).ht_size_exp[0] {
        prefetch((*head).key);
    }
}

/// `dictRehashMicroseconds`: rehash in batches of 100 until `us` elapse.
pub(crate) unsafe fn rehash_microseconds(d: *mut dict, us: u64) -> c_int {
    if (*d).pauserehash > 0 {
        return 0;
    }
    let start = host::monotonic_us();
    let mut rehashes: c_int = 0;
    while rehash(d, 100) != 0 {
        rehashes = rehashes.wrapping_add(100);
        if host::monotonic_us().wrapping_sub(start) >= us {
            break;
        }
    }
    rehashes
}

/// Rehashes the one table-0 bucket a lookup is about to touch.
#[inline]
unsafe fn bucket_rehash(d: *mut dict, idx: u64) -> bool {
    if (*d).pauserehash != 0 {
        return false;
    }
    if policy() == DICT_RESIZE_FORBID || !is_rehashing(d) {
        return false;
    }
    if rehash_held_back(d) {
        return false;
    }
    rehash_bucket_entries(d, idx);
    check_rehashing_completed(d);
    true
}

/// The rehash work every keyed operation does first: the bucket it is about
/// to visit if that bucket still holds entries in table 0 (cache friendly),
/// otherwise one ordinary step.
#[inline]
unsafe fn rehash_for_lookup(d: *mut dict, idx: u64) {
    if (idx as c_long) >= (*d).rehashidx && !(*bucket_at(d, 0, idx)).is_null() {
        bucket_rehash(d, idx);
    } else {
        rehash_step(d);
    }
}

// ---------------------------------------------------------------------------
// Keyed operations.

/// Walks one bucket chain for `key`.
#[inline(always)]
unsafe fn chain_find(d: *mut dict, mut he: *mut dictEntry, key: *const c_void) -> *mut dictEntry {
    while !he.is_null() {
        if keys_equal(d, key, (*he).key) {
            return he;
        }
        he = (*he).next;
    }
    null_mut()
}

/// `dictFind`.
#[inline(always)]
pub(crate) unsafe fn find(d: *mut dict, key: *const c_void) -> *mut dictEntry {
    if size(d) == 0 {
        return null_mut();
    }
    let h = hash_key(d, key);
    if !is_rehashing(d) {
        // Common case: one table, no rehash work.
        // Not empty and not rehashing: table 0 is allocated.
        return chain_find(
            d,
            *bucket_at(d, 0, h & ht_mask_allocated((*d).ht_size_exp[0])),
            key,
        );
    }
    find_rehashing(d, key, h)
}

#[inline(never)]
unsafe fn find_rehashing(d: *mut dict, key: *const c_void, h: u64) -> *mut dictEntry {
    // While rehashing both tables are allocated (table 1 is only searched
    // while still rehashing after the step).
    let idx = h & ht_mask_allocated((*d).ht_size_exp[0]);
    rehash_for_lookup(d, idx);
    for table in 0..2 {
        // Table-0 buckets below rehashidx are empty (compared with the
        // index computed before the rehash step, as dict.c does).
        if table == 0 && (idx as c_long) < (*d).rehashidx {
            continue;
        }
        let he = chain_find(
            d,
            *bucket_at(d, table, h & ht_mask_allocated((*d).ht_size_exp[table])),
            key,
        );
        if !he.is_null() {
            return he;
        }
        if !is_rehashing(d) {
            return null_mut();
        }
    }
    null_mut()
}

/// Where `key` goes: the bucket of the table being filled and that table's
/// index, or None (and `*existing`, if given) when the key exists. Does
/// dict.c's `dictFindPositionForInsert` work: one rehash step, then the
/// expand check.
#[inline(always)]
unsafe fn insert_slot(
    d: *mut dict,
    key: *const c_void,
    existing: *mut *mut dictEntry,
) -> Option<(*mut *mut dictEntry, usize)> {
    if !existing.is_null() {
        *existing = null_mut();
    }
    let hash = hash_key(d, key);
    // Table 0's index as computed before the rehash step, which the
    // rehashing loop below compares with rehashidx, as dict.c does. When no
    // rehash was running, any rehash the expand check starts has rehashidx
    // 0, which no index is below.
    let mut idx = 0;
    if is_rehashing(d) {
        idx = hash & ht_mask_allocated((*d).ht_size_exp[0]);
        // A new key lands in table 1: over a large table, start loading its
        // bucket while the rehash step works elsewhere.
        let exp1 = (*d).ht_size_exp[1];
        if exp1 >= LARGE_TABLE_EXP {
            prefetch(bucket_at(d, 1, hash & ht_mask_allocated(exp1)));
        }
        rehash_for_lookup(d, idx);
    }
    expand_if_auto_resize_allowed(d);
    if !is_rehashing(d) {
        // Common case: one table (the loop below would search only table 0
        // and return its bucket).
        let bucket = bucket_at(d, 0, hash & ht_mask((*d).ht_size_exp[0]));
        let he = chain_find(d, *bucket, key);
        if he.is_null() {
            return Some((bucket, 0));
        }
        if !existing.is_null() {
            *existing = he;
        }
        return None;
    }
    for table in 0..2 {
        if table == 0 && (idx as c_long) < (*d).rehashidx {
            continue;
        }
        idx = hash & ht_mask((*d).ht_size_exp[table]);
        let he = chain_find(d, *bucket_at(d, table, idx), key);
        if !he.is_null() {
            if !existing.is_null() {
                *existing = he;
            }
            return None;
        }
        if !is_rehashing(d) {
            break;
        }
    }
    // New entries always go to the table being filled.
    let table = usize::from(is_rehashing(d));
    Some((bucket_at(d, table, idx), table))
}

/// `dictFindPositionForInsert`.
pub(crate) unsafe fn find_position_for_insert(
    d: *mut dict,
    key: *const c_void,
    existing: *mut *mut dictEntry,
) -> *mut c_void {
    match insert_slot(d, key, existing) {
        Some((bucket, _)) => bucket.cast(),
        None => null_mut(),
    }
}

/// The usable size the allocator gave every block of one kind so far, while
/// all got the same one. 0 before the first block; `MIXED`, for good, once
/// two differed or active defrag moved a block (the new one comes from
/// Valkey's defrag allocator, whose size the library never sees).
///
/// While it holds a size, every live block of the kind has exactly that
/// usable size, so it is freed with `zfree_with_size`, as sds frees its
/// strings: `used_memory` drops by the same amount as with `zfree`, without
/// zfree's `malloc_usable_size` lookup of a random heap address, which is
/// most of what freeing a dict entry costs (dict.c pays it on every delete,
/// `dictRelease` and FLUSHALL). With jemalloc the size never changes (a size
/// class); with libc malloc it may, and the fast free then stops.
///
/// Knowing the size costs the allocation: `zmalloc_usable` (an out-of-line
/// `extend_to_usable` call, the size's store and check) where dict.c calls
/// `zmalloc`, about 1.5 % of a 16-entry dict's create and fill (bench/README.md,
/// "The dict section in lockstep"). So when the allocator promises the size,
/// it is asked for once: if the first block came from jemalloc (the thread's
/// jemalloc allocation count grew by its usable size) and that size is
/// jemalloc's size class for the request, it is recorded with `CLASS`, and
/// later blocks come from plain `zmalloc`, each with that size by jemalloc's
/// design (csrc/alloc_class.c). Under libc malloc every block is still asked
/// for its size.
///
/// Only dict entries are tracked so. Bucket arrays were, by size, in a
/// trial: a 16-entry dict's create-fill-release ran 61 instructions fewer
/// of 7,621 and no faster, so they keep plain `zfree`.
///
/// Relaxed is enough: a block's size (or the class) is recorded before the
/// block is linked into a dict, and a thread that frees it (the lazyfree
/// worker) got the dict through a hand-over that orders the record first, so
/// it sees that size or `MIXED`.
struct UsableSize {
    state: AtomicUsize,
    /// The request size of every block of this kind.
    request: usize,
}

impl UsableSize {
    const MIXED: usize = usize::MAX;
    /// Set with the size when the allocator promises it for every block: no
    /// need to ask. Also set in `MIXED`, where no free uses the size.
    const CLASS: usize = 1 << (usize::BITS - 1);

    const fn new(request: usize) -> Self {
        UsableSize {
            state: AtomicUsize::new(0),
            request,
        }
    }

    /// A new block of this kind got `usable` bytes.
    #[inline(always)]
    fn note(&self, usable: usize) {
        if usable != self.state.load(Ordering::Relaxed) {
            self.note_first(usable, false);
        }
    }

    /// The first block's size becomes the size (with `CLASS` when `class`);
    /// a block of any other size ends the fast free. Two threads may both
    /// take their block for the first: one records it, the other compares.
    #[cold]
    #[inline(never)]
    fn note_first(&self, usable: usize, class: bool) {
        let first = if class { usable | Self::CLASS } else { usable };
        if let Err(seen) =
            self.state
                .compare_exchange(0, first, Ordering::Relaxed, Ordering::Relaxed)
        {
            if seen != Self::MIXED && seen & !Self::CLASS != usable {
                self.state.store(Self::MIXED, Ordering::Relaxed);
            }
        }
    }

    /// Something other than the library replaced a block of this kind.
    fn note_moved(&self) {
        self.state.store(Self::MIXED, Ordering::Relaxed);
    }

    /// The size every live block has, if they all have the same.
    #[inline(always)]
    fn known(&self) -> Option<usize> {
        let s = self.state.load(Ordering::Relaxed);
        (s != 0 && s != Self::MIXED).then_some(s & !Self::CLASS)
    }

    /// A new block of this kind.
    #[inline(always)]
    unsafe fn alloc(&self) -> *mut c_void {
        let s = self.state.load(Ordering::Relaxed);
        if s & Self::CLASS != 0 {
            return host::valkey_malloc(self.request);
        }
        if s == 0 {
            return self.alloc_first();
        }
        let mut usable = 0usize;
        let block = host::zmalloc_usable(self.request, &mut usable);
        self.note(usable);
        block
    }

    /// The first block: its size becomes the size, as the class when the
    /// block came from jemalloc (the thread's jemalloc count grew by just its
    /// size) and that size is the request's class.
    #[cold]
    #[inline(never)]
    unsafe fn alloc_first(&self) -> *mut c_void {
        let before = host::jemalloc_thread_allocated();
        let mut usable = 0usize;
        let block = host::zmalloc_usable(self.request, &mut usable);
        let from_jemalloc = host::jemalloc_thread_allocated().wrapping_sub(before) == usable as u64;
        let class = host::jemalloc_size_class(self.request);
        self.note_first(usable, from_jemalloc && class == usable);
        block
    }

    /// Frees a non-NULL block of this kind.
    #[inline(always)]
    unsafe fn free(&self, block: *mut c_void) {
        match self.known() {
            Some(usable) => host::zfree_with_size(block, usable),
            None => host::valkey_free(block),
        }
    }

    #[cfg(test)]
    fn reset(&self) {
        self.state.store(0, Ordering::Relaxed);
    }
}

/// Dict entries: one size, `size_of::<dictEntry>()`.
static ENTRY_USABLE: UsableSize = UsableSize::new(size_of::<dictEntry>());

#[inline(always)]
unsafe fn alloc_entry() -> *mut dictEntry {
    ENTRY_USABLE.alloc().cast()
}

#[inline(always)]
unsafe fn free_entry_memory(entry: *mut dictEntry) {
    ENTRY_USABLE.free(entry.cast());
}

/// Tests start from a clean record (no entry may be live).
#[cfg(test)]
pub(crate) fn reset_entry_usable() {
    ENTRY_USABLE.reset();
}

/// Whether entries are freed by `zfree_with_size` now.
#[cfg(test)]
pub(crate) fn entry_free_has_size() -> bool {
    ENTRY_USABLE.known().is_some()
}

/// Links a new entry for `key` at the head of `bucket` in `table`.
#[inline(always)]
unsafe fn link_new_entry(
    d: *mut dict,
    key: *mut c_void,
    bucket: *mut *mut dictEntry,
    table: usize,
) -> *mut dictEntry {
    let entry = alloc_entry();
    // The value slot stays uninitialised, as in dict.c; callers set it.
    ptr::addr_of_mut!((*entry).key).write(key);
    ptr::addr_of_mut!((*entry).next).write(*bucket);
    *bucket = entry;
    (*d).ht_used[table] += 1;
    entry
}

/// `dictInsertAtPosition`: links a new entry at the head of `position`,
/// which must come from `dictFindPositionForInsert` on the unchanged dict.
pub(crate) unsafe fn insert_at_position(
    d: *mut dict,
    key: *mut c_void,
    position: *mut c_void,
) -> *mut dictEntry {
    let bucket = position.cast::<*mut dictEntry>();
    let table = usize::from(is_rehashing(d));
    let first = (*d).ht_table[table];
    let last = first.wrapping_add(ht_mask((*d).ht_size_exp[table]) as usize);
    vk_assert!(bucket >= first && bucket <= last);
    link_new_entry(d, key, bucket, table)
}

/// `dictAddRaw`. The position comes straight from `insert_slot`, so the
/// caller-supplied-position check of `dictInsertAtPosition` is not needed.
#[inline(always)]
pub(crate) unsafe fn add_raw(
    d: *mut dict,
    key: *mut c_void,
    existing: *mut *mut dictEntry,
) -> *mut dictEntry {
    let Some((bucket, table)) = insert_slot(d, key, existing) else {
        return null_mut();
    };
    let key = match dtype(d).keyDup {
        Some(dup) => dup(key),
        None => key,
    };
    link_new_entry(d, key, bucket, table)
}

/// `dictAdd`.
#[inline(always)]
pub(crate) unsafe fn add(d: *mut dict, key: *mut c_void, val: *mut c_void) -> c_int {
    let entry = add_raw(d, key, null_mut());
    if entry.is_null() {
        return DICT_ERR;
    }
    (*entry).v.val = val;
    DICT_OK
}

/// `dictReplace`: 1 when added, 0 when an existing value was replaced (the
/// new value is set before the old one is destroyed, for refcounted values).
pub(crate) unsafe fn replace(d: *mut dict, key: *mut c_void, val: *mut c_void) -> c_int {
    let mut existing: *mut dictEntry = null_mut();
    let entry = add_raw(d, key, &mut existing);
    if !entry.is_null() {
        (*entry).v.val = val;
        return 1;
    }
    let oldval = (*existing).v.val;
    (*existing).v.val = val;
    if let Some(f) = dtype(d).valDestructor {
        f(oldval);
    }
    0
}

/// `dictAddOrFind`.
pub(crate) unsafe fn add_or_find(d: *mut dict, key: *mut c_void) -> *mut dictEntry {
    let mut existing: *mut dictEntry = null_mut();
    let entry = add_raw(d, key, &mut existing);
    if entry.is_null() {
        existing
    } else {
        entry
    }
}

/// dict.c's `dictGenericDelete`: unlinks the entry and frees it unless `nofree`.
#[inline(always)]
unsafe fn generic_delete(d: *mut dict, key: *const c_void, nofree: bool) -> *mut dictEntry {
    if size(d) == 0 {
        return null_mut();
    }
    let h = hash_key(d, key);
    // Not empty: table 0 is allocated (also while rehashing, until the step
    // that completes it), and table 1 is only searched while rehashing.
    let mut idx = h & ht_mask_allocated((*d).ht_size_exp[0]);
    if !is_rehashing(d) {
        // Common case: one table, no rehash work.
        return unlink_from_chain(d, 0, bucket_at(d, 0, idx), key, nofree);
    }
    rehash_for_lookup(d, idx);
    for table in 0..2 {
        if table == 0 && (idx as c_long) < (*d).rehashidx {
            continue;
        }
        idx = h & ht_mask_allocated((*d).ht_size_exp[table]);
        let he = unlink_from_chain(d, table, bucket_at(d, table, idx), key, nofree);
        if !he.is_null() {
            return he;
        }
        if !is_rehashing(d) {
            break;
        }
    }
    null_mut()
}

/// Unlinks `key`'s entry from the chain at `link` of `table` (freeing it
/// unless `nofree`) and gives the table a chance to shrink; NULL if absent.
#[inline(always)]
unsafe fn unlink_from_chain(
    d: *mut dict,
    table: usize,
    mut link: *mut *mut dictEntry,
    key: *const c_void,
    nofree: bool,
) -> *mut dictEntry {
    while !(*link).is_null() {
        let he = *link;
        if keys_equal(d, key, (*he).key) {
            *link = (*he).next;
            if !nofree {
                free_unlinked_entry(d, he);
            }
            (*d).ht_used[table] -= 1;
            shrink_if_auto_resize_allowed(d);
            return he;
        }
        link = ptr::addr_of_mut!((*he).next);
    }
    null_mut()
}

/// `dictDelete`.
pub(crate) unsafe fn delete(d: *mut dict, key: *const c_void) -> c_int {
    if generic_delete(d, key, false).is_null() {
        DICT_ERR
    } else {
        DICT_OK
    }
}

/// `dictUnlink`: removes without freeing; see `dictFreeUnlinkedEntry`.
pub(crate) unsafe fn unlink(d: *mut dict, key: *const c_void) -> *mut dictEntry {
    generic_delete(d, key, true)
}

/// `dictFreeUnlinkedEntry`: NULL-safe.
#[inline]
pub(crate) unsafe fn free_unlinked_entry(d: *mut dict, he: *mut dictEntry) {
    if he.is_null() {
        return;
    }
    free_key(d, he);
    free_val(d, he);
    free_entry_memory(he);
}

/// Frees every entry of one table, calling `callback` every 65536 buckets.
#[inline]
unsafe fn clear(d: *mut dict, t: usize, callback: Option<unsafe extern "C" fn(*mut dict)>) {
    // Two instances: the walk of a small table (in cache, and freed by the
    // million in pub/sub and client churn) carries no look-ahead code at all,
    // and the large tables' walk stays out of line so that this one inlines.
    if ht_size((*d).ht_size_exp[t]) >= ITER_PREFETCH_MIN_BUCKETS as u64 {
        free_entries_of_large_table(d, t, callback);
    } else {
        free_entries::<false>(d, t, callback);
    }
    host::valkey_free((*d).ht_table[t].cast());
    reset_table(d, t);
}

#[inline(never)]
unsafe fn free_entries_of_large_table(
    d: *mut dict,
    t: usize,
    callback: Option<unsafe extern "C" fn(*mut dict)>,
) {
    free_entries::<true>(d, t, callback);
}

/// `clear`'s walk, in dict.c's order: bucket by bucket, each chain from its
/// head, key destructor, value destructor, then the entry.
///
/// Over a large table every entry, and every key its destructor reads (an
/// sds header, an robj's refcount), sits at a random heap address: freeing
/// a writable replica's expire tracker or a big dict stalls on each. With
/// `LOOK_AHEAD` the walk starts loading the chain head `2 * D` buckets on and
/// the key of the head `D` buckets on (that entry was requested `D` buckets
/// ago).
#[inline(always)]
unsafe fn free_entries<const LOOK_AHEAD: bool>(
    d: *mut dict,
    t: usize,
    callback: Option<unsafe extern "C" fn(*mut dict)>,
) {
    const D: u64 = ITER_PREFETCH_DISTANCE as u64;
    let keys_are_read = LOOK_AHEAD && dtype(d).keyDestructor.is_some();
    let mut i: u64 = 0;
    // The size is read each time round, as dict.c's loop does.
    while i < ht_size((*d).ht_size_exp[t]) && (*d).ht_used[t] > 0 {
        if let Some(cb) = callback {
            if i & 65535 == 0 {
                cb(d);
            }
        }
        if LOOK_AHEAD {
            // Read after the callback, before this bucket's destructors: the
            // buckets ahead hold live entries of this table (nothing frees
            // them but this walk), so the head read for its key is valid.
            let size = ht_size((*d).ht_size_exp[t]);
            if i + 2 * D < size {
                prefetch(*bucket_at(d, t, i + 2 * D));
            }
            if keys_are_read && i + D < size {
                let ahead = *bucket_at(d, t, i + D);
                if !ahead.is_null() {
                    prefetch((*ahead).key);
                }
            }
        }
        let mut he = *bucket_at(d, t, i);
        while !he.is_null() {
            let next = (*he).next;
            free_key(d, he);
            free_val(d, he);
            free_entry_memory(he);
            (*d).ht_used[t] -= 1;
            he = next;
        }
        i += 1;
    }
}

/// `dictRelease`. A dict released mid-rehash reports a (fake) completion
/// first, so observers of rehashing state can drop their bookkeeping.
pub(crate) unsafe fn release(d: *mut dict) {
    if is_rehashing(d) {
        if let Some(f) = dtype(d).rehashingCompleted {
            f(d);
        }
    }
    clear(d, 0, None);
    clear(d, 1, None);
    host::valkey_free(d.cast());
}

/// `dictEmpty`.
pub(crate) unsafe fn empty(d: *mut dict, callback: Option<unsafe extern "C" fn(*mut dict)>) {
    if is_rehashing(d) {
        if let Some(f) = dtype(d).rehashingCompleted {
            f(d);
        }
    }
    clear(d, 0, callback);
    clear(d, 1, callback);
    (*d).rehashidx = -1;
    (*d).pauserehash = 0;
    (*d).pauseAutoResize = 0;
}

// ---------------------------------------------------------------------------
// Resize policy.

unsafe fn type_resize_allowed(d: *mut dict, size: u64) -> bool {
    match dtype(d).resizeAllowed {
        None => true,
        Some(f) => {
            let more_mem = ht_size(next_exp(size)).wrapping_mul(size_of::<*mut dictEntry>() as u64);
            let used_ratio = (*d).ht_used[0] as f64 / ht_size((*d).ht_size_exp[0]) as f64;
            f(more_mem as usize, used_ratio) != 0
        }
    }
}

/// `dictExpandIfNeeded`: DICT_OK when expanded or already rehashing.
#[inline]
pub(crate) unsafe fn expand_if_needed(d: *mut dict) -> c_int {
    if is_rehashing(d) {
        return DICT_OK;
    }
    let size0 = ht_size((*d).ht_size_exp[0]);
    if size0 == 0 {
        expand(d, DICT_HT_INITIAL_SIZE);
        return DICT_OK;
    }
    let used = (*d).ht_used[0];
    let pol = policy();
    if (pol == DICT_RESIZE_ENABLE && used >= size0)
        || (pol != DICT_RESIZE_FORBID && used >= FORCE_RESIZE_RATIO * size0)
    {
        if type_resize_allowed(d, used + 1) {
            expand(d, used + 1);
        }
        return DICT_OK;
    }
    DICT_ERR
}

/// `dictShrinkIfNeeded`: DICT_OK when shrunk, rehashing, or at minimum size.
#[inline]
pub(crate) unsafe fn shrink_if_needed(d: *mut dict) -> c_int {
    if is_rehashing(d) {
        return DICT_OK;
    }
    let size0 = ht_size((*d).ht_size_exp[0]);
    if size0 <= DICT_HT_INITIAL_SIZE {
        return DICT_OK;
    }
    let used = (*d).ht_used[0];
    let pol = policy();
    if (pol == DICT_RESIZE_ENABLE && used * HASHTABLE_MIN_FILL <= size0)
        || (pol != DICT_RESIZE_FORBID && used * HASHTABLE_MIN_FILL * FORCE_RESIZE_RATIO <= size0)
    {
        if type_resize_allowed(d, used) {
            shrink(d, used);
        }
        return DICT_OK;
    }
    DICT_ERR
}

// ---------------------------------------------------------------------------
// Entries.

/// `dictSetKey`: stores `keyDup(key)` when the type duplicates keys.
pub(crate) unsafe fn set_key(d: *mut dict, de: *mut dictEntry, key: *mut c_void) {
    (*de).key = match dtype(d).keyDup {
        Some(dup) => dup(key),
        None => key,
    };
}

/// `dictMemUsage`: entries and bucket arrays, not keys or values.
pub(crate) unsafe fn mem_usage(d: *const dict) -> usize {
    size(d) as usize * size_of::<dictEntry>() + buckets(d) as usize * size_of::<*mut dictEntry>()
}

pub(crate) const fn entry_mem_usage() -> usize {
    size_of::<dictEntry>()
}

/// `dictFingerprint`: the table pointers, sizes and counts mixed with
/// `wangHash64`, exactly as dict.c does, to catch misuse of unsafe iterators.
pub(crate) unsafe fn fingerprint(d: *const dict) -> u64 {
    let integers: [u64; 6] = [
        (*d).ht_table[0] as u64,
        (*d).ht_size_exp[0] as i64 as u64,
        (*d).ht_used[0],
        (*d).ht_table[1] as u64,
        (*d).ht_size_exp[1] as i64 as u64,
        (*d).ht_used[1],
    ];
    integers
        .iter()
        .fold(0u64, |hash, &i| wang_hash64(hash.wrapping_add(i)))
}

// ---------------------------------------------------------------------------
// Iterators.

/// `dictInitIterator`. `iter` may be uninitialised stack memory. Unlike
/// dict.c it also zeroes the fingerprint, which an unsafe walk overwrites
/// when it starts and a safe one never reads: `dictReleaseIterator` takes a
/// non-zero fingerprint of a safe iterator for the usable size that
/// `dictGetSafeIterator` stored there.
pub(crate) unsafe fn init_iterator(iter: *mut dictIterator, d: *mut dict, safe: bool) {
    ptr::addr_of_mut!((*iter).d).write(d);
    ptr::addr_of_mut!((*iter).table).write(0);
    ptr::addr_of_mut!((*iter).index).write(-1);
    ptr::addr_of_mut!((*iter).safe).write(c_int::from(safe));
    ptr::addr_of_mut!((*iter).entry).write(null_mut());
    ptr::addr_of_mut!((*iter).nextEntry).write(null_mut());
    ptr::addr_of_mut!((*iter).fingerprint).write(0);
}

/// `dictResetIterator`: a started safe iterator resumes rehashing; a started
/// unsafe one asserts the dict was not modified under it. Inlined into the
/// two exported functions that call it, so that ending a walk makes no
/// further jump: a walk over an empty dict is only a few dozen instructions.
#[inline(always)]
pub(crate) unsafe fn reset_iterator(iter: *mut dictIterator) {
    if !((*iter).index == -1 && (*iter).table == 0) {
        if (*iter).safe != 0 {
            (*(*iter).d).pauserehash -= 1;
            vk_assert!((*(*iter).d).pauserehash >= 0);
        } else {
            vk_assert!((*iter).fingerprint == fingerprint((*iter).d));
        }
    }
}

/// `dictNext`: the next entry or NULL. The caller may delete the entry just
/// returned: its successor was saved beforehand.
#[inline(always)]
pub(crate) unsafe fn next(iter: *mut dictIterator) -> *mut dictEntry {
    let it = &mut *iter;
    if it.entry.is_null() {
        // First call, or past the end: out of line, so the hot path below
        // makes no call that would need callee-saved registers.
        return next_from_start_or_end(it);
    }
    // Common case: the rest of the current chain.
    let e = it.nextEntry;
    if !e.is_null() {
        it.entry = e;
        it.nextEntry = (*e).next;
        return e;
    }
    next_bucket(it)
}

#[cold]
#[inline(never)]
unsafe fn next_from_start_or_end(it: &mut dictIterator) -> *mut dictEntry {
    if it.index == -1 && it.table == 0 {
        start_iteration(it);
        // A walk over a dict without buckets (never filled, or cleared by
        // dictEmpty) has nothing to find. Valkey starts many: every PUBLISH
        // walks `pubsub_patterns`, every FLUSHALL each DB's `blocking_keys`,
        // mostly empty. So it ends here, before the bucket walk, with the
        // cursor where dict.c's walk leaves it: table 0, index 0. Such a dict
        // is never rehashing.
        let d = it.d;
        if (*d).ht_size_exp[0] == -1 && !is_rehashing(d) {
            it.index = 0;
            return null_mut();
        }
    }
    next_bucket(it)
}

/// First `dictNext` call: pause rehashing (safe) or take the fingerprint
/// (unsafe), and skip the already-migrated buckets of table 0. Inlined into
/// its one caller, which is out of line already.
#[inline(always)]
unsafe fn start_iteration(it: &mut dictIterator) {
    let d = it.d;
    if it.safe != 0 {
        (*d).pauserehash += 1;
    } else {
        it.fingerprint = fingerprint(d);
    }
    if is_rehashing(d) {
        it.index = (*d).rehashidx - 1;
    }
}

/// Walks to the next non-empty bucket (table 0, then table 1 while
/// rehashing), with the cursor in locals and stored back once.
unsafe fn next_bucket(it: &mut dictIterator) -> *mut dictEntry {
    let d = it.d;
    // 0 or 1 in a valid iterator; mapping anything else to 1 keeps the
    // indexing below free of a bounds check (and of its panic call).
    let mut table = usize::from(it.table != 0);
    let mut index = it.index;
    let e = loop {
        let walk = BucketWalk::of(d, table);
        let (i, e) = if walk.prefetch_below > 0 {
            walk.scan::<true>(index)
        } else {
            walk.scan::<false>(index)
        };
        index = i;
        if !e.is_null() {
            break e;
        }
        // End of this table (index == its size): table 1 next, or the end.
        if table == 0 && is_rehashing(d) {
            table = 1;
            index = -1;
        } else {
            break null_mut();
        }
    };
    it.table = table as c_int;
    it.index = index;
    it.entry = e;
    if !e.is_null() {
        it.nextEntry = (*e).next;
    }
    e
}

/// One table as an iterator walks it: bucket array, size, and the index
/// below which the bucket `ITER_PREFETCH_DISTANCE` ahead is prefetched
/// (0 for tables small enough to stay in cache, where it would only cost).
struct BucketWalk {
    buckets: *mut *mut dictEntry,
    size: c_long,
    prefetch_below: c_long,
}

/// Buckets an iterator looks ahead: far enough that the entry is in cache
/// when the walk gets there, near enough to stay within the bucket array's
/// cache lines the walk reads anyway.
const ITER_PREFETCH_DISTANCE: c_long = 16;
/// Tables with fewer buckets are walked and cleared without prefetching.
const ITER_PREFETCH_MIN_BUCKETS: c_long = 1 << LARGE_TABLE_EXP;

impl BucketWalk {
    /// The first non-empty bucket after `index` and its index, or
    /// `(size, NULL)`. Two instances, so the loop over a small table carries
    /// no look-ahead test at all.
    #[inline(always)]
    unsafe fn scan<const PREFETCH: bool>(&self, mut index: c_long) -> (c_long, *mut dictEntry) {
        loop {
            index += 1;
            if index >= self.size {
                return (self.size, null_mut());
            }
            if PREFETCH && index < self.prefetch_below {
                // In bounds: index + DISTANCE < prefetch_below + DISTANCE == size.
                prefetch(*self.buckets.add((index + ITER_PREFETCH_DISTANCE) as usize));
            }
            let e = *self.buckets.add(index as usize);
            if !e.is_null() {
                return (index, e);
            }
        }
    }

    #[inline(always)]
    unsafe fn of(d: *const dict, table: usize) -> Self {
        let size = ht_size((*d).ht_size_exp[table]) as c_long;
        BucketWalk {
            buckets: (*d).ht_table[table],
            size,
            prefetch_below: if size >= ITER_PREFETCH_MIN_BUCKETS {
                size - ITER_PREFETCH_DISTANCE
            } else {
                0
            },
        }
    }
}

/// Starts loading an entry that will be read soon: over a large table an
/// iterator otherwise stalls on every entry, each at a random heap address,
/// and `random_key` overlaps its chain head's miss with `random()`.
/// A prefetch changes nothing the program computes and never faults (NULL
/// and freed addresses included), so the callers' behaviour is dict.c's.
#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    // SAFETY: PREFETCHT0 is only a hint: it never faults and never writes,
    // whatever the address; SSE is part of the x86_64 baseline.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    let _ = p;
}

// ---------------------------------------------------------------------------
// Sampling.

/// `dictGetRandomKey`: a random non-empty bucket, then a random chain element.
#[inline(always)]
pub(crate) unsafe fn random_key(d: *mut dict) -> *mut dictEntry {
    if size(d) == 0 {
        return null_mut();
    }
    if is_rehashing(d) {
        rehash_step(d);
    }
    let mut he;
    if is_rehashing(d) {
        let s0 = ht_size((*d).ht_size_exp[0]);
        loop {
            // Buckets below rehashidx are empty in table 0.
            let rehashidx = (*d).rehashidx as u64;
            let h = rehashidx + host::genrand64_int64() % (buckets(d) - rehashidx);
            he = if h >= s0 {
                *bucket_at(d, 1, h - s0)
            } else {
                *bucket_at(d, 0, h)
            };
            if !he.is_null() {
                break;
            }
        }
    } else {
        // Not empty and not rehashing: table 0 holds every entry.
        let m = ht_mask_allocated((*d).ht_size_exp[0]);
        loop {
            he = *bucket_at(d, 0, host::genrand64_int64() & m);
            if !he.is_null() {
                break;
            }
        }
    }
    let orighe = he;
    // random() is the next draw dict.c makes whenever it runs, so drawing it
    // before the chain walk gives the same entry. glibc's random() takes a
    // lock, and a locked instruction waits for earlier loads: drawing first,
    // with the chain head only prefetched (a prefetch is not waited for), lets
    // the entry's cache miss overlap the draw instead of preceding it.
    prefetch(orighe);
    let r = host::random() as u64;
    let mut listlen: u64 = 0;
    while !he.is_null() {
        he = (*he).next;
        listlen += 1;
    }
    // SAFETY: `orighe` is not null, so the loop above ran at least once;
    // telling LLVM spares the division-by-zero check.
    core::hint::assert_unchecked(listlen > 0);
    // random() is in [0, 2^31), so the unsigned remainder is dict.c's
    // signed one, without the signed overflow check.
    let mut listele = r % listlen;
    he = orighe;
    // listele < listlen, so `he` never runs off the chain; testing it anyway
    // keeps LLVM from unrolling a loop that runs 0 or 1 times on a table
    // at normal load.
    while listele > 0 && !(*he).next.is_null() {
        he = (*he).next;
        listele -= 1;
    }
    he
}

/// `dictGetSomeKeys`: up to `count` entries from a random walk of the
/// tables, with reservoir sampling over the last chain so long chains are
/// sampled fairly. Stores into `des` and returns how many were stored.
pub(crate) unsafe fn get_some_keys(d: *mut dict, des: *mut *mut dictEntry, mut count: u32) -> u32 {
    let mut stored: u64 = 0;
    if size(d) < u64::from(count) {
        count = size(d) as u32;
    }
    let count64 = u64::from(count);
    let mut maxsteps = count64 * 10;

    // Rehash work proportional to what we sample.
    for _ in 0..count {
        if is_rehashing(d) {
            rehash_step(d);
        } else {
            break;
        }
    }

    let tables: usize = if is_rehashing(d) { 2 } else { 1 };
    let mut maxsizemask = ht_mask((*d).ht_size_exp[0]);
    if tables > 1 && maxsizemask < ht_mask((*d).ht_size_exp[1]) {
        maxsizemask = ht_mask((*d).ht_size_exp[1]);
    }

    let mut i = host::genrand64_int64() & maxsizemask;
    let mut emptylen: u64 = 0;
    'walk: while stored < count64 && maxsteps != 0 {
        maxsteps -= 1;
        for j in 0..tables {
            // Below rehashidx table 0 is empty; when table 1 is smaller and
            // we are past its end, nothing below rehashidx exists at all.
            if tables == 2 && j == 0 && i < (*d).rehashidx as u64 {
                if i >= ht_size((*d).ht_size_exp[1]) {
                    i = (*d).rehashidx as u64;
                } else {
                    continue;
                }
            }
            if i >= ht_size((*d).ht_size_exp[j]) {
                continue;
            }
            let mut he = *bucket_at(d, j, i);
            if he.is_null() {
                emptylen += 1;
                if emptylen >= 5 && emptylen > count64 {
                    i = host::genrand64_int64() & maxsizemask;
                    emptylen = 0;
                }
            } else {
                emptylen = 0;
                while !he.is_null() {
                    if stored < count64 {
                        *des.add(stored as usize) = he;
                    } else {
                        let r = host::genrand64_int64() % (stored + 1);
                        if r < count64 {
                            *des.add(r as usize) = he;
                        }
                    }
                    he = (*he).next;
                    stored += 1;
                }
                if stored >= count64 {
                    break 'walk;
                }
            }
        }
        i = (i + 1) & maxsizemask;
    }
    if stored > count64 {
        count
    } else {
        stored as u32
    }
}

/// `dictGetFairRandomKey`: a random pick among a `dictGetSomeKeys` sample,
/// falling back to `dictGetRandomKey` on an empty sample.
pub(crate) unsafe fn fair_random_key(d: *mut dict) -> *mut dictEntry {
    const GETFAIR_NUM_ENTRIES: usize = 15;
    let mut entries: [*mut dictEntry; GETFAIR_NUM_ENTRIES] = [null_mut(); GETFAIR_NUM_ENTRIES];
    let count = get_some_keys(d, entries.as_mut_ptr(), GETFAIR_NUM_ENTRIES as u32);
    if count == 0 {
        return random_key(d);
    }
    let idx = (host::rand() as u32) % count;
    entries[idx as usize]
}

// ---------------------------------------------------------------------------
// Scan.

/// Lets active defrag move every entry, key and value of one chain,
/// relinking the chain to the new entry addresses.
unsafe fn defrag_bucket(mut bucketref: *mut *mut dictEntry, fns: &dictDefragFunctions) {
    while !(*bucketref).is_null() {
        let mut de = *bucketref;
        let newkey = match fns.defragKey {
            Some(f) => f((*de).key),
            None => null_mut(),
        };
        let newval = match fns.defragVal {
            Some(f) => f((*de).v.val),
            None => null_mut(),
        };
        let newde = match fns.defragAlloc {
            Some(f) => f(de.cast()).cast::<dictEntry>(),
            None => host::server_assert(c"defragfns->defragAlloc", c"src/dict/mod.rs", line!()),
        };
        if !newde.is_null() {
            de = newde;
            ENTRY_USABLE.note_moved();
        }
        if !newkey.is_null() {
            (*de).key = newkey;
        }
        if !newval.is_null() {
            (*de).v.val = newval;
        }
        if !newde.is_null() {
            *bucketref = newde;
        }
        bucketref = ptr::addr_of_mut!((**bucketref).next);
    }
}

/// Calls `fn_` for every entry of one bucket; the callback may delete the
/// entry it is given.
unsafe fn emit_bucket(
    d: *mut dict,
    table: usize,
    idx: u64,
    fn_: unsafe extern "C" fn(*mut c_void, *const dictEntry),
    defrag: Option<&dictDefragFunctions>,
    privdata: *mut c_void,
) {
    let bucket = bucket_at(d, table, idx);
    if let Some(fns) = defrag {
        defrag_bucket(bucket, fns);
    }
    let mut de = *bucket;
    while !de.is_null() {
        let next = (*de).next;
        fn_(privdata, de);
        de = next;
    }
}

/// Advances a reverse-binary cursor over the bits of `mask`.
#[inline]
fn next_cursor(v: c_ulong, mask: u64) -> c_ulong {
    let v = v | !mask;
    v.reverse_bits().wrapping_add(1).reverse_bits()
}

/// `dictScanDefrag` (and `dictScan` with no defrag functions): one step of
/// the stateless reverse-binary cursor scan. Every element present for the
/// whole scan is reported at least once, across resizes.
pub(crate) unsafe fn scan_defrag(
    d: *mut dict,
    mut v: c_ulong,
    fn_: dictScanFunction,
    defrag: Option<&dictDefragFunctions>,
    privdata: *mut c_void,
) -> c_ulong {
    if size(d) == 0 {
        return 0;
    }
    let f = match fn_ {
        Some(f) => f,
        None => host::server_assert(c"fn != NULL", c"src/dict/mod.rs", line!()),
    };
    // The callback may look keys up; that must not move entries under us.
    (*d).pauserehash += 1;

    if !is_rehashing(d) {
        let m0 = ht_mask((*d).ht_size_exp[0]);
        emit_bucket(d, 0, v & m0, f, defrag, privdata);
        v = next_cursor(v, m0);
    } else {
        // Scan the smaller table's bucket, then all its expansions in the larger.
        let (t0, t1) = if ht_size((*d).ht_size_exp[0]) > ht_size((*d).ht_size_exp[1]) {
            (1, 0)
        } else {
            (0, 1)
        };
        let m0 = ht_mask((*d).ht_size_exp[t0]);
        let m1 = ht_mask((*d).ht_size_exp[t1]);
        emit_bucket(d, t0, v & m0, f, defrag, privdata);
        loop {
            emit_bucket(d, t1, v & m1, f, defrag, privdata);
            v = next_cursor(v, m1);
            if v & (m0 ^ m1) == 0 {
                break;
            }
        }
    }

    (*d).pauserehash -= 1;
    v
}

/// `dictRehashingInfo`: only valid while rehashing.
pub(crate) unsafe fn rehashing_info(d: *mut dict) -> (u64, u64) {
    vk_assert!(is_rehashing(d));
    (ht_size((*d).ht_size_exp[0]), ht_size((*d).ht_size_exp[1]))
}

#[cfg(test)]
mod tests;
