/* SPDX-License-Identifier: MIT */
/*
 * test_preread.c --- reads done by reader threads come back in order
 * (core/preread.c): every group in its number's order with its own
 * bytes, whichever reader finished first; a failed group's error at that
 * group; a walk stopped early stops its readers; who may use readers;
 * and a qcow2 check read by three readers finds what one finds, finding
 * for finding, on images damaged at their start and at their end, in
 * groups of the default size and in many small ones.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "core/core.h"
#include "../fixtures/qcow2_fix.h"

#define SLOT	256

struct fill_ctx {
	size_t	fail_at;	/* group that fails, or SIZE_MAX */
	int	calls;
};

/* Group g: SLOT bytes of (g * 7 + i) & 0xff, after a pause that varies. */
static int
fill(void *arg, size_t g, uint8_t *buf)
{
	struct fill_ctx		*c = arg;
	struct timespec		 ts = { 0, (long)((g * 7919) % 5) * 20000 };
	size_t			 i;

	__atomic_add_fetch(&c->calls, 1, __ATOMIC_RELAXED);
	nanosleep(&ts, NULL);
	if (g == c->fail_at)
		return -EIO;
	for (i = 0; i < SLOT; i++)
		buf[i] = (uint8_t)(g * 7 + i);
	return 0;
}

static void
test_order(void)
{
	struct fill_ctx		 c = { SIZE_MAX, 0 };
	struct img_preread	*pr;
	const uint8_t		*b;
	size_t			 g, i, bad = 0;

	CU_ASSERT_FATAL(img_preread_start(&pr, 3, 4, SLOT, 200, fill, &c) ==
	    0);
	for (g = 0; g < 200; g++) {
		CU_ASSERT_EQUAL(img_preread_next(pr, g, &b), 0);
		for (i = 0; i < SLOT; i++)
			bad += b[i] != (uint8_t)(g * 7 + i);
		img_preread_done(pr, g);
	}
	img_preread_stop(pr);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(c.calls, 200);
}

static void
test_error(void)
{
	struct fill_ctx		 c = { 37, 0 };
	struct img_preread	*pr;
	const uint8_t		*b;
	size_t			 g;
	int			 rc = 0;

	CU_ASSERT_FATAL(img_preread_start(&pr, 2, 3, SLOT, 100, fill, &c) ==
	    0);
	for (g = 0; g < 100 && rc == 0; g++) {
		rc = img_preread_next(pr, g, &b);
		img_preread_done(pr, g);
	}
	CU_ASSERT_EQUAL(rc, -EIO);
	CU_ASSERT_EQUAL(g, 38);
	/* Stopped with groups unread and slots full: no hang. */
	img_preread_stop(pr);
	/* At most the slots' worth read past the failed one. */
	CU_ASSERT(c.calls <= 38 + 3);
}

static void
test_stop_early(void)
{
	struct fill_ctx		 c = { SIZE_MAX, 0 };
	struct img_preread	*pr;
	const uint8_t		*b;

	CU_ASSERT_FATAL(img_preread_start(&pr, 4, 8, SLOT, 100000, fill,
	    &c) == 0);
	CU_ASSERT_EQUAL(img_preread_next(pr, 0, &b), 0);
	CU_ASSERT_EQUAL(b[1], 1);
	img_preread_stop(pr);
	CU_ASSERT(c.calls <= 1 + 8);
	/* Bad arguments. */
	CU_ASSERT_EQUAL(img_preread_start(&pr, 0, 4, SLOT, 1, fill, &c),
	    -EINVAL);
	CU_ASSERT_EQUAL(img_preread_start(&pr, IMG_PREREAD_MAX + 1, 4, SLOT,
	    1, fill, &c), -EINVAL);
	CU_ASSERT_EQUAL(img_preread_start(&pr, 2, 0, SLOT, 1, fill, &c),
	    -EINVAL);
}

static void
test_threads(void)
{
	struct img	img;

	memset(&img, 0, sizeof(img));
	img.readers = 3;
	CU_ASSERT_EQUAL(img_preread_threads(&img), 3);
	img.readers = 9;
	CU_ASSERT_EQUAL(img_preread_threads(&img), IMG_PREREAD_MAX);
	img.readers = 1;
	CU_ASSERT_EQUAL(img_preread_threads(&img), 0);
	img.readers = 2;
	img.flags = IMG_RDWR;
	CU_ASSERT_EQUAL(img_preread_threads(&img), 0);
	img.flags = 0;
	img.plan = (struct plan *)&img;	/* only tested for NULL */
	CU_ASSERT_EQUAL(img_preread_threads(&img), 0);
}

static void
check_with(const char *path, unsigned readers, uint64_t group,
    struct report *rp)
{
	struct img	*img;
	char		 err[128];

	CU_ASSERT_FATAL(img_open(path, NULL, &img, err, sizeof(err)) == 0);
	img_set_readers(img, readers);
	img->group_bytes = group;
	report_init(rp);
	CU_ASSERT_EQUAL(img_check(img, rp), 0);
	img_close(img);
}

static void	same_findings(const char *path, uint64_t group);

