/* SPDX-License-Identifier: MIT */
/*
 * fuzz_qcow2_hdr.c --- libFuzzer harness for the qcow2 header decoders.
 *
 * The input is cluster 0 of an image: we decode the fixed header, run
 * the open-time validation, and when both pass walk the extension area
 * the way qcow2_open() does.  The file size given to the validator comes
 * from the input length, so truncation is exercised too.  Build and run:
 * see tests/fuzz/README.md.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qcow2/qcow2.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qcow2_hdr	 h;
	struct qcow2		*q;
	char			 why[IMG_ERRMSG_MAX];
	size_t			 len;

	why[0] = '\0';
	if (qcow2_hdr_decode(data, size, &h, why, sizeof(why)) != 0)
		return 0;
	if (qcow2_hdr_validate(&h, (uint64_t)size, why, sizeof(why)) != 0)
		return 0;
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return 0;
	/*
	 * qcow2_open() derives these before the extension walk; the walk
	 * needs the cluster size and sees at most one cluster.
	 */
	q->h = h;
	q->cs = 1ULL << h.cluster_bits;
	q->extl2 = (h.incompatible & QCOW2_INCOMPAT_EXTL2) != 0;
	q->data_file = (h.incompatible & QCOW2_INCOMPAT_DATA_FILE) != 0;
	len = size < q->cs ? size : (size_t)q->cs;
	(void)qcow2_ext_decode(q, data, len, why, sizeof(why));
	free(q->data_file_name);
	free(q);
	return 0;
}
