/* SPDX-License-Identifier: MIT */
/*
 * qed_bm.c --- a sparse bitmap of cluster indexes for the QED check.
 *
 * QEMU keeps one bit per cluster of the file.  A sparse file can be far
 * larger than its metadata, so our pages of QED_BM_PAGE_BITS bits appear
 * only when a bit in them is first set: memory follows the references
 * found, and the page directory is bounded by QED_BM_MAX_PAGES.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "qed/qed.h"
#include "core/banned.h"

#define BM_WORDS	(QED_BM_PAGE_BITS / 64)

int
qed_bm_init(struct qed_bm *bm, uint64_t nbits)
{
	uint64_t	npages;

	memset(bm, 0, sizeof(*bm));
	npages = nbits / QED_BM_PAGE_BITS + (nbits % QED_BM_PAGE_BITS != 0);
	if (npages > QED_BM_MAX_PAGES)
		return -IMG_ELIMIT;
	if (npages > 0 && (bm->pages = calloc((size_t)npages,
	    sizeof(*bm->pages))) == NULL)
		return -ENOMEM;
	bm->nbits = nbits;
	bm->npages = (size_t)npages;
	return 0;
}

void
qed_bm_release(struct qed_bm *bm)
{
	size_t	i;

	for (i = 0; i < bm->npages; i++)
		free(bm->pages[i]);
	free(bm->pages);
	memset(bm, 0, sizeof(*bm));
}

int
qed_bm_set_slow(struct qed_bm *bm, uint64_t i, bool *was)
{
	uint64_t	*pg, bit;
	size_t		 p;

	*was = false;
	if (i >= bm->nbits)
		return -IMG_ERANGE;
	p = (size_t)(i / QED_BM_PAGE_BITS);
	if ((pg = bm->pages[p]) == NULL) {
		if ((pg = calloc(BM_WORDS, sizeof(*pg))) == NULL)
			return -ENOMEM;
		bm->pages[p] = pg;
	}
	i %= QED_BM_PAGE_BITS;
	bit = 1ull << (i % 64);
	*was = (pg[i / 64] & bit) != 0;
	pg[i / 64] |= bit;
	return 0;
}

bool
qed_bm_test(const struct qed_bm *bm, uint64_t i)
{
	const uint64_t	*pg;

	if (i >= bm->nbits)
		return false;
	if ((pg = bm->pages[i / QED_BM_PAGE_BITS]) == NULL)
		return false;
	i %= QED_BM_PAGE_BITS;
	return (pg[i / 64] >> (i % 64)) & 1;
}

uint64_t
qed_bm_next(const struct qed_bm *bm, uint64_t from, uint64_t to, bool val)
{
	const uint64_t	*pg;
	uint64_t	 i, w;

	i = from;
	while (i < to) {
		if (i >= bm->nbits)		/* beyond the map: all clear */
			return val ? to : i;
		pg = bm->pages[i / QED_BM_PAGE_BITS];
		if (pg == NULL) {
			if (!val)
				return i;
			i = (i / QED_BM_PAGE_BITS + 1) * QED_BM_PAGE_BITS;
			continue;
		}
		w = pg[(i % QED_BM_PAGE_BITS) / 64];
		if (!val)
			w = ~w;
		w >>= i % 64;
		if (w != 0) {
			i += (uint64_t)__builtin_ctzll(w);
			return i < to ? i : to;
		}
		i = (i / 64 + 1) * 64;
	}
	return to;
}

uint64_t
qed_bm_count_clear(const struct qed_bm *bm, uint64_t from, uint64_t to)
{
	uint64_t	n = 0, a, b;

	/* Alternate runs of clear and set bits: as many steps as runs. */
	a = from;
	while (a < to) {
		b = qed_bm_next(bm, a, to, true);
		n += b - a;
		a = qed_bm_next(bm, b, to, false);
	}
	return n;
}

int
qed_bm_set_range(struct qed_bm *bm, uint64_t from, uint64_t n)
{
	uint64_t	*pg, i, end, w0, w1, lo, hi, mask;
	size_t		 p;

	if (n == 0)
		return 0;
	if (from >= bm->nbits || n > bm->nbits - from)
		return -IMG_ERANGE;
	for (i = from, end = from + n; i < end; i = hi) {
		p = (size_t)(i / QED_BM_PAGE_BITS);
		hi = (uint64_t)(p + 1) * QED_BM_PAGE_BITS;
		if (hi > end)
			hi = end;
		if ((pg = bm->pages[p]) == NULL) {
			if ((pg = calloc(BM_WORDS, sizeof(*pg))) == NULL)
				return -ENOMEM;
			bm->pages[p] = pg;
		}
		/* Bits [lo, hi) of this page, a word at a time. */
		lo = i % QED_BM_PAGE_BITS;
		w1 = (hi - 1) % QED_BM_PAGE_BITS;
		for (w0 = lo; w0 <= w1; w0 = (w0 / 64 + 1) * 64) {
			mask = ~0ull << (w0 % 64);
			if (w0 / 64 == w1 / 64)
				mask &= ~0ull >> (63 - w1 % 64);
			pg[w0 / 64] |= mask;
		}
	}
	return 0;
}
