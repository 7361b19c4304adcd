/* minivmm.c - vballoon-minivmm: the shortest honest path from an empty KVM virtual machine to a
   virtio-balloon with guest memory statistics, built on vballoon.h
   public domain (Unlicense) - see the end of vballoon.h

   Read it top to bottom as a tutorial of embedding the header in a real VMM (Linux, x86-64):

     1. options                 what the command line sets
     2. the machine (KVM)       VM, guest RAM, in-kernel irqchip, one vCPU in 64-bit long mode
     3. the device              vb_device + the vb_host callbacks, each mapped to a KVM or
                                Linux facility (guest RAM = our mmap, interrupts = KVM_IRQ_LINE,
                                the poll timer = a timerfd), and the virtio-mmio window
                                (vb_mmio) that KVM's MMIO exits are forwarded to
     4. the vCPU thread         KVM_RUN and its exits: the serial port, the exit port, the window
     5. the QMP monitor         a unix socket served by the header's QMP layer, plus the VM's
                                run state: query-status, stop, cont, quit
     6. main                    one poll() loop: timer, signals, QMP clients, the vCPU's end

   THREADS. The vCPU thread spends its life in KVM_RUN and handles the exits; the main thread
   waits for everything else. Both call into the device, so every vb_* / vb_mmio_* call is made
   with `vm.lock` held (the library is single-threaded per device by design). The callbacks run
   inside those calls, on whichever thread made them; none of them calls back into the device.

   THE GUEST. Stock Linux kernels do not boot on this project's KVM (PVM, see
   docs/minivmm.md), so the guest is guest/guest.c: a freestanding 64-bit program that
   drives the balloon over real MMIO exactly as Linux's driver does, except that it polls the
   used ring instead of sleeping until an interrupt (PVM delivers none to it). The interrupt line
   is still driven (KVM_IRQ_LINE on IRQ 5, level-triggered) so that the VMM side is what a Linux
   guest on hardware KVM needs.

   RUN
       make minivmm      (build/vballoon-minivmm --guest build/minivmm-guest.bin
                          --qmp unix:build/minivmm.sock --interval 2 --print-stats)
   then talk QMP to build/minivmm.sock (e.g. with build/minivmm-qmp, or socat), or stop it with
   Ctrl-C. Exit status: the guest's status (0 = it stopped cleanly when asked), 64 usage,
   65 a KVM or system error, 66 the guest did not stop when asked, 77 KVM is not usable here.
*/
#define _GNU_SOURCE
#define VB_WITH_MMIO
#define VBALLOON_IMPLEMENTATION
#include "../../vballoon.h"
#include "minivmm.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define EXIT_USAGE 64
#define EXIT_SYSTEM 65
#define EXIT_NO_STOP 66
#define EXIT_NO_KVM 77

/* ============================================================================================
   1. OPTIONS
   ============================================================================================ */

typedef struct options {
    const char *guest;    /* --guest: the flat binary */
    const char *qmp;      /* --qmp unix:PATH */
    uint64_t mem_mib;     /* --mem */
    uint32_t interval;    /* --interval: initial guest-stats-polling-interval */
    uint32_t timeout;     /* --timeout: stop the guest after this many seconds (0 = never) */
    vb_profile profile;   /* --profile doc|qemu */
    int print_stats, verbose;
    int no_map;           /* --no-map: guest RAM only through read/write (no map callback) */
    int packed;           /* --packed: offer VIRTIO_F_RING_PACKED (the guest takes it) */
    uint32_t queue_size;  /* --queue-size: the guest's ring size (0: QueueNumMax) */
} options;

static void usage(FILE *f)
{
    fputs("usage: vballoon-minivmm --guest FILE [options]\n"
          "A KVM virtual machine with a virtio-mmio balloon (vballoon.h " VB_VERSION_STRING ").\n"
          "  --guest FILE        flat 64-bit guest binary, loaded at 0x100000 (required)\n"
          "  --qmp unix:PATH     serve QMP on a unix socket (up to 16 clients at once)\n"
          "  --mem MiB           guest RAM, 16..2048 (default 64)\n"
          "  --interval N        initial guest-stats-polling-interval in seconds (default 0)\n"
          "  --profile doc|qemu  doc: the 2013 document (default); qemu: current QEMU\n"
          "  --timeout S         ask the guest to stop after S seconds (default: never)\n"
          "  --print-stats       print guest-stats on stdout at every update\n"
          "  --no-map            the device copies guest RAM (read/write callbacks) instead of\n"
          "                      using pointers into our mapping of it (map callback)\n"
          "  --packed            offer the packed virtqueue (VIRTIO_F_RING_PACKED); the guest\n"
          "                      takes it, as Linux does\n"
          "  --queue-size N      the guest's rings hold N entries, 1..128 (default: the\n"
          "                      device's 128); split rings need a power of two\n"
          "  --verbose           KVM setup, exits and device log on stderr\n"
          "Stop: the guest's exit port, SIGINT/SIGTERM, or QMP {\"execute\": \"quit\"}.\n",
          f);
}

static void bad_usage(const char *what, const char *arg)
{
    fprintf(stderr, "vballoon-minivmm: %s%s%s\n", what, arg ? ": " : "", arg ? arg : "");
    usage(stderr);
    exit(EXIT_USAGE);
}

static uint64_t parse_number(const char *opt, const char *s, uint64_t lo, uint64_t hi)
{
    char *end;
    unsigned long long v;
    if (!s || *s < '0' || *s > '9') bad_usage("expected a number for", opt);
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi) bad_usage("value out of range for", opt);
    return (uint64_t)v;
}

static void parse_options(int argc, char **argv, options *o)
{
    int i;
    memset(o, 0, sizeof *o);
    o->mem_mib = 64;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(a, "--print-stats")) {
            o->print_stats = 1;
        } else if (!strcmp(a, "--verbose")) {
            o->verbose = 1;
        } else if (!strcmp(a, "--no-map")) {
            o->no_map = 1;
        } else if (!strcmp(a, "--packed")) {
            o->packed = 1;
        } else if (!v) {
            bad_usage("unknown option or missing value", a);
        } else {
            i++;
            if (!strcmp(a, "--guest")) o->guest = v;
            else if (!strcmp(a, "--qmp")) {
                if (strncmp(v, "unix:", 5) || !v[5]) bad_usage("--qmp takes unix:PATH, not", v);
                o->qmp = v + 5;
            } else if (!strcmp(a, "--mem")) o->mem_mib = parse_number(a, v, 16, 2048);
            else if (!strcmp(a, "--interval")) o->interval = (uint32_t)parse_number(a, v, 0, UINT32_MAX);
            else if (!strcmp(a, "--timeout")) o->timeout = (uint32_t)parse_number(a, v, 0, 86400);
            else if (!strcmp(a, "--queue-size")) o->queue_size = (uint32_t)parse_number(a, v, 1, 128);
            else if (!strcmp(a, "--profile")) {
                if (!strcmp(v, "doc")) o->profile = VB_PROFILE_DOC;
                else if (!strcmp(v, "qemu")) o->profile = VB_PROFILE_QEMU;
                else bad_usage("--profile must be doc or qemu, not", v);
            } else bad_usage("unknown option", a);
        }
    }
    if (!o->guest) bad_usage("--guest FILE is required", NULL);
    /* a split ring's 16-bit indices wrap cleanly only around a power of two */
    if ((o->queue_size & (o->queue_size - 1u)) && !o->packed)
        bad_usage("--queue-size must be a power of two without --packed", NULL);
}

