/* PostgreSQL through libpq's non-blocking interface, driven by the loop:
 * the proof that a C library with its own socket fits casyncio's
 * asyncio_wait_readable / asyncio_wait_writable.
 *
 *   postgres CONNINFO N M
 *
 * Opens M connections at once (CONNINFO is libpq's: "host=/tmp
 * dbname=postgres", or a URI), then runs N `SELECT $1::int` with the
 * values 0..N-1 over them, each connection taking the next value as soon
 * as it has room, and checks every result.  Prints `ok N queries over M
 * connections in S s` (S: from all connections open to the last result)
 * and exits 0; or names the first failure on stderr and exits 1 (2 for
 * a bad command line).  SIGTERM (and Ctrl-C) cancels the run: the
 * queries in flight are cancelled on the server (PQcancel), the
 * connections closed, and it exits 1 saying how far it got.
 *
 * asyncpg's pattern, ported: a connection per task (asyncpg.connect), a
 * prepared statement per connection (its statement cache), the tasks in a
 * TaskGroup.  One difference: each connection keeps up to PIPELINE
 * queries in flight (libpq's pipeline mode), where asyncpg sends the next
 * query when the last result came back.  That is what makes it fast: a
 * round trip to the server per PIPELINE queries, not per query.
 *
 * libpq here is the application's library, not casyncio's: its socket is
 * watched only while a task waits on it, so libpq may close it and open
 * another (PQconnectPoll does when it tries the next address) between
 * two waits. */
#include <casyncio.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Queries a connection keeps in flight; their results (a few dozen bytes
 * each) fit in the socket's buffer, so the server never blocks writing
 * them while we still write queries: no deadlock.  Environment
 * PG_PIPELINE (1 to 256) lowers it: 1 is asyncpg's way, one query per
 * round trip (the benchmark compares the loops so). */
#define PIPELINE 256

typedef struct run run_t;

/* One connection, and the values of its queries in flight, oldest first
 * (-1 stands for the PREPARE). */
typedef struct pg {
    run_t *run;
    int index;
    PGconn *conn;
    long ring[PIPELINE + 1];
    size_t head, count; /* results expected */
    int syncs;          /* sync points whose result is still to come */
} pg_t;

struct run {
    const char *const *keys; /* CONNINFO parsed, with our application name */
    const char *const *vals;
    long n;    /* queries to run */
    int m;     /* connections */
    long next; /* the next value to send */
    long done; /* results checked */
    size_t depth; /* queries in flight per connection, at most */
    pg_t *pgs;
    asyncio_future_t *main;
    const char *why_cancelled;
};

/* Raises PostgresError "connection I: what: libpq's message" (its lines
 * joined) and returns its code. */
static int pg_fail(pg_t *c, const char *what, const char *detail)
{
    char msg[512];
    size_t n = 0;
    for (const char *p = detail ? detail : ""; *p && n + 1 < sizeof msg; p++) {
        bool space = *p == '\n' || *p == '\t' || *p == '\r';
        if (space && (n == 0 || msg[n - 1] == ' '))
            continue;
        msg[n++] = space ? ' ' : *p;
    }
    while (n && msg[n - 1] == ' ')
        n--;
    msg[n] = '\0';
    asyncio_raise("PostgresError", "connection %d: %s%s%s", c->index, what, *msg ? ": " : "", msg);
    return asyncio_error()->code;
}

/* --- await asyncpg.connect(dsn) */
static void *pg_connect(void *arg)
{
    pg_t *c = arg;
    c->conn = PQconnectStartParams(c->run->keys, c->run->vals, 0);
    if (!c->conn)
        return asyncio_raise("MemoryError", "no memory for a connection");
    if (PQstatus(c->conn) == CONNECTION_BAD) {
        pg_fail(c, "cannot connect", PQerrorMessage(c->conn));
        return NULL;
    }
    /* libpq's loop: wait for what the last poll asked, poll again. */
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    for (;;) {
        int fd = PQsocket(c->conn); /* may change from one poll to the next */
        if ((st == PGRES_POLLING_READING ? asyncio_wait_readable(fd) : asyncio_wait_writable(fd)) <
            0)
            return NULL; /* cancelled: the caller closes c->conn */
        st = PQconnectPoll(c->conn);
        if (st == PGRES_POLLING_OK)
            break;
        if (st == PGRES_POLLING_FAILED) {
            pg_fail(c, "cannot connect", PQerrorMessage(c->conn));
            return NULL;
        }
    }
    if (PQsetnonblocking(c->conn, 1) != 0 || !PQenterPipelineMode(c->conn) ||
        !PQsendPrepare(c->conn, "q", "SELECT $1::int", 1, NULL)) {
        pg_fail(c, "cannot prepare", PQerrorMessage(c->conn));
        return NULL;
    }
    c->ring[0] = -1;
    c->count = 1;
    return NULL;
}

