/* SPDX-License-Identifier: MIT */
/*
 * qcow2_repair.c --- repair a qcow2 image: plan every change, then write.
 *
 * Theory of operation.  The repair is the check, run again and again over
 * the image with the plan laid over it (plan_attach): every read then
 * sees the repair so far, and each run fixes one kind of problem into the
 * plan, where report_problem() gives permission (spec 5.2):
 *
 *   A  structure: L1/L2 entries (reserved bits, tables and data QEMU
 *      cannot read or that lie past the end of the file, subcluster
 *      bitmaps, misaligned zero clusters as qemu fixes them), snapshot
 *      records and bitmaps QEMU cannot use, header bits QEMU clears on
 *      any writable open; then the snapshot table and bitmap directory
 *      are rewritten, and an active table or data cluster that shares
 *      its cluster with other metadata gets a copy (appended), so the
 *      guest reads what it read.  A survey before it (the same walk,
 *      nothing planned) learns what each cluster is used as: no entry
 *      is written into a table whose cluster is something else too;
 *   B  refcounts: set in place, or the whole structure rebuilt (5.3)
 *      where qemu would rebuild it; the leaks level refuses a rebuild,
 *      as qemu-img check -r leaks does;
 *   C  COPIED flags of the active tables, from the refcounts B left;
 *   D  a last check of the repaired image, read-only: it must find no
 *      problem the image did not have, or nothing is written; what it
 *      counts is the verdict after the repair;
 *   E  the dirty and corrupt bits, cleared when D found nothing wrong.
 *
 * Each finding is kept from the step that deals with it, so the report
 * lists every problem once.  Only then is the plan written, through
 * img_pwrite() (the undo file sees it all); a dry run stops before.  A
 * repair into a new file copies the image there (its data ranges only),
 * names the same backing file from the new folder, and repairs the copy
 * the same way.
 */
#define _GNU_SOURCE	/* realpath */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qcow2/qcow2.h"
#include "core/banned.h"

/* ---- hooks the check calls -------------------------------------------- */

void
qcow2_fix_count(struct qcow2_fix *fx, enum pr_id id, uint64_t n)
{
	const struct pr_info	*pi = pr_info_get(id);

	if (fx == NULL || pi == NULL || fx->survey)
		return;
	if (pi->sev == PR_SEV_LEAK)
		fx->lfixed += n;
	else if (pi->sev == PR_SEV_CORRUPT)
		fx->cfixed += n;
}

int
qcow2_fix_be64(struct qcow2_fix *fx, uint64_t off, uint64_t v, enum pr_id id)
{
	uint8_t	b[8];

	if (fx->survey)
		return 0;
	put_be64(b, v);
	return plan_write(fx->plan, fx->img, off, b, sizeof(b), id);
}

int
qcow2_fix_copied_note(struct qcow2_fix *fx, uint64_t off)
{
	int	rc;

	if (fx->survey)
		return 0;
	if ((rc = grow_array(&fx->copied_seen, &fx->capcopied_seen,
	    fx->ncopied_seen, sizeof(*fx->copied_seen), 64)) != 0)
		return rc;
	fx->copied_seen[fx->ncopied_seen++] = off;
	return 0;
}

