/* SPDX-License-Identifier: MIT */
/*
 * test_qcow2_refcount.c --- the computed refcount array and the stored
 * refcount decoder at every width.
 */
#include <string.h>

#include <CUnit/CUnit.h>

#include "qcow2/qcow2.h"

static void
test_counts(void)
{
	struct qcow2_counts	*c;
	bool			 ovf;
	uint64_t		 i;

	CU_ASSERT_EQUAL_FATAL(qcow2_counts_new(4, 3, &c), 0);
	CU_ASSERT_EQUAL(qcow2_counts_len(c), 4);
	for (i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(qcow2_counts_inc(c, 1, &ovf), 0);
		CU_ASSERT_FALSE(ovf);
	}
	CU_ASSERT_EQUAL(qcow2_counts_inc(c, 1, &ovf), 0);
	CU_ASSERT_TRUE(ovf);			/* at max: not incremented */
	CU_ASSERT_EQUAL(qcow2_counts_get(c, 1), 3);
	/* Growing past the initial length. */
	CU_ASSERT_EQUAL(qcow2_counts_inc(c, 100, &ovf), 0);
	CU_ASSERT_EQUAL(qcow2_counts_len(c), 101);
	CU_ASSERT_EQUAL(qcow2_counts_get(c, 100), 1);
	CU_ASSERT_EQUAL(qcow2_counts_get(c, 99), 0);
	CU_ASSERT_EQUAL(qcow2_counts_get(c, 5000), 0);
	qcow2_counts_free(c);
	/* Counts beyond 16 bits spill without loss. */
	CU_ASSERT_EQUAL_FATAL(qcow2_counts_new(8, UINT64_MAX, &c), 0);
	for (i = 0; i < 70000; i++) {
		CU_ASSERT_EQUAL_FATAL(qcow2_counts_inc(c, 3, &ovf), 0);
		CU_ASSERT_EQUAL_FATAL(qcow2_counts_inc(c, 5, &ovf), 0);
	}
	CU_ASSERT_EQUAL(qcow2_counts_get(c, 3), 70000);
	CU_ASSERT_EQUAL(qcow2_counts_get(c, 5), 70000);
	CU_ASSERT_EQUAL(qcow2_counts_get(c, 4), 0);
	qcow2_counts_free(c);
	CU_ASSERT_EQUAL(qcow2_counts_new(1ULL << 40, 1, &c), -IMG_ELIMIT);
}

/* Width 1: a bit per cluster, the second reference an overflow. */
static void
test_counts_width1(void)
{
	struct qcow2_counts	*c;
	bool			 ovf;
	uint64_t		 novf, i;

	CU_ASSERT_EQUAL_FATAL(qcow2_counts_new(130, 1, &c), 0);
	CU_ASSERT_PTR_NULL(c->a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c->bits);
	for (i = 0; i < 130; i += 3) {
		CU_ASSERT_EQUAL(qcow2_counts_inc(c, i, &ovf), 0);
		CU_ASSERT_FALSE(ovf);
	}
	for (i = 0; i < 130; i++)
		CU_ASSERT_EQUAL(qcow2_counts_get(c, i), i % 3 == 0);
	CU_ASSERT_EQUAL(qcow2_counts_inc(c, 63, &ovf), 0);
	CU_ASSERT_TRUE(ovf);
	CU_ASSERT_EQUAL(qcow2_counts_get(c, 63), 1);
	/* +3 on a fresh cluster: one kept, two lost. */
	CU_ASSERT_EQUAL(qcow2_counts_add(c, 64, 3, &novf), 0);
	CU_ASSERT_EQUAL(novf, 2);
	CU_ASSERT_EQUAL(qcow2_counts_get(c, 64), 1);
	CU_ASSERT_EQUAL(qcow2_counts_get(c, 65), 0);
	/* Growing far past the end keeps what was there, zeros the rest. */
	CU_ASSERT_EQUAL(qcow2_counts_inc(c, 1000, &ovf), 0);
	CU_ASSERT_EQUAL(qcow2_counts_len(c), 1001);
	CU_ASSERT_EQUAL(qcow2_counts_add(c, 5000, 2, &novf), 0);
	CU_ASSERT_EQUAL(novf, 1);
	CU_ASSERT_EQUAL(qcow2_counts_len(c), 5001);
	for (i = 0; i < 5001; i++)
		if (qcow2_counts_get(c, i) != (i < 130 ? i % 3 == 0 ||
		    i == 64 : i == 1000 || i == 5000))
			break;
	CU_ASSERT_EQUAL(i, 5001);
	CU_ASSERT_EQUAL(qcow2_counts_get(c, 99999), 0);
	qcow2_counts_free(c);
}

