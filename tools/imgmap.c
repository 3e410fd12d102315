/* SPDX-License-Identifier: MIT */
/*
 * imgmap.c --- map guest ranges to host offsets (a superset of qemu-img
 * map --output=json), map what every byte of the image file is (--host),
 * or extract guest data or a named object.
 */
#include <ctype.h>
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
#include "view/view.h"
#include "core/banned.h"

enum {
	OPT_START_OFFSET = OPT_TOOL_BASE,
	OPT_MAX_LENGTH,
	OPT_NO_BACKING,
	OPT_FORCE,
	OPT_HOST,
	OPT_SUMMARY,
	OPT_TUI
};

static const struct tu_opt	map_opts[] = {
	TU_OPT_FORMAT,
	{ "start-offset", required_argument, OPT_START_OFFSET, "OFFSET",
	    "map from this guest offset (bytes, or with a suffix: 4k, 1M)" },
	{ "max-length", required_argument, OPT_MAX_LENGTH, "LENGTH",
	    "map at most this many guest bytes" },
	{ "no-backing", no_argument, OPT_NO_BACKING, NULL,
	    "map the top image alone; do not open its backing file" },
	{ "force", no_argument, OPT_FORCE, NULL,
	    "map through damaged tables, marking the ranges at stake" },
	{ "host", no_argument, OPT_HOST, NULL,
	    "map the image file instead: what every byte of it is" },
	{ "summary", no_argument, OPT_SUMMARY, NULL,
	    "with --host: bytes and runs per class, not the runs" },
	TU_OPT_FORCE_SHARE,
	TU_OPT_HELP,
	TU_OPT_JSON,
	TU_OPT_QUIET,
	{ "output-file", required_argument, 'o', "FILE",
	    "where --extract writes (default: stdout)" },
	TU_OPT_VERSION,
	TU_OPT_OUTPUT,
	{ "extract", optional_argument, OPT_EXTRACT, "WHAT",
	    "write the guest disk (or the object WHAT) instead of a map" },
	TU_OPTS_KEY,
	{ "tui", no_argument, OPT_TUI, NULL,
	    "browse the image in the terminal: map, bytes and findings" },
	TU_OPT_LIST,
	TU_OPT_END
};

static const struct tu_cmd	map_cmd = {
	"imgmap",
	"[-jhqUV] [-f format] [--output=human|json] [--start-offset=OFFSET] "
	    "[--max-length=LENGTH] [--no-backing] [--force] "
	    "[--host [--summary]] [--extract[=WHAT] [-o file]] image ...\n"
	    "       imgmap --tui [-U] [-f format] [--host] [--force] image",
	"Map guest ranges of a disk image or backup to host offsets.",
	map_opts
};

struct map_out {
	bool		 json;
	bool		 first;
	bool		 qemu;		/* a format qemu maps */
	const char	*name;
	const char	*err_msg;
	FILE		*fp;		/* JSON: a spool, stdout if none */
	struct map_ext	 cur;		/* human: the run being merged */
	bool		 have;
	bool		 header;
	char		*owner;
};

/* Formats qemu maps: their human map is qemu's, compressed runs refused. */
static bool
qemu_format(const char *fmt)
{
	return strcmp(fmt, "qcow2") == 0 || strcmp(fmt, "qed") == 0 ||
	    strcmp(fmt, "raw") == 0;
}

static void
json_str(FILE *fp, const char *key, const char *v)
{
	struct json_object	*s;
	char			*t;

	/* Names from images: keep the JSON UTF-8. */
	s = json_object_new_string(v);
	t = xstrdup(json_object_to_json_string(s));
	img_utf8_fix(t);
	fprintf(fp, ", \"%s\": %s", key, t);
	free(t);
	json_object_put(s);
}

/* A JSON string value after prefix (names from images: kept UTF-8). */
static void
json_value(FILE *fp, const char *prefix, const char *v)
{
	struct json_object	*s;
	char			*t;

	s = json_object_new_string(v);
	t = xstrdup(json_object_to_json_string(s));
	img_utf8_fix(t);
	fprintf(fp, "%s%s", prefix, t);
	free(t);
	json_object_put(s);
}

