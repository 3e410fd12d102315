/* SPDX-License-Identifier: MIT */
/*
 * imgmap.c --- map guest ranges to host offsets (a superset of qemu-img
 * map --output=json), or extract guest data or a named object.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "toolutil.h"
#include "core/banned.h"

static const struct tu_opt	map_opts[] = {
	TU_OPT_FORMAT,
	TU_OPT_FORCE_SHARE,
	TU_OPT_HELP,
	TU_OPT_JSON,
	{ "output-file", required_argument, 'o', "FILE",
	    "where --extract writes (default: stdout)" },
	TU_OPT_VERSION,
	TU_OPT_OUTPUT,
	{ "extract", optional_argument, OPT_EXTRACT, "WHAT",
	    "write the guest disk (or the object WHAT) instead of a map" },
	TU_OPTS_KEY,
	TU_OPT_LIST,
	TU_OPT_END
};

static const struct tu_cmd	map_cmd = {
	"imgmap",
	"[-jhUV] [-f format] [--output=human|json] "
	    "[--extract[=WHAT] [-o file]] image ...",
	"Map guest ranges of a disk image or backup to host offsets.",
	map_opts
};

struct map_out {
	bool		 json;
	bool		 first;
	const char	*name;
	int		 err;
	FILE		*fp;		/* JSON: a spool, stdout if none */
};

static int
map_print(void *arg, const struct map_ext *e)
{
	struct map_out	*mo = arg;

	if (mo->json) {
		fprintf(mo->fp, "%s{ \"start\": %" PRIu64 ", \"length\": %"
		    PRIu64 ", \"depth\": %d, \"present\": %s, \"zero\": %s, "
		    "\"data\": %s, \"compressed\": %s", mo->first ? "[" :
		    ",\n", e->start, e->length, e->depth,
		    e->present ? "true" : "false", e->zero ? "true" : "false",
		    e->data ? "true" : "false",
		    e->compressed ? "true" : "false");
		if (e->has_offset)
			fprintf(mo->fp, ", \"offset\": %" PRIu64, e->offset);
		if (e->owner != NULL) {
			struct json_object	*s;
			char			*t;

			/* Names from images: keep the JSON UTF-8. */
			s = json_object_new_string(e->owner);
			t = xstrdup(json_object_to_json_string(s));
			img_utf8_fix(t);
			fprintf(mo->fp, ", \"owner\": %s", t);
			free(t);
			json_object_put(s);
		}
		fprintf(mo->fp, "}");
		mo->first = false;
		return 0;
	}
	if (!e->data)
		return 0;
	if (mo->first)
		printf("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to",
		    "File");
	mo->first = false;
	if (!e->has_offset) {
		printf("%#-16" PRIx64 "%#-16" PRIx64 "%-16s%s%s%s\n", e->start,
		    e->length, e->compressed ? "compressed" : "-", mo->name,
		    e->owner ? "  " : "", e->owner ? e->owner : "");
		return 0;
	}
	printf("%#-16" PRIx64 "%#-16" PRIx64 "%#-16" PRIx64 "%s%s%s\n",
	    e->start, e->length, e->offset, mo->name, e->owner ? "  " : "",
	    e->owner ? e->owner : "");
	return 0;
}

/*
 * --extract: every image (a chain: the full backup, then increments) laid
 * on one output.  All are opened first, so a name that is one of them is
 * refused; -o FILE is written beside FILE and renamed only on success.
 */
