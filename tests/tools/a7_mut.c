/* SPDX-License-Identifier: MIT */
/*
 * a7_mut.c --- let tests/hostile/hostile.py edit archive7 plaintext.
 *
 *   a7_mut open ARCHIVE PLAIN        decrypt every whole block with the
 *                                    fixture key; PLAIN gets 4056 bytes a
 *                                    block (zeros for one that fails)
 *   a7_mut seal ARCHIVE PLAIN OUT    OUT is ARCHIVE with every block whose
 *                                    plaintext differs in PLAIN sealed
 *                                    again under its own nonce
 *
 * The caller edits PLAIN between the two and recomputes what it wants
 * to stay valid (the SHA-1 of the data, a tree record's checksum); the
 * seal makes the MAC right, so the edit reaches the decoders behind the
 * crypto.  Blocks that did not decrypt and the bytes after the last
 * whole block are copied as they are.  Exit 0, or 1 with a message.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../fixtures/a7_fix.h"
#include "core/banned.h"

#define BLK	4096
#define NONCE	24
#define PLAIN	4056
#define MAXLEN	(64u << 20)

static uint8_t *
slurp(const char *path, size_t *len)
{
	FILE	*fp;
	uint8_t	*buf;
	size_t	 n;

	if ((fp = fopen(path, "rb")) == NULL)
		err(1, "cannot open '%s'", path);
	if ((buf = malloc(MAXLEN + 1)) == NULL)
		err(1, "out of memory");
	n = fread(buf, 1, MAXLEN + 1, fp);
	if (ferror(fp))
		err(1, "cannot read '%s'", path);
	fclose(fp);
	if (n > MAXLEN)
		errx(1, "'%s' is too large", path);
	*len = n;
	return buf;
}

static void
spill(const char *path, const uint8_t *p, size_t n)
{
	FILE	*fp;

	if ((fp = fopen(path, "wb")) == NULL)
		err(1, "cannot create '%s'", path);
	if ((n > 0 && fwrite(p, 1, n, fp) != n) || fclose(fp) != 0)
		err(1, "cannot write '%s'", path);
}

/* Decrypt block b of arc into plain; false when the MAC fails. */
static bool
blk_open(const uint8_t *arc, size_t b, uint8_t *plain)
{
	const uint8_t	*raw = arc + b * BLK;

	return crypto_secretbox_open_easy(plain, raw + NONCE, BLK - NONCE,
	    raw, a7f_key) == 0;
}

int
main(int argc, char **argv)
{
	uint8_t	*arc, *pl, *out, cur[PLAIN];
	size_t	 alen, plen, nb, b;
	bool	 seal;

	if (argc == 4 && strcmp(argv[1], "open") == 0)
		seal = false;
	else if (argc == 5 && strcmp(argv[1], "seal") == 0)
		seal = true;
	else
		errx(1, "usage: a7_mut open ARCHIVE PLAIN | "
		    "seal ARCHIVE PLAIN OUT");
	if (sodium_init() < 0)
		errx(1, "cannot start libsodium");
	arc = slurp(argv[2], &alen);
	nb = alen / BLK;
	if (!seal) {
		if ((pl = calloc(nb == 0 ? 1 : nb, PLAIN)) == NULL)
			err(1, "out of memory");
		for (b = 0; b < nb; b++)
			if (!blk_open(arc, b, pl + b * PLAIN))
				memset(pl + b * PLAIN, 0, PLAIN);
		spill(argv[3], pl, nb * PLAIN);
		free(pl);
		free(arc);
		return 0;
	}
	pl = slurp(argv[3], &plen);
	if (plen != nb * PLAIN)
		errx(1, "'%s' holds %zu bytes, want %zu", argv[3], plen,
		    nb * PLAIN);
	if ((out = malloc(alen == 0 ? 1 : alen)) == NULL)
		err(1, "out of memory");
	memcpy(out, arc, alen);
	for (b = 0; b < nb; b++) {
		if (!blk_open(arc, b, cur) ||
		    memcmp(cur, pl + b * PLAIN, PLAIN) == 0)
			continue;
		crypto_secretbox_easy(out + b * BLK + NONCE, pl + b * PLAIN,
		    PLAIN, arc + b * BLK, a7f_key);
	}
	spill(argv[4], out, alen);
	free(out);
	free(pl);
	free(arc);
	return 0;
}
