/*
 * The C compiler's view of blktap3's generated headers: every struct size, alignment and
 * field offset blktap3-abi.md gives for x86_64 (checked at compile time), the constants
 * blktap3 added or changed, its exported data, and the helpers that need no image.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libvhd.h"
#include "libvhd.h" /* the include guard holds */
#include "libvhd-journal.h"
#include "libvhd-index.h"
#include "list.h"
#include "vhd.h"

/* Exported without a header declaration. */
char *canonpath(const char *, char *, size_t);
char *normalize_path(const char *, size_t);

#define SIZE(type, size, align)                                        \
	_Static_assert(sizeof(type) == (size), "sizeof " #type);       \
	_Static_assert(alignof(type) == (align), "alignof " #type)
#define OFF(type, field, off)                                          \
	_Static_assert(offsetof(type, field) == (off), #type "." #field)

SIZE(vhd_footer_t, 512, 8);
OFF(vhd_footer_t, uuid, 68);
OFF(vhd_footer_t, saved, 84);
OFF(vhd_footer_t, hidden, 85);
OFF(vhd_footer_t, reserved, 86);
_Static_assert(sizeof(((vhd_footer_t *)0)->uuid) == sizeof(uuid_t), "uuid_t");

SIZE(vhd_parent_locator_t, 24, 8);
OFF(vhd_parent_locator_t, data_offset, 16);

SIZE(vhd_header_t, 1024, 8);
OFF(vhd_header_t, prt_uuid, 40);
OFF(vhd_header_t, prt_ts, 56);
OFF(vhd_header_t, prt_name, 64);
OFF(vhd_header_t, loc, 576);
OFF(vhd_header_t, res2, 768);

SIZE(struct vhd_keyhash, 65, 1);
OFF(struct vhd_keyhash, cookie, 0);
OFF(struct vhd_keyhash, nonce, 1);
OFF(struct vhd_keyhash, hash, 33);

SIZE(vhd_batmap_header_t, 512, 8);
SIZE(struct dd_batmap_hdr, 512, 8);
OFF(vhd_batmap_header_t, cookie, 0);
OFF(vhd_batmap_header_t, batmap_offset, 8);
OFF(vhd_batmap_header_t, batmap_size, 16);
OFF(vhd_batmap_header_t, batmap_version, 20);
OFF(vhd_batmap_header_t, checksum, 24);
OFF(vhd_batmap_header_t, marker, 28);
OFF(vhd_batmap_header_t, keyhash, 29);
OFF(vhd_batmap_header_t, res, 94);
_Static_assert(sizeof(((vhd_batmap_header_t *)0)->res) == 418, "res[418]");

SIZE(vhd_bat_t, 16, 8);
OFF(vhd_bat_t, bat, 8);

SIZE(vhd_batmap_t, 520, 8);
OFF(vhd_batmap_t, header, 0);
OFF(vhd_batmap_t, map, 512);

SIZE(struct list_head, 16, 8);
OFF(struct list_head, prev, 0);
OFF(struct list_head, next, 8);

SIZE(vhd_context_t, 2144, 8);
SIZE(struct vhd_context, 2144, 8);
OFF(vhd_context_t, fd, 0);
OFF(vhd_context_t, file, 8);
OFF(vhd_context_t, oflags, 16);
OFF(vhd_context_t, is_block, 20);
OFF(vhd_context_t, offset, 24);
OFF(vhd_context_t, spb, 32);
OFF(vhd_context_t, bm_secs, 36);
OFF(vhd_context_t, header, 40);
OFF(vhd_context_t, footer, 1064);
OFF(vhd_context_t, bat, 1576);
OFF(vhd_context_t, batmap, 1592);
OFF(vhd_context_t, xts_tfm, 2112);
OFF(vhd_context_t, next, 2120);
OFF(vhd_context_t, custom_parent, 2136);
_Static_assert(sizeof(((vhd_context_t *)0)->offset) == sizeof(off64_t), "offset is off64_t");

SIZE(vhd_journal_header_t, 512, 8);
OFF(vhd_journal_header_t, pad, 64);
SIZE(vhd_journal_t, 2672, 8);
OFF(vhd_journal_t, jname, 0);
OFF(vhd_journal_t, jfd, 8);
OFF(vhd_journal_t, is_block, 12);
OFF(vhd_journal_t, header, 16);
OFF(vhd_journal_t, vhd, 528);

SIZE(vhdi_context_t, 24, 8);
OFF(vhdi_context_t, fd, 0);
OFF(vhdi_context_t, spb, 4);
OFF(vhdi_context_t, name, 8);
OFF(vhdi_context_t, vhd_block_size, 16);
SIZE(vhdi_bat_t, 3096, 8);
OFF(vhdi_bat_t, table, 0);
OFF(vhdi_bat_t, vhd_blocks, 8);
OFF(vhdi_bat_t, vhd_block_size, 16);
OFF(vhdi_bat_t, vhd_path, 20);
OFF(vhdi_bat_t, index_path, 1044);
OFF(vhdi_bat_t, file_table_path, 2068);
SIZE(vhdi_entry_t, 8, 4);
OFF(vhdi_entry_t, offset, 4);
SIZE(vhdi_block_t, 16, 8);
OFF(vhdi_block_t, table, 8);
SIZE(vhdi_file_ref_t, 40, 8);
OFF(vhdi_file_ref_t, path, 8);
OFF(vhdi_file_ref_t, vhd_uuid, 16);
OFF(vhdi_file_ref_t, vhd_timestamp, 32);
SIZE(vhdi_file_table_t, 16, 8);
OFF(vhdi_file_table_t, table, 8);
_Static_assert(sizeof(vhdi_file_id_t) == 4, "vhdi_file_id_t is u32");

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

static void
test_constants(void)
{
	CHECK(VHD_OPEN_RDONLY == 1 && VHD_OPEN_RDWR == 2 && VHD_OPEN_FAST == 4 &&
	      VHD_OPEN_STRICT == 8 && VHD_OPEN_IGNORE_DISABLED == 0x10);
	CHECK(VHD_OPEN_CACHED == 0x20 && VHD_OPEN_IO_WRITE_SPARSE == 0x40 &&
	      VHD_OPEN_USE_BKP_FOOTER == 0x80);
	CHECK(VHD_FLAG_CREAT_PARENT_RAW == 0x2 && VHD_FLAG_CREAT_FILE_SIZE_FIXED == 0x1);
	CHECK(BIT_MASK == 0x80);
	CHECK(strcmp(LIBBLOCKCRYPTO_NAME, "libblockcrypto.so.0") == 0);
	CHECK(strcmp(CRYPTO_DEFAULT_KEYDIR, "/var/xen/blktap/keys") == 0);
	CHECK(VHD_CURRENT_VERSION == VHD_VERSION(1, 3));
	CHECK(VHD_BATMAP_CURRENT_VERSION == VHD_BATMAP_VERSION(1, 2));
	CHECK(VHD_MAX_NAME_LEN == 1024);
#ifdef HD_TYPE_STR
	CHECK(!"blktap3 has no HD_TYPE_STR macro");
#endif
}

static void
test_data(void)
{
	CHECK(strcmp(hd_type_str[HD_TYPE_DIFF], "Differencing hard disk") == 0);
	CHECK(strcmp(hd_type_str[0], "None") == 0 && strcmp(hd_type_str[6], "Reserved (deprecated)") == 0);
	CHECK(CRYPTO_SUPPORTED_KEYSIZE[0] == 512 && CRYPTO_SUPPORTED_KEYSIZE[1] == 256 &&
	      CRYPTO_SUPPORTED_KEYSIZE[2] == -1);
	CHECK(ENV_VAR_FAIL[0] && TEST_FAIL[0] == 0);
}

static void
test_helpers(void)
{
	char map[2] = { 0, 0 }, *out, buf[4096];
	int len;
	vhdi_entry_t e = { htobe32(7), htobe32(0x01020304) };
	struct list_head head, node;

	/* MSB-first bit helpers with an unsigned bit number. */
	set_bit(map, 0);
	set_bit(map, 9);
	CHECK((unsigned char)map[0] == 0x80 && (unsigned char)map[1] == 0x40);
	CHECK(test_bit(map, 9) && !test_bit(map, 8));
	clear_bit(map, 9);
	CHECK(map[1] == 0);

	CHECK(isPowerOf2(1) && isPowerOf2(2097152) && !isPowerOf2(0) && !isPowerOf2(6));

	/* Locator encoders hand back malloc'd payloads. */
	CHECK(vhd_macx_encode_location("./p.vhd", &out, &len) == 0);
	CHECK(len == 14 && memcmp(out, "file://./p.vhd", 14) == 0);
	free(out);
	CHECK(vhd_w2u_encode_location("dir/p.vhd", &out, &len) == 0);
	CHECK(len == 2 * 11 && out[0] == '.' && out[1] == 0 && out[2] == '\\' && out[3] == 0 &&
	      out[10] == '\\' && out[11] == 0);
	free(out);

	/* Paths: lexical normalisation and canonicalisation (realpath for files). */
	out = normalize_path("/a/./b//c/../d", strlen("/a/./b//c/../d"));
	CHECK(out && strcmp(out, "/a/b/d") == 0);
	free(out);
	CHECK(canonpath("/tmp/../tmp/.", buf, sizeof(buf)) == buf && strcmp(buf, "/tmp") == 0);
	errno = 0;
	CHECK(canonpath("/tmp", buf, 2) == NULL && errno == ERANGE);
	CHECK(canonpath("/nonexistent-vhd-test/x", buf, sizeof(buf)) == NULL && errno == ENOENT);

	{
		vhd_batmap_t b;

		memset(&b, 0x5a, sizeof(b));
		b.header.batmap_size = 1;
		vhd_batmap_header_out(&b);
		CHECK(b.header.batmap_size == htobe32(1) && b.header.marker == 0x5a);
		CHECK(b.header.res[0] == 0 && b.header.res[417] == 0);
		vhd_batmap_header_in(&b);
		CHECK(b.header.batmap_size == 1 && b.header.keyhash.cookie == 0x5a);
	}

	vhdi_entry_in(&e);
	CHECK(e.file_id == 7 && e.offset == 0x01020304);

	INIT_LIST_HEAD(&head);
	CHECK(list_empty(&head));
	list_add_tail(&node, &head);
	CHECK(!list_empty(&head) && head.next == &node && node.next == &head);
	list_del(&node);
	CHECK(list_empty(&head));
}

int
main(void)
{
	test_constants();
	test_data();
	test_helpers();
	printf("layout (blktap3): %d passed, %d failed\n", passed, failed);
	return failed != 0;
}
