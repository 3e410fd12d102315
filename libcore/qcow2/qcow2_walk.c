/* SPDX-License-Identifier: MIT */
/*
 * qcow2_walk.c --- the one walk of an L1 table and its L2 tables.
 *
 * Check, map, extract, the host map and the reverse map all visit the
 * tables through qcow2_walk(): it reads the L1 table (or the part of it a
 * guest range needs), asks the visitor about each L1 entry, then reads the
 * L2 tables in large coalesced reads into one reused buffer and hands each
 * table to the visitor whole, so the visitor's inner loop runs over bytes
 * in memory.
 *
 * Two orders.  Guest order (map, extract) visits L1 indices in order,
 * every one of them, tables named twice twice, with a NULL table for an
 * empty entry.  Host order (check, host map) sorts the tables by host
 * offset so a whole image is read sequentially, and visits a table named
 * by several L1 entries once, with the count in mult.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "qcow2/qcow2.h"
#include "core/banned.h"

#define QCOW2_BATCH_BYTES	(4ULL << 20)	/* L2 tables per read */
#define QCOW2_READAHEAD		64		/* tables asked for ahead */
#define QCOW2_READAHEAD_MIN	65536		/* cluster size that pays */
#define QCOW2_READAHEAD_SMALL	256		/* ahead, cold, small tables */
#define QCOW2_GROUP_BYTES	(1ULL << 20)	/* tables per reader's group */

static int
job_cmp(const void *a, const void *b)
{
	const struct qcow2_l2job	*x = a, *y = b;

	if (x->l2off != y->l2off)
		return x->l2off < y->l2off ? -1 : 1;
	return x->l1idx < y->l1idx ? -1 : x->l1idx > y->l1idx;
}

/* Host order: sort, fold tables named twice into mult. */
static size_t
host_order(struct qcow2_l2job *jobs, size_t n)
{
	size_t	i, m;

	/* L1 order is usually disk order already: sort only if not. */
	for (i = 1; i < n && job_cmp(&jobs[i - 1], &jobs[i]) <= 0; i++)
		;
	if (i < n)
		qsort(jobs, n, sizeof(*jobs), job_cmp);
	for (i = 0, m = 0; i < n; i++) {
		if (m > 0 && jobs[m - 1].l2off == jobs[i].l2off) {
			jobs[m - 1].mult++;
			continue;
		}
		jobs[m] = jobs[i];
		jobs[m++].mult = 1;
	}
	return m;
}

/* Tables [i, m) lie back to back from jobs[i]'s: one read. */
static size_t
run_end(const struct qcow2 *q, const struct qcow2_l2job *jobs, size_t i,
    size_t end, size_t maxrun)
{
	size_t	m = i + 1;

	while (m < end && (jobs[i].l2off & (q->cs - 1)) == 0 &&
	    !jobs[m].skip && jobs[m].l2off == jobs[m - 1].l2off + q->cs &&
	    (jobs[m].l2off - jobs[i].l2off) / q->cs < maxrun)
		m++;
	return m;
}

/* Keep the next tables, up to job end, on their way in. */
static void
ask_ahead(const struct qcow2_walker *w, const struct qcow2_l2job *jobs,
    size_t n, size_t *ahead, size_t end)
{
	for (; *ahead < n && *ahead < end; (*ahead)++)
		if (jobs[*ahead].l1e != 0 && !jobs[*ahead].skip)
			img_willneed(w->img, jobs[*ahead].l2off, w->q->cs);
}

/*
 * The walk with reader threads (core/preread.c): the jobs are cut into
 * groups of `per' jobs; a reader reads a group's tables, run by run, each
 * at its job's place in the slot ((k - first) * cs), and records where a
 * read failed; this thread visits the groups in order, every job as the
 * serial walk would, and stops after the last job before a failed read.
 */
struct par {
	const struct qcow2_walker	*w;
	const struct qcow2_l2job	*jobs;
	size_t				 n;
	size_t				 per;
	size_t				*fail;	/* per group: job, or n */
};

static int
par_fill(void *arg, size_t g, uint8_t *buf)
{
	const struct par	*p = arg;
	const struct qcow2	*q = p->w->q;
	size_t			 i = g * p->per, first = i, end, m;
	int			 rc;

	end = p->n - i < p->per ? p->n : i + p->per;
	p->fail[g] = p->n;
	for (; i < end; i = m) {
		if (img_interrupted()) {
			p->fail[g] = i;
			return -EINTR;
		}
		if (p->jobs[i].l1e == 0 || p->jobs[i].skip) {
			m = i + 1;
			continue;
		}
		m = run_end(q, p->jobs, i, end, p->per);
		if ((rc = img_pread_zf(p->w->img, p->jobs[i].l2off,
		    buf + (i - first) * q->cs, (m - i) * q->cs, NULL)) != 0) {
			p->fail[g] = i;
			return rc;
		}
	}
	return 0;
}

