/* SPDX-License-Identifier: MIT */
/*
 * test_hole.c --- host-file block status (core/hole.c): data, holes, the
 * partial last sector and the end of the file as QEMU 7.2 reports them,
 * and the split of a run by the holes of the file it points into.
 *
 * Files are built here with ftruncate() and pwrite(); data sits on 64 KiB
 * boundaries so any filesystem block size up to that keeps the holes
 * where we put them.  On a filesystem that reports no holes at all the
 * hole cases are not asserted (everything is data there, for QEMU too).
 */
#define _GNU_SOURCE	/* SEEK_HOLE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "core/core.h"
#include "unit/runs.h"

#define K	1024ULL

static char	hpath[64];

/* A new file of size bytes with data (0xa5) at each [off, off + len). */
static int
hole_file(uint64_t size, const uint64_t *ext, size_t next)
{
	uint8_t	buf[64 * 1024];
	size_t	i;
	int	fd;

	snprintf(hpath, sizeof(hpath), "/tmp/imgkit-hole-XXXXXX");
	fd = mkstemp(hpath);
	CU_ASSERT_FATAL(fd >= 0);
	unlink(hpath);
	CU_ASSERT_FATAL(ftruncate(fd, (off_t)size) == 0);
	memset(buf, 0xa5, sizeof(buf));
	for (i = 0; i + 1 < next; i += 2) {
		CU_ASSERT_FATAL(ext[i + 1] <= sizeof(buf));
		CU_ASSERT_FATAL(pwrite(fd, buf, ext[i + 1], (off_t)ext[i]) ==
		    (ssize_t)ext[i + 1]);
	}
	return fd;
}

/* Does this filesystem report the hole we left at the start of fd? */
static bool
holes_seen(int fd)
{
	return lseek(fd, 0, SEEK_HOLE) == 0;
}

static void
status(int fd, uint64_t off, uint64_t len, bool want_data, uint64_t want_n,
    bool want_eof)
{
	uint64_t	pnum = 99;
	bool		data = !want_data, eof = !want_eof;

	CU_ASSERT_EQUAL_FATAL(fd_block_status(fd, off, len, &data, &pnum,
	    &eof), 0);
	CU_ASSERT_EQUAL(data, want_data);
	CU_ASSERT_EQUAL(pnum, want_n);
	CU_ASSERT_EQUAL(eof, want_eof);
	if (data != want_data || pnum != want_n || eof != want_eof)
		fprintf(stderr, "\nstatus(%llu, %llu): data %d pnum %llu eof "
		    "%d, want %d %llu %d\n", (unsigned long long)off,
		    (unsigned long long)len, data, (unsigned long long)pnum,
		    eof, want_data, (unsigned long long)want_n, want_eof);
}

static void
test_empty(void)
{
	int	fd = hole_file(0, NULL, 0);

	/* Nothing inside: EOF at once, nothing counted. */
	status(fd, 0, 512, false, 0, true);
	status(fd, 1ULL << 40, 512, false, 0, true);
	status(fd, UINT64_MAX - 10, 512, false, 0, true);
	close(fd);
}

static void
test_odd_length(void)
{
	const uint64_t	ext[] = { 0, 1000 };
	int		fd = hole_file(1000, ext, 2);

	/*
	 * The length counts as 1024 (bdrv_getlength()): data up to the
	 * real end, then the partial sector as a trailing hole.
	 */
	status(fd, 0, 1 << 20, true, 1000, false);
	status(fd, 500, 10, true, 10, false);
	status(fd, 1000, 1 << 20, false, 24, true);
	status(fd, 1010, 4, false, 4, false);
	status(fd, 1023, 100, false, 1, true);
	status(fd, 1024, 100, false, 0, true);
	close(fd);
}

static void
test_tiny(void)
{
	const uint64_t	ext[] = { 0, 5 };
	int		fd = hole_file(5, ext, 2);

	status(fd, 0, 512, true, 5, false);
	status(fd, 5, 507, false, 507, true);
	close(fd);
}

static void
test_holes(void)
{
	const uint64_t	ext[] = { 256 * K, 64 * K, 512 * K, 64 * K };
	int		fd = hole_file(1024 * K, ext, 4);

	if (!holes_seen(fd)) {
		/* No hole support: all data, as QEMU would see it too. */
		status(fd, 0, 1024 * K, true, 1024 * K, true);
		close(fd);
		return;
	}
	/* A leading hole is a hole like any other (no first-block rule). */
	status(fd, 0, 1024 * K, false, 256 * K, false);
	status(fd, 100, 50, false, 50, false);
	status(fd, 256 * K, 1024 * K, true, 64 * K, false);
	status(fd, 300 * K, 1024 * K, true, 20 * K, false);
	status(fd, 320 * K, 1024 * K, false, 192 * K, false);
	status(fd, 512 * K, 8 * K, true, 8 * K, false);
	/* The trailing hole: SEEK_DATA says ENXIO, the rest is zero. */
	status(fd, 576 * K, 1024 * K, false, 448 * K, true);
	status(fd, 576 * K, 4 * K, false, 4 * K, false);
	status(fd, 1024 * K, 1, false, 0, true);
	close(fd);
}

static void
test_hole_then_odd_tail(void)
{
	const uint64_t	ext[] = { 64 * K, 100 };
	int		fd = hole_file(64 * K + 100, ext, 2);

	if (!holes_seen(fd)) {
		close(fd);
		return;
	}
	status(fd, 0, 1 << 20, false, 64 * K, false);
	/* Data to the end of the file, then the rest of the sector. */
	status(fd, 64 * K, 1 << 20, true, 100, false);
	status(fd, 64 * K + 100, 1 << 20, false, 412, true);
	close(fd);
}

