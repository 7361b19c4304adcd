/* The QMP layer: every command, every error text, id echo, pretty mode, the JSON reader, the
   transactional contract, stream framing, the greeting and the BALLOON_CHANGE event, the real
   QEMU 7.2 replies of docs/qemu-observed.md, and a mutation sweep.

   Expected bytes follow QEMU 7.2: qobject/json-writer.c (compact ", " / ": ", pretty = newline
   + 4 spaces per level, an empty container is broken over two lines in pretty mode, non-ASCII
   as upper-case \uXXXX, numbers re-read as int64/uint64/double with "%.17g"),
   qapi/qmp-dispatch.c (top-level members checked in QDict bucket order, the "id" of a request
   echoed in every later reply), monitor/qmp.c (the negotiation-mode error) and the QAPI
   marshallers (arguments checked before the command body runs).

   Every input is executed from an exact-size heap copy, so AddressSanitizer sees any read past
   the `len` bytes the caller handed over. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <greatest.h>
#include "guest.h"

static tg T;
static vb_qmp Q;
static char reply[16384];

#define MIB (1024u * 1024u)
#define RAM_512M ((uint64_t)512 * MIB)
#define PATH "/machine/peripheral/balloon0"
#define SEED_PATH "/machine/peripheral-anon/device[1]"
#define IVL "guest-stats-polling-interval"

#define ERR(cls, desc) "{\"error\": {\"class\": \"" cls "\", \"desc\": \"" desc "\"}}"
#define GEN(desc) ERR("GenericError", desc)
#define ID_ERR(id, cls, desc) "{\"id\": " id ", \"error\": {\"class\": \"" cls "\", \"desc\": \"" desc "\"}}"
#define OK_EMPTY "{\"return\": {}}"
#define NEED_CAPS ERR("CommandNotFound", "Expecting capabilities negotiation with 'qmp_capabilities'")
#define BAD_INT GEN("Invalid parameter type for '" IVL "', expected: integer")

#define QOM_GET(path, prop) \
    "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"" path "\", \"property\": \"" prop "\"}}"
#define QOM_SET(path, prop, value)                                                  \
    "{\"execute\": \"qom-set\", \"arguments\": {\"path\": \"" path "\", \"property\": \"" prop \
    "\", \"value\": " value "}}"
#define BALLOON(value) "{\"execute\": \"balloon\", \"arguments\": {\"value\": " value "}}"
#define QUERY "{\"execute\": \"query-balloon\"}"
#define CAPS "{\"execute\": \"qmp_capabilities\"}"

/* ---- helpers ----------------------------------------------------------------------------- */

/* Execute `len` bytes from an exact-size heap copy. */
static size_t exec_n(vb_qmp *s, const char *cmd, size_t len, char *out, size_t cap)
{
    char *copy = (char *)malloc(len ? len : 1u);
    size_t n;
    if (!copy) return (size_t)-1;
    if (len) memcpy(copy, cmd, len);
    n = vb_qmp_execute(s, copy, len, out, cap);
    free(copy);
    return n;
}

static const char *qmpn(const char *cmd, size_t len)
{
    size_t n = exec_n(&Q, cmd, len, reply, sizeof reply);
    return n < sizeof reply ? reply : "(reply truncated)";
}

static const char *run(const char *cmd) { return qmpn(cmd, strlen(cmd)); }

/* The first message of a stream that starts at buf (a fresh session's framer), on a copy of
   exactly len bytes so that ASan sees any read past them. */
static size_t frame(const char *buf, size_t len)
{
    char *copy = (char *)malloc(len ? len : 1u);
    vb_qmp fresh;
    size_t n, skip;
    if (!copy) return (size_t)-1;
    if (len) memcpy(copy, buf, len);
    vb_qmp_init(&fresh, &T.dev, 0);
    n = vb_qmp_frame(&fresh, copy, len, &skip);
    free(copy);
    return n;
}

static vb_config config(vb_profile profile, unsigned keys)
{
    vb_config c;
    memset(&c, 0, sizeof c);
    c.profile = profile;
    c.stat_keys = keys;
    c.ram_size = RAM_512M;
    return c;
}

/* A device with a Linux-like driver at DRIVER_OK (nothing posted) and a QMP session. */
static int start(vb_profile profile, unsigned keys, unsigned flags)
{
    vb_config c = config(profile, keys);
    if (tg_start(&T, &c, TG_LINUX_FEATURES)) return -1;
    vb_qmp_init(&Q, &T.dev, flags);
    return 0;
}

static int start_qemu(void) { return start(VB_PROFILE_QEMU, 10, VB_QMP_NO_NEGOTIATION); }
static int start_doc(void) { return start(VB_PROFILE_DOC, 6, VB_QMP_NO_NEGOTIATION); }

/* The buffer Linux 6.1 primes the stats queue with at probe (docs/qemu-observed.md). */
static void send_linux61_primer(void)
{
    static const uint16_t tags[10] = {0, 1, 2, 3, 8, 9, 4, 5, 6, 7};
    static const uint64_t vals[10] = {0, 0, 0, 721, 0, 0, 449478656, 479657984, 449081344, 2301952};
    T.wall = 1795697933;
    tg_stats_buffer(&T, 0, tags, vals, 10);
    tg_kick(&T, VB_QUEUE_STATS);
}

static void write_actual(uint32_t pages)
{
    unsigned char le[4];
    le[0] = (unsigned char)pages;
    le[1] = (unsigned char)(pages >> 8);
    le[2] = (unsigned char)(pages >> 16);
    le[3] = (unsigned char)(pages >> 24);
    vb_config_write(&T.dev, 4, le, 4);
}

/* Everything a command could change: the device, the session, and what the host saw. */
static vb_device saved_dev;
static int saved_negotiated;
static unsigned saved_config_irqs, saved_arms, saved_cancels, saved_irq2;

static void save_state(void)
{
    memcpy(&saved_dev, &T.dev, sizeof saved_dev);
    saved_negotiated = Q.negotiated;
    saved_config_irqs = T.config_irqs;
    saved_arms = T.arms;
    saved_cancels = T.cancels;
    saved_irq2 = T.irq[VB_QUEUE_STATS];
}

static int state_unchanged(void)
{
    return memcmp(&saved_dev, &T.dev, sizeof saved_dev) == 0 && saved_negotiated == Q.negotiated &&
           saved_config_irqs == T.config_irqs && saved_arms == T.arms &&
           saved_cancels == T.cancels && saved_irq2 == T.irq[VB_QUEUE_STATS];
}

#define ASSERT_UNCHANGED() ASSERTm("the device or session changed", state_unchanged())

/* ============================================================================================
   qmp_capabilities and negotiation
   ============================================================================================ */

TEST init_defaults(void)
{
    ASSERT_EQ(0, start(VB_PROFILE_QEMU, 10, 0));
    ASSERT_EQ(&T.dev, Q.dev);
    ASSERT_STR_EQ(PATH, Q.path);
    ASSERT_STR_EQ(SEED_PATH, Q.alt_path);
    ASSERT_STR_EQ("vballoon.h " VB_VERSION_STRING, Q.package);
    ASSERT_EQ(7u, Q.qemu_version[0]);
    ASSERT_EQ(2u, Q.qemu_version[1]);
    ASSERT_EQ(0u, Q.qemu_version[2]);
    ASSERT_EQ(0u, Q.flags);
    ASSERT_EQ(0, Q.negotiated);
    PASS();
}

/* monitor_qmp_dispatch: before negotiation every CommandNotFound becomes this text. */
TEST caps_required_before_any_command(void)
{
    static const char *const cmds[] = {
        QOM_GET(PATH, "guest-stats"), QOM_SET(PATH, IVL, "2"), QUERY, BALLOON("1"),
        "{\"execute\": \"qom-list\", \"arguments\": {\"path\": \"" PATH "\"}}",
        "{\"execute\": \"x\"}", "{\"execute\": \"qom-get\", \"arguments\": {\"bogus\": 1}}"};
    unsigned i;
    ASSERT_EQ(0, start(VB_PROFILE_QEMU, 10, 0));
    save_state();
    for (i = 0; i < sizeof cmds / sizeof cmds[0]; i++) ASSERT_STR_EQm(cmds[i], NEED_CAPS, run(cmds[i]));
    ASSERT_STR_EQ("{\"id\": 7, \"error\": {\"class\": \"CommandNotFound\", \"desc\": "
                  "\"Expecting capabilities negotiation with 'qmp_capabilities'\"}}",
                  run("{\"execute\": \"query-balloon\", \"id\": 7}"));
    ASSERT_UNCHANGED();
    PASS();
}

/* Errors found before the command lookup keep their own class and text. */
TEST caps_envelope_errors_are_not_rewritten(void)
{
    ASSERT_EQ(0, start(VB_PROFILE_QEMU, 10, 0));
    ASSERT_STR_EQ("{\"id\": 1, \"error\": {\"class\": \"GenericError\", \"desc\": "
                  "\"QMP input lacks member 'execute'\"}}",
                  run("{\"id\": 1}"));
    ASSERT_STR_EQ(GEN("QMP input must be a JSON object"), run("[]"));
    ASSERT_STR_EQ(GEN("Parameter 'x' is unexpected"),
                  run("{\"execute\": \"qmp_capabilities\", \"arguments\": {\"x\": 1}}"));
    ASSERT_EQ(0, Q.negotiated);
    PASS();
}

TEST caps_negotiate_then_commands_work(void)
{
    ASSERT_EQ(0, start(VB_PROFILE_QEMU, 10, 0));
    ASSERT_STR_EQ(OK_EMPTY, run(CAPS));
    ASSERT_EQ(1, Q.negotiated);
    ASSERT_STR_EQ("{\"return\": {\"actual\": 536870912}}", run(QUERY));
    ASSERT_STR_EQ(ERR("CommandNotFound", "The command x has not been found"), run("{\"execute\": \"x\"}"));
    PASS();
}

TEST caps_twice_is_command_not_found(void)
{
    ASSERT_EQ(0, start(VB_PROFILE_QEMU, 10, 0));
    ASSERT_STR_EQ(OK_EMPTY, run(CAPS));
    ASSERT_STR_EQ(ERR("CommandNotFound", "Capabilities negotiation is already complete, command ignored"),
                  run(CAPS));
    ASSERT_STR_EQ("{\"id\": \"again\", \"error\": {\"class\": \"CommandNotFound\", \"desc\": "
                  "\"Capabilities negotiation is already complete, command ignored\"}}",
                  run("{\"execute\": \"qmp_capabilities\", \"id\": \"again\", "
                      "\"arguments\": {\"enable\": [\"oob\"]}}"));
    ASSERT_EQ(1, Q.negotiated);
    PASS();
}

/* The QAPI marshaller visits the arguments before qmp_qmp_capabilities() runs, so bad
   arguments win over "already complete". */
TEST caps_twice_bad_arguments_are_checked_first(void)
{
    ASSERT_EQ(0, start(VB_PROFILE_QEMU, 10, 0));
    ASSERT_STR_EQ(OK_EMPTY, run(CAPS));
    ASSERT_STR_EQ(GEN("Parameter 'x' is unexpected"),
                  run("{\"execute\": \"qmp_capabilities\", \"arguments\": {\"x\": 1}}"));
    ASSERT_STR_EQ(GEN("Invalid parameter type for 'enable', expected: array"),
                  run("{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": 1}}"));
    PASS();
}

TEST caps_not_needed_with_no_negotiation_flag(void)
{
    ASSERT_EQ(0, start(VB_PROFILE_QEMU, 10, VB_QMP_NO_NEGOTIATION));
    ASSERT_STR_EQ("{\"return\": {\"actual\": 536870912}}", run(QUERY));
    ASSERT_STR_EQ("{\"return\": 0}", run(QOM_GET(PATH, IVL)));
    /* a client that negotiates anyway is not refused */
    ASSERT_STR_EQ(OK_EMPTY, run(CAPS));
    ASSERT_EQ(1, Q.negotiated);
    PASS();
}

TEST caps_enable_oob_and_empty_list(void)
{
    ASSERT_EQ(0, start(VB_PROFILE_QEMU, 10, 0));
    ASSERT_STR_EQ(OK_EMPTY, run("{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"oob\"]}}"));
    ASSERT_EQ(1, Q.negotiated);
    ASSERT_EQ(0, start(VB_PROFILE_QEMU, 10, 0));
    ASSERT_STR_EQ(OK_EMPTY, run("{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [ ]}}"));
    ASSERT_EQ(1, Q.negotiated);
    ASSERT_EQ(0, start(VB_PROFILE_QEMU, 10, 0));
    ASSERT_STR_EQ(OK_EMPTY, run("{'execute': 'qmp_capabilities', 'arguments': {'enable': ['o\\u006fb']}}"));
    ASSERT_EQ(1, Q.negotiated);
    PASS();
}

TEST caps_enable_not_an_array(void)
{
    static const char *const vals[] = {"\"oob\"", "1", "null", "{}", "true"};
    static char cmd[128];
    unsigned i;
    ASSERT_EQ(0, start(VB_PROFILE_QEMU, 10, 0));
    for (i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        snprintf(cmd, sizeof cmd, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": %s}}", vals[i]);
        ASSERT_STR_EQm(cmd, GEN("Invalid parameter type for 'enable', expected: array"), run(cmd));
    }
    ASSERT_EQ(0, Q.negotiated);
    PASS();
}

/* input_type_enum() (QEMU >= 6.2): a list element is visited without a name. */
TEST caps_enable_unknown_value(void)
{
    ASSERT_EQ(0, start(VB_PROFILE_QEMU, 10, 0));
    ASSERT_STR_EQ(GEN("Parameter 'null' does not accept value 'foo'"),
                  run("{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"foo\"]}}"));
    ASSERT_STR_EQ(GEN("Parameter 'null' does not accept value 'OOB'"),
                  run("{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"oob\", \"OOB\"]}}"));
    ASSERT_EQ(0, Q.negotiated);
    ASSERT_STR_EQ(NEED_CAPS, run(QUERY));
    PASS();
}

/* QERR_INVALID_PARAMETER_TYPE with the input visitor's full name of a list element. */
TEST caps_enable_element_not_a_string(void)
{
    ASSERT_EQ(0, start(VB_PROFILE_QEMU, 10, 0));
    ASSERT_STR_EQ(GEN("Invalid parameter type for 'enable[0]', expected: string"),
                  run("{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [1]}}"));
    ASSERT_STR_EQ(GEN("Invalid parameter type for 'enable[1]', expected: string"),
                  run("{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"oob\", null]}}"));
    ASSERT_EQ(0, Q.negotiated);
    PASS();
}

/* ============================================================================================
   qom-get
   ============================================================================================ */

TEST qom_get_guest_stats_qemu_before_driver(void)
{
    vb_config c = config(VB_PROFILE_QEMU, 10);
    ASSERT_EQ(0, tg_create(&T, &c));
    vb_qmp_init(&Q, &T.dev, VB_QMP_NO_NEGOTIATION);
    ASSERT_STR_EQ("{\"return\": {\"stats\": {\"stat-htlb-pgalloc\": 18446744073709551615, "
                  "\"stat-swap-out\": 18446744073709551615, \"stat-available-memory\": 18446744073709551615, "
                  "\"stat-htlb-pgfail\": 18446744073709551615, \"stat-free-memory\": 18446744073709551615, "
                  "\"stat-minor-faults\": 18446744073709551615, \"stat-major-faults\": 18446744073709551615, "
                  "\"stat-total-memory\": 18446744073709551615, \"stat-swap-in\": 18446744073709551615, "
                  "\"stat-disk-caches\": 18446744073709551615}, \"last-update\": 0}}",
                  run(QOM_GET(PATH, "guest-stats")));
    PASS();
}

TEST qom_get_guest_stats_qemu_after_linux61_primer(void)
{
    ASSERT_EQ(0, start_qemu());
    send_linux61_primer();
    ASSERT_STR_EQ("{\"return\": {\"stats\": {\"stat-htlb-pgalloc\": 0, \"stat-swap-out\": 0, "
                  "\"stat-available-memory\": 449081344, \"stat-htlb-pgfail\": 0, "
                  "\"stat-free-memory\": 449478656, \"stat-minor-faults\": 721, "
                  "\"stat-major-faults\": 0, \"stat-total-memory\": 479657984, \"stat-swap-in\": 0, "
                  "\"stat-disk-caches\": 2301952}, \"last-update\": 1795697933}}",
                  run(QOM_GET(PATH, "guest-stats")));
    /* the reply wraps exactly what the renderer gives */
    ASSERT_EQ(0, strncmp(reply, "{\"return\": ", 11));
    ASSERT_EQ(0, strncmp(reply + 11, tg_render(&T, 0), strlen(reply) - 12));
    ASSERT_EQ(strlen(reply) - 12, strlen(T.out));
    PASS();
}

TEST qom_get_guest_stats_doc_before_any_report(void)
{
    ASSERT_EQ(0, start_doc());
    save_state();
    ASSERT_STR_EQ(GEN("guest hasn't updated any stats yet"), run(QOM_GET(PATH, "guest-stats")));
    ASSERT_STR_EQ("{\"id\": 3, \"error\": {\"class\": \"GenericError\", \"desc\": "
                  "\"guest hasn't updated any stats yet\"}}",
                  run("{\"execute\": \"qom-get\", \"id\": 3, \"arguments\": {\"path\": \"" SEED_PATH
                      "\", \"property\": \"guest-stats\"}}"));
    ASSERT_UNCHANGED();
    PASS();
}

TEST qom_get_guest_stats_doc_after_report(void)
{
    static const uint16_t seed_tags[6] = {1, 4, 3, 2, 5, 0};
    static const uint64_t seed_vals[6] = {0, 844943360, 219028, 235, 1044406272, 0};
    static const uint16_t one_tag[1] = {VB_STAT_MEMFREE};
    static const uint64_t one_val[1] = {5};
    ASSERT_EQ(0, start_doc());
    tg_stats_buffer(&T, 0, seed_tags, seed_vals, 6);
    tg_kick(&T, VB_QUEUE_STATS);
    ASSERT_STR_EQ("{\"return\": {\"stats\": {\"stat-swap-out\": 0, \"stat-free-memory\": 844943360, "
                  "\"stat-minor-faults\": 219028, \"stat-major-faults\": 235, "
                  "\"stat-total-memory\": 1044406272, \"stat-swap-in\": 0}, \"last-update\": 1358529861}}",
                  run(QOM_GET(SEED_PATH, "guest-stats")));
    /* the next buffer carries one stat: the others are the document's -1 */
    tg_stats_buffer(&T, 1, one_tag, one_val, 1);
    T.wall = 1358529871;
    tg_kick(&T, VB_QUEUE_STATS);
    ASSERT_STR_EQ("{\"return\": {\"stats\": {\"stat-swap-out\": -1, \"stat-free-memory\": 5, "
                  "\"stat-minor-faults\": -1, \"stat-major-faults\": -1, \"stat-total-memory\": -1, "
                  "\"stat-swap-in\": -1}, \"last-update\": 1358529871}}",
                  run(QOM_GET(PATH, "guest-stats")));
    PASS();
}

TEST qom_get_interval(void)
{
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ("{\"return\": 0}", run(QOM_GET(PATH, IVL)));
    ASSERT_STR_EQ(OK_EMPTY, run(QOM_SET(PATH, IVL, "2")));
    ASSERT_STR_EQ("{\"return\": 2}", run(QOM_GET(PATH, IVL)));
    ASSERT_STR_EQ("{\"return\": 2, \"id\": 9}",
                  run("{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"" PATH "\", \"property\": \"" IVL
                      "\"}, \"id\": 9}"));
    PASS();
}

TEST qom_get_alias_by_profile(void)
{
    ASSERT_EQ(0, start_doc());
    ASSERT_STR_EQ(OK_EMPTY, run(QOM_SET(PATH, IVL, "7")));
    ASSERT_STR_EQ("{\"return\": 7}", run(QOM_GET(PATH, "stats-polling-interval")));
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ(GEN("Property 'virtio-balloon-pci.stats-polling-interval' not found"),
                  run(QOM_GET(PATH, "stats-polling-interval")));
    PASS();
}

TEST qom_get_type(void)
{
    vb_config c = config(VB_PROFILE_QEMU, 10);
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ("{\"return\": \"virtio-balloon-pci\"}", run(QOM_GET(PATH, "type")));
    c.type_name = "virtio-balloon-device";
    ASSERT_EQ(0, tg_start(&T, &c, TG_LINUX_FEATURES));
    vb_qmp_init(&Q, &T.dev, VB_QMP_NO_NEGOTIATION);
    ASSERT_STR_EQ("{\"return\": \"virtio-balloon-device\"}", run(QOM_GET(PATH, "type")));
    PASS();
}

TEST qom_get_unknown_property(void)
{
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ(GEN("Property 'virtio-balloon-pci.foo' not found"), run(QOM_GET(PATH, "foo")));
    ASSERT_STR_EQ(GEN("Property 'virtio-balloon-pci.' not found"), run(QOM_GET(PATH, "")));
    ASSERT_STR_EQ(GEN("Property 'virtio-balloon-pci.guest-stats ' not found"), run(QOM_GET(PATH, "guest-stats ")));
    ASSERT_STR_EQ(GEN("Property 'virtio-balloon-pci.Guest-Stats' not found"), run(QOM_GET(PATH, "Guest-Stats")));
    ASSERT_STR_EQ(GEN("Property 'virtio-balloon-pci.a\\\"b' not found"), run(QOM_GET(PATH, "a\\\"b")));
    PASS();
}

TEST qom_get_paths(void)
{
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ("{\"return\": 0}", run(QOM_GET(SEED_PATH, IVL)));
    ASSERT_STR_EQ(ERR("DeviceNotFound", "Device '/machine/peripheral/balloon1' not found"),
                  run(QOM_GET("/machine/peripheral/balloon1", IVL)));
    ASSERT_STR_EQ(ERR("DeviceNotFound", "Device '/machine/peripheral/Balloon0' not found"),
                  run(QOM_GET("/machine/peripheral/Balloon0", IVL)));
    /* the path is checked before the property */
    ASSERT_STR_EQ(ERR("DeviceNotFound", "Device '/nope' not found"), run(QOM_GET("/nope", "nope")));
    /* a session may move the device */
    Q.path = "/machine/peripheral/b1";
    Q.alt_path = NULL;
    ASSERT_STR_EQ("{\"return\": 0}", run(QOM_GET("/machine/peripheral/b1", IVL)));
    ASSERT_STR_EQ(ERR("DeviceNotFound", "Device '" PATH "' not found"), run(QOM_GET(PATH, IVL)));
    ASSERT_STR_EQ(ERR("DeviceNotFound", "Device '" SEED_PATH "' not found"), run(QOM_GET(SEED_PATH, IVL)));
    /* NULL strings: no such path (every path-taking command), an empty package */
    Q.path = NULL;
    Q.alt_path = SEED_PATH;
    ASSERT_STR_EQ(ERR("DeviceNotFound", "Device '" PATH "' not found"), run(QOM_GET(PATH, IVL)));
    ASSERT_STR_EQ(ERR("DeviceNotFound", "Device '" PATH "' not found"), run(QOM_SET(PATH, IVL, "1")));
    ASSERT_STR_EQ(ERR("DeviceNotFound", "Device '" PATH "' not found"),
                  run("{\"execute\": \"qom-list\", \"arguments\": {\"path\": \"" PATH "\"}}"));
    ASSERT_STR_EQ("{\"return\": 0}", run(QOM_GET(SEED_PATH, IVL)));
    Q.alt_path = NULL;
    ASSERT_STR_EQ(ERR("DeviceNotFound", "Device '" SEED_PATH "' not found"), run(QOM_GET(SEED_PATH, IVL)));
    Q.package = NULL;
    ASSERT(vb_qmp_greeting(&Q, reply, sizeof reply) < sizeof reply);
    ASSERT(strstr(reply, "\"package\": \"\"") != NULL);
    PASS();
}

/* ============================================================================================
   qom-set
   ============================================================================================ */

TEST qom_set_interval_enables_polling(void)
{
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ(OK_EMPTY, run(QOM_SET(PATH, IVL, "2")));
    ASSERT_EQ(2000u, vb_poll_interval_ms(&T.dev));
    ASSERT_EQ(1, T.armed);
    ASSERT_EQ(T.now_ms, T.deadline); /* enabling polls at once */
    ASSERT_STR_EQ("{\"return\": {}, \"id\": \"s\"}",
                  run("{\"execute\": \"qom-set\", \"id\": \"s\", \"arguments\": {\"path\": \"" SEED_PATH
                      "\", \"property\": \"" IVL "\", \"value\": 10}}"));
    ASSERT_EQ(10000u, vb_poll_interval_ms(&T.dev));
    ASSERT_STR_EQ(OK_EMPTY, run(QOM_SET(PATH, IVL, "0")));
    ASSERT_EQ(0u, vb_poll_interval_ms(&T.dev));
    ASSERT_EQ(0, T.armed);
    PASS();
}

/* balloon_stats_set_poll_interval: the same value again changes nothing, not even the timer. */
TEST qom_set_same_value_does_not_rearm(void)
{
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ(OK_EMPTY, run(QOM_SET(PATH, IVL, "2")));
    tg_advance(&T, 500);
    save_state();
    ASSERT_STR_EQ(OK_EMPTY, run(QOM_SET(PATH, IVL, "2")));
    ASSERT_UNCHANGED();
    PASS();
}

TEST qom_set_alias_in_doc_profile(void)
{
    ASSERT_EQ(0, start_doc());
    ASSERT_STR_EQ(OK_EMPTY, run(QOM_SET(SEED_PATH, "stats-polling-interval", "5")));
    ASSERT_EQ(5000u, vb_poll_interval_ms(&T.dev));
    ASSERT_STR_EQ(OK_EMPTY, run(QOM_SET(SEED_PATH, "stats-polling-interval", "0")));
    ASSERT_EQ(0u, vb_poll_interval_ms(&T.dev));
    PASS();
}

TEST qom_set_alias_in_qemu_profile(void)
{
    vb_config c = config(VB_PROFILE_QEMU, 10);
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ(OK_EMPTY, run(QOM_SET(PATH, IVL, "2")));
    save_state();
    ASSERT_STR_EQ(GEN("Property 'virtio-balloon-pci.stats-polling-interval' not found"),
                  run(QOM_SET(PATH, "stats-polling-interval", "0")));
    ASSERT_UNCHANGED();
    ASSERT_EQ(2000u, vb_poll_interval_ms(&T.dev));
    /* virtio-mmio names the device type itself */
    c.type_name = "virtio-balloon-device";
    ASSERT_EQ(0, tg_start(&T, &c, TG_LINUX_FEATURES));
    vb_qmp_init(&Q, &T.dev, VB_QMP_NO_NEGOTIATION);
    ASSERT_STR_EQ(GEN("Property 'virtio-balloon-device.stats-polling-interval' not found"),
                  run(QOM_SET(PATH, "stats-polling-interval", "0")));
    PASS();
}

TEST qom_set_negative(void)
{
    static const char *const vals[] = {"-1", "-2", "-9223372036854775808", "-4294967296"};
    static char cmd[256];
    unsigned i;
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ(OK_EMPTY, run(QOM_SET(PATH, IVL, "3")));
    for (i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        snprintf(cmd, sizeof cmd, QOM_SET(PATH, IVL, "%s"), vals[i]);
        save_state();
        ASSERT_STR_EQm(cmd, GEN("timer value must be greater than zero"), run(cmd));
        ASSERT_UNCHANGED();
    }
    ASSERT_EQ(3000u, vb_poll_interval_ms(&T.dev));
    PASS();
}

TEST qom_set_too_big(void)
{
    static const char *const vals[] = {"4294967296", "9223372036854775807", "10000000000"};
    static char cmd[256];
    unsigned i;
    ASSERT_EQ(0, start_qemu());
    for (i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        snprintf(cmd, sizeof cmd, QOM_SET(PATH, IVL, "%s"), vals[i]);
        save_state();
        ASSERT_STR_EQm(cmd, GEN("timer value is too big"), run(cmd));
        ASSERT_UNCHANGED();
    }
    ASSERT_EQ(0u, vb_poll_interval_ms(&T.dev));
    PASS();
}

