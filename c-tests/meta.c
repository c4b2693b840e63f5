/*
 * Metadata functions as vhd-util, vhd-update and tapdisk call them: footer and header
 * reads and writes, the hidden flag, physical size, bitmap and batmap bit helpers (with
 * tap 0.1's bit order), raw file I/O at the file position, block reads and writes, and a
 * block allocated by the client itself (as tapdisk does) then seen by the library.
 */
#include "testlib.h"

#define MiB (1024ULL * 1024)

static void footer_and_header(const char *file)
{
	vhd_context_t vhd;
	vhd_footer_t f;
	vhd_header_t h;
	int hidden;
	off_t off;

	REQUIRE(vhd_open(&vhd, file, VHD_OPEN_RDWR) == 0);
	CHECK_EQ(vhd_read_footer(&vhd, &f), 0);
	CHECK(memcmp(&f, &vhd.footer, sizeof(f)) == 0);
#ifndef VHD_OPEN_CACHED /* blktap2; blktap3 has no strict read */
	CHECK_EQ(vhd_read_footer_strict(&vhd, &f), 0);
#endif
	CHECK_EQ(vhd_read_footer_at(&vhd, &f, 0), 0);
	CHECK(memcmp(&f, &vhd.footer, sizeof(f)) == 0);
	/* Not a footer: filled anyway (for dumps), but invalid. */
	CHECK_EQ(vhd_read_footer_at(&vhd, &f, 512), -EINVAL);
	CHECK(memcmp(f.cookie, DD_COOKIE, 8) == 0);
	CHECK_EQ(vhd_read_header(&vhd, &h), 0);
	CHECK(memcmp(&h, &vhd.header, sizeof(h)) == 0);
	CHECK_EQ(vhd_read_header_at(&vhd, &h, 0), -EINVAL);
	CHECK_EQ(vhd_validate_footer(&vhd.footer), 0);
	CHECK_EQ(vhd_validate_header(&vhd.header), 0);
	f = vhd.footer;
	f.checksum ^= 1;
	CHECK_EQ(vhd_validate_footer(&f), -EINVAL);

	/* vhd-util set -f hidden: the footer at the end of data and the copy at 0. */
	CHECK_EQ(vhd_hidden(&vhd, &hidden), 0);
	CHECK_EQ(hidden, 0);
	vhd.footer.hidden = (char)200;
	CHECK_EQ(vhd_write_footer(&vhd, &vhd.footer), 0);
	CHECK_EQ(vhd.footer.checksum, vhd_checksum_footer(&vhd.footer));
	CHECK_EQ(vhd_hidden(&vhd, &hidden), 0);
	CHECK_EQ(hidden, -56);
	vhd_close(&vhd);
	REQUIRE(vhd_open(&vhd, file, VHD_OPEN_RDONLY) == 0);
	CHECK_EQ(vhd_hidden(&vhd, &hidden), 0);
	CHECK_EQ(hidden, -56);
	CHECK_EQ(vhd_read_footer_at(&vhd, &f, 0), 0);
	CHECK_EQ((unsigned char)f.hidden, 200);

	/* Where things are in a new 12 MiB image. */
	CHECK_EQ(vhd_batmap_header_offset(&vhd, &off), 0);
	CHECK_EQ(off, 2048);
	CHECK_EQ(vhd_end_of_headers(&vhd, &off), 0);
	CHECK_EQ(off, 3072);
	CHECK_EQ(vhd_get_phys_size(&vhd, &off), 0);
	CHECK_EQ(off, 3584);
	/* Header and footer caches. */
	vhd_put_header(&vhd);
	CHECK_EQ(vhd.header.table_offset, 0);
	vhd_put_footer(&vhd);
	CHECK_EQ(vhd.footer.type, 0);
	CHECK_EQ(vhd_get_footer(&vhd), 0);
	CHECK_EQ(vhd.footer.type, HD_TYPE_DYNAMIC);
	CHECK_EQ(vhd_get_header(&vhd), 0);
	CHECK_EQ(vhd.header.table_offset, 1536);
	vhd_close(&vhd);

	/* vhd-util modify -s: the footer moves to the new end; smaller is refused. */
	REQUIRE(vhd_open(&vhd, file, VHD_OPEN_RDWR) == 0);
	CHECK_EQ(vhd_set_phys_size(&vhd, 2048), -EINVAL);
	CHECK_EQ(vhd_set_phys_size(&vhd, 8192), 0);
	vhd_close(&vhd);
	CHECK_EQ(t_size(file), 8192);
	REQUIRE(vhd_open(&vhd, file, VHD_OPEN_RDONLY) == 0);
	CHECK_EQ(vhd.footer.curr_size, 12 * MiB);
	vhd_close(&vhd);
}

