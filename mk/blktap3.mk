# blktap3's C library (libvhd.so.0, xapi-project/blktap: XenServer, XCP-ng), built from the
# same sources with vhd-capi's `blktap3` feature into its own directories, so that both
# flavours coexist. Included by the root Makefile after mk/capi.mk.
#
#   make lib-blktap3            build/lib-blktap3/libvhd.so.0.1.1 (soname libvhd.so.0),
#                               its links and libvhd.a
#   make headers                also regenerates include/blktap3/
#   make check-headers-blktap3  fail if include/blktap3/ is not what the sources generate
#   make c-tests-blktap3        exact symbol check against capi/abi/blktap3-symbols.txt,
#                               then the C tests against include/blktap3 under valgrind
#   make c-tests-blktap3-sanitize   the same C tests with ASan and UBSan

B3_LIBDIR    := build/lib-blktap3
B3_TARGET    := $(BLKTAP3_TARGET)/release
B3_HEADERS   := libvhd.h libvhd-journal.h vhd-util.h libvhd-index.h list.h vhd.h
B3_CFLAGS    := -Wall -Wextra -Werror -Iinclude/blktap3 -Ic-tests
B3_LDLIBS    := -L$(B3_LIBDIR) -lvhd -luuid
B3_SYMBOLS   := capi/abi/blktap3-symbols.txt
# Every flavour-neutral C test (through c-tests/blktap3/compat.h), and blktap3's own:
# its layouts, prototypes and a tapdisk-style client of the context fields (instead of
# blktap2's layout.c, signatures.c and tapdisk.c).
B3_C_TESTS   := $(filter-out c-tests/layout.c c-tests/signatures.c c-tests/tapdisk.c,$(C_TESTS)) \
                $(sort $(wildcard c-tests/blktap3/*.c))

# Run by `make check`.
BLKTAP3_CAPI_CHECKS := blktap3-capi-unit check-headers-blktap3 c-tests-blktap3 c-tests-blktap3-sanitize

lib-blktap3:
	$(CARGO) build --release -p vhd-capi --features blktap3 --target-dir $(BLKTAP3_TARGET)
	mkdir -p $(B3_LIBDIR)
	cp -f $(B3_TARGET)/libvhd.so $(B3_LIBDIR)/.libvhd.so.tmp && mv -f $(B3_LIBDIR)/.libvhd.so.tmp $(B3_LIBDIR)/libvhd.so.0.1.1
	ln -sfn libvhd.so.0.1.1 $(B3_LIBDIR)/libvhd.so.0
	ln -sfn libvhd.so.0.1.1 $(B3_LIBDIR)/libvhd.so
	cp -f $(B3_TARGET)/libvhd.a $(B3_LIBDIR)/libvhd.a
	@readelf -d $(B3_LIBDIR)/libvhd.so.0.1.1 | grep -q 'SONAME.*\[libvhd\.so\.0\]' || \
		{ echo "$(B3_LIBDIR)/libvhd.so.0.1.1: soname is not libvhd.so.0" >&2; exit 1; }

# The library's own Rust tests with blktap3's layouts (the compile-time layout checks
# run here too).
blktap3-capi-unit:
	$(CARGO) test -p vhd-capi --features blktap3 --target-dir $(BLKTAP3_TARGET) --lib

check-headers-blktap3:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(CARGO) run --quiet -p gen-headers -- --flavour=blktap3 "$$tmp" && \
	status=0 && \
	for h in $(B3_HEADERS); do diff -u include/blktap3/$$h "$$tmp/$$h" || status=1; done && \
	if [ $$status -ne 0 ]; then echo "include/blktap3/ is stale: run 'make headers' and commit" >&2; fi && \
	exit $$status

c-tests-blktap3: lib-blktap3
	c-tests/check-symbols-exact.sh $(B3_LIBDIR)/libvhd.so.0.1.1 $(B3_SYMBOLS)
	@mkdir -p build/c-tests-blktap3
	@for t in $(B3_C_TESTS); do \
		bin=build/c-tests-blktap3/$$(basename $$t .c); \
		echo "CC  [blktap3] $$t"; \
		$(CC) $(B3_CFLAGS) -o $$bin $$t $(B3_LDLIBS) || exit 1; \
		echo "RUN $(VALGRIND) $$bin"; \
		LD_LIBRARY_PATH=$(B3_LIBDIR) $(VALGRIND) $$bin || { echo "$$t failed (blktap3)" >&2; exit 1; }; \
	done

c-tests-blktap3-sanitize: lib-blktap3
	@mkdir -p build/c-tests-blktap3-san
	@for t in $(B3_C_TESTS); do \
		bin=build/c-tests-blktap3-san/$$(basename $$t .c); \
		echo "CC  [blktap3] -fsanitize=address,undefined $$t"; \
		$(CC) $(B3_CFLAGS) -g -fsanitize=address,undefined -fno-sanitize-recover=all \
			-o $$bin $$t $(B3_LDLIBS) || exit 1; \
		LD_LIBRARY_PATH=$(B3_LIBDIR) ASAN_OPTIONS=detect_leaks=1 $$bin >/dev/null || \
			{ echo "$$t failed under sanitizers (blktap3)" >&2; exit 1; }; \
	done
	@echo "c-tests-blktap3-sanitize: all passed"

.PHONY: lib-blktap3 blktap3-capi-unit check-headers-blktap3 c-tests-blktap3 c-tests-blktap3-sanitize

# Installed as blktap3 installs it: the library (libvhd.so and libvhd.so.0 both link to
# libvhd.so.0.1.1), libvhd.a, the headers in $(INCLUDEDIR)/vhd/, vhd-util in blktap3's
# dialect, and a pkg-config file. `make install FLAVOR=blktap3` runs this.
B3_INCDIR   = $(INCLUDEDIR)/vhd
B3_VHD_UTIL = $(BLKTAP3_TARGET)/release/vhd-util

vhd-util-blktap3:
	$(CARGO) build --release -p vhd-util --features blktap3 --target-dir $(BLKTAP3_TARGET)

install-blktap3: lib-blktap3 vhd-util-blktap3
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(B3_INCDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8
	install -m 755 $(B3_LIBDIR)/libvhd.so.0.1.1 $(DESTDIR)$(LIBDIR)/
	ln -sf libvhd.so.0.1.1 $(DESTDIR)$(LIBDIR)/libvhd.so.0
	ln -sf libvhd.so.0.1.1 $(DESTDIR)$(LIBDIR)/libvhd.so
	install -m 644 $(B3_LIBDIR)/libvhd.a $(DESTDIR)$(LIBDIR)/
	install -m 644 $(addprefix include/blktap3/,$(B3_HEADERS)) $(DESTDIR)$(B3_INCDIR)/
	install -m 755 $(B3_VHD_UTIL) $(DESTDIR)$(SBINDIR)/vhd-util
	install -m 644 doc/vhd-util.8 $(DESTDIR)$(MANDIR)/man8/
	mk/strip.sh "$(STRIP)" "$(OBJCOPY)" "$(DEBUGDIR)" "$(DESTDIR)" \
	    $(LIBDIR)/libvhd.so.0.1.1 $(LIBDIR)/libvhd.a $(SBINDIR)/vhd-util
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	    doc/vhd-blktap3.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/vhd.pc

uninstall-blktap3:
	rm -f $(addprefix $(DESTDIR)$(LIBDIR)/,libvhd.so.0.1.1 libvhd.so.0 libvhd.so libvhd.a pkgconfig/vhd.pc)
	rm -f $(addprefix $(DESTDIR)$(B3_INCDIR)/,$(B3_HEADERS))
	-rmdir $(DESTDIR)$(B3_INCDIR) 2>/dev/null
	rm -f $(DESTDIR)$(SBINDIR)/vhd-util $(DESTDIR)$(MANDIR)/man8/vhd-util.8
	[ -z "$(DEBUGDIR)" ] || rm -f $(addprefix $(DESTDIR)$(DEBUGDIR),$(addsuffix .debug, \
	    $(LIBDIR)/libvhd.so.0.1.1 $(SBINDIR)/vhd-util))

# Installs blktap3's flavour into a temporary DESTDIR and builds a client with pkg-config.
install-test-blktap3: lib-blktap3 vhd-util-blktap3
	tests/install/run-blktap3.sh

.PHONY: vhd-util-blktap3 install-blktap3 uninstall-blktap3 install-test-blktap3
