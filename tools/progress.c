/* SPDX-License-Identifier: MIT */
/*
 * progress.c --- how far a long walk got, on one line of stderr.
 *
 * Shown only on a terminal, never with -q or --output=json, and only once
 * the work has taken a second: quick runs print nothing.  The line gives
 * the percentage walked, the rate and the time left, and is redrawn at
 * most ten times a second; tp_end() clears it.
 */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "toolutil.h"
#include "core/banned.h"

struct tp {
	const char	*name;
	double		 t0;
	double		 last;
	bool		 shown;
};

static struct tp	tp;

static double
now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
tp_show(void *arg, uint64_t done, uint64_t total)
{
	double	t = now(), el, pct, left;

	(void)arg;
	if (total == 0 || t - tp.t0 < 1.0 || t - tp.last < 0.1)
		return;
	tp.last = t;
	el = t - tp.t0;
	pct = 100.0 * (double)done / (double)total;
	left = done > 0 ? el * (double)(total - done) / (double)done : 0;
	fprintf(stderr, "\r%s: %5.1f%%  %.0f/s  %.0f s left   ", tp.name, pct,
	    (double)done / el, left);
	tp.shown = true;
}

void
tp_attach(struct img *img, const char *name, const struct tu_common *tc)
{
	if (tc->quiet || tc->json || !isatty(STDERR_FILENO))
		return;
	tp.name = name;
	tp.t0 = now();
	tp.last = 0;
	tp.shown = false;
	img_set_progress(img, tp_show, NULL);
}

void
tp_end(void)
{
	if (tp.shown)
		fprintf(stderr, "\r%*s\r", 60, "");
	tp.shown = false;
}
