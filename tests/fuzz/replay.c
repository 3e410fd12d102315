/* SPDX-License-Identifier: MIT */
/*
 * replay.c --- run a fuzz harness without libFuzzer: each file named on
 * the command line is read and given to LLVMFuzzerTestOneInput() once.
 * Linked with one harness by the Makefile ($(B)/tests/fuzz/replay_*) so
 * make check replays tests/fuzz/regress/ with the normal compiler (and
 * under ASan with SAN=1).  Exits 1 if a file cannot be read; a crash is
 * the harness's own.
 */
#include <err.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_MAX	(16U << 20)	/* bigger than any harness takes */

static int
replay(const char *path)
{
	FILE	*f;
	uint8_t	*buf;
	size_t	 n;

	if ((f = fopen(path, "rb")) == NULL) {
		warn("%s", path);
		return -1;
	}
	if ((buf = malloc(REPLAY_MAX)) == NULL) {
		fclose(f);
		warn("%s", path);
		return -1;
	}
	n = fread(buf, 1, REPLAY_MAX, f);
	if (ferror(f)) {
		warn("%s", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	(void)LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return 0;
}

int
main(int argc, char **argv)
{
	int	i, rc = 0;

	for (i = 1; i < argc; i++)
		if (replay(argv[i]) != 0)
			rc = 1;
	return rc;
}
