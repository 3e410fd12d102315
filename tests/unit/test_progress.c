/* SPDX-License-Identifier: MIT */
/*
 * test_progress.c --- walkers report their progress: a check of a qcow2
 * image with many L2 tables calls the progress hook with growing counts
 * that never pass the total, and nothing is called without a hook.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "core/core.h"
#include "../fixtures/qcow2_fix.h"

struct seen {
	uint64_t	calls;
	uint64_t	last;
	uint64_t	total;
	int		bad;
};

static void
hook(void *arg, uint64_t done, uint64_t total)
{
	struct seen	*s = arg;

	if (done > total || done < s->last || (s->total != 0 &&
	    total != s->total && done < s->last))
		s->bad++;
	s->calls++;
	s->last = done;
	s->total = total;
}

static void
test_qcow2_check(void)
{
	struct qcow2_fix	 f;
	struct img		*img;
	struct report		 rp;
	struct seen		 s = { 0 };
	char			 path[] = "/tmp/imgkit-progress-XXXXXX";
	char			 err[128];
	uint64_t		 g;
	int			 fd;

	/* 4 KiB clusters: one L2 table per 2 MiB of guest data. */
	CU_ASSERT_FATAL(qcow2_fix_init(&f, 3, 12, 4, 64ULL << 20, false) ==
	    0);
	for (g = 0; g < (64ULL << 20); g += 2ULL << 20)
		CU_ASSERT_FATAL(qcow2_fix_write(&f, g, 0x5a) != 0);
	fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
	CU_ASSERT_FATAL(qcow2_fix_save(&f, path) == 0);
	qcow2_fix_release(&f);

	CU_ASSERT_FATAL(img_open(path, NULL, &img, err, sizeof(err)) == 0);
	img_set_progress(img, hook, &s);
	report_init(&rp);
	CU_ASSERT_EQUAL(img_check(img, &rp), 0);
	CU_ASSERT_EQUAL(rp.c.corruptions + rp.c.leaks, 0);
	report_release(&rp);
	CU_ASSERT(s.calls >= 32);
	/* 32 L2 tables of one 4 KiB cluster each, in bytes. */
	CU_ASSERT_EQUAL(s.total, 32 * 4096);
	CU_ASSERT_EQUAL(s.bad, 0);

	/* Without a hook, nothing is called. */
	img_set_progress(img, NULL, NULL);
	s.calls = 0;
	report_init(&rp);
	CU_ASSERT_EQUAL(img_check(img, &rp), 0);
	report_release(&rp);
	CU_ASSERT_EQUAL(s.calls, 0);
	img_close(img);
	unlink(path);
}

int suite_progress(void);

int
suite_progress(void)
{
	CU_pSuite	s = CU_add_suite("progress", NULL, NULL);

	if (s == NULL)
		return -1;
	CU_add_test(s, "a qcow2 check reports its walk", test_qcow2_check);
	return 0;
}
