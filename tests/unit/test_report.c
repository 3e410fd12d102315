/* SPDX-License-Identifier: MIT */
/*
 * test_report.c --- the problem table and report_problem()'s policy.
 */
#include <string.h>

#include <CUnit/CUnit.h>

#include "core/core.h"

static void
test_table(void)
{
	const struct pr_info	*a, *b;
	int			 i, j;

	for (i = 0; i < PR_COUNT; i++) {
		a = pr_info_get((enum pr_id)i);
		CU_ASSERT_PTR_NOT_NULL_FATAL(a);
		CU_ASSERT(a->msg != NULL && a->msg[0] != '\0');
		CU_ASSERT(a->name != NULL && strchr(a->name, '_') == NULL);
		if (i > 0) {	/* codes increase: append-only */
			b = pr_info_get((enum pr_id)(i - 1));
			CU_ASSERT(b->code < a->code);
		}
		for (j = 0; j < i; j++)
			CU_ASSERT(strcmp(pr_info_get((enum pr_id)j)->name,
			    a->name) != 0);
	}
	CU_ASSERT_PTR_NULL(pr_info_get(PR_COUNT));
}

static void
test_format(void)
{
	struct pr_ctx	pc = { .off = 0x50000, .idx = 5, .found = 1,
	    .want = 2, .str = "snap" };
	char		buf[64];

	pr_format(buf, sizeof(buf), "%O %I %N %M %n %S %%", &pc);
	CU_ASSERT_STRING_EQUAL(buf, "0x50000 5 1 2 0x1 snap %%");
	pr_format(buf, 8, "cluster %I refcount", &pc);
	CU_ASSERT_STRING_EQUAL(buf, "cluster");
}

static void
test_policy(void)
{
	struct report	rp;
	struct pr_ctx	pc = { .off = 1, .flags = PC_HOST };
	int		i;

	report_init(&rp);
	rp.max_per_code = 2;
	for (i = 0; i < 5; i++)
		CU_ASSERT_FALSE(report_problem(&rp, PR_CORE_IO_ERROR, &pc));
	CU_ASSERT_EQUAL(rp.c.check_errors, 5);	/* counters count all */
	CU_ASSERT_EQUAL(rp.nf, 2);
	CU_ASSERT_EQUAL(rp.omitted, 3);
	CU_ASSERT_EQUAL(rp.seen[PR_CORE_IO_ERROR], 5);
	pc.flags |= PC_NOCOUNT;
	report_problem(&rp, PR_CORE_IO_ERROR, &pc);
	CU_ASSERT_EQUAL(rp.c.check_errors, 5);
	report_release(&rp);
}

int suite_report(void);

int
suite_report(void)
{
	CU_pSuite	s = CU_add_suite("report", NULL, NULL);

	if (s == NULL)
		return -1;
	CU_add_test(s, "problem table is sane", test_table);
	CU_add_test(s, "message templates", test_format);
	CU_add_test(s, "counting and flood limit", test_policy);
	return 0;
}
