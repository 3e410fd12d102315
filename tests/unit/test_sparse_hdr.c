/* SPDX-License-Identifier: MIT */
/*
 * test_sparse_hdr.c --- the sparse stream frame header decoder: strict
 * grammar, what a lenient int(x, 16) would accept, and formatting.
 */
#include <string.h>

#include <CUnit/CUnit.h>

#include "sparse/sparse.h"

static void
parse(const char *s, struct sparse_hdr *h)
{
	uint8_t	b[SPARSE_HDR_LEN];

	memcpy(b, s, SPARSE_HDR_LEN);
	sparse_hdr_parse(b, h);
}

static void
test_hdr_canonical(void)
{
	struct sparse_hdr	h;

	parse("data 0000000000010000 0000000000002000\r\n", &h);
	CU_ASSERT_EQUAL(h.kind, SK_DATA);
	CU_ASSERT_EQUAL(h.start, 0x10000);
	CU_ASSERT_EQUAL(h.len, 0x2000);
	CU_ASSERT_EQUAL(h.flags, 0);
	parse("stop 0000000000000000 0000000000000000\r\n", &h);
	CU_ASSERT_EQUAL(h.kind, SK_STOP);
	CU_ASSERT_EQUAL(h.flags, 0);
	parse("meta 0000000000000000 ffffffffffffffff\r\n", &h);
	CU_ASSERT_EQUAL(h.kind, SK_META);
	CU_ASSERT_EQUAL(h.len, UINT64_MAX);
	CU_ASSERT_TRUE(sparse_hdr_plausible((const uint8_t *)
	    "zero 0000000000001000 000000000000f000\r\n"));
}

static void
test_hdr_kind(void)
{
	struct sparse_hdr	h;

	parse("ZERO 0000000000001000 000000000000f000\r\n", &h);
	CU_ASSERT_EQUAL(h.kind, SK_UNKNOWN);
	CU_ASSERT_TRUE(h.flags & SH_BAD_KIND);
	CU_ASSERT_STRING_EQUAL(h.word, "ZERO");
	CU_ASSERT_FALSE(sparse_hdr_plausible((const uint8_t *)
	    "ZERO 0000000000001000 000000000000f000\r\n"));
}

static void
test_hdr_lenient(void)
{
	struct sparse_hdr	h;

	/* Uppercase: only int(x, 16) takes it. */
	parse("zero 0000000000001000 000000000000F000\r\n", &h);
	CU_ASSERT_EQUAL(h.flags, SH_NONCANON);
	CU_ASSERT_EQUAL(h.len, 0xf000);
	CU_ASSERT_EQUAL(h.bad_byte, 34);
	CU_ASSERT_STRING_EQUAL(h.bad_field, "length");
	/* A 0x prefix, underscores, blanks and a plus sign. */
	parse("zero 0x00000000001000 000_0000_0000_f0\r\n", &h);
	CU_ASSERT_EQUAL(h.flags, SH_NONCANON);
	CU_ASSERT_EQUAL(h.start, 0x1000);
	CU_ASSERT_EQUAL(h.len, 0xf0);
	parse("zero    +000000001000 000000000000f000\r\n", &h);
	CU_ASSERT_EQUAL(h.flags, SH_NONCANON);
	CU_ASSERT_EQUAL(h.start, 0x1000);
	/* Not hex at all, a minus sign, a doubled underscore. */
	parse("zero 000000000000100g 000000000000f000\r\n", &h);
	CU_ASSERT_TRUE(h.flags & SH_NONHEX);
	CU_ASSERT_EQUAL(h.bad_byte, 20);
	parse("zero -000000000001000 000000000000f000\r\n", &h);
	CU_ASSERT_TRUE(h.flags & SH_NONHEX);
	parse("zero 0000__0000001000 000000000000f000\r\n", &h);
	CU_ASSERT_TRUE(h.flags & SH_NONHEX);
	parse("zero 0000 00000001000 000000000000f000\r\n", &h);
	CU_ASSERT_TRUE(h.flags & SH_NONHEX);
}

static void
test_hdr_syntax(void)
{
	struct sparse_hdr	h;

	parse("zero\t0000000000001000 000000000000f000\r\n", &h);
	CU_ASSERT_EQUAL(h.flags, SH_BAD_SEP);
	CU_ASSERT_EQUAL(h.bad_byte, 4);
	parse("zero 0000000000001000_000000000000f000\r\n", &h);
	CU_ASSERT_EQUAL(h.flags, SH_BAD_SEP);
	CU_ASSERT_EQUAL(h.bad_byte, 21);
	parse("zero 0000000000001000 000000000000f000\n\n", &h);
	CU_ASSERT_EQUAL(h.flags, SH_TERM_SPACE);
	parse("zero 0000000000001000 000000000000f000XX", &h);
	CU_ASSERT_EQUAL(h.flags, SH_TERM_BAD);
	CU_ASSERT_EQUAL(h.term, 0x5858);
	CU_ASSERT_FALSE(sparse_hdr_plausible((const uint8_t *)
	    "zero 0000000000001000 000000000000f000XX"));
	{
		static const uint8_t	nul[SPARSE_HDR_LEN];

		sparse_hdr_parse(nul, &h);
		CU_ASSERT_TRUE(h.flags & SH_BAD_KIND);
		CU_ASSERT_TRUE(h.flags & SH_NONHEX);
		CU_ASSERT_FALSE(sparse_hdr_plausible(nul));
	}
}

static void
test_hdr_format(void)
{
	struct sparse_hdr	h;
	uint8_t			b[SPARSE_HDR_LEN];

	sparse_hdr_format(b, SK_COMP, 0, 41);
	CU_ASSERT_EQUAL(memcmp(b, "comp 0000000000000000 0000000000000029\r\n",
	    SPARSE_HDR_LEN), 0);
	sparse_hdr_format(b, SK_DATA, UINT64_MAX, 1);
	sparse_hdr_parse(b, &h);
	CU_ASSERT_EQUAL(h.flags, 0);
	CU_ASSERT_EQUAL(h.start, UINT64_MAX);
	CU_ASSERT_STRING_EQUAL(sparse_kind_name(SK_ZERO), "zero");
}

int suite_sparse_hdr(void);

int
suite_sparse_hdr(void)
{
	CU_pSuite	s = CU_add_suite("sparse_hdr", NULL, NULL);

	if (s == NULL)
		return -1;
	CU_add_test(s, "canonical headers", test_hdr_canonical);
	CU_add_test(s, "kind words", test_hdr_kind);
	CU_add_test(s, "numbers a lenient parser takes", test_hdr_lenient);
	CU_add_test(s, "separators and terminators", test_hdr_syntax);
	CU_add_test(s, "formatting", test_hdr_format);
	return 0;
}