/* ============================================================================================
   2. THE MACHINE (KVM)
   ============================================================================================ */

typedef struct vm {
    options opt;
    int kvm, fd, vcpu;          /* /dev/kvm, the VM, the vCPU */
    struct kvm_run *run;        /* the vCPU's shared page: exit reason and data */
    size_t run_size;
    unsigned char *ram;         /* guest-physical 0 .. ram_size */
    uint64_t ram_size;
    int irqchip;                /* KVM_CREATE_IRQCHIP worked: the balloon has an IRQ line */
    struct mv_mailbox *mailbox;

    pthread_mutex_t lock;       /* held around every vb_* and vb_mmio_* call */
    vb_device dev;
    vb_mmio mmio;
    int timer;                  /* timerfd (CLOCK_MONOTONIC) for the device's poll timer */

    pthread_t vcpu_thread;
    int done;                   /* eventfd: the vCPU thread has finished */
    volatile int stopping;      /* the main thread asked the vCPU to leave KVM_RUN */
    pthread_cond_t resume;      /* with `lock`: a paused vCPU waits on it */
    int paused;                 /* QMP stop (with `lock`): the vCPU waits, the VM clock stands */
    uint64_t frozen_ms;         /* the VM clock while it stands */
    uint64_t stood_ms;          /* CLOCK_MONOTONIC time the VM clock stood, all stops together */
    uint64_t deadline_ms;       /* the device's poll deadline (VM clock), 0 = none */
    int guest_status;           /* value written to the exit port, -1 = none */
    int vcpu_error;             /* the vCPU thread failed (KVM error, triple fault, ...) */

    /* numbers for the end-of-run report */
    uint64_t start_ns, first_exit_ns, first_stats_ns, exits, exits_io, exits_mmio, exits_intr;
    uint32_t updates_seen;
    char line[256];             /* serial output, one line at a time */
    size_t line_len;
} vm;

static vm the_vm;

