/* bench/floor.h - the performance floor of a stats round (issue 12): the least a safe device
   must do for one round, written by hand, for bench/bench.c to measure next to vballoon.h.

   One round, as vballoon.h's: the timer fires and the held buffer goes back (used element
   {head, len 0}, used idx published, EVENT_IDX interrupt decision on used_event), then the
   guest's kick pops the next one (avail idx read once and checked, head < size, at most size
   buffers in flight, avail_event written), reads its direct descriptor (no NEXT, no INDIRECT,
   no WRITE), parses its 10-byte little-endian records into the stats (tags sent in this buffer
   only; unknown tags counted), holds it and re-arms the timer (deadline = now + interval).
   Every guest address and length is checked against guest RAM (overflow included); a ring
   error breaks the floor device as it breaks vballoon.h's. Left out: what vballoon.h does
   beyond one well-formed round (chains, indirect tables, device-writable descriptors, legacy
   and big-endian guests, telemetry, logging, QEMU's wall-clock last-update, the timer that
   counts missed intervals, the early-timer check, reentrancy guards). At most 160 bytes (16
   records) are read from a buffer; vballoon.h reads up to 2560.

   Two ways to guest RAM: direct (RAM is a host array: bounds check, then the bytes in place,
   each ring field loaded once) and callbacks (vb_host's read/write signature, called through
   a pointer). Timer, clock and interrupt are host callbacks in both, as in vballoon.h.
   License: public domain (Unlicense). */
#ifndef BENCH_FLOOR_H
#define BENCH_FLOOR_H

#include <stdint.h>
#include <string.h>

#define FLOOR_TAGS 16u        /* known stats tags */
#define FLOOR_MAX_BYTES 160u  /* records read from one buffer: 16 */
#define FLOOR_UNSET UINT64_MAX

#define FLOOR_INLINE static inline __attribute__((always_inline))

typedef struct floor_host {
    int (*read)(void *user, uint64_t gpa, void *dst, size_t len); /* callbacks path only */
    int (*write)(void *user, uint64_t gpa, const void *src, size_t len);
    uint64_t (*now)(void *user);
    void (*arm)(void *user, uint64_t deadline);
    void (*notify)(void *user, unsigned queue);
} floor_host;

typedef struct floor_dev {
    const floor_host *host;
    void *user;
    unsigned char *ram; /* direct path: guest RAM at guest-physical 0, ram_size bytes */
    uint64_t ram_size;
    uint64_t desc, avail, used; /* the stats queue */
    uint16_t size, last_avail, used_idx, signalled_used;
    uint16_t held_head;
    uint8_t held, signalled_valid, broken;
    uint64_t interval_ms, deadline_ms;
    uint64_t stat[FLOOR_TAGS];
    unsigned long polls, updates, records, unknown_tags;
} floor_dev;

FLOOR_INLINE uint16_t floor_le16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
FLOOR_INLINE uint32_t floor_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
FLOOR_INLINE uint64_t floor_le64(const unsigned char *p)
{
    return (uint64_t)floor_le32(p) | (uint64_t)floor_le32(p + 4) << 32;
}
FLOOR_INLINE void floor_st16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}
FLOOR_INLINE void floor_st32(unsigned char *p, uint32_t v)
{
    floor_st16(p, (uint16_t)v);
    floor_st16(p + 2, (uint16_t)(v >> 16));
}

/* len bytes at gpa: a pointer to them (in RAM, or copied to buf), NULL if outside RAM. */
FLOOR_INLINE const unsigned char *floor_in(floor_dev *f, int direct, uint64_t gpa, size_t len,
                                           unsigned char *buf)
{
    if (direct) return gpa > f->ram_size || len > f->ram_size - gpa ? NULL : f->ram + gpa;
    if (gpa > UINT64_MAX - len || f->host->read(f->user, gpa, buf, len)) return NULL;
    return buf;
}

/* Write len bytes at gpa: 0, or -1 if outside RAM. */
FLOOR_INLINE int floor_out(floor_dev *f, int direct, uint64_t gpa, const unsigned char *src, size_t len)
{
    if (direct) {
        if (gpa > f->ram_size || len > f->ram_size - gpa) return -1;
        memcpy(f->ram + gpa, src, len);
        return 0;
    }
    return gpa > UINT64_MAX - len || f->host->write(f->user, gpa, src, len) ? -1 : 0;
}

static const uint64_t floor_unset[FLOOR_TAGS] = {
    FLOOR_UNSET, FLOOR_UNSET, FLOOR_UNSET, FLOOR_UNSET, FLOOR_UNSET, FLOOR_UNSET, FLOOR_UNSET, FLOOR_UNSET,
    FLOOR_UNSET, FLOOR_UNSET, FLOOR_UNSET, FLOOR_UNSET, FLOOR_UNSET, FLOOR_UNSET, FLOOR_UNSET, FLOOR_UNSET};

#define FLOOR_FENCE() __atomic_thread_fence(__ATOMIC_SEQ_CST)

