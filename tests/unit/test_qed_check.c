/* SPDX-License-Identifier: MIT */
/*
 * test_qed_check.c --- the QED ops on images built by the fixture writer:
 * open refusals, qemu-img check's counters, findings, map and info.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <json-c/json.h>

#include "core/core.h"
#include "qed/qed.h"
#include "../fixtures/qed_fix.h"

#define MB	(1024ull * 1024)
#define KB	1024ull

extern const struct fmt_ops	qed_ops;

static char	tmpl[64];

/* Save f to a fresh temporary file and open it as QED. */
static int
fix_open(const struct qed_fix *f, struct img **img, char *err, size_t elen)
{
	struct img_opts	opts;
	int		fd, rc;

	snprintf(tmpl, sizeof(tmpl), "/tmp/test_qed_XXXXXX");
	if ((fd = mkstemp(tmpl)) < 0)
		return -1;
	close(fd);
	if (qed_fix_save(f, tmpl) != 0)
		return -1;
	memset(&opts, 0, sizeof(opts));
	opts.format = qed_ops.name;
	rc = img_open(tmpl, &opts, img, err, elen);
	unlink(tmpl);
	return rc;
}

/* Open and check f into rp; the open return code. */
static int
fix_check(const struct qed_fix *f, struct report *rp, int *check_rc)
{
	struct img	*img;
	char		 err[256];
	int		 rc;

	report_init(rp);
	*check_rc = -1;
	if ((rc = fix_open(f, &img, err, sizeof(err))) != 0)
		return rc;
	*check_rc = img_check(img, rp);
	img_close(img);
	return 0;
}

/* How many findings with id rp holds. */
static size_t
nfind(const struct report *rp, enum pr_id id)
{
	size_t	i, n = 0;

	for (i = 0; i < rp->nf; i++)
		n += rp->f[i].id == id;
	return n;
}

static const struct finding *
find(const struct report *rp, enum pr_id id)
{
	size_t	i;

	for (i = 0; i < rp->nf; i++)
		if (rp->f[i].id == id)
			return &rp->f[i];
	return NULL;
}

static bool
extra_bool(const struct report *rp, const char *key)
{
	struct json_object	*v;

	if (rp->extra == NULL || !json_object_object_get_ex(rp->extra, key,
	    &v))
		return false;
	return json_object_get_boolean(v);
}

/* QEMU's base image: 64 MiB, 64 KiB clusters, one write at 0. */
static void
base(struct qed_fix *f)
{
	CU_ASSERT_EQUAL_FATAL(qed_fix_init(f, 65536, 4, 64 * MB), 0);
	CU_ASSERT_EQUAL_FATAL(qed_fix_write(f, 0, 0x11), 0x50000);
	CU_ASSERT_EQUAL(qed_fix_l1_get(f, 0), 0x60000);
	CU_ASSERT_EQUAL(f->len, 0xa0000);
}

/* header_size 2: the L1 table moved to 0x50000, one write at 0. */
static void
relocated(struct qed_fix *f)
{
	CU_ASSERT_EQUAL_FATAL(qed_fix_init(f, 65536, 4, 64 * MB), 0);
	f->l1 = qed_fix_alloc(f, 4);
	CU_ASSERT_EQUAL_FATAL(f->l1, 0x50000);
	qed_fix_put64(f, QED_FIX_L1_OFFSET, f->l1);
	qed_fix_put32(f, QED_FIX_HEADER_SIZE, 2);
	CU_ASSERT_EQUAL_FATAL(qed_fix_write(f, 0, 0x11), 0x90000);
}

