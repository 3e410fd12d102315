/* SPDX-License-Identifier: MIT */
/*
 * view.c --- the viewer's screen: layout, keys, help, prompts, colours,
 * and the terminal restored on every way out.
 *
 * One screen thread draws everything on stdscr: a title line, the map
 * pane (grid, legend, the cursor's range), the hex pane, the findings
 * pane and a line of keys.  The loop takes what the model's worker has
 * made (vm_poll()), redraws when anything changed and waits for a key at
 * most a tenth of a second while the worker runs (a quarter otherwise),
 * so progress shows and a signal is seen soon.  Signals only set a flag;
 * the loop ends curses, stops the worker and exits 128 + the signal.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curses.h>

#include "view_int.h"
#include "core/banned.h"

/* Below this the panes do not fit; we say so instead. */
#define VUI_MIN_W	60
#define VUI_MIN_H	16

static volatile sig_atomic_t	vui_sig;
static bool			vui_curses;

static void
vui_on_signal(int sig)
{
	vui_sig = sig;
}

bool
vui_stopping(void)
{
	return vui_sig != 0;
}

/* exit() from anywhere (an xmalloc failure) still gives the tty back. */
static void
vui_atexit(void)
{
	if (vui_curses && !isendwin())
		endwin();
}

int
vui_attr_cls(const struct vui *u, int cls, bool cell)
{
	short	c;

	if (!u->color || cls < 0 || (size_t)cls >= u->m->ncls)
		return A_NORMAL;
	c = u->m->cls[cls].color;
	if (c < 0)
		return A_NORMAL;
	return (int)COLOR_PAIR(cell ? 9 + c : 1 + c);
}

void
vui_put(int y, int x, int w, const char *s)
{
	int	i;

	if (w <= 0)
		return;
	move(y, x);
	for (i = 0; i < w && s[i] != '\0'; i++)
		addch((unsigned char)s[i] >= 0x20 &&
		    (unsigned char)s[i] < 0x7f ? (chtype)(unsigned char)s[i] :
		    '?');
}

void
vui_title(struct vui *u, int y, enum vpane p, const char *s)
{
	int	a = u->focus == p ? A_REVERSE | A_BOLD : A_BOLD;

	attron(a);
	move(y, 0);
	hline(' ', u->W);
	vui_put(y, 0, u->W, s);
	attroff(a);
}

static void
vui_layout(struct vui *u)
{
	int	rest;

	getmaxyx(stdscr, u->H, u->W);
	u->toosmall = u->W < VUI_MIN_W || u->H < VUI_MIN_H;
	if (u->toosmall)
		return;
	rest = u->H - 7;
	u->map_rows = rest / 4 > 2 ? rest / 4 : 2;
	u->find_rows = rest / 4 > 3 ? rest / 4 : 3;
	u->hex_rows = rest - u->map_rows - u->find_rows;
	u->map_y = 1;
	u->hex_y = u->map_y + u->map_rows + 3;
	u->find_y = u->hex_y + u->hex_rows + 1;
	u->keys_y = u->H - 1;
	vhex_layout(u);
}

/* The right side of the title: what the worker is doing. */
static void
vui_status(struct vui *u, char *buf, size_t len)
{
	static const char	 spin[] = "|/-\\";
	struct vmodel		*m = u->m;
	double			 t = vm_now() - m->t0;
	char			 c = spin[(int)(t * 8) & 3];

	if (m->gst == VS_RUN || m->gst == VS_WAIT)
		snprintf(buf, len, "mapping %c %.1fs", c, t);
	else if (m->cst == VS_RUN || m->cst == VS_WAIT)
		snprintf(buf, len, "checking %c %zu found %.1fs", c, m->nf, t);
	else if (m->hst == VS_RUN || m->hst == VS_WAIT)
		snprintf(buf, len, "host map %c %.1fs", c, t);
	else
		snprintf(buf, len, "ready");
}

static void
vui_draw_title(struct vui *u)
{
	struct vmodel	*m = u->m;
	char		 l[512], r[96], vs[32], fs[32];
	int		 rl;

	vm_size(vs, sizeof(vs), m->vsize);
	vm_size(fs, sizeof(fs), m->fsize);
	snprintf(l, sizeof(l), " %s  %s  guest %s  file %s", m->o->path,
	    m->fmt, vs, fs);
	vui_status(u, r, sizeof(r));
	rl = (int)strlen(r);
	attron(A_BOLD);
	vui_put(0, 0, u->W - rl - 2, l);
	vui_put(0, u->W - rl - 1, rl, r);
	attroff(A_BOLD);
}

