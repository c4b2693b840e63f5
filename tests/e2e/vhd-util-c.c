/*
 * The C vhd-util's shape: a main that only dispatches to the vhd_util_* entry points of
 * libvhd.so, plus a "write" command through vhd_io_write for the end-to-end test.
 * usage: vhd-util-c COMMAND [OPTIONS]
 *        vhd-util-c write NAME SECTOR BYTE COUNT
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libvhd.h"
#include "vhd-util.h"

struct command {
	const char *name;
	int (*func)(int, char **);
};

static const struct command commands[] = {
	{ "create", vhd_util_create },     { "snapshot", vhd_util_snapshot },
	{ "query", vhd_util_query },       { "read", vhd_util_read },
	{ "set", vhd_util_set_field },     { "repair", vhd_util_repair },
	{ "resize", vhd_util_resize },     { "fill", vhd_util_fill },
	{ "coalesce", vhd_util_coalesce }, { "modify", vhd_util_modify },
	{ "scan", vhd_util_scan },         { "check", vhd_util_check },
	{ "revert", vhd_util_revert },
};

static int write_pattern(const char *name, unsigned long long sector, int byte,
			 unsigned int count)
{
	vhd_context_t vhd;
	char *buf;
	int err;

	if (posix_memalign((void **)&buf, 4096, (size_t)count << 9))
		return -ENOMEM;
	memset(buf, byte, (size_t)count << 9);
	err = vhd_open(&vhd, name, VHD_OPEN_RDWR);
	if (!err) {
		err = vhd_io_write(&vhd, buf, sector, count);
		vhd_close(&vhd);
	}
	free(buf);
	return err;
}

int main(int argc, char **argv)
{
	size_t i;
	int err;

	if (argc >= 6 && !strcmp(argv[1], "write"))
		return -write_pattern(argv[2], strtoull(argv[3], NULL, 10),
				      (int)strtol(argv[4], NULL, 0),
				      (unsigned int)strtoul(argv[5], NULL, 10));
	if (argc < 2)
		return 22;
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (!strcmp(argv[1], commands[i].name)) {
			err = commands[i].func(argc - 1, argv + 1);
			fflush(stdout);
			return err >= 0 ? err : -err;
		}
	}
	fprintf(stderr, "invalid COMMAND %s\n", argv[1]);
	return 0;
}
