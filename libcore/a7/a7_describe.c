/* SPDX-License-Identifier: MIT */
/*
 * a7_describe.c --- name the archive7 field under a host byte, for the
 * viewer.
 *
 * Every byte of an archive is ciphertext (section 2): a block is a nonce,
 * a MAC and the sealed plaintext.  We name those three fields by the
 * block they are in and, once the analysis has run (the guest map runs
 * it), say what the decrypted header holds: the block's links and its
 * owner.  The next link points at the next block of the chain.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "a7/a7.h"
#include "core/banned.h"

int
a7_describe(struct img *img, uint64_t off, const struct img_where *w,
    struct img_field *f)
{
	const struct a7		*a = img->priv;
	const struct a7_blk	*k;
	uint64_t		 b = off / A7_BLOCK, rel = off % A7_BLOCK;
	char			 own[160];

	if (b >= a->nblocks) {
		snprintf(f->name, sizeof(f->name), "tail");
		f->off = a->nblocks * A7_BLOCK;
		f->len = a->tail;
		snprintf(f->meaning, sizeof(f->meaning), "%" PRIu64
		    " bytes past the last whole block", a->tail);
		return 0;
	}
	if (rel < A7_NONCE) {
		snprintf(f->name, sizeof(f->name), "block[%" PRIu64 "].nonce",
		    b);
		f->off = b * A7_BLOCK;
		f->len = A7_NONCE;
	} else if (rel < A7_NONCE + A7_MAC) {
		snprintf(f->name, sizeof(f->name), "block[%" PRIu64 "].mac", b);
		f->off = b * A7_BLOCK + A7_NONCE;
		f->len = A7_MAC;
	} else {
		snprintf(f->name, sizeof(f->name), "block[%" PRIu64
		    "].ciphertext", b);
		f->off = b * A7_BLOCK + A7_NONCE + A7_MAC;
		f->len = A7_BLOCK - A7_NONCE - A7_MAC;
	}
	if (!a->analysed || a->blk == NULL) {
		snprintf(f->meaning, sizeof(f->meaning), "%s", w != NULL &&
		    w->owner != NULL ? w->owner : "not analysed");
		return 0;
	}
	k = &a->blk[b];
	a7_owner_str(a, b, own, sizeof(own));
	if (k->st == A7_BS_NOKEY)
		snprintf(f->meaning, sizeof(f->meaning), "encrypted (no key)");
	else if (k->st == A7_BS_MAC)
		snprintf(f->meaning, sizeof(f->meaning), "does not decrypt");
	else
		snprintf(f->meaning, sizeof(f->meaning), "prev %" PRId32
		    ", next %" PRId32 ", index %" PRIu32 ", %.96s", k->prev,
		    k->next, k->index, own);
	if (k->st == A7_BS_OK && k->next >= 0 &&
	    (uint64_t)k->next < a->nblocks && rel >= A7_NONCE + A7_MAC) {
		f->target = (uint64_t)k->next * A7_BLOCK;
		f->has_target = true;
	}
	return 0;
}
