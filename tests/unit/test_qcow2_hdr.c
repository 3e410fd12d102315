/* SPDX-License-Identifier: MIT */
/*
 * test_qcow2_hdr.c --- qcow2 header, extension, bitmap directory and
 * snapshot table decoders on byte arrays built here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "qcow2/qcow2.h"

static uint8_t	hb[4096];

/* A valid version 3 header, 64 KiB clusters, 64 MiB. */
static void
mkhdr(void)
{
	memset(hb, 0, sizeof(hb));
	put_be32(hb + 0, QCOW2_MAGIC);
	put_be32(hb + 4, 3);
	put_be32(hb + 20, 16);
	put_be64(hb + 24, 64ULL << 20);
	put_be32(hb + 36, 1);
	put_be64(hb + 40, 0x30000);
	put_be64(hb + 48, 0x10000);
	put_be32(hb + 56, 1);
	put_be32(hb + 96, 4);
	put_be32(hb + 100, 112);
}

static int
dec(struct qcow2_hdr *h, size_t len)
{
	char	why[256];
	int	rc;

	rc = qcow2_hdr_decode(hb, len, h, why, sizeof(why));
	if (rc == 0)
		rc = qcow2_hdr_validate(h, 1 << 20, why, sizeof(why));
	return rc;
}

static void
test_valid(void)
{
	struct qcow2_hdr	h;

	mkhdr();
	CU_ASSERT_EQUAL(dec(&h, sizeof(hb)), 0);
	CU_ASSERT_EQUAL(h.version, 3);
	CU_ASSERT_EQUAL(h.cluster_bits, 16);
	CU_ASSERT_EQUAL(h.l1_table_offset, 0x30000);
	CU_ASSERT_EQUAL(h.header_length, 112);
	/* Version 2: 72 bytes, refcount order 4 implied. */
	put_be32(hb + 4, 2);
	CU_ASSERT_EQUAL(dec(&h, 72), 0);
	CU_ASSERT_EQUAL(h.refcount_order, 4);
	CU_ASSERT_EQUAL(h.header_length, 72);
}

static void
test_truncated(void)
{
	struct qcow2_hdr	h;
	size_t			n;

	mkhdr();
	for (n = 0; n < 104; n++)
		CU_ASSERT_NOT_EQUAL(dec(&h, n), 0);
	put_be32(hb + 4, 2);
	for (n = 0; n < 72; n++)
		CU_ASSERT_NOT_EQUAL(dec(&h, n), 0);
}

/* Break one field; expect a refusal with exactly this message. */
static void
expect_msg(uint32_t off, int width, uint64_t v, const char *msg)
{
	struct qcow2_hdr	h;
	char			why[256];
	int			rc;

	mkhdr();
	if (width == 8)
		put_be64(hb + off, v);
	else if (width == 4)
		put_be32(hb + off, (uint32_t)v);
	else
		hb[off] = (uint8_t)v;
	why[0] = '\0';
	rc = qcow2_hdr_decode(hb, sizeof(hb), &h, why, sizeof(why));
	if (rc == 0)
		rc = qcow2_hdr_validate(&h, 1 << 20, why, sizeof(why));
	CU_ASSERT(rc < 0);
	CU_ASSERT_STRING_EQUAL(why, msg);
}

