/* SPDX-License-Identifier: MIT */
/*
 * mem.c --- arrays that grow by doubling.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/banned.h"

int
grow_array(void *arrp, size_t *cap, size_t n, size_t size, size_t first)
{
	void	*a, *na;
	size_t	 nc;

	if (n < *cap)
		return 0;
	nc = *cap == 0 ? first : *cap * 2;
	if (nc <= *cap)
		return -ENOMEM;
	/* The caller's pointer, whatever its type, through its bytes. */
	memcpy(&a, arrp, sizeof(a));
	if ((na = reallocarray(a, nc, size)) == NULL)
		return -ENOMEM;
	memcpy(arrp, &na, sizeof(na));
	*cap = nc;
	return 0;
}
