/* SPDX-License-Identifier: MIT */
/*
 * qcow2_map.c --- the guest map of one qcow2 layer, as qemu-img map.
 *
 * The walker visits the L2 tables covering the range in guest order; each
 * cluster (or subcluster, with extended L2) gets the status QEMU's
 * qcow2_co_block_status() gives it.  Unallocated ranges are left to the
 * core, which reads them from the backing file.  What QEMU refuses to
 * read (qcow2_get_host_offset(): an unaligned L2 table or cluster, an
 * invalid subcluster bitmap, a compressed cluster or a misplaced cluster
 * in an external data file) fails the map naming the finding, or with
 * force is mapped as damage.
 *
 * Metadata preallocation: when the refcounts claim far more clusters than
 * the host file holds (QEMU's qcow2_detect_metadata_preallocation()),
 * QEMU asks the host file where its holes are for every data run
 * (BDRV_BLOCK_RECURSE); we do the same, so preallocated clusters never
 * written read as zero.
 */
#include <sys/stat.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qcow2/qcow2.h"
#include "core/banned.h"

struct qmap {
	struct img		*img;
	struct qcow2		*q;
	const struct map_req	*rq;
	struct map_merge	 m;
	uint64_t		 span;		/* guest bytes per L2 table */
	uint64_t		 end;		/* min(rq->end, size) */
	uint64_t		 cursor;	/* mapped up to here */
	bool			 recurse;
	int			 dfd;		/* where data clusters are */
	struct map_ext		 pend;		/* recurse: data not yet added */
	bool			 have;
};

/* How many of the first n refcounts of a refcount block are not 0. */
static uint64_t
nonzero_refcounts(const uint8_t *rb, uint32_t order, uint64_t n)
{
	uint64_t	k, c = 0, x, lo;
	size_t		w, b;

	if (order < 3) {
		for (k = 0; k < n; k++)
			c += qcow2_rb_get(rb, order, k) != 0;
		return c;
	}
	w = (size_t)1 << (order - 3);
	/*
	 * Eight bytes a step: each entry's bytes ORed into its lowest byte,
	 * then one bit per non-zero entry, counted.
	 */
	lo = w == 1 ? 0xffffffffffffffffULL : w == 2 ? 0x00ff00ff00ff00ffULL :
	    w == 4 ? 0x000000ff000000ffULL : 0xffULL;
	for (k = 0; (k + 8 / w) <= n; k += 8 / w) {
		memcpy(&x, rb + k * w, sizeof(x));
		for (b = 8; b < w * 8; b *= 2)
			x |= x >> b;
		x &= lo;
		x = ((x & 0x7f7f7f7f7f7f7f7fULL) + 0x7f7f7f7f7f7f7f7fULL) | x;
		/* One bit a lane, summed by a multiply (no popcnt here). */
		x = ((x & lo & 0x8080808080808080ULL) >> 7) *
		    0x0101010101010101ULL;
		c += x >> 56;
	}
	for (; k < n; k++) {
		for (b = 0; b < w && rb[k * w + b] == 0; b++)
			;
		c += b < w;
	}
	return c;
}

/*
 * Count clusters below the file end with a stored refcount != 0, up to
 * enough: like QEMU, stop once the count reaches it (a preallocated
 * image says so in its first refcount block, not after all of them).
 */
static int
refcounted_clusters(struct img *img, struct qcow2 *q, uint64_t enough,
    uint64_t *count)
{
	uint64_t	 end = (img->size + q->cs - 1) >> q->h.cluster_bits;
	uint64_t	 per = 1ULL << q->rb_bits, i, off, n = 0;
	uint8_t		*rb;
	int		 rc = 0;

	if ((rb = malloc((size_t)q->cs)) == NULL)
		return -ENOMEM;
	for (i = 0; i < q->reftable_n && i * per < end && n < enough; i++) {
		off = q->reftable[i] & QCOW2_REFT_OFFSET_MASK;
		if (off == 0)
			continue;
		if ((off & (q->cs - 1)) != 0) {
			rc = -IMG_EINVAL;	/* QEMU: -EIO, no detection */
			break;
		}
		if ((rc = img_pread_zf(img, off, rb, (size_t)q->cs, NULL)) != 0)
			break;
		n += nonzero_refcounts(rb, q->h.refcount_order,
		    end - i * per < per ? end - i * per : per);
	}
	free(rb);
	*count = n;
	return rc;
}

