/* SPDX-License-Identifier: MIT */
/*
 * a7_chain.c --- walk stream chains, compare them with their records,
 * and find blocks no chain owns (§6, §9 rules 6-9).
 *
 * A walk starts at the record's begin and follows next until -1.  It
 * stops before a block it cannot trust: out of range, unreadable, already
 * owned by this chain (cycle) or another (cross-link), blank (half-done
 * append) or carrying another stream's id.  Every block it accepts gets
 * the stream as owner, so no block is walked twice and every walk ends
 * within the block count.  Only afterwards is the walk compared with the
 * record, so a stale record shows as such and not as broken links.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "a7/a7.h"
#include "core/banned.h"

int
a7_stream_add(struct a7 *a, const uint8_t *id, long *idx)
{
	struct a7_stream	*ns;
	size_t			 cap;

	if (a->nst == a->capst) {
		cap = a->capst == 0 ? 16 : a->capst * 2;
		if ((ns = reallocarray(a->st, cap, sizeof(*ns))) == NULL)
			return -ENOMEM;
		a->st = ns;
		a->capst = cap;
	}
	ns = &a->st[a->nst];
	memset(ns, 0, sizeof(*ns));
	memcpy(ns->id, id, 16);
	ns->slot = -1;
	ns->begin = ns->end = ns->wend = -1;
	ns->rec_block = 0;
	ns->entry = -1;
	*idx = (long)a->nst++;
	return 0;
}

/* Report a problem of stream s at block b (or at its record if b < 0). */
static bool
a7_chain_problem(struct img *img, struct a7 *a, struct report *rp,
    enum pr_id id, size_t s, int64_t b, uint64_t found, uint64_t want)
{
	struct a7_stream	*st = &a->st[s];
	char			 where[512], name[64];
	struct pr_ctx		 pc = { .found = found, .want = want,
	    .path = where, .str = name, .flags = PC_HOST, .len = A7_BLOCK };
	int64_t			 hb = b;

	if (hb < 0 || (uint64_t)hb * A7_BLOCK >= img->size)
		hb = st->rec_block;
	pc.off = (uint64_t)hb * A7_BLOCK;
	pc.idx = b >= 0 ? (uint64_t)b : (uint64_t)hb;
	a7_stream_name(a, s, name, sizeof(name));
	a7_where(a, where, sizeof(where), hb, (long)s);
	/* The bytes of the stream from where the walk stopped. */
	if (st->slot < 0 && id != PR_A7_BEGIN_RANGE &&
	    (uint64_t)st->wcount * A7_DATA < st->length) {
		pc.flags |= PC_GUEST;
		pc.goff = (uint64_t)st->wcount * A7_DATA;
		pc.glen = st->length - pc.goff;
	} else if (st->slot < 0 && id == PR_A7_BEGIN_RANGE) {
		pc.flags |= PC_GUEST;
		pc.glen = st->length;
	}
	return report_problem(rp, id, &pc);
}

/* Like a7_chain_problem() with the guest range of chain index k. */
static bool
a7_block_in_stream(struct a7 *a, struct report *rp, enum pr_id id,
    size_t s, uint64_t b, uint32_t k, uint64_t found, uint64_t want)
{
	struct a7_stream	*st = &a->st[s];
	char			 where[512];
	struct pr_ctx		 pc = { .off = b * A7_BLOCK, .len = A7_BLOCK,
	    .idx = b, .found = found, .want = want, .path = where,
	    .flags = PC_HOST };
	uint64_t		 goff = (uint64_t)k * A7_DATA;

	if (st->slot < 0 && goff < st->length) {
		pc.flags |= PC_GUEST;
		pc.goff = goff;
		pc.glen = st->length - goff < A7_DATA ? st->length - goff :
		    A7_DATA;
	}
	a7_where(a, where, sizeof(where), (int64_t)b, (long)s);
	return report_problem(rp, id, &pc);
}

