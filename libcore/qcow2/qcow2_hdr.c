/* SPDX-License-Identifier: MIT */
/*
 * qcow2_hdr.c --- decode and validate the qcow2 header and extensions.
 *
 * We apply QEMU's open-time tests in QEMU's order with QEMU's messages
 * (spec section 3), so an image qemu-img refuses to open is refused here
 * with the same words, and exit status 1.  Every size from the header is
 * checked against a named limit before it sizes memory.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qcow2/qcow2.h"
#include "core/banned.h"

#define WHY(...)	snprintf(why, whylen, __VA_ARGS__)

int
qcow2_probe(const struct img_probe *p)
{
	uint32_t	v;

	if (p->len < 8 || be32_at(p->buf) != QCOW2_MAGIC)
		return 0;
	v = be32_at(p->buf + 4);
	return v >= 2 ? 100 : 0;
}

int
qcow2_hdr_decode(const uint8_t *buf, size_t len, struct qcow2_hdr *out,
    char *why, size_t whylen)
{
	struct qcow2_hdr	h;
	struct rd		r;
	uint32_t		magic;

	memset(&h, 0, sizeof(h));
	rd_init(&r, buf, len);
	magic = rd_be32(&r);			/* 0: magic */
	h.version = rd_be32(&r);		/* 4: version */
	h.backing_file_offset = rd_be64(&r);	/* 8 */
	h.backing_file_size = rd_be32(&r);	/* 16 */
	h.cluster_bits = rd_be32(&r);		/* 20 */
	h.size = rd_be64(&r);			/* 24 */
	h.crypt_method = rd_be32(&r);		/* 32 */
	h.l1_size = rd_be32(&r);		/* 36 */
	h.l1_table_offset = rd_be64(&r);	/* 40 */
	h.refcount_table_offset = rd_be64(&r);	/* 48 */
	h.refcount_table_clusters = rd_be32(&r);	/* 56 */
	h.nb_snapshots = rd_be32(&r);		/* 60 */
	h.snapshots_offset = rd_be64(&r);	/* 64 */
	if (rd_end(&r) != 0) {
		WHY("qcow2 header truncated: file has %zu bytes, need 72",
		    len);
		return -IMG_EINVAL;
	}
	if (magic != QCOW2_MAGIC) {
		WHY("Image is not in qcow2 format");
		return -IMG_EINVAL;
	}
	if (h.version < 2 || h.version > 3) {
		WHY("Unsupported qcow2 version %" PRIu32, h.version);
		return -IMG_EUNSUP;
	}
	if (h.cluster_bits < QCOW2_MIN_CLUSTER_BITS ||
	    h.cluster_bits > QCOW2_MAX_CLUSTER_BITS) {
		WHY("Unsupported cluster size: 2^%" PRIu32, h.cluster_bits);
		return -IMG_EUNSUP;
	}
	if (h.version == 2) {
		h.refcount_order = 4;
		h.header_length = QCOW2_V2_HDR_LEN;
	} else {
		h.incompatible = rd_be64(&r);		/* 72 */
		h.compatible = rd_be64(&r);		/* 80 */
		h.autoclear = rd_be64(&r);		/* 88 */
		h.refcount_order = rd_be32(&r);		/* 96 */
		h.header_length = rd_be32(&r);		/* 100 */
		if (rd_end(&r) != 0) {
			WHY("qcow2 header truncated: file has %zu bytes, "
			    "need 104", len);
			return -IMG_EINVAL;
		}
		if (h.header_length < QCOW2_V3_HDR_MIN) {
			WHY("qcow2 header too short");
			return -IMG_EINVAL;
		}
		if (h.header_length > (1U << h.cluster_bits)) {
			WHY("qcow2 header exceeds cluster size");
			return -IMG_EINVAL;
		}
		/* 104: compression_type, only when the header covers it. */
		if (h.header_length > QCOW2_V3_HDR_MIN)
			h.compression_type = rd_u8(&r);
		/* 105: padding up to the 8-byte boundary, must be zero. */
		if (h.header_length >= QCOW2_V3_HDR_MIN + 8)
			rd_bytes(&r, h.padding, sizeof(h.padding));
		if (rd_end(&r) != 0) {
			WHY("qcow2 header truncated at compression_type");
			return -IMG_EINVAL;
		}
	}
	if (h.backing_file_offset > (1ULL << h.cluster_bits)) {
		WHY("Invalid backing file offset");
		return -IMG_EINVAL;
	}
	*out = h;
	return 0;
}

