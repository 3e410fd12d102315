/* SPDX-License-Identifier: MIT */
/*
 * qcow2_describe.c --- name and decode the qcow2 field under a host byte,
 * and find the entry a finding is about (for the viewer and the JSON).
 *
 * The header says where the header fields, its extensions, the backing
 * file name, the active L1 table and the refcount table are; the refcount
 * table (read at open) says where every refcount block is.  L2 tables and
 * snapshot L1 tables are known only to a walk: the caller's host map
 * (struct img_where) tells us a byte is in one, and since both are
 * cluster aligned (QEMU refuses anything else) the entry index follows
 * from the offset.  Values are read from the file, not from our decoded
 * copies, so a damaged field shows what is on disk.
 *
 * A finding names the structure it is about in its path ("active L1[0]
 * -> L2 @0x40000 [17]", "refcount block 0 [5]", "refcount table [3]"),
 * which qcow2_locate() turns back into the entry's bytes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qcow2/qcow2.h"
#include "core/banned.h"

/* The header area we decode: cluster 0, at most this much of it. */
#define QD_HDR_READ	(64u * 1024)

/* Fixed header fields ("Header", qcow2 spec). */
static const struct qd_hfield {
	uint32_t	 off;
	uint32_t	 len;
	uint32_t	 minver;
	const char	*name;
} qd_hdr[] = {
	{ 0, 4, 2, "header.magic" },
	{ 4, 4, 2, "header.version" },
	{ 8, 8, 2, "header.backing_file_offset" },
	{ 16, 4, 2, "header.backing_file_size" },
	{ 20, 4, 2, "header.cluster_bits" },
	{ 24, 8, 2, "header.size" },
	{ 32, 4, 2, "header.crypt_method" },
	{ 36, 4, 2, "header.l1_size" },
	{ 40, 8, 2, "header.l1_table_offset" },
	{ 48, 8, 2, "header.refcount_table_offset" },
	{ 56, 4, 2, "header.refcount_table_clusters" },
	{ 60, 4, 2, "header.nb_snapshots" },
	{ 64, 8, 2, "header.snapshots_offset" },
	{ 72, 8, 3, "header.incompatible_features" },
	{ 80, 8, 3, "header.compatible_features" },
	{ 88, 8, 3, "header.autoclear_features" },
	{ 96, 4, 3, "header.refcount_order" },
	{ 100, 4, 3, "header.header_length" },
	{ 104, 1, 3, "header.compression_type" },
	{ 105, 7, 3, "header.padding" },
};

/* Feature bit names (header 72..95). */
static void
qd_features(struct img_field *f, uint64_t v, const char *const *names,
    size_t n)
{
	size_t	i;
	bool	first = true;

	if (v == 0) {
		fld_add(f, "none");
		return;
	}
	for (i = 0; i < 64; i++) {
		if (!(v & (1ULL << i)))
			continue;
		if (i < n && names[i] != NULL)
			fld_add(f, "%s%s", first ? "" : ", ", names[i]);
		else
			fld_add(f, "%sbit %zu", first ? "" : ", ", i);
		first = false;
	}
}

static int
qd_header_field(struct img *img, const struct qcow2 *q, size_t i,
    struct img_field *f)
{
	static const char *const incompat[] = { "dirty", "corrupt",
	    "external data file", "compression type", "extended L2" };
	static const char *const compat[] = { "lazy refcounts" };
	static const char *const autoclear[] = { "bitmaps",
	    "raw external data" };
	const struct qd_hfield	*h = &qd_hdr[i];
	uint64_t		 v;
	int			 rc;

