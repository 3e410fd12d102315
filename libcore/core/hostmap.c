/* SPDX-License-Identifier: MIT */
/*
 * hostmap.c --- tile the image file with the claims of its structures.
 *
 * A format's hostmap operation names the host bytes each of its
 * structures occupies through hm_add(), in any order; claims may overlap
 * (two tables pointing at one cluster) or run past the end of the file.
 * We keep the claims in one growable array, merging a claim into the one
 * before it when they touch and agree on class, owner and code, so that a
 * walk that emits a claim per cluster stays the size of the image's
 * fragmentation, not of the image.
 *
 * img_hostmap() then sorts the claims and sweeps the file from 0 to its
 * length with a heap of the claims that cover the sweep position.  Each
 * stretch between two claim boundaries takes the class and owner of its
 * claims when they all agree, "shared" with every owner when they do not,
 * and "free" when nobody claims it.  Stretches past the end of the file
 * come last, as "past-end".  Neighbouring stretches that look the same
 * are merged before the caller sees them, so the runs handed over tile
 * [0, file size) exactly, in order.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "core/banned.h"

/* Most claims we keep (40 bytes each): 32 Mi, about 1.3 GiB. */
#define HM_MAX_CLAIMS		(1u << 25)
/* Most distinct owner strings, and the longest we keep. */
#define HM_MAX_OWNERS		(1u << 24)
#define HM_OWNER_MAX		1024
/* Bytes read at a time by hostmap_extract_leaked(). */
#define HM_EXTRACT_CHUNK	(256u * 1024)

struct hm_claim {
	uint64_t	 off;
	uint64_t	 end;		/* off < end */
	const char	*cls;		/* static */
	const char	*owner;		/* interned, or NULL */
	uint32_t	 code;
};

struct hmap_sink {
	struct hm_claim	*c;
	size_t		 n;
	size_t		 cap;
	char		**strs;		/* open-addressed set of owners */
	size_t		 nstrs;
	size_t		 capstrs;	/* a power of two, or 0 */
};

static uint64_t
hm_hash(const char *s)
{
	uint64_t	h = 1469598103934665603ULL;	/* FNV-1a */

	while (*s != '\0') {
		h ^= (uint8_t)*s++;
		h *= 1099511628211ULL;
	}
	return h;
}

static int
hm_strs_grow(struct hmap_sink *hs)
{
	char	**n;
	size_t	  cap = hs->capstrs == 0 ? 256 : hs->capstrs * 2, i, j;

	if ((n = calloc(cap, sizeof(*n))) == NULL)
		return -ENOMEM;
	for (i = 0; i < hs->capstrs; i++) {
		if (hs->strs[i] == NULL)
			continue;
		j = (size_t)hm_hash(hs->strs[i]) & (cap - 1);
		while (n[j] != NULL)
			j = (j + 1) & (cap - 1);
		n[j] = hs->strs[i];
	}
	free(hs->strs);
	hs->strs = n;
	hs->capstrs = cap;
	return 0;
}

/* The sink's copy of s (one per distinct string), in *out. */
static int
hm_intern(struct hmap_sink *hs, const char *s, const char **out)
{
	size_t	j, l;
	char	*p;
	int	rc;

	if (hs->nstrs >= HM_MAX_OWNERS)
		return -IMG_ELIMIT;
	if ((hs->nstrs + 1) * 2 > hs->capstrs &&
	    (rc = hm_strs_grow(hs)) != 0)
		return rc;
	j = (size_t)hm_hash(s) & (hs->capstrs - 1);
	while (hs->strs[j] != NULL) {
		if (strcmp(hs->strs[j], s) == 0) {
			*out = hs->strs[j];
			return 0;
		}
		j = (j + 1) & (hs->capstrs - 1);
	}
	l = strlen(s) + 1;
	if ((p = malloc(l)) == NULL)
		return -ENOMEM;
	memcpy(p, s, l);
	hs->strs[j] = p;
	hs->nstrs++;
	*out = p;
	return 0;
}

static bool
hm_same_str(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return a == b || strcmp(a, b) == 0;
}

