//! Model-based tests of the table core: random operation sequences checked
//! against a `BTreeMap` model and the structural invariants after every step,
//! across rehash states and resize policies.

use super::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

/// The resize policy is process-global, as in dict.c: tests that touch a
/// dict run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    let g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    set_resize_enabled(DICT_RESIZE_ENABLE);
    g
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

unsafe extern "C" fn mixed_hash(key: *const c_void) -> u64 {
    wang_hash64(key as u64)
}

/// Few distinct hashes: long chains and shared buckets.
unsafe extern "C" fn clustered_hash(key: *const c_void) -> u64 {
    (key as u64) % 13
}

fn int_type(hash: unsafe extern "C" fn(*const c_void) -> u64) -> dictType {
    dictType {
        hashFunction: Some(hash),
        keyDup: None,
        keyCompare: None,
        keyDestructor: None,
        valDestructor: None,
        resizeAllowed: None,
        rehashingStarted: None,
        rehashingCompleted: None,
        dictMetadataBytes: None,
    }
}

fn k(i: u64) -> *mut c_void {
    // Keys are small integers stored in the pointer; 0 is avoided so a key
    // is never NULL.
    (i + 1) as *mut c_void
}

/// Structural invariants plus agreement with the model.
unsafe fn check(d: *mut dict, model: &BTreeMap<u64, u64>) {
    assert_eq!(size(d), model.len() as u64);
    check_tables(d);
    for (&key, &val) in model {
        let de = find(d, k(key));
        assert!(!de.is_null(), "key {key} lost");
        assert_eq!((*de).v.val as u64, val);
    }
}

/// The tables' invariants, read without lookups (which would rehash):
/// returns the keys they hold.
unsafe fn check_tables(d: *mut dict) -> BTreeSet<u64> {
    assert_eq!(
        (*d).rehashidx == -1,
        (*d).ht_size_exp[1] == -1,
        "rehashidx iff table 1"
    );
    let mut seen = BTreeSet::new();
    for t in 0..2 {
        let exp = (*d).ht_size_exp[t];
        if exp == -1 {
            assert!((*d).ht_table[t].is_null());
            assert_eq!((*d).ht_used[t], 0);
            continue;
        }
        let mut count = 0;
        for idx in 0..ht_size(exp) {
            let mut de = *bucket_at(d, t, idx);
            if t == 0 && is_rehashing(d) && (idx as c_long) < (*d).rehashidx {
                assert!(de.is_null(), "bucket {idx} below rehashidx not empty");
            }
            while !de.is_null() {
                assert_eq!(
                    hash_key(d, (*de).key) & ht_mask(exp),
                    idx,
                    "entry in wrong bucket"
                );
                assert!(seen.insert((*de).key as u64 - 1), "key twice");
                count += 1;
                de = (*de).next;
            }
        }
        assert_eq!(count, (*d).ht_used[t], "ht_used[{t}]");
    }
    seen
}

unsafe fn random_ops(
    seed: u64,
    hash: unsafe extern "C" fn(*const c_void) -> u64,
    steps: usize,
    keyspace: u64,
) {
    let mut rng = Rng(seed);
    let mut ty = int_type(hash);
    let d = create(&mut ty);
    let mut model = BTreeMap::new();
    for step in 0..steps {
        let key = rng.below(keyspace);
        match rng.below(100) {
            0..=34 => {
                let val = rng.next() >> 1;
                let r = add(d, k(key), val as *mut c_void);
                if let std::collections::btree_map::Entry::Vacant(e) = model.entry(key) {
                    assert_eq!(r, DICT_OK);
                    e.insert(val);
                } else {
                    assert_eq!(r, DICT_ERR);
                }
            }
            35..=49 => {
                let val = rng.next() >> 1;
                let added = replace(d, k(key), val as *mut c_void);
                assert_eq!(added == 1, model.insert(key, val).is_none());
            }
            50..=74 => {
                let r = delete(d, k(key));
                assert_eq!(r == DICT_OK, model.remove(&key).is_some());
            }
            75..=79 => {
                let de = unlink(d, k(key));
                assert_eq!(!de.is_null(), model.remove(&key).is_some());
                free_unlinked_entry(d, de);
            }
            80..=84 => {
                let de = find(d, k(key));
                assert_eq!(!de.is_null(), model.contains_key(&key));
            }
            85..=87 => {
                rehash(d, 1 + rng.below(4) as c_int);
            }
            88 => {
                let target = rng.below(4 * keyspace);
                let before = (*d).ht_size_exp;
                let r = expand(d, target);
                if r == DICT_ERR {
                    assert_eq!((*d).ht_size_exp, before, "failed expand changed the table");
                }
            }
            89 => {
                let target = rng.below(keyspace);
                let before = (*d).ht_size_exp;
                if shrink(d, target) == DICT_ERR {
                    assert_eq!((*d).ht_size_exp, before, "failed shrink changed the table");
                }
            }
            90..=91 => set_resize_enabled(rng.below(3) as dictResizeEnable),
            // Pausing auto-resize before the first table exists makes the
            // next insert dereference a NULL table, in dict.c as here.
            92 if (*d).ht_size_exp[0] != -1 => {
                if (*d).pauseAutoResize > 0 {
                    (*d).pauseAutoResize -= 1;
                } else {
                    (*d).pauseAutoResize += 1;
                }
            }
            93..=95 => {
                // Safe iteration deleting about half of what it visits.
                let mut it = core::mem::MaybeUninit::<dictIterator>::uninit();
                init_iterator(it.as_mut_ptr(), d, true);
                let mut visited = BTreeSet::new();
                loop {
                    let de = next(it.as_mut_ptr());
                    if de.is_null() {
                        break;
                    }
                    let key = (*de).key as u64 - 1;
                    assert!(visited.insert(key), "safe iterator returned {key} twice");
                    if rng.below(2) == 0 {
                        assert_eq!(delete(d, k(key)), DICT_OK);
                        model.remove(&key);
                    }
                }
                reset_iterator(it.as_mut_ptr());
                assert_eq!((*d).pauserehash, 0);
            }
            _ => {
                let mut it = core::mem::MaybeUninit::<dictIterator>::uninit();
                init_iterator(it.as_mut_ptr(), d, false);
                let mut n = 0;
                while !next(it.as_mut_ptr()).is_null() {
                    n += 1;
                }
                reset_iterator(it.as_mut_ptr());
                assert_eq!(n, model.len(), "unsafe iteration count at step {step}");
            }
        }
        check(d, &model);
    }
    set_resize_enabled(DICT_RESIZE_ENABLE);
    release(d);
}

