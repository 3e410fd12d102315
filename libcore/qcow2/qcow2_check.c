/* SPDX-License-Identifier: MIT */
/*
 * qcow2_check.c --- the qcow2 consistency check, with qemu-img's counters.
 *
 * Theory of operation.  We count every reference from the header, the
 * active L1/L2 tables, each snapshot's tables, the snapshot table, the
 * refcount table, the LUKS header, the bitmaps and the refcount blocks,
 * in QEMU's order (spec 4.2), into a compact per-cluster array.  Then we
 * compare with the refcounts on disk (4.5).  More on disk is a leak (space
 * lost, data safe); fewer is a corruption (a live cluster may be handed
 * out again).  The COPIED flags of the active tables are checked against
 * the stored refcounts during the same walk, which for a read-only check
 * gives the same answers as QEMU's separate pass (4.8).
 *
 * Speed: L2 tables are read in large sequential reads (offsets sorted,
 * runs of adjacent tables coalesced), and stored refcounts come through a
 * window over runs of adjacent refcount blocks, so a 1 TiB image needs a
 * few hundred reads, not millions.  Memory is two bytes per host cluster
 * plus one window and one batch buffer.
 *
 * Guest ranges for refcount findings need the reverse map (host cluster
 * to guest offset); we build it only for the mismatched clusters, with a
 * second walk of the active tables, and only when there are some.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qcow2/qcow2.h"
#include "core/banned.h"

#define QCOW2_RBWIN_BYTES	(1ULL << 20)	/* refcount block window */
#define QCOW2_RB_AHEAD		64		/* blocks named ahead, cold */
#define QCOW2_RBPT_BYTES	512		/* a lone refcount's piece */
#define QCOW2_MISMATCH_KEEP	65536		/* reverse-mapped at most */

struct rbwin {
	uint64_t	 t0, t1;	/* reftable indices [t0, t1) held */
	const uint8_t	*p;		/* the blocks: view or buf */
	uint8_t		*buf;
	struct img_view	 v;
	uint64_t	 used;		/* LRU stamp */
};

struct mismatch {
	uint64_t	k;		/* host cluster */
	uint64_t	r1, r2;		/* stored, computed */
	uint64_t	goff, glen;
	bool		has_guest;
	const char	*what;		/* what uses it, if known */
};


struct ck {
	uint64_t		 rb_ahead;	/* refcount blocks advised */
	uint8_t			 pt[QCOW2_RBPT_BYTES];	/* stored_point() */
	uint64_t		 pt_off;
	bool			 pt_ok;
	/* A refcount block of 16-bit ones, and counters of one, to compare. */
	uint8_t			*ones16;
	uint8_t			*ones8;
	size_t			 ones_len;	/* bytes of ones16 */
	struct img		*img;
	struct qcow2		*q;
	struct report		*rp;
	struct qcow2_counts	*cnt;
	uint64_t		 file_len;
	struct rbwin		 win[2];
	uint64_t		 tick;
	struct qcow2_snaptab	 snaps;
	struct mismatch		*mm;
	size_t			 nmm;
	char			 l1name[112];	/* "active L1" / "snapshot ..." */
	bool			 hard;		/* a hard failure was seen */
	/*
	 * COPIED summary, two bits per host cluster: an active L2 entry
	 * with COPIED set (bit 0) or clear (bit 1) points here.  Compared
	 * with the stored refcounts in the compare pass; only clusters that
	 * disagree get the exact per-entry check of a second walk.
	 */
	uint8_t			*cf;
	uint64_t		 cf_n;
	bool			 cf_any;
	bool			 recheck;	/* the second walk */
	/*
	 * How many L1 entries name the table being walked.  QEMU walks a
	 * shared table once per entry; we walk it once and count everything
	 * it finds that many times, so 100000 entries naming one table cost
	 * one walk, with the same counters.
	 */
	uint64_t		 mult;
	/* The host map's visitor: every reference, with what and whose. */
	const struct qcow2_claims *cl;
	/*
	 * A repair step (NULL for a check): fixes the check has permission
	 * for go to fx.  add_ref() reports a reference past the end of the
	 * file with pe_flags (PC_NOFIX unless the caller can drop it) and
	 * sets pe_fix when it may be dropped.
	 */
	struct qcow2_fix	*fx;
	unsigned		 pe_flags;
	bool			 pe_fix;
	int			 fx_err;	/* a hook failed */
	/*
	 * The table being walked overlaps other live metadata (the header,
	 * the refcount table, the active L1 table, the snapshot table, the
	 * bitmap directory): a repair writes nothing into it, and says so
	 * once (nofix_at, its offset; nofix_said).
	 */
	bool			 nofix;
	uint64_t		 nofix_at;
	bool			 nofix_said;
};

static inline void
cf_mark(struct ck *ck, uint64_t k, bool copied)
{
	ck->cf[k / 4] |= (uint8_t)((copied ? 1U : 2U) << (2 * (k % 4)));
}

static inline unsigned
cf_get(const struct ck *ck, uint64_t k)
{
	return (ck->cf[k / 4] >> (2 * (k % 4))) & 3U;
}

/*
 * A structure path built only when a finding needs it: the walk passes
 * through millions of entries and nearly all of them are fine.
 */
struct lpath {
	const char	*fixed;		/* a constant path, or NULL */
	const char	*l1name;	/* else: L1[l1idx] -> L2 @l2off [i] */
	uint32_t	 l1idx;
	uint64_t	 l2off;
	uint64_t	 i;
	bool		 l1only;	/* just L1[l1idx] */
	bool		 built;
	char		 buf[192];
};

#define LP(s)	(&(struct lpath){ .fixed = (s) })

static const char *
lpath_str(struct lpath *lp)
{
	if (lp->fixed != NULL)
		return lp->fixed;
	if (!lp->built && lp->l1only)
		snprintf(lp->buf, sizeof(lp->buf), "%s[%" PRIu32 "]",
		    lp->l1name, lp->l1idx);
	else if (!lp->built)
		snprintf(lp->buf, sizeof(lp->buf), "%s[%" PRIu32 "] -> L2 @0x%"
		    PRIx64 " [%" PRIu64 "]", lp->l1name, lp->l1idx, lp->l2off,
		    lp->i);
	lp->built = true;
	return lp->buf;
}

/* Count a finding n - 1 more times: once per walk QEMU would make. */
static void
count_more(struct ck *ck, enum pr_id id, uint64_t n)
{
	const struct pr_info	*pi = pr_info_get(id);

	if (n <= 1 || pi == NULL)
		return;
	if (pi->sev == PR_SEV_CORRUPT)
		ck->rp->c.corruptions += n - 1;
	else if (pi->sev == PR_SEV_LEAK)
		ck->rp->c.leaks += n - 1;
	else if (pi->sev == PR_SEV_FATAL)
		ck->rp->c.check_errors += n - 1;
}

/* A repair's structure or COPIED step leaves a fix undone: say why. */
static void
refused(struct ck *ck, const char *why, const char *path)
{
	struct pr_ctx	pc;

	if (ck->fx == NULL || ck->fx->survey ||
	    ck->fx->phase == QCOW2_FIX_REFCOUNT)
		return;
	memset(&pc, 0, sizeof(pc));
	pc.str = why;
	pc.path = path;
	report_problem(ck->rp, PR_QCOW2_FIX_REFUSED, &pc);
}

/* In a table a repair must not write: the entry is left, said once. */
static void
nofix_say(struct ck *ck, enum pr_id id, struct pr_ctx *pc, const char *path)
{
	const struct pr_info	*pi = pr_info_get(id);
	char			 why[160];

	pc->flags |= PC_NOFIX;
	if (ck->nofix_said || pi == NULL || pi->fix == PR_FIX_NONE)
		return;
	ck->nofix_said = true;
	snprintf(why, sizeof(why), "the table at 0x%" PRIx64 " shares its "
	    "host cluster with other metadata: its entries are not written",
	    ck->nofix_at);
	refused(ck, why, path);
}

/*
 * report_problem() with the path filled in from lp; true when the fix
 * may be made now.
 */
static bool
rep(struct ck *ck, enum pr_id id, struct pr_ctx *pc, struct lpath *lp)
{
	bool	fix;

	pc->path = lpath_str(lp);
	if (ck->fx != NULL && ck->nofix)
		nofix_say(ck, id, pc, pc->path);
	fix = report_problem(ck->rp, id, pc);
	if (!(pc->flags & PC_NOCOUNT))
		count_more(ck, id, ck->mult);
	return fix;
}

/* In a repair's structure step, with permission: count the fix. */
static bool
fixing(struct ck *ck, bool fix, enum pr_id id)
{
	if (!fix || !qcow2_fixing(ck->fx, QCOW2_FIX_STRUCT))
		return false;
	qcow2_fix_count(ck->fx, id, ck->mult);
	return true;
}

/* ---- stored refcounts ------------------------------------------------- */

/* Load the window holding reftable index t (and adjacent blocks). */
static int
rbwin_load(struct ck *ck, struct rbwin *w, uint64_t t)
{
	struct qcow2	*q = ck->q;
	uint64_t	 off = q->reftable[t] & QCOW2_REFT_OFFSET_MASK;
	uint64_t	 t1 = t + 1, max = QCOW2_RBWIN_BYTES / q->cs;
	int		 rc;

	if (max == 0)
		max = 1;
	while (t1 < q->reftable_n && t1 - t < max &&
	    (q->reftable[t1] & QCOW2_REFT_OFFSET_MASK) ==
	    off + (t1 - t) * q->cs)
		t1++;
	w->t0 = w->t1 = 0;
	/*
	 * The walk found the cache cold and turned the kernel's readahead
	 * off (small clusters, qcow2_walk.c): name the next blocks instead.
	 */
	if (ck->img->scattered) {
		if (ck->rb_ahead < t1)
			ck->rb_ahead = t1;
		for (; ck->rb_ahead < q->reftable_n && ck->rb_ahead < t1 +
		    QCOW2_RB_AHEAD; ck->rb_ahead++)
			if ((q->reftable[ck->rb_ahead] & QCOW2_REFT_RESERVED) ==
			    0 && q->reftable[ck->rb_ahead] != 0)
				img_willneed(ck->img, q->reftable[ck->rb_ahead] &
				    QCOW2_REFT_OFFSET_MASK, q->cs);
	}
	/* Blocks inside the file are viewed; others read, zeros past EOF. */
	if (img_view(ck->img, off, (size_t)((t1 - t) * q->cs), &w->v) == 0)
		w->p = w->v.p;
	else {
		if (w->buf == NULL &&
		    (w->buf = malloc((size_t)(max * q->cs))) == NULL)
			return -ENOMEM;
		if ((rc = img_pread_zf(ck->img, off, w->buf,
		    (size_t)((t1 - t) * q->cs), NULL)) != 0)
			return rc;
		w->p = w->buf;
	}
	w->t0 = t;
	w->t1 = t1;
	return 0;
}

/* Point *p at refcount block t (its table entry is non-zero, aligned). */
static int
rbwin_ptr(struct ck *ck, uint64_t t, const uint8_t **p)
{
	struct rbwin	*w;
	int		 i, rc;

	for (i = 0; i < 2; i++) {
		w = &ck->win[i];
		if (t >= w->t0 && t < w->t1)
			goto hit;
	}
	w = ck->win[0].used <= ck->win[1].used ? &ck->win[0] : &ck->win[1];
	if ((rc = rbwin_load(ck, w, t)) != 0)
		return rc;
hit:
	w->used = ++ck->tick;
	*p = w->p + (t - w->t0) * ck->q->cs;
	return 0;
}

