/*
 * test_greatest.c - checks of tests/greatest.h that must all pass.
 *
 * A normal runner (exit status 0 when everything passes) looking at the
 * framework's state from inside tests: assertion counting, report folding,
 * hooks, name suffixes, the type-info callbacks and the shuffle passes.
 * Failure output and the command-line flags are covered by
 * greatest_selftest.c / greatest_selftest.sh.
 *
 * Ends with a CI line "test_greatest: N passed, N failed, N skipped".
 * C89; license: public domain (Unlicense).
 */
#include "greatest.h"

enum fruit { APPLE, PEAR };

static const char *fruit_str(int f)
{
    return f == APPLE ? "APPLE" : f == PEAR ? "PEAR" : "?";
}

/* ---- assertion counting ------------------------------------------------ */

TEST counts_each_assertion(void)
{
    unsigned before = greatest_info.assertions;
    unsigned char mem[3];
    mem[0] = 1; mem[1] = 2; mem[2] = 3;
    ASSERT(1);
    ASSERTm("m", 1);
    ASSERT_FALSE(0);
    ASSERT_EQ(2, 2);
    ASSERT_NEQ(2, 3);
    ASSERT_GT(3, 2);
    ASSERT_GTE(3, 3);
    ASSERT_LT(2, 3);
    ASSERT_LTE(3, 3);
    ASSERT_EQ_FMT(5, 5, "%d");
    ASSERT_IN_RANGE(1.0, 1.25, 0.25);  /* the boundary is inside */
    ASSERT_IN_RANGE(1.25, 1.0, 0.25);
    ASSERT_STR_EQ("x", "x");
    ASSERT_STRN_EQ("abc", "abd", 2);
    ASSERT_MEM_EQ(mem, mem, sizeof(mem));
    ASSERT_MEM_EQ("a", "b", 0);        /* zero bytes are always equal */
    ASSERT_EQUAL_T("s", "s", &greatest_type_info_string, NULL);
    ASSERT_EQ(before + 18, greatest_info.assertions); /* 17 + this one */
    PASS();
}

TEST enum_eq_is_not_counted(void)
{
    unsigned before = greatest_info.assertions;
    ASSERT_ENUM_EQ(PEAR, PEAR, fruit_str);
    ASSERT_ENUM_EQm("m", APPLE, APPLE, fruit_str);
    ASSERT_EQ(before + 1, greatest_info.assertions); /* only this one */
    PASS();
}

static unsigned helper_line;

static enum greatest_test_res helper(int v)
{
    helper_line = __LINE__ + 1;
    ASSERT_GT(v, 0);
    PASS();
}

TEST check_call_counts_the_helper(void)
{
    unsigned before = greatest_info.assertions;
    CHECK_CALL(helper(1));
    CHECK_CALL(helper(2));
    ASSERT_EQ(before + 3, greatest_info.assertions);
    PASS();
}

TEST check_call_returns_the_result(void)
{
    ASSERT_EQ(GREATEST_TEST_RES_PASS, helper(1));
    ASSERT_EQ(GREATEST_TEST_RES_FAIL, helper(-1));
    ASSERT_EQ(helper_line, greatest_info.fail_line);
    ASSERT_STR_EQ("v <= 0", greatest_info.msg);
    ASSERT_STR_EQ(__FILE__, greatest_info.fail_file);
    PASS();
}

SUITE(counting)
{
    RUN_TEST(counts_each_assertion);
    RUN_TEST(enum_eq_is_not_counted);
    RUN_TEST(check_call_counts_the_helper);
    RUN_TEST(check_call_returns_the_result);
}

/* ---- type-info callbacks ----------------------------------------------- */

TEST string_type_info(void)
{
    size_t n = 3;
    greatest_type_info *ti = &greatest_type_info_string;
    ASSERT(ti->equal != NULL && ti->print != NULL);
    ASSERT(ti->equal("abc", "abc", NULL));
    ASSERT_FALSE(ti->equal("abc", "abd", NULL));
    ASSERT(ti->equal("abcX", "abcY", &n));
    ASSERT_FALSE(ti->equal("abXX", "abYY", &n));
    ASSERT(greatest_do_assert_equal_t("q", "q", ti, NULL));
    ASSERT_FALSE(greatest_do_assert_equal_t("q", "q", NULL, NULL));
    PASS();
}