#[test]
fn random_operations_match_model() {
    let _g = serial();
    // Miri interprets: a short run still covers every operation.
    let (seeds, steps) = if cfg!(miri) { (2, 300) } else { (40, 3000) };
    for seed in 0..seeds {
        // SAFETY: the dict is created, used and released inside random_ops.
        unsafe { random_ops(seed, mixed_hash, steps, 400) };
    }
}

#[test]
fn random_operations_with_long_chains() {
    let _g = serial();
    let (seeds, steps) = if cfg!(miri) {
        (100..102, 300)
    } else {
        (100..120, 2000)
    };
    for seed in seeds {
        // SAFETY: as above.
        unsafe { random_ops(seed, clustered_hash, steps, 200) };
    }
}

#[test]
fn resize_policy_thresholds() {
    let _g = serial();
    // SAFETY: one dict, created and released here.
    unsafe {
        let mut ty = int_type(mixed_hash);
        let d = create(&mut ty);
        assert_eq!((*d).ht_size_exp, [-1, -1]);
        add(d, k(0), null_mut());
        assert_eq!(
            (*d).ht_size_exp[0],
            DICT_HT_INITIAL_EXP,
            "first add allocates 4 buckets"
        );
        for i in 1..4 {
            add(d, k(i), null_mut());
        }
        assert!(!is_rehashing(d), "4 entries in 4 buckets: no expansion yet");
        add(d, k(4), null_mut());
        assert!(is_rehashing(d), "used >= size expands on the next insert");
        while rehash(d, 100) != 0 {}
        assert_eq!((*d).ht_size_exp[0], 3);

        // AVOID: expansion only at 4x load.
        set_resize_enabled(DICT_RESIZE_AVOID);
        for i in 5..32 {
            add(d, k(i), null_mut());
        }
        assert!(!is_rehashing(d), "AVOID holds back below ratio 4");
        add(d, k(32), null_mut());
        assert!(is_rehashing(d), "AVOID expands at ratio 4");
        set_resize_enabled(DICT_RESIZE_FORBID);
        assert_eq!(rehash(d, 1000), 0, "FORBID blocks dictRehash");
        set_resize_enabled(DICT_RESIZE_ENABLE);
        while rehash(d, 100) != 0 {}

        // Shrink when used*8 <= size.
        let size0 = ht_size((*d).ht_size_exp[0]);
        let mut i = 32;
        // Deleting shrinks as soon as used*8 <= size, so this stops there.
        while !is_rehashing(d) {
            assert!(
                (*d).ht_used[0] * HASHTABLE_MIN_FILL > size0,
                "shrink came late"
            );
            delete(d, k(i));
            i -= 1;
        }
        assert_eq!(
            (*d).ht_used[0] * HASHTABLE_MIN_FILL,
            size0,
            "shrink came early"
        );
        release(d);
    }
}

