/* SPDX-License-Identifier: MIT */
/*
 * runner.c --- run every CUnit suite (the list is generated from the
 * test file names) and end with CUnit's summary.
 */
#include <stdio.h>
#include <stdlib.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>

extern int (*const unit_suites[])(void);

int
main(void)
{
	unsigned	fails;
	int		i;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	for (i = 0; unit_suites[i] != NULL; i++)
		if (unit_suites[i]() != 0) {
			fprintf(stderr, "runner: suite %d failed to register\n",
			    i);
			CU_cleanup_registry();
			return 2;
		}
	CU_basic_set_mode(CU_BRM_NORMAL);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() +
	    CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return fails == 0 ? 0 : 1;
}
