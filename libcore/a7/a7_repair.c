/* SPDX-License-Identifier: MIT */
/*
 * a7_repair.c --- repair an archive7 from the walk of its chains.
 *
 * The check marks what it was allowed to fix (report_problem() said so);
 * here we apply it on decrypted copies of the blocks, then seal each
 * changed block with a fresh nonce (§2) and write it: into a copy of the
 * archive at out_path, or in place through img_pwrite() (undo file).
 *
 *  - a broken chain is cut at its last good block (next = -1) and its
 *    record rewritten from the walk; the bytes it no longer holds are
 *    reported as lost;
 *  - a stream with no readable first block gets one fresh empty block;
 *  - wrong previous/index fields are rewritten;
 *  - blocks no chain owns go to the end of the trash (§6): blank ones as
 *    they are, data ones with their data (as upstream's deletion does),
 *    unreadable ones and leftovers of a removal reset to blank;
 *  - the special-stream records in block 0 are recomputed from the
 *    chains (§4.4), the tree lengths from their walked chains;
 *  - file entries whose stream shrank get the stream's length, and bad
 *    record checksums are recomputed;
 *  - a partial block at the end of the file is dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "a7/a7.h"
#include "core/banned.h"

#define A7_MAX_NEW_BLOCKS	4096	/* blocks a repair may append */

struct a7_fix {
	struct img	*img;
	struct a7	*a;
	int		 fd;		/* -1: in place */
	uint64_t	 nout;		/* blocks in the output */
	int32_t		*slot;		/* per block: index in pl, -1 */
	uint8_t		*pl;		/* dirty plaintexts */
	size_t		 npl;
	size_t		 cappl;
};

/* The plaintext of block b for editing; marks it dirty. */
static uint8_t *
a7_fix_get(struct a7_fix *fx, uint64_t b)
{
	uint8_t	*p, *np;
	size_t	 cap;
	int	 rc;

	if (b >= fx->nout)
		return NULL;
	if (fx->slot[b] >= 0)
		return fx->pl + (size_t)fx->slot[b] * A7_PLAIN;
	if (fx->npl == fx->cappl) {
		cap = fx->cappl == 0 ? 64 : fx->cappl * 2;
		if ((np = reallocarray(fx->pl, cap, A7_PLAIN)) == NULL)
			return NULL;
		fx->pl = np;
		fx->cappl = cap;
	}
	p = fx->pl + fx->npl * A7_PLAIN;
	memset(p, 0, A7_PLAIN);
	if (b < fx->a->nblocks) {
		rc = a7_blk_read(fx->img, b, p);
		if (rc < 0)
			return NULL;
		if (rc != 0)
			memset(p, 0, A7_PLAIN);
	}
	fx->slot[b] = (int32_t)fx->npl++;
	return p;
}

/* Make p a blank block (§3), data included. */
static void
a7_plain_blank(uint8_t *p)
{
	memset(p, 0, A7_PLAIN);
	put_be32(p, 0xffffffffu);
	put_be32(p + 4, 0xffffffffu);
}

static void
a7_plain_hdr(uint8_t *p, int32_t prev, int32_t next, uint32_t index,
    const uint8_t *sid)
{
	put_be32(p, (uint32_t)prev);
	put_be32(p + 4, (uint32_t)next);
	put_be32(p + 8, index);
	memcpy(p + 12, sid, 16);
}

/* Copy the changed bytes [off, off+len) of tree t back into its blocks. */
static int
a7_fix_tree(struct a7_fix *fx, struct a7_tree *t, size_t off, size_t len)
{
	size_t	k;
	uint8_t	*p;

	for (k = off / A7_DATA; k <= (off + len - 1) / A7_DATA &&
	    k < t->nchain; k++) {
		if ((p = a7_fix_get(fx, (uint64_t)t->chain[k])) == NULL)
			return -ENOMEM;
		memcpy(p + A7_HDR, t->buf + k * A7_DATA, A7_DATA);
	}
	return 0;
}