/* Names of unknown incompatible bits from the image's feature table. */
static void
unsupported_features(const uint8_t *c0, size_t len, uint64_t hdr_end,
    uint64_t ext_end, uint64_t bits, char *why, size_t whylen)
{
	struct rd	r, t;
	uint64_t	left = bits;
	uint32_t	type, elen;
	size_t		pos;
	int		n = 0;
	char		name[47];

	pos = (size_t)snprintf(why, whylen, "Unsupported qcow2 feature(s): ");
	rd_init(&r, c0, ext_end < len ? (size_t)ext_end : len);
	rd_seek(&r, (size_t)hdr_end);
	while (rd_left(&r) >= 8) {
		type = rd_be32(&r);
		elen = rd_be32(&r);
		if (type == QCOW2_EXT_END || elen > rd_left(&r))
			break;
		rd_sub(&r, elen, &t);
		rd_skip(&r, ((elen + 7) & ~7U) - elen);
		if (type != QCOW2_EXT_FEATURES)
			continue;
		while (rd_left(&t) >= 48) {
			uint8_t	kind = rd_u8(&t), bit = rd_u8(&t);

			rd_bytes(&t, name, 46);
			name[46] = '\0';
			if (kind != 0 || bit > 63 || !(left & (1ULL << bit)))
				continue;
			img_str_clean(name);
			if (pos < whylen)
				pos += (size_t)snprintf(why + pos, whylen - pos,
				    "%s%s", n++ ? ", " : "", name);
			left &= ~(1ULL << bit);
		}
	}
	if (left != 0 && pos < whylen)
		snprintf(why + pos, whylen - pos,
		    "%sUnknown incompatible feature: %" PRIx64,
		    n ? ", " : "", left);
}

int
qcow2_hdr_validate(const struct qcow2_hdr *h, uint64_t file_size,
    char *why, size_t whylen)
{
	uint64_t	cs = 1ULL << h->cluster_bits, bytes, end, needed;
	uint64_t	l2_entries, per_l1;
	uint32_t	sub;

	(void)file_size;
	if ((h->incompatible & QCOW2_INCOMPAT_EXTL2) && h->version >= 3) {
		sub = (uint32_t)(cs / 32);
		if (sub < 512) {
			WHY("Unsupported subcluster size: %" PRIu32, sub);
			return -IMG_EUNSUP;
		}
	}
	if (h->refcount_order > QCOW2_MAX_REFCOUNT_ORDER) {
		WHY("Reference count entry width too large; may not exceed "
		    "64 bits");
		return -IMG_EUNSUP;
	}
	if (h->compression_type > 1) {
		WHY("qcow2: unknown compression type: %u",
		    h->compression_type);
		return -IMG_EUNSUP;
	}
	if (h->compression_type == 0 &&
	    (h->incompatible & QCOW2_INCOMPAT_COMPRESSION)) {
		WHY("qcow2: Compression type incompatible feature bit must "
		    "not be set");
		return -IMG_EINVAL;
	}
	if (h->compression_type != 0 &&
	    !(h->incompatible & QCOW2_INCOMPAT_COMPRESSION)) {
		WHY("qcow2: Compression type incompatible feature bit must "
		    "be set");
		return -IMG_EINVAL;
	}
	if (h->crypt_method > 2) {
		WHY("Unsupported encryption method: %" PRIu32,
		    h->crypt_method);
		return -IMG_EUNSUP;
	}
	/* The refcount table: qcow2_validate_table() semantics. */
	if ((uint64_t)h->refcount_table_clusters >
	    QCOW2_MAX_REFTABLE_BYTES / cs) {
		WHY("Reference count table too large");
		return -IMG_ELIMIT;
	}
	bytes = (uint64_t)h->refcount_table_clusters * cs;
	if (!ck_add_u64(h->refcount_table_offset, bytes, &end) ||
	    end > INT64_MAX || (h->refcount_table_offset & (cs - 1)) != 0) {
		WHY("Reference count table offset invalid");
		return -IMG_EINVAL;
	}
	/* The active L1 table. */
	if ((uint64_t)h->l1_size > QCOW2_MAX_L1_BYTES / 8) {
		WHY("Active L1 table too large");
		return -IMG_ELIMIT;
	}
	l2_entries = cs / ((h->incompatible & QCOW2_INCOMPAT_EXTL2) ? 16 : 8);
	per_l1 = cs * l2_entries;
	needed = h->size / per_l1 + (h->size % per_l1 != 0);
	if (needed > INT32_MAX) {
		WHY("Image is too big");
		return -IMG_ELIMIT;
	}
	if (h->l1_size < needed) {
		WHY("L1 table is too small");
		return -IMG_EINVAL;
	}
	if (!ck_add_u64(h->l1_table_offset, (uint64_t)h->l1_size * 8, &end) ||
	    end > INT64_MAX || (h->l1_table_offset & (cs - 1)) != 0) {
		WHY("Active L1 table offset invalid");
		return -IMG_EINVAL;
	}
	return 0;
}

