/* SPDX-License-Identifier: MIT */
/*
 * file.c --- opening the files we read and write: only regular files and
 * block devices, never blocking on a FIFO, QEMU's image locks honoured;
 * and outputs that are written beside their target under a temporary
 * name and renamed into place only when the work succeeded.
 */
#define _GNU_SOURCE	/* F_OFD_SETLK, F_OFD_GETLK */
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/fs.h>	/* BLKGETSIZE64 */

#include "core/core.h"
#include "core/banned.h"

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	va;

	if (err == NULL || errlen == 0)
		return;
	va_start(va, fmt);
	vsnprintf(err, errlen, fmt, va);
	va_end(va);
}

static const char *
kind_name(mode_t m)
{
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISSOCK(m))
		return "a socket";
	if (S_ISCHR(m))
		return "a character device";
	return "not a regular file";
}

/*
 * QEMU's locks (block/file-posix.c): for each permission bit i a process
 * holds, a shared OFD lock on byte 100 + i; for each one it does not let
 * others have, a shared lock on byte 200 + i.  A process may take a
 * permission when nobody locks its 200 byte, and may refuse it to others
 * when nobody locks its 100 byte.
 */
#define QLOCK_PERM_BASE		100
#define QLOCK_SHARED_BASE	200
enum {
	QPERM_CONSISTENT_READ	= 1 << 0,
	QPERM_WRITE		= 1 << 1,
	QPERM_WRITE_UNCHANGED	= 1 << 2,
	QPERM_RESIZE		= 1 << 3,
	QPERM_NBITS		= 4
};
static const char *const qperm_name[QPERM_NBITS] = {
	"consistent read", "write", "write unchanged", "resize"
};

static int
qlock_byte(int fd, int cmd, short type, off_t at)
{
	struct flock	fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = at;
	fl.l_len = 1;
	if (fcntl(fd, cmd, &fl) != 0)
		return -errno;
	if (cmd == F_OFD_GETLK && fl.l_type != F_UNLCK)
		return 1;
	return 0;
}

static int
img_qemu_lock(int fd, bool rdwr, const char *path, char *err, size_t errlen)
{
	unsigned	perm, unshared, bit;
	int		i, rc;

	/* As qemu-img: read, plus write and resize for a repair; nobody
	 * else may write or resize meanwhile. */
	perm = QPERM_CONSISTENT_READ | (rdwr ? QPERM_WRITE | QPERM_RESIZE : 0);
	unshared = QPERM_WRITE | QPERM_RESIZE;
	for (i = 0; i < QPERM_NBITS; i++) {
		bit = 1u << i;
		if (((perm & bit) && (rc = qlock_byte(fd, F_OFD_SETLK, F_RDLCK,
		    QLOCK_PERM_BASE + i)) != 0) || ((unshared & bit) &&
		    (rc = qlock_byte(fd, F_OFD_SETLK, F_RDLCK,
		    QLOCK_SHARED_BASE + i)) != 0)) {
			if (rc == -EINVAL || rc == -ENOLCK || rc == -EOPNOTSUPP)
				return 0;	/* no OFD locks here: as QEMU */
			seterr(err, errlen, "Failed to lock byte %d of '%s': "
			    "%s (is another process using the image?)",
			    (perm & bit) ? QLOCK_PERM_BASE + i :
			    QLOCK_SHARED_BASE + i, path, strerror(-rc));
			return -IMG_ELOCKED;
		}
	}
	for (i = 0; i < QPERM_NBITS; i++) {
		bit = 1u << i;
		if ((perm & bit) && (rc = qlock_byte(fd, F_OFD_GETLK, F_WRLCK,
		    QLOCK_SHARED_BASE + i)) != 0) {
			if (rc < 0)
				return 0;
			seterr(err, errlen, "Failed to get \"%s\" lock: another "
			    "process (QEMU?) has the image open and does not "
			    "share it%s", qperm_name[i], rdwr ? "" :
			    "; -U/--force-share reads it anyway");
			return -IMG_ELOCKED;
		}
		if ((unshared & bit) && (rc = qlock_byte(fd, F_OFD_GETLK,
		    F_WRLCK, QLOCK_PERM_BASE + i)) != 0) {
			if (rc < 0)
				return 0;
			seterr(err, errlen, "Failed to get shared \"%s\" lock: "
			    "another process (QEMU?) has the image open for "
			    "%s%s", qperm_name[i], i == 1 ? "writing" :
			    "resizing", rdwr ? "" :
			    "; -U/--force-share reads it anyway");
			return -IMG_ELOCKED;
		}
	}
	return 0;
}

