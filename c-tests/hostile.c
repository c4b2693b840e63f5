/*
 * Hostile images (shared/malformed-cases.md) through the C ABI: each is refused with
 * -EINVAL (missing files with -ENOENT), the context comes back zeroed, and nothing
 * crashes; the recoverable case (end footer damaged, copy at 0 intact) opens.
 */
#include "testlib.h"

#include <arpa/inet.h>

#define MiB (1024ULL * 1024)

static int zeroed(const vhd_context_t *vhd)
{
	return t_all((const char *)vhd, sizeof(*vhd), 0);
}

/* vhd_open must fail with `want` and leave the context zeroed. */
static void refused(const char *file, int flags, int want, const char *what)
{
	vhd_context_t vhd;
	int err;

	memset(&vhd, 0x5a, sizeof(vhd));
	err = vhd_open(&vhd, file, flags);
	if (err != want)
		fprintf(stderr, "%s: %s: vhd_open gave %d, expected %d\n", t_name, what, err, want);
	CHECK_EQ(err, want);
	CHECK(zeroed(&vhd));
	if (!err)
		vhd_close(&vhd);
}

/* A fresh 12 MiB dynamic image at `file`. */
static void fresh(const char *file)
{
	REQUIRE(vhd_create(file, 12 * MiB, HD_TYPE_DYNAMIC, 0) == 0);
}

/* Recomputes the checksum of the header at 512 after an edit. */
static void reseal_header(const char *file)
{
	vhd_header_t h;

	t_peek(file, 512, &h, sizeof(h));
	vhd_header_in(&h);
	h.checksum = vhd_checksum_header(&h);
	vhd_header_out(&h);
	t_poke(file, 512, &h, sizeof(h));
}