	if ((rc = fld_read(img, h->off, h->len > 8 ? 1 : h->len, true,
	    &v)) != 0)
		return rc;
	fld_name(f, "%s", h->name);
	fld_set(f, h->off, h->len, v);
	switch (h->off) {
	case 0:
		fld_add(f, v == QCOW2_MAGIC ? "\"QFI\\xfb\"" : "bad magic");
		break;
	case 8:
	case 40:
	case 48:
	case 64:
		if (v != 0 && (h->off != 64 || q->h.nb_snapshots != 0)) {
			fld_add(f, "offset 0x%" PRIx64, v);
			fld_target(f, v);
		} else
			fld_add(f, "none");
		break;
	case 20:
		if (v < 64)
			fld_add(f, "%" PRIu64 "-byte clusters",
			    (uint64_t)1 << v);
		break;
	case 24:
		fld_add(f, "guest size %" PRIu64 " bytes", v);
		break;
	case 32:
		fld_add(f, v == 0 ? "no encryption" : v == 1 ? "AES" :
		    v == 2 ? "LUKS" : "unknown method");
		break;
	case 36:
		fld_add(f, "%" PRIu64 " L1 entries", v);
		break;
	case 56:
		fld_add(f, "%" PRIu64 " clusters", v);
		break;
	case 72:
		qd_features(f, v, incompat, 5);
		break;
	case 80:
		qd_features(f, v, compat, 1);
		break;
	case 88:
		qd_features(f, v, autoclear, 2);
		break;
	case 96:
		if (v < 7)
			fld_add(f, "%u-bit refcounts", 1U << v);
		break;
	case 104:
		fld_add(f, v == 0 ? "zlib" : v == 1 ? "zstd" : "unknown");
		break;
	case 105:
		f->has_value = false;
		fld_add(f, "reserved, zero");
		break;
	}
	return 0;
}

static const char *
qd_ext_name(uint32_t type)
{
	switch (type) {
	case QCOW2_EXT_END:		return "end of extensions";
	case QCOW2_EXT_BACKING_FMT:	return "backing file format";
	case QCOW2_EXT_FEATURES:	return "feature name table";
	case QCOW2_EXT_BITMAPS:		return "bitmaps";
	case QCOW2_EXT_CRYPTO:		return "full disk encryption header";
	case QCOW2_EXT_DATA_FILE:	return "external data file name";
	}
	return "unknown extension";
}

/*
 * A byte of cluster 0 past the fixed header: an extension's type, length
 * or data, or the backing file name.  1 when off is none of them.
 */
static int
qd_header_ext(struct img *img, const struct qcow2 *q, uint64_t off,
    struct img_field *f)
{
	uint8_t		*c0;
	struct rd	 r;
	uint64_t	 end, at;
	uint32_t	 type, elen, pad, k;
	size_t		 n;
	int		 rc;

	if (q->h.backing_file_offset != 0 && off >= q->h.backing_file_offset &&
	    off - q->h.backing_file_offset < q->h.backing_file_size) {
		fld_name(f, "backing file name");
		fld_set(f, q->h.backing_file_offset, q->h.backing_file_size, 0);
		f->has_value = false;
		fld_add(f, "\"%s\"", q->backing_file);
		return 0;
	}
	end = q->h.backing_file_offset != 0 ? q->h.backing_file_offset : q->cs;
	if (end > QD_HDR_READ)
		end = QD_HDR_READ;
	if (off >= end || off < q->h.header_length)
		return 1;
	n = (size_t)end;
	if ((c0 = malloc(n)) == NULL)
		return -ENOMEM;
	if ((rc = img_pread_zf(img, 0, c0, n, NULL)) != 0)
		goto out;
	rd_init(&r, c0, n);
	rd_seek(&r, q->h.header_length);
	rc = 1;
	for (k = 0; rd_end(&r) == 0 && rd_left(&r) >= 8; k++) {
		at = r.off;
		type = rd_be32(&r);
		elen = rd_be32(&r);
		if (off < at + 4) {
			fld_name(f, "header-ext[%" PRIu32 "].type", k);
			fld_set(f, at, 4, type);
			fld_add(f, "%s", qd_ext_name(type));
			rc = 0;
			break;
		}
		if (off < at + 8) {
			fld_name(f, "header-ext[%" PRIu32 "].length", k);
			fld_set(f, at + 4, 4, elen);
			fld_add(f, "%" PRIu32 " bytes of %s", elen,
			    qd_ext_name(type));
			rc = 0;
			break;
		}
		if (type == QCOW2_EXT_END || elen > rd_left(&r))
			break;
		pad = ((elen + 7) & ~7U) - elen;
		if (off < at + 8 + elen + pad) {
			fld_name(f, "header-ext[%" PRIu32 "].data", k);
			fld_set(f, at + 8, elen + pad, 0);
			f->has_value = false;
			fld_add(f, "%s%s", qd_ext_name(type),
			    off >= at + 8 + elen ? " (padding)" : "");
			rc = 0;
			break;
		}
		rd_skip(&r, elen);
		rd_skip(&r, pad < rd_left(&r) ? pad : rd_left(&r));
	}
out:
	free(c0);
	return rc;
}

