/* SPDX-License-Identifier: MIT */
/*
 * rd.h --- the bounded reader: every byte from an image goes through it.
 *
 * Getters never read past len.  The first failure is sticky: later calls
 * return 0 and leave off alone, so a decoder reads all its fields and
 * checks rd_end() (or r->err) once at the end.
 */
#ifndef CORE_RD_H
#define CORE_RD_H

#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define RD_BSWAP64(v)	(v)
#define RD_BSWAP32(v)	(v)
#define RD_LE64(v)	__builtin_bswap64(v)
#define RD_LE32(v)	__builtin_bswap32(v)
#else
#define RD_BSWAP64(v)	__builtin_bswap64(v)
#define RD_BSWAP32(v)	__builtin_bswap32(v)
#define RD_LE64(v)	(v)
#define RD_LE32(v)	(v)
#endif

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct rd {
	const uint8_t	*p;
	size_t		 len;
	size_t		 off;		/* invariant: off <= len */
	int		 err;		/* first failure, 0 if none */
};

void		rd_init(struct rd *r, const void *p, size_t len);
uint8_t		rd_u8(struct rd *r);
uint16_t	rd_be16(struct rd *r);
uint32_t	rd_be32(struct rd *r);
uint64_t	rd_be64(struct rd *r);
uint16_t	rd_le16(struct rd *r);
uint32_t	rd_le32(struct rd *r);
uint64_t	rd_le64(struct rd *r);
/* Copy n bytes to dst (zeroed on failure). */
void		rd_bytes(struct rd *r, void *dst, size_t n);
/* Point *pp at the next n bytes without copying (NULL on failure). */
const uint8_t	*rd_ptr(struct rd *r, size_t n);
void		rd_skip(struct rd *r, size_t n);
/* Move to absolute position off (<= len). */
void		rd_seek(struct rd *r, size_t off);
/* Cut a child reader over the next n bytes and skip them in the parent. */
void		rd_sub(struct rd *r, size_t n, struct rd *child);
size_t		rd_left(const struct rd *r);
/* The sticky error, 0 if every read succeeded. */
int		rd_end(const struct rd *r) __attribute__((warn_unused_result));

/*
 * Byte-order helpers for buffers whose bounds the caller has already
 * established (a whole table read into memory, a fixed local array).
 * Inline: the table walks call them for every entry.
 */
static inline uint64_t
be64_at(const uint8_t *b)
{
	uint64_t	v;

	memcpy(&v, b, 8);
	return RD_BSWAP64(v);
}

static inline uint32_t
be32_at(const uint8_t *b)
{
	uint32_t	v;

	memcpy(&v, b, 4);
	return RD_BSWAP32(v);
}

static inline uint16_t
be16_at(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

static inline uint64_t
le64_at(const uint8_t *b)
{
	uint64_t	v;

	memcpy(&v, b, 8);
	return RD_LE64(v);
}

static inline uint32_t
le32_at(const uint8_t *b)
{
	uint32_t	v;

	memcpy(&v, b, 4);
	return RD_LE32(v);
}

void		put_be64(uint8_t *b, uint64_t v);
void		put_be32(uint8_t *b, uint32_t v);
void		put_be16(uint8_t *b, uint16_t v);
void		put_le64(uint8_t *b, uint64_t v);
void		put_le32(uint8_t *b, uint32_t v);
void		put_le16(uint8_t *b, uint16_t v);

#endif /* CORE_RD_H */