/*
 * One refcount from the piece of its block around it (QCOW2_RBPT_BYTES):
 * the L1 phase asks for one count per L2 table, tables far apart, and a
 * whole block per question would read the refcount blocks twice.
 */
static int
stored_point(struct ck *ck, uint64_t off, uint64_t i, uint64_t *val)
{
	struct qcow2	*q = ck->q;
	uint64_t	 bit = i << q->h.refcount_order, at, len;
	int		 rc;

	len = q->cs < QCOW2_RBPT_BYTES ? q->cs : QCOW2_RBPT_BYTES;
	at = off + (bit / 8 / len) * len;
	if (!ck->pt_ok || ck->pt_off != at) {
		ck->pt_ok = false;
		if ((rc = img_pread_zf(ck->img, at, ck->pt, (size_t)len,
		    NULL)) != 0)
			return rc;
		ck->pt_off = at;
		ck->pt_ok = true;
	}
	/* The index within the piece: the piece is whole entries. */
	*val = qcow2_rb_get(ck->pt, q->h.refcount_order, i -
	    (((at - off) * 8) >> q->h.refcount_order));
	return 0;
}

/*
 * Stored refcount of cluster k.  -EIO when its refcount block is not
 * cluster aligned (QEMU cannot read it either); other errors are I/O.
 * point: a lookup far from the last, read alone (stored_point()).
 */
static int
stored_get_at(struct ck *ck, uint64_t k, uint64_t *val, bool point)
{
	struct qcow2	*q = ck->q;
	const uint8_t	*rb;
	uint64_t	 t = k >> q->rb_bits, e, off;
	int		 rc;

	if (t >= q->reftable_n) {
		*val = 0;
		return 0;
	}
	e = q->reftable[t];
	off = e & QCOW2_REFT_OFFSET_MASK;
	if (off == 0) {
		*val = 0;
		return 0;
	}
	if ((off & (q->cs - 1)) != 0)
		return -EIO;
	if (point && (t < ck->win[0].t0 || t >= ck->win[0].t1) &&
	    (t < ck->win[1].t0 || t >= ck->win[1].t1))
		return stored_point(ck, off, k & ((1ULL << q->rb_bits) - 1),
		    val);
	if ((rc = rbwin_ptr(ck, t, &rb)) != 0)
		return rc;
	*val = qcow2_rb_get(rb, q->h.refcount_order,
	    k & ((1ULL << q->rb_bits) - 1));
	return 0;
}

static int
stored_get(struct ck *ck, uint64_t k, uint64_t *val)
{
	return stored_get_at(ck, k, val, false);
}

/* ---- adding references (spec 4.2) ------------------------------------- */

/*
 * Tell the host map what a reference is and whose: the owner names the
 * table holding the entry (not the entry), so a table's clusters merge.
 */
static int
claim(struct ck *ck, uint64_t off, uint64_t len, const char *what,
    struct lpath *lp)
{
	char	owner[160];

	if (lp->fixed != NULL)
		snprintf(owner, sizeof(owner), "%s", lp->fixed);
	else if (lp->l1only)
		snprintf(owner, sizeof(owner), "%s[%" PRIu32 "]", lp->l1name,
		    lp->l1idx);
	else
		snprintf(owner, sizeof(owner), "%s -> L2 @0x%" PRIx64,
		    lp->l1name, lp->l2off);
	return ck->cl->fn(ck->cl->arg, off, len, what, owner);
}

/*
 * Count one reference to [off, off+len).  what/path describe the user
 * for findings; goff/glen the guest range behind it (glen 0: none).
 */
static int
add_ref(struct ck *ck, uint64_t off, uint64_t len, const char *what,
    struct lpath *lp, uint64_t goff, uint64_t glen)
{
	struct qcow2	*q = ck->q;
	struct pr_ctx	 pc;
	uint64_t	 k, last, end, novf;
	bool		 ovf;
	int		 rc;

	if (len == 0)
		return 0;
	if (ck->cl != NULL && !ck->recheck &&
	    (rc = claim(ck, off, len, what, lp)) != 0)
		return rc;
	/* A repair's structure step: what each cluster is used as. */
	if (qcow2_fixing(ck->fx, QCOW2_FIX_STRUCT) && ck->fx->survey &&
	    !ck->recheck && (rc = qcow2_fix_kind(ck->fx, off, len, what,
	    ck->file_len)) != 0)
		return rc;
	/* The common case: inside the file, one cluster, no overflow. */
	if (ck->mult == 1 && off + len <= ck->file_len && len <= q->cs &&
	    (off & (q->cs - 1)) + len <= q->cs) {
		if ((rc = qcow2_counts_inc(ck->cnt, off >> q->h.cluster_bits,
		    &ovf)) != 0 || !ovf)
			return rc;
		/* Undo nothing: an overflowing increment changed no count. */
	}
	memset(&pc, 0, sizeof(pc));
	pc.str = what;
	pc.off = off;
	pc.len = len;
	pc.found = len;
	pc.flags = PC_HOST;
	if (glen != 0) {
		pc.goff = goff;
		pc.glen = glen;
		pc.flags |= PC_GUEST;
	}
	/* QEMU: off + len - file_len >= cs, in signed arithmetic. */
	if (!ck_add_u64(off, len, &end) || (end > ck->file_len &&
	    end - ck->file_len >= q->cs)) {
		pc.flags |= ck->fx != NULL ? ck->pe_flags : 0;
		ck->pe_fix = fixing(ck, rep(ck, PR_QCOW2_REF_PAST_EOF, &pc, lp),
		    PR_QCOW2_REF_PAST_EOF);
		/* What stays must not meet the clusters a repair appends. */
		if (!ck->pe_fix && qcow2_fixing(ck->fx, QCOW2_FIX_STRUCT))
			qcow2_fix_ceiling(ck->fx, off, len, ck->file_len,
			    strcmp(what, "refcount table") == 0 ||
			    (strcmp(what, "snapshot table") == 0 &&
			    ck->fx->snap_rewrite));
		return 0;
	}
	last = (end - 1) >> q->h.cluster_bits;
	for (k = off >> q->h.cluster_bits; k <= last; k++) {
		if (ck->mult == 1 && off + len <= ck->file_len &&
		    len <= q->cs && (off & (q->cs - 1)) + len <= q->cs)
			novf = 1;	/* the short path above overflowed */
		else if ((rc = qcow2_counts_add(ck->cnt, k, ck->mult,
		    &novf)) != 0)
			return rc;
		if (novf == 0)
			continue;
		/* One finding; every failed increment counts, as QEMU's. */
		pc.off = k << q->h.cluster_bits;
		pc.len = q->cs;
		pc.want = q->rc_max;
		pc.flags |= PC_NOCOUNT;
		pc.path = lpath_str(lp);
		if (report_problem(ck->rp, PR_QCOW2_REF_OVERFLOW, &pc) &&
		    qcow2_fixing(ck->fx, QCOW2_FIX_STRUCT) && !ck->fx->survey &&
		    (rc = qcow2_fix_overflow(ck->fx, k, novf)) != 0)
			return rc;
		ck->rp->c.corruptions += novf;
	}
	return 0;
}

/* ---- L1 and L2 tables (spec 4.3) -------------------------------------- */

/*
 * Report a wrong COPIED flag.  In a repair's structure step, remember it
 * (the leaks level fixes COPIED flags the repair itself made wrong); in
 * its COPIED step, fix it where permitted.
 */
static void
copied_fix(struct ck *ck, enum pr_id id, struct pr_ctx *pc, struct lpath *lp,
    uint64_t host, uint64_t e)
{
	bool	fix;
	int	rc = 0;

	if (qcow2_fixing(ck->fx, QCOW2_FIX_COPIED) &&
	    qcow2_fix_copied_leaks_ok(ck->fx, host))
		pc->flags |= PC_LEAKS_OK;
	if (ck->fx != NULL && ck->nofix)
		nofix_say(ck, id, pc, lpath_str(lp));
	fix = rep(ck, id, pc, lp);
	if (qcow2_fixing(ck->fx, QCOW2_FIX_STRUCT))
		rc = qcow2_fix_copied_note(ck->fx, host);
	else if (fix && qcow2_fixing(ck->fx, QCOW2_FIX_COPIED)) {
		qcow2_fix_count(ck->fx, id, ck->mult);
		rc = qcow2_fix_be64(ck->fx, host, e ^ QCOW2_OFLAG_COPIED, id);
	}
	if (rc != 0 && ck->fx_err == 0)
		ck->fx_err = rc;
}

static void
copied_check_data(struct ck *ck, uint64_t e, uint64_t host, uint64_t goff,
    struct lpath *lp)
{
	struct pr_ctx	pc;
	uint64_t	rc1;

	if (ck->q->data_file)
		rc1 = 1;
	else if (stored_get(ck, (e & QCOW2_L2E_OFFSET_MASK) >>
	    ck->q->h.cluster_bits, &rc1) != 0)
		return;
	if ((rc1 == 1) == ((e & QCOW2_OFLAG_COPIED) != 0))
		return;
	memset(&pc, 0, sizeof(pc));
	pc.off = host;
	pc.len = ck->q->l2_entry_size;
	pc.found = e;
	pc.want = rc1;
	pc.goff = goff;
	pc.glen = ck->q->cs;
	pc.flags = PC_HOST | PC_GUEST;
	copied_fix(ck, PR_QCOW2_COPIED_DATA, &pc, lp, host, e);
}

/* Note an active entry's COPIED flag for the compare pass, or check it. */
static inline void
copied_note(struct ck *ck, uint64_t e, uint64_t host, uint64_t goff,
    struct lpath *lp)
{
	uint64_t	k = (e & QCOW2_L2E_OFFSET_MASK) >> ck->q->h.cluster_bits;

	if (!ck->q->data_file && k < ck->cf_n)
		cf_mark(ck, k, (e & QCOW2_OFLAG_COPIED) != 0);
	else
		copied_check_data(ck, e, host, goff, lp);
}

static bool
overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return alen != 0 && blen != 0 && a < b + blen && b < a + alen;
}

/*
 * Does a table at [off, off + len) share bytes with live metadata other
 * than itself (active: it is the active L1 table)?  A repair never
 * writes entries into such a table: they are that metadata's bytes too.
 */
static bool
meta_overlap(const struct ck *ck, uint64_t off, uint64_t len, bool active)
{
	const struct qcow2	*q = ck->q;

	if (ck->fx != NULL && qcow2_fix_clash(ck->fx, off, len))
		return true;
	return overlap(off, len, 0, q->cs) ||
	    overlap(off, len, q->h.refcount_table_offset, q->reftable_n * 8) ||
	    (!active && overlap(off, len, q->h.l1_table_offset,
	    (uint64_t)q->h.l1_size * 8)) ||
	    overlap(off, len, ck->snaps.offset, ck->snaps.bytes) ||
	    (q->has_bitmaps_ext && overlap(off, len, q->bitmap_dir_offset,
	    q->bitmap_dir_size)) ||
	    (q->has_crypto_ext && overlap(off, len, q->crypto_off,
	    q->crypto_len));
}

