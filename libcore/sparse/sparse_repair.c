/* SPDX-License-Identifier: MIT */
/*
 * sparse_repair.c --- salvage a damaged sparse stream into a new file.
 *
 * A stream is never repaired in place: the original is evidence, and a
 * frame sequence cannot be patched without moving everything after it.
 * Instead the check walk collects every extent frame (with where its
 * payload and lz4 frames lie and whether header, range and payload were
 * all good), and we write a new stream: the meta frame (dataSize made
 * true, missing keys filled in, or a meta rebuilt from the frames), the
 * intact frames in guest order with their payloads copied byte for byte
 * (lz4 frames stay as they were), zero frames for the ranges of a full
 * backup that were lost or never covered, stop, and for compressed
 * streams a trailer that matches the lz4 frames.  Every lost range is a
 * finding.  With permission for leaks only, the new file is the old one
 * without the bytes after the end of the stream.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <lz4frame.h>

#include "sparse/sparse.h"
#include "core/banned.h"

/* Output buffer of the writer. */
#define SPARSE_WBUF_LEN		(1u << 20)

struct srec {
	uint64_t	 start;
	uint64_t	 len;
	uint64_t	 pay_off;
	uint64_t	 pay_len;
	uint64_t	 index;
	size_t		 lz4_first;
	size_t		 nlz4;
	enum sparse_kind kind;
	bool		 intact;
	bool		 compressed;
};

/* One frame of the new stream: a kept record or a zero fill. */
struct sout {
	struct srec	*rec;		/* NULL: zero frame */
	uint64_t	 start;
	uint64_t	 len;
};

struct salvage {
	struct srec	*r;
	size_t		 n, cap;
	uint64_t	*lz;
	size_t		 nlz, caplz;
	size_t		 bytes;
};

struct wr {
	int		 fd;
	uint8_t		*buf;
	size_t		 n;
	int		 err;
};

static int
collect(void *arg, const struct sparse_ext *x)
{
	struct salvage	*sv = arg;
	struct srec	*nr;
	uint64_t	*nl;
	size_t		 cap;

	sv->bytes += sizeof(*sv->r) + x->nlz4 * sizeof(uint64_t);
	if (sv->bytes > SPARSE_SALVAGE_MAX)
		return -IMG_ELIMIT;
	if (sv->n == sv->cap) {
		cap = sv->cap == 0 ? 256 : sv->cap * 2;
		if ((nr = reallocarray(sv->r, cap, sizeof(*nr))) == NULL)
			return -ENOMEM;
		sv->r = nr;
		sv->cap = cap;
	}
	if (sv->nlz + x->nlz4 > sv->caplz) {
		cap = (sv->nlz + x->nlz4) * 2 + 64;
		if ((nl = reallocarray(sv->lz, cap, sizeof(*nl))) == NULL)
			return -ENOMEM;
		sv->lz = nl;
		sv->caplz = cap;
	}
	nr = &sv->r[sv->n++];
	memset(nr, 0, sizeof(*nr));
	nr->kind = x->kind;
	nr->start = x->start;
	nr->len = x->len;
	nr->pay_off = x->pay_off;
	nr->pay_len = x->pay_len;
	nr->index = x->index;
	nr->intact = x->intact;
	nr->compressed = x->compressed;
	nr->lz4_first = sv->nlz;
	nr->nlz4 = x->nlz4;
	if (x->nlz4 > 0)
		memcpy(sv->lz + sv->nlz, x->lz4_sizes, x->nlz4 *
		    sizeof(uint64_t));
	sv->nlz += x->nlz4;
	return 0;
}

static int
rec_cmp(const void *a, const void *b)
{
	const struct srec	*x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->index != y->index)
		return x->index < y->index ? -1 : 1;
	return 0;
}

static void
wr_flush(struct wr *w)
{
	if (w->err == 0 && w->n > 0)
		w->err = fd_write_full(w->fd, w->buf, w->n);
	w->n = 0;
}

static void
wr_put(struct wr *w, const void *p, size_t n)
{
	const uint8_t	*b = p;
	size_t		 k;

	while (n > 0 && w->err == 0) {
		if (w->n == SPARSE_WBUF_LEN)
			wr_flush(w);
		k = SPARSE_WBUF_LEN - w->n < n ? SPARSE_WBUF_LEN - w->n : n;
		memcpy(w->buf + w->n, b, k);
		w->n += k;
		b += k;
		n -= k;
	}
}

