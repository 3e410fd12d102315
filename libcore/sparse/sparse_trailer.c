/* SPDX-License-Identifier: MIT */
/*
 * sparse_trailer.c --- locate and parse the compression trailer.
 *
 * A compressed stream ends with a JSON array of payload sizes, CR LF and
 * a "comp 0 T" header (spec section 5.3), found from the end of the
 * file.  We check the header, the CR LF before it and that the JSON
 * cannot reach back into the meta frame, then turn the array into a
 * compact element list and drop the JSON tree.  Trailers beyond a limit
 * are not read: the lz4 frames alone give every payload size (5.4).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "sparse/sparse.h"
#include "core/banned.h"

void
sparse_trailer_release(struct sparse_trailer *t)
{
	free(t->el);
	free(t->pieces);
	memset(t, 0, sizeof(*t));
}

/* A decimal string of at most 19 digits into *v. */
static bool
dec_parse(const char *s, uint64_t *v)
{
	uint64_t	val = 0;
	size_t		n;

	for (n = 0; s[n] != '\0'; n++) {
		if (s[n] < '0' || s[n] > '9' || n >= 19)
			return false;
		val = val * 10 + (uint64_t)(s[n] - '0');
	}
	if (n == 0)
		return false;
	*v = val;
	return true;
}

static bool
json_size(struct json_object *v, uint64_t *out)
{
	if (!json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 0)
		return false;
	*out = json_object_get_uint64(v);
	return true;
}

/* Turn the array into t->el / t->pieces; report bad elements. */
static int
trailer_elements(struct sparse_trailer *t, struct json_object *arr,
    struct report *rp, struct pr_ctx *pc)
{
	struct json_object	*e, *list = NULL;
	size_t			 i, j, n, np = 0, cap = 0;
	uint64_t		 v, sum;
	uint64_t		*np_arr;
	bool			 good;

	n = json_object_array_length(arr);
	if (n > 0 && (t->el = calloc(n, sizeof(*t->el))) == NULL)
		return -ENOMEM;
	t->nel = n;
	for (i = 0; i < n; i++) {
		e = json_object_array_get_idx(arr, i);
		t->el[i].first = UINT32_MAX;
		if (json_size(e, &v)) {
			t->el[i].total = t->el[i].key = v;
			t->el[i].npieces = 1;
			t->el[i].valid = true;
			continue;
		}
		good = json_object_is_type(e, json_type_object) &&
		    json_object_object_length(e) == 1;
		if (good) {
			json_object_object_foreach(e, key, val) {
				good = dec_parse(key, &t->el[i].key) &&
				    json_object_is_type(val, json_type_array) &&
				    json_object_array_length(val) > 0 &&
				    json_object_array_length(val) <=
				    SPARSE_PIECES_MAX;
				list = val;
			}
		}
		if (good) {
			sum = 0;
			for (j = 0; good && j < json_object_array_length(list);
			    j++)
				good = json_size(json_object_array_get_idx(list,
				    j), &v) && ck_add_u64(sum, v, &sum);
			t->el[i].total = sum;
		}
		if (!good || np + json_object_array_length(list) >
		    SPARSE_PIECES_MAX * 4) {
			pc->idx = i;
			sparse_pr(rp, PR_SPARSE_TRAILER_ELEMENT, pc);
			continue;
		}
		if (np + json_object_array_length(list) > cap) {
			cap = (np + json_object_array_length(list)) * 2;
			np_arr = reallocarray(t->pieces, cap, sizeof(*np_arr));
			if (np_arr == NULL)
				return -ENOMEM;
			t->pieces = np_arr;
		}
		t->el[i].first = (uint32_t)np;
		t->el[i].npieces = (uint32_t)json_object_array_length(list);
		for (j = 0; j < t->el[i].npieces; j++)
			json_size(json_object_array_get_idx(list, j),
			    &t->pieces[np++]);
		t->npieces = np;
		t->el[i].valid = true;
		if (t->el[i].key != sum) {
			pc->idx = i;
			pc->found = t->el[i].key;
			pc->want = sum;
			sparse_pr(rp, PR_SPARSE_TRAILER_SUM, pc);
		}
	}
	return 0;
}

int
sparse_trailer_read(struct img *img, const struct sparse_meta *m,
    struct sparse_trailer *t, struct report *rp)
{
	struct json_object	*arr = NULL;
	struct sparse_hdr	 h;
	struct pr_ctx		 pc;
	uint8_t			 b[SPARSE_HDR_LEN + 2], *js = NULL;
	char			 why[160];
	uint64_t		 size = img->size, min_json, jo;
	int			 rc = 0;

