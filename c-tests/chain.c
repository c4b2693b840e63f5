/*
 * Differencing disks as vhd-util and tapdisk use them: snapshots and reads through a
 * chain of three, parent locators (get, read, find), the parent name, chain depth,
 * vhd_change_parent, raw parents, and chains that must be refused (UUID mismatch,
 * a loop, a missing parent).
 */
#include "testlib.h"

#define MiB (1024ULL * 1024)

static void write_at(const char *file, uint64_t sec, uint32_t secs, int byte)
{
	vhd_context_t vhd;
	char *b = t_buf(secs * 512, byte);

	REQUIRE(vhd_open(&vhd, file, VHD_OPEN_RDWR) == 0);
	REQUIRE(vhd_io_write(&vhd, b, sec, secs) == 0);
	vhd_close(&vhd);
	free(b);
}

/* The byte sector `sec` of `file` reads as through its chain, or -1 if the sectors
 * differ or -errno-1000 on error. */
static int byte_at(const char *file, uint64_t sec)
{
	vhd_context_t vhd;
	char *b = t_buf(512, 0x77);
	int err, v;

	err = vhd_open(&vhd, file, VHD_OPEN_RDONLY);
	if (err) {
		free(b);
		return err - 1000;
	}
	err = vhd_io_read(&vhd, b, sec, 1);
	vhd_close(&vhd);
	v = err ? err - 1000 : (t_all(b, 512, (unsigned char)b[0]) ? (unsigned char)b[0] : -1);
	free(b);
	return v;
}

static int depth_of(const char *file)
{
	vhd_context_t vhd;
	int err, depth = -1;

	err = vhd_open(&vhd, file, VHD_OPEN_RDONLY);
	if (err)
		return err - 1000;
	err = vhd_chain_depth(&vhd, &depth);
	vhd_close(&vhd);
	return err ? err - 1000 : depth;
}

