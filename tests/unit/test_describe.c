/* SPDX-License-Identifier: MIT */
/*
 * test_describe.c --- img_describe(), img_finding_entry() and the entry
 * img_check() adds to findings, on qcow2 and QED images built by the
 * fixture writers: header fields, table entries with their targets, the
 * host map's hint for tables only a walk finds, and the entry holding a
 * bad pointer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "libcore.h"
#include "fixtures/qcow2_fix.h"
#include "fixtures/qed_fix.h"

/* Save the image in buf/len to a temporary file and open it. */
static struct img *
open_tmp(int (*save)(const void *, const char *), const void *f,
    const char *fmt)
{
	struct img_opts	 o;
	struct img	*img = NULL;
	char		 path[64], err[256];
	int		 fd;

	snprintf(path, sizeof(path), "/tmp/test_describe_XXXXXX");
	if ((fd = mkstemp(path)) < 0)
		return NULL;
	close(fd);
	memset(&o, 0, sizeof(o));
	o.format = fmt;
	if (save(f, path) == 0 && img_open(path, &o, &img, err,
	    sizeof(err)) != 0)
		img = NULL;
	unlink(path);
	return img;
}

static int
save_qcow2(const void *f, const char *path)
{
	return qcow2_fix_save(f, path);
}

static int
save_qed(const void *f, const char *path)
{
	return qed_fix_save(f, path);
}

/*
 * 64 KiB clusters, 16-bit refcounts: header 0, refcount table 0x10000,
 * refcount block 0x20000, L1 0x30000, L2 0x40000, data 0x50000 (guest
 * 0) and 0x60000 (guest 1 MiB).
 */
static struct img *
qcow2_img(uint64_t l2e16)
{
	struct qcow2_fix	 f;
	struct img		*img;

	if (qcow2_fix_init(&f, 3, 16, 4, 64ULL << 20, false) != 0)
		return NULL;
	if (qcow2_fix_write(&f, 0, 0x11) == 0 ||
	    qcow2_fix_write(&f, 1ULL << 20, 0x22) == 0) {
		qcow2_fix_release(&f);
		return NULL;
	}
	if (l2e16 != 0)
		qcow2_fix_l2_set(&f, 0, 16, 0, l2e16);
	img = open_tmp(save_qcow2, &f, "qcow2");
	qcow2_fix_release(&f);
	return img;
}

static void
test_qcow2_header(void)
{
	struct img		*img = qcow2_img(0);
	struct img_field	 f;

	CU_ASSERT_FATAL(img != NULL);
	CU_ASSERT_EQUAL(img_describe(img, 2, NULL, &f), 0);
	CU_ASSERT_STRING_EQUAL(f.name, "header.magic");
	CU_ASSERT(f.has_value && f.value == 0x514649fb);
	CU_ASSERT(f.off == 0 && f.len == 4);
	CU_ASSERT_FALSE(f.has_target);
	CU_ASSERT_EQUAL(img_describe(img, 44, NULL, &f), 0);
	CU_ASSERT_STRING_EQUAL(f.name, "header.l1_table_offset");
	CU_ASSERT(f.off == 40 && f.len == 8);
	CU_ASSERT(f.has_target && f.target == 0x30000);
	CU_ASSERT_EQUAL(img_describe(img, 20, NULL, &f), 0);
	CU_ASSERT_STRING_EQUAL(f.name, "header.cluster_bits");
	CU_ASSERT_STRING_EQUAL(f.meaning, "65536-byte clusters");
	img_close(img);
}

