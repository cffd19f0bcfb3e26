/* LD_PRELOAD shim for the pub/sub + memory section of make bench: gives valkey-server a
 * chosen random seed, so that the C build and the Rust build of one round start from the
 * same one.
 *
 * Why: Valkey seeds getRandomBytes() (util.c) from 64 bytes of /dev/urandom. Those bytes
 * seed its hashtables (the command table is filled before the config is read, so the
 * hash-seed config does not reach it), and a hashtable's child buckets (64 bytes each)
 * depend on how the keys hash. Two starts of the same binary differ by up to ~800 bytes of
 * used_memory that way, in both builds; with this shim two starts are identical to the byte.
 *
 * VALKEY_BENCH_SEED=<text>: fopen("/dev/urandom") reads <text> repeated to 64 bytes.
 * Unset or empty: every call goes to the real fopen. Nothing else is intercepted. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The seeded stream for /dev/urandom while VALKEY_BENCH_SEED is set, else libc's `name`. */
static FILE *open_as(const char *name, const char *path, const char *mode) {
    static char bytes[64];
    const char *seed = getenv("VALKEY_BENCH_SEED");
    if (path != NULL && seed != NULL && seed[0] != '\0' && strcmp(path, "/dev/urandom") == 0) {
        size_t n = strlen(seed);
        for (size_t i = 0; i < sizeof(bytes); i++) bytes[i] = seed[i % n];
        return fmemopen(bytes, sizeof(bytes), "r");
    }
    FILE *(*real)(const char *, const char *) = (FILE * (*)(const char *, const char *)) dlsym(RTLD_NEXT, name);
    return real(path, mode);
}

FILE *fopen(const char *path, const char *mode) { return open_as("fopen", path, mode); }
FILE *fopen64(const char *path, const char *mode) { return open_as("fopen64", path, mode); }