static uint64_t now_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static void say(const char *fmt, ...)
{
    va_list ap;
    if (!the_vm.opt.verbose) return;
    fputs("vballoon-minivmm: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* Every failure names what failed and why; KVM failures name the ioctl. */
static void fail(int status, const char *what)
{
    fprintf(stderr, "vballoon-minivmm: %s: %s\n", what, errno ? strerror(errno) : "failed");
    exit(status);
}

#define KVM_IOCTL(fd, req, arg) kvm_ioctl((fd), (req), (arg), #req)
static int kvm_ioctl(int fd, unsigned long req, void *arg, const char *name)
{
    int r;
    do r = ioctl(fd, req, arg);
    while (r < 0 && errno == EINTR && req != KVM_RUN);
    if (r < 0 && req != KVM_RUN) fail(EXIT_SYSTEM, name);
    return r;
}

/* /dev/kvm, API 12, a VM. Failing here means "no usable KVM": exit 77 with the reason. */
static void kvm_open(vm *v)
{
    int api;
    v->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (v->kvm < 0) fail(EXIT_NO_KVM, "cannot open /dev/kvm");
    api = ioctl(v->kvm, KVM_GET_API_VERSION, 0);
    if (api != KVM_API_VERSION) {
        fprintf(stderr, "vballoon-minivmm: KVM_GET_API_VERSION: %d, expected %d\n", api,
                KVM_API_VERSION);
        exit(EXIT_NO_KVM);
    }
    v->fd = ioctl(v->kvm, KVM_CREATE_VM, 0);
    if (v->fd < 0) fail(EXIT_NO_KVM, "ioctl KVM_CREATE_VM");
}

/* Guest RAM: anonymous memory (zeroed), one slot at guest-physical 0; the MMIO window at
   0xd0000000 is outside every slot, so each access there exits to us. */
static void kvm_memory(vm *v)
{
    struct kvm_userspace_memory_region region;
    v->ram_size = v->opt.mem_mib << 20;
    v->ram = mmap(NULL, v->ram_size, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (v->ram == MAP_FAILED) fail(EXIT_SYSTEM, "mmap of guest RAM");
    memset(&region, 0, sizeof region);
    region.slot = 0;
    region.guest_phys_addr = 0;
    region.memory_size = v->ram_size;
    region.userspace_addr = (uint64_t)(uintptr_t)v->ram;
    KVM_IOCTL(v->fd, KVM_SET_USER_MEMORY_REGION, &region);
}

/* The in-kernel PIC + IOAPIC, so KVM_IRQ_LINE has somewhere to go. Optional: without it the
   device still works (the guest polls) and the line is not driven. Must precede the vCPU. */
static void kvm_irqchip(vm *v)
{
    uint64_t identity = 0xfffbc000u;
    if (ioctl(v->fd, KVM_SET_TSS_ADDR, 0xfffbd000ul) < 0) fail(EXIT_SYSTEM, "ioctl KVM_SET_TSS_ADDR");
    if (ioctl(v->fd, KVM_SET_IDENTITY_MAP_ADDR, &identity) < 0)
        say("KVM_SET_IDENTITY_MAP_ADDR: %s (ignored)", strerror(errno));
    if (ioctl(v->kvm, KVM_CHECK_EXTENSION, KVM_CAP_IRQCHIP) > 0 && ioctl(v->fd, KVM_CREATE_IRQCHIP, 0) == 0) {
        v->irqchip = 1;
        say("in-kernel irqchip: the balloon drives IRQ %u", MV_MMIO_IRQ);
    } else {
        fprintf(stderr, "vballoon-minivmm: KVM_CREATE_IRQCHIP: %s; running without an IRQ line\n",
                strerror(errno));
    }
}

/* Identity page tables for 0-4 GiB with 2 MiB pages, and a GDT with a 64-bit code segment. */
static void build_long_mode_tables(vm *v)
{
    uint64_t *pml4 = (uint64_t *)(v->ram + MV_PAGE_TABLES), *pdpt = pml4 + 512, *pd = pdpt + 512;
    uint64_t *gdt = (uint64_t *)(v->ram + MV_GDT);
    unsigned i;
    pml4[0] = (MV_PAGE_TABLES + 0x1000u) | 0x3;                 /* present, writable */
    for (i = 0; i < 4; i++) pdpt[i] = (MV_PAGE_TABLES + 0x2000u + 0x1000u * i) | 0x3;
    for (i = 0; i < 4 * 512; i++) pd[i] = ((uint64_t)i << 21) | 0x83; /* + 2 MiB page */
    gdt[0] = 0;
    gdt[1] = 0x00af9b000000ffffull; /* 0x08: code, long mode, present, DPL 0 */
    gdt[2] = 0x00cf93000000ffffull; /* 0x10: data, writable, present */
}

/* The vCPU, its kvm_run page, the host's CPUID, and the registers of 64-bit mode. */
static void kvm_vcpu(vm *v, uint64_t entry)
{
    struct kvm_sregs sregs;
    struct kvm_regs regs;
    struct kvm_segment code, data;
    struct kvm_msrs *msrs = calloc(1, sizeof *msrs + sizeof(struct kvm_msr_entry));
    struct kvm_cpuid2 *cpuid = calloc(1, sizeof *cpuid + 128 * sizeof(struct kvm_cpuid_entry2));
    int size;

    v->vcpu = KVM_IOCTL(v->fd, KVM_CREATE_VCPU, (void *)0);
    size = ioctl(v->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (size < (int)sizeof *v->run) fail(EXIT_SYSTEM, "ioctl KVM_GET_VCPU_MMAP_SIZE");
    v->run_size = (size_t)size;
    v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->vcpu, 0);
    if (v->run == MAP_FAILED) fail(EXIT_SYSTEM, "mmap of the vCPU's kvm_run");

    /* The host's CPUID as KVM supports it: without it the guest sees an almost empty CPUID. */
    if (!cpuid) fail(EXIT_SYSTEM, "calloc");
    cpuid->nent = 128;
    KVM_IOCTL(v->kvm, KVM_GET_SUPPORTED_CPUID, cpuid);
    KVM_IOCTL(v->vcpu, KVM_SET_CPUID2, cpuid);
    free(cpuid);

    /* MTRRdefType = enabled, write-back: a host that honours guest MTRRs would otherwise run
       the guest uncached (Firecracker and cloud-hypervisor do the same). */
    if (!msrs) fail(EXIT_SYSTEM, "calloc");
    msrs->nmsrs = 1;
    msrs->entries[0].index = 0x2ff;
    msrs->entries[0].data = 0x806;
    if (ioctl(v->vcpu, KVM_SET_MSRS, msrs) != 1) fail(EXIT_SYSTEM, "ioctl KVM_SET_MSRS (MTRRdefType)");
    free(msrs);

    build_long_mode_tables(v);
    KVM_IOCTL(v->vcpu, KVM_GET_SREGS, &sregs);
    memset(&code, 0, sizeof code);
    code.base = 0;
    code.limit = 0xffffffff;
    code.selector = 0x08;
    code.type = 11; /* execute/read, accessed */
    code.present = 1;
    code.s = 1;
    code.l = 1;
    code.g = 1;
    data = code;
    data.selector = 0x10;
    data.type = 3; /* read/write, accessed */
    data.l = 0;
    data.db = 1;
    sregs.cs = code;
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
    sregs.gdt.base = MV_GDT;
    sregs.gdt.limit = 3 * 8 - 1;
    sregs.cr3 = MV_PAGE_TABLES;
    sregs.cr4 = 0x20;              /* PAE */
    sregs.cr0 = 0x80050033;        /* PG, WP, NE, ET, MP, PE */
    sregs.efer = 0x500;            /* LMA, LME */
    KVM_IOCTL(v->vcpu, KVM_SET_SREGS, &sregs);

    memset(&regs, 0, sizeof regs);
    regs.rip = entry;
    regs.rsp = MV_STACK_TOP - 8; /* as if `call` had pushed a return address */
    regs.rflags = 2;
    regs.rdi = v->ram_size;      /* the entry point's three arguments */
    regs.rsi = MV_MMIO_BASE;
    regs.rdx = MV_MAILBOX;
    KVM_IOCTL(v->vcpu, KVM_SET_REGS, &regs);
}

/* The flat guest at MV_GUEST_LOAD, and the mailbox it will find in rdx. */
static void load_guest(vm *v)
{
    struct stat st;
    size_t got = 0;
    int fd = open(v->opt.guest, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) fail(EXIT_USAGE, v->opt.guest);
    if (st.st_size <= 0 || (uint64_t)st.st_size > MV_GUEST_MAX) {
        fprintf(stderr, "vballoon-minivmm: %s: size %lld, expected 1..%u bytes\n", v->opt.guest,
                (long long)st.st_size, MV_GUEST_MAX);
        exit(EXIT_USAGE);
    }
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, v->ram + MV_GUEST_LOAD + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) fail(EXIT_USAGE, v->opt.guest);
        got += (size_t)n;
    }
    close(fd);
    v->mailbox = (struct mv_mailbox *)(v->ram + MV_MAILBOX);
    v->mailbox->magic = MV_MAILBOX_MAGIC;
    v->mailbox->queue_size = v->opt.queue_size;
    say("guest %s: %zu bytes at 0x%x, %" PRIu64 " MiB of RAM", v->opt.guest, got, MV_GUEST_LOAD,
        v->opt.mem_mib);
}

/* ============================================================================================
   3. THE DEVICE: vb_host CALLBACKS, THE MMIO WINDOW, THE POLL TIMER
   callback          KVM / Linux facility
   read, write       memcpy from/to our mmap of guest RAM, bounds-checked against the slot
   map               a pointer into that same mmap (the direct path; --no-map turns it off)
   now_ms            the VM clock: CLOCK_MONOTONIC less the time the VM spent stopped (QMP
                     stop), standing while it is stopped, so that no poll comes then (QEMU)
   timer_arm/cancel  a timerfd armed at the deadline on CLOCK_MONOTONIC while the VM runs; the
                     main loop calls vb_timer_expired when it fires
   wall_s            CLOCK_REALTIME (last-update)
   notify_queue      InterruptStatus bit 0 + the IRQ line (vb_mmio_interrupt -> KVM_IRQ_LINE)
   notify_config     InterruptStatus bit 1 + the IRQ line
   log               stderr (errors always, the rest with --verbose)
   ============================================================================================ */

static int host_read(void *user, uint64_t gpa, void *dst, size_t len)
{
    vm *v = (vm *)user;
    if (gpa > v->ram_size || len > v->ram_size - gpa) return -1;
    memcpy(dst, v->ram + gpa, len);
    return 0;
}

static int host_write(void *user, uint64_t gpa, const void *src, size_t len)
{
    vm *v = (vm *)user;
    if (gpa > v->ram_size || len > v->ram_size - gpa) return -1;
    memcpy(v->ram + gpa, src, len);
    return 0;
}

/* The direct path: guest RAM is one mmap, so any range inside it is contiguous here and the
   device may load and store it itself instead of asking read/write for copies. Why: a stats
   round costs about half the instructions (README, "Benchmarks"). The vCPU writes the rings
   while the device reads them; the device loads each guest field once per decision, as it
   does through read. The rings stay mapped while their queue runs: the mapping never moves
   or changes for the VM's life, so there is never a vb_memory_changed() to call. All of it
   is writable, so `write` needs no check. NULL (outside RAM, or --no-map): read/write. */
static void *host_map(void *user, uint64_t gpa, uint64_t len, int write)
{
    vm *v = (vm *)user;
    (void)write;
    if (v->opt.no_map || gpa > v->ram_size || len > v->ram_size - gpa) return NULL;
    return v->ram + gpa;
}

/* Called with `lock` held, as every callback (and by stop/cont, which hold it too). */
static uint64_t host_now_ms(void *user)
{
    vm *v = (vm *)user;
    return v->paused ? v->frozen_ms : now_ns(CLOCK_MONOTONIC) / 1000000u - v->stood_ms;
}

/* The timerfd at `ms` on CLOCK_MONOTONIC (a deadline in the past fires at once). */
static void timer_at(vm *v, uint64_t ms)
{
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    its.it_value.tv_sec = (time_t)(ms / 1000u);
    its.it_value.tv_nsec = (long)(ms % 1000u) * 1000000L;
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) its.it_value.tv_nsec = 1; /* 0 disarms */
    if (timerfd_settime(v->timer, TFD_TIMER_ABSTIME, &its, NULL) < 0) fail(EXIT_SYSTEM, "timerfd_settime");
}

