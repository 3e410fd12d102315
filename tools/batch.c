/* SPDX-License-Identifier: MIT */
/*
 * batch.c --- run one tool over many images, N at a time, output in order.
 *
 * Paths come from the arguments, and from standard input where an argument
 * is "-", one at a time, so a million paths from find(1) never sit in
 * memory together.  Worker threads take the next path, run the tool's
 * function on it into two memory streams (output and diagnostics) and
 * leave the result in a ring of slots indexed by the path's sequence
 * number; the main thread prints the slots in sequence order.  A worker
 * takes a new path only while fewer than RING results wait to be
 * printed, which bounds memory however slow one image is.  libcore keeps
 * no global state, so images are independent; one image's output never
 * interleaves with another's.
 */
#define _GNU_SOURCE	/* sched_getaffinity, CPU_COUNT */
#include <err.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "toolutil.h"
#include "core/banned.h"

/* Results waiting to be printed, per worker. */
#define RING_PER_JOB	4

enum slot_state { SLOT_FREE, SLOT_BUSY, SLOT_DONE };

struct slot {
	enum slot_state	 state;
	char		*out;		/* the tool's output */
	size_t		 outlen;
	char		*err;		/* its diagnostics */
	size_t		 errlen;
	int		 ex;
};

/* Where the paths come from. */
struct src {
	int		  argc;
	char		**argv;
	int		  i;		/* next argument */
	bool		  nul;
	bool		  in_stdin;	/* reading the list on stdin now */
	bool		  stdin_used;	/* a second "-" reads nothing */
	bool		  failed;	/* reading stdin failed */
	char		 *line;
	size_t		  cap;
};

struct run {
	const struct tu_batch	*b;
	struct src		 src;
	pthread_mutex_t		 src_mu;	/* taking the next path */
	pthread_mutex_t		 mu;		/* everything below */
	pthread_cond_t		 done_cv;	/* a slot is done, or eof */
	pthread_cond_t		 free_cv;	/* a slot was printed */
	struct slot		*ring;
	size_t			 nring;
	size_t			 next_seq;	/* the next path's number */
	size_t			 print_seq;	/* the next to print */
	bool			 eof;
	bool			 printed;	/* a block is out already */
	int			 worst;
};

size_t
tu_ncpus(void)
{
	cpu_set_t	set;
	long		n;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 &&
	    CPU_COUNT(&set) > 0)
		return (size_t)CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (size_t)n : 1;
}

/* The next path, caller frees; NULL at the end. */
static char *
src_next(struct src *s)
{
	ssize_t	n;

	for (;;) {
		if (s->in_stdin) {
			errno = 0;
			n = getdelim(&s->line, &s->cap, s->nul ? '\0' : '\n',
			    stdin);
			if (n < 0) {
				if (ferror(stdin)) {
					warn("cannot read the list of images "
					    "on standard input");
					s->failed = true;
				}
				s->in_stdin = false;
				continue;
			}
			if (n > 0 && s->line[n - 1] == (s->nul ? '\0' : '\n'))
				s->line[--n] = '\0';
			if (n == 0)
				continue;
			return xstrdup(s->line);
		}
		if (s->i >= s->argc)
			return NULL;
		if (strcmp(s->argv[s->i], "-") == 0) {
			s->i++;
			if (!s->stdin_used)
				s->in_stdin = s->stdin_used = true;
			continue;
		}
		return xstrdup(s->argv[s->i++]);
	}
}

static void
src_release(struct src *s)
{
	free(s->line);
	s->line = NULL;
}

char **
tu_paths_all(int argc, char **argv, bool nul, size_t *np)
{
	struct src	  s;
	char		**v = NULL, *p, **nv;
	size_t		  n = 0, cap = 0;

	memset(&s, 0, sizeof(s));
	s.argc = argc;
	s.argv = argv;
	s.nul = nul;
	while ((p = src_next(&s)) != NULL) {
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			if ((nv = reallocarray(v, cap, sizeof(*v))) == NULL)
				err(1, "out of memory");
			v = nv;
		}
		v[n++] = p;
	}
	src_release(&s);
	if (s.failed)
		exit(1);
	*np = n;
	return v;
}

/* Run the tool on path into sl. */
static void
slot_run(const struct tu_batch *b, const char *path, struct slot *sl)
{
	FILE	*out, *errf;

	sl->out = sl->err = NULL;
	sl->outlen = sl->errlen = 0;
	if ((out = open_memstream(&sl->out, &sl->outlen)) == NULL ||
	    (errf = open_memstream(&sl->err, &sl->errlen)) == NULL)
		err(1, "open_memstream");
	sl->ex = b->one(b->arg, path, out, errf);
	if (fclose(out) != 0 || fclose(errf) != 0)
		err(1, "out of memory");
}

