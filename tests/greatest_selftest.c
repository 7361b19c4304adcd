/*
 * greatest_selftest.c - exercise tests/greatest.h itself.
 *
 * Many tests here fail on purpose: this program is not a regular test
 * runner.  tests/greatest_selftest.sh builds it, runs it with various flags
 * and compares what it prints with the output greatest v1.5.0 gives.
 *
 * Besides greatest's own flags, one optional word selects a mode (greatest
 * ignores arguments that do not start with '-'):
 *   (none)   the main scenario: suites basics, params, hooks, shuffled, ...
 *   wide     75 passing tests in one suite (progress line wrapping)
 *   nested   a test that calls RUN_TEST from inside a test
 *   longjmp  the *_WITH_LONGJMP macros (build with GREATEST_USE_LONGJMP=1)
 *
 * Keep it C89 (the script also builds it with -std=c89 -pedantic).
 * License: public domain (Unlicense).
 */
#if defined(__cplusplus) && __cplusplus >= 201103L && !defined(GREATEST_VA_ARGS)
#define GREATEST_VA_ARGS /* RUN_TESTp in C++11, so all builds print alike */
#endif
#include "greatest.h"

enum color { RED, GREEN, BLUE };

static const char *color_str(int c)
{
    switch (c) {
    case RED: return "RED";
    case GREEN: return "GREEN";
    case BLUE: return "BLUE";
    default: return "?";
    }
}

/* ---- suite basics: one test per result kind and assertion --------------- */

TEST pass_plain(void)
{
    int one = 1;
    ASSERT(one);
    ASSERT_FALSE(!one);
    ASSERT_EQ(1, one);
    ASSERT_NEQ(2, one);
    ASSERT_GT(2, one);
    ASSERT_GTE(1, one);
    ASSERT_LT(0, one);
    ASSERT_LTE(1, one);
    ASSERT_EQ_FMT(1, one, "%d");
    ASSERT_IN_RANGE(1.0, 1.1, 0.2);
    ASSERT_STR_EQ("abc", "abc");
    ASSERT_STRN_EQ("abcdef", "abcxyz", 3);
    ASSERT_MEM_EQ("ab\0c", "ab\0c", 4);
    ASSERT_ENUM_EQ(GREEN, GREEN, color_str);
    PASS();
}

TEST pass_msg(void) { PASSm("with a message"); }
TEST skip_plain(void) { SKIP(); }
TEST skip_msg(void) { SKIPm("not today"); }
TEST fail_plain(void) { FAIL(); }
TEST fail_msg(void) { FAILm("custom failure"); }

TEST fail_assert(void)
{
    int zero = 0;
    ASSERT(zero);
    PASS();
}

TEST fail_assert_m(void) { ASSERTm("the message", 1 == 2); PASS(); }
TEST fail_false(void) { ASSERT_FALSE(1 + 1 == 2); PASS(); }
TEST fail_eq(void) { int x = 2; ASSERT_EQ(1, x); PASS(); }
TEST fail_neq(void) { ASSERT_NEQ(3, 3); PASS(); }
TEST fail_gt(void) { ASSERT_GT(1, 2); PASS(); }
TEST fail_gte(void) { ASSERT_GTE(1, 2); PASS(); }
TEST fail_lt(void) { ASSERT_LT(2, 1); PASS(); }
TEST fail_lte(void) { ASSERT_LTE(2, 1); PASS(); }
TEST fail_eq_fmt(void) { ASSERT_EQ_FMT(10, 12, "%d"); PASS(); }
TEST fail_eq_fmtm(void) { ASSERT_EQ_FMTm("hex", 0xab, 0xcd, "0x%x"); PASS(); }
TEST fail_in_range(void) { ASSERT_IN_RANGE(1.0, 1.5, 0.25); PASS(); }
TEST fail_in_range_low(void) { ASSERT_IN_RANGE(1.0, 0.5, 0.25); PASS(); }
TEST fail_str_eq(void) { ASSERT_STR_EQ("abc", "abd"); PASS(); }
TEST fail_strn_eq(void) { ASSERT_STRN_EQm("strn", "abcdef", "abcxyz", 4); PASS(); }

