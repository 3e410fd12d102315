/* SPDX-License-Identifier: MIT */
/*
 * a7_fs.c --- the registry of data streams and the file-system layer on
 * top of the entries, paths and listings trees (§5, §8, §9 rules 14-18).
 *
 * The registry gives every data stream its record; entries give files
 * their names, parents and streams.  Upstream leaves a few harmless
 * traces (dangling listing items, deleted entries naming dead streams):
 * those are warnings, the rest corruption.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "a7/a7.h"
#include "core/banned.h"

static int
a7_stream_cmp(const void *x, const void *y)
{
	const struct a7_stream	*p = x, *q = y;

	return memcmp(p->id, q->id, 16);
}

/*
 * Binary search for a 16-byte id in an array sorted by it: n elements of
 * size bytes from base, the id at idoff in each.  The index, or -1.
 */
static long
id_search(const void *base, size_t n, size_t size, size_t idoff,
    const uint8_t *id)
{
	const uint8_t	*b = base;
	size_t		 lo = 0, hi = n, mid;
	int		 c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = memcmp(b + mid * size + idoff, id, 16);
		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

long
a7_stream_find(const struct a7 *a, const uint8_t *id)
{
	long	i;

	/* The special streams come first and are not sorted. */
	if (a->nst <= A7_NSPECIAL)
		return -1;
	i = id_search(a->st + A7_NSPECIAL, a->nst - A7_NSPECIAL,
	    sizeof(*a->st), offsetof(struct a7_stream, id), id);
	return i < 0 ? -1 : i + A7_NSPECIAL;
}

static int
a7_ent_cmp(const void *x, const void *y)
{
	const struct a7_ent	*p = x, *q = y;

	return memcmp(p->id, q->id, 16);
}

long
a7_ent_find(const struct a7 *a, const uint8_t *id)
{
	return id_search(a->ent, a->nent, sizeof(*a->ent),
	    offsetof(struct a7_ent, id), id);
}

/* Report a problem at the record at stream byte off of tree slot. */
static void
a7_fs_problem(struct a7 *a, struct report *rp, enum pr_id id, int slot,
    size_t off, const char *path, const char *str, uint64_t found,
    uint64_t want, bool *fix)
{
	const struct a7_tree	*t = &a->tree[slot];
	struct pr_ctx		 pc = { .len = A7_BLOCK, .str = str,
	    .found = found, .want = want, .flags = PC_HOST };
	char			 where[512];

	pc.off = a7_tree_host(t, off);
	pc.idx = pc.off / A7_BLOCK;
	a7_where(a, where, sizeof(where), (int64_t)(pc.off / A7_BLOCK),
	    slot);
	if (path != NULL) {
		size_t	n = strlen(where);

		snprintf(where + n, sizeof(where) - n, ", %s", path);
	}
	pc.path = where;
	if (report_problem(rp, id, &pc) && fix != NULL)
		*fix = true;
}

int
a7_registry_load(struct img *img, struct a7 *a, struct report *rp)
{
	const struct a7_tree	*t = &a->tree[1];
	uint8_t			 five[16];
	char			 ids[40];
	size_t			 i;
	long			 idx;
	int			 rc;

	(void)img;
	if (!t->ok)
		return 0;
	if (t->nrecs > A7_MAX_STREAMS) {
		struct pr_ctx	pc = { .found = t->nrecs,
		    .want = A7_MAX_STREAMS };

		(void)report_problem(rp, PR_A7_STREAM_LIMIT, &pc);
		return 0;
	}
	a7_uuid_n(five, A7_NSPECIAL);
	for (i = 0; i < t->nrecs; i++) {
		const uint8_t		*rb = t->buf + t->recs[i].off;
		struct a7_stream	*st;
		struct rd		 r;
		uint8_t			 id[16];

		rd_init(&r, rb + 20, A7_SREC);
		rd_bytes(&r, id, 16);				/* 0 */
		a7_uuid_str(id, ids, sizeof(ids));
		if (memcmp(rb + 4, id, 16) != 0) {
			a7_fs_problem(a, rp, PR_A7_REGISTRY_KEY, 1,
			    t->recs[i].off, NULL, ids, 0, 0, NULL);
			continue;
		}
		if (memcmp(id, five, 16) < 0) {
			a7_fs_problem(a, rp, PR_A7_REGISTRY_RESERVED, 1,
			    t->recs[i].off, NULL, ids, 0, 0, NULL);
			continue;
		}
		if ((rc = a7_stream_add(a, id, &idx)) != 0)
			return rc;
		st = &a->st[idx];
		st->begin = (int32_t)rd_be32(&r);		/* 16 */
		st->end = (int32_t)rd_be32(&r);			/* 20 */
		st->count = rd_be32(&r);			/* 24 */
		st->length = rd_be64(&r);			/* 28 */
		st->comp = rd_be16(&r);				/* 36 */
		st->rec_off = t->recs[i].off;
		st->rec_block = (int32_t)(a7_tree_host(t, t->recs[i].off) /
		    A7_BLOCK);
		if ((rc = rd_end(&r)) != 0)
			return rc;
	}
	qsort(a->st + A7_NSPECIAL, a->nst - A7_NSPECIAL, sizeof(*a->st),
	    a7_stream_cmp);
	return 0;
}

/* §8 entry record, "!c16s16s16s16sqqQ?256s32s16sH". */
static void
a7_ent_decode(const uint8_t *v, struct a7_ent *e)
{
	struct rd	r;

	rd_init(&r, v, A7_ENTRY);
	e->type = rd_u8(&r);				/* 0 */
	rd_bytes(&r, e->id, 16);			/* 1 */
	rd_bytes(&r, e->parent, 16);			/* 17 */
	rd_bytes(&r, e->owner, 16);			/* 33 */
	rd_bytes(&r, e->sid, 16);			/* 49 */
	rd_skip(&r, 16);				/* 65: created, mod. */
	e->length = rd_be64(&r);			/* 81 */
	e->deleted = rd_u8(&r) != 0;			/* 89 */
	rd_bytes(&r, e->name, 256);			/* 90 */
	e->name[256] = '\0';
	e->name_full = strlen(e->name) == 256;
	e->stream = -1;
}

/* Build the full path of entry i from the parent chain. */
static int
a7_ent_path(struct a7 *a, size_t i)
{
	const struct a7_ent	*chain[A7_MAX_PATH_DEPTH];
	const struct a7_ent	*e = &a->ent[i];
	size_t			 n = 0, len = 1, k;
	char			*p;
	long			 j;

	while (!a7_is_nil(e->id) && n < A7_MAX_PATH_DEPTH) {
		chain[n++] = e;
		len += strlen(e->name) + 1;
		if ((j = a7_ent_find(a, e->parent)) < 0)
			break;
		e = &a->ent[j];
	}
	if ((p = malloc(len + 4)) == NULL)
		return -ENOMEM;
	p[0] = '\0';
	len = 0;
	if (n > 0 && !a7_is_nil(chain[n - 1]->parent) &&
	    a7_ent_find(a, chain[n - 1]->parent) < 0)
		len += (size_t)snprintf(p, 4, "?");
	if (n == 0)
		len += (size_t)snprintf(p, 2, "/");
	for (k = n; k > 0; k--)
		len += (size_t)snprintf(p + len, strlen(chain[k - 1]->name) +
		    2, "/%s", chain[k - 1]->name);
	a->ent[i].path = p;
	return 0;
}

int
a7_fs_load(struct img *img, struct a7 *a, struct report *rp)
{
	const struct a7_tree	*t = &a->tree[2];
	struct a7_ent		*e;
	size_t			 i;
	long			 s;
	int			 rc;

	(void)img;
	(void)rp;
	a->root = -1;
	if (!t->ok || t->nrecs == 0)
		return 0;
	if ((a->ent = calloc(t->nrecs, sizeof(*a->ent))) == NULL)
		return -ENOMEM;
	for (i = 0; i < t->nrecs; i++) {
		e = &a->ent[a->nent++];
		a7_ent_decode(t->buf + t->recs[i].off + 20, e);
		e->rec_off = t->recs[i].off;
	}
	qsort(a->ent, a->nent, sizeof(*a->ent), a7_ent_cmp);
	for (i = 0; i < a->nent; i++) {
		e = &a->ent[i];
		if ((rc = a7_ent_path(a, i)) != 0)
			return rc;
		if (a7_is_nil(e->id) && e->type == 'd')
			a->root = (long)i;
		if (e->type != 'f' || a7_is_nil(e->sid))
			continue;
		if ((s = a7_stream_find(a, e->sid)) < 0)
			continue;
		e->stream = s;
		if (a->st[s].entry < 0 || (a->ent[a->st[s].entry].deleted &&
		    !e->deleted))
			a->st[s].entry = (long)i;
	}
	return 0;
}

/* §8: uuid5(parent, name), RFC 4122 name-based with SHA-1. */
static int
a7_uuid5(struct a7 *a, const uint8_t *parent, const char *name,
    uint8_t *out)
{
	uint8_t	buf[16 + 256], md[20];
	size_t	n = strlen(name);
	int	rc;

	memcpy(buf, parent, 16);
	memcpy(buf + 16, name, n);
	if ((rc = a7_sha1(a, buf, 16 + n, md)) != 0)
		return rc;
	memcpy(out, md, 16);
	out[6] = (uint8_t)((out[6] & 0x0f) | 0x50);
	out[8] = (uint8_t)((out[8] & 0x3f) | 0x80);
	return 0;
}

/* The paths record keyed by key, or NULL (linear: trees are small). */
static const uint8_t *
a7_paths_find(const struct a7 *a, const uint8_t *key)
{
	const struct a7_tree	*t = &a->tree[3];
	size_t			 i;

	for (i = 0; i < t->nrecs; i++)
		if (memcmp(t->buf + t->recs[i].off + 4, key, 16) == 0)
			return t->buf + t->recs[i].off + 20;
	return NULL;
}

static bool
a7_listing_has(const struct a7 *a, const uint8_t *dir)
{
	const struct a7_tree	*t = &a->tree[4];
	size_t			 i;

	for (i = 0; i < t->nrecs; i++)
		if (memcmp(t->buf + t->recs[i].off + 4, dir, 16) == 0)
			return true;
	return false;
}

void
a7_fs_check(struct img *img, struct a7 *a, struct report *rp)
{
	const struct a7_tree	*lt = &a->tree[4];
	struct a7_ent		*e;
	struct a7_stream	*st;
	uint8_t			 key[16];
	const uint8_t		*pv;
	char			 ids[40];
	size_t			 i, j;
	long			 p, s;

	(void)img;
	if (!a->tree[2].ok)
		return;
	if (a->root < 0)
		a7_fs_problem(a, rp, PR_A7_FS_NO_ROOT, 2, 0, "/", NULL, 0, 0,
		    NULL);
	for (i = 0; i < a->nent; i++) {
		e = &a->ent[i];
		a7_uuid_str(e->id, ids, sizeof(ids));
		if ((long)i != a->root) {
			p = a7_ent_find(a, e->parent);
			if (p < 0 || a->ent[p].type != 'd')
				a7_fs_problem(a, rp, PR_A7_FS_PARENT, 2,
				    e->rec_off, e->path, e->path, 0, 0, NULL);
		}
		if (!e->deleted && !e->name_full && a->tree[3].ok &&
		    a7_uuid5(a, e->parent, e->name, key) == 0) {
			pv = a7_paths_find(a, key);
			if (pv == NULL || pv[0] != e->type ||
			    memcmp(pv + 1, e->id, 16) != 0)
				a7_fs_problem(a, rp, PR_A7_FS_PATH, 2,
				    e->rec_off, e->path, e->path, 0, 0, NULL);
		}
		if (e->type == 'd' && !e->deleted && a->tree[4].ok &&
		    !a7_listing_has(a, e->id))
			a7_fs_problem(a, rp, PR_A7_FS_NO_LISTING, 2,
			    e->rec_off, e->path, e->path, 0, 0, NULL);
		if (e->type == 'l') {
			p = a7_ent_find(a, e->owner);
			if (p < 0 || a->ent[p].type == 'l') {
				a7_uuid_str(e->owner, ids, sizeof(ids));
				a7_fs_problem(a, rp, PR_A7_FS_LINK, 2,
				    e->rec_off, e->path, ids, 0, 0, NULL);
			}
		}
		if (e->type != 'f' || a7_is_nil(e->sid))
			continue;
		a7_uuid_str(e->sid, ids, sizeof(ids));
		if (e->stream < 0) {
			if (!a->tree[1].ok)
				continue;
			a7_fs_problem(a, rp, e->deleted ?
			    PR_A7_FS_DEAD_STREAM : PR_A7_FS_STREAM_MISSING, 2,
			    e->rec_off, e->path, ids, 0, 0, NULL);
			continue;
		}
		st = &a->st[e->stream];
		if (st->entry != (long)i) {
			a7_fs_problem(a, rp, PR_A7_FS_SHARED_STREAM, 2,
			    e->rec_off, e->path, ids, 0, 0, NULL);
			continue;
		}
		/* §8: a rewrite to zero bytes leaves the entry length. */
		if (!e->deleted && st->length != e->length && st->length != 0)
			a7_fs_problem(a, rp, PR_A7_FS_LENGTH, 2, e->rec_off,
			    e->path, ids, e->length, st->length, &e->fix_len);
	}
	for (s = A7_NSPECIAL; s < (long)a->nst; s++) {
		if (a->st[s].entry >= 0 || !a->tree[2].ok)
			continue;
		a7_uuid_str(a->st[s].id, ids, sizeof(ids));
		a7_fs_problem(a, rp, PR_A7_FS_UNREFERENCED, 1,
		    a->st[s].rec_off, NULL, ids, 0, 0, NULL);
	}
	if (!lt->ok || !a->tree[2].ok)
		return;
	for (i = 0; i < lt->nrecs; i++) {
		for (j = 0; j < lt->recs[i].nitem; j++) {
			const uint8_t	*it = lt->buf +
			    lt->items[lt->recs[i].item0 + j];

			if (a7_ent_find(a, it) >= 0)
				continue;
			a7_uuid_str(it, ids, sizeof(ids));
			a7_fs_problem(a, rp, PR_A7_FS_DANGLING_LISTING, 4,
			    lt->items[lt->recs[i].item0 + j], NULL, ids, 0,
			    0, NULL);
		}
	}
}
