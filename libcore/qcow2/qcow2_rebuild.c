/* SPDX-License-Identifier: MIT */
/*
 * qcow2_rebuild.c --- set the refcounts a repair computed: in place, or
 * a new refcount table and blocks.
 *
 * After the refcount step's check (qcow2_repair.c, step B) the fixer
 * holds the computed count of every host cluster and the mismatches the
 * check had permission to fix.  Where qemu-img check would rebuild (a
 * referenced cluster with refcount 0, a refcount table entry it cannot
 * use, a refcount block used twice), or where a new cluster has no
 * refcount block, we build a new structure from the counts (spec 5.3);
 * otherwise each mismatched refcount is set in place.  The leaks level
 * refuses a rebuild, as qemu does.
 *
 * The new structure describes the image without the old one: the old
 * table and blocks are no longer counted, and the new blocks and table
 * are appended past the end of the file, so nothing the old structure
 * or any orphaned cluster holds is overwritten.  Blocks go where no
 * block's range needs them: one block per range holding a used cluster,
 * the new clusters included, found by iterating to a fixed point.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "qcow2/qcow2.h"
#include "core/banned.h"

/* Old refcount structure clusters, each with how often it was counted. */
struct oldref {
	uint64_t	*k;
	size_t		 n;
	size_t		 cap;
};

static int
old_add(struct oldref *o, uint64_t k)
{
	int	rc;

	if ((rc = grow_array(&o->k, &o->cap, o->n, sizeof(*o->k), 64)) != 0)
		return rc;
	o->k[o->n++] = k;
	return 0;
}

