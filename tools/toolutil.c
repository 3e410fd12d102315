/* SPDX-License-Identifier: MIT */
/*
 * toolutil.c --- options, usage, key loading, JSON and human output and
 * exit codes for the tools.  Only tools link this; libcore never prints.
 */
#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "toolutil.h"
#include "core/crypto.h"
#include "core/banned.h"

#define TU_MAX_OPTS	64

void *
xmalloc(size_t n)
{
	void	*p = malloc(n == 0 ? 1 : n);

	if (p == NULL)
		err(1, "out of memory");
	return p;
}

char *
xstrdup(const char *s)
{
	char	*p = strdup(s);

	if (p == NULL)
		err(1, "out of memory");
	return p;
}

const struct option *
tu_longopts(const struct tu_cmd *cmd)
{
	static struct option	lo[TU_MAX_OPTS + 1];
	size_t			i;

	for (i = 0; cmd->opts[i].name != NULL && i < TU_MAX_OPTS; i++) {
		lo[i].name = cmd->opts[i].name;
		lo[i].has_arg = cmd->opts[i].has_arg;
		lo[i].flag = NULL;
		lo[i].val = cmd->opts[i].val;
	}
	memset(&lo[i], 0, sizeof(lo[i]));
	return lo;
}

const char *
tu_shortopts(const struct tu_cmd *cmd)
{
	static char	so[TU_MAX_OPTS * 2 + 2];
	size_t		i, n = 0;

	for (i = 0; cmd->opts[i].name != NULL && i < TU_MAX_OPTS; i++) {
		if (cmd->opts[i].val >= 256)
			continue;
		so[n++] = (char)cmd->opts[i].val;
		if (cmd->opts[i].has_arg == required_argument)
			so[n++] = ':';
	}
	so[n] = '\0';
	return so;
}

void
tu_usage(const struct tu_cmd *cmd, FILE *fp)
{
	fprintf(fp, "usage: %s %s\n", cmd->prog, cmd->synopsis);
}

void
tu_help(const struct tu_cmd *cmd)
{
	const struct tu_opt	*o;
	char			 left[64];

	tu_usage(cmd, stdout);
	printf("\n%s\n\noptions:\n", cmd->summary);
	for (o = cmd->opts; o->name != NULL; o++) {
		if (o->help == NULL)
			continue;
		if (o->val < 256)
			snprintf(left, sizeof(left), "-%c, --%s%s%s",
			    o->val, o->name, o->arg ? "=" : "",
			    o->arg ? o->arg : "");
		else
			snprintf(left, sizeof(left), "    --%s%s%s", o->name,
			    o->arg ? "=" : "", o->arg ? o->arg : "");
		printf("  %-28s %s\n", left, o->help);
	}
	exit(0);
}

void
tu_list_options(const struct tu_cmd *cmd)
{
	const struct tu_opt	*o;

	const char *const	*fmt;
	char			 arg[256];
	int			 pass;

	/*
	 * One option a line, for the completions: the option, a tab, its
	 * argument (the values where they are few, "qcow2|qed|...";
	 * "[WHAT]" where it is optional; empty when it takes none), a tab
	 * and its help.
	 */
	for (o = cmd->opts; o->name != NULL; o++) {
		if (o->help == NULL)
			continue;
		arg[0] = '\0';
		if (o->arg != NULL && strcmp(o->arg, "FMT") == 0) {
			for (fmt = img_format_names(); *fmt != NULL; fmt++)
				snprintf(arg + strlen(arg), sizeof(arg) -
				    strlen(arg), "%s%s", fmt ==
				    img_format_names() ? "" : "|", *fmt);
		} else if (o->arg != NULL)
			snprintf(arg, sizeof(arg), o->has_arg ==
			    optional_argument ? "[%s]" : "%s", o->arg);
		for (pass = o->val < 256 ? 0 : 1; pass < 2; pass++) {
			if (pass == 0)
				printf("-%c", o->val);
			else
				printf("--%s", o->name);
			printf("\t%s\t%s\n", o->has_arg == optional_argument &&
			    pass == 0 ? "" : arg, o->help);
		}
	}
	exit(0);
}

void
tu_version(const struct tu_cmd *cmd)
{
	printf("%s %s\n", cmd->prog, IMGKIT_VERSION);
	exit(0);
}

void
tu_bad_usage(const struct tu_cmd *cmd)
{
	tu_usage(cmd, stderr);
	fprintf(stderr, "Try '%s --help' for more information.\n",
	    cmd->prog);
	exit(1);
}

