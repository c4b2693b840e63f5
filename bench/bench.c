/*
 * Data-path benchmark through the C ABI, against the physical limit measured in the same
 * run: pread/pwrite on a raw file of the same size, through the page cache and O_DIRECT.
 *
 * usage: bench DIR SIZE_MIB
 * Prints one line per case: "<case> <MB/s>".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/aio_abi.h>
#include <sys/syscall.h>

#include "libvhd.h"

#define SEQ_IO   (1 << 20)
#define RAND_IO  4096
#define RAND_OPS 8192
/* Reads change nothing, so each is timed this many times and the best kept: one slow
 * pass of a noisy shared machine should not decide a ratio. */
#define READ_REPS 3

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void report(const char *name, uint64_t bytes, double secs)
{
	printf("%s %.1f\n", name, bytes / secs / 1e6);
	fflush(stdout);
}

/* The shorter of two timings, 0 meaning none yet. */
static double faster(double best, double secs)
{
	return best == 0 || secs < best ? secs : best;
}

static uint64_t *offsets(uint64_t size, unsigned seed)
{
	uint64_t *o = malloc(RAND_OPS * sizeof(*o));
	srand(seed);
	for (int i = 0; i < RAND_OPS; i++)
		o[i] = ((uint64_t)rand() * RAND_MAX + rand()) % (size / RAND_IO) * RAND_IO;
	return o;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "%s: %d\n", what, err);
	exit(1);
}

/* The writes a crash-safe block allocation makes, on a raw file: the allocating VHD
 * case's own floor, so that its gap to plain writes is shown as the format's and not the
 * library's. A dynamic disk's 2 MiB blocks, each written by two 1 MiB writes: 512 bytes
 * at the new end of the file (the footer, moved past the block first), then the 4 KiB
 * over the old footer (alignment gap and bitmap) with the first 1 MiB of data, then the
 * 512-byte BAT sector near the start, then the second 1 MiB. Into a new file (its first
 * 8 KiB standing for the footer copy, header, BAT and batmap), best of READ_REPS. */
static double alloc_pattern(int fd, uint64_t size)
{
	const uint64_t block = 2 * SEQ_IO, meta = 8192;
	double t, best = 0;
	char *big;

	if (posix_memalign((void **)&big, 4096, 4096 + SEQ_IO))
		die("posix_memalign", -ENOMEM);
	memset(big, 0x5a, 4096 + SEQ_IO);
	for (int rep = 0; rep < READ_REPS; rep++) {
		uint64_t end = meta;

		if (ftruncate(fd, 0) || pwrite(fd, big, meta, 0) != (ssize_t)meta ||
		    pwrite(fd, big, 512, end) != 512 || fdatasync(fd))
			die("alloc pattern setup", -errno);
		t = now();
		for (uint64_t p = 0; p < size; p += block) {
			uint64_t data = end + 4096, next = data + block;

			if (pwrite(fd, big, 512, next) != 512 ||
			    pwrite(fd, big, 4096 + SEQ_IO, end) != 4096 + SEQ_IO ||
			    pwrite(fd, big, 512, 1536) != 512 ||
			    pwrite(fd, big, SEQ_IO, data + SEQ_IO) != SEQ_IO)
				die("alloc pattern", -errno);
			end = next;
		}
		fdatasync(fd);
		best = faster(best, now() - t);
	}
	free(big);
	return best;
}