TEST memory_type_info(void)
{
    static const unsigned char a[4] = { 1, 2, 3, 4 };
    static const unsigned char b[4] = { 1, 2, 3, 5 };
    greatest_memory_cmp_env env;
    greatest_type_info *ti = &greatest_type_info_memory;
    env.exp = a;
    env.got = b;
    env.size = 3;
    ASSERT(ti->equal(a, b, &env));
    env.size = 4;
    ASSERT_FALSE(ti->equal(a, b, &env));
    PASS();
}

SUITE(type_infos)
{
    RUN_TEST(string_type_info);
    RUN_TEST(memory_type_info);
}

/* ---- runner state ------------------------------------------------------- */

static struct greatest_report_t at_start;

TEST report_is_folded_at_suite_start(void)
{
    struct greatest_report_t r;
    greatest_get_report(NULL);                 /* NULL-safe */
    greatest_get_report(&r);
    /* main() read at_start after suite type_infos had finished, but its
     * two passes were only folded into the totals when this suite began */
    ASSERT_EQ(at_start.passed + 2, r.passed);
    ASSERT_EQ(at_start.failed, r.failed);
    ASSERT_EQ(0u, greatest_info.suite.passed);
    ASSERT_EQ(0u, greatest_info.suite.tests_run);
    PASS();
}

TEST suite_counters_run(void)
{
    ASSERT_EQ(1u, greatest_info.suite.passed);
    ASSERT_EQ(1u, greatest_info.suite.tests_run);
    ASSERT(greatest_info.running_test);
    ASSERT_FALSE(GREATEST_FAILURE_ABORT());
    PASS();
}

TEST name_buffer(const char *expected)
{
    ASSERT_STR_EQ(expected, greatest_info.name_buf);
    PASS();
}

TEST verbosity_and_flags(void)
{
    unsigned saved = greatest_get_verbosity();
    unsigned int flags = greatest_info.flags;
    greatest_set_verbosity(3);
    ASSERT_EQ(3u, greatest_get_verbosity());
    ASSERT(GREATEST_IS_VERBOSE());
    greatest_set_verbosity(0);
    ASSERT_FALSE(GREATEST_IS_VERBOSE());
    greatest_set_verbosity(saved);
    greatest_set_flag(GREATEST_FLAG_LIST_ONLY);
    ASSERT(GREATEST_LIST_ONLY());
    greatest_info.flags = flags;
    ASSERT_FALSE(GREATEST_ABORT_ON_FAIL());
    ASSERT_EQ(GREATEST_TEST_RES_PASS, GREATEST_SAVE_CONTEXT());
    ASSERT_EQ(1, greatest_all_passed());
    PASS();
}

