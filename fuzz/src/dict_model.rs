//! The dict against a model.
//!
//! An input is a program: a header (key mode, hash clustering, key space)
//! then up to [`MAX_OPS`] operations on one dict, through the library's
//! exported C API (`dictAdd`, `dictScan`, … exactly what Valkey calls). A
//! `BTreeMap<u64, u64>` is the model. After every operation [`Harness::check`]
//! verifies, besides agreement with the model:
//!
//! * `dictSize`, `ht_used[]` and a walk of both tables agree; every entry
//!   sits in the bucket its hash selects; buckets below `rehashidx` are empty;
//!   `rehashidx == -1` iff there is no table 1;
//! * `pauserehash` / `pauseAutoResize` equal what the harness holds;
//! * `rehashingStarted` minus `rehashingCompleted` calls equals `dictIsRehashing`;
//! * live allocations through `valkey_malloc`/`valkey_calloc`/`ztrycalloc`
//!   equal dict + tables + entries (+ key and value boxes in boxed mode):
//!   any leak, double free or allocation outside zmalloc shows up at once;
//! * `dictMemUsage` is `size * dictEntryMemUsage + buckets * sizeof(ptr)`.
//!
//! Iterators and scans check their guarantees: a safe iterator visits every
//! element present throughout exactly once while the loop deletes the current
//! entry and adds others; an unsafe iterator visits each element once and its
//! fingerprint check passes; a scan (with adds, deletes, lookups and rehash
//! steps between calls and deletions inside the callback) reports every element
//! present for the whole scan; a defrag scan that moves entries, keys and
//! values keeps the dict intact. Any failed check panics (a libFuzzer crash);
//! any `_serverAssert` from the library aborts (also a crash).

use crate::host::{live_allocations, seed_rng, valkey_free, valkey_malloc};
use crate::Bytes;
use core::ffi::{c_int, c_void};
use core::ptr::null_mut;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use valkey_rs_core::dict::{
    dict, dictDefragFunctions, dictEntry, dictIterator, dictType, DICT_ERR, DICT_OK,
    DICT_RESIZE_AVOID, DICT_RESIZE_ENABLE, DICT_RESIZE_FORBID,
};
use valkey_rs_core::ffi::dict::*;

/// Operations per input at most (keeps every input's run time bounded).
pub const MAX_OPS: usize = 1500;
/// Number of operation kinds (the opcode is a byte modulo this).
const NUM_OPS: u8 = 27;
/// Bytes of caller metadata the boxed type asks for (zeroed at create).
const METADATA_BYTES: usize = 24;

// ------------------------------------------------------------------ callbacks
// The dict callbacks are plain C functions; the state they consult is global
// and reset at the start of every input (the fuzzer runs inputs one at a time).

static CLUSTER: AtomicU64 = AtomicU64::new(0);
static STARTED: AtomicU64 = AtomicU64::new(0);
static COMPLETED: AtomicU64 = AtomicU64::new(0);
static RESIZE_ALLOWED: AtomicBool = AtomicBool::new(true);
static RESIZE_ASKED: AtomicU64 = AtomicU64::new(0);
static EMPTY_CALLBACKS: AtomicU64 = AtomicU64::new(0);

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Clustered mode: few distinct hashes, so long chains and shared buckets.
fn hash_of(k: u64) -> u64 {
    match CLUSTER.load(Ordering::Relaxed) {
        0 => mix(k),
        m => mix(k % m),
    }
}

unsafe extern "C" fn int_hash(key: *const c_void) -> u64 {
    hash_of(key as u64 - 1)
}

unsafe extern "C" fn boxed_hash(key: *const c_void) -> u64 {
    hash_of(*(key as *const u64))
}

unsafe extern "C" fn boxed_dup(key: *const c_void) -> *mut c_void {
    new_box(*(key as *const u64))
}

unsafe extern "C" fn boxed_compare(a: *const c_void, b: *const c_void) -> c_int {
    c_int::from(*(a as *const u64) == *(b as *const u64))
}

unsafe extern "C" fn boxed_free(p: *mut c_void) {
    // Poison before freeing: a use after free then reads garbage.
    *(p as *mut u64) = 0xDEAD_BEEF_DEAD_BEEF;
    valkey_free(p)
}

unsafe extern "C" fn resize_allowed(_more_mem: usize, used_ratio: f64) -> c_int {
    assert!(
        used_ratio >= 0.0,
        "resizeAllowed: negative usedRatio {used_ratio}"
    );
    RESIZE_ASKED.fetch_add(1, Ordering::Relaxed);
    c_int::from(RESIZE_ALLOWED.load(Ordering::Relaxed))
}

