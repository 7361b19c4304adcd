/* guest.c - the mini-VMM's test guest: a freestanding 64-bit program that drives the virtio-mmio
   balloon over real MMIO the way Linux's virtio_mmio.c and virtio_balloon.c do.
   public domain (Unlicense) - see the end of vballoon.h

   Built with -ffreestanding -nostdlib -fno-pic -mno-red-zone -static and linked flat at
   0x100000 (guest.ld); the VMM copies the bytes there and starts the vCPU in long mode at the
   first one (see ../minivmm.h for the memory map and the entry arguments).

   WHY IT POLLS. A Linux driver sleeps until the device's interrupt. On this project's machines
   /dev/kvm is PVM, which delivers no interrupts to a guest that does not speak the PVM event
   ABI, so this guest never takes one: it spins on the stats queue's used ring (guest RAM, no
   exit) and, every few milliseconds of TSC time, reads InterruptStatus (one MMIO exit) to see
   config changes (a new balloon target). What it does when it finds work is what Linux's
   interrupt handler and work items do: vm_interrupt() reads InterruptStatus and ACKs it,
   stats_request() refills and re-posts the stats buffer, update_balloon_size_func() inflates
   or deflates and writes `actual`.

   Its stats are its own: total memory = RAM size (less the balloon), free memory = the free
   pages of its page allocator, which a small workload exercises before every refill (minor
   faults = pages it allocated and touched, major faults = "file pages" read into its page
   cache, disk caches = that cache). It runs until the VMM sets mailbox->stop, then resets the
   device (as a driver unbind does) and reports its status on port 0x501. */
#define VB_WITH_MMIO
#include "../../../vballoon.h" /* constants only: VB_MMIO_*, VB_S_*, VB_F_*, VB_STAT_* */
#include "../minivmm.h"

#define QSIZE_MAX 128u  /* our rings hold up to 128 entries: 8 KiB per queue */
#define PFNS_MAX 256u   /* VIRTIO_BALLOON_ARRAY_PFNS_MAX */
#define NSTATS 10u      /* Linux 6.1's stats */
#define CACHE_MAX 64u   /* pages in the page cache */
#define CHECK_CYCLES (1ull << 24) /* read InterruptStatus this often (~5-8 ms) */

/* ---- machine access ------------------------------------------------------------------------- */

static volatile unsigned char *mmio;
static struct mv_mailbox *mb;

static void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
static void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }
static void barrier(void) { __asm__ volatile("mfence" ::: "memory"); } /* virtio_mb() */

static uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t)hi << 32 | lo;
}

/* readl/writel: one 32-bit access each, hence one KVM_EXIT_MMIO each */
static uint32_t rd(uint32_t off)
{
    mb->mmio_exits++;
    return *(volatile uint32_t *)(mmio + off);
}

static void wr(uint32_t off, uint32_t v)
{
    mb->mmio_exits++;
    *(volatile uint32_t *)(mmio + off) = v;
}

/* gcc may emit calls to these for struct copies and loops */
void *memset(void *d, int c, unsigned long n);
void *memcpy(void *d, const void *s, unsigned long n);
void *memset(void *d, int c, unsigned long n)
{
    unsigned char *p = (unsigned char *)d;
    while (n--) *p++ = (unsigned char)c;
    return d;
}
void *memcpy(void *d, const void *s, unsigned long n)
{
    unsigned char *p = (unsigned char *)d;
    const unsigned char *q = (const unsigned char *)s;
    while (n--) *p++ = *q++;
    return d;
}

/* ---- serial console ------------------------------------------------------------------------- */

static void puts_(const char *s)
{
    while (*s) outb(MV_PORT_SERIAL, (uint8_t)*s++);
}

