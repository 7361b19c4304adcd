# vballoon.h - build, demo and tests. Outputs go to build/.
#   make            the simulator and the test runner
#   make run        the seed document's commands against the simulated guest, with real pauses
#   make test       every test: unit suites (plain and ASan+UBSan), compile checks, the simulator
#                   ... (installs its Debian packages first when run as root: tests/setup.sh)
#   make test-loaded    make test 3 times while stress-ng keeps every core busy
#   make install PREFIX=/usr/local    the header and a pkg-config file
#   make fuzz / fuzz-smoke / fuzz-campaign / soak / lint / coverage / valgrind  (see README, "Tests")
#   make qmp-diff / qmp-diff-long    the simulator's QMP against a real QEMU 7.2, byte for byte
CC      ?= cc
CLANG   ?= clang
CXX     ?= g++
PREFIX  ?= /usr/local
WARN    := -Wall -Wextra -Wpedantic -Wconversion -Wshadow -Werror
CFLAGS  ?= -O2 -g
# make test GREATEST_H=/path/to/upstream/greatest.h runs the suites on another greatest.h
GREATEST_H ?= tests/greatest.h
GREATEST_DIR := $(dir $(GREATEST_H))
TEST_WARN := $(if $(filter tests/greatest.h,$(GREATEST_H)),$(WARN),-Wall -Wextra)
SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

TEST_SRC := tests/vb_impl.c tests/test_main.c tests/test_checklist.c tests/test_seed.c \
            tests/test_device.c tests/test_ring.c tests/test_render.c tests/test_qmp.c \
            tests/test_mmio.c tests/test_model.c tests/test_race.c tests/test_fulldevice.c \
            tests/test_metrics.c tests/test_telemetry.c \
            tests/test_fulldevice_hostile.c tests/test_map.c tests/test_packed.c
TEST_DEP := $(TEST_SRC) tests/guest.h vballoon.h $(GREATEST_H)

FUZZERS := $(patsubst fuzz/%.c,build/%,$(wildcard fuzz/fuzz_*.c))
FUZZ_RUNS ?= 20000
SOAK_SEQUENCES ?= 1000000

.PHONY: all run test test-deps test-bins test-loaded unit install clean fuzz fuzz-smoke fuzz-campaign soak lint coverage valgrind \
        bench bench-deps bench-instr bench-qemu minivmm minivmm-test uml-test vm qmp-diff qmp-diff-long

# ---- the mini-VMM (examples/minivmm, Linux x86-64 + /dev/kvm) and its freestanding guest ----
GUEST_CFLAGS := -std=gnu99 -O2 $(WARN) -ffreestanding -nostdlib -fno-pic -mno-red-zone \
    -static -mgeneral-regs-only -fno-stack-protector -fno-asynchronous-unwind-tables -fno-builtin \
    $(shell $(CC) -fno-tree-loop-distribute-patterns -E -x c /dev/null >/dev/null 2>&1 && \
            echo -fno-tree-loop-distribute-patterns)
MINIVMM_DEP := examples/minivmm/minivmm.h vballoon.h
MINIVMM_ALL := build/vballoon-minivmm build/minivmm-guest.bin build/minivmm-qmp
all: build/vballoon-sim build/test-runner $(MINIVMM_ALL) build/vballoon-vhost-user

build:
	@mkdir -p build

build/vballoon-sim: examples/sim.c examples/metrics_http.h vballoon.h | build
	$(CC) -std=gnu99 $(CFLAGS) $(WARN) -I. $< -o $@

# the first example to read (README "Examples"); tests/compile_checks.sh also builds it as C++17
all: build/vballoon-minimal
build/vballoon-minimal: examples/minimal.c vballoon.h | build
	$(CC) -std=c99 $(CFLAGS) $(WARN) -I. $< -o $@

build/test-runner: $(TEST_DEP) | build
	$(CC) -std=c99 $(CFLAGS) $(TEST_WARN) -I$(GREATEST_DIR) -Itests -I. $(TEST_SRC) -o $@ -pthread

build/test-runner-san: $(TEST_DEP) | build
	$(CC) -std=c99 -O1 -g $(SAN) $(TEST_WARN) -I$(GREATEST_DIR) -Itests -I. $(TEST_SRC) -o $@ -pthread

build/test-greatest: tests/test_greatest.c tests/greatest.h | build
	$(CC) -std=c99 $(CFLAGS) $(WARN) -Itests $< -o $@

# RUN_ARGS go to the simulator, e.g. make run RUN_ARGS=--packed (the guest on packed rings)
run: build/vballoon-sim
	sh examples/seed-demo.sh build/vballoon-sim $(RUN_ARGS)

unit: build/test-runner
	./build/test-runner

