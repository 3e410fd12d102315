/* SPDX-License-Identifier: MIT */
/*
 * sparse_repair.c --- salvage a damaged sparse stream into a new file.
 */
#include "sparse/sparse.h"
#include "core/banned.h"

int
sparse_repair(struct img *img, struct report *rp, const char *out)
{
	(void)img;
	(void)rp;
	(void)out;
	return -IMG_ENOOP;
}