static void putu(uint64_t v)
{
    char b[21];
    int i = 20;
    b[i] = 0;
    do {
        b[--i] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    puts_(b + i);
}

static void puthex(uint64_t v)
{
    char b[19];
    int i = 18;
    b[i] = 0;
    do {
        b[--i] = "0123456789abcdef"[v & 15u];
        v >>= 4;
    } while (v);
    b[--i] = 'x';
    b[--i] = '0';
    puts_(b + i);
}

__attribute__((noreturn)) static void guest_exit(uint32_t status)
{
    puts_("guest: exit status ");
    putu(status);
    puts_("\n");
    for (;;) {
        outl(MV_PORT_EXIT, status);
        __asm__ volatile("hlt");
    }
}

/* ---- the page allocator and the workload that exercises it ---------------------------------- */

static uint64_t ram_size;
static uint32_t *free_stack; /* PFNs of freed pages, a stack */
static uint32_t nstack;
static uint32_t first_pfn, heap_pages, bump; /* pages [bump, heap_pages) were never handed out */
static uint32_t nfree;
static uint32_t held[4096];  /* pages the "application" holds, a FIFO */
static uint32_t held_head, held_count;
static uint32_t cache[CACHE_MAX]; /* the page cache, a FIFO */
static uint32_t cache_head, cache_count;
static uint64_t minflt, majflt, rng = 0x9e3779b97f4a7c15ull;

static uint32_t rand32(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 32);
}

/* O(1) set-up: the guest runs slowly under PVM (see the VMM's README section), so pages are
   handed out from a bump pointer first and from the stack of freed pages afterwards. */
static void alloc_init(void)
{
    uint32_t total = (uint32_t)((ram_size - MV_HEAP) >> 12), meta = (total * 4u + 4095u) >> 12;
    free_stack = (uint32_t *)(uintptr_t)MV_HEAP; /* the stack itself lives in the first pages */
    first_pfn = (uint32_t)(MV_HEAP >> 12) + meta;
    heap_pages = total - meta;
    nfree = heap_pages;
}

static int page_alloc(uint32_t *pfn)
{
    if (nstack) *pfn = free_stack[--nstack];
    else if (bump < heap_pages) *pfn = first_pfn + bump++;
    else return -1;
    nfree--;
    return 0;
}

static void page_free(uint32_t pfn)
{
    free_stack[nstack++] = pfn;
    nfree++;
}

/* An allocation that touches its page: a zero-fill (minor) fault in a real kernel. */
static int touch_alloc(uint32_t *pfn)
{
    if (page_alloc(pfn)) return -1;
    *(volatile uint64_t *)(uintptr_t)((uint64_t)*pfn << 12) = rng;
    minflt++;
    return 0;
}

/* One burst of activity: allocate and touch 16-79 pages, free old ones beyond a working set
   of up to 4096 pages (and at most half the heap), read one "file page" into the cache. */
static void workload_step(void)
{
    uint32_t n = 16u + (rand32() & 63u), limit = heap_pages / 2u < 4096u ? heap_pages / 2u : 4096u, pfn;
    while (n--) {
        if (held_count == limit || touch_alloc(&pfn)) break;
        held[(held_head + held_count++) % 4096u] = pfn;
    }
    n = rand32() % (held_count / 2u + 1u);
    while (n--) { /* the application frees its oldest pages */
        page_free(held[held_head]);
        held_head = (held_head + 1u) % 4096u;
        held_count--;
    }
    if (cache_count == CACHE_MAX) { /* the cache evicts its oldest page */
        page_free(cache[cache_head]);
        cache_head = (cache_head + 1u) % CACHE_MAX;
        cache_count--;
    }
    if (touch_alloc(&pfn) == 0) { /* a read from "disk": a major fault */
        cache[(cache_head + cache_count++) % CACHE_MAX] = pfn;
        majflt++;
    }
}

/* ---- virtqueues, split or packed, driver side (drivers/virtio/virtio_ring.c in miniature) ---- */

struct desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
};

/* A packed ring's descriptor: the id names the buffer, the flags' AVAIL and USED bits say whose
   turn it is (virtio 1.1 2.7). */
