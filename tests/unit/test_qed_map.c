/* SPDX-License-Identifier: MIT */
/*
 * test_qed_map.c --- the QED map, read and backing ops on images built by
 * the fixture writer: this layer's runs over ranges, damage that fails
 * the map or is mapped with force, QEMU's first-cluster-of-run offset
 * test, guest reads, the backing file name and the chain through it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "core/core.h"
#include "qed/qed.h"
#include "../fixtures/qed_fix.h"

#define KB	1024ull
#define MB	(1024ull * 1024)
#define CS	4096ull
/* cs 4 KiB, two-cluster tables: 1024 entries, 4 MiB per L1 entry. */
#define SPAN	(1024 * CS)
#define NRUNS	64

extern const struct fmt_ops	qed_ops;

struct runs {
	struct map_ext	r[NRUNS];
	size_t		n;
	size_t		stop_after;	/* MAP_STOP after this many; 0 never */
};

static int
collect(void *arg, const struct map_ext *e)
{
	struct runs	*rs = arg;

	if (rs->n < NRUNS)
		rs->r[rs->n++] = *e;
	if (rs->stop_after != 0 && rs->n == rs->stop_after)
		return MAP_STOP;
	return 0;
}

/* Save f to path (a fresh temporary name unless path is set). */
static int
fix_open_at(const struct qed_fix *f, char *path, size_t plen,
    struct img **img)
{
	struct img_opts	opts;
	char		err[256];
	int		fd;

	if (path[0] == '\0') {
		snprintf(path, plen, "/tmp/test_qedm_XXXXXX");
		if ((fd = mkstemp(path)) < 0)
			return -1;
		close(fd);
	}
	if (qed_fix_save(f, path) != 0)
		return -1;
	memset(&opts, 0, sizeof(opts));
	opts.format = "qed";
	return img_open(path, &opts, img, err, sizeof(err));
}

/* Open f from a temporary file that is gone once open. */
static int
fix_open(const struct qed_fix *f, struct img **img)
{
	char	path[64] = "";
	int	rc;

	rc = fix_open_at(f, path, sizeof(path), img);
	unlink(path);
	return rc;
}

/* This layer alone, [start, end). */
static int
lmap(struct img *img, uint64_t start, uint64_t end, bool force,
    struct runs *rs)
{
	struct map_req	rq = { .start = start, .end = end, .force = force };
	size_t		stop = rs->stop_after;

	memset(rs, 0, sizeof(*rs));
	rs->stop_after = stop;
	return qed_ops.map(img, &rq, collect, rs);
}

/* Runs are in order, without gaps, and cover [start, end). */
static void
assert_cover(const struct runs *rs, uint64_t start, uint64_t end)
{
	size_t	i;

	CU_ASSERT_FATAL(rs->n > 0);
	CU_ASSERT(rs->r[0].start <= start);
	for (i = 1; i < rs->n; i++)
		CU_ASSERT_EQUAL(rs->r[i].start, rs->r[i - 1].start +
		    rs->r[i - 1].length);
	CU_ASSERT(rs->r[rs->n - 1].start + rs->r[rs->n - 1].length >= end);
}

static bool
unalloc(const struct map_ext *e)
{
	return !e->present && !e->zero && !e->data && !e->has_offset &&
	    e->damage == 0;
}

/*
 * 16 MiB: data at 0 and 4 KiB (contiguous), a zero cluster at 8 KiB,
 * data at 4 MiB + 4 KiB, nothing at 8..12 MiB, data at 12 MiB.
 */