/* Recompute the checksum of the record at off in tree t (§7). */
static void
a7_rec_sum(struct a7_tree *t, size_t off)
{
	size_t	rsz = 4 + 16 + (size_t)t->vsize + 1, j;
	uint8_t	sum = 0;

	for (j = 4; j < rsz - 1; j++)
		sum = (uint8_t)(sum + t->buf[off + j]);
	t->buf[off + rsz - 1] = sum;
}

/* Cut, rebuild and re-record data and special streams. */
static int
a7_fix_streams(struct a7_fix *fx, struct report *rp)
{
	struct a7		*a = fx->a;
	struct a7_stream	*st;
	struct a7_blk		*bk;
	uint8_t			*p;
	uint64_t		 cap, len;
	int64_t			 b, prev;
	uint32_t		 k;
	size_t			 s;
	long			 e;

	for (s = 0; s < a->nst; s++) {
		st = &a->st[s];
		/* Headers whose previous or index disagree with the walk. */
		for (k = 0, b = st->begin, prev = -1; k < st->wcount; k++) {
			bk = &a->blk[b];
			if (bk->flags & A7_BF_FIX_HDR) {
				if ((p = a7_fix_get(fx, (uint64_t)b)) == NULL)
					return -ENOMEM;
				put_be32(p, (uint32_t)prev);
				put_be32(p + 8, k);
			}
			prev = b;
			b = bk->next;
		}
		if (st->fix_cut && st->wcount > 0) {
			if ((p = a7_fix_get(fx, (uint64_t)st->wend)) == NULL)
				return -ENOMEM;
			put_be32(p + 4, 0xffffffffu);
			st->fix_rec = true;
			if (st->slot >= 0)
				a->fix_meta = true;
		} else if (st->fix_cut && st->slot < 0) {
			/* No first block left: give the stream a new one. */
			if (fx->nout - a->nblocks >= A7_MAX_NEW_BLOCKS)
				continue;
			b = (int64_t)fx->nout++;
			if ((p = a7_fix_get(fx, (uint64_t)b)) == NULL)
				return -ENOMEM;
			a7_plain_hdr(p, -1, -1, 0, st->id);
			st->begin = st->wend = (int32_t)b;
			st->wcount = 1;
			st->fix_rec = true;
		}
		if (st->slot >= 0 || !st->fix_rec || st->wcount == 0)
			continue;
		cap = (uint64_t)st->wcount * A7_DATA;
		len = st->length;
		e = st->entry;
		if (len > cap)
			len = e >= 0 && a->ent[e].length <= cap ?
			    a->ent[e].length : cap;
		if (len < st->length) {
			char		name[64];
			struct pr_ctx	pc = { .found = st->wcount,
			    .want = st->length - len, .str = name,
			    .flags = PC_HOST, .len = A7_BLOCK,
			    .off = (uint64_t)st->wend * A7_BLOCK,
			    .path = e >= 0 ? a->ent[e].path : NULL };

			a7_uuid_str(st->id, name, sizeof(name));
			(void)report_problem(rp, PR_A7_REPAIR_LOSS, &pc);
		}
		st->end = st->wend;
		st->count = st->wcount;
		st->length = len;
		if (e >= 0 && a->ent[e].length != len)
			a->ent[e].fix_len = true;
		if (a->tree[1].ok) {
			struct a7_tree	*t = &a->tree[1];
			uint8_t		*v = t->buf + st->rec_off + 20;

			put_be32(v + 16, (uint32_t)st->begin);
			put_be32(v + 20, (uint32_t)st->end);
			put_be32(v + 24, st->count);
			put_be64(v + 28, st->length);
			a7_rec_sum(t, st->rec_off);
			if (a7_fix_tree(fx, t, st->rec_off, 59) != 0)
				return -ENOMEM;
		}
	}
	return 0;
}

