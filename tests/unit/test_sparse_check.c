/* SPDX-License-Identifier: MIT */
/*
 * test_sparse_check.c --- sparse streams from the fixture writer: clean
 * streams check clean, every defect of the fixture's table gives its
 * exact problem code and exit status, restores give the disk back, and
 * salvaged streams check clean.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <json-c/json.h>

#include "core/core.h"
#include "sparse/sparse.h"
#include "../fixtures/sparse_fix.h"

extern const struct fmt_ops	sparse_ops;

static char	path[64];

/* Save f to a fresh temporary file (path) and open it as a stream. */
static int
fix_open(const struct sparse_fix *f, struct img **img)
{
	struct img_opts	opts;
	char		err[256];
	int		fd;

	snprintf(path, sizeof(path), "/tmp/test_sparse_XXXXXX");
	if ((fd = mkstemp(path)) < 0)
		return -1;
	close(fd);
	if (sparse_fix_save(f, path) != 0)
		return -1;
	memset(&opts, 0, sizeof(opts));
	opts.format = sparse_ops.name;
	return img_open(path, &opts, img, err, sizeof(err));
}

/* imgcheck's exit status for a finished check. */
static int
exit_of(const struct report *rp, int rc)
{
	if (rc != 0 || rp->c.check_errors > 0)
		return 1;
	if (rp->c.corruptions > 0)
		return 2;
	return rp->c.leaks > 0 ? 3 : 0;
}

static bool
has_code(const struct report *rp, const char *name)
{
	size_t	i;

	for (i = 0; i < rp->nf; i++)
		if (strcmp(pr_info_get(rp->f[i].id)->name, name) == 0)
			return true;
	return false;
}

/* Check f; returns the exit status, rp filled (caller releases). */
static int
check_fix(const struct sparse_fix *f, struct report *rp)
{
	struct img	*img;
	int		 rc;

	report_init(rp);
	if (fix_open(f, &img) != 0) {
		unlink(path);
		return -1;
	}
	rc = img_check(img, rp);
	img_close(img);
	unlink(path);
	return exit_of(rp, rc);
}

static void
test_clean(void)
{
	static const struct {
		bool		comp, inc;
		uint64_t	chunk;
	} cases[] = {
		{ false, false, 0 }, { true, false, 0 }, { true, false, 16384 },
		{ false, true, 0 }, { true, true, 0 }
	};
	struct sparse_fix	f;
	struct report		rp;
	size_t			i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CU_ASSERT_EQUAL_FATAL(sparse_fix_std(&f, cases[i].comp,
		    cases[i].inc, cases[i].chunk), 0);
		CU_ASSERT_EQUAL(check_fix(&f, &rp), 0);
		CU_ASSERT_EQUAL(rp.nf, 0);
		report_release(&rp);
		sparse_fix_release(&f);
	}
}

static void
test_legacy(void)
{
	struct sparse_fix_meta	m;
	struct sparse_fix	f;
	struct report		rp;
	uint8_t			d[4096];

	memset(&m, 0, sizeof(m));
	memset(d, 7, sizeof(d));
	m.vsize = 8192;
	m.dsize = 4096;
	m.version = 1;
	CU_ASSERT_EQUAL_FATAL(sparse_fix_begin(&f, -1, &m, 0), 0);
	sparse_fix_data(&f, 0, d, sizeof(d));
	sparse_fix_zero(&f, 4096, 4096);
	CU_ASSERT_EQUAL_FATAL(sparse_fix_end(&f), 0);
	CU_ASSERT_EQUAL(check_fix(&f, &rp), 0);
	CU_ASSERT_EQUAL(rp.nf, 0);
	report_release(&rp);
	sparse_fix_release(&f);
}

/* Every defect of the fixture table, by exact code and exit status. */
static void
test_defects(void)
{
	const struct sparse_fix_defect	*d;
	struct sparse_fix		 f;
	struct report			 rp;
	int				 ex, n = 0;

	for (d = sparse_fix_defects; d->name != NULL; d++) {
		CU_ASSERT_EQUAL_FATAL(d->make(&f), 0);
		ex = check_fix(&f, &rp);
		if (!has_code(&rp, d->code) || ex != d->exit)
			fprintf(stderr, "\n  defect %s: exit %d, want %s exit "
			    "%d\n", d->name, ex, d->code, d->exit);
		CU_ASSERT_TRUE(has_code(&rp, d->code));
		CU_ASSERT_EQUAL(ex, d->exit);
		report_release(&rp);
		sparse_fix_release(&f);
		n++;
	}
	CU_ASSERT_TRUE(n >= 25);
}

