/* LD_PRELOAD shim for make bench's gtest section: runs the C build's and the Rust build's
 * valkey-unit-gtests (DictTest.DISABLED_dictBenchmark) in lockstep on one CPU, as
 * dict_bench -l runs the dict harnesses (see "Lockstep" in bench/dict_bench.c for why: on
 * the shared 2-vCPU machines a loop runs up to 1.6x slower for stretches of a fraction of
 * a second to seconds, and two runs ~20 s apart meet different stretches).
 *
 * VALKEY_BENCH_LOCKSTEP=IN_FD,OUT_FD,FIRST (two pipes to the peer, bench.py's). Unset or
 * empty: every intercepted call goes straight to libc and nothing else changes.
 *
 * - Slices: a SIGPROF timer (ITIMER_PROF, LOCKSTEP_SLICE_US of the process's CPU time)
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
 * Protocol, one byte at a time, as dict_bench's: a segment (process start to the first
 * phase's end, phase end to phase end, the last to exit) starts with both writing 'S' and
 * reading the peer's; the FIRST process runs, the other waits for 'T'. A slice ends: write
 * 'T', wait. A process at its segment's end writes 'D' and waits for 'E'; the peer, told
 * 'D', runs on without handing over and answers 'E' at its own end. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOCKSTEP_SLICE_US 2000
#define PHASE_END_MARK " items in %lld ms"

static int lock_in = -1, lock_out = -1, lock_first;
static volatile sig_atomic_t lock_peer_done;
/* Wall-clock nanoseconds spent in the handler so far; subtracted from every reading. Only
 * the handler writes it, and it interrupts the one thread that reads it (see read_clock). */
static volatile uint64_t excluded_ns;

static int (*real_clock_gettime)(clockid_t, struct timespec *);
static int (*real_gettimeofday)(struct timeval *, void *);

static void die(const char *msg) {
    (void)!write(2, msg, strlen(msg));
    _exit(3);
}

static void lock_put(char c) {
    while (write(lock_out, &c, 1) != 1) {
        if (errno != EINTR) die("lockstep_preload: cannot write to the peer\n");
    }
}

/* A peer that died closes its end: stop rather than wait forever (bench.py reports both). */
static char lock_get(void) {
    char c;
    ssize_t r;
    while ((r = read(lock_in, &c, 1)) != 1) {
        if (r == 0 || errno != EINTR) die("lockstep_preload: lockstep peer gone\n");
    }
    return c;
}

static void lock_expect(char want, char got) {
    if (got != want) die("lockstep_preload: lockstep out of step\n");
}

static void lock_wait_turn(void) {
    char c = lock_get();
    if (c == 'D') lock_peer_done = 1;
    else lock_expect('T', c);
}

static uint64_t mono_ns(void) {
    struct timespec ts;
    real_clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void lock_slice_end(int sig) {
    (void)sig;
    if (lock_peer_done) return;
    int saved = errno;
    uint64_t t = mono_ns();
    lock_put('T');
    lock_wait_turn();
    excluded_ns += mono_ns() - t;
    errno = saved;
}

static void lock_timer(long us) {
    struct itimerval it = {{0, us}, {0, us}};
    setitimer(ITIMER_PROF, &it, NULL);
}

static void segment_start(void) {
    lock_put('S');
    lock_expect('S', lock_get());
    lock_peer_done = 0;
    if (!lock_first) {
        uint64_t t = mono_ns();
        lock_wait_turn();
        excluded_ns += mono_ns() - t;
    }
    lock_timer(LOCKSTEP_SLICE_US);
}

static void segment_end(void) {
    lock_timer(0);
    /* A SIGPROF pending at the disarm has run by now: nothing hands over after this. */
    if (lock_peer_done) {
        lock_put('E');
    } else {
        lock_put('D');
        lock_expect('E', lock_get());
    }
}

static void resolve(void) {
    if (!real_clock_gettime) real_clock_gettime = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
    if (!real_gettimeofday) real_gettimeofday = (int (*)(struct timeval *, void *))dlsym(RTLD_NEXT, "gettimeofday");
    if (!real_clock_gettime || !real_gettimeofday) die("lockstep_preload: no libc clock functions\n");
}

__attribute__((constructor)) static void lockstep_init(void) {
    resolve();
    const char *arg = getenv("VALKEY_BENCH_LOCKSTEP");
    if (arg == NULL || arg[0] == '\0') return;
    if (sscanf(arg, "%d,%d,%d", &lock_in, &lock_out, &lock_first) != 3 || lock_in < 0 || lock_out < 0) {
        die("lockstep_preload: VALKEY_BENCH_LOCKSTEP wants IN_FD,OUT_FD,FIRST\n");
    }
    /* Only this process takes part: a program it started would meet the peer too. */
    unsetenv("VALKEY_BENCH_LOCKSTEP");
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = lock_slice_end;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPROF, &sa, NULL);
    segment_start();
}

__attribute__((destructor)) static void lockstep_fini(void) {
    if (lock_in < 0) return;
    segment_end();
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
        e = excluded_ns;
        *rc = real_clock_gettime(id, ts);
    } while (e != excluded_ns);
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

static void after_print(const char *fmt) {
    if (lock_in >= 0 && fmt != NULL && strstr(fmt, PHASE_END_MARK) != NULL) {
        segment_end();
        segment_start();
    }
}

int printf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int r = vprintf(fmt, ap);
    va_end(ap);
    after_print(fmt);
    return r;
}

int __printf_chk(int flag, const char *fmt, ...) {
    (void)flag;
    va_list ap;
    va_start(ap, fmt);
    int r = vprintf(fmt, ap);
    va_end(ap);
    after_print(fmt);
    return r;
}