static void
test_fields(void)
{
	expect_msg(0, 4, 0x514649fa, "Image is not in qcow2 format");
	expect_msg(4, 4, 1, "Unsupported qcow2 version 1");
	expect_msg(4, 4, 4, "Unsupported qcow2 version 4");
	expect_msg(20, 4, 8, "Unsupported cluster size: 2^8");
	expect_msg(20, 4, 22, "Unsupported cluster size: 2^22");
	expect_msg(20, 4, 63, "Unsupported cluster size: 2^63");
	expect_msg(100, 4, 96, "qcow2 header too short");
	expect_msg(100, 4, 0x20000, "qcow2 header exceeds cluster size");
	expect_msg(8, 8, 0x10001, "Invalid backing file offset");
	expect_msg(96, 4, 7, "Reference count entry width too large; may "
	    "not exceed 64 bits");
	expect_msg(104, 1, 5, "qcow2: unknown compression type: 5");
	expect_msg(72, 8, 1ULL << 3, "qcow2: Compression type incompatible "
	    "feature bit must not be set");
	expect_msg(104, 1, 1, "qcow2: Compression type incompatible feature "
	    "bit must be set");
	expect_msg(56, 4, 0xffffffff, "Reference count table too large");
	expect_msg(48, 8, 0x10200, "Reference count table offset invalid");
	expect_msg(36, 4, 0xffffffff, "Active L1 table too large");
	expect_msg(36, 4, 0, "L1 table is too small");
	expect_msg(40, 8, 0x30200, "Active L1 table offset invalid");
	expect_msg(40, 8, 0xfffffffffffff000ULL,
	    "Active L1 table offset invalid");
	expect_msg(24, 8, 1ULL << 62, "Image is too big");
	expect_msg(32, 4, 3, "Unsupported encryption method: 3");
}

static void
test_extensions(void)
{
	struct qcow2	q;
	char		why[256];

	mkhdr();
	memset(&q, 0, sizeof(q));
	CU_ASSERT_EQUAL_FATAL(qcow2_hdr_decode(hb, sizeof(hb), &q.h, why,
	    sizeof(why)), 0);
	q.cs = 65536;
	/* Backing format, then an unknown extension, then the end. */
	put_be32(hb + 112, QCOW2_EXT_BACKING_FMT);
	put_be32(hb + 116, 5);
	memcpy(hb + 120, "qcow2", 5);
	put_be32(hb + 128, 0x12345678);
	put_be32(hb + 132, 3);
	CU_ASSERT_EQUAL(qcow2_ext_decode(&q, hb, sizeof(hb), why,
	    sizeof(why)), 0);
	CU_ASSERT_STRING_EQUAL(q.backing_fmt, "qcow2");
	CU_ASSERT_EQUAL(q.unknown_exts, 1);
	/* Length past the area. */
	put_be32(hb + 132, 0xffffffff);
	CU_ASSERT_EQUAL(qcow2_ext_decode(&q, hb, sizeof(hb), why,
	    sizeof(why)), -IMG_EINVAL);
	CU_ASSERT(strncmp(why, "Header extension too large", 26) == 0);
	/* Backing format name of 16 bytes or more. */
	put_be32(hb + 116, 16);
	CU_ASSERT_EQUAL(qcow2_ext_decode(&q, hb, sizeof(hb), why,
	    sizeof(why)), -IMG_EINVAL);
	/* Bitmaps extension with a bad length, then bad fields. */
	memset(hb + 112, 0, 64);
	q.h.autoclear = QCOW2_AUTOCLEAR_BITMAPS;
	put_be32(hb + 112, QCOW2_EXT_BITMAPS);
	put_be32(hb + 116, 16);
	CU_ASSERT_EQUAL(qcow2_ext_decode(&q, hb, sizeof(hb), why,
	    sizeof(why)), -IMG_EINVAL);
	CU_ASSERT_STRING_EQUAL(why, "bitmaps_ext: Invalid extension length");
	put_be32(hb + 116, 24);
	put_be32(hb + 120, 0);
	CU_ASSERT_EQUAL(qcow2_ext_decode(&q, hb, sizeof(hb), why,
	    sizeof(why)), -IMG_EINVAL);
	CU_ASSERT_STRING_EQUAL(why, "found bitmaps extension with zero "
	    "bitmaps");
	put_be32(hb + 120, 1);
	put_be64(hb + 136, 0x30200);
	CU_ASSERT_EQUAL(qcow2_ext_decode(&q, hb, sizeof(hb), why,
	    sizeof(why)), -IMG_EINVAL);
	CU_ASSERT_STRING_EQUAL(why, "bitmaps_ext: invalid bitmap directory "
	    "offset");
	put_be64(hb + 136, 0x30000);
	put_be64(hb + 128, 32);
	CU_ASSERT_EQUAL(qcow2_ext_decode(&q, hb, sizeof(hb), why,
	    sizeof(why)), 0);
	CU_ASSERT(q.has_bitmaps_ext);
	CU_ASSERT_EQUAL(q.nb_bitmaps, 1);
	/* Autoclear bit clear: the extension is ignored. */
	q.has_bitmaps_ext = false;
	q.h.autoclear = 0;
	CU_ASSERT_EQUAL(qcow2_ext_decode(&q, hb, sizeof(hb), why,
	    sizeof(why)), 0);
	CU_ASSERT(q.bitmaps_ignored);
	CU_ASSERT(!q.has_bitmaps_ext);
	free(q.data_file_name);
}

