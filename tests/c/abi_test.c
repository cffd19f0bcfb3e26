/* C ABI test of include/valkey_rs_core.h against Valkey 9.1.2's original dict.h.
 *
 * This translation unit sees ONLY the generated header.  The original header's
 * view comes in as constants (abi_orig_values.h, printed by abi_layout_orig.c,
 * which is compiled against the original dict.h) and as prototypes
 * (abi_signatures.h, extracted by run.sh from the original dict.h's API
 * section).  Everything is checked at compile time with _Static_assert:
 *   - sizeof / alignof of dict, dictType, dictIterator, dictDefragFunctions;
 *   - offsetof and sizeof of every field, and every field's type;
 *   - constants and enumerators;
 *   - the type of every exported function (pointer-to-function compatibility).
 * Then main() drives the API from C through this header (linked with the
 * Rust library and Valkey's zmalloc.o & co.) and returns non-zero on failure.
 *
 * Needs GNU C (typeof, __builtin_types_compatible_p): compiled with -std=gnu11.
 */
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "valkey_rs_core.h"

#ifndef ABI_RUNTIME_ONLY /* run.sh builds the runtime part separately, so a type mismatch cannot hide it */
#include "abi_fields.h"
#include "abi_orig_values.h"

/* ------------------------------------------------------------------ layout */

