/* valkey-rs-core: inline fast paths of the per-entry dict calls.
 *
 * Hand-written (not generated), committed beside the generated
 * valkey_rs_core.h. Valkey's src/dict.h includes it at its end when built with
 * USE_RUST_CORE (see valkey-patch/); other C callers may include it after
 * either src/dict.h or valkey_rs_core.h.
 *
 * Why: valkey-server is built with -flto, so GCC inlines dict.c's dictNext,
 * dictGetKey and dictGetVal into loops such as PUBLISH's walk over every
 * subscribed pattern. A Rust library cannot be inlined into GCC's LTO, and
 * three calls per entry made that walk 2.7x slower than dict.c's. These
 * inline versions give C callers the same per-entry cost.
 *
 * Contract:
 *  - dictNext/dictGetKey/dictGetVal become function-like macros for the
 *    inline versions; the exported functions stay, so taking their address
 *    or calling them as (dictNext)(it) still works and behaves identically.
 *  - vkrsDictNextInline handles only the two cases that need no decision:
 *    the rest of the current chain, and the next non-empty bucket of the
 *    table being walked. Everything else (the first call, which pauses
 *    rehashing or takes the fingerprint; moving to table 1; the end) is the
 *    library's dictNext, entered with the iterator in the state dict.c would
 *    have left it in. The iterator fields are dict.h's, updated exactly as
 *    dict.c updates them.
 *  - struct dictEntry's layout is the library's (src/dict/types.rs, which
 *    asserts it against VKRS_DICT_ENTRY_* in valkey_rs_core.h; tests/c checks
 *    this file against the same constants). Only the functions below use it.
 */
#ifndef VALKEY_RS_CORE_INLINE_H
#define VALKEY_RS_CORE_INLINE_H

#include <stdint.h>

struct dictEntry {
    void *key;
    union {
        void *val;
        uint64_t u64;
        int64_t s64;
        double d;
    } v;
    struct dictEntry *next;
};

static inline void *vkrsDictGetKeyInline(const dictEntry *de) {
    return de->key;
}

static inline void *vkrsDictGetValInline(const dictEntry *de) {
    return de->v.val;
}

static inline dictEntry *vkrsDictNextInline(dictIterator *iter) {
    dictEntry *de = iter->entry;
    if (de != NULL) { /* started and not at the end */
        de = iter->nextEntry;
        if (de == NULL) {
            /* Next non-empty bucket of the current table. The table is
             * re-read on every call: a safe iterator's caller may have
             * started a resize (rehashing stays paused, tables stay). */
            dict *d = iter->d;
            signed char exp = d->ht_size_exp[iter->table];
            long size = exp == -1 ? 0 : (long)((unsigned long)1 << exp);
            dictEntry **table = d->ht_table[iter->table];
            long index = iter->index;
            while (++index < size) {
                de = table[index];
                if (de != NULL) break;
            }
            if (de == NULL) {
                /* End of this table: the library moves on to table 1 or ends. */
                iter->index = size - 1;
                return dictNext(iter);
            }
            iter->index = index;
        }
        iter->entry = de;
        iter->nextEntry = de->next;
        return de;
    }
    return dictNext(iter);
}

#define dictGetKey(de) vkrsDictGetKeyInline(de)
#define dictGetVal(de) vkrsDictGetValInline(de)
#define dictNext(iter) vkrsDictNextInline(iter)

#endif /* VALKEY_RS_CORE_INLINE_H */