#[test]
fn expand_and_shrink_reject_invalid_sizes() {
    let _g = serial();
    // SAFETY: one dict, created and released here.
    unsafe {
        let mut ty = int_type(mixed_hash);
        let d = create(&mut ty);
        assert_eq!(expand(d, 100), DICT_OK);
        assert_eq!((*d).ht_size_exp[0], 7);
        assert_eq!(expand(d, 100), DICT_ERR, "not larger than the table");
        assert_eq!(expand(d, 64), DICT_ERR);
        assert_eq!(expand(d, u64::MAX), DICT_ERR, "overflow");
        assert_eq!(
            try_expand(d, 1u64 << 62),
            DICT_OK,
            "overflowing size: skipped, not an allocation failure"
        );
        assert_eq!(
            try_expand(d, 1u64 << 45),
            DICT_ERR,
            "allocation failure reported"
        );
        assert_eq!((*d).ht_size_exp[0], 7, "failed try-expand keeps the table");
        assert_eq!(shrink(d, 128), DICT_ERR, "not smaller");
        for i in 0..10 {
            add(d, k(i), null_mut());
        }
        assert_eq!(shrink(d, 5), DICT_ERR, "smaller than the contents");
        assert_eq!(shrink(d, 16), DICT_OK);
        assert!(is_rehashing(d));
        assert_eq!(expand(d, 1000), DICT_ERR, "no resize while rehashing");
        release(d);
    }
}

#[test]
fn next_exp_matches_dict_c() {
    assert_eq!(next_exp(0), 2);
    assert_eq!(next_exp(4), 2);
    assert_eq!(next_exp(5), 3);
    assert_eq!(next_exp(8), 3);
    assert_eq!(next_exp(9), 4);
    assert_eq!(next_exp(1 << 40), 40);
    assert_eq!(next_exp((1 << 40) + 1), 41);
    assert_eq!(next_exp(i64::MAX as u64), 63);
    assert_eq!(next_exp(u64::MAX), 63);
}

static EVENTS: Mutex<Vec<String>> = Mutex::new(Vec::new());

unsafe extern "C" fn on_started(d: *mut dict) {
    let (from, to) = rehashing_info(d);
    EVENTS.lock().unwrap().push(format!("started {from}->{to}"));
}

unsafe extern "C" fn on_completed(d: *mut dict) {
    let (from, to) = rehashing_info(d);
    EVENTS
        .lock()
        .unwrap()
        .push(format!("completed {from}->{to}"));
}

#[test]
fn rehashing_callbacks_fire_at_dict_c_moments() {
    let _g = serial();
    EVENTS.lock().unwrap().clear();
    // SAFETY: one dict, created and released here.
    unsafe {
        let mut ty = int_type(mixed_hash);
        ty.rehashingStarted = Some(on_started);
        ty.rehashingCompleted = Some(on_completed);
        let d = create(&mut ty);
        add(d, k(0), null_mut());
        for i in 1..5 {
            add(d, k(i), null_mut());
        }
        while rehash(d, 1) != 0 {}
        for i in 5..9 {
            add(d, k(i), null_mut());
        }
        // Released mid-rehash: a fake completion is reported.
        assert!(is_rehashing(d));
        release(d);
    }
    let ev = EVENTS.lock().unwrap().clone();
    assert_eq!(
        ev,
        vec![
            "started 0->4",
            "completed 0->4",
            "started 4->8",
            "completed 4->8",
            "started 8->16",
            "completed 8->16",
        ]
    );
}

struct ScanState {
    seen: BTreeSet<u64>,
}

unsafe extern "C" fn collect(privdata: *mut c_void, de: *const dictEntry) {
    let st = &mut *privdata.cast::<ScanState>();
    st.seen.insert((*de).key as u64 - 1);
}

#[test]
fn scan_reports_every_stable_element_across_resizes() {
    let _g = serial();
    // Miri interprets every step: a few seeds of a smaller dict still cross
    // several resizes between scan calls.
    let (seeds, nstable, churn) = if cfg!(miri) {
        (3, 60, 40)
    } else {
        (30, 300, 200)
    };
    for seed in 0..seeds {
        let mut rng = Rng(seed);
        // SAFETY: one dict per round, created and released here.
        unsafe {
            let mut ty = int_type(mixed_hash);
            let d = create(&mut ty);
            let stable: Vec<u64> = (0..nstable).collect();
            for &s in &stable {
                add(d, k(s), null_mut());
            }
            let mut st = ScanState {
                seen: BTreeSet::new(),
            };
            let mut cursor = 0;
            let mut extra = 1000;
            loop {
                cursor = scan_defrag(
                    d,
                    cursor,
                    Some(collect),
                    None,
                    (&mut st as *mut ScanState).cast(),
                );
                // Churn between calls: grow, shrink, rehash.
                match rng.below(4) {
                    0 => {
                        for _ in 0..rng.below(churn) {
                            add(d, k(extra), null_mut());
                            extra += 1;
                        }
                    }
                    1 => {
                        for _ in 0..rng.below(churn) {
                            if extra > 1000 {
                                extra -= 1;
                                delete(d, k(extra));
                            }
                        }
                    }
                    2 => {
                        rehash(d, rng.below(8) as c_int);
                    }
                    _ => {}
                }
                if cursor == 0 {
                    break;
                }
            }
            for s in &stable {
                assert!(st.seen.contains(s), "seed {seed}: scan missed {s}");
            }
            release(d);
        }
    }
}

