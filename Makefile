# casyncio: Python's asyncio in C on libuv.  GNU make; `make help` lists
# the targets.
#
# Everything is built under $(BUILD) (default build/).  The sanitizer
# targets build in their own directories (build-asan/, build-tsan/) so
# instrumented and plain objects never mix, and a change of compiler or
# flags within one directory rebuilds it (see FLAGS_STAMP below).

# ---------------------------------------------------------------- settings

VERSION      := 0.1.0
SOMAJOR      := 0

BUILD        ?= build
PREFIX       ?= /usr/local
DESTDIR      ?=
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
BINDIR       ?= $(PREFIX)/bin
DATADIR      ?= $(PREFIX)/share
MANDIR       ?= $(DATADIR)/man
# Where gdb looks for the script of an object file: under its data
# directory's auto-load tree, by the object's path (libstdc++'s place for
# its printers).  gdb's own data directory is /usr/share/gdb: with
# PREFIX=/usr the library's script loads by itself; elsewhere add this
# directory with `add-auto-load-scripts-directory`.
GDB_AUTOLOAD_DIR ?= $(DATADIR)/gdb/auto-load$(LIBDIR)
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig

# CC is make's own variable (default cc); `make CC=clang` works as usual.
CFLAGS       ?= -O2 -g
CPPFLAGS     ?=
LDFLAGS      ?=
PKG_CONFIG   ?= pkg-config
CLANG_FORMAT ?= clang-format

# Context switch: asm (our routine for this architecture) or ucontext (the
# portable fallback, slower: glibc saves the signal mask on every switch).
CORO         ?= asm
ARCH         ?= $(shell uname -m)

# What the library links against, as pkg-config names.  The HTTP work adds
# libcurl here; the .pc file's Requires.private follows automatically.
LIB_PKGS     := libuv libcurl libssl libcrypto libdw
# Of those, the ones the .pc file names in Libs.private as plain -l flags
# (always linked as shared libraries) instead of in Requires.private:
# libcurl's own Libs.private name libraries (nghttp2, ssh2, ldap, ...)
# whose -dev packages libcurl4-openssl-dev does not pull in, so
# `pkg-config --static casyncio` would name libraries that are not there.
# libdw (elfutils: the task dumps' unwinder and symboliser) likewise names
# compression libraries (-lbz2, liblzma) only its static build needs.
LIB_PKGS_SHARED := libcurl libdw
# What building and testing need: checked by `deps`, installed from Debian.
DEP_PKGS     := libuv libcurl libssl libcrypto libdw check
APT_PKGS     := libuv1-dev libcurl4-openssl-dev libssl-dev libdw-dev check pkg-config

# SANITIZE=asan|tsan instruments everything built (check-asan and
# check-tsan set it, with their own BUILD).
SANITIZE     ?=

# Only the runner's suite of this name (`make check SUITE=task`).
SUITE        ?=

# V=1 shows full command lines.
V            ?= 0

# ----------------------------------------------------------- derived setup

# No built-in implicit rules: every rule this build uses is written below.
MAKEFLAGS += --no-builtin-rules
.SUFFIXES:
# A recipe that fails leaves no half-written target behind.
.DELETE_ON_ERROR:

ifeq ($(V),1)
Q :=
say :=
else
Q := @
say = @printf '  %-7s %s\n' $1 $2;
endif

SWITCH_ASM_x86_64  := src/core/coro/switch_x86_64.S
SWITCH_ASM_amd64   := src/core/coro/switch_x86_64.S
SWITCH_ASM_aarch64 := src/core/coro/switch_aarch64.S
SWITCH_ASM_arm64   := src/core/coro/switch_aarch64.S

ifeq ($(CORO),asm)
SWITCH_ASM := $(SWITCH_ASM_$(ARCH))
ifeq ($(SWITCH_ASM),)
$(warning casyncio: no context-switch assembly for $(ARCH); building with CORO=ucontext)
override CORO := ucontext
endif
endif
ifeq ($(CORO),ucontext)
SWITCH_ASM :=
CORO_DEFS  := -DASYNCIO_CORO_UCONTEXT
else ifeq ($(CORO),asm)
CORO_DEFS  :=
else
$(error CORO must be asm or ucontext, not '$(CORO)')
endif