/* Copy a string field of n bytes from r into dst (size dstlen). */
static void
rd_string(struct rd *r, uint32_t n, char *dst, size_t dstlen)
{
	const uint8_t	*p = rd_ptr(r, n);
	size_t		 i, m = n < dstlen - 1 ? n : dstlen - 1;

	for (i = 0; p != NULL && i < m; i++)
		dst[i] = p[i] == '\0' ? '?' : (char)p[i];
	dst[p == NULL ? 0 : m] = '\0';
	img_str_clean(dst);
}

int
qcow2_ext_decode(struct qcow2 *q, const uint8_t *c0, size_t len,
    char *why, size_t whylen)
{
	struct rd	r, e;
	uint64_t	end;
	uint32_t	type, elen, pad;

	end = q->h.backing_file_offset != 0 ? q->h.backing_file_offset : q->cs;
	if (end > len)
		end = len;
	rd_init(&r, c0, (size_t)end);
	rd_seek(&r, q->h.header_length);
	if (rd_end(&r) != 0)
		return 0;
	while (rd_left(&r) > 0) {
		if (rd_left(&r) < 8) {
			/* QEMU reads the 8 bytes anyway, past the area. */
			break;
		}
		type = rd_be32(&r);
		elen = rd_be32(&r);
		if (elen > rd_left(&r)) {
			WHY("Header extension too large (type 0x%08" PRIx32
			    ", length %" PRIu32 " at offset %zu)", type, elen,
			    r.off - 4);
			return -IMG_EINVAL;
		}
		if (type == QCOW2_EXT_END)
			break;
		rd_sub(&r, elen, &e);
		pad = ((elen + 7) & ~7U) - elen;
		rd_skip(&r, pad < rd_left(&r) ? pad : rd_left(&r));
		switch (type) {
		case QCOW2_EXT_BACKING_FMT:
			if (elen >= sizeof(q->backing_fmt)) {
				WHY("ERROR: ext_backing_format: len=%" PRIu32
				    " too large (>=%zu)", elen,
				    sizeof(q->backing_fmt));
				return -IMG_EINVAL;
			}
			rd_string(&e, elen, q->backing_fmt,
			    sizeof(q->backing_fmt));
			break;
		case QCOW2_EXT_FEATURES:
			break;
		case QCOW2_EXT_CRYPTO:
			if (elen != 16) {
				WHY("Invalid encryption header extension "
				    "length");
				return -IMG_EINVAL;
			}
			q->crypto_off = rd_be64(&e);
			q->crypto_len = rd_be64(&e);
			if (q->h.crypt_method != 2) {
				WHY("CRYPTO header extension only expected "
				    "with LUKS encryption method");
				return -IMG_EINVAL;
			}
			if ((q->crypto_off & (q->cs - 1)) != 0) {
				WHY("Invalid encryption header offset");
				return -IMG_EINVAL;
			}
			q->has_crypto_ext = true;
			break;
		case QCOW2_EXT_BITMAPS: {
			uint32_t	nb, reserved;
			uint64_t	dsize, doff;

			if (elen != 24) {
				WHY("bitmaps_ext: Invalid extension length");
				return -IMG_EINVAL;
			}
			if (!(q->h.autoclear & QCOW2_AUTOCLEAR_BITMAPS)) {
				q->bitmaps_ignored = true;
				break;
			}
			nb = rd_be32(&e);
			reserved = rd_be32(&e);
			dsize = rd_be64(&e);
			doff = rd_be64(&e);
			if (reserved != 0) {
				WHY("bitmaps_ext: Reserved field is not zero");
				return -IMG_EINVAL;
			}
			if (nb > QCOW2_MAX_BITMAPS) {
				WHY("bitmaps_ext: Image has %" PRIu32
				    " bitmaps, exceeding the QEMU supported "
				    "maximum of %u", nb, QCOW2_MAX_BITMAPS);
				return -IMG_ELIMIT;
			}
			if (nb == 0) {
				WHY("found bitmaps extension with zero "
				    "bitmaps");
				return -IMG_EINVAL;
			}
			if ((doff & (q->cs - 1)) != 0) {
				WHY("bitmaps_ext: invalid bitmap directory "
				    "offset");
				return -IMG_EINVAL;
			}
			if (dsize > QCOW2_MAX_BITMAP_DIR_BYTES) {
				WHY("bitmaps_ext: bitmap directory size (%"
				    PRIu64 ") exceeds the maximum supported "
				    "size (%llu)", dsize,
				    QCOW2_MAX_BITMAP_DIR_BYTES);
				return -IMG_ELIMIT;
			}
			q->has_bitmaps_ext = true;
			q->nb_bitmaps = nb;
			q->bitmap_dir_size = dsize;
			q->bitmap_dir_offset = doff;
			break;
		}
		case QCOW2_EXT_DATA_FILE:
			free(q->data_file_name);
			if ((q->data_file_name = malloc((size_t)elen + 1)) ==
			    NULL)
				return -ENOMEM;
			rd_string(&e, elen, q->data_file_name,
			    (size_t)elen + 1);
			break;
		default:
			q->unknown_exts++;
			break;
		}
	}
	return 0;
}

