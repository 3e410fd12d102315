/* SPDX-License-Identifier: MIT */
/*
 * qed_hdr.c --- decode and validate the QED header.
 *
 * The decoder reads the 64 fixed bytes field by field through the bounded
 * reader.  The validator applies QEMU 7.2's open-time tests in QEMU's
 * order (bdrv_qed_do_open, spec section 3), so an image QEMU refuses is
 * refused here too, with QEMU's message followed by the field, its
 * offset and its value.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "qed/qed.h"
#include "core/banned.h"

int
qed_hdr_decode(struct rd *r, struct qed_hdr *out)
{
	struct qed_hdr	h;
	int		rc;

	memset(&h, 0, sizeof(h));
	h.magic = rd_le32(r);			/*  0: magic */
	h.cluster_size = rd_le32(r);		/*  4: cluster_size */
	h.table_size = rd_le32(r);		/*  8: table_size */
	h.header_size = rd_le32(r);		/* 12: header_size */
	h.features = rd_le64(r);		/* 16: features */
	h.compat_features = rd_le64(r);		/* 24: compat_features */
	h.autoclear_features = rd_le64(r);	/* 32: autoclear_features */
	h.l1_table_offset = rd_le64(r);		/* 40: l1_table_offset */
	h.image_size = rd_le64(r);		/* 48: image_size */
	h.backing_filename_offset = rd_le32(r);	/* 56 */
	h.backing_filename_size = rd_le32(r);	/* 60 */
	if ((rc = rd_end(r)) != 0)
		return rc;
	*out = h;
	return 0;
}

static bool
pow2_in(uint64_t v, uint64_t lo, uint64_t hi)
{
	return v >= lo && v <= hi && (v & (v - 1)) == 0;
}

static const char *
off_err_name(enum qed_off_err e)
{
	switch (e) {
	case QED_OFF_OK:		return "valid";
	case QED_OFF_MISALIGNED:	return "not cluster aligned";
	case QED_OFF_IN_HEADER:		return "inside the header";
	case QED_OFF_PAST_EOF:		return "past the end of the file";
	case QED_OFF_TABLE_WRAP:	return "the table wraps past 2^64";
	}
	return "?";
}

enum qed_hdr_err
qed_hdr_validate(const struct qed_hdr *h, uint64_t file_len,
    struct qed_geom *out, char *why, size_t whylen)
{
	struct qed_geom		g;
	enum qed_off_err	oe;
	uint64_t		nent, max, end;

	if (whylen > 0)
		why[0] = '\0';
	if (h->magic != QED_MAGIC) {
		snprintf(why, whylen, "Image not in QED format: magic "
		    "(offset 0) is 0x%08" PRIx32 ", want 0x%08x", h->magic,
		    QED_MAGIC);
		return QED_HDR_MAGIC;
	}
	if (h->features & ~QED_FEATURE_MASK) {
		snprintf(why, whylen, "Unsupported QED features: %" PRIx64
		    " (features at offset 16 is 0x%" PRIx64 ")",
		    h->features & ~QED_FEATURE_MASK, h->features);
		return QED_HDR_FEATURES;
	}
	if (!pow2_in(h->cluster_size, QED_MIN_CLUSTER_SIZE,
	    QED_MAX_CLUSTER_SIZE)) {
		snprintf(why, whylen, "QED cluster size is invalid: "
		    "cluster_size (offset 4) is %" PRIu32 ", want a power of "
		    "two in [%u, %u]", h->cluster_size, QED_MIN_CLUSTER_SIZE,
		    QED_MAX_CLUSTER_SIZE);
		return QED_HDR_CLUSTER_SIZE;
	}
	if (!pow2_in(h->table_size, QED_MIN_TABLE_SIZE, QED_MAX_TABLE_SIZE)) {
		snprintf(why, whylen, "QED table size is invalid: table_size "
		    "(offset 8) is %" PRIu32 ", want a power of two in "
		    "[%u, %u]", h->table_size, QED_MIN_TABLE_SIZE,
		    QED_MAX_TABLE_SIZE);
		return QED_HDR_TABLE_SIZE;
	}

