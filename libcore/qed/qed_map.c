/* SPDX-License-Identifier: MIT */
/*
 * qed_map.c --- this layer's guest runs, as QEMU's block status gives them.
 *
 * The map is a visitor of the one walk (qed_walk.c) over the L1 and L2
 * entries that cover the range asked for.  A data cluster is present
 * data at its host offset; an L2 entry of 1 is a present zero cluster;
 * an empty L1 or L2 entry is unallocated in this layer (present, zero
 * and data all false), which the core resolves through the backing file
 * or as zeros (core/chain.c).  Runs may start before the range: the core
 * clips them.
 *
 * Damage is what QEMU's qed_find_cluster() refuses: an L2 table offset
 * that fails qed_check_table_offset(), or a data cluster offset that
 * fails qed_check_cluster_offset().  QEMU tests the cluster offset only
 * for the first cluster of each run it returns: a run of contiguous
 * clusters (each one cluster after the one before, inside one L2 table)
 * is taken whole once its first offset is valid, even where it goes past
 * the end of the file, whose bytes then read as zeros.  Runs begin where
 * a query begins (the start of the range), at each L2 table, and after
 * any break in contiguity; we test exactly those offsets.  A damaged
 * offset fails the map with img_set_error() naming the finding, unless
 * the request says force: then its range comes with ext.damage set to the
 * finding's code, and the map goes on.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qed/qed.h"
#include "core/banned.h"

struct qmap {
	struct img		*img;
	const struct qed	*q;
	const struct qed_geom	*g;
	const struct map_req	*rq;
	uint64_t		 size;	/* guest bytes */
	struct map_merge	 m;
	uint64_t		 last;	/* the run's last host cluster */
	bool			 inrun;	/* a run of data clusters goes on */
};

/* The guest disk size QEMU sees: 2^63 passes its open as 0. */
uint64_t
qed_vsize(struct img *img)
{
	const struct qed	*q = img->priv;

	return q->hdr.image_size >= UINT64_C(1) << 63 ? 0 :
	    q->hdr.image_size;
}

/* The damaged range e: an error, or with force a run marked damaged. */
static int
qmap_damage(struct qmap *mp, struct map_ext *e, enum pr_id id,
    const char *what, uint64_t off, uint64_t l1i, const char *l2)
{
	const struct pr_info	*pi = pr_info_get(id);

	if (!mp->rq->force) {
		img_set_error(mp->img, "%s: %s offset 0x%" PRIx64 " (L1 index %"
		    PRIu64 "%s, guest offset 0x%" PRIx64 ")", pi->name, what,
		    off, l1i, l2, e->start);
		return -IMG_EINVAL;
	}
	e->present = e->zero = e->data = e->has_offset = false;
	e->damage = pi->code;
	return map_merge_add(&mp->m, e);
}

static int
qmap_l1(void *arg, struct qed_wpos *p)
{
	struct qmap		*mp = arg;
	const struct qed_geom	*g = mp->g;
	struct map_ext		 e;
	uint64_t		 span = g->nent * g->cs;	/* <= 2^53 */

	/* A new table: QEMU's next query begins here. */
	mp->inrun = false;
	if (*p->ep != 0 && p->oe == QED_OFF_OK)
		return 0;
	memset(&e, 0, sizeof(e));
	/* The walk stays below the guest size: no overflow. */
	e.start = p->l1i * span;
	if (e.start >= mp->size)
		return 0;
	e.length = mp->size - e.start < span ? mp->size - e.start : span;
	if (*p->ep == 0)
		return map_merge_add(&mp->m, &e);
	return qmap_damage(mp, &e, qed_l1_problem(p->oe), "L2 table",
	    *p->ep, p->l1i, "");
}

static int
qmap_l2(void *arg, struct qed_wpos *p)
{
	struct qmap		*mp = arg;
	const struct qed_geom	*g = mp->g;
	struct map_ext		 e;
	char			 l2[48];
	uint64_t		 d = *p->ep;

	memset(&e, 0, sizeof(e));
	e.start = (p->l1i * g->nent + p->j) * g->cs;
	if (e.start >= mp->size)
		return 0;
	e.length = mp->size - e.start < g->cs ? mp->size - e.start : g->cs;
	if (d == QED_L2_UNALLOC || d == QED_L2_ZERO) {
		mp->inrun = false;
		e.present = e.zero = d == QED_L2_ZERO;
		return map_merge_add(&mp->m, &e);
	}
	if (!mp->inrun || d != mp->last + g->cs) {
		/* The first cluster of a run: QEMU checks its offset. */
		mp->inrun = false;
		if (p->oe != QED_OFF_OK) {
			snprintf(l2, sizeof(l2), ", L2 index %" PRIu64, p->j);
			return qmap_damage(mp, &e, qed_l2_problem(p->oe),
			    "data cluster", d, p->l1i, l2);
		}
	}
	mp->inrun = true;
	mp->last = d;
	e.present = e.data = e.has_offset = true;
	e.offset = d;
	return map_merge_add(&mp->m, &e);
}

int
qed_map(struct img *img, const struct map_req *rq, map_fn *fn, void *arg)
{
	struct qmap	 mp;
	struct qed_visit v;
	uint64_t	 end, cs;
	int		 rc;

	memset(&mp, 0, sizeof(mp));
	mp.img = img;
	mp.q = img->priv;
	mp.g = &mp.q->g;
	mp.rq = rq;
	mp.size = qed_vsize(img);
	cs = mp.g->cs;
	end = rq->end < mp.size ? rq->end : mp.size;
	if (rq->start >= end)
		return 0;
	map_merge_init(&mp.m, fn, arg);
	memset(&v, 0, sizeof(v));
	v.arg = &mp;
	v.l1 = qmap_l1;
	v.l2 = qmap_l2;
	/* Clusters [start / cs, ceil(end / cs)); end <= 2^63. */
	rc = qed_walk(img, &v, rq->start / cs, end / cs + (end % cs != 0));
	if (rc == 0)
		return map_merge_end(&mp.m);
	map_merge_free(&mp.m);
	return rc;
}

int
qed_read(struct img *img, const struct map_ext *run, uint64_t off,
    void *buf, size_t len, struct report *rp)
{
	uint64_t	host;

	(void)rp;
	if (!run->data || !run->has_offset || off < run->start ||
	    off - run->start > run->length ||
	    len > run->length - (off - run->start) ||
	    !ck_add_u64(run->offset, off - run->start, &host))
		return -IMG_ERANGE;
	/* A run may go past the end of the file: QEMU reads zeros there. */
	return img_pread_zf(img, host, buf, len, NULL);
}
