/* SPDX-License-Identifier: MIT */
/*
 * undo.c --- the undo file: every byte a repair overwrites, kept where a
 * crash at any point leaves either the original image or an undo file
 * that restores it (after e2fsprogs' undo_io.c, simpler).
 *
 * Layout, all integers big-endian:
 *
 *	header	"IMGKUNDO", version 2, header length, the image's identity
 *		(its length, a fingerprint: the SHA-256 of its head and of
 *		samples through it, or of all of it when small; and
 *		its path) and a CRC-32 of all that.
 *	records	one per change, each a 64-byte head and its data, with a
 *		CRC-32 over both (the CRC field read as zero):
 *		'W' off, saved, wlen, SHA-256 of the bytes written; the data
 *		    are the bytes that were there (only those inside the file)
 *		'T' off = old length, wlen = new length; for a shrink the
 *		    data are the bytes cut off (from the new length on)
 *		'F' the repair ended: off = final length, hash of its head
 *		'A' an apply began; 'D' an apply ended
 *
 * The header is written to a temporary name, synced and linked into place,
 * so an undo file that exists is whole.  Each record is appended and
 * synced before the image changes, so a record torn by a crash is the
 * last, and its change never happened.  --apply-undo first proves the
 * image is the one the records describe, writes nothing otherwise, marks
 * the file 'A', replays newest first, and marks it 'D'.
 */
#define _GNU_SOURCE		/* O_TMPFILE */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "core/core.h"
#include "core/undo.h"
#include "core/crypto.h"
#include "core/banned.h"

#define UNDO_MAGIC	"IMGKUNDO"
#define UNDO_VERSION	2
#define UNDO_HDR_FIXED	64
#define UNDO_PATH_MAX	4096
#define UNDO_REC_HEAD	64
/* The largest record we write or accept; repairs write tables, not disks. */
#define UNDO_REC_MAX	(1ULL << 30)
/* Records in one undo file we are willing to index. */
#define UNDO_NREC_MAX	(1ULL << 24)
#define UNDO_CHUNK	(1U << 20)
/* The fingerprint: whole files up to 16 MiB, else 256 samples of 64 KiB. */
#define UNDO_FP_WHOLE	(16U << 20)
#define UNDO_FP_SAMPLES	256U
#define UNDO_FP_SAMPLE	65536U

/* ---- small helpers ---------------------------------------------------- */

static uint32_t
crc_add(uint32_t crc, const void *p, size_t len)
{
	const uint8_t	*b = p;
	uInt		 n;

	while (len > 0) {
		n = len > (1U << 30) ? 1U << 30 : (uInt)len;
		crc = (uint32_t)crc32(crc, b, n);
		b += n;
		len -= n;
	}
	return crc;
}

/* SHA-256 of [off, off+len) of fd, read in chunks into buf. */
static int
range_hash(int fd, uint64_t off, uint64_t len, uint8_t *buf, uint8_t md[32])
{
	const struct img_crypto	*c;
	EVP_MD_CTX		*ctx;
	unsigned int		 n = 0;
	size_t			 k;
	int			 rc = 0;

	if ((c = img_crypto(NULL)) == NULL)
		return -IMG_EUNSUP;
	if ((ctx = c->EVP_MD_CTX_new()) == NULL)
		return -ENOMEM;
	if (c->EVP_DigestInit_ex(ctx, c->EVP_sha256(), NULL) != 1)
		rc = -IMG_EINVAL;
	while (rc == 0 && len > 0) {
		k = len > UNDO_CHUNK ? UNDO_CHUNK : (size_t)len;
		if ((rc = fd_pread_full(fd, buf, k, off)) != 0)
			break;
		if (c->EVP_DigestUpdate(ctx, buf, k) != 1)
			rc = -IMG_EINVAL;
		off += k;
		len -= k;
	}
	if (rc == 0 && (c->EVP_DigestFinal_ex(ctx, md, &n) != 1 || n != 32))
		rc = -IMG_EINVAL;
	c->EVP_MD_CTX_free(ctx);
	return rc;
}

