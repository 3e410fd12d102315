/* SPDX-License-Identifier: MIT */
/*
 * qed_walk.c --- the one walk of the QED L1 table and its L2 tables.
 *
 * Check, repair, map and the host map are visitors of qed_walk(): it
 * reads the L1 entries that cover a range of guest clusters in chunks of
 * QED_CHUNK_ENTRIES, hands each entry to the visitor with its validity as
 * a table offset, and, unless the visitor says skip, reads the L2 entries
 * of the range from that table, again in chunks, and hands each to the
 * visitor with its validity as a cluster offset.  A visitor that changes
 * entries (repair) marks them dirty and the walker gives the chunk back
 * to its flush callback before reading on.
 *
 * The order is guest order (L1 index, then L2 index), not host order:
 * QEMU's qed_check() marks clusters in that order and the first table to
 * claim a cluster wins, so qemu-img check's verdicts depend on it.  Memory
 * never depends on the geometry: two chunks of entries whatever the table
 * size, and only the entries of the range are read.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "qed/qed.h"
#include "core/banned.h"

#define QED_READAHEAD	8	/* tables asked for ahead */

static size_t
chunk(uint64_t from, uint64_t to)
{
	return to - from < QED_CHUNK_ENTRIES ? (size_t)(to - from) :
	    QED_CHUNK_ENTRIES;
}

/*
 * The number of entries from k naming adjacent valid clusters: the first
 * valid and the last inside the file make all of them valid.
 */
static size_t
run_of(const struct qed_geom *g, const uint64_t *ent, size_t k, size_t cnt)
{
	size_t	r = 1;

	if (ent[k] == QED_L2_UNALLOC || ent[k] == QED_L2_ZERO ||
	    qed_cluster_off_check(g, ent[k]) != QED_OFF_OK)
		return 0;
	while (k + r < cnt && ent[k + r] == ent[k] + r * g->cs)
		r++;
	while (r > 1 && qed_cluster_off_check(g, ent[k + r - 1]) !=
	    QED_OFF_OK)
		r--;
	return r;
}

/* Entries [a, b) of the L2 table p->toff; 0, or what stops the walk. */
static int
walk_l2(struct img *img, const struct qed_visit *v, const struct qed_wpos *l1,
    uint64_t a, uint64_t b, uint64_t *ent)
{
	const struct qed_geom	*g = &((const struct qed *)img->priv)->g;
	struct qed_wpos		 p;
	uint64_t		 base;
	size_t			 k, cnt, r;
	bool			 dirty;
	int			 rc;

	for (base = a; base < b; base += cnt) {
		cnt = chunk(base, b);
		if ((rc = qed_table_read(img, g, l1->toff, base, cnt,
		    ent)) != 0) {
			memset(&p, 0, sizeof(p));
			p.l1i = l1->l1i;
			p.toff = l1->toff;
			p.first = base;
			p.cnt = cnt;
			/* 0 from the visitor: leave this table, go on. */
			return v->ioerr != NULL ? v->ioerr(v->arg, &p, false,
			    rc) : rc;
		}
		dirty = false;
		for (k = 0; k < cnt; k++) {
			if (v->clusters_only && (ent[k] == QED_L2_UNALLOC ||
			    ent[k] == QED_L2_ZERO))
				continue;
			memset(&p, 0, sizeof(p));
			p.l1i = l1->l1i;
			p.toff = l1->toff;
			p.j = base + k;
			p.first = base;
			p.cnt = cnt;
			p.ep = &ent[k];
			if (v->l2run != NULL && (r = run_of(g, ent, k,
			    cnt)) > 1) {
				if ((rc = v->l2run(v->arg, &p, r)) == 0) {
					k += r - 1;
					continue;
				}
				if (rc != 1)
					return rc;
			}
			if (ent[k] != QED_L2_UNALLOC && ent[k] != QED_L2_ZERO)
				p.oe = qed_cluster_off_check(g, ent[k]);
			if ((rc = v->l2(v->arg, &p)) != 0)
				return rc;
			dirty |= p.dirty;
		}
		if (dirty && v->flush != NULL && (rc = v->flush(v->arg,
		    l1->toff, base, cnt, ent, false)) != 0)
			return rc;
	}
	return 0;
}

/*
 * Bytes of the valid L2 tables named by L1 entries [l1a, l1b), for the
 * progress hook: the L1 table read once more, in chunks (0 if it cannot
 * be; the walk then shows no progress).
 */
