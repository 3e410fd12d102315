/* SPDX-License-Identifier: MIT */
/*
 * view_hex.c --- the hex pane: OFFSET  hex bytes  ascii, each byte in the
 * colour of the structure holding it, the field under the cursor named
 * and decoded, goto, search, and a history for Enter and Backspace.
 *
 * Only the visible rows are read (img_read_bytes(), a few kilobytes), on
 * every draw.  The field comes from img_describe() with what the host map
 * says of the cursor's byte; without a host map yet, header fields and
 * tables the header places are still named.  A search reads the file in
 * chunks from the cursor on and can be stopped with any key.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curses.h>

#include "view_int.h"
#include "core/banned.h"

/* Bytes a search reads at a time. */
#define VHEX_CHUNK	(1u << 20)

void
vhex_layout(struct vui *u)
{
	uint64_t	s = u->m->fsize;
	int		d = 1;

	while (d < 16 && ((s > 0 ? s - 1 : 0) >> (4 * d)) != 0)
		d++;
	u->hdig = d < 8 ? 8 : d;
	/* OFFSET, 2 spaces, 3 columns a byte, 1 between halves, ascii. */
	u->hbpr = u->hdig + 2 + 16 * 3 + 1 + 1 + 16 <= u->W ? 16 : 8;
	u->htop -= u->htop % (uint64_t)u->hbpr;
}

/* Keep the cursor's row in view. */
static void
vhex_scroll(struct vui *u)
{
	uint64_t	bpr = (uint64_t)u->hbpr;
	uint64_t	row = u->hcur / bpr * bpr;
	uint64_t	span = bpr * (uint64_t)(u->hex_rows > 0 ?
			    u->hex_rows : 1);

	if (row < u->htop)
		u->htop = row;
	else if (row >= u->htop + span)
		u->htop = row - span + bpr;
}

void
vhex_jump(struct vui *u, uint64_t off, bool remember)
{
	uint64_t	bpr = (uint64_t)(u->hbpr > 0 ? u->hbpr : 16);
	uint64_t	span = bpr * (uint64_t)(u->hex_rows > 0 ?
			    u->hex_rows : 1);

	if (u->m->fsize == 0)
		return;
	if (off >= u->m->fsize)
		off = u->m->fsize - 1;
	if (remember) {
		if (u->nhist == VH_MAX) {
			memmove(u->hist, u->hist + 1, (VH_MAX - 1) *
			    sizeof(u->hist[0]));
			u->nhist--;
		}
		u->hist[u->nhist++] = u->hcur;
	}
	u->hcur = off;
	/* A jump out of view puts the target's row at the top. */
	if (off < u->htop || off >= u->htop + span)
		u->htop = off / bpr * bpr;
	vmap_follow(u);
}

/* What the host map says of off, for img_describe(). */
static const struct vrun *
vhex_where(const struct vui *u, uint64_t off, struct img_where *w)
{
	const struct vrun	*r = vm_at(&u->m->host, off);

	memset(w, 0, sizeof(*w));
	if (r == NULL)
		return NULL;
	w->cls = u->m->cls[r->cls].name;
	w->owner = r->owner;
	w->run_off = r->off;
	w->run_len = r->len;
	return r;
}

/* Decode the field under the cursor, once per place. */
static void
vhex_field(struct vui *u)
{
	struct vmodel		*m = u->m;
	struct img_where	 w;
	const struct vrun	*r;
	struct img		*img;
	bool			 host = m->hst == VS_DONE || m->hst == VS_NONE;

	if (u->fld_valid && u->fld_at == u->hcur && u->fld_host == host)
		return;
	u->fld_valid = true;
	u->fld_at = u->hcur;
	u->fld_host = host;
	r = vhex_where(u, u->hcur, &w);
	/* The worker's handle, done, knows what a walk learnt (archive7). */
	img = m->worker_done && !m->th_started ? m->wimg : m->img;
	u->fld_ok = img_describe(img, u->hcur, r != NULL ? &w : NULL,
	    &u->fld) == 0;
	if (u->fld_ok || r == NULL)
		return;
	/* Nothing decoded: what the host map says. */
	memset(&u->fld, 0, sizeof(u->fld));
	u->fld.off = u->hcur;
	u->fld.len = 0;
	snprintf(u->fld.name, sizeof(u->fld.name), "%s", w.cls);
	snprintf(u->fld.meaning, sizeof(u->fld.meaning), "%s", w.owner !=
	    NULL ? w.owner : "");
	u->fld_ok = true;
}

