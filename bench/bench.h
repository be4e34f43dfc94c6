/*
 * Shared helpers of the C benchmarks (static inline only: every benchmark
 * is one .c file compiled into one program).
 *
 * Each benchmark prints its machine-readable results on stdout as
 *     RESULT <name> <metric> <value> <unit>
 * and anything meant for humans on stderr.  The Python twins (bench/NAME.py,
 * helpers in bench/benchlib.py) print the same lines.
 */
#ifndef CASYNCIO_BENCH_H
#define CASYNCIO_BENCH_H

/* clock_gettime, fork, waitpid under plain -std=c11 too; include this
 * header first. */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <casyncio.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Monotonic clock in nanoseconds (the clock asyncio's loop.time() uses). */
static inline int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void bench_result(const char *name, const char *metric, double value,
                                const char *unit)
{
    printf("RESULT %s %s %.6g %s\n", name, metric, value, unit);
    fflush(stdout);
}

/* Prints the raised error (if any) with some context and exits: a benchmark
 * that fails must not print numbers that look like results. */
static inline void bench_die(const char *what, int rc)
{
    const asyncio_error_t *e = asyncio_error();
    fprintf(stderr, "bench: %s failed (rc=%d): %s: %s\n", what, rc, e ? e->type : "?",
            e ? e->message : asyncio_strerror(rc));
    fflush(stdout);
    exit(2);
}

static inline void bench_check(int rc, const char *what)
{
    if (rc < 0)
        bench_die(what, rc);
}

static inline void *bench_check_ptr(void *p, const char *what)
{
    if (!p)
        bench_die(what, ASYNCIO_ENOMEM);
    return p;
}

/* A field of /proc/self/status in kB ("VmRSS", "VmHWM", "VmPTE", ...), or
 * -1 when it cannot be read. */
static inline long bench_status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    size_t len = strlen(field);
    long kb = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, len) == 0 && line[len] == ':') {
            kb = strtol(line + len + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

/* Resets VmHWM to the current RSS (Linux >= 4.0); false if not possible. */
static inline int bench_reset_peak_rss(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f)
        return 0;
    int ok = fputs("5", f) >= 0;
    ok = (fclose(f) == 0) && ok;
    return ok;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v[0..n) in place and returns the q-quantile (0 <= q <= 1),
 * nearest-rank method (the same as benchlib.quantile). */
static inline double bench_quantile_sorted(const double *v, size_t n, double q)
{
    if (n == 0)
        return 0;
    double x = q * (double)n;
    size_t rank = (size_t)x;
    if ((double)rank < x) /* ceil(q * n) without libm */
        rank++;
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return v[rank - 1];
}

static inline double bench_median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, bench_cmp_double);
    return bench_quantile_sorted(v, n, 0.5);
}

#endif /* CASYNCIO_BENCH_H */
