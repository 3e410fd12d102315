/* SPDX-License-Identifier: MIT */
/*
 * a7_ops.c --- the archive7 ops table: probe, open, close.
 *
 * There is no plaintext magic (§1): every byte is ciphertext.  We claim
 * a file only by its ".ar7" suffix, or when the user says -f archive7.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "a7/a7.h"
#include "core/banned.h"

static int
a7_probe(const struct img_probe *p)
{
	size_t	n;

	if (p->name == NULL)
		return 0;
	n = strlen(p->name);
	if (n >= 4 && strcmp(p->name + n - 4, ".ar7") == 0)
		return 20;
	return 0;
}

static int
a7_open(struct img *img)
{
	struct a7	*a;
	int		 rc;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return -ENOMEM;
	a->root = -1;
	if ((rc = a7_crypto_init(a)) != 0) {
		img_set_error(img, "cannot set up libsodium or SHA-1%s%s",
		    a->why ? ": " : "", a->why ? a->why : "");
		a7_crypto_release(a);
		free(a);
		return rc;
	}
	a->nblocks = img->size / A7_BLOCK;
	a->tail = img->size % A7_BLOCK;
	img->priv = a;
	return 0;
}

static void
a7_close(struct img *img)
{
	struct a7	*a = img->priv;

	if (a == NULL)
		return;
	a7_reset(a);
	a7_crypto_release(a);
	free(a);
	img->priv = NULL;
}

const struct fmt_ops	a7_ops = {
	.name = "archive7",
	.pr_base = 0x040000,
	.probe = a7_probe,
	.open = a7_open,
	.info = a7_info,
	.check = a7_check,
	.repair = a7_repair,
	.map = a7_map,
	.hostmap = a7_hostmap,
	.describe = a7_describe,
	.extract = a7_extract,
	.close = a7_close,
	.caps = FMT_REPAIR_INPLACE | FMT_REPAIR_COPY | FMT_OPAQUE |
	    FMT_NAMED,
};