unsafe extern "C" fn rehashing_started(_d: *mut dict) {
    STARTED.fetch_add(1, Ordering::Relaxed);
}

unsafe extern "C" fn rehashing_completed(_d: *mut dict) {
    COMPLETED.fetch_add(1, Ordering::Relaxed);
}

unsafe extern "C" fn metadata_bytes(_d: *mut dict) -> usize {
    METADATA_BYTES
}

unsafe extern "C" fn empty_callback(_d: *mut dict) {
    EMPTY_CALLBACKS.fetch_add(1, Ordering::Relaxed);
}

/// dict.h's `dictSize` macro.
unsafe fn dict_size(d: *const dict) -> u64 {
    (*d).ht_used[0] + (*d).ht_used[1]
}

fn new_box(v: u64) -> *mut c_void {
    let p = valkey_malloc(8);
    // SAFETY: fresh 8-byte allocation (malloc alignment suits u64).
    unsafe { *(p as *mut u64) = v };
    p
}

unsafe extern "C" fn defrag_move_entry(p: *mut c_void) -> *mut c_void {
    defrag_move(p, dictEntryMemUsage(null_mut()))
}

unsafe extern "C" fn defrag_move_box(p: *mut c_void) -> *mut c_void {
    defrag_move(p, 8)
}

/// Active defrag's "reallocate elsewhere": copy, free the old block (poisoned
/// first), return the new address. Every other call says "did not move".
unsafe fn defrag_move(p: *mut c_void, size: usize) -> *mut c_void {
    static FLIP: AtomicU64 = AtomicU64::new(0);
    if FLIP.fetch_add(1, Ordering::Relaxed) % 3 == 2 {
        return null_mut();
    }
    let n = valkey_malloc(size);
    core::ptr::copy_nonoverlapping(p as *const u8, n as *mut u8, size);
    core::ptr::write_bytes(p as *mut u8, 0xA5, size);
    valkey_free(p);
    n
}

// ------------------------------------------------------------------ harness

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// Keys are small integers stored in the pointer; values are unsigned
    /// integers in the entry. No dup/destructors.
    Int,
    /// Keys and values are 8-byte heap boxes: keyDup, keyCompare, key and
    /// value destructors, metadata bytes.
    Boxed,
}

struct Harness {
    d: *mut dict,
    mode: Mode,
    model: BTreeMap<u64, u64>,
    keyspace: u32,
    held_pause: i16,
    held_auto: i16,
    policy: u32,
    /// The dictType, owned through a raw pointer (Box::into_raw) so that the
    /// pointer the dict keeps stays valid until `finish` frees it.
    ty: *mut dictType,
}

/// State shared with the scan callback through `privdata`.
struct ScanCtx<'a> {
    h: *mut Harness,
    seen: BTreeSet<u64>,
    deleted: BTreeSet<u64>,
    /// Delete the current entry on the callback numbers whose bit is set.
    delete_mask: u64,
    calls: u64,
    _p: core::marker::PhantomData<&'a ()>,
}

unsafe extern "C" fn scan_cb(privdata: *mut c_void, de: *const dictEntry) {
    let ctx = &mut *(privdata as *mut ScanCtx);
    let h = &mut *ctx.h;
    // Rehashing stays paused while the callback runs.
    assert!(
        (*h.d).pauserehash > h.held_pause,
        "scan callback with rehash not paused"
    );
    let k = h.key_of(de);
    let v = h.val_of(de);
    assert_eq!(
        h.model.get(&k),
        Some(&v),
        "scan reported {k} with a wrong value"
    );
    ctx.seen.insert(k);
    let bit = ctx.calls % 64;
    ctx.calls += 1;
    if ctx.delete_mask & (1 << bit) != 0 {
        // Deleting the entry the callback was given is allowed.
        let kb = h.key_buf(k);
        assert_eq!(dictDelete(h.d, kb.ptr()), DICT_OK);
        h.model.remove(&k);
        ctx.deleted.insert(k);
    }
}

/// A key as the dict's compare function wants it for a lookup (boxed mode:
/// a pointer to a u64 on our stack/heap, never kept by the dict).
struct KeyBuf {
    int: *mut c_void,
    boxed: Box<u64>,
    mode: Mode,
}

impl KeyBuf {
    fn ptr(&self) -> *mut c_void {
        match self.mode {
            Mode::Int => self.int,
            Mode::Boxed => &*self.boxed as *const u64 as *mut c_void,
        }
    }
}

