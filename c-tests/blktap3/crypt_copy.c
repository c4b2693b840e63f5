/*
 * blktap3's encrypted copy through the C ABI: vhd_util_copy with a key file (-k) and
 * with a key on standard input (-E), checked against a known answer (IEEE 1619-2007
 * vector 4: XTS-AES-128, data unit 0, is what a 256-bit key makes of sector 0), the
 * key hash it stores (vhd_get_keyhash, vhd_util_key -c), the refused key sizes, and
 * read_encryption_key.
 */
#include <stdint.h>

#include "testlib.h"
#include "vhd-util.h"

/* Exported without a header declaration. */
int read_encryption_key(int, uint8_t **, int *);

#define MiB (1024ULL * 1024)

static const char key_hex[] =
	"2718281828459045235360287471352631415926535897932384626433832795";

/* Vector 4's ciphertext of bytes 0..255 twice. */
static const char vector4_hex[] =
	"27a7479befa1d476489f308cd4cfa6e2a96e4bbe3208ff25287dd3819616e89c"
	"c78cf7f5e543445f8333d8fa7f56000005279fa5d8b5e4ad40e736ddb4d35412"
	"328063fd2aab53e5ea1e0a9f332500a5df9487d07a5c92cc512c8866c7e860ce"
	"93fdf166a24912b422976146ae20ce846bb7dc9ba94a767aaef20c0d61ad0265"
	"5ea92dc4c4e41a8952c651d33174be51a10c421110e6d81588ede82103a252d8"
	"a750e8768defffed9122810aaeb99f9172af82b604dc4b8e51bcb08235a6f434"
	"1332e4ca60482a4ba1a03b3e65008fc5da76b70bf1690db4eae29c5f1badd03c"
	"5ccf2a55d705ddcd86d449511ceb7ec30bf12b1fa35b913f9f747a8afd1b130e"
	"94bff94effd01a91735ca1726acd0b197c4e5b03393697e126826fb6bbde8ecc"
	"1e08298516e2c9ed03ff3c1b7860f6de76d4cecd94c8119855ef5297ca67e9f3"
	"e7ff72b1e99785ca0a7e7720c5b36dc6d72cac9574c8cbbc2f801e23e56fd344"
	"b07f22154beba0f08ce8891e643ed995c94d9a69c9f1b5f499027a78572aeebd"
	"74d20cc39881c213ee770b1010e4bea718846977ae119f7a023ab58cca0ad752"
	"afe656bb3c17256a9f6e9bf19fdd5a38fc82bbe872c5539edb609ef4f79c203e"
	"bb140f2e583cb2ad15b4aa5b655016a8449277dbd477ef2c8d6c017db738b18d"
	"eb4a427d1923ce3ff262735779a418f20a282df920147beabe421ee5319d0568";

static void
unhex(const char *hex, uint8_t *out)
{
	size_t i;

	for (i = 0; hex[2 * i]; i++)
		REQUIRE(sscanf(hex + 2 * i, "%2hhx", &out[i]) == 1);
}

static void
write_file(const char *file, const void *data, size_t len)
{
	int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	REQUIRE(fd >= 0);
	REQUIRE(write(fd, data, len) == (ssize_t)len);
	close(fd);
}

/* Sector 0 of `file` as stored (libvhd does not decrypt). */
static void
sector0(const char *file, char *buf)
{
	vhd_context_t vhd;

	REQUIRE(vhd_open(&vhd, file, VHD_OPEN_RDONLY) == 0);
	REQUIRE(vhd_io_read(&vhd, buf, 0, 1) == 0);
	vhd_close(&vhd);
}

/* The key hash copy stored: present, with a zero nonce. */
static void
check_keyhash(const char *file)
{
	static const uint8_t zero[32];
	struct vhd_keyhash kh;
	vhd_context_t vhd;

	REQUIRE(vhd_open(&vhd, file, VHD_OPEN_RDONLY) == 0);
	CHECK_EQ(vhd_get_keyhash(&vhd, &kh), 0);
	CHECK_EQ(kh.cookie, 1);
	CHECK(memcmp(kh.nonce, zero, sizeof(zero)) == 0);
	vhd_close(&vhd);
}

