/* SPDX-License-Identifier: MIT */
/*
 * sparse_walk.c --- walk every frame of a sparse stream once.
 *
 * Theory of operation.  After the meta frame (sparse_meta.c) and, for
 * compressed streams, the trailer at the end of the file
 * (sparse_trailer.c), we read frame after frame through a bounded window
 * over img_pread(): 40-byte headers, the CR LF after each payload, and
 * lz4 payloads block by block, so memory stays constant whatever the
 * size of the stream.  Plain payloads are never read unless a caller
 * wants the guest bytes.  Every lz4 frame is followed by its own block
 * structure (spec section 5.4) and fed to LZ4F_decompress(), which
 * verifies the header, block and content checksums; the decoded length
 * is compared with the frame header and the stored size with the
 * trailer.  Each extent is checked against the previous one and the
 * virtual size (section 6) as it is read.
 *
 * A header we cannot use is a finding; we then look for the next
 * plausible header (resynchronise) and go on, so one run lists every
 * damaged frame.  Findings carry the frame header's offset and the
 * frame's bytes, a path "frames[i]/kind" and the guest range.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lz4frame.h>

#include "sparse/sparse.h"
#include "core/banned.h"

#define LZ4_MAGIC		0x184D2204u
/* A header read pulls this much into the window (small frames). */
#define SPARSE_READAHEAD	(256u << 10)

/* The bounded read window. */
struct src {
	struct img	*img;
	uint8_t		*buf;
	uint64_t	 boff;		/* file offset of buf[0] */
	size_t		 blen;
	uint64_t	 end;		/* nothing at or past this is read */
};

struct walk {
	struct img			*img;
	struct report			*rp;
	const struct sparse_walk_opts	*o;
	struct sparse_meta		 m;
	struct sparse_trailer		 t;
	struct src			 s;
	struct sparse_totals		 tot;
	uint64_t			 end;	/* end of the frame sequence */
	uint64_t			 off;	/* next header */
	uint64_t			 idx;	/* frame index */
	uint64_t			 ndata;	/* data frames so far */
	uint64_t			 data_sum;
	bool				 tsync;	/* trailer in step */
	bool				 full;	/* full/copy: coverage rule */
	bool				 have_prev;
	uint64_t			 prev_start;
	uint64_t			 prev_end;
	uint64_t			 cover;
	bool				 done;	/* stop seen or no way on */
	bool				 lost;	/* no header after damage */
	bool				 stopped;
	uint64_t			 stop_off;
	/* lz4 state */
	LZ4F_dctx			*dctx;
	uint8_t				*dec;
	bool				 dec_ok;	/* this lz4 frame */
	bool				 dec_end;	/* LZ4F said done */
	const char			*dec_err;
	uint64_t			 dec_bytes;	/* this lz4 frame */
	uint64_t			 gpos;		/* guest position */
	uint64_t			*lsz;		/* lz4 frame sizes */
	size_t				 nlsz;
	size_t				 caplsz;
	char				 path[64];
};

static int
src_get(struct src *s, uint64_t off, size_t len, const uint8_t **p)
{
	uint64_t	e;
	size_t		n;
	int		rc;

	if (!ck_add_u64(off, len, &e) || e > s->end)
		return -IMG_ERANGE;
	if (off >= s->boff && e <= s->boff + s->blen) {
		*p = s->buf + (off - s->boff);
		return 0;
	}
	if (len > SPARSE_BUF_LEN)
		return -IMG_ELIMIT;
	n = len < SPARSE_READAHEAD ? SPARSE_READAHEAD : len;
	if (n > SPARSE_BUF_LEN)
		n = SPARSE_BUF_LEN;
	if (n > s->end - off)
		n = (size_t)(s->end - off);
	s->blen = 0;
	if ((rc = img_pread(s->img, off, s->buf, n)) != 0)
		return rc;
	s->boff = off;
	s->blen = n;
	*p = s->buf;
	return 0;
}

