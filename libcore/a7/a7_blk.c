/* SPDX-License-Identifier: MIT */
/*
 * a7_blk.c --- archive7 blocks: decrypt, digest, seal, and the first pass.
 *
 * The first pass reads the file in chunks and, for every whole block,
 * remembers its nonce, decrypts it (§2), checks its SHA-1 (§3) and keeps
 * its header links in a struct a7_blk.  The data is not kept: the chain
 * walks need only the headers, and the trees re-read their few blocks.
 * If no block at all decrypts, the key is wrong: that is one finding,
 * not one per block.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>


#include "a7/a7.h"
#include "core/crypto.h"
#include "core/banned.h"

/* §3: SHA-1 of 4008 zero bytes, the digest of a blank block. */
static const uint8_t	a7_blank_digest[20] = {
	0xa6, 0xba, 0x83, 0x35, 0xce, 0x3b, 0xd9, 0xb6, 0xb7, 0x2c,
	0x30, 0xc5, 0x55, 0x8c, 0x7d, 0x83, 0x4f, 0xb5, 0xbb, 0x36
};

int
a7_crypto_init(struct a7 *a)
{
	const char	*why;

	if ((a->c = img_crypto(&why)) == NULL) {
		a->why = why;
		return -IMG_EUNSUP;
	}
	if ((a->sha1 = a->c->EVP_MD_fetch(NULL, "SHA1", NULL)) == NULL) {
		a->why = "libcrypto has no SHA-1";
		return -IMG_EUNSUP;
	}
	if ((a->md = a->c->EVP_MD_CTX_new()) == NULL)
		return -ENOMEM;
	return 0;
}

void
a7_crypto_release(struct a7 *a)
{
	if (a->c != NULL) {
		a->c->EVP_MD_CTX_free(a->md);
		a->c->EVP_MD_free(a->sha1);
	}
	a->md = NULL;
	a->sha1 = NULL;
}

int
a7_sha1(struct a7 *a, const uint8_t *p, size_t len, uint8_t *md)
{
	unsigned int	n = 0;

	if (a->c->EVP_DigestInit_ex(a->md, a->sha1, NULL) != 1 ||
	    a->c->EVP_DigestUpdate(a->md, p, len) != 1 ||
	    a->c->EVP_DigestFinal_ex(a->md, md, &n) != 1 || n != 20)
		return -IMG_EUNSUP;
	return 0;
}

bool
a7_blk_open(const struct img *img, const uint8_t *raw, uint8_t *plain)
{
	const struct img_crypto	*c = img_crypto(NULL);

	/* §2: nonce[24] then MAC and ciphertext, libsodium's easy layout. */
	return c != NULL && c->crypto_secretbox_open_easy(plain,
	    raw + A7_NONCE, A7_BLOCK - A7_NONCE, raw, img->key) == 0;
}

int
a7_blk_seal(struct img *img, struct a7 *a, uint8_t *plain, uint8_t *raw)
{
	int	rc;

	if ((rc = a7_sha1(a, plain + A7_HDR, A7_DATA,
	    plain + A7_HDR_DIGEST)) != 0)
		return rc;
	a->c->randombytes_buf(raw, A7_NONCE);
	if (a->c->crypto_secretbox_easy(raw + A7_NONCE, plain, A7_PLAIN, raw,
	    img->key) != 0)
		return -IMG_EUNSUP;
	return 0;
}

int
a7_blk_read(struct img *img, uint64_t b, uint8_t *plain)
{
	uint8_t	raw[A7_BLOCK];
	int	rc;

	if (b > UINT64_MAX / A7_BLOCK)
		return -IMG_ERANGE;
	if ((rc = img_pread(img, b * A7_BLOCK, raw, sizeof(raw))) != 0)
		return rc;
	return a7_blk_open(img, raw, plain) ? 0 : 1;
}

