/*
 * The metadata journal as vhd-util resize and vhd-update use it: create (the image is
 * disabled), add blocks, change the image, then revert (metadata, length and blocks come
 * back) or commit; close and reopen a journal; the on-disk journal header; refusals.
 * One format for every writer: a journal from this API is reverted by vhd_util_revert,
 * and one left by an interrupted vhd_util_resize is opened and reverted here.
 */
#include "testlib.h"
#include "libvhd-journal.h"
#include "vhd-util.h"

#include <arpa/inet.h>
#include <endian.h>
#include <sys/wait.h>

/* LeakSanitizer's switch, present only in the sanitizer build. */
extern void __lsan_disable(void) __attribute__((weak));

#define MiB (1024ULL * 1024)

static int read_sector(const char *file, uint64_t sec, char *out)
{
	vhd_context_t vhd;
	int err = vhd_open(&vhd, file, VHD_OPEN_RDONLY);

	if (err)
		return err;
	err = vhd_io_read(&vhd, out, sec, 1);
	vhd_close(&vhd);
	return err;
}

static void make_image(const char *img)
{
	vhd_context_t vhd;
	char *a = t_buf(4096 * 512, 0xa1);

	REQUIRE(vhd_create(img, 12 * MiB, HD_TYPE_DYNAMIC, 0) == 0);
	REQUIRE(vhd_open(&vhd, img, VHD_OPEN_RDWR) == 0);
	REQUIRE(vhd_io_write(&vhd, a, 0, 4096) == 0);
	REQUIRE(vhd_io_write(&vhd, a, 4096, 8) == 0);
	vhd_close(&vhd);
	free(a);
}

static void revert_restores(const char *img, const char *jnl)
{
	vhd_journal_t j;
	vhd_context_t probe;
	char *b = t_buf(8 * 512, 0xb2), *back = t_buf(512, 0);
	off_t size = t_size(img);
	char raw[512];
	uint64_t eof;

	REQUIRE(vhd_journal_create(&j, img, jnl) == 0);
	CHECK(j.jfd >= 0);
	CHECK(strcmp(j.jname, jnl) == 0);
	CHECK(vhd_disabled(&j.vhd));
	/* Disabled: a normal open refuses it, one ignoring that works. */
	CHECK_EQ(vhd_open(&probe, img, VHD_OPEN_RDONLY), -EINVAL);
	REQUIRE(vhd_open(&probe, img, VHD_OPEN_RDONLY | VHD_OPEN_IGNORE_DISABLED) == 0);
	vhd_close(&probe);

	/* The header on disk: cookie, big-endian fields, journal_eof in host order. */
	t_peek(jnl, 0, raw, sizeof(raw));
	CHECK(memcmp(raw, VHD_JOURNAL_HEADER_COOKIE, 8) == 0);
	CHECK(memcmp(raw + 8, j.vhd.footer.uuid, 16) == 0);
	memcpy(&eof, raw + 24, 8);
	CHECK_EQ(be64toh(eof), size - 512);
	{
		uint32_t n;

		memcpy(&n, raw + 36, 4);
		CHECK_EQ(ntohl(n), j.header.journal_metadata_entries);
	}
	/* Footer, copy, header, BAT, batmap header and map. */
	CHECK_EQ(j.header.journal_metadata_entries, 6);
	memcpy(&eof, raw + 56, 8);
	CHECK_EQ(eof, t_size(jnl));
	CHECK_EQ(j.header.journal_eof, eof);
	{
		uint64_t cookie;

		t_peek(jnl, 512, &cookie, 8);
		CHECK_EQ(be64toh(cookie), VHD_JOURNAL_ENTRY_COOKIE);
	}

	CHECK_EQ(vhd_journal_add_block(&j, 0, VHD_JOURNAL_METADATA | VHD_JOURNAL_DATA), 0);
	CHECK_EQ(vhd_journal_add_block(&j, 1, VHD_JOURNAL_DATA), 0);
	CHECK_EQ(vhd_journal_add_block(&j, 2, VHD_JOURNAL_DATA), 0); /* unallocated */
	CHECK_EQ(j.header.journal_data_entries, 3);
	CHECK_EQ(vhd_journal_add_block(&j, 6, VHD_JOURNAL_DATA), -ERANGE);

	/* Change the image: data in blocks 0 and 1, a new block 4 (the file grows). */
	CHECK_EQ(vhd_io_write(&j.vhd, b, 0, 8), 0);
	CHECK_EQ(vhd_io_write(&j.vhd, b, 4096 + 8, 8), 0);
	CHECK_EQ(vhd_io_write(&j.vhd, b, 4 * 4096, 8), 0);
	CHECK(t_size(img) > size);

	CHECK_EQ(vhd_journal_revert(&j), 0);
	CHECK_EQ(vhd_io_read(&j.vhd, back, 0, 1), 0);
	CHECK(t_all(back, 512, 0xa1));
	CHECK_EQ(vhd_io_read(&j.vhd, back, 4096 + 8, 1), 0);
	CHECK(t_all(back, 512, 0));
	CHECK_EQ(vhd_io_read(&j.vhd, back, 4 * 4096, 1), 0);
	CHECK(t_all(back, 512, 0));
	CHECK_EQ(t_size(img), size);
	CHECK_EQ(vhd_journal_remove(&j), 0);
	CHECK(access(jnl, F_OK) != 0);

	/* Enabled again, as it was. */
	CHECK_EQ(read_sector(img, 0, back), 0);
	CHECK(t_all(back, 512, 0xa1));
	free(b);
	free(back);
}