unsafe extern "C" fn move_alloc(ptr: *mut c_void) -> *mut c_void {
    let new = host::valkey_malloc(size_of::<dictEntry>());
    core::ptr::copy_nonoverlapping(ptr.cast::<u8>(), new.cast::<u8>(), size_of::<dictEntry>());
    host::valkey_free(ptr);
    new
}

unsafe extern "C" fn bump_val(ptr: *mut c_void) -> *mut c_void {
    (ptr as u64 + 1_000_000) as *mut c_void
}

/// Finishes the rehash a growth started.
unsafe fn settle(d: *mut dict) {
    while is_rehashing(d) {
        rehash(d, 1000);
    }
}

/// One whole `dictScanDefrag` pass from cursor 0; the keys it reported.
unsafe fn defrag_scan_all(d: *mut dict, fns: &dictDefragFunctions) -> BTreeSet<u64> {
    let mut st = ScanState {
        seen: BTreeSet::new(),
    };
    let mut cursor = 0;
    loop {
        cursor = scan_defrag(
            d,
            cursor,
            Some(collect),
            Some(fns),
            (&mut st as *mut ScanState).cast(),
        );
        if cursor == 0 {
            return st.seen;
        }
    }
}

/// Entries are freed by `zfree_with_size` with the usable size they were
/// allocated with, while every entry got the same one; once the allocator
/// gives another size, or defrag moves an entry, by plain `zfree`. The test
/// host aborts if `zfree_with_size` gets any size but the block's own, and
/// counts its calls, so the fast free is seen to run (bucket arrays always
/// go through `zfree`).
#[test]
fn entries_are_freed_with_the_size_they_were_allocated_with() {
    use crate::ffi::host::test_host::{EXTRA_USABLE, FREES_WITH_SIZE};
    let _g = serial();
    let frees = || FREES_WITH_SIZE.load(Ordering::Relaxed);
    // SAFETY: three dicts, each released before the next; no other test
    // holds entries (serial), so the record can start afresh.
    unsafe {
        reset_entry_usable();
        let mut ty = int_type(mixed_hash);

        // One size: delete, unlink + free, and release all free fast.
        let d = create(&mut ty);
        for i in 0..100 {
            add(d, k(i), null_mut());
        }
        settle(d);
        assert!(entry_free_has_size());
        let before = frees();
        for i in 0..10 {
            assert_eq!(delete(d, k(i)), DICT_OK);
        }
        free_unlinked_entry(d, unlink(d, k(10)));
        release(d);
        assert_eq!(frees() - before, 100);

        // The allocator changes its mind half-way: live entries of two
        // sizes, each freed correctly (through zfree).
        let d = create(&mut ty);
        for i in 0..50 {
            add(d, k(i), null_mut());
        }
        EXTRA_USABLE.store(16, Ordering::Relaxed);
        for i in 50..100 {
            add(d, k(i), null_mut());
        }
        EXTRA_USABLE.store(0, Ordering::Relaxed);
        settle(d);
        assert!(!entry_free_has_size());
        let before = frees();
        for i in (0..100).step_by(3) {
            assert_eq!(delete(d, k(i)), DICT_OK);
        }
        release(d);
        assert_eq!(frees(), before);

        defrag_ends_the_fast_free(&mut ty);
    }
}

/// A new dict of `n` entries, from a fresh entry-size record, and how many
/// of them were allocated with `zmalloc_usable` (asked their size).
///
/// # Safety
/// No other test holds entries (serial).
unsafe fn fill_counting_asks(ty: &mut dictType, n: u64) -> (*mut dict, usize) {
    use crate::ffi::host::test_host::ZMALLOC_USABLE_CALLS;
    reset_entry_usable();
    let d = create(ty);
    let before = ZMALLOC_USABLE_CALLS.load(Ordering::Relaxed);
    for i in 0..n {
        add(d, k(i), null_mut());
    }
    (d, ZMALLOC_USABLE_CALLS.load(Ordering::Relaxed) - before)
}

/// Defrag moves entries into blocks of the defrag allocator's own
/// (move_alloc: plain zmalloc), which only zfree may free; so is every entry
/// added after it.
///
/// # Safety
/// No other test holds entries (serial).
unsafe fn defrag_ends_the_fast_free(ty: &mut dictType) {
    use crate::ffi::host::test_host::FREES_WITH_SIZE;
    reset_entry_usable();
    let d = create(ty);
    for i in 0..50 {
        add(d, k(i), null_mut());
    }
    settle(d);
    assert!(entry_free_has_size());
    let fns = dictDefragFunctions {
        defragAlloc: Some(move_alloc),
        defragKey: None,
        defragVal: None,
    };
    assert_eq!(defrag_scan_all(d, &fns).len(), 50);
    assert!(!entry_free_has_size());
    for i in 50..60 {
        add(d, k(i), null_mut());
    }
    let before = FREES_WITH_SIZE.load(Ordering::Relaxed);
    release(d);
    assert_eq!(FREES_WITH_SIZE.load(Ordering::Relaxed), before);
    reset_entry_usable();
}

