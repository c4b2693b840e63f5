# vhd-rs: `make` builds everything, `make check` runs every test, `make install`
# installs like Xen's tools (DESTDIR, PREFIX, LIBDIR, INCLUDEDIR, SBINDIR).

CARGO      ?= cargo
PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
# Installed objects are stripped; `STRIP=` keeps them whole, and a DEBUGDIR (for example
# $(PREFIX)/lib/debug) keeps their debug info there, linked from the stripped files.
STRIP      ?= strip
OBJCOPY    ?= objcopy
DEBUGDIR   ?=
VERSION    := 0.1.0
EMBEDDED_TARGET ?= thumbv7em-none-eabihf
# Which vhd-util dialect to build: blktap2 (Xen's, the default) or blktap3
# (xapi-project/blktap's, driven by XenServer's and XCP-ng's storage manager).
FLAVOR     ?= blktap2
ifeq ($(FLAVOR),blktap3)
FLAVOR_FEATURES := --features vhd-cli/blktap3
else ifneq ($(FLAVOR),blktap2)
$(error FLAVOR must be blktap2 or blktap3, not '$(FLAVOR)')
endif
# The blktap3 tests build in their own directory, so that they do not replace the
# default flavour's binaries the other tests run.
BLKTAP3_TARGET ?= $(or $(CARGO_TARGET_DIR),target)/blktap3

# FLAVOR=blktap3 also builds its C library (build/lib-blktap3/libvhd.so.0.1.1, libvhd.a).
all: build $(if $(filter blktap3,$(FLAVOR)),lib-blktap3)

build:
	$(CARGO) build --release --workspace $(FLAVOR_FEATURES)

-include mk/capi.mk
-include mk/blktap3.mk

# The main job, end to end: create a dynamic VHD, snapshot it, query the snapshot.
demo: build
	@d=$$(mktemp -d "$(CURDIR)/target/demo.XXXXXX") && \
	set -x && \
	./target/release/vhd-util create -n $$d/base.vhd -s 100 && \
	./target/release/vhd-util snapshot -n $$d/snap.vhd -p $$d/base.vhd && \
	./target/release/vhd-util query -n $$d/snap.vhd -v -s -p -d && \
	./target/release/vhd-util check -n $$d/snap.vhd

# Every test: style, lints, the bare-metal build, Rust tests, C tests, header freshness,
# installation, end to end, block devices and LVM, real faults, and the README's commands in a fresh
# clone. The system packages are checked first, so that a machine without them stops at
# once with the one command that installs them.
check: deps
	$(MAKE) --no-print-directory check-all

check-all: lint embedded embedded-run test blktap3-test $(CAPI_CHECKS) $(BLKTAP3_CAPI_CHECKS) install-test install-test-blktap3 e2e-test blockdev-test fault-test clone-test

deps:
	@mk/deps.sh check

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p vhd-cli -p vhd-util --all-targets --features vhd-util/blktap3 --target-dir $(BLKTAP3_TARGET) -- -D warnings
	$(CARGO) clippy -p vhd-capi --all-targets --features blktap3 --target-dir $(BLKTAP3_TARGET) -- -D warnings

embedded:
	$(CARGO) build -p vhd-nostd --target $(EMBEDDED_TARGET)

# The core on a Cortex-M4F board model (QEMU's mps2-an386): a differencing chain held in
# flash is opened, read, written and verified, and every step's stack high-water mark
# is held to the program's budget (bench/embedded-run/src/main.rs).
embedded-run:
	bench/embedded-run.sh

test:
	$(CARGO) test --workspace

# vhd-util in the blktap3 dialect: the subcommand library's unit tests, its own CLI tests
# and the replay of what XenServer's storage manager runs.
blktap3-test:
	$(CARGO) test -p vhd-cli -p vhd-util --features vhd-util/blktap3 --target-dir $(BLKTAP3_TARGET) --lib --test sm_replay --test blktap3_cli --test check_dialects --test blktap3_copy_encrypted

LIBFILES = libvhd.so.1.0.0 libvhd.a
HEADERS  = libvhd.h libvhd-journal.h vhd-util.h

# `make install FLAVOR=blktap3` installs blktap3's flavour instead (mk/blktap3.mk).
ifeq ($(FLAVOR),blktap3)
install: install-blktap3
uninstall: uninstall-blktap3
else
install: install-blktap2
uninstall: uninstall-blktap2
endif