/* Raw file baseline with pread/pwrite. */
static void raw_case(const char *dir, uint64_t size, int direct, char *buf, uint64_t *off)
{
	char path[4096], name[64];
	const char *mode = direct ? "odirect" : "pagecache";
	int fd;
	double t, best;

	snprintf(path, sizeof(path), "%s/raw.img", dir);
	unlink(path);
	fd = open(path, O_CREAT | O_RDWR | (direct ? O_DIRECT : 0), 0644);
	if (fd < 0)
		die("open raw", -errno);
	/* Writes into a new file, best of READ_REPS: each pass starts from an empty file,
	 * so it allocates as the first did (the allocating VHD case is timed the same way). */
	best = 0;
	for (int rep = 0; rep < READ_REPS; rep++) {
		if (ftruncate(fd, 0))
			die("ftruncate", -errno);
		fdatasync(fd);
		t = now();
		for (uint64_t p = 0; p < size; p += SEQ_IO)
			if (pwrite(fd, buf, SEQ_IO, p) != SEQ_IO)
				die("pwrite", -errno);
		fdatasync(fd);
		best = faster(best, now() - t);
	}
	snprintf(name, sizeof(name), "raw-%s seq-write-1M", mode);
	report(name, size, best);
	best = 0;
	for (int rep = 0; rep < READ_REPS; rep++) {
		if (!direct)
			posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		t = now();
		for (uint64_t p = 0; p < size; p += SEQ_IO)
			if (pread(fd, buf, SEQ_IO, p) != SEQ_IO)
				die("pread", -errno);
		best = faster(best, now() - t);
	}
	snprintf(name, sizeof(name), "raw-%s seq-read-1M", mode);
	report(name, size, best);
	t = now();
	for (int i = 0; i < RAND_OPS; i++)
		if (pwrite(fd, buf, RAND_IO, off[i]) != RAND_IO)
			die("pwrite", -errno);
	fdatasync(fd);
	snprintf(name, sizeof(name), "raw-%s rand-write-4k", mode);
	report(name, (uint64_t)RAND_OPS * RAND_IO, now() - t);
	best = 0;
	for (int rep = 0; rep < READ_REPS; rep++) {
		t = now();
		for (int i = 0; i < RAND_OPS; i++)
			if (pread(fd, buf, RAND_IO, off[i]) != RAND_IO)
				die("pread", -errno);
		best = faster(best, now() - t);
	}
	snprintf(name, sizeof(name), "raw-%s rand-read-4k", mode);
	report(name, (uint64_t)RAND_OPS * RAND_IO, best);
	/* Last: it leaves the file in another layout than the cases above read. */
	snprintf(name, sizeof(name), "raw-%s alloc-write-1M", mode);
	report(name, size, alloc_pattern(fd, size));
	close(fd);
	unlink(path);
}

/* One sequential pass of 1 MiB reads over the whole disk, timed. */
struct pass {
	vhd_context_t *vhd;
	uint64_t size;
	char *buf;
	double secs;
};

static void *read_pass(void *arg)
{
	struct pass *p = arg;
	double t = now();
	int err;

	for (uint64_t o = 0; o < p->size; o += SEQ_IO)
		if ((err = vhd_io_read(p->vhd, p->buf, o >> 9, SEQ_IO >> 9)))
			die("vhd_io_read", err);
	p->secs = now() - t;
	return NULL;
}

/* Sequential reads of a chain as the library does them (each read's levels submitted
 * together) and with every level read after the one before: passes of the second kind
 * run on a thread started with VHD_IO_URING=0, which the library reads when a thread
 * first reads several files at once, so this thread keeps its ring. The two kinds take
 * turns (this host's disk speed drifts) and the best pass of each is reported. */
static void vhd_seq_levels(vhd_context_t *vhd, const char *label, uint64_t size, char *buf)
{
	char name[96];
	double together = 0, apart = 0;
	struct pass p = { vhd, size, buf, 0 };
	pthread_t th;

	for (int rep = 0; rep < READ_REPS + 2; rep++) {
		read_pass(&p);
		together = faster(together, p.secs);
		setenv("VHD_IO_URING", "0", 1);
		if (pthread_create(&th, NULL, read_pass, &p) || pthread_join(th, NULL))
			die("pthread", -EAGAIN);
		unsetenv("VHD_IO_URING");
		apart = faster(apart, p.secs);
	}
	snprintf(name, sizeof(name), "%s seq-read-1M", label);
	report(name, size, together);
	/* "vhd-diffN(scattered)" becomes "vhd-diffN(scattered, levels one by one)". */
	snprintf(name, sizeof(name), "%.*s, levels one by one) seq-read-1M",
		 (int)strlen(label) - 1, label);
	report(name, size, apart);
}

static void vhd_seq(vhd_context_t *vhd, const char *label, uint64_t size, char *buf, int write)
{
	char name[64];
	double t, best = 0;
	int err;

	for (int rep = 0; rep < (write ? 1 : READ_REPS); rep++) {
		t = now();
		for (uint64_t p = 0; p < size; p += SEQ_IO) {
			err = write ? vhd_io_write(vhd, buf, p >> 9, SEQ_IO >> 9)
				    : vhd_io_read(vhd, buf, p >> 9, SEQ_IO >> 9);
			if (err)
				die(write ? "vhd_io_write" : "vhd_io_read", err);
		}
		if (write && fdatasync(vhd->fd))
			die("fdatasync", -errno);
		best = faster(best, now() - t);
	}
	snprintf(name, sizeof(name), "%s seq-%s-1M", label, write ? "write" : "read");
	report(name, size, best);
}

