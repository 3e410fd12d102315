/* SPDX-License-Identifier: MIT */
/*
 * test_mem.c --- grow_array(): room made by doubling, contents kept,
 * nothing changed when it cannot grow.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "core/core.h"

struct pair {
	uint64_t	a;
	uint32_t	b;
};

static void
test_grow(void)
{
	uint64_t	*v = NULL;
	struct pair	*p = NULL;
	size_t		 cap = 0, n, pcap = 0;

	/* No room yet: first items. */
	CU_ASSERT_EQUAL(grow_array(&v, &cap, 0, sizeof(*v), 4), 0);
	CU_ASSERT_EQUAL(cap, 4);
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	for (n = 0; n < 1000; n++) {
		CU_ASSERT_EQUAL_FATAL(grow_array(&v, &cap, n, sizeof(*v), 4),
		    0);
		CU_ASSERT_FATAL(n < cap);
		v[n] = n * 3;
	}
	/* Doubled each time: 4, 8, ... 1024. */
	CU_ASSERT_EQUAL(cap, 1024);
	for (n = 0; n < 1000; n++)
		if (v[n] != n * 3)
			break;
	CU_ASSERT_EQUAL(n, 1000);
	/* Room already there: nothing moves. */
	{
		uint64_t	*was = v;

		CU_ASSERT_EQUAL(grow_array(&v, &cap, 10, sizeof(*v), 4), 0);
		CU_ASSERT_PTR_EQUAL(v, was);
		CU_ASSERT_EQUAL(cap, 1024);
	}
	/* A capacity that cannot double: refused, the array kept. */
	{
		size_t	big = SIZE_MAX / 2 + 1;
		uint64_t *was = v;

		CU_ASSERT_EQUAL(grow_array(&v, &big, big, sizeof(*v), 4),
		    -ENOMEM);
		CU_ASSERT_PTR_EQUAL(v, was);
		CU_ASSERT_EQUAL(big, SIZE_MAX / 2 + 1);
	}
	free(v);
	/* Any element type. */
	CU_ASSERT_EQUAL(grow_array(&p, &pcap, 0, sizeof(*p), 1), 0);
	p[0].a = 7;
	p[0].b = 9;
	CU_ASSERT_EQUAL(grow_array(&p, &pcap, 1, sizeof(*p), 1), 0);
	CU_ASSERT_EQUAL(pcap, 2);
	CU_ASSERT(p[0].a == 7 && p[0].b == 9);
	free(p);
}

int	suite_mem(void);

int
suite_mem(void)
{
	CU_pSuite	s = CU_add_suite("mem", NULL, NULL);

	if (s == NULL)
		return -1;
	CU_add_test(s, "arrays grow by doubling", test_grow);
	return 0;
}
