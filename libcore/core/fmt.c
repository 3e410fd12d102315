/* SPDX-License-Identifier: MIT */
/*
 * fmt.c --- the format table and the generic operations over it.
 *
 * Each format exports one const struct fmt_ops; this file lists them in
 * probe order and dispatches img_check(), img_info() and friends, testing
 * for operations a format lacks.
 */
#include <sys/stat.h>

#include <errno.h>
#include <string.h>

#include <json-c/json.h>

#include "core/core.h"
#include "core/banned.h"

/*
 * Strong references: they pull each format's objects out of libcore.a.
 * Loops still skip NULL slots so a format can be left out by editing
 * this table alone.
 */
extern const struct fmt_ops	qcow2_ops;
extern const struct fmt_ops	qed_ops;
extern const struct fmt_ops	sparse_ops;
extern const struct fmt_ops	a7_ops;
extern const struct fmt_ops	raw_ops;

const struct fmt_ops *const fmt_table[FMT_NTAB] = {
	&qcow2_ops,
	&qed_ops,
	&sparse_ops,
	&a7_ops,
	&raw_ops,
};

const struct fmt_ops *
fmt_find(const char *name)
{
	size_t	i;

	for (i = 0; i < FMT_NTAB; i++)
		if (fmt_table[i] != NULL &&
		    strcmp(fmt_table[i]->name, name) == 0)
			return fmt_table[i];
	return NULL;
}

const char *const *
img_format_names(void)
{
	static const char	*names[FMT_NTAB + 1];
	size_t			 i, n = 0;

	for (i = 0; i < FMT_NTAB; i++)
		if (fmt_table[i] != NULL)
			names[n++] = fmt_table[i]->name;
	names[n] = NULL;
	return names;
}

bool
img_format_known(const char *name)
{
	return fmt_find(name) != NULL;
}

bool
img_format_has_check(const char *name)
{
	const struct fmt_ops	*ops = fmt_find(name);

	return ops != NULL && ops->check != NULL;
}

/* Only a check may look at a file its forced format does not recognise. */
int
img_recognised(struct img *img)
{
	if (!img->unrecognised)
		return 0;
	img_set_error(img, "Image is not in %s format", img->ops->name);
	return -IMG_EFORMAT;
}

int
img_check(struct img *img, struct report *rp)
{
	struct finding	*f;
	uint64_t	 off, len;
	size_t		 i;
	int		 rc;

	if (img->ops->check == NULL)
		return -IMG_ENOCHECK;
	rc = img->ops->check(img, rp);
	/*
	 * Where a finding's range at stake is not the entry holding the bad
	 * value (a pointer, a refcount), say where that entry is.
	 */
	for (i = 0; img->ops->locate != NULL && i < rp->nf; i++) {
		f = &rp->f[i];
		if (img_finding_entry(img, f, &off, &len) != 0)
			continue;
		if ((f->flags & PC_HOST) && off == f->host_off &&
		    len == f->host_len)
			continue;
		f->entry_off = off;
		f->entry_len = len;
		f->flags |= PC_ENTRY;
	}
	return rc;
}

bool
img_can_repair(const struct img *img, bool inplace)
{
	return img->ops->repair != NULL && (img->ops->caps &
	    (inplace ? FMT_REPAIR_INPLACE : FMT_REPAIR_COPY)) != 0;
}

bool
img_repair_plans(const struct img *img)
{
	return img->ops->repair != NULL &&
	    (img->ops->caps & FMT_REPAIR_PLAN) != 0;
}

/*
 * A copy is repaired into a temporary file beside out_path, which the
 * format creates and fills by name; only a repair that succeeded is
 * renamed over out_path.
 */
