/*
 * Every exported function's prototype, as the reference headers declare it (libvhd.h,
 * libvhd-journal.h, vhd-util.h, vhd-uuid.h), checked against the generated headers: each
 * function is assigned to a pointer of the reference type, which -Werror turns into a
 * compile error on any difference in return or parameter types. Linking checks that
 * libvhd.so defines each one; running checks the pointers resolved.
 */
#include <stdio.h>
#include <sys/types.h>

#include "libvhd.h"
#include "libvhd-journal.h"
#include "vhd-util.h"

#define SIG(name, ret, ...) ret (*const p_##name)(__VA_ARGS__) = name

/* Utility. */
static SIG(libvhd_set_log_level, void, int);
static SIG(vhd_test_file_fixed, int, const char *, int *);
static SIG(vhd_time, uint32_t, time_t);
static SIG(vhd_time_to_string, size_t, uint32_t, char *);
static SIG(vhd_chs, uint32_t, uint64_t);
static SIG(vhd_checksum_footer, uint32_t, vhd_footer_t *);
static SIG(vhd_checksum_header, uint32_t, vhd_header_t *);
static SIG(vhd_checksum_batmap, uint32_t, vhd_batmap_t *);
static SIG(vhd_footer_in, void, vhd_footer_t *);
static SIG(vhd_footer_out, void, vhd_footer_t *);
static SIG(vhd_header_in, void, vhd_header_t *);
static SIG(vhd_header_out, void, vhd_header_t *);
static SIG(vhd_bat_in, void, vhd_bat_t *);
static SIG(vhd_bat_out, void, vhd_bat_t *);
static SIG(vhd_batmap_header_in, void, vhd_batmap_t *);
static SIG(vhd_batmap_header_out, void, vhd_batmap_t *);
static SIG(vhd_validate_footer, int, vhd_footer_t *);
static SIG(vhd_validate_header, int, vhd_header_t *);
static SIG(vhd_validate_batmap_header, int, vhd_batmap_t *);
static SIG(vhd_validate_batmap, int, vhd_batmap_t *);
static SIG(vhd_validate_platform_code, int, uint32_t);

/* Lifecycle and queries. */
static SIG(vhd_open, int, vhd_context_t *, const char *, int);
static SIG(vhd_close, void, vhd_context_t *);
static SIG(vhd_create, int, const char *, uint64_t, int, vhd_flag_creat_t);
static SIG(vhd_snapshot, int, const char *, uint64_t, const char *, vhd_flag_creat_t);
static SIG(vhd_hidden, int, vhd_context_t *, int *);
static SIG(vhd_chain_depth, int, vhd_context_t *, int *);
static SIG(vhd_position, off_t, vhd_context_t *);
static SIG(vhd_seek, int, vhd_context_t *, off_t, int);
static SIG(vhd_read, int, vhd_context_t *, void *, size_t);
static SIG(vhd_write, int, vhd_context_t *, void *, size_t);
static SIG(vhd_offset, int, vhd_context_t *, uint32_t, uint32_t *);
static SIG(vhd_end_of_headers, int, vhd_context_t *, off_t *);
static SIG(vhd_end_of_data, int, vhd_context_t *, off_t *);
static SIG(vhd_batmap_header_offset, int, vhd_context_t *, off_t *);
static SIG(vhd_get_header, int, vhd_context_t *);
static SIG(vhd_get_footer, int, vhd_context_t *);
static SIG(vhd_get_bat, int, vhd_context_t *);
static SIG(vhd_get_batmap, int, vhd_context_t *);
static SIG(vhd_put_header, void, vhd_context_t *);
static SIG(vhd_put_footer, void, vhd_context_t *);
static SIG(vhd_put_bat, void, vhd_context_t *);
static SIG(vhd_put_batmap, void, vhd_context_t *);
static SIG(vhd_has_batmap, int, vhd_context_t *);
static SIG(vhd_batmap_test, int, vhd_context_t *, vhd_batmap_t *, uint32_t);
static SIG(vhd_batmap_set, void, vhd_context_t *, vhd_batmap_t *, uint32_t);
static SIG(vhd_batmap_clear, void, vhd_context_t *, vhd_batmap_t *, uint32_t);
static SIG(vhd_get_phys_size, int, vhd_context_t *, off_t *);
static SIG(vhd_set_phys_size, int, vhd_context_t *, off_t);
static SIG(vhd_bitmap_test, int, vhd_context_t *, char *, uint32_t);
static SIG(vhd_bitmap_set, void, vhd_context_t *, char *, uint32_t);
static SIG(vhd_bitmap_clear, void, vhd_context_t *, char *, uint32_t);

