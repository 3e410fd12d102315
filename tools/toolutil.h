/* SPDX-License-Identifier: MIT */
/*
 * toolutil.h --- what the four tools share: options, output, exit codes.
 */
#ifndef TOOLUTIL_H
#define TOOLUTIL_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "libcore.h"

struct json_object;

/* Exit codes of imgcheck/imgrepair: qemu-img check's. */
enum {
	EXIT_CLEAN = 0,
	EXIT_FAILED = 1,
	EXIT_CORRUPT = 2,
	EXIT_LEAKS = 3,
	EXIT_NOCHECK = 63
};

/* One option: drives getopt_long, --help and --list-options. */
struct tu_opt {
	const char	*name;		/* long name */
	int		 has_arg;	/* no_argument, required_argument */
	int		 val;		/* short letter, or a value >= 256 */
	const char	*arg;		/* argument name for --help */
	const char	*help;		/* NULL: hidden */
};

/* Options every tool understands, with values >= 256. */
enum {
	OPT_OUTPUT = 256,
	OPT_LIST_OPTIONS,
	OPT_LIST_PROBLEMS,
	OPT_MAX_FINDINGS,
	OPT_KEY_HEX,
	OPT_KEY_FILE,
	OPT_PASSWORD_FILE,
	OPT_CHAIN,
	OPT_DRY_RUN,
	OPT_IN_PLACE,
	OPT_UNDO,
	OPT_NO_UNDO,
	OPT_EXTRACT,
	OPT_APPLY_UNDO,
	OPT_JSON,		/* --json where -j means --jobs */
	OPT_COLOR,
	OPT_TOOL_BASE = 512	/* a tool's own options start here */
};

struct tu_cmd {
	const char		*prog;
	const char		*synopsis;	/* after "usage: prog " */
	const char		*summary;	/* one line */
	const struct tu_opt	*opts;		/* ends with name NULL */
};

/* Key sources for encrypted formats; tu_key_load() fills opts. */
struct tu_key {
	const char	*hex;
	const char	*file;
	const char	*password_file;
};
/* Option-table entries every tool shares. */
#define TU_OPT_FORMAT	{ "format", required_argument, 'f', "FMT", \
			    "image format (default: detect)" }
#define TU_OPT_FORCE_SHARE { "force-share", no_argument, 'U', NULL, \
			    "read without taking QEMU's image locks" }
#define TU_OPT_HELP	{ "help", no_argument, 'h', NULL, "show this help" }
#define TU_OPT_JSON	{ "json", no_argument, 'j', NULL, \
			    "same as --output=json" }
#define TU_OPT_JSON_LONG { "json", no_argument, OPT_JSON, NULL, \
			    "same as --output=json" }
#define TU_OPT_COLOR	{ "color", optional_argument, OPT_COLOR, \
			    "auto|always|never", "colour the severities: " \
			    "auto (a terminal and no NO_COLOR), always, never" }
#define TU_OPT_QUIET	{ "quiet", no_argument, 'q', NULL, \
			    "print nothing; the exit status tells" }
#define TU_OPT_VERSION	{ "version", no_argument, 'V', NULL, \
			    "show the version" }
#define TU_OPT_OUTPUT	{ "output", required_argument, OPT_OUTPUT, \
			    "human|json", "output format (default human)" }
#define TU_OPT_MAXF	{ "max-findings", required_argument, \
			    OPT_MAX_FINDINGS, "N", "keep at most N findings " \
			    "per code (0 = all; default 100)" }
#define TU_OPTS_KEY \
	{ "key-file", required_argument, OPT_KEY_FILE, "FILE", \
	    "key: 32 raw bytes or 64 hex digits" }, \
	{ "key-hex", required_argument, OPT_KEY_HEX, "HEX", \
	    "key as 64 hex digits (visible to other users)" }, \
	{ "password-file", required_argument, OPT_PASSWORD_FILE, "FILE", \
	    "derive the key from the password in FILE" }
#define TU_OPT_LIST	{ "list-options", no_argument, OPT_LIST_OPTIONS, \
			    NULL, NULL }
#define TU_OPT_END	{ NULL, 0, 0, NULL, NULL }

/* What the shared options set. */
struct tu_common {
	struct img_opts	opts;
	struct tu_key	key;
	bool		json;
	bool		quiet;
	bool		lines;		/* JSON: one document a line */
	int		color;		/* enum tu_color */
	size_t		maxf;		/* --max-findings, default 100 */
};

/* --color: auto colours a terminal unless NO_COLOR is set. */
enum tu_color {
	TU_COLOR_AUTO,
	TU_COLOR_ALWAYS,
	TU_COLOR_NEVER
};

void	tu_common_init(struct tu_common *c);
/* Handle a shared option; false when ch is the tool's own. */
bool	tu_common_opt(const struct tu_cmd *cmd, int ch, const char *arg,
	    struct tu_common *c);
/* After parsing: check the format name and load the key. */
void	tu_common_finish(const struct tu_cmd *cmd, struct tu_common *c);