static void commit_keeps(const char *img, const char *jnl)
{
	vhd_journal_t j;
	char *c = t_buf(8 * 512, 0xc3), *back = t_buf(512, 0);

	REQUIRE(vhd_journal_create(&j, img, jnl) == 0);
	CHECK_EQ(vhd_journal_add_block(&j, 0, VHD_JOURNAL_DATA), 0);
	CHECK_EQ(vhd_io_write(&j.vhd, c, 0, 8), 0);
	CHECK_EQ(vhd_journal_commit(&j), 0);
	CHECK_EQ(t_size(jnl), 512);
	CHECK_EQ(vhd_journal_remove(&j), 0);
	CHECK_EQ(read_sector(img, 0, back), 0);
	CHECK(t_all(back, 512, 0xc3));
	free(c);
	free(back);
}

/* A journal kept across a close (a crash mid-resize) is opened and reverted. */
static void reopen_and_revert(const char *img, const char *jnl)
{
	vhd_journal_t j;
	vhd_context_t probe;
	char *d = t_buf(8 * 512, 0xd4), *back = t_buf(512, 0);
	off_t size = t_size(img);

	REQUIRE(vhd_journal_create(&j, img, jnl) == 0);
	CHECK_EQ(vhd_journal_add_block(&j, 0, VHD_JOURNAL_METADATA | VHD_JOURNAL_DATA), 0);
	CHECK_EQ(vhd_io_write(&j.vhd, d, 0, 8), 0);
	CHECK_EQ(vhd_io_write(&j.vhd, d, 3 * 4096, 8), 0);
	CHECK_EQ(vhd_journal_close(&j), 0);
	CHECK(access(jnl, F_OK) == 0);
	CHECK_EQ(vhd_open(&probe, img, VHD_OPEN_RDONLY), -EINVAL);

	REQUIRE(vhd_journal_open(&j, img, jnl) == 0);
	CHECK(vhd_disabled(&j.vhd));
	CHECK_EQ(t_size(img), size);
	CHECK_EQ(vhd_journal_revert(&j), 0);
	CHECK_EQ(vhd_journal_remove(&j), 0);
	CHECK_EQ(read_sector(img, 0, back), 0);
	CHECK(t_all(back, 512, 0xc3));
	CHECK_EQ(read_sector(img, 3 * 4096, back), 0);
	CHECK(t_all(back, 512, 0));
	free(d);
	free(back);
}

/* The whole file, malloc'd; its length in `*len`. */
static char *slurp(const char *file, off_t *len)
{
	char *b;

	*len = t_size(file);
	b = malloc(*len);
	REQUIRE(b != NULL);
	t_peek(file, 0, b, *len);
	return b;
}

