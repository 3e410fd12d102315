/* SPDX-License-Identifier: MIT */
/*
 * copy.c --- copy an image into a new file, sparse, for a repair into a
 * copy.
 *
 * Only the extents the file system says hold data are read (SEEK_DATA and
 * SEEK_HOLE; a file system without them gives one extent, the file), in
 * large chunks through one buffer; chunks of zeros are not written, so
 * the copy is as sparse as `cp --sparse=always` makes it.  A 64 GiB image
 * with 16 GiB written costs 16 GiB of reads, not 64.
 */
#define _GNU_SOURCE	/* SEEK_DATA, SEEK_HOLE */
#include <sys/stat.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "core/banned.h"

#define COPY_CHUNK	(4U << 20)

static bool
all_zero(const uint8_t *p, size_t n)
{
	static const uint8_t	z[4096];
	size_t			i;

	for (i = 0; i + sizeof(z) <= n; i += sizeof(z))
		if (memcmp(p + i, z, sizeof(z)) != 0)
			return false;
	return i == n || memcmp(p + i, z, n - i) == 0;
}

/* The next data extent [*ds, *de) at or after off; false if none. */
static bool
next_extent(int fd, uint64_t off, uint64_t size, uint64_t *ds, uint64_t *de)
{
	off_t	d, h;

	if (off >= size)
		return false;
	d = lseek(fd, (off_t)off, SEEK_DATA);
	if (d < 0) {
		if (errno == ENXIO)
			return false;	/* a hole to the end */
		*ds = off;		/* no information: all data */
		*de = size;
		return true;
	}
	h = lseek(fd, d, SEEK_HOLE);
	*ds = (uint64_t)d;
	*de = h < 0 || (uint64_t)h > size ? size : (uint64_t)h;
	return *ds < size;
}

int
img_copy_sparse(struct img *img, int fd)
{
	uint8_t		*buf;
	uint64_t	 size = img->size, off = 0, ds, de;
	size_t		 n;
	int		 rc = 0;

	if ((buf = malloc(COPY_CHUNK)) == NULL)
		return -ENOMEM;
	while (rc == 0 && next_extent(img->fd, off, size, &ds, &de)) {
		for (off = ds; off < de; off += n) {
			if (img_interrupted()) {
				rc = -EINTR;
				break;
			}
			img_progress(img, off, size);
			n = de - off < COPY_CHUNK ? (size_t)(de - off) :
			    COPY_CHUNK;
			if ((rc = img_pread(img, off, buf, n)) != 0 ||
			    (!all_zero(buf, n) &&
			    (rc = fd_pwrite_full(fd, buf, n, off)) != 0))
				break;
		}
		off = de;
	}
	if (rc == 0 && ftruncate(fd, (off_t)size) != 0)
		rc = -errno;
	if (rc == 0 && fsync(fd) != 0)
		rc = -errno;
	free(buf);
	return rc;
}
