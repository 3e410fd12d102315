/* SPDX-License-Identifier: MIT */
/*
 * qcow2_info.c --- describe a qcow2 image: qemu-img info's keys and ours.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "qcow2/qcow2.h"
#include "core/banned.h"

static void
add_i64(struct json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_int64((int64_t)v));
}

static void
add_bool(struct json_object *o, const char *k, bool v)
{
	json_object_object_add(o, k, json_object_new_boolean(v));
}

static void
add_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

static struct json_object *
info_snapshots(struct img *img, struct qcow2 *q)
{
	struct qcow2_snaptab	 t;
	struct report		 rp;
	struct json_object	*arr, *o;
	uint32_t		 i;

	arr = json_object_new_array();
	report_init(&rp);
	if (qcow2_snaptab_read(img, q, &t, &rp) == 0) {
		for (i = 0; i < t.n; i++) {
			o = json_object_new_object();
			if (t.s[i].has_icount)
				add_i64(o, "icount", t.s[i].icount);
			add_i64(o, "vm-clock-nsec",
			    t.s[i].vm_clock_nsec % 1000000000ULL);
			add_str(o, "name", t.s[i].name);
			add_i64(o, "date-sec", t.s[i].date_sec);
			add_i64(o, "date-nsec", t.s[i].date_nsec);
			add_i64(o, "vm-clock-sec",
			    t.s[i].vm_clock_nsec / 1000000000ULL);
			add_str(o, "id", t.s[i].id);
			add_i64(o, "vm-state-size", t.s[i].vm_state_size);
			/* Ours. */
			add_i64(o, "l1-table-offset", t.s[i].l1_table_offset);
			add_i64(o, "l1-size", t.s[i].l1_size);
			if (t.s[i].extra_data_size >= 16)
				add_i64(o, "disk-size", t.s[i].disk_size);
			json_object_array_add(arr, o);
		}
		qcow2_snaptab_release(&t);
	}
	report_release(&rp);
	return arr;
}

static struct json_object *
info_bitmaps(const struct qcow2 *q)
{
	struct json_object	*arr, *o, *fl;
	uint32_t		 i;

	arr = json_object_new_array();
	for (i = 0; i < q->nb_bitmaps; i++) {
		o = json_object_new_object();
		fl = json_object_new_array();
		if (q->bitmaps[i].flags & QCOW2_BME_IN_USE)
			json_object_array_add(fl,
			    json_object_new_string("in-use"));
		if (q->bitmaps[i].flags & QCOW2_BME_AUTO)
			json_object_array_add(fl,
			    json_object_new_string("auto"));
		json_object_object_add(o, "flags", fl);
		add_str(o, "name", q->bitmaps[i].name);
		add_i64(o, "granularity",
		    1ULL << q->bitmaps[i].granularity_bits);
		json_object_array_add(arr, o);
	}
	return arr;
}

int
qcow2_info(struct img *img, struct json_object *obj)
{
	struct qcow2		*q = img->priv;
	struct json_object	*fs, *data, *hdr, *snaps;

	snaps = info_snapshots(img, q);
	if (json_object_array_length(snaps) > 0)
		json_object_object_add(obj, "snapshots", snaps);
	else
		json_object_put(snaps);
	add_i64(obj, "virtual-size", q->h.size);
	add_i64(obj, "cluster-size", q->cs);
	if (q->h.crypt_method != 0)
		add_bool(obj, "encrypted", true);
	if (q->backing_file[0] != '\0') {
		add_str(obj, "backing-filename", q->backing_file);
		add_str(obj, "full-backing-filename", q->backing_file);
		if (q->backing_fmt[0] != '\0')
			add_str(obj, "backing-filename-format",
			    q->backing_fmt);
	}
	fs = json_object_new_object();
	data = json_object_new_object();
	add_str(fs, "type", "qcow2");
	add_str(data, "compat", q->h.version >= 3 ? "1.1" : "0.10");
	add_str(data, "compression-type",
	    q->h.compression_type == 1 ? "zstd" : "zlib");
	if (q->h.version >= 3) {
		add_bool(data, "lazy-refcounts",
		    (q->h.compatible & QCOW2_COMPAT_LAZY_REFCOUNTS) != 0);
		if (q->nb_bitmaps > 0)
			json_object_object_add(data, "bitmaps",
			    info_bitmaps(q));
	}
	add_i64(data, "refcount-bits", q->rc_bits);
	if (q->h.version >= 3) {
		if (q->data_file_name != NULL)
			add_str(data, "data-file", q->data_file_name);
		if (q->data_file)
			add_bool(data, "data-file-raw", (q->h.autoclear &
			    QCOW2_AUTOCLEAR_DATA_FILE_RAW) != 0);
		add_bool(data, "corrupt",
		    (q->h.incompatible & QCOW2_INCOMPAT_CORRUPT) != 0);
		add_bool(data, "extended-l2", q->extl2);
	}
	json_object_object_add(fs, "data", data);
	json_object_object_add(obj, "format-specific", fs);
	add_bool(obj, "dirty-flag",
	    (q->h.incompatible & QCOW2_INCOMPAT_DIRTY) != 0);

	/* Ours: the header as decoded. */
	hdr = json_object_new_object();
	add_i64(hdr, "version", q->h.version);
	add_i64(hdr, "cluster-bits", q->h.cluster_bits);
	add_i64(hdr, "header-length", q->h.header_length);
	add_i64(hdr, "l1-table-offset", q->h.l1_table_offset);
	add_i64(hdr, "l1-size", q->h.l1_size);
	add_i64(hdr, "l1-needed", q->l1_needed);
	add_i64(hdr, "refcount-table-offset", q->h.refcount_table_offset);
	add_i64(hdr, "refcount-table-clusters", q->h.refcount_table_clusters);
	add_i64(hdr, "refcount-order", q->h.refcount_order);
	add_i64(hdr, "nb-snapshots", q->h.nb_snapshots);
	add_i64(hdr, "snapshots-offset", q->h.snapshots_offset);
	add_i64(hdr, "incompatible-features", q->h.incompatible);
	add_i64(hdr, "compatible-features", q->h.compatible);
	add_i64(hdr, "autoclear-features", q->h.autoclear);
	add_i64(hdr, "crypt-method", q->h.crypt_method);
	add_i64(hdr, "unknown-extensions", q->unknown_exts);
	add_bool(hdr, "bitmaps-ignored", q->bitmaps_ignored);
	json_object_object_add(obj, "qcow2-header", hdr);
	return 0;
}
