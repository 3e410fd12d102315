/* SPDX-License-Identifier: MIT */
/*
 * raw_ops.c --- the raw ops table: probe, info, size.
 *
 * Raw is what QEMU calls a file no other format claims: its probe gives
 * the lowest score, so every format that recognises its magic wins, and
 * one whose magic is there but whose header is bad still fails to open
 * as itself, never as raw.  There is no check (imgcheck exits 63, as
 * qemu-img check does) and no repair.  info keeps qemu-img info's keys.
 */
#include <json-c/json.h>

#include "raw/raw.h"
#include "core/banned.h"

/* raw_probe() in QEMU's block/raw-format.c: 1, whatever the bytes. */
static int
raw_probe(const struct img_probe *p)
{
	(void)p;
	return 1;
}

uint64_t
raw_vsize(struct img *img)
{
	uint64_t	n = img_file_size(img);

	/* bdrv_getlength(): whole sectors; a file is at most INT64_MAX. */
	if (n > UINT64_MAX - (RAW_SECTOR_SIZE - 1))
		return UINT64_MAX / RAW_SECTOR_SIZE * RAW_SECTOR_SIZE;
	return (n + RAW_SECTOR_SIZE - 1) / RAW_SECTOR_SIZE * RAW_SECTOR_SIZE;
}

static int
raw_info(struct img *img, struct json_object *o)
{
	info_add_u64(o, "virtual-size", raw_vsize(img));
	info_add_bool(o, "dirty-flag", false);
	return 0;
}

const struct fmt_ops	raw_ops = {
	.name = "raw",
	.pr_base = 0x050000,
	.probe = raw_probe,
	.open = NULL,
	.info = raw_info,
	.check = NULL,
	.repair = NULL,
	.map = raw_map,
	.read = raw_read,
	.backing = NULL,
	.vsize = raw_vsize,
	.hostmap = NULL,
	.chain = NULL,
	.extract = NULL,
	.close = NULL,
	.caps = FMT_ANYFILE,
};