#define A_STRUCT(t)                                                                                                \
    _Static_assert(sizeof(t) == ORIG_SIZEOF_##t, "sizeof(" #t ") differs from dict.h");                          \
    _Static_assert(alignof(t) == ORIG_ALIGNOF_##t, "alignof(" #t ") differs from dict.h");
#define A_FIELD(t, f)                                                                                              \
    _Static_assert(offsetof(t, f) == ORIG_OFFSETOF_##t##_##f, "offsetof(" #t ", " #f ") differs from dict.h");   \
    _Static_assert(sizeof(((t *)0)->f) == ORIG_SIZEOF_##t##_##f, "sizeof(" #t "." #f ") differs from dict.h");
#define A_FAM(t, f)                                                                                                \
    _Static_assert(offsetof(t, f) == ORIG_OFFSETOF_##t##_##f, "offsetof(" #t ", " #f ") differs from dict.h");
ABI_STRUCTS(A_STRUCT, A_FIELD, A_FAM)

/* The enumerators are part of the API (dictSetResizeEnabled's argument). */
#define A_CONST(c) _Static_assert((c) == ORIG_CONST_##c, #c " differs from dict.h");
A_CONST(DICT_RESIZE_ENABLE)
A_CONST(DICT_RESIZE_AVOID)
A_CONST(DICT_RESIZE_FORBID)
_Static_assert(sizeof(dictResizeEnable) == ORIG_SIZEOF_dictResizeEnable, "sizeof(dictResizeEnable) differs");
#ifdef DICT_OK
A_CONST(DICT_OK)
#endif
#ifdef DICT_ERR
A_CONST(DICT_ERR)
#endif
#ifdef DICT_HT_INITIAL_EXP
A_CONST(DICT_HT_INITIAL_EXP)
#endif
#ifdef HASHTABLE_MIN_FILL
A_CONST(HASHTABLE_MIN_FILL)
#endif

/* Field types, as dict.h declares them. */
#define TYPE_IS(expr, ...)                                                                                         \
    _Static_assert(__builtin_types_compatible_p(__typeof__(expr), __VA_ARGS__),                                   \
                   "type of " #expr " is not " #__VA_ARGS__ " as in dict.h");
TYPE_IS(((dict *)0)->type, dictType *)
TYPE_IS(((dict *)0)->ht_table, dictEntry **[2])
TYPE_IS(((dict *)0)->ht_used, unsigned long[2])
TYPE_IS(((dict *)0)->rehashidx, long)
TYPE_IS(((dict *)0)->pauserehash, int16_t)
TYPE_IS(((dict *)0)->ht_size_exp, signed char[2])
TYPE_IS(((dict *)0)->pauseAutoResize, int16_t)
TYPE_IS(((dict *)0)->metadata[0], void *)
TYPE_IS(((dictType *)0)->hashFunction, uint64_t (*)(const void *key))
TYPE_IS(((dictType *)0)->keyDup, void *(*)(const void *key))
TYPE_IS(((dictType *)0)->keyCompare, int (*)(const void *key1, const void *key2))
TYPE_IS(((dictType *)0)->keyDestructor, void (*)(void *key))
TYPE_IS(((dictType *)0)->valDestructor, void (*)(void *obj))
TYPE_IS(((dictType *)0)->resizeAllowed, int (*)(size_t moreMem, double usedRatio))
TYPE_IS(((dictType *)0)->rehashingStarted, void (*)(dict *d))
TYPE_IS(((dictType *)0)->rehashingCompleted, void (*)(dict *d))
TYPE_IS(((dictType *)0)->dictMetadataBytes, size_t (*)(dict *d))
TYPE_IS(((dictIterator *)0)->d, dict *)
TYPE_IS(((dictIterator *)0)->index, long)
TYPE_IS(((dictIterator *)0)->table, int)
TYPE_IS(((dictIterator *)0)->safe, int)
TYPE_IS(((dictIterator *)0)->entry, dictEntry *)
TYPE_IS(((dictIterator *)0)->nextEntry, dictEntry *)
TYPE_IS(((dictIterator *)0)->fingerprint, unsigned long long)
TYPE_IS(((dictDefragFunctions *)0)->defragAlloc, void *(*)(void *ptr))
TYPE_IS(((dictDefragFunctions *)0)->defragKey, void *(*)(void *ptr))
TYPE_IS(((dictDefragFunctions *)0)->defragVal, void *(*)(void *ptr))
/* `struct dict` is the same type as `dict` (callers write both). */
TYPE_IS((struct dict *)0, dict *)

/* --------------------------------------------------------------- signatures */

/* dict.h's function typedefs, under our own names, so the checks do not depend
 * on how the generated header spells them. */
typedef void(abi_dictScanFunction)(void *privdata, const dictEntry *de);
typedef void *(abi_dictDefragAllocFunction)(void *ptr);

#define ABI_SIG(name, ret, args)                                                                                   \
    _Static_assert(__builtin_types_compatible_p(__typeof__(&name), ret(*) args),                                  \
                   "signature of " #name " differs from dict.h: " #ret " " #name #args);
/* Generated from the original dict.h's API section (exported functions only). */
#include "abi_signatures.h"
/* Exported by dict.o but not declared in dict.h: signatures from dict.c. */
ABI_SIG(dictFingerprint, unsigned long long, (dict * d))
ABI_SIG(testOnlyDictGetForceResizeRatio, unsigned int, (void))
ABI_SIG(testOnlyDictNextExp, signed char, (unsigned long size))
ABI_SIG(testOnlyTimeInMilliseconds, long long, (void))
ABI_SIG(timeInMilliseconds, long long, (void))

#endif /* ABI_RUNTIME_ONLY */

/* ------------------------------------------------------------------ runtime */

#include "zmalloc.h" /* Valkey's allocator: zmalloc_used_memory, zmalloc_size, ... */

static int failures;
#define CHECK(cond)                                                                                                \
    do {                                                                                                           \
        if (!(cond)) {                                                                                             \
            fprintf(stderr, "abi_test: FAILED %s:%d: %s\n", __FILE__, __LINE__, #cond);                            \
            failures++;                                                                                            \
        }                                                                                                          \
    } while (0)

static uint64_t hashInt(const void *key) {
    uint64_t x = (uint64_t)(uintptr_t)key;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}
static int started, completed, destroyed;
static void onStart(dict *d) {
    (void)d;
    started++;
}
static void onDone(dict *d) {
    (void)d;
    completed++;
}
static void valDestr(void *v) {
    (void)v;
    destroyed++;
}
static size_t metaBytes(dict *d) {
    (void)d;
    return 16;
}
static unsigned long scanned;
static void scanCb(void *privdata, const dictEntry *de) {
    (void)privdata;
    (void)de;
    scanned++;
}
static void *moveAlloc(void *p) {
    size_t sz = zmalloc_size(p);
    void *n = zmalloc(sz);
    memcpy(n, p, sz);
    zfree(p);
    return n;
}

int main(void) {
    size_t mem0 = zmalloc_used_memory();
    dictType t;
    memset(&t, 0, sizeof(t));
    t.hashFunction = hashInt;
    t.valDestructor = valDestr;
    t.rehashingStarted = onStart;
    t.rehashingCompleted = onDone;
    t.dictMetadataBytes = metaBytes;

    dict *d = dictCreate(&t);
    CHECK(d != NULL);
    CHECK(d->type == &t);
    CHECK(d->rehashidx == -1 && d->ht_used[0] == 0 && d->ht_used[1] == 0);
    CHECK(d->ht_size_exp[0] == -1 && d->ht_size_exp[1] == -1 && d->ht_table[0] == NULL);
    CHECK(d->pauserehash == 0 && d->pauseAutoResize == 0);
    {
        const unsigned char *m = (const unsigned char *)d->metadata;
        int zero = 1;
        for (int i = 0; i < 16; i++) zero &= m[i] == 0;
        CHECK(zero);
    }

    const unsigned long N = 5000;
    for (unsigned long k = 1; k <= N; k++) CHECK(dictAdd(d, (void *)k, (void *)(k * 2)) == 0);
    CHECK(dictAdd(d, (void *)1, (void *)1) == 1);
    CHECK(d->ht_used[0] + d->ht_used[1] == N);
    CHECK(started > 1 && completed >= 1);
    for (unsigned long k = 1; k <= N; k++) CHECK(dictFetchValue(d, (void *)k) == (void *)(k * 2));
    CHECK(dictFind(d, (void *)(N + 1)) == NULL);

    /* Stack iterators, as Valkey uses them. */
    dictIterator it;
    dictInitSafeIterator(&it, d);
    unsigned long n = 0;
    dictEntry *de;
    while ((de = dictNext(&it)) != NULL) {
        if (n == 0) CHECK(d->pauserehash == 1);
        n++;
    }
    dictResetIterator(&it);
    CHECK(n == N && d->pauserehash == 0);
    dictInitIterator(&it, d);
    n = 0;
    while ((de = dictNext(&it)) != NULL) n++;
    dictResetIterator(&it);
    CHECK(n == N);

    /* Scans, with defrag callbacks that move the entries. */
    dictDefragFunctions df;
    memset(&df, 0, sizeof(df));
    df.defragAlloc = moveAlloc;
    unsigned long cursor = 0;
    scanned = 0;
    do cursor = dictScanDefrag(d, cursor, scanCb, &df, NULL);
    while (cursor);
    CHECK(scanned >= N);
    scanned = 0;
    do cursor = dictScan(d, cursor, scanCb, NULL);
    while (cursor);
    CHECK(scanned >= N);
    for (unsigned long k = 1; k <= N; k++) CHECK(dictFetchValue(d, (void *)k) == (void *)(k * 2));

    /* Integer values, random keys, delete. */
    de = dictFind(d, (void *)7);
    CHECK(de != NULL);
    dictSetSignedIntegerVal(de, 41);
    CHECK(dictIncrSignedIntegerVal(de, 1) == 42);
    dictSetVal(d, de, (void *)14);
    CHECK(dictGetRandomKey(d) != NULL && dictGetFairRandomKey(d) != NULL);
    dictEntry *some[10];
    CHECK(dictGetSomeKeys(d, some, 10) == 10);
    for (unsigned long k = 1; k <= N; k += 2) CHECK(dictDelete(d, (void *)k) == 0);
    CHECK(d->ht_used[0] + d->ht_used[1] == N / 2);
    CHECK(destroyed == (int)(N / 2));
    CHECK(dictMemUsage(d) > 0 && dictEntryMemUsage(NULL) > 0);

    dictEmpty(d, NULL);
    CHECK(d->ht_used[0] + d->ht_used[1] == 0 && d->rehashidx == -1);
    dictRelease(d);
    CHECK(zmalloc_used_memory() == mem0);

    /* Globals. */
    dictSetResizeEnabled(DICT_RESIZE_AVOID);
    dictSetResizeEnabled(DICT_RESIZE_ENABLE);
    CHECK(testOnlyDictGetForceResizeRatio() == 4);
    CHECK(testOnlyDictNextExp(5) == 3);

    if (failures) {
        fprintf(stderr, "abi_test: %d check(s) failed\n", failures);
        return 1;
    }
    printf("abi_test: all runtime checks passed\n");
    return 0;
}
