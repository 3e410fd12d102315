/* SPDX-License-Identifier: MIT */
/*
 * qed_mk.c --- write a small QED sample image with the fixture writer.
 *
 * usage: qed_mk KIND FILE, KIND one of: clean, past-eof.  Both have 64
 * KiB clusters, tables of 4 clusters, 64 MiB of guest, data at guest 0
 * and 1 MiB.  In "past-eof" the L2 entry of guest 1 MiB points past the
 * end of the file (qed-data-past-eof: the entry at fault is the L2
 * entry, the range at stake the cluster it names).
 */
#include <err.h>
#include <stdio.h>
#include <string.h>

#include "fixtures/qed_fix.h"

int
main(int argc, char **argv)
{
	struct qed_fix	f;

	if (argc != 3)
		errx(1, "usage: qed_mk clean|past-eof FILE");
	if (qed_fix_init(&f, 65536, 4, 64ULL << 20) != 0)
		errx(1, "cannot build the image");
	if (qed_fix_write(&f, 0, 0x11) == 0 ||
	    qed_fix_write(&f, 1ULL << 20, 0x22) == 0)
		errx(1, "cannot write guest data");
	if (strcmp(argv[1], "past-eof") == 0)
		qed_fix_l2_set(&f, 0, 16, 64ULL << 20);
	else if (strcmp(argv[1], "clean") != 0)
		errx(1, "unknown kind '%s'", argv[1]);
	if (qed_fix_save(&f, argv[2]) != 0)
		err(1, "cannot write '%s'", argv[2]);
	qed_fix_release(&f);
	return 0;
}