install-blktap2: build lib
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8
	install -m 755 build/lib/libvhd.so.1.0.0 $(DESTDIR)$(LIBDIR)/
	ln -sf libvhd.so.1.0.0 $(DESTDIR)$(LIBDIR)/libvhd.so.1.0
	ln -sf libvhd.so.1.0 $(DESTDIR)$(LIBDIR)/libvhd.so
	install -m 644 build/lib/libvhd.a $(DESTDIR)$(LIBDIR)/
	install -m 644 $(addprefix include/,$(HEADERS)) $(DESTDIR)$(INCLUDEDIR)/
	install -m 755 target/release/vhd-util target/release/vhd-update $(DESTDIR)$(SBINDIR)/
	install -m 644 doc/vhd-util.8 $(DESTDIR)$(MANDIR)/man8/
	mk/strip.sh "$(STRIP)" "$(OBJCOPY)" "$(DEBUGDIR)" "$(DESTDIR)" \
	    $(LIBDIR)/libvhd.so.1.0.0 $(LIBDIR)/libvhd.a $(SBINDIR)/vhd-util $(SBINDIR)/vhd-update
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	    doc/vhd.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/vhd.pc

uninstall-blktap2:
	rm -f $(addprefix $(DESTDIR)$(LIBDIR)/,libvhd.so.1.0.0 libvhd.so.1.0 libvhd.so libvhd.a pkgconfig/vhd.pc)
	rm -f $(addprefix $(DESTDIR)$(INCLUDEDIR)/,$(HEADERS))
	rm -f $(DESTDIR)$(SBINDIR)/vhd-util $(DESTDIR)$(SBINDIR)/vhd-update
	rm -f $(DESTDIR)$(MANDIR)/man8/vhd-util.8
	[ -z "$(DEBUGDIR)" ] || rm -f $(addprefix $(DESTDIR)$(DEBUGDIR),$(addsuffix .debug, \
	    $(LIBDIR)/libvhd.so.1.0.0 $(SBINDIR)/vhd-util $(SBINDIR)/vhd-update))

install-test: build lib
	tests/install/run.sh

# vhd-util, qemu-io, the C library and a C vhd-util dispatcher on one chain.
e2e-test: build lib
	tests/e2e/run.sh

# Images on loop devices and in LVM volume groups, blktap3's lvm_scan_vg, and the storage
# manager's calls on logical volumes (root; skipped with a notice otherwise).
blockdev-test: build lib lib-blktap3
	CARGO="$(CARGO)" BLKTAP3_TARGET="$(BLKTAP3_TARGET)" tests/blockdev/run.sh

# A fresh `git clone` with nothing beside it passes `make demo` and `make check`.
clone-test:
	tests/clone/run.sh

# Real faults (tests/faults, needs root): vhd-util and a C client SIGKILLed at seeded
# random moments, a tmpfs and a loop-mounted ext4 filled to ENOSPC, readers beside a
# writer. `fault-test-long` runs KILL_ITERATIONS=200 per operation; KILL_SEED=N replays
# a logged seed.
fault-test: build lib util-blktap3
	VHD_UTIL_BLKTAP3=$(BLKTAP3_TARGET)/release/vhd-util tests/faults/run.sh

fault-test-long: build lib util-blktap3
	KILL_ITERATIONS=$${KILL_ITERATIONS:-200} FAULT_SECONDS=$${FAULT_SECONDS:-60} \
	VHD_UTIL_BLKTAP3=$(BLKTAP3_TARGET)/release/vhd-util tests/faults/run.sh

# blktap3's vhd-util, beside the default flavour's (the fault tests run both).
util-blktap3:
	$(CARGO) build --release -p vhd-util --features vhd-util/blktap3 --target-dir $(BLKTAP3_TARGET)

# Benchmarks; writes BENCHMARKS.md (ratios against baselines taken in the same run).
bench: build lib
	bench/run.py $(BENCH_MIB)

# Miri (nightly: `rustup component add miri rust-src --toolchain nightly`) over the core's
# unit tests, the hostile images, the model test and the power cuts, at the reduced sizes
# they take under cfg(miri). Not in `make check`: it takes tens of minutes (RELIABILITY.md
# has the last run). MIRI_TESTS chooses, e.g. MIRI_TESTS="--test malformed".
MIRI_TESTS ?= --lib --test malformed --test model --test powercut
miri:
	$(CARGO) +nightly miri test -p vhd-nostd $(MIRI_TESTS)

# Fuzz every target for FUZZ_SECONDS each (nightly + cargo-fuzz); see RELIABILITY.md.
FUZZ_SECONDS ?= 60
fuzz:
	$(MAKE) -C fuzz fuzz SECONDS_PER_TARGET=$(FUZZ_SECONDS)

clean:
	$(CARGO) clean
	rm -rf build

.PHONY: all build demo check check-all deps clone-test lint embedded embedded-run test blktap3-test clean install uninstall install-blktap2 uninstall-blktap2 install-test e2e-test blockdev-test fault-test fault-test-long util-blktap3 bench fuzz miri
