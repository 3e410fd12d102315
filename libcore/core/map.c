/* SPDX-License-Identifier: MIT */
/*
 * map.c --- merge per-cluster map entries into maximal runs.
 *
 * Formats describe the guest disk one cluster (or subcluster) at a time;
 * neighbouring pieces with the same status, owner and contiguous host
 * offsets become one run before the caller sees them, as qemu-img map
 * prints them.
 */
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
	    c->compressed == e->compressed &&
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
	return 0;
}

int
map_merge_end(struct map_merge *m)
{
	int	rc = 0;

	if (m->have)
		rc = m->fn(m->arg, &m->cur);
	m->have = false;
	return rc;
}