TEST qom_set_max_is_accepted(void)
{
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ(OK_EMPTY, run(QOM_SET(PATH, IVL, "4294967295")));
    ASSERT_EQ((uint64_t)4294967295u * 1000u, vb_poll_interval_ms(&T.dev));
    ASSERT_STR_EQ("{\"return\": 4294967295}", run(QOM_GET(PATH, IVL)));
    PASS();
}

TEST qom_set_minus_zero_is_zero(void)
{
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ(OK_EMPTY, run(QOM_SET(PATH, IVL, "3")));
    ASSERT_EQ(1, T.armed);
    ASSERT_STR_EQ(OK_EMPTY, run(QOM_SET(PATH, IVL, "-0")));
    ASSERT_EQ(0u, vb_poll_interval_ms(&T.dev));
    ASSERT_EQ(0, T.armed);
    ASSERT_STR_EQ("{\"return\": 0}", run(QOM_GET(PATH, IVL)));
    PASS();
}

/* Anything that is not a JSON integer in int64 range: the input visitor's type error. */
TEST qom_set_non_integer_values(void)
{
    static const char *const vals[] = {
        "18446744073709551615", "9223372036854775808", "-9223372036854775809",
        "100000000000000000000", "1e3", "1E3", "1.0", "2.5", "-0.0", "0.0", "\"2\"", "'2'",
        "\"\"", "true", "false", "null", "[]", "[2]", "{}", "{\"value\": 2}"};
    static char cmd[256];
    unsigned i;
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ(OK_EMPTY, run(QOM_SET(PATH, IVL, "3")));
    for (i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        snprintf(cmd, sizeof cmd, QOM_SET(PATH, IVL, "%s"), vals[i]);
        save_state();
        ASSERT_STR_EQm(cmd, BAD_INT, run(cmd));
        ASSERT_UNCHANGED();
    }
    ASSERT_EQ(3000u, vb_poll_interval_ms(&T.dev));
    PASS();
}

TEST qom_set_guest_stats_not_writable(void)
{
    static const char *const vals[] = {"1", "{}", "\"x\"", "null", "-1", "1.5"};
    static char cmd[256];
    unsigned i, profile;
    for (profile = 0; profile < 2; profile++) {
        ASSERT_EQ(0, profile ? start_qemu() : start_doc());
        send_linux61_primer();
        for (i = 0; i < sizeof vals / sizeof vals[0]; i++) {
            snprintf(cmd, sizeof cmd, QOM_SET(PATH, "guest-stats", "%s"), vals[i]);
            save_state();
            ASSERT_STR_EQm(cmd, GEN("Property 'virtio-balloon-device.guest-stats' is not writable"), run(cmd));
            ASSERT_UNCHANGED();
        }
    }
    PASS();
}

/* Ours, experimental: the telemetry on both objects, read-only, pretty-printed as QEMU would. */
TEST qom_telemetry_property(void)
{
    static const char *const paths[2] = {PATH, PATH "/virtio-backend"};
    static const char *const denied[2] = {
        GEN("Property 'virtio-balloon-pci.x-guest-stats-telemetry' is not writable"),
        GEN("Property 'virtio-balloon-device.x-guest-stats-telemetry' is not writable")};
    char want[1200], value[1024], cmd[256];
    size_t n;
    unsigned i;
    ASSERT_EQ(0, start_qemu());
    ASSERT_EQ(VB_OK, vb_prop_get(&T.dev, "x-guest-stats-telemetry", 23, value, sizeof value, &n, 0, NULL));
    ASSERT(n < sizeof value);
    snprintf(want, sizeof want, "{\"return\": %s}", value);
    for (i = 0; i < 2; i++) {
        snprintf(cmd, sizeof cmd, QOM_GET("%s", "x-guest-stats-telemetry"), paths[i]);
        ASSERT_STR_EQm(cmd, want, run(cmd));
        snprintf(cmd, sizeof cmd, QOM_SET("%s", "x-guest-stats-telemetry", "{}"), paths[i]);
        save_state();
        ASSERT_STR_EQm(cmd, denied[i], run(cmd));
        ASSERT_UNCHANGED();
    }
    Q.flags |= VB_QMP_PRETTY;
    ASSERT(strstr(run(QOM_GET(PATH, "x-guest-stats-telemetry")),
                  "{\n    \"return\": {\n        \"stale\": false,\n        \"missed-intervals\": 0,\n"));
    ASSERT(strstr(reply, ",\n        \"latency-ms\": {\n            \"last\": 0,\n"));
    ASSERT(strstr(reply, "\n            \"slower\": 0\n        }\n    }\n}"));
    PASS();
}

TEST qom_set_type_not_writable(void)
{
    ASSERT_EQ(0, start_qemu());
    save_state();
    ASSERT_STR_EQ(GEN("Property 'virtio-balloon-pci.type' is not writable"), run(QOM_SET(PATH, "type", "\"x\"")));
    ASSERT_UNCHANGED();
    PASS();
}

TEST qom_set_unknown_property(void)
{
    ASSERT_EQ(0, start_qemu());
    save_state();
    ASSERT_STR_EQ(GEN("Property 'virtio-balloon-pci.guest-stats-polling' not found"),
                  run(QOM_SET(PATH, "guest-stats-polling", "1")));
    /* the property is looked up before the value is read */
    ASSERT_STR_EQ(GEN("Property 'virtio-balloon-pci.x' not found"), run(QOM_SET(PATH, "x", "\"1\"")));
    ASSERT_UNCHANGED();
    PASS();
}

/* All three arguments are checked before the path is resolved. */
TEST qom_set_argument_errors_before_path(void)
{
    ASSERT_EQ(0, start_qemu());
    save_state();
    ASSERT_STR_EQ(GEN("Parameter 'value' is missing"),
                  run("{\"execute\": \"qom-set\", \"arguments\": {\"path\": \"/nope\", \"property\": \"" IVL "\"}}"));
    ASSERT_STR_EQ(GEN("Parameter 'property' is missing"),
                  run("{\"execute\": \"qom-set\", \"arguments\": {\"path\": \"/nope\", \"value\": 1}}"));
    ASSERT_STR_EQ(GEN("Parameter 'x' is unexpected"),
                  run("{\"execute\": \"qom-set\", \"arguments\": {\"path\": \"/nope\", \"property\": \"y\", "
                      "\"value\": 1, \"x\": 2}}"));
    ASSERT_STR_EQ(ERR("DeviceNotFound", "Device '/nope' not found"), run(QOM_SET("/nope", IVL, "1")));
    ASSERT_UNCHANGED();
    PASS();
}

TEST qom_set_escaped_names(void)
{
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ(OK_EMPTY, run("{\"execute\": \"qom\\u002dset\", \"arguments\": {\"p\\u0061th\": "
                                "\"\\/machine\\/peripheral\\/balloon0\", \"property\": "
                                "'guest-stats-polling-interval', 'value': 4}}"));
    ASSERT_EQ(4000u, vb_poll_interval_ms(&T.dev));
    PASS();
}

/* A failed set leaves every byte of the device as it was, with polling running and stats held. */
TEST qom_set_failure_changes_nothing(void)
{
    static const char *const cmds[] = {
        QOM_SET(PATH, IVL, "-1"), QOM_SET(PATH, IVL, "4294967296"), QOM_SET(PATH, IVL, "1.5"),
        QOM_SET(PATH, "guest-stats", "0"), QOM_SET(PATH, "stats-polling-interval", "0"),
        QOM_SET("/x", IVL, "0"), QOM_SET(PATH, "type", "0"),
        "{\"execute\": \"qom-set\", \"arguments\": {\"path\": \"" PATH "\", \"property\": \"" IVL "\"}}",
        "{\"execute\": \"qom-set\", \"arguments\": {\"path\": \"" PATH "\", \"property\": \"" IVL
        "\", \"value\": 0, \"extra\": 0}}",
        "{\"execute\": \"qom-set\", \"arguments\": {\"path\": 1, \"property\": \"" IVL "\", \"value\": 0}}"};
    unsigned i;
    ASSERT_EQ(0, start_qemu());
    send_linux61_primer();
    ASSERT_STR_EQ(OK_EMPTY, run(QOM_SET(PATH, IVL, "2")));
    tg_advance(&T, 0); /* the first poll returns the held buffer */
    send_linux61_primer();
    tg_advance(&T, 700);
    for (i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        save_state();
        ASSERT_EQm(cmds[i], 0, strncmp(run(cmds[i]), "{\"error\": ", 10));
        ASSERTm(cmds[i], state_unchanged());
    }
    ASSERT_EQ(2000u, vb_poll_interval_ms(&T.dev));
    PASS();
}

/* ============================================================================================
   qom-list
   ============================================================================================ */

/* QEMU 7.2's qom-list of virtio-balloon-pci (60 properties) and of its virtio-backend child
   (24), filtered to what the session lists: QEMU's order is kept. */
#define QOM_ENTRY(name, type) "{\"name\": \"" name "\", \"type\": \"" type "\"}"
#define QOM_COMMON QOM_ENTRY("type", "string") ", " QOM_ENTRY("realized", "bool") ", " \
    QOM_ENTRY("hotplugged", "bool") ", " QOM_ENTRY("hotpluggable", "bool")
#define QOM_STATS QOM_ENTRY(IVL, "int") ", " QOM_ENTRY("guest-stats", "guest statistics")
#define QOM_TELEMETRY QOM_ENTRY("x-guest-stats-telemetry", "guest statistics telemetry")
#define QOM_LIST_REPLY                                                                              \
    "{\"return\": [" QOM_COMMON ", " QOM_ENTRY("free-page-reporting", "bool") ", "                    \
    QOM_ENTRY("indirect_desc", "bool") ", " QOM_ENTRY("deflate-on-oom", "bool") ", "                 \
    QOM_ENTRY("event_idx", "bool") ", " QOM_ENTRY("page-poison", "bool") ", " QOM_STATS ", "          \
    QOM_ENTRY("qemu-4-0-config-size", "bool") ", " QOM_ENTRY("free-page-hint", "bool") ", "          \
    QOM_ENTRY("virtio-backend", "child<virtio-balloon-device>") ", " QOM_TELEMETRY "]}"
#define QOM_LIST_BACKEND                                                                            \
    "{\"return\": [" QOM_COMMON ", " QOM_ENTRY("event_idx", "bool") ", " QOM_ENTRY("indirect_desc", "bool") \
    ", " QOM_ENTRY("deflate-on-oom", "bool") ", " QOM_ENTRY("free-page-hint", "bool") ", "             \
    QOM_ENTRY("page-poison", "bool") ", " QOM_ENTRY("qemu-4-0-config-size", "bool") ", "              \
    QOM_ENTRY("free-page-reporting", "bool") ", " QOM_STATS ", " QOM_TELEMETRY "]}"
#define QOM_LIST(path) "{\"execute\": \"qom-list\", \"arguments\": {\"path\": \"" path "\"}}"
#define BACKEND "/virtio-backend"

TEST qom_list_exact(void)
{
    vb_config c = config(VB_PROFILE_QEMU, 10);
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ(QOM_LIST_REPLY, run(QOM_LIST(PATH)));
    ASSERT_STR_EQ(QOM_LIST_BACKEND, run(QOM_LIST(PATH BACKEND)));
    ASSERT_STR_EQ(QOM_LIST_BACKEND, run(QOM_LIST(SEED_PATH BACKEND)));
    ASSERT_EQ(0, start_doc()); /* the alias is not listed */
    ASSERT_STR_EQ(QOM_LIST_REPLY, run(QOM_LIST(SEED_PATH)));
    /* QEMU's virtio-mmio balloon is a virtio-balloon-device itself: no child */
    c.type_name = "virtio-balloon-device";
    ASSERT_EQ(0, tg_start(&T, &c, TG_LINUX_FEATURES));
    vb_qmp_init(&Q, &T.dev, VB_QMP_NO_NEGOTIATION);
    ASSERT_STR_EQ(QOM_LIST_BACKEND, run(QOM_LIST(PATH)));
    ASSERT_STR_EQ(ERR("DeviceNotFound", "Device '" PATH BACKEND "' not found"), run(QOM_LIST(PATH BACKEND)));
    PASS();
}

TEST qom_list_errors(void)
{
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ(ERR("DeviceNotFound", "Device '/machine/peripheral/nope' not found"),
                  run("{\"execute\": \"qom-list\", \"arguments\": {\"path\": \"/machine/peripheral/nope\"}}"));
    ASSERT_STR_EQ(GEN("Parameter 'path' is missing"), run("{\"execute\": \"qom-list\"}"));
    ASSERT_STR_EQ(GEN("Invalid parameter type for 'path', expected: string"),
                  run("{\"execute\": \"qom-list\", \"arguments\": {\"path\": null}}"));
    ASSERT_STR_EQ(GEN("Parameter 'property' is unexpected"),
                  run("{\"execute\": \"qom-list\", \"arguments\": {\"path\": \"" PATH "\", \"property\": \"type\"}}"));
    PASS();
}

/* Every listed property answers qom-get with QEMU 7.2's value (docs/qemu-observed.md), except
   page-poison: QEMU offers VIRTIO_BALLOON_F_PAGE_POISON and says true, this device does not. */
TEST qom_get_every_listed_property(void)
{
    static const char *const names[] = {"realized", "hotplugged", "hotpluggable", "free-page-reporting",
                                        "indirect_desc", "deflate-on-oom", "event_idx", "page-poison",
                                        "qemu-4-0-config-size", "free-page-hint"};
    static const char *const proxy[] = {"true", "false", "true", "false", "true", "false", "true",
                                        "false", "false", "false"};
    char cmd[256], want[64];
    unsigned i, obj;
    ASSERT_EQ(0, start_qemu());
    for (obj = 0; obj < 2; obj++) {
        for (i = 0; i < sizeof names / sizeof names[0]; i++) {
            snprintf(cmd, sizeof cmd, QOM_GET("%s", "%s"), obj ? PATH BACKEND : PATH, names[i]);
            /* the backend is not hotpluggable: its proxy is */
            snprintf(want, sizeof want, "{\"return\": %s}", obj && i == 2 ? "false" : proxy[i]);
            ASSERT_STR_EQm(cmd, want, run(cmd));
        }
    }
    ASSERT_STR_EQ("{\"return\": \"virtio-balloon-pci\"}", run(QOM_GET(PATH, "type")));
    ASSERT_STR_EQ("{\"return\": \"virtio-balloon-device\"}", run(QOM_GET(PATH BACKEND, "type")));
    ASSERT_STR_EQ("{\"return\": \"virtio-balloon-device\"}", run(QOM_GET(SEED_PATH BACKEND, "type")));
    ASSERT_STR_EQ("{\"return\": 0}", run(QOM_GET(PATH BACKEND, IVL)));
    PASS();
}

/* The virtio features a property names follow what the device offers (vb_config.options). */
TEST qom_get_features_follow_the_options(void)
{
    vb_config c = config(VB_PROFILE_QEMU, 10);
    c.options = VB_OPT_DEFLATE_ON_OOM | VB_OPT_NO_EVENT_IDX | VB_OPT_NO_INDIRECT;
    ASSERT_EQ(0, tg_start(&T, &c, TG_F(VB_F_VERSION_1)));
    vb_qmp_init(&Q, &T.dev, VB_QMP_NO_NEGOTIATION);
    ASSERT_STR_EQ("{\"return\": true}", run(QOM_GET(PATH, "deflate-on-oom")));
    ASSERT_STR_EQ("{\"return\": false}", run(QOM_GET(PATH, "event_idx")));
    ASSERT_STR_EQ("{\"return\": false}", run(QOM_GET(PATH BACKEND, "indirect_desc")));
    PASS();
}

/* The feature properties QEMU has for the rest of the device follow the options too, and
   stay read-only after realize. */
TEST qom_get_full_device_features(void)
{
    vb_config c = config(VB_PROFILE_QEMU, 10);
    c.options = VB_OPT_FREE_PAGE_HINT | VB_OPT_PAGE_POISON | VB_OPT_REPORTING;
    ASSERT_EQ(0, tg_start(&T, &c, TG_F(VB_F_VERSION_1)));
    vb_qmp_init(&Q, &T.dev, VB_QMP_NO_NEGOTIATION);
    ASSERT_STR_EQ("{\"return\": true}", run(QOM_GET(PATH, "free-page-hint")));
    ASSERT_STR_EQ("{\"return\": true}", run(QOM_GET(PATH BACKEND, "page-poison")));
    ASSERT_STR_EQ("{\"return\": true}", run(QOM_GET(PATH, "free-page-reporting")));
    ASSERT_STR_EQ("{\"return\": false}", run(QOM_GET(PATH, "deflate-on-oom")));
    ASSERT_STR_EQ(GEN("Attempt to set property 'free-page-reporting' on anonymous device (type "
                      "'virtio-balloon-device') after it was realized"),
                  run("{\"execute\": \"qom-set\", \"arguments\": {\"path\": \"" PATH BACKEND
                      "\", \"property\": \"free-page-reporting\", \"value\": false}}"));
    ASSERT_STR_EQ("{\"return\": true}", run(QOM_GET(PATH, "free-page-reporting")));
    PASS();
}

#define HINT(action) "{\"execute\": \"x-balloon-free-page-hint\", \"arguments\": {\"action\": \"" action "\"}}"
#define QUERY_HINT "{\"execute\": \"x-query-balloon-free-page-hint\"}"

/* The experimental hinting commands drive vb_hint_start/stop/done and report vb_hint(). */
TEST qmp_free_page_hint_commands(void)
{
    vb_config c = config(VB_PROFILE_QEMU, 10);
    unsigned irqs;
    c.options = VB_OPT_FREE_PAGE_HINT;
    ASSERT_EQ(0, tg_start(&T, &c, TG_LINUX_FEATURES));
    vb_qmp_init(&Q, &T.dev, VB_QMP_NO_NEGOTIATION);
    /* the driver did not accept it: start fails and changes nothing */
    ASSERT_STR_EQ(GEN("The guest has not negotiated free page hinting"), run(HINT("start")));
    ASSERT_STR_EQ("{\"return\": {\"status\": \"stop\", \"cmd-id\": 2147483648, \"guest-cmd-id\": 0, "
                  "\"ranges\": 0, \"bytes\": 0}}", run(QUERY_HINT));
    ASSERT_EQ(0, tg_start(&T, &c, TG_LINUX_FEATURES | TG_F(VB_F_FREE_PAGE_HINT)));
    vb_qmp_init(&Q, &T.dev, VB_QMP_NO_NEGOTIATION);
    irqs = T.config_irqs;
    ASSERT_STR_EQ(OK_EMPTY, run(HINT("start")));
    ASSERT_EQ(irqs + 1, T.config_irqs);
    ASSERT_STR_EQ("{\"return\": {\"status\": \"requested\", \"cmd-id\": 2147483649, \"guest-cmd-id\": 0, "
                  "\"ranges\": 0, \"bytes\": 0}}", run(QUERY_HINT));
    ASSERT_STR_EQ(OK_EMPTY, run(HINT("done")));
    ASSERT_EQ(VB_HINT_DONE, vb_hint(&T.dev)->status);
    ASSERT_STR_EQ(OK_EMPTY, run(HINT("stop")));
    ASSERT_EQ(VB_HINT_STOP, vb_hint(&T.dev)->status);
    ASSERT_EQ(irqs + 3, T.config_irqs);
    ASSERT_STR_EQ(OK_EMPTY, run(HINT("stop"))); /* no change: no interrupt */
    ASSERT_EQ(irqs + 3, T.config_irqs);
    /* bad input changes nothing */
    ASSERT_STR_EQ(GEN("Parameter 'action' does not accept value 'requested'"), run(HINT("requested")));
    ASSERT_STR_EQ(GEN("Parameter 'action' does not accept value 'go'"), run(HINT("go")));
    ASSERT_STR_EQ(GEN("Parameter 'action' is missing"), run("{\"execute\": \"x-balloon-free-page-hint\"}"));
    ASSERT_STR_EQ(GEN("Invalid parameter type for 'action', expected: string"),
                  run("{\"execute\": \"x-balloon-free-page-hint\", \"arguments\": {\"action\": 1}}"));
    ASSERT_STR_EQ(GEN("Parameter 'a' is unexpected"),
                  run("{\"execute\": \"x-query-balloon-free-page-hint\", \"arguments\": {\"a\": 1}}"));
    ASSERT_EQ(irqs + 3, T.config_irqs);
    ASSERT_EQ(VB_HINT_STOP, vb_hint(&T.dev)->status);
    PASS();
}

/* The child's path, as QEMU answers it, and guest-stats read through it. */
TEST qom_virtio_backend_child(void)
{
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ("{\"return\": \"" PATH BACKEND "\"}", run(QOM_GET(PATH, "virtio-backend")));
    ASSERT_STR_EQ("{\"return\": \"" SEED_PATH BACKEND "\"}", run(QOM_GET(SEED_PATH, "virtio-backend")));
    send_linux61_primer();
    ASSERT_STR_EQ("{\"return\": {\"stats\": {\"stat-htlb-pgalloc\": 0, \"stat-swap-out\": 0, "
                  "\"stat-available-memory\": 449081344, \"stat-htlb-pgfail\": 0, "
                  "\"stat-free-memory\": 449478656, \"stat-minor-faults\": 721, "
                  "\"stat-major-faults\": 0, \"stat-total-memory\": 479657984, \"stat-swap-in\": 0, "
                  "\"stat-disk-caches\": 2301952}, \"last-update\": 1795697933}}",
                  run(QOM_GET(PATH BACKEND, "guest-stats")));
    ASSERT_STR_EQ(OK_EMPTY, run(QOM_SET(SEED_PATH BACKEND, IVL, "3")));
    ASSERT_STR_EQ("{\"return\": 3}", run(QOM_GET(PATH, IVL)));
    ASSERT_EQ(3000u, vb_poll_interval_ms(&T.dev));
    /* errors name the backend's type */
    ASSERT_STR_EQ(GEN("Property 'virtio-balloon-device.nope' not found"), run(QOM_GET(PATH BACKEND, "nope")));
    ASSERT_STR_EQ(GEN("Property 'virtio-balloon-device.stats-polling-interval' not found"),
                  run(QOM_GET(PATH BACKEND, "stats-polling-interval")));
    ASSERT_STR_EQ(GEN("Property 'virtio-balloon-device.virtio-backend' not found"),
                  run(QOM_SET(PATH BACKEND, "virtio-backend", "\"x\"")));
    ASSERT_STR_EQ(GEN("Property 'virtio-balloon-device.guest-stats' is not writable"),
                  run(QOM_SET(PATH BACKEND, "guest-stats", "1")));
    /* only the child's exact path (QEMU resolves more spellings, see README) */
    ASSERT_STR_EQ(ERR("DeviceNotFound", "Device '" PATH BACKEND "/x' not found"), run(QOM_GET(PATH BACKEND "/x", "type")));
    ASSERT_STR_EQ(ERR("DeviceNotFound", "Device '" PATH "/virtio-backen' not found"), run(QOM_GET(PATH "/virtio-backen", "type")));
    ASSERT_STR_EQ(ERR("DeviceNotFound", "Device '" PATH "/type' not found"), run(QOM_GET(PATH "/type", "type")));
    ASSERT_STR_EQ("{\"return\": \"virtio-balloon-device\"}", run(QOM_GET("\\/machine/peripheral/balloon0\\/virtio-backend", "type")));
    Q.alt_path = NULL;
    ASSERT_STR_EQ(ERR("DeviceNotFound", "Device '" SEED_PATH BACKEND "' not found"), run(QOM_GET(SEED_PATH BACKEND, "type")));
    PASS();
}

/* qom-set on the read-only properties: QEMU 7.2's errors, nothing changes. */
TEST qom_set_read_only_properties(void)
{
    ASSERT_EQ(0, start_qemu());
    save_state();
    ASSERT_STR_EQ(GEN("Property 'virtio-balloon-pci.hotplugged' is not writable"), run(QOM_SET(PATH, "hotplugged", "false")));
    ASSERT_STR_EQ(GEN("Property 'virtio-balloon-pci.hotpluggable' is not writable"), run(QOM_SET(PATH, "hotpluggable", "1")));
    ASSERT_STR_EQ(GEN("Property 'virtio-balloon-device.hotplugged' is not writable"),
                  run(QOM_SET(PATH BACKEND, "hotplugged", "1")));
    ASSERT_STR_EQ(GEN("Property 'virtio-balloon-pci.virtio-backend' is not writable"),
                  run(QOM_SET(PATH, "virtio-backend", "\"x\"")));
    ASSERT_STR_EQ(GEN("Property 'virtio-balloon-device.type' is not writable"), run(QOM_SET(PATH BACKEND, "type", "\"x\"")));
    /* static properties of a realized device, before the value is looked at; the proxy's are
       aliases of its anonymous backend's */
    ASSERT_STR_EQ(GEN("Attempt to set property 'deflate-on-oom' on anonymous device (type 'virtio-balloon-device') "
                      "after it was realized"),
                  run(QOM_SET(PATH, "deflate-on-oom", "1")));
    ASSERT_STR_EQ(GEN("Attempt to set property 'event_idx' on anonymous device (type 'virtio-balloon-device') "
                      "after it was realized"),
                  run(QOM_SET(SEED_PATH BACKEND, "event_idx", "true")));
    ASSERT_STR_EQ(GEN("Attempt to set property 'page-poison' on anonymous device (type 'virtio-balloon-device') "
                      "after it was realized"),
                  run(QOM_SET(PATH, "page-poison", "true")));
    /* realized: true changes nothing (QEMU); false would unrealize the device (refused here) */
    ASSERT_STR_EQ(OK_EMPTY, run(QOM_SET(PATH, "realized", "true")));
    ASSERT_STR_EQ(GEN("Invalid parameter type for 'realized', expected: boolean"), run(QOM_SET(PATH, "realized", "\"x\"")));
    ASSERT_STR_EQ(GEN("Invalid parameter type for 'realized', expected: boolean"), run(QOM_SET(PATH BACKEND, "realized", "1")));
    ASSERT_STR_EQ(GEN("Property 'virtio-balloon-pci.realized' is not writable"), run(QOM_SET(PATH, "realized", "false")));
    ASSERT_STR_EQ("{\"return\": true}", run(QOM_GET(PATH, "realized")));
    ASSERT_UNCHANGED();
    PASS();
}

/* A virtio-balloon-device (QEMU's virtio-mmio balloon) is named by its id, when it has one. */
TEST qom_set_static_property_of_mmio_device(void)
{
    vb_config c = config(VB_PROFILE_QEMU, 10);
    c.type_name = "virtio-balloon-device";
    ASSERT_EQ(0, tg_start(&T, &c, TG_LINUX_FEATURES));
    vb_qmp_init(&Q, &T.dev, VB_QMP_NO_NEGOTIATION);
    ASSERT_STR_EQ(GEN("Attempt to set property 'deflate-on-oom' on device 'balloon0' (type 'virtio-balloon-device') "
                      "after it was realized"),
                  run(QOM_SET(PATH, "deflate-on-oom", "false")));
    ASSERT_STR_EQ(GEN("Attempt to set property 'deflate-on-oom' on anonymous device (type 'virtio-balloon-device') "
                      "after it was realized"),
                  run(QOM_SET(SEED_PATH, "deflate-on-oom", "false")));
    ASSERT_STR_EQ(GEN("Property 'virtio-balloon-device.hotpluggable' is not writable"), run(QOM_SET(PATH, "hotpluggable", "false")));
    ASSERT_STR_EQ("{\"return\": false}", run(QOM_GET(PATH, "hotpluggable")));
    ASSERT_STR_EQ(GEN("Property 'virtio-balloon-device.virtio-backend' not found"), run(QOM_GET(PATH, "virtio-backend")));
    Q.path = "/machine/peripheral/b1/x"; /* not an id */
    ASSERT_STR_EQ(GEN("Attempt to set property 'page-poison' on anonymous device (type 'virtio-balloon-device') "
                      "after it was realized"),
                  run(QOM_SET("/machine/peripheral/b1/x", "page-poison", "false")));
    PASS();
}

/* ============================================================================================
   query-version, query-commands, and what hosts answer: query-status, events
   ============================================================================================ */

#define QEMU_PACKAGE "Debian 1:7.2+dfsg-7+deb12u18+b3"