/* Fill pc for the frame at w->off; len is the frame's bytes. */
static void
frame_pc(struct walk *w, struct pr_ctx *pc, const struct sparse_hdr *h,
    uint64_t len)
{
	memset(pc, 0, sizeof(*pc));
	snprintf(w->path, sizeof(w->path), "frames[%llu]/%s",
	    (unsigned long long)w->idx, h != NULL ? (h->kind == SK_UNKNOWN ?
	    h->word : sparse_kind_name(h->kind)) : "?");
	pc->path = w->path;
	pc->flags = PC_HOST;
	pc->off = w->off;
	pc->len = len;
	if (h != NULL && (h->kind == SK_DATA || h->kind == SK_ZERO)) {
		pc->flags |= PC_GUEST;
		pc->goff = h->start;
		pc->glen = h->len;
	}
}

/* Find the next plausible header at or after from; false when none. */
static int
resync(struct walk *w, uint64_t from, bool *found)
{
	struct pr_ctx	 pc;
	const uint8_t	*p;
	uint64_t	 pos = from;
	size_t		 n, i;
	int		 rc;

	*found = false;
	while (pos < w->end && w->end - pos >= SPARSE_HDR_LEN) {
		n = w->end - pos > SPARSE_BUF_LEN ? SPARSE_BUF_LEN :
		    (size_t)(w->end - pos);
		if ((rc = src_get(&w->s, pos, n, &p)) != 0)
			return rc;
		for (i = 0; i + SPARSE_HDR_LEN <= n; i++) {
			if (p[i + 38] != '\r' || !sparse_hdr_plausible(p + i))
				continue;
			memset(&pc, 0, sizeof(pc));
			pc.flags = PC_HOST;
			pc.off = from;
			pc.len = pos + i - from;
			pc.found = pos + i - from;
			pc.want = pos + i;
			pc.path = "frames";
			sparse_pr(w->rp, PR_SPARSE_RESYNC, &pc);
			w->off = pos + i;
			w->tsync = false;
			*found = true;
			return 0;
		}
		pos += n - (SPARSE_HDR_LEN - 1);
		if (img_interrupted())
			break;
	}
	memset(&pc, 0, sizeof(pc));
	pc.flags = PC_HOST;
	pc.off = from;
	pc.len = w->end - from;
	pc.found = w->end - from;
	pc.path = "frames";
	sparse_pr(w->rp, PR_SPARSE_NO_RESYNC, &pc);
	w->done = w->lost = true;
	return 0;
}

/* Section 6 checks for one extent; false when its range is unusable. */
static bool
extent_check(struct walk *w, const struct sparse_hdr *h, struct pr_ctx *pc)
{
	uint64_t	e;
	bool		ok = true;

	if (h->len == 0) {
		pc->str = sparse_kind_name(h->kind);
		pc->found = h->start;
		sparse_pr(w->rp, PR_SPARSE_ZERO_LENGTH, pc);
	}
	if (!ck_add_u64(h->start, h->len, &e)) {
		pc->found = h->start;
		pc->want = h->len;
		sparse_pr(w->rp, PR_SPARSE_EXTENT_OVERFLOW, pc);
		return false;
	}
	if (w->m.has_vsize && e > w->m.virtual_size) {
		pc->found = e;
		pc->want = w->m.virtual_size;
		sparse_pr(w->rp, PR_SPARSE_BEYOND_DISK, pc);
		ok = false;
	}
	if (h->kind == SK_ZERO && w->m.json != NULL && w->m.incremental)
		sparse_pr(w->rp, PR_SPARSE_ZERO_IN_INC, pc);
	if (w->have_prev && h->start < w->prev_end) {
		if (e <= w->prev_start && h->len > 0) {
			pc->found = h->start;
			pc->want = w->prev_start;
			sparse_pr(w->rp, PR_SPARSE_OUT_OF_ORDER, pc);
		} else {
			pc->found = h->start;
			pc->want = w->prev_end;
			sparse_pr(w->rp, PR_SPARSE_OVERLAP, pc);
			ok = false;
		}
	} else if (w->full && h->start > w->cover) {
		pc->found = w->cover;
		pc->want = h->start;
		sparse_pr(w->rp, PR_SPARSE_GAP, pc);
	}
	w->have_prev = true;
	w->prev_start = h->start;
	w->prev_end = e;
	if (e > w->cover)
		w->cover = e;
	return ok;
}

