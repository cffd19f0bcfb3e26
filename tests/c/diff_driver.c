/* Differential driver for the dict ABI.
 *
 * Compiled ONCE against Valkey 9.1.2's original src/dict.h, then linked twice:
 * with Valkey's dict.o and with libvalkey_rs_core.a, each time surrounded only by
 * Valkey's zmalloc.o siphash.o mt19937-64.o monotonic.o util.o serverassert.o
 * (plus their small deps and jemalloc).  Both binaries run the same
 * deterministic sequence and print a trace to stdout; tests/c/run.sh diffs the
 * two traces.
 *
 * Nothing printed may depend on addresses or wall time: keys are integers or
 * string contents, pointers are never printed, time-dependent results are
 * reduced to a boolean.  Everything else (returns, table state after every
 * step, callback sequence, scan cursors, sampling results, used_memory) must
 * be bit-identical between the C dict and the Rust dict.
 *
 * Env DICT_TRACE_ALL=1 prints the state after every single operation of the
 * bulk phases too (use it to locate a divergence reported by a checkpoint).
 */
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include "dict.h" /* Valkey 9.1.2's ORIGINAL header */
#include "zmalloc.h"
#include "mt19937-64.h"
#include "monotonic.h"

/* Also exported by dict.o although not declared in dict.h. */
unsigned long long dictFingerprint(dict *d);
unsigned int testOnlyDictGetForceResizeRatio(void);
signed char testOnlyDictNextExp(unsigned long size);
long long testOnlyTimeInMilliseconds(void);
long long timeInMilliseconds(void);
/* From util.o */
uint64_t wangHash64(uint64_t hash);

/* ------------------------------------------------------------------------ */
/* Trace helpers                                                             */
/* ------------------------------------------------------------------------ */

static int trace_all;
#define T(...)                                                                                                         \
    do {                                                                                                               \
        printf(__VA_ARGS__);                                                                                           \
        putchar('\n');                                                                                                 \
    } while (0)

static uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *s = p;
    if (h == 0) h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* Event log: callbacks (rehashing, resizeAllowed, destructors, keyDup, defrag,
 * empty callback).  Verbose phases print every event; bulk phases fold them
 * into an order-dependent digest printed at phase end. */
static int ev_verbose = 1;
static uint64_t ev_digest;
static unsigned long ev_count;

static void ev(const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    ev_digest = fnv(ev_digest, buf, strlen(buf) + 1);
    ev_count++;
    if (ev_verbose || trace_all) T("  ev %s", buf);
}

/* Destructor / keyDup / defrag events: printed only when ev_verbose >= 2. */
static void evq(const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    ev_digest = fnv(ev_digest, buf, strlen(buf) + 1);
    ev_count++;
    if (ev_verbose >= 2 || trace_all) T("  ev %s", buf);
}

static void ev_summary(const char *phase) {
    T("events[%s]: count=%lu digest=%016llx", phase, ev_count, (unsigned long long)ev_digest);
    ev_count = 0;
    ev_digest = 0;
}

static void st(const char *tag, dict *d) {
    T("%s: size=%lu buckets=%lu rehashidx=%ld used=[%lu,%lu] exp=[%d,%d] tbl=[%d,%d] pause=%d pauseAR=%d empty=%d "
      "mem=%zu",
      tag, dictSize(d), dictBuckets(d), d->rehashidx, d->ht_used[0], d->ht_used[1], d->ht_size_exp[0],
      d->ht_size_exp[1], d->ht_table[0] != NULL, d->ht_table[1] != NULL, d->pauserehash, d->pauseAutoResize,
      dictIsEmpty(d), zmalloc_used_memory());
}

/* Rolling digest of the table state, updated after every bulk operation. */
static uint64_t sdig;
static unsigned long sdig_ops;
static void sdig_upd(dict *d, uint64_t ret) {
    uint64_t v[9] = {dictSize(d),
                     dictBuckets(d),
                     (uint64_t)d->rehashidx,
                     d->ht_used[0],
                     d->ht_used[1],
                     (uint64_t)(int64_t)d->ht_size_exp[0],
                     (uint64_t)(int64_t)d->ht_size_exp[1],
                     (uint64_t)(int64_t)d->pauserehash,
                     ret};
    sdig = fnv(sdig, v, sizeof(v));
    sdig_ops++;
    if (trace_all) {
        char tag[64];
        snprintf(tag, sizeof(tag), "    op%lu ret=%llu", sdig_ops, (unsigned long long)ret);
        st(tag, d);
    }
}
static void sdig_ckpt(const char *phase, dict *d) {
    T("ckpt[%s] ops=%lu sdig=%016llx", phase, sdig_ops, (unsigned long long)sdig);
    st("  state", d);
}

/* Deterministic PRNG of the driver itself (never libc's, never mt19937). */
static uint64_t xs_state = 0x9E3779B97F4A7C15ULL;
static uint64_t xs(void) {
    xs_state ^= xs_state >> 12;
    xs_state ^= xs_state << 25;
    xs_state ^= xs_state >> 27;
    return xs_state * 0x2545F4914F6CDD1DULL;
}

/* ------------------------------------------------------------------------ */
/* dict types                                                                */
/* ------------------------------------------------------------------------ */

#define IK(k) ((void *)(uintptr_t)(k))
#define KI(p) ((unsigned long)(uintptr_t)(p))

static int rz_answer = 1;

static void logRehashing(const char *what, dict *d) {
    unsigned long long from = 0, to = 0;
    dictRehashingInfo(d, &from, &to);
    ev("%s from=%llu to=%llu used=[%lu,%lu] rehashidx=%ld", what, from, to, d->ht_used[0], d->ht_used[1],
       d->rehashidx);
}
static void cbRehashingStarted(dict *d) {
    logRehashing("rehashingStarted", d);
}
static void cbRehashingCompleted(dict *d) {
    logRehashing("rehashingCompleted", d);
}
static int cbResizeAllowed(size_t moreMem, double usedRatio) {
    ev("resizeAllowed moreMem=%zu usedRatio=%.17g -> %d", moreMem, usedRatio, rz_answer);
    return rz_answer;
}

/* Callback call counts, printed on "info" lines and compared exactly like the
 * rest of the trace: dict.c hashes and compares keys at fixed moments. */
static unsigned long hash_calls, cmp_calls;
static void info_counts(const char *tag) {
    T("info %s: hashFunction calls=%lu keyCompare calls=%lu", tag, hash_calls, cmp_calls);
    hash_calls = cmp_calls = 0;
}

/* Integer keys and values (stored as pointers). */
static uint64_t intHash(const void *key) {
    hash_calls++;
    return mix64(KI(key));
}
static uint64_t weakHash(const void *key) {
    hash_calls++;
    return KI(key) & 3; /* four long chains whatever the table size */
}
static void intKeyDestr(void *key) {
    evq("keyDestructor %lu", KI(key));
}
static void intValDestr(void *val) {
    evq("valDestructor %lu", KI(val));
}

static dictType intType = {
    .hashFunction = intHash,
    .keyDestructor = intKeyDestr,
    .valDestructor = intValDestr,
    .resizeAllowed = cbResizeAllowed,
    .rehashingStarted = cbRehashingStarted,
    .rehashingCompleted = cbRehashingCompleted,
};
/* No callbacks at all (keyCompare NULL -> pointer equality). */
static dictType bareIntType = {.hashFunction = intHash};
static dictType weakType = {.hashFunction = weakHash, .rehashingStarted = cbRehashingStarted};

/* String keys: zmalloc'd C strings, duplicated by keyDup. */
static uint64_t strHash(const void *key) {
    hash_calls++;
    return dictGenHashFunction(key, strlen(key));
}
static uint64_t caseHash(const void *key) {
    hash_calls++;
    return dictGenCaseHashFunction(key, strlen(key));
}
static int strCmp(const void *a, const void *b) {
    cmp_calls++;
    return strcmp(a, b) == 0;
}
static int caseCmp(const void *a, const void *b) {
    return strcasecmp(a, b) == 0;
}
static void *strDup(const void *key) {
    evq("keyDup %s", (const char *)key);
    return zstrdup(key);
}
static void strKeyDestr(void *key) {
    evq("keyDestructor %s", (char *)key);
    zfree(key);
}
static dictEntry *watch_entry; /* lets the destructor observe the entry's current value */
static void strValDestr(void *val) {
    if (watch_entry)
        evq("valDestructor %s (entry now holds %s)", (char *)val, (char *)dictGetVal(watch_entry));
    else
        evq("valDestructor %s", (char *)val);
    zfree(val);
}
static dictType strType = {
    .hashFunction = strHash,
    .keyDup = strDup,
    .keyCompare = strCmp,
    .keyDestructor = strKeyDestr,
    .valDestructor = strValDestr,
    .resizeAllowed = cbResizeAllowed,
    .rehashingStarted = cbRehashingStarted,
    .rehashingCompleted = cbRehashingCompleted,
};
/* Owned string keys without keyDup (dict takes ownership). */
static dictType strNoDupType = {
    .hashFunction = strHash,
    .keyCompare = strCmp,
    .keyDestructor = strKeyDestr,
    .valDestructor = strValDestr,
    .rehashingStarted = cbRehashingStarted,
    .rehashingCompleted = cbRehashingCompleted,
};
static dictType caseType = {
    .hashFunction = caseHash,
    .keyCompare = caseCmp,
};