static void bits(const char *file)
{
	vhd_context_t vhd;
	char map[64];

	REQUIRE(vhd_open(&vhd, file, VHD_OPEN_RDONLY) == 0);
	memset(map, 0, sizeof(map));
	vhd_bitmap_set(&vhd, map, 0);
	vhd_bitmap_set(&vhd, map, 9);
	CHECK_EQ((unsigned char)map[0], 0x80);
	CHECK_EQ((unsigned char)map[1], 0x40);
	CHECK_EQ(vhd_bitmap_test(&vhd, map, 9), 1);
	CHECK_EQ(vhd_bitmap_test(&vhd, map, 10), 0);
	vhd_bitmap_clear(&vhd, map, 9);
	CHECK_EQ(map[1], 0);
	/* tap 0.1 images kept their bitmaps least significant bit first. */
	vhd.footer.crtr_ver = 0x00000001;
	memset(map, 0, sizeof(map));
	vhd_bitmap_set(&vhd, map, 9);
	CHECK_EQ(map[1], 0x02);
	CHECK_EQ(vhd_bitmap_test(&vhd, map, 9), 1);
	vhd.footer.crtr_ver = VHD_CURRENT_VERSION;

	/* Batmap bits, in memory, within its size only. */
	REQUIRE(vhd_get_batmap(&vhd) == 0);
	CHECK_EQ(vhd_validate_batmap_header(&vhd.batmap), 0);
	CHECK_EQ(vhd_validate_batmap(&vhd.batmap), 0);
	vhd_batmap_set(&vhd, &vhd.batmap, 3);
	CHECK_EQ((unsigned char)vhd.batmap.map[0], 0x10);
	CHECK_EQ(vhd_batmap_test(&vhd, &vhd.batmap, 3), 1);
	CHECK_EQ(vhd_validate_batmap(&vhd.batmap), -EINVAL);
	vhd_batmap_clear(&vhd, &vhd.batmap, 3);
	CHECK_EQ(vhd_batmap_test(&vhd, &vhd.batmap, 3), 0);
	CHECK_EQ(vhd_batmap_test(&vhd, &vhd.batmap, 512 * 8), 0);
	vhd_batmap_set(&vhd, &vhd.batmap, 512 * 8); /* ignored: beyond the map */
	vhd_put_batmap(&vhd);
	CHECK(vhd.batmap.map == NULL);
	vhd_close(&vhd);
}

/* tapdisk allocates blocks itself: pwrite of bitmap and data at the end of data, its
 * in-memory BAT updated and written with vhd_write_bat, the footer with
 * vhd_write_footer. The library must see all of it. */