/* Feed n bytes of the current lz4 frame to the decoder. */
static int
lz4_feed(struct walk *w, const uint8_t *p, size_t n)
{
	size_t	dsz, ssz, r;
	int	rc;

	if (!w->o->decode || !w->dec_ok)
		return 0;
	for (;;) {
		dsz = SPARSE_DEC_LEN;
		ssz = n;
		r = LZ4F_decompress(w->dctx, w->dec, &dsz, p, &ssz, NULL);
		if (LZ4F_isError(r)) {
			w->dec_ok = false;
			w->dec_err = LZ4F_getErrorName(r);
			return 0;
		}
		if (dsz > 0 && w->o->on_data != NULL && (rc =
		    w->o->on_data(w->o->arg, w->gpos, w->dec, dsz)) != 0)
			return rc;
		w->gpos += dsz;
		w->dec_bytes += dsz;
		p += ssz;
		n -= ssz;
		if (r == 0) {
			w->dec_end = true;
			if (n > 0) {
				w->dec_ok = false;
				w->dec_err = "bytes after the end of the frame";
			}
			return 0;
		}
		if (n == 0 && dsz < SPARSE_DEC_LEN)
			return 0;
	}
}

static int
lsz_push(struct walk *w, uint64_t v)
{
	uint64_t	*n;
	size_t		 cap;

	if (w->nlsz >= SPARSE_PIECES_MAX)
		return 1; /* not kept: the payload is not salvaged */
	if (w->nlsz == w->caplsz) {
		cap = w->caplsz == 0 ? 64 : w->caplsz * 2;
		if ((n = reallocarray(w->lsz, cap, sizeof(*n))) == NULL)
			return -ENOMEM;
		w->lsz = n;
		w->caplsz = cap;
	}
	w->lsz[w->nlsz++] = v;
	return 0;
}

/*
 * Follow one lz4 frame at pos (the LZ4 frame format: magic, FLG, BD,
 * content size, header checksum, blocks, end mark, content checksum).
 * Returns 1 when its structure cannot be followed (reported), 0 with
 * *fend and *fdec (decoded bytes, or the declared content size when not
 * decoding; UINT64_MAX unknown), or an error.
 */
