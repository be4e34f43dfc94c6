/*
 * The program tests/gdb/test.sh examines with gdb: tasks suspended in
 * known places (a lock, a sleep, a queue, an await), then a stop in
 * casyncio_gdb_stop_here, where gdb lists them, prints their backtraces
 * and writes a core file; then everything is released and the program
 * exits 0.  Tasks are named after what they wait on.
 */
#include <casyncio.h>
#include <stdio.h>

static asyncio_lock_t *lock;
static asyncio_queue_t *queue;
static volatile int sink;

/* gdb stops here (a breakpoint): every other task is suspended. */
__attribute__((noinline)) void casyncio_gdb_stop_here(void)
{
    __asm__ volatile("" ::: "memory");
}

static __attribute__((noinline)) int gdb_take_lock(void)
{
    int rc = asyncio_lock_acquire(lock);
    sink++; /* no tail call: this frame stays on the stack */
    return rc;
}

static __attribute__((noinline)) void *gdb_lock_waiter(void *arg)
{
    (void)arg;
    if (gdb_take_lock() == 0)
        asyncio_lock_release(lock);
    sink++;
    return NULL;
}

static __attribute__((noinline)) void *gdb_sleeper(void *arg)
{
    (void)arg;
    asyncio_sleep(100);
    sink++;
    return NULL;
}

static __attribute__((noinline)) void *gdb_getter(void *arg)
{
    (void)arg;
    asyncio_queue_get(queue, NULL);
    sink++;
    return NULL;
}

static __attribute__((noinline)) void *gdb_awaiter(void *task)
{
    asyncio_await(task, NULL);
    sink++;
    return NULL;
}

static asyncio_future_t *spawn(asyncio_coro_fn fn, void *arg, const char *name)
{
    asyncio_task_opts_t opts = {.name = name};
    return asyncio_create_task_ex(fn, arg, &opts);
}

static void *gdb_main(void *arg)
{
    (void)arg;
    lock = asyncio_lock_new();
    queue = asyncio_queue_new(0);
    asyncio_lock_acquire(lock);
    asyncio_future_t *t[4];
    t[0] = spawn(gdb_lock_waiter, NULL, "locker");
    t[1] = spawn(gdb_sleeper, NULL, "sleeper");
    t[2] = spawn(gdb_getter, NULL, "getter");
    t[3] = spawn(gdb_awaiter, t[1], "awaiter");
    asyncio_sleep(0);
    asyncio_sleep(0);
    casyncio_gdb_stop_here();
    asyncio_lock_release(lock);
    asyncio_queue_put_nowait(queue, "item");
    asyncio_cancel(t[1], NULL);
    asyncio_gather(t, 4, NULL, ASYNCIO_RETURN_EXCEPTIONS);
    for (int i = 0; i < 4; i++)
        asyncio_decref(t[i]);
    asyncio_lock_free(lock);
    asyncio_queue_free(queue);
    return "done";
}

int main(void)
{
    void *r = NULL;
    if (asyncio_run(gdb_main, NULL, &r) != 0 || !r) {
        fprintf(stderr, "gdb test program failed\n");
        return 1;
    }
    puts("gdb test program: done");
    return 0;
}
