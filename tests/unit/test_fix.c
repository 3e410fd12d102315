/* SPDX-License-Identifier: MIT */
/*
 * test_fix.c --- pr_fixable() (core/fix.c): a problem is fixable exactly
 * when the table names a fix and its format's ops have a repair that can
 * write somewhere.
 */
#include <CUnit/CUnit.h>

#include "core/core.h"

/* The ops of the format whose code range holds code, or NULL. */
static const struct fmt_ops *
ops_of(uint32_t code)
{
	size_t	i;

	for (i = 0; i < FMT_NTAB; i++)
		if (fmt_table[i] != NULL &&
		    fmt_table[i]->pr_base == (code & 0xff0000))
			return fmt_table[i];
	return NULL;
}

static void
test_fixable_follows_ops(void)
{
	const struct fmt_ops	*ops;
	const struct pr_info	*pi;
	bool			 repair;
	int			 i, n = 0;

	for (i = 0; i < PR_COUNT; i++) {
		pi = pr_info_get((enum pr_id)i);
		ops = ops_of(pi->code);
		repair = ops != NULL && ops->repair != NULL && (ops->caps &
		    (FMT_REPAIR_INPLACE | FMT_REPAIR_COPY)) != 0;
		CU_ASSERT_EQUAL(pr_fixable((enum pr_id)i),
		    pi->fix != PR_FIX_NONE && repair);
		n += pr_fixable((enum pr_id)i);
	}
	/* QED, sparse streams and archive7 repair: some are fixable. */
	CU_ASSERT(n > 0);
	CU_ASSERT_FALSE(pr_fixable(PR_CORE_IO_ERROR));
	CU_ASSERT_FALSE(pr_fixable(PR_COUNT));
}

static void
test_fixable_needs_a_fix(void)
{
	int	i;

	for (i = 0; i < PR_COUNT; i++)
		if (pr_fixable((enum pr_id)i))
			CU_ASSERT_NOT_EQUAL(pr_info_get((enum pr_id)i)->fix,
			    PR_FIX_NONE);
}

int suite_fix(void);

int
suite_fix(void)
{
	CU_pSuite	s = CU_add_suite("fix", NULL, NULL);

	if (s == NULL)
		return -1;
	CU_add_test(s, "fixable where the format's ops repair",
	    test_fixable_follows_ops);
	CU_add_test(s, "fixable only with a fix", test_fixable_needs_a_fix);
	return 0;
}
