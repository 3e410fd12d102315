/* SPDX-License-Identifier: MIT */
/*
 * test_hostmap.c --- core/hostmap.c: claims of a fake format tiled into
 * runs (shared, free, past-end, merging), checked against a byte-by-byte
 * model, and the extract of leaked and free bytes.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "core/core.h"

struct fake_claim {
	uint64_t	 off;
	uint64_t	 len;
	const char	*cls;
	const char	*owner;
	uint32_t	 code;
};

/* What the fake format claims: set by each test before img_hostmap(). */
static const struct fake_claim	*fake_c;
static size_t			 fake_n;
static uint64_t			 fake_repeat;	/* claims added per entry */

static int
fake_hostmap(struct img *img, struct hmap_sink *hs)
{
	char		owner[64];
	size_t		i;
	uint64_t	k, step;
	int		rc;

	(void)img;
	for (i = 0; i < fake_n; i++) {
		if (fake_repeat <= 1) {
			if ((rc = hm_add(hs, fake_c[i].off, fake_c[i].len,
			    fake_c[i].cls, fake_c[i].owner,
			    fake_c[i].code)) != 0)
				return rc;
			continue;
		}
		/* The entry cut in fake_repeat pieces, each owner copied. */
		step = fake_c[i].len / fake_repeat;
		for (k = 0; k < fake_repeat; k++) {
			snprintf(owner, sizeof(owner), "%s", fake_c[i].owner);
			if ((rc = hm_add(hs, fake_c[i].off + k * step,
			    k + 1 == fake_repeat ? fake_c[i].len - k * step :
			    step, fake_c[i].cls, owner, fake_c[i].code)) != 0)
				return rc;
		}
	}
	return 0;
}

static const struct fmt_ops	fake_ops = {
	.name = "fake",
	.hostmap = fake_hostmap,
};
static const struct fmt_ops	fake_ops_none = {
	.name = "none",
};

static void
fake_img(struct img *img, uint64_t size)
{
	memset(img, 0, sizeof(*img));
	img->fd = -1;
	img->undo_fd = -1;
	img->size = size;
	img->ops = &fake_ops;
}

#define MAXRUNS	4096

struct runs {
	struct hmap_run	r[MAXRUNS];
	char		owners[MAXRUNS][HMAP_MAX_OWNERS][32];
	size_t		n;
	bool		overflow;
};

static int
collect(void *arg, const struct hmap_run *run)
{
	struct runs	*rs = arg;
	size_t		 i;

	if (rs->n == MAXRUNS) {
		rs->overflow = true;
		return 0;
	}
	rs->r[rs->n] = *run;
	for (i = 0; i < run->nowners && i < HMAP_MAX_OWNERS; i++) {
		snprintf(rs->owners[rs->n][i], 32, "%s", run->owners[i]);
		rs->r[rs->n].owners[i] = rs->owners[rs->n][i];
	}
	rs->n++;
	return 0;
}

static struct runs	runs;

static int
map(uint64_t size, const struct fake_claim *c, size_t n)
{
	struct img	img;

	fake_img(&img, size);
	fake_c = c;
	fake_n = n;
	memset(&runs, 0, sizeof(runs));
	return img_hostmap(&img, collect, &runs);
}

/* The runs tile [0, size) in order, then past-end runs lie beyond it. */
static void
assert_tiles(uint64_t size)
{
	uint64_t	pos = 0;
	size_t		i;

	CU_ASSERT_FALSE(runs.overflow);
	for (i = 0; i < runs.n && runs.r[i].offset < size; i++) {
		CU_ASSERT_EQUAL(runs.r[i].offset, pos);
		CU_ASSERT(runs.r[i].length > 0);
		CU_ASSERT(strcmp(runs.r[i].cls, "past-end") != 0);
		pos += runs.r[i].length;
	}
	CU_ASSERT_EQUAL(pos, size);
	for (; i < runs.n; i++) {
		CU_ASSERT_STRING_EQUAL(runs.r[i].cls, "past-end");
		CU_ASSERT(runs.r[i].offset >= pos);
		CU_ASSERT(runs.r[i].length > 0);
		pos = runs.r[i].offset + runs.r[i].length;
	}
}

