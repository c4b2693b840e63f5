/*
 * Every function blktap3's headers declare, with the prototype blktap3-abi.md gives
 * (libvhd.h, libvhd-journal.h, vhd-util.h, libvhd-index.h): each is assigned to a pointer
 * of that type, which -Werror turns into a compile error on any difference. The exports
 * blktap3 declares in no installed header are declared here as its own callers do.
 * Linking checks the library defines each one; running checks the pointers resolved.
 */
#define _GNU_SOURCE /* off64_t, as tapdisk builds */
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "libvhd.h"
#include "libvhd-journal.h"
#include "libvhd-index.h"
#include "vhd-util.h"
#include "vhd.h"

#define SIG(name, ret, ...) ret (*const p_##name)(__VA_ARGS__) = name

/* Exported without a header declaration. */
int vhd_open_fast(vhd_context_t *);
int vhd_read_short_footer(vhd_context_t *, vhd_footer_t *);
char *canonpath(const char *, char *, size_t);
char *normalize_path(const char *, size_t);
char *vhd_util_get_vhd_basename(vhd_context_t *);
int read_encryption_key(int, uint8_t **, int *);
struct vg;
int lvm_scan_vg(const char *, struct vg *);
void lvm_free_vg(struct vg *);

/* Kept, same signature. */
static SIG(libvhd_set_log_level, void, int);
static SIG(vhd_test_file_fixed, int, const char *, int *);
static SIG(vhd_time, uint32_t, time_t);
static SIG(vhd_time_to_string, size_t, uint32_t, char *);
static SIG(vhd_chs, uint32_t, uint64_t);
static SIG(vhd_checksum_footer, uint32_t, vhd_footer_t *);
static SIG(vhd_checksum_header, uint32_t, vhd_header_t *);
static SIG(vhd_footer_in, void, vhd_footer_t *);
static SIG(vhd_header_in, void, vhd_header_t *);
static SIG(vhd_bat_out, void, vhd_bat_t *);
static SIG(vhd_batmap_header_in, void, vhd_batmap_t *);
static SIG(vhd_batmap_header_out, void, vhd_batmap_t *);
static SIG(vhd_validate_batmap_header, int, vhd_batmap_t *);
static SIG(vhd_open, int, vhd_context_t *, const char *, int);
static SIG(vhd_close, void, vhd_context_t *);
static SIG(vhd_position, off_t, vhd_context_t *);
static SIG(vhd_seek, int, vhd_context_t *, off_t, int);
static SIG(vhd_read, int, vhd_context_t *, void *, size_t);
static SIG(vhd_write, int, vhd_context_t *, void *, size_t);
static SIG(vhd_parent_locator_get, int, vhd_context_t *, char **);
static SIG(vhd_change_parent, int, vhd_context_t *, char *, int);
static SIG(vhd_io_read, int, vhd_context_t *, char *, uint64_t, uint32_t);
static SIG(vhd_io_write, int, vhd_context_t *, char *, uint64_t, uint32_t);
static SIG(vhd_journal_create, int, vhd_journal_t *, const char *, const char *);
static SIG(vhd_util_create, int, int, char **);
static SIG(vhd_util_set_field, int, int, char **);
static SIG(vhd_open_fast, int, vhd_context_t *);
static SIG(vhd_read_short_footer, int, vhd_context_t *, vhd_footer_t *);
static SIG(lvm_scan_vg, int, const char *, struct vg *);
static SIG(lvm_free_vg, void, struct vg *);

/* Kept, signature changed. */
static SIG(vhd_create, int, const char *, uint64_t, int, uint64_t, vhd_flag_creat_t);
static SIG(vhd_snapshot, int, const char *, uint64_t, const char *, uint64_t, vhd_flag_creat_t);
static SIG(vhd_read_footer, int, vhd_context_t *, vhd_footer_t *, bool);
static SIG(vhd_batmap_header_offset, off64_t, vhd_context_t *);
static SIG(vhd_checksum_batmap, uint32_t, vhd_context_t *, vhd_batmap_t *);
static SIG(vhd_validate_batmap, int, vhd_context_t *, vhd_batmap_t *);

