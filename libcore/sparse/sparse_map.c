/* SPDX-License-Identifier: MIT */
/*
 * sparse_map.c --- guest extents of a sparse stream, and restoring it.
 *
 * map walks the frame headers and turns each extent frame into a
 * qemu-img map entry: data frames are data (with their file offset when
 * stored plain), zero frames read as zeros, and the ranges an
 * incremental stream leaves out are not present.  The list is kept in
 * guest order: a frame reaching back before the last one is clipped.
 *
 * extract restores the guest disk the way upstream's restore does: the
 * output grows to the virtual size, data frames are written at their
 * guest offsets (decoded from lz4 where compressed), zero frames clear
 * only bytes the output already had, and ranges a stream leaves out are
 * not touched, so extracting a full backup and then its increments onto
 * one file rebuilds the disk.  A pipe gets the same bytes in order.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sparse/sparse.h"
#include "core/banned.h"

/* Zeros written per call when clearing a range. */
#define SPARSE_ZERO_CHUNK	(1u << 20)

struct map_state {
	map_fn		*fn;
	void		*arg;
	uint64_t	 cursor;
	int		 rc;
};

static int
map_emit(struct map_state *ms, uint64_t start, uint64_t len, bool present,
    bool data, bool comp, uint64_t off, bool has_off)
{
	struct map_ext	e;

	if (len == 0)
		return 0;
	memset(&e, 0, sizeof(e));
	e.start = start;
	e.length = len;
	e.present = present;
	e.data = data;
	e.zero = !data;
	e.compressed = comp;
	e.offset = off;
	e.has_offset = has_off;
	e.depth = 0;
	return ms->fn(ms->arg, &e);
}

static int
map_ext_cb(void *arg, const struct sparse_ext *x)
{
	struct map_state	*ms = arg;
	uint64_t		 start = x->start, len = x->len, end, skip;
	int			 rc;

	if (!ck_add_u64(start, len, &end) || end <= ms->cursor)
		return 0;
	if (start < ms->cursor) {
		skip = ms->cursor - start;
		start += skip;
		len -= skip;
	} else
		skip = 0;
	if (start > ms->cursor && (rc = map_emit(ms, ms->cursor,
	    start - ms->cursor, false, false, false, 0, false)) != 0)
		return rc;
	if (x->kind == SK_DATA)
		rc = map_emit(ms, start, len, true, true, x->compressed,
		    x->pay_off + skip, !x->compressed);
	else
		rc = map_emit(ms, start, len, true, false, false, 0, false);
	ms->cursor = end;
	return rc;
}

int
sparse_map(struct img *img, const struct map_req *rq, map_fn *fn,
    void *arg)
{
	(void)rq;
	struct sparse		*sp = img->priv;
	struct sparse_walk_opts	 wo;
	struct map_state	 ms;
	struct report		 rp;
	int			 rc;

	memset(&wo, 0, sizeof(wo));
	memset(&ms, 0, sizeof(ms));
	ms.fn = fn;
	ms.arg = arg;
	wo.on_ext = map_ext_cb;
	wo.arg = &ms;
	report_init(&rp);
	rp.max_per_code = 1;
	rc = sparse_walk(img, &rp, &wo, NULL);
	report_release(&rp);
	if (rc == 0 && sp->meta.has_vsize && ms.cursor < sp->meta.virtual_size)
		rc = map_emit(&ms, ms.cursor, sp->meta.virtual_size -
		    ms.cursor, false, false, false, 0, false);
	return rc;
}

struct extract_state {
	int		 fd;
	bool		 seekable;
	uint64_t	 old_size;	/* output length before we began */
	uint64_t	 cursor;	/* pipe: bytes written so far */
	uint64_t	 vsize;
	uint8_t		*zeros;
};

static int
write_all(int fd, const uint8_t *p, size_t n, uint64_t off, bool seek)
{
	return seek ? fd_pwrite_full(fd, p, n, off) : fd_write_full(fd, p, n);
}

/* Zeros over [off, off+len) (seekable) or up to off+len (pipe). */
static int
write_zeros(struct extract_state *es, uint64_t off, uint64_t len)
{
	size_t	n;
	int	rc;

	while (len > 0) {
		n = len > SPARSE_ZERO_CHUNK ? SPARSE_ZERO_CHUNK : (size_t)len;
		if ((rc = write_all(es->fd, es->zeros, n, off,
		    es->seekable)) != 0)
			return rc;
		off += n;
		len -= n;
	}
	return 0;
}

static int
extract_data(void *arg, uint64_t goff, const uint8_t *buf, size_t len)
{
	struct extract_state	*es = arg;
	int			 rc;

	if (goff >= es->vsize)
		return 0;
	if (len > es->vsize - goff)
		len = (size_t)(es->vsize - goff);
	if (es->seekable)
		return write_all(es->fd, buf, len, goff, true);
	/* A pipe takes bytes in order: what reaches back is dropped. */
	if (goff + len <= es->cursor)
		return 0;
	if (goff < es->cursor) {
		buf += es->cursor - goff;
		len -= (size_t)(es->cursor - goff);
		goff = es->cursor;
	}
	if (goff > es->cursor && (rc = write_zeros(es, es->cursor,
	    goff - es->cursor)) != 0)
		return rc;
	if ((rc = write_all(es->fd, buf, len, goff, false)) != 0)
		return rc;
	es->cursor = goff + len;
	return 0;
}

static int
extract_ext(void *arg, const struct sparse_ext *x)
{
	struct extract_state	*es = arg;
	uint64_t		 end;

	if (x->kind != SK_ZERO || !es->seekable || x->start >= es->old_size)
		return 0;
	end = x->start + x->len;
	if (end > es->old_size)
		end = es->old_size;
	return write_zeros(es, x->start, end - x->start);
}

int
sparse_extract(struct img *img, const char *what, int fd, struct report *rp)
{
	struct sparse		*sp = img->priv;
	struct sparse_walk_opts	 wo;
	struct extract_state	 es;
	struct stat		 st;
	int			 rc;

	if (what != NULL)
		return -IMG_ENOOP;
	if (sp->meta.json == NULL || !sp->meta.has_vsize) {
		img_set_error(img, "meta frame unusable");
		return -IMG_EINVAL;
	}
	memset(&es, 0, sizeof(es));
	es.fd = fd;
	es.vsize = sp->meta.virtual_size;
	if (fstat(fd, &st) != 0)
		return -errno;
	es.seekable = S_ISREG(st.st_mode) || S_ISBLK(st.st_mode);
	if ((es.zeros = calloc(1, SPARSE_ZERO_CHUNK)) == NULL)
		return -ENOMEM;
	if (S_ISREG(st.st_mode)) {
		es.old_size = (uint64_t)st.st_size;
		if (es.old_size < es.vsize && ftruncate(fd,
		    (off_t)es.vsize) != 0) {
			rc = -errno;
			goto out;
		}
	} else if (S_ISBLK(st.st_mode))
		es.old_size = es.vsize;
	memset(&wo, 0, sizeof(wo));
	wo.decode = true;
	wo.on_data = extract_data;
	wo.on_ext = extract_ext;
	wo.arg = &es;
	if ((rc = sparse_walk(img, rp, &wo, NULL)) != 0)
		goto out;
	if (!es.seekable && es.cursor < es.vsize)
		rc = write_zeros(&es, es.cursor, es.vsize - es.cursor);
out:
	free(es.zeros);
	return rc;
}