static void
assert_run(size_t i, uint64_t off, uint64_t len, const char *cls,
    size_t nowners, const char *o0, const char *o1)
{
	CU_ASSERT_FATAL(i < runs.n);
	CU_ASSERT_EQUAL(runs.r[i].offset, off);
	CU_ASSERT_EQUAL(runs.r[i].length, len);
	CU_ASSERT_STRING_EQUAL(runs.r[i].cls, cls);
	CU_ASSERT_EQUAL(runs.r[i].nowners, nowners);
	if (o0 != NULL && runs.r[i].nowners > 0)
		CU_ASSERT_STRING_EQUAL(runs.r[i].owners[0], o0);
	if (o1 != NULL && runs.r[i].nowners > 1)
		CU_ASSERT_STRING_EQUAL(runs.r[i].owners[1], o1);
}

static void
test_overlap_gap(void)
{
	static const struct fake_claim	c[] = {
		{ 50, 100, "l2", "L2 table 0", 0 },
		{ 0, 100, "header", "header", 0 },
		{ 300, 100, "data", "guest 0x0", 0 },
	};

	CU_ASSERT_EQUAL_FATAL(map(500, c, 3), 0);
	assert_tiles(500);
	CU_ASSERT_EQUAL(runs.n, 6);
	assert_run(0, 0, 50, "header", 1, "header", NULL);
	assert_run(1, 50, 50, "shared", 2, "L2 table 0", "header");
	assert_run(2, 100, 50, "l2", 1, "L2 table 0", NULL);
	assert_run(3, 150, 150, "free", 0, NULL, NULL);
	assert_run(4, 300, 100, "data", 1, "guest 0x0", NULL);
	assert_run(5, 400, 100, "free", 0, NULL, NULL);
}

static void
test_past_end(void)
{
	static const struct fake_claim	c[] = {
		{ 0, 10, "header", "header", 0 },
		{ 180, 80, "data", "guest 0x1000", 0 },
		{ 300, 20, "l2", "L2 table 1", 0x010203 },
	};

	CU_ASSERT_EQUAL_FATAL(map(200, c, 3), 0);
	assert_tiles(200);
	CU_ASSERT_EQUAL(runs.n, 5);
	assert_run(0, 0, 10, "header", 1, "header", NULL);
	assert_run(1, 10, 170, "free", 0, NULL, NULL);
	assert_run(2, 180, 20, "data", 1, "guest 0x1000", NULL);
	assert_run(3, 200, 60, "past-end", 1, "guest 0x1000", NULL);
	assert_run(4, 300, 20, "past-end", 1, "L2 table 1", NULL);
	CU_ASSERT_EQUAL(runs.r[4].ncodes, 1);
	CU_ASSERT_EQUAL(runs.r[4].codes[0], 0x010203);
	CU_ASSERT_EQUAL(runs.r[3].ncodes, 0);

	/* Nothing at all: one free run; an empty file: no run. */
	CU_ASSERT_EQUAL_FATAL(map(4096, NULL, 0), 0);
	CU_ASSERT_EQUAL(runs.n, 1);
	assert_run(0, 0, 4096, "free", 0, NULL, NULL);
	CU_ASSERT_EQUAL_FATAL(map(0, c, 1), 0);
	CU_ASSERT_EQUAL(runs.n, 1);
	assert_run(0, 0, 10, "past-end", 1, "header", NULL);
}

static void
test_merge(void)
{
	static const struct fake_claim	c[] = {
		{ 0, 1 << 20, "data", "L2 table 0", 0 },
		{ 1 << 20, 1 << 20, "data", "L2 table 0", 0 },
		{ 2 << 20, 4096, "data", "L2 table 0", 0x010101 },
		{ 3 << 20, 4096, "data", "L2 table 0", 0 },
		{ (3 << 20) + 4096, 4096, "data", "L2 table 1", 0 },
	};

	/* 65536 claims per entry in, merged on the way. */
	fake_repeat = 65536;
	CU_ASSERT_EQUAL_FATAL(map(4 << 20, c, 5), 0);
	fake_repeat = 0;
	assert_tiles(4 << 20);
	CU_ASSERT_EQUAL(runs.n, 6);
	assert_run(0, 0, 2 << 20, "data", 1, "L2 table 0", NULL);
	assert_run(1, 2 << 20, 4096, "data", 1, "L2 table 0", NULL);
	CU_ASSERT_EQUAL(runs.r[1].ncodes, 1);
	assert_run(2, (2 << 20) + 4096, (1 << 20) - 4096, "free", 0,
	    NULL, NULL);
	assert_run(3, 3 << 20, 4096, "data", 1, "L2 table 0", NULL);
	assert_run(4, (3 << 20) + 4096, 4096, "data", 1, "L2 table 1", NULL);
	assert_run(5, (3 << 20) + 8192, (1 << 20) - 8192, "free", 0,
	    NULL, NULL);

	/* The same claim twice is not sharing; its codes are joined. */
	{
		static const struct fake_claim	d[] = {
			{ 0, 100, "data", "x", 0x030101 },
			{ 0, 100, "data", "x", 0x030102 },
			{ 0, 100, "data", "x", 0 },
		};

		CU_ASSERT_EQUAL_FATAL(map(100, d, 3), 0);
		CU_ASSERT_EQUAL(runs.n, 1);
		assert_run(0, 0, 100, "data", 1, "x", NULL);
		CU_ASSERT_EQUAL(runs.r[0].ncodes, 2);
		CU_ASSERT_EQUAL(runs.r[0].codes[0], 0x030101);
		CU_ASSERT_EQUAL(runs.r[0].codes[1], 0x030102);
	}
}

