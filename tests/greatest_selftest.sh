#!/bin/sh
# greatest_selftest.sh - check tests/greatest.h against the behaviour and
# output of greatest v1.5.0.
#
# Usage: tests/greatest_selftest.sh [CC]        (default: $CC, else cc)
#
# Builds greatest_selftest.c (tests that fail on purpose) and
# test_greatest.c (tests that must pass) with CC, runs them in several modes
# and compares exit status and output with the expected text below.  Timing
# numbers and source line numbers are masked ("(T ticks, S sec)",
# "(greatest_selftest.c:N)"), a trailing space is shown as " $" and a
# missing final newline is added (the -a run stops mid-line).  A compiler
# whose name contains "++" builds the sources as C++17.  SELFTEST_CFLAGS
# replaces the default warning flags.  Prints one line per scenario and ends
# with "greatest-selftest: N passed, M failed"; exit status 1 if M > 0.
#
# License: public domain (Unlicense).

set -u

here=$(cd "$(dirname "$0")" && pwd)
cc=${1:-${CC:-cc}}
case $cc in
*++*)
    lang="-x c++ -std=c++17"
    warn="-Wall -Wextra -Wpedantic -Werror"
    ;;
*)
    lang="-std=c99"
    warn="-Wall -Wextra -Wpedantic -Wconversion -Wshadow -Werror"
    ;;
esac
cflags=${SELFTEST_CFLAGS:-"$lang $warn"}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/greatest-selftest.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
# shellcheck disable=SC3045 # not POSIX, but dash and bash have it
ulimit -c 0 2>/dev/null || :

passed=0
failed=0

ok() {
    passed=$((passed + 1))
    echo "ok   $1"
}

not_ok() {
    failed=$((failed + 1))
    echo "FAIL $1${2:+: $2}"
}

# build NAME DIR SOURCE EXTRA-FLAGS...: compile DIR/SOURCE from DIR (so that
# __FILE__ is the bare file name) into $tmp/NAME.
build() {
    name=$1
    dir=$2
    src=$3
    shift 3
    # shellcheck disable=SC2086 # word splitting of the flags is intended
    if (cd "$dir" && $cc $cflags -I"$here" "$@" -o "$tmp/$name" "$src") \
        >"$tmp/$name.log" 2>&1; then
        return 0
    fi
    not_ok "build $name" "$cc $cflags $*"
    sed 's/^/    /' "$tmp/$name.log" | head -n 30
    return 1
}

mask() {
    sed -e 's/ ([0-9]* ticks, [0-9.]* sec)/ (T ticks, S sec)/g' \
        -e 's/(greatest_selftest\.c:[0-9]*)/(greatest_selftest.c:N)/g' \
        -e 's/ $/ $/' | awk '{ print }'
}

# run BINARY ARGS...: run in $tmp (so usage shows ./BINARY); sets $rc and
# leaves the masked stdout and stderr in $tmp/out and $tmp/err.
run() {
    bin=$1
    shift
    # "; exit" keeps the subshell (and its "Aborted" notice) around the
    # program, with the notice going to /dev/null
    (cd "$tmp" && "./$bin" "$@" >out.raw 2>err.raw; exit $?) 2>/dev/null
    rc=$?
    mask <"$tmp/out.raw" >"$tmp/out"
    mask <"$tmp/err.raw" >"$tmp/err"
}

# compare NAME WANT-RC FILE: $rc and $tmp/FILE against $tmp/want.
compare() {
    if [ "$rc" -ne "$2" ]; then
        not_ok "$1" "exit status $rc, expected $2"
    elif ! cmp -s "$tmp/want" "$tmp/$3"; then
        not_ok "$1" "output differs (- expected, + actual)"
        diff -u "$tmp/want" "$tmp/$3" | sed 's/^/    /' | head -n 40
    else
        ok "$1"
    fi
}