static size_t metaBytes(dict *d) {
    ev("dictMetadataBytes(%s)", d ? "d" : "NULL");
    return 40;
}
static dictType metaType = {
    .hashFunction = intHash,
    .dictMetadataBytes = metaBytes,
    .rehashingStarted = cbRehashingStarted,
    .rehashingCompleted = cbRehashingCompleted,
};

/* ------------------------------------------------------------------------ */
/* Scan / iteration helpers                                                  */
/* ------------------------------------------------------------------------ */

typedef struct {
    uint64_t sum, xr; /* order-independent */
    uint64_t ord;     /* order-dependent */
    unsigned long n;
    unsigned char *seen; /* optional visit counters indexed by key number */
    unsigned long seen_len;
    int strkeys;
} acc;

static unsigned long keynum(const acc *a, const dictEntry *de) {
    if (a->strkeys) {
        const char *s = dictGetKey(de);
        while (*s && (*s < '0' || *s > '9')) s++;
        return strtoul(s, NULL, 10);
    }
    return KI(dictGetKey(de));
}

static void acc_add(acc *a, const dictEntry *de) {
    uint64_t k;
    if (a->strkeys) {
        const char *s = dictGetKey(de);
        k = fnv(0, s, strlen(s));
    } else {
        k = KI(dictGetKey(de));
    }
    a->sum += mix64(k);
    a->xr ^= mix64(k * 31 + 7);
    a->ord = fnv(a->ord, &k, sizeof(k));
    a->n++;
    if (a->seen) {
        unsigned long kn = keynum(a, de);
        if (kn < a->seen_len && a->seen[kn] < 255) a->seen[kn]++;
    }
}
static void acc_print(const char *tag, const acc *a) {
    T("%s: n=%lu set=%016llx/%016llx order=%016llx", tag, a->n, (unsigned long long)a->sum,
      (unsigned long long)a->xr, (unsigned long long)a->ord);
}
/* When set, scan callbacks check that rehashing is paused and look the key up
 * (which must not move the table while the scan holds it). */
static dict *scan_dict;
static unsigned long scan_unpaused, scan_lookups_missed;
static dict *scan_del_dict; /* when set, the callback deletes keys divisible by scan_del_mod */
static unsigned long scan_del_mod, scan_deleted;
static void scanCb(void *privdata, const dictEntry *de) {
    acc_add(privdata, de);
    if (scan_del_dict && KI(dictGetKey(de)) % scan_del_mod == 0) {
        /* dict.c reads the next entry before calling back: deleting the current one is allowed */
        if (dictDelete(scan_del_dict, dictGetKey(de)) == DICT_OK) scan_deleted++;
        return;
    }
    if (scan_dict) {
        if (scan_dict->pauserehash <= 0) scan_unpaused++;
        if (dictFind(scan_dict, dictGetKey(de)) != de) scan_lookups_missed++;
    }
}

/* Full scan; prints every cursor if verbose, else a digest of the cursors. */
static unsigned long full_scan(const char *tag, dict *d, int verbose, const dictDefragFunctions *df, acc *a) {
    unsigned long cursor = 0, calls = 0;
    uint64_t cdig = 0;
    char line[4096];
    size_t ll = 0;
    line[0] = 0;
    do {
        cursor = df ? dictScanDefrag(d, cursor, scanCb, df, a) : dictScan(d, cursor, scanCb, a);
        calls++;
        cdig = fnv(cdig, &cursor, sizeof(cursor));
        if (verbose && ll < sizeof(line) - 32) ll += snprintf(line + ll, sizeof(line) - ll, " %lu", cursor);
    } while (cursor != 0);
    if (verbose) T("%s cursors:%s", tag, line);
    T("%s scan: calls=%lu cursordigest=%016llx", tag, calls, (unsigned long long)cdig);
    acc_print(tag, a);
    return calls;
}

static void iterate_k(const char *tag, dict *d, int safe, int on_stack, int strkeys) {
    acc a = {.strkeys = strkeys};
    dictIterator it, *iter;
    if (on_stack) {
        iter = &it;
        if (safe)
            dictInitSafeIterator(iter, d);
        else
            dictInitIterator(iter, d);
    } else {
        iter = safe ? dictGetSafeIterator(d) : dictGetIterator(d);
    }
    dictEntry *de;
    int first = 1;
    while ((de = dictNext(iter)) != NULL) {
        if (first) {
            T("%s: after first dictNext pauserehash=%d mem=%zu", tag, d->pauserehash, zmalloc_used_memory());
            first = 0;
        }
        acc_add(&a, de);
    }
    acc_print(tag, &a);
    if (on_stack)
        dictResetIterator(iter);
    else
        dictReleaseIterator(iter);
    T("%s: after release pauserehash=%d", tag, d->pauserehash);
}

static void iterate(const char *tag, dict *d, int safe, int on_stack) {
    iterate_k(tag, d, safe, on_stack, 0);
}

/* ------------------------------------------------------------------------ */
/* Defrag callbacks: really move the memory (zmalloc + memcpy + zfree).      */
/* ------------------------------------------------------------------------ */

static unsigned long dfr_calls;
static void *dfr_move(void *p) {
    size_t sz = zmalloc_size(p);
    void *n = zmalloc(sz);
    memcpy(n, p, sz);
    zfree(p);
    return n;
}
static void *defragAllocCb(void *p) {
    dfr_calls++;
    evq("defragAlloc #%lu usable=%zu", dfr_calls, zmalloc_size(p));
    if (dfr_calls % 4 == 0) return NULL; /* "not moved" path */
    return dfr_move(p);
}
static void *defragKeyCb(void *p) {
    dfr_calls++;
    evq("defragKey #%lu %s", dfr_calls, (char *)p);
    if (dfr_calls % 3 == 0) return NULL;
    return dfr_move(p);
}
static void *defragValCb(void *p) {
    dfr_calls++;
    evq("defragVal #%lu %s", dfr_calls, (char *)p);
    if (dfr_calls % 5 == 0) return NULL;
    return dfr_move(p);
}

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */
/* ------------------------------------------------------------------------ */

static const char *ks(dictEntry *de) {
    static char buf[8][64];
    static int n;
    char *b = buf[n++ & 7];
    if (!de)
        snprintf(b, 64, "NULL");
    else
        snprintf(b, 64, "%lu", KI(dictGetKey(de)));
    return b;
}

static char *mkstr(const char *prefix, unsigned long n) {
    char buf[64];
    snprintf(buf, sizeof(buf), "%s%06lu", prefix, n);
    return zstrdup(buf);
}

static void check_fingerprint(const char *tag, dict *d) {
    unsigned long long integers[6], hash = 0;
    integers[0] = (long)d->ht_table[0];
    integers[1] = d->ht_size_exp[0];
    integers[2] = d->ht_used[0];
    integers[3] = (long)d->ht_table[1];
    integers[4] = d->ht_size_exp[1];
    integers[5] = d->ht_used[1];
    for (int j = 0; j < 6; j++) {
        hash += integers[j];
        hash = wangHash64(hash);
    }
    T("%s: dictFingerprint matches dict.c formula: %d", tag, dictFingerprint(d) == hash);
}

/* Runs fn in a forked child with stderr silenced; reports how it ended. */
static void expect_crash(const char *tag, void (*fn)(void)) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) dup2(fd, 2);
        fn();
        fflush(stdout);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status))
        T("%s: child killed by signal %d", tag, WTERMSIG(status));
    else
        T("%s: child exited %d", tag, WEXITSTATUS(status));
}

/* ------------------------------------------------------------------------ */
/* Phase 0: globals, hashing, test-only helpers                              */
/* ------------------------------------------------------------------------ */

static void phase_globals(void) {
    T("== phase globals");
    uint8_t seed[16];
    for (int i = 0; i < 16; i++) seed[i] = (uint8_t)(0xA5 ^ (i * 17));
    dictSetHashFunctionSeed(seed);
    uint8_t *s = dictGetHashFunctionSeed();
    char hex[40];
    for (int i = 0; i < 16; i++) snprintf(hex + 2 * i, 3, "%02x", s[i]);
    T("seed: %s", hex);
    seed[0] ^= 0xff; /* the dict must have copied it */
    T("seed copied: %d", dictGetHashFunctionSeed()[0] != seed[0]);

    unsigned char buf[300];
    for (int len = 0; len < 300; len++) {
        for (int j = 0; j < len; j++) buf[j] = (unsigned char)(len * 7 + j * 13 + (j % 5 == 0 ? 'A' : 0));
        T("hash len=%d gen=%016llx case=%016llx", len, (unsigned long long)dictGenHashFunction(buf, len),
          (unsigned long long)dictGenCaseHashFunction(buf, len));
    }
    /* A zero length never reads the pointer (C callers pass NULL). */
    T("hash NULL len=0 gen=%016llx case=%016llx", (unsigned long long)dictGenHashFunction(NULL, 0),
      (unsigned long long)dictGenCaseHashFunction(NULL, 0));
    const char *words[] = {"", "a", "A", "hello", "HeLLo", "HELLO", "foo:bar:baz", "\xff\xfe\x80", "1234567",
                           "12345678", "123456789"};
    for (size_t i = 0; i < sizeof(words) / sizeof(*words); i++)
        T("hash '%s' gen=%016llx case=%016llx", words[i],
          (unsigned long long)dictGenHashFunction(words[i], strlen(words[i])),
          (unsigned long long)dictGenCaseHashFunction((const unsigned char *)words[i], strlen(words[i])));

    T("testOnlyDictGetForceResizeRatio=%u", testOnlyDictGetForceResizeRatio());
    unsigned long sizes[] = {0,
                             1,
                             2,
                             3,
                             4,
                             5,
                             7,
                             8,
                             9,
                             1000,
                             1024,
                             1025,
                             1UL << 31,
                             (1UL << 32) + 1,
                             (1UL << 62),
                             (1UL << 62) + 1,
                             (unsigned long)LONG_MAX - 1,
                             (unsigned long)LONG_MAX,
                             (unsigned long)LONG_MAX + 1,
                             ULONG_MAX};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++)
        T("testOnlyDictNextExp(%lu)=%d", sizes[i], testOnlyDictNextExp(sizes[i]));

    struct timeval tv;
    gettimeofday(&tv, NULL);
    long long now = (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
    long long t1 = timeInMilliseconds(), t2 = testOnlyTimeInMilliseconds();
    T("timeInMilliseconds plausible: %d", llabs(t1 - now) < 5000 && t2 >= t1 && t2 - t1 < 5000);
}

