/* SPDX-License-Identifier: MIT */
/*
 * test_qed_hdr.c --- the QED header decoder and QEMU's open-time rules,
 * the offset rules, QEMU's cluster index and the table decoder.
 */
#include <string.h>

#include <CUnit/CUnit.h>

#include "qed/qed.h"

#define MB		(1024ull * 1024)
/* A QEMU-made 64 MiB image with one write: 0xa0000 bytes. */
#define FILE_LEN	0xa0000ull

/* A good header: 64 KiB clusters, table_size 4, L1 at 0x10000. */
static void
good_hdr(uint8_t b[QED_HDR_LEN])
{
	memset(b, 0, QED_HDR_LEN);
	memcpy(b, "QED", 4);
	put_le32(b + 4, 65536);
	put_le32(b + 8, 4);
	put_le32(b + 12, 1);
	put_le64(b + 40, 0x10000);
	put_le64(b + 48, 64 * MB);
}

/* Decode b and validate it against a file of len bytes. */
static enum qed_hdr_err
validate(const uint8_t *b, uint64_t len, struct qed_geom *g)
{
	struct qed_hdr	h;
	struct rd	r;
	char		why[256];
	enum qed_hdr_err e;

	rd_init(&r, b, QED_HDR_LEN);
	CU_ASSERT_EQUAL_FATAL(qed_hdr_decode(&r, &h), 0);
	e = qed_hdr_validate(&h, len, g, why, sizeof(why));
	CU_ASSERT_EQUAL(e == QED_HDR_OK, why[0] == '\0');
	return e;
}

static void
test_decode(void)
{
	uint8_t		b[QED_HDR_LEN];
	struct qed_hdr	h;
	struct rd	r;

	good_hdr(b);
	put_le64(b + 16, 0x1);
	put_le32(b + 56, 64);
	put_le32(b + 60, 9);
	rd_init(&r, b, sizeof(b));
	CU_ASSERT_EQUAL(qed_hdr_decode(&r, &h), 0);
	CU_ASSERT_EQUAL(h.magic, QED_MAGIC);
	CU_ASSERT_EQUAL(h.cluster_size, 65536);
	CU_ASSERT_EQUAL(h.table_size, 4);
	CU_ASSERT_EQUAL(h.header_size, 1);
	CU_ASSERT_EQUAL(h.features, 1);
	CU_ASSERT_EQUAL(h.l1_table_offset, 0x10000);
	CU_ASSERT_EQUAL(h.image_size, 64 * MB);
	CU_ASSERT_EQUAL(h.backing_filename_offset, 64);
	CU_ASSERT_EQUAL(h.backing_filename_size, 9);
}

static void
test_decode_short(void)
{
	uint8_t		b[QED_HDR_LEN];
	struct qed_hdr	h;
	struct rd	r;
	size_t		len;

	good_hdr(b);
	for (len = 0; len < QED_HDR_LEN; len++) {
		memset(&h, 0xa5, sizeof(h));
		rd_init(&r, b, len);
		CU_ASSERT_EQUAL(qed_hdr_decode(&r, &h), -IMG_ESHORT);
		CU_ASSERT_EQUAL(h.magic, 0xa5a5a5a5);	/* untouched */
	}
}

static void
test_good(void)
{
	uint8_t		b[QED_HDR_LEN];
	struct qed_geom	g;

	good_hdr(b);
	CU_ASSERT_EQUAL(validate(b, FILE_LEN, &g), QED_HDR_OK);
	CU_ASSERT_EQUAL(g.cs, 65536);
	CU_ASSERT_EQUAL(g.ts, 4);
	CU_ASSERT_EQUAL(g.nent, 32768);
	CU_ASSERT_EQUAL(g.hdr_bytes, 65536);
	CU_ASSERT_EQUAL(g.table_bytes, 0x40000);
	/* The file length is rounded down to a cluster. */
	CU_ASSERT_EQUAL(validate(b, FILE_LEN + 100, &g), QED_HDR_OK);
	CU_ASSERT_EQUAL(g.file_size, FILE_LEN);
	/* ... after QEMU rounds it up to whole 512-byte sectors. */
	CU_ASSERT_EQUAL(validate(b, FILE_LEN - 512 + 1, &g), QED_HDR_OK);
	CU_ASSERT_EQUAL(g.file_size, FILE_LEN);
	CU_ASSERT_EQUAL(validate(b, FILE_LEN - 512, &g), QED_HDR_OK);
	CU_ASSERT_EQUAL(g.file_size, FILE_LEN - 65536);
	/* Compatible and autoclear bits never refuse. */
	put_le64(b + 24, 0xff);
	put_le64(b + 32, 0xff);
	CU_ASSERT_EQUAL(validate(b, FILE_LEN, &g), QED_HDR_OK);
	/* Known feature bits are fine (no backing name: size 0). */
	put_le64(b + 16, 0x7);
	CU_ASSERT_EQUAL(validate(b, FILE_LEN, &g), QED_HDR_OK);
}