ifeq ($(SANITIZE),)
SAN_FLAGS :=
# A shared library with an undefined symbol is a missing -l: fail at link
# time, not when a user's program loads it.  (Sanitizer runtimes are
# resolved by the executable, so this only applies to plain builds.)
SO_LDFLAGS := -Wl,-z,defs
else ifeq ($(SANITIZE),asan)
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else ifeq ($(SANITIZE),tsan)
SAN_FLAGS := -fsanitize=thread
else
$(error SANITIZE must be asan, tsan or empty, not '$(SANITIZE)')
endif

# $(call lazy,VAR): VAR is computed once, the first time it is used.  The
# pkg-config answers below only exist after `deps` has run, and they are used
# only in recipes, which make expands after the recipe's prerequisites
# (among them `deps`) are done.  A plain `:=` would ask pkg-config while
# parsing, before anything could be installed.
lazy = $(eval $1 = $$(eval $1 := $(value $1))$$($1))

LIB_PKG_CFLAGS   = $(shell $(PKG_CONFIG) --cflags $(LIB_PKGS))
LIB_PKG_LIBS     = $(shell $(PKG_CONFIG) --libs $(LIB_PKGS))
CHECK_PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags check)
CHECK_PKG_LIBS   = $(shell $(PKG_CONFIG) --libs check)
# Valgrind's client requests let the coroutine code register its stacks.
VALGRIND_DEFS    = $(shell echo '\#include <valgrind/valgrind.h>' | \
                     $(CC) -E -x c - >/dev/null 2>&1 && echo -DASYNCIO_HAVE_VALGRIND_H)
# libpq, for examples/postgres.c and its test only: empty when missing.
HAVE_LIBPQ       = $(shell $(PKG_CONFIG) --exists libpq 2>/dev/null && echo yes)
PQ_CFLAGS        = $(shell $(PKG_CONFIG) --cflags libpq 2>/dev/null)
PQ_LIBS          = $(shell $(PKG_CONFIG) --libs libpq 2>/dev/null)
$(foreach v,LIB_PKG_CFLAGS LIB_PKG_LIBS CHECK_PKG_CFLAGS CHECK_PKG_LIBS VALGRIND_DEFS \
  HAVE_LIBPQ PQ_CFLAGS PQ_LIBS,$(call lazy,$v))

# Stack probing for programs (casyncio.pc's Cflags, the examples): a frame
# larger than a task's guard then faults in the guard instead of landing in
# the stack below.  Only where the compiler has it.
STACK_PROBE_CFLAGS = $(shell $(CC) -fstack-clash-protection -x c -c -o /dev/null /dev/null \
                       >/dev/null 2>&1 && echo -fstack-clash-protection)
$(call lazy,STACK_PROBE_CFLAGS)

WARN := -Wall -Wextra -Werror
STD  := -std=gnu11

# The library: only what casyncio.h marks ASYNCIO_EXTERN is exported.
LIB_CFLAGS   = $(STD) $(CFLAGS) $(WARN) -fvisibility=hidden -fPIC -pthread $(SAN_FLAGS) \
               -Iinclude -Isrc $(CORO_DEFS) $(VALGRIND_DEFS) $(LIB_PKG_CFLAGS) $(CPPFLAGS)
# Tests and examples see the library as users do: through the public header.
TEST_CFLAGS  = $(STD) $(CFLAGS) $(WARN) -pthread $(SAN_FLAGS) \
               -Iinclude $(CHECK_PKG_CFLAGS) $(LIB_PKG_CFLAGS) $(CPPFLAGS)
PROG_CFLAGS  = $(STD) $(CFLAGS) $(WARN) -pthread $(SAN_FLAGS) $(STACK_PROBE_CFLAGS) \
               -Iinclude $(LIB_PKG_CFLAGS) $(CPPFLAGS)
# Benchmarks measure release code whatever CFLAGS says; never sanitized.
BENCH_CFLAGS = $(STD) $(CFLAGS) -O2 -DNDEBUG $(WARN) -pthread -Iinclude $(LIB_PKG_CFLAGS) $(CPPFLAGS)

LINK_FLAGS   = $(LDFLAGS) -pthread $(SAN_FLAGS)
LIB_LIBS     = $(LIB_PKG_LIBS) -lpthread
# What a program linked with the static library needs besides it.
PROG_LIBS    = $(LIB_LIBS) -lm