TEST fail_mem_eq(void)
{
    static const unsigned char want[20] = {
        'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd', 0, 1, 2, 3, 4,
        0x7f, 0x80, 0xff, '!'
    };
    unsigned char got[20];
    memcpy(got, want, sizeof(got));
    got[4] = 'O';
    got[18] = 0xfe;
    ASSERT_MEM_EQ(want, got, sizeof(want));
    PASS();
}

TEST fail_enum_eq(void) { ASSERT_ENUM_EQ(RED, BLUE, color_str); PASS(); }

struct point {
    int x, y;
};

static int point_equal(const void *expd, const void *got, void *udata)
{
    const struct point *a = (const struct point *)expd;
    const struct point *b = (const struct point *)got;
    (void)udata;
    return a->x == b->x && a->y == b->y;
}

static int point_print(const void *t, void *udata)
{
    const struct point *p = (const struct point *)t;
    return printf("(%d, %d) %s", p->x, p->y, (const char *)udata);
}

static greatest_type_info point_info = { point_equal, point_print };
static greatest_type_info point_info_noprint = { point_equal, NULL };
static greatest_type_info point_info_noequal = { NULL, point_print };

TEST fail_equal_t(void)
{
    struct point a, b;
    a.x = 1; a.y = 2; b.x = 1; b.y = 3;
    ASSERT_EQUAL_T(&a, &a, &point_info, (void *)"units");
    ASSERT_EQUAL_T(&a, &b, &point_info, (void *)"units");
    PASS();
}

TEST fail_equal_t_noprint(void)
{
    struct point a, b;
    a.x = 1; a.y = 2; b.x = 1; b.y = 3;
    ASSERT_EQUAL_Tm("points differ", &a, &b, &point_info_noprint, NULL);
    PASS();
}

TEST fail_equal_t_noequal(void)
{
    struct point a;
    a.x = 1; a.y = 2;
    ASSERT_EQUAL_T(&a, &a, &point_info_noequal, NULL);
    PASS();
}

static enum greatest_test_res check_positive(int v)
{
    ASSERT_GTm("not positive", v, 0);
    PASS();
}

static enum greatest_test_res skip_odd(int v)
{
    if (v % 2) { SKIPm("odd"); }
    PASS();
}

TEST check_call_pass(void) { CHECK_CALL(check_positive(3)); PASS(); }
TEST check_call_fail(void) { CHECK_CALL(check_positive(-3)); PASS(); }
TEST check_call_skip(void) { CHECK_CALL(skip_odd(5)); PASS(); }
TEST not_run(void) { FAIL(); }

SUITE(basics)
{
    RUN_TEST(pass_plain);
    RUN_TEST(pass_msg);
    RUN_TEST(skip_plain);
    RUN_TEST(skip_msg);
    RUN_TEST(fail_plain);
    RUN_TEST(fail_msg);
    RUN_TEST(fail_assert);
    RUN_TEST(fail_assert_m);
    RUN_TEST(fail_false);
    RUN_TEST(fail_eq);
    RUN_TEST(fail_neq);
    RUN_TEST(fail_gt);
    RUN_TEST(fail_gte);
    RUN_TEST(fail_lt);
    RUN_TEST(fail_lte);
    RUN_TEST(fail_eq_fmt);
    RUN_TEST(fail_eq_fmtm);
    RUN_TEST(fail_in_range);
    RUN_TEST(fail_in_range_low);
    RUN_TEST(fail_str_eq);
    RUN_TEST(fail_strn_eq);
    RUN_TEST(fail_mem_eq);
    RUN_TEST(fail_enum_eq);
    RUN_TEST(fail_equal_t);
    RUN_TEST(fail_equal_t_noprint);
    RUN_TEST(fail_equal_t_noequal);
    RUN_TEST(check_call_pass);
    RUN_TEST(check_call_fail);
    RUN_TEST(check_call_skip);
    IGNORE_TEST(not_run);
}

