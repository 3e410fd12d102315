/* SPDX-License-Identifier: MIT */
/*
 * qcow2_hostmap.c --- what every byte of a qcow2 file is, for the host map.
 *
 * No walk of our own: the check's walk tells us every reference it
 * counts (qcow2_check_walk()), and its findings say which clusters are
 * leaked (a refcount, no reference).  The core tiles the file from the
 * claims: overlaps become "shared", the rest "free".
 */
#include <string.h>

#include "qcow2/qcow2.h"
#include "core/banned.h"

struct hm_ctx {
	struct hmap_sink	*hs;
	const struct qcow2	*q;
};

/* Our class names for what the check counts. */
static const char *
class_of(const char *what, const char *owner)
{
	static const struct {
		const char	*what;
		const char	*cls;
	} tab[] = {
		{ "L2 table",		"l2" },
		{ "data cluster",	"data" },
		{ "compressed cluster",	"compressed" },
		{ "refcount table",	"refcount-table" },
		{ "refcount block",	"refcount-block" },
		{ "snapshot table",	"snapshot-table" },
		{ "LUKS header",	"crypto-header" },
		{ "bitmap directory",	"bitmap-directory" },
		{ "bitmap table",	"bitmap-table" },
		{ "bitmap data cluster", "bitmap-data" },
	};
	size_t	i;

	if (strcmp(what, "L1 table") == 0)
		return strncmp(owner, "snapshot", 8) == 0 ? "snapshot-l1" :
		    "l1";
	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (strcmp(what, tab[i].what) == 0)
			return tab[i].cls;
	return "metadata";
}

static int
hm_claim(void *arg, uint64_t off, uint64_t len, const char *what,
    const char *owner)
{
	struct hm_ctx	*c = arg;
	uint64_t	 hl = c->q->h.header_length;

	if (strcmp(what, "header") != 0)
		return hm_add(c->hs, off, len, class_of(what, owner), owner,
		    0);
	/* Cluster 0: the header, then extensions and the backing name. */
	if (hl > len)
		hl = len;
	if (hm_add(c->hs, off, hl, "header", "header", 0) != 0)
		return -1;
	return hm_add(c->hs, off + hl, len - hl, "header-ext", "header", 0);
}

int
qcow2_hostmap(struct img *img, struct hmap_sink *hs)
{
	struct qcow2		*q = img->priv;
	struct qcow2_claims	 cl;
	struct hm_ctx		 c;
	struct report		 rp;
	const struct finding	*f;
	const struct pr_info	*pi;
	size_t			 i;
	int			 rc;

	if ((rc = qcow2_usable(img, q, false)) != 0)
		return rc;
	c.hs = hs;
	c.q = q;
	cl.fn = hm_claim;
	cl.arg = &c;
	report_init(&rp);
	rp.max_per_code = 0;
	rp.force = true;
	rc = qcow2_check_walk(img, &rp, &cl);
	for (i = 0; rc == 0 && i < rp.nf; i++) {
		f = &rp.f[i];
		if (!(f->flags & PC_HOST) || f->host_len == 0)
			continue;
		pi = pr_info_get(f->id);
		if (f->id == PR_QCOW2_REFCOUNT_LEAK)
			rc = hm_add(hs, f->host_off, f->host_len, "leaked",
			    "refcount without a reference", pi->code);
	}
	report_release(&rp);
	return rc;
}