static int
extract_all(const struct tu_common *tc, char **argv, int argc,
    const char *what, const char *outfile)
{
	struct img_out	  o;
	struct report	  rp;
	struct img	**imgs;
	char		  errbuf[512];
	int		  i, rc, fd = STDOUT_FILENO, ex = 0;

	if (outfile == NULL && isatty(fd))
		tu_fail(tc, argv[0], "refusing to write image data to a "
		    "terminal; use -o FILE");
	imgs = xmalloc((size_t)argc * sizeof(*imgs));
	for (i = 0; i < argc; i++)
		if ((rc = img_open(argv[i], &tc->opts, &imgs[i], errbuf,
		    sizeof(errbuf))) != 0)
			tu_fail(tc, argv[i], "cannot open '%s': %s", argv[i],
			    errbuf);
	if (outfile != NULL) {
		if (img_out_open(&o, outfile, imgs, (size_t)argc, errbuf,
		    sizeof(errbuf)) != 0)
			tu_fail(tc, outfile, "%s", errbuf);
		fd = o.fd;
	}
	errbuf[0] = '\0';
	for (i = 0; i < argc && ex == 0; i++) {
		report_init(&rp);
		rc = img_extract(imgs[i], what, fd, &rp);
		if (rp.nf > 0)
			tu_report_human(&rp, argv[i], stderr);
		if (rc != 0) {
			snprintf(errbuf, sizeof(errbuf), "'%s': cannot "
			    "extract%s%s: %s", argv[i], what ? " " : "",
			    what ? what : "", img_error(imgs[i]) != NULL ?
			    img_error(imgs[i]) : img_strerror(rc));
			ex = 1;
		} else if (rp.c.corruptions > 0 || rp.c.check_errors > 0) {
			snprintf(errbuf, sizeof(errbuf), "'%s': %s in the "
			    "data; output not written", argv[i],
			    rp.c.check_errors > 0 ? "check errors" :
			    "corruption");
			ex = 1;
		}
		report_release(&rp);
	}
	for (i = 0; i < argc; i++)
		img_close(imgs[i]);
	free(imgs);
	if (ex != 0) {
		if (outfile != NULL)
			img_out_abort(&o);
		tu_fail(tc, argv[0], "%s", errbuf);
	}
	if (outfile != NULL && img_out_commit(&o, errbuf, sizeof(errbuf)) != 0)
		tu_fail(tc, outfile, "%s", errbuf);
	return 0;
}

/* Copy the spooled map to stdout and close it; 0 or -1 with errno. */
static int
spool_out(FILE *fp)
{
	char	buf[65536];
	size_t	n;
	int	e;

	if (fflush(fp) != 0 || fseeko(fp, 0, SEEK_SET) != 0)
		goto fail;
	while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
		if (fwrite(buf, 1, n, stdout) != n)
			break;
	if (ferror(fp) || ferror(stdout) || fflush(stdout) != 0)
		goto fail;
	fclose(fp);
	return 0;
fail:
	e = errno;
	fclose(fp);
	errno = e;
	return -1;
}

int
main(int argc, char **argv)
{
	struct tu_common	 tc;
	struct map_out		 mo;
	struct img		*img;
	const char		*outfile = NULL, *what = NULL;
	char			 errbuf[512];
	bool			 extract = false;
	int			 ch, rc;

	tu_common_init(&tc);
	while ((ch = getopt_long(argc, argv, tu_shortopts(&map_cmd),
	    tu_longopts(&map_cmd), NULL)) != -1) {
		if (tu_common_opt(&map_cmd, ch, optarg, &tc))
			continue;
		switch (ch) {
		case 'o':
			outfile = optarg;
			break;
		case OPT_EXTRACT:
			extract = true;
			what = optarg;
			break;
		default:
			tu_bad_usage(&map_cmd);
		}
	}
	argc -= optind;
	argv += optind;
	/* Several images only for --extract: a chain laid on one output. */
	if (argc < 1 || (argc > 1 && (!extract || what != NULL)))
		tu_bad_usage(&map_cmd);
	tu_common_finish(&map_cmd, &tc);
	tu_signals(map_cmd.prog);
	if (extract)
		return extract_all(&tc, argv, argc, what, outfile);
	if ((rc = img_open(argv[0], &tc.opts, &img, errbuf, sizeof(errbuf))) != 0)
		tu_fail(&tc, argv[0], "cannot open '%s': %s", argv[0], errbuf);
	mo.json = tc.json;
	mo.first = true;
	mo.name = argv[0];
	mo.err = 0;
	/* The JSON map goes out whole, or an error object instead of it. */
	mo.fp = stdout;
	if (tc.json && (mo.fp = tmpfile()) == NULL)
		mo.fp = stdout;
	rc = img_map(img, map_print, &mo);
	if (rc != 0) {
		snprintf(errbuf, sizeof(errbuf), "%s", img_error(img) != NULL ?
		    img_error(img) : img_strerror(rc));
		img_close(img);
		if (mo.fp != stdout)
			fclose(mo.fp);
		tu_fail(&tc, argv[0], "'%s': map failed: %s", argv[0], errbuf);
	}
	img_close(img);
	if (tc.json)
		fprintf(mo.fp, mo.first ? "[]\n" : "]\n");
	if (mo.fp != stdout && spool_out(mo.fp) != 0)
		tu_fail(&tc, argv[0], "cannot write the map: %s",
		    strerror(errno));
	return 0;
}
