/* One-line accessors between valkey-rs-core's Rust lazyfree / replica-expire
 * code and the Valkey server (bitfields, macros, struct fields, server-only
 * functions). No logic lives here: the decisions are made in Rust
 * (src/lazyfree, src/expire); these functions only read or call what Rust
 * cannot name safely.
 *
 * Compiled by build.rs (build_accessors) against the Valkey tree given in
 * VALKEY_SRC_DIR. valkey-cli and valkey-benchmark link the same static library
 * but define none of the server symbols used below, so every server symbol is
 * declared weak: in those binaries it resolves to NULL, and nothing there ever
 * calls these shims (only the server starts the lazyfree worker or calls the
 * lazyfree / replica-expire entry points). */

#include "server.h"
#include "bio.h"
#include "cluster.h"
#include "functions.h"
#include "module.h"
#include "stream.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>

/* Server-only symbols: weak, see above. */
#pragma weak server
#pragma weak decrRefCount
#pragma weak objectGetVal
#pragma weak hashtableSize
#pragma weak zslGetLength
#pragma weak moduleGetFreeEffort
#pragma weak kvstoreCreate
#pragma weak kvstoreSize
#pragma weak kvstoreRelease
#pragma weak kvstoreKeysHashtableType
#pragma weak kvstoreExpiresHashtableType
#pragma weak freeTrackingRadixTree
#pragma weak raxFreeWithCallback
#pragma weak raxFree
#pragma weak raxSize
#pragma weak raxStart
#pragma weak raxSeek
#pragma weak raxNext
#pragma weak raxStop
#pragma weak freeEvalScripts
#pragma weak functionsLibCtxFunctionsLen
#pragma weak functionsLibCtxFree
#pragma weak listRelease
#pragma weak _serverLog
#pragma weak serverSetCpuAffinity
#pragma weak makeThreadKillable
#pragma weak serverInitThreadAttribute
#pragma weak getKVStoreIndexForKey
#pragma weak dbFindExpiresWithDictIndex
#pragma weak activeExpireCycleTryExpire
#pragma weak postExecutionUnitOperations
#pragma weak mstime
#pragma weak sdsdup
#pragma weak dictSdsHash
#pragma weak dictSdsKeyCompare
#pragma weak dictSdsDestructor

/* Defined in expire.c, not declared in a header. */
int activeExpireCycleTryExpire(serverDb *db, robj *val, mstime_t now, int didx);

/* The Rust side hard-codes these values (src/lazyfree/effort.rs, src/ffi/lazyfree.rs);
 * the build fails here if Valkey ever changes them. */
_Static_assert(OBJ_STRING == 0 && OBJ_LIST == 1 && OBJ_SET == 2 && OBJ_ZSET == 3 && OBJ_HASH == 4 &&
                   OBJ_MODULE == 5 && OBJ_STREAM == 6,
               "object types changed: update src/lazyfree/effort.rs");
_Static_assert(OBJ_ENCODING_HASHTABLE == 2 && OBJ_ENCODING_SKIPLIST == 7 && OBJ_ENCODING_QUICKLIST == 9,
               "object encodings changed: update src/lazyfree/effort.rs");
_Static_assert(KVSTORE_ALLOCATE_HASHTABLES_ON_DEMAND == 1 && KVSTORE_FREE_EMPTY_HASHTABLES == 2 &&
                   CLUSTER_SLOT_MASK_BITS == 14,
               "kvstore flags changed: update src/ffi/lazyfree.rs");

/* ---- robj ---- */
int vkrs_obj_type(const robj *o) { return o->type; }
int vkrs_obj_encoding(const robj *o) { return o->encoding; }
unsigned vkrs_obj_refcount(const robj *o) { return o->refcount; }
void *vkrs_obj_val(const robj *o) { return objectGetVal(o); }
void vkrs_decr_ref_count(robj *o) { decrRefCount(o); }

/* ---- free-effort inputs ---- */
size_t vkrs_quicklist_len(const void *ql) { return ((const quicklist *)ql)->len; }
size_t vkrs_hashtable_size(const void *ht) { return hashtableSize((const hashtable *)ht); }
size_t vkrs_zset_length(const void *zs) { return zslGetLength(((const zset *)zs)->zsl); }
size_t vkrs_stream_rax_nodes(const void *s) { return ((const stream *)s)->rax->numnodes; }
size_t vkrs_stream_cgroups(const void *s) {
    const stream *st = s;
    return st->cgroups ? raxSize(st->cgroups) : 0;
}
/* PEL size of the first consumer group (lazyfree.c's estimate for all of them);
 * 0 with no groups. The raxNext failure is lazyfree.c's serverAssert. */