/* A journal made here is reverted by vhd-util (the same code as the tool's). */
static void reverted_by_vhd_util(const char *img, const char *jnl)
{
	vhd_journal_t j;
	char *e = t_buf(8 * 512, 0xe5), *back = t_buf(512, 0);
	char *argv[] = { "revert", "-n", (char *)img, "-j", (char *)jnl, NULL };
	off_t size, n;
	char *before = slurp(img, &size), *after;

	REQUIRE(vhd_journal_create(&j, img, jnl) == 0);
	CHECK_EQ(vhd_journal_add_block(&j, 0, VHD_JOURNAL_DATA), 0);
	CHECK_EQ(vhd_io_write(&j.vhd, e, 0, 8), 0);
	CHECK_EQ(vhd_io_write(&j.vhd, e, 5 * 4096, 8), 0);
	CHECK(t_size(img) > size);
	CHECK_EQ(vhd_journal_close(&j), 0);

	CHECK_EQ(vhd_util_revert(5, argv), 0);
	CHECK(access(jnl, F_OK) != 0);
	after = slurp(img, &n);
	CHECK_EQ(n, size);
	CHECK(n == size && memcmp(before, after, size) == 0);
	CHECK_EQ(read_sector(img, 0, back), 0);
	CHECK(t_all(back, 512, 0xc3));
	free(before);
	free(after);
	free(e);
	free(back);
}

/* Runs vhd_util_resize(argv) in a child with failure point `point` armed: it must
 * exit 22 there. */
static void interrupted_resize(char **argv, const char *point)
{
	int status = 0;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		/* The failure point exits at once, leaving its allocations. */
		if (__lsan_disable)
			__lsan_disable();
		REQUIRE(freopen("/dev/null", "w", stdout) != NULL);
		setenv(point, "1", 1);
		vhd_util_resize(7, argv);
		_exit(99);
	}
	REQUIRE(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 22);
}

/* A journal vhd-util resize leaves at a failure point is opened and reverted here. */
static void left_by_vhd_util(const char *img, const char *jnl)
{
	vhd_journal_t j;
	vhd_context_t probe;
	char *argv[] = { "resize", "-n", (char *)img, "-j", (char *)jnl, "-s", "24", NULL };
	off_t size, n;
	char *before = slurp(img, &size), *after;

	interrupted_resize(argv, "VHD_UTIL_TEST_FAIL_RESIZE_END");
	CHECK(access(jnl, F_OK) == 0);
	/* Grown and disabled, as the reference leaves it. */
	CHECK_EQ(vhd_open(&probe, img, VHD_OPEN_RDONLY), -EINVAL);
	REQUIRE(vhd_open(&probe, img, VHD_OPEN_RDONLY | VHD_OPEN_IGNORE_DISABLED) == 0);
	CHECK_EQ(probe.footer.curr_size, 24 * MiB);
	vhd_close(&probe);

	REQUIRE(vhd_journal_open(&j, img, jnl) == 0);
	CHECK_EQ(j.header.journal_metadata_entries, 6);
	CHECK_EQ(j.header.journal_data_entries, 0);
	CHECK_EQ(j.vhd.footer.curr_size, 12 * MiB);
	CHECK(vhd_disabled(&j.vhd));
	CHECK_EQ(vhd_journal_revert(&j), 0);
	CHECK_EQ(vhd_journal_remove(&j), 0);
	after = slurp(img, &n);
	CHECK(n == size && memcmp(before, after, size) == 0);
	free(before);
	free(after);
}

/*
 * vhd_util_resize to 600 MiB needs 3 BAT sectors: block 0 is in their way and moves to
 * the end. Stopped after the data moved, the journal (its metadata and the range the
 * new BAT covers) is reverted here byte for byte; run to the end, block 0 has moved and
 * reads the same.
 */