static void
test_qcow2_tables(void)
{
	struct img		*img = qcow2_img(0);
	struct img_where	 w = { "l2", "active L1[0]", 0x40000, 0x10000 };
	struct img_where	 d = { "data", "x", 0x50000, 0x10000 };
	struct img_field	 f;

	CU_ASSERT_FATAL(img != NULL);
	/* The L1 table: where the header says. */
	CU_ASSERT_EQUAL(img_describe(img, 0x30003, NULL, &f), 0);
	CU_ASSERT_STRING_EQUAL(f.name, "L1[0]");
	CU_ASSERT(f.off == 0x30000 && f.len == 8);
	CU_ASSERT(f.has_target && f.target == 0x40000);
	/* The refcount table and a refcount block, found without a hint. */
	CU_ASSERT_EQUAL(img_describe(img, 0x10000, NULL, &f), 0);
	CU_ASSERT_STRING_EQUAL(f.name, "reftable[0]");
	CU_ASSERT(f.has_target && f.target == 0x20000);
	CU_ASSERT_EQUAL(img_describe(img, 0x2000b, NULL, &f), 0);
	CU_ASSERT_STRING_EQUAL(f.name, "refblock[0][5]");
	CU_ASSERT(f.off == 0x2000a && f.len == 2 && f.value == 1);
	CU_ASSERT(f.has_target && f.target == 0x50000);
	/* An L2 table: the host map says so. */
	CU_ASSERT_EQUAL(img_describe(img, 0x40085, &w, &f), 0);
	CU_ASSERT_STRING_EQUAL(f.name, "L2[16]");
	CU_ASSERT(f.off == 0x40080 && f.len == 8);
	CU_ASSERT(f.value == 0x8000000000060000ULL);
	CU_ASSERT_STRING_EQUAL(f.meaning,
	    "COPIED, offset 0x60000, guest 0x100000");
	CU_ASSERT(f.has_target && f.target == 0x60000);
	/* Guest data has no fields. */
	CU_ASSERT_EQUAL(img_describe(img, 0x50000, &d, &f), -IMG_ENOOP);
	img_close(img);
}

static void
test_qcow2_entry(void)
{
	/* L2 entry 16 names a misaligned cluster: the entry is at fault. */
	struct img		*img = qcow2_img(0x8000000000060200ULL);
	const struct pr_info	*pi;
	struct report		 rp;
	uint64_t		 off, len;
	size_t			 i;
	bool			 seen = false;

	CU_ASSERT_FATAL(img != NULL);
	report_init(&rp);
	CU_ASSERT_EQUAL(img_check(img, &rp), 0);
	for (i = 0; i < rp.nf; i++) {
		pi = pr_info_get(rp.f[i].id);
		if (strcmp(pi->name, "qcow2-data-misaligned") != 0)
			continue;
		seen = true;
		CU_ASSERT(rp.f[i].host_off == 0x60200);
		CU_ASSERT(rp.f[i].flags & PC_ENTRY);
		CU_ASSERT(rp.f[i].entry_off == 0x40080);
		CU_ASSERT(rp.f[i].entry_len == 8);
		CU_ASSERT_EQUAL(img_finding_entry(img, &rp.f[i], &off, &len),
		    0);
		CU_ASSERT(off == 0x40080 && len == 8);
	}
	CU_ASSERT(seen);
	report_release(&rp);
	img_close(img);
}

/*
 * QED: 64 KiB clusters, 4-cluster tables: header 0, L1 0x10000, data
 * 0x50000, L2 0x60000, data 0xa0000; L2 entry 16 past the end (pe).
 */
static struct img *
qed_img(bool pe)
{
	struct qed_fix	 f;
	struct img	*img;

	if (qed_fix_init(&f, 65536, 4, 64ULL << 20) != 0)
		return NULL;
	if (qed_fix_write(&f, 0, 0x11) == 0 ||
	    qed_fix_write(&f, 1ULL << 20, 0x22) == 0) {
		qed_fix_release(&f);
		return NULL;
	}
	if (pe)
		qed_fix_l2_set(&f, 0, 16, 64ULL << 20);
	img = open_tmp(save_qed, &f, "qed");
	qed_fix_release(&f);
	return img;
}

