# SPDX-License-Identifier: MIT
#
# PacketVelocity: one non-recursive Makefile.  `make help` lists the targets.
#
#   make                 build library, programs and test tools into build/
#   make V=1             show the full commands
#   make WERROR=1        treat warnings as errors (CI)
#   make check           install missing deps, build, run every test
#
# Layout: capture/ and storage/ make build/libpcv.a; each recorder/*.c that
# is not cli-*.c is a program; tests/tools/*.c are helper programs for the
# integration tests, the demo and the benchmarks.

BUILD ?= build
PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
CLANG ?= clang
UNAME_S := $(shell uname -s)

ifeq ($(V),1)
Q =
msg = @true
else
Q = @
msg = @printf '  %-7s %s\n' $(1) $(2);
endif

# ---- flags ---------------------------------------------------------------

PKGS := libpcap libzstd sqlite3 libuv
ifeq ($(UNAME_S),Linux)
PKGS += libxdp libbpf numa
endif
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CRIT_CFLAGS := $(shell pkg-config --cflags criterion 2>/dev/null)
CRIT_LIBS := $(shell pkg-config --libs criterion 2>/dev/null)

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wpointer-arith -Wformat=2 -Wundef -Wvla
ifeq ($(WERROR),1)
WARN += -Werror
endif
OPT ?= -O2 -g
BASE_CFLAGS := -std=gnu11 $(OPT) $(WARN) -D_GNU_SOURCE -Iinclude -Icapture -Istorage \
	-MMD -MP $(PKG_CFLAGS)
ALL_CFLAGS = $(BASE_CFLAGS) $(CFLAGS)
ALL_LDLIBS := $(PKG_LIBS) -lpthread $(LDLIBS)
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined

# ---- sources -------------------------------------------------------------