# check NAME WANT-RC BINARY ARGS... <<'EOF' (expected stdout) EOF
check() {
    name=$1
    want_rc=$2
    shift 2
    cat >"$tmp/want"
    if [ ! -x "$tmp/$1" ]; then
        not_ok "$name" "not built"
        return
    fi
    run "$@"
    compare "$name" "$want_rc" out
}

# ---------------------------------------------------------------------------
# Builds

build selftest "$here" greatest_selftest.c
build selftest_lj "$here" greatest_selftest.c \
    -DGREATEST_USE_LONGJMP=1 -DGREATEST_USE_TIME=0 -DGREATEST_DEFAULT_WIDTH=10
case $cc in
*++*) ;;
*) build selftest_c89 "$here" greatest_selftest.c -std=c89 -pedantic ;;
esac
build test_greatest "$here" test_greatest.c

# Prefixed names only, output to stderr, short name buffer, float type.
cat >"$tmp/noabbrev.c" <<'EOF'
#define GREATEST_USE_ABBREVS 0
#define GREATEST_STDOUT stderr
#define GREATEST_USE_TIME 0
#define GREATEST_TESTNAME_BUF_SIZE 8
#define GREATEST_FLOAT float
#define GREATEST_FLOAT_FMT "%.2f"
#include "greatest.h"
#if defined(TEST) || defined(ASSERT) || defined(RUN_TEST)
#error "GREATEST_USE_ABBREVS 0 still defines short names"
#endif
GREATEST_TEST a_long_name(void)
{
    GREATEST_ASSERT_IN_RANGEm("close", 1.0f, 2.0f, 0.5f);
    GREATEST_PASS();
}
GREATEST_TEST sh(void) { GREATEST_PASSm("ok"); }
GREATEST_SUITE(s)
{
    GREATEST_RUN_TEST(a_long_name);
    greatest_set_test_suffix("y");
    GREATEST_RUN_TEST(sh);
    greatest_set_test_suffix("toolong");
    GREATEST_RUN_TEST(sh);
}
GREATEST_MAIN_DEFS();
int main(int argc, char **argv)
{
    GREATEST_MAIN_BEGIN();
    GREATEST_RUN_SUITE(s);
    GREATEST_MAIN_END();
}
EOF
build noabbrev "$tmp" noabbrev.c

# ---------------------------------------------------------------------------
# Scenarios: exit status and stdout as greatest v1.5.0 gives them

check default 1 selftest <<'EOF'
.
* Suite basics:
..ssF
FAIL fail_plain:  (greatest_selftest.c:N)
F
FAIL fail_msg: custom failure (greatest_selftest.c:N)
F
FAIL fail_assert: zero (greatest_selftest.c:N)
F
FAIL fail_assert_m: the message (greatest_selftest.c:N)
F
FAIL fail_false: 1 + 1 == 2 (greatest_selftest.c:N)
F
FAIL fail_eq: 1 != x (greatest_selftest.c:N)
F
FAIL fail_neq: 3 == 3 (greatest_selftest.c:N)
F
FAIL fail_gt: 1 <= 2 (greatest_selftest.c:N)
F
FAIL fail_gte: 1 < 2 (greatest_selftest.c:N)
F
FAIL fail_lt: 2 >= 1 (greatest_selftest.c:N)
F
FAIL fail_lte: 2 > 1 (greatest_selftest.c:N)

Expected: 10
     Got: 12
F
FAIL fail_eq_fmt: 10 != 12 (greatest_selftest.c:N)

Expected: 0xab
     Got: 0xcd
F
FAIL fail_eq_fmtm: hex (greatest_selftest.c:N)

Expected: 1 +/- 0.25
     Got: 1.5
F
FAIL fail_in_range: 1.0 != 1.5 +/- 0.25 (greatest_selftest.c:N)

Expected: 1 +/- 0.25
     Got: 0.5
F
FAIL fail_in_range_low: 1.0 != 0.5 +/- 0.25 (greatest_selftest.c:N)

Expected: abc
     Got: abd
F
FAIL fail_str_eq: "abc" != "abd" (greatest_selftest.c:N)

