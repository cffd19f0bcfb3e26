//! The `extern "C"` face of the dict: every symbol Valkey 9.1.2's `dict.o`
//! exports, with dict.h's signatures. Each wrapper only converts types and
//! calls into [`crate::dict`]; the logic lives there.
//!
//! # Safety (all functions)
//! The pointer contract is dict.c's: `d` is a dict returned by `dictCreate`
//! and not yet released, whose `type` outlives it; `de` is an entry currently
//! linked in (or, after `dictUnlink`, unlinked from) such a dict; `iter`
//! points to a `dictIterator` (initialised, except for `dictInit*Iterator`);
//! out-pointers are valid for writes; a dict is used by one thread at a
//! time. Violations are undefined behaviour exactly as they are in C.
#![allow(non_snake_case)]

use core::ffi::{
    c_int, c_long, c_longlong, c_schar, c_uchar, c_uint, c_ulong, c_ulonglong, c_void,
};

use crate::dict::{
    self as table, dict, dictDefragFunctions, dictEntry, dictIterator, dictResizeEnable,
    dictScanFunction, dictType,
};
use crate::ffi::host;

/// Creates an empty dict of `type` (no table is allocated until the first
/// insert or expand); caller metadata, if any, is zeroed.
#[no_mangle]
pub unsafe extern "C" fn dictCreate(type_: *mut dictType) -> *mut dict {
    table::create(type_)
}

/// Grows the table to hold at least `size` entries. Returns DICT_ERR if the
/// dict is rehashing, `size` is not larger than the table and its contents,
/// or it would overflow; aborts on out-of-memory.
#[no_mangle]
pub unsafe extern "C" fn dictExpand(d: *mut dict, size: c_ulong) -> c_int {
    table::expand(d, size)
}

/// Like `dictExpand`, but returns DICT_ERR only when allocation failed
/// (never aborts); DICT_OK otherwise, performed or not.
#[no_mangle]
pub unsafe extern "C" fn dictTryExpand(d: *mut dict, size: c_ulong) -> c_int {
    table::try_expand(d, size)
}

/// Shrinks the table towards `size` buckets. DICT_ERR if not performed.
#[no_mangle]
pub unsafe extern "C" fn dictShrink(d: *mut dict, size: c_ulong) -> c_int {
    table::shrink(d, size)
}

/// Adds `key` → `val`; DICT_ERR if `key` already exists.
#[no_mangle]
pub unsafe extern "C" fn dictAdd(d: *mut dict, key: *mut c_void, val: *mut c_void) -> c_int {
    table::add(d, key, val)
}

/// Adds `key` and returns its entry for the caller to fill, or NULL (and
/// `*existing`, if given) when the key exists.
#[no_mangle]
pub unsafe extern "C" fn dictAddRaw(
    d: *mut dict,
    key: *mut c_void,
    existing: *mut *mut dictEntry,
) -> *mut dictEntry {
    table::add_raw(d, key, existing)
}

/// First half of `dictAddRaw`: the insert position, or NULL (and `*existing`)
/// when the key exists. The position is valid until the dict is modified.
#[no_mangle]
pub unsafe extern "C" fn dictFindPositionForInsert(
    d: *mut dict,
    key: *const c_void,
    existing: *mut *mut dictEntry,
) -> *mut c_void {
    table::find_position_for_insert(d, key, existing)
}

/// Second half of `dictAddRaw`: links `key` (not duplicated) at `position`.
/// Asserts the position belongs to the table being filled.
#[no_mangle]
pub unsafe extern "C" fn dictInsertAtPosition(
    d: *mut dict,
    key: *mut c_void,
    position: *mut c_void,
) -> *mut dictEntry {
    table::insert_at_position(d, key, position)
}

/// The entry of `key`, added if missing.
#[no_mangle]
pub unsafe extern "C" fn dictAddOrFind(d: *mut dict, key: *mut c_void) -> *mut dictEntry {
    table::add_or_find(d, key)
}

/// Adds or overwrites; returns 1 if added, 0 if an existing value was
/// replaced (new value set before the old one is destroyed).
#[no_mangle]
pub unsafe extern "C" fn dictReplace(d: *mut dict, key: *mut c_void, val: *mut c_void) -> c_int {
    table::replace(d, key, val)
}

/// Removes and frees `key`'s entry; DICT_ERR if absent.
#[no_mangle]
pub unsafe extern "C" fn dictDelete(d: *mut dict, key: *const c_void) -> c_int {
    table::delete(d, key)
}

