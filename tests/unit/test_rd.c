/* SPDX-License-Identifier: MIT */
/*
 * test_rd.c --- the bounded reader and checked arithmetic.
 */
#include <stdint.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "core/core.h"

static void
test_rd_be(void)
{
	static const uint8_t	b[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
	struct rd		r;

	rd_init(&r, b, sizeof(b));
	CU_ASSERT_EQUAL(rd_u8(&r), 1);
	CU_ASSERT_EQUAL(rd_be16(&r), 0x0203);
	CU_ASSERT_EQUAL(rd_be32(&r), 0x04050607);
	CU_ASSERT_EQUAL(rd_left(&r), 2);
	CU_ASSERT_EQUAL(rd_be32(&r), 0);	/* short: sticky error */
	CU_ASSERT_EQUAL(rd_end(&r), -IMG_ESHORT);
	CU_ASSERT_EQUAL(rd_u8(&r), 0);		/* still failing */
	CU_ASSERT_EQUAL(r.off, 7);
}

static void
test_rd_le(void)
{
	static const uint8_t	b[] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	struct rd		r;

	rd_init(&r, b, sizeof(b));
	CU_ASSERT_EQUAL(rd_le64(&r), 0x0807060504030201ULL);
	CU_ASSERT_EQUAL(rd_end(&r), 0);
	rd_init(&r, b, 3);
	CU_ASSERT_EQUAL(rd_le32(&r), 0);
	CU_ASSERT_EQUAL(rd_end(&r), -IMG_ESHORT);
}

static void
test_rd_sub(void)
{
	static const uint8_t	b[] = { 1, 2, 3, 4, 5, 6 };
	struct rd		r, c;

	rd_init(&r, b, sizeof(b));
	rd_skip(&r, 1);
	rd_sub(&r, 2, &c);
	CU_ASSERT_EQUAL(rd_be16(&c), 0x0203);
	CU_ASSERT_EQUAL(rd_u8(&c), 0);		/* cannot see the parent */
	CU_ASSERT_EQUAL(rd_end(&c), -IMG_ESHORT);
	CU_ASSERT_EQUAL(rd_u8(&r), 4);
	rd_sub(&r, 9, &c);
	CU_ASSERT_EQUAL(rd_end(&r), -IMG_ESHORT);
	CU_ASSERT_EQUAL(rd_end(&c), -IMG_ESHORT);
	rd_init(&r, b, sizeof(b));
	rd_seek(&r, 7);
	CU_ASSERT_EQUAL(rd_end(&r), -IMG_ESHORT);
}

static void
test_ck(void)
{
	uint64_t	v = 7;
	size_t		s;

	CU_ASSERT_FALSE(ck_add_u64(UINT64_MAX, 1, &v));
	CU_ASSERT_EQUAL(v, 7);
	CU_ASSERT_TRUE(ck_add_u64(1, 2, &v));
	CU_ASSERT_EQUAL(v, 3);
	CU_ASSERT_FALSE(ck_mul_u64(1ULL << 33, 1ULL << 31, &v));
	CU_ASSERT_TRUE(ck_mul_size(512, 8, &s));
	CU_ASSERT_EQUAL(s, 4096);
	CU_ASSERT_TRUE(ck_align_up(513, 512, &v));
	CU_ASSERT_EQUAL(v, 1024);
	CU_ASSERT_FALSE(ck_align_up(UINT64_MAX, 512, &v));
}

int suite_rd(void);

int
suite_rd(void)
{
	CU_pSuite	s = CU_add_suite("rd", NULL, NULL);

	if (s == NULL)
		return -1;
	CU_add_test(s, "big endian getters", test_rd_be);
	CU_add_test(s, "little endian getters", test_rd_le);
	CU_add_test(s, "sub readers and seek", test_rd_sub);
	CU_add_test(s, "checked arithmetic", test_ck);
	return 0;
}