/* "active L1[3]" or "snapshot 1 L1[3]": the L1 index, or -1. */
static int64_t
qd_owner_l1idx(const char *owner)
{
	const char	*p;
	char		*end;
	unsigned long	 v;

	if (owner == NULL || (p = strstr(owner, "L1[")) == NULL)
		return -1;
	v = strtoul(p + 3, &end, 10);
	if (end == p + 3 || *end != ']')
		return -1;
	return (int64_t)v;
}

/* An L1 entry (spec "Table entries"): the L2 table it names. */
static int
qd_l1e(struct img *img, const char *name, uint64_t tab, uint64_t i,
    struct img_field *f)
{
	uint64_t	e, off;
	int		rc;

	if ((rc = fld_read(img, tab + i * 8, 8, true, &e)) != 0)
		return rc;
	fld_name(f, "%s[%" PRIu64 "]", name, i);
	fld_set(f, tab + i * 8, 8, e);
	off = e & QCOW2_L1E_OFFSET_MASK;
	if (e == 0) {
		fld_add(f, "unallocated");
		return 0;
	}
	if (e & QCOW2_OFLAG_COPIED)
		fld_add(f, "COPIED, ");
	fld_add(f, "L2 table 0x%" PRIx64, off);
	if (e & QCOW2_L1E_RESERVED)
		fld_add(f, ", reserved bits set");
	if (off != 0)
		fld_target(f, off);
	return 0;
}

/* An L2 entry (or its subcluster bitmap) at index i of the table at tab. */
static int
qd_l2e(struct img *img, const struct qcow2 *q, uint64_t tab, uint64_t i,
    bool bitmap, const struct img_where *w, struct img_field *f)
{
	uint64_t	e, off, len, at = tab + i * q->l2_entry_size;
	int64_t		l1i = qd_owner_l1idx(w != NULL ? w->owner : NULL);
	int		rc;

	if (bitmap) {
		if ((rc = fld_read(img, at + 8, 8, true, &e)) != 0)
			return rc;
		fld_name(f, "L2[%" PRIu64 "].bitmap", i);
		fld_set(f, at + 8, 8, e);
		fld_add(f, "alloc 0x%08" PRIx64 ", zero 0x%08" PRIx64,
		    e & (uint64_t)0xffffffff, e >> 32);
		return 0;
	}
	if ((rc = fld_read(img, at, 8, true, &e)) != 0)
		return rc;
	fld_name(f, "L2[%" PRIu64 "]", i);
	fld_set(f, at, 8, e);
	switch (qcow2_l2_kind(q, e)) {
	case QCOW2_L2_UNALLOCATED:
		fld_add(f, e == 0 ? "unallocated" : "unallocated, flags set");
		break;
	case QCOW2_L2_ZERO_PLAIN:
		fld_add(f, "zero");
		break;
	case QCOW2_L2_ZERO_ALLOC:
		off = e & QCOW2_L2E_OFFSET_MASK;
		fld_add(f, "%szero, offset 0x%" PRIx64, e & QCOW2_OFLAG_COPIED ?
		    "COPIED, " : "", off);
		fld_target(f, off);
		break;
	case QCOW2_L2_NORMAL:
		off = e & QCOW2_L2E_OFFSET_MASK;
		fld_add(f, "%soffset 0x%" PRIx64, e & QCOW2_OFLAG_COPIED ?
		    "COPIED, " : "", off);
		if (off != 0 || !q->data_file)
			fld_target(f, off);
		break;
	case QCOW2_L2_COMPRESSED:
		qcow2_compressed_range(q, e, &off, &len);
		fld_add(f, "compressed, 0x%" PRIx64 "+0x%" PRIx64, off, len);
		fld_target(f, off);
		break;
	}
	if (qcow2_l2_kind(q, e) != QCOW2_L2_COMPRESSED &&
	    (e & QCOW2_L2E_RESERVED))
		fld_add(f, ", reserved bits set");
	if (l1i >= 0)
		fld_add(f, ", guest 0x%" PRIx64, (((uint64_t)l1i << q->l2_bits) +
		    i) << q->h.cluster_bits);
	return 0;
}

