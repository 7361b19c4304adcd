/*
 * greatest.h - unit-test framework header (greatest v1.5.0 API) - public domain
 *
 * An independent implementation of the API of "greatest", the single-header
 * C unit-testing library by Scott Vokes, written from its documentation only
 * (no upstream code).  Macro names and arities, the public types, functions
 * and globals, the command-line flags, the exit status and the text printed
 * follow greatest v1.5.0, so test files written for greatest build against
 * this header and produce the same output.
 *
 * License: public domain (Unlicense).  Do whatever you want with it; there is
 * no warranty.
 *
 * ------------------------------------------------------------------------
 * Usage
 * ------------------------------------------------------------------------
 *
 *     #include "greatest.h"
 *
 *     TEST adds(void) { ASSERT_EQ(4, 2 + 2); PASS(); }
 *     TEST named(const char *s) { ASSERT_STR_EQm("bad name", "x", s); PASS(); }
 *
 *     SUITE(arith) { RUN_TEST(adds); RUN_TEST1(named, "x"); }
 *
 *     GREATEST_MAIN_DEFS();               (exactly one file of the runner)
 *
 *     int main(int argc, char **argv) {
 *         GREATEST_MAIN_BEGIN();          (parses argc/argv)
 *         RUN_SUITE(arith);
 *         GREATEST_MAIN_END();            (prints the report, returns 0 or 1)
 *     }
 *
 * A test returns enum greatest_test_res; every ASSERT* returns FAIL from the
 * test on failure.  Helpers that assert return the same enum and are called
 * through CHECK_CALL().  Suites defined in another file are declared with
 * SUITE_EXTERN(name);.  Run a runner with -h for its flags.
 *
 * Compile-time options (define before including; all have defaults):
 *   GREATEST_DEFAULT_WIDTH (72)     progress characters per line
 *   GREATEST_STDOUT (stdout)        stream for all report output
 *   GREATEST_USE_ABBREVS (1)        define TEST, ASSERT_EQ, ... short names
 *   GREATEST_USE_LONGJMP (0)        enable FAIL_WITH_LONGJMP/ASSERT_OR_LONGJMP
 *                                   (RUN_TEST then calls setjmp: locals of
 *                                   a suite changed between runs must be
 *                                   volatile)
 *   GREATEST_FPRINTF (fprintf)      printing function, fprintf's signature
 *   GREATEST_USE_TIME (1)           time tests, suites and the whole run
 *   GREATEST_FLOAT (double), GREATEST_FLOAT_FMT ("%g")  ASSERT_IN_RANGE type
 *   GREATEST_TESTNAME_BUF_SIZE (128) room for "name_suffix"
 *   GREATEST_NO_EXTERN_CPLUSPLUS    no extern "C" block under C++
 *
 * Behaviour kept identical to greatest v1.5.0 on purpose (so output and
 * counts match a runner built against the original):
 *   - ASSERT_ENUM_EQ does not add to the assertion count;
 *   - setup/teardown hooks are cleared when a suite *starts* and by
 *     GREATEST_PRINT_REPORT(), not when a suite ends, so hooks set inside a
 *     suite stay active for tests run directly from main() afterwards.
 * Local choices: the "init_second_pass" seeding trace that the original
 * prints to stderr when shuffling is only printed in verbose mode (-v);
 * with -e the exclude filter (-x) must match the whole name as well; the
 * exact spacing of the ASSERT_MEM_EQ hexdump is this header's own.
 */
#ifndef GREATEST_H
#define GREATEST_H

#define GREATEST_VERSION_MAJOR 1
#define GREATEST_VERSION_MINOR 5
#define GREATEST_VERSION_PATCH 0

/* ---------------------------------------------------------------------- */
/* Options                                                                */
/* ---------------------------------------------------------------------- */

#ifndef GREATEST_DEFAULT_WIDTH
#define GREATEST_DEFAULT_WIDTH 72
#endif

#ifndef GREATEST_STDOUT
#define GREATEST_STDOUT stdout
#endif

#ifndef GREATEST_USE_ABBREVS
#define GREATEST_USE_ABBREVS 1
#endif

#ifndef GREATEST_USE_LONGJMP
#define GREATEST_USE_LONGJMP 0
#endif

#ifndef GREATEST_FPRINTF
#define GREATEST_FPRINTF fprintf
#endif

#ifndef GREATEST_USE_TIME
#define GREATEST_USE_TIME 1
#endif

#ifndef GREATEST_FLOAT
#define GREATEST_FLOAT double
#define GREATEST_FLOAT_FMT "%g"
#endif

#ifndef GREATEST_TESTNAME_BUF_SIZE
#define GREATEST_TESTNAME_BUF_SIZE 128
#endif

#ifndef GREATEST_VA_ARGS
#if (defined(__STDC_VERSION__) && __STDC_VERSION__ >= 199901L) || \
    (defined(_MSC_VER) && _MSC_VER >= 1800)
#define GREATEST_VA_ARGS
#endif
#endif

#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <ctype.h>
#if GREATEST_USE_TIME
#include <time.h>
#endif
#if GREATEST_USE_LONGJMP
#include <setjmp.h>
#endif