TEST query_version_as_qemu(void)
{
    ASSERT_EQ(0, start(VB_PROFILE_QEMU, 10, 0));
    ASSERT_STR_EQ(NEED_CAPS, run("{\"execute\": \"query-version\"}"));
    ASSERT_STR_EQ(OK_EMPTY, run(CAPS));
    ASSERT_STR_EQ("{\"return\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, \"package\": \"vballoon.h "
                  VB_VERSION_STRING "\"}}", run("{\"execute\": \"query-version\"}"));
    /* the real QEMU's reply, byte for byte, once the session says what it says */
    Q.qemu_version[2] = 22;
    Q.package = QEMU_PACKAGE;
    ASSERT_STR_EQ("{\"return\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, \"package\": \"" QEMU_PACKAGE "\"}}",
                  run("{\"execute\": \"query-version\"}"));
    ASSERT_STR_EQ("{\"return\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, \"package\": \"" QEMU_PACKAGE
                  "\"}, \"id\": \"v\"}", run("{\"execute\": \"query-version\", \"id\": \"v\"}"));
    ASSERT_STR_EQ(GEN("Parameter 'x' is unexpected"), run("{\"execute\": \"query-version\", \"arguments\": {\"x\": 1}}"));
    Q.package = NULL;
    ASSERT_STR_EQ("{\"return\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, \"package\": \"\"}}",
                  run("{\"execute\": \"query-version\"}"));
    Q.package = QEMU_PACKAGE;
    Q.flags |= VB_QMP_PRETTY;
    ASSERT_STR_EQ("{\n"
                  "    \"return\": {\n"
                  "        \"qemu\": {\n"
                  "            \"micro\": 22,\n"
                  "            \"minor\": 2,\n"
                  "            \"major\": 7\n"
                  "        },\n"
                  "        \"package\": \"" QEMU_PACKAGE "\"\n"
                  "    }\n"
                  "}",
                  run("{\"execute\": \"query-version\"}"));
    PASS();
}

#define CMD_ENTRY(name) "{\"name\": \"" name "\"}"
#define XCMDS CMD_ENTRY("x-balloon-free-page-hint") ", " CMD_ENTRY("x-query-balloon-free-page-hint")

/* QEMU lists its 216 commands; a session lists those it answers, in QEMU's order (its reply
   filtered to them), then the host's names QEMU does not have. */
TEST query_commands_lists_what_the_session_answers(void)
{
    static const char *const host[] = {"x-advance-clock", "query-status", "cont", "stop", "quit", NULL};
    static const char *const shadow[] = {"balloon", NULL};
    const char *tail;
    ASSERT_EQ(0, start(VB_PROFILE_QEMU, 10, 0));
    ASSERT_STR_EQ(NEED_CAPS, run("{\"execute\": \"query-commands\"}"));
    ASSERT_STR_EQ(OK_EMPTY, run(CAPS));
    ASSERT_STR_EQ("{\"return\": [" CMD_ENTRY("query-balloon") ", " CMD_ENTRY("balloon") ", " CMD_ENTRY("qom-set") ", "
                  CMD_ENTRY("qom-get") ", " CMD_ENTRY("qom-list") ", " CMD_ENTRY("query-commands") ", "
                  CMD_ENTRY("query-version") ", " CMD_ENTRY("qmp_capabilities") ", " XCMDS "]}",
                  run("{\"execute\": \"query-commands\"}"));
    Q.host_commands = host;
    ASSERT_STR_EQ("{\"return\": [" CMD_ENTRY("cont") ", " CMD_ENTRY("stop") ", " CMD_ENTRY("query-balloon") ", "
                  CMD_ENTRY("balloon") ", " CMD_ENTRY("qom-set") ", " CMD_ENTRY("qom-get") ", "
                  CMD_ENTRY("qom-list") ", " CMD_ENTRY("quit") ", " CMD_ENTRY("query-commands") ", "
                  CMD_ENTRY("query-version") ", " CMD_ENTRY("qmp_capabilities") ", " CMD_ENTRY("query-status") ", "
                  XCMDS ", " CMD_ENTRY("x-advance-clock") "], \"id\": 1}",
                  run("{\"execute\": \"query-commands\", \"id\": 1}"));
    Q.host_commands = shadow; /* a host that takes one of the session's commands: listed once */
    ASSERT_STR_EQ("{\"return\": [" CMD_ENTRY("query-balloon") ", " CMD_ENTRY("balloon") ", " CMD_ENTRY("qom-set") ", "
                  CMD_ENTRY("qom-get") ", " CMD_ENTRY("qom-list") ", " CMD_ENTRY("query-commands") ", "
                  CMD_ENTRY("query-version") ", " CMD_ENTRY("qmp_capabilities") ", " XCMDS "]}",
                  run("{\"execute\": \"query-commands\"}"));
    ASSERT_STR_EQ(GEN("Parameter 'a' is unexpected"), run("{\"execute\": \"query-commands\", \"arguments\": {\"a\": 1}}"));
    Q.flags |= VB_QMP_PRETTY;
    ASSERT_EQ(0, strncmp(run("{\"execute\": \"query-commands\"}"),
                         "{\n    \"return\": [\n        {\n            \"name\": \"query-balloon\"\n        },\n"
                         "        {\n            \"name\": \"balloon\"\n        },\n", 103));
    tail = "        {\n            \"name\": \"x-query-balloon-free-page-hint\"\n        }\n    ]\n}";
    ASSERT_STR_EQ(tail, reply + strlen(reply) - strlen(tail));
    PASS();
}

/* vb_qmp_reply_status: QEMU 7.2's query-status, compact and pretty, with the id. */
TEST host_reply_status(void)
{
    static const char *const names[] = {"x"};
    vb_qmp_command c;
    const char *plain = "{\"execute\": \"query-status\"}", *in = "{\"execute\": \"query-status\", \"id\": \"x\"}";
    ASSERT_EQ(0, start_qemu());
    ASSERT(vb_qmp_parse(plain, strlen(plain), &c));
    ASSERT(vb_qmp_reply_status(&Q, &c, "prelaunch", reply, sizeof reply) < sizeof reply);
    ASSERT_STR_EQ("{\"return\": {\"status\": \"prelaunch\", \"singlestep\": false, \"running\": false}}", reply);
    vb_qmp_reply_status(NULL, &c, "running", reply, sizeof reply);
    ASSERT_STR_EQ("{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}}", reply);
    ASSERT(vb_qmp_parse(in, strlen(in), &c));
    Q.flags |= VB_QMP_PRETTY;
    vb_qmp_reply_status(&Q, &c, "paused", reply, sizeof reply);
    ASSERT_STR_EQ("{\n"
                  "    \"return\": {\n"
                  "        \"status\": \"paused\",\n"
                  "        \"singlestep\": false,\n"
                  "        \"running\": false\n"
                  "    },\n"
                  "    \"id\": \"x\"\n"
                  "}",
                  reply);
    in = "{\"execute\": \"query-status\", \"arguments\": {\"x\": 1, \"y\": 2}}";
    ASSERT(vb_qmp_parse(in, strlen(in), &c));
    ASSERT_EQ(0, vb_qmp_args_only(&c, names, 0));
    ASSERT_EQ(strlen(GEN("Parameter 'x' is unexpected")), vb_qmp_reply_status(NULL, &c, "running", reply, sizeof reply));
    ASSERT_STR_EQ(GEN("Parameter 'x' is unexpected"), reply);
    ASSERT_EQ(0, vb_qmp_args_only(&c, names + 1, 0));
    PASS();
}

/* vb_qmp_event: what QEMU 7.2 sent before its replies to stop, cont and quit. */
TEST event_any(void)
{
#define STOP_EVENT "{\"timestamp\": {\"seconds\": 1796453911, \"microseconds\": 375015}, \"event\": \"STOP\"}"
    ASSERT_EQ(strlen(STOP_EVENT), vb_qmp_event("STOP", NULL, 1796453911, 375015, reply, sizeof reply));
    ASSERT_STR_EQ("{\"timestamp\": {\"seconds\": 1796453911, \"microseconds\": 375015}, \"event\": \"STOP\"}", reply);
    vb_qmp_event("RESUME", NULL, 1796453911, 374211, reply, sizeof reply);
    ASSERT_STR_EQ("{\"timestamp\": {\"seconds\": 1796453911, \"microseconds\": 374211}, \"event\": \"RESUME\"}", reply);
    vb_qmp_event("SHUTDOWN", "{\"guest\": false, \"reason\": \"host-qmp-quit\"}", 1796453911, 376935, reply, sizeof reply);
    ASSERT_STR_EQ("{\"timestamp\": {\"seconds\": 1796453911, \"microseconds\": 376935}, \"event\": \"SHUTDOWN\", "
                  "\"data\": {\"guest\": false, \"reason\": \"host-qmp-quit\"}}",
                  reply);
    ASSERT_EQ(strlen(STOP_EVENT), vb_qmp_event("STOP", NULL, 1796453911, 375015, reply, 10)); /* snprintf-style */
    ASSERT_STR_EQ("{\"timesta", reply);
    PASS();
}

/* ============================================================================================
   query-balloon, balloon, BALLOON_CHANGE
   ============================================================================================ */

TEST query_balloon_follows_actual(void)
{
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ("{\"return\": {\"actual\": 536870912}}", run(QUERY));
    write_actual(32768); /* the driver holds 128 MiB */
    ASSERT_EQ(1u, T.actual_calls);
    ASSERT_STR_EQ("{\"return\": {\"actual\": 402653184}}", run(QUERY));
    ASSERT_STR_EQ("{\"return\": {\"actual\": 402653184}, \"id\": [\"q\"]}",
                  run("{\"execute\": \"query-balloon\", \"arguments\": {}, \"id\": [\"q\"]}"));
    write_actual(0);
    ASSERT_STR_EQ("{\"return\": {\"actual\": 536870912}}", run(QUERY));
    PASS();
}

TEST query_balloon_argument_errors(void)
{
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ(GEN("Parameter 'value' is unexpected"),
                  run("{\"execute\": \"query-balloon\", \"arguments\": {\"value\": 1}}"));
    ASSERT_STR_EQ(GEN("QMP input member 'arguments' must be an object"),
                  run("{\"execute\": \"query-balloon\", \"arguments\": []}"));
    PASS();
}

TEST balloon_sets_target_and_notifies(void)
{
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ(OK_EMPTY, run(BALLOON("402653184")));
    ASSERT_EQ(32768u, vb_target_pages(&T.dev));
    ASSERT_EQ(1u, T.config_irqs);
    ASSERT_STR_EQ("{\"return\": {}, \"id\": 5}",
                  run("{\"execute\": \"balloon\", \"arguments\": {\"value\": 536866816}, \"id\": 5}"));
    ASSERT_EQ(1u, vb_target_pages(&T.dev)); /* one page */
    ASSERT_EQ(2u, T.config_irqs);
    ASSERT_STR_EQ(OK_EMPTY, run(BALLOON("536870912")));
    ASSERT_EQ(0u, vb_target_pages(&T.dev));
    ASSERT_EQ(3u, T.config_irqs);
    /* a target below one page rounds the pages down */
    ASSERT_STR_EQ(OK_EMPTY, run(BALLOON("1")));
    ASSERT_EQ(131071u, vb_target_pages(&T.dev));
    PASS();
}

/* virtio_balloon_to_target() calls virtio_notify_config() for every non-zero target. */
/* RAM size 0 (not known yet): no size can be worked out, so both balloon commands answer as
   QEMU without an active balloon, after the argument checks, and nothing changes. */
TEST balloon_without_ram_size_is_not_active(void)
{
    static const char na[] =
        "{\"error\": {\"class\": \"DeviceNotActive\", \"desc\": \"No balloon device has been activated\"}}";
    ASSERT_EQ(0, start_qemu());
    vb_set_ram_size(&T.dev, 0);
    ASSERT_STR_EQ(na, run(BALLOON("1073741824")));
    ASSERT_STR_EQ(na, run(BALLOON("-1"))); /* the size check comes after, as in qmp_balloon */
    ASSERT_STR_EQ(na, run(QUERY));
    ASSERT_STR_EQ("{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'value' is missing\"}}",
                  run("{\"execute\": \"balloon\"}"));
    ASSERT_EQ(0u, vb_target_pages(&T.dev));
    ASSERT_EQ(0u, T.config_irqs);
    vb_set_ram_size(&T.dev, RAM_512M);
    ASSERT_STR_EQ("{\"return\": {}}", run(BALLOON("268435456")));
    ASSERT_EQ(65536u, vb_target_pages(&T.dev));
    PASS();
}

TEST balloon_same_target_notifies_again(void)
{
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ(OK_EMPTY, run(BALLOON("402653184")));
    ASSERT_EQ(1u, T.config_irqs);
    ASSERT_STR_EQ(OK_EMPTY, run(BALLOON("402653184")));
    ASSERT_EQ(32768u, vb_target_pages(&T.dev));
    ASSERT_EQ(2u, T.config_irqs);
    PASS();
}

TEST balloon_before_driver_ok_does_not_interrupt(void)
{
    vb_config c = config(VB_PROFILE_QEMU, 10);
    ASSERT_EQ(0, tg_create(&T, &c));
    vb_qmp_init(&Q, &T.dev, VB_QMP_NO_NEGOTIATION);
    ASSERT_STR_EQ(OK_EMPTY, run(BALLOON("268435456")));
    ASSERT_EQ(65536u, vb_target_pages(&T.dev));
    ASSERT_EQ(0u, T.config_irqs);
    PASS();
}

TEST balloon_bigger_than_ram_clamps(void)
{
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ(OK_EMPTY, run(BALLOON("402653184")));
    ASSERT_STR_EQ(OK_EMPTY, run(BALLOON("536870913")));
    ASSERT_EQ(0u, vb_target_pages(&T.dev));
    ASSERT_STR_EQ(OK_EMPTY, run(BALLOON("402653184")));
    ASSERT_STR_EQ(OK_EMPTY, run(BALLOON("9223372036854775807")));
    ASSERT_EQ(0u, vb_target_pages(&T.dev));
    PASS();
}

TEST balloon_zero_or_negative(void)
{
    static const char *const vals[] = {"0", "-0", "-1", "-536870912", "-9223372036854775808"};
    static char cmd[128];
    unsigned i;
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ(OK_EMPTY, run(BALLOON("402653184")));
    for (i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        snprintf(cmd, sizeof cmd, BALLOON("%s"), vals[i]);
        save_state();
        ASSERT_STR_EQm(cmd, GEN("Parameter 'target' expects a size"), run(cmd));
        ASSERT_UNCHANGED();
    }
    ASSERT_EQ(32768u, vb_target_pages(&T.dev));
    PASS();
}

TEST balloon_value_not_an_integer(void)
{
    static const char *const vals[] = {"1.5", "1e9", "4.0", "\"402653184\"", "null", "true", "[1]", "{}",
                                       "18446744073709551615", "9223372036854775808"};
    static char cmd[128];
    unsigned i;
    ASSERT_EQ(0, start_qemu());
    for (i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        snprintf(cmd, sizeof cmd, BALLOON("%s"), vals[i]);
        save_state();
        ASSERT_STR_EQm(cmd, GEN("Invalid parameter type for 'value', expected: integer"), run(cmd));
        ASSERT_UNCHANGED();
    }
    PASS();
}

TEST balloon_argument_errors(void)
{
    ASSERT_EQ(0, start_qemu());
    save_state();
    ASSERT_STR_EQ(GEN("Parameter 'value' is missing"), run("{\"execute\": \"balloon\"}"));
    ASSERT_STR_EQ(GEN("Parameter 'value' is missing"), run("{\"execute\": \"balloon\", \"arguments\": {}}"));
    ASSERT_STR_EQ(GEN("Parameter 'value' is missing"),
                  run("{\"execute\": \"balloon\", \"arguments\": {\"target\": 1}}"));
    ASSERT_STR_EQ(GEN("Parameter 'target' is unexpected"),
                  run("{\"execute\": \"balloon\", \"arguments\": {\"target\": 1, \"value\": 402653184}}"));
    ASSERT_UNCHANGED();
    PASS();
}

TEST event_balloon_change(void)
{
    char buf[256];
    size_t n;
    ASSERT_EQ(0, start_qemu());
    n = vb_qmp_event_balloon_change(Q.dev, 1267040730, 682951, buf, sizeof buf);
    ASSERT_STR_EQ("{\"timestamp\": {\"seconds\": 1267040730, \"microseconds\": 682951}, "
                  "\"event\": \"BALLOON_CHANGE\", \"data\": {\"actual\": 536870912}}",
                  buf);
    ASSERT_EQ(strlen(buf), n);
    write_actual(32768);
    vb_qmp_event_balloon_change(Q.dev, 1, 0, buf, sizeof buf);
    ASSERT_STR_EQ("{\"timestamp\": {\"seconds\": 1, \"microseconds\": 0}, "
                  "\"event\": \"BALLOON_CHANGE\", \"data\": {\"actual\": 402653184}}",
                  buf);
    ASSERT_EQ(strlen(buf), vb_qmp_event_balloon_change(Q.dev, 1, 0, NULL, 0));
    PASS();
}

/* ============================================================================================
   Dispatch errors
   ============================================================================================ */

TEST unknown_command(void)
{
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ(ERR("CommandNotFound", "The command x has not been found"), run("{\"execute\": \"x\"}"));
    ASSERT_STR_EQ(ERR("CommandNotFound", "The command  has not been found"), run("{\"execute\": \"\"}"));
    ASSERT_STR_EQ(ERR("CommandNotFound", "The command query-balloon2 has not been found"),
                  run("{\"execute\": \"query-balloon2\", \"arguments\": {\"bad\": []}}"));
    ASSERT_STR_EQ(ERR("CommandNotFound", "The command a\\\"b\\\\c has not been found"),
                  run("{\"execute\": \"a\\\"b\\\\c\"}"));
    ASSERT_STR_EQ(ID_ERR("\"i\"", "CommandNotFound", "The command QOM-GET has not been found"),
                  run("{\"id\": \"i\", \"execute\": \"QOM-GET\"}"));
    PASS();
}

/* "Device '%s' not found" with the path re-escaped by the JSON writer. */
TEST device_not_found_escapes_the_path(void)
{
    static const struct { const char *in, *out; } cases[] = {
        {"/a\\\"b", "/a\\\"b"},
        {"/a\\\\b", "/a\\\\b"},
        {"/a\\nb\\tc\\rd\\be\\ff", "/a\\nb\\tc\\rd\\be\\ff"},
        {"\\/x\\/y", "/x/y"},
        {"/\\u0001\\u001f", "/\\u0001\\u001F"},
        {"/\xc3\xa9t\xc3\xa9", "/\\u00E9t\\u00E9"},
        {"/\\u00e9", "/\\u00E9"},
        {"/\xf0\x9f\x98\x80", "/\\uD83D\\uDE00"},
        {"/\\ud83d\\ude00", "/\\uD83D\\uDE00"},
        {"/\x7f", "/\\u007F"},
        {"/'", "/'"},
        {"/machine/peripheral/balloon0\\u0020", "/machine/peripheral/balloon0 "},
    };
    static char cmd[256], want[256];
    unsigned i;
    ASSERT_EQ(0, start_qemu());
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(cmd, sizeof cmd, QOM_GET("%s", IVL), cases[i].in);
        snprintf(want, sizeof want, ERR("DeviceNotFound", "Device '%s' not found"), cases[i].out);
        ASSERT_STR_EQm(cmd, want, run(cmd));
    }
    /* a single-quoted path may hold a bare double quote */
    ASSERT_STR_EQ(ERR("DeviceNotFound", "Device 'a\\\"b' not found"),
                  run("{'execute': 'qom-list', 'arguments': {'path': 'a\"b'}}"));
    PASS();
}

TEST missing_arguments(void)
{
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ(GEN("Parameter 'path' is missing"), run("{\"execute\": \"qom-get\"}"));
    ASSERT_STR_EQ(GEN("Parameter 'path' is missing"), run("{\"execute\": \"qom-get\", \"arguments\": {}}"));
    ASSERT_STR_EQ(GEN("Parameter 'property' is missing"),
                  run("{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"" PATH "\"}}"));
    ASSERT_STR_EQ(GEN("Parameter 'path' is missing"),
                  run("{\"execute\": \"qom-get\", \"arguments\": {\"property\": \"type\"}}"));
    ASSERT_STR_EQ(ID_ERR("null", "GenericError", "Parameter 'path' is missing"),
                  run("{\"execute\": \"qom-set\", \"id\": null}"));
    PASS();
}

TEST unexpected_arguments(void)
{
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ(GEN("Parameter 'x' is unexpected"),
                  run("{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"" PATH "\", \"property\": \"type\", \"x\": 1}}"));
    ASSERT_STR_EQ(GEN("Parameter 'Path' is unexpected"),
                  run("{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"" PATH "\", \"property\": \"type\", \"Path\": \"\"}}"));
    ASSERT_STR_EQ(GEN("Parameter '\\u00E9' is unexpected"),
                  run("{\"execute\": \"query-balloon\", \"arguments\": {\"\\u00e9\": 1}}"));
    PASS();
}

TEST mistyped_arguments(void)
{
    static const char *const vals[] = {"1", "null", "true", "[]", "{}", "1.5"};
    static char cmd[160];
    unsigned i;
    ASSERT_EQ(0, start_qemu());
    for (i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        snprintf(cmd, sizeof cmd, "{\"execute\": \"qom-get\", \"arguments\": {\"path\": %s, \"property\": \"type\"}}", vals[i]);
        ASSERT_STR_EQm(cmd, GEN("Invalid parameter type for 'path', expected: string"), run(cmd));
        snprintf(cmd, sizeof cmd, "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"" PATH "\", \"property\": %s}}", vals[i]);
        ASSERT_STR_EQm(cmd, GEN("Invalid parameter type for 'property', expected: string"), run(cmd));
    }
    PASS();
}

/* QAPI visits the members in declaration order (missing or mistyped at each), then reports an
   unexpected one. */
TEST argument_check_order(void)
{
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ(GEN("Invalid parameter type for 'path', expected: string"),
                  run("{\"execute\": \"qom-get\", \"arguments\": {\"path\": 1}}"));
    ASSERT_STR_EQ(GEN("Parameter 'path' is missing"),
                  run("{\"execute\": \"qom-get\", \"arguments\": {\"property\": 1, \"x\": 1}}"));
    ASSERT_STR_EQ(GEN("Invalid parameter type for 'property', expected: string"),
                  run("{\"execute\": \"qom-get\", \"arguments\": {\"x\": 1, \"property\": 1, \"path\": \"/\"}}"));
    ASSERT_STR_EQ(GEN("Parameter 'x' is unexpected"),
                  run("{\"execute\": \"qom-get\", \"arguments\": {\"x\": 1, \"property\": \"\", \"path\": \"/\"}}"));
    PASS();
}

TEST envelope_errors(void)
{
    static const struct { const char *in, *out; } cases[] = {
        {"[]", GEN("QMP input must be a JSON object")},
        {"[{\"execute\": \"query-balloon\"}]", GEN("QMP input must be a JSON object")},
        {"1", GEN("QMP input must be a JSON object")},
        {"\"query-balloon\"", GEN("QMP input must be a JSON object")},
        {"null", GEN("QMP input must be a JSON object")},
        {"true", GEN("QMP input must be a JSON object")},
        {"{}", GEN("QMP input lacks member 'execute'")},
        {"{\"arguments\": {}}", GEN("QMP input lacks member 'execute'")},
        {"{\"id\": 2, \"arguments\": {}}", ID_ERR("2", "GenericError", "QMP input lacks member 'execute'")},
        {"{\"execute\": 1}", GEN("QMP input member 'execute' must be a string")},
        {"{\"execute\": null, \"id\": 4}", ID_ERR("4", "GenericError", "QMP input member 'execute' must be a string")},
        {"{\"execute\": [\"qom-get\"]}", GEN("QMP input member 'execute' must be a string")},
        {"{\"execute\": \"query-balloon\", \"arguments\": []}", GEN("QMP input member 'arguments' must be an object")},
        {"{\"execute\": \"query-balloon\", \"arguments\": null}", GEN("QMP input member 'arguments' must be an object")},
        {"{\"execute\": \"query-balloon\", \"arguments\": \"\"}", GEN("QMP input member 'arguments' must be an object")},
        {"{\"execute\": \"query-balloon\", \"x\": 1}", GEN("QMP input member 'x' is unexpected")},
        {"{\"execute\": \"query-balloon\", \"Execute\": 1}", GEN("QMP input member 'Execute' is unexpected")},
        {"{\"execute\": \"query-balloon\", \"\": 1}", GEN("QMP input member '' is unexpected")},
        {"{\"execute\": \"query-balloon\", \"\\u00e9\": 1}", GEN("QMP input member '\\u00E9' is unexpected")},
        {"{\"execute\": \"query-balloon\", \"args\": {}, \"id\": 1}",
         ID_ERR("1", "GenericError", "QMP input member 'args' is unexpected")},
        /* out-of-band execution was not enabled */
        {"{\"exec-oob\": \"query-balloon\"}", GEN("QMP input member 'exec-oob' is unexpected")},
    };
    unsigned i;
    ASSERT_EQ(0, start_qemu());
    save_state();
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) ASSERT_STR_EQm(cases[i].in, cases[i].out, run(cases[i].in));
    ASSERT_UNCHANGED();
    PASS();
}

/* qmp_dispatch_check_obj() walks the request QDict in bucket order: "execute" (bucket 299)
   comes before "arguments" (447), whatever the order of the input text. */
TEST envelope_members_checked_in_qdict_order(void)
{
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ(GEN("QMP input member 'execute' must be a string"), run("{\"arguments\": [], \"execute\": 1}"));
    ASSERT_STR_EQ(GEN("QMP input member 'x' is unexpected"), run("{\"execute\": 1, \"x\": 1}")); /* x: 134 */
    PASS();
}

/* ============================================================================================
   id echo
   ============================================================================================ */

TEST id_position_in_replies(void)
{
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ("{\"return\": {\"actual\": 536870912}, \"id\": \"a\"}",
                  run("{\"id\": \"a\", \"execute\": \"query-balloon\"}"));
    ASSERT_STR_EQ("{\"id\": \"a\", \"error\": {\"class\": \"GenericError\", \"desc\": \"timer value is too big\"}}",
                  run("{\"id\": \"a\", \"execute\": \"qom-set\", \"arguments\": {\"path\": \"" PATH
                      "\", \"property\": \"" IVL "\", \"value\": 4294967296}}"));
    /* the id is taken even when it comes after the member that fails */
    ASSERT_STR_EQ(ID_ERR("\"late\"", "GenericError", "QMP input member 'x' is unexpected"),
                  run("{\"execute\": \"query-balloon\", \"x\": 1, \"id\": \"late\"}"));
    PASS();
}

TEST id_of_every_json_type(void)
{
    static const struct { const char *in, *out; } cases[] = {
        {"0", "0"},
        {"-0", "0"},
        {"42", "42"},
        {"-42", "-42"},
        {"9223372036854775807", "9223372036854775807"},
        {"-9223372036854775808", "-9223372036854775808"},
        {"9223372036854775808", "9223372036854775808"},
        {"18446744073709551615", "18446744073709551615"},
        {"\"\"", "\"\""},
        {"\"abc\"", "\"abc\""},
        {"true", "true"},
        {"false", "false"},
        {"null", "null"},
        {"[]", "[]"},
        {"[ ]", "[]"},
        {"{}", "{}"},
        {"{ }", "{}"},
        {"[1,2]", "[1, 2]"},
        {"{\"a\":[1,2]}", "{\"a\": [1, 2]}"},
        {"{ \"a\" : [ 1 , 2 ] }", "{\"a\": [1, 2]}"},
        {"[[[]],{},[{\"k\":null}]]", "[[[]], {}, [{\"k\": null}]]"},
        {"[true,false,null,\"s\",-1]", "[true, false, null, \"s\", -1]"},
        {"{\"x\":{\"y\":{\"z\":\"\"}}}", "{\"x\": {\"y\": {\"z\": \"\"}}}"},
        {"\n\t[\r1\n]", "[1]"},
    };
    static char cmd[256], want[256];
    unsigned i;
    ASSERT_EQ(0, start_qemu());
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(cmd, sizeof cmd, "{\"execute\": \"qmp_capabilities\", \"id\": %s}", cases[i].in);
        snprintf(want, sizeof want, "{\"return\": {}, \"id\": %s}", cases[i].out);
        ASSERT_STR_EQm(cmd, want, run(cmd));
        snprintf(cmd, sizeof cmd, "{\"id\": %s, \"execute\": \"nope\"}", cases[i].in);
        snprintf(want, sizeof want, ID_ERR("%s", "CommandNotFound", "The command nope has not been found"),
                 cases[i].out);
        ASSERT_STR_EQm(cmd, want, run(cmd));
    }
    PASS();
}

