/* SPDX-License-Identifier: MIT */
/*
 * progress.c --- how far a long walk got, on one line of stderr.
 *
 * Shown only on a terminal, never with -q or --output=json, and only once
 * the work has taken a second (IMGKIT_PROGRESS_DELAY seconds, as git's
 * GIT_PROGRESS_DELAY): quick runs print nothing.  The line gives the
 * percentage walked, the bytes walked of all, the rate and the time left,
 * and is redrawn at most ten times a second; tp_end() clears it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "toolutil.h"
#include "core/banned.h"

#define TP_DELAY	1.0	/* seconds of work before the line shows */
#define TP_DELAY_MAX	3600.0	/* the most IMGKIT_PROGRESS_DELAY may ask */
#define TP_REDRAW	0.1	/* seconds between two redraws */
#define TP_LINE		160	/* longest line drawn */

struct tp {
	const char	*name;
	double		 t0;
	double		 last;
	double		 delay;
	int		 width;		/* of the line drawn last */
	bool		 on;
};

static struct tp	tp;

static double
now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
tp_delay(void)
{
	const char	*s = getenv("IMGKIT_PROGRESS_DELAY");
	char		*end;
	double		 d;

	if (s == NULL || *s == '\0')
		return TP_DELAY;
	d = strtod(s, &end);
	if (*end != '\0' || !(d >= 0 && d <= TP_DELAY_MAX))
		return TP_DELAY;
	return d;
}

/* "12 s", "3 min", "2 h": rounded, never longer than 7 characters. */
static void
tp_time(double s, char *buf, size_t len)
{
	if (s < 99.5)
		snprintf(buf, len, "%.0f s", s);
	else if (s < 99.5 * 60)
		snprintf(buf, len, "%.0f min", s / 60);
	else if (s < 9999.5 * 3600)
		snprintf(buf, len, "%.0f h", s / 3600);
	else
		snprintf(buf, len, "long");
}

/* Columns of the terminal on stderr, or 80. */
static int
tp_cols(void)
{
	struct winsize	ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return 80;
}

void
tp_update(void *arg, uint64_t done, uint64_t total)
{
	const char	*name = arg != NULL ? arg : tp.name;
	char		 line[TP_LINE], sd[32], st[32], sr[32], sl[16];
	double		 t = now(), el, rate;
	int		 n, room, cols;
	size_t		 nl;

	if (!tp.on || total == 0 || t - tp.t0 < tp.delay ||
	    t - tp.last < TP_REDRAW)
		return;
	if (done > total)
		done = total;
	tp.last = t;
	el = t - tp.t0;
	rate = el > 0 ? (double)done / el : 0;
	tu_size_words(done, sd, sizeof(sd));
	tu_size_words(total, st, sizeof(st));
	tu_size_words((uint64_t)rate, sr, sizeof(sr));
	if (done > 0 && rate > 0)
		tp_time((double)(total - done) / rate, sl, sizeof(sl));
	else
		snprintf(sl, sizeof(sl), "?");
	n = snprintf(line, sizeof(line), ": %5.1f%%  %s of %s  %s/s  %s left",
	    100.0 * (double)done / (double)total, sd, st, sr, sl);
	if (n < 0 || n >= (int)sizeof(line))
		return;
	/*
	 * One row: a wrapped line would leave a row behind at every redraw.
	 * The name gives way first, keeping its end (the file's own name).
	 */
	cols = tp_cols();
	if (cols > TP_LINE)
		cols = TP_LINE;
	room = cols - 1 - n;
	nl = strlen(name);
	if (room >= (int)nl)
		fprintf(stderr, "\r%s%s", name, line);
	else if (room > 3)
		fprintf(stderr, "\r...%s%s", name + nl - (size_t)(room - 3),
		    line);
	else
		fprintf(stderr, "\r%.*s", cols - 1 > 0 ? cols - 1 : 0,
		    line + 2);
	n = room >= (int)nl ? (int)nl + n : cols - 1;
	/* Wipe what is left of a longer line before it. */
	if (tp.width > n)
		fprintf(stderr, "%*s", tp.width - n, "");
	if (n > tp.width)
		tp.width = n;
	fflush(stderr);
}

bool
tp_begin(const char *name, const struct tu_common *tc)
{
	memset(&tp, 0, sizeof(tp));
	if (tc->quiet || tc->json || !isatty(STDERR_FILENO))
		return false;
	tp.name = name;
	tp.delay = tp_delay();
	tp.t0 = now();
	tp.last = -1.0;
	tp.on = true;
	return true;
}

void
tp_attach(struct img *img, const char *name, const struct tu_common *tc)
{
	if (tp_begin(name, tc))
		img_set_progress(img, tp_update, NULL);
}

/*
 * Clear the line.  The next walk of the run (a chain's next image) may
 * draw it again.
 */
void
tp_end(void)
{
	if (!tp.on)
		return;		/* never began: nothing shared is touched */
	if (tp.width > 0)
		fprintf(stderr, "\r%*s\r", tp.width, "");
	tp.width = 0;
	tp.last = -1.0;
}
