/* vballoon.h - v0.2.0 - virtio-balloon device with QEMU-exact guest memory statistics
   public domain (Unlicense) - no warranty implied; use at your own risk - see end of file

   A single-header, allocation-free C99 model of a virtio-balloon device whose guest memory
   statistics behave exactly as QEMU documents them (QEMU's docs/virtio-balloon-stats.txt) or,
   per device, exactly as current QEMU behaves. It owns the split virtqueues (hardened against a
   hostile guest), the stats protocol, the polling timer logic, the JSON of `guest-stats`, the
   QOM-style properties and a small QMP layer. Everything outside the device model (guest memory,
   clocks, timers, interrupts, logging) is reached through host callbacks.

   QUICK START
   ===========
   In exactly one C or C++ file define VBALLOON_IMPLEMENTATION before the include; everywhere
   else just #include "vballoon.h". This block compiles as C99 and C++ (`make test` checks it):

       #define VBALLOON_IMPLEMENTATION
       #include "vballoon.h"

       static vb_device dev;

       // Your VMM's side: my_read/my_write copy guest memory, my_now_ms is the VM clock...
       int balloon_create(void *my_vm)
       {
           static vb_host host; // zero: every optional callback absent
           vb_config cfg = vb_config_default(); // doc profile, 16 keys, queues of 128
           host.read = my_read;                 // required: guest memory, ring interrupt,
           host.write = my_write;               // config interrupt
           host.notify_queue = my_notify_queue;
           host.notify_config = my_notify_config;
           host.now_ms = my_now_ms;             // for polling: the VM clock and a one-shot
           host.timer_arm = my_timer_arm;       // timer that calls vb_timer_expired(&dev)
           cfg.poll_interval_s = 2;             // guest-stats-polling-interval=2
           // my_vm comes back as the first argument (`user`) of every callback
           return vb_init(&dev, &cfg, &host, my_vm) == VB_OK ? 0 : -1;
       }

       // Your transport forwards the guest's accesses: vb_set_driver_features, vb_set_status,
       // vb_queue_setup, vb_queue_set_ready, vb_queue_notify, vb_config_read/_write (or let
       // VB_WITH_MMIO's vb_mmio_read/_write do it). Once per turn of your event loop:
       void balloon_loop_turn(void)
       {
           if (vb_more_work(&dev)) vb_do_work(&dev); // inflate/deflate left over by a budget
       }

       // Management:
       size_t balloon_stats_json(char *buf, size_t cap) // snprintf-style
       {
           return vb_render_guest_stats(&dev, buf, cap, 0);
       }

   Feature bits are numbers (VB_F_*: test with (features >> VB_F_STATS_VQ) & 1), status and
   option values are masks (VB_S_*, VB_OPT_*). A guest brings the device up as virtio says:
   status ACKNOWLEDGE | DRIVER, vb_set_driver_features, FEATURES_OK (read vb_status back: the
   device clears it if the features were refused), the three queues set up and ready, then
   DRIVER_OK. Errors of management calls come as a vb_error: vb_error_text() writes its text.
   examples/minimal.c is all of this, with a scripted guest, in one short file.

   HOST CALLBACKS (vb_host)
   ========================
   One table of function pointers, usually `static const`, shared by any number of devices; each
   device has its own `user` pointer that is passed back as the first argument. The device calls
   them only from inside a vb_* call made by the host, on the caller's thread. NULL marks an
   optional one.

   Re-entrancy: a callback runs in the middle of a device step, so it must not change the same
   device; record what it has to do and do it after the vb_* call returns (an interrupt, a timer
   that is already due: fire it from the event loop, not from inside timer_arm). The device
   enforces it: while one of its callbacks runs (vb_in_callback(dev) is 1), every call that
   would change it is refused before it does anything: vb_result functions return VB_ERR_STATE
   (vb_set_poll_interval and vb_prop_set_int with the GenericError "device busy: called from
   inside one of its callbacks"), vb_queue_notify and vb_do_work return vb_more_work(dev), void
   functions do nothing (vb_set_status, vb_set_driver_features, vb_reset, vb_machine_reset,
   vb_break, vb_config_write, vb_timer_expired, vb_set_target_pages, vb_set_ram_size,
   vb_memory_changed, vb_destroy), and the refusal is logged (VB_LOG_REENTERED, WARN; not from inside log itself);
   vb_mmio_write counts an ignored access and vb_mmio_reset does nothing; vb_qmp_execute answers
   a change (balloon, qom-set) with that GenericError and reads as usual. Functions that take a
   `const vb_device *` (vb_status, vb_stat, vb_queue_state, vb_render_guest_stats, vb_prop_get,
   vb_snapshot_save, vb_qmp_event_balloon_change...) and vb_mmio_read, vb_mmio_interrupt may be
   called: they see the device as it is at that point of its step (e.g. a buffer popped and not
   yet returned; save a snapshot between calls, not from a callback). vb_init must not be called
   on a device from inside its callbacks, nor vb_qmp_execute with it (a qom-set or balloon would
   answer success and change nothing). Other devices are independent: a callback may use them.

     read(user, gpa, dst, len)      Copy `len` bytes of guest-physical memory at `gpa` into `dst`.
                                    Return 0 on success, non-zero if any byte is not guest RAM the
                                    device may access. A failure is never fatal to the host: the
                                    access is a guest error and the device marks itself broken.
                                    Required, unless map is given. Every ring field is read
                                    exactly once per decision, so a racing vCPU cannot make the
                                    device see two values.
                                    1 <= len and gpa + len <= UINT64_MAX, always: the device never
                                    touches the last byte of the address space (2^64 - 1), so the
                                    host may compute gpa + len (a buffer or table that would include
                                    it breaks the device, a ring is refused by vb_queue_setup).
     write(user, gpa, src, len)     The same for writes (used ring only), with the same bounds.
                                    Required, unless map is given.
     now_ms(user)                   The VM clock in milliseconds, monotonic. To match QEMU it
                                    should stop while the VM is paused (no polls while stopped).
                                    Required if polling is used.
     timer_arm(user, deadline_ms)   One-shot timer: call vb_timer_expired(dev) once now_ms() has
                                    reached `deadline_ms`. Replaces any earlier deadline. Optional:
                                    a host may instead poll vb_next_deadline().
     timer_cancel(user)             Forget the deadline. Optional. A late vb_timer_expired after a
                                    cancel or before the deadline is harmless (the device checks).
     wall_s(user)                   Host wall-clock Unix seconds, for `last-update`. Optional
                                    (without it last-update stays 0).
     notify_queue(user, queue)      Inject the used-buffer interrupt of a queue. The device has
                                    already applied EVENT_IDX / NO_INTERRUPT suppression. Required.
     notify_config(user)            Inject the configuration-change interrupt. Required.
     pages(user, kind, gpa, len)    A guest-physical range of whole 4 KiB pages, `kind` a
                                    vb_range_kind: inflated (0) or deflated (1), contiguous
                                    PFNs coalesced; reported free (2, REPORTING) or hinted free
                                    (3, FREE_PAGE_HINT) as the guest sent it. The device has
                                    checked alignment and overflow, not that it is RAM: the host
                                    clamps it to the RAM it gave the guest (a range may lie
                                    outside or cross a region's end). Optional.
     actual_changed(user, actual)   The driver wrote a new `actual` (pages in the balloon).
                                    Optional (QMP's BALLOON_CHANGE event hangs here).
     log(user, level, item, msg)    Diagnostics: a numeric item (VB_LOG_*) and a static message.
                                    Optional; without it the library is silent.
     stats_stale(user, stale)       The stats became stale (1) or fresh again (0): see
                                    vb_telemetry. Optional (QMP's stale event hangs here);
                                    never called in a VB_NO_TELEMETRY build.
     map(user, gpa, len, write)     The direct path to guest RAM. Optional: a host pointer to the
                                    `len` bytes at `gpa` if they are RAM contiguous in the host
                                    (and writable, if `write`), else NULL, and the device uses
                                    read/write for them (which may then be NULL: an access map
                                    refuses is a guest error). A queue's rings are mapped when it
                                    becomes ready, and the pointers kept until it stops, the
                                    device resets or the host calls vb_memory_changed(); a
                                    buffer (stats, PFNs, an indirect table) is mapped each
                                    time it is read and the pointer dropped at once (a ring map
                                    refused goes through read/write). Every guest field is still
                                    loaded once per decision (volatile loads), and only the
                                    used ring is written. Same bounds as read. Worth it: a
                                    stats round costs a third fewer instructions (README).

   THE STATS PROTOCOL (as QEMU implements it)
   ==========================================
   The driver keeps one buffer in the stats queue (index 2). The device holds it. A poll returns
   it to the driver (used length 0, interrupt); the driver refills it with 10-byte records
   (u16 tag, u64 value; little-endian with VERSION_1, guest-endian for a legacy guest) and
   queues it again; the device parses it and holds it again.

     event                     what the device does
     guest kick on statsq      pop one buffer; if one was already held, return the old one
                               (len 0 + interrupt); hold the new one; reset all 16 stats to
                               unset; parse; last-update = wall clock. Then, kick with or
                               without a buffer, re-arm: deadline = now + interval.
     timer expires             nothing held, STATS_VQ not negotiated, the stats queue stopped or
                               the device broken: re-arm only. Otherwise return the held buffer
                               (len 0 + interrupt) and do NOT re-arm: the guest's answer
                               re-arms (a silent guest stops polling).
     interval set to v         v == current: nothing. v == 0: stop the timer, keep the stats.
                               From 0: poll at once (deadline = now). Else deadline = now + v.
     virtio reset              forget (un-pop) the held buffer; stats, timer, interval stay.
                               Stopping the stats queue un-pops it too.
     machine reset             virtio reset, stats unset, last-update 0, actual 0; an S3
                               wake-up (vb_machine_reset(dev, 1)) changes nothing at all.
     DRIVER_OK, nothing held   re-read the one buffer a migration source had popped (rewind).
     snapshot load             re-arm (now + interval) and the rewind above.

   Stats buffers are parsed up to VB_STATS_MAX_BYTES; bytes past it are not read. A stats
   notification costs one chain of at most queue-size descriptors; an inflate/deflate one at
   most about two queues' worth of descriptors (vb_more_work() then says buffers are left:
   call vb_do_work()). Queues hold at most 1024 entries. Nothing the guest writes can make the
   device loop or allocate.

   HOSTILE GUESTS
   ==============
   Every address, length, index and descriptor comes through read()/write() and is validated:
   head or next out of range, loops (a chain longer than the queue), nested or misplaced indirect
   tables, indirect table length not a non-zero multiple of 16 or longer than the queue,
   zero-length descriptors, address+length overflow, a readable descriptor after a writable one,
   an avail index that runs more than the queue size ahead, more buffers in flight than the queue
   holds, memory the host refuses. Any of them marks the device broken: DEVICE_NEEDS_RESET (0x40)
   appears in the status (VERSION_1 only) and, once DRIVER_OK is set, a config interrupt is sent,
   as in QEMU; the device then ignores notifications and touches no guest memory until a reset.
   An indirect table may only be the head of a chain (as in QEMU and Linux; the spec also allows
   it after chained descriptors, which this device refuses as a ring error).

   PROFILES
   ========
   VB_PROFILE_DOC (default) follows the 2013 document: an unset stat is -1, `guest-stats` fails
   with "guest hasn't updated any stats yet" until the guest first reported, and the document's
   `stats-polling-interval` is accepted as an alias. VB_PROFILE_QEMU is current QEMU byte for
   byte: unset is 18446744073709551615, `guest-stats` never fails, the alias is an unknown
   property. vb_config.stat_keys picks the key set: 16 (QEMU >= 9.2, default), 10 (QEMU 3.0 - 9.1,
   e.g. 7.2), 8, 7 or 6 (the document's example); keys are in QEMU's QDict hash order.

   COMPILE-TIME OPTIONS (define before including the implementation)
   ====================
     VB_STATIC              make every function static (private to one translation unit)
     VB_API                 decoration of public functions (default extern)
     VB_CONFIG_FILE         a header included first, to set options for every file at once
     VB_NO_QMP              compile out the QMP layer (JSON reader, command dispatcher)
     VB_NO_METRICS          compile out the Prometheus / OpenMetrics renderer
     VB_NO_PACKED           compile out the packed virtqueue (vb_init refuses VB_OPT_RING_PACKED)
     VB_NO_SNAPSHOT         compile out vb_snapshot_save and vb_snapshot_load
     VB_NO_FREE_PAGE_HINT   compile out free page hinting (vb_hint_*; vb_init refuses
                            VB_OPT_FREE_PAGE_HINT, QMP has no x-*balloon-free-page-hint)
     VB_NO_REPORTING        compile out free page reporting (vb_init refuses VB_OPT_REPORTING)
     VB_NO_PROPS            compile out the QOM-style properties (vb_prop_*); needs VB_NO_QMP
     VB_NO_TELEMETRY        compile out the stats' freshness telemetry (vb_get_telemetry,
                            vb_stats_age_ms, stats_stale never called, no timer after a poll
                            but the answer's); needs VB_NO_METRICS and VB_NO_PROPS (which
                            render it) and VB_NO_QMP
     VB_NO_GUEST_BIG_ENDIAN compile out legacy big-endian guests (vb_init refuses
                            VB_OPT_GUEST_BIG_ENDIAN; legacy little-endian guests still work)
     VB_WITH_MMIO           compile in the virtio-mmio transport (vb_mmio_read/vb_mmio_write
                            turn a VMM's MMIO exits into device calls and interrupt bits)
     VB_NO_STDLIB           freestanding: include no libc header and call no libc function
     VB_MEMCPY, VB_MEMSET   libc replacements (default memcpy/memset, or byte loops with
                            VB_NO_STDLIB); define both or neither
     VB_FENCE()             full memory barrier between ring accesses (default: GCC/Clang's
                            __atomic_thread_fence or C11's atomic_thread_fence; any other
                            compiler must define it)
     VB_STATS_MAX_BYTES     bytes of a stats buffer that are parsed (default 2560, 256 records)
     VB_PFN_MAX_PER_BUFFER  PFNs taken from one inflate/deflate buffer (default 256, as Linux
                            sends; they are gathered on the stack, 4 bytes each)
     VB_RANGES_MAX_PER_BUFFER  ranges taken from one reporting or free page buffer (default 32,
                            Linux's most; gathered on the stack, 12 bytes each)

   POINTERS AND NULL
   =================
   The object a function works on is required and is never checked: `dev` (vb_device), `s`
   (vb_qmp; vb_qmp_reply excepted), `m` (vb_mmio), `cmd` (vb_qmp_command); NULL there is
   undefined behaviour, as for memcpy. Only vb_init checks: a NULL `dev` or `host` is
   VB_ERR_ARG. Every other pointer parameter says at its declaration what NULL means; the rules:
     - input bytes with a length (`buf`, `in`, `name` with `len`): NULL only when the length is
       0; vb_snapshot_load takes any NULL (VB_ERR_FORMAT);
     - snprintf-style output (`buf`, `cap`): NULL writes nothing, whatever `cap`, and the full
       length is still returned (a way to measure); vb_snapshot_save the same;
     - an optional result (`value`, `out_len`, `err`): NULL = not wanted;
     - NUL-terminated names the caller passes (`name` of vb_qmp_command_is, vb_qmp_arg_int):
       required; strings a host configures (vb_config.type_name, vb_qmp.path, .alt_path,
       .package): NULL allowed, each with its meaning;
     - `user` pointers are passed back as they are, NULL included.

   THREAD SAFETY
   =============
   A device is a plain struct with no hidden state: use one device from one thread at a time.
   Different devices are independent. The library has no global or static mutable data.

   REVISION HISTORY
   ================
   0.3.0 (unreleased)
                    QMP answers what clients send on connect: query-version, query-commands
                    (with the host's commands, vb_qmp.host_commands), the balloon's QOM
                    properties as QEMU 7.2 lists them and its "virtio-backend" child path;
                    vb_qmp_reply_status and vb_qmp_event for a host's query-status, stop, cont
                    and quit; VB_QMP_REPLY_MAX is 4096. The rest of the device: FREE_PAGE_HINT,
                    PAGE_POISON, REPORTING (VB_OPT_*), queues numbered by negotiated features
                    (vb_queue_index/_role/_count), config space up to 16 bytes, pages() takes a
                    vb_range_kind, vb_hint_*, snapshot format 2 (224 bytes; format 1 loads).
                    Freshness: vb_telemetry (missed intervals, stale after vb_config.stale_after,
                    the stats_stale callback appended to vb_host, answer latency),
                    vb_stats_age_ms, vb_poll_deadline (vb_next_deadline now also ends the
                    interval after a poll); vb_render_metrics (Prometheus / OpenMetrics); QMP's
                    x-guest-stats-telemetry property and vb_qmp_event_stats_stale (a downstream
                    event name, VB_QMP_VENDOR). vb_qmp_execute_command runs a command the host
                    parsed (vb_qmp_parse) without parsing it again.
   0.2.0 (2026-12)  First contact. Transport API (vb_queue_ready, vb_queue_state, vb_break) and
                    one device-level "more work" (vb_more_work, vb_do_work: vb_queue_notify
                    returns it; vb_mmio.renotify is gone, vb_mmio's public fields come first);
                    vb_config_default, vb_ram_size; QMP commands in one pass, host commands
                    through vb_qmp_parse/vb_qmp_reply, VB_QMP_REPLY_MAX/_BOUND, and
                    vb_qmp_event_balloon_change takes the device; RAM size 0 answers
                    DeviceNotActive; VB_ASSERT removed; the license text at the end.
   0.1.0 (2026-11)  First release: hardened split virtqueues, the stats protocol in QEMU's doc
                    and qemu profiles, rendering, properties, snapshot, QMP, virtio-mmio.

   See README.md for the full guide, the tests and the numbers.
*/
#ifndef VBALLOON_H
#define VBALLOON_H

#ifdef VB_CONFIG_FILE
#include VB_CONFIG_FILE
#endif

#if defined(VB_NO_PROPS) && !defined(VB_NO_QMP)
#error "vballoon.h: VB_NO_PROPS needs VB_NO_QMP (QMP's qom-get, qom-set and qom-list are the properties)"
#endif
#if defined(VB_NO_TELEMETRY) && (!defined(VB_NO_METRICS) || !defined(VB_NO_PROPS))
#error "vballoon.h: VB_NO_TELEMETRY needs VB_NO_METRICS and VB_NO_PROPS, and so VB_NO_QMP (they render the telemetry)"
#endif

#include <stddef.h>
#include <stdint.h>

#define VB_VERSION_MAJOR 0
#define VB_VERSION_MINOR 2
#define VB_VERSION_PATCH 0
#define VB_VERSION_STRING "0.2.0"

#ifndef VB_API
#if defined(VB_STATIC) && (defined(__GNUC__) || defined(__clang__))
#define VB_API static __attribute__((unused)) /* a user need not call every function */
#elif defined(VB_STATIC)
#define VB_API static
#else
#define VB_API extern
#endif
#endif

/* Work bounds (see COMPILE-TIME OPTIONS); visible so that hosts and tests can size buffers. */
#ifndef VB_STATS_MAX_BYTES
#define VB_STATS_MAX_BYTES 2560 /* 256 records */
#endif
#ifndef VB_PFN_MAX_PER_BUFFER
#define VB_PFN_MAX_PER_BUFFER 256 /* Linux sends at most 256 (VIRTIO_BALLOON_ARRAY_PFNS_MAX) */
#endif
#ifndef VB_RANGES_MAX_PER_BUFFER
#define VB_RANGES_MAX_PER_BUFFER 32 /* Linux reports at most 32 ranges a buffer, hints 1 */
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- virtio constants ------------------------------------------------------------------- */

enum {
    VB_DEVICE_ID = 5,
    VB_QUEUE_INFLATE = 0,
    VB_QUEUE_DEFLATE = 1,
    VB_QUEUE_STATS = 2,
    VB_QUEUE_FREE_PAGE = 3, /* with FREE_PAGE_HINT; 3 and 4 are the spec's numbers (roles): */
    VB_QUEUE_REPORTING = 4, /* the index a queue has is vb_queue_index(dev, role) */
    VB_QUEUE_COUNT = 3,     /* queues of a device without FREE_PAGE_HINT and REPORTING */
    VB_QUEUE_MAX = 5,       /* queues of a device with every feature */
    VB_QUEUE_SIZE_DEFAULT = 128,
    VB_QUEUE_SIZE_MAX = 1024, /* QEMU's VIRTQUEUE_MAX_SIZE; bounds the work per notification */
    VB_REPORTING_QUEUE_MIN = 32, /* Linux refuses a smaller reporting queue (its capacity) */
    VB_CONFIG_SIZE = 8, /* num_pages, actual: both little-endian u32, even for legacy guests */
    VB_CONFIG_SIZE_MAX = 16, /* + free_page_hint_cmd_id, poison_val (vb_config_size) */
    VB_PAGE_SHIFT = 12
};

/* Feature bit numbers. */
#define VB_F_MUST_TELL_HOST 0
#define VB_F_STATS_VQ 1
#define VB_F_DEFLATE_ON_OOM 2
#define VB_F_FREE_PAGE_HINT 3
#define VB_F_PAGE_POISON 4
#define VB_F_REPORTING 5 /* VIRTIO_BALLOON_F_FREE_PAGE_REPORTING in the spec */
#define VB_F_RING_INDIRECT_DESC 28
#define VB_F_RING_EVENT_IDX 29
#define VB_F_VERSION_1 32
#define VB_F_RING_PACKED 34 /* packed virtqueues (VERSION_1 only), offered with VB_OPT_RING_PACKED */

/* Device status bits. */
#define VB_S_ACKNOWLEDGE 0x01
#define VB_S_DRIVER 0x02
#define VB_S_DRIVER_OK 0x04
#define VB_S_FEATURES_OK 0x08
#define VB_S_NEEDS_RESET 0x40
#define VB_S_FAILED 0x80

/* Stat tags (index = tag). Names: vb_stat_name(). */
typedef enum vb_stat_tag {
    VB_STAT_SWAP_IN = 0,
    VB_STAT_SWAP_OUT = 1,
    VB_STAT_MAJFLT = 2,
    VB_STAT_MINFLT = 3,
    VB_STAT_MEMFREE = 4,
    VB_STAT_MEMTOT = 5,
    VB_STAT_AVAIL = 6,
    VB_STAT_CACHES = 7,
    VB_STAT_HTLB_PGALLOC = 8,
    VB_STAT_HTLB_PGFAIL = 9,
    VB_STAT_OOM_KILL = 10,
    VB_STAT_ALLOC_STALL = 11,
    VB_STAT_ASYNC_SCAN = 12,
    VB_STAT_DIRECT_SCAN = 13,
    VB_STAT_ASYNC_RECLAIM = 14,
    VB_STAT_DIRECT_RECLAIM = 15,
    VB_STAT_COUNT = 16
} vb_stat_tag;

#define VB_STAT_UNSET UINT64_MAX

/* ---- results and errors ----------------------------------------------------------------- */

typedef enum vb_result {
    VB_OK = 0,
    VB_ERR_ARG = -1,       /* invalid argument */
    VB_ERR_NOT_FOUND = -2, /* no such property or path */
    VB_ERR_READ_ONLY = -3, /* property is not writable */
    VB_ERR_TYPE = -4,      /* value has the wrong type */
    VB_ERR_RANGE = -5,     /* value out of range */
    VB_ERR_NO_DATA = -6,   /* doc profile: the guest has not reported stats yet */
    VB_ERR_FORMAT = -7,    /* malformed input (snapshot blob, JSON) */
    VB_ERR_STATE = -8      /* not possible in the device's current state */
} vb_result;

/* A management error with QEMU's exact wording: the text is part[0] arg[0] part[1] arg[1]
   part[2] (NULL parts and args are empty). Arguments point into the caller's input and are not
   NUL-terminated. `cls` is the QMP error class ("GenericError", "DeviceNotFound", ...). */
typedef struct vb_error {
    const char *cls;
    const char *part[3];
    const char *arg[2];
    size_t arg_len[2];
} vb_error;

/* ---- host callbacks --------------------------------------------------------------------- */

typedef enum vb_log_level { VB_LOG_ERROR = 1, VB_LOG_WARN = 2, VB_LOG_INFO = 3 } vb_log_level;

/* Every diagnostic the library can emit: X(id, level, message). Ring errors use QEMU's words. */
#define VB_LOG_ITEMS(X)                                                                   \
    X(QUEUE_OVERRUN, ERROR, "Virtqueue size exceeded")                                   \
    X(AVAIL_RUNAWAY, ERROR, "Guest moved avail index beyond the queue size")             \
    X(HEAD_RANGE, ERROR, "Guest says index is available that is out of range")           \
    X(NEXT_RANGE, ERROR, "Desc next is out of range")                                    \
    X(LOOP, ERROR, "Looped descriptor")                                                  \
    X(ZERO_LEN, ERROR, "virtio: zero sized buffers are not allowed")                     \
    X(LEN_OVERFLOW, ERROR, "virtio: descriptor address plus length overflows")           \
    X(INDIRECT_SIZE, ERROR, "Invalid size for indirect buffer table")                    \
    X(INDIRECT_NESTED, ERROR, "Nested or chained indirect descriptor")                   \
    X(DESC_ORDER, ERROR, "Incorrect order for descriptors")                              \
    X(BAD_MEMORY, ERROR, "virtio: bogus descriptor or out of resources")                 \
    X(RING_MEMORY, ERROR, "virtio: cannot access the virtqueue rings")                   \
    X(INDIRECT_NOT_NEGOTIATED, WARN, "indirect_desc was not negotiated")                 \
    X(STATS_TRUNCATED, WARN, "stats buffer longer than VB_STATS_MAX_BYTES, rest ignored") \
    X(STATS_SECOND_BUFFER, WARN, "second stats buffer while one is held, old returned")   \
    X(PFN_TRUNCATED, WARN, "balloon buffer longer than VB_PFN_MAX_PER_BUFFER, rest ignored") \
    X(RANGES_TRUNCATED, WARN, "more ranges in a buffer than VB_RANGES_MAX_PER_BUFFER, rest ignored") \
    X(RANGE_UNALIGNED, WARN, "reported or hinted range not 4 KiB aligned, ignored")       \
    X(HINT_CMD_ID, ERROR, "received an incorrect cmd id")                                \
    X(BAD_FEATURES, WARN, "driver acknowledged features the device did not offer")       \
    X(QUEUE_NOT_READY, INFO, "notification for a queue that is not ready")                \
    X(REENTERED, WARN, "call from inside a callback of the same device refused")          \
    X(PACKED_FLAGS, ERROR, "packed ring: descriptor flags out of sequence in a chain")  \
    X(BUFFER_ID, ERROR, "packed ring: buffer id out of range")                        \
    X(ID_IN_FLIGHT, ERROR, "packed ring: buffer id already in flight")                \
    X(PACKED_WRAP, INFO, "packed ring: base without its wrap counter, the driver's first lap")

typedef enum vb_log_item {
    VB_LOG_NONE = 0,
#define VB__LOG_ENUM(id, level, msg) VB_LOG_##id,
    VB_LOG_ITEMS(VB__LOG_ENUM)
#undef VB__LOG_ENUM
    VB_LOG_ITEM_COUNT
} vb_log_item;

/* What a pages() range is (see vb_host). */
typedef enum vb_range_kind {
    VB_RANGE_INFLATE = 0,  /* the guest gives these pages to the host */
    VB_RANGE_DEFLATE = 1,  /* ... takes them back (they must be usable when the callback returns) */
    VB_RANGE_REPORTED = 2, /* free page reporting: free in the guest, the host may discard them
                              (they read as zero or as they were; the guest does not care) */
    VB_RANGE_HINTED = 3,   /* free page hinting: free under the current command id; a migration
                              may skip them, but the guest may reuse them at any time: discarding
                              them loses data a reusing guest wrote (QEMU only skips them) */
    VB_RANGE_KINDS = 4
} vb_range_kind;

typedef struct vb_host {
    int (*read)(void *user, uint64_t gpa, void *dst, size_t len);
    int (*write)(void *user, uint64_t gpa, const void *src, size_t len);
    uint64_t (*now_ms)(void *user);
    void (*timer_arm)(void *user, uint64_t deadline_ms);
    void (*timer_cancel)(void *user);
    int64_t (*wall_s)(void *user);
    void (*notify_queue)(void *user, unsigned queue);
    void (*notify_config)(void *user);
    void (*pages)(void *user, unsigned queue, uint64_t gpa, uint64_t len);
    void (*actual_changed)(void *user, uint32_t actual);
    void (*log)(void *user, vb_log_level level, vb_log_item item, const char *msg);
    void (*stats_stale)(void *user, int stale);
    void *(*map)(void *user, uint64_t gpa, uint64_t len, int write);
} vb_host;

/* ---- configuration ---------------------------------------------------------------------- */

typedef enum vb_profile { VB_PROFILE_DOC = 0, VB_PROFILE_QEMU = 1 } vb_profile;

/* vb_config.options */
#define VB_OPT_MUST_TELL_HOST 0x01   /* offer VIRTIO_BALLOON_F_MUST_TELL_HOST */
#define VB_OPT_DEFLATE_ON_OOM 0x02   /* offer VIRTIO_BALLOON_F_DEFLATE_ON_OOM */
#define VB_OPT_GUEST_BIG_ENDIAN 0x04 /* a legacy (pre-VERSION_1) guest is big-endian (refused
                                        in a VB_NO_GUEST_BIG_ENDIAN build) */
#define VB_OPT_NO_EVENT_IDX 0x08     /* do not offer VIRTIO_RING_F_EVENT_IDX */
#define VB_OPT_NO_INDIRECT 0x10      /* do not offer VIRTIO_RING_F_INDIRECT_DESC */
#define VB_OPT_FREE_PAGE_HINT 0x20   /* offer VIRTIO_BALLOON_F_FREE_PAGE_HINT (vb_hint_start;
                                        refused in a VB_NO_FREE_PAGE_HINT build) */
#define VB_OPT_PAGE_POISON 0x40      /* offer VIRTIO_BALLOON_F_PAGE_POISON (config poison_val) */
#define VB_OPT_REPORTING 0x80        /* offer VIRTIO_BALLOON_F_REPORTING (queue size >= 32;
                                        refused in a VB_NO_REPORTING build) */
/* Queue numbering (see vb_queue_index): by default as Linux numbers the queues, over the
   features the driver accepted. These number them over the features offered (QEMU, crosvm,
   Firecracker) or at the spec's fixed numbers 0-4 (what older peers did; no Linux driver works
   with it unless it accepts every queue feature). At most one of the two. */
#define VB_OPT_QUEUES_OFFERED 0x100
#define VB_OPT_QUEUES_FIXED 0x200
/* Offer VIRTIO_F_RING_PACKED (with VERSION_1): the driver may lay each queue out as a packed
   ring (vb_queue_setup). Off by default, as QEMU's packed=off; refused by vb_init in a
   VB_NO_PACKED build. */
#define VB_OPT_RING_PACKED 0x400

/* Zero means default for every field: start from vb_config_default() (valid C and C++) and
   change what you need, or pass NULL to vb_init for all defaults. */
typedef struct vb_config {
    vb_profile profile;    /* VB_PROFILE_DOC (default) or VB_PROFILE_QEMU */
    unsigned stat_keys;    /* keys in guest-stats: 16 (default), 10, 8, 7 or 6 */
    unsigned queue_size;   /* maximum queue size: power of two <= 1024, default 128 */
    unsigned options;      /* VB_OPT_* */
    uint32_t poll_interval_s; /* initial guest-stats-polling-interval, like -device ...=N */
    uint64_t ram_size;     /* guest RAM in bytes (query-balloon, balloon target clamp); 0 =
                              unknown: both commands fail as QEMU's do without a balloon */
    const char *type_name; /* QOM type in error messages, default "virtio-balloon-pci" */
    unsigned stale_after;  /* polling intervals in a row without stats before the stats count
                              as stale (vb_telemetry): 0 = 3; unused without telemetry */
} vb_config;

/* Every field zero: the doc profile, 16 keys, queues of 128, no options, no polling. */
VB_API vb_config vb_config_default(void);

/* ---- device state (caller-allocated) ----------------------------------------------------- */

/* One virtqueue as the device sees it. Read-only for hosts, through vb_queue_state(). A packed
   queue (VB_F_RING_PACKED) has its descriptor ring at `desc`, the driver's event suppression
   area at `avail` and the device's at `used`; its positions (last_avail, used_idx,
   signalled_used) are a slot index in bits 0-14 and bit 15 set on the laps whose wrap counter
   is 0, so that zero is a fresh ring (vb_queue_base gives the vhost-user encoding). */
typedef struct vb_queue {
    uint64_t desc, avail, used; /* guest-physical ring addresses */
    uint16_t size;              /* driver-chosen size (split: a power of two) */
    uint16_t last_avail;        /* next avail ring entry (packed: descriptor) to consume */
    uint16_t shadow_avail;      /* last avail->idx read from the guest (split) */
    uint16_t used_idx;          /* our copy of used->idx (packed: where the next used one goes) */
    uint16_t signalled_used;    /* used_idx at the last interrupt (EVENT_IDX) */
    uint8_t ready;
    uint8_t signalled_valid;
    /* The rings through the host's map callback while ready, NULL = through read/write. The
       descriptors are written only in a packed ring (used descriptors). */
    volatile unsigned char *desc_map;
    const volatile unsigned char *avail_map;
    volatile unsigned char *used_map;
} vb_queue;

typedef struct vb_counters {
    uint32_t updates;     /* stats buffers parsed */
    uint32_t polls;       /* held buffers returned by the timer */
    uint32_t duplicates;  /* second buffers returned while one was held */
    uint32_t unknown_tags; /* records with a tag >= VB_STAT_COUNT */
    uint32_t ring_errors; /* times the device was marked broken */
    uint32_t reports;     /* free page reporting buffers used */
    uint32_t hint_buffers; /* free page hinting buffers used (ids and pages) */
    uint64_t bytes[VB_RANGE_KINDS]; /* bytes given to pages(), by vb_range_kind */
    uint64_t bytes_ignored; /* reported or hinted bytes not given to pages(): unaligned, page
                               poison in use, a stale command id or no running command */
} vb_counters;

/* Free page hinting, as QEMU's states (vb_hint). The config space shows the driver STOP as 0,
   DONE as 1 and the command id otherwise. */
typedef enum vb_hint_status {
    VB_HINT_STOP = 0,      /* no command: hinted pages are ignored */
    VB_HINT_REQUESTED = 1, /* vb_hint_start: a new id shown, waiting for the guest to echo it */
    VB_HINT_START = 2,     /* the guest echoed it: its pages are hinted (pages(), kind 3) */
    VB_HINT_DONE = 3       /* the host no longer needs the pages: the guest frees them */
} vb_hint_status;

typedef struct vb_hint_info {
    uint32_t cmd_id;       /* the last id issued (0x80000001 first, never 0 or 1) */
    vb_hint_status status;
    uint32_t guest_cmd_id; /* the last id the guest sent (its STOP is 0) */
    uint32_t ranges;       /* ranges hinted under cmd_id */
    uint64_t bytes;        /* bytes hinted under cmd_id */
} vb_hint_info;

/* Freshness of the stats (vb_get_telemetry), on the VM clock. A polling interval that ends
   without a stats buffer since the one before (no answer to the poll, or no driver to ask) is
   missed; after `stale_after` missed in a row the stats are stale, until the next buffer. A
   VB_NO_TELEMETRY build keeps none of it (the type stays: vb_device holds one, all zero). */
#define VB_LATENCY_BUCKETS 8 /* answers within 1, 4, 16, 64, 256, 1024, 4096 ms, and slower */
typedef struct vb_telemetry {
    uint32_t answers;      /* stats buffers that answered a poll */
    uint32_t late;         /* ... after a missed interval (later than poll + interval) */
    uint32_t missed;       /* polling intervals missed in a row (0 after each buffer) */
    uint32_t stale_count;  /* times the stats became stale */
    uint32_t latency_last_ms, latency_min_ms, latency_max_ms; /* poll to answer */
    uint32_t latency_buckets[VB_LATENCY_BUCKETS]; /* answers by latency, not cumulative */
    uint64_t latency_sum_ms;
    uint64_t last_poll_ms;  /* when the last poll went out (0 = none) */
    uint64_t last_stats_ms; /* when the last stats buffer came (if has_stats) */
    uint16_t last_records;  /* records in the last stats buffer */
    uint16_t last_unknown;  /* ... of which with a tag the device does not know */
    uint8_t stale;          /* 1 while stale */
    uint8_t has_stats;      /* a stats buffer came: last_stats_ms and last_* are valid */
} vb_telemetry;

/* The device. Every field is private: hosts use the functions below (`make lint` checks that
   no example, test, fuzzer or benchmark reads one). */
typedef struct vb_device {
    const vb_host *host;
    void *user;
    vb_queue queue[VB_QUEUE_MAX]; /* by role (VB_QUEUE_*), not by index */
    uint64_t stat[VB_STAT_COUNT];
    int64_t last_update;  /* wall-clock seconds of the last parsed buffer, 0 = never */
    uint64_t interval_ms; /* 0 = polling disabled */
    uint64_t deadline_ms; /* valid while VB__ARMED */
    uint64_t driver_features;
    uint64_t ram_size;
    const char *type_name;
    uint32_t num_pages; /* config: target balloon size in 4 KiB pages */
    uint32_t actual;    /* config: pages the driver says it holds */
    uint32_t poison_val; /* config: the driver's page poison value (PAGE_POISON) */
    vb_hint_info hint;
    vb_counters counters;
    vb_telemetry tele;
    uint32_t stale_after;
    uint16_t held_head; /* valid while VB__HELD */
    uint16_t held_slots; /* ... and the ring slots it takes (packed) */
    uint16_t queue_size_max;
    uint16_t options;
    uint16_t flags;
    uint8_t status;
    uint8_t profile;
    uint8_t stat_keys;
    uint8_t config_generation;
    uint8_t more_work; /* bit r: the queue of role r has buffers left over by a budget */
    uint8_t role_of[VB_QUEUE_MAX], index_of[VB_QUEUE_MAX]; /* numbering (vb_queue_index) */
} vb_device;

/* ---- lifecycle -------------------------------------------------------------------------- */

VB_API const char *vb_version_string(void);
VB_API const char *vb_result_str(vb_result r);

/* Initialise `dev`. `cfg` NULL means every default (as vb_config_default()); `host` is kept
   by pointer and must outlive the device; `user` (any value, NULL too) is passed back to every
   callback. Returns VB_ERR_ARG for a NULL `dev` or `host`, a host without read/write/notify
   callbacks, or an invalid config (profile, stat_keys, queue_size, unknown options, options
   this build compiled out: VB_NO_PACKED, VB_NO_FREE_PAGE_HINT, VB_NO_REPORTING,
   VB_NO_GUEST_BIG_ENDIAN). */
VB_API vb_result vb_init(vb_device *dev, const vb_config *cfg, const vb_host *host, void *user);
/* Unrealize: cancel the timer. Like QEMU, a held buffer is not returned to the guest. */
VB_API void vb_destroy(vb_device *dev);

/* ---- transport side: what the guest does -------------------------------------------------- */

VB_API uint64_t vb_host_features(const vb_device *dev);
VB_API uint64_t vb_driver_features(const vb_device *dev);
/* The driver's feature acknowledgement. Bits not offered are dropped; FEATURES_OK is then
   refused. Ignored once FEATURES_OK is set. Taking or dropping VB_F_RING_PACKED changes the
   ring layout: every queue's setup and base is forgotten (the driver sets them up after). */
VB_API void vb_set_driver_features(vb_device *dev, uint64_t features);
VB_API uint8_t vb_status(const vb_device *dev); /* includes NEEDS_RESET while broken */
VB_API void vb_set_status(vb_device *dev, uint8_t status); /* 0 = virtio reset */
VB_API int vb_is_broken(const vb_device *dev);
/* 1 while one of the device's host callbacks runs: the device then refuses every call that
   would change it (see HOST CALLBACKS, re-entrancy). */
VB_API int vb_in_callback(const vb_device *dev);
/* Mark the device broken, as a malformed ring does (QEMU's virtio_error): a transport that finds
   the driver's setup unusable calls it. `why` (a VB_LOG_* item) goes to the log callback. The
   device then shows NEEDS_RESET, sends a config interrupt (VERSION_1, after DRIVER_OK) and
   ignores the guest until a reset. A second call changes nothing. */
VB_API void vb_break(vb_device *dev, vb_log_item why);

VB_API uint16_t vb_queue_size_max(const vb_device *dev);
/* Size and ring addresses of a queue. The queue must not be ready. Size: a power of two up to
   the maximum. Addresses: desc 16-byte, avail 2-byte, used 4-byte aligned. With
   VB_F_RING_PACKED negotiated (features first): the descriptor ring, the driver's and the
   device's event suppression areas (4 bytes, 4-byte aligned), any size up to the maximum. */
VB_API vb_result vb_queue_setup(vb_device *dev, unsigned queue, uint16_t size, uint64_t desc,
                                uint64_t avail, uint64_t used);
/* Start or stop a queue. Starting reads used->idx from the guest (a restored or reconnected
   queue continues where it was; buffers in flight = last_avail - used->idx must fit). A packed
   queue starts with nothing in flight at its base, and the device's event area set. */
VB_API vb_result vb_queue_set_ready(vb_device *dev, unsigned queue, int ready);
/* vhost-user SET/GET_VRING_BASE: the next avail index to consume (queue not ready). Packed
   (vhost-user's encoding): the next descriptor's index in bits 0-14, the driver's wrap counter
   in bit 15; a queue never given one starts at index 0, wrap 1. A front-end that gives a fresh
   ring 0 (wrap 0; UML does) is put right when the driver's first descriptor shows up: at index
   0, wrap 0 and nothing in flight, one made available for wrap 1 can only mean that (logged,
   VB_LOG_PACKED_WRAP). VB_ERR_RANGE: an index past the queue's size. */
VB_API vb_result vb_queue_set_base(vb_device *dev, unsigned queue, uint16_t last_avail);
VB_API uint16_t vb_queue_base(const vb_device *dev, unsigned queue);
/* The host's guest memory changed (regions added, removed or moved: vhost-user SET_MEM_TABLE,
   memory hotplug): every pointer map() gave is dropped and the rings of ready queues mapped
   again. Call it after the change and before the next vb_* call that may touch guest memory.
   Without a map callback it does nothing. */
VB_API void vb_memory_changed(vb_device *dev);
/* 1 if the queue is started (vb_queue_set_ready), 0 if not or if there is no such queue. */
VB_API int vb_queue_ready(const vb_device *dev, unsigned queue);
/* The queue's rings, size and indices, read-only; NULL if there is no such queue. */
VB_API const vb_queue *vb_queue_state(const vb_device *dev, unsigned queue);
/* Queue numbering. Each queue has a role (VB_QUEUE_INFLATE ... VB_QUEUE_REPORTING); indices go
   contiguously, in that order, over the roles that exist: inflate 0, deflate 1, then the stats,
   free page and reporting queues of the features the driver accepted, as Linux numbers them
   (VB_OPT_QUEUES_OFFERED and _FIXED number as other implementations do). The stats queue is 2
   unless the driver accepts FREE_PAGE_HINT or REPORTING without STATS_VQ. Every function that
   takes a `queue` takes its index, under the numbering of the last vb_set_driver_features;
   notify_queue() gives one. vb_queue_count: the queues that exist; vb_queue_index: a role's
   index, vb_queue_role: an index's role, -1 if there is no such queue. */
VB_API unsigned vb_queue_count(const vb_device *dev);
VB_API int vb_queue_index(const vb_device *dev, unsigned role);
VB_API int vb_queue_role(const vb_device *dev, unsigned queue);
/* The guest kicked a queue. Unknown queues and queues that are not ready are ignored. An
   inflate/deflate kick handles at most about two queues' worth of descriptors; buffers left
   over are "more work". Returns vb_more_work(dev). */
VB_API int vb_queue_notify(vb_device *dev, unsigned queue);
/* Non-zero while buffers are left over by a work budget. The driver will not kick for them
   (EVENT_IDX), so the host calls vb_do_work, e.g. once per turn of its event loop, without
   sleeping while this is non-zero. A reset, a stopped queue or a broken device clear it. */
VB_API int vb_more_work(const vb_device *dev);
/* One more budget for every queue with left-over buffers. Returns vb_more_work(dev). */
VB_API int vb_do_work(vb_device *dev);

/* Config space, all fields LE u32 (legacy too): num_pages at 0, actual at 4, then, sized as
   QEMU sizes it from the offered features, free_page_hint_cmd_id at 8 (FREE_PAGE_HINT or
   PAGE_POISON offered) and poison_val at 12 (PAGE_POISON offered): vb_config_size is 8, 12 or
   16. Bytes past it read as 0 and writes there are ignored. The driver may write `actual` and
   `poison_val` (kept only while PAGE_POISON is negotiated, else it stays 0; a reset clears it).
   `buf` holds `len` bytes (NULL only if `len` is 0). */
VB_API void vb_config_read(const vb_device *dev, uint32_t offset, void *buf, uint32_t len);
VB_API void vb_config_write(vb_device *dev, uint32_t offset, const void *buf, uint32_t len);
VB_API uint32_t vb_config_size(const vb_device *dev);
/* The driver's poison_val: what its free pages contain (0 with init_on_free). While it is not
   0, reported and hinted ranges are not given to pages() (discarding would lose the poison). */
VB_API uint32_t vb_poison_value(const vb_device *dev);
VB_API uint8_t vb_config_generation(const vb_device *dev);

/* ---- host side: timer, resets, target ------------------------------------------------------ */

VB_API void vb_timer_expired(vb_device *dev);
/* When vb_timer_expired has work next (VM clock, ms; the timer_arm deadline), or UINT64_MAX
   when the timer is not armed: the polling timer's deadline, or, while a poll waits for its
   answer, the end of the interval (to count it missed, vb_telemetry; nothing is sent; not in a
   VB_NO_TELEMETRY build, where the timer waits for the answer unarmed). */
VB_API uint64_t vb_next_deadline(const vb_device *dev);
/* The polling timer alone (QEMU's): UINT64_MAX while it is not armed, as after a poll until the
   guest answers ("only re-armed when the guest responds"). */
VB_API uint64_t vb_poll_deadline(const vb_device *dev);
VB_API void vb_reset(vb_device *dev);                      /* virtio device reset */
VB_API void vb_machine_reset(vb_device *dev, int wakeup);  /* system reset; wakeup = S3 resume */
/* Set the balloon target in 4 KiB pages (config num_pages) and tell the driver. */
VB_API void vb_set_target_pages(vb_device *dev, uint32_t num_pages);
VB_API uint32_t vb_target_pages(const vb_device *dev);
/* Guest RAM in bytes (query-balloon, the balloon target's clamp), e.g. once a vhost-user
   front-end's memory table is known. */
VB_API void vb_set_ram_size(vb_device *dev, uint64_t bytes);
VB_API uint64_t vb_ram_size(const vb_device *dev);
VB_API uint32_t vb_actual_pages(const vb_device *dev);

/* ---- host side: free page hinting (FREE_PAGE_HINT; compile out with VB_NO_FREE_PAGE_HINT) ---- */
#ifndef VB_NO_FREE_PAGE_HINT

/* What a migrating VMM calls, as QEMU's precopy notifier does: vb_hint_start after a sync of its
   dirty bitmap, while the VM runs (the guest then echoes the new id and hints free pages until
   it runs out: pages(), kind VB_RANGE_HINTED, that the pass may skip); vb_hint_stop before the
   next sync; vb_hint_done when the migration ends, fails or is cancelled, and before the device
   state is saved (the guest then frees the pages it held). Each change the driver can see sends
   a config interrupt (after DRIVER_OK). vb_hint_start: VB_ERR_STATE unless the driver accepted
   FREE_PAGE_HINT and the device is healthy; the new id is the last one + 1 (never 0 or 1).
   stop and done change nothing in that state already. A virtio reset stops, the ids go on. The
   config space shows the id during START too (QEMU shows 0 there, so that any other config
   interrupt, e.g. a new balloon target, makes Linux read STOP and end the round early). */
VB_API vb_result vb_hint_start(vb_device *dev);
VB_API void vb_hint_stop(vb_device *dev);
VB_API void vb_hint_done(vb_device *dev);
VB_API const vb_hint_info *vb_hint(const vb_device *dev);
#endif /* VB_NO_FREE_PAGE_HINT */

/* ---- stats --------------------------------------------------------------------------------- */

/* QOM name of a tag ("stat-swap-in" ...), NULL for tag >= VB_STAT_COUNT. */
VB_API const char *vb_stat_name(unsigned tag);
/* The last value of a stat; returns 0 and sets VB_STAT_UNSET if the guest did not send it.
   `value` may be NULL (only the answer is wanted). */
VB_API int vb_stat(const vb_device *dev, unsigned tag, uint64_t *value);
VB_API int64_t vb_last_update(const vb_device *dev);
VB_API const vb_counters *vb_get_counters(const vb_device *dev);
#ifndef VB_NO_TELEMETRY
VB_API const vb_telemetry *vb_get_telemetry(const vb_device *dev);
/* VM-clock ms since the last stats buffer; UINT64_MAX if none came since the machine reset (or
   vb_init, or a snapshot load). Calls now_ms. */
VB_API uint64_t vb_stats_age_ms(const vb_device *dev);
#endif

/* Polling interval. Seconds (QOM semantics and errors; `err` may be NULL) or milliseconds (C
   API only). */
VB_API vb_result vb_set_poll_interval(vb_device *dev, int64_t seconds, vb_error *err);
VB_API vb_result vb_set_poll_interval_ms(vb_device *dev, uint64_t ms);
VB_API int64_t vb_poll_interval(const vb_device *dev); /* seconds, rounded up */
VB_API uint64_t vb_poll_interval_ms(const vb_device *dev);

/* ---- rendering ---------------------------------------------------------------------------- */

#define VB_JSON_PRETTY 0x1 /* HMP-style: newline + 4 spaces per level */

/* The `guest-stats` object in the device's profile. snprintf-style: writes at most cap-1
   characters and a NUL (if cap > 0) and returns the full length; output was cut iff the return
   value >= cap (`buf` NULL: nothing written). Never fails, never allocates. */
VB_API size_t vb_render_guest_stats(const vb_device *dev, char *buf, size_t cap, unsigned flags);
/* The error's text, snprintf-style (`buf` NULL: nothing written). `err` NULL: the empty text. */
VB_API size_t vb_error_text(const vb_error *err, char *buf, size_t cap);

/* ---- rendering: Prometheus / OpenMetrics (compile out with VB_NO_METRICS) ------------------ */
#ifndef VB_NO_METRICS
#define VB_METRICS_OPENMETRICS 0x1 /* OpenMetrics 1.0 ("# EOF", counters' family without _total) */

typedef struct vb_label {
    const char *name;  /* [a-zA-Z_][a-zA-Z0-9_]*, not starting "__", not "kind" or "le" (used inside) */
    const char *value; /* UTF-8 (a malformed sequence is written as U+FFFD), escaped here;
                          "" is no label, as Prometheus stores it */
} vb_label;

/* One device of a scrape with the labels that tell it apart from the others, e.g.
   {"domain", "vm1"}: no two devices of one call may have the same label set. */
typedef struct vb_metrics_device {
    const vb_device *dev;
    const vb_label *labels; /* NULL only with nlabels 0 */
    unsigned nlabels;
} vb_metrics_device;

/* The metrics of `ndevs` devices as one Prometheus text exposition (or OpenMetrics with
   VB_METRICS_OPENMETRICS): each family once (HELP, TYPE, one sample per device that has a value:
   stats the guest did not send are left out, not -1), snprintf-style as vb_render_guest_stats.
   Refused (nothing written, 0 returned) when a device is NULL, a label name is invalid or
   repeated, a value is NULL, or two devices have the same label set as written (empty values
   left out, malformed UTF-8 replaced): Prometheus would see one series. README lists the
   metrics. */
VB_API size_t vb_render_metrics(const vb_metrics_device *devs, unsigned ndevs, char *buf,
                                size_t cap, unsigned flags);
#endif

/* ---- control: QOM-style properties (compile out with VB_NO_PROPS, and QMP with it) ------------ */
#ifndef VB_NO_PROPS

/* Properties: "guest-stats" (read-only, type "guest statistics"), "guest-stats-polling-interval"
   (read/write, type "int"), "type" (read-only, "string"), "x-guest-stats-telemetry" (read-only,
   "guest statistics telemetry": vb_telemetry as {"stale", "missed-intervals", "stale-episodes",
   "answers", "late-answers", "last-poll-ms", "last-records", "last-unknown-tags",
   "last-stats-ms" (-1: none), "age-ms" (vb_stats_age_ms, -1: none), "latency-ms": {"last", "min",
   "max", "sum", "within-1" ... "within-4096", "slower"}}); in the doc profile also the
   document's alias "stats-polling-interval". Names are `len` bytes, not NUL-terminated (NULL
   only with `len` 0: no such property). vb_prop_get writes the value as JSON, snprintf-style
   (`buf` NULL: nothing written), and its full length to *out_len; `out_len` and `err` may be
   NULL (not wanted). */
VB_API vb_result vb_prop_get(const vb_device *dev, const char *name, size_t len, char *buf,
                             size_t cap, size_t *out_len, unsigned flags, vb_error *err);
VB_API vb_result vb_prop_set_int(vb_device *dev, const char *name, size_t len, int64_t value,
                                 vb_error *err);
/* Value type of a property as qom-list reports it, or NULL. */
VB_API const char *vb_prop_type(const vb_device *dev, const char *name, size_t len);
/* The i-th property of vb_prop_get (NULL past the end). QMP's qom-list shows these among the
   QOM object's read-only ones (see vb_qmp_execute). */
VB_API const char *vb_prop_name(const vb_device *dev, unsigned i);
#endif /* VB_NO_PROPS */

/* ---- control: snapshot (compile out with VB_NO_SNAPSHOT) --------------------------------------- */
#ifndef VB_NO_SNAPSHOT

/* The migrated device state, as QEMU migrates it: driver features, status, whether the device
   is broken or refuses the driver's features (FEATURES_OK), config space (num_pages, actual,
   poison_val), the free page hint's status and id (QEMU's subsections) and each queue (rings,
   size, next avail index, used index, ready). Local to each device, not in
   it: stats, last-update, counters, interval and timer, RAM size, config generation, the held
   stats buffer. Writes VB_SNAPSHOT_SIZE bytes if `cap` allows (`buf` may then be NULL: nothing
   written) and returns VB_SNAPSHOT_SIZE. */
#define VB_SNAPSHOT_SIZE 224
VB_API size_t vb_snapshot_save(const vb_device *dev, void *buf, size_t cap);
/* Validates the whole blob (`buf` NULL: VB_ERR_FORMAT) before changing anything; VB_ERR_FORMAT
   and no change otherwise. Restore guest RAM first. The rule (a property test checks it over
   100,000 random interleavings of host calls and guest actions, tests/test_device.c):
   - every blob vb_snapshot_save wrote loads into a device made with the same vb_config, the
     same device or a fresh one, whatever state it was in: buffers in flight (next avail index -
     used index) must fit a queue only while it runs on a healthy device, as the setters keep it
     (a stopped queue may hold any index and is checked against the guest when it starts);
   - after the load the migrated state is the blob's (saved again: the same bytes), each queue's
     caches are reset (shadow_avail = last_avail, signalled_used = used_idx, signalled_valid 0),
     the local state stays, the timer is re-armed (now + interval), every running
     inflate/deflate queue counts as more work (vb_more_work) and no stats buffer is held;
   - then the rewind: if the stats queue runs on a healthy device with DRIVER_OK and a buffer in
     flight, the device steps back one and pops it again (one more update, its stats parsed
     again). If the guest's ring says it is empty, the step back stays (QEMU's virtqueue_rewind);
     a bad ring breaks the device (a guest error, as at any pop). */
VB_API vb_result vb_snapshot_load(vb_device *dev, const void *buf, size_t len);
#endif /* VB_NO_SNAPSHOT */

/* ---- control: QMP (compile out with VB_NO_QMP) ------------------------------------------------ */
#ifndef VB_NO_QMP

#define VB_QMP_PRETTY 0x1         /* pretty-printed replies, as QEMU's -qmp ...,pretty=on */
#define VB_QMP_NO_NEGOTIATION 0x2 /* accept commands without qmp_capabilities first */

/* Bytes (NUL included) that hold every reply that echoes no client text, compact or pretty,
   with host strings (vb_config.type_name, vb_qmp.package, at most 8 vb_qmp.host_commands) of at
   most 64 bytes each; also every event (vb_qmp_event: name and data under the same limit). */
#define VB_QMP_REPLY_MAX 4096u
/* Bytes (NUL included) that hold any reply to a command of `in_len` bytes (vb_qmp_execute or
   vb_qmp_reply) for a session with `flags` (VB_QMP_*), under the same host-string limit: client
   text is echoed escaped, at most 6 bytes per input byte (a number is re-printed in at most 24
   bytes: a token that is no integer has 3 bytes or more, with its separator 4); pretty-printing
   an "id" adds a line and its indentation (at most 4 * 1024 spaces: QEMU's nesting limit) per
   bracket or comma, so a deeply nested "id" in pretty mode is the one case that needs thousands
   of bytes per input byte. A constant expression for constant arguments. */
#define VB_QMP_REPLY_BOUND(in_len, flags) \
    (VB_QMP_REPLY_MAX + (size_t)(in_len) * (((flags) & VB_QMP_PRETTY) ? 4098u : 6u))

/* One QMP session (one client). Fields may be changed after vb_qmp_init; `dev` must stay a
   valid device, the strings may be NULL (no such path; an empty package). */
typedef struct vb_qmp {
    vb_device *dev;
    const char *path;     /* QOM path, default "/machine/peripheral/balloon0" */
    const char *alt_path; /* also accepted, default the seed's "/machine/peripheral-anon/device[1]" */
    const char *package;  /* greeting "package", default "vballoon.h " VB_VERSION_STRING */
    /* The host's own commands (see vb_qmp_parse), listed by query-commands: NULL-terminated,
       default NULL (none), e.g. {"cont", "stop", "quit", "query-status", NULL}. */
    const char *const *host_commands;
    unsigned qemu_version[3]; /* greeting and query-version: major, minor, micro: default 7, 2, 0 */
    unsigned flags;           /* VB_QMP_* */
    int negotiated;           /* qmp_capabilities done */
    int recovering;           /* the stream is in input skipped after a lexical error */
} vb_qmp;

/* Bytes [at, end) of a command's text; a string's span includes its quotes. end 0: absent. */
typedef struct vb_qmp_span {
    size_t at, end;
} vb_qmp_span;

/* A well-formed command, for a host's own commands (see vb_qmp_parse). */
typedef struct vb_qmp_command {
    const char *in;     /* the text given to vb_qmp_parse */
    vb_qmp_span name;   /* the "execute" string */
    vb_qmp_span args;   /* the "arguments" object, or absent */
    vb_qmp_span id;     /* the "id" value, or absent */
    const char *bad_param; /* private: the first argument error found by vb_qmp_arg_int, */
    vb_qmp_span bad_key;   /* or by vb_qmp_args_only */
} vb_qmp_command;

/* A session on `dev` (required: a valid device for as long as the session is used). */
VB_API void vb_qmp_init(vb_qmp *s, vb_device *dev, unsigned flags);
/* The greeting {"QMP": {...}} (without a line end), snprintf-style. */
VB_API size_t vb_qmp_greeting(const vb_qmp *s, char *buf, size_t cap);
/* Execute one QMP command (one JSON value, `len` bytes) and write the reply (without a line
   end), snprintf-style. Transactional: if the reply does not fit (return value >= cap), the
   command was NOT executed; call again with a bigger buffer. VB_QMP_REPLY_MAX bytes hold every
   reply but a long "id" echo or a long path in an error; VB_QMP_REPLY_BOUND(len, s->flags) holds
   every reply. Input of only whitespace gives no reply (0).
   Commands (QEMU 7.2's replies):
     qmp_capabilities         negotiation ("enable": ["oob"] accepted)
     query-version            s->qemu_version and s->package, as the greeting
     query-commands           this list and s->host_commands, in QEMU's order (QEMU lists its
                              ~200 commands; a session lists what it answers)
     qom-list, qom-get,       the device at s->path or s->alt_path and, unless its type is
     qom-set                  virtio-balloon-device, its "<path>/virtio-backend" child (a
                              virtio-balloon-device): type, realized, hotplugged, hotpluggable,
                              deflate-on-oom, indirect_desc, event_idx (what the device offers),
                              free-page-hint, free-page-reporting, page-poison,
                              qemu-4-0-config-size (false), guest-stats-polling-interval (the only
                              writable one), guest-stats; on the proxy also virtio-backend (its
                              path); last, on both, our experimental x-guest-stats-telemetry
                              (read-only: vb_telemetry as JSON, see vb_prop_get). Of QEMU's 60 and 24 properties, the PCI transport's, memory
                              regions, links and virtio-core knobs are not listed.
     query-balloon, balloon   the balloon (DeviceNotActive while vb_ram_size is 0)
     x-balloon-free-page-hint {"action": "start" | "stop" | "done"}: vb_hint_start, _stop,
                              _done (experimental, as QMP names what is not stable; start
                              fails unless the guest accepted FREE_PAGE_HINT)
     x-query-balloon-free-page-hint
                              {"status": "stop" | "requested" | "start" | "done", "cmd-id",
                              "guest-cmd-id", "ranges", "bytes"}: vb_hint()
                              (neither in a VB_NO_FREE_PAGE_HINT build)
   Any other name is "The command X has not been found" (class CommandNotFound): the VM's run
   state (query-status, cont, stop, quit) is the host's, see vb_qmp_parse.
   The JSON is read as QEMU 7.2 reads it: an object with a repeated key (compared decoded, "a"
   and "\u0061" are one) is "JSON parse error, duplicate key", reported after that member's
   value. The "id" is echoed as QEMU writes the QObject it parsed: strings re-escaped, an
   integer token as int64, else uint64, any other number as the nearest double printed with
   glibc's "%.17g" (1.0 -> 1, 0.1 -> 0.10000000000000001, 1e400 -> inf: not JSON, as QEMU's),
   object members in QDict order. Without memory per member, both the duplicate check and that
   order walk earlier members again: a message that would walk more than 16 MiB for either
   gets a parse error of our own, "objects too big to check for duplicate keys" or "objects of
   'id' too big to order" (objects of about 1,500 short members are within). */
VB_API size_t vb_qmp_execute(vb_qmp *s, const char *in, size_t len, char *buf, size_t cap);

/* A host's own commands. vb_qmp_parse returns 1 if `len` bytes at `in` are a command that
   vb_qmp_execute would dispatch by its name (one valid JSON object, no key repeated at any
   level, with a string "execute", an object "arguments" if any, an "id" if any, and nothing
   else), and fills *cmd, whose spans
   point into `in` (keep it while using *cmd); else 0 (then vb_qmp_execute answers the error).
   It does not look at negotiation: a host that requires it checks s->negotiated (or
   VB_QMP_NO_NEGOTIATION) itself. A host that takes a command answers it with vb_qmp_reply
   instead of calling vb_qmp_execute:
       if (vb_qmp_parse(in, len, &c) && vb_qmp_command_is(&c, "quit")) {
           int ok = vb_qmp_args_only(&c, NULL, 0);
           n = vb_qmp_reply(s, &c, NULL, buf, cap);
           if (ok && n < cap) ... quit ...
       } else n = vb_qmp_execute(s, in, len, buf, cap);  */
VB_API int vb_qmp_parse(const char *in, size_t len, vb_qmp_command *cmd);
/* vb_qmp_execute for a command vb_qmp_parse accepted and the host did not take: the same reply
   and effect, without reading the text again (its spans, not what vb_qmp_arg_int or
   vb_qmp_args_only found, are what counts; `cmd->in` must still be there).
       if (vb_qmp_parse(in, len, &c)) {
           if (!my_command(&c)) n = vb_qmp_execute_command(s, &c, buf, cap);
       } else n = vb_qmp_execute(s, in, len, buf, cap);  */
VB_API size_t vb_qmp_execute_command(vb_qmp *s, const vb_qmp_command *cmd, char *buf, size_t cap);
/* 1 if the command's name (escapes decoded) is `name`. */
VB_API int vb_qmp_command_is(const vb_qmp_command *cmd, const char *name);
/* The argument `name` (keys are unique: vb_qmp_parse refuses a repeated one): 1 and *value
   (`value` may be NULL) if it is an integer token in int64 range; 0 if absent (*value
   untouched); -1 if it is anything else, and the reply becomes "Invalid parameter type for
   'NAME', expected: integer" unless an argument error was found before. As QEMU's input
   visitor, a number that QEMU reads as a double (1.0, 1e3, -0.0) or as a uint64 is no integer. */
VB_API int vb_qmp_arg_int(vb_qmp_command *cmd, const char *name, int64_t *value);
/* 1 if every argument is one of the `n` names (`names` may be NULL if n is 0); else 0, and the
   reply becomes "Parameter 'KEY' is unexpected" for the first other one, unless an argument
   error was found before. Call it after reading the arguments: QAPI checks in that order. */
VB_API int vb_qmp_args_only(vb_qmp_command *cmd, const char *const *names, size_t n);
/* The reply to a host's command, snprintf-style, its "id" echoed as vb_qmp_execute does: the
   first argument error found by vb_qmp_arg_int / vb_qmp_args_only; else, if `error` is not
   NULL, a GenericError with that text (UTF-8); else {"return": {}}. `s` gives the style
   (VB_QMP_PRETTY); NULL: compact. Changes nothing. */
VB_API size_t vb_qmp_reply(const vb_qmp *s, const vb_qmp_command *cmd, const char *error,
                           char *buf, size_t cap);
/* The reply to a host's query-status: {"return": {"status": STATUS, "singlestep": false,
   "running": ...}}, running true iff STATUS is "running" (not NULL: QEMU's RunState names,
   "running", "paused", "prelaunch", "shutdown", ...), or the argument error as vb_qmp_reply. */
VB_API size_t vb_qmp_reply_status(const vb_qmp *s, const vb_qmp_command *cmd, const char *status,
                                  char *buf, size_t cap);

/* Stream framing, as QEMU's JSON lexer and streamer cut a QMP stream into messages: the length
   of the first message in buf, or 0 if more bytes are needed. Give bytes [*skip, length) to
   vb_qmp_execute (one reply), then drop `length` bytes before the next call:
       while ((n = vb_qmp_frame(&s, in, len, &skip)) > 0) {
           ... vb_qmp_execute(&s, in + skip, n - skip, reply, cap) ...
           drop n bytes of in
       }
   A message is a JSON value (leading whitespace included) or what QEMU answers on its own: a
   bare token, a closing bracket that was not opened, a lexical error, a value over QEMU's limits
   (64 MiB of tokens, 2 Mi tokens, 1024 open brackets). After a lexical error QEMU skips input up
   to the next structural character ({ } [ ] , :) or control character other than tab: such
   input comes back as a message of its own that is all skip (*skip = length), which gets no
   reply; the session remembers the lexer's state in s->recovering. */
VB_API size_t vb_qmp_frame(vb_qmp *s, const char *buf, size_t len, size_t *skip);
/* A BALLOON_CHANGE event (compact) for the device's current `actual`, with the given host
   timestamp, snprintf-style. */
VB_API size_t vb_qmp_event_balloon_change(const vb_device *dev, int64_t seconds, int64_t micros,
                                          char *buf, size_t cap);
/* Names outside QEMU's schema follow QAPI's rule for downstream extensions, "__" + the reverse
   domain of who adds them + "_": a VMM that ships its own build defines VB_QMP_VENDOR to its
   own reverse domain before including the header. */
#ifndef VB_QMP_VENDOR
#define VB_QMP_VENDOR "org.vballoon"
#endif
#define VB_QMP_STATS_STALE_EVENT "__" VB_QMP_VENDOR "_BALLOON_STATS_STALE"
/* The stale event (compact) for the device's telemetry now, snprintf-style: {"timestamp": {...},
   "event": VB_QMP_STATS_STALE_EVENT, "data": {"stale": true | false, "missed-intervals": N,
   "last-update": the last buffer's wall-clock seconds, as guest-stats}}. Build it after the
   stats_stale callback returned (outside the callback) and rate-limit it as BALLOON_CHANGE. */
VB_API size_t vb_qmp_event_stats_stale(const vb_device *dev, int64_t seconds, int64_t micros,
                                       char *buf, size_t cap);
/* Any other event (compact), snprintf-style: {"timestamp": {...}, "event": EVENT} (EVENT not
   NULL) and, if `data` is not NULL, "data": DATA, the host's own JSON object text written as it
   is. QEMU sends STOP and RESUME (no data) before the reply to stop and cont, SHUTDOWN with
   {"guest": false, "reason": "host-qmp-quit"} before the reply to quit. */
VB_API size_t vb_qmp_event(const char *event, const char *data, int64_t seconds, int64_t micros,
                           char *buf, size_t cap);
#endif /* VB_NO_QMP */

/* ---- transport: virtio-mmio (compile in with VB_WITH_MMIO) ------------------------------------ */
#ifdef VB_WITH_MMIO
/* The virtio 1.x "modern" (Version 2) virtio-mmio register block in front of a device, so that a
   VMM which traps MMIO forwards each trapped access and nothing else:

       vb_mmio mmio;
       vb_mmio_init(&mmio, &dev, my_irq_line, my_vm);    // after vb_init(&dev, ...)
       // on an MMIO exit at base + off:
       //   value = vb_mmio_read(&mmio, off, len);   or   vb_mmio_write(&mmio, off, value, len);
       // in the vb_host callbacks of the device:
       //   notify_queue  -> vb_mmio_interrupt(&mmio, VB_MMIO_INT_VRING);
       //   notify_config -> vb_mmio_interrupt(&mmio, VB_MMIO_INT_CONFIG);

   The line is level-triggered, as QEMU's virtio-mmio: irq(user, 1) when InterruptStatus becomes
   non-zero, irq(user, 0) when an InterruptACK (or a reset) clears the last bit; irq is called
   only when the level changes (a host with an edge-triggered line pulses on 1). irq may be
   called from inside any vb_* or vb_mmio_* call, like the vb_host callbacks, and must not call
   back into the device or the transport. The window is VB_MMIO_SIZE bytes: registers below
   0x100 take aligned 32-bit accesses only, the device config space at 0x100 takes 1, 2 or 4
   bytes. Any other access (bad offset or width, a write to a read-only register, a read of a
   write-only one, queue registers while QueueSel names no queue, QueueNum or a ring address
   while the queue is ready, driver features after FEATURES_OK) is ignored, reads 0, and is
   counted in `bad_accesses` (with its offset in `last_bad_offset`); none is fatal. A
   QueueNotify may leave inflate/deflate work behind: call vb_do_work(dev) while
   vb_more_work(dev), as any transport does. A queue whose QueueReady=1 the device refuses (size not a power of two up to QueueNumMax, misaligned
   or wrapping ring) stays not ready and the device enters DEVICE_NEEDS_RESET, as the spec asks
   of a device in an error state. FEATURES_OK is refused without VIRTIO_F_VERSION_1: a
   Version 2 transport has no legacy mode. No heap, no OS: the struct is all the state, and
   the layer reaches the device only through the public API, as any transport would. */

#define VB_MMIO_SIZE 0x200u
#define VB_MMIO_MAGIC 0x74726976u       /* "virt" */
#define VB_MMIO_VENDOR_QEMU 0x554D4551u /* "QEMU", the default VendorID */

/* Register offsets (Linux's include/uapi/linux/virtio_mmio.h names, driver/device = avail/used). */
#define VB_MMIO_MAGIC_VALUE 0x000
#define VB_MMIO_VERSION 0x004
#define VB_MMIO_DEVICE_ID 0x008
#define VB_MMIO_VENDOR_ID 0x00c
#define VB_MMIO_DEVICE_FEATURES 0x010
#define VB_MMIO_DEVICE_FEATURES_SEL 0x014
#define VB_MMIO_DRIVER_FEATURES 0x020
#define VB_MMIO_DRIVER_FEATURES_SEL 0x024
#define VB_MMIO_QUEUE_SEL 0x030
#define VB_MMIO_QUEUE_NUM_MAX 0x034
#define VB_MMIO_QUEUE_NUM 0x038
#define VB_MMIO_QUEUE_READY 0x044
#define VB_MMIO_QUEUE_NOTIFY 0x050
#define VB_MMIO_INTERRUPT_STATUS 0x060
#define VB_MMIO_INTERRUPT_ACK 0x064
#define VB_MMIO_STATUS 0x070
#define VB_MMIO_QUEUE_DESC_LOW 0x080
#define VB_MMIO_QUEUE_DESC_HIGH 0x084
#define VB_MMIO_QUEUE_AVAIL_LOW 0x090
#define VB_MMIO_QUEUE_AVAIL_HIGH 0x094
#define VB_MMIO_QUEUE_USED_LOW 0x0a0
#define VB_MMIO_QUEUE_USED_HIGH 0x0a4
#define VB_MMIO_SHM_SEL 0x0ac
#define VB_MMIO_SHM_LEN_LOW 0x0b0
#define VB_MMIO_SHM_LEN_HIGH 0x0b4
#define VB_MMIO_SHM_BASE_LOW 0x0b8
#define VB_MMIO_SHM_BASE_HIGH 0x0bc
#define VB_MMIO_CONFIG_GENERATION 0x0fc
#define VB_MMIO_CONFIG 0x100

/* InterruptStatus / InterruptACK bits. */
#define VB_MMIO_INT_VRING 0x1u  /* used buffer notification */
#define VB_MMIO_INT_CONFIG 0x2u /* configuration change */

/* What the driver wrote for one queue, applied to the device at QueueReady = 1. */
typedef struct vb_mmio_queue {
    uint64_t desc, avail, used;
    uint32_t num;
} vb_mmio_queue;

/* One virtio-mmio window (caller-allocated). Public: vendor_id (may be changed after
   vb_mmio_init), bad_accesses and last_bad_offset (read-only). The rest is private. */
typedef struct vb_mmio {
    uint32_t vendor_id;       /* VendorID register */
    uint32_t bad_accesses;    /* ignored accesses since init */
    uint32_t last_bad_offset; /* offset of the last one */
    /* private */
    vb_device *dev;
    void (*irq)(void *user, int level); /* the interrupt line; NULL: no line (poll the status) */
    void *irq_user;
    uint32_t device_features_sel, driver_features_sel, queue_sel;
    uint32_t interrupt_status;
    uint64_t driver_features; /* accumulated through DriverFeaturesSel, given at FEATURES_OK */
    vb_mmio_queue queue[VB_QUEUE_MAX]; /* by index */
    int level; /* the line as last driven */
} vb_mmio;

/* Wrap an initialised device (required); the line starts low. `irq` NULL: no line (the host
   polls InterruptStatus); `user` is passed back to `irq` as it is. */
VB_API void vb_mmio_init(vb_mmio *m, vb_device *dev, void (*irq)(void *user, int level), void *user);
/* A guest load of `width` (1, 2, 4) bytes at `offset` in the window; the value, little-endian
   register semantics, zero-extended. */
VB_API uint32_t vb_mmio_read(vb_mmio *m, uint64_t offset, unsigned width);
/* A guest store of the low `width` bytes of `value` at `offset`. */
VB_API void vb_mmio_write(vb_mmio *m, uint64_t offset, uint32_t value, unsigned width);
/* Set InterruptStatus bits (VB_MMIO_INT_*) and raise the line: route the device's notify_queue
   and notify_config callbacks here. Does not call the device. */
VB_API void vb_mmio_interrupt(vb_mmio *m, uint32_t bits);
/* Transport reset, as the driver's Status = 0: vb_set_status(dev, 0), registers to their
   initial values, the line low. For a machine reset call vb_machine_reset first. */
VB_API void vb_mmio_reset(vb_mmio *m);
#endif /* VB_WITH_MMIO */

#ifdef __cplusplus
}
#endif
#endif /* VBALLOON_H */

/* ============================================================================================
   IMPLEMENTATION
   In a multi-file library everything below would be vballoon.c.
   ============================================================================================ */
#if defined(VBALLOON_IMPLEMENTATION) && !defined(VBALLOON_IMPLEMENTATION_INCLUDED)
#define VBALLOON_IMPLEMENTATION_INCLUDED

#if defined(VB_MEMCPY) != defined(VB_MEMSET)
#error "vballoon.h: define both VB_MEMCPY and VB_MEMSET, or neither"
#endif

#if VB_STATS_MAX_BYTES < 10 || VB_STATS_MAX_BYTES > 1048576
#error "vballoon.h: VB_STATS_MAX_BYTES must be in [10, 1048576]"
#endif
#if VB_PFN_MAX_PER_BUFFER < 1 || VB_PFN_MAX_PER_BUFFER > 65536
#error "vballoon.h: VB_PFN_MAX_PER_BUFFER must be in [1, 65536]"
#endif
#if VB_RANGES_MAX_PER_BUFFER < 1 || VB_RANGES_MAX_PER_BUFFER > 1024
#error "vballoon.h: VB_RANGES_MAX_PER_BUFFER must be in [1, 1024]"
#endif

#if !defined(VB_NO_STDLIB) && !defined(VB_MEMCPY)
#include <string.h>
#define VB_MEMCPY(d, s, n) memcpy((d), (s), (n))
#define VB_MEMSET(d, c, n) memset((d), (c), (n))
#endif

#ifndef VB_FENCE
#if defined(__GNUC__) || defined(__clang__)
#define VB_FENCE() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L && !defined(__STDC_NO_ATOMICS__)
#include <stdatomic.h>
#define VB_FENCE() atomic_thread_fence(memory_order_seq_cst)
#else /* a concurrent guest needs real barriers: no silent fallback */
#error "vballoon.h: define VB_FENCE() (a full memory barrier) for this compiler"
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Device flags (vb_device.flags). */
#define VB__HELD 0x01      /* a stats buffer is held (held_head) */
#define VB__BROKEN 0x02    /* ring error: nothing happens until a reset */
#define VB__ARMED 0x04     /* the poll timer is armed at deadline_ms */
#define VB__HAS_STATS 0x08 /* the guest reported at least once since the machine reset */
#define VB__BAD_FEATURES 0x10 /* the driver acked features we do not offer */
#define VB__CALLING 0x20   /* a host callback runs: calls that change the device are refused */
#define VB__LOGGING 0x40   /* ... and it is the log callback (a refusal is not logged again) */
#define VB__POLLED 0x80    /* a poll went out and no stats buffer came since */
#define VB__WATCH 0x100    /* the timer is armed only to end an interval after a poll (the
                              polling timer proper is not: the guest's answer re-arms it) */
#define VB__START 0x200    /* the timer is the first poll of polling just turned on: no
                              interval ends at it */
#define VB__GUEST_BE 0x400 /* a legacy big-endian guest (VB_OPT_GUEST_BIG_ENDIAN, no VERSION_1) */

/* Ring layout (split virtqueue) and descriptor flags. */
#define VB__DESC_F_NEXT 1u
#define VB__DESC_F_WRITE 2u
#define VB__DESC_F_INDIRECT 4u
#define VB__AVAIL_F_NO_INTERRUPT 1u
/* Packed virtqueue: a descriptor is available when AVAIL equals the driver's wrap counter and
   USED does not, used when both equal the device's; positions carry VB__LAP (vb_queue). The
   event suppression areas: u16 off_wrap, u16 flags (ENABLE, DISABLE or DESC: at off_wrap). */
#define VB__DESC_F_AVAIL 0x80u
#define VB__DESC_F_USED 0x8000u
#define VB__LAP 0x8000u
#define VB__EVENT_ENABLE 0u
#define VB__EVENT_DISABLE 1u
#define VB__EVENT_DESC 2u

/* The hot path: its small helpers inlined, and the two halves of a stats round (the poll and
   the answer) with everything they call inlined into them (GCC, clang), unless the build
   optimizes for size. */
#ifdef __OPTIMIZE_SIZE__
#define VB__INLINE static
#define VB__FLATTEN
#else
#define VB__INLINE static inline
#if defined(__GNUC__) || defined(__clang__)
#define VB__FLATTEN __attribute__((flatten))
#else
#define VB__FLATTEN
#endif
#endif
/* ... but not the paths a healthy round never takes (errors, logging, indirect tables). */
#if defined(__GNUC__) || defined(__clang__)
#define VB__COLD __attribute__((noinline, cold))
#else
#define VB__COLD
#endif

/* ---- freestanding byte helpers ------------------------------------------------------------- */

#ifdef VB_NO_STDLIB
#ifndef VB_MEMCPY
#define VB_MEMCPY(d, s, n) vb__copy((d), (s), (n))
#define VB_MEMSET(d, c, n) vb__fill((d), (c), (n))
static void vb__copy(void *dst, const void *src, size_t n)
{
    unsigned char *d = (unsigned char *)dst;
    const unsigned char *s = (const unsigned char *)src;
    while (n--) *d++ = *s++;
}
static void vb__fill(void *dst, int c, size_t n)
{
    unsigned char *d = (unsigned char *)dst;
    while (n--) *d++ = (unsigned char)c;
}
#endif
#endif

static size_t vb__strlen(const char *s)
{
    size_t n = 0;
    while (s[n]) n++;
    return n;
}

#if !defined(VB_NO_PROPS) || !defined(VB_NO_METRICS) /* names of properties, labels, commands */
static int vb__name_is(const char *name, size_t len, const char *lit)
{
    size_t i;
    for (i = 0; i < len; i++)
        if (lit[i] == 0 || lit[i] != name[i]) return 0;
    return lit[len] == 0;
}
#endif


VB__INLINE uint16_t vb__bswap16(uint16_t v) { return (uint16_t)(v << 8 | v >> 8); }
VB__INLINE uint32_t vb__bswap32(uint32_t v)
{
    return (uint32_t)vb__bswap16((uint16_t)v) << 16 | vb__bswap16((uint16_t)(v >> 16));
}

/* Guest-endian fields, from and to bytes: little-endian, swapped for a big-endian guest (the
   byte expressions become one load or store on common hosts). */
VB__INLINE uint16_t vb__ld16(const unsigned char *p, int be)
{
    uint16_t v = (uint16_t)(p[0] | p[1] << 8);
    return be ? vb__bswap16(v) : v;
}

VB__INLINE uint32_t vb__ld32(const unsigned char *p, int be)
{
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    return be ? vb__bswap32(v) : v;
}

VB__INLINE uint64_t vb__ld64(const unsigned char *p, int be)
{
    return be ? (uint64_t)vb__ld32(p, 1) << 32 | vb__ld32(p + 4, 1)
              : (uint64_t)vb__ld32(p + 4, 0) << 32 | vb__ld32(p, 0);
}

VB__INLINE void vb__st16(unsigned char *p, uint16_t v, int be)
{
    if (be) v = vb__bswap16(v);
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

VB__INLINE void vb__st32(unsigned char *p, uint32_t v, int be)
{
    if (be) v = vb__bswap32(v);
    vb__st16(p, (uint16_t)v, 0);
    vb__st16(p + 2, (uint16_t)(v >> 16), 0);
}

/* ---- management errors: QEMU's words in parts, joined by vb_error_text ------------------------ */

/* An error that is one fixed message. */
static void vb__error_msg(vb_error *e, const char *cls, const char *msg)
{
    if (!e) return;
    VB_MEMSET(e, 0, sizeof *e);
    e->cls = cls;
    e->part[0] = msg;
}

static void vb__generic_error(vb_error *e, const char *msg) { vb__error_msg(e, "GenericError", msg); }

#ifndef VB_NO_PROPS
/* QOM's "Property '<type>.<name>' <what>", with the type and the name as the arguments. */
static void vb__prop_error(vb_error *e, const char *type, const char *name, size_t len, const char *what)
{
    if (!e) return;
    vb__error_msg(e, "GenericError", "Property '");
    e->arg[0] = type;
    e->arg_len[0] = vb__strlen(type);
    e->part[1] = ".";
    e->arg[1] = name;
    e->arg_len[1] = len;
    e->part[2] = what;
}
#endif

/* ============================================================================================
   LAYER 1: THE SPLIT VIRTQUEUE (device side)
   Each guest value is read once into a local and validated before it is used.
   ============================================================================================ */

VB__INLINE int vb__has(const vb_device *d, unsigned bit)
{
    return (int)((d->driver_features >> bit) & 1u);
}

/* The driver lays its queues out as packed rings (never in a VB_NO_PACKED build: the compiler
   then drops the packed ring's code). */
#ifdef VB_NO_PACKED
#define VB__PACKED_BUILD 0
#else
#define VB__PACKED_BUILD 1
#endif
VB__INLINE int vb__packed(const vb_device *d) { return VB__PACKED_BUILD && vb__has(d, VB_F_RING_PACKED); }

/* Legacy guests use their own byte order for the rings and the stats; VERSION_1 is LE.
   A build without big-endian guests (VB_NO_GUEST_BIG_ENDIAN) refuses VB_OPT_GUEST_BIG_ENDIAN: the constant lets
   the compiler drop every byte swap of the rings and the records. */
#ifdef VB_NO_GUEST_BIG_ENDIAN
#define VB__GUEST_BE_BUILD 0
#else
#define VB__GUEST_BE_BUILD 1
#endif
VB__INLINE int vb__guest_be(const vb_device *d) { return VB__GUEST_BE_BUILD && (d->flags & VB__GUEST_BE) != 0; }

/* Every host callback runs between vb__enter and vb__leave: a vb_* call that would change the
   device, made from inside one on the same device, is refused before it does anything (see
   vb_host). One flag, no nesting: the device never calls back from a refused call but to log it. */
VB__INLINE void vb__enter(vb_device *d) { d->flags |= VB__CALLING; }
VB__INLINE void vb__leave(vb_device *d) { d->flags &= (uint16_t)~VB__CALLING; }

VB__COLD static void vb__log(vb_device *d, vb_log_item item)
{
    static const struct { unsigned char level; const char *msg; } items[] = {
        {0, ""},
#define VB__LOG_ROW(id, level, msg) {VB_LOG_##level, msg},
        VB_LOG_ITEMS(VB__LOG_ROW)
#undef VB__LOG_ROW
    };
    uint16_t outer = d->flags & (VB__CALLING | VB__LOGGING);
    if (!d->host->log || item <= VB_LOG_NONE || item >= VB_LOG_ITEM_COUNT) return;
    d->flags |= VB__CALLING | VB__LOGGING;
    d->host->log(d->user, (vb_log_level)items[item].level, item, items[item].msg);
    d->flags = (uint16_t)((d->flags & ~(VB__CALLING | VB__LOGGING)) | outer);
}

/* A call from inside a callback of this device: refused (and logged, unless from the log). */
static int vb__reentered(vb_device *d)
{
    if (!(d->flags & VB__CALLING)) return 0;
    if (!(d->flags & VB__LOGGING)) vb__log(d, VB_LOG_REENTERED);
    return 1;
}

VB_API int vb_in_callback(const vb_device *d) { return (d->flags & VB__CALLING) != 0; }

static void vb__notify_config(vb_device *d)
{
    vb__enter(d);
    d->host->notify_config(d->user);
    vb__leave(d);
}

/* virtio_error(): the device stops until reset; VERSION_1 drivers are told (NEEDS_RESET). */
VB__COLD VB_API void vb_break(vb_device *d, vb_log_item why)
{
    if (vb__reentered(d) || (d->flags & VB__BROKEN)) return;
    d->flags |= VB__BROKEN;
    d->counters.ring_errors++;
    vb__log(d, why);
    if (vb__has(d, VB_F_VERSION_1) && (d->status & VB_S_DRIVER_OK)) { /* virtio_notify_config */
        d->config_generation++;
        vb__notify_config(d);
    }
}

/* `len` bytes of guest RAM at `gpa` in the host, or NULL (no map callback, or it refused). */
static void *vb__map(vb_device *d, uint64_t gpa, uint64_t len, int write)
{
    void *p;
    if (!d->host->map || gpa > UINT64_MAX - len) return 0;
    vb__enter(d);
    p = d->host->map(d->user, gpa, len, write);
    vb__leave(d);
    return p;
}

/* Copy guest memory in or out: through read/write (a ring that could not be mapped), or a host
   with only map through it. */
static int vb__read(vb_device *d, uint64_t gpa, void *dst, size_t len)
{
    int r;
    if (!d->host->read) {
        const void *m = vb__map(d, gpa, len, 0);
        if (m) VB_MEMCPY(dst, m, len);
        return m ? 0 : -1;
    }
    if (gpa > UINT64_MAX - len) return -1;
    vb__enter(d);
    r = d->host->read(d->user, gpa, dst, len);
    vb__leave(d);
    return r ? -1 : 0;
}

/* A buffer's bytes (PFNs, a hint command id): through a mapping first, the direct path. */
static int vb__read_buffer(vb_device *d, uint64_t gpa, void *dst, size_t len)
{
    const void *m = vb__map(d, gpa, len, 0);
    if (!m) return vb__read(d, gpa, dst, len);
    VB_MEMCPY(dst, m, len);
    return 0;
}

static int vb__write(vb_device *d, uint64_t gpa, const void *src, size_t len)
{
    int r;
    if (!d->host->write) {
        void *m = vb__map(d, gpa, len, 1);
        if (m) VB_MEMCPY(m, src, len);
        return m ? 0 : -1;
    }
    if (gpa > UINT64_MAX - len) return -1;
    vb__enter(d);
    r = d->host->write(d->user, gpa, src, len);
    vb__leave(d);
    return r ? -1 : 0;
}

/* Fields of mapped rings: one volatile load or store each, so the compiler can neither read a
   guest field twice nor merge or drop an access. Ring fields are naturally aligned (the rings
   are, and vb__ring_map checks the host pointers). A little-endian host loads a field whole. */
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)
#define VB__HOST_LE (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)
#elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86) || defined(_M_ARM64))
#define VB__HOST_LE 1
#else
#define VB__HOST_LE 0 /* unknown: byte by byte, correct on any host */
#endif

VB__INLINE uint16_t vb__vld16(const volatile unsigned char *p, int be)
{
#if VB__HOST_LE
    uint16_t v = *(const volatile uint16_t *)(const volatile void *)p;
    return be ? vb__bswap16(v) : v;
#else
    unsigned char b[2];
    b[0] = p[0];
    b[1] = p[1];
    return vb__ld16(b, be);
#endif
}

VB__INLINE uint32_t vb__vld32(const volatile unsigned char *p, int be)
{
#if VB__HOST_LE
    uint32_t v = *(const volatile uint32_t *)(const volatile void *)p;
    return be ? vb__bswap32(v) : v;
#else
    unsigned char b[4];
    unsigned i;
    for (i = 0; i < 4; i++) b[i] = p[i];
    return vb__ld32(b, be);
#endif
}

VB__INLINE void vb__vst16(volatile unsigned char *p, uint16_t v, int be)
{
#if VB__HOST_LE
    *(volatile uint16_t *)(volatile void *)p = be ? vb__bswap16(v) : v;
#else
    unsigned char b[2];
    vb__st16(b, v, be);
    p[0] = b[0];
    p[1] = b[1];
#endif
}

VB__INLINE void vb__vst32(volatile unsigned char *p, uint32_t v, int be)
{
#if VB__HOST_LE
    *(volatile uint32_t *)(volatile void *)p = be ? vb__bswap32(v) : v;
#else
    unsigned char b[4];
    unsigned i;
    vb__st32(b, v, be);
    for (i = 0; i < 4; i++) p[i] = b[i];
#endif
}

/* A ring of `len` bytes at `gpa` mapped, if the host pointer is as aligned as the ring. */
static void *vb__ring_map(vb_device *d, uint64_t gpa, uint64_t len, int write, unsigned align)
{
    void *p = vb__map(d, gpa, len, write);
    return p && !((uintptr_t)p & (align - 1u)) ? p : 0;
}

/* A 2-byte ring field: from the mapping `m`, else read at `gpa`. -1 = unreadable. */
VB__INLINE int32_t vb__ring_ld16(vb_device *d, const volatile unsigned char *m, uint64_t gpa, int be)
{
    unsigned char raw[2];
    if (m) return vb__vld16(m, be);
    return vb__read(d, gpa, raw, 2) ? -1 : vb__ld16(raw, be);
}

VB__INLINE int vb__ring_st16(vb_device *d, volatile unsigned char *m, uint64_t gpa, uint16_t v, int be)
{
    unsigned char raw[2];
    if (m) {
        vb__vst16(m, v, be);
        return 0;
    }
    vb__st16(raw, v, be);
    return vb__write(d, gpa, raw, 2);
}

/* A descriptor chain being walked: the current table (the ring's or an indirect one). */
typedef struct vb__chain {
    vb_device *dev;
    vb_queue *q;      /* the queue it came from */
    uint64_t table;   /* guest address of the descriptor table in use */
    const volatile unsigned char *map; /* ... mapped, or NULL: read through vb__read */
    uint32_t max;     /* entries in that table */
    uint32_t next;    /* entry to read next */
    uint32_t first;   /* the table's first entry read */
    uint32_t count;   /* descriptors read from this table */
    uint16_t head;
    uint8_t indirect; /* walking an indirect table */
    uint8_t writable; /* a device-writable descriptor has been seen */
    uint8_t done;
    uint8_t packed;   /* a packed ring's chain: the fields below */
    uint16_t head_flags; /* the first descriptor's flags, read by the pop */
    uint16_t wrap_bits;  /* AVAIL and USED of an available descriptor at `next` */
    uint16_t slots;   /* ring slots the chain took, once its ring part ended */
    uint32_t limit;   /* ring slots it may take: those not in flight */
    /* Entries of this table already read, from its second one on (a chain of one cannot loop,
       and most are one: it is cleared only then). A chain that comes back to one is a loop,
       found before the entry is read again: a racing guest cannot show two versions of it. */
    uint32_t seen[VB_QUEUE_SIZE_MAX / 32];
} vb__chain;

VB__INLINE void vb__chain_table(vb__chain *c, uint64_t table, const volatile unsigned char *map,
                            uint32_t entries, uint32_t first)
{
    c->table = table;
    c->map = map;
    c->max = entries;
    c->next = c->first = first;
    c->count = 0;
}

/* Mark the entry about to be read: 0, or -1 if this chain read it before (a loop). */
VB__INLINE int vb__chain_mark(vb__chain *c)
{
    uint32_t n = c->next;
    if (c->count == 1) { /* the second entry: start the record with the first */
        VB_MEMSET(c->seen, 0, ((c->max + 31u) / 32u) * sizeof c->seen[0]);
        c->seen[c->first / 32u] = 1u << (c->first % 32u);
    }
    if (c->count) {
        if (c->seen[n / 32u] & (1u << (n % 32u))) return -1;
        c->seen[n / 32u] |= 1u << (n % 32u);
    }
    c->count++;
    return 0;
}

typedef struct vb__desc {
    uint64_t addr;
    uint32_t len;
    int writable;
} vb__desc;

/* Switch the walk to an indirect table: only the head of a ring chain may point to one, and
   never with NEXT. 0 = ok, -1 = ring error (device broken). */
VB__COLD static int vb__chain_indirect(vb__chain *c, uint64_t addr, uint32_t len, uint16_t flags)
{
    vb_log_item why = VB_LOG_NONE;
    if (c->indirect || c->count != 1 || (flags & VB__DESC_F_NEXT))
        why = VB_LOG_INDIRECT_NESTED;
    else if (len == 0 || len % 16u || len / 16u > c->max)
        why = VB_LOG_INDIRECT_SIZE;
    else if (addr > UINT64_MAX - len)
        why = VB_LOG_LEN_OVERFLOW;
    if (why != VB_LOG_NONE) {
        vb_break(c->dev, why);
        return -1;
    }
    if (!vb__has(c->dev, VB_F_RING_INDIRECT_DESC)) vb__log(c->dev, VB_LOG_INDIRECT_NOT_NEGOTIATED);
    vb__chain_table(c, addr, (const volatile unsigned char *)vb__ring_map(c->dev, addr, len, 0, 4u),
                    len / 16u, 0);
    c->indirect = 1;
    return 0;
}

/* The next descriptor of a chain that is not done: 1 = got one, -1 = ring error (broken). */
static int vb__chain_step(vb__chain *c, vb__desc *out)
{
    vb_device *d = c->dev;
    const int be = vb__guest_be(d);

    for (;;) {
        uint64_t addr;
        uint32_t len;
        uint16_t flags, next;
        if (vb__chain_mark(c)) { vb_break(d, VB_LOG_LOOP); return -1; }
        if (c->map) {
            const volatile unsigned char *e = c->map + 16u * (size_t)c->next;
            addr = (uint64_t)vb__vld32(e + (be ? 0 : 4), be) << 32 | vb__vld32(e + (be ? 4 : 0), be);
            len = vb__vld32(e + 8, be);
            flags = vb__vld16(e + 12, be);
            next = vb__vld16(e + 14, be);
        } else {
            unsigned char raw[16];
            if (vb__read(d, c->table + 16u * (uint64_t)c->next, raw, sizeof raw)) {
                vb_break(d, c->indirect ? VB_LOG_BAD_MEMORY : VB_LOG_RING_MEMORY);
                return -1;
            }
            addr = vb__ld64(raw, be);
            len = vb__ld32(raw + 8, be);
            flags = vb__ld16(raw + 12, be);
            next = vb__ld16(raw + 14, be);
        }

        if (flags & VB__DESC_F_INDIRECT) {
            if (vb__chain_indirect(c, addr, len, flags)) return -1;
            continue; /* an indirect table has at least one entry */
        }
        if (len == 0) { vb_break(d, VB_LOG_ZERO_LEN); return -1; }
        if (addr > UINT64_MAX - len) { vb_break(d, VB_LOG_LEN_OVERFLOW); return -1; }
        if (flags & VB__DESC_F_WRITE) {
            c->writable = 1;
        } else if (c->writable) {
            vb_break(d, VB_LOG_DESC_ORDER);
            return -1;
        }
        if (flags & VB__DESC_F_NEXT) {
            if (next >= c->max) { vb_break(d, VB_LOG_NEXT_RANGE); return -1; }
            c->next = next;
        } else {
            c->done = 1;
        }
        out->addr = addr;
        out->len = len;
        out->writable = (flags & VB__DESC_F_WRITE) != 0;
        return 1;
    }
}

/* Packed ring positions (vb_queue): `n` <= size slots on, and the slots from `from` to `to`. */
VB__INLINE uint16_t vb__packed_step(uint16_t pos, uint32_t n, uint16_t size)
{
    uint32_t i = (pos & (VB__LAP - 1u)) + n;
    return (uint16_t)(i < size ? pos + n : (i - size) | ((pos & VB__LAP) ^ VB__LAP));
}

VB__INLINE uint32_t vb__packed_between(uint16_t from, uint16_t to, uint16_t size)
{
    uint32_t a = (from & (VB__LAP - 1u)) + ((from & VB__LAP) ? size : 0u);
    uint32_t b = (to & (VB__LAP - 1u)) + ((to & VB__LAP) ? size : 0u);
    return b >= a ? b - a : b + 2u * size - a;
}

/* A 2-byte field of the device's event suppression area (or of the split used ring). */
VB__INLINE int vb__used_st16(vb_device *d, vb_queue *q, uint32_t off, uint16_t v, int be)
{
    return vb__ring_st16(d, q->used_map ? q->used_map + off : 0, q->used + off, v, be);
}

/* Entry `i` of a packed descriptor table (the ring, or an indirect table): its flags too unless
   the pop has read them. -1 = unreadable. */
static int vb__packed_desc(vb__chain *c, uint32_t i, int with_flags, uint64_t *addr, uint32_t *len,
                           uint16_t *id, uint16_t *flags)
{
    if (c->map) {
        const volatile unsigned char *e = c->map + 16u * (size_t)i;
        *addr = (uint64_t)vb__vld32(e + 4, 0) << 32 | vb__vld32(e, 0);
        *len = vb__vld32(e + 8, 0);
        *id = vb__vld16(e + 12, 0);
        if (with_flags) *flags = vb__vld16(e + 14, 0);
    } else {
        unsigned char raw[16];
        if (vb__read(c->dev, c->table + 16u * (uint64_t)i, raw, with_flags ? 16u : 14u)) return -1;
        *addr = vb__ld64(raw, 0);
        *len = vb__ld32(raw + 8, 0);
        *id = vb__ld16(raw + 12, 0);
        if (with_flags) *flags = vb__ld16(raw + 14, 0);
    }
    return 0;
}

static int vb__packed_kicks(vb_device *d, vb_queue *q, int enable);

/* The ring part of a packed chain ended with the descriptor carrying its buffer id: the queue
   moves past it, and with EVENT_IDX the driver is asked to kick for the next one (the whole
   event again after index 0, wrap 0, where vb__packed_kicks left out the offset). */
static int vb__packed_taken(vb__chain *c, uint16_t id)
{
    vb_queue *q = c->q;
    int unsure = q->last_avail == VB__LAP && q->used_idx == VB__LAP;
    if (id >= q->size) { vb_break(c->dev, VB_LOG_BUFFER_ID); return -1; }
    c->head = id;
    c->slots = (uint16_t)c->count;
    q->last_avail = vb__packed_step(q->last_avail, c->count, q->size);
    if (unsure) return vb__packed_kicks(c->dev, q, 1);
    if (vb__has(c->dev, VB_F_RING_EVENT_IDX) &&
        vb__used_st16(c->dev, q, 0, (uint16_t)(q->last_avail ^ VB__LAP), 0)) {
        vb_break(c->dev, VB_LOG_RING_MEMORY);
        return -1;
    }
    return 0;
}

/* chain_step for a packed ring: its descriptors follow each other in the ring, each made
   available for the same lap as the first (the wrap counter flips past the ring's end), at most
   as many as there are free slots; an indirect table's entries follow each other too, with
   WRITE their only flag. */
static int vb__packed_chain_step(vb__chain *c, vb__desc *out)
{
    vb_device *d = c->dev;
    for (;;) {
        uint64_t addr;
        uint32_t len;
        uint16_t id, flags = c->head_flags;
        if (c->indirect) {
            if (vb__packed_desc(c, c->next, 1, &addr, &len, &id, &flags)) {
                vb_break(d, VB_LOG_BAD_MEMORY);
                return -1;
            }
            flags &= VB__DESC_F_WRITE;
            c->count++;
            if (++c->next == c->max) c->done = 1;
        } else {
            if (c->count == c->limit) { vb_break(d, VB_LOG_QUEUE_OVERRUN); return -1; }
            if (vb__packed_desc(c, c->next, c->count != 0, &addr, &len, &id, &flags)) {
                vb_break(d, VB_LOG_RING_MEMORY);
                return -1;
            }
            if (c->count && (flags & (VB__DESC_F_AVAIL | VB__DESC_F_USED)) != c->wrap_bits) {
                vb_break(d, VB_LOG_PACKED_FLAGS);
                return -1;
            }
            c->count++;
            if (++c->next == c->max) {
                c->next = 0;
                c->wrap_bits ^= VB__DESC_F_AVAIL | VB__DESC_F_USED;
            }
            if (flags & VB__DESC_F_INDIRECT) {
                if (vb__packed_taken(c, id) || vb__chain_indirect(c, addr, len, flags)) return -1;
                continue;
            }
            if (!(flags & VB__DESC_F_NEXT)) {
                if (vb__packed_taken(c, id)) return -1;
                c->done = 1;
            }
        }
        if (len == 0) { vb_break(d, VB_LOG_ZERO_LEN); return -1; }
        if (addr > UINT64_MAX - len) { vb_break(d, VB_LOG_LEN_OVERFLOW); return -1; }
        if (flags & VB__DESC_F_WRITE) {
            c->writable = 1;
        } else if (c->writable) {
            vb_break(d, VB_LOG_DESC_ORDER);
            return -1;
        }
        out->addr = addr;
        out->len = len;
        out->writable = (flags & VB__DESC_F_WRITE) != 0;
        return 1;
    }
}

/* Next buffer of the chain: 1 = got one, 0 = end of chain, -1 = ring error (device broken). */
VB__INLINE int vb__chain_next(vb__chain *c, vb__desc *out)
{
    if (c->done) return 0;
    return VB__PACKED_BUILD && c->packed ? vb__packed_chain_step(c, out) : vb__chain_step(c, out);
}

/* Offsets in the avail ring (flags, idx, ring[size], used_event) and the used ring (flags, idx,
   ring[size] of {id, len}, avail_event). */
#define VB__RING_IDX 2u
#define VB__AVAIL_ENTRY(i) (4u + 2u * (uint32_t)(i))
#define VB__USED_ENTRY(i) (4u + 8u * (uint32_t)(i))

/* A 2-byte field of the avail ring, read once: 0..65535, or -1 (unreadable). */
VB__INLINE int32_t vb__avail_ld16(vb_device *d, const vb_queue *q, uint32_t off, int be)
{
    return vb__ring_ld16(d, q->avail_map ? q->avail_map + off : 0, q->avail + off, be);
}

/* Take the next available chain: 1 = popped (c is set up), 0 = queue empty, -1 = ring error. */
static int vb__split_pop(vb_device *d, vb_queue *q, vb__chain *c)
{
    const int be = vb__guest_be(d);
    int32_t head;

    if (d->flags & VB__BROKEN) return -1; /* e.g. the interrupt decision just before failed */
    if (q->shadow_avail == q->last_avail) {
        int32_t idx = vb__avail_ld16(d, q, VB__RING_IDX, be);
        uint16_t pending;
        if (idx < 0) { vb_break(d, VB_LOG_RING_MEMORY); return -1; }
        q->shadow_avail = (uint16_t)idx;
        pending = (uint16_t)(q->shadow_avail - q->last_avail);
        if (pending > q->size) { vb_break(d, VB_LOG_AVAIL_RUNAWAY); return -1; }
        if (pending == 0) return 0;
        VB_FENCE(); /* read the ring entries only after the index that published them */
    }
    if ((uint16_t)(q->last_avail - q->used_idx) >= q->size) { /* QEMU: "inuse >= num" */
        vb_break(d, VB_LOG_QUEUE_OVERRUN);
        return -1;
    }
    head = vb__avail_ld16(d, q, VB__AVAIL_ENTRY(q->last_avail & (q->size - 1u)), be);
    if (head < 0) { vb_break(d, VB_LOG_RING_MEMORY); return -1; }
    if (head >= q->size) { vb_break(d, VB_LOG_HEAD_RANGE); return -1; }
    q->last_avail++;
    /* avail_event: ask for a kick when the driver publishes the next buffer. */
    if (vb__has(d, VB_F_RING_EVENT_IDX) &&
        vb__used_st16(d, q, VB__USED_ENTRY(q->size), q->last_avail, be)) {
        vb_break(d, VB_LOG_RING_MEMORY);
        return -1;
    }
    c->dev = d;
    c->q = q;
    vb__chain_table(c, q->desc, q->desc_map, q->size, (uint32_t)head);
    c->head = (uint16_t)head;
    c->slots = 1;
    c->indirect = c->writable = c->done = c->packed = 0;
    return 1;
}

/* Put a chain on the used ring. */
static int vb__split_push(vb_device *d, vb_queue *q, uint16_t head, uint32_t len)
{
    const int be = vb__guest_be(d);
    uint16_t old = q->used_idx, now = (uint16_t)(old + 1u);
    uint32_t at = VB__USED_ENTRY(old & (q->size - 1u));

    if (q->used_map) {
        vb__vst32(q->used_map + at, head, be);
        vb__vst32(q->used_map + at + 4u, len, be);
    } else {
        unsigned char elem[8];
        vb__st32(elem, head, be);
        vb__st32(elem + 4, len, be);
        if (vb__write(d, q->used + at, elem, sizeof elem)) {
            vb_break(d, VB_LOG_RING_MEMORY);
            return -1;
        }
    }
    VB_FENCE(); /* the element before the index that publishes it */
    if (vb__used_st16(d, q, VB__RING_IDX, now, be)) { vb_break(d, VB_LOG_RING_MEMORY); return -1; }
    q->used_idx = now;
    /* The interrupt threshold is stale once used_idx wrapped past the last signalled value. */
    if ((uint16_t)(now - q->signalled_used) < (uint16_t)(now - old)) q->signalled_valid = 0;
    return 0;
}

/* The AVAIL and USED flags of the descriptor at the queue's position, and those it has when it
   is available for the current lap (*want). -1 = unreadable. */
static int32_t vb__packed_next_flags(vb_device *d, const vb_queue *q, uint16_t *want)
{
    size_t at = 16u * (size_t)(q->last_avail & (VB__LAP - 1u)) + 14u;
    int32_t flags = vb__ring_ld16(d, q->desc_map ? q->desc_map + at : 0, q->desc + at, 0);
    *want = (q->last_avail & VB__LAP) ? VB__DESC_F_USED : VB__DESC_F_AVAIL;
    return flags;
}

/* The packed ring's pop: the descriptor at the queue's position is read from its flags on, and
   only once they show it available for this lap. */
static int vb__packed_pop(vb_device *d, vb_queue *q, vb__chain *c)
{
    uint16_t pos = q->last_avail, want;
    uint32_t slot = pos & (VB__LAP - 1u);
    int32_t flags;

    if (d->flags & VB__BROKEN) return -1;
    if ((flags = vb__packed_next_flags(d, q, &want)) < 0) { vb_break(d, VB_LOG_RING_MEMORY); return -1; }
    if (((uint32_t)flags & (VB__DESC_F_AVAIL | VB__DESC_F_USED)) != want) {
        /* A front-end that gave a fresh ring's base without its wrap bit (UML's vhost-user sends
           0): at index 0, wrap 0, with nothing in flight, slot 0 of a spec front-end's ring
           holds the device's last used descriptor or one of the driver's second lap, never one
           made available for the first lap. */
        if (pos != VB__LAP || q->used_idx != VB__LAP ||
            ((uint32_t)flags & (VB__DESC_F_AVAIL | VB__DESC_F_USED)) != VB__DESC_F_AVAIL)
            return 0;
        vb__log(d, VB_LOG_PACKED_WRAP);
        q->last_avail = q->used_idx = q->signalled_used = 0;
        q->signalled_valid = 0;
        want = VB__DESC_F_AVAIL;
        if (vb__packed_kicks(d, q, 1)) return -1; /* the events again, at the wrap now known */
    }
    VB_FENCE(); /* the rest of the descriptor only after the flags that made it available */
    c->dev = d;
    c->q = q;
    vb__chain_table(c, q->desc, q->desc_map, q->size, slot);
    c->limit = q->size - vb__packed_between(q->used_idx, q->last_avail, q->size);
    c->head_flags = (uint16_t)flags;
    c->wrap_bits = want;
    c->indirect = c->writable = c->done = 0;
    c->packed = 1;
    return 1;
}

/* A packed ring's used descriptor, written over the oldest slot in flight: length and id, then
   the flags that publish it. The position moves by the slots the chain took. */
static int vb__packed_push(vb_device *d, vb_queue *q, uint16_t id, uint16_t slots, uint32_t len)
{
    uint16_t pos = q->used_idx;
    uint64_t at = 16u * (uint64_t)(pos & (VB__LAP - 1u));
    uint16_t flags = (uint16_t)(((pos & VB__LAP) ? 0u : VB__DESC_F_AVAIL | VB__DESC_F_USED) |
                                (len ? VB__DESC_F_WRITE : 0u));
    volatile unsigned char *e = q->desc_map ? q->desc_map + at : 0;

    if (e) {
        vb__vst32(e + 8, len, 0);
        vb__vst16(e + 12, id, 0);
    } else {
        unsigned char raw[6];
        vb__st32(raw, len, 0);
        vb__st16(raw + 4, id, 0);
        if (vb__write(d, q->desc + at + 8u, raw, sizeof raw)) { vb_break(d, VB_LOG_RING_MEMORY); return -1; }
    }
    VB_FENCE(); /* length and id before the flags that publish them */
    if (vb__ring_st16(d, e ? e + 14 : 0, q->desc + at + 14u, flags, 0)) {
        vb_break(d, VB_LOG_RING_MEMORY);
        return -1;
    }
    q->used_idx = vb__packed_step(pos, slots, q->size);
    if ((q->used_idx ^ pos) & VB__LAP) q->signalled_valid = 0; /* a new lap: the threshold is stale */
    return 0;
}

/* Whether to interrupt, from the driver's event suppression area (read once, whole): DISABLE
   no, DESC (with EVENT_IDX) if the used descriptor it names was written since the last
   interrupt, anything else yes. -1 = unreadable. */
static int vb__packed_wants_interrupt(vb_device *d, vb_queue *q)
{
    uint16_t old = q->signalled_used, now = q->used_idx;
    int valid = q->signalled_valid;
    uint32_t area, off;
    if (q->avail_map) {
        area = vb__vld32(q->avail_map, 0);
    } else {
        unsigned char raw[4];
        if (vb__read(d, q->avail, raw, sizeof raw)) return -1;
        area = vb__ld32(raw, 0);
    }
    q->signalled_used = now;
    q->signalled_valid = 1;
    if (area >> 16 == VB__EVENT_DISABLE) return 0;
    if (area >> 16 != VB__EVENT_DESC || !vb__has(d, VB_F_RING_EVENT_IDX) || !valid) return 1;
    off = area & (VB__LAP - 1u);
    if (!(area & VB__LAP) != !!(now & VB__LAP)) off -= q->size; /* named on the lap before */
    now &= VB__LAP - 1u;
    old &= VB__LAP - 1u;
    return (uint16_t)(now - off - 1u) < (uint16_t)(now - old);
}

/* Tell the driver whether to kick (the device's event suppression area): off_wrap before the
   flags, as the spec orders; after enabling, a full barrier before the caller looks for buffers
   again. 0 = ok, -1 = unwritable (device broken). */
static int vb__packed_kicks(vb_device *d, vb_queue *q, int enable)
{
    unsigned flags = enable ? VB__EVENT_ENABLE : VB__EVENT_DISABLE;
    /* At index 0, wrap 0 with nothing in flight the base may lack its wrap counter (UML's 0 for
       a fresh ring whose driver is at wrap 1, fixed only when its first descriptor shows up,
       vb__packed_pop): an event at wrap 0 would tell that driver to kick on its second lap
       only, so it never kicks. ENABLE (every kick) is right for either reading. */
    if (enable && vb__has(d, VB_F_RING_EVENT_IDX) && !(q->last_avail == VB__LAP && q->used_idx == VB__LAP)) {
        if (vb__used_st16(d, q, 0, (uint16_t)(q->last_avail ^ VB__LAP), 0)) goto unwritable;
        VB_FENCE();
        flags = VB__EVENT_DESC;
    }
    if (vb__used_st16(d, q, 2, (uint16_t)flags, 0)) goto unwritable;
    VB_FENCE();
    return 0;
unwritable:
    vb_break(d, VB_LOG_RING_MEMORY);
    return -1;
}

/* Either layout. */
static int vb__pop(vb_device *d, vb_queue *q, vb__chain *c)
{
    return vb__packed(d) ? vb__packed_pop(d, q, c) : vb__split_pop(d, q, c);
}

static int vb__push(vb_device *d, vb_queue *q, uint16_t id, uint16_t slots, uint32_t len)
{
    return vb__packed(d) ? vb__packed_push(d, q, id, slots, len) : vb__split_push(d, q, id, len);
}

/* Buffers left after a budget: the split ring's avail index last read, or the packed ring's
   next descriptor. */
static int vb__pending(vb_device *d, vb_queue *q)
{
    uint16_t want;
    int32_t flags;
    if (!vb__packed(d)) return q->shadow_avail != q->last_avail;
    flags = vb__packed_next_flags(d, q, &want);
    return flags >= 0 && ((uint32_t)flags & (VB__DESC_F_AVAIL | VB__DESC_F_USED)) == want;
}

/* Interrupt the driver about the queue of `role` unless it asked not to be (EVENT_IDX
   used_event, or NO_INTERRUPT). */
static void vb__interrupt_driver(vb_device *d, unsigned role)
{
    vb_queue *q = &d->queue[role];
    const int be = vb__guest_be(d);
    int32_t v;
    int send;

    VB_FENCE(); /* our used index must be visible before we read the driver's wishes */
    if (vb__packed(d)) {
        if ((send = vb__packed_wants_interrupt(d, q)) < 0) {
            vb_break(d, VB_LOG_RING_MEMORY);
            return;
        }
    } else if (vb__has(d, VB_F_RING_EVENT_IDX)) {
        uint16_t event, old = q->signalled_used, now = q->used_idx;
        int valid = q->signalled_valid;
        if ((v = vb__avail_ld16(d, q, VB__AVAIL_ENTRY(q->size), be)) < 0) {
            vb_break(d, VB_LOG_RING_MEMORY);
            return;
        }
        event = (uint16_t)v;
        q->signalled_used = now;
        q->signalled_valid = 1;
        send = !valid || (uint16_t)(now - event - 1u) < (uint16_t)(now - old);
    } else {
        if ((v = vb__avail_ld16(d, q, 0, be)) < 0) { vb_break(d, VB_LOG_RING_MEMORY); return; }
        send = !((uint32_t)v & VB__AVAIL_F_NO_INTERRUPT);
    }
    if (!send) return;
    vb__enter(d);
    d->host->notify_queue(d->user, (unsigned)vb_queue_index(d, role));
    vb__leave(d);
}

/* Map the rings of a queue that starts (or of a running one, again); a broken device touches
   no ring until it is reset, and asks for none. */
static void vb__queue_map(vb_device *d, vb_queue *q)
{
    int packed = vb__packed(d); /* used descriptors go in its descriptor ring */
    if (d->flags & VB__BROKEN) {
        q->desc_map = q->used_map = 0;
        q->avail_map = 0;
        return;
    }
    q->desc_map = (volatile unsigned char *)vb__ring_map(d, q->desc, 16u * (uint64_t)q->size, packed, 4u);
    q->avail_map = (const volatile unsigned char *)vb__ring_map(d, q->avail, packed ? 4u : VB__AVAIL_ENTRY(q->size) + 2u, 0,
                                                                packed ? 4u : 2u);
    q->used_map = (volatile unsigned char *)vb__ring_map(d, q->used, packed ? 4u : VB__USED_ENTRY(q->size) + 2u, 1, 4u);
}

static void vb__queue_clear(vb_device *d, vb_queue *q)
{
    VB_MEMSET(q, 0, sizeof *q);
    q->size = d->queue_size_max;
}

/* ============================================================================================
   LAYER 2: THE PAGE QUEUES (inflate, deflate, free page reporting and hinting: guest ranges to
   the host after the whole buffer is validated, bounded work, left-over "more work")
   ============================================================================================ */

/* Free page hinting and reporting in this build (VB_NO_FREE_PAGE_HINT, VB_NO_REPORTING): without
   one, vb_init refuses its option, so the feature is never offered, and the compiler drops the
   code its constant guards; without both, the ranges code they share goes too. */
#ifdef VB_NO_FREE_PAGE_HINT
#define VB__HINT_BUILD 0
#else
#define VB__HINT_BUILD 1
#endif
#ifdef VB_NO_REPORTING
#define VB__REPORTING_BUILD 0
#else
#define VB__REPORTING_BUILD 1
#endif

static void vb__pages(vb_device *d, unsigned kind, uint64_t start, uint64_t len)
{
    if (!len) return;
    d->counters.bytes[kind] += len;
    if (!d->host->pages) return;
    vb__enter(d);
    d->host->pages(d->user, kind, start, len);
    vb__leave(d);
}

/* Inflate/deflate: the 4-byte PFNs of the device-readable part (records may straddle
   descriptors), contiguous pages coalesced into one pages() call. As in QEMU, nothing of a chain
   is acted on before the whole chain has been validated, so the PFNs are gathered first (the
   reason VB_PFN_MAX_PER_BUFFER bounds the stack: 4 bytes per PFN). 0 = done, -1 = ring error. */
static int vb__balloon_buffer(vb_device *d, unsigned kind, vb__chain *c)
{
    const int be = vb__guest_be(d);
    unsigned char raw[4 * VB_PFN_MAX_PER_BUFFER];
    uint64_t start = 0, len = 0, offered = 0;
    uint32_t got = 0, i;
    vb__desc dsc;
    int r;
    while ((r = vb__chain_next(c, &dsc)) > 0) {
        uint32_t take = dsc.len < sizeof raw - got ? dsc.len : (uint32_t)sizeof raw - got;
        if (dsc.writable) continue;
        offered += dsc.len;
        if (take && vb__read_buffer(d, dsc.addr, raw + got, take)) {
            vb_break(d, VB_LOG_BAD_MEMORY);
            return -1;
        }
        got += take;
    }
    if (r < 0) return -1;
    if (offered > sizeof raw) vb__log(d, VB_LOG_PFN_TRUNCATED);
    for (i = 0; i + 4 <= got; i += 4) {
        uint64_t gpa = (uint64_t)vb__ld32(raw + i, be) << VB_PAGE_SHIFT;
        if (len && gpa == start + len) {
            len += 1u << VB_PAGE_SHIFT;
            continue;
        }
        vb__pages(d, kind, start, len);
        start = gpa;
        len = 1u << VB_PAGE_SHIFT;
    }
    vb__pages(d, kind, start, len);
    return 0;
}

/* A reporting or free page buffer, walked whole before anything is acted on: the first 4 bytes
   of its device-readable part (a hint command id) and its device-writable ranges. */
typedef struct vb__ranges {
    unsigned char id[4];
    uint64_t readable; /* bytes in the device-readable part */
    uint32_t n;        /* ranges kept (the rest is ignored: logged, never acted on) */
    uint64_t addr[VB_RANGES_MAX_PER_BUFFER];
    uint32_t len[VB_RANGES_MAX_PER_BUFFER];
} vb__ranges;

static int vb__ranges_gather(vb_device *d, vb__chain *c, vb__ranges *g)
{
    vb__desc dsc;
    int r, dropped = 0;
    g->readable = 0;
    g->n = 0;
    while ((r = vb__chain_next(c, &dsc)) > 0) {
        if (!dsc.writable) {
            uint32_t kept = g->readable < 4 ? (uint32_t)g->readable : 4u;
            uint32_t take = dsc.len < 4u - kept ? dsc.len : 4u - kept;
            if (take && vb__read_buffer(d, dsc.addr, g->id + kept, take)) {
                vb_break(d, VB_LOG_BAD_MEMORY);
                return -1;
            }
            g->readable += dsc.len;
        } else if (g->n < VB_RANGES_MAX_PER_BUFFER) {
            g->addr[g->n] = dsc.addr;
            g->len[g->n++] = dsc.len;
        } else {
            dropped = 1;
        }
    }
    if (dropped && r == 0) vb__log(d, VB_LOG_RANGES_TRUNCATED);
    return r;
}

/* Free ranges to the host if `act`, they are whole 4 KiB pages and the guest does not poison
   its free pages (QEMU's rule: discarding would lose the poison); else only counted. */
static void vb__ranges_give(vb_device *d, unsigned kind, const vb__ranges *g, int act)
{
    uint32_t i;
    for (i = 0; i < g->n; i++) {
        int aligned = !((g->addr[i] | g->len[i]) & ((1u << VB_PAGE_SHIFT) - 1u));
        if (act && !aligned) vb__log(d, VB_LOG_RANGE_UNALIGNED);
        if (!act || !aligned || d->poison_val) {
            d->counters.bytes_ignored += g->len[i];
            continue;
        }
        if (VB__HINT_BUILD && kind == VB_RANGE_HINTED) {
            d->hint.ranges++;
            d->hint.bytes += g->len[i];
        }
        vb__pages(d, kind, g->addr[i], g->len[i]);
    }
}

/* Free page hinting (QEMU's get_free_page_hints): a device-readable part is a command id (less
   than 4 bytes is a guest error): the current one moves REQUESTED to START, any other one in
   START ends the round (normally the guest's STOP), otherwise it is stale and changes nothing.
   Writable ranges count only in START. 0 = done, -1 = device broken. */
static int vb__hint_buffer(vb_device *d, const vb__ranges *g)
{
    d->counters.hint_buffers++;
    if (g->readable) {
        uint32_t id;
        if (g->readable < 4) {
            vb_break(d, VB_LOG_HINT_CMD_ID);
            return -1;
        }
        id = vb__ld32(g->id, vb__guest_be(d)); /* guest-endian for a legacy guest, as QEMU */
        d->hint.guest_cmd_id = id;
        if (d->hint.status == VB_HINT_REQUESTED && id == d->hint.cmd_id)
            d->hint.status = VB_HINT_START;
        else if (d->hint.status == VB_HINT_START)
            d->hint.status = VB_HINT_STOP;
    }
    vb__ranges_give(d, VB_RANGE_HINTED, g, d->hint.status == VB_HINT_START);
    return 0;
}

/* One budget of a page queue (any role but the stats): about two queues' worth of descriptors.
   Every buffer goes back with used length 0 (QEMU >= 7.0; a reporting guest waits for it).
   1 = buffers are left. */
static int vb__page_queue_kick(vb_device *d, unsigned role)
{
    vb_queue *q = &d->queue[role];
    uint32_t walked = 0;
    /* A queue whose feature the build left out (only VB_OPT_QUEUES_FIXED numbers it) is ignored. */
    if ((role == VB_QUEUE_FREE_PAGE && !VB__HINT_BUILD) || (role == VB_QUEUE_REPORTING && !VB__REPORTING_BUILD))
        return 0;
    while (walked < q->size) {
        vb__chain c;
        int r = vb__pop(d, q, &c);
        if (r <= 0) return 0;
        if (role <= VB_QUEUE_DEFLATE) {
            r = vb__balloon_buffer(d, role, &c);
        } else {
            vb__ranges g;
            r = vb__ranges_gather(d, &c, &g);
            if (r == 0 && VB__HINT_BUILD && role == VB_QUEUE_FREE_PAGE) {
                r = vb__hint_buffer(d, &g);
            } else if (r == 0 && VB__REPORTING_BUILD) {
                d->counters.reports++;
                vb__ranges_give(d, VB_RANGE_REPORTED, &g, vb__has(d, VB_F_REPORTING));
            }
        }
        if (r < 0) return 0;
        walked += c.count + c.indirect;
        if (vb__push(d, q, c.head, c.slots, 0)) return 0;
        vb__interrupt_driver(d, role);
    }
    /* Out of budget with buffers left: the driver may not kick again (EVENT_IDX). */
    return vb__pending(d, q);
}

VB_API int vb_more_work(const vb_device *d)
{
    return d->more_work != 0 && !(d->flags & VB__BROKEN);
}

/* One work budget for a page queue; remembers whether buffers are left. */
static void vb__page_queue_work(vb_device *d, unsigned role)
{
    uint8_t bit = (uint8_t)(1u << role);
    if (vb__page_queue_kick(d, role))
        d->more_work |= bit;
    else
        d->more_work &= (uint8_t)~bit;
}

static void vb__features_changed(vb_device *d); /* queue numbering, layer 4 */

VB_API int vb_do_work(vb_device *d)
{
    unsigned role;
    if (vb__reentered(d)) return vb_more_work(d);
    for (role = 0; role < VB_QUEUE_MAX; role++) { /* bits: running page queues */
        if (!(d->more_work & (1u << role)) || !vb_more_work(d)) continue;
        if (vb_queue_index(d, role) >= 0)
            vb__page_queue_work(d, role);
        else /* renumbered away (features changed before FEATURES_OK, or a blob): no index */
            d->more_work &= (uint8_t)~(1u << role);
    }
    return vb_more_work(d);
}

/* ---- free page hinting: the host's side --------------------------------------------------- */

#define VB__HINT_ID_MIN 0x80000000u /* QEMU's first id is MIN + 1; it wraps back to MIN */

#ifndef VB_NO_FREE_PAGE_HINT

/* A change the driver sees in the config space: the driver looks only after an interrupt. */
static void vb__hint_show(vb_device *d, vb_hint_status status)
{
    d->hint.status = status;
    d->config_generation++;
    if (d->status & VB_S_DRIVER_OK) vb__notify_config(d);
}

VB_API vb_result vb_hint_start(vb_device *d)
{
    if (vb__reentered(d) || !vb__has(d, VB_F_FREE_PAGE_HINT) || (d->flags & VB__BROKEN))
        return VB_ERR_STATE;
    d->hint.cmd_id = d->hint.cmd_id == UINT32_MAX ? VB__HINT_ID_MIN : d->hint.cmd_id + 1u;
    d->hint.ranges = 0;
    d->hint.bytes = 0;
    vb__hint_show(d, VB_HINT_REQUESTED);
    return VB_OK;
}

VB_API void vb_hint_stop(vb_device *d)
{
    if (!vb__reentered(d) && d->hint.status != VB_HINT_STOP) vb__hint_show(d, VB_HINT_STOP);
}

VB_API void vb_hint_done(vb_device *d)
{
    if (!vb__reentered(d) && d->hint.status != VB_HINT_DONE) vb__hint_show(d, VB_HINT_DONE);
}

VB_API const vb_hint_info *vb_hint(const vb_device *d) { return &d->hint; }
#endif /* VB_NO_FREE_PAGE_HINT */

/* ============================================================================================
   LAYER 3: THE STATS PROTOCOL (the stats and their key sets, held buffer, parsing, polling timer)
   ============================================================================================ */

/* QEMU's QOM names, index = tag (tags 8 and 9 are not "stat-" + Linux's names). */
static const char *const vb__stat_names[VB_STAT_COUNT] = {
    "stat-swap-in", "stat-swap-out", "stat-major-faults", "stat-minor-faults",
    "stat-free-memory", "stat-total-memory", "stat-available-memory", "stat-disk-caches",
    "stat-htlb-pgalloc", "stat-htlb-pgfail", "stat-oom-kills", "stat-alloc-stalls",
    "stat-async-scans", "stat-direct-scans", "stat-async-reclaims", "stat-direct-reclaims"};

VB_API const char *vb_stat_name(unsigned tag)
{
    return tag < VB_STAT_COUNT ? vb__stat_names[tag] : 0;
}

VB_API int vb_stat(const vb_device *d, unsigned tag, uint64_t *value)
{
    uint64_t v = tag < VB_STAT_COUNT ? d->stat[tag] : VB_STAT_UNSET;
    if (value) *value = v;
    return v != VB_STAT_UNSET;
}

VB_API int64_t vb_last_update(const vb_device *d) { return d->last_update; }
VB_API const vb_counters *vb_get_counters(const vb_device *d) { return &d->counters; }

/* Key order of QEMU's QDict (bucket of tdb_hash(key) % 512, newest first within a bucket) for
   each size the stats table has had. tests/ recomputes these from the hash. */
static const unsigned char vb__order6[6] = {1, 4, 3, 2, 5, 0};
static const unsigned char vb__order7[7] = {1, 6, 4, 3, 2, 5, 0};
static const unsigned char vb__order8[8] = {1, 6, 4, 3, 2, 5, 0, 7};
static const unsigned char vb__order10[10] = {8, 1, 6, 9, 4, 3, 2, 5, 0, 7};
static const unsigned char vb__order16[16] = {8, 1, 11, 6, 15, 13, 9, 4, 3, 2, 5, 10, 14, 0, 12, 7};

static const unsigned char *vb__key_order(unsigned keys)
{
    switch (keys) {
    case 6: return vb__order6;
    case 7: return vb__order7;
    case 8: return vb__order8;
    case 10: return vb__order10;
    case 16: return vb__order16;
    default: return 0;
    }
}

static uint64_t vb__now(vb_device *d)
{
    uint64_t now;
    if (!d->host->now_ms) return 0;
    vb__enter(d);
    now = d->host->now_ms(d->user);
    vb__leave(d);
    return now;
}

/* ---- freshness telemetry: polls, answers, missed intervals, stale ---- */

/* A build without it (VB_NO_TELEMETRY) keeps d->tele zero and never calls stats_stale; nor does
   it arm the timer after a poll only to count the interval missed (the guest's answer re-arms
   it, as always). The constant lets the compiler drop what only telemetry does. */
#ifdef VB_NO_TELEMETRY
#define VB__TELEMETRY_BUILD 0
#else
#define VB__TELEMETRY_BUILD 1

VB_API const vb_telemetry *vb_get_telemetry(const vb_device *d) { return &d->tele; }

VB_API uint64_t vb_stats_age_ms(const vb_device *d)
{
    uint64_t now;
    if (!d->tele.has_stats || !d->host->now_ms) return UINT64_MAX;
    now = d->host->now_ms(d->user); /* a clock read: no guard needed, nothing can change */
    return now > d->tele.last_stats_ms ? now - d->tele.last_stats_ms : 0;
}
#endif

static void vb__tell_stale(vb_device *d, int stale)
{
    if (!d->host->stats_stale) return;
    vb__enter(d);
    d->host->stats_stale(d->user, stale);
    vb__leave(d);
}

static void vb__set_stale(vb_device *d, int stale)
{
    if (!VB__TELEMETRY_BUILD || d->tele.stale == stale) return;
    d->tele.stale = (uint8_t)stale;
    if (stale) d->tele.stale_count++;
    vb__tell_stale(d, stale);
}

/* A polling interval ended without a stats buffer. */
static void vb__missed(vb_device *d)
{
    if (!VB__TELEMETRY_BUILD) return;
    if (d->tele.missed < UINT32_MAX) d->tele.missed++;
    if (d->tele.missed == d->stale_after) vb__set_stale(d, 1);
}

/* A stats buffer of `records` records (`unknown` of them unknown) came at `now`. */
static void vb__answered(vb_device *d, uint64_t now, uint32_t records, uint32_t unknown)
{
    static const uint32_t bound[VB_LATENCY_BUCKETS - 1] = {1, 4, 16, 64, 256, 1024, 4096};
    vb_telemetry *t = &d->tele;
    if (!VB__TELEMETRY_BUILD) return;
    if (d->flags & VB__POLLED) {
        uint64_t wait = now > t->last_poll_ms ? now - t->last_poll_ms : 0;
        uint32_t ms = wait > UINT32_MAX ? UINT32_MAX : (uint32_t)wait;
        unsigned b = 0;
        d->flags &= (uint16_t)~VB__POLLED;
        while (b < VB_LATENCY_BUCKETS - 1 && ms > bound[b]) b++;
        t->latency_buckets[b]++;
        t->latency_sum_ms += ms;
        t->latency_last_ms = ms;
        if (!t->answers++ || ms < t->latency_min_ms) t->latency_min_ms = ms;
        if (ms > t->latency_max_ms) t->latency_max_ms = ms;
        if (t->missed) t->late++;
    }
    t->missed = 0;
    t->last_stats_ms = now;
    t->has_stats = 1;
    t->last_records = (uint16_t)(records > UINT16_MAX ? UINT16_MAX : records);
    t->last_unknown = (uint16_t)(unknown > UINT16_MAX ? UINT16_MAX : unknown);
    vb__set_stale(d, 0);
}

/* Machine reset: the telemetry starts again (leaving stale is reported). */
static void vb__telemetry_clear(vb_device *d)
{
    int was_stale = d->tele.stale;
    if (!VB__TELEMETRY_BUILD) return;
    VB_MEMSET(&d->tele, 0, sizeof d->tele);
    d->flags &= (uint16_t)~VB__POLLED;
    if (was_stale) vb__tell_stale(d, 0);
}

static int64_t vb__wall(vb_device *d)
{
    int64_t seconds;
    if (!d->host->wall_s) return 0;
    vb__enter(d);
    seconds = d->host->wall_s(d->user);
    vb__leave(d);
    return seconds;
}

static void vb__arm(vb_device *d, uint64_t deadline)
{
    int armed = (d->flags & VB__ARMED) && d->deadline_ms == deadline; /* e.g. an answer within
                                                   the poll's millisecond: the host's timer holds */
    d->deadline_ms = deadline;
    d->flags = (uint16_t)((d->flags & ~(VB__WATCH | VB__START)) | VB__ARMED);
    if (armed || !d->host->timer_arm) return;
    vb__enter(d);
    d->host->timer_arm(d->user, deadline);
    vb__leave(d);
}

static void vb__disarm(vb_device *d)
{
    if (!(d->flags & VB__ARMED)) return;
    d->flags &= (uint16_t)~(VB__ARMED | VB__WATCH | VB__START);
    if (!d->host->timer_cancel) return;
    vb__enter(d);
    d->host->timer_cancel(d->user);
    vb__leave(d);
}

/* balloon_stats_change_timer(): deadline = now + interval, only while polling is enabled. */
static void vb__rearm_from(vb_device *d, uint64_t now)
{
    if (!d->interval_ms) return;
    vb__arm(d, now > UINT64_MAX - d->interval_ms ? UINT64_MAX : now + d->interval_ms);
}

static void vb__rearm(vb_device *d)
{
    if (d->interval_ms) vb__rearm_from(d, vb__now(d));
}

/* The timer set only to end an interval (VB__WATCH). */
static void vb__watch_from(vb_device *d, uint64_t now)
{
    if (!VB__TELEMETRY_BUILD) return;
    vb__rearm_from(d, now);
    if (d->interval_ms) d->flags |= VB__WATCH;
}

/* A record's tag, where the guest may be rewriting it: one volatile load, since it decides
   which val[] is written. The value decides nothing: a plain load. */
VB__INLINE uint16_t vb__tag(const volatile unsigned char *p, int be)
{
#if VB__HOST_LE && defined(__GNUC__)
    typedef uint16_t vb__u16_any __attribute__((aligned(1), may_alias));
    uint16_t v = *(const volatile vb__u16_any *)p;
    return be ? vb__bswap16(v) : v;
#else
    unsigned char b[2];
    b[0] = p[0];
    b[1] = p[1];
    return vb__ld16(b, be);
#endif
}

/* Whole records, [p, end): the tag decides where the value goes (an unknown tag is counted); a
   duplicate tag: the last one wins. Returns the unknown ones. The byte order is fixed in each
   loop: a little-endian guest's fields load whole on most hosts. */
static uint32_t vb__stats_records(const volatile unsigned char *p, const volatile unsigned char *end,
                                  int be, uint64_t val[VB_STAT_COUNT])
{
    uint32_t unknown = 0;
    for (; p < end && be; p += 10) {
        uint16_t tag = vb__tag(p, 1);
        if (tag < VB_STAT_COUNT)
            val[tag] = vb__ld64((const unsigned char *)(p + 2), 1);
        else
            unknown++;
    }
    for (; p < end; p += 10) {
        uint16_t tag = vb__tag(p, 0);
        if (tag < VB_STAT_COUNT)
            val[tag] = vb__ld64((const unsigned char *)(p + 2), 0);
        else
            unknown++;
    }
    return unknown;
}

/* Parse the device-readable bytes of a chain into `val` (10-byte records, straddling
   descriptors allowed, trailing partial record ignored): in place where the host maps them,
   else copied in chunks. 0 = ok, -1 = ring error. */
static int vb__stats_parse(vb__chain *c, uint64_t val[VB_STAT_COUNT], uint32_t *records)
{
    vb_device *d = c->dev;
    const int be = vb__guest_be(d);
    unsigned char buf[160], rec[10];
    uint32_t budget = VB_STATS_MAX_BYTES, fill = 0;
    uint64_t offered = 0;
    vb__desc dsc;
    int r;

    while ((r = vb__chain_next(c, &dsc)) > 0) {
        uint32_t off = 0;
        if (dsc.writable) continue; /* never read nor written */
        offered += dsc.len;
        while (off < dsc.len && budget) {
            uint32_t chunk = dsc.len - off < budget ? dsc.len - off : budget, i = 0;
            const volatile unsigned char *src =
                (const volatile unsigned char *)vb__map(d, dsc.addr + off, chunk, 0);
            if (!src) {
                if (chunk > sizeof buf) chunk = sizeof buf;
                if (vb__read(d, dsc.addr + off, buf, chunk)) {
                    vb_break(d, VB_LOG_BAD_MEMORY);
                    return -1;
                }
                src = buf;
            }
            off += chunk;
            budget -= chunk;
            while (i < chunk) {
                if (fill == 0) { /* whole records in place: the fast path */
                    uint32_t whole = (chunk - i) / 10u;
                    d->counters.unknown_tags += vb__stats_records(src + i, src + i + (size_t)10u * whole, be, val);
                    *records += whole;
                    i += 10u * whole;
                    if (i == chunk) break;
                }
                rec[fill++] = src[i++]; /* a record straddles a boundary */
                if (fill == 10) {
                    fill = 0;
                    ++*records;
                    d->counters.unknown_tags += vb__stats_records(rec, rec + 10, be, val);
                }
            }
        }
    }
    if (r == 0 && offered > VB_STATS_MAX_BYTES) vb__log(d, VB_LOG_STATS_TRUNCATED);
    return r;
}

/* Give the held buffer back to the driver: used length 0 (QEMU >= 7.0), then the interrupt. A
   packed ring's driver is told to kick again first (the device needs none while it holds the
   buffer: vb__stats_hold). */
static void vb__stats_return(vb_device *d)
{
    vb_queue *q = &d->queue[VB_QUEUE_STATS];
    if (vb__packed(d) && vb__packed_kicks(d, q, 1)) return;
    if (vb__push(d, q, d->held_head, d->held_slots, 0) == 0) vb__interrupt_driver(d, VB_QUEUE_STATS);
}

/* Keep the buffer of chain `c`; a packed ring's driver is told not to kick meanwhile. A packed
   buffer id still in flight is a ring error: its used descriptor could not say which buffer. */
static int vb__stats_hold(vb_device *d, const vb__chain *c)
{
    int packed = vb__packed(d);
    if ((d->flags & VB__HELD) && packed && c->head == d->held_head) {
        vb_break(d, VB_LOG_ID_IN_FLIGHT);
        return -1;
    }
    if (d->flags & VB__HELD) { /* "should never happen": give the old one back */
        d->counters.duplicates++;
        vb__log(d, VB_LOG_STATS_SECOND_BUFFER);
        vb__stats_return(d);
    }
    if (d->flags & VB__BROKEN) return -1;
    d->held_head = c->head;
    d->held_slots = c->slots;
    d->flags |= VB__HELD | VB__HAS_STATS;
    return packed ? vb__packed_kicks(d, c->q, 0) : 0;
}

/* virtio_balloon_receive_stats(): one buffer per notification, then re-arm. */
VB__FLATTEN static void vb__stats_kick(vb_device *d)
{
    vb_queue *q = &d->queue[VB_QUEUE_STATS];
    vb__chain c;

    if (vb__pop(d, q, &c) > 0) {
        uint64_t val[VB_STAT_COUNT];
        uint32_t records = 0, unknown = d->counters.unknown_tags;
        unsigned i;
        for (i = 0; i < VB_STAT_COUNT; i++) val[i] = VB_STAT_UNSET;
        if (vb__stats_parse(&c, val, &records) == 0 && vb__stats_hold(d, &c) == 0) {
            uint64_t now;
            VB_MEMCPY(d->stat, val, sizeof val);
            d->last_update = vb__wall(d);
            d->counters.updates++;
            now = vb__now(d);
            vb__answered(d, now, records, d->counters.unknown_tags - unknown);
            vb__rearm_from(d, now);
            return;
        }
    }
    vb__rearm(d);
}

VB__FLATTEN VB_API void vb_timer_expired(vb_device *d)
{
    uint64_t now;
    uint16_t kind, watch;
    if (vb__reentered(d) || !(d->flags & VB__ARMED)) return; /* cancelled, or already handled */
    now = vb__now(d);
    kind = d->flags & ((VB__TELEMETRY_BUILD ? VB__WATCH : 0u) | VB__START);
    watch = kind & VB__WATCH;
    if (now < d->deadline_ms) { /* early: keep waiting (the host's timer is spent: arm it) */
        d->flags &= (uint16_t)~VB__ARMED;
        vb__arm(d, d->deadline_ms);
        d->flags |= kind;
        return;
    }
    d->flags &= (uint16_t)~(VB__ARMED | VB__WATCH | VB__START);
    if (watch || !(d->flags & VB__HELD) || !vb__has(d, VB_F_STATS_VQ) ||
        (d->flags & VB__BROKEN) || !d->queue[VB_QUEUE_STATS].ready) {
        if (!(kind & VB__START)) vb__missed(d); /* no stats this interval */
        if (watch)
            vb__watch_from(d, now);
        else
            vb__rearm_from(d, now); /* nobody to ask yet: try again one interval later */
        return;
    }
    d->flags = (uint16_t)((d->flags & ~VB__HELD) | VB__POLLED);
    d->counters.polls++;
    if (VB__TELEMETRY_BUILD) d->tele.last_poll_ms = now;
    vb__stats_return(d);
    /* The polling timer is re-armed by the guest's answer only (QEMU); until then the timer
       just ends each interval, to count it missed (with telemetry: else it stays unarmed). */
    vb__watch_from(d, now);
    /* A packed ring's driver did not kick while the buffer was held: a buffer it made available
       meanwhile is looked for now that kicks are on again. */
    if (vb__packed(d) && !(d->flags & VB__BROKEN) &&
        vb__pending(d, &d->queue[VB_QUEUE_STATS]))
        vb__stats_kick(d);
}

VB_API uint64_t vb_next_deadline(const vb_device *d)
{
    return (d->flags & VB__ARMED) ? d->deadline_ms : UINT64_MAX;
}

VB_API uint64_t vb_poll_deadline(const vb_device *d)
{
    return (d->flags & (VB__ARMED | VB__WATCH)) == VB__ARMED ? d->deadline_ms : UINT64_MAX;
}

/* After a migration the destination has no held buffer although the source popped one
   (last_avail is past it): step back one and read it again (virtqueue_rewind). In a packed ring
   it begins where the next used descriptor goes (the stats queue uses its buffers in order). */
static void vb__stats_rewind(vb_device *d)
{
    vb_queue *q = &d->queue[VB_QUEUE_STATS];
    if ((d->flags & (VB__HELD | VB__BROKEN)) || !q->ready) return;
    if (!(d->status & VB_S_DRIVER_OK) || q->last_avail == q->used_idx) return;
    q->last_avail = vb__packed(d) ? q->used_idx : (uint16_t)(q->last_avail - 1u);
    q->shadow_avail = q->last_avail;
    vb__stats_kick(d);
}

static void vb__stats_clear(vb_device *d)
{
    unsigned i;
    for (i = 0; i < VB_STAT_COUNT; i++) d->stat[i] = VB_STAT_UNSET;
    d->last_update = 0;
    d->flags &= (uint16_t)~VB__HAS_STATS;
}

#define VB__MAX_INTERVAL_MS ((uint64_t)UINT32_MAX * 1000u)

VB_API vb_result vb_set_poll_interval_ms(vb_device *d, uint64_t ms)
{
    if (vb__reentered(d)) return VB_ERR_STATE;
    if (ms > VB__MAX_INTERVAL_MS) return VB_ERR_RANGE;
    if (ms == d->interval_ms) return VB_OK; /* not even a stalled poll is kicked */
    if (ms == 0) { /* no polls: no interval can be missed, so no stats can be stale */
        d->interval_ms = 0;
        vb__disarm(d);
        if (VB__TELEMETRY_BUILD) d->tele.missed = 0;
        vb__set_stale(d, 0);
        return VB_OK;
    }
    if (d->interval_ms) {
        d->interval_ms = ms;
        vb__rearm(d);
    } else {
        d->interval_ms = ms;
        vb__arm(d, vb__now(d)); /* enabling polls at once */
        d->flags |= VB__START;
    }
    return VB_OK;
}

/* The QOM setter's checks, without side effects. */
static vb_result vb__interval_check(int64_t seconds, vb_error *err)
{
    if (seconds < 0) {
        vb__generic_error(err, "timer value must be greater than zero");
        return VB_ERR_RANGE;
    }
    if ((uint64_t)seconds > UINT32_MAX) {
        vb__generic_error(err, "timer value is too big");
        return VB_ERR_RANGE;
    }
    return VB_OK;
}

/* The error of a call refused because it came from inside a callback of the same device. */
static vb_result vb__busy_error(vb_error *err)
{
    vb__generic_error(err, "device busy: called from inside one of its callbacks");
    return VB_ERR_STATE;
}

VB_API vb_result vb_set_poll_interval(vb_device *d, int64_t seconds, vb_error *err)
{
    vb_result r = vb__interval_check(seconds, err);
    if (r == VB_OK && vb__reentered(d)) return vb__busy_error(err);
    return r != VB_OK ? r : vb_set_poll_interval_ms(d, (uint64_t)seconds * 1000u);
}

VB_API int64_t vb_poll_interval(const vb_device *d) { return (int64_t)((d->interval_ms + 999u) / 1000u); }
VB_API uint64_t vb_poll_interval_ms(const vb_device *d) { return d->interval_ms; }

/* ============================================================================================
   LAYER 4: THE DEVICE (lifecycle, features, status, queues, notifications, config space, resets)
   ============================================================================================ */

VB_API const char *vb_version_string(void) { return VB_VERSION_STRING; }

VB_API const char *vb_result_str(vb_result r)
{
    switch (r) {
    case VB_OK: return "ok";
    case VB_ERR_ARG: return "invalid argument";
    case VB_ERR_NOT_FOUND: return "not found";
    case VB_ERR_READ_ONLY: return "read-only";
    case VB_ERR_TYPE: return "wrong type";
    case VB_ERR_RANGE: return "out of range";
    case VB_ERR_NO_DATA: return "no data yet";
    case VB_ERR_FORMAT: return "malformed input";
    case VB_ERR_STATE: return "wrong state";
    }
    return "unknown result";
}

VB_API vb_config vb_config_default(void)
{
    vb_config c;
    VB_MEMSET(&c, 0, sizeof c);
    return c;
}

/* Profile, queue size (a power of two; >= 32 for reporting) and options (one numbering). */
static int vb__config_ok(const vb_config *cfg, unsigned qsize)
{
    unsigned options = cfg->options;
    if (cfg->profile != VB_PROFILE_DOC && cfg->profile != VB_PROFILE_QEMU) return 0;
    if (qsize > VB_QUEUE_SIZE_MAX || (qsize & (qsize - 1u)) || options > 0x7ffu) return 0;
    if ((!VB__PACKED_BUILD && (options & VB_OPT_RING_PACKED)) ||
        (!VB__HINT_BUILD && (options & VB_OPT_FREE_PAGE_HINT)) ||
        (!VB__REPORTING_BUILD && (options & VB_OPT_REPORTING)) ||
        (!VB__GUEST_BE_BUILD && (options & VB_OPT_GUEST_BIG_ENDIAN)))
        return 0; /* compiled out */
    if ((options & VB_OPT_QUEUES_OFFERED) && (options & VB_OPT_QUEUES_FIXED)) return 0;
    return !(options & VB_OPT_REPORTING) || qsize >= VB_REPORTING_QUEUE_MIN;
}

VB_API vb_result vb_init(vb_device *d, const vb_config *cfg, const vb_host *host, void *user)
{
    const vb_config defaults = vb_config_default();
    unsigned i, keys, qsize;
    if (!d || !host || (!host->map && (!host->read || !host->write)) || !host->notify_queue ||
        !host->notify_config)
        return VB_ERR_ARG;
    if (!cfg) cfg = &defaults;
    keys = cfg->stat_keys ? cfg->stat_keys : (unsigned)VB_STAT_COUNT;
    qsize = cfg->queue_size ? cfg->queue_size : (unsigned)VB_QUEUE_SIZE_DEFAULT;
    if (!vb__key_order(keys) || !vb__config_ok(cfg, qsize)) return VB_ERR_ARG;
    VB_MEMSET(d, 0, sizeof *d);
    d->host = host;
    d->user = user;
    d->profile = (uint8_t)cfg->profile;
    d->stat_keys = (uint8_t)keys;
    d->queue_size_max = (uint16_t)qsize;
    d->options = (uint16_t)cfg->options;
    d->hint.cmd_id = VB__HINT_ID_MIN;
    d->ram_size = cfg->ram_size;
    d->type_name = cfg->type_name ? cfg->type_name : "virtio-balloon-pci";
    d->stale_after = cfg->stale_after ? cfg->stale_after : 3u;
    for (i = 0; i < VB_QUEUE_MAX; i++) vb__queue_clear(d, &d->queue[i]);
    vb__features_changed(d);
    vb__stats_clear(d);
    if (cfg->poll_interval_s) vb_set_poll_interval_ms(d, (uint64_t)cfg->poll_interval_s * 1000u);
    return VB_OK;
}

VB_API void vb_destroy(vb_device *d)
{
    if (!vb__reentered(d)) vb__disarm(d);
}

VB_API uint64_t vb_host_features(const vb_device *d)
{
    uint64_t f = (uint64_t)1 << VB_F_STATS_VQ | (uint64_t)1 << VB_F_VERSION_1;
    if (!(d->options & VB_OPT_NO_EVENT_IDX)) f |= (uint64_t)1 << VB_F_RING_EVENT_IDX;
    if (!(d->options & VB_OPT_NO_INDIRECT)) f |= (uint64_t)1 << VB_F_RING_INDIRECT_DESC;
    if (d->options & VB_OPT_MUST_TELL_HOST) f |= (uint64_t)1 << VB_F_MUST_TELL_HOST;
    if (d->options & VB_OPT_DEFLATE_ON_OOM) f |= (uint64_t)1 << VB_F_DEFLATE_ON_OOM;
    if (d->options & VB_OPT_FREE_PAGE_HINT) f |= (uint64_t)1 << VB_F_FREE_PAGE_HINT;
    if (d->options & VB_OPT_PAGE_POISON) f |= (uint64_t)1 << VB_F_PAGE_POISON;
    if (d->options & VB_OPT_REPORTING) f |= (uint64_t)1 << VB_F_REPORTING;
    if (d->options & VB_OPT_RING_PACKED) f |= (uint64_t)1 << VB_F_RING_PACKED;
    return f;
}

/* Queue numbering: the roles whose queue exists (bit VB_QUEUE_*), over the features that
   number them: inflate and deflate always; stats if negotiated, or if no later queue is (its
   index is kept); then hinting, reporting. */
static unsigned vb__roles_of(const vb_device *d)
{
    uint64_t f = (d->options & VB_OPT_QUEUES_FIXED)     ? ~(uint64_t)0
                 : (d->options & VB_OPT_QUEUES_OFFERED) ? vb_host_features(d)
                                                        : d->driver_features;
    unsigned hinting = (unsigned)(f >> VB_F_FREE_PAGE_HINT) & 1u, reporting = (unsigned)(f >> VB_F_REPORTING) & 1u;
    unsigned stats = ((unsigned)(f >> VB_F_STATS_VQ) & 1u) | ((hinting | reporting) ^ 1u);
    return 1u << VB_QUEUE_INFLATE | 1u << VB_QUEUE_DEFLATE | stats << VB_QUEUE_STATS |
           hinting << VB_QUEUE_FREE_PAGE | reporting << VB_QUEUE_REPORTING;
}

/* What follows from the driver's features (or the options, at vb_init), kept for the hot path:
   the guest's byte order, and the numbering as two tables: a queue's role by index and a role's
   index, VB__NO_QUEUE for none. */
#define VB__NO_QUEUE 0xFFu
static void vb__features_changed(vb_device *d)
{
    unsigned roles = vb__roles_of(d), role, n = 0;
    d->flags &= (uint16_t)~VB__GUEST_BE;
    if (VB__GUEST_BE_BUILD && (d->options & VB_OPT_GUEST_BIG_ENDIAN) && !vb__has(d, VB_F_VERSION_1))
        d->flags |= VB__GUEST_BE;
    VB_MEMSET(d->role_of, VB__NO_QUEUE, sizeof d->role_of);
    for (role = 0; role < VB_QUEUE_MAX; role++) {
        d->index_of[role] = (uint8_t)(((roles >> role) & 1u) ? n : VB__NO_QUEUE);
        if ((roles >> role) & 1u) d->role_of[n++] = (uint8_t)role;
    }
}

VB_API int vb_queue_role(const vb_device *d, unsigned qi)
{
    return qi < VB_QUEUE_MAX && d->role_of[qi] != VB__NO_QUEUE ? d->role_of[qi] : -1;
}

VB_API int vb_queue_index(const vb_device *d, unsigned role)
{
    return role < VB_QUEUE_MAX && d->index_of[role] != VB__NO_QUEUE ? d->index_of[role] : -1;
}

VB_API unsigned vb_queue_count(const vb_device *d)
{
    unsigned n = 0;
    while (n < VB_QUEUE_MAX && d->role_of[n] != VB__NO_QUEUE) n++;
    return n;
}

VB_API uint64_t vb_driver_features(const vb_device *d) { return d->driver_features; }

VB_API void vb_set_driver_features(vb_device *d, uint64_t features)
{
    uint64_t offered = vb_host_features(d), before = d->driver_features;
    if (vb__reentered(d) || (d->status & VB_S_FEATURES_OK)) return;
    d->driver_features = features & offered;
    vb__features_changed(d);
    if ((before ^ d->driver_features) >> VB_F_RING_PACKED & 1u) { /* another ring layout: */
        unsigned i;
        for (i = 0; i < VB_QUEUE_MAX; i++) vb__queue_clear(d, &d->queue[i]); /* queues set up */
        d->flags &= (uint16_t)~VB__HELD;                                     /* for the old one */
        d->more_work = 0;                                                    /* are forgotten */
    }
    /* A packed ring is a VERSION_1 layout: a driver asking for it without refuses itself. */
    if ((features & ~offered) || (vb__packed(d) && !vb__has(d, VB_F_VERSION_1))) {
        d->flags |= VB__BAD_FEATURES;
        vb__log(d, VB_LOG_BAD_FEATURES);
    } else {
        d->flags &= (uint16_t)~VB__BAD_FEATURES;
    }
}

VB_API int vb_is_broken(const vb_device *d) { return (d->flags & VB__BROKEN) != 0; }

VB_API uint8_t vb_status(const vb_device *d)
{
    int needs_reset = (d->flags & VB__BROKEN) && vb__has(d, VB_F_VERSION_1);
    return (uint8_t)(d->status | (needs_reset ? VB_S_NEEDS_RESET : 0));
}

VB_API uint16_t vb_queue_size_max(const vb_device *d) { return d->queue_size_max; }

/* A queue's size and ring addresses as vb_queue_setup takes them, for either layout: a size it
   can have and no ring wrapping past the top of the address space (every ring address is then
   base+offset without overflow, and the host sees each access at the address the guest meant),
   else VB_ERR_RANGE; then rings aligned, else VB_ERR_ARG. */
static vb_result vb__rings_check(int packed, uint64_t desc, uint64_t avail, uint64_t used, uint16_t size, uint16_t max)
{
    uint64_t avail_len = packed ? 4u : 6u + 2u * (uint64_t)size, used_len = packed ? 4u : 6u + 8u * (uint64_t)size;
    if (size == 0 || size > max || (!packed && (size & (size - 1u))) || desc > UINT64_MAX - 16u * (uint64_t)size ||
        avail > UINT64_MAX - avail_len || used > UINT64_MAX - used_len)
        return VB_ERR_RANGE;
    return (desc & 15u) || (avail & (packed ? 3u : 1u)) || (used & 3u) ? VB_ERR_ARG : VB_OK;
}

VB_API vb_result vb_queue_setup(vb_device *d, unsigned qi, uint16_t size, uint64_t desc,
                                 uint64_t avail, uint64_t used)
{
    vb_queue *q;
    vb_result r;
    int role = vb_queue_role(d, qi);
    if (vb__reentered(d)) return VB_ERR_STATE;
    if (role < 0) return VB_ERR_ARG;
    q = &d->queue[role];
    if (q->ready) return VB_ERR_STATE;
    if ((r = vb__rings_check(vb__packed(d), desc, avail, used, size, d->queue_size_max)) != VB_OK) return r;
    q->size = size;
    q->desc = desc;
    q->avail = avail;
    q->used = used;
    return VB_OK;
}

VB_API vb_result vb_queue_set_base(vb_device *d, unsigned qi, uint16_t last_avail)
{
    int role = vb_queue_role(d, qi);
    if (vb__reentered(d)) return VB_ERR_STATE;
    if (role < 0) return VB_ERR_ARG;
    if (d->queue[role].ready) return VB_ERR_STATE;
    if (vb__packed(d)) {
        vb_queue *q = &d->queue[role];
        if ((last_avail & (VB__LAP - 1u)) >= q->size) return VB_ERR_RANGE;
        q->last_avail = q->shadow_avail = q->used_idx = (uint16_t)(last_avail ^ VB__LAP);
        return VB_OK;
    }
    d->queue[role].last_avail = d->queue[role].shadow_avail = last_avail;
    return VB_OK;
}

VB_API const vb_queue *vb_queue_state(const vb_device *d, unsigned qi)
{
    int role = vb_queue_role(d, qi);
    return role < 0 ? 0 : &d->queue[role];
}

VB_API uint16_t vb_queue_base(const vb_device *d, unsigned qi)
{
    const vb_queue *q = vb_queue_state(d, qi);
    if (!q) return 0;
    return vb__packed(d) ? (uint16_t)(q->last_avail ^ VB__LAP) : q->last_avail;
}

VB_API int vb_queue_ready(const vb_device *d, unsigned qi)
{
    const vb_queue *q = vb_queue_state(d, qi);
    return q && q->ready;
}

VB_API vb_result vb_queue_set_ready(vb_device *d, unsigned qi, int ready)
{
    vb_queue *q;
    int role = vb_queue_role(d, qi);
    if (vb__reentered(d)) return VB_ERR_STATE;
    if (role < 0) return VB_ERR_ARG;
    q = &d->queue[role];
    if (!ready) {
        if (role == VB_QUEUE_STATS && (d->flags & VB__HELD)) { /* un-pop it: a restart re-reads it */
            d->flags &= (uint16_t)~VB__HELD;
            q->last_avail = vb__packed(d) ? q->used_idx : (uint16_t)(q->last_avail - 1u);
        }
        q->shadow_avail = q->last_avail;
        q->ready = 0;
        q->desc_map = q->used_map = 0;
        q->avail_map = 0;
        d->more_work &= (uint8_t)~(1u << role);
        return VB_OK;
    }
    if (q->ready) return VB_OK;
    vb__queue_map(d, q);
    if (vb__packed(d)) { /* nothing in flight; the driver may kick */
        q->used_idx = q->signalled_used = q->shadow_avail = q->last_avail;
        q->signalled_valid = 0;
        q->ready = 1;
        if ((q->last_avail & (VB__LAP - 1u)) >= q->size)
            vb_break(d, VB_LOG_HEAD_RANGE);
        else if (!(d->flags & VB__BROKEN))
            vb__packed_kicks(d, q, 1);
        return VB_OK;
    }
    if (!(d->flags & VB__BROKEN)) {
        /* Resume from the guest's used index: in flight = last_avail - used must fit. */
        int32_t used = vb__ring_ld16(d, q->used_map ? q->used_map + VB__RING_IDX : 0,
                                     q->used + VB__RING_IDX, vb__guest_be(d));
        if (used < 0) {
            vb_break(d, VB_LOG_RING_MEMORY);
        } else {
            q->used_idx = q->signalled_used = (uint16_t)used;
            q->signalled_valid = 0;
            if ((uint16_t)(q->last_avail - q->used_idx) > q->size) vb_break(d, VB_LOG_QUEUE_OVERRUN);
        }
    }
    q->shadow_avail = q->last_avail;
    q->ready = 1;
    return VB_OK;
}

VB_API void vb_memory_changed(vb_device *d)
{
    unsigned i;
    if (vb__reentered(d)) return;
    for (i = 0; i < VB_QUEUE_MAX; i++)
        if (d->queue[i].ready) vb__queue_map(d, &d->queue[i]);
}

VB_API uint32_t vb_config_size(const vb_device *d)
{
    uint64_t f = vb_host_features(d); /* QEMU's virtio_balloon_config_size */
    if ((f >> VB_F_PAGE_POISON) & 1u) return VB_CONFIG_SIZE_MAX;
    return ((f >> VB_F_FREE_PAGE_HINT) & 1u) ? 12u : (uint32_t)VB_CONFIG_SIZE;
}

VB_API uint32_t vb_poison_value(const vb_device *d) { return d->poison_val; }

/* The config space as the driver sees it; the cmd id is STOP 0, DONE 1, else the id. */
static void vb__config_bytes(const vb_device *d, unsigned char cfg[VB_CONFIG_SIZE_MAX])
{
    vb_hint_status st = d->hint.status;
    vb__st32(cfg, d->num_pages, 0);
    vb__st32(cfg + 4, d->actual, 0);
    vb__st32(cfg + 8, st == VB_HINT_STOP ? 0u : st == VB_HINT_DONE ? 1u : d->hint.cmd_id, 0);
    vb__st32(cfg + 12, d->poison_val, 0);
}

VB_API void vb_config_read(const vb_device *d, uint32_t offset, void *buf, uint32_t len)
{
    unsigned char cfg[VB_CONFIG_SIZE_MAX], *out = (unsigned char *)buf;
    uint32_t i, size = vb_config_size(d);
    vb__config_bytes(d, cfg);
    for (i = 0; i < len; i++) out[i] = (offset < size && i < size - offset) ? cfg[offset + i] : 0;
}

static void vb__actual_changed(vb_device *d)
{
    if (!d->host->actual_changed) return;
    vb__enter(d);
    d->host->actual_changed(d->user, d->actual);
    vb__leave(d);
}

VB_API void vb_config_write(vb_device *d, uint32_t offset, const void *buf, uint32_t len)
{
    const unsigned char *in = (const unsigned char *)buf;
    unsigned char cfg[VB_CONFIG_SIZE_MAX];
    uint32_t i, actual, size = vb_config_size(d);
    if (vb__reentered(d)) return;
    vb__config_bytes(d, cfg);
    for (i = 0; i < len && offset < size && i < size - offset; i++)
        if ((offset + i) / 4u == 1u || (offset + i) / 4u == 3u) cfg[offset + i] = in[i]; /* actual, poison */
    d->poison_val = vb__has(d, VB_F_PAGE_POISON) ? vb__ld32(cfg + 12, 0) : 0; /* as QEMU */
    actual = vb__ld32(cfg + 4, 0);
    if (actual != d->actual) {
        d->actual = actual;
        vb__actual_changed(d);
    }
}

VB_API uint8_t vb_config_generation(const vb_device *d) { return d->config_generation; }

VB_API void vb_set_target_pages(vb_device *d, uint32_t num_pages)
{
    /* Like virtio_balloon_to_target: the driver is told even if the target did not change. */
    if (vb__reentered(d)) return;
    d->num_pages = num_pages;
    d->config_generation++;
    if (d->status & VB_S_DRIVER_OK) vb__notify_config(d);
}

VB_API uint32_t vb_target_pages(const vb_device *d) { return d->num_pages; }
VB_API void vb_set_ram_size(vb_device *d, uint64_t bytes)
{
    if (!vb__reentered(d)) d->ram_size = bytes;
}
VB_API uint64_t vb_ram_size(const vb_device *d) { return d->ram_size; }
VB_API uint32_t vb_actual_pages(const vb_device *d) { return d->actual; }

VB_API int vb_queue_notify(vb_device *d, unsigned qi)
{
    int role = vb_queue_role(d, qi);
    if (vb__reentered(d) || role < 0 || (d->flags & VB__BROKEN)) return vb_more_work(d);
    if (!d->queue[role].ready) {
        vb__log(d, VB_LOG_QUEUE_NOT_READY);
        return vb_more_work(d);
    }
    if (role == VB_QUEUE_STATS)
        vb__stats_kick(d); /* one buffer per notification, as QEMU */
    else
        vb__page_queue_work(d, (unsigned)role);
    return vb_more_work(d);
}

VB_API void vb_reset(vb_device *d)
{
    unsigned i;
    if (vb__reentered(d)) return;
    /* The held buffer is un-popped, not used: the rings are reinitialised below anyway (and
       an answer to a poll can no longer come). */
    d->flags &= (uint16_t)~(VB__HELD | VB__BROKEN | VB__BAD_FEATURES | VB__POLLED);
    d->more_work = 0;
    d->status = 0;
    d->driver_features = 0;
    vb__features_changed(d);
    d->poison_val = 0;
    d->hint.status = VB_HINT_STOP; /* QEMU's stop at reset; the ids go on */
    for (i = 0; i < VB_QUEUE_MAX; i++) vb__queue_clear(d, &d->queue[i]);
}

VB_API void vb_set_status(vb_device *d, uint8_t status)
{
    if (vb__reentered(d)) return;
    if (status == 0) {
        vb_reset(d);
        return;
    }
    if ((status & VB_S_FEATURES_OK) && (d->flags & VB__BAD_FEATURES))
        status &= (uint8_t)~VB_S_FEATURES_OK; /* the driver reads it back and gives up */
    d->status = (uint8_t)(status & ~VB_S_NEEDS_RESET);
    if (status & VB_S_DRIVER_OK) vb__stats_rewind(d);
}

VB_API void vb_machine_reset(vb_device *d, int wakeup)
{
    if (vb__reentered(d) || wakeup) return; /* S3 resume keeps everything (RESET_TYPE_WAKEUP) */
    vb_reset(d);
    vb__stats_clear(d);
    vb__telemetry_clear(d);
    if (d->actual) { /* a rebooted guest holds no balloon pages (QEMU keeps the stale value) */
        d->actual = 0;
        vb__actual_changed(d);
    }
}

/* ============================================================================================
   LAYER 5: RENDERING (guest-stats JSON, error text and Prometheus metrics, snprintf-style, no
   allocation)
   ============================================================================================ */

typedef struct vb__out {
    char *buf;
    size_t cap;
    size_t len; /* characters produced so far, also those that did not fit */
} vb__out;

static void vb__out_init(vb__out *o, char *buf, size_t cap)
{
    o->buf = buf;
    o->cap = buf ? cap : 0;
    o->len = 0;
}

static void vb__put(vb__out *o, const char *s, size_t n)
{
    size_t i;
    if (o->len < o->cap && n < o->cap - o->len) { /* fits, NUL included: the usual case */
        VB_MEMCPY(o->buf + o->len, s, n);
        o->len += n;
        return;
    }
    for (i = 0; i < n; i++, o->len++)
        if (o->len + 1 < o->cap) o->buf[o->len] = s[i];
}

static void vb__puts(vb__out *o, const char *s) { vb__put(o, s, vb__strlen(s)); }

static void vb__put_u64(vb__out *o, uint64_t v)
{
    static const char pairs[] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                "8081828384858687888990919293949596979899";
    char tmp[20];
    size_t n = sizeof tmp;
    while (v >= 10u) { /* two digits per division: half the 64-bit divisions */
        const size_t r = (size_t)(v % 100u);
        v /= 100u;
        n -= 2;
        tmp[n] = pairs[2 * r];
        tmp[n + 1] = pairs[2 * r + 1];
    }
    if (v || n == sizeof tmp) tmp[--n] = (char)('0' + (int)v); /* a single digit left, or 0 */
    vb__put(o, tmp + n, sizeof tmp - n);
}

static void vb__put_i64(vb__out *o, int64_t v)
{
    if (v < 0) {
        vb__put(o, "-", 1);
        vb__put_u64(o, (uint64_t)0 - (uint64_t)v);
    } else {
        vb__put_u64(o, (uint64_t)v);
    }
}

/* Unicode noncharacters, which QEMU refuses: U+FDD0..U+FDEF and U+xxFFFE/F. */
static int vb__nonchar(uint32_t cp) { return (cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFEu) == 0xFFFEu; }

/* One modified UTF-8 sequence at p (n > 0 bytes), as QEMU's mod_utf8_codepoint reads it: *used
   bytes (1 for a byte that cannot start one; the continuation bytes present for one cut short)
   and 1 if it is a valid character *cp (not overlong except C0 80 for U+0000, not a surrogate,
   not a noncharacter, at most U+10FFFF). */
static int vb__utf8(const unsigned char *p, size_t n, uint32_t *cp, size_t *used)
{
    static const uint32_t min_cp[9] = {0, 0, 0x80, 0x800, 0x10000, 0x200000, 0x4000000, 0, 0}; /* by length */
    uint32_t c = p[0], mask, len = 0, i;
    *used = 1;
    *cp = c;
    if (c < 0x80) return 1;
    if (c >= 0xFE || !(c & 0x40u)) return 0;
    for (mask = 0x80; c & mask; mask >>= 1) len++;
    c &= mask - 1;
    for (i = 1; i < len; i++) {
        if (i >= n || (p[i] & 0xC0u) != 0x80u) return 0;
        c = c << 6 | (p[i] & 0x3Fu);
        ++*used;
    }
    *cp = c;
    return c <= 0x10FFFF && !vb__nonchar(c) && !(c >= 0xD800 && c <= 0xDFFF) &&
           (c >= min_cp[len] || (c == 0 && len == 2));
}

/* JSON string contents the way QEMU's json-writer escapes them. */
static void vb__put_cp(vb__out *o, uint32_t cp)
{
    static const char hex[] = "0123456789ABCDEF"; /* upper case, as QEMU */
    char u[6];
    switch (cp) {
    case '"': vb__put(o, "\\\"", 2); return;
    case '\\': vb__put(o, "\\\\", 2); return;
    case 8: vb__put(o, "\\b", 2); return;
    case 12: vb__put(o, "\\f", 2); return;
    case 10: vb__put(o, "\\n", 2); return;
    case 13: vb__put(o, "\\r", 2); return;
    case 9: vb__put(o, "\\t", 2); return;
    default: break;
    }
    if (cp >= 0x20 && cp < 0x7F) {
        u[0] = (char)cp;
        vb__put(o, u, 1);
        return;
    }
    if (cp > 0xFFFF) { /* a surrogate pair */
        cp -= 0x10000u;
        vb__put_cp(o, 0xD800u + (cp >> 10));
        cp = 0xDC00u + (cp & 0x3FFu);
    }
    u[0] = '\\';
    u[1] = 'u';
    u[2] = hex[(cp >> 12) & 15u];
    u[3] = hex[(cp >> 8) & 15u];
    u[4] = hex[(cp >> 4) & 15u];
    u[5] = hex[cp & 15u];
    vb__put(o, u, 6);
}

/* UTF-8 bytes as the inside of a JSON string (each malformed sequence becomes U+FFFD). */
static void vb__put_utf8(vb__out *o, const char *p, size_t n)
{
    while (n) {
        uint32_t cp;
        size_t k;
        if (!vb__utf8((const unsigned char *)p, n, &cp, &k)) cp = 0xFFFD;
        vb__put_cp(o, cp);
        p += k;
        n -= k;
    }
}

#ifndef VB_NO_PROPS /* (QMP too) */
static void vb__put_str(vb__out *o, const char *lit)
{
    vb__put(o, "\"", 1);
    vb__put_utf8(o, lit, vb__strlen(lit));
    vb__put(o, "\"", 1);
}
#endif

/* NUL-terminate (as much as fits) and return the full length. */
static size_t vb__out_end(vb__out *o)
{
    if (o->cap) o->buf[o->len < o->cap ? o->len : o->cap - 1] = 0;
    return o->len;
}

/* QEMU's json-writer layout: compact `{"k": v, "k2": v2}`; pretty puts each member on its own
   line indented by 4 spaces per level and the closing brace at the outer level. */
static void vb__newline(vb__out *o, unsigned flags, unsigned level)
{
    if (!(flags & VB_JSON_PRETTY)) return;
    vb__put(o, "\n", 1);
    while (level--) vb__put(o, "    ", 4);
}

/* Between two members: "," then the pretty newline, or ", " in compact form. */
static void vb__sep(vb__out *o, unsigned flags)
{
    vb__put(o, ", ", (flags & VB_JSON_PRETTY) ? 1u : 2u);
}

static void vb__member(vb__out *o, unsigned flags, unsigned level, int first, const char *key)
{
    char b[64];
    const size_t k = vb__strlen(key);
    if (!(flags & VB_JSON_PRETTY) && k <= sizeof b - 6) { /* one put: [", "]"key": */
        size_t n = 0;
        if (!first) {
            b[n++] = ',';
            b[n++] = ' ';
        }
        b[n++] = '"';
        VB_MEMCPY(b + n, key, k);
        n += k;
        b[n++] = '"';
        b[n++] = ':';
        b[n++] = ' ';
        vb__put(o, b, n);
        return;
    }
    if (!first) vb__sep(o, flags);
    vb__newline(o, flags, level);
    vb__put(o, "\"", 1);
    vb__puts(o, key);
    vb__put(o, "\": ", 3);
}

static void vb__close(vb__out *o, unsigned flags, unsigned level)
{
    vb__newline(o, flags, level);
    vb__put(o, "}", 1);
}

/* `guest-stats` at nesting `level` (the opening brace is already in position). */
static void vb__render_stats(const vb_device *d, vb__out *o, unsigned flags, unsigned level)
{
    const unsigned char *order = vb__key_order(d->stat_keys);
    unsigned i;
    vb__put(o, "{", 1);
    vb__member(o, flags, level + 1, 1, "stats");
    vb__put(o, "{", 1);
    for (i = 0; i < d->stat_keys; i++) {
        uint64_t v = d->stat[order[i]];
        vb__member(o, flags, level + 2, i == 0, vb__stat_names[order[i]]);
        if (d->profile == VB_PROFILE_DOC)
            vb__put_i64(o, (int64_t)v); /* the 2013 visitor: int64, so unset is -1 */
        else
            vb__put_u64(o, v);
    }
    vb__close(o, flags, level + 1);
    vb__member(o, flags, level + 1, 0, "last-update");
    vb__put_i64(o, d->last_update);
    vb__close(o, flags, level);
}

#ifndef VB_NO_PROPS
/* `x-guest-stats-telemetry` (vb_telemetry) at nesting `level`. last-stats-ms and age-ms are -1
   before the first buffer, as an unset stat in the document's profile. */
static void vb__render_telemetry(const vb_device *d, vb__out *o, unsigned flags, unsigned level)
{
    static const char *const counts[] = {"missed-intervals", "stale-episodes", "answers",
                                         "late-answers", "last-poll-ms", "last-records",
                                         "last-unknown-tags"};
    static const char *const latency[] = {"last", "min", "max", "sum", "within-1", "within-4",
                                          "within-16", "within-64", "within-256", "within-1024",
                                          "within-4096", "slower"};
    const vb_telemetry *t = &d->tele;
    const uint64_t count[] = {t->missed, t->stale_count, t->answers, t->late, t->last_poll_ms,
                              t->last_records, t->last_unknown};
    const uint64_t lat[] = {t->latency_last_ms, t->latency_min_ms, t->latency_max_ms, t->latency_sum_ms};
    uint64_t age = vb_stats_age_ms(d);
    unsigned i;
    vb__put(o, "{", 1);
    vb__member(o, flags, level + 1, 1, "stale");
    vb__puts(o, t->stale ? "true" : "false");
    for (i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        vb__member(o, flags, level + 1, 0, counts[i]);
        vb__put_u64(o, count[i]);
    }
    vb__member(o, flags, level + 1, 0, "last-stats-ms");
    vb__put_i64(o, t->has_stats ? (int64_t)t->last_stats_ms : -1);
    vb__member(o, flags, level + 1, 0, "age-ms");
    vb__put_i64(o, age == UINT64_MAX ? -1 : (int64_t)age);
    vb__member(o, flags, level + 1, 0, "latency-ms");
    vb__put(o, "{", 1);
    for (i = 0; i < sizeof latency / sizeof latency[0]; i++) {
        vb__member(o, flags, level + 2, i == 0, latency[i]);
        vb__put_u64(o, i < 4 ? lat[i] : t->latency_buckets[i - 4]);
    }
    vb__close(o, flags, level + 1);
    vb__close(o, flags, level);
}
#endif /* VB_NO_PROPS */

VB_API size_t vb_render_guest_stats(const vb_device *d, char *buf, size_t cap, unsigned flags)
{
    vb__out o;
    vb__out_init(&o, buf, cap);
    vb__render_stats(d, &o, flags, 0);
    return vb__out_end(&o);
}

/* The error's text: raw, or escaped as the inside of a JSON string (QMP's replies; a build
   without QMP leaves the escaping out: the constant lets the compiler drop what it takes). */
#ifdef VB_NO_QMP
#define VB__QMP_BUILD 0
#else
#define VB__QMP_BUILD 1
#endif
static void vb__put_error_text(vb__out *o, const vb_error *e, int json)
{
    unsigned i;
    for (i = 0; i < 3; i++) {
        if (e->part[i]) (VB__QMP_BUILD && json ? vb__put_utf8 : vb__put)(o, e->part[i], vb__strlen(e->part[i]));
        if (i < 2 && e->arg[i]) (VB__QMP_BUILD && json ? vb__put_utf8 : vb__put)(o, e->arg[i], e->arg_len[i]);
    }
}

VB_API size_t vb_error_text(const vb_error *e, char *buf, size_t cap)
{
    vb__out o;
    vb__out_init(&o, buf, cap);
    if (e) vb__put_error_text(&o, e, 0);
    return vb__out_end(&o);
}

/* ---- Prometheus / OpenMetrics text ------------------------------------------------------- */
#ifndef VB_NO_METRICS

/* A metric family: its name (without _total), HELP, type and where the value comes from. */
enum { VB__M_GAUGE, VB__M_COUNTER, VB__M_HISTOGRAM };
enum { VB__M_STAT, VB__M_LAST_UPDATE, VB__M_ACTUAL, VB__M_TARGET, VB__M_INTERVAL, VB__M_BROKEN,
       VB__M_STALE, VB__M_MISSED, VB__M_AGE, VB__M_RECORDS, VB__M_LATENCY, VB__M_LATENCY_LAST,
       VB__M_TELEMETRY, VB__M_COUNTS, VB__M_RANGE_BYTES, VB__M_IGNORED_BYTES };

typedef struct vb__family {
    const char *name;
    const char *help;
    unsigned char type;   /* VB__M_GAUGE, _COUNTER (sample name + "_total"), _HISTOGRAM */
    unsigned char source; /* VB__M_STAT ... */
    unsigned char arg;    /* the stat's tag, or which counter */
} vb__family;

/* The names libvirt's Prometheus exporters use for the same meaning where they have one
   (libvirt's "available" is the guest's total memory and its "usable" is MemAvailable), the
   Prometheus conventions (base units, _total) otherwise. Order of the stats: by tag. */
static const vb__family vb__families[] = {
    {"libvirt_domain_memory_stats_swap_in_bytes", "Memory swapped in by the guest (stat-swap-in).", VB__M_COUNTER, VB__M_STAT, 0},
    {"libvirt_domain_memory_stats_swap_out_bytes", "Memory swapped out by the guest (stat-swap-out).", VB__M_COUNTER, VB__M_STAT, 1},
    {"libvirt_domain_memory_stats_major_fault", "Guest page faults that needed I/O (stat-major-faults).", VB__M_COUNTER, VB__M_STAT, 2},
    {"libvirt_domain_memory_stats_minor_fault", "Guest page faults without I/O (stat-minor-faults).", VB__M_COUNTER, VB__M_STAT, 3},
    {"libvirt_domain_memory_stats_unused_bytes", "Guest memory left completely unused (stat-free-memory).", VB__M_GAUGE, VB__M_STAT, 4},
    {"libvirt_domain_memory_stats_available_bytes", "Guest memory the guest can use in all (stat-total-memory).", VB__M_GAUGE, VB__M_STAT, 5},
    {"libvirt_domain_memory_stats_usable_bytes", "Guest memory available without swapping, MemAvailable (stat-available-memory).", VB__M_GAUGE, VB__M_STAT, 6},
    {"libvirt_domain_memory_stats_disk_cache_bytes", "Guest memory in reclaimable disk caches (stat-disk-caches).", VB__M_GAUGE, VB__M_STAT, 7},
    {"libvirt_domain_memory_stats_hugetlb_pgalloc", "Guest huge page allocations (stat-htlb-pgalloc).", VB__M_COUNTER, VB__M_STAT, 8},
    {"libvirt_domain_memory_stats_hugetlb_pgfail", "Guest huge page allocation failures (stat-htlb-pgfail).", VB__M_COUNTER, VB__M_STAT, 9},
    {"vballoon_guest_oom_kills", "Processes the guest's OOM killer killed (stat-oom-kills).", VB__M_COUNTER, VB__M_STAT, 10},
    {"vballoon_guest_alloc_stalls", "Guest allocations that stalled for reclaim (stat-alloc-stalls).", VB__M_COUNTER, VB__M_STAT, 11},
    {"vballoon_guest_async_scans", "Pages the guest's kswapd scanned (stat-async-scans).", VB__M_COUNTER, VB__M_STAT, 12},
    {"vballoon_guest_direct_scans", "Pages the guest scanned in direct reclaim (stat-direct-scans).", VB__M_COUNTER, VB__M_STAT, 13},
    {"vballoon_guest_async_reclaims", "Pages the guest's kswapd reclaimed (stat-async-reclaims).", VB__M_COUNTER, VB__M_STAT, 14},
    {"vballoon_guest_direct_reclaims", "Pages the guest reclaimed directly (stat-direct-reclaims).", VB__M_COUNTER, VB__M_STAT, 15},
    {"vballoon_stats_last_update_timestamp_seconds", "Host wall-clock time of the guest's last stats (last-update).", VB__M_GAUGE, VB__M_LAST_UPDATE, 0},
    {"libvirt_domain_memory_stats_actual_balloon_bytes", "Guest RAM less the balloon, as query-balloon's actual.", VB__M_GAUGE, VB__M_ACTUAL, 0},
    {"vballoon_balloon_target_bytes", "Guest RAM less the balloon target (what actual is asked to reach).", VB__M_GAUGE, VB__M_TARGET, 0},
    {"vballoon_stats_poll_interval_seconds", "The guest-stats polling interval, 0 when polling is off.", VB__M_GAUGE, VB__M_INTERVAL, 0},
    {"vballoon_stats_stale", "1 while the stats are stale: stale_after polling intervals in a row without stats.", VB__M_GAUGE, VB__M_STALE, 0},
    {"vballoon_stats_missed_intervals", "Polling intervals in a row that ended without stats.", VB__M_GAUGE, VB__M_MISSED, 0},
    {"vballoon_stats_age_seconds", "VM time since the last stats buffer.", VB__M_GAUGE, VB__M_AGE, 0},
    {"vballoon_stats_last_buffer_records", "Records in the last stats buffer.", VB__M_GAUGE, VB__M_RECORDS, 0},
    {"vballoon_stats_last_buffer_unknown_tags", "Records with an unknown tag in the last stats buffer.", VB__M_GAUGE, VB__M_RECORDS, 1},
    {"vballoon_stats_answer_latency_seconds", "VM time from a poll to the guest's answer.", VB__M_HISTOGRAM, VB__M_LATENCY, 0},
    {"vballoon_stats_last_answer_latency_seconds", "VM time from the last answered poll to its answer.", VB__M_GAUGE, VB__M_LATENCY_LAST, 0},
    {"vballoon_stats_answers", "Stats buffers that answered a poll.", VB__M_COUNTER, VB__M_TELEMETRY, 0},
    {"vballoon_stats_late_answers", "Answers that came after a missed polling interval.", VB__M_COUNTER, VB__M_TELEMETRY, 1},
    {"vballoon_stats_stale_episodes", "Times the stats became stale.", VB__M_COUNTER, VB__M_TELEMETRY, 2},
    {"vballoon_device_broken", "1 while the device is broken by a guest error (NEEDS_RESET).", VB__M_GAUGE, VB__M_BROKEN, 0},
    {"vballoon_stats_updates", "Stats buffers the guest sent.", VB__M_COUNTER, VB__M_COUNTS, 0},
    {"vballoon_stats_polls", "Stats buffers returned to the guest to ask for new stats.", VB__M_COUNTER, VB__M_COUNTS, 1},
    {"vballoon_stats_duplicate_buffers", "Second stats buffers sent while one was held.", VB__M_COUNTER, VB__M_COUNTS, 2},
    {"vballoon_stats_unknown_tags", "Stats records with a tag the device does not know.", VB__M_COUNTER, VB__M_COUNTS, 3},
    {"vballoon_ring_errors", "Times a guest error broke the device.", VB__M_COUNTER, VB__M_COUNTS, 4},
    {"vballoon_free_page_reports", "Free page reporting buffers the guest sent.", VB__M_COUNTER, VB__M_COUNTS, 5},
    {"vballoon_free_page_hint_buffers", "Free page hinting buffers the guest sent.", VB__M_COUNTER, VB__M_COUNTS, 6},
    {"vballoon_range_bytes", "Guest memory given to the host's pages callback, by kind.", VB__M_COUNTER, VB__M_RANGE_BYTES, 0},
    {"vballoon_range_ignored_bytes", "Reported or hinted guest memory not given to the host.", VB__M_COUNTER, VB__M_IGNORED_BYTES, 0},
};

static const char *const vb__range_kind_names[VB_RANGE_KINDS] = {"inflate", "deflate", "reported", "hinted"};
/* The latency buckets' upper bounds (vb_telemetry.latency_buckets), in seconds. */
static const char *const vb__latency_le[VB_LATENCY_BUCKETS] = {"0.001", "0.004", "0.016", "0.064",
                                                               "0.256", "1.024", "4.096", "+Inf"};

static int vb__in_key_set(const vb_device *d, unsigned tag)
{
    const unsigned char *key = vb__key_order(d->stat_keys), *end = key + d->stat_keys;
    while (key < end)
        if (*key++ == tag) return 1;
    return 0;
}

/* The value of family f (sub: the range kind) on d, in the family's unit (milliseconds for
   seconds, written as seconds); 0 if d has none (a stat not sent or not in the key set, no last
   update, RAM size unknown, no stats or no answer yet). */
static int vb__metric_value(const vb_device *d, const vb__family *f, unsigned sub, uint64_t *v)
{
    const vb_counters *c = &d->counters;
    const vb_telemetry *t = &d->tele;
    const uint32_t counts[] = {c->updates, c->polls, c->duplicates, c->unknown_tags, c->ring_errors,
                               c->reports, c->hint_buffers};
    const uint32_t tele[] = {t->answers, t->late, t->stale_count};
    uint64_t pages;
    switch (f->source) {
    case VB__M_STAT:
        *v = d->stat[f->arg];
        return vb__in_key_set(d, f->arg) && *v != VB_STAT_UNSET;
    case VB__M_LAST_UPDATE: *v = (uint64_t)d->last_update; return d->last_update > 0;
    case VB__M_ACTUAL:
    case VB__M_TARGET:
        pages = (uint64_t)(f->source == VB__M_ACTUAL ? d->actual : d->num_pages) << 12;
        *v = d->ram_size > pages ? d->ram_size - pages : 0;
        return d->ram_size != 0;
    case VB__M_INTERVAL: *v = d->interval_ms; return 1;
    case VB__M_BROKEN: *v = (d->flags & VB__BROKEN) != 0; return 1;
    case VB__M_STALE: *v = t->stale; return 1;
    case VB__M_MISSED: *v = t->missed; return 1;
    case VB__M_AGE: *v = vb_stats_age_ms(d); return *v != UINT64_MAX;
    case VB__M_RECORDS: *v = f->arg ? t->last_unknown : t->last_records; return t->has_stats;
    case VB__M_LATENCY_LAST: *v = t->latency_last_ms; return t->answers != 0;
    case VB__M_TELEMETRY: *v = tele[f->arg]; return 1;
    case VB__M_COUNTS: *v = counts[f->arg]; return 1;
    case VB__M_RANGE_BYTES: *v = c->bytes[sub]; return 1;
    default: *v = c->bytes_ignored; return 1;
    }
}

static int vb__cstr_is(const char *s, const char *lit) { return vb__name_is(s, vb__strlen(s), lit); }

/* Label names as Prometheus allows them, not reserved (__*) and not the renderer's own. */
static int vb__label_name_ok(const char *s)
{
    const char *p = s;
    if (!s || !*s || (s[0] == '_' && s[1] == '_') || vb__cstr_is(s, "kind") || vb__cstr_is(s, "le"))
        return 0;
    for (; *p; p++) {
        int alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_';
        if (!alpha && !(p > s && *p >= '0' && *p <= '9')) return 0;
    }
    return 1;
}

/* The value of label `name` on m, or NULL. */
static const char *vb__label(const vb_metrics_device *m, const char *name)
{
    unsigned i;
    for (i = 0; i < m->nlabels; i++)
        if (vb__cstr_is(m->labels[i].name, name)) return m->labels[i].value;
    return 0;
}

/* One character of a label value as it is written, before escaping: malformed UTF-8 (and what
   QEMU's JSON refuses) becomes U+FFFD, so that the text is always valid UTF-8. Sets *out and
   *len to the bytes written; returns the bytes of `s` (n > 0 of them) it stands for. */
static size_t vb__label_char(const char *s, size_t n, const char **out, size_t *len)
{
    uint32_t cp;
    size_t k = 1;
    if (vb__utf8((const unsigned char *)s, n, &cp, &k) && cp) {
        *out = s;
        *len = k;
    } else {
        *out = "\xEF\xBF\xBD";
        *len = 3;
    }
    return k;
}

/* Two label values that are written the same (Prometheus sees one value). */
static int vb__label_same(const char *a, const char *b)
{
    size_t na = vb__strlen(a), nb = vb__strlen(b);
    while (na && nb) {
        const char *ca, *cb;
        size_t la, lb, ka = vb__label_char(a, na, &ca, &la), kb = vb__label_char(b, nb, &cb, &lb), i;
        for (i = 0; i < la && i < lb && ca[i] == cb[i]; i++) {}
        if (i != la || i != lb) return 0;
        a += ka;
        na -= ka;
        b += kb;
        nb -= kb;
    }
    return !na && !nb;
}

/* The labels a device's series carry: an empty value is no label (Prometheus's data model). */
static unsigned vb__labels_written(const vb_metrics_device *m)
{
    unsigned k, n = 0;
    for (k = 0; k < m->nlabels; k++) n += m->labels[k].value[0] != 0;
    return n;
}

/* Each device valid, label names valid and distinct, no two devices whose label sets are
   written the same (their series would be duplicates). */
static int vb__metrics_ok(const vb_metrics_device *m, unsigned n)
{
    unsigned i, j, k;
    if (n && !m) return 0;
    for (i = 0; i < n; i++) {
        if (!m[i].dev || (m[i].nlabels && !m[i].labels)) return 0;
        for (k = 0; k < m[i].nlabels; k++) {
            if (!vb__label_name_ok(m[i].labels[k].name) || !m[i].labels[k].value) return 0;
            if (vb__label(&m[i], m[i].labels[k].name) != m[i].labels[k].value) return 0; /* twice */
        }
        for (j = 0; j < i; j++) {
            int same = vb__labels_written(&m[i]) == vb__labels_written(&m[j]);
            for (k = 0; same && k < m[i].nlabels; k++) {
                const char *other = vb__label(&m[j], m[i].labels[k].name);
                same = !m[i].labels[k].value[0] || (other && vb__label_same(other, m[i].labels[k].value));
            }
            if (same) return 0;
        }
    }
    return 1;
}

/* A label value as vb__label_char writes it, with \ " and newline escaped. */
static void vb__put_label_value(vb__out *o, const char *s)
{
    size_t n = vb__strlen(s);
    while (n) {
        const char *c;
        size_t len, k = vb__label_char(s, n, &c, &len);
        if (*c == '\\' || *c == '"') vb__put(o, "\\", 1);
        if (*c == '\n') vb__put(o, "\\n", 2);
        else vb__put(o, c, len);
        s += k;
        n -= k;
    }
}

/* {the device's labels[,extra="value"]}, nothing when there are none; empty values left out. */
static void vb__put_labels(vb__out *o, const vb_metrics_device *m, const char *extra, const char *value)
{
    unsigned i, written = 0;
    if (!vb__labels_written(m) && !extra) return;
    vb__put(o, "{", 1);
    for (i = 0; i < m->nlabels; i++) {
        if (!m->labels[i].value[0]) continue;
        if (written++) vb__put(o, ",", 1);
        vb__puts(o, m->labels[i].name);
        vb__put(o, "=\"", 2);
        vb__put_label_value(o, m->labels[i].value);
        vb__put(o, "\"", 1);
    }
    if (extra) {
        if (written) vb__put(o, ",", 1);
        vb__puts(o, extra);
        vb__put(o, "=\"", 2);
        vb__puts(o, value);
        vb__put(o, "\"", 1);
    }
    vb__put(o, "}", 1);
}

/* One sample line: NAME[SUFFIX]{labels} VALUE, milliseconds written as seconds. */
static void vb__put_sample(vb__out *o, const char *name, const char *suffix, const vb_metrics_device *m,
                           const char *extra, const char *value, uint64_t v, int ms)
{
    vb__puts(o, name);
    vb__puts(o, suffix);
    vb__put_labels(o, m, extra, value);
    vb__put(o, " ", 1);
    vb__put_u64(o, ms ? v / 1000u : v);
    if (ms && v % 1000u) {
        char frac[4] = {'.', (char)('0' + v / 100u % 10u), (char)('0' + v / 10u % 10u), (char)('0' + v % 10u)};
        vb__put(o, frac, 4);
    }
    vb__put(o, "\n", 1);
}

/* The answer latency histogram of one device: cumulative buckets, sum and count. */
static void vb__put_latency(vb__out *o, const vb__family *f, const vb_metrics_device *m)
{
    const vb_telemetry *t = &m->dev->tele;
    uint64_t below = 0;
    unsigned b;
    for (b = 0; b < VB_LATENCY_BUCKETS; b++) {
        below += t->latency_buckets[b];
        vb__put_sample(o, f->name, "_bucket", m, "le", vb__latency_le[b], below, 0);
    }
    vb__put_sample(o, f->name, "_sum", m, 0, 0, t->latency_sum_ms, 1);
    vb__put_sample(o, f->name, "_count", m, 0, 0, t->answers, 0);
}

/* "# HELP" and "# TYPE" lines: OpenMetrics names a counter's family without "_total". */
static void vb__put_family_head(vb__out *o, const vb__family *f, int openmetrics)
{
    static const char *const types[3] = {"gauge", "counter", "histogram"};
    static const char *const what[2] = {"# HELP ", "# TYPE "};
    unsigned i;
    for (i = 0; i < 2; i++) {
        vb__puts(o, what[i]);
        vb__puts(o, f->name);
        if (f->type == VB__M_COUNTER && !openmetrics) vb__put(o, "_total", 6);
        vb__put(o, " ", 1);
        vb__puts(o, i ? types[f->type] : f->help);
        vb__put(o, "\n", 1);
    }
}

/* The samples of family f on one device; the family's head first if *head is 0. */
static void vb__put_family(vb__out *o, const vb__family *f, const vb_metrics_device *m, int om, int *head)
{
    const unsigned kinds = f->source == VB__M_RANGE_BYTES ? (unsigned)VB_RANGE_KINDS : 1u;
    const int ms = f->source == VB__M_INTERVAL || f->source == VB__M_AGE || f->source == VB__M_LATENCY_LAST;
    unsigned kind;
    if (f->type == VB__M_HISTOGRAM) {
        if (!(*head)++) vb__put_family_head(o, f, om);
        vb__put_latency(o, f, m);
        return;
    }
    for (kind = 0; kind < kinds; kind++) {
        uint64_t v;
        if (!vb__metric_value(m->dev, f, kind, &v)) continue;
        if (!(*head)++) vb__put_family_head(o, f, om);
        vb__put_sample(o, f->name, f->type == VB__M_COUNTER ? "_total" : "", m,
                       kinds > 1 ? "kind" : 0, vb__range_kind_names[kind], v, ms);
    }
}

VB_API size_t vb_render_metrics(const vb_metrics_device *devs, unsigned ndevs, char *buf,
                                size_t cap, unsigned flags)
{
    const int om = (flags & VB_METRICS_OPENMETRICS) != 0;
    vb__out o;
    unsigned f, i;
    vb__out_init(&o, buf, cap);
    if (!vb__metrics_ok(devs, ndevs)) return vb__out_end(&o);
    for (f = 0; f < sizeof vb__families / sizeof vb__families[0]; f++) {
        int head = 0;
        for (i = 0; i < ndevs; i++) vb__put_family(&o, &vb__families[f], &devs[i], om, &head);
    }
    if (om) vb__put(&o, "# EOF\n", 6);
    return vb__out_end(&o);
}

#endif /* VB_NO_METRICS */

/* ============================================================================================
   LAYER 6: CONTROL (QOM-style properties, snapshot)
   ============================================================================================ */

#ifndef VB_NO_PROPS

/* The properties, in qom-list order. */
static const char *const vb__props[][2] = {
    {"type", "string"},
    {"guest-stats", "guest statistics"},
    {"guest-stats-polling-interval", "int"},
    {"x-guest-stats-telemetry", "guest statistics telemetry"},
};

enum { VB__PROP_TYPE, VB__PROP_STATS, VB__PROP_INTERVAL, VB__PROP_TELEMETRY, VB__PROP_NONE };

static int vb__prop_find(const vb_device *d, const char *name, size_t len)
{
    int i;
    for (i = 0; i < VB__PROP_NONE; i++)
        if (vb__name_is(name, len, vb__props[i][0])) return i;
    if (d->profile == VB_PROFILE_DOC && vb__name_is(name, len, "stats-polling-interval"))
        return VB__PROP_INTERVAL; /* the document's own disable example uses this name */
    return VB__PROP_NONE;
}

static vb_result vb__prop_not_found(const vb_device *d, const char *name, size_t len, vb_error *err)
{
    vb__prop_error(err, d->type_name, name, len, "' not found");
    return VB_ERR_NOT_FOUND;
}

VB_API const char *vb_prop_type(const vb_device *d, const char *name, size_t len)
{
    int p = vb__prop_find(d, name, len);
    return p == VB__PROP_NONE ? 0 : vb__props[p][1];
}

VB_API const char *vb_prop_name(const vb_device *d, unsigned i)
{
    (void)d;
    return i < VB__PROP_NONE ? vb__props[i][0] : 0;
}

/* A property's value as JSON at nesting `level` (QMP nests it in {"return": ...}); on an
   error nothing is written. */
static vb_result vb__prop_value(const vb_device *d, const char *name, size_t len, vb__out *o,
                                unsigned flags, unsigned level, vb_error *err)
{
    switch (vb__prop_find(d, name, len)) {
    case VB__PROP_TYPE:
        vb__put_str(o, d->type_name);
        return VB_OK;
    case VB__PROP_STATS:
        if (d->profile == VB_PROFILE_DOC && !(d->flags & VB__HAS_STATS)) {
            vb__generic_error(err, "guest hasn't updated any stats yet");
            return VB_ERR_NO_DATA;
        }
        vb__render_stats(d, o, flags, level);
        return VB_OK;
    case VB__PROP_INTERVAL:
        vb__put_i64(o, vb_poll_interval(d));
        return VB_OK;
    case VB__PROP_TELEMETRY:
        vb__render_telemetry(d, o, flags, level);
        return VB_OK;
    default:
        return vb__prop_not_found(d, name, len, err);
    }
}

VB_API vb_result vb_prop_get(const vb_device *d, const char *name, size_t len, char *buf,
                              size_t cap, size_t *out_len, unsigned flags, vb_error *err)
{
    vb__out o;
    size_t n;
    vb_result r;
    vb__out_init(&o, buf, cap);
    r = vb__prop_value(d, name, len, &o, flags, 0, err);
    if (r != VB_OK) return r;
    n = vb__out_end(&o);
    if (out_len) *out_len = n;
    return VB_OK;
}

/* Whether a set would succeed; changes nothing (QMP decides its reply with it first). */
static vb_result vb__prop_set_check(const vb_device *d, const char *name, size_t len, int64_t value,
                                    vb_error *err)
{
    switch (vb__prop_find(d, name, len)) {
    case VB__PROP_INTERVAL:
        return vb__interval_check(value, err);
    case VB__PROP_STATS: /* an alias on the PCI proxy: the error names the backend's type */
        vb__prop_error(err, "virtio-balloon-device", name, len, "' is not writable");
        return VB_ERR_READ_ONLY;
    case VB__PROP_TYPE:
    case VB__PROP_TELEMETRY:
        vb__prop_error(err, d->type_name, name, len, "' is not writable");
        return VB_ERR_READ_ONLY;
    default:
        return vb__prop_not_found(d, name, len, err);
    }
}

VB_API vb_result vb_prop_set_int(vb_device *d, const char *name, size_t len, int64_t value,
                                  vb_error *err)
{
    vb_result r = vb__prop_set_check(d, name, len, value, err);
    if (r == VB_OK && vb__reentered(d)) return vb__busy_error(err);
    return r != VB_OK ? r : vb_set_poll_interval_ms(d, (uint64_t)value * 1000u);
}
#endif /* VB_NO_PROPS */

#ifndef VB_NO_SNAPSHOT
/* Snapshot blob, all little-endian (version 2; version 1 blobs, 144 bytes, still load):
     0  "VBSN" magic            4  u16 version (2)      6  u16 size (VB_SNAPSHOT_SIZE)
     8  u64 driver features    16  u8 status           17  u8 flags (bit0 broken, bit1 refused
                                                            features: FEATURES_OK is refused)
    18  u8 hint status         19  u8 reserved (0)     20  u32 num_pages      24  u32 actual
    28  u32 poison_val         32  u32 hint cmd id (>= 0x80000000)
    36  5 x 36-byte queues by role: u64 desc, avail, used; u16 size, last_avail, used_idx;
        u8 ready, 0 0 0 0 0
   216  u32 reserved (0)      220  u32 FNV-1a of bytes [0,220)
   Version 1: no hint status (byte 18 reserved: the hint is stopped), poison 0, the device's own
   ids go on; 3 queues at 28; reserved u32 at 136, FNV-1a of [0,140) at 140. */
#define VB__SNAP_V1_SIZE 144u

static uint32_t vb__fnv1a(const unsigned char *p, size_t n)
{
    uint32_t h = 2166136261u;
    while (n--) h = (h ^ *p++) * 16777619u;
    return h;
}

static void vb__st64(unsigned char *p, uint64_t v)
{
    vb__st32(p, (uint32_t)v, 0);
    vb__st32(p + 4, (uint32_t)(v >> 32), 0);
}

VB_API size_t vb_snapshot_save(const vb_device *d, void *buf, size_t cap)
{
    unsigned char *p = (unsigned char *)buf;
    unsigned i;
    if (!buf || cap < VB_SNAPSHOT_SIZE) return VB_SNAPSHOT_SIZE;
    VB_MEMSET(p, 0, VB_SNAPSHOT_SIZE);
    VB_MEMCPY(p, "VBSN", 4);
    vb__st16(p + 4, 2, 0);
    vb__st16(p + 6, VB_SNAPSHOT_SIZE, 0);
    vb__st64(p + 8, d->driver_features);
    p[16] = d->status;
    p[17] = (unsigned char)(((d->flags & VB__BROKEN) ? 1 : 0) | ((d->flags & VB__BAD_FEATURES) ? 2 : 0));
    p[18] = (unsigned char)d->hint.status;
    vb__st32(p + 20, d->num_pages, 0);
    vb__st32(p + 24, d->actual, 0);
    vb__st32(p + 28, d->poison_val, 0);
    vb__st32(p + 32, d->hint.cmd_id, 0);
    for (i = 0; i < VB_QUEUE_MAX; i++) {
        const vb_queue *q = &d->queue[i];
        unsigned char *s = p + 36u + (size_t)36u * i;
        /* A held stats buffer counts as consumed but not used: the rewind finds it. */
        vb__st64(s, q->desc);
        vb__st64(s + 8, q->avail);
        vb__st64(s + 16, q->used);
        vb__st16(s + 24, q->size, 0);
        vb__st16(s + 26, q->last_avail, 0);
        vb__st16(s + 28, q->used_idx, 0);
        s[30] = q->ready;
    }
    vb__st32(p + VB_SNAPSHOT_SIZE - 4u, vb__fnv1a(p, VB_SNAPSHOT_SIZE - 4u), 0);
    return VB_SNAPSHOT_SIZE;
}

/* The blob's version if its framing is right (magic, version, size, checksum, the reserved
   word before it), else 0. */
static unsigned vb__snap_version(const unsigned char *p, size_t len)
{
    unsigned version = len >= 8 ? vb__ld16(p + 4, 0) : 0;
    size_t size = version == 1 ? VB__SNAP_V1_SIZE : version == 2 ? (size_t)VB_SNAPSHOT_SIZE : 0;
    if (!size || len != size || vb__ld32(p, 1) != 0x5642534eu /* "VBSN" */) return 0;
    if (vb__ld16(p + 6, 0) != size || vb__ld32(p + size - 4u, 0) != vb__fnv1a(p, size - 4u)) return 0;
    return vb__ld32(p + size - 8u, 0) ? 0 : version;
}

/* The device fields: features this device offers, no NEEDS_RESET in the status, known flags
   (refused features only without FEATURES_OK, as the device keeps them), a hint status and id
   the device can have, reserved bytes zero. Returns the version, 0 if the blob is not valid. */
static unsigned vb__snap_header_ok(const vb_device *d, const unsigned char *p, size_t len)
{
    unsigned version = vb__snap_version(p, len);
    if (!version) return 0;
    if (p[17] > 3 || ((p[17] & 2) && (p[16] & VB_S_FEATURES_OK))) return 0;
    if (vb__ld64(p + 8, 0) & ~vb_host_features(d) || (p[16] & VB_S_NEEDS_RESET) || p[19]) return 0;
    if (version == 1) return p[18] ? 0 : 1;
    return p[18] <= VB_HINT_DONE && vb__ld32(p + 32, 0) >= VB__HINT_ID_MIN ? 2 : 0;
}

/* One queue record: 1 if it is a queue vb_queue_setup would take. Its indices bound the buffers
   in flight only while it runs on a healthy device: that is all the setters keep true (a stopped
   queue may hold any base, and is checked against the guest's used index when it starts), and
   a migration destination must take every state a source can be in. */
static int vb__snap_queue(const vb_device *d, const unsigned char *s, int broken, int packed, vb_queue *q)
{
    VB_MEMSET(q, 0, sizeof *q);
    q->desc = vb__ld64(s, 0);
    q->avail = vb__ld64(s + 8, 0);
    q->used = vb__ld64(s + 16, 0);
    q->size = vb__ld16(s + 24, 0);
    q->last_avail = q->shadow_avail = vb__ld16(s + 26, 0);
    q->used_idx = q->signalled_used = vb__ld16(s + 28, 0);
    q->ready = s[30];
    if (s[30] > 1 || s[31] || s[32] || s[33] || s[34] || s[35]) return 0;
    if (vb__rings_check(packed, q->desc, q->avail, q->used, q->size, d->queue_size_max) != VB_OK) return 0;
    if (packed) /* positions inside the ring, at most a ring apart, while it runs */
        return !q->ready || broken ||
               ((q->last_avail & (VB__LAP - 1u)) < q->size && (q->used_idx & (VB__LAP - 1u)) < q->size &&
                vb__packed_between(q->used_idx, q->last_avail, q->size) <= q->size);
    return !q->ready || broken || (uint16_t)(q->last_avail - q->used_idx) <= q->size;
}

VB_API vb_result vb_snapshot_load(vb_device *d, const void *buf, size_t len)
{
    const unsigned char *p = (const unsigned char *)buf;
    vb_queue q[VB_QUEUE_MAX];
    unsigned i, version, queues;

    if (vb__reentered(d)) return VB_ERR_STATE;
    if (!buf || !(version = vb__snap_header_ok(d, p, len))) return VB_ERR_FORMAT;
    queues = version == 1 ? (unsigned)VB_QUEUE_COUNT : (unsigned)VB_QUEUE_MAX;
    for (i = 0; i < VB_QUEUE_MAX; i++) {
        const unsigned char *s = p + (version == 1 ? 28u : 36u) + (size_t)36u * i;
        if (i >= queues)
            vb__queue_clear(d, &q[i]);
        else if (!vb__snap_queue(d, s, p[17] & 1, (int)(vb__ld64(p + 8, 0) >> VB_F_RING_PACKED & 1u), &q[i]))
            return VB_ERR_FORMAT;
    }
    /* Valid: now replace the state. Stats, last-update, the interval and the telemetry are
       local (a poll that was out is forgotten: its buffer is read again below). */
    d->driver_features = vb__ld64(p + 8, 0);
    d->status = p[16];
    d->flags &= (uint16_t)~(VB__HELD | VB__BROKEN | VB__BAD_FEATURES | VB__POLLED);
    if (p[17] & 1) d->flags |= VB__BROKEN;
    if (p[17] & 2) d->flags |= VB__BAD_FEATURES;
    d->num_pages = vb__ld32(p + 20, 0);
    d->actual = vb__ld32(p + 24, 0);
    d->hint.status = (vb_hint_status)p[18];
    d->poison_val = version == 1 ? 0 : vb__ld32(p + 28, 0);
    if (version == 2) d->hint.cmd_id = vb__ld32(p + 32, 0);
    VB_MEMCPY(d->queue, q, sizeof q);
    vb__features_changed(d);
    vb_memory_changed(d);
    d->more_work = 0;
    for (i = 0; i < VB_QUEUE_MAX; i++) /* look at every running page queue */
        if (i != VB_QUEUE_STATS && q[i].ready) d->more_work |= (uint8_t)(1u << i);
    vb__rearm(d);          /* virtio_balloon_post_load_device */
    vb__stats_rewind(d);   /* and, as the VM starts, the rewind of set_status */
    return VB_OK;
}
#endif /* VB_NO_SNAPSHOT */

#ifndef VB_NO_QMP
/* ============================================================================================
   LAYER 7: QMP (QEMU's JSON lexer, streamer and parser, bounded and allocation-free, and QEMU's
   dispatcher). A message ends where QEMU's streamer ends it and is validated once, token by
   token, as QEMU's parser would (repeated keys included); members are then found by walking the
   valid text. An echoed value is written as QEMU's json-writer writes the QObject it parsed:
   numbers re-read (int64, uint64, else strtod) and printed with "%.17g", objects in QDict
   order; the numbers section does both conversions exactly, in integers.
   ============================================================================================ */

typedef vb_qmp_span vb__span; /* [at, end) of the input; a string's span includes its quotes */

/* QEMU's limits per message (json-streamer.c): token bytes, tokens, open brackets. */
#define VB__JSON_MAX_SIZE ((uint64_t)64 << 20)
#define VB__JSON_MAX_TOKENS ((uint64_t)2 << 20)
#define VB__JSON_MAX_DEPTH 1024
/* Work of our own, as QEMU needs none (its parser builds a hash table per object; this one
   keeps no memory per member and walks the earlier members again): bytes walked to look for
   repeated keys in one message, and to put the objects of one "id" in QDict order when it is
   echoed. A message over either limit gets a parse error of its own (VB__JSON_TOO_BIG). */
#define VB__JSON_WORK ((uint64_t)16 << 20)
#define VB__JSON_TOO_BIG "objects too big to check for duplicate keys"
#define VB__JSON_TOO_BIG_ID "objects of 'id' too big to order"

static int vb__ws_char(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* ---- the lexer: QEMU's json-lexer.c, a byte at a time ---------------------------------------- */

enum { /* lexer states; an escape state follows its string state */
    VB__LX_START, VB__LX_RECOVERY, VB__LX_DQ, VB__LX_DQ_ESC, VB__LX_SQ, VB__LX_SQ_ESC,
    VB__LX_KEYWORD, VB__LX_SIGN, VB__LX_ZERO, VB__LX_DIGITS, VB__LX_POINT, VB__LX_FRACTION,
    VB__LX_E, VB__LX_E_SIGN, VB__LX_EXPONENT
};
enum { /* what a byte does */
    VB__LX_MORE,   /* taken; the token (or whitespace, or skipped input) goes on */
    VB__LX_TOKEN,  /* taken; it ends a token */
    VB__LX_BEFORE, /* not taken: what came before ends here; the byte is read again */
    VB__LX_ERROR   /* taken; a lexical error, reported with the token so far */
};

/* After an error QEMU skips input up to a structural character ({ } [ ] , :), a control
   character other than tab, or a byte that is never UTF-8: where a client can make it listen. */
static int vb__lex_resync(unsigned char c)
{
    return (c < 0x20 && c != '\t') || c >= 0xFE || c == '[' || c == ']' || c == '{' || c == '}' ||
           c == ',' || c == ':';
}

static int vb__lex_start(unsigned *st, unsigned char c)
{
    switch (c) {
    case ' ': case '\t': case '\r': case '\n': return VB__LX_MORE;
    case '{': case '}': case '[': case ']': case ',': case ':': return VB__LX_TOKEN;
    case '"': *st = VB__LX_DQ; return VB__LX_MORE;
    case '\'': *st = VB__LX_SQ; return VB__LX_MORE;
    case '-': *st = VB__LX_SIGN; return VB__LX_MORE;
    case '0': *st = VB__LX_ZERO; return VB__LX_MORE;
    default: break;
    }
    if (c >= '1' && c <= '9') *st = VB__LX_DIGITS;
    else if (c >= 'a' && c <= 'z') *st = VB__LX_KEYWORD; /* [a-z]+: the parser knows the words */
    else return VB__LX_ERROR;
    return VB__LX_MORE;
}

/* Any byte 0x20..0xFD, a backslash escaping one such byte; the parser checks the rest. */
static int vb__lex_string(unsigned *st, unsigned char c)
{
    const unsigned in = *st <= VB__LX_DQ_ESC ? VB__LX_DQ : VB__LX_SQ;
    if (c < 0x20 || c > 0xFD) return VB__LX_ERROR;
    if (*st != in) *st = in; /* the escaped byte */
    else if (c == '\\') *st = in + 1;
    else if (c == (in == VB__LX_DQ ? '"' : '\'')) return VB__LX_TOKEN;
    return VB__LX_MORE;
}

/* A number or keyword is complete when it ends in these states. */
static int vb__lex_complete(unsigned st)
{
    return st == VB__LX_KEYWORD || st == VB__LX_ZERO || st == VB__LX_DIGITS ||
           st == VB__LX_FRACTION || st == VB__LX_EXPONENT;
}

/* RFC 8259's number, a state per part; a byte that cannot go on ends a complete number (it is
   read again) and is an error after an incomplete one. After a 0 only '.' goes on, as in QEMU. */
static int vb__lex_number(unsigned *st, unsigned char c)
{
    static const unsigned char next[8][4] = { /* on a digit, '.', 'e' or 'E', '+' or '-' */
        {VB__LX_DIGITS, 0, 0, 0},                   /* SIGN ('0' goes to ZERO) */
        {0, VB__LX_POINT, 0, 0},                    /* ZERO (a digit is an error) */
        {VB__LX_DIGITS, VB__LX_POINT, VB__LX_E, 0}, /* DIGITS */
        {VB__LX_FRACTION, 0, 0, 0},                 /* POINT */
        {VB__LX_FRACTION, 0, VB__LX_E, 0},          /* FRACTION */
        {VB__LX_EXPONENT, 0, 0, VB__LX_E_SIGN},     /* E */
        {VB__LX_EXPONENT, 0, 0, 0},                 /* E_SIGN */
        {VB__LX_EXPONENT, 0, 0, 0},                 /* EXPONENT */
    };
    const int digit = c >= '0' && c <= '9';
    const unsigned kind = digit ? 0u
                          : c == '.' ? 1u
                          : (c == 'e' || c == 'E') ? 2u
                          : (c == '+' || c == '-') ? 3u
                                                   : 4u;
    unsigned to = kind < 4 ? next[*st - VB__LX_SIGN][kind] : 0u;
    if (*st == VB__LX_SIGN && c == '0') to = VB__LX_ZERO;
    else if (*st == VB__LX_ZERO && digit) return VB__LX_ERROR;
    if (to) {
        *st = to;
        return VB__LX_MORE;
    }
    return vb__lex_complete(*st) ? VB__LX_BEFORE : VB__LX_ERROR;
}

/* Past the plain bytes of a string in state st, before `end`: the fast path. */
VB__INLINE size_t vb__lex_run(const char *s, size_t pos, size_t end, unsigned st)
{
    const unsigned char quote = st == VB__LX_DQ ? '"' : '\'';
    if (st != VB__LX_DQ && st != VB__LX_SQ) return pos;
    while (pos < end) {
        const unsigned char c = (unsigned char)s[pos];
        if (c == quote || c == '\\' || c < 0x20 || c > 0xFD) break;
        pos++;
    }
    return pos;
}

/* One byte in state *st; the state after a token is the start, after an error the recovery. */
VB__INLINE int vb__lex(unsigned *st, unsigned char c)
{
    int r;
    if (*st == VB__LX_START) r = vb__lex_start(st, c);
    else if (*st == VB__LX_RECOVERY) r = vb__lex_resync(c) ? VB__LX_BEFORE : VB__LX_MORE;
    else if (*st == VB__LX_KEYWORD) r = c >= 'a' && c <= 'z' ? VB__LX_MORE : VB__LX_BEFORE;
    else if (*st <= VB__LX_SQ_ESC) r = vb__lex_string(st, c);
    else r = vb__lex_number(st, c);
    if (r == VB__LX_TOKEN || r == VB__LX_BEFORE) *st = VB__LX_START;
    else if (r == VB__LX_ERROR) *st = VB__LX_RECOVERY;
    return r;
}

/* ---- the streamer: QEMU's json-streamer.c, where a message ends -------------------------------- */

enum { /* how a message ends */
    VB__MSG_NONE,   /* not yet */
    VB__MSG_VALUE,  /* its brackets balance, or one closes what was not open: parse it */
    VB__MSG_STRAY,  /* a lexical error */
    VB__MSG_SIZE,   /* over a limit */
    VB__MSG_TOKENS,
    VB__MSG_DEPTH
};

typedef struct vb__stream {
    const char *s;
    size_t len, pos;      /* pos: the next byte */
    unsigned lex;         /* the lexer's state */
    size_t tok_at;        /* the first byte of the token in progress */
    size_t msg_at;        /* the first byte of the message's first token */
    long braces, brackets;
    uint64_t size, tokens;
} vb__stream;

static void vb__stream_init(vb__stream *m, const char *s, size_t len)
{
    VB_MEMSET(m, 0, sizeof *m); /* the lexer in its start state */
    m->s = s;
    m->len = len;
}

/* The token [tok_at, pos) joins the message (json_message_process_token). */
VB__INLINE int vb__stream_token(vb__stream *m)
{
    const char c = m->s[m->tok_at];
    const uint64_t n = m->pos - m->tok_at;
    if (!m->tokens) m->msg_at = m->tok_at;
    if (c == '{') m->braces++;
    else if (c == '}') m->braces--;
    else if (c == '[') m->brackets++;
    else if (c == ']') m->brackets--;
    if (m->size + n + 1 > VB__JSON_MAX_SIZE) return VB__MSG_SIZE;
    if (m->tokens + 1 > VB__JSON_MAX_TOKENS) return VB__MSG_TOKENS;
    if (m->braces + m->brackets > VB__JSON_MAX_DEPTH) return VB__MSG_DEPTH;
    m->size += n;
    m->tokens++;
    return (m->braces > 0 || m->brackets > 0) && m->braces >= 0 && m->brackets >= 0 ? VB__MSG_NONE
                                                                                     : VB__MSG_VALUE;
}

/* Bytes up to the end of a message (m->pos is then just past it), or all of them (NONE). */
static int vb__stream_next(vb__stream *m)
{
    while (m->pos < m->len) {
        unsigned was;
        int r, end = VB__MSG_NONE;
        m->pos = vb__lex_run(m->s, m->pos, /* the byte over the limit: the slow path */
                                    m->len - m->tok_at > VB__JSON_MAX_SIZE ? m->tok_at + VB__JSON_MAX_SIZE : m->len,
                                    m->lex);
        if (m->pos == m->len) break;
        was = m->lex;
        if (was == VB__LX_START) m->tok_at = m->pos;
        r = vb__lex(&m->lex, (unsigned char)m->s[m->pos]);
        if (r != VB__LX_BEFORE) m->pos++;
        if (r == VB__LX_ERROR) return VB__MSG_STRAY;
        if (r == VB__LX_TOKEN || (r == VB__LX_BEFORE && was != VB__LX_RECOVERY)) {
            end = vb__stream_token(m);
        } else if (m->lex > VB__LX_RECOVERY && m->pos - m->tok_at > VB__JSON_MAX_SIZE) {
            m->lex = VB__LX_START; /* one token over the limit: QEMU's lexer cuts it */
            end = VB__MSG_SIZE;
        }
        if (end) return end;
    }
    return VB__MSG_NONE;
}

/* The input ends (QEMU's flush, as when it parses a whole string): a number or keyword in
   progress is complete, any other token a lexical error; what is there is parsed. */
static int vb__stream_flush(vb__stream *m)
{
    if (vb__lex_complete(m->lex)) {
        int end;
        m->lex = VB__LX_START;
        end = vb__stream_token(m);
        if (end) return end;
    } else if (m->lex != VB__LX_START && m->lex != VB__LX_RECOVERY) {
        return VB__MSG_STRAY;
    }
    return m->tokens ? VB__MSG_VALUE : VB__MSG_NONE;
}

/* Skip what the lexer skips after an error; 1 if it listens again (at m->pos). */
static int vb__stream_recover(vb__stream *m)
{
    while (m->lex == VB__LX_RECOVERY && m->pos < m->len)
        if (vb__lex(&m->lex, (unsigned char)m->s[m->pos]) == VB__LX_MORE) m->pos++;
    return m->lex == VB__LX_START;
}

/* ---- the parser: QEMU's json-parser.c on one message's tokens --------------------------------- */

typedef struct vb__json {
    const char *s;
    size_t len, pos;
    const char *why;     /* parse error: why, then the input token [tok_at, +tok_len), then after */
    const char *after;
    size_t tok_at, tok_len;
    unsigned depth;      /* open containers; two bits each in `open`: object, and key next */
    int key_ok;          /* the value just parsed was a string: `key` */
    vb__span key;
    unsigned dup;        /* the level whose current key repeats an earlier one (0: none) */
    uint64_t work;       /* bytes walked to look for repeated keys (at most VB__JSON_WORK) */
    size_t last_at, last_end; /* the container closed last: walks jump over it */
    unsigned char open[VB__JSON_MAX_DEPTH / 4];
    size_t obj[VB__JSON_MAX_DEPTH]; /* where the container of each level starts */
} vb__json;

#define VB__J_OBJECT 1u /* the bits of a level */
#define VB__J_KEY 2u

static unsigned vb__json_top(const vb__json *j)
{
    const unsigned at = j->depth - 1;
    return (unsigned)(j->open[at / 4] >> (at % 4 * 2)) & 3u;
}

static void vb__json_set_top(vb__json *j, unsigned bits)
{
    const unsigned at = j->depth - 1, shift = at % 4 * 2;
    j->open[at / 4] = (unsigned char)((j->open[at / 4] & ~(3u << shift)) | bits << shift);
}

/* The next token of the message (lexically valid text): its first byte, 0 at the end. */
static char vb__json_token(vb__json *j, vb__span *tok)
{
    unsigned st = VB__LX_START;
    int r;
    while (j->pos < j->len && vb__ws_char(j->s[j->pos])) j->pos++;
    if (j->pos == j->len) return 0;
    tok->at = j->pos;
    do {
        j->pos = vb__lex_run(j->s, j->pos, j->len, st);
        r = j->pos < j->len ? vb__lex(&st, (unsigned char)j->s[j->pos]) : VB__LX_BEFORE;
        if (r != VB__LX_BEFORE) j->pos++;
    } while (r == VB__LX_MORE);
    tok->end = j->pos;
    return j->s[tok->at];
}

enum { VB__J_VALUE, VB__J_AFTER, VB__J_DONE, VB__J_FAIL }; /* what the parser expects */

static int vb__json_repeat(vb__json *j); /* below, with the walks of validated text */

static int vb__jfail(vb__json *j, const char *why)
{
    j->why = why;
    j->after = "";
    j->tok_at = j->tok_len = 0;
    return VB__J_FAIL;
}

/* A parse error that quotes `len` bytes of the input at `at`. */
static int vb__jfail_tok(vb__json *j, const char *why, size_t at, size_t len, const char *after)
{
    vb__jfail(j, why);
    j->tok_at = at;
    j->tok_len = len;
    j->after = after;
    return VB__J_FAIL;
}

static int vb__hex(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Four hex digits (a non-digit, such as the closing quote, stops it before the string ends). */
static int vb__hex4(const char *p, uint32_t *v)
{
    int i;
    *v = 0;
    for (i = 0; i < 4; i++) {
        int h = vb__hex(p[i]);
        if (h < 0) return 0;
        *v = *v << 4 | (uint32_t)h;
    }
    return 1;
}

/* \uXXXX at p (the backslash) in the string token t; a surrogate pair is one character. QEMU
   quotes the escape (both of a pair) from the backslash, up to the token's end. */
static int vb__json_uescape(vb__json *j, vb__span t, size_t *p)
{
    const size_t at = *p;
    uint32_t cp, lo;
    int ok = vb__hex4(j->s + at + 2, &cp);
    *p = at + 6;
    if (ok && cp >= 0xD800 && cp <= 0xDBFF && j->s[at + 6] == '\\' && j->s[at + 7] == 'u') {
        ok = vb__hex4(j->s + at + 8, &lo) && lo >= 0xDC00 && lo <= 0xDFFF;
        cp = 0x10000u + ((cp - 0xD800u) << 10) + (lo - 0xDC00u);
        if (ok) *p = at + 12;
    }
    if (!ok || (cp >= 0xD800 && cp <= 0xDFFF) || vb__nonchar(cp)) /* \u0000 is fine */
        return vb__jfail_tok(j, "", at, t.end - at < *p - at ? t.end - at : *p - at,
                             " is not a valid Unicode character");
    return VB__J_AFTER;
}

/* A string token's escapes and modified UTF-8 (QEMU's parse_string). */
static int vb__json_string(vb__json *j, vb__span t)
{
    size_t p = t.at + 1;
    while (p < t.end - 1) {
        uint32_t cp;
        size_t n;
        if ((unsigned char)j->s[p] < 0x80 && j->s[p] != '\\') {
            p++; /* ASCII: one character, always valid */
        } else if (j->s[p] != '\\') {
            if (!vb__utf8((const unsigned char *)j->s + p, t.end - 1 - p, &cp, &n))
                return vb__jfail(j, "invalid UTF-8 sequence in string");
            p += n;
        } else if (j->s[p + 1] == 'u') {
            if (vb__json_uescape(j, t, &p) == VB__J_FAIL) return VB__J_FAIL;
        } else {
            const char *simple = "\"'\\/bfnrt";
            while (*simple && *simple != j->s[p + 1]) simple++;
            if (!*simple) return vb__jfail(j, "invalid escape sequence in string");
            p += 2;
        }
    }
    j->key_ok = 1;
    j->key = t;
    return VB__J_AFTER;
}

static int vb__json_keyword(vb__json *j, vb__span t)
{
    const size_t n = t.end - t.at;
    if (vb__name_is(j->s + t.at, n, "true") || vb__name_is(j->s + t.at, n, "false") ||
        vb__name_is(j->s + t.at, n, "null"))
        return VB__J_AFTER;
    return vb__jfail_tok(j, "invalid keyword '", t.at, n, "'");
}

/* An opening bracket; an empty container is a whole value. */
static int vb__json_open(vb__json *j, int object)
{
    const size_t at = j->pos;
    vb__span t;
    if (j->depth == VB__JSON_MAX_DEPTH) return vb__jfail(j, "nesting depth limit exceeded");
    j->obj[j->depth++] = at - 1;
    vb__json_set_top(j, object ? VB__J_OBJECT | VB__J_KEY : 0u);
    if (vb__json_token(j, &t) == (object ? '}' : ']')) {
        j->depth--;
        return VB__J_AFTER;
    }
    j->pos = at; /* only a peek */
    return VB__J_VALUE;
}

static int vb__json_value(vb__json *j)
{
    vb__span t;
    const char c = vb__json_token(j, &t);
    j->key_ok = 0;
    if (c == '{' || c == '[') return vb__json_open(j, c == '{');
    if (c == '"' || c == '\'') return vb__json_string(j, t);
    if (c == '-' || (c >= '0' && c <= '9')) return VB__J_AFTER;
    if (c >= 'a' && c <= 'z') return vb__json_keyword(j, t);
    return vb__jfail(j, c ? "expecting value" : "premature EOI");
}

/* After a value: in an object a key must be a string (looked up among the earlier keys) followed
   by ':'; a member's value that completes a repeated key is QEMU's "duplicate key" (checked
   after the value, as QEMU's parse_pair); then a separator or the closing bracket. */
static int vb__json_after(vb__json *j)
{
    unsigned top;
    vb__span t;
    char c;
    if (j->depth == 0) return VB__J_DONE;
    top = vb__json_top(j);
    if (top == VB__J_OBJECT && j->dup == j->depth) return vb__jfail(j, "duplicate key");
    if ((top & VB__J_KEY) && !j->key_ok) return vb__jfail(j, "key is not a string in object");
    if ((top & VB__J_KEY) && vb__json_repeat(j) == VB__J_FAIL) return VB__J_FAIL;
    c = vb__json_token(j, &t);
    j->key_ok = 0;
    if (!c) return vb__jfail(j, "premature EOI");
    if (top & VB__J_KEY) {
        if (c != ':') return vb__jfail(j, "missing : in object pair");
        vb__json_set_top(j, VB__J_OBJECT);
        return VB__J_VALUE;
    }
    if (c == ((top & VB__J_OBJECT) ? '}' : ']')) {
        j->last_at = j->obj[--j->depth];
        j->last_end = j->pos;
        return VB__J_AFTER;
    }
    if (c != ',')
        return vb__jfail(j, (top & VB__J_OBJECT) ? "expected separator in dict" : "expected separator in list");
    vb__json_set_top(j, top | ((top & VB__J_OBJECT) ? VB__J_KEY : 0u));
    return VB__J_VALUE;
}

/* Validate the message [pos, len): one value, iteratively (two bits a level, no recursion). */
static int vb__json_parse(vb__json *j)
{
    int state = VB__J_VALUE;
    j->depth = j->dup = 0;
    j->work = 0;
    j->last_at = j->last_end = 0;
    j->why = 0;
    while (state != VB__J_DONE && state != VB__J_FAIL)
        state = state == VB__J_VALUE ? vb__json_value(j) : vb__json_after(j);
    return state == VB__J_DONE;
}

/* Past a string token of validated text (a plain run first: each byte's address does not wait
   for the one before). */
static size_t vb__skip_string(const char *s, size_t pos)
{
    const char quote = s[pos++];
    for (;;) {
        while (s[pos] != quote && s[pos] != '\\') pos++;
        if (s[pos] == quote) return pos + 1;
        pos += 2;
    }
}

/* Past a number or keyword of validated text. */
static size_t vb__skip_scalar(const char *s, size_t pos)
{
    while (s[pos] != ',' && s[pos] != '}' && s[pos] != ']' && s[pos] != ':' && s[pos] != 0 &&
           !vb__ws_char(s[pos]))
        pos++;
    return pos;
}

/* Past a value of text already validated. */
static size_t vb__json_skip(const char *s, size_t pos)
{
    size_t depth = 0;
    do {
        char c = s[pos];
        if (c == '"' || c == '\'') {
            pos = vb__skip_string(s, pos);
        } else if (c == '{' || c == '[') {
            depth++;
            pos++;
        } else if (c == '}' || c == ']') {
            depth--;
            pos++;
        } else if (c == ',' || c == ':' || vb__ws_char(c)) {
            pos++;
        } else {
            pos = vb__skip_scalar(s, pos);
        }
    } while (depth);
    return pos;
}

static size_t vb__skip_ws(const char *s, size_t pos)
{
    while (vb__ws_char(s[pos])) pos++;
    return pos;
}

/* In a validated container, from just after its bracket or after an element: the next element
   (an object's: its key), or the closing bracket. */
static size_t vb__next_item(const char *s, size_t pos)
{
    pos = vb__skip_ws(s, pos);
    return s[pos] == ',' ? vb__skip_ws(s, pos + 1) : pos;
}

/* The value of the member whose key is at `key`. */
static size_t vb__member_value(const char *s, size_t key)
{
    return vb__skip_ws(s, vb__skip_ws(s, vb__skip_string(s, key)) + 1);
}

/* Members of a validated object: *pos starts just after '{'. 0 at the closing brace. */
static int vb__json_member(const char *s, size_t *pos, vb__span *key, vb__span *val)
{
    size_t p = vb__next_item(s, *pos);
    if (s[p] == '}') return 0;
    key->at = p;
    key->end = vb__skip_string(s, p);
    val->at = vb__member_value(s, p);
    val->end = *pos = vb__json_skip(s, val->at);
    return 1;
}

/* Code points of a validated string span. */
typedef struct vb__str {
    const char *s;
    size_t pos, end;
} vb__str;

static void vb__str_init(vb__str *c, const char *s, vb__span sp)
{
    c->s = s;
    c->pos = sp.at + 1;
    c->end = sp.end - 1;
}

static uint32_t vb__str_next(vb__str *c)
{
    uint32_t cp = (unsigned char)c->s[c->pos], lo = 0;
    if (cp < 0x80 && cp != '\\') {
        c->pos++; /* ASCII: itself */
        return cp;
    }
    if (cp != '\\') {
        size_t n;
        vb__utf8((const unsigned char *)c->s + c->pos, c->end - c->pos, &cp, &n);
        c->pos += n;
        return cp;
    }
    c->pos += 2;
    switch (c->s[c->pos - 1]) {
    case 'b': return 8;
    case 'f': return 12;
    case 'n': return 10;
    case 'r': return 13;
    case 't': return 9;
    case 'u':
        vb__hex4(c->s + c->pos, &cp);
        c->pos += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            vb__hex4(c->s + c->pos + 2, &lo);
            c->pos += 6;
            cp = 0x10000u + ((cp - 0xD800u) << 10) + (lo - 0xDC00u);
        }
        return cp;
    default: return (unsigned char)c->s[c->pos - 1]; /* " ' \ / */
    }
}

/* QDict's bucket for a key: tdb_hash of its UTF-8 bytes (QEMU's modified UTF-8 for U+0000)
   modulo 512. `len` bytes go first into the hash, so the key is walked twice. */
static uint32_t vb__tdb_step(uint32_t h, uint32_t *i, uint32_t byte)
{
    h += byte << ((*i * 5u) % 24u);
    ++*i;
    return h;
}

static uint32_t vb__utf8_bytes(uint32_t cp, unsigned char *b)
{
    if (cp == 0) { b[0] = 0xC0; b[1] = 0x80; return 2; }
    if (cp < 0x80) { b[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) { b[0] = (unsigned char)(0xC0u | cp >> 6); b[1] = (unsigned char)(0x80u | (cp & 63u)); return 2; }
    if (cp < 0x10000) {
        b[0] = (unsigned char)(0xE0u | cp >> 12);
        b[1] = (unsigned char)(0x80u | ((cp >> 6) & 63u));
        b[2] = (unsigned char)(0x80u | (cp & 63u));
        return 3;
    }
    b[0] = (unsigned char)(0xF0u | cp >> 18);
    b[1] = (unsigned char)(0x80u | ((cp >> 12) & 63u));
    b[2] = (unsigned char)(0x80u | ((cp >> 6) & 63u));
    b[3] = (unsigned char)(0x80u | (cp & 63u));
    return 4;
}

static unsigned vb__qdict_bucket(const char *s, vb__span key)
{
    unsigned char b[4];
    uint32_t len = 0, h, i = 0, k, n;
    vb__str c;
    vb__str_init(&c, s, key);
    while (c.pos < c.end) len += vb__utf8_bytes(vb__str_next(&c), b);
    h = 0x238F13AFu * len;
    vb__str_init(&c, s, key);
    while (c.pos < c.end)
        for (n = vb__utf8_bytes(vb__str_next(&c), b), k = 0; k < n; k++) h = vb__tdb_step(h, &i, b[k]);
    return (unsigned)((1103515243u * h + 12345u) % 512u);
}

static unsigned vb__qdict_bucket_lit(const char *lit)
{
    uint32_t len = (uint32_t)vb__strlen(lit), h = 0x238F13AFu * len, i = 0;
    while (*lit) h = vb__tdb_step(h, &i, (unsigned char)*lit++);
    return (unsigned)((1103515243u * h + 12345u) % 512u);
}

/* Does the string at span equal the ASCII literal? */
static int vb__str_is(const char *s, vb__span sp, const char *lit)
{
    vb__str c;
    if (s[sp.at] != '"' && s[sp.at] != '\'') return 0;
    vb__str_init(&c, s, sp);
    while (c.pos < c.end) {
        const unsigned char b = (unsigned char)s[c.pos];
        if (*lit == 0) return 0;
        if (b < 0x80 && b != '\\') { /* ASCII as written: most names differ in the first */
            if (b != (unsigned char)*lit++) return 0;
            c.pos++;
        } else if (vb__str_next(&c) != (unsigned char)*lit++) {
            return 0;
        }
    }
    return *lit == 0;
}

static int vb__is_string(const char *s, vb__span v) { return s[v.at] == '"' || s[v.at] == '\''; }

/* Do the validated strings at a and b have the same characters? (QEMU compares the decoded
   strings: "a" and "\u0061" are the same key; U+0000 is C0 80 there, so "\u0000x" is not "".) */
static int vb__str_same(const char *s, size_t a, size_t b)
{
    vb__span sa, sb;
    vb__str x, y;
    sa.at = a;
    sa.end = vb__skip_string(s, a);
    sb.at = b;
    sb.end = vb__skip_string(s, b);
    vb__str_init(&x, s, sa);
    vb__str_init(&y, s, sb);
    while (x.pos < x.end && y.pos < y.end && s[x.pos] == s[y.pos] && s[x.pos] != '\\') {
        x.pos++; /* equal bytes and no escape: the same characters so far */
        y.pos++;
    }
    if (x.pos < x.end && y.pos < y.end && s[x.pos] != '\\' && s[y.pos] != '\\') return 0;
    while (x.pos > sa.at + 1 && ((unsigned char)s[x.pos] & 0xC0u) == 0x80u) {
        x.pos--; /* back to the start of a character, then decoded */
        y.pos--;
    }
    while (x.pos < x.end && y.pos < y.end)
        if (vb__str_next(&x) != vb__str_next(&y)) return 0;
    return x.pos == x.end && y.pos == y.end;
}

/* After the key j->key of the innermost object: is it one of that object's earlier keys? The
   answer waits in j->dup for the member's value (QEMU's parse_pair checks after it). Without
   memory per member, the earlier members are walked again: the bytes walked count against
   VB__JSON_WORK for the message, a parse error of our own beyond it. */
static int vb__json_repeat(vb__json *j)
{
    const size_t start = j->obj[j->depth - 1] + 1, key = j->key.at;
    const int jump = j->last_at > start && j->last_at < key; /* a member's value, closed last */
    const size_t walk = key - start - (jump ? j->last_end - j->last_at : 0u);
    size_t p, v;
    if (walk > VB__JSON_WORK - j->work) return vb__jfail(j, VB__JSON_TOO_BIG);
    j->work += walk;
    for (p = vb__next_item(j->s, start); p < key; p = vb__next_item(j->s, v)) {
        v = vb__member_value(j->s, p);
        v = jump && v == j->last_at ? j->last_end : vb__json_skip(j->s, v);
        if (vb__str_same(j->s, p, key)) {
            j->dup = j->depth; /* an outer level's is reported after this one */
            break;
        }
    }
    return VB__J_AFTER;
}

/* An integer token: 1 = fits int64 (*i), 2 = fits only uint64 (*u), 0 = anything else. */
static int vb__json_integer(const char *s, vb__span v, int64_t *i, uint64_t *u)
{
    size_t p = v.at;
    int neg = s[p] == '-';
    uint64_t acc = 0;
    if (neg) p++;
    if (p >= v.end || s[p] < '0' || s[p] > '9') return 0;
    for (; p < v.end; p++) {
        unsigned d;
        if (s[p] < '0' || s[p] > '9') return 0; /* a fraction or an exponent: a double */
        d = (unsigned)(s[p] - '0');
        if (acc > (UINT64_MAX - d) / 10u) return 0;
        acc = acc * 10u + d;
    }
    if (neg) {
        if (acc > (uint64_t)INT64_MAX + 1u) return 0;
        *i = acc ? -(int64_t)(acc - 1u) - 1 : 0;
        return 1;
    }
    if (acc > (uint64_t)INT64_MAX) {
        *u = acc;
        return 2;
    }
    *i = (int64_t)acc;
    return 1;
}

/* ---- numbers: QEMU reads a number token as int64, else uint64, else a double from strtod, and
   writes a double with glibc's "%.17g". Both conversions are done here exactly, with integers
   only, on a decimal of units of 9 digits shifted by powers of two (the "simple decimal
   conversion" of Go's strconv, in base 10^9). 800 digits hold every binary64 exactly (767 at
   most) and decide the rounding of any input; digits beyond them only count as nonzero
   ("trunc"). A first pass keeps 6 units: its result stands unless the digits it dropped could
   move it across a halfway point (the kept digits after the rounding point are 4 then 9s),
   which the exact pass with 90 units then decides. ---------------------------------------- */

#define VB__DEC_UNITS 90 /* 810 digits */
#define VB__DEC_FAST 6   /* 54 digits */
#define VB__E9 1000000000u

typedef struct vb__dec {
    int max;   /* units kept: VB__DEC_FAST or VB__DEC_UNITS */
    int nu;    /* units used: u[0] and u[nu - 1] are not 0 (no unit: the value is 0) */
    long dp;   /* the value is 0.u[0] u[1] ... u[nu - 1] (base 10^9) x 10^(9 dp) */
    int trunc; /* nonzero digits were dropped after u[nu - 1] */
    uint32_t u[VB__DEC_UNITS + 2]; /* room for the 2 new units of a left shift */
} vb__dec;

static void vb__dec_trim(vb__dec *a)
{
    while (a->nu > 0 && a->u[a->nu - 1] == 0) a->nu--;
    if (a->nu == 0) a->dp = 0;
}

/* a / 2^k, 1 <= k <= 34 (then n * 10^9 + unit < 2^64); units past the last are dropped. */
static void vb__dec_rshift(vb__dec *a, unsigned k)
{
    const uint64_t mask = ((uint64_t)1 << k) - 1u;
    int r = 0, w = 0;
    uint64_t n = 0;
    for (; n >> k == 0; r++) n = n * VB__E9 + (r < a->nu ? a->u[r] : 0u); /* the first unit out */
    a->dp -= r - 1;
    for (; r < a->nu; r++) {
        a->u[w++] = (uint32_t)(n >> k);
        n = (n & mask) * VB__E9 + a->u[r];
    }
    for (; n; n = (n & mask) * VB__E9) {
        if (w < a->max) a->u[w++] = (uint32_t)(n >> k);
        else if (n >> k) a->trunc = 1;
    }
    a->nu = w;
    vb__dec_trim(a);
}

/* a * 2^k, 1 <= k <= 34: written from the last unit up to 2 places on (2^34 < 10^18), then
   moved back to the start. */
static void vb__dec_lshift(vb__dec *a, unsigned k)
{
    int r = a->nu, w = a->nu + 2, i;
    uint64_t n = 0;
    while (r > 0 || n) {
        if (r > 0) n += (uint64_t)a->u[--r] << k;
        a->u[--w] = (uint32_t)(n % VB__E9);
        n /= VB__E9;
    }
    a->dp += 2 - w;
    a->nu += 2 - w;
    for (i = 0; i < a->nu; i++) a->u[i] = a->u[i + w];
    for (; a->nu > a->max; a->nu--)
        if (a->u[a->nu - 1]) a->trunc = 1;
    vb__dec_trim(a);
}

/* a * 2^k for any k. */
static void vb__dec_shift(vb__dec *a, long k)
{
    for (; a->nu && k > 0; k -= k > 34 ? 34 : k) vb__dec_lshift(a, k > 34 ? 34u : (unsigned)k);
    for (; a->nu && k < 0; k += k < -34 ? 34 : -k) vb__dec_rshift(a, k < -34 ? 34u : (unsigned)-k);
}

/* The decimal exponent of a number token [at, end) of valid JSON, which is 0.ddd x 10^result
   with ddd its digits from the first nonzero one, at *first (end: none). Counts are clamped far
   beyond what can matter. */
static long vb__dec_exponent(const char *s, size_t at, size_t end, size_t *first)
{
    const long big = 1000000000L;
    long dp = 0, e = 0;
    int dot = 0, esign = 1;
    *first = end;
    for (; at < end && s[at] != 'e' && s[at] != 'E'; at++) {
        if (s[at] == '.') dot = 1;
        else if (*first == end && s[at] == '0') dp -= dot && dp > -big; /* a leading zero */
        else {
            if (*first == end) *first = at;
            dp += !dot && dp < big;
        }
    }
    if (at < end && (s[++at] == '-' || s[at] == '+')) esign = s[at++] == '-' ? -1 : 1;
    for (; at < end; at++) e = e < big / 10 ? e * 10 + (s[at] - '0') : big;
    return dp + esign * e;
}

/* A number token [at, end) of valid JSON as a decimal of a->max units; 1 if it is negative. The
   digits from the first nonzero one go into units after as many zeros as put the point at a
   unit's edge. */
static int vb__dec_read(vb__dec *a, const char *s, size_t at, size_t end)
{
    size_t p;
    const long dp = vb__dec_exponent(s, at + (s[at] == '-'), end, &p);
    long pad = (9 - (dp % 9 + 9) % 9) % 9; /* digits in the unit being filled */
    uint32_t unit = 0;
    a->dp = (dp + pad) / 9;
    a->nu = a->trunc = 0;
    for (; p < end && s[p] != 'e' && s[p] != 'E'; p++) {
        if (s[p] == '.') continue;
        unit = unit * 10u + (uint32_t)(s[p] - '0');
        if (++pad < 9) continue;
        if (a->nu < a->max) a->u[a->nu++] = unit;
        else if (unit) a->trunc = 1;
        unit = 0;
        pad = 0;
    }
    for (; pad && pad < 9; pad++) unit *= 10u;
    if (unit && a->nu < a->max) a->u[a->nu++] = unit;
    else if (unit) a->trunc = 1;
    vb__dec_trim(a);
    return s[at] == '-';
}

/* The decimal rounded to an integer (half to even; trunc is above half). At most 10^18. */
static uint64_t vb__dec_integer(const vb__dec *a)
{
    uint64_t n = 0;
    long i;
    uint32_t next;
    for (i = 0; i < a->dp; i++) n = n * VB__E9 + (i < a->nu ? a->u[i] : 0u);
    if (a->dp < 0 || a->dp >= a->nu) return n;
    next = a->u[a->dp];
    return n + (next > VB__E9 / 2 || (next == VB__E9 / 2 && (a->dp + 1 < a->nu || a->trunc || (n & 1u))));
}

/* The binary64 nearest to the decimal (strtod's result), as its bits; *unsure if digits were
   dropped and the fraction at the rounding point is 0.499999999...: the dropped ones decide. */
static uint64_t vb__dec_to_bits(vb__dec *a, int neg, int *unsure)
{
    const uint64_t sign = (uint64_t)neg << 63, one = (uint64_t)1 << 52, inf = (uint64_t)0x7FF << 52;
    long exp = 0;
    uint64_t mant;
    uint32_t next;
    *unsure = 0;
    if (a->nu == 0 || a->dp < -36) return sign; /* below 10^-324: under half the least denormal */
    if (a->dp > 35) return sign | inf;        /* at least 10^315 */
    for (; a->dp > 0; exp += 34) vb__dec_rshift(a, 34);
    while (a->dp < 0 || a->u[0] < VB__E9 / 2) { /* up to [0.5, 1), never reaching 1 */
        unsigned n = a->dp < -1 ? 34u : a->dp < 0 ? 29u : 1u;
        while (a->dp == 0 && ((uint64_t)a->u[0] + 1u) << (n + 1) <= VB__E9) n++;
        vb__dec_lshift(a, n);
        exp -= (long)n;
    }
    exp--; /* the value is 2^exp times [1, 2) */
    if (exp < -1022) { /* a denormal: the exponent stays, the mantissa loses bits */
        vb__dec_shift(a, exp + 1022);
        exp = -1022;
    }
    vb__dec_shift(a, 53);
    mant = vb__dec_integer(a);
    next = a->dp >= 0 && a->dp < a->nu ? a->u[a->dp] : 0u;
    *unsure = a->trunc && next == VB__E9 / 2 - 1u;
    if (mant == one << 1) { /* rounding carried into a new bit */
        mant >>= 1;
        exp++;
    }
    if (exp > 1023) return sign | inf;
    if (!(mant & one)) exp = -1023;
    return sign | (mant & (one - 1u)) | (uint64_t)(exp + 1023) << 52;
}

/* Digits d[0..nd) (d[0] != 0) times 10^(dp - nd) as "%.17g" writes them, from out[n]. */
static size_t vb__g17_layout(const char *d, int nd, long dp, char *out, size_t n)
{
    long x = dp - 1, i; /* x: the exponent of the first digit */
    if (x < -4 || x >= 17) {
        out[n++] = d[0];
        if (nd > 1) out[n++] = '.';
        for (i = 1; i < nd; i++) out[n++] = d[i];
        out[n++] = 'e';
        out[n++] = x < 0 ? '-' : '+';
        if (x < 0) x = -x;
        if (x >= 100) out[n++] = (char)('0' + x / 100);
        out[n++] = (char)('0' + x / 10 % 10);
        out[n++] = (char)('0' + x % 10);
        return n;
    }
    if (dp <= 0) {
        out[n++] = '0';
        out[n++] = '.';
        for (i = dp; i < 0; i++) out[n++] = '0';
    }
    for (i = 0; i < nd || i < dp; i++) {
        if (i == dp && i > 0) out[n++] = '.';
        out[n++] = (char)(i < nd ? d[i] : '0');
    }
    return n;
}

/* The binary64 nearest to the number token [at, end) (strtod), as its bits. */
static uint64_t vb__strtod(const char *s, size_t at, size_t end)
{
    vb__dec a;
    int unsure, neg;
    uint64_t bits;
    a.max = VB__DEC_FAST;
    neg = vb__dec_read(&a, s, at, end);
    bits = vb__dec_to_bits(&a, neg, &unsure);
    if (!unsure) return bits;
    a.max = VB__DEC_UNITS;
    neg = vb__dec_read(&a, s, at, end);
    return vb__dec_to_bits(&a, neg, &unsure);
}

/* Digits t[0..27) (t[0] != '0') rounded to 17, half to even; `rest`: a nonzero digit after the
   18th. The number of digits left without trailing zeros; *dp + 1 if 9s carried into a new one. */
static int vb__round17(char *t, int rest, long *dp)
{
    const int up = t[17] > '5' || (t[17] == '5' && (rest || (t[16] - '0') % 2));
    int nd = 17;
    while (up && nd > 0 && t[nd - 1] == '9') nd--;
    if (up && nd == 0) { /* 99...9 became 100...0 */
        t[nd++] = '0';
        ++*dp;
    }
    t[nd - 1] = (char)(t[nd - 1] + up);
    while (t[nd - 1] == '0') nd--;
    return nd;
}

/* The decimal of a finite nonzero binary64, with a.max units kept, rounded to 17 significant
   digits half to even: d[0..*nd) (no trailing zero) x 10^(*dp - *nd). 1 (and nothing written)
   if units were dropped and the 18th digit is 4 followed by 9s: too close to call. */
static int vb__dbl_digits(uint64_t bits, int max, char *d, int *nd, long *dp)
{
    const uint64_t one = (uint64_t)1 << 52;
    uint64_t m = bits & (one - 1u);
    const long e = (long)(bits >> 52 & 0x7FFu);
    char all[36];
    int i, k, lz = 0, rest, nines = 1;
    vb__dec a;
    if (e) m |= one;
    a.max = max;
    a.trunc = 0;
    a.nu = m >= VB__E9 ? 2 : 1; /* m < 10^18 */
    a.dp = a.nu;
    a.u[0] = (uint32_t)(m >= VB__E9 ? m / VB__E9 : m);
    a.u[1] = (uint32_t)(m % VB__E9);
    vb__dec_trim(&a);
    vb__dec_shift(&a, (e ? e : 1) - 1075); /* exact with 90 units: at most 767 digits */
    for (k = 0; k < 4; k++) { /* the digits of the first 4 units */
        uint32_t u = k < a.nu ? a.u[k] : 0u;
        for (i = 8; i >= 0; i--, u /= 10u) all[9 * k + i] = (char)('0' + u % 10u);
    }
    while (all[lz] == '0') lz++;
    rest = a.nu > 4 || a.trunc; /* anything after the 18th digit */
    for (i = lz + 18; i < 36; i++) {
        rest |= all[i] != '0';
        if (i < lz + 27) nines &= all[i] == '9';
    }
    if (a.trunc && nines && all[lz + 17] == '4') return 1;
    *dp = 9 * a.dp - lz;
    *nd = vb__round17(all + lz, rest, dp);
    VB_MEMCPY(d, all + lz, (size_t)*nd);
    return 0;
}

/* glibc's "%.17g" of the binary64 `bits` (no NaN) into out[24]; the length. */
static size_t vb__dbl_g17(uint64_t bits, char *out)
{
    size_t n = bits >> 63 ? 1u : 0u;
    char d[17];
    int nd;
    long dp;
    out[0] = '-';
    if ((bits & 0x7FFFFFFFFFFFFFFFu) == 0) {
        out[n] = '0';
        return n + 1;
    }
    if ((bits >> 52 & 0x7FFu) == 0x7FF) {
        VB_MEMCPY(out + n, "inf", 3);
        return n + 3;
    }
    if (vb__dbl_digits(bits, VB__DEC_FAST, d, &nd, &dp)) vb__dbl_digits(bits, VB__DEC_UNITS, d, &nd, &dp);
    return vb__g17_layout(d, nd, dp, out, n);
}

/* ---- writing JSON the way QEMU's json-writer does ------------------------------------------- */

/* The inside of an input string, re-escaped. */
static void vb__put_span_text(vb__out *o, const char *s, vb__span sp)
{
    vb__str c;
    vb__str_init(&c, s, sp);
    while (c.pos < c.end) vb__put_cp(o, vb__str_next(&c));
}

/* A number token as QEMU re-reads it: int64, else uint64, else the nearest double, "%.17g". */
static void vb__put_number(vb__out *o, const char *s, vb__span v)
{
    int64_t i;
    uint64_t u;
    const int kind = vb__json_integer(s, v, &i, &u);
    if (kind == 1) {
        vb__put_i64(o, i);
    } else if (kind == 2) {
        vb__put_u64(o, u);
    } else {
        char text[24];
        vb__put(o, text, vb__dbl_g17(vb__strtod(s, v.at, v.end), text));
    }
}

/* The scalar at `at`; the position after it. */
static size_t vb__put_scalar(vb__out *o, const char *s, size_t at)
{
    vb__span v;
    v.at = at;
    if (s[at] == '"' || s[at] == '\'') {
        v.end = vb__skip_string(s, at);
        vb__put(o, "\"", 1);
        vb__put_span_text(o, s, v);
        vb__put(o, "\"", 1);
        return v.end;
    }
    v.end = vb__skip_scalar(s, at);
    if (s[at] == '-' || (s[at] >= '0' && s[at] <= '9')) vb__put_number(o, s, v);
    else vb__put(o, s + at, v.end - at); /* true, false, null */
    return v.end;
}

/* The open containers of an echo. Each is reached `via` the key of its member if its parent is
   an object, else via its own bracket: what a return to an object needs (where the object
   starts, which member comes next). For the innermost object, one walk finds the next members
   in QDict order, up to VB__ECHO_BATCH of them; the walk jumps over a value whose end is known
   (the child just finished), so that an object is not walked again per member. */
#define VB__ECHO_BATCH 8

typedef struct vb__echo {
    const char *s;
    uint64_t work; /* bytes walked to order objects (at most VB__JSON_WORK) */
    unsigned depth, n, taken; /* open containers; the batch: members found, written */
    int batch, rest;          /* the batch is the innermost object's; more members after it */
    size_t end, skip_at, skip_end; /* past the object; a value [skip_at, skip_end) to jump */
    size_t next[VB__ECHO_BATCH];
    unsigned bucket[VB__ECHO_BATCH];
    unsigned char is_obj[VB__JSON_MAX_DEPTH / 8];
    size_t via[VB__JSON_MAX_DEPTH];
} vb__echo;

static int vb__echo_obj(const vb__echo *e, unsigned d) /* d = 1: the outermost; 0: none */
{
    return d && (e->is_obj[(d - 1) / 8] >> ((d - 1) % 8) & 1);
}

/* Into the batch, kept in QDict order (buckets ascending, within one the later key first), if
   it is among the first VB__ECHO_BATCH: the member with key p in bucket b. */
static void vb__echo_take(vb__echo *e, size_t p, unsigned b)
{
    unsigned i = e->n;
    while (i > 0 && (e->bucket[i - 1] > b || (e->bucket[i - 1] == b && e->next[i - 1] < p))) i--;
    if (i == VB__ECHO_BATCH) {
        e->rest = 1;
        return;
    }
    if (e->n == VB__ECHO_BATCH) e->rest = 1; /* the last one drops out */
    else e->n++;
    for (; i < e->n; i++) {
        const size_t tp = e->next[i];
        const unsigned tb = e->bucket[i];
        e->next[i] = p;
        e->bucket[i] = b;
        p = tp;
        b = tb;
    }
}

/* One walk of the object at depth d: the batch of members that QDict order puts after the
   member whose key is at `cur` (0: from the first), and e->end just past the object. */
static void vb__echo_walk(vb__echo *e, unsigned d, size_t cur)
{
    const char *s = e->s;
    const size_t start = vb__echo_obj(e, d - 1) ? vb__member_value(s, e->via[d - 1]) : e->via[d - 1];
    unsigned cb = 0;
    size_t p, v;
    vb__span k;
    if (cur) {
        k.at = cur;
        k.end = vb__skip_string(s, cur);
        cb = vb__qdict_bucket(s, k);
    }
    e->n = e->taken = 0;
    e->rest = 0;
    for (p = vb__next_item(s, start + 1); s[p] != '}'; p = vb__next_item(s, v)) {
        unsigned b;
        k.at = p;
        k.end = vb__skip_string(s, p);
        b = vb__qdict_bucket(s, k);
        if (!cur || b > cb || (b == cb && p < cur)) vb__echo_take(e, p, b);
        v = vb__member_value(s, p);
        if (v == e->skip_at) {
            e->work += e->skip_at - p;
            v = e->skip_end;
        } else {
            v = vb__json_skip(s, v);
            e->work += v - p;
        }
    }
    e->end = p + 1;
    e->batch = 1;
}

/* Open the container at `at`, reached via `via`: its bracket; no element written yet. */
static void vb__echo_open(vb__echo *e, vb__out *o, size_t at, size_t via)
{
    const unsigned char bit = (unsigned char)(1u << e->depth % 8);
    if (e->s[at] == '{') e->is_obj[e->depth / 8] |= bit;
    else e->is_obj[e->depth / 8] &= (unsigned char)~bit;
    e->via[e->depth++] = via;
    e->batch = 0;
    vb__put(o, e->s + at, 1);
}

/* The next member of the innermost object (its key), or 0 after the last. */
static size_t vb__echo_next_member(vb__echo *e, size_t cur)
{
    if (!e->batch || (e->taken == e->n && e->rest)) vb__echo_walk(e, e->depth, cur);
    return e->taken < e->n ? e->next[e->taken++] : 0u;
}

/* Echo an input value (the "id") as QEMU re-serialises its QObject: numbers re-read, strings
   re-escaped, objects in QDict order, at nesting `level`. Iterative: a container is opened, its
   first element written, and a finished value is followed by the next element of the innermost
   container that has one. 0, the output cut short, if ordering the objects walks more than
   VB__JSON_WORK bytes: vb__qmp_envelope refuses such an "id" before any reply, with a dry run
   (o NULL: scalars are only skipped). */
static int vb__put_value(vb__out *o, const char *s, vb__span v, unsigned flags, unsigned level)
{
    vb__echo e;
    vb__out none;
    size_t at = v.at, via, end, next; /* the value to write, how it is reached */
    int first;
    const int dry = !o;
    if (dry) vb__out_init(o = &none, 0, 0);
    via = at;
    VB_MEMSET(e.is_obj, 0, sizeof e.is_obj);
    e.s = s;
    e.work = 0;
    e.depth = e.n = e.taken = 0;
    e.batch = e.rest = 0;
    e.end = e.skip_at = e.skip_end = 0;
    for (;;) {
        if (s[at] == '{' || s[at] == '[') {
            vb__echo_open(&e, o, at, via);
            end = at + 1;
            via = 0; /* no member of it written yet */
            first = 1;
        } else {
            end = dry ? (s[at] == '"' || s[at] == '\'' ? vb__skip_string : vb__skip_scalar)(s, at)
                      : vb__put_scalar(o, s, at);
            first = 0;
        }
        for (;;) { /* the next value, or close containers */
            if (!e.depth) return 1;
            if (vb__echo_obj(&e, e.depth)) {
                next = vb__echo_next_member(&e, via);
                if (e.work > VB__JSON_WORK) return 0;
                if (!next) end = e.end;
            } else if (s[next = vb__next_item(s, end)] == ']') {
                end = next + 1;
                next = 0;
            }
            if (next) break;
            vb__newline(o, flags, level + e.depth - 1); /* QEMU breaks even an empty one */
            vb__put(o, vb__echo_obj(&e, e.depth) ? "}" : "]", 1);
            e.skip_at = vb__echo_obj(&e, e.depth - 1) ? vb__member_value(s, e.via[e.depth - 1]) : 0u;
            e.skip_end = end;
            via = e.via[--e.depth];
            e.batch = first = 0;
        }
        if (!first) vb__sep(o, flags);
        vb__newline(o, flags, level + e.depth);
        at = via = next;
        if (vb__echo_obj(&e, e.depth)) {
            v.at = next;
            v.end = vb__skip_string(s, next);
            vb__put(o, "\"", 1);
            vb__put_span_text(o, s, v);
            vb__put(o, "\": ", 3);
            at = vb__member_value(s, next);
        }
    }
}

/* Can the "id" be echoed within the work limit? A dry run. */
static int vb__id_echoes(const char *s, vb__span id) { return vb__put_value(0, s, id, 0, 0); }

/* ---- replies --------------------------------------------------------------------------------- */

typedef struct vb__reply {
    vb__out o;
    unsigned flags;
    const char *in;
    vb__span id;
    int has_id;
} vb__reply;

/* {"return": — then the caller writes the value at level 1 and calls vb__reply_end. */
static void vb__reply_return(vb__reply *r)
{
    vb__put(&r->o, "{", 1);
    vb__member(&r->o, r->flags, 1, 1, "return");
}

static void vb__reply_end(vb__reply *r)
{
    if (r->has_id) {
        vb__member(&r->o, r->flags, 1, 0, "id");
        vb__put_value(&r->o, r->in, r->id, r->flags, 1);
    }
    vb__close(&r->o, r->flags, 0);
}

static void vb__reply_empty(vb__reply *r)
{
    vb__reply_return(r);
    vb__put(&r->o, "{", 1);
    vb__close(&r->o, r->flags, 1); /* pretty: "{\n    }", as QEMU's json-writer */
    vb__reply_end(r);
}

/* {"id": ..., "error": {"class": ..., "desc": "  — QDict order puts "id" first here. */
static void vb__reply_error_begin(vb__reply *r, const char *cls)
{
    vb__put(&r->o, "{", 1);
    if (r->has_id) {
        vb__member(&r->o, r->flags, 1, 1, "id");
        vb__put_value(&r->o, r->in, r->id, r->flags, 1);
    }
    vb__member(&r->o, r->flags, 1, !r->has_id, "error");
    vb__put(&r->o, "{", 1);
    vb__member(&r->o, r->flags, 2, 1, "class");
    vb__put_str(&r->o, cls);
    vb__member(&r->o, r->flags, 2, 0, "desc");
    vb__put(&r->o, "\"", 1);
}

static void vb__reply_error_end(vb__reply *r)
{
    vb__put(&r->o, "\"", 1);
    vb__close(&r->o, r->flags, 1);
    vb__close(&r->o, r->flags, 0);
}

static void vb__reply_error(vb__reply *r, const vb_error *e)
{
    vb__reply_error_begin(r, e->cls);
    vb__put_error_text(&r->o, e, 1);
    vb__reply_error_end(r);
}

/* An error whose text quotes part of the input: pre + the string at `sp` + post. */
static void vb__reply_error_quote(vb__reply *r, const char *cls, const char *pre, vb__span sp,
                                  const char *post)
{
    vb__reply_error_begin(r, cls);
    vb__put_utf8(&r->o, pre, vb__strlen(pre));
    vb__put_span_text(&r->o, r->in, sp);
    vb__put_utf8(&r->o, post, vb__strlen(post));
    vb__reply_error_end(r);
}

static void vb__reply_generic(vb__reply *r, const char *msg)
{
    vb_error e;
    vb__generic_error(&e, msg);
    vb__reply_error(r, &e);
}

/* ---- argument checking, in QAPI's order: missing, then type, then unexpected ----------------- */

static void vb__reply_bad_type(vb__reply *r, const char *name, const char *expected)
{
    vb__reply_error_begin(r, "GenericError");
    vb__puts(&r->o, "Invalid parameter type for '");
    vb__puts(&r->o, name);
    vb__puts(&r->o, "', expected: ");
    vb__puts(&r->o, expected);
    vb__reply_error_end(r);
}

static void vb__reply_unexpected(vb__reply *r, vb__span key)
{
    vb__reply_error_quote(r, "GenericError", "Parameter '", key, "' is unexpected");
}

enum { VB__ARG_STR, VB__ARG_INT, VB__ARG_ANY, VB__ARG_ARRAY };

typedef struct vb__param {
    const char *name;
    unsigned char type;
    unsigned char optional;
} vb__param;

/* The value of each parameter in the arguments object (end 0: absent; keys are unique, the
   parser refused repeated ones) and the first key that is no parameter (end 0: none). */
static vb__span vb__args_collect(const char *in, vb__span args, const vb__param *p, unsigned n,
                                 vb__span *out)
{
    vb__span key, val, unexpected = {0, 0};
    size_t pos = args.at + 1;
    unsigned i;
    for (i = 0; i < n; i++) out[i].at = out[i].end = 0;
    while (args.end && vb__json_member(in, &pos, &key, &val)) {
        for (i = 0; i < n && !vb__str_is(in, key, p[i].name); i++) {}
        if (i < n) out[i] = val;
        else if (!unexpected.end) unexpected = key;
    }
    return unexpected;
}

static int vb__arg_type_ok(const char *in, vb__span v, unsigned type)
{
    int64_t iv;
    uint64_t uv;
    if (type == VB__ARG_STR) return vb__is_string(in, v);
    if (type == VB__ARG_INT) return vb__json_integer(in, v, &iv, &uv) == 1;
    return type != VB__ARG_ARRAY || in[v.at] == '[';
}

/* Match the arguments (args.end 0: none given) to the parameters; out[i] is the value of p[i]
   (end 0: an absent optional one). 0 after replying with the first error (missing, then type);
   *unexpected is the first argument no parameter takes, left to the caller. */
static int vb__args_typed(vb__reply *r, vb__span args, const vb__param *p, unsigned n, vb__span *out,
                          vb__span *unexpected)
{
    static const char *const type_names[] = {"string", "integer", "any", "array"};
    unsigned i;
    *unexpected = vb__args_collect(r->in, args, p, n, out);
    for (i = 0; i < n; i++) {
        if (!out[i].end && p[i].optional) continue;
        if (!out[i].end) {
            vb__reply_error_begin(r, "GenericError");
            vb__puts(&r->o, "Parameter '");
            vb__puts(&r->o, p[i].name);
            vb__puts(&r->o, "' is missing");
            vb__reply_error_end(r);
            return 0;
        }
        if (!vb__arg_type_ok(r->in, out[i], p[i].type)) {
            vb__reply_bad_type(r, p[i].name, type_names[p[i].type]);
            return 0;
        }
    }
    return 1;
}

/* Then an argument no parameter takes, which QAPI's visitor checks last. */
static int vb__args(vb__reply *r, vb__span args, const vb__param *p, unsigned n, vb__span *out)
{
    vb__span unexpected;
    if (!vb__args_typed(r, args, p, n, out, &unexpected)) return 0;
    if (unexpected.end) vb__reply_unexpected(r, unexpected);
    return !unexpected.end;
}

/* ---- commands ------------------------------------------------------------------------------- */

/* What a command changes, applied by the dispatcher only once the whole reply has fit. */
enum { VB__FX_NONE, VB__FX_INTERVAL, VB__FX_TARGET, VB__FX_NEGOTIATED, VB__FX_HINT };

typedef struct vb__effect {
    int kind;      /* VB__FX_* */
    int64_t value; /* the interval in seconds, the target in pages or a vb_hint_status */
} vb__effect;

static vb__effect vb__fx(int kind, int64_t value)
{
    vb__effect fx;
    fx.kind = kind;
    fx.value = value;
    return fx;
}

static const vb__effect vb__fx_none = {VB__FX_NONE, 0};

/* ---- QOM: the objects a path names and their properties ------------------------------------ */

/* How a property's value is made (qom-get) and what qom-set does with it. */
enum { VB__QV_TYPE, VB__QV_BOOL, VB__QV_FEATURE, VB__QV_INTERVAL, VB__QV_DEVICE, VB__QV_CHILD };
enum { VB__QS_READ_ONLY, VB__QS_QDEV, VB__QS_REALIZED, VB__QS_DEVICE };

typedef struct vb__qom_prop {
    const char *name, *type;   /* as qom-list shows them */
    unsigned char value, arg;  /* VB__QV_*; the constant (BOOL) or the feature bit (FEATURE) */
    unsigned char set;         /* VB__QS_* */
} vb__qom_prop;

#define VB__QOM_COMMON(hotpluggable)                                               \
    {"type", "string", VB__QV_TYPE, 0, VB__QS_READ_ONLY},                          \
    {"realized", "bool", VB__QV_BOOL, 1, VB__QS_REALIZED},                         \
    {"hotplugged", "bool", VB__QV_BOOL, 0, VB__QS_READ_ONLY},                      \
    {"hotpluggable", "bool", VB__QV_BOOL, hotpluggable, VB__QS_READ_ONLY}
#define VB__QOM_BOOL(name, value) {name, "bool", VB__QV_BOOL, value, VB__QS_QDEV}
#define VB__QOM_FEATURE(name, bit) {name, "bool", VB__QV_FEATURE, bit, VB__QS_QDEV}
#define VB__QOM_STATS                                                              \
    {"guest-stats-polling-interval", "int", VB__QV_INTERVAL, 0, VB__QS_DEVICE},    \
    {"guest-stats", "guest statistics", VB__QV_DEVICE, 0, VB__QS_DEVICE}
/* Ours, not QEMU's: experimental by QMP's naming rule ("x-"), listed last. */
#define VB__QOM_TELEMETRY \
    {"x-guest-stats-telemetry", "guest statistics telemetry", VB__QV_DEVICE, 0, VB__QS_READ_ONLY}

/* What qom-list shows, in QEMU 7.2's order: of QEMU's 60 properties of virtio-balloon-pci and
   24 of virtio-balloon-device, the balloon's own, the device's state and the virtio features
   vb_config sets; not the PCI transport's, memory regions, links, nor virtio-core knobs the
   device does not model. The feature properties show what the device offers (QEMU's
   page-poison defaults to on, ours to off: vb_config.options). */
static const vb__qom_prop vb__qom_proxy[] = {
    VB__QOM_COMMON(1),
    VB__QOM_FEATURE("free-page-reporting", VB_F_REPORTING),
    VB__QOM_FEATURE("indirect_desc", VB_F_RING_INDIRECT_DESC),
    VB__QOM_FEATURE("deflate-on-oom", VB_F_DEFLATE_ON_OOM),
    VB__QOM_FEATURE("event_idx", VB_F_RING_EVENT_IDX),
    VB__QOM_FEATURE("page-poison", VB_F_PAGE_POISON),
    VB__QOM_STATS,
    VB__QOM_BOOL("qemu-4-0-config-size", 0),
    VB__QOM_FEATURE("free-page-hint", VB_F_FREE_PAGE_HINT),
    {"virtio-backend", "child<virtio-balloon-device>", VB__QV_CHILD, 0, VB__QS_READ_ONLY},
    VB__QOM_TELEMETRY,
};

static const vb__qom_prop vb__qom_backend[] = {
    VB__QOM_COMMON(0),
    VB__QOM_FEATURE("event_idx", VB_F_RING_EVENT_IDX),
    VB__QOM_FEATURE("indirect_desc", VB_F_RING_INDIRECT_DESC),
    VB__QOM_FEATURE("deflate-on-oom", VB_F_DEFLATE_ON_OOM),
    VB__QOM_FEATURE("free-page-hint", VB_F_FREE_PAGE_HINT),
    VB__QOM_FEATURE("page-poison", VB_F_PAGE_POISON),
    VB__QOM_BOOL("qemu-4-0-config-size", 0),
    VB__QOM_FEATURE("free-page-reporting", VB_F_REPORTING),
    VB__QOM_STATS,
    VB__QOM_TELEMETRY,
};

#define VB__BACKEND_TYPE "virtio-balloon-device"

/* The object a path names: the device at s->path or s->alt_path, or, when the device is a
   transport proxy (any type but virtio-balloon-device), its "virtio-backend" child there. */
typedef struct vb__obj {
    const char *base;          /* the device's path, as the client named it */
    const char *type;          /* the object's QOM type */
    const vb__qom_prop *props;
    unsigned n;
    unsigned backend, child;   /* a virtio-balloon-device; the proxy's virtio-backend child */
} vb__obj;

/* A QOM path as QEMU's object_resolve_path reads it: its components, empty ones dropped
   ("/machine//peripheral/balloon0/" is the device), read from the client's string or from host
   strings (lit, then lit2), joined by single '/'s. */
typedef struct vb__qpath {
    vb__str c;
    const char *lit, *lit2; /* host strings, or NULL for the client's */
    int32_t held;           /* a character read ahead (-1: none) */
    int started;            /* a component was read */
} vb__qpath;

static void vb__qpath_init(vb__qpath *p, const char *lit, const char *lit2)
{
    p->lit = lit;
    p->lit2 = lit2;
    p->held = -1;
    p->started = 0;
}

static int32_t vb__qpath_raw(vb__qpath *p)
{
    if (!p->lit) return p->c.pos < p->c.end ? (int32_t)vb__str_next(&p->c) : -1;
    if (!*p->lit && p->lit2) {
        p->lit = p->lit2;
        p->lit2 = 0;
    }
    return *p->lit ? (int32_t)(unsigned char)*p->lit++ : -1;
}

/* The next character of the normalized path; -1 at its end. */
static int32_t vb__qpath_next(vb__qpath *p)
{
    int32_t ch = p->held;
    p->held = -1;
    if (ch >= 0) return ch;
    ch = vb__qpath_raw(p);
    while (ch == '/') {
        ch = vb__qpath_raw(p);
        if (ch >= 0 && ch != '/' && p->started) {
            p->held = ch;
            return '/';
        }
    }
    if (ch >= 0) p->started = 1;
    return ch;
}

static unsigned vb__qpath_components(vb__qpath p) /* a copy: counting reads it */
{
    unsigned n = 0;
    int32_t ch, prev = '/';
    while ((ch = vb__qpath_next(&p)) >= 0) {
        n += prev == '/';
        prev = ch;
    }
    return n;
}

/* Does the client's path name the object at `base` + `tail`? An absolute path must name all of
   its components; a partial one (no leading '/') its last ones, as QEMU resolves a partial path
   that is unique. */
static int vb__path_names(const char *in, vb__span path, const char *base, const char *tail)
{
    vb__qpath want, target;
    vb__str first;
    unsigned k, m;
    int32_t a, b;
    vb__qpath_init(&want, 0, 0);
    vb__str_init(&want.c, in, path);
    vb__qpath_init(&target, base, tail);
    k = vb__qpath_components(want);
    m = vb__qpath_components(target);
    first = want.c;
    if (k == 0 || k > m || (vb__str_next(&first) == '/' && k != m)) return 0;
    for (; m > k; m--) /* the components a partial path leaves out */
        while (vb__qpath_next(&target) != '/') {}
    do {
        a = vb__qpath_next(&want);
        b = vb__qpath_next(&target);
    } while (a == b && a >= 0);
    return a == b;
}

/* 1: the path is `base`, 2: base + "/virtio-backend", 0: neither. */
static int vb__path_is(const char *in, vb__span path, const char *base)
{
    if (!base) return 0;
    if (vb__name_is(in + path.at + 1, path.end - path.at - 2, base)) return 1; /* as written */
    if (vb__path_names(in, path, base, 0)) return 1;
    return vb__path_names(in, path, base, "/virtio-backend") ? 2 : 0;
}

static int vb__qmp_path(vb__reply *r, const vb_qmp *s, vb__span path, vb__obj *obj)
{
    const char *type = s->dev->type_name;
    int is_backend = vb__name_is(type, vb__strlen(type), VB__BACKEND_TYPE), hit;
    obj->base = s->path;
    if (!(hit = vb__path_is(r->in, path, s->path))) {
        obj->base = s->alt_path;
        hit = vb__path_is(r->in, path, s->alt_path);
    }
    if (!hit || (hit == 2 && is_backend)) {
        vb__reply_error_quote(r, "DeviceNotFound", "Device '", path, "' not found");
        return 0;
    }
    obj->child = (unsigned)(hit == 2);
    obj->backend = (unsigned)is_backend | obj->child;
    obj->type = obj->backend ? VB__BACKEND_TYPE : type;
    obj->props = obj->backend ? vb__qom_backend : vb__qom_proxy;
    obj->n = obj->backend ? (unsigned)(sizeof vb__qom_backend / sizeof vb__qom_backend[0])
                          : (unsigned)(sizeof vb__qom_proxy / sizeof vb__qom_proxy[0]);
    return 1;
}

/* "Property 'TYPE.NAME' " + what */
static void vb__reply_property(vb__reply *r, const char *type, vb__span name, const char *what)
{
    vb__reply_error_begin(r, "GenericError");
    vb__puts(&r->o, "Property '");
    vb__put_utf8(&r->o, type, vb__strlen(type));
    vb__puts(&r->o, ".");
    vb__put_span_text(&r->o, r->in, name);
    vb__puts(&r->o, what);
    vb__reply_error_end(r);
}

/* The object's property at `name`, or NULL after replying "not found". The doc profile also
   takes the document's alias of the interval. */
static const vb__qom_prop *vb__qmp_prop(vb__reply *r, const vb_device *d, const vb__obj *obj, vb__span name)
{
    static const char alias[] = "stats-polling-interval";
    int is_alias = vb__str_is(r->in, name, alias) && vb_prop_type(d, alias, sizeof alias - 1);
    unsigned i;
    for (i = 0; i < obj->n; i++)
        if (vb__str_is(r->in, name, obj->props[i].name) || (is_alias && obj->props[i].value == VB__QV_INTERVAL))
            return &obj->props[i];
    vb__reply_property(r, obj->type, name, "' not found");
    return 0;
}

/* The arguments {"path", "property", ...} of qom-get and qom-set: the property, or NULL after
   replying with the first error. */
static const vb__qom_prop *vb__qmp_qom_args(vb__reply *r, const vb_qmp *s, vb__span args, const vb__param *p,
                                            unsigned n, vb__span *v, vb__obj *obj)
{
    if (!vb__args(r, args, p, n, v) || !vb__qmp_path(r, s, v[0], obj)) return 0;
    return vb__qmp_prop(r, s->dev, obj, v[1]);
}

/* A property's value at level 1; VB_OK, or the device's error (nothing written). */
static vb_result vb__qom_value(vb__reply *r, const vb_qmp *s, const vb__obj *obj, const vb__qom_prop *p,
                               vb_error *e)
{
    int on = p->arg != 0;
    switch (p->value) {
    case VB__QV_TYPE:
        vb__put_str(&r->o, obj->type);
        return VB_OK;
    case VB__QV_CHILD: /* the child's canonical path */
        vb__put(&r->o, "\"", 1);
        vb__put_utf8(&r->o, obj->base, vb__strlen(obj->base));
        vb__puts(&r->o, "/virtio-backend\"");
        return VB_OK;
    case VB__QV_FEATURE:
        on = (int)((vb_host_features(s->dev) >> p->arg) & 1u);
        break;
    case VB__QV_BOOL:
        break;
    default:
        return vb__prop_value(s->dev, p->name, vb__strlen(p->name), &r->o, r->flags, 1, e);
    }
    vb__puts(&r->o, on ? "true" : "false");
    return VB_OK;
}

static vb__effect vb__qmp_qom_get(vb__reply *r, vb_qmp *s, vb__span args)
{
    static const vb__param params[2] = {{"path", VB__ARG_STR, 0}, {"property", VB__ARG_STR, 0}};
    vb__span v[2];
    vb__obj obj;
    const vb__qom_prop *prop = vb__qmp_qom_args(r, s, args, params, 2, v, &obj);
    vb_error e;
    size_t mark;
    if (!prop) return vb__fx_none;
    mark = r->o.len;
    vb__reply_return(r);
    if (vb__qom_value(r, s, &obj, prop, &e) != VB_OK) {
        r->o.len = mark; /* the value wrote nothing: start the reply again, as an error */
        vb__reply_error(r, &e);
        return vb__fx_none;
    }
    vb__reply_end(r);
    return vb__fx_none;
}

/* qdev refuses to change a static property of a realized device, before looking at the value.
   The proxy's are aliases of its anonymous backend's; a virtio-balloon-device at
   /machine/peripheral/ID has the id ID. */
static void vb__reply_realized(vb__reply *r, const vb__obj *obj, const vb__qom_prop *p)
{
    static const char pre[] = "/machine/peripheral/";
    const char *id = 0;
    if (obj->backend && !obj->child) {
        size_t i;
        for (i = 0; i < sizeof pre - 1 && obj->base[i] == pre[i]; i++) {}
        if (i == sizeof pre - 1 && obj->base[i]) id = obj->base + i;
        for (i = 0; id && id[i]; i++)
            if (id[i] == '/') id = 0;
    }
    vb__reply_error_begin(r, "GenericError");
    vb__puts(&r->o, "Attempt to set property '");
    vb__puts(&r->o, p->name);
    vb__puts(&r->o, id ? "' on device '" : "' on anonymous device");
    if (id) {
        vb__put_utf8(&r->o, id, vb__strlen(id));
        vb__puts(&r->o, "'");
    }
    vb__puts(&r->o, " (type '" VB__BACKEND_TYPE "') after it was realized");
    vb__reply_error_end(r);
}

/* A token of the input is exactly `lit` (true, false, ...). */
static int vb__token_is(const char *in, vb__span v, const char *lit)
{
    size_t n = vb__strlen(lit);
    return v.end - v.at == n && vb__name_is(in + v.at, n, lit);
}

/* realized: true changes nothing, as in QEMU; false would unrealize the device, which only its
   host can do (vb_destroy): refused. */
static void vb__qom_set_realized(vb__reply *r, const vb__obj *obj, vb__span name, vb__span value)
{
    if (vb__token_is(r->in, value, "true")) vb__reply_empty(r);
    else if (vb__token_is(r->in, value, "false")) vb__reply_property(r, obj->type, name, "' is not writable");
    else vb__reply_bad_type(r, "realized", "boolean");
}

/* The device's own properties: the interval (the only writable one) and guest-stats. */
static vb__effect vb__qom_set_device(vb__reply *r, vb_qmp *s, const vb__qom_prop *p, vb__span name, vb__span value)
{
    static const char alias[] = "stats-polling-interval";
    const char *spelled = vb__str_is(r->in, name, alias) ? alias : p->name;
    vb_error e;
    int64_t iv = 0;
    uint64_t uv;
    if (p->value == VB__QV_INTERVAL && vb__json_integer(r->in, value, &iv, &uv) != 1) {
        vb__reply_bad_type(r, spelled, "integer");
        return vb__fx_none;
    }
    if (vb__prop_set_check(s->dev, p->name, vb__strlen(p->name), iv, &e) != VB_OK) {
        vb__reply_error(r, &e);
        return vb__fx_none;
    }
    vb__reply_empty(r);
    return vb__fx(VB__FX_INTERVAL, iv);
}

static vb__effect vb__qmp_qom_set(vb__reply *r, vb_qmp *s, vb__span args)
{
    static const vb__param params[3] = {
        {"path", VB__ARG_STR, 0}, {"property", VB__ARG_STR, 0}, {"value", VB__ARG_ANY, 0}};
    vb__span v[3];
    vb__obj obj;
    const vb__qom_prop *prop = vb__qmp_qom_args(r, s, args, params, 3, v, &obj);
    if (!prop) return vb__fx_none;
    switch (prop->set) {
    case VB__QS_DEVICE:
        return vb__qom_set_device(r, s, prop, v[1], v[2]);
    case VB__QS_REALIZED:
        vb__qom_set_realized(r, &obj, v[1], v[2]);
        break;
    case VB__QS_QDEV:
        vb__reply_realized(r, &obj, prop);
        break;
    default:
        vb__reply_property(r, obj.type, v[1], "' is not writable");
        break;
    }
    return vb__fx_none;
}

/* One {"name": ..., "type": ...} (type NULL: without it) of a list at level 1. */
static void vb__list_entry(vb__reply *r, int first, const char *name, const char *type)
{
    if (!first) vb__sep(&r->o, r->flags);
    vb__newline(&r->o, r->flags, 2);
    vb__put(&r->o, "{", 1);
    vb__member(&r->o, r->flags, 3, 1, "name");
    vb__put_str(&r->o, name);
    if (type) {
        vb__member(&r->o, r->flags, 3, 0, "type");
        vb__put_str(&r->o, type);
    }
    vb__close(&r->o, r->flags, 2);
}

static void vb__list_end(vb__reply *r)
{
    vb__newline(&r->o, r->flags, 1);
    vb__put(&r->o, "]", 1);
    vb__reply_end(r);
}

static vb__effect vb__qmp_qom_list(vb__reply *r, vb_qmp *s, vb__span args)
{
    static const vb__param params[1] = {{"path", VB__ARG_STR, 0}};
    vb__span v[1];
    vb__obj obj;
    unsigned i;
    if (!vb__args(r, args, params, 1, v) || !vb__qmp_path(r, s, v[0], &obj)) return vb__fx_none;
    vb__reply_return(r);
    vb__put(&r->o, "[", 1);
    for (i = 0; i < obj.n; i++) vb__list_entry(r, i == 0, obj.props[i].name, obj.props[i].type);
    vb__list_end(r);
    return vb__fx_none;
}

static uint64_t vb__actual_bytes(const vb_device *d)
{
    uint64_t held = (uint64_t)d->actual << VB_PAGE_SHIFT;
    return d->ram_size > held ? d->ram_size - held : 0;
}

/* Without the guest's RAM size (0: not known yet, e.g. before a vhost-user front-end's memory
   table) the balloon cannot work out sizes: answer as QEMU does without an active balloon. */
static int vb__balloon_active(vb__reply *r, const vb_device *d)
{
    vb_error e;
    if (d->ram_size) return 1;
    vb__error_msg(&e, "DeviceNotActive", "No balloon device has been activated");
    vb__reply_error(r, &e);
    return 0;
}

static vb__effect vb__qmp_query_balloon(vb__reply *r, vb_qmp *s, vb__span args)
{
    if (!vb__args(r, args, 0, 0, 0) || !vb__balloon_active(r, s->dev)) return vb__fx_none;
    vb__reply_return(r);
    vb__put(&r->o, "{", 1);
    vb__member(&r->o, r->flags, 2, 1, "actual");
    vb__put_u64(&r->o, vb__actual_bytes(s->dev));
    vb__close(&r->o, r->flags, 1);
    vb__reply_end(r);
    return vb__fx_none;
}

static vb__effect vb__qmp_balloon(vb__reply *r, vb_qmp *s, vb__span args)
{
    static const vb__param params[1] = {{"value", VB__ARG_INT, 0}};
    vb__span v[1];
    int64_t target = 0;
    uint64_t u, total = s->dev->ram_size;
    if (!vb__args(r, args, params, 1, v) || !vb__balloon_active(r, s->dev)) return vb__fx_none;
    vb__json_integer(r->in, v[0], &target, &u);
    if (target <= 0) {
        vb__reply_generic(r, "Parameter 'target' expects a size");
        return vb__fx_none;
    }
    vb__reply_empty(r);
    if ((uint64_t)target > total) target = (int64_t)total;
    return vb__fx(VB__FX_TARGET, (int64_t)((total - (uint64_t)target) >> VB_PAGE_SHIFT));
}

#ifndef VB_NO_FREE_PAGE_HINT
/* Free page hinting, experimental (QMP's "x-" prefix): what a migration would do, by hand. */
static const char *const vb__hint_names[4] = {"stop", "requested", "start", "done"};

static vb__effect vb__qmp_hint(vb__reply *r, vb_qmp *s, vb__span args)
{
    static const vb__param params[1] = {{"action", VB__ARG_STR, 0}};
    vb__span v[1];
    int64_t i;
    if (!vb__args(r, args, params, 1, v)) return vb__fx_none;
    for (i = 0; i < 4 && (i == VB_HINT_REQUESTED || !vb__str_is(r->in, v[0], vb__hint_names[i])); i++) {}
    if (i == 4) {
        vb__reply_error_quote(r, "GenericError", "Parameter 'action' does not accept value '", v[0], "'");
        return vb__fx_none;
    }
    if (i == VB_HINT_START && (!vb__has(s->dev, VB_F_FREE_PAGE_HINT) || vb_is_broken(s->dev))) {
        vb__reply_generic(r, "The guest has not negotiated free page hinting");
        return vb__fx_none;
    }
    vb__reply_empty(r);
    return vb__fx(VB__FX_HINT, i);
}

static vb__effect vb__qmp_query_hint(vb__reply *r, vb_qmp *s, vb__span args)
{
    const vb_hint_info *h = vb_hint(s->dev);
    if (!vb__args(r, args, 0, 0, 0)) return vb__fx_none;
    vb__reply_return(r);
    vb__put(&r->o, "{", 1);
    vb__member(&r->o, r->flags, 2, 1, "status");
    vb__put_str(&r->o, vb__hint_names[h->status & 3u]);
    vb__member(&r->o, r->flags, 2, 0, "cmd-id");
    vb__put_u64(&r->o, h->cmd_id);
    vb__member(&r->o, r->flags, 2, 0, "guest-cmd-id");
    vb__put_u64(&r->o, h->guest_cmd_id);
    vb__member(&r->o, r->flags, 2, 0, "ranges");
    vb__put_u64(&r->o, h->ranges);
    vb__member(&r->o, r->flags, 2, 0, "bytes");
    vb__put_u64(&r->o, h->bytes);
    vb__close(&r->o, r->flags, 1);
    vb__reply_end(r);
    return vb__fx_none;
}
#endif /* VB_NO_FREE_PAGE_HINT */

/* qmp_capabilities' "enable": a list of QMPCapability, of which only "oob" exists. 0 after
   replying with the error of the first bad element. */
static int vb__qmp_caps_enable(vb__reply *r, vb__span list)
{
    size_t pos;
    uint64_t i = 0;
    for (pos = vb__skip_ws(r->in, list.at + 1); r->in[pos] != ']'; i++) {
        vb__span e;
        e.at = pos;
        e.end = vb__json_skip(r->in, pos);
        if (!vb__is_string(r->in, e)) {
            vb__reply_error_begin(r, "GenericError");
            vb__puts(&r->o, "Invalid parameter type for 'enable[");
            vb__put_u64(&r->o, i);
            vb__puts(&r->o, "]', expected: string");
            vb__reply_error_end(r);
            return 0;
        }
        if (!vb__str_is(r->in, e, "oob")) { /* QEMU >= 6.2 names a list element 'null' */
            vb__reply_error_quote(r, "GenericError", "Parameter 'null' does not accept value '", e, "'");
            return 0;
        }
        pos = vb__skip_ws(r->in, e.end);
        if (r->in[pos] == ',') pos = vb__skip_ws(r->in, pos + 1);
    }
    return 1;
}

/* Arguments are checked before the handler runs, so they win over "already complete". */
static vb__effect vb__qmp_capabilities(vb__reply *r, vb_qmp *s, vb__span args)
{
    static const vb__param params[1] = {{"enable", VB__ARG_ARRAY, 1}};
    vb__span v[1], unexpected;
    /* the visitor checks each element of "enable" before it looks for unexpected arguments */
    if (!vb__args_typed(r, args, params, 1, v, &unexpected) || (v[0].end && !vb__qmp_caps_enable(r, v[0])))
        return vb__fx_none;
    if (unexpected.end) {
        vb__reply_unexpected(r, unexpected);
        return vb__fx_none;
    }
    if (s->negotiated && !(s->flags & VB_QMP_NO_NEGOTIATION)) {
        vb_error e;
        vb__error_msg(&e, "CommandNotFound", "Capabilities negotiation is already complete, command ignored");
        vb__reply_error(r, &e);
        return vb__fx_none;
    }
    vb__reply_empty(r);
    return vb__fx(VB__FX_NEGOTIATED, 1);
}

static vb__effect vb__qmp_query_version(vb__reply *r, vb_qmp *s, vb__span args)
{
    static const char *const parts[3] = {"micro", "minor", "major"};
    unsigned i;
    if (!vb__args(r, args, 0, 0, 0)) return vb__fx_none;
    vb__reply_return(r);
    vb__put(&r->o, "{", 1);
    vb__member(&r->o, r->flags, 2, 1, "qemu");
    vb__put(&r->o, "{", 1);
    for (i = 0; i < 3; i++) {
        vb__member(&r->o, r->flags, 3, i == 0, parts[i]);
        vb__put_u64(&r->o, s->qemu_version[2 - i]);
    }
    vb__close(&r->o, r->flags, 2);
    vb__member(&r->o, r->flags, 2, 0, "package");
    vb__put_str(&r->o, s->package ? s->package : "");
    vb__close(&r->o, r->flags, 1);
    vb__reply_end(r);
    return vb__fx_none;
}

static vb__effect vb__qmp_query_commands(vb__reply *r, vb_qmp *s, vb__span args);

typedef vb__effect (*vb__handler)(vb__reply *r, vb_qmp *s, vb__span args);

/* The commands; only qmp_capabilities may run before the negotiation. */
static const struct vb__command {
    const char *name;
    vb__handler run;
    int anytime;
} vb__commands[] = {
    {"qmp_capabilities", vb__qmp_capabilities, 1},
    {"qom-get", vb__qmp_qom_get, 0},
    {"qom-set", vb__qmp_qom_set, 0},
    {"qom-list", vb__qmp_qom_list, 0},
    {"query-balloon", vb__qmp_query_balloon, 0},
    {"balloon", vb__qmp_balloon, 0},
    {"query-version", vb__qmp_query_version, 0},
    {"query-commands", vb__qmp_query_commands, 0},
#ifndef VB_NO_FREE_PAGE_HINT
    {"x-balloon-free-page-hint", vb__qmp_hint, 0},
    {"x-query-balloon-free-page-hint", vb__qmp_query_hint, 0},
#endif
};

/* query-commands lists the session's commands and the host's (vb_qmp.host_commands) in QEMU
   7.2's order, which is its reply filtered to these names; names QEMU does not have follow. */
static const char *const vb__qemu_command_order[] = {
    "cont", "stop", "query-balloon", "balloon", "system_wakeup", "system_powerdown", "system_reset",
    "qom-set", "qom-get", "qom-list", "quit", "query-commands", "query-version", "qmp_capabilities",
    "query-status", 0};

/* `name` is in a NULL-terminated list (NULL: empty). */
static int vb__listed(const char *const *list, const char *name)
{
    size_t n = vb__strlen(name);
    while (list && *list)
        if (vb__name_is(name, n, *list++)) return 1;
    return 0;
}

static int vb__is_command(const char *name)
{
    size_t i, n = vb__strlen(name);
    for (i = 0; i < sizeof vb__commands / sizeof vb__commands[0]; i++)
        if (vb__name_is(name, n, vb__commands[i].name)) return 1;
    return 0;
}

static vb__effect vb__qmp_query_commands(vb__reply *r, vb_qmp *s, vb__span args)
{
    const char *const *order = vb__qemu_command_order, *const *host = s->host_commands;
    unsigned n = 0;
    size_t i;
    if (!vb__args(r, args, 0, 0, 0)) return vb__fx_none;
    vb__reply_return(r);
    vb__put(&r->o, "[", 1);
    for (i = 0; order[i]; i++)
        if (vb__is_command(order[i]) || vb__listed(host, order[i])) vb__list_entry(r, n++ == 0, order[i], 0);
    for (i = 0; i < sizeof vb__commands / sizeof vb__commands[0]; i++)
        if (!vb__listed(order, vb__commands[i].name)) vb__list_entry(r, n++ == 0, vb__commands[i].name, 0);
    for (i = 0; host && host[i]; i++)
        if (!vb__listed(order, host[i]) && !vb__is_command(host[i])) vb__list_entry(r, n++ == 0, host[i], 0);
    vb__list_end(r);
    return vb__fx_none;
}

static vb__effect vb__qmp_dispatch(vb__reply *r, vb_qmp *s, const vb_qmp_command *c)
{
    const struct vb__command *cmd = 0;
    unsigned i;
    for (i = 0; i < sizeof vb__commands / sizeof vb__commands[0] && !cmd; i++)
        if (vb__str_is(r->in, c->name, vb__commands[i].name)) cmd = &vb__commands[i];
    if (!(cmd && cmd->anytime) && !s->negotiated && !(s->flags & VB_QMP_NO_NEGOTIATION)) {
        vb_error e;
        vb__error_msg(&e, "CommandNotFound", "Expecting capabilities negotiation with 'qmp_capabilities'");
        vb__reply_error(r, &e);
        return vb__fx_none;
    }
    if (!cmd) {
        vb__reply_error_quote(r, "CommandNotFound", "The command ", c->name, " has not been found");
        return vb__fx_none;
    }
    return cmd->run(r, s, c->args);
}

static void vb__qmp_apply(vb_qmp *s, vb__effect fx)
{
    if (fx.kind == VB__FX_INTERVAL) vb_set_poll_interval(s->dev, fx.value, 0);
    else if (fx.kind == VB__FX_TARGET) vb_set_target_pages(s->dev, (uint32_t)fx.value);
    else if (fx.kind == VB__FX_NEGOTIATED) s->negotiated = 1;
#ifndef VB_NO_FREE_PAGE_HINT
    else if (fx.kind == VB__FX_HINT && fx.value == VB_HINT_START) vb_hint_start(s->dev);
    else if (fx.kind == VB__FX_HINT && fx.value == VB_HINT_STOP) vb_hint_stop(s->dev);
    else if (fx.kind == VB__FX_HINT) vb_hint_done(s->dev);
#endif
}

/* ---- the envelope: one JSON object {"execute": ..., "arguments": ..., "id": ...} --------------- */

static void vb__reply_init(vb__reply *r, const char *in, unsigned qmp_flags, char *buf, size_t cap)
{
    vb__out_init(&r->o, buf, cap);
    r->flags = (qmp_flags & VB_QMP_PRETTY) ? VB_JSON_PRETTY : 0;
    r->in = in;
    r->has_id = 0;
}

static void vb__reply_parse_error(vb__reply *r, const char *why, const char *tok, size_t len,
                                  const char *after)
{
    vb__reply_error_begin(r, "GenericError");
    vb__puts(&r->o, "JSON parse error, ");
    vb__puts(&r->o, why);
    vb__put_utf8(&r->o, tok, len);
    vb__puts(&r->o, after);
    vb__reply_error_end(r);
}

static int vb__blank(const char *in, size_t len)
{
    size_t pos = 0;
    while (pos < len && vb__ws_char(in[pos])) pos++;
    return pos == len;
}

/* The input's first message, cut as QEMU's streamer cuts it: 1 if it is one valid JSON value,
   which starts at *at; else 0 after replying with QEMU's error (nothing for mere whitespace). */
static int vb__qmp_message(vb__reply *r, size_t len, size_t *at)
{
    static const char *const limit[3] = {"JSON token size limit exceeded",
                                         "JSON token count limit exceeded",
                                         "JSON nesting depth limit exceeded"};
    vb__stream m;
    vb__json j;
    int end;
    vb__stream_init(&m, r->in, len);
    end = vb__stream_next(&m);
    if (end == VB__MSG_NONE) end = vb__stream_flush(&m);
    if (end == VB__MSG_STRAY) { /* the token so far, as a C string: up to a NUL */
        size_t n;
        for (n = 0; m.tok_at + n < m.pos && r->in[m.tok_at + n]; n++) {}
        vb__reply_parse_error(r, "stray '", r->in + m.tok_at, n, "'");
    } else if (end >= VB__MSG_SIZE) {
        vb__reply_generic(r, limit[end - VB__MSG_SIZE]);
    }
    if (end != VB__MSG_VALUE) return 0;
    j.s = r->in;
    j.pos = m.msg_at;
    j.len = m.pos;
    j.tok_at = 0;
    if (vb__json_parse(&j) && !vb__blank(r->in + m.pos, len - m.pos))
        vb__jfail(&j, "trailing characters after the value"); /* only if not cut by a stream */
    if (j.why) {
        vb__reply_parse_error(r, j.why, r->in + j.tok_at, j.tok_len, j.after);
        return 0;
    }
    *at = m.msg_at;
    return 1;
}

/* The members of the command object (unique: the parser refused repeated keys). QEMU checks
   them in its QDict's order (hash buckets; the later key first within one): the first bad
   member in that order is returned in *bad with its bucket. */
static void vb__qmp_members(const char *in, size_t at, vb_qmp_command *c, vb__span *bad,
                            unsigned *bad_bucket)
{
    vb__span key, val;
    size_t pos = at + 1;
    while (vb__json_member(in, &pos, &key, &val)) {
        if (vb__str_is(in, key, "execute")) {
            c->name = val;
        } else if (vb__str_is(in, key, "arguments")) {
            c->args = val;
        } else if (vb__str_is(in, key, "id")) {
            c->id = val;
        } else {
            unsigned b = vb__qdict_bucket(in, key);
            if (!bad->end || b <= *bad_bucket) {
                *bad = key;
                *bad_bucket = b;
            }
        }
    }
}

/* The envelope's errors in QEMU's order; 0 after replying with the first. A member of the
   wrong type wins over an unexpected one only if it comes first in the QDict. */
static int vb__qmp_envelope_ok(vb__reply *r, const vb_qmp_command *c, vb__span bad, unsigned bad_bucket)
{
    const char *why = 0;
    if (c->name.end && !vb__is_string(c->in, c->name) &&
        (!bad.end || vb__qdict_bucket_lit("execute") < bad_bucket))
        why = "QMP input member 'execute' must be a string";
    else if (c->args.end && c->in[c->args.at] != '{' &&
             (!bad.end || vb__qdict_bucket_lit("arguments") < bad_bucket))
        why = "QMP input member 'arguments' must be an object";
    else if (bad.end)
        vb__reply_error_quote(r, "GenericError", "QMP input member '", bad, "' is unexpected");
    else if (!c->name.end)
        why = "QMP input lacks member 'execute'";
    if (why) vb__reply_generic(r, why);
    return !why && !bad.end;
}

/* Validate the input's first message as a command and fill *c; 0 after replying with the error
   (or with nothing). The monitor takes the "id" before anything else, so every later error
   carries it. */
static int vb__qmp_envelope(vb__reply *r, size_t len, vb_qmp_command *c)
{
    vb__span bad = {0, 0};
    unsigned bad_bucket = 0;
    size_t at;
    VB_MEMSET(c, 0, sizeof *c); /* every span absent */
    c->in = r->in;
    if (!vb__qmp_message(r, len, &at)) return 0;
    if (r->in[at] != '{') {
        vb__reply_generic(r, "QMP input must be a JSON object");
        return 0;
    }
    vb__qmp_members(r->in, at, c, &bad, &bad_bucket);
    if (c->id.end && !vb__id_echoes(r->in, c->id)) {
        vb__reply_parse_error(r, VB__JSON_TOO_BIG_ID, "", 0, "");
        return 0;
    }
    r->id = c->id;
    r->has_id = c->id.end != 0;
    return vb__qmp_envelope_ok(r, c, bad, bad_bucket);
}

/* ---- the public API -------------------------------------------------------------------------- */

VB_API void vb_qmp_init(vb_qmp *s, vb_device *dev, unsigned flags)
{
    s->dev = dev;
    s->path = "/machine/peripheral/balloon0";
    s->alt_path = "/machine/peripheral-anon/device[1]";
    s->package = "vballoon.h " VB_VERSION_STRING;
    s->host_commands = 0;
    s->qemu_version[0] = 7;
    s->qemu_version[1] = 2;
    s->qemu_version[2] = 0;
    s->flags = flags;
    s->negotiated = 0;
    s->recovering = 0;
}

VB_API size_t vb_qmp_greeting(const vb_qmp *s, char *buf, size_t cap)
{
    vb__out o;
    vb__out_init(&o, buf, cap);
    vb__puts(&o, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": ");
    vb__put_u64(&o, s->qemu_version[2]);
    vb__puts(&o, ", \"minor\": ");
    vb__put_u64(&o, s->qemu_version[1]);
    vb__puts(&o, ", \"major\": ");
    vb__put_u64(&o, s->qemu_version[0]);
    vb__puts(&o, "}, \"package\": ");
    vb__put_str(&o, s->package ? s->package : "");
    vb__puts(&o, "}, \"capabilities\": [\"oob\"]}}");
    return vb__out_end(&o);
}

/* The command's effect, if its reply fits and it may run now; the reply's length. */
static size_t vb__qmp_run(vb_qmp *s, vb__reply *r, const vb_qmp_command *c, int parsed)
{
    vb__effect fx = parsed ? vb__qmp_dispatch(r, s, c) : vb__fx_none;
    char *buf = r->o.buf;
    size_t cap = r->o.cap;
    if (fx.kind != VB__FX_NONE && fx.kind != VB__FX_NEGOTIATED && vb_in_callback(s->dev)) {
        vb_error e; /* a change asked from inside a device callback: refused, and said so */
        vb__busy_error(&e);
        vb__out_init(&r->o, buf, cap);
        vb__reply_error(r, &e);
        fx = vb__fx_none;
    }
    if (r->o.len < r->o.cap) vb__qmp_apply(s, fx); /* transactional: only a reply that fits */
    return vb__out_end(&r->o);
}

VB_API size_t vb_qmp_execute(vb_qmp *s, const char *in, size_t len, char *buf, size_t cap)
{
    vb__reply r;
    vb_qmp_command c;
    vb__reply_init(&r, in, s->flags, buf, cap);
    return vb__qmp_run(s, &r, &c, vb__qmp_envelope(&r, len, &c));
}

VB_API size_t vb_qmp_execute_command(vb_qmp *s, const vb_qmp_command *cmd, char *buf, size_t cap)
{
    vb__reply r; /* the library checks the arguments itself: cmd's argument errors stay out */
    vb__reply_init(&r, cmd->in, s->flags, buf, cap);
    r.id = cmd->id;
    r.has_id = cmd->id.end != 0;
    return vb__qmp_run(s, &r, cmd, 1);
}

VB_API int vb_qmp_parse(const char *in, size_t len, vb_qmp_command *cmd)
{
    vb__reply r;
    vb__reply_init(&r, in, 0, 0, 0); /* the errors go nowhere */
    return vb__qmp_envelope(&r, len, cmd);
}

VB_API int vb_qmp_command_is(const vb_qmp_command *cmd, const char *name)
{
    return cmd->name.end != 0 && vb__str_is(cmd->in, cmd->name, name);
}

/* The value of the argument `name`; end 0: absent. */
static vb__span vb__arg_find(const vb_qmp_command *c, const char *name)
{
    vb__param p;
    vb__span v;
    p.name = name;
    p.type = VB__ARG_ANY;
    p.optional = 1;
    vb__args_collect(c->in, c->args, &p, 1, &v);
    return v;
}

VB_API int vb_qmp_arg_int(vb_qmp_command *cmd, const char *name, int64_t *value)
{
    vb__span v = vb__arg_find(cmd, name);
    int64_t i;
    uint64_t u;
    if (!v.end) return 0;
    if (vb__json_integer(cmd->in, v, &i, &u) == 1) {
        if (value) *value = i;
        return 1;
    }
    if (!cmd->bad_key.end && !cmd->bad_param) cmd->bad_param = name;
    return -1;
}

VB_API int vb_qmp_args_only(vb_qmp_command *cmd, const char *const *names, size_t n)
{
    vb__span key, val;
    size_t pos = cmd->args.at + 1, i;
    while (cmd->args.end && vb__json_member(cmd->in, &pos, &key, &val)) {
        for (i = 0; i < n && !vb__str_is(cmd->in, key, names[i]); i++) {}
        if (i == n) {
            if (!cmd->bad_key.end && !cmd->bad_param) cmd->bad_key = key;
            return 0;
        }
    }
    return 1;
}

VB_API size_t vb_qmp_reply(const vb_qmp *s, const vb_qmp_command *cmd, const char *error,
                           char *buf, size_t cap)
{
    vb__reply r;
    vb__reply_init(&r, cmd->in, s ? s->flags : 0u, buf, cap);
    r.id = cmd->id;
    r.has_id = cmd->id.end != 0;
    if (cmd->bad_param) vb__reply_bad_type(&r, cmd->bad_param, "integer");
    else if (cmd->bad_key.end) vb__reply_unexpected(&r, cmd->bad_key);
    else if (error) vb__reply_generic(&r, error);
    else vb__reply_empty(&r);
    return vb__out_end(&r.o);
}

VB_API size_t vb_qmp_reply_status(const vb_qmp *s, const vb_qmp_command *cmd, const char *status,
                                  char *buf, size_t cap)
{
    vb__reply r;
    if (cmd->bad_param || cmd->bad_key.end) return vb_qmp_reply(s, cmd, 0, buf, cap);
    vb__reply_init(&r, cmd->in, s ? s->flags : 0u, buf, cap);
    r.id = cmd->id;
    r.has_id = cmd->id.end != 0;
    vb__reply_return(&r);
    vb__put(&r.o, "{", 1);
    vb__member(&r.o, r.flags, 2, 1, "status");
    vb__put_str(&r.o, status);
    vb__member(&r.o, r.flags, 2, 0, "singlestep");
    vb__puts(&r.o, "false");
    vb__member(&r.o, r.flags, 2, 0, "running");
    vb__puts(&r.o, vb__name_is(status, vb__strlen(status), "running") ? "true" : "false");
    vb__close(&r.o, r.flags, 1);
    vb__reply_end(&r);
    return vb__out_end(&r.o);
}

/* ---- stream framing -------------------------------------------------------------------------- */

VB_API size_t vb_qmp_frame(vb_qmp *s, const char *buf, size_t len, size_t *skip)
{
    vb__stream m;
    int end;
    vb__stream_init(&m, buf, len);
    *skip = 0;
    if (s->recovering) {
        m.lex = VB__LX_RECOVERY;
        s->recovering = !vb__stream_recover(&m);
        *skip = m.pos;
        if (m.pos) return m.pos;
    }
    end = vb__stream_next(&m);
    if (end == VB__MSG_NONE) return 0;
    s->recovering = end == VB__MSG_STRAY;
    return m.pos;
}

/* An event's start, up to the name: {"timestamp": {...}, "event": */
static void vb__event_begin(vb__out *o, int64_t seconds, int64_t micros)
{
    vb__puts(o, "{\"timestamp\": {\"seconds\": ");
    vb__put_i64(o, seconds);
    vb__puts(o, ", \"microseconds\": ");
    vb__put_i64(o, micros);
    vb__puts(o, "}, \"event\": ");
}

VB_API size_t vb_qmp_event_balloon_change(const vb_device *dev, int64_t seconds, int64_t micros,
                                           char *buf, size_t cap)
{
    vb__out o;
    vb__out_init(&o, buf, cap);
    vb__event_begin(&o, seconds, micros);
    vb__puts(&o, "\"BALLOON_CHANGE\", \"data\": {\"actual\": ");
    vb__put_u64(&o, vb__actual_bytes(dev));
    vb__puts(&o, "}}");
    return vb__out_end(&o);
}

VB_API size_t vb_qmp_event_stats_stale(const vb_device *dev, int64_t seconds, int64_t micros,
                                        char *buf, size_t cap)
{
    vb__out o;
    vb__out_init(&o, buf, cap);
    vb__event_begin(&o, seconds, micros);
    vb__puts(&o, "\"" VB_QMP_STATS_STALE_EVENT "\", \"data\": {\"stale\": ");
    vb__puts(&o, dev->tele.stale ? "true" : "false");
    vb__puts(&o, ", \"missed-intervals\": ");
    vb__put_u64(&o, dev->tele.missed);
    vb__puts(&o, ", \"last-update\": ");
    vb__put_i64(&o, dev->last_update);
    vb__puts(&o, "}}");
    return vb__out_end(&o);
}

VB_API size_t vb_qmp_event(const char *event, const char *data, int64_t seconds, int64_t micros,
                           char *buf, size_t cap)
{
    vb__out o;
    vb__out_init(&o, buf, cap);
    vb__event_begin(&o, seconds, micros);
    vb__put_str(&o, event);
    if (data) {
        vb__puts(&o, ", \"data\": ");
        vb__puts(&o, data);
    }
    vb__puts(&o, "}");
    return vb__out_end(&o);
}

#undef VB__JSON_MAX_DEPTH
#endif /* VB_NO_QMP */

#ifdef VB_WITH_MMIO
/* ============================================================================================
   LAYER 8: VIRTIO-MMIO TRANSPORT (the Version 2 register block; compiled with VB_WITH_MMIO)
   Register accesses become the device's transport calls; the device's interrupts come back as
   InterruptStatus bits and a level on the host's line. Nothing here touches guest memory.
   ============================================================================================ */

/* Drive the line to (InterruptStatus != 0), calling the host only on a change. */
static void vb__mmio_line(vb_mmio *m)
{
    int level = m->interrupt_status != 0;
    if (level == m->level) return;
    m->level = level;
    if (m->irq) m->irq(m->irq_user, level);
}

/* An access the spec says the device ignores: reads 0, writes are dropped. */
static void vb__mmio_bad(vb_mmio *m, uint64_t offset)
{
    m->bad_accesses++;
    m->last_bad_offset = offset > UINT32_MAX ? UINT32_MAX : (uint32_t)offset;
}

/* Every register to its initial value (QueueNum to QueueNumMax, as the device's queues). */
static void vb__mmio_clear(vb_mmio *m)
{
    unsigned i;
    m->device_features_sel = m->driver_features_sel = m->queue_sel = 0;
    m->driver_features = 0;
    m->interrupt_status = 0;
    for (i = 0; i < VB_QUEUE_MAX; i++) {
        VB_MEMSET(&m->queue[i], 0, sizeof m->queue[i]);
        m->queue[i].num = vb_queue_size_max(m->dev);
    }
    vb__mmio_line(m);
}

VB_API void vb_mmio_init(vb_mmio *m, vb_device *dev, void (*irq)(void *user, int level), void *user)
{
    VB_MEMSET(m, 0, sizeof *m);
    m->dev = dev;
    m->irq = irq;
    m->irq_user = user;
    m->vendor_id = VB_MMIO_VENDOR_QEMU;
    vb__mmio_clear(m);
}

VB_API void vb_mmio_reset(vb_mmio *m)
{
    if (vb_in_callback(m->dev)) return; /* refused, as the device's own calls (vb_host) */
    vb_set_status(m->dev, 0);
    vb__mmio_clear(m);
}

VB_API void vb_mmio_interrupt(vb_mmio *m, uint32_t bits)
{
    m->interrupt_status |= bits & (VB_MMIO_INT_VRING | VB_MMIO_INT_CONFIG);
    vb__mmio_line(m);
}

/* Status: 0 resets; the first write with FEATURES_OK hands the accumulated driver features to
   the device, which keeps FEATURES_OK only if it accepts them (and we require VERSION_1). */
static void vb__mmio_status(vb_mmio *m, uint32_t value)
{
    vb_device *d = m->dev;
    uint8_t s = (uint8_t)(value & 0xffu);
    if (s == 0) {
        vb_mmio_reset(m);
        return;
    }
    if ((s & VB_S_FEATURES_OK) && !(vb_status(d) & VB_S_FEATURES_OK)) {
        vb_set_driver_features(d, m->driver_features);
        if (!((m->driver_features >> VB_F_VERSION_1) & 1u)) s &= (uint8_t)~VB_S_FEATURES_OK;
    }
    vb_set_status(d, s);
}

/* QueueReady = 1: the staged size and rings go to the device, then the queue starts. A setup
   the device refuses leaves the queue stopped and the device needing a reset. */
static void vb__mmio_queue_ready(vb_mmio *m, uint32_t value)
{
    vb_device *d = m->dev;
    unsigned qi = m->queue_sel;
    const vb_mmio_queue *q = &m->queue[qi];
    if (value > 1) {
        vb__mmio_bad(m, VB_MMIO_QUEUE_READY);
        return;
    }
    if (!value) {
        vb_queue_set_ready(d, qi, 0);
        return;
    }
    if (vb_queue_ready(d, qi)) return;
    if (q->num > UINT16_MAX ||
        vb_queue_setup(d, qi, (uint16_t)q->num, q->desc, q->avail, q->used) != VB_OK) {
        vb__mmio_bad(m, VB_MMIO_QUEUE_READY);
        vb_break(d, VB_LOG_RING_MEMORY);
        return;
    }
    vb_queue_set_ready(d, qi, 1);
}

/* The staged 64-bit ring address a QueueDesc/Driver/Device register half belongs to. */
static uint64_t *vb__mmio_ring_reg(vb_mmio_queue *q, uint64_t offset)
{
    switch (offset & ~(uint64_t)4u) {
    case VB_MMIO_QUEUE_DESC_LOW: return &q->desc;
    case VB_MMIO_QUEUE_AVAIL_LOW: return &q->avail;
    case VB_MMIO_QUEUE_USED_LOW: return &q->used;
    default: return 0;
    }
}

/* Device config space at VB_MMIO_CONFIG: 1, 2 or 4 bytes inside the window. */
static int vb__mmio_config_access(uint64_t offset, unsigned width)
{
    return offset >= VB_MMIO_CONFIG && offset < VB_MMIO_SIZE && (width == 1 || width == 2 || width == 4) &&
           offset + width <= VB_MMIO_SIZE;
}

/* Registers below the config space take aligned 32-bit accesses only. */
static int vb__mmio_register_access(uint64_t offset, unsigned width)
{
    return offset < VB_MMIO_CONFIG && width == 4 && !(offset & 3u);
}

/* A read register's value; 0 and *ok = 0 for a write-only or reserved one. */
static uint32_t vb__mmio_register(const vb_mmio *m, uint64_t offset, int *ok)
{
    const vb_device *d = m->dev;
    int queue = m->queue_sel < vb_queue_count(d);
    *ok = 1;
    switch (offset) {
    case VB_MMIO_MAGIC_VALUE: return VB_MMIO_MAGIC;
    case VB_MMIO_VERSION: return 2;
    case VB_MMIO_DEVICE_ID: return VB_DEVICE_ID;
    case VB_MMIO_VENDOR_ID: return m->vendor_id;
    case VB_MMIO_DEVICE_FEATURES: /* feature bits past 63 do not exist: 0 */
        return m->device_features_sel > 1 ? 0 : (uint32_t)(vb_host_features(d) >> (32u * m->device_features_sel));
    case VB_MMIO_QUEUE_NUM_MAX: return queue ? vb_queue_size_max(d) : 0; /* 0: how a driver probes */
    case VB_MMIO_QUEUE_READY: return (uint32_t)vb_queue_ready(d, m->queue_sel); /* Linux reads it first */
    case VB_MMIO_INTERRUPT_STATUS: return m->interrupt_status;
    case VB_MMIO_STATUS: return vb_status(d);
    case VB_MMIO_SHM_LEN_LOW: /* no shared memory regions: length (and base) all ones */
    case VB_MMIO_SHM_LEN_HIGH:
    case VB_MMIO_SHM_BASE_LOW:
    case VB_MMIO_SHM_BASE_HIGH: return 0xffffffffu;
    case VB_MMIO_CONFIG_GENERATION: return vb_config_generation(d);
    default: *ok = 0; return 0;
    }
}

VB_API uint32_t vb_mmio_read(vb_mmio *m, uint64_t offset, unsigned width)
{
    uint32_t v;
    int ok = 0;
    if (vb__mmio_config_access(offset, width)) {
        unsigned char b[4];
        vb_config_read(m->dev, (uint32_t)(offset - VB_MMIO_CONFIG), b, width);
        return width == 1 ? b[0] : width == 2 ? vb__ld16(b, 0) : vb__ld32(b, 0);
    }
    v = vb__mmio_register_access(offset, width) ? vb__mmio_register(m, offset, &ok) : 0;
    if (!ok) vb__mmio_bad(m, offset);
    return v;
}

/* A write to a queue register (QueueNum, the ring addresses, QueueReady, QueueNotify);
   0 if the write is one the device ignores. */
static int vb__mmio_queue_write(vb_mmio *m, uint64_t offset, uint32_t value)
{
    vb_mmio_queue *q = m->queue_sel < vb_queue_count(m->dev) ? &m->queue[m->queue_sel] : 0;
    uint64_t *ring = q ? vb__mmio_ring_reg(q, offset) : 0;
    if (offset == VB_MMIO_QUEUE_NOTIFY) {
        if (value >= vb_queue_count(m->dev)) return 0;
        if (!vb_queue_ready(m->dev, value)) vb__mmio_bad(m, offset); /* the device logs, ignores */
        vb_queue_notify(m->dev, value);
        return 1;
    }
    if (!q) return 0;
    if (offset == VB_MMIO_QUEUE_READY) {
        vb__mmio_queue_ready(m, value);
        return 1;
    }
    if (vb_queue_ready(m->dev, m->queue_sel)) return 0; /* staged values are frozen while ready */
    if (offset == VB_MMIO_QUEUE_NUM) {
        q->num = value;
    } else if (ring) { /* low or high half of a 64-bit address */
        int high = (offset & 4u) != 0;
        *ring = high ? (*ring & 0xffffffffu) | (uint64_t)value << 32 : (*ring & ~(uint64_t)0xffffffffu) | value;
    } else {
        return 0;
    }
    return 1;
}

/* A write to any other register; 0 if the device ignores it. */
static int vb__mmio_register_write(vb_mmio *m, uint64_t offset, uint32_t value)
{
    switch (offset) {
    case VB_MMIO_DEVICE_FEATURES_SEL: m->device_features_sel = value; return 1;
    case VB_MMIO_DRIVER_FEATURES:
        if (m->driver_features_sel > 1 || (vb_status(m->dev) & VB_S_FEATURES_OK)) return 0;
        m->driver_features = m->driver_features_sel
                                 ? (m->driver_features & 0xffffffffu) | (uint64_t)value << 32
                                 : (m->driver_features & ~(uint64_t)0xffffffffu) | value;
        return 1;
    case VB_MMIO_DRIVER_FEATURES_SEL: m->driver_features_sel = value; return 1;
    case VB_MMIO_QUEUE_SEL: m->queue_sel = value; return 1;
    case VB_MMIO_INTERRUPT_ACK:
        m->interrupt_status &= ~value;
        vb__mmio_line(m);
        return 1;
    case VB_MMIO_STATUS: vb__mmio_status(m, value); return 1;
    case VB_MMIO_SHM_SEL: return 1; /* any id selects "no region" */
    default: return vb__mmio_queue_write(m, offset, value);
    }
}

VB_API void vb_mmio_write(vb_mmio *m, uint64_t offset, uint32_t value, unsigned width)
{
    if (vb_in_callback(m->dev)) { /* from inside a device callback: refused, an ignored access */
        vb__mmio_bad(m, offset);
        return;
    }
    if (vb__mmio_config_access(offset, width)) {
        unsigned char b[4];
        vb__st32(b, value, 0);
        vb_config_write(m->dev, (uint32_t)(offset - VB_MMIO_CONFIG), b, width);
        return;
    }
    if (!vb__mmio_register_access(offset, width) || !vb__mmio_register_write(m, offset, value))
        vb__mmio_bad(m, offset);
}
#endif /* VB_WITH_MMIO */

#ifdef __cplusplus
}
#endif

#undef VB__HELD
#undef VB__BROKEN
#undef VB__ARMED
#undef VB__HAS_STATS
#undef VB__BAD_FEATURES
#undef VB__CALLING
#undef VB__LOGGING
#undef VB__DESC_F_NEXT
#undef VB__DESC_F_WRITE
#undef VB__DESC_F_INDIRECT
#undef VB__AVAIL_F_NO_INTERRUPT
#undef VB__DESC_F_AVAIL
#undef VB__DESC_F_USED
#undef VB__LAP
#undef VB__PACKED_BUILD
#undef VB__HINT_BUILD
#undef VB__REPORTING_BUILD
#undef VB__QMP_BUILD
#undef VB__GUEST_BE_BUILD
#undef VB__TELEMETRY_BUILD
#undef VB__EVENT_ENABLE
#undef VB__EVENT_DISABLE
#undef VB__EVENT_DESC
#undef VB__MAX_INTERVAL_MS
#undef VB__SNAP_QUEUE
#undef VB__SNAP_SUM
#endif /* VBALLOON_IMPLEMENTATION */

/*
------------------------------------------------------------------------------
LICENSE (the Unlicense; the same text as the file UNLICENSE)
------------------------------------------------------------------------------
This is free and unencumbered software released into the public domain.

Anyone is free to copy, modify, publish, use, compile, sell, or
distribute this software, either in source code form or as a compiled
binary, for any purpose, commercial or non-commercial, and by any
means.

In jurisdictions that recognize copyright laws, the author or authors
of this software dedicate any and all copyright interest in the
software to the public domain. We make this dedication for the benefit
of the public at large and to the detriment of our heirs and
successors. We intend this dedication to be an overt act of
relinquishment in perpetuity of all present and future rights to this
software under copyright law.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND,
EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF
MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT.
IN NO EVENT SHALL THE AUTHORS BE LIABLE FOR ANY CLAIM, DAMAGES OR
OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE,
ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR
OTHER DEALINGS IN THE SOFTWARE.

For more information, please refer to <https://unlicense.org>
------------------------------------------------------------------------------
*/