size_t vkrs_stream_first_group_pel(const void *s) {
    const stream *st = s;
    raxIterator ri;
    raxStart(&ri, st->cgroups);
    raxSeek(&ri, "^", NULL, 0);
    serverAssert(raxNext(&ri));
    size_t pel = raxSize(((streamCG *)ri.data)->pel);
    raxStop(&ri);
    return pel;
}
size_t vkrs_module_free_effort(robj *key, robj *obj, int dbid) { return moduleGetFreeEffort(key, obj, dbid); }

/* ---- databases ---- */
/* The accessors FLUSHALL ASYNC calls share the section of the library's flush path
 * (submit in src/ffi/lazyfree.rs says why). */
#define FLUSH_PATH __attribute__((section(".text.hot.vkrs_flush")))
FLUSH_PATH int vkrs_cluster_enabled(void) { return server.cluster_enabled; }
FLUSH_PATH kvstore **vkrs_db_keys_slot(serverDb *db) { return &db->keys; }
FLUSH_PATH kvstore **vkrs_db_expires_slot(serverDb *db) { return &db->expires; }
FLUSH_PATH kvstore **vkrs_db_volatile_items_slot(serverDb *db) { return &db->keys_with_volatile_items; }
FLUSH_PATH kvstore *vkrs_kvstore_create_keys(int bits, int flags) { return kvstoreCreate(&kvstoreKeysHashtableType, bits, flags); }
FLUSH_PATH kvstore *vkrs_kvstore_create_expires(int bits, int flags) {
    return kvstoreCreate(&kvstoreExpiresHashtableType, bits, flags);
}
FLUSH_PATH size_t vkrs_kvstore_size(kvstore *kvs) { return kvstoreSize(kvs); }
void vkrs_kvstore_release(kvstore *kvs) { kvstoreRelease(kvs); }

/* ---- rax, lists, dicts, scripts, functions ---- */
uint64_t vkrs_rax_numele(const rax *r) { return r->numele; }
uint64_t vkrs_rax_numnodes(const rax *r) { return r->numnodes; }
void vkrs_free_tracking_rax(rax *r) { freeTrackingRadixTree(r); }
void vkrs_free_errors_rax(rax *r) { raxFreeWithCallback(r, zfree); }
void vkrs_rax_free(rax *r) { raxFree(r); }
unsigned long vkrs_list_length(const list *l) { return listLength(l); }
void vkrs_list_release(list *l) { listRelease(l); }
FLUSH_PATH unsigned long vkrs_dict_size(const dict *d) { return dictSize(d); }
void vkrs_dict_release(dict *d) { dictRelease(d); }
void vkrs_free_eval_scripts(dict *scripts, list *lru, list *engine_callbacks) {
    freeEvalScripts(scripts, lru, engine_callbacks);
}
size_t vkrs_functions_len(functionsLibCtx *ctx) { return functionsLibCtxFunctionsLen(ctx); }
void vkrs_functions_free(functionsLibCtx *ctx, list *engine_callbacks) {
    functionsLibCtxFree(ctx, NULL, engine_callbacks);
}

