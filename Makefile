# Makefile - builds ckpt-server, libckptshim.so, the tools and the tests.
#
# Settings below may be overridden on the command line or in config.mak.
# `make` builds, `make check` runs every test, `make demo` runs the main job,
# `make bench` runs the benchmarks. Missing Debian packages are installed by
# scripts/install-deps on first use (as root).

-include config.mak

CC ?= cc
PKG_CONFIG ?= pkg-config
PREFIX ?= /usr/local
DESTDIR ?=
BUILD ?= build
WERROR ?=
SANITIZE ?=
OPT ?= -O2 -g

WARN := -Wall -Wextra -Wformat-security -Wshadow -Wpointer-arith -Wstrict-prototypes \
	-Wmissing-prototypes -Wno-unused-parameter
ifneq ($(WERROR),)
WARN += -Werror
endif
ifneq ($(CI),)
WARN += -Werror
endif

CFLAGS_BASE := -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) -MMD -MP -fPIC -Iwire
ifneq ($(SANITIZE),)
SAN_FLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif
# Packages are queried lazily (=), after `deps` has had a chance to install them.
LZ4_LIBS = $(shell $(PKG_CONFIG) --libs liblz4 2>/dev/null)
# XXH64 checksums of checkpoint images and joint files (wire/ckptfile.c).
XXH_LIBS = $(shell $(PKG_CONFIG) --libs libxxhash 2>/dev/null || echo -lxxhash)
# The shim records a backtrace in each checkpoint image (preload/ckpt_bt.c).
UNWIND_LIBS = $(shell $(PKG_CONFIG) --libs libunwind 2>/dev/null || echo -lunwind)
# HMAC-SHA256 of the HELLO challenge-response and job keys (wire/auth.c):
# libsodium, so that no cryptography is written here.
SODIUM_LIBS = $(shell $(PKG_CONFIG) --libs libsodium 2>/dev/null || echo -lsodium)
CRIT_CFLAGS = $(shell $(PKG_CONFIG) --cflags criterion 2>/dev/null)
CRIT_LIBS = $(shell $(PKG_CONFIG) --libs criterion 2>/dev/null || echo -lcriterion)

VERSION := $(shell cat VERSION 2>/dev/null || echo 0.1.0)
CFLAGS_SHIM = $(CFLAGS_BASE) -DCKPT_VERSION=\"$(VERSION)\" $(CFLAGS)
# Everything but the shim gets 64-bit file offsets on any host; the shim must
# not, since the headers would then rename the calls it defines (readdir ->
# readdir64); it is built for 64-bit hosts only.
CFLAGS_ALL = $(CFLAGS_SHIM) -D_FILE_OFFSET_BITS=64

