/* SPDX-License-Identifier: MIT */
/*
 * report.c --- the problem table and report_problem(), the one policy point.
 *
 * Format code calls report_problem() for every problem it finds.  Here,
 * and nowhere else, the problem is counted by severity, kept as a finding
 * (or dropped once its code has been seen max_per_code times; counters
 * always count everything), and the repair question is answered from the
 * level the user gave.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "core/core.h"
#include "core/banned.h"

static const struct pr_info pr_table[PR_COUNT] = {
#define PR(c, id, s, f, m)	[PR_##id] = { .code = (c), .name = NULL, \
	.sev = PR_SEV_##s, .fix = PR_FIX_##f, .msg = (m) },
#include "core/problems.def"
#undef PR
};

/* Upper-case ids turned into kebab case once, at first use. */
static const char *const pr_ids[PR_COUNT] = {
#define PR(c, id, s, f, m)	[PR_##id] = #id,
#include "core/problems.def"
#undef PR
};

static char	pr_names[PR_COUNT][64];

const struct pr_info *
pr_info_get(enum pr_id id)
{
	static struct pr_info	tab[PR_COUNT];
	static bool		done;
	size_t			i, j;

	if ((unsigned)id >= PR_COUNT)
		return NULL;
	if (!done) {
		/* Deterministic and idempotent, so a race is harmless. */
		for (i = 0; i < PR_COUNT; i++) {
			for (j = 0; pr_ids[i][j] != '\0' &&
			    j + 1 < sizeof(pr_names[i]); j++) {
				char	ch = pr_ids[i][j];

				pr_names[i][j] = ch == '_' ? '-' :
				    (ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) :
				    ch);
			}
			pr_names[i][j] = '\0';
			tab[i] = pr_table[i];
			tab[i].name = pr_names[i];
		}
		done = true;
	}
	return &tab[id];
}

/* The id of problem code code, or PR_COUNT when there is none. */
enum pr_id
pr_id_by_code(uint32_t code)
{
	const struct pr_info	*pi;
	size_t			 i;

	for (i = 0; i < PR_COUNT; i++)
		if ((pi = pr_info_get((enum pr_id)i)) != NULL &&
		    pi->code == code)
			return (enum pr_id)i;
	return PR_COUNT;
}

const struct pr_info *
pr_info_by_code(uint32_t code)
{
	return pr_info_get(pr_id_by_code(code));
}

const char *
pr_sev_name(enum pr_sev sev)
{
	switch (sev) {
	case PR_SEV_FATAL:	return "fatal";
	case PR_SEV_CORRUPT:	return "corruption";
	case PR_SEV_LEAK:	return "leak";
	case PR_SEV_WARN:	return "warning";
	case PR_SEV_INFO:	return "info";
	}
	return "?";
}

const char *
pr_fix_name(enum pr_fix fix)
{
	switch (fix) {
	case PR_FIX_NONE:	return "none";
	case PR_FIX_SETREF:	return "setref";
	case PR_FIX_CLEAR:	return "clear";
	case PR_FIX_REBUILD:	return "rebuild";
	case PR_FIX_TRUNCATE:	return "truncate";
	case PR_FIX_REWRITE:	return "rewrite";
	}
	return "?";
}

/* Append to buf at *pos, never past len-1. */
static void
put(char *buf, size_t len, size_t *pos, const char *s)
{
	while (*s != '\0' && *pos + 1 < len)
		buf[(*pos)++] = *s++;
	buf[*pos] = '\0';
}

void
pr_format(char *buf, size_t len, const char *msg, const struct pr_ctx *pc)
{
	static const struct pr_ctx	zero;
	char				num[32];
	size_t				pos = 0;
	const char			*s;

	if (len == 0)
		return;
	buf[0] = '\0';
	if (pc == NULL)
		pc = &zero;
	for (s = msg; *s != '\0' && pos + 1 < len; s++) {
		if (*s != '%' || s[1] == '\0') {
			buf[pos++] = *s;
			buf[pos] = '\0';
			continue;
		}
		s++;
		num[0] = '\0';
		switch (*s) {
		case 'O':
			snprintf(num, sizeof(num), "0x%" PRIx64, pc->off);
			break;
		case 'I':
			snprintf(num, sizeof(num), "%" PRIu64, pc->idx);
			break;
		case 'N':
			snprintf(num, sizeof(num), "%" PRIu64, pc->found);
			break;
		case 'M':
			snprintf(num, sizeof(num), "%" PRIu64, pc->want);
			break;
		case 'n':
			snprintf(num, sizeof(num), "0x%" PRIx64, pc->found);
			break;
		case 'm':
			snprintf(num, sizeof(num), "0x%" PRIx64, pc->want);
			break;
		case 'S':
			put(buf, len, &pos, pc->str != NULL ? pc->str : "");
			continue;
		default:
			num[0] = '%';
			num[1] = *s;
			num[2] = '\0';
			break;
		}
		put(buf, len, &pos, num);
	}
}