static int
lz4_frame(struct walk *w, struct pr_ctx *pc, uint64_t pos, uint64_t fi,
    uint64_t left, uint64_t *fend, uint64_t *fdec, bool *good)
{
	const uint8_t	*p;
	uint64_t	 q, csize = UINT64_MAX;
	uint32_t	 word, bsz, bmax;
	size_t		 hlen, n;
	uint8_t		 flg, bd;
	int		 rc;

	pc->idx = fi;
	pc->found = pos;
	if ((rc = src_get(&w->s, pos, 7, &p)) != 0)
		goto range;
	flg = p[4];
	bd = p[5];
	if ((flg >> 6) != 1 || (flg & 0x02) || (bd & 0x8f) ||
	    ((bd >> 4) & 7) < 4) {
		pc->str = "bad FLG or BD byte";
		sparse_pr(w->rp, PR_SPARSE_LZ4_HEADER, pc);
		return 1;
	}
	bmax = 1u << (8 + 2 * ((bd >> 4) & 7));
	hlen = 7 + (flg & 0x08 ? 8 : 0) + (flg & 0x01 ? 4 : 0);
	if ((rc = src_get(&w->s, pos, hlen, &p)) != 0)
		goto range;
	if (flg & 0x08) {
		csize = le64_at(p + 6);
		if (csize > left) {
			pc->found = csize;
			pc->want = left;
			sparse_pr(w->rp, PR_SPARSE_LZ4_CONTENT_SIZE, pc);
			pc->found = pos;
			*good = false;
		}
	}
	if (w->o->decode) {
		LZ4F_resetDecompressionContext(w->dctx);
		w->dec_ok = true;
		w->dec_end = false;
		w->dec_err = NULL;
		w->dec_bytes = 0;
	}
	if ((rc = lz4_feed(w, p, hlen)) != 0)
		return rc;
	q = pos + hlen;
	for (;;) {
		if ((rc = src_get(&w->s, q, 4, &p)) != 0)
			goto range;
		word = le32_at(p);
		if ((rc = lz4_feed(w, p, 4)) != 0)
			return rc;
		q += 4;
		if (word == 0)
			break;
		bsz = word & 0x7fffffffu;
		if (bsz > bmax) {
			pc->str = "block size beyond the maximum";
			sparse_pr(w->rp, PR_SPARSE_LZ4_HEADER, pc);
			return 1;
		}
		n = bsz + (flg & 0x10 ? 4 : 0);
		if ((rc = src_get(&w->s, q, n, &p)) != 0)
			goto range;
		if ((rc = lz4_feed(w, p, n)) != 0)
			return rc;
		q += n;
	}
	if (flg & 0x04) {
		if ((rc = src_get(&w->s, q, 4, &p)) != 0)
			goto range;
		if ((rc = lz4_feed(w, p, 4)) != 0)
			return rc;
		q += 4;
	}
	*fend = q;
	*fdec = csize;
	if (w->o->decode) {
		if (w->dec_ok && !w->dec_end) {
			w->dec_ok = false;
			w->dec_err = "frame ends early";
		}
		if (!w->dec_ok) {
			pc->str = w->dec_err;
			sparse_pr(w->rp, PR_SPARSE_LZ4_DAMAGE, pc);
			*good = false;
		} else
			*fdec = w->dec_bytes;
	}
	return 0;
range:
	if (rc != -IMG_ERANGE)
		return rc;
	if (w->s.end == w->img->size) {
		/* The file ends inside the payload: a cut stream. */
		pc->found = pc->glen;
		pc->want = w->s.end;
		pc->len = w->s.end - pc->off;
		sparse_pr(w->rp, PR_SPARSE_TRUNC_PAYLOAD, pc);
	} else
		sparse_pr(w->rp, PR_SPARSE_LZ4_TRUNCATED, pc);
	return 1;
}

/*
 * The lz4 frames of one compressed payload at pay.  Returns 0 with
 * *plen when the structure could be followed, 1 when not, or an error.
 */
static int
lz4_payload(struct walk *w, const struct sparse_hdr *h, struct pr_ctx *fpc,
    uint64_t pay, uint64_t *plen, bool *good)
{
	struct pr_ctx	 pc = *fpc;
	const uint8_t	*p;
	uint64_t	 pos = pay, decoded = 0, fend, fdec, first = 0;
	uint64_t	 fi = 0;
	bool		 known = true;
	int		 rc;

	w->nlsz = 0;
	w->gpos = h->start;
	for (;;) {
		if (known && decoded >= h->len && fi > 0)
			break;
		if (src_get(&w->s, pos, 4, &p) != 0 ||
		    le32_at(p) != LZ4_MAGIC) {
			if (fi > 0)
				break;
			pc.idx = 0;
			pc.found = pos;
			pc.str = "no lz4 frame magic";
			sparse_pr(w->rp, PR_SPARSE_LZ4_HEADER, &pc);
			*good = false;
			return 1;
		}
		rc = lz4_frame(w, &pc, pos, fi, known && decoded < h->len ?
		    h->len - decoded : 0, &fend, &fdec, good);
		if (rc != 0) {
			*good = false;
			return rc;
		}
		if ((rc = lsz_push(w, fend - pos)) < 0)
			return rc;
		if (rc > 0)
			*good = false;
		if (fdec == UINT64_MAX)
			known = false;
		else {
			if (fi == 0)
				first = fdec;
			else if (fdec != first && known && decoded + fdec <
			    h->len) {
				pc.idx = fi;
				pc.found = fdec;
				pc.want = first;
				sparse_pr(w->rp, PR_SPARSE_LZ4_PIECES, &pc);
			}
			decoded += fdec;
		}
		pos = fend;
		fi++;
		w->tot.lz4_frames++;
	}
	if (known && decoded != h->len && *good) {
		pc.found = decoded;
		pc.want = h->len;
		sparse_pr(w->rp, PR_SPARSE_LZ4_LENGTH, &pc);
		*good = false;
	}
	*plen = pos - pay;
	return 0;
}