/* The word standing for a message field, in --list-problems and the man page. */
static const char *
field_word(char c)
{
	switch (c) {
	case 'O':
		return "OFFSET";
	case 'I':
		return "INDEX";
	case 'N':
	case 'n':
		return "FOUND";
	case 'M':
	case 'm':
		return "WANTED";
	case 'S':
		return "TEXT";
	}
	return NULL;
}

void
tu_problem_words(const char *msg, char *buf, size_t len)
{
	const char	*w;
	size_t		 n = 0;

	if (len == 0)
		return;
	for (; *msg != '\0' && n + 1 < len; msg++) {
		if (*msg == '%' && (w = field_word(msg[1])) != NULL) {
			for (; *w != '\0' && n + 1 < len; w++)
				buf[n++] = *w;
			msg++;
			continue;
		}
		buf[n++] = *msg;
	}
	buf[n] = '\0';
}

const char *
tu_problem_fix(enum pr_id id)
{
	const struct pr_info	*pi = pr_info_get(id);

	return pr_fixable(id) ? pr_fix_name(pi->fix) : "none";
}

void
tu_list_problems(bool json)
{
	const struct pr_info	*pi;
	struct json_object	*arr, *o;
	char			 words[512];
	int			 i;

	arr = json ? json_object_new_array() : NULL;
	for (i = 0; i < PR_COUNT; i++) {
		pi = pr_info_get((enum pr_id)i);
		tu_problem_words(pi->msg, words, sizeof(words));
		if (!json) {
			printf("0x%06" PRIx32 "  %-36s %-10s %-8s %s\n",
			    pi->code, pi->name, pr_sev_name(pi->sev),
			    pr_fixable((enum pr_id)i) ?
			    pr_fix_name(pi->fix) : "-", words);
			continue;
		}
		o = json_object_new_object();
		json_object_object_add(o, "code",
		    json_object_new_string(pi->name));
		json_object_object_add(o, "number",
		    json_object_new_int64(pi->code));
		json_object_object_add(o, "severity",
		    json_object_new_string(pr_sev_name(pi->sev)));
		json_object_object_add(o, "fix",
		    json_object_new_string(tu_problem_fix((enum pr_id)i)));
		json_object_object_add(o, "message",
		    json_object_new_string(words));
		json_object_object_add(o, "template",
		    json_object_new_string(pi->msg));
		json_object_array_add(arr, o);
	}
	if (json) {
		tu_json_print(arr);
		json_object_put(arr);
	}
	exit(0);
}

bool
tu_parse_output(const struct tu_cmd *cmd, const char *v)
{
	if (strcmp(v, "json") == 0)
		return true;
	if (strcmp(v, "human") == 0)
		return false;
	warnx("--output expects 'human' or 'json', not '%s'", v);
	tu_bad_usage(cmd);
	return false;
}

size_t
tu_parse_count(const struct tu_cmd *cmd, const char *what, const char *v)
{
	unsigned long long	 n;
	char			*end;

	errno = 0;
	n = strtoull(v, &end, 10);
	if (*v == '\0' || *end != '\0' || errno != 0 || v[0] == '-' ||
	    n > SIZE_MAX) {
		warnx("invalid %s '%s'", what, v);
		tu_bad_usage(cmd);
	}
	return (size_t)n;
}

uint64_t
tu_parse_size(const struct tu_cmd *cmd, const char *what, const char *v)
{
	static const char	 sfx[] = "kmgtpe";
	unsigned long long	 n;
	const char		*p;
	char			*end;
	unsigned		 sh = 0;
	bool			 hex;

	hex = v[0] == '0' && (v[1] == 'x' || v[1] == 'X');
	errno = 0;
	n = strtoull(hex ? v + 2 : v, &end, hex ? 16 : 10);
	if (*v == '\0' || v[0] == '-' || v[0] == '+' || errno != 0 ||
	    end == (hex ? v + 2 : v) || isspace((unsigned char)v[hex ? 2 : 0]))
		goto bad;
	if (*end != '\0') {
		if (end[1] != '\0' && !(end[1] == 'B' && end[2] == '\0') &&
		    !(end[1] == 'i' && end[2] == 'B' && end[3] == '\0'))
			goto bad;
		if (*end == 'b' || *end == 'B')
			sh = 0;
		else if ((p = strchr(sfx, tolower((unsigned char)*end))) !=
		    NULL && *p != '\0')
			sh = 10 * (unsigned)(p - sfx + 1);
		else
			goto bad;
		if (sh > 0 && n > (UINT64_MAX >> sh))
			goto bad;
		n <<= sh;
	}
	if (n > INT64_MAX)
		goto bad;
	return n;
bad:
	warnx("invalid %s '%s' (bytes: decimal or 0x hex, suffix k, M, G, "
	    "T, P or E)", what, v);
	tu_bad_usage(cmd);
	return 0;
}