/* Print a finished slot: its output, then its diagnostics. */
static void
slot_print(struct run *r, struct slot *sl)
{
	if (sl->outlen > 0) {
		if (r->b->blank && r->printed)
			putchar('\n');
		fwrite(sl->out, 1, sl->outlen, stdout);
		r->printed = true;
	}
	if (sl->errlen > 0 || r->b->jobs > 1)
		fflush(stdout);
	if (sl->errlen > 0)
		fwrite(sl->err, 1, sl->errlen, stderr);
	if (r->b->rank(sl->ex) > r->b->rank(r->worst))
		r->worst = sl->ex;
	free(sl->out);
	free(sl->err);
	sl->out = sl->err = NULL;
}

static void *
worker(void *arg)
{
	struct run	*r = arg;
	struct slot	*sl;
	char		*path;
	size_t		 seq;

	for (;;) {
		pthread_mutex_lock(&r->src_mu);
		/* Only this thread moves next_seq while it holds src_mu. */
		pthread_mutex_lock(&r->mu);
		while (!r->eof && r->next_seq - r->print_seq >= r->nring)
			pthread_cond_wait(&r->free_cv, &r->mu);
		pthread_mutex_unlock(&r->mu);
		path = r->eof ? NULL : src_next(&r->src);
		pthread_mutex_lock(&r->mu);
		if (path == NULL) {
			r->eof = true;
			pthread_cond_broadcast(&r->done_cv);
			pthread_cond_broadcast(&r->free_cv);
			pthread_mutex_unlock(&r->mu);
			pthread_mutex_unlock(&r->src_mu);
			return NULL;
		}
		seq = r->next_seq++;
		sl = &r->ring[seq % r->nring];
		sl->state = SLOT_BUSY;
		pthread_mutex_unlock(&r->mu);
		pthread_mutex_unlock(&r->src_mu);

		slot_run(r->b, path, sl);
		free(path);

		pthread_mutex_lock(&r->mu);
		sl->state = SLOT_DONE;
		pthread_cond_broadcast(&r->done_cv);
		pthread_mutex_unlock(&r->mu);
	}
}

static void
run_threads(struct run *r)
{
	pthread_t	*tids;
	struct slot	*sl;
	size_t		 i, n;
	int		 e;

	r->nring = r->b->jobs * RING_PER_JOB;
	r->ring = xmalloc(r->nring * sizeof(*r->ring));
	memset(r->ring, 0, r->nring * sizeof(*r->ring));
	tids = xmalloc(r->b->jobs * sizeof(*tids));
	pthread_mutex_init(&r->src_mu, NULL);
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->done_cv, NULL);
	pthread_cond_init(&r->free_cv, NULL);
	for (n = 0; n < r->b->jobs; n++)
		if ((e = pthread_create(&tids[n], NULL, worker, r)) != 0) {
			if (n == 0)
				errx(1, "cannot start a thread: %s",
				    strerror(e));
			break;
		}

	pthread_mutex_lock(&r->mu);
	for (;;) {
		sl = &r->ring[r->print_seq % r->nring];
		if (r->print_seq < r->next_seq && sl->state == SLOT_DONE) {
			pthread_mutex_unlock(&r->mu);
			slot_print(r, sl);
			pthread_mutex_lock(&r->mu);
			sl->state = SLOT_FREE;
			r->print_seq++;
			pthread_cond_broadcast(&r->free_cv);
			continue;
		}
		if (r->eof && r->print_seq == r->next_seq)
			break;
		pthread_cond_wait(&r->done_cv, &r->mu);
	}
	pthread_mutex_unlock(&r->mu);
	for (i = 0; i < n; i++)
		pthread_join(tids[i], NULL);
	pthread_cond_destroy(&r->free_cv);
	pthread_cond_destroy(&r->done_cv);
	pthread_mutex_destroy(&r->mu);
	pthread_mutex_destroy(&r->src_mu);
	free(tids);
	free(r->ring);
}

int
tu_batch_run(const struct tu_batch *b, int argc, char **argv)
{
	struct tu_batch	 bb = *b;
	struct run	 r;
	struct slot	 sl;
	char		*path;
	int		 i;
	bool		 dash = false;

	for (i = 0; i < argc; i++)
		dash = dash || strcmp(argv[i], "-") == 0;
	if (!dash && bb.jobs > (size_t)argc)
		bb.jobs = (size_t)argc;
	if (bb.jobs == 0)
		bb.jobs = 1;
	b = &bb;
	memset(&r, 0, sizeof(r));
	r.b = b;
	r.src.argc = argc;
	r.src.argv = argv;
	r.src.nul = b->nul;

	/* One image named on the command line: straight to stdout. */
	if (argc == 1 && !dash)
		return b->one(b->arg, argv[0], stdout, stderr);

	if (b->jobs > 1) {
		run_threads(&r);
	} else {
		while ((path = src_next(&r.src)) != NULL) {
			slot_run(b, path, &sl);
			free(path);
			slot_print(&r, &sl);
		}
	}
	src_release(&r.src);
	fflush(stdout);
	if (r.src.failed && b->rank(1) > b->rank(r.worst))
		r.worst = 1;
	return r.worst;
}
