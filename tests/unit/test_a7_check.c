/* SPDX-License-Identifier: MIT */
/*
 * test_a7_check.c --- archive7 check, info, extract and repair on
 * archives written by the fixture writer, broken one defect at a time.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <json-c/json.h>

#include "core/core.h"
#include "../fixtures/a7_fix.h"

static char	tdir[64];
static int	tn;

static const uint64_t	std_sizes[] = { 17, 9000, 8016 };

/* Write f to a fresh file; return its path (static storage). */
static const char *
put(struct a7f *f, uint64_t size)
{
	static char	path[128];

	snprintf(path, sizeof(path), "%s/t%d.ar7", tdir, tn++);
	CU_ASSERT_EQUAL_FATAL(a7f_write(f, path, size), 0);
	return path;
}

static int
open_ar(const char *path, bool key, const uint8_t *k, unsigned flags,
    struct img **img)
{
	struct img_opts	opts;
	char		err[256];

	memset(&opts, 0, sizeof(opts));
	opts.format = "archive7";
	opts.flags = flags;
	if (key) {
		opts.has_key = true;
		memcpy(opts.key, k != NULL ? k : a7f_key, 32);
	}
	return img_open(path, &opts, img, err, sizeof(err));
}

/* Check path into rp (initialised here); return check's result. */
static int
check_path(const char *path, bool key, const uint8_t *k, struct report *rp)
{
	struct img	*img;
	int		 rc;

	report_init(rp);
	rc = open_ar(path, key, k, 0, &img);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	rc = img_check(img, rp);
	img_close(img);
	return rc;
}

static bool
serious(const struct report *rp)
{
	return rp->c.corruptions + rp->c.leaks + rp->c.check_errors > 0;
}

static void
test_clean(void)
{
	struct a7f	f;
	struct report	rp;
	const char	*path;

	CU_ASSERT_EQUAL_FATAL(a7f_build(&f, std_sizes, 3), 0);
	path = put(&f, 0);
	CU_ASSERT_EQUAL(check_path(path, true, NULL, &rp), 0);
	CU_ASSERT_FALSE(serious(&rp));
	CU_ASSERT_EQUAL(rp.nf, 0);
	report_release(&rp);
	a7f_free(&f);
}

static void
test_nokey(void)
{
	struct a7f	f;
	struct report	rp;

	CU_ASSERT_EQUAL_FATAL(a7f_build(&f, std_sizes, 1), 0);
	CU_ASSERT_EQUAL(check_path(put(&f, 0), false, NULL, &rp), -IMG_EKEY);
	CU_ASSERT_EQUAL(rp.seen[PR_A7_NO_KEY], 1);
	CU_ASSERT_EQUAL(rp.c.check_errors, 1);
	report_release(&rp);
	a7f_free(&f);
}

static void
test_wrongkey(void)
{
	struct a7f	f;
	struct report	rp;
	uint8_t		k[32];
	int		i;

	for (i = 0; i < 32; i++)
		k[i] = (uint8_t)(31 - i);
	CU_ASSERT_EQUAL_FATAL(a7f_build(&f, std_sizes, 3), 0);
	CU_ASSERT_EQUAL(check_path(put(&f, 0), true, k, &rp), -IMG_EKEY);
	CU_ASSERT_EQUAL(rp.seen[PR_A7_WRONG_KEY], 1);
	CU_ASSERT_EQUAL(rp.nf, 1);
	report_release(&rp);
	a7f_free(&f);
}

/* One defect: mutate a fresh 3-file archive, expect id at block blk. */
struct defect {
	const char	*name;
	void		(*mut)(struct a7f *);
	uint64_t	 size;		/* bytes to write, 0 all */
	enum pr_id	 id;
	int64_t		 blk;		/* -1: any place */
};

static void
mut_nonce(struct a7f *f)
{
	f->nonce_from[12] = 11;
}

static void
mut_mac(struct a7f *f)
{
	f->flags[12] |= A7F_F_FLIP_MAC;
}

static void
mut_digest(struct a7f *f)
{
	a7f_plain(f, 12)[100] ^= 1;
	f->flags[12] |= A7F_F_KEEP_DIGEST;
}

