# kwarden: make | make check | make test | make run | make demo | make kmods | make install
#
# make help        the targets and variables below, one line each
# make SAN=1 ...   build with AddressSanitizer + UBSan (rebuilds everything)
# make kmods KDIR=/lib/modules/<ver>/build

## Variables (make VAR=value):
## CFLAGS=...       your compiler flags (default -g $(OPT)); the project's own come first
## OPT=-O2          optimisation inside the default CFLAGS (-O1 under SAN=1)
## SAN=1            AddressSanitizer + UBSan build (rebuilds everything)
## WERROR=1         warnings are errors (CI sets it)
## ARGS=...         flags passed on by run, demo and bench
## DESTDIR= PREFIX=/usr/local   install layout
## KDIR=...         kernel build tree for kmods
.DEFAULT_GOAL := all
PKGS	:= libuv msgpack sqlite3 libcurl inih jansson libsystemd libmicrohttpd yajl
CC	?= cc
ifeq ($(SAN),1)
OPT	?= -O1
endif
OPT	?= -O2
CFLAGS	?= -g $(OPT)
# The project's own flags, kept apart from CFLAGS so `make CFLAGS=-O0`
# cannot drop them; CFLAGS comes last and may add to or override them.
KW_CFLAGS := -std=gnu11 -Wall -Wextra -Wshadow \
	-Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter \
	-D_GNU_SOURCE -Icommon $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
ifeq ($(WERROR),1)
KW_CFLAGS += -Werror
endif
ifeq ($(SAN),1)
KW_CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined
LDFLAGS_SAN := -fsanitize=address,undefined
endif
LDLIBS	:= -Wl,--as-needed $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm
TESTLIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

B	:= build
DAEMONS	:= reader decider recorder
BINS	:= reader/kwarden-reader decider/kwarden-decider \
	   recorder/kwarden-recorder run/kwarden-run run/kwarden-tap \
	   run/kwarden-top run/kwarden-replay

COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(B)/%.o)
LIBKW	:= $(B)/libkwarden.a