/* A trailer of a million elements: findings, bounded work, no crash. */
static void
test_hostile_trailer(void)
{
	struct sparse_fix	 f;
	struct report		 rp;
	char			*t;
	size_t			 i, n = 1000000;

	CU_ASSERT_EQUAL_FATAL(sparse_fix_std(&f, true, false, 0), 0);
	t = malloc(n * 3 + 2);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	t[0] = '[';
	for (i = 0; i < n; i++)
		memcpy(t + 1 + 3 * i, i + 1 < n ? "1, " : "1]\0", 3);
	CU_ASSERT_EQUAL(sparse_fix_set_trailer(&f, t), 0);
	free(t);
	CU_ASSERT_EQUAL(check_fix(&f, &rp), 2);
	CU_ASSERT_TRUE(has_code(&rp, "sparse-lz4-payload-size"));
	report_release(&rp);
	sparse_fix_release(&f);
}

/* A chksum file beside the stream: match, mismatch, unusable. */
static void
test_chksum(void)
{
	static const struct {
		const char	*text;
		const char	*code;
		int		 exit;
	} cases[] = {
		{ NULL, "sparse-chksum-ok", 0 },
		{ "12345", "sparse-chksum-mismatch", 2 },
		{ "None", "sparse-chksum-unusable", 0 },
	};
	struct sparse_fix	 f;
	struct report		 rp;
	struct img		*img;
	char			 cpath[96], num[32];
	FILE			*fp;
	size_t			 i;
	int			 rc;

	CU_ASSERT_EQUAL_FATAL(sparse_fix_std(&f, false, false, 0), 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		report_init(&rp);
		CU_ASSERT_EQUAL_FATAL(fix_open(&f, &img), 0);
		snprintf(cpath, sizeof(cpath), "%s.chksum", path);
		snprintf(num, sizeof(num), "%s", cases[i].text);
		if (cases[i].text == NULL) {
			/* zlib's adler32 of the bytes, computed by hand */
			uint32_t	a = 1, b = 0;
			size_t		k;

			for (k = 0; k < f.len; k++) {
				a = (a + f.buf[k]) % 65521;
				b = (b + a) % 65521;
			}
			snprintf(num, sizeof(num), "%u", b << 16 | a);
		}
		fp = fopen(cpath, "w");
		CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
		fputs(num, fp);
		fclose(fp);
		rc = img_check(img, &rp);
		CU_ASSERT_TRUE(has_code(&rp, cases[i].code));
		CU_ASSERT_EQUAL(exit_of(&rp, rc), cases[i].exit);
		img_close(img);
		unlink(cpath);
		unlink(path);
		report_release(&rp);
	}
	sparse_fix_release(&f);
}

/* Extract f onto fd; 0 or the error. */
static int
extract_fix(const struct sparse_fix *f, int fd)
{
	struct report	 rp;
	struct img	*img;
	int		 rc;

	report_init(&rp);
	if (fix_open(f, &img) != 0)
		return -1;
	rc = img_extract(img, NULL, fd, &rp);
	CU_ASSERT_EQUAL(rp.nf, 0);
	img_close(img);
	unlink(path);
	report_release(&rp);
	return rc;
}