int
hm_add(struct hmap_sink *hs, uint64_t off, uint64_t len, const char *cls,
    const char *owner, uint32_t code)
{
	struct hm_claim	*c, *prev;
	char		 obuf[HM_OWNER_MAX];
	uint64_t	 end;
	size_t		 cap;
	int		 rc;

	if (cls == NULL)
		return -EINVAL;
	if (len == 0)
		return 0;
	/* A claim cannot reach past the last byte offset we can name. */
	if (!ck_add_u64(off, len, &end))
		end = UINT64_MAX;
	if (owner != NULL && strlen(owner) >= sizeof(obuf)) {
		memcpy(obuf, owner, sizeof(obuf) - 1);
		obuf[sizeof(obuf) - 1] = '\0';
		owner = obuf;
	}
	if (hs->n > 0) {
		prev = &hs->c[hs->n - 1];
		if (prev->end == off && prev->code == code &&
		    hm_same_str(prev->cls, cls) &&
		    hm_same_str(prev->owner, owner)) {
			prev->end = end;
			return 0;
		}
	}
	if (hs->n == hs->cap) {
		if (hs->cap >= HM_MAX_CLAIMS)
			return -IMG_ELIMIT;
		cap = hs->cap == 0 ? 1024 : hs->cap * 2;
		if ((c = reallocarray(hs->c, cap, sizeof(*c))) == NULL)
			return -ENOMEM;
		hs->c = c;
		hs->cap = cap;
	}
	c = &hs->c[hs->n];
	c->off = off;
	c->end = end;
	c->cls = cls;
	c->code = code;
	c->owner = NULL;
	if (owner != NULL && (rc = hm_intern(hs, owner, &c->owner)) != 0)
		return rc;
	hs->n++;
	return 0;
}

static void
hm_sink_release(struct hmap_sink *hs)
{
	size_t	i;

	for (i = 0; i < hs->capstrs; i++)
		free(hs->strs[i]);
	free(hs->strs);
	free(hs->c);
	memset(hs, 0, sizeof(*hs));
}

static int
hm_claim_cmp(const void *a, const void *b)
{
	const struct hm_claim	*x = a, *y = b;

	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return 0;
}

/* ---- the sweep ---------------------------------------------------------- */

struct hm_sweep {
	struct hmap_sink	*hs;
	uint64_t		 size;
	size_t			*heap;		/* active claims, by end */
	size_t			 nheap;
	const struct hm_claim	**keys;		/* scratch, nheap long */
	hmap_fn			*fn;
	void			*arg;
	struct hmap_run		 cur;		/* the run not yet handed */
	bool			 have;
};

static void
heap_push(struct hm_sweep *w, size_t ci)
{
	const struct hm_claim	*c = w->hs->c;
	size_t			 i = w->nheap++, p;

	w->heap[i] = ci;
	while (i > 0) {
		p = (i - 1) / 2;
		if (c[w->heap[p]].end <= c[w->heap[i]].end)
			break;
		ci = w->heap[p];
		w->heap[p] = w->heap[i];
		w->heap[i] = ci;
		i = p;
	}
}

static void
heap_pop(struct hm_sweep *w)
{
	const struct hm_claim	*c = w->hs->c;
	size_t			 i = 0, l, m, t;

	w->heap[0] = w->heap[--w->nheap];
	for (;;) {
		l = 2 * i + 1;
		m = i;
		if (l < w->nheap && c[w->heap[l]].end < c[w->heap[m]].end)
			m = l;
		if (l + 1 < w->nheap &&
		    c[w->heap[l + 1]].end < c[w->heap[m]].end)
			m = l + 1;
		if (m == i)
			break;
		t = w->heap[m];
		w->heap[m] = w->heap[i];
		w->heap[i] = t;
		i = m;
	}
}

static int
cmp_str(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == NULL ? (b == NULL ? 0 : -1) : 1;
	return strcmp(a, b);
}

/* Order claims by the label they show as an owner, then by class. */
static const char *
claim_label(const struct hm_claim *c)
{
	return c->owner != NULL ? c->owner : c->cls;
}

static int
key_cmp(const void *a, const void *b)
{
	const struct hm_claim	*x = *(const struct hm_claim *const *)a;
	const struct hm_claim	*y = *(const struct hm_claim *const *)b;
	int			 r;

	if ((r = cmp_str(claim_label(x), claim_label(y))) != 0)
		return r;
	if ((r = cmp_str(x->cls, y->cls)) != 0)
		return r;
	return cmp_str(x->owner, y->owner);
}

static void
run_add_code(struct hmap_run *r, uint32_t code)
{
	size_t	i, j;

	if (code == 0)
		return;
	for (i = 0; i < r->ncodes && r->codes[i] < code; i++)
		;
	if (i < r->ncodes && r->codes[i] == code)
		return;
	if (r->ncodes == HMAP_MAX_OWNERS) {
		if (i == r->ncodes)
			return;		/* keep the lowest codes */
		r->ncodes--;
	}
	for (j = r->ncodes; j > i; j--)
		r->codes[j] = r->codes[j - 1];
	r->codes[i] = code;
	r->ncodes++;
}

