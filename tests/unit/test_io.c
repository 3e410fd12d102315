/* SPDX-License-Identifier: MIT */
/*
 * test_io.c --- the image file layer: bounded reads, zero fill past EOF,
 * refused writes on read-only images, the undo file and its replay,
 * format detection.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "core/core.h"
#include "fixtures/qcow2_fix.h"

static char	tpath[64], tundo[80];

static void
mkimage(void)
{
	struct qcow2_fix	f;
	int			fd;

	snprintf(tpath, sizeof(tpath), "/tmp/imgkit-io-XXXXXX");
	fd = mkstemp(tpath);
	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
	CU_ASSERT_FATAL(qcow2_fix_init(&f, 3, 16, 4, 64 << 20, false) == 0);
	CU_ASSERT_FATAL(qcow2_fix_write(&f, 0, 0x5a) != 0);
	CU_ASSERT_FATAL(qcow2_fix_save(&f, tpath) == 0);
	qcow2_fix_release(&f);
	snprintf(tundo, sizeof(tundo), "%s.undo", tpath);
	unlink(tundo);
}

static void
test_reads(void)
{
	struct img	*img;
	uint8_t		 b[16];
	size_t		 got = 99;

	mkimage();
	CU_ASSERT_FATAL(img_open(tpath, NULL, &img, NULL, 0) == 0);
	CU_ASSERT_STRING_EQUAL(img_format(img), "qcow2");	/* probed */
	CU_ASSERT_EQUAL(img_file_size(img), 6 * 65536);
	CU_ASSERT_EQUAL(img_pread(img, 0x50000, b, 4), 0);
	CU_ASSERT_EQUAL(b[0], 0x5a);
	/* Past the end, or wrapping: refused, nothing read. */
	CU_ASSERT_EQUAL(img_pread(img, 6 * 65536 - 2, b, 4), -IMG_ERANGE);
	CU_ASSERT_EQUAL(img_pread(img, UINT64_MAX - 1, b, 4), -IMG_ERANGE);
	/* Zero fill reads what exists and zeros the rest. */
	memset(b, 0xff, sizeof(b));
	CU_ASSERT_EQUAL(img_pread_zf(img, 6 * 65536 - 2, b, 8, &got), 0);
	CU_ASSERT_EQUAL(got, 2);
	CU_ASSERT_EQUAL(b[2], 0);
	CU_ASSERT_EQUAL(b[7], 0);
	CU_ASSERT_EQUAL(img_pread_zf(img, 1ULL << 50, b, 8, &got), 0);
	CU_ASSERT_EQUAL(got, 0);
	/* Cache-only reads: the same bytes and zero fill, or -EAGAIN. */
	{
		uint8_t	c[16];
		int	rc;

		CU_ASSERT_EQUAL(img_pread_zf(img, 6 * 65536 - 2, b, 8, NULL),
		    0);
		memset(c, 0xff, sizeof(c));
		rc = img_pread_cached(img, 6 * 65536 - 2, c, 8);
		CU_ASSERT(rc == 0 || rc == -EAGAIN);
		if (rc == 0) {
			CU_ASSERT_EQUAL(memcmp(c, b, 8), 0);
		}
		/* Just read: in the page cache, so no -EAGAIN. */
		memset(c, 0xff, sizeof(c));
		(void)img_pread(img, 0x50000, b, 4);
		CU_ASSERT_EQUAL(img_pread_cached(img, 0x50000, c, 4), 0);
		CU_ASSERT_EQUAL(memcmp(c, b, 4), 0);
		CU_ASSERT_EQUAL(img_pread_cached(img, 1ULL << 50, c, 8), 0);
		CU_ASSERT_EQUAL(c[0], 0);
		CU_ASSERT_EQUAL(c[7], 0);
		img_scattered(img, true);
		CU_ASSERT_EQUAL(img_pread(img, 0x50000, c, 4), 0);
		CU_ASSERT_EQUAL(c[0], 0x5a);
		img_scattered(img, false);
	}
	/* A view: no copy, the same bytes, and the same bounds. */
	{
		struct img_view	v;

		/* A new view starts empty (img_view() reuses its buffer). */
		memset(&v, 0, sizeof(v));
		CU_ASSERT_EQUAL(img_view(img, 0x50001, 3, &v), 0);
		CU_ASSERT_EQUAL(v.len, 3);
		CU_ASSERT_EQUAL(v.p[0], 0x5a);
		img_view_release(&v);
		CU_ASSERT_EQUAL(img_view(img, 6 * 65536 - 2, 4, &v),
		    -IMG_ERANGE);
		CU_ASSERT_PTR_NULL(v.map);
		img_view_release(&v);
	}
	/* Read-only: every write is refused. */
	CU_ASSERT_EQUAL(img_pwrite(img, 0, b, 1), -IMG_ERDONLY);
	CU_ASSERT_EQUAL(img_truncate(img, 0), -IMG_ERDONLY);
	img_close(img);
	unlink(tpath);
}