static void host_timer_arm(void *user, uint64_t deadline_ms)
{
    vm *v = (vm *)user;
    v->deadline_ms = deadline_ms ? deadline_ms : 1u;
    if (!v->paused) timer_at(v, v->deadline_ms + v->stood_ms); /* else cont arms it */
}

static void timer_disarm(vm *v)
{
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    if (timerfd_settime(v->timer, 0, &its, NULL) < 0) fail(EXIT_SYSTEM, "timerfd_settime");
}

static void host_timer_cancel(void *user)
{
    vm *v = (vm *)user;
    v->deadline_ms = 0;
    timer_disarm(v);
}

static int64_t host_wall_s(void *user)
{
    (void)user;
    return (int64_t)time(NULL);
}

static void host_notify_queue(void *user, unsigned queue)
{
    (void)queue;
    vb_mmio_interrupt(&((vm *)user)->mmio, VB_MMIO_INT_VRING);
}

static void host_notify_config(void *user) { vb_mmio_interrupt(&((vm *)user)->mmio, VB_MMIO_INT_CONFIG); }

static void host_log(void *user, vb_log_level level, vb_log_item item, const char *msg)
{
    (void)user;
    (void)item;
    if (level == VB_LOG_ERROR) fprintf(stderr, "vballoon-minivmm: device error: %s\n", msg);
    else say("device: %s", msg);
}

static const vb_host host_ops = {
    host_read, host_write, host_now_ms, host_timer_arm, host_timer_cancel, host_wall_s,
    host_notify_queue, host_notify_config, NULL, NULL, host_log, NULL, host_map,
};

/* The balloon's interrupt line (vb_mmio's irq callback): level-triggered, as virtio-mmio. */
static void irq_line(void *user, int level)
{
    vm *v = (vm *)user;
    struct kvm_irq_level irq;
    if (!v->irqchip) return;
    memset(&irq, 0, sizeof irq);
    irq.irq = MV_MMIO_IRQ;
    irq.level = (uint32_t)level;
    KVM_IOCTL(v->fd, KVM_IRQ_LINE, &irq);
}

static void device_init(vm *v)
{
    vb_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.profile = v->opt.profile;
    cfg.poll_interval_s = v->opt.interval;
    cfg.ram_size = v->ram_size;
    cfg.type_name = "virtio-balloon-device"; /* what QEMU calls the virtio-mmio balloon */
    if (v->opt.packed) cfg.options |= VB_OPT_RING_PACKED;
    v->timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (v->timer < 0) fail(EXIT_SYSTEM, "timerfd_create");
    if (pthread_mutex_init(&v->lock, NULL) != 0 || pthread_cond_init(&v->resume, NULL) != 0)
        fail(EXIT_SYSTEM, "pthread_mutex_init");
    if (vb_init(&v->dev, &cfg, &host_ops, v) != VB_OK) {
        errno = 0;
        fail(EXIT_SYSTEM, "vb_init");
    }
    vb_mmio_init(&v->mmio, &v->dev, irq_line, v);
}

/* After each guest access: note the first stats update, print updates with --print-stats. */
static void after_access(vm *v)
{
    uint32_t updates = vb_get_counters(&v->dev)->updates;
    if (updates == v->updates_seen) return;
    v->updates_seen = updates;
    if (!v->first_stats_ns) v->first_stats_ns = now_ns(CLOCK_MONOTONIC);
    if (v->opt.print_stats) {
        char json[1024];
        vb_render_guest_stats(&v->dev, json, sizeof json, 0);
        printf("stats: %s\n", json);
        fflush(stdout);
    }
}

/* A trapped access inside [MV_MMIO_BASE, + VB_MMIO_SIZE): forward it, and nothing else. */
static void mmio_access(vm *v, uint64_t off, unsigned char *data, unsigned len, int is_write)
{
    uint32_t value = 0;
    unsigned i;
    pthread_mutex_lock(&v->lock);
    if (is_write) {
        for (i = 0; i < len && i < 4; i++) value |= (uint32_t)data[i] << (8 * i);
        vb_mmio_write(&v->mmio, off, value, len);
        while (vb_do_work(&v->dev)) {} /* a notify left inflate/deflate work: finish it now */
        after_access(v);
    } else {
        value = vb_mmio_read(&v->mmio, off, len);
        for (i = 0; i < len; i++) data[i] = i < 4 ? (unsigned char)(value >> (8 * i)) : 0;
    }
    pthread_mutex_unlock(&v->lock);
}

/* ============================================================================================
   4. THE vCPU THREAD: KVM_RUN AND ITS EXITS
   ============================================================================================ */

/* The 8250's transmit register, line-buffered to stdout; the line status says "always empty". */
static void serial_out(vm *v, unsigned char c)
{
    if (c != '\n' && v->line_len < sizeof v->line - 1) {
        v->line[v->line_len++] = (char)c;
        return;
    }
    printf("%.*s\n", (int)v->line_len, v->line);
    fflush(stdout);
    v->line_len = 0;
}

/* Port I/O: returns 1 when the guest has exited. */
static int port_io(vm *v)
{
    struct kvm_run *r = v->run;
    unsigned char *data = (unsigned char *)r + r->io.data_offset;
    uint32_t i;
    for (i = 0; i < r->io.count; i++, data += r->io.size) {
        if (r->io.direction == KVM_EXIT_IO_OUT) {
            if (r->io.port == MV_PORT_SERIAL) serial_out(v, data[0]);
            else if (r->io.port == MV_PORT_EXIT) {
                v->guest_status = data[0];
                return 1;
            }
        } else { /* LSR (0x3fd): THR empty + transmitter empty; unknown ports float high */
            int fill = r->io.port == MV_PORT_SERIAL + 5 ? 0x60
                       : (r->io.port >= MV_PORT_SERIAL && r->io.port < MV_PORT_SERIAL + 8) ? 0 : 0xff;
            memset(data, fill, r->io.size);
        }
    }
    return 0;
}

