/* SPDX-License-Identifier: MIT */
/*
 * view_map.c --- the map pane: the guest disk or the host file as a grid
 * of cells coloured by class, with a legend, the scale and the range,
 * mapping and owner of the cell under the cursor.
 *
 * A cell covers a power of two of bytes; the first zoom fits the whole
 * space in the pane.  A cell shows the class of highest priority among
 * the runs it covers (damage over metadata over data over free), so a
 * table or a bad cluster shows at any zoom.  Only the visible rows are
 * drawn: each looks its runs up by binary search.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curses.h>

#include "view_int.h"
#include "core/banned.h"

/* The smallest cell. */
#define VMAP_MIN_BPC	16

static int	vmap_grid(struct vui *u);

static int
vmap_label(const struct vui *u)
{
	uint64_t	s = vmap_space(u, u->hostmode);
	int		d = 1;

	while (d < 16 && (s >> (4 * d)) != 0)
		d++;
	return (d < 8 ? 8 : d) + 1;
}

uint64_t
vmap_space(const struct vui *u, bool host)
{
	return host ? u->m->fsize : u->m->vsize;
}

static const struct vruns *
vmap_runs(const struct vui *u, bool host)
{
	return host ? &u->m->host : &u->m->guest;
}

/* Cells per row. */
static uint64_t
vmap_cpr(const struct vui *u)
{
	int	w = u->W - vmap_label(u) - 1;

	return w > 8 ? (uint64_t)w : 8;
}

/* The bytes per cell that fit the whole space in the pane. */
static void
vmap_fit_bpc(struct vui *u, bool host, uint64_t *out)
{
	uint64_t	s = vmap_space(u, host), cells, b = VMAP_MIN_BPC;

	cells = vmap_cpr(u) * (uint64_t)vmap_grid(u);
	while (b < (UINT64_C(1) << 62) && (s + b - 1) / b > cells)
		b *= 2;
	*out = b;
}

void
vmap_fit(struct vui *u, bool host)
{
	vmap_fit_bpc(u, host, &u->bpc[host]);
	u->mtop[host] = 0;
	u->zoomed[host] = false;
}

/* Scroll so the cursor's row shows. */
static void
vmap_scroll(struct vui *u, bool host)
{
	uint64_t	row = u->mcur[host] / u->bpc[host] / vmap_cpr(u);
	uint64_t	rows = (uint64_t)vmap_grid(u);

	if (row < u->mtop[host])
		u->mtop[host] = row;
	else if (row >= u->mtop[host] + rows)
		u->mtop[host] = row - rows + 1;
}

void
vmap_goto(struct vui *u, bool host, uint64_t off)
{
	uint64_t	s = vmap_space(u, host);

	if (u->bpc[host] == 0)
		vmap_fit(u, host);
	if (s == 0)
		off = 0;
	else if (off >= s)
		off = s - 1;
	u->mcur[host] = off;
	vmap_scroll(u, host);
}

/* Guest runs by host offset, for the guest map to follow the hex pane. */
static const struct vrun	*vmap_sort_runs;

static int
vmap_host_cmp(const void *a, const void *b)
{
	const struct vrun	*x = &vmap_sort_runs[*(const size_t *)a];
	const struct vrun	*y = &vmap_sort_runs[*(const size_t *)b];

	if (x->host != y->host)
		return x->host < y->host ? -1 : 1;
	return x->off < y->off ? -1 : x->off > y->off;
}

static void
vmap_host_index(struct vui *u)
{
	const struct vruns	*g = &u->m->guest;
	size_t			 i, n = 0;

	if (u->gidx_done || u->m->gst != VS_DONE)
		return;
	u->gidx_done = true;
	if (g->n == 0 || (u->gidx = calloc(g->n, sizeof(*u->gidx))) == NULL)
		return;
	for (i = 0; i < g->n; i++)
		if (g->r[i].has_host)
			u->gidx[n++] = i;
	vmap_sort_runs = g->r;
	qsort(u->gidx, n, sizeof(*u->gidx), vmap_host_cmp);
	u->ngidx = n;
}

