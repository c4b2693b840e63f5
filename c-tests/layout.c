/*
 * The C compiler's view of the generated headers: every struct size, alignment and field
 * offset the reference libvhd has on x86_64 (checked at compile time), then the helpers
 * that work without an image, called through libvhd.so and compared with libuuid and
 * hand computations.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "libvhd.h"
#include "libvhd.h" /* the include guard holds */
#include "libvhd-journal.h"

#define SIZE(type, size, align)                                        \
	_Static_assert(sizeof(type) == (size), "sizeof " #type);       \
	_Static_assert(alignof(type) == (align), "alignof " #type)
#define OFF(type, field, off)                                          \
	_Static_assert(offsetof(type, field) == (off), #type "." #field)
#define FIELD_SIZE(type, field, size)                                  \
	_Static_assert(sizeof(((type *)0)->field) == (size), "sizeof " #type "." #field)

SIZE(vhd_uuid_t, 16, 1);

SIZE(vhd_footer_t, 512, 8);
SIZE(struct hd_ftr, 512, 8);
OFF(vhd_footer_t, cookie, 0);
OFF(vhd_footer_t, features, 8);
OFF(vhd_footer_t, ff_version, 12);
OFF(vhd_footer_t, data_offset, 16);
OFF(vhd_footer_t, timestamp, 24);
OFF(vhd_footer_t, crtr_app, 28);
OFF(vhd_footer_t, crtr_ver, 32);
OFF(vhd_footer_t, crtr_os, 36);
OFF(vhd_footer_t, orig_size, 40);
OFF(vhd_footer_t, curr_size, 48);
OFF(vhd_footer_t, geometry, 56);
OFF(vhd_footer_t, type, 60);
OFF(vhd_footer_t, checksum, 64);
OFF(vhd_footer_t, uuid, 68);
OFF(vhd_footer_t, saved, 84);
OFF(vhd_footer_t, hidden, 85);
OFF(vhd_footer_t, reserved, 86);
FIELD_SIZE(vhd_footer_t, cookie, 8);
FIELD_SIZE(vhd_footer_t, crtr_app, 4);
FIELD_SIZE(vhd_footer_t, uuid, 16);
FIELD_SIZE(vhd_footer_t, reserved, 426);

SIZE(vhd_parent_locator_t, 24, 8);
SIZE(struct prt_loc, 24, 8);
OFF(vhd_parent_locator_t, code, 0);
OFF(vhd_parent_locator_t, data_space, 4);
OFF(vhd_parent_locator_t, data_len, 8);
OFF(vhd_parent_locator_t, res, 12);
OFF(vhd_parent_locator_t, data_offset, 16);

SIZE(vhd_header_t, 1024, 8);
SIZE(struct dd_hdr, 1024, 8);
OFF(vhd_header_t, cookie, 0);
OFF(vhd_header_t, data_offset, 8);
OFF(vhd_header_t, table_offset, 16);
OFF(vhd_header_t, hdr_ver, 24);
OFF(vhd_header_t, max_bat_size, 28);
OFF(vhd_header_t, block_size, 32);
OFF(vhd_header_t, checksum, 36);
OFF(vhd_header_t, prt_uuid, 40);
OFF(vhd_header_t, prt_ts, 56);
OFF(vhd_header_t, res1, 60);
OFF(vhd_header_t, prt_name, 64);
OFF(vhd_header_t, loc, 576);
OFF(vhd_header_t, res2, 768);
FIELD_SIZE(vhd_header_t, prt_name, 512);
FIELD_SIZE(vhd_header_t, loc, 8 * 24);
FIELD_SIZE(vhd_header_t, res2, 256);

SIZE(vhd_batmap_header_t, 32, 8);
SIZE(struct dd_batmap_hdr, 32, 8);
OFF(vhd_batmap_header_t, cookie, 0);
OFF(vhd_batmap_header_t, batmap_offset, 8);
OFF(vhd_batmap_header_t, batmap_size, 16);
OFF(vhd_batmap_header_t, batmap_version, 20);
OFF(vhd_batmap_header_t, checksum, 24);

SIZE(vhd_bat_t, 16, 8);
SIZE(struct vhd_bat, 16, 8);
OFF(vhd_bat_t, spb, 0);
OFF(vhd_bat_t, entries, 4);
OFF(vhd_bat_t, bat, 8);

SIZE(vhd_batmap_t, 40, 8);
SIZE(struct vhd_batmap, 40, 8);
OFF(vhd_batmap_t, header, 0);
OFF(vhd_batmap_t, map, 32);

SIZE(vhd_context_t, 1624, 8);
SIZE(struct vhd_context, 1624, 8);
OFF(vhd_context_t, fd, 0);
OFF(vhd_context_t, file, 8);
OFF(vhd_context_t, oflags, 16);
OFF(vhd_context_t, is_block, 20);
OFF(vhd_context_t, spb, 24);
OFF(vhd_context_t, bm_secs, 28);
OFF(vhd_context_t, header, 32);
OFF(vhd_context_t, footer, 1056);
OFF(vhd_context_t, bat, 1568);
OFF(vhd_context_t, batmap, 1584);

SIZE(vhd_journal_header_t, 512, 8);
SIZE(struct vhd_journal_header, 512, 8);
OFF(vhd_journal_header_t, cookie, 0);
OFF(vhd_journal_header_t, uuid, 8);
OFF(vhd_journal_header_t, vhd_footer_offset, 24);
OFF(vhd_journal_header_t, journal_data_entries, 32);
OFF(vhd_journal_header_t, journal_metadata_entries, 36);
OFF(vhd_journal_header_t, journal_data_offset, 40);
OFF(vhd_journal_header_t, journal_metadata_offset, 48);
OFF(vhd_journal_header_t, journal_eof, 56);
OFF(vhd_journal_header_t, pad, 64);
FIELD_SIZE(vhd_journal_header_t, pad, 448);

SIZE(vhd_journal_t, 2152, 8);
SIZE(struct vhd_journal, 2152, 8);
OFF(vhd_journal_t, jname, 0);
OFF(vhd_journal_t, jfd, 8);
OFF(vhd_journal_t, is_block, 12);
OFF(vhd_journal_t, header, 16);
OFF(vhd_journal_t, vhd, 528);

_Static_assert(sizeof(vhd_flag_creat_t) == 4, "vhd_flag_creat_t is uint32_t");

/* vhd-util.c declares these at file scope; they must agree with the header. */
TEST_FAIL_EXTERN_VARS;

static int passed, failed;

#define CHECK(cond)                                                              \
	do {                                                                     \
		if (cond) {                                                      \
			passed++;                                                \
		} else {                                                         \
			failed++;                                                \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,   \
				__LINE__, #cond);                                \
		}                                                                \
	} while (0)

static uint32_t
byte_sum_checksum(const void *p, size_t len, size_t checksum_at)
{
	const unsigned char *b = p;
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i < len; i++)
		if (i < checksum_at || i >= checksum_at + 4)
			sum += b[i];
	return ~sum;
}

static void
test_constants(void)
{
	CHECK(VHD_SECTOR_SIZE == 512 && VHD_SECTOR_SHIFT == 9);
	CHECK(VHD_BLOCK_SIZE == (1ULL << VHD_BLOCK_SHIFT));
	CHECK(DD_BLOCKSIZE_DEFAULT == VHD_BLOCK_SIZE);
	CHECK(DD_BLK_UNUSED == 0xFFFFFFFFu);
	CHECK(VHD_CURRENT_VERSION == VHD_VERSION(1, 3));
	CHECK(VHD_BATMAP_CURRENT_VERSION == VHD_BATMAP_VERSION(1, 2));
	CHECK(sizeof(HD_COOKIE) == 9 && memcmp(HD_COOKIE, "conectix", 8) == 0);
	CHECK(strcmp(DD_COOKIE, "cxsparse") == 0);
	CHECK(strcmp(VHD_BATMAP_COOKIE, "tdbatmap") == 0);
	CHECK(strcmp(VHD_POISON_COOKIE, "v_poison") == 0);
	CHECK(strcmp(VHD_JOURNAL_HEADER_COOKIE, "vjournal") == 0);
	CHECK(VHD_JOURNAL_ENTRY_COOKIE == 0xaaaa12344321aaaaULL);
	CHECK(VHD_OPEN_RDONLY == 1 && VHD_OPEN_RDWR == 2 && VHD_OPEN_FAST == 4 &&
	      VHD_OPEN_STRICT == 8 && VHD_OPEN_IGNORE_DISABLED == 0x10);
	CHECK(PLAT_CODE_MACX == 0x4D616358 && PLAT_CODE_W2KU == 0x57326B75 &&
	      PLAT_CODE_W2RU == 0x57327275);
	CHECK(HD_TYPE_MAX == 6 && strcmp(HD_TYPE_STR[HD_TYPE_DIFF], "Differencing hard disk") == 0);
	CHECK(strcmp(HD_TYPE_STR[1], "Reserved (deprecated)") == 0);
	CHECK(strcmp(UTF_16BE, "UTF-16BE") == 0);
	CHECK(MIN(3, 4) == 3 && MAX(3, 4) == 4);
}

static void
test_failure_points(void)
{
	CHECK(NUM_FAIL_TESTS == 7);
	CHECK(strcmp(ENV_VAR_FAIL[FAIL_REPARENT_BEGIN], "VHD_UTIL_TEST_FAIL_REPARENT_BEGIN") == 0);
	CHECK(strcmp(ENV_VAR_FAIL[FAIL_RESIZE_METADATA_MOVED],
		     "VHD_UTIL_TEST_FAIL_RESIZE_METADATA_MOVED") == 0);
	CHECK(strcmp(ENV_VAR_FAIL[FAIL_RESIZE_END], "VHD_UTIL_TEST_FAIL_RESIZE_END") == 0);
	CHECK(TEST_FAIL[FAIL_RESIZE_BEGIN] == 0);
	/* Not armed: passes through. */
	TEST_FAIL_AT(FAIL_RESIZE_BEGIN);
	/* The array is writable, as vhd-util's main arms points in it. */
	TEST_FAIL[FAIL_REPARENT_END] = 1;
	CHECK(TEST_FAIL[FAIL_REPARENT_END] == 1);
	TEST_FAIL[FAIL_REPARENT_END] = 0;
}

static void
test_geometry_and_sizes(void)
{
	uint32_t g = vhd_chs(12ULL << 20);

	CHECK(g == GEOM_ENCODE(361u, 4u, 17u));
	CHECK(GEOM_GET_CYLS(g) == 361 && GEOM_GET_HEADS(g) == 4 && GEOM_GET_SPT(g) == 17);
	CHECK(vhd_chs(1ULL << 30) == GEOM_ENCODE(2080u, 16u, 63u));
	CHECK(vhd_chs(100ULL << 20) == GEOM_ENCODE(1003u, 12u, 17u));
	CHECK(vhd_chs(~0ULL) == GEOM_ENCODE(65535u, 16u, 255u));

	CHECK(secs_round_up(0) == 0 && secs_round_up(1) == 1);
	CHECK(secs_round_up(512) == 1 && secs_round_up(513) == 2);
	CHECK(secs_round_up_no_zero(0) == 1 && secs_round_up_no_zero(1024) == 2);
	CHECK(vhd_sectors_to_bytes(3) == 1536);
	CHECK(vhd_bytes_padded(0) == 512 && vhd_bytes_padded(513) == 1024);
}

static void
test_footer(void)
{
	vhd_footer_t f;
	const unsigned char *raw = (const unsigned char *)&f;
	uint32_t sum;

	memset(&f, 0, sizeof(f));
	memcpy(f.cookie, HD_COOKIE, sizeof(f.cookie));
	f.features = HD_RESERVED;
	f.ff_version = HD_FF_VERSION;
	f.data_offset = 512;
	memcpy(f.crtr_app, "tap", 4);
	f.crtr_ver = VHD_CURRENT_VERSION;
	f.orig_size = f.curr_size = 12ULL << 20;
	f.geometry = vhd_chs(f.curr_size);
	f.type = HD_TYPE_DYNAMIC;
	f.checksum = 0x12345678;
	vhd_uuid_generate(&f.uuid);

	sum = vhd_checksum_footer(&f);
	CHECK(sum == byte_sum_checksum(&f, sizeof(f), offsetof(vhd_footer_t, checksum)));
	CHECK(f.checksum == 0x12345678); /* left alone */

	vhd_footer_out(&f);
	CHECK(raw[8] == 0 && raw[11] == 2);                  /* features, big-endian */
	CHECK(raw[16 + 6] == 0x02 && raw[16 + 7] == 0x00);   /* data_offset 512 */
	CHECK(raw[56] == 0x01 && raw[57] == 0x69);           /* 361 cylinders */
	CHECK(vhd_checksum_footer(&f) == sum);               /* byte sums ignore order */
	vhd_footer_in(&f);
	CHECK(f.curr_size == 12ULL << 20 && f.type == HD_TYPE_DYNAMIC);
	CHECK(f.checksum == 0x12345678);
	vhd_footer_in(NULL);
	CHECK(vhd_checksum_footer(NULL) == 0);
}

static void
test_header_and_batmap(void)
{
	vhd_header_t h;
	vhd_batmap_t bm;
	vhd_bat_t bat;
	uint32_t entries[3] = { 0, 0x01020304, DD_BLK_UNUSED };
	char *map;
	uint32_t v = 0x11223344;

	memset(&h, 0, sizeof(h));
	memcpy(h.cookie, DD_COOKIE, sizeof(h.cookie));
	h.data_offset = ~0ULL;
	h.table_offset = 1536;
	h.hdr_ver = DD_VERSION;
	h.max_bat_size = 6;
	h.block_size = DD_BLOCKSIZE_DEFAULT;
	h.loc[0].code = PLAT_CODE_MACX;
	h.loc[0].data_offset = 4096;
	CHECK(vhd_checksum_header(&h) ==
	      byte_sum_checksum(&h, sizeof(h), offsetof(vhd_header_t, checksum)));
	vhd_header_out(&h);
	CHECK(((unsigned char *)&h)[16 + 6] == 0x06);        /* table_offset 1536 */
	CHECK(((unsigned char *)&h.loc[0])[0] == 'M');       /* "MACX" */
	vhd_header_in(&h);
	CHECK(h.table_offset == 1536 && h.loc[0].data_offset == 4096);

	bat.spb = 4096;
	bat.entries = 3;
	bat.bat = entries;
	vhd_bat_out(&bat);
	CHECK(entries[1] == 0x04030201 && entries[2] == DD_BLK_UNUSED);
	vhd_bat_in(&bat);
	CHECK(entries[1] == 0x01020304);

	map = calloc(2, 512);
	CHECK(map != NULL);
	if (!map)
		return;
	map[0] = (char)0x80;
	map[1023] = 1;
	memset(&bm, 0, sizeof(bm));
	memcpy(bm.header.cookie, VHD_BATMAP_COOKIE, 8);
	bm.header.batmap_size = 2;
	bm.header.batmap_version = VHD_BATMAP_CURRENT_VERSION;
	bm.map = map;
	CHECK(vhd_checksum_batmap(&bm) == ~(uint32_t)(0x80 + 1));
	bm.header.batmap_version = VHD_BATMAP_VERSION(1, 1); /* summed as signed chars */
	CHECK(vhd_checksum_batmap(&bm) == ~(uint32_t)(-0x80 + 1));
	vhd_batmap_header_out(&bm);
	CHECK(((unsigned char *)&bm.header)[16 + 3] == 2);
	vhd_batmap_header_in(&bm);
	CHECK(bm.header.batmap_size == 2);
	free(map);

	BE32_OUT(&v);
	CHECK(((unsigned char *)&v)[0] == 0x11);
	BE32_IN(&v);
	CHECK(v == 0x11223344);
}

static void
test_context_helpers(void)
{
	vhd_context_t ctx;
	vhd_parent_locator_t loc;
	vhd_flag_creat_t flags = 0;

	memset(&ctx, 0, sizeof(ctx));
	ctx.footer.type = HD_TYPE_DIFF;
	memcpy(ctx.footer.crtr_app, "tap", 4);
	memcpy(ctx.footer.cookie, HD_COOKIE, 8);
	CHECK(vhd_type_dynamic(&ctx) && vhd_creator_tapdisk(&ctx) && !vhd_disabled(&ctx));
	CHECK(vhd_parent_raw(&ctx)); /* nil parent UUID */
	vhd_uuid_generate(&ctx.header.prt_uuid);
	CHECK(!vhd_parent_raw(&ctx));
	memcpy(ctx.footer.cookie, VHD_POISON_COOKIE, 8);
	memcpy(ctx.footer.crtr_app, "qem2", 4);
	ctx.footer.type = HD_TYPE_FIXED;
	CHECK(!vhd_type_dynamic(&ctx) && !vhd_creator_tapdisk(&ctx) && vhd_disabled(&ctx));

	memset(&loc, 0, sizeof(loc));
	loc.data_space = 1;
	CHECK(vhd_parent_locator_size(&loc) == 512);  /* sectors */
	loc.data_space = 1024;
	CHECK(vhd_parent_locator_size(&loc) == 1024); /* bytes */
	loc.data_space = 1000;
	CHECK(vhd_parent_locator_size(&loc) == 0);    /* neither */

	vhd_flag_set(flags, VHD_FLAG_CREAT_PARENT_RAW);
	CHECK(vhd_flag_test(flags, VHD_FLAG_CREAT_PARENT_RAW));
	vhd_flag_clear(flags, VHD_FLAG_CREAT_PARENT_RAW);
	CHECK(!vhd_flag_test(flags, VHD_FLAG_CREAT_PARENT_RAW));

	CHECK(vhd_validate_platform_code(PLAT_CODE_W2RU) == 0);
	CHECK(vhd_validate_platform_code(PLAT_CODE_NONE) == 0);
	CHECK(vhd_validate_platform_code(0x12345678) == -EINVAL);
}

static void
test_uuid(void)
{
	vhd_uuid_t a, b;
	uuid_t lib;
	char ours[37], theirs[37], small[9];

	vhd_uuid_clear(&a);
	CHECK(vhd_uuid_is_nil(&a) == 1);
	vhd_uuid_generate(&a);
	CHECK(vhd_uuid_is_nil(&a) == 0);
	CHECK((a[6] >> 4) == 4 && (a[8] >> 6) == 2); /* random, RFC 4122 */

	/* Same text as libuuid, and libuuid reads ours back. */
	vhd_uuid_to_string(&a, ours, sizeof(ours));
	uuid_unparse_lower(a, theirs);
	CHECK(strlen(ours) == 36 && strcmp(ours, theirs) == 0);
	CHECK(uuid_parse(ours, lib) == 0 && uuid_compare(lib, a) == 0);

	vhd_uuid_from_string(&b, ours);
	CHECK(vhd_uuid_compare(&a, &b) == 0);
	uuid_unparse_upper(a, theirs);
	vhd_uuid_clear(&b);
	vhd_uuid_from_string(&b, theirs);
	CHECK(memcmp(a, b, 16) == 0);

	vhd_uuid_clear(&b);
	CHECK(vhd_uuid_compare(&b, &a) < 0 && vhd_uuid_compare(&a, &b) > 0);
	vhd_uuid_copy(&b, &a);
	CHECK(memcmp(a, b, 16) == 0);
	vhd_uuid_from_string(&b, "not a uuid");
	CHECK(memcmp(a, b, 16) == 0); /* unchanged */

	vhd_uuid_to_string(&a, small, sizeof(small));
	CHECK(strlen(small) == 8 && strncmp(small, ours, 8) == 0);
}

static void
test_time(void)
{
	char buf[32];
	size_t n;

	CHECK(vhd_time((time_t)946684800) == 0);
	CHECK(vhd_time((time_t)946684800 + 3600) == 3600);
	CHECK(vhd_time((time_t)0) == 0); /* before 2000: clamped */

	setenv("TZ", "UTC", 1);
	tzset();
	n = vhd_time_to_string(0, buf);
	CHECK(n == strlen(buf) && strcmp(buf, "Sat Jan  1 00:00:00 2000") == 0);
	n = vhd_time_to_string(86400 * 366 + 3661, buf);
	CHECK(n == 24 && strcmp(buf, "Mon Jan  1 01:01:01 2001") == 0);
}

static void
test_paths(void)
{
	char dir[] = "/tmp/vhd-c-tests.XXXXXX", a[64], b[64], sub[64];
	char *rel;
	int err = 1, fds[2];
	char out[8];
	FILE *f;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(sub, sizeof(sub), "%s/d", dir);
	snprintf(a, sizeof(a), "%s/a.vhd", dir);
	snprintf(b, sizeof(b), "%s/d/b.vhd", dir);
	CHECK(mkdir(sub, 0700) == 0);
	f = fopen(a, "w");
	CHECK(f && fclose(f) == 0);
	f = fopen(b, "w");
	CHECK(f && fclose(f) == 0);

	rel = relative_path_to(b, a, &err);
	CHECK(err == 0 && rel && strcmp(rel, "../a.vhd") == 0);
	free(rel);
	rel = relative_path_to(a, b, &err);
	CHECK(err == 0 && rel && strcmp(rel, "./d/b.vhd") == 0);
	free(rel);
	rel = relative_path_to(a, "/nonexistent/x.vhd", &err);
	CHECK(rel == NULL && err == -ENOENT);

	unlink(b);
	unlink(a);
	rmdir(sub);
	rmdir(dir);

	CHECK(pipe(fds) == 0);
	CHECK(write(fds[1], "abc", 3) == 3);
	close(fds[1]);
	errno = 0;
	CHECK(atomicio(read, fds[0], out, sizeof(out)) == 3);
	CHECK(errno == EPIPE && memcmp(out, "abc", 3) == 0);
	close(fds[0]);
}

int
main(void)
{
	libvhd_set_log_level(0);
	test_constants();
	test_failure_points();
	test_geometry_and_sizes();
	test_footer();
	test_header_and_batmap();
	test_context_helpers();
	test_uuid();
	test_time();
	test_paths();
	printf("layout: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