static void
mut_selflink(struct a7f *f)
{
	a7f_links(f, 13, 12, 13, 1);
}

static void
mut_linkrange(struct a7f *f)
{
	a7f_links(f, 13, 12, 9999, 1);
}

static void
mut_magic(struct a7f *f)
{
	a7f_plain(f, 0)[48 + 7] = '8';
}

static void
mut_version(struct a7f *f)
{
	put_be16(a7f_plain(f, 0) + 48 + 9, 3);
}

static void
mut_stale(struct a7f *f)
{
	a7f_meta_rec(f, A7F_LISTINGS, 5, 8, 2, 21 + 4008);
}

static void
mut_cycle(struct a7f *f)
{
	a7f_links(f, 14, 13, 12, 2);	/* file1 is blocks 12, 13, 14 */
}

static void
mut_crosslink(struct a7f *f)
{
	a7f_links(f, 14, 13, 15, 2);	/* into file2 (15, 16, 17) */
}

static void
mut_cut(struct a7f *f)
{
	a7f_links(f, 12, -1, -1, 0);
}

static void
mut_prev(struct a7f *f)
{
	a7f_links(f, 13, 3, 14, 1);
}

static void
mut_index(struct a7f *f)
{
	a7f_links(f, 13, 12, 14, 7);
}

static void
mut_huge_len(struct a7f *f)
{
	size_t	off = a7f_rec_off(A7F_REGISTRY, 0);

	put_be64(a7f_tree(f, A7F_REGISTRY, off) + 20 + 28, 1ULL << 63);
	a7f_tree_sum(f, A7F_REGISTRY, off);
}

static void
mut_regsum(struct a7f *f)
{
	size_t	off = a7f_rec_off(A7F_REGISTRY, 1);

	a7f_tree(f, A7F_REGISTRY, off)[4 + 16 + 38] ^= 0x5a;
}

static void
mut_count31(struct a7f *f)
{
	put_be32(a7f_tree(f, A7F_ENTRIES, 21 + 5), 0x80000000u);
}

static void
mut_kind(struct a7f *f)
{
	*a7f_tree(f, A7F_PATHS, 21) = 'X';
}

static void
mut_order(struct a7f *f)
{
	put_be32(a7f_tree(f, A7F_REGISTRY, 9), 68);
}

static void
mut_orphan_blank(struct a7f *f)
{
	(void)a7f_append_blank(f);
}

static void
mut_orphan_data(struct a7f *f)
{
	int64_t	b = a7f_append_blank(f);

	a7f_plain(f, (uint64_t)b)[48] = 1;
}

static void
mut_half_append(struct a7f *f)
{
	int64_t	b = a7f_append_blank(f);

	a7f_links(f, 10, 8, (int32_t)b, 2);	/* listings' last block */
}

static void
mut_missing_stream(struct a7f *f)
{
	size_t	off = a7f_rec_off(A7F_ENTRIES, 1);

	a7f_tree(f, A7F_ENTRIES, off)[20 + 49] ^= 0xff;
	a7f_tree_sum(f, A7F_ENTRIES, off);
}

static void
mut_fs_length(struct a7f *f)
{
	size_t	off = a7f_rec_off(A7F_ENTRIES, 1);

	a7f_tree(f, A7F_ENTRIES, off)[20 + 81 + 7] ^= 0x10;
	a7f_tree_sum(f, A7F_ENTRIES, off);
}

static void
mut_dangling(struct a7f *f)
{
	uint8_t	*i0 = a7f_tree(f, A7F_LISTINGS, 21 + 4008 + 9);

	i0[5] ^= 0x33;
}

static void
mut_meta_mac(struct a7f *f)
{
	f->flags[0] |= A7F_F_FLIP_MAC;
}

static void
mut_begin(struct a7f *f)
{
	(void)f;
}

static void
mut_none(struct a7f *f)
{
	(void)f;
}

