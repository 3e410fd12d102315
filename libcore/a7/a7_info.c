/* SPDX-License-Identifier: MIT */
/*
 * a7_info.c --- describe an archive7: header fields, streams, files.
 *
 * Without a key we can give only the size, block count and nonce reuse;
 * the rest needs the key and the object says so.  The analysis runs into
 * a scratch report: info lists, check judges.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "a7/a7.h"
#include "core/banned.h"

static void
add_uuid(struct json_object *o, const char *k, const uint8_t *id)
{
	char	s[40];

	a7_uuid_str(id, s, sizeof(s));
	info_add_str(o, k, s);
}

/* Per-file status for a report (§8, last paragraph). */
static const char *
a7_file_status(const struct a7 *a, const struct a7_ent *e)
{
	const struct a7_stream	*st;
	uint32_t		 k;
	int32_t			 b;

	if (e->deleted)
		return "deleted";
	if (a7_is_nil(e->sid))
		return "ok";
	if (e->stream < 0)
		return "missing stream";
	st = &a->st[e->stream];
	if (st->broken || st->length > (uint64_t)st->wcount * A7_DATA)
		return "damaged";
	for (k = 0, b = st->begin; k < st->wcount && b > 0; k++) {
		if (a->blk[b].flags & A7_BF_DIGEST_BAD)
			return "damaged";
		b = a->blk[b].next;
	}
	return "ok";
}

static struct json_object *
a7_info_header(const struct a7_ahdr *h)
{
	struct json_object	*o = json_object_new_object();
	char			 ver[16], tbuf[32];
	struct tm		 tm;
	time_t			 t = (time_t)h->created;

	info_add_str(o, "magic", h->present ? "archive7" : "absent");
	snprintf(ver, sizeof(ver), "%u.%u", h->major, h->minor);
	info_add_str(o, "version", ver);
	info_add_int(o, "type", h->type);
	info_add_int(o, "role", h->role);
	info_add_int(o, "use", h->use);
	add_uuid(o, "id", h->id);
	add_uuid(o, "owner", h->owner);
	add_uuid(o, "domain", h->domain);
	add_uuid(o, "node", h->node);
	info_add_int(o, "created", (int64_t)h->created);
	if (h->created < (1ULL << 40) && gmtime_r(&t, &tm) != NULL &&
	    strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%S", &tm) > 0)
		info_add_str(o, "created-iso", tbuf);
	info_add_str(o, "title", h->title);
	return o;
}

int
a7_info(struct img *img, struct json_object *obj)
{
	struct a7		*a = img->priv;
	struct json_object	*o, *arr, *sp;
	struct report		 rp;
	const struct a7_stream	*st;
	const struct a7_ent	*e;
	uint64_t		 nfiles = 0, ndirs = 0;
	size_t			 i;
	int			 rc;

	report_init(&rp);
	rc = a7_analyse(img, &rp);
	report_release(&rp);
	if (rc != 0 && rc != -IMG_EKEY)
		return rc;
	info_add_int(obj, "virtual-size", (int64_t)img->size);
	info_add_int(obj, "block-size", A7_BLOCK);
	info_add_int(obj, "blocks", (int64_t)a->nblocks);
	json_object_object_add(obj, "size-ok",
	    json_object_new_boolean(a->tail == 0 && a->nblocks > 0));
	info_add_int(obj, "nonce-reuse", (int64_t)a->nonce_reuse);
	json_object_object_add(obj, "encrypted",
	    json_object_new_boolean(true));
	if (!img->has_key) {
		info_add_str(obj, "key", "missing");
		info_add_str(obj, "note",
		    "header, streams and files need the key "
		    "(--key-file, --key-hex, --password-file or "
		    "IMGKIT_A7_KEY)");
		return 0;
	}
	if (a->keyfail) {
		info_add_str(obj, "key", "wrong: no block decrypts");
		return 0;
	}
	info_add_str(obj, "key", "ok");
	if (a->nblocks == 0)
		return 0;
	if (a->meta_ok)
		json_object_object_add(obj, "archive",
		    a7_info_header(&a->ahdr));
	sp = json_object_new_array();
	for (i = 0; i < A7_NSPECIAL && i < a->nst; i++) {
		st = &a->st[i];
		o = json_object_new_object();
		info_add_str(o, "name", a7_slot_names[i]);
		info_add_int(o, "begin", st->begin);
		info_add_int(o, "end", st->end);
		info_add_int(o, "count", st->count);
		info_add_int(o, "length", (int64_t)st->length);
		info_add_int(o, "walked-blocks", st->wcount);
		json_object_array_add(sp, o);
	}
	json_object_object_add(obj, "special-streams", sp);
	info_add_int(obj, "streams", (int64_t)(a->nst > A7_NSPECIAL ?
	    a->nst - A7_NSPECIAL : 0));
	info_add_int(obj, "entries", (int64_t)a->nent);
	if (a->nst > 0) {
		o = json_object_new_object();
		st = &a->st[0];
		info_add_int(o, "blocks", st->wcount > 0 ? st->wcount - 1 : 0);
		info_add_int(o, "bytes", (int64_t)(st->wcount > 0 ?
		    (uint64_t)(st->wcount - 1) * A7_BLOCK : 0));
		json_object_object_add(obj, "trash", o);
	}
	arr = json_object_new_array();
	for (i = 0; i < a->nent; i++) {
		e = &a->ent[i];
		if (e->type == 'd') {
			ndirs++;
			continue;
		}
		o = json_object_new_object();
		info_add_str(o, "path", e->path);
		info_add_str(o, "type", e->type == 'f' ? "file" :
		    e->type == 'l' ? "link" : "unknown");
		if (e->type == 'f') {
			nfiles++;
			info_add_int(o, "size", (int64_t)(e->stream >= 0 &&
			    !e->deleted ? a->st[e->stream].length :
			    e->length));
			add_uuid(o, "stream", e->sid);
			info_add_str(o, "status", a7_file_status(a, e));
		} else if (e->type == 'l') {
			long	t = a7_ent_find(a, e->owner);

			info_add_str(o, "target", t >= 0 ? a->ent[t].path : "?");
		}
		if (e->deleted)
			json_object_object_add(o, "deleted",
			    json_object_new_boolean(true));
		json_object_array_add(arr, o);
	}
	json_object_object_add(obj, "files", arr);
	info_add_int(obj, "file-count", (int64_t)nfiles);
	info_add_int(obj, "dir-count", (int64_t)ndirs);
	return 0;
}