/* QEMU turns a number that is not an int64/uint64 into a double (strtod) and prints it with
   "%.17g" (recorded from QEMU 7.2); integers are normalised. */
TEST id_doubles_reprinted_as_qemu(void)
{
    static const struct { const char *in, *out; } cases[] = {
        {"1.5", "1.5"},
        {"1e3", "1000"},
        {"-0.0", "-0"},
        {"0.1", "0.10000000000000001"},
        {"18446744073709551616", "1.8446744073709552e+19"},
        {"-0", "0"},
        {"18446744073709551615", "18446744073709551615"},
        {"-9223372036854775808", "-9223372036854775808"},
    };
    static char cmd[160], want[160];
    unsigned i;
    ASSERT_EQ(0, start_qemu());
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(cmd, sizeof cmd, "{\"execute\": \"qmp_capabilities\", \"id\": %s}", cases[i].in);
        snprintf(want, sizeof want, "{\"return\": {}, \"id\": %s}", cases[i].out);
        ASSERT_STR_EQm(cmd, want, run(cmd));
        Q.negotiated = 0;
    }
    PASS();
}

/* Strings come back re-escaped by the JSON writer. */
TEST id_strings_are_reescaped(void)
{
    static const struct { const char *in, *out; } cases[] = {
        {"\"\\/\"", "\"/\""},
        {"\"\\\"\\\\\"", "\"\\\"\\\\\""},
        {"\"\\b\\f\\n\\r\\t\"", "\"\\b\\f\\n\\r\\t\""},
        {"\"\\u0008\\u000c\\u000A\"", "\"\\b\\f\\n\""},
        {"\"\\u0001\\u001F\\u0020\"", "\"\\u0001\\u001F \""},
        {"\"\\u0041\\u007f\"", "\"A\\u007F\""},
        {"\"\x7f\"", "\"\\u007F\""},
        {"\"\xc3\xa9\"", "\"\\u00E9\""},
        {"\"\\u00e9\"", "\"\\u00E9\""},
        {"\"\xe2\x82\xac\"", "\"\\u20AC\""},
        {"\"\xef\xbf\xbd\"", "\"\\uFFFD\""},
        {"\"\xf0\x9f\x98\x80\"", "\"\\uD83D\\uDE00\""},
        {"\"\\ud83d\\ude00\"", "\"\\uD83D\\uDE00\""},
        {"\"\xf4\x8f\xbf\xbd\"", "\"\\uDBFF\\uDFFD\""},
        {"\"\\'\"", "\"'\""},
        {"'single'", "\"single\""},
        {"'say \"hi\"'", "\"say \\\"hi\\\"\""},
        {"'it\\'s'", "\"it's\""},
        {"{'k\\u00e9': '\\u00e9'}", "{\"k\\u00E9\": \"\\u00E9\"}"},
    };
    static char cmd[256], want[256];
    unsigned i;
    ASSERT_EQ(0, start_qemu());
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(cmd, sizeof cmd, "{\"execute\": \"qmp_capabilities\", \"id\": %s}", cases[i].in);
        snprintf(want, sizeof want, "{\"return\": {}, \"id\": %s}", cases[i].out);
        ASSERT_STR_EQm(cmd, want, run(cmd));
    }
    PASS();
}

/* QEMU stores an object id in a QDict and prints its members in hash bucket order ("a" 233
   before "b" 340), not in input order. */
TEST id_object_members_in_qdict_order(void)
{
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ("{\"return\": {}, \"id\": {\"a\": 2, \"b\": 1}}",
                  run("{\"execute\": \"qmp_capabilities\", \"id\": {\"b\": 1, \"a\": 2}}"));
    PASS();
}

TEST single_quoted_command(void)
{
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ("{\"return\": {}, \"id\": \"q\"}",
                  run("{'execute': 'qom-set', 'arguments': {'path': '" PATH "', 'property': '" IVL
                      "', 'value': 6}, 'id': 'q'}"));
    ASSERT_EQ(6000u, vb_poll_interval_ms(&T.dev));
    PASS();
}

/* ============================================================================================
   Pretty mode
   ============================================================================================ */

TEST pretty_guest_stats(void)
{
    ASSERT_EQ(0, start(VB_PROFILE_QEMU, 10, VB_QMP_NO_NEGOTIATION | VB_QMP_PRETTY));
    send_linux61_primer();
    ASSERT_STR_EQ("{\n"
                  "    \"return\": {\n"
                  "        \"stats\": {\n"
                  "            \"stat-htlb-pgalloc\": 0,\n"
                  "            \"stat-swap-out\": 0,\n"
                  "            \"stat-available-memory\": 449081344,\n"
                  "            \"stat-htlb-pgfail\": 0,\n"
                  "            \"stat-free-memory\": 449478656,\n"
                  "            \"stat-minor-faults\": 721,\n"
                  "            \"stat-major-faults\": 0,\n"
                  "            \"stat-total-memory\": 479657984,\n"
                  "            \"stat-swap-in\": 0,\n"
                  "            \"stat-disk-caches\": 2301952\n"
                  "        },\n"
                  "        \"last-update\": 1795697933\n"
                  "    },\n"
                  "    \"id\": 1\n"
                  "}",
                  run("{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"" PATH
                      "\", \"property\": \"guest-stats\"}, \"id\": 1}"));
    PASS();
}

/* json-writer breaks an empty object over two lines too. */
TEST pretty_empty_return(void)
{
    ASSERT_EQ(0, start(VB_PROFILE_QEMU, 10, VB_QMP_PRETTY));
    ASSERT_STR_EQ("{\n    \"return\": {\n    }\n}", run(CAPS));
    ASSERT_STR_EQ("{\n    \"return\": {\n    }\n}", run(QOM_SET(PATH, IVL, "2")));
    ASSERT_STR_EQ("{\n    \"return\": {\n    }\n}", run(BALLOON("402653184")));
    ASSERT_STR_EQ("{\n    \"return\": {\n    },\n    \"id\": \"x\"\n}",
                  run("{\"execute\": \"balloon\", \"arguments\": {\"value\": 402653184}, \"id\": \"x\"}"));
    PASS();
}

TEST pretty_errors(void)
{
    ASSERT_EQ(0, start(VB_PROFILE_QEMU, 10, VB_QMP_PRETTY));
    ASSERT_STR_EQ("{\n"
                  "    \"error\": {\n"
                  "        \"class\": \"CommandNotFound\",\n"
                  "        \"desc\": \"Expecting capabilities negotiation with 'qmp_capabilities'\"\n"
                  "    }\n"
                  "}",
                  run(QUERY));
    Q.flags |= VB_QMP_NO_NEGOTIATION;
    ASSERT_STR_EQ("{\n"
                  "    \"id\": [\n"
                  "        1\n"
                  "    ],\n"
                  "    \"error\": {\n"
                  "        \"class\": \"GenericError\",\n"
                  "        \"desc\": \"timer value must be greater than zero\"\n"
                  "    }\n"
                  "}",
                  run("{\"execute\": \"qom-set\", \"id\": [1], \"arguments\": {\"path\": \"" PATH
                      "\", \"property\": \"" IVL "\", \"value\": -1}}"));
    ASSERT_STR_EQ("{\n"
                  "    \"error\": {\n"
                  "        \"class\": \"GenericError\",\n"
                  "        \"desc\": \"JSON parse error, invalid keyword 'tru'\"\n"
                  "    }\n"
                  "}",
                  run("{\"execute\": tru}"));
    PASS();
}

TEST pretty_qom_list_and_scalars(void)
{
    ASSERT_EQ(0, start(VB_PROFILE_QEMU, 10, VB_QMP_NO_NEGOTIATION | VB_QMP_PRETTY));
    ASSERT_STR_EQ("{\n"
                  "    \"return\": [\n"
                  "        {\n"
                  "            \"name\": \"type\",\n"
                  "            \"type\": \"string\"\n"
                  "        },\n"
                  "        {\n"
                  "            \"name\": \"realized\",\n"
                  "            \"type\": \"bool\"\n"
                  "        },\n"
                  "        {\n"
                  "            \"name\": \"hotplugged\",\n"
                  "            \"type\": \"bool\"\n"
                  "        },\n"
                  "        {\n"
                  "            \"name\": \"hotpluggable\",\n"
                  "            \"type\": \"bool\"\n"
                  "        },\n"
                  "        {\n"
                  "            \"name\": \"event_idx\",\n"
                  "            \"type\": \"bool\"\n"
                  "        },\n"
                  "        {\n"
                  "            \"name\": \"indirect_desc\",\n"
                  "            \"type\": \"bool\"\n"
                  "        },\n"
                  "        {\n"
                  "            \"name\": \"deflate-on-oom\",\n"
                  "            \"type\": \"bool\"\n"
                  "        },\n"
                  "        {\n"
                  "            \"name\": \"free-page-hint\",\n"
                  "            \"type\": \"bool\"\n"
                  "        },\n"
                  "        {\n"
                  "            \"name\": \"page-poison\",\n"
                  "            \"type\": \"bool\"\n"
                  "        },\n"
                  "        {\n"
                  "            \"name\": \"qemu-4-0-config-size\",\n"
                  "            \"type\": \"bool\"\n"
                  "        },\n"
                  "        {\n"
                  "            \"name\": \"free-page-reporting\",\n"
                  "            \"type\": \"bool\"\n"
                  "        },\n"
                  "        {\n"
                  "            \"name\": \"guest-stats-polling-interval\",\n"
                  "            \"type\": \"int\"\n"
                  "        },\n"
                  "        {\n"
                  "            \"name\": \"guest-stats\",\n"
                  "            \"type\": \"guest statistics\"\n"
                  "        },\n"
                  "        {\n"
                  "            \"name\": \"x-guest-stats-telemetry\",\n"
                  "            \"type\": \"guest statistics telemetry\"\n"
                  "        }\n"
                  "    ]\n"
                  "}",
                  run(QOM_LIST(PATH BACKEND)));
    ASSERT_STR_EQ("{\n    \"return\": 0\n}", run(QOM_GET(PATH, IVL)));
    ASSERT_STR_EQ("{\n    \"return\": \"virtio-balloon-pci\"\n}", run(QOM_GET(PATH, "type")));
    ASSERT_STR_EQ("{\n    \"return\": {\n        \"actual\": 536870912\n    }\n}", run(QUERY));
    PASS();
}

TEST pretty_ids(void)
{
    ASSERT_EQ(0, start(VB_PROFILE_QEMU, 10, VB_QMP_NO_NEGOTIATION | VB_QMP_PRETTY));
    ASSERT_STR_EQ("{\n"
                  "    \"return\": {\n"
                  "    },\n"
                  "    \"id\": {\n"
                  "        \"a\": [\n"
                  "            1,\n"
                  "            2\n"
                  "        ]\n"
                  "    }\n"
                  "}",
                  run("{\"execute\": \"qmp_capabilities\", \"id\": {\"a\":[1,2]}}"));
    ASSERT_STR_EQ("{\n    \"return\": {\n    },\n    \"id\": [\n    ]\n}",
                  run("{\"execute\": \"qmp_capabilities\", \"id\": []}"));
    ASSERT_STR_EQ("{\n    \"return\": {\n    },\n    \"id\": {\n    }\n}",
                  run("{\"execute\": \"qmp_capabilities\", \"id\": {}}"));
    ASSERT_STR_EQ("{\n"
                  "    \"return\": {\n"
                  "    },\n"
                  "    \"id\": [\n"
                  "        [\n"
                  "        ],\n"
                  "        {\n"
                  "            \"k\": \"\\u00E9\"\n"
                  "        }\n"
                  "    ]\n"
                  "}",
                  run("{\"execute\": \"qmp_capabilities\", \"id\": [[], {\"k\": \"\\u00e9\"}]}"));
    ASSERT_STR_EQ("{\n"
                  "    \"id\": \"e\",\n"
                  "    \"error\": {\n"
                  "        \"class\": \"DeviceNotFound\",\n"
                  "        \"desc\": \"Device '/x' not found\"\n"
                  "    }\n"
                  "}",
                  run("{\"execute\": \"qom-list\", \"arguments\": {\"path\": \"/x\"}, \"id\": \"e\"}"));
    PASS();
}

/* ============================================================================================
   JSON reader
   ============================================================================================ */

#define PARSE_ERR_PREFIX "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, "

static int is_parse_error(const char *r)
{
    size_t n = strlen(r);
    return strncmp(r, PARSE_ERR_PREFIX, sizeof PARSE_ERR_PREFIX - 1) == 0 && n > 3 &&
           strcmp(r + n - 3, "\"}}") == 0;
}

TEST parse_truncated(void)
{
    static const char full[] = "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"" PATH
                               "\", \"property\": \"guest-stats\"}, \"id\": [1, 'x']}";
    size_t k;
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ(GEN("JSON parse error, premature EOI"), run("{\"execute\": \"qom-get\""));
    /* the input ends inside a string: QEMU's lexer, flushed, calls the token so far stray */
    ASSERT_STR_EQ(GEN("JSON parse error, stray '\\\"qom-g'"), run("{\"execute\": \"qom-g"));
    ASSERT_STR_EQ(GEN("JSON parse error, premature EOI"), run("{"));
    ASSERT_STR_EQ(GEN("JSON parse error, premature EOI"), run("["));
    save_state();
    for (k = 1; k < sizeof full - 1; k++) ASSERTm(full, is_parse_error(qmpn(full, k)));
    ASSERT_UNCHANGED();
    PASS();
}

TEST parse_bad_keywords(void)
{
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ(GEN("JSON parse error, invalid keyword 'tru'"), run("{\"execute\": tru}"));
    ASSERT_STR_EQ(GEN("JSON parse error, invalid keyword 'nul'"), run("{\"id\": nul, \"execute\": \"x\"}"));
    ASSERT(is_parse_error(run("{\"id\": True}")));
    ASSERT(is_parse_error(run("{\"id\": truex}")));
    ASSERT(is_parse_error(run("{\"id\": NaN}")));
    ASSERT(is_parse_error(run("{\"id\": Infinity}")));
    PASS();
}

TEST parse_bad_escapes(void)
{
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ(GEN("JSON parse error, invalid escape sequence in string"), run("{\"execute\": \"\\q\"}"));
    ASSERT_STR_EQ(GEN("JSON parse error, invalid escape sequence in string"), run("{\"execute\": \"\\x41\"}"));
    ASSERT(is_parse_error(run("{\"execute\": \"\\u12\"}")));
    ASSERT(is_parse_error(run("{\"execute\": \"\\u12G4\"}")));
    ASSERT(is_parse_error(run("{\"execute\": \"\\\"}")));
    PASS();
}

TEST parse_invalid_utf8(void)
{
    static const char *const bad[] = {
        "\xc3\x28", "\x80", "\xbf", "\xc0\xaf", "\xc1\xbf", "\xe0\x80\xaf", "\xed\xa0\x80",
        "\xed\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xf8\x88\x80\x80\x80", "\xfe", "\xff",
        "\xe2\x82", "\xf0\x9f\x98"};
    static char cmd[64];
    unsigned i;
    ASSERT_EQ(0, start_qemu());
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(cmd, sizeof cmd, "{\"id\": \"%s\", \"execute\": \"x\"}", bad[i]);
        ASSERTm(cmd, is_parse_error(run(cmd)));
    }
    ASSERT_STR_EQ(GEN("JSON parse error, invalid UTF-8 sequence in string"), run("{\"id\": \"\xc3\x28\"}"));
    PASS();
}

/* QEMU's parse_string(): an escape that is no Unicode character is quoted back. */
TEST parse_lone_surrogates(void)
{
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ(GEN("JSON parse error, \\\\uD800 is not a valid Unicode character"),
                  run("{\"id\": \"\\uD800\"}"));
    ASSERT_STR_EQ(GEN("JSON parse error, \\\\uDC00 is not a valid Unicode character"),
                  run("{\"id\": \"\\uDC00\"}"));
    ASSERT_STR_EQ(GEN("JSON parse error, \\\\ud83d is not a valid Unicode character"),
                  run("{\"id\": \"\\ud83d\\u0041\"}"));
    ASSERT(is_parse_error(run("{\"id\": \"\\uDC00\\uD800\"}")));
    ASSERT(is_parse_error(run("{\"id\": \"\\uD800x\"}")));
    PASS();
}

/* QEMU rejects noncharacters (U+FDD0..U+FDEF, U+xxFFFE/F), escaped or raw. */
TEST parse_noncharacters(void)
{
    ASSERT_EQ(0, start_qemu());
    ASSERT(is_parse_error(run("{\"id\": \"\\uFFFF\"}")));
    ASSERT(is_parse_error(run("{\"id\": \"\\uFDD0\"}")));
    ASSERT(is_parse_error(run("{\"id\": \"\xef\xbf\xbe\"}")));
    ASSERT(is_parse_error(run("{\"id\": \"\\uD87F\\uDFFE\"}")));
    PASS();
}

/* QEMU 7.2 accepts \u0000 (it keeps U+0000 as modified UTF-8) and writes it back escaped. */
TEST parse_u0000_accepted_as_qemu(void)
{
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ("{\"return\": {}, \"id\": \"a\\u0000b\"}",
                  run("{\"execute\": \"qmp_capabilities\", \"id\": \"a\\u0000b\"}"));
    ASSERT_STR_EQ("{\"error\": {\"class\": \"DeviceNotFound\", \"desc\": \"Device '" PATH "\\u0000' not found\"}}",
                  run("{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"" PATH
                      "\\u0000\", \"property\": \"type\"}}"));
    PASS();
}

TEST parse_numbers(void)
{
    static const char *const bad[] = {"01", "-01", "00", "1.", ".5", "-", "+1", "1e", "1e+", "0x10", "1.e3", "--1", "1a"};
    static char cmd[64];
    unsigned i;
    ASSERT_EQ(0, start_qemu());
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(cmd, sizeof cmd, "{\"execute\": \"qmp_capabilities\", \"id\": %s}", bad[i]);
        ASSERTm(cmd, is_parse_error(run(cmd)));
    }
    ASSERT_EQ(0, Q.negotiated);
    PASS();
}

TEST parse_structure_errors(void)
{
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ(GEN("JSON parse error, missing : in object pair"), run("{\"execute\" \"query-balloon\"}"));
    ASSERT(is_parse_error(run("{\"execute\": \"query-balloon\",}")));
    ASSERT(is_parse_error(run("{\"execute\": \"qmp_capabilities\", \"id\": [1,]}")));
    ASSERT(is_parse_error(run("{\"execute\": \"qmp_capabilities\", \"id\": [,1]}")));
    ASSERT(is_parse_error(run("{,\"execute\": \"query-balloon\"}")));
    ASSERT(is_parse_error(run("{execute: \"query-balloon\"}")));
    ASSERT(is_parse_error(run("{1: \"query-balloon\"}")));
    ASSERT(is_parse_error(run("{\"execute\": \"query-balloon\" \"id\": 1}")));
    ASSERT(is_parse_error(run("{\"execute\": \"query-balloon\"]")));
    ASSERT(is_parse_error(run("}")));
    ASSERT(is_parse_error(run("]")));
    ASSERT(is_parse_error(run(":")));
    ASSERT(is_parse_error(run(",")));
    ASSERT(is_parse_error(run("{\"id\": \"a\nb\"}"))); /* a raw control character in a string */
    ASSERT(is_parse_error(run("{\"id\": \"a\tb\"}")));
    ASSERT(is_parse_error(run("{\"id\": 1} x")));
    PASS();
}

static size_t nested(char *buf, size_t cap, unsigned depth)
{
    size_t n = (size_t)snprintf(buf, cap, "{\"execute\": \"qmp_capabilities\", \"id\": ");
    unsigned i;
    for (i = 0; i < depth; i++) buf[n++] = '[';
    for (i = 0; i < depth; i++) buf[n++] = ']';
    buf[n++] = '}';
    buf[n] = 0;
    return n;
}

/* QEMU's limit: 1024 open brackets (the command object counts) are accepted, 1025 are not; the
   rest of the input is then read on as new messages, as QEMU's streamer does. */
TEST parse_nesting_depth(void)
{
    static char cmd[4096], want[4096];
    size_t n, used;
    unsigned i;
    ASSERT_EQ(0, start_qemu());
    nested(cmd, sizeof cmd, 1023);
    n = (size_t)snprintf(want, sizeof want, "{\"return\": {}, \"id\": ");
    for (i = 0; i < 1023; i++) want[n++] = '[';
    for (i = 0; i < 1023; i++) want[n++] = ']';
    want[n++] = '}';
    want[n] = 0;
    ASSERT_STR_EQ(want, run(cmd));
    ASSERT_EQ(1, Q.negotiated);
    ASSERT_EQ(0, start_qemu());
    n = nested(cmd, sizeof cmd, 1024);
    used = frame(cmd, n);
    ASSERT_EQ(strlen("{\"execute\": \"qmp_capabilities\", \"id\": ") + 1024, used);
    ASSERT_STR_EQ(GEN("JSON nesting depth limit exceeded"), qmpn(cmd, used));
    ASSERT_EQ(0, Q.negotiated);
    ASSERT_EQ(1u, frame(cmd + used, n - used)); /* then each ']' on its own */
    ASSERT_STR_EQ(GEN("JSON parse error, expecting value"), qmpn(cmd + used, 1));
    PASS();
}

TEST parse_trailing_characters(void)
{
    ASSERT_EQ(0, start(VB_PROFILE_QEMU, 10, 0));
    save_state();
    ASSERT(is_parse_error(run("{\"execute\": \"qmp_capabilities\"} x")));
    ASSERT(is_parse_error(run("{\"execute\": \"qmp_capabilities\"}{\"execute\": \"qmp_capabilities\"}")));
    ASSERT(is_parse_error(run("{\"execute\": \"qmp_capabilities\"}}")));
    ASSERT(is_parse_error(run("{\"execute\": \"qmp_capabilities\"},")));
    ASSERT_UNCHANGED();
    /* trailing whitespace is fine */
    ASSERT_STR_EQ(OK_EMPTY, run("{\"execute\": \"qmp_capabilities\"} \r\n\t"));
    PASS();
}

TEST parse_nul_bytes(void)
{
    static const char cmd1[] = "{\"execute\": \"qmp_capabilities\"}\0";
    static const char cmd2[] = "{\"execute\": \"qmp_capa\0bilities\"}";
    static const char cmd3[] = "\0{\"execute\": \"qmp_capabilities\"}";
    ASSERT_EQ(0, start(VB_PROFILE_QEMU, 10, 0));
    save_state();
    ASSERT(is_parse_error(qmpn(cmd1, sizeof cmd1 - 1)));
    ASSERT(is_parse_error(qmpn(cmd2, sizeof cmd2 - 1)));
    ASSERT(is_parse_error(qmpn(cmd3, sizeof cmd3 - 1)));
    ASSERT(is_parse_error(qmpn(" \0", 2)));
    ASSERT_UNCHANGED();
    PASS();
}

TEST whitespace_only_gives_no_reply(void)
{
    static const char *const ws[] = {"", " ", "\n", "\r\n", " \t \r\n  "};
    unsigned i;
    ASSERT_EQ(0, start_qemu());
    save_state();
    for (i = 0; i < sizeof ws / sizeof ws[0]; i++) {
        memset(reply, 'X', 8);
        ASSERT_EQ(0u, exec_n(&Q, ws[i], strlen(ws[i]), reply, sizeof reply));
        ASSERT_EQ(0, reply[0]);
        ASSERT_EQ(0u, exec_n(&Q, ws[i], strlen(ws[i]), NULL, 0));
    }
    ASSERT_UNCHANGED();
    PASS();
}

/* ============================================================================================
   Transactional execution and the snprintf contract
   ============================================================================================ */

TEST short_buffer_does_not_execute_qom_set(void)
{
    static const char cmd[] = QOM_SET(PATH, IVL, "2");
    char small[32];
    size_t need;
    ASSERT_EQ(0, start_qemu());
    save_state();
    need = exec_n(&Q, cmd, sizeof cmd - 1, NULL, 0);
    ASSERT_EQ(strlen(OK_EMPTY), need);
    ASSERT_UNCHANGED();
    ASSERT_EQ(need, exec_n(&Q, cmd, sizeof cmd - 1, small, 5));
    ASSERT_STR_EQ("{\"re", small);
    ASSERT_UNCHANGED();
    ASSERT_EQ(need, exec_n(&Q, cmd, sizeof cmd - 1, small, need)); /* no room for the NUL */
    ASSERT_UNCHANGED();
    ASSERT_EQ(0u, vb_poll_interval_ms(&T.dev));
    ASSERT_EQ(need, exec_n(&Q, cmd, sizeof cmd - 1, small, need + 1u));
    ASSERT_STR_EQ(OK_EMPTY, small);
    ASSERT_EQ(2000u, vb_poll_interval_ms(&T.dev));
    PASS();
}

TEST short_buffer_does_not_execute_balloon(void)
{
    static const char cmd[] = "{\"execute\": \"balloon\", \"arguments\": {\"value\": 402653184}, \"id\": \"long-id\"}";
    char buf[64];
    size_t need;
    ASSERT_EQ(0, start_qemu());
    save_state();
    need = exec_n(&Q, cmd, sizeof cmd - 1, buf, 10);
    ASSERT_EQ(strlen("{\"return\": {}, \"id\": \"long-id\"}"), need);
    ASSERT_UNCHANGED();
    ASSERT_EQ(0u, vb_target_pages(&T.dev));
    ASSERT_EQ(0u, T.config_irqs);
    ASSERT_EQ(need, exec_n(&Q, cmd, sizeof cmd - 1, buf, sizeof buf));
    ASSERT_EQ(32768u, vb_target_pages(&T.dev));
    ASSERT_EQ(1u, T.config_irqs);
    PASS();
}

TEST short_buffer_does_not_execute_capabilities(void)
{
    char buf[16];
    ASSERT_EQ(0, start(VB_PROFILE_QEMU, 10, 0));
    ASSERT_EQ(14u, exec_n(&Q, CAPS, strlen(CAPS), NULL, 0));
    ASSERT_EQ(0, Q.negotiated);
    ASSERT_EQ(14u, exec_n(&Q, CAPS, strlen(CAPS), buf, 14));
    ASSERT_EQ(0, Q.negotiated);
    ASSERT_EQ(14u, exec_n(&Q, CAPS, strlen(CAPS), buf, 15));
    ASSERT_EQ(1, Q.negotiated);
    ASSERT_STR_EQ(OK_EMPTY, buf);
    PASS();
}

/* Pretty replies are longer: the decision uses the pretty length. */
TEST short_buffer_pretty(void)
{
    static const char cmd[] = QOM_SET(PATH, IVL, "9");
    static const char want[] = "{\n    \"return\": {\n    }\n}";
    char buf[64];
    ASSERT_EQ(0, start(VB_PROFILE_QEMU, 10, VB_QMP_NO_NEGOTIATION | VB_QMP_PRETTY));
    ASSERT_EQ(sizeof want - 1, exec_n(&Q, cmd, sizeof cmd - 1, buf, sizeof want - 1));
    ASSERT_EQ(0u, vb_poll_interval_ms(&T.dev));
    ASSERT_EQ(sizeof want - 1, exec_n(&Q, cmd, sizeof cmd - 1, buf, sizeof want));
    ASSERT_STR_EQ(want, buf);
    ASSERT_EQ(9000u, vb_poll_interval_ms(&T.dev));
    PASS();
}

