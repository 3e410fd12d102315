/* SPDX-License-Identifier: MIT */
/*
 * a7_hostmap.c --- what every block of an archive7 file is.
 *
 * The analysis (a7_analyse(), the check's one pass over blocks, chains
 * and trees) leaves one struct a7_blk per block with its state and the
 * stream that owns it; its findings name the blocks at fault.  A block is
 * "meta" (block 0), "block" (a data stream's, owned by the stream and its
 * file as the guest map names them), "registry" (the stream registry's
 * tree), "tree" (entries, paths, listings), "free" (in the trash, the
 * free-block list), "leaked" (owned by no chain), "damaged" (does not
 * decrypt, or its digest fails) or "encrypted" (no key, or a key that
 * opens nothing).  Bytes past the last whole block are "garbage".  Each
 * block carries the codes of the findings about it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "a7/a7.h"
#include "core/banned.h"

/* Class of block b (b < nblocks), and its owner into buf (or NULL). */
static const char *
a7h_class(const struct a7 *a, uint64_t b, char *buf, size_t len,
    const char **owner)
{
	const struct a7_blk	*bk = &a->blk[b];
	int			 slot;

	*owner = NULL;
	if (bk->st == A7_BS_NOKEY || a->keyfail)
		return "encrypted";
	a7_owner_str(a, b, buf, len);
	*owner = buf;
	if (b == 0)
		return "meta";
	if (bk->st != A7_BS_OK || (bk->flags & A7_BF_DIGEST_BAD))
		return "damaged";
	if (bk->owner < 0 || (size_t)bk->owner >= a->nst)
		return "leaked";
	slot = a->st[bk->owner].slot;
	if (slot == 0)
		return "free";
	if (slot == 1)
		return "registry";
	if (slot > 1)
		return "tree";
	return "block";
}

/*
 * Claim [off, off + len) once per code of the findings that meet it.
 * act holds the findings that may still meet it (by start), *nact long.
 */
static int
a7h_claim(struct hmap_sink *hs, uint64_t off, uint64_t len, const char *cls,
    const char *owner, const struct hm_find *f, size_t nf, size_t *act,
    size_t *nact, size_t *next)
{
	uint32_t	codes[HMAP_MAX_OWNERS];
	size_t		ncodes = 0, k, c;
	uint64_t	end = off + len;
	int		rc = 0;

	while (*next < nf && f[*next].off < end)
		act[(*nact)++] = (*next)++;
	for (k = 0; k < *nact; ) {
		if (f[act[k]].end <= off) {
			/* Blocks only move on: it is behind us. */
			act[k] = act[--*nact];
			continue;
		}
		if (f[act[k]].off < end) {
			for (c = 0; c < ncodes; c++)
				if (codes[c] == f[act[k]].code)
					break;
			if (c == ncodes && ncodes < HMAP_MAX_OWNERS)
				codes[ncodes++] = f[act[k]].code;
		}
		k++;
	}
	if (ncodes == 0)
		return hm_add(hs, off, len, cls, owner, 0);
	for (c = 0; c < ncodes && rc == 0; c++)
		rc = hm_add(hs, off, len, cls, owner, codes[c]);
	return rc;
}

int
a7_hostmap(struct img *img, struct hmap_sink *hs)
{
	struct a7	*a = img->priv;
	struct hm_find	*f = NULL;
	struct report	 rp;
	const char	*cls, *owner;
	char		 obuf[512];
	size_t		*act = NULL, nact = 0, next = 0, nf = 0;
	uint64_t	 b, whole;
	int		 rc;

	report_init(&rp);
	/* The check's analysis, run again for its findings. */
	rc = a7_analyse(img, &rp);
	if (rc != 0 && rc != -IMG_EKEY)
		goto out;
	if ((rc = hm_findings(&rp, &f, &nf)) != 0)
		goto out;
	if (nf > 0 && (act = calloc(nf, sizeof(*act))) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	whole = a->blk != NULL ? a->nblocks : 0;
	for (b = 0; b < whole; b++) {
		if ((b & 0xffff) == 0 && img_interrupted()) {
			rc = -EINTR;
			goto out;
		}
		cls = a7h_class(a, b, obuf, sizeof(obuf), &owner);
		if ((rc = a7h_claim(hs, b * A7_BLOCK, A7_BLOCK, cls, owner, f,
		    nf, act, &nact, &next)) != 0)
			goto out;
	}
	/* §1: bytes past the last whole block belong to no block. */
	if (img->size > whole * A7_BLOCK)
		rc = a7h_claim(hs, whole * A7_BLOCK, img->size - whole *
		    A7_BLOCK, "garbage", NULL, f, nf, act, &nact, &next);
out:
	free(act);
	free(f);
	report_release(&rp);
	return rc;
}
