/*
 * The metadata journal as vhd-util resize and vhd-update use it: create (the image is
 * disabled), add blocks, change the image, then revert (metadata, length and blocks come
 * back) or commit; close and reopen a journal; the on-disk journal header; refusals.
 */
#include "testlib.h"
#include "libvhd-journal.h"

#include <arpa/inet.h>
#include <endian.h>

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
	return t_finish();
}
