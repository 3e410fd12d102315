/* SPDX-License-Identifier: MIT */
/*
 * test_sparse_salvage.c --- streams the hostile harness found salvaged
 * into new streams that did not check clean: a meta key of the wrong
 * type kept as it was, and a virtual size past INT64_MAX taken from an
 * extent and written as a negative number.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "core/core.h"
#include "../fixtures/sparse_fix.h"

extern const struct fmt_ops	sparse_ops;

static bool
has_code(const struct report *rp, const char *name)
{
	size_t	i;

	for (i = 0; i < rp->nf; i++)
		if (strcmp(pr_info_get(rp->f[i].id)->name, name) == 0)
			return true;
	return false;
}

/* Salvage f into a new stream; that stream must check clean. */
static void
salvage_clean(const struct sparse_fix *f, const char *what)
{
	struct img_opts	 opts;
	struct report	 rp;
	struct img	*img;
	char		 in[64], out[64], err[256];
	int		 fd, rc;

	snprintf(in, sizeof(in), "/tmp/test_salvage_in_XXXXXX");
	snprintf(out, sizeof(out), "/tmp/test_salvage_out_XXXXXX");
	CU_ASSERT_FATAL((fd = mkstemp(in)) >= 0);
	close(fd);
	CU_ASSERT_FATAL((fd = mkstemp(out)) >= 0);
	close(fd);
	CU_ASSERT_EQUAL_FATAL(sparse_fix_save(f, in), 0);
	memset(&opts, 0, sizeof(opts));
	opts.format = sparse_ops.name;
	CU_ASSERT_EQUAL_FATAL(img_open(in, &opts, &img, err, sizeof(err)), 0);
	report_init(&rp);
	rp.repair = REPAIR_ALL;
	CU_ASSERT_EQUAL(img_repair(img, &rp, out), 0);
	report_release(&rp);
	img_close(img);

	CU_ASSERT_EQUAL_FATAL(img_open(out, &opts, &img, err, sizeof(err)),
	    0);
	report_init(&rp);
	rc = img_check(img, &rp);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_FALSE(has_code(&rp, "sparse-meta-key"));
	if (rp.nf != 0 || rp.c.corruptions != 0 || rp.c.check_errors != 0)
		fprintf(stderr, "\n  salvage of %s: %zu findings, first %s\n",
		    what, rp.nf, rp.nf > 0 ? rp.f[0].msg : "-");
	CU_ASSERT_EQUAL(rp.c.corruptions, 0);
	CU_ASSERT_EQUAL(rp.c.check_errors, 0);
	report_release(&rp);
	img_close(img);
	unlink(in);
	unlink(out);
}

/* "diskFormat": 0 is reported; the salvage must not copy it. */
static void
test_meta_key_type(void)
{
	struct sparse_fix_meta	m;
	struct sparse_fix	f;
	uint8_t			d[4096];

	memset(&m, 0, sizeof(m));
	m.vsize = 65536;
	m.dsize = sizeof(d);
	m.json = "{\"virtualSize\": 65536, \"dataSize\": 4096, "
	    "\"date\": \"2026-01-01\", \"diskName\": \"vda\", "
	    "\"diskFormat\": 0, \"checkpointName\": \"c0\", "
	    "\"compressed\": false, \"compressionMethod\": \"lz4\", "
	    "\"parentCheckpoint\": \"\", \"incremental\": false, "
	    "\"streamVersion\": 2}";
	memset(d, 0x5a, sizeof(d));
	CU_ASSERT_EQUAL_FATAL(sparse_fix_begin(&f, -1, &m, 0), 0);
	CU_ASSERT_EQUAL(sparse_fix_data(&f, 0, d, sizeof(d)), 0);
	CU_ASSERT_EQUAL(sparse_fix_zero(&f, sizeof(d), 65536 - sizeof(d)), 0);
	CU_ASSERT_EQUAL_FATAL(sparse_fix_end(&f), 0);
	salvage_clean(&f, "diskFormat 0");
	sparse_fix_release(&f);
}

/*
 * No usable meta (its length is not hex) and a zero extent at 2^63: the
 * virtual size comes from the extents and must stay a JSON int64.
 */
static void
test_vsize_past_int64(void)
{
	struct sparse_fix	f;
	size_t			i;

	CU_ASSERT_EQUAL_FATAL(sparse_fix_std(&f, true, false, 16384), 0);
	sparse_fix_poke(&f, 22, "000000000000008+", 16);
	for (i = 0; i < f.nfr && f.fr[i].kind != 'z'; i++)
		;
	CU_ASSERT_FATAL(i < f.nfr);
	sparse_fix_hdr(&f, f.fr[i].off, "zero", UINT64_C(1) << 63,
	    f.fr[i].len);
	salvage_clean(&f, "zero extent at 2^63");
	sparse_fix_release(&f);
}

int suite_sparse_salvage(void);

int
suite_sparse_salvage(void)
{
	CU_pSuite	s = CU_add_suite("sparse_salvage", NULL, NULL);

	if (s == NULL)
		return -1;
	CU_add_test(s, "a meta key of the wrong type", test_meta_key_type);
	CU_add_test(s, "a virtual size past INT64_MAX",
	    test_vsize_past_int64);
	return 0;
}