static void client_allocation(const char *file)
{
	vhd_context_t vhd;
	char *bm = t_buf(512, 0xff), *data = t_buf(4096 * 512, 0x6b), *back = t_buf(512, 0);
	off_t eod, blk;

	REQUIRE(vhd_create(file, 12 * MiB, HD_TYPE_DYNAMIC, 0) == 0);
	REQUIRE(vhd_open(&vhd, file, VHD_OPEN_RDWR) == 0);
	REQUIRE(vhd_get_bat(&vhd) == 0);
	/* The library reads first, so its own view of the image is loaded. */
	CHECK_EQ(vhd_io_read(&vhd, back, 4096 * 2, 1), 0);
	CHECK(t_all(back, 512, 0));

	REQUIRE(vhd_end_of_data(&vhd, &eod) == 0);
	CHECK_EQ(eod, 3072);
	/* Data 4 KiB aligned after one bitmap sector. */
	blk = (eod + 512 + 4095) / 4096 * 8 - 1;
	CHECK_EQ(blk, 7);
	REQUIRE(pwrite(vhd.fd, bm, 512, blk * 512) == 512);
	REQUIRE(pwrite(vhd.fd, data, 4096 * 512, (blk + 1) * 512) == 4096 * 512);
	vhd.bat.bat[2] = (uint32_t)blk;
	CHECK_EQ(vhd_write_bat(&vhd, &vhd.bat), 0);
	CHECK_EQ(vhd_end_of_data(&vhd, &eod), 0);
	CHECK_EQ(eod, (blk + 4097) * 512);
	CHECK_EQ(vhd_write_footer(&vhd, &vhd.footer), 0);
	CHECK_EQ(t_size(file), eod + 512);

	/* The library's reads and writes follow. */
	CHECK_EQ(vhd_io_read(&vhd, back, 4096 * 2 + 7, 1), 0);
	CHECK(t_all(back, 512, 0x6b));
	CHECK_EQ(vhd_io_write(&vhd, data, 4096 * 3, 1), 0);
	CHECK_EQ(vhd.bat.bat[3], (eod + 512 + 4095) / 4096 * 8 - 1);
	vhd_close(&vhd);
	REQUIRE(vhd_open(&vhd, file, VHD_OPEN_RDONLY) == 0);
	CHECK_EQ(vhd_io_read(&vhd, back, 4096 * 2 + 4095, 1), 0);
	CHECK(t_all(back, 512, 0x6b));
	CHECK_EQ(vhd_io_read(&vhd, back, 4096 * 3, 1), 0);
	CHECK(t_all(back, 512, 0x6b));

	/* Blocks and bitmaps through the block functions. */
	{
		char *got = NULL;

		REQUIRE(vhd_read_block(&vhd, 2, &got) == 0);
		CHECK(t_all(got, 4096 * 512, 0x6b));
		free(got);
		got = NULL;
		REQUIRE(vhd_read_bitmap(&vhd, 2, &got) == 0);
		CHECK(t_all(got, 512, 0xff));
		free(got);
		got = NULL;
		CHECK_EQ(vhd_read_block(&vhd, 0, &got), -EINVAL);
		CHECK_EQ(vhd_read_bitmap(&vhd, 6, &got), -ERANGE);
		CHECK(got == NULL);
	}
	vhd_close(&vhd);

	/* vhd-update's way: rewrite a block's bitmap and data in place. */
	REQUIRE(vhd_open(&vhd, file, VHD_OPEN_RDWR) == 0);
	memset(data, 0x7c, 4096 * 512);
	memset(bm, 0, 512);
	bm[0] = (char)0x80;
	CHECK_EQ(vhd_write_block(&vhd, 2, data), 0);
	CHECK_EQ(vhd_write_bitmap(&vhd, 2, bm), 0);
	CHECK_EQ(vhd_write_bitmap(&vhd, 1, bm), -EINVAL);
	/* The batmap says block 2 is not full any more. */
	REQUIRE(vhd_get_batmap(&vhd) == 0);
	vhd_batmap_clear(&vhd, &vhd.batmap, 2);
	CHECK_EQ(vhd_write_batmap(&vhd, &vhd.batmap), 0);
	CHECK_EQ(vhd_validate_batmap(&vhd.batmap), 0);
	/* Only sector 0 of block 2 is present now: the rest reads as zeros. */
	CHECK_EQ(vhd_io_read(&vhd, back, 4096 * 2, 1), 0);
	CHECK(t_all(back, 512, 0x7c));
	CHECK_EQ(vhd_io_read(&vhd, back, 4096 * 2 + 1, 1), 0);
	CHECK(t_all(back, 512, 0));
	vhd_close(&vhd);
	free(bm);
	free(data);
	free(back);
}

static void raw_io(const char *file)
{
	vhd_context_t vhd;
	char cookie[9] = { 0 }, odd[3];

	REQUIRE(vhd_open(&vhd, file, VHD_OPEN_RDWR) == 0);
	CHECK_EQ(vhd_seek(&vhd, 512, SEEK_SET), 0);
	CHECK_EQ(vhd_position(&vhd), 512);
	/* Unaligned sizes and buffers work even on an O_DIRECT descriptor. */
	CHECK_EQ(vhd_read(&vhd, cookie, 8), 0);
	CHECK(strcmp(cookie, DD_COOKIE) == 0);
	CHECK_EQ(vhd_position(&vhd), 520);
	CHECK_EQ(vhd_seek(&vhd, -3, SEEK_END), 0);
	CHECK_EQ(vhd_write(&vhd, "abc", 3), 0);
	CHECK_EQ(vhd_seek(&vhd, -3, SEEK_END), 0);
	CHECK_EQ(vhd_read(&vhd, odd, 3), 0);
	CHECK(memcmp(odd, "abc", 3) == 0);
	CHECK_EQ(vhd_read(&vhd, odd, 3), -EIO);
	CHECK_EQ(vhd_seek(&vhd, -1, SEEK_SET), -EINVAL);
	vhd_close(&vhd);
}

int main(void)
{
	t_setup("meta", NULL);
	REQUIRE(vhd_create(t_path("a.vhd"), 12 * MiB, HD_TYPE_DYNAMIC, 0) == 0);
	footer_and_header(t_path("a.vhd"));
	REQUIRE(vhd_create(t_path("b.vhd"), 12 * MiB, HD_TYPE_DYNAMIC, 0) == 0);
	bits(t_path("b.vhd"));
	client_allocation(t_path("c.vhd"));
	raw_io(t_path("b.vhd"));
	return t_finish();
}