/// Under an allocator that promises every block of a request size the same
/// usable size (jemalloc's size class; the test host's `JEMALLOC`), only the
/// first entry is allocated with `zmalloc_usable`; the rest come from plain
/// `zmalloc` and are still freed with `zfree_with_size`, with the size the test
/// host checks. Without the promise (libc malloc, the default here) every
/// entry is asked, as the test above relies on; with a first block of another
/// size than the class, too. Defrag still ends the fast free.
#[test]
fn entries_are_asked_their_size_once_under_size_classes() {
    use crate::ffi::host::test_host::{
        CLASS_OFF, EXTRA_USABLE, FREES_WITH_SIZE, JEMALLOC, ZMALLOC_ELSEWHERE,
    };
    let _g = serial();
    let frees = || FREES_WITH_SIZE.load(Ordering::Relaxed);
    // Restores the default allocator even if an assertion fails half-way.
    struct Libc;
    impl Drop for Libc {
        fn drop(&mut self) {
            JEMALLOC.store(false, Ordering::Relaxed);
            CLASS_OFF.store(0, Ordering::Relaxed);
            ZMALLOC_ELSEWHERE.store(false, Ordering::Relaxed);
            EXTRA_USABLE.store(0, Ordering::Relaxed);
        }
    }
    let _libc = Libc;
    // SAFETY: dicts created and released here, one at a time; no other test
    // holds entries (serial), so the record can start afresh.
    unsafe {
        let mut ty = int_type(mixed_hash);

        // Size classes: one zmalloc_usable, every free fast.
        JEMALLOC.store(true, Ordering::Relaxed);
        let (d, asks) = fill_counting_asks(&mut ty, 100);
        assert_eq!(asks, 1);
        settle(d);
        assert!(entry_free_has_size());
        let before = frees();
        for i in 0..10 {
            assert_eq!(delete(d, k(i)), DICT_OK);
        }
        release(d);
        assert_eq!(frees() - before, 100);

        // The same under libc malloc: every entry asked.
        JEMALLOC.store(false, Ordering::Relaxed);
        let (d, asks) = fill_counting_asks(&mut ty, 100);
        assert_eq!(asks, 100);
        settle(d);
        let before = frees();
        release(d);
        assert_eq!(frees() - before, 100);

        // A first block of another size than the class (as when zmalloc is
        // not the jemalloc the binary links): no promise taken, every entry
        // asked, each still freed fast while all share one size.
        JEMALLOC.store(true, Ordering::Relaxed);
        CLASS_OFF.store(16, Ordering::Relaxed);
        let (d, asks) = fill_counting_asks(&mut ty, 50);
        assert_eq!(asks, 50);
        assert!(entry_free_has_size());
        let before = frees();
        release(d);
        assert_eq!(frees() - before, 50);
        CLASS_OFF.store(0, Ordering::Relaxed);

        // jemalloc linked, but zmalloc's first block not from it (its count
        // did not move): no promise taken either.
        ZMALLOC_ELSEWHERE.store(true, Ordering::Relaxed);
        let (d, asks) = fill_counting_asks(&mut ty, 50);
        assert_eq!(asks, 50);
        release(d);
        ZMALLOC_ELSEWHERE.store(false, Ordering::Relaxed);

        // Defrag under size classes, as without.
        defrag_ends_the_fast_free(&mut ty);
    }
}

#[test]
fn defrag_scan_relinks_moved_entries() {
    let _g = serial();
    // SAFETY: one dict, created and released here; move_alloc returns
    // a fresh entry-sized allocation holding the old entry's bytes.
    unsafe {
        let mut ty = int_type(clustered_hash);
        let d = create(&mut ty);
        let mut model = BTreeMap::new();
        for i in 0..500 {
            add(d, k(i), (i + 7) as *mut c_void);
            model.insert(i, i + 7 + 1_000_000);
        }
        let fns = dictDefragFunctions {
            defragAlloc: Some(move_alloc),
            defragKey: None,
            defragVal: Some(bump_val),
        };
        assert_eq!(defrag_scan_all(d, &fns).len(), 500);
        check(d, &model);
        release(d);
    }
}