LIB_SRCS := $(wildcard capture/*.c storage/*.c)
ifeq ($(UNAME_S),Linux)
LIB_SRCS := $(filter-out capture/cap-bpf.c,$(LIB_SRCS))
else
LIB_SRCS := $(filter-out capture/cap-afpacket.c capture/cap-afxdp.c \
	capture/xdp-filter.c,$(LIB_SRCS))
endif
CLI_SRCS := $(wildcard recorder/cli-*.c)
PROG_SRCS := $(filter-out $(CLI_SRCS),$(wildcard recorder/*.c))
TOOL_SRCS := $(wildcard tests/tools/*.c)
UNIT_SRCS := $(wildcard tests/unit/*/*.c)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
BENCH_SRCS := $(wildcard bench/*.c)

SCHEMA_SQL := $(sort $(wildcard schema/*.sql))
SCHEMA_C := $(BUILD)/gen/schema.c

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
asanobj = $(patsubst %.c,$(BUILD)/asan/%.o,$(1))

LIB := $(BUILD)/libpcv.a
ASAN_LIB := $(BUILD)/asan/libpcv.a
PROGS := $(patsubst recorder/%.c,$(BUILD)/bin/%,$(PROG_SRCS))
TOOLS := $(patsubst tests/tools/%.c,$(BUILD)/tools/%,$(TOOL_SRCS))
UNIT := $(BUILD)/tests/unit-tests
ASAN_UNIT := $(BUILD)/asan/unit-tests
FUZZ_REPLAY := $(patsubst tests/fuzz/%.c,$(BUILD)/asan/fuzz/%,$(FUZZ_SRCS))
FUZZERS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
BENCHES := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))
MANS := $(wildcard docs/man/*.[18])

# ---- top-level targets ---------------------------------------------------

.PHONY: all deps check check-run unit unit-asan fuzz-regress integration \
	demo demo-run fuzz bench install uninstall clean help

## all: build the library, the programs and the test tools (default)
all: $(LIB) $(PROGS) $(TOOLS)

## deps: install missing Debian packages (scripts/deps.sh)
deps:
	$(Q)scripts/deps.sh --check >/dev/null 2>&1 || scripts/deps.sh

## check: deps, build, unit tests (plain and ASan+UBSan), fuzz replay, integration
check: deps
	$(Q)$(MAKE) --no-print-directory check-run

# Built in parallel, run one after the other so the output reads in order.
check-run: all $(UNIT) $(ASAN_UNIT) $(FUZZ_REPLAY)
	$(Q)$(MAKE) --no-print-directory -j1 unit unit-asan fuzz-regress \
		integration
	@echo "make check: all tests passed"

## unit: run the Criterion unit tests
unit: $(UNIT)
	@echo "== unit tests"
	$(Q)$(UNIT) --jobs 2

## unit-asan: the unit tests built with -fsanitize=address,undefined
unit-asan: $(ASAN_UNIT)
	@echo "== unit tests under ASan+UBSan"
	$(Q)ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
		$(ASAN_UNIT) --jobs 2

## fuzz-regress: replay every fuzz target over its corpus (ASan+UBSan)
fuzz-regress: $(FUZZ_REPLAY)
	@echo "== fuzz corpus replay"
	$(Q)for f in $(FUZZ_REPLAY); do \
		n=$${f##*/}; $$f tests/fuzz/corpus/$${n#fuzz_} || exit 1; done

## integration: real-kernel tests on veth pairs in private namespaces (root)
integration: all
	@echo "== integration tests"
	$(Q)BUILD=$(BUILD) tests/integration/run.sh

## demo: deps, build, then capture generated traffic on a private veth pair
demo: deps
	$(Q)$(MAKE) --no-print-directory demo-run

demo-run: all
	$(Q)BUILD=$(BUILD) scripts/demo.sh

## fuzz: build the libFuzzer targets with clang (run: build/fuzz/fuzz_X DIR)
fuzz: $(FUZZERS)

## bench: build and run the benchmarks (bench/run.sh)
bench: all $(BENCHES)
	$(Q)BUILD=$(BUILD) bench/run.sh

## install: programs, man pages, headers and libpcv.a under PREFIX
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib \
		$(DESTDIR)$(PREFIX)/include/pcv \
		$(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 755 $(PROGS) $(DESTDIR)$(PREFIX)/bin
	install -m 644 $(LIB) $(DESTDIR)$(PREFIX)/lib
	install -m 644 include/pcv/*.h $(DESTDIR)$(PREFIX)/include/pcv
	for m in $(MANS); do install -m 644 $$m \
		$(DESTDIR)$(PREFIX)/share/man/man$${m##*.}; done

## uninstall: remove what install put under PREFIX
uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/bin/,$(notdir $(PROGS)))
	rm -f $(DESTDIR)$(PREFIX)/lib/libpcv.a
	rm -rf $(DESTDIR)$(PREFIX)/include/pcv
	for m in $(MANS); do rm -f \
		$(DESTDIR)$(PREFIX)/share/man/man$${m##*.}/$${m##*/}; done

## clean: remove build/
clean:
	rm -rf $(BUILD)

## help: this list
help:
	@sed -n 's/^## \([^:]*\): \(.*\)/  \1|\2/p' $(MAKEFILE_LIST) | \
		awk -F'|' '{ printf "  %-14s %s\n", $$1, $$2 }'

# ---- rules ---------------------------------------------------------------

# A change of compiler or flags rebuilds everything.
FLAGS_STAMP := $(BUILD)/flags.stamp
FLAGS_NOW := $(CC) $(ALL_CFLAGS) $(ALL_LDLIBS)
$(shell mkdir -p $(BUILD); \
	[ "$$(cat $(FLAGS_STAMP) 2>/dev/null)" = '$(FLAGS_NOW)' ] || \
	echo '$(FLAGS_NOW)' > $(FLAGS_STAMP))

$(BUILD)/obj/%.o: %.c $(FLAGS_STAMP)
	$(call msg,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/asan/%.o: %.c $(FLAGS_STAMP)
	$(call msg,CC-SAN,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) $(CRIT_CFLAGS) -c $< -o $@

# The SQLite migrations, embedded in the library (storage/index-sqlite.c).
$(SCHEMA_C): $(SCHEMA_SQL) scripts/embed-schema.sh
	$(call msg,GEN,$@)
	@mkdir -p $(@D)
	$(Q)scripts/embed-schema.sh $(SCHEMA_SQL) > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/schema.o: $(SCHEMA_C) $(FLAGS_STAMP)
	$(call msg,CC,$<)
	$(Q)$(CC) $(ALL_CFLAGS) -Istorage -c $< -o $@

$(BUILD)/gen/schema-san.o: $(SCHEMA_C) $(FLAGS_STAMP)
	$(call msg,CC-SAN,$<)
	$(Q)$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -Istorage -c $< -o $@

LIB_GEN := $(if $(SCHEMA_SQL),$(BUILD)/gen/schema.o)
ASAN_LIB_GEN := $(if $(SCHEMA_SQL),$(BUILD)/gen/schema-san.o)

# The afxdp backend's XDP program (capture/cap-afxdp.c): compiled for BPF
# and linked into the library as bytes (pcv__xsk_bpf..pcv__xsk_bpf_end).
ifeq ($(UNAME_S),Linux)
BPF_INC := /usr/include/$(shell $(CC) -dumpmachine)
$(BUILD)/gen/xsk.bpf.o: bpf/xsk.bpf.c bpf/xsk-meta.h
	$(call msg,BPF,$<)
	@mkdir -p $(@D)
	$(Q)$(CLANG) -O2 -g -target bpf -I$(BPF_INC) -Wall -c $< -o $@

$(BUILD)/gen/xsk-bpf.o: $(BUILD)/gen/xsk.bpf.o
	$(call msg,EMBED,$<)
	$(Q)printf '\t.section .rodata\n\t.balign 8\n\t.global pcv__xsk_bpf\npcv__xsk_bpf:\n\t.incbin "%s"\n\t.global pcv__xsk_bpf_end\npcv__xsk_bpf_end:\n\t.section .note.GNU-stack,"",@progbits\n' $< | \
		$(CC) -c -x assembler - -o $@

LIB_GEN += $(BUILD)/gen/xsk-bpf.o
ASAN_LIB_GEN += $(BUILD)/gen/xsk-bpf.o
endif

$(LIB): $(call obj,$(LIB_SRCS)) $(LIB_GEN)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(ASAN_LIB): $(call asanobj,$(LIB_SRCS)) $(ASAN_LIB_GEN)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/bin/%: $(BUILD)/obj/recorder/%.o $(call obj,$(CLI_SRCS)) $(LIB)
	$(call msg,LINK,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(ALL_LDLIBS)

$(BUILD)/tools/%: $(BUILD)/obj/tests/tools/%.o $(LIB)
	$(call msg,LINK,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(ALL_LDLIBS)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(LIB)
	$(call msg,LINK,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(ALL_LDLIBS)

$(BUILD)/obj/tests/unit/%.o: CFLAGS += $(CRIT_CFLAGS)

$(UNIT): $(call obj,$(UNIT_SRCS)) $(LIB)
	$(call msg,LINK,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(CRIT_LIBS) $(ALL_LDLIBS)

$(ASAN_UNIT): $(call asanobj,$(UNIT_SRCS)) $(ASAN_LIB)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) $(LDFLAGS) -o $@ $^ \
		$(CRIT_LIBS) $(ALL_LDLIBS)

# Fuzz targets: replayed over their corpus by a plain driver under ASan in
# `make check`; built for libFuzzer with clang by `make fuzz`.
$(BUILD)/asan/fuzz/%: $(BUILD)/asan/tests/fuzz/%.o \
		$(BUILD)/asan/tests/fuzz/replay.o $(ASAN_LIB)
	$(call msg,LINK,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) $(LDFLAGS) -o $@ $^ $(ALL_LDLIBS)

FUZZ_GEN := $(if $(SCHEMA_SQL),$(SCHEMA_C)) $(filter %/xsk-bpf.o,$(LIB_GEN))

$(BUILD)/fuzz/%: tests/fuzz/%.c $(LIB_SRCS) $(FUZZ_GEN)
	$(call msg,FUZZ,$@)
	@mkdir -p $(@D)
	$(Q)$(CLANG) -std=gnu11 -O1 -g -D_GNU_SOURCE -Iinclude -Icapture \
		$(PKG_CFLAGS) -fsanitize=fuzzer,address,undefined \
		-Istorage -o $@ $< $(LIB_SRCS) $(FUZZ_GEN) $(ALL_LDLIBS)

.SECONDARY:

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