/// Removes `key`'s entry without freeing it (see `dictFreeUnlinkedEntry`).
#[no_mangle]
pub unsafe extern "C" fn dictUnlink(d: *mut dict, key: *const c_void) -> *mut dictEntry {
    table::unlink(d, key)
}

/// Frees an entry returned by `dictUnlink` with its key and value; NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn dictFreeUnlinkedEntry(d: *mut dict, he: *mut dictEntry) {
    table::free_unlinked_entry(d, he)
}

/// Frees every entry, both tables and the dict itself.
#[no_mangle]
pub unsafe extern "C" fn dictRelease(d: *mut dict) {
    table::release(d)
}

/// The entry of `key`, or NULL.
#[no_mangle]
pub unsafe extern "C" fn dictFind(d: *mut dict, key: *const c_void) -> *mut dictEntry {
    table::find(d, key)
}

/// The value of `key`, or NULL when absent.
#[no_mangle]
pub unsafe extern "C" fn dictFetchValue(d: *mut dict, key: *const c_void) -> *mut c_void {
    let he = table::find(d, key);
    if he.is_null() {
        core::ptr::null_mut()
    } else {
        (*he).v.val
    }
}

/// Starts a shrink if the fill ratio and the resize policy call for one.
#[no_mangle]
pub unsafe extern "C" fn dictShrinkIfNeeded(d: *mut dict) -> c_int {
    table::shrink_if_needed(d)
}

/// Starts an expansion if the fill ratio and the resize policy call for one.
#[no_mangle]
pub unsafe extern "C" fn dictExpandIfNeeded(d: *mut dict) -> c_int {
    table::expand_if_needed(d)
}

/// Sets the entry's key (through `keyDup` when the type has one).
#[no_mangle]
pub unsafe extern "C" fn dictSetKey(d: *mut dict, de: *mut dictEntry, key: *mut c_void) {
    table::set_key(d, de, key)
}

/// Sets the entry's value pointer.
#[no_mangle]
pub unsafe extern "C" fn dictSetVal(_d: *mut dict, de: *mut dictEntry, val: *mut c_void) {
    (*de).v.val = val;
}

#[no_mangle]
pub unsafe extern "C" fn dictSetSignedIntegerVal(de: *mut dictEntry, val: i64) {
    (*de).v.s64 = val;
}

#[no_mangle]
pub unsafe extern "C" fn dictSetUnsignedIntegerVal(de: *mut dictEntry, val: u64) {
    (*de).v.u64_ = val;
}

#[no_mangle]
pub unsafe extern "C" fn dictSetDoubleVal(de: *mut dictEntry, val: f64) {
    (*de).v.d = val;
}

/// Adds `val` (wrapping) and returns the new value.
#[no_mangle]
pub unsafe extern "C" fn dictIncrSignedIntegerVal(de: *mut dictEntry, val: i64) -> i64 {
    (*de).v.s64 = (*de).v.s64.wrapping_add(val);
    (*de).v.s64
}

/// Adds `val` (wrapping) and returns the new value.
#[no_mangle]
pub unsafe extern "C" fn dictIncrUnsignedIntegerVal(de: *mut dictEntry, val: u64) -> u64 {
    (*de).v.u64_ = (*de).v.u64_.wrapping_add(val);
    (*de).v.u64_
}

/// Adds `val` and returns the new value.
#[no_mangle]
pub unsafe extern "C" fn dictIncrDoubleVal(de: *mut dictEntry, val: f64) -> f64 {
    (*de).v.d += val;
    (*de).v.d
}

#[no_mangle]
pub unsafe extern "C" fn dictGetKey(de: *const dictEntry) -> *mut c_void {
    (*de).key
}

#[no_mangle]
pub unsafe extern "C" fn dictGetVal(de: *const dictEntry) -> *mut c_void {
    (*de).v.val
}

#[no_mangle]
pub unsafe extern "C" fn dictGetSignedIntegerVal(de: *const dictEntry) -> i64 {
    (*de).v.s64
}

#[no_mangle]
pub unsafe extern "C" fn dictGetUnsignedIntegerVal(de: *const dictEntry) -> u64 {
    (*de).v.u64_
}

#[no_mangle]
pub unsafe extern "C" fn dictGetDoubleVal(de: *const dictEntry) -> f64 {
    (*de).v.d
}

/// A pointer to the entry's double value, valid while the entry lives.
#[no_mangle]
pub unsafe extern "C" fn dictGetDoubleValPtr(de: *mut dictEntry) -> *mut f64 {
    core::ptr::addr_of_mut!((*de).v.d)
}

/// Bytes used by entries and bucket arrays (keys and values not included).
#[no_mangle]
pub unsafe extern "C" fn dictMemUsage(d: *const dict) -> usize {
    table::mem_usage(d)
}