static void
vui_draw_keys(struct vui *u)
{
	const struct vfind	*f;
	const char		*k = u->msg[0] != '\0' ? u->msg :
	    "Tab pane  Enter go  Bksp back  g goto  / search  m map  "
	    "+- zoom  ? help  q quit";
	char			 d[512];
	int			 n = 0;

	/* In the findings pane: where the one under the cursor is. */
	if (u->msg[0] == '\0' && u->focus == VP_FIND && u->fcur < u->m->nf) {
		f = &u->m->f[u->fcur];
		d[0] = '\0';
		if (f->path != NULL)
			n += snprintf(d + n, sizeof(d) - (size_t)n, "%s  ",
			    f->path);
		if ((f->flags & PC_HOST) && n < (int)sizeof(d))
			n += snprintf(d + n, sizeof(d) - (size_t)n, "host 0x%"
			    PRIx64 "+0x%" PRIx64 "  ", f->host_off,
			    f->host_len);
		if ((f->flags & PC_GUEST) && n < (int)sizeof(d))
			n += snprintf(d + n, sizeof(d) - (size_t)n, "guest 0x%"
			    PRIx64 "+0x%" PRIx64 "  ", f->guest_off,
			    f->guest_len);
		if (n < (int)sizeof(d))
			snprintf(d + n, sizeof(d) - (size_t)n, "Enter: go");
		k = d;
	}

	attron(A_DIM);
	vui_put(u->keys_y, 0, u->W - 1, k);
	attroff(A_DIM);
}

static const char *const vui_help[] = {
	"Keys (any key closes this help)",
	"",
	"Tab  Shift-Tab   next / previous pane (map, hex, findings)",
	"1  2  3          the map, hex or findings pane",
	"arrows  h j k l  move the cursor",
	"PgUp  PgDn       a page up / down;  Home  End  first / last",
	"Enter            map: show its bytes;  hex: follow the pointer;",
	"                 findings: go to the bytes at fault and the range",
	"Backspace        back to where Enter or g came from",
	"g                go to a file offset (0x1f000, 4096, 4KiB)",
	"/                search bytes: text, or hex as 0x514649fb",
	"n                next match",
	"m                map: the guest disk or the host file",
	"+  -             map: zoom in / out;  0  the whole space",
	"?                this help",
	"q                quit",
	NULL
};

static void
vui_draw_help(struct vui *u)
{
	struct vmodel	*m = u->m;
	int		 n, w = 74, h, y0, x0, y, i, x, a;
	size_t		 k;
	char		 b[64];

	for (n = 0; vui_help[n] != NULL; n++)
		;
	/* The keys, then every class this image shows, two lines. */
	h = n + 5 < u->H ? n + 5 : u->H;
	if (w > u->W)
		w = u->W;
	y0 = (u->H - h) / 2;
	x0 = (u->W - w) / 2;
	for (y = 0; y < h; y++) {
		move(y0 + y, x0);
		hline(' ', w);
	}
	attron(A_BOLD);
	move(y0, x0);
	hline('-', w);
	move(y0 + h - 1, x0);
	hline('-', w);
	attroff(A_BOLD);
	for (i = 0; i < n && i + 1 < h - 1; i++)
		vui_put(y0 + 1 + i, x0 + 2, w - 3, vui_help[i]);
	y = y0 + 1 + n;
	if (y >= y0 + h - 1)
		return;
	vui_put(y, x0 + 2, w - 3, "classes:");
	x = x0 + 11;
	for (k = 0; k < m->ncls; k++) {
		snprintf(b, sizeof(b), "%c %s  ", m->cls[k].ch, m->cls[k].name);
		if (x + (int)strlen(b) >= x0 + w - 1) {
			if (++y >= y0 + h - 1)
				break;
			x = x0 + 11;
		}
		a = vui_attr_cls(u, (int)k, true);
		attron(a);
		vui_put(y, x, 1, b);
		attroff(a);
		vui_put(y, x + 1, (int)strlen(b) - 1, b + 1);
		x += (int)strlen(b);
	}
}