/*
 * Compare the lz4 frames just walked with trailer element el.  The lz4
 * frames decoded and checked are the truth: a wrong trailer puts the
 * restore at risk but not the payload, so *good is left alone.
 */
static void
trailer_compare(struct walk *w, const struct sparse_telem *el, uint64_t plen,
    struct pr_ctx *fpc)
{
	struct pr_ctx	pc = *fpc;
	size_t		i;

	if (el->total != plen) {
		pc.found = plen;
		pc.want = el->total;
		sparse_pr(w->rp, PR_SPARSE_LZ4_PAYLOAD_SIZE, &pc);
		return;
	}
	if (el->first == UINT32_MAX) {
		if (w->nlsz != 1) {
			pc.found = w->nlsz;
			pc.want = 1;
			sparse_pr(w->rp, PR_SPARSE_LZ4_PIECE_COUNT, &pc);
			}
		return;
	}
	if (w->nlsz != el->npieces) {
		pc.found = w->nlsz;
		pc.want = el->npieces;
		sparse_pr(w->rp, PR_SPARSE_LZ4_PIECE_COUNT, &pc);
		return;
	}
	for (i = 0; i < w->nlsz; i++)
		if (w->lsz[i] != w->t.pieces[el->first + i]) {
			pc.idx = i;
			pc.found = w->lsz[i];
			pc.want = w->t.pieces[el->first + i];
			sparse_pr(w->rp, PR_SPARSE_LZ4_PIECE_SIZE, &pc);
			}
}

static bool
is_crlf(struct walk *w, uint64_t off)
{
	const uint8_t	*p;

	return src_get(&w->s, off, 2, &p) == 0 && p[0] == '\r' &&
	    p[1] == '\n';
}

/* Is there a plausible header at off (or the end of the frames)? */
static bool
next_is_header(struct walk *w, uint64_t off)
{
	const uint8_t	*p;

	if (off == w->end)
		return true;
	return src_get(&w->s, off, SPARSE_HDR_LEN, &p) == 0 &&
	    sparse_hdr_plausible(p);
}

/* Hand a plain payload to on_data in window-sized pieces. */
static int
plain_data(struct walk *w, uint64_t pay, uint64_t goff, uint64_t len)
{
	const uint8_t	*p;
	size_t		 n;
	int		 rc;

	while (len > 0) {
		n = len > SPARSE_BUF_LEN ? SPARSE_BUF_LEN : (size_t)len;
		if ((rc = src_get(&w->s, pay, n, &p)) != 0)
			return rc;
		if ((rc = w->o->on_data(w->o->arg, goff, p, n)) != 0)
			return rc;
		pay += n;
		goff += n;
		len -= n;
	}
	return 0;
}

static int
emit_ext(struct walk *w, const struct sparse_hdr *h, uint64_t pay,
    uint64_t plen, bool intact)
{
	struct sparse_ext	e;

	if (w->o->on_ext == NULL)
		return 0;
	memset(&e, 0, sizeof(e));
	e.kind = h->kind;
	e.index = w->idx;
	e.hdr_off = w->off;
	e.start = h->start;
	e.len = h->len;
	e.pay_off = pay;
	e.pay_len = plen;
	e.compressed = h->kind == SK_DATA && w->m.compressed;
	e.intact = intact;
	e.lz4_sizes = w->lsz;
	e.nlz4 = e.compressed ? w->nlsz : 0;
	return w->o->on_ext(w->o->arg, &e);
}