struct pdesc {
    uint64_t addr;
    uint32_t len;
    uint16_t id;
    volatile uint16_t flags;
};

#define PACKED_F_AVAIL (1u << 7)
#define PACKED_F_USED (1u << 15)
#define PACKED_EVENT_DISABLE 1u
#define PACKED_EVENT_DESC 2u

struct vq {
    unsigned index;
    uint32_t num;
    struct desc *desc;
    volatile uint16_t *avail; /* flags, idx, ring[num], used_event */
    volatile uint16_t *used;  /* flags, idx, then {u32 id, u32 len}[num], avail_event */
    uint16_t avail_idx, last_used; /* packed: the next slot we fill, the next slot we look at */
    struct pdesc *pdesc;          /* packed: the descriptor ring */
    volatile uint32_t *device;    /* packed: the device's event area, off_wrap | flags << 16 */
    uint8_t avail_wrap, used_wrap; /* packed: the wrap counters, both 1 on a fresh ring */
};

static unsigned char rings[VB_QUEUE_COUNT][8192] __attribute__((aligned(4096)));
static struct vq vqs[VB_QUEUE_COUNT];
static int packed; /* VIRTIO_F_RING_PACKED negotiated */

/* vm_setup_vq(): select, check it is not in use, size it, give the rings, enable. A packed
   queue's three addresses are its descriptor ring, driver area and device area; its size need
   not be a power of two. */
static void setup_vq(unsigned q)
{
    struct vq *v = &vqs[q];
    uint64_t d = (uint64_t)(uintptr_t)rings[q], a = d + 2048u, u = d + 4096u;
    uint32_t max;
    wr(VB_MMIO_QUEUE_SEL, q);
    if (rd(VB_MMIO_QUEUE_READY)) guest_exit(MV_EXIT_QUEUE);
    max = rd(VB_MMIO_QUEUE_NUM_MAX);
    if (max == 0) guest_exit(MV_EXIT_QUEUE);
    v->index = q;
    v->num = max < QSIZE_MAX ? max : QSIZE_MAX;
    if (mb->queue_size && mb->queue_size < v->num) v->num = mb->queue_size;
    v->pdesc = (struct pdesc *)(uintptr_t)d;
    v->device = (volatile uint32_t *)(uintptr_t)u;
    v->avail_wrap = v->used_wrap = 1;
    v->desc = (struct desc *)(uintptr_t)d;
    v->avail = (volatile uint16_t *)(uintptr_t)a;
    v->used = (volatile uint16_t *)(uintptr_t)u;
    wr(VB_MMIO_QUEUE_NUM, v->num);
    wr(VB_MMIO_QUEUE_DESC_LOW, (uint32_t)d);
    wr(VB_MMIO_QUEUE_DESC_HIGH, (uint32_t)(d >> 32));
    wr(VB_MMIO_QUEUE_AVAIL_LOW, (uint32_t)a);
    wr(VB_MMIO_QUEUE_AVAIL_HIGH, (uint32_t)(a >> 32));
    wr(VB_MMIO_QUEUE_USED_LOW, (uint32_t)u);
    wr(VB_MMIO_QUEUE_USED_HIGH, (uint32_t)(u >> 32));
    wr(VB_MMIO_QUEUE_READY, 1);
}

/* The packed vq_post: the buffer (id 0) in the next slot, its flags last; then a kick unless
   the device's event area says DISABLE, or DESC naming a slot we did not just fill. */
