/* SPDX-License-Identifier: MIT */
/*
 * qed_repair.c --- repair a QED image the way qemu-img check -r does.
 *
 * The walk is the check's (qed_check_walk): invalid L1 and L2 offsets are
 * zeroed (the guest then reads zeros or the backing file there, and the
 * clusters they pointed to become leaks), changed tables are written
 * back, and NEED_CHECK is cleared last when no corruption is left.
 * Leaks and double references stay, as in QEMU (spec 4.3).  A repair into
 * a new file first copies the image there, keeping holes, and repairs the
 * copy; the original is only read.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qed/qed.h"
#include "core/banned.h"

/* Bytes copied per read when cloning the image. */
#define QED_COPY_CHUNK	(1024u * 1024)

static bool
all_zero(const uint8_t *p, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

/* Copy img to a new file at path; zero chunks stay holes. */
static int
qed_copy(struct img *img, const char *path)
{
	struct stat	 a, b;
	uint8_t		*buf;
	uint64_t	 off, size = img_file_size(img);
	size_t		 n;
	int		 fd, rc = 0;

	/* Never truncate the image we are reading. */
	if (stat(path, &b) == 0 && fstat(img->fd, &a) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
		img_set_error(img, "'%s' is the image itself", path);
		return -EINVAL;
	}
	if ((buf = malloc(QED_COPY_CHUNK)) == NULL)
		return -ENOMEM;
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644)) < 0) {
		rc = -errno;
		goto out;
	}
	for (off = 0; off < size; off += n) {
		n = size - off < QED_COPY_CHUNK ? (size_t)(size - off) :
		    QED_COPY_CHUNK;
		if ((rc = img_pread(img, off, buf, n)) != 0)
			break;
		if (!all_zero(buf, n) &&
		    (rc = fd_pwrite_full(fd, buf, n, off)) != 0)
			break;
	}
	if (rc == 0 && ftruncate(fd, (off_t)size) != 0)
		rc = -errno;
	if (rc == 0 && fsync(fd) != 0)
		rc = -errno;
	if (close(fd) != 0 && rc == 0)
		rc = -errno;
out:
	free(buf);
	return rc;
}

int
qed_repair(struct img *img, struct report *rp, const char *out_path)
{
	struct img_opts	 opts;
	struct img	*out;
	char		 err[IMG_ERRMSG_MAX];
	int		 rc;

	if (out_path == NULL)
		return qed_check_walk(img, rp, true, NULL);
	if ((rc = qed_copy(img, out_path)) != 0)
		return rc;
	memset(&opts, 0, sizeof(opts));
	opts.format = "qed";
	opts.flags = IMG_RDWR;
	if ((rc = img_open(out_path, &opts, &out, err, sizeof(err))) != 0)
		return rc;
	rc = qed_check_walk(out, rp, true, NULL);
	img_close(out);
	return rc;
}