/* ------------------------------------------------------------------------ */
/* Phase 1: small integer dict, everything printed                           */
/* ------------------------------------------------------------------------ */

static void phase_small_int(void) {
    T("== phase small_int");
    ev_verbose = 2;
    size_t mem0 = zmalloc_used_memory();
    dict *d = dictCreate(&intType);
    st("created", d);
    T("empty: find=%s fetch=%lu delete=%d unlink=%s random=%s fair=%s scan=%lu rehash=%d", ks(dictFind(d, IK(1))),
      KI(dictFetchValue(d, IK(1))), dictDelete(d, IK(1)), ks(dictUnlink(d, IK(1))), ks(dictGetRandomKey(d)),
      ks(dictGetFairRandomKey(d)), dictScan(d, 0, scanCb, NULL), dictRehash(d, 10));
    dictEntry *some[8];
    T("empty: getSomeKeys=%u shrinkIfNeeded=%d", dictGetSomeKeys(d, some, 8), dictShrinkIfNeeded(d));
    st("after empty ops", d);
    iterate("empty iter", d, 0, 1);
    iterate("empty safe iter", d, 1, 1);
    T("unallocated: dictExpand(0)=%d dictShrink(0)=%d dictShrink(100)=%d dictTryExpand(0)=%d", dictExpand(d, 0),
      dictShrink(d, 0), dictShrink(d, 100), dictTryExpand(d, 0));
    st("unallocated after invalid sizes", d);
    {
        dict *d2 = dictCreate(&intType);
        T("unallocated: dictExpand(1)=%d", dictExpand(d2, 1));
        st("  d2", d2);
        dictRelease(d2);
        d2 = dictCreate(&intType);
        T("unallocated: dictTryExpand(100)=%d", dictTryExpand(d2, 100));
        st("  d2", d2);
        dictRelease(d2);
    }
    T("expandIfNeeded on unallocated=%d", dictExpandIfNeeded(d));
    st("after expandIfNeeded", d);
    T("expandIfNeeded again=%d shrinkIfNeeded=%d", dictExpandIfNeeded(d), dictShrinkIfNeeded(d));
    dictRelease(d);
    T("released: mem back to start %d", zmalloc_used_memory() == mem0);

    d = dictCreate(&intType);
    for (unsigned long k = 1; k <= 40; k++) {
        int r = dictAdd(d, IK(k), IK(k * 1000));
        char tag[32];
        snprintf(tag, sizeof(tag), "add %lu ret=%d", k, r);
        st(tag, d);
    }
    T("add dup=%d", dictAdd(d, IK(7), IK(1)));
    dictEntry *existing = NULL;
    dictEntry *de = dictAddRaw(d, IK(8), &existing);
    T("addRaw existing: ret=%s existing=%s val=%lu", ks(de), ks(existing), KI(dictGetVal(existing)));
    T("addRaw existing NULL-ptr: ret=%s", ks(dictAddRaw(d, IK(9), NULL)));
    st("after dup adds", d);
    for (unsigned long k = 0; k <= 45; k++) {
        de = dictFind(d, IK(k));
        T("find %lu: %s val=%lu next=%s hash=%016llx fetch=%lu", k, ks(de), de ? KI(dictGetVal(de)) : 0,
          de ? ks(dictGetNext(de)) : "-", (unsigned long long)dictGetHash(d, IK(k)), KI(dictFetchValue(d, IK(k))));
    }
    st("after finds", d);

    /* Step-by-step rehash. */
    while (dictIsRehashing(d)) dictRehash(d, 1);
    st("rehash finished", d);
    T("dictRehash when not rehashing=%d", dictRehash(d, 5));
    T("dictExpand(200)=%d", dictExpand(d, 200));
    st("expand 200", d);
    T("dictRehash(n=0)=%d", dictRehash(d, 0));
    st("  after dictRehash(0)", d);
    for (int i = 0; dictIsRehashing(d); i++) {
        int r = dictRehash(d, 1);
        char tag[40];
        snprintf(tag, sizeof(tag), "rehash step %d ret=%d", i, r);
        st(tag, d);
    }
    /* Invalid / edge expand and shrink sizes. */
    unsigned long ex[] = {0, 1, 39, 40, 100, 255, 256, 257, ULONG_MAX, (1UL << 62), (1UL << 61) + 1, 1UL << 61};
    for (size_t i = 0; i < sizeof(ex) / sizeof(*ex); i++) T("dictExpand(%lu)=%d", ex[i], dictExpand(d, ex[i]));
    st("after expand attempts", d);
    /* dictExpand(512) would succeed; undo by rehashing. */
    T("dictExpand(512)=%d", dictExpand(d, 512));
    T("dictExpand while rehashing=%d dictShrink while rehashing=%d", dictExpand(d, 4096), dictShrink(d, 64));
    T("dictTryExpand while rehashing=%d", dictTryExpand(d, 4096));
    T("dictRehashMicroseconds(us=0)=%d", dictRehashMicroseconds(d, 0)); /* one round of 100 steps whatever the clock */
    st("  after dictRehashMicroseconds(0)", d);
    dictExpand(d, 1024);
    st("  expanded to 1024", d);
    T("dictRehash(n=-1)=%d", dictRehash(d, -1));
    while (dictIsRehashing(d)) dictRehash(d, 3);
    st("after expand 512", d);
    unsigned long tx[] = {0, 40, 512, 513, 1UL << 50, 1UL << 44, ULONG_MAX, 1UL << 62, 1UL << 61};
    for (size_t i = 0; i < sizeof(tx) / sizeof(*tx); i++) {
        T("dictTryExpand(%lu)=%d", tx[i], dictTryExpand(d, tx[i]));
        st("  state", d);
        while (dictIsRehashing(d)) dictRehash(d, 100);
    }
    unsigned long sx[] = {ULONG_MAX, 1024, 1025, 39, 0, 40, 41, 64, 1023};
    for (size_t i = 0; i < sizeof(sx) / sizeof(*sx); i++) {
        T("dictShrink(%lu)=%d", sx[i], dictShrink(d, sx[i]));
        st("  state", d);
        if (dictIsRehashing(d)) {
            int r;
            int steps = 0;
            while ((r = dictRehash(d, 2)) != 0) steps++;
            T("  shrink rehash steps=%d", steps);
        }
    }
    st("after shrink attempts", d);

    /* Replace / AddOrFind / Unlink / positions while rehashing. */
    dictExpand(d, 200);
    st("expanding again", d);
    T("replace new=%d", dictReplace(d, IK(100), IK(100000)));
    T("replace existing=%d", dictReplace(d, IK(100), IK(100001)));
    T("replace same value=%d", dictReplace(d, IK(100), IK(100001)));
    T("fetch 100=%lu", KI(dictFetchValue(d, IK(100))));
    de = dictAddOrFind(d, IK(101));
    /* (a new entry's value is unspecified until set: not printed) */
    T("addOrFind new: %s", ks(de));
    dictSetVal(d, de, IK(101000));
    de = dictAddOrFind(d, IK(101));
    T("addOrFind existing: %s val=%lu", ks(de), KI(dictGetVal(de)));
    st("after replace/addOrFind", d);
    de = dictUnlink(d, IK(5));
    T("unlink 5: %s val=%lu", ks(de), KI(dictGetVal(de)));
    st("after unlink", d);
    T("find 5 after unlink: %s", ks(dictFind(d, IK(5))));
    dictFreeUnlinkedEntry(d, de);
    dictFreeUnlinkedEntry(d, NULL);
    T("unlink missing: %s", ks(dictUnlink(d, IK(555))));
    T("delete 6=%d delete 6 again=%d", dictDelete(d, IK(6)), dictDelete(d, IK(6)));
    st("after deletes", d);
    void *pos = dictFindPositionForInsert(d, IK(300), &existing);
    T("findPos new: pos=%d existing=%s", pos != NULL, ks(existing));
    st("after findPos", d);
    de = dictInsertAtPosition(d, IK(300), pos);
    dictSetVal(d, de, IK(300000));
    T("insertAtPosition: %s find=%s", ks(de), ks(dictFind(d, IK(300))));
    pos = dictFindPositionForInsert(d, IK(300), &existing);
    T("findPos existing: pos=%d existing=%s", pos != NULL, ks(existing));
    pos = dictFindPositionForInsert(d, IK(301), NULL);
    T("findPos NULL-existing: pos=%d", pos != NULL);
    de = dictInsertAtPosition(d, IK(301), pos);
    dictSetKey(d, de, IK(301)); /* no keyDup: plain store */
    dictSetVal(d, de, IK(301000));
    st("after insertAtPosition", d);

    /* Value accessors. */
    de = dictFind(d, IK(10));
    dictSetSignedIntegerVal(de, -5);
    T("s64: get=%lld incr=%lld incr=%lld", (long long)dictGetSignedIntegerVal(de),
      (long long)dictIncrSignedIntegerVal(de, -10), (long long)dictIncrSignedIntegerVal(de, 1000));
    dictSetUnsignedIntegerVal(de, UINT64_MAX - 1);
    T("u64: get=%llu incr=%llu incr=%llu", (unsigned long long)dictGetUnsignedIntegerVal(de),
      (unsigned long long)dictIncrUnsignedIntegerVal(de, 3), (unsigned long long)dictIncrUnsignedIntegerVal(de, 7));
    dictSetDoubleVal(de, 1.5);
    T("double: get=%.17g incr=%.17g", dictGetDoubleVal(de), dictIncrDoubleVal(de, 0.25));
    double *dp = dictGetDoubleValPtr(de);
    *dp *= 3;
    T("double via ptr: %.17g ptr-stable=%d", dictGetDoubleVal(de), dictGetDoubleValPtr(de) == dp);
    dictSetSignedIntegerVal(de, INT64_MIN);
    T("s64 min: %lld u64 view=%llu", (long long)dictGetSignedIntegerVal(de),
      (unsigned long long)dictGetUnsignedIntegerVal(de));
    dictSetVal(d, de, IK(10000));

    T("dictMemUsage=%zu dictEntryMemUsage(NULL)=%zu dictEntryMemUsage(de)=%zu", dictMemUsage(d),
      dictEntryMemUsage(NULL), dictEntryMemUsage(de));
    check_fingerprint("fp rehashing", d);
    unsigned long long fp1 = dictFingerprint(d);
    T("fingerprint stable=%d", fp1 == dictFingerprint(d));
    dictAdd(d, IK(400), IK(400000));
    T("fingerprint changed after add=%d", fp1 != dictFingerprint(d));

    /* Iterators while rehashing. */
    iterate("unsafe heap iter (rehashing)", d, 0, 0);
    iterate("unsafe stack iter (rehashing)", d, 0, 1);
    iterate("safe heap iter (rehashing)", d, 1, 0);
    iterate("safe stack iter (rehashing)", d, 1, 1);
    st("after iterators", d);
    {
        /* Safe iterator: finds must not rehash, deletes of the returned entry and adds are allowed. */
        dictIterator it;
        dictInitSafeIterator(&it, d);
        long ridx = d->rehashidx;
        int n = 0;
        acc a = {0};
        while ((de = dictNext(&it)) != NULL) {
            unsigned long k = KI(dictGetKey(de));
            acc_add(&a, de);
            dictFind(d, IK(k));
            if (n == 0) T("safe iter: rehashidx unchanged by find during iteration=%d", ridx == d->rehashidx);
            if (k % 2 == 0) T("  safe-iter delete %lu=%d", k, dictDelete(d, IK(k)));
            if (k % 7 == 0) T("  safe-iter add %lu=%d", k + 1000, dictAdd(d, IK(k + 1000), IK(k)));
            n++;
        }
        acc_print("safe iter with deletes", &a);
        dictResetIterator(&it);
        st("after safe iter with deletes", d);
    }
    /* Reset of an iterator that never started: no effect. */
    {
        dictIterator it;
        dictInitSafeIterator(&it, d);
        dictResetIterator(&it);
        dictInitIterator(&it, d);
        dictResetIterator(&it);
        T("reset unstarted iterators: pauserehash=%d", d->pauserehash);
    }
    /* Unsafe iterator stopped early then reset. */
    {
        dictIterator *it = dictGetIterator(d);
        de = dictNext(it);
        T("unsafe early stop: first=%s", ks(de));
        dictReleaseIterator(it);
    }

    /* Scans: while rehashing, then not rehashing. */
    {
        acc a = {0};
        scan_dict = d;
        scan_unpaused = scan_lookups_missed = 0;
        full_scan("scan rehashing", d, 1, NULL, &a);
        scan_dict = NULL;
        T("scan callbacks: rehash not paused=%lu lookups missed=%lu", scan_unpaused, scan_lookups_missed);
        st("after scan", d);
    }
    /* Sampling while rehashing. */
    for (int i = 0; i < 10; i++) T("random(rehashing) %d: %s", i, ks(dictGetRandomKey(d)));
    st("after random", d);
    for (int i = 0; i < 10; i++) T("fair(rehashing) %d: %s", i, ks(dictGetFairRandomKey(d)));
    st("after fair", d);
    {
        dictEntry *des[200];
        unsigned int counts[] = {1, 3, 5, 16, 200};
        for (size_t c = 0; c < sizeof(counts) / sizeof(*counts); c++) {
            unsigned int got = dictGetSomeKeys(d, des, counts[c]);
            char line[4096];
            size_t ll = 0;
            for (unsigned int i = 0; i < got && ll < sizeof(line) - 32; i++)
                ll += snprintf(line + ll, sizeof(line) - ll, " %s", ks(des[i]));
            line[ll] = 0;
            T("getSomeKeys(%u)=%u:%s", counts[c], got, line);
            st("  state", d);
        }
    }
    while (dictIsRehashing(d)) dictRehash(d, 1);
    st("rehash done", d);
    {
        acc a = {0};
        full_scan("scan stable", d, 1, NULL, &a);
    }
    {
        acc a = {0};
        scan_del_dict = d;
        scan_del_mod = 3;
        scan_deleted = 0;
        full_scan("scan deleting in callback", d, 1, NULL, &a);
        scan_del_dict = NULL;
        T("scan deleting in callback: deleted=%lu", scan_deleted);
        st("after scan with deletes", d);
    }
    iterate("unsafe iter (stable)", d, 0, 0);
    iterate("safe iter (stable)", d, 1, 1);
    check_fingerprint("fp stable", d);
    for (int i = 0; i < 10; i++) T("random %d: %s", i, ks(dictGetRandomKey(d)));
    for (int i = 0; i < 10; i++) T("fair %d: %s", i, ks(dictGetFairRandomKey(d)));
    T("dictMemUsage=%zu", dictMemUsage(d));

    /* Delete down to trigger a shrink, step by step. */
    for (unsigned long k = 1; k <= 420; k++) {
        int r = dictDelete(d, IK(k));
        if (r == DICT_OK) {
            char tag[40];
            snprintf(tag, sizeof(tag), "delete %lu", k);
            st(tag, d);
        }
    }
    /* dictEmpty with callback (few buckets: called once). */
    dictAdd(d, IK(1), IK(2));
    dictExpand(d, 64);
    st("before empty", d);
    dictPauseAutoResize(d);
    dictPauseRehashing(d);
    dictEmpty(d, NULL);
    st("after dictEmpty(NULL) (pause fields reset)", d);
    dictAdd(d, IK(3), IK(4));
    st("re-add after empty", d);
    dictRelease(d);
    T("small_int: memory returned %d", zmalloc_used_memory() == mem0);
}