/* One data frame at w->off; sets w->off to the next frame. */
static int
data_frame(struct walk *w, const struct sparse_hdr *h, bool range_ok)
{
	const struct sparse_telem	*el = NULL;
	struct pr_ctx			 pc;
	uint64_t			 pay = w->off + SPARSE_HDR_LEN;
	uint64_t			 plen = h->len, e, next;
	bool				 good = range_ok, found;
	int				 rc;

	frame_pc(w, &pc, h, SPARSE_HDR_LEN);
	if (!w->m.compressed) {
		if (!ck_add_u64(pay, h->len, &e) || !ck_add_u64(e, 2, &e) ||
		    e > w->end) {
			pc.len = w->end - w->off;
			pc.found = h->len;
			pc.want = w->end;
			sparse_pr(w->rp, PR_SPARSE_TRUNC_PAYLOAD, &pc);
			w->done = w->lost = true;
			return emit_ext(w, h, pay, plen, false);
		}
		pc.len = e - w->off;
		if (!is_crlf(w, e - 2)) {
			pc.found = h->len;
			sparse_pr(w->rp, PR_SPARSE_PAYLOAD_NO_CRLF, &pc);
			/*
			 * When the next header starts right after where the
			 * CR LF should be, the length is right and only the
			 * terminator was hit: keep the payload.
			 */
			if (!next_is_header(w, e)) {
				rc = emit_ext(w, h, pay, plen, false);
				if (rc != 0)
					return rc;
				return resync(w, pay, &found);
			}
		}
		if (w->o->on_data != NULL && range_ok &&
		    (rc = plain_data(w, pay, h->start, h->len)) != 0)
			return rc;
		w->tot.stored_bytes += h->len;
		w->data_sum += h->len;
		w->ndata++;
		if ((rc = emit_ext(w, h, pay, plen, good)) != 0)
			return rc;
		w->off = e;
		return 0;
	}
	if (w->t.ok && w->tsync) {
		if (w->ndata < w->t.nel)
			el = &w->t.el[w->ndata];
		else {
			pc.idx = w->ndata;
			sparse_pr(w->rp, PR_SPARSE_TRAILER_TOO_FEW, &pc);
		}
		if (el != NULL && !el->valid)
			el = NULL;
	}
	w->ndata++;
	w->data_sum += h->len;
	rc = lz4_payload(w, h, &pc, pay, &plen, &good);
	if (rc < 0)
		return rc;
	next = 0;
	if (rc == 0) {
		if (el != NULL)
			trailer_compare(w, el, plen, &pc);
		if (ck_add_u64(pay, plen, &e) && is_crlf(w, e))
			next = e + 2;
	}
	if (next == 0 && el != NULL && ck_add_u64(pay, el->total, &e) &&
	    is_crlf(w, e)) {
		/* The structure was lost but the trailer size holds. */
		plen = el->total;
		next = e + 2;
		good = false;
	}
	if (next == 0) {
		pc.len = rc == 0 && pay + plen + 2 <= w->end ?
		    plen + 2 + SPARSE_HDR_LEN : SPARSE_HDR_LEN;
		pc.found = plen;
		if (rc == 0 && pay + plen + 2 > w->end) {
			pc.want = w->end;
			sparse_pr(w->rp, PR_SPARSE_TRUNC_PAYLOAD, &pc);
		} else if (rc == 0)
			sparse_pr(w->rp, PR_SPARSE_PAYLOAD_NO_CRLF, &pc);
		if ((rc = emit_ext(w, h, pay, plen, false)) != 0)
			return rc;
		return resync(w, pay, &found);
	}
	w->tot.stored_bytes += plen;
	if ((rc = emit_ext(w, h, pay, plen, good)) != 0)
		return rc;
	w->off = next;
	return 0;
}

/* Report what is wrong with a header; false when it cannot be used. */
static bool
header_check(struct walk *w, const struct sparse_hdr *h, struct pr_ctx *pc)
{
	if (h->flags & SH_BAD_KIND) {
		pc->str = h->word;
		sparse_pr(w->rp, PR_SPARSE_BAD_KIND, pc);
	}
	if (h->flags & SH_NONHEX) {
		pc->str = h->bad_field;
		pc->found = h->bad_byte;
		sparse_pr(w->rp, PR_SPARSE_NONHEX, pc);
	}
	if (h->flags & (SH_BAD_KIND | SH_NONHEX))
		return false;
	if (h->flags & SH_BAD_SEP) {
		pc->found = h->bad_byte;
		sparse_pr(w->rp, PR_SPARSE_BAD_SEPARATOR, pc);
	}
	if (h->flags & SH_TERM_BAD) {
		pc->found = h->term;
		sparse_pr(w->rp, PR_SPARSE_HDR_TERM, pc);
	}
	sparse_hdr_report_lenient(w->rp, h, pc);
	pc->str = NULL;
	pc->found = pc->want = 0;
	return true;
}

