/*
 * Data I/O as tapdisk and vhd-util use it: create, open, vhd_io_write/vhd_io_read round
 * trips on dynamic and fixed images, the in-struct BAT, batmap and footer kept equal to
 * the disk, tapdisk's own pread on vhd->fd at offsets computed from the BAT, range and
 * mode errors, and the buffered fallback on tmpfs.
 */
#include "testlib.h"

#define MiB (1024ULL * 1024)

/* Sector `s` of the pattern: its bytes are the low byte of s + seed. */
static void fill(char *buf, uint64_t first, uint32_t secs, int seed)
{
	uint32_t i;

	for (i = 0; i < secs; i++)
		memset(buf + i * 512, (int)((first + i + seed) & 0xff), 512);
}

static int matches(const char *buf, uint64_t first, uint32_t secs, int seed)
{
	uint32_t i;

	for (i = 0; i < secs; i++)
		if (!t_all(buf + i * 512, 512, (int)((first + i + seed) & 0xff)))
			return 0;
	return 1;
}

static void dynamic_round_trip(const char *file)
{
	vhd_context_t vhd;
	char *buf = t_buf(64 * 512, 0), *back = t_buf(64 * 512, 0);
	off_t end;
	uint32_t off;
	int err;

	REQUIRE(vhd_create(file, 100 * MiB, HD_TYPE_DYNAMIC, 0) == 0);
	/* The reference's layout of a new 100 MB image. */
	CHECK_EQ(t_size(file), 3584);

	REQUIRE(vhd_open(&vhd, file, VHD_OPEN_RDWR) == 0);
	CHECK(vhd.fd >= 0);
	CHECK(strcmp(vhd.file, file) == 0);
	CHECK_EQ(vhd.footer.type, HD_TYPE_DYNAMIC);
	CHECK_EQ(vhd.footer.curr_size, 100 * MiB);
	CHECK_EQ(vhd.footer.data_offset, 512);
	CHECK(vhd_creator_tapdisk(&vhd));
	CHECK_EQ(vhd.footer.crtr_ver, VHD_CURRENT_VERSION);
	CHECK_EQ(vhd.header.table_offset, 1536);
	CHECK_EQ(vhd.header.max_bat_size, 50);
	CHECK_EQ(vhd.header.block_size, 2 * MiB);
	CHECK_EQ(vhd.spb, 4096);
	CHECK_EQ(vhd.bm_secs, 1);
	CHECK(vhd.bat.bat == NULL);
	CHECK(vhd_has_batmap(&vhd));

	/* Unallocated sectors of a dynamic disk read as zeros. */
	memset(back, 0x55, 8 * 512);
	CHECK_EQ(vhd_io_read(&vhd, back, 0, 8), 0);
	CHECK(t_all(back, 8 * 512, 0));
	/* The I/O functions load the BAT, as libvhd's do. */
	REQUIRE(vhd.bat.bat != NULL);
	CHECK_EQ(vhd.bat.entries, 50);
	CHECK_EQ(vhd.bat.bat[0], DD_BLK_UNUSED);
	REQUIRE(vhd.batmap.map != NULL);
	CHECK_EQ(vhd_batmap_test(&vhd, &vhd.batmap, 0), 0);

	/* First block: bitmap at byte 3584 (sector 7), data 4 KiB aligned at 4096. */
	fill(buf, 0, 8, 1);
	CHECK_EQ(vhd_io_write(&vhd, buf, 0, 8), 0);
	CHECK_EQ(vhd.bat.bat[0], 7);
	CHECK_EQ(vhd_batmap_test(&vhd, &vhd.batmap, 0), 1);
	CHECK_EQ(vhd_validate_batmap(&vhd.batmap), 0);
	/* A write spanning blocks 1 and 2, from an unaligned buffer. */
	fill(buf + 1, 2 * 4096 - 3, 6, 2);
	CHECK_EQ(vhd_io_write(&vhd, buf + 1, 2 * 4096 - 3, 6), 0);
	/* The next allocations follow the first at a stride of 2 MiB + 4 KiB. */
	CHECK_EQ((uint64_t)vhd.bat.bat[1] * 512, 2104832);
	CHECK_EQ(vhd.bat.bat[2], vhd.bat.bat[1] + 4104);
	CHECK_EQ(vhd.bat.bat[3], DD_BLK_UNUSED);

	CHECK_EQ(vhd_io_read(&vhd, back, 0, 8), 0);
	CHECK(matches(back, 0, 8, 1));
	CHECK_EQ(vhd_io_read(&vhd, back + 3, 2 * 4096 - 3, 6), 0);
	CHECK(matches(back + 3, 2 * 4096 - 3, 6, 2));
	/* Around the written run: zeros. */
	CHECK_EQ(vhd_io_read(&vhd, back, 2 * 4096 - 4, 1), 0);
	CHECK(t_all(back, 512, 0));

	/* tapdisk's way: its own pread on vhd->fd at the offset the BAT gives. */
	CHECK_EQ(pread(vhd.fd, back, 512 * 8, ((off_t)vhd.bat.bat[0] + vhd.bm_secs) * 512), 512 * 8);
	CHECK(matches(back, 0, 8, 1));
	CHECK_EQ(vhd_offset(&vhd, 5, &off), 0);
	CHECK_EQ(off, 7 + 1 + 5);
	CHECK_EQ(vhd_offset(&vhd, 3 * 4096 + 5, &off), 0);
	CHECK_EQ(off, DD_BLK_UNUSED);
	CHECK_EQ(vhd_offset(&vhd, 50 * 4096, &off), -ERANGE);

	/* The in-struct footer is what is on disk at the end of data. */
	CHECK_EQ(vhd_end_of_data(&vhd, &end), 0);
	CHECK_EQ(end, (off_t)vhd.bat.bat[2] * 512 + 4097 * 512);
	{
		vhd_footer_t f;

		CHECK_EQ(vhd_read_footer_at(&vhd, &f, end), 0);
		CHECK(memcmp(&f, &vhd.footer, sizeof(f)) == 0);
		CHECK_EQ(t_size(file), end + 512);
	}

	/* Ranges: the last sector works, one past it is -ERANGE, and so is an overflow. */
	CHECK_EQ(vhd_io_write(&vhd, buf, 100 * 2048 - 1, 1), 0);
	CHECK_EQ(vhd_io_read(&vhd, back, 100 * 2048 - 1, 2), -ERANGE);
	CHECK_EQ(vhd_io_write(&vhd, buf, 100 * 2048, 1), -ERANGE);
	CHECK_EQ(vhd_io_read(&vhd, back, UINT64_MAX - 1, 4), -ERANGE);
	CHECK_EQ(vhd_io_read(&vhd, NULL, 0, 1), -EINVAL);
	vhd_close(&vhd);
	CHECK(vhd.file == NULL && vhd.bat.bat == NULL);

	/* Read-only: everything is still there; writes fail as on a read-only fd. */
	REQUIRE(vhd_open(&vhd, file, VHD_OPEN_RDONLY) == 0);
	CHECK_EQ(vhd_io_read(&vhd, back, 0, 8), 0);
	CHECK(matches(back, 0, 8, 1));
	CHECK_EQ(vhd_io_read(&vhd, back, 2 * 4096 - 3, 6), 0);
	CHECK(matches(back, 2 * 4096 - 3, 6, 2));
	CHECK_EQ(vhd_io_write(&vhd, buf, 0, 1), -EBADF);
	REQUIRE(vhd_get_bat(&vhd) == 0);
	CHECK_EQ(vhd.bat.bat[0], 7);
	vhd_close(&vhd);

	/* The same file read as a whole image by vhd_get_bat after open (tapdisk). */
	REQUIRE(vhd_open(&vhd, file, VHD_OPEN_RDONLY | VHD_OPEN_FAST) == 0);
	REQUIRE(vhd_get_bat(&vhd) == 0);
	REQUIRE(vhd_get_batmap(&vhd) == 0);
	CHECK_EQ(vhd_batmap_test(&vhd, &vhd.batmap, 2), 1);
	CHECK_EQ(vhd_batmap_test(&vhd, &vhd.batmap, 3), 0);
	err = vhd_get_bat(&vhd);
	CHECK_EQ(err, 0);
	vhd_close(&vhd);
	free(buf);
	free(back);
}

