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
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "core/rd.h"
#include "core/banned.h"

/* ---- helpers for the formats' describe ------------------------------- */

void
fld_name(struct img_field *f, const char *fmt, ...)
{
	va_list	va;

	va_start(va, fmt);
	vsnprintf(f->name, sizeof(f->name), fmt, va);
	va_end(va);
}

void
fld_add(struct img_field *f, const char *fmt, ...)
{
	size_t	n = strlen(f->meaning);
	va_list	va;

	if (n + 1 >= sizeof(f->meaning))
		return;
	va_start(va, fmt);
	vsnprintf(f->meaning + n, sizeof(f->meaning) - n, fmt, va);
	va_end(va);
}

void
fld_set(struct img_field *f, uint64_t off, uint64_t len, uint64_t v)
{
	f->off = off;
	f->len = len;
	f->value = v;
	f->has_value = len <= 8;
}

void
fld_target(struct img_field *f, uint64_t t)
{
	f->target = t;
	f->has_target = true;
}

int
fld_read(struct img *img, uint64_t off, uint32_t len, bool big_endian,
    uint64_t *v)
{
	uint8_t		b[8];
	struct rd	r;
	uint32_t	i;
	int		rc;

	if (len == 0 || len > sizeof(b))
		return -IMG_EINVAL;
	if ((rc = img_pread_zf(img, off, b, len, NULL)) != 0)
		return rc;
	rd_init(&r, b, len);
	*v = 0;
	for (i = 0; i < len; i++) {
		if (big_endian)
			*v = *v << 8 | rd_u8(&r);
		else
			*v |= (uint64_t)rd_u8(&r) << (8 * i);
	}
	return rd_end(&r);
}

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