static int
k_cmp(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* How often cluster k was counted as the old structure. */
static uint64_t
old_count(const struct oldref *o, uint64_t k)
{
	const uint64_t	*p;
	uint64_t	 n = 0;

	if (o->n == 0)
		return 0;
	p = bsearch(&k, o->k, o->n, sizeof(k), k_cmp);
	if (p == NULL)
		return 0;
	while (p > o->k && p[-1] == k)
		p--;
	while (p < o->k + o->n && *p == k) {
		p++;
		n++;
	}
	return n;
}

/*
 * The clusters the check counted as the refcount table and blocks (the
 * same rules as its walk, spec 4.2 step 6 and 4.4).
 */
static int
old_collect(const struct qcow2 *q, uint64_t ncnt, struct oldref *o)
{
	uint64_t	i, e, off, k, last, end;
	int		rc;

	end = q->h.refcount_table_offset + q->reftable_n * 8;
	if (q->reftable_n > 0) {
		last = (end - 1) >> q->h.cluster_bits;
		for (k = q->h.refcount_table_offset >> q->h.cluster_bits;
		    k <= last && k < ncnt; k++)
			if ((rc = old_add(o, k)) != 0)
				return rc;
	}
	for (i = 0; i < q->reftable_n; i++) {
		e = q->reftable[i];
		off = e & QCOW2_REFT_OFFSET_MASK;
		if (e == 0 || (e & QCOW2_REFT_RESERVED) ||
		    (off & (q->cs - 1)) != 0 ||
		    (off >> q->h.cluster_bits) >= ncnt)
			continue;
		if ((rc = old_add(o, off >> q->h.cluster_bits)) != 0)
			return rc;
	}
	if (o->n > 0)
		qsort(o->k, o->n, sizeof(*o->k), k_cmp);
	return 0;
}

static int
mm_cmp(const void *a, const void *b)
{
	const struct qcow2_mm	*x = a, *y = b;

	return x->k < y->k ? -1 : x->k > y->k;
}

struct layout {
	uint64_t	 first;		/* first new cluster */
	uint64_t	*ranges;	/* block ranges, ascending */
	uint64_t	 nranges;
	uint64_t	 tclusters;	/* table clusters */
};

/* The count cluster k has in the new structure. */
static uint64_t
new_count(const struct qcow2_fix *fx, const struct oldref *o,
    const struct layout *l, uint64_t k)
{
	uint64_t	v = 0, d;

	if (k < fx->cnt_len) {
		v = qcow2_counts_get(fx->cnt, k);
		d = old_count(o, k);
		v = v > d ? v - d : 0;
	}
	if (k >= l->first && k < l->first + l->nranges + l->tclusters)
		v++;
	return v;
}

/*
 * Place the new blocks and table from cluster first on: the ranges that
 * hold a used cluster, the new ones included, until nothing changes.
 */
static int
layout(const struct qcow2_fix *fx, const struct qcow2 *q,
    const struct oldref *o, struct layout *l)
{
	uint64_t	 per = 1ULL << q->rb_bits, nr, r, k, end, last, t;
	uint8_t		*used;
	size_t		 i;

	/* Ranges with a used cluster among the counted ones. */
	nr = (l->first >> q->rb_bits) + 1;
	if ((used = calloc((size_t)nr, 1)) == NULL)
		return -ENOMEM;
	for (r = 0; r < nr; r++) {
		end = (r + 1) * per < fx->cnt_len ? (r + 1) * per : fx->cnt_len;
		for (k = r * per; k < end; k++)
			if (new_count(fx, o, l, k) > 0) {
				used[r] = 1;
				break;
			}
	}
	l->nranges = 0;
	l->tclusters = 1;
	for (;;) {
		/* The new clusters' own ranges. */
		last = (l->first + l->nranges + l->tclusters - 1) >> q->rb_bits;
		if (last >= nr) {
			uint8_t	*nu = realloc(used, (size_t)last + 1);

			if (nu == NULL) {
				free(used);
				return -ENOMEM;
			}
			memset(nu + nr, 0, (size_t)(last + 1 - nr));
			used = nu;
			nr = last + 1;
		}
		for (r = l->first >> q->rb_bits; r <= last; r++)
			used[r] = 1;
		for (r = 0, k = 0; r < nr; r++)
			k += used[r];
		t = (nr * 8 + q->cs - 1) >> q->h.cluster_bits;
		if (k == l->nranges && t == l->tclusters)
			break;
		l->nranges = k;
		l->tclusters = t;
	}
	free(l->ranges);
	if ((l->ranges = calloc((size_t)l->nranges, sizeof(*l->ranges))) ==
	    NULL) {
		free(used);
		return -ENOMEM;
	}
	for (r = 0, i = 0; r < nr; r++)
		if (used[r])
			l->ranges[i++] = r;
	free(used);
	return 0;
}

/* Write the new blocks and table, then point the header at them. */
static int
rebuild(struct qcow2_fix *fx)
{
	struct qcow2	*q = fx->img->priv;
	struct oldref	 o;
	struct layout	 l;
	uint64_t	 per = 1ULL << q->rb_bits, i, k, v, tlen;
	uint8_t		*buf = NULL, *tab = NULL, hdr[12];
	enum pr_id	 id = fx->rebuild_id;
	int		 rc;

	memset(&o, 0, sizeof(o));
	memset(&l, 0, sizeof(l));
	if (id == PR_COUNT)
		id = PR_QCOW2_REFCOUNT_ZERO;
	if ((rc = old_collect(q, fx->cnt_len, &o)) != 0)
		goto out;
	/* Past everything: the file, the counts, what A appended. */
	if ((rc = qcow2_fix_first_free(fx, 0, &l.first)) != 0 ||
	    (rc = layout(fx, q, &o, &l)) != 0 ||
	    (rc = qcow2_fix_first_free(fx, l.nranges + l.tclusters,
	    &l.first)) != 0)
		goto out;
	tlen = l.tclusters << q->h.cluster_bits;
	if ((buf = malloc((size_t)q->cs)) == NULL ||
	    (tab = calloc(1, (size_t)tlen)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < l.nranges; i++) {
		memset(buf, 0, (size_t)q->cs);
		for (k = 0; k < per; k++) {
			v = new_count(fx, &o, &l, l.ranges[i] * per + k);
			qcow2_rb_set(buf, q->h.refcount_order, k,
			    v > q->rc_max ? q->rc_max : v);
		}
		if ((rc = plan_write(fx->plan, fx->img, (l.first + i) <<
		    q->h.cluster_bits, buf, (size_t)q->cs, id)) != 0)
			goto out;
		put_be64(tab + 8 * l.ranges[i], (l.first + i) <<
		    q->h.cluster_bits);
	}
	if ((rc = plan_write(fx->plan, fx->img, (l.first + l.nranges) <<
	    q->h.cluster_bits, tab, (size_t)tlen, id)) != 0)
		goto out;
	/* 48: refcount_table_offset, 56: refcount_table_clusters. */
	put_be64(hdr, (l.first + l.nranges) << q->h.cluster_bits);
	put_be32(hdr + 8, (uint32_t)l.tclusters);
	rc = plan_write(fx->plan, fx->img, 48, hdr, sizeof(hdr), id);
	fx->next_free = l.first + l.nranges + l.tclusters;
out:
	free(o.k);
	free(l.ranges);
	free(buf);
	free(tab);
	return rc;
}

int
qcow2_refcounts_fix(struct qcow2_fix *fx)
{
	struct qcow2	*q = fx->img->priv;
	size_t		 i;
	int		 rc;
	/* qemu would rebuild, and the level does not allow it. */
	if (fx->need_rebuild && !fx->want_rebuild) {
		img_set_error(fx->img, "need to rebuild refcount structures "
		    "(-r all does)");
		return -EIO;
	}
	if (fx->want_rebuild || fx->force_rebuild) {
		if (fx->cnt == NULL)
			return -EINVAL;
		if (fx->rebuild_id == PR_COUNT && fx->nmm > 0)
			fx->rebuild_id = fx->mm[0].id;
		return rebuild(fx);
	}
	/* In cluster order: each change lands at the plan's end. */
	if (fx->nmm > 1)
		qsort(fx->mm, fx->nmm, sizeof(*fx->mm), mm_cmp);
	for (i = 0; i < fx->nmm; i++) {
		rc = qcow2_ref_plan(fx, q, fx->mm[i].k, fx->mm[i].r2,
		    fx->mm[i].id);
		if (rc != 0)
			return rc == -ENOENT ? -EIO : rc;
	}
	return 0;
}