static void vhd_rand(vhd_context_t *vhd, const char *label, char *buf, uint64_t *off, int write)
{
	char name[64];
	double t, best = 0;
	int err;

	for (int rep = 0; rep < (write ? 1 : READ_REPS); rep++) {
		t = now();
		for (int i = 0; i < RAND_OPS; i++) {
			err = write ? vhd_io_write(vhd, buf, off[i] >> 9, RAND_IO >> 9)
				    : vhd_io_read(vhd, buf, off[i] >> 9, RAND_IO >> 9);
			if (err)
				die(write ? "vhd_io_write" : "vhd_io_read", err);
		}
		if (write && fdatasync(vhd->fd))
			die("fdatasync", -errno);
		best = faster(best, now() - t);
	}
	snprintf(name, sizeof(name), "%s rand-%s-4k", label, write ? "write" : "read");
	report(name, (uint64_t)RAND_OPS * RAND_IO, best);
}

/* How this disk scales a differencing chain's reads, with no library in the way: the
 * chain dyn.vhd, diff1.vhd .. diffN.vhd read in 1 MiB windows on the raw files. Each
 * window is one read of the base's range and, for each level, either one read per run
 * of sectors whose newest copy is in it or one read spanning them all (the two plans
 * the engine chooses between), all submitted together (Linux AIO, O_DIRECT) and awaited
 * together. The plan comes from the levels' BATs and bitmaps, read through the library
 * and laid out before the timing, so that only the I/O is timed. Not a bound on the
 * library, which submits with io_uring. Best of READ_REPS. */
#define MAX_DEPTH 4

struct chain {
	vhd_context_t ctx[MAX_DEPTH + 1]; /* dyn.vhd, then diff1.vhd .. */
	int fd[MAX_DEPTH + 1];            /* the same files, raw, O_DIRECT */
	char **maps[MAX_DEPTH + 1];       /* per block, its bitmap (levels above the base) */
	uint32_t blocks;
};

static void chain_open(struct chain *c, const char *dir)
{
	char path[4096];
	int err;

	for (int l = 0; l <= MAX_DEPTH; l++) {
		vhd_context_t *ctx = &c->ctx[l];

		if (l)
			snprintf(path, sizeof(path), "%s/diff%d.vhd", dir, l);
		else
			snprintf(path, sizeof(path), "%s/dyn.vhd", dir);
		if ((err = vhd_open(ctx, path, VHD_OPEN_RDONLY)) || (err = vhd_get_bat(ctx)))
			die("replay: open", err);
		if ((c->fd[l] = open(path, O_RDONLY | O_DIRECT)) < 0)
			die("replay: open raw", -errno);
		c->blocks = ctx->bat.entries;
		if (ctx->spb % (SEQ_IO >> 9) || ctx->bat.entries != c->ctx[0].bat.entries)
			die("replay: chain shape", -EINVAL);
		if (!(c->maps[l] = calloc(c->blocks, sizeof(char *))))
			die("replay: malloc", -ENOMEM);
		for (uint32_t b = 0; l && b < c->blocks; b++)
			if (ctx->bat.bat[b] != DD_BLK_UNUSED &&
			    (err = vhd_read_bitmap(ctx, b, &c->maps[l][b])))
				die("replay: bitmap", err);
	}
}

static void chain_close(struct chain *c)
{
	for (int l = 0; l <= MAX_DEPTH; l++) {
		for (uint32_t b = 0; b < c->blocks; b++)
			free(c->maps[l][b]);
		free(c->maps[l]);
		close(c->fd[l]);
		vhd_close(&c->ctx[l]);
	}
}

/* Appends a read of `secs` sectors at sector `at` of the file `fd` into `buf`. */
static void plan_read(struct iocb **cbs, size_t *n, size_t *cap, int fd, char *buf,
		      uint64_t at, uint32_t secs)
{
	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 4096;
		if (!(*cbs = realloc(*cbs, *cap * sizeof(**cbs))))
			die("replay: malloc", -ENOMEM);
	}
	(*cbs)[*n] = (struct iocb){ .aio_fildes = fd, .aio_lio_opcode = IOCB_CMD_PREAD,
				    .aio_buf = (uintptr_t)buf, .aio_nbytes = (uint64_t)secs << 9,
				    .aio_offset = at << 9 };
	(*n)++;
}

