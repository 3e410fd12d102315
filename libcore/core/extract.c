/* SPDX-License-Identifier: MIT */
/*
 * extract.c --- the guest disk, or a named object, written to a file.
 *
 * For formats with a read operation (qcow2, QED, raw) the guest disk is
 * the map through the backing chain (img_map_ex()), walked in guest
 * order: a data run is read from the layer that holds it (run->depth
 * images down) through that layer's read operation, in chunks of one
 * reused buffer, and written at its guest offset; a zero run is left as
 * a hole in a regular file (which is extended to the disk size at the
 * end) and written as zeros anywhere else.  Bytes the output already had
 * are overwritten with zeros rather than skipped, so an image laid over
 * another (a chain extracted onto one output) leaves nothing behind.  A
 * range the map could only give through damage (force) is reported as
 * a finding with the damage's problem code and written as zeros.
 *
 * Formats without read (sparse streams, archives) extract themselves;
 * "leaked" on a format without named objects is the host map's business.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "core/banned.h"

#define EXTRACT_BUF		(4u << 20)
#define EXTRACT_PROGRESS_MAX	(UINT64_C(64) << 20)

enum ex_mode {
	EX_SPARSE,		/* regular file: holes where it was empty */
	EX_SEEK,		/* block device: every byte written */
	EX_STREAM		/* pipe, terminal, socket: in order */
};

struct ex {
	struct img			*top;
	struct report			*rp;
	const struct img_extract_opts	*o;
	int				 fd;
	enum ex_mode			 mode;
	uint64_t			 old;	/* the output's length before */
	uint64_t			 done;	/* guest bytes written */
	uint64_t			 total;	/* the disk size */
	uint64_t			 step;	/* progress every step bytes */
	uint64_t			 next;
	uint8_t				*buf;
	bool				 zeroed; /* buf holds zeros */
};

static void
ex_progress(struct ex *x)
{
	if (x->o->progress == NULL || x->done < x->next)
		return;
	x->o->progress(x->o->parg, x->done, x->total);
	x->next = x->done + x->step;
}

static int
ex_write(struct ex *x, uint64_t off, const void *buf, size_t len)
{
	if (x->mode == EX_STREAM)
		return fd_write_full(x->fd, buf, len);
	return fd_pwrite_full(x->fd, buf, len, off);
}

/* Guest bytes [off, off + len) are zeros. */
static int
ex_zeros(struct ex *x, uint64_t off, uint64_t len)
{
	uint64_t	end = off + len;
	size_t		n;
	int		rc;

	/* A regular file reads zeros in a hole: only old bytes need it. */
	if (x->mode == EX_SPARSE)
		end = end < x->old ? end : off > x->old ? off : x->old;
	if (off < end && !x->zeroed) {
		memset(x->buf, 0, EXTRACT_BUF);
		x->zeroed = true;
	}
	while (off < end) {
		if (img_interrupted())
			return -EINTR;
		n = end - off < EXTRACT_BUF ? (size_t)(end - off) :
		    EXTRACT_BUF;
		if ((rc = ex_write(x, off, x->buf, n)) != 0)
			return rc;
		off += n;
		/* Zeros to a pipe take time too: say how far they got. */
		x->done = off;
		ex_progress(x);
	}
	return 0;
}

/* A data run: read from its layer, chunk by chunk. */
static int
ex_data(struct ex *x, const struct map_ext *run)
{
	struct img	*layer = x->top;
	uint64_t	 off = run->start, end = run->start + run->length;
	size_t		 n;
	int		 i, rc;

	for (i = 0; i < run->depth && layer != NULL; i++)
		layer = layer->backing;
	if (layer == NULL) {
		img_set_error(x->top, "the map names a backing file at depth "
		    "%d that is not open", run->depth);
		return -IMG_ECHECK;
	}
	if (layer->ops->read == NULL) {
		img_set_error(x->top, "cannot read the guest data of %s "
		    "image '%s'", layer->ops->name, layer->path);
		return -IMG_ENOOP;
	}
	x->zeroed = false;
	while (off < end) {
		if (img_interrupted())
			return -EINTR;
		n = end - off < EXTRACT_BUF ? (size_t)(end - off) :
		    EXTRACT_BUF;
		if ((rc = layer->ops->read(layer, run, off, x->buf, n,
		    x->rp)) != 0) {
			if (layer != x->top && img_error(layer) != NULL)
				img_set_error(x->top, "%s", img_error(layer));
			else if (img_error(x->top) == NULL)
				img_set_error(x->top, "cannot read guest "
				    "offset %llu of '%s': %s",
				    (unsigned long long)off, layer->path,
				    img_strerror(rc));
			return rc;
		}
		if ((rc = ex_write(x, off, x->buf, n)) != 0)
			return rc;
		off += n;
		x->done = off;
		ex_progress(x);
	}
	return 0;
}

