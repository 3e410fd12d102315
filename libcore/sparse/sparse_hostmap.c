/* SPDX-License-Identifier: MIT */
/*
 * sparse_hostmap.c --- what every byte of a sparse stream file is.
 *
 * The walker (sparse_walk.c) visits every frame once, as for the check:
 * its extent callback gives each data and zero frame's header and
 * payload, its totals the stop frame and the trailer, the meta frame is
 * the one open() decoded, and its findings carry the host bytes they are
 * about.  We claim the meta frame ("meta"), each frame's header
 * ("frame-header") and payload with its CR LF ("frame-data"), the stop
 * frame ("stop") and the compression trailer with its comp header
 * ("trailer").  A damaged frame's payload is cut at the next structure
 * the walk found (its length cannot be trusted); a payload the file cut
 * short runs past its end (when stored plain: a compressed payload's
 * stored size is unknown).  Bytes no frame holds (skipped while
 * resynchronising, after the stream, a stream we cannot read) are
 * "garbage".  Every claim carries the codes of the findings whose host
 * range meets it, so a damaged frame shows the check's problem code.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sparse/sparse.h"
#include "core/banned.h"

enum shm_what {
	SHM_META,
	SHM_HDR,
	SHM_DATA,
	SHM_STOP,
	SHM_TRAILER,
	SHM_GARBAGE
};

struct shm_ent {
	uint64_t	 off;
	uint64_t	 end;
	uint64_t	 idx;		/* frame index */
	uint64_t	 gstart;	/* guest range of the frame */
	uint64_t	 glen;
	enum shm_what	 what;
	bool		 clip;		/* end is a guess: cut at the next */
	bool		 comp;		/* lz4: a guess from the guest length */
	uint8_t		 ncodes;
	uint32_t	 codes[HMAP_MAX_OWNERS];	/* findings met */
};


struct shm {
	struct shm_ent	*e;
	size_t		 n;
	size_t		 cap;
	uint64_t	 size;
};

static int
shm_push(struct shm *s, enum shm_what what, uint64_t off, uint64_t len)
{
	struct shm_ent	*n;
	size_t		 cap;

	if (len == 0)
		return 0;
	if (s->n == s->cap) {
		cap = s->cap == 0 ? 256 : s->cap * 2;
		if ((n = reallocarray(s->e, cap, sizeof(*n))) == NULL)
			return -ENOMEM;
		s->e = n;
		s->cap = cap;
	}
	n = &s->e[s->n++];
	memset(n, 0, sizeof(*n));
	n->what = what;
	n->off = off;
	if (!ck_add_u64(off, len, &n->end))
		n->end = UINT64_MAX;
	return 0;
}

static int
shm_ext(void *arg, const struct sparse_ext *x)
{
	struct shm	*s = arg;
	uint64_t	 len;
	int		 rc;

	if ((rc = shm_push(s, SHM_HDR, x->hdr_off, SPARSE_HDR_LEN)) != 0)
		return rc;
	s->e[s->n - 1].idx = x->index;
	s->e[s->n - 1].gstart = x->start;
	s->e[s->n - 1].glen = x->len;
	if (x->kind != SK_DATA)
		return 0;
	/* The payload and its CR LF (section 3). */
	if (!ck_add_u64(x->pay_len, 2, &len))
		len = UINT64_MAX;
	if ((rc = shm_push(s, SHM_DATA, x->pay_off, len)) != 0)
		return rc;
	s->e[s->n - 1].idx = x->index;
	s->e[s->n - 1].gstart = x->start;
	s->e[s->n - 1].glen = x->len;
	s->e[s->n - 1].clip = !x->intact;
	s->e[s->n - 1].comp = x->compressed;
	return 0;
}

static int
ent_cmp(const void *a, const void *b)
{
	const struct shm_ent	*x = a, *y = b;

	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return (int)x->what - (int)y->what;
}


static const char *const shm_cls[] = {
	[SHM_META] = "meta",
	[SHM_HDR] = "frame-header",
	[SHM_DATA] = "frame-data",
	[SHM_STOP] = "stop",
	[SHM_TRAILER] = "trailer",
	[SHM_GARBAGE] = "garbage",
};