# make test first installs what the tests need (tests/setup.sh: as root on Debian, if missing;
# elsewhere it says what to install and the tests that need it skip), then builds and runs.
# The fuzzers are built only if $(CLANG) is there.
TEST_BINS := build/test-runner build/test-runner-san build/test-greatest build/vballoon-sim \
      $(MINIVMM_ALL) build/vballoon-vhost-user build/vhost-user-test build/qmp-stress build/qmp_diff \
      build/metrics-states
test: test-deps
	@$(MAKE) --no-print-directory test-bins
	CC="$(CC)" CLANG="$(CLANG)" CXX="$(CXX)" FUZZ_RUNS="$(FUZZ_RUNS)" QMP_DIFF_STREAMS="$(QMP_DIFF_STREAMS)" \
	    sh tests/run_all.sh
test: build/vballoon-minimal

test-deps:
	@sh tests/setup.sh

test-bins: $(TEST_BINS) $(if $(shell command -v $(CLANG)),$(FUZZERS) build/metrics-check-test)
	@:

# the whole suite LOADED_RUNS times while stress-ng keeps every core busy (not part of make test)
LOADED_RUNS ?= 3
test-loaded:
	@sh tests/setup.sh --loaded
	@$(MAKE) --no-print-directory test-bins
	LOADED_RUNS="$(LOADED_RUNS)" CC="$(CC)" CLANG="$(CLANG)" CXX="$(CXX)" FUZZ_RUNS="$(FUZZ_RUNS)" \
	    sh tests/loaded.sh

# libFuzzer harnesses (clang): build/fuzz_NAME from fuzz/fuzz_NAME.c
fuzz: $(FUZZERS)
build/fuzz_%: fuzz/fuzz_%.c vballoon.h fuzz/json_check.h fuzz/metrics_check.h | build
	$(CLANG) -std=gnu99 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -I. $< -o $@

# fuzz_qmp's inputs go past libFuzzer's default 4096 bytes (depth bombs, 1 MiB strings):
# FUZZ_QMP_MAX_LEN, empty for each script's default (smoke 128 KiB + every seed whole, campaign 2 MiB)
FUZZ_QMP_MAX_LEN ?=
fuzz-smoke: $(FUZZERS) build/metrics-check-test
	FUZZ_QMP_MAX_LEN=$(FUZZ_QMP_MAX_LEN) sh fuzz/smoke.sh $(FUZZ_RUNS)

# the metrics checker of the fuzzers (fuzz/metrics_check.h) refuses what it must: fuzz/smoke.sh runs it
build/metrics-check-test: fuzz/metrics_check_test.c fuzz/metrics_check.h vballoon.h | build
	$(CC) -std=c99 $(CFLAGS) $(WARN) -I. $< -o $@

# a longer campaign of one harness: make fuzz-campaign NAME=qmp FUZZ_SECONDS=600
FUZZ_SECONDS ?= 600
fuzz-campaign: build/fuzz_$(NAME)
	FUZZ_QMP_MAX_LEN=$(FUZZ_QMP_MAX_LEN) sh fuzz/campaign.sh $(NAME) $(FUZZ_SECONDS)

# ---- the differential QMP test (tests/qmp_diff.c, tests/qmp_diff.sh, docs/qmp-diff.md): the
# same bytes to QEMU 7.2 (qemu-system-x86, paused, no guest) and to build/vballoon-sim, replies
# compared byte for byte. qmp-diff: every fixed stream and QMP_DIFF_STREAMS generated ones
# (mutations, grammar commands, random bytes) from a fixed seed, about a minute; make test runs it.
# qmp-diff-long: a campaign of QMP_DIFF_LONG_STREAMS generated streams from a new seed (printed;
# QMP_DIFF_LONG_SEED=N repeats one), reported as streams compared / agreed / differing.
QMP_DIFF_STREAMS ?= 100
QMP_DIFF_SEED ?= 13
QMP_DIFF_LONG_STREAMS ?= 20000
QMP_DIFF_LONG_SEED ?= $(shell date +%s)
build/qmp_diff: tests/qmp_diff.c | build
	$(CC) -std=c99 $(CFLAGS) $(WARN) $< -o $@

qmp-diff: build/qmp_diff build/vballoon-sim
	sh tests/qmp_diff.sh --seed $(QMP_DIFF_SEED) --streams $(QMP_DIFF_STREAMS)

qmp-diff-long: build/qmp_diff build/vballoon-sim
	sh tests/qmp_diff.sh --long --show 20 --seed $(QMP_DIFF_LONG_SEED) --streams $(QMP_DIFF_LONG_STREAMS) \
	    --groups mutation,grammar,random