static const struct defect	defects[] = {
	{ "uneven size", mut_none, 16 * 4096 + 100, PR_A7_SIZE_UNEVEN, 16 },
	{ "nonce reuse", mut_nonce, 0, PR_A7_NONCE_REUSE, 12 },
	{ "MAC", mut_mac, 0, PR_A7_DECRYPT_FAILED, 12 },
	{ "digest", mut_digest, 0, PR_A7_DIGEST_MISMATCH, 12 },
	{ "self link", mut_selflink, 0, PR_A7_SELF_LINK, 13 },
	{ "link range", mut_linkrange, 0, PR_A7_LINK_RANGE, 13 },
	{ "magic", mut_magic, 0, PR_A7_NO_ARCHIVE_HEADER, 0 },
	{ "version", mut_version, 0, PR_A7_VERSION, 0 },
	{ "stale meta", mut_stale, 0, PR_A7_STALE_META, 10 },
	{ "cycle", mut_cycle, 0, PR_A7_CYCLE, 12 },
	{ "cross link", mut_crosslink, 0, PR_A7_CROSS_LINK, 15 },
	{ "cut chain end", mut_cut, 0, PR_A7_END_MISMATCH, 12 },
	{ "cut chain count", mut_cut, 0, PR_A7_COUNT_MISMATCH, 12 },
	{ "cut chain orphan", mut_cut, 0, PR_A7_ORPHAN_DATA, 13 },
	{ "previous", mut_prev, 0, PR_A7_PREV_MISMATCH, 13 },
	{ "index", mut_index, 0, PR_A7_INDEX_MISMATCH, 13 },
	{ "length 2^63", mut_huge_len, 0, PR_A7_LENGTH_EXCEEDS, -1 },
	{ "record checksum", mut_regsum, 0, PR_A7_TREE_CHECKSUM, 2 },
	{ "page count 2^31", mut_count31, 0, PR_A7_TREE_COUNT, 3 },
	{ "node kind", mut_kind, 0, PR_A7_TREE_NODE_KIND, 4 },
	{ "tree header", mut_order, 0, PR_A7_TREE_HEADER, 2 },
	{ "orphan blank", mut_orphan_blank, 0, PR_A7_ORPHAN_BLANK, 18 },
	{ "orphan data", mut_orphan_data, 0, PR_A7_ORPHAN_DATA, 18 },
	{ "half append", mut_half_append, 0, PR_A7_HALF_APPEND, 18 },
	{ "missing stream", mut_missing_stream, 0, PR_A7_FS_STREAM_MISSING,
	    3 },
	{ "file length", mut_fs_length, 0, PR_A7_FS_LENGTH, 3 },
	{ "dangling listing", mut_dangling, 0, PR_A7_FS_DANGLING_LISTING,
	    8 },
	{ "meta unreadable", mut_meta_mac, 0, PR_A7_META_UNREADABLE, 0 },
	{ "begin out of range", mut_begin, 15 * 4096, PR_A7_BEGIN_RANGE,
	    -1 },
};

static bool
found_at(const struct report *rp, enum pr_id id, int64_t blk)
{
	size_t	i;

	for (i = 0; i < rp->nf; i++) {
		if (rp->f[i].id != id)
			continue;
		if (blk < 0 || ((rp->f[i].flags & PC_HOST) &&
		    rp->f[i].host_off / 4096 == (uint64_t)blk))
			return true;
	}
	return false;
}

static void
test_defects(void)
{
	const struct defect	*d;
	struct a7f		 f;
	struct report		 rp;
	size_t			 i;
	int			 rc;

	for (i = 0; i < sizeof(defects) / sizeof(defects[0]); i++) {
		d = &defects[i];
		CU_ASSERT_EQUAL_FATAL(a7f_build(&f, std_sizes, 3), 0);
		d->mut(&f);
		rc = check_path(put(&f, d->size), true, NULL, &rp);
		if (!found_at(&rp, d->id, d->blk) || rc != 0)
			fprintf(stderr, "\na7 defect '%s': rc %d, %zu findings,"
			    " want %s at block %lld\n", d->name, rc, rp.nf,
			    pr_info_get(d->id)->name, (long long)d->blk);
		CU_ASSERT_EQUAL(rc, 0);
		CU_ASSERT_TRUE(found_at(&rp, d->id, d->blk));
		CU_ASSERT_TRUE(rp.nf > 0);
		report_release(&rp);
		a7f_free(&f);
	}
}