TEST snprintf_contract(void)
{
    static const char cmd[] = QOM_GET(PATH, "guest-stats");
    char full[1024], part[1024];
    size_t n, cap;
    ASSERT_EQ(0, start_qemu());
    send_linux61_primer();
    n = exec_n(&Q, cmd, sizeof cmd - 1, full, sizeof full);
    ASSERT(n > 100 && n < sizeof full);
    ASSERT_EQ(n, strlen(full));
    ASSERT_EQ(n, exec_n(&Q, cmd, sizeof cmd - 1, NULL, 0));
    ASSERT_EQ(n, exec_n(&Q, cmd, sizeof cmd - 1, NULL, 100)); /* no buffer: nothing written */
    for (cap = 1; cap <= n + 1; cap++) {
        memset(part, 'Z', sizeof part);
        ASSERT_EQ(n, exec_n(&Q, cmd, sizeof cmd - 1, part, cap));
        ASSERT_EQ(0, memcmp(part, full, cap - 1));
        ASSERT_EQ(0, part[cap - 1]);
        ASSERT_EQ('Z', part[cap]);
    }
    PASS();
}

TEST long_id_needs_a_bigger_buffer(void)
{
    char cmd[3000], small[1024];
    static char big[4096];
    size_t n, i, len;
    ASSERT_EQ(0, start_qemu());
    len = (size_t)snprintf(cmd, sizeof cmd, "{\"execute\": \"balloon\", \"arguments\": {\"value\": 402653184}, \"id\": \"");
    for (i = 0; i < 2000; i++) cmd[len++] = (char)('a' + (char)(i % 26u));
    memcpy(cmd + len, "\"}", 3);
    len += 2;
    n = exec_n(&Q, cmd, len, small, sizeof small);
    ASSERT(n >= sizeof small);
    ASSERT_EQ(0u, vb_target_pages(&T.dev));
    ASSERT_EQ(n, exec_n(&Q, cmd, len, big, sizeof big));
    ASSERT_EQ(n, strlen(big));
    ASSERT_EQ(32768u, vb_target_pages(&T.dev));
    PASS();
}

/* ============================================================================================
   Stream framing
   ============================================================================================ */

TEST frame_complete_object(void)
{
    static const char cmd[] = "{\"execute\": \"query-balloon\"}";
    ASSERT_EQ(sizeof cmd - 1, frame(cmd, sizeof cmd - 1));
    ASSERT_EQ(2u, frame("{}", 2));
    ASSERT_EQ(2u, frame("[]", 2));
    ASSERT_EQ(sizeof cmd - 1, frame(cmd, sizeof cmd)); /* the NUL after it is not part of it */
    PASS();
}

TEST frame_split_at_every_position(void)
{
    static const char *const cmds[] = {
        "{\"execute\": \"qom-set\", \"arguments\": {\"path\": \"" PATH "\", \"property\": \"" IVL "\", \"value\": 2}}",
        "{\"id\": \"}{][\\\"\\\\\", \"execute\": \"x\"}",
        "{'id': '}\"{', \"execute\": 'x', 'a': [[{}], \"']'\"]}",
        "[{\"a\": \"\\\\\"}, \"\\\"}\"]",
        "\"a string}\"",
    };
    unsigned i;
    size_t k, len;
    for (i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        len = strlen(cmds[i]);
        for (k = 0; k < len; k++) ASSERT_EQm(cmds[i], 0u, frame(cmds[i], k));
        ASSERT_EQm(cmds[i], len, frame(cmds[i], len));
    }
    PASS();
}

TEST frame_back_to_back(void)
{
    static const char stream[] = "{\"execute\": \"qmp_capabilities\"}{\"execute\": \"query-balloon\", \"id\": \"}\"}\n"
                                 "  {'execute': 'qom-list', 'arguments': {'path': '" PATH "'}}\r\n";
    static const char *const want[] = {
        OK_EMPTY, "{\"return\": {\"actual\": 536870912}, \"id\": \"}\"}", QOM_LIST_REPLY};
    size_t pos = 0, n;
    unsigned i = 0;
    ASSERT_EQ(0, start(VB_PROFILE_QEMU, 10, 0));
    while ((n = frame(stream + pos, sizeof stream - 1 - pos)) != 0) {
        ASSERT(i < 3);
        ASSERT_STR_EQ(want[i], qmpn(stream + pos, n));
        pos += n;
        i++;
    }
    ASSERT_EQ(3u, i);
    ASSERT_EQ(sizeof stream - 3, pos); /* "\r\n" is left: no value yet */
    PASS();
}

TEST frame_leading_whitespace_counted(void)
{
    ASSERT_EQ(5u, frame("  \n{}{}", 7));
    ASSERT_EQ(0u, frame(" \t\r\n", 4));
    ASSERT_EQ(0u, frame("   {", 4));
    PASS();
}

TEST frame_stray_closers_and_scalars(void)
{
    ASSERT_EQ(1u, frame("}{}", 3));
    ASSERT_EQ(3u, frame("  ]", 3));
    ASSERT_EQ(3u, frame("123 {}", 6));
    ASSERT_EQ(4u, frame("true\n", 5));
    ASSERT_EQ(3u, frame("abc{}", 5));
    ASSERT_EQ(4u, frame(" xyz]", 5));
    ASSERT_EQ(0u, frame("123", 3)); /* may continue */
    ASSERT_EQ(0u, frame("", 0));
    /* each framed piece gets an error reply, so the stream moves on */
    ASSERT_EQ(0, start_qemu());
    ASSERT(is_parse_error(qmpn("}", 1)));
    ASSERT_STR_EQ(GEN("QMP input must be a JSON object"), qmpn("123 ", 4));
    PASS();
}

/* ============================================================================================
   Greeting
   ============================================================================================ */

TEST greeting_default(void)
{
    char buf[256];
    size_t n;
    ASSERT_EQ(0, start_qemu());
    n = vb_qmp_greeting(&Q, buf, sizeof buf);
    ASSERT_STR_EQ("{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, "
                  "\"package\": \"vballoon.h 0.2.0\"}, \"capabilities\": [\"oob\"]}}",
                  buf);
    ASSERT_EQ(strlen(buf), n);
    ASSERT_EQ(n, vb_qmp_greeting(&Q, NULL, 0));
    memset(buf, 'Z', sizeof buf);
    ASSERT_EQ(n, vb_qmp_greeting(&Q, buf, 8));
    ASSERT_STR_EQ("{\"QMP\":", buf);
    ASSERT_EQ('Z', buf[8]);
    PASS();
}

TEST greeting_custom(void)
{
    char buf[256];
    ASSERT_EQ(0, start_qemu());
    Q.qemu_version[0] = 7;
    Q.qemu_version[1] = 2;
    Q.qemu_version[2] = 22;
    Q.package = "Debian 1:7.2+dfsg-7+deb12u18+b3";
    vb_qmp_greeting(&Q, buf, sizeof buf);
    ASSERT_STR_EQ("{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, "
                  "\"package\": \"Debian 1:7.2+dfsg-7+deb12u18+b3\"}, \"capabilities\": [\"oob\"]}}",
                  buf);
    Q.qemu_version[0] = 10;
    Q.qemu_version[1] = 0;
    Q.qemu_version[2] = 3;
    Q.package = "a\"b\\c\xc3\xa9\n";
    vb_qmp_greeting(&Q, buf, sizeof buf);
    ASSERT_STR_EQ("{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 3, \"minor\": 0, \"major\": 10}, "
                  "\"package\": \"a\\\"b\\\\c\\u00E9\\n\"}, \"capabilities\": [\"oob\"]}}",
                  buf);
    Q.package = NULL;
    vb_qmp_greeting(&Q, buf, sizeof buf);
    ASSERT_STR_EQ("{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 3, \"minor\": 0, \"major\": 10}, "
                  "\"package\": \"\"}, \"capabilities\": [\"oob\"]}}",
                  buf);
    PASS();
}

/* ============================================================================================
   The real QEMU 7.2 exchanges of docs/qemu-observed.md, in order
   ============================================================================================ */

TEST observed_qemu72_session(void)
{
    vb_config c = config(VB_PROFILE_QEMU, 10);
    ASSERT_EQ(0, tg_create(&T, &c));
    vb_qmp_init(&Q, &T.dev, 0);
    ASSERT_STR_EQ(OK_EMPTY, run(CAPS));
    /* paused VM, no driver */
    ASSERT_STR_EQ("{\"return\": {\"stats\": {\"stat-htlb-pgalloc\": 18446744073709551615, "
                  "\"stat-swap-out\": 18446744073709551615, \"stat-available-memory\": 18446744073709551615, "
                  "\"stat-htlb-pgfail\": 18446744073709551615, \"stat-free-memory\": 18446744073709551615, "
                  "\"stat-minor-faults\": 18446744073709551615, \"stat-major-faults\": 18446744073709551615, "
                  "\"stat-total-memory\": 18446744073709551615, \"stat-swap-in\": 18446744073709551615, "
                  "\"stat-disk-caches\": 18446744073709551615}, \"last-update\": 0}}",
                  run(QOM_GET(PATH, "guest-stats")));
    /* the driver loads and primes the queue; polling was never enabled */
    ASSERT_EQ(0, tg_probe(&T, TG_F(VB_F_STATS_VQ) | TG_F(VB_F_RING_EVENT_IDX) | TG_F(VB_F_VERSION_1)));
    tg_driver_ok(&T);
    send_linux61_primer();
    ASSERT_STR_EQ("{\"return\": {\"stats\": {\"stat-htlb-pgalloc\": 0, \"stat-swap-out\": 0, "
                  "\"stat-available-memory\": 449081344, \"stat-htlb-pgfail\": 0, "
                  "\"stat-free-memory\": 449478656, \"stat-minor-faults\": 721, "
                  "\"stat-major-faults\": 0, \"stat-total-memory\": 479657984, \"stat-swap-in\": 0, "
                  "\"stat-disk-caches\": 2301952}, \"last-update\": 1795697933}}",
                  run(QOM_GET(PATH, "guest-stats")));
    ASSERT_STR_EQ(GEN("timer value must be greater than zero"), run(QOM_SET(PATH, IVL, "-1")));
    ASSERT_STR_EQ(GEN("timer value is too big"), run(QOM_SET(PATH, IVL, "4294967296")));
    ASSERT_STR_EQ(BAD_INT, run(QOM_SET(PATH, IVL, "1.5")));
    ASSERT_STR_EQ(GEN("Property 'virtio-balloon-pci.stats-polling-interval' not found"),
                  run(QOM_SET(PATH, "stats-polling-interval", "2")));
    ASSERT_STR_EQ(GEN("Property 'virtio-balloon-pci.stats-polling-interval' not found"),
                  run(QOM_GET(PATH, "stats-polling-interval")));
    ASSERT_STR_EQ(ERR("DeviceNotFound", "Device '/machine/peripheral/balloon9' not found"),
                  run(QOM_GET("/machine/peripheral/balloon9", "guest-stats")));
    ASSERT_STR_EQ(GEN("Property 'virtio-balloon-device.guest-stats' is not writable"),
                  run(QOM_SET(PATH, "guest-stats", "{}")));
    ASSERT_STR_EQ(GEN("Parameter 'target' expects a size"), run(BALLOON("0")));
    ASSERT_EQ(0u, vb_poll_interval_ms(&T.dev)); /* all those failed */
    ASSERT_STR_EQ(OK_EMPTY, run(QOM_SET(PATH, IVL, "4294967295")));
    ASSERT_STR_EQ("{\"return\": 4294967295}", run(QOM_GET(PATH, IVL)));
    ASSERT_STR_EQ(OK_EMPTY, run(QOM_SET(PATH, IVL, "2")));
    ASSERT_STR_EQ("{\"return\": 2}", run(QOM_GET(PATH, IVL)));
    ASSERT_STR_EQ("{\"return\": {\"actual\": 536870912}}", run(QUERY));
    ASSERT_STR_EQ(OK_EMPTY, run(BALLOON("402653184")));
    write_actual(vb_target_pages(&T.dev)); /* the guest inflates */
    ASSERT_STR_EQ("{\"return\": {\"actual\": 402653184}}", run(QUERY));
    PASS();
}

/* ============================================================================================
   Mutation sweep
   ============================================================================================ */

static tg TV;
static vb_qmp QV; /* a second session that re-reads every reply */
static char reread[sizeof reply + 256];
static char fuzz_why[256];
static unsigned fuzz_runs, fuzz_successes;

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* QEMU prints a double out of range as inf or -inf: the reply is then no JSON (as QEMU's). */
static int has_inf(const char *r)
{
    const char *p;
    for (p = strstr(r, "inf"); p; p = strstr(p + 1, "inf"))
        if (p > r && strchr(" [:-\n", p[-1]) && p[3] && strchr(",]}\n", p[3])) return 1;
    return 0;
}

/* Run one input; 0 if every invariant holds, else -1 with fuzz_why set. */
static int fuzz_one(const char *in, size_t len)
{
    size_t n, i;
    int ws = 1, success;
    for (i = 0; i < len; i++)
        if (!is_ws(in[i])) ws = 0;
    save_state();
    fuzz_runs++;
    n = exec_n(&Q, in, len, reply, sizeof reply);
    if (n >= sizeof reply) return snprintf(fuzz_why, sizeof fuzz_why, "reply of %zu bytes", n), -1;
    if (strlen(reply) != n) return snprintf(fuzz_why, sizeof fuzz_why, "NUL inside the reply"), -1;
    if (ws) {
        if (n) return snprintf(fuzz_why, sizeof fuzz_why, "whitespace got a reply"), -1;
        if (!state_unchanged()) return snprintf(fuzz_why, sizeof fuzz_why, "whitespace changed state"), -1;
        return 0;
    }
    if (n < 2 || reply[0] != '{' || reply[n - 1] != '}')
        return snprintf(fuzz_why, sizeof fuzz_why, "not an object: %.80s", reply), -1;
    if (frame(reply, n) != n) return snprintf(fuzz_why, sizeof fuzz_why, "reply does not frame: %.80s", reply), -1;
    exec_n(&QV, reply, n, reread, sizeof reread);
    if (strncmp(reread, PARSE_ERR_PREFIX, sizeof PARSE_ERR_PREFIX - 1) == 0 && !has_inf(reply))
        return snprintf(fuzz_why, sizeof fuzz_why, "reply is not valid JSON: %.80s", reply), -1;
    success = strncmp(reply, "{\"return\": ", 11) == 0 || strncmp(reply, "{\n    \"return\": ", 16) == 0;
    if (success) {
        fuzz_successes++;
    } else if (!state_unchanged()) {
        return snprintf(fuzz_why, sizeof fuzz_why, "a failed command changed state: %.80s", reply), -1;
    }
    return 0;
}

static const char *const corpus[] = {
    "{\"execute\": \"qom-set\", \"arguments\": {\"path\": \"" PATH "\", \"property\": \"" IVL "\", \"value\": 2}, \"id\": 1}",
    "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"" PATH "\", \"property\": \"guest-stats\"}}",
    "{\"execute\": \"balloon\", \"arguments\": {\"value\": 402653184}, \"id\": \"x\"}",
    "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"oob\"]}}",
    "{'execute': 'qom-list', 'arguments': {'path': '" SEED_PATH "'}, 'id': [1, {\"a\": null}, -2.5e3]}",
    "{\"execute\": \"query-balloon\", \"id\": \"\\u00e9\\ud83d\\ude00\\/\xc3\xa9\"}",
    "{\"execute\": \"qom-set\", \"arguments\": {\"path\": \"" PATH "\", \"property\": \"stats-polling-interval\", \"value\": 0}}",
    " {\"execute\":\"qom-get\",\"arguments\":{\"path\":\"" PATH "\",\"property\":\"" IVL "\"},\"id\":{\"k\":[true,false]}} ",
};

static int fuzz_setup(unsigned variant)
{
    static const unsigned flags[4] = {VB_QMP_NO_NEGOTIATION, 0, VB_QMP_NO_NEGOTIATION | VB_QMP_PRETTY, VB_QMP_PRETTY};
    if (start(variant & 4u ? VB_PROFILE_DOC : VB_PROFILE_QEMU, variant & 4u ? 16 : 10, flags[variant & 3u])) return -1;
    if (variant & 8u) send_linux61_primer();
    if (tg_create(&TV, NULL)) return -1;
    vb_qmp_init(&QV, &TV.dev, VB_QMP_NO_NEGOTIATION);
    return 0;
}

TEST fuzz_every_prefix(void)
{
    static char msg[512];
    unsigned c, variant;
    size_t k, len;
    for (variant = 0; variant < 16; variant++) {
        ASSERT_EQ(0, fuzz_setup(variant));
        for (c = 0; c < sizeof corpus / sizeof corpus[0]; c++) {
            len = strlen(corpus[c]);
            for (k = 0; k <= len; k++) {
                if (fuzz_one(corpus[c], k)) {
                    snprintf(msg, sizeof msg, "corpus %u prefix %zu variant %u: %s", c, k, variant, fuzz_why);
                    FAILm(msg);
                }
            }
        }
    }
    PASS();
}

TEST fuzz_every_substitution(void)
{
    static const unsigned char bytes[] = {0,   ' ', '\t', '"', '\'', '\\', '/', '{', '}', '[', ']',
                                          ',', ':', '0',  '9', '-',  '.',  'e', 'E', 'u', 't', 'n',
                                          'x', 1,   0x1f, 0x7f, 0x80, 0xbf, 0xc3, 0xed, 0xf4, 0xff};
    static char buf[512];
    static char msg[512];
    unsigned c, b, variant;
    size_t i, len;
    for (variant = 0; variant < 16; variant += 5) {
        ASSERT_EQ(0, fuzz_setup(variant));
        for (c = 0; c < sizeof corpus / sizeof corpus[0]; c++) {
            len = strlen(corpus[c]);
            for (i = 0; i < len; i++) {
                for (b = 0; b < sizeof bytes; b++) {
                    memcpy(buf, corpus[c], len);
                    buf[i] = (char)bytes[b];
                    if (fuzz_one(buf, len)) {
                        snprintf(msg, sizeof msg, "corpus %u byte %zu := 0x%02x variant %u: %s", c, i, bytes[b],
                                 variant, fuzz_why);
                        FAILm(msg);
                    }
                }
                /* and the byte deleted */
                memcpy(buf, corpus[c], i);
                memcpy(buf + i, corpus[c] + i + 1, len - i - 1);
                if (fuzz_one(buf, len - 1)) {
                    snprintf(msg, sizeof msg, "corpus %u byte %zu deleted variant %u: %s", c, i, variant, fuzz_why);
                    FAILm(msg);
                }
            }
        }
    }
    ASSERT(fuzz_successes > 0);
    PASS();
}

static uint32_t rng_state;
static uint32_t rng(void)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return rng_state >> 8;
}

TEST fuzz_random_mutations(void)
{
    static const char alphabet[] = "{}[]\"':,\\ 0123456789-+.eEtrufalsn\n\t";
    static char buf[600];
    static char msg[512];
    unsigned iter, m, muts;
    size_t len, pos;
    rng_state = 20240601u;
    ASSERT_EQ(0, fuzz_setup(8));
    for (iter = 0; iter < 30000; iter++) {
        const char *src = corpus[rng() % (sizeof corpus / sizeof corpus[0])];
        len = strlen(src);
        memcpy(buf, src, len);
        muts = 1u + rng() % 4u;
        for (m = 0; m < muts && len > 0; m++) {
            pos = rng() % len;
            switch (rng() % 4u) {
            case 0: buf[pos] = (char)(rng() & 0xffu); break;
            case 1: buf[pos] = alphabet[rng() % (sizeof alphabet - 1)]; break;
            case 2: /* delete */
                memmove(buf + pos, buf + pos + 1, len - pos - 1);
                len--;
                break;
            default: /* duplicate a run */
                if (len < sizeof buf - 16) {
                    size_t run = 1u + rng() % 8u;
                    if (run > len - pos) run = len - pos;
                    memmove(buf + pos + run, buf + pos, len - pos);
                    len += run;
                }
                break;
            }
        }
        if (fuzz_one(buf, len)) {
            snprintf(msg, sizeof msg, "iteration %u: %s", iter, fuzz_why);
            FAILm(msg);
        }
        if (iter % 1000u == 999u && fuzz_setup(8u + (iter / 1000u) % 8u)) FAILm("setup");
    }
    PASS();
}

/* qmp_capabilities: QAPI's visitor checks each element of "enable" before it looks for an
   unexpected argument (QEMU 7.2's replies, found by the differential run). */
TEST caps_enable_elements_before_unexpected(void)
{
    ASSERT_EQ(0, start(VB_PROFILE_QEMU, 10, 0));
    ASSERT_STR_EQ(GEN("Parameter 'null' does not accept value 'x'"),
                  run("{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"x\"], \"y\": 1}}"));
    ASSERT_STR_EQ(GEN("Invalid parameter type for 'enable[0]', expected: string"),
                  run("{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [1], \"y\": 1}}"));
    ASSERT_STR_EQ(GEN("Parameter 'y' is unexpected"),
                  run("{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"oob\"], \"y\": 1}}"));
    ASSERT_EQ(0, Q.negotiated);
    PASS();
}

/* A stream through vb_qmp_frame and vb_qmp_execute, fed `chunk` bytes at a time (0: all at
   once), as the examples read a socket: the replies, one per line, in `out`. */
static const char *stream(const char *in, size_t len, size_t chunk)
{
    static char buf[4096], out[8192];
    size_t have = 0, fed = 0, used, skip, o = 0;
    out[0] = 0;
    while (fed < len || have) {
        size_t n = chunk && len - fed > chunk ? chunk : len - fed;
        memcpy(buf + have, in + fed, n);
        have += n;
        fed += n;
        while ((used = vb_qmp_frame(&Q, buf, have, &skip)) > 0) {
            size_t r = vb_qmp_execute(&Q, buf + skip, used - skip, out + o, sizeof out - o - 1);
            if (r && skip == used) return "(a reply to skipped input)";
            if (r) {
                o += r;
                out[o++] = '\n';
                out[o] = 0;
            }
            memmove(buf, buf + used, have - used);
            have -= used;
        }
        if (fed == len) break;
    }
    return out;
}

#define NOPE "{\"execute\": \"nope\"}"
#define NOT_FOUND ERR("CommandNotFound", "The command nope has not been found") "\n"
#define STRAY(tok) GEN("JSON parse error, stray '" tok "'") "\n"

/* QEMU 7.2's replies to streams with lexical errors (recorded from a running QEMU): each error
   is answered at once, then the input up to the next structural or control character is skipped;
   the same replies whatever the reads' sizes. */
TEST stream_resynchronises_as_qemu(void)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"\"abc\n" NOPE "\n", STRAY("\\\"abc\\n") NOT_FOUND},
        {"1.5e\n", STRAY("1.5e\\n")},
        {"@@@" NOPE, STRAY("@") NOT_FOUND},
        {"abc\tdef\x7f" NOPE, GEN("JSON parse error, invalid keyword 'abc'") "\n"
                              GEN("JSON parse error, invalid keyword 'def'") "\n" STRAY("\\u007F") NOT_FOUND},
        {"{\"execute\": @}\n", STRAY("@") GEN("JSON parse error, expecting value") "\n"},
        {"\t\x0b" NOPE, STRAY("\\u000B") NOT_FOUND},
        {"\"ab\x01" "cd\"\n" NOPE, STRAY("\\\"ab\\u0001") NOT_FOUND},
        {"\"\xe9\x80\xff\" x" NOPE, STRAY("\\\"\\uFFFD\\uFFFD") NOT_FOUND},
        {"0e5 ", GEN("QMP input must be a JSON object") "\n" GEN("JSON parse error, invalid keyword 'e'") "\n"
                 GEN("QMP input must be a JSON object") "\n"},
        {NOPE "}}", NOT_FOUND GEN("JSON parse error, expecting value") "\n" GEN("JSON parse error, expecting value") "\n"},
        {"- 1\n", STRAY("- ")},
        {"%d " NOPE, STRAY("%") NOT_FOUND},
        {"@ab\tcd" NOPE, STRAY("@") NOT_FOUND}, /* a tab does not end the skipping */
        {"\"\\uD87F\\uDFFE\"", GEN("JSON parse error, \\\\uD87F\\\\uDFFE is not a valid Unicode character") "\n"},
        {"@x\"y\"}", STRAY("@") GEN("JSON parse error, expecting value") "\n"}, /* nor a quote */
        {"@x:y}", STRAY("@") GEN("JSON parse error, expecting value") "\n"
                  GEN("JSON parse error, invalid keyword 'y'") "\n" GEN("JSON parse error, expecting value") "\n"},
        {"@alloon\", \"id\": \"ok\"}", STRAY("@") GEN("JSON parse error, expecting value") "\n"
            GEN("QMP input must be a JSON object") "\n" GEN("JSON parse error, expecting value") "\n"
            GEN("QMP input must be a JSON object") "\n" GEN("JSON parse error, expecting value") "\n"},
        {"@ab\xfe" "cd" NOPE, STRAY("@") STRAY("\\uFFFD") NOT_FOUND},
        {"@ab\x7f" "cd]" NOPE, STRAY("@") GEN("JSON parse error, expecting value") "\n" NOT_FOUND},
    };
    unsigned i;
    size_t chunk;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (chunk = 0; chunk < 4; chunk++) {
            ASSERT_EQ(0, start_qemu());
            ASSERT_STR_EQm(cases[i].in, cases[i].want, stream(cases[i].in, strlen(cases[i].in), chunk));
        }
    /* a NUL: QEMU quotes the token as a C string, up to the NUL */
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ(STRAY("") NOT_FOUND, stream("\0" NOPE, 1 + strlen(NOPE), 0));
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ(STRAY("\\\"ab") NOT_FOUND, stream("\"ab\0cd\"\n" NOPE, 8 + strlen(NOPE), 1));
    PASS();
}

/* The framer is fed arbitrary bytes, never reads past them and never claims more than it got. */
TEST fuzz_frame(void)
{
    static char buf[256];
    unsigned iter;
    size_t len, i, n;
    rng_state = 77u;
    for (iter = 0; iter < 20000; iter++) {
        len = rng() % sizeof buf;
        for (i = 0; i < len; i++) buf[i] = "{}[]\"'\\ a1\n@\x01"[rng() % 13u];
        n = frame(buf, len);
        ASSERT(n <= len);
        /* a message does not depend on what follows it, beyond the one byte that ends it */
        if (n) ASSERT_EQ(n, frame(buf, n < len ? n + 1 : n));
    }
    PASS();
}

/* ============================================================================================
   Host commands: vb_qmp_parse, the argument helpers, vb_qmp_reply
   ============================================================================================ */

/* An exact-size heap copy that outlives the call (a vb_qmp_command points into it). */
static char *dup_n(const char *s, size_t n)
{
    char *copy = (char *)malloc(n ? n : 1u);
    if (copy && n) memcpy(copy, s, n);
    return copy;
}

static int span_is(const vb_qmp_command *c, vb_qmp_span sp, const char *text)
{
    return sp.end - sp.at == strlen(text) && memcmp(c->in + sp.at, text, sp.end - sp.at) == 0;
}

TEST host_parse_fills_the_spans(void)
{
    static const char cmd[] = " {\"id\": [1, {\"a\": 2}], \"execute\": \"x-adv\\u0061nce\", "
                              "\"arguments\": {\"ms\": 5}} ";
    char *in = dup_n(cmd, sizeof cmd - 1);
    vb_qmp_command c;
    ASSERT(in);
    ASSERT_EQ(1, vb_qmp_parse(in, sizeof cmd - 1, &c));
    ASSERT_EQ(in, c.in);
    ASSERT(span_is(&c, c.name, "\"x-adv\\u0061nce\""));
    ASSERT(span_is(&c, c.args, "{\"ms\": 5}"));
    ASSERT(span_is(&c, c.id, "[1, {\"a\": 2}]"));
    ASSERT_EQ(1, vb_qmp_command_is(&c, "x-advance")); /* escapes decoded */
    ASSERT_EQ(0, vb_qmp_command_is(&c, "x-advanc"));
    ASSERT_EQ(0, vb_qmp_command_is(&c, "x-advancee"));
    free(in);
    /* QEMU's single quotes; no arguments and no id */
    in = dup_n("{'execute': 'quit'}", 19);
    ASSERT_EQ(1, vb_qmp_parse(in, 19, &c));
    ASSERT_EQ(1, vb_qmp_command_is(&c, "quit"));
    ASSERT_EQ(0u, c.args.end);
    ASSERT_EQ(0u, c.id.end);
    free(in);
    PASS();
}