/* *started false: no reader could be started, nothing was visited. */
static int
visit_parallel(const struct qcow2_walker *w, struct qcow2_l2job *jobs,
    size_t n, unsigned threads, bool *started)
{
	const struct qcow2	*q = w->q;
	struct img_preread	*pr;
	struct par		 p;
	const uint8_t		*buf;
	size_t			 g, ng, k, end, lim, ahead = 0, window;
	int			 rc, vrc = 0;

	p.w = w;
	p.jobs = jobs;
	p.n = n;
	p.per = (size_t)(img_preread_group(w->img, QCOW2_GROUP_BYTES) /
	    q->cs);
	if (p.per == 0)
		p.per = 1;
	ng = (n + p.per - 1) / p.per;
	if ((p.fail = calloc(ng, sizeof(*p.fail))) == NULL)
		return -ENOMEM;
	if ((rc = img_preread_start(&pr, threads, 2 * (size_t)threads,
	    p.per * q->cs, ng, par_fill, &p)) != 0) {
		free(p.fail);
		*started = false;
		return rc;
	}
	*started = true;
	window = q->cs >= QCOW2_READAHEAD_MIN ? QCOW2_READAHEAD : 0;
	for (g = 0; g < ng && vrc == 0; g++) {
		k = g * p.per;
		end = n - k < p.per ? n : k + p.per;
		if (img_interrupted()) {
			vrc = -EINTR;
			break;
		}
		img_progress(w->img, (uint64_t)k * q->cs, (uint64_t)n * q->cs);
		if (window > 0)
			ask_ahead(w, jobs, n, &ahead, end + window);
		rc = img_preread_next(pr, g, &buf);
		lim = rc != 0 ? p.fail[g] : end;
		for (; k < lim && vrc == 0; k++)
			vrc = w->l2(w->arg, &jobs[k], jobs[k].l1e == 0 ||
			    jobs[k].skip ? NULL : buf + (k - g * p.per) *
			    q->cs);
		img_preread_done(pr, g);
		if (vrc == 0 && rc != 0)
			vrc = rc;
	}
	img_preread_stop(pr);
	free(p.fail);
	return vrc;
}

/*
 * Read the tables of jobs[0..n) in runs of adjacent clusters and visit
 * each; an empty job (guest order) is visited with a NULL table.
 */
static int
visit_jobs(const struct qcow2_walker *w, struct qcow2_l2job *jobs, size_t n)
{
	const struct qcow2	*q = w->q;
	uint8_t			*buf;
	size_t			 i, m, k, maxrun, len, ahead, window;
	bool			 cold = w->img->scattered, started = false;
	unsigned		 threads;
	int			 rc = 0;

	/*
	 * Many tables, a warm cache and a second CPU: readers share the
	 * kernel's work per read (a cold walk keeps its advice and order).
	 */
	if (!cold && img_preread_worth(w->img, (uint64_t)n * q->cs) &&
	    (threads = img_preread_threads(w->img)) > 0) {
		rc = visit_parallel(w, jobs, n, threads, &started);
		if (started)
			return rc;
		rc = 0;		/* no thread: read here */
	}
	maxrun = (size_t)(QCOW2_BATCH_BYTES / q->cs);
	if (maxrun == 0)
		maxrun = 1;
	if ((buf = malloc((size_t)(maxrun * q->cs))) == NULL)
		return -ENOMEM;
	for (i = 0, ahead = 0; i < n; i = m) {
		if (img_interrupted()) {
			rc = -EINTR;
			break;
		}
		img_progress(w->img, (uint64_t)i * q->cs, (uint64_t)n * q->cs);
		/*
		 * Keep the next tables on their way in (cold caches).  Small
		 * tables only once a read has found the cache cold: hundreds
		 * of thousands of advice calls would double a warm walk.
		 */
		window = q->cs >= QCOW2_READAHEAD_MIN ? QCOW2_READAHEAD :
		    cold ? QCOW2_READAHEAD_SMALL : 0;
		if (ahead < i)
			ahead = i;	/* never advice for what was read */
		ask_ahead(w, jobs, n, &ahead, i + window);
		m = i + 1;
		if (jobs[i].l1e == 0 || jobs[i].skip) {
			if ((rc = w->l2(w->arg, &jobs[i], NULL)) != 0)
				break;
			continue;
		}
		/* A run: the next cluster, aligned, within the batch. */
		m = run_end(q, jobs, i, n, maxrun);
		len = (size_t)(jobs[m - 1].l2off - jobs[i].l2off + q->cs);
		/*
		 * Small tables lie a few KiB apart with holes or data
		 * between: on a cold cache the kernel's readahead reads (or
		 * zero-fills) every gap, 24 s for 8 GiB of 512-byte clusters
		 * against 6 s reading just the tables.  The first read that
		 * would wait for the disk turns that off for the rest of the
		 * walk, and names each table ahead instead.
		 */
		rc = -EAGAIN;
		if (q->cs < QCOW2_READAHEAD_MIN && !cold &&
		    (rc = img_pread_cached(w->img, jobs[i].l2off, buf,
		    len)) == -EAGAIN) {
			cold = true;
			img_scattered(w->img, true);
		}
		if (rc == -EAGAIN)
			rc = img_pread_zf(w->img, jobs[i].l2off, buf, len,
			    NULL);
		if (rc != 0)
			break;
		for (k = i; k < m && rc == 0; k++)
			rc = w->l2(w->arg, &jobs[k], buf + (jobs[k].l2off -
			    jobs[i].l2off));
		if (rc != 0)
			break;
	}
	free(buf);
	return rc;
}