Expected: abcdef
     Got: abcxyz
F
FAIL fail_strn_eq: strn (greatest_selftest.c:N)

Expected: $
0000 X 68 65 6c 6c 6f<20 77 6f 72 6c 64 00 01 02 03 04  hello world.....
0010 X 7f 80 ff<21                                      ...!
     Got: $
0000 X 68 65 6c 6c 4f<20 77 6f 72 6c 64 00 01 02 03 04  hellO world.....
0010 X 7f 80 fe<21                                      ...!
F
FAIL fail_mem_eq: want != got (greatest_selftest.c:N)

Expected: RED
     Got: BLUE
F
FAIL fail_enum_eq: RED != BLUE (greatest_selftest.c:N)

Expected: (1, 2) units
     Got: (1, 3) units
F
FAIL fail_equal_t: &a != &b (greatest_selftest.c:N)
F
FAIL fail_equal_t_noprint: points differ (greatest_selftest.c:N)
F
FAIL fail_equal_t_noequal: type_info->equal callback missing! (greatest_selftest.c:N)
.F
FAIL check_call_fail: not positive (greatest_selftest.c:N)
s
29 tests - 3 passed, 23 failed, 3 skipped (T ticks, S sec)

* Suite params:
.F
FAIL with_env_bad: bad (greatest_selftest.c:N)
...F
FAIL sum3_wrong: a + b != c (greatest_selftest.c:N)

6 tests - 4 passed, 2 failed, 0 skipped (T ticks, S sec)

* Suite hooks:
.F
FAIL hooked_fails: teardown still runs (greatest_selftest.c:N)
.
3 tests - 2 passed, 1 failed, 0 skipped (T ticks, S sec)
.
* Suite shuffled:
............
12 tests - 12 passed, 0 failed, 0 skipped (T ticks, S sec)

* Suite sz:
.
1 test - 1 passed, 0 failed, 0 skipped (T ticks, S sec)

* Suite sy:
.
1 test - 1 passed, 0 failed, 0 skipped (T ticks, S sec)

* Suite sx:
.
1 test - 1 passed, 0 failed, 0 skipped (T ticks, S sec)

Total: 55 tests (T ticks, S sec), 59 assertions
Pass: 26, fail: 26, skip: 3.
EOF

check verbose 1 selftest -v <<'EOF'
PASS trivial:  (T ticks, S sec)

* Suite basics:
PASS pass_plain:  (T ticks, S sec)
PASS pass_msg: with a message (T ticks, S sec)
SKIP skip_plain:  (T ticks, S sec)
SKIP skip_msg: not today (T ticks, S sec)
FAIL fail_plain:  (greatest_selftest.c:N) (T ticks, S sec)
FAIL fail_msg: custom failure (greatest_selftest.c:N) (T ticks, S sec)
FAIL fail_assert: zero (greatest_selftest.c:N) (T ticks, S sec)
FAIL fail_assert_m: the message (greatest_selftest.c:N) (T ticks, S sec)
FAIL fail_false: 1 + 1 == 2 (greatest_selftest.c:N) (T ticks, S sec)
FAIL fail_eq: 1 != x (greatest_selftest.c:N) (T ticks, S sec)
FAIL fail_neq: 3 == 3 (greatest_selftest.c:N) (T ticks, S sec)
FAIL fail_gt: 1 <= 2 (greatest_selftest.c:N) (T ticks, S sec)
FAIL fail_gte: 1 < 2 (greatest_selftest.c:N) (T ticks, S sec)
FAIL fail_lt: 2 >= 1 (greatest_selftest.c:N) (T ticks, S sec)
FAIL fail_lte: 2 > 1 (greatest_selftest.c:N) (T ticks, S sec)

Expected: 10
     Got: 12
FAIL fail_eq_fmt: 10 != 12 (greatest_selftest.c:N) (T ticks, S sec)

Expected: 0xab
     Got: 0xcd
