/*
 * Shared helpers of the C tests that work on images: a scratch directory, checks that
 * count and report, aligned buffers and raw file edits. Each test program includes it
 * once.
 */
#ifndef VHD_TESTLIB_H
#define VHD_TESTLIB_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libvhd.h"
#ifdef VHD_OPEN_CACHED /* blktap3's headers */
#include "blktap3/compat.h"
#endif

static int t_passed, t_failed;
static const char *t_name = "test";
static char t_dir[PATH_MAX / 2];

#define CHECK(cond)                                                          \
	do {                                                                 \
		if (cond) {                                                  \
			t_passed++;                                          \
		} else {                                                     \
			t_failed++;                                          \
			fprintf(stderr, "%s:%d: %s: check failed: %s\n",     \
				__FILE__, __LINE__, t_name, #cond);          \
		}                                                            \
	} while (0)

/* `a == b` for integers, printing both on failure. */
#define CHECK_EQ(a, b)                                                       \
	do {                                                                 \
		long long _a = (long long)(a), _b = (long long)(b);          \
		if (_a == _b) {                                              \
			t_passed++;                                          \
		} else {                                                     \
			t_failed++;                                          \
			fprintf(stderr, "%s:%d: %s: %s == %lld, expected %s == %lld\n", \
				__FILE__, __LINE__, t_name, #a, _a, #b, _b); \
		}                                                            \
	} while (0)

/* Stops the program: a step the rest depends on failed. */
#define REQUIRE(cond)                                                        \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "%s:%d: %s: required: %s\n",         \
				__FILE__, __LINE__, t_name, #cond);          \
			exit(1);                                             \
		}                                                            \
	} while (0)

/* Creates the scratch directory under `base` (else $TMPDIR, else /tmp). */
static inline void t_setup(const char *name, const char *base)
{
	if (!base)
		base = getenv("TMPDIR");
	t_name = name;
	snprintf(t_dir, sizeof(t_dir), "%s/vhd-ctest-%s-XXXXXX", base ? base : "/tmp", name);
	REQUIRE(mkdtemp(t_dir) != NULL);
}

/* `t_dir/name` in a static buffer (one of four, so a few can be held at once). */
static inline const char *t_path(const char *name)
{
	static char bufs[4][PATH_MAX];
	static int next;
	char *p = bufs[next++ % 4];

	snprintf(p, PATH_MAX, "%s/%s", t_dir, name);
	return p;
}

/* Removes the scratch directory and its files, prints the tally, returns the exit
 * status. */
static inline int t_finish(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "%s: could not remove %s\n", t_name, t_dir);
	printf("%s: %d passed, %d failed\n", t_name, t_passed, t_failed);
	return t_failed ? 1 : 0;
}

/* A sector-aligned buffer of `len` bytes filled with `byte`; release with free(). */
static inline char *t_buf(size_t len, int byte)
{
	void *p = NULL;

	REQUIRE(posix_memalign(&p, 512, len) == 0);
	memset(p, byte, len);
	return p;
}

/* Whether all `len` bytes at `p` equal `byte`. */
static inline int t_all(const char *p, size_t len, int byte)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)p[i] != (unsigned char)byte)
			return 0;
	return 1;
}

static inline off_t t_size(const char *file)
{
	struct stat st;

	REQUIRE(stat(file, &st) == 0);
	return st.st_size;
}

/* Overwrites `len` bytes of `file` at `off`. */
static inline void t_poke(const char *file, off_t off, const void *data, size_t len)
{
	int fd = open(file, O_WRONLY);

	REQUIRE(fd >= 0);
	REQUIRE(pwrite(fd, data, len, off) == (ssize_t)len);
	close(fd);
}

/* Reads `len` bytes of `file` at `off`. */
static inline void t_peek(const char *file, off_t off, void *data, size_t len)
{
	int fd = open(file, O_RDONLY);

	REQUIRE(fd >= 0);
	REQUIRE(pread(fd, data, len, off) == (ssize_t)len);
	close(fd);
}

/* Writes a file of `len` bytes of `byte`. */
static inline void t_write_file(const char *file, size_t len, int byte)
{
	char *b = t_buf(len ? len : 1, byte);
	int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	REQUIRE(fd >= 0);
	REQUIRE(write(fd, b, len) == (ssize_t)len);
	close(fd);
	free(b);
}

#endif /* VHD_TESTLIB_H */
