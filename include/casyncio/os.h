/*
 * casyncio/os.h: Subprocesses, signals and files.
 *
 * Part of the specification that <casyncio.h> assembles: include
 * <casyncio.h>, not this file.  The conventions its comments use are at
 * the top of <casyncio.h>.
 */
#ifndef CASYNCIO_OS_H
#define CASYNCIO_OS_H

#ifndef CASYNCIO_H
#error "include <casyncio.h>, not <casyncio/os.h>"
#endif

/* ======================================================================
 * 9. Subprocesses, signals and files
 * ====================================================================== */

/* --- Signals */

/* loop.add_signal_handler(signum, fn, arg): fn(arg) runs as a loop
 * callback (through the ready queue, never in signal context) each time
 * signum arrives, outside any task and in a copy of the context current
 * at this call: the same copy for every signal, so what one call sets the
 * next sees (Python's Handle keeps one Context).  A second call for the
 * same signal replaces the handler (from the context current then); a
 * call already queued for the old one still runs, as in Python.  loop NULL: the running (or current) loop.  A handler for
 * SIGINT replaces asyncio_run's own SIGINT handling.  Does not suspend.
 * Raises ValueError (signum out of range(1, NSIG): "invalid signal number
 * N", as Python 3.11; "fn is NULL"), RuntimeError (SIGKILL, SIGSTOP or
 * another signal that cannot be caught: "sig N cannot be caught"; "no
 * running event loop"; "Event loop is closed"), MemoryError, OSError.  The
 * loop closing removes its handlers. */
ASYNCIO_EXTERN int asyncio_add_signal_handler(asyncio_loop_t *loop, int signum,
                                              asyncio_callback_fn fn, void *arg);

/* loop.remove_signal_handler(signum): returns 1 if a handler was removed
 * (the signal gets its default disposition back once no loop watches it),
 * 0 if none was set.  A callback already scheduled still runs.  Raises
 * ValueError (signum out of range: "invalid signal number N"),
 * RuntimeError (no loop or closed, as add's). */
ASYNCIO_EXTERN int asyncio_remove_signal_handler(asyncio_loop_t *loop, int signum);

/* asyncio_run and SIGINT (Python 3.11's Runner).  When asyncio_run is
 * called from the main thread and SIGINT has its default disposition (the
 * program set no handler of its own), the first SIGINT cancels the main
 * task.  If main then ends cancelled (it did not catch the CancelledError,
 * and nobody else cancelled it), asyncio_run returns ASYNCIO_EEXCEPTION
 * with "KeyboardInterrupt" raised (a BaseException: "Exception" does not
 * match it).  A second SIGINT, or one arriving when main is already done,
 * is Python's immediate KeyboardInterrupt: the default disposition is
 * restored and the signal delivered again, so the process ends as killed
 * by SIGINT.  The default disposition is back when asyncio_run returns. */

/* --- Files, on libuv's fs API: the work runs in libuv's thread pool, the
 * loop never blocks.  Errors are OSError subtypes with the libuv code
 * (FileNotFoundError for UV_ENOENT, PermissionError for UV_EACCES,
 * IsADirectoryError, ...) and Python's message: the calls on a path name
 * it, as open() does ("[Errno 2] No such file or directory: '/x'"); the
 * calls on an open file name nothing, as os.read and os.write do ("[Errno
 * 21] Is a directory").  A call outside a task raises RuntimeError.
 *
 * An open file is a handle (the conventions at the top of <casyncio.h>):
 * once asyncio_file_close freed it, every call with it, a second close
 * included, raises ValueError "not a live file (freed, or never one)"
 * (NULL: "the file is NULL") and a file opened later is never reached
 * through it.
 *
 * Cancellation: a request not yet started in the pool is withdrawn.  One
 * already running cannot be interrupted: if it uses the caller's memory
 * (a buffer to read into or write from) it is waited for, then the call
 * raises CancelledError and its result is released (a file it opened is
 * closed); asyncio_file_read_all, which uses only its own, returns at
 * once and its job is released when it ends.  Only when the loop is
 * closing is a running request left behind; asyncio_loop_close returns
 * after it ended: a buffer given to it must stay valid until then.
 * The whole-file functions run all their system calls in one pool job. */