static int
walk_frames(struct walk *w)
{
	struct sparse_hdr	 h;
	struct pr_ctx		 pc;
	const uint8_t		*p;
	bool			 found, range_ok;
	int			 rc;

	while (!w->done) {
		img_progress(w->img, w->off, w->end);
		if (img_interrupted()) {
			memset(&pc, 0, sizeof(pc));
			pc.str = "the end of the stream";
			sparse_pr(w->rp, PR_CORE_INTERRUPTED, &pc);
			w->done = w->lost = true;
			break;
		}
		if (w->end - w->off == 0) {
			frame_pc(w, &pc, NULL, 0);
			pc.found = w->off;
			pc.path = "frames";
			sparse_pr(w->rp, PR_SPARSE_MISSING_STOP, &pc);
			w->done = true;
			break;
		}
		if (w->end - w->off < SPARSE_HDR_LEN) {
			frame_pc(w, &pc, NULL, w->end - w->off);
			pc.found = w->end - w->off;
			pc.want = SPARSE_HDR_LEN;
			sparse_pr(w->rp, PR_SPARSE_TRUNC_HEADER, &pc);
			w->done = w->lost = true;
			break;
		}
		if ((rc = src_get(&w->s, w->off, SPARSE_HDR_LEN, &p)) != 0)
			return rc;
		sparse_hdr_parse(p, &h);
		frame_pc(w, &pc, &h, SPARSE_HDR_LEN);
		w->tot.frames++;
		if (!header_check(w, &h, &pc)) {
			w->idx++;
			if ((rc = resync(w, w->off + 1, &found)) != 0)
				return rc;
			continue;
		}
		switch (h.kind) {
		case SK_META:
		case SK_COMP:
			pc.str = sparse_kind_name(h.kind);
			sparse_pr(w->rp, PR_SPARSE_MISPLACED_KIND, &pc);
			w->idx++;
			if ((rc = resync(w, w->off + 1, &found)) != 0)
				return rc;
			continue;
		case SK_STOP:
			if (h.start != 0 || h.len != 0) {
				pc.found = h.start;
				pc.want = h.len;
				sparse_pr(w->rp, PR_SPARSE_STOP_NONZERO, &pc);
			}
			w->stopped = w->done = true;
			w->stop_off = w->off;
			w->off += SPARSE_HDR_LEN;
			break;
		case SK_ZERO:
			range_ok = extent_check(w, &h, &pc);
			w->tot.zero_frames++;
			w->tot.zero_bytes += h.len;
			if ((rc = emit_ext(w, &h, 0, 0, range_ok)) != 0)
				return rc;
			w->off += SPARSE_HDR_LEN;
			break;
		case SK_DATA:
			range_ok = extent_check(w, &h, &pc);
			w->tot.data_frames++;
			w->tot.data_bytes += h.len;
			if ((rc = data_frame(w, &h, range_ok)) != 0)
				return rc;
			break;
		case SK_UNKNOWN:
			break;
		}
		w->idx++;
	}
	return 0;
}