/* QEMU's heuristic: 10% more refcounted clusters than the file holds. */
static bool
metadata_preallocated(struct img *img, struct qcow2 *q)
{
	struct stat	st;
	uint64_t	count, real, threshold;

	if (fstat(img->fd, &st) != 0)
		return false;
	real = ((uint64_t)st.st_blocks * 512) / q->cs;
	threshold = real * 10 / 9 > real + 2 ? real * 10 / 9 : real + 2;
	if (refcounted_clusters(img, q, threshold, &count) != 0)
		return false;
	return count >= threshold;
}

/* The pending data run, split by the host file's holes. */
static int
flush(struct qmap *qm)
{
	if (!qm->have)
		return 0;
	qm->have = false;
	return map_merge_add_recurse(&qm->m, &qm->pend, qm->dfd);
}

static int
add(struct qmap *qm, struct map_ext *x)
{
	int	rc;

	x->file = qm->q->data_file ? qm->q->data_file_path : NULL;
	if (!qm->recurse)
		return map_merge_add(&qm->m, x);
	/*
	 * Ask the host file about whole runs of adjacent data clusters, not
	 * one cluster at a time: two lseek()s per run, as few as QEMU's.
	 */
	if (x->present && x->data && x->has_offset && !x->compressed &&
	    !x->zero && x->damage == 0) {
		if (qm->have && qm->pend.start + qm->pend.length == x->start &&
		    qm->pend.offset + qm->pend.length == x->offset) {
			qm->pend.length += x->length;
			return 0;
		}
		if ((rc = flush(qm)) != 0)
			return rc;
		qm->pend = *x;
		qm->have = true;
		return 0;
	}
	if ((rc = flush(qm)) != 0)
		return rc;
	return map_merge_add(&qm->m, x);
}

/*
 * A range QEMU cannot read: fail naming the finding, or map it damaged.
 * host is the offset at fault, where the offset of the entry holding it.
 */
static int
damaged(struct qmap *qm, uint64_t goff, uint64_t len, uint64_t host,
    enum pr_id id, const char *what)
{
	const struct pr_info	*pi = pr_info_get(id);
	struct map_ext		 x;

	if (!qm->rq->force) {
		img_set_error(qm->img, "%s (%s); map it anyway with --force",
		    what, pi->name);
		return -EIO;
	}
	memset(&x, 0, sizeof(x));
	x.start = goff;
	x.length = len;
	x.damage = pi->code;
	/* The offset of a damaged run is the bad one, for the finding. */
	x.has_offset = true;
	x.offset = host;
	return add(qm, &x);
}

