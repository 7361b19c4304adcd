#!/usr/bin/env python3
"""Write the seed corpora of the fuzz harnesses, deterministically (stdlib only).

    python3 fuzz/make_corpus.py [outdir]      # default: fuzz/corpus next to this script

fuzz/corpus/device/  inputs of fuzz_device.c (format documented at the top of that file)
fuzz/corpus/stats/   inputs of fuzz_stats.c  (byte 0 = descriptors - 1 | indirect << 4,
                     bytes 1..16 = cut points, then the stats buffer)
                     fuzz_stats and fuzz_device also read the input's tail as metrics labels
                     (fuzz/metrics_check.h): the metrics-* seeds
fuzz/corpus/qmp/     inputs of fuzz_qmp.c    (byte 0 = bit0 qemu profile, bit1 10 keys, bit2
                     pretty, bit3 negotiated, bits 4-7 the small buffer; then the command)

Every corpus directory is rewritten from scratch: files not produced here are removed.
It also writes the readable reproducers of fuzz/regressions/ (other files there are kept).
"""
import os
import struct
import sys

# ---------------------------------------------------------------------------------------------
# fuzz_device
# ---------------------------------------------------------------------------------------------

FEATURES, STATUS, SETUP, READY, BASE, NOTIFY, TIMER, CFGREAD, CFGWRITE, INTERVAL, PROP, QMP, \
    RESET, MRESET, SNAP, SNAPMUT, WRITE, TARGET, DENY, DESC, PUBLISH, DENYRING, RINGSET, \
    FEATURES2, HINT, ECHO, DOWORK = range(27)

# ring parts (DENYRING f % 9; RINGSET takes the 16-bit ones)
AVAIL_FLAGS, AVAIL_IDX, AVAIL_RING, USED_EVENT, USED_FLAGS, USED_IDX, USED_RING, AVAIL_EVENT, \
    DESC_TABLE = range(9)
RINGSET_PART = {AVAIL_FLAGS: 0, AVAIL_IDX: 1, USED_EVENT: 2, USED_FLAGS: 3, USED_IDX: 4, AVAIL_EVENT: 5}

# config byte 0
PROFILE_QEMU = 0x01
KEYS = {16: 0, 10: 2, 7: 4, 6: 6}
OPT_BE, OPT_NO_EVENT_IDX, OPT_NO_INDIRECT, OPT_MUST_TELL, OPT_DEFLATE_ON_OOM = 0x08, 0x10, 0x20, 0x40, 0x80

# FEATURES operand bits
F_MUST_TELL, F_STATS, F_DEFLATE, F_INDIRECT, F_EVENT_IDX, F_V1, F_BOGUS3, F_BOGUS40 = \
    0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80
LINUX = F_STATS | F_INDIRECT | F_EVENT_IDX | F_V1

# FEATURES2 operand bits (feature words with the issue-9 features) and the options byte X
G_STATS, G_FPH, G_POISON, G_REP, G_INDIRECT, G_EVENT_IDX, G_V1, G_DEFLATE = \
    0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80
LINUX2 = G_STATS | G_INDIRECT | G_EVENT_IDX | G_V1
X_FPH, X_POISON, X_REP, X_OFFERED, X_FIXED, X_PACKED = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
P_AVAIL, P_USED = 0x80, 0x40  # DESC flags bits of a packed descriptor's AVAIL and USED
HINT_START, HINT_STOP, HINT_DONE = 0, 1, 2

# status bits
ACK, DRIVER, DRIVER_OK, FEATURES_OK = 0x01, 0x02, 0x04, 0x08

# descriptor flags
NEXT, WRITE_F, INDIRECT = 1, 2, 4

# guest RAM layout of the seeds (64 KiB): queue q's rings, then data
def ring(q):
    """Rings of queue ROLE q: inflate, deflate, stats at 0x1000 + 0x2000 q; the free page
    (3) and reporting (4) queues above the data, at 0xC000 and 0xE000 (queues of <= 128)."""
    if q >= 3:
        base = 0xC000 + 0x2000 * (q - 3)
        return base, base + 0x800, base + 0x1000
    base = 0x1000 + 0x2000 * q
    return base, base + 0x800, base + 0x1000  # desc, avail, used


def index_of(role, f2, x):
    """The queue index of a role: Linux's contiguous numbering over the FEATURES2 word f2,
    or over the offered features (X_OFFERED: STATS is always offered), or fixed."""
    if x & X_FIXED:
        return role
    if x & X_OFFERED:
        f2 = G_STATS | (G_FPH if x & X_FPH else 0) | (G_REP if x & X_REP else 0)
    exists = [True, True, bool(f2 & G_STATS) or not (f2 & (G_FPH | G_REP)), bool(f2 & G_FPH), bool(f2 & G_REP)]
    if not exists[role]:
        return None
    return sum(exists[:role])

STATS_BUF = 0x8000
PFN_BUF = 0x9000
TABLE = 0xA000
LINUX61_TAGS = [0, 1, 2, 3, 8, 9, 4, 5, 6, 7]
LINUX612_TAGS = [0, 1, 2, 3, 10, 11, 12, 13, 14, 15, 8, 9, 4, 5, 6, 7]


def records(tags, seed, be=False, values=None):
    fmt = '>HQ' if be else '<HQ'
    out = b''
    for i, t in enumerate(tags):
        v = values[i] if values is not None else seed * 1000 + t
        out += struct.pack(fmt, t, v)
    return out


