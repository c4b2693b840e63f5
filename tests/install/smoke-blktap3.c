/* Built against an installed blktap3-flavour libvhd through pkg-config, as tapdisk
 * includes it (<libvhd.h> from $(includedir)/vhd): creates a dynamic image with metadata
 * preallocation, writes a sector, and reads the context's blktap3 fields. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvhd.h>
#include <libvhd-journal.h>
#include <libvhd-index.h>
#include <vhd-util.h>

int main(int argc, char **argv)
{
	vhd_context_t vhd;
	char *buf = NULL;
	char marker = 0;
	int err;

	if (argc != 2) {
		fprintf(stderr, "usage: %s IMAGE\n", argv[0]);
		return 2;
	}
	err = vhd_create(argv[1], 8 << 20, HD_TYPE_DYNAMIC, 16 << 20, 0);
	if (!err)
		err = vhd_open(&vhd, argv[1], VHD_OPEN_RDWR);
	if (err) {
		fprintf(stderr, "create/open: %d\n", err);
		return 1;
	}
	if (posix_memalign((void **)&buf, 512, 512))
		return 1;
	memset(buf, 0x42, 512);
	err = vhd_io_write(&vhd, buf, 0, 1);
	if (!err)
		err = vhd_set_marker(&vhd, 1);
	if (!err)
		err = vhd_marker(&vhd, &marker);
	printf("type %u max_bat %u offset %lld marker %d block0 %s err %d\n",
	       vhd.footer.type, vhd.header.max_bat_size, (long long)vhd.offset, marker,
	       vhd.bat.bat && vhd.bat.bat[0] != DD_BLK_UNUSED ? "allocated" : "unused", err);
	vhd_close(&vhd);
	free(buf);
	return err != 0;
}
