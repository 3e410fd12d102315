/* SPDX-License-Identifier: MIT */
/*
 * sparse_meta.c --- read and validate the meta frame of a sparse stream.
 *
 * The meta frame sits at offset 0: a 40-byte header "meta 0 J", J bytes
 * of JSON and CR LF (spec section 4).  We check the header strictly, the
 * JSON length against a limit before reading it, parse the JSON with
 * json-c and check the keys each stream version has.  A damaged meta
 * frame does not stop the walk: the caller resynchronises on the first
 * frame header after it, so one run still lists every later problem.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "sparse/sparse.h"
#include "core/banned.h"

bool
sparse_pr(struct report *rp, enum pr_id id, const struct pr_ctx *pc)
{
	const struct pr_info	*pi;
	bool			 fix;

	if (rp == NULL)
		return false;
	fix = report_problem(rp, id, pc);
	if (fix && (pi = pr_info_get(id)) != NULL) {
		if (pi->sev == PR_SEV_CORRUPT)
			rp->c.corruptions_fixed++;
		else if (pi->sev == PR_SEV_LEAK)
			rp->c.leaks_fixed++;
	}
	return fix;
}

struct json_object *
sparse_json_parse(const uint8_t *buf, size_t len, char *why, size_t whylen)
{
	struct json_tokener	*tok;
	struct json_object	*o;
	enum json_tokener_error	 jerr;
	size_t			 end;

	why[0] = '\0';
	if (len > INT32_MAX) {
		snprintf(why, whylen, "%zu bytes is too long", len);
		return NULL;
	}
	if ((tok = json_tokener_new_ex(64)) == NULL) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
	    JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, (const char *)buf, (int)len);
	jerr = json_tokener_get_error(tok);
	if (o == NULL) {
		snprintf(why, whylen, "%s near byte %zu",
		    jerr == json_tokener_continue ? "unexpected end" :
		    json_tokener_error_desc(jerr),
		    json_tokener_get_parse_end(tok));
		json_tokener_free(tok);
		return NULL;
	}
	end = json_tokener_get_parse_end(tok);
	while (end < len && (buf[end] == ' ' || buf[end] == '\t' ||
	    buf[end] == '\n' || buf[end] == '\r'))
		end++;
	json_tokener_free(tok);
	if (end != len) {
		snprintf(why, whylen, "extra data at byte %zu", end);
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* Copy a string member into dst; false when absent or not a string. */
static bool
meta_str(struct json_object *o, const char *key, char *dst, size_t len)
{
	struct json_object	*v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return false;
	snprintf(dst, len, "%s", json_object_get_string(v));
	return true;
}

/* A non-negative integer member; false when absent or of another type. */
static bool
meta_uint(struct json_object *o, const char *key, uint64_t *out)
{
	struct json_object	*v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return false;
	if (json_object_get_int64(v) < 0)
		return false;
	*out = json_object_get_uint64(v);
	return true;
}

static void
meta_key(struct report *rp, struct pr_ctx *pc, const char *key)
{
	pc->str = key;
	sparse_pr(rp, PR_SPARSE_META_KEY, pc);
}

/* Check the keys of section 4.2/4.3 and fill m. */
static void
meta_keys(struct sparse_meta *m, struct json_object *o, struct report *rp,
    struct pr_ctx *pc)
{
	struct json_object	*v;
	uint64_t		 u;
	bool			 ok = true;

