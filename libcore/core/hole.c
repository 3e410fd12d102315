/* SPDX-License-Identifier: MIT */
/*
 * hole.c --- host-file block status: data and holes, as QEMU sees them.
 *
 * QEMU 7.2's file driver (block/file-posix.c, find_allocation() and
 * raw_co_block_status()) asks lseek(SEEK_DATA) and then lseek(SEEK_HOLE)
 * where an extent starts; its block layer (block/io.c,
 * bdrv_co_block_status()) clips the answer to the file's length rounded
 * up to a whole 512-byte sector, and says EOF when the answer reaches
 * that length.  qemu-img map of a raw file, and of a qcow2 cluster marked
 * for recursion, is built from these answers, so we ask the same
 * questions in the same order and read the answers the same way:
 *
 *   SEEK_DATA fails with ENXIO      the rest is a trailing hole (zero);
 *   SEEK_DATA fails otherwise       no information: all data;
 *   SEEK_DATA lands after off       a hole up to the next data;
 *   SEEK_DATA lands on off          data, up to what SEEK_HOLE says
 *                                   (ENXIO: a trailing hole after all;
 *                                   other errors, or a hole right at off
 *                                   dug between the two calls: all data).
 *
 * The partial sector after the last byte of a file whose length is not a
 * multiple of 512 is inside the disk and reads as a trailing hole.  A
 * block device is all data, as lseek() reports it.
 */
#define _GNU_SOURCE	/* SEEK_DATA, SEEK_HOLE */
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include <linux/fs.h>	/* BLKGETSIZE64 */

#include "core/core.h"
#include "core/banned.h"

#define HOLE_SECTOR	512

/*
 * The file's length as QEMU's bdrv_getlength() gives it, and whether it
 * is a block device.
 */
static int
hole_length(int fd, uint64_t *len, bool *blk)
{
	struct stat	st;
	uint64_t	n = 0;

	if (fstat(fd, &st) != 0)
		return -errno;
	*blk = S_ISBLK(st.st_mode);
	if (*blk) {
		if (ioctl(fd, BLKGETSIZE64, &n) != 0)
			return -errno;
	} else if (st.st_size < 0)
		return -EINVAL;
	else
		n = (uint64_t)st.st_size;
	/* st_size <= INT64_MAX, so rounding up cannot wrap. */
	*len = (n + HOLE_SECTOR - 1) / HOLE_SECTOR * HOLE_SECTOR;
	return 0;
}

enum hole_kind {
	HK_DATA,		/* data, *end says where it stops */
	HK_HOLE,		/* a hole, *end says where data starts */
	HK_TRAILING,		/* a hole to the end of the file */
	HK_UNKNOWN		/* no information: treat as data */
};

/* find_allocation(): what is at off, and where does it change? */
static enum hole_kind
hole_find(int fd, uint64_t off, uint64_t *end)
{
	off_t	o;

	if (off > INT64_MAX)
		return HK_TRAILING;
	o = lseek(fd, (off_t)off, SEEK_DATA);
	if (o < 0)
		return errno == ENXIO ? HK_TRAILING : HK_UNKNOWN;
	if ((uint64_t)o < off)
		return HK_UNKNOWN;	/* not a valid answer: -EIO */
	if ((uint64_t)o > off) {
		*end = (uint64_t)o;
		return HK_HOLE;
	}
	o = lseek(fd, (off_t)off, SEEK_HOLE);
	if (o < 0)
		return errno == ENXIO ? HK_TRAILING : HK_UNKNOWN;
	if ((uint64_t)o < off)
		return HK_UNKNOWN;
	if ((uint64_t)o > off) {
		*end = (uint64_t)o;
		return HK_DATA;
	}
	return HK_UNKNOWN;		/* a hole dug behind our back: -EBUSY */
}

int
fd_block_status(int fd, uint64_t off, uint64_t len, bool *data,
    uint64_t *pnum, bool *eof)
{
	uint64_t	total = 0, bytes, end = 0, n;
	bool		blk;
	int		rc;

	if ((rc = hole_length(fd, &total, &blk)) != 0)
		return rc;
	if (off >= total || len == 0) {
		*data = false;
		*pnum = 0;
		*eof = off >= total;
		return 0;
	}
	bytes = total - off < len ? total - off : len;
	if (blk) {
		*data = true;
		*pnum = bytes;
		*eof = off + bytes == total;
		return 0;
	}
	switch (hole_find(fd, off, &end)) {
	case HK_DATA:
		n = end - off;
		*data = true;
		break;
	case HK_HOLE:
		n = end - off;
		*data = false;
		break;
	case HK_TRAILING:
		n = bytes;
		*data = false;
		break;
	case HK_UNKNOWN:
	default:
		n = bytes;
		*data = true;
		break;
	}
	/* The block layer clips the driver's answer to the request. */
	*pnum = n < bytes ? n : bytes;
	*eof = off + *pnum == total;
	return 0;
}

int
map_merge_add_recurse(struct map_merge *m, const struct map_ext *e, int fd)
{
	struct map_ext	x = *e, piece;
	uint64_t	pnum;
	bool		data, eof;
	int		rc;

	/* QEMU recurses only into data that is not known to be zero. */
	if (!x.data || x.zero || !x.has_offset)
		return map_merge_add(m, &x);
	while (x.length > 0) {
		/* Errors only cost the extra information, as in QEMU. */
		if (fd_block_status(fd, x.offset, x.length, &data, &pnum,
		    &eof) != 0)
			return map_merge_add(m, &x);
		if (eof && (pnum == 0 || !data)) {
			/* Reads past the end of the file are zeros. */
			x.zero = true;
			return map_merge_add(m, &x);
		}
		piece = x;
		piece.length = pnum;
		if (!data)
			piece.zero = true;
		if ((rc = map_merge_add(m, &piece)) != 0)
			return rc;
		x.start += pnum;
		x.offset += pnum;
		x.length -= pnum;
	}
	return 0;
}
