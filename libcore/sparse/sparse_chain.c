/* SPDX-License-Identifier: MIT */
/*
 * sparse_chain.c --- check a backup chain of sparse streams.
 *
 * Each stream is checked alone first (its findings are prefixed with its
 * place in the chain), then the links (spec section 6, "across a
 * chain"): the first stream is a full or copy backup and the others are
 * incremental or differential; each incremental names the previous
 * stream's checkpoint as its parent, a differential one an earlier
 * checkpoint; the disk name stays and a changed virtual size is noted.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sparse/sparse.h"
#include "core/banned.h"

static void
link_pc(struct pr_ctx *pc, struct img *img, size_t i, char *path,
    size_t len)
{
	struct sparse	*sp = img->priv;

	memset(pc, 0, sizeof(*pc));
	snprintf(path, len, "chain[%zu]/meta", i);
	pc->path = path;
	pc->flags = PC_HOST;
	pc->idx = i;
	pc->len = sp->meta.first_frame;
}

int
sparse_chain(struct img **imgs, size_t n, struct report *rp)
{
	struct sparse		*sp, *prev;
	struct pr_ctx		 pc;
	const char		*kind;
	char			 path[64];
	char			*np;
	size_t			 i, j, first, len;
	bool			 inc, found;
	int			 rc;

	for (i = 0; i < n; i++) {
		first = rp->nf;
		if ((rc = imgs[i]->ops->check(imgs[i], rp)) != 0)
			return rc;
		/* Say which link each finding belongs to. */
		for (j = first; j < rp->nf; j++) {
			snprintf(path, sizeof(path), "chain[%zu]/", i);
			len = strlen(path) + (rp->f[j].path != NULL ?
			    strlen(rp->f[j].path) : 0) + 1;
			if ((np = malloc(len)) == NULL)
				return -ENOMEM;
			snprintf(np, len, "%s%s", path, rp->f[j].path != NULL ?
			    rp->f[j].path : "");
			free(rp->f[j].path);
			rp->f[j].path = np;
		}
	}
	for (i = 0; i < n; i++) {
		sp = imgs[i]->priv;
		link_pc(&pc, imgs[i], i, path, sizeof(path));
		if (sp->meta.json == NULL) {
			sparse_pr(rp, PR_SPARSE_CHAIN_META, &pc);
			continue;
		}
		kind = sparse_backup_kind(imgs[i]->path, &sp->meta);
		inc = sp->meta.incremental;
		if (i == 0 && inc) {
			pc.str = kind;
			sparse_pr(rp, PR_SPARSE_CHAIN_FIRST, &pc);
		} else if (i > 0 && !inc) {
			pc.str = kind;
			sparse_pr(rp, PR_SPARSE_CHAIN_KIND, &pc);
		}
		if (i == 0)
			continue;
		prev = imgs[i - 1]->priv;
		if (inc && strcmp(kind, "diff") == 0) {
			found = false;
			for (j = 0; j < i; j++) {
				struct sparse	*e = imgs[j]->priv;

				if (e->meta.json != NULL && strcmp(
				    e->meta.checkpoint, sp->meta.parent) == 0)
					found = true;
			}
			if (!found) {
				pc.str = sp->meta.parent;
				sparse_pr(rp, PR_SPARSE_CHAIN_PARENT, &pc);
			}
		} else if (inc && prev->meta.json != NULL &&
		    strcmp(prev->meta.checkpoint, sp->meta.parent) != 0) {
			pc.str = sp->meta.parent;
			sparse_pr(rp, PR_SPARSE_CHAIN_PARENT, &pc);
		}
		if (prev->meta.json != NULL && prev->meta.has_vsize &&
		    sp->meta.has_vsize && prev->meta.virtual_size !=
		    sp->meta.virtual_size) {
			pc.found = sp->meta.virtual_size;
			pc.want = prev->meta.virtual_size;
			sparse_pr(rp, PR_SPARSE_CHAIN_SIZE, &pc);
		}
		sp = imgs[0]->priv;
		prev = imgs[i]->priv;
		if (sp->meta.json != NULL && strcmp(sp->meta.disk,
		    prev->meta.disk) != 0) {
			pc.str = prev->meta.disk;
			sparse_pr(rp, PR_SPARSE_CHAIN_DISK, &pc);
		}
	}
	return 0;
}
