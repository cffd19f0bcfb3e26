/* LD_PRELOAD shim for make bench's gtest section: runs the C build's and the Rust build's
 * valkey-unit-gtests (DictTest.DISABLED_dictBenchmark) in lockstep on one CPU, as
 * dict_bench -l runs the dict harnesses (see "Lockstep" in bench/dict_bench.c for why: on
 * the shared 2-vCPU machines a loop runs up to 1.6x slower for stretches of a fraction of
 * a second to seconds, and two runs ~20 s apart meet different stretches).
 *
 * VALKEY_BENCH_LOCKSTEP=IN_FD,OUT_FD,FIRST (two pipes to the peer, bench.py's). Unset or
 * empty: every intercepted call goes straight to libc and nothing else changes.
 *
 * - Slices: a SIGPROF timer (ITIMER_PROF, LOCKSTEP_SLICE_US of the process's CPU time, or
 *   VALKEY_BENCH_SLICE_US; at least one kernel tick)
 *   hands the CPU to the peer from a signal handler and waits for its turn back, so the
 *   test's loops are unchanged.
 * - Clock: the test times a phase by wall clock (testOnlyTimeInMilliseconds: dict.c's
 *   gettimeofday, the library's clock_gettime). Every wall-clock reading here leaves out
 *   the time spent in the handler (waiting for the peer), so a phase's milliseconds are
 *   its own running time, as when it runs alone.
 * - Phases: the test ends each phase with printf("<phase>: %ld items in %lld ms\n", ...),
 *   after reading its end time. There the two processes meet, so phase k of both builds
 *   runs over the same stretch of time whatever their speeds: the one done first waits,
 *   and the other runs the rest of its phase alone.
 *
 * The protocol and the handler are bench/lockstep.h's, as dict_bench's are. A segment is
 * process start to the first phase's end, phase end to phase end, the last one to exit. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define LOCKSTEP_NAME "lockstep_preload"
#include "lockstep.h"

#define PHASE_END_MARK " items in %lld ms"

static int (*real_clock_gettime)(clockid_t, struct timespec *);
static int (*real_gettimeofday)(struct timeval *, void *);

/* The handler's time on the wall clock (waiting for the peer) goes to lockstep_excluded,
 * which every wall-clock reading below leaves out. Only the handler writes it, and it
 * interrupts the one thread that reads it (see read_clock). */
static uint64_t lockstep_clock_ns(void) {
    struct timespec ts;
    real_clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A segment's start; the wait for the first turn stays off the wall clock. */
static void segment_start(void) {
    lock_segment_start();
    lock_timer(lock_slice_us);
}

static void resolve(void) {
    if (!real_clock_gettime) real_clock_gettime = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
    if (!real_gettimeofday) real_gettimeofday = (int (*)(struct timeval *, void *))dlsym(RTLD_NEXT, "gettimeofday");
    if (!real_clock_gettime || !real_gettimeofday) {
        static const char msg[] = "lockstep_preload: no libc clock functions\n";
        lock_die(msg, sizeof(msg) - 1);
    }
}

__attribute__((constructor)) static void lockstep_init(void) {
    resolve();
    const char *arg = getenv("VALKEY_BENCH_LOCKSTEP");
    if (arg == NULL || arg[0] == '\0') return;
    if (!lock_setup(arg)) {
        static const char msg[] = "lockstep_preload: VALKEY_BENCH_LOCKSTEP wants IN_FD,OUT_FD,FIRST\n";
        lock_die(msg, sizeof(msg) - 1);
    }
    /* Only this process takes part: a program it started would meet the peer too. */
    unsetenv("VALKEY_BENCH_LOCKSTEP");
    segment_start();
}

__attribute__((destructor)) static void lockstep_fini(void) {
    if (lock_in < 0) return;
    lock_segment_end();
    lock_in = lock_out = -1;
}

/* The wall clocks the test can time with; CPU-time clocks are left alone. */
static int is_wall_clock(clockid_t id) {
    switch (id) {
    case CLOCK_REALTIME:
    case CLOCK_MONOTONIC:
    case CLOCK_MONOTONIC_RAW:
    case CLOCK_REALTIME_COARSE:
    case CLOCK_MONOTONIC_COARSE:
    case CLOCK_BOOTTIME: return 1;
    default: return 0;
    }
}

/* Reads a clock and the exclusion that belongs with it: a handover between the two would
 * subtract time the reading does not contain, so read again if the exclusion moved. */
static uint64_t read_clock(clockid_t id, struct timespec *ts, int *rc) {
    uint64_t e;
    do {
        e = lockstep_excluded;
        *rc = real_clock_gettime(id, ts);
    } while (e != lockstep_excluded);
    return e;
}

int clock_gettime(clockid_t id, struct timespec *ts) {
    if (!real_clock_gettime) resolve();
    if (lock_in < 0 || !is_wall_clock(id)) return real_clock_gettime(id, ts);
    int rc;
    uint64_t e = read_clock(id, ts, &rc);
    if (rc == 0) {
        uint64_t ns = (uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec - e;
        ts->tv_sec = (time_t)(ns / 1000000000u);
        ts->tv_nsec = (long)(ns % 1000000000u);
    }
    return rc;
}

int gettimeofday(struct timeval *tv, void *tz) {
    if (!real_gettimeofday) resolve();
    if (lock_in < 0) return real_gettimeofday(tv, tz);
    struct timespec ts;
    int rc;
    uint64_t e = read_clock(CLOCK_REALTIME, &ts, &rc);
    if (rc != 0) return rc;
    if (tz != NULL) memset(tz, 0, sizeof(struct timezone)); /* obsolete: libc's is zeros too */
    uint64_t us = ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec - e) / 1000u;
    tv->tv_sec = (time_t)(us / 1000000u);
    tv->tv_usec = (suseconds_t)(us % 1000000u);
    return 0;
}

/* After the test's phase-end line: the two meet (the phase's time was read before). */
static int print_marked(const char *fmt, va_list ap) {
    int r = vprintf(fmt, ap);
    if (lock_in >= 0 && fmt != NULL && strstr(fmt, PHASE_END_MARK) != NULL) {
        lock_segment_end();
        segment_start();
    }
    return r;
}

int printf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int r = print_marked(fmt, ap);
    va_end(ap);
    return r;
}

/* What printf becomes under _FORTIFY_SOURCE; flag (the check level) is dropped. */
int __printf_chk(int flag, const char *fmt, ...) {
    (void)flag;
    va_list ap;
    va_start(ap, fmt);
    int r = print_marked(fmt, ap);
    va_end(ap);
    return r;
}