static void
vhex_title(struct vui *u)
{
	char	t[512];
	int	n;

	n = snprintf(t, sizeof(t), "Hex 0x%0*" PRIx64 ": ", u->hdig, u->hcur);
	if (u->m->fsize == 0)
		snprintf(t + n, sizeof(t) - (size_t)n, "(empty file)");
	else if (!u->fld_ok)
		snprintf(t + n, sizeof(t) - (size_t)n, "%s", u->m->hst ==
		    VS_DONE ? "-" : "(host map not ready)");
	else if (u->fld.has_value)
		snprintf(t + n, sizeof(t) - (size_t)n, "%s = 0x%" PRIx64
		    "%s%s%s", u->fld.name, u->fld.value, u->fld.meaning[0] ?
		    ": " : "", u->fld.meaning, u->fld.has_target ?
		    "  [Enter follows]" : "");
	else
		snprintf(t + n, sizeof(t) - (size_t)n, "%s%s%s%s",
		    u->fld.name, u->fld.meaning[0] ? ": " : "",
		    u->fld.meaning, u->fld.has_target ?
		    "  [Enter follows]" : "");
	vui_title(u, u->hex_y, VP_HEX, t);
}

void
vhex_draw(struct vui *u)
{
	struct vmodel		*m = u->m;
	const struct vrun	*r = NULL;
	uint8_t			 buf[64 * 64];
	size_t			 got = 0, want, ri = 0;
	uint64_t		 off, row, bpr = (uint64_t)u->hbpr;
	int			 y, i, x, a, cls;
	char			 t[32];
	unsigned char		 c;

	vhex_scroll(u);
	if (m->fsize > 0)
		vhex_field(u);
	vhex_title(u);
	if (m->fsize == 0)
		return;
	want = (size_t)bpr * (size_t)u->hex_rows;
	if (want > sizeof(buf))
		want = sizeof(buf);
	if (u->htop >= m->fsize)
		return;
	if (img_read_bytes(m->img, u->htop, buf, want, &got) != 0) {
		vui_put(u->hex_y + 1, 0, u->W - 1, "(cannot read the file)");
		return;
	}
	for (y = 0; y < u->hex_rows; y++) {
		row = u->htop + (uint64_t)y * bpr;
		if (row >= m->fsize)
			break;
		snprintf(t, sizeof(t), "%0*" PRIx64, u->hdig, row);
		vui_put(u->hex_y + 1 + y, 0, u->hdig, t);
		for (i = 0; i < (int)bpr; i++) {
			off = row + (uint64_t)i;
			if (off >= m->fsize || (size_t)(off - u->htop) >= got)
				break;
			/* The run under this byte: runs come in order. */
			if (r == NULL || off >= r->off + r->len) {
				ri = vm_find(&m->host, off);
				r = ri < m->host.n && m->host.r[ri].off <= off ?
				    &m->host.r[ri] : NULL;
			}
			cls = r == NULL ? -1 : r->damaged ? VC_DAMAGED :
			    r->cls;
			a = vui_attr_cls(u, cls, false);
			if (u->fld_ok && u->fld.len > 0 && off >= u->fld.off &&
			    off - u->fld.off < u->fld.len)
				a |= A_UNDERLINE | A_BOLD;
			if (off == u->hcur)
				a = A_REVERSE | A_BOLD;
			c = buf[off - u->htop];
			x = u->hdig + 2 + i * 3 + (i >= (int)bpr / 2 ? 1 : 0);
			snprintf(t, sizeof(t), "%02x", c);
			attron(a);
			vui_put(u->hex_y + 1 + y, x, 2, t);
			mvaddch(u->hex_y + 1 + y, u->hdig + 2 + (int)bpr * 3 +
			    2 + i, c >= 0x20 && c < 0x7f ? (chtype)c : '.');
			attroff(a);
		}
	}
}

/* Parse "0x1f", "4096", "4KiB", "2M": a byte offset. */
bool
vhex_parse_off(const char *s, uint64_t *out)
{
	static const char	 sfx[] = "kmgtpe";
	unsigned long long	 v;
	const char		*p;
	char			*end;
	unsigned		 sh = 0;

	while (isspace((unsigned char)*s))
		s++;
	if (*s == '\0' || *s == '-' || *s == '+')
		return false;
	errno = 0;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		v = strtoull(s + 2, &end, 16);
	else
		v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || (end == s + 2 && s[1] != '\0' &&
	    (s[1] == 'x' || s[1] == 'X')))
		return false;
	while (isspace((unsigned char)*end))
		end++;
	if (*end != '\0') {
		if ((p = strchr(sfx, tolower((unsigned char)*end))) == NULL ||
		    *p == '\0')
			return false;
		sh = 10 * (unsigned)(p - sfx + 1);
		end++;
		if (strcmp(end, "") != 0 && strcmp(end, "iB") != 0 &&
		    strcmp(end, "B") != 0 && strcmp(end, "ib") != 0 &&
		    strcmp(end, "b") != 0)
			return false;
		if (v > (UINT64_MAX >> sh))
			return false;
		v <<= sh;
	}
	*out = v;
	return true;
}

