/* SPDX-License-Identifier: MIT */
/*
 * qed_check.c --- walk the QED tables and count as qemu-img check does.
 *
 * We follow QEMU 7.2's qed_check() step by step (spec 4.2): mark the L1
 * table, then for each L1 entry drop invalid offsets, mark the L2 table
 * (a table sharing a marked cluster is skipped and costs one corruption
 * per shared cluster), and for each L2 entry count allocated and
 * fragmented clusters, drop invalid offsets and mark the data cluster (a
 * second reference is a corruption).  Unmarked clusters after the header
 * are leaks.
 *
 * QEMU numbers clusters as roundup(offset, cs) / (cs - 1), which skips an
 * index every cs - 1 clusters; each skipped index is a leak that is not
 * there.  The counters use QEMU's numbering so that verdicts agree; a
 * second bitmap numbered offset / cs gives the findings, and when the two
 * leak counts differ an info finding says why.
 *
 * The tables are read by the one walker (qed_walk.c); this file is its
 * check visitor.  The same visitor repairs when asked (qed_check_walk
 * with fix): like QEMU it only
 * zeroes invalid L1 and L2 offsets, whose problems are counted as fixed
 * instead of as corruptions, writes the tables it changed back, and
 * clears NEED_CHECK last, once no corruption and no check error remains.
 * Leaks and double references are left alone.  qed_check never writes.
 *
 * The host map is the same walk with a sink (qed_hostmap): every
 * structure the check marks is claimed there, with the code of the
 * finding that concerns its bytes, and the leaks it computes are claimed
 * as "leaked".
 */
#include <sys/stat.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qed/qed.h"
#include "core/banned.h"

struct qck {
	struct img		*img;
	const struct qed	*q;
	const struct qed_geom	*g;
	struct report		*rp;
	struct qed_bm		 qbm;	/* QEMU's cluster indexes */
	struct qed_bm		 tbm;	/* true cluster numbers, all refs */
	struct qed_bm		 tabbm;	/* true cluster numbers of tables */
	uint64_t		 nq;	/* QEMU's nclusters */
	uint64_t		 nt;	/* clusters in the rounded file */
	uint64_t		 last;	/* previous data cluster, this table */
	int			 ioerr;	/* last I/O error, as QEMU keeps */
	struct hmap_sink	*hs;	/* host map claims, or NULL */
	int			 hrc;	/* first claim that failed */
	char			 owner[40];	/* "L2 @0x...", this table */
	bool			 fix;	/* repair: may write */
	bool			 clear_nc;	/* may clear NEED_CHECK */
	bool			 clear_ac;	/* may clear autoclear bits */
	bool			 nc_done;	/* NEED_CHECK reported */
	char			 path[96];
};

/*
 * Mark n consecutive QEMU indexes from index(off), as
 * qed_set_used_clusters() does; *dups counts those already marked.
 */
static int
qck_qmark(struct qck *ck, uint64_t off, uint64_t n, uint64_t *dups)
{
	uint64_t	i, idx = qed_qemu_index(ck->g, off);
	bool		was;
	int		rc;

	*dups = 0;
	for (i = 0; i < n; i++) {
		if ((rc = qed_bm_set(&ck->qbm, idx + i, &was)) != 0)
			return rc;
		if (was)
			(*dups)++;
	}
	return 0;
}

/* Mark the n true clusters from off in tbm (and in tabbm for tables). */
static int
qck_tmark(struct qck *ck, uint64_t off, uint64_t n, bool table)
{
	uint64_t	i, c = off / ck->g->cs;
	bool		was;
	int		rc;

	for (i = 0; i < n; i++) {
		if ((rc = qed_bm_set(&ck->tbm, c + i, &was)) != 0)
			return rc;
		if (table && (rc = qed_bm_set(&ck->tabbm, c + i, &was)) != 0)
			return rc;
	}
	return 0;
}

/*
 * Claim [off, off + len) for the host map (nothing without a sink); the
 * first failure is kept in ck->hrc and stops the walk.
 */
