/* SPDX-License-Identifier: MIT */
/*
 * io.c --- the open image: bounded reads, guarded writes, the undo file.
 *
 * Reads are refused outside the file so a bad offset from disk turns into
 * -IMG_ERANGE, never a short buffer.  Writes are refused on a read-only
 * image; with an undo file every write first saves the bytes it replaces,
 * as records "W" off len bytes, and "T" oldsize before a truncate, after
 * an "IMGKUNDO" magic.  Replaying the records backwards restores the file.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "core/banned.h"

static volatile sig_atomic_t	img_stop;

void
img_interrupt(void)
{
	img_stop = 1;
}

bool
img_interrupted(void)
{
	return img_stop != 0;
}

void
img_set_error(struct img *img, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(img->errmsg, sizeof(img->errmsg), fmt, ap);
	va_end(ap);
}

static int
full_pread(int fd, void *buf, size_t len, uint64_t off)
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

static int
full_pwrite(int fd, const void *buf, size_t len, uint64_t off)
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
img_pread(struct img *img, uint64_t off, void *buf, size_t len)
{
	uint64_t	end;

	if (!ck_add_u64(off, len, &end) || end > img->size)
		return -IMG_ERANGE;
	return full_pread(img->fd, buf, len, off);
}

int
img_pread_zf(struct img *img, uint64_t off, void *buf, size_t len,
    size_t *got)
{
	size_t	n = 0;
	int	rc;

	if (off < img->size)
		n = img->size - off < len ? (size_t)(img->size - off) : len;
	if (n > 0 && (rc = full_pread(img->fd, buf, n, off)) != 0)
		return rc;
	memset((uint8_t *)buf + n, 0, len - n);
	if (got != NULL)
		*got = n;
	return 0;
}

int
img_view(struct img *img, uint64_t off, size_t len, struct img_view *v)
{
	uint64_t	end, start;
	long		pg = sysconf(_SC_PAGESIZE);
	void		*p;

	memset(v, 0, sizeof(*v));
	if (!ck_add_u64(off, len, &end) || end > img->size)
		return -IMG_ERANGE;
	if (len == 0 || pg <= 0)
		return -EINVAL;
	start = off & ~((uint64_t)pg - 1);
	v->maplen = (size_t)(end - start);
	p = mmap(NULL, v->maplen, PROT_READ, MAP_PRIVATE | MAP_POPULATE,
	    img->fd, (off_t)start);
	if (p == MAP_FAILED) {
		v->maplen = 0;
		return -errno;
	}
	v->map = p;
	v->p = (const uint8_t *)p + (off - start);
	v->len = len;
	return 0;
}

void
img_view_release(struct img_view *v)
{
	if (v->map != NULL)
		munmap(v->map, v->maplen);
	memset(v, 0, sizeof(*v));
}

/* Append one undo record: tag, off, len and (for "W") the old bytes. */
static int
undo_save(struct img *img, char tag, uint64_t off, uint64_t len)
{
	uint8_t		 rec[17], *old = NULL;
	size_t		 have = 0;
	off_t		 end;
	int		 rc;

	rec[0] = (uint8_t)tag;
	if (tag == 'W') {
		/* Only bytes that exist are saved; the rest is file growth. */
		if (off < img->size)
			have = img->size - off < len ? (size_t)(img->size -
			    off) : (size_t)len;
		if (have > 0) {
			if ((old = malloc(have)) == NULL)
				return -ENOMEM;
			if ((rc = full_pread(img->fd, old, have, off)) != 0)
				goto out;
		}
		len = have;
	}
	put_be64(rec + 1, off);
	put_be64(rec + 9, len);
	if ((end = lseek(img->undo_fd, 0, SEEK_END)) < 0) {
		rc = -errno;
		goto out;
	}
	if ((rc = full_pwrite(img->undo_fd, rec, sizeof(rec),
	    (uint64_t)end)) != 0)
		goto out;
	if (have > 0 && (rc = full_pwrite(img->undo_fd, old, have,
	    (uint64_t)end + sizeof(rec))) != 0)
		goto out;
	rc = fsync(img->undo_fd) == 0 ? 0 : -errno;
out:
	free(old);
	return rc;
}

/*
 * The undo file is created at the first write, so a repair that writes
 * nothing leaves nothing behind.
 */
static int
undo_open(struct img *img)
{
	int	rc;

	if (img->undo_path == NULL || img->undo_fd >= 0)
		return 0;
	img->undo_fd = open(img->undo_path, O_WRONLY | O_CREAT | O_EXCL |
	    O_CLOEXEC, 0600);
	if (img->undo_fd < 0)
		return -errno;
	if ((rc = full_pwrite(img->undo_fd, "IMGKUNDO", 8, 0)) != 0)
		return rc;
	return 0;
}

