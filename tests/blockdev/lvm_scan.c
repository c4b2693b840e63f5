/*
 * blktap3's lvm_scan_vg and lvm_free_vg on a real volume group (run by
 * tests/blockdev/run.sh as root, under valgrind and under ASan/UBSan, against
 * build/lib-blktap3): the group is made here on two loop devices with known extent
 * size, data alignment and volume placement, scanned, and every field compared with
 * what was asked for; then the errors. The group is removed on every exit path
 * (run.sh removes it again, and the loop devices, should this program die).
 *
 * usage: lvm_scan VG PV1 PV2   (VG must not exist; PV1 >= 64 MiB, PV2 >= 32 MiB)
 */
#include "../../c-tests/testlib.h"

#include <stddef.h>
#include <stdint.h>

/* blktap3's lvm/lvm-util.h, which it does not install: its callers declare it. */
#define MAX_NAME_SIZE 256
#define LVM_SEG_TYPE_LINEAR 1
#define LVM_SEG_TYPE_UNKNOWN 2

struct lv_segment {
	uint8_t type;
	char device[MAX_NAME_SIZE];
	uint64_t pe_start;
	uint64_t pe_size;
};

struct lv {
	char name[MAX_NAME_SIZE];
	uint64_t size;
	uint32_t segments;
	struct lv_segment first_segment;
};

struct pv {
	char name[MAX_NAME_SIZE];
	uint64_t start;
};

struct vg {
	char name[MAX_NAME_SIZE];
	uint64_t extent_size;
	int pv_cnt;
	struct pv *pvs;
	int lv_cnt;
	struct lv *lvs;
};

int lvm_scan_vg(const char *vg_name, struct vg *vg);
void lvm_free_vg(struct vg *vg);

/* The same layout as the library's (capi/src/blktap3/lvm.rs checks its side). */
_Static_assert(sizeof(struct vg) == 296 && offsetof(struct vg, lvs) == 288, "struct vg");
_Static_assert(sizeof(struct lv) == 552 && offsetof(struct lv, first_segment) == 272, "lv");
_Static_assert(offsetof(struct lv_segment, pe_start) == 264, "struct lv_segment");
_Static_assert(sizeof(struct pv) == 264, "struct pv");

#define MIB (1ULL << 20)
#define EXTENT (4 * MIB)

static const char *vg_name;
static const char *pv1, *pv2;

/* Runs a shell command quietly; the program stops if it fails. */
static void run(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	strncat(cmd, " >/dev/null 2>&1", sizeof(cmd) - strlen(cmd) - 1);
	if (system(cmd) != 0) {
		fprintf(stderr, "lvm_scan: failed: %s\n", cmd);
		exit(1);
	}
}

static void remove_group(void)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
		 "vgremove -q -f '%s' >/dev/null 2>&1; pvremove -q -ff -y '%s' '%s' >/dev/null 2>&1",
		 vg_name, pv1, pv2);
	if (system(cmd) == -1)
		fprintf(stderr, "lvm_scan: could not remove %s\n", vg_name);
}

static const struct pv *find_pv(const struct vg *vg, const char *name)
{
	for (int i = 0; i < vg->pv_cnt; i++)
		if (!strcmp(vg->pvs[i].name, name))
			return &vg->pvs[i];
	return NULL;
}

static const struct lv *find_lv(const struct vg *vg, const char *name)
{
	for (int i = 0; i < vg->lv_cnt; i++)
		if (!strcmp(vg->lvs[i].name, name))
			return &vg->lvs[i];
	return NULL;
}

/* Checks volume `name`: size, segment count, and its first segment. */
static void check_lv(const struct vg *vg, const char *name, uint64_t size, uint32_t segments,
		     int type, const char *device, uint64_t pe_start, uint64_t pe_size)
{
	const struct lv *lv = find_lv(vg, name);

	CHECK(lv != NULL);
	if (!lv) {
		fprintf(stderr, "lvm_scan: no volume %s\n", name);
		return;
	}
	CHECK_EQ(lv->size, size);
	CHECK_EQ(lv->segments, segments);
	CHECK_EQ(lv->first_segment.type, type);
	CHECK(!strcmp(lv->first_segment.device, device));
	CHECK_EQ(lv->first_segment.pe_start, pe_start);
	CHECK_EQ(lv->first_segment.pe_size, pe_size);
}

static int all_zero(const void *p, size_t len)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < len; i++)
		if (b[i])
			return 0;
	return 1;
}

