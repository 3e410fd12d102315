/* SPDX-License-Identifier: MIT */
/*
 * fuzz_qcow2_image.c --- libFuzzer harness for a whole qcow2 image.
 *
 * The input goes into a memfd, is opened as qcow2 and put through info,
 * check, map and extract: the calls imginfo, imgcheck and imgmap make,
 * through libcore.h only; then a copy is offered to img_repair in place
 * (qcow2 has no repair yet, so that only checks the refusal).  The body
 * is in fuzz_img.h; inputs over 4 MiB are skipped.  Build and run: see
 * tests/fuzz/README.md.
 */
#define _GNU_SOURCE
#include "fuzz_img.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_img_run("qcow2", data, size, NULL);
	return 0;
}