#if defined(__cplusplus) && !defined(GREATEST_NO_EXTERN_CPLUSPLUS)
extern "C" {
#endif

/* ---------------------------------------------------------------------- */
/* Types                                                                  */
/* ---------------------------------------------------------------------- */

typedef enum greatest_test_res {
    GREATEST_TEST_RES_PASS = 0,
    GREATEST_TEST_RES_FAIL = -1,
    GREATEST_TEST_RES_SKIP = 1
} greatest_test_res;

typedef void greatest_suite_cb(void);
typedef void greatest_setup_cb(void *udata);
typedef void greatest_teardown_cb(void *udata);

/* Non-zero when *expd and *got are equal. */
typedef int greatest_equal_cb(const void *expd, const void *got, void *udata);
/* Print *t to GREATEST_STDOUT; returns what printf would. */
typedef int greatest_printf_cb(const void *t, void *udata);

typedef struct greatest_type_info {
    greatest_equal_cb *equal;
    greatest_printf_cb *print;
} greatest_type_info;

typedef struct greatest_memory_cmp_env {
    const unsigned char *exp;
    const unsigned char *got;
    size_t size;
} greatest_memory_cmp_env;

extern greatest_type_info greatest_type_info_string;
extern greatest_type_info greatest_type_info_memory;

typedef enum {
    GREATEST_FLAG_FIRST_FAIL = 0x01,
    GREATEST_FLAG_LIST_ONLY = 0x02,
    GREATEST_FLAG_ABORT_ON_FAIL = 0x04
} greatest_flag_t;

typedef const char *greatest_enum_str_fun(int value);

struct greatest_report_t {
    unsigned int passed;
    unsigned int failed;
    unsigned int skipped;
    unsigned int assertions;
};

/* Shuffle state: a linear congruential generator modulo m (a power of 2). */
struct greatest_prng {
    unsigned char random_order; /* inside SHUFFLE_* */
    unsigned char initialized;  /* counting pass done, generator seeded */
    unsigned long state;        /* index of the item whose turn it is */
    unsigned long count;        /* items seen in the current pass */
    unsigned long count_ceil;   /* items seen in the counting pass */
    unsigned long count_run;    /* items run so far */
    unsigned long a;
    unsigned long c;
    unsigned long m;
};

typedef struct greatest_suite_info {
    unsigned int tests_run;
    unsigned int passed;
    unsigned int failed;
    unsigned int skipped;
#if GREATEST_USE_TIME
    clock_t pre_suite;
    clock_t post_suite;
    clock_t pre_test;
    clock_t post_test;
#endif
} greatest_suite_info;

typedef struct greatest_run_info {
    unsigned int flags;            /* greatest_flag_t bits */
    unsigned int verbosity;
    unsigned char running_test;
    unsigned char exact_name_match;

    unsigned int tests_run;        /* totals, folded in at suite starts */
    greatest_suite_info suite;     /* counters of the current suite */
    unsigned int passed;
    unsigned int failed;
    unsigned int skipped;
    unsigned int assertions;

    unsigned int fail_line;        /* where the last failure happened */
    const char *fail_file;
    const char *msg;

    greatest_setup_cb *setup;
    void *setup_udata;
    greatest_teardown_cb *teardown;
    void *teardown_udata;

    unsigned int col;              /* progress characters on this line */
    unsigned int width;

    const char *suite_filter;
    const char *test_filter;
    const char *test_exclude;
    const char *name_suffix;
    char name_buf[GREATEST_TESTNAME_BUF_SIZE];

    struct greatest_prng prng[2];  /* 0: suites, 1: tests */

#if GREATEST_USE_TIME
    clock_t begin;
    clock_t end;
#endif
#if GREATEST_USE_LONGJMP
    jmp_buf jump_dest;
#endif
} greatest_run_info;

extern greatest_run_info greatest_info;

/* ---------------------------------------------------------------------- */
/* Functions (defined by GREATEST_MAIN_DEFS)                              */
/* ---------------------------------------------------------------------- */

void GREATEST_INIT(void);
void GREATEST_PRINT_REPORT(void);
int greatest_all_passed(void);
void GREATEST_SET_SETUP_CB(greatest_setup_cb *cb, void *udata);
void GREATEST_SET_TEARDOWN_CB(greatest_teardown_cb *cb, void *udata);
void greatest_set_suite_filter(const char *filter);
void greatest_set_test_filter(const char *filter);
void greatest_set_test_exclude(const char *filter);
void greatest_set_exact_name_match(void);
void greatest_stop_at_first_fail(void);
void greatest_abort_on_fail(void);
void greatest_list_only(void);
void greatest_get_report(struct greatest_report_t *report);
unsigned int greatest_get_verbosity(void);
void greatest_set_verbosity(unsigned int verbosity);
void greatest_set_flag(greatest_flag_t flag);
void greatest_set_test_suffix(const char *suffix);

/* Used by the macros; not meant to be called directly. */
int greatest_test_pre(const char *name);
void greatest_test_post(int res);
int greatest_do_assert_equal_t(const void *expd, const void *got,
                               greatest_type_info *type_info, void *udata);
void greatest_prng_init_first_pass(int id);
int greatest_prng_init_second_pass(int id, unsigned long seed);
void greatest_prng_step(int id);

#if defined(__cplusplus) && !defined(GREATEST_NO_EXTERN_CPLUSPLUS)
}
#endif

/* ---------------------------------------------------------------------- */
/* Declaring and running tests and suites                                 */
/* ---------------------------------------------------------------------- */

#define GREATEST_TEST static enum greatest_test_res

#define GREATEST_SUITE(NAME) void NAME(void); void NAME(void)
#define GREATEST_SUITE_EXTERN(NAME) void NAME(void)

#define GREATEST_RUN_SUITE(S_NAME) greatest_run_suite(S_NAME, #S_NAME)

#define GREATEST_IGNORE_TEST(TEST) (void)TEST

#if GREATEST_USE_LONGJMP
#define GREATEST_SAVE_CONTEXT()                                         \
    ((enum greatest_test_res)(setjmp(greatest_info.jump_dest)))
/* setjmp only where the C standard allows it: a whole controlling
 * expression comparing with a constant. */
#define GREATEST_CONTEXT_SAVED_() (setjmp(greatest_info.jump_dest) == 0)
#else
#define GREATEST_SAVE_CONTEXT() GREATEST_TEST_RES_PASS
#define GREATEST_CONTEXT_SAVED_() 1
#endif

