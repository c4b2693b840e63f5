/* Built against an installed libvhd through pkg-config: creates a dynamic image,
 * writes and reads a sector back through the public API. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libvhd.h"

int main(int argc, char **argv)
{
	vhd_context_t vhd;
	char *buf = NULL, *back = NULL;
	int err;

	if (argc != 2) {
		fprintf(stderr, "usage: %s IMAGE\n", argv[0]);
		return 2;
	}
	err = vhd_create(argv[1], 8 << 20, HD_TYPE_DYNAMIC, 0);
	if (err) {
		fprintf(stderr, "vhd_create: %d\n", err);
		return 1;
	}
	err = vhd_open(&vhd, argv[1], VHD_OPEN_RDWR);
	if (err) {
		fprintf(stderr, "vhd_open: %d\n", err);
		return 1;
	}
	if (posix_memalign((void **)&buf, 512, 4096) ||
	    posix_memalign((void **)&back, 512, 4096))
		return 1;
	memset(buf, 0x5a, 4096);
	err = vhd_io_write(&vhd, buf, 16, 8);
	if (!err)
		err = vhd_io_read(&vhd, back, 16, 8);
	if (err || memcmp(buf, back, 4096)) {
		fprintf(stderr, "io: %d\n", err);
		return 1;
	}
	printf("%s: %llu bytes, type %u\n", argv[1],
	       (unsigned long long)vhd.footer.curr_size, vhd.footer.type);
	vhd_close(&vhd);
	free(buf);
	free(back);
	return 0;
}
