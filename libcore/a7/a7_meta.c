/* SPDX-License-Identifier: MIT */
/*
 * a7_meta.c --- decode the meta block 0: archive header and special
 * stream records (§4.1, §5).
 *
 * If block 0 cannot be read the special streams are still found: stream
 * n starts at block n + 1 (§4.3, §9), and the walk decides the rest.
 */
#include <stdio.h>
#include <string.h>

#include "a7/a7.h"
#include "core/banned.h"

const char *const a7_slot_names[A7_NSPECIAL] = {
	"trash", "registry", "entries", "paths", "listings"
};

/* §4.1 archive header, data offset 0, "!8scHHbbb16s16s16s16sQ256s". */
static void
a7_ahdr_decode(const uint8_t *data, struct a7_ahdr *h)
{
	struct rd	r;
	uint8_t		a;

	memset(h, 0, sizeof(*h));
	rd_init(&r, data, A7_AHDR);
	rd_bytes(&r, h->magic, 8);			/* 0: magic */
	a = rd_u8(&r);					/* 8: 'a' */
	h->major = rd_be16(&r);				/* 9 */
	h->minor = rd_be16(&r);				/* 11 */
	h->type = (int8_t)rd_u8(&r);			/* 13 */
	h->role = (int8_t)rd_u8(&r);			/* 14 */
	h->use = (int8_t)rd_u8(&r);			/* 15 */
	rd_bytes(&r, h->id, 16);			/* 16 */
	rd_bytes(&r, h->owner, 16);			/* 32 */
	rd_bytes(&r, h->domain, 16);			/* 48 */
	rd_bytes(&r, h->node, 16);			/* 64 */
	h->created = rd_be64(&r);			/* 80 */
	rd_bytes(&r, h->title, 256);			/* 88 */
	h->title[256] = '\0';
	h->present = rd_end(&r) == 0 && memcmp(h->magic, "archive7", 8) == 0
	    && a == 'a';
}

/* Printable form of the 8 magic bytes for a message. */
static void
a7_magic_str(const char *m, char *buf, size_t len)
{
	size_t	i, n = 0;

	for (i = 0; i < 8 && n + 5 < len; i++) {
		unsigned char	c = (unsigned char)m[i];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			buf[n++] = (char)c;
		else
			n += (size_t)snprintf(buf + n, len - n, "\\x%02x", c);
	}
	buf[n] = '\0';
}

static void
a7_meta_problem(struct a7 *a, struct report *rp, enum pr_id id,
    uint64_t idx, const char *str, uint64_t found, uint64_t want,
    bool *fix)
{
	char		where[160];
	struct pr_ctx	pc = { .off = 0, .len = A7_BLOCK, .idx = idx,
	    .str = str, .found = found, .want = want, .path = where,
	    .flags = PC_HOST };

	a7_where(a, where, sizeof(where), 0, -1);
	if (report_problem(rp, id, &pc) && fix != NULL)
		*fix = true;
}

int
a7_meta_decode(struct img *img, struct a7 *a, struct report *rp)
{
	const uint8_t	*data = a->meta + A7_HDR;
	uint8_t		 want[16];
	struct a7_stream *s;
	struct a7_blk	*b0 = &a->blk[0];
	char		 str[64];
	unsigned	 n;
	long		 idx;
	int		 rc;

	(void)img;
	for (n = 0; n < A7_NSPECIAL; n++) {
		a7_uuid_n(want, n);
		if ((rc = a7_stream_add(a, want, &idx)) != 0)
			return rc;
		s = &a->st[idx];
		s->slot = (int)n;
		s->rec_block = 0;
		s->begin = (int32_t)n + 1;
		s->end = -1;
		s->norec = true;
	}
	if (!a->meta_ok) {
		a7_meta_problem(a, rp, PR_A7_META_UNREADABLE, 0, NULL, 0, 0,
		    &a->fix_meta);
		return 0;
	}
	if (b0->prev != -1 || b0->next != -1 || b0->index != 0 ||
	    !a7_is_nil(b0->sid)) {
		snprintf(str, sizeof(str), "(%d, %d, %u, %s)", (int)b0->prev,
		    (int)b0->next, (unsigned)b0->index,
		    a7_is_nil(b0->sid) ? "nil" : "not nil");
		a7_meta_problem(a, rp, PR_A7_META_BLOCK_HEADER, 0, str, 0, 0,
		    &a->fix_meta);
	}
	a7_ahdr_decode(data, &a->ahdr);
	if (!a->ahdr.present) {
		a7_magic_str(a->ahdr.magic, str, sizeof(str));
		a7_meta_problem(a, rp, PR_A7_NO_ARCHIVE_HEADER, 0, str, 0, 0,
		    NULL);
	} else if (a->ahdr.major != 2 || a->ahdr.minor != 0)
		a7_meta_problem(a, rp, PR_A7_VERSION, 0, NULL,
		    a->ahdr.major, a->ahdr.minor, NULL);

	/* §4.1: the last slot's identity UUID(N - 1) tells N. */
	a7_uuid_n(want, A7_NSPECIAL - 1);
	if (memcmp(data + A7_DATA - A7_SREC, want, 16) != 0) {
		for (n = 0; n < 16; n++) {
			a7_uuid_n(want, n);
			if (n != A7_NSPECIAL - 1 && memcmp(data + A7_DATA -
			    A7_SREC, want, 16) == 0) {
				a7_meta_problem(a, rp, PR_A7_VARIANT, 0, NULL,
				    n + 1, 0, NULL);
				return -IMG_EUNSUP;
			}
		}
	}
	for (n = 0; n < A7_NSPECIAL; n++) {
		struct rd	r;
		uint8_t		id[16];

		s = &a->st[n];
		rd_init(&r, data + A7_DATA - A7_SREC * (A7_NSPECIAL - n),
		    A7_SREC);
		rd_bytes(&r, id, 16);				/* 0 */
		s->begin = (int32_t)rd_be32(&r);		/* 16 */
		s->end = (int32_t)rd_be32(&r);			/* 20 */
		s->count = rd_be32(&r);				/* 24 */
		s->length = rd_be64(&r);			/* 28 */
		s->comp = rd_be16(&r);				/* 36 */
		if ((rc = rd_end(&r)) != 0)
			return rc;
		a7_uuid_n(want, n);
		if (memcmp(id, want, 16) != 0) {
			a7_uuid_str(id, str, sizeof(str));
			a7_meta_problem(a, rp, PR_A7_SLOT_ID, n, str, 0, 0,
			    &a->fix_meta);
			s->begin = (int32_t)n + 1;
			s->end = -1;
			continue;
		}
		s->norec = false;
		if (s->begin != (int32_t)n + 1)
			a7_meta_problem(a, rp, PR_A7_SLOT_BEGIN, n,
			    a7_slot_names[n], (uint64_t)(int64_t)s->begin,
			    n + 1, NULL);
		if (s->comp != 0)
			a7_meta_problem(a, rp, PR_A7_COMPRESSION, n,
			    a7_slot_names[n], s->comp, 0, NULL);
	}
	return 0;
}