/* ---- suite params: RUN_TEST1, RUN_TESTp, name suffixes ----------------- */

struct env {
    int value;
    const char *name;
};

TEST with_env(const struct env *e)
{
    ASSERT_EQm(e->name, 7, e->value);
    PASS();
}

TEST sum3(int a, int b, int c)
{
    ASSERT_EQ(a + b, c);
    PASS();
}

SUITE(params)
{
    struct env good, bad;
    good.value = 7; good.name = "good";
    bad.value = 8; bad.name = "bad";
    RUN_TEST1(with_env, &good);
    greatest_set_test_suffix("bad");
    RUN_TEST1(with_env, &bad);
    greatest_set_test_suffix(good.name);
    RUN_TEST1(with_env, &good);
    RUN_TEST1(with_env, &good); /* the suffix is gone again */
#ifdef GREATEST_VA_ARGS
    RUN_TESTp(sum3, 1, 2, 3);
    greatest_set_test_suffix("wrong");
    RUN_TESTp(sum3, 1, 2, 4);
#else /* the same calls, spelled out for C89 */
    if (greatest_test_pre("sum3") == 1) {
        greatest_test_post(sum3(1, 2, 3));
    }
    greatest_set_test_suffix("wrong");
    if (greatest_test_pre("sum3") == 1) {
        greatest_test_post(sum3(1, 2, 4));
    }
#endif
}

/* ---- suite hooks: setup/teardown -------------------------------------- */

static unsigned setups, teardowns;
static int hooks_ran;

static void count_setup(void *udata)
{
    setups++;
    *(int *)udata = 1;
}

static void count_teardown(void *udata)
{
    (void)udata;
    teardowns++;
}

TEST hooked_first(void)
{
    ASSERT_EQ(1u, setups);
    ASSERT_EQ(0u, teardowns);
    PASS();
}

TEST hooked_fails(void)
{
    ASSERT_EQ(2u, setups);
    FAILm("teardown still runs");
}

TEST hooked_after_fail(void)
{
    ASSERT_EQ(3u, setups);
    ASSERT_EQ(2u, teardowns);
    PASS();
}

SUITE(hooks)
{
    static int flag;
    hooks_ran = 1;
    SET_SETUP(count_setup, &flag);
    SET_TEARDOWN(count_teardown, NULL);
    RUN_TEST(hooked_first);
    RUN_TEST(hooked_fails);
    RUN_TEST(hooked_after_fail);
}

/* Run from main() after the suite: the hooks are still set (v1.5.0). */
TEST hooks_survive(void)
{
    if (!hooks_ran) { SKIPm("suite hooks did not run"); }
    ASSERT_EQ(teardowns + 1, setups);
    PASS();
}

/* ---- shuffling ------------------------------------------------------------ */

static char order[16];

static enum greatest_test_res mark(char c)
{
    size_t n = strlen(order);
    ASSERT_LT(n, sizeof(order) - 1);
    order[n] = c;
    PASS();
}

TEST sh_a(void) { CHECK_CALL(mark('a')); PASS(); }
TEST sh_b(void) { CHECK_CALL(mark('b')); PASS(); }
TEST sh_c(void) { CHECK_CALL(mark('c')); PASS(); }
TEST sh_d(void) { CHECK_CALL(mark('d')); PASS(); }
TEST sh_e(void) { CHECK_CALL(mark('e')); PASS(); }

TEST shuffle_order(const char *expected)
{
    ASSERT_STR_EQ(expected, order);
    PASS();
}