static void
test_extract(void)
{
	static const bool	comp[] = { false, true };
	struct sparse_fix	f;
	uint8_t			*want, *got;
	char			 opath[64];
	size_t			 i;
	int			 fd;

	want = malloc(SPARSE_FIX_STD_SIZE);
	got = malloc(SPARSE_FIX_STD_SIZE);
	CU_ASSERT_PTR_NOT_NULL_FATAL(want);
	CU_ASSERT_PTR_NOT_NULL_FATAL(got);
	for (i = 0; i < 2; i++) {
		snprintf(opath, sizeof(opath), "/tmp/test_sparse_out_XXXXXX");
		fd = mkstemp(opath);
		CU_ASSERT_FATAL(fd >= 0);
		CU_ASSERT_EQUAL_FATAL(sparse_fix_std(&f, comp[i], false,
		    comp[i] ? 16384 : 0), 0);
		CU_ASSERT_EQUAL(extract_fix(&f, fd), 0);
		sparse_fix_release(&f);
		sparse_fix_std_disk(want, false);
		CU_ASSERT_EQUAL(pread(fd, got, SPARSE_FIX_STD_SIZE, 0),
		    (ssize_t)SPARSE_FIX_STD_SIZE);
		CU_ASSERT_EQUAL(memcmp(want, got, SPARSE_FIX_STD_SIZE), 0);
		/* The incremental on top gives the disk after it. */
		CU_ASSERT_EQUAL_FATAL(sparse_fix_std(&f, comp[i], true, 0), 0);
		CU_ASSERT_EQUAL(extract_fix(&f, fd), 0);
		sparse_fix_release(&f);
		sparse_fix_std_disk(want, true);
		CU_ASSERT_EQUAL(pread(fd, got, SPARSE_FIX_STD_SIZE, 0),
		    (ssize_t)SPARSE_FIX_STD_SIZE);
		CU_ASSERT_EQUAL(memcmp(want, got, SPARSE_FIX_STD_SIZE), 0);
		close(fd);
		unlink(opath);
	}
	free(want);
	free(got);
}

static int
count_map(void *arg, const struct map_ext *e)
{
	uint64_t	*n = arg;

	n[0]++;
	n[1] += e->length;
	n[2] += e->data ? e->length : 0;
	return 0;
}

static void
test_map_info(void)
{
	struct sparse_fix	 f;
	struct img		*img;
	struct json_object	*o, *v;
	uint64_t		 n[3] = { 0, 0, 0 };

	CU_ASSERT_EQUAL_FATAL(sparse_fix_std(&f, true, false, 0), 0);
	CU_ASSERT_EQUAL_FATAL(fix_open(&f, &img), 0);
	CU_ASSERT_EQUAL(img_map(img, count_map, n), 0);
	CU_ASSERT_EQUAL(n[0], 5);
	CU_ASSERT_EQUAL(n[1], SPARSE_FIX_STD_SIZE);
	CU_ASSERT_EQUAL(n[2], SPARSE_FIX_STD_DATA);
	CU_ASSERT_EQUAL_FATAL(img_info(img, &o), 0);
	CU_ASSERT_TRUE(json_object_object_get_ex(o, "virtual-size", &v) &&
	    json_object_get_int64(v) == SPARSE_FIX_STD_SIZE);
	CU_ASSERT_TRUE(json_object_object_get_ex(o, "backup-kind", &v) &&
	    strcmp(json_object_get_string(v), "full") == 0);
	CU_ASSERT_TRUE(json_object_object_get_ex(o, "compressed", &v) &&
	    json_object_get_boolean(v));
	json_object_put(o);
	img_close(img);
	unlink(path);
	sparse_fix_release(&f);
}

/* Salvage every defect; the new stream must check clean. */
static void
test_salvage(void)
{
	const struct sparse_fix_defect	*d;
	struct sparse_fix		 f;
	struct report			 rp, rp2;
	struct img			*img;
	struct img_opts			 opts;
	char				 opath[64], err[128];
	int				 fd, rc, ex;

	for (d = sparse_fix_defects; d->name != NULL; d++) {
		CU_ASSERT_EQUAL_FATAL(d->make(&f), 0);
		CU_ASSERT_EQUAL_FATAL(fix_open(&f, &img), 0);
		snprintf(opath, sizeof(opath), "/tmp/test_sparse_salv_XXXXXX");
		fd = mkstemp(opath);
		CU_ASSERT_FATAL(fd >= 0);
		close(fd);
		report_init(&rp);
		rp.repair = REPAIR_ALL;
		rc = img_repair(img, &rp, opath);
		img_close(img);
		unlink(path);
		/*
		 * Nothing in these says "sparse stream", and their name does
		 * not either: forced, they are checked but not salvaged, and
		 * the target is left as it was (empty, from mkstemp).
		 */
		if (strcmp(d->name, "empty") == 0 ||
		    strcmp(d->name, "nuls40") == 0 ||
		    strcmp(d->name, "meta-missing") == 0) {
			struct stat	st;

			CU_ASSERT_EQUAL(rc, -IMG_EFORMAT);
			CU_ASSERT_EQUAL(stat(opath, &st), 0);
			CU_ASSERT_EQUAL(st.st_size, 0);
			unlink(opath);
			report_release(&rp);
			sparse_fix_release(&f);
			continue;
		}
		CU_ASSERT_EQUAL(rc, 0);
		memset(&opts, 0, sizeof(opts));
		opts.format = sparse_ops.name;
		report_init(&rp2);
		CU_ASSERT_EQUAL_FATAL(img_open(opath, &opts, &img, err,
		    sizeof(err)), 0);
		rc = img_check(img, &rp2);
		ex = exit_of(&rp2, rc);
		if (ex != 0 || rp2.nf != 0)
			fprintf(stderr, "\n  salvage of %s: exit %d, %zu "
			    "findings\n", d->name, ex, rp2.nf);
		CU_ASSERT_EQUAL(ex, 0);
		img_close(img);
		unlink(opath);
		report_release(&rp);
		report_release(&rp2);
		sparse_fix_release(&f);
	}
}

