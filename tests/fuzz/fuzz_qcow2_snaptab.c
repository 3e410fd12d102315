/* SPDX-License-Identifier: MIT */
/*
 * fuzz_qcow2_snaptab.c --- libFuzzer harness for the snapshot table decoder.
 *
 * The first five bytes choose the record count (big-endian u32, kept
 * small so the fuzzer spends its time in the records) and the header
 * version; the rest is the table as it would be read at
 * snapshots_offset.  Every decoded string is walked so that a missing
 * terminator shows up under ASan.  Build and run: see tests/fuzz/README.md.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "qcow2/qcow2.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Enough records to cover the loop without a huge calloc per input. */
#define FUZZ_MAX_NB	4096U

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qcow2_snaptab	t;
	uint32_t		nb, version, bad = UINT32_MAX, i;
	size_t			sum = 0;
	int			rc;

	if (size < 5)
		return 0;
	nb = be32_at(data) % (FUZZ_MAX_NB + 1);
	version = 2 + (data[4] & 1);
	memset(&t, 0, sizeof(t));
	rc = qcow2_snaptab_decode(data + 5, size - 5, nb, version, &t, &bad);
	if (rc != 0 && rc != -IMG_ELIMIT && rc != -EFBIG)
		return 0;
	/* On these returns *out was written and must be consistent. */
	if ((rc == -IMG_ELIMIT || rc == -EFBIG) && bad >= t.n)
		__builtin_trap();
	if (t.n > nb || t.bytes > size - 5)
		__builtin_trap();
	for (i = 0; i < t.n; i++) {
		if (t.s[i].id != NULL)
			sum += strlen(t.s[i].id);
		if (t.s[i].name != NULL)
			sum += strlen(t.s[i].name);
	}
	(void)sum;
	qcow2_snaptab_release(&t);
	return 0;
}