static bool
run_same(const struct hmap_run *a, const struct hmap_run *b)
{
	size_t	i, n;

	if (a->offset + a->length != b->offset ||
	    strcmp(a->cls, b->cls) != 0 || a->nowners != b->nowners ||
	    a->ncodes != b->ncodes)
		return false;
	n = a->nowners < HMAP_MAX_OWNERS ? a->nowners : HMAP_MAX_OWNERS;
	for (i = 0; i < n; i++)
		if (!hm_same_str(a->owners[i], b->owners[i]))
			return false;
	for (i = 0; i < a->ncodes; i++)
		if (a->codes[i] != b->codes[i])
			return false;
	return true;
}

static int
sweep_emit(struct hm_sweep *w, const struct hmap_run *r)
{
	int	rc;

	if (r->length == 0)
		return 0;
	if (w->have && run_same(&w->cur, r)) {
		w->cur.length += r->length;
		return 0;
	}
	if (w->have && (rc = w->fn(w->arg, &w->cur)) != 0)
		return rc;
	w->cur = *r;
	w->have = true;
	return 0;
}

/*
 * Hand over [off, end) as the active claims describe it: their class and
 * owner when all agree, "shared" otherwise, "past-end" beyond the file.
 */
static int
sweep_segment(struct hm_sweep *w, uint64_t off, uint64_t end)
{
	struct hmap_run		 r;
	const struct hm_claim	*k;
	size_t			 i, nk = w->nheap, ndist;

	memset(&r, 0, sizeof(r));
	r.offset = off;
	r.length = end - off;
	if (nk == 0) {
		r.cls = "free";
		return sweep_emit(w, &r);
	}
	for (i = 0; i < nk; i++) {
		w->keys[i] = &w->hs->c[w->heap[i]];
		run_add_code(&r, w->keys[i]->code);
	}
	if (nk > 1)
		qsort(w->keys, nk, sizeof(*w->keys), key_cmp);
	/* Distinct (class, owner) pairs, and distinct owner labels. */
	ndist = 1;
	for (i = 1; i < nk; i++)
		if (!hm_same_str(w->keys[i]->cls, w->keys[i - 1]->cls) ||
		    !hm_same_str(w->keys[i]->owner, w->keys[i - 1]->owner))
			ndist++;
	k = w->keys[0];
	if (off >= w->size)
		r.cls = "past-end";
	else if (ndist == 1)
		r.cls = k->cls;
	else
		r.cls = "shared";
	if (ndist == 1 && off < w->size) {
		if (k->owner != NULL) {
			r.owners[0] = k->owner;
			r.nowners = 1;
		}
		return sweep_emit(w, &r);
	}
	for (i = 0; i < nk; i++) {
		if (i > 0 && hm_same_str(claim_label(w->keys[i]),
		    claim_label(w->keys[i - 1])))
			continue;
		if (r.nowners < HMAP_MAX_OWNERS)
			r.owners[r.nowners] = claim_label(w->keys[i]);
		r.nowners++;
	}
	return sweep_emit(w, &r);
}

/*
 * The sweep never steps over a claim's start (the next boundary is the
 * nearer of the next start and the first end in the heap), so every claim
 * is pushed exactly at its start and a gap can only open while the heap
 * is empty.
 */
static int
sweep_run(struct hm_sweep *w)
{
	const struct hm_claim	*c = w->hs->c;
	size_t			 i = 0, n = w->hs->n;
	uint64_t		 pos = 0, next, steps = 0;
	struct hmap_run		 r;
	int			 rc;

	for (;;) {
		while (w->nheap > 0 && c[w->heap[0]].end <= pos)
			heap_pop(w);
		if (w->nheap == 0) {
			if (i == n)
				break;
			if (pos < c[i].off) {
				next = c[i].off;
				if (pos < w->size && (rc = sweep_segment(w,
				    pos, next < w->size ? next : w->size)) != 0)
					return rc;
				pos = next;
			}
		}
		while (i < n && c[i].off <= pos)
			heap_push(w, i++);
		next = c[w->heap[0]].end;
		if (i < n && c[i].off < next)
			next = c[i].off;
		/* The file's end is a boundary too. */
		if (pos < w->size && next > w->size)
			next = w->size;
		if ((rc = sweep_segment(w, pos, next)) != 0)
			return rc;
		pos = next;
		if ((++steps & 0xffff) == 0 && img_interrupted())
			return -EINTR;
	}
	if (pos < w->size) {
		memset(&r, 0, sizeof(r));
		r.offset = pos;
		r.length = w->size - pos;
		r.cls = "free";
		if ((rc = sweep_emit(w, &r)) != 0)
			return rc;
	}
	if (w->have) {
		w->have = false;
		return w->fn(w->arg, &w->cur);
	}
	return 0;
}