void
a7_chain_walk(struct img *img, struct a7 *a, size_t s, struct report *rp)
{
	struct a7_stream	*st = &a->st[s];
	struct a7_blk		*bk;
	int64_t			 b, prev = -1, last = -1, nx;
	uint32_t		 k = 0;
	enum pr_id		 stop = PR_COUNT;

	st->walked = true;
	b = st->begin;
	if (b < 1 || (uint64_t)b >= a->nblocks) {
		st->fix_cut = a7_chain_problem(img, a, rp, PR_A7_BEGIN_RANGE,
		    s, b, (uint64_t)b, a->nblocks);
		st->broken = true;
		st->wend = -1;
		st->wcount = 0;
		return;
	}
	for (;;) {
		bk = &a->blk[b];
		if (bk->owner == (int32_t)s)
			stop = PR_A7_CYCLE;
		else if (bk->owner != A7_OWN_NONE)
			stop = PR_A7_CROSS_LINK;
		else if (bk->st != A7_BS_OK)
			stop = PR_A7_CHAIN_UNREADABLE;
		else if (k > 0 && (bk->flags & A7_BF_BLANK))
			stop = PR_A7_HALF_APPEND;
		else if (memcmp(bk->sid, st->id, 16) != 0)
			stop = PR_A7_CROSS_LINK;
		if (stop != PR_COUNT) {
			st->wcount = k;
			if (a7_chain_problem(img, a, rp, stop, s, b, 0, 0))
				st->fix_cut = true;
			st->broken = true;
			break;
		}
		if (bk->prev != prev && a7_block_in_stream(a, rp,
		    PR_A7_PREV_MISMATCH, s, (uint64_t)b, k,
		    (uint64_t)(int64_t)bk->prev, (uint64_t)prev))
			bk->flags |= A7_BF_FIX_HDR;
		if (bk->index != k && a7_block_in_stream(a, rp,
		    PR_A7_INDEX_MISMATCH, s, (uint64_t)b, k, bk->index, k))
			bk->flags |= A7_BF_FIX_HDR;
		bk->owner = (int32_t)s;
		k++;
		last = b;
		nx = bk->next;
		if (nx == -1)
			break;
		if (nx == b || nx < -1 || nx >= (int64_t)a->nblocks) {
			/* a7_blocks_report() reports it; the chain ends. */
			st->broken = true;
			break;
		}
		prev = b;
		b = nx;
	}
	st->wend = (int32_t)last;
	st->wcount = k;
}

void
a7_chain_compare(struct a7 *a, size_t s, struct report *rp)
{
	struct a7_stream	*st = &a->st[s];
	struct img		*img = NULL;
	uint64_t		 cap = (uint64_t)st->wcount * A7_DATA;
	char			 where[512], name[64];
	struct pr_ctx		 pc = { .len = A7_BLOCK, .flags = PC_HOST,
	    .path = where, .str = name };
	int64_t			 hb = st->wend >= 0 ? st->wend : st->rec_block;

	(void)img;
	if (st->norec || st->wcount == 0)
		return;
	pc.off = (uint64_t)hb * A7_BLOCK;
	pc.idx = (uint64_t)hb;
	a7_stream_name(a, s, name, sizeof(name));
	a7_where(a, where, sizeof(where), hb, (long)s);
	if (st->slot < 0 && st->length > cap) {
		pc.flags |= PC_GUEST;
		pc.goff = cap;
		pc.glen = st->length - cap;
	}
	if (st->slot >= 0 && !st->broken && (st->wend != st->end ||
	    st->wcount != st->count)) {
		/* §4.4: block 0 lags behind the chains after a crash. */
		pc.found = st->wcount;
		pc.want = st->count;
		if (report_problem(rp, PR_A7_STALE_META, &pc))
			a->fix_meta = true;
		a->meta_stale = true;
	} else {
		if (st->wend != st->end) {
			pc.found = (uint64_t)(int64_t)st->wend;
			pc.want = (uint64_t)(int64_t)st->end;
			if (report_problem(rp, PR_A7_END_MISMATCH, &pc))
				st->slot >= 0 ? (void)(a->fix_meta = true) :
				    (void)(st->fix_rec = true);
		}
		if (st->wcount != st->count) {
			pc.found = st->wcount;
			pc.want = st->count;
			if (report_problem(rp, PR_A7_COUNT_MISMATCH, &pc))
				st->slot >= 0 ? (void)(a->fix_meta = true) :
				    (void)(st->fix_rec = true);
		}
	}
	if (st->slot != 0 && st->length > cap) {
		pc.found = st->length;
		pc.want = cap;
		if (report_problem(rp, PR_A7_LENGTH_EXCEEDS, &pc))
			st->slot >= 0 ? (void)(a->fix_meta = true) :
			    (void)(st->fix_rec = true);
	} else if (st->slot != 0 && st->wcount > st->length / A7_DATA + 1) {
		pc.found = st->wcount;
		pc.want = st->length / A7_DATA + 1;
		(void)report_problem(rp, PR_A7_COUNT_SLACK, &pc);
	}
}