static void
test_undo(void)
{
	struct img_opts	 o = { .format = "qcow2", .flags = IMG_RDWR };
	struct img	*img;
	uint8_t		 b[4] = { 1, 2, 3, 4 }, r[4];
	char		 err[128];
	FILE		*fp;

	mkimage();
	o.undo_path = tundo;
	CU_ASSERT_FATAL(img_open(tpath, &o, &img, err, sizeof(err)) == 0);
	CU_ASSERT_EQUAL(access(tundo, F_OK), -1);	/* not before a write */
	CU_ASSERT_EQUAL(img_pwrite(img, 0x50000, b, 4), 0);
	CU_ASSERT_EQUAL(img_pwrite(img, 0x50002, b, 4), 0);	/* overlaps */
	CU_ASSERT_EQUAL(img_truncate(img, 0x40000), 0);
	img_close(img);
	CU_ASSERT_EQUAL(access(tundo, F_OK), 0);
	/* An existing undo file is refused at open, before any write. */
	CU_ASSERT(img_open(tpath, &o, &img, err, sizeof(err)) < 0);
	/* Replay: every byte and the length come back. */
	CU_ASSERT_EQUAL(img_undo_apply(tpath, tundo, err, sizeof(err)),
	    0);
	fp = fopen(tpath, "rb");
	CU_ASSERT_FATAL(fp != NULL);
	CU_ASSERT_EQUAL(fseek(fp, 0, SEEK_END), 0);
	CU_ASSERT_EQUAL(ftell(fp), 6 * 65536);
	CU_ASSERT_EQUAL(fseek(fp, 0x50000, SEEK_SET), 0);
	CU_ASSERT_EQUAL(fread(r, 1, 4, fp), 4);
	CU_ASSERT(r[0] == 0x5a && r[1] == 0x5a && r[2] == 0x5a && r[3] == 0x5a);
	fclose(fp);
	/* A truncated undo file is refused whole. */
	CU_ASSERT_EQUAL(truncate(tundo, 20), 0);
	CU_ASSERT(img_undo_apply(tpath, tundo, err, sizeof(err)) < 0);
	unlink(tundo);
	unlink(tpath);
}

static void
test_detect(void)
{
	struct img	*img;
	char		 path[] = "/tmp/imgkit-io-XXXXXX", err[128];
	int		 fd = mkstemp(path);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(write(fd, "hello, this is not an image\n", 28), 28);
	close(fd);
	/* No format claims it: raw, as QEMU probes it (test_raw.c). */
	CU_ASSERT_FATAL(img_open(path, NULL, &img, err, sizeof(err)) == 0);
	CU_ASSERT_STRING_EQUAL(img_format(img), "raw");
	img_close(img);
	unlink(path);
	CU_ASSERT(img_open("/nonexistent/x", NULL, &img, err, sizeof(err)) <
	    0);
	CU_ASSERT(img_open("/tmp", NULL, &img, err, sizeof(err)) < 0);
	CU_ASSERT(img_format_known("qcow2"));
	CU_ASSERT(img_format_has_check("qed"));
	CU_ASSERT(!img_format_known("vmdk"));
	CU_ASSERT_STRING_EQUAL(img_strerror(-IMG_ERANGE),
	    "offset beyond the end of the file");
}

int suite_io(void);

/*
 * The file shrinks after open, as when another program truncates it while
 * we check: the reads that now fall past its end give an error or a
 * finding, never SIGBUS (which would end this runner).
 */
static void
test_shrink(void)
{
	struct qcow2_fix	 f;
	struct report		 rp;
	struct img		*img;
	uint64_t		 g;
	int			 fd, rc;

	snprintf(tpath, sizeof(tpath), "/tmp/imgkit-io-XXXXXX");
	fd = mkstemp(tpath);
	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
	CU_ASSERT_FATAL(qcow2_fix_init(&f, 3, 16, 4, 1ULL << 30, false) == 0);
	for (g = 0; g < 64; g++)
		CU_ASSERT_FATAL(qcow2_fix_write(&f, g << 24, 0x11) != 0);
	CU_ASSERT_FATAL(qcow2_fix_save(&f, tpath) == 0);
	qcow2_fix_release(&f);
	CU_ASSERT_FATAL(img_open(tpath, NULL, &img, NULL, 0) == 0);
	CU_ASSERT_FATAL(truncate(tpath, (off_t)(img_file_size(img) / 4)) == 0);
	report_init(&rp);
	rc = img_check(img, &rp);
	CU_ASSERT_TRUE(rc != 0 || rp.c.check_errors > 0 ||
	    rp.c.corruptions > 0);
	report_release(&rp);
	img_close(img);
	unlink(tpath);
}

int
suite_io(void)
{
	CU_pSuite	s = CU_add_suite("io", NULL, NULL);

	if (s == NULL)
		return -1;
	CU_add_test(s, "bounded reads", test_reads);
	CU_add_test(s, "undo file and replay", test_undo);
	CU_add_test(s, "format detection and errors", test_detect);
	CU_add_test(s, "file shrinks during a check", test_shrink);
	return 0;
}