static void
wr_hdr(struct wr *w, enum sparse_kind kind, uint64_t start, uint64_t len)
{
	uint8_t	h[SPARSE_HDR_LEN];

	sparse_hdr_format(h, kind, start, len);
	wr_put(w, h, sizeof(h));
}

/* Copy len bytes of the image at off to the output. */
static void
wr_copy(struct wr *w, struct img *img, uint64_t off, uint64_t len)
{
	size_t	k;
	int	rc;

	while (len > 0 && w->err == 0) {
		if (w->n == SPARSE_WBUF_LEN)
			wr_flush(w);
		k = SPARSE_WBUF_LEN - w->n;
		if (k > len)
			k = (size_t)len;
		if ((rc = img_pread(img, off, w->buf + w->n, k)) != 0) {
			w->err = rc;
			return;
		}
		w->n += k;
		off += k;
		len -= k;
	}
}

static void
lost(struct report *rp, const struct srec *r, uint64_t start, uint64_t end,
    const char *why)
{
	struct pr_ctx	pc;
	char		path[48];

	memset(&pc, 0, sizeof(pc));
	snprintf(path, sizeof(path), "frames[%llu]/%s",
	    (unsigned long long)r->index, sparse_kind_name(r->kind));
	pc.path = path;
	pc.flags = PC_HOST | PC_GUEST;
	pc.off = r->pay_off >= SPARSE_HDR_LEN ? r->pay_off - SPARSE_HDR_LEN :
	    0;
	pc.len = SPARSE_HDR_LEN + r->pay_len;
	pc.goff = start;
	pc.glen = end - start;
	pc.found = start;
	pc.want = end;
	pc.str = why;
	sparse_pr(rp, PR_SPARSE_SALVAGE_LOST, &pc);
}

/*
 * Decide which records go into the new stream, in guest order, with zero
 * fills for a full backup.  *out has room for 2n + 1 entries.
 */
static size_t
plan(struct salvage *sv, struct report *rp, uint64_t vsize, bool full,
    struct sout *out, uint64_t *data_sum, uint64_t *lost_bytes)
{
	struct srec		*r;
	uint64_t		 cursor = 0, end;
	size_t			 i, n = 0;

	*data_sum = *lost_bytes = 0;
	for (i = 0; i < sv->n; i++) {
		r = &sv->r[i];
		if (r->len == 0)
			continue;
		if (!ck_add_u64(r->start, r->len, &end)) {
			if (r->kind == SK_DATA)
				lost(rp, r, r->start, UINT64_MAX, "range "
				    "overflows");
			continue;
		}
		if (end > vsize) {
			if (r->kind == SK_DATA && r->start < vsize) {
				lost(rp, r, r->start, vsize, "extent runs "
				    "past the virtual size");
				*lost_bytes += vsize - r->start;
			}
			continue;
		}
		if (r->start < cursor) {
			if (r->kind == SK_DATA) {
				lost(rp, r, r->start, end, "overlaps an "
				    "earlier extent");
				*lost_bytes += r->len;
			}
			continue;
		}
		if (r->kind == SK_DATA && !r->intact) {
			lost(rp, r, r->start, end, "payload damaged");
			*lost_bytes += r->len;
			continue;
		}
		if (r->kind == SK_ZERO && !full)
			continue;
		if (full && r->start > cursor) {
			out[n].rec = NULL;
			out[n].start = cursor;
			out[n++].len = r->start - cursor;
		}
		out[n].rec = r;
		out[n].start = r->start;
		out[n++].len = r->len;
		if (r->kind == SK_DATA)
			*data_sum += r->len;
		cursor = end;
	}
	if (full && cursor < vsize) {
		out[n].rec = NULL;
		out[n].start = cursor;
		out[n++].len = vsize - cursor;
	}
	return n;
}

static void
set_default(struct json_object *o, const char *key, struct json_object *v,
    json_type type)
{
	struct json_object	*old;

	if (json_object_object_get_ex(o, key, &old) &&
	    json_object_is_type(old, type)) {
		json_object_put(v);
		return;
	}
	json_object_object_add(o, key, v);
}

