/* SPDX-License-Identifier: MIT */
/*
 * chain.c --- the guest map through a backing chain, as qemu-img map.
 *
 * Each format maps its own layer (fmt_ops.map); a run it leaves
 * unallocated (not present, not zero, no data) is read from the backing
 * file, one depth down, the way QEMU's get_block_status() descends: past
 * the end of the backing file, or without one, it reads as zeros at the
 * depth where it was found.  Backing files are opened on first need,
 * relative to the image that names them, with the format its header gives
 * or the one probing finds.
 *
 * The top layer is streamed; each deeper layer is mapped in windows of at
 * most CHAIN_WIN_RUNS runs and CHAIN_WIN_BYTES guest bytes, so every
 * table is read once however the layers above interleave, and memory
 * stays bounded whatever the image.
 */
#include <sys/stat.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/banned.h"

#define CHAIN_MAX_DEPTH		64
#define CHAIN_WIN_RUNS		65536
#define CHAIN_WIN_BYTES		(1ULL << 30)
#define CHAIN_NAME_MAX		4096

void
img_map_opts_init(struct img_map_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->length = UINT64_MAX;
}

uint64_t
img_virtual_size(const struct img *img)
{
	if (img->ops == NULL || img->ops->vsize == NULL)
		return 0;
	return img->ops->vsize((struct img *)img);
}

/* qemu's path_combine(): name relative to the folder of base. */
static char *
backing_path(const char *base, const char *name)
{
	const char	*slash;
	char		*p;
	size_t		 dl;

	slash = strrchr(base, '/');
	if (name[0] == '/' || slash == NULL)
		return strdup(name);
	dl = (size_t)(slash - base) + 1;
	if ((p = malloc(dl + strlen(name) + 1)) == NULL)
		return NULL;
	memcpy(p, base, dl);
	memcpy(p + dl, name, strlen(name) + 1);
	return p;
}

/* Is path one of the images above (a loop in the chain)? */
static bool
chain_loops(struct img *top, struct img *b)
{
	struct stat	sa, sb;
	struct img	*i;

	if (fstat(b->fd, &sb) != 0)
		return false;
	for (i = top; i != NULL && i != b; i = i->backing)
		if (fstat(i->fd, &sa) == 0 && sa.st_dev == sb.st_dev &&
		    sa.st_ino == sb.st_ino)
			return true;
	return false;
}

/*
 * Open img's backing file into img->backing (once).  0 with no backing
 * file; an error, with img's message saying which file, if it cannot be
 * opened.
 */
static int
backing_open(struct img *top, struct img *img)
{
	struct img_opts	 o;
	char		 name[CHAIN_NAME_MAX], fmt[64], err[IMG_ERRMSG_MAX];
	char		*path;
	int		 rc;

	if (img->backing != NULL || img->ops->backing == NULL)
		return 0;
	if ((rc = img->ops->backing(img, name, sizeof(name), fmt,
	    sizeof(fmt))) <= 0)
		return rc;
	if (img->depth + 1 >= CHAIN_MAX_DEPTH) {
		img_set_error(top, "backing chain deeper than %d images",
		    CHAIN_MAX_DEPTH);
		return -IMG_ELIMIT;
	}
	if ((path = backing_path(img->path, name)) == NULL)
		return -ENOMEM;
	memset(&o, 0, sizeof(o));
	o.format = fmt[0] != '\0' ? fmt : NULL;
	o.flags = img->flags & IMG_NOLOCK;
	rc = img_open(path, &o, &img->backing, err, sizeof(err));
	if (rc != 0) {
		img_set_error(top, "Could not open backing file: Could not "
		    "open '%s': %s", path, err);
		free(path);
		return rc;
	}
	free(path);
	img->backing->depth = img->depth + 1;
	if (chain_loops(top, img->backing)) {
		img_close(img->backing);
		img->backing = NULL;
		img_set_error(top, "backing chain loops back to an image "
		    "above it");
		return -IMG_EINVAL;
	}
	return 0;
}

/* A window of one layer's runs. */
struct lwin {
	struct img	*img;
	struct map_ext	*r;
	size_t		 n, i;
	uint64_t	 from;		/* refill asked from here */
	uint64_t	 end;		/* runs cover [from, end) */
};

struct chain {
	struct img		*top;
	const struct img_map_opts *o;
	struct map_merge	 out;
	struct lwin		 w[CHAIN_MAX_DEPTH];
	uint64_t		 s, e;		/* the range asked for */
};

static int	layer_range(struct chain *c, struct img *img, uint64_t s,
		    uint64_t e);

static int
emit(struct chain *c, struct img *img, struct map_ext *x)
{
	x->depth = img->depth;
	if (x->has_offset && x->file == NULL)
		x->file = img->path;
	return map_merge_add(&c->out, x);
}

/* One run of img's own map, clipped; resolve it through the chain. */
static int
resolve(struct chain *c, struct img *img, const struct map_ext *run)
{
	struct map_ext	 x = *run;
	struct img	*b = NULL;
	uint64_t	 bsize = 0, end, mid;
	int		 rc;

	if (x.present || x.zero || x.data || x.damage != 0)
		return emit(c, img, &x);
	if (!c->o->no_backing) {
		if ((rc = backing_open(c->top, img)) != 0)
			return rc;
		b = img->backing;
	}
	if (b != NULL)
		bsize = img_virtual_size(b);
	if (b == NULL || x.start >= bsize) {
		x.zero = true;
		return emit(c, img, &x);
	}
	end = x.start + x.length;
	mid = end < bsize ? end : bsize;
	if ((rc = layer_range(c, b, x.start, mid)) != 0)
		return rc;
	if (mid < end) {
		x.start = mid;
		x.length = end - mid;
		x.zero = true;
		return emit(c, img, &x);
	}
	return 0;
}