/* Build the getopt tables from cmd (static storage, one cmd per run). */
const struct option	*tu_longopts(const struct tu_cmd *cmd);
const char		*tu_shortopts(const struct tu_cmd *cmd);
void			 tu_usage(const struct tu_cmd *cmd, FILE *fp);
void			 tu_help(const struct tu_cmd *cmd);	/* exits 0 */
void			 tu_list_options(const struct tu_cmd *cmd);
void			 tu_version(const struct tu_cmd *cmd);	/* exits 0 */
void			 tu_bad_usage(const struct tu_cmd *cmd);	/* exits 1 */
void			 tu_list_problems(bool json);
/*
 * A problem's message template with its fields in words ("cluster
 * INDEX: refcount FOUND, WANTED references"), into buf.
 */
void			 tu_problem_words(const char *msg, char *buf,
			    size_t len);
/* What a repair does about id today: its fix's name, or "none". */
const char		*tu_problem_fix(enum pr_id id);

/* --output=human|json: true for json, exits 1 on anything else. */
bool	tu_parse_output(const struct tu_cmd *cmd, const char *v);
/*
 * A byte count: decimal or 0x hex, with an optional suffix k, M, G, T,
 * P, E (powers of 1024; "KiB", "kB" and "B" too); exits 1 on bad input.
 */
uint64_t tu_parse_size(const struct tu_cmd *cmd, const char *what,
	    const char *v);
/* A non-negative decimal count; exits 1 on bad input. */
size_t	tu_parse_count(const struct tu_cmd *cmd, const char *what,
	    const char *v);

void	tu_key_load(const struct tu_cmd *cmd, const struct tu_key *k,
	    struct img_opts *opts);

/* Print doc as JSON on stdout (4-space pretty printing, newline). */
void	tu_json_print(struct json_object *doc);
/* Write doc as JSON to fp: on one line (JSON Lines) or pretty. */
void	tu_json_write(struct json_object *doc, FILE *fp, bool line);
/*
 * An image of a batch that could not be opened: "prog: why" on err and,
 * in JSON mode unless quiet, {"filename", "error"} as a line on out.
 */
void	tu_batch_fail(const struct tu_cmd *cmd, const struct tu_common *tc,
	    const char *path, const char *why, FILE *out, FILE *err);
/*
 * Human rendering of an info object: what qemu-img info prints, laid out
 * as it lays it out (sizes in words and bytes, the snapshot table with
 * dates, "Format specific information"), then our own keys as "key:
 * value" lines, nested indented.
 */
void	tu_info_human(struct json_object *doc, FILE *fp);
/* A size as qemu words it: "64 MiB", "1.27 MiB", "0 B". */
void	tu_size_words(uint64_t v, char *buf, size_t len);

/* Add "schema", the findings and their omitted count to doc. */
void	tu_report_json(const struct report *rp, struct json_object *doc);
/* qemu-img check's counters, keys verbatim, zero ones left out as qemu. */
void	tu_counts_json(const struct check_counts *c, struct json_object *doc);
/*
 * Whether human output to fp gets colours, by --color (tu_common_finish()
 * records it): a memory stream counts as standard output.
 */
bool	tu_color_on(FILE *fp);
/* One line per finding, then counters and a one-line verdict. */
void	tu_report_human(const struct report *rp, const char *name,
	    FILE *fp);
/* The exit code for a check that returned rc with rp. */
int	tu_check_exit(const struct report *rp, int rc);

/*
 * SIGINT, SIGTERM and SIGHUP end the tool at once, at any point: a
 * temporary output is removed, one line (prog: interrupted, then note if
 * set) goes to stderr, and the exit status is 128 + the signal.  Writes
 * in place are safe to cut anywhere: the undo file covers them.
 */
void	tu_signals(const char *prog);
/*
 * End with exit status 1 and one line on stderr saying why ("prog: why");
 * with --output=json, stdout also gets {"filename": file, "error": why}
 * (file may be NULL).
 */
void	tu_fail(const struct tu_common *c, const char *file, const char *fmt,
	    ...) __attribute__((format(printf, 3, 4), noreturn));
void	tu_signal_note(const char *note);
/*
 * Why a check ends with exit status 1, for its stderr line and the
 * "error" of its JSON: err (the failed call's reason) when not NULL,
 * else the first fatal finding of rp, else the count of check errors.
 */
void	tu_check_reason(const struct report *rp, const char *err,
	    const char *file, char *buf, size_t len);

/*
 * progress.c: show how far a walk got on stderr once it passes a second
 * (IMGKIT_PROGRESS_DELAY; a terminal only; not with -q or JSON).
 * tp_begin() says whether the line will show; tp_update() is the hook
 * (bytes done of total); tp_attach() hooks it to img's walks; tp_end()
 * clears the line.
 */
bool	tp_begin(const char *name, const struct tu_common *tc);
void	tp_update(void *arg, uint64_t done, uint64_t total);
void	tp_attach(struct img *img, const char *name,
	    const struct tu_common *tc);
void	tp_end(void);

void	*xmalloc(size_t n);
char	*xstrdup(const char *s);

#endif /* TOOLUTIL_H */