static void
test_clean(void)
{
	struct qed_fix	f;
	struct report	rp;
	int		crc;

	base(&f);
	CU_ASSERT_EQUAL(qed_fix_write(&f, 1 * MB, 0x22), 0xa0000);
	CU_ASSERT_EQUAL_FATAL(fix_check(&f, &rp, &crc), 0);
	CU_ASSERT_EQUAL(crc, 0);
	CU_ASSERT_EQUAL(rp.c.corruptions, 0);
	CU_ASSERT_EQUAL(rp.c.leaks, 0);
	CU_ASSERT_EQUAL(rp.c.check_errors, 0);
	CU_ASSERT_EQUAL(rp.c.total_clusters, 1024);
	CU_ASSERT_EQUAL(rp.c.allocated_clusters, 2);
	CU_ASSERT_EQUAL(rp.c.fragmented_clusters, 1);
	CU_ASSERT_EQUAL(rp.c.image_end_offset, 0);
	CU_ASSERT_EQUAL(rp.nf, 0);
	CU_ASSERT_TRUE(extra_bool(&rp, "tables-consistent"));
	CU_ASSERT_FALSE(extra_bool(&rp, "need-check"));
	report_release(&rp);
	qed_fix_release(&f);
}

static void
test_need_check(void)
{
	struct qed_fix	 f;
	struct report	 rp;
	const struct finding *fd;
	int		 crc;

	base(&f);
	qed_fix_put64(&f, QED_FIX_FEATURES, 0x2);
	CU_ASSERT_EQUAL_FATAL(fix_check(&f, &rp, &crc), 0);
	CU_ASSERT_EQUAL(crc, 0);
	CU_ASSERT_EQUAL(rp.c.corruptions + rp.c.leaks + rp.c.check_errors, 0);
	fd = find(&rp, PR_QED_NEED_CHECK);
	CU_ASSERT_PTR_NOT_NULL(fd);
	CU_ASSERT_TRUE(extra_bool(&rp, "need-check"));
	CU_ASSERT_TRUE(extra_bool(&rp, "tables-consistent"));
	report_release(&rp);

	/* Two orphan clusters, as after a crash mid-allocation. */
	CU_ASSERT_EQUAL(qed_fix_alloc(&f, 2), 0xa0000);
	CU_ASSERT_EQUAL_FATAL(fix_check(&f, &rp, &crc), 0);
	CU_ASSERT_EQUAL(rp.c.leaks, 2);
	CU_ASSERT_EQUAL(rp.c.allocated_clusters, 1);
	CU_ASSERT_EQUAL(nfind(&rp, PR_QED_LEAK), 1);	/* one run */
	fd = find(&rp, PR_QED_LEAK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(fd);
	CU_ASSERT_EQUAL(fd->host_off, 0xa0000);
	CU_ASSERT_EQUAL(fd->host_len, 0x20000);
	CU_ASSERT_TRUE(extra_bool(&rp, "tables-consistent"));
	report_release(&rp);
	qed_fix_release(&f);
}

static void
test_l1_bad(void)
{
	static const struct {
		uint64_t	v;
		enum pr_id	id;
		uint64_t	leaks;
	} cases[] = {
		{ 0x40000000, PR_QED_L1_PAST_EOF, 0 },
		{ 0x70000, PR_QED_L1_PAST_EOF, 0 },	/* truncated L2 */
		{ 0x60200, PR_QED_L1_MISALIGNED, 0 },
		{ 0x200, PR_QED_L1_MISALIGNED, 0 },
		{ 0xffffffffffff0000ull, PR_QED_L1_TABLE_WRAP, 0 },
	};
	struct qed_fix	 f;
	struct report	 rp;
	const struct finding *fd;
	size_t		 i;
	int		 crc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		base(&f);
		qed_fix_l1_set(&f, 1, cases[i].v);
		CU_ASSERT_EQUAL_FATAL(fix_check(&f, &rp, &crc), 0);
		CU_ASSERT_EQUAL(crc, 0);
		CU_ASSERT_EQUAL(rp.c.corruptions, 1);
		CU_ASSERT_EQUAL(rp.c.leaks, cases[i].leaks);
		fd = find(&rp, cases[i].id);
		CU_ASSERT_PTR_NOT_NULL_FATAL(fd);
		CU_ASSERT_STRING_EQUAL(fd->path, "L1[1]");
		/* L1[1] maps guest 2 GiB on: past this 64 MiB disk. */
		CU_ASSERT_FALSE(fd->flags & PC_GUEST);
		CU_ASSERT_FALSE(extra_bool(&rp, "tables-consistent"));
		report_release(&rp);
		qed_fix_release(&f);
	}

	/* Misaligned and in use: its table and data show as leaks. */
	base(&f);
	qed_fix_l1_set(&f, 0, 0x60200);
	CU_ASSERT_EQUAL_FATAL(fix_check(&f, &rp, &crc), 0);
	CU_ASSERT_EQUAL(rp.c.corruptions, 1);
	CU_ASSERT_EQUAL(rp.c.leaks, 5);
	fd = find(&rp, PR_QED_L1_MISALIGNED);
	CU_ASSERT_PTR_NOT_NULL_FATAL(fd);
	CU_ASSERT(fd->flags & PC_GUEST);
	CU_ASSERT_EQUAL(fd->guest_off, 0);
	CU_ASSERT_EQUAL(fd->guest_len, 64 * MB);
	fd = find(&rp, PR_QED_LEAK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(fd);
	CU_ASSERT_EQUAL(fd->host_off, 0x50000);
	CU_ASSERT_EQUAL(fd->host_len, 0x50000);
	report_release(&rp);
	qed_fix_release(&f);

	/* Inside a header of two clusters. */
	relocated(&f);
	qed_fix_l1_set(&f, 1, 0x10000);
	CU_ASSERT_EQUAL_FATAL(fix_check(&f, &rp, &crc), 0);
	CU_ASSERT_EQUAL(rp.c.corruptions, 1);
	CU_ASSERT_EQUAL(nfind(&rp, PR_QED_L1_IN_HEADER), 1);
	report_release(&rp);
	qed_fix_release(&f);
}

static void
test_l2_bad(void)
{
	static const struct {
		uint64_t	v;
		enum pr_id	id;
	} cases[] = {
		{ 0x40000000, PR_QED_DATA_PAST_EOF },
		{ 0xa0000, PR_QED_DATA_PAST_EOF },
		{ 0x200, PR_QED_DATA_MISALIGNED },
		{ 0x50001, PR_QED_DATA_MISALIGNED },
	};
	struct qed_fix	 f;
	struct report	 rp;
	const struct finding *fd;
	size_t		 i;
	int		 crc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		base(&f);
		qed_fix_l2_set(&f, 0, 1, cases[i].v);
		CU_ASSERT_EQUAL_FATAL(fix_check(&f, &rp, &crc), 0);
		CU_ASSERT_EQUAL(rp.c.corruptions, 1);
		CU_ASSERT_EQUAL(rp.c.leaks, 0);
		CU_ASSERT_EQUAL(rp.c.allocated_clusters, 2);
		CU_ASSERT_EQUAL(rp.c.fragmented_clusters, 1);
		fd = find(&rp, cases[i].id);
		CU_ASSERT_PTR_NOT_NULL_FATAL(fd);
		CU_ASSERT_STRING_EQUAL(fd->path, "L1[0] -> L2 @0x60000 [1]");
		CU_ASSERT_EQUAL(fd->guest_off, 65536);
		CU_ASSERT_EQUAL(fd->guest_len, 65536);
		report_release(&rp);
		qed_fix_release(&f);
	}

	/* Inside a header of two clusters. */
	relocated(&f);
	qed_fix_l2_set(&f, 0, 1, 0x10000);
	CU_ASSERT_EQUAL_FATAL(fix_check(&f, &rp, &crc), 0);
	CU_ASSERT_EQUAL(rp.c.corruptions, 1);
	CU_ASSERT_EQUAL(nfind(&rp, PR_QED_DATA_IN_HEADER), 1);
	report_release(&rp);
	qed_fix_release(&f);
}

