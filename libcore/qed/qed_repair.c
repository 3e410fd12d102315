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

/* Copy img to a new file at path, sparse (img_copy_sparse()). */
static int
qed_copy(struct img *img, const char *path)
{
	struct stat	 a, b;
	int		 fd, rc;

	/* Never truncate the image we are reading. */
	if (stat(path, &b) == 0 && fstat(img->fd, &a) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
		img_set_error(img, "'%s' is the image itself", path);
		return -EINVAL;
	}
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644)) < 0)
		return -errno;
	rc = img_copy_sparse(img, fd);
	if (close(fd) != 0 && rc == 0)
		rc = -errno;
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
	img_set_progress(out, img->progress, img->parg);
	rc = qed_check_walk(out, rp, true, NULL);
	img_close(out);
	return rc;
}
