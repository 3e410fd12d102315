/* SPDX-License-Identifier: MIT */
/*
 * fuzz_sparse_image.c --- libFuzzer harness for a whole virtnbdbackup
 * sparse stream: open as sparsestream, info, check, map, extract the
 * guest disk, then salvage it into a new file under /dev/shm
 * (fuzz_img.h).  Build and run: see tests/fuzz/README.md.
 */
#define _GNU_SOURCE
#include "fuzz_img.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_img_run("sparsestream", data, size, NULL);
	return 0;
}
