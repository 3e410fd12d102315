/* SPDX-License-Identifier: MIT */
/*
 * sparse_describe.c --- name and decode the sparse stream field under a
 * host byte, for the viewer.
 *
 * A stream is text headers between payloads (spec section 2): the
 * caller's host map says which frame a byte is in ("frame-header",
 * "stop", "meta", "frame-data", "trailer"), and a header's 40 bytes are
 * decoded here field by field: kind word, start and length, the CR LF.
 * The length of an uncompressed data frame, or of a zero frame, points
 * at the next header.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sparse/sparse.h"
#include "core/banned.h"

static bool
sd_is(const struct img_where *w, const char *cls)
{
	return w != NULL && w->cls != NULL && strcmp(w->cls, cls) == 0;
}

/* "frame 12 guest ...": 12; else -1. */
static int64_t
sd_frame_idx(const struct img_where *w)
{
	char		*end;
	unsigned long	 v;

	if (w == NULL || w->owner == NULL || strncmp(w->owner, "frame ", 6))
		return -1;
	v = strtoul(w->owner + 6, &end, 10);
	return end == w->owner + 6 ? -1 : (int64_t)v;
}

/* Byte off inside the header at hdr: its field. */
static int
sd_header(struct img *img, uint64_t hdr, uint64_t off, int64_t idx,
    struct img_field *f)
{
	const struct sparse	*sp = img->priv;
	struct sparse_hdr	 h;
	uint8_t			 b[SPARSE_HDR_LEN];
	char			 pre[32];
	uint64_t		 rel = off - hdr, next;
	int			 rc;

	if ((rc = img_pread_zf(img, hdr, b, sizeof(b), NULL)) != 0)
		return rc;
	sparse_hdr_parse(b, &h);
	if (idx >= 0)
		snprintf(pre, sizeof(pre), "frame[%" PRId64 "]", idx);
	else
		snprintf(pre, sizeof(pre), "%s", h.kind == SK_META ? "meta" :
		    h.kind == SK_STOP ? "stop" : h.kind == SK_COMP ?
		    "trailer" : "frame");
	if (rel < 4) {
		snprintf(f->name, sizeof(f->name), "%s.kind", pre);
		f->off = hdr;
		f->len = 4;
		snprintf(f->meaning, sizeof(f->meaning), "\"%s\"%s", h.word,
		    h.flags & SH_BAD_KIND ? " (not a kind)" : "");
	} else if (rel >= 5 && rel < 21) {
		snprintf(f->name, sizeof(f->name), "%s.start", pre);
		f->off = hdr + 5;
		f->len = 16;
		f->value = h.start;
		f->has_value = true;
		snprintf(f->meaning, sizeof(f->meaning), "guest 0x%" PRIx64,
		    h.start);
	} else if (rel >= 22 && rel < 38) {
		snprintf(f->name, sizeof(f->name), "%s.length", pre);
		f->off = hdr + 22;
		f->len = 16;
		f->value = h.len;
		f->has_value = true;
		snprintf(f->meaning, sizeof(f->meaning), "%" PRIu64 " bytes%s",
		    h.len, h.kind == SK_META ? " of JSON" : "");
		/* Where the next header is, when the length says. */
		next = 0;
		if (h.kind == SK_ZERO || h.kind == SK_STOP)
			next = hdr + SPARSE_HDR_LEN;
		else if ((h.kind == SK_DATA && !sp->meta.compressed) ||
		    h.kind == SK_META) {
			if (!ck_add_u64(hdr, SPARSE_HDR_LEN + 2, &next) ||
			    !ck_add_u64(next, h.len, &next))
				next = 0;
		}
		if (next != 0 && next < img_file_size(img)) {
			f->target = next;
			f->has_target = true;
		}
	} else if (rel >= 38) {
		snprintf(f->name, sizeof(f->name), "%s.end", pre);
		f->off = hdr + 38;
		f->len = 2;
		snprintf(f->meaning, sizeof(f->meaning), "%s",
		    h.flags & (SH_TERM_SPACE | SH_TERM_BAD) ? "not CR LF" :
		    "CR LF");
	} else {
		snprintf(f->name, sizeof(f->name), "%s.separator", pre);
		f->off = off;
		f->len = 1;
		snprintf(f->meaning, sizeof(f->meaning), "%s",
		    b[rel] == ' ' ? "space" : "not a space");
	}
	return 0;
}

int
sparse_describe(struct img *img, uint64_t off, const struct img_where *w,
    struct img_field *f)
{
	uint64_t	hdr, size = img_file_size(img);
	int64_t		idx = sd_frame_idx(w);

	if (w == NULL || off < w->run_off)
		return -IMG_ENOOP;
	if (sd_is(w, "frame-header") || sd_is(w, "stop")) {
		hdr = w->run_off + (off - w->run_off) / SPARSE_HDR_LEN *
		    SPARSE_HDR_LEN;
		return sd_header(img, hdr, off, idx, f);
	}
	if (sd_is(w, "meta") && off < SPARSE_HDR_LEN)
		return sd_header(img, 0, off, -1, f);
	if (sd_is(w, "trailer") && size >= SPARSE_HDR_LEN &&
	    off >= size - SPARSE_HDR_LEN)
		return sd_header(img, size - SPARSE_HDR_LEN, off, -1, f);
	if (sd_is(w, "meta") || sd_is(w, "trailer")) {
		snprintf(f->name, sizeof(f->name), "%s.json", w->cls);
		f->off = sd_is(w, "meta") ? SPARSE_HDR_LEN : w->run_off;
		f->len = 1;
		snprintf(f->meaning, sizeof(f->meaning), "%s",
		    sd_is(w, "meta") ? "meta frame JSON" :
		    "compression trailer JSON (lz4 frame sizes)");
		return 0;
	}
	if (sd_is(w, "frame-data")) {
		if (idx >= 0)
			snprintf(f->name, sizeof(f->name), "frame[%" PRId64
			    "].payload", idx);
		else
			snprintf(f->name, sizeof(f->name), "frame.payload");
		f->off = off;
		f->len = 1;
		snprintf(f->meaning, sizeof(f->meaning), "%s", w->owner !=
		    NULL ? w->owner : "payload");
		return 0;
	}
	return -IMG_ENOOP;
}
