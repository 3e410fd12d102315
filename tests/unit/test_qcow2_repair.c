/* SPDX-License-Identifier: MIT */
/*
 * test_qcow2_repair.c --- the repair plan (core/plan.c) and the qcow2
 * repair: break one thing in a fixture image, repair it at each level,
 * assert what the plan says, what the check finds afterwards, that the
 * guest reads the same bytes, and that an undo file puts every byte back.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "core/core.h"
#include "fixtures/qcow2_fix.h"

#define GUEST	(64ULL << 20)
#define CS	0x10000ULL

/* ---- helpers ----------------------------------------------------------- */

struct run {
	char		 path[64];
	char		 undo[80];
	uint8_t		*orig;		/* the image before */
	size_t		 olen;
	struct report	 rp;		/* the repair's report */
	struct report	 re;		/* the check afterwards */
	int		 rrc;		/* img_repair() */
	int		 crc;		/* img_check() afterwards */
	char		 err[IMG_ERRMSG_MAX];
};

static uint8_t *
slurp(const char *path, size_t *len)
{
	struct stat	 st;
	uint8_t		*b;
	FILE		*fp;

	if (stat(path, &st) != 0 || (fp = fopen(path, "rb")) == NULL)
		return NULL;
	b = malloc((size_t)st.st_size + 1);
	if (b != NULL && fread(b, 1, (size_t)st.st_size, fp) !=
	    (size_t)st.st_size) {
		free(b);
		b = NULL;
	}
	fclose(fp);
	*len = (size_t)st.st_size;
	return b;
}

