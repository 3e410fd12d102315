/* SPDX-License-Identifier: MIT */
/*
 * a7_repair.c --- repair an archive7 (stub).
 */
#include "a7/a7.h"
#include "core/banned.h"

int
a7_repair(struct img *img, struct report *rp, const char *out_path)
{
	(void)img;
	(void)rp;
	(void)out_path;
	return -IMG_ENOOP;
}
