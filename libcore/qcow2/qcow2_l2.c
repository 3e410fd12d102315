/* SPDX-License-Identifier: MIT */
/*
 * qcow2_l2.c --- classify L2 entries and decode compressed descriptors.
 */
#include "qcow2/qcow2.h"
#include "core/banned.h"

/* The exact order of "Table entries" (spec 1.4) matters. */
enum qcow2_l2_kind
qcow2_l2_kind(const struct qcow2 *q, uint64_t e)
{
	if (e & QCOW2_OFLAG_COMPRESSED)
		return QCOW2_L2_COMPRESSED;
	if ((e & QCOW2_OFLAG_ZERO) && !q->extl2)
		return (e & QCOW2_L2E_OFFSET_MASK) ? QCOW2_L2_ZERO_ALLOC :
		    QCOW2_L2_ZERO_PLAIN;
	if ((e & QCOW2_L2E_OFFSET_MASK) == 0) {
		/* Offset 0 is a real cluster in an external data file. */
		if (q->data_file && (e & QCOW2_OFLAG_COPIED))
			return QCOW2_L2_NORMAL;
		return QCOW2_L2_UNALLOCATED;
	}
	return QCOW2_L2_NORMAL;
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
