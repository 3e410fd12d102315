/* SPDX-License-Identifier: MIT */
/*
 * fuzz_qed_image.c --- libFuzzer harness for a whole QED image: open as
 * qed, info, check, map, extract, then an in-place repair of a copy
 * (fuzz_img.h).  Build and run: see tests/fuzz/README.md.
 */
#define _GNU_SOURCE
#include "fuzz_img.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_img_run("qed", data, size, NULL);
	return 0;
}
