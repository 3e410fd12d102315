/* SPDX-License-Identifier: MIT */
/*
 * map.c --- merge per-cluster map entries into maximal runs.
 *
 * Formats describe the guest disk one cluster (or subcluster) at a time;
 * neighbouring pieces with the same status, owner and contiguous host
 * offsets become one run before the caller sees them, as qemu-img map
 * prints them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/banned.h"

void
map_merge_init(struct map_merge *m, map_fn *fn, void *arg)
{
	memset(m, 0, sizeof(*m));
	m->fn = fn;
	m->arg = arg;
}

static bool
same_owner(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return a == b || strcmp(a, b) == 0;
}

int
map_merge_add(struct map_merge *m, const struct map_ext *e)
{
	struct map_ext	*c = &m->cur;
	int		 rc;

	if (e->length == 0)
		return 0;
	if (m->have && c->start + c->length == e->start &&
	    c->depth == e->depth && c->present == e->present &&
	    c->zero == e->zero && c->data == e->data &&
	    c->compressed == e->compressed && c->damage == e->damage &&
	    same_owner(c->file, e->file) &&
	    c->has_offset == e->has_offset &&
	    (!c->has_offset || c->offset + c->length == e->offset) &&
	    same_owner(c->owner, e->owner)) {
		c->length += e->length;
		return 0;
	}
	if (m->have && (rc = m->fn(m->arg, c)) != 0)
		return rc;
	*c = *e;
	m->have = true;
	/* The owner may live only as long as the caller's call: copy it. */
	if (e->owner != NULL) {
		size_t	l = strlen(e->owner) + 1;
		char	*p;

		if (l > m->ocap) {
			if ((p = realloc(m->obuf, l)) == NULL)
				return -ENOMEM;
			m->obuf = p;
			m->ocap = l;
		}
		memcpy(m->obuf, e->owner, l);
		c->owner = m->obuf;
	}
	return 0;
}

int
map_merge_end(struct map_merge *m)
{
	int	rc = 0;

	if (m->have)
		rc = m->fn(m->arg, &m->cur);
	m->have = false;
	free(m->obuf);
	m->obuf = NULL;
	m->ocap = 0;
	return rc;
}

void
map_merge_free(struct map_merge *m)
{
	free(m->obuf);
	m->obuf = NULL;
	m->ocap = 0;
	m->have = false;
}