static void
run_is(const struct map_ext *e, uint64_t start, uint64_t len,
    uint64_t off, bool data, bool zero)
{
	CU_ASSERT_EQUAL(e->start, start);
	CU_ASSERT_EQUAL(e->length, len);
	CU_ASSERT_EQUAL(e->offset, off);
	CU_ASSERT_TRUE(e->has_offset);
	CU_ASSERT_TRUE(e->present);
	CU_ASSERT_EQUAL(e->data, data);
	CU_ASSERT_EQUAL(e->zero, zero);
}

static void
test_recurse(void)
{
	const uint64_t		 ext[] = { 256 * K, 64 * K };
	struct map_merge	 m;
	struct map_ext		 e;
	struct runs		 rs;
	int			 fd = hole_file(1024 * K, ext, 2);

	if (!holes_seen(fd)) {
		close(fd);
		return;
	}
	memset(&e, 0, sizeof(e));
	e.present = e.data = e.has_offset = true;

	/* Guest 1 MiB at host 128 KiB: hole, data, then zero to the end. */
	memset(&rs, 0, sizeof(rs));
	map_merge_init(&m, collect, &rs);
	e.start = 4 * K;
	e.length = 2048 * K;
	e.offset = 128 * K;
	CU_ASSERT_EQUAL(map_merge_add_recurse(&m, &e, fd), 0);
	CU_ASSERT_EQUAL(map_merge_end(&m), 0);
	CU_ASSERT_EQUAL_FATAL(rs.n, 3);
	run_is(&rs.r[0], 4 * K, 128 * K, 128 * K, true, true);
	run_is(&rs.r[1], 132 * K, 64 * K, 256 * K, true, false);
	/* The trailing hole and past EOF: one zero run, data kept. */
	run_is(&rs.r[2], 196 * K, 1856 * K, 320 * K, true, true);

	/* Wholly past the end of the file: zero, in one piece. */
	memset(&rs, 0, sizeof(rs));
	map_merge_init(&m, collect, &rs);
	e.start = 0;
	e.length = 64 * K;
	e.offset = 4096 * K;
	CU_ASSERT_EQUAL(map_merge_add_recurse(&m, &e, fd), 0);
	CU_ASSERT_EQUAL(map_merge_end(&m), 0);
	CU_ASSERT_EQUAL_FATAL(rs.n, 1);
	run_is(&rs.r[0], 0, 64 * K, 4096 * K, true, true);

	/* Inside data: unchanged. */
	memset(&rs, 0, sizeof(rs));
	map_merge_init(&m, collect, &rs);
	e.offset = 256 * K;
	CU_ASSERT_EQUAL(map_merge_add_recurse(&m, &e, fd), 0);
	CU_ASSERT_EQUAL(map_merge_end(&m), 0);
	CU_ASSERT_EQUAL_FATAL(rs.n, 1);
	run_is(&rs.r[0], 0, 64 * K, 256 * K, true, false);

	/* A zero run is not split (QEMU only recurses into data). */
	memset(&rs, 0, sizeof(rs));
	map_merge_init(&m, collect, &rs);
	e.offset = 0;
	e.zero = true;
	e.data = false;
	CU_ASSERT_EQUAL(map_merge_add_recurse(&m, &e, fd), 0);
	CU_ASSERT_EQUAL(map_merge_end(&m), 0);
	CU_ASSERT_EQUAL_FATAL(rs.n, 1);
	run_is(&rs.r[0], 0, 64 * K, 0, false, true);
	close(fd);
}

static void
test_recurse_odd_tail(void)
{
	const uint64_t		 ext[] = { 0, 1000 };
	struct map_merge	 m;
	struct map_ext		 e;
	struct runs		 rs;
	int			 fd = hole_file(1000, ext, 2);

	/* Data to byte 1000, then everything past it is zero. */
	memset(&e, 0, sizeof(e));
	e.present = e.data = e.has_offset = true;
	e.length = 64 * K;
	memset(&rs, 0, sizeof(rs));
	map_merge_init(&m, collect, &rs);
	CU_ASSERT_EQUAL(map_merge_add_recurse(&m, &e, fd), 0);
	CU_ASSERT_EQUAL(map_merge_end(&m), 0);
	CU_ASSERT_EQUAL_FATAL(rs.n, 2);
	run_is(&rs.r[0], 0, 1000, 0, true, false);
	run_is(&rs.r[1], 1000, 64 * K - 1000, 1000, true, true);
	close(fd);
}

static void
test_bad_fd(void)
{
	uint64_t	pnum;
	bool		data, eof;

	CU_ASSERT(fd_block_status(-1, 0, 512, &data, &pnum, &eof) < 0);
}

int suite_hole(void);

int
suite_hole(void)
{
	CU_pSuite	s = CU_add_suite("hole", NULL, NULL);

	if (s == NULL)
		return -1;
	CU_add_test(s, "empty file", test_empty);
	CU_add_test(s, "odd length: partial last sector", test_odd_length);
	CU_add_test(s, "five bytes", test_tiny);
	CU_add_test(s, "holes, leading and trailing", test_holes);
	CU_add_test(s, "leading hole, odd tail", test_hole_then_odd_tail);
	CU_add_test(s, "recurse: split by host holes", test_recurse);
	CU_add_test(s, "recurse: past an odd end", test_recurse_odd_tail);
	CU_add_test(s, "bad descriptor", test_bad_fd);
	return 0;
}
