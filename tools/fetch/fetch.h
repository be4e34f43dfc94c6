/*
 * casyncio-fetch: what its files share.
 *
 *   main.c      the run: the scheduler that starts transfers (at most -j
 *               at once, at most --per-host per host), puts retries back
 *               after their delay, Ctrl-C, the exit status
 *   options.c   the command line, --help and --version
 *   input.c     URLs from the arguments, files and stdin, with their
 *               output names and checksums; names made unique in the run
 *   transfer.c  one attempt at one URL: the request (a Range to resume),
 *               the response's checks, the body to its file
 *   retry.c     which failures are retried, and after how long
 *   files.c     the output directory: creating, resuming and removing files
 *   progress.c  the live progress bar and the line per transfer
 *   report.c    the failure kinds, the summary and the --json records
 *
 * The URLs are split among shards, each run by a thread with its own loop
 * (main.c): a job is only ever touched by its shard's thread, and what the
 * shards share is behind run_lock(), as each function below says.
 */
#ifndef CASYNCIO_FETCH_H
#define CASYNCIO_FETCH_H

#include <casyncio.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define PROG "casyncio-fetch"

#ifndef FETCH_VERSION
#define FETCH_VERSION "0.0.0"
#endif

#define MAX_JOBS 10000
#define NAME_MAX_LEN 200 /* bytes of an output file name, before any ".N" */

/* ------------------------------------------------------------ options */

typedef struct config {
    long jobs;       /* -j: transfers in flight in all */
    long threads;    /* --threads: shards (main.c); 0 automatic */
    long per_host;   /* --per-host: in flight per host; 0 no limit */
    double rate;     /* --limit-rate: body bytes per second in all; 0 none */
    double max_time; /* -m: seconds per attempt; 0 none */
    double connect_timeout;
    long retries;          /* --retry: attempts after the first */
    double retry_delay;    /* --retry-delay: the first backoff, doubled each time */
    double retry_max_time; /* --retry-max-time: no retry starts after this; 0 none */
    bool follow;           /* -L */
    long max_redirs;
    bool resume;           /* -c */
    bool content_on_error; /* keep error bodies as NAME.error */
    bool quiet;
    bool no_progress;     /* no bar even on a terminal */
    const char *outdir;   /* NULL: bodies are discarded */
    const char *json;     /* --json FILE ("-": stdout) */
    int http_version;     /* ASYNCIO_HTTP_VERSION_* */
    const char **headers; /* -H, NULL-terminated */
    size_t nheaders;
    const char *user_agent, *proxy, *cacert;
    bool insecure;
} config_t;

extern config_t cfg;

/* Parses argv into cfg and the job list (input.c); exits with 2 and a
 * message on a usage error, 0 after --help or --version. */
void options_parse(int argc, char **argv);

/* A usage error: "casyncio-fetch: MESSAGE", the hint, exit 2. */
void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* A fatal error before the run: "casyncio-fetch: MESSAGE", exit 2. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
char *xstrdup(const char *s);

/* ------------------------------------------------------------ jobs */

/* Where a job is.  QUEUED jobs wait in their host's queue for a slot,
 * DELAYED ones for their retry timer; OK, FAILED and CANCELLED are final.
 * A job still QUEUED when the run ends (Ctrl-C, a full disk) was never
 * started. */
typedef enum {
    JOB_QUEUED,
    JOB_RUNNING,
    JOB_DELAYED,
    JOB_OK,
    JOB_FAILED,
    JOB_CANCELLED,
} job_state_t;

typedef struct digest digest_t; /* --checksum (transfer.c) */
typedef struct host host_t;     /* main.c */
typedef struct name name_t;     /* input.c */

typedef struct job {
    char *url;
    char *name;       /* output name reserved in the run (NULL: discarding) */
    name_t *base;     /* the name it was made from, for another ".N" */
    digest_t *digest; /* expected checksum, or NULL */
    host_t *host;
    struct job *next; /* in its host's queue */
    job_state_t state;
    int attempts;          /* attempts started */
    long status;           /* the last response's status; 0 before one */
    uint64_t bytes;        /* body bytes received, every attempt */
    int64_t size;          /* bytes of the file saved; -1 none */
    uint64_t resumed_from; /* the saved file continued one of this size */
    bool restarted;        /* a resume was refused: the body came whole */
    double t0, t1;         /* first attempt started, last one ended */
    char *path;            /* the file it writes, once made (in the directory) */
    bool partial;          /* path holds the first bytes of the body */
    char *etag, *modified; /* validators of those bytes (If-Range) */
    bool encoded;          /* those bytes were decoded from a Content-Encoding */
    char *error;           /* why it failed or stopped; NULL when it did not */
    const char *kind;      /* its failure kind (report.c's), NULL when none */
    asyncio_future_t *task;
    asyncio_handle_t timer; /* the retry's, while DELAYED */
} job_t;