/* Entry lengths and record checksums. */
static int
a7_fix_records(struct a7_fix *fx)
{
	struct a7	*a = fx->a;
	struct a7_tree	*t;
	struct a7_ent	*e;
	size_t		 i, rsz;
	int		 slot;

	t = &a->tree[2];
	for (i = 0; i < a->nent && t->ok; i++) {
		e = &a->ent[i];
		if (!e->fix_len || e->stream < 0)
			continue;
		e->length = a->st[e->stream].length;
		put_be64(t->buf + e->rec_off + 20 + 81, e->length);
		a7_rec_sum(t, e->rec_off);
		if (a7_fix_tree(fx, t, e->rec_off, 4 + 16 + A7_ENTRY + 1) !=
		    0)
			return -ENOMEM;
	}
	for (slot = 1; slot < A7_NSPECIAL; slot++) {
		t = &a->tree[slot];
		rsz = 4 + 16 + (size_t)t->vsize + 1;
		for (i = 0; i < t->nrecs; i++) {
			if (!t->recs[i].fix_sum)
				continue;
			a7_rec_sum(t, t->recs[i].off);
			if (a7_fix_tree(fx, t, t->recs[i].off, rsz) != 0)
				return -ENOMEM;
		}
	}
	return 0;
}

/* Append every block marked for the trash to the end of its chain. */
static int
a7_fix_trash(struct a7_fix *fx)
{
	struct a7		*a = fx->a;
	struct a7_stream	*tr = &a->st[0];
	struct a7_blk		*bk;
	uint8_t			*p, nil[16];
	uint64_t		 b;

	memset(nil, 0, sizeof(nil));
	/* The trash record lives in block 0: it must be writable. */
	if (tr->wcount == 0 || (!a->meta_ok && !a->fix_meta))
		return 0;
	for (b = 1; b < a->nblocks; b++) {
		bk = &a->blk[b];
		if (!(bk->flags & A7_BF_FIX_TRASH) || bk->owner != A7_OWN_NONE)
			continue;
		if ((p = a7_fix_get(fx, b)) == NULL)
			return -ENOMEM;
		if (bk->flags & A7_BF_FIX_BLANK)
			a7_plain_blank(p);
		a7_plain_hdr(p, tr->wend, -1, tr->wcount, nil);
		if ((p = a7_fix_get(fx, (uint64_t)tr->wend)) == NULL)
			return -ENOMEM;
		put_be32(p + 4, (uint32_t)b);
		bk->owner = 0;
		tr->wend = (int32_t)b;
		tr->wcount++;
		a->fix_trash_rec = true;
	}
	return 0;
}

/* Rewrite the special-stream records of block 0 from the walks. */
static int
a7_fix_meta(struct a7_fix *fx)
{
	struct a7		*a = fx->a;
	struct a7_stream	*st;
	uint8_t			*p, *r, id[16];
	uint64_t		 len;
	unsigned		 n;

	if (!a->fix_meta && !a->fix_trash_rec)
		return 0;
	if ((p = a7_fix_get(fx, 0)) == NULL)
		return -ENOMEM;
	memset(id, 0, sizeof(id));
	if (!a->meta_ok)
		memset(p, 0, A7_PLAIN);
	if (a->fix_meta)
		a7_plain_hdr(p, -1, -1, 0, id);
	for (n = 0; n < A7_NSPECIAL; n++) {
		st = &a->st[n];
		/* Only the trash record, unless block 0 may be rebuilt. */
		if (st->wcount == 0 || (!a->fix_meta && n != 0))
			continue;
		len = n == 0 ? 0 : a->tree[n].len != 0 ? a->tree[n].len :
		    st->length;
		r = p + A7_HDR + A7_DATA - A7_SREC * (A7_NSPECIAL - n);
		a7_uuid_n(id, n);
		memcpy(r, id, 16);
		put_be32(r + 16, (uint32_t)st->begin);
		put_be32(r + 20, (uint32_t)st->wend);
		put_be32(r + 24, st->wcount);
		put_be64(r + 28, len);
		put_be16(r + 36, 0);
	}
	return 0;
}