static void
vui_draw(struct vui *u, bool help)
{
	erase();
	vui_layout(u);
	if (u->toosmall) {
		mvprintw(0, 0, "terminal too small (%dx%d): the viewer needs "
		    "%dx%d; q quits", u->W, u->H, VUI_MIN_W, VUI_MIN_H);
		refresh();
		return;
	}
	vui_draw_title(u);
	vmap_draw(u);
	vhex_draw(u);
	vfind_draw(u);
	vui_draw_keys(u);
	if (help)
		vui_draw_help(u);
	refresh();
}

bool
vui_prompt(struct vui *u, const char *q, char *buf, size_t len)
{
	size_t	n = 0;
	int	ch, ql = (int)strlen(q);

	buf[0] = '\0';
	curs_set(1);
	for (;;) {
		move(u->keys_y, 0);
		clrtoeol();
		attron(A_BOLD);
		vui_put(u->keys_y, 0, u->W - 1, q);
		attroff(A_BOLD);
		vui_put(u->keys_y, ql, u->W - ql - 1, buf);
		refresh();
		ch = getch();
		if (vui_stopping()) {
			curs_set(0);
			return false;
		}
		if (ch == ERR)
			continue;
		if (ch == '\n' || ch == '\r' || ch == KEY_ENTER)
			break;
		if (ch == 27 || ch == 7) {	/* Esc, ^G */
			curs_set(0);
			return false;
		}
		if ((ch == KEY_BACKSPACE || ch == 127 || ch == 8) && n > 0)
			buf[--n] = '\0';
		else if (ch == 21) {		/* ^U */
			n = 0;
			buf[0] = '\0';
		} else if (ch >= 0x20 && ch < 0x7f && n + 1 < len &&
		    ql + (int)n + 2 < u->W) {
			buf[n++] = (char)ch;
			buf[n] = '\0';
		}
	}
	curs_set(0);
	return true;
}

/* IMGKIT_VIEW_TIMES=FILE: when each part first reached the screen. */
struct vui_times {
	FILE	*fp;
	bool	 first, guest, check, host;
};

static void
vui_times_note(struct vui_times *t, struct vmodel *m)
{
	double	now = vm_now() - m->t0;

	if (t->fp == NULL)
		return;
	if (!t->first) {
		fprintf(t->fp, "first-screen %.3f\n", now);
		t->first = true;
	}
	if (!t->guest && m->gst != VS_RUN && m->gst != VS_WAIT) {
		fprintf(t->fp, "guest-map %.3f\n", now);
		t->guest = true;
	}
	if (!t->check && m->cst != VS_RUN && m->cst != VS_WAIT) {
		fprintf(t->fp, "check %.3f %zu\n", now, m->nf);
		t->check = true;
	}
	if (!t->host && m->hst != VS_RUN && m->hst != VS_WAIT) {
		fprintf(t->fp, "host-map %.3f\n", now);
		t->host = true;
	}
	fflush(t->fp);
}

static void
vui_signals(void)
{
	struct sigaction	sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = vui_on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;	/* no SA_RESTART: getch() returns */
	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)sigaction(SIGHUP, &sa, NULL);
}

static void
vui_colors(struct vui *u)
{
	const char	*nc = getenv("NO_COLOR");
	short		 c;

	u->color = false;
	if ((nc != NULL && *nc != '\0') || !has_colors())
		return;
	if (start_color() != OK)
		return;
	(void)use_default_colors();
	for (c = 0; c < 8; c++) {
		init_pair((short)(1 + c), c, -1);
		init_pair((short)(9 + c), COLOR_BLACK, c);
	}
	u->color = true;
}