static void
test_many_owners(void)
{
	static const char		*names[] = { "a", "b", "c", "d", "e",
	    "f", "g", "h", "i", "j", "k" };
	struct fake_claim		 c[11];
	size_t				 i;

	for (i = 0; i < 11; i++) {
		c[i].off = 10;
		c[i].len = 10;
		c[i].cls = "block";
		c[i].owner = names[i];
		c[i].code = 0x040000 + (uint32_t)i;
	}
	CU_ASSERT_EQUAL_FATAL(map(30, c, 11), 0);
	assert_tiles(30);
	CU_ASSERT_EQUAL(runs.n, 3);
	assert_run(1, 10, 10, "shared", 11, "a", "b");
	CU_ASSERT_STRING_EQUAL(runs.r[1].owners[7], "h");
	CU_ASSERT_EQUAL(runs.r[1].ncodes, HMAP_MAX_OWNERS);
	CU_ASSERT_EQUAL(runs.r[1].codes[0], 0x040000);

	/* Same class, owners absent: the owners shown are the classes. */
	c[0].owner = NULL;
	c[0].cls = "tree";
	c[1].owner = NULL;
	c[1].cls = "registry";
	CU_ASSERT_EQUAL_FATAL(map(30, c, 2), 0);
	assert_run(1, 10, 10, "shared", 2, "registry", "tree");
	CU_ASSERT_EQUAL_FATAL(map(30, c, 1), 0);
	assert_run(1, 10, 10, "tree", 0, NULL, NULL);
}

/*
 * Random claims against a byte-by-byte model: every byte gets the class
 * the rules give it, the runs tile the file, and neighbours differ.
 */
#define MODEL_SIZE	3000
#define MODEL_CLAIMS	120