/* The meta object of the new stream; caller puts it. */
static struct json_object *
new_meta(const struct sparse_meta *m, struct report *rp, uint64_t vsize,
    uint64_t dsize, bool compressed)
{
	struct json_object	*o, *v;
	struct pr_ctx		 pc;

	if (m->json != NULL) {
		o = NULL;
		if (json_object_deep_copy(m->json, &o, NULL) != 0)
			return NULL;
	} else {
		memset(&pc, 0, sizeof(pc));
		pc.str = "virtual size from the last extent, names empty";
		sparse_pr(rp, PR_SPARSE_SALVAGE_NO_META, &pc);
		o = json_object_new_object();
	}
	if (o == NULL)
		return NULL;
	if (m->prototype) {
		json_object_object_add(o, "data-size",
		    json_object_new_int64((int64_t)dsize));
		return o;
	}
	json_object_object_add(o, "virtualSize",
	    json_object_new_int64((int64_t)vsize));
	json_object_object_add(o, "dataSize",
	    json_object_new_int64((int64_t)dsize));
	set_default(o, "date", json_object_new_string(""), json_type_string);
	set_default(o, "diskName", json_object_new_string(""),
	    json_type_string);
	set_default(o, "checkpointName", json_object_new_string(""),
	    json_type_string);
	/* Optional, but a string when there (meta_keys). */
	if (json_object_object_get_ex(o, "diskFormat", &v) &&
	    !json_object_is_type(v, json_type_string))
		json_object_object_del(o, "diskFormat");
	if (!json_object_object_get_ex(o, "parentCheckpoint", &v) ||
	    !(json_object_is_type(v, json_type_string) ||
	    json_object_is_type(v, json_type_boolean)))
		json_object_object_add(o, "parentCheckpoint",
		    json_object_new_string(""));
	set_default(o, "incremental", json_object_new_boolean(false),
	    json_type_boolean);
	if (m->version != 1) {
		json_object_object_del(o, "stream-version");
		json_object_object_add(o, "streamVersion",
		    json_object_new_int(2));
		if (!compressed)
			json_object_object_add(o, "compressed",
			    json_object_new_boolean(false));
		else if (m->level <= 0)
			json_object_object_add(o, "compressed",
			    json_object_new_int(1));
		json_object_object_add(o, "compressionMethod",
		    json_object_new_string("lz4"));
	}
	return o;
}

/* The trailer JSON: one element per data frame (section 5.2). */
static void
wr_trailer(struct wr *w, struct salvage *sv, const struct sout *out,
    size_t n)
{
	const struct srec	*r;
	char			 num[48];
	uint64_t		 len = 0;
	size_t			 i, j, pass;
	bool			 first;
	uint8_t			 crlf[2] = { '\r', '\n' };

	/* Pass 0 measures, pass 1 writes: T goes in the comp header. */
	for (pass = 0; pass < 2; pass++) {
		first = true;
#define EMIT(s)	do { size_t l_ = strlen(s); if (pass) wr_put(w, s, l_); \
		else len += l_; } while (0)
		EMIT("[");
		for (i = 0; i < n; i++) {
			if ((r = out[i].rec) == NULL || r->kind != SK_DATA)
				continue;
			if (!first)
				EMIT(", ");
			first = false;
			if (r->nlz4 <= 1) {
				snprintf(num, sizeof(num), "%llu",
				    (unsigned long long)r->pay_len);
				EMIT(num);
				continue;
			}
			snprintf(num, sizeof(num), "{\"%llu\": [",
			    (unsigned long long)r->pay_len);
			EMIT(num);
			for (j = 0; j < r->nlz4; j++) {
				snprintf(num, sizeof(num), "%s%llu", j > 0 ?
				    ", " : "", (unsigned long long)
				    sv->lz[r->lz4_first + j]);
				EMIT(num);
			}
			EMIT("]}");
		}
		EMIT("]");
#undef EMIT
	}
	wr_put(w, crlf, 2);
	wr_hdr(w, SK_COMP, 0, len);
}

/* Does upstream's reader take the lz4 frames of r as they are? */
static bool
upstream_shape(const struct srec *r)
{
	uint64_t	want;

	want = r->len < SPARSE_UPSTREAM_PIECE ? 1 : (r->len +
	    SPARSE_UPSTREAM_PIECE - 1) / SPARSE_UPSTREAM_PIECE;
	return r->nlz4 == want;
}

struct rechunk {
	LZ4F_dctx	*dctx;
	uint8_t		*piece;		/* decoded piece */
	uint8_t		*frame;		/* its lz4 frame */
	size_t		 bound;
	uint8_t		*in;
};

static void
rechunk_release(struct rechunk *rc)
{
	if (rc->dctx != NULL)
		LZ4F_freeDecompressionContext(rc->dctx);
	free(rc->piece);
	free(rc->frame);
	free(rc->in);
	memset(rc, 0, sizeof(*rc));
}