/* ---- the lazyfree worker thread: what bio.c does for its own threads ---- */
int vkrs_thread_create(pthread_t *tid, void *(*entry)(void *), void *arg) {
    pthread_attr_t attr;
    serverInitThreadAttribute(&attr);
    int err = pthread_create(tid, &attr, entry, arg);
    pthread_attr_destroy(&attr);
    return err;
}
void vkrs_bio_thread_init(const char *title) {
    valkey_set_thread_title(title);
    serverSetCpuAffinity(server.bio_cpulist);
    makeThreadKillable();
    sigset_t sigset;
    sigemptyset(&sigset);
    sigaddset(&sigset, SIGALRM);
    int err = pthread_sigmask(SIG_BLOCK, &sigset, NULL);
    if (err) serverLog(LL_WARNING, "Warning: can't mask SIGALRM in bio.c thread: %s", strerror(err));
#if defined(__linux__) && defined(SCHED_BATCH)
    /* The one difference from bio.c's threads: SCHED_BATCH, whose wake-ups never
     * preempt the running thread (the kernel leaves batch tasks to the tick). When
     * the worker is woken on the main thread's CPU (a one-CPU container, or the
     * other CPUs busy), a normal thread can take that CPU in the middle of the
     * FLUSHALL ASYNC or UNLINK that woke it and keep it for a whole time slice
     * (milliseconds) before the reply is written; a batch thread waits for the
     * main thread to sleep or for the tick. Its share of the CPU (its weight, its
     * nice value) is unchanged. A policy the operator chose for the whole process
     * (chrt: real-time, SCHED_IDLE, already batch) is left alone. */
    int policy;
    struct sched_param param;
    if (pthread_getschedparam(pthread_self(), &policy, &param) == 0 && policy == SCHED_OTHER) {
        param.sched_priority = 0;
        err = pthread_setschedparam(pthread_self(), SCHED_BATCH, &param);
        if (err) serverLog(LL_VERBOSE, "lazyfree worker: can't switch to SCHED_BATCH: %s", strerror(err));
    }
#endif
}
void vkrs_log_warning(const char *msg) { serverLog(LL_WARNING, "%s", msg); }

/* bio.h's bioCreateLazyFreeJob, whose bio.c definition the patch compiles out: the
 * job goes to the library's lazyfree worker. Only the variadic arguments are read
 * here (Rust cannot define a variadic function); vkrs_lazyfree_submit checks the
 * count (at most 3, as lazyfree.c's jobs take). Its prototype is the generated
 * header's (dict.h includes only the inline header). */
void vkrs_lazyfree_submit(void (*free_fn)(void **args), int arg_count, void *const *args);
void bioCreateLazyFreeJob(lazy_free_fn free_fn, int arg_count, ...) {
    void *args[3] = {NULL, NULL, NULL};
    va_list ap;
    va_start(ap, arg_count);
    for (int i = 0; i < arg_count && i < 3; i++) args[i] = va_arg(ap, void *);
    va_end(ap);
    vkrs_lazyfree_submit(free_fn, arg_count, args);
}

/* ---- writable-replica expire tracking ---- */
dict *vkrs_replica_keys_dict_create(void) {
    /* expire.c's dictType for replicaKeysWithExpire. */
    static dictType dt = {
        dictSdsHash,       /* hash function */
        NULL,              /* key dup */
        dictSdsKeyCompare, /* key compare */
        dictSdsDestructor, /* key destructor */
        NULL,              /* val destructor */
        NULL               /* allow to expand */
    };
    return dictCreate(&dt);
}
dictEntry *vkrs_dict_add_or_find(dict *d, void *key) { return dictAddOrFind(d, key); }
void *vkrs_dict_get_key(const dictEntry *de) { return dictGetKey(de); }
void vkrs_dict_set_key(dict *d, dictEntry *de, void *key) { dictSetKey(d, de, key); }
uint64_t vkrs_dict_get_u64(const dictEntry *de) { return dictGetUnsignedIntegerVal(de); }
void vkrs_dict_set_u64(dictEntry *de, uint64_t v) { dictSetUnsignedIntegerVal(de, v); }
dictEntry *vkrs_dict_random_key(dict *d) { return dictGetRandomKey(d); }
int vkrs_dict_delete(dict *d, const void *key) { return dictDelete(d, key); }
void *vkrs_sdsdup(const void *s) { return sdsdup((const sds)s); }
int vkrs_db_id(const serverDb *db) { return db->id; }
int vkrs_server_dbnum(void) { return server.dbnum; }
serverDb *vkrs_server_db(int id) { return server.db[id]; }
int vkrs_kvstore_index_for_key(void *key) { return getKVStoreIndexForKey(key); }
robj *vkrs_db_find_expire(serverDb *db, void *key, int didx) { return dbFindExpiresWithDictIndex(db, key, didx); }
int vkrs_try_expire(serverDb *db, robj *val, long long now, int didx) {
    return activeExpireCycleTryExpire(db, val, now, didx);
}
void vkrs_post_execution_unit_operations(void) { postExecutionUnitOperations(); }
long long vkrs_mstime(void) { return mstime(); }
