/*
 * The C library on block devices (run by tests/blockdev/run.sh as root):
 * vhd_create, vhd_snapshot, vhd_open with is_block set, sizes from the image's end of
 * data rather than the device's, and data written then read back through the chain.
 *
 * usage: capi BASE_DEVICE CHILD_DEVICE
 */
#include "../../c-tests/testlib.h"

int
main(int argc, char **argv)
{
	vhd_context_t base, child;
	off_t eod, phys;
	char *buf;
	int i;

	if (argc != 3) {
		fprintf(stderr, "usage: %s BASE_DEVICE CHILD_DEVICE\n", argv[0]);
		return 2;
	}
	t_setup("blockdev-capi", NULL);
	buf = t_buf(8 * VHD_SECTOR_SIZE, 0);

	/* A fixed image: its footer in the device's last sector. */
	CHECK(vhd_create(argv[1], 4 << 20, HD_TYPE_FIXED, 0) == 0);
	CHECK(vhd_open(&base, argv[1], VHD_OPEN_RDONLY) == 0);
	CHECK(base.is_block == 1);
	CHECK(base.footer.curr_size == 4 << 20 && base.footer.type == HD_TYPE_FIXED);
	vhd_close(&base);

	/* A dynamic one over it, then a snapshot on the other device. */
	CHECK(vhd_create(argv[1], 8 << 20, HD_TYPE_DYNAMIC, 0) == 0);
	CHECK(vhd_open(&base, argv[1], VHD_OPEN_RDWR) == 0);
	CHECK(base.is_block == 1 && base.footer.type == HD_TYPE_DYNAMIC);
	memset(buf, 0x61, 8 * VHD_SECTOR_SIZE);
	CHECK(vhd_io_write(&base, buf, 0, 8) == 0);
	CHECK(vhd_end_of_data(&base, &eod) == 0);
	CHECK(vhd_get_phys_size(&base, &phys) == 0);
	CHECK(phys == eod + VHD_SECTOR_SIZE);
	CHECK(phys < (8 << 20)); /* the end of data, not the device's end */
	vhd_close(&base);

	CHECK(vhd_snapshot(argv[2], 0, argv[1], 0) == 0);
	CHECK(vhd_open(&child, argv[2], VHD_OPEN_RDWR) == 0);
	CHECK(child.is_block == 1 && child.footer.type == HD_TYPE_DIFF);
	memset(buf, 0x62, VHD_SECTOR_SIZE);
	CHECK(vhd_io_write(&child, buf, 1, 1) == 0);
	memset(buf, 0, 8 * VHD_SECTOR_SIZE);
	CHECK(vhd_io_read(&child, buf, 0, 8) == 0);
	for (i = 0; i < 8 * VHD_SECTOR_SIZE; i++)
		if (buf[i] != (i / VHD_SECTOR_SIZE == 1 ? 0x62 : 0x61))
			break;
	CHECK(i == 8 * VHD_SECTOR_SIZE);
	vhd_close(&child);

	free(buf);
	return t_finish();
}