int
img_hostmap(struct img *img, hmap_fn *fn, void *arg)
{
	struct hmap_sink	hs;
	struct hm_sweep		w;
	int			rc;

	if ((rc = img_recognised(img)) != 0)
		return rc;
	if (img->ops->hostmap == NULL)
		return -IMG_ENOOP;
	memset(&hs, 0, sizeof(hs));
	memset(&w, 0, sizeof(w));
	if ((rc = img->ops->hostmap(img, &hs)) != 0)
		goto out;
	if (hs.n > 0)
		qsort(hs.c, hs.n, sizeof(*hs.c), hm_claim_cmp);
	w.hs = &hs;
	w.size = img_file_size(img);
	w.fn = fn;
	w.arg = arg;
	if (hs.n > 0 && ((w.heap = calloc(hs.n, sizeof(*w.heap))) == NULL ||
	    (w.keys = calloc(hs.n, sizeof(*w.keys))) == NULL)) {
		rc = -ENOMEM;
		goto out;
	}
	rc = sweep_run(&w);
out:
	free(w.keys);
	free(w.heap);
	hm_sink_release(&hs);
	return rc;
}

/* ---- leaked and deleted bytes -------------------------------------------- */

struct hm_extract {
	struct img	*img;
	int		 fd;
	uint8_t		*buf;
};

static bool
all_zero(const uint8_t *p, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if (p[i] != 0)
			return false;
	return true;
}

static int
extract_run(void *arg, const struct hmap_run *r)
{
	struct hm_extract	*x = arg;
	uint64_t		 off, end;
	size_t			 n;
	bool			 leaked;
	int			 rc;

	leaked = strcmp(r->cls, "leaked") == 0;
	if (!leaked && strcmp(r->cls, "free") != 0)
		return 0;
	end = r->offset + r->length;
	if (end > x->img->size)
		end = x->img->size;
	for (off = r->offset; off < end; off += n) {
		n = end - off < HM_EXTRACT_CHUNK ? (size_t)(end - off) :
		    HM_EXTRACT_CHUNK;
		if ((rc = img_pread(x->img, off, x->buf, n)) != 0)
			return rc;
		/* Zero chunks stay holes: the output reads the same. */
		if (all_zero(x->buf, n))
			continue;
		if ((rc = fd_pwrite_full(x->fd, x->buf, n, off)) != 0)
			return rc;
		if (img_interrupted())
			return -EINTR;
	}
	return 0;
}

int
hostmap_extract_leaked(struct img *img, int fd, struct report *rp)
{
	struct hm_extract	x;
	struct stat		st;
	int			rc;

	(void)rp;
	if (fstat(fd, &st) != 0)
		return -errno;
	if (!S_ISREG(st.st_mode)) {
		img_set_error(img, "leaked bytes are written at their own "
		    "offsets: the output must be a regular file (-o FILE)");
		return -EINVAL;
	}
	x.img = img;
	x.fd = fd;
	if ((x.buf = malloc(HM_EXTRACT_CHUNK)) == NULL)
		return -ENOMEM;
	if ((rc = img_hostmap(img, extract_run, &x)) != 0)
		goto out;
	if (ftruncate(fd, (off_t)img->size) != 0)
		rc = -errno;
out:
	free(x.buf);
	return rc;
}

static int
find_cmp(const void *a, const void *b)
{
	const struct hm_find	*x = a, *y = b;

	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	return 0;
}

/* The findings that name host bytes, sorted by offset. */
int
hm_findings(const struct report *rp, struct hm_find **out, size_t *nout)
{
	struct hm_find		*f;
	const struct finding	*x;
	const struct pr_info	*pi;
	size_t			 i, n = 0;

	*out = NULL;
	*nout = 0;
	if (rp->nf == 0)
		return 0;
	if ((f = calloc(rp->nf, sizeof(*f))) == NULL)
		return -ENOMEM;
	for (i = 0; i < rp->nf; i++) {
		x = &rp->f[i];
		if (!(x->flags & PC_HOST) || (pi = pr_info_get(x->id)) == NULL)
			continue;
		f[n].off = x->host_off;
		/* A finding at a point meets the byte there. */
		if (!ck_add_u64(x->host_off, x->host_len > 0 ? x->host_len : 1,
		    &f[n].end))
			f[n].end = UINT64_MAX;
		f[n].code = pi->code;
		n++;
	}
	qsort(f, n, sizeof(*f), find_cmp);
	*out = f;
	*nout = n;
	return 0;
}
