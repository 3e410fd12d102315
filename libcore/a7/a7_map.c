/* SPDX-License-Identifier: MIT */
/*
 * a7_map.c --- which stream (and file) owns each block, and extraction
 * of one file's bytes with its digests verified on the way.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "a7/a7.h"
#include "core/banned.h"

/* Ensure the analysis has run; its findings go to a scratch report. */
static int
a7_need(struct img *img)
{
	struct a7	*a = img->priv;
	struct report	 rp;
	int		 rc;

	if (a->analysed)
		return a->arc;
	report_init(&rp);
	rc = a7_analyse(img, &rp);
	report_release(&rp);
	return rc;
}

void
a7_owner_str(const struct a7 *a, uint64_t b, char *buf, size_t len)
{
	const struct a7_blk	*bk = &a->blk[b];
	char			 name[64];
	long			 e;

	if (b == 0) {
		snprintf(buf, len, "meta");
		return;
	}
	if (bk->owner >= 0) {
		a7_stream_name(a, (size_t)bk->owner, name, sizeof(name));
		e = a->st[bk->owner].entry;
		snprintf(buf, len, "stream %s%s%s", name, e >= 0 ? " " : "",
		    e >= 0 ? a->ent[e].path : "");
		return;
	}
	if (bk->st == A7_BS_NOKEY)
		snprintf(buf, len, "encrypted");
	else if (bk->st != A7_BS_OK)
		snprintf(buf, len, "unreadable");
	else if (bk->flags & A7_BF_BLANK)
		snprintf(buf, len, "orphan (blank)");
	else
		snprintf(buf, len, "orphan");
}

int
a7_map(struct img *img, const struct map_req *rq, map_fn *fn,
    void *arg)
{
	(void)rq;
	struct a7	*a = img->priv;
	struct map_ext	 ext;
	char		 cur[512], nxt[512];
	uint64_t	 b, start = 0;
	bool		 zero = false;
	int		 rc;

	rc = a7_need(img);
	if (rc != 0 && rc != -IMG_EKEY)
		return rc;
	if (a->nblocks == 0 || a->blk == NULL)
		return 0;
	a7_owner_str(a, 0, cur, sizeof(cur));
	for (b = 1; b <= a->nblocks; b++) {
		if (b < a->nblocks) {
			a7_owner_str(a, b, nxt, sizeof(nxt));
			if (strcmp(nxt, cur) == 0 && ((a->blk[b].flags &
			    A7_BF_BLANK) != 0) == zero)
				continue;
		}
		memset(&ext, 0, sizeof(ext));
		ext.start = start * A7_BLOCK;
		ext.length = (b - start) * A7_BLOCK;
		ext.offset = ext.start;
		ext.has_offset = true;
		ext.present = true;
		/* Owned blank blocks (the trash) are still in use. */
		ext.zero = zero;
		ext.data = !zero || a->blk[start].owner != A7_OWN_NONE;
		ext.owner = cur;
		if ((rc = fn(arg, &ext)) != 0)
			return rc;
		if (b < a->nblocks) {
			start = b;
			zero = (a->blk[b].flags & A7_BF_BLANK) != 0;
			memcpy(cur, nxt, sizeof(cur));
		}
	}
	return 0;
}

int
a7_extract(struct img *img, const char *what, int fd, struct report *rp)
{
	struct a7		*a = img->priv;
	const struct a7_stream	*st;
	const struct a7_ent	*e = NULL;
	uint8_t			 plain[A7_PLAIN], md[20];
	uint64_t		 left;
	char			 where[512];
	uint32_t		 k;
	int32_t			 b;
	size_t			 i, n;
	int			 rc;

	if (what == NULL)
		return -IMG_EINVAL;
	if ((rc = a7_need(img)) != 0)
		return rc;
	for (i = 0; i < a->nent; i++)
		if (a->ent[i].type == 'f' && strcmp(a->ent[i].path, what) ==
		    0 && (e == NULL || e->deleted))
			e = &a->ent[i];
	if (e == NULL)
		return -ENOENT;
	if (a7_is_nil(e->sid))
		return 0;
	if (e->stream < 0)
		return -IMG_ECHECK;
	st = &a->st[e->stream];
	left = st->length;
	for (k = 0, b = st->begin; k < st->wcount && left > 0; k++) {
		struct pr_ctx	pc = { .off = (uint64_t)b * A7_BLOCK,
		    .len = A7_BLOCK, .idx = (uint64_t)b, .path = where,
		    .flags = PC_HOST | PC_GUEST,
		    .goff = (uint64_t)k * A7_DATA };

		n = left < A7_DATA ? (size_t)left : A7_DATA;
		pc.glen = n;
		a7_where(a, where, sizeof(where), b, e->stream);
		if ((rc = a7_blk_read(img, (uint64_t)b, plain)) < 0)
			return rc;
		if (rc == 1) {
			(void)report_problem(rp, PR_A7_DECRYPT_FAILED, &pc);
			memset(plain, 0, sizeof(plain));
		} else if ((rc = a7_sha1(a, plain + A7_HDR, A7_DATA,
		    md)) != 0)
			return rc;
		else if (memcmp(md, plain + A7_HDR_DIGEST, 20) != 0)
			(void)report_problem(rp, PR_A7_DIGEST_MISMATCH, &pc);
		if ((rc = fd_write_full(fd, plain + A7_HDR, n)) != 0)
			return rc;
		left -= n;
		b = a->blk[b].next;
	}
	if (left > 0) {
		struct pr_ctx	pc = { .found = st->length,
		    .want = (uint64_t)st->wcount * A7_DATA, .path = e->path,
		    .flags = PC_GUEST, .goff = st->length - left,
		    .glen = left };
		char		name[64];

		a7_uuid_str(st->id, name, sizeof(name));
		pc.str = name;
		(void)report_problem(rp, PR_A7_LENGTH_EXCEEDS, &pc);
		return -IMG_ECHECK;
	}
	return 0;
}