static int
vhex_nib(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* "0x51 46 49 fb" (hex bytes, spaces anywhere) or text. */
bool
vhex_parse_pat(const char *s, uint8_t *pat, size_t *n)
{
	size_t	k = 0;
	int	hi, lo;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		for (s += 2; *s != '\0';) {
			if (isspace((unsigned char)*s)) {
				s++;
				continue;
			}
			if ((hi = vhex_nib((unsigned char)s[0])) < 0 ||
			    (lo = vhex_nib((unsigned char)s[1])) < 0 ||
			    k == VS_MAX)
				return false;
			pat[k++] = (uint8_t)(hi << 4 | lo);
			s += 2;
		}
	} else {
		for (; *s != '\0' && k < VS_MAX; s++)
			pat[k++] = (uint8_t)*s;
	}
	*n = k;
	return k > 0;
}

bool
vhex_search(struct vui *u)
{
	struct vmodel	*m = u->m;
	uint8_t		*buf;
	uint64_t	 from = u->hcur + 1, off;
	size_t		 got, i, n = u->npat;
	double		 t = vm_now();
	int		 ch;

	if (m->fsize == 0 || n == 0)
		return false;
	if ((buf = malloc(VHEX_CHUNK + VS_MAX)) == NULL) {
		snprintf(u->msg, sizeof(u->msg), "search: out of memory");
		return false;
	}
	nodelay(stdscr, TRUE);
	for (off = from; off < m->fsize; off += VHEX_CHUNK) {
		if (img_read_bytes(m->img, off, buf, VHEX_CHUNK + n - 1,
		    &got) != 0)
			break;
		for (i = 0; i + n <= got; i++)
			if (buf[i] == u->pat[0] && memcmp(buf + i, u->pat,
			    n) == 0) {
				nodelay(stdscr, FALSE);
				free(buf);
				vhex_jump(u, off + i, true);
				snprintf(u->msg, sizeof(u->msg), "found at "
				    "0x%" PRIx64 " (n: next, Backspace: back)",
				    off + i);
				return true;
			}
		/* Show how far, and stop on any key or signal. */
		if (vm_now() - t > 0.2) {
			char	l[128];

			snprintf(l, sizeof(l), "searching at 0x%" PRIx64
			    " of 0x%" PRIx64 " (any key stops)", off,
			    m->fsize);
			move(u->keys_y, 0);
			clrtoeol();
			vui_put(u->keys_y, 0, u->W - 1, l);
			refresh();
			t = vm_now();
		}
		if ((ch = getch()) != ERR || vui_stopping()) {
			nodelay(stdscr, FALSE);
			free(buf);
			snprintf(u->msg, sizeof(u->msg), "search stopped at "
			    "0x%" PRIx64, off);
			return false;
		}
	}
	nodelay(stdscr, FALSE);
	free(buf);
	snprintf(u->msg, sizeof(u->msg), "not found after 0x%" PRIx64,
	    u->hcur);
	return false;
}

static void
vhex_move(struct vui *u, int64_t d)
{
	uint64_t	c = u->hcur, last;

	if (u->m->fsize == 0)
		return;
	last = u->m->fsize - 1;
	if (d < 0)
		c = (uint64_t)-d > c ? 0 : c - (uint64_t)-d;
	else
		c = (uint64_t)d > last - c ? last : c + (uint64_t)d;
	u->hcur = c;
	vhex_scroll(u);
	vmap_follow(u);
}

bool
vhex_key(struct vui *u, int ch)
{
	int64_t	bpr = u->hbpr, page = bpr * u->hex_rows;

	switch (ch) {
	case KEY_LEFT:
	case 'h':
		vhex_move(u, -1);
		break;
	case KEY_RIGHT:
	case 'l':
		vhex_move(u, 1);
		break;
	case KEY_UP:
	case 'k':
		vhex_move(u, -bpr);
		break;
	case KEY_DOWN:
	case 'j':
		vhex_move(u, bpr);
		break;
	case KEY_PPAGE:
		u->htop = u->htop > (uint64_t)page ? u->htop - (uint64_t)page :
		    0;
		vhex_move(u, -page);
		break;
	case KEY_NPAGE:
		if (u->htop + (uint64_t)page < u->m->fsize)
			u->htop += (uint64_t)page;
		vhex_move(u, page);
		break;
	case KEY_HOME:
		vhex_jump(u, 0, false);
		break;
	case KEY_END:
		vhex_jump(u, u->m->fsize > 0 ? u->m->fsize - 1 : 0, false);
		break;
	case '\n':
	case '\r':
	case KEY_ENTER:
		vhex_field(u);
		if (!u->fld_ok || !u->fld.has_target)
			snprintf(u->msg, sizeof(u->msg), "no pointer here");
		else if (u->fld.target >= u->m->fsize)
			snprintf(u->msg, sizeof(u->msg), "%s points at 0x%"
			    PRIx64 ", past the end of the file", u->fld.name,
			    u->fld.target);
		else
			vhex_jump(u, u->fld.target, true);
		break;
	case KEY_BACKSPACE:
	case 127:
	case 8:
		if (u->nhist == 0)
			snprintf(u->msg, sizeof(u->msg), "nowhere to go back "
			    "to");
		else
			vhex_jump(u, u->hist[--u->nhist], false);
		break;
	default:
		return false;
	}
	return true;
}