/* Takes every result libpq has complete, checking each against the value
 * sent.  0, or the error raised. */
static int drain(pg_t *c)
{
    int nulls = 0;
    while (!PQisBusy(c->conn)) {
        PGresult *r = PQgetResult(c->conn);
        if (!r) {
            /* The end of one query's results; twice in a row: nothing more. */
            if ((!c->count && !c->syncs) || ++nulls > 1)
                return 0;
            continue;
        }
        nulls = 0;
        ExecStatusType st = PQresultStatus(r);
        int rc = 0;
        if (st == PGRES_PIPELINE_SYNC) {
            c->syncs--;
        } else if (!c->count) {
            rc = pg_fail(c, "unexpected result", PQresStatus(st));
        } else {
            long want = c->ring[c->head];
            c->head = (c->head + 1) % (PIPELINE + 1);
            c->count--;
            char what[64];
            if (want < 0) {
                if (st != PGRES_COMMAND_OK)
                    rc = pg_fail(c, "PREPARE failed", PQresultErrorMessage(r));
            } else if (st != PGRES_TUPLES_OK) {
                snprintf(what, sizeof what, "query %ld failed", want);
                rc = pg_fail(c, what, PQresultErrorMessage(r));
            } else if (PQntuples(r) != 1 || PQnfields(r) != 1 || PQgetisnull(r, 0, 0) ||
                       strtol(PQgetvalue(r, 0, 0), NULL, 10) != want) {
                snprintf(what, sizeof what, "query %ld returned a wrong result", want);
                rc = pg_fail(c, what, PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "no row");
            } else {
                c->run->done++;
            }
        }
        PQclear(r);
        if (rc)
            return rc;
    }
    return 0;
}

/* Sends what libpq buffered; while the socket is full, takes the results
 * that arrive (libpq's rule for PQflush) and waits for room. */
static int flush(pg_t *c)
{
    int f;
    while ((f = PQflush(c->conn)) == 1) {
        if (!PQconsumeInput(c->conn))
            return pg_fail(c, "connection lost", PQerrorMessage(c->conn));
        int rc = drain(c);
        if (rc || (rc = asyncio_wait_writable(PQsocket(c->conn))))
            return rc;
    }
    return f < 0 ? pg_fail(c, "cannot send", PQerrorMessage(c->conn)) : 0;
}

/* --- the queries of one connection: send while there is room, read what
 * came back, until every value is taken and every result checked. */
static void *pg_queries(void *arg)
{
    pg_t *c = arg;
    run_t *run = c->run;
    for (;;) {
        bool sent = false;
        while (c->count < run->depth && run->next < run->n) {
            long v = run->next++;
            char text[24];
            snprintf(text, sizeof text, "%ld", v);
            const char *params[1] = {text};
            if (!PQsendQueryPrepared(c->conn, "q", 1, params, NULL, NULL, 0)) {
                pg_fail(c, "cannot send", PQerrorMessage(c->conn));
                return NULL;
            }
            c->ring[(c->head + c->count) % (PIPELINE + 1)] = v;
            c->count++;
            sent = true;
        }
        /* A sync point makes the server send what it has. */
        if (sent || (c->count && !c->syncs)) {
            if (!PQpipelineSync(c->conn)) {
                pg_fail(c, "cannot send", PQerrorMessage(c->conn));
                return NULL;
            }
            c->syncs++;
        }
        if (flush(c))
            return NULL;
        if (!c->count && !c->syncs && run->next >= run->n)
            return NULL; /* all done */
        if (!PQconsumeInput(c->conn)) {
            pg_fail(c, "connection lost", PQerrorMessage(c->conn));
            return NULL;
        }
        if (drain(c))
            return NULL;
        /* Nothing complete yet: wait for the server (cancellable here). */
        if (PQisBusy(c->conn) && asyncio_wait_readable(PQsocket(c->conn)) < 0)
            return NULL;
    }
}

/* Runs in the executor: PQcancel blocks while it asks the server. */
static void *cancel_blocking(void *cancel)
{
    char err[256];
    PQcancel(cancel, err, sizeof err);
    return NULL;
}

/* Closes a connection.  Queries still in flight (a cancellation, a
 * failure elsewhere) are cancelled on the server first. */
static void pg_close(pg_t *c)
{
    if (!c->conn)
        return;
    if (c->count && PQstatus(c->conn) == CONNECTION_OK) {
        PGcancel *cancel = PQgetCancel(c->conn);
        if (cancel) {
            /* Suspends while an error (the cancellation) is raised, as a
             * Python `finally:` may await. */
            asyncio_to_thread(cancel_blocking, cancel, NULL);
            PQfreeCancel(cancel);
        }
    }
    PQfinish(c->conn);
    c->conn = NULL;
}

