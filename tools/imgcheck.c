/* SPDX-License-Identifier: MIT */
/*
 * imgcheck.c --- check images read-only; qemu-img check's verdicts and
 * exit codes, plus one finding per problem.  Any number of images, N at
 * a time (batch.c), output in argument order; --chain checks one backup
 * chain instead.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "batch.h"
#include "toolutil.h"
#include "view/view.h"
#include "core/banned.h"

enum {
	OPT_FORCE = OPT_TOOL_BASE,
	OPT_TUI
};

static const struct tu_opt	check_opts[] = {
	{ "null", no_argument, '0', NULL,
	    "the list on standard input ('-') is NUL-separated" },
	TU_OPT_FORMAT,
	TU_OPT_FORCE_SHARE,
	TU_OPT_HELP,
	{ "jobs", required_argument, 'j', "N",
	    "check N images at a time (default: the number of CPUs)" },
	TU_OPT_QUIET,
	{ "repair", required_argument, 'r', "LEVEL", NULL },
	TU_OPT_VERSION,
	TU_OPT_JSON_LONG,
	TU_OPT_OUTPUT,
	TU_OPT_MAXF,
	TU_OPT_COLOR,
	{ "chain", no_argument, OPT_CHAIN, NULL,
	    "the images are a backup chain, oldest first" },
	{ "force", no_argument, OPT_FORCE, NULL,
	    "walk the metadata even where qemu would refuse to open" },
	TU_OPTS_KEY,
	{ "tui", no_argument, OPT_TUI, NULL,
	    "browse the image in the terminal: map, bytes and findings" },
	{ "list-problems", no_argument, OPT_LIST_PROBLEMS, NULL,
	    "print the problem table and exit" },
	TU_OPT_LIST,
	TU_OPT_END
};

static const struct tu_cmd	check_cmd = {
	"imgcheck",
	"[-0hqUV] [-f format] [-j N] [--output=human|json] "
	    "[--color[=WHEN]] [--max-findings=N] [--chain] [--force] "
	    "image ... | -\n"
	    "       imgcheck --tui [-U] [-f format] [--force] image",
	"Check disk images or backups read-only and report every problem.",
	check_opts
};

struct check_ctx {
	const struct tu_common	*tc;
	bool			 force;
	bool			 many;		/* a run over several images */
};

/* How bad an exit status is: clean, no check, leaks, corrupt, failed. */
static int
check_rank(int ex)
{
	switch (ex) {
	case EXIT_CLEAN:
		return 0;
	case EXIT_NOCHECK:
		return 1;
	case EXIT_LEAKS:
		return 2;
	case EXIT_CORRUPT:
		return 3;
	default:
		return 4;
	}
}

static const char *
verdict(int ex)
{
	return ex == EXIT_CLEAN ? "clean" : ex == EXIT_LEAKS ? "leaks" :
	    ex == EXIT_CORRUPT ? "corrupt" : ex == EXIT_NOCHECK ? "no-check" :
	    "check-failed";
}

/* A format with no check: qemu-img check's words, exit 63. */
static int
check_none(const struct check_ctx *cx, const char *path, const char *fmt,
    FILE *out, FILE *err)
{
	struct json_object	*doc;

	/* Alone, qemu prints nothing; in a batch each image has its line. */
	if (cx->many && cx->tc->json && !cx->tc->quiet) {
		doc = json_object_new_object();
		json_object_object_add(doc, "filename",
		    json_object_new_string(path));
		json_object_object_add(doc, "format",
		    json_object_new_string(fmt));
		json_object_object_add(doc, "verdict",
		    json_object_new_string(verdict(EXIT_NOCHECK)));
		tu_json_write(doc, out, true);
		json_object_put(doc);
	}
	fflush(out);
	if (cx->many)
		fprintf(err, "%s: '%s': ", check_cmd.prog, path);
	else
		fprintf(err, "%s: ", check_cmd.prog);
	fprintf(err, "This image format does not support checks\n");
	return EXIT_NOCHECK;
}

/* The report of a check: the JSON line or the human block. */
static void
check_print(const struct check_ctx *cx, const char *name, const char *fmt,
    const struct report *rp, int ex, const char *why, FILE *out)
{
	struct json_object	*doc;

	if (cx->tc->quiet)
		return;
	if (!cx->tc->json) {
		tu_report_human(rp, name, out);
		return;
	}
	doc = json_object_new_object();
	json_object_object_add(doc, "filename", json_object_new_string(name));
	json_object_object_add(doc, "format", json_object_new_string(fmt));
	tu_counts_json(&rp->c, doc);
	json_object_object_add(doc, "verdict",
	    json_object_new_string(verdict(ex)));
	if (ex == EXIT_FAILED)
		json_object_object_add(doc, "error",
		    json_object_new_string(why));
	tu_report_json(rp, doc);
	tu_json_write(doc, out, true);
	json_object_put(doc);
}