/*
 * Is the cache cold for the small tables of this walk?  A few tables
 * spread over the L1 table, read from the page cache only, tell before
 * the visitor's own reads of the L1 phase (the check reads a refcount
 * block per entry there); the first one is skipped, as opening the image
 * read the clusters around the header.
 */
#define QCOW2_COLD_PROBES	8

static bool
cold_tables(const struct qcow2_walker *w, const uint64_t *l1, uint32_t n)
{
	uint8_t		b[512];
	uint64_t	off, used = 0, seen = 0, want;
	uint32_t	i, k = 1;

	if (w->q->cs >= QCOW2_READAHEAD_MIN)
		return false;
	for (i = 0; i < n; i++)
		used += (l1[i] & QCOW2_L1E_OFFSET_MASK) != 0;
	for (i = 0; i < n && k <= QCOW2_COLD_PROBES; i++) {
		if ((off = l1[i] & QCOW2_L1E_OFFSET_MASK) == 0)
			continue;
		want = used * k / (QCOW2_COLD_PROBES + 1);
		if (seen++ < want)
			continue;
		k++;
		if (img_pread_cached(w->img, off, b, sizeof(b)) == -EAGAIN)
			return true;
	}
	return false;
}

int
qcow2_walk(const struct qcow2_walker *w)
{
	struct qcow2_l2job	*jobs = NULL;
	uint64_t		*l1 = NULL, e;
	uint32_t		 i, first = w->first, last = w->last;
	size_t			 n = 0;
	bool			 was = w->img->scattered;
	int			 rc;

	if (last > w->l1n)
		last = w->l1n;
	if (first >= last)
		return 0;
	if ((rc = qcow2_read_table(w->img, w->l1off + (uint64_t)first * 8,
	    last - first, &l1)) != 0)
		return rc;
	if ((jobs = calloc(last - first, sizeof(*jobs))) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if (!was && cold_tables(w, l1, last - first))
		img_scattered(w->img, true);
	for (i = first; i < last; i++) {
		e = l1[i - first];
		if (e == 0 && w->host_order)
			continue;
		jobs[n].l1e = e;
		jobs[n].l1idx = i;
		jobs[n].l2off = e & QCOW2_L1E_OFFSET_MASK;
		jobs[n].mult = 1;
		if (e != 0 && w->l1e != NULL) {
			rc = w->l1e(w->arg, &jobs[n]);
			if (rc < 0)
				goto out;
			if (rc > 0) {
				/* Not to be read. */
				if (w->host_order)
					continue;
				jobs[n].skip = true;
			}
		}
		n++;
	}
	rc = 0;
	if (w->host_order)
		n = host_order(jobs, n);
	if (n > 0)
		rc = visit_jobs(w, jobs, n);
out:
	if (!was && w->img->scattered)
		img_scattered(w->img, false);
	free(jobs);
	free(l1);
	return rc;
}