impl Harness {
    unsafe fn new(mode: Mode, keyspace: u32) -> Self {
        let ty = Box::new(match mode {
            Mode::Int => dictType {
                hashFunction: Some(int_hash),
                keyDup: None,
                keyCompare: None,
                keyDestructor: None,
                valDestructor: None,
                resizeAllowed: Some(resize_allowed),
                rehashingStarted: Some(rehashing_started),
                rehashingCompleted: Some(rehashing_completed),
                dictMetadataBytes: None,
            },
            Mode::Boxed => dictType {
                hashFunction: Some(boxed_hash),
                keyDup: Some(boxed_dup),
                keyCompare: Some(boxed_compare),
                keyDestructor: Some(boxed_free),
                valDestructor: Some(boxed_free),
                resizeAllowed: Some(resize_allowed),
                rehashingStarted: Some(rehashing_started),
                rehashingCompleted: Some(rehashing_completed),
                dictMetadataBytes: Some(metadata_bytes),
            },
        });
        let ty = Box::into_raw(ty);
        let d = dictCreate(ty);
        assert!(!d.is_null());
        if mode == Mode::Boxed {
            let meta = core::ptr::addr_of!((*d).metadata) as *const u8;
            for i in 0..METADATA_BYTES {
                assert_eq!(*meta.add(i), 0, "metadata byte {i} not zeroed at create");
            }
        }
        Harness {
            d,
            mode,
            model: BTreeMap::new(),
            keyspace,
            held_pause: 0,
            held_auto: 0,
            policy: DICT_RESIZE_ENABLE,
            ty,
        }
    }

    fn key_buf(&self, k: u64) -> KeyBuf {
        KeyBuf {
            int: (k + 1) as *mut c_void,
            boxed: Box::new(k),
            mode: self.mode,
        }
    }

    /// A key the dict will own (dictInsertAtPosition does not dup).
    fn owned_key(&self, k: u64) -> *mut c_void {
        match self.mode {
            Mode::Int => (k + 1) as *mut c_void,
            Mode::Boxed => new_box(k),
        }
    }

    unsafe fn key_of(&self, de: *const dictEntry) -> u64 {
        let p = dictGetKey(de);
        match self.mode {
            Mode::Int => p as u64 - 1,
            Mode::Boxed => *(p as *const u64),
        }
    }

    unsafe fn val_of(&self, de: *const dictEntry) -> u64 {
        match self.mode {
            Mode::Int => dictGetUnsignedIntegerVal(de),
            Mode::Boxed => *(dictGetVal(de) as *const u64),
        }
    }

    /// Sets a fresh entry's value (the dict leaves it uninitialised).
    unsafe fn set_val(&self, de: *mut dictEntry, v: u64) {
        match self.mode {
            Mode::Int => dictSetUnsignedIntegerVal(de, v),
            Mode::Boxed => dictSetVal(self.d, de, new_box(v)),
        }
    }

    /// A value to pass to dictAdd/dictReplace (boxed: heap box the dict owns
    /// on success). In Int mode the pointer-sized value slot dictAdd writes is
    /// the union member dictGetUnsignedIntegerVal reads, as in dict.c.
    fn val_arg(&self, v: u64) -> *mut c_void {
        match self.mode {
            Mode::Int => v as *mut c_void,
            Mode::Boxed => new_box(v),
        }
    }

    unsafe fn drop_val_arg(&self, p: *mut c_void) {
        if self.mode == Mode::Boxed {
            valkey_free(p);
        }
    }

    /// A key of the input's key space.
    fn key(&self, b: &mut Bytes) -> u64 {
        u64::from(b.below(self.keyspace))
    }

    fn is_rehashing(&self) -> bool {
        // SAFETY: d is live for the harness' lifetime.
        unsafe { (*self.d).rehashidx != -1 }
    }

    /// dict.c (and the Rust dict, identically) allocates the first table
    /// lazily on insert, unless auto-resize is paused: inserting into an
    /// unallocated dict with `pauseAutoResize > 0` dereferences a NULL table
    /// in both. That is a caller contract, not a divergence; Valkey never
    /// does it, and the harness does not either.
    unsafe fn can_insert(&self) -> bool {
        !((*self.d).pauseAutoResize > 0 && (*self.d).ht_size_exp[0] == -1)
    }

    unsafe fn add(&mut self, k: u64, v: u64) {
        if !self.can_insert() {
            return;
        }
        let kb = self.key_buf(k);
        let va = self.val_arg(v);
        let r = dictAdd(self.d, kb.ptr(), va);
        match self.model.entry(k) {
            std::collections::btree_map::Entry::Occupied(_) => {
                assert_eq!(r, DICT_ERR, "dictAdd of existing key {k}");
                self.drop_val_arg(va);
            }
            std::collections::btree_map::Entry::Vacant(e) => {
                assert_eq!(r, DICT_OK, "dictAdd of new key {k}");
                e.insert(v);
            }
        }
    }

