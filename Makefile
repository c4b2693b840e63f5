# vhd-rs: `make` builds everything, `make check` runs every test, `make install`
# installs like Xen's tools (DESTDIR, PREFIX, LIBDIR, INCLUDEDIR, SBINDIR).

CARGO      ?= cargo
PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
VERSION    := 0.1.0
EMBEDDED_TARGET ?= thumbv7em-none-eabihf

all: build

build:
	$(CARGO) build --release --workspace

-include mk/capi.mk

# The main job, end to end: create a dynamic VHD, snapshot it, query the snapshot.
demo: build
	@d=$$(mktemp -d "$(CURDIR)/target/demo.XXXXXX") && \
	set -x && \
	./target/release/vhd-util create -n $$d/base.vhd -s 100 && \
	./target/release/vhd-util snapshot -n $$d/snap.vhd -p $$d/base.vhd && \
	./target/release/vhd-util query -n $$d/snap.vhd -v -s -p -d && \
	./target/release/vhd-util check -n $$d/snap.vhd

# Every test: style, lints, the bare-metal build, Rust tests, C tests, header freshness.
check: lint embedded test $(CAPI_CHECKS) install-test e2e-test fault-test

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

embedded:
	$(CARGO) build -p vhd-nostd --target $(EMBEDDED_TARGET)

test:
	$(CARGO) test --workspace

LIBFILES = libvhd.so.1.0.0 libvhd.a
HEADERS  = libvhd.h libvhd-journal.h vhd-util.h

install: build lib
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8
	install -m 755 build/lib/libvhd.so.1.0.0 $(DESTDIR)$(LIBDIR)/
	ln -sf libvhd.so.1.0.0 $(DESTDIR)$(LIBDIR)/libvhd.so.1.0
	ln -sf libvhd.so.1.0 $(DESTDIR)$(LIBDIR)/libvhd.so
	install -m 644 build/lib/libvhd.a $(DESTDIR)$(LIBDIR)/
	install -m 644 $(addprefix include/,$(HEADERS)) $(DESTDIR)$(INCLUDEDIR)/
	install -m 755 target/release/vhd-util target/release/vhd-update $(DESTDIR)$(SBINDIR)/
	install -m 644 doc/vhd-util.8 $(DESTDIR)$(MANDIR)/man8/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	    doc/vhd.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/vhd.pc

uninstall:
	rm -f $(addprefix $(DESTDIR)$(LIBDIR)/,libvhd.so.1.0.0 libvhd.so.1.0 libvhd.so libvhd.a pkgconfig/vhd.pc)
	rm -f $(addprefix $(DESTDIR)$(INCLUDEDIR)/,$(HEADERS))
	rm -f $(DESTDIR)$(SBINDIR)/vhd-util $(DESTDIR)$(SBINDIR)/vhd-update
	rm -f $(DESTDIR)$(MANDIR)/man8/vhd-util.8

install-test: build lib
	tests/install/run.sh

# vhd-util, qemu-io, the C library and a C vhd-util dispatcher on one chain.
e2e-test: build lib
	tests/e2e/run.sh

# Real faults (tests/faults, needs root): vhd-util and a C client SIGKILLed at seeded
# random moments, a tmpfs filled to ENOSPC, readers beside a writer. `fault-test-long`
# runs KILL_ITERATIONS=200 per operation; KILL_SEED=N replays a logged seed.
fault-test: build lib
	tests/faults/run.sh

fault-test-long: build lib
	KILL_ITERATIONS=$${KILL_ITERATIONS:-200} FAULT_SECONDS=$${FAULT_SECONDS:-60} tests/faults/run.sh

# Benchmarks; writes BENCHMARKS.md (ratios against baselines taken in the same run).
bench: build lib
	bench/run.py $(BENCH_MIB)

# Fuzz every target for FUZZ_SECONDS each (nightly + cargo-fuzz); see RELIABILITY.md.
FUZZ_SECONDS ?= 60
fuzz:
	$(MAKE) -C fuzz fuzz SECONDS_PER_TARGET=$(FUZZ_SECONDS)

clean:
	$(CARGO) clean
	rm -rf build

.PHONY: all build demo check lint embedded test clean install uninstall install-test e2e-test fault-test fault-test-long bench fuzz
