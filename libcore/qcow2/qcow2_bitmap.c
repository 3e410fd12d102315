/* SPDX-License-Identifier: MIT */
/*
 * qcow2_bitmap.c --- the persistent bitmap directory and bitmap tables.
 *
 * QEMU validates the directory when it opens the image, even for a check,
 * and refuses the image if any entry breaks its constraints ("Bitmaps",
 * spec 1.6); we do the same with the same messages.  The check then counts
 * the directory, each table and each data cluster a table names.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "qcow2/qcow2.h"
#include "core/banned.h"

#define WHY(...)	snprintf(why, whylen, __VA_ARGS__)

#define BME_IN_USE		(1U << 0)
#define BME_AUTO		(1U << 1)
#define BME_RESERVED_FLAGS	0xfffffffcU
#define BME_MIN_GRAN		9
#define BME_MAX_GRAN		31
#define BT_DIRTY_TRACKING	1
#define BME_DIR_ENTRY_LEN	24

/* Does this directory entry satisfy QEMU's check_dir_entry()? */
static bool
dir_entry_ok(const struct qcow2_bitmap *b, uint32_t name_size, uint64_t cs,
    uint64_t disk_size)
{
	uint64_t	phys, bits, need;

	if (b->table_offset == 0 || (b->table_offset & (cs - 1)) != 0)
		return false;
	phys = (uint64_t)b->table_size * cs;
	if (b->table_size == 0 || b->table_size > QCOW2_MAX_BITMAP_TABLE ||
	    phys > QCOW2_MAX_BITMAP_BYTES ||
	    b->granularity_bits > BME_MAX_GRAN ||
	    b->granularity_bits < BME_MIN_GRAN ||
	    (b->flags & BME_RESERVED_FLAGS) != 0 ||
	    name_size == 0 || name_size > QCOW2_MAX_BITMAP_NAME ||
	    b->type != BT_DIRTY_TRACKING)
		return false;
	if (!(b->flags & BME_IN_USE)) {
		/* One bit per granule, packed in clusters of the table. */
		bits = (disk_size >> b->granularity_bits) +
		    ((disk_size & ((1ULL << b->granularity_bits) - 1)) != 0);
		need = bits / 8 + (bits % 8 != 0);
		if (need > phys)
			return false;
	}
	return true;
}

int
qcow2_bitmap_dir_decode(const uint8_t *buf, size_t len, uint32_t nb,
    uint64_t cs, uint64_t disk_size, struct qcow2_bitmap *out,
    char *why, size_t whylen)
{
	struct qcow2_bitmap	b;
	struct rd		r;
	uint32_t		n = 0, extra, name_size;
	size_t			start, rec;

	rd_init(&r, buf, len);
	while (rd_left(&r) > 0) {
		start = r.off;
		if (rd_left(&r) < BME_DIR_ENTRY_LEN) {
			WHY("Broken bitmap directory");
			return -IMG_EINVAL;
		}
		if (++n > nb) {
			WHY("More bitmaps found than specified in header "
			    "extension");
			return -IMG_EINVAL;
		}
		memset(&b, 0, sizeof(b));
		b.table_offset = rd_be64(&r);		/* 0 */
		b.table_size = rd_be32(&r);		/* 8 */
		b.flags = rd_be32(&r);			/* 12 */
		b.type = rd_u8(&r);			/* 16 */
		b.granularity_bits = rd_u8(&r);		/* 17 */
		name_size = rd_be16(&r);		/* 18 */
		extra = rd_be32(&r);			/* 20 */
		/* The record is padded to 8 bytes. */
		rec = ((size_t)BME_DIR_ENTRY_LEN + extra + name_size + 7) &
		    ~(size_t)7;
		if (len - start < rec) {
			WHY("Broken bitmap directory");
			return -IMG_EINVAL;
		}
		if (extra != 0) {
			WHY("Bitmap extra data is not supported");
			return -IMG_EUNSUP;
		}
		{
			const uint8_t	*p = rd_ptr(&r, name_size);
			size_t		 m = name_size < sizeof(b.name) - 1 ?
			    name_size : sizeof(b.name) - 1, i;

			for (i = 0; p != NULL && i < m; i++)
				b.name[i] = p[i] == '\0' ? '?' : (char)p[i];
			b.name[p == NULL ? 0 : m] = '\0';
			img_str_clean(b.name);
		}
		if (!dir_entry_ok(&b, name_size, cs, disk_size)) {
			WHY("Bitmap '%s' doesn't satisfy the constraints",
			    b.name);
			return -IMG_EINVAL;
		}
		rd_seek(&r, start + rec);
		if (rd_end(&r) != 0) {
			WHY("Broken bitmap directory");
			return -IMG_EINVAL;
		}
		out[n - 1] = b;
	}
	if (n != nb) {
		WHY("Less bitmaps found than specified in header extension");
		return -IMG_EINVAL;
	}
	return 0;
}

bool
qcow2_bitmap_entry_ok(uint64_t e, uint64_t cs)
{
	uint64_t	off = e & QCOW2_BME_OFFSET_MASK;

	if (e & QCOW2_BME_RESERVED)
		return false;
	if (off != 0 && ((e & QCOW2_BME_ALL_ONES) || (off & (cs - 1)) != 0))
		return false;
	return true;
}

int
qcow2_bitmap_table_read(struct img *img, const struct qcow2 *q,
    const struct qcow2_bitmap *b, uint64_t **out, uint64_t *bad)
{
	uint64_t	*t;
	uint64_t	 i;
	int		 rc;

	*bad = UINT64_MAX;
	/* table_size * cs <= 512 MiB was checked when the directory was read. */
	if ((rc = qcow2_read_table(img, b->table_offset, b->table_size,
	    &t)) != 0)
		return rc;
	for (i = 0; i < b->table_size; i++)
		if (!qcow2_bitmap_entry_ok(t[i], q->cs)) {
			*bad = i;
			break;
		}
	*out = t;
	return 0;
}