    unsafe fn delete(&mut self, k: u64) {
        let kb = self.key_buf(k);
        let r = dictDelete(self.d, kb.ptr());
        let expect = if self.model.remove(&k).is_some() {
            DICT_OK
        } else {
            DICT_ERR
        };
        assert_eq!(r, expect, "dictDelete {k}");
    }

    unsafe fn find(&mut self, k: u64) -> *mut dictEntry {
        let kb = self.key_buf(k);
        let de = dictFind(self.d, kb.ptr());
        match self.model.get(&k) {
            None => assert!(de.is_null(), "dictFind found deleted/absent key {k}"),
            Some(&v) => {
                assert!(!de.is_null(), "dictFind lost key {k}");
                assert_eq!(self.key_of(de), k);
                assert_eq!(self.val_of(de), v, "value of {k}");
            }
        }
        de
    }

    unsafe fn check_sample(&self, de: *mut dictEntry) {
        if self.model.is_empty() {
            assert!(de.is_null(), "random key from an empty dict");
        } else {
            assert!(!de.is_null(), "no random key from a non-empty dict");
            let k = self.key_of(de);
            assert_eq!(self.model.get(&k), Some(&self.val_of(de)), "random key {k}");
        }
    }

    fn size_choice(b: &mut Bytes, allow_alloc_failure: bool) -> u64 {
        match b.u8() % 8 {
            0 => u64::from(b.u8() % 8),
            1 | 2 => u64::from(b.u8()),
            3 => u64::from(b.u16() % 4097),
            4 => 1u64 << (b.u8() % 13),
            5 => [
                u64::MAX,
                u64::MAX / 2,
                1u64 << 62,
                1u64 << 61,
                (1u64 << 61) + 1,
            ][b.below(5) as usize],
            6 if allow_alloc_failure => 1u64 << (34 + b.u8() % 6),
            _ => u64::from(b.u8() % 64) + 1,
        }
    }

    /// Every check of the module docs, walking both tables when `full`
    /// (the walk is O(buckets); the rest is O(1)).
    unsafe fn check(&self) {
        self.check_with(true)
    }

    unsafe fn buckets(&self) -> u64 {
        (0..2)
            .filter(|&t| (*self.d).ht_size_exp[t] != -1)
            .map(|t| 1u64 << (*self.d).ht_size_exp[t])
            .sum()
    }

    unsafe fn check_with(&self, full: bool) {
        let d = self.d;
        assert_eq!(dict_size(d), self.model.len() as u64, "dictSize vs model");
        let rehashing = (*d).rehashidx != -1;
        assert_eq!(
            rehashing,
            (*d).ht_size_exp[1] != -1,
            "rehashidx iff table 1"
        );
        assert_eq!(
            rehashing,
            !(*d).ht_table[1].is_null(),
            "rehashidx iff table 1 pointer"
        );
        assert_eq!((*d).pauserehash, self.held_pause, "pauserehash");
        assert_eq!((*d).pauseAutoResize, self.held_auto, "pauseAutoResize");
        let outstanding = STARTED.load(Ordering::Relaxed) - COMPLETED.load(Ordering::Relaxed);
        assert_eq!(
            outstanding,
            u64::from(rehashing),
            "rehashingStarted/Completed pairing"
        );

        let mut seen = BTreeSet::new();
        let mut tables = 0i64;
        for t in 0..2 {
            let exp = (*d).ht_size_exp[t];
            if exp != -1 {
                tables += 1;
            }
            if !full {
                continue;
            }
            if exp == -1 {
                assert!((*d).ht_table[t].is_null(), "table {t} pointer without size");
                assert_eq!((*d).ht_used[t], 0, "table {t} used without table");
                continue;
            }
            assert!((2..64).contains(&exp), "table {t} exponent {exp}");
            assert!(
                !(*d).ht_table[t].is_null(),
                "table {t} size without pointer"
            );
            let size = 1u64 << exp;
            let mut count = 0u64;
            for idx in 0..size {
                let mut de = *(*d).ht_table[t].add(idx as usize);
                if t == 0 && rehashing && (idx as i64) < (*d).rehashidx {
                    assert!(de.is_null(), "bucket {idx} below rehashidx not empty");
                }
                while !de.is_null() {
                    let k = self.key_of(de);
                    let key = dictGetKey(de);
                    let h = match self.mode {
                        Mode::Int => int_hash(key),
                        Mode::Boxed => boxed_hash(key),
                    };
                    assert_eq!(h & (size - 1), idx, "key {k} in the wrong bucket");
                    assert_eq!(dictGetHash(d, key), h, "dictGetHash");
                    assert!(seen.insert(k), "key {k} twice in the dict");
                    assert_eq!(self.model.get(&k), Some(&self.val_of(de)), "entry {k}");
                    count += 1;
                    de = dictGetNext(de);
                }
            }
            assert_eq!(count, (*d).ht_used[t], "table {t} walk vs ht_used");
        }
        if full {
            assert_eq!(seen.len(), self.model.len(), "walk vs model");
        }
        let n = self.model.len() as i64;
        let per_entry = match self.mode {
            Mode::Int => 1,
            Mode::Boxed => 3,
        };
        assert_eq!(
            live_allocations(),
            1 + tables + n * per_entry,
            "live allocations: dict + {tables} tables + {n} entries"
        );
        let buckets = self.buckets();
        assert_eq!(
            dictMemUsage(d),
            n as usize * dictEntryMemUsage(null_mut()) + buckets as usize * 8,
            "dictMemUsage"
        );
    }

