/* SPDX-License-Identifier: MIT */
/*
 * qcow2_l2.c --- classify L2 entries and decode compressed descriptors.
 */
#include "qcow2/qcow2.h"
#include "core/banned.h"

void
qcow2_compressed_range(const struct qcow2 *q, uint64_t e, uint64_t *off,
    uint64_t *len)
{
	uint64_t	sectors;

	*off = e & q->coffset_mask;
	sectors = ((e >> q->csize_shift) & q->csize_mask) + 1;
	*len = sectors * 512 - (*off & 511);
}