/* Emit one guest cluster at goff (len bytes) from entry e, bitmap bm. */
static int
map_cluster(struct qmap *qm, const struct qcow2_l2job *j, uint64_t idx,
    uint64_t goff, uint64_t len, uint64_t e, uint64_t bm)
{
	struct qcow2	*q = qm->q;
	struct map_ext	 x;
	uint64_t	 off = e & QCOW2_L2E_OFFSET_MASK, sub, i, n;
	char		 why[192];
	enum qcow2_l2_kind kind = qcow2_l2_kind(q, e);
	int		 rc;

	memset(&x, 0, sizeof(x));
	x.start = goff;
	x.length = len;
	if (kind == QCOW2_L2_COMPRESSED) {
		if (q->data_file) {
			snprintf(why, sizeof(why), "Compressed cluster entry "
			    "found in image with external data file (L2 "
			    "offset: %#" PRIx64 ", L2 index: %#" PRIx64 ")",
			    j->l2off, idx);
			return damaged(qm, goff, len, e & q->coffset_mask,
			    PR_QCOW2_COMPRESSED_DATA_FILE, why);
		}
		x.present = x.data = x.compressed = true;
		return add(qm, &x);
	}
	if (q->extl2 && ((kind == QCOW2_L2_NORMAL && ((bm >> 32) & bm)) ||
	    (kind == QCOW2_L2_UNALLOCATED && (bm & 0xffffffffULL)))) {
		snprintf(why, sizeof(why), "Invalid cluster entry found (L2 "
		    "offset: %#" PRIx64 ", L2 index: %#" PRIx64 ")", j->l2off,
		    idx);
		return damaged(qm, goff, len, off, kind == QCOW2_L2_NORMAL ?
		    PR_QCOW2_SUBCLUSTER_BITMAP : PR_QCOW2_UNALLOC_SUBCLUSTER,
		    why);
	}
	if ((kind == QCOW2_L2_NORMAL || kind == QCOW2_L2_ZERO_ALLOC) &&
	    (off & (q->cs - 1)) != 0) {
		snprintf(why, sizeof(why), "Cluster allocation offset %#"
		    PRIx64 " unaligned (L2 offset: %#" PRIx64 ", L2 index: %#"
		    PRIx64 ")", off, j->l2off, idx);
		return damaged(qm, goff, len, off, kind == QCOW2_L2_NORMAL ?
		    PR_QCOW2_DATA_MISALIGNED : PR_QCOW2_ZERO_MISALIGNED, why);
	}
	if ((kind == QCOW2_L2_NORMAL || kind == QCOW2_L2_ZERO_ALLOC) &&
	    q->data_file && off != goff) {
		snprintf(why, sizeof(why), "External data file host cluster "
		    "offset %#" PRIx64 " does not match guest cluster offset: "
		    "%#" PRIx64 ", L2 index: %#" PRIx64 ")", off, goff, idx);
		return damaged(qm, goff, len, off, PR_QCOW2_DATA_MISALIGNED,
		    why);
	}
	switch (kind) {
	case QCOW2_L2_UNALLOCATED:
		if (!q->extl2 || (bm >> 32) == 0)
			return add(qm, &x);
		break;
	case QCOW2_L2_ZERO_PLAIN:
		x.present = x.zero = true;
		return add(qm, &x);
	case QCOW2_L2_ZERO_ALLOC:
		x.present = x.zero = x.has_offset = true;
		x.offset = off;
		return add(qm, &x);
	case QCOW2_L2_NORMAL:
		if (!q->extl2) {
			x.present = x.data = x.has_offset = true;
			x.offset = off;
			return add(qm, &x);
		}
		break;
	default:
		break;
	}
	/* Extended L2: 32 subclusters with their own state. */
	sub = q->cs / 32;
	n = len / sub + (len % sub != 0);
	for (i = 0; i < n && i < 32; i++) {
		memset(&x, 0, sizeof(x));
		x.start = goff + i * sub;
		x.length = len - i * sub < sub ? len - i * sub : sub;
		x.has_offset = kind == QCOW2_L2_NORMAL;
		x.offset = off + i * sub;
		if (bm & (1ULL << (32 + i))) {
			x.present = x.zero = true;
		} else if (kind == QCOW2_L2_NORMAL && (bm & (1ULL << i))) {
			x.present = x.data = true;
		}
		/* else unallocated (with its offset, as QEMU says). */
		if ((rc = add(qm, &x)) != 0)
			return rc;
	}
	return 0;
}

/* Unallocated guest bytes [cursor, to): no table. */
static int
map_hole(struct qmap *qm, uint64_t to)
{
	struct map_ext	x;
	int		rc = 0;

	if (to > qm->cursor) {
		memset(&x, 0, sizeof(x));
		x.start = qm->cursor;
		x.length = to - qm->cursor;
		rc = add(qm, &x);
		qm->cursor = to;
	}
	return rc;
}

/*
 * How many entries from i on are plain and adjacent: all empty, or all
 * normal data clusters at aligned, consecutive host offsets (COPIED
 * aside).  0 when entry i is neither or the image has extended L2 or an
 * external data file, whose entries map_cluster() decides one by one.
 */
static uint64_t
plain_run(const struct qmap *qm, const uint8_t *tab, uint64_t i, uint64_t e)
{
	const struct qcow2	*q = qm->q;
	uint64_t		 off = e & QCOW2_L2E_OFFSET_MASK, r, n;

	if (q->extl2 || q->data_file)
		return 0;
	if (e != 0 && ((e & ~(QCOW2_OFLAG_COPIED | QCOW2_L2E_OFFSET_MASK)) !=
	    0 || off == 0 || (off & (q->cs - 1)) != 0))
		return 0;
	/* A block of entries a step (qcow2_run_block()). */
	for (r = 1; i + r + QCOW2_RUN_BLOCK <= q->l2_size;
	    r += QCOW2_RUN_BLOCK)
		if (qcow2_run_block(tab + (i + r) * 8, e == 0 ? 0 : off +
		    (r << q->h.cluster_bits), e == 0 ? 0 : q->cs, e == 0 ?
		    ~0ULL : ~QCOW2_OFLAG_COPIED) != 0)
			break;
	for (; i + r < q->l2_size; r++) {
		n = be64_at(tab + (i + r) * 8);
		if (e == 0 ? n != 0 : ((n & ~QCOW2_OFLAG_COPIED) !=
		    off + (r << q->h.cluster_bits)))
			break;
	}
	return r;
}