/* Seal and write every changed block. */
static int
a7_fix_flush(struct a7_fix *fx)
{
	uint8_t		raw[A7_BLOCK];
	uint64_t	b;
	int		rc;

	for (b = 0; b < fx->nout; b++) {
		if (fx->slot[b] < 0)
			continue;
		if ((rc = a7_blk_seal(fx->img, fx->a, fx->pl +
		    (size_t)fx->slot[b] * A7_PLAIN, raw)) != 0)
			return rc;
		if (fx->fd < 0)
			rc = img_pwrite(fx->img, b * A7_BLOCK, raw, A7_BLOCK);
		else if (pwrite(fx->fd, raw, A7_BLOCK, (off_t)(b *
		    A7_BLOCK)) != A7_BLOCK)
			rc = -errno;
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Copy the whole blocks of the archive to fd. */
static int
a7_fix_copy(struct a7_fix *fx)
{
	uint8_t		*buf;
	uint64_t	 b, n;
	ssize_t		 w;
	int		 rc = 0;

	if ((buf = malloc((size_t)A7_READ_CHUNK * A7_BLOCK)) == NULL)
		return -ENOMEM;
	for (b = 0; b < fx->a->nblocks; b += n) {
		n = fx->a->nblocks - b < A7_READ_CHUNK ? fx->a->nblocks - b :
		    A7_READ_CHUNK;
		if ((rc = img_pread(fx->img, b * A7_BLOCK, buf,
		    (size_t)n * A7_BLOCK)) != 0)
			break;
		w = pwrite(fx->fd, buf, (size_t)n * A7_BLOCK,
		    (off_t)(b * A7_BLOCK));
		if (w != (ssize_t)(n * A7_BLOCK)) {
			rc = w < 0 ? -errno : -EIO;
			break;
		}
	}
	free(buf);
	return rc;
}

static void
a7_fix_count(struct report *rp)
{
	const struct pr_info	*pi;
	size_t			 i;

	for (i = 0; i < rp->nf; i++) {
		if (!rp->f[i].fixed)
			continue;
		pi = pr_info_get(rp->f[i].id);
		if (pi->sev == PR_SEV_LEAK)
			rp->c.leaks_fixed++;
		else if (pi->sev == PR_SEV_CORRUPT)
			rp->c.corruptions_fixed++;
	}
}

int
a7_repair(struct img *img, struct report *rp, const char *out_path)
{
	struct a7	*a = img->priv;
	struct a7_fix	 fx;
	uint64_t	 i;
	int		 rc;

	memset(&fx, 0, sizeof(fx));
	fx.fd = -1;
	rc = a7_analyse(img, rp);
	if (rc != 0 || a->nblocks == 0)
		return rc != 0 ? rc : -IMG_EINVAL;
	if (rp->dry_run)
		return 0;
	fx.img = img;
	fx.a = a;
	fx.nout = a->nblocks;
	if ((fx.slot = malloc((a->nblocks + A7_MAX_NEW_BLOCKS) *
	    sizeof(*fx.slot))) == NULL)
		return -ENOMEM;
	for (i = 0; i < a->nblocks + A7_MAX_NEW_BLOCKS; i++)
		fx.slot[i] = -1;
	if (out_path != NULL) {
		fx.fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC |
		    O_CLOEXEC, 0644);
		if (fx.fd < 0) {
			rc = -errno;
			goto out;
		}
		if ((rc = a7_fix_copy(&fx)) != 0)
			goto out;
	}
	if ((rc = a7_fix_streams(&fx, rp)) != 0 ||
	    (rc = a7_fix_records(&fx)) != 0 ||
	    (rc = a7_fix_trash(&fx)) != 0 ||
	    (rc = a7_fix_meta(&fx)) != 0 ||
	    (rc = a7_fix_flush(&fx)) != 0)
		goto out;
	if (out_path == NULL && a->tail != 0 && a->fix_tail &&
	    fx.nout == a->nblocks)
		rc = img_truncate(img, a->nblocks * A7_BLOCK);
	if (rc == 0 && fx.fd >= 0 && fsync(fx.fd) != 0)
		rc = -errno;
	if (rc == 0)
		a7_fix_count(rp);
out:
	if (fx.fd >= 0)
		close(fx.fd);
	free(fx.slot);
	free(fx.pl);
	a->analysed = false;
	return rc;
}