static void
lz4_prefs(LZ4F_preferences_t *p, size_t content)
{
	memset(p, 0, sizeof(*p));
	p->frameInfo.blockSizeID = LZ4F_max64KB;
	p->frameInfo.blockMode = LZ4F_blockIndependent;
	p->frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
	p->frameInfo.blockChecksumFlag = LZ4F_blockChecksumEnabled;
	p->frameInfo.contentSize = content;
}

/* Compress the decoded piece into one frame and write it. */
static int
rechunk_emit(struct wr *w, struct rechunk *rc, struct salvage *sv,
    size_t fill, uint64_t *stored)
{
	LZ4F_preferences_t	 prefs;
	uint64_t		*nl;
	size_t			 n, cap;

	lz4_prefs(&prefs, fill);
	n = LZ4F_compressFrame(rc->frame, rc->bound, rc->piece, fill, &prefs);
	if (LZ4F_isError(n))
		return -IMG_EINVAL;
	wr_put(w, rc->frame, n);
	if (sv->nlz == sv->caplz) {
		cap = sv->caplz * 2 + 64;
		if ((nl = reallocarray(sv->lz, cap, sizeof(*nl))) == NULL)
			return -ENOMEM;
		sv->lz = nl;
		sv->caplz = cap;
	}
	sv->lz[sv->nlz++] = n;
	*stored += n;
	return 0;
}

/*
 * Decode the lz4 frames of r and write them again in upstream's shape:
 * one frame per 32 MiB piece.  r's sizes are updated for the trailer.
 */
static int
rechunk(struct wr *w, struct img *img, struct srec *r, struct salvage *sv,
    struct rechunk *rc)
{
	LZ4F_preferences_t	 prefs;
	uint64_t		 off = r->pay_off, left = r->pay_len;
	uint64_t		 stored = 0, decoded = 0;
	size_t			 fill = 0, n, ssz, dsz, first = sv->nlz;
	size_t			 ret, used;
	int			 err;

	if (rc->piece == NULL) {
		lz4_prefs(&prefs, SPARSE_UPSTREAM_PIECE);
		rc->bound = LZ4F_compressFrameBound(SPARSE_UPSTREAM_PIECE,
		    &prefs);
		if (LZ4F_isError(LZ4F_createDecompressionContext(&rc->dctx,
		    LZ4F_VERSION)) || (rc->piece =
		    malloc(SPARSE_UPSTREAM_PIECE)) == NULL || (rc->frame =
		    malloc(rc->bound)) == NULL || (rc->in =
		    malloc(SPARSE_WBUF_LEN)) == NULL)
			return -ENOMEM;
	}
	LZ4F_resetDecompressionContext(rc->dctx);
	while (left > 0) {
		n = left > SPARSE_WBUF_LEN ? SPARSE_WBUF_LEN : (size_t)left;
		if ((err = img_pread(img, off, rc->in, n)) != 0)
			return err;
		off += n;
		left -= n;
		used = 0;
		do {
			dsz = SPARSE_UPSTREAM_PIECE - fill;
			ssz = n - used;
			ret = LZ4F_decompress(rc->dctx, rc->piece + fill, &dsz,
			    rc->in + used, &ssz, NULL);
			if (LZ4F_isError(ret))
				return -IMG_EINVAL;
			used += ssz;
			fill += dsz;
			decoded += dsz;
			if (fill == SPARSE_UPSTREAM_PIECE) {
				if ((err = rechunk_emit(w, rc, sv, fill,
				    &stored)) != 0)
					return err;
				fill = 0;
			}
		} while (used < n || (dsz > 0 && ret != 0));
	}
	if (fill > 0 && (err = rechunk_emit(w, rc, sv, fill, &stored)) != 0)
		return err;
	if (decoded != r->len)
		return -IMG_EINVAL;
	r->lz4_first = first;
	r->nlz4 = sv->nlz - first;
	r->pay_len = stored;
	return 0;
}

static int
open_out(struct img *img, const char *out, int *fdp)
{
	struct stat	a, b;
	int		fd;

	if (fstat(img->fd, &a) == 0 && stat(out, &b) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
		img_set_error(img, "the output is the stream itself");
		return -IMG_EINVAL;
	}
	if ((fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644)) < 0)
		return -errno;
	*fdp = fd;
	return 0;
}

/* -r leaks: the old stream without the bytes after its end. */
static int
trim_only(struct img *img, struct wr *w, const struct sparse_totals *tot,
    bool compressed)
{
	if (!tot->complete) {
		wr_copy(w, img, 0, img->size);
		return 0;
	}
	wr_copy(w, img, 0, tot->stop_end);
	if (compressed && tot->trailer_off >= tot->stop_end)
		wr_copy(w, img, tot->trailer_off, img->size -
		    tot->trailer_off);
	return 0;
}