static int
u64_cmp(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The leaks level fixes COPIED flags when nothing else is wrong (qemu),
 * and always those the repair's own refcount changes made wrong: the
 * repair must not leave a problem the image did not have.
 */
bool
qcow2_fix_copied_leaks_ok(const struct qcow2_fix *fx, uint64_t off)
{
	if (fx->copied_all_ok)
		return true;
	if (fx->ncopied_seen == 0)
		return true;
	return bsearch(&off, fx->copied_seen, fx->ncopied_seen,
	    sizeof(off), u64_cmp) == NULL;
}

void
qcow2_fix_rebuild(struct qcow2_fix *fx, enum pr_id id, bool qemu, bool fixed)
{
	if (qemu)
		fx->need_rebuild = true;
	if (!fixed)
		return;
	fx->want_rebuild = true;
	if (fx->rebuild_id == PR_COUNT)
		fx->rebuild_id = id;
	qcow2_fix_count(fx, id, 1);
}

int
qcow2_fix_refcount(struct qcow2_fix *fx, uint64_t k, uint64_t r2,
    enum pr_id id, bool fixed)
{
	int	rc;

	if (!fixed)
		return 0;
	if ((rc = grow_array(&fx->mm, &fx->capmm, fx->nmm, sizeof(*fx->mm),
	    256)) != 0)
		return rc;
	fx->mm[fx->nmm].k = k;
	fx->mm[fx->nmm].r2 = r2;
	fx->mm[fx->nmm].id = id;
	fx->nmm++;
	qcow2_fix_count(fx, id, 1);
	return 0;
}

bool
qcow2_fix_clash(const struct qcow2_fix *fx, uint64_t off, uint64_t len)
{
	const struct qcow2	*q = fx->img->priv;
	uint64_t		 k, last, end;

	if (fx->nkinds == 0 || len == 0 || !ck_add_u64(off, len, &end))
		return false;
	last = (end - 1) >> q->h.cluster_bits;
	for (k = off >> q->h.cluster_bits; k <= last && k < fx->nkinds; k++)
		if ((fx->kinds[k] & (fx->kinds[k] - 1)) != 0)
			return true;
	return false;
}

int
qcow2_fix_kind(struct qcow2_fix *fx, uint64_t off, uint64_t len,
    const char *what, uint64_t file_len)
{
	struct qcow2	*q = fx->img->priv;
	uint64_t	 k, last, end, n;
	uint8_t		*nk, kind;

	/* Past the end by a cluster or more: never counted, never used. */
	if (!ck_add_u64(off, len, &end) || end > file_len + q->cs)
		return 0;
	if (strcmp(what, "data cluster") == 0 ||
	    strcmp(what, "compressed cluster") == 0)
		kind = QCOW2_KIND_DATA;
	else if (strcmp(what, "L2 table") == 0)
		kind = QCOW2_KIND_L2;
	else
		kind = QCOW2_KIND_META;
	last = (end - 1) >> q->h.cluster_bits;
	if (last >= fx->nkinds) {
		n = last + 1 + fx->nkinds / 8;
		if (n < (file_len >> q->h.cluster_bits) + 2)
			n = (file_len >> q->h.cluster_bits) + 2;
		if ((nk = realloc(fx->kinds, (size_t)n)) == NULL)
			return -ENOMEM;
		memset(nk + fx->nkinds, 0, (size_t)(n - fx->nkinds));
		fx->kinds = nk;
		fx->nkinds = n;
	}
	for (k = off >> q->h.cluster_bits; k <= last; k++)
		fx->kinds[k] |= kind;
	return 0;
}

void
qcow2_fix_ceiling(struct qcow2_fix *fx, uint64_t off, uint64_t len,
    uint64_t file_len, bool replaced)
{
	const struct qcow2	*q = fx->img->priv;
	uint64_t		 end, c;

	if (!ck_add_u64(off, len, &end))
		end = UINT64_MAX;
	if (replaced) {
		if (end > fx->alloc_floor)
			fx->alloc_floor = end;
		return;
	}
	/* Partly inside already: the file cannot grow at all. */
	c = off > file_len ? off : file_len;
	if (end - q->cs < c)
		c = end - q->cs;
	if (c < file_len)
		c = file_len;
	if (c < fx->alloc_ceiling)
		fx->alloc_ceiling = c;
}

int
qcow2_fix_first_free(struct qcow2_fix *fx, uint64_t n, uint64_t *k)
{
	const struct qcow2	*q = fx->img->priv;
	uint64_t		 first, end;

	first = fx->img->size / q->cs + (fx->img->size % q->cs != 0);
	if (fx->cnt_len > first)
		first = fx->cnt_len;
	if (fx->next_free > first)
		first = fx->next_free;
	if (fx->alloc_floor / q->cs + 1 > first)
		first = fx->alloc_floor / q->cs + 1;
	if (first + n < first || first + n > QCOW2_MAX_HOST_CLUSTERS ||
	    (end = (first + n) << q->h.cluster_bits) > fx->alloc_ceiling) {
		img_set_error(fx->img, "no room for new clusters: metadata "
		    "that lies past the end of the file would move into the "
		    "file");
		return -IMG_ELIMIT;
	}
	*k = first;
	return 0;
}

int
qcow2_fix_zero_cluster(struct qcow2_fix *fx, uint64_t host)
{
	int	rc;

	if (fx->survey)
		return 0;
	if ((rc = grow_array(&fx->zeros, &fx->capzeros, fx->nzeros,
	    sizeof(*fx->zeros), 16)) != 0)
		return rc;
	fx->zeros[fx->nzeros++] = host;
	return 0;
}

int
qcow2_fix_overflow(struct qcow2_fix *fx, uint64_t k, uint64_t n)
{
	int	rc;

	if ((rc = grow_array(&fx->ovf, &fx->capovf, fx->novf,
	    sizeof(*fx->ovf), 16)) != 0)
		return rc;
	fx->ovf[fx->novf].k = k;
	fx->ovf[fx->novf].r2 = n;
	fx->ovf[fx->novf].id = PR_QCOW2_REF_OVERFLOW;
	fx->novf++;
	return 0;
}

void
qcow2_fix_counts(struct qcow2_fix *fx, struct qcow2_counts **cnt)
{
	qcow2_counts_free(fx->cnt);
	fx->cnt = *cnt;
	fx->cnt_len = fx->cnt != NULL ? qcow2_counts_len(fx->cnt) : 0;
	*cnt = NULL;
}

/* ---- refcounts through the plan --------------------------------------- */

void
qcow2_rb_set(uint8_t *rb, uint32_t order, uint64_t i, uint64_t v)
{
	unsigned	bits, sh;

	switch (order) {
	case 0:
	case 1:
	case 2:
		bits = 1U << order;
		sh = (unsigned)((i * bits) % 8);
		rb[i * bits / 8] = (uint8_t)((rb[i * bits / 8] &
		    ~(((1U << bits) - 1) << sh)) | ((v & ((1U << bits) - 1)) <<
		    sh));
		break;
	case 3:
		rb[i] = (uint8_t)v;
		break;
	case 4:
		put_be16(rb + 2 * i, (uint16_t)v);
		break;
	case 5:
		put_be32(rb + 4 * i, (uint32_t)v);
		break;
	default:
		put_be64(rb + 8 * i, v);
		break;
	}
}

/*
 * Where cluster k's refcount lives: the byte offset and length of the
 * bytes holding it.  False when its refcount block cannot be used.
 */
static bool
ref_loc(const struct img *img, const struct qcow2 *q, uint64_t k,
    uint64_t *off, size_t *len, uint64_t *idx)
{
	uint64_t	t = k >> q->rb_bits, e, b, end;

	if (t >= q->reftable_n)
		return false;
	e = q->reftable[t];
	b = e & QCOW2_REFT_OFFSET_MASK;
	if (b == 0 || (e & QCOW2_REFT_RESERVED) || (b & (q->cs - 1)) != 0 ||
	    !ck_add_u64(b, q->cs, &end) || end > img->size)
		return false;
	*idx = k & ((1ULL << q->rb_bits) - 1);
	if (q->h.refcount_order < 3) {
		*off = b + (*idx << q->h.refcount_order) / 8;
		*len = 1;
	} else {
		*len = (size_t)1 << (q->h.refcount_order - 3);
		*off = b + *idx * *len;
	}
	return true;
}

int
qcow2_ref_read(struct img *img, const struct qcow2 *q, uint64_t k,
    uint64_t *v, bool *has_block)
{
	uint8_t		b[8];
	uint64_t	off, idx;
	size_t		len;
	int		rc;

	*v = 0;
	if (!(*has_block = ref_loc(img, q, k, &off, &len, &idx)))
		return 0;
	if ((rc = img_pread(img, off, b, len)) != 0)
		return rc;
	*v = qcow2_rb_get(b, q->h.refcount_order, q->h.refcount_order < 3 ?
	    idx % (8U >> q->h.refcount_order) : 0);
	return 0;
}

int
qcow2_ref_plan(struct qcow2_fix *fx, const struct qcow2 *q, uint64_t k,
    uint64_t v, enum pr_id id)
{
	uint8_t		b[8];
	uint64_t	off, idx;
	size_t		len;
	int		rc;

	if (!ref_loc(fx->img, q, k, &off, &len, &idx))
		return -ENOENT;
	if ((rc = img_pread(fx->img, off, b, len)) != 0)
		return rc;
	qcow2_rb_set(b, q->h.refcount_order, q->h.refcount_order < 3 ?
	    idx % (8U >> q->h.refcount_order) : 0, v);
	return plan_write(fx->plan, fx->img, off, b, len, id);
}

/*
 * Append n clusters for new metadata: their offset in *off, their
 * refcounts set to 1 where a refcount block that is only a refcount
 * block covers them; otherwise the refcounts are rebuilt (B).
 */
static int
fx_alloc(struct qcow2_fix *fx, uint64_t n, enum pr_id id, uint64_t *off)
{
	struct qcow2	*q = fx->img->priv;
	uint64_t	 k, t, b, e;
	int		 rc;

	if ((rc = qcow2_fix_first_free(fx, n, &fx->next_free)) != 0)
		return rc;
	*off = fx->next_free << q->h.cluster_bits;
	for (k = fx->next_free; k < fx->next_free + n; k++) {
		t = k >> q->rb_bits;
		e = t < q->reftable_n ? q->reftable[t] : 0;
		b = (e & QCOW2_REFT_OFFSET_MASK) >> q->h.cluster_bits;
		/* A block that is something else too is not written. */
		if (fx->cnt == NULL || e == 0 || b >= fx->cnt_len ||
		    qcow2_counts_get(fx->cnt, b) != 1) {
			fx->force_rebuild = true;
			continue;
		}
		if ((rc = qcow2_ref_plan(fx, q, k, 1, id)) == -ENOENT)
			fx->force_rebuild = true;
		else if (rc != 0)
			return rc;
	}
	fx->next_free += n;
	/* The new clusters exist: the file reaches their end. */
	return plan_resize(fx->plan, fx->img, fx->next_free <<
	    q->h.cluster_bits, id);
}

/* ---- header, header extensions --------------------------------------- */

/*
 * Rewrite the header extension area with extension type's data replaced
 * by data (len bytes), or removed (data NULL).  Other extensions keep
 * their order and bytes; the backing file name stays where it is.
 */
static int
hdr_ext_set(struct qcow2_fix *fx, uint32_t type, const void *data,
    uint32_t len, enum pr_id id)
{
	struct qcow2	*q = fx->img->priv;
	uint8_t		*c0 = NULL, *out = NULL;
	uint64_t	 start, end, pos, o = 0, rec, old_end;
	uint32_t	 t, l;
	bool		 done = false;
	int		 rc;

	start = q->h.version >= 3 ? q->h.header_length : QCOW2_V2_HDR_LEN;
	end = q->h.backing_file_offset != 0 ? q->h.backing_file_offset : q->cs;
	if (end > q->cs || start >= end)
		return -IMG_EINVAL;
	if ((c0 = malloc((size_t)end)) == NULL ||
	    (out = calloc(1, (size_t)end)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if ((rc = img_pread_zf(fx->img, 0, c0, (size_t)end, NULL)) != 0)
		goto out;
	o = start;
	for (pos = start; pos + 8 <= end; pos += rec) {
		t = be32_at(c0 + pos);
		l = be32_at(c0 + pos + 4);
		if (t == QCOW2_EXT_END)
			break;
		rec = 8 + (((uint64_t)l + 7) & ~7ULL);
		if (pos + rec > end)
			rec = end - pos;
		if (t == type) {
			if (data == NULL || done)
				continue;
			done = true;
			if (o + 8 + (((uint64_t)len + 7) & ~7ULL) > end) {
				rc = -IMG_ELIMIT;
				goto out;
			}
			put_be32(out + o, type);
			put_be32(out + o + 4, len);
			memcpy(out + o + 8, data, len);
			o += 8 + (((uint64_t)len + 7) & ~7ULL);
			continue;
		}
		if (o + rec > end) {
			rc = -IMG_ELIMIT;
			goto out;
		}
		memcpy(out + o, c0 + pos, (size_t)rec);
		o += rec;
	}
	old_end = pos + 8 <= end ? pos + 8 : end;
	if (data != NULL && !done) {
		if (o + 8 + (((uint64_t)len + 7) & ~7ULL) + 8 > end) {
			rc = -IMG_ELIMIT;
			goto out;
		}
		put_be32(out + o, type);
		put_be32(out + o + 4, len);
		memcpy(out + o + 8, data, len);
		o += 8 + (((uint64_t)len + 7) & ~7ULL);
	}
	/* The end marker (zeros), and zeros over what was there before. */
	o += 8;
	if (o > end) {
		rc = -IMG_ELIMIT;
		goto out;
	}
	if (old_end < o)
		old_end = o;
	rc = plan_write(fx->plan, fx->img, start, out + start,
	    (size_t)(old_end - start), id);
out:
	free(c0);
	free(out);
	return rc;
}

/* Header bytes: clear bits of the 64-bit word at off (72, 88). */
static int
hdr_clear64(struct qcow2_fix *fx, uint64_t off, uint64_t bits, enum pr_id id)
{
	uint8_t	b[8];
	int	rc;

	if ((rc = img_pread(fx->img, off, b, sizeof(b))) != 0)
		return rc;
	if ((be64_at(b) & bits) == 0)
		return 0;
	put_be64(b, be64_at(b) & ~bits);
	return plan_write(fx->plan, fx->img, off, b, sizeof(b), id);
}

/* The bitmaps: drop the extension, or the bitmaps the check dropped. */
static int
fix_bitmaps(struct qcow2_fix *fx)
{
	struct qcow2	*q = fx->img->priv;
	uint8_t		*dir = NULL, *out = NULL, ext[24];
	uint64_t	 pos, o = 0, rec, size = q->bitmap_dir_size;
	uint32_t	 i, kept = 0;
	int		 rc;

	if (!fx->bm_drop_all) {
		for (i = 0; i < q->nb_bitmaps && fx->bm_drop != NULL; i++)
			if (!fx->bm_drop[i])
				kept++;
		if (fx->bm_drop == NULL || kept == q->nb_bitmaps)
			return 0;
	}
	if (fx->bm_drop_all || kept == 0) {
		/* No bitmap is left: no extension, no "bitmaps" bit. */
		if ((rc = hdr_ext_set(fx, QCOW2_EXT_BITMAPS, NULL, 0,
		    fx->bm_id)) != 0)
			return rc;
		return q->h.version >= 3 ? hdr_clear64(fx, 88,
		    QCOW2_AUTOCLEAR_BITMAPS, fx->bm_id) : 0;
	}
	/* Keep the others: the directory is rewritten where it is. */
	if ((dir = malloc((size_t)size)) == NULL ||
	    (out = calloc(1, (size_t)size)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if ((rc = img_pread_zf(fx->img, q->bitmap_dir_offset, dir,
	    (size_t)size, NULL)) != 0)
		goto out;
	for (i = 0, pos = 0; i < q->nb_bitmaps && pos + 24 <= size; i++) {
		rec = 24 + (uint64_t)be32_at(dir + pos + 20) +
		    be16_at(dir + pos + 18);
		rec = (rec + 7) & ~7ULL;
		if (pos + rec > size)
			rec = size - pos;
		if (!fx->bm_drop[i]) {
			memcpy(out + o, dir + pos, (size_t)rec);
			o += rec;
		}
		pos += rec;
	}
	if ((rc = plan_write(fx->plan, fx->img, q->bitmap_dir_offset, out,
	    (size_t)o, fx->bm_id)) != 0)
		goto out;
	put_be32(ext, kept);
	put_be32(ext + 4, 0);
	put_be64(ext + 8, o);
	put_be64(ext + 16, q->bitmap_dir_offset);
	rc = hdr_ext_set(fx, QCOW2_EXT_BITMAPS, ext, sizeof(ext), fx->bm_id);
out:
	free(dir);
	free(out);
	return rc;
}

/* ---- the snapshot table (spec 4.7) ------------------------------------ */

/*
 * Rewrite the snapshot table without the dropped records, every record
 * complete (24 bytes of known extra data, the rest of it kept up to
 * 1 KiB), into new clusters; the header names them.
 */
static int
fix_snapshots(struct qcow2_fix *fx)
{
	struct qcow2		*q = fx->img->priv;
	struct qcow2_snaptab	*t = &fx->snaps;
	struct qcow2_snap	*sn;
	uint8_t			*buf = NULL, *p, hdr[12];
	uint64_t		 len = 0, off = 0, src, xlen;
	uint32_t		 i, n = 0;
	int			 rc;

	for (i = 0; i < t->n; i++) {
		sn = &t->s[i];
		if (fx->snap_drop_all || (fx->snap_drop != NULL &&
		    fx->snap_drop[i]))
			continue;
		xlen = sn->extra_kept < 24 ? 24 : sn->extra_kept;
		len = ((len + 7) & ~7ULL) + QCOW2_SNAP_HDR_LEN + xlen +
		    sn->id_size + sn->name_size;
		n++;
	}
	if (n > 0 && (buf = calloc(1, (size_t)((len + 7) & ~7ULL))) == NULL)
		return -ENOMEM;
	for (i = 0, p = buf, len = 0; i < t->n && n > 0; i++) {
		sn = &t->s[i];
		if (fx->snap_drop_all || (fx->snap_drop != NULL &&
		    fx->snap_drop[i]))
			continue;
		len = (len + 7) & ~7ULL;
		p = buf + len;
		xlen = sn->extra_kept < 24 ? 24 : sn->extra_kept;
		src = t->offset + sn->rec_off;
		/* The fixed part as it was, the extra data size new. */
		if ((rc = img_pread_zf(fx->img, src, p, QCOW2_SNAP_HDR_LEN,
		    NULL)) != 0)
			goto out;
		put_be32(p + 36, (uint32_t)xlen);
		/* Unknown extra data past 24 bytes, kept (at most 1 KiB). */
		if (sn->extra_kept > 24 && (rc = img_pread_zf(fx->img,
		    src + QCOW2_SNAP_HDR_LEN + 24, p + QCOW2_SNAP_HDR_LEN + 24,
		    sn->extra_kept - 24, NULL)) != 0)
			goto out;
		put_be64(p + 40, sn->vm_state_size);
		put_be64(p + 48, sn->extra_data_size >= 16 ? sn->disk_size :
		    q->h.size);
		put_be64(p + 56, sn->has_icount ? sn->icount : UINT64_MAX);
		/* The id and the name, byte for byte. */
		if ((rc = img_pread_zf(fx->img, src + QCOW2_SNAP_HDR_LEN +
		    sn->extra_data_size, p + QCOW2_SNAP_HDR_LEN + xlen,
		    (size_t)sn->id_size + sn->name_size, NULL)) != 0)
			goto out;
		len += QCOW2_SNAP_HDR_LEN + xlen + sn->id_size + sn->name_size;
	}
	if (n > 0) {
		if ((rc = fx_alloc(fx, (len + q->cs - 1) >> q->h.cluster_bits,
		    fx->snap_id, &off)) != 0)
			goto out;
		if ((rc = plan_write(fx->plan, fx->img, off, buf, (size_t)len,
		    fx->snap_id)) != 0)
			goto out;
	}
	/* 60: nb_snapshots, 64: snapshots_offset, together. */
	put_be32(hdr, n);
	put_be64(hdr + 4, off);
	rc = plan_write(fx->plan, fx->img, 60, hdr, sizeof(hdr), fx->snap_id);
out:
	free(buf);
	return rc;
}

/* ---- clusters used twice (spec 5.2 step 3) ---------------------------- */

/*
 * An active L2 table or data cluster that is also other metadata (or a
 * data cluster that is an L2 table too), or a cluster referenced more
 * often than its refcount can say, gets a copy of its own: the entry is
 * pointed at the copy, so the guest reads the same bytes and every
 * structure owns its cluster.  QEMU would raise the refcount (or fail)
 * and later write one structure through the other.
 */
struct unshare {
	struct qcow2_fix	*fx;
	struct report		*rp;
	const struct qcow2	*q;
	uint8_t			*buf;
	char			 path[96];
};

static int
mm_k_cmp(const void *a, const void *b)
{
	const struct qcow2_mm	*x = a, *y = b;

	return x->k < y->k ? -1 : x->k > y->k;
}

/* Does a reference of kind mine to cluster k clash with another use? */
static bool
clash(const struct qcow2_fix *fx, uint64_t k, unsigned mine)
{
	unsigned	kinds = k < fx->nkinds ? fx->kinds[k] : 0;

	if (mine == QCOW2_KIND_L2)
		return (kinds & QCOW2_KIND_META) != 0;
	return (kinds & (QCOW2_KIND_META | QCOW2_KIND_L2)) != 0;
}

/* One more reference to k must go elsewhere (its refcount is full). */
static bool
ovf_take(struct qcow2_fix *fx, uint64_t k)
{
	struct qcow2_mm	key, *m;

	key.k = k;
	m = fx->novf == 0 ? NULL : bsearch(&key, fx->ovf, fx->novf,
	    sizeof(key), mm_k_cmp);
	if (m == NULL || m->r2 == 0)
		return false;
	m->r2--;
	return true;
}

/*
 * A new cluster holding a copy of cluster src: the bytes the guest read
 * (orig, the file's own), or the table as the repair has it so far.
 */
static int
unshare_copy(struct unshare *u, uint64_t src, bool orig, enum pr_id id,
    uint64_t *dst)
{
	struct qcow2_fix	*fx = u->fx;
	int			 rc;

	if ((rc = orig ? plan_pread_orig(fx->plan, fx->img, src, u->buf,
	    (size_t)u->q->cs) : img_pread_zf(fx->img, src, u->buf,
	    (size_t)u->q->cs, NULL)) != 0)
		return rc;
	if ((rc = fx_alloc(fx, 1, id, dst)) != 0)
		return rc;
	return plan_write(fx->plan, fx->img, *dst, u->buf, (size_t)u->q->cs,
	    id);
}

/* Report a clash at cluster off; may it be fixed? */
static bool
unshare_report(struct unshare *u, uint64_t off, const char *what)
{
	struct pr_ctx	pc;

	memset(&pc, 0, sizeof(pc));
	pc.off = off;
	pc.len = u->q->cs;
	pc.str = what;
	pc.path = u->path;
	pc.flags = PC_HOST;
	if (!report_problem(u->rp, PR_QCOW2_SHARED_CLUSTER, &pc))
		return false;
	qcow2_fix_count(u->fx, PR_QCOW2_SHARED_CLUSTER, 1);
	return true;
}

static int
unshare_l1e(void *arg, struct qcow2_l2job *j)
{
	struct unshare	*u = arg;
	const struct qcow2 *q = u->q;
	uint64_t	 k = j->l2off >> q->h.cluster_bits, x;
	enum pr_id	 id;
	int		 rc;

	if (j->l2off == 0 || (j->l2off & (q->cs - 1)) != 0)
		return 0;
	snprintf(u->path, sizeof(u->path), "active L1[%" PRIu32 "]",
	    j->l1idx);
	if (clash(u->fx, k, QCOW2_KIND_L2)) {
		if (!unshare_report(u, j->l2off, "L2 table"))
			return 0;
		id = PR_QCOW2_SHARED_CLUSTER;
	} else if (ovf_take(u->fx, k))
		id = PR_QCOW2_REF_OVERFLOW;
	else
		return 0;
	if ((rc = unshare_copy(u, j->l2off, false, id, &x)) != 0 ||
	    (rc = qcow2_fix_be64(u->fx, q->h.l1_table_offset +
	    (uint64_t)j->l1idx * 8, (j->l1e & ~QCOW2_L1E_OFFSET_MASK) | x,
	    id)) != 0)
		return rc;
	u->fx->tables_copied++;
	/* The walk reads the copy, whose entries may clash too. */
	j->l2off = x;
	j->l1e = (j->l1e & ~QCOW2_L1E_OFFSET_MASK) | x;
	return 0;
}

static int
unshare_l2(void *arg, const struct qcow2_l2job *j, const uint8_t *tab)
{
	struct unshare	*u = arg;
	const struct qcow2 *q = u->q;
	uint64_t	 i, e, off, k, x, host;
	enum pr_id	 id;
	int		 rc;

	if (tab == NULL || q->data_file)
		return 0;
	for (i = 0; i < q->l2_size; i++) {
		e = be64_at(tab + i * q->l2_entry_size);
		if (qcow2_l2_kind(q, e) != QCOW2_L2_NORMAL &&
		    qcow2_l2_kind(q, e) != QCOW2_L2_ZERO_ALLOC)
			continue;
		off = e & QCOW2_L2E_OFFSET_MASK;
		if ((off & (q->cs - 1)) != 0)
			continue;
		k = off >> q->h.cluster_bits;
		host = j->l2off + i * q->l2_entry_size;
		snprintf(u->path, sizeof(u->path), "active L1[%" PRIu32
		    "] -> L2 @0x%" PRIx64 " [%" PRIu64 "]", j->l1idx,
		    j->l2off, i);
		if (clash(u->fx, k, QCOW2_KIND_DATA)) {
			if (!unshare_report(u, off, "data cluster"))
				continue;
			id = PR_QCOW2_SHARED_CLUSTER;
		} else if (ovf_take(u->fx, k))
			id = PR_QCOW2_REF_OVERFLOW;
		else
			continue;
		if (qcow2_l2_kind(q, e) == QCOW2_L2_ZERO_ALLOC) {
			/* It reads zeros: a plain zero cluster says so. */
			if ((rc = qcow2_fix_be64(u->fx, host, QCOW2_OFLAG_ZERO,
			    id)) != 0)
				return rc;
			continue;
		}
		if ((rc = unshare_copy(u, off, true, id, &x)) != 0 ||
		    (rc = qcow2_fix_be64(u->fx, host, (e &
		    ~QCOW2_L2E_OFFSET_MASK) | x, id)) != 0)
			return rc;
		u->fx->data_copied++;
	}
	return 0;
}

static int
fix_shared(struct qcow2_fix *fx, struct report *rp)
{
	struct qcow2		*q = fx->img->priv;
	struct qcow2_walker	 w;
	struct unshare		 u;
	uint64_t		 k;
	int			 rc;

	if (fx->novf > 0)
		qsort(fx->ovf, fx->novf, sizeof(*fx->ovf), mm_k_cmp);
	for (k = 0; k < fx->nkinds; k++)
		if ((fx->kinds[k] & (fx->kinds[k] - 1)) != 0)
			break;
	if ((k == fx->nkinds && fx->novf == 0) || q->h.l1_size == 0)
		return 0;
	memset(&u, 0, sizeof(u));
	u.fx = fx;
	u.rp = rp;
	u.q = q;
	if ((u.buf = malloc((size_t)q->cs)) == NULL)
		return -ENOMEM;
	memset(&w, 0, sizeof(w));
	w.img = fx->img;
	w.q = q;
	w.l1off = q->h.l1_table_offset;
	w.l1n = q->h.l1_size;
	w.last = q->h.l1_size;
	w.host_order = true;
	w.l1e = unshare_l1e;
	w.l2 = unshare_l2;
	w.arg = &u;
	rc = qcow2_walk(&w);
	free(u.buf);
	return rc;
}

/*
 * Entries naming data past the end of a version 2 image with a backing
 * file: each gets a new cluster (zeros: appended) to read.
 */
static int
fix_zeros(struct qcow2_fix *fx)
{
	uint8_t		b[8];
	uint64_t	off;
	size_t		i;
	int		rc;

	for (i = 0; i < fx->nzeros; i++) {
		if ((rc = img_pread(fx->img, fx->zeros[i], b,
		    sizeof(b))) != 0 || (rc = fx_alloc(fx, 1, PR_QCOW2_REF_PAST_EOF, &off)) != 0 ||
		    (rc = qcow2_fix_be64(fx, fx->zeros[i], (be64_at(b) &
		    ~QCOW2_L2E_OFFSET_MASK) | off, PR_QCOW2_REF_PAST_EOF)) != 0)
			return rc;
	}
	return 0;
}

/* What the structure step found to rewrite, after its walk. */
static int
fix_structure(struct qcow2_fix *fx, struct report *rp)
{
	uint8_t		 pad[7];
	int		 rc;

	if (fx->ncopied_seen > 0)
		qsort(fx->copied_seen, fx->ncopied_seen,
		    sizeof(*fx->copied_seen), u64_cmp);
	if (fx->hdr_autoclear != 0 && (rc = hdr_clear64(fx, 88,
	    fx->hdr_autoclear, PR_QCOW2_AUTOCLEAR_UNKNOWN)) != 0)
		return rc;
	if (fx->hdr_padding) {
		memset(pad, 0, sizeof(pad));
		if ((rc = plan_write(fx->plan, fx->img, 105, pad, sizeof(pad),
		    PR_QCOW2_HDR_PADDING)) != 0)
			return rc;
	}
	if ((fx->bm_drop_all || fx->bm_drop != NULL) &&
	    (rc = fix_bitmaps(fx)) != 0)
		return rc;
	if (fx->snap_rewrite && (rc = fix_snapshots(fx)) != 0)
		return rc;
	if ((rc = fix_zeros(fx)) != 0)
		return rc;
	if ((rc = fix_shared(fx, rp)) != 0)
		return rc;
	return 0;
}

/* ---- a repair into a new file ----------------------------------------- */

/* Copy img to path (which exists, empty): its data ranges only. */
static int
copy_to(struct img *img, const char *path)
{
	int	fd, rc;

	if ((fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)) < 0)
		return -errno;
	rc = img_copy_sparse(img, fd);
	if (close(fd) != 0 && rc == 0)
		rc = -errno;
	return rc;
}

/* The folder of path, resolved (caller frees); NULL when it cannot be. */
static char *
folder_of(const char *path)
{
	const char	*slash = strrchr(path, '/');
	char		*d, *r;

	if (slash == NULL)
		d = strdup(".");
	else if (slash == path)
		d = strdup("/");
	else
		d = strndup(path, (size_t)(slash - path));
	if (d == NULL)
		return NULL;
	r = realpath(d, NULL);
	free(d);
	return r;
}

/*
 * name, relative to the resolved folder from, as a name relative to the
 * resolved folder to ("../a/b"), or absolute when the two folders share
 * nothing but the root.  Caller frees.
 */
static char *
rel_name(const char *from, const char *to, const char *name)
{
	char	*abs, *out;
	size_t	 i, n, common = 0, ups = 0, o = 0;

	n = strlen(from) + strlen(name) + 2;
	if ((abs = malloc(n)) == NULL)
		return NULL;
	snprintf(abs, n, "%s/%s", strcmp(from, "/") == 0 ? "" : from, name);
	/* The last '/' up to which abs and to + "/" agree. */
	for (i = 0; to[i] != '\0' && to[i] == abs[i]; i++)
		if (to[i] == '/')
			common = i;
	if (to[i] == '\0' && abs[i] == '/')
		common = i;
	if (common == 0)
		return abs;
	/* One "../" per folder of to below the common one. */
	for (i = common; to[i] != '\0'; i++)
		if (to[i] == '/')
			ups++;
	n = ups * 3 + strlen(abs + common + 1) + 1;
	if ((out = malloc(n)) == NULL) {
		free(abs);
		return NULL;
	}
	for (i = 0; i < ups; i++, o += 3)
		memcpy(out + o, "../", 3);
	memcpy(out + o, abs + common + 1, strlen(abs + common + 1) + 1);
	free(abs);
	return out;
}

/*
 * The copy lies in another folder: rewrite a relative backing file name
 * so it names the same file (qemu-img rebase -u would).  A data file
 * name is left alone: QEMU 7.2 opens it relative to its working folder,
 * not the image's.
 */
static int
fix_names(struct qcow2_fix *fx, struct report *rp, const char *orig,
    const char *copy)
{
	struct qcow2	*q = fx->img->priv;
	struct pr_ctx	 pc;
	char		*from = NULL, *to = NULL, *nb = NULL;
	uint8_t		 sz[4];
	int		 rc = 0;

	if (q->backing_file[0] == '\0' || q->backing_file[0] == '/')
		return 0;
	if ((from = folder_of(orig)) == NULL || (to = folder_of(copy)) ==
	    NULL || strcmp(from, to) == 0)
		goto out;
	memset(&pc, 0, sizeof(pc));
	pc.path = "header";
	pc.flags = PC_HOST | PC_LEAKS_OK;
	if ((nb = rel_name(from, to, q->backing_file)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	pc.off = q->h.backing_file_offset;
	pc.len = strlen(nb);
	pc.str = nb;
	if (strlen(nb) > QCOW2_MAX_BACKING_NAME ||
	    q->h.backing_file_offset + strlen(nb) > q->cs) {
		img_set_error(fx->img, "the backing file name '%s' does not "
		    "fit the copy's header", nb);
		rc = -IMG_ELIMIT;
		goto out;
	}
	if (report_problem(rp, PR_QCOW2_BACKING_REBASED, &pc)) {
		put_be32(sz, (uint32_t)strlen(nb));
		if ((rc = plan_write(fx->plan, fx->img,
		    q->h.backing_file_offset, nb, strlen(nb),
		    PR_QCOW2_BACKING_REBASED)) != 0)
			goto out;
		rc = plan_write(fx->plan, fx->img, 16, sz, sizeof(sz),
		    PR_QCOW2_BACKING_REBASED);
	}
out:
	free(from);
	free(to);
	free(nb);
	return rc;
}

/* ---- the steps -------------------------------------------------------- */

/* The step that reports a problem with this id keeps its finding. */
static enum qcow2_fix_phase
id_phase(enum pr_id id)
{
	const struct pr_info	*pi = pr_info_get(id);
	unsigned		 stage;

	stage = pi != NULL ? (pi->code >> 8) & 0xff : 0;

	if (stage == 3)
		return QCOW2_FIX_REFCOUNT;
	if (stage == 6)
		return QCOW2_FIX_COPIED;
	return QCOW2_FIX_STRUCT;
}

/* Does dst have this finding already (the same problem, same place)? */
static bool
has_finding(const struct report *dst, const struct finding *f)
{
	const struct finding	*g;
	size_t			 i;

	for (i = 0; i < dst->nf; i++) {
		g = &dst->f[i];
		if (g->id == f->id && g->host_off == f->host_off &&
		    (g->path == NULL) == (f->path == NULL) &&
		    (g->path == NULL || strcmp(g->path, f->path) == 0))
			return true;
	}
	return false;
}

/*
 * Move the findings src has of the step's kind to dst (their strings
 * too), with their counts per id.  The header bits are step E's.  again:
 * a second run of a step, whose findings dst may have already.
 */
static int
take(struct report *dst, struct report *src, enum qcow2_fix_phase ph,
    bool again)
{
	struct finding	*f, *nf;
	uint64_t	 kept[PR_COUNT];
	size_t		 i, cap;

	memset(kept, 0, sizeof(kept));
	for (i = 0; i < src->nf; i++) {
		f = &src->f[i];
		if (id_phase(f->id) != ph || f->id == PR_QCOW2_DIRTY ||
		    f->id == PR_QCOW2_CORRUPT_BIT || (again &&
		    has_finding(dst, f)))
			continue;
		if (dst->nf == dst->capf) {
			cap = dst->capf == 0 ? 64 : dst->capf * 2;
			if ((nf = reallocarray(dst->f, cap, sizeof(*nf))) ==
			    NULL)
				return -ENOMEM;
			dst->f = nf;
			dst->capf = cap;
		}
		dst->f[dst->nf++] = *f;
		kept[f->id]++;
		f->path = NULL;
		f->msg = NULL;
	}
	for (i = 0; i < PR_COUNT; i++) {
		if (id_phase((enum pr_id)i) != ph || i == PR_QCOW2_DIRTY ||
		    i == PR_QCOW2_CORRUPT_BIT)
			continue;
		if (again) {
			dst->seen[i] += kept[i];
			continue;
		}
		dst->seen[i] += src->seen[i];
		dst->omitted += src->seen[i] - kept[i];
	}
	dst->nomem |= src->nomem;
	return 0;
}

/* Decode the image again, as the plan has it now. */
static int
reopen(struct img *img)
{
	int	rc;

	qcow2_close(img);
	if ((rc = qcow2_open(img)) != 0 && img_error(img) == NULL)
		img_set_error(img, "the repaired image does not open: %s",
		    img_strerror(rc));
	return rc;
}

/* One check of the planned image as step ph, into its own report. */
static int
step(struct qcow2_fix *fx, enum qcow2_fix_phase ph, struct report *sr,
    const struct report *rp)
{
	const struct finding	*f;
	int			 rc;

	report_init(sr);
	sr->repair = rp->repair;
	sr->dry_run = rp->dry_run;
	sr->max_per_code = rp->max_per_code;
	sr->force = rp->force;
	fx->phase = ph;
	if ((rc = reopen(fx->img)) != 0)
		return rc;
	/*
	 * Permission in a dry run too: the fix goes into the plan (which
	 * the caller takes back before it releases sr).
	 */
	sr->plan = fx->plan;
	rc = qcow2_check_fix(fx->img, sr, fx);
	if (rc != 0 && img_error(fx->img) == NULL && sr->nf > 0) {
		/* Why: the last problem found, which stopped the check. */
		f = &sr->f[sr->nf - 1];
		img_set_error(fx->img, "%s: %s%s", pr_info_get(f->id)->name,
		    f->msg, f->fixed || pr_info_get(f->id)->fix == PR_FIX_NONE ?
		    "" : " (not at this repair level)");
	}
	return rc;
}

/*
 * Did the repair leave a problem the image did not have?  Its name, or
 * NULL.  Every count per problem must be no higher than before.
 */
static const char *
made_worse(const struct report *before, const struct report *after)
{
	size_t	i;

	for (i = 0; i < PR_COUNT; i++)
		if (after->seen[i] > before->seen[i] && i != PR_QCOW2_DIRTY &&
		    i != PR_QCOW2_CORRUPT_BIT)
			return pr_info_get((enum pr_id)i)->name;
	return NULL;
}

/* E: the dirty and corrupt bits, cleared once nothing is wrong. */
static int
fix_bits(struct qcow2_fix *fx, struct report *rp, const struct report *rd)
{
	struct qcow2	*q = fx->img->priv;
	struct pr_ctx	 pc;
	uint64_t	 bits = 0;
	bool		 clean = rd->c.corruptions == 0 &&
			     rd->c.check_errors == 0;

	if (q->h.version < 3)
		return 0;
	memset(&pc, 0, sizeof(pc));
	pc.path = "header";
	pc.off = 72;
	pc.len = 8;
	/* qemu clears them at either level once nothing is wrong. */
	pc.flags = PC_HOST | (clean ? PC_LEAKS_OK : PC_NOFIX);
	if ((q->h.incompatible & QCOW2_INCOMPAT_DIRTY) &&
	    report_problem(rp, PR_QCOW2_DIRTY, &pc))
		bits |= QCOW2_INCOMPAT_DIRTY;
	if ((q->h.incompatible & QCOW2_INCOMPAT_CORRUPT) &&
	    report_problem(rp, PR_QCOW2_CORRUPT_BIT, &pc))
		bits |= QCOW2_INCOMPAT_CORRUPT;
	if (bits == 0)
		return 0;
	return hdr_clear64(fx, 72, bits, (bits & QCOW2_INCOMPAT_CORRUPT) ?
	    PR_QCOW2_CORRUPT_BIT : PR_QCOW2_DIRTY);
}

static void	fx_release(struct qcow2_fix *fx);

/*
 * Before the structure step runs again: forget what its walk and the
 * rewrites after it decided (the plan has all of it now).
 */
static void
fx_restart(struct qcow2_fix *fx)
{
	qcow2_snaptab_release(&fx->snaps);
	free(fx->snap_drop);
	free(fx->bm_drop);
	fx->snap_drop = fx->bm_drop = NULL;
	fx->snap_n = 0;
	fx->snap_rewrite = fx->snap_drop_all = fx->bm_drop_all = false;
	fx->snap_id = fx->bm_id = PR_COUNT;
	fx->hdr_autoclear = 0;
	fx->hdr_padding = false;
	fx->novf = 0;
	fx->nzeros = 0;
	fx->tables_copied = fx->data_copied = 0;
}

/* The survey: a structure step that plans nothing; fx keeps its kinds. */
static int
survey(struct qcow2_fix *fx, const struct report *rp)
{
	struct qcow2_fix	sv;
	struct report		sr;
	int			rc;

	memset(&sv, 0, sizeof(sv));
	sv.img = fx->img;
	sv.plan = fx->plan;
	sv.rebuild_id = sv.snap_id = sv.bm_id = PR_COUNT;
	sv.survey = true;
	sv.alloc_ceiling = UINT64_MAX;
	rc = step(&sv, QCOW2_FIX_STRUCT, &sr, rp);
	sr.plan = NULL;
	report_release(&sr);
	if (rc == 0) {
		fx->kinds = sv.kinds;
		fx->nkinds = sv.nkinds;
		sv.kinds = NULL;
	}
	fx_release(&sv);
	return rc;
}

static void
fx_release(struct qcow2_fix *fx)
{
	qcow2_counts_free(fx->cnt);
	qcow2_snaptab_release(&fx->snaps);
	free(fx->snap_drop);
	free(fx->bm_drop);
	free(fx->copied_seen);
	free(fx->mm);
	free(fx->kinds);
	free(fx->ovf);
	free(fx->zeros);
}

/*
 * Build the plan for img (steps A to E) with it laid over img; the
 * findings go to rp.  orig/copy: a copy's names are fixed first.
 */
static int
repair_plan(struct img *img, struct report *rp, const char *orig,
    const char *copy)
{
	struct qcow2_fix	 fx;
	struct report		 ra, rb, rc3, rd;
	const char		*worse;
	uint64_t		 other, lfixed, copied;
	int			 rc;

	memset(&fx, 0, sizeof(fx));
	report_init(&ra);
	report_init(&rb);
	report_init(&rc3);
	report_init(&rd);
	fx.img = img;
	fx.plan = rp->plan;
	fx.rebuild_id = PR_COUNT;
	fx.snap_id = fx.bm_id = PR_COUNT;
	fx.alloc_ceiling = UINT64_MAX;
	plan_attach(img, rp->plan);
	if (copy != NULL && (rc = fix_names(&fx, rp, orig, copy)) != 0)
		goto out;

	/* A: a survey of what each cluster is, then the structure. */
	if ((rc = survey(&fx, rp)) != 0)
		goto out;
	if ((rc = step(&fx, QCOW2_FIX_STRUCT, &ra, rp)) != 0 ||
	    (rc = fix_structure(&fx, &ra)) != 0 ||
	    (rc = take(rp, &ra, QCOW2_FIX_STRUCT, false)) != 0)
		goto out;
	/* Tables copied away from other metadata get their entries fixed. */
	if (fx.tables_copied > 0) {
		struct report	ra2;

		fx_restart(&fx);
		rc = step(&fx, QCOW2_FIX_STRUCT, &ra2, rp);
		if (rc == 0)
			rc = fix_structure(&fx, &ra2);
		if (rc == 0)
			rc = take(rp, &ra2, QCOW2_FIX_STRUCT, true);
		ra2.plan = NULL;
		report_release(&ra2);
		if (rc != 0)
			goto out;
	}

	/* B: the refcounts. */
	lfixed = fx.lfixed;
	fx.rebuild_id = PR_COUNT;
	if ((rc = step(&fx, QCOW2_FIX_REFCOUNT, &rb, rp)) != 0 ||
	    (rc = take(rp, &rb, QCOW2_FIX_REFCOUNT, false)) != 0 ||
	    (rc = qcow2_refcounts_fix(&fx)) != 0)
		goto out;

	/* C: COPIED; at the leaks level when nothing else is wrong. */
	other = rb.c.corruptions + rb.c.check_errors + rb.c.leaks -
	    (fx.lfixed - lfixed);
	copied = rb.seen[PR_QCOW2_COPIED_L2] + rb.seen[PR_QCOW2_COPIED_DATA];
	other -= copied < other ? copied : other;
	fx.copied_all_ok = other == 0;
	/* What each cluster is now: copies no longer share. */
	if (fx.tables_copied > 0 || fx.data_copied > 0) {
		free(fx.kinds);
		fx.kinds = NULL;
		fx.nkinds = 0;
		if ((rc = survey(&fx, rp)) != 0)
			goto out;
	}
	if ((rc = step(&fx, QCOW2_FIX_COPIED, &rc3, rp)) != 0 ||
	    (rc = take(rp, &rc3, QCOW2_FIX_COPIED, false)) != 0)
		goto out;

	/* D: check the result; it must not be worse anywhere. */
	rd.max_per_code = 1;
	fx.phase = 0;
	if ((rc = reopen(img)) != 0 || (rc = qcow2_check(img, &rd)) != 0)
		goto out;
	if ((worse = made_worse(&ra, &rd)) != NULL) {
		img_set_error(img, "the repair would leave a problem the image "
		    "did not have (%s): nothing written", worse);
		rc = -IMG_ECHECK;
		goto out;
	}

	/* E: the dirty and corrupt bits. */
	if ((rc = fix_bits(&fx, rp, &rd)) != 0)
		goto out;
	rp->c = rd.c;
	rp->c.corruptions_fixed = fx.cfixed;
	rp->c.leaks_fixed = fx.lfixed;
	plan_set_after(rp->plan, &rd.c);
out:
	if (rc != 0) {
		/* What the image has, and the repair that could not be made. */
		rp->c = ra.c;
		rp->c.corruptions_fixed = rp->c.leaks_fixed = 0;
		rp->c.check_errors++;
		plan_clear(rp->plan);
	}
	plan_detach(img);
	fx_release(&fx);
	ra.plan = rb.plan = rc3.plan = NULL;
	report_release(&ra);
	report_release(&rb);
	report_release(&rc3);
	report_release(&rd);
	return rc;
}

/* Repair img itself (the plan written unless a dry run). */
static int
repair_img(struct img *img, struct report *rp, const char *orig,
    const char *copy)
{
	int	rc, rc2;

	rc = repair_plan(img, rp, orig, copy);
	if (rc == 0)
		rc = plan_apply(img, rp->plan, rp);
	/* The image as it is now (the plan is no longer over it). */
	rc2 = reopen(img);
	return rc != 0 ? rc : rc2;
}

int
qcow2_repair(struct img *img, struct report *rp, const char *out_path)
{
	struct img_opts	 opts;
	struct img	*out;
	char		 err[IMG_ERRMSG_MAX];
	int		 rc;

	if (rp->plan == NULL)
		return -EINVAL;
	if (out_path == NULL)
		return repair_img(img, rp, NULL, NULL);
	if ((rc = copy_to(img, out_path)) != 0)
		return rc;
	memset(&opts, 0, sizeof(opts));
	opts.format = "qcow2";
	opts.flags = IMG_RDWR | IMG_REPAIR;
	if ((rc = img_open(out_path, &opts, &out, err, sizeof(err))) != 0) {
		img_set_error(img, "%s", err);
		return rc;
	}
	img_set_progress(out, img->progress, img->parg);
	rc = repair_img(out, rp, img->path, out_path);
	if (rc != 0 && img_error(out) != NULL)
		img_set_error(img, "%s", img_error(out));
	img_close(out);
	return rc;
}