static int
lwin_add(void *arg, const struct map_ext *e)
{
	struct lwin	*w = arg;
	struct map_ext	 x = *e;
	uint64_t	 cut;

	if (x.start + x.length <= w->from)
		return 0;
	if (x.start < w->from) {
		cut = w->from - x.start;
		x.start += cut;
		x.length -= cut;
		if (x.has_offset)
			x.offset += cut;
	}
	if (w->n > 0 && x.start != w->end)
		return -IMG_ECHECK;	/* a format left a gap */
	if (w->n == CHAIN_WIN_RUNS)
		return MAP_STOP;
	w->r[w->n++] = x;
	w->end = x.start + x.length;
	return w->end >= w->from + CHAIN_WIN_BYTES ? MAP_STOP : 0;
}

/* Map a window of w->img from off. */
static int
lwin_fill(struct chain *c, struct lwin *w, uint64_t off, uint64_t e)
{
	struct map_req	rq;
	int		rc;

	if (w->r == NULL && (w->r = calloc(CHAIN_WIN_RUNS,
	    sizeof(*w->r))) == NULL)
		return -ENOMEM;
	w->n = w->i = 0;
	w->from = w->end = off;
	rq.start = off;
	rq.end = e - off > CHAIN_WIN_BYTES ? off + CHAIN_WIN_BYTES : e;
	rq.force = c->o->force;
	rc = w->img->ops->map(w->img, &rq, lwin_add, w);
	if (rc == MAP_STOP)
		rc = 0;
	if (rc == 0 && (w->n == 0 || w->r[0].start != off))
		rc = -IMG_ECHECK;
	if (rc == -IMG_ECHECK && img_error(w->img) == NULL)
		img_set_error(w->img, "the map of '%s' does not cover guest "
		    "offset %llu", w->img->path, (unsigned long long)off);
	if (rc != 0 && img_error(w->img) != NULL && w->img != c->top)
		img_set_error(c->top, "%s", img_error(w->img));
	return rc;
}

/* Resolve [s, e) of img (a backing layer) through its windows. */
static int
layer_range(struct chain *c, struct img *img, uint64_t s, uint64_t e)
{
	struct lwin	*w = &c->w[img->depth];
	struct map_ext	 x;
	uint64_t	 off = s, cut, xe;
	int		 rc;

	w->img = img;
	while (off < e) {
		if (img_interrupted())
			return -EINTR;
		if (off < w->from || off >= w->end) {
			if ((rc = lwin_fill(c, w, off, img_virtual_size(img))) !=
			    0)
				return rc;
		}
		while (w->i < w->n && w->r[w->i].start + w->r[w->i].length <=
		    off)
			w->i++;
		if (w->i == w->n)
			continue;	/* off >= end: refill */
		x = w->r[w->i];
		cut = off - x.start;
		x.start = off;
		x.length -= cut;
		if (x.has_offset)
			x.offset += cut;
		xe = x.start + x.length;
		if (xe > e)
			x.length = e - x.start;
		if ((rc = resolve(c, img, &x)) != 0)
			return rc;
		off = x.start + x.length;
	}
	return 0;
}

/* The top layer, streamed. */
static int
top_add(void *arg, const struct map_ext *e)
{
	struct chain	*c = arg;
	struct map_ext	 x = *e;
	uint64_t	 cut;

	if (x.start + x.length <= c->s || x.start >= c->e)
		return 0;
	if (x.start < c->s) {
		cut = c->s - x.start;
		x.start += cut;
		x.length -= cut;
		if (x.has_offset)
			x.offset += cut;
	}
	if (x.start + x.length > c->e)
		x.length = c->e - x.start;
	if (img_interrupted())
		return -EINTR;
	return resolve(c, c->top, &x);
}

int
img_map_ex(struct img *img, const struct img_map_opts *o, map_fn *fn,
    void *arg)
{
	struct chain	*c;
	struct map_req	 rq;
	uint64_t	 vs;
	size_t		 i;
	int		 rc;

	if ((rc = img_recognised(img)) != 0)
		return rc;
	if (img->ops->map == NULL)
		return -IMG_ENOOP;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -ENOMEM;
	c->top = img;
	c->o = o;
	map_merge_init(&c->out, fn, arg);
	vs = img->ops->vsize != NULL ? img_virtual_size(img) : UINT64_MAX;
	c->s = o->start < vs ? o->start : vs;
	c->e = o->length < vs - c->s ? c->s + o->length : vs;
	rc = 0;
	if (c->s < c->e) {
		rq.start = c->s;
		rq.end = c->e;
		rq.force = o->force;
		rc = img->ops->map(img, &rq, top_add, c);
	}
	if (rc == 0)
		rc = map_merge_end(&c->out);
	else
		map_merge_free(&c->out);
	for (i = 0; i < CHAIN_MAX_DEPTH; i++)
		free(c->w[i].r);
	free(c);
	return rc;
}

int
img_map(struct img *img, map_fn *fn, void *arg)
{
	struct img_map_opts	o;

	img_map_opts_init(&o);
	return img_map_ex(img, &o, fn, arg);
}