#[test]
fn unsafe_iterator_misuse_asserts() {
    let _g = serial();
    let mut ty = int_type(mixed_hash);
    // SAFETY: one dict, released below; the iterator lives in the closure.
    let d = unsafe { create(&mut ty) };
    let result = std::panic::catch_unwind(|| unsafe {
        for i in 0..10 {
            add(d, k(i), null_mut());
        }
        let mut it = core::mem::MaybeUninit::<dictIterator>::uninit();
        init_iterator(it.as_mut_ptr(), d, false);
        next(it.as_mut_ptr());
        add(d, k(100), null_mut());
        reset_iterator(it.as_mut_ptr());
    });
    let msg = result.expect_err("modifying under an unsafe iterator must assert");
    let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("fingerprint"), "{msg}");
    // The assertion fires before the reset changes anything: the dict is
    // intact and is freed like any other (Miri's leak check sees it).
    // SAFETY: d is live and no iterator refers to it any more.
    unsafe {
        assert_eq!(size(d), 11);
        release(d);
    }
}

#[test]
fn sampling_returns_members() {
    let _g = serial();
    // SAFETY: one dict, created and released here.
    unsafe {
        let mut ty = int_type(mixed_hash);
        let d = create(&mut ty);
        assert!(random_key(d).is_null());
        for i in 0..1000 {
            add(d, k(i), null_mut());
        }
        expand(d, 5000);
        assert!(is_rehashing(d));
        let mut des = [null_mut(); 20];
        let n = get_some_keys(d, des.as_mut_ptr(), 20);
        assert!(n > 0 && n <= 20);
        for de in &des[..n as usize] {
            assert!(((*(*de)).key as u64) <= 1000);
        }
        for _ in 0..100 {
            let de = fair_random_key(d);
            assert!(!de.is_null() && ((*de).key as u64) <= 1000);
            let de = random_key(d);
            assert!(!de.is_null() && ((*de).key as u64) <= 1000);
        }
        release(d);
    }
}

unsafe extern "C" fn meta_bytes(_d: *mut dict) -> usize {
    24
}

#[test]
fn metadata_is_zeroed_and_empty_keeps_dict_usable() {
    let _g = serial();
    // SAFETY: one dict with 24 metadata bytes, created and released here.
    unsafe {
        let mut ty = int_type(mixed_hash);
        ty.dictMetadataBytes = Some(meta_bytes);
        let d = create(&mut ty);
        let meta = core::slice::from_raw_parts(core::ptr::addr_of!((*d).metadata).cast::<u8>(), 24);
        assert!(meta.iter().all(|&b| b == 0));
        for i in 0..100 {
            add(d, k(i), null_mut());
        }
        empty(d, None);
        assert_eq!(size(d), 0);
        assert_eq!((*d).ht_size_exp, [-1, -1]);
        assert_eq!(add(d, k(1), null_mut()), DICT_OK);
        assert_eq!(mem_usage(d), 24 + 4 * 8);
        release(d);
    }
}

/// Iterating a dict without buckets (new, or emptied) ends at once, with
/// the cursor where dict.c leaves it (table 0, index 0), a safe iterator's
/// pause of rehashing undone by the reset, and an unsafe one's fingerprint
/// still checked: adding under it asserts as on a non-empty dict.
#[test]
fn iteration_over_a_dict_without_buckets() {
    let _g = serial();
    // SAFETY: one dict, released below; each iterator lives on this frame
    // and is reset before the next one starts.
    unsafe {
        let mut ty = int_type(mixed_hash);
        let d = create(&mut ty);
        for round in 0..2 {
            assert_eq!((*d).ht_size_exp, [-1, -1], "round {round}");
            for safe in [true, false] {
                let mut it = core::mem::MaybeUninit::<dictIterator>::uninit();
                init_iterator(it.as_mut_ptr(), d, safe);
                assert!(next(it.as_mut_ptr()).is_null());
                let (table, index) = ((*it.as_ptr()).table, (*it.as_ptr()).index);
                assert_eq!((table, index), (0, 0), "round {round} safe {safe}");
                assert_eq!((*d).pauserehash, i16::from(safe), "round {round}");
                // Past the end it stays at the end.
                assert!(next(it.as_mut_ptr()).is_null());
                reset_iterator(it.as_mut_ptr());
                assert_eq!((*d).pauserehash, 0);
            }
            for i in 0..50 {
                add(d, k(i), null_mut());
            }
            empty(d, None);
        }
        let dp = d as usize;
        let result = std::panic::catch_unwind(move || {
            let d = dp as *mut dict;
            let mut it = core::mem::MaybeUninit::<dictIterator>::uninit();
            init_iterator(it.as_mut_ptr(), d, false);
            assert!(next(it.as_mut_ptr()).is_null());
            add(d, k(7), null_mut());
            reset_iterator(it.as_mut_ptr());
        });
        let msg = result.expect_err("adding under an unsafe iterator must assert");
        let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains("fingerprint"), "{msg}");
        assert_eq!(size(d), 1);
        release(d);
    }
}

