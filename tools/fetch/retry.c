/*
 * Retries: which failures may succeed when tried again, and when.
 *
 * Retried: failures to connect, connections reset or closed mid-response,
 * bodies cut short, timeouts (curl's codes below), and the statuses that
 * say "later" (408 Request Timeout, 429 Too Many Requests, every 5xx).
 * Not retried: what trying again cannot change (a 404, a bad URL, a host
 * name that does not resolve, a certificate refused, a full disk).
 *
 * The wait before retry n (from 1) is --retry-delay * 2^(n-1), at most
 * MAX_BACKOFF, with "equal jitter": a random point in its upper half, so
 * that transfers that failed together do not come back together.  A
 * Retry-After header (seconds or an HTTP date) replaces it: the server
 * said when, up to MAX_BACKOFF (or --retry-max-time when that is longer),
 * so that one response cannot stall the run for months.  No retry starts
 * later than --retry-max-time after the job's first attempt; a
 * Retry-After that points beyond it ends the job.
 */
#define _GNU_SOURCE
#include "fetch.h"

#include <curl/curl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* curl's own cap on --retry-delay's doubling. */
#define MAX_BACKOFF 600.0

bool retry_curl_code(int code)
{
    switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_HTTP2:
    case CURLE_PARTIAL_FILE:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_HTTP2_STREAM:
        return true;
    default:
        return false;
    }
}

bool retry_status(long status)
{
    return status == 408 || status == 429 || (status >= 500 && status <= 599);
}

/* A random number in [0, 1), from a generator of this thread's. */
static double jitter(void)
{
    static _Thread_local unsigned short seed[3];
    static _Thread_local bool seeded;
    if (!seeded) {
        uint64_t x =
            (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16) ^ (uint64_t)(uintptr_t)&seeded;
        seed[0] = (unsigned short)x;
        seed[1] = (unsigned short)(x >> 16);
        seed[2] = (unsigned short)(x >> 32);
        seeded = true;
    }
    return erand48(seed);
}

double retry_delay(const job_t *j, double retry_after, double t, char *why, size_t cap_why)
{
    int done = j->attempts;
    if (done > cfg.retries) {
        snprintf(why, cap_why, "%d attempt%s, no retry left", done, done == 1 ? "" : "s");
        return -1;
    }
    double d;
    why[0] = '\0';
    if (retry_after >= 0) {
        double cap = cfg.retry_max_time > MAX_BACKOFF ? cfg.retry_max_time : MAX_BACKOFF;
        d = retry_after;
        if (d > cap) {
            d = cap;
            snprintf(why, cap_why, "the server's Retry-After of %.0f s, capped at %.0f s",
                     retry_after, cap);
        }
    } else {
        double b = cfg.retry_delay * pow(2, done - 1);
        if (b > MAX_BACKOFF)
            b = MAX_BACKOFF;
        d = b / 2 + b / 2 * jitter();
    }
    if (cfg.retry_max_time > 0 && t + d - j->t0 > cfg.retry_max_time) {
        if (retry_after >= 0)
            snprintf(why, cap_why, "the server's Retry-After of %.0f s goes beyond --retry-max-time",
                     retry_after);
        else
            snprintf(why, cap_why, "--retry-max-time of %g s reached after %d attempt%s",
                     cfg.retry_max_time, done, done == 1 ? "" : "s");
        return -1;
    }
    return d;
}

double retry_after_parse(const char *v)
{
    if (!v)
        return -1;
    while (*v == ' ' || *v == '\t')
        v++;
    if (*v >= '0' && *v <= '9') { /* delta-seconds */
        char *end;
        double s = strtod(v, &end);
        while (*end == ' ' || *end == '\t')
            end++;
        return *end ? -1 : s;
    }
    time_t when = curl_getdate(v, NULL); /* an HTTP date */
    if (when == (time_t)-1)
        return -1;
    double d = difftime(when, time(NULL));
    return d > 0 ? d : 0;
}
