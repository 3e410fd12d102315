/* SPDX-License-Identifier: MIT */
/*
 * imginfo.c --- describe images; JSON keys are a superset of
 * qemu-img info --output=json.  Any number of images, N at a time
 * (batch.c), output in argument order.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "batch.h"
#include "toolutil.h"
#include "core/banned.h"

static const struct tu_opt	info_opts[] = {
	{ "null", no_argument, '0', NULL,
	    "the list on standard input ('-') is NUL-separated" },
	TU_OPT_FORMAT,
	TU_OPT_FORCE_SHARE,
	TU_OPT_HELP,
	{ "jobs", required_argument, 'j', "N",
	    "describe N images at a time (default: the number of CPUs)" },
	TU_OPT_QUIET,
	TU_OPT_VERSION,
	TU_OPT_JSON_LONG,
	TU_OPT_OUTPUT,
	TU_OPTS_KEY,
	TU_OPT_LIST,
	TU_OPT_END
};

static const struct tu_cmd	info_cmd = {
	"imginfo",
	"[-0hqUV] [-f format] [-j N] [--output=human|json] image ... | -",
	"Describe disk images or backups.",
	info_opts
};

/* Worse is higher: 0 described, 1 failed. */
static int
info_rank(int ex)
{
	return ex == 0 ? 0 : 1;
}

static int
info_one(void *arg, const char *path, FILE *out, FILE *err)
{
	const struct tu_common	*tc = arg;
	struct img		*img;
	struct json_object	*doc;
	char			 errbuf[512], why[1024];
	int			 rc;

	if ((rc = img_open(path, &tc->opts, &img, errbuf,
	    sizeof(errbuf))) != 0) {
		snprintf(why, sizeof(why), "cannot open '%s': %s", path,
		    errbuf);
		tu_batch_fail(&info_cmd, tc, path, why, out, err);
		return 1;
	}
	if ((rc = img_info(img, &doc)) != 0) {
		snprintf(why, sizeof(why), "'%s': %s", path,
		    img_error(img) != NULL ? img_error(img) : img_strerror(rc));
		img_close(img);
		tu_batch_fail(&info_cmd, tc, path, why, out, err);
		return 1;
	}
	json_object_object_add(doc, "filename", json_object_new_string(path));
	if (tc->quiet)
		;
	else if (tc->json)
		tu_json_write(doc, out, true);
	else
		tu_info_human(doc, out);
	json_object_put(doc);
	img_close(img);
	return 0;
}

int
main(int argc, char **argv)
{
	struct tu_common	tc;
	struct tu_batch		b;
	size_t			jobs = 0;
	bool			nul = false;
	int			ch;

	tu_common_init(&tc);
	tc.lines = true;
	while ((ch = getopt_long(argc, argv, tu_shortopts(&info_cmd),
	    tu_longopts(&info_cmd), NULL)) != -1) {
		if (ch == '0')
			nul = true;
		else if (ch == 'j')
			jobs = tu_parse_count(&info_cmd, "--jobs", optarg);
		else if (!tu_common_opt(&info_cmd, ch, optarg, &tc))
			tu_bad_usage(&info_cmd);
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		tu_bad_usage(&info_cmd);
	tu_common_finish(&info_cmd, &tc);
	tu_signals(info_cmd.prog);

	memset(&b, 0, sizeof(b));
	b.one = info_one;
	b.arg = &tc;
	b.jobs = jobs != 0 ? jobs : tu_ncpus();
	b.nul = nul;
	b.blank = !tc.json;
	b.rank = info_rank;
	return tu_batch_run(&b, argc, argv);
}
