/* SPDX-License-Identifier: MIT */
/*
 * view_find.c --- the findings pane: every finding of the check with its
 * code, severity and message, as the check finds them; Enter goes to one.
 *
 * Going to a finding moves the hex pane to the bytes at fault: for a bad
 * pointer or a wrong count, the entry that holds it (img_finding_entry()),
 * else its host range.  The map goes to the guest range at stake, or to
 * the host bytes when the finding has no guest range.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <curses.h>

#include "view_int.h"
#include "core/banned.h"

static void
vfind_title(struct vui *u)
{
	struct vmodel		*m = u->m;
	const struct check_counts *c = &m->counts;
	char			 t[512];

	switch (m->cst) {
	case VS_WAIT:
	case VS_RUN:
		snprintf(t, sizeof(t), "Findings: %zu so far, checking ...",
		    m->nf);
		break;
	case VS_NONE:
		snprintf(t, sizeof(t), "Findings: the %s format has no check",
		    m->fmt);
		break;
	case VS_FAIL:
		snprintf(t, sizeof(t), "Findings: %zu; the check failed: %s",
		    m->nf, m->cerr);
		break;
	default:
		snprintf(t, sizeof(t), "Findings: %zu%s  (%" PRIu64
		    " corruptions, %" PRIu64 " leaks, %" PRIu64 " check "
		    "errors; %.2fs)", m->nf, m->omitted > 0 ? "+" : "",
		    c->corruptions, c->leaks, c->check_errors, m->tc);
		break;
	}
	vui_title(u, u->find_y, VP_FIND, t);
}

void
vfind_draw(struct vui *u)
{
	struct vmodel		*m = u->m;
	const struct vfind	*f;
	const struct pr_info	*pi;
	char			 l[1024];
	size_t			 i;
	int			 y, n;

	vfind_title(u);
	if (m->nf == 0) {
		if (m->cst == VS_DONE)
			vui_put(u->find_y + 1, 1, u->W - 2,
			    "no problems found");
		return;
	}
	if (u->fcur >= m->nf)
		u->fcur = m->nf - 1;
	if (u->fcur < u->ftop)
		u->ftop = u->fcur;
	if (u->fcur >= u->ftop + (size_t)u->find_rows)
		u->ftop = u->fcur - (size_t)u->find_rows + 1;
	for (y = 0; y < u->find_rows; y++) {
		i = u->ftop + (size_t)y;
		if (i >= m->nf)
			break;
		f = &m->f[i];
		pi = pr_info_get(f->id);
		n = snprintf(l, sizeof(l), "%-10s %s 0x%06" PRIx32,
		    pr_sev_name(pi->sev), pi->name, pi->code);
		if (f->flags & PC_HOST)
			n += snprintf(l + n, sizeof(l) - (size_t)n, " @0x%"
			    PRIx64, f->host_off);
		snprintf(l + n, sizeof(l) - (size_t)n, ": %s", f->msg);
		if (i == u->fcur)
			attron(u->focus == VP_FIND ? A_REVERSE : A_BOLD);
		move(u->find_y + 1 + y, 0);
		if (i == u->fcur)
			hline(' ', u->W);
		vui_put(u->find_y + 1 + y, 0, u->W - 1, l);
		if (i == u->fcur)
			attroff(u->focus == VP_FIND ? A_REVERSE : A_BOLD);
	}
}

/* Enter: the hex pane to the bytes at fault, the map to the range. */
static void
vfind_go(struct vui *u)
{
	struct vmodel		*m = u->m;
	const struct vfind	*v = &m->f[u->fcur];
	struct finding		 f;
	uint64_t		 off = 0, len = 0;
	bool			 entry;

	memset(&f, 0, sizeof(f));
	f.id = v->id;
	f.flags = v->flags;
	f.host_off = v->host_off;
	f.host_len = v->host_len;
	f.guest_off = v->guest_off;
	f.guest_len = v->guest_len;
	f.path = v->path;
	f.msg = v->msg;
	entry = img_finding_entry(m->img, &f, &off, &len) == 0 &&
	    off < m->fsize;
	if (!entry && (v->flags & PC_HOST)) {
		off = v->host_off;
		len = v->host_len;
	}
	if (entry || ((v->flags & PC_HOST) && off < m->fsize)) {
		vhex_jump(u, off, true);
		snprintf(u->msg, sizeof(u->msg), "%s at 0x%" PRIx64 "+%" PRIu64
		    "%s%s", entry ? "entry" : "bytes", off, len,
		    v->path != NULL ? ": " : "", v->path != NULL ? v->path :
		    "");
	} else if (v->flags & PC_HOST)
		snprintf(u->msg, sizeof(u->msg), "0x%" PRIx64 " is past the "
		    "end of the file", v->host_off);
	else
		snprintf(u->msg, sizeof(u->msg), "this finding names no bytes "
		    "of the file");
	if (v->flags & PC_GUEST) {
		u->hostmode = false;
		vmap_goto(u, false, v->guest_off);
	} else if (v->flags & PC_HOST) {
		u->hostmode = true;
		vmap_goto(u, true, v->host_off);
	}
}

bool
vfind_key(struct vui *u, int ch)
{
	size_t	n = u->m->nf, page = (size_t)u->find_rows;

	if (n == 0)
		return false;
	switch (ch) {
	case KEY_UP:
	case 'k':
		if (u->fcur > 0)
			u->fcur--;
		break;
	case KEY_DOWN:
	case 'j':
		if (u->fcur + 1 < n)
			u->fcur++;
		break;
	case KEY_PPAGE:
		u->fcur = u->fcur > page ? u->fcur - page : 0;
		break;
	case KEY_NPAGE:
		u->fcur = u->fcur + page < n ? u->fcur + page : n - 1;
		break;
	case KEY_HOME:
		u->fcur = 0;
		break;
	case KEY_END:
		u->fcur = n - 1;
		break;
	case '\n':
	case '\r':
	case KEY_ENTER:
		vfind_go(u);
		break;
	default:
		return false;
	}
	return true;
}