static int
qck_claim(struct qck *ck, uint64_t off, uint64_t len, const char *cls,
    const char *owner, enum pr_id id)
{
	const struct pr_info	*pi;
	int			 rc;

	if (ck->hs == NULL || ck->hrc != 0)
		return ck->hrc;
	pi = id == PR_COUNT ? NULL : pr_info_get(id);
	if ((rc = hm_add(ck->hs, off, len, cls, owner, pi != NULL ?
	    pi->code : 0)) != 0)
		ck->hrc = rc;
	return ck->hrc;
}

/* Guest bytes behind table entry idx (in units of span bytes each). */
static void
qck_guest(const struct qck *ck, uint64_t idx, uint64_t span,
    struct pr_ctx *pc)
{
	uint64_t	goff, size = ck->q->hdr.image_size;

	if (!ck_mul_u64(idx, span, &goff) || goff >= size)
		return;
	pc->goff = goff;
	pc->glen = size - goff < span ? size - goff : span;
	pc->flags |= PC_GUEST;
}

/*
 * Report an invalid offset and say whether it is to be zeroed: QEMU
 * counts it as fixed in repair mode, as a corruption otherwise.  Any
 * repair mode: QEMU's QED check takes -r leaks and -r all alike
 * (qed_check(s, result, !!fix)), so this fix is allowed at the leaks
 * level too.
 */
static bool
qck_bad_offset(struct qck *ck, enum pr_id id, struct pr_ctx *pc)
{
	bool	fixed;

	pc->flags |= PC_NOCOUNT | PC_LEAKS_OK;
	fixed = report_problem(ck->rp, id, pc) && ck->fix;
	if (fixed)
		ck->rp->c.corruptions_fixed++;
	else
		ck->rp->c.corruptions++;
	return fixed;
}

static bool
qck_l1_bad(struct qck *ck, uint64_t i, uint64_t e, enum qed_off_err oe)
{
	struct pr_ctx	pc = { .off = e, .len = ck->g->table_bytes, .idx = i,
	    .found = ck->g->table_bytes, .flags = PC_HOST };

	snprintf(ck->path, sizeof(ck->path), "L1[%" PRIu64 "]", i);
	pc.path = ck->path;
	qck_guest(ck, i, ck->g->nent * ck->g->cs, &pc);
	if (oe == QED_OFF_IN_HEADER)
		pc.want = ck->g->hdr_bytes;
	else if (oe == QED_OFF_PAST_EOF)
		pc.want = ck->g->file_size;
	(void)qck_claim(ck, e, ck->g->table_bytes, "l2", ck->path,
	    qed_l1_problem(oe));
	return qck_bad_offset(ck, qed_l1_problem(oe), &pc);
}

static bool
qck_l2_bad(struct qck *ck, uint64_t l1i, uint64_t toff, uint64_t j,
    uint64_t d, enum qed_off_err oe)
{
	struct pr_ctx	pc = { .off = d, .len = ck->g->cs, .idx = j,
	    .found = d, .flags = PC_HOST };

	snprintf(ck->path, sizeof(ck->path), "L1[%" PRIu64 "] -> L2 @0x%"
	    PRIx64 " [%" PRIu64 "]", l1i, toff, j);
	pc.path = ck->path;
	qck_guest(ck, l1i * ck->g->nent + j, ck->g->cs, &pc);
	if (oe == QED_OFF_IN_HEADER)
		pc.want = ck->g->hdr_bytes;
	else if (oe != QED_OFF_MISALIGNED)
		pc.want = ck->g->file_size;
	(void)qck_claim(ck, d, ck->g->cs, "data", ck->owner,
	    qed_l2_problem(oe));
	return qck_bad_offset(ck, qed_l2_problem(oe), &pc);
}

/* Write cnt entries of the table at off, from entry first, back. */
static int
qck_write_back(struct qck *ck, uint64_t off, uint64_t first, size_t cnt,
    const uint64_t *ent, const char *what)
{
	struct pr_ctx	 pc;
	uint8_t		*buf;
	size_t		 k;
	int		 rc;

	if ((buf = malloc(cnt * 8)) == NULL)
		return -ENOMEM;
	for (k = 0; k < cnt; k++)
		put_le64(buf + 8 * k, ent[k]);
	rc = img_pwrite(ck->img, off + first * 8, buf, cnt * 8);
	free(buf);
	if (rc == 0 || rc == -ENOMEM)
		return rc;
	/* QEMU: a failed table write is one check error. */
	memset(&pc, 0, sizeof(pc));
	pc.off = off + first * 8;
	pc.len = cnt * 8;
	pc.str = what;
	pc.flags = PC_HOST;
	(void)report_problem(ck->rp, PR_CORE_IO_ERROR, &pc);
	return 0;
}

