/* SPDX-License-Identifier: MIT */
/*
 * batch.h --- run one tool over many images, N at a time, output in order.
 */
#ifndef BATCH_H
#define BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/*
 * Do the tool's work on one image: write its output to out and its
 * diagnostics ("prog: why" lines) to err, and return its exit status.
 * Called from several threads at once when jobs > 1, so it may touch
 * nothing shared but what it only reads.
 */
typedef int tu_one_fn(void *arg, const char *path, FILE *out, FILE *err);

struct tu_batch {
	tu_one_fn	*one;
	void		*arg;
	size_t		 jobs;		/* at most this many at once, >= 1 */
	bool		 nul;		/* "-" lists paths NUL-separated (-0) */
	bool		 blank;		/* a blank line between output blocks */
	/* How bad an exit status is: the worst one is the run's. */
	int		(*rank)(int ex);
};

/*
 * Run b->one on every path of argv[0..argc-1] in order; an argument "-"
 * stands for the paths read from standard input, one a line (or ending
 * in NUL with b->nul), read as the run goes so memory stays bounded.
 * Output blocks come out in argument order whatever finishes first.
 * Returns the worst exit status by b->rank, or 0 when there was nothing.
 */
int	tu_batch_run(const struct tu_batch *b, int argc, char **argv);

/* The number of CPUs this process may use (at least 1). */
size_t	tu_ncpus(void);

/*
 * The paths of argv with "-" read from standard input; *np gets their
 * count.  For --chain, which needs them all at once.  Caller frees the
 * array and each string.
 */
char	**tu_paths_all(int argc, char **argv, bool nul, size_t *np);

#endif /* BATCH_H */
