/* SPDX-License-Identifier: MIT */
/*
 * a7_mk.c --- write archive7 fixtures for tests/images/a7.sh and the
 * bench, and time the raw cost of decrypting and hashing an archive.
 *
 *   a7_mk OUT [DEFECT]       three files (17, 9000, 8016 bytes), key 00..1f
 *   a7_mk --big MIB OUT      one file of MIB MiB
 *   a7_mk --dump I SIZE      the bytes of fixture file I to stdout
 *   a7_mk --raw FILE         decrypt and SHA-1 every block, print seconds
 */
#include <err.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "../fixtures/a7_fix.h"
#include "core/rd.h"

static const uint64_t	sizes[] = { 17, 9000, 8016 };

static void
defect(struct a7f *f, const char *d)
{
	int64_t	b;

	if (strcmp(d, "clean") == 0)
		return;
	if (strcmp(d, "cut") == 0)
		a7f_links(f, 12, -1, -1, 0);
	else if (strcmp(d, "cycle") == 0)
		a7f_links(f, 14, 13, 12, 2);
	else if (strcmp(d, "orphan-blank") == 0)
		(void)a7f_append_blank(f);
	else if (strcmp(d, "stale") == 0)
		a7f_meta_rec(f, A7F_LISTINGS, 5, 8, 2, 21 + 4008);
	else if (strcmp(d, "mac") == 0)
		f->flags[13] |= A7F_F_FLIP_MAC;
	else if (strcmp(d, "half-append") == 0) {
		b = a7f_append_blank(f);
		a7f_links(f, 10, 8, (int32_t)b, 2);
	} else
		errx(1, "unknown defect '%s'", d);
}

static double
now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The floor: decrypt and hash every block once, nothing else. */
static void
raw(const char *path)
{
	EVP_MD_CTX	*md = EVP_MD_CTX_new();
	EVP_MD		*sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
	uint8_t		*buf, plain[4056], dg[20];
	unsigned int	 n;
	size_t		 chunk = 256 * 4096, i;
	ssize_t		 got;
	uint64_t	 total = 0, bad = 0;
	double		 t0;
	int		 fd;

	if (sodium_init() < 0 || md == NULL || sha1 == NULL)
		errx(1, "crypto init failed");
	if ((fd = open(path, O_RDONLY)) < 0)
		err(1, "cannot open '%s'", path);
	if ((buf = malloc(chunk)) == NULL)
		err(1, "out of memory");
	t0 = now();
	while ((got = read(fd, buf, chunk)) > 0) {
		for (i = 0; i + 4096 <= (size_t)got; i += 4096) {
			if (crypto_secretbox_open_easy(plain, buf + i + 24,
			    4072, buf + i, a7f_key) != 0) {
				bad++;
				continue;
			}
			EVP_DigestInit_ex(md, sha1, NULL);
			EVP_DigestUpdate(md, plain + 48, 4008);
			EVP_DigestFinal_ex(md, dg, &n);
			if (memcmp(dg, plain + 28, 20) != 0)
				bad++;
		}
		total += (uint64_t)got;
	}
	printf("%.3f %llu %llu\n", now() - t0, (unsigned long long)total,
	    (unsigned long long)bad);
	free(buf);
	close(fd);
	EVP_MD_CTX_free(md);
	EVP_MD_free(sha1);
}

int
main(int argc, char **argv)
{
	struct a7f	f;
	uint64_t	big, j, n;

	if (argc == 3 && strcmp(argv[1], "--raw") == 0) {
		raw(argv[2]);
		return 0;
	}
	if (argc == 4 && strcmp(argv[1], "--dump") == 0) {
		n = strtoull(argv[3], NULL, 10);
		for (j = 0; j < n; j++)
			putchar(a7f_byte(strtoul(argv[2], NULL, 10), j));
		return 0;
	}
	if (argc == 4 && strcmp(argv[1], "--big") == 0) {
		big = strtoull(argv[2], NULL, 10) << 20;
		if (a7f_build(&f, &big, 1) != 0)
			errx(1, "cannot build the archive");
		if (a7f_write(&f, argv[3], 0) != 0)
			errx(1, "cannot write '%s'", argv[3]);
		a7f_free(&f);
		return 0;
	}
	if (argc < 2 || argc > 3)
		errx(1, "usage: a7_mk OUT [DEFECT] | --big MIB OUT | "
		    "--dump I SIZE | --raw FILE");
	if (a7f_build(&f, sizes, 3) != 0)
		errx(1, "cannot build the archive");
	defect(&f, argc == 3 ? argv[2] : "clean");
	if (a7f_write(&f, argv[1], 0) != 0)
		errx(1, "cannot write '%s'", argv[1]);
	a7f_free(&f);
	return 0;
}