# Each daemon: <d>/<d>.c holds main(); the rest is lib<d>.a, which unit
# tests named test_<d>_*.c link against.
define daemon_rules
$(1)_SRC := $$(filter-out $(1)/$(1).c,$$(wildcard $(1)/*.c))
$(1)_OBJ := $$($(1)_SRC:%.c=$(B)/%.o)
$(B)/lib$(1).a: $$($(1)_OBJ)
	@rm -f $$@
	$$(AR) rcs $$@ $$^
$(1)/kwarden-$(1): $(B)/$(1)/$(1).o $(B)/lib$(1).a $(LIBKW)
	$$(CC) $$(LDFLAGS) $$(LDFLAGS_SAN) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach d,$(DAEMONS),$(eval $(call daemon_rules,$(d))))

# Every object of the programs (what lint-analyze compiles).
PROG_OBJ := $(COMMON_OBJ) $(foreach d,$(DAEMONS),$($(d)_OBJ) $(B)/$(d)/$(d).o) \
	$(B)/run/kwarden-run.o $(B)/run/kwarden-tap.o \
	$(B)/run/kwarden-replay.o $(B)/run/replay.o

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_OBJ := $(UNIT_SRC:%.c=$(B)/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)

.PHONY: all test unit integration vm systemd test-vm-all run demo kmods bench soak \
	install uninstall clean check-deps check-deps-test fuzz fuzz-smoke fuzz-build
## Targets:
## all              (the default) the programs; needs no cmocka
all: $(BINS)

## unit-tests       build the unit tests (build/tests/test_*; needs cmocka)
.PHONY: unit-tests check have-cmocka
unit-tests: $(UNIT_BIN)

# Rebuild everything when the flags change (SAN=1 and back): $(B)/flags
# holds the last ones and is rewritten, while the Makefile is read, only
# when they differ, so `make -n` tells what a change of flags rebuilds.
FLAGS_NOW := $(strip $(CC) $(KW_CFLAGS) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) $(LDFLAGS_SAN))
ifneq ($(FLAGS_NOW),$(strip $(shell cat $(B)/flags 2>/dev/null)))
$(shell mkdir -p $(B) && echo '$(FLAGS_NOW)' >$(B)/flags)
endif
$(B)/flags: ;

# Each object depends on the headers it includes, as the compiler lists
# them in the .d file beside it (-MMD; -MP keeps a deleted header harmless).
$(B)/%.o: %.c $(B)/flags
	@mkdir -p $(dir $@)
	$(CC) $(KW_CFLAGS) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<
-include $(wildcard $(B)/*/*.d $(B)/*/*/*.d)

$(LIBKW): $(COMMON_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

run/kwarden-run: $(B)/run/kwarden-run.o $(LIBKW)
	$(CC) $(LDFLAGS) $(LDFLAGS_SAN) -o $@ $^ $(LDLIBS)
run/kwarden-tap: $(B)/run/kwarden-tap.o $(LIBKW)
	$(CC) $(LDFLAGS) $(LDFLAGS_SAN) -o $@ $^ $(LDLIBS)
TOP_OBJ := $(B)/run/top-model.o $(B)/run/top-view.o
run/kwarden-top: $(B)/run/kwarden-top.o $(TOP_OBJ) $(LIBKW)
	$(CC) $(LDFLAGS) $(LDFLAGS_SAN) -o $@ $^ $(LDLIBS) \
		$(shell pkg-config --libs ncursesw 2>/dev/null || echo -lncursesw)

# kwarden-replay is a tool (run/, beside tap and top) built on the
# decider's own engine: it links libdecider.a, so the policy it replays is
# the decider's code, not a copy. Its work is replay.o, which unit tests
# named test_replay_*.c link.
REPLAY_OBJ := $(B)/run/replay.o
run/kwarden-replay: $(B)/run/kwarden-replay.o $(REPLAY_OBJ) $(B)/libdecider.a \
		$(LIBKW)
	$(CC) $(LDFLAGS) $(LDFLAGS_SAN) -o $@ $^ $(LDLIBS)

$(UNIT_OBJ): | have-cmocka
have-cmocka:
	@pkg-config --exists cmocka || { echo "unit tests need cmocka:" \
		"run/install-deps test (libcmocka-dev)" >&2; exit 2; }

testlib = $(if $(filter test_reader_%,$(1)),$(B)/libreader.a,)$(if \
	$(filter test_decider_%,$(1)),$(B)/libdecider.a,)$(if \
	$(filter test_recorder_%,$(1)),$(B)/librecorder.a,)$(if \
	$(filter test_top_%,$(1)),$(TOP_OBJ),)$(if \
	$(filter test_replay_%,$(1)),$(REPLAY_OBJ) $(B)/libdecider.a,)
.SECONDEXPANSION:
$(B)/tests/%: $(B)/tests/unit/%.o $$(call testlib,$$*) $(LIBKW)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(LDFLAGS_SAN) -o $@ $^ $(TESTLIBS) $(LDLIBS)

## test             install what is missing, then every suite (unit, integration, vm)
test: check-deps-test
	$(MAKE) all unit-tests
	tests/run-all

## unit, check      build and run the unit tests (under valgrind unless SAN=1)
unit: all unit-tests
	tests/run-all unit
check: unit
## integration      the integration suite (tests/integration/test_*.sh)
integration: all
	tests/run-all integration
## vm               the kernel modules' tests under qemu (tests/vm/run)
vm:
	tests/run-all vm
## systemd          kwarden under systemd in a qemu VM, newest 6.1 (tests/vm/systemd/run)
systemd: all
	tests/run-all systemd
## test-vm-all      the module tests and the systemd VM on every installed kernel
test-vm-all: check-deps-test
	$(MAKE) all
	KW_SYSD_ALL=1 tests/run-all vm systemd

# Debug kernel (KASAN, lockdep, PROVE_RCU...) run of the kernel modules:
# slow (the kernel is built once, cached outside the tree), not in `test`.
.PHONY: test-kdebug
test-kdebug: reader/kwarden-reader run/kwarden-tap
	tests/vm/kdebug/run

# Install missing dependencies when we can (root), else say which.
## check-deps       install (as root) or name what the build needs; check-deps-test: the tests too
check-deps:
	@run/install-deps build
check-deps-test:
	@run/install-deps test docker vm
	@tests/vm/install-kernels

## run              the pipeline in the foreground, state under ./var
run: check-deps
	$(MAKE) all
	run/kwarden-run --state-dir ./var $(ARGS)

# Install layout (run/install.sh does the work; DESTDIR for packaging).
PREFIX	?= /usr/local
## install, uninstall   the programs, config and units under DESTDIR/PREFIX
install: $(BINS)
	DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" run/install.sh install
uninstall:
	DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" run/install.sh uninstall

# Containers being evicted, live: docker, workload images, the mix, the pipeline.
## demo             containers being evicted, live (starts docker if needed)
demo: check-deps
	$(MAKE) all
	run/demo.sh $(ARGS)

# libFuzzer targets, built with clang apart from the rest (tests/fuzz/fuzz.mk).
## fuzz, fuzz-smoke each fuzz target for FUZZ_SECONDS (default 60), or a few
fuzz fuzz-smoke fuzz-build:
	$(MAKE) -f tests/fuzz/fuzz.mk $@

# Benchmarks (slow and noisy: not part of make test).
## bench            the benchmarks (tests/bench/run)
bench: all
	@run/install-deps bench
	tests/bench/run $(ARGS)

# The pipeline left running, its memory, fds and database size fitted to a
# line (tests/bench/soak.sh; SOAK_MINUTES, default 30). Not in make test.
## soak             30 minutes at 100 ms on ~2,000 processes: RSS, fds, DB slopes
soak: all
	tests/bench/soak.sh

KDIR	?= /lib/modules/$(shell uname -r)/build
## kmods            the kernel modules against KDIR
kmods:
	@test -d "$(KDIR)" || { echo "kmods: no kernel headers at $(KDIR);" \
		"install linux-headers-$$(uname -r) or pass KDIR=" >&2; exit 2; }
	$(MAKE) -C $(KDIR) M=$(CURDIR)/kmods modules

# Style checks (CI runs them; make -k lint runs all three to the end).
# Every shell script: *.sh, and any file whose first line runs sh or bash.
SH_SCRIPTS = $(shell { git ls-files --cached --others --exclude-standard \
	2>/dev/null || find . -type f ! -path './build/*' ! -path './.git/*'; } | \
	sed 's|^\./||' | sort -u | while read -r f; do [ -f "$$f" ] || continue; \
	case $$f in (*.sh) \
	echo "$$f" ;; (*) head -n 1 "$$f" 2>/dev/null | \
	grep -qE '^\#!.*[/ ](ba|da)?sh$$' && echo "$$f" ;; esac; done)
# Every C file of the daemons, tools and tests is kept formatted by
# .clang-format; kernel code (kmods/, the debug-kernel control module)
# follows the kernel's style and is checked by checkpatch (make -C kmods).
FORMAT_CHECKED = $(shell find common reader decider recorder run tests \
	-name '*.[ch]' ! -path 'tests/vm/kdebug/*' | sort)
## lint             lint-shell, lint-analyze and lint-format (make -k lint: all three)
.PHONY: lint lint-shell lint-analyze lint-format format check-deps-lint
lint: lint-shell lint-analyze lint-format
check-deps-lint:
	@run/install-deps lint
## lint-shell       shellcheck on every shell script (settings in .shellcheckrc)
lint-shell: check-deps-lint
	shellcheck $(SH_SCRIPTS)
## lint-analyze     clang's static analyzer (scan-build) over the programs, in build/scan
lint-analyze: check-deps-lint
	rm -rf $(B)/scan
	scan-build --status-bugs -o $(B)/scan/report \
		$(MAKE) --no-print-directory B=$(B)/scan SAN= $(PROG_OBJ:$(B)/%=$(B)/scan/%)
## lint-format      clang-format --dry-run on every C file outside the kernel's
lint-format: check-deps-lint
	clang-format --dry-run --Werror $(FORMAT_CHECKED)
## format           clang-format -i on those files
format:
	clang-format -i $(FORMAT_CHECKED)

## clean            remove build/, the programs and the modules' build files
clean:
	rm -rf $(B) $(BINS)
	rm -f kmods/*.o kmods/*.ko kmods/*.mod kmods/*.mod.c kmods/.*.cmd \
		kmods/Module.symvers kmods/modules.order

## help             this list
.PHONY: help
help:
	@sed -n 's/^## \{0,1\}//p' $(firstword $(MAKEFILE_LIST))
