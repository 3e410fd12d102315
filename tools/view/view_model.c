/* SPDX-License-Identifier: MIT */
/*
 * view_model.c --- the viewer's model: built once from libcore by a
 * worker thread, handed to the screen thread piece by piece.
 *
 * The worker opens its own handle on the image (struct img is not shared
 * between threads) and runs, in order, the guest map, the check and the
 * host map.  Each finding is handed over as the check reports it (the
 * report's on_finding hook); each map as a whole when it is done.  The
 * screen thread calls vm_poll() every turn of its loop and takes what is
 * ready, so it shows progress while a long check runs and never blocks
 * on the worker except when the viewer ends.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "view_int.h"
#include "core/banned.h"

double
vm_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
vm_size(char *buf, size_t len, uint64_t v)
{
	static const char *const	 u[] = { "B", "KiB", "MiB", "GiB",
	    "TiB", "PiB", "EiB" };
	double				 d = (double)v;
	size_t				 i = 0;

	while (d >= 1024 && i + 1 < sizeof(u) / sizeof(u[0])) {
		d /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(buf, len, "%" PRIu64 " B", v);
	else if (d == (double)(uint64_t)d)
		snprintf(buf, len, "%.0f %s", d, u[i]);
	else
		snprintf(buf, len, "%.1f %s", d, u[i]);
}

/* ---- interned strings (the worker's) ---------------------------------- */

static uint64_t
vs_hash(const char *s)
{
	uint64_t	h = 1469598103934665603ULL;	/* FNV-1a */

	while (*s != '\0') {
		h ^= (uint8_t)*s++;
		h *= 1099511628211ULL;
	}
	return h;
}

static const char *
vs_intern(struct vstrs *t, const char *s)
{
	char	**n;
	size_t	  cap, i, j, l;

	if (s == NULL)
		return NULL;
	if ((t->n + 1) * 2 > t->cap) {
		cap = t->cap == 0 ? 256 : t->cap * 2;
		if ((n = calloc(cap, sizeof(*n))) == NULL)
			return NULL;
		for (i = 0; i < t->cap; i++) {
			if (t->s[i] == NULL)
				continue;
			j = (size_t)vs_hash(t->s[i]) & (cap - 1);
			while (n[j] != NULL)
				j = (j + 1) & (cap - 1);
			n[j] = t->s[i];
		}
		free(t->s);
		t->s = n;
		t->cap = cap;
	}
	j = (size_t)vs_hash(s) & (t->cap - 1);
	while (t->s[j] != NULL) {
		if (strcmp(t->s[j], s) == 0)
			return t->s[j];
		j = (j + 1) & (t->cap - 1);
	}
	l = strlen(s) + 1;
	if ((t->s[j] = malloc(l)) == NULL)
		return NULL;
	memcpy(t->s[j], s, l);
	img_str_clean(t->s[j]);
	t->n++;
	return t->s[j];
}

static void
vs_free(struct vstrs *t)
{
	size_t	i;

	for (i = 0; i < t->cap; i++)
		free(t->s[i]);
	free(t->s);
	memset(t, 0, sizeof(*t));
}

/* ---- runs --------------------------------------------------------------- */

static struct vrun *
vr_push(struct vruns *rs)
{
	struct vrun	*n;
	size_t		 cap;

	if (rs->n == rs->cap) {
		cap = rs->cap == 0 ? 1024 : rs->cap * 2;
		if ((n = reallocarray(rs->r, cap, sizeof(*n))) == NULL)
			return NULL;
		rs->r = n;
		rs->cap = cap;
	}
	n = &rs->r[rs->n++];
	memset(n, 0, sizeof(*n));
	return n;
}

static void
vr_free(struct vruns *rs)
{
	free(rs->r);
	memset(rs, 0, sizeof(*rs));
}

