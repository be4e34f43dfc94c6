/*
 * The context switch on its own, without a loop: built natively by `make
 * check` and, when a cross compiler and qemu-user exist, for aarch64 by
 * `make check-switch` (mk/check-switch.sh).
 *
 * Two contexts ping-pong 100,000 times while each keeps a floating-point
 * accumulator and a counter live across every switch: the compiler holds
 * them in callee-saved registers (rbx.., x19.., d8-d15), so a register the
 * switch forgot shows as a wrong sum.  On x86-64 each context also runs
 * with its own rounding mode (MXCSR, x87 control word), which must follow
 * the context, not the thread.
 */
#include "core/core.h"

#include <fenv.h>
#include <stdio.h>
#include <stdlib.h>

void *asyncio__calloc(size_t n, size_t m) { return calloc(n, m); }
void asyncio__free(void *p) { free(p); }

#define ROUNDS 100000

static asyncio__coro_t main_ctx, co_ctx;
static double co_result;
static int co_round_ok = 1;

static void co_entry(void *arg)
{
    asyncio__coro_started(&co_ctx, &main_ctx);
    double x = *(double *)arg;
#if defined(__x86_64__)
    fesetround(FE_DOWNWARD);
#endif
    for (long i = 0; i < ROUNDS; i++) {
        x = x * 1.0000001 + 0.5;
        asyncio__coro_switch(&co_ctx, &main_ctx, false);
#if defined(__x86_64__)
        co_round_ok &= fegetround() == FE_DOWNWARD;
#endif
    }
    co_result = x;
    asyncio__coro_switch(&co_ctx, &main_ctx, true);
}

int main(void)
{
    if (asyncio__coro_main_init(&main_ctx) != 0)
        return 2;
    size_t size = 1 << 16;
    char *stack = malloc(size);
    double seed = 1.5;
    asyncio__coro_init(&co_ctx, stack, size, co_entry, &seed);
#if defined(__x86_64__)
    fesetround(FE_UPWARD);
#endif
    int main_round_ok = 1;
    double y = 2.0;
    for (long i = 0; i < ROUNDS; i++) {
        y = y * 0.9999999 + 0.25;
        asyncio__coro_switch(&main_ctx, &co_ctx, false);
#if defined(__x86_64__)
        main_round_ok &= fegetround() == FE_UPWARD;
#endif
    }
    asyncio__coro_switch(&main_ctx, &co_ctx, false); /* lets it finish */
#if defined(__x86_64__)
    fesetround(FE_DOWNWARD);
#endif
    double want_x = 1.5, want_y = 2.0;
    for (long i = 0; i < ROUNDS; i++)
        want_x = want_x * 1.0000001 + 0.5;
#if defined(__x86_64__)
    fesetround(FE_UPWARD);
#endif
    for (long i = 0; i < ROUNDS; i++)
        want_y = want_y * 0.9999999 + 0.25;
    fesetround(FE_TONEAREST);
    int ok = co_result == want_x && y == want_y && co_round_ok && main_round_ok;
    printf("%s switch: callee-saved state %s, rounding modes %s\n", ok ? "PASS" : "FAIL",
           co_result == want_x && y == want_y ? "kept" : "LOST",
           co_round_ok && main_round_ok ? "kept" : "LOST");
    asyncio__coro_destroy(&co_ctx);
    asyncio__coro_destroy(&main_ctx);
    free(stack);
    return ok ? 0 : 1;
}