/* ------------------------------------------------------------------------ */
/* Phase 2: metadata                                                         */
/* ------------------------------------------------------------------------ */

static void phase_metadata(void) {
    T("== phase metadata");
    ev_verbose = 2;
    size_t mem0 = zmalloc_used_memory();
    dict *d = dictCreate(&metaType);
    unsigned char *m = (unsigned char *)dictMetadata(d);
    int zero = 1;
    for (int i = 0; i < 40; i++)
        if (m[i]) zero = 0;
    T("metadata zeroed=%d size=%zu mem=%zu", zero, dictMetadataSize(d), zmalloc_used_memory() - mem0);
    memset(m, 0x5a, 40);
    for (unsigned long k = 1; k <= 20; k++) dictAdd(d, IK(k), IK(k));
    st("meta dict", d);
    int intact = 1;
    for (int i = 0; i < 40; i++)
        if (m[i] != 0x5a) intact = 0;
    T("metadata intact after adds=%d", intact);
    dictRelease(d);
    T("metadata: memory returned %d", zmalloc_used_memory() == mem0);
}

/* ------------------------------------------------------------------------ */
/* Phase 3: resize policy (ENABLE / AVOID / FORBID, resizeAllowed, pause)    */
/* ------------------------------------------------------------------------ */

static void add_range(dict *d, unsigned long from, unsigned long to, const char *tag) {
    int pe0 = d->ht_size_exp[0], pe1 = d->ht_size_exp[1];
    long pri = d->rehashidx;
    for (unsigned long k = from; k <= to; k++) {
        int r = dictAdd(d, IK(k), IK(k));
        if (r != DICT_OK) T("%s: add %lu failed", tag, k);
        if (d->ht_size_exp[0] != pe0 || d->ht_size_exp[1] != pe1 || (pri == -1) != (d->rehashidx == -1) || trace_all) {
            char t[64];
            snprintf(t, sizeof(t), "%s add %lu", tag, k);
            st(t, d);
            pe0 = d->ht_size_exp[0];
            pe1 = d->ht_size_exp[1];
            pri = d->rehashidx;
        }
    }
    char t[64];
    snprintf(t, sizeof(t), "%s done", tag);
    st(t, d);
}
static void del_range(dict *d, unsigned long from, unsigned long to, const char *tag) {
    int pe0 = d->ht_size_exp[0], pe1 = d->ht_size_exp[1];
    long pri = d->rehashidx;
    for (unsigned long k = from; k <= to; k++) {
        int r = dictDelete(d, IK(k));
        if (r != DICT_OK) T("%s: delete %lu failed", tag, k);
        if (d->ht_size_exp[0] != pe0 || d->ht_size_exp[1] != pe1 || (pri == -1) != (d->rehashidx == -1) || trace_all) {
            char t[64];
            snprintf(t, sizeof(t), "%s del %lu", tag, k);
            st(t, d);
            pe0 = d->ht_size_exp[0];
            pe1 = d->ht_size_exp[1];
            pri = d->rehashidx;
        }
    }
    char t[64];
    snprintf(t, sizeof(t), "%s done", tag);
    st(t, d);
}

