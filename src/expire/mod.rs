//! Writable-replica expire tracking (the replica part of Valkey's `expire.c`).
//!
//! A writable replica does not expire keys itself: its primary sends DELs.
//! Keys written *directly* on the replica with a TTL would never get one, so
//! the replica remembers them (name → bitmap of the DB ids holding a key of
//! that name) and samples them from `databasesCron()`.
//!
//! The algorithms here are generic over [`ReplicaKeys`] (the table) and
//! [`ExpireHost`] (the databases and the clock) so they can be tested against
//! a model; `crate::ffi::expire` binds them to a Valkey `dict` and server.

/// DB ids above this are not tracked (one bit per DB in a `u64`).
/// cbindgen:ignore
pub const MAX_TRACKED_DB_ID: i32 = 63;

/// The tracking table: key name → DB bitmap.
pub trait ReplicaKeys {
    type Entry: Copy;
    type Key: ?Sized;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Finds the entry for `key` or inserts one with a bitmap of 0.
    fn add_or_find(&mut self, key: &Self::Key) -> Self::Entry;
    /// A uniformly random entry; only called on a non-empty table.
    fn random_entry(&mut self) -> Self::Entry;
    fn dbids(&self, e: Self::Entry) -> u64;
    fn set_dbids(&mut self, e: Self::Entry, dbids: u64);
    /// Removes `e` (and frees its key copy).
    fn remove(&mut self, e: Self::Entry);
}

/// What a sampled key turned out to be in one database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    /// No such DB, or no key with a TTL under that name: stop tracking it there.
    Untracked,
    /// The key's TTL had passed: it was deleted (and the DEL propagated).
    Expired,
    /// The key has a TTL in the future: keep tracking it.
    Alive,
}

/// The server side of the expire cycle.
pub trait ExpireHost<E> {
    /// `server.dbnum`.
    fn dbnum(&self) -> i32;
    /// `mstime()`.
    fn now_ms(&mut self) -> i64;
    /// Looks the key of entry `e` up in DB `dbid` and expires it if its TTL
    /// is past `start_ms` (`activeExpireCycleTryExpire` +
    /// `postExecutionUnitOperations` on success).
    fn check(&mut self, dbid: i32, e: E, start_ms: i64) -> KeyState;
}

/// `rememberReplicaKeyWithExpire()` once the table exists: sets the bit of
/// `db_id`. Returns false (and tracks nothing) for DB ids above 63.
pub fn remember<T: ReplicaKeys>(keys: &mut T, db_id: i32, key: &T::Key) -> bool {
    if !(0..=MAX_TRACKED_DB_ID).contains(&db_id) {
        return false;
    }
    let e = keys.add_or_find(key);
    let dbids = keys.dbids(e) | (1u64 << db_id);
    keys.set_dbids(e, dbids);
    true
}

