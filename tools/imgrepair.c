/* SPDX-License-Identifier: MIT */
/*
 * imgrepair.c --- repair an image: into a new file (-o) or in place with
 * an undo file; --dry-run shows the plan and writes nothing.  The exit
 * status is qemu-img check's, for the state after the repair.
 */
#include <err.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "toolutil.h"
#include "core/banned.h"

static const struct tu_opt	repair_opts[] = {
	TU_OPT_FORMAT,
	TU_OPT_FORCE_SHARE,
	TU_OPT_HELP,
	TU_OPT_JSON,
	{ "output-file", required_argument, 'o', "FILE",
	    "write the repaired image here; the original is not touched" },
	TU_OPT_QUIET,
	{ "repair", required_argument, 'r', "leaks|all",
	    "what may be fixed: leaks only, or everything" },
	TU_OPT_VERSION,
	TU_OPT_OUTPUT,
	{ "dry-run", no_argument, OPT_DRY_RUN, NULL,
	    "show what would be fixed; write nothing" },
	{ "in-place", no_argument, OPT_IN_PLACE, NULL,
	    "repair the image itself (keeps an undo file)" },
	{ "undo", required_argument, OPT_UNDO, "FILE",
	    "undo file for --in-place (default IMAGE.undo-TIME)" },
	{ "no-undo", no_argument, OPT_NO_UNDO, NULL,
	    "do not keep an undo file" },
	{ "apply-undo", required_argument, OPT_APPLY_UNDO, "FILE",
	    "put back the bytes a repair overwrote, from its undo file" },
	TU_OPT_MAXF,
	TU_OPT_COLOR,
	TU_OPTS_KEY,
	TU_OPT_LIST,
	TU_OPT_END
};

static const struct tu_cmd	repair_cmd = {
	"imgrepair",
	"[-jqhUV] -r leaks|all [-f format] [--color[=WHEN]] "
	    "(-o newfile | --in-place "
	    "[--undo=file | --no-undo] | --dry-run) image\n"
	    "       imgrepair --apply-undo=file image",
	"Repair a disk image or backup, into a new file or in place.",
	repair_opts
};

/* Bytes shown of a long change: its first ones, then its length. */
#define PLAN_HUMAN_BYTES	16
#define PLAN_JSON_BYTES		256

/* Up to n bytes of b in hex, in groups of four ("80000000 00050000"). */
static void
hex_put(FILE *fp, const uint8_t *b, uint64_t len, size_t n, bool groups)
{
	size_t	i;

	for (i = 0; i < len && i < n; i++)
		fprintf(fp, "%s%02x", groups && i > 0 && i % 4 == 0 ? " " : "",
		    b[i]);
	if (len > n)
		fputs(groups ? " ..." : "", fp);
}

static char *
hex_str(const uint8_t *b, uint64_t len)
{
	size_t	n = len < PLAN_JSON_BYTES ? (size_t)len : PLAN_JSON_BYTES, i;
	char	*s = xmalloc(2 * n + 1);

	for (i = 0; i < n; i++)
		snprintf(s + 2 * i, 3, "%02x", b[i]);
	s[2 * n] = '\0';
	return s;
}

static const char *
code_name(enum pr_id id)
{
	const struct pr_info	*pi = pr_info_get(id);

	return pi != NULL ? pi->name : "-";
}

/* The plan, one line per change. */
static void
plan_human(const struct plan *p, FILE *fp)
{
	const struct plan_change	*c;
	size_t				 i, n = plan_count(p);

	fprintf(fp, "%zu change%s:\n", n, n == 1 ? "" : "s");
	for (i = 0; i < n; i++) {
		c = plan_get(p, i);
		if (c->kind == PLAN_RESIZE) {
			fprintf(fp, "0x%" PRIx64 "  %s%" PRIu64 " bytes  (the "
			    "file %s to 0x%" PRIx64 " bytes)  %s\n", c->off,
			    c->shrink ? "-" : "+", c->len, c->shrink ?
			    "shrinks" : "grows", plan_size_after(p),
			    code_name(c->id));
			continue;
		}
		fprintf(fp, "0x%" PRIx64 "  %" PRIu64 " byte%s  ", c->off,
		    c->len, c->len == 1 ? "" : "s");
		hex_put(fp, c->before, c->len, PLAN_HUMAN_BYTES, true);
		fputs(" -> ", fp);
		hex_put(fp, c->after, c->len, PLAN_HUMAN_BYTES, true);
		fprintf(fp, "  %s\n", code_name(c->id));
	}
}

