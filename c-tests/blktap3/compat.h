/*
 * The flavour-neutral C tests call blktap2's forms of the six functions whose signatures
 * blktap3 changed and its vhd_uuid_is_nil, which blktap3 dropped. Built against blktap3's
 * headers (which define VHD_OPEN_CACHED), testlib.h includes this, which maps each call to
 * blktap3's form with blktap2's meaning (no metadata preallocation, the footer at the end,
 * libuuid on the raw UUID). The parenthesised names call the real functions.
 */
#ifndef VHD_TEST_BLKTAP3_COMPAT_H
#define VHD_TEST_BLKTAP3_COMPAT_H

#include <stdbool.h>
#include <sys/types.h>
#include <uuid/uuid.h>

#define vhd_create(name, bytes, type, flags) (vhd_create)(name, bytes, type, 0, flags)
#define vhd_snapshot(snap, bytes, parent, flags) (vhd_snapshot)(snap, bytes, parent, 0, flags)
#define vhd_read_footer(ctx, footer) (vhd_read_footer)(ctx, footer, false)
/* blktap3 checksums against the context; the tests name theirs `vhd`. */
#define vhd_validate_batmap(batmap) (vhd_validate_batmap)(&vhd, batmap)
#define vhd_uuid_is_nil(uuid) uuid_is_null(*(uuid))

static inline int
t_batmap_header_offset(vhd_context_t *ctx, off_t *off)
{
	off_t r = (vhd_batmap_header_offset)(ctx);

	if (r < 0)
		return (int)r;
	*off = r;
	return 0;
}
#define vhd_batmap_header_offset(ctx, off) t_batmap_header_offset(ctx, off)

#endif /* VHD_TEST_BLKTAP3_COMPAT_H */