/* Keys every pane understands; true when ch was one. */
static bool
vui_global(struct vui *u, int ch, bool *help, bool *quit)
{
	char		buf[160];
	uint64_t	off;

	switch (ch) {
	case 'q':
	case 'Q':
		*quit = true;
		return true;
	case '?':
		*help = true;
		return true;
	case '\t':
		u->focus = (enum vpane)((u->focus + 1) % VP_N);
		return true;
	case KEY_BTAB:
		u->focus = (enum vpane)((u->focus + VP_N - 1) % VP_N);
		return true;
	case '1':
	case '2':
	case '3':
		u->focus = (enum vpane)(ch - '1');
		return true;
	case 'g':
		if (!vui_prompt(u, "go to offset: ", buf, sizeof(buf)))
			return true;
		if (!vhex_parse_off(buf, &off) || off >= u->m->fsize) {
			snprintf(u->msg, sizeof(u->msg), "not an offset in "
			    "the file: '%.100s' (0x1f000, 4096, 4KiB)", buf);
			return true;
		}
		vhex_jump(u, off, true);
		u->focus = VP_HEX;
		return true;
	case '/':
		if (!vui_prompt(u, "search (text, or 0x hex bytes): ", buf,
		    sizeof(buf)))
			return true;
		if (!vhex_parse_pat(buf, u->pat, &u->npat)) {
			snprintf(u->msg, sizeof(u->msg), "nothing to search "
			    "for: '%.100s'", buf);
			return true;
		}
		(void)vhex_search(u);
		u->focus = VP_HEX;
		return true;
	case 'n':
		if (u->npat == 0)
			snprintf(u->msg, sizeof(u->msg), "no search yet: / "
			    "first");
		else
			(void)vhex_search(u);
		return true;
	case 'm':
		/* The other map, at the hex cursor's bytes. */
		u->hostmode = !u->hostmode;
		vmap_follow(u);
		return true;
	case KEY_BACKSPACE:
	case 127:
	case 8:
		return vhex_key(u, ch);
	case 12:	/* ^L */
		clearok(curscr, TRUE);
		return true;
	}
	return false;
}

int
view_main(const struct view_opts *o)
{
	struct vmodel		m;
	struct vui		u;
	struct vui_times	tm;
	const char		*tf;
	char			err[768];
	bool			help = false, quit = false, dirty = true;
	int			ch, rc, sig;

	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fprintf(stderr, "%s: --tui needs a terminal on stdin and "
		    "stdout\n", o->prog);
		return 1;
	}
	if ((rc = vm_open(&m, o, err, sizeof(err))) != 0) {
		img_str_clean(err);
		fprintf(stderr, "%s: %s\n", o->prog, err);
		return 1;
	}
	memset(&tm, 0, sizeof(tm));
	if ((tf = getenv("IMGKIT_VIEW_TIMES")) != NULL && *tf != '\0')
		tm.fp = fopen(tf, "w");
	vui_signals();
	atexit(vui_atexit);
	if (initscr() == NULL) {
		vm_close(&m);
		fprintf(stderr, "%s: cannot start the terminal\n", o->prog);
		return 1;
	}
	vui_curses = true;
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	curs_set(0);
	set_escdelay(25);

	memset(&u, 0, sizeof(u));
	u.m = &m;
	u.focus = o->findings ? VP_FIND : VP_MAP;
	u.hostmode = o->host;
	vui_colors(&u);
	for (;;) {
		if (vm_poll(&m))
			dirty = true;
		if (dirty) {
			vui_draw(&u, help);
			vui_times_note(&tm, &m);
			dirty = false;
		}
		timeout(m.worker_done ? 250 : 100);
		ch = getch();
		if (vui_stopping())
			break;
		if (ch == ERR) {
			dirty = !m.worker_done;
			continue;
		}
		dirty = true;
		if (ch == KEY_RESIZE)
			continue;
		u.msg[0] = '\0';
		if (help) {
			help = false;
			continue;
		}
		if (u.toosmall) {
			if (ch == 'q' || ch == 'Q')
				break;
			continue;
		}
		if (vui_global(&u, ch, &help, &quit)) {
			if (quit)
				break;
			continue;
		}
		switch (u.focus) {
		case VP_MAP:
			(void)vmap_key(&u, ch);
			break;
		case VP_HEX:
			(void)vhex_key(&u, ch);
			break;
		default:
			(void)vfind_key(&u, ch);
			break;
		}
	}
	sig = vui_sig;
	endwin();
	vui_curses = false;
	free(u.gidx);
	vm_close(&m);
	if (tm.fp != NULL)
		fclose(tm.fp);
	if (sig != 0) {
		fprintf(stderr, "%s: interrupted\n", o->prog);
		return 128 + sig;
	}
	return 0;
}