static void phase_policy(void) {
    T("== phase policy");
    ev_verbose = 1;
    dict *d = dictCreate(&intType);
    dictSetResizeEnabled(DICT_RESIZE_ENABLE);
    add_range(d, 1, 64, "enable");
    while (dictIsRehashing(d)) dictRehash(d, 100);

    dictSetResizeEnabled(DICT_RESIZE_AVOID);
    add_range(d, 65, 300, "avoid");
    T("avoid: dictRehash=%d", dictRehash(d, 100));
    st("avoid after rehash", d);
    add_range(d, 301, 600, "avoid2");
    T("avoid: dictRehash=%d", dictRehash(d, 100));
    st("avoid2 after rehash", d);
    /* Explicit expand while AVOID: allowed, but rehash refuses below ratio 4. */
    dictSetResizeEnabled(DICT_RESIZE_ENABLE);
    while (dictIsRehashing(d)) dictRehash(d, 100);
    st("enable: rehash complete", d);
    dictSetResizeEnabled(DICT_RESIZE_AVOID);
    T("avoid: dictExpand(1024)=%d", dictExpand(d, 1024));
    st("avoid: expanded", d);
    T("avoid: dictRehash(1024 from 512, refused)=%d", dictRehash(d, 10));
    T("avoid: find 5=%s", ks(dictFind(d, IK(5))));
    st("avoid: after refused rehash", d);
    dictSetResizeEnabled(DICT_RESIZE_ENABLE);
    while (dictIsRehashing(d)) dictRehash(d, 100);
    dictSetResizeEnabled(DICT_RESIZE_AVOID);
    T("avoid: dictExpand(4096) (ratio 4)=%d", dictExpand(d, 4096));
    T("avoid: dictRehash=%d", dictRehash(d, 10));
    st("avoid: ratio-4 rehash proceeds", d);
    dictSetResizeEnabled(DICT_RESIZE_ENABLE);
    while (dictIsRehashing(d)) dictRehash(d, 100);

    /* Shrinking under AVOID: needs 1/32. */
    dictSetResizeEnabled(DICT_RESIZE_AVOID);
    del_range(d, 1, 590, "avoid-shrink");
    T("avoid-shrink: dictRehash=%d", dictRehash(d, 100));
    st("avoid-shrink after rehash", d);
    dictSetResizeEnabled(DICT_RESIZE_ENABLE);
    while (dictIsRehashing(d)) dictRehash(d, 100);
    st("enable: shrink complete", d);

    /* FORBID: nothing grows, nothing rehashes. */
    dictSetResizeEnabled(DICT_RESIZE_FORBID);
    add_range(d, 1000, 1400, "forbid");
    T("forbid: expandIfNeeded=%d shrinkIfNeeded=%d", dictExpandIfNeeded(d), dictShrinkIfNeeded(d));
    T("forbid: dictExpand(4096)=%d", dictExpand(d, 4096));
    T("forbid: dictRehash=%d rehashMicroseconds=%d", dictRehash(d, 100), dictRehashMicroseconds(d, 1000));
    T("forbid: find 1200=%s", ks(dictFind(d, IK(1200))));
    st("forbid: after refused rehash", d);
    for (int i = 0; i < 5; i++) T("forbid random %d: %s", i, ks(dictGetRandomKey(d)));
    dictSetResizeEnabled(DICT_RESIZE_ENABLE);
    T("enable: find 1200=%s", ks(dictFind(d, IK(1200))));
    st("enable: after bucket rehash", d);
    while (dictIsRehashing(d)) dictRehash(d, 100);
    st("enable: done", d);

    /* resizeAllowed refusing. */
    rz_answer = 0;
    add_range(d, 2000, 6000, "refused");
    T("refused: expandIfNeeded=%d", dictExpandIfNeeded(d));
    rz_answer = 1;
    T("allowed: expandIfNeeded=%d", dictExpandIfNeeded(d));
    st("allowed", d);
    while (dictIsRehashing(d)) dictRehash(d, 100);

    /* pauseAutoResize */
    dictPauseAutoResize(d);
    add_range(d, 7000, 12000, "pausedAR");
    dictResumeAutoResize(d);
    T("resumed: expandIfNeeded=%d", dictExpandIfNeeded(d));
    st("resumed", d);
    while (dictIsRehashing(d)) dictRehash(d, 100);
    dictPauseAutoResize(d);
    del_range(d, 7000, 12000, "pausedAR-del");
    dictResumeAutoResize(d);
    T("resumed: shrinkIfNeeded=%d", dictShrinkIfNeeded(d));
    st("resumed shrink", d);
    while (dictIsRehashing(d)) dictRehash(d, 100);
    T("shrinkIfNeeded not needed=%d expandIfNeeded not needed=%d", dictShrinkIfNeeded(d), dictExpandIfNeeded(d));
    st("policy end", d);

    /* Paused rehashing: lookups and dictRehashMicroseconds do nothing. */
    dictExpand(d, dictSize(d) * 8);
    dictPauseRehashing(d);
    long ridx = d->rehashidx;
    dictFind(d, IK(2500));
    dictAdd(d, IK(99999), IK(1));
    dictDelete(d, IK(2501));
    T("paused: rehashMicroseconds=%d rehashidx unchanged=%d", dictRehashMicroseconds(d, 1000), ridx == d->rehashidx);
    dictResumeRehashing(d);
    st("paused ops", d);
    dictEmpty(d, NULL);
    st("emptied", d);
    dictRelease(d);
    dictSetResizeEnabled(DICT_RESIZE_ENABLE);
}

/* ------------------------------------------------------------------------ */
/* Phase 4: big integer dict (100k keys, multi-step rehash)                  */
/* ------------------------------------------------------------------------ */

#define BIGN 100000UL
static unsigned long empty_cb_calls;
static void emptyCb(dict *d) {
    empty_cb_calls++;
    ev("emptyCallback #%lu used=[%lu,%lu]", empty_cb_calls, d->ht_used[0], d->ht_used[1]);
}

