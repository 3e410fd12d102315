/* SPDX-License-Identifier: MIT */
/*
 * test_qcow2_check.c --- qcow2 check on fixture images: break one thing,
 * assert the exact problem code and qemu-img's counters.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "libcore.h"
#include "fixtures/qcow2_fix.h"

#define GUEST	(64ULL << 20)

struct res {
	int		open_rc;
	int		rc;
	struct report	rp;
	char		err[256];
};

/* Save f, open it as qcow2 and check it into r (release with done()). */
static void
run(const struct qcow2_fix *f, struct res *r)
{
	struct img_opts	 o = { .format = "qcow2" };
	struct img	*img = NULL;
	char		 path[] = "/tmp/imgkit-test-XXXXXX";
	int		 fd;

	memset(r, 0, sizeof(*r));
	report_init(&r->rp);
	fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
	CU_ASSERT_FATAL(qcow2_fix_save(f, path) == 0);
	r->open_rc = img_open(path, &o, &img, r->err, sizeof(r->err));
	if (r->open_rc == 0) {
		r->rc = img_check(img, &r->rp);
		img_close(img);
	}
	unlink(path);
}

static void
done(struct res *r)
{
	report_release(&r->rp);
}

/* The base image of the spec's recipes: one cluster at guest 0. */
static void
base(struct qcow2_fix *f)
{
	CU_ASSERT_FATAL(qcow2_fix_init(f, 3, 16, 4, GUEST, false) == 0);
	CU_ASSERT_FATAL(qcow2_fix_write(f, 0, 0x11) == 0x50000);
}

static void
test_clean(void)
{
	struct qcow2_fix	f;
	struct res		r;

	base(&f);
	run(&f, &r);
	CU_ASSERT_EQUAL(r.open_rc, 0);
	CU_ASSERT_EQUAL(r.rc, 0);
	CU_ASSERT_EQUAL(r.rp.c.corruptions, 0);
	CU_ASSERT_EQUAL(r.rp.c.leaks, 0);
	CU_ASSERT_EQUAL(r.rp.c.check_errors, 0);
	CU_ASSERT_EQUAL(r.rp.c.allocated_clusters, 1);
	CU_ASSERT_EQUAL(r.rp.c.total_clusters, 1024);
	CU_ASSERT_EQUAL(r.rp.c.image_end_offset, 0x60000);
	CU_ASSERT_EQUAL(r.rp.nf, 0);
	done(&r);
	qcow2_fix_release(&f);
}

static void
test_leak(void)
{
	struct qcow2_fix	f;
	struct res		r;

	base(&f);
	qcow2_fix_l2_set(&f, 0, 0, 0, 0);
	run(&f, &r);
	CU_ASSERT_EQUAL(r.rp.c.leaks, 1);
	CU_ASSERT_EQUAL(r.rp.c.corruptions, 0);
	CU_ASSERT_EQUAL(r.rp.seen[PR_QCOW2_REFCOUNT_LEAK], 1);
	CU_ASSERT_EQUAL(r.rp.c.image_end_offset, 0x60000);
	CU_ASSERT_EQUAL_FATAL(r.rp.nf, 1);
	CU_ASSERT_EQUAL(r.rp.f[0].host_off, 0x50000);
	CU_ASSERT_STRING_EQUAL(r.rp.f[0].path, "refcount block 0 [5]");
	done(&r);
	qcow2_fix_release(&f);
}

static void
test_refcount_zero(void)
{
	struct qcow2_fix	f;
	struct res		r;

	base(&f);
	qcow2_fix_ref_set(&f, 5, 0);
	run(&f, &r);
	CU_ASSERT_EQUAL(r.rp.c.corruptions, 2);
	CU_ASSERT_EQUAL(r.rp.seen[PR_QCOW2_REFCOUNT_ZERO], 1);
	CU_ASSERT_EQUAL(r.rp.seen[PR_QCOW2_COPIED_DATA], 1);
	done(&r);
	qcow2_fix_release(&f);
}

