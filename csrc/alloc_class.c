/* What the dict's entry allocation (src/dict/mod.rs, UsableSize) asks of
 * jemalloc: 0 from both when the binary has no jemalloc.
 *
 * With jemalloc every block of one request size has the same usable size, its
 * size class, which nallocx() gives without allocating; with libc malloc a
 * block may be bigger than others of its request size. The library frees
 * entries with zfree_with_size() only while every live entry has the same
 * usable size, so it must ask every entry's size unless the allocator promises
 * that. It takes the promise only when zmalloc's first entry block came from
 * this jemalloc: the thread's allocated-bytes count grew by the block's usable
 * size, and that size is the class.
 *
 * The je_ names are weak references: they do not pull jemalloc into a binary,
 * and they resolve to NULL in one without it (MALLOC=libc, the library's own
 * tests and fuzz targets). Where Valkey links its jemalloc (prefixed je_, with
 * statistics), both sit in the same object as je_malloc, which zmalloc
 * references, so they are there. Hidden: the library's own, not part of the
 * C API (the pre-linked archive makes them local). */
#include <stddef.h>
#include <stdint.h>

extern size_t je_nallocx(size_t size, int flags) __attribute__((weak));
extern int je_mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
    __attribute__((weak));

__attribute__((visibility("hidden"))) size_t valkey_rs_jemalloc_size_class(size_t size) {
    return je_nallocx ? je_nallocx(size, 0) : 0;
}

/* Bytes this thread has allocated from jemalloc so far (mallctl
 * "thread.allocated"), or 0 when there is no jemalloc or no count. */
__attribute__((visibility("hidden"))) uint64_t valkey_rs_jemalloc_thread_allocated(void) {
    uint64_t allocated = 0;
    size_t len = sizeof(allocated);
    if (!je_mallctl || je_mallctl("thread.allocated", &allocated, &len, NULL, 0) != 0) return 0;
    return allocated;
}