static void vq_post_packed(struct vq *v, const void *buf, uint32_t len)
{
    struct pdesc *d = &v->pdesc[v->avail_idx];
    uint32_t area;
    uint16_t flags, event;
    d->addr = (uint64_t)(uintptr_t)buf;
    d->len = len;
    d->id = 0;
    barrier(); /* the descriptor before the flags that make it available */
    d->flags = (uint16_t)(v->avail_wrap ? PACKED_F_AVAIL : PACKED_F_USED);
    if (++v->avail_idx == v->num) {
        v->avail_idx = 0;
        v->avail_wrap ^= 1u;
        mb->ring_wraps++;
    }
    barrier(); /* the flags before we look at the device's wishes */
    area = *v->device;
    flags = (uint16_t)(area >> 16);
    if (flags == PACKED_EVENT_DISABLE) return;
    if (flags == PACKED_EVENT_DESC) { /* vring_need_event for the one slot we filled */
        uint16_t off_wrap = (uint16_t)area, new_idx = v->avail_idx, old = (uint16_t)(new_idx - 1u);
        event = (uint16_t)(off_wrap & 0x7fffu);
        if ((off_wrap >> 15) != v->avail_wrap) event = (uint16_t)(event - v->num);
        if ((uint16_t)(new_idx - event - 1u) >= (uint16_t)(new_idx - old)) return;
    }
    wr(VB_MMIO_QUEUE_NOTIFY, v->index);
}

/* The packed vq_get: the slot at last_used is used when its AVAIL and USED bits both equal our
   used wrap counter; it must hold id 0, the one buffer we have in flight. */
static int vq_get_packed(struct vq *v)
{
    const struct pdesc *d = &v->pdesc[v->last_used];
    uint16_t flags = d->flags;
    unsigned avail = (flags & PACKED_F_AVAIL) != 0, used = (flags & PACKED_F_USED) != 0;
    if (avail != used || used != v->used_wrap) return 0;
    barrier(); /* the id only after the flags */
    if (d->id != 0) guest_exit(MV_EXIT_BAD_RING);
    if (++v->last_used == v->num) {
        v->last_used = 0;
        v->used_wrap ^= 1u;
    }
    return 1;
}

/* virtqueue_add_outbuf() + virtqueue_kick() with one device-readable buffer in descriptor 0
   (each of our queues has at most one buffer in flight, as Linux's balloon). */
static void vq_post(struct vq *v, const void *buf, uint32_t len)
{
    if (packed) {
        vq_post_packed(v, buf, len);
        return;
    }
    v->desc[0].addr = (uint64_t)(uintptr_t)buf;
    v->desc[0].len = len;
    v->desc[0].flags = 0;
    v->desc[0].next = 0;
    v->avail[2u + v->avail_idx % v->num] = 0;
    barrier(); /* the entry before the index that publishes it */
    v->avail[1] = ++v->avail_idx;
    if (v->avail_idx % v->num == 0) mb->ring_wraps++;
    barrier(); /* the index before we look at the device's wishes */
    if (!(v->used[0] & 1u)) wr(VB_MMIO_QUEUE_NOTIFY, v->index); /* VRING_USED_F_NO_NOTIFY */
}

/* virtqueue_get_buf(): 1 if the device returned our buffer (descriptor 0). */
static int vq_get(struct vq *v)
{
    volatile uint32_t *elem;
    if (packed) return vq_get_packed(v);
    if (v->used[1] == v->last_used) return 0;
    barrier(); /* the entry only after the index */
    elem = (volatile uint32_t *)(v->used + 2) + 2u * (v->last_used % v->num);
    if (elem[0] != 0) guest_exit(MV_EXIT_BAD_RING);
    v->last_used++;
    return 1;
}

/* ---- the balloon driver (drivers/virtio/virtio_balloon.c in miniature) ---------------------- */

struct stat_rec {
    uint16_t tag;
    uint64_t val;
} __attribute__((packed));

static struct stat_rec stats[NSTATS];
static uint32_t pfns[PFNS_MAX];
static uint32_t balloon[65536]; /* PFNs in the balloon (up to 256 MiB), a stack */
static uint32_t num_pages;      /* pages in the balloon */
static uint32_t refills;