/*
 * What a repair writes for an entry it drops: a zero cluster where the
 * image can say so (version 3), else an unallocated one.  Returns false
 * when neither keeps what the guest read (data past the end of the file
 * read as zeros; unallocated would read the backing file): the entry
 * then gets a new cluster of zeros.
 */
static bool
drop_value(const struct ck *ck, bool read_zeros, uint64_t *e, uint64_t *bm)
{
	const struct qcow2	*q = ck->q;

	if (q->extl2) {
		*e = 0;
		*bm = 0xffffffff00000000ULL;
		return true;
	}
	*bm = 0;
	if (q->h.version >= 3) {
		*e = QCOW2_OFLAG_ZERO;
		return true;
	}
	*e = 0;
	return !read_zeros || q->backing_file[0] == '\0';
}

/* The repair's new value of an entry at host (and its bitmap). */
static int
fix_l2(struct ck *ck, uint64_t host, uint64_t e, uint64_t bm, uint64_t ne,
    uint64_t nbm, enum pr_id id)
{
	int	rc;

	if (ne != e && (rc = qcow2_fix_be64(ck->fx, host, ne, id)) != 0)
		return rc;
	if (nbm != bm && (rc = qcow2_fix_be64(ck->fx, host + 8, nbm,
	    id)) != 0)
		return rc;
	return 0;
}

/*
 * One L2 entry, every rule of spec 4.3.  *next is the fragmentation
 * cursor of the table.  In a repair's structure step each problem the
 * repair may fix changes ne/nbm (the entry and bitmap to write), or
 * drops the entry; its references are then not counted.
 */
static int
walk_l2_entry(struct ck *ck, const struct qcow2_l2job *j, uint64_t i, uint64_t e,
    uint64_t bm, bool active, uint64_t *next)
{
	struct qcow2		*q = ck->q;
	struct check_counts	*st = &ck->rp->c;
	struct pr_ctx		 pc;
	struct lpath		 lp;
	enum qcow2_l2_kind	 kind = qcow2_l2_kind(q, e);
	enum pr_id		 fid = PR_COUNT, did = PR_COUNT;
	uint64_t		 off, len, goff, host, de, dbm;
	uint64_t		 ne = e, nbm = bm;
	bool			 pe_zero;
	int			 rc;

	memset(&lp, 0, sizeof(lp));
	lp.l1name = ck->l1name;
	lp.l1idx = j->l1idx;
	lp.l2off = j->l2off;
	lp.i = i;
	goff = ((uint64_t)j->l1idx * q->l2_size + i) << q->h.cluster_bits;
	host = j->l2off + i * q->l2_entry_size;
	memset(&pc, 0, sizeof(pc));
	pc.off = host;
	pc.len = q->l2_entry_size;
	pc.found = e;
	pc.want = bm;
	pc.goff = goff;
	pc.glen = q->cs;
	pc.flags = PC_HOST | PC_GUEST;
	if (kind != QCOW2_L2_COMPRESSED && (e & QCOW2_L2E_RESERVED) &&
	    fixing(ck, rep(ck, PR_QCOW2_L2_RESERVED, &pc, &lp),
	    PR_QCOW2_L2_RESERVED)) {
		ne &= ~QCOW2_L2E_RESERVED;
		fid = PR_QCOW2_L2_RESERVED;
	}
	/* Data past the end of the file read as zeros: keep that. */
	/*
	 * Data past the end read as zeros: a version 2 image with a backing
	 * file cannot say "zeros", so it gets a new cluster of zeros.
	 */
	pe_zero = kind == QCOW2_L2_NORMAL && !drop_value(ck, true, &de, &dbm);
	ck->pe_flags = 0;
	ck->pe_fix = false;
	switch (kind) {
	case QCOW2_L2_COMPRESSED:
		if (e & QCOW2_OFLAG_COPIED) {
			pc.off = e & q->coffset_mask;
			if (fixing(ck, rep(ck, PR_QCOW2_COMPRESSED_COPIED, &pc,
			    &lp), PR_QCOW2_COMPRESSED_COPIED)) {
				ne &= ~QCOW2_OFLAG_COPIED;
				fid = PR_QCOW2_COMPRESSED_COPIED;
			}
			pc.off = host;
			e &= ~QCOW2_OFLAG_COPIED;
		}
		if (q->data_file) {
			if (fixing(ck, rep(ck, PR_QCOW2_COMPRESSED_DATA_FILE,
			    &pc, &lp), PR_QCOW2_COMPRESSED_DATA_FILE))
				did = PR_QCOW2_COMPRESSED_DATA_FILE;
			break;
		}
		if (bm != 0) {
			if (fixing(ck, rep(ck, PR_QCOW2_COMPRESSED_SUBCLUSTER,
			    &pc, &lp), PR_QCOW2_COMPRESSED_SUBCLUSTER)) {
				/* Without the bitmap it is read: if it can be. */
				qcow2_compressed_range(q, e, &off, &len);
				if (off + len < off || off + len > ck->file_len)
					did = PR_QCOW2_COMPRESSED_SUBCLUSTER;
				nbm = 0;
				fid = PR_QCOW2_COMPRESSED_SUBCLUSTER;
			}
			break;
		}
		qcow2_compressed_range(q, e, &off, &len);
		if ((rc = add_ref(ck, off, len, "compressed cluster", &lp, goff,
		    q->cs)) != 0)
			return rc;
		if (ck->pe_fix) {
			did = PR_QCOW2_REF_PAST_EOF;
			break;
		}
		if (active) {
			st->allocated_clusters += ck->mult;
			st->compressed_clusters += ck->mult;
			st->fragmented_clusters += ck->mult;
		}
		break;
	case QCOW2_L2_ZERO_ALLOC:
	case QCOW2_L2_NORMAL:
		off = e & QCOW2_L2E_OFFSET_MASK;
		if (((bm >> 32) & bm) && fixing(ck, rep(ck,
		    PR_QCOW2_SUBCLUSTER_BITMAP, &pc, &lp),
		    PR_QCOW2_SUBCLUSTER_BITMAP)) {
			/* Allocated wins: the data stays readable. */
			nbm &= ~((bm & 0xffffffffULL) << 32);
			fid = PR_QCOW2_SUBCLUSTER_BITMAP;
		}
		if ((off & (q->cs - 1)) != 0) {
			bool	data = q->extl2 ? (bm & 0xffffffffULL) != 0 :
			    !(e & QCOW2_OFLAG_ZERO);
			enum pr_id id = data ? PR_QCOW2_DATA_MISALIGNED :
			    PR_QCOW2_ZERO_MISALIGNED;

			pc.off = off;
			pc.len = q->cs;
			if (fixing(ck, rep(ck, id, &pc, &lp), id)) {
				if (data)
					did = id;
				else {
					/* qemu's fix: a plain zero cluster. */
					ne = q->extl2 ? 0 : QCOW2_OFLAG_ZERO;
					nbm = q->extl2 ? (bm & ~0xffffffffULL) |
					    (bm << 32) : 0;
					fid = id;
					break;
				}
			}
			pc.off = host;
			pc.len = q->l2_entry_size;
			if (did != PR_COUNT)
				break;
		}
		if (!q->data_file && (rc = add_ref(ck, off, q->cs,
		    "data cluster", &lp, goff, q->cs)) != 0)
			return rc;
		if (ck->pe_fix && pe_zero) {
			ck->pe_fix = false;
			if ((rc = qcow2_fix_zero_cluster(ck->fx, host)) != 0)
				return rc;
			break;
		}
		if (ck->pe_fix) {
			did = PR_QCOW2_REF_PAST_EOF;
			break;
		}
		if (active) {
			st->allocated_clusters += ck->mult;
			if (*next != 0 && off != *next)
				st->fragmented_clusters += ck->mult;
			*next = off + q->cs;
			if (j->flag)
				copied_note(ck, e, host, goff, &lp);
		}
		break;
	case QCOW2_L2_ZERO_PLAIN:
		break;
	case QCOW2_L2_UNALLOCATED:
		if ((bm & 0xffffffffULL) && fixing(ck, rep(ck,
		    PR_QCOW2_UNALLOC_SUBCLUSTER, &pc, &lp),
		    PR_QCOW2_UNALLOC_SUBCLUSTER)) {
			nbm &= ~0xffffffffULL;
			fid = PR_QCOW2_UNALLOC_SUBCLUSTER;
		}
		break;
	}
	ck->pe_flags = PC_NOFIX;
	ck->pe_fix = false;
	if (did != PR_COUNT) {
		/* Unreadable (or past the end) before: drop the entry. */
		(void)drop_value(ck, false, &ne, &nbm);
		fid = did;
	}
	if (fid == PR_COUNT || !qcow2_fixing(ck->fx, QCOW2_FIX_STRUCT))
		return 0;
	return fix_l2(ck, host, pc.found, bm, ne, q->extl2 ? nbm : bm, fid);
}

/*
 * Length of the run of entries from i that continue e cluster by cluster
 * (same flags, next host cluster), inside the file and the counts.
 */
static inline uint64_t
run_len(const uint8_t *buf, uint64_t i, uint64_t l2n, uint64_t e,
    uint64_t cs, uint64_t end, uint64_t room)
{
	uint64_t	r = 1, off = e & QCOW2_L2E_OFFSET_MASK, x;
	const uint8_t	*p = buf + i * 8;

	/* One bound for all three limits (off <= end on entry). */
	if (room > l2n - i)
		room = l2n - i;
	if (room > (end - off) / cs + 1)
		room = (end - off) / cs + 1;
	/* Four entries a step, without a branch between them. */
	while (r + 4 <= room) {
		x = (be64_at(p + r * 8) ^ (e + r * cs)) |
		    (be64_at(p + r * 8 + 8) ^ (e + (r + 1) * cs)) |
		    (be64_at(p + r * 8 + 16) ^ (e + (r + 2) * cs)) |
		    (be64_at(p + r * 8 + 24) ^ (e + (r + 3) * cs));
		if (x != 0)
			break;
		r += 4;
	}
	while (r < room && be64_at(p + r * 8) == e + r * cs)
		r++;
	return r;
}

/* Are the r counters at a all zero? */
static inline bool
run_zero(const qcow2_cnt_t *a, uint64_t r)
{
	uint64_t	x, w, acc = 0;

	for (x = 0; x + 8 <= r; x += 8) {
		memcpy(&w, a + x, sizeof(w));
		acc |= w;
	}
	for (; x < r; x++)
		acc |= a[x];
	return acc == 0;
}

/* Are all r counters below fm (so each may take one more)? */
static inline bool
run_below(const qcow2_cnt_t *a, uint64_t r, qcow2_cnt_t fm)
{
	qcow2_cnt_t	top = 0;
	uint64_t	x;

	for (x = 0; x < r; x++)
		top = a[x] > top ? a[x] : top;
	return top < fm;
}

static inline void
run_inc(qcow2_cnt_t *a, uint64_t r)
{
	uint64_t	x;

	for (x = 0; x < r; x++)
		a[x]++;
}

/* Refcount width 1: are bits k .. k+r-1 all clear? */
static inline bool
bits_clear(const uint64_t *b, uint64_t k, uint64_t r)
{
	uint64_t	end = k + r, m;

	for (; k < end; k = (k / 64 + 1) * 64) {
		m = ~0ULL << (k % 64);
		if (end - k < 64 - k % 64)
			m &= ~(~0ULL << (end % 64));
		if ((b[k / 64] & m) != 0)
			return false;
	}
	return true;
}

