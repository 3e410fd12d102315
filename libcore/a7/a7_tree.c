/* SPDX-License-Identifier: MIT */
/*
 * a7_tree.c --- read and verify the B+trees of the special streams (§7).
 *
 * A tree is the bytes of one special stream: a 21-byte header, then pages
 * of 4008 bytes.  We read the stream along its walked chain (not the
 * record in block 0, which lags after a crash, §4.4), descend from the
 * root with key ranges, depth and a per-page state so that no page is
 * visited twice, follow the free list and the listings' item chains, and
 * call pages reached by none of these leaks.  Records land in t->recs as
 * offsets into t->buf for the file-system layer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "a7/a7.h"
#include "core/banned.h"

enum { PS_UNSEEN, PS_NODE, PS_FREE, PS_ITEMS };

/* §7 parameter table, by special slot. */
static const struct {
	uint8_t		kind;
	uint32_t	order;
	uint32_t	ref_order;
	uint32_t	vsize;
} a7_tree_params[A7_NSPECIAL] = {
	[1] = { 'S', 67, 165, 38 },
	[2] = { 'S', 9, 157, A7_ENTRY },
	[3] = { 'S', 104, 165, 17 },
	[4] = { 'M', 159, 166, 4 },
};

void
a7_tree_release(struct a7_tree *t)
{
	free(t->buf);
	free(t->chain);
	free(t->pst);
	free(t->recs);
	free(t->items);
	memset(t, 0, sizeof(*t));
}

uint64_t
a7_tree_host(const struct a7_tree *t, size_t off)
{
	size_t	k = off / A7_DATA;

	if (t->nchain == 0)
		return 0;
	if (k >= t->nchain)
		k = t->nchain - 1;
	return (uint64_t)t->chain[k] * A7_BLOCK;
}

static size_t
a7_page_off(uint32_t p)
{
	return A7_THDR + (size_t)p * A7_DATA;
}

/* Report a problem about tree t located at stream byte off. */
static bool
a7_tree_problem(struct a7 *a, struct a7_tree *t, struct report *rp,
    enum pr_id id, size_t off, uint64_t idx, const char *str,
    uint64_t found, uint64_t want)
{
	char		where[512];
	size_t		n;
	struct pr_ctx	pc = { .len = A7_BLOCK, .idx = idx, .str = str,
	    .found = found, .want = want, .path = where, .flags = PC_HOST };

	pc.off = a7_tree_host(t, off);
	a7_where(a, where, sizeof(where), (int64_t)(pc.off / A7_BLOCK),
	    t->slot);
	n = strlen(where);
	if (off >= A7_THDR)
		snprintf(where + n, sizeof(where) - n, ", page %zu",
		    (off - A7_THDR) / A7_DATA);
	return report_problem(rp, id, &pc);
}

static int
a7_rec_add(struct a7_tree *t, const struct a7_rec *r)
{
	struct a7_rec	*nr;
	size_t		 cap;

	if (t->nrecs == t->caprecs) {
		cap = t->caprecs == 0 ? 64 : t->caprecs * 2;
		if ((nr = reallocarray(t->recs, cap, sizeof(*nr))) == NULL)
			return -ENOMEM;
		t->recs = nr;
		t->caprecs = cap;
	}
	t->recs[t->nrecs++] = *r;
	return 0;
}

static int
a7_item_add(struct a7_tree *t, size_t off)
{
	size_t	*ni, cap;

	if (t->nitems == t->capitems) {
		cap = t->capitems == 0 ? 64 : t->capitems * 2;
		if ((ni = reallocarray(t->items, cap, sizeof(*ni))) == NULL)
			return -ENOMEM;
		t->items = ni;
		t->capitems = cap;
	}
	t->items[t->nitems++] = off;
	return 0;
}

/* Follow the I pages of listing record r (§7, multi-value records). */
static int
a7_tree_items(struct a7 *a, struct a7_tree *t, struct report *rp,
    struct a7_rec *r, int32_t ip)
{
	char		msg[96];
	uint64_t	total = 0;
	uint32_t	cnt, i, steps = 0;
	struct rd	pr;
	int32_t		cur;
	int		rc;

