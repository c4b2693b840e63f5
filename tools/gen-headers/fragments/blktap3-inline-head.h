/* open(2), retried without O_DIRECT (and with O_DSYNC) where the file system refuses
 * direct I/O; the mode is read only with O_CREAT. Variadic as open(2) is, which a Rust
 * definition cannot spell. */
#ifdef __cplusplus
extern "C" {
#endif
int open_optional_odirect(const char *path, int flags, ...);
#ifdef __cplusplus
}
#endif

/* Inline helpers. */

/* Bit `nr` of a sector bitmap, most significant bit first in each byte (the VHD order;
 * blktap3 has no other). */
#define BIT_MASK 0x80

static inline int
test_bit(volatile char *addr, uint32_t nr)
{
	return (((unsigned char)addr[nr >> 3] << (nr & 7)) & BIT_MASK) != 0;
}

static inline void
set_bit(volatile char *addr, uint32_t nr)
{
	addr[nr >> 3] |= (BIT_MASK >> (nr & 7));
}

static inline void
clear_bit(volatile char *addr, uint32_t nr)
{
	addr[nr >> 3] &= ~(BIT_MASK >> (nr & 7));
}

