/* SPDX-License-Identifier: MIT */
/*
 * qcow2_prealloc.c --- write a large, sparse, fully allocated qcow2 image
 * (what qemu-img's preallocation=metadata gives) in seconds, for make
 * bench: with 512-byte clusters qemu-img itself needs many minutes.
 *
 * usage: qcow2_prealloc SIZE CLUSTER_BITS FILE (SIZE in bytes, or with a
 * K, M, G or T suffix).  Layout: header, refcount table, L1 table,
 * refcount blocks, L2 tables, then every data cluster in guest order.
 * Only metadata is written; the data area is a hole.
 */
#include <err.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/rd.h"

#define BUFSZ	(1U << 20)

static uint8_t	*buf;
static size_t	 used;
static uint64_t	 at;		/* file offset of buf[0] */
static int	 fd;

static void
flush(void)
{
	if (used > 0 && pwrite(fd, buf, used, (off_t)at) != (ssize_t)used)
		err(1, "write");
	at += used;
	used = 0;
}

/* Append bytes at file offset off (monotonic). */
static void
put(uint64_t off, const uint8_t *p, size_t n)
{
	if (off != at + used) {
		flush();
		at = off;
	}
	if (used + n > BUFSZ)
		flush();
	memcpy(buf + used, p, n);
	used += n;
}

static uint64_t
div_up(uint64_t a, uint64_t b)
{
	return (a + b - 1) / b;
}

int
main(int argc, char **argv)
{
	uint64_t	size, cs, l2n, nl2, l1b, rpb, nrb, rtc, meta, total;
	uint64_t	l1off, rtoff, rboff, l2off, doff, i, c, v;
	uint8_t		e[8], hdr[112];
	unsigned	cb;
	char		*end;

	if (argc != 4)
		errx(1, "usage: qcow2_prealloc SIZE CLUSTER_BITS FILE");
	size = strtoull(argv[1], &end, 10);
	switch (*end) {
	case 'T': size <<= 10;	/* FALLTHROUGH */
	case 'G': size <<= 10;	/* FALLTHROUGH */
	case 'M': size <<= 10;	/* FALLTHROUGH */
	case 'K': size <<= 10;	break;
	case '\0': break;
	default: errx(1, "bad size '%s'", argv[1]);
	}
	cb = (unsigned)strtoul(argv[2], NULL, 10);
	if (cb < 9 || cb > 21 || size == 0)
		errx(1, "bad cluster bits or size");
	cs = 1ULL << cb;
	l2n = cs / 8;
	nl2 = div_up(div_up(size, cs), l2n);
	l1b = div_up(nl2 * 8, cs);		/* L1 clusters */
	rpb = cs * 8 / 16;			/* 16-bit refcounts per block */
	/* Find a refcount block count that covers itself. */
	nrb = 1;
	for (;;) {
		rtc = div_up(nrb * 8, cs);
		meta = 1 + rtc + l1b + nrb + nl2;
		total = meta + div_up(size, cs);
		if (div_up(total, rpb) <= nrb)
			break;
		nrb = div_up(total, rpb);
	}
	rtoff = cs;
	l1off = rtoff + rtc * cs;
	rboff = l1off + l1b * cs;
	l2off = rboff + nrb * cs;
	doff = l2off + nl2 * cs;
	if ((buf = malloc(BUFSZ)) == NULL)
		err(1, "malloc");
	if ((fd = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0)
		err(1, "cannot create '%s'", argv[3]);
	memset(hdr, 0, sizeof(hdr));
	put_be32(hdr, 0x514649fb);
	put_be32(hdr + 4, 3);
	put_be32(hdr + 20, cb);
	put_be64(hdr + 24, size);
	put_be32(hdr + 36, (uint32_t)nl2);
	put_be64(hdr + 40, l1off);
	put_be64(hdr + 48, rtoff);
	put_be32(hdr + 56, (uint32_t)rtc);
	put_be32(hdr + 96, 4);
	put_be32(hdr + 100, 112);
	put(0, hdr, sizeof(hdr));
	for (i = 0; i < nrb; i++) {		/* refcount table */
		put_be64(e, rboff + i * cs);
		put(rtoff + i * 8, e, 8);
	}
	for (i = 0; i < nl2; i++) {		/* L1 */
		put_be64(e, (l2off + i * cs) | 1ULL << 63);
		put(l1off + i * 8, e, 8);
	}
	for (c = 0; c < nrb * rpb; c++) {	/* refcount blocks */
		v = c < total ? 1 : 0;
		e[0] = (uint8_t)(v >> 8);
		e[1] = (uint8_t)v;
		put(rboff + c * 2, e, 2);
	}
	for (i = 0; i < nl2 * l2n; i++) {	/* L2 tables */
		if (i * cs >= size)
			break;
		put_be64(e, (doff + i * cs) | 1ULL << 63);
		put(l2off + i * 8, e, 8);
	}
	flush();
	if (ftruncate(fd, (off_t)(doff + div_up(size, cs) * cs)) != 0)
		err(1, "ftruncate");
	if (close(fd) != 0)
		err(1, "close");
	free(buf);
	return 0;
}