/* New. */
static SIG(vhd_marker, int, vhd_context_t *, char *);
static SIG(vhd_set_marker, int, vhd_context_t *, char);
static SIG(vhd_get_keyhash, int, vhd_context_t *, struct vhd_keyhash *);
static SIG(vhd_set_keyhash, int, vhd_context_t *, const struct vhd_keyhash *);
static SIG(vhd_set_virt_size, int, vhd_context_t *, uint64_t);
static SIG(vhd_initialize_header_parent_name, int, vhd_context_t *, const char *);
static SIG(vhd_write_parent_locators, int, vhd_context_t *, const char *);
static SIG(vhd_parent_locator_unresolved_get, int, vhd_context_t *, char **);
static SIG(vhd_custom_parent_set, int, vhd_context_t *, const char *);
static SIG(vhd_macx_encode_location, int, char *, char **, int *);
static SIG(vhd_w2u_encode_location, int, char *, char **, int *);
static SIG(vhd_read_at, int, vhd_context_t *, uint64_t, uint32_t, size_t, char *);
static SIG(vhd_io_read_bytes, int, vhd_context_t *, void *, size_t, uint64_t);
static SIG(vhd_io_write_bytes, int, vhd_context_t *, void *, size_t, uint64_t);
static SIG(vhd_init_bitmap, int, vhd_context_t *, const uint32_t);
static SIG(vhd_init_bitmaps, int, vhd_context_t *, const uint32_t, const uint32_t);
static SIG(vhd_io_allocate_blocks_fast, int, vhd_context_t *, const uint32_t, const uint32_t,
	   const bool);
static SIG(isPowerOf2, bool, uint32_t);
static SIG(canonpath, char *, const char *, char *, size_t);
static SIG(normalize_path, char *, const char *, size_t);
static SIG(xattr_get, int, int, const char *, void *, size_t);
static SIG(xattr_set, int, int, const char *, const void *, size_t);
static SIG(vhd_util_get_vhd_basename, char *, vhd_context_t *);
static SIG(read_encryption_key, int, int, uint8_t **, int *);
static SIG(vhd_util_key, int, int, char **);
static SIG(vhd_util_copy, int, int, char **);
static int (*const p_open_optional_odirect)(const char *, int, ...) = open_optional_odirect;

/* libvhd-index.h. */
static SIG(vhdi_create, int, const char *, uint32_t);
static SIG(vhdi_open, int, vhdi_context_t *, const char *, int);
static SIG(vhdi_close, void, vhdi_context_t *);
static SIG(vhdi_read_block, int, vhdi_context_t *, vhdi_block_t *, uint32_t);
static SIG(vhdi_write_block, int, vhdi_context_t *, vhdi_block_t *, uint32_t);
static SIG(vhdi_append_block, int, vhdi_context_t *, vhdi_block_t *, uint32_t *);
static SIG(vhdi_entry_in, void, vhdi_entry_t *);
static SIG(vhdi_bat_create, int, const char *, const char *, const char *, const char *);
static SIG(vhdi_bat_load, int, const char *, vhdi_bat_t *);
static SIG(vhdi_bat_write, int, const char *, vhdi_bat_t *);
static SIG(vhdi_file_table_create, int, const char *);
static SIG(vhdi_file_table_load, int, const char *, vhdi_file_table_t *);
static SIG(vhdi_file_table_add, int, const char *, const char *, vhdi_file_id_t *);
static SIG(vhdi_file_table_free, void, vhdi_file_table_t *);

/* Data. */
extern int TEST_FAIL[];
extern const char *ENV_VAR_FAIL[];