WIRE_SRC := $(wildcard wire/*.c)
SERVER_SRC := $(wildcard server/*.c)
SHIM_SRC := $(wildcard preload/*.c)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
PROG_SRC := $(wildcard tests/progs/*.c)
BENCH_SRC := $(wildcard bench/*.c)

WIRE_OBJ := $(WIRE_SRC:%.c=$(BUILD)/obj/%.o)
SERVER_OBJ := $(SERVER_SRC:%.c=$(BUILD)/obj/%.o)
SHIM_OBJ := $(SHIM_SRC:%.c=$(BUILD)/shim/%.o) $(WIRE_SRC:%.c=$(BUILD)/shim/%.o)
SERVER_LIB_OBJ := $(filter-out $(BUILD)/obj/server/main.o,$(SERVER_OBJ))
# The ckpt tool (server/tool/): not part of the server; wire/ cursors only, any host.
TOOL_SRC := $(wildcard server/tool/*.c)
TOOL_OBJ := $(TOOL_SRC:%.c=$(BUILD)/obj/%.o)
TOOL_LIB_OBJ := $(filter-out $(BUILD)/obj/server/tool/main.o,$(TOOL_OBJ))

BIN := $(BUILD)/bin
LIB := $(BUILD)/lib
SHIM_SO := $(LIB)/libckptshim.so.1
SCRIPTS := ckpt-run ckpt-restart ckpt-common.sh
UNIT_BINS := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
PROG_BINS := $(PROG_SRC:tests/progs/%.c=$(BUILD)/progs/%)
BENCH_BINS := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all deps install check check-unit check-e2e demo bench clean
all: $(BIN)/ckpt-server $(SHIM_SO) $(LIB)/libckptshim.so $(SCRIPTS:%=$(BIN)/%) $(BIN)/ckpt-restore $(BIN)/ckpt

deps:
	@scripts/install-deps --if-missing

$(BUILD)/obj/%.o: %.c | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $(SAN_FLAGS) -c -o $@ $<

# The shim never gets ASan (it does not mix with LD_PRELOAD); UBSan is fine.
SHIM_SAN := $(if $(filter undefined,$(SANITIZE)),-fsanitize=undefined -fno-sanitize-recover=all,)
$(BUILD)/shim/%.o: %.c | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_SHIM) -Ipreload -fno-delete-null-pointer-checks -Wno-nonnull-compare -fvisibility=hidden -ftls-model=initial-exec $(SHIM_SAN) -c -o $@ $<

$(BIN)/ckpt-server: $(SERVER_OBJ) $(WIRE_OBJ)
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) -o $@ $^ $(LDFLAGS) $(XXH_LIBS) $(SODIUM_LIBS) -lpthread

$(BIN)/ckpt: $(TOOL_OBJ) $(WIRE_OBJ)
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) -o $@ $^ $(LDFLAGS) $(XXH_LIBS) $(SODIUM_LIBS)

$(BUILD)/libckptshim.map: preload/real.def preload/gen-map.sh
	@mkdir -p $(@D)
	preload/gen-map.sh preload/real.def > $@

$(SHIM_SO): $(SHIM_OBJ) $(BUILD)/libckptshim.map
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-soname,libckptshim.so.1 -Wl,--version-script=$(BUILD)/libckptshim.map \
		-Wl,-z,now -Wl,-z,relro -Wl,-z,defs $(SHIM_SAN) -o $@ $(SHIM_OBJ) $(LDFLAGS) $(XXH_LIBS) $(LZ4_LIBS) $(UNWIND_LIBS) $(SODIUM_LIBS) -ldl -lpthread

$(LIB)/libckptshim.so: $(SHIM_SO)
	ln -sf libckptshim.so.1 $@

# The restore loader: a static position-independent binary with no C library
# (it moves itself into the image's restore hole and unmaps the rest), linked
# with the static liblz4 for the decompressor.
RESTORE_SRC := $(wildcard preload/restore/*.c)
RESTORE_OBJ := $(RESTORE_SRC:%.c=$(BUILD)/restore/%.o) $(BUILD)/restore/wire/wire.o
LZ4_STATIC = $(shell $(PKG_CONFIG) --variable=libdir liblz4 2>/dev/null || echo /usr/lib)/liblz4.a
CFLAGS_RESTORE = -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) -MMD -MP -Iwire -Ipreload -fPIE \
	-fno-stack-protector -fno-tree-loop-distribute-patterns -fvisibility=hidden $(CFLAGS)
$(BUILD)/restore/%.o: %.c | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_RESTORE) -c -o $@ $<

$(BIN)/ckpt-restore: $(RESTORE_OBJ)
	@mkdir -p $(@D)
	$(CC) -static-pie -nostdlib -nostartfiles -Wl,-z,noexecstack -o $@ $(RESTORE_OBJ) $(LZ4_STATIC) -lgcc

$(BIN)/%: scripts/%
	@mkdir -p $(@D)
	cp $< $@ && chmod +x $@

$(BUILD)/tests/%: tests/unit/%.c $(WIRE_OBJ) $(SERVER_LIB_OBJ) | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $(SAN_FLAGS) $(CRIT_CFLAGS) -Iserver -o $@ $< $(WIRE_OBJ) $(SERVER_LIB_OBJ) \
		$(CRIT_LIBS) $(XXH_LIBS) $(SODIUM_LIBS) -lpthread

# The tool's parsers, tested without its main.
$(BUILD)/tests/test_tool: tests/unit/test_tool.c $(WIRE_OBJ) $(TOOL_LIB_OBJ) | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $(SAN_FLAGS) $(CRIT_CFLAGS) -Iserver/tool -Ipreload -o $@ $< $(WIRE_OBJ) $(TOOL_LIB_OBJ) \
		$(CRIT_LIBS) $(XXH_LIBS) $(SODIUM_LIBS)

# The shim's pure parts are tested by including their source with stubs.
$(BUILD)/tests/test_shim_%: tests/unit/test_shim_%.c preload/*.c preload/*.h $(WIRE_OBJ) | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_SHIM) $(SAN_FLAGS) $(CRIT_CFLAGS) -Ipreload -o $@ $< $(WIRE_OBJ) $(CRIT_LIBS) $(XXH_LIBS) $(SODIUM_LIBS)

$(BUILD)/progs/%: tests/progs/%.c | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -o $@ $<

$(BUILD)/bench/%: bench/%.c | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -o $@ $<

check: all $(UNIT_BINS) $(PROG_BINS)
	@BUILD=$(BUILD) FUZZ_SECONDS=$(CHECK_FUZZ_SECONDS) tests/run-all

check-unit: all $(UNIT_BINS)
	@BUILD=$(BUILD) tests/run-all --unit-only

demo: all
	@BUILD=$(BUILD) scripts/demo

# make bench: bench/run (remote against local I/O), then bench/ckpt (checkpoint
# and restart); BENCH_PARTS=io or BENCH_PARTS=ckpt runs one of them.
BENCH_PARTS ?= io ckpt
bench: all $(BENCH_BINS)
	@$(if $(filter io,$(BENCH_PARTS)),BUILD=$(BUILD) bench/run,:)
	@$(if $(filter ckpt,$(BENCH_PARTS)),BUILD=$(BUILD) bench/ckpt,:)

# make soak: tests/e2e/soak.sh with 200 SIGKILL/restart cycles (make check runs 10);
# SOAK_CYCLES, SOAK_SEED override.
.PHONY: soak
soak: all $(PROG_BINS)
	@BUILD=$(BUILD) SOAK_CYCLES=$${SOAK_CYCLES:-200} bash tests/e2e/soak.sh

# ---- cross builds and heterogeneous tests ---------------------------------------
# make cross ARCH=s390x (or aarch64; without ARCH: both) builds a static
# ckpt-server and ckpt with Debian's cross compiler into $(BUILD)/cross-ARCH/bin; xxhash
# is used header-only there (XXH_INLINE_ALL); libsodium comes from Debian's
# multiarch packages (libsodium-dev:s390x, libsodium-dev:arm64), linked statically.
# make check-hetero runs the e2e suites with that server under qemu-user
# (tests/hetero/run).
CROSS_ARCHES := s390x aarch64
CROSS_SEL := $(if $(filter command line,$(origin ARCH)),$(ARCH),$(CROSS_ARCHES))
ifneq ($(filter cross check-hetero,$(MAKECMDGOALS)),)
ifneq ($(filter-out $(CROSS_ARCHES),$(CROSS_SEL)),)
$(error ARCH=$(ARCH): cross builds exist for $(CROSS_ARCHES))
endif
endif
CROSS_SERVERS := $(CROSS_SEL:%=$(BUILD)/cross-%/bin/ckpt-server)
CROSS_TOOLS := $(CROSS_SEL:%=$(BUILD)/cross-%/bin/ckpt)
CFLAGS_CROSS = -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 $(OPT) $(WARN) -MMD -MP -Iwire \
	-DCKPT_VERSION=\"$(VERSION)\" -DXXH_INLINE_ALL $(CFLAGS)
XXH_HEADER = $(shell $(PKG_CONFIG) --variable=includedir libxxhash 2>/dev/null || echo /usr/include)/xxhash.h
SODIUM_INCLUDE = $(shell $(PKG_CONFIG) --variable=includedir libsodium 2>/dev/null || echo /usr/include)
cross_multiarch = $(if $(filter aarch64,$(1)),aarch64-linux-gnu,$(1)-linux-gnu)
define cross_rules
$(BUILD)/cross-$(1)/include/xxhash.h: | deps
	@mkdir -p $$(@D)
	cp $$(XXH_HEADER) $$@
	cp -r $$(SODIUM_INCLUDE)/sodium.h $$(SODIUM_INCLUDE)/sodium $$(@D)/
$(BUILD)/cross-$(1)/obj/%.o: %.c $(BUILD)/cross-$(1)/include/xxhash.h | deps
	@mkdir -p $$(@D)
	$(1)-linux-gnu-gcc $$(CFLAGS_CROSS) -I$(BUILD)/cross-$(1)/include -c -o $$@ $$<
$(BUILD)/cross-$(1)/bin/ckpt-server: $$(SERVER_SRC:%.c=$(BUILD)/cross-$(1)/obj/%.o) \
		$$(WIRE_SRC:%.c=$(BUILD)/cross-$(1)/obj/%.o)
	@mkdir -p $$(@D)
	$(1)-linux-gnu-gcc -static -o $$@ $$^ /usr/lib/$$(call cross_multiarch,$(1))/libsodium.a -lpthread
$(BUILD)/cross-$(1)/bin/ckpt: $$(TOOL_SRC:%.c=$(BUILD)/cross-$(1)/obj/%.o) \
		$$(WIRE_SRC:%.c=$(BUILD)/cross-$(1)/obj/%.o)
	@mkdir -p $$(@D)
	$(1)-linux-gnu-gcc -static -o $$@ $$^ /usr/lib/$$(call cross_multiarch,$(1))/libsodium.a
endef
$(foreach a,$(CROSS_ARCHES),$(eval $(call cross_rules,$(a))))
.PHONY: cross check-hetero
cross: $(CROSS_SERVERS) $(CROSS_TOOLS)
check-hetero: all $(PROG_BINS) $(CROSS_SERVERS) $(CROSS_TOOLS)
	@BUILD=$(BUILD) tests/hetero/run $(CROSS_SEL)

# ---- fuzzing (tests/fuzz/) ---------------------------------------------------------
# libFuzzer harnesses, built with clang, ASan and UBSan into $(BUILD)/fuzz/.
# Each NAME of FUZZ_NAMES is tests/fuzz/fuzz_NAME.c (LLVMFuzzerTestOneInput)
# linked with the sources FUZZ_SRC_NAME, seeded from tests/fuzz/corpus/NAME/
# (written by tests/fuzz/mkseeds.c: make fuzz-seeds). make fuzz runs each
# for FUZZ_SECONDS (default 60) seconds, two at a time (tests/fuzz/run);
# make check runs them for 10 s each, or 60 s with CI=true.
FUZZ_CC ?= clang
FUZZ_NAMES := frame msg ckptfile image joint
FUZZ_SRC_frame := $(WIRE_SRC)
FUZZ_SRC_msg := $(WIRE_SRC)
FUZZ_SRC_ckptfile := $(WIRE_SRC)
FUZZ_SRC_image := server/tool/image.c server/tool/util.c $(WIRE_SRC)
FUZZ_SRC_joint := server/tool/joint.c server/tool/image.c server/tool/util.c $(WIRE_SRC)
ifeq ($(origin FUZZ_SECONDS),undefined)
FUZZ_SECONDS := 60
CHECK_FUZZ_SECONDS := $(if $(CI),60,10)
else
CHECK_FUZZ_SECONDS := $(FUZZ_SECONDS)
endif
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
CFLAGS_FUZZ = -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -g -O1 $(WARN) -MMD -MP -Iwire -Iserver/tool \
	-DCKPT_VERSION=\"$(VERSION)\" $(CFLAGS)
# make fuzz-cov: the same harnesses with clang's source coverage instead of
# the sanitizers, run once over the corpus; per-file line coverage report.
CFLAGS_FUZZ_COV = $(CFLAGS_FUZZ) -fprofile-instr-generate -fcoverage-mapping
FUZZ_BINS := $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)
FUZZ_COV_BINS := $(FUZZ_NAMES:%=$(BUILD)/fuzz-cov/fuzz_%)
$(BUILD)/fuzz/obj/%.o: %.c | deps
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CFLAGS_FUZZ) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c -o $@ $<
$(BUILD)/fuzz-cov/obj/%.o: %.c | deps
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CFLAGS_FUZZ_COV) -fsanitize=fuzzer-no-link -c -o $@ $<
define fuzz_rules
$(BUILD)/fuzz/fuzz_$(1): $(BUILD)/fuzz/obj/tests/fuzz/fuzz_$(1).o $$(FUZZ_SRC_$(1):%.c=$(BUILD)/fuzz/obj/%.o)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $$@ $$^ $$(LDFLAGS) $$(XXH_LIBS) $$(SODIUM_LIBS)
$(BUILD)/fuzz-cov/fuzz_$(1): $(BUILD)/fuzz-cov/obj/tests/fuzz/fuzz_$(1).o $$(FUZZ_SRC_$(1):%.c=$(BUILD)/fuzz-cov/obj/%.o)
	$(FUZZ_CC) -fprofile-instr-generate -fsanitize=fuzzer -o $$@ $$^ $$(LDFLAGS) $$(XXH_LIBS) $$(SODIUM_LIBS)
endef
$(foreach n,$(FUZZ_NAMES),$(eval $(call fuzz_rules,$(n))))
$(BUILD)/fuzz/mkseeds: tests/fuzz/mkseeds.c $(WIRE_OBJ) | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Iserver/tool -Itests/unit -o $@ $< $(WIRE_OBJ) $(XXH_LIBS) $(SODIUM_LIBS)
.PHONY: fuzz fuzz-build fuzz-seeds fuzz-cov
fuzz-build: $(FUZZ_BINS)
fuzz: $(FUZZ_BINS)
	@BUILD=$(BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run $(FUZZ_NAMES)
fuzz-seeds: $(BUILD)/fuzz/mkseeds
	mkdir -p tests/fuzz/corpus && $(BUILD)/fuzz/mkseeds tests/fuzz/corpus
fuzz-cov: $(FUZZ_COV_BINS)
	@BUILD=$(BUILD) tests/fuzz/run --cov $(FUZZ_NAMES)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib
	install -m 755 $(BIN)/ckpt-server $(BIN)/ckpt-restore $(BIN)/ckpt $(DESTDIR)$(PREFIX)/bin/
	install -m 755 $(SCRIPTS:%=$(BIN)/%) $(DESTDIR)$(PREFIX)/bin/
	install -m 755 $(SHIM_SO) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libckptshim.so.1 $(DESTDIR)$(PREFIX)/lib/libckptshim.so

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