/* The plan as a JSON array of {offset, length, old, new, code}. */
static struct json_object *
plan_json(const struct plan *p)
{
	const struct plan_change	*c;
	struct json_object		*arr = json_object_new_array(), *o;
	size_t				 i, n = plan_count(p);
	char				*h;

	for (i = 0; i < n; i++) {
		c = plan_get(p, i);
		o = json_object_new_object();
		json_object_object_add(o, "offset",
		    json_object_new_int64((int64_t)c->off));
		json_object_object_add(o, "length",
		    json_object_new_int64((int64_t)c->len));
		if (c->kind == PLAN_RESIZE) {
			json_object_object_add(o, "old",
			    json_object_new_string(""));
			json_object_object_add(o, "new",
			    json_object_new_string(""));
			json_object_object_add(o, "resize",
			    json_object_new_boolean(true));
			json_object_object_add(o, "file-length",
			    json_object_new_int64((int64_t)plan_size_after(p)));
		} else {
			h = hex_str(c->before, c->len);
			json_object_object_add(o, "old",
			    json_object_new_string(h));
			free(h);
			h = hex_str(c->after, c->len);
			json_object_object_add(o, "new",
			    json_object_new_string(h));
			free(h);
			if (c->len > PLAN_JSON_BYTES)
				json_object_object_add(o, "truncated",
				    json_object_new_boolean(true));
		}
		json_object_object_add(o, "code",
		    json_object_new_string(code_name(c->id)));
		json_object_array_add(arr, o);
	}
	return arr;
}

static struct json_object *
report_doc(const struct report *rp, const char *name, const char *fmt,
    int ex)
{
	struct json_object	*doc = json_object_new_object();

	json_object_object_add(doc, "filename", json_object_new_string(name));
	json_object_object_add(doc, "format", json_object_new_string(fmt));
	tu_counts_json(&rp->c, doc);
	json_object_object_add(doc, "verdict", json_object_new_string(
	    ex == EXIT_CLEAN ? "clean" : ex == EXIT_LEAKS ? "leaks" :
	    ex == EXIT_CORRUPT ? "corrupt" : "check-failed"));
	tu_report_json(rp, doc);
	return doc;
}