/* Visitor: one L2 entry (qed_check_l2_table). */
static int
qck_v_l2(void *arg, struct qed_wpos *p)
{
	struct qck		*ck = arg;
	const struct qed_geom	*g = ck->g;
	struct check_counts	*c = &ck->rp->c;
	struct pr_ctx		 pc;
	uint64_t		 d = *p->ep, dups;
	int			 rc;

	if (d == QED_L2_UNALLOC || d == QED_L2_ZERO)
		return 0;
	c->allocated_clusters++;
	if (ck->last != 0 && ck->last + g->cs != d)
		c->fragmented_clusters++;
	ck->last = d;
	if (p->oe != QED_OFF_OK) {
		if (qck_l2_bad(ck, p->l1i, p->toff, p->j, d, p->oe)) {
			*p->ep = 0;
			p->dirty = true;
		}
		return ck->hrc;
	}
	if ((rc = qck_qmark(ck, d, 1, &dups)) != 0 ||
	    (rc = qck_tmark(ck, d, 1, false)) != 0)
		return rc;
	if (dups == 0)
		return qck_claim(ck, d, g->cs, "data", ck->owner, PR_COUNT);
	memset(&pc, 0, sizeof(pc));
	pc.off = d;
	pc.len = g->cs;
	pc.idx = p->j;
	pc.flags = PC_HOST;
	if (d >= ck->q->hdr.l1_table_offset &&
	    d - ck->q->hdr.l1_table_offset < g->table_bytes)
		pc.str = "the L1 table";
	else if (qed_bm_test(&ck->tabbm, d / g->cs))
		pc.str = "an L2 table";
	else
		pc.str = "another L2 entry";
	snprintf(ck->path, sizeof(ck->path), "L1[%" PRIu64 "] -> L2 @0x%"
	    PRIx64 " [%" PRIu64 "]", p->l1i, p->toff, p->j);
	pc.path = ck->path;
	qck_guest(ck, p->l1i * g->nent + p->j, g->cs, &pc);
	(void)report_problem(ck->rp, PR_QED_DATA_SHARED, &pc);
	return qck_claim(ck, d, g->cs, "data", ck->owner,
	    PR_QED_DATA_SHARED);
}

/*
 * Visitor: n entries naming adjacent valid clusters from *p->ep, the
 * common case of a written image, marked a word at a time.  Not taken (1)
 * for the host map, or when a cluster is already marked: qck_v_l2() then
 * reports each shared one.
 */
static int
qck_v_l2run(void *arg, const struct qed_wpos *p, size_t n)
{
	struct qck		*ck = arg;
	const struct qed_geom	*g = ck->g;
	struct check_counts	*c = &ck->rp->c;
	uint64_t		 d = *p->ep, k0 = d / g->cs, k, seg, idx;
	uint64_t		 per = g->cs - 1;
	int			 rc;

	if (ck->hs != NULL ||
	    qed_bm_next(&ck->tbm, k0, k0 + n, true) != k0 + n)
		return 1;
	/*
	 * QEMU's index of cluster k is k + k / (cs - 1) (qed_qemu_index()):
	 * consecutive within each stretch of cs - 1 clusters.
	 */
	for (k = k0; k < k0 + n; k += seg) {
		seg = per - k % per;
		if (seg > k0 + n - k)
			seg = k0 + n - k;
		idx = k + k / per;
		if (qed_bm_next(&ck->qbm, idx, idx + seg, true) != idx + seg)
			return 1;
	}
	for (k = k0; k < k0 + n; k += seg) {
		seg = per - k % per;
		if (seg > k0 + n - k)
			seg = k0 + n - k;
		if ((rc = qed_bm_set_range(&ck->qbm, k + k / per, seg)) != 0)
			return rc;
	}
	if ((rc = qed_bm_set_range(&ck->tbm, k0, n)) != 0)
		return rc;
	c->allocated_clusters += n;
	if (ck->last != 0 && ck->last + g->cs != d)
		c->fragmented_clusters++;
	ck->last = d + (n - 1) * g->cs;
	return 0;
}

