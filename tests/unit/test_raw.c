/* SPDX-License-Identifier: MIT */
/*
 * test_raw.c --- the raw format (libcore/raw/) and the generic extract
 * (core/extract.c): detection as the format of last resort, size, info,
 * map, no check, and the guest disk written to files and pipes through
 * the map, with a fake format for backing layers, damage and progress.
 */
#define _GNU_SOURCE	/* SEEK_HOLE */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <json-c/json.h>

#include "core/core.h"
#include "unit/runs.h"

#define K	1024ULL

/* A new file at path (mkstemp pattern) with content written at offsets. */
static void
mkfile(char *path, uint64_t size, uint64_t off, const void *buf,
    size_t len)
{
	int	fd = mkstemp(path);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(ftruncate(fd, (off_t)size) == 0);
	if (len > 0)
		CU_ASSERT_FATAL(pwrite(fd, buf, len, (off_t)off) ==
		    (ssize_t)len);
	close(fd);
}

static void
test_detect(void)
{
	struct img		*img;
	struct json_object	*o, *v;
	struct report		 rp;
	struct img_opts		 opts;
	char			 path[] = "/tmp/imgkit-raw-XXXXXX", err[128];

	mkfile(path, 1000, 0, "hello, this is not an image\n", 28);
	CU_ASSERT_FATAL(img_open(path, NULL, &img, err, sizeof(err)) == 0);
	CU_ASSERT_STRING_EQUAL(img_format(img), "raw");
	CU_ASSERT_EQUAL(img_virtual_size(img), 1024);
	CU_ASSERT_FALSE(img_can_repair(img, true));
	CU_ASSERT_FALSE(img_can_repair(img, false));
	report_init(&rp);
	CU_ASSERT_EQUAL(img_check(img, &rp), -IMG_ENOCHECK);
	report_release(&rp);
	CU_ASSERT_FATAL(img_info(img, &o) == 0);
	CU_ASSERT_TRUE(json_object_object_get_ex(o, "virtual-size", &v) &&
	    json_object_get_int64(v) == 1024);
	CU_ASSERT_TRUE(json_object_object_get_ex(o, "format", &v) &&
	    strcmp(json_object_get_string(v), "raw") == 0);
	CU_ASSERT_TRUE(json_object_object_get_ex(o, "dirty-flag", &v) &&
	    !json_object_get_boolean(v));
	json_object_put(o);
	img_close(img);
	CU_ASSERT_FALSE(img_format_has_check("raw"));
	CU_ASSERT_TRUE(img_format_known("raw"));

	/* Forced: taken whatever the bytes. */
	memset(&opts, 0, sizeof(opts));
	opts.format = "raw";
	CU_ASSERT_FATAL(img_open(path, &opts, &img, err, sizeof(err)) == 0);
	CU_ASSERT_EQUAL(img_recognised(img), 0);
	img_close(img);
	unlink(path);
}

/* A qcow2 magic with a bad header stays qcow2 and fails, never raw. */
static void
test_magic_wins(void)
{
	struct img	*img = NULL;
	char		 path[] = "/tmp/imgkit-raw-XXXXXX", err[128];
	const uint8_t	 qfi[8] = { 'Q', 'F', 'I', 0xfb, 0, 0, 0, 9 };
	const uint8_t	 qed[4] = { 'Q', 'E', 'D', 0 };

	mkfile(path, 4096, 0, qfi, sizeof(qfi));
	CU_ASSERT(img_open(path, NULL, &img, err, sizeof(err)) < 0);
	unlink(path);
	/* QED needs the whole 64-byte header to probe: a short one is raw. */
	snprintf(path, sizeof(path), "/tmp/imgkit-raw-XXXXXX");
	mkfile(path, 32, 0, qed, sizeof(qed));
	CU_ASSERT_FATAL(img_open(path, NULL, &img, err, sizeof(err)) == 0);
	CU_ASSERT_STRING_EQUAL(img_format(img), "raw");
	img_close(img);
	unlink(path);
}