/* Whatever vb_qmp_execute answers with an envelope error is no command for the host. */
TEST host_parse_refuses_what_execute_answers(void)
{
    static const struct {
        const char *in;
        size_t len;
        const char *reply;
    } cases[] = {
        {"", 0, ""},
        {" \n", 0, ""},
        {"{\"execute\": \"quit\"", 0, GEN("JSON parse error, premature EOI")},
        {"{\"execute\": \"quit\"} x", 0, GEN("JSON parse error, trailing characters after the value")},
        {"{\"execute\": \"quit\"}\0", 20, GEN("JSON parse error, trailing characters after the value")},
        {"\0{\"execute\": \"quit\"}", 20, GEN("JSON parse error, stray ''")},
        {"[]", 0, GEN("QMP input must be a JSON object")},
        {"{\"execute\": 5}", 0, GEN("QMP input member 'execute' must be a string")},
        {"{\"execute\": \"quit\", \"arguments\": []}", 0, GEN("QMP input member 'arguments' must be an object")},
        {"{\"execute\": \"quit\", \"foo\": 1}", 0, GEN("QMP input member 'foo' is unexpected")},
        {"{\"arguments\": {}, \"id\": 1}", 0, ID_ERR("1", "GenericError", "QMP input lacks member 'execute'")},
    };
    unsigned i;
    ASSERT_EQ(0, start_qemu());
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].in); /* len: one with a NUL */
        char *in = dup_n(cases[i].in, len);
        vb_qmp_command c;
        ASSERT(in);
        ASSERT_EQ_FMTm(cases[i].in, 0, vb_qmp_parse(in, len, &c), "%d");
        free(in);
        ASSERT_STR_EQm(cases[i].in, cases[i].reply, qmpn(cases[i].in, len));
    }
    PASS();
}

TEST host_arg_int(void)
{
    static const char cmd[] = "{\"execute\": \"x\", \"arguments\": {\"a\": 9, \"b\": -7, \"c\": 1.5, "
                              "\"d\": \"s\", \"\\u0065\": 18446744073709551615, \"f\": -9223372036854775808}}";
    char *in = dup_n(cmd, sizeof cmd - 1);
    vb_qmp_command c;
    int64_t v = 42;
    ASSERT(in);
    ASSERT_EQ(0, start_qemu());
    ASSERT_EQ(1, vb_qmp_parse(in, sizeof cmd - 1, &c));
    ASSERT_EQ(0, vb_qmp_arg_int(&c, "z", &v));
    ASSERT_EQ(42, v); /* untouched */
    ASSERT_EQ(1, vb_qmp_arg_int(&c, "a", &v));
    ASSERT_EQ(9, v);
    ASSERT_EQ(1, vb_qmp_arg_int(&c, "b", &v));
    ASSERT_EQ(-7, v);
    ASSERT_EQ(1, vb_qmp_arg_int(&c, "f", &v));
    ASSERT(v == INT64_MIN);
    ASSERT_EQ(strlen(OK_EMPTY), vb_qmp_reply(&Q, &c, NULL, reply, sizeof reply));
    ASSERT_STR_EQ(OK_EMPTY, reply); /* nothing wrong yet */
    ASSERT_EQ(-1, vb_qmp_arg_int(&c, "e", &v)); /* beyond int64, its name escaped */
    ASSERT_EQ(-1, vb_qmp_arg_int(&c, "c", &v));
    ASSERT_EQ(-1, vb_qmp_arg_int(&c, "d", &v));
    ASSERT_EQ(0, vb_qmp_args_only(&c, NULL, 0));
    vb_qmp_reply(&Q, &c, "not this one", reply, sizeof reply);
    ASSERT_STR_EQ(GEN("Invalid parameter type for 'e', expected: integer"), reply); /* the first */
    free(in);
    PASS();
}

TEST host_args_only(void)
{
    static const char *const names[] = {"a", "b"};
    static const char cmd[] = "{\"execute\": \"x\", \"arguments\": {\"b\": \"s\", \"\\u0063\\\"\": 2, \"zz\": 3}}";
    char *in = dup_n(cmd, sizeof cmd - 1);
    vb_qmp_command c;
    ASSERT(in);
    ASSERT_EQ(0, start_qemu());
    ASSERT_EQ(1, vb_qmp_parse(in, sizeof cmd - 1, &c));
    ASSERT_EQ(0, vb_qmp_args_only(&c, names, 2));
    vb_qmp_reply(&Q, &c, NULL, reply, sizeof reply);
    ASSERT_STR_EQ(GEN("Parameter 'c\\\"' is unexpected"), reply); /* the first, decoded and re-escaped */
    ASSERT_EQ(-1, vb_qmp_arg_int(&c, "b", NULL)); /* the first error found stays */
    vb_qmp_reply(&Q, &c, NULL, reply, sizeof reply);
    ASSERT_STR_EQ(GEN("Parameter 'c\\\"' is unexpected"), reply);
    free(in);
    /* no arguments, or an empty object: nothing is unexpected */
    in = dup_n("{\"execute\": \"x\"}", 16);
    ASSERT_EQ(1, vb_qmp_parse(in, 16, &c));
    ASSERT_EQ(1, vb_qmp_args_only(&c, NULL, 0));
    free(in);
    in = dup_n("{\"execute\": \"x\", \"arguments\": {}}", 33);
    ASSERT_EQ(1, vb_qmp_parse(in, 33, &c));
    ASSERT_EQ(1, vb_qmp_args_only(&c, NULL, 0));
    ASSERT_EQ(strlen(OK_EMPTY), vb_qmp_reply(&Q, &c, NULL, reply, sizeof reply));
    free(in);
    PASS();
}

/* vb_qmp_reply echoes the "id" exactly as vb_qmp_execute: compared with qmp_capabilities,
   whose reply is the same {"return": {}}. */
TEST host_reply_id_as_execute(void)
{
    static const char *const ids[] = {"\"a1\"", "'x\\u00e9\xc3\xa9\\/'", "[1, {\"a\": [true, null]}, -0, 2.50]",
                                      "{}", "[]", "18446744073709551615", "{\"k\": {\"l\": []}}"};
    static char cmd[256], want[1024];
    unsigned i, pretty;
    for (pretty = 0; pretty < 2; pretty++) {
        for (i = 0; i < sizeof ids / sizeof ids[0]; i++) {
            size_t len = (size_t)snprintf(cmd, sizeof cmd, "{\"execute\": \"qmp_capabilities\", \"id\": %s}", ids[i]);
            char *in = dup_n(cmd, len);
            vb_qmp_command c;
            size_t n;
            ASSERT(in);
            ASSERT_EQ(0, start(VB_PROFILE_QEMU, 10, pretty ? VB_QMP_PRETTY : 0u));
            n = exec_n(&Q, cmd, len, want, sizeof want);
            ASSERT(n < sizeof want);
            ASSERT_EQ(1, vb_qmp_parse(in, len, &c));
            ASSERT_EQ(n, vb_qmp_reply(&Q, &c, NULL, reply, sizeof reply));
            ASSERT_STR_EQm(cmd, want, reply);
            free(in);
        }
    }
    PASS();
}

TEST host_reply_error_text(void)
{
    static const char cmd[] = "{\"execute\": \"x\", \"id\": \"a1\"}";
    static const char want[] = ID_ERR("\"a1\"", "GenericError", "bad \\\"x\\\" \\u00E9\\n");
    static const char want_pretty[] = "{\n    \"id\": \"a1\",\n    \"error\": {\n        \"class\": \"GenericError\","
                                      "\n        \"desc\": \"no\"\n    }\n}";
    char *in = dup_n(cmd, sizeof cmd - 1);
    char part[16];
    vb_qmp_command c;
    ASSERT(in);
    ASSERT_EQ(0, start_qemu());
    ASSERT_EQ(1, vb_qmp_parse(in, sizeof cmd - 1, &c));
    ASSERT_EQ(sizeof want - 1, vb_qmp_reply(&Q, &c, "bad \"x\" \xc3\xa9\n", reply, sizeof reply));
    ASSERT_STR_EQ(want, reply);
    /* NULL session: compact; snprintf-style */
    ASSERT_EQ(sizeof want - 1, vb_qmp_reply(NULL, &c, "bad \"x\" \xc3\xa9\n", NULL, 0));
    ASSERT_EQ(sizeof want - 1, vb_qmp_reply(NULL, &c, "bad \"x\" \xc3\xa9\n", part, sizeof part));
    ASSERT_STR_EQ("{\"id\": \"a1\", \"e", part);
    Q.flags |= VB_QMP_PRETTY;
    ASSERT_EQ(sizeof want_pretty - 1, vb_qmp_reply(&Q, &c, "no", reply, sizeof reply));
    ASSERT_STR_EQ(want_pretty, reply);
    free(in);
    PASS();
}

/* vb_qmp_execute_command answers and acts exactly as vb_qmp_execute on the same text, whatever
   the host's own argument checks found; a reply that does not fit runs nothing. */
TEST host_execute_command_as_execute(void)
{
    static const char *const cmds[] = {
        QOM_GET(PATH, "guest-stats"), QOM_GET(SEED_PATH, IVL), QOM_SET(PATH, IVL, "2"),
        QOM_SET(PATH, IVL, "-1"), QOM_GET("/machine/nowhere", IVL), QUERY, BALLOON("402653184"),
        "{\"execute\": \"balloon\", \"arguments\": {\"value\": 1, \"x\": 2}, \"id\": [1, \"\\u00e9\"]}",
        "{\"execute\": \"no-such\", \"id\": \"a\"}",
        "{'execute': 'qom-list', 'arguments': {'path': '" PATH "'}}",
        "{\"execute\": \"x-balloon-free-page-hint\", \"arguments\": {\"action\": \"start\"}}", CAPS,
    };
    static char want[16384];
    unsigned i, pretty;
    for (pretty = 0; pretty < 2; pretty++) {
        const unsigned flags = VB_QMP_NO_NEGOTIATION | (pretty ? VB_QMP_PRETTY : 0u);
        for (i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
            size_t len = strlen(cmds[i]), n;
            char *in = dup_n(cmds[i], len);
            vb_qmp_command c;
            ASSERT(in);
            ASSERT_EQ(0, start(VB_PROFILE_QEMU, 10, flags));
            send_linux61_primer();
            n = vb_qmp_execute(&Q, in, len, want, sizeof want);
            ASSERT(n < sizeof want);
            save_state();
            ASSERT_EQ(0, start(VB_PROFILE_QEMU, 10, flags));
            send_linux61_primer();
            ASSERT_EQ_FMTm(cmds[i], 1, vb_qmp_parse(in, len, &c), "%d");
            vb_qmp_args_only(&c, NULL, 0); /* a host's check that failed: not the library's */
            ASSERT_EQ_FMTm(cmds[i], n, vb_qmp_execute_command(&Q, &c, reply, sizeof reply), "%zu");
            ASSERT_STR_EQm(cmds[i], want, reply);
            ASSERTm(cmds[i], state_unchanged());
            free(in);
        }
    }
    {
        size_t len = strlen(BALLOON("402653184"));
        char *in = dup_n(BALLOON("402653184"), len);
        vb_qmp_command c;
        uint32_t target;
        ASSERT(in);
        ASSERT_EQ(0, start_qemu());
        ASSERT_EQ(1, vb_qmp_parse(in, len, &c));
        save_state();
        target = vb_target_pages(&T.dev);
        ASSERT_EQ(strlen(OK_EMPTY), vb_qmp_execute_command(&Q, &c, reply, 4));
        ASSERT_UNCHANGED();
        ASSERT_EQ(strlen(OK_EMPTY), vb_qmp_execute_command(&Q, &c, reply, sizeof reply));
        ASSERT(vb_target_pages(&T.dev) != target); /* with room, it ran */
        free(in);
    }
    PASS();
}

/* The pattern of the header's comment: the host claims "quit"; unclaimed, the name is QEMU's
   CommandNotFound, byte for byte. Neither path changes the device. */
TEST host_command_pattern(void)
{
    static const char quit[] = "{\"execute\": \"quit\", \"id\": 3}";
    static const char quit_args[] = "{\"execute\": \"quit\", \"arguments\": {\"now\": 1}}";
    char *in = dup_n(quit, sizeof quit - 1);
    vb_qmp_command c;
    int ok;
    size_t n;
    ASSERT(in);
    ASSERT_EQ(0, start(VB_PROFILE_QEMU, 10, 0));
    run(CAPS);
    save_state();
    ASSERT_STR_EQ(ID_ERR("3", "CommandNotFound", "The command quit has not been found"), run(quit));
    ASSERT_EQ(1, vb_qmp_parse(in, sizeof quit - 1, &c));
    ASSERT_EQ(1, vb_qmp_command_is(&c, "quit"));
    ok = vb_qmp_args_only(&c, NULL, 0);
    n = vb_qmp_reply(&Q, &c, NULL, reply, sizeof reply);
    ASSERT_EQ(1, ok);
    ASSERT_EQ(strlen("{\"return\": {}, \"id\": 3}"), n);
    ASSERT_STR_EQ("{\"return\": {}, \"id\": 3}", reply);
    free(in);
    in = dup_n(quit_args, sizeof quit_args - 1);
    ASSERT_EQ(1, vb_qmp_parse(in, sizeof quit_args - 1, &c));
    ASSERT_EQ(0, vb_qmp_args_only(&c, NULL, 0));
    vb_qmp_reply(&Q, &c, NULL, reply, sizeof reply);
    ASSERT_STR_EQ(GEN("Parameter 'now' is unexpected"), reply);
    free(in);
    ASSERT_UNCHANGED();
    PASS();
}

/* ============================================================================================
   Transactional execution for every command with an effect, at every buffer size
   ============================================================================================ */

typedef struct effect_case {
    vb_profile profile;
    unsigned flags;
    const char *cmd;
} effect_case;

TEST short_buffer_no_effect_at_any_size(void)
{
    static const effect_case cases[] = {
        {VB_PROFILE_QEMU, VB_QMP_NO_NEGOTIATION, QOM_SET(PATH, IVL, "2")},
        {VB_PROFILE_DOC, VB_QMP_NO_NEGOTIATION | VB_QMP_PRETTY, QOM_SET(SEED_PATH, "stats-polling-interval", "7")},
        {VB_PROFILE_QEMU, VB_QMP_NO_NEGOTIATION, "{\"execute\": \"balloon\", \"arguments\": {\"value\": 402653184}, \"id\": [1, \"a\"]}"},
        {VB_PROFILE_QEMU, VB_QMP_NO_NEGOTIATION | VB_QMP_PRETTY, BALLOON("1")},
        {VB_PROFILE_QEMU, 0, CAPS},
        {VB_PROFILE_QEMU, VB_QMP_PRETTY, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"oob\"]}, \"id\": {\"x\": 1}}"},
    };
    static char want[1024];
    unsigned i;
    size_t cap, need, len;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        len = strlen(cases[i].cmd);
        ASSERT_EQ(0, start(cases[i].profile, 10, cases[i].flags));
        save_state();
        need = exec_n(&Q, cases[i].cmd, len, NULL, 0);
        ASSERT(need > 0 && need < sizeof want);
        for (cap = 0; cap <= need; cap++) {
            ASSERT_EQ(need, exec_n(&Q, cases[i].cmd, len, reply, cap));
            ASSERTm(cases[i].cmd, state_unchanged());
        }
        ASSERT_EQ(need, exec_n(&Q, cases[i].cmd, len, want, need + 1));
        ASSERTm(cases[i].cmd, strncmp(want, "{\"return\"", 9) == 0 || strncmp(want, "{\n    \"return\"", 14) == 0);
        ASSERTm(cases[i].cmd, !state_unchanged()); /* now it ran */
    }
    PASS();
}

/* ============================================================================================
   The reply bound: VB_QMP_REPLY_MAX and VB_QMP_REPLY_BOUND
   ============================================================================================ */

TEST reply_max_holds_replies_without_client_text(void)
{
    static const char *const cmds[] = {
        CAPS, QOM_GET(PATH, "guest-stats"), QOM_GET(PATH, IVL), QOM_GET(PATH, "type"),
        "{\"execute\": \"qom-list\", \"arguments\": {\"path\": \"" PATH "\"}}", QUERY, BALLOON("1"),
        QOM_SET(PATH, IVL, "4294967295"), QOM_SET(PATH, "type", "1"), QOM_SET(PATH, IVL, "-1"), CAPS,
        "{\"execute\": \"balloon\"}", "{\"execute\": \"balloon\", \"arguments\": {\"value\": 0}}",
        "{\"execute\": \"query-balloon\", \"arguments\": {\"x\": 1}}", "{\"execute\": 1}",
        QOM_LIST(PATH BACKEND), QOM_GET(PATH BACKEND, "type"), QOM_GET(PATH, "deflate-on-oom"),
        QOM_SET(PATH, "realized", "false"), QOM_SET(PATH, "hotpluggable", "1"),
        QOM_SET(PATH BACKEND, "free-page-reporting", "1"), QOM_GET(PATH, "nope"),
        "{\"execute\": \"query-version\"}", "{\"execute\": \"query-commands\"}"};
    static char host[65];
    const char *host_commands[9];
    uint16_t tags[VB_STAT_COUNT];
    uint64_t vals[VB_STAT_COUNT];
    unsigned i, pretty;
    size_t n, biggest = 0;
    memset(host, 0x01, 64); /* the worst escaping: \u0001 */
    for (pretty = 0; pretty < 2; pretty++) {
        vb_config c = config(VB_PROFILE_QEMU, 16);
        c.type_name = host;
        c.ram_size = UINT64_MAX;
        ASSERT_EQ(0, tg_start(&T, &c, TG_LINUX_FEATURES));
        vb_qmp_init(&Q, &T.dev, pretty ? VB_QMP_PRETTY : 0u);
        Q.package = host;
        for (i = 0; i < 8; i++) host_commands[i] = host; /* at most 8 */
        host_commands[8] = NULL;
        Q.host_commands = host_commands;
        Q.qemu_version[0] = Q.qemu_version[1] = Q.qemu_version[2] = UINT32_MAX;
        for (i = 0; i < VB_STAT_COUNT; i++) { /* the longest values, from the guest */
            tags[i] = (uint16_t)i;
            vals[i] = UINT64_MAX - 1u - i;
        }
        T.wall = INT64_MIN;
        tg_stats_buffer(&T, 0, tags, vals, VB_STAT_COUNT);
        tg_kick(&T, VB_QUEUE_STATS);
        ASSERT_EQ(INT64_MIN, vb_last_update(&T.dev));
        for (i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
            n = exec_n(&Q, cmds[i], strlen(cmds[i]), reply, sizeof reply);
            ASSERTm(cmds[i], n < VB_QMP_REPLY_MAX);
            if (n > biggest) biggest = n;
        }
        ASSERT(vb_qmp_greeting(&Q, NULL, 0) < VB_QMP_REPLY_MAX);
        ASSERT(vb_qmp_event_balloon_change(&T.dev, INT64_MIN, INT64_MIN, NULL, 0) < VB_QMP_REPLY_MAX);
        ASSERT(vb_qmp_event(host, host, INT64_MIN, INT64_MIN, NULL, 0) < VB_QMP_REPLY_MAX);
    }
    ASSERT(biggest > VB_QMP_REPLY_MAX * 3 / 4); /* the pretty query-commands: the bound is not loose */
    PASS();
}

/* A reply for `len` bytes of input must fit VB_QMP_REPLY_BOUND(len, flags), NUL included. */
static int within_bound(const char *in, size_t len, size_t *n_out)
{
    size_t n = exec_n(&Q, in, len, NULL, 0);
    if (n_out) *n_out = n;
    return n + 1u <= VB_QMP_REPLY_BOUND(len, Q.flags);
}

/* An id of `levels` nested arrays (32 with the command object at most), the innermost full of
   `fill`: nearly every byte is a bracket or a comma that pretty-printing turns into a line
   indented 4 spaces per level. */
static size_t deep_id(char *buf, size_t cap, unsigned levels, const char *fill)
{
    size_t len = (size_t)snprintf(buf, cap, "{\"execute\": \"qmp_capabilities\", \"id\": ");
    unsigned d;
    for (d = 0; d < levels; d++) buf[len++] = '[';
    while (len + strlen(fill) + 40 < cap) len += (size_t)sprintf(buf + len, "%s,", fill);
    buf[len - 1] = ']';
    for (d = 1; d < levels; d++) buf[len++] = ']';
    buf[len++] = '}';
    return len;
}

TEST reply_bound_worst_cases(void)
{
    static char in[20000];
    size_t len, n, i;
    /* pretty ids at the maximum depth */
    ASSERT_EQ(0, start(VB_PROFILE_QEMU, 10, VB_QMP_NO_NEGOTIATION | VB_QMP_PRETTY));
    len = deep_id(in, sizeof in, 30, "[]");
    ASSERT(within_bound(in, len, &n));
    ASSERT(n > 80u * len); /* really the worst case, near the 130 per byte */
    len = deep_id(in, sizeof in, 31, "1");
    ASSERT(within_bound(in, len, &n));
    ASSERT(n > 60u * len);
    len = deep_id(in, sizeof in, 30, "{}");
    ASSERT(within_bound(in, len, &n));
    /* compact: a stray token quoting bad UTF-8, 6 bytes each */
    ASSERT_EQ(0, start_qemu());
    in[0] = '"';
    for (i = 1; i < 9999; i++) in[i] = (char)0x80;
    in[9999] = 0x01;
    ASSERT(within_bound(in, 10000, &n));
    ASSERT(n > 59000u);
    /* compact: an id and a path of DEL characters, each \u007F */
    len = (size_t)snprintf(in, sizeof in, "{\"execute\": \"qom-list\", \"arguments\": {\"path\": \"");
    for (i = 0; i < 4000; i++) in[len++] = 0x7f;
    len += (size_t)snprintf(in + len, sizeof in - len, "\"}, \"id\": \"");
    for (i = 0; i < 4000; i++) in[len++] = 0x7f;
    in[len++] = '"';
    in[len++] = '}';
    ASSERT(within_bound(in, len, &n));
    ASSERT(n > 5u * len);
    PASS();
}

/* Random inputs never exceed the bound, compact or pretty; and vb_qmp_parse accepts exactly
   what vb_qmp_execute dispatches by name. */
TEST reply_bound_random_inputs(void)
{
    static const char alphabet[] = "{}[]\"':,\\ 0123456789-+.eEtrufalsn\n\t\x7f\x01\xc3\xa9";
    static char buf[700];
    static char msg[256];
    unsigned iter, m, accepted = 0;
    size_t len, pos, n;
    rng_state = 4242u;
    for (iter = 0; iter < 40000; iter++) {
        vb_qmp_command c;
        int parsed, envelope_error;
        if (iter % 5000u == 0 && start(VB_PROFILE_QEMU, 10, VB_QMP_NO_NEGOTIATION | (iter / 5000u % 2u ? VB_QMP_PRETTY : 0u)))
            FAILm("setup");
        len = strlen(corpus[iter % (sizeof corpus / sizeof corpus[0])]);
        memcpy(buf, corpus[iter % (sizeof corpus / sizeof corpus[0])], len);
        for (m = 1u + rng() % 6u; m > 0 && len > 0; m--) {
            pos = rng() % len;
            if (rng() % 3u == 0 && len < sizeof buf - 40) { /* insert a run */
                size_t run = 1u + rng() % 32u, k;
                memmove(buf + pos + run, buf + pos, len - pos);
                for (k = 0; k < run; k++) buf[pos + k] = alphabet[rng() % (sizeof alphabet - 1)];
                len += run;
            } else {
                buf[pos] = rng() % 2u ? (char)(rng() & 0xffu) : alphabet[rng() % (sizeof alphabet - 1)];
            }
        }
        if (!within_bound(buf, len, &n)) {
            snprintf(msg, sizeof msg, "iteration %u: %zu bytes of reply for %zu of input", iter, n, len);
            FAILm(msg);
        }
        parsed = vb_qmp_parse(buf, len, &c);
        exec_n(&Q, buf, len, reply, sizeof reply);
        envelope_error = reply[0] == 0 || strstr(reply, "\"desc\": \"JSON parse error, ") ||
                         strstr(reply, "\"desc\": \"QMP input ");
        if (parsed == envelope_error) {
            snprintf(msg, sizeof msg, "iteration %u: parse %d, reply %.120s", iter, parsed, reply);
            FAILm(msg);
        }
        accepted += (unsigned)parsed;
    }
    ASSERT(accepted > 1000u && accepted < 39000u); /* both sides were exercised */
    PASS();
}

/* QEMU checks the top-level members in its QDict's order: hash buckets of the UTF-8 keys
   ("x\U0001F600" 282 before "x\u20AC" 437; "k\u20AC" 70 before "k\U0001F600" 427), whatever
   order the input has. */
TEST top_level_members_checked_in_qdict_order_utf8(void)
{
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ(GEN("QMP input member 'x\\uD83D\\uDE00' is unexpected"),
                  run("{\"execute\": \"query-balloon\", \"x\xe2\x82\xac\": 2, \"x\xf0\x9f\x98\x80\": 1}"));
    ASSERT_STR_EQ(GEN("QMP input member 'x\\uD83D\\uDE00' is unexpected"),
                  run("{\"x\xf0\x9f\x98\x80\": 1, \"execute\": \"query-balloon\", \"x\\u20ac\": 2}"));
    ASSERT_STR_EQ(GEN("QMP input member 'k\\u20AC' is unexpected"),
                  run("{\"k\\ud83d\\ude00\": 1, \"k\\u20AC\": 2, \"execute\": \"query-balloon\"}"));
    /* "execute" (299) is checked after "k\u20AC" (70) but before "x\u20AC" (437) */
    ASSERT_STR_EQ(GEN("QMP input member 'execute' must be a string"),
                  run("{\"x\\u20ac\": 1, \"execute\": 5}"));
    ASSERT_STR_EQ(GEN("QMP input member 'k\\u20AC' is unexpected"),
                  run("{\"execute\": 5, \"k\\u20ac\": 1}"));
    PASS();
}

/* ============================================================================================
   Inputs past libFuzzer's default 4,096 bytes (issue 13, item 6): numbers past int64/uint64,
   strings of 1 MiB, depth bombs. Expected bytes are QEMU 7.2's (qemu-system-x86_64 -machine pc
   -device virtio-balloon-pci,id=balloon0, -qmp on a unix socket, after qmp_capabilities).
   ============================================================================================ */

#define NOT_INT(name) GEN("Invalid parameter type for '" name "', expected: integer")

/* 1e400 parses as a double (inf), 2^64 as a double too (past int64 and uint64): neither is an
   integer argument. */
TEST huge_numbers_are_not_integers(void)
{
    static const char *const nums[] = {"1e400", "-1e400", "18446744073709551616", "-18446744073709551616",
                                       "1e-400", "18446744073709551615"};
    static char cmd[256];
    unsigned i;
    ASSERT_EQ(0, start_qemu());
    save_state();
    for (i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        snprintf(cmd, sizeof cmd, BALLOON("%s"), nums[i]);
        ASSERT_STR_EQm(cmd, NOT_INT("value"), run(cmd));
        snprintf(cmd, sizeof cmd, QOM_SET(PATH, IVL, "%s"), nums[i]);
        ASSERT_STR_EQm(cmd, BAD_INT, run(cmd));
    }
    ASSERT_UNCHANGED();
    PASS();
}

/* ============================================================================================
   JSON values as QEMU 7.2 reads and re-serialises them: repeated keys, QDict order of echoed
   objects, numbers re-read (int64, uint64, strtod) and printed with "%.17g", deep ids. Expected
   replies below were recorded from qemu-system-x86_64 7.2; the oracles for random inputs are
   independent: glibc's strtod/snprintf, and a plain re-implementation of qdict.c's hash.
   ============================================================================================ */

#define DUP GEN("JSON parse error, duplicate key")

/* QEMU checks a key against the object's earlier keys after parsing the member's value: an error
   in that value, or a missing ':', comes first; keys are compared decoded. */