static void
test_shared(void)
{
	struct qed_fix	 f;
	struct report	 rp;
	const struct finding *fd;
	int		 crc;

	/* Two L2 entries to one data cluster. */
	base(&f);
	qed_fix_l2_set(&f, 0, 1, 0x50000);
	CU_ASSERT_EQUAL_FATAL(fix_check(&f, &rp, &crc), 0);
	CU_ASSERT_EQUAL(rp.c.corruptions, 1);
	CU_ASSERT_EQUAL(rp.c.allocated_clusters, 2);
	CU_ASSERT_EQUAL(rp.c.fragmented_clusters, 1);
	fd = find(&rp, PR_QED_DATA_SHARED);
	CU_ASSERT_PTR_NOT_NULL(fd);
	report_release(&rp);

	/* A data entry into the L1 table. */
	qed_fix_l2_set(&f, 0, 1, 0x10000);
	CU_ASSERT_EQUAL_FATAL(fix_check(&f, &rp, &crc), 0);
	CU_ASSERT_EQUAL(rp.c.corruptions, 1);
	CU_ASSERT_EQUAL(nfind(&rp, PR_QED_DATA_SHARED), 1);
	report_release(&rp);

	/* Two L1 entries to one L2 table: table_size corruptions. */
	qed_fix_l2_set(&f, 0, 1, 0);
	qed_fix_l1_set(&f, 1, 0x60000);
	CU_ASSERT_EQUAL_FATAL(fix_check(&f, &rp, &crc), 0);
	CU_ASSERT_EQUAL(rp.c.corruptions, 4);
	CU_ASSERT_EQUAL(rp.c.allocated_clusters, 1);
	fd = find(&rp, PR_QED_L2_OVERLAP);
	CU_ASSERT_PTR_NOT_NULL_FATAL(fd);
	CU_ASSERT_STRING_EQUAL(fd->path, "L1[1] -> L2 @0x60000");
	report_release(&rp);
	qed_fix_release(&f);
}

