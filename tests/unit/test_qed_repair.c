/* SPDX-License-Identifier: MIT */
/*
 * test_qed_repair.c --- QED repair: invalid offsets zeroed and counted as
 * fixed, NEED_CHECK cleared only when the tables are consistent, leaks
 * and double references left alone, the original kept with -o.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "core/core.h"
#include "qed/qed.h"
#include "../fixtures/qed_fix.h"

#define MB	(1024ull * 1024)

struct rpr {
	char		path[64];
	char		out[80];
	struct report	rp;	/* the repair's report */
	struct report	re;	/* the check after it */
	int		rrc;
	int		crc;
	uint64_t	features;	/* on disk after the repair */
};

static uint64_t
features_of(const char *path)
{
	uint8_t	b[8];
	FILE	*fp;

	memset(b, 0, sizeof(b));
	if ((fp = fopen(path, "rb")) == NULL)
		return ~0ull;
	if (fseek(fp, 16, SEEK_SET) != 0 || fread(b, 1, 8, fp) != 8)
		memset(b, 0xff, sizeof(b));
	fclose(fp);
	return le64_at(b);
}

/* Repair f at level (in place, or into a copy), then check the result. */
static void
repair(const struct qed_fix *f, unsigned level, bool inplace, struct rpr *r)
{
	struct img_opts	 opts;
	struct img	*img;
	char		 err[256];
	const char	*target;
	int		 fd;

	memset(r, 0, sizeof(*r));
	snprintf(r->path, sizeof(r->path), "/tmp/test_qedr_XXXXXX");
	CU_ASSERT_FATAL((fd = mkstemp(r->path)) >= 0);
	close(fd);
	snprintf(r->out, sizeof(r->out), "%s.out", r->path);
	CU_ASSERT_EQUAL_FATAL(qed_fix_save(f, r->path), 0);
	memset(&opts, 0, sizeof(opts));
	opts.format = "qed";
	opts.flags = inplace ? IMG_RDWR : 0;
	CU_ASSERT_EQUAL_FATAL(img_open(r->path, &opts, &img, err,
	    sizeof(err)), 0);
	report_init(&r->rp);
	r->rp.repair = level;
	r->rrc = img_repair(img, &r->rp, inplace ? NULL : r->out);
	img_close(img);
	target = inplace ? r->path : r->out;
	r->features = features_of(target);
	opts.flags = 0;
	report_init(&r->re);
	r->crc = -1;
	if (img_open(target, &opts, &img, err, sizeof(err)) == 0) {
		r->crc = img_check(img, &r->re);
		img_close(img);
	}
}

static void
rpr_release(struct rpr *r, const struct qed_fix *f, bool inplace)
{
	struct qed_fix	g;
	FILE		*fp;
	size_t		 n;

	/* With -o the original is byte for byte what we wrote. */
	if (!inplace && (fp = fopen(r->path, "rb")) != NULL) {
		memset(&g, 0, sizeof(g));
		CU_ASSERT_EQUAL(qed_fix_resize(&g, f->len + 1), 0);
		n = fread(g.buf, 1, f->len + 1, fp);
		fclose(fp);
		CU_ASSERT_EQUAL(n, f->len);
		CU_ASSERT(memcmp(g.buf, f->buf, f->len) == 0);
		qed_fix_release(&g);
	}
	unlink(r->path);
	unlink(r->out);
	report_release(&r->rp);
	report_release(&r->re);
}

static void
base(struct qed_fix *f)
{
	CU_ASSERT_EQUAL_FATAL(qed_fix_init(f, 65536, 4, 64 * MB), 0);
	CU_ASSERT_EQUAL_FATAL(qed_fix_write(f, 0, 0x11), 0x50000);
}

static void
test_l1_fixed(void)
{
	struct qed_fix	f;
	struct rpr	r;
	int		inplace;

	for (inplace = 0; inplace < 2; inplace++) {
		base(&f);
		qed_fix_l1_set(&f, 1, 0x40000000);
		repair(&f, REPAIR_ALL, inplace, &r);
		CU_ASSERT_EQUAL(r.rrc, 0);
		CU_ASSERT_EQUAL(r.rp.c.corruptions, 0);
		CU_ASSERT_EQUAL(r.rp.c.corruptions_fixed, 1);
		CU_ASSERT_EQUAL(r.crc, 0);
		CU_ASSERT_EQUAL(r.re.c.corruptions, 0);
		CU_ASSERT_EQUAL(r.re.c.leaks, 0);
		CU_ASSERT_EQUAL(r.re.c.allocated_clusters, 1);
		rpr_release(&r, &f, inplace);
		qed_fix_release(&f);
	}
}

static void
test_l1_in_use_fixed(void)
{
	struct qed_fix	f;
	struct rpr	r;

	/* Zeroing a used L1 entry leaks its table and data, as QEMU. */
	base(&f);
	qed_fix_l1_set(&f, 0, 0x60200);
	repair(&f, REPAIR_ALL, false, &r);
	CU_ASSERT_EQUAL(r.rp.c.corruptions_fixed, 1);
	CU_ASSERT_EQUAL(r.rp.c.leaks, 5);
	CU_ASSERT_EQUAL(r.re.c.corruptions, 0);
	CU_ASSERT_EQUAL(r.re.c.leaks, 5);
	CU_ASSERT_EQUAL(r.re.c.allocated_clusters, 0);
	rpr_release(&r, &f, false);
	qed_fix_release(&f);
}