/* After the walk: what follows stop, the trailer count and the totals. */
static void
walk_end(struct walk *w)
{
	struct pr_ctx	 pc;
	struct sparse_hdr h;
	const uint8_t	*p;
	uint64_t	 stop_end = w->stop_off + SPARSE_HDR_LEN;
	uint64_t	 size = w->img->size;

	if (!w->stopped)
		return;
	memset(&pc, 0, sizeof(pc));
	pc.flags = PC_HOST;
	pc.path = "frames";
	pc.off = stop_end;
	w->tot.stop_end = stop_end;
	w->tot.complete = true;
	if (w->m.compressed && w->t.located) {
		if (stop_end < w->t.json_off) {
			pc.len = pc.found = w->t.json_off - stop_end;
			sparse_pr(w->rp, PR_SPARSE_BYTES_AFTER_STOP, &pc);
		} else if (stop_end > w->t.json_off) {
			pc.off = w->stop_off;
			pc.len = SPARSE_HDR_LEN;
			pc.found = stop_end;
			pc.want = w->t.json_off;
			sparse_pr(w->rp, PR_SPARSE_STOP_TRAILER, &pc);
		}
	} else if (w->m.compressed && w->t.damaged) {
		/* The bytes after stop are the trailer we reported. */
	} else if (stop_end < size) {
		pc.len = pc.found = size - stop_end;
		w->s.end = size;
		if (!w->m.compressed && size - stop_end >= SPARSE_HDR_LEN + 4 &&
		    src_get(&w->s, size - SPARSE_HDR_LEN, SPARSE_HDR_LEN,
		    &p) == 0 && (sparse_hdr_parse(p, &h), h.kind == SK_COMP) &&
		    !(h.flags & SH_NONHEX))
			sparse_pr(w->rp, PR_SPARSE_TRAILER_UNEXPECTED, &pc);
		else
			sparse_pr(w->rp, PR_SPARSE_BYTES_AFTER_STOP, &pc);
	}
	if (w->t.ok && w->tsync && w->t.nel > w->ndata) {
		pc.off = w->t.json_off;
		pc.len = w->t.json_len;
		pc.path = "trailer";
		pc.found = w->t.nel;
		pc.want = w->ndata;
		sparse_pr(w->rp, PR_SPARSE_TRAILER_TOO_MANY, &pc);
	}
	pc.off = w->stop_off;
	pc.len = SPARSE_HDR_LEN;
	pc.path = "frames/stop";
	if (w->m.has_dsize && w->data_sum != w->m.data_size) {
		pc.found = w->data_sum;
		pc.want = w->m.data_size;
		sparse_pr(w->rp, PR_SPARSE_DATASIZE, &pc);
	}
	if (w->full && w->m.has_vsize && w->cover < w->m.virtual_size) {
		pc.found = w->cover;
		pc.want = w->m.virtual_size;
		pc.flags |= PC_GUEST;
		pc.goff = w->cover;
		pc.glen = w->m.virtual_size - w->cover;
		sparse_pr(w->rp, PR_SPARSE_COVERAGE_END, &pc);
	}
}

int
sparse_walk(struct img *img, struct report *rp,
    const struct sparse_walk_opts *o, struct sparse_totals *tot)
{
	struct walk	*w;
	bool		 found;
	int		 rc;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return -ENOMEM;
	w->img = img;
	w->rp = rp;
	w->o = o;
	w->s.img = img;
	if ((w->s.buf = malloc(SPARSE_BUF_LEN)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if (o->decode) {
		if (LZ4F_isError(LZ4F_createDecompressionContext(&w->dctx,
		    LZ4F_VERSION)) || (w->dec = malloc(SPARSE_DEC_LEN)) ==
		    NULL) {
			rc = -ENOMEM;
			goto out;
		}
	}
	if ((rc = sparse_meta_read(img, &w->m, rp)) != 0)
		goto out;
	if (w->m.start == SS_NONE)
		goto out;
	w->full = w->m.json != NULL && !w->m.incremental;
	w->end = img->size;
	if (w->m.compressed) {
		if ((rc = sparse_trailer_read(img, &w->m, &w->t, rp)) != 0)
			goto out;
		if (w->t.ok)
			w->end = w->t.json_off;
	}
	w->s.end = w->end;
	w->tsync = true;
	w->off = w->m.first_frame;
	if (w->m.start == SS_RESYNC) {
		if (w->off > w->end)
			w->off = w->end;
		rc = resync(w, w->off, &found);
		w->tsync = true;
		if (rc != 0)
			goto out;
	}
	if ((rc = walk_frames(w)) != 0)
		goto out;
	walk_end(w);
	if (o->chksum && (rc = sparse_chksum_check(img, rp)) != 0)
		goto out;
	if (w->t.located)
		w->tot.trailer_off = w->t.json_off;
	if (tot != NULL)
		*tot = w->tot;
out:
	if (w->dctx != NULL)
		LZ4F_freeDecompressionContext(w->dctx);
	free(w->dec);
	free(w->lsz);
	free(w->s.buf);
	sparse_trailer_release(&w->t);
	sparse_meta_release(&w->m);
	free(w);
	return rc;
}