int
img_repair(struct img *img, struct report *rp, const char *out_path)
{
	struct img_out	o;
	char		err[IMG_ERRMSG_MAX];
	int		rc;

	if ((rc = img_recognised(img)) != 0)
		return rc;
	if (!img_can_repair(img, out_path == NULL)) {
		img_set_error(img, "%s images cannot be repaired %s",
		    img->ops->name, out_path == NULL ? "in place (use -o "
		    "NEWFILE)" : "into a new file (use --in-place)");
		return img->ops->repair == NULL ? -IMG_ENOOP : -IMG_EUNSUP;
	}
	if ((img->ops->caps & FMT_REPAIR_PLAN) && rp->plan == NULL &&
	    (rp->plan = plan_new()) == NULL)
		return -ENOMEM;
	/* A dry run writes nothing, so it repairs "in place", read-only. */
	if (rp->dry_run)
		return img->ops->repair(img, rp, NULL);
	if (out_path == NULL && !(img->flags & IMG_RDWR))
		return -IMG_ERDONLY;
	if (out_path == NULL)
		return img->ops->repair(img, rp, NULL);
	if ((rc = img_out_open(&o, out_path, &img, 1, err, sizeof(err))) != 0) {
		img_set_error(img, "%s", err);
		return rc;
	}
	if ((rc = img->ops->repair(img, rp, o.tmp)) != 0) {
		img_out_abort(&o);
		return rc;
	}
	if ((rc = img_out_commit(&o, err, sizeof(err))) != 0)
		img_set_error(img, "%s", err);
	return rc;
}

int
img_check_chain(struct img **imgs, size_t n, struct report *rp)
{
	size_t	i;

	if (n == 0)
		return -EINVAL;
	for (i = 1; i < n; i++)
		if (imgs[i]->ops != imgs[0]->ops)
			return -IMG_EINVAL;
	if (imgs[0]->ops->chain == NULL)
		return -IMG_ENOOP;
	return imgs[0]->ops->chain(imgs, n, rp);
}

void
info_add_int(struct json_object *o, const char *key, int64_t v)
{
	json_object_object_add(o, key, json_object_new_int64(v));
}

void
info_add_u64(struct json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_int64((int64_t)v));
}

void
info_add_str(struct json_object *o, const char *key, const char *v)
{
	json_object_object_add(o, key, json_object_new_string(v));
}

void
info_add_bool(struct json_object *o, const char *key, bool v)
{
	json_object_object_add(o, key, json_object_new_boolean(v));
}

int
img_info(struct img *img, struct json_object **out)
{
	struct json_object	*o;
	struct stat		 st;
	int			 rc;

	if ((rc = img_recognised(img)) != 0)
		return rc;
	if (img->ops->info == NULL)
		return -IMG_ENOOP;
	if ((o = json_object_new_object()) == NULL)
		return -ENOMEM;
	json_object_object_add(o, "filename",
	    json_object_new_string(img->path));
	json_object_object_add(o, "format",
	    json_object_new_string(img->ops->name));
	if (fstat(img->fd, &st) == 0)
		json_object_object_add(o, "actual-size",
		    json_object_new_int64((int64_t)st.st_blocks * 512));
	if ((rc = img->ops->info(img, o)) != 0) {
		json_object_put(o);
		return rc;
	}
	*out = o;
	return 0;
}

const char *
img_strerror(int err)
{
	static const char *const msgs[IMG_ELAST - IMG_EBASE] = {
		[0] = "unknown error",
		[IMG_ESHORT - IMG_EBASE] = "structure truncated",
		[IMG_ERANGE - IMG_EBASE] = "offset beyond the end of the file",
		[IMG_EFORMAT - IMG_EBASE] = "unknown image format",
		[IMG_EINVAL - IMG_EBASE] = "invalid image",
		[IMG_EUNSUP - IMG_EBASE] = "unsupported feature",
		[IMG_ELIMIT - IMG_EBASE] = "size beyond a limit",
		[IMG_ENOCHECK - IMG_EBASE] =
		    "this image format does not support checks",
		[IMG_ENOOP - IMG_EBASE] =
		    "this image format does not support the operation",
		[IMG_ERDONLY - IMG_EBASE] = "image is open read-only",
		[IMG_ECHECK - IMG_EBASE] = "check failed",
		[IMG_EKEY - IMG_EBASE] = "key missing or wrong",
		[IMG_ELOCKED - IMG_EBASE] = "image locked by another process",
	};

	if (err < 0)
		err = -err;
	if (err > IMG_EBASE && err < IMG_ELAST)
		return msgs[err - IMG_EBASE];
	if (err == IMG_EBASE || err >= IMG_ELAST)
		return msgs[0];
	return strerror(err);
}
