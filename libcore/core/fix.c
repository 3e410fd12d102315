/* SPDX-License-Identifier: MIT */
/*
 * fix.c --- which problems a repair can fix today.
 *
 * The problem table says what a repair would do about each problem; a
 * format that has no repair does none of it.  The answer comes from the
 * format's ops table (a repair operation and a place to write it), so a
 * format's repair landing changes --list-problems and the man page with
 * no list to keep up.
 */
#include "core/core.h"
#include "core/banned.h"

bool
pr_fixable(enum pr_id id)
{
	const struct pr_info	*pi = pr_info_get(id);
	const struct fmt_ops	*ops;
	size_t			 i;

	if (pi == NULL || pi->fix == PR_FIX_NONE)
		return false;
	for (i = 0; i < FMT_NTAB; i++) {
		ops = fmt_table[i];
		if (ops == NULL || ops->pr_base != (pi->code & 0xff0000))
			continue;
		return ops->repair != NULL && (ops->caps &
		    (FMT_REPAIR_INPLACE | FMT_REPAIR_COPY)) != 0;
	}
	return false;
}