/*
 * Visitor: one L1 entry; an invalid one is zeroed when fixed, a table
 * sharing a cluster already marked is not read (qed_check_l1_table).
 */
static int
qck_v_l1(void *arg, struct qed_wpos *p)
{
	struct qck		*ck = arg;
	const struct qed_geom	*g = ck->g;
	struct pr_ctx		 pc;
	uint64_t		 e = *p->ep, i = p->l1i, dups;
	int			 rc;

	if (e == 0)
		return 0;
	if (p->oe != QED_OFF_OK) {
		if (qck_l1_bad(ck, i, e, p->oe)) {
			*p->ep = 0;
			p->dirty = true;
		}
		return ck->hrc;
	}
	if ((rc = qck_qmark(ck, e, g->ts, &dups)) != 0 ||
	    (rc = qck_tmark(ck, e, g->ts, true)) != 0)
		return rc;
	if (ck->hs != NULL) {
		snprintf(ck->owner, sizeof(ck->owner), "L1[%" PRIu64 "]", i);
		if ((rc = qck_claim(ck, e, g->table_bytes, "l2", ck->owner,
		    dups != 0 ? PR_QED_L2_OVERLAP : PR_COUNT)) != 0)
			return rc;
		snprintf(ck->owner, sizeof(ck->owner), "L2 @0x%" PRIx64, e);
	}
	if (dups != 0) {
		/* QEMU adds one corruption per shared cluster. */
		memset(&pc, 0, sizeof(pc));
		pc.off = e;
		pc.len = g->table_bytes;
		pc.idx = i;
		pc.flags = PC_HOST;
		qck_guest(ck, i, g->nent * g->cs, &pc);
		snprintf(ck->path, sizeof(ck->path), "L1[%" PRIu64
		    "] -> L2 @0x%" PRIx64, i, e);
		pc.path = ck->path;
		pc.found = dups;
		pc.flags |= PC_NOCOUNT;
		(void)report_problem(ck->rp, PR_QED_L2_OVERLAP, &pc);
		ck->rp->c.corruptions += dups;
		p->skip = true;
		return 0;
	}
	ck->last = 0;
	return 0;
}

/*
 * Visitor: a chunk that could not be read.  The L1 table stops the
 * check; an L2 table is one check error and the walk goes on, as
 * qed_check_l1_table() does.
 */
static int
qck_v_ioerr(void *arg, const struct qed_wpos *p, bool l1, int rc)
{
	struct qck	*ck = arg;
	struct pr_ctx	 pc;

	memset(&pc, 0, sizeof(pc));
	pc.flags = PC_HOST;
	if (l1) {
		pc.off = ck->q->hdr.l1_table_offset + p->first * 8;
		pc.len = p->cnt * 8;
		pc.str = "the L1 table";
		pc.path = "L1";
		(void)report_problem(ck->rp, PR_CORE_IO_ERROR, &pc);
		return rc;
	}
	if (rc == -ENOMEM)
		return rc;
	pc.off = p->toff;
	pc.len = ck->g->table_bytes;
	pc.idx = p->l1i;
	qck_guest(ck, p->l1i, ck->g->nent * ck->g->cs, &pc);
	pc.str = "an L2 table";
	snprintf(ck->path, sizeof(ck->path), "L1[%" PRIu64 "] -> L2 @0x%"
	    PRIx64, p->l1i, p->toff);
	pc.path = ck->path;
	(void)report_problem(ck->rp, PR_CORE_IO_ERROR, &pc);
	ck->ioerr = rc;
	snprintf(ck->path, sizeof(ck->path), "L1[%" PRIu64 "]", p->l1i);
	return qck_claim(ck, p->toff, ck->g->table_bytes, "l2", ck->path,
	    PR_CORE_IO_ERROR);
}

