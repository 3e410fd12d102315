/* SPDX-License-Identifier: MIT */
/*
 * imgcheck.c --- check an image read-only; qemu-img check's verdicts and
 * exit codes, plus one finding per problem.
 */
#include <err.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "toolutil.h"
#include "core/banned.h"

static const struct tu_opt	check_opts[] = {
	{ "format", required_argument, 'f', "FMT",
	    "image format (default: detect)" },
	{ "help", no_argument, 'h', NULL, "show this help" },
	{ "json", no_argument, 'j', NULL, "same as --output=json" },
	{ "quiet", no_argument, 'q', NULL,
	    "print nothing; the exit status tells" },
	{ "version", no_argument, 'V', NULL, "show the version" },
	{ "output", required_argument, OPT_OUTPUT, "human|json",
	    "output format (default human)" },
	{ "max-findings", required_argument, OPT_MAX_FINDINGS, "N",
	    "keep at most N findings per code (0 = all; default 100)" },
	{ "chain", no_argument, OPT_CHAIN, NULL,
	    "the images are a backup chain, oldest first" },
	{ "key-file", required_argument, OPT_KEY_FILE, "FILE",
	    "key: 32 raw bytes or 64 hex digits" },
	{ "key-hex", required_argument, OPT_KEY_HEX, "HEX",
	    "key as 64 hex digits (visible to other users)" },
	{ "password-file", required_argument, OPT_PASSWORD_FILE, "FILE",
	    "derive the key from the password in FILE" },
	{ "list-problems", no_argument, OPT_LIST_PROBLEMS, NULL,
	    "print the problem table and exit" },
	{ "list-options", no_argument, OPT_LIST_OPTIONS, NULL, NULL },
	{ NULL, 0, 0, NULL, NULL }
};

static const struct tu_cmd	check_cmd = {
	"imgcheck",
	"[-jqhV] [-f format] [--output=human|json] [--max-findings=N] "
	    "[--chain] image ...",
	"Check a disk image or backup read-only and report every problem.",
	check_opts
};

static void
on_signal(int sig)
{
	(void)sig;
	img_interrupt();
}

int
main(int argc, char **argv)
{
	struct img_opts		  opts;
	struct tu_key		  key;
	struct report		  rp;
	struct img		**imgs;
	struct json_object	 *doc;
	char			  errbuf[512];
	bool			  json = false, quiet = false, chain = false;
	bool			  list = false;
	size_t			  maxf = 100;
	int			  ch, i, n, rc, ex;

	memset(&opts, 0, sizeof(opts));
	memset(&key, 0, sizeof(key));
	while ((ch = getopt_long(argc, argv, tu_shortopts(&check_cmd),
	    tu_longopts(&check_cmd), NULL)) != -1) {
		switch (ch) {
		case 'f':
			opts.format = optarg;
			break;
		case 'h':
			tu_help(&check_cmd);
			break;
		case 'j':
			json = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'V':
			tu_version(&check_cmd);
			break;
		case OPT_OUTPUT:
			json = tu_parse_output(&check_cmd, optarg);
			break;
		case OPT_MAX_FINDINGS:
			maxf = tu_parse_count(&check_cmd, "--max-findings",
			    optarg);
			break;
		case OPT_CHAIN:
			chain = true;
			break;
		case OPT_KEY_FILE:
			key.file = optarg;
			break;
		case OPT_KEY_HEX:
			key.hex = optarg;
			break;
		case OPT_PASSWORD_FILE:
			key.password_file = optarg;
			break;
		case OPT_LIST_PROBLEMS:
			list = true;
			break;
		case OPT_LIST_OPTIONS:
			tu_list_options(&check_cmd);
			break;
		default:
			tu_bad_usage(&check_cmd);
		}
	}
	if (list)
		tu_list_problems(json);
	argc -= optind;
	argv += optind;
	if (argc < 1 || (argc > 1 && !chain))
		tu_bad_usage(&check_cmd);
	if (opts.format != NULL && !img_format_known(opts.format))
		errx(1, "unknown format '%s'", opts.format);
	tu_key_load(&check_cmd, &key, &opts);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	imgs = xmalloc((size_t)argc * sizeof(*imgs));
	for (i = 0; i < argc; i++) {
		rc = img_open(argv[i], &opts, &imgs[i], errbuf, sizeof(errbuf));
		if (rc != 0) {
			warnx("cannot open '%s': %s", argv[i], errbuf);
			for (n = 0; n < i; n++)
				img_close(imgs[n]);
			free(imgs);
			return EXIT_FAILED;
		}
	}
	if (!chain && !img_format_has_check(img_format(imgs[0]))) {
		warnx("'%s': format '%s' does not support checks", argv[0],
		    img_format(imgs[0]));
		img_close(imgs[0]);
		free(imgs);
		return EXIT_NOCHECK;
	}

	report_init(&rp);
	rp.max_per_code = maxf;
	rc = chain ? img_check_chain(imgs, (size_t)argc, &rp) :
	    img_check(imgs[0], &rp);
	ex = tu_check_exit(&rp, rc);
	if (rc != 0 && rc != -IMG_ENOCHECK)
		warnx("'%s': check failed: %s", argv[0], img_strerror(rc));
	if (rc == -IMG_ENOCHECK)
		warnx("'%s': this image format does not support checks",
		    argv[0]);
	if (!quiet && rc != -IMG_ENOCHECK) {
		if (json) {
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
			if (rc != 0)
				json_object_object_add(doc, "error",
				    json_object_new_string(img_strerror(rc)));
			tu_report_json(&rp, doc);
			tu_json_print(doc);
			json_object_put(doc);
		} else
			tu_report_human(&rp, argv[0], stdout);
	}
	if (ex == EXIT_FAILED && rc == 0 && rp.c.check_errors > 0)
		warnx("'%s': check failed", argv[0]);
	report_release(&rp);
	for (i = 0; i < argc; i++)
		img_close(imgs[i]);
	free(imgs);
	return ex;
}