TEST dup_keys_refused_as_qemu(void)
{
    static const struct { const char *in, *out; } cases[] = {
        {"{\"a\":1,\"a\":2}", DUP},
        {"{\"a\":1,\"a\":[1,]}", GEN("JSON parse error, expecting value")},
        {"{\"a\":1,\"a\" 2}", GEN("JSON parse error, missing : in object pair")},
        {"{\"a\":1,\"a\":2 \"b\"}", DUP},
        {"{\"a\":1,\"a\":2,]", DUP},
        {"{\"a\":1,\"a\":2,}", DUP},
        {"{\"a\":1,\"a\":2}}", DUP},
        {"{\"a\":1,\"a\":xyz}", GEN("JSON parse error, invalid keyword 'xyz'")},
        {"{\"a\":1,\"b\":{\"c\":1,\"c\":x}}", GEN("JSON parse error, invalid keyword 'x'")},
        {"{\"a\":1,\"a\":\"\\u0000\"}", DUP},
        {"{\"\\u0000\":1,\"\\u0000x\":2}", GEN("QMP input member '\\u0000' is unexpected")},
        {"{\"\\u0000\":1,\"\\u0000\":2}", DUP},
        {"{\"\xc0\x80\":1,\"\\u0000\":2}", DUP},
        {"{\"\xc3\xa9\":1,\"\\u00e9\":2}", DUP},
        {"{\"\xf0\x9f\x98\x80\":1,\"\\ud83d\\ude00\":2}", DUP},
        {"{'a':1,\"a\":2}", DUP},
        {"{\"a\":1,\"\\u0061\":2}", DUP},
        {"{\"a\":{\"x\":1,\"x\":2},\"a\":[1,]}", DUP},
        {"{\"a\":1,\"a\":{\"x\":1,\"x\":2 ,]}}", DUP}, /* the inner one, before the outer's error */
        {"{\"a\":1,\"a\":{\"x\":1} ,]}", DUP},
        {"{\"a\":1,\"b\":2,\"a\":{\"c\":[{\"d\":1}]}}", DUP},
        {"{\"execute\":\"x\",\"id\":1,\"id\":2}", DUP},
        {"{\"execute\":\"balloon\",\"arguments\":{\"value\":1,\"value\":2}}", DUP},
        {"{\"x\":[{\"a\":1},{\"a\":1}]}", GEN("QMP input member 'x' is unexpected")},
        {"{\"ab\":1,\"a\":2,\"abc\":3,\"b\":4}", GEN("QMP input member 'a' is unexpected")},
    };
    unsigned i;
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ(OK_EMPTY, run(BALLOON("402653184")));
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        save_state();
        ASSERT_STR_EQm(cases[i].in, cases[i].out, run(cases[i].in));
        ASSERT_UNCHANGED();
    }
    PASS();
}

/* A host's own command with a repeated key is no command (the parse error is the reply). */
TEST dup_keys_host_parse_refuses(void)
{
    static const char *const cmds[] = {
        "{\"execute\": \"quit\", \"execute\": \"quit\"}",
        "{\"execute\": \"x-advance-clock\", \"arguments\": {\"seconds\": 1, \"seconds\": 2}}",
        "{\"execute\": \"quit\", \"id\": {\"k\": 1, \"\\u006b\": 1}}",
    };
    unsigned i;
    ASSERT_EQ(0, start_qemu());
    for (i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        size_t len = strlen(cmds[i]);
        char *in = dup_n(cmds[i], len);
        vb_qmp_command c;
        ASSERT(in);
        ASSERT_EQm(cmds[i], 0, vb_qmp_parse(in, len, &c));
        free(in);
        ASSERT_STR_EQm(cmds[i], DUP, run(cmds[i]));
    }
    PASS();
}

static char *big_in; /* inputs of up to BIG_IN bytes, built by the tests below */
#define BIG_IN (4u * MIB)

static size_t put_keys(char *p, unsigned from, unsigned n, const char *value)
{
    size_t len = 0;
    unsigned i;
    for (i = from; i < from + n; i++) len += (size_t)sprintf(p + len, "%s\"k%u\": %s", i > from ? ", " : "", i, value);
    return len;
}

/* The duplicate check walks the earlier members again: 16 MiB per message at most, then our
   own parse error. A thousand keys are well within; the limit is per message. */
TEST dup_keys_work_limit(void)
{
    size_t len;
    ASSERT(big_in || (big_in = (char *)malloc(BIG_IN)) != NULL);
    ASSERT_EQ(0, start_qemu());
    len = (size_t)sprintf(big_in, "{\"execute\": \"nope\", \"arguments\": {");
    len += put_keys(big_in + len, 0, 1000, "0");
    len += (size_t)sprintf(big_in + len, "}}");
    ASSERT_STR_EQ(ERR("CommandNotFound", "The command nope has not been found"), qmpn(big_in, len));
    len = (size_t)sprintf(big_in, "{\"execute\": \"nope\", \"arguments\": {");
    len += put_keys(big_in + len, 0, 3000, "0");
    len += (size_t)sprintf(big_in + len, "}}");
    ASSERT_STR_EQ(GEN("JSON parse error, objects too big to check for duplicate keys"), qmpn(big_in, len));
    /* a big value among few keys costs one walk per later key */
    len = (size_t)sprintf(big_in, "{\"execute\": \"nope\", \"arguments\": {\"a\": \"");
    memset(big_in + len, 'x', 3 * MIB);
    len += 3 * MIB;
    len += (size_t)sprintf(big_in + len, "\", ");
    len += put_keys(big_in + len, 0, 4, "0");
    len += (size_t)sprintf(big_in + len, "}}");
    ASSERT_STR_EQ(ERR("CommandNotFound", "The command nope has not been found"), qmpn(big_in, len));
    len -= 2;
    len += (size_t)sprintf(big_in + len, ", ");
    len += put_keys(big_in + len, 4, 2, "0");
    len += (size_t)sprintf(big_in + len, "}}");
    ASSERT_STR_EQ(GEN("JSON parse error, objects too big to check for duplicate keys"), qmpn(big_in, len));
    ASSERT_STR_EQ(ERR("CommandNotFound", "The command nope has not been found"), run(NOPE));
    PASS();
}

/* ---- a tree of JSON values, written as input (any spacing, escapes) and as QEMU writes it --- */

typedef struct tnode {
    char kind;              /* 'o'bject, 'a'rray, 's'calar */
    int first, next;        /* the first child, the next sibling (-1: none) */
    char in[40], out[40];   /* a scalar: as given, as written back */
    char kin[48], kout[48]; /* a member: its key as given and as written back, quotes included */
    unsigned char key[24];  /* the key's UTF-8 bytes (QEMU hashes those) */
    size_t klen;
} tnode;

#define TN_MAX 40000
static tnode *tn;
static int tn_count;

typedef struct tbuf {
    char *p;
    size_t n, cap;
} tbuf;

static void tb_put(tbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2;
        char *p = (char *)realloc(b->p, cap);
        if (!p) abort();
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void tb_puts(tbuf *b, const char *s) { tb_put(b, s, strlen(s)); }

static int tn_new(char kind)
{
    tnode *t;
    if (tn_count == TN_MAX) abort();
    t = &tn[tn_count];
    memset(t, 0, sizeof *t);
    t->kind = kind;
    t->first = t->next = -1;
    return tn_count++;
}

/* qobject/qdict.c: tdb_hash of the key's bytes, modulo its 512 buckets. */
static unsigned qdict_bucket(const unsigned char *k, size_t n)
{
    uint32_t value = 0x238F13AFu * (uint32_t)n;
    size_t i;
    for (i = 0; i < n; i++) value += (uint32_t)k[i] << (i * 5 % 24);
    return (1103515243u * value + 12345u) % 512u;
}

/* A random key: ASCII, escaped ASCII, a quote, U+00E9 and U+1F600 raw or escaped. */
static void tn_key(tnode *t)
{
    static const char *const atoms[][3] = { /* as given (two ways), as written back */
        {"\xc3\xa9", "\\u00e9", "\\u00E9"}, {"\xf0\x9f\x98\x80", "\\ud83d\\ude00", "\\uD83D\\uDE00"},
        {"\\\"", "\\u0022", "\\\""}, {"a", "\\u0061", "a"}, {"\\/", "/", "/"}};
    static const unsigned char utf8[][5] = {{0xc3, 0xa9}, {0xf0, 0x9f, 0x98, 0x80}, {'"'}, {'a'}, {'/'}};
    static const size_t utf8_len[] = {2, 4, 1, 1, 1};
    unsigned n = rng() % 5u, i;
    strcpy(t->kin, "\"");
    strcpy(t->kout, "\"");
    t->klen = 0;
    for (i = 0; i < n; i++) {
        unsigned r = rng() % 16u;
        if (r < 5) {
            strcat(t->kin, atoms[r][rng() % 2u]);
            strcat(t->kout, atoms[r][2]);
            memcpy(t->key + t->klen, utf8[r], utf8_len[r]);
            t->klen += utf8_len[r];
        } else {
            char c[2] = {"bcdefghijklmnopqrstuvwxyz0123456789_-"[rng() % 37u], 0};
            strcat(t->kin, c);
            strcat(t->kout, c);
            t->key[t->klen++] = (unsigned char)c[0];
        }
    }
    strcat(t->kin, "\"");
    strcat(t->kout, "\"");
}

/* Does a member of `parent` other than `self` have the key of `self`? */
static int tn_key_taken(int parent, int self)
{
    int c;
    for (c = tn[parent].first; c >= 0; c = tn[c].next)
        if (c != self && tn[c].klen == tn[self].klen && memcmp(tn[c].key, tn[self].key, tn[c].klen) == 0)
            return 1;
    return 0;
}

static int tn_random(unsigned depth, unsigned width);

/* Append child c to parent p (the last sibling is found by a walk: the trees are small). */
static void tn_add(int p, int c)
{
    int *link = &tn[p].first;
    while (*link >= 0) link = &tn[*link].next;
    *link = c;
}

static int tn_container(char kind, unsigned depth, unsigned width)
{
    int p = tn_new(kind);
    unsigned n = rng() % (width + 1u), i;
    for (i = 0; i < n; i++) {
        int c = tn_random(depth + 1u, 4);
        if (kind == 'o') {
            unsigned tries = 0;
            do tn_key(&tn[c]);
            while (tn_key_taken(p, c) && ++tries < 100);
            if (tries == 100) continue; /* a node lost: no matter */
        }
        tn_add(p, c);
    }
    return p;
}

static int tn_random(unsigned depth, unsigned width)
{
    static const char *const scalars[][2] = {{"1", "1"}, {"-0", "0"}, {"true", "true"}, {"null", "null"},
                                             {"'x'", "\"x\""}, {"2.50", "2.5"}, {"\"\\u00e9\"", "\"\\u00E9\""}};
    unsigned r = rng() % 8u;
    int s;
    if (depth < 4 && r < 3) return tn_container('o', depth, width);
    if (depth < 4 && r < 5) return tn_container('a', depth, width);
    s = tn_new('s');
    r = rng() % (unsigned)(sizeof scalars / sizeof scalars[0]);
    strcpy(tn[s].in, scalars[r][0]);
    strcpy(tn[s].out, scalars[r][1]);
    return s;
}

static void tn_write_in(tbuf *b, int t)
{
    static const char *const ws[] = {"", " ", "\n", "\t ", "\r\n"};
    int c;
    if (tn[t].kind == 's') {
        tb_puts(b, tn[t].in);
        return;
    }
    tb_puts(b, tn[t].kind == 'o' ? "{" : "[");
    for (c = tn[t].first; c >= 0; c = tn[c].next) {
        tb_puts(b, ws[rng() % 5u]);
        if (tn[t].kind == 'o') {
            tb_puts(b, tn[c].kin);
            tb_puts(b, ws[rng() % 5u]);
            tb_puts(b, ":");
        }
        tn_write_in(b, c);
        tb_puts(b, ws[rng() % 5u]);
        if (tn[c].next >= 0) tb_puts(b, ",");
    }
    tb_puts(b, tn[t].kind == 'o' ? "}" : "]");
}

/* QDict order: buckets ascending, the later key first within one. */
static int tn_qdict_cmp(const void *x, const void *y)
{
    const int a = *(const int *)x, b = *(const int *)y;
    const unsigned ba = qdict_bucket(tn[a].key, tn[a].klen), bb = qdict_bucket(tn[b].key, tn[b].klen);
    if (ba != bb) return ba < bb ? -1 : 1;
    return a > b ? -1 : a < b; /* children are numbered in input order */
}

static void tn_indent(tbuf *b, int pretty, unsigned level)
{
    if (!pretty) return;
    tb_puts(b, "\n");
    while (level--) tb_puts(b, "    ");
}

/* As QEMU's json-writer: compact ", " and ": ", or pretty (4 spaces a level, an empty container
   broken too); object members in QDict order. */
static void tn_write_out(tbuf *b, int t, int pretty, unsigned level)
{
    int c, *order = NULL;
    size_t n = 0, i;
    if (tn[t].kind == 's') {
        tb_puts(b, tn[t].out);
        return;
    }
    for (c = tn[t].first; c >= 0; c = tn[c].next) n++;
    order = (int *)malloc((n ? n : 1) * sizeof *order);
    if (!order) abort();
    for (n = 0, c = tn[t].first; c >= 0; c = tn[c].next) order[n++] = c;
    if (tn[t].kind == 'o') qsort(order, n, sizeof *order, tn_qdict_cmp);
    tb_puts(b, tn[t].kind == 'o' ? "{" : "[");
    for (i = 0; i < n; i++) {
        if (i) tb_puts(b, pretty ? "," : ", ");
        tn_indent(b, pretty, level + 1u);
        if (tn[t].kind == 'o') {
            tb_puts(b, tn[order[i]].kout);
            tb_puts(b, ": ");
        }
        tn_write_out(b, order[i], pretty, level + 1u);
    }
    free(order);
    tn_indent(b, pretty, level);
    tb_puts(b, tn[t].kind == 'o' ? "}" : "]");
}

/* The reply to qmp_capabilities with the tree as "id", and the command. */
static void tn_command(int root, int pretty, tbuf *cmd, tbuf *want)
{
    cmd->n = want->n = 0;
    tb_puts(cmd, "{\"execute\": \"qmp_capabilities\", \"id\": ");
    tn_write_in(cmd, root);
    tb_puts(cmd, "}");
    tb_puts(want, pretty ? "{\n    \"return\": {\n    },\n    \"id\": " : "{\"return\": {}, \"id\": ");
    tn_write_out(want, root, pretty, 1);
    tb_puts(want, pretty ? "\n}" : "}");
}

static int tn_setup(void)
{
    if (!tn) tn = (tnode *)malloc(TN_MAX * sizeof *tn);
    tn_count = 0;
    return tn ? 0 : -1;
}

/* Executes cmd (any size) and compares with want; the reply in a buffer of the promised bound. */
static int echo_matches(const tbuf *cmd, const tbuf *want, char *why, size_t why_cap)
{
    size_t cap = VB_QMP_REPLY_BOUND(cmd->n, Q.flags), n;
    char *out = (char *)malloc(cap);
    int ok;
    if (!out) return 0;
    n = exec_n(&Q, cmd->p, cmd->n, out, cap);
    ok = n == want->n && n < cap && memcmp(out, want->p, n) == 0;
    if (!ok) { FILE *dbg = fopen("/tmp/vw/fail.json", "wb"); if (dbg) { fwrite(cmd->p, 1, cmd->n, dbg); fclose(dbg); }
        size_t at = 0;
        while (at < n && at < want->n && out[at] == want->p[at]) at++;
        at = at > 60 ? at - 60 : 0;
        snprintf(why, why_cap, "%.100s...\n  got %.160s\n want %.160s", cmd->p, out + at, want->p + at);
    }
    free(out);
    return ok;
}

/* Random ids, nested up to 4 levels, objects of up to 600 members (every bucket in use): echoed
   as an independent writer with qsort and qdict.c's hash writes them, compact and pretty. */
TEST id_objects_in_qdict_order_random(void)
{
    static char why[600];
    tbuf cmd = {0, 0, 0}, want = {0, 0, 0};
    unsigned iter, pretty;
    rng_state = 5150u;
    for (pretty = 0; pretty < 2; pretty++) {
        ASSERT_EQ(0, start(VB_PROFILE_QEMU, 10, VB_QMP_NO_NEGOTIATION | (pretty ? VB_QMP_PRETTY : 0u)));
        for (iter = 0; iter < 400; iter++) {
            int root;
            ASSERT_EQ(0, tn_setup());
            root = tn_container('o', 0, iter % 50u == 0 ? 600u : 12u);
            tn_command(root, (int)pretty, &cmd, &want);
            if (!echo_matches(&cmd, &want, why, sizeof why)) FAILm(why);
        }
    }
    free(cmd.p);
    free(want.p);
    PASS();
}

/* The brief's 8 keys (QEMU 7.2's reply), and the same id through vb_qmp_reply. */
TEST id_objects_in_qdict_order_recorded(void)
{
    static const char cmd[] = "{\"execute\": \"x\", \"id\": {\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"aa\":6,"
                              "\"key10\":7,\"zzz\":8}}";
    static const char id[] = "{\"d\": 4, \"aa\": 6, \"key10\": 7, \"e\": 5, \"a\": 1, \"b\": 2, \"zzz\": 8, \"c\": 3}";
    char *in = dup_n(cmd, sizeof cmd - 1);
    vb_qmp_command c;
    ASSERT(in);
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ(ID_ERR("{\"d\": 4, \"aa\": 6, \"key10\": 7, \"e\": 5, \"a\": 1, \"b\": 2, \"zzz\": 8, \"c\": 3}",
                         "CommandNotFound", "The command x has not been found"),
                  run(cmd));
    ASSERT_STR_EQ(ID_ERR("[{\"z\": {\"x\": {}, \"y\": [1, {\"a\": [], \"b\": 2}]}}, 0.5, -9.9999999999999995e-08]",
                         "CommandNotFound", "The command x has not been found"),
                  run("{\"execute\":\"x\",\"id\":[{\"z\":{\"y\":[1,{\"b\":2,\"a\":[]}],\"x\":{}}},0.5,-1e-7]}"));
    ASSERT_EQ(1, vb_qmp_parse(in, sizeof cmd - 1, &c));
    vb_qmp_reply(&Q, &c, NULL, reply, sizeof reply);
    ASSERT_STR_EQ("{\"return\": {}, \"id\": " "{\"d\": 4, \"aa\": 6, \"key10\": 7, \"e\": 5, \"a\": 1, \"b\": 2, \"zzz\": 8, \"c\": 3}" "}", reply);
    (void)id;
    free(in);
    PASS();
}

/* Ordering an object walks it once per 8 members: an "id" whose objects would take more than
   16 MiB of walking is refused before anything (our own parse error, without the id). */
TEST id_order_work_limit(void)
{
    size_t len, i;
    ASSERT(big_in || (big_in = (char *)malloc(BIG_IN)) != NULL);
    ASSERT_EQ(0, start_qemu());
    for (i = 0; i < 2; i++) {
        len = (size_t)sprintf(big_in, "{\"execute\": \"qmp_capabilities\", \"id\": {");
        len += put_keys(big_in + len, 0, 1000, "0");
        len += (size_t)sprintf(big_in + len, ", \"z\": [");
        while (len < (i ? 1000000u : 60000u)) len += (size_t)sprintf(big_in + len, "1,");
        len += (size_t)sprintf(big_in + len, "1]}}");
        save_state();
        if (i == 0) {
            size_t cap = VB_QMP_REPLY_BOUND(len, Q.flags);
            char *out = (char *)malloc(cap);
            ASSERT(out);
            ASSERT(exec_n(&Q, big_in, len, out, cap) < cap);
            ASSERT_EQ(0, strncmp("{\"return\": {}, \"id\": {\"", out, 23));
            free(out);
        } else {
            ASSERT_STR_EQ(GEN("JSON parse error, objects of 'id' too big to order"), qmpn(big_in, len));
            ASSERT_UNCHANGED();
        }
    }
    PASS();
}

/* The echo keeps no C stack per level: ids at QEMU's depth limit (1023 levels inside the
   command), objects and arrays alternating, siblings on both sides, compact and pretty. */
TEST id_deep_nesting_echoed(void)
{
    static char why[600];
    tbuf cmd = {0, 0, 0}, want = {0, 0, 0};
    unsigned pretty, d;
    for (pretty = 0; pretty < 2; pretty++) {
        int parent = -1, root = -1;
        ASSERT_EQ(0, start(VB_PROFILE_QEMU, 10, VB_QMP_NO_NEGOTIATION | (pretty ? VB_QMP_PRETTY : 0u)));
        ASSERT_EQ(0, tn_setup());
        for (d = 0; d < 1023; d++) {
            int node = tn_new(d % 2 ? 'a' : 'o'), s1 = tn_new('s'), s2 = tn_new('s');
            strcpy(tn[s1].in, "1.0");
            strcpy(tn[s1].out, "1");
            strcpy(tn[s2].in, "'s'");
            strcpy(tn[s2].out, "\"s\"");
            tn_add(node, s1);
            if (parent >= 0) tn_add(parent, node);
            else root = node;
            if (parent >= 0) tn_add(parent, s2);
            parent = node;
        }
        for (d = 0; d < (unsigned)tn_count; d++) { /* members of objects get keys */
            int c;
            if (tn[d].kind != 'o') continue;
            for (c = tn[d].first; c >= 0; c = tn[c].next) {
                do tn_key(&tn[c]);
                while (tn[c].klen == 0 || tn_key_taken((int)d, c));
            }
        }
        tn_command(root, (int)pretty, &cmd, &want);
        if (!echo_matches(&cmd, &want, why, sizeof why)) FAILm(why);
    }
    free(cmd.p);
    free(want.p);
    PASS();
}

/* The cost model of the echo: an object is walked once to find the order of its members and
   once more after each child container (jumping over that child), so a deep id around a big
   value costs about depth x size: here 1022 objects around an 8 KiB string, about 14 MiB of
   the 16 MiB allowed (twice that if the finished child were walked again). */
TEST id_deep_objects_walked_once_each(void)
{
    size_t len, cap;
    unsigned d;
    char *out;
    ASSERT(big_in || (big_in = (char *)malloc(BIG_IN)) != NULL);
    ASSERT_EQ(0, start_qemu());
    len = (size_t)sprintf(big_in, "{\"execute\": \"qmp_capabilities\", \"id\": ");
    for (d = 0; d < 1022; d++) len += (size_t)sprintf(big_in + len, "{\"a\": 1, \"b\": ");
    big_in[len++] = '"';
    memset(big_in + len, 'x', 8192);
    len += 8192;
    big_in[len++] = '"';
    for (d = 0; d <= 1022; d++) big_in[len++] = '}';
    cap = VB_QMP_REPLY_BOUND(len, Q.flags);
    out = (char *)malloc(cap);
    ASSERT(out);
    ASSERT(exec_n(&Q, big_in, len, out, cap) < cap);
    ASSERT_EQ(0, strncmp("{\"return\": {}, \"id\": {\"a\": 1, \"b\": {\"a\": 1, \"b\": {", out, 46));
    free(out);
    PASS();
}

/* ---- numbers ------------------------------------------------------------------------------ */

/* QEMU 7.2's echo of number tokens (recorded). */
TEST numbers_echoed_as_qemu(void)
{
    static const struct { const char *in, *out; } cases[] = {
        {"1e400", "inf"}, {"-1e400", "-inf"}, {"0.1", "0.10000000000000001"}, {"1.0", "1"}, {"-0.0", "-0"},
        {"1.5e300", "1.5000000000000001e+300"}, {"18446744073709551616", "1.8446744073709552e+19"},
        {"-9223372036854775809", "-9.2233720368547758e+18"}, {"12345678901234567890123", "1.2345678901234568e+22"},
        {"1e-400", "0"}, {"-1e-400", "-0"}, {"4.9e-324", "4.9406564584124654e-324"},
        {"2.5e-324", "4.9406564584124654e-324"}, {"2.4e-324", "0"}, {"1.0e+2", "100"}, {"0.000001", "9.9999999999999995e-07"},
        {"0.0001", "0.0001"}, {"123456789012345680000", "1.2345678901234568e+20"}, {"1e16", "10000000000000000"},
        {"1e17", "1e+17"}, {"2.2250738585072011e-308", "2.2250738585072009e-308"},
        {"1000000000000000.25", "1000000000000000.2"}, {"9007199254740993.0", "9007199254740992"},
        {"1.7976931348623158e308", "1.7976931348623157e+308"}, {"1.7976931348623159e308", "inf"},
        {"0.0e0", "0"}, {"-0.0e-0", "-0"}, {"1E2", "100"}, {"1e+2", "100"}, {"1e-2", "0.01"}, {"100e-2", "1"},
        {"0.1e1", "1"}, {"5e-324", "4.9406564584124654e-324"}, {"1e308", "1e+308"}, {"1e309", "inf"},
        {"123.456", "123.456"}, {"-1.5e-10", "-1.5e-10"}, {"1e-7", "9.9999999999999995e-08"},
        {"0.00001", "1.0000000000000001e-05"}, {"1e-4", "0.0001"}, {"123456789012345678", "123456789012345678"},
        {"1e22", "1e+22"}, {"1e23", "9.9999999999999992e+22"}, {"5e-1", "0.5"}, {"2.5", "2.5"},
        {"0.30000000000000004", "0.30000000000000004"}, {"9.999999999999999e22", "9.9999999999999992e+22"},
        {"9007199254740993", "9007199254740993"}, {"-9223372036854775808", "-9223372036854775808"},
        {"9223372036854775807", "9223372036854775807"}, {"18446744073709551615", "18446744073709551615"},
        {"1e0000000000000000000000000000001", "10"}, {"1e-00000000000000000000000000000400", "0"},
        {"0.0000000000000000000000000000000000000001e40", "1"},
    };
    static char cmd[256], want[256];
    unsigned i;
    ASSERT_EQ(0, start_qemu());
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(cmd, sizeof cmd, "{\"execute\": \"x\", \"id\": [%s]}", cases[i].in);
        snprintf(want, sizeof want, ID_ERR("[%s]", "CommandNotFound", "The command x has not been found"), cases[i].out);
        ASSERT_STR_EQm(cmd, want, run(cmd));
    }
    PASS();
}

/* A command around a 1 MiB string (1 MiB of 'a' at the %s, if any), on the heap. */
static char *big_command(const char *fmt, size_t *len)
{
    const char *at = strstr(fmt, "%s");
    size_t mib = at ? (size_t)1 << 20 : 0, n = strlen(fmt) - (at ? 2u : 0u) + mib;
    char *s = (char *)malloc(n + 1);
    if (!s) return NULL;
    if (!at) {
        memcpy(s, fmt, n + 1);
        *len = n;
        return s;
    }
    memcpy(s, fmt, (size_t)(at - fmt));
    memset(s + (at - fmt), 'a', mib);
    strcpy(s + (at - fmt) + mib, at + 2);
    *len = n;
    return s;
}

/* The reply to a 1 MiB command, checked against QEMU's: `fmt` with the same 1 MiB string. */
static enum greatest_test_res one_mib(const char *cmd_fmt, const char *reply_fmt)
{
    size_t len = 0, want_len = 0, cap, n;
    char *cmd = big_command(cmd_fmt, &len), *want = big_command(reply_fmt, &want_len), *out;
    ASSERT(cmd && want);
    cap = VB_QMP_REPLY_BOUND(len, Q.flags);
    out = (char *)malloc(cap);
    ASSERT(out != NULL);
    /* transactional: too small a buffer says how much is needed and executes nothing */
    save_state();
    ASSERT_EQ(want_len, exec_n(&Q, cmd, len, reply, sizeof reply));
    ASSERT_UNCHANGED();
    /* the stream frames it whole, and the reply is QEMU's byte for byte */
    ASSERT_EQ(len, frame(cmd, len));
    ASSERT_EQ(0u, frame(cmd, len - 1u));
    n = exec_n(&Q, cmd, len, out, cap);
    ASSERT_EQ(want_len, n);
    ASSERT_EQ(want_len, strlen(out));
    ASSERT(memcmp(want, out, want_len) == 0);
    free(cmd);
    free(want);
    free(out);
    PASS();
}