static void
test_magic(void)
{
	uint8_t		b[QED_HDR_LEN];
	struct qed_geom	g;

	good_hdr(b);
	b[3] = 1;
	CU_ASSERT_EQUAL(validate(b, FILE_LEN, &g), QED_HDR_MAGIC);
}

static void
test_features(void)
{
	uint8_t		b[QED_HDR_LEN];
	struct qed_geom	g;

	good_hdr(b);
	put_le64(b + 16, 0x10);
	CU_ASSERT_EQUAL(validate(b, FILE_LEN, &g), QED_HDR_FEATURES);
	put_le64(b + 16, 1ull << 63 | 0x2);
	CU_ASSERT_EQUAL(validate(b, FILE_LEN, &g), QED_HDR_FEATURES);
	/* Features are tested before the cluster size, as QEMU does. */
	put_le32(b + 4, 3);
	CU_ASSERT_EQUAL(validate(b, FILE_LEN, &g), QED_HDR_FEATURES);
}

static void
test_cluster_size(void)
{
	static const uint32_t	bad[] = { 0, 1, 2048, 4095, 5000, 65537,
	    3 * 65536, 128 * 1024 * 1024, 0x80000000u };
	uint8_t			b[QED_HDR_LEN];
	struct qed_geom		g;
	size_t			i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		good_hdr(b);
		put_le32(b + 4, bad[i]);
		CU_ASSERT_EQUAL(validate(b, FILE_LEN, &g),
		    QED_HDR_CLUSTER_SIZE);
	}
	/* Both ends of the range are fine. */
	good_hdr(b);
	put_le32(b + 4, 4096);
	put_le64(b + 40, 4096);
	CU_ASSERT_EQUAL(validate(b, FILE_LEN, &g), QED_HDR_OK);
	good_hdr(b);
	put_le32(b + 4, 64 * 1024 * 1024);
	put_le64(b + 40, 64 * MB);
	put_le64(b + 48, 0);
	CU_ASSERT_EQUAL(validate(b, 64 * MB * 6, &g), QED_HDR_OK);
}

static void
test_table_size(void)
{
	static const uint32_t	bad[] = { 0, 3, 5, 17, 32, 0xffffffffu };
	uint8_t			b[QED_HDR_LEN];
	struct qed_geom		g;
	size_t			i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		good_hdr(b);
		put_le32(b + 8, bad[i]);
		CU_ASSERT_EQUAL(validate(b, FILE_LEN, &g),
		    QED_HDR_TABLE_SIZE);
	}
	good_hdr(b);
	put_le32(b + 8, 16);
	CU_ASSERT_EQUAL(validate(b, 0x200000, &g), QED_HDR_OK);
}

static void
test_image_size(void)
{
	uint8_t		b[QED_HDR_LEN];
	struct qed_geom	g;

	good_hdr(b);
	put_le64(b + 48, 64 * MB + 1);
	CU_ASSERT_EQUAL(validate(b, FILE_LEN, &g), QED_HDR_IMAGE_SIZE);
	/* 4 KiB clusters, table_size 1... 4: max is nent^2 * cs. */
	good_hdr(b);
	put_le32(b + 4, 4096);
	put_le64(b + 40, 4096);
	put_le64(b + 48, 2048ull * 2048 * 4096);
	CU_ASSERT_EQUAL(validate(b, FILE_LEN, &g), QED_HDR_OK);
	put_le64(b + 48, 2048ull * 2048 * 4096 + 512);
	CU_ASSERT_EQUAL(validate(b, FILE_LEN, &g), QED_HDR_IMAGE_SIZE);
	/* QEMU's maximum wraps to 0 for 64 MiB clusters and ts 16. */
	good_hdr(b);
	put_le32(b + 4, 64 * 1024 * 1024);
	put_le32(b + 8, 16);
	put_le64(b + 40, 64 * MB);
	put_le64(b + 48, 512);
	CU_ASSERT_EQUAL(validate(b, 64 * MB * 20, &g), QED_HDR_IMAGE_SIZE);
}

