/* SPDX-License-Identifier: MIT */
/*
 * sparse_chksum.c --- verify the .chksum file beside a stream.
 *
 * Since release 1.9.40 the writer leaves "<file>.chksum" holding the
 * decimal Adler-32 (zlib's, initial value 1) of every byte of the stream
 * (spec section 7).  A missing file is normal for older releases and is
 * only recorded as a fact; an unusable one (empty, "None", not decimal)
 * is a warning; a mismatch means bytes changed after the backup.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "sparse/sparse.h"
#include "core/banned.h"

/* Chunk of the file hashed per read. */
#define SPARSE_CHKSUM_CHUNK	(4u << 20)

/* Adler-32 of the whole file into *out. */
static int
file_adler(struct img *img, uint32_t *out)
{
	uint8_t		*buf;
	uint64_t	 off = 0;
	uLong		 a = adler32(0L, Z_NULL, 0);
	size_t		 n;
	int		 rc = 0;

	if ((buf = malloc(SPARSE_CHKSUM_CHUNK)) == NULL)
		return -ENOMEM;
	while (off < img->size) {
		n = img->size - off > SPARSE_CHKSUM_CHUNK ?
		    SPARSE_CHKSUM_CHUNK : (size_t)(img->size - off);
		if ((rc = img_pread(img, off, buf, n)) != 0)
			break;
		a = adler32(a, buf, (uInt)n);
		off += n;
	}
	free(buf);
	*out = (uint32_t)a;
	return rc;
}

int
sparse_chksum_check(struct img *img, struct report *rp)
{
	struct pr_ctx	 pc;
	char		 path[4096], text[SPARSE_CHKSUM_MAX + 1];
	char		 why[IMG_ERRMSG_MAX];
	const char	*base;
	uint64_t	 want = 0, fsize;
	uint32_t	 have;
	ssize_t		 n;
	size_t		 i, len;
	int		 fd, rc;
	bool		 digits = true;

	if (snprintf(path, sizeof(path), "%s.chksum", img->path) >=
	    (int)sizeof(path))
		return 0;
	if (access(path, F_OK) != 0) {
		report_extra_str(rp, "chksum", "absent");
		return 0;
	}
	/* A FIFO or a device there must not hang or feed us forever. */
	if ((rc = img_file_open(path, false, true, &fd, &fsize, why,
	    sizeof(why))) != 0) {
		memset(&pc, 0, sizeof(pc));
		pc.flags = PC_HOST;
		pc.len = img->size;
		pc.path = "chksum";
		pc.str = why;
		sparse_pr(rp, PR_SPARSE_CHKSUM_UNUSABLE, &pc);
		report_extra_str(rp, "chksum", "unusable");
		return 0;
	}
	n = read(fd, text, sizeof(text));
	close(fd);
	memset(&pc, 0, sizeof(pc));
	pc.flags = PC_HOST;
	pc.len = img->size;
	pc.path = "chksum";
	if (n < 0) {
		pc.str = strerror(errno);
		sparse_pr(rp, PR_SPARSE_CHKSUM_UNUSABLE, &pc);
		report_extra_str(rp, "chksum", "unusable");
		return 0;
	}
	len = (size_t)n;
	text[len] = '\0';
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' ||
	    text[len - 1] == ' '))
		text[--len] = '\0';
	for (i = 0; i < len; i++)
		if (text[i] < '0' || text[i] > '9')
			digits = false;
	if (len == 0 || len > 10 || !digits || (size_t)n > SPARSE_CHKSUM_MAX) {
		pc.str = len == 0 ? "empty" : "not a decimal Adler-32";
		sparse_pr(rp, PR_SPARSE_CHKSUM_UNUSABLE, &pc);
		report_extra_str(rp, "chksum", "unusable");
		return 0;
	}
	for (i = 0; i < len; i++)
		want = want * 10 + (uint64_t)(text[i] - '0');
	if (want > UINT32_MAX) {
		pc.str = "beyond 32 bits";
		sparse_pr(rp, PR_SPARSE_CHKSUM_UNUSABLE, &pc);
		report_extra_str(rp, "chksum", "unusable");
		return 0;
	}
	if ((rc = file_adler(img, &have)) != 0)
		return rc;
	base = strrchr(path, '/');
	pc.str = base != NULL ? base + 1 : path;
	pc.found = have;
	pc.want = want;
	if (have == want) {
		sparse_pr(rp, PR_SPARSE_CHKSUM_OK, &pc);
		report_extra_str(rp, "chksum", "match");
	} else {
		sparse_pr(rp, PR_SPARSE_CHKSUM_MISMATCH, &pc);
		report_extra_str(rp, "chksum", "mismatch");
	}
	report_extra_int(rp, "adler32", have);
	return 0;
}
