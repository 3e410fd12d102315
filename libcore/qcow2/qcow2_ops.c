/* SPDX-License-Identifier: MIT */
/*
 * qcow2_ops.c --- the qcow2 format's operations table.
 */
#include "qcow2/qcow2.h"
#include "core/banned.h"

const struct fmt_ops	qcow2_ops = {
	.name = "qcow2",
	.pr_base = 0x010000,
	.probe = qcow2_probe,
	.open = qcow2_open,
	.info = qcow2_info,
	.check = qcow2_check,
	.repair = qcow2_repair,
	.map = qcow2_map,
	.read = qcow2_read,
	.backing = qcow2_backing,
	.vsize = qcow2_vsize,
	.hostmap = qcow2_hostmap,
	.describe = qcow2_describe,
	.locate = qcow2_locate,
	.chain = NULL,
	.extract = NULL,
	.close = qcow2_close,
	.caps = FMT_REPAIR_INPLACE | FMT_REPAIR_COPY | FMT_REPAIR_PLAN,
};