static void
layout(struct qed_fix *f)
{
	CU_ASSERT_EQUAL_FATAL(qed_fix_init(f, CS, 2, 16 * MB), 0);
	CU_ASSERT_EQUAL_FATAL(qed_fix_write(f, 0, 0x11), 0x3000);
	CU_ASSERT_EQUAL(qed_fix_l1_get(f, 0), 0x4000);
	CU_ASSERT_EQUAL(qed_fix_write(f, CS, 0x22), 0x6000);
	qed_fix_l2_set(f, 0, 1, 0x4000 + 2 * CS);
	qed_fix_l2_set(f, 0, 2, 1);
	CU_ASSERT_EQUAL(qed_fix_write(f, SPAN + CS, 0x33), 0x7000);
	CU_ASSERT_EQUAL(qed_fix_l1_get(f, 1), 0x8000);
	CU_ASSERT_EQUAL(qed_fix_write(f, 3 * SPAN, 0x44), 0xa000);
	CU_ASSERT_EQUAL(qed_fix_l1_get(f, 3), 0xb000);
	CU_ASSERT_EQUAL(f->len, 0xd000);
}

static void
test_whole(void)
{
	struct qed_fix	 f;
	struct img	*img;
	struct runs	 rs;

	/* Data 0 at 0x3000 and the next at 0x6000: make them contiguous. */
	layout(&f);
	qed_fix_l2_set(&f, 0, 1, 0x6000);
	qed_fix_l2_set(&f, 0, 0, 0x5000);
	CU_ASSERT_EQUAL_FATAL(fix_open(&f, &img), 0);
	rs.stop_after = 0;
	CU_ASSERT_EQUAL_FATAL(lmap(img, 0, 16 * MB, false, &rs), 0);
	assert_cover(&rs, 0, 16 * MB);
	CU_ASSERT_EQUAL_FATAL(rs.n, 7);
	/* 0x5000 and 0x6000 merge into one data run. */
	CU_ASSERT(rs.r[0].start == 0 && rs.r[0].length == 2 * CS);
	CU_ASSERT(rs.r[0].present && rs.r[0].data && !rs.r[0].zero);
	CU_ASSERT(rs.r[0].has_offset && rs.r[0].offset == 0x5000);
	CU_ASSERT(rs.r[0].depth == 0 && rs.r[0].damage == 0);
	/* L2 entry 1: present zero, no offset. */
	CU_ASSERT(rs.r[1].start == 2 * CS && rs.r[1].length == CS);
	CU_ASSERT(rs.r[1].present && rs.r[1].zero && !rs.r[1].data);
	CU_ASSERT_FALSE(rs.r[1].has_offset);
	/* Unallocated in this layer: all false, for the core to resolve. */
	CU_ASSERT(rs.r[2].start == 3 * CS && unalloc(&rs.r[2]));
	CU_ASSERT(rs.r[2].length == SPAN + CS - 3 * CS);
	CU_ASSERT(rs.r[3].start == SPAN + CS && rs.r[3].offset == 0x7000);
	CU_ASSERT(rs.r[4].start == SPAN + 2 * CS && unalloc(&rs.r[4]));
	/* An empty L1 entry and the empty tail of table 1 merge. */
	CU_ASSERT_EQUAL(rs.r[4].length, 3 * SPAN - (SPAN + 2 * CS));
	CU_ASSERT(rs.r[5].start == 3 * SPAN && rs.r[5].offset == 0xa000);
	CU_ASSERT(rs.r[6].start == 3 * SPAN + CS && unalloc(&rs.r[6]));
	CU_ASSERT_EQUAL(rs.r[6].length, SPAN - CS);
	img_close(img);
	qed_fix_release(&f);
}