/* Parents. */
static SIG(vhd_parent_locator_count, int, vhd_context_t *);
static SIG(vhd_parent_locator_get, int, vhd_context_t *, char **);
static SIG(vhd_parent_locator_read, int, vhd_context_t *, vhd_parent_locator_t *, char **);
static SIG(vhd_find_parent, int, vhd_context_t *, const char *, char **);
static SIG(vhd_parent_locator_write_at, int, vhd_context_t *, const char *, off_t, uint32_t,
	   size_t, vhd_parent_locator_t *);
static SIG(vhd_header_decode_parent, int, vhd_context_t *, vhd_header_t *, char **);
static SIG(vhd_change_parent, int, vhd_context_t *, char *, int);

/* Metadata and data I/O. */
static SIG(vhd_read_footer, int, vhd_context_t *, vhd_footer_t *);
static SIG(vhd_read_footer_at, int, vhd_context_t *, vhd_footer_t *, off_t);
static SIG(vhd_read_footer_strict, int, vhd_context_t *, vhd_footer_t *);
static SIG(vhd_read_header, int, vhd_context_t *, vhd_header_t *);
static SIG(vhd_read_header_at, int, vhd_context_t *, vhd_header_t *, off_t);
static SIG(vhd_read_bat, int, vhd_context_t *, vhd_bat_t *);
static SIG(vhd_read_batmap, int, vhd_context_t *, vhd_batmap_t *);
static SIG(vhd_read_bitmap, int, vhd_context_t *, uint32_t, char **);
static SIG(vhd_read_block, int, vhd_context_t *, uint32_t, char **);
static SIG(vhd_write_footer, int, vhd_context_t *, vhd_footer_t *);
static SIG(vhd_write_footer_at, int, vhd_context_t *, vhd_footer_t *, off_t);
static SIG(vhd_write_header, int, vhd_context_t *, vhd_header_t *);
static SIG(vhd_write_header_at, int, vhd_context_t *, vhd_header_t *, off_t);
static SIG(vhd_write_bat, int, vhd_context_t *, vhd_bat_t *);
static SIG(vhd_write_batmap, int, vhd_context_t *, vhd_batmap_t *);
static SIG(vhd_write_bitmap, int, vhd_context_t *, uint32_t, char *);
static SIG(vhd_write_block, int, vhd_context_t *, uint32_t, char *);
static SIG(vhd_io_read, int, vhd_context_t *, char *, uint64_t, uint32_t);
static SIG(vhd_io_write, int, vhd_context_t *, char *, uint64_t, uint32_t);

/* UUIDs, paths, I/O helper. */
static SIG(vhd_uuid_is_nil, int, vhd_uuid_t *);
static SIG(vhd_uuid_generate, void, vhd_uuid_t *);
static SIG(vhd_uuid_to_string, void, vhd_uuid_t *, char *, size_t);
static SIG(vhd_uuid_from_string, void, vhd_uuid_t *, const char *);
static SIG(vhd_uuid_copy, void, vhd_uuid_t *, vhd_uuid_t *);
static SIG(vhd_uuid_clear, void, vhd_uuid_t *);
static SIG(vhd_uuid_compare, int, vhd_uuid_t *, vhd_uuid_t *);
static SIG(atomicio, size_t, ssize_t (*)(int, void *, size_t), int, void *, size_t);
static SIG(relative_path_to, char *, char *, char *, int *);

/* Journal. */
static SIG(vhd_journal_create, int, vhd_journal_t *, const char *, const char *);
static SIG(vhd_journal_open, int, vhd_journal_t *, const char *, const char *);
static SIG(vhd_journal_add_block, int, vhd_journal_t *, uint32_t, char);
static SIG(vhd_journal_commit, int, vhd_journal_t *);
static SIG(vhd_journal_revert, int, vhd_journal_t *);
static SIG(vhd_journal_close, int, vhd_journal_t *);
static SIG(vhd_journal_remove, int, vhd_journal_t *);

/* vhd-util subcommands. */
static SIG(vhd_util_create, int, int, char **);
static SIG(vhd_util_snapshot, int, int, char **);
static SIG(vhd_util_query, int, int, char **);
static SIG(vhd_util_read, int, int, char **);
static SIG(vhd_util_set_field, int, int, char **);
static SIG(vhd_util_repair, int, int, char **);
static SIG(vhd_util_resize, int, int, char **);
static SIG(vhd_util_fill, int, int, char **);
static SIG(vhd_util_coalesce, int, int, char **);
static SIG(vhd_util_modify, int, int, char **);
static SIG(vhd_util_scan, int, int, char **);
static SIG(vhd_util_check, int, int, char **);
static SIG(vhd_util_revert, int, int, char **);

/* The data, as vhd-util declares it. */
extern int TEST_FAIL[];
extern const char *ENV_VAR_FAIL[];