FAIL fail_eq_fmtm: hex (greatest_selftest.c:N) (T ticks, S sec)

Expected: 1 +/- 0.25
     Got: 1.5
FAIL fail_in_range: 1.0 != 1.5 +/- 0.25 (greatest_selftest.c:N) (T ticks, S sec)

Expected: 1 +/- 0.25
     Got: 0.5
FAIL fail_in_range_low: 1.0 != 0.5 +/- 0.25 (greatest_selftest.c:N) (T ticks, S sec)

Expected: abc
     Got: abd
FAIL fail_str_eq: "abc" != "abd" (greatest_selftest.c:N) (T ticks, S sec)

Expected: abcdef
     Got: abcxyz
FAIL fail_strn_eq: strn (greatest_selftest.c:N) (T ticks, S sec)

Expected: $
0000 X 68 65 6c 6c 6f<20 77 6f 72 6c 64 00 01 02 03 04  hello world.....
0010 X 7f 80 ff<21                                      ...!
     Got: $
0000 X 68 65 6c 6c 4f<20 77 6f 72 6c 64 00 01 02 03 04  hellO world.....
0010 X 7f 80 fe<21                                      ...!
FAIL fail_mem_eq: want != got (greatest_selftest.c:N) (T ticks, S sec)

Expected: RED
     Got: BLUE
FAIL fail_enum_eq: RED != BLUE (greatest_selftest.c:N) (T ticks, S sec)

Expected: (1, 2) units
     Got: (1, 3) units
FAIL fail_equal_t: &a != &b (greatest_selftest.c:N) (T ticks, S sec)
FAIL fail_equal_t_noprint: points differ (greatest_selftest.c:N) (T ticks, S sec)
FAIL fail_equal_t_noequal: type_info->equal callback missing! (greatest_selftest.c:N) (T ticks, S sec)
PASS check_call_pass:  (T ticks, S sec)
FAIL check_call_fail: not positive (greatest_selftest.c:N) (T ticks, S sec)
SKIP check_call_skip: odd (T ticks, S sec)

29 tests - 3 passed, 23 failed, 3 skipped (T ticks, S sec)

* Suite params:
PASS with_env:  (T ticks, S sec)
FAIL with_env_bad: bad (greatest_selftest.c:N) (T ticks, S sec)
PASS with_env_good:  (T ticks, S sec)
PASS with_env:  (T ticks, S sec)
PASS sum3:  (T ticks, S sec)
FAIL sum3_wrong: a + b != c (greatest_selftest.c:N) (T ticks, S sec)

6 tests - 4 passed, 2 failed, 0 skipped (T ticks, S sec)

* Suite hooks:
PASS hooked_first:  (T ticks, S sec)
FAIL hooked_fails: teardown still runs (greatest_selftest.c:N) (T ticks, S sec)
PASS hooked_after_fail:  (T ticks, S sec)

3 tests - 2 passed, 1 failed, 0 skipped (T ticks, S sec)
PASS hooks_survive:  (T ticks, S sec)

* Suite shuffled:
PASS sh_b:  (T ticks, S sec)
PASS sh_a:  (T ticks, S sec)
PASS sh_e:  (T ticks, S sec)
PASS sh_d:  (T ticks, S sec)
PASS sh_c:  (T ticks, S sec)
PASS shuffle_order_42:  (T ticks, S sec)
PASS sh_c:  (T ticks, S sec)
PASS sh_b:  (T ticks, S sec)
PASS sh_e:  (T ticks, S sec)
PASS sh_d:  (T ticks, S sec)
PASS sh_a:  (T ticks, S sec)
PASS shuffle_order_0:  (T ticks, S sec)

12 tests - 12 passed, 0 failed, 0 skipped (T ticks, S sec)

* Suite sz:
PASS trivial:  (T ticks, S sec)

1 test - 1 passed, 0 failed, 0 skipped (T ticks, S sec)

* Suite sy:
PASS trivial:  (T ticks, S sec)