/* update_balloon_stats(), in Linux 6.1's send order. */
static void update_stats(void)
{
    static const uint16_t order[NSTATS] = {VB_STAT_SWAP_IN, VB_STAT_SWAP_OUT, VB_STAT_MAJFLT,
                                           VB_STAT_MINFLT,  VB_STAT_HTLB_PGALLOC, VB_STAT_HTLB_PGFAIL,
                                           VB_STAT_MEMFREE, VB_STAT_MEMTOT, VB_STAT_AVAIL,
                                           VB_STAT_CACHES};
    uint64_t val[VB_STAT_COUNT] = {0}, balloon_bytes = (uint64_t)num_pages << 12;
    unsigned i;
    val[VB_STAT_MAJFLT] = majflt;
    val[VB_STAT_MINFLT] = minflt;
    val[VB_STAT_MEMFREE] = (uint64_t)nfree << 12;
    val[VB_STAT_MEMTOT] = ram_size - balloon_bytes; /* totalram_pages() loses the balloon */
    val[VB_STAT_CACHES] = (uint64_t)cache_count << 12;
    val[VB_STAT_AVAIL] = val[VB_STAT_MEMFREE] + val[VB_STAT_CACHES];
    for (i = 0; i < NSTATS; i++) {
        stats[i].tag = order[i];
        stats[i].val = val[order[i]];
    }
    mb->refills = ++refills;
}

/* tell_host(): give the PFN array to the device and wait (spinning) until it is used. */
static void tell_host(struct vq *v, uint32_t n)
{
    vq_post(v, pfns, 4u * n);
    while (!vq_get(v)) {
        if (mb->stop) return;
        cpu_relax();
    }
}

static uint32_t config_read32(uint32_t off) { return rd(VB_MMIO_CONFIG + off); }

/* update_balloon_size_func(): towards the target one batch of <= 256 pages at a time, writing
   `actual` after each batch. Pages come from (and go back to) the page allocator. */
static void balloon_work(void)
{
    for (;;) {
        uint32_t target = config_read32(0), n = 0;
        if (mb->stop || target == num_pages) return;
        if (target > num_pages) { /* fill_balloon() */
            while (n < PFNS_MAX && num_pages + n < target && num_pages + n < 65536u &&
                   page_alloc(&pfns[n]) == 0)
                n++;
            if (n == 0) return; /* "Out of puff!": try again at the next config change */
            tell_host(&vqs[VB_QUEUE_INFLATE], n);
            while (n) balloon[num_pages++] = pfns[--n];
        } else { /* leak_balloon() */
            while (n < PFNS_MAX && num_pages - n > target) {
                pfns[n] = balloon[num_pages - 1u - n];
                n++;
            }
            tell_host(&vqs[VB_QUEUE_DEFLATE], n);
            num_pages -= n;
            while (n) page_free(pfns[--n]);
        }
        mb->balloon = num_pages;
        wr(VB_MMIO_CONFIG + 4u, num_pages); /* update_balloon_size(): actual */
    }
}

/* vm_interrupt(): read and acknowledge; a config change queues the size work. */
static void interrupt(void)
{
    uint32_t isr = rd(VB_MMIO_INTERRUPT_STATUS);
    if (!isr) return;
    wr(VB_MMIO_INTERRUPT_ACK, isr);
    if (isr & VB_MMIO_INT_CONFIG) {
        if (rd(VB_MMIO_STATUS) & VB_S_NEEDS_RESET) guest_exit(MV_EXIT_NEEDS_RESET);
        balloon_work();
    }
}