static size_t
mkdirent(uint8_t *b, uint64_t toff, uint32_t tsize, uint32_t flags,
    uint8_t type, uint8_t gran, const char *name)
{
	size_t	n = strlen(name), rec = (24 + n + 7) & ~(size_t)7;

	memset(b, 0, rec);
	put_be64(b, toff);
	put_be32(b + 8, tsize);
	put_be32(b + 12, flags);
	b[16] = type;
	b[17] = gran;
	put_be16(b + 18, (uint16_t)n);
	memcpy(b + 24, name, n);
	return rec;
}

static void
test_bitmap_dir(void)
{
	struct qcow2_bitmap	bm[2];
	uint8_t			d[128];
	char			why[256];
	size_t			n;

	n = mkdirent(d, 0x60000, 1, 2, 1, 16, "bm0");
	CU_ASSERT_EQUAL(qcow2_bitmap_dir_decode(d, n, 1, 65536, 64 << 20, bm,
	    why, sizeof(why)), 0);
	CU_ASSERT_STRING_EQUAL(bm[0].name, "bm0");
	CU_ASSERT_EQUAL(bm[0].granularity_bits, 16);
	/* Truncated directory, every length. */
	for (size_t k = 1; k < n; k++)
		CU_ASSERT_EQUAL(qcow2_bitmap_dir_decode(d, k, 1, 65536,
		    64 << 20, bm, why, sizeof(why)), -IMG_EINVAL);
	/* Count disagreements. */
	CU_ASSERT_EQUAL(qcow2_bitmap_dir_decode(d, n, 2, 65536, 64 << 20, bm,
	    why, sizeof(why)), -IMG_EINVAL);
	CU_ASSERT_STRING_EQUAL(why, "Less bitmaps found than specified in "
	    "header extension");
	mkdirent(d + n, 0x70000, 1, 0, 1, 16, "bm1");
	CU_ASSERT_EQUAL(qcow2_bitmap_dir_decode(d, 2 * n, 1, 65536, 64 << 20,
	    bm, why, sizeof(why)), -IMG_EINVAL);
	CU_ASSERT_STRING_EQUAL(why, "More bitmaps found than specified in "
	    "header extension");
	/* Each constraint. */
	mkdirent(d, 0x60200, 1, 0, 1, 16, "bm0");
	CU_ASSERT_EQUAL(qcow2_bitmap_dir_decode(d, n, 1, 65536, 64 << 20, bm,
	    why, sizeof(why)), -IMG_EINVAL);
	CU_ASSERT_STRING_EQUAL(why, "Bitmap 'bm0' doesn't satisfy the "
	    "constraints");
	mkdirent(d, 0x60000, 1, 0, 2, 16, "bm0");	/* type */
	CU_ASSERT_NOT_EQUAL(qcow2_bitmap_dir_decode(d, n, 1, 65536, 64 << 20,
	    bm, why, sizeof(why)), 0);
	mkdirent(d, 0x60000, 1, 0, 1, 8, "bm0");	/* granularity */
	CU_ASSERT_NOT_EQUAL(qcow2_bitmap_dir_decode(d, n, 1, 65536, 64 << 20,
	    bm, why, sizeof(why)), 0);
	mkdirent(d, 0x60000, 1, 4, 1, 16, "bm0");	/* reserved flag */
	CU_ASSERT_NOT_EQUAL(qcow2_bitmap_dir_decode(d, n, 1, 65536, 64 << 20,
	    bm, why, sizeof(why)), 0);
	mkdirent(d, 0x60000, 0, 0, 1, 16, "bm0");	/* empty table */
	CU_ASSERT_NOT_EQUAL(qcow2_bitmap_dir_decode(d, n, 1, 65536, 64 << 20,
	    bm, why, sizeof(why)), 0);
	/* Table too small for a 1 TiB disk at 512-byte granularity. */
	mkdirent(d, 0x60000, 1, 0, 1, 9, "bm0");
	CU_ASSERT_NOT_EQUAL(qcow2_bitmap_dir_decode(d, n, 1, 65536, 1ULL << 40,
	    bm, why, sizeof(why)), 0);
	/* ... unless it is in use. */
	mkdirent(d, 0x60000, 1, 1, 1, 9, "bm0");
	CU_ASSERT_EQUAL(qcow2_bitmap_dir_decode(d, n, 1, 65536, 1ULL << 40,
	    bm, why, sizeof(why)), 0);
	/* Bitmap table entries. */
	CU_ASSERT(qcow2_bitmap_entry_ok(0, 65536));
	CU_ASSERT(qcow2_bitmap_entry_ok(1, 65536));
	CU_ASSERT(qcow2_bitmap_entry_ok(0x50000, 65536));
	CU_ASSERT(!qcow2_bitmap_entry_ok(0x50001, 65536));
	CU_ASSERT(!qcow2_bitmap_entry_ok(0x50200, 65536));
	CU_ASSERT(!qcow2_bitmap_entry_ok(0x50000 | 1ULL << 60, 65536));
}