TEST strings_of_1_mib(void)
{
    ASSERT_EQ(0, start_qemu());
    CHECK_CALL(one_mib("{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"" PATH "\", \"property\": \"%s\"}}",
                       GEN("Property 'virtio-balloon-pci.%s' not found")));
    CHECK_CALL(one_mib("{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"%s\", \"property\": \"type\"}}",
                       ERR("DeviceNotFound", "Device '%s' not found")));
    CHECK_CALL(one_mib("{\"execute\": \"%s\"}", ERR("CommandNotFound", "The command %s has not been found")));
    CHECK_CALL(one_mib("{\"execute\": \"balloon\", \"arguments\": {\"value\": \"%s\"}}", NOT_INT("value")));
    CHECK_CALL(one_mib("{\"execute\": \"query-balloon\", \"id\": \"%s\"}",
                       "{\"return\": {\"actual\": 536870912}, \"id\": \"%s\"}"));
    /* and one that succeeds: qom-set with a 1 MiB id */
    CHECK_CALL(one_mib("{\"execute\": \"qom-set\", \"arguments\": {\"path\": \"" PATH "\", \"property\": \"" IVL
                       "\", \"value\": 3}, \"id\": \"%s\"}",
                       "{\"return\": {}, \"id\": \"%s\"}"));
    ASSERT_EQ(3, vb_poll_interval(&T.dev));
    PASS();
}

/* NULL as the header's POINTERS AND NULL rules allow it in the QMP API. */
TEST qmp_null_pointers_as_documented(void)
{
    static const char caps[] = CAPS, x7[] = "{\"execute\": \"x\", \"arguments\": {\"value\": 7}}";
    vb_qmp_command c;
    int64_t v = 5;
    size_t n;
    ASSERT_EQ(0, start(VB_PROFILE_QEMU, 10, 0));
    save_state();
    ASSERT_EQ(0u, vb_qmp_execute(&Q, NULL, 0, reply, sizeof reply)); /* no input, no reply */
    ASSERT_EQ(0u, vb_qmp_frame(&Q, NULL, 0, &n));
    ASSERT_EQ(0, vb_qmp_parse(NULL, 0, &c));
    ASSERT_UNCHANGED();
    n = vb_qmp_greeting(&Q, reply, sizeof reply);
    ASSERT_EQ(n, vb_qmp_greeting(&Q, NULL, 0)); /* NULL output: the length */
    ASSERT_EQ(n, vb_qmp_greeting(&Q, NULL, 100));
    ASSERT_EQ(strlen(OK_EMPTY), vb_qmp_execute(&Q, caps, sizeof caps - 1, NULL, 0)); /* not executed */
    ASSERT_EQ(0, Q.negotiated);
    ASSERT_EQ(1, vb_qmp_parse(caps, sizeof caps - 1, &c));
    ASSERT_EQ(0, vb_qmp_arg_int(&c, "value", NULL));
    ASSERT_EQ(1, vb_qmp_args_only(&c, NULL, 0));
    ASSERT_EQ(strlen(OK_EMPTY), vb_qmp_reply(NULL, &c, NULL, reply, sizeof reply)); /* compact, success */
    ASSERT_STR_EQ(OK_EMPTY, reply);
    ASSERT_EQ(strlen(OK_EMPTY), vb_qmp_reply(&Q, &c, NULL, NULL, 0));
    ASSERT(vb_qmp_parse(x7, sizeof x7 - 1, &c));
    ASSERT_EQ(1, vb_qmp_arg_int(&c, "value", NULL));
    ASSERT_EQ(1, vb_qmp_arg_int(&c, "value", &v));
    ASSERT_EQ(7, v);
    ASSERT_EQ(vb_qmp_event_balloon_change(&T.dev, 1, 2, reply, sizeof reply),
              vb_qmp_event_balloon_change(&T.dev, 1, 2, NULL, 0));
    PASS();
}

/* ---- QEMU's nesting limit through a stream ---------------------------------------------------
   QEMU's JSON streamer takes up to 1024 open containers (MAX_NESTING); the 1025th opening bracket
   is answered at once with "JSON nesting depth limit exceeded", the tokens so far are dropped and
   lexing goes on: every stray closing bracket after it gets its own "JSON parse error, expecting
   value", a scalar its own "QMP input must be a JSON object". The tests hold QEMU 7.2's bytes. */

static char *repeat(const char *head, const char *open, unsigned n_open, const char *mid, const char *close,
                    unsigned n_close, const char *tail, size_t *len)
{
    size_t n = strlen(head) + strlen(open) * n_open + strlen(mid) + strlen(close) * n_close + strlen(tail), at = 0;
    char *s = (char *)malloc(n + 1);
    unsigned i;
    if (!s) return NULL;
#define REPEAT_PUT(str) (memcpy(s + at, (str), strlen(str)), at += strlen(str))
    REPEAT_PUT(head);
    for (i = 0; i < n_open; i++) REPEAT_PUT(open);
    REPEAT_PUT(mid);
    for (i = 0; i < n_close; i++) REPEAT_PUT(close);
    REPEAT_PUT(tail);
#undef REPEAT_PUT
    s[at] = 0;
    *len = at;
    return s;
}

/* 33 and 1024 open containers: accepted, the id echoed. */
TEST nesting_up_to_1024_is_accepted(void)
{
    static const unsigned depth[2] = {32, 1023}; /* arrays inside the command object */
    unsigned i;
    ASSERT_EQ(0, start_qemu());
    for (i = 0; i < 2; i++) {
        size_t len, wlen;
        char *cmd = repeat("{\"execute\": \"query-balloon\", \"id\": ", "[", depth[i], "", "]", depth[i], "}", &len);
        char *want = repeat("{\"return\": {\"actual\": 536870912}, \"id\": ", "[", depth[i], "", "]", depth[i], "}",
                            &wlen);
        ASSERT(cmd && want);
        ASSERT_EQ(len, frame(cmd, len));
        ASSERT_STR_EQ(want, qmpn(cmd, len));
        free(cmd);
        free(want);
    }
    {
        size_t len;
        char *bare = repeat("", "[", 1024, "", "]", 1024, "", &len); /* 1024 deep, not an object */
        ASSERT(bare != NULL);
        ASSERT_STR_EQ(GEN("QMP input must be a JSON object"), qmpn(bare, len));
        free(bare);
    }
    PASS();
}

/* The replies to a byte stream, as a host's loop makes them (vb_qmp_frame, vb_qmp_execute), run
   length encoded: want[i] is expected count[i] times in a row. */
static enum greatest_test_res stream_replies(const char *in, size_t len, const char *const *want,
                                             const unsigned *count, unsigned n)
{
    size_t pos = 0, k, skip;
    unsigned i = 0, seen = 0;
    while (pos < len && (k = vb_qmp_frame(&Q, in + pos, len - pos, &skip)) > 0) {
        const char *r = qmpn(in + pos + skip, k - skip);
        pos += k;
        if (!*r) continue; /* blank: no reply */
        ASSERTm("more replies than QEMU's", i < n);
        ASSERT_STR_EQ(want[i], r);
        if (++seen == count[i]) {
            i++;
            seen = 0;
        }
    }
    ASSERT_EQ(n, i);
    PASS();
}

#define NESTING GEN("JSON nesting depth limit exceeded")
#define EXPECTING GEN("JSON parse error, expecting value")
#define NOT_OBJECT GEN("QMP input must be a JSON object")

TEST nesting_1025_stream_recovery(void)
{
    static const char *const w1[2] = {NESTING, EXPECTING};
    static const unsigned c1[2] = {1, 1025};
    static const char *const w2[5] = {NESTING, NOT_OBJECT, EXPECTING, NOT_OBJECT, EXPECTING};
    static const unsigned c2[5] = {1, 1, 1, 1, 1025};
    static const char *const w3[3] = {NESTING, NOT_OBJECT, EXPECTING};
    static const unsigned c3[3] = {1, 1, 1025};
    static const char *const w4[1] = {NESTING};
    static const unsigned c4[1] = {1};
    static const char *w5[2] = {NESTING, NULL};
    static const unsigned c5[2] = {1, 1};
    size_t len;
    char *s;
    ASSERT_EQ(0, start_qemu());
    /* the command object and 1024 arrays: 1 + 1025 replies */
    s = repeat("{\"execute\": \"query-balloon\", \"id\": ", "[", 1024, "", "]", 1024, "}", &len);
    CHECK_CALL(stream_replies(s, len, w1, c1, 2));
    free(s);
    /* 1025 bare arrays: the same */
    s = repeat("", "[", 1025, "", "]", 1025, "", &len);
    CHECK_CALL(stream_replies(s, len, w1, c1, 2));
    free(s);
    /* 1025 objects: "a", ':', 1 and 1025 '}' after the error */
    s = repeat("", "{\"a\": ", 1025, "1", "}", 1025, "", &len);
    CHECK_CALL(stream_replies(s, len, w2, c2, 5));
    free(s);
    /* 2000 arrays: the 975 after the error nest again, and close; 1025 strays */
    s = repeat("", "[", 2000, "", "]", 2000, "", &len);
    CHECK_CALL(stream_replies(s, len, w3, c3, 3));
    free(s);
    /* only opening brackets: one reply, nothing pending */
    s = repeat("", "[", 1025, "", "]", 0, "", &len);
    CHECK_CALL(stream_replies(s, len, w4, c4, 1));
    free(s);
    /* then a command: the stream recovered */
    w5[1] = run(QUERY);
    s = repeat("", "[", 1025, QUERY, "]", 0, "", &len);
    CHECK_CALL(stream_replies(s, len, w5, c5, 2));
    free(s);
    PASS();
}

/* What QEMU makes of a number token: int64 (strtoll), else uint64 if not negative (strtoull),
   else a double from strtod, printed "%.17g" (glibc). */
static void qemu_number(const char *tok, char *out, size_t cap)
{
    if (!strpbrk(tok, ".eE")) {
        long long v;
        unsigned long long u;
        errno = 0;
        v = strtoll(tok, NULL, 10);
        if (!errno) {
            snprintf(out, cap, "%lld", v);
            return;
        }
        errno = 0;
        u = strtoull(tok, NULL, 10);
        if (tok[0] != '-' && !errno) {
            snprintf(out, cap, "%llu", u);
            return;
        }
    }
    snprintf(out, cap, "%.17g", strtod(tok, NULL));
}

/* Digits, often runs of 0 or 9 (near ties and carries). */
static size_t random_digits(char *p, size_t n, int leading_nonzero)
{
    const unsigned style = rng() % 4u;
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned r = rng() % 10u;
        if (style == 1 && r < 8) r = 0;
        if (style == 2 && r < 8) r = 9;
        if (style == 3 && i + 1 < n && r < 6) r = i == 0 ? 5 : 0; /* 5000...x */
        if (i == 0 && leading_nonzero && r == 0) r = 1 + rng() % 9u;
        p[i] = (char)('0' + r);
    }
    return n;
}

/* A random JSON number token: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, but no exponent
   right after a lone 0 (QEMU's lexer ends the number there, as "0" then "e5"). */
static size_t random_number(char *p)
{
    size_t n = 0, digits;
    int frac = 0;
    if (rng() % 2u) p[n++] = '-';
    digits = rng() % 4u == 0 ? 0u : 1u + rng() % (rng() % 32u == 0 ? 400u : 22u); /* 0: "0" */
    if (digits) n += random_digits(p + n, digits, 1);
    else p[n++] = '0';
    if (rng() % 2u) {
        p[n++] = '.';
        n += random_digits(p + n, 1u + rng() % (rng() % 32u == 0 ? 400u : 22u), 0);
        frac = 1;
    }
    if (rng() % 2u && (digits || frac)) {
        static const char *const forms[] = {"e", "E", "e+", "e-", "E-", "e-00", "e+0"};
        const char *f = forms[rng() % 7u];
        int e = (int)(rng() % 700u);
        if (rng() % 50u == 0) e = (int)(rng() % 100000000u); /* far out */
        n += (size_t)sprintf(p + n, "%s%d", f, e);
    }
    p[n] = 0;
    return n;
}

/* A double m / 2^n (n in 55..75, m in [2^52, 2^53)) whose exact decimal has 4 then 9s, or 5
   then 0s, after its 17th digit: m * 5^n mod 10^K is 10^K * (1/2 -+ 2^-K) when the residue of
   m * 5^(n-K) mod 2^K is 2^(K-1) -+ 1 (K: the digits after the 17th), so m is solved for. */
static uint64_t near_tie_bits(int above)
{
    const unsigned n = 55u + rng() % 21u;
    uint64_t m = (uint64_t)1 << 52 | ((uint64_t)rng() << 28 ^ rng()), a = 1, inv, mask, t;
    char buf[64];
    unsigned k, i;
    m &= ((uint64_t)1 << 53) - 1u;
    snprintf(buf, sizeof buf, "%.20e", (double)m / 4503599627370496.0 / (double)((uint64_t)1 << (n - 52u)));
    k = (unsigned)(atoi(strchr(buf, 'e') + 1) + (int)n + 1 - 17); /* digits of m * 5^n, less 17 */
    mask = ((uint64_t)1 << k) - 1u;
    for (i = 0; i < n - k; i++) a *= 5u;
    for (inv = a, i = 0; i < 6; i++) inv *= 2u - a * inv; /* a^-1 mod 2^64 */
    t = ((uint64_t)1 << (k - 1u)) + (above ? 1u : mask);
    m = (t * inv) & mask;
    m += ((((uint64_t)1 << 52) - m + mask) >> k) << k; /* the same residue in [2^52, 2^53) */
    return (uint64_t)(1023u + 52u - n) << 52 | (m & (((uint64_t)1 << 52) - 1u));
}

/* Tokens of doubles chosen at the hard places: doubles of every kind (denormals, the normal
   boundary, the largest, around 2^53) printed with 17 digits and with 40, exact midpoints
   between neighbours (ties: half to even) and a hair above and below them, 18-digit ties of
   the 17-digit rounding, and doubles whose 17-digit rounding is nearly a tie. */
static size_t boundary_number(char *p, size_t cap)
{
    uint64_t b = ((uint64_t)rng() << 40 ^ (uint64_t)rng() << 16 ^ rng()) & 0x7FFFFFFFFFFFFFFFu;
    const unsigned where = rng() % 5u, form = rng() % 7u;
    double d, d2;
    long double mid;
    char *e, exp[16];
    size_t n;
    if (where == 0) b &= 0x000FFFFFFFFFFFFFu | (uint64_t)(rng() % 3u) << 52;
    if (where == 1) b = 0x7FEFFFFFFFFFFFFFu - rng() % 4u;
    if (where == 2) b = 0x4340000000000000u - 2u + rng() % 4u;
    if ((b >> 52) == 0x7FF) b = 0;
    memcpy(&d, &b, sizeof d);
    if (form == 0) { /* m / 4 or m / 2, m odd: 18 significant digits ending in 5 */
        uint64_t m = 4000000000000001u + 2u * (((uint64_t)rng() << 24 | rng()) % 2500000000000000u);
        return (size_t)snprintf(p, cap, "%.20g", (double)m / (rng() % 2u ? 4 : 2));
    }
    if (form == 6) {
        b = near_tie_bits((int)(rng() % 2u));
        memcpy(&d, &b, sizeof d);
    }
    if (form == 1 || form == 6) return (size_t)snprintf(p, cap, "%.17g", d);
    if (form == 2) return (size_t)snprintf(p, cap, "%.40e", d);
    b = b == 0x7FEFFFFFFFFFFFFFu ? b - 1u : b + 1u; /* a neighbour: the midpoint, exactly */
    memcpy(&d2, &b, sizeof d2);
    mid = d2 > d ? d + ((long double)d2 - d) / 2 : d + ((long double)d - d2) / 2;
    n = (size_t)snprintf(p, cap, "%.800Le", mid);
    e = strchr(p, 'e');
    if (form == 3 || !e) return n;
    strcpy(exp, e);
    n = (size_t)(e - p);
    while (p[n - 1] == '0') n--;
    if (form == 4 || p[n - 1] == '.') { /* a hair above */
        n += (size_t)sprintf(p + n, "0001");
    } else { /* a hair below */
        p[n - 1]--;
        n += (size_t)sprintf(p + n, "9999");
    }
    return n + (size_t)sprintf(p + n, "%s", exp);
}

/* Re-printed numbers stay within VB_QMP_REPLY_BOUND: the shortest tokens that grow most. */
TEST numbers_within_reply_bound(void)
{
    static const char *const toks[] = {"0.1", "0.3", "-0.1", "1e-7", "-1e-7", "4.9e-324", "1.1", "9e99"};
    size_t len, n;
    unsigned t, pretty;
    ASSERT(big_in || (big_in = (char *)malloc(BIG_IN)) != NULL);
    for (pretty = 0; pretty < 2; pretty++) {
        ASSERT_EQ(0, start(VB_PROFILE_QEMU, 10, VB_QMP_NO_NEGOTIATION | (pretty ? VB_QMP_PRETTY : 0u)));
        for (t = 0; t < sizeof toks / sizeof toks[0]; t++) {
            unsigned i;
            len = (size_t)sprintf(big_in, "{\"execute\":\"x\",\"id\":%s}", toks[t]);
            ASSERTm(toks[t], within_bound(big_in, len, &n));
            len = (size_t)sprintf(big_in, "{\"execute\":\"x\",\"id\":[");
            for (i = 0; i < 5000; i++) len += (size_t)sprintf(big_in + len, "%s%s", i ? "," : "", toks[t]);
            len += (size_t)sprintf(big_in + len, "]}");
            ASSERTm(toks[t], within_bound(big_in, len, &n));
            ASSERT(n > 2u * len); /* the re-printed tokens did grow */
        }
    }
    PASS();
}

#define NUMBERS_PER_COMMAND 200

/* At least a million number tokens through vb_qmp_execute, each echoed as QEMU with glibc
   would: random tokens (up to 800 digits, exponents far out) and boundary doubles. */
TEST numbers_match_glibc(void)
{
    static char msg[1400], tok[NUMBERS_PER_COMMAND][1000], want[32];
    unsigned cmd_no, i;
    unsigned long checked = 0;
    ASSERT(big_in || (big_in = (char *)malloc(BIG_IN)) != NULL);
    ASSERT_EQ(0, start_qemu());
    rng_state = 1618033u;
    for (cmd_no = 0; checked < 1000000u; cmd_no++) {
        size_t len = (size_t)sprintf(big_in, "{\"execute\": \"qmp_capabilities\", \"id\": [");
        const char *r, *at;
        for (i = 0; i < NUMBERS_PER_COMMAND; i++) {
            size_t n = cmd_no % 5u == 4u ? boundary_number(tok[i], sizeof tok[i]) : random_number(tok[i]);
            if (i) big_in[len++] = ',';
            memcpy(big_in + len, tok[i], n);
            len += n;
        }
        len += (size_t)sprintf(big_in + len, "]}");
        r = qmpn(big_in, len);
        if (strncmp(r, "{\"return\": {}, \"id\": [", 22) != 0) FAILm(r);
        for (at = r + 22, i = 0; i < NUMBERS_PER_COMMAND; i++, checked++) {
            size_t n;
            qemu_number(tok[i], want, sizeof want);
            n = strlen(want);
            if (strncmp(at, want, n) != 0 || (at[n] != ',' && at[n] != ']')) {
                snprintf(msg, sizeof msg, "token %.900s: want %s, got %.30s", tok[i], want, at);
                FAILm(msg);
            }
            at += n + 2;
        }
    }
    PASS();
}

/* QEMU's argument visitor: a double is no integer, whatever its value (qom-set and balloon
   answer the type error for every form; recorded). */
TEST numbers_as_arguments(void)
{
    static const char *const vals[] = {"1e3", "1.0", "1e400", "-1e400", "1E+3", "0.0e0", "-0.0", "1e-400",
                                       "2.0e1", "100e-2", "18446744073709551616", "9223372036854775808"};
    static char cmd[256];
    unsigned i;
    ASSERT_EQ(0, start_qemu());
    ASSERT_STR_EQ(OK_EMPTY, run(QOM_SET(PATH, IVL, "3")));
    ASSERT_STR_EQ(OK_EMPTY, run(BALLOON("402653184")));
    for (i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        save_state();
        snprintf(cmd, sizeof cmd, QOM_SET(PATH, IVL, "%s"), vals[i]);
        ASSERT_STR_EQm(cmd, BAD_INT, run(cmd));
        snprintf(cmd, sizeof cmd, BALLOON("%s"), vals[i]);
        ASSERT_STR_EQm(cmd, GEN("Invalid parameter type for 'value', expected: integer"), run(cmd));
        snprintf(cmd, sizeof cmd, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [%s]}}", vals[i]);
        ASSERT_STR_EQm(cmd, GEN("Invalid parameter type for 'enable[0]', expected: string"), run(cmd));
        ASSERT_UNCHANGED();
    }
    ASSERT_STR_EQ(OK_EMPTY, run(QOM_SET(PATH, IVL, "-0"))); /* an integer token */
    PASS();
}

SUITE(qmp)
{
    RUN_TEST(huge_numbers_are_not_integers);
    RUN_TEST(strings_of_1_mib);
    RUN_TEST(qmp_null_pointers_as_documented);
    RUN_TEST(nesting_up_to_1024_is_accepted);
    RUN_TEST(nesting_1025_stream_recovery);
    RUN_TEST(top_level_members_checked_in_qdict_order_utf8);
    RUN_TEST(init_defaults);
    RUN_TEST(balloon_without_ram_size_is_not_active);
    RUN_TEST(caps_required_before_any_command);
    RUN_TEST(caps_envelope_errors_are_not_rewritten);
    RUN_TEST(caps_negotiate_then_commands_work);
    RUN_TEST(caps_twice_is_command_not_found);
    RUN_TEST(caps_twice_bad_arguments_are_checked_first);
    RUN_TEST(caps_not_needed_with_no_negotiation_flag);
    RUN_TEST(caps_enable_oob_and_empty_list);
    RUN_TEST(caps_enable_not_an_array);
    RUN_TEST(caps_enable_unknown_value);
    RUN_TEST(caps_enable_element_not_a_string);

    RUN_TEST(qom_get_guest_stats_qemu_before_driver);
    RUN_TEST(qom_get_guest_stats_qemu_after_linux61_primer);
    RUN_TEST(qom_get_guest_stats_doc_before_any_report);
    RUN_TEST(qom_get_guest_stats_doc_after_report);
    RUN_TEST(qom_get_interval);
    RUN_TEST(qom_get_alias_by_profile);
    RUN_TEST(qom_get_type);
    RUN_TEST(qom_get_unknown_property);
    RUN_TEST(qom_get_paths);

    RUN_TEST(qom_set_interval_enables_polling);
    RUN_TEST(qom_set_same_value_does_not_rearm);
    RUN_TEST(qom_set_alias_in_doc_profile);
    RUN_TEST(qom_set_alias_in_qemu_profile);
    RUN_TEST(qom_set_negative);
    RUN_TEST(qom_set_too_big);
    RUN_TEST(qom_set_max_is_accepted);
    RUN_TEST(qom_set_minus_zero_is_zero);
    RUN_TEST(qom_set_non_integer_values);
    RUN_TEST(qom_set_guest_stats_not_writable);
    RUN_TEST(qom_set_type_not_writable);
    RUN_TEST(qom_telemetry_property);
    RUN_TEST(qom_set_unknown_property);
    RUN_TEST(qom_set_argument_errors_before_path);
    RUN_TEST(qom_set_escaped_names);
    RUN_TEST(qom_set_failure_changes_nothing);

    RUN_TEST(qom_list_exact);
    RUN_TEST(qom_list_errors);
    RUN_TEST(qom_get_every_listed_property);
    RUN_TEST(qom_get_features_follow_the_options);
    RUN_TEST(qom_get_full_device_features);
    RUN_TEST(qmp_free_page_hint_commands);
    RUN_TEST(qom_virtio_backend_child);
    RUN_TEST(qom_set_read_only_properties);
    RUN_TEST(qom_set_static_property_of_mmio_device);
    RUN_TEST(query_version_as_qemu);
    RUN_TEST(query_commands_lists_what_the_session_answers);
    RUN_TEST(host_reply_status);
    RUN_TEST(event_any);

    RUN_TEST(query_balloon_follows_actual);
    RUN_TEST(query_balloon_argument_errors);
    RUN_TEST(balloon_sets_target_and_notifies);
    RUN_TEST(balloon_same_target_notifies_again);
    RUN_TEST(balloon_before_driver_ok_does_not_interrupt);
    RUN_TEST(balloon_bigger_than_ram_clamps);
    RUN_TEST(balloon_zero_or_negative);
    RUN_TEST(balloon_value_not_an_integer);
    RUN_TEST(balloon_argument_errors);
    RUN_TEST(event_balloon_change);

    RUN_TEST(unknown_command);
    RUN_TEST(device_not_found_escapes_the_path);
    RUN_TEST(missing_arguments);
    RUN_TEST(unexpected_arguments);
    RUN_TEST(mistyped_arguments);
    RUN_TEST(argument_check_order);
    RUN_TEST(envelope_errors);
    RUN_TEST(envelope_members_checked_in_qdict_order);

    RUN_TEST(id_position_in_replies);
    RUN_TEST(id_of_every_json_type);
    RUN_TEST(id_doubles_reprinted_as_qemu);
    RUN_TEST(id_strings_are_reescaped);
    RUN_TEST(id_object_members_in_qdict_order);
    RUN_TEST(single_quoted_command);

    RUN_TEST(pretty_guest_stats);
    RUN_TEST(pretty_empty_return);
    RUN_TEST(pretty_errors);
    RUN_TEST(pretty_qom_list_and_scalars);
    RUN_TEST(pretty_ids);

    RUN_TEST(parse_truncated);
    RUN_TEST(parse_bad_keywords);
    RUN_TEST(parse_bad_escapes);
    RUN_TEST(parse_invalid_utf8);
    RUN_TEST(parse_lone_surrogates);
    RUN_TEST(parse_noncharacters);
    RUN_TEST(parse_u0000_accepted_as_qemu);
    RUN_TEST(parse_numbers);
    RUN_TEST(parse_structure_errors);
    RUN_TEST(parse_nesting_depth);
    RUN_TEST(parse_trailing_characters);
    RUN_TEST(parse_nul_bytes);
    RUN_TEST(whitespace_only_gives_no_reply);

    RUN_TEST(short_buffer_does_not_execute_qom_set);
    RUN_TEST(short_buffer_does_not_execute_balloon);
    RUN_TEST(short_buffer_does_not_execute_capabilities);
    RUN_TEST(short_buffer_pretty);
    RUN_TEST(snprintf_contract);
    RUN_TEST(long_id_needs_a_bigger_buffer);

    RUN_TEST(frame_complete_object);
    RUN_TEST(frame_split_at_every_position);
    RUN_TEST(frame_back_to_back);
    RUN_TEST(frame_leading_whitespace_counted);
    RUN_TEST(frame_stray_closers_and_scalars);

    RUN_TEST(greeting_default);
    RUN_TEST(greeting_custom);

    RUN_TEST(observed_qemu72_session);

    RUN_TEST(fuzz_every_prefix);
    RUN_TEST(fuzz_every_substitution);
    RUN_TEST(fuzz_random_mutations);
    RUN_TEST(caps_enable_elements_before_unexpected);
    RUN_TEST(stream_resynchronises_as_qemu);
    RUN_TEST(fuzz_frame);
    RUN_TEST(host_parse_fills_the_spans);
    RUN_TEST(host_parse_refuses_what_execute_answers);
    RUN_TEST(host_arg_int);
    RUN_TEST(host_args_only);
    RUN_TEST(host_reply_id_as_execute);
    RUN_TEST(host_reply_error_text);
    RUN_TEST(host_execute_command_as_execute);
    RUN_TEST(host_command_pattern);
    RUN_TEST(short_buffer_no_effect_at_any_size);
    RUN_TEST(reply_max_holds_replies_without_client_text);
    RUN_TEST(reply_bound_worst_cases);
    RUN_TEST(reply_bound_random_inputs);

    RUN_TEST(dup_keys_refused_as_qemu);
    RUN_TEST(dup_keys_host_parse_refuses);
    RUN_TEST(dup_keys_work_limit);
    RUN_TEST(id_objects_in_qdict_order_recorded);
    RUN_TEST(id_objects_in_qdict_order_random);
    RUN_TEST(id_order_work_limit);
    RUN_TEST(id_deep_nesting_echoed);
    RUN_TEST(id_deep_objects_walked_once_each);
    RUN_TEST(numbers_echoed_as_qemu);
    RUN_TEST(numbers_as_arguments);
    RUN_TEST(numbers_within_reply_bound);
    RUN_TEST(numbers_match_glibc);
}