static uint32_t
lcg(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

static void
test_model(void)
{
	static const char		*cls[] = { "data", "l2", "meta" };
	static const char		*own[] = { "o0", "o1", "o2", "o3" };
	static struct fake_claim	 c[MODEL_CLAIMS];
	uint32_t			 seed = 7;
	uint64_t			 b, total;
	size_t				 i, j, round, hits, ndist;
	const struct fake_claim		*first;
	const char			*want;

	for (round = 0; round < 20; round++) {
		for (i = 0; i < MODEL_CLAIMS; i++) {
			c[i].off = lcg(&seed) % (MODEL_SIZE + 200);
			c[i].len = 1 + lcg(&seed) % 90;
			c[i].cls = cls[lcg(&seed) % 3];
			c[i].owner = own[lcg(&seed) % 4];
			c[i].code = lcg(&seed) % 4 == 0 ? 0x030100 : 0;
		}
		CU_ASSERT_EQUAL_FATAL(map(MODEL_SIZE, c, MODEL_CLAIMS), 0);
		assert_tiles(MODEL_SIZE);
		total = 0;
		for (j = 0; j < runs.n; j++) {
			if (runs.r[j].offset >= MODEL_SIZE)
				break;
			total += runs.r[j].length;
			if (j > 0 && strcmp(runs.r[j].cls,
			    runs.r[j - 1].cls) == 0 &&
			    runs.r[j].nowners == runs.r[j - 1].nowners &&
			    runs.r[j].ncodes == runs.r[j - 1].ncodes &&
			    runs.r[j].nowners == 1 && (runs.r[j].owners[0] ==
			    runs.r[j - 1].owners[0] || strcmp(
			    runs.r[j].owners[0], runs.r[j - 1].owners[0]) ==
			    0) && (runs.r[j].ncodes == 0 ||
			    runs.r[j].codes[0] == runs.r[j - 1].codes[0]))
				CU_FAIL("neighbouring runs not merged");
			for (b = runs.r[j].offset; b < runs.r[j].offset +
			    runs.r[j].length; b++) {
				hits = 0;
				ndist = 0;
				first = NULL;
				for (i = 0; i < MODEL_CLAIMS; i++) {
					if (b < c[i].off ||
					    b >= c[i].off + c[i].len)
						continue;
					hits++;
					if (first == NULL) {
						first = &c[i];
						ndist = 1;
					} else if (strcmp(first->cls,
					    c[i].cls) != 0 ||
					    strcmp(first->owner,
					    c[i].owner) != 0)
						ndist = 2;
				}
				want = hits == 0 ? "free" : ndist > 1 ?
				    "shared" : first->cls;
				if (strcmp(want, runs.r[j].cls) != 0) {
					CU_FAIL("byte class differs");
					return;
				}
			}
		}
		CU_ASSERT_EQUAL(total, MODEL_SIZE);
	}
}

static void
test_refused(void)
{
	struct img	img;

	fake_img(&img, 100);
	img.ops = &fake_ops_none;
	CU_ASSERT_EQUAL(img_hostmap(&img, collect, &runs), -IMG_ENOOP);
	fake_img(&img, 100);
	img.unrecognised = true;
	CU_ASSERT_EQUAL(img_hostmap(&img, collect, &runs), -IMG_EFORMAT);
}

static int
stop_early(void *arg, const struct hmap_run *run)
{
	(void)arg;
	(void)run;
	return 77;
}

static void
test_stop(void)
{
	static const struct fake_claim	c[] = {
		{ 0, 10, "header", "header", 0 },
	};
	struct img			img;

	fake_img(&img, 100);
	fake_c = c;
	fake_n = 1;
	CU_ASSERT_EQUAL(img_hostmap(&img, stop_early, NULL), 77);
}

static void
test_extract(void)
{
	static const struct fake_claim	c[] = {
		{ 0, 4096, "header", "header", 0 },
		{ 65536, 4096, "leaked", "cluster 16", 0x010301 },
		{ 1 << 20, 65536, "data", "guest 0x0", 0 },
	};
	char				ipath[64], opath[64];
	uint8_t				*in, *out;
	struct img			img;
	struct stat			st;
	size_t				size = (1 << 20) + 65536 + 512;
	int				ifd, ofd;

	snprintf(ipath, sizeof(ipath), "/tmp/imgkit-hm-XXXXXX");
	snprintf(opath, sizeof(opath), "/tmp/imgkit-hmo-XXXXXX");
	CU_ASSERT_FATAL((ifd = mkstemp(ipath)) >= 0);
	CU_ASSERT_FATAL((ofd = mkstemp(opath)) >= 0);
	in = calloc(1, size);
	out = calloc(1, size);
	CU_ASSERT_FATAL(in != NULL && out != NULL);
	memset(in, 0x11, 4096);			/* header */
	memset(in + 65536, 0x22, 4096);		/* leaked */
	memset(in + 300000, 0x33, 100);		/* free, not zero */
	memset(in + (1 << 20), 0x44, 65536);	/* data */
	memset(in + (1 << 20) + 65536, 0x55, 512); /* free at the end */
	CU_ASSERT_FATAL(fd_pwrite_full(ifd, in, size, 0) == 0);
	fake_img(&img, size);
	img.fd = ifd;
	fake_c = c;
	fake_n = 3;
	CU_ASSERT_EQUAL(hostmap_extract_leaked(&img, ofd, NULL), 0);
	CU_ASSERT_FATAL(fstat(ofd, &st) == 0);
	CU_ASSERT_EQUAL((uint64_t)st.st_size, size);
	CU_ASSERT_FATAL(fd_pread_full(ofd, out, size, 0) == 0);
	memset(in, 0, 4096);			/* not extracted */
	memset(in + (1 << 20), 0, 65536);
	CU_ASSERT(memcmp(in, out, size) == 0);
	free(in);
	free(out);
	close(ifd);
	close(ofd);
	unlink(ipath);
	unlink(opath);
}

int suite_hostmap(void);

int
suite_hostmap(void)
{
	CU_pSuite	s = CU_add_suite("hostmap", NULL, NULL);

	if (s == NULL)
		return -1;
	CU_add_test(s, "overlaps are shared, gaps free", test_overlap_gap);
	CU_add_test(s, "claims past the end of the file", test_past_end);
	CU_add_test(s, "claims and runs are merged", test_merge);
	CU_add_test(s, "more owners than the run holds", test_many_owners);
	CU_add_test(s, "random claims against a byte model", test_model);
	CU_add_test(s, "no hostmap, unrecognised image", test_refused);
	CU_add_test(s, "the callback stops the sweep", test_stop);
	CU_add_test(s, "extract of leaked and free bytes", test_extract);
	return 0;
}