static inline void
bits_set(uint64_t *b, uint64_t k, uint64_t r)
{
	uint64_t	end = k + r, m;

	for (; k < end; k = (k / 64 + 1) * 64) {
		m = ~0ULL << (k % 64);
		if (end - k < 64 - k % 64)
			m &= ~(~0ULL << (end % 64));
		b[k / 64] |= m;
	}
}

/* OR the 2-bit COPIED summary v into clusters k .. k+r-1. */
static inline void
cf_fill(uint8_t *cf, uint64_t k, uint64_t r, unsigned v)
{
	uint64_t	end = k + r;

	for (; k < end && (k & 3) != 0; k++)
		cf[k / 4] |= (uint8_t)(v << (2 * (k % 4)));
	for (; k + 4 <= end; k += 4)
		cf[k / 4] |= (uint8_t)(v * 0x55U);
	for (; k < end; k++)
		cf[k / 4] |= (uint8_t)(v << (2 * (k % 4)));
}

/* Second walk: exact COPIED checks for the clusters the summary flagged. */
static void
recheck_l2(struct ck *ck, const struct qcow2_l2job *j, const uint8_t *buf)
{
	struct qcow2		*q = ck->q;
	struct lpath		 lp;
	enum qcow2_l2_kind	 kind;
	uint64_t		 i, e, k;

	memset(&lp, 0, sizeof(lp));
	lp.l1name = ck->l1name;
	lp.l1idx = j->l1idx;
	lp.l2off = j->l2off;
	for (i = 0; j->flag && i < q->l2_size; i++) {
		e = be64_at(buf + i * q->l2_entry_size);
		kind = qcow2_l2_kind(q, e);
		if (kind != QCOW2_L2_NORMAL && kind != QCOW2_L2_ZERO_ALLOC)
			continue;
		k = (e & QCOW2_L2E_OFFSET_MASK) >> q->h.cluster_bits;
		if (k >= ck->cf_n || cf_get(ck, k) == 0)
			continue;
		lp.i = i;
		lp.built = false;
		copied_check_data(ck, e, j->l2off + i * q->l2_entry_size,
		    ((uint64_t)j->l1idx * q->l2_size + i) << q->h.cluster_bits,
		    &lp);
	}
}

/*
 * Walk one L2 table held in buf (cs bytes, from l2off).  Most entries of
 * most images are plain, aligned data clusters inside the file: those
 * take a short path that only counts, and everything else goes through
 * walk_l2_entry() with every rule.
 */
static int
walk_l2(struct ck *ck, const struct qcow2_l2job *j, const uint8_t *buf,
    bool active)
{
	struct qcow2		*q = ck->q;
	struct qcow2_counts	*c = ck->cnt;
	uint64_t		 i, e, bm, off, k, next = 0, end, n, cfn;
	uint64_t		 alloc = 0, frag = 0, bad, cb = q->h.cluster_bits;
	uint64_t		 cs = q->cs, l2n = q->l2_size, esz = q->l2_entry_size;
	uint64_t		 r, x;
	qcow2_cnt_t		*a, fm;
	uint64_t		*bits;
	uint8_t			*cf;
	bool			 fast, note;
	int			 rc;

	ck->nofix = ck->fx != NULL && meta_overlap(ck, j->l2off, q->cs, false);
	ck->nofix_at = j->l2off;
	ck->nofix_said = false;
	if (ck->recheck) {
		ck->mult = j->mult;
		recheck_l2(ck, j, buf);
		ck->mult = 1;
		ck->nofix = false;
		return 0;
	}
	ck->mult = j->mult;
	fast = !q->extl2 && !q->data_file && j->mult == 1 && ck->cl == NULL &&
	    !qcow2_fixing(ck->fx, QCOW2_FIX_STRUCT);
	note = active && j->flag;
	/* Anything but COPIED and an aligned offset leaves the short path. */
	bad = ~(QCOW2_OFLAG_COPIED | QCOW2_L2E_OFFSET_MASK) |
	    ((cs - 1) & QCOW2_L2E_OFFSET_MASK);
	end = ck->file_len < cs ? 0 : ck->file_len - cs;
	/*
	 * Locals, so stores through the byte arrays do not make the
	 * compiler reload them; refreshed after every slow entry, which may
	 * grow the counts.
	 */
	a = c->a;
	bits = c->bits;
	n = c->n;
	fm = c->fastmax;
	cf = ck->cf;
	cfn = ck->cf_n;
	for (i = 0; i < l2n; i++) {
		e = be64_at(buf + i * esz);
		if (fast) {
			if (e == 0)
				continue;
			off = e & QCOW2_L2E_OFFSET_MASK;
			k = off >> cb;
			if ((e & bad) == 0 && off != 0 && off <= end &&
			    k < n && (a != NULL ? a[k] < fm :
			    ((bits[k / 64] >> (k % 64)) & 1) == 0)) {
				/*
				 * Preallocated and freshly written images hold
				 * long runs of adjacent clusters: count a run
				 * in one pass when none of it is near the max.
				 */
				r = run_len(buf, i, l2n, e, cs, end, n - k);
				if (r > 1 && a != NULL && run_zero(a + k, r))
					/* The first reference to each. */
					memset(a + k, 1, (size_t)r);
				else if (r > 1 && a != NULL && run_below(a + k,
				    r, fm))
					run_inc(a + k, r);
				else if (r > 1 && a == NULL && bits_clear(bits,
				    k, r))
					bits_set(bits, k, r);
				else
					r = 1;
				if (r > 1) {
					i += r - 1;
					if (!active)
						continue;
					alloc += r;
					frag += next != 0 && off != next;
					next = off + r * cs;
					if (note && k + r <= cfn)
						cf_fill(cf, k, r, e >> 63 ? 1U :
						    2U);
					else if (note)
						for (x = 0; x < r; x++)
							copied_check_data(ck, e +
							    x * cs, j->l2off +
							    (i - r + 1 + x) * 8,
							    ((uint64_t)j->l1idx *
							    l2n + i - r + 1 + x) <<
							    cb, LP("active L1"));
					continue;
				}
				if (a != NULL)
					a[k]++;
				else
					bits[k / 64] |= 1ULL << (k % 64);
				if (!active)
					continue;
				alloc++;
				frag += next != 0 && off != next;
				next = off + cs;
				if (note && k < cfn) {
					cf[k / 4] |= (uint8_t)((e >> 63 ? 1U :
					    2U) << (2 * (k % 4)));
				} else if (note)
					copied_check_data(ck, e, j->l2off + i * 8,
					    ((uint64_t)j->l1idx * l2n + i) << cb,
					    LP("active L1"));
				continue;
			}
			bm = 0;
		} else {
			bm = q->extl2 ? be64_at(buf + i * esz + 8) : 0;
			if (e == 0 && bm == 0)
				continue;
		}
		if ((rc = walk_l2_entry(ck, j, i, e, bm, active, &next)) != 0)
			return rc;
		a = c->a;
		bits = c->bits;
		n = c->n;
	}
	ck->rp->c.allocated_clusters += alloc;
	ck->rp->c.fragmented_clusters += frag;
	ck->mult = 1;
	ck->nofix = false;
	return 0;
}

/* One L1 table being walked by the check. */
struct l1walk {
	struct ck	*ck;
	uint64_t	 l1off;
	bool		 active;
	bool		 nofix;		/* the L1 table overlaps metadata */
	bool		 nofix_said;	/* and a finding said so */
	struct lpath	 lp;
};

/* An L1 entry's finding context: where it is, what it maps. */
static void
l1e_ctx(struct l1walk *lw, const struct qcow2_l2job *j, struct pr_ctx *pc)
{
	struct ck	*ck = lw->ck;
	struct qcow2	*q = ck->q;

	lw->lp.l1idx = j->l1idx;
	lw->lp.built = false;
	ck->nofix = lw->nofix;
	ck->nofix_at = lw->l1off;
	ck->nofix_said = lw->nofix_said;
	memset(pc, 0, sizeof(*pc));
	pc->off = lw->l1off + (uint64_t)j->l1idx * 8;
	pc->len = 8;
	pc->found = j->l1e;
	pc->goff = ((uint64_t)j->l1idx * q->l2_size) << q->h.cluster_bits;
	pc->glen = q->l2_size << q->h.cluster_bits;
	pc->flags = PC_HOST | PC_GUEST;
}

/*
 * Could stored_get_at() read cluster k's refcount, I/O aside?  Not when
 * its refcount block is misaligned (QEMU cannot read it either).
 */
static bool
stored_readable(const struct ck *ck, uint64_t k)
{
	const struct qcow2	*q = ck->q;
	uint64_t		 t = k >> q->rb_bits;

	return t >= q->reftable_n ||
	    (q->reftable[t] & QCOW2_REFT_OFFSET_MASK & (q->cs - 1)) == 0;
}

/*
 * COPIED of an active L1 entry against its L2 table's refcount (4.8),
 * at pc; false when that refcount cannot be read (the table's entries
 * then get no COPIED checks, as in QEMU).
 */
static bool
l1_copied(struct ck *ck, struct lpath *lp, struct pr_ctx *pc,
    uint64_t l2off, uint64_t e)
{
	uint64_t	rc1;

	if (stored_get_at(ck, l2off >> ck->q->h.cluster_bits, &rc1,
	    true) != 0)
		return false;
	if ((rc1 == 1) != ((e & QCOW2_OFLAG_COPIED) != 0)) {
		pc->want = rc1;
		copied_fix(ck, PR_QCOW2_COPIED_L2, pc, lp, pc->off, e);
	}
	return true;
}

/*
 * The recheck after the compare pass: an L1 entry whose table's cluster
 * the compare flagged gets its COPIED check here; the others only learn
 * whether their tables get COPIED checks, as in the first walk.
 */
static int
ck_l1e_recheck(struct l1walk *lw, struct qcow2_l2job *j)
{
	struct ck	*ck = lw->ck;
	struct pr_ctx	 pc;
	uint64_t	 k = j->l2off >> ck->q->h.cluster_bits, rc1;

	if (j->l2off == 0) {
		j->flag = false;
		return 0;
	}
	if (!lw->active || k >= ck->cf_n || cf_get(ck, k) == 0) {
		j->flag = stored_get_at(ck, k, &rc1, true) == 0;
		return 0;
	}
	l1e_ctx(lw, j, &pc);
	j->flag = l1_copied(ck, &lw->lp, &pc, j->l2off, j->l1e);
	lw->nofix_said = ck->nofix_said;
	ck->nofix = false;
	return ck->fx_err;
}