static void
test_range(void)
{
	struct qed_fix	 f;
	struct img	*img;
	struct runs	 rs;

	layout(&f);
	/* Damage outside the range is never read. */
	qed_fix_l1_set(&f, 2, 0x123);
	qed_fix_l2_set(&f, 3, 5, 0x4200);
	CU_ASSERT_EQUAL_FATAL(fix_open(&f, &img), 0);
	rs.stop_after = 0;
	/* Inside table 1, mid-cluster. */
	CU_ASSERT_EQUAL_FATAL(lmap(img, SPAN + 100, SPAN + CS + 10, false,
	    &rs), 0);
	assert_cover(&rs, SPAN + 100, SPAN + CS + 10);
	CU_ASSERT_EQUAL_FATAL(rs.n, 2);
	CU_ASSERT(rs.r[0].start == SPAN && unalloc(&rs.r[0]));
	CU_ASSERT(rs.r[1].start == SPAN + CS && rs.r[1].offset == 0x7000);
	CU_ASSERT_EQUAL(rs.r[1].length, CS);
	/* The empty table 0 tail up to the end of the range only. */
	CU_ASSERT_EQUAL(lmap(img, 3 * CS, 5 * CS, false, &rs), 0);
	CU_ASSERT_EQUAL_FATAL(rs.n, 1);
	CU_ASSERT(rs.r[0].start == 3 * CS && rs.r[0].length == 2 * CS);
	/* The range reaches the damaged L1 entry 2: it fails. */
	CU_ASSERT_EQUAL(lmap(img, SPAN, 2 * SPAN + 1, false, &rs),
	    -IMG_EINVAL);
	/* Past the guest size: nothing. */
	CU_ASSERT_EQUAL(lmap(img, 16 * MB, 32 * MB, false, &rs), 0);
	CU_ASSERT_EQUAL(rs.n, 0);
	/* MAP_STOP from the callback ends the map at once. */
	rs.stop_after = 1;
	CU_ASSERT_EQUAL(lmap(img, 0, SPAN, false, &rs), MAP_STOP);
	CU_ASSERT_EQUAL(rs.n, 1);
	img_close(img);
	qed_fix_release(&f);
}