static void
test_l2_fixed(void)
{
	struct qed_fix	f;
	struct rpr	r;

	base(&f);
	qed_fix_l2_set(&f, 0, 1, 0x200);
	qed_fix_l2_set(&f, 0, 9000, 0x40000000);	/* a second chunk */
	qed_fix_put64(&f, QED_FIX_FEATURES, 0x2);
	repair(&f, REPAIR_ALL, true, &r);
	CU_ASSERT_EQUAL(r.rp.c.corruptions_fixed, 2);
	CU_ASSERT_EQUAL(r.rp.c.allocated_clusters, 3);
	CU_ASSERT_EQUAL(r.re.c.corruptions, 0);
	CU_ASSERT_EQUAL(r.re.c.allocated_clusters, 1);
	CU_ASSERT_EQUAL(r.features, 0);		/* NEED_CHECK cleared */
	CU_ASSERT_EQUAL(r.re.seen[PR_QED_NEED_CHECK], 0);
	rpr_release(&r, &f, true);
	qed_fix_release(&f);
}

static void
test_not_fixed(void)
{
	struct qed_fix	f;
	struct rpr	r;

	/* A double reference stays, and so does NEED_CHECK. */
	base(&f);
	qed_fix_l2_set(&f, 0, 1, 0x50000);
	qed_fix_put64(&f, QED_FIX_FEATURES, 0x2);
	repair(&f, REPAIR_ALL, false, &r);
	CU_ASSERT_EQUAL(r.rp.c.corruptions, 1);
	CU_ASSERT_EQUAL(r.rp.c.corruptions_fixed, 0);
	CU_ASSERT_EQUAL(r.rp.seen[PR_QED_NEED_CHECK_KEPT], 1);
	CU_ASSERT_EQUAL(r.re.c.corruptions, 1);
	CU_ASSERT_EQUAL(r.features, 0x2);
	rpr_release(&r, &f, false);
	qed_fix_release(&f);

	/* Leaks stay; NEED_CHECK is cleared all the same. */
	base(&f);
	qed_fix_alloc(&f, 2);
	qed_fix_put64(&f, QED_FIX_FEATURES, 0x2);
	repair(&f, REPAIR_ALL, true, &r);
	CU_ASSERT_EQUAL(r.rp.c.leaks, 2);
	CU_ASSERT_EQUAL(r.rp.c.leaks_fixed, 0);
	CU_ASSERT_EQUAL(r.re.c.leaks, 2);
	CU_ASSERT_EQUAL(r.features, 0);
	rpr_release(&r, &f, true);
	qed_fix_release(&f);
}

static void
test_leaks_level(void)
{
	struct qed_fix	f;
	struct rpr	r;

	/*
	 * -r leaks zeroes invalid offsets, as QEMU's QED check does at
	 * either level, but leaves the unknown autoclear bits.
	 */
	base(&f);
	qed_fix_l1_set(&f, 1, 0x40000000);
	qed_fix_put64(&f, QED_FIX_AUTOCLEAR, 0x8);
	repair(&f, REPAIR_LEAKS, true, &r);
	CU_ASSERT_EQUAL(r.rp.c.corruptions, 0);
	CU_ASSERT_EQUAL(r.rp.c.corruptions_fixed, 1);
	CU_ASSERT_EQUAL(r.re.c.corruptions, 0);
	CU_ASSERT_NOT_EQUAL(r.re.seen[PR_QED_AUTOCLEAR_UNKNOWN], 0);
	rpr_release(&r, &f, true);
	/* -r all also drops unknown autoclear bits, as a writable open. */
	repair(&f, REPAIR_ALL, true, &r);
	CU_ASSERT_EQUAL(r.re.c.corruptions, 0);
	CU_ASSERT_EQUAL(r.re.seen[PR_QED_AUTOCLEAR_UNKNOWN], 0);
	rpr_release(&r, &f, true);
	qed_fix_release(&f);
}

static void
test_refuse_self(void)
{
	struct qed_fix	 f;
	struct img_opts	 opts;
	struct img	*img;
	struct report	 rp;
	char		 path[64], err[256];
	int		 fd;

	base(&f);
	snprintf(path, sizeof(path), "/tmp/test_qedr_XXXXXX");
	CU_ASSERT_FATAL((fd = mkstemp(path)) >= 0);
	close(fd);
	CU_ASSERT_EQUAL_FATAL(qed_fix_save(&f, path), 0);
	memset(&opts, 0, sizeof(opts));
	CU_ASSERT_EQUAL_FATAL(img_open(path, &opts, &img, err,
	    sizeof(err)), 0);
	report_init(&rp);
	rp.repair = REPAIR_ALL;
	CU_ASSERT_EQUAL(img_repair(img, &rp, path), -IMG_EINVAL);
	CU_ASSERT_PTR_NOT_NULL(img_error(img));
	CU_ASSERT_PTR_NOT_NULL(strstr(img_error(img), "itself"));
	CU_ASSERT_EQUAL(img_file_size(img), f.len);
	img_close(img);
	report_release(&rp);
	unlink(path);
	qed_fix_release(&f);
}

int suite_qed_repair(void);

int
suite_qed_repair(void)
{
	CU_pSuite	s = CU_add_suite("qed_repair", NULL, NULL);

	if (s == NULL)
		return -1;
	CU_add_test(s, "invalid L1 entry zeroed", test_l1_fixed);
	CU_add_test(s, "used L1 entry zeroed leaks", test_l1_in_use_fixed);
	CU_add_test(s, "invalid L2 entries zeroed", test_l2_fixed);
	CU_add_test(s, "what is never fixed", test_not_fixed);
	CU_add_test(s, "repair levels", test_leaks_level);
	CU_add_test(s, "-o onto the image itself", test_refuse_self);
	return 0;
}