static void phase_big_int(void) {
    T("== phase big_int");
    ev_verbose = 1; /* rehashing events are few: print them */
    size_t mem0 = zmalloc_used_memory();
    dict *d = dictCreate(&intType);
    sdig = 0;
    sdig_ops = 0;
    for (unsigned long k = 1; k <= BIGN; k++) {
        sdig_upd(d, dictAdd(d, IK(k), IK(k * 2 + 1)));
        if (k % 10000 == 0) sdig_ckpt("big add", d);
    }
    T("dictMemUsage=%zu", dictMemUsage(d));
    unsigned long hits = 0;
    for (unsigned long k = 1; k <= BIGN + 1000; k++) {
        dictEntry *de = dictFind(d, IK(k));
        if (de && KI(dictGetVal(de)) == k * 2 + 1) hits++;
        sdig_upd(d, de != NULL);
    }
    T("big finds: hits=%lu", hits);
    sdig_ckpt("big find", d);

    /* Random op mix across an expansion; the destructor events go to the digest. */
    T("expand before mix=%d", dictExpand(d, 1UL << (d->ht_size_exp[0] + 2)));
    st("mix start", d);
    ev_verbose = 0;
    for (unsigned long i = 0; i < 200000; i++) {
        uint64_t r = xs();
        unsigned long k = 1 + (r >> 8) % (BIGN * 2);
        uint64_t ret;
        switch (r & 7) {
        case 0:
        case 1: ret = dictAdd(d, IK(k), IK(k * 2 + 1)); break;
        case 2: ret = dictDelete(d, IK(k)); break;
        case 3: ret = dictReplace(d, IK(k), IK(k * 2 + 1)); break;
        case 4: {
            dictEntry *de = dictUnlink(d, IK(k));
            ret = de ? KI(dictGetKey(de)) : 0;
            dictFreeUnlinkedEntry(d, de);
            break;
        }
        case 5: {
            unsigned long before = dictSize(d);
            dictEntry *de = dictAddOrFind(d, IK(k));
            if (dictSize(d) != before) dictSetVal(d, de, IK(k * 2 + 1)); /* new: value unspecified until set */
            ret = KI(dictGetVal(de));
            break;
        }
        case 6: ret = KI(dictFetchValue(d, IK(k))); break;
        default: {
            dictEntry *de = dictGetRandomKey(d);
            ret = de ? KI(dictGetKey(de)) : 0;
            break;
        }
        }
        sdig_upd(d, ret);
        if ((i + 1) % 20000 == 0) sdig_ckpt("big mix", d);
    }
    ev_summary("big mix");
    info_counts("big mix");
    ev_verbose = 1;

    /* Start an expansion, step it, then scan across it with modifications between scan calls. */
    while (dictIsRehashing(d)) dictRehash(d, 1000);
    T("expand to 4x=%d", dictExpand(d, 1UL << (d->ht_size_exp[0] + 2)));
    st("big expanding", d);
    for (int i = 0; i < 5; i++) {
        int r = dictRehash(d, 7);
        char tag[40];
        snprintf(tag, sizeof(tag), "big dictRehash(7) ret=%d", r);
        st(tag, d);
    }
    {
        /* Everything present for the whole scan must be returned. */
        static unsigned char seen[BIGN * 3];
        memset(seen, 0, sizeof(seen));
        acc a = {0};
        a.seen = seen;
        a.seen_len = sizeof(seen);
        static unsigned char stable[BIGN * 3];
        memset(stable, 0, sizeof(stable));
        dictPauseRehashing(d); /* the stable-set census must not move the table */
        for (unsigned long k = 1; k <= BIGN * 2; k++)
            if (dictFind(d, IK(k))) stable[k] = 1;
        dictResumeRehashing(d);
        st("before scan", d);
        unsigned long cursor = 0, calls = 0;
        uint64_t cdig = 0;
        int old_verbose = ev_verbose;
        ev_verbose = 0;
        do {
            cursor = dictScan(d, cursor, scanCb, &a);
            calls++;
            cdig = fnv(cdig, &cursor, sizeof(cursor));
            uint64_t r = xs();
            unsigned long k = 1 + (r >> 8) % (BIGN * 2);
            if (r & 1) {
                if (dictDelete(d, IK(k)) == DICT_OK) stable[k] = 0;
            } else {
                dictAdd(d, IK(k), IK(k * 2 + 1));
            }
            if (calls % 100 == 0) sdig_upd(d, cursor);
            if (calls % 20000 == 0) sdig_ckpt("big scan", d);
        } while (cursor != 0);
        ev_verbose = old_verbose;
        unsigned long missing = 0;
        for (unsigned long k = 1; k <= BIGN * 2; k++)
            if (stable[k] && !seen[k]) missing++;
        T("scan with modifications: calls=%lu cursordigest=%016llx missing=%lu", calls, (unsigned long long)cdig,
          missing);
        acc_print("scan with modifications", &a);
        ev_summary("big scan");
        st("after scan", d);
    }
    /* Sampling and iteration across another expansion. */
    while (dictIsRehashing(d)) dictRehash(d, 1000);
    T("expand to 2x again=%d", dictExpand(d, 1UL << (d->ht_size_exp[0] + 1)));
    st("big expanding again", d);
    {
        dictEntry *des[1000];
        uint64_t h = 0;
        for (int round = 0; round < 40; round++) {
            unsigned int cnt = (unsigned int)(1 + (xs() % 1000));
            unsigned int got = dictGetSomeKeys(d, des, cnt);
            for (unsigned int i = 0; i < got; i++) {
                uint64_t k = KI(dictGetKey(des[i]));
                h = fnv(h, &k, sizeof(k));
            }
            h = fnv(h, &got, sizeof(got));
            sdig_upd(d, got);
            dictEntry *de = dictGetRandomKey(d);
            uint64_t k = KI(dictGetKey(de));
            h = fnv(h, &k, sizeof(k));
            de = dictGetFairRandomKey(d);
            k = KI(dictGetKey(de));
            h = fnv(h, &k, sizeof(k));
            sdig_upd(d, k);
        }
        T("sampling digest=%016llx", (unsigned long long)h);
        sdig_ckpt("big sampling", d);
    }
    /* Iterate while rehashing: safe + unsafe. */
    T("rehashing during iteration test: %d", dictIsRehashing(d));
    iterate("big unsafe iter", d, 0, 0);
    iterate("big safe iter", d, 1, 1);
    check_fingerprint("big fp", d);
    {
        acc a = {0};
        scan_dict = d;
        scan_unpaused = scan_lookups_missed = 0;
        full_scan("big scan rehashing", d, 0, NULL, &a);
        scan_dict = NULL;
        T("big scan callbacks: rehash not paused=%lu lookups missed=%lu", scan_unpaused, scan_lookups_missed);
        st("after big scan", d);
        acc b = {0};
        scan_del_dict = d;
        scan_del_mod = 5;
        scan_deleted = 0;
        full_scan("big scan deleting in callback", d, 0, NULL, &b);
        scan_del_dict = NULL;
        T("big scan deleting in callback: deleted=%lu", scan_deleted);
        st("after big scan with deletes", d);
    }

    /* Time-bounded rehash: only whether it did work is compared. */
    if (dictIsRehashing(d)) {
        int old_verbose = ev_verbose;
        ev_verbose = 0; /* the completion event may come from either call below */
        int r = dictRehashMicroseconds(d, 1);
        T("dictRehashMicroseconds did work: %d", r > 0);
        while (dictIsRehashing(d)) dictRehashMicroseconds(d, 100000);
        ev_verbose = old_verbose;
        ev_summary("rehashMicroseconds");
        st("after rehashMicroseconds", d);
    } else {
        T("dictRehashMicroseconds: NOT REHASHING (test setup broken)");
    }

    /* Delete 95%: shrink with multi-step rehash. */
    {
        unsigned long deleted = 0;
        for (unsigned long k = 1; k <= BIGN * 2; k++) {
            if (k % 20 == 0) continue;
            int r = dictDelete(d, IK(k));
            if (r == DICT_OK) deleted++;
            sdig_upd(d, r);
        }
        ev_summary("big delete"); /* includes destructors, printed above in verbose */
        T("deleted=%lu", deleted);
        sdig_ckpt("big delete", d);
    }
    /* Refill then dictEmpty with a callback: >65536 buckets -> several callbacks. */
    ev_verbose = 0;
    for (unsigned long k = 1; k <= BIGN * 2; k++) dictAdd(d, IK(k), IK(k));
    ev_verbose = 1;
    ev_summary("refill");
    st("refilled", d);
    dictExpand(d, dictSize(d) * 2);
    dictRehash(d, 1000);
    st("before dictEmpty", d);
    ev_verbose = 0;
    empty_cb_calls = 0;
    dictEmpty(d, emptyCb);
    ev_verbose = 1;
    T("dictEmpty callbacks=%lu", empty_cb_calls);
    ev_summary("dictEmpty");
    st("after dictEmpty", d);
    dictRelease(d);
    T("big_int: memory returned %d", zmalloc_used_memory() == mem0);

    /* Long chains: reservoir sampling in dictGetSomeKeys. */
    d = dictCreate(&weakType);
    for (unsigned long k = 1; k <= 400; k++) dictAdd(d, IK(k), IK(k));
    st("weak", d);
    {
        dictEntry *des[20];
        for (int round = 0; round < 20; round++) {
            unsigned int cnt = (unsigned int)(1 + round);
            unsigned int got = dictGetSomeKeys(d, des, cnt);
            char line[1024];
            size_t ll = 0;
            for (unsigned int i = 0; i < got; i++) ll += snprintf(line + ll, sizeof(line) - ll, " %s", ks(des[i]));
            line[ll] = 0;
            T("weak getSomeKeys(%u)=%u:%s", cnt, got, line);
        }
        for (int i = 0; i < 10; i++)
            T("weak random=%s fair=%s", ks(dictGetRandomKey(d)), ks(dictGetFairRandomKey(d)));
        acc a = {0};
        full_scan("weak scan", d, 1, NULL, &a);
        iterate("weak iter", d, 0, 1);
        dictEntry *de = dictFind(d, IK(8));
        int len = 0;
        while (de) {
            len++;
            de = dictGetNext(de);
        }
        T("weak chain length from key 8: %d", len);
    }
    dictRelease(d);

    /* Bare type: no callbacks at all. */
    d = dictCreate(&bareIntType);
    for (unsigned long k = 1; k <= 5000; k++) dictAdd(d, IK(k), IK(k));
    for (unsigned long k = 1; k <= 5000; k += 2) dictDelete(d, IK(k));
    st("bare", d);
    dictEmpty(d, NULL);
    dictRelease(d);
}

/* ------------------------------------------------------------------------ */
/* Phase 5: string dict: keyDup, destructors, defrag scans                   */
/* ------------------------------------------------------------------------ */

#define STRN 20000UL

static void verify_strings(const char *tag, dict *d, unsigned long n) {
    unsigned long ok = 0, present = 0;
    char buf[64];
    for (unsigned long i = 0; i < n; i++) {
        snprintf(buf, sizeof(buf), "key:%06lu", i);
        dictEntry *de = dictFind(d, buf);
        if (!de) continue;
        present++;
        char vb[64];
        snprintf(vb, sizeof(vb), "val:%06lu", i);
        if (strcmp(dictGetKey(de), buf) == 0 && strcmp(dictGetVal(de), vb) == 0) ok++;
    }
    T("%s: present=%lu intact=%lu", tag, present, ok);
}

