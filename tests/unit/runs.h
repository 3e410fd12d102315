/* SPDX-License-Identifier: MIT */
/*
 * runs.h --- a map callback for the unit tests: the runs it is given,
 * kept in order (at most 16; more is a failure).
 */
#ifndef TESTS_UNIT_RUNS_H
#define TESTS_UNIT_RUNS_H

#include <CUnit/CUnit.h>

#include "libcore.h"

struct runs {
	struct map_ext	r[16];
	size_t		n;
};

static inline int
collect(void *arg, const struct map_ext *e)
{
	struct runs	*rs = arg;

	CU_ASSERT_FATAL(rs->n < 16);
	rs->r[rs->n++] = *e;
	return 0;
}

#endif /* TESTS_UNIT_RUNS_H */