extern job_t *jobs;
extern size_t njobs;

/* ------------------------------------------------------------ input.c */

/* Adds a URL (copied) with an optional output name and checksum. */
void input_add(const char *url, const char *name, const char *checksum, const char *where);
/* Reads URLs from a file ("-": stdin): one per line, "URL<TAB>NAME", and
 * aria2c's option lines under a URL (" out=NAME", " checksum=TYPE=HEX"). */
void input_read_file(const char *path);
/* Gives every job its output name, unique within the run (when bodies are
 * saved). */
void input_assign_names(void);
/* The next name "BASE.N" (base: the job's, or an error body's) when the
 * name reserved turned out taken on disk: never one reserved in the run.
 * Takes run_lock. */
char *input_next_name(name_t *base);
/* A name for the job's error body (--content-on-error): "NAME.error", else
 * the next free "NAME.error.N", reserved in the run like the others (never
 * another URL's); *base is what input_next_name goes on from when that one
 * is taken on disk.  Takes run_lock. */
char *input_error_name(const job_t *j, name_t **base);
/* FNV-1a of a string: the name table's and the hosts' hash. */
uint64_t name_hash(const char *s);
/* A file name made safe from any text (NAME_MAX_LEN bytes at most; no
 * '/', no control character, no leading dot); "index.html" when empty. */
void input_safe_name(const char *in, size_t len, bool from_url, char *out);
/* The name a URL's body is saved under: its path's last segment, made safe. */
void input_name_from_url(const char *url, char *out);

/* ------------------------------------------------------------ files.c */

/* Opens (making it if missing) the output directory; exits 2 if it cannot
 * be written. */
void files_open_dir(const char *dir);
/* A new file for the job: its reserved name, else the next free ".N".
 * Sets j->path.  The descriptor, or -1 with errno set. */
int files_create(job_t *j);
/* The job's file again, for writing (no symbolic link followed); -1 with
 * errno set (ENOENT: it is gone). */
int files_reopen(job_t *j);
/* -c: takes as the job's file the first of its reserved name and the
 * next free ones that was saved from its URL (moving j->name on past
 * files that were not): sets j->path, j->partial and the validators kept
 * with it.  Its size, or 0 when there is none. */
uint64_t files_adopt(job_t *j);
/* The size of the job's file, -1 when it is gone. */
int64_t files_size(job_t *j);
/* Keeps the URL, or the URL and the validators, of a body with its file
 * (extended attributes, where the file system has them). */
void files_save_url(int fd, const job_t *j);
void files_save_validators(int fd, const job_t *j);
/* Removes the job's file, if any; j->path is NULL after.  0, or -1 with
 * errno set when the file is still there. */
int files_remove(job_t *j);
/* Writes all of p; -1 with errno set. */
int files_write(int fd, const void *p, size_t n);
/* An error body: a new file NAME.error (then .error.1, ...), under a name
 * reserved in the run; *path is that name.  -1 with errno set. */
int files_create_error(job_t *j, const char **path);
/* A file to write the job's body into while its file keeps the old bytes:
 * unnamed where the file system allows (tmp[0] is then '\0'), else a
 * hidden name put in tmp.  -1 with errno set. */
int files_create_temp(const job_t *j, char *tmp, size_t cap);
/* Puts that file (fd, closed here) in place of the job's file, in one
 * rename; tmp is '\0' after, whatever happened.  -1 with errno set (the old file is kept). */
int files_replace(job_t *j, int fd, char *tmp, size_t cap);
/* Removes a file of the directory (an error body written in part). */
void files_unlink_path(const char *path);
/* The job's file, for reading (the bytes a resume keeps are hashed). */
int files_open_read(const job_t *j);
/* "DIR/NAME" for messages. */
const char *files_display(const char *path, char *buf, size_t cap);

/* ------------------------------------------------------------ transfer.c */

typedef enum {
    ATTEMPT_OK,
    ATTEMPT_FAILED,    /* final: j->error and j->kind are set */
    ATTEMPT_RETRY,     /* failed, may be tried again: j->error, j->kind set */
    ATTEMPT_CANCELLED, /* stopped by Ctrl-C */
} attempt_t;

/* The session of this thread's shard. */
extern _Thread_local asyncio_http_session_t *session;

/* Parses "TYPE=HEX" (sha256=..., sha-256=..., sha512, sha1, md5); NULL
 * with why set when it is not one. */