static void chain_replay(struct chain *c, uint64_t size, int depth, int spans, char *buf,
			 char *runs)
{
	const uint32_t win = SEQ_IO >> 9, windows = size / SEQ_IO;
	const uint32_t spb = c->ctx[0].spb, bm_secs = c->ctx[0].bm_secs;
	size_t n = 0, cap = 0, *start = malloc((windows + 1) * sizeof(size_t));
	struct iocb *cbs = NULL, **ptrs = malloc((win + 1) * sizeof(*ptrs));
	struct io_event *evs = malloc((win + 1) * sizeof(*evs));
	aio_context_t aio = 0;
	uint8_t own[SEQ_IO >> 9];
	char name[64];
	double t, best = 0;

	if (!start || !ptrs || !evs)
		die("replay: malloc", -ENOMEM);
	for (uint32_t w = 0; w < windows; w++) {
		uint32_t b = (uint64_t)w * win / spb, first = (uint64_t)w * win % spb;

		start[w] = n;
		if (b >= c->blocks || c->ctx[0].bat.bat[b] == DD_BLK_UNUSED)
			die("replay: base block", -EINVAL);
		/* The base's range is read whole, as the library reads it. */
		plan_read(&cbs, &n, &cap, c->fd[0], buf,
			  (uint64_t)c->ctx[0].bat.bat[b] + bm_secs + first, win);
		for (uint32_t i = 0; i < win; i++) {
			own[i] = 0;
			for (int l = depth; l >= 1 && !own[i]; l--)
				if (c->maps[l][b] && vhd_bitmap_test(&c->ctx[l], c->maps[l][b], first + i))
					own[i] = l;
		}
		for (int l = 1; l <= depth; l++) {
			for (uint32_t i = 0, end; i < win; i = end) {
				if (own[i] != l) {
					end = i + 1;
					continue;
				}
				/* A run ends where another level's sectors start; a span at the
				 * level's last sector in the window. */
				for (end = i; end < win && (own[end] == l || spans); end++)
					;
				while (own[end - 1] != l)
					end--;
				plan_read(&cbs, &n, &cap, c->fd[l], runs + ((uint64_t)i << 9),
					  (uint64_t)c->ctx[l].bat.bat[b] + bm_secs + first + i, end - i);
			}
		}
	}
	start[windows] = n;
	/* At most one read per sector of a window, and the base's. */
	if (syscall(SYS_io_setup, win + 1, &aio))
		die("io_setup", -errno);
	for (int rep = 0; rep < READ_REPS; rep++) {
		t = now();
		for (uint32_t w = 0; w < windows; w++) {
			long k = start[w + 1] - start[w], r;

			for (long i = 0; i < k; i++)
				ptrs[i] = &cbs[start[w] + i];
			for (long sent = 0; sent < k; sent += r)
				if ((r = syscall(SYS_io_submit, aio, k - sent, ptrs + sent)) <= 0)
					die("io_submit", r < 0 ? -errno : -EIO);
			for (long done = 0; done < k; done += r)
				if ((r = syscall(SYS_io_getevents, aio, 1, k - done, evs + done,
						 NULL)) <= 0)
					die("io_getevents", r < 0 ? -errno : -EIO);
			for (long i = 0; i < k; i++)
				if (evs[i].res !=
				    (int64_t)((struct iocb *)(uintptr_t)evs[i].obj)->aio_nbytes)
					die("replay: short read", evs[i].res < 0 ? (int)evs[i].res : -EIO);
		}
		best = faster(best, now() - t);
	}
	snprintf(name, sizeof(name), "raw-odirect diff%d-%s-replayed-1M", depth,
		 spans ? "spans" : "runs");
	report(name, size, best);
	syscall(SYS_io_destroy, aio);
	free(evs);
	free(ptrs);
	free(cbs);
	free(start);
}