static void dump_regs(vm *v)
{
    struct kvm_regs regs;
    if (ioctl(v->vcpu, KVM_GET_REGS, &regs) == 0)
        fprintf(stderr, "vballoon-minivmm: rip 0x%llx rsp 0x%llx rax 0x%llx\n", regs.rip, regs.rsp,
                regs.rax);
}

static void sigusr1(int sig) { (void)sig; } /* only to interrupt KVM_RUN */

/* A stopped VM's vCPU waits here, outside KVM_RUN, until cont (or the end). */
static void vcpu_park(vm *v)
{
    pthread_mutex_lock(&v->lock);
    while (v->paused && !v->stopping) pthread_cond_wait(&v->resume, &v->lock);
    pthread_mutex_unlock(&v->lock);
}

static void *vcpu_main(void *arg)
{
    vm *v = (vm *)arg;
    struct kvm_run *r = v->run;
    uint64_t one = 1;
    for (;;) {
        int ret;
        if (v->stopping) break;
        vcpu_park(v);
        ret = ioctl(v->vcpu, KVM_RUN, 0);
        if (!v->exits++) v->first_exit_ns = now_ns(CLOCK_MONOTONIC);
        if (ret < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                v->exits_intr++;
                r->immediate_exit = 0;
                continue;
            }
            fprintf(stderr, "vballoon-minivmm: ioctl KVM_RUN: %s\n", strerror(errno));
            v->vcpu_error = 1;
            break;
        }
        if (r->exit_reason == KVM_EXIT_IO) {
            v->exits_io++;
            if (port_io(v)) break;
        } else if (r->exit_reason == KVM_EXIT_MMIO) {
            v->exits_mmio++;
            if (r->mmio.phys_addr >= MV_MMIO_BASE && r->mmio.phys_addr - MV_MMIO_BASE < VB_MMIO_SIZE)
                mmio_access(v, r->mmio.phys_addr - MV_MMIO_BASE, r->mmio.data, r->mmio.len, r->mmio.is_write);
            else if (!r->mmio.is_write)
                memset(r->mmio.data, 0xff, sizeof r->mmio.data); /* nothing there */
        } else if (r->exit_reason == KVM_EXIT_INTR) {
            v->exits_intr++;
        } else {
            const char *why = r->exit_reason == KVM_EXIT_SHUTDOWN      ? "triple fault (KVM_EXIT_SHUTDOWN)"
                              : r->exit_reason == KVM_EXIT_HLT         ? "HLT with nothing to wake it"
                              : r->exit_reason == KVM_EXIT_FAIL_ENTRY  ? "KVM_EXIT_FAIL_ENTRY"
                              : r->exit_reason == KVM_EXIT_INTERNAL_ERROR ? "KVM_EXIT_INTERNAL_ERROR"
                                                                        : "unexpected exit";
            fprintf(stderr, "vballoon-minivmm: KVM_RUN: %s (exit reason %u)\n", why, r->exit_reason);
            if (r->exit_reason == KVM_EXIT_FAIL_ENTRY)
                fprintf(stderr, "vballoon-minivmm: hardware_entry_failure_reason 0x%llx\n",
                        (unsigned long long)r->fail_entry.hardware_entry_failure_reason);
            if (r->exit_reason == KVM_EXIT_INTERNAL_ERROR)
                fprintf(stderr, "vballoon-minivmm: internal error suberror %u\n", r->internal.suberror);
            dump_regs(v);
            v->vcpu_error = 1;
            break;
        }
    }
    if (write(v->done, &one, sizeof one) != sizeof one) fail(EXIT_SYSTEM, "eventfd write");
    return NULL;
}

/* ============================================================================================
   5. THE QMP MONITOR
   One vb_qmp session per client: the greeting on connect, qmp_capabilities first, then every
   command through vb_qmp_execute. The VM's run state is the VMM's, answered here as QEMU does
   (vb_qmp_parse, vb_qmp_reply, vb_qmp_reply_status, vb_qmp_event): query-status; stop parks the
   vCPU outside KVM_RUN and stands the VM clock (no polls), with a STOP event; cont undoes both
   (RESUME); quit sends SHUTDOWN and stops the guest as SIGTERM does. The seed
   document's web page uses no-break spaces (U+00A0) for its spaces; read outside strings they
   are two plain spaces, so its commands work pasted verbatim (as in examples/sim.c).
   Up to MAX_CLIENTS clients at once; more wait in the listen backlog until one leaves, as a
   second client of QEMU's -qmp socket waits for the first (one socket here stands for several
   -qmp monitors: a shell and a script at once). A client is closed when it goes away (its
   complete commands are answered first), or when a message is still unfinished after
   INPUT_LIMIT bytes: QEMU takes at most 64 MiB of tokens in one (an error reply), 1 MiB more is
   room for whitespace, and nothing longer is kept. Flow control: while more than OUT_HIGH bytes
   of replies wait for a client, it is not read and its commands wait, until less than OUT_LOW
   wait; the guest and the other clients go on. A client that writes without reading ends up
   blocked in its own write, never dropped. Buffers grow for a long command or reply (a 1 MiB
   "id" is echoed) and shrink back after.
   ============================================================================================ */

#define MAX_CLIENTS 16
#define BUF_MIN 65536u                        /* one recv() at a time; buffers shrink back to it */
#define INPUT_LIMIT ((64u << 20) + (1u << 20)) /* QEMU's 64 MiB a message, + 1 MiB */
#define RESCAN_MIN (1u << 20)                 /* see client_run */
#define OUT_HIGH (1u << 20)                   /* replies waiting that stop reading a client */
#define OUT_LOW (256u << 10)                  /* ... until less than this waits */
#define REPLY_LIMIT ((size_t)1 << 30)         /* no larger reply is attempted */

typedef struct buffer {
    char *p;
    size_t off, len, cap; /* the bytes are p[off, len) */
} buffer;

typedef struct client {
    int fd; /* -1 = free slot */
    vb_qmp qmp;
    buffer in, out;
    int eof;       /* it sent its last byte: answer what is complete, then close */
    int paused;    /* its replies are backed up: not read, its commands wait */
    int deferred;  /* a long unfinished message got more bytes, not framed again yet */
    size_t framed; /* bytes of the unfinished message the last vb_qmp_frame saw (0: none) */
    char quote;    /* paste_fixup: inside a '...' or "..." string, */
    int escape;    /* after its backslash, */
    size_t hold;   /* 1: the last byte is C2, its partner not here yet */
} client;

static client clients[MAX_CLIENTS];
static char *reply; /* one reply at a time; grows for a long one, then shrinks back */
static size_t reply_cap;
static int quit_requested;

/* Room for `need` more bytes after the data: moves it to the front, then grows (doubling, not
   past `max` unless the data needs it). 0 if there is no memory. */
