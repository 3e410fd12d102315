/* SPDX-License-Identifier: MIT */
/*
 * qed_table.c --- QED offset rules, QEMU's cluster index, table reads.
 *
 * An offset found in a table is valid when it is cluster aligned, not
 * inside the header area and below the file length rounded down to a
 * cluster (qed_check_cluster_offset); a table offset also needs its last
 * cluster to be valid and strictly after its first, which no table of one
 * cluster satisfies (qed_check_table_offset, spec section 2).  Tables are
 * read in chunks of QED_CHUNK_ENTRIES so memory never depends on the
 * table size found on disk.  A table in a last cluster the file cuts
 * short reads as zeros past the end, as QEMU's file driver returns.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "qed/qed.h"
#include "core/banned.h"

enum qed_off_err
qed_cluster_off_check(const struct qed_geom *g, uint64_t off)
{
	if (off & (g->cs - 1))
		return QED_OFF_MISALIGNED;
	if (off < g->hdr_bytes)
		return QED_OFF_IN_HEADER;
	if (off >= g->file_size)
		return QED_OFF_PAST_EOF;
	return QED_OFF_OK;
}

enum qed_off_err
qed_table_off_check(const struct qed_geom *g, uint64_t off)
{
	enum qed_off_err	e;
	uint64_t		last;

	/* QEMU computes off + (ts - 1) * cs and wants it above off. */
	if (!ck_add_u64(off, (g->ts - 1) * g->cs, &last) || last <= off)
		return QED_OFF_TABLE_WRAP;
	if ((e = qed_cluster_off_check(g, off)) != QED_OFF_OK)
		return e;
	return qed_cluster_off_check(g, last);
}

enum pr_id
qed_l1_problem(enum qed_off_err oe)
{
	switch (oe) {
	case QED_OFF_MISALIGNED:
		return PR_QED_L1_MISALIGNED;
	case QED_OFF_IN_HEADER:
		return PR_QED_L1_IN_HEADER;
	case QED_OFF_PAST_EOF:
		return PR_QED_L1_PAST_EOF;
	case QED_OFF_TABLE_WRAP:
	case QED_OFF_OK:
	default:
		return PR_QED_L1_TABLE_WRAP;
	}
}

enum pr_id
qed_l2_problem(enum qed_off_err oe)
{
	switch (oe) {
	case QED_OFF_MISALIGNED:
		return PR_QED_DATA_MISALIGNED;
	case QED_OFF_IN_HEADER:
		return PR_QED_DATA_IN_HEADER;
	case QED_OFF_PAST_EOF:
	case QED_OFF_TABLE_WRAP:
	case QED_OFF_OK:
	default:
		return PR_QED_DATA_PAST_EOF;
	}
}

uint64_t
qed_qemu_index(const struct qed_geom *g, uint64_t x)
{
	uint64_t	r;

	/*
	 * qed_bytes_to_clusters(): the division by cs - 1 is QEMU's, kept
	 * so that our counters equal qemu-img check's (spec 4.1).  x is
	 * at most a file length, far from overflowing when rounded up.
	 */
	if (!ck_align_up(x, g->cs, &r))
		r = x & ~(g->cs - 1);
	return r / (g->cs - 1);
}

int
qed_table_decode(const uint8_t *buf, size_t len, size_t count,
    uint64_t *out)
{
	size_t	i;

	/* One bounds test for the table, then a plain loop. */
	if (count > len / 8)
		return -IMG_ESHORT;
	for (i = 0; i < count; i++)
		out[i] = le64_at(buf + 8 * i);
	return 0;
}

int
qed_table_read(struct img *img, const struct qed_geom *g, uint64_t off,
    uint64_t first, size_t count, uint64_t *out)
{
	uint64_t	 pos;
	size_t		 i;
	int		 rc;

	if (count == 0)
		return 0;
	if (count > QED_CHUNK_ENTRIES || first > g->nent ||
	    count > g->nent - first)
		return -IMG_ERANGE;
	if (!ck_add_u64(off, first * 8, &pos))
		return -IMG_ERANGE;
	/*
	 * Past the end of the file reads as zeros, as in QEMU.  Read into
	 * out itself, then each entry to host order where it lies (nothing
	 * to do on a little-endian host): a bounce buffer cost a second
	 * copy of every table, a tenth of a QED check.
	 */
	if ((rc = img_pread_zf(img, pos, out, count * 8, NULL)) != 0)
		return rc;
	for (i = 0; i < count; i++)
		out[i] = le64_at((const uint8_t *)&out[i]);
	return 0;
}
