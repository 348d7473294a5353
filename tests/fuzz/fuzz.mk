# libFuzzer targets: the parsers built with clang, ASan and UBSan into
# build/fuzz/, apart from the normal build. From the top directory:
#   make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS="proto kmod"]
#   make fuzz-smoke                    (a few seconds each, as CI does)

FUZZ_CC		?= clang
FUZZ_SECONDS	?= 60
FUZZ_SMOKE_SECONDS ?= 5
FB		:= build/fuzz
FUZZ_PKGS	:= libuv msgpack inih jansson yajl
FUZZ_SAN	:= -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS	:= -std=gnu11 -g -O1 -fno-omit-frame-pointer $(FUZZ_SAN) \
	-fsanitize=fuzzer-no-link -Wall -Wextra -Werror -Wshadow \
	-Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter \
	-D_GNU_SOURCE -Icommon $(shell pkg-config --cflags $(FUZZ_PKGS))
FUZZ_LDLIBS	:= $(shell pkg-config --libs $(FUZZ_PKGS)) -lm

ALL_FUZZ	:= $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_TARGETS	?= $(ALL_FUZZ)

# The libraries' sources, as the Makefile splits them (no main()).
F_COMMON	:= $(patsubst %.c,$(FB)/%.o,$(wildcard common/*.c))
F_READER	:= $(patsubst %.c,$(FB)/%.o,$(filter-out reader/reader.c,$(wildcard reader/*.c)))
F_DECIDER	:= $(patsubst %.c,$(FB)/%.o,$(filter-out decider/decider.c,$(wildcard decider/*.c)))

# What each target links: the archive of its daemon, then libkwarden.
F_LIBS_cgstat		:= $(FB)/libreader.a
F_LIBS_kmod		:= $(FB)/libreader.a
F_LIBS_kmod_delta	:= $(FB)/libreader.a
F_LIBS_procfs		:= $(FB)/libreader.a
F_LIBS_docker_json	:= $(FB)/libdecider.a
F_LIBS_docker_stream	:= $(FB)/libdecider.a
F_LIBS_docker_logs	:= $(FB)/libdecider.a

.PHONY: fuzz fuzz-smoke fuzz-build
fuzz-build: $(ALL_FUZZ:%=$(FB)/fuzz_%)

fuzz: fuzz-build
	tests/fuzz/run -t $(FUZZ_SECONDS) $(FUZZ_TARGETS)
fuzz-smoke: fuzz-build
	tests/fuzz/run -t $(FUZZ_SMOKE_SECONDS) $(FUZZ_TARGETS)

$(FB)/%.o: %.c $(wildcard common/*.h) $(wildcard */*.h) tests/fuzz/fuzz.h \
    tests/fuzz/fuzz.mk
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FB)/libkwarden.a: $(F_COMMON)
	@rm -f $@
	$(AR) rcs $@ $^
$(FB)/libreader.a: $(F_READER)
	@rm -f $@
	$(AR) rcs $@ $^
$(FB)/libdecider.a: $(F_DECIDER)
	@rm -f $@
	$(AR) rcs $@ $^

# Keep the objects: they are not worth rebuilding.
.SECONDARY:
.SECONDEXPANSION:
$(FB)/fuzz_%: $(FB)/tests/fuzz/fuzz_%.o $$(F_LIBS_$$*) $(FB)/libkwarden.a
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(FUZZ_LDLIBS)

# The control socket target includes ctl.c itself.
$(FB)/tests/fuzz/fuzz_ctl.o: common/ctl.c