static void phase_strings(void) {
    T("== phase strings");
    ev_verbose = 2;
    size_t mem0 = zmalloc_used_memory();
    dict *d = dictCreate(&strType);
    /* Small, verbose: keyDup and destructor order. */
    char kb[64];
    for (unsigned long i = 0; i < 8; i++) {
        snprintf(kb, sizeof(kb), "key:%06lu", i);
        T("add %s=%d", kb, dictAdd(d, kb, mkstr("val:", i)));
    }
    snprintf(kb, sizeof(kb), "key:%06lu", 3UL);
    char *dupval = mkstr("dup:", 3);
    T("add dup=%d", dictAdd(d, kb, dupval));
    zfree(dupval);
    watch_entry = dictFind(d, kb);
    T("replace existing=%d", dictReplace(d, kb, mkstr("rep:", 3)));
    watch_entry = NULL;
    snprintf(kb, sizeof(kb), "key:%06lu", 100UL);
    T("replace new=%d", dictReplace(d, kb, mkstr("val:", 100)));
    dictEntry *de = dictAddOrFind(d, kb);
    T("addOrFind existing %s", (char *)dictGetKey(de));
    snprintf(kb, sizeof(kb), "key:%06lu", 101UL);
    de = dictAddOrFind(d, kb);
    T("addOrFind new %s", (char *)dictGetKey(de));
    dictSetVal(d, de, mkstr("val:", 101));
    /* dictSetKey calls keyDup: replace the key with an equal copy. */
    {
        char *old = dictGetKey(de);
        dictSetKey(d, de, "key:000101");
        T("setKey dup'd: %d", dictGetKey(de) != (void *)"key:000101");
        zfree(old);
    }
    snprintf(kb, sizeof(kb), "key:%06lu", 2UL);
    de = dictUnlink(d, kb);
    T("unlink %s -> %s", kb, de ? (char *)dictGetKey(de) : "NULL");
    dictFreeUnlinkedEntry(d, de);
    snprintf(kb, sizeof(kb), "key:%06lu", 4UL);
    T("delete %s=%d", kb, dictDelete(d, kb));
    snprintf(kb, sizeof(kb), "key:%06lu", 200UL);
    void *pos = dictFindPositionForInsert(d, kb, NULL);
    de = dictInsertAtPosition(d, zstrdup(kb), pos); /* InsertAtPosition does not dup */
    dictSetVal(d, de, mkstr("val:", 200));
    st("small strings", d);
    {
        acc a = {.strkeys = 1};
        full_scan("small str scan", d, 1, NULL, &a);
    }
    dictEmpty(d, NULL);
    st("emptied", d);

    /* Bulk. */
    ev_verbose = 0;
    sdig = 0;
    sdig_ops = 0;
    for (unsigned long i = 0; i < STRN; i++) {
        snprintf(kb, sizeof(kb), "key:%06lu", i);
        sdig_upd(d, dictAdd(d, kb, mkstr("val:", i)));
    }
    ev_summary("str add");
    sdig_ckpt("str add", d);
    verify_strings("after add", d, STRN);
    size_t mem_before = zmalloc_used_memory();

    /* Defrag scans: stable table, then while rehashing (expand and shrink). */
    dictDefragFunctions all = {.defragAlloc = defragAllocCb, .defragKey = defragKeyCb, .defragVal = defragValCb};
    dictDefragFunctions only_alloc = {.defragAlloc = defragAllocCb};
    for (int round = 0; round < 4; round++) {
        acc a = {.strkeys = 1};
        char tag[64];
        dfr_calls = 0;
        if (round == 1) T("expand=%d", dictExpand(d, STRN * 4));
        if (round == 3) {
            while (dictIsRehashing(d)) dictRehash(d, 1000);
            for (unsigned long i = STRN / 10; i < STRN; i++) {
                snprintf(kb, sizeof(kb), "key:%06lu", i);
                dictDelete(d, kb);
            }
            ev_summary("str delete");
            st("shrinking", d);
        }
        snprintf(tag, sizeof(tag), "defrag round %d", round);
        st(tag, d);
        size_t m0 = zmalloc_used_memory();
        full_scan(tag, d, 0, round == 2 ? &only_alloc : &all, &a);
        T("%s: defrag calls=%lu mem unchanged=%d", tag, dfr_calls, zmalloc_used_memory() == m0);
        ev_summary(tag);
        verify_strings(tag, d, STRN);
        if (round == 1) {
            /* Drive part of the rehash by lookups (bucket rehash). */
            for (unsigned long i = 0; i < 500; i++) {
                snprintf(kb, sizeof(kb), "key:%06lu", i * 7);
                dictFind(d, kb);
            }
            st("after lookups", d);
        }
    }
    T("memory before/after defrag rounds same (minus deletes)=%d", zmalloc_used_memory() <= mem_before);
    iterate_k("str iter", d, 1, 0, 1);

    /* Safe iterator deleting everything it returns. */
    {
        dictIterator *it = dictGetSafeIterator(d);
        unsigned long n = 0;
        while ((de = dictNext(it)) != NULL) {
            if (n % 2 == 0) dictDelete(d, dictGetKey(de));
            n++;
        }
        dictReleaseIterator(it);
        ev_summary("safe-iter deletes");
        T("safe iter deletes: visited=%lu", n);
        st("after safe iter deletes", d);
    }
    dictRelease(d);
    ev_summary("str release");
    T("strings: memory returned %d (delta=%lld)", zmalloc_used_memory() == mem0,
      (long long)zmalloc_used_memory() - (long long)mem0);

    /* Ownership without keyDup. */
    ev_verbose = 2;
    d = dictCreate(&strNoDupType);
    for (unsigned long i = 0; i < 5; i++) dictAdd(d, mkstr("own:", i), mkstr("v:", i));
    dictReplace(d, "own:000001", mkstr("v2:", 1));
    dictRelease(d);
    T("ownership: memory returned %d", zmalloc_used_memory() == mem0);

    /* Case-insensitive dict. */
    d = dictCreate(&caseType);
    dictAdd(d, "Hello", IK(1));
    dictAdd(d, "World", IK(2));
    T("case: add HELLO=%d find hello=%lu find WORLD=%lu find nope=%s", dictAdd(d, "HELLO", IK(3)),
      KI(dictFetchValue(d, "hello")), KI(dictFetchValue(d, "WORLD")), ks(dictFind(d, "nope")));
    T("case: hash equal=%d", dictGetHash(d, "hElLo") == dictGetHash(d, "HELLO"));
    dictRelease(d);
}

/* ------------------------------------------------------------------------ */
/* Phase 6: assertions (in forked children)                                  */
/* ------------------------------------------------------------------------ */

static void crash_unsafe_iter(void) {
    dict *d = dictCreate(&bareIntType);
    for (unsigned long k = 1; k <= 100; k++) dictAdd(d, IK(k), IK(k));
    dictIterator *it = dictGetIterator(d);
    dictNext(it);
    dictAdd(d, IK(1000), IK(1)); /* forbidden during unsafe iteration */
    dictReleaseIterator(it);     /* fingerprint mismatch -> assert */
}
static void crash_rehashing_info(void) {
    dict *d = dictCreate(&bareIntType);
    dictAdd(d, IK(1), IK(1));
    unsigned long long a, b;
    dictRehashingInfo(d, &a, &b); /* not rehashing -> assert */
}
static void crash_pauserehash(void) {
    dict *d = dictCreate(&bareIntType);
    dictAdd(d, IK(1), IK(1));
    dictIterator it;
    dictInitSafeIterator(&it, d);
    dictNext(&it);
    dictResumeRehashing(d); /* caller bug: unbalanced resume */
    dictResetIterator(&it); /* pauserehash < 0 -> assert */
}
static void no_crash_unsafe_iter(void) {
    dict *d = dictCreate(&bareIntType);
    for (unsigned long k = 1; k <= 100; k++) dictAdd(d, IK(k), IK(k));
    while (dictIsRehashing(d)) dictRehash(d, 100);
    dictIterator *it = dictGetIterator(d);
    while (dictNext(it));
    dictFind(d, IK(5)); /* not rehashing: no change */
    dictReleaseIterator(it);
    dictRelease(d);
}

static void phase_asserts(void) {
    T("== phase asserts");
    expect_crash("unsafe iterator misuse", crash_unsafe_iter);
    expect_crash("dictRehashingInfo when not rehashing", crash_rehashing_info);
    expect_crash("safe iterator pauserehash<0", crash_pauserehash);
    expect_crash("unsafe iterator correct use", no_crash_unsafe_iter);
}

/* ------------------------------------------------------------------------ */
/* Phase 7: random operation mix (differential fuzz)                         */
/* ------------------------------------------------------------------------ */

static dict *fuzz_scan_del;
static void fuzz_scanCb(void *privdata, const dictEntry *de) {
    uint64_t *h = privdata;
    uint64_t k = KI(dictGetKey(de));
    *h = fnv(*h, &k, sizeof(k));
    if (fuzz_scan_del && k % 4 == 0) dictDelete(fuzz_scan_del, IK(k));
}
static void *fuzz_defragAlloc(void *p) {
    return (xs() & 1) ? dfr_move(p) : NULL;
}

