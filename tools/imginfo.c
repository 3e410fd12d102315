/* SPDX-License-Identifier: MIT */
/*
 * imginfo.c --- describe an image; JSON keys are a superset of
 * qemu-img info --output=json.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "toolutil.h"
#include "core/banned.h"

static const struct tu_opt	info_opts[] = {
	TU_OPT_FORMAT,
	TU_OPT_FORCE_SHARE,
	TU_OPT_HELP,
	TU_OPT_JSON,
	TU_OPT_VERSION,
	TU_OPT_OUTPUT,
	TU_OPTS_KEY,
	TU_OPT_LIST,
	TU_OPT_END
};

static const struct tu_cmd	info_cmd = {
	"imginfo",
	"[-jhUV] [-f format] [--output=human|json] image",
	"Describe a disk image or backup.",
	info_opts
};

int
main(int argc, char **argv)
{
	struct tu_common	 tc;
	struct img		*img;
	struct json_object	*doc;
	char			 errbuf[512];
	int			 ch, rc;

	tu_common_init(&tc);
	while ((ch = getopt_long(argc, argv, tu_shortopts(&info_cmd),
	    tu_longopts(&info_cmd), NULL)) != -1)
		if (!tu_common_opt(&info_cmd, ch, optarg, &tc))
			tu_bad_usage(&info_cmd);
	argc -= optind;
	argv += optind;
	if (argc != 1)
		tu_bad_usage(&info_cmd);
	tu_common_finish(&info_cmd, &tc);
	tu_signals(info_cmd.prog);
	if ((rc = img_open(argv[0], &tc.opts, &img, errbuf, sizeof(errbuf))) != 0)
		tu_fail(&tc, argv[0], "cannot open '%s': %s", argv[0], errbuf);
	if ((rc = img_info(img, &doc)) != 0) {
		snprintf(errbuf, sizeof(errbuf), "%s", img_error(img) != NULL ?
		    img_error(img) : img_strerror(rc));
		img_close(img);
		tu_fail(&tc, argv[0], "'%s': %s", argv[0], errbuf);
	}
	json_object_object_add(doc, "filename", json_object_new_string(argv[0]));
	if (tc.json)
		tu_json_print(doc);
	else
		tu_info_human(doc, stdout);
	json_object_put(doc);
	img_close(img);
	return 0;
}