/* `data = await read_file(path)`: the whole file.  *data (NUL-terminated,
 * also when the file is empty; *len does not count the NUL) is the
 * caller's: free it with asyncio_buffer_free (section 8).  On failure
 * *data is NULL and *len 0.  Suspends.  Raises OSError, CancelledError,
 * ValueError ("path is NULL", "data is NULL"), RuntimeError (outside a
 * task), MemoryError. */
ASYNCIO_EXTERN int asyncio_file_read_all(const char *path, char **data, size_t *len);

/* `await write_file(path, data)`: creates or truncates path (mode 0666
 * before the umask) and writes len bytes; _append adds them at its end
 * (creating it if needed).  data may be NULL when len is 0.  Suspends.
 * Raises OSError, CancelledError (the file may have been partly written),
 * ValueError ("path is NULL", "data is NULL"), RuntimeError, MemoryError. */
ASYNCIO_EXTERN int asyncio_file_write_all(const char *path, const void *data, size_t len);
ASYNCIO_EXTERN int asyncio_file_append(const char *path, const void *data, size_t len);

/* open(path, mode): mode as Python's and fopen's: "r", "w", "a", "x" (create,
 * FileExistsError if it exists), each with an optional "+" (read and
 * write) and "b" (ignored: files are bytes).  New: *out must be closed
 * with asyncio_file_close; on failure it is NULL.  Suspends.  Raises
 * OSError, CancelledError (no file stays open), ValueError (a bad mode,
 * with Python's message: "invalid mode: 'z'", "must have exactly one of
 * create/read/write/append mode", ...; "path is NULL", "mode is NULL",
 * "out is NULL"), RuntimeError, MemoryError. */
ASYNCIO_EXTERN int asyncio_file_open(const char *path, const char *mode, asyncio_file_t **out);

/* f.read(n) at the current position, which moves past what was read:
 * reads up to n bytes into buf; *nread 0 means end of file.  buf[*nread]
 * is '\0' when *nread < n (the bytes may contain NULs of their own); on
 * failure *nread is 0.  Suspends.  Raises OSError, CancelledError,
 * ValueError (NULL or closed file, "buf is NULL" with n > 0, "File not
 * open for reading"), RuntimeError. */
ASYNCIO_EXTERN int asyncio_file_read(asyncio_file_t *f, void *buf, size_t n, size_t *nread);

/* os.pread: reads up to n bytes at offset (>= 0, else ValueError
 * "negative offset -1"); the position does not move.  As
 * asyncio_file_read otherwise. */
ASYNCIO_EXTERN int asyncio_file_pread(asyncio_file_t *f, void *buf, size_t n, int64_t offset,
                                      size_t *nread);

/* f.write(data): writes all n bytes at the current position (at the end
 * in "a" modes).  Suspends.  Raises OSError, CancelledError (part may be
 * written), ValueError (NULL or closed file, "buf is NULL" with n > 0,
 * "File not open for writing"), RuntimeError. */
ASYNCIO_EXTERN int asyncio_file_write(asyncio_file_t *f, const void *buf, size_t n);

/* os.pwrite: writes all n bytes at offset (>= 0, else ValueError
 * "negative offset -1"); the position does not move.  As
 * asyncio_file_write otherwise. */
ASYNCIO_EXTERN int asyncio_file_pwrite(asyncio_file_t *f, const void *buf, size_t n,
                                       int64_t offset);

/* f.seek(offset, whence) with SEEK_SET, SEEK_CUR, SEEK_END; *pos gets the
 * new position (f.tell() is seek(f, 0, SEEK_CUR)), 0 on failure.  Does
 * not suspend (no I/O).  Raises ValueError (NULL or closed file, "invalid
 * whence (3, should be 0, 1 or 2)"), OSError (os.lseek's: "[Errno 22]
 * Invalid argument" for a position before the start). */