void
report_init(struct report *rp)
{
	memset(rp, 0, sizeof(*rp));
	rp->max_per_code = 0;
}

void
report_release(struct report *rp)
{
	size_t	i;

	for (i = 0; i < rp->nf; i++) {
		free(rp->f[i].path);
		free(rp->f[i].msg);
	}
	free(rp->f);
	if (rp->extra != NULL)
		json_object_put(rp->extra);
	plan_free(rp->plan);
	memset(rp, 0, sizeof(*rp));
}

/*
 * May a problem with this severity and fix be repaired under rp?  The
 * format may say an instance cannot be fixed (PC_NOFIX), or that qemu
 * makes this fix at the leaks level too (PC_LEAKS_OK).
 */
static bool
report_may_fix(const struct report *rp, const struct pr_info *pi,
    unsigned flags)
{
	if (pi->fix == PR_FIX_NONE || (flags & PC_NOFIX))
		return false;
	if ((flags & PC_LEAKS_OK) && pi->sev != PR_SEV_FATAL)
		return (rp->repair & (REPAIR_LEAKS | REPAIR_ALL)) != 0;
	switch (pi->sev) {
	case PR_SEV_LEAK:
		return (rp->repair & (REPAIR_LEAKS | REPAIR_ALL)) != 0;
	case PR_SEV_CORRUPT:
	case PR_SEV_WARN:
	case PR_SEV_INFO:
		return (rp->repair & REPAIR_ALL) != 0;
	case PR_SEV_FATAL:
		break;
	}
	return false;
}

static void
report_keep(struct report *rp, enum pr_id id, const struct pr_info *pi,
    const struct pr_ctx *pc, bool fix)
{
	struct finding	*f, *nf;
	char		 msg[512];
	size_t		 cap;

	if (rp->nf == rp->capf) {
		cap = rp->capf == 0 ? 64 : rp->capf * 2;
		nf = reallocarray(rp->f, cap, sizeof(*nf));
		if (nf == NULL) {
			rp->nomem = true;
			rp->omitted++;
			return;
		}
		rp->f = nf;
		rp->capf = cap;
	}
	f = &rp->f[rp->nf];
	memset(f, 0, sizeof(*f));
	f->id = id;
	f->flags = pc->flags & (PC_HOST | PC_GUEST);
	f->host_off = pc->off;
	f->host_len = pc->len;
	f->guest_off = pc->goff;
	f->guest_len = pc->glen;
	f->fixed = fix;
	pr_format(msg, sizeof(msg), pi->msg, pc);
	f->msg = strdup(msg);
	f->path = pc->path != NULL ? strdup(pc->path) : NULL;
	if (f->msg == NULL || (pc->path != NULL && f->path == NULL)) {
		free(f->msg);
		free(f->path);
		rp->nomem = true;
		rp->omitted++;
		return;
	}
	rp->nf++;
	if (rp->on_finding != NULL)
		rp->on_finding(rp->on_arg, f);
}

bool
report_problem(struct report *rp, enum pr_id id, const struct pr_ctx *pc)
{
	static const struct pr_ctx	 zero;
	const struct pr_info		*pi = pr_info_get(id);
	bool				 fix;

	if (pi == NULL)
		return false;
	if (pc == NULL)
		pc = &zero;
	if (!(pc->flags & PC_NOCOUNT)) {
		switch (pi->sev) {
		case PR_SEV_FATAL:
			rp->c.check_errors++;
			break;
		case PR_SEV_CORRUPT:
			rp->c.corruptions++;
			break;
		case PR_SEV_LEAK:
			rp->c.leaks++;
			break;
		case PR_SEV_WARN:
		case PR_SEV_INFO:
			break;
		}
	}
	fix = report_may_fix(rp, pi, pc->flags);
	rp->seen[id]++;
	if (rp->max_per_code != 0 && rp->seen[id] > rp->max_per_code)
		rp->omitted++;
	else
		report_keep(rp, id, pi, pc, fix);
	/* With a plan, a fix goes into it; a dry run never applies it. */
	return fix && (!rp->dry_run || rp->plan != NULL);
}

static struct json_object *
report_extra_obj(struct report *rp)
{
	if (rp->extra == NULL)
		rp->extra = json_object_new_object();
	return rp->extra;
}

void
report_extra_int(struct report *rp, const char *key, int64_t v)
{
	struct json_object	*o = report_extra_obj(rp);

	if (o != NULL)
		json_object_object_add(o, key, json_object_new_int64(v));
}

void
report_extra_str(struct report *rp, const char *key, const char *v)
{
	struct json_object	*o = report_extra_obj(rp);

	if (o != NULL)
		json_object_object_add(o, key, json_object_new_string(v));
}

void
report_extra_bool(struct report *rp, const char *key, bool v)
{
	struct json_object	*o = report_extra_obj(rp);

	if (o != NULL)
		json_object_object_add(o, key, json_object_new_boolean(v));
}
