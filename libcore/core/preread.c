/* SPDX-License-Identifier: MIT */
/*
 * preread.c --- groups of reads done by reader threads, handed back in
 * order.
 *
 * A warm walk of many tables is bound by the kernel's work per read: its
 * page-cache lookup and copy, about 1 us for a 512-byte table on an AMD
 * EPYC VM whose kernel pays for return-stack mitigations on every call,
 * and 2.4 GB/s of copying there.  No batching of system calls removes
 * that work (io_uring measured the same 261 ms for 262,144 reads), but a
 * second CPU can share it.  The walk cuts its reads into groups; reader
 * threads fill a ring of slots, each group into the slot of its number,
 * and the walk takes the groups in order, so its visitor runs on one
 * thread, in the order of a serial walk, and sees the same bytes.
 *
 * A reader takes the next group only when that group's slot is free, so
 * at most nslots groups are read ahead and memory stays nslots slots.
 */
#define _GNU_SOURCE	/* sched_getaffinity, CPU_COUNT */
#include <errno.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/banned.h"

enum { SLOT_FREE, SLOT_FILLING, SLOT_READY };

struct pr_slot {
	uint8_t		*buf;
	size_t		 g;		/* the group in it */
	int		 state;
	int		 rc;		/* fill()'s */
};

struct img_preread {
	pthread_mutex_t	 mu;
	pthread_cond_t	 ready_cv;	/* a slot became READY */
	pthread_cond_t	 free_cv;	/* a slot became FREE, or stop */
	struct pr_slot	*slot;
	size_t		 nslots;
	size_t		 ngroups;
	size_t		 next;		/* the next group to claim */
	bool		 stop;
	int		(*fill)(void *arg, size_t g, uint8_t *buf);
	void		*arg;
	pthread_t	 tid[IMG_PREREAD_MAX];
	unsigned	 nthreads;
};

unsigned
img_preread_threads(const struct img *img)
{
	cpu_set_t	set;
	unsigned	n = img->readers;

	/* Writes and planned bytes stay on the caller's thread. */
	if (img->plan != NULL || (img->flags & IMG_RDWR) != 0)
		return 0;
	if (n == 0) {
		if (sched_getaffinity(0, sizeof(set), &set) != 0)
			return 0;
		n = (unsigned)CPU_COUNT(&set);
	}
	if (n > IMG_PREREAD_MAX)
		n = IMG_PREREAD_MAX;
	/* One CPU: a reader thread would only add switches. */
	return n >= 2 ? n : 0;
}

bool
img_preread_worth(const struct img *img, uint64_t bytes)
{
	return bytes >= IMG_PREREAD_MIN || img->readers >= 2;
}

uint64_t
img_preread_group(const struct img *img, uint64_t dflt)
{
	return img->group_bytes != 0 ? img->group_bytes : dflt;
}

static void *
pr_reader(void *arg)
{
	struct img_preread	*pr = arg;
	struct pr_slot		*s;
	size_t			 g;
	int			 rc;

	pthread_mutex_lock(&pr->mu);
	for (;;) {
		if (pr->stop || pr->next >= pr->ngroups)
			break;
		g = pr->next;
		s = &pr->slot[g % pr->nslots];
		if (s->state != SLOT_FREE) {
			pthread_cond_wait(&pr->free_cv, &pr->mu);
			continue;
		}
		pr->next++;
		s->state = SLOT_FILLING;
		s->g = g;
		pthread_mutex_unlock(&pr->mu);
		rc = pr->fill(pr->arg, g, s->buf);
		pthread_mutex_lock(&pr->mu);
		s->rc = rc;
		s->state = SLOT_READY;
		pthread_cond_broadcast(&pr->ready_cv);
	}
	pthread_mutex_unlock(&pr->mu);
	return NULL;
}

void
img_preread_stop(struct img_preread *pr)
{
	unsigned	i;
	size_t		k;

	if (pr == NULL)
		return;
	pthread_mutex_lock(&pr->mu);
	pr->stop = true;
	pthread_cond_broadcast(&pr->free_cv);
	pthread_mutex_unlock(&pr->mu);
	for (i = 0; i < pr->nthreads; i++)
		pthread_join(pr->tid[i], NULL);
	for (k = 0; k < pr->nslots; k++)
		free(pr->slot[k].buf);
	free(pr->slot);
	pthread_cond_destroy(&pr->free_cv);
	pthread_cond_destroy(&pr->ready_cv);
	pthread_mutex_destroy(&pr->mu);
	free(pr);
}

int
img_preread_start(struct img_preread **out, unsigned threads, size_t nslots,
    size_t slot_bytes, size_t ngroups,
    int (*fill)(void *arg, size_t g, uint8_t *buf), void *arg)
{
	struct img_preread	*pr;
	sigset_t		 all, old;
	size_t			 k;
	unsigned		 i;

	*out = NULL;
	if (threads == 0 || threads > IMG_PREREAD_MAX || nslots == 0 ||
	    slot_bytes == 0)
		return -EINVAL;
	if ((pr = calloc(1, sizeof(*pr))) == NULL)
		return -ENOMEM;
	if ((pr->slot = calloc(nslots, sizeof(*pr->slot))) == NULL) {
		free(pr);
		return -ENOMEM;
	}
	pr->nslots = nslots;
	pr->ngroups = ngroups;
	pr->fill = fill;
	pr->arg = arg;
	pthread_mutex_init(&pr->mu, NULL);
	pthread_cond_init(&pr->ready_cv, NULL);
	pthread_cond_init(&pr->free_cv, NULL);
	for (k = 0; k < nslots; k++)
		if ((pr->slot[k].buf = malloc(slot_bytes)) == NULL) {
			img_preread_stop(pr);
			return -ENOMEM;
		}
	/* Signals stay with the caller's thread (its handlers set flags). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < threads; i++) {
		if (pthread_create(&pr->tid[i], NULL, pr_reader, pr) != 0)
			break;
		pr->nthreads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pr->nthreads == 0) {
		img_preread_stop(pr);
		return -EAGAIN;
	}
	*out = pr;
	return 0;
}

int
img_preread_next(struct img_preread *pr, size_t g, const uint8_t **buf)
{
	struct pr_slot	*s = &pr->slot[g % pr->nslots];
	int		 rc;

	pthread_mutex_lock(&pr->mu);
	while (!(s->state == SLOT_READY && s->g == g))
		pthread_cond_wait(&pr->ready_cv, &pr->mu);
	rc = s->rc;
	pthread_mutex_unlock(&pr->mu);
	*buf = s->buf;
	return rc;
}

void
img_preread_done(struct img_preread *pr, size_t g)
{
	struct pr_slot	*s = &pr->slot[g % pr->nslots];

	pthread_mutex_lock(&pr->mu);
	s->state = SLOT_FREE;
	pthread_cond_broadcast(&pr->free_cv);
	pthread_mutex_unlock(&pr->mu);
}

void
img_set_readers(struct img *img, unsigned n)
{
	img->readers = n;
}