class Dev:
    """One fuzz_device input: config, RAM image, events."""

    def __init__(self, cfg=0, qmax=128, interval=0, image=b'', x=None):
        n = {2: 0, 4: 1, 8: 2, 16: 3, 32: 4, 64: 5, 128: 6, 256: 7}[qmax]
        if x is None:
            self.head = bytes([cfg, n | (interval << 3)]) + struct.pack('<H', len(image)) + image
        else:  # the issue-9 options byte
            self.head = bytes([cfg, n | (interval << 3)]) + struct.pack('<H', 0x8000 | len(image)) + \
                bytes([x]) + image
        self.x = x or 0
        self.ev = b''
        self.be = bool(cfg & OPT_BE)

    def op(self, code, payload=b''):
        self.ev += bytes([code]) + payload
        return self

    # transport
    def features(self, f): return self.op(FEATURES, bytes([f]))
    def status(self, s): return self.op(STATUS, bytes([s]))
    def setup(self, q, size, desc, avail, used):
        return self.op(SETUP, struct.pack('<BHIII', q, size, desc, avail, used))
    def ready(self, q, on=1): return self.op(READY, bytes([q | (on << 2)]))
    def base(self, q, b): return self.op(BASE, struct.pack('<BH', q, b))
    def notify(self, q): return self.op(NOTIFY, bytes([q]))
    def cfg_read(self, off, n): return self.op(CFGREAD, bytes([off, n]))
    def cfg_write(self, off, n, data): return self.op(CFGWRITE, bytes([off, n]) + data.ljust(8, b'\0')[:8])
    # host
    def timer(self, mode): return self.op(TIMER, bytes([mode]))
    def fire(self): return self.timer(0)
    def interval(self, kind, v): return self.op(INTERVAL, struct.pack('<BI', kind, v & 0xffffffff))
    def prop(self, p): return self.op(PROP, bytes([p]))
    def qmp(self, c, a=0): return self.op(QMP, struct.pack('<BI', c, a & 0xffffffff))
    def reset(self): return self.op(RESET)
    def mreset(self, wakeup=0): return self.op(MRESET, bytes([wakeup]))
    def snap(self): return self.op(SNAP)
    def snapmut(self, pairs, fix=True):
        pl = bytes([len(pairs) | (8 if fix else 0)])
        for p, x in pairs:
            pl += bytes([p, x])
        return self.op(SNAPMUT, pl)
    def target(self, t): return self.op(TARGET, struct.pack('<I', t))
    def deny(self, lo, n): return self.op(DENY, struct.pack('<HH', lo, n))
    # guest memory
    def write(self, addr, data):
        while data:
            chunk, data = data[:255], data[255:]
            self.op(WRITE, struct.pack('<HB', addr, len(chunk)) + chunk)
            addr += len(chunk)
        return self
    def desc(self, q, i, addr, ln, flags=0, nxt=0):
        return self.op(DESC, struct.pack('<BBHHBB', q, i, addr, ln, flags, nxt))
    def publish(self, q, head, count=1): return self.op(PUBLISH, bytes([q | ((count - 1) << 2), head]))
    def deny_ring(self, q, part): return self.op(DENYRING, bytes([q, part]))
    def ring_set(self, q, part, v): return self.op(RINGSET, struct.pack('<BBH', q, RINGSET_PART[part], v))
    def raw_desc(self, table, i, addr, ln, flags=0, nxt=0):
        fmt = '>QIHH' if self.be else '<QIHH'
        return self.write(table + 16 * i, struct.pack(fmt, addr, ln, flags, nxt))
    def u16(self, addr, v): return self.write(addr, struct.pack('>H' if self.be else '<H', v))
    # issue 9
    def features2(self, f2): return self.op(FEATURES2, bytes([f2]))
    def hint(self, a): return self.op(HINT, bytes([a]))
    def echo(self, addr): return self.op(ECHO, struct.pack('<H', addr))
    def do_work(self): return self.op(DOWORK)
    def publish_role(self, role, head, count=1):
        """PUBLISH on any role: 0-2 as before, 3 and 4 through bit 7."""
        c = (0x80 | (role - 3)) if role >= 3 else role
        return self.op(PUBLISH, bytes([c | ((count - 1) << 2), head]))
    def notify_index(self, qi):
        """NOTIFY of a queue index 0-7 (bit 6 of the operand gives 4)."""
        return self.op(NOTIFY, bytes([(qi & 3) | (0x40 if qi & 4 else 0)]))
    def ready_index(self, qi, on=1):
        return self.op(READY, bytes([(qi & 3) | (0x40 if qi & 4 else 0) | (on << 2)]))

    def probe2(self, f2, size=128, prime=None):
        """A driver with the issue-9 features: FEATURES2, every queue its numbering has (rings by
        role), the stats queue primed if it exists, DRIVER_OK."""
        self.status(ACK | DRIVER).features2(f2)
        st = ACK | DRIVER
        if f2 & G_V1:
            st |= FEATURES_OK
            self.status(st)
        for role in range(5):
            qi = index_of(role, f2, self.x)
            if qi is not None:
                self.zero_rings(role).setup(qi, size, *ring(role))
        for role in range(5):
            qi = index_of(role, f2, self.x)
            if qi is not None:
                self.ready_index(qi)
        if prime is not None and index_of(2, f2, self.x) == 2:
            self.stats_buffer(prime)
        return self.status(st | DRIVER_OK)

    def zero_rings(self, q):
        """A driver (re)initialising a queue starts from zeroed avail and used headers."""
        _, avail, used = ring(q)
        return self.write(avail, b'\0' * 4).write(used, b'\0' * 4)

    # a Linux-like driver
    def probe(self, feats=LINUX, size=128, prime=None):
        """virtballoon_probe: features, three queues, the stats queue primed (kick) before
        DRIVER_OK. prime = the first stats buffer's bytes (None: no stats queue use)."""
        self.status(ACK | DRIVER).features(feats)
        st = ACK | DRIVER
        if feats & F_V1:
            st |= FEATURES_OK
            self.status(st)
        for q in range(3):
            self.zero_rings(q).setup(q, size, *ring(q))
        for q in range(3):
            self.ready(q)
        if prime is not None:
            self.stats_buffer(prime)
        return self.status(st | DRIVER_OK)

    def stats_buffer(self, data, head=0):
        """The driver (re)fills its one stats buffer and queues it again, then kicks."""
        self.write(STATS_BUF, data).desc(2, head, STATS_BUF, len(data)).publish(2, head)
        return self.notify(2)

    def tell_host(self, q, pfns, head=0):
        """tell_host(): one buffer of 32-bit PFNs on the inflate (0) or deflate (1) queue."""
        fmt = ('>' if self.be else '<') + 'I' * len(pfns)
        self.write(PFN_BUF + 0x400 * q, struct.pack(fmt, *pfns))
        self.desc(q, head, PFN_BUF + 0x400 * q, 4 * len(pfns)).publish(q, head)
        return self.notify(q)

    def bytes(self):
        return self.head + self.ev


def packed_probe(d, feats=LINUX, size=8):
    """A driver on packed rings (X_PACKED: FEATURES asks for VIRTIO_F_RING_PACKED too): three
    queues of `size` (any size), the driver and device areas at the split rings' avail and used."""
    d.status(ACK | DRIVER).features(feats)
    st = ACK | DRIVER | (FEATURES_OK if feats & F_V1 else 0)
    d.status(st)
    for q in range(3):
        desc, avail, used = ring(q)
        d.write(desc, b'\0' * 16 * size).write(avail, b'\0' * 4).write(used, b'\0' * 4).setup(q, size, desc, avail, used)
    for q in range(3):
        d.ready(q)
    return d.status(st | DRIVER_OK)


def packed_bits(lap):
    return P_AVAIL if lap else P_USED