	r->item0 = t->nitems;
	while (ip != -1 && steps++ <= t->npages) {
		if (ip < 0 || (uint32_t)ip >= t->npages) {
			snprintf(msg, sizeof(msg), "item page %d is out of "
			    "range", (int)ip);
			(void)a7_tree_problem(a, t, rp, PR_A7_TREE_ITEMS,
			    r->off, r->slot, msg, 0, 0);
			return 0;
		}
		if (t->pst[ip] != PS_UNSEEN) {
			snprintf(msg, sizeof(msg), "item page %d is reached "
			    "twice", (int)ip);
			(void)a7_tree_problem(a, t, rp, PR_A7_TREE_ITEMS,
			    r->off, r->slot, msg, 0, 0);
			return 0;
		}
		t->pst[ip] = PS_ITEMS;
		cur = ip;
		rd_init(&pr, t->buf + a7_page_off((uint32_t)ip), A7_DATA);
		if (rd_u8(&pr) != 'I') {
			snprintf(msg, sizeof(msg), "page %d is not an item "
			    "page", (int)ip);
			(void)a7_tree_problem(a, t, rp, PR_A7_TREE_ITEMS,
			    a7_page_off((uint32_t)ip), r->slot, msg, 0, 0);
			return 0;
		}
		ip = (int32_t)rd_be32(&pr);
		cnt = rd_be32(&pr);
		if (cnt > A7_ITEMS_MAX) {
			(void)a7_tree_problem(a, t, rp, PR_A7_TREE_COUNT,
			    a7_page_off((uint32_t)cur), (uint64_t)cur,
			    NULL, cnt, A7_ITEMS_MAX);
			return 0;
		}
		for (i = 0; i < cnt; i++) {
			if ((rc = a7_item_add(t, (size_t)(pr.p - t->buf) +
			    pr.off)) != 0)
				return rc;
			rd_skip(&pr, 16);
		}
		total += cnt;
	}
	r->nitem = t->nitems - r->item0;
	if (total != r->nitems) {
		snprintf(msg, sizeof(msg), "item pages hold %llu items, the "
		    "record says %u", (unsigned long long)total,
		    (unsigned)r->nitems);
		(void)a7_tree_problem(a, t, rp, PR_A7_TREE_ITEMS, r->off,
		    r->slot, msg, 0, 0);
	}
	return 0;
}

static bool
a7_key_out(const uint8_t *k, const uint8_t *lo, const uint8_t *hi)
{
	return (lo != NULL && memcmp(k, lo, 16) < 0) ||
	    (hi != NULL && memcmp(k, hi, 16) >= 0);
}

