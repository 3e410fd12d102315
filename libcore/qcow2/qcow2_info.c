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
				info_add_u64(o, "icount", t.s[i].icount);
			info_add_u64(o, "vm-clock-nsec",
			    t.s[i].vm_clock_nsec % 1000000000ULL);
			info_add_str(o, "name", t.s[i].name);
			info_add_u64(o, "date-sec", t.s[i].date_sec);
			info_add_u64(o, "date-nsec", t.s[i].date_nsec);
			info_add_u64(o, "vm-clock-sec",
			    t.s[i].vm_clock_nsec / 1000000000ULL);
			info_add_str(o, "id", t.s[i].id);
			info_add_u64(o, "vm-state-size", t.s[i].vm_state_size);
			/* Ours. */
			info_add_u64(o, "l1-table-offset",
			    t.s[i].l1_table_offset);
			info_add_u64(o, "l1-size", t.s[i].l1_size);
			if (t.s[i].extra_data_size >= 16)
				info_add_u64(o, "disk-size", t.s[i].disk_size);
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
		info_add_str(o, "name", q->bitmaps[i].name);
		info_add_u64(o, "granularity",
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
	const char		*slash;
	char			*full;
	size_t			 n;
	int			 rc;

	if ((rc = qcow2_usable(img, q, false)) != 0)
		return rc;
	snaps = info_snapshots(img, q);
	if (json_object_array_length(snaps) > 0)
		json_object_object_add(obj, "snapshots", snaps);
	else
		json_object_put(snaps);
	info_add_u64(obj, "virtual-size", q->h.size);
	info_add_u64(obj, "cluster-size", q->cs);
	if (q->h.crypt_method != 0)
		info_add_bool(obj, "encrypted", true);
	if (q->backing_file[0] != '\0') {
		info_add_str(obj, "backing-filename", q->backing_file);
		/* qemu's path_combine(): beside the image. */
		slash = strrchr(img->path, '/');
		n = slash != NULL && q->backing_file[0] != '/' ?
		    (size_t)(slash - img->path) + 1 : 0;
		if ((full = malloc(n + strlen(q->backing_file) + 1)) != NULL) {
			memcpy(full, img->path, n);
			memcpy(full + n, q->backing_file,
			    strlen(q->backing_file) + 1);
			info_add_str(obj, "full-backing-filename", full);
			free(full);
		}
		if (q->backing_fmt[0] != '\0')
			info_add_str(obj, "backing-filename-format",
			    q->backing_fmt);
	}
	fs = json_object_new_object();
	data = json_object_new_object();
	info_add_str(fs, "type", "qcow2");
	info_add_str(data, "compat", q->h.version >= 3 ? "1.1" : "0.10");
	info_add_str(data, "compression-type",
	    q->h.compression_type == 1 ? "zstd" : "zlib");
	if (q->h.version >= 3) {
		info_add_bool(data, "lazy-refcounts",
		    (q->h.compatible & QCOW2_COMPAT_LAZY_REFCOUNTS) != 0);
		if (q->nb_bitmaps > 0)
			json_object_object_add(data, "bitmaps",
			    info_bitmaps(q));
	}
	info_add_u64(data, "refcount-bits", q->rc_bits);
	if ((rc = qcow2_info_encrypt(img, q, data)) != 0) {
		json_object_put(fs);
		json_object_put(data);
		return rc;
	}
	if (q->h.version >= 3) {
		if (q->data_file_name != NULL)
			info_add_str(data, "data-file", q->data_file_name);
		if (q->data_file)
			info_add_bool(data, "data-file-raw", (q->h.autoclear &
			    QCOW2_AUTOCLEAR_DATA_FILE_RAW) != 0);
		info_add_bool(data, "corrupt",
		    (q->h.incompatible & QCOW2_INCOMPAT_CORRUPT) != 0);
		info_add_bool(data, "extended-l2", q->extl2);
	}
	json_object_object_add(fs, "data", data);
	json_object_object_add(obj, "format-specific", fs);
	info_add_bool(obj, "dirty-flag",
	    (q->h.incompatible & QCOW2_INCOMPAT_DIRTY) != 0);

	/* Ours: the header as decoded. */
	hdr = json_object_new_object();
	info_add_u64(hdr, "version", q->h.version);
	info_add_u64(hdr, "cluster-bits", q->h.cluster_bits);
	info_add_u64(hdr, "header-length", q->h.header_length);
	info_add_u64(hdr, "l1-table-offset", q->h.l1_table_offset);
	info_add_u64(hdr, "l1-size", q->h.l1_size);
	info_add_u64(hdr, "l1-needed", q->l1_needed);
	info_add_u64(hdr, "refcount-table-offset", q->h.refcount_table_offset);
	info_add_u64(hdr, "refcount-table-clusters",
	    q->h.refcount_table_clusters);
	info_add_u64(hdr, "refcount-order", q->h.refcount_order);
	info_add_u64(hdr, "nb-snapshots", q->h.nb_snapshots);
	info_add_u64(hdr, "snapshots-offset", q->h.snapshots_offset);
	info_add_u64(hdr, "incompatible-features", q->h.incompatible);
	info_add_u64(hdr, "compatible-features", q->h.compatible);
	info_add_u64(hdr, "autoclear-features", q->h.autoclear);
	info_add_u64(hdr, "crypt-method", q->h.crypt_method);
	info_add_u64(hdr, "unknown-extensions", q->unknown_exts);
	info_add_bool(hdr, "bitmaps-ignored", q->bitmaps_ignored);
	json_object_object_add(obj, "qcow2-header", hdr);
	return 0;
}
