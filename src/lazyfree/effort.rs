//! The free-effort heuristic of `lazyfreeGetFreeEffort()` (lazyfree.c).
//!
//! The heuristic only needs a handful of numbers out of a Valkey object; they
//! are read through [`EffortSource`], so the decision logic here is plain Rust
//! and unit-tested against a model, while `ffi::lazyfree` implements the trait
//! with one-line C accessors on a real `robj`.

/// Valkey's object types (`OBJ_*` in server.h). `csrc/valkey_shims.c`
/// static-asserts these values against the headers it is compiled with.
/// cbindgen:ignore
pub mod obj_type {
    pub const STRING: i32 = 0;
    pub const LIST: i32 = 1;
    pub const SET: i32 = 2;
    pub const ZSET: i32 = 3;
    pub const HASH: i32 = 4;
    pub const MODULE: i32 = 5;
    pub const STREAM: i32 = 6;
}

/// Valkey's object encodings used by the heuristic (`OBJ_ENCODING_*`).
/// cbindgen:ignore
pub mod obj_encoding {
    pub const HASHTABLE: i32 = 2;
    pub const SKIPLIST: i32 = 7;
    pub const QUICKLIST: i32 = 9;
}

/// Objects whose free effort is above this are freed by the lazyfree worker
/// (`LAZYFREE_THRESHOLD` in lazyfree.c); at or below it, freeing in place is
/// cheaper than handing the object over.
/// cbindgen:ignore
pub const LAZYFREE_THRESHOLD: usize = 64;

/// What the heuristic reads from an object. Only the methods matching the
/// object's type and encoding are called, exactly as lazyfree.c dereferences
/// only the matching representation.
pub trait EffortSource {
    fn obj_type(&self) -> i32;
    fn encoding(&self) -> i32;
    /// `quicklist->len` (number of quicklist nodes) of a quicklist list.
    fn quicklist_len(&self) -> usize;
    /// `hashtableSize()` of a hashtable-encoded set or hash.
    fn hashtable_size(&self) -> usize;
    /// `zslGetLength()` of a skiplist-encoded zset.
    fn zset_len(&self) -> usize;
    /// `s->rax->numnodes` of a stream.
    fn stream_rax_nodes(&self) -> usize;
    /// Number of consumer groups of a stream (0 without a `cgroups` rax).
    fn stream_groups(&self) -> usize;
    /// PEL size of the stream's first consumer group; only called when
    /// [`EffortSource::stream_groups`] is non-zero.
    fn stream_first_group_pel(&self) -> usize;
    /// The module type's `free_effort` callback result.
    fn module_free_effort(&self) -> usize;
}

/// `lazyfreeGetFreeEffort()`: a number proportional to the allocations
/// freeing the object takes. Strings and compact encodings are 1.
pub fn free_effort<S: EffortSource + ?Sized>(o: &S) -> usize {
    use obj_encoding as enc;
    use obj_type as ty;
    match (o.obj_type(), o.encoding()) {
        (ty::LIST, enc::QUICKLIST) => o.quicklist_len(),
        (ty::SET, enc::HASHTABLE) | (ty::HASH, enc::HASHTABLE) => o.hashtable_size(),
        (ty::ZSET, enc::SKIPLIST) => o.zset_len(),
        (ty::STREAM, _) => {
            // Every macro node is one allocation; every consumer group and
            // PEL entry another, estimated from the first group's PEL.
            let mut effort = o.stream_rax_nodes();
            let groups = o.stream_groups();
            if groups != 0 {
                effort = effort.wrapping_add(
                    groups.wrapping_mul(1usize.wrapping_add(o.stream_first_group_pel())),
                );
            }
            effort
        }
        (ty::MODULE, _) => match o.module_free_effort() {
            // A module returning 0 asks for asynchronous freeing always.
            0 => usize::MAX,
            e => e,
        },
        _ => 1,
    }
}

/// `freeObjAsync()`'s decision: only objects above the threshold that nobody
/// else references (`refcount == 1`) are handed to the worker.
#[inline]
pub fn should_free_async(effort: usize, refcount: u32) -> bool {
    effort > LAZYFREE_THRESHOLD && refcount == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Model {
        ty: i32,
        enc: i32,
        n: usize,
        groups: usize,
        pel: usize,
    }
    impl EffortSource for Model {
        fn obj_type(&self) -> i32 {
            self.ty
        }
        fn encoding(&self) -> i32 {
            self.enc
        }
        fn quicklist_len(&self) -> usize {
            assert_eq!(
                (self.ty, self.enc),
                (obj_type::LIST, obj_encoding::QUICKLIST)
            );
            self.n
        }
        fn hashtable_size(&self) -> usize {
            assert_eq!(self.enc, obj_encoding::HASHTABLE);
            self.n
        }
        fn zset_len(&self) -> usize {
            assert_eq!(self.enc, obj_encoding::SKIPLIST);
            self.n
        }
        fn stream_rax_nodes(&self) -> usize {
            assert_eq!(self.ty, obj_type::STREAM);
            self.n
        }
        fn stream_groups(&self) -> usize {
            self.groups
        }
        fn stream_first_group_pel(&self) -> usize {
            assert!(self.groups > 0, "PEL read without groups");
            self.pel
        }
        fn module_free_effort(&self) -> usize {
            assert_eq!(self.ty, obj_type::MODULE);
            self.n
        }
    }

    fn m(ty: i32, enc: i32, n: usize) -> Model {
        Model {
            ty,
            enc,
            n,
            ..Default::default()
        }
    }

    #[test]
    fn per_type_and_encoding() {
        assert_eq!(free_effort(&m(obj_type::STRING, 0, 999)), 1);
        assert_eq!(
            free_effort(&m(obj_type::LIST, obj_encoding::QUICKLIST, 70)),
            70
        );
        assert_eq!(free_effort(&m(obj_type::LIST, 11, 70)), 1); // listpack
        assert_eq!(
            free_effort(&m(obj_type::SET, obj_encoding::HASHTABLE, 100)),
            100
        );
        assert_eq!(free_effort(&m(obj_type::SET, 6, 100)), 1); // intset
        assert_eq!(
            free_effort(&m(obj_type::HASH, obj_encoding::HASHTABLE, 65)),
            65
        );
        assert_eq!(free_effort(&m(obj_type::HASH, 11, 65)), 1);
        assert_eq!(
            free_effort(&m(obj_type::ZSET, obj_encoding::SKIPLIST, 500)),
            500
        );
        assert_eq!(free_effort(&m(obj_type::ZSET, 11, 500)), 1);
    }

    #[test]
    fn streams_count_nodes_groups_and_first_pel() {
        let mut s = m(obj_type::STREAM, 0, 10);
        assert_eq!(free_effort(&s), 10);
        s.groups = 3;
        s.pel = 20;
        assert_eq!(free_effort(&s), 10 + 3 * 21);
    }

    #[test]
    fn module_zero_means_always_async() {
        assert_eq!(free_effort(&m(obj_type::MODULE, 0, 0)), usize::MAX);
        assert_eq!(free_effort(&m(obj_type::MODULE, 0, 5)), 5);
        assert!(should_free_async(usize::MAX, 1));
        assert!(!should_free_async(5, 1));
    }

    #[test]
    fn threshold_and_refcount() {
        assert!(!should_free_async(64, 1));
        assert!(should_free_async(65, 1));
        assert!(!should_free_async(65, 2));
        assert!(!should_free_async(1000, 0x7fff_ffff)); // OBJ_SHARED_REFCOUNT
    }
}
