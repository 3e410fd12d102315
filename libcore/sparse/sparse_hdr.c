/* SPDX-License-Identifier: MIT */
/*
 * sparse_hdr.c --- decode and format the 40-byte sparse stream frame header.
 *
 * A header is "kind start length\r\n" with two 16-digit lowercase hex
 * numbers (spec section 2).  The upstream reader splits on spaces and
 * converts with Python's int(x, 16), so it also takes uppercase digits,
 * a sign, a 0x prefix, underscores and surrounding blanks.  We decode
 * the way upstream does, so that we know the value it would use, and
 * flag every byte the writer could not have produced.
 */
#include <stdio.h>
#include <string.h>

#include "sparse/sparse.h"
#include "core/banned.h"

static const char *const sparse_words[] = {
	[SK_META] = "meta",
	[SK_DATA] = "data",
	[SK_ZERO] = "zero",
	[SK_STOP] = "stop",
	[SK_COMP] = "comp",
	[SK_UNKNOWN] = "?"
};

const char *
sparse_kind_name(enum sparse_kind kind)
{
	if ((unsigned)kind > SK_UNKNOWN)
		return "?";
	return sparse_words[kind];
}

static int
hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool
is_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
	    c == '\v' || c == '\f';
}

/*
 * Parse the n bytes of one number field.  Returns 0 when canonical, 1
 * when only a lenient int(x, 16) takes it, -1 when nothing does; *bad
 * is the index of the first byte that is not [0-9a-f].
 */
static int
field_parse(const uint8_t *f, size_t n, uint64_t *v, unsigned *bad)
{
	uint64_t	val = 0;
	size_t		i, ndig = 0;
	bool		canon = true, last_us = false;
	int		d;

	*bad = 0;
	for (i = 0; i < n; i++) {
		if (!((f[i] >= '0' && f[i] <= '9') ||
		    (f[i] >= 'a' && f[i] <= 'f'))) {
			canon = false;
			*bad = (unsigned)i;
			break;
		}
		val = val << 4 | (uint64_t)hexval(f[i]);
	}
	if (canon) {
		*v = val;
		return 0;
	}
	/* Python's int(x, 16): blanks, sign, 0x, digits with single _. */
	val = 0;
	i = 0;
	while (i < n && is_space(f[i]))
		i++;
	if (i < n && f[i] == '+')
		i++;
	if (i + 1 < n && f[i] == '0' && (f[i + 1] == 'x' || f[i + 1] == 'X')) {
		i += 2;
		if (i < n && f[i] == '_')	/* "0x_1" is accepted too */
			i++;
	}
	for (; i < n; i++) {
		if (f[i] == '_') {
			if (ndig == 0 || last_us)
				return -1;
			last_us = true;
			continue;
		}
		if ((d = hexval(f[i])) < 0)
			break;
		val = val << 4 | (uint64_t)d;
		ndig++;
		last_us = false;
	}
	if (ndig == 0 || last_us)
		return -1;
	while (i < n && is_space(f[i]))
		i++;
	if (i != n)
		return -1;
	*v = val;
	return 1;
}

void
sparse_hdr_parse(const uint8_t *b, struct sparse_hdr *h)
{
	unsigned	bad;
	size_t		i;
	int		k, r;

	memset(h, 0, sizeof(*h));
	h->kind = SK_UNKNOWN;
	/* 0: kind word (section 2) */
	for (k = SK_META; k < SK_UNKNOWN; k++)
		if (memcmp(b, sparse_words[k], 4) == 0)
			h->kind = (enum sparse_kind)k;
	for (i = 0; i < 4; i++)
		h->word[i] = b[i] >= 0x20 && b[i] < 0x7f ? (char)b[i] : '?';
	h->word[4] = '\0';
	if (h->kind == SK_UNKNOWN)
		h->flags |= SH_BAD_KIND;
	/* 4, 21: separators */
	if (b[4] != ' ' || b[21] != ' ') {
		h->flags |= SH_BAD_SEP;
		h->bad_byte = b[4] != ' ' ? 4 : 21;
	}
	/* 5: start, 22: length, 16 hex digits each */
	r = field_parse(b + 5, 16, &h->start, &bad);
	if (r != 0 && !(h->flags & (SH_NONHEX | SH_NONCANON))) {
		h->bad_field = "start";
		if (!(h->flags & SH_BAD_SEP))
			h->bad_byte = 5 + bad;
	}
	if (r < 0)
		h->flags |= SH_NONHEX;
	else if (r > 0)
		h->flags |= SH_NONCANON;
	r = field_parse(b + 22, 16, &h->len, &bad);
	if (r != 0 && h->bad_field == NULL) {
		h->bad_field = "length";
		if (!(h->flags & SH_BAD_SEP))
			h->bad_byte = 22 + bad;
	}
	if (r < 0)
		h->flags |= SH_NONHEX;
	else if (r > 0)
		h->flags |= SH_NONCANON;
	/* 38: CR LF */
	h->term = (uint16_t)(b[38] << 8 | b[39]);
	if (b[38] != '\r' || b[39] != '\n') {
		if (is_space(b[38]) && is_space(b[39]))
			h->flags |= SH_TERM_SPACE;
		else
			h->flags |= SH_TERM_BAD;
	}
}

bool
sparse_hdr_plausible(const uint8_t *b)
{
	int	k;
	size_t	i;
	bool	known = false;

	if (b[4] != ' ' || b[21] != ' ' || b[38] != '\r' || b[39] != '\n')
		return false;
	for (k = SK_META; k < SK_UNKNOWN; k++)
		if (memcmp(b, sparse_words[k], 4) == 0)
			known = true;
	if (!known)
		return false;
	for (i = 0; i < 16; i++)
		if (hexval(b[5 + i]) < 0 || hexval(b[22 + i]) < 0)
			return false;
	return true;
}

void
sparse_hdr_format(uint8_t *b, enum sparse_kind kind, uint64_t start,
    uint64_t len)
{
	char	tmp[SPARSE_HDR_LEN + 1];

	snprintf(tmp, sizeof(tmp), "%.4s %016llx %016llx\r\n",
	    sparse_kind_name(kind), (unsigned long long)start,
	    (unsigned long long)len);
	memcpy(b, tmp, SPARSE_HDR_LEN);
}

void
sparse_hdr_report_lenient(struct report *rp, const struct sparse_hdr *h,
    struct pr_ctx *pc)
{
	if (h->flags & SH_NONCANON) {
		pc->str = h->bad_field;
		pc->found = h->bad_byte;
		sparse_pr(rp, PR_SPARSE_NONCANONICAL, pc);
	}
	if (h->flags & SH_TERM_SPACE) {
		pc->found = h->term;
		sparse_pr(rp, PR_SPARSE_HDR_TERM_SPACE, pc);
	}
}
