/* SPDX-License-Identifier: MIT */
/*
 * qcow2_map.c --- guest-to-host map of the active layer, as qemu-img map.
 *
 * Each guest cluster (or subcluster, with extended L2) gets a status;
 * runs with the same status and contiguous host offsets are merged and
 * handed to the caller.  A backing file is not opened: unallocated ranges
 * are reported at depth 0 as "not present".
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "qcow2/qcow2.h"
#include "core/banned.h"

/* Emit the status of guest cluster at goff (len bytes) from entry e/bm. */
static int
map_cluster(struct qcow2 *q, struct map_merge *m, uint64_t goff, uint64_t len,
    uint64_t e, uint64_t bm)
{
	struct map_ext	x;
	uint64_t	off = e & QCOW2_L2E_OFFSET_MASK, sub, i, n;
	int		rc;

	memset(&x, 0, sizeof(x));
	x.start = goff;
	x.length = len;
	switch (qcow2_l2_kind(q, e)) {
	case QCOW2_L2_UNALLOCATED:
		x.zero = true;
		if (!q->extl2 || bm == 0)
			return map_merge_add(m, &x);
		break;
	case QCOW2_L2_ZERO_PLAIN:
		x.present = x.zero = true;
		return map_merge_add(m, &x);
	case QCOW2_L2_ZERO_ALLOC:
		x.present = x.zero = x.has_offset = true;
		x.offset = off;
		return map_merge_add(m, &x);
	case QCOW2_L2_COMPRESSED:
		x.present = x.data = x.compressed = true;
		return map_merge_add(m, &x);
	case QCOW2_L2_NORMAL:
		if (!q->extl2) {
			x.present = x.data = x.has_offset = true;
			x.offset = q->data_file && off == 0 ? goff : off;
			return map_merge_add(m, &x);
		}
		break;
	}
	/* Extended L2: 32 subclusters with their own state. */
	sub = q->cs / 32;
	n = len / sub + (len % sub != 0);
	for (i = 0; i < n && i < 32; i++) {
		memset(&x, 0, sizeof(x));
		x.start = goff + i * sub;
		x.length = len - i * sub < sub ? len - i * sub : sub;
		if (bm & (1ULL << i)) {
			x.present = x.data = x.has_offset = true;
			x.offset = off + i * sub;
		} else if (bm & (1ULL << (32 + i))) {
			x.present = x.zero = true;
			x.has_offset = off != 0;
			x.offset = off + i * sub;
		} else {
			x.zero = true;
			x.has_offset = off != 0;
			x.offset = off + i * sub;
		}
		if ((rc = map_merge_add(m, &x)) != 0)
			return rc;
	}
	return 0;
}

int
qcow2_map(struct img *img, const struct map_req *rq, map_fn *fn,
    void *arg)
{
	(void)rq;
	struct qcow2	*q = img->priv;
	struct map_merge m;
	uint64_t	*l1 = NULL, span, i, j, goff, len, e, bm;
	uint8_t		*l2 = NULL;
	int		 rc;

	map_merge_init(&m, fn, arg);
	span = q->l2_size << q->h.cluster_bits;
	if ((rc = qcow2_read_table(img, q->h.l1_table_offset, q->h.l1_size,
	    &l1)) != 0)
		return rc;
	if ((l2 = malloc((size_t)q->cs)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i * span < q->h.size; i++) {
		if (img_interrupted()) {
			rc = -EINTR;
			goto out;
		}
		e = i < q->h.l1_size ? l1[i] & QCOW2_L1E_OFFSET_MASK : 0;
		if (e == 0) {
			goff = i * span;
			len = q->h.size - goff < span ? q->h.size - goff : span;
			if ((rc = map_cluster(q, &m, goff, len, 0, 0)) != 0)
				goto out;
			continue;
		}
		if ((rc = img_pread_zf(img, e, l2, (size_t)q->cs, NULL)) != 0)
			goto out;
		for (j = 0; j < q->l2_size; j++) {
			goff = i * span + (j << q->h.cluster_bits);
			if (goff >= q->h.size)
				break;
			len = q->h.size - goff < q->cs ? q->h.size - goff :
			    q->cs;
			e = be64_at(l2 + j * q->l2_entry_size);
			bm = q->extl2 ? be64_at(l2 + j * q->l2_entry_size +
			    8) : 0;
			if ((rc = map_cluster(q, &m, goff, len, e, bm)) != 0)
				goto out;
		}
	}
	rc = map_merge_end(&m);
out:
	map_merge_free(&m);
	free(l2);
	free(l1);
	return rc;
}