    unsafe fn step(&mut self, b: &mut Bytes) {
        let op = b.u8() % NUM_OPS;
        if matches!(op, 1 | 5 | 6) && !self.can_insert() {
            return;
        }
        match op {
            0 => {
                let (k, v) = (self.key(b), u64::from(b.u16()));
                self.add(k, v);
            }
            1 => {
                // dictReplace: 1 if added, 0 if the value was replaced.
                let (k, v) = (self.key(b), u64::from(b.u16()));
                let kb = self.key_buf(k);
                let r = dictReplace(self.d, kb.ptr(), self.val_arg(v));
                let existed = self.model.insert(k, v).is_some();
                assert_eq!(r, c_int::from(!existed), "dictReplace {k}");
            }
            2 => {
                let k = self.key(b);
                self.delete(k);
            }
            3 => {
                let k = self.key(b);
                self.find(k);
                let kb = self.key_buf(k);
                let v = dictFetchValue(self.d, kb.ptr());
                match (self.mode, self.model.get(&k)) {
                    (_, None) => assert!(v.is_null(), "dictFetchValue of absent {k}"),
                    (Mode::Int, Some(&mv)) => assert_eq!(v as u64, mv, "dictFetchValue {k}"),
                    (Mode::Boxed, Some(&mv)) => {
                        assert!(!v.is_null(), "dictFetchValue lost {k}");
                        assert_eq!(*(v as *const u64), mv, "dictFetchValue {k}");
                    }
                }
            }
            4 => {
                let k = self.key(b);
                let kb = self.key_buf(k);
                let de = dictUnlink(self.d, kb.ptr());
                match self.model.remove(&k) {
                    None => assert!(de.is_null(), "dictUnlink of absent {k}"),
                    Some(v) => {
                        assert!(!de.is_null(), "dictUnlink lost {k}");
                        assert_eq!((self.key_of(de), self.val_of(de)), (k, v));
                    }
                }
                dictFreeUnlinkedEntry(self.d, de);
            }
            5 => {
                let (k, v) = (self.key(b), u64::from(b.u16()));
                let kb = self.key_buf(k);
                if b.u8() & 1 == 0 {
                    let mut existing: *mut dictEntry = null_mut();
                    let de = dictAddRaw(self.d, kb.ptr(), &mut existing);
                    if let Some(&old) = self.model.get(&k) {
                        assert!(de.is_null(), "dictAddRaw of existing {k}");
                        assert!(!existing.is_null());
                        assert_eq!((self.key_of(existing), self.val_of(existing)), (k, old));
                    } else {
                        assert!(!de.is_null(), "dictAddRaw of new {k}");
                        self.set_val(de, v);
                        self.model.insert(k, v);
                    }
                } else {
                    let de = dictAddOrFind(self.d, kb.ptr());
                    assert!(!de.is_null());
                    match self.model.get(&k) {
                        Some(&old) => assert_eq!(self.val_of(de), old),
                        None => {
                            self.set_val(de, v);
                            self.model.insert(k, v);
                        }
                    }
                    assert_eq!(self.key_of(de), k);
                }
            }
            6 => {
                let (k, v) = (self.key(b), u64::from(b.u16()));
                let kb = self.key_buf(k);
                let mut existing: *mut dictEntry = null_mut();
                let pos = dictFindPositionForInsert(self.d, kb.ptr(), &mut existing);
                if self.model.contains_key(&k) {
                    assert!(
                        pos.is_null() && !existing.is_null(),
                        "position for existing {k}"
                    );
                } else {
                    assert!(!pos.is_null(), "no position for new {k}");
                    let de = dictInsertAtPosition(self.d, self.owned_key(k), pos);
                    self.set_val(de, v);
                    self.model.insert(k, v);
                }
            }
            7 => {
                let n = Self::size_choice(b, false);
                let r = dictExpand(self.d, n);
                assert!(r == DICT_OK || r == DICT_ERR);
            }
            8 => {
                let n = Self::size_choice(b, true);
                let r = dictTryExpand(self.d, n);
                assert!(r == DICT_OK || r == DICT_ERR);
            }
            9 => {
                let n = Self::size_choice(b, false);
                let r = dictShrink(self.d, n);
                assert!(r == DICT_OK || r == DICT_ERR);
                if n < self.model.len() as u64 {
                    assert_eq!(r, DICT_ERR, "dictShrink below the element count");
                }
            }
            10 => {
                if b.u8() & 1 == 0 {
                    dictExpandIfNeeded(self.d);
                } else {
                    dictShrinkIfNeeded(self.d);
                }
            }
            11 => {
                self.policy = [DICT_RESIZE_ENABLE, DICT_RESIZE_AVOID, DICT_RESIZE_FORBID]
                    [b.below(3) as usize];
                dictSetResizeEnabled(self.policy);
            }
            12 => {
                // dictRehash: n <= 0 does nothing; FORBID refuses.
                let n = i32::from(b.u8() % 20) - 2;
                let before = self.is_rehashing();
                let r = dictRehash(self.d, n);
                if !before {
                    assert_eq!(r, 0, "dictRehash on a dict not rehashing");
                }
                if r == 0 && before && n > 0 && self.policy != DICT_RESIZE_FORBID {
                    // Either finished, or AVOID held it back.
                    assert!(!self.is_rehashing() || self.policy == DICT_RESIZE_AVOID);
                }
            }
            // Miri cannot read the extern static getMonotonicUs the clock goes through.
            13 if cfg!(miri) => {}
            13 => {
                let r = dictRehashMicroseconds(self.d, u64::from(b.u8() % 3));
                if self.held_pause > 0 {
                    assert_eq!(r, 0, "dictRehashMicroseconds while paused");
                }
            }
            14 => {
                // dictPauseRehashing / dictResumeRehashing (dict.h macros on the field).
                if b.u8() & 1 == 0 && self.held_pause < 3 {
                    (*self.d).pauserehash += 1;
                    self.held_pause += 1;
                } else if self.held_pause > 0 {
                    (*self.d).pauserehash -= 1;
                    self.held_pause -= 1;
                }
            }
            15 => {
                // dictPauseAutoResize / dictResumeAutoResize.
                if b.u8() & 1 == 0 && self.held_auto < 3 {
                    (*self.d).pauseAutoResize += 1;
                    self.held_auto += 1;
                } else if self.held_auto > 0 {
                    (*self.d).pauseAutoResize -= 1;
                    self.held_auto -= 1;
                }
            }
            16 => self.safe_iteration(b),
            17 => self.unsafe_iteration(b),
            18 => self.scan(b, false),
            19 => self.scan(b, true),
            20 => {
                let de = dictGetRandomKey(self.d);
                self.check_sample(de);
                let de = dictGetFairRandomKey(self.d);
                self.check_sample(de);
                let count = u32::from(b.u8() % 40);
                let mut out = vec![null_mut::<dictEntry>(); count as usize];
                let n = dictGetSomeKeys(self.d, out.as_mut_ptr(), count);
                assert!(
                    n <= count && u64::from(n) <= dict_size(self.d),
                    "dictGetSomeKeys count"
                );
                for &de in &out[..n as usize] {
                    self.check_sample(de);
                }
            }
            21 => {
                let k = self.key(b);
                if self.mode == Mode::Int {
                    let de = self.find(k);
                    if !de.is_null() {
                        let x = u64::from(b.u16());
                        let v = self.model[&k].wrapping_add(x);
                        assert_eq!(dictIncrUnsignedIntegerVal(de, x), v);
                        let s = dictIncrSignedIntegerVal(de, -3);
                        assert_eq!(s, (v as i64).wrapping_sub(3));
                        assert_eq!(dictGetSignedIntegerVal(de), s);
                        let f = f64::from(b.u16()) / 7.0;
                        dictSetDoubleVal(de, f);
                        assert_eq!(dictIncrDoubleVal(de, 0.5), f + 0.5);
                        assert_eq!(*dictGetDoubleValPtr(de), f + 0.5);
                        assert_eq!(dictGetDoubleVal(de), f + 0.5);
                        dictSetSignedIntegerVal(de, v as i64);
                        self.model.insert(k, v);
                    }
                } else {
                    let de = self.find(k);
                    if !de.is_null() {
                        // Swap in a new value box; the caller frees the old one.
                        let v = u64::from(b.u16());
                        let old = dictGetVal(de);
                        dictSetVal(self.d, de, new_box(v));
                        valkey_free(old);
                        self.model.insert(k, v);
                    }
                }
            }
            22 => {
                if b.u8().is_multiple_of(4) {
                    dictEmpty(self.d, Some(empty_callback));
                    self.model.clear();
                    // dictEmpty resets both pause counters.
                    self.held_pause = 0;
                    self.held_auto = 0;
                }
            }
            23 => {
                RESIZE_ALLOWED.store(!b.u8().is_multiple_of(4), Ordering::Relaxed);
            }
            24 => {
                // Bulk add: fills tables fast enough to reach several resizes.
                let n = b.u8();
                let base = self.key(b);
                for i in 0..u64::from(n) {
                    let k = (base + i * 7) % u64::from(self.keyspace);
                    self.add(k, k ^ 0x55);
                }
            }
            25 => {
                let n = b.u8();
                let base = self.key(b);
                for i in 0..u64::from(n) {
                    let k = (base + i * 3) % u64::from(self.keyspace);
                    self.delete(k);
                }
            }
            _ => {
                // Fingerprint: unchanged by a lookup while not rehashing.
                if !self.is_rehashing() {
                    let f = dictFingerprint(self.d);
                    let k = self.key(b);
                    self.find(k);
                    if !self.is_rehashing() {
                        assert_eq!(dictFingerprint(self.d), f, "fingerprint moved on a lookup");
                    }
                }
            }
        }
    }