/* Decode the §3 header of a decrypted block into bk. */
static void
a7_blk_decode(struct a7 *a, const uint8_t *plain, struct a7_blk *bk)
{
	uint8_t		md[20];
	struct rd	r;

	rd_init(&r, plain, A7_PLAIN);
	bk->prev = (int32_t)rd_be32(&r);		/* 0: previous */
	bk->next = (int32_t)rd_be32(&r);		/* 4: next */
	bk->index = rd_be32(&r);			/* 8: index */
	rd_bytes(&r, bk->sid, 16);			/* 12: stream */
	bk->st = A7_BS_OK;
	bk->flags = 0;
	if (a7_sha1(a, plain + A7_HDR, A7_DATA, md) != 0 ||
	    memcmp(md, plain + A7_HDR_DIGEST, 20) != 0)
		bk->flags |= A7_BF_DIGEST_BAD;
	else if (bk->prev == -1 && bk->next == -1 && bk->index == 0 &&
	    a7_is_nil(bk->sid) && memcmp(md, a7_blank_digest, 20) == 0)
		bk->flags |= A7_BF_BLANK;
}

struct a7_nonce {
	uint8_t		n[A7_NONCE];
	uint32_t	b;
};

static int
a7_nonce_cmp(const void *x, const void *y)
{
	const struct a7_nonce	*p = x, *q = y;
	int			 c = memcmp(p->n, q->n, A7_NONCE);

	if (c != 0)
		return c;
	return p->b < q->b ? -1 : p->b > q->b;
}

/*
 * Report a problem of block b; once the walks have run, name its stream
 * and file and the bytes of that file it holds.
 */
static bool
a7_block_problem(struct a7 *a, struct report *rp, enum pr_id id,
    uint64_t b, const char *str, uint64_t found, uint64_t want)
{
	const struct a7_stream	*st;
	char			 where[512];
	struct pr_ctx		 pc = { .off = b * A7_BLOCK, .len = A7_BLOCK,
	    .idx = b, .str = str, .found = found, .want = want,
	    .path = where, .flags = PC_HOST };
	uint64_t		 goff;

	a7_where(a, where, sizeof(where), (int64_t)b, -1);
	if (a->blk != NULL && b < a->nblocks && a->blk[b].owner >= 0) {
		st = &a->st[a->blk[b].owner];
		goff = (uint64_t)a->blk[b].index * A7_DATA;
		if (st->slot < 0 && goff < st->length) {
			pc.flags |= PC_GUEST;
			pc.goff = goff;
			pc.glen = st->length - goff < A7_DATA ?
			    st->length - goff : A7_DATA;
		}
	}
	return report_problem(rp, id, &pc);
}

/* Report blocks sharing a nonce (§1: possible without the key). */
static void
a7_nonces(struct a7 *a, struct a7_nonce *nv, struct report *rp)
{
	uint64_t	i;

	qsort(nv, a->nblocks, sizeof(*nv), a7_nonce_cmp);
	for (i = 1; i < a->nblocks; i++) {
		if (memcmp(nv[i].n, nv[i - 1].n, A7_NONCE) != 0)
			continue;
		a->nonce_reuse++;
		(void)a7_block_problem(a, rp, PR_A7_NONCE_REUSE, nv[i].b, NULL,
		    nv[i - 1].b, 0);
	}
}