static void
test_qed(void)
{
	struct img		*img = qed_img(true);
	struct img_where	 w = { "l2", "L1[0]", 0x60000, 0x40000 };
	struct img_field	 f;
	struct report		 rp;
	size_t			 i;
	bool			 seen = false;

	CU_ASSERT_FATAL(img != NULL);
	CU_ASSERT_EQUAL(img_describe(img, 1, NULL, &f), 0);
	CU_ASSERT_STRING_EQUAL(f.name, "header.magic");
	CU_ASSERT(f.value == 0x00444551);
	CU_ASSERT_EQUAL(img_describe(img, 0x10004, NULL, &f), 0);
	CU_ASSERT_STRING_EQUAL(f.name, "L1[0]");
	CU_ASSERT(f.has_target && f.target == 0x60000);
	CU_ASSERT_EQUAL(img_describe(img, 0x60080, &w, &f), 0);
	CU_ASSERT_STRING_EQUAL(f.name, "L2[16]");
	CU_ASSERT(f.value == 64ULL << 20);
	CU_ASSERT(strstr(f.meaning, "guest 0x100000") != NULL);
	CU_ASSERT_EQUAL(img_describe(img, 0x60080, NULL, &f), -IMG_ENOOP);
	report_init(&rp);
	(void)img_check(img, &rp);
	for (i = 0; i < rp.nf; i++) {
		if (strcmp(pr_info_get(rp.f[i].id)->name,
		    "qed-data-past-eof") != 0)
			continue;
		seen = true;
		CU_ASSERT(rp.f[i].flags & PC_ENTRY);
		CU_ASSERT(rp.f[i].entry_off == 0x60080);
		CU_ASSERT(rp.f[i].entry_len == 8);
	}
	CU_ASSERT(seen);
	report_release(&rp);
	img_close(img);
}

/* The report's hook sees each finding as it is kept. */
static int	hook_calls;

static void
hook(void *arg, const struct finding *f)
{
	(void)f;
	CU_ASSERT_PTR_EQUAL(arg, &hook_calls);
	hook_calls++;
}

static void
test_on_finding(void)
{
	struct img	*img = qed_img(true);
	struct report	 rp;

	CU_ASSERT_FATAL(img != NULL);
	report_init(&rp);
	rp.on_finding = hook;
	rp.on_arg = &hook_calls;
	hook_calls = 0;
	(void)img_check(img, &rp);
	CU_ASSERT(rp.nf > 0);
	CU_ASSERT_EQUAL((size_t)hook_calls, rp.nf);
	report_release(&rp);
	img_close(img);
}

/*
 * The fixture of the snapshot and bitmap tests: the fixture's snapshot
 * record "before" at 0x80000 (its L1 table at 0x70000) and a bitmap
 * directory made by hand: one bitmap "b0", directory at 0x90000, table at
 * 0xa0000 with one all-ones entry.
 */
static int
snap_bitmap_fix(struct qcow2_fix *f)
{
	uint64_t	dir, tab;

	if (qcow2_fix_init(f, 3, 16, 4, 64ULL << 20, false) != 0)
		return -1;
	if (qcow2_fix_write(f, 0, 0x11) == 0 ||
	    qcow2_fix_write(f, 1ULL << 20, 0x22) == 0 ||
	    qcow2_fix_snapshot(f, "before") != 0 || f->snaptab != 0x80000 ||
	    (dir = qcow2_fix_alloc(f)) != 0x90000 ||
	    (tab = qcow2_fix_alloc(f)) != 0xa0000) {
		qcow2_fix_release(f);
		return -1;
	}
	/* The bitmaps extension after the 112-byte header; autoclear bit 0. */
	qcow2_fix_put32(f, 112, 0x23852875);
	qcow2_fix_put32(f, 116, 24);
	qcow2_fix_put32(f, 120, 1);		/* nb_bitmaps */
	qcow2_fix_put64(f, 128, 32);		/* directory size */
	qcow2_fix_put64(f, 136, dir);
	qcow2_fix_put64(f, 88, 1);
	qcow2_fix_put64(f, dir, tab);		/* bitmap_table_offset */
	qcow2_fix_put32(f, dir + 8, 1);		/* bitmap_table_size */
	qcow2_fix_put32(f, dir + 12, 2);	/* flags: auto */
	f->buf[dir + 16] = 1;			/* type */
	f->buf[dir + 17] = 16;			/* granularity 64 KiB */
	f->buf[dir + 18] = 0;
	f->buf[dir + 19] = 2;			/* name_size */
	memcpy(f->buf + dir + 24, "b0", 2);
	qcow2_fix_put64(f, tab, 1);		/* all ones */
	return 0;
}

