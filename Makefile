# podvisor build. `make` builds build/podvisor; `make test` runs every test tier;
# `make demo` shows what podvisor does. See README.md.

# One source for the version: the binary (--version), the image's label
# (make image) and the chart's appVersion (checked in tests/k8s) read it.
VERSION   ?= $(shell cat VERSION)
CC        ?= cc
BUILD     ?= build
PYTHON    ?= /usr/bin/python3
PKGS      := libmicrohttpd jansson libcurl nettle
SAN       ?=

CSTD      := -std=c11 -D_GNU_SOURCE
WARN      := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes \
             -Wmissing-prototypes -Wno-unused-parameter
HARDEN    := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
OPT       := -O2 -g
ifeq ($(SAN),1)
  OPT     := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
             -fno-sanitize-recover=all
  HARDEN  := -fPIE
endif
ifneq ($(STATIC),1)
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libmicrohttpd and libcurl are dlopen()ed when first needed (src/lazylib.h):
# only jansson and nettle (SHA-256 for --watch, small) are linked. Their
# sonames come from the installed libraries.
PKG_LIBS   := $(shell pkg-config --libs jansson nettle 2>/dev/null) -ldl
soname     = $(shell readelf -d $(shell pkg-config --variable=libdir $(1))/$(2) 2>/dev/null | \
               sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
MHD_SONAME  := $(call soname,libmicrohttpd,libmicrohttpd.so)
CURL_SONAME := $(call soname,libcurl,libcurl.so)
else
  MHD_SONAME  := (linked in)
  CURL_SONAME := (linked in)
endif
# The static build (`make static`): musl, every library linked in from
# scripts/static-deps.sh's prefix; lazylib loads nothing (src/lazylib.h).
# ARCH (a Debian architecture: amd64, arm64, armhf, ppc64el, s390x) cross-
# builds it with Debian's cross compiler into build/static-ARCH; this
# machine's own is build/static (`make static`, `make release`).
NATIVE_ARCH := $(shell dpkg --print-architecture 2>/dev/null)
ARCH        ?= $(NATIVE_ARCH)
static_dir   = build/static$(if $(filter $(NATIVE_ARCH),$(1)),,-$(1))
static_bin   = build/podvisor-static$(if $(filter $(NATIVE_ARCH),$(1)),,-$(1))
ifeq ($(STATIC),1)
  STATIC_DIR := $(call static_dir,$(ARCH))
  # STATIC_GCC, STATIC_LIBC: what scripts/static-deps.sh built musl for.
  include $(STATIC_DIR)/toolchain.mk
  CC        := $(STATIC_GCC) -specs $(STATIC_DIR)/musl-gcc.specs -isystem $(STATIC_DIR)/kernel-include
  # -fno-merge-constants: podvisor's strings stay beside its other
  # read-only data instead of merged into one pool with every library's
  # (see PKG_LIBS below for why where they land matters).
  OPT       := -Os -g0 -ffunction-sections -fdata-sections -fno-asynchronous-unwind-tables -fno-unwind-tables -fno-merge-constants
  HARDEN    := -fstack-protector-strong -fno-pie
  # -ffile-prefix-map: no path of the build tree reaches the binary, so
  # two checkouts build the same bytes (make release, tests/release).
  PKG_CFLAGS := -I$(STATIC_DIR)/prefix/include -DPODVISOR_STATIC=1 \
                -DPODVISOR_LIBC='"$(STATIC_LIBC)"' -ffile-prefix-map=$(CURDIR)=.
  # What runs at every start (podvisor, libmicrohttpd, jansson, nettle,
  # musl) is linked first, and what only a TLS connection runs (libcurl,
  # mbedTLS) after musl: the kernel maps a binary's pages 64 KiB around
  # each fault, so code and data that are never touched stay out of RSS
  # only if they sit apart from what is (docs/design.md, "TLS in the
  # static binary").
  PKG_LIBS  := $(addprefix $(STATIC_DIR)/prefix/lib/,libmicrohttpd.a libjansson.a libnettle.a) -lc \
               $(addprefix $(STATIC_DIR)/prefix/lib/,libcurl.a libmbedtls.a libmbedx509.a libmbedcrypto.a) -lpthread
  # Not a static PIE: its start-up relocations dirty every page of
  # pointers in libcurl's and mbedTLS's tables (+40 KiB RSS, +90 KiB of
  # relocation table read), for each of the node's containers. As
  # Debian's tini-static and catatonit are built; the stack, heap and
  # mmap stay randomised.
  PIE_LDFLAGS := -static -no-pie -Wl,--gc-sections -s
endif
PIE_LDFLAGS ?= -pie
CFLAGS    += $(CSTD) $(WARN) $(OPT) $(HARDEN) -Isrc $(PKG_CFLAGS) \
             $(if $(filter 1,$(SAN)),-DPODVISOR_SANITIZER=1) -DPODVISOR_VERSION='"$(VERSION)"' -DMHD_SONAME='"$(MHD_SONAME)"' \
             -DLIBCURL_SONAME='"$(CURL_SONAME)"'
LDFLAGS   += $(PIE_LDFLAGS) -Wl,-z,relro,-z,now $(if $(filter 1,$(SAN)),-fsanitize=address$(comma)undefined)
comma     := ,
LDLIBS    += $(PKG_LIBS)

SRCS      := $(wildcard src/*.c)
OBJS      := $(SRCS:src/%.c=$(BUILD)/obj/%.o)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
HELPERS   := $(patsubst tests/helpers/%.c,$(BUILD)/helpers/%,$(wildcard tests/helpers/*.c))

# The compiler and its flags as the objects were built with them: a change
# (a flag edited here, another CC) rebuilds them instead of linking stale
# ones. Rewritten only when it changes, so an unchanged build stays built.
COMPILE_FLAGS := $(CC) $(CFLAGS)
ifneq ($(COMPILE_FLAGS),$(file <$(BUILD)/compile-flags))
  $(shell mkdir -p $(BUILD))
  $(file >$(BUILD)/compile-flags,$(COMPILE_FLAGS))
endif

.PHONY: qemu-arch release integration-qemu qemu-unit bench-sigterm test-nohup test-busy explore explore-deep check format-check image runtime-test licenses-source release-test static integration-static k8s-test container-test install fuzz all clean test unit unit-asan unit-valgrind integration integration-asan demo deps bench helpers

all: $(BUILD)/podvisor

$(BUILD)/podvisor: $(BUILD)/obj/main.o $(OBJS) $(filter %.a,$(PKG_LIBS))
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LDLIBS)

$(BUILD)/obj/main.o: cmd/podvisor/main.c $(wildcard src/*.h) $(BUILD)/compile-flags | $(BUILD)/obj
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/obj/%.o: src/%.c $(wildcard src/*.h) $(BUILD)/compile-flags | $(BUILD)/obj
	$(CC) $(CFLAGS) -c -o $@ $<

# The commit --version names (src/buildinfo.c): the header is rewritten
# only when the commit changes, so the rule runs every time and costs
# nothing when nothing changed.
$(BUILD)/commit.h: FORCE | $(BUILD)/obj
	@sh scripts/buildinfo.sh $@
$(BUILD)/obj/buildinfo.o: $(BUILD)/commit.h
$(BUILD)/obj/buildinfo.o: CFLAGS += -I$(BUILD)
.PHONY: FORCE
FORCE:

# Failure injection: a unit test may wrap libc calls (-Wl,--wrap=NAME) to
# make them fail on demand; its __wrap_NAME calls __real_NAME otherwise.
WRAP_test_loop  := -Wl,--wrap=epoll_ctl -Wl,--wrap=close
WRAP_test_child := -Wl,--wrap=clone -Wl,--wrap=fork
WRAP_test_log   := -Wl,--wrap=write
WRAP_test_watch := -Wl,--wrap=inotify_init1

$(BUILD)/tests/%: tests/unit/%.c $(OBJS) $(wildcard src/*.h) | $(BUILD)/tests
	$(CC) $(CFLAGS) $(PKG_CFLAGS_TEST) $(LDFLAGS) $(WRAP_$*) -o $@ $< $(OBJS) $(LDLIBS) \
	  $(PKG_LIBS_TEST) -lcmocka

$(BUILD)/helpers/%: tests/helpers/%.c | $(BUILD)/helpers
	$(CC) $(CSTD) $(WARN) -O2 -o $@ $<

$(BUILD)/obj $(BUILD)/tests $(BUILD)/helpers:
	mkdir -p $@

helpers: $(HELPERS)

# The explorer (tests/unit/explore.c): every sequence of events up to a
# depth through the real lifecycle, its rules checked after each step; it
# prints the shortest sequence that breaks one. make explore is part of
# check and test; make explore-deep goes further (EXPLORE_DEPTH, seconds).
EXPLORE_DEPTH ?= 9
EXPLORE_SECONDS ?= 120
$(BUILD)/tests/explore: tests/unit/explore.c $(OBJS) $(wildcard src/*.h) | $(BUILD)/tests
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(OBJS) $(LDLIBS)

explore: $(BUILD)/tests/explore
	$(BUILD)/tests/explore $(EXPLORE_DEPTH) $(EXPLORE_SECONDS)

explore-deep: $(BUILD)/tests/explore
	$(BUILD)/tests/explore 12 1500

# Unit tests (cmocka). Each binary prints cmocka's summary; any failure stops make.
unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

# The same unit tests built with clang under ASan+UBSan: proves the clang build
# is clean too and catches memory errors the plain run would miss.
unit-asan:
	$(MAKE) --no-print-directory BUILD=build/asan SAN=1 CC=clang unit

# valgrind over the plain unit binaries: any error or leak fails the run.
unit-valgrind: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== valgrind $$t"; \
	  valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible \
	    --errors-for-leak-kinds=definite,indirect,possible $$t; done

integration: $(BUILD)/podvisor helpers
	PODVISOR=$(abspath $(BUILD)/podvisor) HELPERS=$(abspath $(BUILD)/helpers) \
	  $(PYTHON) -m pytest -q -p no:cacheprovider tests/integration

# The integration suite again, against podvisor built with clang under
# ASan+UBSan (leak checks on): real requests, signals and children exercise
# paths the unit tests cannot. A sanitizer report fails podvisor's exit code.
integration-asan: helpers
	$(MAKE) --no-print-directory BUILD=build/asan SAN=1 CC=clang build/asan/podvisor
	ASAN_OPTIONS=detect_leaks=1 PODVISOR_SANITIZER_BUILD=1 PODVISOR=$(abspath build/asan/podvisor) \
	  HELPERS=$(abspath $(BUILD)/helpers) $(PYTHON) -m pytest -q -p no:cacheprovider tests/integration

# podvisor-static: what users run (the Dockerfile ships it). Its libraries
# are built once from Debian's sources and cached under build/static.
static:
	@sh scripts/static-deps.sh $(call static_dir,$(ARCH)) $(ARCH)
	@$(MAKE) --no-print-directory STATIC=1 ARCH=$(ARCH) BUILD=$(call static_dir,$(ARCH))/build \
	  $(call static_dir,$(ARCH))/build/podvisor
	@cp $(call static_dir,$(ARCH))/build/podvisor $(call static_bin,$(ARCH)).tmp && \
	  mv -f $(call static_bin,$(ARCH)).tmp $(call static_bin,$(ARCH))
	@echo "built $(call static_bin,$(ARCH))"

# What a release of the static binary must offer (NOTICE): the linked
# libraries' corresponding source, podvisor's objects, the relink recipe.
licenses-source: static
	sh scripts/corresponding-source.sh build/static $(VERSION) \
	  build/podvisor-$(VERSION)-corresponding-source.tar.gz

# The relink recipe followed; make release's dist/ built a second time
# elsewhere and compared byte for byte; its SPDX document checked.
release-test: licenses-source release
	sh tests/release/relink.sh build/podvisor-$(VERSION)-corresponding-source.tar.gz
	sh tests/release/relink.sh $(DIST)/podvisor-$(VERSION)-corresponding-source.tar.gz
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/release
	REBUILD_ARCHES=$(NATIVE_ARCH) sh tests/release/reproducible.sh $(DIST) $(RELEASE_ARCHES)

# The integration suite against the static binary.
integration-static: static helpers
	PODVISOR=$(abspath build/podvisor-static) HELPERS=$(abspath $(BUILD)/helpers) \
	  $(PYTHON) -m pytest -q -p no:cacheprovider tests/integration

# Every architecture a release ships (make release, docs/release.md): this
# machine's and the cross-built ones, which make test runs under qemu-user.
RELEASE_ARCHES := amd64 arm64 armhf ppc64el s390x
FOREIGN_ARCHES := $(filter-out $(NATIVE_ARCH),$(RELEASE_ARCHES))
qemu_of = qemu-$(patsubst arm64,aarch64,$(patsubst armhf,arm,$(patsubst ppc64el,ppc64le,$(1))))-static

# The unit tests and the integration suite's PID-1 core (signals, exit
# codes, reaping, the drain, probes, config changes, held sockets) against
# the static binary of each foreign architecture, run by qemu-user; the
# processes it starts are this machine's. What qemu lacks is named by the
# skipped tests (docs/release.md).
# arm64 and armhf (the common other nodes, 64- and 32-bit) run that core;
# ppc64el and s390x its PID-1 semantics and the drain, to keep make test
# within its hour (QEMU_TESTS_OTHER="$(QEMU_TESTS)" runs the core there).
QEMU_TESTS := test_pid1.py test_core.py test_drain.py test_probe_server.py test_config.py \
              test_sockets.py
QEMU_TESTS_arm64 := $(QEMU_TESTS)
QEMU_TESTS_armhf := $(QEMU_TESTS)
QEMU_TESTS_OTHER ?= test_pid1.py test_drain.py
integration-qemu: helpers
	@rc=0; for a in $(FOREIGN_ARCHES); do \
	  $(MAKE) --no-print-directory qemu-arch ARCH=$$a || rc=1; done; exit $$rc

# One foreign architecture (ARCH): its build, its unit tests, then its part
# of the integration suite through a script that execs qemu on the binary.
qemu-arch: helpers
	@$(MAKE) --no-print-directory static ARCH=$(ARCH)
	@rc=0; $(MAKE) --no-print-directory qemu-unit ARCH=$(ARCH) || rc=1; \
	  mkdir -p build/qemu/$(ARCH); \
	  printf '#!/bin/sh\nexec %s %s "$$@"\n' $(call qemu_of,$(ARCH)) \
	    $(abspath $(call static_dir,$(ARCH)))/build/podvisor > build/qemu/$(ARCH)/podvisor; \
	  chmod +x build/qemu/$(ARCH)/podvisor; \
	  echo "===== $(ARCH): the integration suite under $(call qemu_of,$(ARCH))"; \
	  PODVISOR=$(abspath build/qemu/$(ARCH)/podvisor) \
	  PODVISOR_BINARY=$(abspath $(call static_dir,$(ARCH)))/build/podvisor \
	  PODVISOR_EMULATOR=$(call qemu_of,$(ARCH)) HELPERS=$(abspath $(BUILD)/helpers) \
	    $(PYTHON) -m pytest -q -p no:cacheprovider -rs \
	    $(addprefix tests/integration/,$(or $(QEMU_TESTS_$(ARCH)),$(QEMU_TESTS_OTHER))) || rc=1; \
	  exit $$rc

# The unit tests built for ARCH (musl, static, cmocka from Debian's source)
# and run under qemu-user.
qemu-unit:
	@sh scripts/static-deps.sh $(call static_dir,$(ARCH)) $(ARCH) --tests
	@$(MAKE) --no-print-directory STATIC=1 ARCH=$(ARCH) BUILD=$(call static_dir,$(ARCH))/build \
	  PKG_CFLAGS_TEST="-I$(call static_dir,$(ARCH))/test-prefix/include -D_UINTPTR_T_DEFINED -include stdint.h" \
	  PKG_LIBS_TEST=-L$(call static_dir,$(ARCH))/test-prefix/lib \
	  $(UNIT_SRCS:tests/unit/%.c=$(call static_dir,$(ARCH))/build/tests/%)
	@set -e; for t in $(UNIT_SRCS:tests/unit/%.c=$(call static_dir,$(ARCH))/build/tests/%); do \
	  echo "== $(ARCH) $$t"; PODVISOR_EMULATOR=$(call qemu_of,$(ARCH)) $(call qemu_of,$(ARCH)) $$t; done

# A release in dist/ (scripts/release.sh, docs/release.md): per
# architecture a tarball of the static binary with its licences, the
# corresponding source, an SPDX bill of materials, SHA256SUMS. The same
# commit gives the same bytes (tests/release/reproducible.sh).
DIST ?= dist
release:
	@for a in $(RELEASE_ARCHES); do $(MAKE) -s --no-print-directory static ARCH=$$a || exit 1; done
	@PYTHON=$(PYTHON) sh scripts/release.sh $(VERSION) $(DIST) $(RELEASE_ARCHES)

# The podvisor image (Dockerfile). The version label is given here, on the
# command line, and not by an ARG in the Dockerfile: podman 4.3's layer
# cache ignores a changed --build-arg for a LABEL step, so an image built
# once without it kept "unknown" for every later version.
IMAGE  ?= podvisor
PODMAN ?= podman
# The base (debian:bookworm) is made with debootstrap when podman has none
# (scripts/base-image.sh): --pull=never needs it present.
# One image per architecture in IMAGE_ARCHES (default: every release
# architecture), cross-built natively (the Dockerfile's build stage runs
# on BUILDPLATFORM, which podman 4.3 does not set itself), and a manifest
# list over them, $(IMAGE)-multiarch, to push with `podman manifest push`.
# This machine's image is $(IMAGE); another's, $(IMAGE)-ARCH.
IMAGE_ARCHES ?= $(RELEASE_ARCHES)
# Debian's architecture names as OCI platforms (the Dockerfile maps back).
oci_arch = $(patsubst armhf,arm/v7,$(patsubst ppc64el,ppc64le,$(1)))
image:
	@sh scripts/base-image.sh
	@$(PODMAN) manifest rm $(IMAGE)-multiarch >/dev/null 2>&1 || true
	@$(PODMAN) manifest create $(IMAGE)-multiarch >/dev/null
	@set -e; for pair in $(foreach a,$(IMAGE_ARCHES),$(a)=linux/$(call oci_arch,$(a))); do \
	  a=$${pair%%=*}; plat=$${pair#*=}; \
	  tag=$(IMAGE); [ $$a = $(NATIVE_ARCH) ] || tag=$(IMAGE)-$$a; \
	  echo "image: $$tag ($$plat)"; \
	  $(PODMAN) build --pull=never --platform $$plat \
	    --build-arg BUILDPLATFORM=linux/$(call oci_arch,$(NATIVE_ARCH)) \
	    --label org.opencontainers.image.version=$(VERSION) \
	    --build-arg PODVISOR_COMMIT=$$(sh scripts/buildinfo.sh --commit) \
	    -t $$tag . >$(BUILD)/image-$$a.log 2>&1 || { tail -30 $(BUILD)/image-$$a.log; exit 1; }; \
	  $(PODMAN) manifest add $(IMAGE)-multiarch containers-storage:$$tag >/dev/null; \
	done; echo "image: manifest list $(IMAGE)-multiarch: $(IMAGE_ARCHES)"

# The Dockerfile built with podman, podvisor run from it as PID 1 of
# hardened containers, and the injection pattern (tests/container/run.sh).
container-test:
	bash tests/container/run.sh $(VERSION)

# The Helm chart and the kustomize manifests, rendered by a real helm and
# kubectl (fetched by scripts/k8s-tools.sh) and checked (tests/k8s).
k8s-test: $(BUILD)/podvisor
	@sh scripts/k8s-tools.sh build/tools
	PODVISOR=$(abspath $(BUILD)/podvisor) HELM=$(abspath build/tools/helm) \
	  KUBECTL=$(abspath build/tools/kubectl) $(PYTHON) -m pytest -q -p no:cacheprovider tests/k8s

# The real-runtime tier: the chart's examples (helm/podvisor/ci) and the
# nginx overlay played as pods by podman (tests/runtime): start, probes,
# a ConfigMap change, the drain on podman pod stop. Prints its figures.
runtime-test: $(BUILD)/podvisor
	@sh scripts/k8s-tools.sh build/tools
	bash tests/container/images.sh $(VERSION)
	@rm -f build/runtime/figures.txt
	HELM=$(abspath build/tools/helm) KUBECTL=$(abspath build/tools/kubectl) \
	  $(PYTHON) -m pytest -q -p no:cacheprovider tests/runtime
	@cat build/runtime/figures.txt

# The repository's .clang-format, checked (clang-format -i FILE fixes one).
C_FILES := $(wildcard src/*.c src/*.h cmd/podvisor/*.c tests/unit/*.c tests/helpers/*.c tests/fuzz/*.c)
format-check:
	@bad=$$(for f in $(C_FILES); do clang-format --dry-run -Werror $$f >/dev/null 2>&1 || echo $$f; done); \
	  if [ -n "$$bad" ]; then echo "not formatted (clang-format -i):" $$bad; exit 1; fi; \
	  echo "format-check: $(words $(C_FILES)) files formatted"

# The edit-test loop: the build, the unit tests, the integration suite on
# the plain and the ASan+UBSan builds. make test is everything.
check: all format-check unit explore integration integration-asan

# Every tier runs even when one fails; one summary closes it (scripts/
# run_tiers.py; each tier's log in build/test-logs).
TEST_TIERS := format-check all unit explore unit-asan unit-valgrind integration integration-asan \
              integration-static integration-qemu release-test k8s-test container-test runtime-test
test:
	@$(PYTHON) scripts/run_tiers.py $(TEST_TIERS)

# The suite must not depend on how it was started: `make test-nohup` runs
# it as `nohup make test` does (SIGHUP ignored, inherited by everything),
# `make test-busy` with every core kept busy by stress-ng throughout.
test-nohup:
	@nohup $(PYTHON) scripts/run_tiers.py $(TEST_TIERS) > build/test-nohup.log 2>&1; rc=$$?; \
	  tail -25 build/test-nohup.log; exit $$rc

test-busy:
	@command -v stress-ng >/dev/null || { echo "test-busy needs stress-ng (sh tests/deps.sh)"; exit 1; }
	@stress-ng --cpu $$(nproc) --timeout 3h --quiet & hog=$$!; \
	  $(PYTHON) scripts/run_tiers.py $(TEST_TIERS); rc=$$?; kill $$hog; wait $$hog 2>/dev/null; exit $$rc

# make install PREFIX=/usr/local DESTDIR=/staging: the binary and the man page.
PREFIX  ?= /usr/local
DESTDIR ?=
install: $(BUILD)/podvisor
	install -D -m 0755 $(BUILD)/podvisor $(DESTDIR)$(PREFIX)/bin/podvisor
	install -D -m 0644 docs/podvisor.1 $(DESTDIR)$(PREFIX)/share/man/man1/podvisor.1

deps:
	@sh tests/deps.sh

demo: deps
	@$(MAKE) --no-print-directory all helpers
	@sh docs/demo.sh $(abspath $(BUILD)/podvisor) $(abspath $(BUILD)/helpers)

bench: $(BUILD)/podvisor helpers static
	@$(PYTHON) bench/pid1.py $(abspath $(BUILD)/podvisor) $(abspath $(BUILD)/helpers) \
	  --static $(abspath build/podvisor-static)
	@$(PYTHON) bench/probe.py $(abspath build/podvisor-static)
	@$(PYTHON) bench/config.py $(abspath build/podvisor-static)
	@sh tests/integration/apps/go/build.sh build/goapps || echo "bench: no Go (tests/deps.sh)"
	@$(PYTHON) bench/restarts.py $(abspath build/podvisor-static)
	@$(PYTHON) bench/drain.py $(abspath build/podvisor-static)
	@$(PYTHON) bench/devloop.py $(abspath build/podvisor-static)

# SIGTERM forwarding against the floor of each shape of PID 1 (bench/sigfloor.c,
# built as podvisor-static is: musl, static PIE): what an epoll loop that arms
# its stop timeout costs beside catatonit's blocking read (README).
bench-sigterm: static helpers
	@mkdir -p build/bench
	@gcc -specs build/static/musl-gcc.specs -isystem build/static/kernel-include -static-pie \
	  -fPIE -O2 -Wall -Wextra -Werror -o build/bench/sigfloor bench/sigfloor.c
	@$(PYTHON) bench/sigfloor.py $(abspath build/podvisor-static) $(abspath build/bench/sigfloor) \
	  $(abspath $(BUILD)/helpers)

# libFuzzer targets (clang) for the parsers and the JSON config path. Not
# part of `make test`: run `make fuzz FUZZ_SECONDS=300` for a longer hunt.
FUZZ_SECONDS ?= 30
FUZZ_CFLAGS := $(CSTD) $(WARN) -O1 -g -fsanitize=fuzzer,address,undefined -Isrc $(PKG_CFLAGS) \
               -DPODVISOR_VERSION='"$(VERSION)"'
FUZZ_SRCS := src/parse.c src/options.c src/log.c
FUZZ_SRCS_fuzz_http := src/report.c $(wildcard src/lifecycle*.c) src/waitstatus.c
build/fuzz/%: tests/fuzz/%.c $(FUZZ_SRCS) $(wildcard src/*.c) $(wildcard src/*.h)
	@mkdir -p build/fuzz
	clang $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_SRCS) $(FUZZ_SRCS_$*) $(PKG_LIBS)

fuzz: build/fuzz/fuzz_parse build/fuzz/fuzz_config build/fuzz/fuzz_http
	@set -e; for t in parse config http; do mkdir -p build/fuzz/corpus-$$t tests/fuzz/corpus/$$t; \
	  build/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 \
	    build/fuzz/corpus-$$t tests/fuzz/corpus/$$t 2>&1 | tail -3; done

clean:
	rm -rf build