1 test - 1 passed, 0 failed, 0 skipped (T ticks, S sec)

* Suite sx:
PASS trivial:  (T ticks, S sec)

1 test - 1 passed, 0 failed, 0 skipped (T ticks, S sec)

Total: 55 tests (T ticks, S sec), 59 assertions
Pass: 26, fail: 26, skip: 3.
EOF

check list 0 selftest -l <<'EOF'
  trivial

* Suite basics:
  pass_plain
  pass_msg
  skip_plain
  skip_msg
  fail_plain
  fail_msg
  fail_assert
  fail_assert_m
  fail_false
  fail_eq
  fail_neq
  fail_gt
  fail_gte
  fail_lt
  fail_lte
  fail_eq_fmt
  fail_eq_fmtm
  fail_in_range
  fail_in_range_low
  fail_str_eq
  fail_strn_eq
  fail_mem_eq
  fail_enum_eq
  fail_equal_t
  fail_equal_t_noprint
  fail_equal_t_noequal
  check_call_pass
  check_call_fail
  check_call_skip

* Suite params:
  with_env
  with_env_bad
  with_env_good
  with_env
  sum3
  sum3_wrong

* Suite hooks:
  hooked_first
  hooked_fails
  hooked_after_fail
  hooks_survive

* Suite shuffled:
  sh_a
  sh_b
  sh_c
  sh_d
  sh_e
  shuffle_order_42
  sh_a
  sh_b
  sh_c
  sh_d
  sh_e
  shuffle_order_0

* Suite sz:
  trivial

* Suite sy:
  trivial

* Suite sx:
  trivial
EOF

check test-filter 1 selftest -t fail_e <<'EOF'

* Suite basics:
F
FAIL fail_eq: 1 != x (greatest_selftest.c:N)

Expected: 10
     Got: 12
F
FAIL fail_eq_fmt: 10 != 12 (greatest_selftest.c:N)

Expected: 0xab
     Got: 0xcd
F
FAIL fail_eq_fmtm: hex (greatest_selftest.c:N)

Expected: RED
     Got: BLUE
F
FAIL fail_enum_eq: RED != BLUE (greatest_selftest.c:N)

Expected: (1, 2) units
     Got: (1, 3) units
F
FAIL fail_equal_t: &a != &b (greatest_selftest.c:N)
F
FAIL fail_equal_t_noprint: points differ (greatest_selftest.c:N)
F
FAIL fail_equal_t_noequal: type_info->equal callback missing! (greatest_selftest.c:N)

7 tests - 0 passed, 7 failed, 0 skipped (T ticks, S sec)

* Suite params:

* Suite hooks:

* Suite shuffled:

* Suite sz:

* Suite sy:

* Suite sx:

Total: 7 tests (T ticks, S sec), 7 assertions
Pass: 0, fail: 7, skip: 0.
EOF

check exclude 0 selftest -t with -x bad <<'EOF'

* Suite basics:

* Suite params:
...
3 tests - 3 passed, 0 failed, 0 skipped (T ticks, S sec)

* Suite hooks:

* Suite shuffled:

* Suite sz:

* Suite sy:

* Suite sx:

Total: 3 tests (T ticks, S sec), 3 assertions
Pass: 3, fail: 0, skip: 0.
EOF

# Tests run from main() are not filtered by -s; hooks_survive passes
# because the hooks of suite "hooks" outlive it (as in v1.5.0).
check suite-filter 1 selftest -s hook <<'EOF'
.
* Suite hooks:
.F
FAIL hooked_fails: teardown still runs (greatest_selftest.c:N)
.
3 tests - 2 passed, 1 failed, 0 skipped (T ticks, S sec)
.
Total: 5 tests (T ticks, S sec), 6 assertions
Pass: 4, fail: 1, skip: 0.
EOF

check exact-test 0 selftest -e -t sum3 <<'EOF'

* Suite basics:

* Suite params:
.
1 test - 1 passed, 0 failed, 0 skipped (T ticks, S sec)