/// Bytes of one entry (`de` may be NULL).
#[no_mangle]
pub unsafe extern "C" fn dictEntryMemUsage(_de: *mut dictEntry) -> usize {
    table::entry_mem_usage()
}

/// A heap-allocated unsafe iterator; free with `dictReleaseIterator`.
#[no_mangle]
pub unsafe extern "C" fn dictGetIterator(d: *mut dict) -> *mut dictIterator {
    let iter = host::valkey_malloc(core::mem::size_of::<dictIterator>()).cast::<dictIterator>();
    table::init_iterator(iter, d, false);
    iter
}

/// A heap-allocated safe iterator (pauses rehashing while started).
///
/// A safe iterator never takes a fingerprint, so its `fingerprint` field
/// keeps the allocation's usable size instead, and `dictReleaseIterator`
/// frees it with `zfree_with_size`, as sds frees its strings. Plain `zfree`
/// would ask the allocator for the size again (`je_malloc_usable_size`, the
/// dearest part of a walk that finds nothing), where dict.c gets an inlined
/// zfree from GCC's LTO that the library cannot have.
#[no_mangle]
pub unsafe extern "C" fn dictGetSafeIterator(d: *mut dict) -> *mut dictIterator {
    let mut usable = 0usize;
    let iter = host::zmalloc_usable(core::mem::size_of::<dictIterator>(), &mut usable)
        .cast::<dictIterator>();
    table::init_iterator(iter, d, true);
    (*iter).fingerprint = usable as u64;
    iter
}

/// Initialises an unsafe iterator in caller memory: only `dictNext` may
/// touch the dict until `dictResetIterator`, which asserts it was so.
#[no_mangle]
pub unsafe extern "C" fn dictInitIterator(iter: *mut dictIterator, d: *mut dict) {
    table::init_iterator(iter, d, false)
}

/// Initialises a safe iterator in caller memory; the dict may be modified
/// while iterating. Call `dictResetIterator` when done.
#[no_mangle]
pub unsafe extern "C" fn dictInitSafeIterator(iter: *mut dictIterator, d: *mut dict) {
    table::init_iterator(iter, d, true)
}

/// Ends an iteration: resumes rehashing (safe) or asserts the fingerprint (unsafe).
#[no_mangle]
pub unsafe extern "C" fn dictResetIterator(iter: *mut dictIterator) {
    table::reset_iterator(iter)
}

/// The next entry, or NULL at the end. The returned entry may be deleted.
#[no_mangle]
pub unsafe extern "C" fn dictNext(iter: *mut dictIterator) -> *mut dictEntry {
    table::next(iter)
}

/// The next entry of the same bucket chain, or NULL.
#[no_mangle]
pub unsafe extern "C" fn dictGetNext(de: *const dictEntry) -> *mut dictEntry {
    (*de).next
}

/// Resets and frees an iterator from `dictGet*Iterator`.
#[no_mangle]
pub unsafe extern "C" fn dictReleaseIterator(iter: *mut dictIterator) {
    table::reset_iterator(iter);
    // Non-zero only in a safe iterator from dictGetSafeIterator: its usable
    // size. init_iterator zeroes the field, so a safe iterator a caller
    // allocated and initialised itself is freed by plain zfree, as in dict.c.
    let usable = if (*iter).safe != 0 {
        (*iter).fingerprint
    } else {
        0
    };
    if usable != 0 {
        host::zfree_with_size(iter.cast(), usable as usize);
    } else {
        host::valkey_free(iter.cast());
    }
}

/// A random entry (random bucket, then random chain element); NULL if empty.
#[no_mangle]
pub unsafe extern "C" fn dictGetRandomKey(d: *mut dict) -> *mut dictEntry {
    table::random_key(d)
}

/// A random entry with a fairer distribution over chains; NULL if empty.
#[no_mangle]
pub unsafe extern "C" fn dictGetFairRandomKey(d: *mut dict) -> *mut dictEntry {
    table::fair_random_key(d)
}

/// Samples up to `count` entries into `des` (room for `count` required);
/// returns how many were stored. Entries may repeat.
#[no_mangle]
pub unsafe extern "C" fn dictGetSomeKeys(
    d: *mut dict,
    des: *mut *mut dictEntry,
    count: c_uint,
) -> c_uint {
    table::get_some_keys(d, des, count)
}

/// SipHash-1-2 of `len` bytes at `key` with the global seed.
#[no_mangle]
pub unsafe extern "C" fn dictGenHashFunction(key: *const c_void, len: usize) -> u64 {
    table::gen_hash(key.cast(), len)
}

