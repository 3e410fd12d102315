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
	{ "format", required_argument, 'f', "FMT",
	    "image format (default: detect)" },
	{ "help", no_argument, 'h', NULL, "show this help" },
	{ "json", no_argument, 'j', NULL, "same as --output=json" },
	{ "version", no_argument, 'V', NULL, "show the version" },
	{ "output", required_argument, OPT_OUTPUT, "human|json",
	    "output format (default human)" },
	{ "key-file", required_argument, OPT_KEY_FILE, "FILE",
	    "key: 32 raw bytes or 64 hex digits" },
	{ "key-hex", required_argument, OPT_KEY_HEX, "HEX",
	    "key as 64 hex digits (visible to other users)" },
	{ "password-file", required_argument, OPT_PASSWORD_FILE, "FILE",
	    "derive the key from the password in FILE" },
	{ "list-options", no_argument, OPT_LIST_OPTIONS, NULL, NULL },
	{ NULL, 0, 0, NULL, NULL }
};

static const struct tu_cmd	info_cmd = {
	"imginfo",
	"[-jhV] [-f format] [--output=human|json] image",
	"Describe a disk image or backup.",
	info_opts
};

int
main(int argc, char **argv)
{
	struct img_opts		 opts;
	struct tu_key		 key;
	struct img		*img;
	struct json_object	*doc;
	char			 errbuf[512];
	bool			 json = false;
	int			 ch, rc;

	memset(&opts, 0, sizeof(opts));
	memset(&key, 0, sizeof(key));
	while ((ch = getopt_long(argc, argv, tu_shortopts(&info_cmd),
	    tu_longopts(&info_cmd), NULL)) != -1) {
		switch (ch) {
		case 'f':
			opts.format = optarg;
			break;
		case 'h':
			tu_help(&info_cmd);
			break;
		case 'j':
			json = true;
			break;
		case 'V':
			tu_version(&info_cmd);
			break;
		case OPT_OUTPUT:
			json = tu_parse_output(&info_cmd, optarg);
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
		case OPT_LIST_OPTIONS:
			tu_list_options(&info_cmd);
			break;
		default:
			tu_bad_usage(&info_cmd);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 1)
		tu_bad_usage(&info_cmd);
	if (opts.format != NULL && !img_format_known(opts.format))
		errx(1, "unknown format '%s'", opts.format);
	tu_key_load(&info_cmd, &key, &opts);
	if ((rc = img_open(argv[0], &opts, &img, errbuf, sizeof(errbuf))) != 0)
		errx(1, "cannot open '%s': %s", argv[0], errbuf);
	if ((rc = img_info(img, &doc)) != 0) {
		img_close(img);
		errx(1, "'%s': %s", argv[0], img_strerror(rc));
	}
	json_object_object_add(doc, "filename", json_object_new_string(argv[0]));
	if (json)
		tu_json_print(doc);
	else
		tu_info_human(doc, stdout);
	json_object_put(doc);
	img_close(img);
	return 0;
}
