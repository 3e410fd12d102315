/* SPDX-License-Identifier: MIT */
/*
 * fuzz_img.h --- the body shared by the whole-image fuzz harnesses
 * (fuzz_qcow2_image.c, fuzz_qed_image.c, fuzz_sparse_image.c,
 * fuzz_a7_image.c).  Included once by each; everything here is static.
 *
 * fuzz_img_run() puts the input in a memfd, opens it through
 * /proc/self/fd/N with the format forced, and makes the calls the tools
 * make: img_info, img_check, img_map and img_extract (into a second
 * memfd), then img_close.  It then repairs a fresh copy: in place with
 * IMG_RDWR for formats that can, otherwise into a file under a
 * per-process directory in /dev/shm that is removed after each run.
 * Only libcore.h is used, so a harness sees what imgcheck sees.
 */
#ifndef FUZZ_IMG_H
#define FUZZ_IMG_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "libcore.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT	(4U << 20)	/* larger inputs are skipped */
#define FUZZ_MAX_FIND	100		/* findings kept per code, as tools */

static int	fuzz_in = -1;		/* memfd holding the image */
static int	fuzz_out = -1;		/* memfd taking img_extract */
static char	fuzz_dir[64];		/* /dev/shm/imgfuzz.<pid> */
static char	fuzz_repaired[96];	/* fuzz_dir/out */

struct fuzz_sum {
	uint64_t	sum;
	char		what[256];	/* first archive member seen */
};

static void
fuzz_cleanup(void)
{
	if (fuzz_repaired[0] != '\0')
		unlink(fuzz_repaired);
	if (fuzz_dir[0] != '\0')
		rmdir(fuzz_dir);
}

/*
 * Make the memfds, and the output directory when asked (only formats
 * that repair into a new file need it), once per process.  A process
 * killed by libFuzzer (timeout, fork mode) leaves an empty directory.
 */
static int
fuzz_setup(bool need_dir)
{
	if (fuzz_in < 0 &&
	    (fuzz_in = memfd_create("fuzz-in", MFD_CLOEXEC)) < 0)
		return -errno;
	if (fuzz_out < 0 &&
	    (fuzz_out = memfd_create("fuzz-out", MFD_CLOEXEC)) < 0)
		return -errno;
	if (need_dir && fuzz_dir[0] == '\0') {
		snprintf(fuzz_dir, sizeof(fuzz_dir), "/dev/shm/imgfuzz.%ld",
		    (long)getpid());
		if (mkdir(fuzz_dir, 0700) != 0 && errno != EEXIST) {
			fuzz_dir[0] = '\0';
			return -errno;
		}
		snprintf(fuzz_repaired, sizeof(fuzz_repaired), "%s/out",
		    fuzz_dir);
		atexit(fuzz_cleanup);
	}
	return 0;
}

/* Replace the memfd's contents with data. */
static int
fuzz_fill(const uint8_t *data, size_t size)
{
	size_t	done = 0;
	ssize_t	n;

	if (ftruncate(fuzz_in, 0) != 0)
		return -errno;
	while (done < size) {
		n = pwrite(fuzz_in, data + done, size - done, (off_t)done);
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}

static int
fuzz_open(const char *format, const uint8_t *key, unsigned flags,
    struct img **img)
{
	struct img_opts	opts;
	char		path[64], errbuf[256];

	memset(&opts, 0, sizeof(opts));
	opts.format = format;
	opts.flags = flags;
	if (key != NULL) {
		opts.has_key = true;
		memcpy(opts.key, key, sizeof(opts.key));
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fuzz_in);
	errbuf[0] = '\0';
	return img_open(path, &opts, img, errbuf, sizeof(errbuf));
}

/* Read every finding the way the tools print them. */
static void
fuzz_report(struct report *rp, struct fuzz_sum *s)
{
	size_t	i;

	s->sum += rp->c.corruptions + rp->c.leaks + rp->c.check_errors +
	    rp->c.image_end_offset + rp->omitted;
	for (i = 0; i < rp->nf; i++) {
		if (rp->f[i].msg != NULL)
			s->sum += strlen(rp->f[i].msg);
		if (rp->f[i].path != NULL)
			s->sum += strlen(rp->f[i].path);
	}
	if (rp->extra != NULL)
		s->sum += strlen(json_object_to_json_string(rp->extra));
}

/*
 * Touch every field of each extent, as imgmap's printer does, and keep
 * the first archive member named by an owner ("stream NAME PATH").
 */
static int
fuzz_map_cb(void *arg, const struct map_ext *e)
{
	struct fuzz_sum	*s = arg;
	const char	*p;

	s->sum += e->start + e->length + (e->has_offset ? e->offset : 0) +
	    (uint64_t)e->depth + e->present + e->zero + e->data +
	    e->compressed;
	if (e->owner == NULL)
		return 0;
	s->sum += strlen(e->owner);
	if (s->what[0] == '\0' && strncmp(e->owner, "stream ", 7) == 0 &&
	    (p = strchr(e->owner + 7, ' ')) != NULL && p[1] != '\0')
		snprintf(s->what, sizeof(s->what), "%s", p + 1);
	return 0;
}

static void
fuzz_img_run(const char *format, const uint8_t *data, size_t size,
    const uint8_t *key)
{
	struct img		*img = NULL;
	struct report		 rp;
	struct json_object	*info = NULL;
	struct fuzz_sum		 s;
	const char		*out = NULL;
	bool			 inplace;

	if (size > FUZZ_MAX_INPUT)
		return;
	if (fuzz_setup(false) != 0 || fuzz_fill(data, size) != 0)
		return;
	memset(&s, 0, sizeof(s));
	if (fuzz_open(format, key, 0, &img) != 0)
		return;
	if (img_info(img, &info) == 0) {
		s.sum += strlen(json_object_to_json_string_ext(info,
		    JSON_C_TO_STRING_PRETTY));
		json_object_put(info);
	}
	report_init(&rp);
	rp.max_per_code = FUZZ_MAX_FIND;
	(void)img_check(img, &rp);
	fuzz_report(&rp, &s);
	report_release(&rp);
	(void)img_map(img, fuzz_map_cb, &s);
	if (ftruncate(fuzz_out, 0) == 0) {
		report_init(&rp);
		rp.max_per_code = FUZZ_MAX_FIND;
		(void)img_extract(img, s.what[0] != '\0' ? s.what : NULL,
		    fuzz_out, &rp);
		fuzz_report(&rp, &s);
		report_release(&rp);
		(void)ftruncate(fuzz_out, 0);
	}
	inplace = img_can_repair(img, true);
	if (!inplace && img_can_repair(img, false) && fuzz_setup(true) == 0)
		out = fuzz_repaired;
	img_close(img);
	if (!inplace && out == NULL)
		return;

	/* Repair a fresh copy: in place, or into a new file. */
	img = NULL;
	if (fuzz_fill(data, size) != 0 ||
	    fuzz_open(format, key, inplace ? IMG_RDWR : 0, &img) != 0)
		return;
	report_init(&rp);
	rp.max_per_code = FUZZ_MAX_FIND;
	rp.repair = REPAIR_LEAKS | REPAIR_ALL;
	(void)img_repair(img, &rp, out);
	fuzz_report(&rp, &s);
	report_release(&rp);
	img_close(img);
	if (out != NULL)
		unlink(out);
}

#endif /* FUZZ_IMG_H */