SUITE(state)
{
    char longer[GREATEST_TESTNAME_BUF_SIZE + 8];
    memset(longer, 'x', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';

    RUN_TEST(report_is_folded_at_suite_start);
    RUN_TEST(suite_counters_run);
    RUN_TEST1(name_buffer, "name_buffer");
    greatest_set_test_suffix("sfx");
    RUN_TEST1(name_buffer, "name_buffer_sfx");
    RUN_TEST1(name_buffer, "name_buffer");
    greatest_set_test_suffix(longer);           /* does not fit: dropped */
    RUN_TEST1(name_buffer, "name_buffer");
    RUN_TEST(verbosity_and_flags);
}

/* ---- hooks ---------------------------------------------------------------- */

static int setup_calls, teardown_calls;

static void setup_cb(void *udata)
{
    setup_calls += *(const int *)udata;
}

static void teardown_cb(void *udata)
{
    (void)udata;
    teardown_calls++;
}

TEST hook_order(int n)
{
    ASSERT_EQ(n, setup_calls);
    ASSERT_EQ(n - 1, teardown_calls);
    PASS();
}

TEST hooks_were_cleared(void)
{
    ASSERT(greatest_info.setup == NULL);
    ASSERT(greatest_info.teardown == NULL);
    PASS();
}

SUITE(hooks)
{
    static int one = 1;
    setup_calls = teardown_calls = 0;
    SET_SETUP(setup_cb, &one);
    SET_TEARDOWN(teardown_cb, NULL);
    RUN_TEST1(hook_order, 1);
    RUN_TEST1(hook_order, 2);
}

SUITE(after_hooks)
{
    /* a suite start clears the hooks of the previous one */
    RUN_TEST(hooks_were_cleared);
}

/* ---- shuffling ------------------------------------------------------------ */

static unsigned body_runs, ran_mask;

TEST sh_bit(unsigned bit)
{
    ASSERT_EQ(0u, ran_mask & bit);             /* exactly once each */
    ran_mask |= bit;
    PASS();
}

struct shuffle_expect {
    unsigned mask, passes;
};

TEST shuffle_ran_all(const struct shuffle_expect *e)
{
    ASSERT_EQ(e->mask, ran_mask);
    ASSERT_EQ(e->passes, body_runs);
    ASSERT_EQ(0, greatest_info.prng[1].random_order);
    PASS();
}

SUITE(shuffle)
{
    static const struct shuffle_expect all7 = { 127, 8 };
    static const struct shuffle_expect one = { 1, 2 };
    static const struct shuffle_expect none = { 0, 1 };
    /* volatile: with GREATEST_USE_LONGJMP, RUN_TEST calls setjmp */
    volatile unsigned long seed;
    for (seed = 0; seed < 40; seed += 3) {
        body_runs = ran_mask = 0;
        SHUFFLE_TESTS(seed, {
            body_runs++;
            RUN_TEST1(sh_bit, 1u);
            RUN_TEST1(sh_bit, 2u);
            RUN_TEST1(sh_bit, 4u);
            RUN_TEST1(sh_bit, 8u);
            RUN_TEST1(sh_bit, 16u);
            RUN_TEST1(sh_bit, 32u);
            RUN_TEST1(sh_bit, 64u);
        });
        RUN_TEST1(shuffle_ran_all, &all7);
    }
    body_runs = ran_mask = 0;
    SHUFFLE_TESTS(12345, { body_runs++; RUN_TEST1(sh_bit, 1u); });
    RUN_TEST1(shuffle_ran_all, &one);
    body_runs = ran_mask = 0;
    SHUFFLE_TESTS(9, { body_runs++; });        /* nothing to run */
    RUN_TEST1(shuffle_ran_all, &none);
}

/* ---- runner ----------------------------------------------------------------- */

TEST outside_suites(void) { PASS(); }
TEST skipped_outside(void) { SKIPm("skips do not fail a run"); }

GREATEST_MAIN_DEFS();

int main(int argc, char **argv)
{
    struct greatest_report_t r;
    GREATEST_MAIN_BEGIN();
    RUN_TEST(outside_suites);
    RUN_SUITE(counting);
    RUN_SUITE(type_infos);
    greatest_get_report(&at_start);
    RUN_SUITE(state);
    RUN_SUITE(hooks);
    RUN_SUITE(after_hooks);
    RUN_SUITE(shuffle);
    RUN_TEST(skipped_outside);
    if (GREATEST_LIST_ONLY()) {
        GREATEST_MAIN_END();
    }
    GREATEST_PRINT_REPORT();
    greatest_get_report(&r);
    if (r.skipped == 1) /* the reason, for tests/run_all.sh's summary */
        printf("test_greatest: skipped: skipped_outside, on purpose (a test of SKIPm)\n");
    printf("test_greatest: %u passed, %u failed, %u skipped\n",
           r.passed, r.failed, r.skipped);
    return greatest_all_passed() ? EXIT_SUCCESS : EXIT_FAILURE;
}