int
a7_scan(struct img *img, struct a7 *a, struct report *rp)
{
	struct a7_nonce	*nv = NULL;
	uint8_t		*buf = NULL, plain[A7_PLAIN];
	uint64_t	 b, i, n;
	struct a7_blk	*bk;
	int		 rc = 0;

	a->nblocks = img->size / A7_BLOCK;
	a->tail = img->size % A7_BLOCK;
	if (a->tail != 0) {
		struct pr_ctx	pc = { .off = a->nblocks * A7_BLOCK,
		    .len = a->tail, .found = img->size, .want = a->tail,
		    .flags = PC_HOST, .path = "tail" };

		if (report_problem(rp, PR_A7_SIZE_UNEVEN, &pc))
			a->fix_tail = true;
	}
	if (a->nblocks == 0) {
		struct pr_ctx	pc = { .found = img->size };

		(void)report_problem(rp, PR_A7_NO_BLOCKS, &pc);
		return 0;
	}
	if (a->nblocks > A7_MAX_BLOCKS) {
		struct pr_ctx	pc = { .str = "block count",
		    .found = a->nblocks, .want = A7_MAX_BLOCKS };

		(void)report_problem(rp, PR_CORE_LIMIT, &pc);
		return -IMG_ELIMIT;
	}
	a->blk = calloc(a->nblocks, sizeof(*a->blk));
	nv = calloc(a->nblocks, sizeof(*nv));
	buf = malloc((size_t)A7_READ_CHUNK * A7_BLOCK);
	if (a->blk == NULL || nv == NULL || buf == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (b = 0; b < a->nblocks; b += n) {
		img_progress(img, b * A7_BLOCK, a->nblocks * A7_BLOCK);
		if (img_interrupted()) {
			struct pr_ctx	pc = { .str = "the block scan" };

			(void)report_problem(rp, PR_CORE_INTERRUPTED, &pc);
			rc = -EINTR;
			goto out;
		}
		n = a->nblocks - b < A7_READ_CHUNK ? a->nblocks - b :
		    A7_READ_CHUNK;
		if ((rc = img_pread(img, b * A7_BLOCK, buf,
		    (size_t)n * A7_BLOCK)) != 0)
			goto out;
		for (i = 0; i < n; i++) {
			const uint8_t	*raw = buf + i * A7_BLOCK;

			bk = &a->blk[b + i];
			memcpy(nv[b + i].n, raw, A7_NONCE);
			nv[b + i].b = (uint32_t)(b + i);
			bk->owner = A7_OWN_NONE;
			bk->prev = bk->next = -1;
			if (!img->has_key) {
				bk->st = A7_BS_NOKEY;
				continue;
			}
			if (!a7_blk_open(img, raw, plain)) {
				bk->st = A7_BS_MAC;
				continue;
			}
			a->nok++;
			a7_blk_decode(a, plain, bk);
			if (b + i == 0)
				memcpy(a->meta, plain, sizeof(a->meta));
		}
	}
	a->blk[0].owner = A7_OWN_META;
	a7_nonces(a, nv, rp);
	if (!img->has_key) {
		struct pr_ctx	pc = { .found = a->nblocks };

		(void)report_problem(rp, PR_A7_NO_KEY, &pc);
		rc = -IMG_EKEY;
		goto out;
	}
	if (a->nok == 0) {
		a->keyfail = true;
		(void)a7_block_problem(a, rp, PR_A7_WRONG_KEY, 0, NULL,
		    a->nblocks, 0);
		rc = -IMG_EKEY;
		goto out;
	}
	a->meta_ok = a->blk[0].st == A7_BS_OK;
	for (b = 0; b < a->nblocks; b++) {
		bk = &a->blk[b];
		if (bk->st == A7_BS_MAC && a7_block_problem(a, rp,
		    PR_A7_DECRYPT_FAILED, b, NULL, 0, 0) && b > 0)
			bk->flags |= A7_BF_FIX_BLANK;
	}
out:
	free(buf);
	free(nv);
	return rc;
}

void
a7_blocks_report(struct a7 *a, struct report *rp)
{
	struct a7_blk	*bk;
	uint64_t	 b;
	bool		 fix;

	for (b = 0; b < a->nblocks; b++) {
		bk = &a->blk[b];
		if (bk->st != A7_BS_OK)
			continue;
		if (bk->flags & A7_BF_DIGEST_BAD)
			(void)a7_block_problem(a, rp, PR_A7_DIGEST_MISMATCH, b,
			    NULL, 0, 0);
		/* §9 rule 3: links in range and never the block itself. */
		if (bk->prev == (int64_t)b)
			(void)a7_block_problem(a, rp, PR_A7_SELF_LINK, b,
			    "previous", 0, 0);
		else if (bk->prev < -1 || bk->prev >= (int64_t)a->nblocks)
			(void)a7_block_problem(a, rp, PR_A7_LINK_RANGE, b,
			    "previous", (uint64_t)(int64_t)bk->prev,
			    a->nblocks);
		fix = false;
		if (bk->next == (int64_t)b)
			fix = a7_block_problem(a, rp, PR_A7_SELF_LINK, b,
			    "next", 0, 0);
		else if (bk->next < -1 || bk->next >= (int64_t)a->nblocks)
			fix = a7_block_problem(a, rp, PR_A7_LINK_RANGE, b,
			    "next", (uint64_t)(int64_t)bk->next, a->nblocks);
		/* The walk ended at this block: a repair cuts it there. */
		if (fix && bk->owner >= 0)
			a->st[bk->owner].fix_cut = true;
	}
}