size_t
vm_find(const struct vruns *rs, uint64_t off)
{
	size_t	lo = 0, hi = rs->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (rs->r[mid].off + rs->r[mid].len <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct vrun *
vm_at(const struct vruns *rs, uint64_t off)
{
	size_t	i = vm_find(rs, off);

	if (i < rs->n && rs->r[i].off <= off)
		return &rs->r[i];
	return NULL;
}

int
vm_cell(const struct vmodel *m, const struct vruns *rs, uint64_t a,
    uint64_t b, size_t *hint)
{
	size_t	i = *hint;
	int	best = -1, c;

	/* Cells are drawn in order: try where the last one ended first. */
	if (i >= rs->n || rs->r[i].off > a ||
	    (i > 0 && rs->r[i - 1].off + rs->r[i - 1].len > a))
		i = vm_find(rs, a);
	for (; i < rs->n && rs->r[i].off < b; i++) {
		c = rs->r[i].damaged ? VC_DAMAGED : rs->r[i].cls;
		if (best < 0 || m->cls[c].prio > m->cls[best].prio)
			best = c;
		if (rs->r[i].off + rs->r[i].len > b)
			break;
	}
	*hint = i;
	return best;
}

/* ---- classes ---------------------------------------------------------- */

/*
 * How each class looks.  Damage first; metadata over data, so that a
 * table shows even when a cell covers gigabytes of data around it.
 */
static const struct {
	const char	*name;
	char		 ch;
	short		 color;
	int		 prio;
} vm_known[] = {
	{ "damaged",		'!', 1, 100 },	/* red */
	{ "shared",		'S', 1, 95 },
	{ "past-end",		'>', 1, 94 },
	{ "leaked",		'L', 3, 90 },	/* yellow */
	{ "garbage",		'?', 3, 85 },
	{ "header",		'H', 3, 80 },
	{ "header-ext",		'h', 3, 79 },
	{ "meta",		'M', 3, 78 },
	{ "l1",			'1', 4, 77 },	/* blue */
	{ "snapshot-l1",	's', 4, 76 },
	{ "l2",			'2', 6, 75 },	/* cyan */
	{ "refcount-table",	'R', 5, 74 },	/* magenta */
	{ "refcount-block",	'r', 5, 73 },
	{ "snapshot-table",	'T', 4, 72 },
	{ "bitmap-directory",	'B', 5, 71 },
	{ "bitmap-table",	'b', 5, 70 },
	{ "bitmap-data",	'm', 5, 69 },
	{ "crypto-header",	'K', 3, 68 },
	{ "metadata",		'x', 4, 67 },
	{ "registry",		'G', 4, 66 },
	{ "tree",		't', 6, 65 },
	{ "frame-header",	'F', 6, 64 },
	{ "stop",		'E', 4, 63 },
	{ "trailer",		'T', 5, 62 },
	{ "encrypted",		'e', 5, 55 },
	{ "compressed",		'c', 5, 50 },
	{ "data",		'#', 2, 40 },	/* green */
	{ "frame-data",		'#', 2, 40 },
	{ "block",		'#', 2, 40 },
	{ "backing",		'b', 4, 35 },
	{ "raw",		'#', 2, 30 },
	{ "zero",		'0', 6, 20 },
	{ "free",		'.', -1, 10 },
	{ "unallocated",	'.', -1, 5 },
};

uint8_t
vm_class(struct vmodel *m, const char *name)
{
	size_t	i, k;

	for (i = 0; i < m->ncls; i++)
		if (strcmp(m->cls[i].name, name) == 0)
			return (uint8_t)i;
	if (m->ncls == VC_MAX)
		return 0;
	m->cls[i].name = name;
	m->cls[i].ch = (char)(name[0] >= 'a' && name[0] <= 'z' ?
	    name[0] - 32 : '*');
	m->cls[i].color = 7;
	m->cls[i].prio = 60;
	for (k = 0; k < sizeof(vm_known) / sizeof(vm_known[0]); k++)
		if (strcmp(vm_known[k].name, name) == 0) {
			m->cls[i].name = vm_known[k].name;
			m->cls[i].ch = vm_known[k].ch;
			m->cls[i].color = vm_known[k].color;
			m->cls[i].prio = vm_known[k].prio;
		}
	m->ncls++;
	return (uint8_t)i;
}

/* ---- the worker ------------------------------------------------------- */

struct vw_map {
	struct vmodel	*m;
	struct vruns	 rs;
	bool		 nomem;
};

static void
vw_progress(struct vmodel *m, size_t runs)
{
	pthread_mutex_lock(&m->mu);
	m->sruns = runs;
	pthread_mutex_unlock(&m->mu);
}

static int
vw_guest(void *arg, const struct map_ext *e)
{
	struct vw_map	*w = arg;
	struct vrun	*r;
	const char	*cls;

	if (e->length == 0)
		return 0;
	if (e->damage != 0)
		cls = "damaged";
	else if (e->compressed)
		cls = "compressed";
	else if (e->zero && e->present)
		cls = "zero";	/* reads as zeros, allocated or not */
	else if (e->data)
		cls = e->depth > 0 ? "backing" : "data";
	else
		cls = "unallocated";
	if ((r = vr_push(&w->rs)) == NULL) {
		w->nomem = true;
		return -ENOMEM;
	}
	r->off = e->start;
	r->len = e->length;
	r->host = e->offset;
	r->has_host = e->has_offset;
	r->code = e->damage;
	r->ncodes = e->damage != 0;
	r->damaged = e->damage != 0;
	r->clsname = vs_intern(&w->m->strs, cls);
	r->owner = vs_intern(&w->m->strs, e->owner);
	if ((w->rs.n & 0xfff) == 0)
		vw_progress(w->m, w->rs.n);
	return 0;
}

static int
vw_host(void *arg, const struct hmap_run *h)
{
	struct vw_map	*w = arg;
	struct vrun	*r;
	char		 own[256];
	size_t		 n = h->nowners;

	if (h->length == 0)
		return 0;
	if ((r = vr_push(&w->rs)) == NULL) {
		w->nomem = true;
		return -ENOMEM;
	}
	r->off = h->offset;
	r->len = h->length;
	r->clsname = vs_intern(&w->m->strs, h->cls);
	own[0] = '\0';
	if (n > 0)
		snprintf(own, sizeof(own), "%s", h->owners[0]);
	if (n > 1)
		snprintf(own + strlen(own), sizeof(own) - strlen(own),
		    ", %s", h->owners[1]);
	if (n > 2)
		snprintf(own + strlen(own), sizeof(own) - strlen(own),
		    " (+%zu)", n - 2);
	r->owner = n > 0 ? vs_intern(&w->m->strs, own) : NULL;
	r->code = h->ncodes > 0 ? h->codes[0] : 0;
	r->ncodes = (uint16_t)(h->ncodes > 0xffff ? 0xffff : h->ncodes);
	/* A leak carries its code, and is no damage to the bytes. */
	r->damaged = h->ncodes > 0 && strcmp(h->cls, "leaked") != 0 &&
	    strcmp(h->cls, "free") != 0;
	if ((w->rs.n & 0xfff) == 0)
		vw_progress(w->m, w->rs.n);
	return 0;
}

static void
vw_found(void *arg, const struct finding *f)
{
	struct vmodel	*m = arg;
	struct vfind	*n, *x;
	size_t		 cap;

	pthread_mutex_lock(&m->mu);
	if (m->npf == m->cappf) {
		cap = m->cappf == 0 ? 64 : m->cappf * 2;
		if ((n = reallocarray(m->pf, cap, sizeof(*n))) == NULL)
			goto out;
		m->pf = n;
		m->cappf = cap;
	}
	x = &m->pf[m->npf];
	memset(x, 0, sizeof(*x));
	x->id = f->id;
	x->flags = f->flags & (PC_HOST | PC_GUEST);
	x->host_off = f->host_off;
	x->host_len = f->host_len;
	x->guest_off = f->guest_off;
	x->guest_len = f->guest_len;
	x->msg = strdup(f->msg != NULL ? f->msg : "");
	x->path = f->path != NULL ? strdup(f->path) : NULL;
	if (x->msg == NULL) {
		free(x->path);
		goto out;
	}
	img_str_clean(x->msg);
	if (x->path != NULL)
		img_str_clean(x->path);
	m->npf++;
	m->sfound++;
out:
	pthread_mutex_unlock(&m->mu);
}

static void
vw_err(struct vmodel *m, char *buf, size_t len, int rc)
{
	const char	*e = img_error(m->wimg);

	snprintf(buf, len, "%s", e != NULL ? e : img_strerror(rc));
	img_str_clean(buf);
}

static void *
vw_main(void *arg)
{
	struct vmodel		*m = arg;
	struct img_map_opts	 mo;
	struct vw_map		 w;
	struct report		 rp;
	char			 err[256];
	int			 rc;

	/* The guest map. */
	pthread_mutex_lock(&m->mu);
	m->sg = VS_RUN;
	pthread_mutex_unlock(&m->mu);
	memset(&w, 0, sizeof(w));
	w.m = m;
	img_map_opts_init(&mo);
	mo.force = true;
	rc = img_map_ex(m->wimg, &mo, vw_guest, &w);
	err[0] = '\0';
	if (rc != 0)
		vw_err(m, err, sizeof(err), rc);
	pthread_mutex_lock(&m->mu);
	m->pguest = w.rs;
	m->svsize = img_virtual_size(m->wimg);
	m->sg = rc == 0 ? VS_DONE : rc == -IMG_ENOOP ? VS_NONE : VS_FAIL;
	snprintf(m->sgerr, sizeof(m->sgerr), "%s", err);
	m->sruns = 0;
	pthread_mutex_unlock(&m->mu);

	/* The check, its findings as they come. */
	pthread_mutex_lock(&m->mu);
	m->sc = VS_RUN;
	pthread_mutex_unlock(&m->mu);
	report_init(&rp);
	rp.max_per_code = m->o->maxf;
	rp.force = m->o->force;
	rp.on_finding = vw_found;
	rp.on_arg = m;
	rc = img_check(m->wimg, &rp);
	err[0] = '\0';
	if (rc != 0 && rc != -IMG_ENOCHECK)
		vw_err(m, err, sizeof(err), rc);
	pthread_mutex_lock(&m->mu);
	m->scounts = rp.c;
	m->somitted = rp.omitted;
	m->sc = rc == 0 ? VS_DONE : rc == -IMG_ENOCHECK ? VS_NONE : VS_FAIL;
	snprintf(m->scerr, sizeof(m->scerr), "%s", err);
	pthread_mutex_unlock(&m->mu);
	report_release(&rp);

	/* The host map. */
	pthread_mutex_lock(&m->mu);
	m->sh = VS_RUN;
	pthread_mutex_unlock(&m->mu);
	memset(&w, 0, sizeof(w));
	w.m = m;
	rc = img_hostmap(m->wimg, vw_host, &w);
	err[0] = '\0';
	if (rc != 0)
		vw_err(m, err, sizeof(err), rc);
	if (rc == -IMG_ENOOP) {
		/* No host map (raw): the file is all one thing. */
		struct vrun	*r;

		w.rs.n = 0;
		if (m->fsize > 0 && (r = vr_push(&w.rs)) != NULL) {
			r->off = 0;
			r->len = m->fsize;
			r->clsname = vs_intern(&m->strs, "raw");
			r->owner = vs_intern(&m->strs, "the whole file");
		}
		rc = 0;
	}
	pthread_mutex_lock(&m->mu);
	m->phost = w.rs;
	m->sh = rc == 0 ? VS_DONE : rc == -IMG_ENOOP ? VS_NONE : VS_FAIL;
	snprintf(m->sherr, sizeof(m->sherr), "%s", err);
	m->sdone = true;
	pthread_mutex_unlock(&m->mu);
	return NULL;
}

int
vm_open(struct vmodel *m, const struct view_opts *o, char *err,
    size_t errlen)
{
	sigset_t	all, old;
	char		eb[512];
	int		rc;

	memset(m, 0, sizeof(*m));
	m->o = o;
	m->t0 = vm_now();
	if ((rc = img_open(o->path, &o->img, &m->img, eb, sizeof(eb))) != 0) {
		snprintf(err, errlen, "cannot open '%s': %s", o->path, eb);
		return rc;
	}
	if ((rc = img_open(o->path, &o->img, &m->wimg, eb, sizeof(eb))) != 0) {
		snprintf(err, errlen, "cannot open '%s': %s", o->path, eb);
		img_close(m->img);
		m->img = NULL;
		return rc;
	}
	/* The problem table is built at first use: before the thread. */
	(void)pr_info_get((enum pr_id)0);
	m->fmt = img_format(m->img);
	m->fsize = img_file_size(m->img);
	m->vsize = img_virtual_size(m->img);
	m->gst = m->cst = m->hst = VS_WAIT;
	/* Index VC_DAMAGED. */
	(void)vm_class(m, "damaged");
	pthread_mutex_init(&m->mu, NULL);
	/* Signals are the screen thread's: the worker never sees them. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&m->th, NULL, vw_main, m);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start a thread: %s",
		    strerror(rc));
		vm_close(m);
		return -rc;
	}
	m->th_started = true;
	return 0;
}

/* Give the screen thread's runs their classes (its table only). */
static void
vm_classify(struct vmodel *m, struct vruns *rs, uint64_t *present)
{
	size_t	i;

	*present = 0;
	for (i = 0; i < rs->n; i++) {
		rs->r[i].cls = vm_class(m, rs->r[i].clsname != NULL ?
		    rs->r[i].clsname : "unknown");
		*present |= 1ULL << rs->r[i].cls;
		if (rs->r[i].damaged)
			*present |= 1ULL << VC_DAMAGED;
	}
}

bool
vm_poll(struct vmodel *m)
{
	struct vfind	*n;
	size_t		 k, cap;
	bool		 changed = false;
	double		 t = vm_now();

	pthread_mutex_lock(&m->mu);
	if (m->npf > 0) {
		if (m->nf + m->npf > m->capf) {
			cap = m->capf == 0 ? 64 : m->capf;
			while (cap < m->nf + m->npf)
				cap *= 2;
			n = reallocarray(m->f, cap, sizeof(*n));
			if (n != NULL) {
				m->f = n;
				m->capf = cap;
			}
		}
		if (m->nf + m->npf <= m->capf) {
			for (k = 0; k < m->npf; k++)
				m->f[m->nf++] = m->pf[k];
			m->npf = 0;
			changed = true;
		}
	}
	if (m->gst != m->sg) {
		m->gst = m->sg;
		if (m->gst != VS_RUN && m->gst != VS_WAIT) {
			m->guest = m->pguest;
			memset(&m->pguest, 0, sizeof(m->pguest));
			vm_classify(m, &m->guest, &m->gpresent);
			snprintf(m->gerr, sizeof(m->gerr), "%s", m->sgerr);
			m->tg = t - m->t0;
			m->vsize = m->svsize;
			/* Formats without a size op: as far as the map goes. */
			if (m->guest.n > 0 && m->vsize < m->guest.r[m->guest.n -
			    1].off + m->guest.r[m->guest.n - 1].len)
				m->vsize = m->guest.r[m->guest.n - 1].off +
				    m->guest.r[m->guest.n - 1].len;
		}
		changed = true;
	}
	if (m->cst != m->sc) {
		m->cst = m->sc;
		if (m->cst != VS_RUN && m->cst != VS_WAIT) {
			m->counts = m->scounts;
			m->omitted = m->somitted;
			snprintf(m->cerr, sizeof(m->cerr), "%s", m->scerr);
			m->tc = t - m->t0;
		}
		changed = true;
	}
	if (m->hst != m->sh) {
		m->hst = m->sh;
		if (m->hst != VS_RUN && m->hst != VS_WAIT) {
			m->host = m->phost;
			memset(&m->phost, 0, sizeof(m->phost));
			vm_classify(m, &m->host, &m->hpresent);
			snprintf(m->herr, sizeof(m->herr), "%s", m->sherr);
			m->thm = t - m->t0;
		}
		changed = true;
	}
	if (m->sdone && !m->worker_done) {
		m->worker_done = true;
		changed = true;
	}
	pthread_mutex_unlock(&m->mu);
	if (m->worker_done && m->th_started) {
		pthread_join(m->th, NULL);
		m->th_started = false;
	}
	return changed;
}

void
vm_close(struct vmodel *m)
{
	size_t	i;

	if (m->th_started) {
		/* Walkers test the flag between structures. */
		img_interrupt();
		pthread_join(m->th, NULL);
		m->th_started = false;
	}
	for (i = 0; i < m->nf; i++) {
		free(m->f[i].msg);
		free(m->f[i].path);
	}
	for (i = 0; i < m->npf; i++) {
		free(m->pf[i].msg);
		free(m->pf[i].path);
	}
	free(m->f);
	free(m->pf);
	vr_free(&m->guest);
	vr_free(&m->host);
	vr_free(&m->pguest);
	vr_free(&m->phost);
	vs_free(&m->strs);
	if (m->img != NULL)
		img_close(m->img);
	if (m->wimg != NULL)
		img_close(m->wimg);
	pthread_mutex_destroy(&m->mu);
	memset(m, 0, sizeof(*m));
}