/* A 1-byte file, 4096 NULs, chains through every block. */
static void
test_hostile(void)
{
	struct report	rp;
	struct a7f	f;
	char		path[128];
	uint8_t		zero[4096];
	uint64_t	b;
	int		fd, rc;

	snprintf(path, sizeof(path), "%s/one.ar7", tdir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CU_ASSERT_FATAL(fd >= 0);
	memset(zero, 0, sizeof(zero));
	CU_ASSERT_EQUAL(write(fd, zero, 1), 1);
	close(fd);
	rc = check_path(path, true, NULL, &rp);
	CU_ASSERT_EQUAL(rp.seen[PR_A7_NO_BLOCKS], 1);
	CU_ASSERT_EQUAL(rp.seen[PR_A7_SIZE_UNEVEN], 1);
	CU_ASSERT_TRUE(rc == 0 && rp.c.check_errors > 0);
	report_release(&rp);

	snprintf(path, sizeof(path), "%s/nul.ar7", tdir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(write(fd, zero, sizeof(zero)), 4096);
	close(fd);
	CU_ASSERT_EQUAL(check_path(path, true, NULL, &rp), -IMG_EKEY);
	CU_ASSERT_EQUAL(rp.seen[PR_A7_WRONG_KEY], 1);
	report_release(&rp);

	/* Every block links to the next one, the last back to block 1. */
	CU_ASSERT_EQUAL_FATAL(a7f_build(&f, std_sizes, 3), 0);
	for (b = 1; b < f.nblocks; b++)
		a7f_links(&f, b, (int32_t)(b == 1 ? f.nblocks - 1 : b - 1),
		    (int32_t)(b + 1 == f.nblocks ? 1 : b + 1), 0);
	rc = check_path(put(&f, 0), true, NULL, &rp);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_TRUE(rp.c.corruptions > 0);
	report_release(&rp);
	a7f_free(&f);
}

static int
info_of(const char *path, struct json_object **out)
{
	struct img	*img;
	int		 rc;

	if ((rc = open_ar(path, true, NULL, 0, &img)) != 0)
		return rc;
	rc = img_info(img, out);
	img_close(img);
	return rc;
}

static void
test_info_extract(void)
{
	struct json_object	*doc, *files, *fo, *v;
	struct report		 rp;
	struct a7f		 f;
	struct img		*img;
	const char		*path;
	char			 out[128];
	uint8_t			 buf[9000];
	size_t			 i;
	ssize_t			 n;
	int			 fd;

	CU_ASSERT_EQUAL_FATAL(a7f_build(&f, std_sizes, 3), 0);
	path = put(&f, 0);
	CU_ASSERT_EQUAL_FATAL(info_of(path, &doc), 0);
	CU_ASSERT_TRUE(json_object_object_get_ex(doc, "files", &files));
	CU_ASSERT_EQUAL(json_object_array_length(files), 3);
	for (i = 0; i < json_object_array_length(files); i++) {
		fo = json_object_array_get_idx(files, i);
		CU_ASSERT_TRUE(json_object_object_get_ex(fo, "path", &v));
		if (strcmp(json_object_get_string(v), "/file1.bin") != 0)
			continue;
		CU_ASSERT_TRUE(json_object_object_get_ex(fo, "size", &v));
		CU_ASSERT_EQUAL(json_object_get_int64(v), 9000);
	}
	json_object_put(doc);

	snprintf(out, sizeof(out), "%s/x.bin", tdir);
	fd = open(out, O_RDWR | O_CREAT | O_TRUNC, 0644);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL_FATAL(open_ar(path, true, NULL, 0, &img), 0);
	report_init(&rp);
	CU_ASSERT_EQUAL(img_extract(img, "/file1.bin", fd, &rp), 0);
	CU_ASSERT_EQUAL(rp.nf, 0);
	CU_ASSERT_EQUAL(img_extract(img, "/nope", fd, &rp), -ENOENT);
	report_release(&rp);
	img_close(img);
	n = pread(fd, buf, sizeof(buf), 0);
	CU_ASSERT_EQUAL(n, 9000);
	for (i = 0; i < 9000 && n == 9000; i++)
		if (buf[i] != a7f_byte(1, i))
			break;
	CU_ASSERT_EQUAL(i, 9000);
	close(fd);
	a7f_free(&f);
}

/* Repair path into a new file, then check that: clean afterwards? */
static void
repair_ok(void (*mut)(struct a7f *), uint64_t size, bool inplace)
{
	struct report	rp;
	struct a7f	f;
	struct img	*img;
	const char	*path;
	char		out[128];

	CU_ASSERT_EQUAL_FATAL(a7f_build(&f, std_sizes, 3), 0);
	mut(&f);
	path = put(&f, size);
	snprintf(out, sizeof(out), "%s/r%d.ar7", tdir, tn++);
	CU_ASSERT_EQUAL_FATAL(open_ar(path, true, NULL, inplace ? IMG_RDWR :
	    0, &img), 0);
	report_init(&rp);
	rp.repair = REPAIR_ALL | REPAIR_LEAKS;
	CU_ASSERT_EQUAL(img_repair(img, &rp, inplace ? NULL : out), 0);
	CU_ASSERT_TRUE(rp.c.corruptions_fixed + rp.c.leaks_fixed > 0);
	img_close(img);
	report_release(&rp);
	CU_ASSERT_EQUAL(check_path(inplace ? path : out, true, NULL, &rp),
	    0);
	CU_ASSERT_FALSE(serious(&rp));
	if (serious(&rp) && rp.nf > 0)
		fprintf(stderr, "\na7 repair left %s\n",
		    pr_info_get(rp.f[0].id)->name);
	report_release(&rp);
	a7f_free(&f);
}

static void
test_repair(void)
{
	repair_ok(mut_cut, 0, false);
	repair_ok(mut_cycle, 0, false);
	repair_ok(mut_crosslink, 0, false);
	repair_ok(mut_stale, 0, false);
	repair_ok(mut_orphan_blank, 0, true);
	repair_ok(mut_orphan_data, 0, false);
	repair_ok(mut_half_append, 0, false);
	repair_ok(mut_prev, 0, true);
	repair_ok(mut_mac, 0, false);
	repair_ok(mut_huge_len, 0, false);
	repair_ok(mut_none, 16 * 4096 + 100, false);
	repair_ok(mut_begin, 15 * 4096, false);
}

/* Without the key nonces can still be compared (§1). */
static void
test_nokey_nonce(void)
{
	struct a7f	f;
	struct report	rp;

	CU_ASSERT_EQUAL_FATAL(a7f_build(&f, std_sizes, 3), 0);
	mut_nonce(&f);
	CU_ASSERT_EQUAL(check_path(put(&f, 0), false, NULL, &rp), -IMG_EKEY);
	CU_ASSERT_TRUE(found_at(&rp, PR_A7_NONCE_REUSE, 12));
	CU_ASSERT_EQUAL(rp.seen[PR_A7_NO_KEY], 1);
	report_release(&rp);
	a7f_free(&f);
}

/* A digest finding names the file and the bytes of it the block holds. */
static void
test_guest_range(void)
{
	struct a7f	f;
	struct report	rp;
	size_t		i;
	bool		ok = false;

	CU_ASSERT_EQUAL_FATAL(a7f_build(&f, std_sizes, 3), 0);
	a7f_plain(&f, 13)[60] ^= 1;
	f.flags[13] |= A7F_F_KEEP_DIGEST;
	CU_ASSERT_EQUAL(check_path(put(&f, 0), true, NULL, &rp), 0);
	for (i = 0; i < rp.nf; i++)
		if (rp.f[i].id == PR_A7_DIGEST_MISMATCH &&
		    (rp.f[i].flags & PC_GUEST) && rp.f[i].guest_off == 4008 &&
		    rp.f[i].guest_len == 4008 && rp.f[i].path != NULL &&
		    strstr(rp.f[i].path, "/file1.bin") != NULL)
			ok = true;
	CU_ASSERT_TRUE(ok);
	report_release(&rp);
	a7f_free(&f);
}

/* -r leaks moves a blank orphan to the trash but leaves corruption. */
static void
test_repair_leaks_only(void)
{
	struct report	rp;
	struct a7f	f;
	struct img	*img;
	const char	*path;
	char		out[128];

	CU_ASSERT_EQUAL_FATAL(a7f_build(&f, std_sizes, 3), 0);
	mut_orphan_blank(&f);
	mut_stale(&f);
	path = put(&f, 0);
	snprintf(out, sizeof(out), "%s/r%d.ar7", tdir, tn++);
	CU_ASSERT_EQUAL_FATAL(open_ar(path, true, NULL, 0, &img), 0);
	report_init(&rp);
	rp.repair = REPAIR_LEAKS;
	CU_ASSERT_EQUAL(img_repair(img, &rp, out), 0);
	CU_ASSERT_EQUAL(rp.c.leaks_fixed, 1);
	CU_ASSERT_EQUAL(rp.c.corruptions_fixed, 0);
	img_close(img);
	report_release(&rp);
	CU_ASSERT_EQUAL(check_path(out, true, NULL, &rp), 0);
	CU_ASSERT_EQUAL(rp.c.leaks, 0);
	CU_ASSERT_EQUAL(rp.seen[PR_A7_STALE_META], 1);
	report_release(&rp);
	a7f_free(&f);
}

/* Repair needs the key. */
static void
test_repair_nokey(void)
{
	struct report	rp;
	struct a7f	f;
	struct img	*img;
	char		out[128];

	CU_ASSERT_EQUAL_FATAL(a7f_build(&f, std_sizes, 1), 0);
	snprintf(out, sizeof(out), "%s/r%d.ar7", tdir, tn++);
	CU_ASSERT_EQUAL_FATAL(open_ar(put(&f, 0), false, NULL, 0, &img), 0);
	report_init(&rp);
	rp.repair = REPAIR_ALL;
	CU_ASSERT_EQUAL(img_repair(img, &rp, out), -IMG_EKEY);
	CU_ASSERT_EQUAL(access(out, F_OK), -1);
	img_close(img);
	report_release(&rp);
	a7f_free(&f);
}

static int
a7_setup(void)
{
	snprintf(tdir, sizeof(tdir), "/tmp/a7test-XXXXXX");
	return mkdtemp(tdir) == NULL ? -1 : 0;
}

static int
a7_teardown(void)
{
	char	path[128];
	int	i;

	for (i = 0; i < tn; i++) {
		snprintf(path, sizeof(path), "%s/t%d.ar7", tdir, i);
		(void)unlink(path);
		snprintf(path, sizeof(path), "%s/r%d.ar7", tdir, i);
		(void)unlink(path);
	}
	snprintf(path, sizeof(path), "%s/one.ar7", tdir);
	(void)unlink(path);
	snprintf(path, sizeof(path), "%s/nul.ar7", tdir);
	(void)unlink(path);
	snprintf(path, sizeof(path), "%s/x.bin", tdir);
	(void)unlink(path);
	return rmdir(tdir) == 0 ? 0 : -1;
}

int suite_a7_check(void);

int
suite_a7_check(void)
{
	CU_pSuite	s = CU_add_suite("a7_check", a7_setup, a7_teardown);

	if (s == NULL)
		return -1;
	CU_add_test(s, "clean fixture checks clean", test_clean);
	CU_add_test(s, "no key: check not complete", test_nokey);
	CU_add_test(s, "wrong key: one finding", test_wrongkey);
	CU_add_test(s, "one defect at a time", test_defects);
	CU_add_test(s, "hostile input", test_hostile);
	CU_add_test(s, "info and extract", test_info_extract);
	CU_add_test(s, "repair", test_repair);
	CU_add_test(s, "no key: nonce reuse", test_nokey_nonce);
	CU_add_test(s, "finding names file and byte range", test_guest_range);
	CU_add_test(s, "repair -r leaks only", test_repair_leaks_only);
	CU_add_test(s, "repair needs the key", test_repair_nokey);
	return 0;
}