static int
a7_tree_visit(struct a7 *a, struct a7_tree *t, struct report *rp,
    int32_t p, int depth, const uint8_t *lo, const uint8_t *hi,
    size_t from)
{
	const uint8_t	*key, *prevkey = NULL;
	struct rd	 pr;
	size_t		 po, rsz, i;
	uint32_t	 cnt, fit;
	uint8_t		 kind, sum;
	int		 rc;

	if (p < 0 || (uint32_t)p >= t->npages) {
		(void)a7_tree_problem(a, t, rp, PR_A7_TREE_PAGE_RANGE, from,
		    (uint64_t)(int64_t)p, a7_slot_names[t->slot], 0,
		    t->npages);
		return 0;
	}
	po = a7_page_off((uint32_t)p);
	if (t->pst[p] != PS_UNSEEN) {
		(void)a7_tree_problem(a, t, rp, PR_A7_TREE_PAGE_TWICE, po,
		    (uint64_t)p, NULL, 0, 0);
		return 0;
	}
	t->pst[p] = PS_NODE;
	if (depth >= A7_MAX_DEPTH) {
		(void)a7_tree_problem(a, t, rp, PR_A7_TREE_TOO_DEEP, po,
		    (uint64_t)p, NULL, 0, A7_MAX_DEPTH);
		return 0;
	}
	rd_init(&pr, t->buf + po, A7_DATA);
	kind = rd_u8(&pr);			/* node header: kind */
	(void)rd_be32(&pr);			/* next: not reliable */
	cnt = rd_be32(&pr);			/* entry count */
	if ((depth == 0 && kind != 'S' && kind != 'R') ||
	    (depth > 0 && kind != 'L' && kind != 'F')) {
		(void)a7_tree_problem(a, t, rp, PR_A7_TREE_NODE_KIND, po,
		    (uint64_t)p, NULL, kind, 0);
		return 0;
	}
	if (kind == 'S' || kind == 'L') {
		rsz = 4 + 16 + (size_t)t->vsize + 1;
		fit = (uint32_t)((A7_DATA - A7_NODE_HDR) / rsz);
		if (fit > t->order)
			fit = t->order;
		if (cnt > fit) {
			(void)a7_tree_problem(a, t, rp, PR_A7_TREE_COUNT, po,
			    (uint64_t)p, NULL, cnt, fit);
			return 0;
		}
		if (t->leaf_depth < 0)
			t->leaf_depth = depth;
		else if (t->leaf_depth != depth)
			(void)a7_tree_problem(a, t, rp, PR_A7_TREE_DEPTH, po,
			    (uint64_t)p, NULL, (uint64_t)depth,
			    (uint64_t)t->leaf_depth);
		for (i = 0; i < cnt; i++) {
			struct a7_rec	r = { .page = (uint32_t)p,
			    .slot = (uint32_t)i };
			const uint8_t	*rb;
			int32_t		 pg;
			size_t		 j;

			r.off = po + A7_NODE_HDR + i * rsz;
			rb = rd_ptr(&pr, rsz);
			if (rb == NULL)
				return rd_end(&pr);
			pg = (int32_t)be32_at(rb);
			key = rb + 4;
			for (sum = 0, j = 4; j < rsz - 1; j++)
				sum = (uint8_t)(sum + rb[j]);
			if (prevkey != NULL && memcmp(key, prevkey, 16) <= 0)
				(void)a7_tree_problem(a, t, rp,
				    PR_A7_TREE_KEY_ORDER, r.off, (uint64_t)p,
				    NULL, i, 0);
			else if (a7_key_out(key, lo, hi))
				(void)a7_tree_problem(a, t, rp,
				    PR_A7_TREE_KEY_RANGE, r.off, (uint64_t)p,
				    NULL, i, 0);
			prevkey = key;
			if (rb[rsz - 1] != sum) {
				char	slot[16];

				snprintf(slot, sizeof(slot), "%zu", i);
				r.fix_sum = a7_tree_problem(a, t, rp,
				    PR_A7_TREE_CHECKSUM, r.off, (uint64_t)p,
				    slot, rb[rsz - 1], sum);
			}
			if (t->kind == 'S' && pg != -1)
				(void)a7_tree_problem(a, t, rp,
				    PR_A7_TREE_RECORD_PAGE, r.off,
				    (uint64_t)p, NULL, i, 0);
			if (t->kind == 'M')
				r.nitems = be32_at(rb + 20);
			if ((rc = a7_rec_add(t, &r)) != 0)
				return rc;
			if (t->kind == 'M' && (rc = a7_tree_items(a, t, rp,
			    &t->recs[t->nrecs - 1], pg)) != 0)
				return rc;
		}
		return 0;
	}
	fit = (A7_DATA - A7_NODE_HDR) / A7_REF;
	if (fit > t->ref_order)
		fit = t->ref_order;
	if (cnt > fit) {
		(void)a7_tree_problem(a, t, rp, PR_A7_TREE_COUNT, po,
		    (uint64_t)p, NULL, cnt, fit);
		return 0;
	}
	for (i = 0; i < cnt; i++) {
		const uint8_t	*rb = rd_ptr(&pr, A7_REF);
		const uint8_t	*nk;
		int32_t		 child;

		if (rb == NULL)
			return rd_end(&pr);
		key = rb + 8;
		if (prevkey != NULL && memcmp(key, prevkey, 16) <= 0) {
			(void)a7_tree_problem(a, t, rp, PR_A7_TREE_KEY_ORDER,
			    po + A7_NODE_HDR + i * A7_REF, (uint64_t)p, NULL,
			    i, 0);
			return 0;
		}
		if (a7_key_out(key, lo, hi))
			(void)a7_tree_problem(a, t, rp, PR_A7_TREE_KEY_RANGE,
			    po + A7_NODE_HDR + i * A7_REF, (uint64_t)p, NULL,
			    i, 0);
		prevkey = key;
		/* §7: child 0 = r0.before, child i+1 = ri.after. */
		if (i == 0) {
			child = (int32_t)be32_at(rb);
			if ((rc = a7_tree_visit(a, t, rp, child, depth + 1,
			    lo, key, po)) != 0)
				return rc;
		}
		nk = i + 1 < cnt ? rb + A7_REF + 8 : hi;
		if (i + 1 < cnt && memcmp(nk, key, 16) <= 0)
			nk = hi;
		child = (int32_t)be32_at(rb + 4);
		if ((rc = a7_tree_visit(a, t, rp, child, depth + 1, key, nk,
		    po)) != 0)
			return rc;
	}
	return 0;
}