static void three_deep(const char *base, const char *s1, const char *s2)
{
	vhd_context_t vhd;
	char *parent = NULL, *name = NULL, real[PATH_MAX];
	int i, depth;

	REQUIRE(vhd_create(base, 100 * MiB, HD_TYPE_DYNAMIC, 0) == 0);
	write_at(base, 0, 16, 0x11);
	write_at(base, 5000, 8, 0x11);
	REQUIRE(vhd_snapshot(s1, 0, base, 0) == 0);
	/* The reference's layout of a fresh 100 MB snapshot: locators then footer. */
	CHECK_EQ(t_size(s1), 5120);
	write_at(s1, 8, 8, 0x22);
	REQUIRE(vhd_snapshot(s2, 0, s1, 0) == 0);
	write_at(s2, 12, 2, 0x33);

	/* Each sector comes from the topmost image that has it. */
	for (i = 0; i < 8; i++)
		CHECK_EQ(byte_at(s2, i), 0x11);
	for (i = 8; i < 12; i++)
		CHECK_EQ(byte_at(s2, i), 0x22);
	CHECK_EQ(byte_at(s2, 12), 0x33);
	CHECK_EQ(byte_at(s2, 13), 0x33);
	CHECK_EQ(byte_at(s2, 14), 0x22);
	CHECK_EQ(byte_at(s2, 5003), 0x11);
	CHECK_EQ(byte_at(s2, 9000), 0);
	CHECK_EQ(byte_at(s1, 12), 0x22);
	CHECK_EQ(byte_at(base, 12), 0x11);
	CHECK_EQ(depth_of(s2), 3);
	CHECK_EQ(depth_of(s1), 2);
	CHECK_EQ(depth_of(base), 1);

	REQUIRE(vhd_open(&vhd, s2, VHD_OPEN_RDONLY) == 0);
	CHECK_EQ(vhd.footer.type, HD_TYPE_DIFF);
	CHECK_EQ(vhd.footer.curr_size, 100 * MiB);
	/* One read spanning child-owned and parent sectors, into an unaligned buffer. */
	{
		char *b = t_buf(16 * 512 + 1, 0);

		CHECK_EQ(vhd_io_read(&vhd, b + 1, 4, 12), 0);
		CHECK(t_all(b + 1, 4 * 512, 0x11));
		CHECK(t_all(b + 1 + 4 * 512, 4 * 512, 0x22));
		CHECK(t_all(b + 1 + 8 * 512, 2 * 512, 0x33));
		CHECK(t_all(b + 1 + 10 * 512, 2 * 512, 0x22));
		free(b);
	}
	/* The bitmap of the child's block: only sectors 12 and 13 are its own. */
	{
		char *map = NULL;

		REQUIRE(vhd_read_bitmap(&vhd, 0, &map) == 0);
		CHECK_EQ(vhd_bitmap_test(&vhd, map, 11), 0);
		CHECK_EQ(vhd_bitmap_test(&vhd, map, 12), 1);
		CHECK_EQ(vhd_bitmap_test(&vhd, map, 13), 1);
		CHECK_EQ(vhd_bitmap_test(&vhd, map, 14), 0);
		free(map);
		CHECK_EQ(vhd_batmap_test(&vhd, &vhd.batmap, 0), 0);
	}

	/* Locators: MacX, W2ku, W2ru, each the path relative to the child. */
	CHECK_EQ(vhd_parent_locator_count(&vhd), 8);
	CHECK_EQ(vhd.header.loc[0].code, PLAT_CODE_MACX);
	CHECK_EQ(vhd.header.loc[1].code, PLAT_CODE_W2KU);
	CHECK_EQ(vhd.header.loc[2].code, PLAT_CODE_W2RU);
	CHECK_EQ(vhd.header.loc[3].code, PLAT_CODE_NONE);
	CHECK_EQ(vhd.header.loc[0].data_space, 512);
	CHECK_EQ(vhd.header.loc[0].data_len, 15); /* "file://./s1.vhd" */
	CHECK_EQ(vhd.header.loc[2].data_len, 16); /* ".\s1.vhd" in UTF-16 */
	for (i = 0; i < 3; i++) {
		REQUIRE(vhd_parent_locator_read(&vhd, &vhd.header.loc[i], &name) == 0);
		CHECK(strcmp(name, "./s1.vhd") == 0);
		free(name);
		name = NULL;
	}
	CHECK_EQ(vhd_parent_locator_read(&vhd, &vhd.header.loc[3], &name), -EINVAL);
	CHECK(name == NULL);
	REQUIRE(realpath(s1, real) != NULL);
	REQUIRE(vhd_parent_locator_get(&vhd, &parent) == 0);
	CHECK(strcmp(parent, real) == 0);
	free(parent);
	REQUIRE(vhd_find_parent(&vhd, "./s1.vhd", &parent) == 0);
	CHECK(strcmp(parent, real) == 0);
	free(parent);
	CHECK_EQ(vhd_find_parent(&vhd, "./nothing.vhd", &parent), -ENOENT);
	REQUIRE(vhd_header_decode_parent(&vhd, &vhd.header, &name) == 0);
	CHECK(strcmp(name, "s1.vhd") == 0);
	free(name);
	CHECK(!vhd_uuid_is_nil(&vhd.header.prt_uuid));
	CHECK(vhd.header.prt_ts != 0);
	CHECK_EQ(vhd_chain_depth(&vhd, &depth), 0);
	CHECK_EQ(depth, 3);
	vhd_close(&vhd);

	/* A base has no parent. */
	REQUIRE(vhd_open(&vhd, base, VHD_OPEN_RDONLY) == 0);
	CHECK_EQ(vhd_parent_locator_get(&vhd, &parent), -EINVAL);
	vhd_close(&vhd);

	/* Snapshot sizes: larger is rounded to 2 MiB, smaller than the parent refused. */
	CHECK_EQ(vhd_snapshot(t_path("big.vhd"), 101 * MiB, base, 0), 0);
	REQUIRE(vhd_open(&vhd, t_path("big.vhd"), VHD_OPEN_RDONLY) == 0);
	CHECK_EQ(vhd.footer.curr_size, 102 * MiB);
	vhd_close(&vhd);
	CHECK_EQ(vhd_snapshot(t_path("small.vhd"), 10 * MiB, base, 0), -EINVAL);
	CHECK(access(t_path("small.vhd"), F_OK) != 0);
	CHECK_EQ(vhd_snapshot(t_path("orphan.vhd"), 0, t_path("missing.vhd"), 0), -ENOENT);
}