static uint64_t
present_bytes(struct img *img, const struct qed_geom *g, uint64_t l1off,
    uint64_t l1a, uint64_t l1b, uint64_t *l1)
{
	uint64_t	base, n = 0;
	size_t		k, cnt;

	for (base = l1a; base < l1b; base += cnt) {
		cnt = chunk(base, l1b);
		if (qed_table_read(img, g, l1off, base, cnt, l1) != 0)
			return 0;
		for (k = 0; k < cnt; k++)
			if (l1[k] != 0 && qed_table_off_check(g, l1[k]) ==
			    QED_OFF_OK)
				n++;
	}
	return n * g->table_bytes;
}

int
qed_walk(struct img *img, const struct qed_visit *v, uint64_t cfrom,
    uint64_t cto)
{
	const struct qed	*q = img->priv;
	const struct qed_geom	*g = &q->g;
	struct qed_wpos		 p;
	uint64_t		*l1 = NULL, *l2 = NULL;
	uint64_t		 nent = g->nent, l1a, l1b, base, i, e, a, b;
	uint64_t		 done = 0, total = 0;
	size_t			 k, cnt, ahead;
	bool			 dirty;
	int			 rc = 0;

	/* nent <= 2^27: every guest cluster index fits in 2^54. */
	if (cto > nent * nent)
		cto = nent * nent;
	if (cfrom >= cto)
		return 0;
	l1a = cfrom / nent;
	l1b = (cto - 1) / nent + 1;
	if ((l1 = calloc(QED_CHUNK_ENTRIES, sizeof(*l1))) == NULL ||
	    (l2 = calloc(QED_CHUNK_ENTRIES, sizeof(*l2))) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	/* Progress counts the tables there are, not the L1's entries. */
	if (img->progress != NULL)
		total = present_bytes(img, g, q->hdr.l1_table_offset, l1a, l1b,
		    l1);
	for (base = l1a; base < l1b; base += cnt) {
		cnt = chunk(base, l1b);
		if ((rc = qed_table_read(img, g, q->hdr.l1_table_offset, base,
		    cnt, l1)) != 0) {
			memset(&p, 0, sizeof(p));
			p.l1i = base;
			p.toff = q->hdr.l1_table_offset;
			p.first = base;
			p.cnt = cnt;
			if (v->ioerr != NULL)
				rc = v->ioerr(v->arg, &p, true, rc);
			if (rc != 0)
				goto out;
			continue;
		}
		dirty = false;
		for (k = 0, ahead = 0; k < cnt; k++) {
			if (img_interrupted()) {
				rc = -EINTR;
				goto out;
			}
			/*
			 * Keep the next whole tables on their way in (cold
			 * caches): each is read in chunks, one after another.
			 */
			for (; ahead < cnt && ahead <= k + QED_READAHEAD;
			    ahead++)
				if (l1[ahead] != 0 && (base + ahead != l1a ||
				    cfrom % nent == 0) && (base + ahead !=
				    l1b - 1 || cto % nent == 0) &&
				    qed_table_off_check(g, l1[ahead]) ==
				    QED_OFF_OK)
					img_willneed(img, l1[ahead],
					    g->table_bytes);
			i = base + k;
			e = l1[k];
			memset(&p, 0, sizeof(p));
			p.l1i = i;
			p.toff = e;
			p.first = base;
			p.cnt = cnt;
			p.ep = &l1[k];
			if (e != 0)
				p.oe = qed_table_off_check(g, e);
			if ((rc = v->l1(v->arg, &p)) != 0)
				goto out;
			dirty |= p.dirty;
			if (e == 0 || p.oe != QED_OFF_OK || p.skip)
				continue;
			a = i == l1a ? cfrom % nent : 0;
			b = i == l1b - 1 ? (cto - 1) % nent + 1 : nent;
			p.toff = e;
			img_progress(img, done, total);
			done += g->table_bytes;
			if ((rc = walk_l2(img, v, &p, a, b, l2)) != 0)
				goto out;
		}
		if (dirty && v->flush != NULL && (rc = v->flush(v->arg,
		    q->hdr.l1_table_offset, base, cnt, l1, true)) != 0)
			goto out;
	}
out:
	free(l2);
	free(l1);
	return rc;
}