static const char *
ent_owner(const struct shm_ent *e, char *buf, size_t len)
{
	switch (e->what) {
	case SHM_HDR:
	case SHM_DATA:
		snprintf(buf, len, "frame %llu guest 0x%llx+0x%llx",
		    (unsigned long long)e->idx,
		    (unsigned long long)e->gstart,
		    (unsigned long long)e->glen);
		return buf;
	case SHM_GARBAGE:
		return NULL;
	default:
		return shm_cls[e->what];
	}
}

/* The meta, stop and trailer claims, from open() and the walk's totals. */
static int
shm_frames(struct shm *s, const struct sparse_meta *m,
    const struct sparse_totals *tot, const struct report *rp)
{
	uint64_t	len;
	size_t		i;
	bool		damaged_trailer = false;
	int		rc;

	if (m->start == SS_AT && m->first_frame > 0)
		rc = shm_push(s, SHM_META, 0, m->first_frame);
	else if (m->start == SS_RESYNC) {
		/* The JSON length is suspect: claim what it says. */
		len = SPARSE_HDR_LEN + m->json_len;
		if (len > s->size)
			len = s->size;
		rc = shm_push(s, SHM_META, 0, len);
	} else
		rc = 0;
	if (rc != 0)
		return rc;
	if (tot->complete && (rc = shm_push(s, SHM_STOP,
	    tot->stop_end - SPARSE_HDR_LEN, SPARSE_HDR_LEN)) != 0)
		return rc;
	if (tot->trailer_off != 0 && tot->trailer_off < s->size)
		return shm_push(s, SHM_TRAILER, tot->trailer_off,
		    s->size - tot->trailer_off);
	/*
	 * A comp header we could not read still ends the file, and the
	 * walk took the bytes after stop for the trailer it reported.
	 */
	for (i = 0; i < rp->nf; i++)
		if (rp->f[i].id == PR_SPARSE_TRAILER_HEADER)
			damaged_trailer = true;
	if (m->compressed && tot->complete && damaged_trailer &&
	    tot->stop_end < s->size)
		return shm_push(s, SHM_TRAILER, tot->stop_end,
		    s->size - tot->stop_end);
	return 0;
}

/* Cut guessed payloads at the next claim, then fill the gaps. */
static int
shm_tile(struct shm *s)
{
	uint64_t	cover = 0;
	size_t		i, j, n;
	int		rc;

	if (s->n > 0)
		qsort(s->e, s->n, sizeof(*s->e), ent_cmp);
	for (i = 0; i < s->n; i++) {
		if (!s->e[i].clip)
			continue;
		for (j = i + 1; j < s->n && s->e[j].off <= s->e[i].off; j++)
			;
		if (j < s->n && s->e[j].off < s->e[i].end)
			s->e[i].end = s->e[j].off;
		/*
		 * A plain payload the file cut short has the header's length;
		 * a compressed one's stored size is unknown: no past-end.
		 */
		if (s->e[i].comp && s->e[i].end > s->size &&
		    s->e[i].off < s->size)
			s->e[i].end = s->size;
	}
	n = s->n;
	for (i = 0; i < n; i++) {
		if (s->e[i].off > cover && cover < s->size && (rc = shm_push(s,
		    SHM_GARBAGE, cover, (s->e[i].off < s->size ?
		    s->e[i].off : s->size) - cover)) != 0)
			return rc;
		if (s->e[i].end > cover)
			cover = s->e[i].end;
	}
	if (cover < s->size &&
	    (rc = shm_push(s, SHM_GARBAGE, cover, s->size - cover)) != 0)
		return rc;
	if (s->n > n)
		qsort(s->e, s->n, sizeof(*s->e), ent_cmp);
	return 0;
}

static void
codes_add(uint32_t *codes, uint8_t *n, uint32_t code)
{
	uint8_t	i;

	for (i = 0; i < *n; i++)
		if (codes[i] == code)
			return;
	if (*n < HMAP_MAX_OWNERS)
		codes[(*n)++] = code;
}