static void fixed_round_trip(const char *file)
{
	vhd_context_t vhd;
	char *buf = t_buf(16 * 512, 0), *back = t_buf(16 * 512, 0);
	off_t end;

	/* 3 MiB rounds up to whole 2 MiB blocks. */
	REQUIRE(vhd_create(file, 3 * MiB, HD_TYPE_FIXED, 0) == 0);
	CHECK_EQ(t_size(file), 4 * MiB + 512);
	REQUIRE(vhd_open(&vhd, file, VHD_OPEN_RDWR) == 0);
	CHECK_EQ(vhd.footer.type, HD_TYPE_FIXED);
	CHECK_EQ(vhd.footer.curr_size, 4 * MiB);
	CHECK_EQ(vhd.footer.data_offset, 0xFFFFFFFFFFFFFFFFULL);
	CHECK_EQ(vhd.spb, 0);
	CHECK_EQ(vhd_get_bat(&vhd), -EINVAL);
	CHECK_EQ(vhd_has_batmap(&vhd), 0);
	fill(buf, 100, 16, 3);
	CHECK_EQ(vhd_io_write(&vhd, buf, 100, 16), 0);
	CHECK_EQ(vhd_io_read(&vhd, back, 100, 16), 0);
	CHECK(matches(back, 100, 16, 3));
	/* A fixed image is the guest data at the same offsets. */
	CHECK_EQ(pread(vhd.fd, back, 512, 100 * 512), 512);
	CHECK(matches(back, 100, 1, 3));
	CHECK_EQ(vhd_end_of_data(&vhd, &end), 0);
	CHECK_EQ(end, 4 * MiB);
	CHECK_EQ(vhd_get_phys_size(&vhd, &end), 0);
	CHECK_EQ(end, 4 * MiB + 512);
	CHECK_EQ(vhd_io_read(&vhd, back, 8192 - 1, 2), -ERANGE);
	vhd_close(&vhd);
	free(buf);
	free(back);
}