	memset(t, 0, sizeof(*t));
	memset(&pc, 0, sizeof(pc));
	pc.flags = PC_HOST;
	pc.path = "trailer";
	/* The smallest trailer follows meta and a stop frame. */
	if (!ck_add_u64(m->first_frame, SPARSE_HDR_LEN, &min_json) ||
	    size < min_json + 2 + 2 + SPARSE_HDR_LEN) {
		pc.off = size >= SPARSE_HDR_LEN ? size - SPARSE_HDR_LEN : 0;
		pc.len = size - pc.off;
		pc.str = "(none)";
		sparse_pr(rp, PR_SPARSE_TRAILER_MISSING, &pc);
		return 0;
	}
	t->comp_off = size - SPARSE_HDR_LEN;
	if ((rc = img_pread(img, size - SPARSE_HDR_LEN - 2, b, sizeof(b))) != 0)
		return rc;
	sparse_hdr_parse(b + 2, &h);
	pc.off = t->comp_off;
	pc.len = SPARSE_HDR_LEN;
	/* A damaged comp header still has its shape; anything else is not. */
	if (h.kind != SK_COMP && (h.kind != SK_UNKNOWN ||
	    (h.flags & (SH_NONHEX | SH_BAD_SEP | SH_TERM_BAD)))) {
		pc.str = h.word;
		sparse_pr(rp, PR_SPARSE_TRAILER_MISSING, &pc);
		return 0;
	}
	t->present = true;
	t->damaged = true;
	if (h.flags & SH_NONHEX) {
		pc.str = "length is not a hex number";
		sparse_pr(rp, PR_SPARSE_TRAILER_HEADER, &pc);
		return 0;
	}
	if (h.kind != SK_COMP) {
		snprintf(why, sizeof(why), "kind word '%s', want 'comp'",
		    h.word);
		pc.str = why;
		sparse_pr(rp, PR_SPARSE_TRAILER_HEADER, &pc);
	}
	if (h.flags & (SH_BAD_SEP | SH_TERM_BAD)) {
		pc.str = h.flags & SH_BAD_SEP ? "bad separator" :
		    "header not terminated by CR LF";
		sparse_pr(rp, PR_SPARSE_TRAILER_HEADER, &pc);
	}
	sparse_hdr_report_lenient(rp, &h, &pc);
	if (h.start != 0) {
		pc.str = "start is not 0";
		sparse_pr(rp, PR_SPARSE_TRAILER_HEADER, &pc);
	}
	if (h.len < 2 || h.len > size - SPARSE_HDR_LEN - 2 - min_json) {
		snprintf(why, sizeof(why), "JSON length %llu does not fit "
		    "between the stop frame and the comp header",
		    (unsigned long long)h.len);
		pc.str = why;
		sparse_pr(rp, PR_SPARSE_TRAILER_HEADER, &pc);
		return 0;
	}
	if (b[0] != '\r' || b[1] != '\n') {
		pc.str = "no CR LF before the comp header";
		sparse_pr(rp, PR_SPARSE_TRAILER_HEADER, &pc);
	}
	jo = size - SPARSE_HDR_LEN - 2 - h.len;
	t->json_off = jo;
	t->json_len = h.len;
	t->located = true;
	pc.off = jo;
	pc.len = h.len;
	if (h.len > SPARSE_TRAILER_MAX) {
		pc.found = h.len;
		pc.want = SPARSE_TRAILER_MAX;
		sparse_pr(rp, PR_SPARSE_TRAILER_LIMIT, &pc);
		t->damaged = false;
		return 0;
	}
	if ((js = malloc((size_t)h.len)) == NULL)
		return -ENOMEM;
	if ((rc = img_pread(img, jo, js, (size_t)h.len)) != 0)
		goto out;
	arr = sparse_json_parse(js, (size_t)h.len, why, sizeof(why));
	if (arr == NULL || !json_object_is_type(arr, json_type_array)) {
		pc.str = arr == NULL ? why : "not a JSON array";
		sparse_pr(rp, PR_SPARSE_TRAILER_JSON, &pc);
		goto out;
	}
	if ((rc = trailer_elements(t, arr, rp, &pc)) != 0)
		goto out;
	t->ok = true;
	t->damaged = false;
out:
	if (arr != NULL)
		json_object_put(arr);
	free(js);
	return rc;
}
