# The C library (libvhd.so / libvhd.a), its generated headers and the C tests.
# Included by the root Makefile, which defines CARGO.
#
#   make lib            build/lib/libvhd.so.1.0.0 (soname libvhd.so.1.0), its links, libvhd.a
#   make headers        regenerate include/ from capi/src
#   make check-headers  fail if include/ is not what the sources generate
#   make c-tests        symbol check against the reference list, then every c-tests/*.c,
#                       each run under valgrind (memory errors and leaks fail it;
#                       `make c-tests VALGRIND=` runs them bare)

CAPI_LIBDIR   := build/lib
# Where cargo puts its output (honours CARGO_TARGET_DIR).
CAPI_TARGET   := $(or $(CARGO_TARGET_DIR),target)/release
CAPI_HEADERS  := libvhd.h libvhd-journal.h vhd-util.h
CAPI_CFLAGS   := -Wall -Wextra -Werror -Iinclude
CAPI_LDLIBS   := -L$(CAPI_LIBDIR) -lvhd -luuid
C_TESTS       := $(sort $(wildcard c-tests/*.c))
VALGRIND      ?= valgrind -q --error-exitcode=1 --leak-check=full
# The reference library's exported symbols (blktap2 libvhd.so.1.0, nm -D of a real build).
ABI_SYMBOLS   ?= capi/abi/blktap2-symbols.txt

# Run by `make check`.
CAPI_CHECKS   := check-headers c-tests c-tests-sanitize

lib:
	$(CARGO) build --release -p vhd-capi
	mkdir -p $(CAPI_LIBDIR)
	# Replace by rename: a running program keeps its mapping of the old file intact.
	cp -f $(CAPI_TARGET)/libvhd.so $(CAPI_LIBDIR)/.libvhd.so.tmp && mv -f $(CAPI_LIBDIR)/.libvhd.so.tmp $(CAPI_LIBDIR)/libvhd.so.1.0.0
	ln -sfn libvhd.so.1.0.0 $(CAPI_LIBDIR)/libvhd.so.1.0
	ln -sfn libvhd.so.1.0 $(CAPI_LIBDIR)/libvhd.so
	cp -f $(CAPI_TARGET)/libvhd.a $(CAPI_LIBDIR)/libvhd.a
	@readelf -d $(CAPI_LIBDIR)/libvhd.so.1.0.0 | grep -q 'SONAME.*\[libvhd\.so\.1\.0\]' || \
		{ echo "$(CAPI_LIBDIR)/libvhd.so.1.0.0: soname is not libvhd.so.1.0" >&2; exit 1; }

headers:
	$(CARGO) run --quiet -p gen-headers -- include
	$(CARGO) run --quiet -p gen-headers -- --flavour=blktap3 include/blktap3

check-headers:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(CARGO) run --quiet -p gen-headers -- "$$tmp" && \
	status=0 && \
	for h in $(CAPI_HEADERS); do diff -u include/$$h "$$tmp/$$h" || status=1; done && \
	if [ $$status -ne 0 ]; then echo "include/ is stale: run 'make headers' and commit" >&2; fi && \
	exit $$status

c-tests: lib
	c-tests/check-symbols.sh $(CAPI_LIBDIR)/libvhd.so.1.0.0 $(ABI_SYMBOLS)
	@mkdir -p build/c-tests
	@for t in $(C_TESTS); do \
		bin=build/c-tests/$$(basename $$t .c); \
		echo "CC  $$t"; \
		$(CC) $(CAPI_CFLAGS) -o $$bin $$t $(CAPI_LDLIBS) || exit 1; \
		echo "RUN $(VALGRIND) $$bin"; \
		LD_LIBRARY_PATH=$(CAPI_LIBDIR) $(VALGRIND) $$bin || { echo "$$t failed" >&2; exit 1; }; \
	done

.PHONY: lib headers check-headers c-tests c-tests-sanitize

# The same C tests built with AddressSanitizer and UndefinedBehaviorSanitizer (the
# library itself is Rust; this catches C-side misuse of what it hands out and returns).
c-tests-sanitize: lib
	@mkdir -p build/c-tests-san
	@for t in $(C_TESTS); do \
		bin=build/c-tests-san/$$(basename $$t .c); \
		echo "CC  -fsanitize=address,undefined $$t"; \
		$(CC) $(CAPI_CFLAGS) -g -fsanitize=address,undefined -fno-sanitize-recover=all \
			-o $$bin $$t $(CAPI_LDLIBS) || exit 1; \
		LD_LIBRARY_PATH=$(CAPI_LIBDIR) ASAN_OPTIONS=detect_leaks=1 $$bin >/dev/null || \
			{ echo "$$t failed under sanitizers" >&2; exit 1; }; \
	done
	@echo "c-tests-sanitize: all passed"
