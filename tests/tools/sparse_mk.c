/* SPDX-License-Identifier: MIT */
/*
 * sparse_mk.c --- write sparse streams with the test fixture writer.
 *
 *   sparse_mk std [-iz] [-c chunk] OUT     the standard 256 KiB stream
 *   sparse_mk disk [-i] OUT                its guest disk, raw
 *   sparse_mk defect NAME OUT              one defect of the table
 *   sparse_mk list                         name, code, exit per defect
 *   sparse_mk big [-z] -s SIZE [-l LZ4] OUT  a SIZE-byte-of-data stream
 *                                          (benchmark); -l also writes
 *                                          its lz4 frames back to back
 */
#include <err.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../fixtures/sparse_fix.h"
#include "core/banned.h"

#define BIG_EXTENT	(8u << 20)	/* data per extent */
#define BIG_HOLE	(1u << 20)	/* zero extent after each */

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: sparse_mk std [-iz] [-c chunk] out\n"
	    "       sparse_mk disk [-i] out\n"
	    "       sparse_mk defect name out\n"
	    "       sparse_mk list\n"
	    "       sparse_mk big [-z] -s size [-l lz4out] out\n");
	exit(1);
}

static uint64_t
parse_size(const char *s)
{
	char		*end;
	uint64_t	 v = strtoull(s, &end, 10);

	switch (*end) {
	case 'G': v <<= 30; break;
	case 'M': v <<= 20; break;
	case 'K': v <<= 10; break;
	case '\0': break;
	default: errx(1, "bad size '%s'", s);
	}
	return v;
}

/* Guest bytes that compress about 2:1, like a used file system. */
static void
fill(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t	x = seed * 0x9e3779b97f4a7c15ULL + 1;
	size_t		i;

	for (i = 0; i < n; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if ((i >> 12) & 1)
			memcpy(p + i, &x, n - i < 8 ? n - i : 8);
		else
			memset(p + i, (int)((i >> 6) & 0x7f) + ' ',
			    n - i < 8 ? n - i : 8);
	}
}

static int
big(int argc, char **argv)
{
	struct sparse_fix_meta	 m;
	struct sparse_fix	 f;
	const char		*lz4out = NULL;
	uint64_t		 size = 0, g = 0, n, i, k;
	uint8_t			*buf;
	int			 ch, fd, lfd;
	bool			 z = false;

	while ((ch = getopt(argc, argv, "l:s:z")) != -1) {
		switch (ch) {
		case 'l': lz4out = optarg; break;
		case 's': size = parse_size(optarg); break;
		case 'z': z = true; break;
		default: usage();
		}
	}
	if (optind + 1 != argc || size < BIG_EXTENT)
		usage();
	n = size / BIG_EXTENT;
	memset(&m, 0, sizeof(m));
	m.vsize = n * (BIG_EXTENT + BIG_HOLE);
	m.dsize = n * BIG_EXTENT;
	m.compressed = z;
	m.level = z ? 2 : 0;
	if ((fd = open(argv[optind], O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0)
		err(1, "cannot create '%s'", argv[optind]);
	if ((buf = malloc(BIG_EXTENT)) == NULL)
		err(1, "out of memory");
	if (sparse_fix_begin(&f, fd, &m, 0) != 0)
		errx(1, "cannot start the stream");
	for (i = 0; i < n; i++) {
		fill(buf, BIG_EXTENT, i);
		sparse_fix_data(&f, g, buf, BIG_EXTENT);
		sparse_fix_zero(&f, g + BIG_EXTENT, BIG_HOLE);
		g += BIG_EXTENT + BIG_HOLE;
	}
	if (sparse_fix_end(&f) != 0)
		errx(1, "cannot write '%s'", argv[optind]);
	close(fd);
	free(buf);
	if (lz4out != NULL && z) {
		/* The same lz4 frames, back to back, for lz4 -t. */
		if ((fd = open(argv[optind], O_RDONLY)) < 0 ||
		    (lfd = open(lz4out, O_WRONLY | O_CREAT | O_TRUNC,
		    0644)) < 0)
			err(1, "cannot write '%s'", lz4out);
		if ((buf = malloc(BIG_EXTENT * 2)) == NULL)
			err(1, "out of memory");
		for (k = 0; k < f.nfr; k++) {
			if (f.fr[k].kind != 'd' || f.fr[k].pay_len >
			    BIG_EXTENT * 2)
				continue;
			n = f.fr[k].pay_len;
			if (pread(fd, buf, n, (off_t)f.fr[k].pay_off) !=
			    (ssize_t)n || write(lfd, buf, n) != (ssize_t)n)
				err(1, "cannot copy lz4 frames");
		}
		free(buf);
		close(fd);
		close(lfd);
	}
	sparse_fix_release(&f);
	return 0;
}

int
main(int argc, char **argv)
{
	const struct sparse_fix_defect	*d;
	struct sparse_fix		 f;
	uint8_t				*disk;
	uint64_t			 chunk = 0;
	int				 ch, rc;
	bool				 inc = false, z = false;
	FILE				*fp;

	if (argc < 2)
		usage();
	if (strcmp(argv[1], "list") == 0) {
		for (d = sparse_fix_defects; d->name != NULL; d++)
			printf("%s %s %d\n", d->name, d->code, d->exit);
		return 0;
	}
	if (strcmp(argv[1], "big") == 0)
		return big(argc - 1, argv + 1);
	if (strcmp(argv[1], "defect") == 0) {
		if (argc != 4 || (d = sparse_fix_defect_find(argv[2])) == NULL)
			usage();
		if (d->make(&f) != 0 || sparse_fix_save(&f, argv[3]) != 0)
			errx(1, "cannot write '%s'", argv[3]);
		sparse_fix_release(&f);
		return 0;
	}
	if (strcmp(argv[1], "std") != 0 && strcmp(argv[1], "disk") != 0)
		usage();
	optind = 2;
	while ((ch = getopt(argc, argv, "c:iz")) != -1) {
		switch (ch) {
		case 'c': chunk = parse_size(optarg); break;
		case 'i': inc = true; break;
		case 'z': z = true; break;
		default: usage();
		}
	}
	if (optind + 1 != argc)
		usage();
	if (strcmp(argv[1], "disk") == 0) {
		if ((disk = malloc(SPARSE_FIX_STD_SIZE)) == NULL)
			err(1, "out of memory");
		sparse_fix_std_disk(disk, inc);
		if ((fp = fopen(argv[optind], "wb")) == NULL ||
		    fwrite(disk, 1, SPARSE_FIX_STD_SIZE, fp) !=
		    SPARSE_FIX_STD_SIZE || fclose(fp) != 0)
			err(1, "cannot write '%s'", argv[optind]);
		free(disk);
		return 0;
	}
	rc = sparse_fix_std(&f, z, inc, chunk);
	if (rc != 0 || sparse_fix_save(&f, argv[optind]) != 0)
		errx(1, "cannot write '%s'", argv[optind]);
	sparse_fix_release(&f);
	return 0;
}