# ---------------------------------------------------------------- outputs

OBJ        := $(BUILD)/obj
LIB_A      := $(BUILD)/libcasyncio.a
SONAME     := libcasyncio.so.$(SOMAJOR)
LIB_SO     := $(BUILD)/libcasyncio.so.$(VERSION)
SO_LINKS   := $(BUILD)/$(SONAME) $(BUILD)/libcasyncio.so
RUNNER     := $(BUILD)/tests/run

# The specification: the umbrella header and one header per area.
AREA_HEADERS := $(wildcard include/casyncio/*.h)

LIB_SRCS   := $(wildcard src/*.c src/*/*.c src/core/coro/*.c) $(SWITCH_ASM)
LIB_OBJS   := $(patsubst %,$(OBJ)/%.o,$(basename $(LIB_SRCS)))
# The runner is tests/*.c only: sub-directories (test servers) are not in it.
TEST_SRCS  := $(wildcard tests/*.c)
TEST_OBJS  := $(patsubst %.c,$(OBJ)/%.o,$(TEST_SRCS))
# examples/postgres.c needs libpq (the example's own dependency, never the
# library's): built by its own rule below, only where pkg-config finds it.
PG_EXAMPLE_SRCS := examples/postgres.c
EXAMPLE_SRCS := $(filter-out $(PG_EXAMPLE_SRCS),$(wildcard examples/*.c))
EXAMPLES   := $(patsubst examples/%.c,$(BUILD)/examples/%,$(EXAMPLE_SRCS))
PG_EXAMPLE := $(BUILD)/examples/postgres
BENCH_SRCS := $(wildcard bench/*.c)
BENCHES    := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))
# casyncio-fetch, the tool `make install` installs with its man page.
FETCH_SRCS := $(wildcard tools/fetch/*.c)
FETCH_OBJS := $(FETCH_SRCS:%.c=$(OBJ)/%.o)
FETCH      := $(BUILD)/casyncio-fetch
FETCH_MAN  := tools/fetch/casyncio-fetch.1

ALL_OBJS   := $(LIB_OBJS) $(TEST_OBJS) $(EXAMPLE_SRCS:%.c=$(OBJ)/%.o) $(BENCH_SRCS:%.c=$(OBJ)/%.o) \
              $(PG_EXAMPLE_SRCS:%.c=$(OBJ)/%.o) $(FETCH_OBJS)

# Every object depends on this file, which holds the compiler and all flags
# and is rewritten only when they change: `make CC=clang` or `make
# CORO=ucontext` in an existing build directory then rebuilds everything
# instead of mixing objects.
FLAGS_STAMP := $(OBJ)/flags

ENSURE := sh mk/ensure.sh

# ------------------------------------------------------------------ targets

.PHONY: all lib tools deps runner examples demo bench install uninstall \
        check check-fetch check-fetch-asan check-gdb check-postgres check-asan check-tsan check-valgrind check-exports check-header check-install check-switch \
        clean format format-check help FORCE

all: lib tools

lib: $(LIB_A) $(LIB_SO) $(SO_LINKS)

tools: $(FETCH)

runner: $(RUNNER)

# Installs the Debian packages the build needs when pkg-config cannot find
# them (or is missing itself).  Cheap when everything is there: one
# pkg-config call.
deps:
	$(Q)$(ENSURE) "build dependencies ($(DEP_PKGS))" \
	    --probe "$(PKG_CONFIG) --exists $(DEP_PKGS)" $(APT_PKGS)

$(FLAGS_STAMP): FORCE | deps
	@mkdir -p $(@D)
	@printf '%s\n' '$(CC)' '$(LIB_CFLAGS)' '$(TEST_CFLAGS)' '$(PROG_CFLAGS)' \
	    '$(BENCH_CFLAGS)' '$(LINK_FLAGS) $(PROG_LIBS)' > $@.new
	@if cmp -s $@.new $@; then rm -f $@.new; else mv -f $@.new $@; fi

# ---- compiling: one rule per kind of source

$(OBJ)/src/%.o: src/%.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(call say,CC,$<)$(CC) $(LIB_CFLAGS) -MMD -MP -c -o $@ $<

# The switch routines declare a non-executable stack themselves; the
# assembler flag keeps it so should one ever forget.
$(OBJ)/src/%.o: src/%.S $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(call say,AS,$<)$(CC) $(LIB_CFLAGS) -Wa,--noexecstack -MMD -MP -c -o $@ $<

$(OBJ)/tests/%.o: tests/%.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(call say,CC,$<)$(CC) $(TEST_CFLAGS) -MMD -MP -c -o $@ $<

$(OBJ)/examples/%.o: examples/%.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(call say,CC,$<)$(CC) $(PROG_CFLAGS) -MMD -MP -c -o $@ $<

$(OBJ)/bench/%.o: bench/%.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(call say,CC,$<)$(CC) $(BENCH_CFLAGS) -MMD -MP -c -o $@ $<

$(OBJ)/tools/%.o: tools/%.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(call say,CC,$<)$(CC) $(PROG_CFLAGS) -DFETCH_VERSION='"$(VERSION)"' -MMD -MP -c -o $@ $<

# ---- linking

# Removed first: `ar r` into an old archive would keep members of deleted
# sources.
$(LIB_A): $(LIB_OBJS)
	$(call say,AR,$@)rm -f $@ && $(AR) rcs $@ $^

$(LIB_SO): $(LIB_OBJS)
	$(call say,LD,$@)$(CC) -shared -Wl,-soname,$(SONAME) $(LINK_FLAGS) $(SO_LDFLAGS) \
	    -o $@ $^ $(LIB_LIBS)

# make sees through a symlink to its target's time, so these stay up to date
# once made.
$(BUILD)/$(SONAME): $(LIB_SO)
	$(Q)ln -sf $(notdir $<) $@

$(BUILD)/libcasyncio.so: $(BUILD)/$(SONAME)
	$(Q)ln -sf $(notdir $<) $@

# Tests, examples and benchmarks link the static library, so they run from
# the build tree without LD_LIBRARY_PATH.  Static pattern rules name their
# objects explicitly, so make keeps them instead of deleting them as
# intermediates of a chain.
# The runner wraps sendto: the library's datagram sends go through
# tests/check_datagram.c, which can make them fail as the kernel would
# (EAGAIN, ENOBUFS), which loopback never does by itself.
TEST_WRAP  := -Wl,--wrap=sendto

$(RUNNER): $(TEST_OBJS) $(LIB_A)
	@mkdir -p $(@D)
	$(call say,LD,$@)$(CC) $(LINK_FLAGS) $(TEST_WRAP) -o $@ $(TEST_OBJS) $(LIB_A) $(CHECK_PKG_LIBS) \
	    $(PROG_LIBS)

# The program the gdb helper's test examines (tests/gdb/test.sh), linked
# statically and against the shared library (for auto-loading).
GDB_PROG := $(BUILD)/tests/gdb/prog
$(GDB_PROG): tests/gdb/prog.c $(LIB_A) $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(call say,CC,$@)$(CC) $(PROG_CFLAGS) -o $@ $< $(LIB_A) $(PROG_LIBS)

$(GDB_PROG)-shared: tests/gdb/prog.c $(LIB_SO) $(SO_LINKS) $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(call say,CC,$@)$(CC) $(PROG_CFLAGS) -o $@ $< -L$(BUILD) -lcasyncio

$(EXAMPLES): $(BUILD)/examples/%: $(OBJ)/examples/%.o $(LIB_A)
	@mkdir -p $(@D)
	$(call say,LD,$@)$(CC) $(LINK_FLAGS) -o $@ $< $(LIB_A) $(PROG_LIBS)

# The tool calls libcurl (its codes, curl_getdate) and libcrypto (the
# checksums) itself, besides the library.
$(FETCH): $(FETCH_OBJS) $(LIB_A)
	$(call say,LD,$@)$(CC) $(LINK_FLAGS) -o $@ $(FETCH_OBJS) $(LIB_A) $(PROG_LIBS)

# Its own rule, with libpq's flags (a target-specific variable would reach
# the flags stamp, a prerequisite, and rebuild everything).
$(OBJ)/examples/postgres.o: examples/postgres.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(call say,CC,$<)$(CC) $(PROG_CFLAGS) $(PQ_CFLAGS) -MMD -MP -c -o $@ $<

$(PG_EXAMPLE): $(OBJ)/examples/postgres.o $(LIB_A)
	@mkdir -p $(@D)
	$(call say,LD,$@)$(CC) $(LINK_FLAGS) -o $@ $< $(LIB_A) $(PQ_LIBS) $(PROG_LIBS)

$(BENCHES): $(BUILD)/bench/%: $(OBJ)/bench/%.o $(LIB_A)
	@mkdir -p $(@D)
	$(call say,LD,$@)$(CC) $(LDFLAGS) -pthread -o $@ $< $(LIB_A) $(PROG_LIBS) $(BENCH_LIBS)

# The TLS benchmarks' own programs call OpenSSL themselves (the load
# client's --tls, tls_cost), not only through the library.
$(BUILD)/bench/echo_load $(BUILD)/bench/tls_cost: BENCH_LIBS = $(shell $(PKG_CONFIG) --libs libssl libcrypto)

-include $(ALL_OBJS:.o=.d)

# ---- tests

CHECK_EXPORTS = sh mk/check-exports.sh $(LIB_SO)
CHECK_HEADER  = sh mk/check-header.sh include
CHECK_SWITCH  = sh mk/check-switch.sh $(BUILD) $(CC) $(CORO)
# Runs `make install` itself (hence $(MAKE) here, which also hands it the
# jobserver).
CHECK_INSTALL = MAKE='$(MAKE)' PKG_CONFIG='$(PKG_CONFIG)' \
                sh mk/check-install.sh '$(BUILD)' '$(VERSION)' '$(CC)'

# The suites first (their Check summary is the headline), then the
# packaging promises: exports, a self-contained header, a usable install.
check: lib $(RUNNER)
	$(RUNNER) $(SUITE)
	$(Q)if [ -z "$(SUITE)" ]; then \
	    echo "The stack suite again, as on kernels before 6.13 (no guard markers):"; \
	    ASYNCIO_NO_GUARD_MARKERS=1 $(RUNNER) stack && \
	    echo "The stack suite again, as on kernels before 6.15 (no bulk advice on oneself):" && \
	    ASYNCIO_NO_BULK_ADVICE=1 $(RUNNER) stack; fi
	$(Q)sh mk/check-layers.sh $(LIB_OBJS)
	$(Q)$(CHECK_SWITCH)
	$(Q)$(CHECK_EXPORTS)
	$(Q)$(CHECK_HEADER)
	+$(Q)$(CHECK_INSTALL)
	+$(Q)if [ -z "$(SUITE)" ]; then $(MAKE) --no-print-directory check-fetch; fi
	+$(Q)if [ -z "$(SUITE)" ]; then $(MAKE) --no-print-directory check-gdb; fi
	+$(Q)if [ -z "$(SUITE)" ]; then $(MAKE) --no-print-directory check-postgres; fi

# casyncio-fetch against local servers that the scripts start and stop
# (Python's http.server and tests/fetch/server.py, which misbehaves on
# purpose; nginx when it is installed).
check-fetch: $(FETCH)
	$(Q)$(ENSURE) python3 --probe "command -v python3" python3
	sh tests/fetch/run.sh $(FETCH)

# The gdb helper (tools/casyncio-gdb.py) in gdb's batch mode: a live
# process, a core file, auto-loading (tests/gdb/test.sh).
check-gdb: $(GDB_PROG) $(GDB_PROG)-shared
	$(Q)$(ENSURE) gdb --probe "command -v gdb" gdb
	sh tests/gdb/test.sh $(BUILD) tools/casyncio-gdb.py $(VERSION)

# examples/postgres against a real PostgreSQL server that tests/pg/test.sh
# starts (initdb into a temporary directory, a Unix socket only, as the
# postgres user when run as root) and stops.  Debian's postgresql and
# libpq-dev: the example's dependencies, not the library's.
PG_APT_PKGS := postgresql libpq-dev
check-postgres:
	$(Q)$(ENSURE) "PostgreSQL and libpq ($(PG_APT_PKGS))" \
	    --probe "$(PKG_CONFIG) --exists libpq && ls /usr/lib/postgresql/*/bin/initdb" $(PG_APT_PKGS)
	+$(Q)$(MAKE) --no-print-directory $(PG_EXAMPLE)
	sh tests/pg/test.sh $(PG_EXAMPLE)

# The switch alone, natively and (cross compiler and qemu-user permitting)
# for aarch64.
check-switch: deps
	$(Q)$(CHECK_SWITCH) cross

check-exports: $(LIB_SO)
	$(Q)$(CHECK_EXPORTS)

check-header:
	$(Q)$(CHECK_HEADER)

check-install: lib
	+$(Q)$(CHECK_INSTALL)

# The sanitizer runs rebuild the library and runner instrumented, in their
# own directories, through a sub-make: a run is then `make check-asan`
# whatever BUILD the caller uses.  Check's fork mode gives each test its own
# process, so LeakSanitizer reports leaks per test.
check-asan:
	+$(Q)$(MAKE) --no-print-directory BUILD=build-asan SANITIZE=asan runner
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    CK_FORK=yes build-asan/tests/run $(SUITE)

# casyncio-fetch's tests with the tool and the library built under ASan and
# UBSan (in build-asan/): a small quarantine, or the freed memory it holds
# would count in the test of bounded memory.
check-fetch-asan:
	$(Q)$(ENSURE) python3 --probe "command -v python3" python3
	+$(Q)$(MAKE) --no-print-directory BUILD=build-asan SANITIZE=asan tools
	ASAN_OPTIONS=detect_leaks=1:quarantine_size_mb=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    sh tests/fetch/run.sh build-asan/casyncio-fetch

# ThreadSanitizer gives every coroutine a fiber with its own trace memory,
# so it runs every suite but the one about stacks (tens of thousands of
# tasks at once), with big counts scaled down.
TSAN_SUITES ?= handles map pool threadsafe error future loop task cancel gather executor threads wait timeout taskgroup sync queue stream transport server tls datagram fd signal file process http contextvars introspect deadlock

check-tsan:
	+$(Q)$(MAKE) --no-print-directory BUILD=build-tsan SANITIZE=tsan runner
	$(Q)for s in $(if $(SUITE),$(SUITE),$(TSAN_SUITES)); do \
	    echo "TSAN_OPTIONS=halt_on_error=1:suppressions=mk/tsan.supp CASYNCIO_TEST_SCALE=50 build-tsan/tests/run $$s"; \
	    TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$(CURDIR)/mk/tsan.supp \
	        CASYNCIO_TEST_SCALE=50 \
	        build-tsan/tests/run $$s || exit 1; \
	done

# Valgrind must be present before the library is compiled: whether
# valgrind.h exists decides whether coroutine stacks are registered with it
# (the flags stamp rebuilds when that changes).  The tests divide their big
# counts by CASYNCIO_TEST_SCALE and Check stretches every timeout.
VALGRIND := valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
            --trace-children=yes --track-fds=no -q

check-valgrind:
	$(Q)$(ENSURE) valgrind --probe "command -v valgrind" valgrind
	+$(Q)$(MAKE) --no-print-directory runner
	CASYNCIO_TEST_SCALE=20 CK_TIMEOUT_MULTIPLIER=20 $(VALGRIND) $(RUNNER) $(SUITE)

# ---- programs

examples: $(EXAMPLES)
	+$(Q)if [ "$(HAVE_LIBPQ)" = yes ]; then $(MAKE) --no-print-directory $(PG_EXAMPLE); \
	else echo "casyncio: libpq not found: examples/postgres not built (apt-get install libpq-dev)"; fi

demo: lib examples
	$(Q)if [ ! -f examples/demo.sh ]; then \
	    echo "casyncio: examples/demo.sh does not exist yet: no demo to run" >&2; exit 1; fi
	sh examples/demo.sh $(BUILD)/examples

# bench/run.sh runs each benchmark beside its Python asyncio and uvloop
# twins, so Debian's uvloop must be there too; the HTTP benchmark needs
# nginx and aiohttp (wrk is optional: its column is skipped without it);
# the TLS benchmarks the openssl command (certificates, s_time, s_server,
# speed); the fetch benchmark curl and aria2c.
bench: $(BENCHES) $(FETCH)
	$(Q)$(ENSURE) python3-uvloop python3-uvloop
	$(Q)$(ENSURE) "the fetch benchmark's aria2c" --probe "command -v aria2c" aria2
	$(Q)$(ENSURE) "the TLS benchmarks' openssl command" --probe "command -v openssl" openssl
	$(Q)$(ENSURE) "the PostgreSQL benchmark's server, libpq and asyncpg" \
	    --probe "$(PKG_CONFIG) --exists libpq && ls /usr/lib/postgresql/*/bin/pgbench && \
	             /usr/bin/python3 -c 'import asyncpg'" $(PG_APT_PKGS) python3-asyncpg
	+$(Q)$(MAKE) --no-print-directory $(PG_EXAMPLE)
	$(Q)$(ENSURE) "the HTTP benchmark's server and aiohttp" \
	    --probe "test -x /usr/sbin/nginx && /usr/bin/python3 -c 'import aiohttp'" \
	    nginx-light python3-aiohttp
	$(Q)if [ ! -f bench/run.sh ]; then \
	    echo "casyncio: bench/run.sh does not exist yet: no benchmark to run" >&2; exit 1; fi
	sh bench/run.sh $(BUILD)/bench

# ---- installing

# The .pc file names its directories relative to ${prefix} when they are
# under PREFIX, so `pkg-config --define-variable=prefix=...` relocates it.
pc_dir = $(patsubst $(PREFIX)/%,$${prefix}/%,$1)

install: lib $(FETCH)
	install -d $(DESTDIR)$(INCLUDEDIR)/casyncio $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) \
	    $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(DATADIR)/casyncio $(DESTDIR)$(GDB_AUTOLOAD_DIR)
	install -m 755 $(FETCH) $(DESTDIR)$(BINDIR)/casyncio-fetch
	install -m 644 $(FETCH_MAN) $(DESTDIR)$(MANDIR)/man1/casyncio-fetch.1
	install -m 644 tools/casyncio-gdb.py $(DESTDIR)$(DATADIR)/casyncio/casyncio-gdb.py
	install -m 644 tools/casyncio-gdb.py \
	    $(DESTDIR)$(GDB_AUTOLOAD_DIR)/libcasyncio.so.$(VERSION)-gdb.py
	install -m 644 include/casyncio.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 644 $(AREA_HEADERS) $(DESTDIR)$(INCLUDEDIR)/casyncio/
	install -m 644 $(LIB_A) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf libcasyncio.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libcasyncio.so
	sed -e 's|@PREFIX@|$(PREFIX)|' \
	    -e 's|@LIBDIR@|$(call pc_dir,$(LIBDIR))|' \
	    -e 's|@INCLUDEDIR@|$(call pc_dir,$(INCLUDEDIR))|' \
	    -e 's|@VERSION@|$(VERSION)|' \
	    -e 's|@STACK_PROBE_CFLAGS@|$(STACK_PROBE_CFLAGS)|' \
	    -e 's|@REQUIRES_PRIVATE@|$(filter-out $(LIB_PKGS_SHARED),$(LIB_PKGS))|' \
	    -e 's|@LIBS_PRIVATE@|$(if $(LIB_PKGS_SHARED),$(shell $(PKG_CONFIG) --libs $(LIB_PKGS_SHARED)) )|' \
	    pkgconfig/casyncio.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/casyncio.pc
	@# The dynamic linker finds a new library under /usr/local/lib only
	@# once its cache is refreshed.
	$(Q)if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then \
	    ldconfig; fi

