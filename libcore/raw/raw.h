/* SPDX-License-Identifier: MIT */
/*
 * raw.h --- private declarations of the raw format (never seen by tools).
 *
 * A raw image is the guest disk itself: guest offset = host offset.  It
 * has no header, no tables and nothing to check; QEMU 7.2 (block/raw-
 * format.c over block/file-posix.c) sizes it as the file rounded up to a
 * whole 512-byte sector and maps it by the host file's data and holes.
 */
#ifndef RAW_RAW_H
#define RAW_RAW_H

#include <stdint.h>

#include "core/core.h"

/* QEMU's BDRV_SECTOR_SIZE: the disk is a whole number of these. */
#define RAW_SECTOR_SIZE		512u

uint64_t	raw_vsize(struct img *img);
int		raw_map(struct img *img, const struct map_req *rq, map_fn *fn,
		    void *arg);
int		raw_read(struct img *img, const struct map_ext *run,
		    uint64_t off, void *buf, size_t len, struct report *rp);

#endif /* RAW_RAW_H */