static void moved_by_vhd_util(const char *img, const char *jnl)
{
	vhd_journal_t j;
	vhd_context_t vhd;
	char *argv[] = { "resize", "-n", (char *)img, "-j", (char *)jnl, "-s", "600", NULL };
	char *s0 = t_buf(512, 0), *s1 = t_buf(512, 0), *before, *after;
	off_t size, n;
	uint32_t blk0;

	make_image(img);
	before = slurp(img, &size);
	CHECK_EQ(read_sector(img, 0, s0), 0);
	REQUIRE(vhd_open(&vhd, img, VHD_OPEN_RDONLY) == 0);
	REQUIRE(vhd_get_bat(&vhd) == 0);
	blk0 = vhd.bat.bat[0];
	vhd_close(&vhd);

	interrupted_resize(argv, "VHD_UTIL_TEST_FAIL_RESIZE_DATA_MOVED");
	REQUIRE(vhd_journal_open(&j, img, jnl) == 0);
	CHECK_EQ(j.header.journal_data_entries, 1);
	CHECK_EQ(vhd_journal_revert(&j), 0);
	CHECK_EQ(vhd_journal_remove(&j), 0);
	after = slurp(img, &n);
	CHECK(n == size && memcmp(before, after, size) == 0);

	CHECK_EQ(vhd_util_resize(7, argv), 0);
	CHECK(access(jnl, F_OK) != 0);
	REQUIRE(vhd_open(&vhd, img, VHD_OPEN_RDONLY) == 0);
	CHECK_EQ(vhd.footer.curr_size, 600 * MiB);
	REQUIRE(vhd_get_bat(&vhd) == 0);
	CHECK(vhd.bat.bat[0] != blk0);
	CHECK_EQ(vhd_io_read(&vhd, s1, 0, 1), 0);
	CHECK(memcmp(s0, s1, 512) == 0);
	vhd_close(&vhd);
	free(before);
	free(after);
	free(s0);
	free(s1);
}

/* A committed journal restores nothing and does not cut the (grown) image. */
static void committed_journal_opens(const char *img, const char *jnl)
{
	vhd_journal_t j;
	char *f = t_buf(8 * 512, 0xf6), *back = t_buf(512, 0);
	off_t size;

	REQUIRE(vhd_journal_create(&j, img, jnl) == 0);
	CHECK_EQ(vhd_io_write(&j.vhd, f, 5 * 4096, 8), 0);
	CHECK_EQ(vhd_journal_commit(&j), 0);
	CHECK_EQ(vhd_journal_close(&j), 0);
	size = t_size(img);

	REQUIRE(vhd_journal_open(&j, img, jnl) == 0);
	CHECK_EQ(t_size(img), size);
	CHECK(vhd_disabled(&j.vhd));
	CHECK_EQ(vhd_journal_remove(&j), 0);
	CHECK_EQ(read_sector(img, 5 * 4096, back), 0);
	CHECK(t_all(back, 512, 0xf6));
	free(f);
	free(back);
}

int main(void)
{
	vhd_journal_t j;
	const char *img, *jnl;
	char junk[512];

	t_setup("journal", NULL);
	img = t_path("img.vhd");
	jnl = t_path("img.journal");
	make_image(img);
	revert_restores(img, jnl);
	commit_keeps(img, jnl);
	reopen_and_revert(img, jnl);
	reverted_by_vhd_util(img, jnl);
	left_by_vhd_util(img, jnl);

	/* An existing journal file is refused and left alone. */
	t_write_file(jnl, 512, 0);
	CHECK_EQ(vhd_journal_create(&j, img, jnl), -EEXIST);
	CHECK(access(jnl, F_OK) == 0);
	/* A file that is no journal does not open. */
	CHECK_EQ(vhd_journal_open(&j, img, jnl), -EINVAL);
	memset(junk, 0, sizeof(junk));
	unlink(jnl);
	/* Fixed images have no BAT to journal; the new journal file goes away again. */
	REQUIRE(vhd_create(t_path("fixed.vhd"), 2 * MiB, HD_TYPE_FIXED, 0) == 0);
	CHECK_EQ(vhd_journal_create(&j, t_path("fixed.vhd"), jnl), -EINVAL);
	CHECK(access(jnl, F_OK) != 0);
	/* The image is untouched by the failed attempts. */
	CHECK_EQ(read_sector(img, 0, junk), 0);
	CHECK(t_all(junk, 512, 0xc3));
	committed_journal_opens(img, jnl);
	/* Last: t_path's buffers rotate, so img and jnl are not used after it. */
	moved_by_vhd_util(t_path("moved.vhd"), t_path("moved.journal"));
	return t_finish();
}
