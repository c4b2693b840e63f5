/*
 * vhd-index (libvhd-index.h) as tapdisk's vindex driver and vhd-index use it: an index
 * file with blocks appended, rewritten and read back, a file table with VHDs added, and
 * a BAT file naming them, each reloaded, and every file's bytes read without the
 * library to check the layout (big-endian headers and entries, paths stored relative
 * to the file holding them, the BAT's table in host order).
 */
#include "testlib.h"

#include <sys/time.h>

#include "libvhd-index.h"

#define MiB (1024U * 1024)

static uint16_t
be16_at(const unsigned char *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

static uint32_t
be32_at(const unsigned char *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static uint64_t
be64_at(const unsigned char *b)
{
	return (uint64_t)be32_at(b) << 32 | be32_at(b + 4);
}

static void
test_index(void)
{
	char idx[PATH_MAX];
	unsigned char h[512], raw[64];
	vhdi_entry_t big[4096], two[2] = { { 7, 70 }, { 8, 80 } };
	vhdi_block_t block;
	vhdi_context_t ctx;
	uint32_t sector;
	int i, ok;

	snprintf(idx, sizeof(idx), "%s", t_path("idx/i.idx"));
	CHECK_EQ(vhdi_create(t_path("idx/bad.idx"), 3 * MiB), -EINVAL);
	CHECK_EQ(access(t_path("idx/bad.idx"), F_OK), -1);
	REQUIRE(vhdi_create(idx, 2 * MiB) == 0);
	CHECK_EQ(vhdi_create(idx, 2 * MiB), -EEXIST);

	/* One sector: cookie, block size, table offset, big-endian, zeros after. */
	CHECK_EQ(t_size(idx), 512);
	t_peek(idx, 0, h, sizeof(h));
	CHECK(memcmp(h, "vhdindex", 8) == 0);
	CHECK_EQ(be32_at(h + 8), 2 * MiB);
	CHECK(t_all((const char *)h + 12, 4, 0));
	CHECK_EQ(be64_at(h + 16), 512);
	CHECK(t_all((const char *)h + 24, 512 - 24, 0));

	REQUIRE(vhdi_open(&ctx, idx, O_RDWR) == 0);
	CHECK_EQ(ctx.spb, 4096);
	CHECK_EQ(ctx.vhd_block_size, 2 * MiB);
	CHECK(ctx.name && strcmp(ctx.name, idx) == 0);
	CHECK(ctx.fd >= 0);

	/* A whole block appended after the header sector. */
	for (i = 0; i < 4096; i++) {
		big[i].file_id = 1 + i % 2;
		big[i].offset = 3 * i + 0x01020304;
	}
	block.entries = 4096;
	block.table = big;
	sector = 0;
	CHECK_EQ(vhdi_append_block(&ctx, &block, &sector), 0);
	CHECK_EQ(sector, 1);
	CHECK_EQ(t_size(idx), 512 + 4096 * 8);
	t_peek(idx, 512, raw, 16);
	CHECK_EQ(be32_at(raw), 1);
	CHECK_EQ(be32_at(raw + 4), 0x01020304);
	CHECK_EQ(be32_at(raw + 8), 2);
	CHECK_EQ(be32_at(raw + 12), 0x01020307);

	/* A short block: only its entries are written; the next one starts a sector on. */
	block.entries = 2;
	block.table = two;
	CHECK_EQ(vhdi_append_block(&ctx, &block, &sector), 0);
	CHECK_EQ(sector, 65);
	CHECK_EQ(t_size(idx), 65 * 512 + 16);
	CHECK_EQ(vhdi_append_block(&ctx, &block, &sector), 0);
	CHECK_EQ(sector, 66);
	CHECK_EQ(t_size(idx), 66 * 512 + 16);

	/* Read back in host order. */
	block.table = NULL;
	CHECK_EQ(vhdi_read_block(&ctx, &block, 1), 0);
	CHECK_EQ(block.entries, 4096);
	REQUIRE(block.table);
	ok = 1;
	for (i = 0; i < 4096; i++)
		ok &= block.table[i].file_id == big[i].file_id &&
		      block.table[i].offset == big[i].offset;
	CHECK(ok);
	free(block.table);

	/* Written as a whole block, padded with zero entries. */
	block.entries = 2;
	block.table = two;
	CHECK_EQ(vhdi_write_block(&ctx, &block, 66), 0);
	CHECK_EQ(t_size(idx), 66 * 512 + 4096 * 8);
	t_peek(idx, 66 * 512, raw, 32);
	CHECK_EQ(be32_at(raw), 7);
	CHECK_EQ(be32_at(raw + 4), 70);
	CHECK_EQ(be32_at(raw + 8), 8);
	CHECK_EQ(be32_at(raw + 12), 80);
	CHECK(t_all((const char *)raw + 16, 16, 0));
	CHECK_EQ(vhdi_read_block(&ctx, &block, 66), 0);
	CHECK_EQ(block.entries, 4096);
	CHECK_EQ(block.table[1].file_id, 8);
	CHECK_EQ(block.table[1].offset, 80);
	CHECK_EQ(block.table[2].file_id, 0);
	CHECK_EQ(block.table[4095].offset, 0);
	free(block.table);

	/* More entries than a block holds; a block past the end. */
	block.entries = 4097;
	block.table = big;
	CHECK_EQ(vhdi_write_block(&ctx, &block, 1), -EINVAL);
	CHECK_EQ(vhdi_read_block(&ctx, &block, 200), -EIO);
	CHECK(block.table == NULL);
	vhdi_close(&ctx);

	/* Reopened read-only, the rewritten block reads back. */
	REQUIRE(vhdi_open(&ctx, idx, O_RDONLY) == 0);
	CHECK_EQ(vhdi_read_block(&ctx, &block, 66), 0);
	CHECK_EQ(block.table[0].file_id, 7);
	free(block.table);
	vhdi_close(&ctx);

	/* Not an index: bad cookie, then a block size that is not a power of two. */
	t_poke(idx, 0, "vhdindeX", 8);
	CHECK_EQ(vhdi_open(&ctx, idx, O_RDONLY), -EINVAL);
	CHECK(ctx.name == NULL);
	t_poke(idx, 0, "vhdindex", 8);
	raw[0] = 0; raw[1] = 0x30; raw[2] = 0; raw[3] = 0;
	t_poke(idx, 8, raw, 4);
	CHECK_EQ(vhdi_open(&ctx, idx, O_RDONLY), -EINVAL);
	CHECK_EQ(vhdi_open(&ctx, t_path("idx/none.idx"), O_RDONLY), -ENOENT);
}

/* The footer UUID of a VHD. */
static void
vhd_uuid(const char *f, uuid_t out)
{
	vhd_context_t vhd;

	REQUIRE(vhd_open(&vhd, f, VHD_OPEN_RDONLY) == 0);
	uuid_copy(out, vhd.footer.uuid);
	vhd_close(&vhd);
}

static uint32_t
vhd_mtime(const char *f)
{
	struct stat st;

	REQUIRE(stat(f, &st) == 0);
	return vhd_time(st.st_mtime);
}

static void
test_file_table(void)
{
	char ft[PATH_MAX];
	const char *names[2] = { "vhd/a.vhd", "vhd/b.vhd" };
	unsigned char h[24], rec[1052];
	char real[PATH_MAX];
	vhdi_file_table_t table;
	vhdi_file_id_t id;
	uuid_t uuid;
	int i;

	snprintf(ft, sizeof(ft), "%s", t_path("idx/f.tab"));
	REQUIRE(vhdi_file_table_create(ft) == 0);
	CHECK_EQ(vhdi_file_table_create(ft), -EEXIST);
	CHECK_EQ(t_size(ft), 24);
	t_peek(ft, 0, h, sizeof(h));
	CHECK(memcmp(h, "vhdifile", 8) == 0);
	CHECK_EQ(be32_at(h + 8), 0);
	CHECK(t_all((const char *)h + 12, 4, 0));
	CHECK_EQ(be64_at(h + 16), 512);

	table.entries = 5;
	table.table = (void *)&table;
	CHECK_EQ(vhdi_file_table_load(ft, &table), 0);
	CHECK_EQ(table.entries, 0);
	CHECK(table.table == NULL);

	for (i = 0; i < 2; i++) {
		id = 99;
		CHECK_EQ(vhdi_file_table_add(ft, t_path(names[i]), &id), 0);
		CHECK_EQ(id, i + 1);
	}
	id = 99;
	CHECK_EQ(vhdi_file_table_add(ft, t_path("vhd/../vhd/a.vhd"), &id), -EEXIST);
	CHECK_EQ(id, 0);
	CHECK_EQ(vhdi_file_table_add(ft, t_path("vhd/none.vhd"), &id), -ENOENT);
	CHECK_EQ(vhdi_file_table_add(ft, t_path("idx/i.idx"), &id), -EINVAL);

	/* Records of 1,052 bytes from offset 512; the count in the header. */
	CHECK_EQ(t_size(ft), 512 + 2 * 1052);
	t_peek(ft, 0, h, sizeof(h));
	CHECK_EQ(be32_at(h + 8), 2);
	for (i = 0; i < 2; i++) {
		const char *rel = i ? "../vhd/b.vhd" : "../vhd/a.vhd";

		t_peek(ft, 512 + i * 1052, rec, sizeof(rec));
		CHECK(strcmp((char *)rec, rel) == 0);
		CHECK(t_all((const char *)rec + strlen(rel), 1024 - strlen(rel), 0));
		CHECK_EQ(be16_at(rec + 1024), strlen(rel) + 1);
		CHECK(t_all((const char *)rec + 1026, 2, 0));
		CHECK_EQ(be32_at(rec + 1028), i + 1);
		vhd_uuid(t_path(names[i]), uuid);
		CHECK(memcmp(rec + 1032, uuid, 16) == 0);
		CHECK_EQ(be32_at(rec + 1048), vhd_mtime(t_path(names[i])));
	}

	CHECK_EQ(vhdi_file_table_load(ft, &table), 0);
	CHECK_EQ(table.entries, 2);
	REQUIRE(table.table);
	for (i = 0; i < 2 && i < table.entries; i++) {
		REQUIRE(realpath(t_path(names[i]), real));
		CHECK_EQ(table.table[i].file_id, i + 1);
		CHECK(strcmp(table.table[i].path, real) == 0);
		vhd_uuid(t_path(names[i]), uuid);
		CHECK(uuid_compare(table.table[i].vhd_uuid, uuid) == 0);
		CHECK_EQ(table.table[i].vhd_timestamp, vhd_mtime(t_path(names[i])));
	}
	vhdi_file_table_free(&table);
	CHECK(table.table == NULL && table.entries == 0);
}

static void
test_bat(void)
{
	char bat[PATH_MAX];
	unsigned char h[3112];
	uint32_t entries[4] = { 1, 0xffffffff, 0x01020304, 65 }, raw[4];
	char real[PATH_MAX];
	vhdi_bat_t b;
	int i;

	snprintf(bat, sizeof(bat), "%s", t_path("idx/b.bat"));
	CHECK_EQ(vhdi_bat_create(bat, t_path("vhd/a.vhd"), t_path("idx/none.idx"), t_path("idx/f.tab")),
		 -ENOENT);
	CHECK_EQ(access(bat, F_OK), -1);
	CHECK_EQ(vhdi_bat_create(bat, t_path("vhd/fixed.vhd"), t_path("idx/i.idx"), t_path("idx/f.tab")),
		 -EINVAL);
	CHECK_EQ(access(bat, F_OK), -1);
	REQUIRE(vhdi_bat_create(bat, t_path("vhd/a.vhd"), t_path("idx/i.idx"), t_path("idx/f.tab")) == 0);
	CHECK_EQ(vhdi_bat_create(bat, t_path("vhd/a.vhd"), t_path("idx/i.idx"), t_path("idx/f.tab")),
		 -EEXIST);

	/* The header alone: the table has not been written yet. */
	CHECK_EQ(t_size(bat), 3112);
	t_peek(bat, 0, h, sizeof(h));
	CHECK(memcmp(h, "vhdi-bat", 8) == 0);
	CHECK_EQ(be64_at(h + 8), 4);
	CHECK_EQ(be32_at(h + 16), 2 * MiB);
	CHECK(strcmp((char *)h + 20, "../vhd/a.vhd") == 0);
	CHECK_EQ(be16_at(h + 20 + 1024), 13);
	CHECK(strcmp((char *)h + 1046, "./i.idx") == 0);
	CHECK_EQ(be16_at(h + 1046 + 1024), 8);
	CHECK(strcmp((char *)h + 2072, "./f.tab") == 0);
	CHECK_EQ(be16_at(h + 2072 + 1024), 8);
	CHECK(t_all((const char *)h + 3098, 6, 0));
	CHECK_EQ(be64_at(h + 3104), 3584);

	memset(&b, 0x55, sizeof(b));
	CHECK_EQ(vhdi_bat_load(bat, &b), -EIO);
	CHECK(b.table == NULL && b.vhd_blocks == 0 && b.vhd_path[0] == 0);

	b.table = entries;
	b.vhd_blocks = 4;
	b.vhd_block_size = 2 * MiB;
	CHECK_EQ(vhdi_bat_write(bat, &b), 0);
	CHECK_EQ(t_size(bat), 3584 + 16);
	t_peek(bat, 3584, raw, sizeof(raw));
	CHECK(memcmp(raw, entries, sizeof(raw)) == 0);
	b.vhd_blocks = 5;
	CHECK_EQ(vhdi_bat_write(bat, &b), -EINVAL);
	b.vhd_blocks = 4;
	b.vhd_block_size = 1 * MiB;
	CHECK_EQ(vhdi_bat_write(bat, &b), -EINVAL);

	memset(&b, 0, sizeof(b));
	CHECK_EQ(vhdi_bat_load(bat, &b), 0);
	CHECK_EQ(b.vhd_blocks, 4);
	CHECK_EQ(b.vhd_block_size, 2 * MiB);
	REQUIRE(b.table);
	for (i = 0; i < 4; i++)
		CHECK_EQ(b.table[i], entries[i]);
	REQUIRE(realpath(t_path("vhd/a.vhd"), real));
	CHECK(strcmp(b.vhd_path, real) == 0);
	REQUIRE(realpath(t_path("idx/i.idx"), real));
	CHECK(strcmp(b.index_path, real) == 0);
	REQUIRE(realpath(t_path("idx/f.tab"), real));
	CHECK(strcmp(b.file_table_path, real) == 0);
	free(b.table);

	/* A stored path whose length leaves out its NUL, then one claiming to be too long. */
	h[0] = 0x00;
	h[1] = 0x05;
	t_poke(bat, 20 + 1024, h, 2);
	CHECK_EQ(vhdi_bat_load(bat, &b), -EINVAL);
	CHECK(b.table == NULL);
	h[0] = 0x03;
	h[1] = 0xff;
	t_poke(bat, 20 + 1024, h, 2);
	CHECK_EQ(vhdi_bat_load(bat, &b), -ENAMETOOLONG);
}

/* A VHD that is not what the file table recorded any more. */
static void
test_stale_file(void)
{
	struct timeval tv[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
	vhdi_file_table_t table;

	REQUIRE(utimes(t_path("vhd/b.vhd"), tv) == 0);
	table.entries = 3;
	CHECK_EQ(vhdi_file_table_load(t_path("idx/f.tab"), &table), -EINVAL);
	CHECK(table.table == NULL && table.entries == 0);
}

int
main(void)
{
	t_setup("index", NULL);
	REQUIRE(mkdir(t_path("idx"), 0700) == 0 && mkdir(t_path("vhd"), 0700) == 0);
	REQUIRE(vhd_create(t_path("vhd/a.vhd"), 8 * MiB, HD_TYPE_DYNAMIC, 0) == 0);
	REQUIRE(vhd_create(t_path("vhd/b.vhd"), 8 * MiB, HD_TYPE_DYNAMIC, 0) == 0);
	REQUIRE(vhd_create(t_path("vhd/fixed.vhd"), 1 * MiB, HD_TYPE_FIXED, 0) == 0);

	test_index();
	test_file_table();
	test_bat();
	test_stale_file();
	return t_finish();
}