static int buffer_room(buffer *b, size_t need, size_t max)
{
    size_t have = b->len - b->off, cap;
    char *p;
    if (b->cap - b->len >= need) return 1;
    if (b->off) {
        memmove(b->p, b->p + b->off, have);
        b->off = 0;
        b->len = have;
        if (b->cap - b->len >= need) return 1;
    }
    cap = b->cap * 2 < BUF_MIN ? BUF_MIN : b->cap * 2;
    if (cap > max) cap = max;
    if (cap < have + need) cap = have + need;
    p = realloc(b->p, cap);
    if (!p) return 0;
    b->p = p;
    b->cap = cap;
    return 1;
}

/* Back to BUF_MIN bytes once what is left fits in half of it. */
static void buffer_shrink(buffer *b)
{
    size_t have = b->len - b->off;
    char *p;
    if (b->cap <= BUF_MIN || have > BUF_MIN / 2) return;
    memmove(b->p, b->p + b->off, have);
    b->off = 0;
    b->len = have;
    p = realloc(b->p, BUF_MIN);
    if (p) {
        b->p = p;
        b->cap = BUF_MIN;
    }
}

static void client_close(client *c, const char *why)
{
    if (why) fprintf(stderr, "vballoon-minivmm: QMP client closed: %s\n", why);
    close(c->fd);
    free(c->in.p);
    free(c->out.p);
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

/* Back-pressure, with hysteresis: 1 while the client is not to be read. */
static int backed_up(client *c)
{
    size_t waiting = c->out.len - c->out.off;
    if (waiting > OUT_HIGH) c->paused = 1;
    else if (waiting < OUT_LOW) c->paused = 0;
    return c->paused;
}

/* Send what the socket takes now (it is non-blocking). */
static void client_flush(client *c)
{
    while (c->fd >= 0 && c->out.len > c->out.off) {
        ssize_t n = send(c->fd, c->out.p + c->out.off, c->out.len - c->out.off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n < 0) {
            client_close(c, errno == EPIPE || errno == ECONNRESET ? NULL : strerror(errno));
            return;
        }
        c->out.off += (size_t)n;
    }
    if (c->fd < 0) return;
    c->out.off = c->out.len = 0;
    buffer_shrink(&c->out);
}

/* A reply and its line end, queued: client_flush sends it. */
static void put_line(client *c, const char *s, size_t n)
{
    if (!buffer_room(&c->out, n + 1, SIZE_MAX)) {
        client_close(c, "no memory for its replies");
        return;
    }
    memcpy(c->out.p + c->out.len, s, n);
    c->out.p[c->out.len + n] = '\n';
    c->out.len += n + 1;
}

/* New bytes from `from` on; the state carries over from the bytes before, and a C2 at the end
   waits for the next read (c->hold: it is not framed before). */
static void paste_fixup(client *c, size_t from)
{
    char *buf = c->in.p;
    size_t i, len = c->in.len;
    c->hold = 0;
    for (i = from; i < len; i++) {
        unsigned char ch = (unsigned char)buf[i];
        if (c->escape) {
            c->escape = 0;
        } else if (c->quote) {
            if (ch == '\\') c->escape = 1;
            else if (ch == (unsigned char)c->quote) c->quote = 0;
        } else if (ch == '"' || ch == '\'') {
            c->quote = (char)ch;
        } else if (ch == 0xC2 && i + 1 == len) {
            c->hold = 1;
        } else if (ch == 0xC2 && (unsigned char)buf[i + 1] == 0xA0) {
            buf[i] = buf[i + 1] = ' ';
            i++;
        }
    }
}

/* 1 if reply[] holds n bytes and a NUL (growing it if need be). */
static int reply_fits(size_t n)
{
    char *p;
    if (n < reply_cap) return 1;
    p = n < REPLY_LIMIT ? realloc(reply, n + 1) : NULL;
    if (!p) return 0;
    reply = p;
    reply_cap = n + 1;
    return 1;
}

/* The VMM's own commands, listed by query-commands: the VM's run state, as QEMU answers it. */
static const char *const vmm_commands[] = {"query-status", "stop", "cont", "quit", NULL};

/* An event to every negotiated client (QEMU sends it before the reply). */
static void broadcast_event(const char *name, const char *data)
{
    char line[256];
    uint64_t ns = now_ns(CLOCK_REALTIME);
    size_t n = vb_qmp_event(name, data, (int64_t)(ns / 1000000000u), (int64_t)(ns % 1000000000u / 1000u),
                            line, sizeof line);
    int i;
    for (i = 0; i < MAX_CLIENTS; i++)
        if (clients[i].fd >= 0 && clients[i].qmp.negotiated)
            put_line(&clients[i], line, n < sizeof line ? n : sizeof line - 1);
}

/* stop parks the vCPU outside KVM_RUN and stands the VM clock (no polls); cont undoes both.
   Returns 1 if the state changed (QEMU sends an event only then). */
static int vm_pause(vm *v, int pause)
{
    int changed;
    pthread_mutex_lock(&v->lock);
    changed = v->paused != pause;
    if (changed && pause) {
        v->frozen_ms = host_now_ms(v);
        v->paused = 1;
        timer_disarm(v); /* the deadline waits for cont */
    } else if (changed) {
        v->stood_ms = now_ns(CLOCK_MONOTONIC) / 1000000u - v->frozen_ms;
        v->paused = 0;
        if (v->deadline_ms) timer_at(v, v->deadline_ms + v->stood_ms);
        pthread_cond_broadcast(&v->resume);
    }
    pthread_mutex_unlock(&v->lock);
    if (changed && pause) { /* out of KVM_RUN now; it parks before entering it again */
        v->run->immediate_exit = 1;
        pthread_kill(v->vcpu_thread, SIGUSR1);
    }
    return changed;
}

static void run_state_command(vm *v, const vb_qmp_command *q)
{
    if (vb_qmp_command_is(q, "quit")) {
        broadcast_event("SHUTDOWN", "{\"guest\": false, \"reason\": \"host-qmp-quit\"}");
        quit_requested = 1;
    } else if (vb_qmp_command_is(q, "stop")) {
        if (vm_pause(v, 1)) broadcast_event("STOP", NULL);
    } else if (vm_pause(v, 0)) {
        broadcast_event("RESUME", NULL);
    }
}

/* One framed command. vb_qmp_execute and vb_qmp_reply are snprintf-style and run nothing when
   the reply does not fit: asked again with the room they said they need. */
static void client_command(vm *v, client *c, const char *cmd, size_t len)
{
    vb_qmp_command q;
    size_t n;
    if (quit_requested) return; /* after quit, QEMU answers nothing more */
    if (!c->qmp.negotiated || !vb_qmp_parse(cmd, len, &q)) {
        pthread_mutex_lock(&v->lock);
        n = vb_qmp_execute(&c->qmp, cmd, len, reply, reply_cap);
        if (n >= reply_cap && reply_fits(n)) n = vb_qmp_execute(&c->qmp, cmd, len, reply, reply_cap);
        pthread_mutex_unlock(&v->lock);
    } else if (vb_qmp_command_is(&q, "query-status")) {
        const char *status;
        vb_qmp_args_only(&q, NULL, 0);
        pthread_mutex_lock(&v->lock);
        status = v->paused ? "paused" : "running";
        pthread_mutex_unlock(&v->lock);
        n = vb_qmp_reply_status(&c->qmp, &q, status, reply, reply_cap);
        if (n >= reply_cap && reply_fits(n)) n = vb_qmp_reply_status(&c->qmp, &q, status, reply, reply_cap);
    } else if (vb_qmp_command_is(&q, "stop") || vb_qmp_command_is(&q, "cont") || vb_qmp_command_is(&q, "quit")) {
        int ok = vb_qmp_args_only(&q, NULL, 0); /* they take no arguments */
        n = vb_qmp_reply(&c->qmp, &q, NULL, reply, reply_cap);
        if (n >= reply_cap && reply_fits(n)) n = vb_qmp_reply(&c->qmp, &q, NULL, reply, reply_cap);
        if (ok && n < reply_cap) run_state_command(v, &q);
    } else { /* the library's command, parsed once already */
        pthread_mutex_lock(&v->lock);
        n = vb_qmp_execute_command(&c->qmp, &q, reply, reply_cap);
        if (n >= reply_cap && reply_fits(n)) n = vb_qmp_execute_command(&c->qmp, &q, reply, reply_cap);
        pthread_mutex_unlock(&v->lock);
    }
    if (n >= reply_cap) { /* no memory for it: the command was not run */
        client_close(c, "no memory for a reply; the command was not run");
        return;
    }
    if (n > 0) put_line(c, reply, n);
}

/* Frame and execute the client's commands in order while its replies are not backed up, then
   send what the socket takes. Framing an unfinished message reads it again from its start, so
   past RESCAN_MIN bytes it is framed again only once it has doubled, or when the client is idle
   (nothing to read this round: it waits for the reply), which keeps a 64 MiB message linear. */
static void client_run(vm *v, client *c, int idle)
{
    size_t tail;
    int pressed;
    c->deferred = 0;
    do { /* again if the replies were sent at once */
        while (!(pressed = backed_up(c))) {
            const char *cmd = c->in.p + c->in.off;
            size_t used, skip;
            tail = c->in.len - c->in.off - c->hold;
            if (tail == 0 || tail == c->framed) break; /* nothing new since the last try */
            if (c->framed && tail > RESCAN_MIN && tail < 2 * c->framed && !idle && !c->eof &&
                tail + c->hold < INPUT_LIMIT) {
                c->deferred = 1;
                break;
            }
            used = vb_qmp_frame(&c->qmp, cmd, tail, &skip);
            if (!used) {
                c->framed = tail;
                break;
            }
            c->framed = 0;
            if (used > skip) client_command(v, c, cmd + skip, used - skip); /* else skipped */
            if (c->fd < 0) return;
            c->in.off += used;
        }
        client_flush(c);
        if (c->fd < 0) return;
    } while (pressed && !backed_up(c));
    if (reply_cap > BUF_MIN) { /* after a long reply */
        char *p = realloc(reply, BUF_MIN);
        if (p) {
            reply = p;
            reply_cap = BUF_MIN;
        }
    }
    if (c->in.off == c->in.len) c->in.off = c->in.len = 0;
    buffer_shrink(&c->in);
    tail = c->in.len - c->in.off - c->hold;
    if (c->framed && tail == c->framed && tail + c->hold >= INPUT_LIMIT)
        client_close(c, "a message still unfinished after 65 MiB (QEMU takes at most 64 MiB of tokens in one)");
    else if (c->eof && !c->paused && c->out.len == c->out.off && (tail == 0 || tail == c->framed))
        client_close(c, NULL); /* it left; an unfinished command is dropped, as QEMU does */
}

/* Read what the client has now (into its buffer, growing it up to INPUT_LIMIT). */
static void client_read(client *c)
{
    size_t tail = c->in.len - c->in.off, room, from;
    ssize_t n;
    if (tail >= INPUT_LIMIT) return; /* client_run decides */
    if (!buffer_room(&c->in, BUF_MIN / 2, INPUT_LIMIT)) { /* half: a left-over byte grows nothing */
        client_close(c, "no memory for its input");
        return;
    }
    room = c->in.cap - c->in.len;
    if (room > INPUT_LIMIT - tail) room = INPUT_LIMIT - tail;
    do n = recv(c->fd, c->in.p + c->in.len, room, MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) {
        c->eof = 1;
        c->hold = 0;
        return;
    }
    from = c->in.len - c->hold;
    c->in.len += (size_t)n;
    paste_fixup(c, from);
}

/* What poll() found for a client; revents 0: a deferred message, framed now that it is idle. */
static void client_service(vm *v, client *c, short revents)
{
    if (revents & (POLLOUT | POLLHUP | POLLERR)) client_flush(c);
    if (c->fd >= 0 && !c->eof && !backed_up(c) && (revents & (POLLIN | POLLHUP | POLLERR))) client_read(c);
    if (c->fd >= 0) client_run(v, c, !(revents & POLLIN));
}

static int qmp_listen(const char *path)
{
    struct sockaddr_un a;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail(EXIT_SYSTEM, "socket");
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof a.sun_path) bad_usage("--qmp path too long", path);
    strcpy(a.sun_path, path);
    unlink(path);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) fail(EXIT_SYSTEM, path);
    if (listen(fd, MAX_CLIENTS) < 0) fail(EXIT_SYSTEM, "listen"); /* the next ones wait here */
    return fd;
}

