/* SPDX-License-Identifier: MIT */
/*
 * io.c --- the open image: bounded reads, guarded writes, the undo file.
 *
 * Reads are refused outside the file so a bad offset from disk turns into
 * -IMG_ERANGE, never a short buffer.  Writes are refused on a read-only
 * image; with an undo file (undo.c) every write and every change of length
 * first saves what it replaces, durably.
 */
#define _GNU_SOURCE		/* preadv2(), RWF_NOWAIT */
#include <sys/stat.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "core/undo.h"
#include "core/banned.h"

/*
 * Set from signal handlers and from other threads (the viewer stops its
 * worker with it): a lock-free atomic is safe for both.
 */
static atomic_int	img_stop;

void
img_interrupt(void)
{
	atomic_store_explicit(&img_stop, 1, memory_order_relaxed);
}

bool
img_interrupted(void)
{
	return atomic_load_explicit(&img_stop, memory_order_relaxed) != 0;
}

void
img_set_error(struct img *img, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(img->errmsg, sizeof(img->errmsg), fmt, ap);
	va_end(ap);
}

int
fd_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t	*p = buf;
	ssize_t	 n;

	while (len > 0) {
		n = pread(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -IMG_ERANGE;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int
fd_pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		n = pwrite(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int
fd_write_full(int fd, const void *buf, size_t len)
{
	const uint8_t	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The file's bytes, or the planned ones while a plan is laid over it. */
static int
file_read(struct img *img, void *buf, size_t len, uint64_t off)
{
	if (img->plan != NULL)
		return plan_pread(img->plan, img, off, buf, len);
	return fd_pread_full(img->fd, buf, len, off);
}

int
img_pread(struct img *img, uint64_t off, void *buf, size_t len)
{
	uint64_t	end;

	if (!ck_add_u64(off, len, &end) || end > img->size)
		return -IMG_ERANGE;
	return file_read(img, buf, len, off);
}

int
img_pread_zf(struct img *img, uint64_t off, void *buf, size_t len,
    size_t *got)
{
	size_t	n = 0;
	int	rc;

	if (off < img->size)
		n = img->size - off < len ? (size_t)(img->size - off) : len;
	if (n > 0 && (rc = file_read(img, buf, n, off)) != 0)
		return rc;
	memset((uint8_t *)buf + n, 0, len - n);
	if (got != NULL)
		*got = n;
	return 0;
}

/*
 * Views are read with pread() into a buffer the view keeps: a file that
 * shrinks under us then gives a short read and an error, never SIGBUS,
 * and no mapping is made and torn down per batch (munmap is dear on VMs).
 * A view passed again reuses its buffer; img_view_release() frees it.
 */
int
img_view(struct img *img, uint64_t off, size_t len, struct img_view *v)
{
	uint64_t	 end;
	void		*p;
	int		 rc;

	v->p = NULL;
	v->len = 0;
	if (!ck_add_u64(off, len, &end) || end > img->size)
		return -IMG_ERANGE;
	if (len == 0)
		return -EINVAL;
	if (v->maplen < len) {
		if ((p = realloc(v->map, len)) == NULL)
			return -ENOMEM;
		v->map = p;
		v->maplen = len;
	}
	if ((rc = file_read(img, v->map, len, off)) != 0)
		return rc;
	v->p = v->map;
	v->len = len;
	return 0;
}

void
img_view_release(struct img_view *v)
{
	free(v->map);
	memset(v, 0, sizeof(*v));
}

int
img_pwrite(struct img *img, uint64_t off, const void *buf, size_t len)
{
	uint64_t	end;
	int		rc;

	if (!(img->flags & IMG_RDWR))
		return -IMG_ERDONLY;
	if (img->plan != NULL)
		return -EBUSY;
	if (!ck_add_u64(off, len, &end))
		return -IMG_ERANGE;
	if (len == 0)
		return 0;
	/* The old length, then the old bytes: durable before the write. */
	if ((rc = undo_begin(img)) != 0 ||
	    (end > img->size && (rc = undo_save_size(img, end)) != 0) ||
	    (rc = undo_save_write(img, off, buf, len)) != 0)
		return rc;
	if ((rc = fd_pwrite_full(img->fd, buf, len, off)) != 0)
		return rc;
	if (end > img->size)
		img->size = end;
	return 0;
}

int
img_truncate(struct img *img, uint64_t len)
{
	int	rc;

	if (!(img->flags & IMG_RDWR))
		return -IMG_ERDONLY;
	if (img->plan != NULL)
		return -EBUSY;
	if (len == img->size)
		return 0;
	if ((rc = undo_begin(img)) != 0 || (rc = undo_save_size(img, len)) != 0)
		return rc;
	if (ftruncate(img->fd, (off_t)len) != 0)
		return -errno;
	img->size = len;
	return 0;
}

/* Read up to len bytes from the start of the file for the probes. */
static int
read_head(int fd, uint8_t *buf, size_t len, size_t *got)
{
	ssize_t	n;
	size_t	have = 0;

	while (have < len) {
		n = pread(fd, buf + have, len - have, (off_t)have);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		have += (size_t)n;
	}
	*got = have;
	return 0;
}

/*
 * What the probes see: QEMU's BLOCK_PROBE_BUF_SIZE.  Every probe needs
 * less (64 bytes at most); reading what QEMU reads also leaves the page
 * cache as QEMU leaves it, and ext4 reports cached pages of unwritten
 * (fallocated) extents as data to SEEK_DATA, so the map of a raw file
 * would otherwise differ from qemu-img map's.
 */
#define IMG_PROBE_LEN	2048

/*
 * The highest probe score wins, the earlier format on a tie.  As in QEMU,
 * a file no format claims is raw (its probe says 1 to anything): a
 * format that knows its magic claims the file even when its header is
 * bad, and then fails to open as itself rather than pass for raw.
 */
static int
img_detect(struct img *img, const char *path, const struct fmt_ops **out)
{
	const struct fmt_ops	*best = NULL;
	struct img_probe	 p;
	uint8_t			*buf;
	size_t			 got = 0;
	int			 i, rc, score, top = 0;

	if ((buf = malloc(IMG_PROBE_LEN)) == NULL)
		return -ENOMEM;
	if ((rc = read_head(img->fd, buf, IMG_PROBE_LEN, &got)) != 0)
		goto out;
	p.buf = buf;
	p.len = got;
	p.name = path;
	p.file_size = img->size;
	for (i = 0; i < FMT_NTAB; i++) {
		if (fmt_table[i] == NULL || fmt_table[i]->probe == NULL)
			continue;
		score = fmt_table[i]->probe(&p);
		if (score > top) {
			top = score;
			best = fmt_table[i];
		}
	}
	if (best == NULL)
		best = fmt_find("raw");
	if (best == NULL) {
		img_set_error(img, "unknown image format");
		rc = -IMG_EFORMAT;
		goto out;
	}
	*out = best;
out:
	free(buf);
	return rc;
}

/*
 * A forced format that does not recognise the file (probe says 0) may
 * still check it, to say what is wrong with it; info, map, extract and
 * repair refuse it (qemu: "Image is not in qcow2 format").  Formats whose
 * content cannot be recognised at all (encrypted) are taken as forced.
 */
static int
img_forced(struct img *img, const struct fmt_ops *ops)
{
	struct img_probe	 p;
	uint8_t			*buf;
	size_t			 got = 0;
	int			 rc;

	if (ops->probe == NULL || (ops->caps & (FMT_OPAQUE | FMT_ANYFILE)))
		return 0;
	if ((buf = malloc(IMG_PROBE_LEN)) == NULL)
		return -ENOMEM;
	if ((rc = read_head(img->fd, buf, IMG_PROBE_LEN, &got)) == 0) {
		p.buf = buf;
		p.len = got;
		p.name = img->path;
		p.file_size = img->size;
		if (ops->probe(&p) == 0)
			img->unrecognised = true;
	}
	free(buf);
	return rc;
}

int
img_open(const char *path, const struct img_opts *opts, struct img **out,
    char *errbuf, size_t errlen)
{
	const struct fmt_ops	*ops = NULL;
	struct img		*img;
	unsigned		 flags = opts != NULL ? opts->flags : 0;
	int			 rc;

	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	if ((img = calloc(1, sizeof(*img))) == NULL)
		return -ENOMEM;
	img->fd = img->undo_fd = -1;
	img->flags = flags;
	if ((img->path = strdup(path)) == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	if (opts != NULL && opts->has_key) {
		img->has_key = true;
		memcpy(img->key, opts->key, sizeof(img->key));
	}
	if ((flags & IMG_RDWR) && (flags & IMG_NOLOCK)) {
		img_set_error(img, "force-share (-U) is for read-only use; a "
		    "repair must hold the image's locks");
		rc = -IMG_EINVAL;
		goto fail;
	}
	if ((rc = img_file_open(path, (flags & IMG_RDWR) != 0,
	    (flags & IMG_NOLOCK) != 0, &img->fd, &img->size, img->errmsg,
	    sizeof(img->errmsg))) != 0)
		goto fail;
	if (opts != NULL && opts->format != NULL) {
		if ((ops = fmt_find(opts->format)) == NULL) {
			img_set_error(img, "unknown format '%s'",
			    opts->format);
			rc = -IMG_EFORMAT;
			goto fail;
		}
		if ((rc = img_forced(img, ops)) != 0)
			goto fail;
	} else if ((rc = img_detect(img, path, &ops)) != 0)
		goto fail;
	img->ops = ops;
	if ((flags & IMG_RDWR) && opts->undo_path != NULL) {
		/* Refuse now rather than at the first write of a repair. */
		if (access(opts->undo_path, F_OK) == 0) {
			rc = -EEXIST;
			img_set_error(img, "undo file '%s' already exists",
			    opts->undo_path);
			goto fail;
		}
		if ((img->undo_path = strdup(opts->undo_path)) == NULL) {
			rc = -ENOMEM;
			goto fail;
		}
	}
	if (ops->open != NULL && (rc = ops->open(img)) != 0)
		goto fail;
	*out = img;
	return 0;
fail:
	if (errbuf != NULL && errlen > 0)
		snprintf(errbuf, errlen, "%s", img->errmsg[0] != '\0' ?
		    img->errmsg : img_strerror(rc));
	img->ops = NULL;
	img_close(img);
	return rc;
}

void
img_close(struct img *img)
{
	if (img == NULL)
		return;
	img_close(img->backing);
	if (img->ops != NULL && img->ops->close != NULL)
		img->ops->close(img);
	if (img->undo_fd >= 0) {
		/* Best effort: without 'F' an apply checks less, no more. */
		(void)undo_finish(img);
		close(img->undo_fd);
	}
	if (img->fd >= 0)
		close(img->fd);
	free(img->undo_path);
	free(img->path);
	free(img);
}

const char *
img_format(const struct img *img)
{
	return img->ops->name;
}

uint64_t
img_file_size(const struct img *img)
{
	return img->size;
}

const char *
img_path(const struct img *img)
{
	return img->path;
}

const char *
img_error(const struct img *img)
{
	return img->errmsg[0] != '\0' ? img->errmsg : NULL;
}

void
img_willneed(struct img *img, uint64_t off, uint64_t len)
{
	if (off >= img->size || len == 0)
		return;
	if (len > img->size - off)
		len = img->size - off;
	(void)posix_fadvise(img->fd, (off_t)off, (off_t)len,
	    POSIX_FADV_WILLNEED);
}

int
img_pread_cached(struct img *img, uint64_t off, void *buf, size_t len)
{
	struct iovec	iov;
	size_t		n = 0, done = 0;
	ssize_t		r;

	if (img->plan != NULL || img->nowait_off)
		return img_pread_zf(img, off, buf, len, NULL);
	if (off < img->size)
		n = img->size - off < len ? (size_t)(img->size - off) : len;
	while (done < n) {
		iov.iov_base = (uint8_t *)buf + done;
		iov.iov_len = n - done;
		r = preadv2(img->fd, &iov, 1, (off_t)(off + done), RWF_NOWAIT);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return -EAGAIN;
		if (r < 0 && (errno == EOPNOTSUPP || errno == EINVAL ||
		    errno == ENOSYS)) {
			/* This file system cannot say: read, and stop asking. */
			img->nowait_off = true;
			return img_pread_zf(img, off, buf, len, NULL);
		}
		if (r < 0)
			return -errno;
		if (r == 0)
			return -IMG_ERANGE;	/* shrank under us */
		/* A short read stops at the first page not cached. */
		if ((size_t)r < n - done)
			return -EAGAIN;
		done += (size_t)r;
	}
	memset((uint8_t *)buf + n, 0, len - n);
	return 0;
}

void
img_scattered(struct img *img, bool on)
{
	img->scattered = on;
	(void)posix_fadvise(img->fd, 0, 0, on ? POSIX_FADV_RANDOM :
	    POSIX_FADV_NORMAL);
}

void
img_set_progress(struct img *img, img_progress_fn *fn, void *arg)
{
	img->progress = fn;
	img->parg = arg;
}