static int
check_one(void *arg, const char *path, FILE *out, FILE *err)
{
	const struct check_ctx	*cx = arg;
	struct report		 rp;
	struct img		*img;
	char			 errbuf[512], why[1024];
	int			 rc, ex;

	rc = img_open(path, &cx->tc->opts, &img, errbuf, sizeof(errbuf));
	if (rc != 0) {
		snprintf(why, sizeof(why), "cannot open '%s': %s", path,
		    errbuf);
		tu_batch_fail(&check_cmd, cx->tc, path, why, out, err);
		return EXIT_FAILED;
	}
	if (!img_format_has_check(img_format(img))) {
		ex = check_none(cx, path, img_format(img), out, err);
		img_close(img);
		return ex;
	}
	report_init(&rp);
	rp.max_per_code = cx->tc->maxf;
	rp.force = cx->force;
	if (!cx->many)
		tp_attach(img, path, cx->tc);
	else
		img_set_readers(img, 1);	/* the run's threads share CPUs */
	rc = img_check(img, &rp);
	tp_end();
	ex = tu_check_exit(&rp, rc);
	/* Exit 1 says why: one line on stderr, the same in the JSON. */
	if (ex == EXIT_FAILED)
		tu_check_reason(&rp, rc == 0 ? NULL : img_error(img) != NULL ?
		    img_error(img) : img_strerror(rc), path, why, sizeof(why));
	if (rc == -IMG_ENOCHECK)
		ex = check_none(cx, path, img_format(img), out, err);
	else
		check_print(cx, path, img_format(img), &rp, ex, why, out);
	if (ex == EXIT_FAILED) {
		fflush(out);
		fprintf(err, "%s: %s\n", check_cmd.prog, why);
	}
	report_release(&rp);
	img_close(img);
	return ex;
}

/* --chain: the images are one backup chain, oldest first. */
static int
check_chain(const struct check_ctx *cx, char **paths, size_t n)
{
	struct report	  rp;
	struct img	**imgs;
	char		  errbuf[512], why[1024];
	size_t		  i, j;
	int		  rc, ex;

	imgs = xmalloc(n * sizeof(*imgs));
	for (i = 0; i < n; i++) {
		rc = img_open(paths[i], &cx->tc->opts, &imgs[i], errbuf,
		    sizeof(errbuf));
		if (rc != 0) {
			for (j = 0; j < i; j++)
				img_close(imgs[j]);
			free(imgs);
			tu_fail(cx->tc, paths[i], "cannot open '%s': %s",
			    paths[i], errbuf);
		}
	}
	report_init(&rp);
	rp.max_per_code = cx->tc->maxf;
	rp.force = cx->force;
	rc = img_check_chain(imgs, n, &rp);
	ex = tu_check_exit(&rp, rc);
	if (ex == EXIT_FAILED)
		tu_check_reason(&rp, rc == 0 ? NULL : img_strerror(rc),
		    paths[0], why, sizeof(why));
	if (rc == -IMG_ENOCHECK)
		warnx("This image format does not support checks");
	else
		check_print(cx, paths[0], img_format(imgs[0]), &rp, ex, why,
		    stdout);
	if (ex == EXIT_FAILED) {
		fflush(stdout);
		warnx("%s", why);
	}
	report_release(&rp);
	for (i = 0; i < n; i++)
		img_close(imgs[i]);
	free(imgs);
	return ex;
}

/* --tui: the viewer, starting in the findings pane. */
static int
check_tui(const struct tu_common *tc, const char *path, bool force)
{
	struct view_opts	vo;

	memset(&vo, 0, sizeof(vo));
	vo.prog = check_cmd.prog;
	vo.path = path;
	vo.img = tc->opts;
	vo.findings = true;
	vo.force = force;
	vo.maxf = tc->maxf;
	return view_main(&vo);
}

int
main(int argc, char **argv)
{
	struct tu_common	  tc;
	struct check_ctx	  cx;
	struct tu_batch		  b;
	char			**paths;
	size_t			  i, n, jobs = 0;
	bool			  chain = false, list = false, nul = false;
	bool			  force = false, tui = false;
	int			  ch, ex;

	tu_common_init(&tc);
	tc.lines = true;
	while ((ch = getopt_long(argc, argv, tu_shortopts(&check_cmd),
	    tu_longopts(&check_cmd), NULL)) != -1) {
		switch (ch) {
		case '0':
			nul = true;
			continue;
		case 'j':
			jobs = tu_parse_count(&check_cmd, "--jobs", optarg);
			continue;
		case 'r':
			warnx("imgcheck only reads; repairs are imgrepair's: "
			    "imgrepair -r %s [-o NEW | --in-place] image",
			    optarg);
			tu_bad_usage(&check_cmd);
		}
		if (tu_common_opt(&check_cmd, ch, optarg, &tc))
			continue;
		switch (ch) {
		case OPT_CHAIN:
			chain = true;
			break;
		case OPT_LIST_PROBLEMS:
			list = true;
			break;
		case OPT_FORCE:
			force = true;
			break;
		case OPT_TUI:
			tui = true;
			break;
		default:
			tu_bad_usage(&check_cmd);
		}
	}
	if (list)
		tu_list_problems(tc.json);
	argc -= optind;
	argv += optind;
	if (argc < 1)
		tu_bad_usage(&check_cmd);
	tu_common_finish(&check_cmd, &tc);
	if (tui) {
		/* One image, browsed: the viewer owns the terminal. */
		if (argc != 1 || chain || strcmp(argv[0], "-") == 0)
			tu_bad_usage(&check_cmd);
		return check_tui(&tc, argv[0], force);
	}
	tu_signals(check_cmd.prog);
	(void)pr_info_get((enum pr_id)0);	/* its table, before threads */

	memset(&cx, 0, sizeof(cx));
	cx.tc = &tc;
	cx.force = force;
	if (chain) {
		paths = tu_paths_all(argc, argv, nul, &n);
		if (n == 0)
			tu_bad_usage(&check_cmd);
		ex = check_chain(&cx, paths, n);
		for (i = 0; i < n; i++)
			free(paths[i]);
		free(paths);
		return ex;
	}
	cx.many = argc > 1 || strcmp(argv[0], "-") == 0;
	memset(&b, 0, sizeof(b));
	b.one = check_one;
	b.arg = &cx;
	b.jobs = jobs != 0 ? jobs : tu_ncpus();
	b.nul = nul;
	b.blank = !tc.json;
	b.rank = check_rank;
	return tu_batch_run(&b, argc, argv);
}