static void
test_map(void)
{
	struct img		*img;
	struct img_map_opts	 mo;
	struct runs		 rs;
	char			 path[] = "/tmp/imgkit-raw-XXXXXX";
	uint8_t			 buf[64 * K];
	int			 fd;

	memset(buf, 0x5a, sizeof(buf));
	mkfile(path, 1024 * K + 100, 256 * K, buf, sizeof(buf));
	CU_ASSERT_FATAL(img_open(path, NULL, &img, NULL, 0) == 0);
	CU_ASSERT_EQUAL(img_virtual_size(img), 1024 * K + 512);
	memset(&rs, 0, sizeof(rs));
	CU_ASSERT_EQUAL(img_map(img, collect, &rs), 0);
	fd = open(path, O_RDONLY);
	CU_ASSERT_FATAL(fd >= 0);
	if (lseek(fd, 0, SEEK_HOLE) == 0) {
		CU_ASSERT_EQUAL_FATAL(rs.n, 3);
		CU_ASSERT_TRUE(rs.r[0].zero && !rs.r[0].data &&
		    rs.r[0].present && rs.r[0].length == 256 * K);
		CU_ASSERT_TRUE(!rs.r[1].zero && rs.r[1].data &&
		    rs.r[1].start == 256 * K && rs.r[1].offset == 256 * K &&
		    rs.r[1].length == 64 * K);
		CU_ASSERT_TRUE(rs.r[2].zero && rs.r[2].start == 320 * K &&
		    rs.r[2].length == 704 * K + 512);
	}
	close(fd);
	/* A window: clipped, offsets moved with it. */
	img_map_opts_init(&mo);
	mo.start = 300 * K;
	mo.length = 100 * K;
	memset(&rs, 0, sizeof(rs));
	CU_ASSERT_EQUAL(img_map_ex(img, &mo, collect, &rs), 0);
	CU_ASSERT_TRUE(rs.n >= 1 && rs.r[0].start == 300 * K &&
	    rs.r[0].offset == 300 * K);
	CU_ASSERT_TRUE(rs.n >= 1 && rs.r[rs.n - 1].start +
	    rs.r[rs.n - 1].length == 400 * K);
	img_close(img);
	unlink(path);
}

/* Read all of fd from 0; caller frees. */
static uint8_t *
slurp(int fd, size_t *len)
{
	struct stat	st;
	uint8_t		*p;

	CU_ASSERT_FATAL(fstat(fd, &st) == 0);
	*len = (size_t)st.st_size;
	p = malloc(*len + 1);
	CU_ASSERT_FATAL(p != NULL);
	CU_ASSERT_FATAL(pread(fd, p, *len, 0) == (ssize_t)*len);
	return p;
}

static void
test_extract_file(void)
{
	struct img	*img;
	struct report	 rp;
	char		 path[] = "/tmp/imgkit-raw-XXXXXX";
	char		 out[] = "/tmp/imgkit-raw-out-XXXXXX";
	uint8_t		 buf[4 * K], *got;
	size_t		 len, i;
	int		 fd;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 1);
	/* Odd length: the extract is the disk, 512-rounded, zero tail. */
	mkfile(path, 200 * K + 77, 128 * K, buf, sizeof(buf));
	CU_ASSERT_FATAL(img_open(path, NULL, &img, NULL, 0) == 0);
	fd = mkstemp(out);
	CU_ASSERT_FATAL(fd >= 0);
	report_init(&rp);
	CU_ASSERT_EQUAL(img_extract(img, NULL, fd, &rp), 0);
	CU_ASSERT_EQUAL(rp.nf, 0);
	report_release(&rp);
	got = slurp(fd, &len);
	CU_ASSERT_EQUAL(len, 200 * K + 512);
	CU_ASSERT_EQUAL(memcmp(got + 128 * K, buf, sizeof(buf)), 0);
	for (i = 0; i < len; i++)
		if ((i < 128 * K || i >= 132 * K) && got[i] != 0)
			break;
	CU_ASSERT_EQUAL(i, len);
	free(got);

	/* Over old bytes: the zero runs overwrite them, nothing is left. */
	CU_ASSERT_FATAL(ftruncate(fd, 0) == 0);
	memset(buf, 0xee, sizeof(buf));
	for (i = 0; i < 300 * K; i += sizeof(buf))
		CU_ASSERT_FATAL(pwrite(fd, buf, sizeof(buf), (off_t)i) ==
		    (ssize_t)sizeof(buf));
	report_init(&rp);
	CU_ASSERT_EQUAL(img_extract(img, NULL, fd, &rp), 0);
	report_release(&rp);
	got = slurp(fd, &len);
	CU_ASSERT_EQUAL(len, 300 * K);	/* never shrunk */
	CU_ASSERT_EQUAL(got[0], 0);
	CU_ASSERT_EQUAL(got[128 * K], 1);
	CU_ASSERT_EQUAL(got[200 * K + 100], 0);
	CU_ASSERT_EQUAL(got[200 * K + 600], 0xee);
	free(got);
	close(fd);
	unlink(out);

	/* A raw image holds no named objects. */
	report_init(&rp);
	CU_ASSERT_EQUAL(img_extract(img, "disk.img", 1, &rp), -IMG_ENOOP);
	report_release(&rp);
	img_close(img);
	unlink(path);
}

