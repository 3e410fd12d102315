/* SPDX-License-Identifier: MIT */
/*
 * fuzz_qcow2_bitmap.c --- libFuzzer harness for the bitmap directory decoder.
 *
 * The first 13 bytes are the context qcow2_open() passes in: the bitmap
 * count from the header extension (u32, kept small), the cluster bits
 * (one byte, folded into 9..21 when outside) and the virtual disk size
 * (u64); the rest is the directory as read at bitmap_dir_offset.  The
 * output array is sized exactly nb entries so that a write past it shows
 * up under ASan.
 * Build and run: see tests/fuzz/README.md.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qcow2/qcow2.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_NB	1024U

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qcow2_bitmap	*out;
	uint64_t		 cs, disk_size;
	uint32_t		 nb, cb, i;
	char			 why[IMG_ERRMSG_MAX];
	int			 rc;

	if (size < 13)
		return 0;
	nb = be32_at(data) % (FUZZ_MAX_NB + 1);
	/* The low byte of cluster_bits, as run.sh cuts it from a header. */
	cb = data[4];
	if (cb < QCOW2_MIN_CLUSTER_BITS || cb > QCOW2_MAX_CLUSTER_BITS)
		cb = QCOW2_MIN_CLUSTER_BITS + cb %
		    (QCOW2_MAX_CLUSTER_BITS - QCOW2_MIN_CLUSTER_BITS + 1);
	cs = 1ULL << cb;
	disk_size = be64_at(data + 5);
	if ((out = calloc(nb == 0 ? 1 : nb, sizeof(*out))) == NULL)
		return 0;
	why[0] = '\0';
	rc = qcow2_bitmap_dir_decode(data + 13, size - 13, nb, cs, disk_size,
	    out, why, sizeof(why));
	if (rc == 0) {
		for (i = 0; i < nb; i++)
			if (strlen(out[i].name) > QCOW2_MAX_BITMAP_NAME)
				__builtin_trap();
	}
	if (strlen(why) >= sizeof(why))
		__builtin_trap();
	free(out);
	return 0;
}