int main(void)
{
	const char *f = NULL;
	vhd_context_t vhd;
	char buf[512];
	uint32_t v;

	t_setup("hostile", NULL);

	refused(t_path("missing.vhd"), VHD_OPEN_RDONLY, -ENOENT, "missing file");

	f = t_path("empty.vhd");
	t_write_file(f, 0, 0);
	refused(f, VHD_OPEN_RDONLY, -EINVAL, "empty file");

	f = t_path("short.vhd");
	t_write_file(f, 100, 0);
	refused(f, VHD_OPEN_RDONLY, -EINVAL, "100-byte file");

	f = t_path("zeros.vhd");
	t_write_file(f, 64 * 1024, 0);
	refused(f, VHD_OPEN_RDWR, -EINVAL, "all zeros");

	f = t_path("ones.vhd");
	t_write_file(f, 64 * 1024, 0xff);
	refused(f, VHD_OPEN_RDONLY, -EINVAL, "all 0xff");

	/* Truncated inside the metadata: the end footer is gone and the copy at 0 points
	 * at a BAT that would run past the end. */
	f = t_path("truncated.vhd");
	fresh(f);
	REQUIRE(truncate(f, 2048) == 0);
	refused(f, VHD_OPEN_RDONLY, -EINVAL, "truncated");

	/* Bad cookie in both footers. */
	f = t_path("cookie.vhd");
	fresh(f);
	t_poke(f, 0, "XXXXXXXX", 8);
	t_poke(f, 3584 - 512, "XXXXXXXX", 8);
	refused(f, VHD_OPEN_RDONLY, -EINVAL, "bad cookie");

	/* Bad checksum in both footers. */
	f = t_path("checksum.vhd");
	fresh(f);
	t_peek(f, 64, &v, 4);
	v ^= htonl(1);
	t_poke(f, 64, &v, 4);
	t_poke(f, 3584 - 512 + 64, &v, 4);
	refused(f, VHD_OPEN_RDONLY, -EINVAL, "bad checksum");

	/* Only the end footer damaged: the copy at 0 is used, read-only and strict. */
	f = t_path("end-footer.vhd");
	fresh(f);
	memset(buf, 0xc7, sizeof(buf));
	t_poke(f, 3584 - 512, buf, sizeof(buf));
	REQUIRE(vhd_open(&vhd, f, VHD_OPEN_RDONLY) == 0);
	CHECK_EQ(vhd.footer.curr_size, 12 * MiB);
	{
		vhd_footer_t ft;

		/* vhd_read_footer falls back to the copy at 0; the strict read does not and
		 * leaves the killed end footer in the struct, as libvhd does. */
		memset(&ft, 0, sizeof(ft));
		CHECK_EQ(vhd_read_footer(&vhd, &ft), 0);
		CHECK(memcmp(&ft, &vhd.footer, sizeof(ft)) == 0);
		CHECK_EQ(vhd_read_footer_strict(&vhd, &ft), -EINVAL);
		CHECK(t_all(ft.cookie, sizeof(ft.cookie), (char)0xc7));
	}
	vhd_close(&vhd);
	refused(f, VHD_OPEN_RDONLY | VHD_OPEN_STRICT, -EINVAL, "strict, end footer killed");

	/* Case 29: a fixed disk whose guest data at offset 0 holds a fixed footer and whose
	 * end footer is damaged: neither open nor vhd_read_footer takes the type from
	 * offset 0. */
	f = t_path("fixed-guest-footer.vhd");
	REQUIRE(vhd_create(f, 2 * MiB, HD_TYPE_FIXED, 0) == 0);
	t_peek(f, 2 * MiB, buf, sizeof(buf));
	t_poke(f, 0, buf, sizeof(buf));
	REQUIRE(vhd_open(&vhd, f, VHD_OPEN_RDONLY) == 0);
	{
		vhd_footer_t ft;

		memset(buf, 0xc7, sizeof(buf));
		t_poke(f, 2 * MiB, buf, sizeof(buf));
		CHECK_EQ(vhd_read_footer(&vhd, &ft), -EINVAL);
	}
	vhd_close(&vhd);
	refused(f, VHD_OPEN_RDONLY, -EINVAL, "fixed disk, footer only in guest data");

	/* A BAT so large it would run far past the end of the file: refused before any
	 * allocation of its size. */
	f = t_path("huge-bat.vhd");
	fresh(f);
	v = htonl(0x7fffffff);
	t_poke(f, 512 + 28, &v, 4);
	reseal_header(f);
	refused(f, VHD_OPEN_RDONLY, -EINVAL, "huge max_bat_size");
	v = htonl(0xffffffff);
	t_poke(f, 512 + 28, &v, 4);
	reseal_header(f);
	refused(f, VHD_OPEN_RDWR, -EINVAL, "max_bat_size 2^32-1");

	/* Header checksum and block size. */
	f = t_path("header.vhd");
	fresh(f);
	v = htonl(3 * 1024 * 1024);
	t_poke(f, 512 + 32, &v, 4);
	refused(f, VHD_OPEN_RDONLY, -EINVAL, "header checksum");
	reseal_header(f);
	refused(f, VHD_OPEN_RDONLY, -EINVAL, "block size not a power of two");

	/* Disk type 5. */
	f = t_path("type.vhd");
	fresh(f);
	{
		vhd_footer_t ft;

		t_peek(f, 0, &ft, sizeof(ft));
		vhd_footer_in(&ft);
		ft.type = 5;
		ft.checksum = vhd_checksum_footer(&ft);
		CHECK_EQ(vhd_validate_footer(&ft), 0);
		vhd_footer_out(&ft);
		t_poke(f, 0, &ft, sizeof(ft));
		t_poke(f, 3584 - 512, &ft, sizeof(ft));
	}
	refused(f, VHD_OPEN_RDONLY, -EINVAL, "disk type 5");

	/* A BAT entry pointing past the end: the image opens, that block fails, others
	 * read. */
	f = t_path("bat-entry.vhd");
	fresh(f);
	{
		char *data = t_buf(512, 0x61);

		REQUIRE(vhd_open(&vhd, f, VHD_OPEN_RDWR) == 0);
		REQUIRE(vhd_io_write(&vhd, data, 0, 1) == 0);
		vhd_close(&vhd);
		v = htonl(0x00ffff00);
		t_poke(f, 1536 + 4, &v, 4);
		REQUIRE(vhd_open(&vhd, f, VHD_OPEN_RDONLY) == 0);
		CHECK_EQ(vhd_io_read(&vhd, data, 4096, 1), -EINVAL);
		CHECK_EQ(vhd_io_read(&vhd, data, 0, 1), 0);
		CHECK(t_all(data, 512, 0x61));
		{
			char *bm = NULL;

			/* The raw bitmap read of that block fails cleanly too. */
			CHECK(vhd_read_bitmap(&vhd, 1, &bm) < 0);
			CHECK(bm == NULL);
		}
		vhd_close(&vhd);
		free(data);
	}

	/* Functions handed a null or never-opened context fail instead of crashing. */
	CHECK_EQ(vhd_open(NULL, f, VHD_OPEN_RDONLY), -EINVAL);
	CHECK_EQ(vhd_open(&vhd, NULL, VHD_OPEN_RDONLY), -EINVAL);
	CHECK_EQ(vhd_io_read(NULL, buf, 0, 1), -EINVAL);
	memset(&vhd, 0, sizeof(vhd));
	vhd.footer.type = HD_TYPE_DYNAMIC;
	vhd.footer.curr_size = 1 * MiB;
	CHECK_EQ(vhd_io_read(&vhd, buf, 0, 1) < 0, 1);
	vhd_close(&vhd);
	vhd_close(NULL);
	return t_finish();
}