/* The snapshot table and the bitmap directory of snap_bitmap_fix(). */
static void
test_qcow2_snapshot_bitmaps(void)
{
	struct qcow2_fix	 f;
	struct img		*img;
	struct img_where	 ws = { "snapshot-table", "snapshot table",
				    0x80000, 72 };
	struct img_where	 wt = { "bitmap-table", "bitmap b0", 0xa0000,
				    8 };
	struct img_field	 fl;

	CU_ASSERT_FATAL(snap_bitmap_fix(&f) == 0);
	img = open_tmp(save_qcow2, &f, "qcow2");
	qcow2_fix_release(&f);
	CU_ASSERT_FATAL(img != NULL);

	/* Found from the header alone, or with the host map's word. */
	CU_ASSERT_EQUAL(img_describe(img, 0x80003, NULL, &fl), 0);
	CU_ASSERT_STRING_EQUAL(fl.name, "snapshot[0].l1_table_offset");
	CU_ASSERT(fl.off == 0x80000 && fl.len == 8 && fl.value == 0x70000);
	CU_ASSERT(fl.has_target && fl.target == 0x70000);
	CU_ASSERT_STRING_EQUAL(fl.meaning, "L1 table 0x70000");
	CU_ASSERT_EQUAL(img_describe(img, 0x80010, &ws, &fl), 0);
	CU_ASSERT_STRING_EQUAL(fl.name, "snapshot[0].date_sec");
	CU_ASSERT_STRING_EQUAL(fl.meaning, "1970-01-01 00:00:00 UTC");
	CU_ASSERT_EQUAL(img_describe(img, 0x80031, &ws, &fl), 0);
	CU_ASSERT_STRING_EQUAL(fl.name, "snapshot[0].disk_size");
	CU_ASSERT(fl.off == 0x80030 && fl.value == 64ULL << 20);
	CU_ASSERT_EQUAL(img_describe(img, 0x80040, &ws, &fl), 0);
	CU_ASSERT_STRING_EQUAL(fl.name, "snapshot[0].id");
	CU_ASSERT_STRING_EQUAL(fl.meaning, "\"1\"");
	CU_ASSERT_EQUAL(img_describe(img, 0x80043, &ws, &fl), 0);
	CU_ASSERT_STRING_EQUAL(fl.name, "snapshot[0].name");
	CU_ASSERT(fl.off == 0x80041 && fl.len == 6 && !fl.has_value);
	CU_ASSERT_STRING_EQUAL(fl.meaning, "\"before\"");
	CU_ASSERT_EQUAL(img_describe(img, 0x80047, &ws, &fl), 0);
	CU_ASSERT_STRING_EQUAL(fl.name, "snapshot[0].padding");
	/* Past the last record: nothing. */
	CU_ASSERT_EQUAL(img_describe(img, 0x80048, &ws, &fl), -IMG_ENOOP);

	CU_ASSERT_EQUAL(img_describe(img, 0x90004, NULL, &fl), 0);
	CU_ASSERT_STRING_EQUAL(fl.name, "bitmap_dir[0].bitmap_table_offset");
	CU_ASSERT(fl.has_target && fl.target == 0xa0000);
	CU_ASSERT_EQUAL(img_describe(img, 0x9000c, NULL, &fl), 0);
	CU_ASSERT_STRING_EQUAL(fl.name, "bitmap_dir[0].flags");
	CU_ASSERT_STRING_EQUAL(fl.meaning, "auto");
	CU_ASSERT_EQUAL(img_describe(img, 0x90011, NULL, &fl), 0);
	CU_ASSERT_STRING_EQUAL(fl.name, "bitmap_dir[0].granularity_bits");
	CU_ASSERT_STRING_EQUAL(fl.meaning, "granularity 65536 bytes");
	CU_ASSERT_EQUAL(img_describe(img, 0x90019, NULL, &fl), 0);
	CU_ASSERT_STRING_EQUAL(fl.name, "bitmap_dir[0].name");
	CU_ASSERT_STRING_EQUAL(fl.meaning, "\"b0\"");
	CU_ASSERT_EQUAL(img_describe(img, 0xa0002, &wt, &fl), 0);
	CU_ASSERT_STRING_EQUAL(fl.name, "bitmap_table[0]");
	CU_ASSERT_STRING_EQUAL(fl.meaning, "all ones");
	/* The check agrees the image is sound (so the layout is real). */
	{
		struct report	rp;

		report_init(&rp);
		CU_ASSERT_EQUAL(img_check(img, &rp), 0);
		CU_ASSERT_EQUAL(rp.c.corruptions + rp.c.leaks, 0);
		report_release(&rp);
	}
	img_close(img);
}