static uint64_t
rd64(const uint8_t *b)
{
	uint64_t	v = 0;
	int		i;

	for (i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

/*
 * Guest cluster goff of a 64 KiB-cluster image in buf, as the guest reads
 * it (zeros when unallocated or a zero cluster); false when unreadable.
 */
static bool
guest(const uint8_t *b, size_t len, uint64_t goff, uint8_t *out)
{
	uint64_t	l1 = rd64(b + 40), e, l2, d, c = goff / CS;

	memset(out, 0, CS);
	if (l1 + 8 * (c / 8192) + 8 > len)
		return false;
	e = rd64(b + l1 + 8 * (c / 8192));
	if ((l2 = e & 0x00fffffffffffe00ULL) == 0)
		return true;
	if ((l2 & (CS - 1)) != 0 || l2 + CS > len)
		return false;
	e = rd64(b + l2 + 8 * (c % 8192));
	if (e & 1)
		return true;
	if ((d = e & 0x00fffffffffffe00ULL) == 0)
		return true;
	if ((d & (CS - 1)) != 0)
		return false;
	/* Past the end of the file QEMU reads zeros. */
	if (d < len)
		memcpy(out, b + d, len - d < CS ? len - d : CS);
	return true;
}

/*
 * Save f, repair it (in place, with an undo file; level, dry) and check
 * the result.  Release with done().
 */
static void
repair(const struct qcow2_fix *f, unsigned level, bool dry, struct run *r)
{
	struct img_opts	 o;
	struct img	*img;
	int		 fd;

	memset(r, 0, sizeof(*r));
	report_init(&r->rp);
	report_init(&r->re);
	snprintf(r->path, sizeof(r->path), "/tmp/test_q2r_XXXXXX");
	CU_ASSERT_FATAL((fd = mkstemp(r->path)) >= 0);
	close(fd);
	snprintf(r->undo, sizeof(r->undo), "%s.undo", r->path);
	CU_ASSERT_FATAL(qcow2_fix_save(f, r->path) == 0);
	r->orig = slurp(r->path, &r->olen);
	CU_ASSERT_FATAL(r->orig != NULL);
	memset(&o, 0, sizeof(o));
	o.format = "qcow2";
	o.flags = (dry ? 0 : IMG_RDWR) | IMG_REPAIR;
	o.undo_path = dry ? NULL : r->undo;
	CU_ASSERT_FATAL(img_open(r->path, &o, &img, r->err,
	    sizeof(r->err)) == 0);
	r->rp.repair = level;
	r->rp.dry_run = dry;
	r->rrc = img_repair(img, &r->rp, NULL);
	if (img_error(img) != NULL)
		snprintf(r->err, sizeof(r->err), "%s", img_error(img));
	img_close(img);
	o.flags = 0;
	o.undo_path = NULL;
	CU_ASSERT_FATAL(img_open(r->path, &o, &img, NULL, 0) == 0);
	r->crc = img_check(img, &r->re);
	img_close(img);
}

/* The undo file (if any) must put back the original bit for bit. */
static void
undo_check(struct run *r)
{
	uint8_t	*now;
	size_t	 n;
	char	 err[256];

	if (access(r->undo, F_OK) != 0)
		return;
	CU_ASSERT_EQUAL(img_undo_apply(r->path, r->undo, err, sizeof(err)),
	    0);
	now = slurp(r->path, &n);
	CU_ASSERT_FATAL(now != NULL);
	CU_ASSERT_EQUAL(n, r->olen);
	CU_ASSERT(n == r->olen && memcmp(now, r->orig, n) == 0);
	free(now);
}

static bool
unchanged(const struct run *r)
{
	uint8_t	*now;
	size_t	 n;
	bool	 same;

	now = slurp(r->path, &n);
	same = now != NULL && n == r->olen && memcmp(now, r->orig, n) == 0;
	free(now);
	return same;
}

/* Guest cluster goff reads the same before and after. */
static void
same_guest(const struct run *r, uint64_t goff)
{
	uint8_t	*now, *a, *b;
	size_t	 n;

	now = slurp(r->path, &n);
	a = malloc(CS);
	b = malloc(CS);
	CU_ASSERT_FATAL(now != NULL && a != NULL && b != NULL);
	CU_ASSERT(guest(r->orig, r->olen, goff, a));
	CU_ASSERT(guest(now, n, goff, b));
	CU_ASSERT(memcmp(a, b, CS) == 0);
	free(now);
	free(a);
	free(b);
}

static bool
clean(const struct run *r)
{
	return r->crc == 0 && r->re.c.corruptions == 0 && r->re.c.leaks == 0 &&
	    r->re.c.check_errors == 0;
}

static void
done(struct run *r)
{
	undo_check(r);
	unlink(r->path);
	unlink(r->undo);
	free(r->orig);
	report_release(&r->rp);
	report_release(&r->re);
}

/* Is there a planned change with this id? */
static const struct plan_change *
change_of(const struct report *rp, enum pr_id id)
{
	const struct plan_change	*c;
	size_t				 i;

	for (i = 0; i < plan_count(rp->plan); i++)
		if ((c = plan_get(rp->plan, i))->id == id)
			return c;
	return NULL;
}

static void
base(struct qcow2_fix *f, uint32_t version, uint32_t order, bool extl2)
{
	CU_ASSERT_FATAL(qcow2_fix_init(f, version, 16, order, GUEST,
	    extl2) == 0);
	CU_ASSERT_FATAL(qcow2_fix_write(f, 0, 0x11) == 0x50000);
	CU_ASSERT_FATAL(qcow2_fix_write(f, CS, 0x22) == 0x60000);
}

/* ---- the plan ------------------------------------------------------------ */

static struct img *
scratch(char *path, size_t n, size_t len, uint8_t fill)
{
	struct img_opts	 o;
	struct img	*img;
	uint8_t		*b;
	FILE		*fp;
	int		 fd;

	snprintf(path, n, "/tmp/test_plan_XXXXXX");
	fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
	b = malloc(len);
	CU_ASSERT_FATAL(b != NULL);
	memset(b, fill, len);
	fp = fopen(path, "wb");
	CU_ASSERT_FATAL(fp != NULL);
	CU_ASSERT(fwrite(b, 1, len, fp) == len);
	fclose(fp);
	free(b);
	memset(&o, 0, sizeof(o));
	o.format = "raw";
	o.flags = IMG_RDWR;
	CU_ASSERT_FATAL(img_open(path, &o, &img, NULL, 0) == 0);
	return img;
}

static void
test_plan_merge(void)
{
	const struct plan_change	*c;
	struct plan			*p = plan_new();
	struct img			*img;
	uint8_t				 b[16];
	char				 path[64];

	img = scratch(path, sizeof(path), 4096, 0xaa);
	memset(b, 0x11, sizeof(b));
	CU_ASSERT(plan_write(p, img, 100, b, 4, PR_QCOW2_L2_RESERVED) == 0);
	/* Adjacent, same finding: one change. */
	CU_ASSERT(plan_write(p, img, 104, b, 4, PR_QCOW2_L2_RESERVED) == 0);
	/* Adjacent, another finding: a change of its own. */
	CU_ASSERT(plan_write(p, img, 108, b, 4, PR_QCOW2_COPIED_DATA) == 0);
	CU_ASSERT_EQUAL(plan_count(p), 2);
	c = plan_get(p, 0);
	CU_ASSERT_EQUAL(c->off, 100);
	CU_ASSERT_EQUAL(c->len, 8);
	CU_ASSERT_EQUAL(c->before[0], 0xaa);
	CU_ASSERT_EQUAL(c->after[7], 0x11);
	/* Overlapping both: merged, the first finding kept, old bytes kept. */
	memset(b, 0x22, sizeof(b));
	CU_ASSERT(plan_write(p, img, 102, b, 8, PR_QCOW2_COPIED_L2) == 0);
	CU_ASSERT_EQUAL(plan_count(p), 1);
	c = plan_get(p, 0);
	CU_ASSERT_EQUAL(c->off, 100);
	CU_ASSERT_EQUAL(c->len, 12);
	CU_ASSERT_EQUAL(c->id, PR_QCOW2_L2_RESERVED);
	CU_ASSERT_EQUAL(c->before[11], 0xaa);
	CU_ASSERT_EQUAL(c->after[1], 0x11);
	CU_ASSERT_EQUAL(c->after[2], 0x22);
	CU_ASSERT_EQUAL(c->after[11], 0x11);
	/* Writing the old bytes back undoes the change: nothing to show. */
	memset(b, 0xaa, sizeof(b));
	CU_ASSERT(plan_write(p, img, 100, b, 12, PR_QCOW2_L2_RESERVED) == 0);
	CU_ASSERT_EQUAL(plan_count(p), 0);
	plan_free(p);
	img_close(img);
	unlink(path);
}

static void
test_plan_overlay(void)
{
	const struct plan_change	*c;
	struct plan			*p = plan_new();
	struct img			*img;
	struct report			 rp;
	uint8_t				 b[64], r[64];
	char				 path[64];
	size_t				 n, i;
	uint8_t				*now;

	img = scratch(path, sizeof(path), 4096, 0xaa);
	memset(b, 0x33, sizeof(b));
	CU_ASSERT(plan_write(p, img, 10, b, 2, PR_QCOW2_L2_RESERVED) == 0);
	/* Past the end: the file grows, the gap reads zeros. */
	CU_ASSERT(plan_write(p, img, 8192, b, 16, PR_QCOW2_L2_RESERVED) == 0);
	CU_ASSERT_EQUAL(plan_size_before(p), 4096);
	CU_ASSERT_EQUAL(plan_size_after(p), 8192 + 16);
	c = plan_get(p, 0);
	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT_EQUAL(c->kind, PLAN_RESIZE);
	CU_ASSERT_EQUAL(c->off, 4096);
	CU_ASSERT_EQUAL(c->len, 4096 + 16);
	CU_ASSERT(!c->shrink);
	plan_attach(img, p);
	CU_ASSERT_EQUAL(img_file_size(img), 8192 + 16);
	CU_ASSERT(img_pread(img, 8, r, 6) == 0);
	CU_ASSERT(r[1] == 0xaa && r[2] == 0x33 && r[3] == 0x33 &&
	    r[4] == 0xaa);
	CU_ASSERT(img_pread(img, 4096, r, 16) == 0);
	CU_ASSERT(r[0] == 0 && r[15] == 0);
	CU_ASSERT(img_pread(img, 8190, r, 4) == 0);
	CU_ASSERT(r[0] == 0 && r[2] == 0x33);
	CU_ASSERT_EQUAL(img_pread(img, 8192, r, 17), -IMG_ERANGE);
	/* Nothing is written while the plan is laid over the image. */
	CU_ASSERT_EQUAL(img_pwrite(img, 0, b, 1), -EBUSY);
	plan_detach(img);
	CU_ASSERT_EQUAL(img_file_size(img), 4096);
	/* A dry run applies nothing; a real one all of it. */
	report_init(&rp);
	rp.dry_run = true;
	CU_ASSERT(plan_apply(img, p, &rp) == 0);
	CU_ASSERT_EQUAL(img_file_size(img), 4096);
	rp.dry_run = false;
	CU_ASSERT(plan_apply(img, p, &rp) == 0);
	CU_ASSERT_EQUAL(img_file_size(img), 8192 + 16);
	img_close(img);
	now = slurp(path, &n);
	CU_ASSERT_FATAL(now != NULL);
	CU_ASSERT_EQUAL(n, 8192 + 16);
	CU_ASSERT(now[9] == 0xaa && now[10] == 0x33 && now[12] == 0xaa);
	for (i = 4096; i < 8192 && now[i] == 0; i++)
		;
	CU_ASSERT_EQUAL(i, 8192);
	CU_ASSERT_EQUAL(now[8192 + 15], 0x33);
	free(now);
	report_release(&rp);
	plan_free(p);
	unlink(path);
}

/* ---- qcow2 --------------------------------------------------------------- */

static void
test_clean_nothing(void)
{
	struct qcow2_fix	f;
	struct run		r;

	base(&f, 3, 4, false);
	repair(&f, REPAIR_LEAKS | REPAIR_ALL, false, &r);
	CU_ASSERT_EQUAL(r.rrc, 0);
	CU_ASSERT(clean(&r));
	CU_ASSERT_EQUAL(plan_count(r.rp.plan), 0);
	CU_ASSERT(unchanged(&r));
	done(&r);
	qcow2_fix_release(&f);
}

static void
test_leak(void)
{
	const struct plan_change	*c;
	struct qcow2_fix		 f;
	struct run			 r;

	base(&f, 3, 4, false);
	qcow2_fix_l2_set(&f, 0, 1, 0, 0);
	repair(&f, REPAIR_LEAKS, false, &r);
	CU_ASSERT_EQUAL(r.rrc, 0);
	CU_ASSERT(clean(&r));
	CU_ASSERT_EQUAL(r.rp.c.leaks_fixed, 1);
	CU_ASSERT_EQUAL(r.rp.seen[PR_QCOW2_REFCOUNT_LEAK], 1);
	CU_ASSERT_EQUAL_FATAL(plan_count(r.rp.plan), 1);
	c = plan_get(r.rp.plan, 0);
	/* The 16-bit refcount of cluster 6, 1 -> 0. */
	CU_ASSERT_EQUAL(c->off, 0x20000 + 2 * 6);
	CU_ASSERT_EQUAL(c->len, 2);
	CU_ASSERT(c->before[1] == 1 && c->after[1] == 0);
	CU_ASSERT_EQUAL(c->id, PR_QCOW2_REFCOUNT_LEAK);
	CU_ASSERT(r.rp.nf == 1 && r.rp.f[0].fixed);
	same_guest(&r, 0);
	done(&r);
	qcow2_fix_release(&f);
}

/* Every refcount width: a leak, and (above one bit) a refcount too low. */
static void
test_widths(void)
{
	struct qcow2_fix	f;
	struct run		r;
	uint32_t		order;

	for (order = 0; order <= 6; order++) {
		base(&f, 3, order, false);
		qcow2_fix_ref_set(&f, 7, 1);
		CU_ASSERT_FATAL(qcow2_fix_resize(&f, 8 * CS) == 0);
		repair(&f, REPAIR_LEAKS, false, &r);
		CU_ASSERT_EQUAL(r.rrc, 0);
		CU_ASSERT(clean(&r));
		CU_ASSERT_EQUAL(r.rp.c.leaks_fixed, 1);
		done(&r);
		qcow2_fix_release(&f);
		if (order == 0)
			continue;
		base(&f, 3, order, false);
		/* Guest 1 shares guest 0's cluster: 2 references. */
		qcow2_fix_l2_set(&f, 0, 1, 0, 0x50000);
		qcow2_fix_l2_set(&f, 0, 0, 0, 0x50000);
		qcow2_fix_ref_set(&f, 6, 0);
		CU_ASSERT_FATAL(qcow2_fix_resize(&f, 6 * CS) == 0);
		repair(&f, REPAIR_LEAKS | REPAIR_ALL, false, &r);
		CU_ASSERT_EQUAL(r.rrc, 0);
		CU_ASSERT(clean(&r));
		CU_ASSERT(r.rp.seen[PR_QCOW2_REFCOUNT_SHORT] >= 1);
		same_guest(&r, 0);
		same_guest(&r, CS);
		done(&r);
		qcow2_fix_release(&f);
	}
}

static void
test_refcount_zero_levels(void)
{
	struct qcow2_fix	f;
	struct run		r;

	/* The leaks level refuses the rebuild and writes nothing. */
	base(&f, 3, 4, false);
	qcow2_fix_ref_set(&f, 5, 0);
	repair(&f, REPAIR_LEAKS, false, &r);
	CU_ASSERT_EQUAL(r.rrc, -EIO);
	CU_ASSERT(strstr(r.err, "need to rebuild refcount structures") !=
	    NULL);
	CU_ASSERT(unchanged(&r));
	CU_ASSERT(access(r.undo, F_OK) != 0);
	done(&r);
	/* -r all rebuilds: new blocks and table past the end. */
	repair(&f, REPAIR_LEAKS | REPAIR_ALL, false, &r);
	CU_ASSERT_EQUAL(r.rrc, 0);
	CU_ASSERT(clean(&r));
	CU_ASSERT_PTR_NOT_NULL(change_of(&r.rp, PR_QCOW2_REFCOUNT_ZERO));
	CU_ASSERT(plan_size_after(r.rp.plan) > r.olen);
	same_guest(&r, 0);
	same_guest(&r, CS);
	done(&r);
	qcow2_fix_release(&f);
}

static void
test_dry_run(void)
{
	struct qcow2_fix	f;
	struct run		r;

	base(&f, 3, 4, false);
	qcow2_fix_ref_set(&f, 5, 0);
	repair(&f, REPAIR_LEAKS | REPAIR_ALL, true, &r);
	CU_ASSERT_EQUAL(r.rrc, 0);
	CU_ASSERT(plan_count(r.rp.plan) > 0);
	CU_ASSERT(unchanged(&r));
	/* The verdict after the plan, and the image as it still is. */
	CU_ASSERT_PTR_NOT_NULL_FATAL(plan_after(r.rp.plan));
	CU_ASSERT_EQUAL(plan_after(r.rp.plan)->corruptions, 0);
	CU_ASSERT(r.re.c.corruptions > 0);
	done(&r);
	qcow2_fix_release(&f);
}

static void
test_copied(void)
{
	struct qcow2_fix	f;
	struct run		r;

	/* A lone COPIED problem: the leaks level fixes it, as qemu. */
	base(&f, 3, 4, false);
	qcow2_fix_l2_set(&f, 0, 0, 0, 0x50000);
	repair(&f, REPAIR_LEAKS, false, &r);
	CU_ASSERT_EQUAL(r.rrc, 0);
	CU_ASSERT(clean(&r));
	CU_ASSERT_EQUAL(r.rp.c.corruptions_fixed, 1);
	CU_ASSERT_PTR_NOT_NULL(change_of(&r.rp, PR_QCOW2_COPIED_DATA));
	done(&r);
	/* Not with another corruption left: the leaks level leaves it. */
	qcow2_fix_l1_set(&f, 0, qcow2_fix_l1_get(&f, 0) | 1ULL << 56);
	repair(&f, REPAIR_LEAKS, false, &r);
	CU_ASSERT_EQUAL(r.rrc, 0);
	CU_ASSERT(r.re.seen[PR_QCOW2_COPIED_DATA] == 1);
	CU_ASSERT(r.re.seen[PR_QCOW2_L1_RESERVED] == 1);
	CU_ASSERT(unchanged(&r));
	done(&r);
	/* -r all fixes both. */
	repair(&f, REPAIR_LEAKS | REPAIR_ALL, false, &r);
	CU_ASSERT(clean(&r));
	CU_ASSERT_EQUAL(r.rp.c.corruptions_fixed, 2);
	same_guest(&r, 0);
	done(&r);
	qcow2_fix_release(&f);
}

static void
test_entries(void)
{
	struct qcow2_fix	f;
	struct run		r;

	/* Reserved bits cleared, the offset kept. */
	base(&f, 3, 4, false);
	qcow2_fix_l2_set(&f, 0, 0, 0, qcow2_fix_l2_get(&f, 0, 0, 0) | 0x100);
	repair(&f, REPAIR_LEAKS | REPAIR_ALL, false, &r);
	CU_ASSERT(clean(&r));
	CU_ASSERT_PTR_NOT_NULL(change_of(&r.rp, PR_QCOW2_L2_RESERVED));
	same_guest(&r, 0);
	done(&r);
	qcow2_fix_release(&f);

	/* Data past the end read zeros: a zero cluster reads zeros. */
	base(&f, 3, 4, false);
	qcow2_fix_l2_set(&f, 0, 5, 0, 1ULL << 63 | 0x1000000);
	repair(&f, REPAIR_LEAKS | REPAIR_ALL, false, &r);
	CU_ASSERT(clean(&r));
	CU_ASSERT_PTR_NOT_NULL(change_of(&r.rp, PR_QCOW2_REF_PAST_EOF));
	same_guest(&r, 5 * CS);
	done(&r);
	qcow2_fix_release(&f);

	/* A misaligned zero cluster becomes a plain one, as qemu does it. */
	base(&f, 3, 4, false);
	qcow2_fix_l2_set(&f, 0, 1, 0, 1ULL << 63 | 0x60201);
	repair(&f, REPAIR_LEAKS | REPAIR_ALL, false, &r);
	CU_ASSERT(clean(&r));
	CU_ASSERT_PTR_NOT_NULL(change_of(&r.rp, PR_QCOW2_ZERO_MISALIGNED));
	done(&r);
	qcow2_fix_release(&f);

	/* A misaligned L2 table is dropped, never written through. */
	base(&f, 3, 4, false);
	qcow2_fix_l1_set(&f, 0, qcow2_fix_l1_get(&f, 0) + 0x200);
	repair(&f, REPAIR_LEAKS | REPAIR_ALL, false, &r);
	CU_ASSERT_EQUAL(r.rrc, 0);
	CU_ASSERT(clean(&r));
	CU_ASSERT_PTR_NOT_NULL(change_of(&r.rp, PR_QCOW2_L2_MISALIGNED));
	CU_ASSERT_PTR_NULL(change_of(&r.rp, PR_QCOW2_ZERO_MISALIGNED));
	done(&r);
	qcow2_fix_release(&f);

	/* Version 2 without a backing file: unallocated reads zeros. */
	CU_ASSERT_FATAL(qcow2_fix_init(&f, 2, 16, 4, GUEST, false) == 0);
	CU_ASSERT_FATAL(qcow2_fix_write(&f, 0, 0x11) == 0x50000);
	qcow2_fix_l2_set(&f, 0, 3, 0, 1ULL << 63 | 0x2000000);
	repair(&f, REPAIR_LEAKS | REPAIR_ALL, false, &r);
	CU_ASSERT(clean(&r));
	same_guest(&r, 3 * CS);
	done(&r);
	qcow2_fix_release(&f);
}

static void
test_extl2(void)
{
	struct qcow2_fix	f;
	struct run		r;

	base(&f, 3, 4, true);
	/* Subcluster 0 allocated and zero: allocated wins. */
	qcow2_fix_l2_set(&f, 0, 0, 1, qcow2_fix_l2_get(&f, 0, 0, 1) |
	    1ULL << 32);
	/* An unallocated cluster with allocation bits. */
	qcow2_fix_l2_set(&f, 0, 7, 1, 3);
	repair(&f, REPAIR_LEAKS | REPAIR_ALL, false, &r);
	CU_ASSERT_EQUAL(r.rrc, 0);
	CU_ASSERT(clean(&r));
	CU_ASSERT_PTR_NOT_NULL(change_of(&r.rp, PR_QCOW2_SUBCLUSTER_BITMAP));
	CU_ASSERT_PTR_NOT_NULL(change_of(&r.rp, PR_QCOW2_UNALLOC_SUBCLUSTER));
	done(&r);
	qcow2_fix_release(&f);
}

static void
test_shared(void)
{
	struct qcow2_fix	f;
	struct run		r;

	/*
	 * L1[0] names the L1 table as its L2 table: the guest reads the L1
	 * table's bytes at 0.  Copies keep that; nothing is shared after.
	 */
	base(&f, 3, 4, false);
	qcow2_fix_l1_set(&f, 0, 1ULL << 63 | f.l1);
	repair(&f, REPAIR_LEAKS | REPAIR_ALL, false, &r);
	CU_ASSERT_EQUAL(r.rrc, 0);
	CU_ASSERT(clean(&r));
	CU_ASSERT(r.rp.seen[PR_QCOW2_SHARED_CLUSTER] == 2);
	same_guest(&r, 0);
	done(&r);
	qcow2_fix_release(&f);

	/* One-bit refcounts, one cluster named twice: a copy for one. */
	base(&f, 3, 0, false);
	qcow2_fix_l2_set(&f, 0, 1, 0, qcow2_fix_l2_get(&f, 0, 0, 0));
	repair(&f, REPAIR_LEAKS | REPAIR_ALL, false, &r);
	CU_ASSERT_EQUAL(r.rrc, 0);
	CU_ASSERT(clean(&r));
	CU_ASSERT_PTR_NOT_NULL(change_of(&r.rp, PR_QCOW2_REF_OVERFLOW));
	same_guest(&r, 0);
	same_guest(&r, CS);
	done(&r);
	qcow2_fix_release(&f);
}

static void
test_snapshots(void)
{
	struct qcow2_fix	f;
	struct run		r;

	/* Too little extra data for version 3: the table is rewritten. */
	base(&f, 3, 4, false);
	CU_ASSERT_FATAL(qcow2_fix_snapshot(&f, "s1") == 0);
	qcow2_fix_put32(&f, f.snaptab + 36, 8);
	repair(&f, REPAIR_LEAKS, false, &r);
	CU_ASSERT(r.re.seen[PR_QCOW2_SNAP_INCOMPLETE] == 1);
	done(&r);
	repair(&f, REPAIR_LEAKS | REPAIR_ALL, false, &r);
	CU_ASSERT_EQUAL(r.rrc, 0);
	CU_ASSERT(clean(&r));
	CU_ASSERT_PTR_NOT_NULL(change_of(&r.rp, PR_QCOW2_SNAP_INCOMPLETE));
	same_guest(&r, 0);
	done(&r);
	qcow2_fix_release(&f);

	/* A snapshot whose L1 table is misaligned is dropped. */
	base(&f, 3, 4, false);
	CU_ASSERT_FATAL(qcow2_fix_snapshot(&f, "s1") == 0);
	qcow2_fix_put64(&f, f.snaptab, rd64(f.buf + f.snaptab) + 0x200);
	repair(&f, REPAIR_LEAKS | REPAIR_ALL, false, &r);
	CU_ASSERT_EQUAL(r.rrc, 0);
	CU_ASSERT(clean(&r));
	CU_ASSERT_PTR_NOT_NULL(change_of(&r.rp, PR_QCOW2_SNAP_L1_MISALIGNED));
	same_guest(&r, 0);
	done(&r);
	qcow2_fix_release(&f);
}

static void
test_bits(void)
{
	struct qcow2_fix	f;
	struct run		r;

	/* Corrupt and dirty bits cleared once nothing is wrong. */
	base(&f, 3, 4, false);
	qcow2_fix_put64(&f, 72, 3);
	repair(&f, REPAIR_LEAKS, false, &r);
	CU_ASSERT(clean(&r));
	CU_ASSERT(r.re.seen[PR_QCOW2_DIRTY] == 0);
	CU_ASSERT(r.re.seen[PR_QCOW2_CORRUPT_BIT] == 0);
	done(&r);
	/* Not while a corruption stays (the leaks level fixes none). */
	qcow2_fix_l1_set(&f, 0, qcow2_fix_l1_get(&f, 0) | 1ULL << 56);
	repair(&f, REPAIR_LEAKS, false, &r);
	CU_ASSERT(r.re.seen[PR_QCOW2_CORRUPT_BIT] == 1);
	CU_ASSERT(unchanged(&r));
	done(&r);
	qcow2_fix_release(&f);
}

static void
test_refblocks(void)
{
	struct qcow2_fix	f;
	struct run		r;

	/* A refcount table entry with reserved bits: rebuilt at -r all. */
	base(&f, 3, 4, false);
	qcow2_fix_put64(&f, f.reftable, f.refblock | 1);
	repair(&f, REPAIR_LEAKS, false, &r);
	CU_ASSERT_EQUAL(r.rrc, -EIO);
	CU_ASSERT(unchanged(&r));
	done(&r);
	repair(&f, REPAIR_LEAKS | REPAIR_ALL, false, &r);
	CU_ASSERT_EQUAL(r.rrc, 0);
	CU_ASSERT(clean(&r));
	same_guest(&r, 0);
	done(&r);
	/* A refcount block past the end: the leaks level leaves it. */
	qcow2_fix_put64(&f, f.reftable, f.refblock);
	qcow2_fix_put64(&f, f.reftable + 8, 0x4000000);
	repair(&f, REPAIR_LEAKS, false, &r);
	CU_ASSERT_EQUAL(r.rrc, 0);
	CU_ASSERT(r.re.seen[PR_QCOW2_REFBLOCK_OUTSIDE] == 1);
	done(&r);
	repair(&f, REPAIR_LEAKS | REPAIR_ALL, false, &r);
	CU_ASSERT_EQUAL(r.rrc, 0);
	CU_ASSERT(clean(&r));
	done(&r);
	qcow2_fix_release(&f);
}

/*
 * A repair into another folder: the relative backing file name is
 * rewritten to name the same file from there; the original is untouched.
 */
static void
test_copy_rebase(void)
{
	struct qcow2_fix	 f;
	struct img_opts		 o;
	struct img		*img;
	struct report		 rp;
	char			 dir[] = "/tmp/test_q2rb_XXXXXX";
	char			 a[64], b[64], braw[96], in[96], out[96];
	uint8_t			*now, *orig;
	size_t			 n, olen;
	FILE			*fp;

	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/b", dir);
	CU_ASSERT_FATAL(mkdir(a, 0700) == 0 && mkdir(b, 0700) == 0);
	snprintf(braw, sizeof(braw), "%s/base.raw", a);
	snprintf(in, sizeof(in), "%s/top.qcow2", a);
	snprintf(out, sizeof(out), "%s/out.qcow2", b);
	CU_ASSERT_FATAL((fp = fopen(braw, "wb")) != NULL);
	fputs("backing", fp);
	fclose(fp);
	base(&f, 3, 4, false);
	/* 8: backing_file_offset, 16: backing_file_size; a leak too. */
	qcow2_fix_put64(&f, 8, 0x400);
	qcow2_fix_put32(&f, 16, 8);
	memcpy(f.buf + 0x400, "base.raw", 8);
	qcow2_fix_l2_set(&f, 0, 1, 0, 0);
	CU_ASSERT_FATAL(qcow2_fix_save(&f, in) == 0);
	orig = slurp(in, &olen);
	memset(&o, 0, sizeof(o));
	o.format = "qcow2";
	o.flags = IMG_REPAIR;
	CU_ASSERT_FATAL(img_open(in, &o, &img, NULL, 0) == 0);
	report_init(&rp);
	rp.repair = REPAIR_LEAKS;
	CU_ASSERT_EQUAL(img_repair(img, &rp, out), 0);
	CU_ASSERT(rp.seen[PR_QCOW2_BACKING_REBASED] == 1);
	CU_ASSERT(rp.c.leaks_fixed == 1);
	img_close(img);
	report_release(&rp);
	now = slurp(out, &n);
	CU_ASSERT_FATAL(now != NULL);
	CU_ASSERT(rd64(now + 8) == 0x400);
	CU_ASSERT((now[16] << 24 | now[17] << 16 | now[18] << 8 |
	    now[19]) == 13);
	CU_ASSERT(memcmp(now + 0x400, "../a/base.raw", 13) == 0);
	free(now);
	/* The copy checks clean; the original is as it was. */
	o.flags = 0;
	CU_ASSERT_FATAL(img_open(out, &o, &img, NULL, 0) == 0);
	report_init(&rp);
	CU_ASSERT_EQUAL(img_check(img, &rp), 0);
	CU_ASSERT(rp.c.leaks == 0 && rp.c.corruptions == 0);
	img_close(img);
	report_release(&rp);
	now = slurp(in, &n);
	CU_ASSERT(now != NULL && n == olen && memcmp(now, orig, n) == 0);
	free(now);
	free(orig);
	unlink(out);
	unlink(in);
	unlink(braw);
	rmdir(b);
	rmdir(a);
	rmdir(dir);
	qcow2_fix_release(&f);
}

/* A version 2 image over a backing file: data past the end reads zeros. */
static void
test_v2_backing_zeros(void)
{
	struct qcow2_fix	 f;
	struct run		 r;
	char			 braw[64];
	FILE			*fp;

	snprintf(braw, sizeof(braw), "/tmp/base-q2r.raw");
	CU_ASSERT_FATAL((fp = fopen(braw, "wb")) != NULL);
	fputs("backing data", fp);
	fclose(fp);
	CU_ASSERT_FATAL(qcow2_fix_init(&f, 2, 16, 4, GUEST, false) == 0);
	CU_ASSERT_FATAL(qcow2_fix_write(&f, 0, 0x11) == 0x50000);
	qcow2_fix_put64(&f, 8, 0x400);
	qcow2_fix_put32(&f, 16, (uint32_t)strlen(braw));
	memcpy(f.buf + 0x400, braw, strlen(braw));
	qcow2_fix_l2_set(&f, 0, 3, 0, 1ULL << 63 | 0x2000000);
	repair(&f, REPAIR_LEAKS | REPAIR_ALL, false, &r);
	CU_ASSERT_EQUAL(r.rrc, 0);
	CU_ASSERT(clean(&r));
	/* A new cluster of zeros, not unallocated (the backing file). */
	CU_ASSERT(plan_size_after(r.rp.plan) > r.olen);
	same_guest(&r, 3 * CS);
	done(&r);
	qcow2_fix_release(&f);
	unlink(braw);
}

static void
test_more_shared(void)
{
	struct qcow2_fix	f;
	struct run		r;

	/*
	 * L1[0] names the refcount block: the copy of that "L2 table" is
	 * fixed in a second pass (its entries name clusters past the end).
	 */
	base(&f, 3, 4, false);
	qcow2_fix_l1_set(&f, 0, 1ULL << 63 | f.refblock);
	repair(&f, REPAIR_LEAKS | REPAIR_ALL, false, &r);
	CU_ASSERT_EQUAL(r.rrc, 0);
	CU_ASSERT(clean(&r));
	CU_ASSERT(r.rp.seen[PR_QCOW2_SHARED_CLUSTER] >= 1);
	done(&r);
	qcow2_fix_release(&f);

	/* A snapshot whose L1 table lies past the end is dropped. */
	base(&f, 3, 4, false);
	CU_ASSERT_FATAL(qcow2_fix_snapshot(&f, "s1") == 0);
	qcow2_fix_put64(&f, f.snaptab, 0x10000000);
	repair(&f, REPAIR_LEAKS | REPAIR_ALL, false, &r);
	CU_ASSERT_EQUAL(r.rrc, 0);
	CU_ASSERT(clean(&r));
	CU_ASSERT_PTR_NOT_NULL(change_of(&r.rp, PR_QCOW2_REF_PAST_EOF));
	same_guest(&r, 0);
	done(&r);
	qcow2_fix_release(&f);
}

int	suite_qcow2_repair(void);

int
suite_qcow2_repair(void)
{
	CU_pSuite	s = CU_add_suite("qcow2_repair", NULL, NULL);

	if (s == NULL)
		return -1;
	CU_add_test(s, "plan: merges and old bytes", test_plan_merge);
	CU_add_test(s, "plan: overlay, growth, apply", test_plan_overlay);
	CU_add_test(s, "a clean image: an empty plan", test_clean_nothing);
	CU_add_test(s, "a leak: one refcount lowered", test_leak);
	CU_add_test(s, "every refcount width", test_widths);
	CU_add_test(s, "refcount 0: leaks refuses, all rebuilds",
	    test_refcount_zero_levels);
	CU_add_test(s, "dry run: a plan, nothing written", test_dry_run);
	CU_add_test(s, "COPIED at each level", test_copied);
	CU_add_test(s, "L1/L2 entries qemu leaves", test_entries);
	CU_add_test(s, "extended L2 bitmaps", test_extl2);
	CU_add_test(s, "shared clusters copied", test_shared);
	CU_add_test(s, "snapshot table", test_snapshots);
	CU_add_test(s, "dirty and corrupt bits", test_bits);
	CU_add_test(s, "refcount table and blocks", test_refblocks);
	CU_add_test(s, "-o elsewhere: the backing name follows",
	    test_copy_rebase);
	CU_add_test(s, "version 2 over a backing file: zeros stay",
	    test_v2_backing_zeros);
	CU_add_test(s, "tables on metadata, snapshots past the end",
	    test_more_shared);
	return 0;
}