static int
map_json(struct map_out *mo, const struct map_ext *e)
{
	const struct pr_info	*pi;

	fprintf(mo->fp, "%s{ \"start\": %" PRIu64 ", \"length\": %" PRIu64
	    ", \"depth\": %d, \"present\": %s, \"zero\": %s, \"data\": %s",
	    mo->first ? "[" : ",\n", e->start, e->length, e->depth,
	    e->present ? "true" : "false", e->zero ? "true" : "false",
	    e->data ? "true" : "false");
	if (e->has_offset)
		fprintf(mo->fp, ", \"offset\": %" PRIu64, e->offset);
	fprintf(mo->fp, ", \"compressed\": %s",
	    e->compressed ? "true" : "false");
	if (e->owner != NULL)
		json_str(mo->fp, "owner", e->owner);
	if (e->damage != 0 && (pi = pr_info_by_code(e->damage)) != NULL)
		json_str(mo->fp, "damage", pi->name);
	fprintf(mo->fp, "}");
	mo->first = false;
	return 0;
}

/*
 * qemu-img map's human table: data runs only, "0x" offsets padded to 16
 * columns, the file holding the bytes.  Like qemu, runs that read as
 * zeros are one kind, so they merge (the caller does that here).
 */
static int
map_human(struct map_out *mo, const struct map_ext *e)
{
	const char	*file = e->file != NULL ? e->file : mo->name;

	if (e->damage != 0) {
		const struct pr_info	*pi = pr_info_by_code(e->damage);

		/* --force: the ranges read as zeros through damage. */
		printf("%#-16" PRIx64 "%#-16" PRIx64 "%-16s%s  %s\n", e->start,
		    e->length, "damaged", file, pi != NULL ? pi->name : "?");
		return 0;
	}
	if (e->data && !e->has_offset && mo->qemu) {
		mo->err_msg = "File contains external, encrypted or "
		    "compressed clusters.";
		return -IMG_EUNSUP;
	}
	if (!e->data || e->zero)
		return 0;
	if (!e->has_offset) {
		printf("%#-16" PRIx64 "%#-16" PRIx64 "%-16s%s%s%s\n", e->start,
		    e->length, e->compressed ? "compressed" : "-", file,
		    e->owner ? "  " : "", e->owner ? e->owner : "");
		return 0;
	}
	printf("%#-16" PRIx64 "%#-16" PRIx64 "%#-16" PRIx64 "%s%s%s\n",
	    e->start, e->length, e->offset, file, e->owner ? "  " : "",
	    e->owner ? e->owner : "");
	return 0;
}

/* qemu prints it once the image is open; we once the map has begun. */
static void
human_header(struct map_out *mo)
{
	if (mo->header)
		return;
	mo->header = true;
	printf("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to",
	    "File");
}

/* Human runs: zero and unallocated are one kind; merge before printing. */
static int
map_print(void *arg, const struct map_ext *e)
{
	struct map_out	*mo = arg;
	struct map_ext	 x = *e;
	int		 rc;

	if (mo->json)
		return map_json(mo, e);
	human_header(mo);
	if ((!x.data || x.zero) && x.damage == 0) {
		x.data = false;
		x.zero = true;
	}
	if (mo->have && mo->cur.start + mo->cur.length == x.start &&
	    mo->cur.depth == x.depth && mo->cur.present == x.present &&
	    mo->cur.zero == x.zero && mo->cur.data == x.data &&
	    mo->cur.damage == x.damage &&
	    mo->cur.has_offset == x.has_offset && (!x.has_offset ||
	    mo->cur.offset + mo->cur.length == x.offset) &&
	    mo->cur.owner == NULL && x.owner == NULL &&
	    (mo->cur.file == x.file || (mo->cur.file != NULL && x.file !=
	    NULL && strcmp(mo->cur.file, x.file) == 0))) {
		mo->cur.length += x.length;
		return 0;
	}
	if (mo->have && (rc = map_human(mo, &mo->cur)) != 0)
		return rc;
	mo->cur = x;
	mo->have = true;
	/* Owners live as long as the call (the merger copies them). */
	if (x.owner != NULL) {
		free(mo->owner);
		mo->owner = xstrdup(x.owner);
		mo->cur.owner = mo->owner;
	}
	return 0;
}

/*
 * --extract: every image (a chain: the full backup, then increments) laid
 * on one output.  All are opened first, so a name that is one of them is
 * refused; -o FILE is written beside FILE and renamed only on success.
 */