static void
test_rb_widths(void)
{
	static const uint8_t	b[16] = { 0x1b, 0xe4, 0x12, 0x34, 0x56, 0x78,
	    0x9a, 0xbc, 0xde, 0xf0, 1, 2, 3, 4, 5, 6 };

	/* 1 bit: from the least significant bit of each byte. */
	CU_ASSERT_EQUAL(qcow2_rb_get(b, 0, 0), 1);
	CU_ASSERT_EQUAL(qcow2_rb_get(b, 0, 2), 0);
	CU_ASSERT_EQUAL(qcow2_rb_get(b, 0, 3), 1);
	CU_ASSERT_EQUAL(qcow2_rb_get(b, 0, 15), 1);
	/* 2 bits: 0x1b = 00 01 10 11. */
	CU_ASSERT_EQUAL(qcow2_rb_get(b, 1, 0), 3);
	CU_ASSERT_EQUAL(qcow2_rb_get(b, 1, 1), 2);
	CU_ASSERT_EQUAL(qcow2_rb_get(b, 1, 2), 1);
	CU_ASSERT_EQUAL(qcow2_rb_get(b, 1, 3), 0);
	/* 4 bits. */
	CU_ASSERT_EQUAL(qcow2_rb_get(b, 2, 0), 0xb);
	CU_ASSERT_EQUAL(qcow2_rb_get(b, 2, 1), 0x1);
	CU_ASSERT_EQUAL(qcow2_rb_get(b, 3, 1), 0xe4);
	CU_ASSERT_EQUAL(qcow2_rb_get(b, 4, 1), 0x1234);
	CU_ASSERT_EQUAL(qcow2_rb_get(b, 5, 1), 0x56789abc);
	CU_ASSERT_EQUAL(qcow2_rb_get(b, 6, 1), 0xdef0010203040506ULL);
}

static void
test_compressed_desc(void)
{
	struct qcow2	q;
	uint64_t	off, len;

	memset(&q, 0, sizeof(q));
	q.h.cluster_bits = 16;
	q.csize_shift = 62 - 8;
	q.csize_mask = (1ULL << 8) - 1;
	q.coffset_mask = (1ULL << q.csize_shift) - 1;
	/* 3 sectors at 0x50100: ends 3*512 - 0x100 bytes later. */
	qcow2_compressed_range(&q, 1ULL << 62 | 2ULL << 54 | 0x50100, &off,
	    &len);
	CU_ASSERT_EQUAL(off, 0x50100);
	CU_ASSERT_EQUAL(len, 3 * 512 - 0x100);
	CU_ASSERT_EQUAL(qcow2_l2_kind(&q, 1ULL << 62), QCOW2_L2_COMPRESSED);
	CU_ASSERT_EQUAL(qcow2_l2_kind(&q, 1), QCOW2_L2_ZERO_PLAIN);
	CU_ASSERT_EQUAL(qcow2_l2_kind(&q, 0x50001), QCOW2_L2_ZERO_ALLOC);
	CU_ASSERT_EQUAL(qcow2_l2_kind(&q, 1ULL << 63), QCOW2_L2_UNALLOCATED);
	CU_ASSERT_EQUAL(qcow2_l2_kind(&q, 0x50000), QCOW2_L2_NORMAL);
	q.data_file = true;
	CU_ASSERT_EQUAL(qcow2_l2_kind(&q, 1ULL << 63), QCOW2_L2_NORMAL);
	q.extl2 = true;
	CU_ASSERT_EQUAL(qcow2_l2_kind(&q, 0x50001), QCOW2_L2_NORMAL);
}

/* Runs of big-endian L2 entries, QCOW2_RUN_BLOCK at a time. */
static void
test_run_block(void)
{
	uint8_t		b[8 * QCOW2_RUN_BLOCK];
	uint64_t	e;
	int		k, j;

	for (k = 0; k < QCOW2_RUN_BLOCK; k++) {
		e = (0x50000 + (uint64_t)k * 0x10000) | (k % 3 ? 1ULL << 63 : 0);
		for (j = 0; j < 8; j++)
			b[8 * k + j] = (uint8_t)(e >> (56 - 8 * j));
	}
	/* COPIED masked off: a run; exact: not (some have it, some not). */
	CU_ASSERT_EQUAL(qcow2_run_block(b, 0x50000, 0x10000,
	    ~QCOW2_OFLAG_COPIED), 0);
	CU_ASSERT_NOT_EQUAL(qcow2_run_block(b, 0x50000, 0x10000, ~0ULL), 0);
	/* Wrong start or step. */
	CU_ASSERT_NOT_EQUAL(qcow2_run_block(b, 0x60000, 0x10000,
	    ~QCOW2_OFLAG_COPIED), 0);
	CU_ASSERT_NOT_EQUAL(qcow2_run_block(b, 0x50000, 0x200,
	    ~QCOW2_OFLAG_COPIED), 0);
	/* One entry off by one cluster, in the last place of the block. */
	b[8 * (QCOW2_RUN_BLOCK - 1) + 5] ^= 0x01;
	CU_ASSERT_NOT_EQUAL(qcow2_run_block(b, 0x50000, 0x10000,
	    ~QCOW2_OFLAG_COPIED), 0);
	/* All empty: want and step 0. */
	memset(b, 0, sizeof(b));
	CU_ASSERT_EQUAL(qcow2_run_block(b, 0, 0, ~0ULL), 0);
	b[3] = 1;
	CU_ASSERT_NOT_EQUAL(qcow2_run_block(b, 0, 0, ~0ULL), 0);
}

int suite_qcow2_refcount(void);

int
suite_qcow2_refcount(void)
{
	CU_pSuite	s = CU_add_suite("qcow2_refcount", NULL, NULL);

	if (s == NULL)
		return -1;
	CU_add_test(s, "computed counts", test_counts);
	CU_add_test(s, "computed counts, width 1", test_counts_width1);
	CU_add_test(s, "stored refcount widths", test_rb_widths);
	CU_add_test(s, "L2 entry kinds and compressed ranges",
	    test_compressed_desc);
	CU_add_test(s, "runs of L2 entries, a block at a time",
	    test_run_block);
	return 0;
}