    /// A safe iterator (stack or heap) whose loop deletes the current entry,
    /// adds keys and looks keys up.
    unsafe fn safe_iteration(&mut self, b: &mut Bytes) {
        let heap = b.u8() & 1 == 1;
        let mut stack_it: dictIterator = core::mem::zeroed();
        let it: *mut dictIterator = if heap {
            dictGetSafeIterator(self.d)
        } else {
            dictInitSafeIterator(&mut stack_it, self.d);
            &mut stack_it
        };
        let start: BTreeSet<u64> = self.model.keys().copied().collect();
        // Keys (re-)added during the loop, with how many times: a new entry
        // may or may not be returned, so each add allows one more visit.
        let mut adds: BTreeMap<u64, u32> = BTreeMap::new();
        let mut visits: BTreeMap<u64, u32> = BTreeMap::new();
        let mut steps = 0usize;
        loop {
            let de = dictNext(it);
            if de.is_null() {
                break;
            }
            steps += 1;
            assert!(steps <= 1 << 20, "safe iterator does not end");
            let k = self.key_of(de);
            assert_eq!(self.model.get(&k), Some(&self.val_of(de)), "iterated {k}");
            *visits.entry(k).or_default() += 1;
            match b.u8() % 6 {
                0 | 1 => self.delete(k),
                2 => {
                    let nk = self.key(b);
                    if !self.model.contains_key(&nk) {
                        *adds.entry(nk).or_default() += 1;
                    }
                    self.add(nk, nk);
                }
                3 => {
                    let nk = self.key(b);
                    self.find(nk);
                }
                _ => {}
            }
        }
        if heap {
            dictReleaseIterator(it);
        } else {
            dictResetIterator(it);
        }
        // Present at the start: returned once (before any delete of it,
        // which the loop only does to the current entry), plus at most once
        // per re-add. Added during the loop: at most once per add.
        for (k, n) in &visits {
            let allowed = u32::from(start.contains(k)) + adds.get(k).copied().unwrap_or(0);
            assert!(
                *n <= allowed,
                "safe iterator returned {k} {n} times (allowed {allowed})"
            );
        }
        for k in &start {
            assert!(visits.contains_key(k), "safe iterator missed {k}");
        }
    }

