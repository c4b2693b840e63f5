/* Function-like macros and compatibility definitions. */

/* The integer names of the reference's vhd.h, which its on-disk structs and clients' own
 * structs (tapdisk's driver) are declared with. */
typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;

/* open(2) flags: clients open images with O_DIRECT | O_LARGEFILE. */
#include <fcntl.h>
#ifndef O_LARGEFILE
#define O_LARGEFILE                 0
#endif

/* Version fields (footer crtr_ver, batmap_version): major in the high 16 bits. */
#define VHD_VERSION(major, minor)        (((major) << 16) | ((minor) & 0x0000FFFF))
#define VHD_BATMAP_VERSION(major, minor) (((major) << 16) | ((minor) & 0x0000FFFF))

/* The footer's geometry field: cylinders (16 bits), heads (8), sectors per track (8). */
#define GEOM_GET_CYLS(_g)           (((_g) >> 16) & 0xffff)
#define GEOM_GET_HEADS(_g)          (((_g) >> 8) & 0xff)
#define GEOM_GET_SPT(_g)            ((_g) & 0xff)
#define GEOM_ENCODE(_c, _h, _s)     (((_c) << 16) | ((_h) << 8) | (_s))

/* In-place conversion of a field between big-endian (on disk) and host order; the
 * argument is a pointer to the field. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define BE16_IN(foo)                ((void)(foo))
#define BE32_IN(foo)                ((void)(foo))
#define BE64_IN(foo)                ((void)(foo))
#define BE16_OUT(foo)               ((void)(foo))
#define BE32_OUT(foo)               ((void)(foo))
#define BE64_OUT(foo)               ((void)(foo))
#else
#define BE16_IN(foo)                (*(foo) = __builtin_bswap16(*(foo)))
#define BE32_IN(foo)                (*(foo) = __builtin_bswap32(*(foo)))
#define BE64_IN(foo)                (*(foo) = __builtin_bswap64(*(foo)))
#define BE16_OUT(foo)               (*(foo) = __builtin_bswap16(*(foo)))
#define BE32_OUT(foo)               (*(foo) = __builtin_bswap32(*(foo)))
#define BE64_OUT(foo)               (*(foo) = __builtin_bswap64(*(foo)))
#endif

#ifndef MIN
#define MIN(a, b)                   (((a) < (b)) ? (a) : (b))
#endif
#ifndef MAX
#define MAX(a, b)                   (((a) > (b)) ? (a) : (b))
#endif

/* Flag words (vhd_flag_creat_t and the like). */
#define vhd_flag_set(word, flag)    ((word) |= (flag))
#define vhd_flag_clear(word, flag)  ((word) &= ~(flag))
#define vhd_flag_test(word, flag)   ((word) & (flag))

/* Failure injection (see TEST_FAIL below): stop at an armed point, leaving the image as
 * it is. Users include <stdio.h>, <stdlib.h> and <errno.h>. */
#define ENABLE_FAILURE_TESTING
#define TEST_FAIL_AT(point)                                             \
	do {                                                            \
		if (TEST_FAIL[point]) {                                 \
			printf("Failing at %s\n", ENV_VAR_FAIL[point]); \
			exit(EINVAL);                                   \
		}                                                       \
	} while (0)
#define TEST_FAIL_EXTERN_VARS                                           \
	extern const char *ENV_VAR_FAIL[];                              \
	extern int TEST_FAIL[]