uninstall:
	rm -f $(AREA_HEADERS:include/%=$(DESTDIR)$(INCLUDEDIR)/%)
	-rmdir $(DESTDIR)$(INCLUDEDIR)/casyncio
	rm -f $(DESTDIR)$(DATADIR)/casyncio/casyncio-gdb.py \
	    $(DESTDIR)$(GDB_AUTOLOAD_DIR)/libcasyncio.so.$(VERSION)-gdb.py
	-rmdir $(DESTDIR)$(DATADIR)/casyncio
	rm -f $(DESTDIR)$(INCLUDEDIR)/casyncio.h \
	    $(DESTDIR)$(BINDIR)/casyncio-fetch \
	    $(DESTDIR)$(MANDIR)/man1/casyncio-fetch.1 \
	    $(DESTDIR)$(LIBDIR)/libcasyncio.a \
	    $(DESTDIR)$(LIBDIR)/libcasyncio.so.$(VERSION) \
	    $(DESTDIR)$(LIBDIR)/$(SONAME) \
	    $(DESTDIR)$(LIBDIR)/libcasyncio.so \
	    $(DESTDIR)$(PKGCONFIGDIR)/casyncio.pc

# ---- housekeeping

clean:
	rm -rf build*/

FORMAT_SRCS = $(shell find src include tests examples bench tools -name '*.[ch]' 2>/dev/null)