int
main(void)
{
	const void *all[] = {
		(const void *)p_libvhd_set_log_level, (const void *)p_vhd_test_file_fixed,
		(const void *)p_vhd_time, (const void *)p_vhd_time_to_string,
		(const void *)p_vhd_chs, (const void *)p_vhd_checksum_footer,
		(const void *)p_vhd_checksum_header, (const void *)p_vhd_footer_in,
		(const void *)p_vhd_header_in, (const void *)p_vhd_bat_out,
		(const void *)p_vhd_batmap_header_in, (const void *)p_vhd_batmap_header_out,
		(const void *)p_vhd_validate_batmap_header, (const void *)p_vhd_open,
		(const void *)p_vhd_close, (const void *)p_vhd_position, (const void *)p_vhd_seek,
		(const void *)p_vhd_read, (const void *)p_vhd_write,
		(const void *)p_vhd_parent_locator_get, (const void *)p_vhd_change_parent,
		(const void *)p_vhd_io_read, (const void *)p_vhd_io_write,
		(const void *)p_vhd_journal_create, (const void *)p_vhd_util_create,
		(const void *)p_vhd_util_set_field, (const void *)p_vhd_open_fast,
		(const void *)p_vhd_read_short_footer, (const void *)p_lvm_scan_vg,
		(const void *)p_lvm_free_vg, (const void *)p_vhd_create,
		(const void *)p_vhd_snapshot, (const void *)p_vhd_read_footer,
		(const void *)p_vhd_batmap_header_offset, (const void *)p_vhd_checksum_batmap,
		(const void *)p_vhd_validate_batmap, (const void *)p_vhd_marker,
		(const void *)p_vhd_set_marker, (const void *)p_vhd_get_keyhash,
		(const void *)p_vhd_set_keyhash, (const void *)p_vhd_set_virt_size,
		(const void *)p_vhd_initialize_header_parent_name,
		(const void *)p_vhd_write_parent_locators,
		(const void *)p_vhd_parent_locator_unresolved_get,
		(const void *)p_vhd_custom_parent_set, (const void *)p_vhd_macx_encode_location,
		(const void *)p_vhd_w2u_encode_location, (const void *)p_vhd_read_at,
		(const void *)p_vhd_io_read_bytes, (const void *)p_vhd_io_write_bytes,
		(const void *)p_vhd_init_bitmap, (const void *)p_vhd_init_bitmaps,
		(const void *)p_vhd_io_allocate_blocks_fast, (const void *)p_isPowerOf2,
		(const void *)p_canonpath, (const void *)p_normalize_path,
		(const void *)p_xattr_get, (const void *)p_xattr_set,
		(const void *)p_vhd_util_get_vhd_basename, (const void *)p_read_encryption_key,
		(const void *)p_vhd_util_key, (const void *)p_vhd_util_copy,
		(const void *)p_open_optional_odirect, (const void *)p_vhdi_create,
		(const void *)p_vhdi_open, (const void *)p_vhdi_close,
		(const void *)p_vhdi_read_block, (const void *)p_vhdi_write_block,
		(const void *)p_vhdi_append_block, (const void *)p_vhdi_entry_in,
		(const void *)p_vhdi_bat_create, (const void *)p_vhdi_bat_load,
		(const void *)p_vhdi_bat_write, (const void *)p_vhdi_file_table_create,
		(const void *)p_vhdi_file_table_load, (const void *)p_vhdi_file_table_add,
		(const void *)p_vhdi_file_table_free, (const void *)TEST_FAIL,
		(const void *)ENV_VAR_FAIL, (const void *)hd_type_str,
		(const void *)CRYPTO_SUPPORTED_KEYSIZE,
	};
	size_t i, missing = 0;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		missing += all[i] == NULL;
	printf("signatures (blktap3): %zu symbols, %zu unresolved\n",
	       sizeof(all) / sizeof(all[0]), missing);
	return missing != 0;
}