/// Case-insensitive (ASCII) SipHash-1-2 with the global seed.
#[no_mangle]
pub unsafe extern "C" fn dictGenCaseHashFunction(buf: *const c_uchar, len: usize) -> u64 {
    table::gen_case_hash(buf, len)
}

/// Frees every entry and both tables, keeping the dict; `callback` (may be
/// NULL) is called every 65536 buckets so long frees can do other work.
#[no_mangle]
pub unsafe extern "C" fn dictEmpty(
    d: *mut dict,
    callback: Option<unsafe extern "C" fn(*mut dict)>,
) {
    table::empty(d, callback)
}

/// Sets the global resize policy (DICT_RESIZE_ENABLE/AVOID/FORBID).
#[no_mangle]
pub extern "C" fn dictSetResizeEnabled(enable: dictResizeEnable) {
    table::set_resize_enabled(enable)
}

/// Performs up to `n` incremental rehash steps; returns 1 while more remain.
#[no_mangle]
pub unsafe extern "C" fn dictRehash(d: *mut dict, n: c_int) -> c_int {
    table::rehash(d, n)
}

/// Rehashes in batches of 100 for about `us` microseconds; returns the
/// number of steps performed (0 when rehashing is paused).
#[no_mangle]
pub unsafe extern "C" fn dictRehashMicroseconds(d: *mut dict, us: u64) -> c_int {
    table::rehash_microseconds(d, us)
}

/// Sets the 16-byte SipHash key used by `dictGen*HashFunction`.
#[no_mangle]
pub unsafe extern "C" fn dictSetHashFunctionSeed(seed: *mut u8) {
    core::ptr::copy_nonoverlapping(seed, table::HASH_SEED.as_mut_ptr(), 16);
}

/// The 16-byte SipHash key (a pointer to the library's copy).
#[no_mangle]
pub extern "C" fn dictGetHashFunctionSeed() -> *mut u8 {
    table::HASH_SEED.as_mut_ptr()
}

/// One step of the stateless cursor scan: calls `fn` for the entries at
/// cursor `v` and returns the next cursor (0 when done). Every element
/// present during the whole scan is reported at least once.
#[no_mangle]
pub unsafe extern "C" fn dictScan(
    d: *mut dict,
    v: c_ulong,
    fn_: dictScanFunction,
    privdata: *mut c_void,
) -> c_ulong {
    table::scan_defrag(d, v, fn_, None, privdata)
}

/// `dictScan` that also lets active defrag reallocate entries, keys and values.
#[no_mangle]
pub unsafe extern "C" fn dictScanDefrag(
    d: *mut dict,
    v: c_ulong,
    fn_: dictScanFunction,
    defragfns: *const dictDefragFunctions,
    privdata: *mut c_void,
) -> c_ulong {
    table::scan_defrag(d, v, fn_, defragfns.as_ref(), privdata)
}

/// The hash of `key` under the dict's hash function.
#[no_mangle]
pub unsafe extern "C" fn dictGetHash(d: *mut dict, key: *const c_void) -> u64 {
    table::hash_key(d, key)
}

/// Old and new table sizes; asserts the dict is rehashing.
#[no_mangle]
pub unsafe extern "C" fn dictRehashingInfo(
    d: *mut dict,
    from_size: *mut c_ulonglong,
    to_size: *mut c_ulonglong,
) {
    let (from, to) = table::rehashing_info(d);
    *from_size = from;
    *to_size = to;
}

/// A 64-bit digest of the dict's table state (for unsafe-iterator checks).
#[no_mangle]
pub unsafe extern "C" fn dictFingerprint(d: *mut dict) -> c_ulonglong {
    table::fingerprint(d)
}

/// Wall-clock time in milliseconds.
#[no_mangle]
pub extern "C" fn timeInMilliseconds() -> c_longlong {
    table::time_in_milliseconds()
}

/// Test hook: the force-resize ratio (4).
#[no_mangle]
pub extern "C" fn testOnlyDictGetForceResizeRatio() -> c_uint {
    table::FORCE_RESIZE_RATIO as c_uint
}

/// Test hook: the table exponent chosen for `size` entries.
#[no_mangle]
pub extern "C" fn testOnlyDictNextExp(size: c_ulong) -> c_schar {
    table::next_exp(size)
}

/// Test hook: `timeInMilliseconds()`.
#[no_mangle]
pub extern "C" fn testOnlyTimeInMilliseconds() -> c_longlong {
    table::time_in_milliseconds()
}

// `long` is 64-bit on every platform Valkey's dict.c ABI is replicated for.
const _: () = assert!(core::mem::size_of::<c_long>() == 8);