/* The guest offset whose bytes are at host offset off; false if none. */
static bool
vmap_guest_of(struct vui *u, uint64_t off, uint64_t *g)
{
	const struct vrun	*r;
	size_t			 lo = 0, hi, mid;

	vmap_host_index(u);
	hi = u->ngidx;
	/* The last run starting at or before off. */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (u->m->guest.r[u->gidx[mid]].host <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return false;
	r = &u->m->guest.r[u->gidx[lo - 1]];
	if (off - r->host >= r->len)
		return false;
	*g = r->off + (off - r->host);
	return true;
}

void
vmap_follow(struct vui *u)
{
	uint64_t	g;

	if (u->hostmode)
		vmap_goto(u, true, u->hcur);
	else if (vmap_guest_of(u, u->hcur, &g))
		vmap_goto(u, false, g);
}

/*
 * The legend: every class in this map, as its cells show it, on one line
 * or, when that is too short, two (the grid gives up a row).  Returns the
 * lines it needs (draw false) or took.
 */
static int
vmap_legend(struct vui *u, int y, int lines, bool draw)
{
	struct vmodel	*m = u->m;
	uint64_t	 p = u->hostmode ? m->hpresent : m->gpresent;
	char		 b[64];
	int		 x = 8, a, left = 0, line = 0;
	size_t		 k;

	if (draw)
		vui_put(y, 0, 8, "legend:");
	for (k = 0; k < m->ncls; k++) {
		if (!(p & (UINT64_C(1) << k)))
			continue;
		snprintf(b, sizeof(b), "%c %s  ", m->cls[k].ch, m->cls[k].name);
		if (x + (int)strlen(b) >= u->W - 6) {
			if (line + 1 >= lines) {
				left++;
				continue;
			}
			line++;
			x = 8;
		}
		if (draw) {
			a = vui_attr_cls(u, (int)k, true);
			attron(a);
			vui_put(y + line, x, 1, b);
			attroff(a);
			vui_put(y + line, x + 1, (int)strlen(b) - 1, b + 1);
		}
		x += (int)strlen(b);
	}
	if (left > 0 && draw) {
		snprintf(b, sizeof(b), "+%d ?", left);
		vui_put(y + line, x, u->W - x - 1, b);
	}
	return left > 0 ? line + 2 : line + 1;
}

/* Rows of the grid: the pane's, less one when the legend needs two. */
static int
vmap_grid(struct vui *u)
{
	if (u->map_rows >= 3 && vmap_legend(u, 0, 1, false) > 1)
		return u->map_rows - 1;
	return u->map_rows;
}

/* What the cursor's cell is: its range, the run there and where. */
static void
vmap_info(struct vui *u, int y)
{
	struct vmodel		*m = u->m;
	bool			 h = u->hostmode;
	const struct vruns	*rs = vmap_runs(u, h);
	const struct vrun	*r;
	const struct pr_info	*pi;
	uint64_t		 a, b, s = vmap_space(u, h);
	size_t			 i, n = 0;
	char			 l[512], sz[32];

	if (s == 0) {
		vui_put(y, 0, u->W - 1, "(nothing to map)");
		return;
	}
	a = u->mcur[h] / u->bpc[h] * u->bpc[h];
	b = a + u->bpc[h] < s ? a + u->bpc[h] : s;
	vm_size(sz, sizeof(sz), b - a);
	for (i = vm_find(rs, a); i < rs->n && rs->r[i].off < b; i++)
		n++;
	r = vm_at(rs, a);
	if (r == NULL) {
		snprintf(l, sizeof(l), "0x%" PRIx64 "-0x%" PRIx64 " (%s): "
		    "nothing mapped", a, b - 1, sz);
		vui_put(y, 0, u->W - 1, l);
		return;
	}
	snprintf(l, sizeof(l), "0x%" PRIx64 "-0x%" PRIx64 " (%s): %s", a,
	    b - 1, sz, m->cls[r->cls].name);
	if (!h && r->has_host)
		snprintf(l + strlen(l), sizeof(l) - strlen(l),
		    " -> host 0x%" PRIx64, r->host + (a - r->off));
	if (r->owner != NULL)
		snprintf(l + strlen(l), sizeof(l) - strlen(l), ", %s",
		    r->owner);
	if (r->code != 0 && (pi = pr_info_by_code(r->code)) != NULL)
		snprintf(l + strlen(l), sizeof(l) - strlen(l), " [%s%s]",
		    pi->name, r->ncodes > 1 ? " ..." : "");
	if (n > 1)
		snprintf(l + strlen(l), sizeof(l) - strlen(l), " (+%zu runs)",
		    n - 1);
	vui_put(y, 0, u->W - 1, l);
}

void
vmap_draw(struct vui *u)
{
	struct vmodel		*m = u->m;
	bool			 h = u->hostmode;
	const struct vruns	*rs = vmap_runs(u, h);
	enum vstate		 st = h ? m->hst : m->gst;
	uint64_t		 s = vmap_space(u, h), cpr, row, c, a, b, cur;
	int			 y, x, lw = vmap_label(u), cls, at, grid;
	char			 t[512], sz[32], bs[32];

	/*
	 * Until the user zooms, the map fits itself: to the space once the
	 * map knows it, to the pane after a resize or a longer legend.
	 */
	if (u->bpc[h] == 0 || !u->zoomed[h])
		vmap_fit(u, h);
	vmap_scroll(u, h);
	cpr = vmap_cpr(u);
	vm_size(sz, sizeof(sz), s);
	vm_size(bs, sizeof(bs), u->bpc[h]);
	snprintf(t, sizeof(t), "Map: %s (%s), %s per cell%s", h ?
	    "host file" : "guest disk", sz, bs, st == VS_RUN || st == VS_WAIT ?
	    "  ... mapping" : "");
	vui_title(u, u->map_y, VP_MAP, t);
	if (st == VS_FAIL || st == VS_NONE) {
		snprintf(t, sizeof(t), "%s map: %s", h ? "host" : "guest",
		    st == VS_NONE ? "the format has none" : h ? m->herr :
		    m->gerr);
		vui_put(u->map_y + 1, 1, u->W - 2, t);
	}
	if (st != VS_DONE && rs->n == 0)
		return;
	cur = u->mcur[h] / u->bpc[h];
	u->mhint = 0;
	grid = vmap_grid(u);
	for (y = 0; y < grid; y++) {
		row = u->mtop[h] + (uint64_t)y;
		if (row * cpr * u->bpc[h] >= s)
			break;
		snprintf(t, sizeof(t), "%0*" PRIx64, lw - 1,
		    row * cpr * u->bpc[h]);
		vui_put(u->map_y + 1 + y, 0, lw - 1, t);
		for (x = 0; x < (int)cpr; x++) {
			c = row * cpr + (uint64_t)x;
			a = c * u->bpc[h];
			if (a >= s)
				break;
			b = a + u->bpc[h] < s ? a + u->bpc[h] : s;
			cls = vm_cell(m, rs, a, b, &u->mhint);
			at = cls >= 0 ? vui_attr_cls(u, cls, true) : 0;
			if (c == cur)
				at = A_REVERSE | A_BOLD;
			attron(at);
			mvaddch(u->map_y + 1 + y, lw + x, cls >= 0 ?
			    (chtype)(unsigned char)m->cls[cls].ch : ' ');
			attroff(at);
		}
	}
	(void)vmap_legend(u, u->map_y + 1 + grid, u->map_rows + 1 - grid,
	    true);
	vmap_info(u, u->map_y + 2 + u->map_rows);
}

/* Move the cursor by d cells (negative: back). */
static void
vmap_move(struct vui *u, int64_t d)
{
	bool		h = u->hostmode;
	uint64_t	c = u->mcur[h] / u->bpc[h];
	uint64_t	s = vmap_space(u, h), last;

	if (s == 0)
		return;
	last = (s - 1) / u->bpc[h];
	if (d < 0)
		c = (uint64_t)-d > c ? 0 : c - (uint64_t)-d;
	else
		c = (uint64_t)d > last - c ? last : c + (uint64_t)d;
	u->mcur[h] = c * u->bpc[h];
	vmap_scroll(u, h);
}

static void
vmap_zoom(struct vui *u, bool in)
{
	bool		h = u->hostmode;
	uint64_t	b = u->bpc[h], fit;

	if (in && b > VMAP_MIN_BPC)
		u->bpc[h] = b / 2;
	else if (!in) {
		vmap_fit(u, h);
		fit = u->bpc[h];
		u->bpc[h] = b * 2 < fit ? b * 2 : fit;
	}
	/* Zoomed out all the way, the map fits itself again. */
	vmap_fit_bpc(u, h, &fit);
	u->zoomed[h] = u->bpc[h] < fit;
	vmap_scroll(u, h);
}

/* Enter: the hex pane to the cell's bytes in the image file. */
static void
vmap_enter(struct vui *u)
{
	bool			 h = u->hostmode;
	const struct vrun	*r;
	uint64_t		 a = u->mcur[h] / u->bpc[h] * u->bpc[h];

	if (h) {
		vhex_jump(u, a, true);
		u->focus = VP_HEX;
		return;
	}
	r = vm_at(&u->m->guest, a);
	if (r == NULL || !r->has_host) {
		snprintf(u->msg, sizeof(u->msg), "guest 0x%" PRIx64 " is not "
		    "in the image file (%s)", a, r != NULL ?
		    u->m->cls[r->cls].name : "unmapped");
		return;
	}
	if (r->host + (a - r->off) >= u->m->fsize) {
		snprintf(u->msg, sizeof(u->msg), "guest 0x%" PRIx64 " maps to "
		    "0x%" PRIx64 ", past the end of the file", a,
		    r->host + (a - r->off));
		return;
	}
	vhex_jump(u, r->host + (a - r->off), true);
	u->focus = VP_HEX;
}

bool
vmap_key(struct vui *u, int ch)
{
	bool		h = u->hostmode;
	int64_t		page = (int64_t)vmap_cpr(u) * vmap_grid(u);

	if (u->bpc[h] == 0)
		vmap_fit(u, h);
	switch (ch) {
	case KEY_LEFT:
	case 'h':
		vmap_move(u, -1);
		break;
	case KEY_RIGHT:
	case 'l':
		vmap_move(u, 1);
		break;
	case KEY_UP:
	case 'k':
		vmap_move(u, -(int64_t)vmap_cpr(u));
		break;
	case KEY_DOWN:
	case 'j':
		vmap_move(u, (int64_t)vmap_cpr(u));
		break;
	case KEY_PPAGE:
		vmap_move(u, -page);
		break;
	case KEY_NPAGE:
		vmap_move(u, page);
		break;
	case KEY_HOME:
		vmap_move(u, INT64_MIN / 2);
		break;
	case KEY_END:
		vmap_move(u, INT64_MAX / 2);
		break;
	case '+':
	case '=':
		vmap_zoom(u, true);
		break;
	case '-':
		vmap_zoom(u, false);
		break;
	case '0':
		vmap_fit(u, h);
		vmap_scroll(u, h);
		break;
	case '\n':
	case '\r':
	case KEY_ENTER:
		vmap_enter(u);
		break;
	default:
		return false;
	}
	return true;
}