/* Called only while a slot is free (main() watches the socket only then). */
static void qmp_accept(vm *v, int lfd)
{
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK), i;
    size_t n;
    if (fd < 0) return;
    for (i = 0; clients[i].fd >= 0; i++) {}
    clients[i].fd = fd;
    pthread_mutex_lock(&v->lock);
    vb_qmp_init(&clients[i].qmp, &v->dev, 0); /* compact replies, negotiation required */
    clients[i].qmp.host_commands = vmm_commands;
    n = vb_qmp_greeting(&clients[i].qmp, reply, reply_cap);
    pthread_mutex_unlock(&v->lock);
    put_line(&clients[i], reply, n < reply_cap ? n : reply_cap - 1);
    if (clients[i].fd >= 0) client_flush(&clients[i]);
}

/* ============================================================================================
   6. MAIN: BUILD THE MACHINE, RUN THE vCPU, SERVE TIMER, SIGNALS AND QMP UNTIL THE END
   ============================================================================================ */

/* Ask the guest to stop (mailbox), wait for its exit port; force the vCPU out if it ignores us. */
static int stop_guest(vm *v, const char *why)
{
    struct pollfd p = {v->done, POLLIN, 0};
    fprintf(stderr, "vballoon-minivmm: %s: asking the guest to stop\n", why);
    vm_pause(v, 0); /* a stopped vCPU runs again to see the request */
    __atomic_store_n(&v->mailbox->stop, 1u, __ATOMIC_SEQ_CST);
    if (poll(&p, 1, 3000) > 0) return 0;
    fprintf(stderr, "vballoon-minivmm: the guest did not stop within 3 s; stopping the vCPU\n");
    v->stopping = 1;
    v->run->immediate_exit = 1;
    pthread_kill(v->vcpu_thread, SIGUSR1);
    return -1;
}