static void
test_refcount_short_guest_range(void)
{
	struct qcow2_fix	f;
	struct res		r;
	size_t			i;
	bool			seen = false;

	base(&f);
	CU_ASSERT_FATAL(qcow2_fix_write(&f, 0x10000, 0x22) == 0x60000);
	/* Guest cluster 1 shares guest cluster 0's data cluster. */
	qcow2_fix_l2_set(&f, 0, 1, 0, qcow2_fix_l2_get(&f, 0, 0, 0));
	run(&f, &r);
	CU_ASSERT_EQUAL(r.rp.c.corruptions, 1);
	CU_ASSERT_EQUAL(r.rp.c.leaks, 1);
	CU_ASSERT_EQUAL(r.rp.seen[PR_QCOW2_REFCOUNT_SHORT], 1);
	for (i = 0; i < r.rp.nf; i++) {
		if (r.rp.f[i].id != PR_QCOW2_REFCOUNT_SHORT)
			continue;
		seen = true;
		CU_ASSERT(r.rp.f[i].flags & PC_GUEST);
		CU_ASSERT_EQUAL(r.rp.f[i].guest_off, 0);
		CU_ASSERT_EQUAL(r.rp.f[i].guest_len, 0x10000);
	}
	CU_ASSERT(seen);
	done(&r);
	qcow2_fix_release(&f);
}

static void
test_refcount_too_high(void)
{
	struct qcow2_fix	f;
	struct res		r;

	base(&f);
	qcow2_fix_ref_set(&f, 5, 2);
	run(&f, &r);
	CU_ASSERT_EQUAL(r.rp.c.leaks, 1);
	CU_ASSERT_EQUAL(r.rp.c.corruptions, 1);
	CU_ASSERT_EQUAL(r.rp.seen[PR_QCOW2_REFCOUNT_LEAK], 1);
	CU_ASSERT_EQUAL(r.rp.seen[PR_QCOW2_COPIED_DATA], 1);
	done(&r);
	qcow2_fix_release(&f);
}

static void
test_l1_reserved(void)
{
	struct qcow2_fix	f;
	struct res		r;

	base(&f);
	qcow2_fix_l1_set(&f, 0, qcow2_fix_l1_get(&f, 0) | 1ULL << 56);
	run(&f, &r);
	CU_ASSERT_EQUAL(r.rp.c.corruptions, 1);
	CU_ASSERT_EQUAL(r.rp.seen[PR_QCOW2_L1_RESERVED], 1);
	done(&r);
	qcow2_fix_release(&f);
}

static void
test_l2_reserved(void)
{
	struct qcow2_fix	f;
	struct res		r;

	base(&f);
	qcow2_fix_l2_set(&f, 0, 0, 0, qcow2_fix_l2_get(&f, 0, 0, 0) |
	    1ULL << 56);
	run(&f, &r);
	CU_ASSERT_EQUAL(r.rp.c.corruptions, 1);
	CU_ASSERT_EQUAL(r.rp.seen[PR_QCOW2_L2_RESERVED], 1);
	CU_ASSERT_EQUAL_FATAL(r.rp.nf, 1);
	CU_ASSERT_EQUAL(r.rp.f[0].host_off, 0x40000);
	CU_ASSERT_EQUAL(r.rp.f[0].guest_off, 0);
	done(&r);
	qcow2_fix_release(&f);
}

static void
test_l2_past_eof(void)
{
	struct qcow2_fix	f;
	struct res		r;

	base(&f);
	qcow2_fix_l2_set(&f, 0, 1, 0, 0x8000000040000000ULL);
	run(&f, &r);
	CU_ASSERT_EQUAL(r.rp.c.corruptions, 2);
	CU_ASSERT_EQUAL(r.rp.seen[PR_QCOW2_REF_PAST_EOF], 1);
	CU_ASSERT_EQUAL(r.rp.seen[PR_QCOW2_COPIED_DATA], 1);
	CU_ASSERT_EQUAL(r.rp.c.allocated_clusters, 2);
	CU_ASSERT_EQUAL(r.rp.c.fragmented_clusters, 1);
	done(&r);
	qcow2_fix_release(&f);
}

static void
test_l2_misaligned_table(void)
{
	struct qcow2_fix	f;
	struct res		r;

	base(&f);
	qcow2_fix_l1_set(&f, 0, qcow2_fix_l1_get(&f, 0) + 0x200);
	run(&f, &r);
	CU_ASSERT(r.rp.seen[PR_QCOW2_L2_MISALIGNED] == 1);
	CU_ASSERT(r.rp.c.corruptions >= 1);
	done(&r);
	qcow2_fix_release(&f);
}

