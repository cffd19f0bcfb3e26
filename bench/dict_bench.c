/* dict microbenchmark: Valkey's dict.o vs libvalkey_rs_core.a.
 *
 * Compiled ONCE against Valkey 9.1.2's original src/dict.h and linked twice
 * (bench/build-dict-bench.sh): with Valkey's dict.o and with the Rust library,
 * each time surrounded only by Valkey's zmalloc.o siphash.o mt19937-64.o
 * monotonic.o util.o serverassert.o sds.o and jemalloc.  Both binaries do exactly the
 * same work (same keys, same shuffled orders, same PRNG seeds), so a phase's
 * time is directly comparable.
 *
 *   dict_bench [-n ENTRIES] [-s SMALL_OPS] [-p PHASE_SUBSTRING] [-l IN_FD,OUT_FD,FIRST]
 *
 * -l runs in lockstep with a peer process (bench.py starts the C and the Rust
 * binary together on one CPU, joined by two pipes): inside every timed phase the
 * two take turns, in slices of LOCKSTEP_SLICE_US of CPU time or, in the loops over
 * the big dicts, of a number of operations, so both measure the same phase under
 * the same machine conditions (see "Lockstep" below).
 *
 * Prints one line per measurement: "<phase>\t<value>\t<unit>\t<ops>".
 *   ns/op    CPU nanoseconds of this thread per operation (lower is better)
 *   B/entry  zmalloc used_memory growth per entry (dict tables + entries only)
 *
 * Phases, for integer keys (pointer-sized, cheap mix hash, pointer equality:
 * the dict's own overhead) and string keys (SipHash via dictGenHashFunction,
 * strcmp compare), at ENTRIES entries (default 1,000,000):
 *   add        dictAdd into a fresh dict (includes every expand + incremental rehash)
 *   find-hit   dictFind of every key, shuffled order (rehash finished first)
 *   find-miss  dictFind of ENTRIES absent keys
 *   find-linear (strings only) dictFind of every key in insertion order, each through a
 *              fresh zmalloc'd copy freed after the lookup: the loop of the gtest's
 *              "Linear access of existing elements", here with the placements rotated
 *   random     dictGetRandomKey
 *   iterate    unsafe iterator on the stack (dictInitIterator / dictNext / dictResetIterator), per entry
 *   iter-safe  dictGetSafeIterator / dictNext / dictReleaseIterator, per entry
 *   scan       dictScan from cursor 0 back to 0, per entry
 *   delete     dictDelete of every key, shuffled order (includes shrinks)
 *   release    dictRelease of a full dict of ENTRIES keys, per entry; the string dict owns
 *              sds copies of its keys and frees them with sdsfree, as FLUSHALL frees a
 *              writable replica's expire tracker (and the lazyfree worker, after FLUSHALL
 *              ASYNC); keys copied in key order, so the bucket walk meets them at random
 *              addresses
 * Small dicts (16 entries, as pub/sub channel -> clients and client -> channels
 * tables mostly are), SMALL_OPS operations each (default 2,000,000):
 *   small-lifecycle  dictCreate + 16 dictAdd + dictRelease, per dict
 *   small-find-hit   dictFind across 1024 dicts of 16 entries
 *   small-find-miss  dictFind of absent keys across the same dicts
 *   small-iterate    safe iterator over a 16-entry dict, per dict
 *   small-add-del    dictAdd + dictDelete of a 16th key in a 15-entry dict, per pair
 * And PUBLISH's pattern walk:
 *   patterns-walk    dictGetIterator + dictNext/dictGetKey/dictGetVal over a 2000-entry
 *                    string dict + dictReleaseIterator, per entry
 * And walks that find nothing, over a dict that never had an entry (FLUSHALL's over each
 * DB's blocking_keys, PUBLISH's over server.pubsub_patterns when no client has a pattern):
 *   empty-iterate    unsafe iterator on the stack: dictInitIterator / dictNext /
 *                    dictResetIterator, per walk
 *   empty-iter-safe  dictGetSafeIterator / dictNext / dictReleaseIterator, per walk
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "dict.h" /* Valkey 9.1.2's ORIGINAL header */
#include "zmalloc.h"
#include "sds.h"
#include "mt19937-64.h"
#include "monotonic.h"

/* ------------------------------------------------------------------ helpers */