static void
test_extract_pipe(void)
{
	struct img	*img;
	struct report	 rp;
	char		 path[] = "/tmp/imgkit-raw-XXXXXX";
	uint8_t		 buf[2 * K], got[16 * K];
	ssize_t		 n;
	size_t		 have = 0;
	int		 p[2];

	memset(buf, 0x42, sizeof(buf));
	/* 10000 bytes, data at 8 KiB: a 10240-byte disk, fits a pipe. */
	mkfile(path, 10000, 8 * K, buf, 1000);
	CU_ASSERT_FATAL(img_open(path, NULL, &img, NULL, 0) == 0);
	CU_ASSERT_FATAL(pipe(p) == 0);
	report_init(&rp);
	CU_ASSERT_EQUAL(img_extract(img, NULL, p[1], &rp), 0);
	report_release(&rp);
	close(p[1]);
	while ((n = read(p[0], got + have, sizeof(got) - have)) > 0)
		have += (size_t)n;
	close(p[0]);
	CU_ASSERT_EQUAL(have, 10240);
	CU_ASSERT_EQUAL(got[0], 0);
	CU_ASSERT_EQUAL(got[8 * K - 1], 0);
	CU_ASSERT_EQUAL(got[8 * K], 0x42);
	CU_ASSERT_EQUAL(got[8 * K + 999], 0x42);
	CU_ASSERT_EQUAL(got[8 * K + 1000], 0);
	CU_ASSERT_EQUAL(got[10239], 0);
	img_close(img);
	unlink(path);
}

/*
 * A fake format over any file: a 1 MiB disk whose map is fixed, whose
 * reads give a pattern of the guest offset, and whose backing file is
 * fake_backing (raw, probed).
 *
 *   [0, 64K)       data            read: (off * 3) & 0xff
 *   [64K, 128K)    zero
 *   [128K, 192K)   damage          (force only; a finding, zeros)
 *   [192K, 256K)   unallocated     from the backing file (raw)
 *   [256K, 1M)     unallocated     past the backing file: zero
 */
static char	fake_backing[64];
static uint32_t	fake_code;

static uint64_t
fake_vsize(struct img *img)
{
	(void)img;
	return 1024 * K;
}

static int
fake_map(struct img *img, const struct map_req *rq, map_fn *fn, void *arg)
{
	struct map_ext	e[4];
	size_t		i;
	int		rc;

	(void)img;
	memset(e, 0, sizeof(e));
	e[0].length = 64 * K;
	e[0].present = e[0].data = e[0].has_offset = true;
	e[1].start = 64 * K;
	e[1].length = 64 * K;
	e[1].present = e[1].zero = true;
	e[2].start = 128 * K;
	e[2].length = 64 * K;
	e[2].damage = fake_code;
	e[3].start = 192 * K;
	e[3].length = 832 * K;
	if (!rq->force) {
		/* Unforced, the damaged table fails the map. */
		for (i = 0; i < 2; i++)
			if ((rc = fn(arg, &e[i])) != 0)
				return rc;
		return -IMG_EINVAL;
	}
	for (i = 0; i < 4; i++)
		if ((rc = fn(arg, &e[i])) != 0)
			return rc;
	return 0;
}

static int
fake_read(struct img *img, const struct map_ext *run, uint64_t off,
    void *buf, size_t len, struct report *rp)
{
	uint8_t	*p = buf;
	size_t	 i;

	(void)img;
	(void)rp;
	CU_ASSERT(off >= run->start && off + len <= run->start + run->length);
	for (i = 0; i < len; i++)
		p[i] = (uint8_t)((off + i) * 3);
	return 0;
}

static int
fake_backing_op(struct img *img, char *name, size_t namelen, char *fmt,
    size_t fmtlen)
{
	(void)img;
	snprintf(name, namelen, "%s", fake_backing);
	snprintf(fmt, fmtlen, "%s", "");
	return 1;
}

static const struct fmt_ops	fake_ops = {
	.name = "fake",
	.map = fake_map,
	.read = fake_read,
	.backing = fake_backing_op,
	.vsize = fake_vsize,
};

struct prog {
	uint64_t	calls;
	uint64_t	last;
	uint64_t	total;
	bool		backwards;
};

static void
progress(void *arg, uint64_t done, uint64_t total)
{
	struct prog	*pg = arg;

	if (done < pg->last)
		pg->backwards = true;
	pg->calls++;
	pg->last = done;
	pg->total = total;
}