#define GREATEST_RUN_TEST(TEST)                                         \
    do {                                                                \
        if (greatest_test_pre(#TEST) == 1) {                            \
            if (GREATEST_CONTEXT_SAVED_()) {                            \
                greatest_test_post(TEST());                             \
            } else {                                                    \
                greatest_test_post(GREATEST_TEST_RES_FAIL);             \
            }                                                           \
        }                                                               \
    } while (0)

#define GREATEST_RUN_TEST1(TEST, ENV)                                   \
    do {                                                                \
        if (greatest_test_pre(#TEST) == 1) {                            \
            if (GREATEST_CONTEXT_SAVED_()) {                            \
                greatest_test_post(TEST(ENV));                          \
            } else {                                                    \
                greatest_test_post(GREATEST_TEST_RES_FAIL);             \
            }                                                           \
        }                                                               \
    } while (0)

#ifdef GREATEST_VA_ARGS
#define GREATEST_RUN_TESTp(TEST, ...)                                   \
    do {                                                                \
        if (greatest_test_pre(#TEST) == 1) {                            \
            if (GREATEST_CONTEXT_SAVED_()) {                            \
                greatest_test_post(TEST(__VA_ARGS__));                  \
            } else {                                                    \
                greatest_test_post(GREATEST_TEST_RES_FAIL);             \
            }                                                           \
        }                                                               \
    } while (0)
#endif

#define GREATEST_IS_VERBOSE() (greatest_info.verbosity > 0)
#define GREATEST_LIST_ONLY() (greatest_info.flags & GREATEST_FLAG_LIST_ONLY)
#define GREATEST_FIRST_FAIL() (greatest_info.flags & GREATEST_FLAG_FIRST_FAIL)
#define GREATEST_ABORT_ON_FAIL()                                        \
    (greatest_info.flags & GREATEST_FLAG_ABORT_ON_FAIL)
#define GREATEST_FAILURE_ABORT()                                        \
    (GREATEST_FIRST_FAIL() &&                                           \
     (greatest_info.suite.failed > 0 || greatest_info.failed > 0))

/* ---------------------------------------------------------------------- */
/* Results                                                                */
/* ---------------------------------------------------------------------- */

#define GREATEST_PASS() GREATEST_PASSm(NULL)
#define GREATEST_PASSm(MSG)                                             \
    do {                                                                \
        greatest_info.msg = MSG;                                        \
        return GREATEST_TEST_RES_PASS;                                  \
    } while (0)

#define GREATEST_FAIL() GREATEST_FAILm(NULL)
#define GREATEST_FAILm(MSG)                                             \
    do {                                                                \
        greatest_info.fail_file = __FILE__;                             \
        greatest_info.fail_line = __LINE__;                             \
        greatest_info.msg = MSG;                                        \
        if (GREATEST_ABORT_ON_FAIL()) { abort(); }                      \
        return GREATEST_TEST_RES_FAIL;                                  \
    } while (0)

#define GREATEST_SKIP() GREATEST_SKIPm(NULL)
#define GREATEST_SKIPm(MSG)                                             \
    do {                                                                \
        greatest_info.msg = MSG;                                        \
        return GREATEST_TEST_RES_SKIP;                                  \
    } while (0)

#define GREATEST_CHECK_CALL(RES)                                        \
    do {                                                                \
        enum greatest_test_res greatest_check_res_ = (RES);             \
        if (greatest_check_res_ != GREATEST_TEST_RES_PASS) {            \
            return greatest_check_res_;                                 \
        }                                                               \
    } while (0)

#if GREATEST_USE_LONGJMP
#define GREATEST_FAIL_WITH_LONGJMP() GREATEST_FAIL_WITH_LONGJMPm(NULL)
#define GREATEST_FAIL_WITH_LONGJMPm(MSG)                                \
    do {                                                                \
        greatest_info.fail_file = __FILE__;                             \
        greatest_info.fail_line = __LINE__;                             \
        greatest_info.msg = MSG;                                        \
        if (GREATEST_ABORT_ON_FAIL()) { abort(); }                      \
        longjmp(greatest_info.jump_dest, GREATEST_TEST_RES_FAIL);       \
    } while (0)
#define GREATEST_ASSERT_OR_LONGJMP(COND)                                \
    GREATEST_ASSERT_OR_LONGJMPm(#COND, COND)
#define GREATEST_ASSERT_OR_LONGJMPm(MSG, COND)                          \
    do {                                                                \
        greatest_info.assertions++;                                     \
        if (!(COND)) { GREATEST_FAIL_WITH_LONGJMPm(MSG); }              \
    } while (0)
#endif

/* ---------------------------------------------------------------------- */
/* Assertions (each m variant takes the failure message first)            */
/* ---------------------------------------------------------------------- */

#define GREATEST_ASSERT(COND) GREATEST_ASSERTm(#COND, COND)
#define GREATEST_ASSERTm(MSG, COND)                                     \
    do {                                                                \
        greatest_info.assertions++;                                     \
        if (!(COND)) { GREATEST_FAILm(MSG); }                           \
    } while (0)

#define GREATEST_ASSERT_FALSE(COND) GREATEST_ASSERT_FALSEm(#COND, COND)
#define GREATEST_ASSERT_FALSEm(MSG, COND)                               \
    do {                                                                \
        greatest_info.assertions++;                                     \
        if ((COND)) { GREATEST_FAILm(MSG); }                            \
    } while (0)

/* Shared body of the comparison assertions: OP is the failing relation. */
#define GREATEST_ASSERT_CMP_(MSG, EXP, OP, GOT)                         \
    do {                                                                \
        greatest_info.assertions++;                                     \
        if ((EXP) OP (GOT)) { GREATEST_FAILm(MSG); }                    \
    } while (0)

#define GREATEST_ASSERT_EQ(EXP, GOT)                                    \
    GREATEST_ASSERT_EQm(#EXP " != " #GOT, EXP, GOT)
#define GREATEST_ASSERT_EQm(MSG, EXP, GOT)                              \
    GREATEST_ASSERT_CMP_(MSG, EXP, !=, GOT)
#define GREATEST_ASSERT_NEQ(EXP, GOT)                                   \
    GREATEST_ASSERT_NEQm(#EXP " == " #GOT, EXP, GOT)
#define GREATEST_ASSERT_NEQm(MSG, EXP, GOT)                             \
    GREATEST_ASSERT_CMP_(MSG, EXP, ==, GOT)
#define GREATEST_ASSERT_GT(EXP, GOT)                                    \
    GREATEST_ASSERT_GTm(#EXP " <= " #GOT, EXP, GOT)
#define GREATEST_ASSERT_GTm(MSG, EXP, GOT)                              \
    GREATEST_ASSERT_CMP_(MSG, EXP, <=, GOT)
#define GREATEST_ASSERT_GTE(EXP, GOT)                                   \
    GREATEST_ASSERT_GTEm(#EXP " < " #GOT, EXP, GOT)
#define GREATEST_ASSERT_GTEm(MSG, EXP, GOT)                             \
    GREATEST_ASSERT_CMP_(MSG, EXP, <, GOT)
#define GREATEST_ASSERT_LT(EXP, GOT)                                    \
    GREATEST_ASSERT_LTm(#EXP " >= " #GOT, EXP, GOT)
#define GREATEST_ASSERT_LTm(MSG, EXP, GOT)                              \
    GREATEST_ASSERT_CMP_(MSG, EXP, >=, GOT)
#define GREATEST_ASSERT_LTE(EXP, GOT)                                   \
    GREATEST_ASSERT_LTEm(#EXP " > " #GOT, EXP, GOT)
#define GREATEST_ASSERT_LTEm(MSG, EXP, GOT)                             \
    GREATEST_ASSERT_CMP_(MSG, EXP, >, GOT)

/* EXP, GOT and FMT are evaluated again on failure to print them. */
#define GREATEST_ASSERT_EQ_FMT(EXP, GOT, FMT)                           \
    GREATEST_ASSERT_EQ_FMTm(#EXP " != " #GOT, EXP, GOT, FMT)
#define GREATEST_ASSERT_EQ_FMTm(MSG, EXP, GOT, FMT)                     \
    do {                                                                \
        greatest_info.assertions++;                                     \
        if ((EXP) != (GOT)) {                                           \
            GREATEST_FPRINTF(GREATEST_STDOUT, "\nExpected: ");          \
            GREATEST_FPRINTF(GREATEST_STDOUT, FMT, EXP);                \
            GREATEST_FPRINTF(GREATEST_STDOUT, "\n     Got: ");          \
            GREATEST_FPRINTF(GREATEST_STDOUT, FMT, GOT);                \
            GREATEST_FPRINTF(GREATEST_STDOUT, "\n");                    \
            GREATEST_FAILm(MSG);                                        \
        }                                                               \
    } while (0)

#define GREATEST_ASSERT_IN_RANGE(EXP, GOT, TOL)                         \
    GREATEST_ASSERT_IN_RANGEm(#EXP " != " #GOT " +/- " #TOL, EXP, GOT, TOL)
#define GREATEST_ASSERT_IN_RANGEm(MSG, EXP, GOT, TOL)                   \
    do {                                                                \
        GREATEST_FLOAT greatest_exp_ = (GREATEST_FLOAT)(EXP);           \
        GREATEST_FLOAT greatest_got_ = (GREATEST_FLOAT)(GOT);           \
        GREATEST_FLOAT greatest_tol_ = (GREATEST_FLOAT)(TOL);           \
        greatest_info.assertions++;                                     \
        if ((greatest_exp_ > greatest_got_ &&                           \
             greatest_exp_ - greatest_got_ > greatest_tol_) ||          \
            (greatest_exp_ < greatest_got_ &&                           \
             greatest_got_ - greatest_exp_ > greatest_tol_)) {          \
            GREATEST_FPRINTF(GREATEST_STDOUT,                           \
                "\nExpected: " GREATEST_FLOAT_FMT " +/- "               \
                GREATEST_FLOAT_FMT "\n     Got: " GREATEST_FLOAT_FMT    \
                "\n", greatest_exp_, greatest_tol_, greatest_got_);     \
            GREATEST_FAILm(MSG);                                        \
        }                                                               \
    } while (0)

#define GREATEST_ASSERT_EQUAL_T(EXP, GOT, TYPE_INFO, UDATA)             \
    GREATEST_ASSERT_EQUAL_Tm(#EXP " != " #GOT, EXP, GOT, TYPE_INFO, UDATA)
#define GREATEST_ASSERT_EQUAL_Tm(MSG, EXP, GOT, TYPE_INFO, UDATA)       \
    do {                                                                \
        greatest_type_info *greatest_type_info_ = (TYPE_INFO);          \
        greatest_info.assertions++;                                     \
        if (!greatest_do_assert_equal_t(EXP, GOT, greatest_type_info_,  \
                                        UDATA)) {                       \
            if (greatest_type_info_ == NULL ||                          \
                greatest_type_info_->equal == NULL) {                   \
                GREATEST_FAILm("type_info->equal callback missing!");   \
            } else {                                                    \
                GREATEST_FAILm(MSG);                                    \
            }                                                           \
        }                                                               \
    } while (0)

#define GREATEST_ASSERT_STR_EQ(EXP, GOT)                                \
    GREATEST_ASSERT_STR_EQm(#EXP " != " #GOT, EXP, GOT)
#define GREATEST_ASSERT_STR_EQm(MSG, EXP, GOT)                          \
    GREATEST_ASSERT_EQUAL_Tm(MSG, EXP, GOT, &greatest_type_info_string, NULL)

#define GREATEST_ASSERT_STRN_EQ(EXP, GOT, SIZE)                         \
    GREATEST_ASSERT_STRN_EQm(#EXP " != " #GOT, EXP, GOT, SIZE)
#define GREATEST_ASSERT_STRN_EQm(MSG, EXP, GOT, SIZE)                   \
    do {                                                                \
        size_t greatest_strn_size_ = (size_t)(SIZE);                    \
        GREATEST_ASSERT_EQUAL_Tm(MSG, EXP, GOT,                         \
            &greatest_type_info_string, &greatest_strn_size_);          \
    } while (0)

#define GREATEST_ASSERT_MEM_EQ(EXP, GOT, SIZE)                          \
    GREATEST_ASSERT_MEM_EQm(#EXP " != " #GOT, EXP, GOT, SIZE)
#define GREATEST_ASSERT_MEM_EQm(MSG, EXP, GOT, SIZE)                    \
    do {                                                                \
        greatest_memory_cmp_env greatest_mem_env_;                      \
        greatest_mem_env_.exp = (const unsigned char *)(EXP);           \
        greatest_mem_env_.got = (const unsigned char *)(GOT);           \
        greatest_mem_env_.size = (size_t)(SIZE);                        \
        GREATEST_ASSERT_EQUAL_Tm(MSG, greatest_mem_env_.exp,            \
            greatest_mem_env_.got, &greatest_type_info_memory,          \
            &greatest_mem_env_);                                        \
    } while (0)

/* Like greatest v1.5.0, this one does not count as an assertion. */
#define GREATEST_ASSERT_ENUM_EQ(EXP, GOT, ENUM_STR)                     \
    GREATEST_ASSERT_ENUM_EQm(#EXP " != " #GOT, EXP, GOT, ENUM_STR)
#define GREATEST_ASSERT_ENUM_EQm(MSG, EXP, GOT, ENUM_STR)               \
    do {                                                                \
        int greatest_enum_exp_ = (int)(EXP);                            \
        int greatest_enum_got_ = (int)(GOT);                            \
        greatest_enum_str_fun *greatest_enum_str_ = (ENUM_STR);         \
        if (greatest_enum_exp_ != greatest_enum_got_) {                 \
            GREATEST_FPRINTF(GREATEST_STDOUT, "\nExpected: %s",         \
                             greatest_enum_str_(greatest_enum_exp_));   \
            GREATEST_FPRINTF(GREATEST_STDOUT, "\n     Got: %s\n",       \
                             greatest_enum_str_(greatest_enum_got_));   \
            GREATEST_FAILm(MSG);                                        \
        }                                                               \
    } while (0)

/* ---------------------------------------------------------------------- */
/* Shuffling                                                              */
/* ---------------------------------------------------------------------- */

/* BODY runs once to count the RUN_TEST/RUN_SUITE calls it makes, then once
 * per item, each pass running only the item whose index is the generator's
 * current state.  Other code in BODY runs on every pass. */
#define GREATEST_SHUFFLE(ID, SD, BODY)                                  \
    do {                                                                \
        greatest_prng_init_first_pass(ID);                              \
        do {                                                            \
            greatest_info.prng[ID].count = 0;                           \
            if (greatest_info.prng[ID].initialized) {                   \
                greatest_prng_step(ID);                                 \
            }                                                           \
            BODY;                                                       \
            if (!greatest_info.prng[ID].initialized) {                  \
                if (!greatest_prng_init_second_pass(ID,                 \
                        (unsigned long)(SD))) {                         \
                    break;                                              \
                }                                                       \
            } else if (greatest_info.prng[ID].count_run ==              \
                       greatest_info.prng[ID].count_ceil) {             \
                break;                                                  \
            }                                                           \
        } while (!GREATEST_FAILURE_ABORT());                            \
        greatest_info.prng[ID].count_run = 0;                           \
        greatest_info.prng[ID].random_order = 0;                        \
        greatest_info.prng[ID].initialized = 0;                         \
    } while (0)

#define GREATEST_SHUFFLE_SUITES(SD, BODY) GREATEST_SHUFFLE(0, SD, BODY)
#define GREATEST_SHUFFLE_TESTS(SD, BODY) GREATEST_SHUFFLE(1, SD, BODY)

/* ---------------------------------------------------------------------- */
/* Runner                                                                 */
/* ---------------------------------------------------------------------- */

#define GREATEST_MAIN_BEGIN()                                           \
    do {                                                                \
        GREATEST_INIT();                                                \
        greatest_parse_options(argc, argv);                             \
    } while (0)

#define GREATEST_MAIN_END()                                             \
    do {                                                                \
        GREATEST_PRINT_REPORT();                                        \
        return (greatest_all_passed() ? EXIT_SUCCESS : EXIT_FAILURE);   \
    } while (0)

#if GREATEST_USE_TIME
#define GREATEST_SET_TIME_(VAR) ((VAR) = clock())
#define GREATEST_PRINT_TIME_(FROM, TO)                                  \
    GREATEST_FPRINTF(GREATEST_STDOUT, " (%lu ticks, %.3f sec)",         \
        (unsigned long)((TO) - (FROM)),                                 \
        (double)((TO) - (FROM)) / (double)CLOCKS_PER_SEC)
#else
#define GREATEST_SET_TIME_(VAR) ((void)0)
#define GREATEST_PRINT_TIME_(FROM, TO) ((void)0)
#endif

/* Everything below is expanded once, at file scope, by the runner:
 * GREATEST_MAIN_DEFS(); -- the trailing ';' ends the definition of
 * greatest_info. */
#define GREATEST_MAIN_DEFS()                                            \
                                                                        \
/* Does NAME pass FILTER?  An empty filter gives IF_NONE. */            \
static int greatest_name_match(const char *name, const char *filter,    \
                               int if_none) {                           \
    if (filter == NULL || filter[0] == '\0') { return if_none; }        \
    if (greatest_info.exact_name_match) {                               \
        return strcmp(name, filter) == 0;                               \
    }                                                                   \
    return strstr(name, filter) != NULL;                                \
}                                                                       \
                                                                        \
/* name_buf = NAME, plus "_" SUFFIX when set and it fits. */            \
static void greatest_buffer_test_name(const char *name) {               \
    size_t size = sizeof(greatest_info.name_buf);                       \
    size_t len = strlen(name);                                          \
    if (len > size - 1) { len = size - 1; }                             \
    memcpy(greatest_info.name_buf, name, len);                          \
    greatest_info.name_buf[len] = '\0';                                 \
    if (greatest_info.name_suffix != NULL) {                            \
        size_t slen = strlen(greatest_info.name_suffix);                \
        if (len + 1 + slen < size) {                                    \
            greatest_info.name_buf[len] = '_';                          \
            memcpy(&greatest_info.name_buf[len + 1],                    \
                   greatest_info.name_suffix, slen + 1);                \
        }                                                               \
    }                                                                   \
}                                                                       \
                                                                        \
/* Is it the turn of the next shuffled item?  Counts it either way. */  \
static int greatest_prng_turn(int id) {                                 \
    struct greatest_prng *p = &greatest_info.prng[id];                  \
    if (!p->random_order) { return 1; }                                 \
    p->count++;                                                         \
    if (!p->initialized || p->count - 1 != p->state) { return 0; }      \
    p->count_run++;                                                     \
    return 1;                                                           \
}                                                                       \
                                                                        \
int greatest_test_pre(const char *name) {                               \
    struct greatest_run_info *g = &greatest_info;                       \
    int match;                                                          \
    greatest_buffer_test_name(name);                                    \
    match = greatest_name_match(g->name_buf, g->test_filter, 1) &&      \
            !greatest_name_match(g->name_buf, g->test_exclude, 0);      \
    if (GREATEST_LIST_ONLY()) {                                         \
        if (match) {                                                    \
            GREATEST_FPRINTF(GREATEST_STDOUT, "  %s\n", g->name_buf);   \
        }                                                               \
    } else if (match && (!GREATEST_FIRST_FAIL() || g->suite.failed == 0) \
               && greatest_prng_turn(1)) {                              \
        if (g->running_test) {                                          \
            GREATEST_FPRINTF(stderr,                                    \
                             "Error: Test run inside another test.\n"); \
        } else {                                                        \
            GREATEST_SET_TIME_(g->suite.pre_test);                      \
            if (g->setup != NULL) { g->setup(g->setup_udata); }         \
            g->running_test = 1;                                        \
            g->msg = NULL;                                              \
            g->fail_file = NULL;                                        \
            g->fail_line = 0;                                           \
            return 1;                                                   \
        }                                                               \
    }                                                                   \
    g->name_suffix = NULL;                                              \
    return 0;                                                           \
}                                                                       \
                                                                        \
static void greatest_print_fail(void) {                                 \
    struct greatest_run_info *g = &greatest_info;                       \
    const char *msg = g->msg != NULL ? g->msg : "";                     \
    const char *file = g->fail_file != NULL ? g->fail_file : "";        \
    if (GREATEST_IS_VERBOSE()) {                                        \
        GREATEST_FPRINTF(GREATEST_STDOUT, "FAIL %s: %s (%s:%u)",        \
                         g->name_buf, msg, file, g->fail_line);         \
    } else {                                                            \
        GREATEST_FPRINTF(GREATEST_STDOUT, "F\n");                       \
        g->col = 0;                                                     \
        GREATEST_FPRINTF(GREATEST_STDOUT, "FAIL %s: %s (%s:%u)\n",      \
                         g->name_buf, msg, file, g->fail_line);         \
    }                                                                   \
}                                                                       \
                                                                        \
void greatest_test_post(int res) {                                      \
    struct greatest_run_info *g = &greatest_info;                       \
    const char *msg;                                                    \
    GREATEST_SET_TIME_(g->suite.post_test);                             \
    if (g->teardown != NULL) { g->teardown(g->teardown_udata); }        \
    g->running_test = 0;                                                \
    msg = g->msg != NULL ? g->msg : "";                                 \
    if (res <= GREATEST_TEST_RES_FAIL) {                                \
        g->suite.failed++;                                              \
        greatest_print_fail();                                          \
    } else if (res >= GREATEST_TEST_RES_SKIP) {                         \
        g->suite.skipped++;                                             \
        if (GREATEST_IS_VERBOSE()) {                                    \
            GREATEST_FPRINTF(GREATEST_STDOUT, "SKIP %s: %s",            \
                             g->name_buf, msg);                         \
        } else {                                                        \
            GREATEST_FPRINTF(GREATEST_STDOUT, "s");                     \
        }                                                               \
    } else {                                                            \
        g->suite.passed++;                                              \
        if (GREATEST_IS_VERBOSE()) {                                    \
            GREATEST_FPRINTF(GREATEST_STDOUT, "PASS %s: %s",            \
                             g->name_buf, msg);                         \
        } else {                                                        \
            GREATEST_FPRINTF(GREATEST_STDOUT, ".");                     \
        }                                                               \
    }                                                                   \
    g->name_suffix = NULL;                                              \
    g->suite.tests_run++;                                               \
    g->col++;                                                           \
    if (GREATEST_IS_VERBOSE()) {                                        \
        GREATEST_PRINT_TIME_(g->suite.pre_test, g->suite.post_test);    \
        GREATEST_FPRINTF(GREATEST_STDOUT, "\n");                        \
    } else if (g->width > 0 && g->col >= g->width) {                    \
        GREATEST_FPRINTF(GREATEST_STDOUT, "\n");                        \
        g->col = 0;                                                     \
    }                                                                   \
    fflush(GREATEST_STDOUT);                                            \
}                                                                       \
                                                                        \
/* Fold the current suite's counters into the totals; clear the hooks. */ \
static void greatest_fold_suite(void) {                                 \
    struct greatest_run_info *g = &greatest_info;                       \
    g->setup = NULL;                                                    \
    g->setup_udata = NULL;                                              \
    g->teardown = NULL;                                                 \
    g->teardown_udata = NULL;                                           \
    g->tests_run += g->suite.tests_run;                                 \
    g->passed += g->suite.passed;                                       \
    g->failed += g->suite.failed;                                       \
    g->skipped += g->suite.skipped;                                     \
    memset(&g->suite, 0, sizeof(g->suite));                             \
    g->col = 0;                                                         \
}                                                                       \
                                                                        \
static void greatest_run_suite(greatest_suite_cb *suite_cb,             \
                               const char *suite_name) {                \
    struct greatest_run_info *g = &greatest_info;                       \
    if (!greatest_name_match(suite_name, g->suite_filter, 1)) { return; } \
    if (GREATEST_FAILURE_ABORT()) { return; }                           \
    if (!greatest_prng_turn(0)) { return; }                             \
    greatest_fold_suite();                                              \
    GREATEST_FPRINTF(GREATEST_STDOUT, "\n* Suite %s:\n", suite_name);   \
    GREATEST_SET_TIME_(g->suite.pre_suite);                             \
    suite_cb();                                                         \
    GREATEST_SET_TIME_(g->suite.post_suite);                            \
    if (g->suite.tests_run > 0) {                                       \
        GREATEST_FPRINTF(GREATEST_STDOUT,                               \
            "\n%u test%s - %u passed, %u failed, %u skipped",           \
            g->suite.tests_run, g->suite.tests_run == 1 ? "" : "s",     \
            g->suite.passed, g->suite.failed, g->suite.skipped);        \
        GREATEST_PRINT_TIME_(g->suite.pre_suite, g->suite.post_suite);  \
        GREATEST_FPRINTF(GREATEST_STDOUT, "\n");                        \
    }                                                                   \
    fflush(GREATEST_STDOUT);                                            \
}                                                                       \
                                                                        \
static void greatest_usage(const char *name) {                          \
    GREATEST_FPRINTF(GREATEST_STDOUT,                                   \
        "Usage: %s [-hlfavex] [-s SUITE] [-t TEST] [-x EXCLUDE]\n"      \
        "  -h, --help  print this Help\n"                               \
        "  -l          List suites and tests, then exit (dry run)\n"    \
        "  -f          Stop runner after first failure\n"               \
        "  -a          Abort on first failure (implies -f)\n", name);   \
    GREATEST_FPRINTF(GREATEST_STDOUT,                                   \
        "  -v          Verbose output\n"                                \
        "  -s SUITE    only run suites containing substring SUITE\n"    \
        "  -t TEST     only run tests containing substring TEST\n"      \
        "  -e          only run exact name match for -s or -t\n"        \
        "  -x EXCLUDE  exclude tests containing substring EXCLUDE\n");  \
}                                                                       \
                                                                        \
static void greatest_parse_options(int argc, char **argv) {             \
    int i;                                                              \
    for (i = 1; i < argc; i++) {                                        \
        const char *arg = argv[i];                                      \
        const char **filter = NULL;                                     \
        if (arg[0] != '-') { continue; }                                \
        if (strcmp(arg, "--") == 0) { return; }                         \
        switch (strcmp(arg, "--help") == 0 ? 'h' : arg[1]) {            \
        case 'h': greatest_usage(argv[0]); exit(EXIT_SUCCESS);          \
        case 'l': greatest_list_only(); break;                          \
        case 'f': greatest_stop_at_first_fail(); break;                 \
        case 'a':                                                       \
            greatest_stop_at_first_fail();                              \
            greatest_abort_on_fail();                                   \
            break;                                                      \
        case 'v': greatest_info.verbosity++; break;                     \
        case 'e': greatest_set_exact_name_match(); break;               \
        case 's': filter = &greatest_info.suite_filter; break;          \
        case 't': filter = &greatest_info.test_filter; break;           \
        case 'x': filter = &greatest_info.test_exclude; break;          \
        default: /* including other "--..." */                          \
            GREATEST_FPRINTF(GREATEST_STDOUT,                           \
                             "Unknown argument '%s'\n", arg);           \
            greatest_usage(argv[0]);                                    \
            exit(EXIT_FAILURE);                                         \
        }                                                               \
        if (filter != NULL) {                                           \
            if (i + 1 >= argc) {                                        \
                greatest_usage(argv[0]);                                \
                exit(EXIT_FAILURE);                                     \
            }                                                           \
            *filter = argv[++i];                                        \
        }                                                               \
    }                                                                   \
}                                                                       \
                                                                        \
void GREATEST_INIT(void) {                                              \
    /* Reference the static helpers only the runner macros use. */      \
    (void)greatest_run_suite;                                           \
    (void)greatest_parse_options;                                       \
    memset(&greatest_info, 0, sizeof(greatest_info));                   \
    greatest_info.width = GREATEST_DEFAULT_WIDTH;                       \
    GREATEST_SET_TIME_(greatest_info.begin);                            \
}                                                                       \
                                                                        \
void GREATEST_PRINT_REPORT(void) {                                      \
    struct greatest_run_info *g = &greatest_info;                       \
    if (GREATEST_LIST_ONLY()) { return; }                               \
    greatest_fold_suite();                                              \
    GREATEST_SET_TIME_(g->end);                                         \
    GREATEST_FPRINTF(GREATEST_STDOUT, "\nTotal: %u test%s",             \
                     g->tests_run, g->tests_run == 1 ? "" : "s");       \
    GREATEST_PRINT_TIME_(g->begin, g->end);                             \
    GREATEST_FPRINTF(GREATEST_STDOUT, ", %u assertion%s\n",             \
                     g->assertions, g->assertions == 1 ? "" : "s");     \
    GREATEST_FPRINTF(GREATEST_STDOUT, "Pass: %u, fail: %u, skip: %u.\n", \
                     g->passed, g->failed, g->skipped);                 \
    fflush(GREATEST_STDOUT);                                            \
}                                                                       \
                                                                        \
int greatest_all_passed(void) { return greatest_info.failed == 0; }    \
                                                                        \
void GREATEST_SET_SETUP_CB(greatest_setup_cb *cb, void *udata) {        \
    greatest_info.setup = cb;                                           \
    greatest_info.setup_udata = udata;                                  \
}                                                                       \
                                                                        \
void GREATEST_SET_TEARDOWN_CB(greatest_teardown_cb *cb, void *udata) {  \
    greatest_info.teardown = cb;                                        \
    greatest_info.teardown_udata = udata;                               \
}                                                                       \
                                                                        \
void greatest_set_suite_filter(const char *filter) {                    \
    greatest_info.suite_filter = filter;                                \
}                                                                       \
void greatest_set_test_filter(const char *filter) {                     \
    greatest_info.test_filter = filter;                                 \
}                                                                       \
void greatest_set_test_exclude(const char *filter) {                    \
    greatest_info.test_exclude = filter;                                \
}                                                                       \
void greatest_set_exact_name_match(void) {                              \
    greatest_info.exact_name_match = 1;                                 \
}                                                                       \
void greatest_stop_at_first_fail(void) {                                \
    greatest_set_flag(GREATEST_FLAG_FIRST_FAIL);                        \
}                                                                       \
void greatest_abort_on_fail(void) {                                     \
    greatest_set_flag(GREATEST_FLAG_ABORT_ON_FAIL);                     \
}                                                                       \
void greatest_list_only(void) {                                         \
    greatest_set_flag(GREATEST_FLAG_LIST_ONLY);                         \
}                                                                       \
void greatest_set_flag(greatest_flag_t flag) {                          \
    greatest_info.flags |= (unsigned int)flag;                          \
}                                                                       \
unsigned int greatest_get_verbosity(void) {                             \
    return greatest_info.verbosity;                                     \
}                                                                       \
void greatest_set_verbosity(unsigned int verbosity) {                   \
    greatest_info.verbosity = verbosity;                                \
}                                                                       \
void greatest_set_test_suffix(const char *suffix) {                     \
    greatest_info.name_suffix = suffix;                                 \
}                                                                       \
                                                                        \
void greatest_get_report(struct greatest_report_t *report) {            \
    if (report == NULL) { return; }                                     \
    report->passed = greatest_info.passed;                              \
    report->failed = greatest_info.failed;                              \
    report->skipped = greatest_info.skipped;                            \
    report->assertions = greatest_info.assertions;                      \
}                                                                       \
                                                                        \
int greatest_do_assert_equal_t(const void *expd, const void *got,       \
                               greatest_type_info *type_info,           \
                               void *udata) {                           \
    int eq;                                                             \
    if (type_info == NULL || type_info->equal == NULL) { return 0; }    \
    eq = type_info->equal(expd, got, udata);                            \
    if (!eq && type_info->print != NULL) {                              \
        GREATEST_FPRINTF(GREATEST_STDOUT, "\nExpected: ");              \
        (void)type_info->print(expd, udata);                            \
        GREATEST_FPRINTF(GREATEST_STDOUT, "\n     Got: ");              \
        (void)type_info->print(got, udata);                             \
        GREATEST_FPRINTF(GREATEST_STDOUT, "\n");                        \
    }                                                                   \
    return eq;                                                          \
}                                                                       \
                                                                        \
void greatest_prng_init_first_pass(int id) {                            \
    struct greatest_prng *p = &greatest_info.prng[id];                  \
    p->random_order = 1;                                                \
    p->initialized = 0;                                                 \
    p->count = 0;                                                       \
    p->count_run = 0;                                                   \
}                                                                       \
                                                                        \
/* After the counting pass: m = smallest power of 2 >= count; the state */ \
/* starts at the seed's low 29 bits; a = 4 * state + 1 (5 if that is 1), */ \
/* c = 2^31 - 1, which give a full period modulo m. */                  \
int greatest_prng_init_second_pass(int id, unsigned long seed) {        \
    struct greatest_prng *p = &greatest_info.prng[id];                  \
    if (p->count == 0) { return 0; }                                    \
    p->count_ceil = p->count;                                           \
    for (p->m = 1; p->m < p->count; p->m <<= 1) {}                      \
    p->state = seed & 0x1fffffffUL;                                     \
    p->a = 4UL * p->state;                                              \
    p->a = (p->a != 0 ? p->a : 4UL) | 1UL;                              \
    p->c = 2147483647UL;                                                \
    p->initialized = 1;                                                 \
    if (GREATEST_IS_VERBOSE()) {                                        \
        GREATEST_FPRINTF(stderr,                                        \
                         "init_second_pass: a %lu, c %lu, state %lu\n", \
                         p->a, p->c, p->state);                         \
    }                                                                   \
    return 1;                                                           \
}                                                                       \
                                                                        \
/* Next state, skipping values that are not item indices. */            \
void greatest_prng_step(int id) {                                       \
    struct greatest_prng *p = &greatest_info.prng[id];                  \
    do {                                                                \
        p->state = (p->a * p->state + p->c) & (p->m - 1);               \
    } while (p->state >= p->count_ceil);                                \
}                                                                       \
                                                                        \
static int greatest_string_equal_cb(const void *expd, const void *got,  \
                                    void *udata) {                      \
    const size_t *size = (const size_t *)udata;                         \
    if (size != NULL) {                                                 \
        return strncmp((const char *)expd, (const char *)got, *size) == 0; \
    }                                                                   \
    return strcmp((const char *)expd, (const char *)got) == 0;          \
}                                                                       \
                                                                        \
static int greatest_string_printf_cb(const void *t, void *udata) {      \
    (void)udata;                                                        \
    return GREATEST_FPRINTF(GREATEST_STDOUT, "%s", (const char *)t);    \
}                                                                       \
                                                                        \
static int greatest_memory_equal_cb(const void *expd, const void *got,  \
                                    void *udata) {                      \
    const greatest_memory_cmp_env *env =                                \
        (const greatest_memory_cmp_env *)udata;                         \
    if (env == NULL) { return 0; }                                      \
    return memcmp(expd, got, env->size) == 0;                           \
}                                                                       \
                                                                        \
/* Hexdump, 16 bytes a line: "\n" offset, 'X' when the line differs,   */ \
/* each byte followed by '<' when it differs, then the printable text. */ \
static int greatest_memory_printf_cb(const void *t, void *udata) {      \
    const greatest_memory_cmp_env *env =                                \
        (const greatest_memory_cmp_env *)udata;                         \
    const unsigned char *buf = (const unsigned char *)t;                \
    size_t line, i, n;                                                  \
    int len = 0;                                                        \
    if (env == NULL || buf == NULL) { return 0; }                       \
    for (line = 0; line < env->size; line += 16) {                      \
        int mark = ' ';                                                 \
        n = env->size - line < 16 ? env->size - line : 16;              \
        for (i = line; i < line + n; i++) {                             \
            if (env->exp[i] != env->got[i]) { mark = 'X'; }             \
        }                                                               \
        len += GREATEST_FPRINTF(GREATEST_STDOUT, "\n%04x %c ",          \
                                (unsigned int)line, mark);              \
        for (i = line; i < line + n; i++) {                             \
            len += GREATEST_FPRINTF(GREATEST_STDOUT, "%02x%c",          \
                (unsigned int)buf[i],                                   \
                env->exp[i] != env->got[i] ? '<' : ' ');                \
        }                                                               \
        for (i = n; i < 16; i++) {                                      \
            len += GREATEST_FPRINTF(GREATEST_STDOUT, "   ");            \
        }                                                               \
        len += GREATEST_FPRINTF(GREATEST_STDOUT, " ");                  \
        for (i = line; i < line + n; i++) {                             \
            len += GREATEST_FPRINTF(GREATEST_STDOUT, "%c",              \
                                    isprint(buf[i]) ? buf[i] : '.');    \
        }                                                               \
    }                                                                   \
    return len;                                                         \
}                                                                       \
                                                                        \
greatest_type_info greatest_type_info_string = {                        \
    greatest_string_equal_cb, greatest_string_printf_cb                 \
};                                                                      \
greatest_type_info greatest_type_info_memory = {                        \
    greatest_memory_equal_cb, greatest_memory_printf_cb                 \
};                                                                      \
                                                                        \
greatest_run_info greatest_info

/* ---------------------------------------------------------------------- */
/* Short names                                                            */
/* ---------------------------------------------------------------------- */

#if GREATEST_USE_ABBREVS
#define TEST GREATEST_TEST
#define SUITE GREATEST_SUITE
#define SUITE_EXTERN GREATEST_SUITE_EXTERN
#define RUN_TEST GREATEST_RUN_TEST
#define RUN_TEST1 GREATEST_RUN_TEST1
#define RUN_SUITE GREATEST_RUN_SUITE
#define IGNORE_TEST GREATEST_IGNORE_TEST
#define ASSERT GREATEST_ASSERT
#define ASSERTm GREATEST_ASSERTm
#define ASSERT_FALSE GREATEST_ASSERT_FALSE
#define ASSERT_FALSEm GREATEST_ASSERT_FALSEm
#define ASSERT_EQ GREATEST_ASSERT_EQ
#define ASSERT_EQm GREATEST_ASSERT_EQm
#define ASSERT_NEQ GREATEST_ASSERT_NEQ
#define ASSERT_NEQm GREATEST_ASSERT_NEQm
#define ASSERT_GT GREATEST_ASSERT_GT
#define ASSERT_GTm GREATEST_ASSERT_GTm
#define ASSERT_GTE GREATEST_ASSERT_GTE
#define ASSERT_GTEm GREATEST_ASSERT_GTEm
#define ASSERT_LT GREATEST_ASSERT_LT
#define ASSERT_LTm GREATEST_ASSERT_LTm
#define ASSERT_LTE GREATEST_ASSERT_LTE
#define ASSERT_LTEm GREATEST_ASSERT_LTEm
#define ASSERT_EQ_FMT GREATEST_ASSERT_EQ_FMT
#define ASSERT_EQ_FMTm GREATEST_ASSERT_EQ_FMTm
#define ASSERT_IN_RANGE GREATEST_ASSERT_IN_RANGE
#define ASSERT_IN_RANGEm GREATEST_ASSERT_IN_RANGEm
#define ASSERT_EQUAL_T GREATEST_ASSERT_EQUAL_T
#define ASSERT_EQUAL_Tm GREATEST_ASSERT_EQUAL_Tm
#define ASSERT_STR_EQ GREATEST_ASSERT_STR_EQ
#define ASSERT_STR_EQm GREATEST_ASSERT_STR_EQm
#define ASSERT_STRN_EQ GREATEST_ASSERT_STRN_EQ
#define ASSERT_STRN_EQm GREATEST_ASSERT_STRN_EQm
#define ASSERT_MEM_EQ GREATEST_ASSERT_MEM_EQ
#define ASSERT_MEM_EQm GREATEST_ASSERT_MEM_EQm
#define ASSERT_ENUM_EQ GREATEST_ASSERT_ENUM_EQ
#define ASSERT_ENUM_EQm GREATEST_ASSERT_ENUM_EQm
#define PASS GREATEST_PASS
#define FAIL GREATEST_FAIL
#define SKIP GREATEST_SKIP
#define PASSm GREATEST_PASSm
#define FAILm GREATEST_FAILm
#define SKIPm GREATEST_SKIPm
#define SET_SETUP GREATEST_SET_SETUP_CB
#define SET_TEARDOWN GREATEST_SET_TEARDOWN_CB
#define CHECK_CALL GREATEST_CHECK_CALL
#define SHUFFLE_TESTS GREATEST_SHUFFLE_TESTS
#define SHUFFLE_SUITES GREATEST_SHUFFLE_SUITES
#ifdef GREATEST_VA_ARGS
#define RUN_TESTp GREATEST_RUN_TESTp
#endif
#if GREATEST_USE_LONGJMP
#define ASSERT_OR_LONGJMP GREATEST_ASSERT_OR_LONGJMP
#define ASSERT_OR_LONGJMPm GREATEST_ASSERT_OR_LONGJMPm
#define FAIL_WITH_LONGJMP GREATEST_FAIL_WITH_LONGJMP
#define FAIL_WITH_LONGJMPm GREATEST_FAIL_WITH_LONGJMPm
#endif
#endif /* GREATEST_USE_ABBREVS */

#endif /* GREATEST_H */