int main(int argc, char **argv)
{
	char path[4096], parent[4096];
	vhd_context_t vhd;
	uint64_t size, *off;
	char *buf;
	int err;

	if (argc != 3) {
		fprintf(stderr, "usage: %s DIR SIZE_MIB\n", argv[0]);
		return 2;
	}
	size = strtoull(argv[2], NULL, 10) << 20;
	if (posix_memalign((void **)&buf, 4096, SEQ_IO))
		return 1;
	memset(buf, 0x5a, SEQ_IO);
	off = offsets(size, 42);

	/* The raw baselines are measured once a run, not again for the reference library. */
	if (!getenv("BENCH_SKIP_RAW")) {
		raw_case(argv[1], size, 0, buf, off);
		raw_case(argv[1], size, 1, buf, off);
	}

	/* A dynamic disk: first writes allocate every block (best of READ_REPS new disks,
	 * as the raw file's writes), then steady state on the last. */
	snprintf(path, sizeof(path), "%s/dyn.vhd", argv[1]);
	{
		double t, best = 0;

		for (int rep = 0; rep < READ_REPS; rep++) {
			if (rep)
				vhd_close(&vhd);
			unlink(path);
			if ((err = vhd_create(path, size, HD_TYPE_DYNAMIC, 0)))
				die("vhd_create", err);
			if ((err = vhd_open(&vhd, path, VHD_OPEN_RDWR)))
				die("vhd_open", err);
			t = now();
			for (uint64_t p = 0; p < size; p += SEQ_IO)
				if ((err = vhd_io_write(&vhd, buf, p >> 9, SEQ_IO >> 9)))
					die("vhd_io_write", err);
			/* Ends as the raw file's writes and alloc_pattern do, so that their
			 * ratios compare the same work. */
			if (fdatasync(vhd.fd))
				die("fdatasync", -errno);
			best = faster(best, now() - t);
		}
		report("vhd-dynamic(allocating) seq-write-1M", size, best);
	}
	vhd_seq(&vhd, "vhd-dynamic", size, buf, 1);
	vhd_seq(&vhd, "vhd-dynamic", size, buf, 0);
	vhd_rand(&vhd, "vhd-dynamic", buf, off, 1);
	vhd_rand(&vhd, "vhd-dynamic", buf, off, 0);
	vhd_close(&vhd);

	/* A depth-4 chain: the base holds everything, each snapshot a quarter more. */
	for (int level = 1; level < 4; level++) {
		snprintf(parent, sizeof(parent), "%s/%s", argv[1],
			 level == 1 ? "dyn.vhd" : "");
		if (level > 1)
			snprintf(parent, sizeof(parent), "%s/snap%d.vhd", argv[1], level - 1);
		snprintf(path, sizeof(path), "%s/snap%d.vhd", argv[1], level);
		unlink(path);
		if ((err = vhd_snapshot(path, size, parent, 0)))
			die("vhd_snapshot", err);
		if ((err = vhd_open(&vhd, path, VHD_OPEN_RDWR)))
			die("vhd_open snapshot", err);
		for (uint64_t p = (level - 1) * (size / 4); p < level * (size / 4); p += SEQ_IO)
			if ((err = vhd_io_write(&vhd, buf, p >> 9, SEQ_IO >> 9)))
				die("vhd_io_write snapshot", err);
		vhd_close(&vhd);
	}
	if ((err = vhd_open(&vhd, path, VHD_OPEN_RDWR)))
		die("vhd_open chain", err);
	vhd_seq(&vhd, "vhd-chain4", size, buf, 0);
	vhd_rand(&vhd, "vhd-chain4", buf, off, 0);
	vhd_rand(&vhd, "vhd-chain4", buf, off, 1);
	vhd_close(&vhd);

	/* Differencing disks over a full parent, with scattered 4 KiB writes of their own
	 * (different offsets at each level): a 1 MiB read mixes child and parent runs. */
	for (int level = 1; level <= 4; level++) {
		uint64_t *mine = offsets(size, 100 + level);

		if (level == 1)
			snprintf(parent, sizeof(parent), "%s/dyn.vhd", argv[1]);
		else
			snprintf(parent, sizeof(parent), "%s/diff%d.vhd", argv[1], level - 1);
		snprintf(path, sizeof(path), "%s/diff%d.vhd", argv[1], level);
		unlink(path);
		if ((err = vhd_snapshot(path, size, parent, 0)))
			die("vhd_snapshot", err);
		if ((err = vhd_open(&vhd, path, VHD_OPEN_RDWR)))
			die("vhd_open diff", err);
		for (int i = 0; i < RAND_OPS; i++)
			if ((err = vhd_io_write(&vhd, buf, mine[i] >> 9, RAND_IO >> 9)))
				die("vhd_io_write diff", err);
		free(mine);
		if (level == 1 || level == 4) {
			char label[64];
			snprintf(label, sizeof(label), "vhd-diff%d(scattered)", level);
			vhd_seq_levels(&vhd, label, size, buf);
		}
		vhd_close(&vhd);
	}
	/* The raw files' replay of the same reads: once a run, as the other baselines. */
	if (!getenv("BENCH_SKIP_RAW")) {
		struct chain c;
		char *runs;

		if (posix_memalign((void **)&runs, 4096, SEQ_IO))
			die("posix_memalign", -ENOMEM);
		chain_open(&c, argv[1]);
		for (int spans = 0; spans < 2; spans++) {
			chain_replay(&c, size, 1, spans, buf, runs);
			chain_replay(&c, size, 4, spans, buf, runs);
		}
		chain_close(&c);
		free(runs);
	}

	free(off);
	free(buf);
	return 0;
}