/* Visitor: write back a chunk whose invalid entries were zeroed. */
static int
qck_v_flush(void *arg, uint64_t toff, uint64_t first, size_t cnt,
    const uint64_t *ent, bool l1)
{
	return qck_write_back(arg, toff, first, cnt, ent, l1 ?
	    "the L1 table" : "an L2 table");
}

/* Leaks: QEMU's count into the counters, true runs as findings. */
static int
qck_leaks(struct qck *ck)
{
	const struct qed_geom	*g = ck->g;
	struct pr_ctx		 pc;
	uint64_t		 hs = ck->q->hdr.header_size, a, b;
	uint64_t		 qleaks = 0, tleaks = 0;

	if (hs < ck->nq)
		qleaks = qed_bm_count_clear(&ck->qbm, hs, ck->nq);
	ck->rp->c.leaks += qleaks;
	for (a = hs; a < ck->nt; a = b) {
		a = qed_bm_next(&ck->tbm, a, ck->nt, false);
		if (a >= ck->nt)
			break;
		b = qed_bm_next(&ck->tbm, a, ck->nt, true);
		memset(&pc, 0, sizeof(pc));
		pc.off = a * g->cs;
		pc.len = (b - a) * g->cs;
		pc.found = b - a;
		pc.flags = PC_HOST | PC_NOCOUNT;
		(void)report_problem(ck->rp, PR_QED_LEAK, &pc);
		tleaks += b - a;
		if (qck_claim(ck, pc.off, pc.len, "leaked", NULL,
		    PR_QED_LEAK) != 0)
			return ck->hrc;
	}
	report_extra_int(ck->rp, "leaks-exact", (int64_t)tleaks);
	if (qleaks != tleaks) {
		memset(&pc, 0, sizeof(pc));
		pc.found = qleaks;
		pc.want = tleaks;
		pc.flags = PC_NOCOUNT;
		(void)report_problem(ck->rp, PR_QED_LEAK_PHANTOM, &pc);
	}
	return 0;
}

/*
 * The backing file is never read, but QEMU cannot open an image whose
 * backing file is missing, so a local one must at least exist.  Names
 * with a protocol prefix are not ours to look up.
 */
static void
qck_backing(struct qck *ck)
{
	struct pr_ctx	 pc;
	struct stat	 st;
	char		*full;
	enum pr_id	 id = PR_QED_BACKING_NOT_OPENED;

	memset(&pc, 0, sizeof(pc));
	pc.str = ck->q->backing;
	full = qed_backing_path(ck->img, ck->q->backing);
	if (full != NULL && strchr(ck->q->backing, ':') == NULL &&
	    (stat(full, &st) != 0 || S_ISDIR(st.st_mode))) {
		id = PR_QED_BACKING_MISSING;
		pc.str = full;
		pc.off = ck->q->hdr.backing_filename_offset;
		pc.len = ck->q->hdr.backing_filename_size;
		pc.path = "header";
		pc.flags = PC_HOST;
		(void)qck_claim(ck, pc.off, pc.len, "header", "header", id);
	}
	(void)report_problem(ck->rp, id, &pc);
	free(full);
}

/* Header facts that are findings but never stop the walk. */
static void
qck_header(struct qck *ck)
{
	const struct qed_hdr	*h = &ck->q->hdr;
	struct pr_ctx		 pc;

	memset(&pc, 0, sizeof(pc));
	pc.path = "header";
	pc.flags = PC_HOST;
	pc.len = 8;
	if (h->compat_features != 0) {
		pc.off = 24;
		pc.found = h->compat_features;
		(void)report_problem(ck->rp, PR_QED_COMPAT_UNKNOWN, &pc);
		(void)qck_claim(ck, 24, 8, "header", "header",
		    PR_QED_COMPAT_UNKNOWN);
	}
	if (h->autoclear_features != 0) {
		pc.off = 32;
		pc.found = h->autoclear_features;
		(void)qck_claim(ck, 32, 8, "header", "header",
		    PR_QED_AUTOCLEAR_UNKNOWN);
		ck->clear_ac = report_problem(ck->rp, PR_QED_AUTOCLEAR_UNKNOWN,
		    &pc) && ck->fix;
	}
	if (ck->q->backing != NULL && ck->q->backing[0] != '\0')
		qck_backing(ck);
	if (img_file_size(ck->img) % ck->g->cs != 0) {
		memset(&pc, 0, sizeof(pc));
		pc.off = img_file_size(ck->img) & ~(ck->g->cs - 1);
		pc.len = img_file_size(ck->img) - pc.off;
		pc.found = img_file_size(ck->img);
		pc.want = ck->g->cs;
		pc.flags = PC_HOST;
		(void)report_problem(ck->rp, PR_QED_FILE_TAIL, &pc);
		/*
		 * Bytes past the last whole cluster QEMU counts are never
		 * used; a cluster QEMU counts (the length rounds up to a
		 * sector) is the walk's, used or leaked.
		 */
		if (img_file_size(ck->img) > ck->g->file_size)
			(void)qck_claim(ck, ck->g->file_size,
			    img_file_size(ck->img) - ck->g->file_size,
			    "leaked", NULL, PR_QED_FILE_TAIL);
	}
}