static void
test_too_large(void)
{
	uint8_t		b[QED_HDR_LEN];
	struct qed_geom	g;

	/* 2 MiB clusters, table_size 8: QED allows up to 2^63 bytes. */
	good_hdr(b);
	put_le32(b + 4, 2 * 1024 * 1024);
	put_le32(b + 8, 8);
	put_le64(b + 40, 2 * MB);
	put_le64(b + 48, (1ull << 63) - 512);
	CU_ASSERT_EQUAL(validate(b, 20 * MB, &g), QED_HDR_TOO_LARGE);
	put_le64(b + 48, (1ull << 63) - (1ull << 30) + 512);
	CU_ASSERT_EQUAL(validate(b, 20 * MB, &g), QED_HDR_TOO_LARGE);
	put_le64(b + 48, (1ull << 63) - (1ull << 30));
	CU_ASSERT_EQUAL(validate(b, 20 * MB, &g), QED_HDR_OK);
	/* QEMU truncates the negative length to an int: 0, accepted. */
	put_le64(b + 48, 1ull << 63);
	CU_ASSERT_EQUAL(validate(b, 20 * MB, &g), QED_HDR_OK);
}

static void
test_l1_offset(void)
{
	uint8_t		b[QED_HDR_LEN];
	struct qed_geom	g;

	good_hdr(b);
	put_le64(b + 40, 0x10200);		/* misaligned */
	CU_ASSERT_EQUAL(validate(b, FILE_LEN, &g), QED_HDR_L1_OFFSET);
	put_le64(b + 40, 0);			/* inside the header */
	CU_ASSERT_EQUAL(validate(b, FILE_LEN, &g), QED_HDR_L1_OFFSET);
	put_le64(b + 40, 0x40000000);		/* past EOF */
	CU_ASSERT_EQUAL(validate(b, FILE_LEN, &g), QED_HDR_L1_OFFSET);
	put_le64(b + 40, 0x70000);		/* last cluster past EOF */
	CU_ASSERT_EQUAL(validate(b, FILE_LEN, &g), QED_HDR_L1_OFFSET);
	put_le64(b + 40, 0x60000);		/* last cluster 0x90000 */
	CU_ASSERT_EQUAL(validate(b, FILE_LEN, &g), QED_HDR_OK);
	put_le64(b + 40, 0xffffffffffff0000ull);	/* wraps */
	CU_ASSERT_EQUAL(validate(b, FILE_LEN, &g), QED_HDR_L1_OFFSET);
	/* The L1 table must fit: a header-only file cannot hold it. */
	good_hdr(b);
	CU_ASSERT_EQUAL(validate(b, QED_HDR_LEN, &g), QED_HDR_L1_OFFSET);
	/* table_size 1: QEMU can create such images, never open them. */
	put_le32(b + 8, 1);
	CU_ASSERT_EQUAL(validate(b, FILE_LEN, &g), QED_HDR_L1_OFFSET);
}

static void
test_header_size(void)
{
	uint8_t		b[QED_HDR_LEN];
	struct qed_geom	g;

	/* 65536 clusters of 64 KiB: 4 GiB, one byte more than QEMU's. */
	good_hdr(b);
	put_le32(b + 12, 65536);
	put_le64(b + 40, 4096 * MB);
	CU_ASSERT_EQUAL(validate(b, 4096 * MB + 0x100000, &g),
	    QED_HDR_HEADER_SIZE);
	put_le32(b + 12, 65535);
	CU_ASSERT_EQUAL(validate(b, 4096 * MB + 0x100000, &g), QED_HDR_OK);
	CU_ASSERT_EQUAL(g.hdr_bytes, 65535ull * 65536);
	/* The largest header_size cannot overflow our arithmetic. */
	put_le32(b + 12, 0xffffffffu);
	CU_ASSERT_EQUAL(validate(b, 4096 * MB + 0x100000, &g),
	    QED_HDR_L1_OFFSET);
}

static void
test_backing(void)
{
	uint8_t		b[QED_HDR_LEN];
	struct qed_geom	g;

	good_hdr(b);
	put_le64(b + 16, 0x1);
	put_le32(b + 56, 64);
	put_le32(b + 60, 100);
	CU_ASSERT_EQUAL(validate(b, FILE_LEN, &g), QED_HDR_OK);
	put_le32(b + 56, 65536 - 99);		/* one byte past */
	CU_ASSERT_EQUAL(validate(b, FILE_LEN, &g), QED_HDR_BACKING_OFFSET);
	put_le32(b + 56, 0xffffffffu);		/* no 32-bit wrap */
	CU_ASSERT_EQUAL(validate(b, FILE_LEN, &g), QED_HDR_BACKING_OFFSET);
	put_le32(b + 56, 64);
	put_le32(b + 60, 4096);			/* QEMU's PATH_MAX */
	CU_ASSERT_EQUAL(validate(b, FILE_LEN, &g), QED_HDR_BACKING_SIZE);
	put_le32(b + 60, 4095);
	CU_ASSERT_EQUAL(validate(b, FILE_LEN, &g), QED_HDR_OK);
	/* Without the feature bit the name fields are ignored. */
	put_le64(b + 16, 0);
	put_le32(b + 56, 0xffffffffu);
	CU_ASSERT_EQUAL(validate(b, FILE_LEN, &g), QED_HDR_OK);
}