int
img_pwrite(struct img *img, uint64_t off, const void *buf, size_t len)
{
	uint64_t	end;
	int		rc;

	if (!(img->flags & IMG_RDWR))
		return -IMG_ERDONLY;
	if (!ck_add_u64(off, len, &end))
		return -IMG_ERANGE;
	if ((rc = undo_open(img)) != 0)
		return rc;
	if (img->undo_fd >= 0 && (rc = undo_save(img, 'W', off, len)) != 0)
		return rc;
	if ((rc = full_pwrite(img->fd, buf, len, off)) != 0)
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
	if ((rc = undo_open(img)) != 0)
		return rc;
	if (img->undo_fd >= 0) {
		/* Save what a shrink drops, then the old length. */
		if (len < img->size && (rc = undo_save(img, 'W', len,
		    img->size - len)) != 0)
			return rc;
		if ((rc = undo_save(img, 'T', img->size, 0)) != 0)
			return rc;
	}
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

#define IMG_PROBE_LEN	65536

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

int
img_open(const char *path, const struct img_opts *opts, struct img **out,
    char *errbuf, size_t errlen)
{
	const struct fmt_ops	*ops = NULL;
	struct img		*img;
	struct stat		 st;
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
	img->fd = open(path, (flags & IMG_RDWR ? O_RDWR : O_RDONLY) |
	    O_CLOEXEC);
	if (img->fd < 0) {
		rc = -errno;
		goto fail;
	}
	if (fstat(img->fd, &st) != 0) {
		rc = -errno;
		goto fail;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = -EISDIR;
		goto fail;
	}
	img->size = (uint64_t)st.st_size;
	if (opts != NULL && opts->format != NULL) {
		if ((ops = fmt_find(opts->format)) == NULL) {
			img_set_error(img, "unknown format '%s'",
			    opts->format);
			rc = -IMG_EFORMAT;
			goto fail;
		}
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
	if (img->ops != NULL && img->ops->close != NULL)
		img->ops->close(img);
	if (img->undo_fd >= 0)
		close(img->undo_fd);
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

/* The longest undo file we replay: it is read whole. */
#define IMG_UNDO_MAX	(1ULL << 32)

int
img_undo_apply(const char *image, const char *undo, char *errbuf,
    size_t errlen)
{
	struct stat	 st;
	uint8_t		*u = NULL;
	size_t		*recs = NULL, n = 0, cap = 0, pos, *nr;
	uint64_t	 off, len, size;
	int		 ufd = -1, fd = -1, rc = 0;

	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	if ((ufd = open(undo, O_RDONLY | O_CLOEXEC)) < 0 ||
	    fstat(ufd, &st) != 0) {
		rc = -errno;
		goto out;
	}
	size = (uint64_t)st.st_size;
	if (size < 8 || size > IMG_UNDO_MAX) {
		rc = -IMG_EINVAL;
		goto out;
	}
	if ((u = malloc((size_t)size)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if ((rc = full_pread(ufd, u, (size_t)size, 0)) != 0)
		goto out;
	if (memcmp(u, "IMGKUNDO", 8) != 0) {
		rc = -IMG_EINVAL;
		goto out;
	}
	/* Index the records; all must be whole before anything is written. */
	for (pos = 8; pos < size; ) {
		if (size - pos < 17 || (u[pos] != 'W' && u[pos] != 'T')) {
			rc = -IMG_EINVAL;
			goto out;
		}
		len = be64_at(u + pos + 9);
		if (u[pos] == 'W' && len > size - pos - 17) {
			rc = -IMG_EINVAL;
			goto out;
		}
		if (n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			if ((nr = reallocarray(recs, cap, sizeof(*nr))) ==
			    NULL) {
				rc = -ENOMEM;
				goto out;
			}
			recs = nr;
		}
		recs[n++] = pos;
		pos += 17 + (u[pos] == 'W' ? (size_t)len : 0);
	}
	if ((fd = open(image, O_RDWR | O_CLOEXEC)) < 0) {
		rc = -errno;
		goto out;
	}
	/* Newest first, so each range gets back its oldest bytes. */
	while (n > 0) {
		pos = recs[--n];
		off = be64_at(u + pos + 1);
		len = be64_at(u + pos + 9);
		if (u[pos] == 'T') {
			if (ftruncate(fd, (off_t)off) != 0) {
				rc = -errno;
				goto out;
			}
		} else if ((rc = full_pwrite(fd, u + pos + 17, (size_t)len,
		    off)) != 0)
			goto out;
	}
	if (fsync(fd) != 0)
		rc = -errno;
out:
	if (rc != 0 && errbuf != NULL && errlen > 0)
		snprintf(errbuf, errlen, "%s", rc == -IMG_EINVAL ?
		    "not an imgkit undo file, or damaged" : img_strerror(rc));
	if (fd >= 0)
		close(fd);
	if (ufd >= 0)
		close(ufd);
	free(recs);
	free(u);
	return rc;
}
