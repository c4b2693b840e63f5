/*
 * Writes the library must refuse because it could not keep them (issue 17):
 * - overlapping_blocks_refuse_writes: a BAT entry aliasing another block; vhd_io_write
 *   to either block gives -EINVAL and changes nothing, reads and other blocks work.
 * - mismatched_parent_refuses_writes: a differencing disk whose parent UUID no longer
 *   matches (or whose parent is gone) refuses writes with the error its reads give,
 *   instead of accepting data no read can return.
 */
#include "testlib.h"

#include <arpa/inet.h>

#define MiB (1024ULL * 1024)
#define SPB 4096 /* sectors per 2 MiB block */

/* The table offset and the entry of `block`, read from the file. */
static uint32_t bat_entry(const char *file, uint64_t *table)
{
	vhd_header_t h;

	t_peek(file, 512, &h, sizeof(h));
	vhd_header_in(&h);
	*table = h.table_offset;
	return 0;
}

static void set_entry(const char *file, int block, uint32_t sector)
{
	uint64_t table;
	uint32_t be = htonl(sector);

	bat_entry(file, &table);
	t_poke(file, table + 4 * block, &be, 4);
}

static uint32_t get_entry(const char *file, int block)
{
	uint64_t table;
	uint32_t be;

	bat_entry(file, &table);
	t_peek(file, table + 4 * block, &be, 4);
	return ntohl(be);
}

static void overlapping_blocks_refuse_writes(void)
{
	const char *f = t_path("alias.vhd");
	char *a = t_buf(512, 0xa1), *b = t_buf(512, 0xb2), *x = t_buf(512, 0xee);
	char *back = t_buf(512, 0);
	vhd_context_t vhd;
	off_t size;
	int i;

	t_name = "overlapping_blocks_refuse_writes";
	REQUIRE(vhd_create(f, 12 * MiB, HD_TYPE_DYNAMIC, 0) == 0);
	REQUIRE(vhd_open(&vhd, f, VHD_OPEN_RDWR) == 0);
	for (i = 0; i < 3; i++)
		REQUIRE(vhd_io_write(&vhd, i == 1 ? b : a, (uint64_t)i * SPB, 1) == 0);
	vhd_close(&vhd);
	/* Block 2 one sector after block 1. */
	set_entry(f, 2, get_entry(f, 1) + 1);
	size = t_size(f);

	CHECK_EQ(vhd_open(&vhd, f, VHD_OPEN_RDWR), 0);
	CHECK_EQ(vhd_io_write(&vhd, x, 2 * SPB, 1), -EINVAL);
	CHECK_EQ(vhd_io_write(&vhd, x, 1 * SPB, 1), -EINVAL);
	/* Reads still work: block 1 holds what was written to it. */
	CHECK_EQ(vhd_io_read(&vhd, back, 1 * SPB, 1), 0);
	CHECK(t_all(back, 512, 0xb2));
	/* Sound blocks and new ones take writes and read them back. */
	CHECK_EQ(vhd_io_write(&vhd, x, 0, 1), 0);
	CHECK_EQ(vhd_io_write(&vhd, x, 4 * SPB, 1), 0);
	CHECK_EQ(vhd_io_read(&vhd, back, 4 * SPB, 1), 0);
	CHECK(t_all(back, 512, 0xee));
	CHECK_EQ(vhd_io_read(&vhd, back, 1 * SPB, 1), 0);
	CHECK(t_all(back, 512, 0xb2));
	vhd_close(&vhd);
	CHECK(t_size(f) > size);
	free(a);
	free(b);
	free(x);
	free(back);
}

static void mismatched_parent_refuses_writes(void)
{
	const char *base = t_path("base.vhd"), *snap = t_path("snap.vhd");
	const char *gone = t_path("gone.vhd");
	char *x = t_buf(512, 0xee), *back = t_buf(512, 0);
	vhd_context_t vhd;
	vhd_header_t h;
	off_t size;
	int rerr;

	t_name = "mismatched_parent_refuses_writes";
	REQUIRE(vhd_create(base, 12 * MiB, HD_TYPE_DYNAMIC, 0) == 0);
	REQUIRE(vhd_snapshot(snap, 0, base, 0) == 0);
	/* A sound chain takes the write and reads it back. */
	REQUIRE(vhd_open(&vhd, snap, VHD_OPEN_RDWR) == 0);
	CHECK_EQ(vhd_io_write(&vhd, x, 0, 1), 0);
	CHECK_EQ(vhd_io_read(&vhd, back, 0, 1), 0);
	CHECK(t_all(back, 512, 0xee));
	vhd_close(&vhd);

	/* The child now names another parent UUID. */
	t_peek(snap, 512, &h, sizeof(h));
	vhd_header_in(&h);
	h.prt_uuid[0] ^= 0xff;
	h.checksum = vhd_checksum_header(&h);
	vhd_header_out(&h);
	t_poke(snap, 512, &h, sizeof(h));
	size = t_size(snap);
	REQUIRE(vhd_open(&vhd, snap, VHD_OPEN_RDWR) == 0);
	rerr = vhd_io_read(&vhd, back, 8, 1);
	CHECK_EQ(rerr, -EINVAL);
	CHECK_EQ(vhd_io_write(&vhd, x, 8, 1), rerr);
	/* Not even a sector of an allocated block: no data that cannot be read back. */
	CHECK_EQ(vhd_io_write(&vhd, x, 1, 1), rerr);
	CHECK_EQ(vhd_io_write(&vhd, x, 3 * SPB, 1), rerr);
	vhd_close(&vhd);
	CHECK_EQ(t_size(snap), size);

	/* Parent gone: the same agreement. */
	h.prt_uuid[0] ^= 0xff;
	h.checksum = 0;
	vhd_header_in(&h);
	h.checksum = vhd_checksum_header(&h);
	vhd_header_out(&h);
	t_poke(snap, 512, &h, sizeof(h));
	REQUIRE(rename(base, gone) == 0);
	REQUIRE(vhd_open(&vhd, snap, VHD_OPEN_RDWR) == 0);
	rerr = vhd_io_read(&vhd, back, 8, 1);
	CHECK(rerr < 0);
	CHECK_EQ(vhd_io_write(&vhd, x, 3 * SPB, 1), rerr);
	vhd_close(&vhd);
	CHECK_EQ(t_size(snap), size);
	REQUIRE(rename(gone, base) == 0);
	REQUIRE(vhd_open(&vhd, snap, VHD_OPEN_RDWR) == 0);
	CHECK_EQ(vhd_io_write(&vhd, x, 3 * SPB, 1), 0);
	CHECK_EQ(vhd_io_read(&vhd, back, 3 * SPB, 1), 0);
	CHECK(t_all(back, 512, 0xee));
	vhd_close(&vhd);
	free(x);
	free(back);
}

int main(void)
{
	t_setup("refused_writes", NULL);
	overlapping_blocks_refuse_writes();
	mismatched_parent_refuses_writes();
	return t_finish();
}