	m->version = 0;
	if (meta_uint(o, "streamVersion", &u))
		m->version = u == 2 ? 2 : (u == 1 ? 1 : -1);
	else if (meta_uint(o, "stream-version", &u))
		m->version = u == 1 ? 1 : (u == 2 ? 2 : -1);
	if (m->version <= 0) {
		pc->str = m->version < 0 ? "version key is not 1 or 2" :
		    "no streamVersion or stream-version key";
		sparse_pr(rp, PR_SPARSE_META_VERSION, pc);
		ok = false;
	}
	if (!json_object_object_get_ex(o, "virtualSize", NULL) &&
	    json_object_object_get_ex(o, "virtual-size", NULL)) {
		m->prototype = true;
		sparse_pr(rp, PR_SPARSE_META_PROTOTYPE, pc);
	}
	if (meta_uint(o, m->prototype ? "virtual-size" : "virtualSize",
	    &m->virtual_size))
		m->has_vsize = true;
	else {
		meta_key(rp, pc, "virtualSize");
		ok = false;
	}
	if (meta_uint(o, m->prototype ? "data-size" : "dataSize",
	    &m->data_size))
		m->has_dsize = true;
	else {
		meta_key(rp, pc, "dataSize");
		ok = false;
	}
	if (json_object_object_get_ex(o, "incremental", &v) &&
	    json_object_is_type(v, json_type_boolean))
		m->incremental = json_object_get_boolean(v);
	else if (!m->prototype) {
		meta_key(rp, pc, "incremental");
		ok = false;
	}
	if (m->prototype) {
		/* Recognised, not supported: only the sizes are needed. */
		meta_str(o, "checkpointName", m->checkpoint,
		    sizeof(m->checkpoint));
		meta_str(o, "disk_name", m->disk, sizeof(m->disk));
		meta_str(o, "date", m->date, sizeof(m->date));
		m->ok = ok;
		return;
	}
	if (!meta_str(o, "checkpointName", m->checkpoint,
	    sizeof(m->checkpoint))) {
		meta_key(rp, pc, "checkpointName");
		ok = false;
	}
	if (!meta_str(o, m->prototype ? "disk_name" : "diskName", m->disk,
	    sizeof(m->disk))) {
		meta_key(rp, pc, "diskName");
		ok = false;
	}
	if (!meta_str(o, "date", m->date, sizeof(m->date))) {
		meta_key(rp, pc, "date");
		ok = false;
	}
	/* parentCheckpoint: a string, or false before 1.9.4 */
	if (!meta_str(o, "parentCheckpoint", m->parent, sizeof(m->parent))) {
		if (!json_object_object_get_ex(o, "parentCheckpoint", &v) ||
		    !json_object_is_type(v, json_type_boolean) ||
		    json_object_get_boolean(v)) {
			meta_key(rp, pc, "parentCheckpoint");
			ok = false;
		}
	}
	if (json_object_object_get_ex(o, "diskFormat", &v) &&
	    !meta_str(o, "diskFormat", m->disk_format,
	    sizeof(m->disk_format)))
		meta_key(rp, pc, "diskFormat");
	/* Section 4.4: compressed unless version 2 says false. */
	m->compressed = false;
	if (m->version == 2) {
		if (!json_object_object_get_ex(o, "compressed", &v)) {
			meta_key(rp, pc, "compressed");
			ok = false;
		} else if (json_object_is_type(v, json_type_boolean)) {
			m->compressed = json_object_get_boolean(v);
			m->level = m->compressed ? 1 : 0;
		} else if (json_object_is_type(v, json_type_int)) {
			m->compressed = true;
			m->level = json_object_get_int64(v);
			if (m->level == 0)
				sparse_pr(rp, PR_SPARSE_META_COMPRESS0, pc);
		} else {
			meta_key(rp, pc, "compressed");
			ok = false;
		}
		if (json_object_object_get_ex(o, "compressionMethod", &v) &&
		    !meta_str(o, "compressionMethod", m->method,
		    sizeof(m->method)))
			meta_key(rp, pc, "compressionMethod");
		if (m->compressed && m->method[0] != '\0' &&
		    strcmp(m->method, "lz4") != 0) {
			pc->str = m->method;
			sparse_pr(rp, PR_SPARSE_META_METHOD, pc);
		}
	}
	m->ok = ok;
}

void
sparse_meta_release(struct sparse_meta *m)
{
	if (m->json != NULL)
		json_object_put(m->json);
	memset(m, 0, sizeof(*m));
}

