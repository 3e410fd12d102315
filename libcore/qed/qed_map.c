/* SPDX-License-Identifier: MIT */
/*
 * qed_map.c --- the guest disk as runs, with qemu-img map's semantics.
 *
 * A data cluster is present data at its host offset; an L2 entry of 1 is
 * a present zero cluster; anything unallocated reads as zeros (depth 0)
 * or falls through to the backing file (depth 1, which we do not open).
 * Neighbouring clusters with the same status and contiguous host offsets
 * are merged into one run.  An invalid table or cluster offset fails the
 * map, as it fails QEMU's qed_find_cluster().
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "qed/qed.h"
#include "core/banned.h"

/* The status of unallocated guest bytes. */
static void
qmap_unalloc(const struct qed *q, struct map_ext *e)
{
	if (q->backing != NULL && q->backing[0] != '\0') {
		e->depth = 1;
		e->present = false;
		e->zero = false;
	} else {
		e->depth = 0;
		e->present = false;
		e->zero = true;
	}
	e->data = false;
	e->has_offset = false;
}

int
qed_map(struct img *img, const struct map_req *rq, map_fn *fn,
    void *arg)
{
	(void)rq;
	const struct qed	*q = img->priv;
	const struct qed_geom	*g = &q->g;
	struct map_merge	 m;
	struct map_ext		 e;
	uint64_t		*l1 = NULL, *l2 = NULL;
	uint64_t		 size = q->hdr.image_size, span, gbase, goff;
	uint64_t		 b1, b2, d;
	size_t			 k1, k2, c1, c2;
	int			 rc = 0;

	map_merge_init(&m, fn, arg);
	span = g->nent * g->cs;		/* <= 2^53 */
	if ((l1 = calloc(QED_CHUNK_ENTRIES, sizeof(*l1))) == NULL ||
	    (l2 = calloc(QED_CHUNK_ENTRIES, sizeof(*l2))) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (b1 = 0, gbase = 0; b1 < g->nent && gbase < size; b1 += c1) {
		c1 = g->nent - b1 < QED_CHUNK_ENTRIES ?
		    (size_t)(g->nent - b1) : QED_CHUNK_ENTRIES;
		if ((rc = qed_table_read(img, g, q->hdr.l1_table_offset, b1,
		    c1, l1)) != 0)
			goto out;
		for (k1 = 0; k1 < c1 && gbase < size; k1++, gbase += span) {
			memset(&e, 0, sizeof(e));
			e.start = gbase;
			e.length = size - gbase < span ? size - gbase : span;
			if (l1[k1] == 0) {
				qmap_unalloc(q, &e);
				if ((rc = map_merge_add(&m, &e)) != 0)
					goto out;
				continue;
			}
			if (qed_table_off_check(g, l1[k1]) != QED_OFF_OK) {
				rc = -IMG_EINVAL;
				goto out;
			}
			goff = gbase;
			for (b2 = 0; b2 < g->nent && goff < size; b2 += c2) {
				c2 = g->nent - b2 < QED_CHUNK_ENTRIES ?
				    (size_t)(g->nent - b2) : QED_CHUNK_ENTRIES;
				if ((rc = qed_table_read(img, g, l1[k1], b2,
				    c2, l2)) != 0)
					goto out;
				for (k2 = 0; k2 < c2 && goff < size; k2++,
				    goff += g->cs) {
					d = l2[k2];
					memset(&e, 0, sizeof(e));
					e.start = goff;
					e.length = size - goff < g->cs ?
					    size - goff : g->cs;
					if (d == QED_L2_UNALLOC) {
						qmap_unalloc(q, &e);
					} else if (d == QED_L2_ZERO) {
						e.present = true;
						e.zero = true;
					} else if (qed_cluster_off_check(g,
					    d) != QED_OFF_OK) {
						rc = -IMG_EINVAL;
						goto out;
					} else {
						e.present = true;
						e.data = true;
						e.has_offset = true;
						e.offset = d;
					}
					if ((rc = map_merge_add(&m, &e)) != 0)
						goto out;
				}
			}
		}
	}
	rc = map_merge_end(&m);
out:
	map_merge_free(&m);
	free(l2);
	free(l1);
	return rc;
}