/* A refcount table entry: the refcount block it names. */
static int
qd_reft(struct img *img, const struct qcow2 *q, uint64_t i,
    struct img_field *f)
{
	uint64_t	e, off, at = q->h.refcount_table_offset + i * 8;
	int		rc;

	if ((rc = fld_read(img, at, 8, true, &e)) != 0)
		return rc;
	fld_name(f, "reftable[%" PRIu64 "]", i);
	fld_set(f, at, 8, e);
	if (e == 0)
		fld_add(f, "unallocated");
	else {
		off = e & QCOW2_REFT_OFFSET_MASK;
		fld_add(f, "refcount block 0x%" PRIx64 " (clusters %" PRIu64
		    "..)", off, i << q->rb_bits);
		fld_target(f, off);
	}
	if (e & QCOW2_REFT_RESERVED)
		fld_add(f, ", reserved bits set");
	return 0;
}

/* Refcount block t (at blk), the entry holding byte off. */
static int
qd_refblock(struct img *img, const struct qcow2 *q, uint64_t t, uint64_t blk,
    uint64_t off, struct img_field *f)
{
	uint64_t	bits = q->rc_bits, k, v, at, cl;
	uint32_t	len;
	int		rc;

	k = (off - blk) * 8 / bits;
	if (bits >= 8) {
		len = (uint32_t)(bits / 8);
		at = blk + k * len;
		if ((rc = fld_read(img, at, len, true, &v)) != 0)
			return rc;
	} else {
		/* Several refcounts share the byte: name the first. */
		uint8_t	b;

		len = 1;
		at = off;
		if ((rc = img_pread_zf(img, at, &b, 1, NULL)) != 0)
			return rc;
		k = (off - blk) * 8 / bits;
		v = b;
	}
	cl = (t << q->rb_bits) + k;
	fld_name(f, "refblock[%" PRIu64 "][%" PRIu64 "]", t, k);
	fld_set(f, at, len, v);
	if (bits >= 8)
		fld_add(f, "refcount %" PRIu64 " of cluster %" PRIu64
		    " (0x%" PRIx64 ")", v, cl, cl << q->h.cluster_bits);
	else
		fld_add(f, "refcounts of clusters %" PRIu64 "..%" PRIu64, cl,
		    cl + 8 / bits - 1);
	fld_target(f, cl << q->h.cluster_bits);
	return 0;
}

/* The refcount block holding byte off: its index in the table, or -1. */
static int64_t
qd_refblock_of(const struct qcow2 *q, uint64_t off)
{
	uint64_t	c = off & ~(q->cs - 1), t;

	for (t = 0; t < q->reftable_n; t++)
		if ((q->reftable[t] & QCOW2_REFT_OFFSET_MASK) == c && c != 0)
			return (int64_t)t;
	return -1;
}

static bool
qd_is(const struct img_where *w, const char *cls)
{
	return w != NULL && w->cls != NULL && strcmp(w->cls, cls) == 0;
}