int32_t
a7_chain_nth(const struct a7 *a, size_t s, uint32_t k)
{
	const struct a7_stream	*st = &a->st[s];
	int64_t			 b = st->begin;
	uint32_t		 i;

	if (k >= st->wcount || b < 1 || (uint64_t)b >= a->nblocks)
		return -1;
	for (i = 0; i < k; i++) {
		b = a->blk[b].next;
		if (b < 1 || (uint64_t)b >= a->nblocks ||
		    a->blk[b].owner != (int32_t)s)
			return -1;
	}
	return (int32_t)b;
}

/* The stream whose id is sid, special or registered; -1 if none. */
static long
a7_stream_by_sid(const struct a7 *a, const uint8_t *sid)
{
	unsigned	n;
	uint8_t		id[16];

	for (n = 0; n < A7_NSPECIAL && n < a->nst; n++) {
		a7_uuid_n(id, n);
		if (memcmp(id, sid, 16) == 0)
			return (long)n;
	}
	return a7_stream_find(a, sid);
}

void
a7_orphans(struct img *img, struct a7 *a, struct report *rp)
{
	struct a7_blk	*bk;
	uint64_t	 b;
	long		 s;
	char		 where[512], name[64];

	(void)img;
	for (b = 1; b < a->nblocks; b++) {
		struct pr_ctx	pc = { .off = b * A7_BLOCK, .len = A7_BLOCK,
		    .idx = b, .path = where, .str = name, .flags = PC_HOST };

		bk = &a->blk[b];
		if (bk->owner != A7_OWN_NONE)
			continue;
		if (bk->st != A7_BS_OK) {
			/* Reported as undecryptable; a repair blanks it. */
			if (bk->flags & A7_BF_FIX_BLANK)
				bk->flags |= A7_BF_FIX_TRASH;
			continue;
		}
		a7_where(a, where, sizeof(where), (int64_t)b, -1);
		a7_uuid_str(bk->sid, name, sizeof(name));
		if (bk->flags & A7_BF_BLANK) {
			if (report_problem(rp, PR_A7_ORPHAN_BLANK, &pc))
				bk->flags |= A7_BF_FIX_TRASH;
			continue;
		}
		s = a7_stream_by_sid(a, bk->sid);
		if (s >= 0 && a->st[s].wcount > 0 && !a->st[s].broken &&
		    bk->prev == a->st[s].wend &&
		    bk->index == a->st[s].wcount && bk->next == -1) {
			/* §10: the second write of a removal never came. */
			a7_stream_name(a, (size_t)s, name, sizeof(name));
			if (report_problem(rp, PR_A7_HALF_REMOVAL, &pc))
				bk->flags |= A7_BF_FIX_TRASH | A7_BF_FIX_BLANK;
			continue;
		}
		pc.found = bk->index;
		if (report_problem(rp, PR_A7_ORPHAN_DATA, &pc))
			bk->flags |= A7_BF_FIX_TRASH;
	}
}
