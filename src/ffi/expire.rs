//! The `extern "C"` face of writable-replica expire tracking: the four
//! functions of Valkey 9.1.2's `expire.o` that `expire.c` compiles out under
//! `USE_RUST_CORE` (`rememberReplicaKeyWithExpire`,
//! `getReplicaKeyWithExpireCount`, `expireReplicaKeys`,
//! `flushReplicaKeysWithExpireList`).
//!
//! The tracker is a Valkey `dict` (sds key copy → `uint64_t` DB bitmap, the
//! dictType of expire.c), created on first use, so its memory is accounted by
//! zmalloc and it can be handed whole to the lazyfree worker. Nobody outside
//! expire.c referenced its `replicaKeysWithExpire` global, so it is private
//! here.
//!
//! # Pointer contract
//! Main thread only, as in expire.c; `db` and `key` are live server objects.
#![allow(non_snake_case)]

use core::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicPtr, Ordering};

use crate::dict::{dict, dictEntry};
use crate::expire::{expire_cycle, remember, ExpireHost, KeyState, ReplicaKeys};
use crate::ffi::lazyfree::{freeReplicaKeysWithExpireAsync, serverDb, serverObject};

/// The accessors of `csrc/valkey_shims.c` used here.
/// cbindgen:ignore
mod server {
    use super::*;
    // dict / dictEntry cross only as opaque pointers; their Rust layout is
    // irrelevant to the accessors, which use Valkey's dict API.
    #[allow(improper_ctypes)]
    extern "C" {
        pub fn vkrs_replica_keys_dict_create() -> *mut dict;
        pub fn vkrs_dict_add_or_find(d: *mut dict, key: *mut c_void) -> *mut dictEntry;
        pub fn vkrs_dict_get_key(de: *const dictEntry) -> *mut c_void;
        pub fn vkrs_dict_set_key(d: *mut dict, de: *mut dictEntry, key: *mut c_void);
        pub fn vkrs_dict_get_u64(de: *const dictEntry) -> u64;
        pub fn vkrs_dict_set_u64(de: *mut dictEntry, v: u64);
        pub fn vkrs_dict_random_key(d: *mut dict) -> *mut dictEntry;
        pub fn vkrs_dict_delete(d: *mut dict, key: *const c_void) -> c_int;
        pub fn vkrs_dict_size(d: *const dict) -> core::ffi::c_ulong;
        pub fn vkrs_dict_release(d: *mut dict);
        pub fn vkrs_sdsdup(s: *const c_void) -> *mut c_void;
        pub fn vkrs_obj_val(o: *const serverObject) -> *mut c_void;
        pub fn vkrs_db_id(db: *const serverDb) -> c_int;
        pub fn vkrs_server_dbnum() -> c_int;
        pub fn vkrs_server_db(id: c_int) -> *mut serverDb;
        pub fn vkrs_kvstore_index_for_key(key: *mut c_void) -> c_int;
        pub fn vkrs_db_find_expire(
            db: *mut serverDb,
            key: *mut c_void,
            didx: c_int,
        ) -> *mut serverObject;
        pub fn vkrs_try_expire(
            db: *mut serverDb,
            val: *mut serverObject,
            now: i64,
            didx: c_int,
        ) -> c_int;
        pub fn vkrs_post_execution_unit_operations();
        pub fn vkrs_mstime() -> i64;
    }
}

/// expire.c's `replicaKeysWithExpire`: NULL until a key is first tracked.
static TRACKER: AtomicPtr<dict> = AtomicPtr::new(core::ptr::null_mut());

/// The tracker dict as a [`ReplicaKeys`] table. Keys are sds strings.
struct DictKeys(*mut dict);