* Suite hooks:

* Suite shuffled:

* Suite sz:

* Suite sy:

* Suite sx:

Total: 1 test (T ticks, S sec), 1 assertion
Pass: 1, fail: 0, skip: 0.
EOF

# No suite is called just "s"; the tests run from main() still run.
check exact-suite 0 selftest -e -s s <<'EOF'
.s
Total: 2 tests (T ticks, S sec), 0 assertions
Pass: 1, fail: 0, skip: 1.
EOF

check first-fail 1 selftest -f <<'EOF'
.
* Suite basics:
..ssF
FAIL fail_plain:  (greatest_selftest.c:N)

5 tests - 2 passed, 1 failed, 2 skipped (T ticks, S sec)

Total: 6 tests (T ticks, S sec), 13 assertions
Pass: 3, fail: 1, skip: 2.
EOF

# abort() in the first failing test: 128 + SIGABRT.
check abort 134 selftest -a <<'EOF'
.
* Suite basics:
..ss
EOF

check help 0 selftest -h <<'EOF'
Usage: ./selftest [-hlfavex] [-s SUITE] [-t TEST] [-x EXCLUDE]
  -h, --help  print this Help
  -l          List suites and tests, then exit (dry run)
  -f          Stop runner after first failure
  -a          Abort on first failure (implies -f)
  -v          Verbose output
  -s SUITE    only run suites containing substring SUITE
  -t TEST     only run tests containing substring TEST
  -e          only run exact name match for -s or -t
  -x EXCLUDE  exclude tests containing substring EXCLUDE
EOF

check unknown-arg 1 selftest --bogus <<'EOF'
Unknown argument '--bogus'
Usage: ./selftest [-hlfavex] [-s SUITE] [-t TEST] [-x EXCLUDE]
  -h, --help  print this Help
  -l          List suites and tests, then exit (dry run)
  -f          Stop runner after first failure
  -a          Abort on first failure (implies -f)
  -v          Verbose output
  -s SUITE    only run suites containing substring SUITE
  -t TEST     only run tests containing substring TEST
  -e          only run exact name match for -s or -t
  -x EXCLUDE  exclude tests containing substring EXCLUDE
EOF

# -t without its value.
check missing-value 1 selftest -v -t <<'EOF'
Usage: ./selftest [-hlfavex] [-s SUITE] [-t TEST] [-x EXCLUDE]
  -h, --help  print this Help
  -l          List suites and tests, then exit (dry run)
  -f          Stop runner after first failure
  -a          Abort on first failure (implies -f)
  -v          Verbose output
  -s SUITE    only run suites containing substring SUITE
  -t TEST     only run tests containing substring TEST
  -e          only run exact name match for -s or -t
  -x EXCLUDE  exclude tests containing substring EXCLUDE
EOF

check end-of-options 0 selftest -t trivial -- -bogus <<'EOF'
.
* Suite basics:

* Suite params:

* Suite hooks:

* Suite shuffled:

* Suite sz:
.
1 test - 1 passed, 0 failed, 0 skipped (T ticks, S sec)

* Suite sy:
.
1 test - 1 passed, 0 failed, 0 skipped (T ticks, S sec)

* Suite sx:
.
1 test - 1 passed, 0 failed, 0 skipped (T ticks, S sec)

Total: 4 tests (T ticks, S sec), 0 assertions
Pass: 4, fail: 0, skip: 0.
EOF

check wide 0 selftest wide <<'EOF'

* Suite wide:
........................................................................
...
75 tests - 75 passed, 0 failed, 0 skipped (T ticks, S sec)

Total: 75 tests (T ticks, S sec), 0 assertions
Pass: 75, fail: 0, skip: 0.
EOF

# The inner RUN_TEST is refused (see nested-stderr below).
check nested 0 selftest nested <<'EOF'
..
Total: 2 tests (T ticks, S sec), 0 assertions
Pass: 2, fail: 0, skip: 0.
EOF

