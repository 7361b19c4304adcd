/* minivmm.h - what the mini-VMM and its test guest agree on: the guest-physical memory map, the
   I/O ports and the mailbox page. public domain (Unlicense) - see the end of vballoon.h

   Guest-physical memory (RAM starts at 0, --mem MiB, at least 16):
     0x00001000  PML4, PDPT, then 4 page directories: 0-4 GiB identity-mapped with 2 MiB pages
     0x00007000  GDT (null, 64-bit code 0x08, data 0x10)
     0x00008000  the mailbox (struct mv_mailbox), shared by the VMM and the guest
     0x00100000  the guest image (flat binary, entry point at its first byte), then its .bss
     0x00300000  top of the guest's stack (it grows down towards the image)
     0x00400000  the guest's heap: its page allocator manages every page from here to RAM end
     0xd0000000  the virtio-mmio balloon (not RAM: every access is an MMIO exit), IRQ 5

   The vCPU starts in 64-bit long mode at the image's first byte with the System V arguments
   rdi = RAM size in bytes, rsi = the balloon's MMIO base, rdx = the mailbox's address. */
#ifndef MINIVMM_H
#define MINIVMM_H

#include <stdint.h>

#define MV_PAGE_TABLES 0x1000u
#define MV_GDT 0x7000u
#define MV_MAILBOX 0x8000u
#define MV_GUEST_LOAD 0x100000u
#define MV_GUEST_MAX 0x100000u /* image + .bss must end below MV_STACK_TOP - 1 MiB of stack */
#define MV_STACK_TOP 0x300000u
#define MV_HEAP 0x400000u
#define MV_MMIO_BASE 0xd0000000u
#define MV_MMIO_IRQ 5u

#define MV_PORT_SERIAL 0x3f8u /* 8250 THR: each byte written goes to the VMM's stdout */
#define MV_PORT_EXIT 0x501u   /* a write ends the VM; the value's low byte is the guest's status */

#define MV_MAILBOX_MAGIC 0x786f626du /* "mbox" */

/* One page the VMM fills before the guest starts. `stop` is the VMM's request to finish (the
   guest polls it) and `queue_size` its choice of ring size; the rest is the guest's report,
   read by the VMM at exit. */
struct mv_mailbox {
    uint32_t magic;
    volatile uint32_t stop;     /* VMM -> guest: non-zero = reset the device and exit */
    volatile uint32_t phase;    /* guest -> VMM: 1 probing, 2 running, 3 stopping */
    volatile uint32_t refills;  /* stats buffers the guest filled (the primer included) */
    volatile uint32_t balloon;  /* pages in the balloon */
    volatile uint32_t mmio_exits; /* MMIO accesses the guest made */
    uint32_t queue_size;        /* VMM -> guest: entries of each ring (0: QueueNumMax, as Linux) */
    volatile uint32_t packed;   /* guest -> VMM: 1 if it negotiated VIRTIO_F_RING_PACKED */
    volatile uint32_t ring_wraps; /* guest -> VMM: laps its rings made, all queues together */
};

/* Guest exit statuses (port MV_PORT_EXIT). */
enum {
    MV_EXIT_OK = 0,
    MV_EXIT_MAGIC = 2,      /* MagicValue is not "virt" */
    MV_EXIT_VERSION = 3,    /* Version is not 2 */
    MV_EXIT_DEVICE_ID = 4,  /* DeviceID is not 5 */
    MV_EXIT_NO_VERSION_1 = 5,
    MV_EXIT_FEATURES = 6,   /* FEATURES_OK did not stick */
    MV_EXIT_QUEUE = 7,      /* a queue is missing, too small, or already ready */
    MV_EXIT_NEEDS_RESET = 8,/* the device reported DEVICE_NEEDS_RESET */
    MV_EXIT_BAD_RING = 9,   /* the device returned a buffer we did not give it */
    MV_EXIT_MAILBOX = 10    /* no mailbox from the VMM */
};

#endif /* MINIVMM_H */
