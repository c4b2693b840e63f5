/* The parent is a raw image (differencing disks with a nil parent UUID). */
static inline int
vhd_parent_raw(vhd_context_t *ctx)
{
	return vhd_uuid_is_nil(&ctx->header.prt_uuid);
}