/* Runs `vhd_util_copy` with `key` as its standard input. */
static int
copy_from_stdin(char **argv, int argc, const uint8_t *key, size_t len)
{
	int p[2], saved, ret;

	REQUIRE(pipe(p) == 0);
	REQUIRE(write(p[1], key, len) == (ssize_t)len);
	close(p[1]);
	saved = dup(0);
	REQUIRE(saved >= 0 && dup2(p[0], 0) == 0);
	close(p[0]);
	ret = vhd_util_copy(argc, argv);
	REQUIRE(dup2(saved, 0) == 0);
	close(saved);
	return ret;
}

int
main(void)
{
	uint8_t key[64], vector4[512], *got = NULL;
	char *src, *enc, *enc512, *bad, *k256, *k512, *k31, *buf = t_buf(512, 0);
	vhd_context_t vhd;
	int i, fd, size = 0;

	t_setup("crypt_copy", NULL);
	src = strdup(t_path("src.vhd"));
	enc = strdup(t_path("enc.vhd"));
	enc512 = strdup(t_path("enc512.vhd"));
	bad = strdup(t_path("bad.vhd"));
	k256 = strdup(t_path("enc,aes-xts-plain,256.key"));
	k512 = strdup(t_path("enc512,aes-xts-plain,512.key"));
	k31 = strdup(t_path("k31"));

	/* SRC: bytes 0..255 twice in sector 0. */
	REQUIRE(vhd_create(src, 8 * MiB, HD_TYPE_DYNAMIC, 0) == 0);
	REQUIRE(vhd_open(&vhd, src, VHD_OPEN_RDWR) == 0);
	for (i = 0; i < 512; i++)
		buf[i] = (char)i;
	REQUIRE(vhd_io_write(&vhd, buf, 0, 1) == 0);
	vhd_close(&vhd);

	/* A 256-bit key file: sector 0 becomes vector 4's ciphertext. */
	unhex(key_hex, key);
	unhex(vector4_hex, vector4);
	write_file(k256, key, 32);
	{
		char *argv[] = { "copy", "-n", src, "-N", enc, "-k", k256, NULL };
		char *check[] = { "key", "-c", "-n", enc, "-k", k256, NULL };

		CHECK_EQ(vhd_util_copy(7, argv), 0);
		sector0(enc, buf);
		CHECK(memcmp(buf, vector4, 512) == 0);
		check_keyhash(enc);
		CHECK_EQ(vhd_util_key(6, check), 0);
	}

	/* read_encryption_key: the same 32 bytes; 31 are refused. */
	fd = open(k256, O_RDONLY);
	REQUIRE(fd >= 0);
	CHECK_EQ(read_encryption_key(fd, &got, &size), 0);
	close(fd);
	CHECK_EQ(size, 32);
	CHECK(got && memcmp(got, key, 32) == 0);
	free(got);
	write_file(k31, key, 31);
	fd = open(k31, O_RDONLY);
	REQUIRE(fd >= 0);
	CHECK_EQ(read_encryption_key(fd, &got, &size), -EINVAL);
	close(fd);

	/* A key of the wrong size: 1 (blktap3's), nothing created. */
	{
		char *argv[] = { "copy", "-n", src, "-N", bad, "-k", k31, NULL };
		char *stdin_argv[] = { "copy", "-n", src, "-N", bad, "-E", NULL };
		uint8_t k33[33] = { 1 };

		CHECK_EQ(vhd_util_copy(7, argv), 1);
		CHECK(access(bad, F_OK) != 0);
		CHECK_EQ(copy_from_stdin(stdin_argv, 6, k33, sizeof(k33)), 1);
		CHECK(access(bad, F_OK) != 0);
	}

	/* A 512-bit key on stdin (-E): sector 0 encrypted, neither plain nor AES-128's. */
	for (i = 0; i < 64; i++)
		key[i] = (uint8_t)(i * 7 + 3);
	write_file(k512, key, 64);
	{
		char *argv[] = { "copy", "-n", src, "-N", enc512, "-E", NULL };
		char *check[] = { "key", "-c", "-n", enc512, "-k", k512, NULL };
		char plain[512];

		CHECK_EQ(copy_from_stdin(argv, 6, key, 64), 0);
		sector0(enc512, buf);
		for (i = 0; i < 512; i++)
			plain[i] = (char)i;
		CHECK(memcmp(buf, plain, 512) != 0);
		CHECK(memcmp(buf, vector4, 512) != 0);
		check_keyhash(enc512);
		CHECK_EQ(vhd_util_key(6, check), 0);
	}

	free(src), free(enc), free(enc512), free(bad), free(k256), free(k512), free(k31);
	free(buf);
	return t_finish();
}