int
main(void)
{
	const void *all[] = {
		(const void *)p_libvhd_set_log_level, (const void *)p_vhd_test_file_fixed,
		(const void *)p_vhd_time, (const void *)p_vhd_time_to_string,
		(const void *)p_vhd_chs, (const void *)p_vhd_checksum_footer,
		(const void *)p_vhd_checksum_header, (const void *)p_vhd_checksum_batmap,
		(const void *)p_vhd_footer_in, (const void *)p_vhd_footer_out,
		(const void *)p_vhd_header_in, (const void *)p_vhd_header_out,
		(const void *)p_vhd_bat_in, (const void *)p_vhd_bat_out,
		(const void *)p_vhd_batmap_header_in, (const void *)p_vhd_batmap_header_out,
		(const void *)p_vhd_validate_footer, (const void *)p_vhd_validate_header,
		(const void *)p_vhd_validate_batmap_header, (const void *)p_vhd_validate_batmap,
		(const void *)p_vhd_validate_platform_code, (const void *)p_vhd_open,
		(const void *)p_vhd_close, (const void *)p_vhd_create,
		(const void *)p_vhd_snapshot, (const void *)p_vhd_hidden,
		(const void *)p_vhd_chain_depth, (const void *)p_vhd_position,
		(const void *)p_vhd_seek, (const void *)p_vhd_read, (const void *)p_vhd_write,
		(const void *)p_vhd_offset, (const void *)p_vhd_end_of_headers,
		(const void *)p_vhd_end_of_data, (const void *)p_vhd_batmap_header_offset,
		(const void *)p_vhd_get_header, (const void *)p_vhd_get_footer,
		(const void *)p_vhd_get_bat, (const void *)p_vhd_get_batmap,
		(const void *)p_vhd_put_header, (const void *)p_vhd_put_footer,
		(const void *)p_vhd_put_bat, (const void *)p_vhd_put_batmap,
		(const void *)p_vhd_has_batmap, (const void *)p_vhd_batmap_test,
		(const void *)p_vhd_batmap_set, (const void *)p_vhd_batmap_clear,
		(const void *)p_vhd_get_phys_size, (const void *)p_vhd_set_phys_size,
		(const void *)p_vhd_bitmap_test, (const void *)p_vhd_bitmap_set,
		(const void *)p_vhd_bitmap_clear, (const void *)p_vhd_parent_locator_count,
		(const void *)p_vhd_parent_locator_get, (const void *)p_vhd_parent_locator_read,
		(const void *)p_vhd_find_parent, (const void *)p_vhd_parent_locator_write_at,
		(const void *)p_vhd_header_decode_parent, (const void *)p_vhd_change_parent,
		(const void *)p_vhd_read_footer, (const void *)p_vhd_read_footer_at,
		(const void *)p_vhd_read_footer_strict, (const void *)p_vhd_read_header,
		(const void *)p_vhd_read_header_at, (const void *)p_vhd_read_bat,
		(const void *)p_vhd_read_batmap, (const void *)p_vhd_read_bitmap,
		(const void *)p_vhd_read_block, (const void *)p_vhd_write_footer,
		(const void *)p_vhd_write_footer_at, (const void *)p_vhd_write_header,
		(const void *)p_vhd_write_header_at, (const void *)p_vhd_write_bat,
		(const void *)p_vhd_write_batmap, (const void *)p_vhd_write_bitmap,
		(const void *)p_vhd_write_block, (const void *)p_vhd_io_read,
		(const void *)p_vhd_io_write, (const void *)p_vhd_uuid_is_nil,
		(const void *)p_vhd_uuid_generate, (const void *)p_vhd_uuid_to_string,
		(const void *)p_vhd_uuid_from_string, (const void *)p_vhd_uuid_copy,
		(const void *)p_vhd_uuid_clear, (const void *)p_vhd_uuid_compare,
		(const void *)p_atomicio, (const void *)p_relative_path_to,
		(const void *)p_vhd_journal_create, (const void *)p_vhd_journal_open,
		(const void *)p_vhd_journal_add_block, (const void *)p_vhd_journal_commit,
		(const void *)p_vhd_journal_revert, (const void *)p_vhd_journal_close,
		(const void *)p_vhd_journal_remove, (const void *)p_vhd_util_create,
		(const void *)p_vhd_util_snapshot, (const void *)p_vhd_util_query,
		(const void *)p_vhd_util_read, (const void *)p_vhd_util_set_field,
		(const void *)p_vhd_util_repair, (const void *)p_vhd_util_resize,
		(const void *)p_vhd_util_fill, (const void *)p_vhd_util_coalesce,
		(const void *)p_vhd_util_modify, (const void *)p_vhd_util_scan,
		(const void *)p_vhd_util_check, (const void *)p_vhd_util_revert,
		(const void *)TEST_FAIL, (const void *)ENV_VAR_FAIL,
	};
	size_t i, n = sizeof(all) / sizeof(all[0]), missing = 0;

	for (i = 0; i < n; i++)
		if (!all[i]) {
			fprintf(stderr, "entry %zu did not resolve\n", i);
			missing++;
		}
	printf("signatures: %zu passed, %zu failed\n", n - missing, missing);
	return missing ? 1 : 0;
}