/*
 * Adjacent clusters are marked as one run; a cluster of a run named
 * again, after it or before it, is still found, at its entry.
 */
static void
test_runs(void)
{
	struct qed_fix	 f;
	struct report	 rp;
	const struct finding *fd;
	int		 crc;

	base(&f);
	/* Guest clusters 1-3 at host 0xa0000-0xc0000: a run of 3. */
	CU_ASSERT_EQUAL(qed_fix_write(&f, 1 * 65536, 0x21), 0xa0000);
	CU_ASSERT_EQUAL(qed_fix_write(&f, 2 * 65536, 0x22), 0xb0000);
	CU_ASSERT_EQUAL(qed_fix_write(&f, 3 * 65536, 0x23), 0xc0000);
	CU_ASSERT_EQUAL_FATAL(fix_check(&f, &rp, &crc), 0);
	CU_ASSERT_EQUAL(crc, 0);
	CU_ASSERT_EQUAL(rp.c.corruptions, 0);
	CU_ASSERT_EQUAL(rp.c.leaks, 0);
	CU_ASSERT_EQUAL(rp.c.allocated_clusters, 4);
	/* 0x50000, then 0xa0000: one jump. */
	CU_ASSERT_EQUAL(rp.c.fragmented_clusters, 1);
	report_release(&rp);

	/* Named again after the run. */
	qed_fix_l2_set(&f, 0, 9, 0xb0000);
	CU_ASSERT_EQUAL_FATAL(fix_check(&f, &rp, &crc), 0);
	CU_ASSERT_EQUAL(rp.c.corruptions, 1);
	CU_ASSERT_EQUAL(rp.c.allocated_clusters, 5);
	CU_ASSERT_EQUAL(nfind(&rp, PR_QED_DATA_SHARED), 1);
	fd = find(&rp, PR_QED_DATA_SHARED);
	CU_ASSERT_PTR_NOT_NULL_FATAL(fd);
	CU_ASSERT_STRING_EQUAL(fd->path, "L1[0] -> L2 @0x60000 [9]");
	report_release(&rp);

	/* Named before the run: the run's own entry is the second. */
	qed_fix_l2_set(&f, 0, 9, 0);
	qed_fix_l2_set(&f, 0, 0, 0xb0000);
	CU_ASSERT_EQUAL_FATAL(fix_check(&f, &rp, &crc), 0);
	CU_ASSERT_EQUAL(rp.c.corruptions, 1);
	CU_ASSERT_EQUAL(rp.c.allocated_clusters, 4);
	fd = find(&rp, PR_QED_DATA_SHARED);
	CU_ASSERT_PTR_NOT_NULL_FATAL(fd);
	CU_ASSERT_STRING_EQUAL(fd->path, "L1[0] -> L2 @0x60000 [2]");
	/* 0x50000 is no longer named: a leak. */
	CU_ASSERT_EQUAL(rp.c.leaks, 1);
	report_release(&rp);
	qed_fix_release(&f);
}

