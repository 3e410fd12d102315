/* SPDX-License-Identifier: MIT */
/*
 * raw_map.c --- the raw guest disk as runs, and its reads.
 *
 * Every guest byte is present at the same host offset; whether it is
 * data or zero is what the host file says (core/hole.c), exactly as
 * qemu-img map reports a raw file: holes, and the partial sector past
 * the end of a file whose length is not a multiple of 512, are zero.
 */
#include <errno.h>
#include <string.h>

#include "raw/raw.h"
#include "core/banned.h"

int
raw_map(struct img *img, const struct map_req *rq, map_fn *fn, void *arg)
{
	struct map_ext	x;
	uint64_t	off = rq->start, end = rq->end, vs = raw_vsize(img);
	uint64_t	pnum;
	bool		data, eof;
	int		rc;

	if (end > vs)
		end = vs;
	while (off < end) {
		if (img_interrupted())
			return -EINTR;
		if ((rc = fd_block_status(img->fd, off, end - off, &data,
		    &pnum, &eof)) != 0)
			return rc;
		if (pnum == 0) {
			/* Shrunk since open: past its end it reads zeros. */
			data = false;
			pnum = end - off;
		}
		memset(&x, 0, sizeof(x));
		x.start = off;
		x.length = pnum;
		x.present = true;
		x.data = data;
		x.zero = !data;
		x.has_offset = true;
		x.offset = off;
		if ((rc = fn(arg, &x)) != 0)
			return rc;
		off += pnum;
	}
	return 0;
}

int
raw_read(struct img *img, const struct map_ext *run, uint64_t off,
    void *buf, size_t len, struct report *rp)
{
	uint64_t	host;

	(void)rp;
	if (off < run->start || !run->has_offset ||
	    !ck_add_u64(run->offset, off - run->start, &host))
		return -IMG_ERANGE;
	/* The partial sector past the end of the file reads as zeros. */
	return img_pread_zf(img, host, buf, len, NULL);
}