/// `expireReplicaKeys()`: samples random tracked keys, expiring the ones
/// whose TTL passed and forgetting the ones no DB holds with a TTL any more.
/// Stops after more than 3 still-alive key/DB pairs, when the table empties,
/// or, checked every 64 samples, after more than 1 ms.
pub fn expire_cycle<T, H>(keys: &mut T, host: &mut H)
where
    T: ReplicaKeys,
    H: ExpireHost<T::Entry>,
{
    if keys.is_empty() {
        return;
    }
    let mut cycles: u64 = 0;
    let mut noexpire = 0;
    let start = host.now_ms();
    loop {
        let e = keys.random_entry();
        let mut dbids = keys.dbids(e);
        let mut new_dbids = 0u64;
        let mut dbid = 0;
        while dbids != 0 && dbid < host.dbnum() {
            if dbids & 1 != 0 && host.check(dbid, e, start) == KeyState::Alive {
                noexpire += 1;
                new_dbids |= 1u64 << dbid;
            }
            dbid += 1;
            dbids >>= 1;
        }
        if new_dbids != 0 {
            keys.set_dbids(e, new_dbids);
        } else {
            keys.remove(e);
        }
        cycles += 1;
        if noexpire > 3 {
            break;
        }
        if cycles % 64 == 0 && host.now_ms() - start > 1 {
            break;
        }
        if keys.is_empty() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Model table: stable slots (an entry is its slot index, like a
    /// dictEntry pointer), "random" = rotating pick for determinism.
    #[derive(Default)]
    struct Table {
        slots: Vec<Option<(String, u64)>>,
        pick: usize,
        picks: usize,
    }
    impl Table {
        fn get(&self, k: &str) -> Option<u64> {
            self.slots
                .iter()
                .flatten()
                .find(|(n, _)| n == k)
                .map(|(_, v)| *v)
        }
        fn names(&self) -> Vec<String> {
            self.slots
                .iter()
                .map(|s| s.as_ref().map(|(n, _)| n.clone()).unwrap_or_default())
                .collect()
        }
        fn live(&self) -> Vec<String> {
            self.slots
                .iter()
                .flatten()
                .map(|(n, _)| n.clone())
                .collect()
        }
    }
    impl ReplicaKeys for Table {
        type Entry = usize;
        type Key = str;
        fn len(&self) -> usize {
            self.slots.iter().flatten().count()
        }
        fn add_or_find(&mut self, key: &str) -> usize {
            if let Some(i) = self
                .slots
                .iter()
                .position(|s| s.as_ref().is_some_and(|(n, _)| n == key))
            {
                return i;
            }
            self.slots.push(Some((key.to_owned(), 0)));
            self.slots.len() - 1
        }
        fn random_entry(&mut self) -> usize {
            self.picks += 1;
            loop {
                self.pick = (self.pick + 1) % self.slots.len();
                if self.slots[self.pick].is_some() {
                    return self.pick;
                }
            }
        }
        fn dbids(&self, e: usize) -> u64 {
            self.slots[e].as_ref().unwrap().1
        }
        fn set_dbids(&mut self, e: usize, v: u64) {
            self.slots[e].as_mut().unwrap().1 = v;
        }
        fn remove(&mut self, e: usize) {
            assert!(self.slots[e].take().is_some());
        }
    }

    /// Model server: per (db, key) expire time; keys owned by name.
    struct Host<'a> {
        dbnum: i32,
        now: i64,
        tick: i64,
        ttl: BTreeMap<(i32, String), i64>,
        names: &'a dyn Fn(usize) -> String,
        expired: Vec<(i32, String)>,
    }
    impl ExpireHost<usize> for Host<'_> {
        fn dbnum(&self) -> i32 {
            self.dbnum
        }
        fn now_ms(&mut self) -> i64 {
            self.now += self.tick;
            self.now
        }
        fn check(&mut self, dbid: i32, e: usize, start: i64) -> KeyState {
            let k = (dbid, (self.names)(e));
            match self.ttl.get(&k) {
                None => KeyState::Untracked,
                Some(&t) if t < start => {
                    self.ttl.remove(&k);
                    self.expired.push(k);
                    KeyState::Expired
                }
                Some(_) => KeyState::Alive,
            }
        }
    }

    #[test]
    fn remember_sets_bits_and_skips_high_dbs() {
        let mut t = Table::default();
        assert!(remember(&mut t, 0, "a"));
        assert!(remember(&mut t, 5, "a"));
        assert!(remember(&mut t, 63, "b"));
        assert!(!remember(&mut t, 64, "c"));
        assert!(!remember(&mut t, 200, "c"));
        assert_eq!(t.get("a"), Some(1 | 1 << 5));
        assert_eq!(t.get("b"), Some(1 << 63));
        assert_eq!(t.len(), 2);
        assert_eq!(t.slots.len(), 2);
    }

    #[test]
    fn cycle_expires_forgets_and_keeps() {
        let mut t = Table::default();
        for (db, k) in [
            (0, "dead"),
            (1, "dead"),
            (0, "live"),
            (2, "gone"),
            (9, "beyond"),
        ] {
            remember(&mut t, db, k);
        }
        let snapshot = t.names();
        let names = |e: usize| snapshot[e].clone();
        let mut ttl = BTreeMap::new();
        ttl.insert((0, "dead".to_string()), 5);
        ttl.insert((1, "dead".to_string()), 5);
        ttl.insert((0, "live".to_string()), 1_000_000);
        ttl.insert((9, "beyond".to_string()), 5);
        let mut h = Host {
            dbnum: 4,
            now: 100,
            tick: 0,
            ttl,
            names: &names,
            expired: vec![],
        };
        // The pick walks the table; a cycle stops once it sees more than 3
        // alive keys, so a few cycles leave only the live key.
        for _ in 0..10 {
            expire_cycle(&mut t, &mut h);
        }
        assert_eq!(t.live(), ["live"]);
        assert_eq!(t.get("live"), Some(1));
        assert!(h.expired.contains(&(0, "dead".into())) && h.expired.contains(&(1, "dead".into())));
        // DB 9 is beyond dbnum=4: never looked at, the key is just forgotten.
        assert!(!h.expired.iter().any(|(d, _)| *d == 9));
    }

    #[test]
    fn cycle_stops_after_more_than_three_alive() {
        let mut t = Table::default();
        for i in 0..100 {
            remember(&mut t, 0, &format!("k{i:03}"));
        }
        let snapshot = t.names();
        let names = |e: usize| snapshot[e].clone();
        let ttl = snapshot
            .iter()
            .map(|k| ((0, k.clone()), i64::MAX))
            .collect();
        let mut h = Host {
            dbnum: 16,
            now: 0,
            tick: 0,
            ttl,
            names: &names,
            expired: vec![],
        };
        expire_cycle(&mut t, &mut h);
        assert_eq!(t.picks, 4, "4 alive samples, then stop");
        assert_eq!(t.len(), 100);
    }

    #[test]
    fn cycle_stops_on_time_every_64_samples() {
        let mut t = Table::default();
        for i in 0..1000 {
            remember(&mut t, 3, &format!("k{i:04}"));
        }
        // No DB holds them: every sample removes one. The clock advances 2 ms
        // per reading, so the first time check (after 64 samples) stops it.
        let names = |_e: usize| String::new();
        let mut h = Host {
            dbnum: 16,
            now: 0,
            tick: 2,
            ttl: BTreeMap::new(),
            names: &names,
            expired: vec![],
        };
        expire_cycle(&mut t, &mut h);
        assert_eq!(t.len(), 1000 - 64);
        // A frozen clock empties the table.
        h.tick = 0;
        expire_cycle(&mut t, &mut h);
        assert!(t.is_empty());
        // Empty table: nothing to do, no clock read.
        let now = h.now;
        h.tick = 1;
        expire_cycle(&mut t, &mut h);
        assert_eq!(h.now, now);
    }
}