/* On tmpfs, which refuses O_DIRECT before Linux 6.6, the image opens buffered and
 * works the same. */
static void buffered_fallback(void)
{
	char dir[] = "/dev/shm/vhd-ctest-XXXXXX";
	char file[sizeof(dir) + 16];
	vhd_context_t vhd;
	char *buf = t_buf(4096, 0x3c), *back = t_buf(4096, 0);

	if (!mkdtemp(dir)) {
		printf("%s: no /dev/shm, buffered fallback not tested\n", t_name);
		free(buf);
		free(back);
		return;
	}
	snprintf(file, sizeof(file), "%s/t.vhd", dir);
	REQUIRE(vhd_create(file, 8 * MiB, HD_TYPE_DYNAMIC, 0) == 0);
	REQUIRE(vhd_open(&vhd, file, VHD_OPEN_RDWR) == 0);
	printf("%s: tmpfs image opened %s\n", t_name,
	       (vhd.oflags & O_DIRECT) ? "with O_DIRECT" : "buffered (O_DIRECT refused)");
	CHECK_EQ(vhd_io_write(&vhd, buf, 4095, 8), 0);
	CHECK_EQ(vhd_io_read(&vhd, back, 4095, 8), 0);
	CHECK(t_all(back, 4096, 0x3c));
	vhd_close(&vhd);
	REQUIRE(vhd_open(&vhd, file, VHD_OPEN_RDONLY) == 0);
	CHECK_EQ(vhd_io_read(&vhd, back, 4095, 8), 0);
	CHECK(t_all(back, 4096, 0x3c));
	vhd_close(&vhd);
	unlink(file);
	rmdir(dir);
	free(buf);
	free(back);
}

int main(void)
{
	t_setup("io", NULL);
	dynamic_round_trip(t_path("dyn.vhd"));
	fixed_round_trip(t_path("fixed.vhd"));
	buffered_fallback();

	/* Creating over an existing file truncates it; bad types are refused. */
	CHECK_EQ(vhd_create(t_path("dyn.vhd"), 12 * MiB, HD_TYPE_DYNAMIC, 0), 0);
	CHECK_EQ(t_size(t_path("dyn.vhd")), 3584);
	CHECK_EQ(vhd_create(t_path("bad.vhd"), 12 * MiB, HD_TYPE_DIFF, 0), -EINVAL);
	CHECK(access(t_path("bad.vhd"), F_OK) != 0);
	/* An open image keeps working after its name is removed (tapdisk holds images
	 * open while tools rename and delete). */
	{
		vhd_context_t vhd;
		char *b = t_buf(512, 0x5e);

		REQUIRE(vhd_create(t_path("gone.vhd"), 12 * MiB, HD_TYPE_DYNAMIC, 0) == 0);
		REQUIRE(vhd_open(&vhd, t_path("gone.vhd"), VHD_OPEN_RDWR) == 0);
		REQUIRE(unlink(t_path("gone.vhd")) == 0);
		CHECK_EQ(vhd_io_write(&vhd, b, 9, 1), 0);
		memset(b, 0, 512);
		CHECK_EQ(vhd_io_read(&vhd, b, 9, 1), 0);
		CHECK(t_all(b, 512, 0x5e));
		vhd_close(&vhd);
		free(b);
	}
	/* Beyond 2040 GiB the engine refuses; the file it had created is removed. */
	CHECK_EQ(vhd_create(t_path("huge.vhd"), 2041ULL << 30, HD_TYPE_DYNAMIC, 0), -EINVAL);
	CHECK(access(t_path("huge.vhd"), F_OK) != 0);
	return t_finish();
}