/// Heap iterators through the C ABI. A safe one from `dictGetSafeIterator`
/// is freed by `zfree_with_size` with the usable size `zmalloc_usable` gave
/// (the test host aborts on any other size, and reports more than was asked
/// for, as a size class does); a safe iterator a caller allocated and
/// initialised itself, and an unsafe heap one, go through plain `zfree`
/// (the host aborts if either reaches `zfree_with_size`). Each walks the
/// dict, started or not, and leaves rehashing unpaused.
#[test]
fn heap_iterators_are_freed_the_way_they_were_allocated() {
    use crate::ffi::dict::{
        dictGetIterator, dictGetSafeIterator, dictInitSafeIterator, dictNext, dictReleaseIterator,
    };
    let _g = serial();
    // SAFETY: one dict, released at the end; every iterator is released
    // before the next one is made, and none outlives the dict.
    unsafe {
        let mut ty = int_type(mixed_hash);
        let d = create(&mut ty);
        for i in 0..20 {
            add(d, k(i), null_mut());
        }
        for walk in [0usize, 5, 20] {
            let it = dictGetSafeIterator(d);
            assert!((*it).fingerprint >= size_of::<dictIterator>() as u64);
            let mut seen = 0;
            while seen < walk && !dictNext(it).is_null() {
                seen += 1;
            }
            assert_eq!(seen, walk);
            assert_eq!((*d).pauserehash, i16::from(walk > 0));
            dictReleaseIterator(it);
            assert_eq!((*d).pauserehash, 0);

            let own = host::valkey_malloc(size_of::<dictIterator>()).cast::<dictIterator>();
            // Stale bytes, as reused heap memory has.
            own.cast::<u8>()
                .write_bytes(0xab, size_of::<dictIterator>());
            dictInitSafeIterator(own, d);
            for _ in 0..walk {
                assert!(!dictNext(own).is_null());
            }
            dictReleaseIterator(own);
            assert_eq!((*d).pauserehash, 0);

            let unsafe_it = dictGetIterator(d);
            for _ in 0..walk {
                assert!(!dictNext(unsafe_it).is_null());
            }
            dictReleaseIterator(unsafe_it);
        }
        release(d);
    }
}

/// A dict of `n` keys caught mid-rehash: filled, its growth finished, then
/// expanded to `4 * n` buckets with `steps` buckets moved, so both tables
/// hold entries.
unsafe fn mid_rehash(ty: &mut dictType, n: u64, steps: u64) -> *mut dict {
    let d = create(ty);
    for i in 0..n {
        add(d, k(i), null_mut());
    }
    settle(d);
    expand(d, n * 4);
    rehash(d, steps as c_int);
    assert!(is_rehashing(d), "n {n}: not rehashing");
    d
}

/// Iterators over tables large enough for the look-ahead prefetch (and the
/// small ones without it), started mid-rehash so the walk crosses from
/// table 0 to table 1: every entry exactly once; a safe iterator whose
/// caller deletes every other entry still returns each remaining one once.
#[test]
fn iteration_over_large_tables_across_a_rehash() {
    let _g = serial();
    let sizes: &[u64] = if cfg!(miri) { &[300] } else { &[300, 40_000] };
    for &n in sizes {
        for safe in [false, true] {
            // SAFETY: one dict per round, created and released here; the
            // iterator lives on this frame and is reset before the release.
            unsafe {
                let mut ty = int_type(mixed_hash);
                let d = mid_rehash(&mut ty, n, n / 8);
                let mut it = core::mem::MaybeUninit::<dictIterator>::uninit();
                init_iterator(it.as_mut_ptr(), d, safe);
                let mut seen = BTreeSet::new();
                let mut deleted = BTreeSet::new();
                loop {
                    let de = next(it.as_mut_ptr());
                    if de.is_null() {
                        break;
                    }
                    let key = (*de).key as u64 - 1;
                    assert!(seen.insert(key), "n {n} safe {safe}: {key} returned twice");
                    if safe && key % 2 == 0 {
                        assert_eq!(delete(d, k(key)), DICT_OK);
                        deleted.insert(key);
                    }
                }
                reset_iterator(it.as_mut_ptr());
                assert_eq!(seen.len() as u64, n, "n {n} safe {safe}: entries returned");
                assert_eq!(size(d), n - deleted.len() as u64);
                release(d);
            }
        }
    }
}

static FREED_KEYS: Mutex<Vec<u64>> = Mutex::new(Vec::new());
static EMPTY_CALLBACKS: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn record_freed_key(key: *mut c_void) {
    FREED_KEYS.lock().unwrap().push(key as u64 - 1);
}

unsafe extern "C" fn count_empty_callback(_d: *mut dict) {
    EMPTY_CALLBACKS.fetch_add(1, Ordering::Relaxed);
}