/* Save f to a new file named from the template path, and release it. */
static void
save_tmp(struct qcow2_fix *f, char *path)
{
	int	fd = mkstemp(path);

	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
	CU_ASSERT_FATAL(qcow2_fix_save(f, path) == 0);
	qcow2_fix_release(f);
}

static void
test_qcow2_same(void)
{
	struct qcow2_fix	 f;
	char			 path[] = "/tmp/imgkit-preread-XXXXXX";
	uint64_t		 g, d0, d1, dn;

	/*
	 * 64 KiB clusters, one L2 table per 512 MiB: 80 GiB of guest with a
	 * cluster in every table is 160 tables, 10 MiB of them, over the
	 * walk's threshold for readers (8 MiB): ten groups of 1 MiB.
	 */
	CU_ASSERT_FATAL(qcow2_fix_init(&f, 3, 16, 4, 80ULL << 30, false) ==
	    0);
	d0 = d1 = 0;
	for (g = 0; g < (80ULL << 30); g += 512ULL << 20) {
		dn = qcow2_fix_write(&f, g, 0x5a);
		CU_ASSERT_FATAL(dn != 0);
		if (d0 == 0)
			d0 = dn;
		else if (d1 == 0)
			d1 = dn;
	}
	/*
	 * A leak (refcount too high) at the start; at the end, the last
	 * table's second entry names the second data cluster too.
	 */
	qcow2_fix_ref_set(&f, d0 >> 16, 2);
	qcow2_fix_l2_set(&f, 159, 1, 0, d1);
	save_tmp(&f, path);

	same_findings(path, 0);
	same_findings(path, 2 << 16);	/* two tables a group */
	unlink(path);
}

/*
 * 512-byte clusters, 2 MiB of guest all written: 64 tables and 17
 * refcount blocks, read two to a group by three readers (forced: far
 * under the size that calls them), the damage in early and late groups.
 */
static void
test_qcow2_small_groups(void)
{
	struct qcow2_fix	 f;
	char			 path[] = "/tmp/imgkit-preread-XXXXXX";
	uint64_t		 g, d[4096];

	CU_ASSERT_FATAL(qcow2_fix_init(&f, 3, 9, 4, 2ULL << 20, false) == 0);
	for (g = 0; g < 4096; g++) {
		d[g] = qcow2_fix_write(&f, g << 9, (uint8_t)g);
		CU_ASSERT_FATAL(d[g] != 0);
	}
	qcow2_fix_ref_set(&f, d[3] >> 9, 3);		/* leak, early */
	qcow2_fix_ref_set(&f, d[4000] >> 9, 0);	/* corruption, late */
	qcow2_fix_l2_set(&f, 63, 5, 0, d[10]);	/* shared, last table */
	save_tmp(&f, path);
	same_findings(path, 1024);
	same_findings(path, 512);
	unlink(path);
}

/* One reader and three (groups of group bytes) find the same. */
static void
same_findings(const char *path, uint64_t group)
{
	struct report	one, three;
	size_t		i;

	check_with(path, 1, 0, &one);
	check_with(path, 3, group, &three);
	CU_ASSERT(one.c.corruptions > 0);
	CU_ASSERT(one.c.leaks > 0);
	CU_ASSERT_EQUAL(one.c.corruptions, three.c.corruptions);
	CU_ASSERT_EQUAL(one.c.leaks, three.c.leaks);
	CU_ASSERT_EQUAL(one.c.check_errors, three.c.check_errors);
	CU_ASSERT_EQUAL(one.c.allocated_clusters,
	    three.c.allocated_clusters);
	CU_ASSERT_EQUAL(one.c.fragmented_clusters,
	    three.c.fragmented_clusters);
	CU_ASSERT_EQUAL(one.c.image_end_offset, three.c.image_end_offset);
	CU_ASSERT_FATAL(one.nf == three.nf);
	for (i = 0; i < one.nf; i++) {
		CU_ASSERT_EQUAL(one.f[i].id, three.f[i].id);
		CU_ASSERT_EQUAL(one.f[i].host_off, three.f[i].host_off);
		CU_ASSERT_EQUAL(one.f[i].guest_off, three.f[i].guest_off);
		CU_ASSERT_STRING_EQUAL(one.f[i].msg ? one.f[i].msg : "",
		    three.f[i].msg ? three.f[i].msg : "");
	}
	report_release(&one);
	report_release(&three);
}

int suite_preread(void);

int
suite_preread(void)
{
	CU_pSuite	s = CU_add_suite("preread", NULL, NULL);

	if (s == NULL)
		return -1;
	CU_add_test(s, "groups come back in order, each its own bytes",
	    test_order);
	CU_add_test(s, "a failed group's error, at that group", test_error);
	CU_add_test(s, "stopped early, the readers stop", test_stop_early);
	CU_add_test(s, "who may read with threads", test_threads);
	CU_add_test(s, "a qcow2 check with readers finds what one finds",
	    test_qcow2_same);
	CU_add_test(s, "the same with many small groups, small clusters",
	    test_qcow2_small_groups);
	return 0;
}