/* Load the stream bytes of tree t along the walked chain of slot. */
static int
a7_tree_load(struct img *img, struct a7 *a, struct a7_tree *t,
    struct report *rp)
{
	struct a7_stream	*st = &a->st[t->slot];
	uint8_t			 plain[A7_PLAIN];
	uint32_t		 k;
	int32_t			 b;
	int			 rc;

	if (st->wcount > A7_MAX_TREE_BLOCKS) {
		struct pr_ctx	pc = { .str = a7_slot_names[t->slot],
		    .found = st->wcount, .want = A7_MAX_TREE_BLOCKS };

		(void)report_problem(rp, PR_A7_TREE_LIMIT, &pc);
		return -IMG_ELIMIT;
	}
	t->nchain = st->wcount;
	t->chain = calloc(t->nchain + 1, sizeof(*t->chain));
	t->buf = calloc((size_t)t->nchain + 1, A7_DATA);
	if (t->chain == NULL || t->buf == NULL)
		return -ENOMEM;
	b = st->begin;
	for (k = 0; k < t->nchain; k++) {
		if (b < 1 || (uint64_t)b >= a->nblocks ||
		    a->blk[b].owner != t->slot)
			return -IMG_ECHECK;	/* our own walk disagrees */
		t->chain[k] = b;
		if ((rc = a7_blk_read(img, (uint64_t)b, plain)) < 0)
			return rc;
		if (rc == 0)
			memcpy(t->buf + (size_t)k * A7_DATA, plain + A7_HDR,
			    A7_DATA);
		b = a->blk[b].next;
	}
	/*
	 * The record's length when it fits the chain; the chain's own
	 * size when the record is stale or missing (§4.4).
	 */
	if (!st->norec && st->count == st->wcount && st->end == st->wend &&
	    st->length <= (uint64_t)st->wcount * A7_DATA)
		t->len = (size_t)st->length;
	else
		t->len = t->nchain >= 2 ? A7_THDR + (size_t)(t->nchain - 1) *
		    A7_DATA : (size_t)t->nchain * A7_DATA;
	return 0;
}