int
img_file_open(const char *path, bool rdwr, bool nolock, int *fdp,
    uint64_t *sizep, char *err, size_t errlen)
{
	struct stat	st;
	uint64_t	bsz;
	int		fd, fl, rc;

	*fdp = -1;
	/* O_NONBLOCK: a FIFO with no writer must not hang us in open(). */
	fd = open(path, (rdwr ? O_RDWR : O_RDONLY) | O_NONBLOCK | O_CLOEXEC |
	    O_NOCTTY);
	if (fd < 0) {
		rc = -errno;
		seterr(err, errlen, "%s", strerror(errno));
		return rc;
	}
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		seterr(err, errlen, "%s", strerror(errno));
		goto fail;
	}
	if (S_ISREG(st.st_mode))
		*sizep = (uint64_t)st.st_size;
	else if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &bsz) != 0) {
			rc = -errno;
			seterr(err, errlen, "cannot get the size of block "
			    "device: %s", strerror(errno));
			goto fail;
		}
		*sizep = bsz;
	} else {
		rc = S_ISDIR(st.st_mode) ? -EISDIR : -IMG_EINVAL;
		seterr(err, errlen, "%s, not an image (only regular files and "
		    "block devices are read)", kind_name(st.st_mode));
		goto fail;
	}
	/*
	 * Read-only, leave the image's access time alone: evidence read
	 * for a check keeps its timestamps, and the kernel skips its atime
	 * test on every read (a twentieth of a warm 512-byte-cluster check).
	 * Only the file's owner (or CAP_FOWNER) may; others read as before.
	 */
	if ((fl = fcntl(fd, F_GETFL)) < 0 || ((rdwr || fcntl(fd, F_SETFL,
	    (fl & ~O_NONBLOCK) | O_NOATIME) != 0) &&
	    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0)) {
		rc = -errno;
		seterr(err, errlen, "%s", strerror(errno));
		goto fail;
	}
	if (!nolock && (rc = img_qemu_lock(fd, rdwr, path, err, errlen)) != 0)
		goto fail;
	*fdp = fd;
	return 0;
fail:
	close(fd);
	return rc;
}

/* ---- outputs ---------------------------------------------------------- */

/* The temporary file being written, for img_out_cleanup() in a signal. */
static char	out_pending[PATH_MAX];

void
img_out_cleanup(void)
{
	if (out_pending[0] != '\0')
		(void)unlink(out_pending);
}

int
img_out_open(struct img_out *o, const char *path, struct img *const *in,
    size_t nin, char *err, size_t errlen)
{
	struct stat	 st, ist;
	const char	*slash, *base;
	mode_t		 mode, um;
	size_t		 i, dlen, n;
	bool		 exists;
	int		 rc;

	memset(o, 0, sizeof(*o));
	o->fd = -1;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	exists = stat(path, &st) == 0;
	if (exists) {
		/* Through any name, link or symlink: never an input. */
		for (i = 0; i < nin; i++)
			if (in[i] != NULL && fstat(in[i]->fd, &ist) == 0 &&
			    ist.st_dev == st.st_dev && ist.st_ino == st.st_ino) {
				seterr(err, errlen, "'%s' is the input image "
				    "'%s' itself; write to another file", path,
				    in[i]->path);
				return -IMG_EINVAL;
			}
		if (!S_ISREG(st.st_mode)) {
			seterr(err, errlen, "'%s' is %s; outputs are regular "
			    "files", path, kind_name(st.st_mode));
			return -IMG_EINVAL;
		}
	} else if (errno != ENOENT) {
		rc = -errno;
		seterr(err, errlen, "cannot use '%s': %s", path,
		    strerror(errno));
		return rc;
	}
	slash = strrchr(path, '/');
	base = slash != NULL ? slash + 1 : path;
	dlen = slash != NULL ? (size_t)(slash - path) + 1 : 0;
	if (*base == '\0') {
		seterr(err, errlen, "'%s' names a directory", path);
		return -EISDIR;
	}
	n = dlen + 1 + strlen(base) + 16;
	if (n >= sizeof(out_pending)) {
		seterr(err, errlen, "'%s': name too long", path);
		return -ENAMETOOLONG;
	}
	if ((o->path = strdup(path)) == NULL ||
	    (o->tmp = malloc(n)) == NULL) {
		free(o->path);
		o->path = NULL;
		return -ENOMEM;
	}
	snprintf(o->tmp, n, "%.*s.%s.tmpXXXXXX", (int)dlen, path, base);
	if ((o->fd = mkstemp(o->tmp)) < 0) {
		rc = -errno;
		seterr(err, errlen, "cannot create a file beside '%s': %s",
		    path, strerror(errno));
		free(o->tmp);
		free(o->path);
		memset(o, 0, sizeof(*o));
		o->fd = -1;
		return rc;
	}
	snprintf(out_pending, sizeof(out_pending), "%s", o->tmp);
	um = umask(0);
	umask(um);
	mode = exists ? st.st_mode & 07777 : 0644 & ~um;
	(void)fchmod(o->fd, mode);
	return 0;
}

int
img_out_commit(struct img_out *o, char *err, size_t errlen)
{
	const char	*slash;
	char		*dir;
	int		 dfd, rc = 0;

	if (fsync(o->fd) != 0 || close(o->fd) != 0) {
		rc = -errno;
		o->fd = -1;
		seterr(err, errlen, "cannot write '%s': %s", o->path,
		    strerror(errno));
		img_out_abort(o);
		return rc;
	}
	o->fd = -1;
	if (rename(o->tmp, o->path) != 0) {
		rc = -errno;
		seterr(err, errlen, "cannot rename into '%s': %s", o->path,
		    strerror(errno));
		img_out_abort(o);
		return rc;
	}
	out_pending[0] = '\0';
	slash = strrchr(o->path, '/');
	dir = slash == NULL ? strdup(".") : slash == o->path ? strdup("/") :
	    strndup(o->path, (size_t)(slash - o->path));
	if (dir != NULL && (dfd = open(dir, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	free(dir);
	free(o->tmp);
	free(o->path);
	o->tmp = o->path = NULL;
	return 0;
}

void
img_out_abort(struct img_out *o)
{
	if (o->fd >= 0)
		close(o->fd);
	o->fd = -1;
	if (o->tmp != NULL)
		(void)unlink(o->tmp);
	out_pending[0] = '\0';
	free(o->tmp);
	free(o->path);
	o->tmp = o->path = NULL;
}