ASYNCIO_EXTERN int asyncio_file_seek(asyncio_file_t *f, int64_t offset, int whence, int64_t *pos);

/* f.close(): closes the descriptor and frees f, even when it fails or is
 * cancelled (the close then completes in the background).  Suspends in a
 * task; outside a task it closes at once without suspending, so a file is
 * never lost.  NULL is harmless.  Raises OSError, CancelledError,
 * RuntimeError while another task's read or write of f is in progress
 * (f stays open: its descriptor is never closed under a running
 * operation), ValueError for a file already closed (a double close). */
ASYNCIO_EXTERN int asyncio_file_close(asyncio_file_t *f);

/* The file descriptor (os.fileno), -1 for NULL or a closed file (nothing
 * raised). */
ASYNCIO_EXTERN int asyncio_file_fileno(asyncio_file_t *f);

/* --- Subprocesses: asyncio.create_subprocess_exec / _shell and
 * asyncio.subprocess.Process, on libuv's uv_spawn. */

/* What a child's stdin, stdout or stderr is (Python's None, PIPE, DEVNULL,
 * STDOUT).  ASYNCIO_STDIO_INHERIT is 0, so a zeroed options struct
 * inherits all three, as Python's defaults do. */
enum asyncio_stdio {
    ASYNCIO_STDIO_INHERIT = 0, /* the parent's own descriptor */
    ASYNCIO_STDIO_PIPE,        /* a pipe the parent reads or writes */
    ASYNCIO_STDIO_DEVNULL,     /* /dev/null */
    ASYNCIO_STDIO_STDOUT       /* stderr only: wherever stdout goes */
};

typedef struct asyncio_subprocess_opts {
    enum asyncio_stdio stdin_mode, stdout_mode, stderr_mode;
    const char *cwd;              /* NULL: the parent's */
    const char *const *env;       /* "NAME=value", NULL-terminated; NULL: the parent's */
} asyncio_subprocess_opts_t;

/* Writing to a child that has gone fails with BrokenPipeError (the
 * loop ignores SIGPIPE: see asyncio_loop_new); children get the default
 * disposition back.
 *
 * create_subprocess_exec(argv[0], *argv[1:], ...): starts argv[0]
 * (searched in PATH when it has no '/') with the arguments argv (NULL-
 * terminated, at least argv[0]).  New: *out is the caller's, freed with
 * asyncio_process_free; on failure it is NULL.  Needs a running loop but
 * does not suspend (the child is started when it returns).  Raises
 * FileNotFoundError / PermissionError / OSError (the program cannot be
 * started: Python's "[Errno 2] No such file or directory: 'prog'", naming
 * opts->cwd instead when that is what is missing), ValueError ("argv is
 * NULL", "argv is empty", "argv[0] is empty", "out is NULL", "stdin_mode
 * STDOUT is for stderr only", "invalid stderr_mode 42"), RuntimeError ("no
 * running event loop"), MemoryError. */
ASYNCIO_EXTERN int asyncio_create_subprocess_exec(const char *const *argv,
                                                  const asyncio_subprocess_opts_t *opts,
                                                  asyncio_process_t **out);

/* create_subprocess_shell(cmd, ...): "/bin/sh -c cmd".  As _exec. */
ASYNCIO_EXTERN int asyncio_create_subprocess_shell(const char *cmd,
                                                   const asyncio_subprocess_opts_t *opts,
                                                   asyncio_process_t **out);

/* process.pid (-1 for NULL or a released process). */
ASYNCIO_EXTERN int asyncio_process_pid(asyncio_process_t *p);

/* process.returncode: true and *code once the child has exited (its exit
 * status, or -N when killed by signal N); false and *code 0 while it runs
 * (or for NULL or a freed process: nothing raised). */
ASYNCIO_EXTERN bool asyncio_process_returncode(asyncio_process_t *p, int *code);

