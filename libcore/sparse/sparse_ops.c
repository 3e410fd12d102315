/* SPDX-License-Identifier: MIT */
/*
 * sparse_ops.c --- the sparse stream ops table: probe, open, info, check.
 *
 * Opening never fails on a damaged stream: the meta frame is read
 * without reporting, and every problem is left to check, which must be
 * able to name it.  info walks the frame headers (no lz4 decoding) for
 * frame counts and extent totals.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "sparse/sparse.h"
#include "core/banned.h"

static bool
ends_with(const char *s, const char *suffix)
{
	size_t	n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* <dev>.full.data, <dev>.copy.data, <dev>.inc.<cpt>.data, .diff., .partial */
static bool
vnb_name(const char *path)
{
	const char	*base = strrchr(path, '/');

	base = base != NULL ? base + 1 : path;
	return strstr(base, ".full.data") != NULL ||
	    strstr(base, ".copy.data") != NULL ||
	    strstr(base, ".inc.") != NULL || strstr(base, ".diff.") != NULL ||
	    ends_with(base, ".data.partial");
}

static int
sparse_probe(const struct img_probe *p)
{
	bool	named;

	/* Section 8.1: a stream starts with "meta ". */
	if (p->len >= SPARSE_HDR_LEN && memcmp(p->buf, "meta ", 5) == 0)
		return sparse_hdr_plausible(p->buf) ? 100 : 90;
	if (p->len >= 5 && memcmp(p->buf, "meta ", 5) == 0)
		return 80;
	/*
	 * A damaged stream (empty, cut, meta lost) is only known by its
	 * name; claim it weakly so check can say what is wrong with it.
	 */
	named = p->name != NULL && (ends_with(p->name, ".data") ||
	    ends_with(p->name, ".data.partial"));
	if (!named)
		return 0;
	if (p->len >= SPARSE_HDR_LEN && sparse_hdr_plausible(p->buf))
		return 30;
	if (p->file_size < SPARSE_HDR_LEN)
		return 20;
	/*
	 * Anything else only under a name virtnbdbackup gives its streams
	 * (spec section 7): other tools' "*.data" files are not ours.
	 */
	return vnb_name(p->name) ? 1 : 0;
}

static int
sparse_open(struct img *img)
{
	struct sparse	*sp;
	int		 rc;

	if ((sp = calloc(1, sizeof(*sp))) == NULL)
		return -ENOMEM;
	if ((rc = sparse_meta_read(img, &sp->meta, NULL)) != 0) {
		free(sp);
		return rc;
	}
	sp->meta_read = true;
	img->priv = sp;
	return 0;
}

static void
sparse_close(struct img *img)
{
	struct sparse	*sp = img->priv;

	if (sp == NULL)
		return;
	sparse_meta_release(&sp->meta);
	free(sp);
	img->priv = NULL;
}

static int
sparse_info(struct img *img, struct json_object *o)
{
	struct sparse		*sp = img->priv;
	struct sparse_meta	*m = &sp->meta;
	struct sparse_walk_opts	 wo;
	struct sparse_totals	 tot;
	struct report		 rp;
	struct json_object	*fr;
	int			 rc;

	if (m->json == NULL) {
		img_set_error(img, "meta frame unusable");
		return -IMG_EINVAL;
	}
	memset(&wo, 0, sizeof(wo));
	memset(&tot, 0, sizeof(tot));
	report_init(&rp);
	rp.max_per_code = 1;
	rc = sparse_walk(img, &rp, &wo, &tot);
	if (rc != 0) {
		report_release(&rp);
		return rc;
	}
	if (m->has_vsize)
		info_add_u64(o, "virtual-size", m->virtual_size);
	info_add_u64(o, "stream-version", (uint64_t)(m->version > 0 ?
	    m->version : 0));
	if (m->has_dsize)
		info_add_u64(o, "data-size", m->data_size);
	json_object_object_add(o, "compressed",
	    json_object_new_boolean(m->compressed));
	if (m->compressed) {
		info_add_str(o, "compression-method", m->method[0] != '\0' ?
		    m->method : "lz4");
		info_add_u64(o, "compression-level", (uint64_t)m->level);
	}
	info_add_str(o, "backup-kind", sparse_backup_kind(img->path, m));
	json_object_object_add(o, "incremental",
	    json_object_new_boolean(m->incremental));
	info_add_str(o, "checkpoint", m->checkpoint);
	info_add_str(o, "parent-checkpoint", m->parent);
	info_add_str(o, "disk-name", m->disk);
	if (m->disk_format[0] != '\0')
		info_add_str(o, "disk-format", m->disk_format);
	info_add_str(o, "date", m->date);
	fr = json_object_new_object();
	info_add_u64(fr, "total", tot.frames);
	info_add_u64(fr, "data", tot.data_frames);
	info_add_u64(fr, "zero", tot.zero_frames);
	if (m->compressed)
		info_add_u64(fr, "lz4", tot.lz4_frames);
	json_object_object_add(o, "frames", fr);
	info_add_u64(o, "data-bytes", tot.data_bytes);
	info_add_u64(o, "zero-bytes", tot.zero_bytes);
	info_add_u64(o, "stored-bytes", tot.stored_bytes);
	json_object_object_add(o, "complete",
	    json_object_new_boolean(tot.complete));
	info_add_u64(o, "problems", rp.c.corruptions + rp.c.leaks +
	    rp.c.check_errors);
	report_release(&rp);
	return 0;
}

static int
sparse_check(struct img *img, struct report *rp)
{
	struct sparse		*sp = img->priv;
	struct sparse_walk_opts	 wo;
	struct sparse_totals	 tot;
	struct pr_ctx		 pc;
	int			 rc;

	memset(&wo, 0, sizeof(wo));
	memset(&tot, 0, sizeof(tot));
	memset(&pc, 0, sizeof(pc));
	if (ends_with(img->path, ".partial")) {
		pc.path = "file";
		sparse_pr(rp, PR_SPARSE_PARTIAL_FILE, &pc);
	}
	wo.decode = true;
	wo.chksum = true;
	if ((rc = sparse_walk(img, rp, &wo, &tot)) != 0)
		return rc;
	if (sp->meta.json != NULL) {
		report_extra_int(rp, "stream-version", sp->meta.version);
		report_extra_str(rp, "backup-kind",
		    sparse_backup_kind(img->path, &sp->meta));
		report_extra_bool(rp, "compressed", sp->meta.compressed);
	}
	report_extra_int(rp, "frames", (int64_t)tot.frames);
	report_extra_int(rp, "data-frames", (int64_t)tot.data_frames);
	report_extra_int(rp, "zero-frames", (int64_t)tot.zero_frames);
	report_extra_int(rp, "data-bytes", (int64_t)tot.data_bytes);
	report_extra_int(rp, "zero-bytes", (int64_t)tot.zero_bytes);
	if (tot.lz4_frames > 0)
		report_extra_int(rp, "lz4-frames", (int64_t)tot.lz4_frames);
	return 0;
}

const struct fmt_ops	sparse_ops = {
	.name = "sparsestream",
	.pr_base = 0x030000,
	.probe = sparse_probe,
	.open = sparse_open,
	.info = sparse_info,
	.check = sparse_check,
	.repair = sparse_repair,
	.map = sparse_map,
	.hostmap = sparse_hostmap,
	.describe = sparse_describe,
	.chain = sparse_chain,
	.extract = sparse_extract,
	.close = sparse_close,
	.caps = FMT_REPAIR_COPY,
};