/* Derived quantities ("Derived quantities", spec 1.3). */
static void
qcow2_derive(struct qcow2 *q)
{
	uint64_t	per_l1;

	q->cs = 1ULL << q->h.cluster_bits;
	q->extl2 = (q->h.incompatible & QCOW2_INCOMPAT_EXTL2) != 0;
	q->data_file = (q->h.incompatible & QCOW2_INCOMPAT_DATA_FILE) != 0;
	q->l2_entry_size = q->extl2 ? 16 : 8;
	q->l2_bits = q->h.cluster_bits - (q->extl2 ? 4 : 3);
	q->l2_size = 1ULL << q->l2_bits;
	q->rc_bits = 1U << q->h.refcount_order;
	q->rc_max = q->rc_bits == 64 ? UINT64_MAX :
	    (1ULL << q->rc_bits) - 1;
	q->rb_bits = q->h.cluster_bits + 3 - q->h.refcount_order;
	q->csize_shift = 62 - (q->h.cluster_bits - 8);
	q->csize_mask = (1ULL << (q->h.cluster_bits - 8)) - 1;
	q->coffset_mask = (1ULL << q->csize_shift) - 1;
	per_l1 = q->cs * q->l2_size;
	q->l1_needed = q->h.size / per_l1 + (q->h.size % per_l1 != 0);
	q->reftable_n = (uint64_t)q->h.refcount_table_clusters * q->cs / 8;
}