static void
test_phantom_leak(void)
{
	struct qed_fix	f;
	struct report	rp;
	uint64_t	g;
	int		crc;

	/* 4 KiB clusters, 20 MiB of data: QEMU counts one leak. */
	CU_ASSERT_EQUAL_FATAL(qed_fix_init(&f, 4096, 4, 1024 * MB), 0);
	for (g = 0; g < 20 * MB; g += 4096)
		CU_ASSERT_FATAL(qed_fix_write(&f, g, 0x11) != 0);
	CU_ASSERT_EQUAL_FATAL(fix_check(&f, &rp, &crc), 0);
	CU_ASSERT_EQUAL(crc, 0);
	CU_ASSERT_EQUAL(rp.c.corruptions, 0);
	CU_ASSERT_EQUAL(rp.c.leaks, 1);
	CU_ASSERT_EQUAL(rp.c.allocated_clusters, 5120);
	CU_ASSERT_EQUAL(rp.c.total_clusters, 262144);
	CU_ASSERT_EQUAL(nfind(&rp, PR_QED_LEAK), 0);
	CU_ASSERT_EQUAL(nfind(&rp, PR_QED_LEAK_PHANTOM), 1);
	CU_ASSERT_TRUE(extra_bool(&rp, "tables-consistent"));
	report_release(&rp);
	qed_fix_release(&f);
}

/* Open must refuse: the error and a message naming the field. */
static void
refuse(struct qed_fix *f, int want, const char *needle)
{
	struct img	*img = NULL;
	char		 err[256];
	int		 rc;

	rc = fix_open(f, &img, err, sizeof(err));
	CU_ASSERT_EQUAL(rc, want);
	if (rc == 0) {
		img_close(img);
		return;
	}
	CU_ASSERT_PTR_NOT_NULL(strstr(err, needle));
}

static void
test_open_refusals(void)
{
	struct qed_fix	f;

	base(&f);
	qed_fix_put32(&f, QED_FIX_TABLE_SIZE, 0);
	refuse(&f, -IMG_EINVAL, "table_size");
	qed_fix_put32(&f, QED_FIX_TABLE_SIZE, 17);
	refuse(&f, -IMG_EINVAL, "table_size");
	qed_fix_put32(&f, QED_FIX_TABLE_SIZE, 1);
	refuse(&f, -IMG_EINVAL, "QED table offset is invalid");
	qed_fix_put32(&f, QED_FIX_TABLE_SIZE, 4);
	qed_fix_put32(&f, QED_FIX_CLUSTER_SIZE, 65535);
	refuse(&f, -IMG_EINVAL, "cluster_size");
	qed_fix_put32(&f, QED_FIX_CLUSTER_SIZE, 65536);
	qed_fix_put64(&f, QED_FIX_L1_OFFSET, 0x100000);
	refuse(&f, -IMG_EINVAL, "l1_table_offset");
	qed_fix_put64(&f, QED_FIX_L1_OFFSET, 0x10000);
	qed_fix_put64(&f, QED_FIX_FEATURES, 0x10);
	refuse(&f, -IMG_EUNSUP, "Unsupported QED features: 10");
	qed_fix_put64(&f, QED_FIX_FEATURES, 0x1);
	qed_fix_put32(&f, QED_FIX_BACKING_OFF, 65500);
	qed_fix_put32(&f, QED_FIX_BACKING_SIZE, 100);
	refuse(&f, -IMG_EINVAL, "backing_filename_offset");
	qed_fix_put64(&f, QED_FIX_FEATURES, 0);
	qed_fix_put64(&f, QED_FIX_IMAGE_SIZE, 1000);
	refuse(&f, -IMG_EINVAL, "image_size");
	qed_fix_put64(&f, QED_FIX_IMAGE_SIZE, 64 * MB);
	refuse(&f, 0, "");
	/* A file cut inside the L1 table. */
	CU_ASSERT_EQUAL(qed_fix_resize(&f, 0x30000), 0);
	refuse(&f, -IMG_EINVAL, "l1_table_offset");
	/* A file of just the header: the rest reads as zeros. */
	CU_ASSERT_EQUAL(qed_fix_resize(&f, 64), 0);
	refuse(&f, -IMG_EINVAL, "l1_table_offset");
	CU_ASSERT_EQUAL(qed_fix_resize(&f, 6), 0);
	refuse(&f, -IMG_EINVAL, "cluster_size");
	qed_fix_release(&f);
}