/* s2 is pointed past s1 straight at base: s1's sectors disappear from it. */
static void reparent(const char *base, const char *s1, const char *s2)
{
	vhd_context_t vhd;
	char *parent = NULL, real[PATH_MAX];

	REQUIRE(vhd_open(&vhd, s2, VHD_OPEN_RDWR) == 0);
	CHECK_EQ(vhd_change_parent(&vhd, (char *)base, 0), 0);
	REQUIRE(realpath(base, real) != NULL);
	REQUIRE(vhd_parent_locator_get(&vhd, &parent) == 0);
	CHECK(strcmp(parent, real) == 0);
	free(parent);
	{
		char *b = t_buf(512, 0);

		/* The open context reads through its new parent at once. */
		CHECK_EQ(vhd_io_read(&vhd, b, 8, 1), 0);
		CHECK(t_all(b, 512, 0x11));
		free(b);
	}
	vhd_close(&vhd);
	CHECK_EQ(byte_at(s2, 8), 0x11);
	CHECK_EQ(byte_at(s2, 12), 0x33);
	CHECK_EQ(depth_of(s2), 2);
	/* A child of a read-only open cannot be changed; a missing parent is refused. */
	REQUIRE(vhd_open(&vhd, s2, VHD_OPEN_RDONLY) == 0);
	CHECK_EQ(vhd_change_parent(&vhd, (char *)s1, 0), -EBADF);
	vhd_close(&vhd);
	REQUIRE(vhd_open(&vhd, s2, VHD_OPEN_RDWR) == 0);
	CHECK_EQ(vhd_change_parent(&vhd, (char *)t_path("missing.vhd"), 0), -ENOENT);
	/* And back onto s1. */
	CHECK_EQ(vhd_change_parent(&vhd, (char *)s1, 0), 0);
	vhd_close(&vhd);
	CHECK_EQ(byte_at(s2, 8), 0x22);
	CHECK_EQ(depth_of(s2), 3);
}

static void raw_parent(void)
{
	const char *raw = t_path("raw.img"), *snap = t_path("raw-snap.vhd");
	vhd_context_t vhd;

	t_write_file(raw, 4 * MiB, 0x44);
	REQUIRE(vhd_snapshot(snap, 0, raw, VHD_FLAG_CREAT_PARENT_RAW) == 0);
	REQUIRE(vhd_open(&vhd, snap, VHD_OPEN_RDONLY) == 0);
	CHECK(vhd_parent_raw(&vhd));
	CHECK_EQ(vhd.footer.curr_size, 4 * MiB);
	vhd_close(&vhd);
	write_at(snap, 100, 1, 0x55);
	CHECK_EQ(byte_at(snap, 99), 0x44);
	CHECK_EQ(byte_at(snap, 100), 0x55);
	CHECK_EQ(depth_of(snap), 2);
	/* Without the flag a raw file is no VHD parent. */
	CHECK_EQ(vhd_snapshot(t_path("bad.vhd"), 0, raw, 0), -EINVAL);
}

static void refused_chains(const char *base, const char *s1)
{
	const char *a = t_path("a.vhd"), *b = t_path("b.vhd");
	vhd_context_t vhd;
	int depth;

	/* The parent was replaced by another image: its UUID no longer matches. */
	REQUIRE(rename(base, t_path("base.old")) == 0);
	REQUIRE(vhd_create(base, 100 * MiB, HD_TYPE_DYNAMIC, 0) == 0);
	CHECK_EQ(byte_at(s1, 0), -EINVAL - 1000);
	CHECK_EQ(depth_of(s1), -EINVAL - 1000);
	/* Child-owned sectors need no parent, but the chain is checked on the first read. */
	REQUIRE(rename(t_path("base.old"), base) == 0);
	CHECK_EQ(byte_at(s1, 0), 0x11);

	/* A missing parent. */
	REQUIRE(rename(base, t_path("base.old")) == 0);
	CHECK_EQ(byte_at(s1, 0), -EINVAL - 1000);
	REQUIRE(rename(t_path("base.old"), base) == 0);

	/* A loop: a's parent is b and b's parent is a. */
	REQUIRE(vhd_snapshot(a, 0, base, 0) == 0);
	REQUIRE(vhd_snapshot(b, 0, a, 0) == 0);
	REQUIRE(vhd_open(&vhd, a, VHD_OPEN_RDWR) == 0);
	CHECK_EQ(vhd_change_parent(&vhd, (char *)b, 0), 0);
	CHECK_EQ(vhd_chain_depth(&vhd, &depth), -EINVAL);
	vhd_close(&vhd);
	CHECK_EQ(byte_at(b, 0), -EINVAL - 1000);
}

int main(void)
{
	char *base, *s1, *s2;
	int status;

	t_setup("chain", NULL);
	/* Copies: t_path's buffers are reused. */
	base = strdup(t_path("base.vhd"));
	s1 = strdup(t_path("s1.vhd"));
	s2 = strdup(t_path("s2.vhd"));
	REQUIRE(base && s1 && s2);
	three_deep(base, s1, s2);
	reparent(base, s1, s2);
	raw_parent();
	refused_chains(base, s1);
	status = t_finish();
	free(base);
	free(s1);
	free(s2);
	return status;
}