format:
	$(CLANG_FORMAT) -i $(FORMAT_SRCS)

# Fails listing the files clang-format would change; changes nothing.
format-check:
	$(CLANG_FORMAT) --dry-run -Werror $(FORMAT_SRCS)

help:
	@echo 'casyncio $(VERSION) build targets:'
	@echo '  all (default)   $(BUILD)/libcasyncio.a and libcasyncio.so.$(VERSION) with its symlinks,'
	@echo '                  and $(FETCH) (tools/fetch/)'
	@echo '  tools           $(FETCH) only'
	@echo '  deps            install missing build dependencies with apt-get (as root)'
	@echo '  check           test suites, then exports, header and install checks'
	@echo '  check-asan      test suites under ASan+UBSan+LeakSanitizer (build-asan/)'
	@echo '  check-tsan      test suites under ThreadSanitizer (build-tsan/)'
	@echo '  check-valgrind  test suites under valgrind'
	@echo '  check-fetch     casyncio-fetch against local servers (tests/fetch/run.sh)'
	@echo '  check-fetch-asan  the same, the tool built under ASan+UBSan (build-asan/)'
	@echo '  check-gdb       the gdb helper on a live process, a core file, auto-loaded (tests/gdb/test.sh)'
	@echo '  check-postgres  examples/postgres against a PostgreSQL server it starts (tests/pg/test.sh)'
	@echo '  check-exports, check-header, check-install   one packaging check each'
	@echo '  runner          build the test runner $(RUNNER) only'
	@echo '  examples        build examples/*.c into $(BUILD)/examples/'
	@echo '  demo            build the examples and run examples/demo.sh'
	@echo '  bench           build bench/*.c into $(BUILD)/bench/ and run bench/run.sh'
	@echo '  install         install header, libraries, casyncio.pc, casyncio-fetch and its man page,'
	@echo '                  casyncio-gdb.py (PREFIX, DESTDIR, BINDIR, MANDIR, DATADIR)'
	@echo '  uninstall       remove what install installed'
	@echo '  fuzz            libFuzzer on the stream reader for FUZZ_SECONDS (default 60; clang)'
	@echo '  format          clang-format -i every C file; format-check only reports'
	@echo '  clean           remove every build*/ directory'
	@echo 'Variables: BUILD=$(BUILD) PREFIX=$(PREFIX) MANDIR=$(MANDIR) CC=$(CC) CORO=asm|ucontext'
	@echo '           SUITE=<name> (one suite only)  V=1 (full command lines)'

