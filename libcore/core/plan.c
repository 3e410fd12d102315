/* SPDX-License-Identifier: MIT */
/*
 * plan.c --- a repair as a list of changes: built first, shown, applied.
 *
 * A format that plans its repair records every change here instead of
 * writing: the host bytes it replaces, the new bytes and the finding it
 * fixes; a new file length is a change too.  The plan keeps its changes
 * as sorted, non-overlapping extents whose old bytes are always the
 * file's own, so a change made twice (a reserved bit cleared, then the
 * COPIED flag of the same entry) shows once, from the original bytes to
 * the final ones.
 *
 * Laid over the image (plan_attach), the plan is what every read sees:
 * the format can run its own check over the repaired image before a byte
 * is written, and build the next step of the repair on the last.  Only
 * plan_apply() writes, and only through img_pwrite() and img_truncate(),
 * so the undo file records everything a repair does.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "core/banned.h"

struct plan_ext {
	uint64_t	 off;
	uint64_t	 len;
	size_t		 cap;		/* bytes allocated in before, after */
	uint8_t		*before;
	uint8_t		*after;
	enum pr_id	 id;
};

struct plan {
	struct plan_ext		*x;
	size_t			 n;
	size_t			 cap;
	bool			 sized;		/* real_size is known */
	uint64_t		 real_size;	/* the file's own length */
	uint64_t		 size;		/* its planned length */
	enum pr_id		 resize_id;
	struct img		*att;		/* attached to */
	struct check_counts	 after;
	bool			 has_after;
	/* plan_get()'s view: rebuilt after every change. */
	struct plan_change	*view;
	size_t			 nview;
	bool			 stale;
};

struct plan *
plan_new(void)
{
	struct plan	*p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->resize_id = PR_COUNT;
	p->stale = true;
	return p;
}

static void
ext_free(struct plan_ext *e)
{
	free(e->before);
	free(e->after);
}

void
plan_clear(struct plan *p)
{
	size_t	i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++)
		ext_free(&p->x[i]);
	p->n = 0;
	p->size = p->real_size;
	if (p->att != NULL)
		p->att->size = p->size;
	p->resize_id = PR_COUNT;
	p->has_after = false;
	p->stale = true;
}

void
plan_free(struct plan *p)
{
	if (p == NULL)
		return;
	plan_clear(p);
	free(p->x);
	free(p->view);
	free(p);
}

/* The file length the plan starts from: the image's, at first use. */
static void
plan_size_init(struct plan *p, const struct img *img)
{
	if (p->sized)
		return;
	p->real_size = img->plan == p ? p->real_size : img->size;
	p->size = p->real_size;
	p->sized = true;
}

int
plan_pread_orig(struct plan *p, struct img *img, uint64_t off, void *buf,
    size_t len)
{
	uint64_t	n = 0;

	plan_size_init(p, img);
	if (off < p->real_size)
		n = p->real_size - off < len ? p->real_size - off : len;
	memset((uint8_t *)buf + n, 0, len - (size_t)n);
	return n > 0 ? fd_pread_full(img->fd, buf, (size_t)n, off) : 0;
}

