/* SPDX-License-Identifier: MIT */
/*
 * qcow2_snapshot.c --- read and check the internal snapshot table.
 *
 * The table is nb_snapshots variable-size records at snapshots_offset,
 * each on an 8-byte boundary ("Snapshot table", spec 1.5).  QEMU checks
 * it before the refcount pass (spec 4.1): a count or offset it cannot use
 * and a record with more than 1 KiB of extra data stop the check; a
 * version 3 record with less than 16 bytes of extra data is a corruption.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qcow2/qcow2.h"
#include "core/banned.h"

/* Longest record QEMU would read before rejecting it. */
#define QCOW2_SNAP_REC_MAX	(QCOW2_SNAP_HDR_LEN + QCOW2_MAX_SNAP_EXTRA + \
				    2 * 65535 + 8)
#define QCOW2_SNAPTAB_BUF_MAX	(QCOW2_MAX_SNAPTAB_BYTES + QCOW2_SNAP_REC_MAX)

static char *
snap_str(struct rd *r, uint16_t n)
{
	const uint8_t	*p = rd_ptr(r, n);
	char		*s;
	uint16_t	 i;

	if (p == NULL || (s = malloc((size_t)n + 1)) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		s[i] = p[i] == '\0' ? '?' : (char)p[i];
	s[n] = '\0';
	img_str_clean(s);
	return s;
}

void
qcow2_snaptab_release(struct qcow2_snaptab *t)
{
	uint32_t	i;

	for (i = 0; t->s != NULL && i < t->n; i++) {
		free(t->s[i].id);
		free(t->s[i].name);
	}
	free(t->s);
	memset(t, 0, sizeof(*t));
}

/*
 * Decode nb records from buf.  Returns 0; -IMG_ESHORT when buf ends
 * before the records do (the caller reads more); -IMG_ELIMIT when record
 * *bad_idx has too much extra data; -EFBIG when the table grows past
 * 64 MiB at record *bad_idx; -ENOMEM.
 */
int
qcow2_snaptab_decode(const uint8_t *buf, size_t len, uint32_t nb,
    uint32_t version, struct qcow2_snaptab *out, uint32_t *bad_idx)
{
	return qcow2_snaptab_decode_ex(buf, len, nb, version, false, out,
	    bad_idx);
}

int
qcow2_snaptab_decode_ex(const uint8_t *buf, size_t len, uint32_t nb,
    uint32_t version, bool clip, struct qcow2_snaptab *out,
    uint32_t *bad_idx)
{
	struct qcow2_snaptab	t;
	struct qcow2_snap	*sn;
	struct rd		r, x;
	uint16_t		id_size, name_size;
	uint32_t		i;
	int			rc = 0;

	(void)version;
	memset(&t, 0, sizeof(t));
	if (nb > QCOW2_MAX_SNAPSHOTS)
		return -IMG_ELIMIT;
	if (nb > 0 && (t.s = calloc(nb, sizeof(*t.s))) == NULL)
		return -ENOMEM;
	rd_init(&r, buf, len);
	for (i = 0; i < nb; i++) {
		sn = &t.s[i];
		rd_seek(&r, (r.off + 7) & ~(size_t)7);
		sn->rec_off = r.off;
		sn->l1_table_offset = rd_be64(&r);	/* 0 */
		sn->l1_size = rd_be32(&r);		/* 8 */
		id_size = rd_be16(&r);			/* 12 */
		name_size = rd_be16(&r);		/* 14 */
		sn->date_sec = rd_be32(&r);		/* 16 */
		sn->date_nsec = rd_be32(&r);		/* 20 */
		sn->vm_clock_nsec = rd_be64(&r);	/* 24 */
		sn->vm_state_size32 = rd_be32(&r);	/* 32 */
		sn->extra_data_size = rd_be32(&r);	/* 36 */
		if (rd_end(&r) != 0) {
			rc = -IMG_ESHORT;
			break;
		}
		t.n = i + 1;
		sn->id_size = id_size;
		sn->name_size = name_size;
		sn->extra_kept = sn->extra_data_size;
		if (sn->extra_data_size > QCOW2_MAX_SNAP_EXTRA) {
			*bad_idx = i;
			rc = -IMG_ELIMIT;
			if (!clip)
				break;
			/* qemu -r all keeps the first 1 KiB of it. */
			sn->extra_kept = QCOW2_MAX_SNAP_EXTRA;
		}
		/* 40: extra data: vm_state_size, disk_size, icount. */
		rd_sub(&r, sn->extra_data_size, &x);
		sn->vm_state_size = sn->vm_state_size32;
		if (sn->extra_data_size >= 8)
			sn->vm_state_size = rd_be64(&x);
		if (sn->extra_data_size >= 16)
			sn->disk_size = rd_be64(&x);
		if (sn->extra_data_size >= 24) {
			sn->icount = rd_be64(&x);
			sn->has_icount = true;
		}
		sn->id = snap_str(&r, id_size);
		sn->name = snap_str(&r, name_size);
		if (rd_end(&r) != 0) {
			rc = -IMG_ESHORT;
			break;
		}
		if (sn->id == NULL || sn->name == NULL) {
			rc = -ENOMEM;
			break;
		}
		if (r.off > QCOW2_MAX_SNAPTAB_BYTES) {
			*bad_idx = i;
			rc = -EFBIG;
			break;
		}
	}
	/* Clipped: the first record with too much extra data is named. */
	if (clip && rc == 0 && i == nb) {
		for (i = 0; i < t.n; i++)
			if (t.s[i].extra_kept != t.s[i].extra_data_size)
				break;
		if (i < t.n) {
			*bad_idx = i;
			rc = -IMG_ELIMIT;
		}
	}
	t.bytes = r.off;
	if (rc == 0 || rc == -IMG_ELIMIT || rc == -EFBIG) {
		*out = t;
		return rc;
	}
	qcow2_snaptab_release(&t);
	return rc;
}

/*
 * The snapshot-table pass (spec 4.1), report mode.  Fills t; returns a
 * negative error when QEMU's check would stop (the finding is reported).
 */
int
qcow2_snaptab_read(struct img *img, struct qcow2 *q, struct qcow2_snaptab *t,
    struct report *rp)
{
	return qcow2_snaptab_read_fix(img, q, t, rp, NULL);
}

/* Report id in repair form (fx) and say whether the repair may cut. */
static bool
snap_cut(struct report *rp, struct qcow2_fix *fx, enum pr_id id,
    const struct pr_ctx *pc)
{
	if (!qcow2_fixing(fx, QCOW2_FIX_STRUCT) || !report_problem(rp, id, pc))
		return false;
	fx->snap_rewrite = true;
	fx->snap_id = id;
	qcow2_fix_count(fx, id, 1);
	return true;
}

int
qcow2_snaptab_read_fix(struct img *img, struct qcow2 *q,
    struct qcow2_snaptab *t, struct report *rp, struct qcow2_fix *fx)
{
	bool		 repair = qcow2_fixing(fx, QCOW2_FIX_STRUCT);
	struct pr_ctx	 pc;
	uint8_t		*buf = NULL, *nbuf;
	uint64_t	 off, nb, end;
	size_t		 len;
	uint32_t	 bad = 0, i;
	char		 path[64];
	int		 rc;

	memset(t, 0, sizeof(*t));
	memset(&pc, 0, sizeof(pc));
	/* 60: nb_snapshots, 64: snapshots_offset, re-read from the file. */
	nb = q->h.nb_snapshots;
	off = q->h.snapshots_offset;
	pc.path = "header";
	if (nb > QCOW2_MAX_SNAPSHOTS) {
		pc.off = 60;
		pc.len = 4;
		pc.found = nb;
		pc.want = QCOW2_MAX_SNAPSHOTS;
		pc.flags = PC_HOST;
		/* qemu -r all: "Discarding %u overhanging snapshots". */
		if (repair && snap_cut(rp, fx, PR_QCOW2_SNAPTAB_DISCARD, &pc))
			nb = QCOW2_MAX_SNAPSHOTS;
		else {
			if (!repair)
				report_problem(rp, PR_QCOW2_SNAPTAB_TOO_LARGE,
				    &pc);
			return -EFBIG;
		}
	}
	if ((off & (q->cs - 1)) != 0 || !ck_add_u64(off,
	    nb * QCOW2_SNAP_HDR_LEN, &end) || end > INT64_MAX) {
		pc.off = off;
		pc.len = nb * QCOW2_SNAP_HDR_LEN;
		pc.flags = PC_HOST;
		report_problem(rp, PR_QCOW2_SNAPTAB_OFFSET, &pc);
		return -EINVAL;
	}
	t->offset = off;
	if (nb == 0)
		return 0;
	/* Read more until the records fit; zeros past EOF, as QEMU. */
	len = 65536;
	for (;;) {
		if ((nbuf = realloc(buf, len)) == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		buf = nbuf;
		if ((rc = img_pread_zf(img, off, buf, len, NULL)) != 0)
			goto out;
		rc = qcow2_snaptab_decode_ex(buf, len, (uint32_t)nb,
		    q->h.version, repair, t, &bad);
		if (rc != -IMG_ESHORT || len >= QCOW2_SNAPTAB_BUF_MAX)
			break;
		len = len * 4 > QCOW2_SNAPTAB_BUF_MAX ? QCOW2_SNAPTAB_BUF_MAX :
		    len * 4;
	}
	t->offset = off;
	if (rc == -IMG_ELIMIT && repair) {
		/* Every record with too much extra data, each cut to 1 KiB. */
		for (i = 0; i < t->n; i++) {
			if (t->s[i].extra_kept == t->s[i].extra_data_size)
				continue;
			snprintf(path, sizeof(path), "snapshot table entry %"
			    PRIu32, i);
			pc.path = path;
			pc.idx = i;
			pc.off = off + t->s[i].rec_off;
			pc.len = QCOW2_SNAP_HDR_LEN;
			pc.found = t->s[i].extra_data_size;
			pc.want = QCOW2_MAX_SNAP_EXTRA;
			pc.flags = PC_HOST;
			if (!snap_cut(rp, fx, PR_QCOW2_SNAP_EXTRA_DISCARD,
			    &pc)) {
				rc = -EFBIG;
				goto out;
			}
		}
		rc = 0;
	}
	if (rc == -IMG_ELIMIT) {
		snprintf(path, sizeof(path), "snapshot table entry %" PRIu32,
		    bad);
		pc.path = path;
		pc.idx = bad;
		pc.found = t->s[bad].extra_data_size;
		pc.want = QCOW2_MAX_SNAP_EXTRA;
		report_problem(rp, PR_QCOW2_SNAP_EXTRA_TOO_LARGE, &pc);
		rc = -EFBIG;
		goto out;
	}
	if (rc == -EFBIG) {
		pc.idx = bad;
		pc.want = QCOW2_MAX_SNAPTAB_BYTES;
		pc.off = off;
		pc.len = t->bytes;
		pc.flags = PC_HOST;
		pc.path = "snapshot table";
		if (repair && snap_cut(rp, fx, PR_QCOW2_SNAPTAB_CUT, &pc)) {
			/* Records from bad on are dropped. */
			for (i = bad; i < t->n; i++) {
				free(t->s[i].id);
				free(t->s[i].name);
			}
			t->n = bad;
			t->bytes = bad > 0 ? t->s[bad - 1].rec_off +
			    QCOW2_SNAP_HDR_LEN + t->s[bad - 1].extra_data_size +
			    t->s[bad - 1].id_size + t->s[bad - 1].name_size : 0;
			rc = 0;
		} else {
			if (repair)
				rc = -EFBIG;
			else
				report_problem(rp, PR_QCOW2_SNAPTAB_TOO_BIG,
				    &pc);
			goto out;
		}
	}
	if (rc != 0)
		goto out;
	/* Version 3 needs at least vm_state_size and disk_size. */
	if (q->h.version >= 3) {
		uint64_t	roff = off;

		for (i = 0; i < t->n; i++) {
			roff = (roff + 7) & ~7ULL;
			if (t->s[i].extra_data_size < 16) {
				snprintf(path, sizeof(path),
				    "snapshot table entry %" PRIu32, i);
				pc.path = path;
				pc.idx = i;
				pc.off = roff;
				pc.len = QCOW2_SNAP_HDR_LEN +
				    t->s[i].extra_data_size;
				pc.found = t->s[i].extra_data_size;
				pc.want = 16;
				pc.flags = PC_HOST;
				if (report_problem(rp, PR_QCOW2_SNAP_INCOMPLETE,
				    &pc) && repair) {
					fx->snap_rewrite = true;
					fx->snap_id = PR_QCOW2_SNAP_INCOMPLETE;
					qcow2_fix_count(fx,
					    PR_QCOW2_SNAP_INCOMPLETE, 1);
				}
			}
			roff += QCOW2_SNAP_HDR_LEN + t->s[i].extra_data_size +
			    strlen(t->s[i].id) + strlen(t->s[i].name);
		}
	}
out:
	free(buf);
	if (rc != 0)
		qcow2_snaptab_release(t);
	return rc;
}
