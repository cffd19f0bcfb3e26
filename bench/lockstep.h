/* Lockstep, shared by bench/dict_bench.c (-l) and bench/lockstep_preload.c (the gtest
 * section): two processes, the C build's and the Rust build's, share one CPU and hand it to
 * each other every LOCKSTEP_SLICE_US of CPU time, so both measure under the same machine
 * conditions (see "Lockstep" in dict_bench.c for why). The handover runs in a SIGPROF
 * handler, so the measured loops are unchanged.
 *
 * Protocol over two pipes, one byte at a time: at a segment's start (a timed phase) both
 * write 'S' and wait for the peer's 'S'; the FIRST process runs, the other waits for 'T'. A
 * slice ends: write 'T', wait. A process at its segment's end writes 'D' and waits for 'E';
 * the peer, told 'D', runs on without handing over and answers 'E' at its own end.
 *
 * The includer defines LOCKSTEP_NAME (a string literal: its name in messages) before the
 * include, and lockstep_clock_ns(), the clock its measurements use: the time the handler
 * takes on that clock is added to lockstep_excluded, which the includer leaves out. */
#ifndef VALKEY_BENCH_LOCKSTEP_H
#define VALKEY_BENCH_LOCKSTEP_H

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#define LOCKSTEP_SLICE_US 2000

static int lock_in = -1, lock_out = -1, lock_first;
static volatile sig_atomic_t lock_peer_done;
static volatile uint64_t lockstep_excluded;

static uint64_t lockstep_clock_ns(void);

static void lock_die(const char *msg, size_t len) {
    (void)!write(2, msg, len);
    _exit(3);
}

static void lock_put(char c) {
    static const char msg[] = LOCKSTEP_NAME ": lockstep peer unwritable\n";
    while (write(lock_out, &c, 1) != 1) {
        if (errno != EINTR) lock_die(msg, sizeof(msg) - 1);
    }
}

/* A peer that died closes its end: stop rather than wait forever (bench.py reports both). */
static char lock_get(void) {
    static const char msg[] = LOCKSTEP_NAME ": lockstep peer gone\n";
    char c;
    ssize_t r;
    while ((r = read(lock_in, &c, 1)) != 1) {
        if (r == 0 || errno != EINTR) lock_die(msg, sizeof(msg) - 1);
    }
    return c;
}

static void lock_expect(char want, char got) {
    if (got != want) {
        char msg[] = LOCKSTEP_NAME ": lockstep out of step: wanted ?, got ?\n";
        msg[sizeof(msg) - 10] = want;
        msg[sizeof(msg) - 3] = got;
        lock_die(msg, sizeof(msg) - 1);
    }
}

/* Waits for the CPU after handing it over: the peer answers 'T' (my turn) or 'D' (it has
 * finished its segment; run the rest alone). */
static void lock_wait_turn(void) {
    char c = lock_get();
    if (c == 'D') lock_peer_done = 1;
    else lock_expect('T', c);
}

/* The SIGPROF handler; dict_bench.c's op_turn() also calls it directly, to hand over after a
 * number of operations instead of on the timer. */
static void lock_slice_end(int sig) {
    (void)sig;
    if (lock_peer_done) return;
    int saved = errno;
    uint64_t t = lockstep_clock_ns();
    lock_put('T');
    lock_wait_turn();
    lockstep_excluded += lockstep_clock_ns() - t;
    errno = saved;
}

/* The slice: LOCKSTEP_SLICE_US, or VALKEY_BENCH_SLICE_US (microseconds) from the environment
 * for experiments with the slice length. ITIMER_PROF expires on the kernel's scheduler tick,
 * so a slice is at least one tick: with HZ=250, 4 ms for 2000 (bench/README.md, "str-find-linear
 * against a common peer"). */
static long lock_slice_us = LOCKSTEP_SLICE_US;

static void lock_timer(long us) {
    struct timeval tv = {us / 1000000, us % 1000000}; /* tv_usec must stay below 1 s */
    struct itimerval it = {tv, tv};
    setitimer(ITIMER_PROF, &it, NULL);
}

/* Parses IN_FD,OUT_FD,FIRST and installs the handler; 0 when arg is malformed. */
static int lock_setup(const char *arg) {
    if (sscanf(arg, "%d,%d,%d", &lock_in, &lock_out, &lock_first) != 3 || lock_in < 0 || lock_out < 0) return 0;
    const char *slice = getenv("VALKEY_BENCH_SLICE_US");
    if (slice != NULL && *slice >= '0' && *slice <= '9') {
        /* Only digits, a positive number of microseconds; anything else keeps the default,
         * as bench.py's slice_override() assumes. */
        char *end;
        long us = strtol(slice, &end, 10);
        if (*end == '\0' && us > 0) lock_slice_us = us;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = lock_slice_end;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPROF, &sa, NULL);
    return 1;
}

/* A segment's start: meet the peer; the FIRST process runs on, the other waits for its
 * turn, and that wait, on lockstep_clock_ns(), goes to lockstep_excluded. The caller arms
 * the timer (lock_timer(LOCKSTEP_SLICE_US)) when it is ready to be measured. */
static void lock_segment_start(void) {
    lock_put('S');
    lock_expect('S', lock_get());
    lock_peer_done = 0;
    if (!lock_first) {
        uint64_t t = lockstep_clock_ns();
        lock_wait_turn();
        lockstep_excluded += lockstep_clock_ns() - t;
    }
}

/* A segment's end: no handover after this; tell the peer, or answer it. */
static void lock_segment_end(void) {
    lock_timer(0); /* a SIGPROF pending at the disarm has run by the time this returns */
    if (lock_peer_done) {
        lock_put('E');
    } else {
        lock_put('D');
        lock_expect('E', lock_get());
    }
}

#endif
