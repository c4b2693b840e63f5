/*
 * The fault tests' client of libvhd:
 *   vhdio cat IMAGE                 every sector of the virtual disk (through its
 *                                   parents) to stdout
 *   vhdio pattern IMAGE SEED N      N writes of 1-64 sectors at random places (seeded),
 *                                   each sector stamped (tag, sector), to build images
 *   vhdio writer IMAGE SEED LOG     writes as `pattern` until killed or 100000 writes;
 *                                   logs "b TAG SECTOR COUNT" before and "a TAG" after
 *                                   each vhd_io_write returns 0 (write(2), unbuffered),
 *                                   "e ERR" and exit 1 when one fails
 * A stamped sector holds the tag (u64 LE), the sector (u64 LE), then the tag's low
 * byte: the checker tells which write left it. Exit 0, or 1 with the failing call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libvhd.h"

static uint64_t rng;

static uint64_t next(void)
{
	/* xorshift64*: small, seedable, the same in the checker. */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ULL;
}

static void stamp(char *buf, uint64_t tag, uint64_t sector, uint32_t count)
{
	uint32_t i;

	for (i = 0; i < count; i++) {
		char *s = buf + (size_t)i * 512;
		uint64_t sec = sector + i;

		memset(s, (int)(tag & 0xff), 512);
		memcpy(s, &tag, 8);
		memcpy(s + 8, &sec, 8);
	}
}

static int writes(const char *file, uint64_t seed, long n, int log)
{
	vhd_context_t vhd;
	char *buf, line[96];
	uint64_t secs;
	long t;
	int err;

	rng = seed | 1;
	err = vhd_open(&vhd, file, VHD_OPEN_RDWR);
	if (err) {
		fprintf(stderr, "vhd_open %s: %d\n", file, err);
		return 1;
	}
	secs = vhd.footer.curr_size >> 9;
	if (posix_memalign((void **)&buf, 512, 64 * 512))
		return 1;
	for (t = 1; t <= n; t++) {
		uint32_t count = 1 + next() % 64;
		uint64_t sector = next() % (secs - count + 1);

		stamp(buf, (uint64_t)t, sector, count);
		if (log >= 0) {
			int len = snprintf(line, sizeof(line), "b %ld %llu %u\n", t,
					   (unsigned long long)sector, count);
			if (write(log, line, len) != len)
				return 1;
		}
		err = vhd_io_write(&vhd, buf, sector, count);
		if (err && log >= 0) {
			int len = snprintf(line, sizeof(line), "e %d\n", err);

			if (write(log, line, len) != len)
				return 1;
		}
		if (err) {
			fprintf(stderr, "vhd_io_write %s %llu+%u: %d\n", file,
				(unsigned long long)sector, count, err);
			vhd_close(&vhd);
			return 1;
		}
		if (log >= 0) {
			int len = snprintf(line, sizeof(line), "a %ld\n", t);
			if (write(log, line, len) != len)
				return 1;
		}
	}
	vhd_close(&vhd);
	free(buf);
	return 0;
}

static int cat(const char *file)
{
	vhd_context_t vhd;
	uint64_t secs, s;
	char *buf;
	int err;

	err = vhd_open(&vhd, file, VHD_OPEN_RDONLY);
	if (err) {
		fprintf(stderr, "vhd_open %s: %d\n", file, err);
		return 1;
	}
	secs = vhd.footer.curr_size >> 9;
	if (posix_memalign((void **)&buf, 512, 2048 * 512))
		return 1;
	for (s = 0; s < secs; s += 2048) {
		uint32_t n = secs - s < 2048 ? (uint32_t)(secs - s) : 2048;

		err = vhd_io_read(&vhd, buf, s, n);
		if (err) {
			fprintf(stderr, "vhd_io_read %s %llu+%u: %d\n", file,
				(unsigned long long)s, n, err);
			return 1;
		}
		if (fwrite(buf, 512, n, stdout) != n)
			return 1;
	}
	vhd_close(&vhd);
	free(buf);
	return fflush(stdout) ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "cat"))
		return cat(argv[2]);
	if (argc == 5 && !strcmp(argv[1], "pattern"))
		return writes(argv[2], strtoull(argv[3], NULL, 0), atol(argv[4]), -1);
	if (argc == 5 && !strcmp(argv[1], "writer")) {
		int log = open(argv[4], O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);

		if (log < 0)
			return 1;
		return writes(argv[2], strtoull(argv[3], NULL, 0), 100000, log);
	}
	fprintf(stderr, "usage: vhdio cat IMAGE | pattern IMAGE SEED N | writer IMAGE SEED LOG\n");
	return 2;
}