SUITE(shuffled)
{
    /* Orders worked out from the LCG state = (a * state + c) mod m with
     * count 5, m 8, c 2^31 - 1, skipping states >= 5:
     * seed 42: a 169, states 1 0 7 6 5 4 3 2 -> b a e d c
     * seed 0:  a 5,   states 7 2 1 4 3 6 5 0 -> c b e d a */
    order[0] = '\0';
    SHUFFLE_TESTS(42, {
        RUN_TEST(sh_a);
        RUN_TEST(sh_b);
        RUN_TEST(sh_c);
        RUN_TEST(sh_d);
        RUN_TEST(sh_e);
    });
    greatest_set_test_suffix("42");
    RUN_TEST1(shuffle_order, "baedc");
    memset(order, 0, sizeof(order));
    SHUFFLE_TESTS(0, {
        RUN_TEST(sh_a);
        RUN_TEST(sh_b);
        RUN_TEST(sh_c);
        RUN_TEST(sh_d);
        RUN_TEST(sh_e);
    });
    greatest_set_test_suffix("0");
    RUN_TEST1(shuffle_order, "cbeda");
}

TEST trivial(void) { PASS(); }

SUITE(sx) { RUN_TEST(trivial); }
SUITE(sy) { RUN_TEST(trivial); }
SUITE(sz) { RUN_TEST(trivial); }

/* ---- other modes ---------------------------------------------------------- */

SUITE(wide)
{
    int i;
    for (i = 0; i < 75; i++) {
        RUN_TEST(trivial);
    }
}

TEST outer(void)
{
    RUN_TEST(trivial); /* refused: prints an error to stderr */
    PASS();
}

#if GREATEST_USE_LONGJMP
static void deep_check(int v)
{
    ASSERT_OR_LONGJMPm("deep check", v > 0);
}

TEST lj_pass(void) { deep_check(1); ASSERT_OR_LONGJMP(1); PASS(); }
TEST lj_assert(void) { deep_check(0); PASS(); }
TEST lj_assert_plain(void) { int zero = 0; ASSERT_OR_LONGJMP(zero); PASS(); }
TEST lj_fail(void) { FAIL_WITH_LONGJMPm("jumped"); }
TEST lj_fail_plain(void) { FAIL_WITH_LONGJMP(); }

SUITE(jumps)
{
    RUN_TEST(lj_pass);
    RUN_TEST(lj_assert);
    RUN_TEST(lj_assert_plain);
    RUN_TEST(lj_fail);
    RUN_TEST(lj_fail_plain);
    RUN_TEST(lj_pass);
}
#endif

GREATEST_MAIN_DEFS();

int main(int argc, char **argv)
{
    const char *mode = "";
    int i;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            break;
        }
        if (argv[i][0] != '-' && (i == 1 || argv[i - 1][0] != '-' ||
                                  argv[i - 1][1] == '\0' ||
                                  strchr("stx", argv[i - 1][1]) == NULL)) {
            mode = argv[i];
        }
    }

    GREATEST_MAIN_BEGIN();
    if (strcmp(mode, "wide") == 0) {
        RUN_SUITE(wide);
    } else if (strcmp(mode, "nested") == 0) {
        RUN_TEST(outer);
        RUN_TEST(trivial);
#if GREATEST_USE_LONGJMP
    } else if (strcmp(mode, "longjmp") == 0) {
        RUN_SUITE(jumps);
#endif
    } else {
        RUN_TEST(trivial); /* outside any suite */
        RUN_SUITE(basics);
        RUN_SUITE(params);
        RUN_SUITE(hooks);
        RUN_TEST(hooks_survive);
        RUN_SUITE(shuffled);
        /* seed 3: a 13, m 4, states 2 1 0 -> sz sy sx */
    SHUFFLE_SUITES(3, {
            RUN_SUITE(sx);
            RUN_SUITE(sy);
            RUN_SUITE(sz);
        });
    }
    GREATEST_MAIN_END();
}
