# kwarden: make | make test | make run | make demo | make kmods | make install
#
# make SAN=1 ...   build with AddressSanitizer + UBSan (rebuilds everything)
# make kmods KDIR=/lib/modules/<ver>/build

PKGS	:= libuv msgpack sqlite3 libcurl inih jansson libsystemd
CC	?= cc
OPT	?= -O2
CFLAGS_BASE := -std=gnu11 -g $(OPT) -Wall -Wextra -Werror -Wshadow \
	-Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter \
	-D_GNU_SOURCE -Icommon $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
ifeq ($(SAN),1)
CFLAGS_BASE += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined
LDFLAGS_SAN := -fsanitize=address,undefined
endif
CFLAGS	+= $(CFLAGS_BASE)
LDLIBS	:= -Wl,--as-needed $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm
TESTLIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

B	:= build
DAEMONS	:= reader decider recorder
BINS	:= reader/kwarden-reader decider/kwarden-decider \
	   recorder/kwarden-recorder run/kwarden-run run/kwarden-tap

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

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)

.PHONY: all test unit integration vm run demo kmods bench install uninstall \
	clean check-deps check-deps-test
all: $(BINS) $(UNIT_BIN)

# Rebuild everything when the flags change (SAN=1 and back).
$(B)/flags: FORCE
	@mkdir -p $(B)
	@echo '$(CC) $(CFLAGS) $(LDFLAGS_SAN)' | cmp -s - $@ || \
		echo '$(CC) $(CFLAGS) $(LDFLAGS_SAN)' > $@
FORCE:

$(B)/%.o: %.c $(wildcard common/*.h) $(wildcard */*.h) $(B)/flags
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(LIBKW): $(COMMON_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

run/kwarden-run: $(B)/run/kwarden-run.o $(LIBKW)
	$(CC) $(LDFLAGS) $(LDFLAGS_SAN) -o $@ $^ $(LDLIBS)
run/kwarden-tap: $(B)/run/kwarden-tap.o $(LIBKW)
	$(CC) $(LDFLAGS) $(LDFLAGS_SAN) -o $@ $^ $(LDLIBS)

testlib = $(if $(filter test_reader_%,$(1)),$(B)/libreader.a,)$(if \
	$(filter test_decider_%,$(1)),$(B)/libdecider.a,)$(if \
	$(filter test_recorder_%,$(1)),$(B)/librecorder.a,)
.SECONDEXPANSION:
$(B)/tests/%: $(B)/tests/unit/%.o $$(call testlib,$$*) $(LIBKW)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(LDFLAGS_SAN) -o $@ $^ $(TESTLIBS) $(LDLIBS)

test: check-deps-test
	$(MAKE) all
	tests/run-all

unit: all
	tests/run-all unit
integration: all
	tests/run-all integration
vm:
	tests/run-all vm

# Debug kernel (KASAN, lockdep, PROVE_RCU...) run of the kernel modules:
# slow (the kernel is built once, cached outside the tree), not in `test`.
.PHONY: test-kdebug
test-kdebug: reader/kwarden-reader run/kwarden-tap
	tests/vm/kdebug/run

# Install missing dependencies when we can (root), else say which.
check-deps:
	@run/install-deps build
check-deps-test:
	@run/install-deps test docker vm
	@tests/vm/install-kernels

run: check-deps
	$(MAKE) all
	run/kwarden-run --state-dir ./var $(ARGS)

# Install layout (run/install.sh does the work; DESTDIR for packaging).
PREFIX	?= /usr/local
install: $(BINS)
	DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" run/install.sh install
uninstall:
	DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" run/install.sh uninstall

# Containers being evicted, live: docker, workload images, the mix, the pipeline.
demo: check-deps
	$(MAKE) all
	run/demo.sh $(ARGS)

# Benchmarks (slow and noisy: not part of make test).
bench: all
	tests/bench/run $(ARGS)

KDIR	?= /lib/modules/$(shell uname -r)/build
kmods:
	@test -d "$(KDIR)" || { echo "kmods: no kernel headers at $(KDIR);" \
		"install linux-headers-$$(uname -r) or pass KDIR=" >&2; exit 2; }
	$(MAKE) -C $(KDIR) M=$(CURDIR)/kmods modules

clean:
	rm -rf $(B) $(BINS)
	rm -f kmods/*.o kmods/*.ko kmods/*.mod kmods/*.mod.c kmods/.*.cmd \
		kmods/Module.symvers kmods/modules.order