static void
test_data_misaligned(void)
{
	struct qcow2_fix	f;
	struct res		r;

	base(&f);
	qcow2_fix_l2_set(&f, 0, 0, 0, qcow2_fix_l2_get(&f, 0, 0, 0) + 0x200);
	CU_ASSERT_FATAL(qcow2_fix_resize(&f, f.len + 0x200) == 0);
	run(&f, &r);
	CU_ASSERT_EQUAL(r.rp.seen[PR_QCOW2_DATA_MISALIGNED], 1);
	CU_ASSERT_EQUAL(r.rp.seen[PR_QCOW2_REFCOUNT_ZERO], 1);
	CU_ASSERT_EQUAL(r.rp.c.corruptions, 2);
	done(&r);
	qcow2_fix_release(&f);
}

static void
test_zero_misaligned(void)
{
	struct qcow2_fix	f;
	struct res		r;

	base(&f);
	qcow2_fix_l2_set(&f, 0, 0, 0, 0x8000000000050201ULL);
	CU_ASSERT_FATAL(qcow2_fix_resize(&f, f.len + 0x200) == 0);
	run(&f, &r);
	CU_ASSERT_EQUAL(r.rp.seen[PR_QCOW2_ZERO_MISALIGNED], 1);
	done(&r);
	qcow2_fix_release(&f);
}

static void
test_copied(void)
{
	struct qcow2_fix	f;
	struct res		r;

	base(&f);
	qcow2_fix_l1_set(&f, 0, qcow2_fix_l1_get(&f, 0) & ~(1ULL << 63));
	run(&f, &r);
	CU_ASSERT_EQUAL(r.rp.c.corruptions, 1);
	CU_ASSERT_EQUAL(r.rp.seen[PR_QCOW2_COPIED_L2], 1);
	done(&r);
	qcow2_fix_release(&f);
}

static void
test_compressed_copied(void)
{
	struct qcow2_fix	f;
	struct res		r;
	uint64_t		e;

	CU_ASSERT_FATAL(qcow2_fix_init(&f, 3, 16, 4, GUEST, false) == 0);
	CU_ASSERT_FATAL(qcow2_fix_write_compressed(&f, 0) != 0);
	run(&f, &r);
	CU_ASSERT_EQUAL(r.rp.c.corruptions, 0);
	CU_ASSERT_EQUAL(r.rp.c.compressed_clusters, 1);
	CU_ASSERT_EQUAL(r.rp.c.fragmented_clusters, 1);
	done(&r);
	e = qcow2_fix_l2_get(&f, 0, 0, 0);
	qcow2_fix_l2_set(&f, 0, 0, 0, e | 1ULL << 63);
	run(&f, &r);
	CU_ASSERT_EQUAL(r.rp.c.corruptions, 1);
	CU_ASSERT_EQUAL(r.rp.seen[PR_QCOW2_COMPRESSED_COPIED], 1);
	done(&r);
	qcow2_fix_release(&f);
}

static void
test_refcount_widths(void)
{
	struct qcow2_fix	f;
	struct res		r;
	uint32_t		order;

	for (order = 0; order <= 6; order++) {
		CU_ASSERT_FATAL(qcow2_fix_init(&f, 3, 16, order, GUEST,
		    false) == 0);
		CU_ASSERT_FATAL(qcow2_fix_write(&f, 0, 0x11) != 0);
		CU_ASSERT_FATAL(qcow2_fix_write(&f, 0x100000, 0x22) != 0);
		run(&f, &r);
		CU_ASSERT_EQUAL(r.rp.c.corruptions, 0);
		CU_ASSERT_EQUAL(r.rp.c.leaks, 0);
		CU_ASSERT_EQUAL(r.rp.c.allocated_clusters, 2);
		done(&r);
		/* Refcount 0 on the second data cluster, at every width. */
		qcow2_fix_ref_set(&f, 6, 0);
		run(&f, &r);
		CU_ASSERT_EQUAL(r.rp.seen[PR_QCOW2_REFCOUNT_ZERO], 1);
		done(&r);
		qcow2_fix_release(&f);
	}
}