    /// An unsafe iterator: reads only; the fingerprint check at reset must pass.
    unsafe fn unsafe_iteration(&mut self, b: &mut Bytes) {
        let heap = b.u8() & 1 == 1;
        let mut stack_it: dictIterator = core::mem::zeroed();
        let it: *mut dictIterator = if heap {
            dictGetIterator(self.d)
        } else {
            dictInitIterator(&mut stack_it, self.d);
            &mut stack_it
        };
        let mut seen = BTreeSet::new();
        loop {
            let de = dictNext(it);
            if de.is_null() {
                break;
            }
            let k = self.key_of(de);
            assert!(seen.insert(k), "unsafe iterator returned {k} twice");
            assert_eq!(self.model.get(&k), Some(&self.val_of(de)));
        }
        assert_eq!(
            seen.len(),
            self.model.len(),
            "unsafe iterator missed elements"
        );
        if heap {
            dictReleaseIterator(it);
        } else {
            dictResetIterator(it);
        }
    }

    /// A whole scan with mutations between calls and deletions in the callback.
    unsafe fn scan(&mut self, b: &mut Bytes, defrag: bool) {
        let start: BTreeSet<u64> = self.model.keys().copied().collect();
        let delete_mask = if b.u8().is_multiple_of(3) { b.u64() } else { 0 };
        let mut ctx = ScanCtx {
            h: self as *mut Harness,
            seen: BTreeSet::new(),
            deleted: BTreeSet::new(),
            delete_mask,
            calls: 0,
            _p: core::marker::PhantomData,
        };
        let fns = dictDefragFunctions {
            defragAlloc: Some(defrag_move_entry),
            defragKey: if self.mode == Mode::Boxed {
                Some(defrag_move_box)
            } else {
                None
            },
            defragVal: if self.mode == Mode::Boxed {
                Some(defrag_move_box)
            } else {
                None
            },
        };
        let mut added = BTreeSet::new();
        let mut cursor = 0;
        let mut steps = 0usize;
        let mutations = b.u8() % 64;
        loop {
            let priv_ = &mut ctx as *mut ScanCtx as *mut c_void;
            cursor = if defrag {
                dictScanDefrag(self.d, cursor, Some(scan_cb), &fns, priv_)
            } else {
                dictScan(self.d, cursor, Some(scan_cb), priv_)
            };
            // The callback mutated self.model through ctx.h; re-check the dict.
            self.check_with(false);
            steps += 1;
            assert!(steps <= 1 << 20, "scan does not end");
            if cursor == 0 {
                break;
            }
            if steps <= usize::from(mutations) {
                match b.u8() % 5 {
                    0 => {
                        let k = self.key(b);
                        if !self.model.contains_key(&k) {
                            added.insert(k);
                        }
                        self.add(k, k);
                    }
                    1 => {
                        let k = self.key(b);
                        if self.model.contains_key(&k) {
                            ctx.deleted.insert(k);
                        }
                        self.delete(k);
                    }
                    2 => {
                        let k = self.key(b);
                        self.find(k);
                    }
                    3 => {
                        dictRehash(self.d, 1);
                    }
                    _ => {}
                }
            }
        }
        self.check();
        for k in start.difference(&ctx.deleted) {
            assert!(
                ctx.seen.contains(k),
                "scan missed {k}, present for the whole scan"
            );
        }
        for k in &ctx.seen {
            assert!(
                start.contains(k) || added.contains(k),
                "scan reported unknown {k}"
            );
        }
    }