# Built with GREATEST_USE_LONGJMP=1, GREATEST_USE_TIME=0 (no timing text)
# and GREATEST_DEFAULT_WIDTH=10.
check longjmp 1 selftest_lj longjmp -v <<'EOF'

* Suite jumps:
PASS lj_pass: $
FAIL lj_assert: deep check (greatest_selftest.c:N)
FAIL lj_assert_plain: zero (greatest_selftest.c:N)
FAIL lj_fail: jumped (greatest_selftest.c:N)
FAIL lj_fail_plain:  (greatest_selftest.c:N)
PASS lj_pass: $

6 tests - 2 passed, 4 failed, 0 skipped

Total: 6 tests, 6 assertions
Pass: 2, fail: 4, skip: 0.
EOF

check width-10 0 selftest_lj wide <<'EOF'

* Suite wide:
..........
..........
..........
..........
..........
..........
..........
.....
75 tests - 75 passed, 0 failed, 0 skipped

Total: 75 tests, 0 assertions
Pass: 75, fail: 0, skip: 0.
EOF

# ---------------------------------------------------------------------------
# Scenarios with their own checks

# The line numbers masked above, for one failure.
line=$(grep -n 'FAILm("custom failure")' "$here/greatest_selftest.c" |
    cut -d: -f1)
run selftest -t fail_msg
if grep -qx "FAIL fail_msg: custom failure (greatest_selftest.c:$line)" \
    "$tmp/out.raw"; then
    ok "fail-line"
else
    not_ok "fail-line" "no FAIL line for greatest_selftest.c:$line"
fi

# Nothing on stderr in a normal run; the shuffle seeding trace with -v
# (v1.5.0 prints it always: a deliberate difference, see greatest.h).
run selftest
if [ -s "$tmp/err" ]; then not_ok "quiet-stderr"; else ok "quiet-stderr"; fi
cat >"$tmp/want" <<'EOF'
init_second_pass: a 169, c 2147483647, state 42
init_second_pass: a 5, c 2147483647, state 0
init_second_pass: a 13, c 2147483647, state 3
EOF
run selftest -v
compare "shuffle-trace" 1 err

cat >"$tmp/want" <<'EOF'
Error: Test run inside another test.
EOF
run selftest nested
compare "nested-stderr" 0 err

# C89 build (RUN_TESTp spelled out): same output as the default run.
if [ -x "$tmp/selftest_c89" ]; then
    run selftest
    cp "$tmp/out" "$tmp/want"
    want_rc=$rc
    run selftest_c89
    compare "c89" "$want_rc" out
fi

# GREATEST_STDOUT is stderr: stdout stays empty.
cat >"$tmp/want" <<'EOF'

* Suite s:

Expected: 1.00 +/- 0.50
     Got: 2.00
FAIL a_long_: close (noabbrev.c:13)
PASS sh_y: ok
PASS sh: ok

3 tests - 2 passed, 1 failed, 0 skipped

Total: 3 tests, 1 assertion
Pass: 2, fail: 1, skip: 0.
EOF
if [ -x "$tmp/noabbrev" ]; then
    run noabbrev -v
    if [ -s "$tmp/out" ]; then
        not_ok "no-abbrevs" "output on stdout"
    else
        compare "no-abbrevs" 1 err
    fi
else
    not_ok "no-abbrevs" "not built"
fi

# The runner whose tests must all pass.
if [ -x "$tmp/test_greatest" ]; then
    run test_greatest
    last=$(tail -n 1 "$tmp/out")
    if [ "$rc" -eq 0 ] && echo "$last" |
        grep -qx 'test_greatest: [0-9]* passed, 0 failed, 1 skipped'; then
        ok "test_greatest"
    else
        not_ok "test_greatest" "exit status $rc, last line: $last"
        grep -A 3 '^FAIL' "$tmp/out" | sed 's/^/    /' | head -n 40
    fi
else
    not_ok "test_greatest" "not built"
fi

echo "greatest-selftest: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