/* Runs fn on every connection in a TaskGroup: the first failure cancels
 * the others.  0, or the error raised (an ExceptionGroup when several
 * failed). */
static int each(run_t *run, asyncio_coro_fn fn)
{
    asyncio_taskgroup_t *tg = asyncio_taskgroup_enter();
    if (!tg)
        return asyncio_error()->code;
    for (int i = 0; i < run->m; i++)
        if (!asyncio_taskgroup_create_task(tg, fn, &run->pgs[i]))
            break; /* raised: the exit cancels the others and reports it */
    return asyncio_taskgroup_exit(tg);
}

static void on_signal(void *arg)
{
    run_t *run = arg;
    run->why_cancelled = "SIGTERM";
    asyncio_cancel(run->main, "SIGTERM");
}

/* --- async def main() */
static void *async_main(void *arg)
{
    run_t *run = arg;
    run->main = asyncio_current_task();
    if (asyncio_add_signal_handler(NULL, SIGTERM, on_signal, run) < 0)
        return NULL;
    double t0 = 0;
    int rc = each(run, pg_connect);
    if (rc == 0) {
        t0 = asyncio_loop_time(NULL);
        rc = each(run, pg_queries);
    }
    if (rc == 0 && run->done != run->n)
        rc = pg_fail(&run->pgs[0], "results missing", NULL); /* cannot happen */
    if (rc == 0)
        printf("ok %ld queries over %d connections in %.4f s\n", run->n, run->m,
               asyncio_loop_time(NULL) - t0);
    for (int i = 0; i < run->m; i++)
        pg_close(&run->pgs[i]);
    asyncio_remove_signal_handler(NULL, SIGTERM);
    return NULL; /* an error stays raised: asyncio_run returns it */
}

static int usage(void)
{
    fprintf(stderr, "usage: postgres CONNINFO N M   (N queries >= 0, M connections >= 1)\n");
    return 2;
}

static bool number(const char *s, long *out)
{
    char *end;
    *out = strtol(s, &end, 10);
    return *s && !*end && *out >= 0;
}

int main(int argc, char **argv)
{
    long n, m;
    if (argc != 4 || !number(argv[2], &n) || !number(argv[3], &m) || m < 1 || m > 10000)
        return usage();
    asyncio_exception_register("PostgresError", "Exception");
    run_t run = {.n = n, .m = (int)m, .depth = PIPELINE};
    const char *depth = getenv("PG_PIPELINE");
    long d;
    if (depth && number(depth, &d) && d >= 1 && d <= PIPELINE)
        run.depth = (size_t)d;
    /* CONNINFO ("key=value ..." or a URI), checked first; an application
     * name of ours is added unless it gives one (the test finds its
     * sessions by it). */
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(argv[1], &err);
    if (!opts) {
        fprintf(stderr, "postgres: invalid connection string: %s", err ? err : "out of memory\n");
        PQfreemem(err);
        return 1;
    }
    size_t nopts = 0;
    for (PQconninfoOption *o = opts; o->keyword; o++)
        nopts++;
    const char **keys = calloc(nopts + 2, sizeof *keys), **vals = calloc(nopts + 2, sizeof *vals);
    if (!keys || !vals)
        return 1;
    size_t k = 0;
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (o->val) {
            keys[k] = o->keyword;
            vals[k++] = o->val;
        }
    keys[k] = "fallback_application_name";
    vals[k] = "casyncio-postgres";
    run.keys = keys;
    run.vals = vals;
    run.pgs = calloc((size_t)m, sizeof *run.pgs);
    if (!run.pgs)
        return 1;
    for (int i = 0; i < m; i++)
        run.pgs[i] = (pg_t){.run = &run, .index = i};
    int rc = asyncio_run(async_main, &run, NULL);
    free(run.pgs);
    free(keys);
    free(vals);
    PQconninfoFree(opts);
    if (rc == 0)
        return 0;
    const asyncio_error_t *e = asyncio_error();
    /* Several connections failed together: the first names the cause. */
    if (e && e->code == ASYNCIO_EGROUP && asyncio_error_group_size(e) > 0)
        e = asyncio_error_group_item(e, 0);
    if (e &&
        (asyncio_error_matches("CancelledError") || asyncio_error_matches("KeyboardInterrupt")))
        fprintf(stderr, "postgres: cancelled (%s) after %ld of %ld queries\n",
                run.why_cancelled ? run.why_cancelled : "SIGINT", run.done, run.n);
    else
        fprintf(stderr, "postgres: %s: %s\n", e ? e->type : "Error",
                e ? e->message : "unknown error");
    return 1;
}
