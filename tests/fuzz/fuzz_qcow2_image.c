/* SPDX-License-Identifier: MIT */
/*
 * fuzz_qcow2_image.c --- libFuzzer harness for a whole qcow2 image.
 *
 * The input is written to a temporary file, opened as qcow2 and put
 * through check, info and map: the same calls imgcheck, imginfo and
 * imgmap make, through libcore.h only.  The file lives in $TMPDIR (or
 * /tmp) under a name unique to this process and is removed at exit.
 * Inputs are capped at 2 MiB so the fuzzer does not wander into sizes
 * where a legal image takes seconds to walk.  Build and run: see
 * tests/fuzz/README.md.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "libcore.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT	(2U << 20)

static char	fuzz_path[4096];

static void
fuzz_cleanup(void)
{
	if (fuzz_path[0] != '\0')
		unlink(fuzz_path);
}

static int
fuzz_write(const uint8_t *data, size_t size)
{
	FILE		*f;
	const char	*dir;

	if (fuzz_path[0] == '\0') {
		if ((dir = getenv("TMPDIR")) == NULL || *dir == '\0')
			dir = "/tmp";
		snprintf(fuzz_path, sizeof(fuzz_path),
		    "%s/fuzz_qcow2_image.%ld.qcow2", dir, (long)getpid());
		atexit(fuzz_cleanup);
	}
	if ((f = fopen(fuzz_path, "wb")) == NULL)
		return -errno;
	if (size > 0 && fwrite(data, 1, size, f) != size) {
		fclose(f);
		return -EIO;
	}
	return fclose(f) == 0 ? 0 : -errno;
}

/* Touch every field of each extent, as imgmap's printer does. */
static int
fuzz_map_cb(void *arg, const struct map_ext *e)
{
	uint64_t	*sum = arg;

	*sum += e->start + e->length + (e->has_offset ? e->offset : 0) +
	    (uint64_t)e->depth + e->present + e->zero + e->data +
	    e->compressed;
	if (e->owner != NULL)
		*sum += strlen(e->owner);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct img_opts		 opts;
	struct img		*img = NULL;
	struct report		 rp;
	struct json_object	*info = NULL;
	uint64_t		 sum = 0;
	size_t			 i;
	char			 errbuf[256];

	if (size > FUZZ_MAX_INPUT)
		return 0;
	if (fuzz_write(data, size) != 0)
		return 0;
	memset(&opts, 0, sizeof(opts));
	opts.format = "qcow2";
	errbuf[0] = '\0';
	if (img_open(fuzz_path, &opts, &img, errbuf, sizeof(errbuf)) != 0)
		return 0;
	report_init(&rp);
	(void)img_check(img, &rp);
	/* Walk every finding the way the tools print them. */
	for (i = 0; i < rp.nf; i++) {
		if (rp.f[i].msg != NULL)
			sum += strlen(rp.f[i].msg);
		if (rp.f[i].path != NULL)
			sum += strlen(rp.f[i].path);
	}
	report_release(&rp);
	if (img_info(img, &info) == 0) {
		(void)json_object_to_json_string_ext(info,
		    JSON_C_TO_STRING_PRETTY);
		json_object_put(info);
	}
	(void)img_map(img, fuzz_map_cb, &sum);
	img_close(img);
	return 0;
}
