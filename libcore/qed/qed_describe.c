/* SPDX-License-Identifier: MIT */
/*
 * qed_describe.c --- name and decode the QED field under a host byte, and
 * find the entry a finding is about (the viewer, the findings JSON).
 *
 * The header says where its fields, the backing file name and the L1
 * table are.  An L2 table is known only to a walk: the caller's host map
 * says a byte is in one and whose it is ("L1[3]"), and the L1 entry then
 * gives the table's exact offset.  Values are read from the file, little
 * endian ("Header", qed spec), so a damaged field shows what is on disk.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qed/qed.h"
#include "core/banned.h"

/* The fixed header ("Header", qed spec 1.1). */
static const struct {
	uint32_t	 off;
	uint32_t	 len;
	const char	*name;
} qdd_hdr[] = {
	{ 0, 4, "header.magic" },
	{ 4, 4, "header.cluster_size" },
	{ 8, 4, "header.table_size" },
	{ 12, 4, "header.header_size" },
	{ 16, 8, "header.features" },
	{ 24, 8, "header.compat_features" },
	{ 32, 8, "header.autoclear_features" },
	{ 40, 8, "header.l1_table_offset" },
	{ 48, 8, "header.image_size" },
	{ 56, 4, "header.backing_filename_offset" },
	{ 60, 4, "header.backing_filename_size" },
};

static int
qdd_header(struct img *img, const struct qed *q, size_t k,
    struct img_field *f)
{
	uint64_t	v;
	int		rc;

	if ((rc = fld_read(img, qdd_hdr[k].off, qdd_hdr[k].len, false,
	    &v)) != 0)
		return rc;
	fld_name(f, "%s", qdd_hdr[k].name);
	fld_set(f, qdd_hdr[k].off, qdd_hdr[k].len, v);
	switch (qdd_hdr[k].off) {
	case 0:
		fld_add(f, v == QED_MAGIC ? "\"QED\\0\"" : "bad magic");
		break;
	case 4:
		fld_add(f, "%" PRIu64 "-byte clusters", v);
		break;
	case 8:
		fld_add(f, "tables of %" PRIu64 " clusters", v);
		break;
	case 12:
		fld_add(f, "header of %" PRIu64 " clusters", v);
		break;
	case 16:
		fld_add(f, "%s%s%s%s", v == 0 ? "none" : "",
		    v & QED_F_BACKING_FILE ? "backing file " : "",
		    v & QED_F_NEED_CHECK ? "need check " : "",
		    v & QED_F_BACKING_FORMAT_NO_PROBE ? "raw backing " : "");
		break;
	case 40:
		fld_add(f, "L1 table 0x%" PRIx64, v);
		fld_target(f, v);
		break;
	case 48:
		fld_add(f, "guest size %" PRIu64 " bytes", v);
		break;
	case 56:
		if (q->hdr.features & QED_F_BACKING_FILE) {
			fld_add(f, "backing file name at 0x%" PRIx64, v);
			fld_target(f, v);
		}
		break;
	}
	return 0;
}

/* "L1[3]": 3, or -1. */
static int64_t
qdd_l1idx(const char *s)
{
	char		*end;
	unsigned long	 v;

	if (s == NULL || strncmp(s, "L1[", 3) != 0)
		return -1;
	v = strtoul(s + 3, &end, 10);
	if (end == s + 3 || *end != ']')
		return -1;
	return (int64_t)v;
}

static int
qdd_l1e(struct img *img, const struct qed *q, uint64_t i,
    struct img_field *f)
{
	uint64_t	e, at = q->hdr.l1_table_offset + i * 8;
	int		rc;

	if ((rc = fld_read(img, at, 8, false, &e)) != 0)
		return rc;
	fld_name(f, "L1[%" PRIu64 "]", i);
	fld_set(f, at, 8, e);
	if (e == 0)
		fld_add(f, "unallocated");
	else {
		fld_add(f, "L2 table 0x%" PRIx64, e);
		if (qed_table_off_check(&q->g, e) != QED_OFF_OK)
			fld_add(f, " (invalid)");
		fld_target(f, e);
	}
	return 0;
}