/*
 * The image's fingerprint: the SHA-256 of the whole file up to
 * UNDO_FP_WHOLE bytes, else of UNDO_FP_SAMPLES samples spread evenly from
 * its first byte to its last (the first is its head).  *hashed: how many
 * bytes went in.  Two images that differ only where no sample falls look
 * the same; every record is checked on its own as well.
 */
static int
fingerprint(int fd, uint64_t size, uint8_t md[32], uint32_t *hashed)
{
	const struct img_crypto	*c;
	EVP_MD_CTX		*ctx = NULL;
	uint8_t			*buf;
	uint64_t		 step;
	unsigned int		 n = 0, k;
	int			 rc = 0;

	if ((c = img_crypto(NULL)) == NULL)
		return -IMG_EUNSUP;
	if ((buf = malloc(UNDO_CHUNK)) == NULL)
		return -ENOMEM;
	if (size <= UNDO_FP_WHOLE) {
		rc = range_hash(fd, 0, size, buf, md);
		*hashed = (uint32_t)size;
		goto out;
	}
	if ((ctx = c->EVP_MD_CTX_new()) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	step = (size - UNDO_FP_SAMPLE) / (UNDO_FP_SAMPLES - 1);
	if (c->EVP_DigestInit_ex(ctx, c->EVP_sha256(), NULL) != 1)
		rc = -IMG_EINVAL;
	for (k = 0; rc == 0 && k < UNDO_FP_SAMPLES; k++) {
		if ((rc = fd_pread_full(fd, buf, UNDO_FP_SAMPLE, k * step)) != 0)
			break;
		if (c->EVP_DigestUpdate(ctx, buf, UNDO_FP_SAMPLE) != 1)
			rc = -IMG_EINVAL;
	}
	if (rc == 0 && (c->EVP_DigestFinal_ex(ctx, md, &n) != 1 || n != 32))
		rc = -IMG_EINVAL;
	*hashed = UNDO_FP_SAMPLES * UNDO_FP_SAMPLE;
out:
	c->EVP_MD_CTX_free(ctx);
	free(buf);
	return rc;
}

/* fsync the folder holding path, so a new name in it is durable. */
/* The folder path is in ("." or "/" included); NULL without memory. */
static char *
dir_of(const char *path)
{
	const char	*slash = strrchr(path, '/');

	if (slash == NULL)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

static void
sync_dir_of(const char *path)
{
	char	*dir;
	int	 fd;

	if ((dir = dir_of(path)) == NULL)
		return;
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(fd);
		close(fd);
	}
	free(dir);
}

/*
 * The undo file, whole and synced before it has its name, open in *out.
 * First as a file with no name (O_TMPFILE) linked in once complete, so a
 * kill before leaves nothing behind; where the file system or /proc
 * cannot do that, under a temporary name then linked.  Either way link
 * fails if the name was taken since.
 */
static int
undo_create(const char *path, const uint8_t *h, size_t hlen, int *out)
{
	char	 proc[64], *dir, *tmp;
	size_t	 n;
	int	 fd, rc;

	if ((dir = dir_of(path)) == NULL)
		return -ENOMEM;
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	free(dir);
	if (fd >= 0) {
		if ((rc = fd_pwrite_full(fd, h, hlen, 0)) == 0 &&
		    fsync(fd) != 0)
			rc = -errno;
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		if (rc == 0 && linkat(AT_FDCWD, proc, AT_FDCWD, path,
		    AT_SYMLINK_FOLLOW) == 0) {
			*out = fd;
			return 0;
		}
		if (rc == 0)
			rc = -errno;
		close(fd);
		if (rc == -EEXIST || rc == -EIO || rc == -ENOSPC ||
		    rc == -EDQUOT)
			return rc;
		/* No /proc, or no linking from it here: the named way. */
	}
	n = strlen(path) + 16;
	if ((tmp = malloc(n)) == NULL)
		return -ENOMEM;
	snprintf(tmp, n, "%s.tmpXXXXXX", path);
	if ((fd = mkstemp(tmp)) < 0) {
		rc = -errno;
		free(tmp);
		return rc;
	}
	if ((rc = fd_pwrite_full(fd, h, hlen, 0)) == 0 && fsync(fd) != 0)
		rc = -errno;
	if (rc == 0 && link(tmp, path) != 0)
		rc = -errno;
	(void)unlink(tmp);
	free(tmp);
	if (rc != 0) {
		close(fd);
		return rc;
	}
	*out = fd;
	return 0;
}

/* ---- writing: used by img_pwrite() and img_truncate() ------------------ */

struct urec {
	char		tag;
	uint64_t	off;
	uint64_t	len;		/* data bytes after the head */
	uint64_t	arg;
	uint8_t		hash[32];
};

static void
rec_head(uint8_t h[UNDO_REC_HEAD], const struct urec *r)
{
	memset(h, 0, UNDO_REC_HEAD);
	h[0] = (uint8_t)r->tag;
	put_be64(h + 8, r->off);
	put_be64(h + 16, r->len);
	put_be64(h + 24, r->arg);
	memcpy(h + 32, r->hash, 32);
}

/*
 * Append one record whose data are data[0..r->len) (NULL: none), then
 * sync: the record is durable before the caller changes the image.
 */
static int
rec_append(int ufd, uint64_t *end, const struct urec *r, const void *data)
{
	uint8_t		*buf;
	uint32_t	 crc;
	size_t		 len;
	int		 rc;

	if (r->len > UNDO_REC_MAX)
		return -IMG_ELIMIT;
	len = UNDO_REC_HEAD + (size_t)r->len;
	if ((buf = malloc(len)) == NULL)
		return -ENOMEM;
	rec_head(buf, r);
	if (r->len > 0)
		memcpy(buf + UNDO_REC_HEAD, data, (size_t)r->len);
	crc = crc_add(0, buf, len);
	put_be32(buf + 4, crc);
	/* One write, so a crash leaves a whole record or a short tail. */
	rc = fd_pwrite_full(ufd, buf, len, *end);
	free(buf);
	if (rc == 0 && fsync(ufd) != 0)
		rc = -errno;
	if (rc == 0)
		*end += len;
	return rc;
}

int
undo_begin(struct img *img)
{
	const char	*why;
	uint8_t		*h;
	size_t		 plen, hlen;
	uint32_t	 hashed;
	int		 fd = -1, rc;

	if (img->undo_path == NULL || img->undo_fd >= 0)
		return 0;
	/* Every record carries a SHA-256: no libcrypto, no undo file. */
	if (img_crypto(&why) == NULL) {
		img_set_error(img, "cannot keep the undo file: %s", why);
		return -IMG_EUNSUP;
	}
	plen = strlen(img->path);
	if (plen > UNDO_PATH_MAX)
		plen = UNDO_PATH_MAX;
	hlen = UNDO_HDR_FIXED + plen + 4;
	if ((h = calloc(1, hlen)) == NULL)
		return -ENOMEM;
	memcpy(h, UNDO_MAGIC, 8);
	put_be32(h + 8, UNDO_VERSION);
	put_be32(h + 12, (uint32_t)hlen);
	put_be64(h + 16, img->size);
	if ((rc = fingerprint(img->fd, img->size, h + 32, &hashed)) != 0)
		goto out;
	put_be32(h + 24, hashed);
	put_be32(h + 28, (uint32_t)plen);
	memcpy(h + UNDO_HDR_FIXED, img->path, plen);
	put_be32(h + UNDO_HDR_FIXED + plen, crc_add(0, h, hlen - 4));
	if ((rc = undo_create(img->undo_path, h, hlen, &fd)) != 0)
		goto out;
	sync_dir_of(img->undo_path);
	img->undo_fd = fd;
	img->undo_end = hlen;
out:
	free(h);
	return rc;
}

/* The len bytes at off that a change is about to replace, in *old. */
static int
read_old(struct img *img, uint64_t off, uint64_t len, uint8_t **old)
{
	int	rc;

	if ((*old = malloc((size_t)len)) == NULL)
		return -ENOMEM;
	if ((rc = fd_pread_full(img->fd, *old, (size_t)len, off)) != 0) {
		free(*old);
		*old = NULL;
	}
	return rc;
}

int
undo_save_size(struct img *img, uint64_t newsize)
{
	struct urec	 r;
	uint8_t		*old = NULL;
	int		 rc;

	if (img->undo_fd < 0 || newsize == img->size)
		return 0;
	memset(&r, 0, sizeof(r));
	r.tag = 'T';
	r.off = img->size;
	r.arg = newsize;
	if (newsize < img->size) {
		r.len = img->size - newsize;
		if (r.len > UNDO_REC_MAX)
			return -IMG_ELIMIT;
		if ((rc = read_old(img, newsize, r.len, &old)) != 0)
			return rc;
	}
	rc = rec_append(img->undo_fd, &img->undo_end, &r, old);
	free(old);
	return rc;
}

int
undo_save_write(struct img *img, uint64_t off, const void *buf, size_t len)
{
	const struct img_crypto	*c;
	struct urec		 r;
	uint8_t			*old = NULL;
	unsigned int		 n = 0;
	int			 rc;

	if (img->undo_fd < 0)
		return 0;
	memset(&r, 0, sizeof(r));
	r.tag = 'W';
	r.off = off;
	r.arg = len;
	/* Only bytes that exist are saved; growth is the 'T' before. */
	if (off < img->size)
		r.len = img->size - off < len ? img->size - off : len;
	if (len > UNDO_REC_MAX)
		return -IMG_ELIMIT;
	if ((c = img_crypto(NULL)) == NULL)
		return -IMG_EUNSUP;
	if (c->EVP_Digest(buf, len, r.hash, &n, c->EVP_sha256(), NULL) != 1 ||
	    n != 32)
		return -IMG_EINVAL;
	if (r.len > 0 && (rc = read_old(img, off, r.len, &old)) != 0)
		return rc;
	rc = rec_append(img->undo_fd, &img->undo_end, &r, old);
	free(old);
	return rc;
}

int
undo_finish(struct img *img)
{
	struct urec	r;
	uint32_t	hashed;
	int		rc;

	if (img->undo_fd < 0)
		return 0;
	/* The image's bytes first, then the record that names them. */
	if (fsync(img->fd) != 0)
		return -errno;
	memset(&r, 0, sizeof(r));
	r.tag = 'F';
	r.off = img->size;
	if ((rc = fingerprint(img->fd, img->size, r.hash, &hashed)) != 0)
		return rc;
	r.arg = hashed;
	return rec_append(img->undo_fd, &img->undo_end, &r, NULL);
}

/* ---- applying --------------------------------------------------------- */

struct uidx {
	struct urec	r;
	uint64_t	pos;		/* of its data in the undo file */
};

/* Disjoint ranges [s, e) in ascending order: what newer records change. */
struct ivset {
	uint64_t	*s, *e;
	size_t		 n, cap;
};

static size_t
iv_find(const struct ivset *v, uint64_t s)
{
	size_t	lo = 0, hi = v->n, mid;

	/* The first range whose end is past s. */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (v->e[mid] <= s)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool
iv_hits(const struct ivset *v, uint64_t s, uint64_t e)
{
	size_t	i = iv_find(v, s);

	return i < v->n && v->s[i] < e;
}

static int
iv_add(struct ivset *v, uint64_t s, uint64_t e)
{
	size_t		 i = iv_find(v, s), j;
	uint64_t	*ns, *ne;

	if (s >= e)
		return 0;
	if (i > 0 && v->e[i - 1] == s)
		i--;
	/* Ranges i..j-1 touch [s, e): merge them into one. */
	for (j = i; j < v->n && v->s[j] <= e; j++) {
		if (v->s[j] < s)
			s = v->s[j];
		if (v->e[j] > e)
			e = v->e[j];
	}
	if (j == i) {
		if (v->n == v->cap) {
			v->cap = v->cap == 0 ? 64 : v->cap * 2;
			if ((ns = reallocarray(v->s, v->cap, sizeof(*ns))) ==
			    NULL)
				return -ENOMEM;
			v->s = ns;
			if ((ne = reallocarray(v->e, v->cap, sizeof(*ne))) ==
			    NULL)
				return -ENOMEM;
			v->e = ne;
		}
		memmove(v->s + i + 1, v->s + i, (v->n - i) * sizeof(*v->s));
		memmove(v->e + i + 1, v->e + i, (v->n - i) * sizeof(*v->e));
		v->n++;
	} else if (j > i + 1) {
		memmove(v->s + i + 1, v->s + j, (v->n - j) * sizeof(*v->s));
		memmove(v->e + i + 1, v->e + j, (v->n - j) * sizeof(*v->e));
		v->n -= j - i - 1;
	}
	v->s[i] = s;
	v->e[i] = e;
	return 0;
}

struct apply {
	const char	*image;
	const char	*undo;
	char		*err;
	size_t		 errlen;
	int		 ufd, fd;
	uint64_t	 usize;		/* undo file length */
	uint64_t	 uend;		/* end of its last whole record */
	uint64_t	 orig_size;
	uint8_t		 orig_hash[32];
	uint32_t	 orig_hashed;
	char		 orig_path[UNDO_PATH_MAX + 1];
	struct uidx	*rec;
	size_t		 n, cap;
	bool		 finished, begun, done;
	uint64_t	 final_size;	/* from 'F' */
	uint8_t		 final_hash[32];
	uint8_t		*buf;		/* UNDO_CHUNK */
};

static int
ap_fail(struct apply *ap, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
ap_fail(struct apply *ap, int rc, const char *fmt, ...)
{
	va_list	va;

	if (ap->err != NULL && ap->errlen > 0 && ap->err[0] == '\0') {
		va_start(va, fmt);
		vsnprintf(ap->err, ap->errlen, fmt, va);
		va_end(va);
	}
	return rc;
}

static int
ap_header(struct apply *ap)
{
	uint8_t		 h[UNDO_HDR_FIXED + UNDO_PATH_MAX + 4];
	uint32_t	 hlen, plen;

	if (ap->usize < UNDO_HDR_FIXED + 4 ||
	    fd_pread_full(ap->ufd, h, UNDO_HDR_FIXED, 0) != 0 ||
	    memcmp(h, UNDO_MAGIC, 8) != 0)
		return ap_fail(ap, -IMG_EINVAL, "not an imgkit undo file");
	if (be32_at(h + 8) != UNDO_VERSION)
		return ap_fail(ap, -IMG_EUNSUP, "undo file version %u, this "
		    "imgrepair reads version %u", be32_at(h + 8), UNDO_VERSION);
	hlen = be32_at(h + 12);
	plen = be32_at(h + 28);
	if (plen > UNDO_PATH_MAX || hlen != UNDO_HDR_FIXED + plen + 4 ||
	    hlen > ap->usize ||
	    fd_pread_full(ap->ufd, h + UNDO_HDR_FIXED, plen + 4, UNDO_HDR_FIXED) != 0 ||
	    crc_add(0, h, hlen - 4) != be32_at(h + hlen - 4))
		return ap_fail(ap, -IMG_EINVAL, "the undo file's header is "
		    "damaged (CRC mismatch)");
	ap->orig_size = be64_at(h + 16);
	ap->orig_hashed = be32_at(h + 24);
	if (ap->orig_hashed > UNDO_FP_WHOLE)
		return ap_fail(ap, -IMG_EINVAL, "the undo file's header is "
		    "damaged");
	memcpy(ap->orig_hash, h + 32, 32);
	memcpy(ap->orig_path, h + UNDO_HDR_FIXED, plen);
	ap->orig_path[plen] = '\0';
	img_str_clean(ap->orig_path);
	ap->uend = hlen;
	return 0;
}

/* Index the records and prove each CRC; a short last record is torn. */
static int
ap_index(struct apply *ap)
{
	uint8_t		 h[UNDO_REC_HEAD];
	struct uidx	*nr, *x;
	uint64_t	 pos = ap->uend, left;
	uint32_t	 crc, want;
	size_t		 k;
	int		 rc;

	while (pos < ap->usize) {
		if (ap->usize - pos < UNDO_REC_HEAD)
			break;
		if ((rc = fd_pread_full(ap->ufd, h, UNDO_REC_HEAD, pos)) != 0)
			return ap_fail(ap, rc, "cannot read the undo file");
		if (be64_at(h + 16) > UNDO_REC_MAX)
			return ap_fail(ap, -IMG_EINVAL, "undo record at %llu "
			    "is damaged (length)", (unsigned long long)pos);
		if (be64_at(h + 16) > ap->usize - pos - UNDO_REC_HEAD)
			break;		/* torn: its change never happened */
		want = be32_at(h + 4);
		memset(h + 4, 0, 4);
		crc = crc_add(0, h, UNDO_REC_HEAD);
		for (left = be64_at(h + 16); left > 0; left -= k) {
			k = left > UNDO_CHUNK ? UNDO_CHUNK : (size_t)left;
			if ((rc = fd_pread_full(ap->ufd, ap->buf, k, pos +
			    UNDO_REC_HEAD + be64_at(h + 16) - left)) != 0)
				return ap_fail(ap, rc, "cannot read the undo "
				    "file");
			crc = crc_add(crc, ap->buf, k);
		}
		if (crc != want || memchr("WTFAD", h[0], 5) == NULL ||
		    h[0] == 0)
			return ap_fail(ap, -IMG_EINVAL, "undo record at %llu "
			    "is damaged (CRC mismatch)",
			    (unsigned long long)pos);
		if (ap->finished && (h[0] == 'W' || h[0] == 'T'))
			return ap_fail(ap, -IMG_EINVAL, "undo record at %llu "
			    "follows the end of the repair",
			    (unsigned long long)pos);
		if (ap->n == ap->cap) {
			if (ap->n >= UNDO_NREC_MAX)
				return ap_fail(ap, -IMG_ELIMIT, "more than "
				    "%llu undo records",
				    (unsigned long long)UNDO_NREC_MAX);
			ap->cap = ap->cap == 0 ? 256 : ap->cap * 2;
			if ((nr = reallocarray(ap->rec, ap->cap,
			    sizeof(*nr))) == NULL)
				return -ENOMEM;
			ap->rec = nr;
		}
		x = &ap->rec[ap->n];
		x->r.tag = (char)h[0];
		x->r.off = be64_at(h + 8);
		x->r.len = be64_at(h + 16);
		x->r.arg = be64_at(h + 24);
		memcpy(x->r.hash, h + 32, 32);
		x->pos = pos + UNDO_REC_HEAD;
		if (x->r.tag == 'W' && (x->r.len > x->r.arg ||
		    x->r.off > UINT64_MAX - x->r.arg))
			return ap_fail(ap, -IMG_EINVAL, "undo record at %llu "
			    "is damaged", (unsigned long long)pos);
		if (x->r.tag == 'T' && x->r.len != (x->r.off > x->r.arg ?
		    x->r.off - x->r.arg : 0))
			return ap_fail(ap, -IMG_EINVAL, "undo record at %llu "
			    "is damaged", (unsigned long long)pos);
		switch (x->r.tag) {
		case 'F':
			ap->finished = true;
			ap->final_size = x->r.off;
			memcpy(ap->final_hash, x->r.hash, 32);
			break;
		case 'A':
			ap->begun = true;
			break;
		case 'D':
			ap->done = true;
			break;
		default:
			if (ap->begun)
				return ap_fail(ap, -IMG_EINVAL, "undo record "
				    "at %llu follows an apply",
				    (unsigned long long)pos);
			ap->n++;
			break;
		}
		pos += UNDO_REC_HEAD + x->r.len;
		ap->uend = pos;
	}
	return 0;
}

/*
 * Is the image the one the records describe?  Its length must be the one
 * the last size change left (or, after a crash, the one before it), and
 * each write that no newer record touched must still be there, byte for
 * byte (by its hash).  The newest write may have been cut by the crash.
 */
static int
ap_verify(struct apply *ap, uint64_t size)
{
	struct ivset	 iv;
	struct uidx	*x;
	uint8_t		 md[32];
	uint64_t	 want = ap->orig_size, prev = ap->orig_size, lo;
	uint32_t	 hashed;
	size_t		 i;
	int		 rc = 0;

	for (i = 0; i < ap->n; i++)
		if (ap->rec[i].r.tag == 'T') {
			prev = want;
			want = ap->rec[i].r.arg;
		}
	if (ap->finished) {
		if (size != want || size != ap->final_size)
			return ap_fail(ap, -IMG_EINVAL, "'%s' is %llu bytes, "
			    "the repaired image was %llu: not the image this "
			    "undo file was made for (%s), or changed since",
			    ap->image, (unsigned long long)size,
			    (unsigned long long)want, ap->orig_path);
	} else if (size != want && size != prev)
		return ap_fail(ap, -IMG_EINVAL, "'%s' is %llu bytes, not %llu: "
		    "not the image this undo file was made for (%s)",
		    ap->image, (unsigned long long)size,
		    (unsigned long long)want, ap->orig_path);
	memset(&iv, 0, sizeof(iv));
	for (i = ap->n; i-- > 0 && rc == 0; ) {
		x = &ap->rec[i];
		if (x->r.tag == 'T') {
			lo = x->r.off < x->r.arg ? x->r.off : x->r.arg;
			rc = iv_add(&iv, lo, UINT64_MAX);
			continue;
		}
		if (i + 1 == ap->n && !ap->finished) {
			rc = iv_add(&iv, x->r.off, x->r.off + x->r.arg);
			continue;
		}
		if (x->r.arg > 0 && !iv_hits(&iv, x->r.off, x->r.off +
		    x->r.arg)) {
			if (x->r.off > size || x->r.arg > size - x->r.off ||
			    range_hash(ap->fd, x->r.off, x->r.arg, ap->buf,
			    md) != 0 || memcmp(md, x->r.hash, 32) != 0) {
				rc = ap_fail(ap, -IMG_EINVAL, "'%s' does not "
				    "hold what the repair wrote at offset "
				    "%llu (%llu bytes): not the image this "
				    "undo file was made for (%s), changed "
				    "since, or already restored", ap->image,
				    (unsigned long long)x->r.off,
				    (unsigned long long)x->r.arg,
				    ap->orig_path);
				break;
			}
		}
		rc = iv_add(&iv, x->r.off, x->r.off + x->r.arg);
	}
	free(iv.s);
	free(iv.e);
	if (rc != 0 || !ap->finished)
		return rc;
	/* The 'F' record names the repaired image's head too. */
	if ((rc = fingerprint(ap->fd, size, md, &hashed)) != 0)
		return ap_fail(ap, rc, "cannot read '%s'", ap->image);
	if (memcmp(md, ap->final_hash, 32) != 0)
		return ap_fail(ap, -IMG_EINVAL, "'%s' is not as the repair "
		    "left it (%u bytes fingerprinted): not the image this "
		    "undo file was made for (%s), or changed since",
		    ap->image, hashed, ap->orig_path);
	return 0;
}

/* Copy len bytes of the undo file at upos onto the image at off. */
static int
ap_copy(struct apply *ap, uint64_t upos, uint64_t len, uint64_t off)
{
	size_t	k;
	int	rc;

	for (; len > 0; len -= k, upos += k, off += k) {
		k = len > UNDO_CHUNK ? UNDO_CHUNK : (size_t)len;
		if ((rc = fd_pread_full(ap->ufd, ap->buf, k, upos)) != 0)
			return ap_fail(ap, rc, "cannot read the undo file");
		if ((rc = fd_pwrite_full(ap->fd, ap->buf, k, off)) != 0)
			return ap_fail(ap, rc, "cannot write '%s': %s",
			    ap->image, img_strerror(rc));
	}
	return 0;
}

/* Newest first, so each range gets back its oldest bytes. */
static int
ap_replay(struct apply *ap)
{
	struct uidx	*x;
	size_t		 i;
	int		 rc;

	for (i = ap->n; i-- > 0; ) {
		x = &ap->rec[i];
		if (x->r.tag == 'T') {
			if (ftruncate(ap->fd, (off_t)x->r.off) != 0)
				return ap_fail(ap, -errno, "cannot resize "
				    "'%s': %s", ap->image, strerror(errno));
			if ((rc = ap_copy(ap, x->pos, x->r.len, x->r.arg)) != 0)
				return rc;
		} else if ((rc = ap_copy(ap, x->pos, x->r.len, x->r.off)) != 0)
			return rc;
	}
	if (fsync(ap->fd) != 0)
		return ap_fail(ap, -errno, "cannot sync '%s': %s", ap->image,
		    strerror(errno));
	return 0;
}

static int
ap_mark(struct apply *ap, char tag)
{
	struct urec	r;
	int		rc;

	memset(&r, 0, sizeof(r));
	r.tag = tag;
	if ((rc = rec_append(ap->ufd, &ap->uend, &r, NULL)) != 0)
		return ap_fail(ap, rc, "cannot write the undo file: %s",
		    img_strerror(rc));
	return 0;
}

int
img_undo_apply(const char *image, const char *undo, char *errbuf,
    size_t errlen)
{
	struct apply	 ap;
	struct stat	 st;
	uint8_t		 md[32];
	uint64_t	 size;
	uint32_t	 hashed;
	int		 rc;

	memset(&ap, 0, sizeof(ap));
	ap.image = image;
	ap.undo = undo;
	ap.err = errbuf;
	ap.errlen = errlen;
	ap.fd = -1;
	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	if ((ap.ufd = open(undo, O_RDWR | O_NONBLOCK | O_CLOEXEC)) < 0) {
		rc = ap_fail(&ap, -errno, "%s", strerror(errno));
		goto out;
	}
	if (fstat(ap.ufd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = ap_fail(&ap, -IMG_EINVAL, "not a regular file");
		goto out;
	}
	ap.usize = (uint64_t)st.st_size;
	if ((ap.buf = malloc(UNDO_CHUNK)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if ((rc = ap_header(&ap)) != 0 || (rc = ap_index(&ap)) != 0)
		goto out;
	if (ap.done) {
		rc = ap_fail(&ap, -IMG_EINVAL, "this undo file was applied "
		    "already; nothing written");
		goto out;
	}
	if ((rc = img_file_open(image, true, false, &ap.fd, &size, errbuf,
	    errlen)) != 0)
		goto out;
	/* An apply that was cut off is finished without asking again. */
	if (!ap.begun && (rc = ap_verify(&ap, size)) != 0)
		goto out;
	if (ap.usize > ap.uend && ftruncate(ap.ufd, (off_t)ap.uend) != 0) {
		rc = ap_fail(&ap, -errno, "cannot write the undo file: %s",
		    strerror(errno));
		goto out;
	}
	if ((!ap.begun && (rc = ap_mark(&ap, 'A')) != 0) ||
	    (rc = ap_replay(&ap)) != 0)
		goto out;
	/* The header's identity: what we put back must be the original. */
	if (fstat(ap.fd, &st) != 0) {
		rc = ap_fail(&ap, -errno, "%s", strerror(errno));
		goto out;
	}
	size = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : ap.orig_size;
	if (size != ap.orig_size || fingerprint(ap.fd, size, md, &hashed) != 0 ||
	    hashed != ap.orig_hashed || memcmp(md, ap.orig_hash, 32) != 0) {
		rc = ap_fail(&ap, -IMG_EINVAL, "'%s' was restored but does not "
		    "match the original's identity in the undo file",
		    image);
		goto out;
	}
	rc = ap_mark(&ap, 'D');
out:
	if (rc != 0 && errbuf != NULL && errlen > 0 && errbuf[0] == '\0')
		snprintf(errbuf, errlen, "%s", img_strerror(rc));
	if (ap.fd >= 0)
		close(ap.fd);
	if (ap.ufd >= 0)
		close(ap.ufd);
	free(ap.rec);
	free(ap.buf);
	return rc;
}
