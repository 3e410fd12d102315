/* SPDX-License-Identifier: MIT */
/*
 * undo.h --- the undo file, as io.c uses it (core only).
 */
#ifndef CORE_UNDO_H
#define CORE_UNDO_H

#include <stdint.h>

struct img;

/* Create the undo file (first write only); no-op without an undo path. */
int	undo_begin(struct img *img);
/* Before a write of len bytes at off: save what it replaces. */
int	undo_save_write(struct img *img, uint64_t off, const void *buf,
	    size_t len);
/* Before the file's length becomes newsize: save the old one. */
int	undo_save_size(struct img *img, uint64_t newsize);
/* After the last write: sync the image, then record its end state. */
int	undo_finish(struct img *img);

#endif /* CORE_UNDO_H */
