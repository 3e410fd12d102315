/* SPDX-License-Identifier: MIT */
/*
 * rd.c --- the bounded reader.
 */
#include <string.h>

#include "libcore.h"
#include "core/rd.h"
#include "core/banned.h"

void
rd_init(struct rd *r, const void *p, size_t len)
{
	r->p = p;
	r->len = p == NULL ? 0 : len;
	r->off = 0;
	r->err = 0;
}

/* Make room for n bytes or set the sticky error; return the bytes. */
static const uint8_t *
rd_take(struct rd *r, size_t n)
{
	const uint8_t	*b;

	if (r->err == 0 && r->len - r->off < n)
		r->err = -IMG_ESHORT;
	if (r->err != 0)
		return NULL;
	b = r->p + r->off;
	r->off += n;
	return b;
}

uint8_t
rd_u8(struct rd *r)
{
	const uint8_t	*b = rd_take(r, 1);

	return b == NULL ? 0 : b[0];
}

uint16_t
rd_be16(struct rd *r)
{
	const uint8_t	*b = rd_take(r, 2);

	return b == NULL ? 0 : be16_at(b);
}

uint32_t
rd_be32(struct rd *r)
{
	const uint8_t	*b = rd_take(r, 4);

	return b == NULL ? 0 : be32_at(b);
}

uint64_t
rd_be64(struct rd *r)
{
	const uint8_t	*b = rd_take(r, 8);

	return b == NULL ? 0 : be64_at(b);
}

uint16_t
rd_le16(struct rd *r)
{
	const uint8_t	*b = rd_take(r, 2);

	return b == NULL ? 0 : (uint16_t)(b[0] | b[1] << 8);
}

uint32_t
rd_le32(struct rd *r)
{
	const uint8_t	*b = rd_take(r, 4);

	return b == NULL ? 0 : le32_at(b);
}

uint64_t
rd_le64(struct rd *r)
{
	const uint8_t	*b = rd_take(r, 8);

	return b == NULL ? 0 : le64_at(b);
}

void
rd_bytes(struct rd *r, void *dst, size_t n)
{
	const uint8_t	*b = rd_take(r, n);

	if (b == NULL)
		memset(dst, 0, n);
	else
		memcpy(dst, b, n);
}

const uint8_t *
rd_ptr(struct rd *r, size_t n)
{
	return rd_take(r, n);
}

void
rd_skip(struct rd *r, size_t n)
{
	(void)rd_take(r, n);
}

void
rd_seek(struct rd *r, size_t off)
{
	if (r->err == 0 && off > r->len)
		r->err = -IMG_ESHORT;
	if (r->err == 0)
		r->off = off;
}

void
rd_sub(struct rd *r, size_t n, struct rd *child)
{
	const uint8_t	*b = rd_take(r, n);

	rd_init(child, b, b == NULL ? 0 : n);
	if (b == NULL)
		child->err = r->err;
}

size_t
rd_left(const struct rd *r)
{
	return r->err != 0 ? 0 : r->len - r->off;
}

int
rd_end(const struct rd *r)
{
	return r->err;
}






void
put_be64(uint8_t *b, uint64_t v)
{
	put_be32(b, (uint32_t)(v >> 32));
	put_be32(b + 4, (uint32_t)v);
}

void
put_be32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

void
put_be16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

void
put_le64(uint8_t *b, uint64_t v)
{
	put_le32(b, (uint32_t)v);
	put_le32(b + 4, (uint32_t)(v >> 32));
}

void
put_le32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
	b[2] = (uint8_t)(v >> 16);
	b[3] = (uint8_t)(v >> 24);
}

void
put_le16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
}