/* A string of the image at off, len bytes, printable, into the meaning. */
static int
qd_string(struct img *img, uint64_t off, uint64_t len, struct img_field *f)
{
	char		b[IMG_FIELD_MEANING - 8];
	size_t		n, i;
	int		rc;

	n = len < sizeof(b) ? (size_t)len : sizeof(b);
	if ((rc = img_pread_zf(img, off, b, n, NULL)) != 0)
		return rc;
	fld_add(f, "\"");
	for (i = 0; i < n; i++)
		fld_add(f, "%c", b[i] >= 0x20 && b[i] < 0x7f ? b[i] : '?');
	fld_add(f, "\"%s", n < len ? "..." : "");
	return 0;
}

/* A field of a record: [at, at + len) of the record at rec, named. */
struct qd_rec_field {
	uint32_t	at;
	uint32_t	len;
	const char	*name;
};

/*
 * Which fixed field of a record holds byte off (rel bytes in): set f's
 * name and value; the index into fl, or -1.
 */
static int
qd_rec_field(struct img *img, const struct qd_rec_field *fl, size_t nfl,
    const char *rec, uint64_t base, uint64_t rel, struct img_field *f)
{
	uint64_t	v;
	size_t		k;

	for (k = 0; k < nfl; k++) {
		if (rel < fl[k].at || rel >= fl[k].at + fl[k].len)
			continue;
		if (fld_read(img, base + fl[k].at, fl[k].len, true, &v) != 0)
			return -1;
		fld_name(f, "%s.%s", rec, fl[k].name);
		fld_set(f, base + fl[k].at, fl[k].len, v);
		return (int)k;
	}
	return -1;
}

/* Snapshot table records (spec "Snapshots"), walked from the header. */
static int
qd_snapshot(struct img *img, const struct qcow2 *q, uint64_t off,
    struct img_field *f)
{
	static const struct qd_rec_field fl[] = {
		{ 0, 8, "l1_table_offset" }, { 8, 4, "l1_size" },
		{ 12, 2, "id_str_size" }, { 14, 2, "name_size" },
		{ 16, 4, "date_sec" }, { 20, 4, "date_nsec" },
		{ 24, 8, "vm_clock_nsec" }, { 32, 4, "vm_state_size" },
		{ 36, 4, "extra_data_size" },
		{ 40, 8, "vm_state_size_large" }, { 48, 8, "disk_size" },
		{ 56, 8, "icount" },
	};
	uint8_t		 h[QCOW2_SNAP_HDR_LEN];
	uint64_t	 pos = q->h.snapshots_offset, rel, ids, names, extra;
	uint64_t	 len, v;
	uint32_t	 i;
	char		 rec[32], date[40];
	struct tm	 tm;
	time_t		 t;
	int		 k, rc;