static int
map_cb(void *arg, const struct map_ext *e)
{
	struct map_ext	*out = arg;
	size_t		 i;

	for (i = 0; i < 7 && out[i].length != 0; i++)
		;
	if (i < 7)
		out[i] = *e;
	return 0;
}

static void
test_map_info(void)
{
	struct qed_fix		 f;
	struct img		*img;
	struct map_ext		 m[8];
	struct json_object	*o, *v;
	char			 err[256];

	base(&f);
	CU_ASSERT_EQUAL(qed_fix_write(&f, 65536, 0x22), 0xa0000);
	qed_fix_l2_set(&f, 0, 3, 1);		/* a zero cluster */
	qed_fix_put64(&f, QED_FIX_FEATURES, 0x2);
	CU_ASSERT_EQUAL_FATAL(fix_open(&f, &img, err, sizeof(err)), 0);
	memset(m, 0, sizeof(m));
	CU_ASSERT_EQUAL(img_map(img, map_cb, m), 0);
	/* Data 0..128K contiguous? 0x50000 then 0xa0000: two runs. */
	CU_ASSERT_EQUAL(m[0].start, 0);
	CU_ASSERT_EQUAL(m[0].length, 65536);
	CU_ASSERT_TRUE(m[0].data && m[0].has_offset);
	CU_ASSERT_EQUAL(m[0].offset, 0x50000);
	CU_ASSERT_EQUAL(m[1].start, 65536);
	CU_ASSERT_EQUAL(m[1].offset, 0xa0000);
	CU_ASSERT_EQUAL(m[2].start, 131072);
	CU_ASSERT_EQUAL(m[2].length, 65536);
	CU_ASSERT_FALSE(m[2].present);
	CU_ASSERT_TRUE(m[2].zero);
	CU_ASSERT_EQUAL(m[3].start, 196608);
	CU_ASSERT_TRUE(m[3].present && m[3].zero && !m[3].data);
	CU_ASSERT_FALSE(m[3].has_offset);
	CU_ASSERT_EQUAL(m[4].start, 262144);
	CU_ASSERT_EQUAL(m[4].start + m[4].length, 64 * MB);
	CU_ASSERT_EQUAL(m[5].length, 0);

	CU_ASSERT_EQUAL_FATAL(img_info(img, &o), 0);
	CU_ASSERT_TRUE(json_object_object_get_ex(o, "virtual-size", &v));
	CU_ASSERT_EQUAL(json_object_get_int64(v), (int64_t)(64 * MB));
	CU_ASSERT_TRUE(json_object_object_get_ex(o, "cluster-size", &v));
	CU_ASSERT_EQUAL(json_object_get_int64(v), 65536);
	CU_ASSERT_TRUE(json_object_object_get_ex(o, "dirty-flag", &v));
	CU_ASSERT_FALSE(json_object_get_boolean(v));
	CU_ASSERT_TRUE(json_object_object_get_ex(o, "need-check", &v));
	CU_ASSERT_TRUE(json_object_get_boolean(v));
	CU_ASSERT_FALSE(json_object_object_get_ex(o, "backing-filename", &v));
	json_object_put(o);
	img_close(img);

	/* A bad L2 entry fails the map as it fails QEMU's. */
	qed_fix_l2_set(&f, 0, 5, 0x50200);
	CU_ASSERT_EQUAL_FATAL(fix_open(&f, &img, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(img_map(img, map_cb, m), -IMG_EINVAL);
	img_close(img);
	qed_fix_release(&f);
}

static void
test_backing_info(void)
{
	struct qed_fix		 f;
	struct img		*img;
	struct json_object	*o, *v;
	struct report		 rp;
	char			 full[64], err[256];
	const char		*name;
	int			 fd;

	/* A backing file beside the image, named relative to it. */
	snprintf(full, sizeof(full), "/tmp/test_qedb_XXXXXX");
	CU_ASSERT_FATAL((fd = mkstemp(full)) >= 0);
	close(fd);
	name = full + 5;
	base(&f);
	qed_fix_put64(&f, QED_FIX_FEATURES, 0x5);
	qed_fix_put32(&f, QED_FIX_BACKING_OFF, 64);
	qed_fix_put32(&f, QED_FIX_BACKING_SIZE, (uint32_t)strlen(name));
	memcpy(f.buf + 64, name, strlen(name));
	CU_ASSERT_EQUAL_FATAL(fix_open(&f, &img, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(img_info(img, &o), 0);
	CU_ASSERT_TRUE(json_object_object_get_ex(o, "backing-filename", &v));
	CU_ASSERT_STRING_EQUAL(json_object_get_string(v), name);
	CU_ASSERT_TRUE(json_object_object_get_ex(o, "full-backing-filename",
	    &v));
	CU_ASSERT_STRING_EQUAL(json_object_get_string(v), full);
	CU_ASSERT_TRUE(json_object_object_get_ex(o,
	    "backing-filename-format", &v));
	CU_ASSERT_STRING_EQUAL(json_object_get_string(v), "raw");
	json_object_put(o);
	report_init(&rp);
	CU_ASSERT_EQUAL(img_check(img, &rp), 0);
	CU_ASSERT_EQUAL(nfind(&rp, PR_QED_BACKING_NOT_OPENED), 1);
	CU_ASSERT_EQUAL(rp.c.check_errors, 0);
	report_release(&rp);

	/* Missing: qemu-img cannot open the image, so the check fails. */
	unlink(full);
	report_init(&rp);
	CU_ASSERT_EQUAL(img_check(img, &rp), 0);
	CU_ASSERT_EQUAL(nfind(&rp, PR_QED_BACKING_MISSING), 1);
	CU_ASSERT_EQUAL(rp.c.check_errors, 1);
	report_release(&rp);
	img_close(img);
	qed_fix_release(&f);
}

static void
test_probe(void)
{
	uint8_t			b[QED_HDR_LEN];
	struct img_probe	p = { .buf = b, .len = sizeof(b) };

	memset(b, 0, sizeof(b));
	memcpy(b, "QED", 4);
	CU_ASSERT_EQUAL(qed_ops.probe(&p), 100);
	p.len = QED_HDR_LEN - 1;
	CU_ASSERT_EQUAL(qed_ops.probe(&p), 0);
	p.len = sizeof(b);
	b[0] = 'q';
	CU_ASSERT_EQUAL(qed_ops.probe(&p), 0);
}

static void
test_bitmap(void)
{
	struct qed_bm	bm;
	bool		was;

	CU_ASSERT_EQUAL(qed_bm_init(&bm, (uint64_t)QED_BM_MAX_PAGES *
	    QED_BM_PAGE_BITS + 1), -IMG_ELIMIT);
	CU_ASSERT_EQUAL_FATAL(qed_bm_init(&bm, 3 * QED_BM_PAGE_BITS), 0);
	CU_ASSERT_EQUAL(qed_bm_count_clear(&bm, 0, bm.nbits), bm.nbits);
	CU_ASSERT_EQUAL(qed_bm_set(&bm, 5, &was), 0);
	CU_ASSERT_FALSE(was);
	CU_ASSERT_EQUAL(qed_bm_set(&bm, 5, &was), 0);
	CU_ASSERT_TRUE(was);
	CU_ASSERT_EQUAL(qed_bm_set(&bm, 2 * QED_BM_PAGE_BITS + 63, &was), 0);
	CU_ASSERT_EQUAL(qed_bm_set(&bm, bm.nbits, &was), -IMG_ERANGE);
	CU_ASSERT_TRUE(qed_bm_test(&bm, 5));
	CU_ASSERT_FALSE(qed_bm_test(&bm, 6));
	CU_ASSERT_FALSE(qed_bm_test(&bm, QED_BM_PAGE_BITS + 5));
	CU_ASSERT_EQUAL(qed_bm_next(&bm, 0, bm.nbits, true), 5);
	CU_ASSERT_EQUAL(qed_bm_next(&bm, 6, bm.nbits, true),
	    2 * QED_BM_PAGE_BITS + 63);
	CU_ASSERT_EQUAL(qed_bm_next(&bm, 5, bm.nbits, false), 6);
	CU_ASSERT_EQUAL(qed_bm_next(&bm, 6, 100, true), 100);
	CU_ASSERT_EQUAL(qed_bm_count_clear(&bm, 0, bm.nbits), bm.nbits - 2);
	CU_ASSERT_EQUAL(qed_bm_count_clear(&bm, 5, 6), 0);
	/* Past the map every bit reads clear. */
	CU_ASSERT_EQUAL(qed_bm_next(&bm, bm.nbits, bm.nbits + 9, false),
	    bm.nbits);
	CU_ASSERT_EQUAL(qed_bm_next(&bm, bm.nbits, bm.nbits + 9, true),
	    bm.nbits + 9);
	qed_bm_release(&bm);

	/* Ranges, word-wise, against the same bits set one by one. */
	{
		struct qed_bm	one;
		uint64_t	x, a, n, i, seed = 12345;
		int		t;

		CU_ASSERT_EQUAL_FATAL(qed_bm_init(&bm, 3 * QED_BM_PAGE_BITS),
		    0);
		CU_ASSERT_EQUAL_FATAL(qed_bm_init(&one, 3 * QED_BM_PAGE_BITS),
		    0);
		for (t = 0; t < 300; t++) {
			seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
			a = (seed >> 20) % bm.nbits;
			x = (seed >> 8) % 7;
			n = x == 0 ? 1 : x == 1 ? 64 : x == 2 ?
			    QED_BM_PAGE_BITS : (seed >> 40) % 300;
			if (n > bm.nbits - a)
				n = bm.nbits - a;
			CU_ASSERT_EQUAL(qed_bm_set_range(&bm, a, n), 0);
			for (i = a, x = 0; i < a + n; i++)
				x |= qed_bm_set(&one, i, &was) != 0;
			CU_ASSERT_EQUAL(x, 0);
		}
		for (i = 0; i < bm.nbits; i += 64)
			CU_ASSERT_EQUAL(qed_bm_next(&bm, i, i + 64, true) -
			    i, qed_bm_next(&one, i, i + 64, true) - i);
		CU_ASSERT_EQUAL(qed_bm_count_clear(&bm, 0, bm.nbits),
		    qed_bm_count_clear(&one, 0, bm.nbits));
		CU_ASSERT_EQUAL(qed_bm_set_range(&bm, bm.nbits - 1, 2),
		    -IMG_ERANGE);
		CU_ASSERT_EQUAL(qed_bm_set_range(&bm, bm.nbits - 1, 1), 0);
		CU_ASSERT_EQUAL(qed_bm_set_range(&bm, 0, 0), 0);
		qed_bm_release(&one);
		qed_bm_release(&bm);
	}
	qed_bm_release(&bm);		/* idempotent */
}

int suite_qed_check(void);

int
suite_qed_check(void)
{
	CU_pSuite	s = CU_add_suite("qed_check", NULL, NULL);

	if (s == NULL)
		return -1;
	CU_add_test(s, "probe", test_probe);
	CU_add_test(s, "sparse bitmap", test_bitmap);
	CU_add_test(s, "clean image", test_clean);
	CU_add_test(s, "NEED_CHECK and leaks", test_need_check);
	CU_add_test(s, "bad L1 entries", test_l1_bad);
	CU_add_test(s, "bad L2 entries", test_l2_bad);
	CU_add_test(s, "double references", test_shared);
	CU_add_test(s, "runs of adjacent clusters", test_runs);
	CU_add_test(s, "phantom leak", test_phantom_leak);
	CU_add_test(s, "open refusals", test_open_refusals);
	CU_add_test(s, "map and info", test_map_info);
	CU_add_test(s, "backing file", test_backing_info);
	return 0;
}