// SAFETY (all methods): self.0 is the live tracker dict and entries come from
// it; the main thread is the only user (module contract).
impl ReplicaKeys for DictKeys {
    type Entry = *mut dictEntry;
    type Key = c_void;
    fn len(&self) -> usize {
        // SAFETY: see the impl.
        unsafe { server::vkrs_dict_size(self.0) as usize }
    }
    fn add_or_find(&mut self, key: &c_void) -> *mut dictEntry {
        let key = key as *const c_void as *mut c_void;
        // SAFETY: see the impl; `key` is the caller's sds, copied before the
        // entry keeps it, as expire.c does (the tracker must not share keys
        // with the keyspace).
        unsafe {
            let de = server::vkrs_dict_add_or_find(self.0, key);
            if server::vkrs_dict_get_key(de) == key {
                server::vkrs_dict_set_key(self.0, de, server::vkrs_sdsdup(key));
                server::vkrs_dict_set_u64(de, 0);
            }
            de
        }
    }
    fn random_entry(&mut self) -> *mut dictEntry {
        // SAFETY: see the impl; only called on a non-empty dict.
        unsafe { server::vkrs_dict_random_key(self.0) }
    }
    fn dbids(&self, e: *mut dictEntry) -> u64 {
        // SAFETY: see the impl.
        unsafe { server::vkrs_dict_get_u64(e) }
    }
    fn set_dbids(&mut self, e: *mut dictEntry, dbids: u64) {
        // SAFETY: see the impl.
        unsafe { server::vkrs_dict_set_u64(e, dbids) }
    }
    fn remove(&mut self, e: *mut dictEntry) {
        // SAFETY: see the impl; deleting by the entry's own key frees it
        // (and the key copy, through the dictType's destructor).
        unsafe {
            let key = server::vkrs_dict_get_key(e);
            server::vkrs_dict_delete(self.0, key);
        }
    }
}

/// The server's databases and clock for [`expire_cycle`].
struct Server;

impl ExpireHost<*mut dictEntry> for Server {
    fn dbnum(&self) -> i32 {
        // SAFETY: reads server.dbnum on the main thread.
        unsafe { server::vkrs_server_dbnum() }
    }
    fn now_ms(&mut self) -> i64 {
        // SAFETY: mstime() has no preconditions.
        unsafe { server::vkrs_mstime() }
    }
    fn check(&mut self, dbid: i32, e: *mut dictEntry, start_ms: i64) -> KeyState {
        // SAFETY: dbid < server.dbnum (checked by expire_cycle); `e` is a live
        // tracker entry whose key is an sds; the calls are expire.c's.
        unsafe {
            let db = server::vkrs_server_db(dbid);
            if db.is_null() {
                return KeyState::Untracked;
            }
            let keyname = server::vkrs_dict_get_key(e);
            let didx = server::vkrs_kvstore_index_for_key(keyname);
            let expire = server::vkrs_db_find_expire(db, keyname, didx);
            if expire.is_null() {
                return KeyState::Untracked;
            }
            if server::vkrs_try_expire(db, expire, start_ms, didx) != 0 {
                // Propagate the DEL (to AOF; a writable replica propagates
                // nothing to its own replicas) and fire module hooks.
                server::vkrs_post_execution_unit_operations();
                KeyState::Expired
            } else {
                KeyState::Alive
            }
        }
    }
}

/// Samples tracked keys and expires those whose TTL has passed (called by
/// `databasesCron()` on replicas).
#[no_mangle]
pub extern "C" fn expireReplicaKeys() {
    let t = TRACKER.load(Ordering::Relaxed);
    if t.is_null() {
        return;
    }
    expire_cycle(&mut DictKeys(t), &mut Server);
}

/// Remembers that `key` was given a TTL in `db` by a client of a writable
/// replica. Keys of DBs above 63 are not tracked.
#[no_mangle]
pub unsafe extern "C" fn rememberReplicaKeyWithExpire(db: *mut serverDb, key: *mut serverObject) {
    let mut t = TRACKER.load(Ordering::Relaxed);
    if t.is_null() {
        t = server::vkrs_replica_keys_dict_create();
        TRACKER.store(t, Ordering::Relaxed);
    }
    let sds = server::vkrs_obj_val(key);
    remember(&mut DictKeys(t), server::vkrs_db_id(db), &*sds);
}

/// INFO `slave_expires_tracked_keys`.
#[no_mangle]
pub extern "C" fn getReplicaKeyWithExpireCount() -> usize {
    let t = TRACKER.load(Ordering::Relaxed);
    if t.is_null() {
        0
    } else {
        // SAFETY: t is the live tracker.
        unsafe { server::vkrs_dict_size(t) as usize }
    }
}

/// Forgets every tracked key (the data was flushed). With `async`, a tracker
/// of more than 64 keys is freed by the lazyfree worker.
#[no_mangle]
#[link_section = ".text.hot.vkrs_flush"] // see `submit` in ffi/lazyfree.rs
pub extern "C" fn flushReplicaKeysWithExpireList(async_: c_int) {
    let t = TRACKER.swap(core::ptr::null_mut(), Ordering::Relaxed);
    if t.is_null() {
        return;
    }
    // SAFETY: t was the tracker; it is detached above, so ownership passes
    // to the free (or to the worker's job) and nothing here touches it again.
    unsafe {
        if async_ != 0 {
            freeReplicaKeysWithExpireAsync(t);
        } else {
            server::vkrs_dict_release(t);
        }
    }
}