/* 64 hex digits into 32 bytes; false on anything else. */
static bool
hex32(const char *s, size_t len, uint8_t out[32])
{
	size_t	i;
	int	hi, lo;

	while (len > 0 && isspace((unsigned char)s[len - 1]))
		len--;
	if (len != 64)
		return false;
	for (i = 0; i < 32; i++) {
		hi = isxdigit((unsigned char)s[2 * i]) ? s[2 * i] : -1;
		lo = isxdigit((unsigned char)s[2 * i + 1]) ? s[2 * i + 1] : -1;
		if (hi < 0 || lo < 0)
			return false;
		hi = isdigit(hi) ? hi - '0' : (tolower(hi) - 'a' + 10);
		lo = isdigit(lo) ? lo - '0' : (tolower(lo) - 'a' + 10);
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

/* --color, for tu_color_on(); set by tu_common_finish(). */
static int	color_mode = TU_COLOR_AUTO;

bool
tu_color_on(FILE *fp)
{
	const char	*nc = getenv("NO_COLOR"), *term = getenv("TERM");

	if (color_mode != TU_COLOR_AUTO)
		return color_mode == TU_COLOR_ALWAYS;
	if ((nc != NULL && *nc != '\0') || (term != NULL &&
	    strcmp(term, "dumb") == 0))
		return false;
	return isatty(fp == stderr ? STDERR_FILENO : STDOUT_FILENO);
}

/* The colour of a severity (SGR), and of a verdict. */
static const char *
sev_color(enum pr_sev sev)
{
	switch (sev) {
	case PR_SEV_FATAL:
	case PR_SEV_CORRUPT:
		return "\033[1;31m";	/* bold red */
	case PR_SEV_LEAK:
		return "\033[33m";	/* yellow */
	case PR_SEV_WARN:
		return "\033[35m";	/* magenta */
	case PR_SEV_INFO:
		return "\033[36m";	/* cyan */
	}
	return "";
}
#define SGR_OFF		"\033[0m"
#define SGR_CLEAN	"\033[32m"	/* green */

/* Whose options a key error reports to (JSON mode), set by finish. */
static const struct tu_common	*key_ctx;

/* Read a whole small file (keys, passwords); caller frees. */
static char *
slurp(const char *path, size_t max, size_t *len)
{
	FILE	*fp;
	char	*buf;
	size_t	 n;

	if ((fp = fopen(path, "rb")) == NULL)
		tu_fail(key_ctx, NULL, "cannot open '%s': %s", path,
		    strerror(errno));
	buf = xmalloc(max + 1);
	n = fread(buf, 1, max + 1, fp);
	if (ferror(fp))
		tu_fail(key_ctx, NULL, "cannot read '%s': %s", path,
		    strerror(errno));
	fclose(fp);
	if (n > max)
		tu_fail(key_ctx, NULL, "'%s' is too large for a key", path);
	buf[n] = '\0';
	*len = n;
	return buf;
}

void
tu_key_load(const struct tu_cmd *cmd, const struct tu_key *k,
    struct img_opts *opts)
{
	const struct img_crypto	*c;
	unsigned char		 md[64];
	unsigned int		 mdlen = 0;
	const char		*env, *why = NULL;
	char			*buf;
	size_t			 len;

	(void)cmd;
	if (k->hex != NULL) {
		if (!hex32(k->hex, strlen(k->hex), opts->key))
			tu_fail(key_ctx, NULL, "--key-hex wants 64 hex digits");
		opts->has_key = true;
	} else if (k->file != NULL) {
		buf = slurp(k->file, 4096, &len);
		if (len == 32) {
			memcpy(opts->key, buf, 32);
		} else if (!hex32(buf, len, opts->key)) {
			free(buf);
			tu_fail(key_ctx, NULL, "key file '%s' holds neither "
			    "32 bytes nor 64 hex digits", k->file);
		}
		free(buf);
		opts->has_key = true;
	} else if (k->password_file != NULL) {
		/* Upstream's derivation: bytes 32..63 of SHA-512(password). */
		buf = slurp(k->password_file, 4096, &len);
		if (len > 0 && buf[len - 1] == '\n')
			len--;
		if ((c = img_crypto(&why)) == NULL)
			tu_fail(key_ctx, NULL, "cannot hash the password: %s",
			    why);
		if (c->EVP_Digest(buf, len, md, &mdlen, c->EVP_sha512(),
		    NULL) != 1 || mdlen != 64)
			tu_fail(key_ctx, NULL, "cannot hash the password");
		memcpy(opts->key, md + 32, 32);
		opts->has_key = true;
		free(buf);
	} else if ((env = getenv("IMGKIT_A7_KEY")) != NULL && *env != '\0') {
		if (!hex32(env, strlen(env), opts->key))
			tu_fail(key_ctx, NULL,
			    "IMGKIT_A7_KEY wants 64 hex digits");
		opts->has_key = true;
	}
}

void
tu_common_init(struct tu_common *c)
{
	memset(c, 0, sizeof(*c));
	c->maxf = 100;
}

bool
tu_common_opt(const struct tu_cmd *cmd, int ch, const char *arg,
    struct tu_common *c)
{
	switch (ch) {
	case 'f':
		c->opts.format = arg;
		return true;
	case 'U':
		c->opts.flags |= IMG_NOLOCK;
		return true;
	case 'h':
		tu_help(cmd);
		return true;
	case 'j':
	case OPT_JSON:
		c->json = true;
		return true;
	case 'q':
		c->quiet = true;
		return true;
	case 'V':
		tu_version(cmd);
		return true;
	case OPT_OUTPUT:
		c->json = tu_parse_output(cmd, arg);
		return true;
	case OPT_MAX_FINDINGS:
		c->maxf = tu_parse_count(cmd, "--max-findings", arg);
		return true;
	case OPT_COLOR:
		if (arg == NULL || strcmp(arg, "always") == 0)
			c->color = TU_COLOR_ALWAYS;
		else if (strcmp(arg, "never") == 0)
			c->color = TU_COLOR_NEVER;
		else if (strcmp(arg, "auto") == 0)
			c->color = TU_COLOR_AUTO;
		else {
			warnx("--color expects 'auto', 'always' or 'never', "
			    "not '%s'", arg);
			tu_bad_usage(cmd);
		}
		return true;
	case OPT_KEY_FILE:
		c->key.file = arg;
		return true;
	case OPT_KEY_HEX:
		c->key.hex = arg;
		return true;
	case OPT_PASSWORD_FILE:
		c->key.password_file = arg;
		return true;
	case OPT_LIST_OPTIONS:
		tu_list_options(cmd);
		return true;
	}
	return false;
}

void
tu_common_finish(const struct tu_cmd *cmd, struct tu_common *c)
{
	const char *const	*f;
	char			 known[256];

	if (c->opts.format != NULL && !img_format_known(c->opts.format)) {
		known[0] = '\0';
		for (f = img_format_names(); *f != NULL; f++)
			snprintf(known + strlen(known), sizeof(known) -
			    strlen(known), "%s%s", f == img_format_names() ?
			    "" : ", ", *f);
		tu_fail(c, NULL, "unknown format '%s' (known formats: %s)",
		    c->opts.format, known);
	}
	color_mode = c->color;
	key_ctx = c;
	tu_key_load(cmd, &c->key, &c->opts);
}

static char		 sig_msg[512];
static size_t		 sig_len;
static size_t		 sig_base;

static void
on_fatal_signal(int sig)
{
	ssize_t	n;

	img_out_cleanup();
	n = write(STDERR_FILENO, sig_msg, sig_len);
	(void)n;
	_exit(128 + sig);
}

void
tu_signals(const char *prog)
{
	struct sigaction	sa;

	snprintf(sig_msg, sizeof(sig_msg), "%s: interrupted\n", prog);
	sig_base = sig_len = strlen(sig_msg);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fatal_signal;
	sigfillset(&sa.sa_mask);
	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)sigaction(SIGHUP, &sa, NULL);
}

void
tu_fail(const struct tu_common *c, const char *file, const char *fmt, ...)
{
	struct json_object	*doc;
	va_list			 va;
	char			 why[1024];

	va_start(va, fmt);
	vsnprintf(why, sizeof(why), fmt, va);
	va_end(va);
	img_str_clean(why);
	fflush(stdout);
	warnx("%s", why);
	if (c != NULL && c->json && !c->quiet) {
		doc = json_object_new_object();
		if (file != NULL)
			json_object_object_add(doc, "filename",
			    json_object_new_string(file));
		json_object_object_add(doc, "error",
		    json_object_new_string(why));
		tu_json_write(doc, stdout, c->lines);
		json_object_put(doc);
	}
	exit(1);
}

void
tu_check_reason(const struct report *rp, const char *err, const char *file,
    char *buf, size_t len)
{
	const struct pr_info	*pi;
	size_t			 i;

	if (err != NULL) {
		snprintf(buf, len, "'%s': check failed: %s", file, err);
		img_str_clean(buf);
		return;
	}
	for (i = 0; i < rp->nf; i++) {
		pi = pr_info_get(rp->f[i].id);
		if (pi->sev != PR_SEV_FATAL)
			continue;
		snprintf(buf, len, "'%s': check failed: %s: %s", file,
		    pi->name, rp->f[i].msg);
		img_str_clean(buf);
		return;
	}
	snprintf(buf, len, "'%s': check failed: %" PRIu64 " check errors",
	    file, rp->c.check_errors);
	img_str_clean(buf);
}

void
tu_signal_note(const char *note)
{
	sigset_t	all, old;

	/* Built with the signals held, so the handler never sees half. */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	if (note == NULL)
		sig_len = sig_base;
	else
		sig_len = sig_base + (size_t)snprintf(sig_msg + sig_base,
		    sizeof(sig_msg) - sig_base, "%s\n", note);
	if (sig_len >= sizeof(sig_msg))
		sig_len = sizeof(sig_msg) - 1;
	sigprocmask(SIG_SETMASK, &old, NULL);
}

void
tu_batch_fail(const struct tu_cmd *cmd, const struct tu_common *tc,
    const char *path, const char *why, FILE *out, FILE *err)
{
	struct json_object	*doc;
	char			*s = xstrdup(why);

	img_str_clean(s);
	if (tc->json && !tc->quiet) {
		doc = json_object_new_object();
		json_object_object_add(doc, "filename",
		    json_object_new_string(path));
		json_object_object_add(doc, "error", json_object_new_string(s));
		tu_json_write(doc, out, true);
		json_object_put(doc);
	}
	fflush(out);
	fprintf(err, "%s: %s\n", cmd->prog, s);
	free(s);
}

void
tu_json_write(struct json_object *doc, FILE *fp, bool line)
{
	char	*s;

	/* Names from images may hold any bytes: keep the JSON UTF-8. */
	s = xstrdup(json_object_to_json_string_ext(doc,
	    (line ? JSON_C_TO_STRING_PLAIN : JSON_C_TO_STRING_PRETTY) |
	    JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE));
	img_utf8_fix(s);
	fputs(s, fp);
	fputc('\n', fp);
	free(s);
}

void
tu_json_print(struct json_object *doc)
{
	tu_json_write(doc, stdout, false);
}

/* Print a string from an image without letting it drive the terminal. */
static void
put_clean(FILE *fp, const char *str)
{
	char	*s = xstrdup(str);

	img_str_clean(s);
	fputs(s, fp);
	free(s);
}

static void
info_human_value(struct json_object *v, int depth, bool spaces, FILE *fp);

/* "key: value" lines; with spaces, '-' in keys as ' ' (qemu's dump). */
static void
info_human_obj(struct json_object *doc, int depth, bool spaces, FILE *fp)
{
	const char	*k;

	json_object_object_foreach(doc, key, val) {
		fprintf(fp, "%*s", depth * 4, "");
		for (k = key; *k != '\0'; k++)
			fputc(spaces && *k == '-' ? ' ' : *k, fp);
		fputc(':', fp);
		info_human_value(val, depth, spaces, fp);
	}
}

static void
info_human_value(struct json_object *v, int depth, bool spaces, FILE *fp)
{
	size_t	i, n;

	switch (json_object_get_type(v)) {
	case json_type_object:
		fputc('\n', fp);
		info_human_obj(v, depth + 1, spaces, fp);
		break;
	case json_type_array:
		n = json_object_array_length(v);
		fprintf(fp, n == 0 ? " (none)\n" : "\n");
		for (i = 0; i < n; i++) {
			struct json_object	*e = json_object_array_get_idx(v, i);

			fprintf(fp, "%*s[%zu]:", (depth + 1) * 4, "", i);
			info_human_value(e, depth + 1, spaces, fp);
		}
		break;
	case json_type_string:
		fputc(' ', fp);
		put_clean(fp, json_object_get_string(v));
		fputc('\n', fp);
		break;
	default:
		fprintf(fp, " %s\n", json_object_to_json_string(v));
		break;
	}
}

void
tu_size_words(uint64_t v, char *buf, size_t len)
{
	static const char *const	 sfx[] = { "", "Ki", "Mi", "Gi", "Ti",
					    "Pi", "Ei" };
	double				 x = (double)v * 1.024;
	int				 i = 0;

	/* qemu's size_to_str(): the next unit from 1000 of this one. */
	while (i < 6 && x >= (double)(1ULL << (10 * (i + 1))))
		i++;
	snprintf(buf, len, "%0.3g %sB", (double)v / (double)(1ULL << (10 * i)),
	    sfx[i]);
}

static int64_t
info_int(struct json_object *doc, const char *key, bool *has)
{
	struct json_object	*v;

	*has = json_object_object_get_ex(doc, key, &v) && v != NULL;
	return *has ? json_object_get_int64(v) : 0;
}

static const char *
info_str(struct json_object *doc, const char *key)
{
	struct json_object	*v;

	if (!json_object_object_get_ex(doc, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* qemu-img info's snapshot table (bdrv_snapshot_dump(), QEMU 7.2). */
static void
info_snapshots(struct json_object *arr, FILE *fp)
{
	struct json_object	*sn;
	const char		*id, *name;
	char			 date[32], clock[64], size[32], icount[32];
	char			 idb[256], nameb[1024];
	struct tm		 tm;
	time_t			 t;
	uint64_t		 ns;
	size_t			 i;
	bool			 has;

	fputs("Snapshot list:\n", fp);
	fprintf(fp, "%-10s%-17s%8s%20s%13s%11s\n", "ID", "TAG", "VM SIZE",
	    "DATE", "VM CLOCK", "ICOUNT");
	for (i = 0; i < json_object_array_length(arr); i++) {
		sn = json_object_array_get_idx(arr, i);
		id = info_str(sn, "id");
		name = info_str(sn, "name");
		t = (time_t)info_int(sn, "date-sec", &has);
		date[0] = '\0';
		if (localtime_r(&t, &tm) != NULL)
			strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
		ns = (uint64_t)info_int(sn, "vm-clock-sec", &has) *
		    1000000000ULL + (uint64_t)info_int(sn, "vm-clock-nsec", &has);
		snprintf(clock, sizeof(clock), "%02d:%02d:%02d.%03d",
		    (int)(ns / 1000000000ULL / 3600),
		    (int)(ns / 1000000000ULL / 60 % 60),
		    (int)(ns / 1000000000ULL % 60), (int)(ns / 1000000 % 1000));
		tu_size_words((uint64_t)info_int(sn, "vm-state-size", &has),
		    size, sizeof(size));
		icount[0] = '\0';
		if (info_int(sn, "icount", &has), has)
			snprintf(icount, sizeof(icount), "%" PRId64,
			    info_int(sn, "icount", &has));
		/* Names from the image: cleaned before they are padded. */
		snprintf(idb, sizeof(idb), "%s", id != NULL ? id : "");
		snprintf(nameb, sizeof(nameb), "%s", name != NULL ? name : "");
		img_str_clean(idb);
		img_str_clean(nameb);
		fprintf(fp, "%-9s %-16s %8s%20s%13s%11s\n", idb, nameb, size,
		    date, clock, icount);
	}
}

void
tu_info_human(struct json_object *doc, FILE *fp)
{
	static const char *const	 qemu_keys[] = { "filename", "format",
	    "virtual-size", "actual-size", "encrypted", "cluster-size",
	    "dirty-flag", "backing-filename", "full-backing-filename",
	    "backing-filename-format", "snapshots", "format-specific", NULL };
	struct json_object		*rest, *v, *data;
	const char			*s, *full;
	char				 a[32], b[32];
	int64_t				 n;
	size_t				 i;
	bool				 has;

	/* First what qemu-img info prints, as it prints it (QEMU 7.2). */
	fputs("image: ", fp);
	put_clean(fp, (s = info_str(doc, "filename")) != NULL ? s : "");
	fputs("\nfile format: ", fp);
	put_clean(fp, (s = info_str(doc, "format")) != NULL ? s : "");
	fputc('\n', fp);
	n = info_int(doc, "virtual-size", &has);
	if (has) {
		tu_size_words((uint64_t)n, a, sizeof(a));
		fprintf(fp, "virtual size: %s (%" PRId64 " bytes)\n", a, n);
	}
	n = info_int(doc, "actual-size", &has);
	if (has)
		tu_size_words((uint64_t)n, b, sizeof(b));
	fprintf(fp, "disk size: %s\n", has ? b : "unavailable");
	if (json_object_object_get_ex(doc, "encrypted", &v) &&
	    json_object_get_boolean(v))
		fputs("encrypted: yes\n", fp);
	n = info_int(doc, "cluster-size", &has);
	if (has)
		fprintf(fp, "cluster_size: %" PRId64 "\n", n);
	if (json_object_object_get_ex(doc, "dirty-flag", &v) &&
	    json_object_get_boolean(v))
		fputs("cleanly shut down: no\n", fp);
	if ((s = info_str(doc, "backing-filename")) != NULL) {
		fputs("backing file: ", fp);
		put_clean(fp, s);
		if ((full = info_str(doc, "full-backing-filename")) == NULL)
			fputs(" (cannot determine actual path)", fp);
		else if (strcmp(s, full) != 0) {
			fputs(" (actual path: ", fp);
			put_clean(fp, full);
			fputc(')', fp);
		}
		fputc('\n', fp);
		if ((s = info_str(doc, "backing-filename-format")) != NULL) {
			fputs("backing file format: ", fp);
			put_clean(fp, s);
			fputc('\n', fp);
		}
	}
	if (json_object_object_get_ex(doc, "snapshots", &v) &&
	    json_object_is_type(v, json_type_array) &&
	    json_object_array_length(v) > 0)
		info_snapshots(v, fp);
	if (json_object_object_get_ex(doc, "format-specific", &v) &&
	    json_object_object_get_ex(v, "data", &data) &&
	    json_object_is_type(data, json_type_object)) {
		fputs("Format specific information:\n", fp);
		info_human_obj(data, 1, true, fp);
	}

	/* Then what we add, as the JSON has it. */
	rest = json_object_new_object();
	json_object_object_foreach(doc, key, val) {
		for (i = 0; qemu_keys[i] != NULL; i++)
			if (strcmp(key, qemu_keys[i]) == 0)
				break;
		if (qemu_keys[i] == NULL)
			json_object_object_add(rest, key, json_object_get(val));
	}
	info_human_obj(rest, 0, false, fp);
	json_object_put(rest);
}

static void
add_u64(struct json_object *o, const char *key, uint64_t v)
{
	/* Unsigned: an offset past 2^63 from a hostile image stays positive. */
	json_object_object_add(o, key, json_object_new_uint64(v));
}

void
tu_counts_json(const struct check_counts *c, struct json_object *doc)
{
	add_u64(doc, "check-errors", c->check_errors);
#define NZ(key, v)	do { if ((v) != 0) add_u64(doc, key, v); } while (0)
	NZ("image-end-offset", c->image_end_offset);
	NZ("corruptions", c->corruptions);
	NZ("leaks", c->leaks);
	NZ("corruptions-fixed", c->corruptions_fixed);
	NZ("leaks-fixed", c->leaks_fixed);
	NZ("total-clusters", c->total_clusters);
	NZ("allocated-clusters", c->allocated_clusters);
	NZ("fragmented-clusters", c->fragmented_clusters);
	NZ("compressed-clusters", c->compressed_clusters);
#undef NZ
}

static struct json_object *
finding_json(const struct finding *f, bool repairing)
{
	const struct pr_info	*pi = pr_info_get(f->id);
	struct json_object	*o = json_object_new_object();

	json_object_object_add(o, "code", json_object_new_string(pi->name));
	json_object_object_add(o, "number", json_object_new_int64(pi->code));
	json_object_object_add(o, "severity",
	    json_object_new_string(pr_sev_name(pi->sev)));
	json_object_object_add(o, "message", json_object_new_string(f->msg));
	if (f->flags & PC_HOST) {
		add_u64(o, "host-offset", f->host_off);
		add_u64(o, "host-length", f->host_len);
	}
	if (f->path != NULL)
		json_object_object_add(o, "path",
		    json_object_new_string(f->path));
	if (f->flags & PC_GUEST) {
		add_u64(o, "guest-offset", f->guest_off);
		add_u64(o, "guest-length", f->guest_len);
	}
	if (f->flags & PC_ENTRY) {
		/* The entry holding the bad value, where it is elsewhere. */
		add_u64(o, "entry-offset", f->entry_off);
		add_u64(o, "entry-length", f->entry_len);
	}
	if (repairing)
		json_object_object_add(o, "fixed",
		    json_object_new_boolean(f->fixed));
	return o;
}

void
tu_report_json(const struct report *rp, struct json_object *doc)
{
	struct json_object	*arr, *by;
	const struct pr_info	*pi;
	size_t			 i;

	json_object_object_add(doc, "schema", json_object_new_int(1));
	if (rp->extra != NULL) {
		json_object_object_foreach(rp->extra, key, val)
			json_object_object_add(doc, key, json_object_get(val));
	}
	arr = json_object_new_array();
	for (i = 0; i < rp->nf; i++)
		json_object_array_add(arr, finding_json(&rp->f[i],
		    rp->repair != 0));
	json_object_object_add(doc, "findings", arr);
	add_u64(doc, "findings-omitted", rp->omitted);
	by = json_object_new_object();
	for (i = 0; i < PR_COUNT; i++) {
		if (rp->seen[i] == 0)
			continue;
		pi = pr_info_get((enum pr_id)i);
		add_u64(by, pi->name, rp->seen[i]);
	}
	json_object_object_add(doc, "findings-by-code", by);
}

void
tu_report_human(const struct report *rp, const char *name, FILE *fp)
{
	const struct check_counts	*c = &rp->c;
	const struct pr_info		*pi;
	const struct finding		*f;
	size_t				 i;
	bool				 color = tu_color_on(fp);

	for (i = 0; i < rp->nf; i++) {
		f = &rp->f[i];
		pi = pr_info_get(f->id);
		if (color)
			fprintf(fp, "%s%-10s" SGR_OFF " %s", sev_color(pi->sev),
			    pr_sev_name(pi->sev), pi->name);
		else
			fprintf(fp, "%-10s %s", pr_sev_name(pi->sev),
			    pi->name);
		if (f->flags & PC_HOST)
			fprintf(fp, " @0x%" PRIx64 "+0x%" PRIx64, f->host_off,
			    f->host_len);
		if (f->path != NULL) {
			fputs(" [", fp);
			put_clean(fp, f->path);
			fputc(']', fp);
		}
		fputs(": ", fp);
		put_clean(fp, f->msg);
		if (f->flags & PC_GUEST)
			fprintf(fp, " (guest 0x%" PRIx64 "+0x%" PRIx64 ")",
			    f->guest_off, f->guest_len);
		if (rp->repair != 0)
			fprintf(fp, f->fixed ? " [fixed]" : " [not fixed]");
		fputc('\n', fp);
	}
	if (rp->omitted > 0)
		fprintf(fp, "(%" PRIu64 " more findings not shown; "
		    "--max-findings=0 shows all)\n", rp->omitted);
	if (c->total_clusters != 0 && c->allocated_clusters != 0)
		fprintf(fp, "%" PRIu64 "/%" PRIu64 " = %0.2f%% allocated, "
		    "%0.2f%% fragmented, %0.2f%% compressed clusters\n",
		    c->allocated_clusters, c->total_clusters,
		    c->allocated_clusters * 100.0 / c->total_clusters,
		    c->fragmented_clusters * 100.0 / c->allocated_clusters,
		    c->compressed_clusters * 100.0 / c->allocated_clusters);
	if (c->image_end_offset != 0)
		fprintf(fp, "Image end offset: %" PRIu64 "\n",
		    c->image_end_offset);
	if (rp->repair != 0 && (c->corruptions_fixed || c->leaks_fixed))
		fprintf(fp, "repaired: %" PRIu64 " leaked clusters, %" PRIu64
		    " corruptions\n", c->leaks_fixed, c->corruptions_fixed);
	fprintf(fp, "%s: ", name);
	if (c->corruptions == 0 && c->leaks == 0 && c->check_errors == 0)
		fprintf(fp, "%sno errors were found%s\n", color ? SGR_CLEAN :
		    "", color ? SGR_OFF : "");
	else
		fprintf(fp, "%s%" PRIu64 " corruptions, %" PRIu64 " leaks, %"
		    PRIu64 " check errors: %s%s\n", !color ? "" :
		    sev_color(c->check_errors ? PR_SEV_FATAL : c->corruptions ?
		    PR_SEV_CORRUPT : PR_SEV_LEAK), c->corruptions, c->leaks,
		    c->check_errors, c->check_errors ? "check failed" :
		    c->corruptions ? "data may be corrupted" :
		    "space wasted, data safe", color ? SGR_OFF : "");
}

int
tu_check_exit(const struct report *rp, int rc)
{
	if (rc == -IMG_ENOCHECK)
		return EXIT_NOCHECK;
	if (rc != 0 || rp->c.check_errors > 0)
		return EXIT_FAILED;
	if (rp->c.corruptions > 0)
		return EXIT_CORRUPT;
	if (rp->c.leaks > 0)
		return EXIT_LEAKS;
	return EXIT_CLEAN;
}
