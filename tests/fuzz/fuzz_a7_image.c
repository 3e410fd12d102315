/* SPDX-License-Identifier: MIT */
/*
 * fuzz_a7_image.c --- libFuzzer harness for a whole angelos archive7
 * file.  The first input byte chooses the key: low bit set, the key the
 * test fixtures use (bytes 00 01 .. 1f, tests/fixtures/a7_fix.c); clear,
 * no key.  The rest is the archive: open as archive7, info, check, map,
 * extract the first member the map names, then an in-place repair of a
 * copy (fuzz_img.h).  Build and run: see tests/fuzz/README.md.
 */
#define _GNU_SOURCE
#include "fuzz_img.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t	key[32];
	size_t	i;

	if (size < 1)
		return 0;
	for (i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)i;
	fuzz_img_run("archive7", data + 1, size - 1,
	    (data[0] & 1) ? key : NULL);
	return 0;
}