int
sparse_repair(struct img *img, struct report *rp, const char *outp)
{
	struct sparse		*sp = img->priv;
	struct sparse_meta	*m = &sp->meta;
	struct sparse_walk_opts	 wo;
	struct sparse_totals	 tot;
	struct salvage		 sv;
	struct sout		*out = NULL;
	struct json_object	*meta = NULL;
	struct wr		 w;
	struct rechunk		 rk;
	struct srec		*r;
	const char		*js;
	uint64_t		 vsize, dsum, lost_bytes, end;
	size_t			 i, n, jl;
	bool			 full, compressed, any_lz4 = false;
	uint8_t			 crlf[2] = { '\r', '\n' };
	int			 rc;

	if (outp == NULL) {
		img_set_error(img, "a stream is only salvaged into a new file");
		return -IMG_EUNSUP;
	}
	memset(&sv, 0, sizeof(sv));
	memset(&w, 0, sizeof(w));
	memset(&rk, 0, sizeof(rk));
	memset(&wo, 0, sizeof(wo));
	memset(&tot, 0, sizeof(tot));
	w.fd = -1;
	wo.decode = true;
	wo.chksum = true;
	wo.on_ext = collect;
	wo.arg = &sv;
	if ((rc = sparse_walk(img, rp, &wo, &tot)) != 0)
		goto out;
	if (rp->dry_run)
		goto out;
	if ((w.buf = malloc(SPARSE_WBUF_LEN)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if ((rc = open_out(img, outp, &w.fd)) != 0)
		goto out;
	if (!(rp->repair & REPAIR_ALL)) {
		rc = trim_only(img, &w, &tot, m->compressed);
		goto done;
	}
	if (sv.n > 1)
		qsort(sv.r, sv.n, sizeof(*sv.r), rec_cmp);
	vsize = 0;
	for (i = 0; i < sv.n; i++) {
		/* The meta holds the size as a JSON int64. */
		if (sv.r[i].intact && ck_add_u64(sv.r[i].start, sv.r[i].len,
		    &end) && end > vsize && end <= INT64_MAX)
			vsize = end;
		if (sv.r[i].nlz4 > 0)
			any_lz4 = true;
	}
	if (m->json != NULL && m->has_vsize)
		vsize = m->virtual_size;
	full = m->json == NULL || !m->incremental;
	compressed = m->json != NULL ? m->compressed : any_lz4;
	if ((out = calloc(2 * sv.n + 1, sizeof(*out))) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	n = plan(&sv, rp, vsize, full, out, &dsum, &lost_bytes);
	if ((meta = new_meta(m, rp, vsize, dsum, compressed)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	js = json_object_to_json_string_ext(meta, JSON_C_TO_STRING_PRETTY |
	    JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
	jl = strlen(js);
	wr_hdr(&w, SK_META, 0, jl);
	wr_put(&w, js, jl);
	wr_put(&w, crlf, 2);
	for (i = 0; i < n; i++) {
		r = out[i].rec;
		if (r == NULL || r->kind == SK_ZERO) {
			wr_hdr(&w, SK_ZERO, out[i].start, out[i].len);
			continue;
		}
		wr_hdr(&w, SK_DATA, r->start, r->len);
		if (r->compressed && !upstream_shape(r)) {
			if ((rc = rechunk(&w, img, r, &sv, &rk)) != 0)
				goto out;
		} else
			wr_copy(&w, img, r->pay_off, r->pay_len);
		wr_put(&w, crlf, 2);
	}
	wr_hdr(&w, SK_STOP, 0, 0);
	if (compressed)
		wr_trailer(&w, &sv, out, n);
	report_extra_int(rp, "salvaged-frames", (int64_t)n);
	report_extra_int(rp, "lost-bytes", (int64_t)lost_bytes);
done:
	wr_flush(&w);
	if (w.err == 0 && fsync(w.fd) != 0)
		w.err = -errno;
	if (rc == 0)
		rc = w.err;
	if (rc == 0)
		report_extra_str(rp, "output", outp);
out:
	if (w.fd >= 0)
		close(w.fd);
	if (meta != NULL)
		json_object_put(meta);
	rechunk_release(&rk);
	free(out);
	free(w.buf);
	free(sv.r);
	free(sv.lz);
	return rc;
}