static int
qck_limit(struct qck *ck, const char *what, uint64_t n, uint64_t max)
{
	struct pr_ctx	pc = { .str = what, .found = n, .want = max };

	(void)report_problem(ck->rp, PR_CORE_LIMIT, &pc);
	return -IMG_ELIMIT;
}

/*
 * NEED_CHECK, reported once the walk says whether the tables are in fact
 * consistent: only then may a repair clear it (QEMU's rule, spec 4.2).
 */
static void
qck_need_check(struct qck *ck, bool consistent)
{
	struct pr_ctx	pc;

	ck->nc_done = true;
	if (!(ck->q->hdr.features & QED_F_NEED_CHECK))
		return;
	memset(&pc, 0, sizeof(pc));
	pc.path = "header";
	pc.flags = PC_HOST;
	pc.off = 16;
	pc.len = 8;
	pc.found = ck->q->hdr.features;
	(void)qck_claim(ck, 16, 8, "header", "header", consistent ?
	    PR_QED_NEED_CHECK : PR_QED_NEED_CHECK_KEPT);
	if (consistent)
		ck->clear_nc = report_problem(ck->rp, PR_QED_NEED_CHECK,
		    &pc) && ck->fix;
	else
		(void)report_problem(ck->rp, PR_QED_NEED_CHECK_KEPT, &pc);
}

/*
 * Repair's last step: flush what was written, then rewrite the header
 * fields it may clear (features at 16, autoclear_features at 32).
 */
static int
qck_header_fix(struct qck *ck)
{
	struct qed	*q = ck->img->priv;
	uint8_t		 b[8];
	int		 rc;

	if (!ck->clear_ac && !ck->clear_nc)
		return 0;
	if (fsync(ck->img->fd) != 0)
		return -errno;
	if (ck->clear_ac) {
		put_le64(b, 0);
		if ((rc = img_pwrite(ck->img, 32, b, 8)) != 0)
			return rc;
		q->hdr.autoclear_features = 0;
	}
	if (ck->clear_nc) {
		put_le64(b, q->hdr.features & ~QED_F_NEED_CHECK);
		if ((rc = img_pwrite(ck->img, 16, b, 8)) != 0)
			return rc;
		q->hdr.features &= ~QED_F_NEED_CHECK;
	}
	return fsync(ck->img->fd) == 0 ? 0 : -errno;
}

int
qed_check(struct img *img, struct report *rp)
{
	return qed_check_walk(img, rp, false, NULL);
}

int
qed_check_walk(struct img *img, struct report *rp, bool fix,
    struct hmap_sink *hs)
{
	struct qck		 ck;
	const struct qed_geom	*g;
	struct qed_visit	 v;
	struct pr_ctx		 pc;
	uint64_t		 corrupt0, errors0, dups;
	bool			 consistent = false;
	int			 rc;

	memset(&ck, 0, sizeof(ck));
	ck.fix = fix;
	ck.img = img;
	ck.q = img->priv;
	ck.g = g = &ck.q->g;
	ck.rp = rp;
	ck.hs = hs;