static int
extract_all(const struct tu_common *tc, char **argv, int argc,
    const char *what, const char *outfile, const struct img_extract_opts *xo)
{
	struct img_extract_opts	  x = *xo;
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
		x.parg = argv[i];	/* the progress line names each */
		rc = img_extract_ex(imgs[i], what, fd, &rp, &x);
		tp_end();
		if (rp.nf > 0)
			tu_report_human(&rp, argv[i], stderr);
		if (rc != 0) {
			snprintf(errbuf, sizeof(errbuf), "'%s': cannot "
			    "extract%s%s: %s", argv[i], what ? " " : "",
			    what ? what : "", img_error(imgs[i]) != NULL ?
			    img_error(imgs[i]) : img_strerror(rc));
			ex = 1;
		} else if (!xo->force && (rp.c.corruptions > 0 ||
		    rp.c.check_errors > 0)) {
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

/* ---- --host: the host map ------------------------------------------------ */

struct host_cls {
	char		*cls;
	uint64_t	 bytes;
	uint64_t	 runs;
};

struct host_out {
	bool		 json;
	bool		 summary;
	bool		 first;
	FILE		*fp;		/* JSON: a spool, stdout if none */
	uint64_t	 size;		/* the image file's length */
	struct host_cls	*cls;		/* --summary: per class */
	size_t		 ncls;
};

/* Problem names of a run's codes ("?" for a code we do not know). */
static const char *
host_code_name(uint32_t code)
{
	const struct pr_info	*pi = pr_info_by_code(code);

	return pi != NULL ? pi->name : "?";
}

static void
host_json(struct host_out *ho, const struct hmap_run *r)
{
	size_t	i, n;

	fprintf(ho->fp, "%s{ \"offset\": %" PRIu64 ", \"length\": %" PRIu64,
	    ho->first ? "[" : ",\n", r->offset, r->length);
	json_str(ho->fp, "class", r->cls);
	fprintf(ho->fp, ", \"owners\": [");
	n = r->nowners < HMAP_MAX_OWNERS ? r->nowners : HMAP_MAX_OWNERS;
	for (i = 0; i < n; i++)
		/* json_str() writes ", key: value": the value alone here. */
		json_value(ho->fp, i > 0 ? ", " : "", r->owners[i]);
	fprintf(ho->fp, "]");
	if (r->nowners > n)
		fprintf(ho->fp, ", \"owners-total\": %zu", r->nowners);
	fprintf(ho->fp, ", \"findings\": [");
	for (i = 0; i < r->ncodes; i++)
		fprintf(ho->fp, "%s\"%s\"", i > 0 ? ", " : "",
		    host_code_name(r->codes[i]));
	fprintf(ho->fp, "] }");
	ho->first = false;
}

/* The guest map's columns: offsets in hex, padded to 16. */
static void
host_human(const struct hmap_run *r)
{
	size_t	i, n;
	char	*t;

	printf("%#-16" PRIx64 "%#-16" PRIx64 "%-16s", r->offset, r->length,
	    r->cls);
	n = r->nowners < HMAP_MAX_OWNERS ? r->nowners : HMAP_MAX_OWNERS;
	for (i = 0; i < n; i++) {
		/* Owner names come from the image: print them safely. */
		t = xstrdup(r->owners[i]);
		img_str_clean(t);
		printf("%s%s", i > 0 ? ", " : "", t);
		free(t);
	}
	if (r->nowners > n)
		printf(", ... (%zu in all)", r->nowners);
	if (n == 0)
		printf("-");
	for (i = 0; i < r->ncodes; i++)
		printf("%s%s", i > 0 ? ", " : "  [",
		    host_code_name(r->codes[i]));
	printf("%s\n", r->ncodes > 0 ? "]" : "");
}

static int
host_print(void *arg, const struct hmap_run *r)
{
	struct host_out	*ho = arg;
	size_t		 i;

	if (ho->summary) {
		for (i = 0; i < ho->ncls; i++)
			if (strcmp(ho->cls[i].cls, r->cls) == 0)
				break;
		if (i == ho->ncls) {
			ho->cls = reallocarray(ho->cls, ho->ncls + 1,
			    sizeof(*ho->cls));
			if (ho->cls == NULL)
				err(1, "reallocarray");
			ho->cls[i].cls = xstrdup(r->cls);
			ho->cls[i].bytes = ho->cls[i].runs = 0;
			ho->ncls++;
		}
		ho->cls[i].bytes += r->length;
		ho->cls[i].runs++;
		return 0;
	}
	if (ho->json)
		host_json(ho, r);
	else
		host_human(r);
	return 0;
}

/* Largest classes first; past-end (outside the file) last. */
static int
host_cls_cmp(const void *a, const void *b)
{
	const struct host_cls	*x = a, *y = b;
	bool			 px = strcmp(x->cls, "past-end") == 0;
	bool			 py = strcmp(y->cls, "past-end") == 0;

	if (px != py)
		return px ? 1 : -1;
	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	return strcmp(x->cls, y->cls);
}

/* 1536 -> "1.5K": the size column of a disk-usage report. */
static void
human_size(char *buf, size_t len, uint64_t v)
{
	static const char	 units[] = "BKMGTPE";
	double			 d = (double)v;
	size_t			 u = 0;

	while (d >= 1024 && u + 1 < sizeof(units) - 1) {
		d /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%" PRIu64 "B", v);
	else
		snprintf(buf, len, "%.1f%c", d, units[u]);
}

static void
host_summary(struct host_out *ho)
{
	char		hs[32];
	uint64_t	runs = 0;
	size_t		i;

	if (ho->ncls > 1)
		qsort(ho->cls, ho->ncls, sizeof(*ho->cls), host_cls_cmp);
	if (ho->json) {
		fprintf(ho->fp, "{");
		for (i = 0; i < ho->ncls; i++) {
			fprintf(ho->fp, "%s\n    ", i > 0 ? "," : "");
			json_value(ho->fp, "", ho->cls[i].cls);
			fprintf(ho->fp, ": { \"bytes\": %" PRIu64
			    ", \"runs\": %" PRIu64 " }", ho->cls[i].bytes,
			    ho->cls[i].runs);
		}
		fprintf(ho->fp, "%s}\n", ho->ncls > 0 ? "\n" : "");
		return;
	}
	printf("%-16s%20s%10s%12s%9s\n", "Class", "Bytes", "Size", "Runs",
	    "%");
	for (i = 0; i < ho->ncls; i++) {
		human_size(hs, sizeof(hs), ho->cls[i].bytes);
		printf("%-16s%20" PRIu64 "%10s%12" PRIu64 "%8.1f%%\n",
		    ho->cls[i].cls, ho->cls[i].bytes, hs, ho->cls[i].runs,
		    ho->size > 0 ? 100.0 * (double)ho->cls[i].bytes /
		    (double)ho->size : 0.0);
		if (strcmp(ho->cls[i].cls, "past-end") != 0)
			runs += ho->cls[i].runs;
	}
	human_size(hs, sizeof(hs), ho->size);
	printf("%-16s%20" PRIu64 "%10s%12" PRIu64 "%8.1f%%\n", "total",
	    ho->size, hs, runs, 100.0);
}

/* --host [--summary]: the runs of the image file, or their totals. */
static int
host_map(const struct tu_common *tc, const char *path, bool summary)
{
	struct host_out	 ho;
	struct img	*img;
	char		 errbuf[512];
	size_t		 i;
	int		 rc;

	if ((rc = img_open(path, &tc->opts, &img, errbuf,
	    sizeof(errbuf))) != 0)
		tu_fail(tc, path, "cannot open '%s': %s", path, errbuf);
	memset(&ho, 0, sizeof(ho));
	ho.json = tc->json;
	ho.summary = summary;
	ho.first = true;
	ho.size = img_file_size(img);
	/* The JSON map goes out whole, or an error object instead of it. */
	ho.fp = stdout;
	if (tc->json && (ho.fp = tmpfile()) == NULL)
		ho.fp = stdout;
	if (!tc->json && !summary)
		printf("%-16s%-16s%-16s%s\n", "Offset", "Length", "Class",
		    "Owners");
	rc = img_hostmap(img, host_print, &ho);
	if (rc != 0) {
		snprintf(errbuf, sizeof(errbuf), "%s", rc == -IMG_ENOOP ?
		    "the format has no host map" : img_error(img) != NULL ?
		    img_error(img) : img_strerror(rc));
		img_close(img);
		if (ho.fp != stdout)
			fclose(ho.fp);
		tu_fail(tc, path, "'%s': host map failed: %s", path, errbuf);
	}
	img_close(img);
	if (summary)
		host_summary(&ho);
	else if (tc->json)
		fprintf(ho.fp, ho.first ? "[]\n" : "]\n");
	for (i = 0; i < ho.ncls; i++)
		free(ho.cls[i].cls);
	free(ho.cls);
	if (ho.fp != stdout && spool_out(ho.fp) != 0)
		tu_fail(tc, path, "cannot write the map: %s",
		    strerror(errno));
	return 0;
}

/* A byte count (tu_parse_size(): decimal or 0x, and a suffix). */
static uint64_t
parse_size(const char *what, const char *v)
{
	return tu_parse_size(&map_cmd, what, v);
}

/* --tui: the viewer, starting on the map (--host: the host map). */
static int
map_tui(const struct tu_common *tc, const char *path, bool host, bool force)
{
	struct view_opts	vo;

	memset(&vo, 0, sizeof(vo));
	vo.prog = map_cmd.prog;
	vo.path = path;
	vo.img = tc->opts;
	vo.host = host;
	vo.force = force;
	vo.maxf = tc->maxf;
	return view_main(&vo);
}

int
main(int argc, char **argv)
{
	struct tu_common	 tc;
	struct map_out		 mo;
	struct img		*img;
	struct img_map_opts	 mopt;
	struct img_extract_opts	 xopt;
	const char		*outfile = NULL, *what = NULL;
	char			 errbuf[512];
	bool			 extract = false, host = false, summary = false;
	bool			 ranged = false, tui = false;
	int			 ch, rc;

	img_map_opts_init(&mopt);

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
		case OPT_START_OFFSET:
			mopt.start = parse_size("start offset", optarg);
			ranged = true;
			break;
		case OPT_MAX_LENGTH:
			mopt.length = parse_size("max length", optarg);
			ranged = true;
			break;
		case OPT_NO_BACKING:
			mopt.no_backing = true;
			break;
		case OPT_FORCE:
			mopt.force = true;
			break;
		case OPT_HOST:
			host = true;
			break;
		case OPT_SUMMARY:
			summary = true;
			break;
		case OPT_TUI:
			tui = true;
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
	/* The host map is of one file, whole: no guest range, no extract. */
	if ((summary && !host) || (host && (extract || ranged || argc > 1)))
		tu_bad_usage(&map_cmd);
	tu_common_finish(&map_cmd, &tc);
	if (tui) {
		/* One image, browsed: the viewer owns the terminal. */
		if (argc != 1 || extract || summary || ranged)
			tu_bad_usage(&map_cmd);
		return map_tui(&tc, argv[0], host, mopt.force);
	}
	tu_signals(map_cmd.prog);
	/* -q: no map; errors still go to stderr, extracted data still out. */
	if (tc.quiet && !(extract && outfile == NULL) &&
	    freopen("/dev/null", "w", stdout) == NULL)
		err(1, "/dev/null");
	if (host)
		return host_map(&tc, argv[0], summary);
	if (extract) {
		/* --no-backing and --force mean the same to the extract. */
		memset(&xopt, 0, sizeof(xopt));
		xopt.no_backing = mopt.no_backing;
		xopt.force = mopt.force;
		/* How far the extract got, on a terminal. */
		if (tp_begin(argv[0], &tc))
			xopt.progress = tp_update;
		return extract_all(&tc, argv, argc, what, outfile, &xopt);
	}
	if ((rc = img_open(argv[0], &tc.opts, &img, errbuf, sizeof(errbuf))) != 0)
		tu_fail(&tc, argv[0], "cannot open '%s': %s", argv[0], errbuf);
	memset(&mo, 0, sizeof(mo));
	mo.json = tc.json;
	mo.first = true;
	mo.name = argv[0];
	mo.qemu = qemu_format(img_format(img));
	/* The JSON map goes out whole, or an error object instead of it. */
	mo.fp = stdout;
	if (tc.json && (mo.fp = tmpfile()) == NULL)
		mo.fp = stdout;
	/* The human map streams to stdout: progress only when that is no tty. */
	if (!isatty(STDOUT_FILENO))
		tp_attach(img, argv[0], &tc);
	rc = img_map_ex(img, &mopt, map_print, &mo);
	tp_end();
	if (rc == 0 && !tc.json)
		human_header(&mo);
	if (rc == 0 && mo.have)
		rc = map_human(&mo, &mo.cur);
	free(mo.owner);
	if (rc != 0) {
		snprintf(errbuf, sizeof(errbuf), "%s", mo.err_msg != NULL ?
		    mo.err_msg : img_error(img) != NULL ? img_error(img) :
		    img_strerror(rc));
		img_close(img);
		if (mo.fp != stdout)
			fclose(mo.fp);
		tu_fail(&tc, argv[0], "'%s': map failed: %s", argv[0], errbuf);
	}
	img_close(img);
	/* Nothing mapped: qemu prints the empty entry it started from. */
	if (tc.json && mo.first)
		fprintf(mo.fp, "[{ \"start\": %" PRIu64 ", \"length\": 0, "
		    "\"depth\": 0, \"present\": false, \"zero\": false, "
		    "\"data\": false, \"compressed\": false}]\n", mopt.start);
	else if (tc.json)
		fprintf(mo.fp, "]\n");
	if (mo.fp != stdout && spool_out(mo.fp) != 0)
		tu_fail(&tc, argv[0], "cannot write the map: %s",
		    strerror(errno));
	return 0;
}
