/*
 * A client in the manner of tapdisk's VHD driver (blktap2 block-vhd.c): it includes only
 * libvhd's headers and what it needs beyond them, and names what the reference headers
 * make visible: vhd.h's u8..u64 in its own structs, <string.h>, <inttypes.h>, <endian.h>
 * and <byteswap.h> (memcpy, strdupa, PRIu64, BYTE_ORDER, bswap_*), the byte-order macros,
 * the bitmap and size helpers and the context's fields. Deliberately no #include of
 * those system headers here: compiling this file (-Wall -Werror) is half the test. Then
 * it drives an image the way the driver does: fields read directly, its own I/O on
 * vhd->fd at offsets from the BAT, bitmaps tested with the inline helpers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "libvhd.h"
#include "libvhd-journal.h"
#include "vhd-util.h"

/* The driver's own bookkeeping, in vhd.h's integer names. */
struct request {
	u64 lsec;
	u32 nr_secs;
	u16 flags;
	u8 op;
};

struct bitmap {
	u32 blk;
	u64 seqno;
	char *map;
	char *shadow;
};

static int failed;

#define CHECK(cond)                                                     \
	do {                                                            \
		if (!(cond)) {                                          \
			failed++;                                       \
			fprintf(stderr, "%s:%d: check failed: %s\n",    \
				__FILE__, __LINE__, #cond);             \
		}                                                       \
	} while (0)

/* The sector of the image file holding logical sector `lsec`, as the driver computes
 * it from the BAT (DD_BLK_UNUSED if the block is not allocated). */
static u64
data_sector(vhd_context_t *vhd, u64 lsec)
{
	u32 blk = (u32)(lsec / vhd->spb);

	if (vhd->bat.bat[blk] == DD_BLK_UNUSED)
		return DD_BLK_UNUSED;
	return (u64)vhd->bat.bat[blk] + vhd->bm_secs + lsec % vhd->spb;
}

int
main(void)
{
	char dir[] = "/tmp/vhd-c-tapdisk.XXXXXX";
	char name[sizeof(dir) + 16], text[64];
	vhd_context_t vhd;
	struct request req = { .lsec = 2050, .nr_secs = 3, .flags = 0, .op = 1 };
	struct bitmap bm;
	vhd_footer_t raw;
	char *buf, *copy;
	off_t eod;
	u64 sec;
	u32 i, mismatches;

	if (!mkdtemp(dir))
		return 1;
	snprintf(name, sizeof(name), "%s/disk.vhd", dir);
	if (vhd_create(name, 8 << 20, HD_TYPE_DYNAMIC, 0) ||
	    vhd_open(&vhd, name, VHD_OPEN_RDWR)) {
		fprintf(stderr, "cannot create %s\n", name);
		return 1;
	}

	/* The context's fields and the inline helpers. */
	CHECK(vhd_type_dynamic(&vhd));
	CHECK(vhd_creator_tapdisk(&vhd));
	CHECK(!vhd_disabled(&vhd));
	CHECK(vhd_parent_raw(&vhd)); /* a dynamic disk's parent UUID is nil */
	CHECK(vhd.spb == vhd.header.block_size >> VHD_SECTOR_SHIFT);
	CHECK(vhd.bm_secs == secs_round_up_no_zero(vhd.spb >> 3));
	CHECK(vhd.is_block == 0);
	CHECK(memcmp(vhd.footer.cookie, HD_COOKIE, sizeof(vhd.footer.cookie)) == 0);
	snprintf(text, sizeof(text), "%" PRIu64 " %" PRIu32, (uint64_t)vhd.footer.curr_size,
		 (uint32_t)vhd.header.max_bat_size);
	CHECK(strcmp(text, "8388608 4") == 0);
	copy = strdupa(vhd.file);
	CHECK(strcmp(copy, name) == 0);

	/* Write through the library, then find the data as the driver does. */
	CHECK(vhd_get_bat(&vhd) == 0);
	CHECK(data_sector(&vhd, req.lsec) == DD_BLK_UNUSED);
	if (posix_memalign((void **)&buf, VHD_SECTOR_SIZE, VHD_SECTOR_SIZE * req.nr_secs))
		return 1;
	memset(buf, 0x5c, VHD_SECTOR_SIZE * req.nr_secs);
	CHECK(vhd_io_write(&vhd, buf, req.lsec, req.nr_secs) == 0);
	sec = data_sector(&vhd, req.lsec);
	CHECK(sec != DD_BLK_UNUSED);
	memset(buf, 0, VHD_SECTOR_SIZE);
	CHECK(pread(vhd.fd, buf, VHD_SECTOR_SIZE, (off_t)vhd_sectors_to_bytes(sec)) ==
	      VHD_SECTOR_SIZE);
	CHECK(buf[0] == 0x5c && buf[VHD_SECTOR_SIZE - 1] == 0x5c);

	/* The block's bitmap: the library's test and the inline bit helpers agree. */
	bm.blk = (u32)(req.lsec / vhd.spb);
	bm.seqno = 1;
	CHECK(vhd_read_bitmap(&vhd, bm.blk, &bm.map) == 0);
	bm.shadow = malloc(vhd_sectors_to_bytes(vhd.bm_secs));
	if (!bm.shadow)
		return 1;
	memcpy(bm.shadow, bm.map, vhd_sectors_to_bytes(vhd.bm_secs));
	for (i = 0, mismatches = 0; i < vhd.spb; i++)
		mismatches += test_bit(bm.map, (int)i) != vhd_bitmap_test(&vhd, bm.map, i);
	CHECK(mismatches == 0);
	for (i = 0; i < req.nr_secs; i++)
		CHECK(test_bit(bm.map, (int)(req.lsec % vhd.spb + i)));
	set_bit(bm.shadow, 7);
	CHECK(test_bit(bm.shadow, 7) && (bm.shadow[0] & 1));
	clear_bit(bm.shadow, 7);
	CHECK(!test_bit(bm.shadow, 7));
	old_set_bit(bm.shadow, 33);
	CHECK(old_test_bit(bm.shadow, 33));
	old_clear_bit(bm.shadow, 33);
	CHECK(!old_test_bit(bm.shadow, 33));

	/* The footer at the end of data, read raw and converted by hand. */
	CHECK(vhd_end_of_data(&vhd, &eod) == 0);
	CHECK(pread(vhd.fd, buf, VHD_SECTOR_SIZE, eod) == VHD_SECTOR_SIZE);
	memcpy(&raw, buf, sizeof(raw));
#if BYTE_ORDER == LITTLE_ENDIAN
	CHECK(bswap_64(raw.curr_size) == vhd.footer.curr_size);
	CHECK(bswap_32(raw.type) == HD_TYPE_DYNAMIC);
	CHECK(bswap_16((u16)0x1234) == 0x3412);
#else
	CHECK(raw.curr_size == vhd.footer.curr_size);
#endif
	BE64_IN(&raw.curr_size);
	BE32_IN(&raw.checksum);
	CHECK(raw.curr_size == vhd.footer.curr_size);
	CHECK(raw.checksum == vhd.footer.checksum);

	/* The journal's and vhd-util's declarations are there too. */
	CHECK(sizeof(vhd_journal_t) == 2152 && VHD_JOURNAL_METADATA == 0x01);
	CHECK(vhd_util_query != NULL);

	free(bm.shadow);
	free(bm.map);
	free(buf);
	vhd_close(&vhd);
	unlink(name);
	rmdir(dir);
	if (failed) {
		fprintf(stderr, "tapdisk.c: %d checks failed\n", failed);
		return 1;
	}
	printf("tapdisk.c: passed\n");
	return 0;
}
