/*
 * The vhd_util_* entry points as the C vhd-util main calls them (argv[0] the command
 * name): return values, and what they print on stdout.
 */
#include "testlib.h"
#include "vhd-util.h"

#define MiB (1024ULL * 1024)

/* Runs `f` with the NULL-terminated arguments, its stdout captured into `out`. */
static int run(int (*f)(int, char **), char *out, size_t size, ...)
{
	char *argv[16];
	int argc = 0, saved, fd, ret;
	ssize_t n;
	va_list ap;
	FILE *tmp = tmpfile();

	REQUIRE(tmp != NULL);
	va_start(ap, size);
	while (argc < 15 && (argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	fflush(stdout);
	saved = dup(1);
	fd = fileno(tmp);
	REQUIRE(saved >= 0 && dup2(fd, 1) == 1);
	ret = f(argc, argv);
	fflush(stdout);
	REQUIRE(dup2(saved, 1) == 1);
	close(saved);
	n = pread(fd, out, size - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	fclose(tmp);
	return ret;
}

int main(void)
{
	char out[4096], *base, *snap;
	vhd_context_t vhd;

	t_setup("util", NULL);
	base = strdup(t_path("base.vhd"));
	snap = strdup(t_path("snap.vhd"));
	REQUIRE(base && snap);

	CHECK_EQ(run(vhd_util_create, out, sizeof(out), "create", "-n", base, "-s", "11", NULL), 0);
	/* 11 MB rounds up to 12 MiB; the image is what vhd_open reads. */
	REQUIRE(vhd_open(&vhd, base, VHD_OPEN_RDONLY) == 0);
	CHECK_EQ(vhd.footer.curr_size, 12 * MiB);
	vhd_close(&vhd);
	CHECK_EQ(run(vhd_util_snapshot, out, sizeof(out), "snapshot", "-n", snap, "-p", base, NULL), 0);
	CHECK_EQ(run(vhd_util_query, out, sizeof(out), "query", "-n", snap, "-v", "-d", NULL), 0);
	CHECK(strcmp(out, "12\nchain depth: 2\n") == 0);
	CHECK_EQ(run(vhd_util_set_field, out, sizeof(out), "set", "-n", snap, "-f", "hidden", "-v", "1", NULL), 0);
	CHECK_EQ(run(vhd_util_query, out, sizeof(out), "query", "-n", snap, "-f", NULL), 0);
	CHECK(strcmp(out, "hidden: 1\n") == 0);
	CHECK_EQ(run(vhd_util_check, out, sizeof(out), "check", "-n", snap, NULL), 0);
	CHECK(strstr(out, "is valid") != NULL);
	/* Errors come back as the reference returns them. */
	CHECK_EQ(run(vhd_util_query, out, sizeof(out), "query", "-n", t_path("missing.vhd"), "-v", NULL), -ENOENT);
	CHECK_EQ(run(vhd_util_create, out, sizeof(out), "create", "-h", NULL), -EINVAL);
	CHECK_EQ(vhd_util_query(1, NULL), -EINVAL);
	free(base);
	free(snap);
	return t_finish();
}
