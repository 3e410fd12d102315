/* SPDX-License-Identifier: MIT */
/*
 * qcow2_l2.c --- classify L2 entries and decode compressed descriptors.
 */
#include <string.h>

#include "qcow2/qcow2.h"
#include "core/banned.h"

/*
 * No branch inside, so the compiler vectorizes the loop; where the CPU
 * has AVX2 a clone of it takes four entries an instruction.  The map of
 * a preallocated 1 TiB image spent a third of its time in its runs (one
 * CPU: 28 -> 23 ms).  The check's runs stay inline (run_len()): there a
 * call per block measured 4% slower.  Not under the address sanitizer,
 * whose instrumentation and ifunc resolvers do not mix.
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_ADDRESS__)
__attribute__((target_clones("avx2", "default")))
#endif
uint64_t
qcow2_run_block(const uint8_t *p, uint64_t want, uint64_t step,
    uint64_t mask)
{
	uint64_t	x = 0, n;
	int		k;

	for (k = 0; k < QCOW2_RUN_BLOCK; k++) {
		memcpy(&n, p + 8 * k, sizeof(n));
		x |= (RD_BSWAP64(n) & mask) ^ (want + (uint64_t)k * step);
	}
	return x;
}

void
qcow2_compressed_range(const struct qcow2 *q, uint64_t e, uint64_t *off,
    uint64_t *len)
{
	uint64_t	sectors;

	*off = e & q->coffset_mask;
	sectors = ((e >> q->csize_shift) & q->csize_mask) + 1;
	*len = sectors * 512 - (*off & 511);
}