/// `dictRelease` and `dictEmpty` over tables large enough for the clearing
/// walk's look-ahead (and a small one without it), mid-rehash so both tables
/// hold entries: every key reaches the destructor exactly once, in dict.c's
/// order (table 0 then table 1, bucket by bucket, each chain from its head),
/// and `dictEmpty`'s callback runs at dict.c's buckets (every 65536th, up to
/// the last one holding an entry).
#[test]
fn clearing_large_tables_keeps_dict_c_order() {
    let _g = serial();
    let sizes: &[u64] = if cfg!(miri) {
        &[40, 300]
    } else {
        &[40, 300, 100_000]
    };
    for &n in sizes {
        for use_empty in [false, true] {
            // SAFETY: one dict per round, created and released here; the
            // table walk below reads only buckets below each table's size.
            unsafe {
                let mut ty = int_type(mixed_hash);
                ty.keyDestructor = Some(record_freed_key);
                let d = mid_rehash(&mut ty, n, n / 16);
                let mut want = Vec::new();
                let mut want_callbacks = 0;
                for t in 0..2 {
                    let mut last_used = None;
                    for i in 0..ht_size((*d).ht_size_exp[t]) {
                        let mut he = *bucket_at(d, t, i);
                        if !he.is_null() {
                            last_used = Some(i);
                        }
                        while !he.is_null() {
                            want.push((*he).key as u64 - 1);
                            he = (*he).next;
                        }
                    }
                    if let Some(last) = last_used {
                        want_callbacks += last / 65536 + 1;
                    }
                }
                assert_eq!(want.len() as u64, n);
                FREED_KEYS.lock().unwrap().clear();
                EMPTY_CALLBACKS.store(0, Ordering::Relaxed);
                if use_empty {
                    empty(d, Some(count_empty_callback));
                    assert_eq!(size(d), 0);
                    assert_eq!(
                        EMPTY_CALLBACKS.load(Ordering::Relaxed) as u64,
                        want_callbacks,
                        "n {n}: dictEmpty callbacks"
                    );
                }
                // After dictEmpty the release must free nothing more: a key
                // freed twice would lengthen the record.
                release(d);
                let freed = std::mem::take(&mut *FREED_KEYS.lock().unwrap());
                assert!(
                    freed == want,
                    "n {n} empty {use_empty}: keys freed, or their order, differ"
                );
            }
        }
    }
}

unsafe extern "C" fn identity_hash(key: *const c_void) -> u64 {
    key as u64
}

/// Moves a rehash forward one bucket per `dictRehash(d, 1)` to its end,
/// checking the tables every few steps (the check walks both tables), then
/// every key by lookup.
unsafe fn rehash_one_bucket_at_a_time(d: *mut dict, model: &BTreeMap<u64, u64>) {
    let keys: BTreeSet<u64> = model.keys().copied().collect();
    let every = if cfg!(miri) { 16 } else { 1024 };
    let mut steps = 0u64;
    while is_rehashing(d) {
        rehash(d, 1);
        steps += 1;
        if steps % every == 0 {
            assert!(check_tables(d) == keys, "step {steps}: keys differ");
        }
    }
    check(d, model);
}

/// Step-by-step rehashes of tables large enough for the rehash look-ahead
/// (`prefetch_next_rehash`), growing and shrinking, each with table 0's last
/// bucket holding an entry: the last step leaves only that bucket, and the
/// look-ahead must not read past it (Miri checks the reads; its threshold is
/// lower so that a table of 128 buckets reaches the look-ahead). Every entry
/// still ends where dict.c puts it.
#[test]
fn single_step_rehashes_of_large_tables() {
    let _g = serial();
    let s: u64 = if cfg!(miri) { 1 << 7 } else { 1 << 15 };
    // SAFETY: one dict, created and released here; keys are integers.
    unsafe {
        let mut ty = int_type(identity_hash);
        let d = create(&mut ty);
        assert_eq!(expand(d, s), DICT_OK);
        let mut model = BTreeMap::new();
        // Keys 1..=s: with the identity hash every one of the s buckets
        // holds one entry, and s entries do not yet make the table grow.
        for i in 0..s {
            assert_eq!(add(d, k(i), i as *mut c_void), DICT_OK);
            model.insert(i, i);
        }
        assert!(!is_rehashing(d));
        assert_eq!(ht_size((*d).ht_size_exp[0]), s);
        assert!((0..s).all(|b| !(*bucket_at(d, 0, b)).is_null()));

        assert_eq!(expand(d, 2 * s), DICT_OK);
        rehash_one_bucket_at_a_time(d, &model);
        assert_eq!(ht_size((*d).ht_size_exp[0]), 2 * s);

        // Key 2s - 1 lands in the last of the 2s buckets; dropping half the
        // keys lets the table shrink to s buckets.
        assert_eq!(add(d, k(2 * s - 2), null_mut()), DICT_OK);
        model.insert(2 * s - 2, 0);
        for i in 0..s / 2 {
            assert_eq!(delete(d, k(i)), DICT_OK);
            model.remove(&i);
        }
        assert!(!is_rehashing(d));
        assert!(!(*bucket_at(d, 0, 2 * s - 1)).is_null());
        assert_eq!(shrink(d, s), DICT_OK);
        assert!(is_rehashing(d));
        rehash_one_bucket_at_a_time(d, &model);
        assert_eq!(ht_size((*d).ht_size_exp[0]), s);
        release(d);
    }
}