# ---- fuzzing (clang's libFuzzer): `make fuzz FUZZ_SECONDS=60`

FUZZ_SECONDS ?= 60
FUZZ_BUILD   := build-fuzz
FUZZERS      := $(FUZZ_BUILD)/fuzz/stream_fuzz

.PHONY: fuzz
fuzz:
	+$(Q)$(MAKE) --no-print-directory CC=clang BUILD=$(FUZZ_BUILD) SANITIZE=asan \
	    CFLAGS="-O1 -g -fsanitize=fuzzer-no-link" $(FUZZ_BUILD)/fuzz/stream_fuzz
	$(Q)mkdir -p $(FUZZ_BUILD)/corpus/stream
	$(FUZZ_BUILD)/fuzz/stream_fuzz -max_total_time=$(FUZZ_SECONDS) -timeout=10 -max_len=4096 \
	    $(FUZZ_BUILD)/corpus/stream

# The fuzzer reaches the private entry points (src/net/net.h), so it links
# the static library, whose code is instrumented for coverage too.
$(FUZZ_BUILD)/fuzz/%: fuzz/%.c $(LIB_A) | deps
	$(call say,FUZZ,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(STD) -g -O1 $(WARN) -fsanitize=fuzzer,address,undefined -Iinclude -Isrc \
	    $(LIB_PKG_CFLAGS) $< $(LIB_A) $(LIB_LIBS) -lm -o $@