static void
test_overflow_1bit(void)
{
	struct qcow2_fix	f;
	struct res		r;

	CU_ASSERT_FATAL(qcow2_fix_init(&f, 3, 16, 0, GUEST, false) == 0);
	CU_ASSERT_FATAL(qcow2_fix_write(&f, 0, 0x11) != 0);
	qcow2_fix_l2_set(&f, 0, 1, 0, qcow2_fix_l2_get(&f, 0, 0, 0));
	run(&f, &r);
	CU_ASSERT_EQUAL(r.rp.seen[PR_QCOW2_REF_OVERFLOW], 1);
	CU_ASSERT_EQUAL(r.rp.c.corruptions, 1);
	done(&r);
	qcow2_fix_release(&f);
}

static void
test_reftable(void)
{
	struct qcow2_fix	f;
	struct res		r;

	base(&f);
	qcow2_fix_put64(&f, f.reftable, f.refblock | 1);
	run(&f, &r);
	CU_ASSERT_EQUAL(r.rp.seen[PR_QCOW2_REFTABLE_RESERVED], 1);
	CU_ASSERT_EQUAL(r.rp.c.leaks, 1);
	done(&r);
	qcow2_fix_put64(&f, f.reftable, f.refblock + 0x200);
	run(&f, &r);
	CU_ASSERT_EQUAL(r.rp.seen[PR_QCOW2_REFBLOCK_MISALIGNED], 1);
	CU_ASSERT_EQUAL(r.rp.seen[PR_QCOW2_REFCOUNT_UNREADABLE], 6);
	CU_ASSERT_EQUAL(r.rp.c.check_errors, 6);
	done(&r);
	qcow2_fix_put64(&f, f.reftable, f.refblock);
	qcow2_fix_put64(&f, f.reftable + 8, 0x1000000);
	run(&f, &r);
	CU_ASSERT_EQUAL(r.rp.seen[PR_QCOW2_REFBLOCK_OUTSIDE], 1);
	CU_ASSERT_EQUAL(r.rp.c.corruptions, 1);
	done(&r);
	qcow2_fix_put64(&f, f.reftable + 8, 0);
	/* A data entry pointing at the refcount block. */
	qcow2_fix_l2_set(&f, 0, 0, 0, f.refblock | 1ULL << 63);
	run(&f, &r);
	CU_ASSERT_EQUAL(r.rp.seen[PR_QCOW2_REFBLOCK_REFCOUNT], 1);
	CU_ASSERT_EQUAL(r.rp.c.corruptions, 2);
	CU_ASSERT_EQUAL(r.rp.c.leaks, 1);
	done(&r);
	qcow2_fix_release(&f);
}