static int
qdd_l2e(struct img *img, const struct qed *q, uint64_t tab, uint64_t j,
    int64_t l1i, struct img_field *f)
{
	uint64_t	e, at = tab + j * 8;
	int		rc;

	if ((rc = fld_read(img, at, 8, false, &e)) != 0)
		return rc;
	fld_name(f, "L2[%" PRIu64 "]", j);
	fld_set(f, at, 8, e);
	if (e == QED_L2_UNALLOC)
		fld_add(f, "unallocated");
	else if (e == QED_L2_ZERO)
		fld_add(f, "zero");
	else {
		fld_add(f, "offset 0x%" PRIx64, e);
		if (qed_cluster_off_check(&q->g, e) != QED_OFF_OK)
			fld_add(f, " (invalid)");
		fld_target(f, e);
	}
	if (l1i >= 0)
		fld_add(f, ", guest 0x%" PRIx64, ((uint64_t)l1i * q->g.nent +
		    j) * q->g.cs);
	return 0;
}

int
qed_describe(struct img *img, uint64_t off, const struct img_where *w,
    struct img_field *f)
{
	const struct qed	*q = img->priv;
	uint64_t		 tab, bo = q->hdr.backing_filename_offset;
	int64_t			 l1i;
	size_t			 k;
	int			 rc;

	for (k = 0; k < sizeof(qdd_hdr) / sizeof(qdd_hdr[0]); k++)
		if (off >= qdd_hdr[k].off && off < qdd_hdr[k].off +
		    qdd_hdr[k].len)
			return qdd_header(img, q, k, f);
	if (q->backing != NULL && off >= bo &&
	    off - bo < q->hdr.backing_filename_size) {
		fld_name(f, "backing file name");
		f->off = bo;
		f->len = q->hdr.backing_filename_size;
		fld_add(f, "\"%s\"", q->backing);
		return 0;
	}
	if (off >= q->hdr.l1_table_offset &&
	    off - q->hdr.l1_table_offset < q->g.table_bytes)
		return qdd_l1e(img, q, (off - q->hdr.l1_table_offset) / 8, f);
	if (w == NULL || w->cls == NULL || strcmp(w->cls, "l2") != 0)
		return -IMG_ENOOP;
	/* The owner names the L1 entry, which names the table. */
	tab = w->run_off;
	if ((l1i = qdd_l1idx(w->owner)) >= 0 && (uint64_t)l1i < q->g.nent) {
		if ((rc = fld_read(img, q->hdr.l1_table_offset +
		    (uint64_t)l1i * 8, 8, false, &tab)) != 0)
			return rc;
		if (off < tab || off - tab >= q->g.table_bytes)
			tab = w->run_off;
	}
	if (off < tab)
		return -IMG_ENOOP;
	return qdd_l2e(img, q, tab, (off - tab) / 8, l1i, f);
}

/*
 * The entry a finding's path names: "L1[i] -> L2 @0x<off> [j]" (an L2
 * entry), "L1[i]" or "L1[i] -> L2 @0x<off>" (an L1 entry).
 */
int
qed_locate(struct img *img, const struct finding *fd, uint64_t *off,
    uint64_t *len)
{
	const struct qed	*q = img->priv;
	const char		*p = fd->path, *s;
	unsigned long long	 a, b;
	int64_t			 i;
	char			*end;

	if ((i = qdd_l1idx(p)) < 0 || (uint64_t)i >= q->g.nent)
		return -IMG_ENOOP;
	if ((s = strstr(p, "] -> L2 @0x")) != NULL) {
		a = strtoull(s + 11, &end, 16);
		if (end != s + 11 && strncmp(end, " [", 2) == 0) {
			b = strtoull(end + 2, &end, 10);
			if (*end != ']' || b >= q->g.nent)
				return -IMG_ENOOP;
			*off = a + b * 8;
			*len = 8;
			return 0;
		}
		if (*end != '\0')
			return -IMG_ENOOP;
	}
	*off = q->hdr.l1_table_offset + (uint64_t)i * 8;
	*len = 8;
	return 0;
}