int
sparse_meta_read(struct img *img, struct sparse_meta *m, struct report *rp)
{
	struct sparse_hdr	 h;
	struct pr_ctx		 pc;
	uint8_t			 b[SPARSE_HDR_LEN], crlf[2];
	uint8_t			*js = NULL;
	char			 why[160];
	uint64_t		 size = img->size, end;
	int			 rc = 0;

	memset(m, 0, sizeof(*m));
	memset(&pc, 0, sizeof(pc));
	pc.flags = PC_HOST;
	pc.path = "meta";
	m->start = SS_NONE;
	if (size < SPARSE_HDR_LEN) {
		pc.len = size;
		pc.found = size;
		pc.want = SPARSE_HDR_LEN;
		sparse_pr(rp, PR_SPARSE_TOO_SHORT, &pc);
		return 0;
	}
	if ((rc = img_pread(img, 0, b, sizeof(b))) != 0)
		return rc;
	sparse_hdr_parse(b, &h);
	pc.len = SPARSE_HDR_LEN;
	if (h.kind != SK_META) {
		/* Section 9: another frame at 0 means the meta was lost. */
		if (h.kind != SK_UNKNOWN && !(h.flags & SH_NONHEX)) {
			pc.str = sparse_kind_name(h.kind);
			sparse_pr(rp, PR_SPARSE_META_MISSING, &pc);
			m->start = SS_AT;
		} else {
			pc.str = "does not start with 'meta '";
			sparse_pr(rp, PR_SPARSE_NOT_A_STREAM, &pc);
		}
		return 0;
	}
	m->start = SS_RESYNC;
	m->first_frame = SPARSE_HDR_LEN;
	if (h.flags & SH_NONHEX) {
		pc.str = "length is not a hex number";
		sparse_pr(rp, PR_SPARSE_META_HEADER, &pc);
		return 0;
	}
	if (h.flags & SH_BAD_SEP) {
		pc.str = "bad separator";
		sparse_pr(rp, PR_SPARSE_META_HEADER, &pc);
	}
	if (h.flags & SH_TERM_BAD) {
		pc.str = "header not terminated by CR LF";
		sparse_pr(rp, PR_SPARSE_META_HEADER, &pc);
	}
	sparse_hdr_report_lenient(rp, &h, &pc);
	if (h.start != 0) {
		pc.str = "start is not 0";
		sparse_pr(rp, PR_SPARSE_META_HEADER, &pc);
	}
	if (h.len == 0) {
		pc.str = "JSON length 0";
		sparse_pr(rp, PR_SPARSE_META_HEADER, &pc);
		return 0;
	}
	/* Section 8.2: 0 < J <= limit and 40 + J + 2 <= file size. */
	if (h.len > SPARSE_META_MAX || !ck_add_u64(h.len, SPARSE_HDR_LEN + 2,
	    &end) || end > size) {
		pc.found = h.len;
		/* The largest J that would fit. */
		pc.want = size < SPARSE_HDR_LEN + 2 ? 0 :
		    size - SPARSE_HDR_LEN - 2;
		if (pc.want > SPARSE_META_MAX)
			pc.want = SPARSE_META_MAX;
		sparse_pr(rp, PR_SPARSE_META_LENGTH, &pc);
		return 0;
	}
	m->json_len = h.len;
	pc.len = end;
	if ((js = malloc((size_t)h.len)) == NULL)
		return -ENOMEM;
	if ((rc = img_pread(img, SPARSE_HDR_LEN, js, (size_t)h.len)) != 0 ||
	    (rc = img_pread(img, end - 2, crlf, 2)) != 0)
		goto out;
	if (crlf[0] != '\r' || crlf[1] != '\n') {
		/* J is wrong: the first frame may start before 40 + J. */
		pc.found = h.len;
		sparse_pr(rp, PR_SPARSE_META_NO_CRLF, &pc);
	} else {
		m->start = SS_AT;
		m->first_frame = end;
	}
	pc.off = SPARSE_HDR_LEN;
	pc.len = h.len;
	pc.found = 0;
	m->json = sparse_json_parse(js, (size_t)h.len, why, sizeof(why));
	if (m->json == NULL) {
		pc.str = why;
		sparse_pr(rp, PR_SPARSE_META_JSON, &pc);
		goto out;
	}
	if (!json_object_is_type(m->json, json_type_object)) {
		pc.str = "not a JSON object";
		sparse_pr(rp, PR_SPARSE_META_JSON, &pc);
		json_object_put(m->json);
		m->json = NULL;
		goto out;
	}
	meta_keys(m, m->json, rp, &pc);
out:
	free(js);
	return rc;
}

const char *
sparse_backup_kind(const char *path, const struct sparse_meta *m)
{
	const char	*base = strrchr(path, '/');

	base = base != NULL ? base + 1 : path;
	if (strstr(base, ".full.") != NULL)
		return "full";
	if (strstr(base, ".copy.") != NULL)
		return "copy";
	if (strstr(base, ".inc.") != NULL)
		return "inc";
	if (strstr(base, ".diff.") != NULL)
		return "diff";
	if (m->json == NULL)
		return "unknown";
	return m->incremental ? "inc" : "full";
}