	memset(&g, 0, sizeof(g));
	g.cs = h->cluster_size;
	g.ts = h->table_size;
	g.table_bytes = g.ts * g.cs;		/* <= 2^30 */
	g.nent = g.table_bytes / 8;
	g.hdr_bytes = (uint64_t)h->header_size * g.cs;	/* < 2^58 */
	/*
	 * QEMU's bdrv_getlength() counts whole 512-byte sectors, rounded
	 * up, and open rounds that down to a cluster: a last cluster cut
	 * short after its last sector boundary still counts, and reads
	 * past the end of the file return zeros.
	 */
	if (!ck_align_up(file_len, QED_SECTOR_SIZE, &g.file_size))
		g.file_size = file_len;
	g.file_size &= ~(g.cs - 1);

	/*
	 * QEMU's maximum, nent * nent * cs, wraps modulo 2^64 for the
	 * largest geometries (64 MiB clusters, 16-cluster tables give 0):
	 * unsigned arithmetic here wraps the same way on purpose.
	 */
	nent = g.nent;
	max = nent * nent * g.cs;
	if (h->image_size % QED_SECTOR_SIZE != 0 || h->image_size > max) {
		snprintf(why, whylen, "QED image size is invalid: image_size "
		    "(offset 48) is %" PRIu64 ", want a multiple of %u and at "
		    "most %" PRIu64, h->image_size, QED_SECTOR_SIZE, max);
		return QED_HDR_IMAGE_SIZE;
	}
	if ((oe = qed_table_off_check(&g, h->l1_table_offset)) != QED_OFF_OK) {
		if (g.ts == 1) {
			/* Spec 2: QEMU wants a table's last cluster > first. */
			snprintf(why, whylen, "QED table offset is invalid: "
			    "table_size (offset 8) is 1, and QEMU accepts no "
			    "table of one cluster (l1_table_offset 0x%" PRIx64
			    ")", h->l1_table_offset);
			return QED_HDR_L1_OFFSET;
		}
		snprintf(why, whylen, "QED table offset is invalid: "
		    "l1_table_offset (offset 40) is 0x%" PRIx64 ": %s",
		    h->l1_table_offset, off_err_name(oe));
		return QED_HDR_L1_OFFSET;
	}
	if (h->header_size > UINT32_MAX / h->cluster_size) {
		snprintf(why, whylen, "QED header size is too large: "
		    "header_size (offset 12) is %" PRIu32 " clusters of %"
		    PRIu32 " bytes, more than 4 GiB", h->header_size,
		    h->cluster_size);
		return QED_HDR_HEADER_SIZE;
	}
	if (h->features & QED_F_BACKING_FILE) {
		end = (uint64_t)h->backing_filename_offset +
		    h->backing_filename_size;
		if (end > g.hdr_bytes) {
			snprintf(why, whylen, "QED backing filename offset is "
			    "invalid: backing_filename_offset (offset 56) %"
			    PRIu32 " + backing_filename_size (offset 60) %"
			    PRIu32 " is past the header (%" PRIu64 " bytes)",
			    h->backing_filename_offset,
			    h->backing_filename_size, g.hdr_bytes);
			return QED_HDR_BACKING_OFFSET;
		}
		if (h->backing_filename_size > QED_BACKING_NAME_MAX) {
			snprintf(why, whylen, "Failed to read backing "
			    "filename: backing_filename_size (offset 60) is %"
			    PRIu32 ", more than %u", h->backing_filename_size,
			    QED_BACKING_NAME_MAX);
			return QED_HDR_BACKING_SIZE;
		}
	}
	/*
	 * After the driver's open, QEMU's bdrv_refresh_total_sectors()
	 * takes image_size as an int64_t: past BDRV_MAX_LENGTH the open
	 * fails with EFBIG, and a negative length fails too unless its
	 * low 32 bits, returned as an int, happen to be 0 (2^63 is then
	 * accepted).
	 */
	if (h->image_size >= UINT64_C(1) << 63 ?
	    (uint32_t)h->image_size != 0 :
	    h->image_size > QED_BDRV_MAX_LENGTH) {
		snprintf(why, whylen, "Could not refresh total sector count: "
		    "File too large: image_size (offset 48) is %" PRIu64
		    ", more than %" PRIu64, h->image_size,
		    (uint64_t)QED_BDRV_MAX_LENGTH);
		return QED_HDR_TOO_LARGE;
	}
	*out = g;
	return QED_HDR_OK;
}
