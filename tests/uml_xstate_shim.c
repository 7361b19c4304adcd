/* uml_xstate_shim.c - LD_PRELOAD shim that lets Debian 12's linux.uml (6.1) run on AMX hosts
   public domain (Unlicense) - see the end of vballoon.h

   UML saves and restores its processes' FPU state with PTRACE_GETREGSET / PTRACE_SETREGSET
   (NT_X86_XSTATE) through a buffer of its own fixed size. The host kernel accepts a SETREGSET
   only with the whole user XSAVE size (xstateregs_set: count != fpu_user_cfg.max_size ->
   -EFAULT), which on CPUs with AMX includes 8 KiB of tile data. So on such hosts every UML
   process dies at its first context switch: "userspace - ptrace set fp regs failed, errno = 14",
   then "Kernel panic - not syncing: Attempted to kill init!".

   This shim interposes ptrace(): a SETREGSET of NT_X86_XSTATE shorter than the host's size is
   completed with the current state of the components past UML's buffer (read with a full-size
   GETREGSET first), then written with the full size. Every other request goes straight to the
   system call, with glibc's PEEK* convention kept. On hosts where the sizes match it changes
   nothing. Build: cc -shared -fPIC -o uml_xstate_shim.so uml_xstate_shim.c
   Use: LD_PRELOAD=/path/uml_xstate_shim.so linux.uml ... */
#define _GNU_SOURCE /* NOLINT(cert-dcl51-cpp): glibc feature macro */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif
#define XSTATE_MAX 65536 /* far more than any x86 XSAVE area (AMX: about 11 KiB) */

static long raw_ptrace(long req, long pid, void *addr, void *data)
{
    return syscall(SYS_ptrace, req, pid, addr, data);
}

long ptrace(enum __ptrace_request request, ...)
{
    static unsigned char full[XSTATE_MAX];
    va_list ap;
    long req = (long)request, pid, word;
    void *addr, *data;

    va_start(ap, request);
    pid = (long)va_arg(ap, pid_t);
    addr = va_arg(ap, void *);
    data = va_arg(ap, void *);
    va_end(ap);

    if (req == PTRACE_PEEKTEXT || req == PTRACE_PEEKDATA || req == PTRACE_PEEKUSER) {
        if (raw_ptrace(req, pid, addr, &word) < 0) return -1; /* the kernel stores the word at *data */
        errno = 0;
        return word;
    }
    if (req == PTRACE_SETREGSET && (unsigned long)addr == NT_X86_XSTATE && data) {
        struct iovec *given = (struct iovec *)data, whole;
        whole.iov_base = full;
        whole.iov_len = sizeof full;
        if (raw_ptrace(PTRACE_GETREGSET, pid, addr, &whole) == 0 && given->iov_len < whole.iov_len) {
            memcpy(full, given->iov_base, given->iov_len); /* UML's part; the rest as it is */
            return raw_ptrace(req, pid, addr, &whole);
        }
    }
    return raw_ptrace(req, pid, addr, data);
}
