/* Sectors holding `bytes` bytes. */
static inline uint32_t
secs_round_up(uint64_t bytes)
{
	return (uint32_t)((bytes + (VHD_SECTOR_SIZE - 1)) >> VHD_SECTOR_SHIFT);
}

/* Sectors holding `bytes` bytes, at least one. */
static inline uint32_t
secs_round_up_no_zero(uint64_t bytes)
{
	uint32_t secs = secs_round_up(bytes);

	return secs ? secs : 1;
}

static inline uint64_t
vhd_sectors_to_bytes(uint64_t sectors)
{
	return sectors << VHD_SECTOR_SHIFT;
}

/* `bytes` rounded up to whole sectors, at least one. */
static inline uint64_t
vhd_bytes_padded(uint64_t bytes)
{
	return vhd_sectors_to_bytes(secs_round_up_no_zero(bytes));
}

/* Dynamic or differencing: the image has a header and a BAT. */
static inline int
vhd_type_dynamic(vhd_context_t *ctx)
{
	return ctx->footer.type == HD_TYPE_DYNAMIC ||
	       ctx->footer.type == HD_TYPE_DIFF;
}

/* Created by tapdisk (creator application "tap"). */
static inline int
vhd_creator_tapdisk(vhd_context_t *ctx)
{
	return ctx->footer.crtr_app[0] == 't' &&
	       ctx->footer.crtr_app[1] == 'a' &&
	       ctx->footer.crtr_app[2] == 'p';
}

/* Disabled: the footer carries the poison cookie while a resize is under way. */
static inline int
vhd_disabled(vhd_context_t *ctx)
{
	static const char poison[] = VHD_POISON_COOKIE;
	size_t i;

	for (i = 0; i < sizeof(ctx->footer.cookie); i++)
		if (ctx->footer.cookie[i] != poison[i])
			return 0;
	return 1;
}

/* Bytes reserved for a parent locator's data. data_space should be in sectors, but some
 * writers store bytes: below 512 it is taken as sectors, a multiple of 512 as bytes, and
 * anything else is invalid (0). */
static inline size_t
vhd_parent_locator_size(vhd_parent_locator_t *loc)
{
	if (loc->data_space < 512)
		return (size_t)vhd_sectors_to_bytes(loc->data_space);
	if (loc->data_space % 512 == 0)
		return loc->data_space;
	return 0;
}