    unsafe fn finish(mut self) {
        while self.held_pause > 0 {
            (*self.d).pauserehash -= 1;
            self.held_pause -= 1;
        }
        while self.held_auto > 0 {
            (*self.d).pauseAutoResize -= 1;
            self.held_auto -= 1;
        }
        self.check();
        dictRelease(self.d);
        drop(Box::from_raw(self.ty));
        assert_eq!(live_allocations(), 0, "allocations left after dictRelease");
        assert_eq!(
            STARTED.load(Ordering::Relaxed),
            COMPLETED.load(Ordering::Relaxed),
            "rehashingStarted without rehashingCompleted after dictRelease"
        );
    }
}

/// Runs one input. Panics (or aborts through `_serverAssert`) on a divergence.
pub fn run(data: &[u8]) {
    let mut b = Bytes::new(data);
    let header = b.u8();
    let mode = if header & 1 == 0 {
        Mode::Int
    } else {
        Mode::Boxed
    };
    CLUSTER.store(
        [0, 0, 13, 3][usize::from((header >> 1) & 3)],
        Ordering::Relaxed,
    );
    let keyspace = [16, 64, 256, 1024][usize::from((header >> 3) & 3)];
    STARTED.store(0, Ordering::Relaxed);
    COMPLETED.store(0, Ordering::Relaxed);
    RESIZE_ALLOWED.store(true, Ordering::Relaxed);
    EMPTY_CALLBACKS.store(0, Ordering::Relaxed);
    seed_rng(u64::from(header));
    dictSetResizeEnabled(DICT_RESIZE_ENABLE);
    assert_eq!(
        live_allocations(),
        0,
        "allocations left by a previous input"
    );
    // SAFETY: the harness only makes calls dict.h allows, in the order it allows.
    unsafe {
        let mut h = Harness::new(mode, keyspace);
        let mut ops = 0;
        while !b.done() && ops < MAX_OPS {
            h.step(&mut b);
            // Full walk after every step on small tables, every 16th on large ones.
            h.check_with(h.buckets() <= 256 || ops % 16 == 0);
            ops += 1;
        }
        h.finish();
    }
    dictSetResizeEnabled(DICT_RESIZE_ENABLE);
}