/* Every rule of an L1 entry (spec 4.3), before its table is read. */
static int
ck_l1e(void *arg, struct qcow2_l2job *j)
{
	struct l1walk	*lw = arg;
	struct ck	*ck = lw->ck;
	struct qcow2	*q = ck->q;
	struct lpath	*lp = &lw->lp;
	struct pr_ctx	 pc;
	enum pr_id	 fid = PR_COUNT, did = PR_COUNT;
	uint64_t	 e = j->l1e, l2off = j->l2off, k;
	int		 rc;

	if (ck->recheck)
		return ck_l1e_recheck(lw, j);
	l1e_ctx(lw, j, &pc);
	if ((e & QCOW2_L1E_RESERVED) && fixing(ck, rep(ck,
	    PR_QCOW2_L1_RESERVED, &pc, lp), PR_QCOW2_L1_RESERVED))
		fid = PR_QCOW2_L1_RESERVED;
	if (l2off == 0) {
		/* QEMU does not count this; it walks cluster 0. */
		pc.flags |= PC_NOCOUNT;
		if (rep(ck, PR_QCOW2_L1_EMPTY_OFFSET, &pc, lp) &&
		    qcow2_fixing(ck->fx, QCOW2_FIX_STRUCT))
			did = PR_QCOW2_L1_EMPTY_OFFSET;
		pc.flags &= ~PC_NOCOUNT;
	}
	/*
	 * A repair drops an L1 entry whose table it cannot read: the guest
	 * read zeros (past the end) or nothing (misaligned) through it, and
	 * it never writes through a misaligned table, as QEMU does.
	 */
	ck->pe_flags = 0;
	ck->pe_fix = false;
	if ((rc = add_ref(ck, l2off, q->cs, "L2 table", lp, pc.goff,
	    pc.glen)) != 0)
		return rc;
	if (ck->pe_fix)
		did = PR_QCOW2_REF_PAST_EOF;
	ck->pe_flags = PC_NOFIX;
	ck->pe_fix = false;
	if ((l2off & (q->cs - 1)) != 0) {
		pc.off = l2off;
		pc.len = q->cs;
		if (fixing(ck, rep(ck, PR_QCOW2_L2_MISALIGNED, &pc, lp),
		    PR_QCOW2_L2_MISALIGNED))
			did = PR_QCOW2_L2_MISALIGNED;
		pc.off = lw->l1off + (uint64_t)j->l1idx * 8;
		pc.len = 8;
	}
	lw->nofix_said = ck->nofix_said;
	if (did != PR_COUNT) {
		if ((rc = qcow2_fix_be64(ck->fx, pc.off, 0, did)) != 0)
			return rc;
		return 1;	/* not read */
	}
	if (fid != PR_COUNT && (rc = qcow2_fix_be64(ck->fx, pc.off,
	    e & ~QCOW2_L1E_RESERVED, fid)) != 0)
		return rc;
	j->flag = false;
	/*
	 * COPIED of the L1 entry against the L2 table's refcount: noted for
	 * the compare pass, which reads that refcount block anyway (and a
	 * disagreement is reported by the recheck after it, in L1 order,
	 * where QEMU reports it too); read at once only past the end of the
	 * file.  Reading it here cost a second read of every refcount block
	 * on small-cluster images (66,564 of them for 8 GiB of 512 bytes).
	 */
	k = l2off >> q->h.cluster_bits;
	if (lw->active && l2off != 0 && k < ck->cf_n) {
		j->flag = stored_readable(ck, k);
		if (j->flag)
			cf_mark(ck, k, (e & QCOW2_OFLAG_COPIED) != 0);
	} else if (lw->active && l2off != 0)
		j->flag = l1_copied(ck, lp, &pc, l2off, e);
	lw->nofix_said = ck->nofix_said;
	ck->nofix = false;
	return ck->fx_err;
}

static int
ck_l2(void *arg, const struct qcow2_l2job *j, const uint8_t *tab)
{
	struct l1walk	*lw = arg;

	return walk_l2(lw->ck, j, tab, lw->active);
}

/*
 * Walk an L1 table: count it and its L2 tables, check every entry.
 * active: collect statistics and check COPIED flags.
 */
static int
walk_l1(struct ck *ck, uint64_t l1off, uint32_t l1n, bool active)
{
	struct qcow2_walker	w;
	struct l1walk		lw;
	char			path[128];
	int			rc;

	if (l1n == 0)
		return 0;
	memset(&lw, 0, sizeof(lw));
	lw.ck = ck;
	lw.l1off = l1off;
	lw.active = active;
	lw.lp.l1name = ck->l1name;
	lw.lp.l1only = true;
	lw.nofix = ck->fx != NULL && meta_overlap(ck, l1off, (uint64_t)l1n * 8,
	    active);
	snprintf(path, sizeof(path), "%s table", ck->l1name);
	if (!ck->recheck && (rc = add_ref(ck, l1off, (uint64_t)l1n * 8,
	    "L1 table", LP(path), 0, 0)) != 0)
		return rc;
	memset(&w, 0, sizeof(w));
	w.img = ck->img;
	w.q = ck->q;
	w.l1off = l1off;
	w.l1n = l1n;
	w.first = 0;
	w.last = l1n;
	w.host_order = true;
	w.l1e = ck_l1e;
	w.l2 = ck_l2;
	w.arg = &lw;
	rc = qcow2_walk(&w);
	ck->nofix = false;
	return rc;
}

/* ---- bitmaps (spec 4.2 step 8) ---------------------------------------- */

static int
walk_bitmaps(struct ck *ck)
{
	struct qcow2		*q = ck->q;
	struct qcow2_bitmap	*b;
	struct pr_ctx		 pc;
	uint64_t		*t, bad, i;
	uint32_t		 n;
	char			 path[QCOW2_MAX_BITMAP_NAME + 64];
	bool			 fix;
	int			 rc;

	if (q->bitmaps_bad) {
		/* Opened for a repair only: QEMU refuses this directory. */
		memset(&pc, 0, sizeof(pc));
		pc.off = q->bitmap_dir_offset;
		pc.len = q->bitmap_dir_size;
		pc.str = q->bitmaps_why;
		pc.path = "bitmap directory";
		pc.flags = PC_HOST;
		if (report_problem(ck->rp, PR_QCOW2_BITMAP_DIR, &pc) &&
		    qcow2_fixing(ck->fx, QCOW2_FIX_STRUCT)) {
			qcow2_fix_count(ck->fx, PR_QCOW2_BITMAP_DIR, 1);
			ck->fx->bm_drop_all = true;
			ck->fx->bm_id = PR_QCOW2_BITMAP_DIR;
			return 0;
		}
		ck->hard = true;
		return -EINVAL;
	}
	if (!q->has_bitmaps_ext || q->nb_bitmaps == 0)
		return 0;
	if ((rc = add_ref(ck, q->bitmap_dir_offset, q->bitmap_dir_size,
	    "bitmap directory", LP("bitmap directory"), 0, 0)) != 0)
		return rc;
	for (n = 0; n < q->nb_bitmaps; n++) {
		b = &q->bitmaps[n];
		snprintf(path, sizeof(path), "bitmap '%s' table", b->name);
		if ((rc = add_ref(ck, b->table_offset,
		    (uint64_t)b->table_size * 8, "bitmap table", LP(path), 0,
		    0)) != 0)
			return rc;
		if ((rc = qcow2_bitmap_table_read(ck->img, q, b, &t,
		    &bad)) != 0)
			return rc;
		if (bad != UINT64_MAX) {
			/* QEMU: one corruption, then the check fails. */
			memset(&pc, 0, sizeof(pc));
			pc.off = b->table_offset + bad * 8;
			pc.len = 8;
			pc.idx = bad;
			pc.found = t[bad];
			pc.str = b->name;
			pc.path = path;
			pc.flags = PC_HOST;
			fix = report_problem(ck->rp,
			    PR_QCOW2_BITMAP_TABLE_ENTRY, &pc);
			free(t);
			if (fix && qcow2_fixing(ck->fx, QCOW2_FIX_STRUCT) &&
			    ck->fx->bm_drop != NULL) {
				/* A repair drops the bitmap, keeps the rest. */
				qcow2_fix_count(ck->fx,
				    PR_QCOW2_BITMAP_TABLE_ENTRY, 1);
				ck->fx->bm_drop[n] = 1;
				ck->fx->bm_id = PR_QCOW2_BITMAP_TABLE_ENTRY;
				continue;
			}
			ck->hard = true;
			return -EINVAL;
		}
		for (i = 0; i < b->table_size; i++) {
			if ((t[i] & QCOW2_BME_OFFSET_MASK) == 0)
				continue;
			if ((rc = add_ref(ck, t[i] & QCOW2_BME_OFFSET_MASK,
			    q->cs, "bitmap data cluster", LP(path), 0, 0)) != 0) {
				free(t);
				return rc;
			}
		}
		free(t);
	}
	return 0;
}

/* ---- refcount blocks (spec 4.4) ---------------------------------------- */

/* A problem only a new refcount structure fixes; qemu: its rebuild flag. */
static void
rebuild(struct ck *ck, enum pr_id id, const struct pr_ctx *pc, bool qemu)
{
	bool	fix = report_problem(ck->rp, id, pc);

	if (qcow2_fixing(ck->fx, QCOW2_FIX_REFCOUNT))
		qcow2_fix_rebuild(ck->fx, id, qemu, fix);
}

static int
walk_refblocks(struct ck *ck)
{
	struct qcow2	*q = ck->q;
	struct pr_ctx	 pc;
	uint64_t	 i, e, off, k, v;
	char		 path[64];
	int		 rc;

	for (i = 0; i < q->reftable_n; i++) {
		e = q->reftable[i];
		if (e == 0)
			continue;
		off = e & QCOW2_REFT_OFFSET_MASK;
		k = off >> q->h.cluster_bits;
		snprintf(path, sizeof(path), "refcount table [%" PRIu64 "]", i);
		memset(&pc, 0, sizeof(pc));
		pc.off = q->h.refcount_table_offset + i * 8;
		pc.len = 8;
		pc.idx = i;
		pc.found = e;
		pc.path = path;
		pc.flags = PC_HOST;
		if (e & QCOW2_REFT_RESERVED) {
			rebuild(ck, PR_QCOW2_REFTABLE_RESERVED, &pc, true);
			continue;
		}
		pc.off = off;
		pc.len = q->cs;
		if ((off & (q->cs - 1)) != 0) {
			rebuild(ck, PR_QCOW2_REFBLOCK_MISALIGNED, &pc, true);
			continue;
		}
		if (k >= qcow2_counts_len(ck->cnt)) {
			/* qemu -r all grows the file; we rebuild without it. */
			rebuild(ck, PR_QCOW2_REFBLOCK_OUTSIDE, &pc, false);
			continue;
		}
		if ((rc = add_ref(ck, off, q->cs, "refcount block", LP(path),
		    0, 0)) != 0)
			return rc;
		if ((v = qcow2_counts_get(ck->cnt, k)) != 1) {
			pc.found = v;
			pc.want = 1;
			rebuild(ck, PR_QCOW2_REFBLOCK_REFCOUNT, &pc, true);
		}
	}
	return 0;
}

/* ---- guest ranges of mismatched clusters ------------------------------ */

static int
mm_cmp(const void *a, const void *b)
{
	const struct mismatch	*x = a, *y = b;

	return x->k < y->k ? -1 : x->k > y->k;
}

static struct mismatch *
mm_find(struct ck *ck, uint64_t k)
{
	struct mismatch	key = { .k = k };

	return bsearch(&key, ck->mm, ck->nmm, sizeof(key), mm_cmp);
}

static void
mm_mark(struct ck *ck, uint64_t off, uint64_t len, uint64_t goff,
    uint64_t glen, const char *what)
{
	struct mismatch	*m;
	uint64_t	 k, last;

	if (len == 0)
		return;
	last = (off + len - 1) >> ck->q->h.cluster_bits;
	for (k = off >> ck->q->h.cluster_bits; k <= last; k++)
		if ((m = mm_find(ck, k)) != NULL && !m->has_guest) {
			m->goff = goff;
			m->glen = glen;
			m->has_guest = glen != 0;
			m->what = what;
		}
}