static void
test_snapshots(void)
{
	struct qcow2_fix	f;
	struct res		r;

	base(&f);
	CU_ASSERT_FATAL(qcow2_fix_snapshot(&f, "snap1") == 0);
	run(&f, &r);
	CU_ASSERT_EQUAL(r.rc, 0);
	CU_ASSERT_EQUAL(r.rp.c.corruptions, 0);
	CU_ASSERT_EQUAL(r.rp.c.leaks, 0);
	done(&r);
	/* Refcount 2 -> 1 on the shared data cluster. */
	qcow2_fix_ref_set(&f, 5, 1);
	run(&f, &r);
	CU_ASSERT_EQUAL(r.rp.seen[PR_QCOW2_REFCOUNT_SHORT], 1);
	CU_ASSERT_EQUAL(r.rp.seen[PR_QCOW2_COPIED_DATA], 1);
	CU_ASSERT_EQUAL(r.rp.c.corruptions, 2);
	done(&r);
	qcow2_fix_ref_set(&f, 5, 2);
	/* nb_snapshots 1 -> 2: the second record is all zeros. */
	qcow2_fix_put32(&f, 60, 2);
	run(&f, &r);
	CU_ASSERT_EQUAL(r.rp.seen[PR_QCOW2_SNAP_INCOMPLETE], 1);
	CU_ASSERT_EQUAL(r.rp.c.corruptions, 1);
	done(&r);
	qcow2_fix_put32(&f, 60, 1);
	/* Too much extra data stops the check, as in QEMU. */
	qcow2_fix_put32(&f, f.snaptab + 36, 2000);
	run(&f, &r);
	CU_ASSERT(r.rc < 0);
	CU_ASSERT_EQUAL(r.rp.seen[PR_QCOW2_SNAP_EXTRA_TOO_LARGE], 1);
	CU_ASSERT_EQUAL(r.rp.c.check_errors, 1);
	done(&r);
	qcow2_fix_put32(&f, f.snaptab + 36, 24);
	/* Misaligned snapshot L1: its clusters look leaked. */
	qcow2_fix_put64(&f, f.snaptab, qcow2_fix_l1_get(&f, 0) == 0 ? 0 :
	    0x60200);
	run(&f, &r);
	CU_ASSERT_EQUAL(r.rp.seen[PR_QCOW2_SNAP_L1_MISALIGNED], 1);
	CU_ASSERT_EQUAL(r.rp.c.corruptions, 1);
	CU_ASSERT_EQUAL(r.rp.c.leaks, 3);
	done(&r);
	/* Snapshot table offset not cluster aligned: the check stops. */
	qcow2_fix_put64(&f, 64, f.snaptab + 0x10);
	run(&f, &r);
	CU_ASSERT(r.rc < 0);
	CU_ASSERT_EQUAL(r.rp.seen[PR_QCOW2_SNAPTAB_OFFSET], 1);
	done(&r);
	qcow2_fix_release(&f);
}

static void
test_extl2(void)
{
	struct qcow2_fix	f;
	struct res		r;

	CU_ASSERT_FATAL(qcow2_fix_init(&f, 3, 16, 4, GUEST, true) == 0);
	CU_ASSERT_FATAL(qcow2_fix_write(&f, 0, 0x11) != 0);
	run(&f, &r);
	CU_ASSERT_EQUAL(r.rp.c.corruptions, 0);
	done(&r);
	qcow2_fix_l2_set(&f, 0, 0, 1, 0x1ffffffffULL);
	run(&f, &r);
	CU_ASSERT_EQUAL(r.rp.seen[PR_QCOW2_SUBCLUSTER_BITMAP], 1);
	done(&r);
	qcow2_fix_l2_set(&f, 0, 0, 1, 0xffffffffULL);
	qcow2_fix_l2_set(&f, 0, 1, 1, 1);
	run(&f, &r);
	CU_ASSERT_EQUAL(r.rp.seen[PR_QCOW2_UNALLOC_SUBCLUSTER], 1);
	CU_ASSERT_EQUAL(r.rp.c.corruptions, 1);
	done(&r);
	qcow2_fix_release(&f);
}

static void
test_header_flags(void)
{
	struct qcow2_fix	f;
	struct res		r;

	base(&f);
	qcow2_fix_put64(&f, 72, 3);	/* dirty + corrupt */
	run(&f, &r);
	CU_ASSERT_EQUAL(r.rp.seen[PR_QCOW2_DIRTY], 1);
	CU_ASSERT_EQUAL(r.rp.seen[PR_QCOW2_CORRUPT_BIT], 1);
	CU_ASSERT_EQUAL(r.rp.c.corruptions, 0);	/* warnings only */
	done(&r);
	qcow2_fix_release(&f);
}