static void
test_snaptab(void)
{
	struct qcow2_snaptab	t;
	uint8_t			b[256];
	uint32_t		bad = 0;
	size_t			n;

	memset(b, 0, sizeof(b));
	put_be64(b, 0x60000);
	put_be32(b + 8, 1);
	put_be16(b + 12, 1);
	put_be16(b + 14, 5);
	put_be32(b + 36, 24);
	put_be64(b + 48, 64 << 20);
	b[64] = '1';
	memcpy(b + 65, "snap1", 5);
	CU_ASSERT_EQUAL_FATAL(qcow2_snaptab_decode(b, sizeof(b), 1, 3, &t,
	    &bad), 0);
	CU_ASSERT_EQUAL(t.n, 1);
	CU_ASSERT_STRING_EQUAL(t.s[0].id, "1");
	CU_ASSERT_STRING_EQUAL(t.s[0].name, "snap1");
	CU_ASSERT_EQUAL(t.s[0].disk_size, 64 << 20);
	CU_ASSERT_EQUAL(t.bytes, 70);
	qcow2_snaptab_release(&t);
	/* Every truncation asks for more bytes. */
	for (n = 0; n < 70; n++)
		CU_ASSERT_EQUAL(qcow2_snaptab_decode(b, n, 1, 3, &t, &bad),
		    -IMG_ESHORT);
	/* Too much extra data names the entry. */
	put_be32(b + 36, 1025);
	CU_ASSERT_EQUAL(qcow2_snaptab_decode(b, sizeof(b), 1, 3, &t, &bad),
	    -IMG_ELIMIT);
	CU_ASSERT_EQUAL(bad, 0);
	qcow2_snaptab_release(&t);
	/* More than 65536 snapshots. */
	CU_ASSERT_EQUAL(qcow2_snaptab_decode(b, sizeof(b), 65537, 3, &t,
	    &bad), -IMG_ELIMIT);
}

int suite_qcow2_hdr(void);

int
suite_qcow2_hdr(void)
{
	CU_pSuite	s = CU_add_suite("qcow2_hdr", NULL, NULL);

	if (s == NULL)
		return -1;
	CU_add_test(s, "valid headers", test_valid);
	CU_add_test(s, "truncated headers", test_truncated);
	CU_add_test(s, "each header rule", test_fields);
	CU_add_test(s, "header extensions", test_extensions);
	CU_add_test(s, "bitmap directory", test_bitmap_dir);
	CU_add_test(s, "snapshot table", test_snaptab);
	return 0;
}
