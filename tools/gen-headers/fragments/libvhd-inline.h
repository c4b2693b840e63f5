/* Inline helpers. */

/* Names of the footer's disk types, indexed by type. */
static const char *HD_TYPE_STR[HD_TYPE_MAX + 1] __attribute__((unused)) = {
	"None",                    /* 0 */
	"Reserved (deprecated)",   /* 1 */
	"Fixed hard disk",         /* 2 */
	"Dynamic hard disk",       /* 3 */
	"Differencing hard disk",  /* 4 */
	"Reserved (deprecated)",   /* 5 */
	"Reserved (deprecated)",   /* 6 */
};

/* Bit `nr` of a sector bitmap, most significant bit first (the VHD order). */
#define BIT_MASK 0x80

static inline int
test_bit(volatile char *addr, int nr)
{
	return (((unsigned char)addr[nr >> 3] << (nr & 7)) & BIT_MASK) != 0;
}

static inline void
set_bit(volatile char *addr, int nr)
{
	addr[nr >> 3] |= (BIT_MASK >> (nr & 7));
}

static inline void
clear_bit(volatile char *addr, int nr)
{
	addr[nr >> 3] &= ~(BIT_MASK >> (nr & 7));
}

/* The same in the order of early tapdisk images (32-bit words, least significant bit
 * first). */
static inline int
old_test_bit(volatile char *addr, int nr)
{
	return (((volatile uint32_t *)addr)[nr >> 5] >> (nr & 31)) & 1;
}

static inline void
old_set_bit(volatile char *addr, int nr)
{
	((volatile uint32_t *)addr)[nr >> 5] |= (1U << (nr & 31));
}

static inline void
old_clear_bit(volatile char *addr, int nr)
{
	((volatile uint32_t *)addr)[nr >> 5] &= ~(1U << (nr & 31));
}

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

/* The parent is a raw image (differencing disks with a nil parent UUID). */
static inline int
vhd_parent_raw(vhd_context_t *ctx)
{
	return vhd_uuid_is_nil(&ctx->header.prt_uuid);
}