/*
 * Bytes of the snapshot record and the bitmap directory changed at
 * random: every byte of both described with and without the host map's
 * word, never a crash (the sanitizer build runs this) or a field outside
 * the file.
 */
static void
test_qcow2_describe_hostile(void)
{
	struct qcow2_fix	 f;
	struct img		*img;
	struct img_where	 ws = { "snapshot-table", "snapshot table",
				    0x80000, 72 };
	struct img_where	 wd = { "bitmap-directory", "bitmaps",
				    0x90000, 32 };
	struct img_field	 fl;
	uint64_t		 seed = 7, off, at, bad = 0, opened = 0, seen = 0;
	int			 t, k, rc;

	for (t = 0; t < 120; t++) {
		CU_ASSERT_FATAL(snap_bitmap_fix(&f) == 0);
		for (k = 0; k < 3; k++) {
			seed = seed * 6364136223846793005ULL +
			    1442695040888963407ULL;
			at = (seed >> 33) % 104;
			at = at < 72 ? 0x80000 + at : 0x90000 + at - 72;
			f.buf[at] = (uint8_t)(seed >> 13);
		}
		img = open_tmp(save_qcow2, &f, "qcow2");
		qcow2_fix_release(&f);
		if (img == NULL)
			continue;
		opened++;
		for (off = 0x80000; off < 0x90100; off++) {
			if (off == 0x80100)
				off = 0x90000;
			rc = img_describe(img, off, off < 0x90000 ? &ws : &wd,
			    &fl);
			if (rc == 0 && (fl.off > off || fl.off + fl.len <= off ||
			    fl.len == 0))
				bad++;
			seen += rc == 0;
			if (off % 7 == 0 && img_describe(img, off, NULL,
			    &fl) == 0 && (fl.off > off || fl.len == 0))
				bad++;
		}
		img_close(img);
	}
	CU_ASSERT_EQUAL(bad, 0);
	/* Most damaged images still open, and most bytes still decode. */
	CU_ASSERT(opened >= 40);
	CU_ASSERT(seen > opened * 50);
}

int	suite_describe(void);

int
suite_describe(void)
{
	CU_pSuite	s = CU_add_suite("describe", NULL, NULL);

	if (s == NULL)
		return -1;
	CU_add_test(s, "qcow2 header fields", test_qcow2_header);
	CU_add_test(s, "qcow2 table entries", test_qcow2_tables);
	CU_add_test(s, "qcow2 entry of a bad pointer", test_qcow2_entry);
	CU_add_test(s, "qcow2 snapshot table and bitmap directory",
	    test_qcow2_snapshot_bitmaps);
	CU_add_test(s, "qcow2 snapshot and bitmap fields, damaged",
	    test_qcow2_describe_hostile);
	CU_add_test(s, "QED fields and entry", test_qed);
	CU_add_test(s, "on_finding hook", test_on_finding);
	return 0;
}