/* Index of the first extent ending after off. */
static size_t
ext_find(const struct plan *p, uint64_t off)
{
	size_t	lo = 0, hi = p->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (p->x[mid].off + p->x[mid].len <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int
plan_pread(struct plan *p, struct img *img, uint64_t off, void *buf,
    size_t len)
{
	const struct plan_ext	*e;
	uint8_t			*b = buf;
	uint64_t		 end = off + len, s, t;
	size_t			 i;
	int			 rc;

	if ((rc = plan_pread_orig(p, img, off, buf, len)) != 0)
		return rc;
	for (i = ext_find(p, off); i < p->n; i++) {
		e = &p->x[i];
		if (e->off >= end)
			break;
		s = e->off > off ? e->off : off;
		t = e->off + e->len < end ? e->off + e->len : end;
		memcpy(b + (s - off), e->after + (s - e->off), (size_t)(t - s));
	}
	return 0;
}

/*
 * Merge extents [i, j) (all touching [off, off + len)) with the new bytes
 * into one extent at i.
 */
static int
ext_merge(struct plan *p, struct img *img, size_t i, size_t j, uint64_t off,
    const uint8_t *buf, size_t len, enum pr_id id)
{
	struct plan_ext	 m;
	uint64_t	 s = off, t = off + len;
	size_t		 k;
	int		 rc;

	if (i < j && p->x[i].off < s)
		s = p->x[i].off;
	if (i < j && p->x[j - 1].off + p->x[j - 1].len > t)
		t = p->x[j - 1].off + p->x[j - 1].len;
	if (t - s > SIZE_MAX / 2)
		return -IMG_ELIMIT;
	memset(&m, 0, sizeof(m));
	m.off = s;
	m.len = t - s;
	m.id = i < j ? p->x[i].id : id;
	m.cap = (size_t)m.len;
	if ((m.before = malloc((size_t)m.len)) == NULL ||
	    (m.after = malloc((size_t)m.len)) == NULL) {
		ext_free(&m);
		return -ENOMEM;
	}
	if ((rc = plan_pread_orig(p, img, s, m.before, (size_t)m.len)) != 0) {
		ext_free(&m);
		return rc;
	}
	memcpy(m.after, m.before, (size_t)m.len);
	for (k = i; k < j; k++) {
		memcpy(m.after + (p->x[k].off - s), p->x[k].after,
		    (size_t)p->x[k].len);
		ext_free(&p->x[k]);
	}
	memcpy(m.after + (off - s), buf, len);
	if (j == i) {
		/* A new extent: make room at i. */
		if (p->n == p->cap) {
			struct plan_ext	*nx;
			size_t		 cap = p->cap == 0 ? 64 : p->cap * 2;

			if ((nx = reallocarray(p->x, cap, sizeof(*nx))) ==
			    NULL) {
				ext_free(&m);
				return -ENOMEM;
			}
			p->x = nx;
			p->cap = cap;
		}
		memmove(&p->x[i + 1], &p->x[i], (p->n - i) * sizeof(*p->x));
		p->n++;
	} else if (j > i + 1) {
		memmove(&p->x[i + 1], &p->x[j], (p->n - j) * sizeof(*p->x));
		p->n -= j - i - 1;
	}
	p->x[i] = m;
	return 0;
}

/* Changes for one finding this close together are one change. */
#define PLAN_NEAR	16

/*
 * Extent e grows to end (> its end): the common case of a run of writes
 * in offset order, done in amortised time.
 */
static int
ext_grow(struct plan *p, struct img *img, struct plan_ext *e, uint64_t end)
{
	uint64_t	 old = e->len, nlen = end - e->off;
	uint8_t		*nb;
	size_t		 cap;
	int		 rc;

	if (nlen > SIZE_MAX / 2)
		return -IMG_ELIMIT;
	if (nlen > e->cap) {
		cap = e->cap * 2 > nlen ? e->cap * 2 : (size_t)nlen;
		if ((nb = realloc(e->before, cap)) == NULL)
			return -ENOMEM;
		e->before = nb;
		if ((nb = realloc(e->after, cap)) == NULL)
			return -ENOMEM;
		e->after = nb;
		e->cap = cap;
	}
	if ((rc = plan_pread_orig(p, img, e->off + old, e->before + old,
	    (size_t)(nlen - old))) != 0)
		return rc;
	memcpy(e->after + old, e->before + old, (size_t)(nlen - old));
	e->len = nlen;
	return 0;
}

int
plan_write(struct plan *p, struct img *img, uint64_t off, const void *buf,
    size_t len, enum pr_id id)
{
	uint64_t	end;
	size_t		i, j;
	int		rc;

	if (len == 0)
		return 0;
	if (!ck_add_u64(off, len, &end))
		return -IMG_ERANGE;
	plan_size_init(p, img);
	/*
	 * Extents overlapping the new bytes merge with them; so does one
	 * a few bytes before or after for the same finding (a run of
	 * refcounts, every other entry of a table): the plan stays short.
	 */
	i = ext_find(p, off);
	if (i > 0 && p->x[i - 1].off + p->x[i - 1].len + PLAN_NEAR >= off &&
	    p->x[i - 1].id == id)
		i--;
	for (j = i; j < p->n && (p->x[j].off < end || (p->x[j].off <= end +
	    PLAN_NEAR && p->x[j].id == id)); j++)
		;
	if (i < j && j == i + 1 && p->x[i].off <= off) {
		/* One extent, from its start on: grow it, write in place. */
		if (p->x[i].off + p->x[i].len < end &&
		    (rc = ext_grow(p, img, &p->x[i], end)) != 0)
			return rc;
		memcpy(p->x[i].after + (off - p->x[i].off), buf, len);
	} else if ((rc = ext_merge(p, img, i, j, off, buf, len, id)) != 0)
		return rc;
	if (end > p->size) {
		p->size = end;
		if (p->resize_id == PR_COUNT)
			p->resize_id = id;
	}
	if (p->att != NULL)
		p->att->size = p->size;
	p->stale = true;
	return 0;
}

int
plan_resize(struct plan *p, struct img *img, uint64_t len, enum pr_id id)
{
	plan_size_init(p, img);
	/* Planned bytes past a shorter end would be lost: refuse. */
	if (p->n > 0 && len < p->x[p->n - 1].off + p->x[p->n - 1].len)
		return -EINVAL;
	p->size = len;
	p->resize_id = len == p->real_size ? PR_COUNT : id;
	if (p->att != NULL)
		p->att->size = p->size;
	p->stale = true;
	return 0;
}

void
plan_set_after(struct plan *p, const struct check_counts *c)
{
	if (c == NULL) {
		p->has_after = false;
		return;
	}
	p->after = *c;
	p->has_after = true;
}

const struct check_counts *
plan_after(const struct plan *p)
{
	return p != NULL && p->has_after ? &p->after : NULL;
}

void
plan_attach(struct img *img, struct plan *p)
{
	plan_size_init(p, img);
	p->att = img;
	img->plan = p;
	img->size = p->size;
}

void
plan_detach(struct img *img)
{
	struct plan	*p = img->plan;

	if (p == NULL)
		return;
	img->size = p->real_size;
	img->plan = NULL;
	p->att = NULL;
}

/* Does extent e change anything?  (Merges may undo a change.) */
static bool
ext_changes(const struct plan_ext *e)
{
	return memcmp(e->before, e->after, (size_t)e->len) != 0;
}

/* Rebuild plan_get()'s view: the resize, then the writes that change. */
static int
plan_view(struct plan *p)
{
	struct plan_change	*v;
	size_t			 i, n = 0;

	if (!p->stale)
		return 0;
	free(p->view);
	p->view = NULL;
	p->nview = 0;
	if ((v = calloc(p->n + 1, sizeof(*v))) == NULL)
		return -ENOMEM;
	if (p->sized && p->size != p->real_size) {
		v[n].kind = PLAN_RESIZE;
		v[n].shrink = p->size < p->real_size;
		v[n].off = p->real_size;
		v[n].len = v[n].shrink ? p->real_size - p->size :
		    p->size - p->real_size;
		v[n].id = p->resize_id;
		n++;
	}
	for (i = 0; i < p->n; i++) {
		if (!ext_changes(&p->x[i]))
			continue;
		v[n].kind = PLAN_WRITE;
		v[n].off = p->x[i].off;
		v[n].len = p->x[i].len;
		v[n].before = p->x[i].before;
		v[n].after = p->x[i].after;
		v[n].id = p->x[i].id;
		n++;
	}
	p->view = v;
	p->nview = n;
	p->stale = false;
	return 0;
}

size_t
plan_count(const struct plan *p)
{
	if (p == NULL || plan_view((struct plan *)p) != 0)
		return 0;
	return p->nview;
}

const struct plan_change *
plan_get(const struct plan *p, size_t i)
{
	if (p == NULL || plan_view((struct plan *)p) != 0 || i >= p->nview)
		return NULL;
	return &p->view[i];
}

uint64_t
plan_size_before(const struct plan *p)
{
	return p->real_size;
}

uint64_t
plan_size_after(const struct plan *p)
{
	return p->sized ? p->size : p->real_size;
}

/*
 * Changes this close together are written as one (the bytes between
 * them as they are): every write costs the undo file a synced record.
 */
#define PLAN_GAP	512
#define PLAN_RUN_MAX	(64u << 20)

int
plan_apply(struct img *img, struct plan *p, const struct report *rp)
{
	const struct plan_ext	*e;
	uint8_t			*buf = NULL;
	uint64_t		 start, end;
	size_t			 i, j, k;
	int			 rc = 0;

	if (rp->dry_run || p == NULL || !p->sized)
		return 0;
	if (img->plan != NULL)
		return -EBUSY;
	if (img->size != p->real_size)
		return -ESTALE;
	/*
	 * An interrupt stops us before the first write or not at all: the
	 * plan is one update, the header naming what the rest wrote.
	 */
	if (img_interrupted())
		return -EINTR;
	/* Grow first: new clusters are written before anything names them. */
	if (p->size > img->size && (rc = img_truncate(img, p->size)) != 0)
		return rc;
	/* Then from the end of the file back, in runs: the header last. */
	for (i = p->n; i-- > 0;) {
		e = &p->x[i];
		if (!ext_changes(e))	/* past the old end: zeros already */
			continue;
		end = e->off + e->len;
		for (j = i; j > 0 && p->x[j].off - (p->x[j - 1].off +
		    p->x[j - 1].len) <= PLAN_GAP && end - p->x[j - 1].off <=
		    PLAN_RUN_MAX; j--)
			;
		start = p->x[j].off;
		free(buf);
		if ((buf = malloc((size_t)(end - start))) == NULL) {
			rc = -ENOMEM;
			break;
		}
		/* The bytes between the changes, as the file has them. */
		if ((rc = img_pread_zf(img, start, buf, (size_t)(end - start),
		    NULL)) != 0)
			break;
		for (k = j; k <= i; k++)
			memcpy(buf + (p->x[k].off - start), p->x[k].after,
			    (size_t)p->x[k].len);
		if ((rc = img_pwrite(img, start, buf, (size_t)(end -
		    start))) != 0)
			break;
		i = j;
	}
	free(buf);
	if (rc == 0 && p->size < img->size)
		rc = img_truncate(img, p->size);
	if (rc == 0 && fdatasync(img->fd) != 0)
		rc = -errno;
	return rc;
}