int main(int argc, char **argv)
{
	const struct pv *p;
	char long_name[400];
	struct vg vg;
	uint64_t start1, start2;

	if (argc != 4) {
		fprintf(stderr, "usage: %s VG PV1 PV2\n", argv[0]);
		return 2;
	}
	vg_name = argv[1];
	pv1 = argv[2];
	pv2 = argv[3];
	t_setup("lvm_scan", NULL);
	setenv("LVM_SUPPRESS_FD_WARNINGS", "1", 1);
	atexit(remove_group);

	/* Extents start 1 MiB into PV1 and 2 MiB into PV2 (the data alignment). */
	start1 = 1 * MIB;
	start2 = 2 * MIB;
	run("pvcreate -q --dataalignment 1m '%s'", pv1);
	run("pvcreate -q --dataalignment 2m '%s'", pv2);
	run("vgcreate -q -s 4m '%s' '%s' '%s'", vg_name, pv1, pv2);
#define LV "lvcreate --driverloaded n -an -Zn -q"
	run(LV " -n a -L 8m '%s' '%s'", vg_name, pv1);          /* PV1 extents 0-1 */
	run(LV " -n b -L 12m '%s' '%s'", vg_name, pv2);         /* PV2 extents 0-2 */
	run(LV " -n c--d -L 4m '%s' '%s'", vg_name, pv1);       /* PV1 extent 2, ... */
	run("lvextend --driverloaded n -q -L +8m '%s/c--d' '%s'", vg_name, pv2); /* PV2 3-4 */
	run(LV " -n s -L 8m -i2 -I64k '%s' '%s' '%s'", vg_name, pv1, pv2); /* PV1 3, PV2 5 */

	memset(&vg, 0xa5, sizeof(vg));
	REQUIRE(lvm_scan_vg(vg_name, &vg) == 0);
	CHECK(!strcmp(vg.name, vg_name));
	CHECK_EQ(vg.extent_size, EXTENT);
	CHECK_EQ(vg.pv_cnt, 2);
	CHECK(vg.pvs != NULL);
	p = find_pv(&vg, pv1);
	CHECK(p && p->start == start1);
	p = find_pv(&vg, pv2);
	CHECK(p && p->start == start2);
	CHECK_EQ(vg.lv_cnt, 4);
	CHECK(vg.lvs != NULL);
	check_lv(&vg, "a", 8 * MIB, 1, LVM_SEG_TYPE_LINEAR, pv1, start1, 8 * MIB);
	check_lv(&vg, "b", 12 * MIB, 1, LVM_SEG_TYPE_LINEAR, pv2, start2, 12 * MIB);
	check_lv(&vg, "c--d", 12 * MIB, 2, LVM_SEG_TYPE_LINEAR, pv1, start1 + 2 * EXTENT,
		 4 * MIB);
	check_lv(&vg, "s", 8 * MIB, 1, LVM_SEG_TYPE_UNKNOWN, pv1, start1 + 3 * EXTENT, 8 * MIB);
	/* Names are NUL-terminated inside their fields. */
	for (int i = 0; i < vg.lv_cnt; i++)
		CHECK(memchr(vg.lvs[i].name, 0, MAX_NAME_SIZE) != NULL);
	lvm_free_vg(&vg);
	CHECK(all_zero(&vg, sizeof(vg)));
	lvm_free_vg(NULL);

	/* A group that does not exist: -EINVAL (vgs lists nothing), the struct zeroed. */
	memset(&vg, 0xa5, sizeof(vg));
	CHECK_EQ(lvm_scan_vg("i19lvm_no_such_vg", &vg), -EINVAL);
	CHECK(all_zero(&vg, sizeof(vg)));
	lvm_free_vg(&vg);
	/* A name longer than the field (and than LVM allows): -EINVAL. */
	memset(long_name, 'v', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = 0;
	memset(&vg, 0xa5, sizeof(vg));
	CHECK_EQ(lvm_scan_vg(long_name, &vg), -EINVAL);
	CHECK(all_zero(&vg, sizeof(vg)));
	CHECK_EQ(lvm_scan_vg(NULL, &vg), -EINVAL);
	CHECK_EQ(lvm_scan_vg(vg_name, NULL), -EINVAL);

	/* A group with no volumes: an empty (but freeable) list. */
	run("vgremove -q -f '%s'", vg_name);
	run("vgcreate -q -s 4m '%s' '%s'", vg_name, pv2);
	REQUIRE(lvm_scan_vg(vg_name, &vg) == 0);
	CHECK_EQ(vg.pv_cnt, 1);
	CHECK(!strcmp(vg.pvs[0].name, pv2) && vg.pvs[0].start == start2);
	CHECK_EQ(vg.lv_cnt, 0);
	lvm_free_vg(&vg);

	return t_finish();
}
