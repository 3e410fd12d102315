/* SPDX-License-Identifier: MIT */
/*
 * qcow2_hostmap.c --- what every byte of a qcow2 file is, for the host map.
 *
 * No walk of our own: the check's walk tells us every reference it
 * counts (qcow2_check_walk()), and its findings say which clusters are
 * leaked (a refcount, no reference).  The claims are kept until the check
 * is done, so each can carry the codes of the findings about its bytes.
 * The core tiles the file from them: overlaps become "shared", the rest
 * "free".
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "qcow2/qcow2.h"
#include "core/banned.h"

/* Merged claims, held until the findings are known. */
struct qclaim {
	uint64_t	 off, len;
	const char	*cls;
	char		*owner;
};

struct hm_ctx {
	struct hmap_sink	*hs;
	const struct qcow2	*q;
	struct qclaim		*c;
	size_t			 n, cap;
	uint64_t		*reach;		/* max end of findings [0, i] */
};

static int
keep(struct hm_ctx *c, uint64_t off, uint64_t len, const char *cls,
    const char *owner)
{
	struct qclaim	*k = c->n > 0 ? &c->c[c->n - 1] : NULL, *p;

	if (len == 0)
		return 0;
	if (k != NULL && k->off + k->len == off && k->cls == cls &&
	    strcmp(k->owner, owner) == 0) {
		k->len += len;
		return 0;
	}
	if (c->n == c->cap) {
		size_t	cap = c->cap ? c->cap * 2 : 256;

		if ((p = realloc(c->c, cap * sizeof(*p))) == NULL)
			return -ENOMEM;
		c->c = p;
		c->cap = cap;
	}
	if ((c->c[c->n].owner = strdup(owner)) == NULL)
		return -ENOMEM;
	c->c[c->n].off = off;
	c->c[c->n].len = len;
	c->c[c->n].cls = cls;
	c->n++;
	return 0;
}

/* Hand a claim to the core, with the codes of the findings in its bytes. */
static int
pass(struct hm_ctx *c, const struct qclaim *k, const struct hm_find *f,
    size_t nf)
{
	uint64_t	end = k->off + k->len, a, b;
	size_t		lo = 0, hi = nf, m;
	int		rc;

	if ((rc = hm_add(c->hs, k->off, k->len, k->cls, k->owner, 0)) != 0)
		return rc;
	/* First finding that may end after k->off (sorted by start). */
	while (lo < hi) {
		m = lo + (hi - lo) / 2;
		if (f[m].off < k->off)
			lo = m + 1;
		else
			hi = m;
	}
	/*
	 * One starting earlier may still reach in: walk back while the
	 * longest reach so far (reach[], a running maximum) gets here.
	 */
	for (m = lo; m > 0 && c->reach[m - 1] > k->off; m--)
		if (f[m - 1].end > k->off && (rc = hm_add(c->hs, k->off,
		    (f[m - 1].end < end ? f[m - 1].end : end) - k->off,
		    k->cls, k->owner, f[m - 1].code)) != 0)
			return rc;
	for (m = lo; m < nf && f[m].off < end; m++) {
		a = f[m].off;
		b = f[m].end < end ? f[m].end : end;
		if ((rc = hm_add(c->hs, a, b - a, k->cls, k->owner,
		    f[m].code)) != 0)
			return rc;
	}
	return 0;
}

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

	int		 rc;

	if (strcmp(what, "header") != 0)
		return keep(c, off, len, class_of(what, owner), owner);
	/* Cluster 0: the header, then extensions and the backing name. */
	if (hl > len)
		hl = len;
	if ((rc = keep(c, off, hl, "header", "header")) != 0)
		return rc;
	return keep(c, off + hl, len - hl, "header-ext", "header");
}

int
qcow2_hostmap(struct img *img, struct hmap_sink *hs)
{
	struct qcow2		*q = img->priv;
	struct qcow2_claims	 cl;
	struct hm_ctx		 c;
	struct report		 rp;
	const struct finding	*x;
	struct hm_find		*f = NULL;
	size_t			 i, nf = 0;
	int			 rc;

	if ((rc = qcow2_usable(img, q, false)) != 0)
		return rc;
	memset(&c, 0, sizeof(c));
	c.hs = hs;
	c.q = q;
	cl.fn = hm_claim;
	cl.arg = &c;
	report_init(&rp);
	rp.max_per_code = 0;
	rp.force = true;
	rc = qcow2_check_walk(img, &rp, &cl);
	if (rc == 0)
		rc = hm_findings(&rp, &f, &nf);
	if (rc == 0 && nf > 0 && (c.reach = malloc(nf *
	    sizeof(*c.reach))) == NULL)
		rc = -ENOMEM;
	for (i = 0; rc == 0 && i < nf; i++)
		c.reach[i] = i > 0 && c.reach[i - 1] > f[i].end ?
		    c.reach[i - 1] : f[i].end;
	for (i = 0; rc == 0 && i < c.n; i++)
		rc = pass(&c, &c.c[i], f, nf);
	for (i = 0; rc == 0 && i < rp.nf; i++) {
		x = &rp.f[i];
		if (x->id == PR_QCOW2_REFCOUNT_LEAK && (x->flags & PC_HOST))
			rc = hm_add(hs, x->host_off, x->host_len, "leaked",
			    "refcount without a reference",
			    pr_info_get(x->id)->code);
	}
	for (i = 0; i < c.n; i++)
		free(c.c[i].owner);
	free(c.c);
	free(c.reach);
	free(f);
	report_release(&rp);
	return rc;
}
