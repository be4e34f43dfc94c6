/*
 * Context switch for x86-64, System V ABI.
 *
 * void asyncio__ctx_switch(void **save_sp, void *load_sp)
 *
 * Saves the callee-saved registers (rbx, rbp, r12-r15), the MXCSR and the
 * x87 control word on the current stack, stores the stack pointer in
 * *save_sp, then loads load_sp and restores the same state from it.  Every
 * other register is caller-saved, so the C caller has already spilled it.
 *
 * A new context's stack is laid out by asyncio__coro_init (coro.c) so that
 * the first switch to it "returns" into asyncio__ctx_start with the entry
 * function in r12 and its argument in r13.
 */
        .text
        .globl  asyncio__ctx_switch
        .hidden asyncio__ctx_switch
        .type   asyncio__ctx_switch, @function
        .p2align 4
asyncio__ctx_switch:
        .cfi_startproc
        pushq   %rbp
        pushq   %rbx
        pushq   %r12
        pushq   %r13
        pushq   %r14
        pushq   %r15
        subq    $8, %rsp
        stmxcsr (%rsp)
        fnstcw  4(%rsp)
        movq    %rsp, (%rdi)
        /* Loading the control words is slow (it serialises the FPU), and
         * they almost never differ between contexts: load only when so. */
        movl    (%rsp), %eax
        movzwl  4(%rsp), %ecx
        movq    %rsi, %rsp
        cmpl    (%rsp), %eax
        jne     1f
2:      cmpw    4(%rsp), %cx
        jne     3f
4:      addq    $8, %rsp
        popq    %r15
        popq    %r14
        popq    %r13
        popq    %r12
        popq    %rbx
        popq    %rbp
        ret
1:      ldmxcsr (%rsp)
        jmp     2b
3:      fldcw   4(%rsp)
        jmp     4b
        .cfi_endproc
        .size   asyncio__ctx_switch, .-asyncio__ctx_switch

/* First code a new context runs: entry(arg).  The entry never returns (a
 * finished task switches away for good); ud2 catches a bug if it does. */
        .globl  asyncio__ctx_start
        .hidden asyncio__ctx_start
        .type   asyncio__ctx_start, @function
        .p2align 4
asyncio__ctx_start:
        .cfi_startproc
        .cfi_undefined rip
        movq    %r13, %rdi
        callq   *%r12
        ud2
        .cfi_endproc
        .size   asyncio__ctx_start, .-asyncio__ctx_start

        .section .note.GNU-stack,"",@progbits