/* Each claim gets the codes of the findings whose host bytes it meets. */
static int
shm_codes(struct shm *s, const struct hm_find *f, size_t nf)
{
	struct shm_ent	*e;
	size_t		*act, nact = 0, i, j = 0, k;

	if (nf == 0)
		return 0;
	if ((act = calloc(nf, sizeof(*act))) == NULL)
		return -ENOMEM;
	for (i = 0; i < s->n; i++) {
		e = &s->e[i];
		while (j < nf && f[j].off < e->end)
			act[nact++] = j++;
		for (k = 0; k < nact; ) {
			if (f[act[k]].end <= e->off) {
				/* Claims only move on: it is behind us. */
				act[k] = act[--nact];
				continue;
			}
			if (f[act[k]].off < e->end)
				codes_add(e->codes, &e->ncodes, f[act[k]].code);
			k++;
		}
	}
	free(act);
	return 0;
}

/*
 * A finding is about a frame: its header and its payload show the codes
 * of both (lz4 damage is reported at the header, the bytes at fault are
 * the payload's).  The header sits just before the payload.
 */
static void
shm_frame_codes(struct shm *s)
{
	struct shm_ent	*d, *h;
	size_t		 i, j;
	uint8_t		 k;

	for (i = 0; i < s->n; i++) {
		d = &s->e[i];
		if (d->what != SHM_DATA)
			continue;
		for (j = i; j-- > 0 &&
		    s->e[j].off + SPARSE_HDR_LEN >= d->off; ) {
			h = &s->e[j];
			if (h->what != SHM_HDR || h->idx != d->idx ||
			    h->off + SPARSE_HDR_LEN != d->off)
				continue;
			for (k = 0; k < h->ncodes; k++)
				codes_add(d->codes, &d->ncodes, h->codes[k]);
			for (k = 0; k < d->ncodes; k++)
				codes_add(h->codes, &h->ncodes, d->codes[k]);
			break;
		}
	}
}

/* Hand each claim to the core, once per code it carries. */
static int
shm_emit(struct shm *s, struct hmap_sink *hs)
{
	const struct shm_ent	*e;
	const char		*owner;
	char			 obuf[96];
	size_t			 i;
	uint8_t			 k;
	int			 rc = 0;

	for (i = 0; i < s->n && rc == 0; i++) {
		e = &s->e[i];
		owner = ent_owner(e, obuf, sizeof(obuf));
		if (e->ncodes == 0)
			rc = hm_add(hs, e->off, e->end - e->off,
			    shm_cls[e->what], owner, 0);
		for (k = 0; k < e->ncodes && rc == 0; k++)
			rc = hm_add(hs, e->off, e->end - e->off,
			    shm_cls[e->what], owner, e->codes[k]);
	}
	return rc;
}

int
sparse_hostmap(struct img *img, struct hmap_sink *hs)
{
	struct sparse		*sp = img->priv;
	struct sparse_walk_opts	 wo;
	struct sparse_totals	 tot;
	struct hm_find		*f = NULL;
	struct report		 rp;
	struct shm		 s;
	size_t			 nf = 0;
	int			 rc;

	memset(&wo, 0, sizeof(wo));
	memset(&tot, 0, sizeof(tot));
	memset(&s, 0, sizeof(s));
	s.size = img->size;
	report_init(&rp);
	/* Decode as the check does, so lz4 damage has its code here too. */
	wo.decode = true;
	wo.on_ext = shm_ext;
	wo.arg = &s;
	if ((rc = sparse_walk(img, &rp, &wo, &tot)) != 0)
		goto out;
	if (img_interrupted()) {
		rc = -EINTR;
		goto out;
	}
	if ((rc = shm_frames(&s, &sp->meta, &tot, &rp)) != 0 ||
	    (rc = shm_tile(&s)) != 0 ||
	    (rc = hm_findings(&rp, &f, &nf)) != 0)
		goto out;
	if ((rc = shm_codes(&s, f, nf)) != 0)
		goto out;
	shm_frame_codes(&s);
	rc = shm_emit(&s, hs);
out:
	free(f);
	free(s.e);
	report_release(&rp);
	return rc;
}