digest_t *digest_parse(const char *spec, char *why, size_t cap);
/* One attempt at the job; *retry_after is the server's Retry-After in
 * seconds, or -1.  Suspends. */
attempt_t transfer_attempt(job_t *j, double *retry_after);

/* ------------------------------------------------------------ retry.c */

/* Whether a failed transfer (curl's code, or an HTTP status) is one that
 * may succeed when tried again. */
bool retry_curl_code(int code);
bool retry_status(long status);
/* The delay before the job's next attempt, or -1 when it gets none
 * (retries used up, or beyond --retry-max-time); why says which.  A
 * Retry-After beyond the cap (600 s, or --retry-max-time if longer) is
 * cut to it, why then saying so with a delay; else why is "". */
double retry_delay(const job_t *j, double retry_after, double now, char *why, size_t cap);
/* Retry-After: seconds, or an HTTP date; -1 when absent or unreadable. */
double retry_after_parse(const char *value);

/* ------------------------------------------------------------ main.c */

typedef struct totals {
    /* Jobs in each final state. */
    size_t ok, failed, cancelled;
    size_t running;  /* attempts in flight */
    size_t delayed;  /* waiting for a retry */
    uint64_t bytes;  /* body bytes received */
    uint64_t expect; /* bytes the transfers in flight announced, in all */
    uint64_t got;    /* bytes of those received so far */
    size_t sized;    /* transfers in flight that announced their size */
    long retries;    /* retries started */
    size_t retried;  /* jobs that were retried */
    int stop_signal; /* the signal that stopped the run, 0 none */
    bool disk_full;  /* a write found the disk full: no new transfers */
} totals_t;

/* This thread's shard's counters. */
extern _Thread_local totals_t tot;
/* Loop time when the run started. */
extern double run_t0;

double now(void);
/* No new transfers after this, in any shard (a full disk). */
void run_stop_starting(const char *why);
/* Drops every error raised (asyncio_error_clear drops the newest only). */
void errors_clear(void);
/* The one lock of what the shards share; never held across a call that
 * takes it. */
void run_lock(void);
void run_unlock(void);
/* Under run_lock: publishes this shard's counters (for the bar), and the
 * sums of every shard's last published ones. */
void run_publish(void);
void run_totals(totals_t *sum);

/* ------------------------------------------------------------ progress.c */

extern bool tty; /* stderr is a terminal: the bar instead of lines */

/* Shard 0: the bar (on a terminal); the other shards publish their
 * counters for it meanwhile. */
void progress_start(void);
void progress_stop(void);
void progress_start_publishing(void);
void progress_stop_publishing(void);
/* A line on stderr, its control characters shown escaped (\xHH, \uHHHH
 * for C1): no URL, name or server's text can drive the terminal. */
void say_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vsay_line(const char *fmt, va_list ap);
/* A line for the user (a failure, a retry): above the bar on a terminal,
 * escaped as say_line's.
 * These take run_lock. */
void progress_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The line of a finished transfer (off a terminal, unless quiet). */
void progress_done(const job_t *j);
/* A failed or cancelled job's line; removal: what became of its file
 * ("partial file removed"), NULL when nothing was removed. */
void progress_failed(const job_t *j, const char *removal);
void progress_retry(const job_t *j, double delay);

/* ------------------------------------------------------------ report.c */

/* The failure kind of the raised error, in words: curl's for its codes
 * ("Couldn't connect to server", "Timeout was reached"), else "invalid
 * URL", "timeout", ...; and whether it may succeed when tried again.
 * Interned: valid for the run. */
const char *report_error_kind(const asyncio_error_t *e, bool *retryable);
/* An interned kind for any text ("No space left on device", "checksum
 * mismatch").
 * It and report_final take run_lock. */
const char *report_kind(const char *text);
/* Counts a final job (its kind, its status) and writes its --json record. */
void report_final(job_t *j);
/* Opens the --json file; exits 2 if it cannot. */
void report_open_json(const char *path);
/* The records of the jobs that never finished, the file closed: 0, or -1
 * after saying why writing it failed. */
int report_close_json(void);
void report_summary(double elapsed);
/* "503 Service Unavailable"'s words for a status ("" when unknown). */
const char *report_reason(long status);
void human_bytes(uint64_t b, char *out, size_t cap);
/* The length of the valid UTF-8 sequence that s starts with (1 for ASCII,
 * NUL included), 0 when it starts with no valid one: an overlong form, a
 * surrogate, beyond U+10FFFF, a stray or missing continuation byte. */
size_t utf8_len(const char *s);

#endif /* CASYNCIO_FETCH_H */
