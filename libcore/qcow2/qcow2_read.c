/* SPDX-License-Identifier: MIT */
/*
 * qcow2_read.c --- guest bytes of one qcow2 layer (extract), and the
 * small operations the core asks of a layer: its size and backing file.
 *
 * The core hands us runs from our own map: data at a host offset is read
 * straight from the image or its external data file; compressed runs are
 * looked up one cluster at a time (one L2 table cached) and inflated with
 * zlib (raw deflate, QEMU's window of 2^12) or zstd, as QEMU's
 * qcow2_co_preadv_compressed() does.  A cluster that does not decompress
 * is a finding, and reads as zeros.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#include "qcow2/qcow2.h"
#include "core/banned.h"

uint64_t
qcow2_vsize(struct img *img)
{
	const struct qcow2	*q = img->priv;

	return q->h.size;
}

int
qcow2_backing(struct img *img, char *name, size_t namelen, char *fmt,
    size_t fmtlen)
{
	const struct qcow2	*q = img->priv;

	if (q->backing_file[0] == '\0')
		return 0;
	snprintf(name, namelen, "%s", q->backing_file);
	snprintf(fmt, fmtlen, "%s", q->backing_fmt);
	return 1;
}

/* zlib: raw deflate, the output must fill the cluster (QEMU's test). */
static int
inflate_zlib(const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen)
{
	z_stream	z;
	int		ret;

	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, -12) != Z_OK)
		return -ENOMEM;
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)inlen;
	z.next_out = out;
	z.avail_out = (uInt)outlen;
	ret = inflate(&z, Z_FINISH);
	inflateEnd(&z);
	if ((ret == Z_STREAM_END || ret == Z_BUF_ERROR) && z.avail_out == 0)
		return 0;
	return -IMG_EINVAL;
}

/* zstd: frames until the cluster is full, as QEMU's streaming decoder. */
static int
inflate_zstd(const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen)
{
	ZSTD_DCtx	*d;
	ZSTD_inBuffer	 ib = { in, inlen, 0 };
	ZSTD_outBuffer	 ob = { out, outlen, 0 };
	size_t		 r;
	int		 rc = 0;

	if ((d = ZSTD_createDCtx()) == NULL)
		return -ENOMEM;
	while (ob.pos < ob.size) {
		size_t	last = ib.pos;

		r = ZSTD_decompressStream(d, &ob, &ib);
		if (ZSTD_isError(r)) {
			rc = -IMG_EINVAL;
			break;
		}
		if (ob.pos < ob.size && ib.pos == last && r != 0 &&
		    ib.pos == ib.size) {
			rc = -IMG_EINVAL;	/* input ended early */
			break;
		}
		if (ob.pos < ob.size && ib.pos == ib.size && r == 0) {
			rc = -IMG_EINVAL;	/* frame ended, cluster not */
			break;
		}
	}
	ZSTD_freeDCtx(d);
	return rc;
}

/* The L2 entry of guest cluster gc, through a one-table cache. */
struct rcache {
	uint64_t	 l2off;
	uint8_t		*tab;
	uint64_t	*l1;
	bool		 l1_read;
};

static int
entry_of(struct img *img, struct qcow2 *q, struct rcache *c, uint64_t gc,
    uint64_t *e)
{
	uint64_t	l1i = gc >> q->l2_bits, l2off;
	int		rc;

	*e = 0;
	if (!c->l1_read) {
		if ((rc = qcow2_read_table(img, q->h.l1_table_offset,
		    q->h.l1_size, &c->l1)) != 0)
			return rc;
		c->l1_read = true;
	}
	if (l1i >= q->h.l1_size)
		return 0;
	l2off = c->l1[l1i] & QCOW2_L1E_OFFSET_MASK;
	if (l2off == 0)
		return 0;
	if (c->tab == NULL && (c->tab = malloc((size_t)q->cs)) == NULL)
		return -ENOMEM;
	if (c->l2off != l2off) {
		c->l2off = 0;
		if ((rc = img_pread_zf(img, l2off, c->tab, (size_t)q->cs,
		    NULL)) != 0)
			return rc;
		c->l2off = l2off;
	}
	*e = be64_at(c->tab + (gc & (q->l2_size - 1)) * q->l2_entry_size);
	return 0;
}

/* Inflate the compressed cluster of entry e into out (cs bytes). */
static int
read_compressed(struct img *img, struct qcow2 *q, uint64_t e, uint64_t goff,
    uint8_t *out, struct report *rp)
{
	struct pr_ctx	 pc;
	uint64_t	 coff, clen;
	uint8_t		*in;
	int		 rc;

	qcow2_compressed_range(q, e, &coff, &clen);
	if (clen > 2 * q->cs + 512)
		clen = 2 * q->cs + 512;	/* QEMU's descriptor cannot say more */
	if ((in = malloc((size_t)clen)) == NULL)
		return -ENOMEM;
	if ((rc = img_pread_zf(img, coff, in, (size_t)clen, NULL)) == 0)
		rc = q->h.compression_type == 1 ?
		    inflate_zstd(in, (size_t)clen, out, (size_t)q->cs) :
		    inflate_zlib(in, (size_t)clen, out, (size_t)q->cs);
	free(in);
	if (rc == -IMG_EINVAL) {
		memset(out, 0, (size_t)q->cs);
		memset(&pc, 0, sizeof(pc));
		pc.off = coff;
		pc.len = clen;
		pc.goff = goff;
		pc.glen = q->cs;
		pc.flags = PC_HOST | PC_GUEST;
		pc.path = "compressed cluster";
		report_problem(rp, PR_QCOW2_COMPRESSED_BAD, &pc);
		rc = 0;
	}
	return rc;
}

int
qcow2_read(struct img *img, const struct map_ext *run, uint64_t off,
    void *buf, size_t len, struct report *rp)
{
	struct qcow2	*q = img->priv;
	struct rcache	 c;
	uint8_t		*out = buf, *clu = NULL;
	uint64_t	 gc, e, in, n, hoff, done = 0;
	ssize_t		 r;
	int		 rc = 0;

	if ((rc = qcow2_usable(img, q, true)) != 0)
		return rc;
	if (run->has_offset && !run->compressed) {
		hoff = run->offset + (off - run->start);
		if (!q->data_file)
			return img_pread_zf(img, hoff, buf, len, NULL);
		/* The data file: past its end reads as zeros too. */
		memset(buf, 0, len);
		while (done < len) {
			r = pread(q->data_fd, out + done, len - done,
			    (off_t)(hoff + done));
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				return -errno;
			if (r == 0)
				break;
			done += (uint64_t)r;
		}
		return 0;
	}
	memset(&c, 0, sizeof(c));
	if ((clu = malloc((size_t)q->cs)) == NULL)
		return -ENOMEM;
	while (done < len) {
		gc = (off + done) >> q->h.cluster_bits;
		in = (off + done) & (q->cs - 1);
		n = q->cs - in < len - done ? q->cs - in : len - done;
		if ((rc = entry_of(img, q, &c, gc, &e)) != 0)
			break;
		if (qcow2_l2_kind(q, e) != QCOW2_L2_COMPRESSED) {
			rc = -IMG_ECHECK;	/* the map said compressed */
			break;
		}
		if ((rc = read_compressed(img, q, e, gc << q->h.cluster_bits,
		    clu, rp)) != 0)
			break;
		memcpy(out + done, clu + in, (size_t)n);
		done += n;
	}
	free(clu);
	free(c.tab);
	free(c.l1);
	return rc;
}