	for (i = 0; i < q->h.nb_snapshots && pos <= off; i++) {
		if ((rc = img_pread(img, pos, h, sizeof(h))) != 0)
			return rc;
		ids = be16_at(h + 12);
		names = be16_at(h + 14);
		extra = be32_at(h + 36);
		if (extra > QCOW2_MAX_SNAP_EXTRA)
			return -IMG_ENOOP;	/* the check says why */
		len = QCOW2_SNAP_HDR_LEN + extra + ids + names;
		len = (len + 7) & ~7ULL;
		if (off >= pos + len) {
			pos += len;
			continue;
		}
		rel = off - pos;
		snprintf(rec, sizeof(rec), "snapshot[%" PRIu32 "]", i);
		if (rel >= QCOW2_SNAP_HDR_LEN + extra) {
			rel -= QCOW2_SNAP_HDR_LEN + extra;
			if (rel < ids) {
				fld_name(f, "%s.id", rec);
				fld_set(f, pos + QCOW2_SNAP_HDR_LEN + extra, ids,
				    0);
				f->has_value = false;
				return qd_string(img, f->off, ids, f);
			}
			if (rel < ids + names) {
				fld_name(f, "%s.name", rec);
				fld_set(f, pos + QCOW2_SNAP_HDR_LEN + extra + ids,
				    names, 0);
				f->has_value = false;
				return qd_string(img, f->off, names, f);
			}
			fld_name(f, "%s.padding", rec);
			fld_set(f, pos + QCOW2_SNAP_HDR_LEN + extra + ids + names,
			    len - (QCOW2_SNAP_HDR_LEN + extra + ids + names), 0);
			f->has_value = false;
			return 0;
		}
		k = qd_rec_field(img, fl, sizeof(fl) / sizeof(fl[0]), rec, pos,
		    rel, f);
		if (k < 0 || (size_t)k >= 9 + extra / 8) {
			fld_name(f, "%s.extra_data", rec);
			fld_set(f, pos + QCOW2_SNAP_HDR_LEN, extra, 0);
			f->has_value = false;
			return 0;
		}
		v = f->value;
		switch (k) {
		case 0:
			fld_add(f, "L1 table 0x%" PRIx64, v);
			fld_target(f, v);
			break;
		case 4:
			t = (time_t)v;
			if (gmtime_r(&t, &tm) != NULL && strftime(date,
			    sizeof(date), "%Y-%m-%d %H:%M:%S UTC", &tm) > 0)
				fld_add(f, "%s", date);
			break;
		case 6:
			fld_add(f, "%02" PRIu64 ":%02" PRIu64 ":%02" PRIu64
			    ".%03" PRIu64 " of guest time",
			    (uint64_t)(v / 3600000000000ULL),
			    (uint64_t)(v / 60000000000ULL % 60),
			    (uint64_t)(v / 1000000000ULL % 60),
			    (uint64_t)(v / 1000000ULL % 1000));
			break;
		case 7:
		case 9:
			fld_add(f, "%s", v == 0 ? "no VM state" :
			    "VM state bytes");
			break;
		case 10:
			fld_add(f, "guest size %" PRIu64 " bytes", v);
			break;
		default:
			break;
		}
		return 0;
	}
	return -IMG_ENOOP;
}

/* Bitmap directory entries (spec "Bitmaps"), walked from the extension. */
static int
qd_bitmap_dir(struct img *img, const struct qcow2 *q, uint64_t off,
    struct img_field *f)
{
	static const struct qd_rec_field fl[] = {
		{ 0, 8, "bitmap_table_offset" }, { 8, 4, "bitmap_table_size" },
		{ 12, 4, "flags" }, { 16, 1, "type" },
		{ 17, 1, "granularity_bits" }, { 18, 2, "name_size" },
		{ 20, 4, "extra_data_size" },
	};
	uint8_t		 h[24];
	uint64_t	 pos = q->bitmap_dir_offset, end, rel, name, extra, len;
	uint64_t	 v;
	uint32_t	 i;
	char		 rec[32];
	int		 k, rc;

