/* SPDX-License-Identifier: MIT */
/*
 * str.c --- make strings read from an image safe to print and to put in
 * JSON: valid UTF-8 is kept, control characters and bytes that do not
 * form valid UTF-8 become '?'.
 */
#include "core/core.h"
#include "core/banned.h"

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	size_t		need, i;
	uint32_t	cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		need = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		need = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		need = 4;
		cp = s[0] & 0x07;
	} else
		return 0;
	if (need > n)
		return 0;
	for (i = 1; i < need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* No overlong forms, no surrogates, nothing past U+10FFFF. */
	if ((need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return need;
}

static void
str_fix(char *s, bool controls)
{
	unsigned char	*p = (unsigned char *)s;
	size_t		 n = 0, k, i;

	while (p[n] != '\0')
		n++;
	for (i = 0; i < n; ) {
		if (controls && (p[i] < 0x20 || p[i] == 0x7f)) {
			p[i++] = '?';
			continue;
		}
		if ((k = utf8_len(p + i, n - i)) == 0) {
			p[i++] = '?';
			continue;
		}
		i += k;
	}
}

void
img_str_clean(char *s)
{
	str_fix(s, true);
}

void
img_utf8_fix(char *s)
{
	str_fix(s, false);
}
