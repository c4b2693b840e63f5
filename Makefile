# vhd-rs: `make` builds everything, `make check` runs every test, `make install`
# installs like Xen's tools (DESTDIR, PREFIX, LIBDIR, INCLUDEDIR, SBINDIR).

CARGO      ?= cargo
PREFIX     ?= /usr
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
SBINDIR    ?= $(PREFIX)/sbin
EMBEDDED_TARGET ?= thumbv7em-none-eabihf

all: build

build:
	$(CARGO) build --release --workspace

-include mk/capi.mk

# Every test: style, lints, the bare-metal build, Rust tests, C tests, header freshness.
check: lint embedded test $(CAPI_CHECKS)

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

embedded:
	$(CARGO) build -p vhd-nostd --target $(EMBEDDED_TARGET)

test:
	$(CARGO) test --workspace

clean:
	$(CARGO) clean
	rm -rf build

.PHONY: all build check lint embedded test clean