/* The reverse map's visitor: mark what each L2 entry points to. */
static int
mm_l2(void *arg, const struct qcow2_l2job *j, const uint8_t *tab)
{
	struct ck	*ck = arg;
	struct qcow2	*q = ck->q;
	uint64_t	 span = q->l2_size << q->h.cluster_bits, e, off, len;
	uint64_t	 goff, i;

	mm_mark(ck, j->l2off, q->cs, j->l1idx * span, span, "L2 table");
	for (i = 0; i < q->l2_size; i++) {
		e = be64_at(tab + i * q->l2_entry_size);
		goff = j->l1idx * span + (i << q->h.cluster_bits);
		switch (qcow2_l2_kind(q, e)) {
		case QCOW2_L2_COMPRESSED:
			qcow2_compressed_range(q, e, &off, &len);
			mm_mark(ck, off, len, goff, q->cs,
			    "compressed cluster");
			break;
		case QCOW2_L2_NORMAL:
		case QCOW2_L2_ZERO_ALLOC:
			mm_mark(ck, e & QCOW2_L2E_OFFSET_MASK, q->cs, goff,
			    q->cs, "data cluster");
			break;
		default:
			break;
		}
	}
	return 0;
}

/*
 * Second walk of the active tables, for the mismatched clusters only:
 * each table once, in disk order, at the first L1 index naming it (a
 * table named again maps nothing new).
 */
static int
mm_reverse_map(struct ck *ck)
{
	struct qcow2		*q = ck->q;
	struct qcow2_walker	 w;
	uint64_t		 i;

	qsort(ck->mm, ck->nmm, sizeof(*ck->mm), mm_cmp);
	mm_mark(ck, 0, q->cs, 0, 0, "header");
	mm_mark(ck, q->h.refcount_table_offset, q->reftable_n * 8, 0, 0,
	    "refcount table");
	for (i = 0; i < q->reftable_n; i++)
		if ((q->reftable[i] & QCOW2_REFT_RESERVED) == 0)
			mm_mark(ck, q->reftable[i] & QCOW2_REFT_OFFSET_MASK,
			    q->reftable[i] ? q->cs : 0, 0, 0,
			    "refcount block");
	if (q->h.l1_size == 0)
		return 0;
	mm_mark(ck, q->h.l1_table_offset, (uint64_t)q->h.l1_size * 8, 0,
	    q->h.size, "active L1 table");
	memset(&w, 0, sizeof(w));
	w.img = ck->img;
	w.q = q;
	w.l1off = q->h.l1_table_offset;
	w.l1n = q->h.l1_size;
	w.last = q->h.l1_size;
	w.host_order = true;
	w.l2 = mm_l2;
	w.arg = ck;
	return qcow2_walk(&w);
}

static int
mm_report(struct ck *ck, const struct mismatch *m)
{
	struct qcow2	*q = ck->q;
	struct pr_ctx	 pc;
	char		 path[128];
	enum pr_id	 id;
	bool		 fix;

	snprintf(path, sizeof(path), "refcount block %" PRIu64 " [%" PRIu64
	    "]%s%s", m->k >> q->rb_bits, m->k & (((uint64_t)1 << q->rb_bits) - 1),
	    m->what != NULL ? ", used as " : "",
	    m->what != NULL ? m->what : "");
	memset(&pc, 0, sizeof(pc));
	pc.off = m->k << q->h.cluster_bits;
	pc.len = q->cs;
	pc.idx = m->k;
	pc.found = m->r1;
	pc.want = m->r2;
	pc.path = path;
	pc.flags = PC_HOST;
	if (m->has_guest) {
		pc.goff = m->goff;
		pc.glen = m->glen;
		pc.flags |= PC_GUEST;
	}
	if (m->r1 == 0)
		id = PR_QCOW2_REFCOUNT_ZERO;
	else if (m->r1 < m->r2)
		id = PR_QCOW2_REFCOUNT_SHORT;
	else
		id = PR_QCOW2_REFCOUNT_LEAK;
	fix = report_problem(ck->rp, id, &pc);
	if (!qcow2_fixing(ck->fx, QCOW2_FIX_REFCOUNT))
		return 0;
	/* A referenced cluster with refcount 0: qemu rebuilds. */
	if (m->r1 == 0) {
		qcow2_fix_rebuild(ck->fx, id, true, fix);
		return 0;
	}
	return qcow2_fix_refcount(ck->fx, m->k, m->r2, id, fix);
}

/* ---- compare (spec 4.5) ----------------------------------------------- */

/* Are the 32 counters at a all zero? */
static inline bool
zero32(const qcow2_cnt_t *a)
{
	uint64_t	w[32 * sizeof(*a) / 8], acc = 0;
	size_t		i;

	memcpy(w, a, sizeof(w));
	for (i = 0; i < sizeof(w) / sizeof(w[0]); i++)
		acc |= w[i];
	return acc == 0;
}

/*
 * The common block of a healthy image: every stored refcount is 1, every
 * computed count is 1, and no COPIED-clear reference points into it.  A
 * loop the compiler can vectorize; anything else takes the careful path.
 */
static bool
block_all_one(const struct ck *ck, const uint8_t *rb, uint64_t k0,
    uint64_t k1)
{
	const qcow2_cnt_t *a = ck->cnt->a + k0;
	uint64_t	 x, m = k1 - k0, w, cacc = 0;

	if ((k0 & 3) != 0 || (m & 3) != 0 || k1 > ck->cf_n ||
	    m * 2 > ck->ones_len)
		return false;
	/* memcmp against blocks of ones: the C library's vector loops. */
	if (memcmp(rb, ck->ones16, (size_t)m * 2) != 0 ||
	    memcmp(a, ck->ones8, (size_t)m) != 0)
		return false;
	/* Refcount 1: a reference with COPIED clear (bit 1) is wrong. */
	for (x = k0 / 4; x + 8 <= k1 / 4; x += 8) {
		memcpy(&w, ck->cf + x, sizeof(w));
		cacc |= w;
	}
	for (; x < k1 / 4; x++)
		cacc |= ck->cf[x];
	return (cacc & 0xaaaaaaaaaaaaaaaaULL) == 0;
}

/* Keep a mismatch for reverse mapping, or report it at once. */
static int
mm_add(struct ck *ck, uint64_t k, uint64_t r1, uint64_t r2, size_t *cap)
{
	struct mismatch	 m, *nm;

	memset(&m, 0, sizeof(m));
	m.k = k;
	m.r1 = r1;
	m.r2 = r2;
	if (ck->nmm >= QCOW2_MISMATCH_KEEP)
		return mm_report(ck, &m);
	if (ck->nmm == *cap) {
		*cap = *cap == 0 ? 64 : *cap * 2;
		if ((nm = reallocarray(ck->mm, *cap, sizeof(*nm))) == NULL)
			return -ENOMEM;
		ck->mm = nm;
	}
	ck->mm[ck->nmm++] = m;
	return 0;
}

/* One cluster: stored r1 against computed r2, and the COPIED summary. */
static inline int
cmp_one(struct ck *ck, uint64_t k, uint64_t r1, uint64_t *highest,
    size_t *cap)
{
	uint64_t	r2 = qcow2_counts_get(ck->cnt, k);
	unsigned	f;

	if ((r1 | r2) != 0)
		*highest = k;
	if (k < ck->cf_n && (f = cf_get(ck, k)) != 0) {
		/* Keep only the clusters whose entries disagree. */
		if ((r1 == 1 && (f & 2)) || (r1 != 1 && (f & 1)))
			ck->cf_any = true;
		else
			ck->cf[k / 4] &= (uint8_t)~(3U << (2 * (k % 4)));
	}
	if (r1 == r2)
		return 0;
	return mm_add(ck, k, r1, r2, cap);
}

/*
 * The compare pass's refcount blocks read by reader threads (warm cache,
 * a second CPU, many blocks: core/preread.c), in groups of reftable
 * indices; each block at its index's place in the slot, adjacent blocks
 * in one read, as rbwin_load() reads them, zeros past the end of file.
 */
#define QCOW2_RBPAR_GROUP	(1ULL << 20)	/* bytes of blocks a group */

struct rbpar {
	struct ck		*ck;
	struct img_preread	*pr;
	uint64_t		 per;	/* reftable indices a group */
	uint64_t		 nt;	/* indices compared */
	uint64_t		*fail;	/* per group: index of a failed read */
	uint64_t		 cur;	/* group held, or UINT64_MAX */
	const uint8_t		*buf;
	int			 rc;
};

/* Is refcount block t there to be read (present and aligned)? */
static bool
rb_readable(const struct qcow2 *q, uint64_t t)
{
	uint64_t	off;

	if (t >= q->reftable_n)
		return false;
	off = q->reftable[t] & QCOW2_REFT_OFFSET_MASK;
	return off != 0 && (off & (q->cs - 1)) == 0;
}

static int
rbpar_fill(void *arg, size_t g, uint8_t *buf)
{
	struct rbpar	*r = arg;
	struct qcow2	*q = r->ck->q;
	uint64_t	 t = g * r->per, first = t, end, t1, off;
	int		 rc;

	end = r->nt - t < r->per ? r->nt : t + r->per;
	r->fail[g] = UINT64_MAX;
	for (; t < end; t = t1) {
		t1 = t + 1;
		if (!rb_readable(q, t))
			continue;
		off = q->reftable[t] & QCOW2_REFT_OFFSET_MASK;
		while (t1 < end && (q->reftable[t1] &
		    QCOW2_REFT_OFFSET_MASK) == off + (t1 - t) * q->cs)
			t1++;
		if ((rc = img_pread_zf(r->ck->img, off, buf + (t - first) *
		    q->cs, (size_t)((t1 - t) * q->cs), NULL)) != 0) {
			r->fail[g] = t;
			return rc;
		}
	}
	return 0;
}

/* Cached?  Three blocks, read only from the page cache, tell. */
static bool
rbpar_warm(struct ck *ck, uint64_t nt)
{
	struct qcow2	*q = ck->q;
	uint8_t		 b[512];
	uint64_t	 t, seen = 0, k = 1;

	for (t = 0; t < nt && k <= 3; t++) {
		if (!rb_readable(q, t) || seen++ < nt * k / 4)
			continue;
		k++;
		if (img_pread_cached(ck->img, q->reftable[t] &
		    QCOW2_REFT_OFFSET_MASK, b, sizeof(b)) == -EAGAIN)
			return false;
	}
	return true;
}

static void
rbpar_start(struct ck *ck, uint64_t n, struct rbpar *r)
{
	struct qcow2	*q = ck->q;
	uint64_t	 t, blocks = 0, ng;
	unsigned	 threads;

	memset(r, 0, sizeof(*r));
	r->ck = ck;
	r->cur = UINT64_MAX;
	r->nt = (n + (1ULL << q->rb_bits) - 1) >> q->rb_bits;
	if (r->nt > q->reftable_n)
		r->nt = q->reftable_n;
	for (t = 0; t < r->nt; t++)
		blocks += rb_readable(q, t);
	if (!img_preread_worth(ck->img, blocks * q->cs) ||
	    (threads = img_preread_threads(ck->img)) == 0 ||
	    !rbpar_warm(ck, r->nt))
		return;
	r->per = img_preread_group(ck->img, QCOW2_RBPAR_GROUP) / q->cs;
	if (r->per == 0)
		r->per = 1;
	ng = (r->nt + r->per - 1) / r->per;
	if ((r->fail = calloc((size_t)ng, sizeof(*r->fail))) == NULL)
		return;
	if (img_preread_start(&r->pr, threads, 2 * (size_t)threads,
	    (size_t)(r->per * q->cs), (size_t)ng, rbpar_fill, r) != 0) {
		free(r->fail);
		r->fail = NULL;
		r->pr = NULL;
	}
}