static void
test_open_refusals(void)
{
	struct qcow2_fix	f;
	struct res		r;

	base(&f);
	qcow2_fix_put32(&f, 4, 4);
	run(&f, &r);
	CU_ASSERT(r.open_rc < 0);
	CU_ASSERT_STRING_EQUAL(r.err, "Unsupported qcow2 version 4");
	done(&r);
	qcow2_fix_put32(&f, 4, 3);
	qcow2_fix_put32(&f, 36, 0);		/* l1_size 0 < needed 1 */
	run(&f, &r);
	CU_ASSERT_STRING_EQUAL(r.err, "L1 table is too small");
	done(&r);
	qcow2_fix_put32(&f, 36, 0xffffffffU);
	run(&f, &r);
	CU_ASSERT_STRING_EQUAL(r.err, "Active L1 table too large");
	done(&r);
	qcow2_fix_put32(&f, 36, 1);
	qcow2_fix_put32(&f, 56, 0x7fffffff);	/* refcount_table_clusters */
	run(&f, &r);
	CU_ASSERT_STRING_EQUAL(r.err, "Reference count table too large");
	done(&r);
	qcow2_fix_put32(&f, 56, 1);
	/* A header extension claiming 4 GiB. */
	qcow2_fix_put32(&f, 112, 0x12345678);
	qcow2_fix_put32(&f, 116, 0xffffffffU);
	run(&f, &r);
	CU_ASSERT(r.open_rc < 0);
	CU_ASSERT(strncmp(r.err, "Header extension too large", 26) == 0);
	done(&r);
	qcow2_fix_put32(&f, 116, 0);
	qcow2_fix_put32(&f, 20, 63);		/* cluster_bits */
	run(&f, &r);
	CU_ASSERT_STRING_EQUAL(r.err, "Unsupported cluster size: 2^63");
	done(&r);
	/* A file cut inside the header. */
	qcow2_fix_put32(&f, 20, 16);
	CU_ASSERT_FATAL(qcow2_fix_resize(&f, 50) == 0);
	run(&f, &r);
	CU_ASSERT(r.open_rc < 0);
	done(&r);
	qcow2_fix_release(&f);
}

static void
test_flood_limit(void)
{
	struct qcow2_fix	f;
	struct res		r;
	uint64_t		j;

	base(&f);
	/* 200 leaked clusters, one finding kept per code. */
	for (j = 0; j < 200; j++)
		(void)qcow2_fix_alloc(&f);
	{
		struct img_opts	 o = { .format = "qcow2" };
		struct img	*img;
		char		 path[] = "/tmp/imgkit-test-XXXXXX";
		int		 fd = mkstemp(path);

		CU_ASSERT_FATAL(fd >= 0);
		close(fd);
		CU_ASSERT_FATAL(qcow2_fix_save(&f, path) == 0);
		report_init(&r.rp);
		r.rp.max_per_code = 1;
		CU_ASSERT_FATAL(img_open(path, &o, &img, NULL, 0) == 0);
		CU_ASSERT_EQUAL(img_check(img, &r.rp), 0);
		img_close(img);
		unlink(path);
	}
	CU_ASSERT_EQUAL(r.rp.c.leaks, 200);
	CU_ASSERT_EQUAL(r.rp.nf, 1);
	CU_ASSERT_EQUAL(r.rp.omitted, 199);
	report_release(&r.rp);
	qcow2_fix_release(&f);
}

int suite_qcow2_check(void);

int
suite_qcow2_check(void)
{
	CU_pSuite	s = CU_add_suite("qcow2_check", NULL, NULL);

	if (s == NULL)
		return -1;
	CU_add_test(s, "clean image", test_clean);
	CU_add_test(s, "leaked cluster", test_leak);
	CU_add_test(s, "refcount zero", test_refcount_zero);
	CU_add_test(s, "shared cluster: guest range", test_refcount_short_guest_range);
	CU_add_test(s, "refcount too high", test_refcount_too_high);
	CU_add_test(s, "L1 reserved bits", test_l1_reserved);
	CU_add_test(s, "L2 reserved bits", test_l2_reserved);
	CU_add_test(s, "L2 entry past EOF", test_l2_past_eof);
	CU_add_test(s, "misaligned L2 table", test_l2_misaligned_table);
	CU_add_test(s, "misaligned data cluster", test_data_misaligned);
	CU_add_test(s, "misaligned zero cluster", test_zero_misaligned);
	CU_add_test(s, "COPIED flag", test_copied);
	CU_add_test(s, "compressed clusters", test_compressed_copied);
	CU_add_test(s, "every refcount width", test_refcount_widths);
	CU_add_test(s, "1-bit refcount overflow", test_overflow_1bit);
	CU_add_test(s, "refcount table and blocks", test_reftable);
	CU_add_test(s, "snapshots", test_snapshots);
	CU_add_test(s, "extended L2", test_extl2);
	CU_add_test(s, "dirty and corrupt bits", test_header_flags);
	CU_add_test(s, "open-time refusals", test_open_refusals);
	CU_add_test(s, "flood limit per code", test_flood_limit);
	return 0;
}