static void
test_extract_chain(void)
{
	struct img_extract_opts	 o;
	struct img		*img;
	struct report		 rp;
	struct prog		 pg;
	char			 path[] = "/tmp/imgkit-raw-XXXXXX";
	char			 out[] = "/tmp/imgkit-raw-out-XXXXXX";
	uint8_t			 b[80 * K], *got;
	size_t			 len, i;
	int			 fd;

	/* The backing file: 0x77 over guest [128K, 208K). */
	snprintf(fake_backing, sizeof(fake_backing),
	    "/tmp/imgkit-raw-base-XXXXXX");
	memset(b, 0x77, sizeof(b));
	mkfile(fake_backing, 256 * K, 128 * K, b, sizeof(b));
	fake_code = pr_info_get(PR_CORE_LIMIT)->code;
	mkfile(path, 4096, 0, NULL, 0);
	CU_ASSERT_FATAL(img_open(path, NULL, &img, NULL, 0) == 0);
	img->ops = &fake_ops;		/* a fake over a raw file */
	fd = mkstemp(out);
	CU_ASSERT_FATAL(fd >= 0);

	/* Without force the damage fails the extract. */
	report_init(&rp);
	CU_ASSERT_EQUAL(img_extract(img, NULL, fd, &rp), -IMG_EINVAL);
	report_release(&rp);
	CU_ASSERT_FATAL(ftruncate(fd, 0) == 0);

	memset(&o, 0, sizeof(o));
	memset(&pg, 0, sizeof(pg));
	o.force = true;
	o.progress = progress;
	o.parg = &pg;
	report_init(&rp);
	CU_ASSERT_EQUAL(img_extract_ex(img, NULL, fd, &rp, &o), 0);
	CU_ASSERT_EQUAL_FATAL(rp.nf, 1);
	CU_ASSERT_EQUAL(rp.f[0].id, PR_CORE_LIMIT);
	CU_ASSERT_TRUE(rp.f[0].flags & PC_GUEST);
	CU_ASSERT_EQUAL(rp.f[0].guest_off, 128 * K);
	CU_ASSERT_EQUAL(rp.f[0].guest_len, 64 * K);
	report_release(&rp);
	CU_ASSERT_TRUE(pg.calls >= 2);
	CU_ASSERT_FALSE(pg.backwards);
	CU_ASSERT_EQUAL(pg.last, 1024 * K);
	CU_ASSERT_EQUAL(pg.total, 1024 * K);
	got = slurp(fd, &len);
	CU_ASSERT_EQUAL_FATAL(len, 1024 * K);
	for (i = 0; i < 64 * K; i++)
		if (got[i] != (uint8_t)(i * 3))
			break;
	CU_ASSERT_EQUAL(i, 64 * K);
	for (i = 64 * K; i < 192 * K; i++)
		if (got[i] != 0)
			break;
	CU_ASSERT_EQUAL(i, 192 * K);	/* zero, then damage as zeros */
	for (i = 192 * K; i < 208 * K; i++)
		if (got[i] != 0x77)
			break;
	CU_ASSERT_EQUAL(i, 208 * K);	/* from the backing file */
	for (i = 208 * K; i < len; i++)
		if (got[i] != 0)
			break;
	CU_ASSERT_EQUAL(i, len);
	free(got);

	/* no_backing: the unallocated ranges are zeros. */
	CU_ASSERT_FATAL(ftruncate(fd, 0) == 0);
	o.no_backing = true;
	o.progress = NULL;
	report_init(&rp);
	CU_ASSERT_EQUAL(img_extract_ex(img, NULL, fd, &rp, &o), 0);
	report_release(&rp);
	got = slurp(fd, &len);
	CU_ASSERT_EQUAL_FATAL(len, 1024 * K);
	CU_ASSERT_EQUAL(got[200 * K], 0);
	CU_ASSERT_EQUAL(got[100], (uint8_t)300);
	free(got);
	close(fd);
	unlink(out);
	img_close(img);
	unlink(path);
	unlink(fake_backing);
}

int suite_raw(void);

int
suite_raw(void)
{
	CU_pSuite	s = CU_add_suite("raw", NULL, NULL);

	if (s == NULL)
		return -1;
	CU_add_test(s, "detected last, no check, info", test_detect);
	CU_add_test(s, "a magic wins over raw", test_magic_wins);
	CU_add_test(s, "map by host holes", test_map);
	CU_add_test(s, "extract to a file", test_extract_file);
	CU_add_test(s, "extract to a pipe", test_extract_pipe);
	CU_add_test(s, "extract through a chain, damage, progress",
	    test_extract_chain);
	return 0;
}