/* Point *rb at refcount block t, from its group (in order). */
static int
rbpar_block(struct rbpar *r, uint64_t t, const uint8_t **rb)
{
	uint64_t	g = t / r->per;

	if (t >= r->nt)
		return rbwin_ptr(r->ck, t, rb);
	if (g != r->cur) {
		if (r->cur != UINT64_MAX)
			img_preread_done(r->pr, (size_t)r->cur);
		r->rc = img_preread_next(r->pr, (size_t)g, &r->buf);
		r->cur = g;
	}
	if (r->rc != 0 && t >= r->fail[g])
		return r->rc;
	*rb = r->buf + (t - g * r->per) * r->ck->q->cs;
	return 0;
}

static void
rbpar_stop(struct rbpar *r)
{
	img_preread_stop(r->pr);
	free(r->fail);
	r->pr = NULL;
	r->fail = NULL;
}

/*
 * Compare the counts of the clusters refcount block t covers, [k0, k1)
 * of n, with the block's bytes rb (NULL: no block).
 */
static int
compare_block(struct ck *ck, uint64_t t, uint64_t n, const uint8_t *rb,
    uint64_t *highest, size_t *cap)
{
	struct qcow2	*q = ck->q;
	struct pr_ctx	 pc;
	uint64_t	 k, k0, k1, e, off;
	char		 path[64];
	int		 rc;

	k0 = t << q->rb_bits;
	k1 = n - k0 < (1ULL << q->rb_bits) ? n : k0 +
	    (1ULL << q->rb_bits);
	e = t < q->reftable_n ? q->reftable[t] : 0;
	off = e & QCOW2_REFT_OFFSET_MASK;
	if (off != 0 && (off & (q->cs - 1)) != 0) {
		/* QEMU cannot read this block: each is an error. */
		snprintf(path, sizeof(path), "refcount table [%"
		    PRIu64 "]", t);
		for (k = k0; k < k1; k++) {
			memset(&pc, 0, sizeof(pc));
			pc.off = k << q->h.cluster_bits;
			pc.len = q->cs;
			pc.idx = k;
			pc.path = path;
			pc.flags = PC_HOST;
			report_problem(ck->rp,
			    PR_QCOW2_REFCOUNT_UNREADABLE, &pc);
			if (k < ck->cf_n)	/* skipped, as QEMU */
				ck->cf[k / 4] &= (uint8_t)~(3U <<
				    (2 * (k % 4)));
		}
		return 0;
	}
	if (rb == NULL) {
		/*
		 * No refcount block: only referenced clusters matter.
		 * Skip zero counters 32 at a time, so a huge sparse
		 * file does not cost a loop step per cluster.
		 */
		const qcow2_cnt_t *a = ck->cnt->a;
		const uint64_t	*bits = ck->cnt->bits;

		for (k = k0; k < k1; k++) {
			if ((k & 31) == 0 && k + 32 <= k1 &&
			    k + 32 <= ck->cnt->n && (a != NULL ?
			    zero32(a + k) : ((bits[k / 64] >>
			    (k % 64)) & 0xffffffffULL) == 0)) {
				k += 31;
				continue;
			}
			if ((rc = cmp_one(ck, k, 0, highest,
			    cap)) != 0)
				return rc;
		}
	} else if (q->h.refcount_order == 4 &&
	    block_all_one(ck, rb, k0, k1)) {
		/* Every refcount 1, as computed, COPIED all set. */
		*highest = k1 - 1;
	} else if (q->h.refcount_order == 4) {
		const qcow2_cnt_t *a = ck->cnt->a;
		uint64_t	 r1;

		/* Equal, not spilled, COPIED summary consistent. */
		for (k = k0; k < k1; k++) {
			r1 = be16_at(rb + 2 * (k - k0));
			if (r1 == a[k] && r1 != QCOW2_CNT_SPILL &&
			    (k >= ck->cf_n || ((ck->cf[k / 4] >>
			    (2 * (k % 4))) & (r1 == 1 ? 2U : 1U)) ==
			    0)) {
				if (r1 != 0)
					*highest = k;
				continue;
			}
			if ((rc = cmp_one(ck, k, r1, highest,
			    cap)) != 0)
				return rc;
		}
	} else {
		for (k = k0; k < k1; k++)
			if ((rc = cmp_one(ck, k, qcow2_rb_get(rb,
			    q->h.refcount_order, k - k0), highest,
			    cap)) != 0)
				return rc;
	}
	return 0;
}

static int
compare(struct ck *ck, uint64_t *highest)
{
	struct qcow2	*q = ck->q;
	struct rbpar	 par;
	const uint8_t	*rb;
	uint64_t	 n = qcow2_counts_len(ck->cnt), t;
	size_t		 cap = 0, i;
	int		 rc;

	*highest = 0;
	/* Without the memory the careful path does it all. */
	if (q->h.refcount_order == 4 && ck->ones16 == NULL &&
	    (ck->ones16 = malloc((size_t)q->cs)) != NULL &&
	    (ck->ones8 = malloc((size_t)q->cs / 2)) != NULL) {
		for (i = 0; i < q->cs / 2; i++) {
			ck->ones16[2 * i] = 0;
			ck->ones16[2 * i + 1] = 1;
		}
		memset(ck->ones8, 1, (size_t)q->cs / 2);
		ck->ones_len = (size_t)q->cs;
	}
	rc = 0;
	rbpar_start(ck, n, &par);
	for (t = 0; (t << q->rb_bits) < n && rc == 0; t++) {
		if (img_interrupted()) {
			rc = -EINTR;
			break;
		}
		rb = NULL;
		if (rb_readable(q, t))
			rc = par.pr != NULL ? rbpar_block(&par, t, &rb) :
			    rbwin_ptr(ck, t, &rb);
		if (rc == 0)
			rc = compare_block(ck, t, n, rb, highest, &cap);
	}
	rbpar_stop(&par);
	if (rc != 0)
		return rc;
	if (ck->nmm == 0)
		return 0;
	if ((rc = mm_reverse_map(ck)) != 0)
		return rc;
	for (i = 0; i < ck->nmm; i++)
		if ((rc = mm_report(ck, &ck->mm[i])) != 0)
			return rc;
	return 0;
}

/* ---- header facts, reported but not counted --------------------------- */

static void
check_header(struct ck *ck)
{
	struct qcow2		*q = ck->q;
	struct qcow2_fix	*fx = qcow2_fixing(ck->fx, QCOW2_FIX_STRUCT) ?
				    ck->fx : NULL;
	struct pr_ctx		 pc;
	size_t			 i;

	memset(&pc, 0, sizeof(pc));
	pc.path = "header";
	pc.flags = PC_HOST;
	pc.off = 72;
	pc.len = 8;
	if (q->h.incompatible & QCOW2_INCOMPAT_DIRTY)
		report_problem(ck->rp, PR_QCOW2_DIRTY, &pc);
	if (q->h.incompatible & QCOW2_INCOMPAT_CORRUPT)
		report_problem(ck->rp, PR_QCOW2_CORRUPT_BIT, &pc);
	pc.off = 88;
	/* QEMU clears these whenever it opens the image for writing. */
	if (fx != NULL)
		pc.flags |= PC_LEAKS_OK;
	if (q->unknown_autoclear != 0) {
		pc.found = q->unknown_autoclear;
		if (report_problem(ck->rp, PR_QCOW2_AUTOCLEAR_UNKNOWN, &pc) &&
		    fx != NULL) {
			qcow2_fix_count(fx, PR_QCOW2_AUTOCLEAR_UNKNOWN, 1);
			fx->hdr_autoclear = q->unknown_autoclear;
		}
	}
	if (q->bitmaps_ignored && report_problem(ck->rp,
	    PR_QCOW2_BITMAPS_IGNORED, &pc) && fx != NULL) {
		qcow2_fix_count(fx, PR_QCOW2_BITMAPS_IGNORED, 1);
		fx->bm_drop_all = true;
		fx->bm_id = PR_QCOW2_BITMAPS_IGNORED;
	}
	pc.flags &= ~PC_LEAKS_OK;
	pc.off = 80;
	if (q->h.compatible & ~QCOW2_COMPAT_LAZY_REFCOUNTS) {
		pc.found = q->h.compatible & ~QCOW2_COMPAT_LAZY_REFCOUNTS;
		report_problem(ck->rp, PR_QCOW2_COMPAT_UNKNOWN, &pc);
	}
	for (i = 0; i < sizeof(q->h.padding); i++) {
		if (q->h.padding[i] == 0)
			continue;
		pc.off = 105 + i;
		pc.len = 1;
		pc.idx = 105 + i;
		pc.found = q->h.padding[i];
		if (report_problem(ck->rp, PR_QCOW2_HDR_PADDING, &pc) &&
		    fx != NULL) {
			qcow2_fix_count(fx, PR_QCOW2_HDR_PADDING, 1);
			fx->hdr_padding = true;
		}
	}
	report_extra_bool(ck->rp, "dirty-flag",
	    (q->h.incompatible & QCOW2_INCOMPAT_DIRTY) != 0);
	report_extra_bool(ck->rp, "corrupt-flag",
	    (q->h.incompatible & QCOW2_INCOMPAT_CORRUPT) != 0);
}

/* ---- driver (spec 4 and 4.6) ------------------------------------------ */

static int	check_walk(struct img *img, struct report *rp,
		    const struct qcow2_claims *cl, struct qcow2_fix *fx);

/*
 * A snapshot QEMU cannot use (its L1 table is misaligned or too large):
 * a repair drops its record, and its clusters become leaks.
 */
static bool
snap_drop(struct ck *ck, uint32_t i, enum pr_id id, const struct pr_ctx *pc)
{
	if (!report_problem(ck->rp, id, pc) ||
	    !qcow2_fixing(ck->fx, QCOW2_FIX_STRUCT) || ck->fx->snap_drop == NULL)
		return false;
	qcow2_fix_count(ck->fx, id, 1);
	ck->fx->snap_drop[i] = 1;
	ck->fx->snap_rewrite = true;
	ck->fx->snap_id = id;
	return true;
}

