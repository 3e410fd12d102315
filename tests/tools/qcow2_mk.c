/* SPDX-License-Identifier: MIT */
/*
 * qcow2_mk.c --- write a small qcow2 sample image with the fixture writer.
 *
 * usage: qcow2_mk KIND FILE, KIND one of: clean, corrupt, leak.  The
 * "corrupt" sample has a data cluster shared by two guest clusters (a
 * refcount too low) and a leaked cluster; make demo and the README use
 * these.
 */
#include <err.h>
#include <stdio.h>
#include <string.h>

#include "fixtures/qcow2_fix.h"

int
main(int argc, char **argv)
{
	struct qcow2_fix	f;

	if (argc != 3)
		errx(1, "usage: qcow2_mk clean|corrupt|leak FILE");
	if (qcow2_fix_init(&f, 3, 16, 4, 64ULL << 20, false) != 0)
		errx(1, "cannot build the image");
	if (qcow2_fix_write(&f, 0, 0x11) == 0 ||
	    qcow2_fix_write(&f, 1ULL << 20, 0x22) == 0 ||
	    qcow2_fix_write(&f, 4ULL << 20, 0x33) == 0)
		errx(1, "cannot write guest data");
	if (strcmp(argv[1], "corrupt") == 0) {
		/* Guest cluster 17 points at guest cluster 0's data. */
		qcow2_fix_l2_set(&f, 0, 17, 0, qcow2_fix_l2_get(&f, 0, 0, 0));
		/* And guest 4 MiB's cluster is forgotten: a leak. */
		qcow2_fix_l2_set(&f, 0, 64, 0, 0);
	} else if (strcmp(argv[1], "leak") == 0) {
		qcow2_fix_l2_set(&f, 0, 64, 0, 0);
	} else if (strcmp(argv[1], "clean") != 0)
		errx(1, "unknown kind '%s'", argv[1]);
	if (qcow2_fix_save(&f, argv[2]) != 0)
		err(1, "cannot write '%s'", argv[2]);
	qcow2_fix_release(&f);
	return 0;
}
