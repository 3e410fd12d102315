/* SPDX-License-Identifier: MIT */
/*
 * a7_check.c --- run the whole archive7 analysis, in order.
 *
 * 1. scan every block (size rule, nonces, MAC, digest, links);
 * 2. decode block 0 and walk the five special streams;
 * 3. read the four trees along their walked chains;
 * 4. load the registry and the entries, walk every data stream;
 * 5. compare walks with records, find orphans, check the file system.
 * Without a key only step 1's first half is possible: check says so and
 * fails with -IMG_EKEY.  A wrong key stops after one finding.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "a7/a7.h"
#include "core/banned.h"

bool
a7_is_nil(const uint8_t *id)
{
	static const uint8_t	nil[16];

	return memcmp(id, nil, 16) == 0;
}

void
a7_uuid_n(uint8_t *id, unsigned n)
{
	memset(id, 0, 16);
	id[15] = (uint8_t)n;
}

void
a7_uuid_str(const uint8_t *id, char *buf, size_t len)
{
	snprintf(buf, len, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x", id[0], id[1], id[2], id[3], id[4],
	    id[5], id[6], id[7], id[8], id[9], id[10], id[11], id[12],
	    id[13], id[14], id[15]);
}

void
a7_stream_name(const struct a7 *a, size_t s, char *buf, size_t len)
{
	if (s < a->nst && a->st[s].slot >= 0)
		snprintf(buf, len, "%s", a7_slot_names[a->st[s].slot]);
	else if (s < a->nst)
		a7_uuid_str(a->st[s].id, buf, len);
	else
		snprintf(buf, len, "?");
}

void
a7_where(const struct a7 *a, char *buf, size_t len, int64_t b, long s)
{
	char	name[64];
	size_t	n;
	long	e;

	n = (size_t)snprintf(buf, len, "block %" PRId64, b);
	if (n >= len)
		return;
	if (s < 0 && b >= 0 && (uint64_t)b < a->nblocks && a->blk != NULL &&
	    a->blk[b].owner >= 0)
		s = a->blk[b].owner;
	if (s >= 0 && (size_t)s < a->nst) {
		a7_stream_name(a, (size_t)s, name, sizeof(name));
		n += (size_t)snprintf(buf + n, len - n, ", stream %s", name);
		e = a->st[s].entry;
		if (e >= 0 && n < len && a->ent[e].path != NULL)
			snprintf(buf + n, len - n, ", %s", a->ent[e].path);
	} else if (b > 0 && (uint64_t)b < a->nblocks && a->blk != NULL &&
	    a->blk[b].st == A7_BS_OK && !a7_is_nil(a->blk[b].sid)) {
		a7_uuid_str(a->blk[b].sid, name, sizeof(name));
		snprintf(buf + n, len - n, ", stream %s", name);
	}
}

void
a7_reset(struct a7 *a)
{
	size_t	i;

	free(a->blk);
	free(a->st);
	for (i = 0; i < A7_NSPECIAL; i++)
		a7_tree_release(&a->tree[i]);
	for (i = 0; i < a->nent; i++)
		free(a->ent[i].path);
	free(a->ent);
	a->blk = NULL;
	a->st = NULL;
	a->nst = a->capst = 0;
	a->ent = NULL;
	a->nent = 0;
	a->root = -1;
	a->nok = a->nonce_reuse = 0;
	a->keyfail = a->meta_ok = a->meta_stale = false;
	a->fix_meta = a->fix_tail = a->fix_trash_rec = false;
	a->analysed = false;
	memset(&a->ahdr, 0, sizeof(a->ahdr));
}

static int
a7_analyse_key(struct img *img, struct a7 *a, struct report *rp)
{
	size_t	s;
	int	rc, slot;

	if ((rc = a7_meta_decode(img, a, rp)) != 0)
		return rc;
	for (s = 0; s < A7_NSPECIAL; s++)
		a7_chain_walk(img, a, s, rp);
	for (slot = 1; slot < A7_NSPECIAL; slot++)
		if ((rc = a7_tree_read(img, a, slot, rp)) != 0)
			return rc;
	if ((rc = a7_registry_load(img, a, rp)) != 0)
		return rc;
	if ((rc = a7_fs_load(img, a, rp)) != 0)
		return rc;
	for (s = A7_NSPECIAL; s < a->nst; s++) {
		if (img_interrupted()) {
			struct pr_ctx	pc = { .str = "the chain walks" };

			(void)report_problem(rp, PR_CORE_INTERRUPTED, &pc);
			return -EINTR;
		}
		a7_chain_walk(img, a, s, rp);
	}
	a7_blocks_report(a, rp);
	for (s = 0; s < a->nst; s++)
		a7_chain_compare(a, s, rp);
	a7_orphans(img, a, rp);
	a7_fs_check(img, a, rp);
	return 0;
}

int
a7_analyse(struct img *img, struct report *rp)
{
	struct a7	*a = img->priv;
	int		 rc;

	a7_reset(a);
	rc = a7_scan(img, a, rp);
	if (rc == 0 && a->nblocks > 0)
		rc = a7_analyse_key(img, a, rp);
	a->analysed = true;
	a->arc = rc;
	return rc;
}

int
a7_check(struct img *img, struct report *rp)
{
	struct a7	*a = img->priv;
	int		 rc;

	rc = a7_analyse(img, rp);
	rp->c.total_clusters = a->nblocks;
	report_extra_int(rp, "blocks", (int64_t)a->nblocks);
	report_extra_bool(rp, "key", img->has_key);
	if (a->nonce_reuse > 0)
		report_extra_int(rp, "nonce-reuse", (int64_t)a->nonce_reuse);
	if (img->has_key && !a->keyfail && a->nblocks > 0) {
		report_extra_int(rp, "streams",
		    (int64_t)(a->nst > A7_NSPECIAL ? a->nst - A7_NSPECIAL :
		    0));
		report_extra_int(rp, "entries", (int64_t)a->nent);
	}
	return rc;
}