int
a7_tree_read(struct img *img, struct a7 *a, int slot, struct report *rp)
{
	struct a7_tree	*t = &a->tree[slot];
	struct rd	 r;
	const char	*bad = NULL;
	uint64_t	 found = 0, want = 0;
	uint32_t	 p;
	int32_t		 fp;
	int		 rc;

	t->slot = slot;
	t->leaf_depth = -1;
	if (a->st[slot].wcount == 0)
		return 0;
	if ((rc = a7_tree_load(img, a, t, rp)) != 0)
		return rc == -IMG_ELIMIT ? 0 : rc;
	/* §7 / §9 rule 10: length = 21 + P * 4008, P >= 1. */
	if (t->len < A7_THDR + A7_DATA || (t->len - A7_THDR) % A7_DATA != 0)
		(void)a7_tree_problem(a, t, rp, PR_A7_TREE_LENGTH, 0, 0,
		    a7_slot_names[slot], t->len, 0);
	if (t->len < A7_THDR + A7_DATA)
		return 0;
	t->npages = (uint32_t)((t->len - A7_THDR) / A7_DATA);
	rd_init(&r, t->buf, A7_THDR);
	t->kind = rd_u8(&r);				/* 0: kind */
	t->root = (int32_t)rd_be32(&r);			/* 1: root */
	t->free = (int32_t)rd_be32(&r);			/* 5: free page */
	t->order = rd_be32(&r);				/* 9: order */
	t->ref_order = rd_be32(&r);			/* 13: ref_order */
	t->vsize = rd_be32(&r);				/* 17: value size */
	if ((rc = rd_end(&r)) != 0)
		return rc;
	if (t->kind != a7_tree_params[slot].kind)
		bad = "kind", found = t->kind,
		    want = a7_tree_params[slot].kind;
	else if (t->order != a7_tree_params[slot].order)
		bad = "order", found = t->order,
		    want = a7_tree_params[slot].order;
	else if (t->ref_order != a7_tree_params[slot].ref_order)
		bad = "ref_order", found = t->ref_order,
		    want = a7_tree_params[slot].ref_order;
	else if (t->vsize != a7_tree_params[slot].vsize)
		bad = "value_size", found = t->vsize,
		    want = a7_tree_params[slot].vsize;
	if (bad != NULL) {
		(void)a7_tree_problem(a, t, rp, PR_A7_TREE_HEADER, 0, 0, bad,
		    found, want);
		return 0;
	}
	if ((t->pst = calloc(t->npages, 1)) == NULL)
		return -ENOMEM;
	if (t->root < 0 || (uint32_t)t->root >= t->npages) {
		(void)a7_tree_problem(a, t, rp, PR_A7_TREE_PAGE_RANGE, 0,
		    (uint64_t)(int64_t)t->root, a7_slot_names[slot], 0,
		    t->npages);
		return 0;
	}
	if ((rc = a7_tree_visit(a, t, rp, t->root, 0, NULL, NULL, 0)) != 0)
		return rc;
	t->ok = true;
	/* §9 rule 12: the free list holds only E pages, once each. */
	for (p = 0, fp = t->free; fp != -1 && p <= t->npages; p++) {
		struct rd	fr;

		if (fp < 0 || (uint32_t)fp >= t->npages) {
			(void)a7_tree_problem(a, t, rp, PR_A7_TREE_FREE_LIST,
			    0, (uint64_t)(int64_t)fp, "out of range", 0, 0);
			break;
		}
		if (t->pst[fp] != PS_UNSEEN) {
			(void)a7_tree_problem(a, t, rp, PR_A7_TREE_FREE_LIST,
			    a7_page_off((uint32_t)fp), (uint64_t)fp,
			    "also in use or listed twice", 0, 0);
			break;
		}
		rd_init(&fr, t->buf + a7_page_off((uint32_t)fp), A7_DATA);
		if (rd_u8(&fr) != 'E') {
			(void)a7_tree_problem(a, t, rp, PR_A7_TREE_FREE_LIST,
			    a7_page_off((uint32_t)fp), (uint64_t)fp,
			    "not a free (E) page", 0, 0);
			break;
		}
		t->pst[fp] = PS_FREE;
		fp = (int32_t)rd_be32(&fr);
	}
	/* §9 rule 13: unreachable pages are an upstream leak. */
	for (p = 0; p < t->npages; p++)
		if (t->pst[p] == PS_UNSEEN)
			(void)a7_tree_problem(a, t, rp, PR_A7_TREE_LEAK,
			    a7_page_off(p), p, NULL, 0, 0);
	return 0;
}
