/* SPDX-License-Identifier: MIT */
/*
 * ck.h --- checked arithmetic for values read from disk.
 *
 * Every offset or size computed from on-disk fields goes through these:
 * they return false on overflow and leave *out untouched.
 */
#ifndef CORE_CK_H
#define CORE_CK_H

#include <stdbool.h>
#include <stdint.h>

static inline bool
ck_add_u64(uint64_t a, uint64_t b, uint64_t *out)
{
	uint64_t	r;

	if (__builtin_add_overflow(a, b, &r))
		return false;
	*out = r;
	return true;
}

static inline bool
ck_mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
	uint64_t	r;

	if (__builtin_mul_overflow(a, b, &r))
		return false;
	*out = r;
	return true;
}

/* a * b as a size_t for an allocation; false if it does not fit. */
static inline bool
ck_mul_size(uint64_t a, uint64_t b, size_t *out)
{
	uint64_t	r;

	if (__builtin_mul_overflow(a, b, &r) || r > SIZE_MAX)
		return false;
	*out = (size_t)r;
	return true;
}

/* Round v up to a multiple of the power of two a; false on overflow. */
static inline bool
ck_align_up(uint64_t v, uint64_t a, uint64_t *out)
{
	uint64_t	r;

	if (__builtin_add_overflow(v, a - 1, &r))
		return false;
	*out = r & ~(a - 1);
	return true;
}

#endif /* CORE_CK_H */