def packed_corpus():
    """Seeds of the packed layout (fuzz_device.c, THE PACKED RING)."""
    out = {}
    # stats round after round on a ring of 5: every slot in both laps, three times round
    d = Dev(cfg=PROFILE_QEMU, qmax=8, x=X_PACKED)
    packed_probe(d, size=5).interval(1, 1)
    for r in range(16):
        slot, lap = r % 5, 1 - (r // 5) % 2
        d.write(STATS_BUF + 0x100 * (r % 4), records(LINUX61_TAGS, r))
        d.desc(2, slot, STATS_BUF + 0x100 * (r % 4), 100, packed_bits(lap), slot).notify(2).fire()
    d.ring_set(2, AVAIL_IDX, 2).ring_set(2, AVAIL_FLAGS, 0x8002).snap()
    out['packed-stats-wrap'] = d.bytes()
    # inflate chains of 1, 3 and 2 slots, an indirect one, deflate; no EVENT_IDX
    d = Dev(cfg=PROFILE_QEMU | OPT_NO_EVENT_IDX, qmax=8, x=X_PACKED)
    packed_probe(d, feats=F_STATS | F_INDIRECT | F_V1, size=8)
    d.write(PFN_BUF, struct.pack('<8I', 0x100, 0x101, 0x200, 0x300, 0x301, 0x400, 0x500, 0x501))
    d.desc(0, 0, PFN_BUF, 4, packed_bits(1), 0)
    for i in range(3):
        d.desc(0, 1 + i, PFN_BUF + 4 + 4 * i, 4, packed_bits(1) | (NEXT if i < 2 else 0), 1)
    d.desc(0, 4, PFN_BUF + 16, 4, packed_bits(1) | NEXT, 4).desc(0, 5, PFN_BUF + 20, 8, packed_bits(1), 4)
    d.write(TABLE, struct.pack('<QIHH', PFN_BUF, 8, 0, 0) + struct.pack('<QIHH', PFN_BUF + 8, 8, 0, 0))
    d.desc(0, 6, TABLE, 32, packed_bits(1) | INDIRECT, 6).notify(0)
    d.desc(1, 0, PFN_BUF, 8, packed_bits(1), 0).notify(1).snap()
    out['packed-inflate-chains'] = d.bytes()
    # UML: base 0 (wrap 0) for a fresh ring, the first buffer at slot 0 for lap 1
    d = Dev(cfg=PROFILE_QEMU, qmax=8, x=X_PACKED)
    d.status(ACK | DRIVER).features(LINUX).status(ACK | DRIVER | FEATURES_OK)
    for q in range(3):
        d.setup(q, 8, *ring(q)).base(q, 0)
    for q in range(3):
        d.ready(q)
    d.status(ACK | DRIVER | FEATURES_OK | DRIVER_OK)
    d.write(STATS_BUF, records(LINUX61_TAGS, 1)).desc(2, 0, STATS_BUF, 100, P_AVAIL, 0).notify(2)
    d.interval(1, 1).fire().desc(2, 1, STATS_BUF, 100, P_AVAIL, 0).notify(2).snapmut([(36 + 72 + 26, 1)])
    out['packed-uml-base-0'] = d.bytes()
    # hostile: a chain's second slot of the wrong lap, an id past the ring, then a reset
    d = Dev(cfg=PROFILE_QEMU, qmax=8, x=X_PACKED)
    packed_probe(d, size=4)
    d.write(STATS_BUF, records(LINUX61_TAGS, 1))
    d.desc(2, 0, STATS_BUF, 50, P_AVAIL | NEXT, 0).desc(2, 1, STATS_BUF + 50, 50, P_USED, 0).notify(2)
    d.status(0)
    packed_probe(d, size=4)
    d.desc(2, 0, STATS_BUF, 100, P_AVAIL, 9).notify(2).status(0)
    d.status(ACK | DRIVER).features(F_STATS)  # packed without VERSION_1: refused
    d.status(ACK | DRIVER | FEATURES_OK)
    out['packed-hostile'] = d.bytes()
    return out


def device_corpus():
    out = packed_corpus()

    # 1. Linux 6.1 against the document's profile: primed buffer, polls every 2 s, answers,
    #    guest-stats through the C API and QMP, the interval changed and disabled.
    d = Dev(cfg=0)
    d.probe(prime=records(LINUX61_TAGS, 1))
    d.prop(0).prop(8).qmp(0x00).qmp(0x01, 1)
    d.interval(1, 2).fire()                       # enabling polls at once
    d.stats_buffer(records(LINUX61_TAGS, 2)).qmp(0x00)
    d.fire().stats_buffer(records(LINUX61_TAGS, 3)).qmp(0x10).qmp(0x20, 7)
    d.qmp(0x03, 10 << 8).fire().stats_buffer(records(LINUX61_TAGS, 4))
    d.qmp(0x04, 0).timer(2 | (5 << 2)).prop(2).prop(1)
    out['linux61-doc-session'] = d.bytes()

    # 2. Linux 6.12 against current QEMU, 10 keys, initial interval 1 s, pretty replies
    d = Dev(cfg=PROFILE_QEMU | KEYS[10], interval=1)
    d.qmp(0x00).prop(0)                           # qemu profile: no error before the guest
    d.probe(prime=records(LINUX612_TAGS, 1))
    d.fire().stats_buffer(records(LINUX612_TAGS, 2))
    d.timer(2 | (4 << 2)).timer(2 | (6 << 2)).stats_buffer(records(LINUX612_TAGS, 3))
    d.qmp(0x10).qmp(0x1a).qmp(0x17).prop(8).mreset(1).prop(0).mreset(0).prop(0)
    out['linux612-qemu-session'] = d.bytes()

    # the metrics of the device after a session, labels from the tail (fuzz/metrics_check.h): one
    # last WRITE event carries the tail into unused guest RAM, so the events end there
    for name, tail in metrics_specs().items():
        session = out['linux61-doc-session' if len(name) % 2 else 'linux612-qemu-session']
        out['metrics-' + name] = session + struct.pack('<BHB', WRITE, 0xF800, len(tail)) + tail

    # 3. inflate and deflate: a target, PFN buffers (coalesced runs, 256+ PFNs truncated),
    #    actual written back, QMP balloon and query-balloon
    d = Dev(cfg=OPT_MUST_TELL | OPT_DEFLATE_ON_OOM)
    d.probe(feats=LINUX | F_MUST_TELL | F_DEFLATE, prime=records(LINUX61_TAGS, 1))
    d.target(16).cfg_read(0, 8)
    d.tell_host(0, list(range(0x100, 0x108)) + [0x200, 0x202, 0x203])
    d.cfg_write(4, 4, struct.pack('<I', 11)).cfg_read(4, 4)
    d.tell_host(0, list(range(0x300, 0x300 + 260)), head=1)
    d.target(2).tell_host(1, list(range(0x100, 0x108)))
    d.cfg_write(4, 4, struct.pack('<I', 3)).qmp(0x07).qmp(0x08, 0x3ff00).qmp(0x09, 2)
    # two buffers in one kick, the second split into two descriptors
    d.desc(0, 2, PFN_BUF, 8, NEXT, 3).desc(0, 3, PFN_BUF + 8, 8).desc(0, 4, PFN_BUF + 16, 4)
    d.publish(0, 2).publish(0, 4).notify(0)
    out['inflate-deflate'] = d.bytes()

    # 4. indirect stats buffer: a table of three descriptors, records straddling them, and a
    #    device-writable descriptor at the end that is never touched
    d = Dev(cfg=0)
    d.probe(prime=records(LINUX61_TAGS, 1))
    d.interval(1, 1).fire()
    buf = records(LINUX612_TAGS, 5)
    d.write(STATS_BUF, buf)
    d.raw_desc(TABLE, 0, STATS_BUF, 17, NEXT, 1).raw_desc(TABLE, 1, STATS_BUF + 17, 60, NEXT, 2)
    d.raw_desc(TABLE, 2, STATS_BUF + 77, len(buf) - 77, NEXT, 3).raw_desc(TABLE, 3, 0xB000, 64, WRITE_F)
    d.desc(2, 0, TABLE, 64, INDIRECT).publish(2, 0).notify(2).prop(0).fire()
    out['indirect-stats'] = d.bytes()

    # 5. a legacy big-endian guest (no VERSION_1): rings and stats in its byte order
    d = Dev(cfg=OPT_BE | OPT_NO_EVENT_IDX)
    d.probe(feats=F_STATS | F_INDIRECT, prime=records(LINUX61_TAGS, 1, be=True))
    d.interval(1, 2).fire().stats_buffer(records(LINUX61_TAGS, 2, be=True)).prop(0)
    d.target(4).tell_host(0, [0x10, 0x11, 0x12, 0x40]).cfg_write(4, 4, struct.pack('<I', 4))
    d.fire().stats_buffer(records(LINUX61_TAGS, 3, be=True))
    out['legacy-big-endian'] = d.bytes()

    # 6. snapshot round trip: saved with a held buffer, loaded (rewind), mutated blobs
    d = Dev(cfg=0)
    d.probe(prime=records(LINUX61_TAGS, 1))
    d.interval(1, 2).fire().stats_buffer(records(LINUX61_TAGS, 2))
    d.snap().prop(0).fire().snap()
    d.stats_buffer(records(LINUX61_TAGS, 3))
    d.snapmut([(16, 0x04)], fix=True)             # status without DRIVER_OK
    d.snapmut([(28 + 36 * 2 + 26, 0x01)], fix=True)  # stats last_avail moved
    d.snapmut([(0, 0xff)], fix=False)             # bad magic
    d.snapmut([(17, 0x01)], fix=True)             # broken flag
    d.reset().probe(prime=records(LINUX61_TAGS, 4)).snap()
    out['snapshot-roundtrip'] = d.bytes()

    # 7. EVENT_IDX and NO_INTERRUPT: used_event suppresses interrupts, avail_event written
    d = Dev(cfg=0)
    d.probe(prime=records(LINUX61_TAGS, 1))
    _, avail2, _ = ring(2)
    d.u16(avail2 + 4 + 2 * 128, 5)                # used_event far ahead: no interrupt
    d.interval(1, 1).fire().stats_buffer(records(LINUX61_TAGS, 2)).fire()
    d.reset().features(F_STATS | F_V1).status(ACK | DRIVER | FEATURES_OK)
    d.zero_rings(2).setup(2, 128, *ring(2)).ready(2).u16(avail2, 1)  # NO_INTERRUPT
    d.stats_buffer(records(LINUX61_TAGS, 3)).status(ACK | DRIVER | FEATURES_OK | DRIVER_OK).fire()
    out['event-idx-no-interrupt'] = d.bytes()

    # 8. host side: config space out of range, intervals out of range, early and stale
    #    timers, QMP errors, resets, features not offered
    d = Dev(cfg=KEYS[6], qmax=8)
    d.cfg_read(0xff, 255).cfg_read(7, 16).cfg_write(0xf3, 255, b'\x01' * 8).cfg_write(2, 8, b'\xaa' * 8)
    d.interval(0, 0xffffffff).interval(2, 0).interval(3, 5).interval(4, 0).interval(6, 999)
    d.interval(7, 0).interval(5, 1500).timer(1).timer(3 | (1 << 2)).timer(1).interval(5, 0).timer(1)
    d.qmp(0x05).qmp(0x06).qmp(0x0c, 3).qmp(0x0d, 65).qmp(0x0e).qmp(0x0f, 9).qmp(0x4b).qmp(0x0b)
    d.qmp(0x43).prop(4).prop(3).prop(0x10)
    d.features(F_BOGUS40 | F_STATS | F_V1).status(ACK | DRIVER | FEATURES_OK).status(0)
    d.setup(3, 8, 0, 0, 0).setup(0, 3, 0x1000, 0x1800, 0x2000).setup(0, 8, 0x1008, 0x1800, 0x2000)
    d.setup(0, 8, 0xff000000, 0x1800, 0x2000).ready(0x83).notify(0x81).base(0x80, 1).target(5)
    out['host-edges'] = d.bytes()

    # 9-21. hostile rings, one class each; each breaks the device, then a reset and a clean kick
    def hostile(name, build, cfg=0, feats=LINUX):
        d = Dev(cfg=cfg)
        d.probe(feats=feats, prime=records(LINUX61_TAGS, 1))
        d.interval(1, 1).fire()
        build(d)
        d.fire().qmp(0x00).status(0).probe(feats=feats, prime=records(LINUX61_TAGS, 9))
        out['hostile-' + name] = d.bytes()

    hostile('head-range', lambda d: d.publish(2, 200).notify(2))
    hostile('next-range', lambda d: d.desc(2, 0, STATS_BUF, 10, NEXT, 200).publish(2, 0).notify(2))
    hostile('loop', lambda d: d.desc(2, 0, STATS_BUF, 10, NEXT, 1).desc(2, 1, STATS_BUF, 10, NEXT, 0)
            .publish(2, 0).notify(2))
    hostile('indirect-nested', lambda d: d.raw_desc(TABLE, 0, TABLE, 16, INDIRECT)
            .desc(2, 0, TABLE, 16, INDIRECT).publish(2, 0).notify(2))
    hostile('indirect-size', lambda d: d.desc(2, 0, TABLE, 24, INDIRECT).publish(2, 0).notify(2))
    hostile('indirect-zero', lambda d: d.desc(2, 0, TABLE, 0, INDIRECT).publish(2, 0).notify(2))
    hostile('indirect-with-next', lambda d: d.desc(2, 0, TABLE, 16, INDIRECT | NEXT, 1)
            .publish(2, 0).notify(2))
    hostile('zero-length', lambda d: d.desc(2, 0, STATS_BUF, 0).publish(2, 0).notify(2))
    hostile('len-overflow', lambda d: d.raw_desc(ring(2)[0], 0, 0xfffffffffffffff0, 0x20)
            .publish(2, 0).notify(2))
    hostile('desc-order', lambda d: d.desc(2, 0, 0xB000, 10, WRITE_F | NEXT, 1)
            .desc(2, 1, STATS_BUF, 100).publish(2, 0).notify(2))
    hostile('avail-runaway', lambda d: d.u16(ring(2)[1] + 2, 0x4000).notify(2))
    hostile('overrun', lambda d: d.ready(2, 0).base(2, 300).ready(2).notify(2))
    # a full queue (128 in flight, allowed at restart), then one more buffer: "inuse >= num"
    hostile('overrun-at-pop', lambda d: d.ready(2, 0).base(2, 128).ring_set(2, USED_IDX, 0).ready(2)
            .ring_set(2, AVAIL_IDX, 129).notify(2))
    hostile('memory-refused', lambda d: d.deny(STATS_BUF + 20, 4).stats_buffer(records(LINUX61_TAGS, 2))
            .deny(0, 0))
    hostile('outside-ram', lambda d: d.desc(2, 0, 0xfff0, 100).publish(2, 0).notify(2))
    hostile('indirect-not-negotiated', lambda d: d.raw_desc(TABLE, 0, STATS_BUF, 100)
            .desc(2, 0, TABLE, 16, INDIRECT).publish(2, 0).notify(2), cfg=OPT_NO_INDIRECT,
            feats=LINUX & ~F_INDIRECT)
    hostile('second-buffer', lambda d: d.stats_buffer(records(LINUX61_TAGS, 2))
            .desc(2, 1, STATS_BUF, 100).publish(2, 1).notify(2))
    hostile('ring-refused', lambda d: d.deny_ring(2, AVAIL_IDX).stats_buffer(records(LINUX61_TAGS, 2))
            .deny(0, 0))
    hostile('desc-table-refused', lambda d: d.deny_ring(2, DESC_TABLE).stats_buffer(records(LINUX61_TAGS, 2))
            .deny(0, 0))
    hostile('used-ring-refused', lambda d: d.stats_buffer(records(LINUX61_TAGS, 2)).deny_ring(2, USED_RING)
            .fire().deny(0, 0))
    # the guest stops its stats queue, claims nothing is in flight, restarts it
    hostile('used-idx-rewrite', lambda d: d.stats_buffer(records(LINUX61_TAGS, 2)).ready(2, 0)
            .ring_set(2, USED_IDX, 2).ready(2))

    # inflate/deflate work budget: chains of two descriptors in a queue of 8; the first kick
    # stops after about a queue's worth of descriptors and says "more", the next one finishes
    d = Dev(cfg=0, qmax=8)
    d.probe(size=8, prime=records(LINUX61_TAGS, 1)).target(64)
    d.write(PFN_BUF, struct.pack('<16I', *range(0x500, 0x510)))
    for i in range(4):
        d.desc(0, 2 * i, PFN_BUF + 16 * i, 8, NEXT, 2 * i + 1).desc(0, 2 * i + 1, PFN_BUF + 16 * i + 8, 8)
    for i in range(4):
        d.publish(0, 2 * i)
    d.notify(0).notify(0)
    for i in range(8):  # one chain eight times: the budget runs out after four
        d.publish(0, 2)
    d.notify(0).ring_set(0, USED_EVENT, 7).notify(0)
    out['inflate-work-budget'] = d.bytes()

    # ---- issue 9: free page reporting, free page hinting, page poison, queue numbering ----
    RQ_DATA = 0xB000  # hint ids and readable bytes

    # 22. Linux 6.1 with REPORTING and PAGE_POISON (init_on_free: poison 0): reports of 2 ranges,
    #     an unaligned range, a readable-only buffer, poison written (ranges then ignored)
    d = Dev(cfg=PROFILE_QEMU, x=X_REP | X_POISON)
    f2 = LINUX2 | G_REP | G_POISON
    d.probe2(f2, prime=records(LINUX61_TAGS, 1))
    rq = index_of(4, f2, d.x)
    d.cfg_read(0, 16).cfg_write(12, 4, struct.pack('<I', 0))
    d.desc(4, 0, 0x3000, 0x2000, WRITE_F | NEXT, 1).desc(4, 1, 0x6000, 0x1000, WRITE_F)
    d.publish_role(4, 0).notify_index(rq)
    d.desc(4, 2, 0x3800, 0x1000, WRITE_F | NEXT, 3).desc(4, 3, 0x7000, 0x1001, WRITE_F)
    d.publish_role(4, 2).notify_index(rq)
    d.desc(4, 4, RQ_DATA, 16).publish_role(4, 4).notify_index(rq)
    d.cfg_write(12, 4, struct.pack('<I', 0xaa)).cfg_read(12, 4)
    d.desc(4, 5, 0x4000, 0x4000, WRITE_F).publish_role(4, 5).notify_index(rq)
    d.cfg_write(12, 4, struct.pack('<I', 0)).publish_role(4, 0).notify_index(rq).snap()
    out['reporting-linux'] = d.bytes()

    # 23. free page hinting: host start, the guest echoes the id, hints ranges, the guest's STOP,
    #     stale ids, host stop and done, a new round; poison written between
    d = Dev(cfg=PROFILE_QEMU, x=X_FPH | X_POISON)
    f2 = LINUX2 | G_FPH | G_POISON
    d.probe2(f2, prime=records(LINUX61_TAGS, 1))
    hq = index_of(3, f2, d.x)
    d.hint(HINT_START).cfg_read(8, 4).echo(RQ_DATA)
    d.desc(3, 0, RQ_DATA, 4).publish_role(3, 0).notify_index(hq)            # REQUESTED -> START
    d.desc(3, 1, 0x3000, 0x1000, WRITE_F | NEXT, 2).desc(3, 2, 0x5000, 0x3000, WRITE_F)
    d.publish_role(3, 1).notify_index(hq)                                  # hinted
    d.write(RQ_DATA + 8, b'\0\0\0\0').desc(3, 3, RQ_DATA + 8, 4, NEXT, 4)
    d.desc(3, 4, 0x6000, 0x1000, WRITE_F).publish_role(3, 3).notify_index(hq)  # the guest's STOP
    d.hint(HINT_START).echo(RQ_DATA + 16).desc(3, 5, RQ_DATA + 16, 4, NEXT, 6)
    d.desc(3, 6, 0x7000, 0x2000, WRITE_F).publish_role(3, 5).notify_index(hq)  # id + ranges
    d.hint(HINT_STOP).publish_role(3, 5).notify_index(hq)                     # stale
    d.hint(HINT_DONE).hint(HINT_DONE).cfg_read(8, 4).hint(HINT_START).snap()
    d.desc(3, 7, RQ_DATA, 2).publish_role(3, 7).notify_index(hq)             # a 2-byte id breaks
    d.hint(HINT_START).status(0).hint(HINT_START).probe2(f2).hint(HINT_START)
    out['hinting-round'] = d.bytes()

    # 24. every feature, Linux numbering without STATS_VQ (free page 2, reporting 3), a legacy
    #     big-endian guest under QUEUES_OFFERED, QUEUES_FIXED without the features
    d = Dev(cfg=PROFILE_QEMU, x=X_FPH | X_POISON | X_REP)
    f2 = G_FPH | G_REP | G_V1 | G_INDIRECT
    d.probe2(f2)
    d.hint(HINT_START).echo(RQ_DATA).desc(3, 0, RQ_DATA, 4).publish_role(3, 0).notify_index(2)
    d.desc(4, 0, 0x3000, 0x1000, WRITE_F).publish_role(4, 0).notify_index(3).notify_index(4)
    d.timer(0).snap()
    out['numbering-no-stats'] = d.bytes()
    d = Dev(cfg=PROFILE_QEMU | OPT_BE | OPT_NO_EVENT_IDX, x=X_FPH | X_REP | X_OFFERED)
    d.be = True
    f2 = G_STATS | G_FPH | G_REP
    d.probe2(f2, prime=records(LINUX61_TAGS, 1, be=True))
    d.hint(HINT_START).echo(RQ_DATA).desc(3, 0, RQ_DATA, 4, NEXT, 1).desc(3, 1, 0x3000, 0x1000, WRITE_F)
    d.publish_role(3, 0).notify_index(3).desc(4, 0, 0x4000, 0x2000, WRITE_F).publish_role(4, 0)
    d.notify_index(4).snap()
    out['numbering-offered-legacy-be'] = d.bytes()
    d = Dev(cfg=PROFILE_QEMU, x=X_FPH | X_REP | X_FIXED)
    d.probe2(LINUX2, prime=records(LINUX61_TAGS, 1))
    d.hint(HINT_START).desc(4, 0, 0x3000, 0x1000, WRITE_F).publish_role(4, 0).notify_index(4)
    d.desc(3, 0, 0x3000, 0x1000, WRITE_F).publish_role(3, 0).notify_index(3).notify_index(5)
    out['numbering-fixed'] = d.bytes()

    # 25. reporting work budget: indirect tables of 4 ranges in a queue of 32; the kick leaves
    #     "more work", vb_do_work finishes it
    d = Dev(cfg=PROFILE_QEMU, qmax=32, x=X_REP)
    f2 = LINUX2 | G_REP
    d.probe2(f2, size=32, prime=records(LINUX61_TAGS, 1))
    rq = index_of(4, f2, d.x)
    for i in range(4):
        d.raw_desc(TABLE, i, 0x1000 * (i + 1), 0x1000, WRITE_F | (NEXT if i < 3 else 0), i + 1)
    for i in range(32):
        d.desc(4, i, TABLE, 64, INDIRECT)
    d.publish_role(4, 0, 32).notify_index(rq).do_work().do_work().do_work().do_work().do_work()
    out['reporting-work-budget'] = d.bytes()

    # 26. hostile reporting and hint chains (each breaks; a reset and a clean round after)
    def hostile9(name, build, x=X_FPH | X_REP):
        d = Dev(cfg=PROFILE_QEMU, x=x)
        f2 = LINUX2 | G_FPH | G_REP
        d.probe2(f2, prime=records(LINUX61_TAGS, 1)).hint(HINT_START).echo(RQ_DATA)
        build(d, index_of(3, f2, x), index_of(4, f2, x))
        d.status(0).probe2(f2).hint(HINT_START).desc(4, 9, 0x3000, 0x1000, WRITE_F)
        d.publish_role(4, 9).notify_index(index_of(4, f2, x))
        out['hostile9-' + name] = d.bytes()

    hostile9('report-overflow', lambda d, h, r: d.raw_desc(ring(4)[0], 0, 0xfffffffffffff000, 0x2000, WRITE_F)
             .publish_role(4, 0).notify_index(r))
    hostile9('report-zero', lambda d, h, r: d.desc(4, 0, 0x3000, 0, WRITE_F).publish_role(4, 0).notify_index(r))
    hostile9('report-loop', lambda d, h, r: d.desc(4, 0, 0x3000, 0x1000, WRITE_F | NEXT, 1)
             .desc(4, 1, 0x4000, 0x1000, WRITE_F | NEXT, 0).publish_role(4, 0).notify_index(r))
    hostile9('report-order', lambda d, h, r: d.desc(4, 0, 0x3000, 0x1000, WRITE_F | NEXT, 1)
             .desc(4, 1, RQ_DATA, 8).publish_role(4, 0).notify_index(r))
    hostile9('report-outside-ram', lambda d, h, r: d.desc(4, 0, 0xfffe, 0x100, NEXT, 1)
             .desc(4, 1, 0x3000, 0x1000, WRITE_F).publish_role(4, 0).notify_index(r))
    hostile9('report-nested', lambda d, h, r: d.raw_desc(TABLE, 0, TABLE, 16, INDIRECT)
             .desc(4, 0, TABLE, 16, INDIRECT).publish_role(4, 0).notify_index(r))
    hostile9('hint-short-id', lambda d, h, r: d.desc(3, 0, RQ_DATA, 3).publish_role(3, 0).notify_index(h))
    hostile9('hint-head-range', lambda d, h, r: d.publish_role(3, 200).notify_index(h))
    hostile9('hint-runaway', lambda d, h, r: d.ring_set(3, AVAIL_IDX, 0x4000).notify_index(h))
    hostile9('hint-used-refused', lambda d, h, r: d.desc(3, 0, RQ_DATA, 4).deny_ring(3, USED_RING)
             .publish_role(3, 0).notify_index(h).deny(0, 0))
    return out



# ---------------------------------------------------------------------------------------------
# the metrics step of fuzz_stats and fuzz_device (fuzz/metrics_check.h, mf_run): the last byte k
# says that the k bytes before it are the label spec
# ---------------------------------------------------------------------------------------------

MF_NAMES = ['domain', 'vm', 'host', 'instance', 'zone', '_', 'A1', 'a_b9',
            '', '1a', 'a-b', '__x', 'kind', 'le', '__name__', 'h\u00e9']


def mf_label(name, value):
    """name: one of MF_NAMES, bytes (up to 8, written out) or None; value: bytes (up to 127) or
    None."""
    if name is None:
        out = b'\xff'
    elif isinstance(name, str):
        out = bytes([MF_NAMES.index(name)])
    else:
        n = next(n for n in range(255) if n % 24 >= 16 and n % 9 == len(name))
        out = bytes([n]) + name
    if value is None:
        return out + b'\xff'
    assert len(value) <= 127
    return out + bytes([len(value)]) + value


def mf_spec(devices, null_dev=False, cut=0x80, om_contract=False):
    """devices: (which, labels) or (which, 'copy' / 'copy-reversed'), which 0 the fuzzed device,
    1 the idle one. Returns the tail to append (the spec and its length)."""
    spec = bytes([(len(devices) - 1) | (0xC0 if null_dev else 0)])
    for which, labels in devices:
        if labels in ('copy', 'copy-reversed'):
            spec += bytes([which << 2 | 0x10 | (0x20 if labels == 'copy-reversed' else 0)])
            continue
        spec += bytes([len(labels) | which << 2])
        for name, value in labels:
            spec += mf_label(name, value)
    spec += bytes([(cut & ~4) | (4 if om_contract else 0)])
    assert len(spec) < 256
    return spec + bytes([len(spec)])


UTF8_MIX = (b'ok \xc3\xa9 \xf0\x9f\x98\x80|\xc0\x80|\xed\xa0\x80|\xef\xbf\xbe|'
            b'\xe2\x82|\xf8\x88\x80\x80\x80|\xfe|\x80|\xef\xb7\x90|\xf4\x90\x80\x80')


def metrics_specs():
    """name -> tail of the metrics seeds, shared by both harnesses."""
    return {
        'escapes': mf_spec([(0, [('domain', b'vm "a\\b"\nc'), ('host', b'h\xc3\xa9\xff')]),
                            (1, [('domain', b'idle\\')])]),
        'utf8-three-devices': mf_spec([(0, [('vm', UTF8_MIX)]), (1, [('vm', b'')]),
                                       (0, [('zone', b'\n\n"\\'), ('_', b'\x7f\x01\r\t')])],
                                      cut=0x33, om_contract=True),
        'refused-same-set': mf_spec([(0, [('domain', b'a'), ('zone', b'1')]), (1, 'copy-reversed')]),
        'refused-names': mf_spec([(0, [('__name__', b'x'), ('kind', b'y')]), (1, [('le', b'z')])]),
        'refused-null': mf_spec([(0, [(None, b'x')]), (1, [('vm', None)])], null_dev=True),
        'name-bytes': mf_spec([(0, [(b'Ab_9', b'v'), (b'9x', b'w')])]),
        'no-labels-openmetrics': mf_spec([(0, [])], cut=0xff, om_contract=True),
    }

# ---------------------------------------------------------------------------------------------
# fuzz_stats
# ---------------------------------------------------------------------------------------------

def stats_input(buf, ndesc=1, indirect=False, cuts=()):
    cut = bytes(list(cuts) + [0] * (16 - len(cuts)))
    return bytes([(ndesc - 1) | (0x10 if indirect else 0)]) + cut + buf


def stats_corpus():
    out = {}
    l61 = records(LINUX61_TAGS, 1)
    l612 = records(LINUX612_TAGS, 2)
    out['linux61-10-records'] = stats_input(l61)
    out['linux612-16-records'] = stats_input(l612)
    out['linux612-indirect-3-pieces'] = stats_input(l612, 3, True, (17, 95))
    out['linux61-straddle-5-pieces'] = stats_input(l61, 5, False, (3, 10, 11, 55))
    out['nine-bytes'] = stats_input(records([4], 0, values=[7])[:9])
    out['ten-n-plus-three'] = stats_input(records(LINUX61_TAGS[:5], 3) + b'\x05\x00\x01')
    out['duplicates-last-wins'] = stats_input(records([4, 4, 5, 4], 0, values=[1, 2, 3, 4]))
    out['unknown-tags'] = stats_input(records([16, 4, 0xffff, 17, 5], 0, values=[9, 1, 9, 9, 2]))
    out['doc-example-6'] = stats_input(records([1, 4, 3, 2, 5, 0], 0,
                                               values=[0, 844943360, 219028, 235, 1044406272, 0]))
    out['all-ones'] = stats_input(records(range(16), 0, values=[2**64 - 1] * 16), 16, True,
                                  tuple(range(10, 160, 10)))
    out['over-max-bytes'] = stats_input(records([i % 20 for i in range(300)], 4), 2, False, (200,))
    out['one-byte'] = stats_input(b'\x04')
    for name, tail in metrics_specs().items():  # the tail is read as records too
        out['metrics-' + name] = stats_input(l612 + tail, 2, False, (40,))
    return out


# ---------------------------------------------------------------------------------------------
# fuzz_qmp
# ---------------------------------------------------------------------------------------------

SEED_PATH = '/machine/peripheral-anon/device[1]'
SEED_ENABLE = ('{ "execute": "qom-set",\n'
               '             "arguments": { "path": "/machine/peripheral-anon/device[1]",\n'
               '                         "property": "guest-stats-polling-interval", "value": 2 } }')
SEED_CHANGE = SEED_ENABLE.replace('"value": 2 ', '"value": 10 ')
SEED_GET = ('{ "execute": "qom-get",\n'
            '  "arguments": { "path": "/machine/peripheral-anon/device[1]",\n'
            '  "property": "guest-stats" } }')
SEED_DISABLE = SEED_ENABLE.replace('guest-stats-polling-interval', 'stats-polling-interval') \
                          .replace('"value": 2 ', '"value": 0 ')

NEG = 0x08


def qmp_corpus():
    out = {}
    def add(name, cmd, flags=NEG):
        out[name] = bytes([flags]) + cmd.encode('utf-8')
    add('seed-enable', SEED_ENABLE)
    add('seed-change', SEED_CHANGE)
    add('seed-get', SEED_GET)
    add('seed-get-qemu-pretty', SEED_GET, NEG | 0x01 | 0x04)
    add('seed-disable', SEED_DISABLE)
    add('seed-disable-qemu-profile', SEED_DISABLE, NEG | 0x01)
    add('qmp-capabilities', '{"execute": "qmp_capabilities"}', 0)
    add('qmp-capabilities-oob', '{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}}', 0)
    add('qmp-capabilities-again', '{"execute": "qmp_capabilities", "id": 1}')
    add('qmp-capabilities-bad-enable', '{"execute": "qmp_capabilities", "arguments": {"enable": [1, "x"]}}', 0)
    add('not-negotiated', '{"execute": "query-balloon"}', 0)
    add('qom-list', '{"execute": "qom-list", "arguments": {"path": "/machine/peripheral/balloon0"}}')
    add('qom-list-pretty', '{"execute": "qom-list", "arguments": {"path": "' + SEED_PATH + '"}}', NEG | 0x04)
    add('query-balloon', '{"execute": "query-balloon", "id": "q1"}')
    add('balloon', '{"execute": "balloon", "arguments": {"value": 536870912}}')
    add('balloon-bad-value', '{"execute": "balloon", "arguments": {"value": -5}, "id": [1, {"a": null}]}')
    add('balloon-float', '{"execute": "balloon", "arguments": {"value": 1.5e9}}')
    add('qom-get-type', '{"execute": "qom-get", "arguments": {"path": "/machine/peripheral/balloon0", "property": "type"}}')
    add('qom-get-interval', '{"execute": "qom-get", "arguments": {"path": "/machine/peripheral/balloon0", "property": "guest-stats-polling-interval"}}')
    add('qom-set-negative', '{"execute": "qom-set", "arguments": {"path": "/machine/peripheral/balloon0", "property": "guest-stats-polling-interval", "value": -1}}')
    add('qom-set-too-big', '{"execute": "qom-set", "arguments": {"path": "/machine/peripheral/balloon0", "property": "guest-stats-polling-interval", "value": 4294967296}}')
    add('qom-set-string', '{"execute": "qom-set", "arguments": {"path": "/machine/peripheral/balloon0", "property": "guest-stats-polling-interval", "value": "2"}}')
    add('qom-set-read-only', '{"execute": "qom-set", "arguments": {"path": "/machine/peripheral/balloon0", "property": "guest-stats", "value": {}}}')
    add('error-device-not-found', '{"execute": "qom-get", "arguments": {"path": "/machine/peripheral/balloon1", "property": "guest-stats"}}')
    add('error-property-not-found', '{"execute": "qom-get", "arguments": {"path": "/machine/peripheral/balloon0", "property": "stat-\\u00e9\\ud83d\\ude00"}}')
    add('error-missing-argument', '{"execute": "qom-get", "arguments": {"path": "/machine/peripheral/balloon0"}}')
    add('error-unexpected-argument', '{"execute": "qom-get", "arguments": {"path": "/x", "property": "type", "extra": 1}}')
    add('error-unknown-command', '{"execute": "query-foo", "id": {"nested": [true, false, null, 1.25]}}')
    add('error-unexpected-member', '{"execute": "query-balloon", "zzz": 1, "control": 2}')
    add('error-not-object', '[1, 2, 3]')
    add('error-parse', '{"execute": "qom-get", "arguments": {"path": }')
    add('error-bad-escape', '{"execute": "\\x"}')
    add('error-lone-surrogate', '{"execute": "\\ud800"}')
    add('error-trailing', '{"execute": "query-balloon"} {}')
    add('error-execute-not-string', '{"execute": 1, "arguments": []}')
    add('id-big-integers', '{"execute": "query-balloon", "id": [18446744073709551615, -9223372036854775808, 0]}')
    add('id-string-escapes', '{"execute": "query-balloon", "id": "tab\\t nl\\n quote\\" \\u0000 \\u00e9 \\ud83d\\ude00"}')
    add('single-quotes', "{'execute': 'qom-get', 'arguments': {'path': '/machine/peripheral/balloon0', 'property': 'guest-stats'}, 'id': 'it\\'s'}")
    add('pretty-id-object', '{"execute": "query-balloon", "id": {"a": {}, "b": []}}', NEG | 0x04)
    add('small-buffer', '{"execute": "balloon", "arguments": {"value": 1073741824}}', NEG | 0x50)
    add('blank', ' \r\n\t ')
    add('deep-nesting', '{"execute": "query-balloon", "id": ' + '[' * 31 + ']' * 31 + '}')
    add('too-deep', '{"execute": "query-balloon", "id": ' + '[' * 40 + ']' * 40 + '}')
    # Past libFuzzer's default 4096 bytes (fuzz/smoke.sh gives fuzz_qmp -max_len=2 MiB): depth
    # bombs around QEMU's nesting limit (1024 open containers: accepted; 1025: "JSON nesting depth
    # limit exceeded"), 1 MiB strings echoed in replies, numbers past int64/uint64.
    add('depth-1024', '{"execute": "query-balloon", "id": ' + '[' * 1023 + ']' * 1023 + '}')
    add('depth-1025', '[' * 1025 + ']' * 1025)
    add('depth-1025-then-command', '[' * 1025 + '{"execute": "query-balloon"}')
    add('depth-bomb-open', '[' * 65536)
    add('depth-bomb-objects', '{"a": ' * 1100 + '1' + '}' * 1100)
    mib = 'a' * (1 << 20)
    add('string-1mib-property', '{"execute": "qom-get", "arguments": {"path": "/machine/peripheral/balloon0", '
        '"property": "' + mib + '"}}')
    add('string-1mib-id', '{"execute": "query-balloon", "id": "' + mib + '"}')
    add('number-1e400', '{"execute": "balloon", "arguments": {"value": 1e400}, "id": 1e400}')
    add('number-2pow64', '{"execute": "balloon", "arguments": {"value": 18446744073709551616}, '
        '"id": 18446744073709551616}')
    add('number-2pow64-interval', '{"execute": "qom-set", "arguments": {"path": "/machine/peripheral/balloon0", '
        '"property": "guest-stats-polling-interval", "value": 18446744073709551616}}')
    return out


# ---------------------------------------------------------------------------------------------

def write_dir(path, files):
    os.makedirs(path, exist_ok=True)
    for old in os.listdir(path):
        if old not in files:
            os.remove(os.path.join(path, old))
    for name in sorted(files):
        with open(os.path.join(path, name), 'wb') as f:
            f.write(files[name])


# ---------------------------------------------------------------------------------------------
# readable reproducers of bugs fuzz_device found (fuzz/regressions/device-*; the minimised
# artifacts next to them are libFuzzer's own output and are not written here)
# ---------------------------------------------------------------------------------------------

def regressions():
    out = {}
    # An inflate queue whose avail ring ends exactly at the top of guest RAM (64 KiB): the
    # EVENT_IDX used_event field behind it is not RAM. Two buffers in one kick: the interrupt
    # check after the first fails and breaks the device, which then goes on with the second
    # (reads, pages(), used ring writes while DEVICE_NEEDS_RESET).
    d = Dev(cfg=0)
    d.probe(prime=records(LINUX61_TAGS, 1))
    d.ready(0, 0).zero_rings(0)
    top = 0x10000 - (4 + 2 * 128)
    d.setup(0, 128, 0x1000, top, 0x2000).ready(0)
    d.write(PFN_BUF, struct.pack('<4I', 0x100, 0x101, 0x200, 0x201))
    d.desc(0, 0, PFN_BUF, 8).desc(0, 1, PFN_BUF + 8, 8)
    d.write(top + 4, struct.pack('<HH', 0, 1)).write(top + 2, struct.pack('<H', 2)).notify(0)
    out['device-balloon-kick-after-break-pages'] = d.bytes()

    # Issue 9 (found by tests/test_fulldevice_hostile.c, then added here): the driver sets up
    # the free page queue (index 3 under FREE_PAGE_HINT), leaves work behind a budget, then
    # drops FREE_PAGE_HINT before FEATURES_OK; vb_do_work served the queue and interrupted
    # index -1 (UINT_MAX), an index the device does not have.
    d = Dev(cfg=PROFILE_QEMU | OPT_NO_EVENT_IDX, qmax=8, x=X_FPH)
    d.status(ACK | DRIVER).features2(G_STATS | G_FPH | G_V1).zero_rings(3).setup(3, 8, *ring(3)).ready_index(3)
    d.desc(3, 0, 0x3000, 0x1000, WRITE_F | NEXT, 1).desc(3, 1, 0x5000, 0x1000, WRITE_F)
    for i in range(8):  # one chain of two, eight times: the budget runs out after four
        d.publish_role(3, 0)
    d.notify_index(3)
    d.features2(G_STATS | G_V1).do_work().do_work()
    out['device-vanished-role-do-work'] = d.bytes()
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, 'corpus')
    corpora = {'device': device_corpus(), 'stats': stats_corpus(), 'qmp': qmp_corpus()}
    for name, files in corpora.items():
        write_dir(os.path.join(outdir, name), files)
        print('%s: %d files' % (name, len(files)))
    regdir = os.path.join(os.path.dirname(os.path.abspath(outdir)), 'regressions')
    os.makedirs(regdir, exist_ok=True)
    for name, data in sorted(regressions().items()):
        with open(os.path.join(regdir, name), 'wb') as f:
            f.write(data)
    print('regressions: %d readable files' % len(regressions()))


if __name__ == '__main__':
    main()