/* A range the map met through damage: a finding, then zeros. */
static int
ex_damage(struct ex *x, const struct map_ext *run)
{
	struct pr_ctx	pc;
	enum pr_id	id = pr_id_by_code(run->damage);

	if (id == PR_COUNT) {
		img_set_error(x->top, "the map gives damage code 0x%06x, "
		    "which is not a problem we know", (unsigned)run->damage);
		return -IMG_ECHECK;
	}
	memset(&pc, 0, sizeof(pc));
	pc.goff = run->start;
	pc.glen = run->length;
	pc.flags = PC_GUEST;
	if (run->has_offset) {
		pc.off = run->offset;
		pc.len = run->length;
		pc.flags |= PC_HOST;
	}
	(void)report_problem(x->rp, id, &pc);
	return ex_zeros(x, run->start, run->length);
}

static int
ex_run(void *arg, const struct map_ext *run)
{
	struct ex	*x = arg;
	int		 rc;

	if (run->start != x->done || run->length > x->total - x->done) {
		img_set_error(x->top, "the map of '%s' does not cover guest "
		    "offset %llu in order", x->top->path,
		    (unsigned long long)x->done);
		return -IMG_ECHECK;
	}
	if (run->damage != 0)
		rc = ex_damage(x, run);
	else if (run->data && !run->zero)
		rc = ex_data(x, run);
	else
		rc = ex_zeros(x, run->start, run->length);
	if (rc != 0)
		return rc;
	x->done = run->start + run->length;
	ex_progress(x);
	return 0;
}

static int
extract_disk(struct img *img, int fd, struct report *rp,
    const struct img_extract_opts *o)
{
	struct img_map_opts	mo;
	struct stat		st;
	struct ex		x;
	int			rc;

	memset(&x, 0, sizeof(x));
	x.top = img;
	x.rp = rp;
	x.o = o;
	x.fd = fd;
	if (fstat(fd, &st) != 0)
		return -errno;
	if (S_ISREG(st.st_mode)) {
		x.mode = EX_SPARSE;
		x.old = st.st_size > 0 ? (uint64_t)st.st_size : 0;
	} else
		x.mode = S_ISBLK(st.st_mode) ? EX_SEEK : EX_STREAM;
	img_map_opts_init(&mo);
	mo.no_backing = o->no_backing;
	mo.force = o->force;
	if ((x.buf = malloc(EXTRACT_BUF)) == NULL)
		return -ENOMEM;
	x.total = img_virtual_size(img);
	x.step = x.total / 100 < EXTRACT_PROGRESS_MAX ? x.total / 100 :
	    EXTRACT_PROGRESS_MAX;
	if (x.step == 0)
		x.step = 1;
	x.next = 0;
	ex_progress(&x);
	if ((rc = img_map_ex(img, &mo, ex_run, &x)) != 0)
		goto out;
	if (x.done != x.total) {
		img_set_error(img, "the map of '%s' ends at guest offset %llu "
		    "of %llu", img->path, (unsigned long long)x.done,
		    (unsigned long long)x.total);
		rc = -IMG_ECHECK;
		goto out;
	}
	if (x.mode == EX_SPARSE && x.old < x.total &&
	    ftruncate(fd, (off_t)x.total) != 0) {
		rc = -errno;
		goto out;
	}
	if (o->progress != NULL)
		o->progress(o->parg, x.total, x.total);
out:
	free(x.buf);
	return rc;
}

int
img_extract_ex(struct img *img, const char *what, int fd,
    struct report *rp, const struct img_extract_opts *o)
{
	struct img_extract_opts	def;
	int			rc;

	if ((rc = img_recognised(img)) != 0)
		return rc;
	if (o == NULL) {
		memset(&def, 0, sizeof(def));
		o = &def;
	}
	if (what != NULL && strcmp(what, "leaked") == 0 &&
	    !(img->ops->caps & FMT_NAMED))
		return hostmap_extract_leaked(img, fd, rp);
	if (img->ops->read != NULL) {
		if (what != NULL) {
			img_set_error(img, "%s images hold no named objects "
			    "(only \"leaked\")", img->ops->name);
			return -IMG_ENOOP;
		}
		return extract_disk(img, fd, rp, o);
	}
	if (img->ops->extract == NULL)
		return -IMG_ENOOP;
	return img->ops->extract(img, what, fd, rp);
}

int
img_extract(struct img *img, const char *what, int fd, struct report *rp)
{
	return img_extract_ex(img, what, fd, rp, NULL);
}
