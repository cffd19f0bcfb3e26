//! The public structs, laid out exactly as Valkey 9.1.2's `src/dict.h` lays
//! them out: C callers read `ht_used`, `ht_size_exp`, `rehashidx`,
//! `pauserehash`, … through macros, and keep iterators on their stack.
//! `dictEntry` is opaque to C; its layout is ours.
#![allow(non_camel_case_types, non_snake_case)]

use core::ffi::{c_int, c_long, c_uint, c_ulonglong, c_void};

/// A key/value node of a bucket chain. Opaque to C callers of the exported
/// API; `include/valkey_rs_core_inline.h` (the inline `dictNext`,
/// `dictGetKey`, `dictGetVal` that Valkey's callers get under the flag)
/// mirrors this layout, pinned by the `VKRS_DICT_ENTRY_*` constants below.
///
/// The same three words dict.c uses, so `dictEntryMemUsage` and every
/// `used_memory` figure stay identical to the C build.
#[repr(C)]
pub struct dictEntry {
    pub(crate) key: *mut c_void,
    pub(crate) v: EntryValue,
    pub(crate) next: *mut dictEntry,
}

/// `sizeof(struct dictEntry)` as the inline header declares it.
pub const VKRS_DICT_ENTRY_SIZE: usize = 24;
/// `offsetof(struct dictEntry, key)` in the inline header.
pub const VKRS_DICT_ENTRY_KEY_OFFSET: usize = 0;
/// `offsetof(struct dictEntry, v)` in the inline header.
pub const VKRS_DICT_ENTRY_VAL_OFFSET: usize = 8;
/// `offsetof(struct dictEntry, next)` in the inline header.
pub const VKRS_DICT_ENTRY_NEXT_OFFSET: usize = 16;

// The inline header reads these fields directly: a layout change here must
// fail the build, not corrupt C callers.
const _: () = {
    assert!(core::mem::size_of::<dictEntry>() == VKRS_DICT_ENTRY_SIZE);
    assert!(core::mem::offset_of!(dictEntry, key) == VKRS_DICT_ENTRY_KEY_OFFSET);
    assert!(core::mem::offset_of!(dictEntry, v) == VKRS_DICT_ENTRY_VAL_OFFSET);
    assert!(core::mem::offset_of!(dictEntry, next) == VKRS_DICT_ENTRY_NEXT_OFFSET);
};

/// The value slot: a pointer, a signed or unsigned 64-bit integer or a double,
/// whichever the caller last stored.
#[derive(Clone, Copy)]
#[repr(C)]
pub union EntryValue {
    pub val: *mut c_void,
    pub u64_: u64,
    pub s64: i64,
    pub d: f64,
}

pub type dictHashFunction = Option<unsafe extern "C" fn(key: *const c_void) -> u64>;
pub type dictKeyDupFunction = Option<unsafe extern "C" fn(key: *const c_void) -> *mut c_void>;
pub type dictKeyCompareFunction =
    Option<unsafe extern "C" fn(key1: *const c_void, key2: *const c_void) -> c_int>;
pub type dictDestructorFunction = Option<unsafe extern "C" fn(obj: *mut c_void)>;
pub type dictResizeAllowedFunction =
    Option<unsafe extern "C" fn(moreMem: usize, usedRatio: f64) -> c_int>;
pub type dictRehashingFunction = Option<unsafe extern "C" fn(d: *mut dict)>;
pub type dictMetadataBytesFunction = Option<unsafe extern "C" fn(d: *mut dict) -> usize>;

/// Callbacks that specialise a dict (dict.h's `dictType`).
#[repr(C)]
pub struct dictType {
    pub hashFunction: dictHashFunction,
    pub keyDup: dictKeyDupFunction,
    pub keyCompare: dictKeyCompareFunction,
    pub keyDestructor: dictDestructorFunction,
    pub valDestructor: dictDestructorFunction,
    pub resizeAllowed: dictResizeAllowedFunction,
    /// Invoked when a (re)hash starts; both tables already exist.
    pub rehashingStarted: dictRehashingFunction,
    /// Invoked when every entry has moved; both tables still exist.
    pub rehashingCompleted: dictRehashingFunction,
    /// Bytes of caller metadata after the struct, zeroed at create.
    pub dictMetadataBytes: dictMetadataBytesFunction,
}

/// The hash table header (dict.h's `struct dict`), followed in memory by
/// `dictMetadataBytes(NULL)` bytes of caller metadata.
///
/// cbindgen:field-names=[type, ht_table, ht_used, rehashidx, pauserehash, ht_size_exp, pauseAutoResize, metadata]
#[repr(C)]
pub struct dict {
    pub type_: *mut dictType,
    pub ht_table: [*mut *mut dictEntry; 2],
    pub ht_used: [core::ffi::c_ulong; 2],
    /// Next bucket of table 0 to migrate; -1 when not rehashing.
    pub rehashidx: c_long,
    /// Rehashing is paused while > 0 (< 0 is a caller bug).
    pub pauserehash: i16,
    /// log2 of each table's size, -1 for no table.
    pub ht_size_exp: [i8; 2],
    /// Automatic resizing is off while > 0 (< 0 is a caller bug).
    pub pauseAutoResize: i16,
    /// Flexible array member: caller metadata starts here.
    pub metadata: [*mut c_void; 0],
}

/// dict.h's `dictIterator`, which callers allocate on their stack.
#[repr(C)]
pub struct dictIterator {
    pub d: *mut dict,
    pub index: c_long,
    pub table: c_int,
    pub safe: c_int,
    pub entry: *mut dictEntry,
    pub nextEntry: *mut dictEntry,
    /// Unsafe iterators' dict fingerprint, checked at reset.
    pub fingerprint: c_ulonglong,
}

/// `typedef void(dictScanFunction)(void *privdata, const dictEntry *de);`
pub type dictScanFunction =
    Option<unsafe extern "C" fn(privdata: *mut c_void, de: *const dictEntry)>;
/// `typedef void *(dictDefragAllocFunction)(void *ptr);` returns the new
/// address, or NULL when the allocation did not move.
pub type dictDefragAllocFunction = Option<unsafe extern "C" fn(ptr: *mut c_void) -> *mut c_void>;

/// The active-defrag callbacks of `dictScanDefrag`.
#[repr(C)]
pub struct dictDefragFunctions {
    /// Reallocates an entry (required).
    pub defragAlloc: dictDefragAllocFunction,
    /// Reallocates a key (optional).
    pub defragKey: dictDefragAllocFunction,
    /// Reallocates a value (optional).
    pub defragVal: dictDefragAllocFunction,
}

/// `dictSetResizeEnabled` argument. dict.h declares it as an enum whose
/// values are all non-negative, which C compilers represent as `unsigned int`;
/// a plain integer (not a Rust enum) keeps any value C passes well-defined.
pub type dictResizeEnable = c_uint;
pub const DICT_RESIZE_ENABLE: dictResizeEnable = 0;
pub const DICT_RESIZE_AVOID: dictResizeEnable = 1;
pub const DICT_RESIZE_FORBID: dictResizeEnable = 2;

pub const DICT_OK: c_int = 0;
pub const DICT_ERR: c_int = 1;
/// Minimal fill: a table shrinks when used*8 <= size.
pub const HASHTABLE_MIN_FILL: u64 = 8;
/// log2 of every table's initial size.
pub const DICT_HT_INITIAL_EXP: i8 = 2;
pub const DICT_HT_INITIAL_SIZE: u64 = 1 << DICT_HT_INITIAL_EXP;
