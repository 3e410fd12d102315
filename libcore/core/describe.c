/* SPDX-License-Identifier: MIT */
/*
 * describe.c --- raw bytes, decoded fields and finding entries for the
 * viewer: img_read_bytes(), img_describe(), img_finding_entry().
 *
 * The viewer shows the image file as bytes and names the field under its
 * cursor.  Formats decode their own fields (fmt_ops.describe); the host
 * map the caller already holds tells them which structure a byte is in,
 * so no call here walks the tables.  A format without describe, or with
 * nothing to say of a byte, answers -IMG_ENOOP and the caller falls back
 * on the host map's class and owner.
 */
#include <string.h>

#include "core/core.h"
#include "core/banned.h"

int
img_read_bytes(struct img *img, uint64_t off, void *buf, size_t len,
    size_t *got)
{
	return img_pread_zf(img, off, buf, len, got);
}

int
img_describe(struct img *img, uint64_t host_off, const struct img_where *w,
    struct img_field *out)
{
	struct img_field	f;
	int			rc;

	if (img->ops->describe == NULL)
		return -IMG_ENOOP;
	memset(&f, 0, sizeof(f));
	if ((rc = img->ops->describe(img, host_off, w, &f)) != 0)
		return rc;
	f.name[sizeof(f.name) - 1] = '\0';
	f.meaning[sizeof(f.meaning) - 1] = '\0';
	img_str_clean(f.name);
	img_str_clean(f.meaning);
	*out = f;
	return 0;
}

int
img_finding_entry(struct img *img, const struct finding *f, uint64_t *off,
    uint64_t *len)
{
	uint64_t	o, l;
	int		rc;

	if (img->ops->locate == NULL)
		return -IMG_ENOOP;
	if ((rc = img->ops->locate(img, f, &o, &l)) != 0)
		return rc;
	if (l == 0)
		return -IMG_ENOOP;
	*off = o;
	*len = l;
	return 0;
}