int
qcow2_read_table(struct img *img, uint64_t off, uint64_t n, uint64_t **out)
{
	uint64_t	*t;
	uint8_t		*b;
	size_t		 bytes, i;
	int		 rc;

	if (!ck_mul_size(n, 8, &bytes))
		return -IMG_ELIMIT;
	if ((t = malloc(bytes == 0 ? 1 : bytes)) == NULL)
		return -ENOMEM;
	b = (uint8_t *)t;
	if ((rc = img_pread_zf(img, off, b, bytes, NULL)) != 0) {
		free(t);
		return rc;
	}
	for (i = 0; i < n; i++)
		t[i] = be64_at(b + i * 8);
	*out = t;
	return 0;
}

static void
refuse(struct qcow2 *q, enum pr_id id, bool io, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
refuse(struct qcow2 *q, enum pr_id id, bool io, const char *fmt, ...)
{
	va_list	ap;

	if (q->refuse_id != PR_COUNT)
		return;
	va_start(ap, fmt);
	vsnprintf(q->refuse, sizeof(q->refuse), fmt, ap);
	va_end(ap);
	q->refuse_id = id;
	q->refuse_io = io;
}

/*
 * What QEMU refuses that our open lets through, so the check can say what
 * is wrong: the first reason, in QEMU's order and words.
 */
static int
refusals(struct img *img, struct qcow2 *q)
{
	struct qcow2_snaptab	 t;
	struct report		 rp;
	const struct finding	*f;
	char			 why[IMG_ERRMSG_MAX], *path;
	uint64_t		 sz;
	int			 fd, rc;

	q->refuse_done = true;
	if (q->h.refcount_table_clusters == 0)
		refuse(q, PR_COUNT, false, "Image does not contain a "
		    "reference count table");
	report_init(&rp);
	rc = qcow2_snaptab_read(img, q, &t, &rp);
	if (rc == 0)
		qcow2_snaptab_release(&t);
	else if ((f = rp.nf > 0 ? &rp.f[0] : NULL) != NULL)
		refuse(q, f->id, false, "%s",
		    f->id == PR_QCOW2_SNAPTAB_OFFSET ? "Snapshot table offset "
		    "invalid" : f->id == PR_QCOW2_SNAPTAB_TOO_LARGE ?
		    "Snapshot table too large" : f->msg);
	report_release(&rp);
	if (q->data_file && q->data_file_name == NULL)
		refuse(q, PR_QCOW2_DATA_FILE_REQUIRED, true, "'data-file' is "
		    "required for this image");
	if (q->data_file && q->data_file_name != NULL && q->data_fd < 0) {
		/*
		 * QEMU 7.2 opens the data file by the name as the header
		 * gives it: a relative name is relative to the working
		 * folder, not to the image's (unlike a backing file).
		 */
		if ((path = strdup(q->data_file_name)) == NULL)
			return -ENOMEM;
		free(q->data_file_path);
		q->data_file_path = path;
		if (img_file_open(path, false, (img->flags & IMG_NOLOCK) != 0,
		    &fd, &sz, why, sizeof(why)) != 0)
			refuse(q, PR_QCOW2_DATA_FILE_MISSING, true, "Could not "
			    "open '%s': %s", path, why);
		else
			q->data_fd = fd;
	}
	if (q->h.crypt_method != 0 && !img->has_key)
		refuse(q, PR_QCOW2_ENCRYPTED_NO_KEY, true, "Parameter "
		    "'encrypt.key-secret' is required for cipher");
	return 0;
}

int
qcow2_usable(struct img *img, struct qcow2 *q, bool io)
{
	const struct pr_info	*pi;
	int			 rc;

	if (!q->refuse_done && (rc = refusals(img, q)) != 0)
		return rc;
	if (q->refuse_id == PR_COUNT && q->refuse[0] == '\0')
		return 0;
	if (q->refuse_io && !io)
		return 0;
	pi = pr_info_get(q->refuse_id);
	img_set_error(img, "%s%s%s%s", q->refuse, pi != NULL ? " (" : "",
	    pi != NULL ? pi->name : "", pi != NULL ? ")" : "");
	return -IMG_EINVAL;
}

/*
 * Load the bitmap directory and check the tables of the bitmaps not in
 * use, as QEMU does when it opens the image.
 */
static int
bitmaps_load(struct img *img, struct qcow2 *q, char *why, size_t whylen)
{
	uint8_t		*dir;
	uint64_t	 bytes;
	uint32_t	 i;
	int		 rc;

	bytes = q->bitmap_dir_size;
	if (bytes == 0) {
		snprintf(why, whylen, "Requested bitmap directory size is "
		    "zero");
		return -IMG_EINVAL;
	}
	q->bitmaps = calloc(q->nb_bitmaps, sizeof(*q->bitmaps));
	dir = malloc((size_t)bytes);
	if (q->bitmaps == NULL || dir == NULL) {
		free(dir);
		return -ENOMEM;
	}
	rc = img_pread_zf(img, q->bitmap_dir_offset, dir,
	    (size_t)bytes, NULL);
	if (rc == 0)
		rc = qcow2_bitmap_dir_decode(dir, (size_t)bytes,
		    q->nb_bitmaps, q->cs, q->h.size, q->bitmaps, why,
		    whylen);
	free(dir);
	if (rc != 0)
		return rc;
	/*
	 * Every table must lie in the file (QEMU cannot read one that
	 * does not), and together they cannot hold more than the file:
	 * a directory naming one table 65535 times must not make us
	 * read it 65535 times.
	 */
	for (i = 0, bytes = 0; i < q->nb_bitmaps; i++) {
		uint64_t	tb = (uint64_t)q->bitmaps[i].table_size * 8;

		if (q->bitmaps[i].table_offset + tb > img->size) {
			snprintf(why, whylen, "Could not read "
			    "bitmap '%.64s' from image: Invalid argument "
			    "(table at 0x%" PRIx64 " ends past the end "
			    "of the file)", q->bitmaps[i].name,
			    q->bitmaps[i].table_offset);
			return -IMG_EINVAL;
		}
		bytes += tb;
	}
	if (bytes > QCOW2_MAX_BITMAP_READ(img->size)) {
		snprintf(why, whylen, "bitmap tables total %"
		    PRIu64 " bytes, more than a %" PRIu64 "-byte file "
		    "can hold", bytes, img->size);
		return -IMG_ELIMIT;
	}
	/* Bitmaps not in use are loaded, so their tables checked. */
	for (i = 0; i < q->nb_bitmaps; i++) {
		uint64_t	*t, bad;

		if (q->bitmaps[i].flags & QCOW2_BME_IN_USE)
			continue;
		if ((rc = qcow2_bitmap_table_read(img, q,
		    &q->bitmaps[i], &t, &bad)) != 0)
			return rc;
		free(t);
		if (bad != UINT64_MAX) {
			snprintf(why, whylen, "Could not read "
			    "bitmap '%.64s' from image: table entry %"
			    PRIu64 " is invalid", q->bitmaps[i].name,
			    bad);
			return -IMG_EINVAL;
		}
	}
	return 0;
}

int
qcow2_open(struct img *img)
{
	struct qcow2	*q;
	uint8_t		*c0 = NULL;
	uint64_t	 c0len, unknown;
	char		 why[IMG_ERRMSG_MAX];
	int		 rc;

	why[0] = '\0';
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return -ENOMEM;
	q->data_fd = -1;
	q->refuse_id = PR_COUNT;
	/* Cluster 0 holds the header, extensions and backing name. */
	c0len = img->size < (1ULL << QCOW2_MAX_CLUSTER_BITS) ? img->size :
	    (1ULL << QCOW2_MAX_CLUSTER_BITS);
	if ((c0 = malloc(c0len == 0 ? 1 : (size_t)c0len)) == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	if ((rc = img_pread(img, 0, c0, (size_t)c0len)) != 0)
		goto fail;
	if ((rc = qcow2_hdr_decode(c0, (size_t)c0len, &q->h, why,
	    sizeof(why))) != 0)
		goto fail;
	/* cluster_bits is checked by the decoder; the rest waits. */
	q->cs = 1ULL << q->h.cluster_bits;
	if (c0len > q->cs)
		c0len = q->cs;
	unknown = q->h.incompatible & ~QCOW2_INCOMPAT_MASK;
	if (unknown != 0) {
		unsupported_features(c0, (size_t)c0len, q->h.header_length,
		    q->h.backing_file_offset ? q->h.backing_file_offset :
		    q->cs, unknown, why, sizeof(why));
		rc = -IMG_EUNSUP;
		goto fail;
	}
	if ((rc = qcow2_hdr_validate(&q->h, img->size, why,
	    sizeof(why))) != 0)
		goto fail;
	/* Only now are the shifts of the derived quantities defined. */
	qcow2_derive(q);
	if ((rc = qcow2_ext_decode(q, c0, (size_t)c0len, why,
	    sizeof(why))) != 0)
		goto fail;
	q->unknown_autoclear = q->h.autoclear & ~QCOW2_AUTOCLEAR_MASK;
	if (q->h.backing_file_offset != 0) {
		uint64_t	lim = q->cs - q->h.backing_file_offset;

		if (q->h.backing_file_size > QCOW2_MAX_BACKING_NAME ||
		    q->h.backing_file_size > lim) {
			snprintf(why, sizeof(why), "Backing file name too "
			    "long");
			rc = -IMG_EINVAL;
			goto fail;
		}
		if (q->h.backing_file_offset + q->h.backing_file_size <=
		    c0len) {
			struct rd	r;

			rd_init(&r, c0 + q->h.backing_file_offset,
			    q->h.backing_file_size);
			rd_string(&r, q->h.backing_file_size, q->backing_file,
			    sizeof(q->backing_file));
		}
	}
	/* The refcount table is read whole: it is at most 8 MiB. */
	if ((rc = qcow2_read_table(img, q->h.refcount_table_offset,
	    q->reftable_n, &q->reftable)) != 0)
		goto fail;
	if (q->has_bitmaps_ext &&
	    (rc = bitmaps_load(img, q, why, sizeof(why))) != 0) {
		/*
		 * A repair may open what QEMU refuses here: without bitmaps,
		 * and the check reports the directory for the repair to drop.
		 */
		if (!(img->flags & IMG_REPAIR) || rc == -ENOMEM)
			goto fail;
		q->bitmaps_bad = true;
		snprintf(q->bitmaps_why, sizeof(q->bitmaps_why), "%s",
		    why[0] != '\0' ? why : img_strerror(rc));
		why[0] = '\0';
		free(q->bitmaps);
		q->bitmaps = NULL;
		q->nb_bitmaps = 0;
		q->has_bitmaps_ext = false;
	}
	free(c0);
	img->priv = q;
	return 0;
fail:
	if (why[0] != '\0')
		img_set_error(img, "%s", why);
	free(c0);
	img->priv = q;
	qcow2_close(img);
	return rc;
}

void
qcow2_close(struct img *img)
{
	struct qcow2	*q = img->priv;

	if (q == NULL)
		return;
	free(q->reftable);
	free(q->bitmaps);
	free(q->data_file_name);
	free(q->data_file_path);
	if (q->data_fd >= 0)
		close(q->data_fd);
	free(q);
	img->priv = NULL;
}