int
main(int argc, char **argv)
{
	struct tu_common	 tc;
	struct img_opts		 ropts, chkopts;
	struct report		 rp, re;
	struct img		*img, *chk;
	struct json_object	*doc, *rdoc;
	const char		*out = NULL, *undo = NULL, *target;
	const char		*apply = NULL;
	char			 errbuf[512], *undobuf = NULL, *fmtname;
	char			 why[1024] = "";
	bool			 dry = false, planned;
	bool			 inplace = false, noundo = false;
	unsigned		 level = 0;
	int			 ch, rc, rrc, ex;

	tu_common_init(&tc);
	while ((ch = getopt_long(argc, argv, tu_shortopts(&repair_cmd),
	    tu_longopts(&repair_cmd), NULL)) != -1) {
		if (tu_common_opt(&repair_cmd, ch, optarg, &tc))
			continue;
		switch (ch) {
		case 'o':
			out = optarg;
			break;
		case 'r':
			if (strcmp(optarg, "leaks") == 0)
				level = REPAIR_LEAKS;
			else if (strcmp(optarg, "all") == 0)
				level = REPAIR_LEAKS | REPAIR_ALL;
			else {
				warnx("Unknown option value for -r (expecting "
				    "'leaks' or 'all'): %s", optarg);
				tu_bad_usage(&repair_cmd);
			}
			break;
		case OPT_DRY_RUN:
			dry = true;
			break;
		case OPT_IN_PLACE:
			inplace = true;
			break;
		case OPT_UNDO:
			undo = optarg;
			break;
		case OPT_NO_UNDO:
			noundo = true;
			break;
		case OPT_APPLY_UNDO:
			apply = optarg;
			break;
		default:
			tu_bad_usage(&repair_cmd);
		}
	}
	argc -= optind;
	argv += optind;
	tu_signals(repair_cmd.prog);
	if (apply != NULL) {
		if (argc != 1)
			tu_bad_usage(&repair_cmd);
		tu_signal_note("the apply may be run again to finish it");
		if (img_undo_apply(argv[0], apply, errbuf,
		    sizeof(errbuf)) != 0)
			tu_fail(&tc, argv[0], "cannot apply '%s' to '%s': %s",
			    apply, argv[0], errbuf);
		if (!tc.quiet && tc.json) {
			doc = json_object_new_object();
			json_object_object_add(doc, "filename",
			    json_object_new_string(argv[0]));
			json_object_object_add(doc, "undo-file",
			    json_object_new_string(apply));
			json_object_object_add(doc, "restored",
			    json_object_new_boolean(true));
			tu_json_print(doc);
			json_object_put(doc);
		} else if (!tc.quiet)
			printf("%s: restored from '%s'\n", argv[0], apply);
		return 0;
	}
	if (argc != 1 || level == 0)
		tu_bad_usage(&repair_cmd);
	if (!dry && (out == NULL) == !inplace) {
		warnx("say where the repair goes: -o NEWFILE or --in-place");
		tu_bad_usage(&repair_cmd);
	}
	tu_common_finish(&repair_cmd, &tc);
	ropts = tc.opts;
	ropts.flags |= IMG_REPAIR;
	if (inplace && !dry) {
		ropts.flags |= IMG_RDWR;
		if (!noundo && undo == NULL) {
			size_t	n = strlen(argv[0]) + 40;

			undobuf = xmalloc(n);
			snprintf(undobuf, n, "%s.undo-%lld", argv[0],
			    (long long)time(NULL));
			undo = undobuf;
		}
		ropts.undo_path = noundo ? NULL : undo;
	}
	if ((rc = img_open(argv[0], &ropts, &img, errbuf,
	    sizeof(errbuf))) != 0)
		tu_fail(&tc, argv[0], "cannot open '%s': %s", argv[0], errbuf);
	/* Say what cannot be done before any plan or write. */
	if (!img_can_repair(img, true) && !img_can_repair(img, false)) {
		fmtname = xstrdup(img_format(img));
		img_close(img);
		tu_fail(&tc, argv[0], "'%s': %s images have no repair yet; "
		    "imgcheck lists their problems", argv[0], fmtname);
	}
	if (!dry && !img_can_repair(img, inplace)) {
		fmtname = xstrdup(img_format(img));
		img_close(img);
		tu_fail(&tc, argv[0], "'%s': %s images are repaired %s", argv[0],
		    fmtname, inplace ? "into a new file: use -o NEWFILE" :
		    "in place: use --in-place");
	}
	if (inplace && !dry && undo != NULL && !noundo) {
		snprintf(errbuf, sizeof(errbuf), "if '%s' exists, "
		    "imgrepair --apply-undo='%s' '%s' puts back what was "
		    "written", undo, undo, argv[0]);
		tu_signal_note(errbuf);
	}

	report_init(&rp);
	rp.max_per_code = tc.maxf;
	rp.repair = level;
	rp.dry_run = dry;
	/*
	 * A dry run plans the repair and writes nothing; a format without
	 * a plan runs its check and says what the repair would fix.
	 */
	planned = img_repair_plans(img);
	tp_attach(img, argv[0], &tc);
	rrc = dry && !planned ? img_check(img, &rp) : img_repair(img, &rp,
	    inplace || dry ? NULL : out);
	tp_end();
	fmtname = xstrdup(img_format(img));
	if (rrc != 0 && dry && img_error(img) != NULL) {
		snprintf(why, sizeof(why), "'%s': %s", argv[0], img_error(img));
		img_str_clean(why);
	}
	if (rrc != 0 && !dry) {
		snprintf(errbuf, sizeof(errbuf), "%s", img_error(img) != NULL ?
		    img_error(img) : img_strerror(rrc));
		img_close(img);
		report_release(&rp);
		if (inplace && undo != NULL && access(undo, F_OK) == 0)
			tu_fail(&tc, argv[0], "'%s': repair failed: %s; "
			    "imgrepair --apply-undo='%s' '%s' puts back what "
			    "was written", argv[0], errbuf, undo, argv[0]);
		tu_fail(&tc, argv[0], "'%s': repair failed: %s", argv[0],
		    errbuf);
	}
	img_close(img);
	tu_signal_note(NULL);

	/* Check the result again, read-only, as qemu-img does. */
	target = dry || inplace ? argv[0] : out;
	report_init(&re);
	re.max_per_code = tc.maxf;
	ex = EXIT_FAILED;
	if (!dry) {
		/* The format it had: a copy's name may not reveal it. */
		chkopts = tc.opts;
		chkopts.format = fmtname;
		if ((rc = img_open(target, &chkopts, &chk, errbuf,
		    sizeof(errbuf))) != 0) {
			snprintf(why, sizeof(why), "cannot open '%s' again: "
			    "%s", target, errbuf);
			img_str_clean(why);
		} else {
			rc = img_check(chk, &re);
			ex = tu_check_exit(&re, rc);
			img_close(chk);
		}
	} else
		ex = tu_check_exit(&rp, rrc);
	/* Exit 1 says why: one line on stderr, the same in the JSON. */
	if (ex == EXIT_FAILED && why[0] == '\0')
		tu_check_reason(dry ? &rp : &re, dry ? (rrc != 0 ?
		    img_strerror(rrc) : NULL) : (rc != 0 ? img_strerror(rc) :
		    NULL), target, why, sizeof(why));
	re.c.corruptions_fixed = rp.c.corruptions_fixed;
	re.c.leaks_fixed = rp.c.leaks_fixed;
	if (!tc.quiet && tc.json) {
		doc = report_doc(dry ? &rp : &re, target, fmtname, ex);
		rdoc = report_doc(&rp, argv[0], fmtname,
		    tu_check_exit(&rp, rrc));
		json_object_object_add(doc, "dry-run",
		    json_object_new_boolean(dry));
		if (planned && rp.plan != NULL && rrc == 0)
			json_object_object_add(doc, "plan",
			    plan_json(rp.plan));
		if (ex == EXIT_FAILED)
			json_object_object_add(doc, "error",
			    json_object_new_string(why));
		if (undo != NULL && inplace && !dry &&
		    access(undo, F_OK) == 0)
			json_object_object_add(doc, "undo-file",
			    json_object_new_string(undo));
		json_object_object_add(doc, "repair", rdoc);
		tu_json_print(doc);
		json_object_put(doc);
	} else if (!tc.quiet) {
		printf(dry ? "Plan (nothing is written):\n" :
		    "Found and repaired:\n");
		tu_report_human(&rp, argv[0], stdout);
		if (dry && planned && rp.plan != NULL && rrc == 0)
			plan_human(rp.plan, stdout);
		else if (dry && planned)
			printf("no plan: the repair cannot be made\n");
		else if (dry)
			printf("no write-level plan for this format\n");
		else if (planned && rp.plan != NULL)
			printf("%zu change%s written\n", plan_count(rp.plan),
			    plan_count(rp.plan) == 1 ? "" : "s");
		if (!dry) {
			printf("\nDouble checking the repaired image '%s':\n",
			    target);
			tu_report_human(&re, target, stdout);
			if (undo != NULL && inplace &&
			    access(undo, F_OK) == 0)
				printf("undo file: %s (imgrepair --apply-undo="
				    "%s %s puts the old bytes back)\n", undo,
				    undo, argv[0]);
		}
	}
	if (ex == EXIT_FAILED) {
		fflush(stdout);
		warnx("%s", why);
	}
	report_release(&rp);
	report_release(&re);
	free(undobuf);
	free(fmtname);
	return ex;
}