	end = pos + q->bitmap_dir_size;
	for (i = 0; i < q->nb_bitmaps && pos < end && pos <= off; i++) {
		if ((rc = img_pread(img, pos, h, sizeof(h))) != 0)
			return rc;
		name = be16_at(h + 18);
		extra = be32_at(h + 20);
		len = (sizeof(h) + extra + name + 7) & ~7ULL;
		if (off >= pos + len) {
			pos += len;
			continue;
		}
		rel = off - pos;
		snprintf(rec, sizeof(rec), "bitmap_dir[%" PRIu32 "]", i);
		if (rel >= sizeof(h)) {
			if (rel < sizeof(h) + extra)
				fld_name(f, "%s.extra_data", rec);
			else if (rel < sizeof(h) + extra + name) {
				fld_name(f, "%s.name", rec);
				fld_set(f, pos + sizeof(h) + extra, name, 0);
				f->has_value = false;
				return qd_string(img, f->off, name, f);
			} else
				fld_name(f, "%s.padding", rec);
			fld_set(f, pos + sizeof(h), len - sizeof(h), 0);
			f->has_value = false;
			return 0;
		}
		if ((k = qd_rec_field(img, fl, sizeof(fl) / sizeof(fl[0]), rec,
		    pos, rel, f)) < 0)
			return -IMG_ENOOP;
		v = f->value;
		if (k == 0) {
			fld_add(f, "bitmap table 0x%" PRIx64, v);
			fld_target(f, v);
		} else if (k == 2) {
			fld_add(f, "%s", v == 0 ? "none" : "");
			if (v & QCOW2_BME_IN_USE)
				fld_add(f, "in use");
			if (v & QCOW2_BME_AUTO)
				fld_add(f, "%sauto", v & QCOW2_BME_IN_USE ?
				    ", " : "");
			if (v & ~(uint64_t)(QCOW2_BME_IN_USE | QCOW2_BME_AUTO))
				fld_add(f, "%sreserved bits",
				    v & (QCOW2_BME_IN_USE | QCOW2_BME_AUTO) ?
				    ", " : "");
		} else if (k == 3) {
			fld_add(f, "%s", v == 1 ? "dirty tracking bitmap" :
			    "unknown type");
		} else if (k == 4 && v < 64) {
			fld_add(f, "granularity %" PRIu64 " bytes",
			    (uint64_t)1 << v);
		}
		return 0;
	}
	return -IMG_ENOOP;
}

/* A bitmap table entry (spec "Bitmap table"), i in the table at tab. */
static int
qd_bitmap_entry(struct img *img, const struct qcow2 *q, uint64_t tab,
    uint64_t i, struct img_field *f)
{
	uint64_t	e;
	int		rc;

	if ((rc = fld_read(img, tab + i * 8, 8, true, &e)) != 0)
		return rc;
	fld_name(f, "bitmap_table[%" PRIu64 "]", i);
	fld_set(f, tab + i * 8, 8, e);
	if (e & QCOW2_BME_RESERVED)
		fld_add(f, "reserved bits set, ");
	if ((e & QCOW2_BME_OFFSET_MASK) != 0) {
		fld_add(f, "data cluster 0x%" PRIx64, (uint64_t)(e &
		    QCOW2_BME_OFFSET_MASK));
		fld_target(f, e & QCOW2_BME_OFFSET_MASK);
	} else
		fld_add(f, "%s", e & QCOW2_BME_ALL_ONES ? "all ones" :
		    "all zeros");
	(void)q;
	return 0;
}

int
qcow2_describe(struct img *img, uint64_t off, const struct img_where *w,
    struct img_field *f)
{
	const struct qcow2	*q = img->priv;
	uint64_t		 l1b = (uint64_t)q->h.l1_size * 8, rtb, tab, i;
	int64_t			 t;
	size_t			 k;
	int			 rc;