static int
walk_snapshots(struct ck *ck)
{
	struct qcow2		*q = ck->q;
	struct qcow2_snap	*sn;
	struct pr_ctx		 pc;
	uint64_t		 roff = ck->snaps.offset, send;
	uint32_t		 i;
	char			 name[96], path[128];
	int			 rc;

	if (q->data_file && ck->snaps.n > 0) {
		memset(&pc, 0, sizeof(pc));
		pc.found = ck->snaps.n;
		pc.path = "header";
		/* A repair drops them: QEMU cannot use any of them. */
		if (report_problem(ck->rp, PR_QCOW2_SNAPS_WITH_DATA_FILE,
		    &pc) && qcow2_fixing(ck->fx, QCOW2_FIX_STRUCT)) {
			qcow2_fix_count(ck->fx, PR_QCOW2_SNAPS_WITH_DATA_FILE,
			    1);
			ck->fx->snap_drop_all = true;
			ck->fx->snap_rewrite = true;
			ck->fx->snap_id = PR_QCOW2_SNAPS_WITH_DATA_FILE;
			return 0;
		}
	}
	for (i = 0; i < ck->snaps.n; i++) {
		sn = &ck->snaps.s[i];
		roff = (roff + 7) & ~7ULL;
		snprintf(name, sizeof(name), "%.24s (%.40s)", sn->id,
		    sn->name);
		snprintf(path, sizeof(path), "snapshot table entry %" PRIu32,
		    i);
		memset(&pc, 0, sizeof(pc));
		pc.str = name;
		pc.path = path;
		pc.off = roff;
		pc.len = 12;
		pc.flags = PC_HOST;
		roff += QCOW2_SNAP_HDR_LEN + sn->extra_data_size +
		    strlen(sn->id) + strlen(sn->name);
		if ((sn->l1_table_offset & (q->cs - 1)) != 0) {
			pc.off = sn->l1_table_offset;
			snap_drop(ck, i, PR_QCOW2_SNAP_L1_MISALIGNED, &pc);
			continue;
		}
		if (sn->l1_size > QCOW2_MAX_SNAP_L1_ENTRIES) {
			pc.found = sn->l1_size;
			pc.want = QCOW2_MAX_SNAP_L1_ENTRIES;
			snap_drop(ck, i, PR_QCOW2_SNAP_L1_TOO_LARGE, &pc);
			continue;
		}
		/*
		 * A snapshot whose L1 table lies wholly past the end of the
		 * file (it reads as zeros): a repair drops it.  Its walk would
		 * find nothing but that.
		 */
		if (ck->fx != NULL && sn->l1_size > 0 &&
		    sn->l1_table_offset >= ck->file_len &&
		    (!ck_add_u64(sn->l1_table_offset, (uint64_t)sn->l1_size *
		    8, &send) || send - ck->file_len >= q->cs)) {
			pc.off = sn->l1_table_offset;
			pc.len = (uint64_t)sn->l1_size * 8;
			pc.found = pc.len;
			pc.str = "snapshot L1 table";
			pc.flags = PC_HOST;
			(void)snap_drop(ck, i, PR_QCOW2_REF_PAST_EOF, &pc);
			continue;
		}
		/*
		 * A repair drops a snapshot whose L1 table lies on other
		 * metadata (QEMU would write that metadata through it).
		 */
		if (qcow2_fixing(ck->fx, QCOW2_FIX_STRUCT) && meta_overlap(ck,
		    sn->l1_table_offset, (uint64_t)sn->l1_size * 8, false)) {
			pc.off = sn->l1_table_offset;
			pc.len = (uint64_t)sn->l1_size * 8;
			pc.str = "snapshot L1 table";
			if (snap_drop(ck, i, PR_QCOW2_SHARED_CLUSTER, &pc))
				continue;
			pc.str = name;
		}
		snprintf(ck->l1name, sizeof(ck->l1name), "snapshot %s L1",
		    name);
		if ((rc = walk_l1(ck, sn->l1_table_offset, sn->l1_size,
		    false)) != 0)
			return rc;
	}
	return 0;
}

/*
 * What stops QEMU from reading the image at all (a data file it cannot
 * open, an encryption key it lacks, a backing file that is not there):
 * qemu-img check fails to open it, and so do we, naming the finding;
 * with --force we go on to walk the metadata.
 */
static int
open_refusals(struct ck *ck)
{
	struct img	*img = ck->img;
	struct qcow2	*q = ck->q;
	struct pr_ctx	 pc;
	char		 name[QCOW2_MAX_BACKING_NAME + 1], fmt[32];
	char		 why[IMG_ERRMSG_MAX], *path, *slash;
	uint64_t	 sz;
	size_t		 n;
	int		 fd, hit = 0;

	memset(&pc, 0, sizeof(pc));
	pc.path = "header";
	if (qcow2_usable(img, q, true) != 0 && q->refuse_io) {
		/* img's message is qemu's reason, from qcow2_usable(). */
		pc.str = q->refuse;
		report_problem(ck->rp, q->refuse_id, &pc);
		hit = 1;
	}
	if (qcow2_backing(img, name, sizeof(name), fmt, sizeof(fmt)) == 1) {
		slash = strrchr(img->path, '/');
		n = slash != NULL && name[0] != '/' ?
		    (size_t)(slash - img->path) + 1 : 0;
		if ((path = malloc(n + strlen(name) + 1)) == NULL)
			return -ENOMEM;
		memcpy(path, img->path, n);
		memcpy(path + n, name, strlen(name) + 1);
		if (img_file_open(path, false, true, &fd, &sz, why,
		    sizeof(why)) != 0) {
			img_set_error(img, "Could not open backing file: Could "
			    "not open '%s': %s (qcow2-backing-missing)", path,
			    why);
			snprintf(why + strlen(why), sizeof(why) - strlen(why),
			    " ('%s')", path);
			pc.str = why;
			report_problem(ck->rp, PR_QCOW2_BACKING_MISSING, &pc);
			hit = 1;
		} else
			close(fd);
		free(path);
	}
	return hit && !ck->rp->force ? -IMG_ECHECK : 0;
}

/*
 * The counters of every cluster a present refcount block covers will be
 * written: have their pages mapped in runs of present blocks, not one
 * fault at a time (qcow2_counts_populate()).
 */
static void
populate_counts(struct ck *ck)
{
	const struct qcow2	*q = ck->q;
	uint64_t		 t, t0;

	for (t = 0; t < q->reftable_n; t++) {
		if (q->reftable[t] == 0)
			continue;
		for (t0 = t; t < q->reftable_n && q->reftable[t] != 0; t++)
			;
		qcow2_counts_populate(ck->cnt, t0 << q->rb_bits,
		    t << q->rb_bits);
	}
}

int
qcow2_check(struct img *img, struct report *rp)
{
	return qcow2_check_walk(img, rp, NULL);
}

int
qcow2_check_walk(struct img *img, struct report *rp,
    const struct qcow2_claims *cl)
{
	return check_walk(img, rp, cl, NULL);
}

int
qcow2_check_fix(struct img *img, struct report *rp, struct qcow2_fix *fx)
{
	return check_walk(img, rp, NULL, fx);
}

static int
check_walk(struct img *img, struct report *rp, const struct qcow2_claims *cl,
    struct qcow2_fix *fx)
{
	struct qcow2	*q = img->priv;
	struct ck	 ck;
	uint64_t	 highest = 0, n;
	int		 rc;

	memset(&ck, 0, sizeof(ck));
	ck.cl = cl;
	ck.fx = fx;
	ck.pe_flags = PC_NOFIX;
	ck.img = img;
	ck.q = q;
	ck.rp = rp;
	ck.file_len = img->size;
	ck.mult = 1;
	check_header(&ck);
	if ((rc = open_refusals(&ck)) != 0)
		return rc;

	/* 1. The snapshot table (4.1); a failure here stops the check. */
	if ((rc = qcow2_snaptab_read_fix(img, q, &ck.snaps, rp, fx)) != 0)
		return rc;
	if (qcow2_fixing(fx, QCOW2_FIX_STRUCT)) {
		/* What the repair may drop: snapshot records, bitmaps. */
		if ((ck.snaps.n > 0 && (fx->snap_drop = calloc(ck.snaps.n,
		    1)) == NULL) || (q->nb_bitmaps > 0 && (fx->bm_drop =
		    calloc(q->nb_bitmaps, 1)) == NULL)) {
			rc = -ENOMEM;
			goto out;
		}
		fx->snap_n = ck.snaps.n;
	}

	/* 2. Computed counts, one per host cluster (4.2). */
	n = img->size / q->cs + (img->size % q->cs != 0);
	if ((rc = qcow2_counts_new(n, q->rc_max, &ck.cnt)) != 0)
		goto out;
	populate_counts(&ck);
	ck.cf_n = n;
	if ((ck.cf = calloc((size_t)(n / 4 + 1), 1)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	rp->c.total_clusters = q->h.size / q->cs + (q->h.size % q->cs != 0);
	if ((rc = add_ref(&ck, 0, q->cs, "header", LP("header"), 0, 0)) != 0)
		goto out;
	snprintf(ck.l1name, sizeof(ck.l1name), "active L1");
	if ((rc = walk_l1(&ck, q->h.l1_table_offset, q->h.l1_size,
	    true)) != 0)
		goto out;
	if ((rc = walk_snapshots(&ck)) != 0)
		goto out;
	/* A snapshot table running past the end: a repair rewrites it. */
	ck.pe_flags = qcow2_fixing(fx, QCOW2_FIX_STRUCT) ? 0 : PC_NOFIX;
	if (ck.snaps.n > 0 && (rc = add_ref(&ck, ck.snaps.offset,
	    ck.snaps.bytes, "snapshot table", LP("snapshot table"), 0,
	    0)) != 0)
		goto out;
	if (ck.pe_fix) {
		fx->snap_rewrite = true;
		fx->snap_id = PR_QCOW2_REF_PAST_EOF;
		qcow2_fix_ceiling(fx, ck.snaps.offset, ck.snaps.bytes,
		    ck.file_len, true);
	}
	ck.pe_flags = PC_NOFIX;
	ck.pe_fix = false;
	if ((rc = add_ref(&ck, q->h.refcount_table_offset, q->reftable_n * 8,
	    "refcount table", LP("refcount table"), 0, 0)) != 0)
		goto out;
	if (q->has_crypto_ext && (rc = add_ref(&ck, q->crypto_off,
	    q->crypto_len, "LUKS header", LP("encryption header"), 0,
	    0)) != 0)
		goto out;
	if ((rc = walk_bitmaps(&ck)) != 0)
		goto out;
	if ((rc = walk_refblocks(&ck)) != 0)
		goto out;

	/* 3. Compare with the refcounts on disk (4.5), then COPIED (4.8). */
	if ((rc = compare(&ck, &highest)) != 0)
		goto out;
	if (ck.cf_any) {
		ck.recheck = true;
		snprintf(ck.l1name, sizeof(ck.l1name), "active L1");
		if ((rc = walk_l1(&ck, q->h.l1_table_offset, q->h.l1_size,
		    true)) != 0)
			goto out;
	}
	rp->c.image_end_offset = (highest + 1) << q->h.cluster_bits;
	if ((rc = ck.fx_err) != 0)
		goto out;
	if (fx != NULL) {
		qcow2_fix_counts(fx, &ck.cnt);
		if (qcow2_fixing(fx, QCOW2_FIX_STRUCT)) {
			/* The records, for the snapshot table's rewrite. */
			fx->snaps = ck.snaps;
			memset(&ck.snaps, 0, sizeof(ck.snaps));
		}
	}
out:
	qcow2_snaptab_release(&ck.snaps);
	qcow2_counts_free(ck.cnt);
	img_view_release(&ck.win[0].v);
	img_view_release(&ck.win[1].v);
	free(ck.win[0].buf);
	free(ck.win[1].buf);
	free(ck.mm);
	free(ck.cf);
	free(ck.ones16);
	free(ck.ones8);
	return rc;
}