/* Thread CPU time, not wall time: on a shared machine the benchmark is often
 * descheduled, and that time must not count against whichever dict was running. */
static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t xs_state = 0x9e3779b97f4a7c15ull;
static uint64_t xs_next(void) { /* xorshift64*: our own PRNG, never touches random() */
    xs_state ^= xs_state >> 12;
    xs_state ^= xs_state << 25;
    xs_state ^= xs_state >> 27;
    return xs_state * 0x2545f4914f6cdd1dull;
}

static void shuffle(uint32_t *a, size_t n) {
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = xs_next() % (i + 1);
        uint32_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

static const char *filter = NULL;
static int want(const char *phase) {
    return filter == NULL || strstr(phase, filter) != NULL;
}

static void report(const char *phase, double value, const char *unit, uint64_t ops) {
    printf("%s\t%.3f\t%s\t%" PRIu64 "\n", phase, value, unit, ops);
    fflush(stdout);
}

static void report_ns(const char *phase, uint64_t elapsed_ns, uint64_t ops) {
    report(phase, (double)elapsed_ns / (double)ops, "ns/op", ops);
}

/* Under valgrind --tool=callgrind (bench/profile.sh), each timed phase is
 * dumped on its own: zero the counters at the start, dump at the end with the
 * phase name, so instruction counts per phase are exact and repeatable. Outside
 * valgrind these client requests are a handful of no-op instructions, and they
 * sit outside the timed loops. */
#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define HAVE_CALLGRIND 1
#endif
#endif

/* Lockstep. On a shared 2-vCPU machine the same loop runs up to 1.6x slower for
 * stretches of a fraction of a second to seconds (whatever else the host runs
 * beside our CPU), so two builds timed one after the other, seconds apart, often
 * meet different conditions: that, not the dicts, made most of the rows' +-10-70 %
 * spread. With -l the two builds' processes share one CPU and hand it to each
 * other every LOCKSTEP_SLICE_US of CPU time (rounded up to the kernel's tick; the
 * environment's VALKEY_BENCH_SLICE_US overrides it) inside each timed phase, so both
 * sample the same stretches of time. The handover runs in a SIGPROF handler (no
 * change to the timed loops); the CPU time it takes is left out of the phase's
 * time (lockstep_excluded), the kernel's signal delivery (a few microseconds per
 * slice, the same in both builds) is not. The loops over the big dicts hand over
 * after a number of operations instead (see op_turn()). Outside the phases both run
 * freely.
 *
 * The protocol and the handler are bench/lockstep.h's (shared with the gtest
 * section's bench/lockstep_preload.c); a segment here is one timed phase, or the
 * release phase's build. */
#define LOCKSTEP_NAME "dict_bench"
#include "lockstep.h"

static uint64_t lockstep_clock_ns(void) { return now_ns(); }

static void lockstep_init(const char *arg) {
    if (!lock_setup(arg)) {
        fprintf(stderr, "dict_bench: -l wants IN_FD,OUT_FD,FIRST\n");
        exit(2);
    }
}

/* Turns by operations, for the loops over the big dicts. Where one build runs a phase faster,
 * turns of CPU time let it finish first, and the other finishes the phase alone; how far
 * each process had got, and which pages each had faulted in meanwhile, then moved the
 * phases after it. str-find-linear ran 2-4 % slower in whichever process had built its
 * dict or run the lookups before it faster, a C binary whose adds were slowed by a spin
 * included, and its peer as much faster (bench/README.md, "Turns by operations"). So these
 * loops call op_turn() after each operation and hand over every so many operations: both
 * processes go through the phase at one rhythm, whatever each build's speed, and each
 * side's time is still its own CPU time. The counts make a turn about one slice at the C
 * build's pace here (1-5 ms; with BENCH_QUICK's 100,000 entries the iterate loops run in one
 * turn). The release phase (one dictRelease call) and the small-dict phases, which stay in
 * cache, keep the timer. */
#define TURN_OPS 16384        /* add, find, random, delete: 100-300 ns per operation */
#define TURN_OPS_SCAN 50000   /* scan: ~85 ns per bucket step */
#define TURN_OPS_WALK 200000  /* iterate, iter-safe: ~20 ns per entry */
static long turn_ops, turn_left;

static inline void op_turn(void) {
    if (turn_ops != 0 && --turn_left == 0) {
        turn_left = turn_ops;
        lock_slice_end(0);
    }
}

/* Meets the peer at a segment's start. ops_per_turn 0: turns of lock_slice_us CPU time (the
 * SIGPROF timer); otherwise the loop calls op_turn() after each operation. */
static void segment_start_turns(long ops_per_turn) {
    if (lock_in < 0) return;
    lock_segment_start();
    lockstep_excluded = 0; /* a phase's clock starts after this */
    if (ops_per_turn != 0) {
        turn_ops = turn_left = ops_per_turn;
    } else {
        lock_timer(lock_slice_us);
    }
}

static void phase_start_turns(long ops_per_turn) {
    segment_start_turns(ops_per_turn);
#ifdef HAVE_CALLGRIND
    CALLGRIND_ZERO_STATS;
#endif
}
#define PHASE_START() phase_start_turns(0)
#define PHASE_START_OPS(ops) phase_start_turns(ops)

/* An untimed build (the release phase's full dict) in turns by inserts, for the same reason:
 * its pages are freed by the release and reused by the dicts after it. */
static void untimed_build_start(void) { segment_start_turns(TURN_OPS); }

static void untimed_build_end(void) {
    if (lock_in >= 0) {
        turn_ops = 0;
        lock_segment_end();
    }
}

static uint64_t phase_stop(const char *phase, uint64_t t0) {
    turn_ops = 0;
    if (lock_in >= 0) lock_timer(0); /* before the clock: no handover after it is read */
    uint64_t elapsed = now_ns() - t0 - lockstep_excluded;
    if (lock_in >= 0) lock_segment_end();
#ifdef HAVE_CALLGRIND
    CALLGRIND_DUMP_STATS_AT(phase);
#else
    (void)phase;
#endif
    return elapsed;
}

/* Keeps results alive so the compiler cannot drop a loop. */
static volatile uintptr_t sink;

/* Code placement (bench/build-dict-bench.sh builds variants with BENCH_PAD = 16, 32, 48):
 * never-executed bytes ahead of main in .text.startup, which the linker places before
 * .text, so each variant moves main (the timed loops) and every dict function (dict.o's
 * or the Rust library's) by that many bytes. Short loops run measurably faster or slower
 * depending on where the caller's and the callee's code fall against cache-line and
 * fetch-window boundaries; rounds rotate over the variants so that no row rests on one
 * lucky or unlucky placement. */
#if defined(BENCH_PAD) && BENCH_PAD > 0
#define BENCH_STR_(x) #x
#define BENCH_STR(x) BENCH_STR_(x)
__asm__(".pushsection .text.startup,\"ax\",@progbits\n.skip " BENCH_STR(BENCH_PAD) ", 0xcc\n.popsection");
#endif

/* ------------------------------------------------------------- dict types */

static uint64_t int_hash(const void *key) {
    uint64_t x = (uint64_t)(uintptr_t)key; /* splitmix64 finaliser */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static uint64_t str_hash(const void *key) {
    return dictGenHashFunction(key, strlen((const char *)key));
}

static int str_compare(const void *a, const void *b) {
    return strcmp((const char *)a, (const char *)b) == 0;
}

static void sds_destructor(void *key) {
    sdsfree(key);
}

/* keyCompare NULL: dict.h's dictCompareKeys falls back to pointer equality. */
static dictType IntType = {int_hash, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
static dictType StrType = {str_hash, NULL, str_compare, NULL, NULL, NULL, NULL, NULL, NULL};
/* The release phase's string dict owns its keys (sds), like the replica-expire tracker. */
static dictType SdsOwningType = {str_hash, NULL, str_compare, sds_destructor, NULL, NULL, NULL, NULL, NULL};

/* ------------------------------------------------------------- key sets */

typedef struct {
    const char *name; /* "int" or "str" */
    dictType *type;
    void **keys;   /* present keys */
    void **misses; /* absent keys */
} keyset;

static char *mkstr(const char *prefix, uint64_t i) {
    char buf[48];
    int len = snprintf(buf, sizeof(buf), "%s%" PRIu64, prefix, i);
    char *s = zmalloc(len + 1);
    memcpy(s, buf, len + 1);
    return s;
}

static void keyset_init(keyset *ks, int strings, size_t n) {
    ks->name = strings ? "str" : "int";
    ks->type = strings ? &StrType : &IntType;
    ks->keys = zmalloc(sizeof(void *) * n);
    ks->misses = zmalloc(sizeof(void *) * n);
    for (size_t i = 0; i < n; i++) {
        if (strings) {
            /* Key-like names of realistic length (pub/sub channels, script shas are longer). */
            ks->keys[i] = mkstr("key:", i);
            ks->misses[i] = mkstr("nokey:", i);
        } else {
            ks->keys[i] = (void *)(uintptr_t)(2 * i + 2);  /* even: present */
            ks->misses[i] = (void *)(uintptr_t)(2 * i + 1); /* odd: absent */
        }
    }
}

static void keyset_free(keyset *ks, int strings, size_t n) {
    if (strings) {
        for (size_t i = 0; i < n; i++) {
            zfree(ks->keys[i]);
            zfree(ks->misses[i]);
        }
    }
    zfree(ks->keys);
    zfree(ks->misses);
}

static void finish_rehash(dict *d) {
    while (dictIsRehashing(d)) dictRehash(d, 1000);
}

static void scan_cb(void *privdata, const dictEntry *de) {
    (*(size_t *)privdata)++;
    (void)de;
}

/* ------------------------------------------------------------- big dicts */

static void bench_big(int strings, size_t n) {
    keyset ks;
    char phase[64];
    uint64_t t0;
    keyset_init(&ks, strings, n);
    uint32_t *order = zmalloc(sizeof(uint32_t) * n);
    for (size_t i = 0; i < n; i++) order[i] = (uint32_t)i;
    shuffle(order, n);

    size_t mem0 = zmalloc_used_memory();
    dict *d = dictCreate(ks.type);
    PHASE_START_OPS(TURN_OPS);
    t0 = now_ns();
    for (size_t i = 0; i < n; i++) {
        if (dictAdd(d, ks.keys[i], (void *)(uintptr_t)i) != DICT_OK) {
            fprintf(stderr, "dictAdd failed\n");
            exit(1);
        }
        op_turn();
    }
    snprintf(phase, sizeof(phase), "%s-add", ks.name);
    uint64_t add_ns = phase_stop(phase, t0);
    if (want(phase)) report_ns(phase, add_ns, n);
    finish_rehash(d);
    snprintf(phase, sizeof(phase), "%s-memory", ks.name);
    if (want(phase)) report(phase, (double)(zmalloc_used_memory() - mem0) / n, "B/entry", n);

    snprintf(phase, sizeof(phase), "%s-find-hit", ks.name);
    if (want(phase)) {
        uintptr_t acc = 0;
        PHASE_START_OPS(TURN_OPS);
        t0 = now_ns();
        for (size_t i = 0; i < n; i++) {
            dictEntry *de = dictFind(d, ks.keys[order[i]]);
            acc += (uintptr_t)dictGetVal(de);
            op_turn();
        }
        report_ns(phase, phase_stop(phase, t0), n);
        if (acc != (uintptr_t)((uint64_t)n * (n - 1) / 2)) {
            fprintf(stderr, "find-hit: wrong values\n");
            exit(1);
        }
    }

    snprintf(phase, sizeof(phase), "%s-find-miss", ks.name);
    if (want(phase)) {
        size_t found = 0;
        PHASE_START_OPS(TURN_OPS);
        t0 = now_ns();
        for (size_t i = 0; i < n; i++) {
            found += dictFind(d, ks.misses[order[i]]) != NULL;
            op_turn();
        }
        report_ns(phase, phase_stop(phase, t0), n);
        if (found) {
            fprintf(stderr, "find-miss: found absent keys\n");
            exit(1);
        }
    }

    /* Valkey's gtest dict benchmark's "Linear access" loop: every key in insertion order,
     * each looked up through a fresh heap copy that is freed after the lookup. */
    snprintf(phase, sizeof(phase), "%s-find-linear", ks.name);
    if (strings && want(phase)) {
        size_t found = 0;
        PHASE_START_OPS(TURN_OPS);
        t0 = now_ns();
        for (size_t i = 0; i < n; i++) {
            char *key = zstrdup(ks.keys[i]);
            found += dictFind(d, key) != NULL;
            zfree(key);
            op_turn();
        }
        report_ns(phase, phase_stop(phase, t0), n);
        if (found != n) {
            fprintf(stderr, "find-linear: missed present keys\n");
            exit(1);
        }
    }

    snprintf(phase, sizeof(phase), "%s-random", ks.name);
    if (want(phase)) {
        uintptr_t acc = 0;
        PHASE_START_OPS(TURN_OPS);
        t0 = now_ns();
        for (size_t i = 0; i < n; i++) {
            acc += (uintptr_t)dictGetKey(dictGetRandomKey(d));
            op_turn();
        }
        report_ns(phase, phase_stop(phase, t0), n);
        sink = acc;
    }

    snprintf(phase, sizeof(phase), "%s-iterate", ks.name);
    if (want(phase)) {
        dictIterator it;
        dictEntry *de;
        size_t cnt = 0;
        PHASE_START_OPS(TURN_OPS_WALK);
        t0 = now_ns();
        dictInitIterator(&it, d);
        while ((de = dictNext(&it)) != NULL) {
            cnt++;
            op_turn();
        }
        dictResetIterator(&it);
        report_ns(phase, phase_stop(phase, t0), n);
        if (cnt != n) {
            fprintf(stderr, "iterate: %zu entries\n", cnt);
            exit(1);
        }
    }

    snprintf(phase, sizeof(phase), "%s-iter-safe", ks.name);
    if (want(phase)) {
        dictIterator *it;
        dictEntry *de;
        size_t cnt = 0;
        PHASE_START_OPS(TURN_OPS_WALK);
        t0 = now_ns();
        it = dictGetSafeIterator(d);
        while ((de = dictNext(it)) != NULL) {
            cnt++;
            op_turn();
        }
        dictReleaseIterator(it);
        report_ns(phase, phase_stop(phase, t0), n);
        if (cnt != n) {
            fprintf(stderr, "iter-safe: %zu entries\n", cnt);
            exit(1);
        }
    }

    snprintf(phase, sizeof(phase), "%s-scan", ks.name);
    if (want(phase)) {
        size_t cnt = 0;
        unsigned long cursor = 0;
        PHASE_START_OPS(TURN_OPS_SCAN);
        t0 = now_ns();
        do {
            cursor = dictScan(d, cursor, scan_cb, &cnt);
            op_turn();
        } while (cursor != 0);
        report_ns(phase, phase_stop(phase, t0), n);
        if (cnt != n) {
            fprintf(stderr, "scan: %zu entries\n", cnt);
            exit(1);
        }
    }

    snprintf(phase, sizeof(phase), "%s-delete", ks.name);
    if (want(phase)) {
        PHASE_START_OPS(TURN_OPS);
        t0 = now_ns();
        for (size_t i = 0; i < n; i++) {
            if (dictDelete(d, ks.keys[order[i]]) != DICT_OK) {
                fprintf(stderr, "dictDelete failed\n");
                exit(1);
            }
            op_turn();
        }
        report_ns(phase, phase_stop(phase, t0), n);
    }

    snprintf(phase, sizeof(phase), "%s-release", ks.name);
    if (want(phase)) {
        dict *full = dictCreate(strings ? &SdsOwningType : ks.type);
        untimed_build_start();
        for (size_t i = 0; i < n; i++) {
            void *key = strings ? (void *)sdsnew(ks.keys[i]) : ks.keys[i];
            if (dictAdd(full, key, (void *)(uintptr_t)i) != DICT_OK) {
                fprintf(stderr, "release: dictAdd failed\n");
                exit(1);
            }
            op_turn();
        }
        finish_rehash(full);
        untimed_build_end();
        size_t before = zmalloc_used_memory();
        PHASE_START();
        t0 = now_ns();
        dictRelease(full);
        report_ns(phase, phase_stop(phase, t0), n);
        size_t freed = before - zmalloc_used_memory();
        if (freed < n * sizeof(void *)) {
            fprintf(stderr, "release: freed only %zu bytes\n", freed);
            exit(1);
        }
    }

    dictRelease(d);
    zfree(order);
    keyset_free(&ks, strings, n);
}

/* ------------------------------------------------------------- small dicts */

#define SMALL_ENTRIES 16
#define SMALL_DICTS 1024

static void bench_small(int strings, size_t ops) {
    keyset ks;
    char phase[64];
    uint64_t t0;
    size_t nkeys = (size_t)SMALL_DICTS * SMALL_ENTRIES;
    keyset_init(&ks, strings, nkeys);
    /* Each dict gets its own 16 keys (like distinct subscribers per channel). */
    dict **ds = zmalloc(sizeof(dict *) * SMALL_DICTS);

    snprintf(phase, sizeof(phase), "small-%s-lifecycle", ks.name);
    if (want(phase)) {
        size_t rounds = ops / SMALL_ENTRIES;
        PHASE_START();
        t0 = now_ns();
        for (size_t r = 0; r < rounds; r++) {
            void **k = ks.keys + (r % SMALL_DICTS) * SMALL_ENTRIES;
            dict *d = dictCreate(ks.type);
            for (int j = 0; j < SMALL_ENTRIES; j++) dictAdd(d, k[j], NULL);
            dictRelease(d);
        }
        report_ns(phase, phase_stop(phase, t0), rounds);
    }

    for (size_t i = 0; i < SMALL_DICTS; i++) {
        ds[i] = dictCreate(ks.type);
        for (int j = 0; j < SMALL_ENTRIES; j++) dictAdd(ds[i], ks.keys[i * SMALL_ENTRIES + j], (void *)(uintptr_t)j);
        finish_rehash(ds[i]);
    }

    snprintf(phase, sizeof(phase), "small-%s-find-hit", ks.name);
    if (want(phase)) {
        uintptr_t acc = 0;
        PHASE_START();
        t0 = now_ns();
        for (size_t i = 0; i < ops; i++) {
            size_t di = (i * 7) % SMALL_DICTS, kj = (i * 5) % SMALL_ENTRIES;
            acc += (uintptr_t)dictGetVal(dictFind(ds[di], ks.keys[di * SMALL_ENTRIES + kj]));
        }
        report_ns(phase, phase_stop(phase, t0), ops);
        sink = acc;
    }

    snprintf(phase, sizeof(phase), "small-%s-find-miss", ks.name);
    if (want(phase)) {
        size_t found = 0;
        PHASE_START();
        t0 = now_ns();
        for (size_t i = 0; i < ops; i++) {
            size_t di = (i * 7) % SMALL_DICTS, kj = (i * 5) % SMALL_ENTRIES;
            found += dictFind(ds[di], ks.misses[di * SMALL_ENTRIES + kj]) != NULL;
        }
        report_ns(phase, phase_stop(phase, t0), ops);
        if (found) {
            fprintf(stderr, "small find-miss: found absent keys\n");
            exit(1);
        }
    }

    snprintf(phase, sizeof(phase), "small-%s-iterate", ks.name);
    if (want(phase)) {
        size_t rounds = ops / SMALL_ENTRIES, cnt = 0;
        PHASE_START();
        t0 = now_ns();
        for (size_t r = 0; r < rounds; r++) {
            dictIterator *it = dictGetSafeIterator(ds[(r * 7) % SMALL_DICTS]);
            dictEntry *de;
            while ((de = dictNext(it)) != NULL) cnt++;
            dictReleaseIterator(it);
        }
        report_ns(phase, phase_stop(phase, t0), rounds);
        if (cnt != rounds * SMALL_ENTRIES) {
            fprintf(stderr, "small iterate: %zu entries\n", cnt);
            exit(1);
        }
    }

    snprintf(phase, sizeof(phase), "small-%s-add-del", ks.name);
    if (want(phase)) {
        /* Remove the 16th key, then add + delete it repeatedly: 15 <-> 16 entries
         * in a 16-bucket table never resizes in either direction. */
        for (size_t i = 0; i < SMALL_DICTS; i++) dictDelete(ds[i], ks.keys[i * SMALL_ENTRIES + SMALL_ENTRIES - 1]);
        size_t rounds = ops / 2;
        PHASE_START();
        t0 = now_ns();
        for (size_t r = 0; r < rounds; r++) {
            size_t di = (r * 7) % SMALL_DICTS;
            void *k = ks.keys[di * SMALL_ENTRIES + SMALL_ENTRIES - 1];
            if (dictAdd(ds[di], k, NULL) != DICT_OK || dictDelete(ds[di], k) != DICT_OK) {
                fprintf(stderr, "small add-del failed\n");
                exit(1);
            }
        }
        report_ns(phase, phase_stop(phase, t0), rounds);
    }

    for (size_t i = 0; i < SMALL_DICTS; i++) dictRelease(ds[i]);
    zfree(ds);
    keyset_free(&ks, strings, nkeys);
}

/* PUBLISH's walk over server.pubsub_patterns: a heap unsafe iterator over a dict of
 * a few thousand string keys, reading key and value of every entry. */
#define PATTERN_DICT_SIZE 2000

static void bench_patterns(size_t ops) {
    keyset ks;
    const char *phase = "patterns-walk";
    uint64_t t0;
    keyset_init(&ks, 1, PATTERN_DICT_SIZE);
    dict *d = dictCreate(ks.type);
    for (size_t i = 0; i < PATTERN_DICT_SIZE; i++) dictAdd(d, ks.keys[i], (void *)(uintptr_t)i);
    finish_rehash(d);
    if (want(phase)) {
        size_t rounds = ops / PATTERN_DICT_SIZE + 1;
        uintptr_t acc = 0;
        PHASE_START();
        t0 = now_ns();
        for (size_t r = 0; r < rounds; r++) {
            dictIterator *it = dictGetIterator(d);
            dictEntry *de;
            while ((de = dictNext(it)) != NULL) acc += (uintptr_t)dictGetKey(de) ^ (uintptr_t)dictGetVal(de);
            dictReleaseIterator(it);
        }
        report_ns(phase, phase_stop(phase, t0), rounds * PATTERN_DICT_SIZE);
        sink = acc;
    }
    dictRelease(d);
    keyset_free(&ks, 1, PATTERN_DICT_SIZE);
}

/* Walks that find nothing, as Valkey starts many over dicts that are mostly empty and
 * never had an entry (no buckets): every FLUSHALL walks each DB's blocking_keys with a
 * heap safe iterator (scanDatabaseForDeletedKeys), every PUBLISH server.pubsub_patterns
 * with a heap unsafe one. The same two iterators as "iterate" and "iter-safe" above. */
static void bench_empty(size_t ops) {
    uint64_t t0;
    dict *d = dictCreate(&IntType);
    for (int safe = 0; safe <= 1; safe++) {
        const char *phase = safe ? "empty-iter-safe" : "empty-iterate";
        if (!want(phase)) continue;
        size_t found = 0;
        PHASE_START();
        t0 = now_ns();
        if (safe) {
            for (size_t r = 0; r < ops; r++) {
                dictIterator *it = dictGetSafeIterator(d);
                found += dictNext(it) != NULL;
                dictReleaseIterator(it);
            }
        } else {
            for (size_t r = 0; r < ops; r++) {
                dictIterator it;
                dictInitIterator(&it, d);
                found += dictNext(&it) != NULL;
                dictResetIterator(&it);
            }
        }
        report_ns(phase, phase_stop(phase, t0), ops);
        if (found || dictSize(d) != 0 || dictBuckets(d) != 0) {
            fprintf(stderr, "%s: %zu entries found, size %lu, %lu buckets\n", phase, found,
                    (unsigned long)dictSize(d), (unsigned long)dictBuckets(d));
            exit(1);
        }
    }
    dictRelease(d);
}

int main(int argc, char **argv) {
    size_t n = 1000000, small_ops = 2000000;
    int opt;
    while ((opt = getopt(argc, argv, "n:s:p:l:")) != -1) {
        switch (opt) {
        case 'n': n = strtoull(optarg, NULL, 10); break;
        case 's': small_ops = strtoull(optarg, NULL, 10); break;
        case 'p': filter = optarg; break;
        case 'l': lockstep_init(optarg); break;
        default:
            fprintf(stderr, "usage: %s [-n ENTRIES] [-s SMALL_OPS] [-p PHASE_SUBSTRING] [-l IN_FD,OUT_FD,FIRST]\n",
                    argv[0]);
            return 2;
        }
    }
    if (n < 2 || n > UINT32_MAX || small_ops < 2 * SMALL_ENTRIES) {
        fprintf(stderr, "dict_bench: bad sizes\n");
        return 2;
    }

    uint8_t seed[16];
    for (int i = 0; i < 16; i++) seed[i] = (uint8_t)(i * 17 + 3);
    dictSetHashFunctionSeed(seed);
    monotonicInit();
    init_genrand64(12345);
    srandom(12345);
    srand(12345);
    dictSetResizeEnabled(DICT_RESIZE_ENABLE);

    bench_big(0, n);
    bench_big(1, n);
    bench_small(0, small_ops);
    bench_small(1, small_ops);
    bench_patterns(small_ops);
    bench_empty(small_ops);
    return 0;
}