	for (k = 0; k < sizeof(qd_hdr) / sizeof(qd_hdr[0]); k++)
		if (off >= qd_hdr[k].off && off < qd_hdr[k].off +
		    qd_hdr[k].len && q->h.version >= qd_hdr[k].minver &&
		    qd_hdr[k].off < q->h.header_length)
			return qd_header_field(img, q, k, f);
	if (off < q->cs && (rc = qd_header_ext(img, q, off, f)) <= 0)
		return rc;
	if (off >= q->h.l1_table_offset && off - q->h.l1_table_offset < l1b)
		return qd_l1e(img, "L1", q->h.l1_table_offset,
		    (off - q->h.l1_table_offset) / 8, f);
	rtb = (uint64_t)q->h.refcount_table_clusters << q->h.cluster_bits;
	if (off >= q->h.refcount_table_offset &&
	    off - q->h.refcount_table_offset < rtb)
		return qd_reft(img, q, (off - q->h.refcount_table_offset) / 8,
		    f);
	if (qd_is(w, "l2")) {
		tab = off & ~(q->cs - 1);
		i = (off - tab) / q->l2_entry_size;
		return qd_l2e(img, q, tab, i, q->extl2 &&
		    (off - tab) % q->l2_entry_size >= 8, w, f);
	}
	if (qd_is(w, "snapshot-l1") && off >= w->run_off) {
		i = (off - w->run_off) / 8;
		return qd_l1e(img, "snapshot L1", w->run_off, i, f);
	}
	if ((w == NULL || qd_is(w, "snapshot-table")) &&
	    q->h.nb_snapshots > 0 && off >= q->h.snapshots_offset &&
	    (rc = qd_snapshot(img, q, off, f)) != -IMG_ENOOP)
		return rc;
	if ((w == NULL || qd_is(w, "bitmap-directory")) &&
	    q->has_bitmaps_ext && q->nb_bitmaps > 0 &&
	    off >= q->bitmap_dir_offset && off - q->bitmap_dir_offset <
	    q->bitmap_dir_size && (rc = qd_bitmap_dir(img, q, off, f)) !=
	    -IMG_ENOOP)
		return rc;
	if (qd_is(w, "bitmap-table") && off >= w->run_off)
		return qd_bitmap_entry(img, q, w->run_off,
		    (off - w->run_off) / 8, f);
	if ((w == NULL || qd_is(w, "refcount-block")) &&
	    (t = qd_refblock_of(q, off)) >= 0)
		return qd_refblock(img, q, (uint64_t)t, off & ~(q->cs - 1),
		    off, f);
	return -IMG_ENOOP;
}

/*
 * The entry a finding's path names: "<L1 name>[i] -> L2 @0x<off> [j]"
 * (an L2 entry), "active L1[i]" (an L1 entry), "refcount table [t]",
 * "refcount block <t> [k]".  Snapshot L1 entries are left to the host
 * range, which for them is the entry already.
 */
int
qcow2_locate(struct img *img, const struct finding *fd, uint64_t *off,
    uint64_t *len)
{
	const struct qcow2	*q = img->priv;
	const char		*p = fd->path, *s;
	unsigned long long	 a, b;
	char			*end;

	if (p == NULL)
		return -IMG_ENOOP;
	if ((s = strstr(p, "] -> L2 @0x")) != NULL) {
		a = strtoull(s + 11, &end, 16);
		if (end == s + 11 || strncmp(end, " [", 2) != 0)
			return -IMG_ENOOP;
		b = strtoull(end + 2, &end, 10);
		if (*end != ']' || b >= q->l2_size)
			return -IMG_ENOOP;
		*off = a + b * q->l2_entry_size;
		*len = q->l2_entry_size;
		return 0;
	}
	if (strncmp(p, "active L1[", 10) == 0) {
		a = strtoull(p + 10, &end, 10);
		if (*end != ']' || end[1] != '\0' || a >= q->h.l1_size)
			return -IMG_ENOOP;
		*off = q->h.l1_table_offset + a * 8;
		*len = 8;
		return 0;
	}
	if (strncmp(p, "refcount table [", 16) == 0) {
		a = strtoull(p + 16, &end, 10);
		if (*end != ']' || a >= q->reftable_n)
			return -IMG_ENOOP;
		*off = q->h.refcount_table_offset + a * 8;
		*len = 8;
		return 0;
	}
	if (strncmp(p, "refcount block ", 15) == 0) {
		a = strtoull(p + 15, &end, 10);
		if (strncmp(end, " [", 2) != 0 || a >= q->reftable_n)
			return -IMG_ENOOP;
		b = strtoull(end + 2, &end, 10);
		if (*end != ']' || b >= (1ULL << q->rb_bits) ||
		    (q->reftable[a] & QCOW2_REFT_OFFSET_MASK) == 0)
			return -IMG_ENOOP;
		*off = (q->reftable[a] & QCOW2_REFT_OFFSET_MASK) +
		    b * q->rc_bits / 8;
		*len = q->rc_bits >= 8 ? q->rc_bits / 8 : 1;
		return 0;
	}
	return -IMG_ENOOP;
}