static void
test_salvage_restores(void)
{
	struct sparse_fix	 f;
	struct report		 rp;
	struct img		*img;
	struct img_opts		 opts;
	uint8_t			*want, *got;
	char			 opath[64], rpath[64], err[128];
	int			 fd, rfd;

	/* A bad header terminator: the frame is kept, the disk whole. */
	CU_ASSERT_EQUAL_FATAL(sparse_fix_defect_find("term-bad")->make(&f),
	    0);
	CU_ASSERT_EQUAL_FATAL(fix_open(&f, &img), 0);
	snprintf(opath, sizeof(opath), "/tmp/test_sparse_salv_XXXXXX");
	fd = mkstemp(opath);
	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
	report_init(&rp);
	rp.repair = REPAIR_ALL;
	CU_ASSERT_EQUAL(img_repair(img, &rp, opath), 0);
	CU_ASSERT_FALSE(has_code(&rp, "sparse-salvage-lost"));
	report_release(&rp);
	img_close(img);
	unlink(path);
	sparse_fix_release(&f);
	memset(&opts, 0, sizeof(opts));
	CU_ASSERT_EQUAL_FATAL(img_open(opath, &opts, &img, err, sizeof(err)),
	    0);
	snprintf(rpath, sizeof(rpath), "/tmp/test_sparse_raw_XXXXXX");
	rfd = mkstemp(rpath);
	CU_ASSERT_FATAL(rfd >= 0);
	report_init(&rp);
	CU_ASSERT_EQUAL(img_extract(img, NULL, rfd, &rp), 0);
	report_release(&rp);
	img_close(img);
	want = malloc(SPARSE_FIX_STD_SIZE);
	got = malloc(SPARSE_FIX_STD_SIZE);
	CU_ASSERT_PTR_NOT_NULL_FATAL(want);
	CU_ASSERT_PTR_NOT_NULL_FATAL(got);
	sparse_fix_std_disk(want, false);
	CU_ASSERT_EQUAL(pread(rfd, got, SPARSE_FIX_STD_SIZE, 0),
	    (ssize_t)SPARSE_FIX_STD_SIZE);
	CU_ASSERT_EQUAL(memcmp(want, got, SPARSE_FIX_STD_SIZE), 0);
	close(rfd);
	unlink(rpath);
	unlink(opath);
	free(want);
	free(got);

	/* Damaged lz4 data: the range is lost and reported. */
	CU_ASSERT_EQUAL_FATAL(sparse_fix_defect_find("lz4-damage")->make(&f),
	    0);
	CU_ASSERT_EQUAL_FATAL(fix_open(&f, &img), 0);
	fd = open(opath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
	report_init(&rp);
	rp.repair = REPAIR_ALL;
	CU_ASSERT_EQUAL(img_repair(img, &rp, opath), 0);
	CU_ASSERT_TRUE(has_code(&rp, "sparse-salvage-lost"));
	report_release(&rp);
	/* Never in place. */
	report_init(&rp);
	rp.repair = REPAIR_ALL;
	CU_ASSERT_EQUAL(img_repair(img, &rp, NULL), -IMG_EUNSUP);
	report_release(&rp);
	img_close(img);
	unlink(path);
	unlink(opath);
	sparse_fix_release(&f);
}

static void
test_chain(void)
{
	struct sparse_fix	 f[2];
	struct img		*imgs[2];
	struct report		 rp;
	char			 paths[2][64];
	int			 i, rc;

	CU_ASSERT_EQUAL_FATAL(sparse_fix_std(&f[0], false, false, 0), 0);
	CU_ASSERT_EQUAL_FATAL(sparse_fix_std(&f[1], true, true, 0), 0);
	for (i = 0; i < 2; i++) {
		CU_ASSERT_EQUAL_FATAL(fix_open(&f[i], &imgs[i]), 0);
		memcpy(paths[i], path, sizeof(path));
	}
	report_init(&rp);
	rc = img_check_chain(imgs, 2, &rp);
	CU_ASSERT_EQUAL(exit_of(&rp, rc), 0);
	report_release(&rp);
	/* Reversed: an incremental first, a full after it. */
	{
		struct img	*rev[2] = { imgs[1], imgs[0] };

		report_init(&rp);
		rc = img_check_chain(rev, 2, &rp);
		CU_ASSERT_EQUAL(exit_of(&rp, rc), 2);
		CU_ASSERT_TRUE(has_code(&rp, "sparse-chain-first"));
		CU_ASSERT_TRUE(has_code(&rp, "sparse-chain-kind"));
		report_release(&rp);
	}
	for (i = 0; i < 2; i++) {
		img_close(imgs[i]);
		unlink(paths[i]);
		sparse_fix_release(&f[i]);
	}
	/* A parent that is not the previous checkpoint. */
	CU_ASSERT_EQUAL_FATAL(sparse_fix_std(&f[0], false, false, 0), 0);
	{
		struct sparse_fix_meta	m;
		uint8_t			d[4096];

		memset(&m, 0, sizeof(m));
		memset(d, 1, sizeof(d));
		m.vsize = 2 * SPARSE_FIX_STD_SIZE;
		m.dsize = 4096;
		m.incremental = true;
		m.checkpoint = "virtnbdbackup.2";
		m.parent = "virtnbdbackup.1";
		CU_ASSERT_EQUAL_FATAL(sparse_fix_begin(&f[1], -1, &m, 0), 0);
		sparse_fix_data(&f[1], 0, d, sizeof(d));
		CU_ASSERT_EQUAL_FATAL(sparse_fix_end(&f[1]), 0);
	}
	for (i = 0; i < 2; i++) {
		CU_ASSERT_EQUAL_FATAL(fix_open(&f[i], &imgs[i]), 0);
		memcpy(paths[i], path, sizeof(path));
	}
	report_init(&rp);
	rc = img_check_chain(imgs, 2, &rp);
	CU_ASSERT_EQUAL(exit_of(&rp, rc), 2);
	CU_ASSERT_TRUE(has_code(&rp, "sparse-chain-parent"));
	CU_ASSERT_TRUE(has_code(&rp, "sparse-chain-size"));
	report_release(&rp);
	for (i = 0; i < 2; i++) {
		img_close(imgs[i]);
		unlink(paths[i]);
		sparse_fix_release(&f[i]);
	}
}

static void
test_probe(void)
{
	struct img_probe	p;
	const uint8_t		*hdr = (const uint8_t *)
	    "meta 0000000000000000 0000000000000140\r\n";

	memset(&p, 0, sizeof(p));
	p.buf = hdr;
	p.len = SPARSE_HDR_LEN;
	p.file_size = 78432;
	CU_ASSERT_EQUAL(sparse_ops.probe(&p), 100);
	p.buf = (const uint8_t *)"QFI\xfb";
	p.len = 4;
	CU_ASSERT_EQUAL(sparse_ops.probe(&p), 0);
	p.name = "vda.full.data";
	p.len = 0;
	p.file_size = 0;
	CU_ASSERT_TRUE(sparse_ops.probe(&p) > 0);
	p.name = "disk.raw";
	CU_ASSERT_EQUAL(sparse_ops.probe(&p), 0);
}

int suite_sparse_check(void);

int
suite_sparse_check(void)
{
	CU_pSuite	s = CU_add_suite("sparse_check", NULL, NULL);

	if (s == NULL)
		return -1;
	CU_add_test(s, "probe", test_probe);
	CU_add_test(s, "clean streams", test_clean);
	CU_add_test(s, "stream version 1", test_legacy);
	CU_add_test(s, "one defect at a time", test_defects);
	CU_add_test(s, "a million trailer elements", test_hostile_trailer);
	CU_add_test(s, ".chksum", test_chksum);
	CU_add_test(s, "extract and chains of restores", test_extract);
	CU_add_test(s, "map and info", test_map_info);
	CU_add_test(s, "salvage checks clean", test_salvage);
	CU_add_test(s, "salvage keeps data, reports loss",
	    test_salvage_restores);
	CU_add_test(s, "chains", test_chain);
	return 0;
}
