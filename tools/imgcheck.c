/* SPDX-License-Identifier: MIT */
/*
 * imgcheck.c --- check an image read-only; qemu-img check's verdicts and
 * exit codes, plus one finding per problem.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "toolutil.h"
#include "core/banned.h"

static const struct tu_opt	check_opts[] = {
	TU_OPT_FORMAT,
	TU_OPT_FORCE_SHARE,
	TU_OPT_HELP,
	TU_OPT_JSON,
	TU_OPT_QUIET,
	TU_OPT_VERSION,
	TU_OPT_OUTPUT,
	TU_OPT_MAXF,
	{ "chain", no_argument, OPT_CHAIN, NULL,
	    "the images are a backup chain, oldest first" },
	{ "force", no_argument, OPT_TOOL_BASE, NULL,
	    "walk the metadata even where qemu would refuse to open" },
	TU_OPTS_KEY,
	{ "list-problems", no_argument, OPT_LIST_PROBLEMS, NULL,
	    "print the problem table and exit" },
	TU_OPT_LIST,
	TU_OPT_END
};

static const struct tu_cmd	check_cmd = {
	"imgcheck",
	"[-jqhUV] [-f format] [--output=human|json] [--max-findings=N] "
	    "[--chain] [--force] image ...",
	"Check a disk image or backup read-only and report every problem.",
	check_opts
};

int
main(int argc, char **argv)
{
	struct tu_common	  tc;
	struct report		  rp;
	struct img		**imgs;
	struct json_object	 *doc;
	char			  errbuf[512], why[1024];
	bool			  chain = false, list = false, force = false;
	int			  ch, i, n, rc, ex;

	tu_common_init(&tc);
	while ((ch = getopt_long(argc, argv, tu_shortopts(&check_cmd),
	    tu_longopts(&check_cmd), NULL)) != -1) {
		if (tu_common_opt(&check_cmd, ch, optarg, &tc))
			continue;
		switch (ch) {
		case OPT_CHAIN:
			chain = true;
			break;
		case OPT_LIST_PROBLEMS:
			list = true;
			break;
		case OPT_TOOL_BASE:
			force = true;
			break;
		default:
			tu_bad_usage(&check_cmd);
		}
	}
	if (list)
		tu_list_problems(tc.json);
	argc -= optind;
	argv += optind;
	if (argc < 1 || (argc > 1 && !chain))
		tu_bad_usage(&check_cmd);
	tu_common_finish(&check_cmd, &tc);
	tu_signals(check_cmd.prog);

	imgs = xmalloc((size_t)argc * sizeof(*imgs));
	for (i = 0; i < argc; i++) {
		rc = img_open(argv[i], &tc.opts, &imgs[i], errbuf, sizeof(errbuf));
		if (rc != 0) {
			for (n = 0; n < i; n++)
				img_close(imgs[n]);
			free(imgs);
			tu_fail(&tc, argv[i], "cannot open '%s': %s", argv[i],
			    errbuf);
		}
	}
	if (!chain && !img_format_has_check(img_format(imgs[0]))) {
		/* qemu-img check's own words (exit 63), for scripts. */
		warnx("This image format does not support checks");
		img_close(imgs[0]);
		free(imgs);
		return EXIT_NOCHECK;
	}

	report_init(&rp);
	rp.max_per_code = tc.maxf;
	rp.force = force;
	rc = chain ? img_check_chain(imgs, (size_t)argc, &rp) :
	    img_check(imgs[0], &rp);
	ex = tu_check_exit(&rp, rc);
	/* Exit 1 says why: one line on stderr, the same in the JSON. */
	if (ex == EXIT_FAILED)
		tu_check_reason(&rp, rc == 0 ? NULL : !chain &&
		    img_error(imgs[0]) != NULL ? img_error(imgs[0]) :
		    img_strerror(rc), argv[0], why, sizeof(why));
	if (rc == -IMG_ENOCHECK)
		warnx("This image format does not support checks");
	if (!tc.quiet && rc != -IMG_ENOCHECK) {
		if (tc.json) {
			doc = json_object_new_object();
			json_object_object_add(doc, "filename",
			    json_object_new_string(argv[0]));
			json_object_object_add(doc, "format",
			    json_object_new_string(img_format(imgs[0])));
			tu_counts_json(&rp.c, doc);
			json_object_object_add(doc, "verdict",
			    json_object_new_string(ex == EXIT_CLEAN ? "clean" :
			    ex == EXIT_LEAKS ? "leaks" : ex == EXIT_CORRUPT ?
			    "corrupt" : "check-failed"));
			if (ex == EXIT_FAILED)
				json_object_object_add(doc, "error",
				    json_object_new_string(why));
			tu_report_json(&rp, doc);
			tu_json_print(doc);
			json_object_put(doc);
		} else
			tu_report_human(&rp, argv[0], stdout);
	}
	if (ex == EXIT_FAILED) {
		fflush(stdout);
		warnx("%s", why);
	}
	report_release(&rp);
	for (i = 0; i < argc; i++)
		img_close(imgs[i]);
	free(imgs);
	return ex;
}
