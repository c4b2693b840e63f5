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