	ck.nq = qed_qemu_index(g, g->file_size);
	ck.nt = g->file_size / g->cs;
	/* total_clusters = DIV_ROUND_UP(image_size, cs); no overflow. */
	rp->c.total_clusters = ck.q->hdr.image_size / g->cs +
	    (ck.q->hdr.image_size % g->cs != 0);
	/* The header clusters and the L1 table, for the host map. */
	(void)qck_claim(&ck, 0, g->hdr_bytes, "header", "header", PR_COUNT);
	(void)qck_claim(&ck, ck.q->hdr.l1_table_offset, g->table_bytes, "l1",
	    "L1", PR_COUNT);
	qck_header(&ck);
	/* Consistency is the tables': counted from here on. */
	corrupt0 = rp->c.corruptions;
	errors0 = rp->c.check_errors;

	/* Room for a table marked from the last index, as QEMU's words. */
	if ((rc = qed_bm_init(&ck.qbm, ck.nq + g->ts)) != 0 ||
	    (rc = qed_bm_init(&ck.tbm, ck.nt)) != 0 ||
	    (rc = qed_bm_init(&ck.tabbm, ck.nt)) != 0) {
		if (rc == -IMG_ELIMIT)
			(void)qck_limit(&ck, "clusters in the file", ck.nq,
			    (uint64_t)QED_BM_MAX_PAGES * QED_BM_PAGE_BITS);
		goto out;
	}

	/* 1. The L1 table (valid: open checked it). */
	if ((rc = qck_qmark(&ck, ck.q->hdr.l1_table_offset, g->ts,
	    &dups)) != 0 || (rc = qck_tmark(&ck, ck.q->hdr.l1_table_offset,
	    g->ts, true)) != 0)
		goto out;
	ck.rp->c.corruptions += dups;	/* always 0 on a fresh bitmap */

	/*
	 * 2. Every L1 entry, whatever the guest size, and the tables they
	 * name; 3. each chunk written back once its invalid entries are
	 * zeroed (flush).
	 */
	memset(&v, 0, sizeof(v));
	v.arg = &ck;
	v.l1 = qck_v_l1;
	v.l2 = qck_v_l2;
	v.l2run = qck_v_l2run;
	v.clusters_only = true;		/* qck_v_l2 skips the others */
	v.ioerr = qck_v_ioerr;
	v.flush = qck_v_flush;
	if ((rc = ck.hrc) != 0 ||
	    (rc = qed_walk(img, &v, 0, g->nent * g->nent)) != 0) {
		if (rc == -EINTR) {
			memset(&pc, 0, sizeof(pc));
			pc.str = "the end of the L1 table";
			(void)report_problem(rp, PR_CORE_INTERRUPTED, &pc);
		}
		goto out;
	}

	/* 4. Leaks only when the whole image was walked. */
	if (ck.ioerr == 0) {
		if ((rc = qck_leaks(&ck)) != 0)
			goto out;
		consistent = rp->c.corruptions == corrupt0 &&
		    rp->c.check_errors == errors0;
	}
	qck_need_check(&ck, consistent);
	if (ck.ioerr == 0 && ck.fix && (rc = qck_header_fix(&ck)) != 0)
		goto out;
	rc = ck.hrc != 0 ? ck.hrc : ck.ioerr;
out:
	/* A walk stopped early knows nothing about the tables. */
	if (!ck.nc_done)
		qck_need_check(&ck, false);
	report_extra_bool(rp, "need-check",
	    (ck.q->hdr.features & QED_F_NEED_CHECK) != 0);
	if (rc == 0)
		report_extra_bool(rp, "tables-consistent",
		    rp->c.corruptions == corrupt0 &&
		    rp->c.check_errors == errors0);
	qed_bm_release(&ck.tabbm);
	qed_bm_release(&ck.tbm);
	qed_bm_release(&ck.qbm);
	if (rc == 0 && ck.hrc != 0)
		rc = ck.hrc;
	return rc;
}

/*
 * The host map: the check's walk with a sink, its findings into a report
 * of our own that nobody sees (one kept per code; the counts are all we
 * need).  An I/O error on an L2 table still fails the host map.
 */
int
qed_hostmap(struct img *img, struct hmap_sink *hs)
{
	struct report	rp;
	int		rc;

	report_init(&rp);
	rp.max_per_code = 1;
	rc = qed_check_walk(img, &rp, false, hs);
	report_release(&rp);
	return rc;
}