static void
test_offsets(void)
{
	struct qed_geom	g = { .cs = 65536, .ts = 4, .nent = 32768,
	    .hdr_bytes = 65536, .file_size = FILE_LEN,
	    .table_bytes = 0x40000 };

	CU_ASSERT_EQUAL(qed_cluster_off_check(&g, 0x50000), QED_OFF_OK);
	CU_ASSERT_EQUAL(qed_cluster_off_check(&g, 0x50200),
	    QED_OFF_MISALIGNED);
	CU_ASSERT_EQUAL(qed_cluster_off_check(&g, 0x200), QED_OFF_MISALIGNED);
	CU_ASSERT_EQUAL(qed_cluster_off_check(&g, 0), QED_OFF_IN_HEADER);
	CU_ASSERT_EQUAL(qed_cluster_off_check(&g, FILE_LEN), QED_OFF_PAST_EOF);
	CU_ASSERT_EQUAL(qed_cluster_off_check(&g, FILE_LEN - 65536),
	    QED_OFF_OK);
	CU_ASSERT_EQUAL(qed_table_off_check(&g, 0x60000), QED_OFF_OK);
	CU_ASSERT_EQUAL(qed_table_off_check(&g, 0x70000), QED_OFF_PAST_EOF);
	CU_ASSERT_EQUAL(qed_table_off_check(&g, ~0ull & ~0xffffull),
	    QED_OFF_TABLE_WRAP);
	g.ts = 1;
	CU_ASSERT_EQUAL(qed_table_off_check(&g, 0x60000), QED_OFF_TABLE_WRAP);
}

static void
test_qemu_index(void)
{
	struct qed_geom	g = { .cs = 4096 };

	CU_ASSERT_EQUAL(qed_qemu_index(&g, 0), 0);
	CU_ASSERT_EQUAL(qed_qemu_index(&g, 1), 1);
	CU_ASSERT_EQUAL(qed_qemu_index(&g, 4096), 1);
	CU_ASSERT_EQUAL(qed_qemu_index(&g, 4094ull * 4096), 4094);
	/* From cs - 1 clusters on, one too high (spec 4.1). */
	CU_ASSERT_EQUAL(qed_qemu_index(&g, 4095ull * 4096), 4096);
	CU_ASSERT_EQUAL(qed_qemu_index(&g, 5120ull * 4096), 5121);
	CU_ASSERT_EQUAL(qed_qemu_index(&g, ~0ull), (~0ull & ~4095ull) / 4095);
}

static void
test_table_decode(void)
{
	uint8_t		b[16];
	uint64_t	out[2] = { 7, 7 };

	put_le64(b, 0x50000);
	put_le64(b + 8, 1);
	CU_ASSERT_EQUAL(qed_table_decode(b, sizeof(b), 2, out), 0);
	CU_ASSERT_EQUAL(out[0], 0x50000);
	CU_ASSERT_EQUAL(out[1], 1);
	CU_ASSERT_EQUAL(qed_table_decode(b, 15, 2, out), -IMG_ESHORT);
	CU_ASSERT_EQUAL(qed_table_decode(b, 0, 1, out), -IMG_ESHORT);
}

int suite_qed_hdr(void);

int
suite_qed_hdr(void)
{
	CU_pSuite	s = CU_add_suite("qed_hdr", NULL, NULL);

	if (s == NULL)
		return -1;
	CU_add_test(s, "decode all fields", test_decode);
	CU_add_test(s, "decode truncated", test_decode_short);
	CU_add_test(s, "good headers", test_good);
	CU_add_test(s, "bad magic", test_magic);
	CU_add_test(s, "unknown features", test_features);
	CU_add_test(s, "cluster_size", test_cluster_size);
	CU_add_test(s, "table_size", test_table_size);
	CU_add_test(s, "image_size", test_image_size);
	CU_add_test(s, "image_size past QEMU's limit", test_too_large);
	CU_add_test(s, "l1_table_offset", test_l1_offset);
	CU_add_test(s, "header_size", test_header_size);
	CU_add_test(s, "backing file name", test_backing);
	CU_add_test(s, "offset rules", test_offsets);
	CU_add_test(s, "qemu cluster index", test_qemu_index);
	CU_add_test(s, "table decode", test_table_decode);
	return 0;
}