static void report(vm *v)
{
    const vb_counters *c = vb_get_counters(&v->dev);
    double secs = (double)(now_ns(CLOCK_MONOTONIC) - v->start_ns) / 1e9;
    char json[1024];
    fprintf(stderr,
            "vballoon-minivmm: %.3f s, %" PRIu64 " exits (%.0f/s): %" PRIu64 " mmio, %" PRIu64
            " io, %" PRIu64 " interrupted\n",
            secs, v->exits, secs > 0 ? (double)v->exits / secs : 0.0, v->exits_mmio, v->exits_io,
            v->exits_intr);
    if (v->first_stats_ns)
        fprintf(stderr, "vballoon-minivmm: first exit %.3f ms, first stats %.3f ms after the vCPU started\n",
                (double)(v->first_exit_ns - v->start_ns) / 1e6, (double)(v->first_stats_ns - v->start_ns) / 1e6);
    fprintf(stderr,
            "vballoon-minivmm: device: %" PRIu32 " updates, %" PRIu32 " polls, %" PRIu32
            " ring errors, %" PRIu32 " ignored mmio accesses; guest: %" PRIu32 " refills, %s rings, %"
            PRIu32 " ring wraps\n",
            c->updates, c->polls, c->ring_errors, v->mmio.bad_accesses, v->mailbox->refills,
            v->mailbox->packed ? "packed" : "split", v->mailbox->ring_wraps);
    vb_render_guest_stats(&v->dev, json, sizeof json, 0);
    fprintf(stderr, "vballoon-minivmm: last guest-stats %s\n", json);
}

int main(int argc, char **argv)
{
    vm *v = &the_vm;
    struct sigaction sa;
    sigset_t mask;
    int sfd, lfd = -1, i, status;
    uint64_t deadline_ns = 0;

    parse_options(argc, argv, &v->opt);
    v->guest_status = -1;
    for (i = 0; i < MAX_CLIENTS; i++) clients[i].fd = -1;
    reply_cap = BUF_MIN;
    reply = malloc(reply_cap);
    if (!reply) fail(EXIT_SYSTEM, "malloc");

    /* Signals: SIGINT/SIGTERM come through a signalfd; SIGUSR1 kicks the vCPU out of KVM_RUN. */
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    if (pthread_sigmask(SIG_BLOCK, &mask, NULL) != 0) fail(EXIT_SYSTEM, "pthread_sigmask");
    sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0) fail(EXIT_SYSTEM, "signalfd");
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = sigusr1;
    sigaction(SIGUSR1, &sa, NULL);

    kvm_open(v);
    kvm_irqchip(v);
    kvm_memory(v);
    load_guest(v);
    kvm_vcpu(v, MV_GUEST_LOAD);
    device_init(v);
    if (v->opt.qmp) lfd = qmp_listen(v->opt.qmp);
    v->done = eventfd(0, EFD_CLOEXEC);
    if (v->done < 0) fail(EXIT_SYSTEM, "eventfd");

    v->start_ns = now_ns(CLOCK_MONOTONIC);
    if (v->opt.timeout) deadline_ns = v->start_ns + (uint64_t)v->opt.timeout * 1000000000u;
    if (pthread_create(&v->vcpu_thread, NULL, vcpu_main, v) != 0) fail(EXIT_SYSTEM, "pthread_create");
    say("vCPU running; QMP on %s", v->opt.qmp ? v->opt.qmp : "(none)");

    for (;;) {
        struct pollfd p[4 + MAX_CLIENTS];
        int np = 0, timeout = -1, slot[4 + MAX_CLIENTS], free_slot = 0, idle = 0, k;
        const char *stop_why = NULL;
        p[np++] = (struct pollfd){v->done, POLLIN, 0};
        p[np++] = (struct pollfd){v->timer, POLLIN, 0};
        p[np++] = (struct pollfd){sfd, POLLIN, 0};
        for (i = 0; i < MAX_CLIENTS; i++) {
            client *c = &clients[i];
            if (c->fd < 0) {
                free_slot = 1;
                continue;
            }
            idle |= c->deferred;
            slot[np] = i; /* a backed-up client is not read, only written */
            p[np++] = (struct pollfd){c->fd, (short)((c->eof || backed_up(c) ? 0 : POLLIN) |
                                                      (c->out.len > c->out.off ? POLLOUT : 0)), 0};
        }
        if (lfd >= 0 && free_slot) { /* else the next clients wait in the listen backlog */
            slot[np] = -1;
            p[np++] = (struct pollfd){lfd, POLLIN, 0};
        }
        if (deadline_ns) {
            uint64_t now = now_ns(CLOCK_MONOTONIC);
            timeout = now >= deadline_ns ? 0 : (int)((deadline_ns - now) / 1000000u + 1u);
        }
        if (idle) timeout = 0; /* a long message to frame once its client is idle */
        if (poll(p, (nfds_t)np, timeout) < 0 && errno != EINTR) fail(EXIT_SYSTEM, "poll");
        if (p[0].revents) break; /* the guest exited (or the vCPU failed) */
        if (p[1].revents) {      /* the poll timer: read the expiration count, then tell the device */
            uint64_t ticks;
            if (read(v->timer, &ticks, sizeof ticks) == (ssize_t)sizeof ticks) {
                pthread_mutex_lock(&v->lock);
                vb_timer_expired(&v->dev);
                pthread_mutex_unlock(&v->lock);
            }
        }
        if (p[2].revents) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
                stop_why = si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM";
        }
        for (k = 3; k < np; k++) {
            client *c = slot[k] >= 0 ? &clients[slot[k]] : NULL;
            if (c && c->fd == p[k].fd && (p[k].revents || c->deferred)) client_service(v, c, p[k].revents);
        }
        if (np > 3 && slot[np - 1] < 0 && p[np - 1].revents) qmp_accept(v, lfd);
        if (quit_requested) stop_why = "QMP quit";
        if (deadline_ns && now_ns(CLOCK_MONOTONIC) >= deadline_ns) stop_why = "--timeout";
        if (stop_why) {
            stop_guest(v, stop_why);
            break;
        }
    }
    pthread_join(v->vcpu_thread, NULL);
    if (v->line_len) serial_out(v, '\n');
    report(v);
    for (i = 0; i < MAX_CLIENTS; i++)
        if (clients[i].fd >= 0) {
            client_flush(&clients[i]); /* what the socket still takes (the reply to `quit`) */
            if (clients[i].fd >= 0) client_close(&clients[i], NULL);
        }
    if (lfd >= 0) unlink(v->opt.qmp);
    vb_destroy(&v->dev);

    if (v->vcpu_error) status = EXIT_SYSTEM;
    else if (v->guest_status < 0) status = EXIT_NO_STOP;
    else status = v->guest_status;
    fprintf(stderr, "vballoon-minivmm: guest exit status %d, exiting with %d\n", v->guest_status, status);
    return status;
}