# the model-based test with a million random event sequences
soak: build/test-runner
	VB_MODEL_SEQUENCES=$(SOAK_SEQUENCES) ./build/test-runner -s model

lint:
	CC="$(CC)" CLANG="$(CLANG)" sh tests/lint.sh

# line and branch coverage of vballoon.h by the unit suites (gcov)
coverage: | build
	rm -rf build/coverage && mkdir -p build/coverage
	cd build/coverage && $(CC) -std=c99 -O0 --coverage -I../../tests -I../.. \
	    $(addprefix ../../,$(TEST_SRC)) -o runner && ./runner >/dev/null
	cd build/coverage && gcov -b -o . runner-vb_impl.gcda | grep -A4 "vballoon.h'"

valgrind: build/test-runner build/test-greatest
	valgrind -q --error-exitcode=1 --leak-check=full ./build/test-runner >/dev/null
	valgrind -q --error-exitcode=1 --leak-check=full ./build/test-greatest >/dev/null

install: vballoon.h
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/share/pkgconfig
	install -m 644 vballoon.h $(DESTDIR)$(PREFIX)/include/vballoon.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|'"$$(sed -n 's/^#define VB_VERSION_STRING "\(.*\)"/\1/p' vballoon.h)"'|' \
	    vballoon.pc.in > $(DESTDIR)$(PREFIX)/share/pkgconfig/vballoon.pc

clean:
	rm -rf build

# ---- benchmarks (bench/, README "Benchmarks"): need libcjson-dev; bench-instr needs valgrind;
# the footprint rows use gcc-arm-none-eabi and gcc-riscv64-unknown-elf (a missing one is
# reported, not fatal); bench-qemu needs qemu-system-x86. bench/setup.sh installs them.
build/bench: bench/bench.c bench/floor.h vballoon.h tests/guest.h | build bench-deps
	$(CC) -std=c99 -O2 -g $(WARN) -I. $< -lcjson -o $@

# a fresh Debian 12 gets what the benchmarks need (as root), once
bench-deps:
	@[ -f /usr/include/cjson/cJSON.h ] && command -v valgrind >/dev/null || sh bench/setup.sh

bench: build/bench build/vballoon-sim
	sh bench/run.sh

bench-instr: build/bench
	sh bench/instr.sh build/bench

bench-qemu: build/bench build/vballoon-sim
	@command -v qemu-system-x86_64 >/dev/null || sh bench/setup.sh --qemu
	sh bench/run.sh --qemu

build/vballoon-minivmm: examples/minivmm/minivmm.c $(MINIVMM_DEP) | build
	$(CC) -std=gnu99 $(CFLAGS) $(WARN) -I. $< -o $@ -pthread

build/minivmm-guest.bin: examples/minivmm/guest/guest.c examples/minivmm/guest/guest.ld $(MINIVMM_DEP) | build
	$(CC) $(GUEST_CFLAGS) -Wl,-T,examples/minivmm/guest/guest.ld -Wl,--build-id=none $< -o $@

build/minivmm-qmp: examples/minivmm/qmp.c | build
	$(CC) -std=gnu99 $(CFLAGS) $(WARN) $< -o $@

minivmm: $(MINIVMM_ALL)
	./build/vballoon-minivmm --guest build/minivmm-guest.bin --qmp unix:build/minivmm.sock \
	    --interval 2 --print-stats

minivmm-test: $(MINIVMM_ALL) build/qmp-stress
	sh tests/minivmm_test.sh $(MINIVMM_ALL) build/qmp-stress

# every state's metrics text, for tests/metrics_test.sh (promtool and the OpenMetrics parser)
build/metrics-states: tests/metrics_states.c tests/guest.h vballoon.h | build
	$(CC) -std=c99 $(CFLAGS) $(WARN) -Itests -I. $< -o $@

# ---- the vhost-user back-end and the real Linux guest (User-Mode Linux) ----
build/vballoon-vhost-user: examples/vhost-user-balloon.c examples/metrics_http.h vballoon.h | build
	$(CC) -std=gnu99 $(CFLAGS) $(WARN) -I. $< -o $@

build/vhost-user-test: tests/vhost_user_test.c tests/qmp_stress.h | build
	$(CC) -std=gnu99 $(CFLAGS) $(WARN) $< -o $@ -pthread

# the QMP flow-control tests (tests/qmp_stress.h) for any QMP socket: tests/sim_test.sh uses it
build/qmp-stress: tests/qmp_stress.c tests/qmp_stress.h | build
	$(CC) -std=gnu99 $(CFLAGS) $(WARN) $< -o $@ -pthread

uml-test: build/vballoon-vhost-user
	CC="$(CC)" bash tests/uml_test.sh build/vballoon-vhost-user

vm: build/vballoon-vhost-user
	bash examples/uml-vm.sh