/* The held buffer back (used len 0), then the interrupt unless used_event says no. */
FLOOR_INLINE void floor_return(floor_dev *f, int direct)
{
    unsigned char elem[8], idx[2], buf[2];
    const unsigned char *p;
    uint16_t now = (uint16_t)(f->used_idx + 1u), event;
    int valid = f->signalled_valid;

    floor_st32(elem, f->held_head);
    floor_st32(elem + 4, 0);
    floor_st16(idx, now);
    f->held = 0;
    if (floor_out(f, direct, f->used + 4u + 8u * (f->used_idx & (f->size - 1u)), elem, 8)) goto bad;
    FLOOR_FENCE(); /* the element before the index */
    if (floor_out(f, direct, f->used + 2u, idx, 2)) goto bad;
    f->used_idx = now;
    FLOOR_FENCE(); /* our index before the driver's used_event */
    if (!(p = floor_in(f, direct, f->avail + 4u + 2u * f->size, 2, buf))) goto bad; /* used_event */
    event = floor_le16(p);
    /* vring_need_event(event, new, old), old = the used idx at the last decision */
    if (!valid || (uint16_t)(now - event - 1u) < (uint16_t)(now - f->signalled_used))
        f->host->notify(f->user, 2u /* the stats queue */);
    f->signalled_used = now;
    f->signalled_valid = 1;
    return;
bad:
    f->broken = 1;
}

/* The timer: give the held buffer back (the guest answers with a new one). */
FLOOR_INLINE void floor_timer(floor_dev *f, int direct)
{
    if (f->broken || !f->held) return; /* nothing to ask with: the next kick re-arms */
    f->polls++;
    floor_return(f, direct);
}

/* The guest's kick: pop one buffer, parse it, hold it, re-arm. */
FLOOR_INLINE void floor_kick(floor_dev *f, int direct)
{
    unsigned char buf[FLOOR_MAX_BYTES], ev[2];
    const unsigned char *p;
    uint64_t addr;
    uint32_t len, i;
    uint16_t idx, head;

    if (f->broken) return;
    if (!(p = floor_in(f, direct, f->avail + 2u, 2, buf))) goto bad; /* avail idx, once */
    idx = floor_le16(p);
    if ((uint16_t)(idx - f->last_avail) > f->size) goto bad;
    if (idx == f->last_avail) return; /* nothing new */
    if ((uint16_t)(f->last_avail - f->used_idx) >= f->size) goto bad; /* all in flight */
    FLOOR_FENCE(); /* the entry after the index that published it */
    if (!(p = floor_in(f, direct, f->avail + 4u + 2u * (f->last_avail & (f->size - 1u)), 2, buf))) goto bad;
    head = floor_le16(p);
    if (head >= f->size) goto bad;
    f->last_avail++;
    floor_st16(ev, f->last_avail);
    if (floor_out(f, direct, f->used + 4u + 8u * f->size, ev, 2)) goto bad; /* avail_event */
    if (!(p = floor_in(f, direct, f->desc + 16u * head, 16, buf))) goto bad;
    addr = floor_le64(p);
    len = floor_le32(p + 8);
    if (floor_le16(p + 12) != 0) goto bad; /* NEXT, WRITE or INDIRECT: not a direct buffer */
    if (len > FLOOR_MAX_BYTES) len = FLOOR_MAX_BYTES;
    if (!(p = floor_in(f, direct, addr, len, buf))) goto bad;
    if (f->held) floor_return(f, direct); /* a second buffer: the first goes back (QEMU) */
    memcpy(f->stat, floor_unset, sizeof f->stat); /* (a loop: gcc's rep stosb, 128 instructions) */
    for (i = 0; i + 10u <= len; i += 10u) { /* each byte read once */
        uint16_t tag = floor_le16(p + i);
        if (tag < FLOOR_TAGS) f->stat[tag] = floor_le64(p + i + 2u);
        else f->unknown_tags++;
        f->records++;
    }
    f->updates++;
    f->held = 1;
    f->held_head = head;
    f->deadline_ms = f->host->now(f->user) + f->interval_ms;
    f->host->arm(f->user, f->deadline_ms);
    return;
bad:
    f->broken = 1;
}

/* Set up the stats queue: size a power of 2, each ring inside guest RAM (ram_size bytes; the
   per-access checks then never see an address that wrapped). 0 or -1. */
static int floor_queue(floor_dev *f, uint64_t ram_size, uint16_t size, uint64_t desc,
                       uint64_t avail, uint64_t used)
{
    if (!size || (size & (size - 1u)) || desc > ram_size || 16u * size > ram_size - desc ||
        avail > ram_size || 6u + 2u * size > ram_size - avail || used > ram_size ||
        6u + 8u * size > ram_size - used)
        return -1;
    f->size = size;
    f->desc = desc;
    f->avail = avail;
    f->used = used;
    f->last_avail = f->used_idx = f->signalled_used = 0;
    f->signalled_valid = f->held = f->broken = 0;
    return 0;
}

/* The entry points, one per path (called through pointers by the benchmark). */
static void floor_timer_direct(floor_dev *f) { floor_timer(f, 1); }
static void floor_kick_direct(floor_dev *f) { floor_kick(f, 1); }
static void floor_timer_cb(floor_dev *f) { floor_timer(f, 0); }
static void floor_kick_cb(floor_dev *f) { floor_kick(f, 0); }

#endif