static void phase_fuzz(uint64_t seed, unsigned long nops) {
    T("== phase fuzz seed=%llu ops=%lu", (unsigned long long)seed, nops);
    int old_verbose = ev_verbose;
    ev_verbose = 0;
    xs_state = mix64(seed) | 1;
    dictType *types[3] = {&intType, &weakType, &bareIntType};
    dict *ds[3];
    unsigned long cursor[3] = {0, 0, 0};
    int pause_ar[3] = {0, 0, 0}, pause_rh[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) ds[i] = dictCreate(types[i]);
    unsigned long keyspace = 1000;
    uint64_t h = 0;
    dictDefragFunctions df = {.defragAlloc = fuzz_defragAlloc};
    sdig = 0;
    sdig_ops = 0;
    for (unsigned long op = 0; op < nops; op++) {
        if (op % 20000 == 0) {
            static const unsigned long spaces[] = {40, 1000, 30000, 300};
            keyspace = spaces[(op / 20000) % 4];
        }
        uint64_t r = xs();
        int which = (int)(r % 3);
        /* the weak-hash dict only ever sees small key spaces (long chains) */
        unsigned long ks_ = which == 1 && keyspace > 2000 ? 2000 : keyspace;
        dict *d = ds[which];
        unsigned long k = 1 + (xs() % ks_);
        uint64_t ret = 0;
        unsigned int kind = (unsigned int)((r >> 8) % 100);
        dictEntry *de;
        if (kind < 25) {
            ret = dictAdd(d, IK(k), IK(k + 1));
        } else if (kind < 38) {
            ret = dictDelete(d, IK(k));
        } else if (kind < 43) {
            ret = dictReplace(d, IK(k), IK(k + 2));
        } else if (kind < 46) {
            de = dictUnlink(d, IK(k));
            ret = de ? KI(dictGetKey(de)) : 0;
            dictFreeUnlinkedEntry(d, de);
        } else if (kind < 49) {
            unsigned long before = dictSize(d);
            de = dictAddOrFind(d, IK(k));
            if (dictSize(d) != before) dictSetVal(d, de, IK(k + 4)); /* new: value unspecified until set */
            ret = KI(dictGetVal(de));
        } else if (kind < 52) {
            dictEntry *ex = NULL;
            void *pos = dictFindPositionForInsert(d, IK(k), &ex);
            if (pos) {
                de = dictInsertAtPosition(d, IK(k), pos);
                dictSetVal(d, de, IK(k + 3));
                ret = 1;
            } else {
                ret = KI(dictGetKey(ex)) + 10;
            }
        } else if (kind < 60) {
            de = dictFind(d, IK(k));
            ret = de ? KI(dictGetVal(de)) : 0;
        } else if (kind < 62) {
            de = dictGetRandomKey(d);
            ret = de ? KI(dictGetKey(de)) : 0;
        } else if (kind < 64) {
            de = dictGetFairRandomKey(d);
            ret = de ? KI(dictGetKey(de)) : 0;
        } else if (kind < 66) {
            dictEntry *des[64];
            unsigned int cnt = (unsigned int)(xs() % 64);
            unsigned int got = dictGetSomeKeys(d, des, cnt);
            for (unsigned int i = 0; i < got; i++) ret = ret * 31 + KI(dictGetKey(des[i]));
            ret ^= got;
        } else if (kind < 72) {
            uint64_t sh = 0;
            uint64_t how = xs();
            if (how % 16 == 0) cursor[which] = xs(); /* arbitrary cursor, as a client may send */
            fuzz_scan_del = (how >> 8) % 8 == 0 ? d : NULL;
            cursor[which] = ((how >> 16) % 4 == 0) ? dictScanDefrag(d, cursor[which], fuzz_scanCb, &df, &sh)
                                            : dictScan(d, cursor[which], fuzz_scanCb, &sh);
            fuzz_scan_del = NULL;
            ret = sh ^ cursor[which];
        } else if (kind < 75) {
            ret = dictRehash(d, (int)(1 + xs() % 20));
        } else if (kind < 77) {
            unsigned long sz = xs() % (xs() & 1 ? 64 : 70000);
            ret = dictExpand(d, sz) * 2 + 0;
        } else if (kind < 78) {
            unsigned long sz = (xs() % 50 == 0) ? (1UL << 50) : xs() % 70000;
            ret = dictTryExpand(d, sz);
        } else if (kind < 80) {
            unsigned long sz = xs() % (dictSize(d) * 2 + 5);
            ret = dictShrink(d, sz);
        } else if (kind < 81) {
            ret = dictExpandIfNeeded(d);
        } else if (kind < 82) {
            ret = dictShrinkIfNeeded(d);
        } else if (kind < 83) {
            static const dictResizeEnable pol[] = {DICT_RESIZE_ENABLE, DICT_RESIZE_ENABLE, DICT_RESIZE_AVOID,
                                                    DICT_RESIZE_FORBID};
            dictResizeEnable p = pol[xs() % 4];
            dictSetResizeEnabled(p);
            ret = p;
        } else if (kind < 85) {
            if (pause_ar[which] > 0 && xs() % 3 != 0) {
                dictResumeAutoResize(d);
                pause_ar[which]--;
            } else if (pause_ar[which] < 3 && d->ht_table[0] != NULL) {
                /* (pausing auto-resize of an unallocated dict makes the next add crash in dict.c too) */
                dictPauseAutoResize(d);
                pause_ar[which]++;
            }
            ret = d->pauseAutoResize;
        } else if (kind < 87) {
            if (pause_rh[which] > 0 && xs() % 3 != 0) {
                dictResumeRehashing(d);
                pause_rh[which]--;
            } else if (pause_rh[which] < 2) {
                dictPauseRehashing(d);
                pause_rh[which]++;
            }
            ret = d->pauserehash;
        } else if (kind < 89) {
            /* partial safe iteration with deletes and adds */
            dictIterator it;
            dictInitSafeIterator(&it, d);
            int n = (int)(xs() % 50);
            while (n-- > 0 && (de = dictNext(&it)) != NULL) {
                unsigned long kk = KI(dictGetKey(de));
                ret = ret * 31 + kk;
                uint64_t a = xs() % 4;
                if (a == 0) dictDelete(d, IK(kk));
                else if (a == 1) dictAdd(d, IK(1 + xs() % ks_), IK(5));
            }
            dictResetIterator(&it);
        } else if (kind < 90) {
            /* full unsafe iteration */
            dictIterator *it = dictGetIterator(d);
            while ((de = dictNext(it)) != NULL) ret += mix64(KI(dictGetKey(de)));
            dictReleaseIterator(it);
        } else if (kind < 93) {
            /* burst of adds */
            for (int i = 0; i < 200; i++) dictAdd(d, IK(1 + xs() % ks_), IK(7));
            ret = dictSize(d);
        } else if (kind < 96) {
            /* burst of deletes */
            for (int i = 0; i < 300; i++) dictDelete(d, IK(1 + xs() % ks_));
            ret = dictSize(d);
        } else if (kind < 97) {
            if (xs() % 20 == 0) {
                dictEmpty(d, NULL);
                pause_ar[which] = pause_rh[which] = 0;
                cursor[which] = 0;
            }
            ret = dictSize(d);
        } else {
            de = dictFind(d, IK(k));
            if (de) {
                dictSetUnsignedIntegerVal(de, k * 5);
                ret = dictIncrUnsignedIntegerVal(de, 3);
            }
        }
        h = fnv(h, &ret, sizeof(ret));
        sdig_upd(d, ret);
        if ((op + 1) % 25000 == 0) {
            T("fuzz ckpt ops=%lu sdig=%016llx h=%016llx", op + 1, (unsigned long long)sdig, (unsigned long long)h);
            for (int i = 0; i < 3; i++) {
                char tag[32];
                snprintf(tag, sizeof(tag), "  fuzz d%d", i);
                st(tag, ds[i]);
            }
            ev_summary("fuzz");
            info_counts("fuzz");
        }
    }
    dictSetResizeEnabled(DICT_RESIZE_ENABLE);
    for (int i = 0; i < 3; i++) {
        while (pause_rh[i]-- > 0) dictResumeRehashing(ds[i]);
        dictRelease(ds[i]);
    }
    ev_summary("fuzz end");
    ev_verbose = old_verbose;
    T("fuzz done: sdig=%016llx h=%016llx", (unsigned long long)sdig, (unsigned long long)h);
}

int main(void) {
    setvbuf(stdout, NULL, _IOFBF, 1 << 16);
    trace_all = getenv("DICT_TRACE_ALL") != NULL;
    monotonicInit();
    init_genrand64(0x5eed5eedULL);
    srandom(12345);
    srand(67890);
    T("dict differential trace v1");
    T("start mem=%zu", zmalloc_used_memory());
    const char *fs = getenv("DICT_FUZZ_SEED");
    const char *fo = getenv("DICT_FUZZ_OPS");
    unsigned long fuzz_ops = fo ? strtoul(fo, NULL, 10) : 200000;
    if (fs) {
        /* Fuzz-only run: DICT_FUZZ_SEED=n [DICT_FUZZ_OPS=n] */
        uint8_t seed[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
        dictSetHashFunctionSeed(seed);
        phase_fuzz(strtoull(fs, NULL, 10), fuzz_ops);
        T("end mem=%zu", zmalloc_used_memory());
        T("trace complete");
        return 0;
    }
    phase_globals();
    ev_summary("globals");
    info_counts("globals");
    phase_small_int();
    ev_summary("small_int");
    info_counts("small_int");
    phase_metadata();
    ev_summary("metadata");
    info_counts("metadata");
    phase_policy();
    ev_summary("policy");
    info_counts("policy");
    phase_big_int();
    ev_summary("big_int");
    info_counts("big_int");
    phase_strings();
    ev_summary("strings");
    info_counts("strings");
    phase_asserts();
    ev_summary("asserts");
    info_counts("asserts");
    phase_fuzz(42, fuzz_ops);
    T("end mem=%zu", zmalloc_used_memory());
    T("trace complete");
    return 0;
}