/* virtio_mmio probe + virtio_dev_probe() + virtballoon_probe(), in Linux's order. */
static void probe(void)
{
    uint64_t features;
    uint32_t status = 0;
    unsigned q;
    if (rd(VB_MMIO_MAGIC_VALUE) != VB_MMIO_MAGIC) guest_exit(MV_EXIT_MAGIC);
    if (rd(VB_MMIO_VERSION) != 2) guest_exit(MV_EXIT_VERSION);
    if (rd(VB_MMIO_DEVICE_ID) != VB_DEVICE_ID) guest_exit(MV_EXIT_DEVICE_ID);
    puts_("guest: virtio-mmio balloon at ");
    puthex((uint64_t)(uintptr_t)mmio);
    puts_(", vendor ");
    puthex(rd(VB_MMIO_VENDOR_ID));
    puts_("\n");

    wr(VB_MMIO_STATUS, 0); /* reset */
    wr(VB_MMIO_STATUS, status |= VB_S_ACKNOWLEDGE);
    wr(VB_MMIO_STATUS, status |= VB_S_DRIVER);
    wr(VB_MMIO_DEVICE_FEATURES_SEL, 1);
    features = (uint64_t)rd(VB_MMIO_DEVICE_FEATURES) << 32;
    wr(VB_MMIO_DEVICE_FEATURES_SEL, 0);
    features |= rd(VB_MMIO_DEVICE_FEATURES);
    if (!(features >> VB_F_VERSION_1 & 1u)) guest_exit(MV_EXIT_NO_VERSION_1);
    /* the packed ring too, when offered (Linux's virtio core keeps it) */
    features &= (1ull << VB_F_VERSION_1) | (1ull << VB_F_STATS_VQ) | (1ull << VB_F_RING_PACKED);
    packed = (features >> VB_F_RING_PACKED & 1u) != 0;
    mb->packed = (uint32_t)packed;
    wr(VB_MMIO_DRIVER_FEATURES_SEL, 1); /* high word first, as Linux */
    wr(VB_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
    wr(VB_MMIO_DRIVER_FEATURES_SEL, 0);
    wr(VB_MMIO_DRIVER_FEATURES, (uint32_t)features);
    wr(VB_MMIO_STATUS, status |= VB_S_FEATURES_OK);
    if (!(rd(VB_MMIO_STATUS) & VB_S_FEATURES_OK)) guest_exit(MV_EXIT_FEATURES);

    for (q = 0; q < VB_QUEUE_COUNT; q++) setup_vq(q); /* inflate, deflate, stats */

    /* The stats queue gets one buffer with real values and a kick, before DRIVER_OK. */
    update_stats();
    vq_post(&vqs[VB_QUEUE_STATS], stats, sizeof stats);
    wr(VB_MMIO_STATUS, status |= VB_S_DRIVER_OK);
    puts_("guest: driver ok, features ");
    puthex(features);
    puts_(packed ? ", packed queues of " : ", split queues of ");
    putu(vqs[0].num);
    puts_("\n");
}

__attribute__((noreturn, section(".text.start"))) void _start(uint64_t ram, uint64_t base,
                                                             struct mv_mailbox *mailbox);
__attribute__((noreturn, section(".text.start"))) void _start(uint64_t ram, uint64_t base,
                                                             struct mv_mailbox *mailbox)
{
    uint64_t next_check;
    mb = mailbox;
    mmio = (volatile unsigned char *)(uintptr_t)base;
    ram_size = ram;
    if (mb->magic != MV_MAILBOX_MAGIC) guest_exit(MV_EXIT_MAILBOX);
    puts_("guest: hello, ");
    putu(ram >> 20);
    puts_(" MiB of RAM\n");
    mb->phase = 1;
    alloc_init();
    probe();
    balloon_work(); /* a target set before the driver came */
    mb->phase = 2;

    next_check = rdtsc() + CHECK_CYCLES;
    while (!mb->stop) {
        if (vq_get(&vqs[VB_QUEUE_STATS])) { /* stats_request(): the device wants fresh stats */
            interrupt();
            workload_step();
            update_stats();
            vq_post(&vqs[VB_QUEUE_STATS], stats, sizeof stats);
        } else if (rdtsc() >= next_check) {
            interrupt();
            next_check = rdtsc() + CHECK_CYCLES;
        } else {
            cpu_relax();
        }
    }
    mb->phase = 3;
    puts_("guest: stop requested after ");
    putu(refills);
    puts_(" stats refills; resetting the device\n");
    wr(VB_MMIO_STATUS, 0); /* virtio_dev_remove(): reset */
    guest_exit(MV_EXIT_OK);
}
