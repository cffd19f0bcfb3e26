/* include/valkey_rs_core_inline.h against the library, from C11 and (the same
 * file) from C++17:
 *  - compile time: its struct dictEntry has the layout the library pins with
 *    VKRS_DICT_ENTRY_* (src/dict/types.rs asserts the Rust side against the
 *    same constants), so the inline accessors read the library's fields;
 *  - run time: two iterators over the same dict, one advanced by the inline
 *    dictNext and one by the exported function, stay field-for-field equal
 *    after every step, through every state the inline version touches:
 *    chains, empty buckets, the end of table 0 while rehashing (the switch to
 *    table 1), the end, a dict without tables, safe iterators whose caller
 *    deletes entries and adds until a resize starts under the paused rehash.
 *    dictGetKey/dictGetVal agree with the exported functions on every entry.
 */
#include "valkey_rs_core.h"
#include "valkey_rs_core_inline.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef __cplusplus
#define STATIC_ASSERT static_assert
#else
#define STATIC_ASSERT _Static_assert
#endif

STATIC_ASSERT(sizeof(struct dictEntry) == VKRS_DICT_ENTRY_SIZE, "dictEntry size differs from the library's");
STATIC_ASSERT(offsetof(struct dictEntry, key) == VKRS_DICT_ENTRY_KEY_OFFSET, "dictEntry.key offset");
STATIC_ASSERT(offsetof(struct dictEntry, v) == VKRS_DICT_ENTRY_VAL_OFFSET, "dictEntry.v offset");
STATIC_ASSERT(offsetof(struct dictEntry, next) == VKRS_DICT_ENTRY_NEXT_OFFSET, "dictEntry.next offset");

static int failures = 0;
static unsigned long steps = 0;

#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "abi_inline: FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                               \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fputc('\n', stderr);                                                                                       \
            if (++failures > 20) exit(1);                                                                              \
        }                                                                                                              \
    } while (0)

static uint64_t hash_int(const void *key) {
    uint64_t x = (uint64_t)(uintptr_t)key;
    x ^= x >> 31;
    x *= 0x9E3779B97F4A7C15ULL;
    return x ^ (x >> 29);
}
/* Few distinct hashes: long chains. */
static uint64_t hash_clustered(const void *key) {
    return hash_int(key) % 7;
}

static void same_state(const dictIterator *a, const dictIterator *b, const char *what) {
    CHECK(a->d == b->d && a->index == b->index && a->table == b->table && a->safe == b->safe &&
              a->entry == b->entry && a->nextEntry == b->nextEntry,
          "%s: iterators diverged at step %lu (index %ld/%ld, table %d/%d)", what, steps, a->index, b->index, a->table,
          b->table);
}

static void check_entry(dictEntry *de) {
    CHECK(dictGetKey(de) == (dictGetKey)(de), "dictGetKey differs from the exported function");
    CHECK(dictGetVal(de) == (dictGetVal)(de), "dictGetVal differs from the exported function");
}

/* Walks `d` with both iterators in lockstep. `mutate` (safe iterators only)
 * may change the dict after each step, as a caller of a safe iterator may. */
static unsigned long lockstep(dict *d, int safe, void (*mutate)(dict *, dictEntry *, unsigned long),
                              const char *what) {
    dictIterator a, b;
    if (safe) {
        dictInitSafeIterator(&a, d);
        dictInitSafeIterator(&b, d);
    } else {
        dictInitIterator(&a, d);
        dictInitIterator(&b, d);
    }
    unsigned long n = 0;
    for (;;) {
        dictEntry *x = dictNext(&a);   /* inline */
        dictEntry *y = (dictNext)(&b); /* exported */
        steps++;
        CHECK(x == y, "%s: inline returned %p, exported %p at entry %lu", what, (void *)x, (void *)y, n);
        same_state(&a, &b, what);
        if (x == NULL || x != y) break;
        check_entry(x);
        if (mutate) mutate(d, x, n);
        n++;
    }
    /* Past the end both stay at the end. */
    CHECK(dictNext(&a) == NULL && (dictNext)(&b) == NULL, "%s: a finished iterator returned an entry", what);
    same_state(&a, &b, what);
    /* Two safe iterators paused rehashing twice; reset both. */
    dictResetIterator(&a);
    dictResetIterator(&b);
    return n;
}

static void delete_every_third(dict *d, dictEntry *de, unsigned long n) {
    if (n % 3 == 0) dictDelete(d, dictGetKey(de));
}

static uintptr_t next_key = 1000000;
static void add_and_delete(dict *d, dictEntry *de, unsigned long n) {
    if (n % 2 == 0) dictAdd(d, (void *)next_key++, (void *)n);
    if (n % 5 == 0) dictDelete(d, dictGetKey(de));
}

static dict *filled(dictType *t, uintptr_t n) {
    dict *d = dictCreate(t);
    for (uintptr_t k = 1; k <= n; k++) dictAdd(d, (void *)k, (void *)(k * 3));
    return d;
}

int main(void) {
    dictType plain = {hash_int, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    dictType chains = {hash_clustered, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    dictType *types[2] = {&plain, &chains};

    /* A dict without tables, and an emptied one. */
    dict *d = dictCreate(&plain);
    CHECK(lockstep(d, 0, NULL, "no table") == 0, "entries in an empty dict");
    dictAdd(d, (void *)1, NULL);
    dictDelete(d, (void *)1);
    CHECK(lockstep(d, 1, NULL, "emptied") == 0, "entries in an emptied dict");
    dictRelease(d);

    for (int t = 0; t < 2; t++) {
        for (uintptr_t size = 1; size <= 3000; size = size * 3 + 1) {
            /* Settled tables, unsafe and safe. */
            d = filled(types[t], size);
            while ((d->rehashidx != -1)) dictRehash(d, 100);
            CHECK(lockstep(d, 0, NULL, "settled") == size, "settled: wrong count");
            CHECK(lockstep(d, 1, NULL, "settled safe") == size, "settled safe: wrong count");

            /* Mid-rehash: the walk crosses from table 0 to table 1. */
            dictExpand(d, size * 4);
            if ((d->rehashidx != -1)) dictRehash(d, (int)(size / 3 + 1));
            CHECK(lockstep(d, 0, NULL, "mid-rehash") == size, "mid-rehash: wrong count");
            CHECK(lockstep(d, 1, NULL, "mid-rehash safe") == size, "mid-rehash safe: wrong count");

            /* Safe iterators whose caller deletes, and adds until a resize starts. */
            lockstep(d, 1, delete_every_third, "deleting");
            lockstep(d, 1, add_and_delete, "adding and deleting");
            dictRelease(d);
        }
    }
    if (failures) {
        fprintf(stderr, "abi_inline: %d failures\n", failures);
        return 1;
    }
    printf("abi_inline: ok (%lu lockstep steps)\n", steps);
    return 0;
}