/* `code = await process.wait()`: suspends until the child exits; *code
 * gets its return code (0 on failure).  Several tasks may wait at once.
 * Cancelling a wait leaves the child running.  With stdout or stderr piped
 * a child that writes much blocks until they are read: use
 * asyncio_process_communicate.  Raises CancelledError, ValueError ("the
 * process is NULL", "not a live process (freed, or never one)"),
 * RuntimeError (outside a task, another loop, "Event loop is closed"),
 * MemoryError. */
ASYNCIO_EXTERN int asyncio_process_wait(asyncio_process_t *p, int *code);

/* process.send_signal(signum) / terminate() (SIGTERM) / kill() (SIGKILL).
 * Do not suspend.  Raise ProcessLookupError once the child has exited
 * (its pid may already be someone else's; Python's has no message, this
 * one os.kill's: "[Errno 3] No such process"), ValueError (NULL or freed
 * process), OSError (os.kill's: "[Errno 22] Invalid argument" for a bad
 * signal number). */
ASYNCIO_EXTERN int asyncio_process_send_signal(asyncio_process_t *p, int signum);
ASYNCIO_EXTERN int asyncio_process_terminate(asyncio_process_t *p);
ASYNCIO_EXTERN int asyncio_process_kill(asyncio_process_t *p);

/* `out, err = await process.communicate(input)`: writes input (len bytes;
 * NULL/0 for none) to stdin and closes it, while reading stdout and
 * stderr to their end, all at once (no deadlock whatever the sizes), then
 * waits for the child to exit.  *out / *err (NUL-terminated, also when
 * empty; lengths without the NUL) get what was read from a piped stdout /
 * stderr, NULL for one not piped; free them with asyncio_buffer_free.  On
 * failure all four are NULL and 0.  As in Python, it runs a task per
 * stream and gathers them; stdin is closed even without input.  A child
 * that exits without reading its input is not an error (BrokenPipe and
 * ConnectionReset on stdin are ignored).  Suspends.  Raises
 * CancelledError (the child keeps running; what was read is dropped),
 * ValueError ("input given but stdin is not a pipe", "input is NULL",
 * NULL or freed process), RuntimeError (outside a task; "already
 * communicating", another reader of the same stream, or stdin already
 * closed), the streams' errors, MemoryError. */
ASYNCIO_EXTERN int asyncio_process_communicate(asyncio_process_t *p, const void *input,
                                               size_t len, char **out, size_t *out_len,
                                               char **err, size_t *err_len);

/* process.stdin / process.stdout / process.stderr: the child's pipes as
 * streams (section 8), or NULL for one that is not a pipe (and for a NULL
 * or freed process).  Borrowed: they belong to the process and go with
 * asyncio_process_free (loop close closes them; their memory still goes
 * with asyncio_process_free).  stdin is a StreamWriter
 * (asyncio_stream_write, _drain, _close: the child sees end of file),
 * stdout and stderr StreamReaders (asyncio_stream_read, _readline,
 * _read_all, ...).  Do not free them.  A pipe that fills (bulk data)
 * has its capacity raised to 256 KiB, once (docs/porting.md). */
ASYNCIO_EXTERN asyncio_stream_t *asyncio_process_stdin(asyncio_process_t *p);
ASYNCIO_EXTERN asyncio_stream_t *asyncio_process_stdout(asyncio_process_t *p);
ASYNCIO_EXTERN asyncio_stream_t *asyncio_process_stderr(asyncio_process_t *p);

/* Releases the process object (the transport's close): a child still
 * running is killed (SIGKILL) and reaped in the background, as Python's
 * transport does; its streams are closed and freed.  Refused
 * (RuntimeError "tasks are waiting on the process") while a task waits on
 * it or uses one of its streams.  Loop close kills and reaps children
 * still running and closes their streams: the object stays valid for
 * asyncio_process_free, returncode and pid.  NULL is harmless; a freed
 * process raises ValueError "not a live process (freed, or never one)"
 * (a double free), as every call with it does. */
ASYNCIO_EXTERN void asyncio_process_free(asyncio_process_t *p);

#endif /* CASYNCIO_OS_H */
