/* SPDX-License-Identifier: MIT */
/*
 * qed_ops.c --- the QED ops table: probe, open, info, backing, close.
 *
 * open reads the fixed header (bytes past the end of a short file read as
 * zeros, as QEMU's file driver returns them), validates it exactly as
 * QEMU 7.2 does and reads the backing file name, which info shows and
 * the core's chain map opens (ops.backing).  info keeps qemu-img info's
 * keys and values, dirty-flag false included (QEMU hides NEED_CHECK),
 * and adds ours; the backing file is never opened for it, so an image
 * whose backing file is missing is described as qemu-img info does.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "qed/qed.h"
#include "core/banned.h"

static int
qed_probe(const struct img_probe *p)
{
	struct rd	r;

	/* bdrv_qed_probe() wants the whole fixed header. */
	if (p->len < QED_HDR_LEN)
		return 0;
	rd_init(&r, p->buf, p->len);
	return rd_le32(&r) == QED_MAGIC ? 100 : 0;
}

static int
qed_open(struct img *img)
{
	struct qed	*q;
	struct rd	 r;
	uint8_t		 buf[QED_HDR_LEN];
	char		 why[IMG_ERRMSG_MAX];
	size_t		 n;
	int		 rc;

	if ((q = calloc(1, sizeof(*q))) == NULL)
		return -ENOMEM;
	if ((rc = img_pread_zf(img, 0, buf, sizeof(buf), NULL)) != 0)
		goto fail;
	rd_init(&r, buf, sizeof(buf));
	if ((rc = qed_hdr_decode(&r, &q->hdr)) != 0)
		goto fail;
	if (qed_hdr_validate(&q->hdr, img_file_size(img), &q->g, why,
	    sizeof(why)) != QED_HDR_OK) {
		img_set_error(img, "%s", why);
		rc = (q->hdr.features & ~QED_FEATURE_MASK) &&
		    q->hdr.magic == QED_MAGIC ? -IMG_EUNSUP : -IMG_EINVAL;
		goto fail;
	}
	if (q->hdr.features & QED_F_BACKING_FILE) {
		/* Validated: size <= QED_BACKING_NAME_MAX, inside header. */
		n = q->hdr.backing_filename_size;
		if ((q->backing = calloc(1, n + 1)) == NULL) {
			rc = -ENOMEM;
			goto fail;
		}
		if ((rc = img_pread_zf(img, q->hdr.backing_filename_offset,
		    q->backing, n, NULL)) != 0) {
			img_set_error(img, "Failed to read backing filename: "
			    "%s", img_strerror(rc));
			goto fail;
		}
	}
	img->priv = q;
	return 0;
fail:
	free(q->backing);
	free(q);
	return rc;
}

/* QEMU's path_has_protocol(): a colon before any slash. */
static bool
has_protocol(const char *name)
{
	return name[strcspn(name, ":/")] == ':';
}

char *
qed_backing_path(const struct img *img, const char *name)
{
	const char	*path = img_path(img), *slash;
	char		*s;
	size_t		 dir, len;

	/* bdrv_make_absolute_filename(): bdrv_dirname() of the file. */
	slash = strrchr(path, '/');
	if (name[0] == '/' || has_protocol(name) || slash == NULL)
		return strdup(name);
	dir = (size_t)(slash - path) + 1;
	len = strlen(name);
	if ((s = malloc(dir + len + 1)) == NULL)
		return NULL;
	memcpy(s, path, dir);
	memcpy(s + dir, name, len + 1);
	return s;
}

/*
 * The backing file as the header names it.  QEMU reads the name as a C
 * string: an empty one (the feature bit set, a zero size or a NUL first)
 * is no backing file at all.
 */
static int
qed_backing(struct img *img, char *name, size_t namelen, char *fmt,
    size_t fmtlen)
{
	const struct qed	*q = img->priv;
	const char		*f;
	size_t			 n;

	if (q->backing == NULL || q->backing[0] == '\0')
		return 0;
	f = q->hdr.features & QED_F_BACKING_FORMAT_NO_PROBE ? "raw" : "";
	n = strlen(q->backing);
	if (n >= namelen || strlen(f) >= fmtlen)
		return -IMG_ELIMIT;
	memcpy(name, q->backing, n + 1);
	memcpy(fmt, f, strlen(f) + 1);
	return 1;
}

static int
qed_info(struct img *img, struct json_object *o)
{
	const struct qed	*q = img->priv;
	char			*full;

	/* 2^63 passes QEMU's open but leaves its size at 0. */
	info_add_u64(o, "virtual-size", qed_vsize(img));
	info_add_u64(o, "cluster-size", q->hdr.cluster_size);
	/* QEMU 7.2 drops NEED_CHECK while opening: always false. */
	json_object_object_add(o, "dirty-flag", json_object_new_boolean(0));
	/*
	 * bdrv_query_image_info(): only a name that is not empty, and the
	 * file is never opened, so a missing one is described all the same.
	 */
	if (q->backing != NULL && q->backing[0] != '\0') {
		json_object_object_add(o, "backing-filename",
		    json_object_new_string(q->backing));
		if ((full = qed_backing_path(img, q->backing)) == NULL)
			return -ENOMEM;
		json_object_object_add(o, "full-backing-filename",
		    json_object_new_string(full));
		free(full);
		if (q->hdr.features & QED_F_BACKING_FORMAT_NO_PROBE)
			json_object_object_add(o, "backing-filename-format",
			    json_object_new_string("raw"));
	}
	json_object_object_add(o, "need-check", json_object_new_boolean(
	    (q->hdr.features & QED_F_NEED_CHECK) != 0));
	info_add_u64(o, "table-size", q->hdr.table_size);
	info_add_u64(o, "header-size", q->hdr.header_size);
	info_add_u64(o, "l1-table-offset", q->hdr.l1_table_offset);
	info_add_u64(o, "features", q->hdr.features);
	info_add_u64(o, "compat-features", q->hdr.compat_features);
	info_add_u64(o, "autoclear-features", q->hdr.autoclear_features);
	return 0;
}

static void
qed_close(struct img *img)
{
	struct qed	*q = img->priv;

	if (q == NULL)
		return;
	free(q->backing);
	free(q);
	img->priv = NULL;
}

const struct fmt_ops	qed_ops = {
	.name = "qed",
	.pr_base = 0x020000,
	.probe = qed_probe,
	.open = qed_open,
	.info = qed_info,
	.check = qed_check,
	.repair = qed_repair,
	.map = qed_map,
	.read = qed_read,
	.backing = qed_backing,
	.vsize = qed_vsize,
	.hostmap = qed_hostmap,
	.describe = qed_describe,
	.locate = qed_locate,
	.chain = NULL,
	.extract = NULL,
	.close = qed_close,
	.caps = FMT_REPAIR_INPLACE | FMT_REPAIR_COPY,
};