static void
test_damage_l1(void)
{
	struct qed_fix		 f;
	struct img		*img;
	struct runs		 rs;
	const struct pr_info	*pi = pr_info_get(PR_QED_L1_PAST_EOF);

	layout(&f);
	qed_fix_l1_set(&f, 1, 0x100000);	/* past the end of the file */
	CU_ASSERT_EQUAL_FATAL(fix_open(&f, &img), 0);
	rs.stop_after = 0;
	CU_ASSERT_EQUAL(lmap(img, 0, 16 * MB, false, &rs), -IMG_EINVAL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(img_error(img));
	CU_ASSERT_PTR_NOT_NULL(strstr(img_error(img),
	    "qed-l1-past-eof: L2 table offset 0x100000 (L1 index 1"));
	/* Runs before the damage may have been handed over, not after. */
	CU_ASSERT(rs.n == 0 || rs.r[rs.n - 1].start < SPAN);
	/* Force: the L1 entry's guest range is damaged, the map goes on. */
	CU_ASSERT_EQUAL_FATAL(lmap(img, 0, 16 * MB, true, &rs), 0);
	assert_cover(&rs, 0, 16 * MB);
	CU_ASSERT_EQUAL_FATAL(rs.n, 8);
	CU_ASSERT(rs.r[4].start == SPAN && rs.r[4].length == SPAN);
	CU_ASSERT_EQUAL(rs.r[4].damage, pi->code);
	CU_ASSERT(!rs.r[4].present && !rs.r[4].data && !rs.r[4].has_offset);
	CU_ASSERT(rs.r[5].start == 2 * SPAN && unalloc(&rs.r[5]));
	CU_ASSERT_EQUAL(rs.r[6].offset, 0xa000);
	img_close(img);

	/* Misaligned, and a table of which only the last cluster is past. */
	qed_fix_l1_set(&f, 1, 0x8200);
	CU_ASSERT_EQUAL_FATAL(fix_open(&f, &img), 0);
	CU_ASSERT_EQUAL(lmap(img, SPAN, 2 * SPAN, false, &rs), -IMG_EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(img_error(img), "qed-l1-misaligned: "
	    "L2 table offset 0x8200"));
	img_close(img);
	qed_fix_l1_set(&f, 1, 0xc000);
	CU_ASSERT_EQUAL_FATAL(fix_open(&f, &img), 0);
	CU_ASSERT_EQUAL(lmap(img, SPAN, 2 * SPAN, false, &rs), -IMG_EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(img_error(img), "qed-l1-past-eof"));
	img_close(img);
	qed_fix_release(&f);
}

static void
test_damage_l2(void)
{
	struct qed_fix		 f;
	struct img		*img;
	struct runs		 rs;
	uint64_t		 l1;

	layout(&f);
	qed_fix_l2_set(&f, 1, 3, 0x7200);	/* misaligned */
	qed_fix_l2_set(&f, 1, 5, 0x0);
	qed_fix_l2_set(&f, 1, 6, 0x800);	/* in the header: misaligned */
	qed_fix_l2_set(&f, 3, 2, 0x1000000);	/* past the end */
	CU_ASSERT_EQUAL_FATAL(fix_open(&f, &img), 0);
	rs.stop_after = 0;
	CU_ASSERT_EQUAL(lmap(img, 0, 16 * MB, false, &rs), -IMG_EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(img_error(img), "qed-data-misaligned: "
	    "data cluster offset 0x7200 (L1 index 1, L2 index 3, guest "
	    "offset 0x403000)"));
	/* A range that avoids it maps. */
	CU_ASSERT_EQUAL(lmap(img, 0, SPAN + 3 * CS, false, &rs), 0);
	assert_cover(&rs, 0, SPAN + 3 * CS);
	CU_ASSERT_EQUAL(lmap(img, 3 * SPAN, 3 * SPAN + 2 * CS, false, &rs),
	    0);
	CU_ASSERT_EQUAL(lmap(img, 3 * SPAN, 3 * SPAN + 3 * CS, false, &rs),
	    -IMG_EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(img_error(img), "qed-data-past-eof: "
	    "data cluster offset 0x1000000 (L1 index 3, L2 index 2"));
	/* Force: each bad cluster is one damaged run. */
	CU_ASSERT_EQUAL_FATAL(lmap(img, SPAN, 2 * SPAN, true, &rs), 0);
	assert_cover(&rs, SPAN, 2 * SPAN);
	CU_ASSERT_EQUAL_FATAL(rs.n, 7);
	CU_ASSERT(rs.r[3].start == SPAN + 3 * CS && rs.r[3].length == CS);
	CU_ASSERT_EQUAL(rs.r[3].damage,
	    pr_info_get(PR_QED_DATA_MISALIGNED)->code);
	CU_ASSERT(rs.r[4].start == SPAN + 4 * CS && unalloc(&rs.r[4]));
	CU_ASSERT_EQUAL(rs.r[4].length, 2 * CS);
	CU_ASSERT_EQUAL(rs.r[5].damage,
	    pr_info_get(PR_QED_DATA_MISALIGNED)->code);
	CU_ASSERT(rs.r[6].start == SPAN + 7 * CS && unalloc(&rs.r[6]));
	img_close(img);

	/*
	 * Cluster aligned but inside the header: header_size 2, the L1
	 * table moved to the end of the file.
	 */
	l1 = qed_fix_alloc(&f, 2);
	CU_ASSERT_EQUAL_FATAL(l1, 0xd000);
	memcpy(f.buf + l1, f.buf + f.l1, 2 * CS);
	f.l1 = l1;
	qed_fix_put64(&f, QED_FIX_L1_OFFSET, l1);
	qed_fix_put32(&f, QED_FIX_HEADER_SIZE, 2);
	qed_fix_l2_set(&f, 0, 0, CS);
	CU_ASSERT_EQUAL_FATAL(fix_open(&f, &img), 0);
	CU_ASSERT_EQUAL(lmap(img, 0, CS, false, &rs), -IMG_EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(img_error(img),
	    "qed-data-in-header: data cluster offset 0x1000"));
	img_close(img);
	qed_fix_release(&f);
}

/*
 * QEMU tests only the first offset of a run of contiguous clusters: the
 * rest may lie past the end of the file (and read as zeros).
 */
static void
test_run_past_eof(void)
{
	struct qed_fix	 f;
	struct img	*img;
	struct runs	 rs;
	uint8_t		 buf[2 * CS];
	struct map_ext	 run;
	size_t		 i;
	bool		 ok;

	layout(&f);
	/* 0xd000 is the last cluster; 0xe000 and 0xf000 are past it. */
	CU_ASSERT_EQUAL_FATAL(qed_fix_alloc(&f, 1), 0xd000);
	memset(f.buf + 0xd000, 0x55, CS);
	qed_fix_l2_set(&f, 3, 4, 0xd000);
	qed_fix_l2_set(&f, 3, 5, 0xe000);
	qed_fix_l2_set(&f, 3, 6, 0xf000);
	CU_ASSERT_EQUAL_FATAL(fix_open(&f, &img), 0);
	rs.stop_after = 0;
	CU_ASSERT_EQUAL_FATAL(lmap(img, 3 * SPAN, 4 * SPAN, false, &rs), 0);
	CU_ASSERT_EQUAL_FATAL(rs.n, 4);
	CU_ASSERT(rs.r[2].start == 3 * SPAN + 4 * CS && rs.r[2].data);
	CU_ASSERT(rs.r[2].offset == 0xd000 && rs.r[2].length == 3 * CS);
	/* A query that begins past the end is refused, as QEMU's is. */
	CU_ASSERT_EQUAL(lmap(img, 3 * SPAN + 5 * CS, 4 * SPAN, false, &rs),
	    -IMG_EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(img_error(img), "qed-data-past-eof: "
	    "data cluster offset 0xe000"));
	/* Reading across the end of the file: data, then zeros. */
	CU_ASSERT_EQUAL(lmap(img, 3 * SPAN, 4 * SPAN, false, &rs), 0);
	run = rs.r[2];
	CU_ASSERT_EQUAL_FATAL(qed_ops.read(img, &run, run.start + CS / 2,
	    buf, sizeof(buf), NULL), 0);
	for (i = 0, ok = true; i < sizeof(buf); i++)
		ok &= buf[i] == (i < CS / 2 ? 0x55 : 0);
	CU_ASSERT_TRUE(ok);
	img_close(img);
	qed_fix_release(&f);
}

static void
test_read(void)
{
	struct qed_fix	 f;
	struct img	*img;
	struct runs	 rs;
	struct map_ext	 run;
	uint8_t		 buf[CS];
	size_t		 i;
	bool		 ok;

	layout(&f);
	CU_ASSERT_EQUAL_FATAL(fix_open(&f, &img), 0);
	rs.stop_after = 0;
	CU_ASSERT_EQUAL_FATAL(lmap(img, SPAN, 2 * SPAN, false, &rs), 0);
	run = rs.r[1];
	CU_ASSERT_FATAL(run.data && run.offset == 0x7000);
	CU_ASSERT_EQUAL(qed_ops.read(img, &run, run.start + 16, buf, 100,
	    NULL), 0);
	for (i = 0, ok = true; i < 100; i++)
		ok &= buf[i] == 0x33;
	CU_ASSERT_TRUE(ok);
	/* Outside the run. */
	CU_ASSERT_EQUAL(qed_ops.read(img, &run, run.start - 1, buf, 2, NULL),
	    -IMG_ERANGE);
	CU_ASSERT_EQUAL(qed_ops.read(img, &run, run.start + 1, buf, CS,
	    NULL), -IMG_ERANGE);
	/* Not a data run. */
	CU_ASSERT_EQUAL(qed_ops.read(img, &rs.r[0], 0, buf, 1, NULL),
	    -IMG_ERANGE);
	CU_ASSERT_EQUAL(qed_ops.vsize(img), 16 * MB);
	img_close(img);
	qed_fix_release(&f);
}

/* Give f a backing file name (and NO_PROBE when raw). */
static void
set_backing(struct qed_fix *f, const char *name, bool raw)
{
	qed_fix_put64(f, QED_FIX_FEATURES, raw ? 0x5 : 0x1);
	qed_fix_put32(f, QED_FIX_BACKING_OFF, 64);
	qed_fix_put32(f, QED_FIX_BACKING_SIZE, (uint32_t)strlen(name));
	memset(f->buf + 64, 0, 256);
	memcpy(f->buf + 64, name, strlen(name));
}

static void
test_backing_op(void)
{
	struct qed_fix	 f;
	struct img	*img;
	char		 name[64], fmt[8], tiny[4];

	layout(&f);
	CU_ASSERT_EQUAL_FATAL(fix_open(&f, &img), 0);
	CU_ASSERT_EQUAL(qed_ops.backing(img, name, sizeof(name), fmt,
	    sizeof(fmt)), 0);
	img_close(img);
	set_backing(&f, "base.qcow2", false);
	CU_ASSERT_EQUAL_FATAL(fix_open(&f, &img), 0);
	CU_ASSERT_EQUAL(qed_ops.backing(img, name, sizeof(name), fmt,
	    sizeof(fmt)), 1);
	CU_ASSERT_STRING_EQUAL(name, "base.qcow2");
	CU_ASSERT_STRING_EQUAL(fmt, "");
	CU_ASSERT_EQUAL(qed_ops.backing(img, tiny, sizeof(tiny), fmt,
	    sizeof(fmt)), -IMG_ELIMIT);
	img_close(img);
	set_backing(&f, "../b.raw", true);
	CU_ASSERT_EQUAL_FATAL(fix_open(&f, &img), 0);
	CU_ASSERT_EQUAL(qed_ops.backing(img, name, sizeof(name), fmt,
	    sizeof(fmt)), 1);
	CU_ASSERT_STRING_EQUAL(name, "../b.raw");
	CU_ASSERT_STRING_EQUAL(fmt, "raw");
	img_close(img);
	/* The feature bit with an empty name: QEMU opens no backing file. */
	set_backing(&f, "", true);
	CU_ASSERT_EQUAL_FATAL(fix_open(&f, &img), 0);
	CU_ASSERT_EQUAL(qed_ops.backing(img, name, sizeof(name), fmt,
	    sizeof(fmt)), 0);
	img_close(img);
	qed_fix_put32(&f, QED_FIX_BACKING_SIZE, 3);
	CU_ASSERT_EQUAL_FATAL(fix_open(&f, &img), 0);
	CU_ASSERT_EQUAL(qed_ops.backing(img, name, sizeof(name), fmt,
	    sizeof(fmt)), 0);
	img_close(img);
	qed_fix_release(&f);
}

/* The core's chain through a QED backing file named relative to the top. */
static void
test_chain(void)
{
	struct qed_fix	 fb, ft;
	struct img	*img;
	struct runs	 rs;
	char		 bpath[64] = "", tpath[80];
	const char	*slash;

	/* Base, 8 MiB: data at 8 KiB and at 4 MiB. */
	CU_ASSERT_EQUAL_FATAL(qed_fix_init(&fb, CS, 2, 8 * MB), 0);
	CU_ASSERT_NOT_EQUAL(qed_fix_write(&fb, 2 * CS, 0x66), 0);
	CU_ASSERT_NOT_EQUAL(qed_fix_write(&fb, SPAN, 0x77), 0);
	CU_ASSERT_EQUAL_FATAL(fix_open_at(&fb, bpath, sizeof(bpath), &img),
	    0);
	img_close(img);
	/* Top, 16 MiB: data at 0, a zero cluster at 8 KiB. */
	CU_ASSERT_EQUAL_FATAL(qed_fix_init(&ft, CS, 2, 16 * MB), 0);
	CU_ASSERT_NOT_EQUAL(qed_fix_write(&ft, 0, 0x11), 0);
	qed_fix_l2_set(&ft, 0, 2, 1);
	slash = strrchr(bpath, '/');
	set_backing(&ft, slash + 1, false);
	snprintf(tpath, sizeof(tpath), "%s.top", bpath);
	CU_ASSERT_EQUAL_FATAL(fix_open_at(&ft, tpath, sizeof(tpath), &img),
	    0);
	memset(&rs, 0, sizeof(rs));
	CU_ASSERT_EQUAL_FATAL(img_map(img, collect, &rs), 0);
	assert_cover(&rs, 0, 16 * MB);
	CU_ASSERT_EQUAL_FATAL(rs.n, 7);
	CU_ASSERT(rs.r[0].depth == 0 && rs.r[0].data && rs.r[0].length == CS);
	/* Unallocated in the top, unallocated in the base: zero, depth 1. */
	CU_ASSERT(rs.r[1].depth == 1 && rs.r[1].zero && !rs.r[1].present);
	CU_ASSERT(rs.r[2].depth == 0 && rs.r[2].zero && rs.r[2].present);
	CU_ASSERT(rs.r[3].depth == 1 && rs.r[3].start == 3 * CS);
	CU_ASSERT(rs.r[4].depth == 1 && rs.r[4].data &&
	    rs.r[4].start == SPAN);
	CU_ASSERT(rs.r[5].depth == 1 && rs.r[5].zero && !rs.r[5].present);
	/* Past the 8 MiB base: zeros of the top layer. */
	CU_ASSERT(rs.r[6].depth == 0 && rs.r[6].zero && !rs.r[6].present);
	CU_ASSERT(rs.r[6].start == 8 * MB && rs.r[6].length == 8 * MB);
	img_close(img);

	/* The base gone: the map fails and says which file. */
	unlink(bpath);
	CU_ASSERT_EQUAL_FATAL(fix_open_at(&ft, tpath, sizeof(tpath), &img),
	    0);
	memset(&rs, 0, sizeof(rs));
	CU_ASSERT(img_map(img, collect, &rs) < 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(img_error(img));
	CU_ASSERT_PTR_NOT_NULL(strstr(img_error(img), bpath));
	img_close(img);
	unlink(tpath);
	qed_fix_release(&ft);
	qed_fix_release(&fb);
}

struct hruns {
	struct hmap_run	r[NRUNS];
	char		own[NRUNS][2][32];
	size_t		n;
};

static int
hcollect(void *arg, const struct hmap_run *run)
{
	struct hruns	*hs = arg;
	size_t		 i;

	if (hs->n == NRUNS)
		return -1;
	hs->r[hs->n] = *run;
	/* Owners point into the sink, gone after img_hostmap(). */
	for (i = 0; i < 2; i++) {
		hs->own[hs->n][i][0] = '\0';
		if (i < run->nowners && run->owners[i] != NULL)
			snprintf(hs->own[hs->n][i], sizeof(hs->own[0][0]),
			    "%s", run->owners[i]);
	}
	hs->n++;
	return 0;
}

/* Run i is [off, off + len) of class cls, first owners o0, o1, code. */
static void
hassert(const struct hruns *hs, size_t i, uint64_t off, uint64_t len,
    const char *cls, const char *o0, const char *o1, enum pr_id id)
{
	const struct hmap_run	*r = &hs->r[i];

	CU_ASSERT_FATAL(i < hs->n);
	CU_ASSERT_EQUAL(r->offset, off);
	CU_ASSERT_EQUAL(r->length, len);
	CU_ASSERT_STRING_EQUAL(r->cls, cls);
	CU_ASSERT_STRING_EQUAL(hs->own[i][0], o0);
	CU_ASSERT_STRING_EQUAL(hs->own[i][1], o1);
	if (id == PR_COUNT) {
		CU_ASSERT_EQUAL(r->ncodes, 0);
	} else {
		CU_ASSERT_EQUAL(r->ncodes, 1);
		CU_ASSERT_EQUAL(r->codes[0], pr_info_get(id)->code);
	}
}

static void
test_hostmap(void)
{
	struct qed_fix	 f;
	struct img	*img;
	struct hruns	 hs;

	layout(&f);
	CU_ASSERT_EQUAL_FATAL(qed_fix_alloc(&f, 1), 0xd000);	/* leaked */
	qed_fix_l2_set(&f, 3, 1, 0x7000);	/* L2 @0x8000's cluster */
	qed_fix_l1_set(&f, 2, 0x100000);	/* past the end */
	CU_ASSERT_EQUAL_FATAL(fix_open(&f, &img), 0);
	memset(&hs, 0, sizeof(hs));
	CU_ASSERT_EQUAL_FATAL(img_hostmap(img, hcollect, &hs), 0);
	CU_ASSERT_EQUAL_FATAL(hs.n, 11);
	hassert(&hs, 0, 0, 0x1000, "header", "header", "", PR_COUNT);
	hassert(&hs, 1, 0x1000, 0x2000, "l1", "L1", "", PR_COUNT);
	hassert(&hs, 2, 0x3000, 0x1000, "data", "L2 @0x4000", "", PR_COUNT);
	hassert(&hs, 3, 0x4000, 0x2000, "l2", "L1[0]", "", PR_COUNT);
	hassert(&hs, 4, 0x6000, 0x1000, "data", "L2 @0x4000", "", PR_COUNT);
	hassert(&hs, 5, 0x7000, 0x1000, "shared", "L2 @0x8000", "L2 @0xb000",
	    PR_QED_DATA_SHARED);
	hassert(&hs, 6, 0x8000, 0x2000, "l2", "L1[1]", "", PR_COUNT);
	hassert(&hs, 7, 0xa000, 0x1000, "data", "L2 @0xb000", "", PR_COUNT);
	hassert(&hs, 8, 0xb000, 0x2000, "l2", "L1[3]", "", PR_COUNT);
	hassert(&hs, 9, 0xd000, 0x1000, "leaked", "", "", PR_QED_LEAK);
	hassert(&hs, 10, 0x100000, 0x2000, "past-end", "L1[2]", "",
	    PR_QED_L1_PAST_EOF);
	img_close(img);

	/*
	 * NEED_CHECK and a cut tail: the header field carries its code,
	 * the bytes past the last cluster are leaked; two L1 entries
	 * naming one table share it.
	 */
	qed_fix_l1_set(&f, 2, 0xb000);
	qed_fix_l2_set(&f, 3, 1, 0);
	qed_fix_put64(&f, QED_FIX_FEATURES, 0x2);
	CU_ASSERT_EQUAL_FATAL(qed_fix_resize(&f, 0xd000 + 100), 0);
	CU_ASSERT_EQUAL_FATAL(fix_open(&f, &img), 0);
	memset(&hs, 0, sizeof(hs));
	CU_ASSERT_EQUAL_FATAL(img_hostmap(img, hcollect, &hs), 0);
	CU_ASSERT_EQUAL_FATAL(hs.n, 12);
	hassert(&hs, 0, 0, 16, "header", "header", "", PR_COUNT);
	hassert(&hs, 1, 16, 8, "header", "header", "",
	    PR_QED_NEED_CHECK_KEPT);
	hassert(&hs, 2, 24, 0x1000 - 24, "header", "header", "", PR_COUNT);
	hassert(&hs, 9, 0xa000, 0x1000, "data", "L2 @0xb000", "", PR_COUNT);
	hassert(&hs, 10, 0xb000, 0x2000, "shared", "L1[2]", "L1[3]",
	    PR_QED_L2_OVERLAP);
	hassert(&hs, 11, 0xd000, 100, "leaked", "", "", PR_QED_FILE_TAIL);
	img_close(img);
	qed_fix_release(&f);
}

int	suite_qed_map(void);

int
suite_qed_map(void)
{
	CU_pSuite	s = CU_add_suite("qed_map", NULL, NULL);

	if (s == NULL)
		return -1;
	CU_add_test(s, "whole image", test_whole);
	CU_add_test(s, "ranges", test_range);
	CU_add_test(s, "damaged L1 entries", test_damage_l1);
	CU_add_test(s, "damaged L2 entries", test_damage_l2);
	CU_add_test(s, "runs past the end of the file", test_run_past_eof);
	CU_add_test(s, "read op", test_read);
	CU_add_test(s, "backing op", test_backing_op);
	CU_add_test(s, "chain through a QED backing file", test_chain);
	CU_add_test(s, "host map", test_hostmap);
	return 0;
}
