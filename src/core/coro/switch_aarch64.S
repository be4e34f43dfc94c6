/*
 * Context switch for aarch64, AAPCS64.
 *
 * void asyncio__ctx_switch(void **save_sp, void *load_sp)
 *
 * Saves the callee-saved registers x19-x28, the frame pointer x29, the link
 * register x30 and the low halves of v8-v15 (d8-d15) on the current stack,
 * stores sp in *save_sp, loads load_sp and restores the same set, then
 * returns through the restored x30.
 *
 * asyncio__coro_init lays out a new stack so that the first switch returns
 * into asyncio__ctx_start with the entry in x19 and its argument in x20.
 */
        .text
        .globl  asyncio__ctx_switch
        .hidden asyncio__ctx_switch
        .type   asyncio__ctx_switch, %function
        .p2align 4
asyncio__ctx_switch:
        sub     sp, sp, #160
        stp     x19, x20, [sp, #0]
        stp     x21, x22, [sp, #16]
        stp     x23, x24, [sp, #32]
        stp     x25, x26, [sp, #48]
        stp     x27, x28, [sp, #64]
        stp     x29, x30, [sp, #80]
        stp     d8, d9, [sp, #96]
        stp     d10, d11, [sp, #112]
        stp     d12, d13, [sp, #128]
        stp     d14, d15, [sp, #144]
        mov     x9, sp
        str     x9, [x0]
        mov     sp, x1
        ldp     x19, x20, [sp, #0]
        ldp     x21, x22, [sp, #16]
        ldp     x23, x24, [sp, #32]
        ldp     x25, x26, [sp, #48]
        ldp     x27, x28, [sp, #64]
        ldp     x29, x30, [sp, #80]
        ldp     d8, d9, [sp, #96]
        ldp     d10, d11, [sp, #112]
        ldp     d12, d13, [sp, #128]
        ldp     d14, d15, [sp, #144]
        add     sp, sp, #160
        ret
        .size   asyncio__ctx_switch, .-asyncio__ctx_switch

/* First code a new context runs: entry(arg); the entry never returns. */
        .globl  asyncio__ctx_start
        .hidden asyncio__ctx_start
        .type   asyncio__ctx_start, %function
        .p2align 4
asyncio__ctx_start:
        mov     x0, x20
        blr     x19
        brk     #0
        .size   asyncio__ctx_start, .-asyncio__ctx_start

        .section .note.GNU-stack,"",%progbits