/* One piece for a plain run found by plain_run(). */
static int
run_piece(struct qmap *qm, uint64_t goff, uint64_t len, uint64_t e)
{
	struct map_ext	x;

	memset(&x, 0, sizeof(x));
	x.start = goff;
	x.length = len;
	if (e != 0) {
		x.present = x.data = x.has_offset = true;
		x.offset = e & QCOW2_L2E_OFFSET_MASK;
	}
	return add(qm, &x);
}

static int
map_l1e(void *arg, struct qcow2_l2job *j)
{
	struct qmap	*qm = arg;

	/* qemu: offset 0 is unallocated, whatever the flags say. */
	if (j->l2off == 0)
		return 1;
	j->flag = (j->l2off & (qm->q->cs - 1)) != 0;
	return j->flag ? 1 : 0;
}

static int
map_l2(void *arg, const struct qcow2_l2job *j, const uint8_t *tab)
{
	struct qmap	*qm = arg;
	struct qcow2	*q = qm->q;
	uint64_t	 base = (uint64_t)j->l1idx * qm->span, goff, len, i;
	uint64_t	 e, bm, tend, r;
	char		 why[160];
	int		 rc;

	if ((rc = map_hole(qm, base)) != 0)
		return rc;
	tend = base + qm->span < qm->end ? base + qm->span : qm->end;
	if (tab == NULL && j->flag) {
		snprintf(why, sizeof(why), "L2 table offset %#" PRIx64
		    " unaligned (L1 index: %#" PRIx32 ")", j->l2off,
		    j->l1idx);
		goff = qm->cursor;
		qm->cursor = tend;
		return damaged(qm, goff, tend - goff, j->l2off,
		    PR_QCOW2_L2_MISALIGNED, why);
	}
	if (tab == NULL)
		return map_hole(qm, tend);
	i = (qm->cursor - base) >> q->h.cluster_bits;
	for (; i < q->l2_size; i++) {
		goff = base + (i << q->h.cluster_bits);
		if (goff >= qm->end)
			break;
		len = qm->end - goff < q->cs ? qm->end - goff : q->cs;
		e = be64_at(tab + i * q->l2_entry_size);
		bm = q->extl2 ? be64_at(tab + i * q->l2_entry_size + 8) : 0;
		if (qm->cursor < goff && (rc = map_hole(qm, goff)) != 0)
			return rc;
		/*
		 * Preallocated and freshly written tables hold long runs of
		 * adjacent data clusters (or of empty entries): one piece
		 * for the run, not one per cluster.
		 */
		if ((r = plain_run(qm, tab, i, e)) > 1) {
			len = r << q->h.cluster_bits;
			if (goff + len > qm->end)
				len = qm->end - goff;
			if ((rc = run_piece(qm, goff, len, e)) != 0)
				return rc;
			qm->cursor = goff + len;
			i += r - 1;
			continue;
		}
		if ((rc = map_cluster(qm, j, i, goff, len, e, bm)) != 0)
			return rc;
		qm->cursor = goff + len;
	}
	return 0;
}

int
qcow2_map(struct img *img, const struct map_req *rq, map_fn *fn, void *arg)
{
	struct qcow2		*q = img->priv;
	struct qcow2_walker	 w;
	struct qmap		 qm;
	int			 rc;

	if ((rc = qcow2_usable(img, q, true)) != 0)
		return rc;
	memset(&qm, 0, sizeof(qm));
	qm.img = img;
	qm.q = q;
	qm.rq = rq;
	qm.span = q->l2_size << q->h.cluster_bits;
	qm.end = rq->end < q->h.size ? rq->end : q->h.size;
	qm.dfd = q->data_file ? q->data_fd : img->fd;
	qm.recurse = metadata_preallocated(img, q);
	if (rq->start >= qm.end)
		return 0;
	qm.cursor = rq->start - rq->start % q->cs;
	map_merge_init(&qm.m, fn, arg);
	memset(&w, 0, sizeof(w));
	w.img = img;
	w.q = q;
	w.l1off = q->h.l1_table_offset;
	w.l1n = q->h.l1_size;
	w.first = (uint32_t)(rq->start / qm.span);
	w.last = (uint32_t)((qm.end + qm.span - 1) / qm.span);
	w.l1e = map_l1e;
	w.l2 = map_l2;
	w.arg = &qm;
	rc = qcow2_walk(&w);
	if (rc == 0)
		rc = map_hole(&qm, qm.end);
	if (rc == 0)
		rc = flush(&qm);
	if (rc == 0)
		rc = map_merge_end(&qm.m);
	map_merge_free(&qm.m);
	return rc;
}
